/* test_transform.c: `h5prep transform` end to end: every op against a reference written from
 * the op's definition, normalization against float64 statistics of the train split, splits,
 * the CPU and CUDA (SIMT) backends against each other, and bad recipes leaving nothing behind. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { N = 37 }; /* samples: not a multiple of anything */

/* The input: a (N,3,4) float32 = 100n + 10i + k; b (N,4) int16 packed (0.5, +10) with fill -32768 at
 * (n % 5 == 0, k == 2); c (N,) float64 with NaN at n % 7 == 3. */
static const char *make_input(void)
{
    const char *path = tu_path("in.h5");
    static float a[N * 12];
    static short b[N * 4];
    static double c[N];
    for (int n = 0; n < N; n++) {
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 4; k++)
                a[(n * 3 + i) * 4 + k] = (float)(100 * n + 10 * i + k);
        for (int k = 0; k < 4; k++)
            b[n * 4 + k] = (short)(n % 5 == 0 && k == 2 ? -32768 : 3 * n - 7 * k);
        c[n] = n % 7 == 3 ? NAN : 1e8 + 0.25 * n;
    }
    uint64_t da[] = {N, 3, 4}, db[] = {N, 4}, dc[] = {N};
    tu_write(path, "a", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, da, a, 8);
    tu_write(path, "b", H5T_STD_I16BE, H5T_NATIVE_SHORT, 2, db, b, 0);
    tu_write(path, "c", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, dc, c, 0);
    double scale = 0.5, offset = 10, fill = -32768;
    tu_attr(path, "b", "scale_factor", H5T_NATIVE_DOUBLE, &scale, 1);
    tu_attr(path, "b", "add_offset", H5T_NATIVE_DOUBLE, &offset, 1);
    tu_attr(path, "b", "_FillValue", H5T_STD_I16BE, &fill, 1);
    return path;
}

static double A(int n, int i, int k) { return 100.0 * n + 10.0 * i + k; }
static double B(int n, int k) { return n % 5 == 0 && k == 2 ? NAN : (3 * n - 7 * k) * 0.5 + 10; }
static double C(int n) { return n % 7 == 3 ? NAN : 1e8 + 0.25 * n; }

/* Output `dset` of split "all" in the directory out, as float64; it must hold `want` values. */
static double *read_split_all(const char *out, const char *dset, size_t want)
{
    char file[4096];
    snprintf(file, sizeof file, "%s/all.h5", out);
    size_t cnt;
    double *x = tu_read_all(file, dset, &cnt);
    cr_assert_eq(cnt, want, "%s:%s holds %zu values, want %zu", file, dset, cnt, want);
    return x;
}

static void same(double got, double want, const char *what, size_t i)
{
    cr_assert(got == want || (isnan(got) && isnan(want)), "%s[%zu] = %.17g, want %.17g", what, i, got, want);
}

static int run_cli(const char *binary, const char *recipe, const char *out, const char *backend)
{
    const char *args[] = {"transform", recipe, "--out", out, "--quiet", "--backend", backend, NULL};
    return tu_cli_with(binary, args);
}

static const char *ops_recipe(const char *input, const char *extra)
{
    static char text[4096];
    snprintf(text, sizeof text,
             "inputs:\n  - files: %s\n    variables: [a, b, c]\n"
             "outputs:\n"
             "  bc:   {from: {broadcast: {of: b, axis: 1, size: 3}}, cast: float64}\n"
             "  padc: {from: {pad: {of: a, axis: 2, before: 1, after: 2, value: 7.5}}, cast: float64}\n"
             "  pade: {from: {pad: {of: a, axis: -1, before: 2, after: 1, mode: edge}}, cast: float64}\n"
             "  cat:  {from: {concat: {axis: -1, of: [a, {broadcast: {of: b, axis: 1, size: 3}}]}}, cast: float64}\n"
             "  stk:  {from: {stack: {axis: 1, of: [b, b]}}, cast: float64}\n"
             "  rsh:  {from: {reshape: {of: a, shape: [4, -1]}}, cast: float64}\n"
             "  flt:  {from: {flatten: a}, cast: float64}\n"
             "  slc:  {from: {slice: {of: a, axis: 2, start: 1, stop: 4, step: 2}}, cast: float64}\n"
             "  cb:   {from: {broadcast: {of: c, axis: 1, size: 2}}, cast: float64}\n"
             "  f32:  {from: {concat: {axis: 2, of: [a, a]}}}\n"
             "  cat1: {from: {concat: {axis: 1, of: [a, {slice: {of: a, axis: 1, start: 0, stop: 2}}]}}, cast: float64}\n"
             "split: {fractions: {all: 1.0}, shuffle: false}\n"
             "write: {hdf5: {chunk_rows: 5}%s}\n",
             input, extra);
    return text;
}

/* Every op against its definition, rows in input order. */
static void check_ops(const char *out)
{
    double *x = read_split_all(out, "bc", (size_t)N * 12);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 4; k++)
                same(x[(n * 3 + i) * 4 + k], B(n, k), "bc", (size_t)((n * 3 + i) * 4 + k));
    free(x);
    x = read_split_all(out, "padc", (size_t)N * 21);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 7; k++)
                same(x[(n * 3 + i) * 7 + k], k >= 1 && k <= 4 ? A(n, i, k - 1) : 7.5, "padc", (size_t)((n * 3 + i) * 7 + k));
    free(x);
    x = read_split_all(out, "pade", (size_t)N * 21);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 7; k++)
                same(x[(n * 3 + i) * 7 + k], A(n, i, k < 2 ? 0 : k > 5 ? 3 : k - 2), "pade", (size_t)((n * 3 + i) * 7 + k));
    free(x);
    x = read_split_all(out, "cat", (size_t)N * 24);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 8; k++)
                same(x[(n * 3 + i) * 8 + k], k < 4 ? A(n, i, k) : B(n, k - 4), "cat", (size_t)((n * 3 + i) * 8 + k));
    free(x);
    x = read_split_all(out, "stk", (size_t)N * 8);
    for (int n = 0; n < N; n++)
        for (int s = 0; s < 2; s++)
            for (int k = 0; k < 4; k++)
                same(x[(n * 2 + s) * 4 + k], B(n, k), "stk", (size_t)((n * 2 + s) * 4 + k));
    free(x);
    const char *flat[] = {"rsh", "flt"};
    for (int f = 0; f < 2; f++) {
        x = read_split_all(out, flat[f], (size_t)N * 12);
        for (int n = 0; n < N; n++)
            for (int j = 0; j < 12; j++)
                same(x[n * 12 + j], A(n, j / 4, j % 4), flat[f], (size_t)(n * 12 + j));
        free(x);
    }
    x = read_split_all(out, "slc", (size_t)N * 6);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 2; k++)
                same(x[(n * 3 + i) * 2 + k], A(n, i, 1 + 2 * k), "slc", (size_t)((n * 3 + i) * 2 + k));
    free(x);
    x = read_split_all(out, "cb", (size_t)N * 2);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < 2; k++)
            same(x[n * 2 + k], C(n), "cb", (size_t)(n * 2 + k));
    free(x);
    /* concat on a per-sample axis that is not the last: (N,3,4) and (N,2,4) give (N,5,4) */
    x = read_split_all(out, "cat1", (size_t)N * 20);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < 5; i++)
            for (int k = 0; k < 4; k++)
                same(x[(n * 5 + i) * 4 + k], A(n, i < 3 ? i : i - 3, k), "cat1", (size_t)((n * 5 + i) * 4 + k));
    free(x);
    char file[4096];
    snprintf(file, sizeof file, "%s/all.h5", out);
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT), d = H5Dopen2(f, "cat1", H5P_DEFAULT), sp = H5Dget_space(d);
    hsize_t dims[3];
    cr_assert_eq(H5Sget_simple_extent_ndims(sp), 3, "%s:cat1 has rank 3", file);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    cr_assert(dims[0] == N && dims[1] == 5 && dims[2] == 4, "%s:cat1 is (%llu, %llu, %llu), want (%d, 5, 4)", file,
              (unsigned long long)dims[0], (unsigned long long)dims[1], (unsigned long long)dims[2], N);
}

Test(transform, every_op_matches_its_definition)
{
    const char *recipe = tu_path("ops.yaml"), *out = tu_path("out");
    tu_write_text(recipe, ops_recipe(make_input(), ""));
    char slash[4096]; /* "out/" is the directory "out" */
    snprintf(slash, sizeof slash, "%s/", out);
    int rc = run_cli(H5PREP_CLI, recipe, slash, "cpu");
    cr_assert_eq(rc, 0, "exit %d: %s", rc, tu_stderr());
    check_ops(out);
}

/* The CUDA backend's kernels (through the SIMT harness) copy exactly what the CPU copies. */
Test(transform, cuda_copies_are_bit_identical_to_cpu)
{
    const char *recipe = tu_path("ops.yaml"), *cpu = tu_path("cpu"), *gpu = tu_path("gpu");
    tu_write_text(recipe, ops_recipe(make_input(), ""));
    cr_assert_eq(run_cli(H5PREP_CLI, recipe, cpu, "cpu"), 0, "%s", tu_stderr());
    int rc = run_cli(H5PREP_CLI_SIMT, recipe, gpu, "cuda");
    cr_assert_eq(rc, 0, "simt exit %d: %s", rc, tu_stderr());
    check_ops(gpu);
    const char *names[] = {"bc", "padc", "pade", "cat", "stk", "rsh", "flt", "slc", "cb", "f32", "cat1"};
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s/all.h5", cpu);
    snprintf(b, sizeof b, "%s/all.h5", gpu);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t na, nb;
        double *x = tu_read_all(a, names[i], &na), *y = tu_read_all(b, names[i], &nb);
        cr_assert_eq(na, nb);
        cr_assert(memcmp(x, y, na * sizeof *x) == 0, "output %s differs between the backends", names[i]);
        free(x);
        free(y);
    }
}

Test(transform, npy_shards_hold_the_same_rows)
{
    const char *recipe = tu_path("ops.yaml"), *out = tu_path("out");
    tu_write_text(recipe, ops_recipe(make_input(), ", npy: {shard_rows: 10}"));
    cr_assert_eq(run_cli(H5PREP_CLI, recipe, out, "cpu"), 0, "%s", tu_stderr());
    char path[4096];
    snprintf(path, sizeof path, "%s/index.json", out);
    json_error_t err;
    json_t *idx = json_load_file(path, 0, &err);
    cr_assert_not_null(idx, "%s: %s", path, err.text);
    json_t *shards = json_object_get(json_object_get(json_object_get(json_object_get(json_object_get(idx, "splits"), "all"), "outputs"), "flt"), "npy");
    cr_assert_eq(json_array_size(shards), 4, "37 rows in shards of 10");
    /* the last shard: rows 30..36 of flt, float64, after a 64-byte-aligned header */
    snprintf(path, sizeof path, "%s/%s", out, json_string_value(json_object_get(json_array_get(shards, 3), "path")));
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    unsigned char head[10];
    cr_assert_eq(fread(head, 1, 10, f), 10);
    size_t hlen = (size_t)head[8] | (size_t)head[9] << 8;
    cr_assert_eq((10 + hlen) % 64, 0);
    fseek(f, (long)(10 + hlen), SEEK_SET);
    double row[12];
    for (int n = 30; n < N; n++) {
        cr_assert_eq(fread(row, sizeof *row, 12, f), 12);
        for (int j = 0; j < 12; j++)
            same(row[j], A(n, j / 4, j % 4), "npy flt", (size_t)(n * 12 + j));
    }
    fclose(f);
    json_decref(idx);
}

/* The split manifest: indices per split, in output order. */
typedef struct manifest {
    int nsplits;
    int which[N];
    int order[3][N];
    int count[3];
} manifest;

static void read_manifest(const char *out, manifest *m)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/split.json", out);
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    cr_assert_not_null(doc, "%s: %s", path, err.text);
    json_t *splits = json_object_get(doc, "splits");
    memset(m, 0, sizeof *m);
    for (int i = 0; i < N; i++)
        m->which[i] = -1;
    const char *name;
    json_t *sp;
    json_object_foreach(splits, name, sp)
    {
        json_t *ind = json_object_get(sp, "indices");
        int k = m->nsplits++;
        m->count[k] = (int)json_array_size(ind);
        for (int i = 0; i < m->count[k]; i++) {
            int s = (int)json_integer_value(json_array_get(ind, (size_t)i));
            cr_assert(s >= 0 && s < N && m->which[s] < 0, "sample %d twice in the manifest", s);
            m->which[s] = k;
            m->order[k][i] = s;
        }
    }
    for (int i = 0; i < N; i++)
        cr_assert(m->which[i] >= 0, "sample %d in no split", i);
    json_decref(doc);
}

static const char *norm_recipe(const char *input, int seed, const char *group)
{
    static char text[8192];
    snprintf(text, sizeof text,
             "inputs: {files: %s, variables: [a, b]}\n"
             "outputs:\n"
             "  za: {from: a, normalize: zscore, cast: float64}\n"
             "  mb: {from: {broadcast: {of: b, axis: 1, size: 2}}, normalize: minmax, cast: float64}\n"
             "  h:  {from: a, normalize: zscore, cast: float16}\n"
             "  k1: {from: a, normalize: {method: zscore, keep_axes: [1]}, cast: float64}\n"
             "split: {fractions: {train: 0.6, val: 0.2, test: 0.2}, seed: %d, group_by: %s}\n"
             "write: {hdf5: true}\n",
             input, seed, group);
    return text;
}

/* Output k1: a (N,3,4) z-scored per axis-1 feature i, over samples and axis 2. */
static void check_axis1(const char *file, const manifest *m, int split)
{
    double mean[3], sd[3];
    for (int i = 0; i < 3; i++) {
        long double s = 0, s2 = 0;
        long c = 0;
        for (int n = 0; n < N; n++)
            if (m->which[n] == 0)
                for (int k = 0; k < 4; k++)
                    s += A(n, i, k), c++;
        mean[i] = (double)(s / c);
        for (int n = 0; n < N; n++)
            if (m->which[n] == 0)
                for (int k = 0; k < 4; k++)
                    s2 += (A(n, i, k) - mean[i]) * (A(n, i, k) - mean[i]);
        sd[i] = sqrt((double)(s2 / c));
    }
    size_t cnt;
    double *x = tu_read_all(file, "k1", &cnt);
    cr_assert_eq(cnt, (size_t)m->count[split] * 12);
    for (int r = 0; r < m->count[split]; r++)
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 4; k++)
                tu_close(x[(r * 3 + i) * 4 + k], (A(m->order[split][r], i, k) - mean[i]) / sd[i], 1e-12, 1e-12, "k1", (uint64_t)i);
    free(x);
}

/* z-score with float64 statistics of the train rows only; min-max the same; missing stay NaN. */
static void check_normalized(const char *out, const manifest *m)
{
    double mean[4] = {0}, m2[4] = {0}, lo[4], hi[4];
    long double sum[4] = {0};
    long cnt[4] = {0};
    for (int k = 0; k < 4; k++)
        lo[k] = INFINITY, hi[k] = -INFINITY;
    for (int n = 0; n < N; n++) /* a per last-axis feature over samples and axis 1 */
        if (m->which[n] == 0)
            for (int i = 0; i < 3; i++)
                for (int k = 0; k < 4; k++)
                    sum[k] += A(n, i, k), cnt[k]++;
    for (int k = 0; k < 4; k++)
        mean[k] = (double)(sum[k] / cnt[k]);
    for (int n = 0; n < N; n++)
        if (m->which[n] == 0)
            for (int i = 0; i < 3; i++)
                for (int k = 0; k < 4; k++)
                    m2[k] += (A(n, i, k) - mean[k]) * (A(n, i, k) - mean[k]);
    for (int n = 0; n < N; n++)
        if (m->which[n] == 0)
            for (int k = 0; k < 4; k++)
                if (!isnan(B(n, k)))
                    lo[k] = fmin(lo[k], B(n, k)), hi[k] = fmax(hi[k], B(n, k));
    const char *names[] = {"train", "val", "test"};
    for (int s = 0; s < 3; s++) {
        char file[4096];
        snprintf(file, sizeof file, "%s/%s.h5", out, names[s]);
        size_t cnt_a, cnt_b, cnt_h;
        double *za = tu_read_all(file, "za", &cnt_a), *mb = tu_read_all(file, "mb", &cnt_b), *h = tu_read_all(file, "h", &cnt_h);
        cr_assert_eq(cnt_a, (size_t)m->count[s] * 12);
        for (int r = 0; r < m->count[s]; r++) {
            int n = m->order[s][r];
            for (int i = 0; i < 3; i++)
                for (int k = 0; k < 4; k++) {
                    double want = (A(n, i, k) - mean[k]) / sqrt(m2[k] / (double)cnt[k]);
                    tu_close(za[(r * 3 + i) * 4 + k], want, 1e-12, 1e-12, "za", (uint64_t)k);
                    tu_close(h[(r * 3 + i) * 4 + k], want, 2e-3, 1e-3, "h (float16)", (uint64_t)k);
                }
            for (int i = 0; i < 2; i++)
                for (int k = 0; k < 4; k++) {
                    double want = (B(n, k) - lo[k]) / (hi[k] - lo[k]), got = mb[(r * 2 + i) * 4 + k];
                    if (isnan(want))
                        cr_assert(isnan(got), "a missing value stays missing (mb row %d)", r);
                    else
                        tu_close(got, want, 1e-12, 1e-12, "mb", (uint64_t)k);
                }
        }
        free(za), free(mb), free(h);
        check_axis1(file, m, s);
    }
}

Test(transform, normalizes_with_train_statistics)
{
    const char *recipe = tu_path("n.yaml"), *out = tu_path("out");
    tu_write_text(recipe, norm_recipe(make_input(), 7, "none"));
    cr_assert_eq(run_cli(H5PREP_CLI, recipe, out, "cpu"), 0, "%s", tu_stderr());
    manifest m;
    read_manifest(out, &m);
    cr_assert_eq(m.nsplits, 3);
    cr_assert(m.count[0] == 22 && m.count[1] == 8 && m.count[2] == 7, "counts %d %d %d: round(0.6*37)=22, round(0.8*37)=30",
              m.count[0], m.count[1], m.count[2]);
    check_normalized(out, &m);
}

Test(transform, cuda_backend_splits_and_normalizes_like_cpu)
{
    const char *recipe = tu_path("n.yaml"), *cpu = tu_path("cpu"), *gpu = tu_path("gpu");
    tu_write_text(recipe, norm_recipe(make_input(), 11, "none"));
    cr_assert_eq(run_cli(H5PREP_CLI, recipe, cpu, "cpu"), 0, "%s", tu_stderr());
    int rc = run_cli(H5PREP_CLI_SIMT, recipe, gpu, "cuda");
    cr_assert_eq(rc, 0, "simt exit %d: %s", rc, tu_stderr());
    manifest a, b;
    read_manifest(cpu, &a);
    read_manifest(gpu, &b);
    cr_assert(memcmp(&a, &b, sizeof a) == 0, "the same seed gives the same split on both backends");
    check_normalized(gpu, &b);
}

Test(transform, seeds_and_groups)
{
    char input[1024];
    snprintf(input, sizeof input, "%s", make_input());
    const char *recipe = tu_path("n.yaml");
    manifest m[3];
    const char *outs[] = {tu_path("s1"), tu_path("s1again"), tu_path("s2")};
    int seeds[] = {1, 1, 2};
    for (int i = 0; i < 3; i++) {
        tu_write_text(recipe, norm_recipe(input, seeds[i], "none"));
        cr_assert_eq(run_cli(H5PREP_CLI, recipe, outs[i], "cpu"), 0, "%s", tu_stderr());
        read_manifest(outs[i], &m[i]);
    }
    cr_assert(memcmp(&m[0], &m[1], sizeof m[0]) == 0, "the same seed gives the same split");
    cr_assert(memcmp(&m[0], &m[2], sizeof m[0]) != 0, "another seed gives another split");
    tu_write_text(recipe, norm_recipe(input, 3, "{rows: 5}"));
    const char *g = tu_path("groups");
    cr_assert_eq(run_cli(H5PREP_CLI, recipe, g, "cpu"), 0, "%s", tu_stderr());
    manifest gm;
    read_manifest(g, &gm);
    for (int n = 0; n < N; n++)
        cr_assert_eq(gm.which[n], gm.which[n / 5 * 5], "sample %d left its group of 5 rows", n);
}

/* A failing run: its exit code, a phrase of its message, and no directory left behind. */
static void expect_failure(const char *recipe_text, int code, const char *phrase)
{
    const char *recipe = tu_path("bad.yaml"), *out = tu_path("out");
    tu_write_text(recipe, recipe_text);
    int rc = run_cli(H5PREP_CLI, recipe, out, "cpu");
    cr_assert_eq(rc, code, "exit %d, want %d; stderr: %s", rc, code, tu_stderr());
    cr_assert(strstr(tu_stderr(), phrase), "stderr lacks \"%s\": %s", phrase, tu_stderr());
    cr_assert(!tu_exists(out), "a failed run left %s behind", out);
    cr_assert(!tu_any_temporary(tu_dir()), "a failed run left its temporary directory");
}

Test(transform, bad_recipes_fail_clearly_and_leave_nothing)
{
    char in[1024], t[4096]; /* tu_path's buffers are reused */
    snprintf(in, sizeof in, "%s", make_input());
    snprintf(t, sizeof t, "inputs: {files: %s, variables: [a]}\noutputs:\n  x: {from: {padd: {of: a, axis: 1}}}\nwrite: {hdf5: true}\n", in);
    expect_failure(t, 2, "unknown op 'padd'");
    snprintf(t, sizeof t, "inputs: {files: %s, variables: [a, zz]}\noutputs:\n  x: {from: {concat: {axis: 1, of: [a, zz]}}}\nwrite: {hdf5: true}\n", in);
    expect_failure(t, 6, "/zz");
    snprintf(t, sizeof t, "inputs: {files: %s, variables: [a, b]}\noutputs:\n  x: {from: {concat: {axis: -1, of: [a, b]}}}\nwrite: {hdf5: true}\n", in);
    expect_failure(t, 9, "concat on axis 2: operand 2 has shape (37, 4) but operand 1 has (37, 3, 4)");
    snprintf(t, sizeof t, "inputs: {files: %s, variables: [a]}\noutputs:\n  x: {from: a}\nsplit: {fractions: {train: 0.8, val: 0.1}}\nwrite: {hdf5: true}\n", in);
    expect_failure(t, 2, "sum to 0.9");
    snprintf(t, sizeof t, "inputs: {files: %s, variables: [a]}\noutputs:\n  x: {from: a}\nwrite: {hdf5: true}\n", in);
    const char *recipe = tu_path("bad.yaml");
    tu_write_text(recipe, t);
    const char *file = tu_path("plain-file");
    tu_write_text(file, "not a folder\n");
    char bad[4096];
    snprintf(bad, sizeof bad, "%s/out", file);
    const char *args[] = {"transform", recipe, "--out", bad, "--quiet", NULL};
    cr_assert_eq(tu_cli(args), 12, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "cannot create the output"), "%s", tu_stderr());
}

Test(transform, existing_output_is_kept_unless_overwrite)
{
    const char *recipe = tu_path("ops.yaml"), *out = tu_path("out");
    tu_write_text(recipe, ops_recipe(make_input(), ""));
    cr_assert_eq(run_cli(H5PREP_CLI, recipe, out, "cpu"), 0, "%s", tu_stderr());
    cr_assert_eq(run_cli(H5PREP_CLI, recipe, out, "cpu"), 12, "a second run must not replace the first");
    cr_assert(strstr(tu_stderr(), "--overwrite"), "%s", tu_stderr());
    const char *args[] = {"transform", recipe, "--out", out, "--quiet", "--overwrite", NULL};
    cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
    check_ops(out);
    cr_assert(!tu_any_temporary(tu_dir()), "the replaced directory is removed");
    /* --overwrite replaces only what a transform wrote */
    const char *mine = tu_path("mine");
    cr_assert_eq(mkdir(mine, 0777), 0);
    tu_write_text(tu_path("mine/notes.txt"), "precious");
    const char *again[] = {"transform", recipe, "--out", mine, "--quiet", "--overwrite", NULL};
    cr_assert_eq(tu_cli(again), 12, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "not the output of an h5prep transform"), "%s", tu_stderr());
    cr_assert(tu_exists(tu_path("mine/notes.txt")), "--overwrite removed a directory it did not write");
}

/* An interrupted run returns its own status and leaves nothing. */
Test(transform, interrupted_run_leaves_nothing)
{
    const char *recipe = tu_path("ops.yaml"), *out = tu_path("out");
    tu_write_text(recipe, ops_recipe(make_input(), ""));
    h5prep_transform_config c = h5prep_transform_config_default();
    c.out_dir = out;
    h5prep_interrupt();
    cr_assert_eq(h5prep_transform(recipe, &c, NULL), H5PREP_ERR_INTERRUPTED, "%s", h5prep_last_error());
    cr_assert(!tu_exists(out));
    cr_assert(!tu_any_temporary(tu_dir()));
}

/* Outputs waiting on disk between the passes (--stage-mem 0) are the same as in memory. */
Test(transform, staging_on_disk_gives_the_same_outputs)
{
    const char *recipe = tu_path("n.yaml"), *mem = tu_path("mem"), *disk = tu_path("disk");
    tu_write_text(recipe, norm_recipe(make_input(), 5, "none"));
    cr_assert_eq(run_cli(H5PREP_CLI, recipe, mem, "cpu"), 0, "%s", tu_stderr());
    const char *args[] = {"transform", recipe, "--out", disk, "--backend", "cpu", "--stage-mem", "0", NULL};
    cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
    cr_assert(strstr(tu_stdout(), "staged on disk"), "%s", tu_stdout());
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s/train.h5", mem);
    snprintf(b, sizeof b, "%s/train.h5", disk);
    size_t na, nb;
    double *x = tu_read_all(a, "za", &na), *y = tu_read_all(b, "za", &nb);
    cr_assert(na == nb && memcmp(x, y, na * sizeof *x) == 0, "staging changed the outputs");
    free(x), free(y);
}

/* The shipped radar recipe on the real sweep: (1, 3, 360, 492), fill values as NaN, z-scored per
 * moment; compared with the file read through HDF5 here. */
Test(transform, radar_recipe_on_the_real_sweep)
{
    const char *out = tu_path("radar");
    const char *args[] = {"transform", H5PREP_SOURCE_DIR "/data/recipes/radar.yaml", "-i",
                          H5PREP_SOURCE_DIR "/data/MLL2217907250U.003.nc", "--out", out, "--quiet", NULL};
    int rc = tu_cli(args);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, tu_stderr());
    /* one sweep: val and test are empty, and a warning says so */
    cr_assert(strstr(tu_stderr(), "h5prep: warning: ") && strstr(tu_stderr(), "split 'val' gets no rows"), "%s", tu_stderr());
    char file[4096];
    snprintf(file, sizeof file, "%s/train.h5", out);
    size_t cnt, nraw;
    double *x = tu_read_all(file, "x", &cnt);
    cr_assert_eq(cnt, (size_t)3 * 360 * 492);
    const char *moments[] = {"reflectivity", "velocity", "differential_reflectivity"};
    for (int m = 0; m < 3; m++) {
        double *raw = tu_read_all(H5PREP_SOURCE_DIR "/data/MLL2217907250U.003.nc", moments[m], &nraw);
        long double s = 0, s2 = 0;
        long c = 0;
        for (size_t i = 0; i < nraw; i++)
            if (raw[i] != -9999)
                s += raw[i], c++;
        double mean = (double)(s / c);
        for (size_t i = 0; i < nraw; i++)
            if (raw[i] != -9999)
                s2 += (raw[i] - mean) * (raw[i] - mean);
        double sd = sqrt((double)(s2 / c));
        for (size_t i = 0; i < nraw; i++) {
            double got = x[(size_t)m * nraw + i];
            if (raw[i] == -9999)
                cr_assert(isnan(got), "%s[%zu]: a fill value must become NaN", moments[m], i);
            else
                tu_close(got, (raw[i] - mean) / sd, 1e-6, 1e-6, moments[m], (uint64_t)i);
        }
        free(raw);
    }
    free(x);
}

/* The 3dcorrection recipe on generated input, checked by an independent numpy rebuild of the
 * notebook's arrays (tests/check_transform.py), on the CPU and on CUDA through the harness (fewer
 * rows there: the harness starts an OS thread per CUDA thread). */
static void run_3dcorrection(const char *binary, const char *backend, int rows, const char *mem)
{
    const char *in = tu_path("3dc.h5"), *out = tu_path("3dc");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s/scripts/gen_3dcorrection.py --rows %d --seed 3 --chunk-rows 100 --gzip 1 -o %s >/dev/null", H5PREP_PYTHON,
             H5PREP_SOURCE_DIR, rows, in);
    cr_assert_eq(system(cmd), 0, "the generator failed: %s", cmd);
    const char *args[] = {"transform", H5PREP_SOURCE_DIR "/data/recipes/3dcorrection.yaml", "-i", in, "--out", out, "--quiet",
                          "--backend", backend, "--mem", mem, NULL};
    int rc = tu_cli_with(binary, args);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, tu_stderr());
    snprintf(cmd, sizeof cmd, "%s %s/tests/check_transform.py --input %s --out %s", H5PREP_PYTHON, H5PREP_SOURCE_DIR, in, out);
    cr_assert_eq(system(cmd), 0, "check_transform.py found a mismatch (its message is above)");
}

/* --mem 5M: slabs of a few rows, so that slabs, lanes and pass-2 blocks end everywhere (and a
 * slot still holds one of the input's 1.4 MiB compressed chunks) */
Test(transform, recipe_3dcorrection_cpu) { run_3dcorrection(H5PREP_CLI, "cpu", 1500, "5M"); }
Test(transform, recipe_3dcorrection_cuda_simt) { run_3dcorrection(H5PREP_CLI_SIMT, "cuda", 250, "512M"); }

/* The shipped point-cloud recipe: columns 0..2 and 3..4 of (N, 5) as inputs and targets, z-scored,
 * blocks of 4096 points kept in one split. Un-normalizing with stats.json gives the points back. */
Test(transform, pointcloud_recipe)
{
    enum { P = 10000 };
    static float pts[P * 5];
    uint64_t seed = 9, dims[] = {P, 5};
    for (int i = 0; i < P * 5; i++)
        pts[i] = (float)(tu_normal(&seed) * (1 + i % 5) + 100 * (i % 5));
    const char *in = tu_path("points.h5"), *out = tu_path("pc");
    tu_write(in, "points", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, pts, 0);
    const char *args[] = {"transform", H5PREP_SOURCE_DIR "/data/recipes/pointcloud.yaml", "-i", in, "--out", out, "--quiet", NULL};
    int rc = tu_cli(args);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, tu_stderr());
    char path[4096];
    snprintf(path, sizeof path, "%s/split.json", out);
    json_error_t err;
    json_t *split = json_load_file(path, 0, &err), *stats;
    snprintf(path, sizeof path, "%s/stats.json", out);
    stats = json_load_file(path, 0, &err);
    cr_assert(split && stats, "%s", err.text);
    static int which[P];
    const char *names[] = {"train", "val", "test"};
    for (int k = 0; k < 3; k++) {
        json_t *ind = json_object_get(json_object_get(json_object_get(split, "splits"), names[k]), "indices");
        snprintf(path, sizeof path, "%s/%s.h5", out, names[k]);
        size_t ni, nt;
        double *a = tu_read_all(path, "inputs", &ni), *b = tu_read_all(path, "targets", &nt);
        cr_assert(ni == 3 * json_array_size(ind) && nt == 2 * json_array_size(ind));
        for (size_t r = 0; r < json_array_size(ind); r++) {
            int s = (int)json_integer_value(json_array_get(ind, r));
            which[s] = k;
            for (int c = 0; c < 5; c++) {
                json_t *v = json_object_get(json_object_get(stats, "variables"), c < 3 ? "/inputs" : "/targets");
                int f = c < 3 ? c : c - 3;
                double mean = json_real_value(json_array_get(json_object_get(v, "mean"), (size_t)f));
                double sd = json_real_value(json_array_get(json_object_get(v, "std"), (size_t)f));
                double got = (c < 3 ? a[r * 3 + (size_t)f] : b[r * 2 + (size_t)f]) * sd + mean;
                tu_close(got, pts[s * 5 + c], 1e-4, 1e-6, "un-normalized point", (uint64_t)c);
            }
        }
        free(a), free(b);
    }
    for (int s = 0; s < P; s++)
        cr_assert_eq(which[s], which[s / 4096 * 4096], "point %d left its block of 4096", s);
    json_decref(split);
    json_decref(stats);
}

/* A widening recipe (a scalar per sample broadcast to 100 x 100) sizes its slots by its output,
 * and an op that would overflow a sample's element count is a shape error, not a crash. */
Test(transform, wide_outputs_and_huge_shapes)
{
    char in[1024], t[4096];
    snprintf(in, sizeof in, "%s", make_input());
    const char *recipe = tu_path("w.yaml"), *out = tu_path("w");
    snprintf(t, sizeof t,
             "inputs: {files: %s, variables: [c]}\noutputs:\n  w: {from: {broadcast: {of: {broadcast: {of: c, axis: 1, size: 100}}, axis: 1, size: 100}}}\n"
             "write: {hdf5: true}\n", in);
    tu_write_text(recipe, t);
    const char *args[] = {"transform", recipe, "--out", out, "--quiet", "--mem", "1M", NULL};
    cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
    double *x = read_split_all(out, "w", (size_t)N * 10000);
    free(x);
    snprintf(t, sizeof t,
             "inputs: {files: %s, variables: [c]}\noutputs:\n  w: {from: {broadcast: {of: c, axis: 1, size: 9223372036854775809}}}\n"
             "write: {hdf5: true}\n", in);
    expect_failure(t, 9, "more than 4294967295 elements");
}

/* normalize: {stats: FILE} takes the factors of another run's stats.json; a file without the
 * output's variable, or with another feature count, is an error (exit 15). */
Test(transform, factors_from_a_statistics_file)
{
    char in[1024], t[8192], first_stats[1024];
    snprintf(in, sizeof in, "%s", make_input());
    const char *recipe = tu_path("n.yaml"), *first = tu_path("first"), *second = tu_path("second");
    tu_write_text(recipe, norm_recipe(in, 7, "none"));
    cr_assert_eq(run_cli(H5PREP_CLI, recipe, first, "cpu"), 0, "%s", tu_stderr());
    snprintf(first_stats, sizeof first_stats, "%s/stats.json", first);
    snprintf(t, sizeof t,
             "inputs: {files: %s, variables: [a]}\noutputs:\n  za: {from: a, normalize: {method: zscore, stats: %s}, cast: float64}\n"
             "split: {fractions: {all: 1.0}, shuffle: false}\nwrite: {hdf5: true}\n", in, first_stats);
    tu_write_text(recipe, t);
    cr_assert_eq(run_cli(H5PREP_CLI, recipe, second, "cpu"), 0, "%s", tu_stderr());
    json_error_t err;
    json_t *doc = json_load_file(first_stats, 0, &err);
    cr_assert_not_null(doc, "%s", err.text);
    json_t *v = json_object_get(json_object_get(doc, "variables"), "/za");
    char file[4096];
    snprintf(file, sizeof file, "%s/all.h5", second);
    size_t cnt;
    double *x = tu_read_all(file, "za", &cnt);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 4; k++) {
                double mean = json_real_value(json_array_get(json_object_get(v, "mean"), (size_t)k));
                double sd = json_real_value(json_array_get(json_object_get(v, "std"), (size_t)k));
                tu_close(x[(n * 3 + i) * 4 + k], (A(n, i, k) - mean) / sd, 1e-12, 1e-12, "za with the file's factors", (uint64_t)k);
            }
    free(x);
    json_decref(doc);
    snprintf(t, sizeof t,
             "inputs: {files: %s, variables: [a]}\noutputs:\n  zz: {from: a, normalize: {method: zscore, stats: %s}}\n"
             "write: {hdf5: true}\n", in, first_stats);
    expect_failure(t, 15, "has no variable '/zz'");
    snprintf(t, sizeof t,
             "inputs: {files: %s, variables: [a]}\noutputs:\n  za: {from: a, normalize: {method: zscore, stats: %s, keep_axes: [1]}}\n"
             "write: {hdf5: true}\n", in, first_stats);
    expect_failure(t, 15, "4 features, but output 'za' normalizes 3");
}

/* A recipe without `split:` keeps the rows in input order (one split, "all"), so that outputs still
 * line up with the inputs' times and coordinates. */
Test(transform, no_split_keeps_input_order)
{
    const char *recipe = tu_path("nosplit.yaml"), *out = tu_path("nosplit");
    char text[1024];
    snprintf(text, sizeof text,
             "inputs:\n  - files: %s\n    variables: [a]\n"
             "outputs:\n  x: {from: {flatten: a}, cast: float64}\n"
             "write: {hdf5: {chunk_rows: 4}}\n",
             make_input());
    tu_write_text(recipe, text);
    cr_assert_eq(run_cli(H5PREP_CLI, recipe, out, "cpu"), 0, "%s", tu_stderr());
    double *x = read_split_all(out, "x", (size_t)N * 12);
    for (int n = 0; n < N; n++)
        for (int j = 0; j < 12; j++)
            same(x[n * 12 + j], A(n, j / 4, j % 4), "x", (size_t)(n * 12 + j));
    free(x);
}

/* The plan's index maps count against --mem: a broadcast to a huge sample is refused before any
 * data is read, with the --mem to give. */
Test(transform, index_maps_within_mem)
{
    const char *recipe = tu_path("wide.yaml"), *out = tu_path("wide");
    char text[1024];
    snprintf(text, sizeof text,
             "inputs:\n  - files: %s\n    variables: [a]\n"
             "outputs:\n  x: {from: {broadcast: {of: a, axis: 1, size: 100000}}}\n"
             "write: {hdf5: true}\n",
             make_input());
    tu_write_text(recipe, text);
    const char *args[] = {"transform", recipe, "--out", out, "--quiet", "--mem", "4M", NULL};
    cr_assert_eq(tu_cli(args), 13, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "the index maps of the outputs take") && strstr(tu_stderr(), "raise --mem to at least"),
              "%s", tu_stderr());
    cr_assert(!tu_exists(out));
}

/* One pass (factors known before reading) writes the same bytes as --two-passes: shuffled splits
 * into several .npy shards and uncompressed HDF5 chunks, float16/bfloat16/float32 casts, with no
 * normalization and with the factors of a statistics file; unshuffled rows into gzip HDF5. */
static void one_pass_run(const char *binary, const char *backend, const char *recipe, const char *out, int two, const char *want)
{
    const char *args[] = {"transform", recipe, "--out", out, "--backend", backend, "--verbose", "--quiet",
                          two ? "--two-passes" : NULL, NULL};
    int rc = tu_cli_with(binary, args);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, tu_stderr());
    cr_assert(strstr(tu_stderr(), want), "expected '%s' in: %s", want, tu_stderr());
}

/* tu_path("one.yaml"): three outputs of a generated input, normalized by norm, cast. */
static const char *one_pass_recipe(const char *norm, const char *split, const char *write)
{
    const char *in = tu_path("g.h5"), *recipe = tu_path("one.yaml");
    char cmd[8192], text[4096];
    snprintf(cmd, sizeof cmd, "%s %s/scripts/gen_3dcorrection.py --rows 120 --seed 5 -o %s >/dev/null", H5PREP_PYTHON, H5PREP_SOURCE_DIR, in);
    cr_assert_eq(system(cmd), 0, "the generator failed: %s", cmd);
    snprintf(text, sizeof text,
             "inputs: {files: %s, variables: [sca_inputs, hl_inputs, inter_inputs, flux_dn_sw, flux_up_sw]}\n"
             "outputs:\n"
             "  x: {from: {concat: {axis: -1, of: [hl_inputs, {pad: {of: inter_inputs, axis: 1, before: 1, after: 1}}]}}, normalize: %s, cast: float16}\n"
             "  y: {from: {stack: {axis: -1, of: [flux_dn_sw, flux_up_sw]}}, normalize: %s, cast: bfloat16}\n"
             "  s: {from: sca_inputs, normalize: %s}\n"
             "split: %s\nwrite: {dir: unused, %s}\n",
             in, norm, norm, norm, split, write);
    tu_write_text(recipe, text);
    return recipe;
}

static void same_in_one_pass(const char *binary, const char *backend, const char *norm, const char *split, const char *write)
{
    const char *recipe = one_pass_recipe(norm, split, write), *one = tu_path("one"), *two = tu_path("two");
    char cmd[8192];
    one_pass_run(binary, backend, recipe, one, 0, "one pass");
    one_pass_run(binary, backend, recipe, two, 1, "two passes, rows staged in memory: --two-passes was given");
    snprintf(cmd, sizeof cmd, "%s %s/tests/check_same_outputs.py %s %s", H5PREP_PYTHON, H5PREP_SOURCE_DIR, one, two);
    cr_assert_eq(system(cmd), 0, "one pass and two passes wrote different outputs (the message is above)");
}

#define SHUFFLED "{fractions: {train: 0.6, val: 0.25, test: 0.15}, seed: 7, shuffle: true}"
#define BOTH "hdf5: {chunk_rows: 16}, npy: {shard_rows: 20}"

/* The factors of a statistics file: a two-pass run's own stats.json (z-scores of every row). */
static const char *stats_norm(const char *binary, const char *backend)
{
    static char norm[4200];
    const char *given = tu_path("z/stats.json");
    one_pass_run(binary, backend, one_pass_recipe("zscore", SHUFFLED, BOTH), tu_path("z"), 0,
                 "two passes, rows staged in memory: output 'x' is normalized with this run's statistics");
    snprintf(norm, sizeof norm, "{method: zscore, stats: %s}", given);
    return norm;
}

Test(transform, one_pass_none_shuffled_cpu) { same_in_one_pass(H5PREP_CLI, "cpu", "none", SHUFFLED, BOTH); }
Test(transform, one_pass_none_shuffled_simt) { same_in_one_pass(H5PREP_CLI_SIMT, "cuda", "none", SHUFFLED, BOTH); }
Test(transform, one_pass_stats_file_cpu) { same_in_one_pass(H5PREP_CLI, "cpu", stats_norm(H5PREP_CLI, "cpu"), SHUFFLED, BOTH); }
Test(transform, one_pass_stats_file_simt)
{
    same_in_one_pass(H5PREP_CLI_SIMT, "cuda", stats_norm(H5PREP_CLI_SIMT, "cuda"), SHUFFLED, BOTH);
}
Test(transform, one_pass_gzip_in_order_cpu)
{
    same_in_one_pass(H5PREP_CLI, "cpu", "none", "{fractions: {train: 0.7, val: 0.3}, seed: 2, shuffle: false}", "hdf5: {chunk_rows: 16, gzip: 1}, npy: true");
}

/* Shuffled rows into gzip-compressed HDF5 chunks keep two passes, and say so. */
Test(transform, gzip_shuffled_keeps_two_passes)
{
    const char *in = tu_path("g.h5"), *recipe = tu_path("gz.yaml");
    char cmd[8192], text[2048];
    snprintf(cmd, sizeof cmd, "%s %s/scripts/gen_3dcorrection.py --rows 40 --seed 5 -o %s >/dev/null", H5PREP_PYTHON, H5PREP_SOURCE_DIR, in);
    cr_assert_eq(system(cmd), 0, "the generator failed: %s", cmd);
    snprintf(text, sizeof text, "inputs: {files: %s, variables: [sca_inputs]}\noutputs:\n  s: {from: sca_inputs}\nsplit: %s\nwrite: {dir: unused, hdf5: {gzip: 1}}\n",
             in, SHUFFLED);
    tu_write_text(recipe, text);
    const char *args[] = {"transform", recipe, "--out", tu_path("gz"), "--dry-run", NULL};
    cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
    cr_assert(strstr(tu_stdout(), "  passes: 2 (shuffled rows into gzip-compressed HDF5 chunks: "), "%s", tu_stdout());
    one_pass_run(H5PREP_CLI, "cpu", recipe, tu_path("gz"), 0, "two passes, rows staged in memory: shuffled rows into gzip-compressed HDF5 chunks");
}

/* Shuffled rows into more .npy shards than one pass keeps open keep two passes, and say so. */
Test(transform, many_shuffled_shards_keep_two_passes)
{
    const char *recipe = one_pass_recipe("none", SHUFFLED, "npy: {shard_rows: 1}");
    const char *args[] = {"transform", recipe, "--out", tu_path("many"), "--dry-run", NULL};
    cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
    cr_assert(strstr(tu_stdout(), "  passes: 2 (shuffled rows into about 360 .npy shards (one pass keeps at most 256 open)"), "%s",
              tu_stdout());
    one_pass_run(H5PREP_CLI, "cpu", recipe, tu_path("many"), 0, "two passes, rows staged in memory: shuffled rows into about 360 .npy shards");
}

/* The ring's host buffers (each slot's input, gathered rows, row order and, with one pass, rows
 * as written) stay within --mem, which the dry run prints; pass 2 reuses them. */
static void ring_within_mem(const char *norm, const char *mem, double mem_bytes, const char *passes)
{
    const char *recipe = one_pass_recipe(norm, SHUFFLED, BOTH);
    const char *args[] = {"transform", recipe, "--dry-run", "--mem", mem, NULL};
    cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
    cr_assert(strstr(tu_stdout(), passes), "expected '%s' in: %s", passes, tu_stdout());
    const char *ring = strstr(tu_stdout(), "  ring: ");
    int slots;
    unsigned long rows;
    double held;
    char unit[4];
    cr_assert(ring && sscanf(ring, "  ring: %d slots of %lu samples, %lf %3s of host memory", &slots, &rows, &held, unit) == 4,
              "%s", tu_stdout());
    held *= strcmp(unit, "GB") == 0 ? 1e9 : strcmp(unit, "MB") == 0 ? 1e6 : strcmp(unit, "kB") == 0 ? 1e3 : 1;
    cr_assert(held <= mem_bytes * 1.005, "--mem %s, %s: the ring holds %.0f bytes", mem, norm, held); /* 3 digits printed */
    cr_assert(rows >= 1 && slots == 3);
}

Test(transform, ring_buffers_within_mem)
{
    static const char *const mems[] = {"512K", "1M", "3M", "16M"};
    for (int k = 0; k < 4; k++) {
        double bytes = (k == 0 ? 0.5 : k == 1 ? 1 : k == 2 ? 3 : 16) * 1048576.0;
        ring_within_mem("none", mems[k], bytes, "passes: 1");
        ring_within_mem("zscore", mems[k], bytes, "passes: 2");
    }
}
