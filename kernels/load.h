/* load.h: one stored value read and CF-decoded on the device (or the SIMT harness), with the CPU
 * backend's rules (src/common/decode.h). Shared by the statistics and the transform kernels. */
#ifndef H5PREP_KERNELS_LOAD_H
#define H5PREP_KERNELS_LOAD_H

#include "cuda_compat.h"
#include "common/decode.h"
#include "common/dtype.h"

/* Integer types compare with the fill values and the valid range as integers of the stored type
 * (member M of h5p_stored: i or u), so that 64-bit values compare exactly. The loop over the
 * fill values is uniform across a warp: every thread of a launch has the same h5p_decode. */
#define LOAD_INT(T, M, TMIN, TMAX)                                                                 \
    {                                                                                              \
        T v = ((const T *)data)[i];                                                                \
        T lo = d->int_range ? (T)d->lo.M : (T)(TMIN), hi = d->int_range ? (T)d->hi.M : (T)(TMAX);  \
        int miss = (v < lo) | (v > hi);                                                            \
        for (int k = 0; k < d->nfill; k++)                                                         \
            miss |= v == (T)d->fill[k].M;                                                          \
        return h5p_decode_value((double)v, miss, d);                                               \
    }

/* Float types: fill values are values of T; the valid range is exact in float64. */
#define LOAD_FLOAT(T)                                                                              \
    {                                                                                              \
        T v = ((const T *)data)[i];                                                                \
        double x = (double)v;                                                                      \
        int miss = (x < d->vmin) | (x > d->vmax);                                                  \
        for (int k = 0; k < d->nfill; k++)                                                         \
            miss |= v == (T)d->fill[k].f;                                                          \
        return h5p_decode_value(x, miss, d);                                                       \
    }

/* Value i of the slab decoded to float64, NaN when missing (the CPU backend's rules). */
H5P_DEVICE double load_value(const void *data, int dtype, unsigned long long i, const h5p_decode *d)
{
    switch (dtype) {
    case H5P_I8: LOAD_INT(signed char, i, -128, 127)
    case H5P_U8: LOAD_INT(unsigned char, u, 0, 255)
    case H5P_I16: LOAD_INT(short, i, -32768, 32767)
    case H5P_U16: LOAD_INT(unsigned short, u, 0, 65535)
    case H5P_I32: LOAD_INT(int, i, -2147483647 - 1, 2147483647)
    case H5P_U32: LOAD_INT(unsigned int, u, 0, 4294967295u)
    case H5P_I64: LOAD_INT(long long, i, -9223372036854775807LL - 1, 9223372036854775807LL)
    case H5P_U64: LOAD_INT(unsigned long long, u, 0, 18446744073709551615ULL)
    case H5P_F32: LOAD_FLOAT(float)
    default: LOAD_FLOAT(double)
    }
}

#endif
