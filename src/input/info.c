/* info.c: `h5prep info`: walks a file and describes each dataset (shape, type, chunks, filters,
 * CF attributes) through a callback, so that the CLI formats and the library never prints. */
#include "common/internal.h"
#include "input/source.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct info_walk {
    h5prep_info_fn fn;
    void *user;
    char **names; /* the datasets found by the walk, described afterwards in name order */
    size_t n, cap;
    int nomem;
    char failed[1024]; /* the dataset that could not be opened, if one */
    char reason[512];
} info_walk;

static void describe_type(hid_t t, char *dst, size_t cap)
{
    H5T_class_t c = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    const char *order = H5Tget_order(t) == H5T_ORDER_BE ? " (big-endian)" : "";
    if (c == H5T_INTEGER)
        snprintf(dst, cap, "%sint%zu%s", H5Tget_sign(t) == H5T_SGN_2 ? "" : "u", 8 * size, order);
    else if (c == H5T_FLOAT)
        snprintf(dst, cap, "float%zu%s", 8 * size, order);
    else if (c == H5T_STRING)
        snprintf(dst, cap, "string");
    else if (c == H5T_COMPOUND)
        snprintf(dst, cap, "compound");
    else if (c == H5T_ENUM)
        snprintf(dst, cap, "enum");
    else
        snprintf(dst, cap, "other (class %d)", (int)c);
}

static void describe_filters(hid_t dcpl, char *dst, size_t cap)
{
    size_t len = 0;
    dst[0] = 0;
    int n = H5Pget_nfilters(dcpl);
    for (int i = 0; i < n && len < cap; i++) {
        unsigned flags, cd[8];
        size_t ncd = 8;
        char name[64] = "";
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof name, name, NULL);
        const char *sep = i ? ", " : "";
        if (id == H5Z_FILTER_DEFLATE && ncd >= 1)
            len += (size_t)snprintf(dst + len, cap - len, "%sdeflate(%u)", sep, cd[0]);
        else if (id == H5Z_FILTER_SHUFFLE)
            len += (size_t)snprintf(dst + len, cap - len, "%sshuffle", sep);
        else if (id == H5Z_FILTER_FLETCHER32)
            len += (size_t)snprintf(dst + len, cap - len, "%sfletcher32", sep);
        else
            len += (size_t)snprintf(dst + len, cap - len, "%s%s(id %d)", sep, *name ? name : "filter", (int)id);
    }
}

static void describe_cf(hid_t d, char *dst, size_t cap)
{
    static const char *names[] = {"_FillValue", "missing_value", "MissingValue", "scale_factor",
                                  "add_offset", "valid_min",     "valid_max",    "valid_range"};
    size_t len = 0;
    dst[0] = 0;
    for (size_t k = 0; k < sizeof names / sizeof *names && len < cap; k++) {
        if (H5Aexists(d, names[k]) <= 0)
            continue;
        hid_t a = H5Aopen(d, names[k], H5P_DEFAULT);
        hid_t sp = H5Aget_space(a);
        hssize_t n = H5Sget_simple_extent_npoints(sp);
        double v[8];
        hid_t t = H5Aget_type(a);
        H5T_class_t c = H5Tget_class(t);
        if ((c == H5T_INTEGER || c == H5T_FLOAT) && n >= 1 && n <= 8 && H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0) {
            len += (size_t)snprintf(dst + len, cap - len, "%s%s=", len ? " " : "", names[k]);
            for (hssize_t i = 0; i < n && len < cap; i++)
                len += (size_t)snprintf(dst + len, cap - len, "%s%.9g", i ? "," : "", v[i]);
        }
        H5Tclose(t);
        H5Sclose(sp);
        H5Aclose(a);
    }
}

/* Describes the dataset `name` (relative to the root) through w->fn; -1 if it does not open. */
static int describe_dataset(hid_t root, const char *name, info_walk *w)
{
    hid_t d = H5Dopen2(root, name, H5P_DEFAULT);
    if (d < 0) { /* stop the walk: a dataset that does not open is damage, not something to skip */
        snprintf(w->failed, sizeof w->failed, "/%s", name);
        snprintf(w->reason, sizeof w->reason, "%s", h5p_hdf5_reason());
        return -1;
    }
    char path[1024], dtype[64], filters[256], cf[512];
    snprintf(path, sizeof path, "/%s", name);
    h5prep_dataset_info di;
    memset(&di, 0, sizeof di);
    di.path = path;
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d), dcpl = H5Dget_create_plist(d);
    describe_type(t, dtype, sizeof dtype);
    di.dtype = dtype;
    hsize_t dims[H5S_MAX_RANK];
    int r = H5Sget_simple_extent_ndims(sp);
    if (r > 0 && r <= H5PREP_MAX_RANK) {
        H5Sget_simple_extent_dims(sp, dims, NULL);
        di.rank = r;
        for (int a = 0; a < r; a++)
            di.shape[a] = dims[a];
    }
    if (H5Pget_layout(dcpl) == H5D_CHUNKED) {
        int cr = H5Pget_chunk(dcpl, H5S_MAX_RANK, dims);
        di.chunk_rank = cr > 0 && cr <= H5PREP_MAX_RANK ? cr : 0;
        for (int a = 0; a < di.chunk_rank; a++)
            di.chunk[a] = dims[a];
    }
    describe_filters(dcpl, filters, sizeof filters);
    describe_cf(d, cf, sizeof cf);
    di.filters = filters;
    di.cf = cf;
    w->fn(&di, w->user);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Tclose(t);
    H5Dclose(d);
    return 0;
}

static herr_t collect(hid_t root, const char *name, const H5O_info_t *oi, void *arg)
{
    (void)root;
    info_walk *w = arg;
    if (oi->type != H5O_TYPE_DATASET)
        return 0;
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        char **l = realloc(w->names, cap * sizeof *l);
        if (!l)
            return w->nomem = 1, -1;
        w->names = l;
        w->cap = cap;
    }
    if (!(w->names[w->n] = strdup(name)))
        return w->nomem = 1, -1;
    w->n++;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

h5prep_status h5prep_info(const char *path, h5prep_info_fn fn, void *user)
{
    h5p_clear_error();
    int64_t f;
    FORWARD_IF_ERROR(h5p_file_open(path, &f));
    info_walk w = {.fn = fn, .user = user};
    /* Native order, sorted afterwards: HDF5 1.10 sorts a group in name order through a table
     * that it frees uninitialised when the group's link B-tree is damaged. */
    herr_t e = H5Ovisit(f, H5_INDEX_NAME, H5_ITER_NATIVE, collect, &w);
    char why[512];
    snprintf(why, sizeof why, "%s", h5p_hdf5_reason()); /* before H5Fclose clears it */
    if (e >= 0 && !w.nomem) {
        qsort(w.names, w.n, sizeof *w.names, by_name);
        for (size_t i = 0; i < w.n && e >= 0; i++)
            e = describe_dataset(f, w.names[i], &w);
        if (w.failed[0])
            snprintf(why, sizeof why, "%s", w.reason);
    }
    for (size_t i = 0; i < w.n; i++)
        free(w.names[i]);
    free(w.names);
    H5Fclose(f);
    RETURN_ERROR_IF(w.nomem, H5PREP_ERR_NOMEM, "%s: out of memory for the list of datasets", path);
    RETURN_ERROR_IF(e < 0 && w.failed[0], H5PREP_ERR_CORRUPT, "%s:%s: cannot open the dataset: the file is damaged (HDF5: %s)",
                    path, w.failed, why);
    RETURN_ERROR_IF(e < 0, H5PREP_ERR_CORRUPT, "%s: walking the file failed: the file is damaged (HDF5: %s)", path, why);
    return H5PREP_OK;
}
