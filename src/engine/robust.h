/* robust.h: `normalize: {method: robust}` of a transform: shift = median, divisor = IQR (q75 -
 * q25) per feature, from the quantile sketch of `stats --quantiles` (common/sketch.h), taken in
 * pass 1 over the normalizing split's rows or read from a statistics file that holds one. The
 * same sketch serves `normalize: quantile` (its CDF table, common/sketch.h: h5p_cdf). */
#ifndef H5PREP_ROBUST_H
#define H5PREP_ROBUST_H

#include "h5prep.h"
#include "common/moments.h"
#include "common/sketch.h"

/* An empty sketch (normalize: robust or quantile) of nf features with the engine's --sketch-alpha
 * and --sketch-buckets, reporting the levels 0.25, 0.5, 0.75 in stats.json; refused
 * (H5PREP_ERR_NOMEM) beyond --mem. `output` names the output in messages. */
h5prep_status h5p_robust_sketch(const h5prep_stats_config *c, const char *output, uint64_t nf, h5p_sketch **out);

/* Adds rows [0, rows) of a gathered block of an output (rows of `elems` values, a sample
 * [outer][features][inner], float64 when f64 else float32, NaN: missing) to sk. */
h5prep_status h5p_robust_add(h5p_sketch *sk, const void *block, int f64, uint64_t rows, uint64_t elems, uint64_t features,
                             uint64_t inner);

/* Per feature of sk: shift = median, div = q75 - q25 (numpy's "lower" quantiles within the
 * sketch's alpha, clamped to the exact min and max of ms). A feature with no values gets shift 0
 * and div 1, one with IQR 0 its median and div 1. An IQR beyond DBL_MAX is refused, naming the
 * output and the feature. */
h5prep_status h5p_robust_factors(const h5p_sketch *sk, const h5p_moments *ms, const char *output, double *shift, double *div);

#endif
