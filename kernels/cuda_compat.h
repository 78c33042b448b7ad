/* cuda_compat.h: what a kernel source may use. Under nvcc it is CUDA itself; under a host C
 * compiler (H5PREP_SIMT) the same names come from the project's SIMT harness (simt/simt.h),
 * which runs every CUDA thread as an OS thread so that kernels can be tested without a GPU.
 * Kernels use only what is listed here (scripts/check-kernels.sh keeps it so). */
#ifndef H5PREP_CUDA_COMPAT_H
#define H5PREP_CUDA_COMPAT_H

#if defined(__CUDACC__)

#include <cuda_runtime.h>

#define H5P_GLOBAL extern "C" __global__
/* At most `threads` per block and at least `blocks` resident per SM: caps the registers. */
#define H5P_BOUNDS(threads, blocks) __launch_bounds__(threads, blocks)
#define H5P_DEVICE static __device__ __forceinline__
/* The block's dynamic shared memory (the launch's shmem bytes), as a T*. */
#define H5P_SHARED(T) (reinterpret_cast<T *>(h5p_dyn_smem))
extern __shared__ double h5p_dyn_smem[];
#define H5P_ENTRY(kernel, Args)
#define H5P_LAUNCH(kernel, grid, block, shmem, stream, args) kernel<<<(grid), (block), (shmem), (stream)>>>(args)
#define H5P_RESTRICT __restrict__
#define H5P_HOST_API extern "C" /* a launcher, called from the C host code */

#else /* the SIMT harness */

#include "simt.h"

#define H5P_GLOBAL static /* called only through its H5P_ENTRY, in the same file */
#define H5P_BOUNDS(threads, blocks)
#define H5P_DEVICE static inline
#define H5P_SHARED(T) ((T *)simt_shared_mem())
/* The harness calls kernels through an entry that takes the argument struct by pointer. */
#define H5P_ENTRY(kernel, Args)                                                                    \
    static void kernel##_simt_entry(const void *args) { kernel(*(const Args *)args); }
#define H5P_LAUNCH(kernel, grid, block, shmem, stream, args)                                       \
    simt_launch(#kernel, (grid), (block), (shmem), (stream), kernel##_simt_entry, &(args), sizeof(args))
#define H5P_RESTRICT restrict
#define H5P_HOST_API

#endif

/* A kernel takes one argument, a struct by value, and is followed by H5P_ENTRY(kernel, Args):
 *     H5P_GLOBAL void stats_partial(const h5p_stats_args a) { ... }
 * (optionally H5P_GLOBAL void H5P_BOUNDS(threads, blocks) name(...) to cap its registers)
 *     H5P_ENTRY(stats_partial, h5p_stats_args)
 *     ... H5P_LAUNCH(stats_partial, grid, block, shmem, stream, args); then cudaGetLastError().
 * Allowed inside kernels (both sides):
 *   threadIdx.x, blockIdx.x, blockDim.x, gridDim.x       (1-D launches only)
 *   __syncthreads()
 *   __shfl_down_sync(mask, v, delta), __shfl_xor_sync(mask, v, lane_mask)  for double, float,
 *       int, unsigned, long long and unsigned long long
 *   __activemask()   warpSize (32)
 *   atomicAdd on unsigned long long and double
 *   H5P_SHARED(T) for the dynamic shared memory of the launch
 */

#endif
