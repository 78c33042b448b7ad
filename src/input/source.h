/* source.h: the input stage (src/input): HDF5 files opened and checked, CF attributes, slabs read.
 * The ring's reader threads call h5p_reader_*; the rest runs before any data is read. */
#ifndef H5PREP_SOURCE_H
#define H5PREP_SOURCE_H

#include "h5prep.h"
#include "input/chunks.h"
#include "common/decode.h"
#include "common/dtype.h"
#include "common/moments.h"
#include "common/pool.h"

#include <stddef.h>
#include <stdint.h>


/* One file's share of a logical dataset. */
typedef struct h5p_part {
    char *path;
    uint64_t rows, row0;   /* rows along axis 0 here; global index of the first */
    uint64_t chunk_rows;   /* chunk extent along axis 0, 0 when not chunked */
    uint64_t row_chunks;   /* chunks side by side in one chunk-row (the other axes) */
    uint64_t chunk_bytes;  /* one chunk, uncompressed, 0 when not chunked */
    int filtered;          /* chunks pass through filters (compression) */
    h5p_dtype dtype;
    int big_endian;        /* as stored; slabs are converted to native order by HDF5 */
    h5p_decode dec;
    int64_t size, mtime;   /* for provenance */
} h5p_part;

/* A logical dataset: the same path in one or more files, concatenated along axis 0. */
typedef struct h5p_var {
    char *name;
    int rank;
    uint64_t dims[H5PREP_MAX_RANK]; /* dims[0] summed over parts */
    int keep_first, keep_count;
    h5p_part *parts;
    size_t nparts;
    h5p_moments *result;            /* n_features states, filled by a run or a load */
    char how[160];                  /* how the first file was read, for --verbose */
    int ntend;                      /* tendency lags (engine/tendency.h), ascending */
    int tend_lag[H5PREP_MAX_TENDENCIES];
    h5p_moments *tend;              /* (ntend, n_features) states of x[t+lag] - x[t], or NULL */
    uint64_t edge_rows;             /* with tend: the longest lag, the rows of edge_head and edge_tail; 0: none kept */
    double *edge_head, *edge_tail;  /* (edge_rows, dims[1:]) the first and last decoded rows (NaN: missing) */
    struct h5p_sketch *sketch;      /* the quantile sketch of the features (common/sketch.h), or NULL */
    double *wsum;                   /* (n_features,) sums of weights of a weighted run or load, else NULL */
    int weights_axis;               /* a weighted run's data axis of 1-D weights, -1 for an array */
    const struct h5p_weights *weights; /* a transform's output weighted by its recipe (not owned,
                                          input/weights.h): written beside wsum, else NULL */
} h5p_var;

uint64_t h5p_var_features(const h5p_var *v);
uint64_t h5p_var_row_elems(const h5p_var *v);
/* Bytes of one row along axis 0 of part p of v, as staged. */
size_t h5p_part_row_bytes(const h5p_var *v, const h5p_part *p);

/* Opens `path`:`dset`, checks that it is a numeric dataset of rank >= 1 with no zero-length
 * dimension, and fills `part` (row0 = 0) plus the rank and dims. */
h5prep_status h5p_part_probe(const char *path, const char *dset, int raw, h5p_part *part,
                             int *rank, uint64_t dims[H5PREP_MAX_RANK]);

/* What a dataset says about itself, for outputs made of it: the name of each axis (netCDF-4's
 * dimension, the dimension scale attached to it: the scale dataset's name), "" where none, and
 * the units and long_name string attributes, "" where absent. */
enum { H5P_DIM_NAME = 64 }; /* bytes of an axis name, with its NUL */
typedef struct h5p_labels {
    char dims[H5PREP_MAX_RANK][H5P_DIM_NAME];
    char units[128], long_name[256];
} h5p_labels;

/* The labels of v as its first file has them; nothing is an error (a label that cannot be read
 * stays ""). */
void h5p_var_labels(const h5p_var *v, h5p_labels *out);

/* The name of each of the first `rank` axes of the open dataset d (hid_t): the dimension scale
 * attached to it (netCDF-4's dimension), "" where none. */
void h5p_dataset_dims(int64_t d, int rank, char dims[][H5P_DIM_NAME]);

/* Opens an HDF5 file read-only, telling a missing file, a non-HDF5 file and a damaged one apart.
 * Files are held open after their first open, until h5p_files_release: the caller still closes
 * what it gets (H5Fclose). */
h5prep_status h5p_file_open(const char *path, int64_t *file);
/* Closes the files held open by earlier opens; called when a public call that reads inputs ends
 * (a run, a plan, an info, the destruction of a statistics set). */
void h5p_files_release(void);

/* Looks `name` (an absolute path) up in the open file f (hid_t) of `path`: H5PREP_ERR_NO_DATASET
 * with a did-you-mean hint when it does not exist; *type gets its H5O_type_t (a group, a dataset). */
h5prep_status h5p_object_lookup(int64_t f, const char *path, const char *name, int *type);

/* Every value of dataset `dset` of one file (count values: the caller knows its shape) as
 * float64, CF-decoded, NaN where missing. For small datasets read while planning (a split's time
 * coordinate); the ring reads bulk data. */
h5prep_status h5p_part_read_f64(const h5p_part *part, const char *dset, uint64_t count, double *dst);

/* The string attribute `name` of dataset `dset` of one file ("" when absent or not a string). */
h5prep_status h5p_part_text_attr(const h5p_part *part, const char *dset, const char *name, char *out, size_t cap);

/* The one numeric value of attribute `name` of the root group (is_attr), or of the dataset
 * `name` (a 0-d or one-element dataset), of file `path`, as float64 (no CF decoding). */
h5prep_status h5p_file_scalar(const char *path, const char *name, int is_attr, double *out);

/* An open dataset for reading slabs. */
typedef struct h5p_reader {
    int64_t file, dset; /* hid_t */
    int64_t mem_type;
    const h5p_part *part;
    const char *dset_name;
    int rank;
    uint64_t dims[H5PREP_MAX_RANK];
    size_t row_bytes;
    void *map;          /* the file mapped read-only, when the dataset can be viewed in place */
    size_t map_len;
    const unsigned char *mapped; /* first byte of the dataset's data inside map */
    h5p_chunks *chunks;          /* parallel chunk decoding, when the filters allow it */
    int has_fill;                /* chunked: fill[] is what a chunk never written holds */
    int all_fill;                /* chunked and no chunk was ever written: rows are fill[] */
    unsigned char fill[16];      /* one element, native order */
    char how[160];               /* how the data is read, for --verbose */
} h5p_reader;

/* Opens the part's dataset. With allow_map, a large contiguous dataset stored unfiltered in
 * native byte order is mapped so that h5p_reader_view can hand out its rows without a copy. */
h5prep_status h5p_reader_open(h5p_reader *r, const h5p_var *v, const h5p_part *part, int allow_map);
/* Reads rows [row, row+n) of the part (local indices) into dst, in native order. Compressed
 * chunks are decoded on `decode` when it is given and the slab is chunk-aligned; chunks never
 * written are filled in with the fill value without asking HDF5 for them (a dataset none of
 * whose chunks was written is not read at all). */
h5prep_status h5p_reader_read(h5p_reader *r, h5p_pool *decode, uint64_t row, uint64_t n, void *dst);
/* Rows [row, row+n) in place (mapped readers only), paged in before it returns. */
const void *h5p_reader_view(h5p_reader *r, uint64_t row, uint64_t n);
void h5p_reader_close(h5p_reader *r);

#endif
