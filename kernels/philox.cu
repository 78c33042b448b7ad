/* philox.cu: the split keys on the device: key[i] = output i of cuRAND's host Philox4x32-10
 * generator, through cuRAND's device API under nvcc and src/philox.h under the SIMT harness. */
#include "cuda_compat.h"
#include "philox.h"
#include "philox_kernels.h"

#if defined(__CUDACC__)
#include <curand_kernel.h>
#define H5P_HOST_API extern "C"
#else
#define H5P_HOST_API
#endif

#define CEIL_DIV_ULL(a, b) (((a) + (b)-1) / (b))

typedef struct philox_args {
    unsigned long long seed, n;
    unsigned int *keys; /* (n,) */
} philox_args;

/* keys[4b..4b+3] (those below n) = x, y, z, w */
H5P_DEVICE void store4(const philox_args *a, unsigned long long b, unsigned int x, unsigned int y,
                       unsigned int z, unsigned int w)
{
    unsigned long long i = 4 * b;
    a->keys[i] = x;
    if (i + 1 < a->n)
        a->keys[i + 1] = y;
    if (i + 2 < a->n)
        a->keys[i + 2] = z;
    if (i + 3 < a->n)
        a->keys[i + 3] = w;
}

/* Block b of the stream (keys 4b..4b+3) is Philox at counter (b / 65536, 0, b % 65536, 0): the host
 * generator runs 65536 subsequences (the counter's high 64 bits) and advances each by one counter
 * step per 4 outputs (the low 64 bits). In the device API, curand_init(seed, t, 0) puts a state at
 * counter (0, 0, t, 0) with key (seed lo, seed hi), and each curand4 returns the 4 words of the
 * current counter and then steps the low 64 bits by one: so subsequence t's successive curand4
 * calls give blocks t, t + 65536, t + 2*65536, ... Thread g takes subsequences g, g + threads, ...
 * below min(blocks, 65536); its stores of 16 bytes sit next to its neighbours'. */
H5P_GLOBAL void philox_keys(const philox_args a)
{
    unsigned long long blocks = CEIL_DIV_ULL(a.n, 4ULL), stride = H5P_PHILOX_CURAND_SUBSEQS;
    unsigned long long nsub = blocks < stride ? blocks : stride;
    unsigned long long threads = (unsigned long long)gridDim.x * blockDim.x;
    for (unsigned long long t = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; t < nsub; t += threads) {
#if defined(__CUDACC__)
        curandStatePhilox4_32_10_t s;
        curand_init(a.seed, t, 0, &s);
        for (unsigned long long b = t; b < blocks; b += stride) {
            uint4 r = curand4(&s);
            store4(&a, b, r.x, r.y, r.z, r.w);
        }
#else
        for (unsigned long long b = t; b < blocks; b += stride) {
            uint32_t r[4];
            h5p_philox_curand_block(a.seed, b, r);
            store4(&a, b, r[0], r[1], r[2], r[3]);
        }
#endif
    }
}
H5P_ENTRY(philox_keys, philox_args)

H5P_HOST_API cudaError_t h5p_launch_philox_keys(unsigned long long seed, unsigned long long n, unsigned int *keys,
                                                cudaStream_t stream)
{
    if (n == 0)
        return cudaSuccess;
    if (!keys)
        return cudaErrorInvalidValue;
    philox_args a;
    a.seed = seed;
    a.n = n;
    a.keys = keys;
    /* one thread per subsequence: at most 65536 threads, each walking n / 2^18 blocks */
    unsigned long long blocks = CEIL_DIV_ULL(n, 4ULL);
    unsigned long long threads = blocks < H5P_PHILOX_CURAND_SUBSEQS ? blocks : H5P_PHILOX_CURAND_SUBSEQS;
    H5P_LAUNCH(philox_keys, (int)CEIL_DIV_ULL(threads, (unsigned long long)H5P_PHILOX_BLOCK), H5P_PHILOX_BLOCK, 0,
               stream, a);
    return cudaGetLastError();
}
