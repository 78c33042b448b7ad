/* cpu.h: the insides of the CPU backend, shared by its table (cpu_backend.c), its statistics
 * (stats_cpu.c) and its transform (transform_cpu.c). The CPU backend is the reference for every
 * other: float64 decoding, a corrected two-pass per block, Chan's merge in a fixed lane order. */
#ifndef H5PREP_CPU_H
#define H5PREP_CPU_H

#include "backends/backend.h"
#include "backends/cpu/kernels_cpu.h"
#include "common/pool.h"

#include <stdatomic.h>

/* Work is split into LANES lanes, each with its own accumulators: a block gives lane u the u-th of
 * LANES equal ranges of its rows (or lines), threads take lanes as they come free, and the lanes
 * are merged in order at the block's end. Results are thus the same for any thread count, timing
 * and cut of the block into slabs. */
enum { H5P_CPU_LANES = 8 };

typedef struct h5p_cpu_thread {
    double *buf;         /* decoded block */
    double *scratch;     /* 6 * columns */
    h5p_states fold;     /* (columns,) states of a folded block */
    size_t cap_buf, cap_cols;
    int failed;
} h5p_cpu_thread;

/* A lane's rows that wait for the next piece of their block to fill a whole decoding block (stored
 * bytes): a block cut into pieces is then reduced in the very blocks it would be reduced in whole. */
typedef struct h5p_cpu_carry {
    unsigned char *buf;
    size_t cap, rows;
} h5p_cpu_carry;

typedef struct h5p_cpu_tx h5p_cpu_tx; /* transform_cpu.c */

struct h5p_backend {
    h5p_pool *pool;
    int nt;
    const h5p_cpu_kernels *kern; /* the hot loops for this CPU (or H5PREP_ISA) */
    /* statistics */
    h5p_cpu_thread *th;   /* (nt,) */
    uint64_t n_features;
    int nlanes;
    h5p_states lane[H5P_CPU_LANES];
    int lane_used[H5P_CPU_LANES]; /* the lane got rows of the current block */
    h5p_cpu_carry carry[H5P_CPU_LANES];
    const h5p_slab *slab; /* the slab of the current job */
    atomic_int next_lane;
    /* transform, from tx_begin */
    h5p_cpu_tx *tx;
};

/* Host states: allocates n of them and resets them (0 on success); free accepts a zeroed one. */
int h5p_states_init(h5p_states *s, size_t n);
void h5p_states_free(h5p_states *s);
void h5p_states_reset(h5p_states *s, size_t n);
h5p_moments h5p_states_get(const h5p_states *s, size_t i);

/* The CPU kernel on one block of decoded float64 values (x: rows x F, missing = NaN) with the
 * loops of table k: merges the block's per-column states into acc[base..base+F). scratch: 6*F
 * doubles. Exposed for tests. */
void h5p_cpu_block_stats(const h5p_cpu_kernels *k, const double *x, size_t rows, size_t F, double *scratch,
                         const h5p_states *acc, size_t base);

/* The statistics operations of the table (stats_cpu.c), and what they hold, freed by destroy. */
h5prep_status h5p_cpu_stats_begin(h5p_backend *be, uint64_t n_features, size_t slab_bytes);
h5prep_status h5p_cpu_stats_slab(h5p_backend *be, int slot, const h5p_slab *slab);
h5prep_status h5p_cpu_stats_end(h5p_backend *be, h5p_moments *out);
void h5p_cpu_stats_free(h5p_backend *be);

/* The transform operations of the table (transform_cpu.c). */
h5prep_status h5p_cpu_tx_begin(h5p_backend *be, const h5p_plan *plan, size_t in_bytes, size_t out_bytes);
h5prep_status h5p_cpu_keys(h5p_backend *be, uint64_t seed, uint64_t n, uint32_t *key);
h5prep_status h5p_cpu_gather(h5p_backend *be, int slot, const h5p_tx_slab *s, void *out);
h5prep_status h5p_cpu_finish(h5p_backend *be, int slot, const h5p_tx_finish *f, void *out);
h5prep_status h5p_cpu_tx_stats(h5p_backend *be, size_t o, h5p_moments *out);
void h5p_cpu_tx_free(h5p_backend *be);

#endif
