/* philox_subseq.h: one cuRAND subsequence's share of the split keys, the body of the philox_keys
 * kernel (kernels/philox.cu). A host test (tests/curand_devapi.cu) compiles it with cuRAND's
 * device functions made host-callable, to check the device API's keys without a GPU. */
#ifndef H5PREP_PHILOX_SUBSEQ_H
#define H5PREP_PHILOX_SUBSEQ_H

#include "cuda_compat.h"
#include "common/philox.h"

#if defined(__CUDACC__)
#include <curand_kernel.h>
#endif

#ifndef H5P_PHILOX_SUBSEQ_FN
#define H5P_PHILOX_SUBSEQ_FN H5P_DEVICE
#endif

/* Block b of the stream (keys 4b..4b+3, those below n) is Philox at counter (b / 65536, 0,
 * b % 65536, 0): the host generator runs 65536 subsequences (the counter's high 64 bits) and
 * advances each by one counter step per 4 outputs (the low 64 bits). In the device API,
 * curand_init(seed, t, 0) puts a state at counter (0, 0, t, 0) with key (seed lo, seed hi), and
 * each curand4 returns the 4 words of the current counter and then steps the low 64 bits by one:
 * so subsequence t's successive curand4 calls give blocks t, t + 65536, t + 2*65536, ... */
H5P_PHILOX_SUBSEQ_FN void philox_subsequence(unsigned long long seed, unsigned long long t, unsigned long long n,
                                             unsigned int *keys)
{
    unsigned long long blocks = (n + 3) / 4;
#if defined(__CUDACC__)
    curandStatePhilox4_32_10_t s;
    curand_init(seed, t, 0, &s);
#endif
    for (unsigned long long b = t; b < blocks; b += H5P_PHILOX_CURAND_SUBSEQS) {
        unsigned int r[4];
#if defined(__CUDACC__)
        uint4 q = curand4(&s);
        r[0] = q.x, r[1] = q.y, r[2] = q.z, r[3] = q.w;
#else
        h5p_philox_curand_block(seed, b, r);
#endif
        for (unsigned long long i = 4 * b, k = 0; k < 4 && i + k < n; k++)
            keys[i + k] = r[k];
    }
}

#endif
