/* backend_cuda.c: the CUDA backend: pinned ring slots, one stream and one event per slot; a
 * slab is copied to the device in its stored type and reduced there (kernels/stats.cu). Built
 * against the CUDA runtime, or against the SIMT harness for h5prep-simt and the tests. */
#include "backends/backend.h"
#include "backends/cuda/cuda_common.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_SLOTS = 64 };

struct h5p_backend {
    int device, nslots;
    unsigned long long target_threads; /* enough threads to fill the device */
    cudaStream_t stream[MAX_SLOTS];
    cudaEvent_t copied[MAX_SLOTS];     /* recorded after the slot's host-to-device copy */
    void *raw[MAX_SLOTS];              /* device copy of the slot's slab, stored type */
    size_t raw_bytes;
    h5p_dev_states part[MAX_SLOTS];    /* per-thread states of the slot's last slab */
    unsigned long long part_cap;
    h5p_dev_states acc[MAX_SLOTS];     /* per-slot accumulators of the variable's features */
    unsigned long long acc_cap, n_features;
};

static void cuda_destroy(h5p_backend *be)
{
    if (!be)
        return;
    for (int k = 0; k < be->nslots; k++) {
        if (be->stream[k])
            cudaStreamSynchronize(be->stream[k]);
        h5p_cuda_states_free(&be->part[k]);
        h5p_cuda_states_free(&be->acc[k]);
        if (be->raw[k])
            cudaFree(be->raw[k]);
        if (be->copied[k])
            cudaEventDestroy(be->copied[k]);
        if (be->stream[k])
            cudaStreamDestroy(be->stream[k]);
    }
    free(be);
}

static h5prep_status cuda_create(h5p_backend **out, const h5prep_stats_config *cfg)
{
    RETURN_ERROR_IF(cfg->slots > MAX_SLOTS, H5PREP_ERR_USAGE, "--slots %d: the CUDA backend takes at most %d",
                    cfg->slots, MAX_SLOTS);
    unsigned long long target_threads;
    FORWARD_IF_ERROR(h5p_cuda_open(cfg->device, "statistics", &target_threads));
    h5p_backend *be = calloc(1, sizeof *be);
    RETURN_ERROR_IF(!be, H5PREP_ERR_NOMEM, "cuda backend: out of memory");
    be->device = cfg->device;
    be->nslots = cfg->slots > 0 ? cfg->slots : 2;
    be->target_threads = target_threads;
    for (int k = 0; k < be->nslots; k++) {
        cudaError_t es = cudaStreamCreateWithFlags(&be->stream[k], cudaStreamNonBlocking);
        if (es == cudaSuccess)
            es = cudaEventCreateWithFlags(&be->copied[k], cudaEventDisableTiming);
        if (es != cudaSuccess) {
            cuda_destroy(be);
            return h5p_fail(H5PREP_ERR_BACKEND, "cuda: creating the streams and events of %d slots failed: %s",
                            cfg->slots, cudaGetErrorString(es));
        }
    }
    *out = be;
    return H5PREP_OK;
}

static void *cuda_alloc_host(h5p_backend *be, size_t bytes)
{
    (void)be;
    return h5p_cuda_host_alloc(bytes);
}

static void cuda_free_host(h5p_backend *be, void *p)
{
    (void)be;
    cudaFreeHost(p);
}

static h5prep_status cuda_begin_var(h5p_backend *be, uint64_t n_features, size_t slab_bytes)
{
    be->n_features = n_features;
    for (int k = 0; k < be->nslots; k++) {
        CUDA_TRY(cudaStreamSynchronize(be->stream[k]));
        if (slab_bytes > be->raw_bytes) {
            if (be->raw[k])
                cudaFree(be->raw[k]);
            be->raw[k] = NULL;
            CUDA_TRY(cudaMalloc(&be->raw[k], slab_bytes));
        }
        if (n_features > be->acc_cap) {
            h5p_cuda_states_free(&be->acc[k]);
            FORWARD_IF_ERROR(h5p_cuda_states_alloc(&be->acc[k], n_features));
        }
        CUDA_TRY(h5p_launch_states_reset(be->acc[k], n_features, be->stream[k]));
    }
    /* buffers only grow: a run allocates them for its first variable and its largest slabs */
    be->raw_bytes = slab_bytes > be->raw_bytes ? slab_bytes : be->raw_bytes;
    be->acc_cap = n_features > be->acc_cap ? n_features : be->acc_cap;
    return H5PREP_OK;
}

/* Threads for a slab: a multiple of its period (features * inner) near the device's size. */
static unsigned long long slab_threads(const h5p_backend *be, const h5p_slab *s)
{
    unsigned long long period = s->features * s->inner;
    unsigned long long m = be->target_threads / period;
    return period * (m > 0 ? m : 1);
}

static h5prep_status cuda_stats_slab(h5p_backend *be, int k, const h5p_slab *s)
{
    size_t bytes = (size_t)(s->outer * s->features * s->inner) * h5p_dtype_size(s->dtype);
    RETURN_ERROR_IF(bytes > be->raw_bytes, H5PREP_ERR_INTERNAL, "cuda backend: slab of %zu bytes in a %zu-byte slot",
                    bytes, be->raw_bytes);
    unsigned long long threads = slab_threads(be, s);
    RETURN_ERROR_IF(threads > (1ULL << 26), H5PREP_ERR_BACKEND,
                    "cuda backend: %llu features x %llu positions per feature row is more than it keeps states for",
                    (unsigned long long)s->features, (unsigned long long)s->inner);
    if (threads > be->part_cap) { /* the first slabs size these; later ones reuse them */
        for (int j = 0; j < be->nslots; j++) {
            CUDA_TRY(cudaStreamSynchronize(be->stream[j]));
            h5p_cuda_states_free(&be->part[j]);
            FORWARD_IF_ERROR(h5p_cuda_states_alloc(&be->part[j], threads));
        }
        be->part_cap = threads;
    }
    CUDA_TRY(cudaMemcpyAsync(be->raw[k], s->data, bytes, cudaMemcpyHostToDevice, be->stream[k]));
    CUDA_TRY(cudaEventRecord(be->copied[k], be->stream[k]));
    h5p_stats_args a;
    memset(&a, 0, sizeof a);
    a.data = be->raw[k];
    a.dtype = (int)s->dtype;
    a.count = s->outer * s->features * s->inner;
    a.features = s->features;
    a.inner = s->inner;
    a.threads = threads;
    a.dec = *s->dec;
    a.part = be->part[k];
    CUDA_TRY(h5p_launch_stats_partial(&a, be->stream[k]));
    h5p_merge_args m;
    memset(&m, 0, sizeof m);
    m.part = be->part[k];
    m.features = s->features;
    m.inner = s->inner;
    m.threads = threads;
    m.base = s->feature_base;
    m.acc = be->acc[k];
    CUDA_TRY(h5p_launch_stats_merge(&m, be->stream[k]));
    return H5PREP_OK;
}

/* The slot's pinned buffer is free again once its copy to the device has completed. */
static h5prep_status cuda_slot_wait(h5p_backend *be, int k)
{
    CUDA_TRY(cudaEventSynchronize(be->copied[k]));
    return H5PREP_OK;
}

static h5prep_status cuda_end_var(h5p_backend *be, h5p_moments *out)
{
    /* fields are acc_cap apart on the device */
    return h5p_cuda_states_read(be->acc, be->stream, be->nslots, be->acc_cap, be->n_features, out);
}

const h5p_backend_ops h5p_backend_cuda = {
    .name = "cuda",
    .zero_copy = 0,
    .create = cuda_create,
    .destroy = cuda_destroy,
    .alloc_host = cuda_alloc_host,
    .free_host = cuda_free_host,
    .begin_var = cuda_begin_var,
    .stats_slab = cuda_stats_slab,
    .slot_wait = cuda_slot_wait,
    .end_var = cuda_end_var,
};
