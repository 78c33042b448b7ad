/* test_files.c: the real files in data/ (netCDF-4 and ODIM HDF5 from their producers) against an
 * independent float64 computation: whole dataset read as float64 by HDF5, CF decoding written
 * out here again, two-pass reference. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_attr(hid_t d, const char *name, double *out, int cap)
{
    if (H5Aexists(d, name) <= 0)
        return 0;
    hid_t a = H5Aopen(d, name, H5P_DEFAULT), sp = H5Aget_space(a);
    int n = (int)H5Sget_simple_extent_npoints(sp);
    cr_assert(n <= cap);
    H5Aread(a, H5T_NATIVE_DOUBLE, out);
    H5Sclose(sp);
    H5Aclose(a);
    return n;
}

/* The dataset as float64 with NaN where CF says a value is missing; dims out. */
static double *reference_values(const char *path, const char *name, int *rank, uint64_t *dims, int raw)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT), sp = H5Dget_space(d);
    hsize_t hd[8];
    *rank = H5Sget_simple_extent_dims(sp, hd, NULL);
    size_t n = 1;
    for (int a = 0; a < *rank; a++)
        n *= dims[a] = hd[a];
    double *x = malloc(n * sizeof *x);
    cr_assert(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0);
    double fills[8], scale = 1, offset = 0, lo = -INFINITY, hi = INFINITY, v[2];
    int nf = 0;
    if (!raw) {
        nf += read_attr(d, "_FillValue", fills + nf, 4);
        nf += read_attr(d, "missing_value", fills + nf, 4);
        if (read_attr(d, "scale_factor", v, 1))
            scale = v[0];
        if (read_attr(d, "add_offset", v, 1))
            offset = v[0];
        if (read_attr(d, "valid_range", v, 2) == 2)
            lo = v[0], hi = v[1];
        char what[600];
        snprintf(what, sizeof what, "%.*s/what", (int)(strrchr(name, '/') - name), name);
        if (nf == 0 && scale == 1 && offset == 0 && H5Lexists(f, what, H5P_DEFAULT) > 0) { /* ODIM */
            hid_t g = H5Gopen2(f, what, H5P_DEFAULT);
            if (read_attr(g, "gain", v, 1))
                scale = v[0];
            if (read_attr(g, "offset", v, 1))
                offset = v[0];
            nf += read_attr(g, "nodata", fills + nf, 1);
            nf += read_attr(g, "undetect", fills + nf, 1);
            H5Gclose(g);
        }
    }
    for (size_t i = 0; i < n; i++) {
        int miss = x[i] < lo || x[i] > hi;
        for (int k = 0; k < nf; k++)
            miss |= x[i] == fills[k];
        double y = x[i] * scale + offset;
        x[i] = miss || !isfinite(y) ? NAN : y;
    }
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    return x;
}

static void check_real(const char *file, const char *name, int keep_first, int keep_count, int raw)
{
    char path[600];
    snprintf(path, sizeof path, "%s/data/%s", H5PREP_SOURCE_DIR, file);
    const char *in = tu_input(path, name);
    int rank;
    uint64_t dims[8];
    double *x = reference_values(path, name, &rank, dims, raw);
    if (keep_first == H5PREP_KEEP_DEFAULT) /* the last axis; none for 1-D */
        keep_count = rank >= 2 ? 1 : 0;
    int first = keep_first == H5PREP_KEEP_DEFAULT ? rank - 1 : keep_first < 0 ? keep_first + rank : keep_first;
    uint64_t outer = 1, F = 1, inner = 1;
    for (int a = 0; a < rank; a++) {
        if (keep_count == 0 || a < first)
            outer *= dims[a];
        else if (a < first + keep_count)
            F *= dims[a];
        else
            inner *= dims[a];
    }
    h5prep_moments *want = malloc(F * sizeof *want);
    tu_reference(x, outer, F, inner, want);
    h5prep_stats_config c = h5prep_stats_config_default();
    c.keep_first = keep_first;
    c.keep_count = keep_count;
    c.raw = raw;
    const char *inputs[] = {in};
    h5prep_stats *s = tu_run(&c, inputs, 1);
    h5prep_var_view v = tu_view(s, 0);
    cr_assert_eq(v.n_features, F, "%s: features", in);
    tu_compare(v.moments, want, F, 1e-12);
    int64_t missing = 0;
    for (uint64_t f = 0; f < F; f++)
        missing += v.moments[f].missing;
    cr_log_info("%s keep %d+%d raw %d: %llu features, %lld missing", in, keep_first, keep_count, raw,
                (unsigned long long)F, (long long)missing);
    h5prep_stats_destroy(s);
    free(want);
    free(x);
}

#define NC4 "nc4uvt.nc"
#define MLL "MLL2217907250U.003.nc"
#define ARM "sgpxsaprcfrvptI4.a1.20200205.100827.nc"
#define ODIM "T_PAZA63_C_LFPW_20230420065041.h5"

Test(real, nc4uvt_per_level_and_per_longitude_with_fill_value)
{
    check_real(NC4, "/T", 1, 1, 0);
    check_real(NC4, "/T", H5PREP_KEEP_DEFAULT, 1, 0);
    check_real(NC4, "/grp1/U", 1, 2, 0);
    check_real(NC4, "/V", 0, 0, 0);
}

Test(real, cfradial_float32_moments_with_fill_values)
{
    check_real(MLL, "/reflectivity", H5PREP_KEEP_DEFAULT, 1, 0);
    check_real(MLL, "/velocity", 0, 0, 0);
    check_real(MLL, "/spectrum_width", 0, 1, 0);
    check_real(MLL, "/differential_reflectivity", 0, 0, 1);
}

Test(real, arm_packed_int16_moments)
{
    check_real(ARM, "/reflectivity", H5PREP_KEEP_DEFAULT, 1, 0);
    check_real(ARM, "/differential_phase", 0, 0, 0);
    check_real(ARM, "/differential_reflectivity", 0, 0, 1);
    check_real(ARM, "/sweep", 0, 0, 0); /* big-endian float32 */
}

/* ODIM packing (what/gain, offset, nodata, undetect beside the data) decoded as CF packing */
Test(real, odim_uint8_sweeps)
{
    check_real(ODIM, "/dataset1/data1/data", H5PREP_KEEP_DEFAULT, 1, 0);
    check_real(ODIM, "/dataset1/data2/data", 0, 0, 0);
    check_real(ODIM, "/dataset1/data3/data", 0, 0, 0);
    check_real(ODIM, "/dataset1/data3/data", 0, 0, 1);
}

/* The same decoding computed by h5py and numpy (value*gain+offset, nodata and undetect left out),
 * against the CLI's JSON. */
Test(real, odim_decoding_equals_numpy)
{
    const char *py = tu_path("odim.json"), *out = tu_path("h5prep.json");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "%s -c \"import h5py, json, numpy as np\n"
             "f = h5py.File('%s/data/%s')\nres = {}\n"
             "for k in ('data1', 'data3'):\n"
             "    raw = f['dataset1/' + k + '/data'][...]; w = f['dataset1/' + k + '/what'].attrs\n"
             "    x = raw[(raw != w['nodata']) & (raw != w['undetect'])] * w['gain'] + w['offset']\n"
             "    res['/dataset1/' + k + '/data'] = [int(x.size), int(raw.size - x.size), float(x.mean()), float(x.std()), float(x.min()), float(x.max())]\n"
             "json.dump(res, open('%s', 'w'))\n\"",
             H5PREP_PYTHON, H5PREP_SOURCE_DIR, ODIM, py);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    char in1[700], in3[700];
    snprintf(in1, sizeof in1, "%s/data/%s:/dataset1/data1/data", H5PREP_SOURCE_DIR, ODIM);
    snprintf(in3, sizeof in3, "%s/data/%s:/dataset1/data3/data", H5PREP_SOURCE_DIR, ODIM);
    const char *args[] = {"stats", in1, in3, "-k", "none", "-o", out, "--quiet", NULL};
    cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
    json_t *want = json_load_file(py, 0, NULL), *got = json_load_file(out, 0, NULL);
    cr_assert(want && got);
    static const char *keys[] = {"count", "missing", "mean", "std", "min", "max"};
    const char *name;
    json_t *w;
    json_object_foreach(want, name, w) {
        json_t *v = json_object_get(json_object_get(got, "variables"), name);
        cr_assert_not_null(v, "%s", name);
        for (size_t k = 0; k < 6; k++) {
            double gv = json_number_value(json_array_get(json_object_get(v, keys[k]), 0));
            double wv = json_number_value(json_array_get(w, k));
            cr_assert(fabs(gv - wv) <= 1e-12 * fabs(wv) + 1e-12, "%s %s: h5prep %.17g, numpy %.17g", name, keys[k], gv, wv);
        }
        cr_assert_gt(json_number_value(json_array_get(w, 1)), 0, "%s: nodata/undetect are there", name);
    }
    json_decref(want);
    json_decref(got);
}

/* The packed radar file has many fill values: they are counted, not averaged. */
Test(real, arm_fill_values_are_counted_as_missing)
{
    char in[700];
    snprintf(in, sizeof in, "%s/data/%s:/differential_phase", H5PREP_SOURCE_DIR, ARM);
    h5prep_stats_config c = h5prep_stats_config_default();
    c.keep_count = 0;
    const char *inputs[] = {in};
    h5prep_stats *s = tu_run(&c, inputs, 1);
    h5prep_var_view v = tu_view(s, 0);
    cr_assert_eq(v.moments[0].n + v.moments[0].missing, 360 * 201);
    cr_assert_gt(v.moments[0].missing, 0);
    h5prep_stats_destroy(s);
}
