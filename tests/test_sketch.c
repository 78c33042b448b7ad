/* test_sketch.c: the quantile sketch of `stats --quantiles/--histogram`: quantiles within the
 * stated relative bound of numpy's exact np.quantile(method='lower') after random partitions
 * merged in random order, on hostile data; the collapse rule; the same bytes for any threads,
 * --mem, slots, ISA path and --part; the CUDA kernel's sketch (under the SIMT harness) equal to
 * the CPU's byte for byte; refusals (levels, alpha, memory); normalize: quantile's CDF table
 * exact at the ends of float64. */
#include "common/sketch.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { F = 8 };            /* features of the hostile data, one per column */
static const double FILL = -999.0;

static uint64_t next_u64(uint64_t *s)
{
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}
static double uniform(uint64_t *s) { return (double)(next_u64(s) >> 11) * 0x1p-53; }

/* Row r of the hostile columns: 1e8 offsets of both signs, mixed signs with zeros, a constant,
 * magnitudes from 1e-300 to 1e300 of both signs, values near 1e300 and near 1e-300, NaN and the
 * fill value scattered, and a column with no value at all. */
static void hostile_row(uint64_t *seed, uint64_t r, double *x)
{
    x[0] = 1e8 + tu_normal(seed);
    x[1] = r % 7 == 0 ? 0.0 : 100 * tu_normal(seed);
    x[2] = 3.5;
    x[3] = (next_u64(seed) & 1 ? 1 : -1) * pow(10, 600 * uniform(seed) - 300);
    x[4] = 1e300 * (1 + 0.01 * tu_normal(seed));
    x[5] = 1e-300 * (1 + 0.5 * uniform(seed));
    x[6] = -1e8 + 3 * tu_normal(seed);
    x[7] = NAN;
    if (r % 11 == 3)
        x[r % F] = NAN;
    if (r % 13 == 5)
        x[(r + 3) % F] = FILL;
}

/* Rows [r0, r0 + n) of the hostile data (seeded by row, so that any cut gives the same rows) in
 * file `name` as /x (n, F) float64 with _FillValue. */
static const char *write_rows(const char *name, uint64_t r0, uint64_t n)
{
    double *x = malloc(n * F * sizeof *x);
    cr_assert(x);
    for (uint64_t r = 0; r < n; r++) {
        uint64_t seed = 0x9e3779b97f4a7c15ull ^ (r0 + r) * 0x2545f4914f6cdd1dull;
        next_u64(&seed);
        hostile_row(&seed, r0 + r, x + r * F);
    }
    const char *path = tu_path(name);
    uint64_t dims[2] = {n, F};
    tu_write(path, "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, x, 0);
    tu_attr(path, "/x", "_FillValue", H5T_IEEE_F64LE, &FILL, 1);
    free(x);
    return path;
}

static const double LEVELS[] = {0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999};
enum { NQ = sizeof LEVELS / sizeof *LEVELS };

static h5prep_stats_config sketch_config(int buckets)
{
    h5prep_stats_config c = h5prep_stats_config_default();
    c.backend = H5PREP_BACKEND_CPU;
    c.quantiles = LEVELS;
    c.nquantiles = NQ;
    c.histogram_bins = 16;
    c.sketch_buckets = buckets;
    return c;
}

static json_t *variable(const h5prep_stats *s, const char *name)
{
    char *text = h5prep_stats_json(s);
    cr_assert(text, "%s", h5prep_last_error());
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    free(text);
    cr_assert(doc, "%s", err.text);
    json_t *v = json_incref(json_object_get(json_object_get(doc, "variables"), name));
    json_decref(doc);
    cr_assert(v, "no variable %s", name);
    json_object_del(v, "part");
    return v;
}

/* The independent check: numpy's exact quantiles (method 'lower') of every feature of the data
 * file, fill values and NaN left out, against the document's, within alpha (relative) where no
 * value collapsed; and the histogram's counts against np.histogram, off only by values within
 * alpha of a bin edge. */
static const char *CHECK =
    "import sys, json, h5py, numpy as np\n"
    "data, doc, alpha = sys.argv[1].split(',')\n"
    "alpha = float(alpha)\n"
    "x = h5py.File(data, 'r')['x'][()]\n"
    "v = json.load(open(doc))['variables']['/x']\n"
    "lv = np.array(v['quantile_levels'])\n"
    "for f in range(x.shape[1]):\n"
    "    c = x[:, f]\n"
    "    c = c[np.isfinite(c) & (c != -999.0)]\n"
    "    assert v['count'][f] == c.size, (f, v['count'][f], c.size)\n"
    "    if c.size == 0:\n"
    "        assert all(q is None for q in v['quantiles'][f]), v['quantiles'][f]\n"
    "        continue\n"
    "    exact = np.quantile(c, lv, method='lower')\n"
    "    got = np.array(v['quantiles'][f], dtype=float)\n"
    "    if v['collapsed'][f] == 0:\n"
    "        err = np.abs(got - exact)\n"
    "        bound = alpha * np.abs(exact) * (1 + 1e-9) + 2.3e-308\n"
    "        assert np.all(err <= bound), (f, got, exact, err / np.abs(exact))\n"
    "    bins = v['histogram_bins']\n"
    "    h = np.array(v['histogram'][f])\n"
    "    assert h.sum() == c.size\n"
    "    lo, hi = c.min(), c.max()\n"
    "    if lo < hi and np.isfinite(hi - lo):\n"
    "        ref, edges = np.histogram(c, bins, range=(lo, hi))\n"
    "        near = sum(int(np.sum(np.abs(c - e) <= alpha * np.abs(c) * (1 + 1e-9))) for e in edges[1:-1])\n"
    "        assert np.abs(h - ref).sum() <= 2 * near, (f, h, ref, near)\n";

static void numpy_check(const char *data, const char *doc, double alpha)
{
    char arg[2048];
    snprintf(arg, sizeof arg, "%s,%s,%.17g", data, doc, alpha);
    tu_python_ok(CHECK, arg);
}

Test(sketch, quantiles_within_the_bound_after_random_partitions_merged_in_random_order)
{
    enum { N = 20000, PARTS = 12, TRIALS = 3 };
    char whole[1024]; /* tu_path's buffers are a ring: keep this one */
    snprintf(whole, sizeof whole, "%s", write_rows("whole.h5", 0, N));
    h5prep_stats_config c = sketch_config(1 << 17); /* wide enough for 1e-300 .. 1e300 at alpha 0.01 */
    const char *in[] = {tu_input(whole, "/x")};
    h5prep_stats *one = tu_run(&c, in, 1);
    json_t *want = variable(one, "/x");
    cr_assert_eq(h5prep_stats_write(one, tu_path("whole.json")), H5PREP_OK, "%s", h5prep_last_error());
    numpy_check(whole, tu_path("whole.json"), c.sketch_alpha);
    uint64_t collapsed[F];
    cr_assert_eq(h5prep_stats_collapsed(one, 0, collapsed), H5PREP_OK);
    for (int f = 0; f < F; f++)
        cr_assert_eq(collapsed[f], 0, "feature %d collapsed %llu values with 2^17 buckets", f, (unsigned long long)collapsed[f]);
    h5prep_stats_destroy(one);

    uint64_t seed = 42;
    for (int t = 0; t < TRIALS; t++) {
        uint64_t cut[PARTS + 1] = {0};
        for (int k = 1; k < PARTS; k++) /* distinct cuts, every part at least one row */
            cut[k] = 1 + next_u64(&seed) % (N - 1);
        cut[PARTS] = N;
        for (int k = 1; k < PARTS; k++)
            for (int j = k; j > 1 && cut[j - 1] > cut[j]; j--) {
                uint64_t x = cut[j];
                cut[j] = cut[j - 1], cut[j - 1] = x;
            }
        char names[PARTS][64];
        int nparts = 0;
        for (int k = 0; k < PARTS; k++) {
            if (cut[k + 1] == cut[k])
                continue;
            char data[64];
            snprintf(data, sizeof data, "t%d-data-%d.h5", t, k);
            const char *p = write_rows(data, cut[k], cut[k + 1] - cut[k]);
            const char *pin[] = {tu_input(p, "/x")};
            h5prep_stats *s = tu_run(&c, pin, 1);
            snprintf(names[nparts], sizeof names[nparts], "%s", tu_path(data));
            strcat(names[nparts], ".json");
            cr_assert_eq(h5prep_stats_write(s, names[nparts]), H5PREP_OK, "%s", h5prep_last_error());
            h5prep_stats_destroy(s);
            nparts++;
        }
        cr_assert_geq(nparts, 10);
        for (int k = nparts - 1; k > 0; k--) { /* merged in a random order */
            int j = (int)(next_u64(&seed) % (uint64_t)(k + 1));
            char x[64];
            memcpy(x, names[k], sizeof x), memcpy(names[k], names[j], sizeof x), memcpy(names[j], x, sizeof x);
        }
        h5prep_stats *m = h5prep_stats_create(&c);
        for (int k = 0; k < nparts; k++)
            cr_assert_eq(h5prep_stats_load(m, names[k]), H5PREP_OK, "%s", h5prep_last_error());
        json_t *got = variable(m, "/x");
        cr_assert(json_equal(json_object_get(got, "sketch"), json_object_get(want, "sketch")),
                  "trial %d: the merged sketch differs from one run's", t);
        cr_assert(json_equal(json_object_get(got, "quantiles"), json_object_get(want, "quantiles")),
                  "trial %d: merged quantiles differ from one run's", t);
        char doc[64];
        snprintf(doc, sizeof doc, "t%d-merged.json", t);
        cr_assert_eq(h5prep_stats_write(m, tu_path(doc)), H5PREP_OK, "%s", h5prep_last_error());
        numpy_check(whole, tu_path(doc), c.sketch_alpha);
        json_decref(got);
        h5prep_stats_destroy(m);
    }
    json_decref(want);
}

Test(sketch, default_buckets_collapse_only_the_widest_feature_and_keep_the_bound_elsewhere)
{
    char data[1024];
    snprintf(data, sizeof data, "%s", write_rows("d.h5", 0, 5000));
    h5prep_stats_config c = sketch_config(2048);
    const char *in[] = {tu_input(data, "/x")};
    h5prep_stats *s = tu_run(&c, in, 1);
    uint64_t collapsed[F];
    cr_assert_eq(h5prep_stats_collapsed(s, 0, collapsed), H5PREP_OK);
    for (int f = 0; f < F; f++)
        cr_assert_eq(collapsed[f] > 0, f == 3, "feature %d: %llu collapsed", f, (unsigned long long)collapsed[f]);
    /* the 1e-300 .. 1e300 feature: each store keeps its largest magnitudes, so the extreme
     * quantiles (the largest |x| of either sign) keep the bound while the middle ones do not */
    cr_assert_eq(h5prep_stats_write(s, tu_path("d.json")), H5PREP_OK);
    numpy_check(data, tu_path("d.json"), c.sketch_alpha);
    char arg[2048];
    snprintf(arg, sizeof arg, "%s,%s", data, tu_path("d.json"));
    tu_python_ok("import sys, json, h5py, numpy as np\n"
                 "data, doc = sys.argv[1].split(',')\n"
                 "x = h5py.File(data, 'r')['x'][:, 3]\n"
                 "x = x[np.isfinite(x) & (x != -999.0)]\n"
                 "v = json.load(open(doc))['variables']['/x']\n"
                 "for q in (0.01, 0.99):\n"
                 "    g = v['quantiles'][3][v['quantile_levels'].index(q)]\n"
                 "    e = np.quantile(x, q, method='lower')\n"
                 "    assert abs(g - e) <= 0.01 * abs(e) * (1 + 1e-9), (q, g, e)\n",
                 arg);
    h5prep_stats_destroy(s);
}

/* gamma^k * 0.9 lies in bucket k. */
static double in_bucket(const h5p_sketch *s, int k) { return 0.9 * exp(k / s->inv_ln_gamma); }

static void same_sketch(const h5p_sketch *a, const h5p_sketch *b, const char *what)
{
    for (int st = 0; st < 2; st++) {
        cr_assert_eq(a->top[st][0], b->top[st][0], "%s: top of store %d", what, st);
        cr_assert_eq(a->below[st][0], b->below[st][0], "%s: collapsed of store %d", what, st);
        cr_assert(memcmp(a->count[st], b->count[st], (size_t)a->buckets * sizeof *a->count[st]) == 0, "%s: counts of store %d", what, st);
    }
    cr_assert_eq(a->zero[0], b->zero[0], "%s: zero bucket", what);
}

Test(sketch, the_collapse_depends_only_on_the_final_values)
{
    enum { B = 16, K = 40, N = 2000 };
    h5p_sketch *asc = h5p_sketch_create(1, 0.2, B, NULL, 0, 0), *desc = h5p_sketch_create(1, 0.2, B, NULL, 0, 0);
    h5p_sketch *parts[5], *merged = h5p_sketch_create(1, 0.2, B, NULL, 0, 0);
    for (int p = 0; p < 5; p++)
        parts[p] = h5p_sketch_create(1, 0.2, B, NULL, 0, 0);
    int idx[N];
    uint64_t seed = 7;
    for (int i = 0; i < N; i++)
        idx[i] = (int)(next_u64(&seed) % K) - 10; /* buckets -10 .. 29: 40 indices, 16 kept */
    int sorted[N];
    memcpy(sorted, idx, sizeof idx);
    for (int i = 1; i < N; i++)
        for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            int x = sorted[j];
            sorted[j] = sorted[j - 1], sorted[j - 1] = x;
        }
    for (int i = 0; i < N; i++) {
        h5p_sketch_add(asc, 0, in_bucket(asc, sorted[i]));
        h5p_sketch_add(desc, 0, in_bucket(desc, sorted[N - 1 - i]));
        h5p_sketch_add(parts[next_u64(&seed) % 5], 0, in_bucket(asc, idx[i]));
    }
    int order[5] = {3, 0, 4, 1, 2};
    for (int p = 0; p < 5; p++)
        h5p_sketch_merge(merged, parts[order[p]]);
    same_sketch(asc, desc, "ascending against descending adds");
    same_sketch(asc, merged, "adds against merges of 5 random parts");
    int top = sorted[N - 1], below = 0;
    for (int i = 0; i < N; i++)
        below += sorted[i] <= top - B;
    cr_assert_eq(asc->top[1][0], top);
    cr_assert_eq(h5p_sketch_collapsed(asc, 0), (uint64_t)below, "collapsed: the values under the %d highest buckets", B);
    cr_assert_eq(h5p_sketch_total(asc, 0), N);
    double mx = in_bucket(asc, top), mn = in_bucket(asc, sorted[0]);
    for (double q = 0.65; q < 1; q += 0.05) { /* ranks above the collapsed values (60%) keep the bound */
        double exact = in_bucket(asc, sorted[(int)floor(q * (N - 1))]);
        cr_assert_leq(fabs(h5p_sketch_quantile(asc, 0, q, mn, mx) - exact), 0.2 * exact * (1 + 1e-9), "q %g", q);
    }
    /* a negative store collapses the same way, at its smallest magnitudes */
    h5p_sketch *neg = h5p_sketch_create(1, 0.2, B, NULL, 0, 0);
    for (int i = 0; i < N; i++)
        h5p_sketch_add(neg, 0, -in_bucket(neg, idx[i]));
    cr_assert_eq(neg->top[0][0], top);
    cr_assert_eq(h5p_sketch_collapsed(neg, 0), (uint64_t)below);
    for (int p = 0; p < 5; p++)
        h5p_sketch_destroy(parts[p]);
    h5p_sketch_destroy(neg);
    h5p_sketch_destroy(asc);
    h5p_sketch_destroy(desc);
    h5p_sketch_destroy(merged);
}

/* normalize: quantile's CDF table (h5p_cdf_eval) at the ends of float64: with every value in a
 * bucket of its own (the zero bucket aside), x's CDF is exactly the fraction of values at or
 * below x, also for values beyond 8e307, whose buckets' answers overflow to Inf (the table orders
 * buckets by index, not by answer), and for x = +-Inf; below the least value 0, NaN stays NaN,
 * a feature without values gives NaN. */
Test(sketch, the_cdf_table_is_the_empirical_cdf_at_the_ends_of_float64)
{
    const double v[] = {-1.7e308, -1e308, -9e307, -1.5, 0.0, 5e-324, 2.5, 9e307, 1e308, 1.7e308}; /* ascending */
    const int nv = (int)(sizeof v / sizeof v[0]);
    h5p_sketch *sk = h5p_sketch_create(3, 0.01, 1 << 17, NULL, 0, 0); /* a window over every float64: no collapse */
    for (int i = nv - 1; i >= 0; i--)
        h5p_sketch_add(sk, 0, v[i]);
    for (int i = 1; i <= 3; i++)
        h5p_sketch_add(sk, 1, i);
    h5p_cdf c;
    cr_assert_eq(h5p_cdf_build(sk, &c), 0);
    const double x[] = {-INFINITY, -1.7e308, -1.2e308, -1e308, -9.5e307, -9e307, -1e300, -1.5, -1e-300, 0.0, -0.0, 5e-324,
                        1e-300, 2.5, 1e300, 9e307, 9.5e307, 1e308, 1.2e308, 1.7e308, 1.79e308, INFINITY};
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) {
        int at_or_below = 0;
        for (int j = 0; j < nv; j++)
            at_or_below += v[j] <= x[i] || (v[j] == 5e-324 && x[i] == 0.0); /* 0 and 5e-324 share the zero bucket */
        double q = h5p_cdf_eval(&c, 0, x[i]), want = (double)at_or_below / nv;
        cr_assert_eq(q, want, "x = %g: %.17g, expected %.17g", x[i], q, want);
    }
    cr_assert_eq(h5p_cdf_eval(&c, 1, -INFINITY), 0.0);
    cr_assert_eq(h5p_cdf_eval(&c, 1, 0.5), 0.0);
    cr_assert_eq(h5p_cdf_eval(&c, 1, 2.0), 2.0 / 3.0);
    cr_assert_eq(h5p_cdf_eval(&c, 1, 1e308), 1.0);
    cr_assert(isnan(h5p_cdf_eval(&c, 0, NAN)) && isnan(h5p_cdf_eval(&c, 1, NAN)));
    cr_assert(isnan(h5p_cdf_eval(&c, 2, 1.0)) && isnan(h5p_cdf_eval(&c, 2, 0.0)));
    h5p_cdf_free(&c);
    h5p_sketch_destroy(sk);
}

/* The document's variables without provenance: the same for every way of computing them. */
static json_t *run_variables(const char *path, int threads, size_t mem, int slots, const char *isa)
{
    h5prep_stats_config c = sketch_config(2048);
    c.threads = threads;
    if (mem)
        c.mem_bytes = mem;
    if (slots)
        c.slots = slots;
    if (isa)
        setenv("H5PREP_ISA", isa, 1);
    const char *in[] = {tu_input(path, "/x")};
    h5prep_stats *s = tu_run(&c, in, 1);
    unsetenv("H5PREP_ISA");
    json_t *v = variable(s, "/x");
    h5prep_stats_destroy(s);
    return v;
}

Test(sketch, the_same_bytes_for_any_threads_memory_slots_isa_and_parts)
{
    enum { N = 300000 }; /* 19.2 MB of float64: three blocks, cut into pieces by a small --mem */
    char path[1024];
    snprintf(path, sizeof path, "%s", write_rows("big.h5", 0, N));
    json_t *want = run_variables(path, 1, 0, 0, NULL);
    struct {
        int threads, slots;
        size_t mem;
        const char *isa;
    } runs[] = {{2, 0, 0, NULL}, {2, 3, (size_t)300 << 10, NULL}, {1, 2, (size_t)5 << 20, "generic"}};
    for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
        json_t *got = run_variables(path, runs[r].threads, runs[r].mem, runs[r].slots, runs[r].isa);
        cr_assert(json_equal(got, want), "run %zu differs from --threads 1", r);
        json_decref(got);
    }
    char parts[3][1024];
    for (int i = 0; i < 3; i++) {
        h5prep_stats_config c = sketch_config(2048);
        h5prep_stats *s = h5prep_stats_create(&c);
        cr_assert_eq(h5prep_stats_set_part(s, i + 1, 3), H5PREP_OK);
        cr_assert_eq(h5prep_stats_add(s, tu_input(path, "/x")), H5PREP_OK, "%s", h5prep_last_error());
        cr_assert_eq(h5prep_stats_run(s), H5PREP_OK, "%s", h5prep_last_error());
        char name[32];
        snprintf(name, sizeof name, "part-%d.json", i + 1);
        snprintf(parts[i], sizeof parts[i], "%s", tu_path(name));
        cr_assert_eq(h5prep_stats_write(s, parts[i]), H5PREP_OK, "%s", h5prep_last_error());
        h5prep_stats_destroy(s);
    }
    h5prep_stats *m = h5prep_stats_create(NULL);
    int order[3] = {2, 0, 1};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(h5prep_stats_load(m, parts[order[i]]), H5PREP_OK, "%s", h5prep_last_error());
    json_t *got = variable(m, "/x");
    cr_assert(json_equal(got, want), "--part 1..3/3 merged differs from one run");
    json_decref(got);
    /* and through an HDF5 document */
    cr_assert_eq(h5prep_stats_write(m, tu_path("merged.h5")), H5PREP_OK, "%s", h5prep_last_error());
    h5prep_stats_destroy(m);
    m = h5prep_stats_create(NULL);
    cr_assert_eq(h5prep_stats_load(m, tu_path("merged.h5")), H5PREP_OK, "%s", h5prep_last_error());
    got = variable(m, "/x");
    cr_assert(json_equal(json_object_get(got, "sketch"), json_object_get(want, "sketch")), "the .h5 sketch differs");
    cr_assert(json_equal(json_object_get(got, "quantiles"), json_object_get(want, "quantiles")));
    json_decref(got);
    h5prep_stats_destroy(m);
    tu_python_ok("import sys, h5py, numpy as np\n"
                 "g = h5py.File(sys.argv[1], 'r')['variables/x']\n"
                 "assert g['quantiles'].shape == (8, 9) and g['histogram'].shape == (8, 16), g['quantiles'].shape\n"
                 "assert g['collapsed'][3] > 0 and g['collapsed'][0] == 0\n"
                 "assert np.all(g['histogram'][()].sum(axis=1) == g['count'][()])\n",
                 tu_path("merged.h5"));
    json_decref(want);
}

Test(sketch, levels_outside_0_1_are_refused)
{
    const char *path = write_rows("small.h5", 0, 100);
    const char *in = tu_input(path, "/x");
    const char *bad[] = {"0,0.5", "0.5,1", "1.5", "-0.1", "abc", "0.5,", "nan"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *args[] = {"stats", in, "--quantiles", bad[i], NULL};
        cr_assert_eq(tu_cli(args), 2, "--quantiles %s: %s", bad[i], tu_stderr());
        cr_assert(strstr(tu_stderr(), "--quantiles"), "%s", tu_stderr());
    }
    h5prep_stats_config c = sketch_config(2048);
    const double q[] = {0.5, 1.0};
    c.quantiles = q;
    c.nquantiles = 2;
    h5prep_stats *s = h5prep_stats_create(&c);
    cr_assert_eq(h5prep_stats_add(s, in), H5PREP_OK);
    cr_assert_eq(h5prep_stats_run(s), H5PREP_ERR_USAGE);
    cr_assert(strstr(h5prep_last_error(), "level 1 is not in (0, 1)"), "%s", h5prep_last_error());
    h5prep_stats_destroy(s);
}

/* Of each variable of the JSON document a CLI run printed, what the sketch gives and what both
 * backends compute exactly (the moments and --tendency's states they compute in different
 * orders: equal within the stated tolerance, not bit for bit), as compact text with every real
 * to 17 digits: equal text is equal bytes. */
static char *sketch_text(const char *stdout_text)
{
    json_error_t err;
    json_t *doc = json_loads(stdout_text, 0, &err);
    cr_assert(doc, "%s: %.300s", err.text, stdout_text);
    json_t *vars = json_object_get(doc, "variables"), *out = json_object();
    const char *name;
    json_t *v;
    json_object_foreach(vars, name, v) {
        cr_assert(json_object_get(v, "sketch"), "%s has no sketch", name);
        const char *keys[] = {"count", "missing", "min", "max", "quantile_levels", "quantiles",
                              "histogram_bins", "histogram", "collapsed", "sketch"};
        json_t *kept = json_object();
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
            if (json_object_get(v, keys[i]))
                json_object_set(kept, keys[i], json_object_get(v, keys[i]));
        json_object_set_new(out, name, kept);
    }
    char *text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    cr_assert(text);
    json_decref(out);
    json_decref(doc);
    return text;
}

/* `stats ARGS --json --quiet` on the CPU (h5prep) and on the CUDA backend under the SIMT harness
 * (h5prep-simt): the same sketches, quantiles, histograms, counts, min and max, byte for byte. */
static void same_on_both_backends(const char *const *args, size_t nargs, const char *what)
{
    const char *argv[32];
    cr_assert(nargs + 6 < sizeof argv / sizeof *argv);
    memcpy(argv, args, nargs * sizeof *args);
    const char *tail[] = {"--json", "--quiet", "--backend", "cpu", NULL};
    memcpy(argv + nargs, tail, sizeof tail);
    cr_assert_eq(tu_cli(argv), 0, "%s: %s", what, tu_stderr());
    char *cpu = sketch_text(tu_stdout());
    argv[nargs + 3] = "cuda";
    cr_assert_eq(tu_cli_with(H5PREP_CLI_SIMT, argv), 0, "%s: %s", what, tu_stderr());
    cr_assert(strstr(tu_stdout(), "\"backend\": \"cuda\""), "%.300s", tu_stdout());
    char *cuda = sketch_text(tu_stdout());
    size_t at = 0;
    while (cpu[at] && cpu[at] == cuda[at])
        at++;
    cr_assert(cpu[at] == cuda[at], "%s: the CUDA backend's sketch differs from the CPU's at byte %zu: %.80s against %.80s",
              what, at, cuda + at, cpu + at);
    free(cpu);
    free(cuda);
}

Test(sketch, the_cuda_kernel_gives_the_cpus_sketch_byte_for_byte)
{
    /* the hostile columns: 150000 rows cut into rows of 65536 values per feature (3 per feature),
     * collapsed stores, 1e8 offsets, subnormal-range magnitudes, NaN and fill values */
    enum { N = 150000 };
    char path[1024];
    snprintf(path, sizeof path, "%s", write_rows("both.h5", 0, N));
    const char *in = tu_input(path, "/x");
    const char *whole[] = {"stats", in, "--quantiles", "0.001,0.01,0.5,0.99,0.999", "--histogram", "16"};
    same_on_both_backends(whole, 6, "hostile columns");
    const char *doc[] = {"stats", in, "--quantiles", "0.001,0.01,0.5,0.99,0.999", "--histogram", "16", "--backend", "cuda",
                         "--quiet", "-o", tu_path("cuda.json"), NULL};
    cr_assert_eq(tu_cli_with(H5PREP_CLI_SIMT, doc), 0, "%s", tu_stderr());
    numpy_check(path, tu_path("cuda.json"), 0.01); /* and against numpy itself */
    /* few buckets (much collapses) and small slabs: each slab's window lies under the final one */
    const char *small[] = {"stats", in, "--quantiles", "0.01,0.5,0.99", "--sketch-buckets", "16", "--mem", "1M", "--slots", "3"};
    same_on_both_backends(small, 10, "16 buckets in slabs of --mem 1M");
    const char *fine[] = {"stats", in, "--quantiles", "0.5", "--sketch-alpha", "1e-6", "--histogram", "3"};
    same_on_both_backends(fine, 8, "alpha 1e-6");

    /* CF-decoded int16 (scale, offset, fill, valid range) viewed as [outer][features][inner], with
     * axis 0 kept as well (a feature per row and column: feature_base > 0 in later slabs) */
    enum { T = 400, C = 3, L = 500 };
    short *raw = malloc(T * C * L * sizeof *raw);
    cr_assert(raw);
    uint64_t seed = 7;
    for (int i = 0; i < T * C * L; i++)
        raw[i] = i % 17 == 0 ? -32767 : i % 5 == 0 ? 0 : (short)(next_u64(&seed) % 60001) - 30000;
    const char *ipath = tu_path("int16.h5");
    uint64_t dims[3] = {T, C, L};
    tu_write(ipath, "/x", H5T_STD_I16LE, H5T_NATIVE_SHORT, 3, dims, raw, 16);
    const double scale = 1e-3, offset = -7.25, fill = -32767, range[2] = {-29000, 30000};
    tu_attr(ipath, "/x", "scale_factor", H5T_IEEE_F64LE, &scale, 1);
    tu_attr(ipath, "/x", "add_offset", H5T_IEEE_F64LE, &offset, 1);
    tu_attr(ipath, "/x", "_FillValue", H5T_STD_I16LE, &fill, 1);
    tu_attr(ipath, "/x", "valid_range", H5T_STD_I16LE, range, 2);
    free(raw);
    const char *iin = tu_input(ipath, "/x");
    const char *mid[] = {"stats", iin, "--keep-axes", "1", "--quantiles", "0.1,0.5,0.9", "--histogram", "8"};
    same_on_both_backends(mid, 8, "int16, features with inner values");
    /* --tendency computes on backends of its own: the slab the sketch counts stays the data's */
    const char *lag[] = {"stats", iin, "--keep-axes", "1", "--quantiles", "0.5", "--tendency", "1"};
    same_on_both_backends(lag, 8, "int16 with --tendency 1");
    const char *rows[] = {"stats", iin, "--keep-axes", "0,1", "--quantiles", "0.5", "--mem", "1M", "--sketch-buckets", "16"};
    same_on_both_backends(rows, 10, "int16, axis 0 kept");

    /* auto picks the device for the sketch too, without a notice */
    const char *autob[] = {"stats", in, "--quantiles", "0.5", "--json", NULL};
    cr_assert_eq(tu_cli_with(H5PREP_CLI_SIMT, autob), 0, "%s", tu_stderr());
    cr_assert(!strstr(tu_stderr(), "running on the CPU"), "%s", tu_stderr());
    cr_assert(strstr(tu_stdout(), "\"backend\": \"cuda\""), "%.300s", tu_stdout());
}

Test(sketch, merge_refuses_other_alphas_and_documents_without_a_sketch)
{
    const char *path = write_rows("m.h5", 0, 200);
    const char *in = tu_input(path, "/x");
    const char *a[] = {"stats", in, "--quantiles", "0.5", "-o", tu_path("a.json"), NULL};
    const char *b[] = {"stats", in, "--quantiles", "0.5", "--sketch-alpha", "0.02", "-o", tu_path("b.json"), NULL};
    const char *n[] = {"stats", in, "-o", tu_path("n.json"), NULL};
    cr_assert_eq(tu_cli(a), 0, "%s", tu_stderr());
    cr_assert_eq(tu_cli(b), 0, "%s", tu_stderr());
    cr_assert_eq(tu_cli(n), 0, "%s", tu_stderr());
    const char *ab[] = {"merge", tu_path("a.json"), tu_path("b.json"), "-o", tu_path("ab.json"), NULL};
    cr_assert_eq(tu_cli(ab), 15, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "alpha 0.02") && strstr(tu_stderr(), "alpha 0.01"), "%s", tu_stderr());
    cr_assert(!tu_exists(tu_path("ab.json")));
    const char *an[] = {"merge", tu_path("a.json"), tu_path("n.json"), "-o", tu_path("an.json"), NULL};
    cr_assert_eq(tu_cli(an), 15, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "has no a quantile sketch") || strstr(tu_stderr(), "quantile sketch"), "%s", tu_stderr());
    cr_assert(!tu_exists(tu_path("an.json")));
    const char *aa[] = {"merge", tu_path("a.json"), tu_path("a.json"), "-o", tu_path("aa.json"), NULL};
    cr_assert_neq(tu_cli(aa), 0); /* the same file twice stays refused */
}

Test(sketch, many_features_that_do_not_fit_mem_are_refused_with_the_numbers_to_set)
{
    enum { W = 3000 };
    float *x = calloc(2 * W, sizeof *x);
    cr_assert(x);
    const char *path = tu_path("wide.h5");
    uint64_t dims[2] = {2, W};
    tu_write(path, "/w", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, x, 0);
    free(x);
    const char *args[] = {"stats", tu_input(path, "/w"), "--quantiles", "0.5", "--mem", "8M", NULL};
    cr_assert_eq(tu_cli(args), 13, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "wide.h5:/w: the quantile sketches of 3000 features") && strstr(tu_stderr(), "raise --mem to at least"), "%s", tu_stderr());
    const char *hint = strstr(tu_stderr(), "lower --sketch-buckets to ");
    cr_assert(hint, "%s", tu_stderr());
    char buckets[16];
    snprintf(buckets, sizeof buckets, "%d", atoi(hint + strlen("lower --sketch-buckets to ")));
    cr_assert_eq(strcmp(buckets, "172"), 0, "8 MiB / 3000 features: 172 buckets of 16 bytes (and 32 more bytes each)");
    const char *fit[] = {"stats", tu_input(path, "/w"), "--quantiles", "0.5", "--mem", "8M", "--sketch-buckets", buckets, "--json", NULL};
    cr_assert_eq(tu_cli(fit), 0, "the hinted --sketch-buckets %s fits: %s", buckets, tu_stderr());
}

Test(sketch, a_sketch_whose_counts_do_not_add_up_is_refused_and_batches_do_not_continue_one)
{
    const char *path = write_rows("c.h5", 0, 300);
    const char *args[] = {"stats", tu_input(path, "/x"), "--quantiles", "0.5", "-o", tu_path("c.json"), NULL};
    cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
    json_t *doc = tu_load_json(tu_dir(), "c.json");
    json_t *pos = json_array_get(json_object_get(json_object_get(json_object_get(json_object_get(doc, "variables"), "/x"), "sketch"), "positive"), 0);
    json_array_set_new(json_object_get(pos, "counts"), 0, json_integer(json_integer_value(json_array_get(json_object_get(pos, "counts"), 0)) + 1));
    cr_assert_eq(json_dump_file(doc, tu_path("bad.json"), 0), 0);
    json_decref(doc);
    h5prep_stats *s = h5prep_stats_create(NULL);
    cr_assert_eq(h5prep_stats_load(s, tu_path("bad.json")), H5PREP_ERR_STATE);
    cr_assert(strstr(h5prep_last_error(), "bad.json: variable /x: feature 0: the sketch holds"), "%s", h5prep_last_error());
    h5prep_stats_destroy(s);

    s = h5prep_stats_create(NULL);
    cr_assert_eq(h5prep_stats_load(s, tu_path("c.json")), H5PREP_OK, "%s", h5prep_last_error());
    double row[F] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint64_t shape[2] = {1, F};
    cr_assert_eq(h5prep_stats_update(s, "/x", row, "float64", 2, shape), H5PREP_ERR_USAGE);
    cr_assert(strstr(h5prep_last_error(), "quantile sketch"), "%s", h5prep_last_error());
    h5prep_stats_destroy(s);
}

Test(sketch, one_statistic_per_dataset_round_trips_through_hdf5)
{
    const char *path = write_rows("n.h5", 0, 500);
    const char *args[] = {"stats", tu_input(path, "/x"), "--keep-axes", "none", "--quantiles", "0.25,0.75", "--histogram", "8",
                          "-o", tu_path("one.h5"), NULL};
    cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
    const char *merge[] = {"merge", tu_path("one.h5"), "-o", tu_path("one.json"), NULL};
    cr_assert_eq(tu_cli(merge), 0, "%s", tu_stderr());
    json_t *doc = tu_load_json(tu_dir(), "one.json");
    json_t *v = json_object_get(json_object_get(doc, "variables"), "/x");
    cr_assert_eq(json_array_size(json_object_get(v, "quantiles")), 1);
    cr_assert_eq(json_array_size(json_array_get(json_object_get(v, "quantiles"), 0)), 2);
    cr_assert_eq(json_array_size(json_array_get(json_object_get(v, "histogram"), 0)), 8);
    json_decref(doc);
    tu_python_ok("import sys, h5py\n"
                 "g = h5py.File(sys.argv[1], 'r')['variables/x']\n"
                 "assert g['collapsed'].shape == () and g['quantiles'].shape == (2,) and g['histogram'].shape == (8,)\n"
                 "assert g['histogram'][()].sum() == g['count'][()]\n",
                 tu_path("one.h5"));
}
