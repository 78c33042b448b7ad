/* philox.cu: the split keys on the device: key[i] = output i of cuRAND's host Philox4x32-10
 * generator, through cuRAND's device API under nvcc and src/common/philox.h under the SIMT harness. */
#include "cuda_compat.h"
#include "launch.h"
#include "philox_subseq.h"



typedef struct philox_args {
    unsigned long long seed, n;
    unsigned int *keys; /* (n,) */
} philox_args;

/* Thread g takes subsequences g, g + threads, ... below min(blocks, 65536); its stores of 16 bytes
 * sit next to its neighbours'. */
H5P_GLOBAL void philox_keys(const philox_args a)
{
    unsigned long long blocks = CEIL_DIV(a.n, 4ULL), stride = H5P_PHILOX_CURAND_SUBSEQS;
    unsigned long long nsub = blocks < stride ? blocks : stride;
    unsigned long long threads = (unsigned long long)gridDim.x * blockDim.x;
    for (unsigned long long t = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; t < nsub; t += threads)
        philox_subsequence(a.seed, t, a.n, a.keys);
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
    unsigned long long blocks = CEIL_DIV(n, 4ULL);
    unsigned long long threads = blocks < H5P_PHILOX_CURAND_SUBSEQS ? blocks : H5P_PHILOX_CURAND_SUBSEQS;
    H5P_LAUNCH(philox_keys, (int)CEIL_DIV(threads, (unsigned long long)H5P_PHILOX_BLOCK), H5P_PHILOX_BLOCK, 0,
               stream, a);
    return cudaGetLastError();
}
