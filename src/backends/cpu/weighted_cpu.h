/* weighted_cpu.h: the CPU's weighted statistics (--weights), a scalar reduction apart from the
 * vector kernels so that unweighted runs keep their speed: values in data order, each merged
 * into its feature's weighted state by West's (1979) update, the running mean kept in two doubles
 * so that large offsets (1e8 + noise) cost no precision. */
#ifndef H5PREP_WEIGHTED_CPU_H
#define H5PREP_WEIGHTED_CPU_H

#include "backends/backend.h"
#include "common/pool.h"

/* nf weighted states in one array: nf moments, then their nf sums of weights (the layout of a
 * weighted h5p_tree's nodes, output/state_tree.h). */
typedef struct h5p_wstates {
    uint64_t nf;
    h5p_moments *m; /* (nf moments, nf doubles) */
    double *w;      /* = (double *)(m + nf) */
    double *lo;     /* (nf,) the low part of each mean: m[f].mean + lo[f] is the running mean */
    double *buf;    /* decoded values, a buffer per thread */
    int threads;
} h5p_wstates;

/* States of nf features for slabs reduced on up to `threads` threads. */
h5prep_status h5p_wstates_init(h5p_wstates *a, uint64_t nf, int threads);
void h5p_wstates_reset(h5p_wstates *a);
/* Rounds each running mean (m[f].mean + lo[f]) into m[f].mean: the states are then complete. */
void h5p_wstates_finish(h5p_wstates *a);
void h5p_wstates_free(h5p_wstates *a); /* accepts a zeroed one */

/* Accumulates slab s into a, each feature's values one by one in memory order: value i, in row
 * i / row_elems of the slab, has weight w[(i / row_elems) * w_row_stride + i % row_elems]
 * (w_row_stride 0: the same weights in every row). Missing values are counted and carry no weight;
 * a value of weight 0 is counted in n, min and max but moves neither mean nor m2. Threads of pool
 * (NULL: the caller alone) take shares of the features, so the state after a run of values depends
 * neither on the threads nor on how the values were cut into slabs. */
void h5p_cpu_weighted_slab(h5p_wstates *a, const h5p_slab *s, const double *w, uint64_t w_row_stride,
                           uint64_t row_elems, h5p_pool *pool);

#endif
