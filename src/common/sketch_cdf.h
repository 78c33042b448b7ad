/* sketch_cdf.h: the lookup of normalize: quantile in its CDF table (common/sketch.h: h5p_cdf),
 * H5PREP_HD: the CPU's h5p_cdf_eval and the CUDA kernel (kernels/transform.cu: finish_cdf) map
 * every value with this one function, so that both backends give the same bits. */
#ifndef H5PREP_SKETCH_CDF_H
#define H5PREP_SKETCH_CDF_H

#include "common/sketch_index.h"

#include <math.h>
#include <stdint.h>

/* A table entry's place in the ascending order of values, as an integer: bucket k's answer at
 * magnitude 2k, the lower edge gamma^k of a window whose collapsed values lie in bucket k and
 * below at 2k + 1 (between the answers of k and k + 1), stored as 2^32 + magnitude (|k| < 2^31),
 * negated in the negative store; the zero bucket is 0. Integers rather than the answers
 * themselves (exp), so that the host and the device order every value the same way. */
static inline H5PREP_HD int64_t h5p_cdf_order(int negative, int64_t magnitude)
{
    int64_t o = ((int64_t)1 << 32) + magnitude;
    return negative ? -o : o;
}

/* The CDF of x (float64) from entries [lo, hi) of a feature's table: order (ascending) and p
 * (the fraction of the feature's values at or below each entry). x counts every entry at or
 * below its own bucket's (as h5p_sketch_add buckets it, ±Inf included): p of the last such entry,
 * 0 below the first. NaN for x NaN or a feature without values (lo == hi). Compiled without
 * contraction, as h5p_sketch_index. */
static inline H5PREP_HD double h5p_cdf_lookup(const int64_t *order, const double *p, uint64_t lo, uint64_t hi,
                                              double x, const double *log2m, double per_octave)
{
    if (x != x || lo == hi)
        return NAN;
    double a = fabs(x);
    int64_t ox = a >= H5P_SKETCH_MIN_INDEXABLE ? h5p_cdf_order(x < 0, 2 * h5p_sketch_index(a, log2m, per_octave)) : 0;
    uint64_t first = lo;
    while (lo < hi) { /* the first entry beyond x */
        uint64_t mid = lo + (hi - lo) / 2;
        if (order[mid] <= ox)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == first ? 0.0 : p[lo - 1];
}

#endif
