/* test_cli.c: the h5prep command line as a person meets it: exit codes, the messages on stderr
 * for each kind of bad input, and no output file left behind when a run fails. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA H5PREP_SOURCE_DIR "/data/"
#define NC4 DATA "nc4uvt.nc"

/* Runs `stats ARG -o OUT.json` and checks the exit code, a phrase of the message, and that no
 * output or temporary file exists afterwards. */
static void expect_failure(const char *arg, const char *extra, int code, const char *phrase)
{
    const char *out = tu_path("out.json");
    const char *args[] = {"stats", arg, "-o", out, "--quiet", extra, NULL};
    int rc = tu_cli(args);
    cr_assert_eq(rc, code, "stats %s: exit %d, want %d; stderr: %s", arg, rc, code, tu_stderr());
    cr_assert(strstr(tu_stderr(), phrase), "stats %s: stderr lacks \"%s\": %s", arg, phrase, tu_stderr());
    cr_assert(strncmp(tu_stderr(), "h5prep", 6) == 0, "messages start with the program name: %s", tu_stderr());
    cr_assert(!tu_exists(out), "a failed run left %s behind", out);
    cr_assert(!tu_any_temporary(tu_dir()), "a failed run left a temporary file");
}

static void copy_prefix(const char *src, const char *dst, size_t n)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    cr_assert(in && out);
    char *buf = malloc(n);
    size_t got = fread(buf, 1, n, in);
    fwrite(buf, 1, got, out);
    free(buf);
    fclose(in);
    fclose(out);
}

Test(cli, missing_file)
{
    expect_failure(tu_input(tu_path("nope.h5"), "/x"), NULL, 3, "no such file");
    expect_failure(tu_input(tu_path("nope-*.h5"), "/x"), NULL, 3, "matched no files");
}

Test(cli, not_hdf5)
{
    const char *p = tu_path("text.h5");
    tu_write_text(p, "time,value\n1,2\n");
    expect_failure(tu_input(p, "/x"), NULL, 4, "not an HDF5 or netCDF-4 file");
    const char *nc3 = tu_path("classic.nc");
    tu_write_text(nc3, "CDF\001 a netCDF-3 header");
    expect_failure(tu_input(nc3, "/x"), NULL, 4, "netCDF-3 classic");
    cr_assert(strstr(tu_stderr(), "hint: convert it with 'nccopy -k nc4"), "%s", tu_stderr());
}

Test(cli, truncated_hdf5)
{
    const char *p = tu_path("truncated.nc");
    copy_prefix(NC4, p, 20000);
    expect_failure(tu_input(p, "/T"), NULL, 5, "truncated or damaged");
}

Test(cli, missing_dataset_and_group)
{
    expect_failure(NC4 ":/nothing", NULL, 6, "nc4uvt.nc:/nothing: no such dataset");
    cr_assert(strstr(tu_stderr(), "hint: list the datasets with 'h5prep info"), "%s", tu_stderr());
    expect_failure(NC4 ":/nogroup/T", NULL, 6, "\"/nogroup\" does not exist");
    expect_failure(NC4 ":/grp1", NULL, 7, "nc4uvt.nc:/grp1: is a group, not a dataset");
}

Test(cli, string_and_compound_datasets)
{
    expect_failure(DATA "MLL2217907250U.003.nc:/sweep_mode", NULL, 8, "holds string values");
    const char *p = tu_path("compound.h5");
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t t = H5Tcreate(H5T_COMPOUND, 16);
    H5Tinsert(t, "a", 0, H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "b", 8, H5T_NATIVE_DOUBLE);
    hsize_t n = 4;
    hid_t sp = H5Screate_simple(1, &n, NULL);
    double v[8] = {0};
    hid_t d = H5Dcreate2(f, "/c", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d), H5Sclose(sp), H5Tclose(t), H5Fclose(f);
    expect_failure(tu_input(p, "/c"), NULL, 8, "holds compound values");
}

Test(cli, mismatched_shapes_name_the_file)
{
    double x[20] = {0};
    uint64_t a[2] = {4, 3}, b[2] = {4, 5};
    tu_write(tu_path("m-1.h5"), "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, a, x, 0);
    tu_write(tu_path("m-2.h5"), "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, b, x, 0);
    expect_failure(tu_input(tu_path("m-*.h5"), "/x"), NULL, 9, "m-2.h5:/x: shape (4, 5) does not match (4, 3) in");
}

Test(cli, zero_length_dimension)
{
    const char *p = tu_path("empty.h5");
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {0, 3}, maxd[2] = {H5S_UNLIMITED, 3}, chunk[2] = {16, 3};
    hid_t sp = H5Screate_simple(2, dims, maxd), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, chunk);
    hid_t d = H5Dcreate2(f, "/x", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Dclose(d), H5Pclose(dcpl), H5Sclose(sp), H5Fclose(f);
    expect_failure(tu_input(p, "/x"), NULL, 10, "has a zero-length dimension: shape (0, 3)");
}

Test(cli, invalid_keep_axes)
{
    const char *out = tu_path("out.json");
    expect_failure(NC4 ":/T", "--keep-axes=5", 11, "dataset has rank 4 but --keep-axes 5 was given (valid: 0..3)");
    expect_failure(NC4 ":/T", "--keep-axes=1,3", 11, "kept axes must be consecutive");
    expect_failure(NC4 ":/T", "--keep-axes=x", 11, "expected 'none'");
    expect_failure(NC4 ":/T", "--keep-axes=3,4", 11, "--keep-axes 3,4 was given");
    (void)out;
}

Test(cli, unwritable_output)
{
    /* a folder that cannot be: a path through a regular file */
    const char *file = tu_path("plain-file");
    tu_write_text(file, "not a folder\n");
    char bad[4096];
    snprintf(bad, sizeof bad, "%s/sub/out.json", file);
    const char *args[] = {"stats", NC4 ":/T", "-o", bad, NULL};
    cr_assert_eq(tu_cli(args), 12, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "plain-file/sub: cannot create the folder for") && strstr(tu_stderr(), "Not a directory"),
              "%s", tu_stderr());
    /* folders that do not exist yet are created, as `mkdir -p` would */
    char deep[4096];
    snprintf(deep, sizeof deep, "%s/new/sub/out.json", tu_dir());
    const char *args5[] = {"stats", NC4 ":/T", "-o", deep, "--quiet", NULL};
    cr_assert_eq(tu_cli(args5), 0, "%s", tu_stderr());
    cr_assert(tu_exists(deep));
    /* an input is never overwritten, even when its extension is an output format */
    const char *copy = tu_path("input.nc");
    copy_prefix(NC4, copy, 1u << 24);
    const char *args3[] = {"stats", tu_input(copy, "/T"), "-o", copy, NULL};
    cr_assert_eq(tu_cli(args3), 12, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "input.nc: is the input") && strstr(tu_stderr(), "does not overwrite its inputs"),
              "%s", tu_stderr());
    const char *args4[] = {"info", copy, NULL};
    cr_assert_eq(tu_cli(args4), 0, "the input is intact: %s", tu_stderr());
    const char *args2[] = {"stats", NC4 ":/T", "-o", tu_path("out.csv"), NULL};
    cr_assert_eq(tu_cli(args2), 2, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "name the output *.json or *.h5"), "%s", tu_stderr());
}

Test(cli, usage_errors)
{
    const char *a1[] = {"stats", NULL};
    cr_assert_eq(tu_cli(a1), 2);
    cr_assert(strstr(tu_stderr(), "no inputs"), "%s", tu_stderr());
    const char *a2[] = {"stats", "--bogus", NC4 ":/T", NULL};
    cr_assert_eq(tu_cli(a2), 2);
    const char *a3[] = {"frobnicate", NULL};
    cr_assert_eq(tu_cli(a3), 2);
    cr_assert(strstr(tu_stderr(), "unknown command 'frobnicate'"), "%s", tu_stderr());
    const char *a4[] = {"stats", NC4, NULL};
    cr_assert_eq(tu_cli(a4), 2);
    cr_assert(strstr(tu_stderr(), "expected FILE:DATASET"), "%s", tu_stderr());
    const char *a5[] = {"stats", "--mem", "lots", NC4 ":/T", NULL};
    cr_assert_eq(tu_cli(a5), 2);
    const char *a6[] = {"stats", "--backend", "cuda", NC4 ":/T", NULL};
    cr_assert_eq(tu_cli(a6), 14, "this machine has no GPU: %s", tu_stderr());
#ifdef H5PREP_HAVE_CUDA
    cr_assert(strstr(tu_stderr(), "h5prep: no CUDA device answers ("), "%s", tu_stderr());
#else
    cr_assert(strstr(tu_stderr(), "has no CUDA backend"), "%s", tu_stderr());
#endif
    cr_assert(strstr(tu_stderr(), "--backend cpu"), "the hint names the way out: %s", tu_stderr());
    /* auto falls back to the CPU silently, and says so in one line with --verbose */
    const char *a7[] = {"stats", NC4 ":/T", "--json", NULL};
    cr_assert_eq(tu_cli(a7), 0, "%s", tu_stderr());
    cr_assert(!strstr(tu_stderr(), "running on the CPU"), "%s", tu_stderr());
#ifdef H5PREP_HAVE_CUDA
    const char *a8[] = {"stats", NC4 ":/T", "--json", "--verbose", NULL};
    cr_assert_eq(tu_cli(a8), 0, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "; running on the CPU\n") && strstr(tu_stderr(), "h5prep: no CUDA device answers"),
              "%s", tu_stderr());
#endif
}

Test(cli, help_teaches)
{
    const char *a1[] = {"help", "stats", NULL};
    cr_assert_eq(tu_cli(a1), 0);
    cr_assert(strstr(tu_stdout(), "--keep-axes") && strstr(tu_stdout(), "Examples"), "%s", tu_stdout());
    const char *a2[] = {"--help", NULL};
    cr_assert_eq(tu_cli(a2), 0);
    cr_assert(strstr(tu_stdout(), "h5prep merge"), "%s", tu_stdout());
    const char *a3[] = {"--version", NULL};
    cr_assert_eq(tu_cli(a3), 0);
    cr_assert(strstr(tu_stdout(), h5prep_version()));
}

Test(cli, stats_json_h5_and_merge_round_trip)
{
    const char *j = tu_path("t.json"), *h = tu_path("t.h5"), *m = tu_path("m.json");
    const char *a1[] = {"stats", NC4 ":/T", NC4 ":/grp1/T", "-k", "1", "-o", j, NULL};
    cr_assert_eq(tu_cli(a1), 0, "%s", tu_stderr());
    const char *a2[] = {"stats", NC4 ":/T", "-k", "1", "-o", h, "--quiet", NULL};
    cr_assert_eq(tu_cli(a2), 0, "%s", tu_stderr());
    cr_assert_str_empty(tu_stderr());
    const char *a3[] = {"merge", j, h, "-o", m, NULL};
    cr_assert_eq(tu_cli(a3), 0, "%s", tu_stderr());

    json_error_t err;
    json_t *doc = json_load_file(m, 0, &err);
    cr_assert_not_null(doc, "%s", err.text);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "format")), "h5prep-stats/1");
    json_t *t = json_object_get(json_object_get(doc, "variables"), "/T");
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(t, "shape"), 0)), 2, "axis 0 is summed");
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(t, "count"), 0)), 2 * 64 * 128);
    cr_assert_eq(json_array_size(json_object_get(t, "mean")), 14);
    cr_assert_not_null(json_object_get(json_object_get(doc, "variables"), "/grp1/T"), "carried over");
    json_t *prov = json_object_get(doc, "provenance");
    cr_assert_eq(json_array_size(json_object_get(prov, "merged_from")), 2);
    cr_assert_eq(json_array_size(json_object_get(prov, "inputs")), 3);
    json_decref(doc);

    /* the same statistics file twice (by another spelling too) would count it twice */
    char again[4096];
    snprintf(again, sizeof again, "%s/./t.json", tu_dir());
    const char *a4[] = {"merge", j, h, again, "-o", tu_path("m2.json"), NULL};
    cr_assert_eq(tu_cli(a4), 2, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "loaded already; a merge counts each statistics file once"), "%s", tu_stderr());
    cr_assert(!tu_exists(tu_path("m2.json")));
    /* a merge never writes over one of its inputs */
    const char *a5[] = {"merge", j, h, "-o", j, NULL};
    cr_assert_eq(tu_cli(a5), 12, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "does not overwrite its inputs"), "%s", tu_stderr());
    doc = json_load_file(j, 0, &err);
    cr_assert_not_null(doc, "the input is intact: %s", err.text);
    json_decref(doc);
}

Test(cli, verbose_says_how_data_was_read)
{
    const char *a1[] = {"stats", NC4 ":/T", "--verbose", "--quiet", "--json", NULL};
    cr_assert_eq(tu_cli(a1), 0, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "h5prep: /T: raw chunks decoded in parallel (shuffle+deflate), backend cpu"),
              "%s", tu_stderr());
}

Test(cli, summary_table_and_info)
{
    const char *a1[] = {"stats", NC4 ":/T", "--keep-axes", "1", NULL};
    cr_assert_eq(tu_cli(a1), 0, "%s", tu_stderr());
    cr_assert(strstr(tu_stdout(), "/T  shape (1, 14, 64, 128)  features (14,)"), "%s", tu_stdout());
    cr_assert(strstr(tu_stdout(), "2 more features"), "%s", tu_stdout());
    const char *a2[] = {"info", NC4, NULL};
    cr_assert_eq(tu_cli(a2), 0, "%s", tu_stderr());
    cr_assert(strstr(tu_stdout(), "/grp1/T"), "%s", tu_stdout());
    cr_assert(strstr(tu_stdout(), "shuffle, deflate(2)") && strstr(tu_stdout(), "_FillValue=-999"), "%s", tu_stdout());
    const char *a3[] = {"info", tu_path("none.h5"), NULL};
    cr_assert_eq(tu_cli(a3), 3);
}

/* One rule for repeated FILE:DATASET arguments: the same dataset path is one dataset, its files
 * joined along axis 0 in argument order, with a warning; the help says so. */
Test(cli, repeated_dataset_arguments_are_one_dataset_with_a_warning)
{
    const char *a = tu_path("a.h5"), *b = tu_path("b.h5"), *out = tu_path("ab.json");
    double xa[6] = {1, 2, 3, 4, 5, 6}, xb[4] = {10, 20, 30, 40};
    uint64_t da[2] = {3, 2}, db[2] = {2, 2};
    tu_write(a, "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, da, xa, 0);
    tu_write(b, "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, db, xb, 0);
    const char *args[] = {"stats", tu_input(a, "/x"), tu_input(b, "x"), "-k", "none", "-o", out, "--quiet", NULL};
    cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "h5prep: warning: ") && strstr(tu_stderr(), "b.h5:x: the dataset /x was given before"),
              "%s", tu_stderr());
    json_t *root = json_load_file(out, 0, NULL);
    cr_assert_not_null(root);
    json_t *vars = json_object_get(root, "variables");
    cr_assert_eq(json_object_size(vars), 1, "one dataset, not two");
    json_t *count = json_object_get(json_object_get(vars, "/x"), "count");
    cr_assert_eq(json_integer_value(json_array_get(count, 0)), 10);
    json_decref(root);
    /* different dataset paths: no warning */
    tu_write(a, "/y", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, da, xa, 0);
    const char *args2[] = {"stats", tu_input(a, "/x"), tu_input(a, "/y"), "--json", NULL};
    cr_assert_eq(tu_cli(args2), 0, "%s", tu_stderr());
    cr_assert(!strstr(tu_stderr(), "warning"), "%s", tu_stderr());
    const char *help[] = {"help", "stats", NULL};
    cr_assert_eq(tu_cli(help), 0);
    cr_assert(strstr(tu_stdout(), "that name the same dataset path are one dataset"), "%s", tu_stdout());
}

/* A dataset path that differs only in case (and slashes) from one in the file is named in the hint. */
Test(cli, did_you_mean_a_dataset)
{
    expect_failure(NC4 ":/t", NULL, 6, "nc4uvt.nc:/t: no such dataset");
    cr_assert(strstr(tu_stderr(), "hint: did you mean " NC4 ":/T?"), "%s", tu_stderr());
    expect_failure(NC4 ":/GRP1//t/", NULL, 6, "no such dataset");
    cr_assert(strstr(tu_stderr(), "hint: did you mean " NC4 ":/grp1/T?"), "%s", tu_stderr());
    expect_failure(NC4 ":/nothing", NULL, 6, "no such dataset");
    cr_assert(!strstr(tu_stderr(), "did you mean"), "%s", tu_stderr());
}

/* A misspelt long option gets the closest one; an option far from all of them gets none. */
Test(cli, did_you_mean_an_option)
{
    const char *a1[] = {"stats", "--kep-axes", "1", NC4 ":/T", NULL};
    cr_assert_eq(tu_cli(a1), 2);
    cr_assert(strstr(tu_stderr(), "h5prep stats: did you mean --keep-axes?"), "%s", tu_stderr());
    const char *a2[] = {"transform", "--ovewrite", "r.yaml", NULL};
    cr_assert_eq(tu_cli(a2), 2);
    cr_assert(strstr(tu_stderr(), "h5prep transform: did you mean --overwrite?"), "%s", tu_stderr());
    const char *a3[] = {"merge", "--jsno", "a.json", NULL};
    cr_assert_eq(tu_cli(a3), 2);
    cr_assert(strstr(tu_stderr(), "did you mean --json?"), "%s", tu_stderr());
    const char *a4[] = {"stats", "--threds=4", NC4 ":/T", NULL};
    cr_assert_eq(tu_cli(a4), 2);
    cr_assert(strstr(tu_stderr(), "did you mean --threads?"), "%s", tu_stderr());
    const char *a5[] = {"stats", "--bogus", NC4 ":/T", NULL};
    cr_assert_eq(tu_cli(a5), 2);
    cr_assert(!strstr(tu_stderr(), "did you mean") && strstr(tu_stderr(), "lists the options"), "%s", tu_stderr());
}
