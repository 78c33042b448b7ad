/* tx_cuda.c: the transform on the CUDA backend: per ring slot a stream, device copies of the
 * slab, the gather and statistics kernels, and the results copied back into the slot's pinned
 * out buffer. Built against the CUDA runtime, or against the SIMT harness for the tests. */
#include "backends/transform_ops.h"

#include "backends/cuda/cuda_common.h"
#include "philox_kernels.h"
#include "transform_kernels.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_SLOTS = 64 };

typedef struct dev_output {
    unsigned int *vidx, *sidx;  /* (elems,) device */
    double *constants;          /* (elems,) device */
    double *shift, *div;        /* (features,) device, for pass 2 */
    const double *shift_src;    /* the host factors last uploaded */
    h5p_dev_states acc[MAX_SLOTS]; /* (features,) per slot */
} dev_output;

struct h5p_tx {
    const h5p_plan *plan;
    int nslots;
    unsigned long long target_threads;
    cudaStream_t stream[MAX_SLOTS];
    cudaEvent_t done[MAX_SLOTS];      /* recorded after the slot's results reached the host */
    void *d_in[MAX_SLOTS], *d_out[MAX_SLOTS];
    unsigned int *d_order[MAX_SLOTS];
    h5p_gvar *h_vars[MAX_SLOTS], *d_vars[MAX_SLOTS]; /* pinned and device (nvars,) */
    h5p_dev_states part[MAX_SLOTS];   /* per-thread states of the statistics kernel */
    unsigned long long part_cap;
    size_t in_bytes, out_bytes;
    uint64_t max_rows;
    dev_output *outs;                 /* (nouts,) */
};

static void cuda_destroy(h5p_tx *t)
{
    if (!t)
        return;
    for (int k = 0; k < t->nslots; k++) {
        if (t->stream[k])
            cudaStreamSynchronize(t->stream[k]);
        cudaFree(t->d_in[k]);
        cudaFree(t->d_out[k]);
        cudaFree(t->d_order[k]);
        cudaFree(t->d_vars[k]);
        if (t->h_vars[k])
            cudaFreeHost(t->h_vars[k]);
        h5p_cuda_states_free(&t->part[k]);
        if (t->done[k])
            cudaEventDestroy(t->done[k]);
        if (t->stream[k])
            cudaStreamDestroy(t->stream[k]);
    }
    for (size_t o = 0; t->outs && o < t->plan->nouts; o++) {
        dev_output *d = &t->outs[o];
        cudaFree(d->vidx), cudaFree(d->sidx), cudaFree(d->constants), cudaFree(d->shift), cudaFree(d->div);
        for (int k = 0; k < t->nslots; k++)
            h5p_cuda_states_free(&d->acc[k]);
    }
    free(t->outs);
    free(t);
}

static h5prep_status upload_output(h5p_tx *t, size_t o)
{
    const h5p_plan *p = t->plan;
    const h5p_plan_output *po = &p->outs[o];
    dev_output *d = &t->outs[o];
    unsigned int *vidx = h5p_malloc(po->elems * sizeof *vidx), *sidx = h5p_malloc(po->elems * sizeof *sidx);
    h5prep_status st = vidx && sidx ? H5PREP_OK : h5p_fail(H5PREP_ERR_NOMEM, "cuda transform: out of memory");
    for (uint64_t j = 0; st == H5PREP_OK && j < po->elems; j++) {
        vidx[j] = po->var[j] < 0 ? (unsigned int)p->nvars : (unsigned int)po->var[j];
        sidx[j] = po->var[j] < 0 ? (unsigned int)j : po->src[j];
    }
    cudaError_t e = cudaSuccess;
    size_t mb = po->elems * sizeof *vidx;
    if (st == H5PREP_OK) {
        e = cudaMalloc((void **)&d->vidx, mb);
        if (e == cudaSuccess) e = cudaMalloc((void **)&d->sidx, mb);
        if (e == cudaSuccess) e = cudaMalloc((void **)&d->constants, po->elems * sizeof(double));
        if (e == cudaSuccess) e = cudaMalloc((void **)&d->shift, po->features * sizeof(double));
        if (e == cudaSuccess) e = cudaMalloc((void **)&d->div, po->features * sizeof(double));
        if (e == cudaSuccess) e = cudaMemcpy(d->vidx, vidx, mb, cudaMemcpyHostToDevice);
        if (e == cudaSuccess) e = cudaMemcpy(d->sidx, sidx, mb, cudaMemcpyHostToDevice);
        if (e == cudaSuccess) e = cudaMemcpy(d->constants, po->value, po->elems * sizeof(double), cudaMemcpyHostToDevice);
        if (e != cudaSuccess)
            st = h5p_fail(H5PREP_ERR_BACKEND, "cuda: uploading the map of output '%s' failed: %s", po->spec->name,
                          cudaGetErrorString(e));
    }
    free(vidx);
    free(sidx);
    for (int k = 0; st == H5PREP_OK && k < t->nslots; k++) {
        st = h5p_cuda_states_alloc(&d->acc[k], po->features);
        if (st == H5PREP_OK && h5p_launch_states_reset(d->acc[k], po->features, t->stream[k]) != cudaSuccess)
            st = h5p_fail(H5PREP_ERR_BACKEND, "cuda: resetting the statistics of output '%s' failed", po->spec->name);
    }
    return st;
}

static h5prep_status cuda_setup(h5p_tx *t, const h5prep_stats_config *cfg)
{
    FORWARD_IF_ERROR(h5p_cuda_open(cfg->device, "outputs", &t->target_threads));
    const h5p_plan *p = t->plan;
    for (int k = 0; k < t->nslots; k++) {
        CUDA_TRY(cudaStreamCreateWithFlags(&t->stream[k], cudaStreamNonBlocking));
        CUDA_TRY(cudaEventCreateWithFlags(&t->done[k], cudaEventDisableTiming));
        CUDA_TRY(cudaMalloc(&t->d_in[k], t->in_bytes));
        CUDA_TRY(cudaMalloc(&t->d_out[k], t->out_bytes));
        CUDA_TRY(cudaMalloc((void **)&t->d_order[k], t->max_rows * sizeof(unsigned int)));
        CUDA_TRY(cudaMalloc((void **)&t->d_vars[k], p->nvars * sizeof(h5p_gvar)));
        CUDA_TRY(cudaHostAlloc((void **)&t->h_vars[k], p->nvars * sizeof(h5p_gvar), cudaHostAllocDefault));
    }
    for (size_t o = 0; o < p->nouts; o++)
        FORWARD_IF_ERROR(upload_output(t, o));
    CUDA_TRY(cudaDeviceSynchronize()); /* the maps have landed before any stream reads them */
    return H5PREP_OK;
}

static h5prep_status cuda_create(h5p_tx **out, const h5p_plan *p, const h5prep_stats_config *cfg, int nslots,
                                 size_t in_bytes, size_t out_bytes)
{
    RETURN_ERROR_IF(nslots > MAX_SLOTS, H5PREP_ERR_USAGE, "--slots: the CUDA backend takes at most %d", MAX_SLOTS - 1);
    h5p_tx *t = calloc(1, sizeof *t);
    RETURN_ERROR_IF(!t, H5PREP_ERR_NOMEM, "cuda transform: out of memory");
    t->plan = p;
    t->nslots = nslots;
    t->in_bytes = in_bytes ? in_bytes : 1;
    t->out_bytes = out_bytes ? out_bytes : 1;
    size_t row_in = h5p_tx_in_row_bytes(p);
    t->max_rows = in_bytes / (row_in ? row_in : 1) + 1; /* pass 1 slabs fill at most in_bytes */
    t->outs = h5p_calloc(p->nouts, sizeof *t->outs);
    h5prep_status st = t->outs ? cuda_setup(t, cfg) : h5p_fail(H5PREP_ERR_NOMEM, "cuda transform: out of memory");
    if (st != H5PREP_OK) {
        cuda_destroy(t);
        return st;
    }
    *out = t;
    return H5PREP_OK;
}

static void *cuda_alloc_host(h5p_tx *t, size_t bytes)
{
    (void)t;
    return h5p_cuda_host_alloc(bytes);
}

static void cuda_free_host(h5p_tx *t, void *p)
{
    (void)t;
    cudaFreeHost(p);
}

/* The keys come from cuRAND's device API (kernels/philox.cu), equal to its host API's. */
static h5prep_status cuda_keys(h5p_tx *t, uint64_t seed, uint64_t n, uint32_t *key)
{
    if (n == 0)
        return H5PREP_OK;
    unsigned int *d = NULL;
    CUDA_TRY(cudaMalloc((void **)&d, n * sizeof *d));
    cudaError_t e = h5p_launch_philox_keys(seed, n, d, t->stream[0]);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(t->stream[0]);
    if (e == cudaSuccess) /* once per run: a plain copy into the caller's pageable array */
        e = cudaMemcpy(key, d, n * sizeof *d, cudaMemcpyDeviceToHost);
    cudaFree(d);
    RETURN_ERROR_IF(e != cudaSuccess, H5PREP_ERR_BACKEND, "cuda: generating the split's keys failed: %s", cudaGetErrorString(e));
    return H5PREP_OK;
}

/* Statistics of the first n_stat rows of output o's gathered block, into the slot's accumulators. */
static h5prep_status block_stats(h5p_tx *t, int k, size_t o, const void *block, uint64_t n_stat)
{
    const h5p_plan_output *po = &t->plan->outs[o];
    unsigned long long F = po->features, period = F * po->inner, m = t->target_threads / period,
                       threads = period * (m > 0 ? m : 1);
    RETURN_ERROR_IF(threads > (1ULL << 26), H5PREP_ERR_BACKEND, "cuda backend: output '%s' has more features x positions (%llu) than it keeps states for",
                    po->spec->name, period);
    if (threads > t->part_cap) { /* every slot's partial states, sized by the widest output */
        for (int j = 0; j < t->nslots; j++) {
            CUDA_TRY(cudaStreamSynchronize(t->stream[j]));
            h5p_cuda_states_free(&t->part[j]);
            FORWARD_IF_ERROR(h5p_cuda_states_alloc(&t->part[j], threads));
        }
        t->part_cap = threads;
    }
    h5p_stats_args a;
    memset(&a, 0, sizeof a);
    a.data = block;
    a.dtype = po->scratch_f64 ? H5P_F64 : H5P_F32;
    a.count = n_stat * po->elems;
    a.features = F;
    a.inner = po->inner;
    a.threads = threads;
    a.dec.scale = 1.0, a.dec.offset = 0.0, a.dec.vmin = -INFINITY, a.dec.vmax = INFINITY;
    a.part = t->part[k];
    CUDA_TRY(h5p_launch_stats_partial(&a, t->stream[k]));
    h5p_merge_args mg;
    memset(&mg, 0, sizeof mg);
    mg.part = t->part[k];
    mg.features = F;
    mg.inner = po->inner;
    mg.threads = threads;
    mg.acc = t->outs[o].acc[k];
    CUDA_TRY(h5p_launch_stats_merge(&mg, t->stream[k]));
    return H5PREP_OK;
}

/* Grid-stride kernels get 2048 threads per SM in blocks of 256: a full device, no more. */
static unsigned int max_blocks(const h5p_tx *t)
{
    unsigned long long b = t->target_threads / 256;
    return b < 1 ? 1 : b > 65535 ? 65535 : (unsigned int)b;
}

static h5prep_status cuda_gather(h5p_tx *t, int k, const h5p_tx_slab *s, void *out)
{
    const h5p_plan *p = t->plan;
    RETURN_ERROR_IF(s->rows > t->max_rows, H5PREP_ERR_INTERNAL, "cuda transform: slab of %llu rows in a slot of %llu",
                    (unsigned long long)s->rows, (unsigned long long)t->max_rows);
    CUDA_TRY(cudaEventSynchronize(t->done[k])); /* the slot's pinned variable table is free again */
    size_t off = 0;
    for (size_t v = 0; v < p->nvars; v++) {
        size_t bytes = s->rows * p->vars[v].row_bytes;
        unsigned char *dst = (unsigned char *)t->d_in[k] + off;
        CUDA_TRY(cudaMemcpyAsync(dst, s->data[v], bytes, cudaMemcpyHostToDevice, t->stream[k]));
        t->h_vars[k][v] = (h5p_gvar){dst, (int)p->vars[v].dtype, p->vars[v].elems, *s->dec[v]};
        off += bytes;
    }
    CUDA_TRY(cudaMemcpyAsync(t->d_vars[k], t->h_vars[k], p->nvars * sizeof(h5p_gvar), cudaMemcpyHostToDevice, t->stream[k]));
    CUDA_TRY(cudaMemcpyAsync(t->d_order[k], s->order, s->rows * sizeof *s->order, cudaMemcpyHostToDevice, t->stream[k]));
    for (size_t o = 0; o < p->nouts; o++) {
        const h5p_plan_output *po = &p->outs[o];
        size_t boff = h5p_tx_block_offset(p, o, s->rows);
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
        a.max_blocks = max_blocks(t);
        CUDA_TRY(h5p_launch_gather(&a, t->stream[k]));
        if (s->n_stat > 0)
            FORWARD_IF_ERROR(block_stats(t, k, o, a.out, s->n_stat));
    }
    size_t total = h5p_tx_block_offset(p, p->nouts, s->rows);
    CUDA_TRY(cudaMemcpyAsync(out, t->d_out[k], total, cudaMemcpyDeviceToHost, t->stream[k]));
    CUDA_TRY(cudaEventRecord(t->done[k], t->stream[k]));
    return H5PREP_OK;
}

static h5prep_status cuda_finish(h5p_tx *t, int k, const h5p_tx_finish *f, void *out)
{
    const h5p_plan_output *po = &t->plan->outs[f->output];
    dev_output *d = &t->outs[f->output];
    if (d->shift_src != f->shift) { /* factors are fixed once pass 2 starts: upload them once */
        CUDA_TRY(cudaMemcpy(d->shift, f->shift, po->features * sizeof(double), cudaMemcpyHostToDevice));
        CUDA_TRY(cudaMemcpy(d->div, f->div, po->features * sizeof(double), cudaMemcpyHostToDevice));
        CUDA_TRY(cudaDeviceSynchronize()); /* a copy from pageable memory may return before it lands */
        d->shift_src = f->shift;
    }
    size_t in_row = h5p_tx_row_bytes(t->plan, f->output), out_row = po->elems * h5p_out_dtype_size(po->spec->dtype);
    RETURN_ERROR_IF(f->rows * in_row > t->in_bytes || f->rows * out_row > t->out_bytes, H5PREP_ERR_INTERNAL,
                    "cuda transform: block of %llu rows does not fit a slot", (unsigned long long)f->rows);
    CUDA_TRY(cudaMemcpyAsync(t->d_in[k], f->in, f->rows * in_row, cudaMemcpyHostToDevice, t->stream[k]));
    h5p_finish_args a;
    memset(&a, 0, sizeof a);
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
    a.max_blocks = max_blocks(t);
    CUDA_TRY(h5p_launch_finish(&a, t->stream[k]));
    CUDA_TRY(cudaMemcpyAsync(out, t->d_out[k], f->rows * out_row, cudaMemcpyDeviceToHost, t->stream[k]));
    CUDA_TRY(cudaEventRecord(t->done[k], t->stream[k]));
    return H5PREP_OK;
}

static h5prep_status cuda_wait(h5p_tx *t, int k)
{
    CUDA_TRY(cudaEventSynchronize(t->done[k]));
    return H5PREP_OK;
}

/* Slots merged in order: jobs go to slots round-robin, so the result does not depend on timing. */
static h5prep_status cuda_stats(h5p_tx *t, size_t o, h5p_moments *out)
{
    uint64_t F = t->plan->outs[o].features;
    return h5p_cuda_states_read(t->outs[o].acc, t->stream, t->nslots, F, F, out);
}

const h5p_tx_ops h5p_tx_cuda = {
    .name = "cuda",
    .create = cuda_create,
    .destroy = cuda_destroy,
    .alloc_host = cuda_alloc_host,
    .free_host = cuda_free_host,
    .keys = cuda_keys,
    .gather = cuda_gather,
    .finish = cuda_finish,
    .wait = cuda_wait,
    .stats = cuda_stats,
};
