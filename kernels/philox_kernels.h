/* philox_kernels.h: the launcher of the split-key kernel (kernels/philox.cu), for host code that
 * wants the keys of h5p_split_keys on the device. Plain C; CUDA types from cuda_runtime.h (or the
 * SIMT harness). */
#ifndef H5PREP_PHILOX_KERNELS_H
#define H5PREP_PHILOX_KERNELS_H

#if defined(H5PREP_SIMT)
#include "simt.h"
#else
#include <cuda_runtime.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum { H5P_PHILOX_BLOCK = 256 };

/* keys: (n,) device memory. keys[i] = output i of cuRAND's host generator
 * CURAND_RNG_PSEUDO_PHILOX4_32_10 seeded with `seed` (the keys of h5p_split_keys). n == 0 launches
 * nothing; cudaErrorInvalidValue when keys is NULL for n > 0. Returns cudaGetLastError(). */
cudaError_t h5p_launch_philox_keys(unsigned long long seed, unsigned long long n, unsigned int *keys,
                                   cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
