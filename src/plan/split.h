/* split.h: splits of samples into train/val/test: seeded (units ordered by a 32-bit key from
 * Philox4x32-10, the generator of cuRAND's CURAND_RNG_PSEUDO_PHILOX4_32_10, so every backend and
 * build gives the same split for a seed), or given per sample (by files, row blocks or time). */
#ifndef H5PREP_SPLIT_H
#define H5PREP_SPLIT_H

#include "h5prep.h"
#include "plan/recipe.h"

#include <stddef.h>
#include <stdint.h>

/* Where the keys come from; all give identical keys. */
typedef enum h5p_keygen {
    H5P_KEYS_OWN,         /* the project's Philox4x32-10 (src/philox.h), always available */
    H5P_KEYS_CURAND_HOST, /* cuRAND's host API (curandCreateGeneratorHost); builds with the toolkit */
    H5P_KEYS_BEST         /* cuRAND's host API when built with it, else OWN */
} h5p_keygen;

/* key[i], i < n: output i of cuRAND's host generator CURAND_RNG_PSEUDO_PHILOX4_32_10 seeded with
 * curandSetPseudoRandomGeneratorSeed(seed) at offset 0 (curandGenerate). H5PREP_ERR_BACKEND when
 * `how` is CURAND_HOST and the build has no cuRAND. */
h5prep_status h5p_split_keys(uint64_t seed, uint64_t n, h5p_keygen how, uint32_t *key);
const char *h5p_keygen_name(h5p_keygen how); /* "philox4x32-10 (h5prep)", "cuRAND host API" */

/* The split of n samples. Units are samples, or groups (group_of[i] = group of sample i, groups
 * numbered 0..ngroups-1 in order of first appearance). Units are ordered by (key, unit index);
 * the first round(f0 * units) go to split 0, the next to split 1 (cumulative fractions, rounded
 * half up), the rest to the last split. Inside a split, samples come in that order (a group's
 * samples in input order) when spec->shuffle, else in input order. */
enum { H5P_SPLIT_DROPPED = 0xff }; /* `which` of a sample in no split (outside every range) */

typedef struct h5p_split {
    uint64_t n;
    int nsplits;
    uint64_t count[H5P_MAX_SPLITS]; /* samples per split */
    uint64_t dropped;               /* samples in no split */
    uint8_t *which;                 /* (n,) split of sample i, or H5P_SPLIT_DROPPED */
    uint64_t *dest;                 /* (n,) position of sample i in its split's outputs */
    uint64_t *order[H5P_MAX_SPLITS];/* (count[k],) sample indices of split k in output order */
} h5p_split;

/* key: (units,) from h5p_split_keys; group_of: (n,) or NULL when each sample is its own unit. */
h5prep_status h5p_split_make(const h5p_split_spec *spec, uint64_t n, const uint64_t *group_of,
                             uint64_t ngroups, const uint32_t *key, h5p_split *out);
/* The split of n samples whose split is known: which[i] is a split index or H5P_SPLIT_DROPPED.
 * Inside a split samples come in input order, or, when key is given ((n,) from h5p_split_keys),
 * ordered by (key, sample index). */
h5prep_status h5p_split_assign(const h5p_split_spec *spec, uint64_t n, const uint8_t *which, const uint32_t *key,
                               h5p_split *out);

/* Rows [*r0, *r1) of n for a block [lo, hi) of fractions: r = floor(f * n + 0.5) (rounded half
 * up), so that blocks sharing a bound share its row, and [0, 1] is every row. */
void h5p_split_block(double lo, double hi, uint64_t n, uint64_t *r0, uint64_t *r1);

void h5p_split_free(h5p_split *s);

/* Writes the manifest JSON ("h5prep-split/1"): how the split was made (by; seed, fractions,
 * group_by and generator when seeded; files, ranges or the coordinate otherwise), the samples in
 * no split, and per split its count and indices (output order). Written under a temporary name
 * and renamed. */
h5prep_status h5p_split_write_manifest(const h5p_split *s, const h5p_split_spec *spec, const char *path);

#endif
