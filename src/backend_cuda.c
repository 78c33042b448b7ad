/* backend_cuda.c: the CUDA backend: pinned ring slots, one stream and one event per slot; a
 * slab is copied to the device in its stored type and reduced there (kernels/stats.cu). Built
 * against the CUDA runtime, or against the SIMT harness for h5prep-simt and the tests. */
#include "backend.h"
#include "internal.h"
#include "stats_kernels.h"

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

/* Every CUDA error becomes a status naming the call and CUDA's message. */
#define CUDA_TRY(call)                                                                             \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            return h5p_fail(H5PREP_ERR_BACKEND, "cuda: %s failed: %s (%s)", #call, cudaGetErrorName(e_), \
                            cudaGetErrorString(e_));                                               \
    } while (0)

static h5prep_status states_alloc(h5p_dev_states *s, unsigned long long n)
{
    double *p = NULL;
    CUDA_TRY(cudaMalloc((void **)&p, 6 * (n ? n : 1) * sizeof(double)));
    s->n = p, s->missing = p + n, s->mean = p + 2 * n, s->m2 = p + 3 * n, s->min = p + 4 * n, s->max = p + 5 * n;
    return H5PREP_OK;
}

static void states_free(h5p_dev_states *s)
{
    if (s->n)
        cudaFree(s->n);
    memset(s, 0, sizeof *s);
}

static void cuda_destroy(h5p_backend *be)
{
    if (!be)
        return;
    for (int k = 0; k < be->nslots; k++) {
        if (be->stream[k])
            cudaStreamSynchronize(be->stream[k]);
        states_free(&be->part[k]);
        states_free(&be->acc[k]);
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
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        cudaGetLastError(); /* clear it */
        h5p_fail(H5PREP_ERR_BACKEND, "no CUDA device answers (%s)",
                 e != cudaSuccess ? cudaGetErrorString(e) : "no device found");
        return h5p_hint(H5PREP_ERR_BACKEND, "run on a GPU node, or use --backend cpu (or auto), which gives the same statistics");
    }
    RETURN_ERROR_IF(cfg->device < 0 || cfg->device >= count, H5PREP_ERR_BACKEND,
                    "--device %d: there are %d CUDA devices (0..%d)", cfg->device, count, count - 1);
    RETURN_ERROR_IF(cfg->slots > MAX_SLOTS, H5PREP_ERR_USAGE, "--slots %d: the CUDA backend takes at most %d",
                    cfg->slots, MAX_SLOTS);
    CUDA_TRY(cudaSetDevice(cfg->device));
    struct cudaDeviceProp prop;
    CUDA_TRY(cudaGetDeviceProperties(&prop, cfg->device));
    h5p_backend *be = calloc(1, sizeof *be);
    RETURN_ERROR_IF(!be, H5PREP_ERR_NOMEM, "cuda backend: out of memory");
    be->device = cfg->device;
    be->nslots = cfg->slots > 0 ? cfg->slots : 2;
    be->target_threads = (unsigned long long)(prop.multiProcessorCount > 0 ? prop.multiProcessorCount : 1) * 2048ULL;
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
    void *p = NULL;
    return cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocDefault) == cudaSuccess ? p : NULL;
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
            states_free(&be->acc[k]);
            FORWARD_IF_ERROR(states_alloc(&be->acc[k], n_features));
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
            states_free(&be->part[j]);
            FORWARD_IF_ERROR(states_alloc(&be->part[j], threads));
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
    uint64_t nf = be->n_features, cap = be->acc_cap; /* fields are cap apart on the device */
    double *host = malloc(6 * (cap ? cap : 1) * sizeof *host);
    RETURN_ERROR_IF(!host, H5PREP_ERR_NOMEM, "cuda backend: no memory for %llu states", (unsigned long long)nf);
    for (uint64_t f = 0; f < nf; f++)
        out[f] = h5p_moments_empty();
    h5prep_status st = H5PREP_OK;
    for (int k = 0; k < be->nslots && st == H5PREP_OK; k++) {
        cudaError_t e = cudaStreamSynchronize(be->stream[k]);
        if (e == cudaSuccess)
            e = cudaMemcpy(host, be->acc[k].n, 6 * cap * sizeof *host, cudaMemcpyDeviceToHost);
        if (e != cudaSuccess) {
            st = h5p_fail(H5PREP_ERR_BACKEND, "cuda: reading the statistics back failed: %s (%s)", cudaGetErrorName(e),
                          cudaGetErrorString(e));
            break;
        }
        for (uint64_t f = 0; f < nf; f++) { /* slots in order: the result does not depend on timing */
            h5p_moments m = {(int64_t)host[f], (int64_t)host[cap + f], host[2 * cap + f], host[3 * cap + f],
                             host[4 * cap + f], host[5 * cap + f]};
            h5p_moments_merge(&out[f], &m);
        }
    }
    free(host);
    return st;
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
