/* recipe.h: a transform recipe as read from YAML: inputs, outputs built from ops, the split and
 * where to write. recipe.c parses it (libyaml) and checks what can be checked without data;
 * plan.c resolves shapes against the input files. */
#ifndef H5PREP_RECIPE_H
#define H5PREP_RECIPE_H

#include "h5prep.h"
#include "common/dtype.h"
#include "input/weights.h"

#include <stddef.h>
#include <stdint.h>

enum { H5P_MAX_SPLITS = 8 };

/* Ops of an output's expression. Axes count the sample axis as 0, like numpy on the whole array,
 * and may be negative (counted from the end of the op's result for broadcast and stack, of the
 * operand otherwise). No op may act on axis 0. */
typedef enum h5p_op_kind {
    H5P_OP_VAR,       /* an input variable: `name` */
    H5P_OP_BROADCAST, /* insert a new axis at `axis` of the result, of length `size`, repeating */
    H5P_OP_PAD,       /* `before`/`after` elements on `axis`: constant `value` or edge */
    H5P_OP_CONCAT,    /* join args along an existing `axis` */
    H5P_OP_STACK,     /* join args along a new `axis` of the result */
    H5P_OP_RESHAPE,   /* per-sample shape `shape` (one entry may be -1); axis 0 stays */
    H5P_OP_FLATTEN,   /* (N, ...) -> (N, prod(...)) */
    H5P_OP_SLICE      /* start:stop:step on `axis`, Python semantics, step > 0 */
} h5p_op_kind;

typedef struct h5p_expr h5p_expr;
struct h5p_expr {
    h5p_op_kind kind;
    int line, col;           /* 1-based position of the op in the recipe, for messages */
    char *name;              /* VAR: the input variable's name */
    h5p_expr **args;         /* operands: one for unary ops, one or more for concat/stack */
    size_t nargs;
    int axis;
    uint64_t size;           /* BROADCAST */
    uint64_t before, after;  /* PAD */
    int pad_edge;            /* PAD: 1 repeats the edge value, 0 pads with `pad_value` */
    double pad_value;        /* PAD (0) */
    int64_t start, stop, step; /* SLICE: stop is INT64_MAX when not given; negative counts from the end */
    int nshape;              /* RESHAPE */
    int64_t shape[H5PREP_MAX_RANK];
};

typedef enum h5p_norm_kind { H5P_NORM_NONE, H5P_NORM_ZSCORE, H5P_NORM_MINMAX, H5P_NORM_ROBUST, H5P_NORM_QUANTILE } h5p_norm_kind;

typedef struct h5p_output {
    char *name;              /* dataset name in the outputs, e.g. "x" */
    int line, col;
    h5p_expr *expr;          /* `from:` */
    h5p_norm_kind norm;      /* `normalize:` (none) */
    int keep_first;          /* `keep_axes`: statistics per feature over keep_count consecutive axes
                                from keep_first (counted with the sample axis as 0, negative from the
                                end, never the sample axis); keep_count 0: one statistic for the whole
                                output. Default [-1] (H5PREP_KEEP_DEFAULT: 'none' for an (N,) output) */
    int keep_count;
    char *stats_path;        /* `normalize: {stats: FILE}`: factors from an h5prep-stats/1 file
                                (variable "/<name>"); NULL: computed in this run */
    h5p_weights *weights;    /* `normalize: {weights: SPEC, weights_axis: N}`: this run's statistics
                                weighted by SPEC (input/weights.h), resolved against the output's one
                                input variable; NULL: unweighted */
    int weights_line, weights_col; /* where `weights` is, for messages */
    h5p_out_dtype dtype;     /* `cast:` (float32) */
} h5p_output;

/* Where an input variable's values come from. */
typedef enum h5p_var_kind {
    H5P_VAR_DATASET,   /* the dataset paths[i] of every file, joined along axis 0 */
    H5P_VAR_ATTRIBUTE, /* one value per file: the root group's attribute paths[i] */
    H5P_VAR_SCALAR,    /* one value per file: the 0-d (or one-element) dataset paths[i] */
    H5P_VAR_CATALOG    /* one value per file: column paths[i] of the input's catalog */
} h5p_var_kind;

/* One group of input files: the same variables in every file, joined along axis 0 (or, with
 * per_file, each file one sample). A per-file value (attribute, 0-d dataset, catalog column)
 * is one scalar per sample, repeated over the rows of its file. */
typedef struct h5p_input {
    char **files;            /* globs as written */
    size_t nfiles;
    char **names;            /* variable names used in expressions */
    char **paths;            /* dataset path of each name in the files ("/name" unless mapped); the
                                attribute, 0-d dataset or catalog column of a per-file value */
    h5p_var_kind *kinds;     /* (nvars,) where each variable's values come from */
    int *used;               /* 1 where an output's expression reads the variable: the others are
                                never opened by the plan */
    int *lines, *cols;       /* 1-based position of each name in the recipe, for messages */
    size_t nvars;
    int per_file;            /* each file is one sample: a new axis 0 of length nfiles (0) */
    char *catalog;           /* `catalog: {file: ...}`: a CSV file (RFC 4180, a header row), NULL
                                when none; its `columns` are variables of kind CATALOG */
    char *catalog_key;       /* the column holding file names (`key`) */
    int catalog_line, catalog_col;
    int line, col;
} h5p_input;

typedef enum h5p_group_kind { H5P_GROUP_NONE, H5P_GROUP_FILE, H5P_GROUP_ROWS } h5p_group_kind;

/* How samples are assigned to splits. */
typedef enum h5p_split_by {
    H5P_SPLIT_SEEDED, /* fractions of the (groups of) samples in the order of their Philox keys */
    H5P_SPLIT_FILES,  /* `by: files`: each split's files given by globs */
    H5P_SPLIT_ROWS,   /* `by: rows`: contiguous blocks [lo, hi) as fractions of the row count */
    H5P_SPLIT_TIME    /* `by: time`: rows whose time coordinate lies in [lo, hi) */
} h5p_split_by;

typedef struct h5p_split_spec {
    int nsplits;                         /* 1 when the recipe has no split: all rows in "all" */
    char *names[H5P_MAX_SPLITS];         /* in the order written, e.g. train, val, test */
    h5p_split_by by;                     /* (seeded) */
    double fractions[H5P_MAX_SPLITS];    /* SEEDED: each in [0,1], summing to 1 within 1e-9 */
    double lo[H5P_MAX_SPLITS], hi[H5P_MAX_SPLITS]; /* ROWS: fractions, 0 <= lo < hi <= 1; TIME:
                                            coordinate values, lo < hi; no two ranges overlap */
    char **globs[H5P_MAX_SPLITS];        /* FILES: the globs of each split, as written */
    size_t nglobs[H5P_MAX_SPLITS];
    char *lo_text[H5P_MAX_SPLITS], *hi_text[H5P_MAX_SPLITS]; /* TIME: a bound given as an ISO date,
                                            turned into the coordinate's units by the plan; NULL
                                            where the bound is a number */
    char *coordinate;                    /* TIME: "FILE:/dataset", or a variable of the inputs */
    int coord_line, coord_col;           /* TIME: where `coordinate` is written, for messages */
    uint64_t seed;                       /* (0) */
    h5p_group_kind group_by;             /* (none) */
    uint64_t group_rows;                 /* H5P_GROUP_ROWS: rows per group */
    int shuffle;                         /* rows of a split in permuted order (1 when seeded, else 0)
                                            or input order */
    int stats_split;                     /* index of the split whose statistics normalize (the
                                            one named "train" if any, else 0); -1: all rows */
} h5p_split_spec;

typedef struct h5p_write_spec {
    char *dir;               /* output directory (required unless given on the command line) */
    int hdf5;                /* <dir>/<split>.h5 (1) */
    uint64_t chunk_rows;     /* HDF5 chunk extent along axis 0; 0 picks ~1 MiB chunks (0) */
    int gzip;                /* HDF5 deflate level 1..9, 0 for none (0) */
    int npy;                 /* <dir>/<split>/<output>-NNNNN.npy shards (0) */
    uint64_t shard_rows;     /* rows per .npy shard; 0 means one shard per split (0) */
    int npy_dask;            /* layout: dask: each output a folder <split>/<output>/ of 0.npy, 1.npy ...
                                and the `info` that dask.array.from_npy_stack reads (0: flat,
                                <split>/<output>-NNNNN.npy) */
} h5p_write_spec;

typedef struct h5p_recipe {
    char *path;              /* the recipe file, for messages */
    h5p_input *inputs;
    size_t ninputs;
    h5p_output *outputs;
    size_t noutputs;
    h5p_split_spec split;
    h5p_write_spec write;
} h5p_recipe;

/* Parses the YAML recipe at path. Errors (H5PREP_ERR_USAGE; H5PREP_ERR_FILE_NOT_FOUND when the
 * file is missing) name the file, the line and column, and what was expected:
 *   "r.yaml:12:9: unknown op 'padd' (expected one of: broadcast, pad, concat, ...)". */
h5prep_status h5p_recipe_load(const char *path, h5p_recipe **out);
/* The same for a recipe already in memory (len bytes of text, not NUL-terminated); `path` names it
 * in messages. Before libyaml builds the document its event stream is checked against the
 * bounds of recipe.c (nesting, anchors, aliases, values with aliases expanded, keys per mapping),
 * so that no text of up to 16 MiB takes more than milliseconds or expands beyond them. */
h5prep_status h5p_recipe_parse(const char *path, const unsigned char *text, size_t len, h5p_recipe **out);
void h5p_recipe_free(h5p_recipe *r); /* accepts NULL */

/* Whether the ranges [lo, hi) of splits a and b of a split by rows or time overlap. */
int h5p_split_overlap(const h5p_split_spec *spec, int a, int b);


#endif
