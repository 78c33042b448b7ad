/* backend_cpu.c: the CPU backend, the reference for every other one: decode stored values to
 * float64 in cache-sized blocks, then a corrected two-pass per column, merged by Chan's rule. */
#include "backend.h"

#include "internal.h"
#include "pool.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    BLOCK_ELEMS = 8192, /* float64 values decoded per block: 64 KiB, stays in L2 */
    MIN_COLUMNS = 16    /* narrower rows are folded so that the column loop vectorizes */
};

/* ---- decoding: stored type -> float64, missing -> NaN ---------------------------------- */

#define DECODE_LOOP(T, HAS_FILL)                                                                   \
    for (size_t i = 0; i < n; i++) {                                                               \
        T v = s[i];                                                                                \
        double x = (double)v;                                                                      \
        int miss = HAS_FILL && (v == f0 || v == f1 || v == f2 || v == f3);                         \
        double y = x * scale + offset;                                                             \
        int ok = !miss & !(x < vmin) & !(x > vmax) & (fabs(y) <= DBL_MAX);                         \
        dst[i] = ok ? y : NAN;                                                                     \
    }

#define DEFINE_DECODE(T, NAME)                                                                     \
    static void decode_##NAME(const void *src, const h5p_decode *d, size_t n, double *dst)         \
    {                                                                                              \
        const T *s = src;                                                                          \
        const double scale = d->scale, offset = d->offset, vmin = d->vmin, vmax = d->vmax;         \
        T fill[H5P_MAX_FILLS];                                                                     \
        for (int k = 0; k < H5P_MAX_FILLS; k++)                                                    \
            fill[k] = (T)d->fill[k < d->nfill ? k : 0];                                            \
        const T f0 = fill[0], f1 = fill[1], f2 = fill[2], f3 = fill[3];                            \
        if (d->nfill > 0) {                                                                        \
            DECODE_LOOP(T, 1)                                                                      \
        } else {                                                                                   \
            DECODE_LOOP(T, 0)                                                                      \
        }                                                                                          \
    }

DEFINE_DECODE(int8_t, i8)
DEFINE_DECODE(uint8_t, u8)
DEFINE_DECODE(int16_t, i16)
DEFINE_DECODE(uint16_t, u16)
DEFINE_DECODE(int32_t, i32)
DEFINE_DECODE(uint32_t, u32)
DEFINE_DECODE(int64_t, i64)
DEFINE_DECODE(uint64_t, u64)
DEFINE_DECODE(float, f32)
DEFINE_DECODE(double, f64)

void h5p_cpu_decode(const void *src, h5p_dtype t, const h5p_decode *dec, size_t n, double *dst)
{
    typedef void (*decode_fn)(const void *, const h5p_decode *, size_t, double *);
    static const decode_fn fns[] = {decode_i8,  decode_u8,  decode_i16, decode_u16, decode_i32,
                                    decode_u32, decode_i64, decode_u64, decode_f32, decode_f64};
    fns[t](src, dec, n, dst);
}

/* ---- statistics of a decoded block ------------------------------------------------------ */

/* x: (rows, F) float64 with NaN for missing; st: (F,) states merged with the block's columns.
 * scratch: 6*F doubles. Pass 1: count, sum, min, max per column; pass 2: deviations from the
 * column mean while the block is in cache. One division per column, none per value. */
void h5p_cpu_block_stats(const double *x, size_t rows, size_t F, double *scratch, h5p_moments *st)
{
    double *cnt = scratch, *sum = cnt + F, *mn = sum + F, *mx = mn + F, *d1 = mx + F, *d2 = d1 + F;
    for (size_t f = 0; f < F; f++) {
        cnt[f] = sum[f] = d1[f] = d2[f] = 0.0;
        mn[f] = INFINITY;
        mx[f] = -INFINITY;
    }
    for (size_t r = 0; r < rows; r++) {
        const double *row = x + r * F;
        for (size_t f = 0; f < F; f++) {
            double v = row[f];
            int ok = v == v;
            cnt[f] += ok ? 1.0 : 0.0;
            sum[f] += ok ? v : 0.0;
            mn[f] = v < mn[f] ? v : mn[f];
            mx[f] = v > mx[f] ? v : mx[f];
        }
    }
    for (size_t f = 0; f < F; f++)
        sum[f] = cnt[f] > 0 ? sum[f] / cnt[f] : 0.0; /* sum now holds the mean */
    for (size_t r = 0; r < rows; r++) {
        const double *row = x + r * F;
        for (size_t f = 0; f < F; f++) {
            double d = row[f] - sum[f];
            int ok = d == d;
            d1[f] += ok ? d : 0.0;
            d2[f] += ok ? d * d : 0.0;
        }
    }
    for (size_t f = 0; f < F; f++) {
        h5p_moments m = h5p_moments_from_run(cnt[f], sum[f], d1[f], d2[f], mn[f], mx[f],
                                             (int64_t)rows - (int64_t)cnt[f]);
        h5p_moments_merge(&st[f], &m);
    }
}

/* ---- the backend --------------------------------------------------------------------------- */

typedef struct cpu_thread {
    h5p_moments *state;  /* (n_features,) this thread's partial states */
    double *buf;         /* decoded block */
    double *scratch;     /* 6 * columns */
    h5p_moments *fold;   /* (columns,) states of a folded block */
    size_t cap_buf, cap_cols;
    int failed;
} cpu_thread;

struct h5p_backend {
    h5p_pool *pool;
    int nt;
    cpu_thread *th;
    uint64_t n_features;
    const h5p_slab *slab; /* the slab of the current job */
};

static int ensure(cpu_thread *t, size_t buf_elems, size_t cols)
{
    if (buf_elems > t->cap_buf) {
        free(t->buf);
        t->buf = malloc(buf_elems * sizeof *t->buf);
        t->cap_buf = t->buf ? buf_elems : 0;
    }
    if (cols > t->cap_cols) {
        free(t->scratch);
        free(t->fold);
        t->scratch = malloc(6 * cols * sizeof *t->scratch);
        t->fold = malloc(cols * sizeof *t->fold);
        t->cap_cols = t->scratch && t->fold ? cols : 0;
    }
    return t->cap_buf >= buf_elems && t->cap_cols >= cols;
}

/* Accumulates `rows` contiguous rows of F stored values into st[0..F). Rows narrower than
 * MIN_COLUMNS are folded k at a time into one row of k*F columns (column j is feature j % F). */
static void accumulate_rows(cpu_thread *t, const h5p_slab *s, const unsigned char *src, size_t rows,
                            size_t F, h5p_moments *st)
{
    size_t k = F >= MIN_COLUMNS ? 1 : CEIL_DIV(MIN_COLUMNS, F);
    size_t W = k * F;
    size_t block_rows = BLOCK_ELEMS / W * k;
    if (block_rows == 0)
        block_rows = 1;
    if (!ensure(t, block_rows * F, W)) {
        t->failed = 1;
        return;
    }
    size_t esize = h5p_dtype_size(s->dtype);
    for (size_t r = 0; r < rows; r += block_rows) {
        size_t n = rows - r < block_rows ? rows - r : block_rows;
        h5p_cpu_decode(src + r * F * esize, s->dtype, s->dec, n * F, t->buf);
        if (k == 1) {
            h5p_cpu_block_stats(t->buf, n, F, t->scratch, st);
            continue;
        }
        size_t wide = n / k, rest = n - wide * k;
        if (wide) {
            for (size_t j = 0; j < W; j++)
                t->fold[j] = h5p_moments_empty();
            h5p_cpu_block_stats(t->buf, wide, W, t->scratch, t->fold);
            for (size_t j = 0; j < W; j++)
                h5p_moments_merge(&st[j % F], &t->fold[j]);
        }
        if (rest)
            h5p_cpu_block_stats(t->buf + wide * W, rest, F, t->scratch, st);
    }
}

static void slab_job(void *arg, int tid, int nt)
{
    h5p_backend *be = arg;
    const h5p_slab *s = be->slab;
    cpu_thread *t = &be->th[tid];
    h5p_moments *st = t->state + s->feature_base;
    const unsigned char *base = s->data;
    size_t esize = h5p_dtype_size(s->dtype);
    uint64_t outer = s->outer, F = s->features, inner = s->inner;
    if (inner == 1) {
        /* channels-last: each thread takes a contiguous range of rows */
        uint64_t r0 = outer * (uint64_t)tid / (uint64_t)nt, r1 = outer * (uint64_t)(tid + 1) / (uint64_t)nt;
        if (r1 > r0)
            accumulate_rows(t, s, base + r0 * F * esize, r1 - r0, F, st);
        return;
    }
    /* [outer][F][inner]: every (o, f) is a line of `inner` values of feature f. With enough
     * lines, threads split the lines; otherwise they split every line. */
    uint64_t lines = outer * F;
    int split_lines = lines >= 4 * (uint64_t)nt;
    uint64_t l0 = split_lines ? lines * (uint64_t)tid / (uint64_t)nt : 0;
    uint64_t l1 = split_lines ? lines * (uint64_t)(tid + 1) / (uint64_t)nt : lines;
    uint64_t i0 = split_lines ? 0 : inner * (uint64_t)tid / (uint64_t)nt;
    uint64_t i1 = split_lines ? inner : inner * (uint64_t)(tid + 1) / (uint64_t)nt;
    for (uint64_t l = l0; l < l1 && i1 > i0; l++)
        accumulate_rows(t, s, base + (l * inner + i0) * esize, i1 - i0, 1, &st[l % F]);
}

static h5prep_status cpu_create(h5p_backend **out, const h5prep_stats_config *cfg)
{
    int nt = cfg->threads > 0 ? cfg->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nt < 1)
        nt = 1;
    h5p_backend *be = calloc(1, sizeof *be);
    RETURN_ERROR_IF(!be, H5PREP_ERR_NOMEM, "cpu backend: out of memory");
    be->nt = nt;
    be->th = calloc((size_t)nt, sizeof *be->th);
    be->pool = h5p_pool_create(nt);
    if (!be->th || !be->pool) {
        h5p_pool_destroy(be->pool);
        free(be->th);
        free(be);
        return h5p_fail(H5PREP_ERR_NOMEM, "cpu backend: cannot start %d compute threads", nt);
    }
    *out = be;
    return H5PREP_OK;
}

static void cpu_destroy(h5p_backend *be)
{
    if (!be)
        return;
    h5p_pool_destroy(be->pool);
    for (int t = 0; t < be->nt; t++) {
        free(be->th[t].state);
        free(be->th[t].buf);
        free(be->th[t].scratch);
        free(be->th[t].fold);
    }
    free(be->th);
    free(be);
}

static void *cpu_alloc_host(h5p_backend *be, size_t bytes)
{
    (void)be;
    void *p = NULL;
    return posix_memalign(&p, 64, bytes ? bytes : 64) == 0 ? p : NULL;
}

static void cpu_free_host(h5p_backend *be, void *p)
{
    (void)be;
    free(p);
}

static h5prep_status cpu_begin_var(h5p_backend *be, uint64_t n_features, size_t slab_bytes)
{
    (void)slab_bytes;
    be->n_features = n_features;
    for (int t = 0; t < be->nt; t++) {
        free(be->th[t].state);
        be->th[t].state = malloc(n_features * sizeof *be->th[t].state);
        RETURN_ERROR_IF(!be->th[t].state, H5PREP_ERR_NOMEM,
                        "cpu backend: no memory for %llu feature states", (unsigned long long)n_features);
        for (uint64_t f = 0; f < n_features; f++)
            be->th[t].state[f] = h5p_moments_empty();
    }
    return H5PREP_OK;
}

static h5prep_status cpu_stats_slab(h5p_backend *be, int slot, const h5p_slab *slab)
{
    (void)slot;
    be->slab = slab;
    h5p_pool_run(be->pool, slab_job, be);
    for (int t = 0; t < be->nt; t++)
        RETURN_ERROR_IF(be->th[t].failed, H5PREP_ERR_NOMEM, "cpu backend: no memory for a block buffer");
    return H5PREP_OK;
}

static h5prep_status cpu_slot_wait(h5p_backend *be, int slot)
{
    (void)be;
    (void)slot;
    return H5PREP_OK; /* stats_slab is synchronous */
}

static h5prep_status cpu_end_var(h5p_backend *be, h5p_moments *out)
{
    for (uint64_t f = 0; f < be->n_features; f++) {
        out[f] = h5p_moments_empty();
        for (int t = 0; t < be->nt; t++)
            h5p_moments_merge(&out[f], &be->th[t].state[f]);
    }
    return H5PREP_OK;
}

const h5p_backend_ops h5p_backend_cpu = {
    .name = "cpu",
    .create = cpu_create,
    .destroy = cpu_destroy,
    .alloc_host = cpu_alloc_host,
    .free_host = cpu_free_host,
    .begin_var = cpu_begin_var,
    .stats_slab = cpu_stats_slab,
    .slot_wait = cpu_slot_wait,
    .end_var = cpu_end_var,
};
