/* test_tendency.c: statistics of tendencies x[t+lag] - x[t] (--tendency): against numpy's float64
 * differences over a glob of files (pairs across files) with 1e8 offsets, fill values, NaN/Inf
 * and a constant feature; the same bytes for any threads, --mem, slots and --part i/N + merge; the
 * CUDA backend through the SIMT harness within tolerance; bad lags and kept axis 0 refused. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { A = 16, B = 32, NFILES = 3 }; /* rows of 4 KiB: blocks of 2048 rows, 5 blocks over the files */
static const uint64_t series_rows[NFILES] = {2500, 1900, 3000}, small_rows[NFILES] = {300, 200, 250};
static const double FILL = -999.0;

/* Three files PREFIX0.h5.. of /x (file_rows[k], A, B) float64: 1e8 + a slow trend + N(0, 1);
 * feature a = 3 constant (1e8); NaN, Inf and the fill value on either side of pairs, also at the
 * files' first and last rows, so that pairs across files lose a side. The glob is returned. */
static const char *write_files(const uint64_t *file_rows, const char *prefix)
{
    uint64_t seed = 11, t0 = 0;
    for (int k = 0; k < NFILES; k++) {
        uint64_t rows = file_rows[k];
        double *x = malloc(rows * A * B * sizeof *x);
        cr_assert(x);
        for (uint64_t r = 0; r < rows; r++)
            for (int a = 0; a < A; a++)
                for (int b = 0; b < B; b++)
                    x[(r * A + a) * B + b] = a == 3 ? 1e8 : 1e8 + 1e-3 * (double)(t0 + r) * a + tu_normal(&seed);
        x[(0 * A + 1) * B + 2] = FILL;               /* a file's first row */
        x[((rows - 1) * A + 2) * B + 5] = NAN;        /* a file's last row */
        x[((rows / 2) * A + 5) * B + 7] = INFINITY;
        x[((rows / 3) * A + 6) * B + 0] = FILL;
        char name[32];
        snprintf(name, sizeof name, "%s%d.h5", prefix, k);
        const char *path = tu_path(name);
        uint64_t dims[3] = {rows, A, B};
        tu_write(path, "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, dims, x, 0);
        tu_attr(path, "/x", "_FillValue", H5T_IEEE_F64LE, &FILL, 1);
        free(x);
        t0 += rows;
    }
    char glob[32];
    snprintf(glob, sizeof glob, "%s*.h5", prefix);
    return tu_input(tu_path(glob), "/x");
}

static const char *write_series(void) { return write_files(series_rows, "t"); }

static h5prep_stats *create_with_lags(const h5prep_stats_config *c, const int *lags, int nlags)
{
    h5prep_stats *s = h5prep_stats_create(c);
    cr_assert(s);
    for (int i = 0; i < nlags; i++)
        cr_assert_eq(h5prep_stats_add_tendency(s, lags[i]), H5PREP_OK, "%s", h5prep_last_error());
    return s;
}

/* A run of input with lags (and part i/n when n > 0); asserts success. */
static h5prep_stats *run_lags(const h5prep_stats_config *c, const char *input, const int *lags, int nlags, int i, int n)
{
    h5prep_stats *s = create_with_lags(c, lags, nlags);
    if (n)
        cr_assert_eq(h5prep_stats_set_part(s, i, n), H5PREP_OK);
    cr_assert_eq(h5prep_stats_add(s, input), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_run(s), H5PREP_OK, "%s", h5prep_last_error());
    return s;
}

/* The "variables" object of a document: what must not depend on how it was computed. */
static char *variables_of(const h5prep_stats *s)
{
    char *j = h5prep_stats_json(s);
    cr_assert(j, "%s", h5prep_last_error());
    char *v = strstr(j, "\"variables\"");
    cr_assert(v);
    char *out = strdup(v);
    free(j);
    return out;
}

static const int LAGS[] = {1, 3, 2500}; /* 2500: every pair spans a file boundary */

/* numpy's float64 differences of the same files (read with h5py, the fill value and Inf made
 * NaN by hand) against the document, for each kept-axes choice. */
static void check_against_numpy(int keep_first, int keep_count, const char *axes)
{
    const char *input = write_series();
    h5prep_stats_config c = h5prep_stats_config_default();
    c.keep_first = keep_first;
    c.keep_count = keep_count;
    h5prep_stats *s = run_lags(&c, input, LAGS, 3, 0, 0);
    const char *out = tu_path("tend.json");
    cr_assert_eq(h5prep_stats_write(s, out), H5PREP_OK, "%s", h5prep_last_error());
    h5prep_var_view v = tu_view(s, 0);
    cr_assert_eq(v.ntendencies, 3);
    cr_assert_eq(v.tendency_lags[2], 2500);
    h5prep_stats_destroy(s);
    char arg[4096];
    snprintf(arg, sizeof arg, "%s|%s|%s", out, tu_dir(), axes);
    tu_python_ok("import sys, json, glob, h5py, numpy as np\n"
                 "out, d, axes = sys.argv[1].split('|')\n"
                 "keep = [int(a) for a in axes.split(',') if a]\n"
                 "x = np.concatenate([h5py.File(f)['x'][...] for f in sorted(glob.glob(d + '/t*.h5'))])\n"
                 "x[(x == -999.0) | ~np.isfinite(x)] = np.nan\n"
                 "red = tuple(a for a in range(3) if a not in keep)\n"
                 "t = json.load(open(out))['variables']['/x']['tendencies']\n"
                 "assert [e['lag'] for e in t] == [1, 3, 2500], t\n"
                 "for e in t:\n"
                 "    L = e['lag']\n"
                 "    dx = x[L:] - x[:-L]\n"
                 "    n = np.isfinite(dx).sum(axis=red).ravel()\n"
                 "    mean = np.nanmean(dx, axis=red, keepdims=True)\n"
                 "    m2 = np.nansum((dx - mean) ** 2, axis=red).ravel()\n"
                 "    mean = mean.ravel()\n"
                 "    assert e['count'] == n.tolist(), (L, e['count'], n)\n"
                 "    assert e['missing'] == (dx.size // n.size - n).tolist(), L\n"
                 "    assert e['min'] == np.nanmin(dx, axis=red).ravel().tolist(), L\n"
                 "    assert e['max'] == np.nanmax(dx, axis=red).ravel().tolist(), L\n"
                 "    sd = np.sqrt(m2 / n)\n"
                 "    np.testing.assert_allclose(e['mean'], mean, rtol=0, atol=1e-9 * (1 + sd.max()) + 1e-12 * abs(mean).max())\n"
                 "    np.testing.assert_allclose(e['m2'], m2, rtol=1e-9, atol=1e-9)\n"
                 "    if 1 in keep and len(keep) == 1:\n"
                 "        assert e['m2'][3] == 0 and e['mean'][3] == 0 and e['flags'][3] == 1, 'a constant feature'\n",
                 arg);
}

Test(tendency, numpy_reference_per_level) { check_against_numpy(1, 1, "1"); }
Test(tendency, numpy_reference_channels_last) { check_against_numpy(-1, 1, "2"); }
Test(tendency, numpy_reference_one_statistic) { check_against_numpy(0, 0, ""); }

Test(tendency, same_bytes_for_threads_memory_slots_and_parts)
{
    const char *input = write_series();
    h5prep_stats_config c = h5prep_stats_config_default();
    c.keep_first = 1;
    c.keep_count = 1;
    c.threads = 1;
    h5prep_stats *s = run_lags(&c, input, LAGS, 3, 0, 0);
    char *want = variables_of(s);
    h5prep_stats_destroy(s);
    struct {
        int threads, slots;
        size_t mem;
    } runs[] = {{2, 0, 0}, {3, 3, (size_t)24 << 20}, {2, 2, (size_t)20 << 20}}; /* lag 2500 keeps 9.8 MiB */
    for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
        h5prep_stats_config rc = c;
        rc.threads = runs[r].threads;
        if (runs[r].slots)
            rc.slots = runs[r].slots;
        if (runs[r].mem)
            rc.mem_bytes = runs[r].mem;
        s = run_lags(&rc, input, LAGS, 3, 0, 0);
        char *got = variables_of(s);
        cr_assert(strcmp(got, want) == 0, "threads %d, slots %d, mem %zu: other bytes than one thread", runs[r].threads,
                  runs[r].slots, runs[r].mem);
        free(got);
        h5prep_stats_destroy(s);
    }
    /* parts 1..N of N (N = 2, 3, 5: a part's first block starts mid-file, or a file starts it)
     * merged in reverse order: the bytes of one run */
    static const int counts[] = {2, 3, 5};
    for (int k = 0; k < 3; k++) {
        int n = counts[k];
        h5prep_stats *m = h5prep_stats_create(&c);
        for (int i = n; i >= 1; i--) {
            h5prep_stats_config pc = c;
            pc.mem_bytes = i % 2 ? (size_t)24 << 20 : pc.mem_bytes;
            h5prep_stats *p = run_lags(&pc, input, LAGS, 3, i, n);
            char name[32];
            snprintf(name, sizeof name, "part%d-%d.json", i, n);
            const char *path = tu_path(name);
            cr_assert_eq(h5prep_stats_write(p, path), H5PREP_OK, "%s", h5prep_last_error());
            h5prep_stats_destroy(p);
            cr_assert_eq(h5prep_stats_load(m, path), H5PREP_OK, "%s", h5prep_last_error());
        }
        char *got = variables_of(m);
        cr_assert(strcmp(got, want) == 0, "--part i/%d + merge: other bytes than one run", n);
        free(got);
        h5prep_stats_destroy(m);
    }
    free(want);
}

/* The CUDA backend (kernels in the SIMT harness, through h5prep-simt, streams deferred and blocks
 * shuffled) against the CPU, on smaller files (the harness runs a thread per CUDA thread): counts,
 * missing, min and max exact, mean and variance within tolerance. */
Test(tendency, cuda_backend_agrees_with_the_cpu)
{
    const char *input = write_files(small_rows, "s");
    setenv("SIMT_STREAMS", "deferred", 1);
    setenv("SIMT_BLOCKS", "shuffled", 1);
    char *gpu = strdup(tu_path("gpu.json")), *cpu = strdup(tu_path("cpu.json"));
    const char *gargs[] = {"stats", input, "--keep-axes", "1", "--tendency", "1", "--tendency", "320",
                           "--backend", "cuda", "--quiet", "-o", gpu, NULL};
    cr_assert_eq(tu_cli_with(H5PREP_CLI_SIMT, gargs), 0, "%s", tu_stderr());
    const char *cargs[] = {"stats", input, "--keep-axes", "1", "--tendency", "1", "--tendency", "320",
                           "--backend", "cpu", "--quiet", "-o", cpu, NULL};
    cr_assert_eq(tu_cli(cargs), 0, "%s", tu_stderr());
    h5prep_stats *g = h5prep_stats_create(NULL), *k = h5prep_stats_create(NULL);
    cr_assert_eq(h5prep_stats_load(g, gpu), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_load(k, cpu), H5PREP_OK, "%s", h5prep_last_error());
    h5prep_var_view vg = tu_view(g, 0), vc = tu_view(k, 0);
    cr_assert_eq(vg.ntendencies, 2);
    cr_assert_eq(vc.ntendencies, 2);
    tu_compare(vg.moments, vc.moments, vc.n_features, 1e-12);
    tu_compare(vg.tendencies, vc.tendencies, 2 * vc.n_features, 1e-9);
    h5prep_stats_destroy(g);
    h5prep_stats_destroy(k);
    free(gpu);
    free(cpu);
}

/* The .h5 document holds the same tendencies as the JSON one (tendencies/lag_L groups). */
Test(tendency, hdf5_document_holds_the_tendencies)
{
    const char *input = write_series();
    h5prep_stats_config c = h5prep_stats_config_default();
    c.keep_first = 1;
    c.keep_count = 1;
    h5prep_stats *s = run_lags(&c, input, LAGS, 2, 0, 0);
    char *js = strdup(tu_path("t.json")), *h5 = strdup(tu_path("t.h5out.h5"));
    cr_assert_eq(h5prep_stats_write(s, js), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_write(s, h5), H5PREP_OK, "%s", h5prep_last_error());
    h5prep_stats_destroy(s);
    char arg[4096];
    snprintf(arg, sizeof arg, "%s|%s", js, h5);
    tu_python_ok("import sys, json, h5py, numpy as np\n"
                 "js, h5 = sys.argv[1].split('|')\n"
                 "t = json.load(open(js))['variables']['/x']['tendencies']\n"
                 "f = h5py.File(h5)\n"
                 "assert sorted(f['variables/x/tendencies']) == ['lag_1', 'lag_3'], list(f['variables/x/tendencies'])\n"
                 "for e in t:\n"
                 "    g = f['variables/x/tendencies/lag_%d' % e['lag']]\n"
                 "    assert g.attrs['lag'][0] == e['lag']\n"
                 "    for k in ('count', 'missing', 'mean', 'm2', 'min', 'max', 'flags'):\n"
                 "        assert g[k][...].tolist() == e[k], k\n",
                 arg);
    /* a merge reads tendencies from JSON only: the .h5 is refused, not read without them */
    h5prep_stats *m = h5prep_stats_create(NULL);
    cr_assert_eq(h5prep_stats_load(m, h5), H5PREP_ERR_STATE);
    cr_assert(strstr(h5prep_last_error(), "tendencies"), "%s", h5prep_last_error());
    h5prep_stats_destroy(m);
    free(js);
    free(h5);
}

Test(tendency, bad_lags_and_kept_axis_0_are_refused)
{
    const char *input = write_series();
    h5prep_stats *s = h5prep_stats_create(NULL);
    cr_assert_eq(h5prep_stats_add_tendency(s, 0), H5PREP_ERR_USAGE);
    cr_assert(strstr(h5prep_last_error(), "--tendency 0"), "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_add_tendency(s, 2), H5PREP_OK);
    cr_assert_eq(h5prep_stats_add_tendency(s, 2), H5PREP_ERR_USAGE);
    cr_assert(strstr(h5prep_last_error(), "given twice"), "%s", h5prep_last_error());
    h5prep_stats_destroy(s);

    /* batches from memory have no rows before them to pair with */
    s = create_with_lags(NULL, LAGS, 1);
    const double xs[4] = {1, 2, 3, 4};
    const uint64_t shape[1] = {4};
    cr_assert_eq(h5prep_stats_update(s, "x", xs, "float64", 1, shape), H5PREP_ERR_USAGE);
    cr_assert(strstr(h5prep_last_error(), "tendencies"), "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_nvars(s), 0);
    h5prep_stats_destroy(s);

    /* a lag of all the rows: named with the dataset and its rows */
    const int all[] = {7400};
    s = create_with_lags(NULL, all, 1);
    cr_assert_eq(h5prep_stats_add(s, input), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_run(s), H5PREP_ERR_SHAPE);
    cr_assert(strstr(h5prep_last_error(), "/x") && strstr(h5prep_last_error(), "--tendency 7400") &&
                  strstr(h5prep_last_error(), "has 7400"),
              "%s", h5prep_last_error());
    h5prep_stats_destroy(s);

    /* axis 0 kept: every row its own feature, nothing to difference */
    h5prep_stats_config c = h5prep_stats_config_default();
    c.keep_first = 0;
    c.keep_count = 1;
    s = create_with_lags(&c, LAGS, 1);
    cr_assert_eq(h5prep_stats_add(s, input), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_run(s), H5PREP_ERR_AXES);
    cr_assert(strstr(h5prep_last_error(), "axis 0 is kept"), "%s", h5prep_last_error());
    h5prep_stats_destroy(s);

    /* the CLI: exit status and message, nothing written */
    const char *out = tu_path("never.json");
    const char *zero[] = {"stats", input, "--tendency", "0", "-o", out, NULL};
    cr_assert_eq(tu_cli(zero), H5PREP_ERR_USAGE);
    cr_assert(strstr(tu_stderr(), "--tendency 0"), "%s", tu_stderr());
    const char *big[] = {"stats", input, "--tendency", "9000", "-o", out, NULL};
    cr_assert_eq(tu_cli(big), H5PREP_ERR_SHAPE);
    cr_assert(strstr(tu_stderr(), "has 7400"), "%s", tu_stderr());
    const char *axis0[] = {"stats", input, "--keep-axes", "0", "--tendency", "1", "-o", out, NULL};
    cr_assert_eq(tu_cli(axis0), H5PREP_ERR_AXES);
    cr_assert(!tu_exists(out));
}

/* Merges: other lag sets are refused, naming the variable; a document with tendencies loads alone
 * and keeps them. */
Test(tendency, merges_of_other_lags_are_refused)
{
    const char *input = write_series();
    char *one = strdup(tu_path("lag1.json")), *two = strdup(tu_path("lag13.json")), *plain = strdup(tu_path("plain.json"));
    h5prep_stats *s = run_lags(NULL, input, LAGS, 1, 0, 0);
    cr_assert_eq(h5prep_stats_write(s, one), H5PREP_OK);
    h5prep_stats_destroy(s);
    s = run_lags(NULL, input, LAGS, 2, 0, 0);
    cr_assert_eq(h5prep_stats_write(s, two), H5PREP_OK);
    h5prep_stats_destroy(s);
    s = run_lags(NULL, input, LAGS, 0, 0, 0);
    cr_assert_eq(h5prep_stats_write(s, plain), H5PREP_OK);
    h5prep_stats_destroy(s);
    const char *pairs[][2] = {{one, two}, {one, plain}, {plain, one}};
    for (int k = 0; k < 3; k++) {
        h5prep_stats *m = h5prep_stats_create(NULL);
        cr_assert_eq(h5prep_stats_load(m, pairs[k][0]), H5PREP_OK, "%s", h5prep_last_error());
        cr_assert_eq(h5prep_stats_load(m, pairs[k][1]), H5PREP_ERR_STATE, "pair %d", k);
        cr_assert(strstr(h5prep_last_error(), "/x") && strstr(h5prep_last_error(), "tendencies"), "%s",
                  h5prep_last_error());
        h5prep_stats_destroy(m);
    }
    h5prep_stats *m = h5prep_stats_create(NULL);
    cr_assert_eq(h5prep_stats_load(m, two), H5PREP_OK, "%s", h5prep_last_error());
    h5prep_var_view v = tu_view(m, 0);
    cr_assert_eq(v.ntendencies, 2);
    cr_assert_eq(v.tendency_lags[1], 3);
    h5prep_stats_destroy(m);
    free(one);
    free(two);
    free(plain);
}

/* Two runs over consecutive rows (t0.h5, then t1.h5 and t2.h5, whole or as a merge of 3 parts)
 * merged in that order: their edge rows form the pairs that straddle them, so the merge has every
 * pair of one run over all three files: counts, missing, min and max exact, mean and variance
 * within rounding, and the edges of the one run. */
Test(tendency, merge_of_consecutive_runs_forms_the_straddling_pairs)
{
    const char *input = write_series();
    h5prep_stats_config c = h5prep_stats_config_default();
    c.keep_first = 1;
    c.keep_count = 1;
    h5prep_stats *whole = run_lags(&c, input, LAGS, 2, 0, 0);
    char *first = strdup(tu_path("first.json")), *rest = strdup(tu_path("rest.json"));
    h5prep_stats *s = run_lags(&c, tu_input(tu_path("t0.h5"), "/x"), LAGS, 2, 0, 0);
    cr_assert_eq(h5prep_stats_write(s, first), H5PREP_OK, "%s", h5prep_last_error());
    h5prep_stats_destroy(s);
    for (int parts = 0; parts <= 3; parts += 3) {
        if (parts == 0) {
            s = run_lags(&c, tu_input(tu_path("t[12].h5"), "/x"), LAGS, 2, 0, 0);
        } else {
            s = h5prep_stats_create(NULL);
            for (int i = 1; i <= parts; i++) {
                h5prep_stats *p = run_lags(&c, tu_input(tu_path("t[12].h5"), "/x"), LAGS, 2, i, parts);
                char name[32];
                snprintf(name, sizeof name, "rest-part%d.json", i);
                const char *pp = tu_path(name);
                cr_assert_eq(h5prep_stats_write(p, pp), H5PREP_OK, "%s", h5prep_last_error());
                h5prep_stats_destroy(p);
                cr_assert_eq(h5prep_stats_load(s, pp), H5PREP_OK, "%s", h5prep_last_error());
            }
        }
        cr_assert_eq(h5prep_stats_write(s, rest), H5PREP_OK, "%s", h5prep_last_error());
        h5prep_stats_destroy(s);
        h5prep_stats *m = h5prep_stats_create(NULL);
        cr_assert_eq(h5prep_stats_load(m, first), H5PREP_OK, "%s", h5prep_last_error());
        cr_assert_eq(h5prep_stats_load(m, rest), H5PREP_OK, "parts %d: %s", parts, h5prep_last_error());
        h5prep_var_view got = tu_view(m, 0), want = tu_view(whole, 0);
        cr_assert_eq(got.shape[0], 7400);
        tu_compare(got.moments, want.moments, want.n_features, 1e-12);
        tu_compare(got.tendencies, want.tendencies, 2 * want.n_features, 1e-12);
        /* the merged edges are the whole run's: a third merge would continue from them */
        char *jm = h5prep_stats_json(m), *jw = h5prep_stats_json(whole);
        cr_assert(jm && jw);
        cr_assert(strstr(jw, "\"tendency_edges\""));
        cr_assert(strcmp(strstr(jm, "\"tendency_edges\""), strstr(jw, "\"tendency_edges\"")) == 0, "parts %d", parts);
        free(jm);
        free(jw);
        h5prep_stats_destroy(m);
    }
    h5prep_stats_destroy(whole);
    free(first);
    free(rest);
}
