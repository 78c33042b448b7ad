/* source.c: opens and checks HDF5/netCDF-4 datasets, reads their CF attributes and slabs of rows.
 * Used by the input opener (variable.c) and by the ring's reader threads during a run. */
#include "input/source.h"

#include "input/cf.h"
#include "input/chunks.h"
#include "common/internal.h"

#include <ctype.h>
#include <errno.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

uint64_t h5p_var_features(const h5p_var *v)
{
    uint64_t f = 1;
    for (int a = v->keep_first; a < v->keep_first + v->keep_count; a++)
        f *= v->dims[a];
    return f;
}

uint64_t h5p_var_row_elems(const h5p_var *v)
{
    uint64_t n = 1;
    for (int a = 1; a < v->rank; a++)
        n *= v->dims[a];
    return n;
}

size_t h5p_part_row_bytes(const h5p_var *v, const h5p_part *p)
{
    return (size_t)h5p_var_row_elems(v) * h5p_dtype_size(p->dtype);
}

/* Maps a stored numeric type to the staging type; -1 when unsupported. */
static int dtype_of(hid_t t, int *big_endian)
{
    H5T_class_t c = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    *big_endian = H5Tget_order(t) == H5T_ORDER_BE;
    if (c == H5T_FLOAT)
        return size == 4 ? H5P_F32 : size == 8 ? H5P_F64 : -1;
    if (c != H5T_INTEGER)
        return -1;
    int sign = H5Tget_sign(t) == H5T_SGN_2;
    switch (size) {
    case 1: return sign ? H5P_I8 : H5P_U8;
    case 2: return sign ? H5P_I16 : H5P_U16;
    case 4: return sign ? H5P_I32 : H5P_U32;
    case 8: return sign ? H5P_I64 : H5P_U64;
    default: return -1;
    }
}

static hid_t mem_type_of(h5p_dtype t)
{
    switch (t) {
    case H5P_I8: return H5T_NATIVE_INT8;
    case H5P_U8: return H5T_NATIVE_UINT8;
    case H5P_I16: return H5T_NATIVE_INT16;
    case H5P_U16: return H5T_NATIVE_UINT16;
    case H5P_I32: return H5T_NATIVE_INT32;
    case H5P_U32: return H5T_NATIVE_UINT32;
    case H5P_I64: return H5T_NATIVE_INT64;
    case H5P_U64: return H5T_NATIVE_UINT64;
    case H5P_F32: return H5T_NATIVE_FLOAT;
    case H5P_F64: return H5T_NATIVE_DOUBLE;
    }
    return H5T_NATIVE_DOUBLE;
}

static int starts_with_bytes(const char *path, const char *magic, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char buf[16] = {0};
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    return got == n && memcmp(buf, magic, n) == 0;
}

/* Files kept open from their first open (the probe of an input) to the end of the public call
 * that uses them (h5p_files_release), so that each file is opened once: its superblock read and its
 * metadata cache built once, not once per dataset and once more by the reader. Runs over many
 * small files (a sweep per file, six moments each) spent most of their time in H5Fopen. A caller
 * gets its own identifier of the held file (H5Freopen), so closing it, or releasing the table while
 * another thread still reads, is always safe. An entry is used only while the file has the inode,
 * size and mtime it was opened with. The table does not evict: runs go over their files once per
 * variable, in the same order, where keeping the first files beats any recency rule; it holds at
 * most a quarter of the process's file descriptors. */
typedef struct held_file {
    char *path;
    hid_t file;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} held_file;

static struct {
    pthread_mutex_t mu;
    held_file *e;
    size_t n, cap; /* cap 0: not sized yet */
} g_held = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};

static int same_file(const held_file *h, const struct stat *st)
{
    return h->dev == st->st_dev && h->ino == st->st_ino && h->size == st->st_size &&
           h->mtime.tv_sec == st->st_mtim.tv_sec && h->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* A new identifier of `path` when it is held and unchanged, else -1 (a changed entry is dropped). */
static hid_t held_open(const char *path, const struct stat *st)
{
    hid_t f = -1;
    pthread_mutex_lock(&g_held.mu);
    for (size_t i = 0; i < g_held.n; i++) {
        held_file *h = &g_held.e[i];
        if (strcmp(h->path, path) != 0)
            continue;
        if (same_file(h, st)) {
            f = H5Freopen(h->file);
        } else {
            H5Fclose(h->file);
            free(h->path);
            *h = g_held.e[--g_held.n];
        }
        break;
    }
    pthread_mutex_unlock(&g_held.mu);
    return f;
}

/* Holds an identifier of the just opened `f` while the table has room. */
static void held_add(const char *path, hid_t f, const struct stat *st)
{
    pthread_mutex_lock(&g_held.mu);
    if (g_held.cap == 0) {
        struct rlimit rl;
        rlim_t fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur : 1024;
        g_held.cap = fds / 4 < 16 ? 16 : fds / 4 > 4096 ? 4096 : (size_t)(fds / 4);
        g_held.e = malloc(g_held.cap * sizeof *g_held.e);
        if (!g_held.e)
            g_held.cap = SIZE_MAX; /* nothing is held; the next call does not retry */
    }
    char *copy = g_held.e && g_held.n < g_held.cap ? strdup(path) : NULL;
    hid_t own = copy ? H5Freopen(f) : -1;
    if (own >= 0) {
        g_held.e[g_held.n++] = (held_file){copy, own, st->st_dev, st->st_ino, st->st_size, st->st_mtim};
    } else {
        free(copy);
    }
    pthread_mutex_unlock(&g_held.mu);
}

void h5p_files_release(void)
{
    pthread_mutex_lock(&g_held.mu);
    for (size_t i = 0; i < g_held.n; i++) {
        H5Fclose(g_held.e[i].file);
        free(g_held.e[i].path);
    }
    g_held.n = 0;
    pthread_mutex_unlock(&g_held.mu);
}

/* Opens a file for reading, with a status and message for each way it can fail. */
static h5prep_status open_file_stat(const char *path, hid_t *out, struct stat *st)
{
    h5p_hdf5_init();
    if (stat(path, st) != 0) {
        int e = errno;
        if (e == ENOENT)
            return h5p_fail(H5PREP_ERR_FILE_NOT_FOUND, "%s: no such file", path);
        return h5p_fail(H5PREP_ERR_FILE_NOT_FOUND, "%s: cannot access the file: %s", path, strerror(e));
    }
    RETURN_ERROR_IF(S_ISDIR(st->st_mode), H5PREP_ERR_FILE_NOT_FOUND, "%s: is a directory, not a file",
                    path);
    if ((*out = held_open(path, st)) >= 0)
        return H5PREP_OK;
    /* Open first: the usual case costs one open; only a failure is classified. */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0) {
        held_add(path, f, st);
        *out = f;
        return H5PREP_OK;
    }
    char why[512];
    snprintf(why, sizeof why, "%s", h5p_hdf5_reason());
    if (H5Fis_hdf5(path) <= 0) {
        if (starts_with_bytes(path, "CDF", 3)) {
            h5p_fail(H5PREP_ERR_NOT_HDF5, "%s: is a netCDF-3 classic file, not netCDF-4/HDF5", path);
            return h5p_hint(H5PREP_ERR_NOT_HDF5, "convert it with 'nccopy -k nc4 %s out.nc'", path);
        }
        h5p_fail(H5PREP_ERR_NOT_HDF5, "%s: not an HDF5 or netCDF-4 file (no HDF5 signature)", path);
        return h5p_hint(H5PREP_ERR_NOT_HDF5, "check the path; 'h5prep info FILE' lists what a file holds");
    }
    return h5p_fail(H5PREP_ERR_CORRUPT, "%s: HDF5 cannot open the file (truncated or damaged?)%s%s%s", path,
                    *why ? " (HDF5: " : "", why, *why ? ")" : "");
}

/* The search for a dataset whose path differs from `want` only in case or in slashes. */
typedef struct near_walk {
    const char *want; /* without its leading slashes */
    char found[1024];
} near_walk;

static int same_but_case_and_slashes(const char *a, const char *b)
{
    for (;;) {
        while (*a == '/' && (a[1] == '/' || a[1] == 0))
            a++;
        while (*b == '/' && (b[1] == '/' || b[1] == 0))
            b++;
        if (!*a || !*b)
            return !*a && !*b;
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return 0;
        a++, b++;
    }
}

static herr_t near_visit(hid_t root, const char *name, const H5O_info_t *oi, void *arg)
{
    (void)root;
    near_walk *w = arg;
    if (oi->type != H5O_TYPE_DATASET || !same_but_case_and_slashes(name, w->want))
        return 0;
    snprintf(w->found, sizeof w->found, "/%s", name);
    return 1; /* the first one, in name order */
}

/* The missing dataset's message, with the dataset of another case it may have meant. */
static h5prep_status no_such_dataset(hid_t f, const char *path, const char *name, const char *missing)
{
    h5p_fail(H5PREP_ERR_NO_DATASET, "%s:%s: no such dataset (\"%s\" does not exist)", path, name, missing);
    near_walk w = {name, ""};
    while (*w.want == '/')
        w.want++;
    if (H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, near_visit, &w) > 0 && w.found[0])
        return h5p_hint(H5PREP_ERR_NO_DATASET, "did you mean %s:%s? (dataset paths are case-sensitive)", path, w.found);
    return h5p_hint(H5PREP_ERR_NO_DATASET, "list the datasets with 'h5prep info %s'", path);
}

h5prep_status h5p_object_lookup(int64_t f, const char *path, const char *name, int *type)
{
    /* Walk the path so that a missing intermediate group is reported, not an HDF5 failure. */
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", name);
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c == '/' || c == 0) {
            *p = 0;
            htri_t ex = buf[1] ? H5Lexists(f, buf, H5P_DEFAULT) : 1; /* "/" is the root group */
            /* a negative answer is no "absent": HDF5 could not read the group (a damaged B-tree, a
             * bad metadata checksum) */
            RETURN_ERROR_IF(ex < 0, H5PREP_ERR_CORRUPT, "%s:%s: cannot look \"%s\" up: the file is damaged (HDF5: %s)",
                            path, name, buf, h5p_hdf5_reason());
            if (ex == 0)
                return no_such_dataset(f, path, name, buf);
            *p = c;
            if (c == 0)
                break;
        }
    }
    H5O_info_t info;
    RETURN_ERROR_IF(H5Oget_info_by_name(f, name, &info, H5P_DEFAULT) < 0, H5PREP_ERR_CORRUPT,
                    "%s:%s: cannot read the object header (HDF5: %s)", path, name, h5p_hdf5_reason());
    *type = (int)info.type;
    return H5PREP_OK;
}

/* Opens dataset `name` in file `f`, telling a missing path from a group. */
static h5prep_status open_dataset(hid_t f, const char *path, const char *name, hid_t *out)
{
    int type;
    FORWARD_IF_ERROR(h5p_object_lookup(f, path, name, &type));
    if (type != H5O_TYPE_DATASET) {
        h5p_fail(H5PREP_ERR_NOT_DATASET, "%s:%s: is a %s, not a dataset", path, name,
                 type == H5O_TYPE_GROUP ? "group" : "named datatype");
        return h5p_hint(H5PREP_ERR_NOT_DATASET, "list the datasets with 'h5prep info %s'", path);
    }
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    RETURN_ERROR_IF(d < 0, H5PREP_ERR_CORRUPT, "%s:%s: cannot open the dataset (HDF5: %s)", path, name,
                    h5p_hdf5_reason());
    *out = d;
    return H5PREP_OK;
}

/* A declared shape that the file cannot hold is damage (a flipped bit in the dataspace), not a
 * request for more memory: its size in bytes must fit in 64 bits, and an unfiltered contiguous
 * dataset whose storage is allocated must lie inside the file. */
static h5prep_status check_size(hid_t d, hid_t dcpl, const char *path, const char *name, const char *shape, int r,
                                const hsize_t *hd, size_t esize, int64_t file_size)
{
    uint64_t bytes = esize;
    for (int a = 0; a < r; a++) {
        RETURN_ERROR_IF(bytes > UINT64_MAX / hd[a], H5PREP_ERR_CORRUPT,
                        "%s:%s: the declared shape %s of %zu-byte values is more than 2^64 bytes: the file is damaged",
                        path, name, shape, esize);
        bytes *= hd[a];
    }
    if (dcpl < 0 || H5Pget_layout(dcpl) != H5D_CONTIGUOUS || H5Pget_external_count(dcpl) > 0 ||
        H5Pget_nfilters(dcpl) > 0)
        return H5PREP_OK;
    haddr_t off = H5Dget_offset(d);
    if (off == HADDR_UNDEF) /* never written: the values are the fill value */
        return H5PREP_OK;
    RETURN_ERROR_IF(file_size >= 0 && (off > (uint64_t)file_size || bytes > (uint64_t)file_size - off),
                    H5PREP_ERR_CORRUPT,
                    "%s:%s: the declared shape %s needs %llu bytes from offset %llu, but the file has %lld bytes: "
                    "the file is damaged or truncated",
                    path, name, shape, (unsigned long long)bytes, (unsigned long long)off, (long long)file_size);
    return H5PREP_OK;
}

static h5prep_status probe_open(hid_t f, hid_t d, const char *path, const char *name, int raw, int64_t file_size,
                                h5p_part *part, int *rank, uint64_t dims[H5PREP_MAX_RANK])
{
    (void)f;
    hid_t t = H5Dget_type(d);
    RETURN_ERROR_IF(t < 0, H5PREP_ERR_CORRUPT, "%s:%s: cannot read the datatype", path, name);
    int be = 0;
    int dt = dtype_of(t, &be);
    H5T_class_t cls = H5Tget_class(t);
    size_t tsize = H5Tget_size(t);
    H5Tclose(t);
    if (dt < 0) {
        if (cls == H5T_FLOAT)
            return h5p_fail(H5PREP_ERR_DTYPE, "%s:%s: %zu-byte floats are not supported (float32 and float64 are)",
                            path, name, tsize);
        return h5p_fail(H5PREP_ERR_DTYPE, "%s:%s: dataset holds %s values; h5prep needs integers or floats",
                        path, name, h5p_type_class_name(cls));
    }
    hid_t sp = H5Dget_space(d);
    int r = H5Sget_simple_extent_ndims(sp);
    hsize_t hd[H5S_MAX_RANK];
    if (r > 0)
        H5Sget_simple_extent_dims(sp, hd, NULL);
    H5Sclose(sp);
    RETURN_ERROR_IF(r < 0, H5PREP_ERR_CORRUPT, "%s:%s: cannot read the dataspace", path, name);
    RETURN_ERROR_IF(r == 0, H5PREP_ERR_EMPTY, "%s:%s: is a scalar; h5prep reduces over axes, so it needs rank >= 1",
                    path, name);
    RETURN_ERROR_IF(r > H5PREP_MAX_RANK, H5PREP_ERR_SHAPE, "%s:%s: rank %d is above the supported %d", path,
                    name, r, H5PREP_MAX_RANK);
    char shape[512];
    size_t len = 0;
    int zero = 0;
    for (int a = 0; a < r; a++) {
        dims[a] = hd[a];
        zero |= hd[a] == 0;
        len += (size_t)snprintf(shape + len, sizeof shape - len, "%s%llu", a ? ", " : "(",
                                (unsigned long long)hd[a]);
        if (len >= sizeof shape)
            len = sizeof shape - 1;
    }
    snprintf(shape + len, sizeof shape - len, "%s)", r == 1 ? "," : "");
    RETURN_ERROR_IF(zero, H5PREP_ERR_EMPTY, "%s:%s: has a zero-length dimension: shape %s", path, name, shape);
    hid_t dcpl0 = H5Dget_create_plist(d);
    h5prep_status sz = check_size(d, dcpl0, path, name, shape, r, hd, tsize, file_size);
    if (dcpl0 >= 0)
        H5Pclose(dcpl0);
    FORWARD_IF_ERROR(sz);
    *rank = r;

    part->dtype = (h5p_dtype)dt;
    part->big_endian = be;
    part->rows = dims[0];
    part->row0 = 0;
    part->chunk_rows = 0;
    hid_t dcpl = H5Dget_create_plist(d);
    if (dcpl >= 0) {
        if (H5Pget_layout(dcpl) == H5D_CHUNKED) {
            hsize_t cd[H5S_MAX_RANK];
            if (H5Pget_chunk(dcpl, H5S_MAX_RANK, cd) == r) {
                part->chunk_rows = cd[0];
                part->row_chunks = 1;
                part->chunk_bytes = h5p_dtype_size(part->dtype);
                for (int a = 0; a < r; a++)
                    part->chunk_bytes *= cd[a];
                for (int a = 1; a < r; a++)
                    part->row_chunks *= CEIL_DIV(dims[a], cd[a]);
            }
            part->filtered = H5Pget_nfilters(dcpl) > 0;
        }
        H5Pclose(dcpl);
    }
    return h5p_cf_decode(d, path, name, part->dtype, raw, &part->dec);
}

h5prep_status h5p_file_open(const char *path, int64_t *file)
{
    struct stat st;
    hid_t f = -1;
    FORWARD_IF_ERROR(open_file_stat(path, &f, &st));
    *file = f;
    return H5PREP_OK;
}

static herr_t scale_name(hid_t did, unsigned dim, hid_t dsid, void *arg)
{
    (void)did, (void)dim;
    char path[512], *name = arg;
    ssize_t n = H5Iget_name(dsid, path, sizeof path);
    const char *base = n > 0 && (size_t)n < sizeof path ? strrchr(path, '/') : NULL;
    if (base && base[1])
        snprintf(name, H5P_DIM_NAME, "%s", base + 1);
    return 1; /* the first scale */
}

void h5p_dataset_dims(int64_t d, int rank, char dims[][H5P_DIM_NAME])
{
    for (int a = 0; a < rank; a++) {
        dims[a][0] = 0;
        if (H5DSget_num_scales(d, (unsigned)a) > 0)
            H5DSiterate_scales(d, (unsigned)a, NULL, scale_name, dims[a]);
    }
}

void h5p_var_labels(const h5p_var *v, h5p_labels *out)
{
    memset(out, 0, sizeof *out);
    if (v->nparts == 0)
        return;
    int64_t f = -1;
    if (h5p_file_open(v->parts[0].path, &f) != H5PREP_OK)
        f = -1;
    hid_t d = f < 0 ? H5I_INVALID_HID : H5Dopen2(f, v->name, H5P_DEFAULT);
    if (d >= 0) {
        h5p_dataset_dims(d, v->rank, out->dims);
        h5p_string_attr(d, "units", out->units, sizeof out->units);
        h5p_string_attr(d, "long_name", out->long_name, sizeof out->long_name);
        H5Dclose(d);
    }
    if (f >= 0)
        H5Fclose(f);
    h5p_clear_error(); /* nothing here fails a run */
}

h5prep_status h5p_part_probe(const char *path, const char *dset, int raw, h5p_part *part, int *rank,
                             uint64_t dims[H5PREP_MAX_RANK])
{
    struct stat st;
    hid_t f = -1, d = -1;
    FORWARD_IF_ERROR(open_file_stat(path, &f, &st));
    h5prep_status s = open_dataset(f, path, dset, &d);
    if (s == H5PREP_OK) {
        s = probe_open(f, d, path, dset, raw, (int64_t)st.st_size, part, rank, dims);
        H5Dclose(d);
    }
    H5Fclose(f);
    part->size = (int64_t)st.st_size;
    part->mtime = (int64_t)st.st_mtime;
    return s;
}

enum { MAP_MIN_BYTES = 64u << 20 }; /* smaller datasets are read; mapping them gains nothing */

/* Maps the data of a contiguous, unfiltered, native-order dataset in a plain (sec2) file. */
static void try_map(h5p_reader *r, hid_t f, hid_t d, const char *path)
{
    size_t want = (size_t)r->part->rows * r->row_bytes;
    if (r->part->big_endian || want < MAP_MIN_BYTES)
        return;
    hid_t dcpl = H5Dget_create_plist(d), fapl = H5Fget_access_plist(f);
    int plain = H5Pget_layout(dcpl) == H5D_CONTIGUOUS && H5Pget_external_count(dcpl) == 0 &&
                H5Pget_driver(fapl) == H5FD_SEC2;
    H5Pclose(dcpl);
    H5Pclose(fapl);
    haddr_t off = H5Dget_offset(d);
    if (!plain || off == HADDR_UNDEF || H5Dget_storage_size(d) != want)
        return;
    struct stat st;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE), start = (size_t)off / page * page;
    if (fstat(fd, &st) == 0 && (uint64_t)st.st_size >= off + want) {
        void *m = mmap(NULL, (size_t)off + want - start, PROT_READ, MAP_SHARED, fd, (off_t)start);
        if (m != MAP_FAILED) {
            r->map = m;
            r->map_len = (size_t)off + want - start;
            r->mapped = (const unsigned char *)m + (off - start);
        }
    }
    close(fd);
}

const void *h5p_reader_view(h5p_reader *r, uint64_t row, uint64_t n)
{
    const unsigned char *p = r->mapped + row * r->row_bytes;
    size_t len = (size_t)n * r->row_bytes, page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p / page * page;
    /* fault the pages in here, in the reader thread, rather than in the compute threads */
    if (madvise((void *)a, len + ((uintptr_t)p - a), MADV_POPULATE_READ) != 0) {
        volatile unsigned char sink = 0;
        for (size_t i = 0; i < len; i += page)
            sink ^= p[i];
        (void)sink;
    }
    return p;
}

/* For a chunked dataset: the value a chunk never written holds (the fill value HDF5 would
 * return; 0 unless one was set), and whether no chunk was written at all. With fill time
 * "never" HDF5 returns no defined value: H5Dread is left to do what it does. */
static void chunk_fill(h5p_reader *r, hid_t d)
{
    hid_t dcpl = H5Dget_create_plist(d);
    H5D_fill_time_t ft = H5D_FILL_TIME_NEVER;
    size_t esize = h5p_dtype_size(r->part->dtype);
    if (dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_fill_time(dcpl, &ft) >= 0 &&
        ft != H5D_FILL_TIME_NEVER && esize <= sizeof r->fill &&
        H5Pget_fill_value(dcpl, (hid_t)r->mem_type, r->fill) >= 0) {
        r->has_fill = 1;
        H5D_space_status_t status;
        r->all_fill = H5Dget_space_status(d, &status) >= 0 && status == H5D_SPACE_STATUS_NOT_ALLOCATED;
    }
    if (dcpl >= 0)
        H5Pclose(dcpl);
}

h5prep_status h5p_reader_open(h5p_reader *r, const h5p_var *v, const h5p_part *part, int allow_map)
{
    struct stat st;
    hid_t f = -1, d = -1;
    memset(r, 0, sizeof *r);
    FORWARD_IF_ERROR(open_file_stat(part->path, &f, &st));
    h5prep_status s = open_dataset(f, part->path, v->name, &d);
    if (s != H5PREP_OK) {
        H5Fclose(f);
        return s;
    }
    r->file = f;
    r->dset = d;
    r->mem_type = mem_type_of(part->dtype);
    r->part = part;
    r->dset_name = v->name;
    r->rank = v->rank;
    memcpy(r->dims, v->dims, sizeof r->dims);
    r->dims[0] = part->rows;
    r->row_bytes = h5p_part_row_bytes(v, part);
    if (allow_map)
        try_map(r, f, d, part->path);
    chunk_fill(r, d);
    char why[96];
    if (r->all_fill) {
        snprintf(r->how, sizeof r->how, "no chunk was ever written: every value is the fill value, nothing is read");
    } else if (r->map) {
        snprintf(r->how, sizeof r->how, "viewed in place (contiguous, mapped)");
    } else if ((r->chunks = h5p_chunks_open(d, r->rank, r->dims, h5p_dtype_size(part->dtype), part->big_endian,
                                            r->has_fill ? r->fill : NULL, why, sizeof why))) {
        const char *filters = h5p_chunks_filters(r->chunks);
        snprintf(r->how, sizeof r->how, "raw chunks %s (%s)",
                 strcmp(filters, "uncompressed") == 0 ? "read into the slab without H5Dread" : "decoded in parallel", filters);
    } else {
        snprintf(r->how, sizeof r->how, "H5Dread (%s)", why);
    }
    return H5PREP_OK;
}

h5prep_status h5p_reader_read(h5p_reader *r, h5p_pool *decode, uint64_t row, uint64_t n, void *dst)
{
    if (r->all_fill) {
        h5p_fill_pattern(dst, (size_t)n * r->row_bytes, r->fill, h5p_dtype_size(r->part->dtype));
        return H5PREP_OK;
    }
    if (decode && r->chunks && h5p_chunks_aligned(r->chunks, row, n)) {
        int unstored = 0;
        FORWARD_IF_ERROR(h5p_chunks_read(r->chunks, decode, row, n, dst, r->part->path, r->dset_name, &unstored));
        if (!unstored)
            return H5PREP_OK;
    }
    hsize_t start[H5S_MAX_RANK] = {0}, count[H5S_MAX_RANK];
    for (int a = 0; a < r->rank; a++)
        count[a] = r->dims[a];
    start[0] = row;
    count[0] = n;
    hid_t fs = H5Dget_space(r->dset);
    hid_t ms = H5Screate_simple(r->rank, count, NULL);
    herr_t e = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    if (e >= 0)
        e = H5Dread(r->dset, r->mem_type, ms, fs, H5P_DEFAULT, dst);
    char why[512] = "";
    if (e < 0) /* before H5Sclose, which clears the error stack */
        snprintf(why, sizeof why, "%s", h5p_hdf5_reason());
    H5Sclose(ms);
    H5Sclose(fs);
    RETURN_ERROR_IF(e < 0, H5PREP_ERR_CORRUPT, "%s:%s: reading rows %llu..%llu failed: the file is damaged (HDF5: %s)",
                    r->part->path, r->dset_name, (unsigned long long)row, (unsigned long long)(row + n - 1), why);
    return H5PREP_OK;
}

void h5p_reader_close(h5p_reader *r)
{
    if (r->map)
        munmap(r->map, r->map_len);
    r->map = NULL;
    h5p_chunks_close(r->chunks);
    r->chunks = NULL;
    if (r->dset > 0)
        H5Dclose(r->dset);
    if (r->file > 0)
        H5Fclose(r->file);
    r->dset = r->file = 0;
}

/* ---- whole small datasets and per-file scalars, read while planning ------------------------- */

/* Stored value x (of type t, read as float64) CF-decoded, or NaN when it is missing. Fill values
 * and integer valid ranges are compared in float64 here, exact for integers below 2^53 (this is
 * for coordinates and labels, not bulk data, whose decoding compares in the stored type). */
static double decode_f64(double x, h5p_dtype t, const h5p_decode *dec)
{
    int is_float = t == H5P_F32 || t == H5P_F64;
    int is_signed = t == H5P_I8 || t == H5P_I16 || t == H5P_I32 || t == H5P_I64;
    int missing = is_float && !(x >= dec->vmin && x <= dec->vmax);
    if (!is_float && dec->int_range)
        missing |= is_signed ? x < (double)dec->lo.i || x > (double)dec->hi.i : x < (double)dec->lo.u || x > (double)dec->hi.u;
    for (int k = 0; k < dec->nfill; k++)
        missing |= x == (is_float ? dec->fill[k].f : is_signed ? (double)dec->fill[k].i : (double)dec->fill[k].u);
    return h5p_decode_value(x, missing, dec);
}

h5prep_status h5p_part_read_f64(const h5p_part *part, const char *dset, uint64_t count, double *dst)
{
    hid_t f = -1, d = -1;
    FORWARD_IF_ERROR(h5p_file_open(part->path, &f));
    h5prep_status st = open_dataset(f, part->path, dset, &d);
    if (st == H5PREP_OK) {
        hid_t sp = H5Dget_space(d);
        hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
        if (n < 0 || (uint64_t)n != count)
            st = h5p_fail(H5PREP_ERR_SHAPE, "%s:%s: %lld values, expected %llu", part->path, dset, (long long)n,
                          (unsigned long long)count);
        else if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0)
            st = h5p_fail(H5PREP_ERR_CORRUPT, "%s:%s: cannot read the dataset (HDF5: %s)", part->path, dset, h5p_hdf5_reason());
        if (sp >= 0)
            H5Sclose(sp);
        H5Dclose(d);
    }
    H5Fclose(f);
    for (uint64_t i = 0; st == H5PREP_OK && i < count; i++)
        dst[i] = decode_f64(dst[i], part->dtype, &part->dec);
    return st;
}

h5prep_status h5p_part_text_attr(const h5p_part *part, const char *dset, const char *name, char *out, size_t cap)
{
    hid_t f = -1, d = -1;
    out[0] = 0;
    FORWARD_IF_ERROR(h5p_file_open(part->path, &f));
    h5prep_status st = open_dataset(f, part->path, dset, &d);
    if (st == H5PREP_OK) {
        st = h5p_cf_text(d, part->path, dset, name, out, cap);
        H5Dclose(d);
    }
    H5Fclose(f);
    return st;
}

/* One numeric value from object `obj` (an attribute of the root group, or a dataset) of file
 * `path`: it must hold exactly one element. */
static h5prep_status read_one(hid_t obj, hid_t type, hid_t space, int is_attr, const char *path, const char *name,
                              double *out)
{
    const char *what = is_attr ? "attribute" : "dataset";
    RETURN_ERROR_IF(type < 0 || space < 0, H5PREP_ERR_CORRUPT, "%s: %s %s: cannot read its type (HDF5: %s)", path, what,
                    name, h5p_hdf5_reason());
    H5T_class_t cls = H5Tget_class(type);
    RETURN_ERROR_IF(cls != H5T_INTEGER && cls != H5T_FLOAT, H5PREP_ERR_DTYPE,
                    "%s: %s %s is %s, not a number (a label must be numeric)", path, what, name,
                    h5p_type_class_name((int)cls));
    hssize_t n = H5Sget_simple_extent_npoints(space);
    RETURN_ERROR_IF(n != 1, H5PREP_ERR_SHAPE, "%s: %s %s holds %lld values; a label is one value per file", path, what,
                    name, (long long)n);
    herr_t e = is_attr ? H5Aread(obj, H5T_NATIVE_DOUBLE, out)
                       : H5Dread(obj, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
    RETURN_ERROR_IF(e < 0, H5PREP_ERR_CORRUPT, "%s: %s %s: cannot read it (HDF5: %s)", path, what, name, h5p_hdf5_reason());
    return H5PREP_OK;
}

h5prep_status h5p_file_scalar(const char *path, const char *name, int is_attr, double *out)
{
    hid_t f = -1, obj = -1;
    FORWARD_IF_ERROR(h5p_file_open(path, &f));
    h5prep_status st = H5PREP_OK;
    if (is_attr) {
        htri_t ex = H5Aexists(f, name);
        if (ex <= 0) {
            st = ex < 0 ? h5p_fail(H5PREP_ERR_CORRUPT, "%s: cannot look attribute %s up (HDF5: %s)", path, name,
                                   h5p_hdf5_reason())
                        : h5p_hint(h5p_fail(H5PREP_ERR_NO_DATASET, "%s: the root group has no attribute %s", path, name),
                                   "list the attributes with 'h5dump -A %s'", path);
        } else {
            obj = H5Aopen(f, name, H5P_DEFAULT);
        }
    } else {
        st = open_dataset(f, path, name, &obj);
    }
    if (st == H5PREP_OK) {
        hid_t t = is_attr ? H5Aget_type(obj) : H5Dget_type(obj), sp = is_attr ? H5Aget_space(obj) : H5Dget_space(obj);
        st = read_one(obj, t, sp, is_attr, path, name, out);
        if (t >= 0)
            H5Tclose(t);
        if (sp >= 0)
            H5Sclose(sp);
    }
    if (obj >= 0)
        is_attr ? H5Aclose(obj) : H5Dclose(obj);
    H5Fclose(f);
    return st;
}
