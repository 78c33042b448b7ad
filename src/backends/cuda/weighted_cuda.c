/* weighted_cuda.c: the CUDA backend's weighted statistics (--weights): the weight table copied to
 * the device once per variable, slabs copied and reduced there into lanes (kernels/weighted.cu) that take a feature's values
 * by position in the block, folded per feature at the block's end. Everything runs on slot 0's
 * stream, in slab order, because the lanes carry from one slab of a block to the next: a block's
 * states then depend on data position alone, not on --mem, --slots or --threads. */
#include "backends/cuda/cuda_common.h"

#include <stdlib.h>
#include <string.h>

struct h5p_cuda_weighted {
    h5p_wlanes lanes;                  /* (nf * per,) */
    unsigned long long nf, per, cap;   /* features, lanes per feature, lanes allocated */
    h5p_moments *out;                  /* (nf,) then the nf sums of weights */
    unsigned long long out_cap;
    void *data;                        /* the slab, stored type */
    size_t data_bytes;
    double *w;                         /* the variable's weight table */
    size_t w_bytes;
    uint64_t w_count;
};

static void free_lanes(h5p_cuda_weighted *c)
{
    if (c->lanes.m)
        cudaFree(c->lanes.m);
    memset(&c->lanes, 0, sizeof c->lanes);
    c->cap = 0;
}

void h5p_cuda_wstats_free(h5p_backend *be)
{
    h5p_cuda_weighted *c = be->wtd;
    if (!c)
        return;
    free_lanes(c);
    if (c->out)
        cudaFree(c->out);
    if (c->data)
        cudaFree(c->data);
    if (c->w)
        cudaFree(c->w);
    free(c);
    be->wtd = NULL;
}

/* *p holds at least `bytes` of device memory (it only grows; the stream is idle when it does). */
static h5prep_status grow(h5p_backend *be, void **p, size_t *cap, size_t bytes)
{
    if (bytes <= *cap)
        return H5PREP_OK;
    CUDA_TRY(cudaStreamSynchronize(be->stream[0]));
    if (*p)
        cudaFree(*p);
    *p = NULL;
    *cap = 0;
    CUDA_TRY(cudaMalloc(p, bytes));
    *cap = bytes;
    return H5PREP_OK;
}

h5prep_status h5p_cuda_wstats_begin(h5p_backend *be, uint64_t n_features, const double *w, uint64_t w_count)
{
    if (!be->wtd) {
        be->wtd = calloc(1, sizeof *be->wtd);
        RETURN_ERROR_IF(!be->wtd, H5PREP_ERR_NOMEM, "cuda backend: out of memory");
    }
    h5p_cuda_weighted *c = be->wtd;
    for (int k = 0; k < be->nslots; k++)
        CUDA_TRY(cudaStreamSynchronize(be->stream[k]));
    /* lanes per feature from the device's size and the feature count alone, never from the slabs */
    unsigned long long nf = n_features, per = be->target_threads / (nf ? nf : 1);
    per = per > 0 ? per : 1;
    if (nf * per > c->cap) {
        free_lanes(c);
        double *p = NULL;
        size_t one = sizeof(h5p_moments) + 2 * sizeof(double);
        CUDA_TRY(cudaMalloc((void **)&p, nf * per * one));
        c->lanes.m = (h5p_moments *)p;
        c->lanes.w = (double *)(c->lanes.m + nf * per);
        c->lanes.lo = c->lanes.w + nf * per;
        c->cap = nf * per;
    }
    if (nf > c->out_cap) {
        if (c->out)
            cudaFree(c->out);
        c->out = NULL;
        c->out_cap = 0;
        CUDA_TRY(cudaMalloc((void **)&c->out, nf * (sizeof(h5p_moments) + sizeof(double))));
        c->out_cap = nf;
    }
    FORWARD_IF_ERROR(grow(be, (void **)&c->w, &c->w_bytes, (size_t)w_count * sizeof *w));
    CUDA_TRY(cudaMemcpy(c->w, w, (size_t)w_count * sizeof *w, cudaMemcpyHostToDevice));
    c->w_count = w_count;
    c->nf = nf;
    c->per = per;
    CUDA_TRY(h5p_launch_weighted_reset(c->lanes, nf * per, be->stream[0]));
    return H5PREP_OK;
}

h5prep_status h5p_cuda_wstats_slab(h5p_backend *be, int k, const h5p_wslab *ws)
{
    h5p_cuda_weighted *c = be->wtd;
    const h5p_slab *s = ws->slab;
    uint64_t count = s->outer * s->features * s->inner;
    uint64_t wn = ws->w_row_stride ? count / (ws->row_elems ? ws->row_elems : 1) * ws->w_row_stride : ws->row_elems;
    RETURN_ERROR_IF(!c || s->feature_base + s->features > c->nf || ws->row_elems == 0 || count % ws->row_elems != 0 ||
                        ws->w0 + wn > c->w_count,
                    H5PREP_ERR_INTERNAL, "cuda backend: a weighted slab outside the %llu features or %llu weights begun",
                    c ? c->nf : 0ULL, c ? (unsigned long long)c->w_count : 0ULL);
    size_t bytes = (size_t)count * h5p_dtype_size(s->dtype);
    FORWARD_IF_ERROR(grow(be, &c->data, &c->data_bytes, bytes));
    CUDA_TRY(cudaMemcpyAsync(c->data, s->data, bytes, cudaMemcpyHostToDevice, be->stream[0]));
    CUDA_TRY(cudaEventRecord(be->done[k], be->stream[0])); /* the slot's pinned buffer is free again */
    h5p_wslab_args a;
    memset(&a, 0, sizeof a);
    a.data = c->data;
    a.dtype = (int)s->dtype;
    a.dec = *s->dec;
    a.outer = s->outer;
    a.features = s->features;
    a.inner = s->inner;
    a.base = s->feature_base;
    a.k0 = ws->k0;
    a.w = c->w + ws->w0;
    a.w_row_stride = ws->w_row_stride;
    a.row_elems = ws->row_elems;
    a.lanes = c->per;
    a.s = c->lanes;
    CUDA_TRY(h5p_launch_weighted_slab(&a, be->stream[0]));
    return H5PREP_OK;
}

h5prep_status h5p_cuda_wstats_end(h5p_backend *be, h5p_moments *out, double *wsum)
{
    h5p_cuda_weighted *c = be->wtd;
    RETURN_ERROR_IF(!c, H5PREP_ERR_INTERNAL, "cuda backend: weighted states read before they were begun");
    h5p_wfold_args a;
    memset(&a, 0, sizeof a);
    a.s = c->lanes;
    a.features = c->nf;
    a.lanes = c->per;
    a.out = c->out;
    a.wsum = (double *)(c->out + c->nf);
    CUDA_TRY(h5p_launch_weighted_fold(&a, be->stream[0]));
    CUDA_TRY(cudaStreamSynchronize(be->stream[0]));
    CUDA_TRY(cudaMemcpy(out, a.out, c->nf * sizeof *out, cudaMemcpyDeviceToHost));
    CUDA_TRY(cudaMemcpy(wsum, a.wsum, c->nf * sizeof *wsum, cudaMemcpyDeviceToHost));
    return H5PREP_OK;
}
