/* test_backends.c: the CUDA backend, run on the CPU by the SIMT harness (h5prep-simt, streams
 * deferred and blocks shuffled), against the CPU backend on every real file in data/ and on the
 * hostile cases: count, missing, min and max exactly; mean and std within a stated tolerance. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DATA H5PREP_SOURCE_DIR "/data/"

/* A JSON entry of the statistics: a number, or "inf" / "-inf" (non-finite values are written
 * as strings); null is NaN. */
static double entry(json_t *x)
{
    if (json_is_string(x))
        return json_string_value(x)[0] == '-' ? -INFINITY : INFINITY;
    return json_is_null(x) ? NAN : json_number_value(x);
}

/* Runs `stats input --json` with both backends and compares every variable feature by feature.
 * Tolerance: |cuda - cpu| <= 1e-12 * (|mean| + std) for the mean, <= 1e-10 * std for the std
 * (the GPU sums runs of 32 strided values around a pivot, the CPU two-passes cache blocks); a
 * std beyond DBL_MAX must be +inf on both, and the mean is then within 1e-12 of max(|min|, |max|). */
static void compare_backends2(const char *input, const char *input2, const char *axes)
{
    const char *cpu[] = {"stats", input, "--keep-axes", axes, "--backend", "cpu", "--json", "--quiet", input2, NULL};
    cr_assert_eq(tu_cli(cpu), 0, "cpu: %s", tu_stderr());
    json_error_t err;
    json_t *a = json_loads(tu_stdout(), 0, &err);
    cr_assert_not_null(a, "cpu json: %s", err.text);

    setenv("SIMT_STREAMS", "deferred", 1);
    setenv("SIMT_BLOCKS", "shuffled", 1);
    const char *cuda[] = {"stats", input, "--keep-axes", axes, "--backend", "cuda", "--json", "--quiet", input2, NULL};
    int rc = tu_cli_with(H5PREP_CLI_SIMT, cuda);
    cr_assert_eq(rc, 0, "cuda (simt) on %s: exit %d: %s", input, rc, tu_stderr());
    json_t *b = json_loads(tu_stdout(), 0, &err);
    cr_assert_not_null(b, "simt json: %s", err.text);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(b, "provenance"), "backend")), "cuda");

    const char *name;
    json_t *va;
    json_object_foreach(json_object_get(a, "variables"), name, va)
    {
        json_t *vb = json_object_get(json_object_get(b, "variables"), name);
        cr_assert_not_null(vb, "%s missing from the CUDA result", name);
        size_t nf = json_array_size(json_object_get(va, "count"));
        cr_assert_eq(json_array_size(json_object_get(vb, "count")), nf);
        static const char *exact[] = {"count", "missing", "min", "max", "flags"};
        for (size_t k = 0; k < sizeof exact / sizeof *exact; k++)
            cr_assert(json_equal(json_object_get(va, exact[k]), json_object_get(vb, exact[k])), "%s %s: %s differs",
                      input, name, exact[k]);
        for (size_t f = 0; f < nf; f++) {
            json_t *ma = json_array_get(json_object_get(va, "mean"), f), *mb = json_array_get(json_object_get(vb, "mean"), f);
            json_t *sa = json_array_get(json_object_get(va, "std"), f), *sb = json_array_get(json_object_get(vb, "std"), f);
            if (json_is_null(ma)) {
                cr_assert(json_is_null(mb), "%s %s[%zu]: mean null on cpu only", input, name, f);
                continue;
            }
            double m1 = entry(ma), m2 = entry(mb), s1 = entry(sa), s2 = entry(sb);
            double lo = entry(json_array_get(json_object_get(va, "min"), f));
            double hi = entry(json_array_get(json_object_get(va, "max"), f));
            cr_assert(isfinite(m1) && isfinite(m2), "%s %s[%zu]: means %g and %g", input, name, f, m1, m2);
            if (isinf(s1) || isinf(s2)) {
                cr_assert(s1 == s2, "%s %s[%zu]: std %g on the cpu, %g on cuda", input, name, f, s1, s2);
                tu_close(m2, m1, 1e-12 * fmax(fabs(lo), fabs(hi)), 0, "mean", f);
                continue;
            }
            tu_close(m2, m1, 1e-12 * (fabs(m1) + s1), 0, "mean", f);
            tu_close(s2, s1, 1e-10 * s1 + 1e-300, 0, "std", f);
        }
    }
    json_decref(a);
    json_decref(b);
}

static void compare_backends(const char *input, const char *axes) { compare_backends2(input, NULL, axes); }

Test(backends, real_files)
{
    compare_backends(DATA "nc4uvt.nc:/T", "1");
    compare_backends(DATA "nc4uvt.nc:/grp1/U", "-1");
    compare_backends(DATA "nc4uvt.nc:/V", "none");
    compare_backends(DATA "nc4uvt.nc:/T", "1,2");
    compare_backends(DATA "MLL2217907250U.003.nc:/reflectivity", "-1");
    compare_backends(DATA "MLL2217907250U.003.nc:/velocity", "none");
    compare_backends(DATA "MLL2217907250U.003.nc:/spectrum_width", "0");
    compare_backends(DATA "sgpxsaprcfrvptI4.a1.20200205.100827.nc:/reflectivity", "-1");
    compare_backends(DATA "sgpxsaprcfrvptI4.a1.20200205.100827.nc:/differential_phase", "none");
    compare_backends(DATA "sgpxsaprcfrvptI4.a1.20200205.100827.nc:/sweep", "none");
    compare_backends(DATA "T_PAZA63_C_LFPW_20230420065041.h5:/dataset1/data1/data", "-1");
    /* several variables in one run: device buffers sized by the first are reused by the rest */
    compare_backends2(DATA "nc4uvt.nc:/grp1/lon", DATA "MLL2217907250U.003.nc:/reflectivity", "-1");
    compare_backends2(DATA "MLL2217907250U.003.nc:/reflectivity", DATA "nc4uvt.nc:/grp1/lon", "-1");
}

Test(backends, hostile_numbers)
{
    enum { N = 10000 };
    static double x[N * 3];
    uint64_t seed = 1;
    for (int i = 0; i < N; i++) {
        x[3 * i] = i < N / 2 ? 1e8 : log(1e-5);       /* two far groups */
        x[3 * i + 1] = 1e6 + tu_normal(&seed);        /* large mean, unit variance */
        x[3 * i + 2] = i % 3 ? NAN : (i % 2 ? INFINITY : 7.25); /* missing, infinite, constant */
    }
    uint64_t dims[2] = {N, 3};
    const char *p = tu_path("hostile.h5");
    tu_write(p, "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, x, 1000);
    double arrow[4] = {100000004, 100000007, 100000013, 100000016};
    uint64_t d4[1] = {4};
    tu_write(p, "/arrow", H5T_IEEE_F64BE, H5T_NATIVE_DOUBLE, 1, d4, arrow, 0);
    float empty[16];
    for (int i = 0; i < 16; i++)
        empty[i] = NAN;
    uint64_t d16[2] = {8, 2};
    tu_write(p, "/empty", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d16, empty, 0);
    /* the whole float64 range: near +-DBL_MAX, 1e200 offsets, just above sqrt(DBL_MAX) */
    enum { NB = 3000, FB = 6 };
    static double big[NB * FB];
    for (int i = 0; i < NB; i++) {
        big[FB * i + 0] = DBL_MAX;                                   /* constant: m2 0 */
        big[FB * i + 1] = i % 2 ? DBL_MAX : -DBL_MAX;                /* m2 +inf */
        big[FB * i + 2] = DBL_MAX * (0.5 + 0.1 * tu_normal(&seed) * 0.5); /* sums overflow */
        big[FB * i + 3] = i % 11 == 4 ? NAN : 1e200;                 /* constant 1e200 with missing */
        big[FB * i + 4] = 1.5e154 + 1e151 * tu_normal(&seed);        /* m2 finite, the mean squared not */
        big[FB * i + 5] = i % 3 ? 1e200 : -1e200;
    }
    uint64_t db[2] = {NB, FB};
    tu_write(p, "/big", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, db, big, 700);
    compare_backends(tu_input(p, "/x"), "-1");
    compare_backends(tu_input(p, "/x"), "none");
    compare_backends(tu_input(p, "/arrow"), "none");
    compare_backends(tu_input(p, "/empty"), "-1");
    compare_backends(tu_input(p, "/big"), "-1");
}

Test(backends, packed_integers_fill_values_and_every_type)
{
    enum { N = 3000, F = 7 };
    static int16_t raw[N * F];
    static uint8_t u8[N * F];
    static int64_t i64[N * F];
    uint64_t seed = 2;
    for (int i = 0; i < N * F; i++) {
        raw[i] = (int16_t)(i % 9 == 0 ? -32767 : round(8000 * tu_normal(&seed)));
        u8[i] = (uint8_t)(i % 5 == 0 ? 255 : i % 250);
        i64[i] = (int64_t)(4e15 * tu_normal(&seed));
    }
    uint64_t dims[2] = {N, F};
    const char *p = tu_path("packed.h5");
    tu_write(p, "/z", H5T_STD_I16BE, H5T_NATIVE_INT16, 2, dims, raw, 128);
    double fill = -32767, scale = 0.001, offset = -15.5, range[2] = {-30000, 30000}, nodata = 255;
    tu_attr(p, "/z", "_FillValue", H5T_STD_I16LE, &fill, 1);
    tu_attr(p, "/z", "scale_factor", H5T_IEEE_F32LE, &scale, 1);
    tu_attr(p, "/z", "add_offset", H5T_IEEE_F32LE, &offset, 1);
    tu_attr(p, "/z", "valid_range", H5T_STD_I16LE, range, 2);
    tu_write(p, "/u8", H5T_STD_U8LE, H5T_NATIVE_UINT8, 2, dims, u8, 0);
    tu_attr(p, "/u8", "missing_value", H5T_STD_U8LE, &nodata, 1);
    tu_write(p, "/i64", H5T_STD_I64LE, H5T_NATIVE_INT64, 2, dims, i64, 0);
    const char *names[] = {"/z", "/u8", "/i64"};
    for (int k = 0; k < 3; k++) {
        compare_backends(tu_input(p, names[k]), "-1");
        compare_backends(tu_input(p, names[k]), "none");
    }
}

Test(backends, axes_slabs_and_files)
{
    enum { D0 = 23, D1 = 5, D2 = 3, D3 = 4 };
    static float x[D0 * D1 * D2 * D3];
    uint64_t seed = 3;
    for (int i = 0; i < D0 * D1 * D2 * D3; i++)
        x[i] = i % 13 == 0 ? NAN : (float)(100 + 5 * tu_normal(&seed));
    uint64_t dims[4] = {D0, D1, D2, D3};
    tu_write(tu_path("axes-1.h5"), "/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, dims, x, 4);
    tu_write(tu_path("axes-2.h5"), "/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, dims, x, 0);
    const char *in = tu_input(tu_path("axes-*.h5"), "/x");
    static const char *axes[] = {"none", "0", "1", "2", "3", "1,2", "2,3", "0,1"};
    for (size_t k = 0; k < sizeof axes / sizeof *axes; k++)
        compare_backends(in, axes[k]);
}
