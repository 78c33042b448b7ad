/* test_info.c: `h5prep info` on files: FILE:DATASET (a dataset, a group, names holding ':'), globs
 * (each file under its name, sorted; none matched), --json read back by h5py's view of the files,
 * and the errors of a missing dataset or file. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define NC4 H5PREP_SOURCE_DIR "/data/nc4uvt.nc"

/* Runs `h5prep info ARGS...`, which must exit 0; its stdout. */
static const char *info_ok(const char *const *args)
{
    cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
    return tu_stdout();
}

/* The lines of out that list a dataset, i.e. start with two spaces and a '/' (the order kept). */
static const char *listed(const char *out)
{
    static char buf[4096];
    size_t len = 0;
    buf[0] = 0;
    for (const char *p = out; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
        if (strncmp(p, "  /", 3) == 0) {
            size_t n = strcspn(p + 2, " ");
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%.*s", len ? " " : "", (int)n, p + 2);
        }
    }
    return buf;
}

/* A small file with dataset /x (3, 2) float64 and, in group /g, /g/y (4,) int32. */
static void small_file(const char *path)
{
    double x[6] = {1, 2, 3, 4, 5, 6};
    int32_t y[4] = {1, 2, 3, 4};
    uint64_t dx[2] = {3, 2}, dy[1] = {4};
    tu_write(path, "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dx, x, 0);
    tu_write(path, "/g/y", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dy, y, 2);
}

Test(info, file_dataset_lists_that_dataset_or_the_group)
{
    const char *a1[] = {"info", NC4 ":/T", NULL};
    const char *out = info_ok(a1);
    cr_assert(strncmp(out, NC4 "\n", strlen(NC4) + 1) == 0, "the file's name first: %s", out);
    cr_assert_str_eq(listed(out), "/T");
    cr_assert(strstr(out, "(1, 14, 64, 128)  chunks (1, 7, 32, 64)  shuffle, deflate(2)  _FillValue=-999  dims (time, lev, lat, lon)"),
              "%s", out);
    const char *a2[] = {"info", NC4 ":grp1", NULL}; /* relative: the split at the last ':' */
    cr_assert_str_eq(listed(info_ok(a2)), "/grp1/T /grp1/U /grp1/V /grp1/lat /grp1/lev /grp1/lon /grp1/time");
    const char *a3[] = {"info", NC4 ":/grp1/lat", NULL};
    cr_assert(strstr(info_ok(a3), "(64,)  chunks (1,)  shuffle, deflate(0)  dims (lat)"), "%s", tu_stdout());
    const char *a4[] = {"info", NC4 ":/", NULL}; /* the root: everything */
    cr_assert_str_eq(listed(info_ok(a4)), "/T /U /V /grp1/T /grp1/U /grp1/V /grp1/lat /grp1/lev /grp1/lon /grp1/time "
                                          "/lat /lev /lon /time");
}

/* ':' in a file's name (a whole argument that exists is the file) and in a dataset's name (the
 * split at the first ":/"). */
Test(info, names_with_colons)
{
    const char *p = tu_path("a:b.h5");
    double v[2] = {1, 2};
    uint64_t d[1] = {2};
    tu_write(p, "/x:y", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, d, v, 0);
    tu_write(p, "/z", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, d, v, 0);
    const char *a1[] = {"info", p, NULL};
    cr_assert_str_eq(listed(info_ok(a1)), "/x:y /z");
    char arg[1024];
    snprintf(arg, sizeof arg, "%s:/x:y", p);
    const char *a2[] = {"info", arg, NULL};
    const char *out = info_ok(a2);
    cr_assert_str_eq(listed(out), "/x:y");
    cr_assert(strncmp(out, p, strlen(p)) == 0 && out[strlen(p)] == '\n', "listed under %s: %s", p, out);
}

Test(info, globs_list_each_file_under_its_name_sorted)
{
    const char *names[] = {"c.h5", "a.h5", "b.h5"};
    for (int i = 0; i < 3; i++)
        small_file(tu_path(names[i]));
    char glob[1024], want[4096];
    snprintf(glob, sizeof glob, "%s/*.h5", tu_dir());
    const char *globx = tu_input(glob, "/g");
    snprintf(want, sizeof want, "%s/a.h5\n  /g/y", tu_dir());
    const char *a1[] = {"info", glob, NULL};
    const char *out = info_ok(a1);
    const char *pa = strstr(out, "/a.h5\n"), *pb = strstr(out, "/b.h5\n"), *pc = strstr(out, "/c.h5\n");
    cr_assert(pa && pb && pc && pa < pb && pb < pc, "a, b, c in order: %s", out);
    cr_assert_str_eq(listed(out), "/g/y /x /g/y /x /g/y /x");
    const char *a2[] = {"info", globx, NULL};
    out = info_ok(a2);
    cr_assert(strncmp(out, want, strlen(want)) == 0, "%s", out);
    cr_assert_str_eq(listed(out), "/g/y /g/y /g/y");
    /* a glob that matches nothing is an error naming it, with or without a dataset */
    snprintf(glob, sizeof glob, "%s/*.nc", tu_dir());
    globx = tu_input(glob, "/x");
    const char *a3[] = {"info", glob, NULL}, *a4[] = {"info", "--json", globx, NULL};
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(tu_cli(k ? a4 : a3), H5PREP_ERR_FILE_NOT_FOUND, "%s", tu_stderr());
        cr_assert(strstr(tu_stderr(), glob) && strstr(tu_stderr(), "the pattern matched no files"), "%s", tu_stderr());
        cr_assert_str_eq(tu_stdout(), "");
    }
}

/* --json: one document for all arguments, checked against h5py's view of each file: the datasets
 * and their shape, dtype and byte order, chunks, filters, CF attributes (an exact int64 fill, a NaN
 * fill, packed big-endian integers) and netCDF-4 dimension names. */
Test(info, json_agrees_with_h5py)
{
    const char *p = tu_path("t.h5");
    small_file(p);
    int16_t q[6] = {0, 1, 2, 3, 4, -1};
    uint64_t dq[2] = {2, 3};
    tu_write(p, "/g/q", H5T_STD_I16BE, H5T_NATIVE_INT16, 2, dq, q, 1);
    double scale = 0.01, offset = 273.15, range[2] = {0, 30000}, fill = -1, nan = NAN;
    tu_attr(p, "/g/q", "scale_factor", H5T_IEEE_F32LE, &scale, 1);
    tu_attr(p, "/g/q", "add_offset", H5T_IEEE_F64LE, &offset, 1);
    tu_attr(p, "/g/q", "valid_range", H5T_STD_I16BE, range, 2);
    tu_attr(p, "/g/q", "_FillValue", H5T_STD_I16BE, &fill, 1);
    tu_attr(p, "/x", "_FillValue", H5T_IEEE_F64LE, &nan, 1);
    int64_t big = -9223372036854775806LL; /* NC_FILL_INT64: not a float64 */
    tu_attr_typed(p, "/g/y", "missing_value", H5T_STD_I64LE, H5T_NATIVE_INT64, &big, 1);
    const char *args[] = {"info", "--json", p, NC4, NULL};
    const char *out = info_ok(args);
    json_error_t e;
    json_t *doc = json_loads(out, 0, &e);
    cr_assert_not_null(doc, "not JSON: %s: %s", e.text, out);
    json_t *y = json_array_get(json_object_get(json_array_get(json_object_get(doc, "files"), 0), "datasets"), 1);
    cr_assert_str_eq(json_string_value(json_object_get(y, "path")), "/g/y");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(y, "cf"), "missing_value")), big, "exact: %s", out);
    json_decref(doc);
    const char *doc_path = tu_path("info.json");
    tu_write_text(doc_path, out);
    tu_python_ok("import sys, json, os, h5py, numpy as np\n"
                 "doc = json.load(open(sys.argv[1]))\n"
                 "assert doc['format'] == 'h5prep-info/1' and 'dirs' not in doc, doc.keys()\n"
                 "assert len(doc['files']) == 2, [f['file'] for f in doc['files']]\n"
                 "CF = ['_FillValue', 'missing_value', 'MissingValue', 'scale_factor', 'add_offset', 'valid_min', 'valid_max', 'valid_range']\n"
                 "for f in doc['files']:\n"
                 "    h = h5py.File(f['file'], 'r')\n"
                 "    names = []\n"
                 "    h.visititems(lambda n, o: names.append('/' + n) if isinstance(o, h5py.Dataset) else None)\n"
                 "    assert [d['path'] for d in f['datasets']] == sorted(names), f['datasets']\n"
                 "    for d in f['datasets']:\n"
                 "        o = h[d['path']]\n"
                 "        assert tuple(d['shape']) == o.shape, (d, o.shape)\n"
                 "        assert (tuple(d['chunks']) if d['chunks'] is not None else None) == o.chunks, (d, o.chunks)\n"
                 "        assert d['dtype'] == o.dtype.name, (d, o.dtype)\n"
                 "        assert d['byte_order'] == ('big' if o.dtype.byteorder == '>' else 'little'), (d, o.dtype.str)\n"
                 "        assert ('deflate(' in ' '.join(d['filters'])) == (o.compression == 'gzip'), d\n"
                 "        assert ('shuffle' in d['filters']) == o.shuffle, d\n"
                 "        assert sorted(d['cf']) == sorted(k for k in CF if k in o.attrs), (d['cf'], list(o.attrs))\n"
                 "        for k, v in d['cf'].items():\n"
                 "            got, want = np.atleast_1d(v), np.atleast_1d(o.attrs[k])\n"
                 "            if want.dtype.kind in 'iu':\n"
                 "                assert [int(x) for x in got] == [int(x) for x in want], (k, v, want)\n"
                 "            else:\n"
                 "                assert np.array_equal(got.astype('f8'), want.astype('f8'), equal_nan=True), (k, v, want)\n"
                 "        axes = [os.path.basename(o.dims[a][0].name) if len(o.dims[a]) else None for a in range(o.ndim)]\n"
                 "        if o.ndim == 1 and axes[0] is None and h5py.h5ds.is_scale(o.id):\n"
                 "            axes = [os.path.basename(o.name)]\n"
                 "        assert d.get('dims') == (axes if any(axes) else None), (d, axes)\n"
                 "q = doc['files'][0]['datasets'][0]\n"
                 "assert q['path'] == '/g/q' and q['byte_order'] == 'big' and q['dtype'] == 'int16', q\n"
                 "assert q['cf']['valid_range'] == [0, 30000] and q['cf']['_FillValue'] == -1, q\n"
                 "assert doc['files'][1]['datasets'][0]['dims'] == ['time', 'lev', 'lat', 'lon']\n",
                 doc_path);
    /* the table says the same */
    const char *a2[] = {"info", p, NULL};
    out = info_ok(a2);
    cr_assert(strstr(out, "  /g/q                                     int16 (big-endian)     (2, 3)  chunks (1, 3)  "
                          "_FillValue=-1 scale_factor=0.00999999978 add_offset=273.15 valid_range=0,30000\n"),
              "%s", out);
    cr_assert(strstr(out, "missing_value=-9223372036854775806\n") && strstr(out, "_FillValue=nan\n"), "%s", out);
}

Test(info, errors_name_the_dataset_and_the_file)
{
    const char *p = tu_path("t.h5");
    small_file(p);
    char arg[1024];
    snprintf(arg, sizeof arg, "%s:/X", p);
    const char *a1[] = {"info", arg, NULL}, *a2[] = {"info", "--json", arg, NULL};
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(tu_cli(k ? a2 : a1), H5PREP_ERR_NO_DATASET, "%s", tu_stderr());
        cr_assert(strstr(tu_stderr(), "t.h5:/X: no such dataset") && strstr(tu_stderr(), "did you mean") &&
                      strstr(tu_stderr(), "t.h5:/x?"),
                  "%s", tu_stderr());
        cr_assert_str_eq(tu_stdout(), "");
    }
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT), t = H5Tcopy(H5T_NATIVE_INT); /* a named datatype */
    cr_assert(H5Tcommit2(f, "/kind", t, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) >= 0);
    H5Tclose(t);
    H5Fclose(f);
    const char *a6[] = {"info", p, NULL};
    cr_assert_str_eq(listed(info_ok(a6)), "/g/y /x", "only datasets are listed");
    snprintf(arg, sizeof arg, "%s:/kind", p);
    cr_assert_eq(tu_cli(a1), H5PREP_ERR_NOT_DATASET, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "t.h5:/kind: is a named datatype, not a dataset or a group"), "%s", tu_stderr());
    snprintf(arg, sizeof arg, "%s:/g/none/y", p); /* a missing group on the way */
    const char *a3[] = {"info", arg, NULL};
    cr_assert_eq(tu_cli(a3), H5PREP_ERR_NO_DATASET, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "\"/g/none\" does not exist"), "%s", tu_stderr());
    const char *a4[] = {"info", tu_path("none.h5"), NULL}, *a5[] = {"info", "--json", NC4, tu_path("none.h5:/x"), NULL};
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(tu_cli(k ? a5 : a4), H5PREP_ERR_FILE_NOT_FOUND, "%s", tu_stderr());
        cr_assert(strstr(tu_stderr(), "none.h5: no such file"), "%s", tu_stderr());
        cr_assert_str_eq(tu_stdout(), "", "nothing printed when an argument fails");
    }
}
