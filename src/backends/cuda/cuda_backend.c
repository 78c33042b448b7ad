/* cuda_backend.c: the CUDA backend's table (backends/backend.h): a device, one stream and one
 * event per ring slot, pinned host memory; statistics in stats_cuda.c, weighted statistics in
 * weighted_cuda.c, the quantile sketch in sketch_cuda.c, transforms in transform_cuda.c. Built
 * against the CUDA runtime, or against the SIMT harness. */
#include "backends/cuda/cuda_common.h"

#include <stdlib.h>

static void cuda_destroy(h5p_backend *be)
{
    if (!be)
        return;
    for (int k = 0; k < be->nslots; k++)
        if (be->stream[k])
            cudaStreamSynchronize(be->stream[k]);
    h5p_cuda_tx_free(be);
    h5p_cuda_wstats_free(be);
    h5p_cuda_stats_free(be);
    h5p_cuda_sketch_free(be);
    for (int k = 0; k < be->nslots; k++) {
        h5p_cuda_states_free(&be->part[k]);
        if (be->done[k])
            cudaEventDestroy(be->done[k]);
        if (be->stream[k])
            cudaStreamDestroy(be->stream[k]);
    }
    free(be);
}

static h5prep_status cuda_create(h5p_backend **out, const h5prep_stats_config *cfg, int nslots)
{
    unsigned long long target_threads;
    FORWARD_IF_ERROR(h5p_cuda_open(cfg->device, &target_threads));
    h5p_backend *be = calloc(1, sizeof *be);
    RETURN_ERROR_IF(!be, H5PREP_ERR_NOMEM, "cuda backend: out of memory");
    be->nslots = nslots;
    be->target_threads = target_threads;
    for (int k = 0; k < nslots; k++) {
        cudaError_t es = cudaStreamCreateWithFlags(&be->stream[k], cudaStreamNonBlocking);
        if (es == cudaSuccess)
            es = cudaEventCreateWithFlags(&be->done[k], cudaEventDisableTiming);
        if (es != cudaSuccess) {
            cuda_destroy(be);
            return h5p_fail(H5PREP_ERR_BACKEND, "cuda: creating the streams and events of %d slots failed: %s", nslots,
                            cudaGetErrorString(es));
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

static h5prep_status cuda_wait(h5p_backend *be, int k)
{
    CUDA_TRY(cudaEventSynchronize(be->done[k]));
    return H5PREP_OK;
}

const h5p_backend_ops h5p_backend_cuda = {
    .name = "cuda",
    .zero_copy = 0,
    .create = cuda_create,
    .destroy = cuda_destroy,
    .alloc_host = cuda_alloc_host,
    .free_host = cuda_free_host,
    .wait = cuda_wait,
    .stats_begin = h5p_cuda_stats_begin,
    .stats_slab = h5p_cuda_stats_slab,
    .stats_end = h5p_cuda_stats_end,
    .tx_begin = h5p_cuda_tx_begin,
    .keys = h5p_cuda_keys,
    .gather = h5p_cuda_gather,
    .finish = h5p_cuda_finish,
    .tx_stats = h5p_cuda_tx_stats,
    .wstats_begin = h5p_cuda_wstats_begin,
    .wstats_slab = h5p_cuda_wstats_slab,
    .wstats_end = h5p_cuda_wstats_end,
    .sketch_slab = h5p_cuda_sketch_slab,
};
