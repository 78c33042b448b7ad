/* test_describe.c: outputs that describe themselves: index.json and the HDF5 datasets say what each
 * output is (expression, normalization, factors, cast), where it came from, and xarray (h5netcdf)
 * opens the HDF5 files with named dimensions, units and long_name. */
#include "output/sink.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define NC4 H5PREP_SOURCE_DIR "/data/nc4uvt.nc"

/* Writes the recipe text to rp and runs `transform rp -o out --quiet`, which must succeed. */
static void transform_ok(const char *rp, const char *text, const char *out)
{
    tu_write_text(rp, text);
    const char *args[] = {"transform", rp, "-o", out, "--quiet", NULL};
    cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s is missing", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* nc4uvt.nc's T and U (1, 14, 64, 128), netCDF dimensions time, lev, lat, lon; units C and m/s.
 * t: T as read; w: T and U stacked and z-scored; p: T padded on lev (new length); f: flattened. */
static const char *recipe(const char *extra_norm)
{
    static char text[4096];
    snprintf(text, sizeof text,
             "inputs:\n  - files: %s\n    variables: {t: /T, u: /U}\n"
             "outputs:\n"
             "  t: {from: t, cast: float64}\n"
             "  w: {from: {stack: {axis: 1, of: [t, u]}}, normalize: %s}\n"
             "  p: {from: {pad: {of: t, axis: 1, before: 1, after: 0, mode: edge}}, cast: float16}\n"
             "  f: {from: {flatten: t}, normalize: {method: minmax, keep_axes: none}}\n"
             "write: {dir: unused, hdf5: true, npy: true}\n",
             NC4, extra_norm);
    return text;
}

static const char *str(json_t *j, const char *path)
{
    json_t *v = j;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *k = strtok(buf, "."); k && v; k = strtok(NULL, "."))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(k)) : json_object_get(v, k);
    cr_assert(json_is_string(v), "%s is not a string", path);
    return json_string_value(v);
}

Test(describe, index_records_each_output_its_factors_and_inputs)
{
    const char *rp = tu_path("r.yaml"), *out = tu_path("out");
    transform_ok(rp, recipe("{method: zscore, keep_axes: [1]}"), out);
    json_t *ix = tu_load_json(out, "index.json");
    cr_assert_str_eq(str(ix, "outputs.t.from"), "t");
    cr_assert_str_eq(str(ix, "outputs.t.normalize.method"), "none");
    cr_assert_str_eq(str(ix, "outputs.t.cast"), "float64");
    cr_assert_str_eq(str(ix, "outputs.t.units"), "C");
    cr_assert_str_eq(str(ix, "outputs.t.long_name"), "Temperature");
    cr_assert_str_eq(str(ix, "outputs.t.dims.1"), "lev");
    cr_assert_str_eq(str(ix, "outputs.w.normalize.method"), "zscore");
    cr_assert_str_eq(str(ix, "outputs.w.normalize.factors.stats"), "stats.json");
    cr_assert_str_eq(str(ix, "outputs.w.normalize.factors.split"), "all");
    cr_assert_str_eq(str(ix, "outputs.w.from.stack.of.1"), "u");
    cr_assert_str_eq(str(ix, "outputs.w.dims.1"), "w_dim1");
    cr_assert_str_eq(str(ix, "outputs.w.dims.2"), "lev");
    cr_assert_null(json_object_get(json_object_get(json_object_get(ix, "outputs"), "w"), "units"),
                   "two variables, normalized: no units");
    cr_assert_str_eq(str(ix, "outputs.p.dims.1"), "p_dim1", "padded: lev has another length");
    cr_assert_str_eq(str(ix, "outputs.p.dims.2"), "lat");
    cr_assert_str_eq(str(ix, "outputs.p.from.pad.mode"), "edge");
    cr_assert_str_eq(str(ix, "outputs.p.cast"), "float16");
    cr_assert_str_eq(str(ix, "outputs.f.normalize.method"), "minmax");
    cr_assert_str_eq(str(ix, "outputs.f.long_name"), "Temperature", "one variable: its long_name");
    cr_assert_null(json_object_get(json_object_get(json_object_get(ix, "outputs"), "f"), "units"), "normalized: no units");
    /* provenance: the input file with its size and mtime */
    struct stat sb;
    cr_assert_eq(stat(NC4, &sb), 0);
    char mtime[32];
    struct tm tm;
    time_t t = sb.st_mtime;
    gmtime_r(&t, &tm);
    strftime(mtime, sizeof mtime, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cr_assert_str_eq(str(ix, "provenance.inputs.0.path"), NC4);
    cr_assert_str_eq(str(ix, "provenance.inputs.0.mtime"), mtime);
    json_t *in0 = json_array_get(json_object_get(json_object_get(ix, "provenance"), "inputs"), 0);
    cr_assert_eq(json_integer_value(json_object_get(in0, "size")), sb.st_size);
    /* the recipe is copied */
    cr_assert_str_eq(str(ix, "recipe_copy"), "recipe.yaml");
    char copy[1024];
    snprintf(copy, sizeof copy, "%s/recipe.yaml", out);
    cr_assert_str_eq(read_text(copy), recipe("{method: zscore, keep_axes: [1]}"));
    json_decref(ix);
}

/* normalize: {stats: FILE}: the factors' file is named instead of this run's stats.json. */
Test(describe, factors_from_a_file_are_named)
{
    const char *rp = tu_path("r.yaml"), *out = tu_path("out"), *rp2 = tu_path("r2.yaml"), *out2 = tu_path("out2");
    transform_ok(rp, recipe("{method: zscore, keep_axes: [1]}"), out);
    char norm[1200], stats[1100];
    snprintf(stats, sizeof stats, "%s/stats.json", out);
    snprintf(norm, sizeof norm, "{method: zscore, keep_axes: [1], stats: %s}", stats);
    transform_ok(rp2, recipe(norm), out2);
    json_t *ix = tu_load_json(out2, "index.json");
    cr_assert_str_eq(str(ix, "outputs.w.normalize.factors.file"), stats);
    json_t *factors = json_object_get(json_object_get(json_object_get(json_object_get(ix, "outputs"), "w"), "normalize"), "factors");
    cr_assert_null(json_object_get(factors, "stats"), "not this run's statistics");
    json_decref(ix);
}

/* xarray with the h5netcdf engine: named dimensions, units/long_name, the h5prep attributes, and
 * the values h5py reads; an empty split too. */
Test(describe, xarray_h5netcdf_sees_named_dimensions)
{
    const char *rp = tu_path("r.yaml"), *out = tu_path("out");
    transform_ok(rp, recipe("{method: zscore, keep_axes: [1]}"), out);
    tu_python_ok("import sys, xarray as xr, h5py, json, numpy as np\n"
              "p = sys.argv[1] + '/all.h5'\n"
              "ds = xr.open_dataset(p, engine='h5netcdf')\n"
              "assert ds['t'].dims == ('sample', 'lev', 'lat', 'lon'), ds['t'].dims\n"
              "assert ds['w'].dims == ('sample', 'w_dim1', 'lev', 'lat', 'lon'), ds['w'].dims\n"
              "assert ds['p'].dims == ('sample', 'p_dim1', 'lat', 'lon'), ds['p'].dims\n"
              "assert ds['f'].dims == ('sample', 'f_dim1'), ds['f'].dims\n"
              "assert ds['t'].attrs['units'] == 'C' and ds['t'].attrs['long_name'] == 'Temperature', ds['t'].attrs\n"
              "assert 'units' not in ds['w'].attrs\n"
              "assert json.loads(ds['w'].attrs['h5prep_normalize'])['factors'] == {'stats': 'stats.json', 'split': 'all'}\n"
              "assert json.loads(ds['w'].attrs['h5prep_from']) == {'stack': {'axis': 1, 'of': ['t', 'u']}}\n"
              "assert ds['p'].attrs['h5prep_cast'] == 'float16'\n"
              "f = h5py.File(p)\n"
              "for k in 'twpf':\n"
              "    np.testing.assert_array_equal(ds[k].values, f[k][...])\n"
              "print('xarray ok')\n",
              out);
}

/* An output sliced on an axis gets its own name for it; two outputs that name one axis with
 * different lengths (inputs of different files) do not share a dimension. */
Test(describe, one_axis_name_two_lengths)
{
    const char *rp = tu_path("r.yaml"), *out = tu_path("out");
    char text[2048];
    snprintf(text, sizeof text,
             "inputs:\n  - files: %s\n    variables: {t: /T}\n"
             "outputs:\n"
             "  t: {from: t}\n"
             "  s: {from: {slice: {of: t, axis: 3, start: 0, stop: 64}}}\n"
             "write: {dir: unused, hdf5: true}\n",
             NC4);
    transform_ok(rp, text, out);
    json_t *ix = tu_load_json(out, "index.json");
    cr_assert_str_eq(str(ix, "outputs.s.dims.2"), "lat");
    cr_assert_str_eq(str(ix, "outputs.s.dims.3"), "s_dim3", "sliced: lon has another length");
    json_decref(ix);

    /* the sink: "lev" of 14 for a, of 5 for b */
    const char *dir = tu_path("sink");
    cr_assert_eq(mkdir(dir, 0777), 0);
    h5p_write_spec w = {0};
    w.hdf5 = 1;
    char *names[] = {"all"};
    uint64_t rows[] = {2}, sa[] = {14}, sb[] = {5};
    h5p_sink *s;
    cr_assert_eq(h5p_sink_open(&s, dir, &w, 1, names, rows), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5p_sink_add_output(s, "a", 1, sa, H5P_OUT_F32), H5PREP_OK);
    cr_assert_eq(h5p_sink_add_output(s, "b", 1, sb, H5P_OUT_F32), H5PREP_OK);
    h5p_output_labels lab = {0};
    snprintf(lab.dims[0], sizeof lab.dims[0], "sample");
    snprintf(lab.dims[1], sizeof lab.dims[1], "lev");
    json_t *meta = json_pack("{s:s}", "cast", "float32");
    cr_assert_eq(h5p_sink_describe(s, 0, meta, &lab), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5p_sink_describe(s, 1, meta, &lab), H5PREP_OK, "%s", h5prep_last_error());
    json_decref(meta);
    float za[28] = {0}, zb[10] = {0};
    cr_assert_eq(h5p_sink_write(s, 0, 0, 2, za), H5PREP_OK);
    cr_assert_eq(h5p_sink_write(s, 1, 0, 2, zb), H5PREP_OK);
    cr_assert_eq(h5p_sink_close(s, NULL), H5PREP_OK, "%s", h5prep_last_error());
    h5p_sink_free(s);
    char h5[1024];
    snprintf(h5, sizeof h5, "%s/all.h5", dir);
    tu_python_ok("import sys, xarray as xr\n"
              "ds = xr.open_dataset(sys.argv[1], engine='h5netcdf')\n"
              "assert ds['a'].dims == ('sample', 'lev') and ds['b'].dims == ('sample', 'b_lev'), (ds['a'].dims, ds['b'].dims)\n"
              "assert ds.sizes['lev'] == 14 and ds.sizes['b_lev'] == 5\n",
              h5);
}

/* `h5prep info DIR`: the splits, rows, outputs and sizes of a transform's output, as a table and
 * as JSON; a folder that is not one is refused. */
Test(describe, info_summarises_an_output_directory)
{
    const char *rp = tu_path("r.yaml"), *out = tu_path("out");
    transform_ok(rp, recipe("{method: zscore, keep_axes: [1]}"), out);
    const char *a1[] = {"info", out, NULL};
    cr_assert_eq(tu_cli(a1), 0, "%s", tu_stderr());
    cr_assert(strstr(tu_stdout(), "h5prep transform output, 1 samples"), "%s", tu_stdout());
    cr_assert(strstr(tu_stdout(), "  all                     1 "), "%s", tu_stdout());
    cr_assert(strstr(tu_stdout(), "  w            (2, 14, 64, 128)     float32   zscore per axes [1], factors of stats.json (all); dims sample, w_dim1, lev, lat, lon"),
              "%s", tu_stdout());
    cr_assert(strstr(tu_stdout(), "  p            (15, 64, 128)        float16   none"), "%s", tu_stdout());
    const char *a2[] = {"info", "--json", out, NULL};
    cr_assert_eq(tu_cli(a2), 0, "%s", tu_stderr());
    json_error_t e;
    json_t *doc = json_loads(tu_stdout(), 0, &e);
    cr_assert_not_null(doc, "%s: %s", e.text, tu_stdout());
    cr_assert_str_eq(str(doc, "format"), "h5prep-info/1");
    json_t *all = json_object_get(json_object_get(doc, "splits"), "all");
    cr_assert_eq(json_integer_value(json_object_get(all, "rows")), 1);
    char h5[1024], npy[1024];
    struct stat sb;
    snprintf(h5, sizeof h5, "%s/all.h5", out);
    cr_assert_eq(stat(h5, &sb), 0);
    cr_assert_eq(json_integer_value(json_object_get(all, "hdf5_bytes")), sb.st_size);
    snprintf(npy, sizeof npy, "%s/all/t-00000.npy", out);
    cr_assert_eq(stat(npy, &sb), 0);
    json_t *t = json_object_get(json_object_get(doc, "outputs"), "t");
    cr_assert_eq(json_integer_value(json_object_get(t, "bytes")), sb.st_size);
    cr_assert_str_eq(str(t, "dtype"), "float64");
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(t, "shape"), 0)), 14);
    cr_assert_str_eq(str(doc, "outputs.f.normalize.method"), "minmax");
    json_decref(doc);
    /* not an output directory; --json of a file */
    const char *a3[] = {"info", tu_dir(), NULL};
    cr_assert_eq(tu_cli(a3), 3);
    cr_assert(strstr(tu_stderr(), "no index.json: not the output directory of 'h5prep transform'"), "%s", tu_stderr());
    /* --json of a file and a DIR together: one document, the file under "files", the DIR's summary
     * under "dirs" (tests/test_info.c checks the files' part) */
    const char *a4[] = {"info", "--json", NC4 ":/T", out, NULL};
    cr_assert_eq(tu_cli(a4), 0, "%s", tu_stderr());
    doc = json_loads(tu_stdout(), 0, &e);
    cr_assert_not_null(doc, "%s: %s", e.text, tu_stdout());
    cr_assert_str_eq(str(doc, "format"), "h5prep-info/1");
    cr_assert_str_eq(str(doc, "files.0.file"), NC4);
    cr_assert_str_eq(str(doc, "files.0.datasets.0.path"), "/T");
    cr_assert_str_eq(str(doc, "dirs.0.dir"), out);
    cr_assert_str_eq(str(doc, "dirs.0.outputs.t.dtype"), "float64");
    json_decref(doc);
}

/* --dry-run: the plan on stdout, exit 0, and no output directory (nor its temporary) created. */
Test(describe, dry_run_prints_the_plan_and_creates_nothing)
{
    const char *rp = tu_path("r.yaml"), *out = tu_path("sub/out");
    char text[2048];
    snprintf(text, sizeof text,
             "inputs:\n  - files: %s\n    variables: {t: /T, u: /U}\n"
             "outputs:\n"
             "  w: {from: {stack: {axis: 1, of: [t, u]}}, normalize: {method: zscore, keep_axes: [1]}, cast: float16}\n"
             "write: {dir: unused, hdf5: true, npy: true}\n",
             NC4);
    tu_write_text(rp, text);
    const char *args[] = {"transform", rp, "-o", out, "--dry-run", "--stage-mem", "1M", NULL};
    cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
    const char *o = tu_stdout();
    cr_assert(strstr(o, ": 1 samples from 2 variable(s) in 1 file(s), cpu backend"), "%s", o);
    cr_assert(strstr(o, "  t                /T                       (1, 14, 64, 128)             float32"), "%s", o);
    cr_assert(strstr(o, "  w                (1, 2, 14, 64, 128)          float16   zscore, 2 feature(s), factors of all (this run's split)"),
              "%s", o);
    cr_assert(strstr(o, "  split all 1\n"), "%s", o);
    /* 2 variables of 14*64*128 float32 read; 2*14*64*128 float16 written twice; staged as float32 */
    cr_assert(strstr(o, "  read:  917.50 kB of input values, once"), "%s", o);
    cr_assert(strstr(o, "  write: 917.50 kB (HDF5 and .npy)"), "%s", o);
    cr_assert(strstr(o, "  passes: 2 (output 'w' is normalized with this run's statistics: rows are staged"), "%s", o);
    cr_assert(strstr(o, "  staging: 917.50 kB in memory (within 1.05 MB of --stage-mem)"), "%s", o);
    cr_assert(strstr(o, "(not created: dry run)"), "%s", o);
    cr_assert(!tu_exists(out) && !tu_exists(tu_path("sub")), "a dry run created the output");
    const char *args2[] = {"transform", rp, "-o", out, "-n", "--stage-mem", "512K", NULL};
    cr_assert_eq(tu_cli(args2), 0, "%s", tu_stderr());
    cr_assert(strstr(tu_stdout(), "  staging: 917.50 kB in a file in "), "%s", tu_stdout());
    cr_assert(!tu_exists(tu_path("sub")), "a dry run created the output");
}

/* write: {npy: {layout: dask}}: each output a folder that dask.array.from_npy_stack opens, with
 * the values of the HDF5 file (several shards, a bfloat16 output as its uint16 patterns, an
 * empty split). */
Test(describe, npy_dask_layout_opens_with_from_npy_stack)
{
    const char *rp = tu_path("r.yaml"), *out = tu_path("out"), *in = tu_path("in.h5");
    enum { ROWS = 37 };
    static float x[ROWS * 6];
    for (int i = 0; i < ROWS * 6; i++)
        x[i] = (float)i * 0.5f - 3;
    uint64_t dims[] = {ROWS, 2, 3};
    tu_write(in, "x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, dims, x, 0);
    char text[2048];
    snprintf(text, sizeof text,
             "inputs:\n  - files: %s\n    variables: [x]\n"
             "outputs:\n"
             "  a: {from: x, normalize: zscore}\n"
             "  b: {from: {flatten: x}, cast: bfloat16}\n"
             "split: {fractions: {train: 0.8, val: 0.2, test: 0.0}, seed: 3}\n"
             "write: {dir: unused, hdf5: true, npy: {layout: dask, shard_rows: 8}}\n",
             in);
    transform_ok(rp, text, out);
    json_t *ix = tu_load_json(out, "index.json");
    cr_assert_str_eq(str(ix, "splits.train.outputs.a.npy_stack"), "train/a");
    cr_assert_str_eq(str(ix, "splits.train.outputs.a.npy.1.path"), "train/a/1.npy");
    json_decref(ix);
    tu_python_ok("import sys, dask.array as da, h5py, json, numpy as np\n"
              "root = sys.argv[1]\n"
              "ix = json.load(open(root + '/index.json'))['splits']\n"
              "assert ix['test']['rows'] == 0 and ix['train']['rows'] > 8, ix\n"
              "for split in ('train', 'val', 'test'):\n"
              "    rows = ix[split]['rows']\n"
              "    f = h5py.File(root + '/' + split + '.h5')\n"
              "    for k, shape, dt in (('a', (2, 3), 'float32'), ('b', (6,), 'uint16')):\n"
              "        s = da.from_npy_stack(root + '/' + split + '/' + k)\n"
              "        assert s.shape == (rows,) + shape and s.dtype == dt, (split, k, s.shape, s.dtype)\n"
              "        assert rows == 0 or s.chunks[0][0] == min(8, rows), s.chunks\n"
              "        np.testing.assert_array_equal(s.compute(), f[k][...])\n"
              "print('dask ok')\n",
              out);
}
