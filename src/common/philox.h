/* philox.h: Philox4x32-10 (Salmon, Moraes, Dror and Shaw 2011, Random123's constants) and the
 * order in which cuRAND's host generator lays its blocks out, for src/plan/split.c and the SIMT kernel. */
#ifndef H5PREP_PHILOX_H
#define H5PREP_PHILOX_H

#include <stdint.h>

#ifndef H5PREP_HD
#ifdef __CUDACC__
#define H5PREP_HD __host__ __device__
#else
#define H5PREP_HD
#endif
#endif

enum {
    /* cuRAND's host generator CURAND_RNG_PSEUDO_PHILOX4_32_10 (default ordering) runs this many
     * subsequences side by side: block b of 4 outputs comes from subsequence b % 65536 at
     * position b / 65536 (measured against libcurand, see h5p_philox_curand_block). */
    H5P_PHILOX_CURAND_SUBSEQS = 65536
};

/* One round: two 32x32->64 products, the high halves mixed with the other words and the key. */
static inline H5PREP_HD void h5p_philox_round(uint32_t c[4], const uint32_t k[2])
{
    uint64_t p0 = (uint64_t)0xD2511F53u * c[0], p1 = (uint64_t)0xCD9E8D57u * c[2];
    uint32_t x0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k[0], x1 = (uint32_t)p1;
    uint32_t x2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k[1], x3 = (uint32_t)p0;
    c[0] = x0, c[1] = x1, c[2] = x2, c[3] = x3;
}

/* out = Philox4x32-10(ctr, key): 10 rounds, the key bumped by the Weyl constants between rounds. */
static inline H5PREP_HD void h5p_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]}, k[2] = {key[0], key[1]};
    for (int r = 0; r < 10; r++) {
        if (r > 0)
            k[0] += 0x9E3779B9u, k[1] += 0xBB67AE85u;
        h5p_philox_round(c, k);
    }
    out[0] = c[0], out[1] = c[1], out[2] = c[2], out[3] = c[3];
}

/* Outputs 4b..4b+3 of cuRAND's host generator seeded with `seed`: key = (seed lo, seed hi);
 * counter = (position lo, position hi, subsequence, 0) with position = b / 65536 and subsequence
 * = b % 65536, as curand_init(seed, b % 65536, 4 * (b / 65536)) sets it in the device API. */
static inline H5PREP_HD void h5p_philox_curand_block(uint64_t seed, uint64_t b, uint32_t out[4])
{
    uint64_t pos = b / H5P_PHILOX_CURAND_SUBSEQS;
    uint32_t ctr[4] = {(uint32_t)pos, (uint32_t)(pos >> 32), (uint32_t)(b % H5P_PHILOX_CURAND_SUBSEQS), 0};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    h5p_philox4x32_10(ctr, key, out);
}

#endif
