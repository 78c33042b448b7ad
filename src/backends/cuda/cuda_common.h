/* cuda_common.h: the insides of the CUDA backend, shared by its table (cuda_backend.c), its
 * statistics (stats_cuda.c) and its transform (transform_cuda.c): the backend's state, errors as
 * statuses, device opening, pinned memory, device states, and the one statistics launch. */
#ifndef H5PREP_CUDA_COMMON_H
#define H5PREP_CUDA_COMMON_H

#include "backends/backend.h"
#include "common/internal.h"
#include "launch.h"

/* Every CUDA error becomes a status naming the call and CUDA's message. */
#define CUDA_TRY(call)                                                                             \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            return h5p_fail(H5PREP_ERR_BACKEND, "cuda: %s failed: %s (%s)", #call, cudaGetErrorName(e_), \
                            cudaGetErrorString(e_));                                               \
    } while (0)

typedef struct h5p_cuda_tx h5p_cuda_tx; /* transform_cuda.c */
typedef struct h5p_cuda_weighted h5p_cuda_weighted; /* weighted_cuda.c */
typedef struct h5p_cuda_sketch h5p_cuda_sketch; /* sketch_cuda.c */

/* One stream per ring slot; done[k] is recorded once slot k's host buffers may be refilled and its
 * results are on the host (after the copy to the device for statistics, after the copy back for a
 * transform). */
struct h5p_backend {
    int nslots;
    unsigned long long target_threads;        /* enough threads to fill the device (2048 per SM) */
    cudaStream_t stream[H5P_RING_SLOTS_MAX];
    cudaEvent_t done[H5P_RING_SLOTS_MAX];
    h5p_states part[H5P_RING_SLOTS_MAX];      /* per-thread states of the statistics kernel */
    unsigned long long part_cap;
    /* statistics */
    void *raw[H5P_RING_SLOTS_MAX];            /* device copy of the slot's slab, stored type */
    size_t raw_bytes;
    h5p_states acc[H5P_RING_SLOTS_MAX];       /* per-slot accumulators of the variable's features */
    unsigned long long acc_cap, n_features;
    /* transform, from tx_begin */
    h5p_cuda_tx *tx;
    /* weighted statistics, from wstats_begin */
    h5p_cuda_weighted *wtd;
    /* quantile sketch, from its first slab */
    h5p_cuda_sketch *sketch;
};

/* Selects `device`, or says that no device answers. *target_threads: enough threads to fill it. */
h5prep_status h5p_cuda_open(int device, unsigned long long *target_threads);

/* Pinned host memory (NULL when it cannot be had), for ring slots. */
void *h5p_cuda_host_alloc(size_t bytes);

/* n states on the device, one array per field, n apart; free accepts zeroed states. */
h5prep_status h5p_cuda_states_alloc(h5p_states *s, unsigned long long n);
void h5p_cuda_states_free(h5p_states *s);

/* out[f] (f < nf) = the merge, in slot order, of the slots' accumulators acc[k] (fields `stride`
 * apart), each read once its stream is done: the result does not depend on timing. */
h5prep_status h5p_cuda_states_read(const h5p_states *acc, const cudaStream_t *stream, int nslots,
                                   unsigned long long stride, unsigned long long nf, h5p_moments *out);

/* The statistics kernels on slot k's stream: per-thread states over a.count values of a.data
 * (a.dtype, a.dec, viewed as [outer][a.features][a.inner]), merged into acc[base + f]. Sizes the
 * grid and grows every slot's per-thread states when needed; `what` names the data in errors. */
h5prep_status h5p_cuda_reduce(h5p_backend *be, int k, h5p_stats_args a, unsigned long long base, h5p_states acc,
                              const char *what);

/* The statistics operations of the table (stats_cuda.c), and what they hold, freed by destroy. */
h5prep_status h5p_cuda_stats_begin(h5p_backend *be, uint64_t n_features, size_t slab_bytes);
h5prep_status h5p_cuda_stats_slab(h5p_backend *be, int slot, const h5p_slab *slab);
h5prep_status h5p_cuda_stats_end(h5p_backend *be, h5p_moments *out);
void h5p_cuda_stats_free(h5p_backend *be);

/* The transform operations of the table (transform_cuda.c). */
h5prep_status h5p_cuda_tx_begin(h5p_backend *be, const h5p_plan *plan, size_t in_bytes, size_t out_bytes);
h5prep_status h5p_cuda_keys(h5p_backend *be, uint64_t seed, uint64_t n, uint32_t *key);
h5prep_status h5p_cuda_gather(h5p_backend *be, int slot, const h5p_tx_slab *s, void *out);
h5prep_status h5p_cuda_finish(h5p_backend *be, int slot, const h5p_tx_finish *f, void *out);
h5prep_status h5p_cuda_tx_stats(h5p_backend *be, size_t o, h5p_moments *out);
void h5p_cuda_tx_free(h5p_backend *be);

/* The weighted statistics operations of the table (weighted_cuda.c). */
h5prep_status h5p_cuda_wstats_begin(h5p_backend *be, uint64_t n_features, const double *w, uint64_t w_count);
h5prep_status h5p_cuda_wstats_slab(h5p_backend *be, int slot, const h5p_wslab *ws);
h5prep_status h5p_cuda_wstats_end(h5p_backend *be, h5p_moments *out, double *wsum);
void h5p_cuda_wstats_free(h5p_backend *be);
/* The quantile sketch operation of the table (sketch_cuda.c), and what it holds, freed by destroy. */
h5prep_status h5p_cuda_sketch_slab(h5p_backend *be, int slot, const h5p_slab *slab, struct h5p_sketch *sk);
void h5p_cuda_sketch_free(h5p_backend *be);

#endif
