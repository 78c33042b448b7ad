/* test_channels.c: outputs that say what their channels are: index.json's channel labels (which
 * variable and which index of it, or a constant, fills each channel of a concat or stack), the
 * same labels as a string coordinate that xarray (h5netcdf) and the Python package read; and
 * the record of the normalization factors applied, in stats.json and index.json. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 7 }; /* samples */

/* a (N,3,4) float32, b (N,4) float32, c (N,) float64: a sample's values only need to be told apart. */
static const char *make_input(void)
{
    const char *path = tu_path("in.h5");
    static float a[N * 12], b[N * 4];
    static double c[N];
    for (int i = 0; i < N * 12; i++)
        a[i] = (float)i;
    for (int i = 0; i < N * 4; i++)
        b[i] = 1000.0f + (float)i;
    for (int i = 0; i < N; i++)
        c[i] = 2000.0 + i;
    uint64_t da[] = {N, 3, 4}, db[] = {N, 4}, dc[] = {N};
    tu_write(path, "a", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, da, a, 0);
    tu_write(path, "b", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, db, b, 0);
    tu_write(path, "c", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, dc, c, 0);
    return path;
}

static void transform_ok(const char *text, const char *out)
{
    const char *rp = tu_path("r.yaml");
    tu_write_text(rp, text);
    const char *args[] = {"transform", rp, "-o", out, "--quiet", NULL};
    cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
}

static json_t *channels_of(json_t *ix, const char *output)
{
    return json_object_get(json_object_get(json_object_get(ix, "outputs"), output), "channels");
}

/* Output `name` has channels on axis `axis` (dimension `dim`) labelled exactly `want` (n of them). */
static void labels_are(json_t *ix, const char *name, int axis, const char *dim, const char *const *want, size_t n)
{
    json_t *ch = channels_of(ix, name), *labels = json_object_get(ch, "labels");
    cr_assert_not_null(ch, "outputs.%s.channels is missing", name);
    cr_assert_eq(json_integer_value(json_object_get(ch, "axis")), axis, "outputs.%s.channels.axis", name);
    cr_assert_str_eq(json_string_value(json_object_get(ch, "dim")), dim, "outputs.%s.channels.dim", name);
    cr_assert_eq(json_integer_value(json_object_get(ch, "count")), (json_int_t)n, "outputs.%s.channels.count", name);
    cr_assert_eq(json_array_size(labels), n, "outputs.%s.channels.labels has %zu labels, want %zu", name,
                 json_array_size(labels), n);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(json_string_value(json_array_get(labels, i)), want[i], "outputs.%s.channels.labels[%zu]", name, i);
}

static const char *recipe(void)
{
    static char text[4096];
    snprintf(text, sizeof text,
             "inputs:\n  - files: %s\n    variables: [a, b, c]\n"
             "outputs:\n"
             /* (3, 10): a's 4 columns, b on every row with a padded column, c on every row */
             "  x: {from: {concat: {axis: -1, of: [a, {pad: {of: {broadcast: {of: b, axis: 1, size: 3}}, axis: 2, after: 1, value: 7.5}},"
             " {broadcast: {of: {broadcast: {of: c, axis: 1, size: 3}}, axis: 2, size: 1}}]}}}\n"
             /* (5, 4): concat on a per-sample axis that is not the last */
             "  rows: {from: {concat: {axis: 1, of: [a, {slice: {of: a, axis: 1, start: 0, stop: 2}}]}}}\n"
             "  s: {from: {stack: {axis: -1, of: [b, b]}}}\n"
             /* (2, 8): the concat's axis moved by a broadcast above it */
             "  moved: {from: {broadcast: {of: {concat: {axis: 1, of: [b, b]}}, axis: 1, size: 2}}}\n"
             /* (2, 3, 8): the outermost join (the stack) names the channels; the first holds a and b */
             "  mix: {from: {stack: {axis: 1, of: [{concat: {axis: -1, of: [a, {broadcast: {of: b, axis: 1, size: 3}}]}},"
             " {concat: {axis: -1, of: [a, a]}}]}}}\n"
             /* (4, 5): a padded with a column of 1 then a row of 2: the last channel holds both */
             "  consts: {from: {concat: {axis: 2, of: [{pad: {of: {pad: {of: a, axis: 2, after: 1, value: 1}}, axis: 1, after: 1, value: 2}}]}}}\n"
             "  padded: {from: {pad: {of: a, axis: 2, after: 1}}}\n"
             "  flat: {from: {flatten: {concat: {axis: 1, of: [b, b]}}}}\n"
             "  plain: {from: a}\n"
             "split: {fractions: {all: 1.0}, shuffle: false}\n"
             "write: {hdf5: true, npy: true}\n",
             make_input());
    return text;
}

Test(channels, index_json_names_the_source_of_each_channel)
{
    const char *out = tu_path("out");
    transform_ok(recipe(), out);
    json_t *ix = tu_load_json(out, "index.json");
    const char *x[] = {"a[:,0]", "a[:,1]", "a[:,2]", "a[:,3]", "b[0]", "b[1]", "b[2]", "b[3]", "constant 7.5", "c"};
    labels_are(ix, "x", 2, "x_dim2", x, 10);
    const char *rows[] = {"a[0]", "a[1]", "a[2]", "a[0]", "a[1]"};
    labels_are(ix, "rows", 1, "rows_dim1", rows, 5);
    const char *s[] = {"b", "b"};
    labels_are(ix, "s", 2, "s_dim2", s, 2);
    const char *moved[] = {"b[0]", "b[1]", "b[2]", "b[3]", "b[0]", "b[1]", "b[2]", "b[3]"};
    labels_are(ix, "moved", 2, "moved_dim2", moved, 8);
    const char *mix[] = {"a|b", "a"};
    labels_are(ix, "mix", 1, "mix_dim1", mix, 2);
    const char *consts[] = {"a[:,0]", "a[:,1]", "a[:,2]", "a[:,3]", "constant"};
    labels_are(ix, "consts", 2, "consts_dim2", consts, 5);
    cr_assert_null(channels_of(ix, "padded"), "a pad is not a join");
    cr_assert_null(channels_of(ix, "flat"), "a flatten above the concat ends its channels");
    cr_assert_null(channels_of(ix, "plain"));
    json_decref(ix);
}

/* The labels as a string coordinate of the channel dimension in each HDF5 file (xarray with the
 * h5netcdf engine, h5py), and in the Python package's Split.xarray (from the .npy shards). */
Test(channels, xarray_reads_the_labels_as_a_coordinate)
{
    const char *out = tu_path("out");
    transform_ok(recipe(), out);
    tu_python_ok("import sys, json, h5py, numpy as np, xarray as xr\n"
                 "root = sys.argv[1]\n"
                 "ix = json.load(open(root + '/index.json'))['outputs']\n"
                 "ds = xr.open_dataset(root + '/all.h5', engine='h5netcdf')\n"
                 "f = h5py.File(root + '/all.h5')\n"
                 "for name in ('x', 'rows', 's', 'moved', 'mix', 'consts'):\n"
                 "    ch = ix[name]['channels']\n"
                 "    assert ds[name].dims[ch['axis']] == ch['dim'], (name, ds[name].dims, ch)\n"
                 "    assert list(ds[name].coords[ch['dim']].values) == ch['labels'], (name, ds[name].coords)\n"
                 "    assert [v.decode() for v in f[ch['dim']][...]] == ch['labels'], name\n"
                 "    np.testing.assert_array_equal(ds[name].values, f[name][...])\n"
                 "assert set(ds['plain'].coords) == set(), ds['plain'].coords\n"
                 "np.testing.assert_array_equal(ds['x'].sel(x_dim2='c').values, np.repeat(2000.0 + np.arange(7)[:, None], 3, axis=1))\n"
                 "np.testing.assert_array_equal(ds['x'].sel(x_dim2='a[:,1]').values, ds['plain'].values[:, :, 1])\n",
                 out);
#ifdef H5PREP_LIBRARY /* the Python package loads the shared library, which sanitizer builds do not make */
    setenv("PYTHONPATH", H5PREP_SOURCE_DIR "/python", 1);
    setenv("H5PREP_LIBRARY", H5PREP_LIBRARY, 1);
    tu_python_ok("import sys, json, h5prep, numpy as np, xarray as xr\n"
                 "root = sys.argv[1]\n"
                 "ix = json.load(open(root + '/index.json'))['outputs']\n"
                 "ds = xr.open_dataset(root + '/all.h5', engine='h5netcdf')\n"
                 "tr = h5prep.open(root)['all'].xarray()\n"
                 "assert list(tr['x'].coords['x_dim2'].values) == ix['x']['channels']['labels'], tr['x'].coords\n"
                 "np.testing.assert_array_equal(tr['x'].sel(x_dim2='b[2]').values, ds['x'].sel(x_dim2='b[2]').values)\n",
                 out);
#endif
}

/* Up to 16384 channels are listed; more are counted, and their axis has no coordinate. */
Test(channels, many_channels_are_counted_not_listed)
{
    const char *out = tu_path("out");
    char text[2048];
    snprintf(text, sizeof text,
             "inputs:\n  - files: %s\n    variables: [b, c]\n"
             "outputs:\n"
             "  most: {from: {concat: {axis: 1, of: [{broadcast: {of: c, axis: 1, size: 16380}}, b]}}}\n"
             "  over: {from: {concat: {axis: 1, of: [{broadcast: {of: c, axis: 1, size: 16381}}, b]}}}\n"
             "split: {fractions: {all: 1.0}}\n"
             "write: {hdf5: true}\n",
             make_input());
    transform_ok(text, out);
    json_t *ix = tu_load_json(out, "index.json");
    json_t *most = channels_of(ix, "most"), *over = channels_of(ix, "over");
    cr_assert_eq(json_array_size(json_object_get(most, "labels")), 16384);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(most, "labels"), 16383)), "b[3]");
    cr_assert_eq(json_integer_value(json_object_get(over, "count")), 16385);
    cr_assert_null(json_object_get(over, "labels"));
    cr_assert_str_eq(json_string_value(json_object_get(over, "labels_omitted")), "more than 16384 channels");
    json_decref(ix);
    tu_python_ok("import sys, xarray as xr\n"
                 "ds = xr.open_dataset(sys.argv[1] + '/all.h5', engine='h5netcdf')\n"
                 "assert 'most_dim1' in ds.coords and 'over_dim1' not in ds.coords, ds.coords\n"
                 "assert ds.sizes['over_dim1'] == 16385\n",
                 out);
}

/* normalize: {stats: FILE}: stats.json's provenance.factors names, per output, the file whose
 * factors were applied (as given and its real path, size, mtime, CRC-32, variable, features),
 * and index.json's normalize.factors says the same; this run's own statistics are named too. */
Test(channels, stats_json_records_the_factors_applied)
{
    const char *out = tu_path("out"), *out2 = tu_path("out2");
    char text[2048], stats[1100];
#define FACTORS_RECIPE                                                                                       \
    "inputs:\n  - files: %s\n    variables: [a, b]\n"                                                         \
    "outputs:\n"                                                                                              \
    "  x: {from: {concat: {axis: -1, of: [a, {broadcast: {of: b, axis: 1, size: 3}}]}}, normalize: %s}\n"       \
    "  b: {from: b}\n"                                                                                        \
    "split: {fractions: {train: 0.5, rest: 0.5}, seed: 1}\n"                                                 \
    "write: {hdf5: true}\n"
    const char *in = make_input();
    snprintf(text, sizeof text, FACTORS_RECIPE, in, "{method: zscore, keep_axes: [2]}");
    transform_ok(text, out);
    snprintf(stats, sizeof stats, "%s/stats.json", out);
    char norm[1200];
    snprintf(norm, sizeof norm, "{method: minmax, keep_axes: [2], stats: %s}", stats);
    snprintf(text, sizeof text, FACTORS_RECIPE, in, norm);
    transform_ok(text, out2);

    json_t *st = tu_load_json(out2, "stats.json"), *ix = tu_load_json(out2, "index.json");
    json_t *rec = json_object_get(json_object_get(json_object_get(st, "provenance"), "factors"), "x");
    json_t *described = json_object_get(json_object_get(json_object_get(json_object_get(ix, "outputs"), "x"), "normalize"), "factors");
    cr_assert_not_null(rec, "%s/stats.json: no provenance.factors.x", out2);
    cr_assert(json_equal(rec, described), "stats.json and index.json disagree on the factors of x");
    cr_assert_null(json_object_get(json_object_get(json_object_get(st, "provenance"), "factors"), "b"), "b is not normalized");
    cr_assert_str_eq(json_string_value(json_object_get(rec, "file")), stats);
    cr_assert_str_eq(json_string_value(json_object_get(rec, "variable")), "/x");
    cr_assert_eq(json_integer_value(json_object_get(rec, "features")), 8);
    json_decref(st);
    json_decref(ix);
    tu_python_ok("import sys, os, json, time, zlib\n"
                 "out, out2 = sys.argv[1], sys.argv[1] + '2'\n"
                 "f = out + '/stats.json'\n"
                 "rec = json.load(open(out2 + '/stats.json'))['provenance']['factors']['x']\n"
                 "st = os.stat(f)\n"
                 "assert rec['realpath'] == os.path.realpath(f), rec\n"
                 "assert rec['size'] == st.st_size, rec\n"
                 "assert rec['mtime'] == time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(st.st_mtime)), rec\n"
                 "assert rec['crc32'] == '%08x' % zlib.crc32(open(f, 'rb').read()), rec\n"
                 "own = json.load(open(f))['provenance']['factors']\n"
                 "assert own == {'x': {'stats': 'stats.json', 'split': 'train'}}, own\n"
                 "ix = json.load(open(out + '/index.json'))['outputs']['x']['normalize']['factors']\n"
                 "assert ix == own['x'], ix\n"
                 "print('factors ok')\n",
                 out);
}
