/* stats_impl.h: the insides of h5prep_stats, shared by stats.c (inputs, runs, access) and
 * state_io.c (JSON and HDF5 documents, loading for merges). */
#ifndef H5PREP_STATS_IMPL_H
#define H5PREP_STATS_IMPL_H

#include "h5prep.h"
#include "input/source.h"

struct h5prep_stats {
    h5prep_stats_config cfg;
    h5p_var *vars;
    size_t nvars, cap;
    const char *backend;     /* name of the backend that ran, NULL before a run */
    char notice[256];
    char created[32];        /* ISO 8601 UTC of the run or merge */
    void *merged_inputs;     /* json_t array: provenance inputs of loaded documents */
    void *merged_from;       /* json_t array: paths of loaded documents */
    int merged_ddof;         /* provenance.ddof of the loaded documents (all the same) */
};

/* Finds the variable called name, NULL when absent. */
h5p_var *h5p_stats_find(h5prep_stats *s, const char *name);
/* Appends a zeroed variable (name copied); NULL when out of memory. */
h5p_var *h5p_stats_append(h5prep_stats *s, const char *name);
void h5p_stats_stamp(h5prep_stats *s); /* sets `created` to now */

/* Merges the variables of a loaded document into s; `loaded` is consumed. */
h5prep_status h5p_stats_merge_var(h5prep_stats *s, h5p_var *loaded, const char *path);

/* "(a, b, c)"; "(n,)" for rank 1. */
void h5p_format_shape(char *dst, size_t cap, int rank, const uint64_t *dims);
void h5p_var_free(h5p_var *v);

#endif
