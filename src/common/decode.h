/* decode.h: CF decoding of one stored value, shared by the CPU backend's loops and the CUDA
 * kernels (H5PREP_HD), so that both backends leave out exactly the same values. */
#ifndef H5PREP_DECODE_H
#define H5PREP_DECODE_H

#include "common/moments.h"

#include <float.h>

/* CF decoding of one file's dataset: a value is missing when it equals one of the fill values,
 * when it lies outside the valid range (both compared in the stored type, so that 64-bit integers
 * compare exactly), or when the decoded value raw*scale+offset is NaN or infinite.
 * Filled in by src/input/source.c, which says which attributes give these and how. */
#define H5P_MAX_FILLS 32

/* One value of the stored type: `i` for the signed integer types (sign-extended), `u` for the
 * unsigned ones, `f` for float32 (widened exactly) and float64. */
typedef union h5p_stored {
    long long i;
    unsigned long long u;
    double f;
} h5p_stored;

typedef struct h5p_decode {
    int nfill;                      /* distinct fill values in fill[0..nfill), none NaN */
    int int_range;                  /* integer types: lo/hi hold a valid range */
    h5p_stored fill[H5P_MAX_FILLS]; /* each a value of the stored type */
    h5p_stored lo, hi;              /* integer types, when int_range: [lo, hi] in the stored type */
    double scale, offset;
    double vmin, vmax;              /* float types: the valid range, -inf/inf when there is none */
} h5p_decode;

/* Whether only NaN/Inf can be missing and the value is used as stored. */
static inline H5PREP_HD int h5p_decode_is_plain(const h5p_decode *d)
{
    return d->nfill == 0 && !d->int_range && d->scale == 1.0 && d->offset == 0.0 && d->vmin == -INFINITY &&
           d->vmax == INFINITY;
}

/* The decoded value of stored value x, or NaN when it is missing: `missing` says whether the
 * caller found it equal to a fill value or outside the valid range (in the stored type).
 * Branch-free so that loops over it vectorize. */
static inline H5PREP_HD double h5p_decode_value(double x, int missing, const h5p_decode *d)
{
    double y = x * d->scale + d->offset;
    int ok = !missing & (fabs(y) <= DBL_MAX);
    return ok ? y : NAN;
}

#endif
