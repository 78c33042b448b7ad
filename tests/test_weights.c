/* test_weights.c: area-weighted statistics (--weights) against numpy's weighted formulas
 * (np.average with weights, a float64 two-pass for m2) on the Gaussian grid of data/nc4uvt.nc and
 * on hostile generated grids; results independent of threads, --mem, slots and parts; the state
 * file's weights, the weighted merge and its refusals; and bad weights, each with its message. */
#include "input/weights.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NC4 H5PREP_SOURCE_DIR "/data/nc4uvt.nc"

/* The numpy reference. argv[1] is 'JSON|DATA|DATASET|KIND|WEIGHTS|AXIS|KEEP_FIRST|KEEP_COUNT|DDOF':
 * KIND coslat or array (WEIGHTS = FILE:DATASET), or a quadrature rule (WEIGHTS unused, along AXIS).
 * Fill values (_FillValue) and NaN/Inf are missing and carry no weight. Counts, missing, min and
 * max must be exact; mean within 1e-12 (|mean| + std), var 1e-10 relative (plus numpy's own
 * (1e-15 mean)^2 for constant features), wsum 1e-12 relative. */
static const char *const py_reference =
    "import sys, json, h5py, numpy as np\n"
    "js, fn, ds, kind, warg, axis, kf, kc, ddof = sys.argv[1].split('|')\n"
    "axis, kf, kc, ddof = int(axis), int(kf), int(kc), int(ddof)\n"
    "d = json.load(open(js))['variables'][ds]\n"
    "with h5py.File(fn) as f:\n"
    "    x = f[ds][()].astype(np.float64)\n"
    "    fill = f[ds].attrs.get('_FillValue')\n"
    "if fill is not None:\n"
    "    x[x == float(np.asarray(fill).ravel()[0])] = np.nan\n"
    "x[~np.isfinite(x)] = np.nan\n"
    "def cc(n):\n" /* torch-harmonics' clenshaw_curtiss_weights (Waldvogel 2006), as Makani uses it */
    "    n1 = n - 1\n"
    "    N = np.arange(1, n1, 2, dtype=np.float64)\n"
    "    l = len(N); m = n1 - l\n"
    "    v = np.concatenate([2 / N / (N - 2), 1 / N[-1:], np.zeros(m)])\n"
    "    v = 0 - v[:-1] - v[:0:-1]\n"
    "    g0 = -np.ones(n1); g0[l] += n1; g0[m] += n1\n"
    "    g = g0 / (n1 ** 2 - 1 + (n1 % 2))\n"
    "    w = np.fft.ifft(v + g).real\n"
    "    return np.concatenate([w, w[:1]])\n"
    "if kind in ('coslat', 'array'):\n"
    "    wf, wd = warg.split(':', 1)\n"
    "    with h5py.File(wf) as f:\n"
    "        w = f[wd][()].astype(np.float64)\n"
    "    if kind == 'coslat':\n"
    "        w1 = np.clip(np.cos(np.deg2rad(w)), 0, None)\n"
    "else:\n"
    "    n = x.shape[axis]\n"
    "    if kind == 'legendre-gauss':\n"
    "        w1 = np.polynomial.legendre.leggauss(n)[1]\n"
    "    elif kind == 'clenshaw-curtis':\n"
    "        w1 = cc(n)\n"
    "    else:\n"
    "        s = np.clip(np.sin(np.linspace(0, np.pi, n)), 0, None)\n"
    "        w1 = s * 2 / s.sum()\n"
    "if kind != 'array':\n"
    "    shape = [1] * x.ndim; shape[axis] = x.shape[axis]\n"
    "    w = w1.reshape(shape)\n"
    "w = np.broadcast_to(w, x.shape)\n"
    "def feat(a):\n"
    "    if kc == 0:\n"
    "        return a.reshape(1, -1)\n"
    "    kept = list(range(kf, kf + kc))\n"
    "    return np.moveaxis(a, kept, list(range(kc))).reshape(int(np.prod([x.shape[k] for k in kept])), -1)\n"
    "X, W = feat(x), feat(w)\n"
    "ok = ~np.isnan(X)\n"
    "F = X.shape[0]\n"
    "mean = np.full(F, np.nan); var = np.full(F, np.nan)\n"
    "wsum = np.where(ok, W, 0).sum(1)\n"
    "for i in range(F):\n"
    "    xi, wi = X[i][ok[i]], W[i][ok[i]]\n"
    "    if wi.sum() > 0:\n"
    "        mean[i] = np.average(xi, weights=wi)\n"
    "        m2 = np.sum(wi * (xi - mean[i]) ** 2)\n"
    "        var[i] = m2 / (wsum[i] - ddof) if wsum[i] > ddof else np.nan\n"
    "def arr(k):\n"
    "    return np.asarray(d[k], dtype=float)\n"
    "assert (arr('count') == ok.sum(1)).all(), ('count', arr('count'), ok.sum(1))\n"
    "assert (arr('missing') == (~ok).sum(1)).all(), 'missing'\n"
    "has = ok.any(1)\n"
    "assert (arr('min')[has] == np.nanmin(X[has], 1)).all(), 'min'\n"
    "assert (arr('max')[has] == np.nanmax(X[has], 1)).all(), 'max'\n"
    "std = np.sqrt(np.where(np.isnan(var), 0, var))\n"
    "em = np.abs(arr('mean') - mean); tol = 1e-12 * (np.abs(mean) + std)\n"
    "assert np.array_equal(np.isnan(arr('mean')), np.isnan(mean)), ('mean null', arr('mean'), mean)\n"
    "assert (em[~np.isnan(mean)] <= tol[~np.isnan(mean)]).all(), ('mean', np.max(em[~np.isnan(mean)]))\n"
    "assert np.array_equal(np.isnan(arr('var')), np.isnan(var)), ('var null', arr('var'), var)\n"
    "v = ~np.isnan(var)\n"
    "tv = 1e-10 * var[v] + (1e-15 * np.abs(mean[v])) ** 2\n" /* numpy's own rounding of a constant's mean */
    "assert (np.abs(arr('var')[v] - var[v]) <= tv).all(), ('var', arr('var')[v], var[v])\n"
    "assert (np.abs(arr('wsum') - wsum) <= 1e-12 * wsum).all(), ('wsum', arr('wsum'), wsum)\n"
    "print('numpy reference: %d features agree' % F)\n";

/* Runs the CLI's stats with args (NULL-terminated) and asserts exit 0. */
static void stats_ok(const char *const *args)
{
    int rc = tu_cli(args);
    cr_assert_eq(rc, 0, "h5prep %s %s ... exited %d: %s", args[0], args[1], rc, tu_stderr());
}

static void check_reference(const char *json, const char *data, const char *dset, const char *kind, const char *warg,
                            int axis, int kf, int kc, int ddof)
{
    char arg[4096];
    snprintf(arg, sizeof arg, "%s|%s|%s|%s|%s|%d|%d|%d|%d", json, data, dset, kind, warg, axis, kf, kc, ddof);
    tu_python_ok(py_reference, arg);
}

/* ---- the Gaussian grid of data/nc4uvt.nc (64 latitudes, 14 levels) ------------------------ */

Test(weights, coslat_on_the_gaussian_grid_matches_numpy)
{
    struct {
        const char *keep;
        int kf, kc, ddof;
    } cases[] = {{"1", 1, 1, 0}, {"none", 0, 0, 1}, {"2", 2, 1, 0}, {"1,2", 1, 2, 0}, {"-1", 3, 1, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *out = tu_path("t.json");
        char ddof[8];
        snprintf(ddof, sizeof ddof, "%d", cases[i].ddof);
        const char *args[] = {"stats", NC4 ":/T", "-k", cases[i].keep, "--ddof", ddof, "--weights",
                              "coslat:" NC4 ":/lat", "-o", out, "-q", NULL};
        stats_ok(args);
        /* the latitude axis (2) was found by its netCDF-4 dimension name */
        json_t *doc = tu_load_json(tu_dir(), "t.json");
        json_t *v = json_object_get(json_object_get(doc, "variables"), "/T");
        cr_assert_eq(json_integer_value(json_object_get(v, "weights_axis")), 2);
        json_t *w = json_object_get(json_object_get(doc, "provenance"), "weights");
        cr_assert_str_eq(json_string_value(json_object_get(w, "spec")), "coslat:" NC4 ":/lat");
        cr_assert(strstr(json_string_value(json_object_get(w, "file")), "/data/nc4uvt.nc"));
        cr_assert(json_is_null(json_object_get(w, "axis")));
        json_decref(doc);
        check_reference(out, NC4, "/T", "coslat", NC4 ":/lat", 2, cases[i].kf, cases[i].kc, cases[i].ddof);
    }
    /* the same grid in a group, its latitude found beside it */
    const char *out = tu_path("g.json");
    const char *args[] = {"stats", NC4 ":/grp1/U", "-k", "1", "--weights", "coslat:" NC4 ":/grp1/lat", "-o", out, "-q", NULL};
    stats_ok(args);
    check_reference(out, NC4, "/grp1/U", "coslat", NC4 ":/grp1/lat", 2, 1, 1, 0);
}

Test(weights, quadrature_rules_match_makani_over_the_latitude_axis)
{
    const char *rules[] = {"naive", "legendre-gauss", "clenshaw-curtis"};
    for (size_t i = 0; i < 3; i++) {
        char spec[64];
        snprintf(spec, sizeof spec, "quadrature:%s", rules[i]);
        const char *out = tu_path("q.json");
        const char *args[] = {"stats", NC4 ":/V", "-k", "1", "--weights", spec, "--weights-axis", "2", "-o", out, "-q", NULL};
        stats_ok(args);
        check_reference(out, NC4, "/V", rules[i], "-", 2, 1, 1, 0);
    }
}

/* The rules themselves, on small and odd grids: each sums to 2 (the integral of sin over the
 * colatitude) and is symmetric about the equator; legendre-gauss integrates cos^2 exactly. */
Test(weights, quadrature_rules_sum_to_two_and_are_symmetric)
{
    const uint64_t ns[] = {2, 3, 4, 5, 31, 32, 33, 181, 721};
    const char *rules[] = {"naive", "legendre-gauss", "clenshaw-curtis"};
    for (size_t r = 0; r < 3; r++)
        for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
            uint64_t n = ns[k];
            if (n < 3 && r == 0)
                continue; /* naive needs a latitude between the poles */
            double *q = malloc(n * sizeof *q), sum = 0;
            cr_assert(q);
            cr_assert_eq(h5p_quadrature(rules[r], n, q), 0);
            for (uint64_t i = 0; i < n; i++) {
                cr_assert(q[i] >= 0, "%s n=%llu: weight %llu is %g", rules[r], (unsigned long long)n, (unsigned long long)i, q[i]);
                tu_close(q[i], q[n - 1 - i], 1e-15, 1e-12, rules[r], i);
                sum += q[i];
            }
            tu_close(sum, 2.0, 0, 1e-13, rules[r], n);
            free(q);
        }
    cr_assert_eq(h5p_quadrature("trapezoid", 4, NULL), -1);
}

/* ---- hostile generated grids: 1e8 offsets, fill values, NaN/Inf, constant features, zeros --- */

/* x (time, lat, lon, chan) float64 = 1e8 + N(0,1) on channel 0, 3 + N(0,1) on channel 1, a constant
 * 7.25 on channel 2; _FillValue -999 and NaN/Inf sprinkled in; weights: lat (L,) in degrees,
 * area (L, M, 1) cell areas with a row of zeros (broadcast over the channels), and bad ones. */
static const char *const py_hostile =
    "import sys, h5py, numpy as np\n"
    "T, L, M = 37, 24, 16\n"
    "r = np.random.default_rng(14)\n"
    "x = np.empty((T, L, M, 3))\n"
    "x[..., 0] = 1e8 + r.standard_normal((T, L, M))\n"
    "x[..., 1] = 3 + r.standard_normal((T, L, M))\n"
    "x[..., 2] = 7.25\n"
    "v = x.reshape(-1, 3)\n"
    "rows = r.choice(v.shape[0], 400, replace=False); ch = r.integers(0, 2, 400)\n"
    "v[rows[:200], ch[:200]] = -999\n"
    "v[rows[200:300], ch[200:300]] = np.nan\n"
    "v[rows[300:], ch[300:]] = -np.inf\n"
    "lat = np.linspace(-90, 90, L)\n"
    "area = np.cos(np.deg2rad(lat))[:, None, None] * (1 + r.random((L, M, 1)))\n"
    "area[5] = 0\n"
    "with h5py.File(sys.argv[1], 'w') as f:\n"
    "    d = f.create_dataset('x', data=v.reshape(T, L, M, 3), chunks=(5, L, M, 3))\n"
    "    d.attrs['_FillValue'] = -999.0\n"
    "    f['lat'] = lat\n"
    "    f['area'] = area\n"
    "    f['bad'] = np.ones((M, L, 1))\n"
    "    f['neg'] = -area\n"
    "    nan = area.copy(); nan[2, 3, 0] = np.nan\n"
    "    f['nan'] = nan\n"
    "    f['lat_big'] = np.linspace(-95, 95, L)\n";

static const char *hostile_file(void)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s", tu_path("hostile.h5"));
    tu_python_ok(py_hostile, path);
    return path;
}

Test(weights, hostile_grids_match_numpy)
{
    const char *h = hostile_file();
    char in[1100], wl[1100], wa[1100];
    snprintf(in, sizeof in, "%s:/x", h);
    snprintf(wl, sizeof wl, "coslat:%s:/lat", h);
    snprintf(wa, sizeof wa, "%s:/area", h);
    const char *out = tu_path("h.json");
    /* per channel, per (lat, chan) and one statistic; coslat along an axis named explicitly (the
     * generated file has no netCDF-4 dimensions), the cell areas by broadcasting */
    const char *a1[] = {"stats", in, "--weights", wl, "--weights-axis", "1", "-o", out, "-q", NULL};
    stats_ok(a1);
    check_reference(out, h, "/x", "coslat", wl + strlen("coslat:"), 1, 3, 1, 0);
    const char *a2[] = {"stats", in, "--weights", wa, "-k", "1,2", "--ddof", "1", "-o", out, "-q", NULL};
    stats_ok(a2);
    check_reference(out, h, "/x", "array", wa, 0, 1, 2, 1);
    const char *a3[] = {"stats", in, "--weights", wa, "-o", out, "-q", NULL};
    stats_ok(a3);
    check_reference(out, h, "/x", "array", wa, 0, 3, 1, 0);
    /* the constant channel: its value as mean and a variance of exactly 0, flagged */
    json_t *doc = tu_load_json(tu_dir(), "h.json");
    json_t *v = json_object_get(json_object_get(doc, "variables"), "/x");
    cr_assert_eq(json_real_value(json_array_get(json_object_get(v, "mean"), 2)), 7.25);
    cr_assert_eq(json_number_value(json_array_get(json_object_get(v, "var"), 2)), 0.0);
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(v, "flags"), 2)), 1);
    json_decref(doc);
    const char *a4[] = {"stats", in, "--weights", "quadrature:legendre-gauss", "--weights-axis", "1", "-o", out, "-q", NULL};
    stats_ok(a4);
    check_reference(out, h, "/x", "legendre-gauss", "-", 1, 3, 1, 0);
}

/* Features whose values all have weight 0 keep their counts, min and max; mean and var are null. */
Test(weights, features_of_zero_weight_have_counts_but_no_mean)
{
    const char *path = tu_path("z.h5");
    double x[4 * 3], w[3] = {0.0, 1.0, 2.0};
    for (int i = 0; i < 12; i++)
        x[i] = 10.0 + i;
    uint64_t dims[2] = {4, 3}, wd[1] = {3};
    tu_write(path, "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, x, 0);
    tu_write(path, "/w", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, wd, w, 0);
    h5prep_stats *s = h5prep_stats_create(NULL);
    char spec[1100];
    snprintf(spec, sizeof spec, "%s:/w", path);
    cr_assert_eq(h5prep_stats_set_weights(s, spec, -1), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_add(s, tu_input(path, "/x")), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_run(s), H5PREP_OK, "%s", h5prep_last_error());
    h5prep_var_view v = tu_view(s, 0);
    const double *ws = h5prep_stats_var_wsum(s, 0);
    cr_assert(ws);
    cr_assert_eq(v.moments[0].n, 4);
    cr_assert_eq(v.moments[0].min, 10.0);
    cr_assert_eq(v.moments[0].max, 19.0);
    cr_assert_eq(ws[0], 0.0);
    cr_assert(isnan(h5prep_weighted_variance(&v.moments[0], ws[0], 0)));
    cr_assert_eq(h5prep_weighted_flags(&v.moments[0], ws[0], 0), H5PREP_FLAG_CONSTANT);
    cr_assert_eq(ws[2], 8.0);
    tu_close(v.moments[2].mean, 16.5, 0, 1e-15, "mean", 2); /* 12, 15, 18, 21 */
    tu_close(h5prep_weighted_variance(&v.moments[2], ws[2], 0), 11.25, 0, 1e-14, "var", 2);
    char *j = h5prep_stats_json(s);
    cr_assert(strstr(j, "\"mean\": [null, "), "%.600s", strstr(j, "\"mean\""));
    free(j);
    h5prep_stats_destroy(s);
}

/* ---- results defined by data position ----------------------------------------------------- */

/* (R, 32, 40) float32 = 1e3 + N(0, 3), weights (32, 40): three blocks, cut into pieces by --mem. */
enum { R = 5000, LA = 32, LO = 40 };

static const char *position_file(void)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s", tu_path("position.h5"));
    float *x = malloc((size_t)R * LA * LO * sizeof *x);
    double w[LA * LO];
    cr_assert(x);
    uint64_t seed = 9;
    for (size_t i = 0; i < (size_t)R * LA * LO; i++)
        x[i] = (float)(1e3 + 3.0 * tu_normal(&seed));
    for (int i = 0; i < LA * LO; i++)
        w[i] = 0.5 + (double)(i % 7);
    uint64_t dims[3] = {R, LA, LO}, wd[2] = {LA, LO};
    tu_write(path, "/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, dims, x, 3);
    tu_write(path, "/w", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, wd, w, 0);
    free(x);
    return path;
}

/* The "variables" object of a document: what may not change between runs. */
static char *variables_of(char *doc)
{
    char *v = strstr(doc, "\"variables\"");
    cr_assert(v);
    char *copy = strdup(v);
    free(doc);
    return copy;
}

static char *weighted_run(const char *path, int kf, int kc, int threads, size_t mem, int slots, int pi, int pn)
{
    h5prep_stats_config c = h5prep_stats_config_default();
    c.keep_first = kf, c.keep_count = kc, c.threads = threads;
    if (mem)
        c.mem_bytes = mem;
    if (slots)
        c.slots = slots;
    h5prep_stats *s = h5prep_stats_create(&c);
    char spec[1100];
    snprintf(spec, sizeof spec, "%s:/w", path);
    cr_assert_eq(h5prep_stats_set_weights(s, spec, -1), H5PREP_OK, "%s", h5prep_last_error());
    if (pn)
        cr_assert_eq(h5prep_stats_set_part(s, pi, pn), H5PREP_OK);
    cr_assert_eq(h5prep_stats_add(s, tu_input(path, "/x")), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_run(s), H5PREP_OK, "%s", h5prep_last_error());
    char *j = h5prep_stats_json(s);
    h5prep_stats_destroy(s);
    cr_assert(j);
    return j;
}

Test(weights, same_bytes_for_any_threads_memory_slots_parts_and_isa)
{
    const char *path = position_file();
    struct {
        int kf, kc;
    } keeps[] = {{2, 1}, {1, 2}, {0, 0}};
    for (size_t k = 0; k < 3; k++) {
        char *first = variables_of(weighted_run(path, keeps[k].kf, keeps[k].kc, 1, 0, 0, 0, 0));
        struct {
            int threads, slots;
            size_t mem;
        } runs[] = {{2, 0, 0}, {2, 3, (size_t)300 << 10}, {1, 1, (size_t)1 << 20}};
        for (size_t r = 0; r < 3; r++) {
            char *j = variables_of(weighted_run(path, keeps[k].kf, keeps[k].kc, runs[r].threads, runs[r].mem,
                                                runs[r].slots, 0, 0));
            cr_assert(strcmp(first, j) == 0, "keep %d+%d: threads %d, --mem %zu, slots %d change the bytes", keeps[k].kf,
                      keeps[k].kc, runs[r].threads, runs[r].mem, runs[r].slots);
            free(j);
        }
        /* the portable kernels' path: the weighted reduction is scalar, the same on every path */
        setenv("H5PREP_ISA", "generic", 1);
        char *generic = variables_of(weighted_run(path, keeps[k].kf, keeps[k].kc, 2, 0, 0, 0, 0));
        unsetenv("H5PREP_ISA");
        cr_assert(strcmp(first, generic) == 0, "keep %d+%d: H5PREP_ISA=generic changes the bytes", keeps[k].kf, keeps[k].kc);
        free(generic);
        /* three parts, merged in reverse: the bytes of one run (the weighted nodes carry wsum) */
        h5prep_stats *m = h5prep_stats_create(NULL);
        for (int i = 3; i >= 1; i--) {
            char *part = weighted_run(path, keeps[k].kf, keeps[k].kc, 2, (size_t)1 << 20, 0, i, 3);
            char name[32];
            snprintf(name, sizeof name, "part%d.json", i);
            cr_assert_eq(h5prep_stats_load_text(m, part, name), H5PREP_OK, "%s", h5prep_last_error());
            free(part);
        }
        char *merged = variables_of(h5prep_stats_json(m));
        cr_assert(strcmp(first, merged) == 0, "keep %d+%d: the merge of 3 weighted parts differs from one run:\n%.300s\n%.300s",
                  keeps[k].kf, keeps[k].kc, first, merged);
        free(merged);
        h5prep_stats_destroy(m);
        free(first);
    }
}

/* ---- the CUDA backend, run by the SIMT harness (h5prep-simt) ---------------------------------- */

/* Both backends' JSON documents (argv[1] 'CPU.json|CUDA.json'): count, missing, min, max and flags
 * exactly; mean within 1e-12 (|mean| + std), var within 1e-10 relative plus (1e-15 mean)^2, wsum
 * within 1e-12 relative. The device folds lanes of each feature's values (Chan's weighted merge)
 * where the CPU takes the values one by one: the same update, another order of rounding. */
static const char *const py_backends =
    "import sys, json, numpy as np\n"
    "pa, pb = sys.argv[1].split('|')\n"
    "a, b = json.load(open(pa)), json.load(open(pb))\n"
    "assert b['provenance']['backend'] == 'cuda', b['provenance']['backend']\n"
    "def arr(v):\n"
    "    return np.array([np.nan if e is None else float(e) for e in v])\n"
    "for name, x in a['variables'].items():\n"
    "    y = b['variables'][name]\n"
    "    for k in ('count', 'missing', 'min', 'max', 'flags'):\n"
    "        assert x[k] == y[k], (name, k)\n"
    "    m, v, w = arr(x['mean']), arr(x['var']), arr(x['wsum'])\n"
    "    mb, vb, wb = arr(y['mean']), arr(y['var']), arr(y['wsum'])\n"
    "    for p, q in ((m, mb), (v, vb)):\n"
    "        assert np.array_equal(np.isnan(p), np.isnan(q)), (name, 'null', p, q)\n"
    "    ok = ~np.isnan(v); s = np.sqrt(v[ok])\n"
    "    assert (np.abs(m[ok] - mb[ok]) <= 1e-12 * (np.abs(m[ok]) + s)).all(), (name, 'mean')\n"
    "    assert (np.abs(v[ok] - vb[ok]) <= 1e-10 * v[ok] + (1e-15 * np.abs(m[ok])) ** 2).all(), (name, 'var')\n"
    "    assert (np.abs(w - wb) <= 1e-12 * w).all(), (name, 'wsum')\n"
    "print('backends agree on %d variables' % len(a['variables']))\n";

/* `stats ARGS -o OUT` on the CPU and on the CUDA backend of h5prep-simt (streams deferred, blocks
 * shuffled: the harness's least forgiving order), outputs compared by py_backends; the CUDA
 * document stays in cuda_out. args: NULL-terminated, without -o. */
static void both_backends(const char *const *args, const char *cuda_out)
{
    const char *cpu_out = tu_path("cpu.json");
    const char *a[32];
    size_t n = 0;
    while (args[n]) {
        cr_assert(n < 24);
        a[n] = args[n];
        n++;
    }
    a[n] = "-o", a[n + 1] = cpu_out, a[n + 2] = "--backend", a[n + 3] = "cpu", a[n + 4] = "-q", a[n + 5] = NULL;
    stats_ok(a);
    setenv("SIMT_STREAMS", "deferred", 1);
    setenv("SIMT_BLOCKS", "shuffled", 1);
    a[n + 1] = cuda_out, a[n + 3] = "cuda";
    int rc = tu_cli_with(H5PREP_CLI_SIMT, a);
    cr_assert_eq(rc, 0, "cuda (simt) %s %s: exit %d: %s", args[1], args[2], rc, tu_stderr());
    char arg[2100];
    snprintf(arg, sizeof arg, "%s|%s", cpu_out, cuda_out);
    tu_python_ok(py_backends, arg);
}

Test(weights, cuda_backend_matches_the_cpu_and_numpy_on_hostile_grids)
{
    const char *h = hostile_file();
    char in[1100], wl[1100], wa[1100];
    snprintf(in, sizeof in, "%s:/x", h);
    snprintf(wl, sizeof wl, "coslat:%s:/lat", h);
    snprintf(wa, sizeof wa, "%s:/area", h);
    const char *out = tu_path("cuda.json");
    /* 1e8 offsets, a constant channel, fill values, NaN, -Inf and a latitude of zero weight */
    const char *a1[] = {"stats", in, "--weights", wl, "--weights-axis", "1", NULL};
    both_backends(a1, out);
    check_reference(out, h, "/x", "coslat", wl + strlen("coslat:"), 1, 3, 1, 0);
    const char *a2[] = {"stats", in, "--weights", wa, "-k", "1,2", "--ddof", "1", NULL};
    both_backends(a2, out);
    check_reference(out, h, "/x", "array", wa, 0, 1, 2, 1);
    const char *a3[] = {"stats", in, "--weights", wa, "-k", "none", NULL};
    both_backends(a3, out);
    check_reference(out, h, "/x", "array", wa, 0, 0, 0, 0);
    const char *a4[] = {"stats", in, "--weights", "quadrature:legendre-gauss", "--weights-axis", "1", "-k", "0", NULL};
    both_backends(a4, out); /* axis 0 kept: every row's features, states in place */
    check_reference(out, h, "/x", "legendre-gauss", "-", 1, 0, 1, 0);
    const char *a5[] = {"stats", NC4 ":/T", "-k", "1", "--weights", "coslat:" NC4 ":/lat", NULL};
    both_backends(a5, out); /* the Gaussian grid of a real file */
    check_reference(out, NC4, "/T", "coslat", NC4 ":/lat", 2, 1, 1, 0);
}

/* The "variables" of a CUDA (simt) run of `stats IN --weights W -k KEEP [more]` on stdout. */
static char *simt_variables(const char *in, const char *w, const char *keep, const char *const *more)
{
    const char *a[24] = {"stats", in, "--weights", w, "-k", keep, "--backend", "cuda", "--json", "-q"};
    for (size_t i = 0; more[i]; i++)
        a[10 + i] = more[i];
    int rc = tu_cli_with(H5PREP_CLI_SIMT, a);
    cr_assert_eq(rc, 0, "cuda (simt) -k %s: exit %d: %s", keep, rc, tu_stderr());
    return variables_of(strdup(tu_stdout()));
}

/* The device's lanes take a feature's values by their position in the block: the bytes do not
 * change with --threads, --mem (how blocks are cut into slabs) or --slots. */
Test(weights, cuda_backend_same_bytes_for_any_threads_memory_and_slots)
{
    const char *path = position_file();
    char in[1100], w[1100];
    snprintf(in, sizeof in, "%s:/x", path);
    snprintf(w, sizeof w, "%s:/w", path);
    setenv("SIMT_STREAMS", "deferred", 1);
    const char *keeps[] = {"2", "1,2", "none", "0"};
    const char *none[] = {NULL};
    const char *runs[][7] = {{"--threads", "2", NULL},
                             {"--threads", "2", "--slots", "3", "--mem", "3M", NULL},
                             {"--threads", "1", "--slots", "2", "--mem", "1M", NULL}};
    for (size_t k = 0; k < sizeof keeps / sizeof *keeps; k++) {
        char *first = simt_variables(in, w, keeps[k], none);
        for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
            char *j = simt_variables(in, w, keeps[k], runs[r]);
            cr_assert(strcmp(first, j) == 0, "-k %s: %s %s %s %s change the bytes", keeps[k], runs[r][0], runs[r][1],
                      runs[r][2] ? runs[r][2] : "", runs[r][2] ? runs[r][3] : "");
            free(j);
        }
        free(first);
        const char *args[] = {"stats", in, "--weights", w, "-k", keeps[k], "--mem", "1M", NULL};
        both_backends(args, tu_path("cuda.json"));
    }
}

/* ---- the state file: JSON and HDF5 round trips, the weighted merge, its refusals ----------- */

/* Two halves of the hostile grid's rows merged equal a run over both files (1e-12). */
Test(weights, merge_of_two_halves_equals_one_run_and_refuses_other_weights)
{
    const char *h = hostile_file();
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", tu_dir());
    char code[4096];
    snprintf(code, sizeof code,
             "import sys, h5py\n"
             "with h5py.File(sys.argv[1]) as f, h5py.File('%s/a.h5', 'w') as a, h5py.File('%s/b.h5', 'w') as b:\n"
             "    for o, s in ((a, slice(0, 20)), (b, slice(20, None))):\n"
             "        o['x'] = f['x'][s]\n"
             "        o['x'].attrs['_FillValue'] = -999.0\n",
             dir, dir);
    tu_python_ok(code, h);
    char wa[1100], ia[1100], ib[1100], oa[1100], ow[1100], om[1100]; /* paths under the 1 KiB dir */
    snprintf(wa, sizeof wa, "%s:/area", h);
    snprintf(ia, sizeof ia, "%s/a.h5:/x", dir);
    snprintf(ib, sizeof ib, "%s/b.h5:/x", dir);
    snprintf(oa, sizeof oa, "%s/a.json", dir);
    snprintf(ow, sizeof ow, "%s/whole.json", dir);
    snprintf(om, sizeof om, "%s/merged.json", dir);
    const char *r1[] = {"stats", ia, "--weights", wa, "-o", oa, "-q", NULL};
    stats_ok(r1);
    char obh[1100]; /* one half as HDF5: both formats carry wsum */
    snprintf(obh, sizeof obh, "%s/b-stats.h5", dir);
    const char *r2[] = {"stats", ib, "--weights", wa, "-o", obh, "-q", NULL};
    stats_ok(r2);
    const char *r3[] = {"stats", ia, ib, "--weights", wa, "-o", ow, "-q", NULL};
    stats_ok(r3);
    const char *mg[] = {"merge", oa, obh, "-o", om, NULL};
    cr_assert_eq(tu_cli(mg), 0, "%s", tu_stderr());
    tu_python_ok("import sys, json, numpy as np\n"
                 "a = json.load(open(sys.argv[1] + '/whole.json'))\n"
                 "b = json.load(open(sys.argv[1] + '/merged.json'))\n"
                 "assert b['provenance']['weights']['resolved'] == a['provenance']['weights']['resolved']\n"
                 "x, y = a['variables']['/x'], b['variables']['/x']\n"
                 "for k in ('count', 'missing', 'min', 'max'):\n"
                 "    assert x[k] == y[k], k\n"
                 "for k in ('mean', 'var', 'wsum', 'm2'):\n"
                 "    p, q = np.asarray(x[k], float), np.asarray(y[k], float)\n"
                 "    assert np.allclose(p, q, rtol=1e-12, atol=0), (k, p, q)\n",
                 dir);
    /* weighted with unweighted, and other weights: refused naming both files and specs */
    char ou[1100], oq[1100];
    snprintf(ou, sizeof ou, "%s/plain.json", dir);
    snprintf(oq, sizeof oq, "%s/quad.json", dir);
    const char *r4[] = {"stats", ib, "-o", ou, "-q", NULL};
    stats_ok(r4);
    const char *r5[] = {"stats", ib, "--weights", "quadrature:naive", "--weights-axis", "1", "-o", oq, "-q", NULL};
    stats_ok(r5);
    const char *m2[] = {"merge", oa, ou, "-o", om, NULL};
    cr_assert_eq(tu_cli(m2), 15, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), ou) && strstr(tu_stderr(), oa) && strstr(tu_stderr(), "without weights") &&
                  strstr(tu_stderr(), wa),
              "%s", tu_stderr());
    const char *m3[] = {"merge", oa, oq, "-o", om, NULL};
    cr_assert_eq(tu_cli(m3), 15, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "quadrature:naive") && strstr(tu_stderr(), wa) && strstr(tu_stderr(), oq), "%s",
              tu_stderr());
    const char *m4[] = {"merge", ou, oa, "-o", om, NULL};
    cr_assert_eq(tu_cli(m4), 15, "%s", tu_stderr());
}

/* ---- bad weights: a message naming the file, the dataset and the problem; nothing written --- */

/* Tendencies and the sketch are not weighted: asked for with --weights, the run is refused before
 * anything is read. */
Test(weights, tendencies_and_quantiles_with_weights_are_refused)
{
    char in[1100];
    snprintf(in, sizeof in, "%s:/x", hostile_file());
    const char *out = tu_path("never.json");
    const char *with[][2] = {{"--tendency", "1"}, {"--quantiles", "0.5"}, {"--histogram", "8"}};
    for (size_t i = 0; i < sizeof with / sizeof *with; i++) {
        const char *args[] = {"stats", in, "--weights", "quadrature:naive", "--weights-axis", "1", with[i][0], with[i][1],
                              "-o", out, NULL};
        int rc = tu_cli(args);
        cr_assert_eq(rc, 2, "%s: exit %d: %s", with[i][0], rc, tu_stderr());
        cr_assert(strstr(tu_stderr(), "--weights cannot be combined with --tendency, --quantiles or --histogram"), "%s",
                  tu_stderr());
        cr_assert(!tu_exists(out), "%s: an output was written", with[i][0]);
    }
}

Test(weights, bad_weights_are_refused_with_their_message)
{
    const char *h = hostile_file();
    char in[1100];
    snprintf(in, sizeof in, "%s:/x", h);
    const char *out = tu_path("never.json");
    struct {
        const char *spec, *axis;
        int rc;
        const char *says;
    } cases[] = {
        {"bad", NULL, 9, "the weights of shape (16, 24, 1) do not broadcast to the dataset's shape (37, 24, 16, 3)"},
        {"neg", NULL, 2, "weights must be finite numbers >= 0"},
        {"nan", NULL, 2, "is nan"},
        {"nope", NULL, 6, "nope"},
        {"lat", NULL, 2, "no axis of the dataset has the dimension 'lat'"},
        {"lat_big", "1", 2, "not a latitude in degrees"},
        {"lat", "2", 9, "24 latitudes, but axis 2 of the dataset has length 16"},
        {"lat", "4", 2, "--weights-axis 4, but the dataset has rank 4"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char spec[1200];
        snprintf(spec, sizeof spec, "%s%s:/%s", i >= 4 ? "coslat:" : "", h, cases[i].spec);
        const char *args[] = {"stats", in, "--weights", spec, "-o", out, "-q",
                              cases[i].axis ? "--weights-axis" : NULL, cases[i].axis, NULL};
        int rc = tu_cli(args);
        cr_assert_eq(rc, cases[i].rc, "%s: exit %d: %s", spec, rc, tu_stderr());
        cr_assert(strstr(tu_stderr(), cases[i].says), "%s: %s", spec, tu_stderr());
        cr_assert(strstr(tu_stderr(), "h5prep: "), "%s", tu_stderr());
        cr_assert(!tu_exists(out), "%s: an output was written", spec);
    }
    struct {
        const char *spec, *axis;
        int rc;
        const char *says;
    } more[] = {
        {"quadrature:trapezoid", "1", 2, "unknown quadrature rule 'trapezoid'"},
        {"quadrature:naive", NULL, 2, "needs the latitude axis"},
        {"coslat:/no/such/file.nc:/lat", NULL, 3, "/no/such/file.nc"},
        {"no-colon", NULL, 2, "expected coslat:FILE:/LAT, FILE:DATASET or quadrature:RULE"},
    };
    for (size_t i = 0; i < sizeof more / sizeof *more; i++) {
        const char *args[] = {"stats", in, "--weights", more[i].spec, "-o", out, "-q",
                              more[i].axis ? "--weights-axis" : NULL, more[i].axis, NULL};
        int rc = tu_cli(args);
        cr_assert_eq(rc, more[i].rc, "%s: exit %d: %s", more[i].spec, rc, tu_stderr());
        cr_assert(strstr(tu_stderr(), more[i].says), "%s: %s", more[i].spec, tu_stderr());
        cr_assert(!tu_exists(out));
    }
    /* auto runs weighted statistics where it runs the others: without a GPU on the CPU, unsaid */
    const char *autob[] = {"stats", in, "--weights", "quadrature:naive", "--weights-axis", "1", "-o", out, NULL};
    cr_assert_eq(tu_cli(autob), 0, "%s", tu_stderr());
    cr_assert(!strstr(tu_stderr(), "on the CPU"), "a weighted auto run said: %s", tu_stderr());
}

/* A transform's normalize: {stats: FILE} with a weighted statistics file z-scores with the weighted
 * mean and the weighted std (m2 / wsum), as the file's "mean" and "std" say. */
Test(weights, transform_normalizes_with_a_weighted_statistics_file)
{
    const char *data = tu_path("za.h5");
    enum { N = 50, L = 6, C = 2 };
    double x[N * L * C], w[L] = {0.1, 0.5, 1.0, 1.0, 0.5, 0.1};
    uint64_t seed = 3;
    for (int i = 0; i < N * L * C; i++)
        x[i] = 1e8 * (i % C) + tu_normal(&seed) * (1 + i % L);
    uint64_t dims[3] = {N, L, C}, wd[2] = {L, 1};
    tu_write(data, "/za", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, dims, x, 0);
    tu_write(data, "/w", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, wd, w, 0);
    char spec[1100], stats[1100], recipe[1100], out[1100], text[4096];
    snprintf(spec, sizeof spec, "%s:/w", data);
    snprintf(stats, sizeof stats, "%s", tu_path("za-stats.json"));
    snprintf(recipe, sizeof recipe, "%s", tu_path("za.yaml"));
    snprintf(out, sizeof out, "%s", tu_path("za-out"));
    const char *args[] = {"stats", tu_input(data, "/za"), "--weights", spec, "-o", stats, "-q", NULL};
    stats_ok(args);
    snprintf(text, sizeof text,
             "inputs: {files: %s, variables: [za]}\noutputs:\n  za: {from: za, normalize: {method: zscore, stats: %s}, cast: float64}\n"
             "split: {fractions: {all: 1.0}, shuffle: false}\nwrite: {hdf5: true}\n",
             data, stats);
    tu_write_text(recipe, text);
    const char *tx[] = {"transform", recipe, "--out", out, "--quiet", "--backend", "cpu", NULL};
    cr_assert_eq(tu_cli(tx), 0, "%s", tu_stderr());
    json_t *doc = json_load_file(stats, 0, NULL);
    cr_assert(doc);
    json_t *v = json_object_get(json_object_get(doc, "variables"), "/za");
    char file[1200];
    snprintf(file, sizeof file, "%s/all.h5", out);
    size_t cnt;
    double *z = tu_read_all(file, "za", &cnt);
    cr_assert_eq(cnt, (size_t)N * L * C);
    for (int c = 0; c < C; c++) {
        double mean = json_real_value(json_array_get(json_object_get(v, "mean"), (size_t)c));
        double sd = json_real_value(json_array_get(json_object_get(v, "std"), (size_t)c));
        for (int i = c; i < N * L * C; i += C)
            tu_close(z[i], (x[i] - mean) / sd, 1e-9, 1e-9, "z with the weighted factors", (uint64_t)c);
    }
    free(z);
    json_decref(doc);
}
