/* tx.h: a transform's compute on one backend. Pass 1 gathers each slab of samples into every
 * output (staged as float32 or float64) and accumulates the statistics of the rows that count;
 * pass 2 normalizes and casts staged rows. src/transform.c drives both through this table. */
#ifndef H5PREP_TX_H
#define H5PREP_TX_H

#include "plan/plan.h"

#include <stddef.h>
#include <stdint.h>

enum { H5P_TX_MAX_VARS = 64 };

/* Pass 1 input: `rows` samples of every plan variable, staged in slot buffers. */
typedef struct h5p_tx_slab {
    uint64_t rows;
    const void *data[H5P_TX_MAX_VARS];       /* (rows, elems) of var v, stored type, native order */
    const h5p_decode *dec[H5P_TX_MAX_VARS];  /* the CF decoding of the file the rows come from */
    const uint32_t *order;                   /* (rows,) output row i is slab row order[i] */
    uint64_t n_stat;                         /* output rows [0, n_stat) count for statistics */
} h5p_tx_slab;

/* Pass 2 input: `rows` staged rows of one output. out = cast((x - shift[f]) / div[f]), f = j % features. */
typedef struct h5p_tx_finish {
    size_t output;
    const void *in;                          /* (rows, elems) float32 or float64 (scratch_f64) */
    uint64_t rows;
    const double *shift, *div;               /* (features,) */
} h5p_tx_finish;

/* Bytes of one sample of every variable as staged (a pass-1 slab holds rows of them). */
size_t h5p_tx_in_row_bytes(const h5p_plan *p);
/* Bytes of one staged row of output o, and where output o starts in a gathered block of `rows`. */
size_t h5p_tx_row_bytes(const h5p_plan *p, size_t o);
size_t h5p_tx_block_offset(const h5p_plan *p, size_t o, uint64_t rows);

typedef struct h5p_tx h5p_tx;

typedef struct h5p_tx_ops {
    const char *name;
    /* nslots ring slots whose host buffers hold in_bytes (inputs) and out_bytes (results). */
    h5prep_status (*create)(h5p_tx **tx, const h5p_plan *plan, const h5prep_stats_config *cfg, int nslots,
                            size_t in_bytes, size_t out_bytes);
    void (*destroy)(h5p_tx *tx); /* accepts NULL */
    void *(*alloc_host)(h5p_tx *tx, size_t bytes); /* pinned for CUDA */
    void (*free_host)(h5p_tx *tx, void *p);
    /* key[i], i < n, of the split (src/split.h: the same on every backend). */
    h5prep_status (*keys)(h5p_tx *tx, uint64_t seed, uint64_t n, uint32_t *key);
    /* Gathers slab s into out (outputs one after another, h5p_tx_block_offset) and accumulates
     * statistics; may return before the work is done. */
    h5prep_status (*gather)(h5p_tx *tx, int slot, const h5p_tx_slab *s, void *out);
    /* Normalizes and casts into out (the output's dtype); may return before the work is done. */
    h5prep_status (*finish)(h5p_tx *tx, int slot, const h5p_tx_finish *f, void *out);
    /* Returns once the slot's out buffer is complete and its in buffers may be refilled. */
    h5prep_status (*wait)(h5p_tx *tx, int slot);
    /* The statistics of output o's features over every gathered row that counted. */
    h5prep_status (*stats)(h5p_tx *tx, size_t o, h5p_moments *out);
} h5p_tx_ops;

extern const h5p_tx_ops h5p_tx_cpu;
#ifdef H5PREP_HAVE_CUDA
extern const h5p_tx_ops h5p_tx_cuda;
#endif

#endif
