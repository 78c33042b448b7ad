/* backend.h: the backends stage (src/backends): the table of operations a backend (cpu, cuda)
 * gives the engine: host memory for ring slots, the statistics of slabs, and a transform's keys,
 * gather and finish.
 * The engine owns the ring and the plan; a backend computes on what it is handed and never calls
 * back into the engine. backends/choose.h is the one place a backend is chosen. */
#ifndef H5PREP_BACKEND_H
#define H5PREP_BACKEND_H

#include "h5prep.h"
#include "common/decode.h"
#include "common/dtype.h"
#include "common/moments.h"
#include "plan/plan.h"

#include <stddef.h>
#include <stdint.h>

/* Ring slots of one run: --slots, plus the slot a transform's writer holds. */
enum { H5P_RING_SLOTS_MAX = H5PREP_MAX_SLOTS + 1 };

/* Statistics input: a slab of staged rows viewed as [outer][features][inner]; `feature_base` is
 * the index of its first feature among the variable's features (non-zero only when axis 0 is
 * kept). A slab is a block of the variable (engine/ring.h: h5p_block_rows) or a piece of one: its
 * work units (rows of features where inner is 1, else lines of `inner` values) are units
 * [unit0, unit0 + its own) of the block's `units`, and a backend that splits a block's work does
 * so by unit position in the block, so that a block's state does not depend on how it was cut.
 * units 0: the slab stands alone. */
typedef struct h5p_slab {
    const void *data; /* (outer, features, inner) of dtype, native byte order */
    h5p_dtype dtype;
    uint64_t outer, features, inner;
    uint64_t feature_base;
    const h5p_decode *dec;
    uint64_t unit0, units; /* the slab's first unit in its block; the block's units (0: no block) */
} h5p_slab;

/* Transform pass 1 input: `rows` samples of every plan variable, staged in slot buffers. */
typedef struct h5p_tx_slab {
    uint64_t rows;
    const void *data[H5P_PLAN_MAX_VARS];      /* (rows, elems) of var v, stored type, native order */
    const h5p_decode *dec[H5P_PLAN_MAX_VARS]; /* the CF decoding of the file the rows come from */
    const uint32_t *order;                    /* (rows,) output row i is slab row order[i] */
    uint64_t n_stat;                          /* output rows [0, n_stat) count for statistics */
} h5p_tx_slab;

/* Transform pass 2 input: `rows` staged rows of one output.
 * out = cast((x - shift[f]) / div[f]), f = the plan's feature of element j. */
typedef struct h5p_tx_finish {
    size_t output;
    const void *in;            /* (rows, elems) float32, or float64 when the output stages so */
    uint64_t rows;
    const double *shift, *div; /* (features,) */
    const struct h5p_cdf *cdf; /* normalize: quantile (common/sketch.h): out = cast(CDF of x) instead
                                  (every backend by h5p_cdf_lookup, the same bits); NULL otherwise.
                                  The table does not change once given: a backend may copy it once */
} h5p_tx_finish;

/* --weights: a statistics slab and where its weights are in the variable's table (the `w` of
 * wstats_begin). Value i of the slab (flat, in row i / row_elems) has weight
 * w[w0 + (i / row_elems) * w_row_stride + i % row_elems] (w_row_stride 0: the same row_elems
 * weights in every row); k0 is the index of the slab's first value among its feature's values in
 * the block (0 where axis 0 is kept), so that a backend can split a block's values by position
 * whatever the slabs. */
typedef struct h5p_wslab {
    const h5p_slab *slab;
    uint64_t w0, w_row_stride, row_elems, k0;
} h5p_wslab;

typedef struct h5p_backend h5p_backend; /* a backend's own state */
struct h5p_sketch;                       /* common/sketch.h */

typedef struct h5p_backend_ops {
    const char *name;
    int zero_copy; /* statistics slabs may point into a mapped input file instead of slot buffers */
    /* A backend for a ring of nslots (1..H5P_RING_SLOTS_MAX) slots, on cfg->device or cfg->threads. */
    h5prep_status (*create)(h5p_backend **be, const h5prep_stats_config *cfg, int nslots);
    void (*destroy)(h5p_backend *be); /* accepts NULL */
    /* Host memory for ring slots (pinned for CUDA); NULL when it cannot be had. */
    void *(*alloc_host)(h5p_backend *be, size_t bytes);
    void (*free_host)(h5p_backend *be, void *p);
    /* Returns once the host buffers of `slot` may be refilled and its results read. */
    h5prep_status (*wait)(h5p_backend *be, int slot);

    /* Statistics, one variable at a time: n_features states, slabs of at most slab_bytes. */
    h5prep_status (*stats_begin)(h5p_backend *be, uint64_t n_features, size_t slab_bytes);
    /* Accumulates the slab staged in `slot`; may return before the work is done. */
    h5prep_status (*stats_slab)(h5p_backend *be, int slot, const h5p_slab *slab);
    /* Merges every partial state into out (n_features), in an order that does not depend on timing,
     * and resets them: the next slab starts a new state (of the next block). */
    h5prep_status (*stats_end)(h5p_backend *be, h5p_moments *out);

    /* Transform: slot buffers of in_bytes (inputs) and out_bytes (results). */
    h5prep_status (*tx_begin)(h5p_backend *be, const h5p_plan *plan, size_t in_bytes, size_t out_bytes);
    /* key[i], i < n, of the split (plan/split.h: the same on every backend). */
    h5prep_status (*keys)(h5p_backend *be, uint64_t seed, uint64_t n, uint32_t *key);
    /* Gathers slab s into out (outputs one after another at h5p_plan_block_offset) and accumulates
     * the statistics of its first n_stat rows; may return before the work is done. */
    h5prep_status (*gather)(h5p_backend *be, int slot, const h5p_tx_slab *s, void *out);
    /* Normalizes and casts into out (the output's dtype); may return before the work is done. */
    h5prep_status (*finish)(h5p_backend *be, int slot, const h5p_tx_finish *f, void *out);
    /* The statistics of output o's features over every gathered row that counted. */
    h5prep_status (*tx_stats)(h5p_backend *be, size_t o, h5p_moments *out);
    /* The instruction set path of the backend's CPU kernels ("avx512"); NULL: it has none. */
    const char *(*isa)(const h5p_backend *be);

    /* Weighted statistics (--weights), one variable at a time; NULL where the backend has none
     * (the CPU's: the engine runs backends/cpu/weighted_cpu.h on its own threads). w: the
     * variable's weight table, (w_count,) doubles, read before begin returns. */
    h5prep_status (*wstats_begin)(h5p_backend *be, uint64_t n_features, const double *w, uint64_t w_count);
    /* Accumulates a weighted slab staged in `slot`; may return before the work is done. */
    h5prep_status (*wstats_slab)(h5p_backend *be, int slot, const h5p_wslab *ws);
    /* The block's weighted states (n_features moments and their sums of weights), complete, in an
     * order defined by data position; the next slab starts the next block's. */
    h5prep_status (*wstats_end)(h5p_backend *be, h5p_moments *out, double *wsum);

    /* Adds the slab just given to stats_slab in `slot` to the quantile sketch sk (common/sketch.h)
     * and returns once it is in; NULL: the engine adds it on the host (backends/cpu/sketch_cpu.h). */
    h5prep_status (*sketch_slab)(h5p_backend *be, int slot, const h5p_slab *slab, struct h5p_sketch *sk);
} h5p_backend_ops;

extern const h5p_backend_ops h5p_backend_cpu;
#ifdef H5PREP_HAVE_CUDA
extern const h5p_backend_ops h5p_backend_cuda;
#endif

#endif
