/* pipeline.h: one streaming pass over a variable's files: a reader thread stages slabs of rows
 * into a ring of host buffers while the backend computes on the slab before. */
#ifndef H5PREP_PIPELINE_H
#define H5PREP_PIPELINE_H

#include "backends/backend.h"
#include "common/pool.h"
#include "input/source.h"

typedef struct h5p_pipeline_opts {
    size_t mem_bytes;   /* all slots together */
    int slots;
    h5p_pool *decode;   /* threads for decoding compressed chunks; NULL: H5Dread decodes */
    h5prep_progress_fn progress;
    void *progress_user;
    h5prep_progress *totals; /* running totals across variables, updated per slab */
    double t0;               /* run start (h5p_now) */
} h5p_pipeline_opts;

/* Streams v (all its parts) through the backend and stores the states in v->result. */
h5prep_status h5p_pipeline_stats(h5p_var *v, const h5p_backend_ops *ops, h5p_backend *be,
                                 const h5p_pipeline_opts *o);

/* The rows per slab for v: the largest multiple of the chunk extent along axis 0 within the
 * slot budget and a cache-friendly target; for compressed chunks, enough chunks to keep
 * `decoders` threads busy when the budget allows. 0 when one row does not fit. */
uint64_t h5p_slab_rows(const h5p_var *v, const h5p_part *p, size_t slot_bytes, int decoders);

double h5p_now(void);

#endif
