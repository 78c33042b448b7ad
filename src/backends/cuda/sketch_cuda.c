/* sketch_cuda.c: the CUDA backend's quantile sketch: the slab that stats_slab copied to the device
 * is counted there (kernels/sketch.cu) in rows of bucket counts, which are read back and added to
 * the host sketch (h5p_sketch_add_feature): integer counts, so the sketch is the CPU's exactly.
 * Built against the CUDA runtime, or against the SIMT harness for h5prep-simt and the tests. */
#include "backends/cuda/cuda_common.h"

#include "common/sketch.h"

#include <stdlib.h>
#include <string.h>

struct h5p_cuda_sketch {
    double *log2m;             /* device copy of the host sketch's table */
    unsigned long long *rows;  /* device rows of counts (h5p_sketch_args) */
    uint64_t *host;            /* their copy on the host (the same 64-bit words), pinned */
    size_t cap;                /* words of both */
};

enum { ROW_VALUES_MIN = 65536 };                /* values per row at least: a row costs a read of its buckets */
#define ROWS_BYTES_MAX ((size_t)256 << 20)      /* rows of one slab at most, unless a row per feature needs more */

void h5p_cuda_sketch_free(h5p_backend *be)
{
    h5p_cuda_sketch *c = be->sketch;
    if (!c)
        return;
    if (c->log2m)
        cudaFree(c->log2m);
    if (c->rows)
        cudaFree(c->rows);
    if (c->host)
        cudaFreeHost(c->host);
    free(c);
    be->sketch = NULL;
}

/* Buffers for `words` words of rows, and the table (the same in every sketch: log2 of the mantissa). */
static h5prep_status sketch_buffers(h5p_backend *be, const h5p_sketch *sk, size_t words)
{
    if (!be->sketch) {
        be->sketch = calloc(1, sizeof *be->sketch);
        RETURN_ERROR_IF(!be->sketch, H5PREP_ERR_NOMEM, "cuda backend: out of memory for the quantile sketch");
        CUDA_TRY(cudaMalloc((void **)&be->sketch->log2m, sizeof sk->log2m));
        CUDA_TRY(cudaMemcpy(be->sketch->log2m, sk->log2m, sizeof sk->log2m, cudaMemcpyHostToDevice));
    }
    h5p_cuda_sketch *c = be->sketch;
    if (words > c->cap) {
        if (c->rows)
            cudaFree(c->rows);
        c->rows = NULL;
        if (c->host)
            cudaFreeHost(c->host);
        c->cap = 0;
        c->host = h5p_cuda_host_alloc(words * sizeof *c->host);
        RETURN_ERROR_IF(!c->host, H5PREP_ERR_NOMEM, "cuda backend: out of memory for %zu bytes of sketch counts",
                        words * sizeof *c->host);
        CUDA_TRY(cudaMalloc((void **)&c->rows, words * sizeof *c->rows));
        c->cap = words;
    }
    return H5PREP_OK;
}

h5prep_status h5p_cuda_sketch_slab(h5p_backend *be, int k, const h5p_slab *s, h5p_sketch *sk)
{
    unsigned long long per = s->outer * s->inner, W = H5P_SKETCH_ROW(sk->buckets);
    if (per == 0 || s->features == 0)
        return H5PREP_OK;
    /* enough rows to fill the device where features are few, within ROWS_BYTES_MAX */
    unsigned long long want = CEIL_DIV(be->target_threads / H5P_SKETCH_BLOCK, s->features);
    unsigned long long most = CEIL_DIV(per, (unsigned long long)ROW_VALUES_MIN);
    unsigned long long fit = ROWS_BYTES_MAX / (s->features * W * sizeof(unsigned long long));
    unsigned long long chunks = want < most ? want : most;
    chunks = chunks < fit ? chunks : fit;
    chunks = chunks > 0 ? chunks : 1;
    h5p_sketch_args a;
    memset(&a, 0, sizeof a);
    a.data = be->raw[k];
    a.dtype = (int)s->dtype;
    a.outer = s->outer;
    a.features = s->features;
    a.inner = s->inner;
    a.chunk = CEIL_DIV(per, chunks);
    a.chunks = CEIL_DIV(per, a.chunk); /* no empty row */
    a.dec = *s->dec;
    a.per_octave = sk->per_octave;
    a.buckets = sk->buckets;
    size_t words = (size_t)(s->features * a.chunks * W);
    FORWARD_IF_ERROR(sketch_buffers(be, sk, words));
    a.log2m = be->sketch->log2m;
    a.rows = be->sketch->rows;
    CUDA_TRY(h5p_launch_sketch_count(&a, be->stream[k]));
    CUDA_TRY(cudaMemcpyAsync(be->sketch->host, a.rows, words * sizeof *a.rows, cudaMemcpyDeviceToHost, be->stream[k]));
    CUDA_TRY(cudaStreamSynchronize(be->stream[k]));
    const uint64_t B = (uint64_t)sk->buckets;
    for (unsigned long long r = 0; r < s->features * a.chunks; r++) {
        const uint64_t *row = be->sketch->host + r * W;
        int32_t top[2] = {(int32_t)(int64_t)row[2 * B + 3], (int32_t)(int64_t)row[2 * B + 4]};
        uint64_t below[2] = {row[2 * B], row[2 * B + 1]};
        h5p_sketch_add_feature(sk, s->feature_base + r / a.chunks, top, row, below, row[2 * B + 2]);
    }
    return H5PREP_OK;
}
