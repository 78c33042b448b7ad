/* sink.c: writes a transform's rows into <dir>/<split>.h5 (chunked, optionally deflated) and/or
 * <dir>/<split>/<name>-NNNNN.npy shards, then <dir>/index.json. Layout in sink.h and README.md. */
#define _GNU_SOURCE /* fallocate, memfd_create */
#include "output/sink.h"
#include "common/internal.h"
#include "common/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SINK_FORMAT "h5prep-dataset/1"

enum {
    HEADROOM = 1 << 20,         /* HDF5 files: reserved beyond the allocated end, at least ... */
    HEADROOM_STEP = 4 << 20,    /* ... grown in steps to this (see reserve()) */
    AUTO_CHUNK_BYTES = 1 << 20, /* chunk_rows 0: rows per chunk for about this many bytes */
    NPY_BUF_BYTES = 1 << 20     /* per shard being written: smaller writes are gathered here */
};

/* A .npy shard of positioned writes: open until all its rows came. */
typedef struct placed {
    int fd;
    uint64_t left;   /* rows not yet written */
    size_t header;   /* bytes before the data */
} placed;

/* The rows of one (output, split). */
typedef struct stream {
    uint64_t next;         /* rows received so far */
    hid_t dset, fspace;    /* HDF5 dataset and its file space; -1 without HDF5 */
    unsigned char *stage;  /* (chunk_rows, *shape): the rows of a chunk not yet complete */
    uint64_t staged;       /* rows in stage; they end at row `next` */
    int fd;                /* the .npy shard being written, -1 when none */
    uint64_t shard;        /* its number */
    char *shard_path;      /* for messages */
    unsigned char *buf;    /* NPY_BUF_BYTES gathered for fd */
    size_t buffed;
    placed *placed;       /* positioned writes (h5p_sink_write_at): every shard, NULL before */
} stream;

typedef struct output {
    char *name;
    int rank;                         /* per-sample rank */
    uint64_t shape[H5PREP_MAX_RANK];  /* per-sample shape */
    h5p_out_dtype t;
    hid_t ftype, mtype;               /* HDF5 types in the file and in memory; -1 without HDF5 */
    size_t row_bytes;                 /* bytes of one sample */
    uint64_t chunk_rows[H5P_MAX_SPLITS];
    stream st[H5P_MAX_SPLITS];
    json_t *meta;                     /* h5p_sink_describe's, or NULL */
} output;

struct h5p_sink {
    char *dir;
    h5p_write_spec w;                 /* w.dir not kept: `dir` is where this sink writes */
    int nsplits;
    char *split_names[H5P_MAX_SPLITS];
    uint64_t rows[H5P_MAX_SPLITS];
    char *h5_path[H5P_MAX_SPLITS];    /* <dir>/<split>.h5, NULL without HDF5 */
    hid_t file[H5P_MAX_SPLITS];
    int resfd[H5P_MAX_SPLITS];        /* a duplicate of HDF5's descriptor of file[k], or -1 */
    uint64_t reserved[H5P_MAX_SPLITS]; /* bytes of it reserved (fallocate), 0 once not supported */
    output *outs;
    int nouts, cap;
    int writing;                      /* the first write came: no more outputs */
    int closed;
};

/* ---- small helpers ------------------------------------------------------------------------ */

static size_t elem_size(h5p_out_dtype t) { return t == H5P_OUT_F64 ? 8 : t == H5P_OUT_F32 ? 4 : 2; }

static const char *type_name(h5p_out_dtype t)
{
    switch (t) {
    case H5P_OUT_F32: return "float32";
    case H5P_OUT_F64: return "float64";
    case H5P_OUT_F16: return "float16";
    case H5P_OUT_BF16: return "bfloat16";
    }
    return "?";
}

static int host_is_little(void)
{
    uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

/* numpy's descr: bfloat16 is kept as its raw uint16 patterns */
static const char *npy_descr(h5p_out_dtype t)
{
    int le = host_is_little();
    switch (t) {
    case H5P_OUT_F32: return le ? "<f4" : ">f4";
    case H5P_OUT_F64: return le ? "<f8" : ">f8";
    case H5P_OUT_F16: return le ? "<f2" : ">f2";
    case H5P_OUT_BF16: return le ? "<u2" : ">u2";
    }
    return "?";
}

static char *path_printf(const char *fmt, ...) H5P_PRINTF(1, 2);
static char *path_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = n < 0 ? NULL : malloc((size_t)n + 1);
    if (p) {
        va_start(ap, fmt);
        vsnprintf(p, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return p;
}

/* A name that becomes part of a file name. */
static int bad_name(const char *s)
{
    return !s || !*s || strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0;
}

/* IEEE binary16 for HDF5, which has no predefined one; h5py reads it as numpy float16. */
static hid_t make_f16_type(void)
{
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0)
        return t;
    if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 || H5Tset_ebias(t, 15) < 0 ||
        H5Tset_precision(t, 16) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* File and memory types of t (each to be closed). */
static herr_t hdf5_types(h5p_out_dtype t, hid_t *ftype, hid_t *mtype)
{
    *ftype = *mtype = -1;
    switch (t) {
    case H5P_OUT_F32: *ftype = H5Tcopy(H5T_IEEE_F32LE), *mtype = H5Tcopy(H5T_NATIVE_FLOAT); break;
    case H5P_OUT_F64: *ftype = H5Tcopy(H5T_IEEE_F64LE), *mtype = H5Tcopy(H5T_NATIVE_DOUBLE); break;
    case H5P_OUT_BF16: *ftype = H5Tcopy(H5T_STD_U16LE), *mtype = H5Tcopy(H5T_NATIVE_UINT16); break;
    case H5P_OUT_F16:
        *ftype = make_f16_type();
        *mtype = *ftype < 0 ? -1 : H5Tcopy(*ftype);
        if (*mtype >= 0 && H5Tset_order(*mtype, H5Tget_order(H5T_NATIVE_FLOAT)) < 0) {
            H5Tclose(*mtype);
            *mtype = -1;
        }
        break;
    }
    if (*ftype < 0 || *mtype < 0) {
        if (*ftype >= 0)
            H5Tclose(*ftype);
        if (*mtype >= 0)
            H5Tclose(*mtype);
        *ftype = *mtype = -1;
        return -1;
    }
    return 0;
}

/* ---- a full disk with HDF5 ------------------------------------------------------------------
 * libhdf5 1.10 cannot survive a failed write of its metadata cache: the H5Fclose that follows
 * fails and leaves a half-freed file behind its id, which the library's exit handler closes again
 * (SIGSEGV). A failed write of raw data is harmless. So the space HDF5 has allocated (H5Fget_eoa,
 * metadata still in the cache included) is kept reserved, with HEADROOM more, by fallocate
 * (KEEP_SIZE: the file does not grow): a full disk is met here, with a message, before HDF5 meets
 * it; a run that fails points HDF5's descriptor at memory before closing (discard()), so that the
 * last flush of a file that will be removed cannot fail either. */

/* Keeps split k's file reserved to HDF5's allocated end, plus `bytes` about to be written, plus
 * HEADROOM. */
static h5prep_status reserve(h5p_sink *s, int k, uint64_t bytes)
{
    haddr_t eoa = 0;
    if (s->resfd[k] < 0 || s->reserved[k] == 0 || H5Fget_eoa(s->file[k], &eoa) < 0 ||
        (uint64_t)eoa + bytes + HEADROOM <= s->reserved[k])
        return H5PREP_OK;
    uint64_t want = (uint64_t)eoa + bytes + HEADROOM_STEP;
    if (fallocate(s->resfd[k], FALLOC_FL_KEEP_SIZE, (off_t)s->reserved[k], (off_t)(want - s->reserved[k])) == 0) {
        s->reserved[k] = want;
        return H5PREP_OK;
    }
    int e = errno;
    if (e != ENOSPC && e != EDQUOT && e != EFBIG) { /* a file system without fallocate: no reserve */
        s->reserved[k] = 0;
        return H5PREP_OK;
    }
    h5p_fail(H5PREP_ERR_OUTPUT, "%s: no space for the output: %s (after %.1f MiB of it)", s->h5_path[k], strerror(e),
             (double)eoa / (1 << 20));
    return h5p_hint(H5PREP_ERR_OUTPUT, "free some space, or write elsewhere with --out");
}

/* Where split k's HDF5 file will be removed: its descriptor becomes an anonymous memory file, so
 * that whatever HDF5 still flushes on closing it cannot fail. */
static void discard(h5p_sink *s, int k)
{
    int *fdp = NULL;
    if (s->file[k] < 0 || H5Fget_vfd_handle(s->file[k], H5P_DEFAULT, (void **)&fdp) < 0 || !fdp)
        return;
    int m = memfd_create("h5prep-discarded", MFD_CLOEXEC);
    if (m >= 0) {
        dup2(m, *fdp);
        close(m);
    }
}

static h5prep_status create_file(h5p_sink *s, int k)
{
    s->file[k] = H5Fcreate(s->h5_path[k], H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT); /* O_EXCL: never a link */
    RETURN_ERROR_IF(s->file[k] < 0, H5PREP_ERR_OUTPUT, "%s: cannot create the output file (HDF5: %s)", s->h5_path[k],
                    h5p_hdf5_reason());
    int *fdp = NULL;
    if (H5Fget_vfd_handle(s->file[k], H5P_DEFAULT, (void **)&fdp) >= 0 && fdp)
        s->resfd[k] = fcntl(*fdp, F_DUPFD_CLOEXEC, 0);
    s->reserved[k] = 1; /* nothing yet, but supported until fallocate says otherwise */
    return reserve(s, k, 0);
}

/* Closes split k's HDF5 file and gives back the reserve beyond its end. */
static herr_t close_file(h5p_sink *s, int k)
{
    herr_t e = H5Fclose(s->file[k]);
    s->file[k] = -1;
    struct stat sb;
    if (s->resfd[k] >= 0) {
        if (s->reserved[k] > 0 && fstat(s->resfd[k], &sb) == 0)
            e |= ftruncate(s->resfd[k], sb.st_size); /* frees the blocks past the end */
        close(s->resfd[k]);
        s->resfd[k] = -1;
    }
    return e;
}

/* ---- opening ------------------------------------------------------------------------------ */

h5prep_status h5p_sink_open(h5p_sink **out, const char *dir, const h5p_write_spec *w, int nsplits,
                            char *const *split_names, const uint64_t *split_rows)
{
    *out = NULL;
    h5p_hdf5_init();
    RETURN_ERROR_IF(nsplits < 1 || nsplits > H5P_MAX_SPLITS, H5PREP_ERR_INTERNAL,
                    "%s: %d splits (expected 1..%d)", dir, nsplits, (int)H5P_MAX_SPLITS);
    for (int k = 0; k < nsplits; k++)
        RETURN_ERROR_IF(bad_name(split_names[k]), H5PREP_ERR_USAGE,
                        "%s: split name '%s' cannot name a file (expected no '/', not '.' or '..')", dir,
                        split_names[k] ? split_names[k] : "");
    h5p_sink *s = h5p_calloc(1, sizeof *s);
    RETURN_ERROR_IF(!s, H5PREP_ERR_NOMEM, "%s: out of memory", dir);
    s->w = *w;
    s->w.dir = NULL;
    s->nsplits = nsplits;
    for (int k = 0; k < H5P_MAX_SPLITS; k++)
        s->file[k] = -1, s->resfd[k] = -1;
    s->dir = h5p_strdup(dir);
    int nomem = !s->dir;
    for (int k = 0; k < nsplits && !nomem; k++) {
        s->split_names[k] = h5p_strdup(split_names[k]);
        s->rows[k] = split_rows[k];
        if (w->hdf5)
            s->h5_path[k] = path_printf("%s/%s.h5", dir, split_names[k]);
        nomem = !s->split_names[k] || (w->hdf5 && !s->h5_path[k]);
    }
    if (nomem) {
        h5p_sink_free(s);
        return h5p_fail(H5PREP_ERR_NOMEM, "%s: out of memory", dir);
    }
    for (int k = 0; k < nsplits; k++) {
        h5prep_status st = w->hdf5 ? create_file(s, k) : H5PREP_OK;
        if (st != H5PREP_OK) {
            h5p_sink_free(s);
            return st;
        }
        if (w->npy) {
            char *sub = path_printf("%s/%s", dir, split_names[k]);
            int e = !sub ? ENOMEM : mkdir(sub, 0777) != 0 ? errno : 0;
            if (e) {
                h5p_fail(e == ENOMEM ? H5PREP_ERR_NOMEM : H5PREP_ERR_OUTPUT,
                         "%s/%s: cannot create the directory of the .npy shards: %s", dir, split_names[k],
                         strerror(e));
                free(sub);
                h5p_sink_free(s);
                return e == ENOMEM ? H5PREP_ERR_NOMEM : H5PREP_ERR_OUTPUT;
            }
            free(sub);
        }
    }
    *out = s;
    return H5PREP_OK;
}

/* ---- outputs ------------------------------------------------------------------------------ */

/* Rows per HDF5 chunk of output o in split k: the spec's, or about AUTO_CHUNK_BYTES; within
 * 1..split_rows. */
static uint64_t chunk_rows_of(const h5p_sink *s, const output *o, int k)
{
    uint64_t c = s->w.chunk_rows;
    if (c == 0)
        c = o->row_bytes ? AUTO_CHUNK_BYTES / o->row_bytes : s->rows[k];
    if (c > s->rows[k])
        c = s->rows[k];
    return c ? c : 1;
}

static uint64_t shard_rows_of(const h5p_sink *s, int k)
{
    return s->w.shard_rows ? s->w.shard_rows : s->rows[k] ? s->rows[k] : 1;
}

static h5prep_status create_dataset(h5p_sink *s, output *o, int k)
{
    const char *path = s->h5_path[k];
    hsize_t dims[H5PREP_MAX_RANK + 1], maxdims[H5PREP_MAX_RANK + 1], chunk[H5PREP_MAX_RANK + 1];
    dims[0] = s->rows[k];
    chunk[0] = o->chunk_rows[k];
    for (int a = 0; a < o->rank; a++) {
        dims[a + 1] = o->shape[a];
        chunk[a + 1] = o->shape[a] ? o->shape[a] : 1;
    }
    /* HDF5 wants chunk <= max extent: an empty axis may grow, so that (0, ...) stays chunked */
    for (int a = 0; a <= o->rank; a++)
        maxdims[a] = dims[a] ? dims[a] : H5S_UNLIMITED;
    hid_t sp = H5Screate_simple(o->rank + 1, dims, maxdims);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), dapl = H5Pcreate(H5P_DATASET_ACCESS);
    herr_t e = sp < 0 || dcpl < 0 || dapl < 0 ? -1 : 0;
    if (e >= 0) {
        e = H5Pset_chunk(dcpl, o->rank + 1, chunk);
        if (e >= 0 && s->w.gzip > 0)
            e = H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, (unsigned)s->w.gzip) < 0 ? -1 : 0;
        /* chunks arrive whole (stage): a cache would only add a copy */
        if (e >= 0)
            e = H5Pset_chunk_cache(dapl, H5D_CHUNK_CACHE_NSLOTS_DEFAULT, 0, H5D_CHUNK_CACHE_W0_DEFAULT);
        if (e >= 0) {
            o->st[k].dset = H5Dcreate2(s->file[k], o->name, o->ftype, sp, H5P_DEFAULT, dcpl, dapl);
            e = o->st[k].dset < 0 ? -1 : h5p_put_string_attr(o->st[k].dset, "h5prep_dtype", type_name(o->t));
        }
        if (e >= 0)
            e = o->st[k].fspace = H5Dget_space(o->st[k].dset);
    }
    if (sp >= 0)
        H5Sclose(sp);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (dapl >= 0)
        H5Pclose(dapl);
    RETURN_ERROR_IF(e < 0, H5PREP_ERR_OUTPUT, "%s:/%s: cannot create the dataset (HDF5: %s)", path, o->name,
                    h5p_hdf5_reason());
    return reserve(s, k, 0);
}

/* Names shard j of (o, k) in st->shard_path. */
static h5prep_status name_shard(const h5p_sink *s, output *o, int k, uint64_t j)
{
    stream *st = &o->st[k];
    free(st->shard_path);
    st->shard_path = s->w.npy_dask ? path_printf("%s/%s/%s/%llu.npy", s->dir, s->split_names[k], o->name, (unsigned long long)j)
                                   : path_printf("%s/%s/%s-%05llu.npy", s->dir, s->split_names[k], o->name, (unsigned long long)j);
    RETURN_ERROR_IF(!st->shard_path, H5PREP_ERR_NOMEM, "%s: out of memory", s->dir);
    return H5PREP_OK;
}

/* The .npy header of shard j of (o, k) into h (NPY_HEADER_MAX bytes); returns its length.
 * NPY 1.0: magic, version, u16 header length, then the dict padded with spaces and a newline so
 * that the data starts at a multiple of 64 bytes. */
enum { NPY_HEADER_MAX = 128 + 24 * (H5PREP_MAX_RANK + 1) };
static size_t npy_header(const h5p_sink *s, const output *o, int k, uint64_t j, unsigned char *h)
{
    uint64_t sr = shard_rows_of(s, k), row0 = j * sr;
    uint64_t n = s->rows[k] - row0 < sr ? s->rows[k] - row0 : sr;
    char dict[64 + 24 * (H5PREP_MAX_RANK + 1)];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%llu,",
                       npy_descr(o->t), (unsigned long long)n);
    for (int a = 0; a < o->rank; a++)
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%s%llu,", a ? " " : "",
                        (unsigned long long)o->shape[a]);
    if (o->rank > 0)
        len--; /* (n, a, b) but (n,) */
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
    size_t total = ((size_t)(10 + len + 1) + 63) / 64 * 64, hlen = total - 10;
    memcpy(h, "\x93NUMPY\x01\x00", 8);
    h[8] = (unsigned char)(hlen & 0xff), h[9] = (unsigned char)(hlen >> 8);
    memcpy(h + 10, dict, (size_t)len);
    memset(h + 10 + len, ' ', hlen - (size_t)len - 1);
    h[total - 1] = '\n';
    return total;
}

/* Opens shard st->shard of (o, k) and puts its header in the buffer. */
static h5prep_status open_shard(h5p_sink *s, output *o, int k)
{
    stream *st = &o->st[k];
    FORWARD_IF_ERROR(name_shard(s, o, k, st->shard));
    if (!st->buf) {
        st->buf = h5p_malloc(NPY_BUF_BYTES);
        RETURN_ERROR_IF(!st->buf, H5PREP_ERR_NOMEM, "%s: out of memory for the write buffer", st->shard_path);
    }
    st->buffed = npy_header(s, o, k, st->shard, st->buf);
    st->fd = h5p_create_excl(st->shard_path);
    RETURN_ERROR_IF(st->fd < 0, H5PREP_ERR_OUTPUT, "%s: cannot create the shard: %s", st->shard_path,
                    strerror(errno));
    return H5PREP_OK;
}

h5prep_status h5p_sink_add_output(h5p_sink *s, const char *name, int rank, const uint64_t *shape, h5p_out_dtype t)
{
    h5p_hdf5_init();
    RETURN_ERROR_IF(s->writing || s->closed, H5PREP_ERR_INTERNAL,
                    "%s: output '%s' declared after the first write", s->dir, name);
    RETURN_ERROR_IF(bad_name(name), H5PREP_ERR_USAGE,
                    "%s: output name '%s' cannot name a dataset and a file (expected no '/', not '.' or '..')",
                    s->dir, name ? name : "");
    RETURN_ERROR_IF(rank < 0 || rank > H5PREP_MAX_RANK - 1, H5PREP_ERR_INTERNAL,
                    "%s: output '%s' has per-sample rank %d (expected 0..%d)", s->dir, name, rank,
                    H5PREP_MAX_RANK - 1);
    for (int i = 0; i < s->nouts; i++)
        RETURN_ERROR_IF(strcmp(s->outs[i].name, name) == 0, H5PREP_ERR_USAGE, "%s: output '%s' declared twice",
                        s->dir, name);
    size_t row_bytes = elem_size(t);
    for (int a = 0; a < rank; a++) {
        RETURN_ERROR_IF(shape[a] && row_bytes > SIZE_MAX / 2 / shape[a], H5PREP_ERR_USAGE,
                        "%s: output '%s': one sample is too large to address", s->dir, name);
        row_bytes *= (size_t)shape[a];
    }
    if (s->nouts == s->cap) {
        int cap = s->cap ? 2 * s->cap : 4;
        output *outs = realloc(s->outs, (size_t)cap * sizeof *outs);
        RETURN_ERROR_IF(!outs, H5PREP_ERR_NOMEM, "%s: out of memory", s->dir);
        s->outs = outs, s->cap = cap;
    }
    output *o = &s->outs[s->nouts];
    memset(o, 0, sizeof *o);
    o->ftype = o->mtype = -1;
    for (int k = 0; k < H5P_MAX_SPLITS; k++)
        o->st[k].dset = o->st[k].fspace = -1, o->st[k].fd = -1;
    o->name = h5p_strdup(name);
    RETURN_ERROR_IF(!o->name, H5PREP_ERR_NOMEM, "%s: out of memory", s->dir);
    s->nouts++; /* from here h5p_sink_free releases what follows */
    RETURN_ERROR_IF(s->w.hdf5 && hdf5_types(t, &o->ftype, &o->mtype) < 0, H5PREP_ERR_INTERNAL,
                    "%s: cannot build the HDF5 type of %s (HDF5: %s)", s->dir, type_name(t), h5p_hdf5_reason());
    o->rank = rank;
    memcpy(o->shape, shape, (size_t)rank * sizeof *shape);
    o->t = t;
    o->row_bytes = row_bytes;
    for (int k = 0; k < s->nsplits; k++) {
        o->chunk_rows[k] = chunk_rows_of(s, o, k);
        if (s->w.hdf5)
            FORWARD_IF_ERROR(create_dataset(s, o, k));
        if (s->w.npy && s->w.npy_dask) {
            char *sub = path_printf("%s/%s/%s", s->dir, s->split_names[k], o->name);
            int e = !sub ? ENOMEM : mkdir(sub, 0777) != 0 ? errno : 0;
            if (e)
                h5p_fail(e == ENOMEM ? H5PREP_ERR_NOMEM : H5PREP_ERR_OUTPUT, "%s/%s/%s: cannot create the folder of the .npy stack: %s",
                         s->dir, s->split_names[k], o->name, strerror(e));
            free(sub);
            if (e)
                return e == ENOMEM ? H5PREP_ERR_NOMEM : H5PREP_ERR_OUTPUT;
        }
        if (s->w.npy)
            FORWARD_IF_ERROR(open_shard(s, o, k));
    }
    return H5PREP_OK;
}

/* ---- writing ------------------------------------------------------------------------------ */

/* rows [row0, row0 + n) of (o, k) to HDF5 from p */
static h5prep_status hdf5_put(h5p_sink *s, output *o, int k, uint64_t row0, uint64_t n, const void *p)
{
    FORWARD_IF_ERROR(reserve(s, k, n * o->row_bytes));
    stream *st = &o->st[k];
    hsize_t start[H5PREP_MAX_RANK + 1] = {row0}, count[H5PREP_MAX_RANK + 1] = {n};
    for (int a = 0; a < o->rank; a++)
        start[a + 1] = 0, count[a + 1] = o->shape[a];
    hid_t msp = H5Screate_simple(o->rank + 1, count, NULL);
    herr_t e = msp < 0 ? -1 : H5Sselect_hyperslab(st->fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    if (e >= 0)
        e = H5Dwrite(st->dset, o->mtype, msp, st->fspace, H5P_DEFAULT, p);
    if (msp >= 0)
        H5Sclose(msp);
    RETURN_ERROR_IF(e < 0, H5PREP_ERR_OUTPUT, "%s:/%s: cannot write rows %llu..%llu (HDF5: %s)", s->h5_path[k],
                    o->name, (unsigned long long)row0, (unsigned long long)(row0 + n), h5p_hdf5_reason());
    return H5PREP_OK;
}

/* Whole chunks go to HDF5 straight from the caller's rows; the rest waits in the stage until its
 * chunk is complete, so that a compressed chunk is written once. */
static h5prep_status hdf5_append(h5p_sink *s, output *o, int k, uint64_t n, const unsigned char *p)
{
    stream *st = &o->st[k];
    uint64_t row = st->next, c = o->chunk_rows[k], end = s->rows[k];
    while (n > 0) {
        if (st->staged == 0 && row % c == 0) {
            uint64_t m = row + n == end ? n : n / c * c;
            if (m > 0) {
                FORWARD_IF_ERROR(hdf5_put(s, o, k, row, m, p));
                row += m, n -= m, p += m * o->row_bytes;
                continue;
            }
        }
        if (!st->stage) {
            st->stage = h5p_malloc(c * o->row_bytes);
            RETURN_ERROR_IF(!st->stage, H5PREP_ERR_NOMEM, "%s:/%s: out of memory for a chunk of %llu rows",
                            s->h5_path[k], o->name, (unsigned long long)c);
        }
        uint64_t chunk_end = (row / c + 1) * c < end ? (row / c + 1) * c : end;
        uint64_t take = chunk_end - row < n ? chunk_end - row : n;
        memcpy(st->stage + st->staged * o->row_bytes, p, take * o->row_bytes);
        st->staged += take, row += take, n -= take, p += take * o->row_bytes;
        if (row == chunk_end) {
            FORWARD_IF_ERROR(hdf5_put(s, o, k, row - st->staged, st->staged, st->stage));
            st->staged = 0;
        }
    }
    return H5PREP_OK;
}

static h5prep_status npy_flush(stream *st)
{
    RETURN_ERROR_IF(h5p_write_all(st->fd, st->buf, st->buffed) != 0, H5PREP_ERR_OUTPUT, "%s: write failed: %s",
                    st->shard_path, strerror(errno));
    st->buffed = 0;
    return H5PREP_OK;
}

static h5prep_status npy_put(stream *st, const unsigned char *p, size_t bytes)
{
    if (st->buffed + bytes > NPY_BUF_BYTES) {
        FORWARD_IF_ERROR(npy_flush(st));
        if (bytes >= NPY_BUF_BYTES) {
            RETURN_ERROR_IF(h5p_write_all(st->fd, p, bytes) != 0, H5PREP_ERR_OUTPUT, "%s: write failed: %s",
                            st->shard_path, strerror(errno));
            return H5PREP_OK;
        }
    }
    memcpy(st->buf + st->buffed, p, bytes);
    st->buffed += bytes;
    return H5PREP_OK;
}

static h5prep_status close_shard(stream *st)
{
    FORWARD_IF_ERROR(npy_flush(st));
    int e = close(st->fd);
    st->fd = -1;
    RETURN_ERROR_IF(e != 0, H5PREP_ERR_OUTPUT, "%s: closing the shard failed: %s", st->shard_path,
                    strerror(errno));
    return H5PREP_OK;
}

/* Shards end every shard_rows rows; the next one opens only when rows are left for it. */
static h5prep_status npy_append(h5p_sink *s, output *o, int k, uint64_t n, const unsigned char *p)
{
    stream *st = &o->st[k];
    uint64_t row = st->next, sr = shard_rows_of(s, k);
    while (n > 0) {
        uint64_t shard_end = (st->shard + 1) * sr < s->rows[k] ? (st->shard + 1) * sr : s->rows[k];
        uint64_t take = shard_end - row < n ? shard_end - row : n;
        FORWARD_IF_ERROR(npy_put(st, p, take * o->row_bytes));
        row += take, n -= take, p += take * o->row_bytes;
        if (row == shard_end) {
            FORWARD_IF_ERROR(close_shard(st));
            if (row < s->rows[k]) {
                st->shard++;
                FORWARD_IF_ERROR(open_shard(s, o, k));
            }
        }
    }
    return H5PREP_OK;
}

/* Rows [row, row + n) of (o, k) at their place in their shards, each shard open until all its
 * rows came (the first adopts the shard open since h5p_sink_add_output). */
static h5prep_status npy_write_at(h5p_sink *s, output *o, int k, uint64_t row, uint64_t n, const unsigned char *p)
{
    stream *st = &o->st[k];
    uint64_t sr = shard_rows_of(s, k);
    if (!st->placed) {
        uint64_t nshards = CEIL_DIV(s->rows[k], sr);
        st->placed = h5p_malloc(nshards * sizeof *st->placed);
        RETURN_ERROR_IF(!st->placed, H5PREP_ERR_NOMEM, "%s: out of memory for %llu shards", s->dir, (unsigned long long)nshards);
        for (uint64_t j = 0; j < nshards; j++)
            st->placed[j] = (placed){-1, s->rows[k] - j * sr < sr ? s->rows[k] - j * sr : sr, 0};
        st->placed[0].header = st->buffed;
        FORWARD_IF_ERROR(npy_flush(st));
        st->placed[0].fd = st->fd, st->fd = -1;
    }
    while (n > 0) {
        uint64_t j = row / sr, take = (j + 1) * sr - row < n ? (j + 1) * sr - row : n;
        placed *sh = &st->placed[j];
        FORWARD_IF_ERROR(name_shard(s, o, k, j));
        if (sh->fd < 0) {
            unsigned char h[NPY_HEADER_MAX];
            sh->header = npy_header(s, o, k, j, h);
            sh->fd = h5p_create_excl(st->shard_path);
            RETURN_ERROR_IF(sh->fd < 0, H5PREP_ERR_OUTPUT, "%s: cannot create the shard: %s", st->shard_path, strerror(errno));
            RETURN_ERROR_IF(h5p_pwrite_all(sh->fd, h, sh->header, 0) != 0, H5PREP_ERR_OUTPUT, "%s: write failed: %s",
                            st->shard_path, strerror(errno));
        }
        off_t at = (off_t)(sh->header + (row - j * sr) * o->row_bytes);
        RETURN_ERROR_IF(h5p_pwrite_all(sh->fd, p, take * o->row_bytes, at) != 0, H5PREP_ERR_OUTPUT, "%s: write failed: %s",
                        st->shard_path, strerror(errno));
        sh->left -= take;
        if (sh->left == 0) {
            int e = close(sh->fd);
            sh->fd = -1;
            RETURN_ERROR_IF(e != 0, H5PREP_ERR_OUTPUT, "%s: closing the shard failed: %s", st->shard_path, strerror(errno));
        }
        row += take, n -= take, p += take * o->row_bytes;
    }
    return H5PREP_OK;
}

/* (o, k) checked, and rows [row, row + n) within its split. */
static h5prep_status check_write(h5p_sink *s, int o, int k, uint64_t row, uint64_t n)
{
    h5p_hdf5_init();
    RETURN_ERROR_IF(s->closed, H5PREP_ERR_INTERNAL, "%s: write after close", s->dir);
    RETURN_ERROR_IF(o < 0 || o >= s->nouts || k < 0 || k >= s->nsplits, H5PREP_ERR_INTERNAL,
                    "%s: write to output %d of split %d (there are %d outputs and %d splits)", s->dir, o, k,
                    s->nouts, s->nsplits);
    s->writing = 1;
    const output *out = &s->outs[o];
    RETURN_ERROR_IF(row > s->rows[k] || n > s->rows[k] - row || n > s->rows[k] - out->st[k].next, H5PREP_ERR_INTERNAL,
                    "%s: output '%s' of split '%s': writing %llu rows at row %llu exceeds the split's %llu rows",
                    s->dir, out->name, s->split_names[k], (unsigned long long)n, (unsigned long long)row,
                    (unsigned long long)s->rows[k]);
    return H5PREP_OK;
}

h5prep_status h5p_sink_write(h5p_sink *s, int o, int k, uint64_t n, const void *data)
{
    FORWARD_IF_ERROR(check_write(s, o, k, s->outs[o].st[k].next, n));
    output *out = &s->outs[o];
    if (s->w.hdf5)
        FORWARD_IF_ERROR(hdf5_append(s, out, k, n, data));
    if (s->w.npy)
        FORWARD_IF_ERROR(npy_append(s, out, k, n, data));
    out->st[k].next += n;
    return H5PREP_OK;
}

h5prep_status h5p_sink_write_at(h5p_sink *s, int o, int k, uint64_t row, uint64_t n, const void *data)
{
    FORWARD_IF_ERROR(check_write(s, o, k, row, n));
    output *out = &s->outs[o];
    RETURN_ERROR_IF(s->w.hdf5 && s->w.gzip && row != out->st[k].next, H5PREP_ERR_INTERNAL,
                    "%s: output '%s' of split '%s': rows out of order (%llu, expected %llu) for compressed chunks", s->dir,
                    out->name, s->split_names[k], (unsigned long long)row, (unsigned long long)out->st[k].next);
    if (s->w.hdf5)
        FORWARD_IF_ERROR(s->w.gzip ? hdf5_append(s, out, k, n, data) : hdf5_put(s, out, k, row, n, data));
    if (s->w.npy)
        FORWARD_IF_ERROR(npy_write_at(s, out, k, row, n, data));
    out->st[k].next += n; /* rows received */
    return H5PREP_OK;
}

/* ---- the `info` of a .npy stack (layout: dask) ---------------------------------------------- */

/* A Python pickle (protocol 2) of basic values, as pickle.dump writes them, into a buffer. */
typedef struct pickle {
    unsigned char *b;
    size_t len, cap;
    int nomem;
} pickle;

static void pk_bytes(pickle *p, const void *src, size_t n)
{
    if (p->nomem)
        return;
    if (p->len + n > p->cap) {
        size_t cap = (p->len + n) * 2;
        unsigned char *b = realloc(p->b, cap);
        if (!b) {
            p->nomem = 1;
            return;
        }
        p->b = b, p->cap = cap;
    }
    memcpy(p->b + p->len, src, n);
    p->len += n;
}

static void pk_op(pickle *p, unsigned char op) { pk_bytes(p, &op, 1); }

static void pk_int(pickle *p, uint64_t v)
{
    unsigned char b[10];
    int n = v < 0x80000000u ? 4 : 9; /* BININT: 4 bytes signed; LONG1: 9 bytes, the sign bit clear */
    pk_op(p, n == 4 ? 'J' : 0x8a);
    if (n == 9)
        pk_op(p, 9);
    for (int i = 0; i < n; i++)
        b[i] = i < 8 ? (unsigned char)(v >> (8 * i)) : 0;
    pk_bytes(p, b, (size_t)n);
}

static void pk_str(pickle *p, const char *s)
{
    uint32_t n = (uint32_t)strlen(s);
    unsigned char b[4] = {(unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16), (unsigned char)(n >> 24)};
    pk_op(p, 'X'); /* BINUNICODE */
    pk_bytes(p, b, 4);
    pk_bytes(p, s, n);
}

/* <dir>/<split>/<output>/info: {'chunks': ((rows of each shard), (d1,), ...), 'dtype': descr,
 * 'axis': 0}, what dask.array.from_npy_stack(folder) loads (dask/array/core.py, to_npy_stack). */
static h5prep_status write_stack_info(const h5p_sink *s, const output *o, int k)
{
    pickle p = {0};
    pk_bytes(&p, "\x80\x02", 2); /* PROTO 2 */
    pk_op(&p, '}');                /* EMPTY_DICT */
    pk_op(&p, '(');                /* MARK */
    pk_str(&p, "chunks");
    pk_op(&p, '(');
    pk_op(&p, '(');
    uint64_t sr = shard_rows_of(s, k);
    for (uint64_t row0 = 0, i = 0; i == 0 || row0 < s->rows[k]; i++, row0 += sr)
        pk_int(&p, s->rows[k] - row0 < sr ? s->rows[k] - row0 : sr);
    pk_op(&p, 't'); /* TUPLE */
    for (int a = 0; a < o->rank; a++) {
        pk_op(&p, '(');
        pk_int(&p, o->shape[a]);
        pk_op(&p, 't');
    }
    pk_op(&p, 't');
    pk_str(&p, "dtype");
    pk_str(&p, npy_descr(o->t));
    pk_str(&p, "axis");
    pk_int(&p, 0);
    pk_op(&p, 'u'); /* SETITEMS */
    pk_op(&p, '.'); /* STOP */
    char *path = p.nomem ? NULL : path_printf("%s/%s/%s/info", s->dir, s->split_names[k], o->name);
    if (!path) {
        free(p.b);
        return h5p_fail(H5PREP_ERR_NOMEM, "%s: out of memory", s->dir);
    }
    int fd = h5p_create_excl(path);
    int e = fd < 0 || h5p_write_all(fd, p.b, p.len) != 0 ? errno : 0;
    if (fd >= 0 && close(fd) != 0 && !e)
        e = errno;
    free(p.b);
    if (e)
        h5p_fail(H5PREP_ERR_OUTPUT, "%s: cannot write the .npy stack's info: %s", path, strerror(e));
    free(path);
    return e ? H5PREP_ERR_OUTPUT : H5PREP_OK;
}

/* ---- what the outputs are ---------------------------------------------------------------- */

/* netCDF-4's mark of a dimension that has no coordinate variable (netCDF-C's nc4hdf.c). */
#define NC_DIM_WITHOUT_VARIABLE "This is a netCDF dimension but not a netCDF variable."

/* The dimension scale `name` of length len in file f: opened, or created as netCDF-4 does for a
 * dimension without values (float32, no storage written). -1 when there is one of another length
 * or no dimension scale by that name. */
static hid_t dimension(hid_t f, const char *name, uint64_t len)
{
    htri_t ex = H5Lexists(f, name, H5P_DEFAULT);
    if (ex < 0)
        return -1;
    if (ex > 0) {
        hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
        hid_t sp = d < 0 ? -1 : H5Dget_space(d);
        hsize_t n = 0;
        int ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1 && H5Sget_simple_extent_dims(sp, &n, NULL) == 1 &&
                 n == len && H5DSis_scale(d) > 0;
        if (sp >= 0)
            H5Sclose(sp);
        if (!ok && d >= 0)
            H5Dclose(d);
        return ok ? d : -1;
    }
    hsize_t dims = len, maxdims = len ? len : H5S_UNLIMITED, chunk = 1;
    hid_t sp = H5Screate_simple(1, &dims, &maxdims), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (len == 0 && dcpl >= 0)
        H5Pset_chunk(dcpl, 1, &chunk);
    hid_t d = sp < 0 || dcpl < 0 ? -1 : H5Dcreate2(f, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    char mark[96];
    snprintf(mark, sizeof mark, "%s%10llu", NC_DIM_WITHOUT_VARIABLE, (unsigned long long)len);
    if (d >= 0 && H5DSset_scale(d, mark) < 0) {
        H5Dclose(d);
        d = -1;
    }
    if (sp >= 0)
        H5Sclose(sp);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    return d;
}

/* The netCDF-4 coordinate variable `name` (a dimension scale named as itself) holding `labels`
 * (a JSON array of strings) as variable-length UTF-8 strings: xarray's string coordinate of that
 * dimension. -1 when something by that name exists. */
static hid_t coordinate(hid_t f, const char *name, const json_t *labels)
{
    if (H5Lexists(f, name, H5P_DEFAULT) != 0)
        return -1;
    hsize_t n = json_array_size(labels);
    const char **text = malloc((n ? n : 1) * sizeof *text);
    for (hsize_t i = 0; text && i < n; i++)
        text[i] = json_string_value(json_array_get(labels, i));
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate_simple(1, &n, NULL);
    herr_t e = !text || t < 0 || sp < 0 || H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0 ? -1 : 0;
    hid_t d = e < 0 ? -1 : H5Dcreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0 && (H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, text) < 0 || H5DSset_scale(d, name) < 0)) {
        H5Dclose(d);
        d = -1;
    }
    free(text);
    if (t >= 0)
        H5Tclose(t);
    if (sp >= 0)
        H5Sclose(sp);
    return d;
}

/* The dimension of axis a of o: a coordinate of the channel labels on its channel axis, else
 * netCDF's dimension without values. */
static hid_t axis_dimension(hid_t f, const output *o, int a, const char *name, uint64_t len)
{
    const json_t *ch = json_object_get(o->meta, "channels"), *labels = json_object_get(ch, "labels");
    if (labels && json_integer_value(json_object_get(ch, "axis")) == a)
        return coordinate(f, name, labels);
    return dimension(f, name, len);
}

/* A JSON value as an attribute: strings as they are, the rest as compact JSON text. */
static herr_t json_attr(hid_t d, const char *name, const json_t *v)
{
    if (!v)
        return 0;
    if (json_is_string(v))
        return h5p_put_string_attr(d, name, json_string_value(v));
    char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    herr_t e = text ? h5p_put_string_attr(d, name, text) : -1;
    free(text);
    return e;
}

static int is_output_name(const h5p_sink *s, const char *name)
{
    for (int i = 0; i < s->nouts; i++)
        if (strcmp(s->outs[i].name, name) == 0)
            return 1;
    return 0;
}

static h5prep_status describe_hdf5(h5p_sink *s, output *o, int k, const h5p_output_labels *lab)
{
    hid_t d = o->st[k].dset;
    herr_t e = json_attr(d, "h5prep_from", json_object_get(o->meta, "from"));
    if (e >= 0)
        e = json_attr(d, "h5prep_normalize", json_object_get(o->meta, "normalize"));
    if (e >= 0)
        e = json_attr(d, "h5prep_cast", json_object_get(o->meta, "cast"));
    if (e >= 0 && *lab->units)
        e = h5p_put_string_attr(d, "units", lab->units);
    if (e >= 0 && *lab->long_name)
        e = h5p_put_string_attr(d, "long_name", lab->long_name);
    for (int a = 0; e >= 0 && a <= o->rank; a++) {
        uint64_t len = a == 0 ? s->rows[k] : o->shape[a - 1];
        char name[160];
        /* an output's own name is a variable, not a dimension */
        snprintf(name, sizeof name, "%s%s", is_output_name(s, lab->dims[a]) ? "dim_" : "", lab->dims[a]);
        hid_t dim = axis_dimension(s->file[k], o, a, name, len);
        if (dim < 0) { /* taken by an axis of another length, or by another coordinate */
            snprintf(name, sizeof name, "%s_%s", o->name, lab->dims[a]);
            dim = axis_dimension(s->file[k], o, a, name, len);
        }
        e = dim < 0 ? -1 : H5DSattach_scale(d, dim, (unsigned)a);
        if (dim >= 0)
            H5Dclose(dim);
    }
    RETURN_ERROR_IF(e < 0, H5PREP_ERR_OUTPUT, "%s:/%s: cannot write what the output is (attributes, dimensions) (HDF5: %s)",
                    s->h5_path[k], o->name, h5p_hdf5_reason());
    return H5PREP_OK;
}

h5prep_status h5p_sink_describe(h5p_sink *s, int o, json_t *meta, const h5p_output_labels *lab)
{
    RETURN_ERROR_IF(o < 0 || o >= s->nouts || s->writing || s->closed || !json_is_object(meta), H5PREP_ERR_INTERNAL,
                    "%s: output %d described out of turn", s->dir, o);
    output *out = &s->outs[o];
    json_decref(out->meta);
    out->meta = json_incref(meta);
    for (int k = 0; s->w.hdf5 && k < s->nsplits; k++)
        FORWARD_IF_ERROR(describe_hdf5(s, out, k, lab));
    return H5PREP_OK;
}

/* ---- closing ------------------------------------------------------------------------------ */

static json_t *output_json(const h5p_sink *s, const output *o, int k)
{
    json_t *shape = json_array();
    json_array_append_new(shape, json_integer((json_int_t)s->rows[k]));
    for (int a = 0; a < o->rank; a++)
        json_array_append_new(shape, json_integer((json_int_t)o->shape[a]));
    json_t *j = json_pack("{s:o, s:s}", "shape", shape, "dtype", type_name(o->t));
    if (!j)
        return NULL;
    if (o->t == H5P_OUT_BF16)
        json_object_set_new(j, "stored_as", json_string("uint16"));
    if (s->w.npy) {
        json_t *shards = json_array();
        uint64_t sr = shard_rows_of(s, k);
        for (uint64_t i = 0, row0 = 0; i == 0 || row0 < s->rows[k]; i++, row0 += sr) {
            json_t *path = s->w.npy_dask ? json_sprintf("%s/%s/%llu.npy", s->split_names[k], o->name, (unsigned long long)i)
                                         : json_sprintf("%s/%s-%05llu.npy", s->split_names[k], o->name, (unsigned long long)i);
            uint64_t n = s->rows[k] - row0 < sr ? s->rows[k] - row0 : sr;
            json_array_append_new(shards, json_pack("{s:o, s:I, s:I}", "path", path, "row0", (json_int_t)row0,
                                                    "rows", (json_int_t)n));
        }
        json_object_set_new(j, "npy", shards);
        if (s->w.npy_dask)
            json_object_set_new(j, "npy_stack", json_sprintf("%s/%s", s->split_names[k], o->name));
    }
    return j;
}

static h5prep_status write_index(const h5p_sink *s, const char *extra)
{
    char *path = path_printf("%s/index.json", s->dir);
    RETURN_ERROR_IF(!path, H5PREP_ERR_NOMEM, "%s: out of memory", s->dir);
    json_t *doc = json_pack("{s:s}", "format", SINK_FORMAT), *splits = json_object();
    for (int k = 0; k < s->nsplits; k++) {
        json_t *sp = json_pack("{s:I}", "rows", (json_int_t)s->rows[k]), *outs = json_object();
        if (s->w.hdf5)
            json_object_set_new(sp, "hdf5", json_sprintf("%s.h5", s->split_names[k]));
        for (int i = 0; i < s->nouts; i++)
            json_object_set_new(outs, s->outs[i].name, output_json(s, &s->outs[i], k));
        json_object_set_new(sp, "outputs", outs);
        json_object_set_new(splits, s->split_names[k], sp);
    }
    json_object_set_new(doc, "splits", splits);
    json_t *described = json_object();
    for (int i = 0; described && i < s->nouts; i++)
        if (s->outs[i].meta)
            json_object_set(described, s->outs[i].name, s->outs[i].meta);
    if (json_object_size(described))
        json_object_set_new(doc, "outputs", described);
    else
        json_decref(described);
    if (extra) {
        json_error_t err;
        json_t *x = json_loads(extra, 0, &err);
        const char *key;
        json_t *v;
        int bad = !json_is_object(x);
        if (!bad)
            json_object_foreach(x, key, v) bad |= json_object_get(doc, key) != NULL;
        if (bad) {
            json_decref(x), json_decref(doc), free(path);
            return h5p_fail(H5PREP_ERR_INTERNAL,
                            "%s/index.json: the extra keys are not a JSON object apart from format, splits and outputs",
                            s->dir);
        }
        json_object_update(doc, x);
        json_decref(x);
    }
    char *text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!text) {
        free(path);
        return h5p_fail(H5PREP_ERR_NOMEM, "%s/index.json: out of memory while building the index", s->dir);
    }
    int fd = h5p_create_excl(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    int e = f ? 0 : errno;
    if (!f && fd >= 0)
        close(fd);
    if (f) {
        int bad = fputs(text, f) < 0 || fputc('\n', f) == EOF;
        e = bad ? errno : 0;
        if (fclose(f) != 0 && !e)
            e = errno;
        if (bad && !e)
            e = EIO;
    }
    free(text);
    if (e) {
        h5p_fail(H5PREP_ERR_OUTPUT, "%s: cannot write the index: %s", path, strerror(e));
        free(path);
        return H5PREP_ERR_OUTPUT;
    }
    free(path);
    return H5PREP_OK;
}

h5prep_status h5p_sink_close(h5p_sink *s, const char *extra)
{
    h5p_hdf5_init();
    RETURN_ERROR_IF(s->closed, H5PREP_ERR_INTERNAL, "%s: sink closed twice", s->dir);
    s->closed = 1;
    for (int i = 0; i < s->nouts; i++)
        for (int k = 0; k < s->nsplits; k++)
            RETURN_ERROR_IF(s->outs[i].st[k].next != s->rows[k], H5PREP_ERR_INTERNAL,
                            "%s: output '%s' of split '%s' got %llu of its %llu rows", s->dir, s->outs[i].name,
                            s->split_names[k], (unsigned long long)s->outs[i].st[k].next,
                            (unsigned long long)s->rows[k]);
    for (int i = 0; i < s->nouts; i++)
        for (int k = 0; k < s->nsplits; k++) {
            stream *st = &s->outs[i].st[k];
            if (st->fd >= 0) /* a split of 0 rows: its one shard holds the header alone */
                FORWARD_IF_ERROR(close_shard(st));
            if (s->w.npy && s->w.npy_dask)
                FORWARD_IF_ERROR(write_stack_info(s, &s->outs[i], k));
            if (st->fspace >= 0)
                H5Sclose(st->fspace), st->fspace = -1;
            if (st->dset >= 0) {
                herr_t e = H5Dclose(st->dset);
                st->dset = -1;
                RETURN_ERROR_IF(e < 0, H5PREP_ERR_OUTPUT, "%s:/%s: closing the dataset failed (HDF5: %s)",
                                s->h5_path[k], s->outs[i].name, h5p_hdf5_reason());
            }
        }
    for (int k = 0; k < s->nsplits; k++)
        if (s->file[k] >= 0) {
            herr_t e = close_file(s, k);
            RETURN_ERROR_IF(e < 0, H5PREP_ERR_OUTPUT, "%s: closing the file failed (HDF5: %s)", s->h5_path[k],
                            h5p_hdf5_reason());
        }
    return write_index(s, extra);
}

void h5p_sink_free(h5p_sink *s)
{
    if (!s)
        return;
    for (int k = 0; k < H5P_MAX_SPLITS; k++)
        discard(s, k); /* still open: the run failed, and the directory goes */
    for (int i = 0; i < s->nouts; i++) {
        for (int k = 0; k < H5P_MAX_SPLITS; k++) {
            stream *st = &s->outs[i].st[k];
            if (st->fd >= 0)
                close(st->fd);
            if (st->fspace >= 0)
                H5Sclose(st->fspace);
            if (st->dset >= 0)
                H5Dclose(st->dset);
            for (uint64_t j = 0; st->placed && j < CEIL_DIV(s->rows[k], shard_rows_of(s, k)); j++)
                if (st->placed[j].fd >= 0)
                    close(st->placed[j].fd);
            free(st->placed);
            free(st->stage);
            free(st->buf);
            free(st->shard_path);
        }
        if (s->outs[i].ftype >= 0)
            H5Tclose(s->outs[i].ftype), H5Tclose(s->outs[i].mtype);
        free(s->outs[i].name);
        json_decref(s->outs[i].meta);
    }
    free(s->outs);
    for (int k = 0; k < H5P_MAX_SPLITS; k++) {
        if (s->file[k] >= 0)
            close_file(s, k);
        free(s->split_names[k]);
        free(s->h5_path[k]);
    }
    free(s->dir);
    free(s);
}
