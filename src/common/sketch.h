/* sketch.h: the per-feature quantile sketch of `stats --quantiles/--histogram`: DDSketch's
 * log buckets with integer counts, so that adding values and merging sketches commute exactly.
 * The CPU backend adds slabs (backends/cpu/sketch_cpu.c), output/sketch_io.c reads and writes it. */
#ifndef H5PREP_SKETCH_H
#define H5PREP_SKETCH_H

#include "h5prep.h"
#include "common/sketch_index.h"

#include <stddef.h>
#include <stdint.h>

/* A value x with |x| >= H5P_SKETCH_MIN_INDEXABLE goes to bucket k = ceil(log_gamma |x|) of the
 * store of its sign, gamma = (1 + a) / (1 - a); bucket k holds (gamma^(k-1), gamma^k] and answers
 * 2 gamma^k / (gamma + 1), within a of every value in it (relative). Smaller |x| (subnormals, 0)
 * are counted in the zero bucket and answer 0. log_gamma |x| is taken as (e + log2 m) / log2
 * gamma for |x| = m 2^e, log2 m interpolated linearly in a table of H5P_SKETCH_TABLE steps
 * (h5p_sketch_index of common/sketch_index.h, shared with the CUDA kernel; an
 * error under H5P_SKETCH_LOG_ERR in ln |x|, a few times faster than log()); a = (alpha -
 * err) / (1 + err) makes the answers good to alpha whatever that error does at bucket edges. */
#define H5P_SKETCH_LOG_ERR 1.5e-7 /* > (1/1024)^2 / 8 / ln 2 in log2, times ln 2: 1.2e-7 */

/* Each store keeps the `buckets` indices top-buckets+1 .. top below its highest occupied index
 * `top` (a ring indexed by k mod buckets); values of lower indices are counted in `below`
 * (DDSketch's collapsing store) and lose the bound. The window, and so every count, depends only
 * on the final set of values (through top), never on the order of adds and merges. */

typedef struct h5p_sketch {
    double alpha;                 /* the relative accuracy asked for */
    double gamma, inv_ln_gamma;   /* of a (above) */
    double per_octave;            /* buckets per factor 2: ln 2 / ln gamma */
    double log2m[H5P_SKETCH_TABLE + 1]; /* log2(1 + i / H5P_SKETCH_TABLE) */
    int buckets;       /* per store and feature */
    uint64_t mod_m;    /* 2^64 / buckets, rounded up: the ring's modulo by multiplication */
    uint64_t nf;       /* features */
    int32_t *top[2];   /* (nf,) per store (0 negative, 1 positive): highest index, or H5P_SKETCH_EMPTY */
    uint64_t *below[2]; /* (nf,) values of indices under the store's window (collapsed) */
    uint64_t *zero;     /* (nf,) values with |x| under H5P_SKETCH_MIN_INDEXABLE */
    uint64_t *count[2]; /* (nf, buckets): count[s][f * buckets + (k mod buckets)] */
    /* what a document reports from it: quantile levels and histogram bins (a merge keeps the first's) */
    double *levels;
    size_t nlevels;
    int bins;
} h5p_sketch;

/* Bytes a sketch of nf features with `buckets` takes at most (the memory check of a run). */
uint64_t h5p_sketch_bytes(uint64_t nf, int buckets);

/* An empty sketch; NULL when out of memory. levels are copied. */
h5p_sketch *h5p_sketch_create(uint64_t nf, double alpha, int buckets, const double *levels, size_t nlevels, int bins);
void h5p_sketch_destroy(h5p_sketch *s); /* accepts NULL */

/* Adds x (finite; missing values are never added) to feature f. */
void h5p_sketch_add(h5p_sketch *s, uint64_t f, double x);
/* Adds `count` values of bucket k of store `store` (0 negative, 1 positive) of feature f, as a
 * loaded document gives them; k beyond the float64 range is refused (-1). */
int h5p_sketch_add_bucket(h5p_sketch *s, int store, uint64_t f, int32_t k, uint64_t count);
/* Adds the sketch of feature f's values computed elsewhere (the CUDA kernel's, kernels/sketch.cu):
 * for each store st with top[st] != H5P_SKETCH_EMPTY, window[st * buckets + j] values of bucket
 * top[st] - buckets + 1 + j and below[st] values under that window; `zero` values in the zero
 * bucket. Exact: the same counts as adding the values one by one. */
void h5p_sketch_add_feature(h5p_sketch *s, uint64_t f, const int32_t top[2], const uint64_t *window,
                            const uint64_t below[2], uint64_t zero);
/* The count of bucket k (inside the window of store `store` of feature f). */
uint64_t h5p_sketch_count(const h5p_sketch *s, int store, uint64_t f, int64_t k);
/* Adds b into a (same features, alpha and buckets: the caller checks). Exact. */
void h5p_sketch_merge(h5p_sketch *a, const h5p_sketch *b);

/* Bucket k's answer: 2 gamma^k / (gamma + 1). */
double h5p_sketch_value(const h5p_sketch *s, int32_t k);
/* Values of feature f (zero + below + windows) and those collapsed (below, both stores). */
uint64_t h5p_sketch_total(const h5p_sketch *s, uint64_t f);
uint64_t h5p_sketch_collapsed(const h5p_sketch *s, uint64_t f);
/* The value of rank floor(q (n - 1)) (0-based, ascending; numpy's np.quantile method "lower") of
 * feature f, clamped to [mn, mx] (the exact min and max); NaN when f has no values. */
double h5p_sketch_quantile(const h5p_sketch *s, uint64_t f, double q, double mn, double mx);
/* Counts of `bins` equal-width bins over [mn, mx] (the last closed): each bucket's count goes to
 * the bin of its answer clamped to [mn, mx]. out: (bins,). */
void h5p_sketch_histogram(const h5p_sketch *s, uint64_t f, int bins, double mn, double mx, uint64_t *out);

/* normalize: quantile of a transform: each value's estimated CDF from the sketch of one output,
 * the cumulative count through the bucket of the value over the total. Per feature f, entries
 * [off[f], off[f + 1]) of order (the occupied buckets' places, ascending, as h5p_sketch_quantile
 * walks them: common/sketch_cdf.h) and p (the fraction of values in those buckets and below). */
typedef struct h5p_cdf {
    const h5p_sketch *sk;
    uint64_t *off; /* (nf + 1,) */
    int64_t *order;
    double *p;
} h5p_cdf;

/* The table of every feature of sk; -1 when out of memory. h5p_cdf_free accepts a zeroed one. */
int h5p_cdf_build(const h5p_sketch *sk, h5p_cdf *out);
void h5p_cdf_free(h5p_cdf *c);
/* x's estimated CDF in [0, 1] for feature f (NaN stays NaN; a feature without values gives NaN):
 * h5p_cdf_lookup of common/sketch_cdf.h, which the CUDA kernel shares. */
double h5p_cdf_eval(const h5p_cdf *c, uint64_t f, double x);

#endif
