/* curand_devapi.cu: the body of the philox_keys kernel, with cuRAND's device functions compiled
 * for the host, so that the tests check that cuRAND's device API gives the keys of its host API
 * (and of h5prep's own Philox) without a GPU. Built by nvcc when the CUDA backend is. */
#define QUALIFIERS static __forceinline__ __host__ __device__ /* cuRAND's device functions, host-callable */
#define H5P_PHILOX_SUBSEQ_FN static __host__ __device__
#include "philox_subseq.h"

/* keys: (n,) host memory, filled as the kernel fills it, one subsequence after another. */
extern "C" void h5p_test_device_api_keys(unsigned long long seed, unsigned long long n, unsigned int *keys)
{
    unsigned long long blocks = (n + 3) / 4;
    for (unsigned long long t = 0; t < blocks && t < H5P_PHILOX_CURAND_SUBSEQS; t++)
        philox_subsequence(seed, t, n, keys);
}
