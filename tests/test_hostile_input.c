/* test_hostile_input.c: inputs made to mislead: 64-bit fill values and valid ranges near 2^63,
 * CF attributes netCDF4-python warns about or refuses, never-written chunks, damaged metadata. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA H5PREP_SOURCE_DIR "/data/"

static const long long NC_FILL_INT64 = -9223372036854775806LL;
static const unsigned long long NC_FILL_UINT64 = 18446744073709551614ULL;

/* A scalar fixed-length string attribute, as netCDF writes NC_CHAR attributes. */
static void put_text_attr(const char *path, const char *dset, const char *name, const char *text)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(text));
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(d, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(a >= 0 && H5Awrite(a, t, text) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    H5Dclose(d);
    H5Fclose(f);
}

/* One statistic over the whole dataset (keep none) of path:/x, with the CPU backend. */
static h5prep_moments whole(const char *path)
{
    h5prep_stats_config c = h5prep_stats_config_default();
    c.keep_count = 0;
    c.backend = H5PREP_BACKEND_CPU;
    const char *inputs[] = {tu_input(path, "/x")};
    h5prep_stats *s = tu_run(&c, inputs, 1);
    h5prep_moments m = tu_view(s, 0).moments[0];
    h5prep_stats_destroy(s);
    return m;
}

/* The same through the CUDA kernels run on the CPU (h5prep-simt): count and missing. */
static void whole_simt(const char *path, long long *n, long long *missing)
{
    const char *args[] = {"stats", tu_input(path, "/x"), "--keep-axes", "none", "--backend", "cuda", "--json", "--quiet", NULL};
    int rc = tu_cli_with(H5PREP_CLI_SIMT, args);
    cr_assert_eq(rc, 0, "simt: exit %d: %s", rc, tu_stderr());
    json_error_t err;
    json_t *j = json_loads(tu_stdout(), 0, &err);
    cr_assert_not_null(j, "json: %s", err.text);
    json_t *v = json_object_get(json_object_get(j, "variables"), "/x");
    *n = json_integer_value(json_array_get(json_object_get(v, "count"), 0));
    *missing = json_integer_value(json_array_get(json_object_get(v, "missing"), 0));
    json_decref(j);
}

static void expect_counts(const char *path, long long n, long long missing)
{
    h5prep_moments m = whole(path);
    cr_assert_eq(m.n, n, "%s: cpu count %lld, want %lld", path, (long long)m.n, n);
    cr_assert_eq(m.missing, missing, "%s: cpu missing %lld, want %lld", path, (long long)m.missing, missing);
    long long gn, gm;
    whole_simt(path, &gn, &gm);
    cr_assert_eq(gn, n, "%s: cuda (simt) count %lld, want %lld", path, gn, n);
    cr_assert_eq(gm, missing, "%s: cuda (simt) missing %lld, want %lld", path, gm, missing);
}

/* stats on path:/x through the CLI: the exit code and a phrase of stderr. */
static void expect_cli(const char *path, int code, const char *phrase)
{
    const char *args[] = {"stats", tu_input(path, "/x"), "--keep-axes", "none", "--quiet", NULL};
    int rc = tu_cli(args);
    cr_assert_eq(rc, code, "%s: exit %d, want %d: %s", path, rc, code, tu_stderr());
    cr_assert(strstr(tu_stderr(), phrase), "%s: stderr lacks \"%s\": %s", path, phrase, tu_stderr());
}

/* ---- 64-bit integers: fill values and valid ranges compare exactly ------------------------- */

Test(int64, netcdf_default_fills_and_their_neighbours)
{
    long long i64[] = {NC_FILL_INT64 - 1, NC_FILL_INT64, NC_FILL_INT64 + 1, 5, NC_FILL_INT64, 7};
    uint64_t dims[1] = {6};
    const char *p = tu_path("i64.h5");
    tu_write(p, "/x", H5T_STD_I64LE, H5T_NATIVE_LLONG, 1, dims, i64, 0);
    tu_attr_typed(p, "/x", "_FillValue", H5T_STD_I64LE, H5T_NATIVE_LLONG, &NC_FILL_INT64, 1);
    expect_counts(p, 4, 2);

    unsigned long long u64[] = {NC_FILL_UINT64 - 1, NC_FILL_UINT64, NC_FILL_UINT64 + 1, 5, 6, NC_FILL_UINT64};
    const char *q = tu_path("u64.h5");
    tu_write(q, "/x", H5T_STD_U64LE, H5T_NATIVE_ULLONG, 1, dims, u64, 2);
    tu_attr_typed(q, "/x", "_FillValue", H5T_STD_U64LE, H5T_NATIVE_ULLONG, &NC_FILL_UINT64, 1);
    expect_counts(q, 4, 2);
}

Test(int64, fill_and_valid_min_above_2_pow_53)
{
    const long long b = 1LL << 53;
    long long v[] = {b, b + 1, b + 2, b + 1, b + 3};
    uint64_t dims[1] = {5};
    const char *p = tu_path("big.h5");
    tu_write(p, "/x", H5T_STD_I64LE, H5T_NATIVE_LLONG, 1, dims, v, 0);
    long long fill = b + 1;
    tu_attr_typed(p, "/x", "_FillValue", H5T_STD_I64LE, H5T_NATIVE_LLONG, &fill, 1);
    h5prep_moments m = whole(p);
    cr_assert_eq(m.missing, 2);
    cr_assert_eq(m.min, (double)b, "2^53 itself is data: min %.17g", m.min); /* not masked as a rounded fill */
    expect_counts(p, 3, 2);

    /* valid_min = 2^53 + 1 leaves 2^53 out (it rounds to the same float64) */
    const char *q = tu_path("bigmin.h5");
    tu_write(q, "/x", H5T_STD_I64LE, H5T_NATIVE_LLONG, 1, dims, v, 0);
    tu_attr_typed(q, "/x", "valid_min", H5T_STD_I64LE, H5T_NATIVE_LLONG, &fill, 1);
    expect_counts(q, 4, 1);
    /* a uint64 valid_max below 2^64 - 1 */
    unsigned long long u[] = {NC_FILL_UINT64 - 2, NC_FILL_UINT64 - 1, NC_FILL_UINT64, NC_FILL_UINT64 + 1, 0};
    unsigned long long vmax = NC_FILL_UINT64 - 1;
    const char *r = tu_path("bigmax.h5");
    tu_write(r, "/x", H5T_STD_U64LE, H5T_NATIVE_ULLONG, 1, dims, u, 0);
    tu_attr_typed(r, "/x", "valid_max", H5T_STD_U64LE, H5T_NATIVE_ULLONG, &vmax, 1);
    expect_counts(r, 3, 2);
}

/* A 64-bit fill stored as float64 is the float64 value: NC_FILL_INT64 rounds to -2^63, which is an
 * int64 (INT64_MIN, masked; NC_FILL_INT64 itself is data, as in netCDF4-python), and
 * NC_FILL_UINT64 rounds to 2^64, which no uint64 is: netCDF4-python warns and does not use it. */
Test(int64, fill_stored_as_float64_is_the_rounded_value)
{
    long long v[] = {NC_FILL_INT64, INT64_MIN, 1, 2};
    uint64_t dims[1] = {4};
    const char *p = tu_path("f64fill.h5");
    tu_write(p, "/x", H5T_STD_I64LE, H5T_NATIVE_LLONG, 1, dims, v, 0);
    double f = (double)NC_FILL_INT64;
    tu_attr_typed(p, "/x", "_FillValue", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &f, 1);
    expect_counts(p, 3, 1);

    unsigned long long u[] = {NC_FILL_UINT64, 1, 2, 3};
    const char *q = tu_path("f64ufill.h5");
    tu_write(q, "/x", H5T_STD_U64LE, H5T_NATIVE_ULLONG, 1, dims, u, 0);
    double g = (double)NC_FILL_UINT64;
    tu_attr_typed(q, "/x", "_FillValue", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &g, 1);
    expect_cli(q, 0, "h5prep: warning: ");
    cr_assert(strstr(tu_stderr(), "_FillValue 1.8446744073709552e+19 cannot be cast exactly to the dataset's type uint64: not used"),
              "%s", tu_stderr());
    expect_counts(q, 4, 0);
}

/* ---- netCDF4-python's rules for the CF attributes ------------------------------------------ */

static const char *int16_0_to_19(const char *name)
{
    short v[20];
    for (int i = 0; i < 20; i++)
        v[i] = (short)i;
    uint64_t dims[1] = {20};
    const char *p = tu_path(name);
    tu_write(p, "/x", H5T_STD_I16LE, H5T_NATIVE_SHORT, 1, dims, v, 0);
    return p;
}

Test(cf, valid_range_wins_over_valid_min)
{
    const char *p = int16_0_to_19("range.h5");
    short range[2] = {2, 7}, vmin = 4;
    tu_attr_typed(p, "/x", "valid_range", H5T_STD_I16LE, H5T_NATIVE_SHORT, range, 2);
    tu_attr_typed(p, "/x", "valid_min", H5T_STD_I16LE, H5T_NATIVE_SHORT, &vmin, 1);
    expect_counts(p, 6, 14); /* 2..7 */

    /* a valid_range of 3 values is not used: valid_min then is */
    const char *q = int16_0_to_19("range3.h5");
    short range3[3] = {2, 7, 9};
    tu_attr_typed(q, "/x", "valid_range", H5T_STD_I16LE, H5T_NATIVE_SHORT, range3, 3);
    tu_attr_typed(q, "/x", "valid_min", H5T_STD_I16LE, H5T_NATIVE_SHORT, &vmin, 1);
    expect_cli(q, 0, "valid_range holds 3 values");
    expect_counts(q, 16, 4);
}

Test(cf, every_missing_value_is_a_fill_value)
{
    const char *p = int16_0_to_19("many.h5");
    short mv[9] = {1, 2, 3, 4, 5, 6, 7, 8, 8}, fv = 0;
    tu_attr_typed(p, "/x", "missing_value", H5T_STD_I16LE, H5T_NATIVE_SHORT, mv, 9);
    tu_attr_typed(p, "/x", "_FillValue", H5T_STD_I16LE, H5T_NATIVE_SHORT, &fv, 1);
    expect_counts(p, 11, 9);

    /* more distinct fill values than h5prep compares: an error naming the count */
    const char *q = int16_0_to_19("toomany.h5");
    short lots[40];
    for (int i = 0; i < 40; i++)
        lots[i] = (short)(100 + i);
    tu_attr_typed(q, "/x", "missing_value", H5T_STD_I16LE, H5T_NATIVE_SHORT, lots, 40);
    expect_cli(q, H5PREP_ERR_DTYPE, "give 40 distinct fill values");
}

Test(cf, a_fill_value_of_many_values_is_refused)
{
    const char *p = int16_0_to_19("fill100.h5");
    short fv[100];
    for (int i = 0; i < 100; i++)
        fv[i] = (short)i;
    tu_attr_typed(p, "/x", "_FillValue", H5T_STD_I16LE, H5T_NATIVE_SHORT, fv, 100);
    expect_cli(p, H5PREP_ERR_DTYPE, "_FillValue holds 100 values");
}

Test(cf, string_attributes_are_not_used_and_said_so)
{
    const char *p = int16_0_to_19("strfill.h5");
    put_text_attr(p, "/x", "_FillValue", "3");
    put_text_attr(p, "/x", "valid_min", "5");
    expect_cli(p, 0, "h5prep: warning: ");
    cr_assert(strstr(tu_stderr(), "_FillValue \"3\" (a string)"), "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "valid_min \"5\" (a string)"), "%s", tu_stderr());
    expect_counts(p, 20, 0);

    /* a scale_factor that is no number: no unpacking at all (add_offset neither) */
    const char *q = int16_0_to_19("strscale.h5");
    put_text_attr(q, "/x", "scale_factor", "abc");
    double off = 1000;
    tu_attr_typed(q, "/x", "add_offset", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &off, 1);
    expect_cli(q, 0, "no unpacking done");
    cr_assert_eq(whole(q).mean, 9.5);

    /* one that float() reads: netCDF4-python fails multiplying by a string, so does h5prep */
    const char *r = int16_0_to_19("numscale.h5");
    put_text_attr(r, "/x", "scale_factor", "2.5");
    expect_cli(r, H5PREP_ERR_DTYPE, "scale_factor is the string \"2.5\"");
}

Test(cf, a_two_value_scale_factor_unpacks_nothing)
{
    const char *p = int16_0_to_19("scale2.h5");
    double sf[2] = {2, 3}, off = 1;
    tu_attr_typed(p, "/x", "scale_factor", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, sf, 2);
    tu_attr_typed(p, "/x", "add_offset", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &off, 1);
    expect_cli(p, 0, "scale_factor (2 values) is not one number: no unpacking done");
    cr_assert_eq(whole(p).mean, 9.5);
}

/* The library prints nothing: warnings go to the handler, once per file's dataset. */
static int g_warnings;
static char g_last[1024];
static void count_warning(const char *msg, void *user)
{
    (void)user;
    g_warnings++;
    snprintf(g_last, sizeof g_last, "%s", msg);
}

Test(cf, warnings_go_to_the_handler)
{
    const char *p = int16_0_to_19("handler.h5");
    put_text_attr(p, "/x", "missing_value", "oops");
    h5prep_set_warning_handler(count_warning, NULL);
    h5prep_stats_config c = h5prep_stats_config_default();
    h5prep_stats *s = h5prep_stats_create(&c);
    cr_assert_eq(h5prep_stats_add(s, tu_input(p, "/x")), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_run(s), H5PREP_OK, "%s", h5prep_last_error());
    h5prep_stats_destroy(s);
    h5prep_set_warning_handler(NULL, NULL);
    cr_assert_eq(g_warnings, 1, "%d warnings, last: %s", g_warnings, g_last);
    cr_assert(strstr(g_last, "handler.h5:/x: missing_value \"oops\""), "%s", g_last);
}

/* ---- chunks never written ------------------------------------------------------------------- */

/* A chunked float32 dataset of `rows` x 8 declared with fill value -9999 (deflate when `deflate`),
 * and only the rows in [w0, w1) written. */
static const char *sparse(const char *name, uint64_t rows, int deflate, uint64_t w0, uint64_t w1, int cf_fill)
{
    const char *p = tu_path(name);
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {rows, 8}, chunk[2] = {1000, 4};
    hid_t sp = H5Screate_simple(2, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, chunk);
    if (deflate) {
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, 1);
    }
    float fill = -9999;
    H5Pset_fill_value(dcpl, H5T_NATIVE_FLOAT, &fill);
    hid_t d = H5Dcreate2(f, "/x", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (w1 > w0) {
        hsize_t start[2] = {w0, 0}, count[2] = {w1 - w0, 8};
        float *v = malloc((w1 - w0) * 8 * sizeof *v);
        for (size_t i = 0; i < (w1 - w0) * 8; i++)
            v[i] = (float)(i % 10);
        hid_t ms = H5Screate_simple(2, count, NULL);
        H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL);
        cr_assert(H5Dwrite(d, H5T_NATIVE_FLOAT, ms, sp, H5P_DEFAULT, v) >= 0);
        H5Sclose(ms);
        free(v);
    }
    if (cf_fill) {
        hsize_t one = 1;
        hid_t asp = H5Screate_simple(1, &one, NULL);
        hid_t a = H5Acreate2(d, "_FillValue", H5T_IEEE_F32LE, asp, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, H5T_NATIVE_FLOAT, &fill);
        H5Aclose(a);
        H5Sclose(asp);
    }
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(f);
    return p;
}

Test(chunks_unwritten, none_written_is_not_read_and_counts_as_missing)
{
    for (int deflate = 0; deflate <= 1; deflate++) {
        const char *p = sparse(deflate ? "none_z.h5" : "none.h5", 4000000, deflate, 0, 0, 1);
        const char *args[] = {"stats", tu_input(p, "/x"), "--keep-axes", "none", "--verbose", "--json", "--quiet", NULL};
        int rc = tu_cli(args);
        cr_assert_eq(rc, 0, "%s", tu_stderr());
        cr_assert(strstr(tu_stderr(), "no chunk was ever written"), "read anyway: %s", tu_stderr());
        h5prep_moments m = whole(p);
        cr_assert_eq(m.n, 0);
        cr_assert_eq(m.missing, 32000000);
    }
    /* without a _FillValue attribute the fill value is data, as H5Dread returns it */
    const char *q = sparse("none_data.h5", 100000, 1, 0, 0, 0);
    h5prep_moments m = whole(q);
    cr_assert_eq(m.n, 800000);
    cr_assert_eq(m.mean, -9999);
}

/* Written and never written chunks in one slab, compressed: the fill value is placed for the
 * latter, and the result is that of H5Dread. */
Test(chunks_unwritten, mixed_slab_matches_h5dread)
{
    const char *p = sparse("mixed.h5", 20000, 1, 3000, 7500, 1);
    h5prep_moments m = whole(p);
    /* rows 3000..7499 written with i % 10 per row of 8 values */
    cr_assert_eq(m.n, 4500 * 8);
    cr_assert_eq(m.missing, 20000 * 8 - 4500 * 8);
    cr_assert_eq(m.min, 0);
    cr_assert_eq(m.max, 9);
    long long n, missing;
    whole_simt(p, &n, &missing);
    cr_assert_eq(n, 4500 * 8);
    const char *args[] = {"stats", tu_input(p, "/x"), "--keep-axes", "none", "--verbose", "--quiet", NULL};
    cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "raw chunks decoded in parallel"), "%s", tu_stderr());
}

/* ---- damaged files: exit 5 with HDF5's own reason ------------------------------------------ */

static const char *copy_data(const char *file)
{
    char src[600];
    snprintf(src, sizeof src, "%s%s", DATA, file);
    const char *dst = tu_path(file);
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    cr_assert(in && out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    return dst;
}

/* Flips byte `at` after the first occurrence of the len bytes `sig` in the file. */
static void flip_after(const char *path, const void *sig, size_t len, long at)
{
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    char *b = malloc((size_t)size);
    fseek(f, 0, SEEK_SET);
    cr_assert_eq(fread(b, 1, (size_t)size, f), (size_t)size);
    long pos = -1;
    for (long i = 0; i + (long)len <= size && pos < 0; i++)
        if (memcmp(b + i, sig, len) == 0)
            pos = i;
    cr_assert(pos >= 0, "signature not in %s", path);
    b[pos + at] = (char)~b[pos + at];
    fseek(f, 0, SEEK_SET);
    fwrite(b, 1, (size_t)size, f);
    fclose(f);
    free(b);
}

Test(damaged, link_btree_checksum_is_corruption_not_a_missing_dataset)
{
    const char *p = copy_data("nc4uvt.nc");
    flip_after(p, "BTLF", 4, 12); /* a leaf of the root group's link B-tree */
    const char *args[] = {"stats", tu_input(p, "/T"), "--quiet", NULL};
    int rc = tu_cli(args);
    cr_assert_eq(rc, H5PREP_ERR_CORRUPT, "exit %d: %s", rc, tu_stderr());
    cr_assert(strstr(tu_stderr(), "damaged") && strstr(tu_stderr(), "(HDF5: incorrect metadata checksum"), "%s",
              tu_stderr());
    const char *info[] = {"info", p, NULL};
    rc = tu_cli(info);
    cr_assert_eq(rc, H5PREP_ERR_CORRUPT, "info: exit %d: %s", rc, tu_stderr());
    cr_assert(strstr(tu_stderr(), "(HDF5: incorrect metadata checksum"), "info: %s", tu_stderr());
}

Test(damaged, fletcher32_failure_names_the_checksum)
{
    const char *p = tu_path("f32.h5");
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {1000, 40}, chunk[2] = {100, 40};
    hid_t sp = H5Screate_simple(2, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, chunk);
    H5Pset_fletcher32(dcpl);
    hid_t d = H5Dcreate2(f, "/x", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    float *v = malloc(40000 * sizeof *v);
    for (int i = 0; i < 40000; i++)
        v[i] = (float)i;
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    free(v);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(f);
    const float marker[4] = {4000, 4001, 4002, 4003}; /* the second chunk's first values */
    flip_after(p, marker, sizeof marker, 1);
    expect_cli(p, H5PREP_ERR_CORRUPT, "(HDF5: data error detected by Fletcher32 checksum)");
}

Test(damaged, impossible_shape_is_damage_not_a_memory_request)
{
    float v[40];
    for (int i = 0; i < 40; i++)
        v[i] = (float)i;
    uint64_t dims[2] = {4, 10};
    const char *p = tu_path("shape.h5");
    tu_write(p, "/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, v, 0);
    /* the dataspace message holds the dims as 8-byte little-endian values: make the second huge */
    const unsigned long long pair[2] = {4, 10};
    flip_after(p, pair, sizeof pair, 12); /* byte 4 of the second: 10 becomes 10 + 255 * 2^32 */
    expect_cli(p, H5PREP_ERR_CORRUPT, "the file is damaged or truncated");
    cr_assert(!strstr(tu_stderr(), "--mem"), "%s", tu_stderr());
}
