/* launch.h: every kernel's argument struct and launcher, for the CUDA backend's host code
 * (src/backends/cuda) and the kernels (the .cu files beside it). A launcher checks its arguments, sizes the
 * grid with CEIL_DIV, launches on the given stream and returns cudaGetLastError(). Plain C; CUDA
 * types come from cuda_runtime.h, or from the SIMT harness under H5PREP_SIMT. */
#ifndef H5PREP_KERNELS_LAUNCH_H
#define H5PREP_KERNELS_LAUNCH_H

#if defined(H5PREP_SIMT)
#include "simt.h"
#else
#include <cuda_runtime.h>
#endif

#include "common/decode.h"
#include "common/dtype.h"
#include "common/hd.h"
#include "common/moments.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- statistics (kernels/stats.cu) ---- */

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
    h5p_states part;       /* (threads,) per-thread states, written by stats_partial */
} h5p_stats_args;

/* Merges, for every feature f, the per-thread states that met f (in a fixed order) into
 * acc[base + f]. */
typedef struct h5p_merge_args {
    h5p_states part;       /* (threads,) */
    unsigned long long features, inner, threads;
    unsigned long long base;
    h5p_states acc;        /* (n_features,) accumulators of this ring slot */
} h5p_merge_args;

enum { H5P_STATS_BLOCK = 256, H5P_MERGE_BLOCK = 256 /* the widest merge block */ };

/* Launchers: check the arguments, size the grid, launch on `stream`, and return
 * cudaGetLastError() (cudaErrorInvalidValue for bad arguments). */
cudaError_t h5p_launch_stats_partial(const h5p_stats_args *a, cudaStream_t stream);
cudaError_t h5p_launch_stats_merge(const h5p_merge_args *a, cudaStream_t stream);
/* Sets n_features states to empty (n = 0, min = +inf, max = -inf). */
cudaError_t h5p_launch_states_reset(h5p_states s, unsigned long long n, cudaStream_t stream);

/* ---- weighted statistics (kernels/weighted.cu, --weights) ---- */

/* Weighted states of a variable's features, `lanes` per feature: lane j of feature f (state
 * f*lanes + j) takes, in data order (h5p_wmoments_add), the values of f whose index k among f's
 * values in the block has k % lanes == j. A lane's values depend on data position alone, so a
 * block's state does not depend on how it was cut into slabs. */
typedef struct h5p_wlanes {
    h5p_moments *m; /* (features * lanes,) */
    double *w, *lo; /* (features * lanes,) sums of weights; the low parts of the running means */
} h5p_wlanes;

/* A slab into the lanes: value i = (o*features + f)*inner + q has weight
 * w[(i / row_elems) * w_row_stride + i % row_elems] and index k0 + o*inner + q among the values
 * of feature base + f in its block. */
typedef struct h5p_wslab_args {
    const void *data;
    int dtype; /* h5p_dtype */
    h5p_decode dec;
    unsigned long long outer, features, inner, base, k0;
    const double *w;
    unsigned long long w_row_stride, row_elems;
    unsigned long long lanes;
    h5p_wlanes s;
} h5p_wslab_args;

/* out[f] and wsum[f], f < features: feature f's lanes merged in lane order (h5p_wmoments_merge);
 * the lanes are left empty for the next block. */
typedef struct h5p_wfold_args {
    h5p_wlanes s;
    unsigned long long features, lanes;
    h5p_moments *out; /* (features,) */
    double *wsum;     /* (features,) */
} h5p_wfold_args;

enum { H5P_WEIGHTED_BLOCK = 256 };

cudaError_t h5p_launch_weighted_slab(const h5p_wslab_args *a, cudaStream_t stream);
cudaError_t h5p_launch_weighted_fold(const h5p_wfold_args *a, cudaStream_t stream);
/* Sets n lanes to empty. */
cudaError_t h5p_launch_weighted_reset(h5p_wlanes s, unsigned long long n, cudaStream_t stream);

/* ---- transform (kernels/transform.cu) ---- */

/* One variable's rows of a slab on the device. */
typedef struct h5p_gvar {
    const void *data;           /* (rows, elems) stored type */
    int dtype;                  /* h5p_dtype */
    unsigned long long elems;   /* per sample */
    h5p_decode dec;
} h5p_gvar;

/* out[i, j] = element sidx[j] of sample order[i] of variable vidx[j], decoded; constants[sidx[j]]
 * where vidx[j] == nvars. Stored as float64 (out_f64) or float32. */
typedef struct h5p_gather_args {
    const h5p_gvar *vars;       /* (nvars,) */
    unsigned int nvars;
    const double *constants;
    const unsigned int *vidx, *sidx; /* (elems,) */
    const unsigned int *order;  /* (rows,) */
    unsigned long long rows, elems;
    int out_f64;
    void *out;                  /* (rows, elems) */
    unsigned int max_blocks;    /* grid limit: enough blocks to fill the device, the loop strides */
} h5p_gather_args;

/* out[i, j] = cast((in[i, j] - shift[f]) / div[f]), f = (j / inner) % features; out_dtype:
 * h5p_out_dtype. With a CDF table (off not NULL; normalize: quantile) instead out[i, j] =
 * cast(the CDF of in[i, j] in feature f's entries [off[f], off[f + 1]) of the table), by
 * h5p_cdf_lookup (common/sketch_cdf.h), the CPU's own, with log2m and per_octave of the table's
 * sketch; shift and div are not read. */
typedef struct h5p_finish_args {
    const void *in;             /* (rows, elems) float32, or float64 when in_f64 */
    int in_f64;
    void *out;                  /* (rows, elems) of out_dtype */
    int out_dtype;
    const double *shift, *div;  /* (features,) */
    const uint64_t *off;        /* (features + 1,) or NULL */
    const int64_t *order;       /* (off[features],) */
    const double *p;            /* (off[features],) */
    const double *log2m;        /* (H5P_SKETCH_TABLE + 1,) */
    double per_octave;
    unsigned long long rows, elems, features, inner;
    unsigned int max_blocks;
} h5p_finish_args;

cudaError_t h5p_launch_gather(const h5p_gather_args *a, cudaStream_t stream);
cudaError_t h5p_launch_finish(const h5p_finish_args *a, cudaStream_t stream);

/* ---- split keys (kernels/philox.cu) ---- */

enum { H5P_PHILOX_BLOCK = 256 };

/* keys: (n,) device memory. keys[i] = output i of cuRAND's host generator
 * CURAND_RNG_PSEUDO_PHILOX4_32_10 seeded with `seed` (the keys of h5p_split_keys). n == 0 launches
 * nothing; cudaErrorInvalidValue when keys is NULL for n > 0. Returns cudaGetLastError(). */
cudaError_t h5p_launch_philox_keys(unsigned long long seed, unsigned long long n, unsigned int *keys,
                                   cudaStream_t stream);

/* ---- quantile sketch (kernels/sketch.cu) ---- */

enum { H5P_SKETCH_BLOCK = 256 };

/* The sketch of a slab [outer][features][inner] (h5p_stats_args' view), in rows of values: row
 * r = f * chunks + c holds feature f's values j in [c * chunk, (c + 1) * chunk) of its outer *
 * inner (j = o * inner + i), as H5P_SKETCH_ROW(buckets) words: for each store (0 negative, 1
 * positive) `buckets` counts of the indices top - buckets + 1 .. top, then below[0], below[1],
 * zero and top[0], top[1] (as long long; H5P_SKETCH_EMPTY without values). Missing values are
 * left out. log2m and per_octave: those of the host sketch (common/sketch_index.h). */
typedef struct h5p_sketch_args {
    const void *data;
    int dtype;                 /* h5p_dtype */
    unsigned long long outer, features, inner;
    unsigned long long chunk, chunks;
    h5p_decode dec;
    const double *log2m;       /* (H5P_SKETCH_TABLE + 1,) device memory */
    double per_octave;
    int buckets;
    unsigned long long *rows;  /* (features * chunks, H5P_SKETCH_ROW(buckets)) */
} h5p_sketch_args;

#define H5P_SKETCH_ROW(buckets) (2 * (unsigned long long)(buckets) + 5)

cudaError_t h5p_launch_sketch_count(const h5p_sketch_args *a, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
