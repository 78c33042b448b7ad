/* info.c: `h5prep info FILE[:DATASET]` (FILE may be a glob): each dataset described once, as JSON;
 * the table and the callback API (h5prep_info) are made from that description. */
#include "input/info.h"

#include "common/internal.h"
#include "input/source.h"
#include "input/variable.h"

#include <hdf5.h>
#include <hdf5_hl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The datasets found by a walk, described afterwards in name order. */
typedef struct name_list {
    const char *prefix; /* the walked group's path, "" for the root */
    char **names;       /* absolute paths */
    size_t n, cap;
    int nomem;
} name_list;

static int add_name(name_list *l, const char *rel)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **names = realloc(l->names, cap * sizeof *names);
        if (!names)
            return l->nomem = 1, -1;
        l->names = names;
        l->cap = cap;
    }
    size_t len = strlen(l->prefix) + strlen(rel) + 2;
    if (!(l->names[l->n] = malloc(len)))
        return l->nomem = 1, -1;
    snprintf(l->names[l->n++], len, "%s/%s", l->prefix, rel);
    return 0;
}

static herr_t collect(hid_t obj, const char *name, const H5O_info_t *oi, void *arg)
{
    (void)obj;
    return oi->type != H5O_TYPE_DATASET ? 0 : add_name(arg, name);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The stored type: numpy's name ("int16", "float32", "string" ...) into dst; the byte order
 * ("little", "big") returned, NULL where it does not apply. */
static const char *describe_type(hid_t t, char *dst, size_t cap)
{
    H5T_class_t c = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    if (c == H5T_INTEGER)
        snprintf(dst, cap, "%sint%zu", H5Tget_sign(t) == H5T_SGN_2 ? "" : "u", 8 * size);
    else if (c == H5T_FLOAT)
        snprintf(dst, cap, "float%zu", 8 * size);
    else if (c == H5T_STRING)
        snprintf(dst, cap, "string");
    else if (c == H5T_COMPOUND)
        snprintf(dst, cap, "compound");
    else if (c == H5T_ENUM)
        snprintf(dst, cap, "enum");
    else
        snprintf(dst, cap, "other (class %d)", (int)c);
    if (c != H5T_INTEGER && c != H5T_FLOAT)
        return NULL;
    H5T_order_t o = H5Tget_order(t);
    return o == H5T_ORDER_LE ? "little" : o == H5T_ORDER_BE ? "big" : NULL;
}

static json_t *extent_json(int rank, const hsize_t *d)
{
    json_t *a = json_array();
    for (int i = 0; a && i < rank; i++)
        json_array_append_new(a, json_integer((json_int_t)d[i]));
    return a;
}

/* The filters of a dataset's creation properties: ["shuffle", "deflate(4)"]. */
static json_t *filters_json(hid_t dcpl)
{
    json_t *a = json_array();
    int n = H5Pget_nfilters(dcpl);
    for (int i = 0; a && i < n; i++) {
        unsigned flags, cd[8];
        size_t ncd = 8;
        char name[64] = "", text[96];
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof name, name, NULL);
        if (id == H5Z_FILTER_DEFLATE && ncd >= 1)
            snprintf(text, sizeof text, "deflate(%u)", cd[0]);
        else if (id == H5Z_FILTER_SHUFFLE)
            snprintf(text, sizeof text, "shuffle");
        else if (id == H5Z_FILTER_FLETCHER32)
            snprintf(text, sizeof text, "fletcher32");
        else
            snprintf(text, sizeof text, "%s(id %d)", *name ? name : "filter", (int)id);
        json_array_append_new(a, json_string(text));
    }
    return a;
}

/* A float as JSON: NaN and +-Inf, which JSON has not, as the strings "nan", "inf", "-inf" (as in
 * h5prep-stats/1). */
static json_t *real_json(double x)
{
    return isfinite(x) ? json_real(x) : json_string(isnan(x) ? "nan" : x > 0 ? "inf" : "-inf");
}

/* The values of a numeric attribute (1..8 of them) as a JSON number, or an array when there are
 * several; NULL when it is not numeric. Integers stay exact (unsigned ones above 2^63 become reals). */
static json_t *attr_json(hid_t a)
{
    hid_t sp = H5Aget_space(a), t = H5Aget_type(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    H5T_class_t c = H5Tget_class(t);
    int u64 = c == H5T_INTEGER && H5Tget_sign(t) == H5T_SGN_NONE && H5Tget_size(t) == 8;
    hid_t mem = c == H5T_FLOAT ? H5T_NATIVE_DOUBLE : u64 ? H5T_NATIVE_ULLONG : H5T_NATIVE_LLONG;
    union {
        double f[8];
        long long i[8];
        unsigned long long u[8];
    } v;
    json_t *out = NULL;
    if ((c == H5T_INTEGER || c == H5T_FLOAT) && n >= 1 && n <= 8 && H5Aread(a, mem, &v) >= 0 && (out = json_array())) {
        for (hssize_t k = 0; k < n; k++)
            json_array_append_new(out, c == H5T_FLOAT ? real_json(v.f[k])
                                       : !u64          ? json_integer(v.i[k])
                                       : v.u[k] <= INT64_MAX ? json_integer((json_int_t)v.u[k])
                                                             : json_real((double)v.u[k]));
        if (n == 1) {
            json_t *one = json_incref(json_array_get(out, 0));
            json_decref(out);
            out = one;
        }
    }
    H5Tclose(t);
    H5Sclose(sp);
    return out;
}

/* The CF attributes that h5prep decodes (README, "Missing values and CF decoding"). */
static json_t *cf_json(hid_t d)
{
    static const char *names[] = {"_FillValue", "missing_value", "MissingValue", "scale_factor",
                                  "add_offset", "valid_min",     "valid_max",    "valid_range"};
    json_t *cf = json_object();
    for (size_t k = 0; cf && k < sizeof names / sizeof *names; k++) {
        if (H5Aexists(d, names[k]) <= 0)
            continue;
        hid_t a = H5Aopen(d, names[k], H5P_DEFAULT);
        json_t *v = a < 0 ? NULL : attr_json(a);
        if (v)
            json_object_set_new(cf, names[k], v);
        if (a >= 0)
            H5Aclose(a);
    }
    return cf;
}

/* The axis names (netCDF-4 dimensions) of dataset `name`, null where an axis has none; NULL when
 * none has. A netCDF-4 coordinate variable (/lat) is the dimension scale of its own axis. */
static json_t *dims_json(hid_t d, const char *name, int rank)
{
    char dims[H5PREP_MAX_RANK][H5P_DIM_NAME];
    int named = 0;
    h5p_dataset_dims(d, rank, dims);
    if (rank == 1 && !dims[0][0] && H5DSis_scale(d) > 0)
        snprintf(dims[0], sizeof dims[0], "%s", strrchr(name, '/') + 1);
    for (int a = 0; a < rank; a++)
        named |= dims[a][0] != 0;
    json_t *out = named ? json_array() : NULL;
    for (int a = 0; out && a < rank; a++)
        json_array_append_new(out, dims[a][0] ? json_string(dims[a]) : json_null());
    return out;
}

/* Appends the description of dataset `name` (an absolute path in f, of file `path`) to list. */
static h5prep_status describe_dataset(hid_t f, const char *path, const char *name, json_t *list)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT); /* one that does not open is damage, not something to skip */
    RETURN_ERROR_IF(d < 0, H5PREP_ERR_CORRUPT, "%s:%s: cannot open the dataset: the file is damaged (HDF5: %s)", path,
                    name, h5p_hdf5_reason());
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d), dcpl = H5Dget_create_plist(d);
    char dtype[64];
    const char *order = describe_type(t, dtype, sizeof dtype);
    hsize_t dims[H5S_MAX_RANK], chunk[H5S_MAX_RANK];
    int r = H5Sget_simple_extent_ndims(sp);
    r = r > 0 && r <= H5PREP_MAX_RANK && H5Sget_simple_extent_dims(sp, dims, NULL) >= 0 ? r : 0;
    int cr = H5Pget_layout(dcpl) == H5D_CHUNKED ? H5Pget_chunk(dcpl, H5S_MAX_RANK, chunk) : 0;
    json_t *o = json_pack("{s:s, s:o, s:s, s:s?, s:o, s:o, s:o}", "path", name, "shape", extent_json(r, dims), "dtype",
                          dtype, "byte_order", order, "chunks",
                          cr > 0 && cr <= H5PREP_MAX_RANK ? extent_json(cr, chunk) : json_null(), "filters",
                          filters_json(dcpl), "cf", cf_json(d));
    json_t *axes = dims_json(d, name, r);
    if (o && axes)
        json_object_set_new(o, "dims", axes);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Tclose(t);
    H5Dclose(d);
    RETURN_ERROR_IF(!o || json_array_append_new(list, o) != 0, H5PREP_ERR_NOMEM, "%s: out of memory", path);
    return H5PREP_OK;
}

/* The datasets under group `group` of f into l, by walking it. */
static h5prep_status walk(hid_t f, const char *path, const char *group, name_list *l)
{
    hid_t g = H5Oopen(f, group, H5P_DEFAULT);
    /* Native order, sorted afterwards: HDF5 1.10 sorts a group in name order through a table that
     * it frees uninitialised when the group's link B-tree is damaged. */
    herr_t e = g < 0 ? -1 : H5Ovisit(g, H5_INDEX_NAME, H5_ITER_NATIVE, collect, l);
    char why[512];
    snprintf(why, sizeof why, "%s", h5p_hdf5_reason()); /* before H5Oclose clears it */
    if (g >= 0)
        H5Oclose(g);
    RETURN_ERROR_IF(l->nomem, H5PREP_ERR_NOMEM, "%s: out of memory for the list of datasets", path);
    RETURN_ERROR_IF(e < 0, H5PREP_ERR_CORRUPT, "%s: walking the file failed: the file is damaged (HDF5: %s)", path, why);
    qsort(l->names, l->n, sizeof *l->names, by_name);
    return H5PREP_OK;
}

/* Appends {"file": path, "datasets": [...]} to files: every dataset, or only `dset` (a dataset,
 * or a group: the datasets under it) when it is not NULL. */
static h5prep_status describe_file(const char *path, const char *dset, json_t *files)
{
    int64_t f;
    FORWARD_IF_ERROR(h5p_file_open(path, &f));
    name_list l = {.prefix = ""};
    int type = H5O_TYPE_GROUP;
    h5prep_status st = dset ? h5p_object_lookup(f, path, dset, &type) : H5PREP_OK;
    if (st == H5PREP_OK && type == H5O_TYPE_DATASET) {
        st = add_name(&l, dset + 1) == 0 ? H5PREP_OK : h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    } else if (st == H5PREP_OK && type == H5O_TYPE_GROUP) {
        l.prefix = dset && dset[1] ? dset : "";
        st = walk(f, path, dset ? dset : "/", &l);
    } else if (st == H5PREP_OK) {
        h5p_fail(H5PREP_ERR_NOT_DATASET, "%s:%s: is a named datatype, not a dataset or a group", path, dset);
        st = h5p_hint(H5PREP_ERR_NOT_DATASET, "list the datasets with 'h5prep info %s'", path);
    }
    json_t *list = json_array();
    if (st == H5PREP_OK && !list)
        st = h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == H5PREP_OK && i < l.n; i++)
        st = describe_dataset(f, path, l.names[i], list);
    for (size_t i = 0; i < l.n; i++)
        free(l.names[i]);
    free(l.names);
    H5Fclose(f);
    if (st == H5PREP_OK && json_array_append_new(files, json_pack("{s:s, s:O}", "file", path, "datasets", list)) != 0)
        st = h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    json_decref(list);
    return st;
}

static h5prep_status info_files(const char *arg, json_t *files)
{
    struct stat sb;
    if (stat(arg, &sb) == 0) /* the file, ':' or glob characters in its name and all */
        return describe_file(arg, NULL, files);
    const char *colon = h5p_dataset_colon(arg);
    size_t flen = colon ? (size_t)(colon - arg) : strlen(arg);
    char *pattern = h5p_malloc(flen + 1), *dset = colon ? h5p_dataset_path(colon + 1) : NULL;
    glob_t g;
    memset(&g, 0, sizeof g);
    h5prep_status st = pattern && (dset || !colon) ? H5PREP_OK : h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    if (st == H5PREP_OK) {
        memcpy(pattern, arg, flen);
        pattern[flen] = 0;
        st = h5p_glob_files(pattern, &g);
    }
    for (size_t i = 0; st == H5PREP_OK && i < g.gl_pathc; i++)
        st = describe_file(g.gl_pathv[i], dset, files);
    globfree(&g);
    free(pattern);
    free(dset);
    return st;
}

h5prep_status h5p_info_files(const char *arg, json_t *files)
{
    h5prep_status st = info_files(arg, files);
    h5p_files_release();
    return st;
}

/* ---- the same description as strings: the callback's h5prep_dataset_info and the table ---- */

typedef struct info_view {
    h5prep_dataset_info di;
    char dtype[80], filters[256], cf[512];
} info_view;

static int extent_of(const json_t *a, uint64_t *dst)
{
    size_t n = json_array_size(a) <= H5PREP_MAX_RANK ? json_array_size(a) : 0;
    for (size_t i = 0; i < n; i++)
        dst[i] = (uint64_t)json_integer_value(json_array_get(a, i));
    return (int)n;
}

static void print_number(FILE *f, const json_t *v)
{
    if (json_is_integer(v))
        fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        fprintf(f, "%.9g", json_real_value(v));
    else
        fputs(json_string_value(v), f);
}

/* "_FillValue=-999 valid_range=0,100" into dst, which is zeroed: its last byte stays the NUL of
 * a text cut short. */
static void cf_text(const json_t *cf, char *dst, size_t cap)
{
    FILE *f = fmemopen(dst, cap - 1, "w");
    if (!f)
        return;
    const char *key;
    json_t *v;
    int first = 1;
    json_object_foreach((json_t *)cf, key, v) {
        fprintf(f, "%s%s=", first ? "" : " ", key);
        first = 0;
        size_t i;
        json_t *x;
        if (!json_is_array(v))
            print_number(f, v);
        json_array_foreach(v, i, x) {
            fputs(i ? "," : "", f);
            print_number(f, x);
        }
    }
    fclose(f);
}

static void view_of(const json_t *file, const json_t *d, info_view *v)
{
    memset(v, 0, sizeof *v);
    h5prep_dataset_info *di = &v->di;
    di->file = json_string_value(json_object_get(file, "file"));
    di->path = json_string_value(json_object_get(d, "path"));
    di->rank = extent_of(json_object_get(d, "shape"), di->shape);
    di->chunk_rank = extent_of(json_object_get(d, "chunks"), di->chunk);
    const char *order = json_string_value(json_object_get(d, "byte_order"));
    snprintf(v->dtype, sizeof v->dtype, "%s%s", json_string_value(json_object_get(d, "dtype")),
             order && strcmp(order, "big") == 0 ? " (big-endian)" : "");
    size_t len = 0, i;
    json_t *x;
    json_array_foreach(json_object_get(d, "filters"), i, x)
        if (len < sizeof v->filters)
            len += (size_t)snprintf(v->filters + len, sizeof v->filters - len, "%s%s", i ? ", " : "", json_string_value(x));
    cf_text(json_object_get(d, "cf"), v->cf, sizeof v->cf);
    for (int a = 0; a < di->rank; a++)
        di->dims[a] = json_string_value(json_array_get(json_object_get(d, "dims"), (size_t)a));
    di->dtype = v->dtype;
    di->filters = v->filters;
    di->cf = v->cf;
}

void h5p_info_table(FILE *f, const json_t *file)
{
    const json_t *list = json_object_get(file, "datasets");
    fprintf(f, "%s\n", json_string_value(json_object_get(file, "file")));
    if (json_array_size(list) == 0)
        fputs("  (no datasets)\n", f);
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d) {
        info_view v;
        char shape[512];
        view_of(file, d, &v);
        h5p_format_shape(shape, sizeof shape, v.di.rank, v.di.shape);
        fprintf(f, "  %-40s %-22s %s", v.di.path, v.di.dtype, shape);
        if (v.di.chunk_rank) {
            h5p_format_shape(shape, sizeof shape, v.di.chunk_rank, v.di.chunk);
            fprintf(f, "  chunks %s", shape);
        }
        if (*v.di.filters)
            fprintf(f, "  %s", v.di.filters);
        if (*v.di.cf)
            fprintf(f, "  %s", v.di.cf);
        for (int a = 0; json_object_get(d, "dims") && a < v.di.rank; a++)
            fprintf(f, "%s%s%s", a ? ", " : "  dims (", v.di.dims[a] ? v.di.dims[a] : "-", a + 1 == v.di.rank ? ")" : "");
        fputc('\n', f);
    }
}

h5prep_status h5prep_info(const char *arg, h5prep_info_fn fn, void *user)
{
    h5p_clear_error();
    json_t *files = json_array();
    RETURN_ERROR_IF(!files, H5PREP_ERR_NOMEM, "out of memory");
    h5prep_status st = h5p_info_files(arg, files);
    size_t i, j;
    json_t *file, *d;
    json_array_foreach(st == H5PREP_OK ? files : NULL, i, file) {
        json_array_foreach(json_object_get(file, "datasets"), j, d) {
            info_view v;
            view_of(file, d, &v);
            fn(&v.di, user);
        }
    }
    json_decref(files);
    return st;
}
