/* ring.h: the engine stage (src/engine) runs both commands on this one ring: a reader thread
 * fills slot j % nslots with job j, the calling thread computes on it, and an optional writer
 * thread drains its results. A slot is refilled only after its previous job was written (or
 * computed, without a writer): that rule is the double buffer. Errors of any stage and interrupts
 * stop all stages at the next job. */
#ifndef H5PREP_RING_H
#define H5PREP_RING_H

#include "h5prep.h"
#include "input/source.h"

#include <stddef.h>
#include <stdint.h>

enum { H5P_SLAB_TARGET = 8u << 20 }; /* bytes of a slab when the budget allows: of 4, 8, 16, 32 MiB the fastest */

typedef struct h5p_ring h5p_ring;

/* The stages of a ring; ctx is the caller's. read runs on the reader thread, compute on the
 * calling thread, write (NULL: no writer) on the writer thread. */
typedef struct h5p_ring_fns {
    h5prep_status (*read)(void *ctx, h5p_ring *g, uint64_t job, int slot);
    h5prep_status (*compute)(void *ctx, uint64_t job, int slot);
    h5prep_status (*write)(void *ctx, uint64_t job, int slot);
} h5p_ring_fns;

/* Runs njobs jobs through nslots slots; returns the first failure of any stage (its message
 * restored in this thread), H5PREP_ERR_INTERRUPTED after h5prep_interrupt() with a message that
 * starts with `what` (the variable or recipe) when it is not NULL. */
h5prep_status h5p_ring_run(const h5p_ring_fns *fn, void *ctx, uint64_t njobs, int nslots, const char *what);

/* From read: waits until every job before `job` has been written (computed, without a writer),
 * e.g. before a mapped file that earlier slots point into is closed. 0 when the ring stopped. */
int h5p_ring_drain(h5p_ring *g, uint64_t job);

/* The one slab sizing rule: rows per slab such that a slab of `row_bytes` rows stays near
 * H5P_SLAB_TARGET and its slot's buffers (`slot_row_bytes` a row) fit in slot_bytes; cut to whole
 * chunks of chunk_rows along axis 0 (or grown to one chunk when it fits); with decoders > 0 and
 * compressed chunks (filtered), grown to 4 chunks per decoding thread when the budget allows.
 * At most max_rows; 0 when one row does not fit. */
typedef struct h5p_slab_rule {
    size_t row_bytes, slot_row_bytes, slot_bytes;
    uint64_t chunk_rows, row_chunks; /* chunk extent along axis 0 (0: not chunked); chunks per chunk-row */
    int filtered, decoders;
    uint64_t max_rows;
} h5p_slab_rule;
uint64_t h5p_slab_rows(const h5p_slab_rule *r);

/* The rows of a block, the unit a statistic is defined over: the slab rule without a memory budget
 * or decoding threads (it depends on the data alone: row bytes and chunk rows). Slabs are then
 * whole blocks, or pieces of one where a block does not fit a slot. */
uint64_t h5p_block_rows(const h5p_slab_rule *r);

/* --mem is a promise: decoding a compressed chunk needs the whole chunk in memory, so a part whose
 * chunks are filtered must have chunks no larger than a slot, or than HDF5's chunk cache (1 MiB
 * a dataset, which is outside --mem). H5PREP_ERR_NOMEM naming the --mem to give otherwise. */
enum { H5P_CHUNK_CACHE = 1u << 20 };
h5prep_status h5p_check_chunk_budget(const h5p_var *v, const h5p_part *p, size_t slot_bytes, int nslots);

double h5p_now(void);

#endif
