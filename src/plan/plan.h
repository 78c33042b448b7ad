/* plan.h: a recipe resolved against its files, before any data is read: every input variable
 * opened and checked, every output's shape known and each of its per-sample elements mapped to
 * the input element it copies (or a constant), which is all broadcast/pad/concat/... amount to. */
#ifndef H5PREP_PLAN_H
#define H5PREP_PLAN_H

#include "plan/recipe.h"
#include "input/source.h"

#include <stdint.h>

typedef struct h5p_plan_var {
    const char *name;        /* the recipe's name */
    h5p_var var;             /* dataset path, dims and the files holding it */
    int per_file;            /* sample s is the whole dataset of file s */
    int rank;                /* per-sample rank and shape */
    uint64_t shape[H5PREP_MAX_RANK];
    uint64_t elems;          /* per-sample elements */
    h5p_dtype dtype;         /* as staged (the same in every file) */
    size_t row_bytes;        /* one sample as staged */
} h5p_plan_var;

/* Element j of a sample of an output copies element src[j] of variable var[j] of the same sample,
 * or is the constant value[j] when var[j] < 0. */
typedef struct h5p_plan_output {
    const h5p_output *spec;
    int rank;                /* per-sample rank and shape */
    uint64_t shape[H5PREP_MAX_RANK];
    uint64_t elems;
    int32_t *var;            /* (elems,) */
    uint32_t *src;           /* (elems,) */
    double *value;           /* (elems,) constants, used where var < 0 */
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
} h5p_plan;

/* Opens every variable the outputs use (files given on the command line replace the first
 * input's `files` when `files` is non-NULL), checks that they agree on the number of samples, and
 * builds each output's map. Shape errors name the op, its line:col and both shapes. */
h5prep_status h5p_plan_build(const h5p_recipe *r, char *const *files, size_t nfiles, int raw, h5p_plan *out);
void h5p_plan_free(h5p_plan *p);

/* Fails with H5PREP_ERR_NOMEM, naming `what` (the recipe) and the --mem the user must give, when
 * index maps of `elems` per-sample elements (the outputs' elems summed; 16 bytes each) do not fit
 * in mem_bytes. Call it where the budget is known: after the outputs are built, or before a map
 * is allocated (plan.c's node_alloc) to refuse before the memory is taken. */
h5prep_status h5p_plan_check_maps(const char *what, uint64_t elems, size_t mem_bytes);

/* "(N, 138, 20)" for output o. */
void h5p_plan_format_output(const h5p_plan *p, size_t o, char *dst, size_t cap);

#endif
