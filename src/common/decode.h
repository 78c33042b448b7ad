/* decode.h: CF decoding of one stored value, shared by the CPU backend's loops and the CUDA
 * kernels (H5PREP_HD), so that both backends leave out exactly the same values. */
#ifndef H5PREP_DECODE_H
#define H5PREP_DECODE_H

#include "common/moments.h"

#include <float.h>

/* CF decoding of one file's dataset: a value is missing when it equals one of the fill values
 * (compared in the stored type), when the stored value lies outside [vmin, vmax], or when the
 * decoded value raw*scale+offset is NaN or infinite. */
#define H5P_MAX_FILLS 4
typedef struct h5p_decode {
    int nfill;
    double fill[H5P_MAX_FILLS]; /* each exactly representable in the stored type */
    double scale, offset, vmin, vmax;
} h5p_decode;

/* Whether only NaN/Inf can be missing and the value is used as stored. */
static inline H5PREP_HD int h5p_decode_is_plain(const h5p_decode *d)
{
    return d->nfill == 0 && d->scale == 1.0 && d->offset == 0.0 && d->vmin == -INFINITY && d->vmax == INFINITY;
}

/* The decoded value of stored value x (already compared with the fill values: is_fill), or NaN
 * when it is missing. Branch-free so that loops over it vectorize. */
static inline H5PREP_HD double h5p_decode_value(double x, int is_fill, const h5p_decode *d)
{
    double y = x * d->scale + d->offset;
    int ok = !is_fill & !(x < d->vmin) & !(x > d->vmax) & (fabs(y) <= DBL_MAX);
    return ok ? y : NAN;
}

#endif
