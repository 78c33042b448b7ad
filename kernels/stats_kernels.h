/* stats_kernels.h: the statistics kernels' arguments and launchers, shared by kernels/stats.cu
 * and the CUDA backend's host code (src/backend_cuda.c). Plain C; CUDA types come from
 * cuda_runtime.h (or the SIMT harness). */
#ifndef H5PREP_STATS_KERNELS_H
#define H5PREP_STATS_KERNELS_H

#if defined(H5PREP_SIMT)
#include "simt.h"
#else
#include <cuda_runtime.h>
#endif

#include "common/decode.h"
#include "common/dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Per-feature (or per-thread) states as arrays of float64, one array per field. */
typedef struct h5p_dev_states {
    double *n, *missing, *mean, *m2, *min, *max;
} h5p_dev_states;

/* A slab of `count` stored values viewed as [outer][features][inner], the flat index of a value
 * being (o*features + f)*inner + i. `threads` is a multiple of period = features*inner, so that
 * thread g always meets feature (g / inner) % features: reads stay coalesced and every thread
 * keeps one state in registers. */
typedef struct h5p_stats_args {
    const void *data;
    int dtype;                 /* h5p_dtype */
    unsigned long long count;  /* values in the slab */
    unsigned long long features, inner, threads;
    h5p_decode dec;
    h5p_dev_states part;       /* (threads,) per-thread states, written by stats_partial */
} h5p_stats_args;

/* Merges, for every feature f, the per-thread states that met f (in a fixed order) into
 * acc[base + f]. */
typedef struct h5p_merge_args {
    h5p_dev_states part;       /* (threads,) */
    unsigned long long features, inner, threads;
    unsigned long long base;
    h5p_dev_states acc;        /* (n_features,) accumulators of this ring slot */
} h5p_merge_args;

enum { H5P_STATS_BLOCK = 256, H5P_MERGE_BLOCK = 256 /* the widest merge block */ };

/* Launchers: check the arguments, size the grid, launch on `stream`, and return
 * cudaGetLastError() (cudaErrorInvalidValue for bad arguments). */
cudaError_t h5p_launch_stats_partial(const h5p_stats_args *a, cudaStream_t stream);
cudaError_t h5p_launch_stats_merge(const h5p_merge_args *a, cudaStream_t stream);
/* Sets n_features states to empty (n = 0, min = +inf, max = -inf). */
cudaError_t h5p_launch_states_reset(h5p_dev_states s, unsigned long long n, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
