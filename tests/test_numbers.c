/* test_numbers.c: the whole float64 range and hostile statistics files. Values near ±DBL_MAX,
 * 1e200 offsets and a 1e300 add_offset go through the CPU kernel, the merges, both file formats
 * and the CUDA kernels (SIMT), checked against a long double reference; crafted or damaged
 * statistics files are each refused with their own message; transform never divides by 1 in
 * place of a standard deviation that float64 cannot hold. */
#include "backends/cpu/cpu.h"
#include "common/moments.h"
#include "output/state.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static double unit(uint64_t *s) { return (double)next(s) / 2147483648.0; } /* [0, 1) */

/* ---- the reference and the comparison ------------------------------------------------- */

/* The reference sums in long double, which covers the whole float64 range only where it has a
 * wider exponent (x86-64's 80-bit and aarch64's 128-bit formats do). */
static void need_wide_long_double(void)
{
    cr_assert(LDBL_MAX_EXP > DBL_MAX_EXP, "the reference needs a long double with a wider exponent than double");
}

/* s + c <- s + c + v, Neumaier's compensated sum. */
static void add_comp(long double *s, long double *c, long double v)
{
    long double t = *s + v;
    *c += fabsl(*s) >= fabsl(v) ? (*s - t) + v : (v - t) + *s;
    *s = t;
}

/* An independent reference of x viewed as (rows, F), NaN meaning missing: compensated long
 * double sums for the mean, then for the deviations and their squares (the corrected two-pass
 * form). No intermediate overflows for float64 inputs, and the error is far below float64's
 * rounding (tu_reference's plain long double sum is off by n * 2^-64, which at DBL_MAX rounds
 * the mean of a constant column up to +inf). */
static void reference(const double *x, uint64_t rows, uint64_t F, h5prep_moments *out)
{
    for (uint64_t f = 0; f < F; f++) {
        long double s = 0, c = 0;
        int64_t n = 0, miss = 0;
        double mn = INFINITY, mx = -INFINITY;
        for (uint64_t r = 0; r < rows; r++) {
            double v = x[r * F + f];
            if (isnan(v)) {
                miss++;
                continue;
            }
            add_comp(&s, &c, v);
            n++;
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
        }
        long double mean = n ? (s + c) / n : 0, s1 = 0, c1 = 0, s2 = 0, c2 = 0;
        for (uint64_t r = 0; n && r < rows; r++) {
            double v = x[r * F + f];
            if (!isnan(v)) {
                long double d = v - mean;
                add_comp(&s1, &c1, d);
                add_comp(&s2, &c2, d * d);
            }
        }
        long double d1 = n ? (s1 + c1) : 0, m2 = n ? (s2 + c2) - d1 * d1 / n : 0;
        out[f] = (h5prep_moments){n, miss, (double)(n ? mean + d1 / n : 0), (double)(m2 > 0 ? m2 : 0), mn, mx};
    }
}

/* The spacing of float64 numbers at x (finite at DBL_MAX, 0 at 0). */
static double ulp(double x) { return x == 0 ? 0 : ldexp(1.0, ilogb(x) - 52); }

/* n, missing, min and max exactly; the mean within 1e-13 of the values' magnitude; m2 within
 * 1e-10 relative plus what the states' rounded means allow, +inf exactly where the reference's
 * m2 exceeds DBL_MAX, never NaN. A state holds its mean to half an ulp, so merging k pieces
 * moves m2 by about ulp(mean) * sqrt(2 k m2) whatever the arithmetic (k <= 128 here). */
static void check_state(const h5prep_moments *got, const h5prep_moments *want, const char *what, uint64_t f)
{
    cr_assert_eq(got->n, want->n, "%s[%llu]: count %lld, want %lld", what, (unsigned long long)f, (long long)got->n,
                 (long long)want->n);
    cr_assert_eq(got->missing, want->missing, "%s[%llu]: missing %lld, want %lld", what, (unsigned long long)f,
                 (long long)got->missing, (long long)want->missing);
    if (want->n == 0)
        return;
    cr_assert_eq(got->min, want->min, "%s[%llu]: min %.17g, want %.17g", what, (unsigned long long)f, got->min, want->min);
    cr_assert_eq(got->max, want->max, "%s[%llu]: max %.17g, want %.17g", what, (unsigned long long)f, got->max, want->max);
    double scale = fmax(fabs(want->min), fabs(want->max));
    cr_assert(fabs(got->mean - want->mean) <= 1e-13 * scale, "%s[%llu]: mean %.17g, want %.17g", what,
              (unsigned long long)f, got->mean, want->mean);
    cr_assert(got->m2 >= 0, "%s[%llu]: m2 %.17g must be >= 0 (and not NaN)", what, (unsigned long long)f, got->m2);
    if (isinf(want->m2))
        cr_assert(isinf(got->m2), "%s[%llu]: m2 %.17g, want +inf", what, (unsigned long long)f, got->m2);
    else
        cr_assert(fabs(got->m2 - want->m2) <= 1e-10 * want->m2 + 16 * ulp(want->mean) * sqrt(want->m2) + DBL_MIN,
                  "%s[%llu]: m2 %.17g, want %.17g", what, (unsigned long long)f, got->m2, want->m2);
}

/* ---- hostile columns ------------------------------------------------------------------ */

enum { COLS = 10 };

/* Value (row i, column c) of the hostile table; NaN is missing. */
static double hostile(uint64_t i, int c, uint64_t *s)
{
    double u = unit(s);
    switch (c) {
    case 0: return DBL_MAX;                                  /* constant at the top of the range */
    case 1: return i % 2 ? DBL_MAX : -DBL_MAX;               /* mean representable, m2 beyond it */
    case 2: return DBL_MAX * (0.5 + 0.5 * u);                /* a sum would overflow at once */
    case 3: return 1e200;                                    /* a 1e200 offset, constant: m2 0 */
    case 4: return i % 3 ? 1e200 : -1e200;                   /* two groups at +-1e200 */
    case 5: return 1e160 + (double)(next(s) % 1000000) * 0x1p479; /* 1e160 + k ulp: m2 ~1e303 */
    case 6: return i % 7 == 3 ? NAN : -DBL_MAX * (0.25 + 0.75 * u); /* negative, with missing values */
    case 7: return 1.5e154 + 1e146 * tu_normal(s);           /* just above sqrt(DBL_MAX), m2 finite */
    case 8: return 1e-300 * (1 + u);                         /* tiny values: m2 underflows, as it should */
    default: return 3 + tu_normal(s);                        /* an ordinary column */
    }
}

static double *hostile_table(uint64_t rows, uint64_t seed)
{
    double *x = malloc(rows * COLS * sizeof *x);
    cr_assert_not_null(x);
    for (uint64_t i = 0; i < rows; i++)
        for (int c = 0; c < COLS; c++)
            x[i * COLS + c] = hostile(i, c, &seed);
    return x;
}

/* The kernel over pieces cut at random rows, merged in a random order, and the same pieces
 * accumulated in order into one state (the branch-free merge, starting empty). */
Test(numbers, kernel_and_merges_over_the_whole_range)
{
    need_wide_long_double();
    enum { ROWS = 20011, MAXP = 12 };
    double *x = hostile_table(ROWS, 5);
    h5prep_moments want[COLS];
    reference(x, ROWS, COLS, want);
    cr_assert(isinf(want[1].m2) && want[3].m2 == 0 && isfinite(want[5].m2) && isfinite(want[7].m2),
              "the table covers both sides of DBL_MAX for m2");
    double scratch[6 * COLS];
    for (int isa = 0; isa < H5P_ISA_COUNT; isa++) { /* every path this CPU runs, the same checks */
        const h5p_cpu_kernels *k = h5p_cpu_kernels_for((h5p_cpu_isa)isa);
        if (!k)
            continue;
        char accumulated[64], merged[64];
        snprintf(accumulated, sizeof accumulated, "accumulated (%s)", k->isa);
        snprintf(merged, sizeof merged, "merged (%s)", k->isa);
        uint64_t seed = 99;
        for (int trial = 0; trial < 6; trial++) {
            size_t cuts[MAXP + 1] = {0};
            int np = 1 + (int)(next(&seed) % MAXP);
            for (int p = 1; p < np; p++)
                cuts[p] = (size_t)(next(&seed) % (ROWS + 1));
            cuts[np] = ROWS;
            for (int p = 2; p < np; p++)
                for (int q = p; q > 1 && cuts[q - 1] > cuts[q]; q--) {
                    size_t t = cuts[q];
                    cuts[q] = cuts[q - 1];
                    cuts[q - 1] = t;
                }
            h5p_states one, part;
            cr_assert_eq(h5p_states_init(&one, COLS), 0);
            cr_assert_eq(h5p_states_init(&part, COLS), 0);
            h5prep_moments parts[MAXP][COLS];
            for (int p = 0; p < np; p++) {
                h5p_states_reset(&part, COLS);
                h5p_cpu_block_stats(k, x + cuts[p] * COLS, cuts[p + 1] - cuts[p], COLS, scratch, &part, 0);
                h5p_cpu_block_stats(k, x + cuts[p] * COLS, cuts[p + 1] - cuts[p], COLS, scratch, &one, 0);
                for (int c = 0; c < COLS; c++)
                    parts[p][c] = h5p_states_get(&part, (size_t)c);
            }
            for (int c = 0; c < COLS; c++) {
                h5prep_moments in_order = h5p_states_get(&one, (size_t)c);
                check_state(&in_order, &want[c], accumulated, (uint64_t)c);
                int order[MAXP];
                for (int p = 0; p < np; p++)
                    order[p] = p;
                for (int p = np - 1; p > 0; p--) {
                    int q = (int)(next(&seed) % (uint64_t)(p + 1)), t = order[p];
                    order[p] = order[q];
                    order[q] = t;
                }
                h5prep_moments got = h5p_moments_empty();
                for (int p = 0; p < np; p++)
                    h5p_moments_merge(&got, &parts[order[p]][c]);
                check_state(&got, &want[c], merged, (uint64_t)c);
            }
            h5p_states_free(&one);
            h5p_states_free(&part);
        }
    }
    free(x);
}

/* The merge formulas on their own, where an intermediate of the textbook form overflows. */
Test(numbers, merge_formulas_do_not_overflow_where_the_result_does_not)
{
    /* delta^2 = 2.25e308 overflows, delta^2 * na*nb/n = 1.125e308 does not */
    h5prep_moments a = {1, 0, 0.75e154, 0, 0.75e154, 0.75e154}, b = {1, 0, -0.75e154, 0, -0.75e154, -0.75e154};
    h5p_moments_merge(&a, &b);
    cr_assert_eq(a.mean, 0.0);
    cr_assert(fabs(a.m2 - 1.125e308) <= 1e-15 * 1.125e308, "m2 %.17g, want 1.125e308", a.m2);

    /* the branch-free merge into an empty state: no Inf*0 */
    double n = 0, mean = 0, m2 = 0;
    h5p_merge_into(&n, &mean, &m2, 5, 1e200, 0);
    cr_assert(n == 5 && mean == 1e200 && m2 == 0, "n %g mean %.17g m2 %.17g", n, mean, m2);
    h5p_merge_into(&n, &mean, &m2, 3, 1e200, 0);
    cr_assert(n == 8 && mean == 1e200 && m2 == 0, "equal means: m2 stays 0, got %.17g", m2);

    /* means of opposite signs beyond DBL_MAX/2: their difference overflows, the mean does not */
    h5prep_moments c = {3, 0, 1.5e308, 0, 1.5e308, 1.5e308}, d = {1, 0, -1.5e308, 0, -1.5e308, -1.5e308};
    h5p_moments_merge(&c, &d);
    cr_assert(fabs(c.mean - 0.75e308) <= 1e-15 * 0.75e308, "mean %.17g, want 0.75e308", c.mean);
    cr_assert(isinf(c.m2) && c.m2 > 0, "m2 %.17g, want +inf", c.m2);
    n = 3, mean = 1.5e308, m2 = 0;
    h5p_merge_into(&n, &mean, &m2, 1, -1.5e308, 0);
    cr_assert(fabs(mean - 0.75e308) <= 1e-15 * 0.75e308, "mean %.17g, want 0.75e308", mean);
    cr_assert(isinf(m2) && m2 > 0, "m2 %.17g, want +inf", m2);

    /* an infinite m2 merged on stays +inf */
    h5prep_moments e = {2, 0, 1, INFINITY, 0, 2}, g = {2, 0, 1, 0, 1, 1};
    h5p_moments_merge(&e, &g);
    cr_assert(isinf(e.m2) && e.m2 > 0 && e.mean == 1);
}

/* ---- end to end: files, both backends, both state formats ------------------------------ */

static void check_all(const h5prep_moments *got, const h5prep_moments *want, uint64_t nf, const char *what)
{
    for (uint64_t f = 0; f < nf; f++)
        check_state(&got[f], &want[f], what, f);
}

static json_t *load_json_text(const char *text)
{
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    cr_assert_not_null(doc, "not JSON (%s): %.300s", err.text, text);
    return doc;
}

/* Every per-feature array of every variable has one entry per feature. */
static void check_lengths(json_t *doc)
{
    const char *name;
    json_t *v;
    json_object_foreach(json_object_get(doc, "variables"), name, v)
    {
        size_t nf = 1;
        json_t *fs = json_object_get(v, "feature_shape");
        for (size_t a = 0; a < json_array_size(fs); a++)
            nf *= (size_t)json_integer_value(json_array_get(fs, a));
        static const char *keys[] = {"count", "missing", "mean", "std", "var", "min", "max", "m2", "flags"};
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
            cr_assert_eq(json_array_size(json_object_get(v, keys[k])), nf, "%s: \"%s\" has %zu entries, want %zu", name,
                         keys[k], json_array_size(json_object_get(v, keys[k])), nf);
    }
}

/* The JSON document of s, parsed, every array checked for its length. */
static json_t *checked_doc(h5prep_stats *s)
{
    char *text = h5prep_stats_json(s);
    cr_assert_not_null(text);
    json_t *doc = load_json_text(text);
    free(text);
    check_lengths(doc);
    return doc;
}

/* A JSON number, null (NaN) or "inf"/"-inf" as a double. */
static double json_double(json_t *x)
{
    if (json_is_null(x))
        return NAN;
    if (json_is_string(x)) {
        const char *s = json_string_value(x);
        cr_assert(strcmp(s, "inf") == 0 || strcmp(s, "-inf") == 0, "unexpected string \"%s\"", s);
        return s[0] == '-' ? -INFINITY : INFINITY;
    }
    cr_assert(json_is_number(x), "not a number");
    return json_number_value(x);
}

/* The moments of variable `name` in a parsed document. */
static void json_moments(json_t *doc, const char *name, h5prep_moments *out, uint64_t nf)
{
    json_t *v = json_object_get(json_object_get(doc, "variables"), name);
    cr_assert_not_null(v, "no variable %s", name);
    for (uint64_t f = 0; f < nf; f++) {
        out[f].n = json_integer_value(json_array_get(json_object_get(v, "count"), f));
        out[f].missing = json_integer_value(json_array_get(json_object_get(v, "missing"), f));
        out[f].mean = json_double(json_array_get(json_object_get(v, "mean"), f));
        out[f].m2 = json_double(json_array_get(json_object_get(v, "m2"), f));
        out[f].min = json_double(json_array_get(json_object_get(v, "min"), f));
        out[f].max = json_double(json_array_get(json_object_get(v, "max"), f));
    }
}

static void same_states(const h5prep_moments *a, const h5prep_moments *b, uint64_t nf, const char *what)
{
    for (uint64_t f = 0; f < nf; f++)
        cr_assert(a[f].n == b[f].n && a[f].missing == b[f].missing && a[f].mean == b[f].mean && a[f].m2 == b[f].m2 &&
                      a[f].min == b[f].min && a[f].max == b[f].max,
                  "%s[%llu]: the state read back differs (mean %.17g/%.17g, m2 %.17g/%.17g)", what,
                  (unsigned long long)f, a[f].mean, b[f].mean, a[f].m2, b[f].m2);
}

Test(numbers, files_both_backends_and_state_round_trips, .timeout = 120)
{
    need_wide_long_double();
    enum { ROWS = 30007 };
    double *x = hostile_table(ROWS, 17);
    uint64_t dims[2] = {ROWS, COLS};
    const char *path = tu_path("hostile.h5");
    tu_write(path, "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, x, 4096);
    h5prep_moments want[COLS];
    reference(x, ROWS, COLS, want);
    const char *inputs[] = {tu_input(path, "/x")};
    for (int threads = 1; threads <= 3; threads += 2) {
        h5prep_stats_config c = h5prep_stats_config_default();
        c.threads = threads;
        c.backend = H5PREP_BACKEND_CPU;
        h5prep_stats *s = tu_run(&c, inputs, 1);
        h5prep_var_view v = tu_view(s, 0);
        check_all(v.moments, want, COLS, threads == 1 ? "cpu, 1 thread" : "cpu, 3 threads");

        /* JSON: every array full length, +inf as "inf", read back bit for bit */
        json_t *doc = checked_doc(s);
        json_t *jv = json_object_get(json_object_get(doc, "variables"), "/x");
        cr_assert_str_eq(json_string_value(json_array_get(json_object_get(jv, "m2"), 1)), "inf");
        cr_assert_str_eq(json_string_value(json_array_get(json_object_get(jv, "std"), 1)), "inf");
        cr_assert(json_is_real(json_array_get(json_object_get(jv, "m2"), 9)), "the columns after stay in place");
        json_decref(doc);
        const char *js = tu_path("hostile.json"), *hs = tu_path("hostile-stats.h5");
        cr_assert_eq(h5prep_stats_write(s, js), H5PREP_OK, "%s", h5prep_last_error());
        cr_assert_eq(h5prep_stats_write(s, hs), H5PREP_OK, "%s", h5prep_last_error());
        for (int k = 0; k < 2; k++) {
            h5prep_stats *r = h5prep_stats_create(&c);
            cr_assert_eq(h5prep_stats_load(r, k ? hs : js), H5PREP_OK, "%s", h5prep_last_error());
            same_states(tu_view(r, 0).moments, v.moments, COLS, k ? "hdf5" : "json");
            h5prep_stats_destroy(r);
        }
        /* and merged with itself: the same mean, twice the count and m2 (+inf where it was) */
        h5prep_stats *m = h5prep_stats_create(&c);
        cr_assert_eq(h5prep_stats_load(m, js), H5PREP_OK, "%s", h5prep_last_error());
        cr_assert_eq(h5prep_stats_load(m, hs), H5PREP_OK, "%s", h5prep_last_error());
        const h5prep_moments *mm = tu_view(m, 0).moments;
        for (int col = 0; col < COLS; col++)
            cr_assert(mm[col].n == 2 * v.moments[col].n && mm[col].mean == v.moments[col].mean &&
                          mm[col].m2 == 2 * v.moments[col].m2,
                      "merged [%d]: n %lld mean %.17g m2 %.17g, want twice m2 %.17g", col, (long long)mm[col].n,
                      mm[col].mean, mm[col].m2, v.moments[col].m2);
        h5prep_stats_destroy(m);
        h5prep_stats_destroy(s);
    }

    /* the CUDA kernels (SIMT harness) against the same reference */
    setenv("SIMT_BLOCKS", "shuffled", 1);
    const char *args[] = {"stats", inputs[0], "--backend", "cuda", "--json", "--quiet", NULL};
    int rc = tu_cli_with(H5PREP_CLI_SIMT, args);
    cr_assert_eq(rc, 0, "cuda (simt): exit %d: %s", rc, tu_stderr());
    json_t *doc = load_json_text(tu_stdout());
    check_lengths(doc);
    h5prep_moments got[COLS];
    json_moments(doc, "/x", got, COLS);
    check_all(got, want, COLS, "cuda (simt)");
    json_decref(doc);
    free(x);
}

/* int16 packed with add_offset = 1e300: scale 1 gives the constant 1e300 (std 0), scale 1e290
 * values 1e290 apart (std beyond float64, +inf). */
Test(numbers, packed_int16_with_add_offset_1e300)
{
    need_wide_long_double();
    enum { ROWS = 5003, F = 3 };
    static int16_t raw[ROWS * F];
    static double dec1[ROWS * F], dec2[ROWS * F];
    uint64_t seed = 4;
    double offset = 1e300, one = 1, big = 1e290, fill = -32768;
    for (int i = 0; i < ROWS * F; i++) {
        raw[i] = (int16_t)(i % 13 == 0 ? -32768 : (int)(next(&seed) % 2001) - 1000);
        dec1[i] = raw[i] == -32768 ? NAN : raw[i] * one + offset;
        dec2[i] = raw[i] == -32768 ? NAN : raw[i] * big + offset;
    }
    uint64_t dims[2] = {ROWS, F};
    const char *path = tu_path("packed.h5");
    tu_write(path, "/p1", H5T_STD_I16LE, H5T_NATIVE_INT16, 2, dims, raw, 1000);
    tu_write(path, "/p2", H5T_STD_I16LE, H5T_NATIVE_INT16, 2, dims, raw, 0);
    const char *names[] = {"/p1", "/p2"};
    double *scales[] = {&one, &big};
    for (int k = 0; k < 2; k++) {
        tu_attr(path, names[k], "scale_factor", H5T_IEEE_F64LE, scales[k], 1);
        tu_attr(path, names[k], "add_offset", H5T_IEEE_F64LE, &offset, 1);
        tu_attr(path, names[k], "_FillValue", H5T_STD_I16LE, &fill, 1);
    }
    h5prep_moments want1[F], want2[F];
    reference(dec1, ROWS, F, want1);
    reference(dec2, ROWS, F, want2);
    const char *inputs[] = {tu_input(path, "/p1"), tu_input(path, "/p2")};
    for (int isa = 0; isa < H5P_ISA_COUNT; isa++) { /* the CPU backend on every path this CPU runs */
        const h5p_cpu_kernels *k = h5p_cpu_kernels_for((h5p_cpu_isa)isa);
        if (!k)
            continue;
        setenv("H5PREP_ISA", k->isa, 1);
        h5prep_stats_config c = h5prep_stats_config_default();
        c.backend = H5PREP_BACKEND_CPU;
        h5prep_stats *s = tu_run(&c, inputs, 2);
        const h5prep_moments *m1 = tu_view(s, 0).moments, *m2 = tu_view(s, 1).moments;
        check_all(m1, want1, F, k->isa);
        check_all(m2, want2, F, k->isa);
        for (int f = 0; f < F; f++) {
            cr_assert(m1[f].mean == 1e300 && m1[f].m2 == 0, "constant 1e300: mean %.17g m2 %.17g", m1[f].mean, m1[f].m2);
            cr_assert_eq(h5prep_moments_flags(&m1[f], 0), H5PREP_FLAG_CONSTANT);
            cr_assert(isinf(m2[f].m2), "m2 %.17g", m2[f].m2);
        }
        json_t *doc = checked_doc(s);
        json_t *v1 = json_object_get(json_object_get(doc, "variables"), "/p1");
        cr_assert_eq(json_real_value(json_array_get(json_object_get(v1, "std"), 0)), 0.0);
        json_decref(doc);
        h5prep_stats_destroy(s);
    }
    unsetenv("H5PREP_ISA");

    const char *args[] = {"stats", inputs[0], inputs[1], "--backend", "cuda", "--json", "--quiet", NULL};
    int rc = tu_cli_with(H5PREP_CLI_SIMT, args);
    cr_assert_eq(rc, 0, "cuda (simt): exit %d: %s", rc, tu_stderr());
    json_t *doc = load_json_text(tu_stdout());
    h5prep_moments got[F];
    json_moments(doc, "/p1", got, F);
    check_all(got, want1, F, "cuda (simt) scale 1");
    json_moments(doc, "/p2", got, F);
    check_all(got, want2, F, "cuda (simt) scale 1e290");
    json_decref(doc);
}

/* A state holding every kind of non-finite value still gives arrays of the full length, and
 * what is written reads back as written. */
Test(numbers, non_finite_values_keep_every_array_full_length)
{
    h5prep_stats_config c = h5prep_stats_config_default();
    c.ddof = 1;
    h5prep_stats *s = h5prep_stats_create(&c);
    h5p_var *v = h5p_stats_append(s, "/v");
    cr_assert_not_null(v);
    v->rank = 2;
    v->dims[0] = 10, v->dims[1] = 4;
    v->keep_first = 1, v->keep_count = 1;
    v->result = malloc(4 * sizeof *v->result);
    v->result[0] = (h5prep_moments){3, 1, 2.5, INFINITY, -DBL_MAX, DBL_MAX}; /* var, std +inf */
    v->result[1] = (h5prep_moments){1, 0, 7, 0, 7, 7};                     /* count <= ddof: var null */
    v->result[2] = (h5prep_moments){0, 9, 0, 0, INFINITY, -INFINITY};      /* empty */
    v->result[3] = (h5prep_moments){2, 0, -1, 2, -2, 0};
    s->backend = "cpu";
    h5p_stats_stamp(s);
    json_t *doc = checked_doc(s);
    json_t *jv = json_object_get(json_object_get(doc, "variables"), "/v");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(jv, "m2"), 0)), "inf");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(jv, "var"), 0)), "inf");
    cr_assert(json_is_null(json_array_get(json_object_get(jv, "var"), 1)));
    cr_assert(json_is_null(json_array_get(json_object_get(jv, "mean"), 2)));
    cr_assert_eq(json_real_value(json_array_get(json_object_get(jv, "m2"), 3)), 2.0, "the last feature keeps its place");
    json_decref(doc);
    const char *js = tu_path("nf.json"), *hs = tu_path("nf.h5");
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(h5prep_stats_write(s, k ? hs : js), H5PREP_OK, "%s", h5prep_last_error());
        h5prep_stats *r = h5prep_stats_create(&c);
        cr_assert_eq(h5prep_stats_load(r, k ? hs : js), H5PREP_OK, "%s", h5prep_last_error());
        const h5prep_moments *m = tu_view(r, 0).moments;
        cr_assert(m[0].n == 3 && isinf(m[0].m2) && m[0].min == -DBL_MAX && m[0].max == DBL_MAX && m[0].mean == 2.5);
        cr_assert(m[1].n == 1 && m[1].mean == 7 && m[1].m2 == 0);
        cr_assert(m[2].n == 0 && m[2].missing == 9);
        cr_assert(m[3].n == 2 && m[3].mean == -1 && m[3].m2 == 2);
        h5prep_stats_destroy(r);
    }
    h5prep_stats_destroy(s);
}

/* ---- crafted and damaged statistics files ----------------------------------------------- */

/* A good state of /x, (N, 3) float64 with features 0..2, as a JSON document. */
static json_t *good_state(int ddof)
{
    enum { N = 50, F = 3 };
    static double x[N * F];
    for (int i = 0; i < N * F; i++)
        x[i] = 10.0 * (i % F) + (i / F) % 7;
    const char *path = tu_path("good.h5");
    if (!tu_exists(path)) {
        uint64_t dims[2] = {N, F};
        tu_write(path, "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, x, 0);
    }
    h5prep_stats_config c = h5prep_stats_config_default();
    c.ddof = ddof;
    c.backend = H5PREP_BACKEND_CPU;
    const char *inputs[] = {tu_input(path, "/x")};
    h5prep_stats *s = tu_run(&c, inputs, 1);
    char *text = h5prep_stats_json(s);
    json_t *doc = load_json_text(text);
    free(text);
    h5prep_stats_destroy(s);
    return doc;
}

static json_t *xarr(json_t *doc, const char *key)
{
    return json_object_get(json_object_get(json_object_get(doc, "variables"), "/x"), key);
}

/* Writes doc (consumed) to the scratch file `name`; the path stays valid for the whole test
 * (tu_path's ring of buffers is reused after 8 calls). */
static const char *save(json_t *doc, const char *name)
{
    static char ring[64][512];
    static int k;
    char *path = ring[k++ % 64];
    snprintf(path, 512, "%s", tu_path(name));
    cr_assert_eq(json_dump_file(doc, path, JSON_REAL_PRECISION(17)), 0);
    json_decref(doc);
    return path;
}

/* Loading `path` (after `first`, when given) fails with H5PREP_ERR_STATE and a message naming
 * the file and holding every one of the NULL-terminated phrases. */
static void refused(const char *first, const char *path, ...)
{
    h5prep_stats *s = h5prep_stats_create(NULL);
    if (first)
        cr_assert_eq(h5prep_stats_load(s, first), H5PREP_OK, "%s: %s", first, h5prep_last_error());
    h5prep_status st = h5prep_stats_load(s, path);
    const char *msg = h5prep_last_error();
    cr_assert_eq(st, H5PREP_ERR_STATE, "%s: status %d, want %d (%s)", path, st, H5PREP_ERR_STATE, msg);
    cr_assert(strstr(msg, path), "the message names the file: %s", msg);
    va_list ap;
    va_start(ap, path);
    for (const char *p; (p = va_arg(ap, const char *));)
        cr_assert(strstr(msg, p), "the message lacks \"%s\": %s", p, msg);
    va_end(ap);
    h5prep_stats_destroy(s);
}

static const char *one_change(const char *name, const char *key, size_t f, json_t *value)
{
    json_t *doc = good_state(0);
    cr_assert_eq(json_array_set_new(xarr(doc, key), f, value), 0, "%s has no entry %zu", key, f);
    return save(doc, name);
}

Test(states, each_kind_of_bad_value_has_its_message)
{
    refused(NULL, one_change("c.json", "count", 1, json_integer(-5)), "variable /x", "feature 1", "count is negative", NULL);
    refused(NULL, one_change("ms.json", "missing", 2, json_integer(-1)), "variable /x", "feature 2", "missing is negative",
            NULL);
    refused(NULL, one_change("mn.json", "min", 1, json_real(1e6)), "variable /x", "feature 1", "greater than max", NULL);
    refused(NULL, one_change("me.json", "mean", 0, json_real(-3)), "variable /x", "feature 0", "outside [min, max]", NULL);
    refused(NULL, one_change("mu.json", "mean", 2, json_null()), "variable /x", "feature 2", "mean is not a finite number",
            NULL);
    refused(NULL, one_change("lo.json", "min", 0, json_string("-inf")), "feature 0", "min and max must be finite", NULL);
    refused(NULL, one_change("m2n.json", "m2", 1, json_real(-0.5)), "variable /x", "feature 1", "m2 is negative", NULL);
    refused(NULL, one_change("m2x.json", "m2", 2, json_null()), "variable /x", "feature 2", "m2 is not a number", NULL);
    refused(NULL, one_change("m2b.json", "m2", 0, json_real(1e9)), "variable /x", "feature 0",
            "more than count, min and max allow", NULL);
    refused(NULL, one_change("str.json", "mean", 1, json_string("1.5")), "variable /x", "\"mean\"", "entry 1", NULL);

    /* the rounding a real state can have is accepted: mean a few ulps beyond max */
    json_t *doc = good_state(0);
    json_t *mx = json_array_get(xarr(doc, "max"), 0);
    json_array_set_new(xarr(doc, "mean"), 0, json_real(nextafter(nextafter(json_real_value(mx), INFINITY), INFINITY)));
    json_array_set_new(xarr(doc, "min"), 0, json_real(json_real_value(mx)));
    json_array_set_new(xarr(doc, "m2"), 0, json_real(0));
    const char *ok = save(doc, "ulps.json");
    h5prep_stats *s = h5prep_stats_create(NULL);
    cr_assert_eq(h5prep_stats_load(s, ok), H5PREP_OK, "%s", h5prep_last_error());
    h5prep_stats_destroy(s);
}

Test(states, arrays_of_the_wrong_length_are_refused)
{
    static const char *keys[] = {"count", "missing", "mean", "std", "var", "min", "max", "m2", "flags"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        json_t *doc = good_state(0);
        json_array_remove(xarr(doc, keys[k]), 1);
        char name[64], quoted[64];
        snprintf(name, sizeof name, "len-%s.json", keys[k]);
        snprintf(quoted, sizeof quoted, "\"%s\" has 2 entries", keys[k]);
        refused(NULL, save(doc, name), "variable /x", quoted, "feature_shape (3,) gives 3", NULL);
    }
    json_t *doc = good_state(0);
    json_array_append_new(xarr(doc, "m2"), json_real(1));
    refused(NULL, save(doc, "long.json"), "variable /x", "\"m2\" has 4 entries", NULL);
    doc = good_state(0);
    json_object_del(json_object_get(json_object_get(doc, "variables"), "/x"), "var");
    refused(NULL, save(doc, "novar.json"), "variable /x", "\"var\" is missing", NULL);
}

Test(states, a_ddof_mismatch_between_files_is_refused)
{
    const char *a = save(good_state(0), "d0.json"), *b = save(good_state(1), "d1.json");
    refused(a, b, "ddof 1", "ddof 0", NULL);
    json_t *doc = good_state(0);
    json_object_set_new(json_object_get(doc, "provenance"), "ddof", json_integer(-2));
    refused(NULL, save(doc, "dneg.json"), "provenance.ddof", NULL);
}

/* Counts that a merge would carry past INT64_MAX: refused, and `merge` writes nothing. */
Test(states, count_overflow_is_refused)
{
    json_t *doc = good_state(0);
    json_array_set_new(xarr(doc, "count"), 1, json_integer(INT64_MAX - 10));
    const char *a = save(doc, "big-a.json");
    doc = good_state(0);
    json_array_set_new(xarr(doc, "count"), 1, json_integer(11));
    json_array_set_new(xarr(doc, "m2"), 1, json_real(0)); /* within what 11 values in [min, max] allow */
    const char *b = save(doc, "big-b.json");
    refused(a, b, "variable /x", "feature 1", "count", "overflows", NULL);
    doc = good_state(0);
    json_array_set_new(xarr(doc, "missing"), 0, json_integer(INT64_MAX));
    const char *c = save(doc, "big-c.json");
    doc = good_state(0);
    json_array_set_new(xarr(doc, "missing"), 0, json_integer(1));
    refused(c, save(doc, "big-d.json"), "variable /x", "feature 0", "missing", "overflows", NULL);
    doc = good_state(0);
    json_array_set_new(json_object_get(json_object_get(json_object_get(doc, "variables"), "/x"), "shape"), 0,
                       json_integer(INT64_MAX));
    const char *e = save(doc, "rows-e.json");
    refused(e, save(good_state(0), "rows-f.json"), "variable /x", "rows", "overflow", NULL);

    const char *out = tu_path("merged.json");
    const char *args[] = {"merge", a, b, "-o", out, NULL};
    cr_assert_eq(tu_cli(args), 15, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "overflows"), "%s", tu_stderr());
    cr_assert(!tu_exists(out), "nothing is written");
    cr_assert(!tu_any_temporary(tu_dir()), "no temporary is left");
}

/* The same checks on HDF5 state files. */
static const char *h5_state(const char *name)
{
    json_t *doc = good_state(0);
    json_decref(doc);
    h5prep_stats_config c = h5prep_stats_config_default();
    c.backend = H5PREP_BACKEND_CPU;
    const char *inputs[] = {tu_input(tu_path("good.h5"), "/x")};
    h5prep_stats *s = tu_run(&c, inputs, 1);
    const char *path = tu_path(name);
    cr_assert_eq(h5prep_stats_write(s, path), H5PREP_OK, "%s", h5prep_last_error());
    h5prep_stats_destroy(s);
    return path;
}

static void h5_set(const char *path, const char *dset, hid_t mtype, const void *vals, size_t n)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert(f >= 0);
    char full[256];
    snprintf(full, sizeof full, "/variables/x/%s", dset);
    if (n == 0) { /* replace by a dataset of 2 entries */
        H5Ldelete(f, full, H5P_DEFAULT);
        hsize_t d = 2;
        hid_t sp = H5Screate_simple(1, &d, NULL);
        hid_t ds = H5Dcreate2(f, full, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        double z[2] = {0, 0};
        cr_assert(ds >= 0 && H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, z) >= 0);
        H5Dclose(ds);
        H5Sclose(sp);
    } else {
        hid_t ds = H5Dopen2(f, full, H5P_DEFAULT);
        cr_assert(ds >= 0 && H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, vals) >= 0);
        H5Dclose(ds);
    }
    H5Fclose(f);
}

Test(states, hdf5_state_files_are_checked_alike)
{
    double lo[3] = {0, 1e6, 20}, m2[3] = {1, NAN, 1}, mean[3] = {100, 13, 23};
    int64_t cnt[3] = {50, 50, -1};
    const struct {
        const char *file, *dset;
        hid_t mtype;
        const void *vals;
        const char *feature, *problem;
    } cases[] = {
        {"h-min.h5", "min", H5T_NATIVE_DOUBLE, lo, "feature 1", "greater than max"},
        {"h-m2.h5", "m2", H5T_NATIVE_DOUBLE, m2, "feature 1", "m2 is not a number"},
        {"h-mean.h5", "mean", H5T_NATIVE_DOUBLE, mean, "feature 0", "outside [min, max]"},
        {"h-count.h5", "count", H5T_NATIVE_INT64, cnt, "feature 2", "count is negative"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const char *p = h5_state(cases[k].file);
        h5_set(p, cases[k].dset, cases[k].mtype, cases[k].vals, 3);
        refused(NULL, p, "variable /x", cases[k].feature, cases[k].problem, NULL);
    }
    const char *p = h5_state("h-std.h5");
    h5_set(p, "std", 0, NULL, 0);
    refused(NULL, p, "variable /x", "\"std\" has 2 entries", NULL);
}

/* ---- transform ----------------------------------------------------------------------- */

/* z-score of a feature whose standard deviation float64 cannot hold (values +-1e308): that
 * feature's output is NaN, not the values divided by 1; the others are normalized. */
Test(numbers, transform_refuses_a_feature_it_cannot_normalize)
{
    enum { N = 40 };
    static double x[N * 2];
    for (int n = 0; n < N; n++) {
        x[2 * n] = n % 2 ? 1e308 : -1e308;
        x[2 * n + 1] = n;
    }
    uint64_t dims[2] = {N, 2};
    const char *in = tu_path("wide.h5");
    tu_write(in, "/w", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, x, 0);
    const char *recipe = tu_path("w.yaml");
    FILE *f = fopen(recipe, "w");
    fprintf(f,
            "inputs: {files: %s, variables: [w]}\n"
            "outputs:\n  z: {from: w, normalize: zscore, cast: float64}\n  m: {from: w, normalize: minmax, cast: float64}\n"
            "split: {fractions: {all: 1.0}, shuffle: false}\nwrite: {hdf5: true}\n",
            in);
    fclose(f);
    const char *bins[] = {H5PREP_CLI, H5PREP_CLI_SIMT}, *backends[] = {"cpu", "cuda"};
    for (int b = 0; b < 2; b++) {
        char out[600];
        snprintf(out, sizeof out, "%s/out-%s", tu_dir(), backends[b]);
        const char *args[] = {"transform", recipe, "--out", out, "--quiet", "--backend", backends[b], NULL};
        int rc = tu_cli_with(bins[b], args);
        cr_assert_eq(rc, 15, "%s: exit %d: %s", backends[b], rc, tu_stderr());
        cr_assert(strstr(tu_stderr(), "output 'z': feature 0: its standard deviation exceeds float64"), "%s: %s",
                  backends[b], tu_stderr());
        cr_assert(!tu_exists(out), "%s: nothing is published", backends[b]);
    }
    /* the feature that can be normalized alone runs */
    f = fopen(recipe, "w");
    fprintf(f,
            "inputs: {files: %s, variables: [w]}\n"
            "outputs:\n  z: {from: {slice: {of: w, axis: 1, start: 1, stop: 2}}, normalize: zscore, cast: float64}\n"
            "split: {fractions: {all: 1.0}, shuffle: false}\nwrite: {hdf5: true}\n",
            in);
    fclose(f);
    char out[600], file[700];
    snprintf(out, sizeof out, "%s/out-ok", tu_dir());
    const char *args[] = {"transform", recipe, "--out", out, "--quiet", "--backend", "cpu", NULL};
    cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
    snprintf(file, sizeof file, "%s/all.h5", out);
    hid_t h = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    double z[N];
    hid_t d = H5Dopen2(h, "z", H5P_DEFAULT);
    cr_assert(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, z) >= 0);
    H5Dclose(d), H5Fclose(h);
    double sd = sqrt((N * N - 1) / 12.0);
    for (int n = 0; n < N; n++)
        tu_close(z[n], (n - (N - 1) / 2.0) / sd, 1e-12, 1e-12, "z", 0);
}
