/* stats_cpu.c: the CPU backend's statistics, the reference for every other backend: decode stored
 * values to float64 in cache-sized blocks, then a corrected two-pass per column, merged by Chan's
 * rule in a fixed lane order over the rows of each block. The loops themselves are kernels_cpu.h's
 * table (one per instruction set, the same bits on each); h5p_cpu_block_stats also serves
 * transform_cpu.c. */
#include "backends/cpu/cpu.h"

#include "common/internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    BLOCK_ELEMS = 65536, /* float64 values decoded per block: 512 KiB, stays in L2 */
    FOLD_BELOW = 64,    /* rows narrower than this are folded into whole vectors of columns */
    TILE = 512          /* wider rows are cut into tiles of columns whose accumulators stay in L1 */
};

/* ---- statistics of a decoded block ------------------------------------------------------ */

int h5p_states_init(h5p_states *a, size_t F)
{
    double *p = malloc(6 * (F ? F : 1) * sizeof *p);
    a->n = p;
    if (!p)
        return -1;
    a->missing = p + F, a->mean = p + 2 * F, a->m2 = p + 3 * F, a->min = p + 4 * F, a->max = p + 5 * F;
    h5p_states_reset(a, F);
    return 0;
}

void h5p_states_free(h5p_states *a)
{
    free(a->n);
    a->n = NULL;
}

void h5p_states_reset(h5p_states *a, size_t F)
{
    for (size_t f = 0; f < F; f++) {
        a->n[f] = a->missing[f] = a->mean[f] = a->m2[f] = 0.0;
        a->min[f] = INFINITY;
        a->max[f] = -INFINITY;
    }
}

h5p_moments h5p_states_get(const h5p_states *a, size_t f)
{
    h5p_moments m = {(int64_t)a->n[f], (int64_t)a->missing[f], a->mean[f], a->m2[f], a->min[f], a->max[f]};
    return m;
}

static void acc_merge_one(const h5p_states *a, size_t f, const h5p_moments *b)
{
    h5p_moments m = h5p_states_get(a, f);
    h5p_moments_merge(&m, b);
    a->n[f] = (double)m.n, a->missing[f] = (double)m.missing, a->mean[f] = m.mean, a->m2[f] = m.m2;
    a->min[f] = m.min, a->max[f] = m.max;
}

/* x: (rows, F) float64 with NaN for missing; merges the block's columns into acc[base..base+F).
 * scratch: 6*F doubles. Pass 1: count, sum, min, max per column; pass 2: deviations from the
 * column mean while the block is in cache (corrected two-pass); then Chan's merge, written
 * branch-free over arrays so that it vectorizes too. No division per value. A column whose
 * values all lie within 2^480 of 0 cannot overflow; a column with larger values is summed again
 * and two-passed in units of 2^600 (exact: a power of two), so that no sum or square overflows
 * unless m2 itself exceeds DBL_MAX. A constant column gets its value as mean and m2 = 0 exactly. */
void h5p_cpu_block_stats(const h5p_cpu_kernels *k, const double *restrict x, size_t rows, size_t F,
                         double *restrict scratch, const h5p_states *acc, size_t base)
{
    const double BIG = 0x1p480, UNIT = 0x1p-600; /* |v| * UNIT < 2^424: sums and squares stay finite */
    double *restrict cnt = scratch, *restrict mu = cnt + F, *restrict mn = mu + F, *restrict mx = mn + F,
                     *restrict d1 = mx + F, *restrict d2 = d1 + F;
    for (size_t f = 0; f < F; f++) {
        cnt[f] = mu[f] = d1[f] = d2[f] = 0.0;
        mn[f] = INFINITY;
        mx[f] = -INFINITY;
    }
    k->sums(x, rows, F, cnt, mu, mn, mx);
    double *restrict n = acc->n + base, *restrict miss = acc->missing + base, *restrict mean = acc->mean + base,
                     *restrict m2 = acc->m2 + base, *restrict lo = acc->min + base, *restrict hi = acc->max + base;
    /* min and max go to the accumulators now; mn then holds the column's unit (1 or UNIT) and mx
     * whether the column is constant (its mean, in units, is then set exactly) */
    int big = 0;
    for (size_t f = 0; f < F; f++) {
        lo[f] = mn[f] < lo[f] ? mn[f] : lo[f];
        hi[f] = mx[f] > hi[f] ? mx[f] : hi[f];
        int wide = -mn[f] > BIG || mx[f] > BIG, constant = mn[f] == mx[f];
        double unit = wide ? UNIT : 1.0;
        big |= wide;
        mu[f] = constant ? mn[f] * unit : cnt[f] > 0 ? mu[f] / cnt[f] : 0.0;
        mn[f] = unit;
        mx[f] = constant ? 1.0 : 0.0;
    }
    if (big) { /* the sums again, in units (d1 holds them for now); the same sums where unit is 1 */
        k->unit_sums(x, rows, F, mn, d1);
        for (size_t f = 0; f < F; f++) {
            mu[f] = mx[f] != 0.0 ? mu[f] : cnt[f] > 0 ? d1[f] / cnt[f] : 0.0;
            d1[f] = 0.0;
        }
    }
    k->deviations(x, rows, F, mu, big ? mn : NULL, d1, d2);
    for (size_t f = 0; f < F; f++) {
        double nb = cnt[f];
        double inv = nb > 0 ? 1.0 / nb : 0.0;
        double mb = mu[f] + d1[f] * inv;
        double m2b = d2[f] - d1[f] * d1[f] * inv;
        m2b = m2b > 0 ? m2b : 0.0;
        if (big) { /* back from units: exact, or +inf where m2 exceeds DBL_MAX */
            mb = mb / mn[f];
            m2b = m2b / mn[f] / mn[f];
        }
        h5p_merge_into(&n[f], &mean[f], &m2[f], nb, mb, m2b);
        miss[f] += (double)rows - nb;
    }
}

/* ---- the statistics operations --------------------------------------------------------- */

enum { LANE_BUDGET = 256u << 20 /* bytes of accumulators for all lanes */ };

static int ensure(h5p_cpu_thread *t, size_t buf_elems, size_t cols)
{
    if (buf_elems > t->cap_buf) {
        free(t->buf);
        t->buf = malloc(buf_elems * sizeof *t->buf);
        t->cap_buf = t->buf ? buf_elems : 0;
    }
    if (cols > t->cap_cols) {
        free(t->scratch);
        h5p_states_free(&t->fold);
        t->scratch = malloc(6 * cols * sizeof *t->scratch);
        t->cap_cols = t->scratch && h5p_states_init(&t->fold, cols) == 0 ? cols : 0;
    }
    return t->cap_buf >= buf_elems && t->cap_cols >= cols;
}

/* Rows wider than TILE: per block of rows, each tile of columns is decoded (a strided read of
 * the rows' segments) and reduced while its accumulators are in L1. */
static void accumulate_tiles(const h5p_cpu_kernels *k, h5p_cpu_thread *t, const h5p_states *acc, const h5p_slab *s, const unsigned char *src,
                             size_t rows, size_t F, size_t base)
{
    size_t block_rows = BLOCK_ELEMS / TILE, esize = h5p_dtype_size(s->dtype);
    if (!ensure(t, BLOCK_ELEMS, TILE)) {
        t->failed = 1;
        return;
    }
    for (size_t r = 0; r < rows; r += block_rows) {
        size_t n = rows - r < block_rows ? rows - r : block_rows;
        for (size_t c = 0; c < F; c += TILE) {
            size_t w = F - c < TILE ? F - c : TILE;
            for (size_t i = 0; i < n; i++)
                k->decode[s->dtype](src + ((r + i) * F + c) * esize, s->dec, w, t->buf + i * w);
            h5p_cpu_block_stats(k, t->buf, n, w, t->scratch, acc, base + c);
        }
    }
}

/* Rows narrower than FOLD_BELOW are folded k at a time into one row of k*F columns (column j is
 * feature j % F), k the least that makes k*F a multiple of 8 (an AVX-512 vector of float64) and at
 * least 16. */
static size_t fold_rows(size_t F)
{
    size_t k = 1;
    while (F < FOLD_BELOW && ((k * F) % 8 != 0 || k * F < 16))
        k++;
    return k;
}

/* Rows of F features reduced as one decoding block: the unit of rounding of a lane. */
static size_t block_rows_of(size_t F)
{
    if (F > TILE)
        return BLOCK_ELEMS / TILE;
    size_t k = fold_rows(F);
    return BLOCK_ELEMS / (k * F) * k;
}

/* Accumulates `rows` contiguous rows of F stored values into acc[base..base+F), in decoding
 * blocks of block_rows_of(F) rows from the first. */
static void accumulate_rows(const h5p_cpu_kernels *k, h5p_cpu_thread *t, const h5p_states *acc, const h5p_slab *s, const unsigned char *src,
                            size_t rows, size_t F, size_t base)
{
    if (F > TILE) {
        accumulate_tiles(k, t, acc, s, src, rows, F, base);
        return;
    }
    size_t fold = fold_rows(F);
    size_t W = fold * F;
    size_t block_rows = block_rows_of(F);
    if (!ensure(t, block_rows * F, W)) {
        t->failed = 1;
        return;
    }
    size_t esize = h5p_dtype_size(s->dtype);
    for (size_t r = 0; r < rows; r += block_rows) {
        size_t n = rows - r < block_rows ? rows - r : block_rows;
        k->decode[s->dtype](src + r * F * esize, s->dec, n * F, t->buf);
        if (fold == 1) {
            h5p_cpu_block_stats(k, t->buf, n, F, t->scratch, acc, base);
            continue;
        }
        size_t wide = n / fold, rest = n - wide * fold;
        if (wide) {
            h5p_states_reset(&t->fold, W);
            h5p_cpu_block_stats(k, t->buf, wide, W, t->scratch, &t->fold, 0);
            for (size_t j = 0; j < W; j++) {
                h5p_moments m = h5p_states_get(&t->fold, j);
                acc_merge_one(acc, base + j % F, &m);
            }
        }
        if (rest)
            h5p_cpu_block_stats(k, t->buf + wide * W, rest, F, t->scratch, acc, base);
    }
}

/* A lane's next `rows` rows of its block; `last`: they end the lane's share. Rows that do not fill
 * a decoding block wait in the lane's carry until the next piece of the block brings the rest. */
static void lane_rows(const h5p_cpu_kernels *k, h5p_cpu_thread *t, h5p_cpu_carry *c, const h5p_states *acc, const h5p_slab *s,
                      const unsigned char *src, size_t rows, size_t F, size_t base, int last)
{
    size_t row_bytes = F * h5p_dtype_size(s->dtype), whole = block_rows_of(F);
    if (c->rows > 0) {
        size_t take = rows < whole - c->rows ? rows : whole - c->rows;
        memcpy(c->buf + c->rows * row_bytes, src, take * row_bytes);
        c->rows += take, src += take * row_bytes, rows -= take;
        if (c->rows < whole && !last)
            return;
        accumulate_rows(k, t, acc, s, c->buf, c->rows, F, base);
        c->rows = 0;
    }
    size_t keep = last ? 0 : rows % whole;
    accumulate_rows(k, t, acc, s, src, rows - keep, F, base);
    if (keep == 0)
        return;
    if (whole * row_bytes > c->cap) { /* the next piece appends up to a whole decoding block */
        free(c->buf);
        c->buf = malloc(whole * row_bytes);
        c->cap = c->buf ? whole * row_bytes : 0;
        if (!c->buf) {
            t->failed = 1;
            return;
        }
    }
    memcpy(c->buf, src + (rows - keep) * row_bytes, keep * row_bytes);
    c->rows = keep;
}

/* Lane u of the block: the u-th share of its rows (channels-last) or of its lines, as far as this
 * slab holds them; whether the slab held any of them. */
static int lane_work(const h5p_cpu_kernels *k, h5p_cpu_thread *t, h5p_cpu_carry *c, const h5p_states *acc, const h5p_slab *s, uint64_t u,
                      uint64_t L)
{
    const unsigned char *base = s->data;
    size_t esize = h5p_dtype_size(s->dtype);
    uint64_t outer = s->outer, F = s->features, inner = s->inner;
    uint64_t have = inner == 1 ? outer : outer * F; /* units of this slab */
    uint64_t U = s->units ? s->units : have, a = s->units ? s->unit0 : 0;
    uint64_t lo = U * u / L, hi = U * (u + 1) / L;  /* the lane's units in the block */
    uint64_t b0 = lo > a ? lo : a, b1 = hi < a + have ? hi : a + have;
    if (inner == 1) {
        if (b1 > b0)
            lane_rows(k, t, c, acc, s, base + (b0 - a) * F * esize, b1 - b0, F, s->feature_base, b1 == hi);
        return b1 > b0;
    }
    /* [outer][F][inner]: every (o, f) is a line of `inner` values of feature f. With enough
     * lines in the block, lanes split the lines; otherwise they split every line. */
    if (U >= 4 * L) {
        for (uint64_t l = b0; l < b1; l++)
            accumulate_rows(k, t, acc, s, base + (l - a) * inner * esize, inner, 1, s->feature_base + (l - a) % F);
        return b1 > b0;
    }
    uint64_t i0 = inner * u / L, i1 = inner * (u + 1) / L;
    for (uint64_t l = 0; l < have && i1 > i0; l++)
        accumulate_rows(k, t, acc, s, base + (l * inner + i0) * esize, i1 - i0, 1, s->feature_base + l % F);
    return have > 0 && i1 > i0;
}

static void slab_job(void *arg, int tid, int nt)
{
    (void)nt;
    h5p_backend *be = arg;
    int u;
    while ((u = atomic_fetch_add(&be->next_lane, 1)) < be->nlanes)
        if (lane_work(be->kern, &be->th[tid], &be->carry[u], &be->lane[u], be->slab, (uint64_t)u, (uint64_t)be->nlanes))
            be->lane_used[u] = 1;
}

void h5p_cpu_stats_free(h5p_backend *be)
{
    for (int u = 0; u < H5P_CPU_LANES; u++) {
        h5p_states_free(&be->lane[u]);
        free(be->carry[u].buf);
        be->carry[u] = (h5p_cpu_carry){0};
    }
    for (int t = 0; be->th && t < be->nt; t++) {
        h5p_states_free(&be->th[t].fold);
        free(be->th[t].buf);
        free(be->th[t].scratch);
    }
    free(be->th);
    be->th = NULL;
}

h5prep_status h5p_cpu_stats_begin(h5p_backend *be, uint64_t n_features, size_t slab_bytes)
{
    (void)slab_bytes;
    be->n_features = n_features;
    uint64_t per_lane = n_features * 6 * sizeof(double);
    be->nlanes = per_lane * H5P_CPU_LANES <= LANE_BUDGET ? H5P_CPU_LANES : (int)(LANE_BUDGET / per_lane) > 1 ? (int)(LANE_BUDGET / per_lane) : 1;
    for (int u = 0; u < H5P_CPU_LANES; u++) {
        h5p_states_free(&be->lane[u]);
        be->lane_used[u] = 0;
        RETURN_ERROR_IF(u < be->nlanes && h5p_states_init(&be->lane[u], n_features) != 0, H5PREP_ERR_NOMEM,
                        "cpu backend: no memory for %llu feature states", (unsigned long long)n_features);
    }
    return H5PREP_OK;
}

h5prep_status h5p_cpu_stats_slab(h5p_backend *be, int slot, const h5p_slab *slab)
{
    (void)slot;
    be->slab = slab;
    atomic_store(&be->next_lane, 0);
    h5p_pool_run(be->pool, slab_job, be);
    for (int t = 0; t < be->nt; t++)
        RETURN_ERROR_IF(be->th[t].failed, H5PREP_ERR_NOMEM, "cpu backend: no memory for a block buffer");
    return H5PREP_OK;
}

h5prep_status h5p_cpu_stats_end(h5p_backend *be, h5p_moments *out)
{
    /* a lane that got no rows of the block holds empty states, and merging those changes no bit:
     * skipped, which matters for wide blocks of a few rows (8 lanes of 1M features are 384 MB) */
    for (uint64_t f = 0; f < be->n_features; f++) {
        out[f] = h5p_moments_empty();
        for (int u = 0; u < be->nlanes; u++) {
            if (!be->lane_used[u])
                continue;
            h5p_moments m = h5p_states_get(&be->lane[u], f);
            h5p_moments_merge(&out[f], &m);
        }
    }
    for (int u = 0; u < be->nlanes; u++) {
        if (be->lane_used[u])
            h5p_states_reset(&be->lane[u], be->n_features);
        be->lane_used[u] = 0;
        be->carry[u].rows = 0; /* a block that ended reduced its carries */
    }
    return H5PREP_OK;
}
