/* tendency.h: the engine's statistics of tendencies d = x[t+lag] - x[t] along axis 0, in the same
 * read as the moments (engine/stats.c drives both). Each job's rows are decoded to float64 on the
 * host, the last rows before them kept across jobs and files, and the differences handed as a
 * plain float64 slab to the backend's ordinary statistics operations, one backend state per lag:
 * the CPU kernels and the CUDA kernels reduce tendencies with the code that reduces the moments. */
#ifndef H5PREP_TENDENCY_H
#define H5PREP_TENDENCY_H

#include "h5prep.h"
#include "backends/backend.h"
#include "input/source.h"
#include "output/state_tree.h"

#include <stddef.h>
#include <stdint.h>

/* The pair (t, t+lag) belongs to the block of row t+lag; each lag's block states merge in the
 * fixed tree over block index like the moments', so a result depends on the data alone. */
typedef struct h5p_tendency {
    int nlags, maxlag;
    int lags[H5PREP_MAX_TENDENCIES];
    uint64_t row_elems, nf;
    double *x;                  /* (maxlag + max job rows, row_elems): the rows before the job, then the job's */
    uint64_t have;              /* decoded rows before the job in x[maxlag - have, maxlag) */
    const h5p_backend_ops *ops;
    int nslots;
    h5p_backend *be[H5PREP_MAX_TENDENCIES];
    double *diff[H5PREP_MAX_TENDENCIES][H5P_RING_SLOTS_MAX]; /* slot buffers of each lag's slabs */
    h5p_tree tree[H5PREP_MAX_TENDENCIES];
    double *head;               /* (maxlag, row_elems) the variable's first rows, when edges are kept */
    uint64_t head_rows;         /* of them seen so far */
} h5p_tendency;

/* Edge rows are kept (in the document, for merges of runs over consecutive rows) when both take
 * at most this many values; a larger state would be mostly rows. */
enum { H5P_EDGE_MAX_VALUES = 1u << 22 };

/* Refuses tendencies of v that cannot be formed: axis 0 kept, or no more rows than a lag. */
h5prep_status h5p_tendency_check(const h5p_var *v, const int *lags, int nlags);

/* Bytes of host memory a job row costs the tendencies of v in each slot (its differences for
 * every lag, and its decoded values), and the decoded rows kept between jobs. */
size_t h5p_tendency_row_bytes(const h5p_var *v, int nlags);
size_t h5p_tendency_keep_bytes(const h5p_var *v, const int *lags, int nlags);

/* Ready for v's jobs of at most max_rows rows: one backend of `ops` per lag. */
h5prep_status h5p_tendency_begin(h5p_tendency *t, const h5p_var *v, const int *lags, int nlags,
                                 const h5p_backend_ops *ops, const h5prep_stats_config *cfg, int nslots,
                                 uint64_t max_rows);

/* One job: `rows` stored rows of part p (native order) starting at global row g0, in block `block`
 * that spans global rows [b0, b0 + brows); `done`: the job ends its block. Jobs come in row order. */
typedef struct h5p_tendency_job {
    const void *data;
    const h5p_part *p;
    uint64_t g0, rows, block, b0, brows;
    int done, slot;
    int lead; /* rows before a part's share: only kept for the pairs of the rows after them */
} h5p_tendency_job;
h5prep_status h5p_tendency_job_run(h5p_tendency *t, const h5p_slab *view, const h5p_tendency_job *j);

/* Folds each lag's tree into out (nlags * nf states, lag i from i * nf), and gives v the first
 * maxlag decoded rows (where the run saw them: a part's lead rows count) and with `last` (the run
 * read the variable's last row) the last maxlag rows as its edges; none where they exceed
 * H5P_EDGE_MAX_VALUES. */
h5prep_status h5p_tendency_end(h5p_tendency *t, h5p_moments *out, h5p_var *v, int last);
void h5p_tendency_free(h5p_tendency *t); /* accepts a zeroed one */

#endif
