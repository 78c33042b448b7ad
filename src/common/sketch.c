/* sketch.c: the per-feature DDSketch of common/sketch.h: log buckets with integer counts in a
 * window of the highest indices per store, merged by adding counts, answered by rank. */
#include "common/sketch.h"

#include "common/internal.h"
#include "common/sketch_cdf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

uint64_t h5p_sketch_bytes(uint64_t nf, int buckets)
{
    return nf * (2 * (uint64_t)buckets * sizeof(uint64_t) + 2 * sizeof(int32_t) + 3 * sizeof(uint64_t));
}

h5p_sketch *h5p_sketch_create(uint64_t nf, double alpha, int buckets, const double *levels, size_t nlevels, int bins)
{
    h5p_sketch *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->alpha = alpha;
    double a = (alpha - H5P_SKETCH_LOG_ERR) / (1 + H5P_SKETCH_LOG_ERR);
    s->gamma = (1 + a) / (1 - a);
    s->inv_ln_gamma = 1 / log1p(2 * a / (1 - a));
    s->per_octave = log(2.0) * s->inv_ln_gamma;
    for (int i = 0; i <= H5P_SKETCH_TABLE; i++)
        s->log2m[i] = log2(1 + (double)i / H5P_SKETCH_TABLE);
    s->buckets = buckets;
    s->mod_m = UINT64_MAX / (uint64_t)buckets + 1;
    s->nf = nf;
    s->nlevels = nlevels;
    s->bins = bins;
    size_t n = nf ? (size_t)nf : 1;
    int ok = (s->levels = h5p_malloc(nlevels * sizeof *s->levels)) != NULL;
    ok &= (s->zero = calloc(n, sizeof *s->zero)) != NULL;
    for (int st = 0; st < 2; st++) {
        /* calloc: pages of stores that never see a value are never touched */
        ok &= (s->count[st] = calloc(n * (size_t)buckets, sizeof *s->count[st])) != NULL;
        ok &= (s->below[st] = calloc(n, sizeof *s->below[st])) != NULL;
        ok &= (s->top[st] = malloc(n * sizeof *s->top[st])) != NULL;
        for (uint64_t f = 0; ok && f < nf; f++)
            s->top[st][f] = H5P_SKETCH_EMPTY;
    }
    if (!ok) {
        h5p_sketch_destroy(s);
        return NULL;
    }
    if (nlevels)
        memcpy(s->levels, levels, nlevels * sizeof *levels);
    return s;
}

void h5p_sketch_destroy(h5p_sketch *s)
{
    if (!s)
        return;
    for (int st = 0; st < 2; st++) {
        free(s->count[st]);
        free(s->below[st]);
        free(s->top[st]);
    }
    free(s->zero);
    free(s->levels);
    free(s);
}

/* Bucket k's place in its store's ring: (k + 2^30) mod buckets (|k| < 2^30 for every float64 at
 * alpha >= 1e-6), by Lemire's multiply-shift instead of a division per value. */
static size_t slot(const h5p_sketch *s, int64_t k)
{
    __extension__ typedef unsigned __int128 u128;
    uint64_t low = s->mod_m * (uint32_t)(k + (1 << 30));
    return (size_t)(((u128)low * (uint64_t)s->buckets) >> 64);
}

uint64_t h5p_sketch_count(const h5p_sketch *s, int store, uint64_t f, int64_t k)
{
    return s->count[store][f * (uint64_t)s->buckets + slot(s, k)];
}

/* Moves the window of store st of feature f up so that its top is k: the indices that leave it
 * are counted below. */
static void raise_top(h5p_sketch *s, int st, uint64_t f, int64_t k)
{
    uint64_t *c = s->count[st] + f * (uint64_t)s->buckets;
    int64_t top = s->top[st][f];
    if (top != H5P_SKETCH_EMPTY) {
        int64_t lo = top - s->buckets + 1, hi = k - s->buckets < top ? k - s->buckets : top;
        for (int64_t j = lo; j <= hi; j++) {
            size_t i = slot(s, j);
            s->below[st][f] += c[i];
            c[i] = 0;
        }
    }
    s->top[st][f] = (int32_t)k;
}

static void store_add(h5p_sketch *s, int st, uint64_t f, int64_t k, uint64_t n)
{
    if (s->top[st][f] == H5P_SKETCH_EMPTY || k > s->top[st][f])
        raise_top(s, st, f, k);
    if (k <= (int64_t)s->top[st][f] - s->buckets)
        s->below[st][f] += n;
    else
        s->count[st][f * (uint64_t)s->buckets + slot(s, k)] += n;
}

/* The bucket index of |x| = a >= H5P_SKETCH_MIN_INDEXABLE (sketch.h: the table's log2). */
static int64_t key(const h5p_sketch *s, double a) { return h5p_sketch_index(a, s->log2m, s->per_octave); }

void h5p_sketch_add(h5p_sketch *s, uint64_t f, double x)
{
    double a = fabs(x);
    if (!(a >= H5P_SKETCH_MIN_INDEXABLE)) {
        s->zero[f]++;
        return;
    }
    store_add(s, x > 0, f, key(s, a), 1);
}

/* The indices a float64 can reach: those of DBL_MIN and DBL_MAX, with a bucket to spare. */
static int index_ok(const h5p_sketch *s, int64_t k)
{
    return k >= (int64_t)floor(-708.5 * s->inv_ln_gamma) - 1 && k <= (int64_t)ceil(709.8 * s->inv_ln_gamma) + 1;
}

int h5p_sketch_add_bucket(h5p_sketch *s, int store, uint64_t f, int32_t k, uint64_t count)
{
    if (!index_ok(s, k))
        return -1;
    if (count)
        store_add(s, store, f, k, count);
    return 0;
}

void h5p_sketch_add_feature(h5p_sketch *s, uint64_t f, const int32_t top[2], const uint64_t *window,
                            const uint64_t below[2], uint64_t zero)
{
    s->zero[f] += zero;
    for (int st = 0; st < 2; st++) {
        if (top[st] == H5P_SKETCH_EMPTY)
            continue;
        const uint64_t *c = window + (size_t)st * (size_t)s->buckets;
        for (int64_t j = 0; j < s->buckets; j++)
            if (c[j])
                store_add(s, st, f, top[st] - s->buckets + 1 + j, c[j]);
        /* bucket top[st] is occupied, so the store's top is at least top[st] now: what lay under
         * the given window lies under the store's */
        s->below[st][f] += below[st];
    }
}

void h5p_sketch_merge(h5p_sketch *a, const h5p_sketch *b)
{
    for (uint64_t f = 0; f < a->nf; f++) {
        a->zero[f] += b->zero[f];
        for (int st = 0; st < 2; st++) {
            int64_t top = b->top[st][f];
            if (top == H5P_SKETCH_EMPTY)
                continue;
            const uint64_t *c = b->count[st] + f * (uint64_t)b->buckets;
            for (int64_t k = top - b->buckets + 1; k <= top; k++)
                if (c[slot(b, k)])
                    store_add(a, st, f, k, c[slot(b, k)]);
            a->below[st][f] += b->below[st][f]; /* b's collapsed indices lie under a's window too */
        }
    }
}

double h5p_sketch_value(const h5p_sketch *s, int32_t k) { return 2 * exp((double)k / s->inv_ln_gamma) / (s->gamma + 1); }

uint64_t h5p_sketch_collapsed(const h5p_sketch *s, uint64_t f) { return s->below[0][f] + s->below[1][f]; }

uint64_t h5p_sketch_total(const h5p_sketch *s, uint64_t f)
{
    uint64_t n = s->zero[f] + h5p_sketch_collapsed(s, f);
    for (int st = 0; st < 2; st++)
        for (int b = 0; s->top[st][f] != H5P_SKETCH_EMPTY && b < s->buckets; b++)
            n += s->count[st][f * (uint64_t)s->buckets + (uint64_t)b];
    return n;
}

/* One occupied bucket of a feature as walk gives it: its answer, its place (common/sketch_cdf.h:
 * h5p_cdf_order) and its count. */
typedef struct bucket_at {
    double v;
    int64_t order;
    uint64_t n;
} bucket_at;

/* Calls fn for the buckets of feature f in ascending order of their values: the negative store
 * from its top down, its collapsed values (nearest to 0), zero, the positive store's collapsed
 * values, its window upwards. Collapsed values answer the lower edge of their store's window
 * (magnitude gamma^(bottom - 1)); the bound does not hold for them. Stops when fn returns
 * nonzero. */
static void walk(const h5p_sketch *s, uint64_t f, int (*fn)(const bucket_at *b, void *u), void *u)
{
    const int64_t B = s->buckets;
    int64_t top = s->top[0][f];
    const uint64_t *c = s->count[0] + f * (uint64_t)B;
    if (top != H5P_SKETCH_EMPTY) {
        for (int64_t k = top; k > top - B; k--)
            if (c[slot(s, k)] && fn(&(bucket_at){-h5p_sketch_value(s, (int32_t)k), h5p_cdf_order(1, 2 * k), c[slot(s, k)]}, u))
                return;
        if (s->below[0][f] && fn(&(bucket_at){-exp((double)(top - B) / s->inv_ln_gamma), h5p_cdf_order(1, 2 * (top - B) + 1),
                                              s->below[0][f]}, u))
            return;
    }
    if (s->zero[f] && fn(&(bucket_at){0.0, 0, s->zero[f]}, u))
        return;
    top = s->top[1][f];
    c = s->count[1] + f * (uint64_t)B;
    if (top == H5P_SKETCH_EMPTY)
        return;
    if (s->below[1][f] &&
        fn(&(bucket_at){exp((double)(top - B) / s->inv_ln_gamma), h5p_cdf_order(0, 2 * (top - B) + 1), s->below[1][f]}, u))
        return;
    for (int64_t k = top - B + 1; k <= top; k++)
        if (c[slot(s, k)] && fn(&(bucket_at){h5p_sketch_value(s, (int32_t)k), h5p_cdf_order(0, 2 * k), c[slot(s, k)]}, u))
            return;
}

typedef struct rank_walk {
    uint64_t rank, seen;
    double value;
} rank_walk;

static int find_rank(const bucket_at *b, void *u)
{
    rank_walk *r = u;
    r->seen += b->n;
    r->value = b->v;
    return r->seen > r->rank;
}

double h5p_sketch_quantile(const h5p_sketch *s, uint64_t f, double q, double mn, double mx)
{
    uint64_t n = h5p_sketch_total(s, f);
    if (n == 0)
        return NAN;
    rank_walk r = {(uint64_t)floor(q * (double)(n - 1)), 0, NAN};
    if (r.rank > n - 1) /* q * (n - 1) rounded up past the last rank */
        r.rank = n - 1;
    walk(s, f, find_rank, &r);
    return r.value < mn ? mn : r.value > mx ? mx : r.value;
}

typedef struct cdf_walk {
    h5p_cdf *c;
    uint64_t at, seen, n;
} cdf_walk;

static int to_cdf(const bucket_at *b, void *u)
{
    cdf_walk *w = u;
    w->seen += b->n;
    w->c->order[w->at] = b->order;
    w->c->p[w->at++] = (double)w->seen / (double)w->n;
    return 0;
}

int h5p_cdf_build(const h5p_sketch *sk, h5p_cdf *out)
{
    memset(out, 0, sizeof *out);
    out->sk = sk;
    size_t per = 2 * (size_t)sk->buckets + 3; /* both windows, both collapsed counts, zero */
    out->off = h5p_malloc((sk->nf + 1) * sizeof *out->off);
    out->order = h5p_malloc((sk->nf ? sk->nf : 1) * per * sizeof *out->order);
    out->p = h5p_malloc((sk->nf ? sk->nf : 1) * per * sizeof *out->p);
    if (!out->off || !out->order || !out->p) {
        h5p_cdf_free(out);
        return -1;
    }
    cdf_walk w = {out, 0, 0, 0};
    for (uint64_t f = 0; f < sk->nf; f++) {
        out->off[f] = w.at;
        w.seen = 0, w.n = h5p_sketch_total(sk, f);
        walk(sk, f, to_cdf, &w);
    }
    out->off[sk->nf] = w.at;
    return 0;
}

void h5p_cdf_free(h5p_cdf *c)
{
    free(c->off), free(c->order), free(c->p);
    memset(c, 0, sizeof *c);
}

double h5p_cdf_eval(const h5p_cdf *c, uint64_t f, double x)
{
    return h5p_cdf_lookup(c->order, c->p, c->off[f], c->off[f + 1], x, c->sk->log2m, c->sk->per_octave);
}

typedef struct hist_walk {
    double mn, mx;
    int bins;
    uint64_t *out;
} hist_walk;

static int to_bin(const bucket_at *bk, void *u)
{
    hist_walk *h = u;
    double v = bk->v < h->mn ? h->mn : bk->v > h->mx ? h->mx : bk->v;
    double w = h->mx / h->bins - h->mn / h->bins; /* never overflows, also for -1e308 .. 1e308 */
    int b = w > 0 ? (int)(v / w - h->mn / w) : 0;
    h->out[b < 0 ? 0 : b >= h->bins ? h->bins - 1 : b] += bk->n;
    return 0;
}

void h5p_sketch_histogram(const h5p_sketch *s, uint64_t f, int bins, double mn, double mx, uint64_t *out)
{
    if (bins < 1)
        return;
    memset(out, 0, (size_t)bins * sizeof *out);
    hist_walk h = {mn, mx, bins, out};
    walk(s, f, to_bin, &h);
}
