/* stats_cuda.c: the CUDA backend's statistics: a slab is copied to the device in its stored type
 * and reduced there (kernels/stats.cu) into per-slot accumulators, merged in slot order at the end
 * of each block. Its states do not follow the block's unit positions: they agree with the CPU's
 * within the stated tolerance, not bit for bit across --mem.
 * Built against the CUDA runtime, or against the SIMT harness for h5prep-simt and the tests. */
#include "backends/cuda/cuda_common.h"

#include <string.h>

void h5p_cuda_stats_free(h5p_backend *be)
{
    for (int k = 0; k < be->nslots; k++) {
        h5p_cuda_states_free(&be->acc[k]);
        if (be->raw[k])
            cudaFree(be->raw[k]);
        be->raw[k] = NULL;
    }
}

h5prep_status h5p_cuda_stats_begin(h5p_backend *be, uint64_t n_features, size_t slab_bytes)
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

h5prep_status h5p_cuda_stats_slab(h5p_backend *be, int k, const h5p_slab *s)
{
    size_t bytes = (size_t)(s->outer * s->features * s->inner) * h5p_dtype_size(s->dtype);
    RETURN_ERROR_IF(bytes > be->raw_bytes, H5PREP_ERR_INTERNAL, "cuda backend: slab of %zu bytes in a %zu-byte slot",
                    bytes, be->raw_bytes);
    CUDA_TRY(cudaMemcpyAsync(be->raw[k], s->data, bytes, cudaMemcpyHostToDevice, be->stream[k]));
    CUDA_TRY(cudaEventRecord(be->done[k], be->stream[k])); /* the slot's pinned buffer is free again */
    h5p_stats_args a;
    memset(&a, 0, sizeof a);
    a.data = be->raw[k];
    a.dtype = (int)s->dtype;
    a.count = s->outer * s->features * s->inner;
    a.features = s->features;
    a.inner = s->inner;
    a.dec = *s->dec;
    return h5p_cuda_reduce(be, k, a, s->feature_base, be->acc[k], "a slab");
}

h5prep_status h5p_cuda_stats_end(h5p_backend *be, h5p_moments *out)
{
    /* fields are acc_cap apart on the device */
    FORWARD_IF_ERROR(h5p_cuda_states_read(be->acc, be->stream, be->nslots, be->acc_cap, be->n_features, out));
    for (int k = 0; k < be->nslots; k++) /* the next block starts from empty states */
        CUDA_TRY(h5p_launch_states_reset(be->acc[k], be->n_features, be->stream[k]));
    return H5PREP_OK;
}
