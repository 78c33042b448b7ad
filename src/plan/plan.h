/* plan.h: the plan stage (src/plan): a recipe resolved against its files before any data is read:
 * every input variable opened and checked, every output's shape known and each of its per-sample
 * elements mapped to the input element it copies (or a constant), which is all
 * broadcast/pad/concat/... amount to. */
#ifndef H5PREP_PLAN_H
#define H5PREP_PLAN_H

#include "plan/recipe.h"
#include "input/source.h"

#include <stddef.h>
#include <stdint.h>

enum { H5P_PLAN_MAX_VARS = 64 }; /* input variables one recipe's outputs may use */

typedef struct h5p_plan_var {
    const char *name;        /* the recipe's name */
    const h5p_input *input;  /* the recipe's input that declares it */
    double *file_values;     /* (samples,) a value per file (attribute, 0-d dataset, catalog column)
                                repeated over its file's rows, as float64; NULL for a dataset */
    h5p_var var;             /* dataset path, dims and the files holding it */
    int per_file;            /* sample s is the whole dataset of file s */
    int rank;                /* per-sample rank and shape */
    uint64_t shape[H5PREP_MAX_RANK];
    uint64_t elems;          /* per-sample elements */
    h5p_dtype dtype;         /* as staged (the same in every file) */
    size_t row_bytes;        /* one sample as staged */
} h5p_plan_var;

/* The gather map of an output, in the form the backends' kernels read: element j of a sample
 * copies element sidx[j] of variable vidx[j] of the same sample, or is the constant value[sidx[j]]
 * when vidx[j] == nvars; it belongs to feature fidx[j] for statistics and normalization. */
typedef struct h5p_plan_output {
    const h5p_output *spec;
    int rank;                /* per-sample rank and shape */
    uint64_t shape[H5PREP_MAX_RANK];
    uint64_t elems;
    uint32_t *vidx;          /* (elems,) variable, or nvars for a constant */
    uint32_t *sidx;          /* (elems,) element of that variable's sample, or j for a constant */
    uint32_t *fidx;          /* (elems,) feature: (j / inner) % features */
    double *value;           /* (elems,) constants, used where vidx == nvars */
    int channel_axis;        /* per-sample axis (0-based) that the outermost concat or stack made,
                                followed through the ops above it; -1 when none (or a reshape or
                                flatten above it) */
    int keep_first, keep_count; /* kept axes, resolved, counted with the sample axis as 0 */
    uint64_t features, inner;   /* a sample is [outer][features][inner]: element j belongs to
                                   feature (j / inner) % features */
    int scratch_f64;         /* staged between the passes as float64, else float32 (exact when
                                every source is float32 without scaling and constants fit) */
} h5p_plan_output;

typedef struct h5p_plan {
    const h5p_recipe *recipe;
    uint64_t n;              /* samples */
    h5p_plan_var *vars;
    size_t nvars;
    h5p_plan_output *outs;
    size_t nouts;
    uint64_t *group_of;      /* (n,) group of each sample when the split groups, else NULL */
    uint64_t ngroups;
    h5p_split_spec split;    /* the recipe's split (its strings shared), dates of a split by time
                                turned into the coordinate's units */
    uint8_t *assign;         /* (n,) split of each sample (H5P_SPLIT_DROPPED: none) when the split is
                                given by files, rows or time, else NULL */
} h5p_plan;

/* Opens every variable the outputs use (files given on the command line replace the first
 * input's `files` when `files` is non-NULL), checks that they agree on the number of samples, and
 * builds each output's map. Shape errors name the op, its line:col and both shapes. A split by
 * files is resolved against the first input's files (a file in two splits or in none is an
 * error naming it); a split by time reads its coordinate here, before the bulk data. */
h5prep_status h5p_plan_build(const h5p_recipe *r, char *const *files, size_t nfiles, int raw, h5p_plan *out);
void h5p_plan_free(h5p_plan *p);

/* The layout of ring slots, the same for every backend: a pass-1 slab holds `rows` samples of each
 * variable one after another (h5p_plan_var_offset); its gathered results hold `rows` staged rows of
 * each output one after another (h5p_plan_block_offset), as float32, or float64 when scratch_f64. */
size_t h5p_plan_in_row_bytes(const h5p_plan *p);           /* one sample of every variable */
size_t h5p_plan_var_offset(const h5p_plan *p, size_t v, uint64_t rows);
size_t h5p_plan_row_bytes(const h5p_plan *p, size_t o);    /* one staged row of output o */
size_t h5p_plan_out_row_bytes(const h5p_plan *p);          /* one staged row of every output */
size_t h5p_plan_block_offset(const h5p_plan *p, size_t o, uint64_t rows);

/* Fails with H5PREP_ERR_NOMEM, naming `what` (the recipe) and the --mem the user must give, when
 * index maps of `elems` per-sample elements (the outputs' elems summed; 20 bytes each) do not fit
 * in mem_bytes. The transform calls it once the plan is built, before any data is read. */
h5prep_status h5p_plan_check_maps(const char *what, uint64_t elems, size_t mem_bytes);

#endif
