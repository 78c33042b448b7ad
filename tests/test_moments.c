/* test_moments.c: the statistics kernel and the Chan merge against the float64 reference:
 * sizes that break kernels, every merge order, and numerically hostile values. */
#include "backends/cpu/cpu.h"
#include "common/moments.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static const size_t sizes[] = {0, 1, 2, 31, 32, 33, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025, 8191, 8193, 100003};

/* One column of n values through the CPU kernel, split into pieces at random cut points and
 * merged in a random order, must match the two-pass reference. */
Test(moments, any_split_any_order_matches_reference)
{
    uint64_t seed = 12345;
    double scratch[6 * 4];
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k];
        double *x = malloc((n + 1) * sizeof *x);
        for (size_t i = 0; i < n; i++)
            x[i] = 1e3 + 10 * tu_normal(&seed);
        h5prep_moments want;
        tu_reference(x, n, 1, 1, &want);
        for (int trial = 0; trial < 8; trial++) {
            enum { MAXP = 16 };
            h5prep_moments parts[MAXP];
            size_t cuts[MAXP + 1] = {0};
            int np = 1 + (int)(next(&seed) % MAXP);
            for (int p = 1; p < np; p++)
                cuts[p] = (size_t)(next(&seed) % (n + 1));
            cuts[np] = n;
            for (int p = 2; p < np; p++) /* insertion sort: cut points ascending */
                for (int q = p; q > 1 && cuts[q - 1] > cuts[q]; q--) {
                    size_t t = cuts[q];
                    cuts[q] = cuts[q - 1];
                    cuts[q - 1] = t;
                }
            h5p_states acc;
            cr_assert_eq(h5p_states_init(&acc, 1), 0);
            for (int p = 0; p < np; p++) {
                h5p_states_reset(&acc, 1);
                h5p_cpu_block_stats(&h5p_cpu_kernels_generic, x + cuts[p], cuts[p + 1] - cuts[p], 1, scratch, &acc, 0);
                parts[p] = h5p_states_get(&acc, 0);
            }
            h5p_states_free(&acc);
            for (int p = np - 1; p > 0; p--) { /* shuffle, then merge left to right */
                int q = (int)(next(&seed) % (uint64_t)(p + 1));
                h5prep_moments t = parts[p];
                parts[p] = parts[q];
                parts[q] = t;
            }
            h5prep_moments got = h5p_moments_empty();
            for (int p = 0; p < np; p++)
                h5p_moments_merge(&got, &parts[p]);
            tu_compare(&got, &want, 1, 1e-12);
        }
        free(x);
    }
}

Test(moments, block_columns_with_missing_values)
{
    uint64_t seed = 7;
    for (size_t F = 1; F <= 40; F += 13) {
        size_t rows = 301;
        double *x = malloc(rows * F * sizeof *x), *scratch = malloc(6 * F * sizeof *scratch);
        for (size_t i = 0; i < rows * F; i++)
            x[i] = i % 17 == 3 ? NAN : -5 + tu_normal(&seed);
        h5prep_moments *got = malloc(F * sizeof *got), *want = malloc(F * sizeof *want);
        h5p_states acc;
        cr_assert_eq(h5p_states_init(&acc, F), 0);
        /* two blocks of rows merged into the same accumulators */
        h5p_cpu_block_stats(&h5p_cpu_kernels_generic, x, rows / 3, F, scratch, &acc, 0);
        h5p_cpu_block_stats(&h5p_cpu_kernels_generic, x + rows / 3 * F, rows - rows / 3, F, scratch, &acc, 0);
        for (size_t f = 0; f < F; f++)
            got[f] = h5p_states_get(&acc, f);
        tu_reference(x, rows, F, 1, want);
        tu_compare(got, want, F, 1e-13);
        h5p_states_free(&acc);
        free(x), free(scratch), free(got), free(want);
    }
}

Test(moments, merge_with_empty_keeps_missing_count)
{
    h5prep_moments a = h5p_moments_empty(), b = h5p_moments_empty();
    a.missing = 3;
    b.n = 2, b.mean = 1.5, b.m2 = 0.5, b.min = 1, b.max = 2, b.missing = 4;
    h5p_moments_merge(&a, &b);
    cr_assert_eq(a.n, 2);
    cr_assert_eq(a.missing, 7);
    cr_assert_eq(a.mean, 1.5);
    cr_assert_eq(a.m2, 0.5);
    h5prep_moments e = h5p_moments_empty();
    h5p_moments_merge(&a, &e);
    cr_assert_eq(a.n, 2);
    cr_assert_eq(a.min, 1);
    cr_assert_eq(a.max, 2);
}

/* 5000 values of 1e8 then 5000 of log(1e-5): var = ((a-b)/2)^2 exactly for two equal groups. */
Test(hostile, large_offset_two_groups_variance)
{
    enum { N = 10000 };
    double *x = malloc(N * sizeof *x);
    double a = 1e8, b = log(1e-5);
    for (int i = 0; i < N; i++)
        x[i] = i < N / 2 ? a : b;
    uint64_t dims[2] = {N, 1};
    const char *path = tu_path("offset.h5");
    tu_write(path, "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, x, 0);
    long double half = ((long double)a - (long double)b) / 2;
    double exact = (double)(half * half);
    for (int threads = 1; threads <= 3; threads++) {
        h5prep_stats_config c = h5prep_stats_config_default();
        c.threads = threads;
        const char *inputs[] = {tu_input(path, "/x")};
        h5prep_stats *s = tu_run(&c, inputs, 1);
        h5prep_var_view v = tu_view(s, 0);
        double var = h5prep_moments_variance(&v.moments[0], 0);
        cr_assert(fabs(var - exact) <= 1e-12 * exact, "threads %d: var %.17g, exact %.17g", threads, var, exact);
        h5prep_stats_destroy(s);
    }
    free(x);
}

/* Apache Arrow's test case: ddof 1 gives exactly 30. */
Test(hostile, arrow_case_ddof1_is_exactly_30)
{
    double x[4] = {100000004, 100000007, 100000013, 100000016};
    int64_t xi[4] = {100000004, 100000007, 100000013, 100000016};
    uint64_t dims[1] = {4};
    const char *path = tu_path("arrow.h5");
    tu_write(path, "/f64", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, dims, x, 0);
    tu_write(path, "/i64", H5T_STD_I64BE, H5T_NATIVE_INT64, 1, dims, xi, 0);
    for (int threads = 1; threads <= 4; threads++) {
        h5prep_stats_config c = h5prep_stats_config_default();
        c.threads = threads;
        c.ddof = 1;
        const char *inputs[] = {tu_input(path, "/f64"), tu_input(path, "/i64")};
        h5prep_stats *s = tu_run(&c, inputs, 2);
        for (size_t i = 0; i < 2; i++) {
            h5prep_var_view v = tu_view(s, i);
            cr_assert_eq(h5prep_moments_variance(&v.moments[0], 1), 30.0, "%s threads %d: %.17g", v.name, threads,
                         h5prep_moments_variance(&v.moments[0], 1));
        }
        h5prep_stats_destroy(s);
    }
}

/* float32 values 1e6 + N(0,1): float32 accumulation would lose most digits of the variance. */
Test(hostile, float32_large_mean_unit_variance)
{
    enum { N = 200000, F = 3 };
    float *x = malloc(N * F * sizeof *x);
    double *xd = malloc(N * F * sizeof *xd);
    uint64_t seed = 99;
    for (int i = 0; i < N * F; i++) {
        x[i] = (float)(1e6 + tu_normal(&seed));
        xd[i] = x[i];
    }
    uint64_t dims[2] = {N, F};
    const char *path = tu_path("f32.h5");
    tu_write(path, "/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, x, 4096);
    const char *inputs[] = {tu_input(path, "/x")};
    h5prep_stats_config c = h5prep_stats_config_default();
    h5prep_stats *s = tu_run(&c, inputs, 1);
    h5prep_var_view v = tu_view(s, 0);
    h5prep_moments want[F];
    tu_reference(xd, N, F, 1, want);
    tu_compare(v.moments, want, F, 1e-11);
    for (int f = 0; f < F; f++) { /* and it is about 1 (float32 quantisation at 1e6 is 1/16) */
        double var = h5prep_moments_variance(&v.moments[f], 0);
        cr_assert(fabs(var - 1.0) < 0.05, "var %g", var);
    }
    h5prep_stats_destroy(s);
    free(x), free(xd);
}

Test(hostile, constant_and_all_missing_features_are_flagged)
{
    enum { N = 1000, F = 3 };
    double x[N * F];
    for (int i = 0; i < N; i++) {
        x[i * F + 0] = 123456789.125; /* constant */
        x[i * F + 1] = i % 2 ? NAN : INFINITY; /* all missing */
        x[i * F + 2] = i;
    }
    uint64_t dims[2] = {N, F};
    const char *path = tu_path("const.h5");
    tu_write(path, "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, x, 100);
    const char *inputs[] = {tu_input(path, "/x")};
    h5prep_stats_config c = h5prep_stats_config_default();
    h5prep_stats *s = tu_run(&c, inputs, 1);
    h5prep_var_view v = tu_view(s, 0);
    cr_assert_eq(v.moments[0].mean, 123456789.125);
    cr_assert_eq(v.moments[0].m2, 0.0);
    cr_assert_eq(h5prep_moments_flags(&v.moments[0], 0), H5PREP_FLAG_CONSTANT);
    cr_assert_eq(v.moments[1].n, 0);
    cr_assert_eq(v.moments[1].missing, N);
    cr_assert_eq(h5prep_moments_flags(&v.moments[1], 0), H5PREP_FLAG_CONSTANT | H5PREP_FLAG_EMPTY);
    cr_assert_eq(h5prep_moments_flags(&v.moments[2], 0), 0u);
    /* the JSON document writes null where there is no value, and numpy reads null as nan */
    char *json = h5prep_stats_json(s);
    cr_assert(strstr(json, "\"mean\": [123456789.125, null, 499.5]"), "%s", json);
    free(json);
    h5prep_stats_destroy(s);
}
