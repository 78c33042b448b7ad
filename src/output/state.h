/* state.h: the output stage (src/output) holds and writes what runs produce; here the insides of
 * h5prep_stats, a set of variables and their per-feature states: what a run fills (engine/stats.c,
 * engine/transform.c), a statistics file holds and a merge combines (output/state_io.c). */
#ifndef H5PREP_STATE_H
#define H5PREP_STATE_H

#include "h5prep.h"
#include "common/moments.h"
#include "input/variable.h"
#include "output/state_pack.h"
#include "input/weights.h"
#include "output/state_tree.h"

/* What a part run (--part i/N) keeps of a variable: its share [first, end) of the variable's
 * `blocks` blocks and the aligned nodes of the fixed tree over that share, which a merge of all N
 * parts pushes in block order to rebuild the tree of a single run. */
typedef struct h5p_part_nodes {
    uint64_t blocks, first, end;
    h5p_tree tree;
    h5p_tree tend[H5PREP_MAX_TENDENCIES]; /* each tendency lag's nodes over the same share */
} h5p_part_nodes;
void h5p_part_nodes_free(h5p_part_nodes *pn); /* its trees; accepts zeroed ones */

struct h5prep_stats {
    h5prep_stats_config cfg;
    h5p_var *vars;
    size_t nvars, cap;
    const char *backend;     /* name of the backend that ran, NULL before a run */
    const char *isa;         /* its CPU kernels' instruction set path, or NULL (static strings) */
    char notice[256];
    char created[32];        /* ISO 8601 UTC of the run or merge */
    void *merged_inputs;     /* json_t array: provenance inputs of loaded documents */
    void *merged_from;       /* json_t array: paths of loaded documents */
    void *factors;           /* json_t object: output -> where a transform's normalization factors
                                came from (provenance.factors), or NULL */
    int merged_ddof;         /* provenance.ddof of the loaded documents (all the same) */
    void *acc;               /* what h5prep_stats_update keeps between batches (engine/accumulate.c) */
    void (*acc_release)(void *acc); /* frees acc; set with it */
    int part_index, part_count; /* a part run: part part_index (1-based) of part_count; 0 0: the whole */
    h5p_part_nodes *pnodes;     /* (nvars,) after a part run */
    void *pending;              /* json_t object: variable -> array of its loaded parts (a merge of parts) */
    int ranks;                  /* MPI ranks that computed it, for the provenance (0: not recorded) */
    h5p_payload *kept;          /* (nkept,) copies of the words of loaded packed documents, which the */
    size_t nkept;               /* nodes of their parts refer to until merged (h5prep_stats_load_packed) */
    int nlags;                  /* tendencies to compute (h5prep_stats_add_tendency), ascending */
    int lags[H5PREP_MAX_TENDENCIES];
    h5p_weights *weights;       /* --weights of a run, or of the documents loaded (NULL: unweighted) */
    void *merged_weights;       /* json_t object: provenance.weights of the documents loaded, or NULL */
};

/* Finds the variable called name, NULL when absent. */
h5p_var *h5p_stats_find(h5prep_stats *s, const char *name);
/* Appends a zeroed variable (name copied); NULL when out of memory. */
h5p_var *h5p_stats_append(h5prep_stats *s, const char *name);
void h5p_stats_stamp(h5prep_stats *s); /* sets `created` to now */

/* Merges the variables of a loaded document into s; `loaded` is consumed. */
h5prep_status h5p_stats_merge_var(h5prep_stats *s, h5p_var *loaded, const char *path);

/* Appends variable `name` of shape dims (rank axes, dims[0] the rows reduced) keeping keep_count
 * axes from keep_first, with its nf states m copied: how a transform records its outputs'. */
h5prep_status h5p_stats_add_result(h5prep_stats *s, const char *name, int rank, const uint64_t *dims, int keep_first,
                                   int keep_count, const h5p_moments *m, uint64_t nf);
/* The backend recorded as having computed the states (a static string). */
void h5p_stats_set_backend(h5prep_stats *s, const char *name);

/* One input file of the provenance (a jansson json_t *): path, dataset, rows, dtype, byte order,
 * size and mtime; NULL when out of memory. */
struct json_t *h5p_input_json(const h5p_var *v, const h5p_part *p);
/* provenance.factors: a transform's record, per output, of the normalization factors it applied
 * (a json_t object; a reference is taken). */
void h5p_stats_set_factors(h5prep_stats *s, struct json_t *factors);
/* {"spec", "resolved" (the rule, or coslat:/nothing + the weight file's real path + :DATASET),
 * "file", "axis"} of resolved weights: provenance.weights of `stats --weights`, and the weights of
 * a transform's output; NULL when out of memory. */
struct json_t *h5p_weights_json(const h5p_weights *w);

#endif
