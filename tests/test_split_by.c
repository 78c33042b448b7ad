/* test_split_by.c: splits given by files, by blocks of rows and by a time coordinate, end to end:
 * which rows land where and their normalization against numpy (tests/check_splits.py), on the CPU
 * and through the SIMT harness, and the bad inputs that must stop a run before any data is read. */
#include "testutil.h"

#include "input/cf.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NFILES = 4, N = 37 };
static const char *const YEARS[NFILES] = {"y2013a.h5", "y2014a.h5", "y2014b.h5", "y2015a.h5"};
static const int ROWS[NFILES] = {5, 9, 13, 10}; /* 37 rows in all */

/* Four files of x (rows, 3) float64 and time (rows,) = 10 * global row (days); nan_row >= 0 puts
 * a missing time there. Returns the scratch directory. */
static const char *make_years(int nan_row)
{
    static char dir[512];
    snprintf(dir, sizeof dir, "%s", tu_dir());
    int g = 0;
    for (int f = 0; f < NFILES; f++) {
        double x[13 * 3], t[13];
        for (int r = 0; r < ROWS[f]; r++, g++) {
            for (int c = 0; c < 3; c++)
                x[r * 3 + c] = 1e6 * c + 0.37 * g * g - 5.0 * g + c;
            t[r] = g == nan_row ? NAN : 10.0 * g;
        }
        char path[700];
        snprintf(path, sizeof path, "%s/%s", dir, YEARS[f]);
        uint64_t dx[] = {(uint64_t)ROWS[f], 3}, dt[] = {(uint64_t)ROWS[f]};
        tu_write(path, "x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dx, x, 0);
        tu_write(path, "time", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, dt, t, 0);
        tu_attr_text(path, "time", "units", "days since 2010-01-01");
    }
    return dir;
}

/* Writes the recipe (output x z-scored, the given split) and runs it; returns the exit code. */
static int run_split(const char *binary, const char *backend, const char *dir, const char *vars, const char *split,
                     const char *out)
{
    return tu_transform_fmt(binary, backend, out, dir, "split.yaml",
                            "inputs: {files: '%s/y20*.h5', variables: %s}\n"
                            "outputs:\n  x: {from: x, normalize: zscore, cast: float64}\n"
                            "split: %s\n"
                            "write: {hdf5: true}\n",
                            dir, vars, split);
}

/* check_splits.py over the output directory; `args` are its --by/--split/... arguments. */
static void check(const char *dir, const char *out, const char *args)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s/tests/check_splits.py --out '%s' --input '%s/y20*.h5' --dset /x %s", H5PREP_PYTHON,
             H5PREP_SOURCE_DIR, out, dir, args);
    cr_assert_eq(system(cmd), 0, "check_splits.py found a mismatch (its message is above): %s", cmd);
}

static void run_ok(const char *binary, const char *backend, const char *dir, const char *vars, const char *split,
                   const char *out)
{
    int rc = run_split(binary, backend, dir, vars, split, out);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, tu_stderr());
}

/* A failing run: exit code 2 or the given one, every phrase in its message, no output left. */
static void run_fails(const char *dir, const char *vars, const char *split, int code, const char *const *phrases)
{
    char out[700];
    snprintf(out, sizeof out, "%s/bad-out", dir);
    int rc = run_split(H5PREP_CLI, "cpu", dir, vars, split, out);
    cr_assert_eq(rc, code, "exit %d, want %d: %s", rc, code, tu_stderr());
    for (int i = 0; phrases[i]; i++)
        cr_assert(strstr(tu_stderr(), phrases[i]), "stderr lacks \"%s\": %s", phrases[i], tu_stderr());
    cr_assert(!tu_exists(out), "a failed run left %s behind", out);
    cr_assert(!tu_any_temporary(dir), "a failed run left its temporary directory");
}
#define FAILS(dir, vars, split, code, ...) run_fails((dir), (vars), (split), (code), (const char *const[]){__VA_ARGS__, NULL})

/* "DIR/NAME" for the recipe's globs. */
static const char *at(const char *dir, const char *name)
{
    static char ring[8][700];
    static int k;
    char *s = ring[k++ % 8];
    snprintf(s, 700, "%s/%s", dir, name);
    return s;
}

/* ---- by files ------------------------------------------------------------------------------- */

/* The files split (extra: more keys of it) run by binary on backend into DIR/out, checked against
 * check_splits.py given the same split (extra_args: its options for those keys). */
static void files_case(const char *dir, const char *extra, const char *extra_args, const char *binary,
                       const char *backend, const char *out)
{
    char split[4096], args[4096];
    snprintf(split, sizeof split, "{by: files, assign: {train: ['%s', '%s'], val: '%s', test: ['%s']}%s}",
             at(dir, "y2013*.h5"), at(dir, "y2015*"), at(dir, "y2014a.h5"), at(dir, "y2014b.h5"), extra);
    snprintf(args, sizeof args, "--by files --split 'train=%s,%s' --split 'val=%s' --split 'test=%s' %s",
             at(dir, "y2013*.h5"), at(dir, "y2015*"), at(dir, "y2014a.h5"), at(dir, "y2014b.h5"), extra_args);
    run_ok(binary, backend, dir, "[x]", split, at(dir, out));
    check(dir, at(dir, out), args);
}

Test(split_by, files_keep_input_order)
{
    files_case(make_years(-1), "", "", H5PREP_CLI, "cpu", "out");
}

Test(split_by, files_shuffled_with_a_seed)
{
    const char *dir = make_years(-1);
    files_case(dir, ", shuffle: true, seed: 5", "--shuffle", H5PREP_CLI, "cpu", "a");
    files_case(dir, ", shuffle: true, seed: 5", "--shuffle", H5PREP_CLI_SIMT, "cuda", "b");
    json_t *a = json_load_file(at(dir, "a/split.json"), 0, NULL), *b = json_load_file(at(dir, "b/split.json"), 0, NULL);
    cr_assert(a && b);
    json_t *train = json_object_get(json_object_get(json_object_get(a, "splits"), "train"), "indices");
    int in_order = 1;
    for (size_t i = 1; i < json_array_size(train); i++)
        in_order &= json_integer_value(json_array_get(train, i)) > json_integer_value(json_array_get(train, i - 1));
    cr_assert(!in_order, "shuffle: true permutes the 15 train rows");
    cr_assert(json_equal(json_object_get(a, "splits"), json_object_get(b, "splits")), "the same seed, the same order");
    json_decref(a);
    json_decref(b);
}

Test(split_by, a_file_in_two_splits_or_in_none_is_named)
{
    const char *dir = make_years(-1);
    char split[4096];
    snprintf(split, sizeof split, "{by: files, assign: {train: '%s', val: '%s'}}", at(dir, "y201[35]*.h5"),
             at(dir, "y201[34]*.h5"));
    FAILS(dir, "[x]", split, 2, "y2013a.h5 is in split 'train'", "and in split 'val'", "exactly one split");
    snprintf(split, sizeof split, "{by: files, assign: {train: '%s', val: '%s'}}", at(dir, "y2013*.h5"),
             at(dir, "y2014*.h5"));
    FAILS(dir, "[x]", split, 2, "y2015a.h5 is in no split");
}

/* ---- by rows -------------------------------------------------------------------------------- */

Test(split_by, rows_in_blocks_cpu_and_simt)
{
    const char *dir = make_years(-1);
    const char *split = "{by: rows, ranges: {train: [0, 0.8], val: [0.8, 0.9], test: [0.9, 1.0]}}";
    const char *args = "--by rows --split train=0,0.8 --split val=0.8,0.9 --split test=0.9,1.0";
    run_ok(H5PREP_CLI, "cpu", dir, "[x]", split, at(dir, "cpu"));
    check(dir, at(dir, "cpu"), args);
    run_ok(H5PREP_CLI_SIMT, "cuda", dir, "[x]", split, at(dir, "gpu"));
    check(dir, at(dir, "gpu"), args);
    /* round(0.8 * 37) = 30, round(0.9 * 37) = 33 (33.3) */
    json_t *m = json_load_file(at(dir, "cpu/split.json"), 0, NULL);
    json_t *sp = json_object_get(m, "splits");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(sp, "train"), "count")), 30);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(sp, "val"), "count")), 3);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(sp, "test"), "count")), 4);
    json_decref(m);
}

Test(split_by, rows_with_a_gap_and_normalize_with_any_split)
{
    const char *dir = make_years(-1);
    /* 0.5 * 37 = 18.5 -> 19, 0.6 * 37 = 22.2 -> 22: rows 19, 20, 21 are in no split */
    run_ok(H5PREP_CLI, "cpu", dir, "[x]", "{by: rows, ranges: {train: [0, 0.5], test: [0.6, 1]}, normalize_with: all}",
           at(dir, "all"));
    check(dir, at(dir, "all"), "--by rows --split train=0,0.5 --split test=0.6,1 --normalize-with all");
    json_t *m = json_load_file(at(dir, "all/split.json"), 0, NULL);
    cr_assert_eq(json_integer_value(json_object_get(m, "dropped")), 3);
    json_decref(m);
    run_ok(H5PREP_CLI, "cpu", dir, "[x]",
           "{by: rows, ranges: {train: [0, 0.5], val: [0.5, 0.6], test: [0.6, 1]}, normalize_with: val}", at(dir, "val"));
    check(dir, at(dir, "val"), "--by rows --split train=0,0.5 --split val=0.5,0.6 --split test=0.6,1 --normalize-with val");
    run_ok(H5PREP_CLI, "cpu", dir, "[x]", "{by: rows, ranges: {train: [0, 0.5], test: [0.5, 1]}, normalize_with: test}",
           at(dir, "test"));
    check(dir, at(dir, "test"), "--by rows --split train=0,0.5 --split test=0.5,1 --normalize-with test");
}

/* ---- by time -------------------------------------------------------------------------------- */

Test(split_by, time_from_a_file_and_from_a_variable)
{
    const char *dir = make_years(-1);
    char split[4096];
    snprintf(split, sizeof split, "{by: time, coordinate: '%s:/time', ranges: {train: [0, 200], val: [200, 300], test: [300, .inf]}}",
             at(dir, "y20*.h5"));
    char args[4096];
    snprintf(args, sizeof args, "--by time --coordinate '%s:/time' --split train=0,200 --split val=200,300 --split test=300,inf",
             at(dir, "y20*.h5"));
    run_ok(H5PREP_CLI, "cpu", dir, "[x]", split, at(dir, "file"));
    check(dir, at(dir, "file"), args);
    /* the coordinate as a variable of the inputs, with rows in no split: 150 <= t < 205 */
    run_ok(H5PREP_CLI_SIMT, "cuda", dir, "[x, time]",
           "{by: time, coordinate: time, ranges: {test: [205, 1000], train: [-10, 150]}}", at(dir, "var"));
    snprintf(args, sizeof args, "--by time --coordinate '%s:/time' --split test=205,1000 --split train=-10,150",
             at(dir, "y20*.h5"));
    check(dir, at(dir, "var"), args);
}

Test(split_by, time_coordinate_missing_or_of_the_wrong_length)
{
    const char *dir = make_years(11); /* row 11: row 6 of y2014a.h5 */
    FAILS(dir, "[x, time]", "{by: time, coordinate: time, ranges: {train: [0, 1000]}}", 2,
          "y2014a.h5:/time: the time coordinate of sample 11 (row 6 of this file) is missing");
    char split[4096];
    snprintf(split, sizeof split, "{by: time, coordinate: '%s:/time', ranges: {train: [0, 1000]}}", at(dir, "y2013a.h5"));
    FAILS(dir, "[x]", split, 9, "has shape (5,), but the inputs have 37 samples", "shape (37,)");
    FAILS(dir, "[x]", "{by: time, coordinate: 'nofile.h5:/time', ranges: {train: [0, 1000]}}", 3, "nofile.h5",
          "split.coordinate");
}

/* ---- dates --------------------------------------------------------------------------------- */

/* Reference values from Python's datetime (proleptic Gregorian). */
Test(split_by, dates_in_cf_units)
{
    static const struct { const char *units, *calendar, *date; double want; } cases[] = {
        {"days since 1970-01-01", "", "2000-01-01", 10957},
        {"hours since 1900-01-01 00:00:00.0", "gregorian", "2013-01-01T06:00Z", 990558},
        {"minutes since 2000-1-1 0:0:0", "proleptic_gregorian", "2016-02-29 12:30", 8501070},
        {"seconds since 1970-01-01T00:00:00Z", "standard", "1969-12-31T23:59:59", -1},
        {"days since 2020-01-01", "", "2020-03-01T00:00+02:00", 59.916666666666664},
        {"days since 1582-10-15", "proleptic_gregorian", "1600-03-01", 6347},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = 0;
        cr_assert_eq(h5p_cf_date_value(cases[i].units, cases[i].calendar, cases[i].date, &got), H5PREP_OK, "%s",
                     h5prep_last_error());
        tu_close(got, cases[i].want, 1e-9, 1e-15, cases[i].date, i);
    }
    double x;
    cr_expect_eq(h5p_cf_date_value("days since 2000-01-01", "", "2019-02-29", &x), H5PREP_ERR_USAGE);
    cr_expect(strstr(h5prep_last_error(), "'2019-02-29' is not a date"), "%s", h5prep_last_error());
    cr_expect_eq(h5p_cf_date_value("days since 2000-01-01", "noleap", "2019-02-28", &x), H5PREP_ERR_USAGE);
    cr_expect(strstr(h5prep_last_error(), "calendar 'noleap' is not supported"), "%s", h5prep_last_error());
    cr_expect_eq(h5p_cf_date_value("days after 2000-01-01", "", "2019-02-28", &x), H5PREP_ERR_USAGE);
    cr_expect(strstr(h5prep_last_error(), "not CF time units"), "%s", h5prep_last_error());
    cr_expect_eq(h5p_cf_date_value("days since 1500-01-01", "standard", "2019-02-28", &x), H5PREP_ERR_USAGE);
    cr_expect(strstr(h5prep_last_error(), "before 1582-10-15"), "%s", h5prep_last_error());
}

/* The coordinate is in days since 2010-01-01: 2010-07-20 is day 200, 2010-10-28 day 300. */
Test(split_by, time_ranges_as_dates)
{
    const char *dir = make_years(-1);
    char split[4096], args[4096];
    snprintf(split, sizeof split,
             "{by: time, coordinate: '%s:/time', ranges: {train: [2010-01-01, 2010-07-20], val: [2010-07-20, '2010-10-28T00:00Z'], "
             "test: [2010-10-28, 2030-01-01]}}",
             at(dir, "y20*.h5"));
    snprintf(args, sizeof args, "--by time --coordinate '%s:/time' --split train=0,200 --split val=200,300 --split test=300,7305",
             at(dir, "y20*.h5"));
    run_ok(H5PREP_CLI, "cpu", dir, "[x]", split, at(dir, "out"));
    check(dir, at(dir, "out"), args);
    json_t *m = json_load_file(at(dir, "out/split.json"), 0, NULL);
    json_t *test = json_object_get(json_object_get(m, "ranges"), "test");
    cr_assert(json_number_value(json_array_get(test, 0)) == 300 && json_number_value(json_array_get(test, 1)) == 7305,
              "the manifest records the ranges in the coordinate's units");
    json_decref(m);
    snprintf(split, sizeof split, "{by: time, coordinate: '%s:/time', ranges: {train: [2010-01-01, 2010-07-20], test: [2010-07-01, 2011-01-01]}}",
             at(dir, "y20*.h5"));
    FAILS(dir, "[x]", split, 2, "split.ranges.test [181, 365) overlaps split 'train' [0, 200) (days since 2010-01-01)");
    FAILS(dir, "[x, time]", "{by: time, coordinate: time, ranges: {train: [2010-01-01, 2010-31-01]}}", 2,
          "split.ranges.train: expected a number or a date");
}
