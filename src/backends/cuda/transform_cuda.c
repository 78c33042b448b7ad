/* transform_cuda.c: the CUDA backend's transform: per ring slot device copies of the slab, the
 * gather (through the plan's maps, uploaded once) and statistics kernels, and the results copied
 * back into the slot's pinned out buffer. Built against the CUDA runtime, or the SIMT harness. */
#include "backends/cuda/cuda_common.h"

#include "common/sketch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dev_output {
    unsigned int *vidx, *sidx;  /* (elems,) device */
    double *constants;          /* (elems,) device */
    double *shift, *div;        /* (features,) device, for pass 2 */
    const double *shift_src;    /* the host factors last uploaded */
    uint64_t *cdf_off;          /* normalize: quantile: the CDF table (common/sketch.h h5p_cdf) on the device */
    int64_t *cdf_order;
    double *cdf_p, *log2m;
    const h5p_cdf *cdf_src;     /* the host table uploaded */
    h5p_states acc[H5P_RING_SLOTS_MAX]; /* (features,) per slot */
} dev_output;

struct h5p_cuda_tx {
    const h5p_plan *plan;
    void *d_in[H5P_RING_SLOTS_MAX], *d_out[H5P_RING_SLOTS_MAX];
    unsigned int *d_order[H5P_RING_SLOTS_MAX];
    h5p_gvar *h_vars[H5P_RING_SLOTS_MAX], *d_vars[H5P_RING_SLOTS_MAX]; /* pinned and device (nvars,) */
    size_t in_bytes, out_bytes;
    uint64_t max_rows;
    dev_output *outs;                 /* (nouts,) */
};

void h5p_cuda_tx_free(h5p_backend *be)
{
    h5p_cuda_tx *t = be->tx;
    if (!t)
        return;
    for (int k = 0; k < be->nslots; k++) {
        if (be->stream[k])
            cudaStreamSynchronize(be->stream[k]);
        cudaFree(t->d_in[k]);
        cudaFree(t->d_out[k]);
        cudaFree(t->d_order[k]);
        cudaFree(t->d_vars[k]);
        if (t->h_vars[k])
            cudaFreeHost(t->h_vars[k]);
    }
    for (size_t o = 0; t->outs && o < t->plan->nouts; o++) {
        dev_output *d = &t->outs[o];
        cudaFree(d->vidx), cudaFree(d->sidx), cudaFree(d->constants), cudaFree(d->shift), cudaFree(d->div);
        cudaFree(d->cdf_off), cudaFree(d->cdf_order), cudaFree(d->cdf_p), cudaFree(d->log2m);
        for (int k = 0; k < be->nslots; k++)
            h5p_cuda_states_free(&d->acc[k]);
    }
    free(t->outs);
    free(t);
    be->tx = NULL;
}

static h5prep_status upload_output(h5p_backend *be, size_t o)
{
    h5p_cuda_tx *t = be->tx;
    const h5p_plan *p = t->plan;
    const h5p_plan_output *po = &p->outs[o];
    dev_output *d = &t->outs[o];
    h5prep_status st = H5PREP_OK;
    cudaError_t e = cudaSuccess;
    size_t mb = po->elems * sizeof *po->vidx;
    {
        e = cudaMalloc((void **)&d->vidx, mb);
        if (e == cudaSuccess) e = cudaMalloc((void **)&d->sidx, mb);
        if (e == cudaSuccess) e = cudaMalloc((void **)&d->constants, po->elems * sizeof(double));
        if (e == cudaSuccess) e = cudaMalloc((void **)&d->shift, po->features * sizeof(double));
        if (e == cudaSuccess) e = cudaMalloc((void **)&d->div, po->features * sizeof(double));
        if (e == cudaSuccess) e = cudaMemcpy(d->vidx, po->vidx, mb, cudaMemcpyHostToDevice);
        if (e == cudaSuccess) e = cudaMemcpy(d->sidx, po->sidx, mb, cudaMemcpyHostToDevice);
        if (e == cudaSuccess) e = cudaMemcpy(d->constants, po->value, po->elems * sizeof(double), cudaMemcpyHostToDevice);
        if (e != cudaSuccess)
            st = h5p_fail(H5PREP_ERR_BACKEND, "cuda: uploading the map of output '%s' failed: %s", po->spec->name,
                          cudaGetErrorString(e));
    }
    for (int k = 0; st == H5PREP_OK && k < be->nslots; k++) {
        st = h5p_cuda_states_alloc(&d->acc[k], po->features);
        if (st == H5PREP_OK && h5p_launch_states_reset(d->acc[k], po->features, be->stream[k]) != cudaSuccess)
            st = h5p_fail(H5PREP_ERR_BACKEND, "cuda: resetting the statistics of output '%s' failed", po->spec->name);
    }
    return st;
}

static h5prep_status cuda_setup(h5p_backend *be)
{
    h5p_cuda_tx *t = be->tx;
    const h5p_plan *p = t->plan;
    for (int k = 0; k < be->nslots; k++) {
        CUDA_TRY(cudaMalloc(&t->d_in[k], t->in_bytes));
        CUDA_TRY(cudaMalloc(&t->d_out[k], t->out_bytes));
        CUDA_TRY(cudaMalloc((void **)&t->d_order[k], t->max_rows * sizeof(unsigned int)));
        CUDA_TRY(cudaMalloc((void **)&t->d_vars[k], p->nvars * sizeof(h5p_gvar)));
        CUDA_TRY(cudaHostAlloc((void **)&t->h_vars[k], p->nvars * sizeof(h5p_gvar), cudaHostAllocDefault));
    }
    for (size_t o = 0; o < p->nouts; o++)
        FORWARD_IF_ERROR(upload_output(be, o));
    CUDA_TRY(cudaDeviceSynchronize()); /* the maps have landed before any stream reads them */
    return H5PREP_OK;
}

h5prep_status h5p_cuda_tx_begin(h5p_backend *be, const h5p_plan *p, size_t in_bytes, size_t out_bytes)
{
    h5p_cuda_tx_free(be);
    h5p_cuda_tx *t = calloc(1, sizeof *t);
    RETURN_ERROR_IF(!t, H5PREP_ERR_NOMEM, "cuda transform: out of memory");
    be->tx = t;
    t->plan = p;
    t->in_bytes = in_bytes ? in_bytes : 1;
    t->out_bytes = out_bytes ? out_bytes : 1;
    size_t row_in = h5p_plan_in_row_bytes(p);
    t->max_rows = in_bytes / (row_in ? row_in : 1) + 1; /* pass 1 slabs fill at most in_bytes */
    t->outs = h5p_calloc(p->nouts, sizeof *t->outs);
    return t->outs ? cuda_setup(be) : h5p_fail(H5PREP_ERR_NOMEM, "cuda transform: out of memory");
}

/* The keys come from cuRAND's device API (kernels/philox.cu), equal to its host API's. */
h5prep_status h5p_cuda_keys(h5p_backend *be, uint64_t seed, uint64_t n, uint32_t *key)
{
    if (n == 0)
        return H5PREP_OK;
    unsigned int *d = NULL;
    CUDA_TRY(cudaMalloc((void **)&d, n * sizeof *d));
    cudaError_t e = h5p_launch_philox_keys(seed, n, d, be->stream[0]);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(be->stream[0]);
    if (e == cudaSuccess) /* once per run: a plain copy into the caller's pageable array */
        e = cudaMemcpy(key, d, n * sizeof *d, cudaMemcpyDeviceToHost);
    cudaFree(d);
    RETURN_ERROR_IF(e != cudaSuccess, H5PREP_ERR_BACKEND, "cuda: generating the split's keys failed: %s", cudaGetErrorString(e));
    return H5PREP_OK;
}

/* Statistics of the first n_stat rows of output o's gathered block, into the slot's accumulators. */
static h5prep_status block_stats(h5p_backend *be, int k, size_t o, const void *block, uint64_t n_stat)
{
    const h5p_plan_output *po = &be->tx->plan->outs[o];
    h5p_stats_args a;
    memset(&a, 0, sizeof a);
    a.data = block;
    a.dtype = po->scratch_f64 ? H5P_F64 : H5P_F32;
    a.count = n_stat * po->elems;
    a.features = po->features;
    a.inner = po->inner;
    a.dec.scale = 1.0, a.dec.offset = 0.0, a.dec.vmin = -INFINITY, a.dec.vmax = INFINITY;
    char what[96];
    snprintf(what, sizeof what, "output '%.64s'", po->spec->name);
    return h5p_cuda_reduce(be, k, a, 0, be->tx->outs[o].acc[k], what);
}

/* Grid-stride kernels get 2048 threads per SM in blocks of 256: a full device, no more. */
static unsigned int max_blocks(const h5p_backend *be)
{
    unsigned long long b = be->target_threads / 256;
    return b < 1 ? 1 : b > 65535 ? 65535 : (unsigned int)b;
}

h5prep_status h5p_cuda_gather(h5p_backend *be, int k, const h5p_tx_slab *s, void *out)
{
    h5p_cuda_tx *t = be->tx;
    const h5p_plan *p = t->plan;
    RETURN_ERROR_IF(s->rows > t->max_rows, H5PREP_ERR_INTERNAL, "cuda transform: slab of %llu rows in a slot of %llu",
                    (unsigned long long)s->rows, (unsigned long long)t->max_rows);
    CUDA_TRY(cudaEventSynchronize(be->done[k])); /* the slot's pinned variable table is free again */
    size_t off = 0;
    for (size_t v = 0; v < p->nvars; v++) {
        size_t bytes = s->rows * p->vars[v].row_bytes;
        unsigned char *dst = (unsigned char *)t->d_in[k] + off;
        CUDA_TRY(cudaMemcpyAsync(dst, s->data[v], bytes, cudaMemcpyHostToDevice, be->stream[k]));
        t->h_vars[k][v] = (h5p_gvar){dst, (int)p->vars[v].dtype, p->vars[v].elems, *s->dec[v]};
        off += bytes;
    }
    CUDA_TRY(cudaMemcpyAsync(t->d_vars[k], t->h_vars[k], p->nvars * sizeof(h5p_gvar), cudaMemcpyHostToDevice, be->stream[k]));
    CUDA_TRY(cudaMemcpyAsync(t->d_order[k], s->order, s->rows * sizeof *s->order, cudaMemcpyHostToDevice, be->stream[k]));
    for (size_t o = 0; o < p->nouts; o++) {
        const h5p_plan_output *po = &p->outs[o];
        size_t boff = h5p_plan_block_offset(p, o, s->rows);
        h5p_gather_args a;
        memset(&a, 0, sizeof a);
        a.vars = t->d_vars[k];
        a.nvars = (unsigned int)p->nvars;
        a.constants = t->outs[o].constants;
        a.vidx = t->outs[o].vidx;
        a.sidx = t->outs[o].sidx;
        a.order = t->d_order[k];
        a.rows = s->rows;
        a.elems = po->elems;
        a.out_f64 = po->scratch_f64;
        a.out = (unsigned char *)t->d_out[k] + boff;
        a.max_blocks = max_blocks(be);
        CUDA_TRY(h5p_launch_gather(&a, be->stream[k]));
        if (s->n_stat > 0)
            FORWARD_IF_ERROR(block_stats(be, k, o, a.out, s->n_stat));
    }
    size_t total = h5p_plan_block_offset(p, p->nouts, s->rows);
    CUDA_TRY(cudaMemcpyAsync(out, t->d_out[k], total, cudaMemcpyDeviceToHost, be->stream[k]));
    CUDA_TRY(cudaEventRecord(be->done[k], be->stream[k]));
    return H5PREP_OK;
}

/* Output o's CDF table (normalize: quantile) onto the device, once: the table is complete before
 * the first value is finished and does not change after. */
static h5prep_status upload_cdf(dev_output *d, const h5p_plan_output *po, const h5p_cdf *c)
{
    if (d->cdf_src == c)
        return H5PREP_OK;
    cudaFree(d->cdf_off), cudaFree(d->cdf_order), cudaFree(d->cdf_p), cudaFree(d->log2m);
    d->cdf_off = NULL, d->cdf_order = NULL, d->cdf_p = NULL, d->log2m = NULL, d->cdf_src = NULL;
    uint64_t n = c->off[po->features], m = n ? n : 1; /* every feature without values: no entry */
    CUDA_TRY(cudaMalloc((void **)&d->cdf_off, (po->features + 1) * sizeof *c->off));
    CUDA_TRY(cudaMalloc((void **)&d->cdf_order, m * sizeof *c->order));
    CUDA_TRY(cudaMalloc((void **)&d->cdf_p, m * sizeof *c->p));
    CUDA_TRY(cudaMalloc((void **)&d->log2m, sizeof c->sk->log2m));
    CUDA_TRY(cudaMemcpy(d->cdf_off, c->off, (po->features + 1) * sizeof *c->off, cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(d->cdf_order, c->order, n * sizeof *c->order, cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(d->cdf_p, c->p, n * sizeof *c->p, cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(d->log2m, c->sk->log2m, sizeof c->sk->log2m, cudaMemcpyHostToDevice));
    CUDA_TRY(cudaDeviceSynchronize()); /* a copy from pageable memory may return before it lands */
    d->cdf_src = c;
    return H5PREP_OK;
}

h5prep_status h5p_cuda_finish(h5p_backend *be, int k, const h5p_tx_finish *f, void *out)
{
    h5p_cuda_tx *t = be->tx;
    const h5p_plan_output *po = &t->plan->outs[f->output];
    dev_output *d = &t->outs[f->output];
    h5p_finish_args a;
    memset(&a, 0, sizeof a);
    if (f->cdf) { /* the CDF finish: its table instead of factors */
        FORWARD_IF_ERROR(upload_cdf(d, po, f->cdf));
        a.off = d->cdf_off;
        a.order = d->cdf_order;
        a.p = d->cdf_p;
        a.log2m = d->log2m;
        a.per_octave = f->cdf->sk->per_octave;
    } else if (d->shift_src != f->shift) { /* factors are fixed once pass 2 starts: upload them once */
        CUDA_TRY(cudaMemcpy(d->shift, f->shift, po->features * sizeof(double), cudaMemcpyHostToDevice));
        CUDA_TRY(cudaMemcpy(d->div, f->div, po->features * sizeof(double), cudaMemcpyHostToDevice));
        CUDA_TRY(cudaDeviceSynchronize()); /* a copy from pageable memory may return before it lands */
        d->shift_src = f->shift;
    }
    size_t in_row = h5p_plan_row_bytes(t->plan, f->output), out_row = po->elems * h5p_out_dtype_size(po->spec->dtype);
    RETURN_ERROR_IF(f->rows * in_row > t->in_bytes || f->rows * out_row > t->out_bytes, H5PREP_ERR_INTERNAL,
                    "cuda transform: block of %llu rows does not fit a slot", (unsigned long long)f->rows);
    CUDA_TRY(cudaMemcpyAsync(t->d_in[k], f->in, f->rows * in_row, cudaMemcpyHostToDevice, be->stream[k]));
    a.in = t->d_in[k];
    a.in_f64 = po->scratch_f64;
    a.out = t->d_out[k];
    a.out_dtype = (int)po->spec->dtype;
    a.shift = d->shift;
    a.div = d->div;
    a.rows = f->rows;
    a.elems = po->elems;
    a.features = po->features;
    a.inner = po->inner;
    a.max_blocks = max_blocks(be);
    CUDA_TRY(h5p_launch_finish(&a, be->stream[k]));
    CUDA_TRY(cudaMemcpyAsync(out, t->d_out[k], f->rows * out_row, cudaMemcpyDeviceToHost, be->stream[k]));
    CUDA_TRY(cudaEventRecord(be->done[k], be->stream[k]));
    return H5PREP_OK;
}

/* Slots merged in order: jobs go to slots round-robin, so the result does not depend on timing. */
h5prep_status h5p_cuda_tx_stats(h5p_backend *be, size_t o, h5p_moments *out)
{
    uint64_t F = be->tx->plan->outs[o].features;
    return h5p_cuda_states_read(be->tx->outs[o].acc, be->stream, be->nslots, F, F, out);
}
