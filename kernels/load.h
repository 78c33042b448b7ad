/* load.h: one stored value read and CF-decoded on the device (or the SIMT harness), with the CPU
 * backend's rules (src/common/decode.h). Shared by the statistics and the transform kernels. */
#ifndef H5PREP_KERNELS_LOAD_H
#define H5PREP_KERNELS_LOAD_H

#include "cuda_compat.h"
#include "common/decode.h"
#include "common/dtype.h"

/* Value i of the slab decoded to float64, NaN when missing (the CPU backend's rules). */
#define LOAD_AS(T)                                                                                 \
    {                                                                                              \
        T v = ((const T *)data)[i];                                                                \
        int fill = d->nfill > 0 && (v == (T)d->fill[0] || v == (T)d->fill[d->nfill > 1 ? 1 : 0] || \
                                    v == (T)d->fill[d->nfill > 2 ? 2 : 0] ||                       \
                                    v == (T)d->fill[d->nfill > 3 ? 3 : 0]);                        \
        return h5p_decode_value((double)v, fill, d);                                               \
    }

H5P_DEVICE double load_value(const void *data, int dtype, unsigned long long i, const h5p_decode *d)
{
    switch (dtype) {
    case H5P_I8: LOAD_AS(signed char)
    case H5P_U8: LOAD_AS(unsigned char)
    case H5P_I16: LOAD_AS(short)
    case H5P_U16: LOAD_AS(unsigned short)
    case H5P_I32: LOAD_AS(int)
    case H5P_U32: LOAD_AS(unsigned int)
    case H5P_I64: LOAD_AS(long long)
    case H5P_U64: LOAD_AS(unsigned long long)
    case H5P_F32: LOAD_AS(float)
    default: LOAD_AS(double)
    }
}

#endif
