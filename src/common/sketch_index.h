/* sketch_index.h: the bucket index of the quantile sketch (common/sketch.h), H5PREP_HD: the CPU's
 * h5p_sketch_add and the CUDA kernel (kernels/sketch.cu) compute it with this one function, so
 * that both backends put every value in the same bucket, bit for bit. */
#ifndef H5PREP_SKETCH_INDEX_H
#define H5PREP_SKETCH_INDEX_H

#include "common/hd.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define H5P_SKETCH_TABLE 1024
#define H5P_SKETCH_MIN_INDEXABLE 2.2250738585072014e-308 /* DBL_MIN: the smallest normal float64 */
#define H5P_SKETCH_EMPTY INT32_MIN                      /* top of a store without values */

/* ceil(log_gamma a) for a >= H5P_SKETCH_MIN_INDEXABLE, as (e + log2 m) per_octave for a = m 2^e,
 * log2 m interpolated in log2m (H5P_SKETCH_TABLE + 1 entries: log2(1 + i / H5P_SKETCH_TABLE)).
 * Callers compile it without contraction (-ffp-contract=off, -fmad=false): the same roundings. */
static inline H5PREP_HD int64_t h5p_sketch_index(double a, const double *log2m, double per_octave)
{
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits); /* a normal float64: m 2^e, m in [1, 2) */
    int64_t e = (int64_t)(bits >> 52) - 1023;
    uint64_t mant = bits & ((1ull << 52) - 1), i = mant >> 42; /* 52 - log2(H5P_SKETCH_TABLE) */
    double frac = (double)(mant & ((1ull << 42) - 1)) * 0x1p-42;
    double lg = (double)e + (log2m[i] + (log2m[i + 1] - log2m[i]) * frac);
    return (int64_t)ceil(lg * per_octave);
}

#endif
