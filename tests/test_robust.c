/* test_robust.c: `normalize: {method: robust}` (engine/robust.h): the median and IQR of each
 * feature within the sketch's relative bound of numpy's np.quantile(method='lower'), outputs
 * (x - median) / IQR, on hostile columns (a 1e8 offset, a constant, NaN, ±Inf and fill values, a
 * column with no value); the same bytes for any --mem, one pass or two and the CUDA kernels
 * (SIMT); factors from a statistics file with a sketch, and the refusal of one without;
 * normalize: quantile against numpy's empirical CDF, and its CUDA kernel (SIMT) byte for byte the CPU's. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 3000, F = 5 };
static const double FILL = -9999.0;

/* /x (N, F) float64 with _FillValue: a skewed feature, a 1e8 offset, a constant, one with NaN,
 * ±Inf and fill values, one with no value at all. */
static const char *write_input(void)
{
    static double x[N * F];
    uint64_t seed = 42;
    for (int r = 0; r < N; r++) {
        double *row = x + r * F;
        row[0] = exp(tu_normal(&seed)) + 5;
        row[1] = 1e8 + tu_normal(&seed);
        row[2] = 7.25;
        row[3] = r % 9 == 0 ? NAN : r % 13 == 0 ? FILL : r % 17 == 0 ? (r % 2 ? INFINITY : -INFINITY) : 100 * tu_normal(&seed);
        row[4] = r % 2 ? NAN : FILL;
    }
    const char *path = tu_path("x.h5");
    uint64_t dims[2] = {N, F};
    tu_write(path, "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, x, 0);
    tu_attr(path, "/x", "_FillValue", H5T_IEEE_F64LE, &FILL, 1);
    return path;
}

#define RECIPE                                                                                                         \
    "inputs: {files: %s, variables: [x]}\n"                                                                            \
    "outputs:\n"                                                                                                       \
    "  r: {from: x, normalize: %s, cast: float64}\n"                                                                   \
    "  s: {from: x, normalize: %s, cast: float32}\n"                                                                   \
    "split: {fractions: {all: 1.0}, shuffle: false}\n"                                                                 \
    "write: {hdf5: true}\n"

/* Writes the recipe with normalization `norm` to DIR/NAME and runs transform into out with the
 * binary, backend and extra arguments (up to 4); the exit code. */
static int transform(const char *binary, const char *backend, const char *out, const char *name, const char *norm,
                     const char *const *extra)
{
    char recipe[1024], text[4096];
    snprintf(recipe, sizeof recipe, "%s/%s", tu_dir(), name);
    snprintf(text, sizeof text, RECIPE, tu_path("x.h5"), norm, norm);
    tu_write_text(recipe, text);
    return tu_transform(binary, recipe, out, backend, extra);
}

static const char *out_dir(const char *name)
{
    static char buf[4][700];
    static int i;
    char *d = buf[i++ % 4];
    snprintf(d, sizeof buf[0], "%s/%s", tu_dir(), name);
    return d;
}

/* Output `dset` of DIR/all.h5 as float64. */
static double *read_out(const char *dir, const char *dset)
{
    char file[800];
    snprintf(file, sizeof file, "%s/all.h5", dir);
    size_t n;
    double *v = tu_read_all(file, dset, &n);
    cr_assert_eq(n, (size_t)N * F, "%s: %zu values", file, n);
    return v;
}

static void same_values(const double *a, const double *b, const char *what)
{
    for (size_t k = 0; k < (size_t)N * F; k++)
        cr_assert((isnan(a[k]) && isnan(b[k])) || a[k] == b[k], "%s: value %zu: %.17g vs %.17g", what, k, a[k], b[k]);
}

/* numpy: each feature's quartiles in stats.json within alpha (relative) of np.quantile(method=
 * 'lower') over the values that are not missing; r = (x - median) / IQR (IQR 0 or no value:
 * divided by 1; no value: shift 0) with those quartiles, s the same within float32; index.json
 * says robust and the sketch's alpha. */
static const char *CHECK =
    "import sys, json, h5py, numpy as np\n"
    "inp, out = sys.argv[1].split(',')\n"
    "x = h5py.File(inp, 'r')['x'][:]\n"
    "o = h5py.File(out + '/all.h5', 'r')\n"
    "r, s = o['r'][:], o['s'][:].astype(np.float64)\n"
    "v = json.load(open(out + '/stats.json'))['variables']['/r']\n"
    "assert v['quantile_levels'] == [0.25, 0.5, 0.75], v['quantile_levels']\n"
    "ix = json.load(open(out + '/index.json'))\n"
    "nm = ix['outputs']['r']['normalize']\n"
    "assert nm['method'] == 'robust' and nm['factors']['sketch_alpha'] == 0.01, nm\n"
    "for f in range(x.shape[1]):\n"
    "    c = x[:, f]\n"
    "    ok = np.isfinite(c) & (c != -9999.0)\n"
    "    q = v['quantiles'][f]\n"
    "    if not ok.any():\n"
    "        assert q == [None, None, None], q\n"
    "        assert np.isnan(r[:, f]).all() and np.isnan(s[:, f]).all()\n"
    "        continue\n"
    "    e = np.quantile(c[ok], [0.25, 0.5, 0.75], method='lower')\n"
    "    for g, w in zip(q, e):\n"
    "        assert abs(g - w) <= 0.01 * abs(w) * (1 + 1e-9), (f, q, e)\n"
    "    med, iqr = q[1], q[2] - q[0]\n"
    "    div = iqr if iqr > 0 else 1.0\n"
    "    want = np.where(ok, (c - med) / div, np.nan)\n"
    "    assert np.array_equal(r[:, f], want, equal_nan=True), (f, r[:5, f], want[:5])\n"
    "    assert np.allclose(s[:, f], want, rtol=6e-8, atol=1e-30, equal_nan=True), f\n"
    "    if f == 2:\n"
    "        assert (r[ok, f] == 0).all()\n"
    "    if f == 0:\n"
    "        e_iqr = e[2] - e[0]\n"
    "        assert abs(iqr - e_iqr) <= 0.01 * (abs(e[0]) + abs(e[2])) * (1 + 1e-9), (iqr, e_iqr)\n";

Test(robust, matches_numpy_on_hostile_columns)
{
    const char *in = write_input(), *out = out_dir("cpu");
    cr_assert_eq(transform(H5PREP_CLI, "cpu", out, "r.yaml", "{method: robust}", NULL), 0, "%s", tu_stderr());
    char arg[2048];
    snprintf(arg, sizeof arg, "%s,%s", in, out);
    tu_python_ok(CHECK, arg);
}

/* The sketch's counts do not depend on slabs or threads, nor the factors on the backend that
 * gathers (the CUDA kernels through the SIMT harness: the factors are the host's). */
Test(robust, same_bytes_for_mem_threads_and_backend)
{
    write_input();
    const char *a = out_dir("a"), *b = out_dir("b"), *c = out_dir("c");
    cr_assert_eq(transform(H5PREP_CLI, "cpu", a, "r.yaml", "{method: robust}", NULL), 0, "%s", tu_stderr());
    const char *small[] = {"--mem", "1M", "--slots", "4", "--threads", "1", NULL};
    cr_assert_eq(transform(H5PREP_CLI, "cpu", b, "r.yaml", "{method: robust}", small), 0, "%s", tu_stderr());
    cr_assert_eq(transform(H5PREP_CLI_SIMT, "cuda", c, "r.yaml", "{method: robust}", NULL), 0, "%s", tu_stderr());
    double *ra = read_out(a, "r"), *rb = read_out(b, "r"), *rc = read_out(c, "r");
    same_values(ra, rb, "--mem 64K --threads 1");
    same_values(ra, rc, "cuda (simt)");
    free(ra), free(rb), free(rc);
}

/* {method: robust, stats: FILE} with a file of `stats --quantiles` (other levels): the quartiles
 * come from the stored sketch, so the outputs equal those of this run's own sketch, with one
 * pass or two. */
Test(robust, factors_from_a_stats_file_with_a_sketch)
{
    write_input();
    const char *st = tu_path("q.json");
    const char *sargs[] = {"stats", tu_input(tu_path("x.h5"), "/x"), "--quantiles", "0.1,0.9", "-o", st, "--quiet", NULL};
    cr_assert_eq(tu_cli(sargs), 0, "%s", tu_stderr());
    char norm[1200];
    snprintf(norm, sizeof norm, "{method: robust, stats: %s}", st);
    /* the statistics file's variable is /x: the outputs are named after it */
    const char *own = out_dir("own"), *one = out_dir("one"), *two = out_dir("two");
    cr_assert_eq(transform(H5PREP_CLI, "cpu", own, "r.yaml", "{method: robust}", NULL), 0, "%s", tu_stderr());
    char recipe[1024], text[4096];
    snprintf(recipe, sizeof recipe, "%s/f.yaml", tu_dir());
    snprintf(text, sizeof text,
             "inputs: {files: %s, variables: [x]}\noutputs:\n  x: {from: x, normalize: %s, cast: float64}\n"
             "split: {fractions: {all: 1.0}, shuffle: false}\nwrite: {hdf5: true}\n",
             tu_path("x.h5"), norm);
    tu_write_text(recipe, text);
    const char *a1[] = {"transform", recipe, "--out", one, "--quiet", "--backend", "cpu", NULL};
    cr_assert_eq(tu_cli(a1), 0, "%s", tu_stderr());
    const char *a2[] = {"transform", recipe, "--out", two, "--quiet", "--backend", "cpu", "--two-passes", NULL};
    cr_assert_eq(tu_cli(a2), 0, "%s", tu_stderr());
    double *r = read_out(own, "r"), *x1 = read_out(one, "x"), *x2 = read_out(two, "x");
    same_values(r, x1, "factors of the file vs this run's");
    same_values(x1, x2, "one pass vs two");
    free(r), free(x1), free(x2);
    json_t *ix = tu_load_json(one, "index.json");
    json_t *nm = json_object_get(json_object_get(json_object_get(ix, "outputs"), "x"), "normalize");
    cr_assert_str_eq(json_string_value(json_object_get(nm, "method")), "robust");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(nm, "factors"), "file")), st);
    json_decref(ix);
}

Test(robust, refuses_a_stats_file_without_a_sketch)
{
    write_input();
    const char *st = tu_path("m.json");
    const char *sargs[] = {"stats", tu_input(tu_path("x.h5"), "/x"), "-o", st, "--quiet", NULL};
    cr_assert_eq(tu_cli(sargs), 0, "%s", tu_stderr());
    char recipe[1024], text[4096];
    snprintf(recipe, sizeof recipe, "%s/f.yaml", tu_dir());
    snprintf(text, sizeof text,
             "inputs: {files: %s, variables: [x]}\noutputs:\n  x: {from: x, normalize: {method: robust, stats: %s}}\n"
             "split: {fractions: {all: 1.0}, shuffle: false}\nwrite: {hdf5: true}\n",
             tu_path("x.h5"), st);
    tu_write_text(recipe, text);
    const char *out = out_dir("no");
    const char *args[] = {"transform", recipe, "--out", out, "--quiet", "--backend", "cpu", NULL};
    int rc = tu_cli(args);
    cr_assert_neq(rc, 0);
    const char *e = tu_stderr();
    cr_assert(strstr(e, st) && strstr(e, "/x") && strstr(e, "no quantile sketch") && strstr(e, "--quantiles"), "%s", e);
    cr_assert(!tu_exists(out), "nothing is written");
    cr_assert(!tu_any_temporary(tu_dir()), "no temporary is left");
}

/* Only the normalizing split's rows go into the sketch: the val half is shifted by 1000, which
 * would move every quartile of all rows. */
Test(robust, takes_the_normalizing_split_only)
{
    static double y[N * 2];
    uint64_t seed = 7;
    for (int r = 0; r < N; r++)
        y[2 * r] = tu_normal(&seed) + (r >= N / 2 ? 1000 : 0), y[2 * r + 1] = r;
    const char *in = tu_path("y.h5"), *out = out_dir("split");
    uint64_t dims[2] = {N, 2};
    tu_write(in, "/y", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, y, 0);
    char recipe[1024], text[4096];
    snprintf(recipe, sizeof recipe, "%s/s.yaml", tu_dir());
    snprintf(text, sizeof text,
             "inputs: {files: %s, variables: [y]}\noutputs:\n  r: {from: y, normalize: robust, cast: float64}\n"
             "split: {by: rows, ranges: {train: [0, 0.5], val: [0.5, 1]}, normalize_with: train}\nwrite: {hdf5: true}\n",
             in);
    tu_write_text(recipe, text);
    const char *args[] = {"transform", recipe, "--out", out, "--quiet", "--backend", "cpu", NULL};
    cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
    char arg[2048];
    snprintf(arg, sizeof arg, "%s,%s", in, out);
    tu_python_ok("import sys, json, h5py, numpy as np\n"
                 "inp, out = sys.argv[1].split(',')\n"
                 "y = h5py.File(inp, 'r')['y'][:]\n"
                 "t = y[: len(y) // 2]\n"
                 "q = json.load(open(out + '/stats.json'))['variables']['/r']['quantiles']\n"
                 "for f in range(2):\n"
                 "    e = np.quantile(t[:, f], [0.25, 0.5, 0.75], method='lower')\n"
                 "    for g, w in zip(q[f], e):\n"
                 "        assert abs(g - w) <= 0.01 * abs(w) * (1 + 1e-9), (f, q[f], e)\n"
                 "    v = h5py.File(out + '/val.h5', 'r')['r'][:, f]\n"
                 "    assert np.array_equal(v, (y[len(y) // 2:, f] - q[f][1]) / (q[f][2] - q[f][0])), f\n",
                 arg);
}

/* ---- normalize: quantile ---- */

/* numpy: q (float64) is each value's CDF from the sketch: every value at or below x counts, and
 * none beyond x's bucket (a relative width 2 alpha), so F(x) <= q <= F(x + 2.5 alpha |x|) with F
 * the empirical CDF of the values that are not missing; q in [0, 1], NaN where x is missing or
 * the feature has no value; a constant feature (one bucket) gives 1; s the same in float32. */
static const char *CDF_CHECK =
    "import sys, json, h5py, numpy as np\n"
    "inp, out = sys.argv[1].split(',')\n"
    "x = h5py.File(inp, 'r')['x'][:]\n"
    "o = h5py.File(out + '/all.h5', 'r')\n"
    "r, s = o['r'][:], o['s'][:]\n"
    "ix = json.load(open(out + '/index.json'))\n"
    "assert ix['outputs']['r']['normalize']['method'] == 'quantile', ix['outputs']['r']['normalize']\n"
    "for f in range(x.shape[1]):\n"
    "    c = x[:, f]\n"
    "    ok = np.isfinite(c) & (c != -9999.0)\n"
    "    assert np.isnan(r[~ok, f]).all() and np.isnan(s[~ok, f]).all(), f\n"
    "    if not ok.any():\n"
    "        continue\n"
    "    v = np.sort(c[ok])\n"
    "    F = lambda y: np.searchsorted(v, y, side='right') / len(v)\n"
    "    g, y = r[ok, f], c[ok]\n"
    "    assert ((g >= 0) & (g <= 1)).all(), f\n"
    "    lo, hi = F(y * (1 - 1e-6 * np.sign(y))), F(y + 2.5 * 0.01 * np.abs(y))\n"
    "    bad = (g < lo) | (g > hi)\n"
    "    assert not bad.any(), (f, y[bad][:3], g[bad][:3], lo[bad][:3], hi[bad][:3])\n"
    "    assert np.array_equal(s[ok, f], g.astype(np.float32)), f\n"
    "    if f == 2:\n"
    "        assert (g == 1).all()\n"
    "    if f == 0:\n"
    "        assert abs(np.median(g) - 0.5) < 0.05 and g.max() == 1, (np.median(g), g.max())\n";

Test(robust, quantile_matches_numpy)
{
    const char *in = write_input(), *out = out_dir("q");
    cr_assert_eq(transform(H5PREP_CLI, "cpu", out, "q.yaml", "quantile", NULL), 0, "%s", tu_stderr());
    char arg[2048];
    snprintf(arg, sizeof arg, "%s,%s", in, out);
    tu_python_ok(CDF_CHECK, arg);
}

/* Every HDF5 dataset of two output directories (the splits' files: outputs a..d and their
 * coordinates) has the same dtype and bytes; a quarter of b's values at least lie inside (0, 1). */
static const char *SAME_H5 =
    "import sys, glob, os, h5py\n"
    "a, b = sys.argv[1].split(',')\n"
    "names = sorted(os.path.basename(p) for p in glob.glob(a + '/*.h5'))\n"
    "assert names and names == sorted(os.path.basename(p) for p in glob.glob(b + '/*.h5')), names\n"
    "for n in names:\n"
    "    fa, fb = h5py.File(a + '/' + n, 'r'), h5py.File(b + '/' + n, 'r')\n"
    "    assert sorted(fa) == sorted(fb) and {'a', 'b', 'c', 'd'} <= set(fa), (n, list(fa), list(fb))\n"
    "    for d in fa:\n"
    "        x, y = fa[d][()], fb[d][()]\n"
    "        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), (n, d)\n"
    "    q = fa['b'][()]\n"
    "    assert ((q > 0) & (q < 1)).sum() > q.size // 4, n\n";

/* One output per cast (float32, float64, float16, bfloat16), all normalize: `norm`, over a train
 * and a val split; DIR/NAME; the recipe's path. */
static const char *casts_recipe(const char *name, const char *norm)
{
    static char recipe[1024];
    char text[8192];
    snprintf(recipe, sizeof recipe, "%s/%s", tu_dir(), name);
    snprintf(text, sizeof text,
             "inputs: {files: %s, variables: [x]}\noutputs:\n"
             "  a: {from: x, normalize: %s, cast: float32}\n  b: {from: x, normalize: %s, cast: float64}\n"
             "  c: {from: x, normalize: %s, cast: float16}\n  d: {from: x, normalize: %s, cast: bfloat16}\n"
             "split: {fractions: {train: 0.7, val: 0.3}, seed: 3}\nwrite: {hdf5: true}\n",
             tu_path("x.h5"), norm, norm, norm, norm);
    tu_write_text(recipe, text);
    return recipe;
}

static void same_h5(const char *a, const char *b)
{
    char arg[2048];
    snprintf(arg, sizeof arg, "%s,%s", a, b);
    tu_python_ok(SAME_H5, arg);
}

/* The CUDA kernel (through the SIMT harness) gives the CPU's bytes for every cast: with this
 * run's sketch (two passes; small slots: several blocks and slots per output, the table uploaded
 * once) and with the sketches of that run's stats.json (one pass, each gathered slab finished). */
Test(robust, quantile_on_cuda_gives_the_cpus_bytes)
{
    write_input();
    const char *own = casts_recipe("q4.yaml", "quantile");
    const char *cpu = out_dir("q4cpu"), *gpu = out_dir("q4gpu"), *tight = out_dir("q4tight");
    cr_assert_eq(tu_transform(H5PREP_CLI, own, cpu, "cpu", NULL), 0, "%s", tu_stderr());
    cr_assert_eq(tu_transform(H5PREP_CLI_SIMT, own, gpu, "cuda", NULL), 0, "%s", tu_stderr());
    same_h5(cpu, gpu);
    const char *small[] = {"--mem", "256K", "--slots", "3", NULL};
    cr_assert_eq(tu_transform(H5PREP_CLI_SIMT, own, tight, "cuda", small), 0, "%s", tu_stderr());
    same_h5(cpu, tight);

    char norm[1024];
    snprintf(norm, sizeof norm, "{method: quantile, stats: %s/stats.json}", cpu);
    const char *given = casts_recipe("q4f.yaml", norm);
    const char *fcpu = out_dir("q4fcpu"), *fgpu = out_dir("q4fgpu");
    cr_assert_eq(tu_transform(H5PREP_CLI, given, fcpu, "cpu", NULL), 0, "%s", tu_stderr());
    cr_assert_eq(tu_transform(H5PREP_CLI_SIMT, given, fgpu, "cuda", NULL), 0, "%s", tu_stderr());
    same_h5(fcpu, fgpu);
}

/* quantile with the sketch of a statistics file: this run's outputs, with one pass or two; the
 * same --mem and --threads independence. */
Test(robust, quantile_from_a_stats_file_and_any_slabs)
{
    write_input();
    const char *st = tu_path("q.json");
    const char *sargs[] = {"stats", tu_input(tu_path("x.h5"), "/x"), "--quantiles", "0.5", "-o", st, "--quiet", NULL};
    cr_assert_eq(tu_cli(sargs), 0, "%s", tu_stderr());
    const char *own = out_dir("own"), *small = out_dir("small"), *one = out_dir("one"), *two = out_dir("two");
    cr_assert_eq(transform(H5PREP_CLI, "cpu", own, "q.yaml", "quantile", NULL), 0, "%s", tu_stderr());
    const char *tight[] = {"--mem", "1M", "--slots", "4", "--threads", "1", NULL};
    cr_assert_eq(transform(H5PREP_CLI, "cpu", small, "q.yaml", "quantile", tight), 0, "%s", tu_stderr());
    char recipe[1024], text[4096];
    snprintf(recipe, sizeof recipe, "%s/f.yaml", tu_dir());
    snprintf(text, sizeof text,
             "inputs: {files: %s, variables: [x]}\noutputs:\n  x: {from: x, normalize: {method: quantile, stats: %s}, cast: float64}\n"
             "split: {fractions: {all: 1.0}, shuffle: false}\nwrite: {hdf5: true}\n",
             tu_path("x.h5"), st);
    tu_write_text(recipe, text);
    const char *a1[] = {"transform", recipe, "--out", one, "--quiet", "--backend", "cpu", NULL};
    cr_assert_eq(tu_cli(a1), 0, "%s", tu_stderr());
    const char *a2[] = {"transform", recipe, "--out", two, "--quiet", "--backend", "cpu", "--two-passes", NULL};
    cr_assert_eq(tu_cli(a2), 0, "%s", tu_stderr());
    double *r = read_out(own, "r"), *rs = read_out(small, "r"), *x1 = read_out(one, "x"), *x2 = read_out(two, "x");
    same_values(r, rs, "--mem 1M --slots 4 --threads 1");
    same_values(r, x1, "the file's sketch vs this run's");
    same_values(x1, x2, "one pass vs two");
    free(r), free(rs), free(x1), free(x2);
}
