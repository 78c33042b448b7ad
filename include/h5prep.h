/* h5prep.h: the public API of libh5prep: streaming normalization statistics and model-ready tensors
 * from HDF5/netCDF-4. Plain C, no HDF5 or CUDA types; the `h5prep` CLI uses this header alone. */
#ifndef H5PREP_H
#define H5PREP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define H5PREP_STATS_FORMAT "h5prep-stats/1"
#define H5PREP_MAX_RANK 32
#define H5PREP_MAX_SLOTS 63      /* h5prep_stats_config.slots at most (the transform's ring has one more) */
#define H5PREP_MAX_SPLITS 8      /* splits of a transform */
#define H5PREP_MAX_SPLIT_NAME 63 /* bytes of a split's name, without the terminating NUL */
#define H5PREP_MAX_TENDENCIES 16 /* lags of h5prep_stats_add_tendency */

/* The library's version, "MAJOR.MINOR.PATCH" (the project version of CMakeLists.txt). */
const char *h5prep_version(void);

/* Statuses are stable; the CLI uses the value as its exit code. */
typedef enum h5prep_status {
    H5PREP_OK = 0,
    H5PREP_ERR_INTERNAL = 1,       /* an HDF5 or system call failed unexpectedly */
    H5PREP_ERR_USAGE = 2,          /* invalid argument or option */
    H5PREP_ERR_FILE_NOT_FOUND = 3, /* no such file, or a glob that matched nothing */
    H5PREP_ERR_NOT_HDF5 = 4,       /* the file is not HDF5 (nor netCDF-4) */
    H5PREP_ERR_CORRUPT = 5,        /* an HDF5 file that cannot be opened or read: truncated, damaged */
    H5PREP_ERR_NO_DATASET = 6,     /* the dataset path does not exist in the file */
    H5PREP_ERR_NOT_DATASET = 7,    /* the path names a group or a named type */
    H5PREP_ERR_DTYPE = 8,          /* not a numeric type (string, compound, ...) */
    H5PREP_ERR_SHAPE = 9,          /* shapes differ across the files of one dataset */
    H5PREP_ERR_EMPTY = 10,         /* a dimension of length zero, or a scalar dataset */
    H5PREP_ERR_AXES = 11,          /* invalid keep-axes for the dataset's rank */
    H5PREP_ERR_OUTPUT = 12,        /* the output cannot be written */
    H5PREP_ERR_NOMEM = 13,         /* out of memory, or the memory budget is too small */
    H5PREP_ERR_BACKEND = 14,       /* the requested backend is not available */
    H5PREP_ERR_STATE = 15,         /* a statistics file that cannot be read or merged */
    H5PREP_ERR_INTERRUPTED = 16    /* h5prep_interrupt() was called during a run */
} h5prep_status;

/* A short description of a status ("dataset not found"). */
const char *h5prep_status_str(h5prep_status s);

/* The message of the last failing call in this thread: names the file, the dataset, what was
 * expected and what was found, and may end with a line "hint: ...". Empty when none failed. */
const char *h5prep_last_error(void);

/* Asks a running h5prep_stats_run() or h5prep_transform() to stop at the next slab
 * (async-signal-safe). */
void h5prep_interrupt(void);

typedef enum h5prep_backend {
    H5PREP_BACKEND_AUTO = 0, /* CUDA when a device answers, else the CPU */
    H5PREP_BACKEND_CPU = 1,
    H5PREP_BACKEND_CUDA = 2
} h5prep_backend;

/* Progress of a run: called from the computing thread after each slab. */
typedef struct h5prep_progress {
    uint64_t rows_done, rows_total;   /* rows along axis 0, summed over all datasets */
    uint64_t bytes_done, bytes_total; /* bytes as stored (uncompressed) */
    double seconds;                   /* since the run started */
} h5prep_progress;
typedef void (*h5prep_progress_fn)(const h5prep_progress *p, void *user);

#define H5PREP_KEEP_DEFAULT (-1000) /* keep_first: the last axis, or none for a 1-D dataset */

typedef struct h5prep_stats_config {
    int keep_first;         //!< first axis kept as features; negative counts from the end (H5PREP_KEEP_DEFAULT).
    int keep_count;         //!< number of consecutive kept axes; 0 gives one scalar statistic (1).
    int ddof;               //!< delta degrees of freedom for var and std (0).
    int raw;                //!< 1 turns CF decoding off: no fill values, packing or valid range (0).
    size_t mem_bytes;       //!< staging memory for all ring slots together (512 MiB).
    int slots;              //!< ring slots: buffers the reader may fill ahead of compute, 1..H5PREP_MAX_SLOTS (2).
    int threads;            //!< compute threads; 0 uses every core (0).
    h5prep_backend backend; //!< backend (H5PREP_BACKEND_AUTO).
    int device;             //!< CUDA device ordinal (0).
    h5prep_progress_fn progress; //!< called after each slab, may be NULL (NULL).
    void *progress_user;    //!< passed to progress (NULL).
    /* Quantiles and histograms from a per-feature sketch (README.md, "Quantiles and histograms"):
     * computed when nquantiles or histogram_bins is not 0, by the run's backend (CPU or CUDA:
     * the same bytes). */
    const double *quantiles; //!< levels in (0, 1) reported per feature; must live as long as the handle (NULL).
    size_t nquantiles;       //!< entries in quantiles (0).
    int histogram_bins;      //!< equal-width bins between each feature's min and max, counts from the sketch; 0: none (0).
    double sketch_alpha;     //!< relative accuracy of the sketch's values, in [1e-6, 0.5] (0.01).
    int sketch_buckets;      //!< buckets per sign and feature kept before the lowest magnitudes collapse, 16..1048576 (2048).
} h5prep_stats_config;

h5prep_stats_config h5prep_stats_config_default(void);

/* A set of per-variable statistics: filled by a run or by loading state files. */
typedef struct h5prep_stats h5prep_stats;

h5prep_stats *h5prep_stats_create(const h5prep_stats_config *cfg);
void h5prep_stats_destroy(h5prep_stats *s); /* accepts NULL */

/* Adds an input "FILE:DATASET" (FILE may be a glob; the split is at the first ":/", else at the
 * last ':'). Files are opened and checked now: shape, type, keep-axes. The same dataset path given
 * again, or matched in several files, is one logical dataset concatenated along axis 0 (arguments
 * in the order given; a warning through the warning handler says that two arguments became one);
 * a file given twice for one dataset is refused (H5PREP_ERR_USAGE). */
h5prep_status h5prep_stats_add(h5prep_stats *s, const char *file_and_dataset);

/* Adds, for every variable, the statistics of the tendency d = x[t+lag] - x[t] along axis 0 (the
 * rows of all files of a dataset in order, so pairs span files), per feature as the moments: a pair
 * with a missing side is left out and counted as missing; d is formed in float64 of the decoded
 * values. lag >= 1, at most H5PREP_MAX_TENDENCIES lags, each once (H5PREP_ERR_USAGE). A run
 * refuses variables that keep axis 0 (H5PREP_ERR_AXES) or have no more rows than the lag
 * (H5PREP_ERR_SHAPE). */
h5prep_status h5prep_stats_add_tendency(h5prep_stats *s, int lag);

/* Makes the run part `index` (1-based) of `count`: it reduces the index-th of count shares of each
 * variable's blocks, and its document (JSON) records what h5prep_stats_load needs to merge all
 * count parts into exactly the result of one run. Variables keeping axis 0 cannot be parted. */
h5prep_status h5prep_stats_set_part(h5prep_stats *s, int index, int count);

/* Streams every added input once and computes the statistics. */
h5prep_status h5prep_stats_run(h5prep_stats *s);

/* The backend a run used ("cpu"), or NULL before a run; and a one-line notice when AUTO fell
 * back from CUDA to the CPU, else NULL. */
const char *h5prep_stats_backend_name(const h5prep_stats *s);
const char *h5prep_stats_backend_notice(const h5prep_stats *s);
/* The instruction set path the CPU backend's kernels ran ("generic", "avx2" or "avx512": the
 * widest this CPU runs, or the environment variable H5PREP_ISA), or NULL before a run and for
 * other backends. Every path gives the same bits. */
const char *h5prep_stats_backend_isa(const h5prep_stats *s);

/* Merges a state file (.json or .h5 written by h5prep) into s: variables of the same name are
 * combined exactly (Chan et al.), new ones are added. */
h5prep_status h5prep_stats_load(h5prep_stats *s, const char *path);
/* The same from a JSON document in memory (as h5prep_stats_json gives it); `name` stands for it in
 * messages and in provenance.merged_from. */
h5prep_status h5prep_stats_load_text(h5prep_stats *s, const char *json_text, const char *name);
/* Records in the provenance that `ranks` MPI ranks computed the statistics. */
void h5prep_stats_set_ranks(h5prep_stats *s, int ranks);
/* The input files of the added variables, one line each ("PATH:DATASET, ROWS rows, SIZE bytes,
 * modified DATE"), as opened (globs expanded): two runs that give the same text read the same
 * files, as far as size and mtime tell. Caller frees with free(); NULL when out of memory. */
char *h5prep_stats_inputs(const h5prep_stats *s);

/* Writes the document; the format follows the extension (.json, .h5/.hdf5/.nc). The file is
 * written under an exclusive temporary ".<name>.h5prep-tmp-*" beside it and renamed when
 * complete; a symbolic link at path is refused (H5PREP_ERR_OUTPUT), never written through. */
h5prep_status h5prep_stats_write(const h5prep_stats *s, const char *path);

/* The JSON document as a string (caller frees with free()). */
char *h5prep_stats_json(const h5prep_stats *s);

/* The state of one feature: n values used and `missing` left out (fill values, NaN/Inf, outside
 * the valid range); mean and m2 = sum (x - mean)^2; min/max are +inf/-inf while n == 0. */
typedef struct h5prep_moments {
    int64_t n, missing;
    double mean, m2, min, max;
} h5prep_moments;

/* Read access to a result: n_features states in C order of feature_shape. */
enum { H5PREP_FLAG_CONSTANT = 1, H5PREP_FLAG_EMPTY = 2 };
typedef struct h5prep_var_view {
    const char *name;                  /* dataset path, e.g. "/grp1/T" */
    int rank;
    uint64_t shape[H5PREP_MAX_RANK];   /* logical shape: axis 0 summed over files */
    int keep_first, keep_count;        /* resolved kept axes */
    int feature_rank;
    uint64_t feature_shape[H5PREP_MAX_RANK];
    uint64_t n_features;
    const h5prep_moments *moments;     /* (n_features,) */
    const char *read_path;             /* how a run read the first file ("raw chunks decoded in
                                          parallel (shuffle+deflate)"), NULL for loaded results */
    int ntendencies;                   /* lags with tendency statistics (h5prep_stats_add_tendency) */
    const int *tendency_lags;          /* (ntendencies,) ascending */
    const h5prep_moments *tendencies;  /* (ntendencies, n_features): lag i's states from i * n_features */
} h5prep_var_view;

size_t h5prep_stats_nvars(const h5prep_stats *s);
h5prep_status h5prep_stats_var(const h5prep_stats *s, size_t i, h5prep_var_view *out);
/* Variance m2/(n-ddof), NaN when n <= ddof; and its H5PREP_FLAG_* bits: EMPTY when n == 0,
 * CONSTANT when the variance is 0 (or undefined): divide by std only where flags == 0. */
double h5prep_moments_variance(const h5prep_moments *m, int ddof);
unsigned h5prep_moments_flags(const h5prep_moments *m, int ddof);

/* Quantiles and histograms of variable i from its sketch (a run with quantiles or histogram_bins,
 * or a loaded document that holds one; H5PREP_ERR_USAGE otherwise). out: (n_features, nlevels)
 * values of rank floor(q (n - 1)), numpy's np.quantile(method="lower"), each within
 * sketch_alpha (relative) of the exact one unless its rank falls among collapsed values; NaN for
 * a feature without values. */
h5prep_status h5prep_stats_quantiles(const h5prep_stats *s, size_t i, const double *levels, size_t nlevels, double *out);
/* out: (n_features, bins) estimated counts of equal-width bins over [min, max] of each feature. */
h5prep_status h5prep_stats_histogram(const h5prep_stats *s, size_t i, int bins, uint64_t *out);
/* out: (n_features,) values of each feature collapsed into the sketch's lowest buckets (0: every
 * quantile keeps the bound). */
h5prep_status h5prep_stats_collapsed(const h5prep_stats *s, size_t i, uint64_t *out);
/* Area weights (README.md, "Weights"): every later run of s computes weighted statistics, a weight
 * per element from `spec`: "coslat:FILE:/LAT" (cos of the latitudes, in degrees, along the axis
 * whose netCDF-4 dimension is LAT's, or `axis`), "FILE:DATASET" (an array broadcast against each
 * dataset by numpy's rules) or "quadrature:RULE" (naive, legendre-gauss, clenshaw-curtis, along
 * `axis`). axis: the data axis of a 1-D rule, or -1 (--weights-axis). Weights are read and checked
 * when the run starts; weighted runs use the CPU backend (H5PREP_ERR_BACKEND for
 * H5PREP_BACKEND_CUDA). mean and m2 are then weighted, n, missing, min and max are not. */
h5prep_status h5prep_stats_set_weights(h5prep_stats *s, const char *spec, int axis);
/* Weighted variance m2 / (wsum - ddof) (frequency weights), NaN when wsum <= ddof; and its
 * H5PREP_FLAG_* bits, as h5prep_moments_flags gives them for unweighted states. */
double h5prep_weighted_variance(const h5prep_moments *m, double wsum, int ddof);
unsigned h5prep_weighted_flags(const h5prep_moments *m, double wsum, int ddof);
/* The sums of weights of variable i ((n_features,) in C order of feature_shape), NULL when its
 * statistics are not weighted or i is out of range. */
const double *h5prep_stats_var_wsum(const h5prep_stats *s, size_t i);

/* Transforms: a YAML recipe turns input variables into model-ready outputs (README.md, "Recipes"),
 * split into train/val/test with a seeded permutation, normalized with statistics of one split,
 * written as HDF5 and/or .npy shards. Inputs are read once. */
typedef struct h5prep_transform_config {
    h5prep_stats_config engine;  //!< backend, memory, threads, progress; keep-axes/ddof unused (h5prep_stats_config_default()).
    const char *out_dir;         //!< replaces the recipe's write.dir (NULL).
    char *const *inputs;         //!< replace the `files` of the recipe's first input (NULL).
    size_t ninputs;              //!< entries in inputs (0).
    int overwrite;               //!< replace an existing output directory once the new one is complete (0).
    size_t stage_mem;            //!< outputs wait between the two passes in memory when they fit in this many bytes,
                                 //!< else in a file in the output directory (H5PREP_STAGE_MEM_AUTO: half the free memory).
    int two_passes;              //!< stage every row and write in a second pass even where one pass would do (0).
} h5prep_transform_config;

#define H5PREP_STAGE_MEM_AUTO ((size_t)-1)

h5prep_transform_config h5prep_transform_config_default(void);

/* What a transform did, for the CLI's summary. */
typedef struct h5prep_transform_report {
    char out_dir[4096];
    char backend[16];
    char notice[256];            /* one line when AUTO fell back to the CPU, else "" */
    int passes;                  /* 1: read, gathered, normalized, cast and written at once; 2: staged between */
    char staged_why[128];        /* with 2 passes: why the rows were staged, else "" */
    int staged_in_memory;        /* where the outputs waited between the passes */
    uint64_t samples;
    uint64_t split_rows[H5PREP_MAX_SPLITS];
    char split_names[H5PREP_MAX_SPLITS][H5PREP_MAX_SPLIT_NAME + 1];
    int nsplits;
    uint64_t bytes_read, bytes_written;
    double seconds;
} h5prep_transform_report;

/* Runs the recipe at recipe_path. The output directory is written as a private temporary
 * ".<dir>.h5prep-tmp-*" beside it and renamed when complete; on any error or interrupt nothing
 * is left behind. A symbolic link at the output directory is refused. */
h5prep_status h5prep_transform(const char *recipe_path, const h5prep_transform_config *cfg, h5prep_transform_report *rep);

/* What h5prep_transform would do, without reading any data or creating the output directory:
 * the recipe is read, its inputs opened and checked, the outputs' shapes, the split and the
 * staging worked out as a run would. *text (free() it) gets the plan for people: each input,
 * each output's shape, dtype and normalization, the split sizes, the bytes to read and write,
 * the passes (and why two) and where the outputs are staged between them. */
h5prep_status h5prep_transform_plan(const char *recipe_path, const h5prep_transform_config *cfg, char **text);

/* Datasets of files, for `h5prep info`. Strings live until the callback returns. */
typedef struct h5prep_dataset_info {
    const char *path;
    int rank;
    uint64_t shape[H5PREP_MAX_RANK];
    const char *dtype;                 /* "float32", "int16 (big-endian)", "string" ... */
    int chunk_rank;                    /* 0 when contiguous or compact */
    uint64_t chunk[H5PREP_MAX_RANK];
    const char *filters;               /* "shuffle, deflate(4)" or "" */
    const char *cf;                    /* "_FillValue=-999 scale_factor=0.01" or "" */
    const char *file;                  /* the file that holds it (one match of a glob) */
    const char *dims[H5PREP_MAX_RANK]; /* each axis's name (netCDF-4 dimension), NULL where none */
} h5prep_dataset_info;
typedef void (*h5prep_info_fn)(const h5prep_dataset_info *d, void *user);

/* Calls fn for each dataset of `arg`: FILE, or FILE:DATASET (split as h5prep_stats_add splits,
 * unless arg names an existing file), FILE a path or a glob (its files in sorted order). With
 * DATASET only that dataset, or the datasets under it when it is a group (H5PREP_ERR_NO_DATASET,
 * with a did-you-mean hint, when it does not exist). fn is called only when every file could be
 * described. */
h5prep_status h5prep_info(const char *arg, h5prep_info_fn fn, void *user);

/* A transform's output directory summarised from its index.json and the sizes of its files:
 * splits (rows, bytes of HDF5 and .npy), outputs (per-sample shape, dtype, normalization, axis
 * names, bytes), total size. *out (free() it) gets a table for people, or with as_json the
 * document {"format": "h5prep-info/1", "dir", "samples", "recipe", "backend", "splits",
 * "outputs", "bytes"}. H5PREP_ERR_FILE_NOT_FOUND when dir has no index.json, H5PREP_ERR_STATE
 * when it is not one of format h5prep-dataset/1. */
h5prep_status h5prep_info_dir(const char *dir, int as_json, char **out);

/* What `h5prep info [--json] ARG...` prints, into *out (free() it): each argument, a directory
 * (summarised as by h5prep_info_dir) or FILE[:DATASET] with globs (as h5prep_info takes it), in
 * the order given, as a table; or with as_json one document of format "h5prep-info/1": the
 * summary of h5prep_info_dir when the one argument is a directory, else {"format", "files": [{"file",
 * "datasets": [{"path", "shape", "dtype", "byte_order", "chunks", "filters", "cf", "dims"}]}]}
 * with "dirs": [summary, ...] when directories were given too (README.md, "h5prep info"). */
h5prep_status h5prep_info_text(const char *const *args, size_t nargs, int as_json, char **out);

/* Warnings: the library never prints. Where h5prep reads something doubtful and goes on (a CF
 * attribute that netCDF4-python also warns about and does not use, say), it passes one line
 * naming the file, the dataset and what it did to the handler set here, from the thread that
 * called into the library. Default: no handler, warnings are dropped. fn NULL removes it. */
typedef void (*h5prep_warning_fn)(const char *msg, void *user);
void h5prep_set_warning_handler(h5prep_warning_fn fn, void *user);

/* In-memory statistics: folds one batch of a variable into s, with the same CPU kernels and the
 * same merge as h5prep_stats_run, so that a stream of arrays (not in HDF5) gives the statistics
 * a run over the same values gives, and h5prep_stats_write the same document. `data` is a
 * C-contiguous array of `shape` (rank 1..H5PREP_MAX_RANK, axis 0 the rows of this batch, which
 * may be 0) in the host's byte order, of `dtype`: "int8", "uint8", "int16", "uint16", "int32",
 * "uint32", "int64", "uint64", "float32" or "float64" (numpy's names). NaN and Inf are missing;
 * no other decoding. `name` is normalized like a dataset path ("x" is "/x"). The first batch sets
 * the variable's other axes and, from s's configuration, its kept axes (never axis 0); later
 * batches must match them (H5PREP_ERR_SHAPE). A variable loaded with h5prep_stats_load is
 * continued; one that is an input of h5prep_stats_add is refused. On error s is unchanged. */
h5prep_status h5prep_stats_update(h5prep_stats *s, const char *name, const void *data, const char *dtype, int rank,
                                  const uint64_t *shape);

/* Clears a request of h5prep_interrupt(), which otherwise stops every later run of the process
 * too: a program that goes on after an interrupted run (the Python package) calls it before the
 * next one. */
void h5prep_interrupt_reset(void);

/* The packed form of the document, for programs that exchange statistics in memory (the MPI ranks
 * of `h5prep stats`): one buffer (*buf from malloc, free() it; *len bytes) that holds the
 * document as JSON without its per-feature arrays, and those arrays as raw 8-byte words (host
 * byte order), bit for bit. Everything else the document holds (provenance, parts, new fields)
 * travels in the JSON. h5prep_stats_load_packed merges such a buffer as h5prep_stats_load_text
 * merges the document (`name` stands for it in messages); a buffer that is truncated or damaged
 * (its magic, version, byte order, lengths or array references) is refused (H5PREP_ERR_STATE),
 * and its states are checked as a file's. */
h5prep_status h5prep_stats_pack(const h5prep_stats *s, void **buf, size_t *len);
h5prep_status h5prep_stats_load_packed(h5prep_stats *s, const void *buf, size_t len, const char *name);

#ifdef __cplusplus
}
#endif
#endif
