/* test_accumulate.c: h5prep_stats_update, statistics of arrays from memory batch by batch: equal
 * to the independent reference and to a file run over the same values for every choice of kept
 * axes and batch cut, integer types, continuation of a loaded state, and its errors; and the reset
 * of an interrupt request, which a program that goes on after Ctrl-C needs. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 1001, A = 7, B = 5 }; /* the variable (N, A, B) */

/* (N, A, B) float64 values around a large offset, every 13th missing (NaN), one Inf. */
static double *make_values(void)
{
    double *x = malloc(sizeof(double) * N * A * B);
    uint64_t seed = 11;
    for (size_t i = 0; i < (size_t)N * A * B; i++)
        x[i] = i % 13 == 4 ? NAN : 1e3 + (double)(i % B) + 3.0 * tu_normal(&seed);
    x[17] = INFINITY;
    return x;
}

/* Feeds x in batches cut at `cuts` (row counts, a 0 among them) into s as "name", float64. */
static void feed(h5prep_stats *s, const char *name, const double *x, const uint64_t *cuts, int ncuts)
{
    uint64_t row = 0;
    for (int k = 0; k < ncuts; k++) {
        uint64_t shape[3] = {cuts[k], A, B};
        h5prep_status st = h5prep_stats_update(s, name, x + row * A * B, "float64", 3, shape);
        cr_assert_eq(st, H5PREP_OK, "batch %d: %s", k, h5prep_last_error());
        row += cuts[k];
    }
    cr_assert_eq(row, N);
}

Test(accumulate, batches_equal_reference_and_file_run_for_every_keep)
{
    double *x = make_values();
    double *ref_x = malloc(sizeof(double) * N * A * B);
    for (size_t i = 0; i < (size_t)N * A * B; i++)
        ref_x[i] = isfinite(x[i]) ? x[i] : NAN; /* Inf is missing, as in a file */
    const char *path = tu_path("acc.h5");
    uint64_t dims[3] = {N, A, B};
    tu_write(path, "/v", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, dims, x, 100);
    struct {
        int first, count;
        uint64_t outer, F, inner;
    } keeps[] = {
        {H5PREP_KEEP_DEFAULT, 1, (uint64_t)N * A, B, 1}, /* the last axis */
        {1, 1, N, A, B},
        {1, 2, N, (uint64_t)A * B, 1},
        {0, 0, 1, 1, (uint64_t)N * A * B}, /* one statistic */
    };
    const uint64_t cuts[] = {1, 0, 333, 2, 665};
    for (size_t k = 0; k < sizeof keeps / sizeof *keeps; k++) {
        h5prep_stats_config c = h5prep_stats_config_default();
        c.keep_first = keeps[k].first;
        c.keep_count = keeps[k].count;
        c.threads = 2;
        h5prep_stats *s = h5prep_stats_create(&c);
        feed(s, "v", x, cuts, 5);
        h5prep_var_view v = tu_view(s, 0);
        cr_assert_str_eq(v.name, "/v");
        cr_assert_eq(v.shape[0], N);
        cr_assert_eq(v.n_features, keeps[k].F);
        h5prep_moments *ref = malloc(keeps[k].F * sizeof *ref);
        tu_reference(ref_x, keeps[k].outer, keeps[k].F, keeps[k].inner, ref);
        tu_compare(v.moments, ref, v.n_features, 1e-12);

        const char *inputs[] = {tu_input(path, "/v")};
        h5prep_stats *f = tu_run(&c, inputs, 1);
        h5prep_var_view fv = tu_view(f, 0);
        cr_assert_eq(fv.keep_first, v.keep_first);
        cr_assert_eq(fv.keep_count, v.keep_count);
        tu_compare(v.moments, fv.moments, v.n_features, 1e-12);
        free(ref);
        h5prep_stats_destroy(f);
        h5prep_stats_destroy(s);
    }
    free(ref_x);
    free(x);
}

Test(accumulate, integer_batches_and_document_match_a_file_run)
{
    enum { R = 500, C = 3 };
    int16_t raw[R * C];
    double as_double[R * C];
    for (int i = 0; i < R * C; i++) {
        raw[i] = (int16_t)((i * 7919) % 20001 - 10000);
        as_double[i] = raw[i];
    }
    h5prep_stats *s = h5prep_stats_create(NULL);
    for (int row = 0; row < R; row += 128) {
        uint64_t shape[2] = {(uint64_t)(R - row < 128 ? R - row : 128), C};
        cr_assert_eq(h5prep_stats_update(s, "/z", raw + row * C, "int16", 2, shape), H5PREP_OK, "%s", h5prep_last_error());
    }
    h5prep_moments ref[C];
    tu_reference(as_double, R, C, 1, ref);
    h5prep_var_view v = tu_view(s, 0);
    tu_compare(v.moments, ref, C, 1e-13);
    cr_assert_str_eq(h5prep_stats_backend_name(s), "cpu");

    /* the document written from memory loads back as the same states */
    const char *out = tu_path("acc_z.json");
    cr_assert_eq(h5prep_stats_write(s, out), H5PREP_OK, "%s", h5prep_last_error());
    h5prep_stats *back = h5prep_stats_create(NULL);
    cr_assert_eq(h5prep_stats_load(back, out), H5PREP_OK, "%s", h5prep_last_error());
    h5prep_var_view b = tu_view(back, 0);
    cr_assert_eq(b.shape[0], R);
    cr_assert_eq(b.shape[1], C);
    tu_compare(b.moments, v.moments, C, 1e-15);
    h5prep_stats_destroy(back);
    h5prep_stats_destroy(s);
}

Test(accumulate, continues_a_loaded_state_exactly_as_one_stream)
{
    double *x = make_values();
    h5prep_stats *whole = h5prep_stats_create(NULL);
    const uint64_t all[] = {N};
    feed(whole, "/v", x, all, 1);

    h5prep_stats *first = h5prep_stats_create(NULL);
    uint64_t shape[3] = {400, A, B};
    cr_assert_eq(h5prep_stats_update(first, "/v", x, "float64", 3, shape), H5PREP_OK, "%s", h5prep_last_error());
    const char *saved = tu_path("first.h5");
    cr_assert_eq(h5prep_stats_write(first, saved), H5PREP_OK, "%s", h5prep_last_error());
    h5prep_stats_destroy(first);

    h5prep_stats *resumed = h5prep_stats_create(NULL);
    cr_assert_eq(h5prep_stats_load(resumed, saved), H5PREP_OK, "%s", h5prep_last_error());
    shape[0] = N - 400;
    cr_assert_eq(h5prep_stats_update(resumed, "v", x + 400 * A * B, "float64", 3, shape), H5PREP_OK, "%s",
                 h5prep_last_error());
    h5prep_var_view a = tu_view(resumed, 0), w = tu_view(whole, 0);
    cr_assert_eq(h5prep_stats_nvars(resumed), 1);
    cr_assert_eq(a.shape[0], N);
    tu_compare(a.moments, w.moments, B, 1e-13);
    h5prep_stats_destroy(resumed);
    h5prep_stats_destroy(whole);
    free(x);
}

Test(accumulate, shape_mismatch_is_refused_and_leaves_the_state)
{
    double x[2 * A * B] = {0};
    h5prep_stats *s = h5prep_stats_create(NULL);
    uint64_t shape[3] = {2, A, B};
    cr_assert_eq(h5prep_stats_update(s, "v", x, "float64", 3, shape), H5PREP_OK, "%s", h5prep_last_error());
    uint64_t other[3] = {2, A + 1, B};
    cr_assert_eq(h5prep_stats_update(s, "v", x, "float64", 3, other), H5PREP_ERR_SHAPE);
    cr_assert(strstr(h5prep_last_error(), "/v: batch of shape (2, 8, 5), but the variable has shape (2, 7, 5)"), "%s",
              h5prep_last_error());
    cr_assert(strstr(h5prep_last_error(), "\nhint: "), "%s", h5prep_last_error());
    uint64_t flat[2] = {2, A * B};
    cr_assert_eq(h5prep_stats_update(s, "v", x, "float64", 2, flat), H5PREP_ERR_SHAPE);
    h5prep_var_view v = tu_view(s, 0);
    cr_assert_eq(v.shape[0], 2);
    cr_assert_eq(v.moments[0].n, 2 * A);
    h5prep_stats_destroy(s);
}

Test(accumulate, bad_dtype_axes_and_names_are_refused)
{
    double x[4] = {1, 2, 3, 4};
    uint64_t shape[2] = {2, 2};
    h5prep_stats *s = h5prep_stats_create(NULL);
    cr_assert_eq(h5prep_stats_update(s, "v", x, "complex64", 2, shape), H5PREP_ERR_DTYPE);
    cr_assert(strstr(h5prep_last_error(), "/v: dtype 'complex64' is not one of"), "%s", h5prep_last_error());
    uint64_t zero[2] = {2, 0};
    cr_assert_eq(h5prep_stats_update(s, "v", x, "float64", 2, zero), H5PREP_ERR_EMPTY);
    cr_assert_eq(h5prep_stats_update(s, "v", x, "float64", 0, shape), H5PREP_ERR_EMPTY);
    cr_assert_eq(h5prep_stats_nvars(s), 0, "failed calls added a variable");
    h5prep_stats_destroy(s);

    h5prep_stats_config c = h5prep_stats_config_default();
    c.keep_first = 0;
    s = h5prep_stats_create(&c);
    cr_assert_eq(h5prep_stats_update(s, "v", x, "float64", 2, shape), H5PREP_ERR_AXES);
    cr_assert(strstr(h5prep_last_error(), "axis 0"), "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_nvars(s), 0);
    h5prep_stats_destroy(s);

    /* a name that is already a file input */
    const char *path = tu_path("in.h5");
    tu_write(path, "/v", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, shape, x, 0);
    s = h5prep_stats_create(NULL);
    cr_assert_eq(h5prep_stats_add(s, tu_input(path, "/v")), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_update(s, "v", x, "float64", 2, shape), H5PREP_ERR_USAGE);
    cr_assert(strstr(h5prep_last_error(), "already an input read from"), "%s", h5prep_last_error());
    h5prep_stats_destroy(s);
}

Test(interrupt, reset_lets_the_next_run_go)
{
    double x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint64_t dims[2] = {4, 2};
    const char *path = tu_path("i.h5");
    tu_write(path, "/v", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, x, 0);
    h5prep_stats *s = h5prep_stats_create(NULL);
    cr_assert_eq(h5prep_stats_add(s, tu_input(path, "/v")), H5PREP_OK, "%s", h5prep_last_error());
    h5prep_interrupt();
    cr_assert_eq(h5prep_stats_run(s), H5PREP_ERR_INTERRUPTED);
    cr_assert_eq(h5prep_stats_run(s), H5PREP_ERR_INTERRUPTED, "the request holds until it is reset");
    h5prep_interrupt_reset();
    cr_assert_eq(h5prep_stats_run(s), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(tu_view(s, 0).moments[1].n, 4);
    h5prep_stats_destroy(s);
}
