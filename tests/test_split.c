/* test_split.c: the split's keys (Philox4x32-10 against Random123's known answers and against
 * cuRAND's host generator), its partition and rounding rules, groups, and the manifest. */
#include "common/philox.h"
#include "plan/split.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef H5PREP_HAVE_CURAND
#include <curand.h>
#endif

/* ---- keys ------------------------------------------------------------------------------ */

/* Random123's tests/kat_vectors, the three philox4x32 10 lines: counter, key, expected. */
Test(split, philox_known_answers)
{
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e,
         0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb,
         0x5001e420, 0x24126ea1},
    };
    for (int v = 0; v < 3; v++) {
        uint32_t out[4];
        h5p_philox4x32_10(kat[v], kat[v] + 4, out);
        for (int j = 0; j < 4; j++)
            cr_expect_eq(out[j], kat[v][6 + j], "vector %d word %d: 0x%08x, expected 0x%08x", v, j, out[j],
                         kat[v][6 + j]);
    }
}

/* Outputs of libcurand's host generator (CUDA 13.0, a fresh generator per seed: setting a seed
 * does not rewind the offset), recorded so that a build without cuRAND checks the layout too:
 * blocks 0, 1, 65535 and 65536 (the second pass over the subsequences). */
Test(split, own_keys_match_recorded_curand_outputs)
{
    static const struct {
        uint64_t seed;
        uint64_t i[8];
        uint32_t want[8];
    } rec[] = {
        {42,
         {0, 3, 4, 7, 262143, 262144, 262147, 1000002},
         {0x9ceaf053, 0x5742b3d7, 0x02933769, 0xb62c409c, 0x6ff67ed4, 0xfcdb2127, 0x744e06fb, 0x8811a3b9}},
        {UINT64_MAX,
         {0, 3, 4, 7, 262143, 262144, 262147, 1000002},
         {0x72a47709, 0x22799a5a, 0xa74236ed, 0x4212cad6, 0x0631204b, 0x19fed511, 0x9fe857b4, 0x64195878}},
    };
    enum { N = 1000003 };
    uint32_t *key = malloc(N * sizeof *key);
    cr_assert(key);
    for (size_t r = 0; r < sizeof rec / sizeof *rec; r++) {
        cr_assert_eq(h5p_split_keys(rec[r].seed, N, H5P_KEYS_OWN, key), H5PREP_OK, "%s", h5prep_last_error());
        for (int j = 0; j < 8; j++)
            cr_expect_eq(key[rec[r].i[j]], rec[r].want[j], "seed %llu key[%llu] = 0x%08x, cuRAND gave 0x%08x",
                         (unsigned long long)rec[r].seed, (unsigned long long)rec[r].i[j], key[rec[r].i[j]],
                         rec[r].want[j]);
    }
    /* seed 0, block 0 is Philox of all zeros */
    cr_assert_eq(h5p_split_keys(0, 4, H5P_KEYS_OWN, key), H5PREP_OK);
    cr_expect(key[0] == 0x6627e8d5 && key[1] == 0xe169c58d && key[2] == 0xbc57ac4c && key[3] == 0x9b00dbd8);
    free(key);
}

/* A key buffer with a guard word after n keys that must stay untouched. */
static uint32_t *keys_of(uint64_t seed, uint64_t n, h5p_keygen how)
{
    uint32_t *k = malloc((n + 1) * sizeof *k);
    cr_assert(k);
    k[n] = 0xdeadbeef;
    cr_assert_eq(h5p_split_keys(seed, n, how, k), H5PREP_OK, "%s: %s", h5p_keygen_name(how), h5prep_last_error());
    cr_assert_eq(k[n], 0xdeadbeef, "%s wrote past %llu keys", h5p_keygen_name(how), (unsigned long long)n);
    return k;
}

#ifdef H5PREP_HAVE_CURAND
Test(split, own_keys_equal_curand_host_bit_for_bit)
{
    static const uint64_t seeds[] = {0, 1, 42, ((uint64_t)1 << 32) + 5, UINT64_MAX};
    static const uint64_t ns[] = {0, 1, 3, 4, 5, 1000003};
    for (size_t s = 0; s < sizeof seeds / sizeof *seeds; s++)
        for (size_t j = 0; j < sizeof ns / sizeof *ns; j++) {
            uint64_t n = ns[j];
            uint32_t *own = keys_of(seeds[s], n, H5P_KEYS_OWN), *cu = keys_of(seeds[s], n, H5P_KEYS_CURAND_HOST);
            uint32_t *best = keys_of(seeds[s], n, H5P_KEYS_BEST);
            /* and straight from cuRAND, not through h5p_split_keys */
            uint32_t *raw = malloc((n + 1) * sizeof *raw);
            curandGenerator_t g;
            cr_assert_eq(curandCreateGeneratorHost(&g, CURAND_RNG_PSEUDO_PHILOX4_32_10), CURAND_STATUS_SUCCESS);
            cr_assert_eq(curandSetPseudoRandomGeneratorSeed(g, seeds[s]), CURAND_STATUS_SUCCESS);
            if (n > 0)
                cr_assert_eq(curandGenerate(g, raw, n), CURAND_STATUS_SUCCESS);
            curandDestroyGenerator(g);
            for (uint64_t i = 0; i < n; i++)
                if (own[i] != raw[i] || cu[i] != raw[i] || best[i] != raw[i])
                    cr_assert_fail("seed %llu n %llu key %llu: own 0x%08x, CURAND_HOST 0x%08x, BEST 0x%08x, "
                                   "cuRAND 0x%08x",
                                   (unsigned long long)seeds[s], (unsigned long long)n, (unsigned long long)i, own[i],
                                   cu[i], best[i], raw[i]);
            free(own), free(cu), free(best), free(raw);
        }
    cr_expect_str_eq(h5p_keygen_name(H5P_KEYS_BEST), "cuRAND host API");
}

/* The CUDA backend's keys: the philox_keys kernel's body with cuRAND's device API, run on the
 * host (tests/curand_devapi.cu), against the host API; n spans several rounds of the 65536
 * subsequences. */
void h5p_test_device_api_keys(unsigned long long seed, unsigned long long n, unsigned int *keys);
Test(split, curand_device_api_keys_equal_host_api)
{
    static const uint64_t seeds[] = {0, 42, UINT64_MAX};
    static const uint64_t ns[] = {1, 5, 262147, 600001};
    for (size_t s = 0; s < sizeof seeds / sizeof *seeds; s++)
        for (size_t j = 0; j < sizeof ns / sizeof *ns; j++) {
            uint64_t n = ns[j];
            uint32_t *host = keys_of(seeds[s], n, H5P_KEYS_CURAND_HOST), *dev = malloc((n + 1) * sizeof *dev);
            cr_assert_not_null(dev);
            dev[n] = 0xdeadbeef;
            h5p_test_device_api_keys(seeds[s], n, dev);
            cr_assert_eq(dev[n], 0xdeadbeef, "the device API path wrote past %llu keys", (unsigned long long)n);
            for (uint64_t i = 0; i < n; i++)
                if (dev[i] != host[i])
                    cr_assert_fail("seed %llu n %llu key %llu: device API 0x%08x, host API 0x%08x", (unsigned long long)seeds[s],
                                   (unsigned long long)n, (unsigned long long)i, dev[i], host[i]);
            free(host), free(dev);
        }
}
#else
Test(split, curand_host_keys_need_curand)
{
    uint32_t k[4];
    cr_expect_eq(h5p_split_keys(1, 4, H5P_KEYS_CURAND_HOST, k), H5PREP_ERR_BACKEND);
    cr_expect(strstr(h5prep_last_error(), "no cuRAND"), "%s", h5prep_last_error());
    uint32_t *best = keys_of(1, 5, H5P_KEYS_BEST), *own = keys_of(1, 5, H5P_KEYS_OWN);
    cr_expect_arr_eq(best, own, 5 * sizeof *own);
    free(best), free(own);
    cr_expect_str_eq(h5p_keygen_name(H5P_KEYS_BEST), "philox4x32-10 (h5prep)");
}
#endif

Test(split, keys_reject_a_missing_buffer_and_an_unknown_generator)
{
    cr_expect_eq(h5p_split_keys(1, 3, H5P_KEYS_OWN, NULL), H5PREP_ERR_USAGE);
    cr_expect_eq(h5p_split_keys(1, 0, H5P_KEYS_OWN, NULL), H5PREP_OK);
    uint32_t k[1];
    cr_expect_eq(h5p_split_keys(1, 1, (h5p_keygen)7, k), H5PREP_ERR_USAGE);
    cr_expect(strstr(h5prep_last_error(), "unknown key generator 7"), "%s", h5prep_last_error());
}

/* ---- the split ------------------------------------------------------------------------- */

static h5p_split_spec spec_of(int nsplits, const double *fractions, uint64_t seed, int shuffle)
{
    static char *names[H5P_MAX_SPLITS] = {"train", "val", "test", "d", "e", "f", "g", "h"};
    h5p_split_spec s;
    memset(&s, 0, sizeof s);
    s.nsplits = nsplits;
    for (int k = 0; k < nsplits; k++)
        s.names[k] = names[k], s.fractions[k] = fractions[k];
    s.seed = seed;
    s.shuffle = shuffle;
    s.group_by = H5P_GROUP_NONE;
    return s;
}

/* Every sample exactly once; which, dest and order agree; counts add up. */
static void check_partition(const h5p_split *s, uint64_t n)
{
    cr_assert_eq(s->n, n);
    uint64_t total = 0;
    for (int k = 0; k < s->nsplits; k++) {
        total += s->count[k];
        for (uint64_t j = 0; j < s->count[k]; j++) {
            uint64_t i = s->order[k][j];
            cr_assert_lt(i, n, "split %d position %llu holds sample %llu of %llu", k, (unsigned long long)j,
                         (unsigned long long)i, (unsigned long long)n);
            cr_assert(s->which[i] == k && s->dest[i] == j, "sample %llu: which %d dest %llu, found in split %d at %llu",
                      (unsigned long long)i, s->which[i], (unsigned long long)s->dest[i], k, (unsigned long long)j);
        }
    }
    cr_assert_eq(total, n, "counts add up to %llu of %llu samples", (unsigned long long)total, (unsigned long long)n);
}

static h5p_split split_of(const h5p_split_spec *spec, uint64_t n, const uint64_t *group_of, uint64_t ngroups)
{
    uint64_t units = group_of ? ngroups : n;
    uint32_t *key = keys_of(spec->seed, units, H5P_KEYS_OWN);
    h5p_split s;
    cr_assert_eq(h5p_split_make(spec, n, group_of, ngroups, key, &s), H5PREP_OK, "%s", h5prep_last_error());
    free(key);
    check_partition(&s, n);
    return s;
}

Test(split, every_sample_exactly_once)
{
    static const uint64_t ns[] = {1, 2, 3, 31, 32, 33, 1000, 100003};
    const double f[3] = {0.7, 0.2, 0.1};
    for (size_t j = 0; j < sizeof ns / sizeof *ns; j++)
        for (int shuffle = 0; shuffle < 2; shuffle++) {
            h5p_split_spec spec = spec_of(3, f, 9 + j, shuffle);
            h5p_split s = split_of(&spec, ns[j], NULL, 0);
            h5p_split_free(&s);
        }
}

/* Counts worked out by hand: cumulative fraction times n, rounded half up. */
Test(split, counts_are_rounded_cumulative_fractions)
{
    static const struct {
        int nsplits;
        double f[3];
        uint64_t n, want[3];
    } cases[] = {
        {3, {0.8, 0.1, 0.1}, 10, {8, 1, 1}},
        {2, {0.5, 0.5}, 3, {2, 1, 0}},          /* 1.5 rounds up */
        {2, {0.5, 0.5}, 1, {1, 0, 0}},          /* 0.5 rounds up */
        {3, {1.0 / 3, 1.0 / 3, 1.0 / 3}, 7, {2, 3, 2}}, /* 2.33 -> 2, 4.67 -> 5 */
        {3, {0.1, 0.2, 0.7}, 5, {1, 1, 3}},     /* 0.5 -> 1, 1.5 -> 2 */
        {3, {0.8, 0.1, 0.1}, 1000, {800, 100, 100}},
        {3, {0.8, 0.1, 0.1}, 999, {799, 100, 100}}, /* 799.2 -> 799, 899.1 -> 899 */
        {3, {0.8, 0.1, 0.1}, 0, {0, 0, 0}},
        {1, {1.0}, 17, {17, 0, 0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        h5p_split_spec spec = spec_of(cases[c].nsplits, cases[c].f, 3, 1);
        h5p_split s = split_of(&spec, cases[c].n, NULL, 0);
        cr_expect_eq(s.nsplits, cases[c].nsplits);
        for (int k = 0; k < cases[c].nsplits; k++)
            cr_expect_eq(s.count[k], cases[c].want[k], "case %zu split %d: %llu samples, expected %llu", c, k,
                         (unsigned long long)s.count[k], (unsigned long long)cases[c].want[k]);
        h5p_split_free(&s);
    }
}

Test(split, fractions_with_a_zero_entry)
{
    const double a[3] = {0.9, 0, 0.1}, b[2] = {0, 1}, c[2] = {1, 0};
    h5p_split_spec spec = spec_of(3, a, 5, 1);
    h5p_split s = split_of(&spec, 101, NULL, 0);
    cr_expect(s.count[0] == 91 && s.count[1] == 0 && s.count[2] == 10, "%llu %llu %llu",
              (unsigned long long)s.count[0], (unsigned long long)s.count[1], (unsigned long long)s.count[2]);
    h5p_split_free(&s);
    spec = spec_of(2, b, 5, 1);
    s = split_of(&spec, 101, NULL, 0);
    cr_expect(s.count[0] == 0 && s.count[1] == 101);
    h5p_split_free(&s);
    spec = spec_of(2, c, 5, 1);
    s = split_of(&spec, 101, NULL, 0);
    cr_expect(s.count[0] == 101 && s.count[1] == 0);
    h5p_split_free(&s);
}

Test(split, no_samples)
{
    const double f[3] = {0.8, 0.1, 0.1};
    h5p_split_spec spec = spec_of(3, f, 1, 1);
    h5p_split s;
    cr_assert_eq(h5p_split_make(&spec, 0, NULL, 0, NULL, &s), H5PREP_OK, "%s", h5prep_last_error());
    cr_expect(s.n == 0 && s.nsplits == 3 && s.count[0] == 0 && s.count[1] == 0 && s.count[2] == 0);
    h5p_split_free(&s);
    uint64_t none = 0;
    cr_assert_eq(h5p_split_make(&spec, 0, &none, 0, NULL, &s), H5PREP_OK, "%s", h5prep_last_error());
    h5p_split_free(&s);
    h5p_split_free(NULL);
}

/* Units are ordered by (key, index): given keys with ties and a descending run. */
Test(split, order_is_by_key_then_index)
{
    const double f[2] = {0.5, 0.5};
    h5p_split_spec spec = spec_of(2, f, 0, 1);
    /* sample:           0  1  2  3  4  5  6  7 */
    const uint32_t key[8] = {7, 3, 7, 0xffffffffu, 3, 0, 7, 0x100};
    /* by (key, index): 5(0) 1(3) 4(3) 0(7) 2(7) 6(7) 7(0x100) 3(max) */
    const uint64_t want0[4] = {5, 1, 4, 0}, want1[4] = {2, 6, 7, 3};
    h5p_split s;
    cr_assert_eq(h5p_split_make(&spec, 8, NULL, 0, key, &s), H5PREP_OK, "%s", h5prep_last_error());
    check_partition(&s, 8);
    cr_assert(s.count[0] == 4 && s.count[1] == 4);
    cr_expect_arr_eq(s.order[0], want0, sizeof want0);
    cr_expect_arr_eq(s.order[1], want1, sizeof want1);
    h5p_split_free(&s);

    /* the same split without shuffle: the same members in input order */
    spec.shuffle = 0;
    const uint64_t in0[4] = {0, 1, 4, 5}, in1[4] = {2, 3, 6, 7};
    cr_assert_eq(h5p_split_make(&spec, 8, NULL, 0, key, &s), H5PREP_OK, "%s", h5prep_last_error());
    cr_expect_arr_eq(s.order[0], in0, sizeof in0);
    cr_expect_arr_eq(s.order[1], in1, sizeof in1);
    h5p_split_free(&s);

    /* keys spanning every byte of the word, equal keys in a long run: a sort checked pair by pair */
    enum { N = 70000 };
    uint32_t *k = malloc(N * sizeof *k);
    for (uint32_t i = 0; i < N; i++)
        k[i] = i % 3 == 0 ? 0x12345678u : (i * 2654435761u) ^ (i << 7);
    const double one[1] = {1.0};
    spec = spec_of(1, one, 0, 1);
    cr_assert_eq(h5p_split_make(&spec, N, NULL, 0, k, &s), H5PREP_OK, "%s", h5prep_last_error());
    for (uint64_t j = 1; j < N; j++) {
        uint64_t a = s.order[0][j - 1], b = s.order[0][j];
        cr_assert(k[a] < k[b] || (k[a] == k[b] && a < b),
                  "position %llu: sample %llu (key 0x%08x) before %llu (0x%08x)", (unsigned long long)j, (unsigned long long)a, k[a], (unsigned long long)b, k[b]);
    }
    h5p_split_free(&s);
    free(k);
}

Test(split, same_seed_same_split_other_seed_other_split)
{
    const double f[3] = {0.8, 0.1, 0.1};
    h5p_split_spec spec = spec_of(3, f, 42, 1);
    h5p_split a = split_of(&spec, 5000, NULL, 0), b = split_of(&spec, 5000, NULL, 0);
    spec.seed = 43;
    h5p_split c = split_of(&spec, 5000, NULL, 0);
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(a.count[k], b.count[k]);
        cr_expect_arr_eq(a.order[k], b.order[k], a.count[k] * sizeof *a.order[k]);
        cr_assert_eq(a.count[k], c.count[k]);
    }
    uint64_t same = 0;
    for (uint64_t i = 0; i < 5000; i++)
        same += a.which[i] == c.which[i];
    /* independent splits agree on about 0.8^2 + 2 * 0.1^2 = 66% of the samples */
    cr_expect(same > 3000 && same < 3600, "seeds 42 and 43 put %llu of 5000 samples in the same split",
              (unsigned long long)same);
    h5p_split_free(&a), h5p_split_free(&b), h5p_split_free(&c);
}

Test(split, without_shuffle_each_split_is_in_input_order)
{
    const double f[3] = {0.6, 0.3, 0.1};
    h5p_split_spec spec = spec_of(3, f, 7, 1);
    h5p_split sh = split_of(&spec, 10007, NULL, 0);
    spec.shuffle = 0;
    h5p_split in = split_of(&spec, 10007, NULL, 0);
    int shuffled = 0;
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(sh.count[k], in.count[k]);
        for (uint64_t j = 1; j < in.count[k]; j++) {
            cr_assert_lt(in.order[k][j - 1], in.order[k][j], "split %d position %llu", k, (unsigned long long)j);
            shuffled |= sh.order[k][j - 1] > sh.order[k][j];
        }
    }
    cr_expect_arr_eq(sh.which, in.which, 10007, "shuffle changes the order, not the members");
    cr_expect(shuffled, "with shuffle some split is out of input order");
    h5p_split_free(&sh), h5p_split_free(&in);
}

/* Groups go whole into one split; their samples follow each other in input order when shuffled. */
static void check_groups_whole(const h5p_split *s, const uint64_t *group_of, uint64_t n, uint64_t ngroups, int shuffle)
{
    int *seen = calloc(ngroups, sizeof *seen);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t g = group_of[i];
        if (!seen[g])
            seen[g] = 1 + s->which[i];
        cr_assert_eq(s->which[i], seen[g] - 1, "sample %llu of group %llu is in split %d, the group's first in %d",
                     (unsigned long long)i, (unsigned long long)g, s->which[i], seen[g] - 1);
    }
    for (int k = 0; k < s->nsplits; k++)
        for (uint64_t j = 1; j < s->count[k]; j++) {
            uint64_t a = s->order[k][j - 1], b = s->order[k][j];
            if (shuffle && group_of[a] == group_of[b])
                cr_assert_lt(a, b, "group %llu out of input order", (unsigned long long)group_of[a]);
            if (!shuffle)
                cr_assert_lt(a, b);
        }
    if (shuffle) /* each group one contiguous run: count the runs */
        for (int k = 0; k < s->nsplits; k++) {
            uint64_t runs = 0, groups = 0;
            for (uint64_t j = 0; j < s->count[k]; j++)
                runs += j == 0 || group_of[s->order[k][j]] != group_of[s->order[k][j - 1]];
            for (uint64_t g = 0; g < ngroups; g++)
                groups += seen[g] == k + 1;
            cr_assert_eq(runs, groups, "split %d: %llu runs for %llu groups", k, (unsigned long long)runs,
                         (unsigned long long)groups);
        }
    free(seen);
}

Test(split, groups_stay_whole)
{
    enum { N = 1000 };
    uint64_t rows[N], inter[N];
    for (uint64_t i = 0; i < N; i++)
        rows[i] = i / 7, inter[i] = i % 3; /* blocks of 7 rows; three interleaved "files" */
    const double f[3] = {0.8, 0.1, 0.1};
    for (int shuffle = 0; shuffle < 2; shuffle++) {
        h5p_split_spec spec = spec_of(3, f, 11, shuffle);
        spec.group_by = H5P_GROUP_ROWS;
        spec.group_rows = 7;
        h5p_split s = split_of(&spec, N, rows, 143);
        check_groups_whole(&s, rows, N, 143, shuffle);
        /* 143 groups: round(114.4) = 114 to train, round(128.7) - 114 = 15 to val, 14 to test; the
         * last group holds 6 rows */
        uint64_t groups[3] = {0};
        for (uint64_t g = 0; g < 143; g++)
            groups[s.which[g * 7]]++;
        cr_expect(groups[0] == 114 && groups[1] == 15 && groups[2] == 14, "%llu %llu %llu groups",
                  (unsigned long long)groups[0], (unsigned long long)groups[1], (unsigned long long)groups[2]);
        uint64_t rows_in_0 = 7 * groups[0] - (s.which[999] == 0);
        cr_expect_eq(s.count[0], rows_in_0);
        h5p_split_free(&s);

        spec.group_by = H5P_GROUP_FILE;
        s = split_of(&spec, N, inter, 3);
        check_groups_whole(&s, inter, N, 3, shuffle);
        h5p_split_free(&s);
    }
}

Test(split, bad_input_is_refused)
{
    const double f[3] = {0.8, 0.1, 0.1}, short_sum[2] = {0.5, 0.4}, neg[2] = {1.5, -0.5};
    uint32_t key[4] = {1, 2, 3, 4};
    h5p_split s;
    h5p_split_spec spec = spec_of(2, short_sum, 1, 1);
    cr_expect_eq(h5p_split_make(&spec, 4, NULL, 0, key, &s), H5PREP_ERR_USAGE);
    cr_expect(strstr(h5prep_last_error(), "sum to 0.9"), "%s", h5prep_last_error());
    spec = spec_of(2, neg, 1, 1);
    cr_expect_eq(h5p_split_make(&spec, 4, NULL, 0, key, &s), H5PREP_ERR_USAGE);
    cr_expect(strstr(h5prep_last_error(), "'train' is 1.5"), "%s", h5prep_last_error());
    spec = spec_of(3, f, 1, 1);
    spec.nsplits = 0;
    cr_expect_eq(h5p_split_make(&spec, 4, NULL, 0, key, &s), H5PREP_ERR_USAGE);
    spec.nsplits = H5P_MAX_SPLITS + 1;
    cr_expect_eq(h5p_split_make(&spec, 4, NULL, 0, key, &s), H5PREP_ERR_USAGE);
    spec = spec_of(3, f, 1, 1);
    cr_expect_eq(h5p_split_make(&spec, 4, NULL, 0, NULL, &s), H5PREP_ERR_USAGE);
    cr_expect_eq(h5p_split_make(NULL, 4, NULL, 0, key, &s), H5PREP_ERR_USAGE);

    const uint64_t skip[4] = {0, 2, 1, 1}, ok[4] = {0, 1, 0, 1};
    cr_expect_eq(h5p_split_make(&spec, 4, skip, 3, key, &s), H5PREP_ERR_USAGE);
    cr_expect(strstr(h5prep_last_error(), "sample 1 is in group 2"), "%s", h5prep_last_error());
    cr_expect_eq(h5p_split_make(&spec, 4, ok, 3, key, &s), H5PREP_ERR_USAGE);
    cr_expect(strstr(h5prep_last_error(), "3 groups given, but the samples use 2"), "%s", h5prep_last_error());
    cr_expect_eq(h5p_split_make(&spec, 4, ok, 2, key, &s), H5PREP_OK, "%s", h5prep_last_error());
    check_partition(&s, 4);
    h5p_split_free(&s);
}

/* ---- splits given per sample ------------------------------------------------------------ */

Test(split, blocks_round_half_up_and_tile_the_rows)
{
    uint64_t r0, r1;
    h5p_split_block(0, 0.8, 37, &r0, &r1);
    cr_expect(r0 == 0 && r1 == 30, "[0, 0.8] of 37: [%llu, %llu), want [0, 30) (29.6 rounds up)", (unsigned long long)r0,
              (unsigned long long)r1);
    h5p_split_block(0.8, 0.9, 37, &r0, &r1);
    cr_expect(r0 == 30 && r1 == 33, "[0.8, 0.9] of 37: [%llu, %llu), want [30, 33)", (unsigned long long)r0,
              (unsigned long long)r1);
    h5p_split_block(0.5, 0.6, 37, &r0, &r1);
    cr_expect(r0 == 19 && r1 == 22, "18.5 rounds up to 19, 22.2 down to 22: [%llu, %llu)", (unsigned long long)r0,
              (unsigned long long)r1);
    h5p_split_block(0, 1, 0, &r0, &r1);
    cr_expect(r0 == 0 && r1 == 0);
    for (uint64_t n = 0; n < 300; n++) { /* blocks sharing a bound share its row: [0, 1] cut in 7 is every row once */
        uint64_t end = 0;
        for (int k = 0; k < 7; k++) {
            h5p_split_block(k / 7.0, (k + 1) / 7.0, n, &r0, &r1);
            cr_assert(r0 == end && r1 >= r0, "n %llu block %d: [%llu, %llu) after %llu", (unsigned long long)n, k,
                      (unsigned long long)r0, (unsigned long long)r1, (unsigned long long)end);
            end = r1;
        }
        cr_assert_eq(end, n);
    }
}

/* (key, sample) pairs for ordering a split's samples as the shuffle must. */
static int by_key_then_index(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

Test(split, assigned_samples_in_input_order_or_by_key)
{
    enum { M = 500 };
    h5p_split_spec spec = spec_of(3, (const double[]){0, 0, 0}, 7, 0);
    spec.by = H5P_SPLIT_FILES;
    uint8_t which[M];
    for (int i = 0; i < M; i++)
        which[i] = i % 5 == 4 ? H5P_SPLIT_DROPPED : (uint8_t)(i * 7 % 11 % 3);
    uint32_t *key = keys_of(7, M, H5P_KEYS_OWN);
    for (int shuffle = 0; shuffle < 2; shuffle++) {
        h5p_split s;
        cr_assert_eq(h5p_split_assign(&spec, M, which, shuffle ? key : NULL, &s), H5PREP_OK, "%s", h5prep_last_error());
        cr_assert_eq(s.dropped, M / 5);
        for (int k = 0; k < 3; k++) {
            uint64_t want[M], m = 0;
            for (int i = 0; i < M; i++)
                if (which[i] == k)
                    want[m++] = shuffle ? (uint64_t)key[i] << 32 | (uint64_t)i : (uint64_t)i;
            if (shuffle)
                qsort(want, m, sizeof *want, by_key_then_index);
            cr_assert_eq(s.count[k], m);
            for (uint64_t j = 0; j < m; j++) {
                uint64_t i = want[j] & 0xffffffffu;
                cr_assert_eq(s.order[k][j], i, "shuffle %d split %d position %llu", shuffle, k, (unsigned long long)j);
                cr_assert(s.which[i] == k && s.dest[i] == j);
            }
        }
        h5p_split_free(&s);
    }
    free(key);
}

Test(split, assignments_and_ranges_are_checked)
{
    h5p_split_spec spec = spec_of(2, (const double[]){0, 0}, 0, 0);
    spec.by = H5P_SPLIT_ROWS;
    spec.lo[0] = 0, spec.hi[0] = 0.6, spec.lo[1] = 0.5, spec.hi[1] = 1;
    uint8_t which[4] = {0, 0, 1, 1};
    h5p_split s;
    cr_expect_eq(h5p_split_assign(&spec, 4, which, NULL, &s), H5PREP_ERR_USAGE);
    cr_expect(strstr(h5prep_last_error(), "'train' [0, 0.6] and 'val' [0.5, 1] overlap"), "%s", h5prep_last_error());
    spec.lo[1] = 0.6, spec.hi[1] = 1.5;
    cr_expect_eq(h5p_split_assign(&spec, 4, which, NULL, &s), H5PREP_ERR_USAGE);
    cr_expect(strstr(h5prep_last_error(), "fractions of the rows in [0, 1]"), "%s", h5prep_last_error());
    spec.hi[1] = 1;
    which[3] = 2;
    cr_expect_eq(h5p_split_assign(&spec, 4, which, NULL, &s), H5PREP_ERR_USAGE);
    cr_expect(strstr(h5prep_last_error(), "sample 3 is assigned to split 2 of 2"), "%s", h5prep_last_error());
    uint32_t key[4] = {0};
    cr_expect_eq(h5p_split_make(&spec, 4, NULL, 0, key, &s), H5PREP_ERR_USAGE, "fractions cannot make a split by rows");
    spec.by = H5P_SPLIT_TIME;
    spec.lo[1] = 0.6, spec.hi[1] = 0.6;
    cr_expect_eq(h5p_split_assign(&spec, 4, which, NULL, &s), H5PREP_ERR_USAGE);
    cr_expect(strstr(h5prep_last_error(), "expected start < end"), "%s", h5prep_last_error());
}

/* ---- the manifest ---------------------------------------------------------------------- */

static json_t *load_manifest(const char *path)
{
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    cr_assert(doc, "%s:%d: %s", path, err.line, err.text);
    return doc;
}

static void check_manifest_splits(json_t *doc, const h5p_split *s, const h5p_split_spec *spec)
{
    json_t *splits = json_object_get(doc, "splits");
    cr_assert_eq(json_object_size(splits), (size_t)s->nsplits);
    const char *name;
    json_t *val;
    int k = 0;
    json_object_foreach(splits, name, val) { /* in the order written, the spec's order */
        cr_assert_str_eq(name, spec->names[k]);
        cr_assert_eq(json_integer_value(json_object_get(val, "count")), (json_int_t)s->count[k]);
        json_t *idx = json_object_get(val, "indices");
        cr_assert_eq(json_array_size(idx), s->count[k]);
        for (uint64_t j = 0; j < s->count[k]; j++)
            cr_assert_eq(json_integer_value(json_array_get(idx, j)), (json_int_t)s->order[k][j],
                         "split %s index %llu", name, (unsigned long long)j);
        k++;
    }
}

Test(split, manifest_reads_back)
{
    const double f[3] = {0.8, 0.15, 0.05};
    h5p_split_spec spec = spec_of(3, f, 42, 1);
    h5p_split s = split_of(&spec, 2003, NULL, 0);
    const char *path = tu_path("split.json");
    cr_assert_eq(h5p_split_write_manifest(&s, &spec, path), H5PREP_OK, "%s", h5prep_last_error());
    cr_expect(!tu_any_temporary(tu_dir()), "the temporary file was left behind");

    json_t *doc = load_manifest(path);
    cr_expect_str_eq(json_string_value(json_object_get(doc, "format")), "h5prep-split/1");
    cr_expect_str_eq(json_string_value(json_object_get(doc, "by")), "fractions");
    cr_expect_eq(json_integer_value(json_object_get(doc, "dropped")), 0);
    cr_expect_eq(json_integer_value(json_object_get(doc, "seed")), 42);
    cr_expect_str_eq(json_string_value(json_object_get(doc, "generator")), "philox4x32-10");
    cr_expect_str_eq(json_string_value(json_object_get(doc, "group_by")), "none");
    cr_expect(json_is_true(json_object_get(doc, "shuffle")));
    cr_expect_eq(json_integer_value(json_object_get(doc, "n")), 2003);
    json_t *fr = json_object_get(doc, "fractions");
    for (int k = 0; k < 3; k++)
        cr_expect_eq(json_number_value(json_object_get(fr, spec.names[k])), f[k], "fraction of %s", spec.names[k]);
    check_manifest_splits(doc, &s, &spec);
    json_decref(doc);

    /* short: the index lists are one line each */
    FILE *fp = fopen(path, "r");
    int lines = 0, c;
    while ((c = fgetc(fp)) != EOF)
        lines += c == '\n';
    fclose(fp);
    cr_expect_eq(lines, 16, "%d lines", lines);
    h5p_split_free(&s);
}

Test(split, manifest_of_groups_odd_names_and_no_samples)
{
    enum { N = 50 };
    uint64_t g[N];
    for (int i = 0; i < N; i++)
        g[i] = (uint64_t)i / 4;
    const double f[2] = {1.0 / 3, 2.0 / 3};
    h5p_split_spec spec = spec_of(2, f, UINT64_MAX, 0);
    char odd[] = "v\"al\\ \xc3\xa9";
    spec.names[1] = odd;
    spec.group_by = H5P_GROUP_ROWS;
    spec.group_rows = 4;
    h5p_split s = split_of(&spec, N, g, 13);
    const char *path = tu_path("groups.json");
    cr_assert_eq(h5p_split_write_manifest(&s, &spec, path), H5PREP_OK, "%s", h5prep_last_error());
    json_t *doc = load_manifest(path);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(doc, "group_by"), "rows")), 4);
    cr_expect(json_is_false(json_object_get(doc, "shuffle")));
    json_t *fr = json_object_get(doc, "fractions");
    cr_expect_eq(json_number_value(json_object_get(fr, "train")), 1.0 / 3, "1/3 reads back exactly");
    cr_expect_eq(json_number_value(json_object_get(fr, odd)), 2.0 / 3);
    check_manifest_splits(doc, &s, &spec);
    /* past json_int_t's range the seed is its decimal text */
    cr_expect_str_eq(json_string_value(json_object_get(doc, "seed")), "18446744073709551615");
    json_decref(doc);
    h5p_split_free(&s);

    spec.group_by = H5P_GROUP_FILE;
    spec.names[1] = "val";
    s = split_of(&spec, 0, NULL, 0);
    path = tu_path("empty.json");
    cr_assert_eq(h5p_split_write_manifest(&s, &spec, path), H5PREP_OK, "%s", h5prep_last_error());
    doc = load_manifest(path);
    cr_expect_str_eq(json_string_value(json_object_get(doc, "group_by")), "file");
    cr_expect_eq(json_integer_value(json_object_get(doc, "n")), 0);
    check_manifest_splits(doc, &s, &spec);
    json_decref(doc);
    h5p_split_free(&s);
}

Test(split, manifest_errors)
{
    const double f[2] = {0.5, 0.5};
    h5p_split_spec spec = spec_of(2, f, 1, 1);
    h5p_split s = split_of(&spec, 10, NULL, 0);
    const char *path = tu_path("no/such/dir/split.json");
    cr_expect_eq(h5p_split_write_manifest(&s, &spec, path), H5PREP_ERR_OUTPUT);
    cr_expect(strstr(h5prep_last_error(), "no/such/dir/split.json: cannot create the output"), "%s",
              h5prep_last_error());
    char bad[] = "v\xff";
    spec.names[1] = bad;
    cr_expect_eq(h5p_split_write_manifest(&s, &spec, tu_path("bad.json")), H5PREP_ERR_USAGE);
    cr_expect(strstr(h5prep_last_error(), "not UTF-8"), "%s", h5prep_last_error());
    cr_expect(!tu_exists(tu_path("bad.json")));
    spec.names[1] = "val";
    spec.nsplits = 3;
    spec.fractions[2] = 0;
    cr_expect_eq(h5p_split_write_manifest(&s, &spec, tu_path("bad.json")), H5PREP_ERR_USAGE);
    h5p_split_free(&s);
}
