/* test_recipe_weights.c: a recipe's `normalize: {weights: SPEC}` (engine/transform.c): zscore by
 * the weighted mean and std that numpy gives (np.average with weights, float64 two-pass) on the
 * Gaussian grid of data/nc4uvt.nc and on a generated grid with a 1e8 offset, the weights following
 * the output's map; the same bytes for any --threads; the CUDA kernels (SIMT) within the weighted
 * tolerance; factors from a weighted statistics file; bad weights refused naming the recipe and key. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NC4 H5PREP_SOURCE_DIR "/data/nc4uvt.nc"

enum { N = 37, LAT = 6, LON = 8, C = 3, TRAIN = 26 }; /* by rows [0, 0.7]: floor(0.7 * 37 + 0.5) = 26 rows */
static const double FILL = -9999.0;

/* The numpy reference. argv[1] is 'OUT|SPLITS|DATA|DATASET|KIND|WFILE|WDATASET|AXIS|START|TRAIN|KEEP|NAME|SPEC':
 * the weights are coslat (cos of WDATASET along data AXIS) or an array broadcast to the data; the
 * output is the dataset sliced from START along axis 1, normalized per feature along axis KEEP with
 * the statistics of its first TRAIN rows, and written to the files of SPLITS (comma-separated, rows
 * in order). stats.json: counts, missing, min and max exact, mean within 1e-12 (|mean| + std), var
 * 1e-10 relative, wsum 1e-12 relative, and the spec recorded; each output is (x - mean) / std of
 * stats.json's own mean and sqrt(m2 / wsum), to 1e-12. */
static const char *const py_check =
    "import sys, json, h5py, numpy as np\n"
    "out, splits, fn, ds, kind, wf, wd, axis, start, train, keep, name, spec = sys.argv[1].split('|')\n"
    "axis, start, train, keep = int(axis), int(start), int(train), int(keep)\n"
    "with h5py.File(fn) as f:\n"
    "    x = f[ds][()].astype(np.float64)\n"
    "    fill = f[ds].attrs.get('_FillValue')\n"
    "if fill is not None:\n"
    "    x[x == float(np.asarray(fill).ravel()[0])] = np.nan\n"
    "x[~np.isfinite(x)] = np.nan\n"
    "with h5py.File(wf) as f:\n"
    "    w = f[wd][()].astype(np.float64)\n"
    "if kind == 'coslat':\n"
    "    shape = [1] * x.ndim; shape[axis] = x.shape[axis]\n"
    "    w = np.clip(np.cos(np.deg2rad(w)), 0, None).reshape(shape)\n"
    "w = np.broadcast_to(w, x.shape)\n"
    "x, w = x[:, start:], w[:, start:]\n"
    "def feat(a):\n"
    "    return np.moveaxis(a, keep, 0).reshape(a.shape[keep], -1)\n"
    "X, W = feat(x[:train]), feat(w[:train])\n"
    "ok = ~np.isnan(X)\n"
    "F = X.shape[0]\n"
    "mean = np.array([np.average(X[i][ok[i]], weights=W[i][ok[i]]) for i in range(F)])\n"
    "var = np.array([np.average((X[i][ok[i]] - mean[i]) ** 2, weights=W[i][ok[i]]) for i in range(F)])\n"
    "wsum = np.where(ok, W, 0).sum(1)\n"
    "doc = json.load(open(out + '/stats.json'))\n"
    "d = doc['variables']['/' + name]\n"
    "a = lambda k: np.asarray(d[k], dtype=float)\n"
    "assert (a('count') == ok.sum(1)).all(), ('count', a('count'), ok.sum(1))\n"
    "assert (a('missing') == (~ok).sum(1)).all(), 'missing'\n"
    "assert (a('min') == np.nanmin(X, 1)).all() and (a('max') == np.nanmax(X, 1)).all(), 'min/max'\n"
    "em = np.abs(a('mean') - mean).max() / (np.abs(mean) + np.sqrt(var)).min()\n"
    "assert em <= 1e-12, ('mean', a('mean'), mean)\n"
    "assert (np.abs(a('var') - var) <= 1e-10 * var).all(), ('var', a('var'), var)\n"
    "assert (np.abs(a('wsum') - wsum) <= 1e-12 * wsum).all(), ('wsum', a('wsum'), wsum)\n"
    "assert d['weights']['spec'] == spec and doc['provenance']['factors'][name]['weights']['spec'] == spec, d.get('weights')\n"
    "sh = [1] * x.ndim; sh[keep] = F\n"
    "want = (x - a('mean').reshape(sh)) / np.sqrt(a('m2') / a('wsum')).reshape(sh)\n"
    "got = np.concatenate([h5py.File(out + '/' + s + '.h5')[name][()] for s in splits.split(',')])\n"
    "assert np.array_equal(np.isnan(got), np.isnan(want)), 'missing values'\n"
    "e = np.nanmax(np.abs(got - want) / (1 + np.abs(want)))\n"
    "assert e <= 1e-12, ('output', e)\n"
    "print('numpy reference: %d weighted features agree (%s, %s)' % (F, doc['provenance']['backend'], out))\n";

/* /x (N, LAT, LON, C) float64: 1e8 + N(0,1) in channel 0, a skewed channel 1, channel 2 with NaN,
 * fill values and Inf; /w (LAT, LON, 1) cell weights with a row of zeros; /wbad (7, LON) and /wrow
 * (N, LAT, LON, C), which do not broadcast or vary along axis 0. */
static const char *write_grid(void)
{
    static double x[N * LAT * LON * C], w[LAT * LON], wrow[N * LAT * LON * C], wbad[7 * LON];
    uint64_t seed = 7;
    for (int i = 0; i < N * LAT * LON; i++) {
        double *v = x + (size_t)i * C;
        v[0] = 1e8 + tu_normal(&seed);
        v[1] = exp(tu_normal(&seed)) + 0.25 * (i % LON);
        v[2] = i % 11 == 0 ? NAN : i % 13 == 0 ? FILL : i % 29 == 0 ? INFINITY : 50 * tu_normal(&seed);
    }
    for (int la = 0; la < LAT; la++)
        for (int lo = 0; lo < LON; lo++)
            w[la * LON + lo] = la == 3 ? 0.0 : (1.0 + la) * (1.0 + 0.1 * lo);
    for (size_t i = 0; i < sizeof wrow / sizeof *wrow; i++)
        wrow[i] = 1.0 + (double)(i % 5);
    for (size_t i = 0; i < sizeof wbad / sizeof *wbad; i++)
        wbad[i] = 1.0;
    const char *path = tu_path("grid.h5");
    uint64_t dims[4] = {N, LAT, LON, C}, wd[3] = {LAT, LON, 1}, bd[2] = {7, LON};
    tu_write(path, "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 4, dims, x, 8);
    tu_attr(path, "/x", "_FillValue", H5T_IEEE_F64LE, &FILL, 1);
    tu_write(path, "/w", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, wd, w, 0);
    tu_write(path, "/wrow", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 4, dims, wrow, 0);
    tu_write(path, "/wbad", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, bd, wbad, 0);
    return path;
}

/* The grid's recipe: output x, a slice of /x from latitude 1, normalized per channel with the
 * weights given (NORM: the normalize mapping), split by rows into train and test. */
#define GRID_RECIPE                                                                                                    \
    "inputs: {files: %s, variables: [x]}\n"                                                                         \
    "outputs:\n"                                                                                                       \
    "  x: {from: {slice: {of: x, axis: 1, start: 1}}, normalize: %s, cast: float64}\n"                                 \
    "split: {by: rows, ranges: {train: [0, 0.7], test: [0.7, 1]}}\n"                                                   \
    "write: {hdf5: true}\n"

/* Writes the grid's recipe with normalize `norm` as DIR/r.yaml and runs transform into out with
 * the binary, backend and up to 4 more arguments; the exit code. */
static int run_grid(const char *binary, const char *backend, const char *out, const char *norm, const char *const *extra)
{
    char recipe[1024], text[4096];
    snprintf(recipe, sizeof recipe, "%s/r.yaml", tu_dir());
    snprintf(text, sizeof text, GRID_RECIPE, tu_path("grid.h5"), norm);
    tu_write_text(recipe, text);
    return tu_transform(binary, recipe, out, backend, extra);
}

static void check_grid(const char *out)
{
    char arg[4096];
    snprintf(arg, sizeof arg, "%s|train,test|%s|/x|array|%s|/w|0|1|%d|3|x|%s:/w", out, tu_path("grid.h5"),
             tu_path("grid.h5"), TRAIN, tu_path("grid.h5"));
    tu_python_ok(py_check, arg);
}

/* The "variables" of DIR/stats.json as compact JSON (malloc'd): what must not change with --threads. */
static char *stats_variables(const char *dir)
{
    json_t *doc = tu_load_json(dir, "stats.json");
    char *text = json_dumps(json_object_get(doc, "variables"), JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    cr_assert(text, "stats.json of %s has no variables", dir);
    return text;
}

/* The dataset /x of the split files of two directories hold the same values, bit for bit. */
static void same_outputs(const char *a, const char *b, const char *name)
{
    const char *splits[] = {"train.h5", "test.h5"};
    for (int k = 0; k < 2; k++) {
        char pa[2048], pb[2048];
        snprintf(pa, sizeof pa, "%s/%s", a, splits[k]);
        snprintf(pb, sizeof pb, "%s/%s", b, splits[k]);
        size_t na, nb;
        double *va = tu_read_all(pa, name, &na), *vb = tu_read_all(pb, name, &nb);
        cr_assert_eq(na, nb, "%s and %s: %zu and %zu values", pa, pb, na, nb);
        cr_assert_eq(memcmp(va, vb, na * sizeof *va), 0, "%s and %s: other bytes", pa, pb);
        free(va), free(vb);
    }
}

#define GRID_WEIGHTS "{method: zscore, weights: '%s:/w'}"

Test(recipe_weights, zscore_on_the_gaussian_grid_matches_numpy_on_both_backends)
{
    const char *recipe =
        "inputs: {files: " NC4 ", variables: {T: /T}}\n"
        "outputs:\n"
        "  t: {from: T, normalize: {method: zscore, keep_axes: 1, weights: 'coslat:" NC4 ":/lat'}, cast: float64}\n"
        "write: {hdf5: true}\n";
    const char *cpu = tu_path("cpu"), *gpu = tu_path("gpu");
    cr_assert_eq(tu_transform_fmt(H5PREP_CLI, "cpu", cpu, tu_dir(), "t.yaml", "%s", recipe), 0, "%s", tu_stderr());
    char arg[4096];
    snprintf(arg, sizeof arg, "%s|all|%s|/T|coslat|%s|/lat|2|0|1|1|t|coslat:%s:/lat", cpu, NC4, NC4, NC4);
    tu_python_ok(py_check, arg);
    json_t *doc = tu_load_json(cpu, "stats.json");
    json_t *t = json_object_get(json_object_get(doc, "variables"), "/t");
    cr_assert_eq(json_integer_value(json_object_get(t, "weights_axis")), 2, "weights_axis: the latitude axis of /T");
    json_decref(doc);
    cr_assert_eq(tu_transform_fmt(H5PREP_CLI_SIMT, "cuda", gpu, tu_dir(), "t.yaml", "%s", recipe), 0, "%s", tu_stderr());
    snprintf(arg, sizeof arg, "%s|all|%s|/T|coslat|%s|/lat|2|0|1|1|t|coslat:%s:/lat", gpu, NC4, NC4, NC4);
    tu_python_ok(py_check, arg);
}

Test(recipe_weights, zscore_on_a_1e8_grid_matches_numpy_through_a_slice_and_a_split)
{
    write_grid();
    char norm[2048];
    snprintf(norm, sizeof norm, GRID_WEIGHTS, tu_path("grid.h5"));
    const char *out = tu_path("out");
    cr_assert_eq(run_grid(H5PREP_CLI, "cpu", out, norm, NULL), 0, "%s", tu_stderr());
    check_grid(out);
}

Test(recipe_weights, the_same_bytes_for_any_threads_isa_path_and_one_pass_or_two)
{
    write_grid();
    char norm[2048];
    snprintf(norm, sizeof norm, GRID_WEIGHTS, tu_path("grid.h5"));
    const char *one = tu_path("t1"), *three = tu_path("t3"), *two = tu_path("two"), *generic = tu_path("generic");
    const char *t1[] = {"--threads", "1", NULL}, *t3[] = {"--threads", "3", NULL}, *tp[] = {"--two-passes", NULL};
    cr_assert_eq(run_grid(H5PREP_CLI, "cpu", one, norm, t1), 0, "%s", tu_stderr());
    cr_assert_eq(run_grid(H5PREP_CLI, "cpu", three, norm, t3), 0, "%s", tu_stderr());
    cr_assert_eq(run_grid(H5PREP_CLI, "cpu", two, norm, tp), 0, "%s", tu_stderr());
    setenv("H5PREP_ISA", "generic", 1); /* this test's process only: Criterion runs each test in its own */
    cr_assert_eq(run_grid(H5PREP_CLI, "cpu", generic, norm, NULL), 0, "%s", tu_stderr());
    unsetenv("H5PREP_ISA");
    const char *dirs[] = {three, two, generic};
    char *a = stats_variables(one);
    for (int k = 0; k < 3; k++) {
        char *b = stats_variables(dirs[k]);
        cr_assert_str_eq(a, b, "stats.json of %s differs from --threads 1's", dirs[k]);
        free(b);
        same_outputs(one, dirs[k], "/x");
    }
    free(a);
}

Test(recipe_weights, cuda_backend_matches_numpy_and_the_cpu_within_the_weighted_tolerance)
{
    write_grid();
    char norm[2048];
    snprintf(norm, sizeof norm, GRID_WEIGHTS, tu_path("grid.h5"));
    const char *cpu = tu_path("cpu"), *gpu = tu_path("gpu");
    cr_assert_eq(run_grid(H5PREP_CLI, "cpu", cpu, norm, NULL), 0, "%s", tu_stderr());
    cr_assert_eq(run_grid(H5PREP_CLI_SIMT, "cuda", gpu, norm, NULL), 0, "cuda (simt): %s", tu_stderr());
    check_grid(gpu);
    char arg[2048];
    snprintf(arg, sizeof arg, "%s|%s", cpu, gpu);
    tu_python_ok("import sys, json, numpy as np\n"
                 "a, b = [json.load(open(p + '/stats.json')) for p in sys.argv[1].split('|')]\n"
                 "assert a['provenance']['backend'] == 'cpu' and b['provenance']['backend'] == 'cuda'\n"
                 "x, y = a['variables']['/x'], b['variables']['/x']\n"
                 "for k in ('count', 'missing', 'min', 'max', 'flags'):\n"
                 "    assert x[k] == y[k], k\n"
                 "f = lambda d, k: np.asarray(d[k], dtype=float)\n"
                 "std = f(x, 'std')\n"
                 "assert (np.abs(f(x, 'mean') - f(y, 'mean')) <= 1e-12 * (np.abs(f(x, 'mean')) + std)).all(), 'mean'\n"
                 "assert (np.abs(f(x, 'var') - f(y, 'var')) <= 1e-10 * f(x, 'var') + (1e-15 * f(x, 'mean')) ** 2).all(), 'var'\n"
                 "assert (np.abs(f(x, 'wsum') - f(y, 'wsum')) <= 1e-12 * f(x, 'wsum')).all(), 'wsum'\n"
                 "print('cpu and cuda (simt) agree: wsum', np.max(np.abs(f(x, 'wsum') / f(y, 'wsum') - 1)), 'var', np.max(np.abs(f(x, 'var') / f(y, 'var') - 1)))\n",
                 arg);
}

/* normalize: {stats: FILE} with a weighted file: its weighted mean and sqrt(m2 / wsum), and the
 * factors say so; a weighted transform's own stats.json gives the run's very bytes again. */
Test(recipe_weights, factors_of_a_weighted_statistics_file_are_its_weighted_ones)
{
    const char *sfile = tu_path("T.json");
    const char *stats[] = {"stats", NC4 ":/T", "-k", "1", "--weights", "coslat:" NC4 ":/lat", "-o", sfile, "-q", NULL};
    cr_assert_eq(tu_cli(stats), 0, "%s", tu_stderr());
    const char *out = tu_path("fromfile");
    cr_assert_eq(tu_transform_fmt(H5PREP_CLI, "cpu", out, tu_dir(), "f.yaml",
                                  "inputs: {files: %s, variables: {T: /T}}\n"
                                  "outputs:\n"
                                  "  T: {from: T, normalize: {method: zscore, keep_axes: 1, stats: %s}, cast: float64}\n"
                                  "write: {hdf5: true}\n",
                                  NC4, sfile),
                 0, "%s", tu_stderr());
    char arg[4096];
    snprintf(arg, sizeof arg, "%s|%s|%s", out, sfile, NC4);
    tu_python_ok("import sys, json, h5py, numpy as np\n"
                 "out, sf, fn = sys.argv[1].split('|')\n"
                 "d = json.load(open(sf))['variables']['/T']\n"
                 "mean, sd = np.asarray(d['mean']), np.sqrt(np.asarray(d['m2']) / np.asarray(d['wsum']))\n"
                 "with h5py.File(fn) as f:\n"
                 "    x = f['T'][()].astype(np.float64)\n"
                 "x[x == -999] = np.nan\n"
                 "want = (x - mean[None, :, None, None]) / sd[None, :, None, None]\n"
                 "got = h5py.File(out + '/all.h5')['T'][()]\n"
                 "assert np.array_equal(np.isnan(got), np.isnan(want)), 'missing'\n"
                 "assert np.nanmax(np.abs(got - want)) <= 1e-12, np.nanmax(np.abs(got - want))\n"
                 "fa = json.load(open(out + '/index.json'))['outputs']['T']['normalize']['factors']\n"
                 "assert fa['weighted'] is True and fa['file'] == sf, fa\n"
                 "print('weighted factors of the statistics file applied')\n",
                 arg);
    /* the grid's weighted stats.json normalizes a second run to the same bytes */
    write_grid();
    char norm[2048];
    snprintf(norm, sizeof norm, GRID_WEIGHTS, tu_path("grid.h5"));
    const char *first = tu_path("first"), *again = tu_path("again");
    cr_assert_eq(run_grid(H5PREP_CLI, "cpu", first, norm, NULL), 0, "%s", tu_stderr());
    char path[2048];
    snprintf(path, sizeof path, "{method: zscore, stats: %s/stats.json}", first);
    cr_assert_eq(run_grid(H5PREP_CLI, "cpu", again, path, NULL), 0, "%s", tu_stderr());
    same_outputs(first, again, "/x");
    json_t *idx = tu_load_json(again, "index.json");
    json_t *fa = json_object_get(json_object_get(json_object_get(json_object_get(idx, "outputs"), "x"), "normalize"), "factors");
    cr_assert(json_is_true(json_object_get(fa, "weighted")), "factors of a weighted transform's stats.json are weighted");
    json_decref(idx);
}

/* A refused recipe: exit `rc`, a message naming the recipe (r.yaml), the key and `what`, and no
 * output directory. */
static void refused(const char *norm, int rc, const char *key, const char *what)
{
    const char *out = tu_path("refused");
    int got = run_grid(H5PREP_CLI, "cpu", out, norm, NULL);
    cr_assert_eq(got, rc, "normalize %s: exit %d, expected %d: %s", norm, got, rc, tu_stderr());
    cr_assert(strstr(tu_stderr(), "r.yaml:"), "the message names the recipe: %s", tu_stderr());
    cr_assert(strstr(tu_stderr(), key), "the message names %s: %s", key, tu_stderr());
    cr_assert(strstr(tu_stderr(), what), "the message says '%s': %s", what, tu_stderr());
    cr_assert(!tu_exists(out), "nothing is written: %s exists", out);
    cr_assert(!tu_any_temporary(tu_dir()), "no temporary is left");
}

Test(recipe_weights, bad_weights_are_refused_naming_the_recipe_and_key)
{
    write_grid();
    const char *g = tu_path("grid.h5");
    char norm[2048];
    snprintf(norm, sizeof norm, "{method: zscore, weights: '%s:/wbad'}", g);
    refused(norm, 9, "outputs.x.normalize.weights", "do not broadcast");
    snprintf(norm, sizeof norm, "{method: zscore, weights: '%s:/wrow'}", g);
    refused(norm, 9, "outputs.x.normalize.weights", "vary along axis 0");
    refused("{method: zscore, weights: 'quadrature:gauss', weights_axis: 1}", 2, "outputs.x.normalize.weights",
            "unknown quadrature rule 'gauss'");
    refused("{method: zscore, weights: 'quadrature:naive'}", 2, "outputs.x.normalize.weights_axis", "needs the latitude axis");
    refused("{method: zscore, weights: 'no-such-form'}", 2, "outputs.x.normalize.weights", "expected coslat:FILE:/LAT");
    snprintf(norm, sizeof norm, "{method: zscore, weights: '%s:/missing'}", g);
    refused(norm, 6, "outputs.x.normalize.weights", "/missing");
    snprintf(norm, sizeof norm, "{method: robust, weights: '%s:/w'}", g);
    refused(norm, 2, "outputs.x.normalize.weights", "robust cannot be weighted");
    snprintf(norm, sizeof norm, "{method: quantile, weights: '%s:/w'}", g);
    refused(norm, 2, "outputs.x.normalize.weights", "quantile cannot be weighted");
    snprintf(norm, sizeof norm, "{method: none, weights: '%s:/w'}", g);
    refused(norm, 2, "outputs.x.normalize.weights", "none cannot be weighted");
    refused("{method: zscore, weights_axis: 2}", 2, "outputs.x.normalize.weights_axis", "without");
}

/* An output of two variables (a concat) has no one set of axes for its weights. */
Test(recipe_weights, an_output_of_several_variables_is_refused)
{
    write_grid();
    const char *g = tu_path("grid.h5");
    char recipe[1024], text[4096];
    snprintf(recipe, sizeof recipe, "%s/r.yaml", tu_dir());
    snprintf(text, sizeof text,
             "inputs: {files: %s, variables: {x: /x, w: /wrow}}\n"
             "outputs:\n"
             "  x: {from: {concat: {of: [x, w], axis: 3}}, normalize: {method: zscore, weights: '%s:/w'}}\n"
             "write: {hdf5: true}\n",
             g, g);
    tu_write_text(recipe, text);
    const char *out = tu_path("refused");
    const char *args[] = {"transform", recipe, "--out", out, "--quiet", "--backend", "cpu", NULL};
    cr_assert_eq(tu_cli(args), 2, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "r.yaml:3:") && strstr(tu_stderr(), "more than one input variable"), "%s", tu_stderr());
    cr_assert(!tu_exists(out), "nothing is written");
}

/* A constant pad gives elements no variable holds: refused, like several variables. */
Test(recipe_weights, an_output_with_constant_pads_is_refused)
{
    write_grid();
    char norm[2048];
    snprintf(norm, sizeof norm, GRID_WEIGHTS, tu_path("grid.h5"));
    char recipe[1024], text[4096];
    snprintf(recipe, sizeof recipe, "%s/r.yaml", tu_dir());
    snprintf(text, sizeof text,
             "inputs: {files: %s, variables: [x]}\n"
             "outputs:\n"
             "  x: {from: {pad: {of: x, axis: 1, before: 1}}, normalize: %s}\n"
             "write: {hdf5: true}\n",
             tu_path("grid.h5"), norm);
    tu_write_text(recipe, text);
    const char *out = tu_path("refused");
    const char *args[] = {"transform", recipe, "--out", out, "--quiet", "--backend", "cpu", NULL};
    cr_assert_eq(tu_cli(args), 2, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "r.yaml:3:") && strstr(tu_stderr(), "constants (a constant pad)"), "%s", tu_stderr());
    cr_assert(!tu_exists(out), "nothing is written");
}

/* minmax with weights: min and max, which weights do not change (the moments in stats.json are weighted). */
Test(recipe_weights, minmax_with_weights_uses_the_unweighted_min_and_max)
{
    write_grid();
    const char *g = tu_path("grid.h5");
    char norm[2048];
    const char *a = tu_path("plain"), *b = tu_path("weighted");
    cr_assert_eq(run_grid(H5PREP_CLI, "cpu", a, "{method: minmax}", NULL), 0, "%s", tu_stderr());
    snprintf(norm, sizeof norm, "{method: minmax, weights: '%s:/w'}", g);
    cr_assert_eq(run_grid(H5PREP_CLI, "cpu", b, norm, NULL), 0, "%s", tu_stderr());
    same_outputs(a, b, "/x");
    json_t *doc = tu_load_json(b, "stats.json");
    cr_assert(json_object_get(json_object_get(json_object_get(doc, "variables"), "/x"), "wsum"), "stats.json has wsum");
    json_decref(doc);
}
