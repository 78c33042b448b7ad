/* transform_cpu.c: the CPU backend's transform, the reference for the CUDA kernels
 * (kernels/transform.cu). A slab is decoded to float64, gathered through each output's map (the
 * plan's vidx/sidx) in 8 fixed lanes whose statistics merge in lane order (results do not depend
 * on --threads), then staged. */
#include "backends/cpu/cpu.h"

#include "common/half.h"
#include "common/internal.h"
#include "common/sketch.h"
#include "plan/split.h"

#include <stdlib.h>
#include <string.h>

enum { LANES = H5P_CPU_LANES, TILE_ROWS = 16 };

typedef struct lane_buf {
    double *tile;    /* (TILE_ROWS, elems) gathered rows of one output */
    double *cols;    /* the same values as (values per feature, features), when inner > 1 */
    double *scratch; /* 6 * features, for h5p_cpu_block_stats */
} lane_buf;

struct h5p_cpu_tx {
    const h5p_plan *plan;
    h5p_pool *pool;          /* the backend's */
    const h5p_cpu_kernels *kern; /* the backend's */
    h5p_states *acc;         /* (LANES * nouts,) */
    lane_buf *buf;           /* (LANES,) */
    double *decoded[H5P_PLAN_MAX_VARS]; /* (rows, elems) of each variable */
    uint64_t decoded_rows;
    double *shift, *div; /* (max elems,) the finish's factors of each element of a row */
    /* the job being run */
    const h5p_tx_slab *slab;
    const h5p_tx_finish *fin;
    void *out;
    atomic_int next;
};

void h5p_cpu_tx_free(h5p_backend *be)
{
    h5p_cpu_tx *t = be->tx;
    if (!t)
        return;
    const h5p_plan *p = t->plan;
    for (size_t i = 0; t->acc && i < LANES * p->nouts; i++)
        h5p_states_free(&t->acc[i]);
    for (int l = 0; t->buf && l < LANES; l++)
        free(t->buf[l].tile), free(t->buf[l].cols), free(t->buf[l].scratch);
    for (size_t v = 0; v < p->nvars; v++)
        free(t->decoded[v]);
    free(t->acc), free(t->buf), free(t->shift), free(t->div);
    free(t);
    be->tx = NULL;
}

h5prep_status h5p_cpu_tx_begin(h5p_backend *be, const h5p_plan *p, size_t in_bytes, size_t out_bytes)
{
    (void)in_bytes, (void)out_bytes;
    h5p_cpu_tx_free(be);
    h5p_cpu_tx *t = calloc(1, sizeof *t);
    RETURN_ERROR_IF(!t, H5PREP_ERR_NOMEM, "cpu transform: out of memory");
    be->tx = t;
    t->plan = p;
    t->pool = be->pool;
    t->kern = be->kern;
    t->acc = h5p_calloc(LANES * p->nouts, sizeof *t->acc);
    t->buf = h5p_calloc(LANES, sizeof *t->buf);
    int ok = t->acc && t->buf;
    uint64_t max_elems = 1, max_features = 1;
    for (size_t o = 0; ok && o < p->nouts; o++) {
        const h5p_plan_output *po = &p->outs[o];
        max_elems = po->elems > max_elems ? po->elems : max_elems;
        max_features = po->features > max_features ? po->features : max_features;
        for (int l = 0; ok && l < LANES; l++)
            ok = h5p_states_init(&t->acc[(size_t)l * p->nouts + o], po->features) == 0;
    }
    t->shift = h5p_malloc(max_elems * sizeof *t->shift);
    t->div = h5p_malloc(max_elems * sizeof *t->div);
    ok = ok && t->shift && t->div;
    for (int l = 0; ok && l < LANES; l++) {
        t->buf[l].tile = h5p_malloc(TILE_ROWS * max_elems * sizeof *t->buf[l].tile);
        t->buf[l].cols = h5p_malloc(TILE_ROWS * max_elems * sizeof *t->buf[l].cols);
        t->buf[l].scratch = h5p_malloc(6 * max_features * sizeof *t->buf[l].scratch);
        ok = t->buf[l].tile && t->buf[l].cols && t->buf[l].scratch;
    }
    RETURN_ERROR_IF(!ok, H5PREP_ERR_NOMEM, "cpu transform: out of memory for the lanes' buffers and states");
    return H5PREP_OK;
}

h5prep_status h5p_cpu_keys(h5p_backend *be, uint64_t seed, uint64_t n, uint32_t *key)
{
    (void)be;
    return h5p_split_keys(seed, n, H5P_KEYS_BEST, key);
}

/* Thread share [lo, hi) of n items. */
static void share(uint64_t n, int tid, int nt, uint64_t *lo, uint64_t *hi)
{
    *lo = n * (uint64_t)tid / (uint64_t)nt;
    *hi = n * (uint64_t)(tid + 1) / (uint64_t)nt;
}

static void decode_job(void *arg, int tid, int nt)
{
    h5p_cpu_tx *t = arg;
    const h5p_tx_slab *s = t->slab;
    uint64_t lo, hi;
    share(s->rows, tid, nt, &lo, &hi);
    for (size_t v = 0; v < t->plan->nvars; v++) {
        const h5p_plan_var *pv = &t->plan->vars[v];
        size_t es = h5p_dtype_size(pv->dtype);
        t->kern->decode[pv->dtype]((const unsigned char *)s->data[v] + lo * pv->elems * es, s->dec[v],
                                   (hi - lo) * pv->elems, t->decoded[v] + lo * pv->elems);
    }
}

/* Statistics of the first `rows` rows of the lane's tile of output o: a sample is
 * [outer][features][inner]; the block kernel wants (values, features), so inner > 1 is transposed. */
static void tile_stats(h5p_cpu_tx *t, int lane, size_t o, uint64_t rows)
{
    const h5p_plan_output *po = &t->plan->outs[o];
    uint64_t F = po->features, I = po->inner, outer = rows * po->elems / (F * I);
    const double *x = t->buf[lane].tile;
    if (I > 1) {
        double *c = t->buf[lane].cols;
        for (uint64_t u = 0; u < outer; u++)
            for (uint64_t f = 0; f < F; f++)
                for (uint64_t i = 0; i < I; i++)
                    c[(u * I + i) * F + f] = x[(u * F + f) * I + i];
        x = c;
    }
    h5p_cpu_block_stats(t->kern, x, outer * I, F, t->buf[lane].scratch, &t->acc[(size_t)lane * t->plan->nouts + o], 0);
}

/* Output rows [r0, r1) of output o in tiles: gather, statistics of the rows below n_stat, staging. */
static void gather_rows(h5p_cpu_tx *t, int lane, size_t o, uint64_t r0, uint64_t r1)
{
    const h5p_plan *p = t->plan;
    const h5p_plan_output *po = &p->outs[o];
    const h5p_tx_slab *s = t->slab;
    const uint32_t *vidx = po->vidx, *sidx = po->sidx;
    uint64_t E = po->elems;
    double *tile = t->buf[lane].tile;
    unsigned char *dst = (unsigned char *)t->out + h5p_plan_block_offset(p, o, s->rows);
    const double *base[H5P_PLAN_MAX_VARS + 1];
    base[p->nvars] = po->value;
    for (uint64_t c0 = r0; c0 < r1; c0 += TILE_ROWS) {
        uint64_t c1 = c0 + TILE_ROWS < r1 ? c0 + TILE_ROWS : r1;
        for (uint64_t i = c0; i < c1; i++) {
            for (size_t v = 0; v < p->nvars; v++)
                base[v] = t->decoded[v] + (uint64_t)s->order[i] * p->vars[v].elems;
            double *row = tile + (i - c0) * E;
            for (uint64_t j = 0; j < E; j++)
                row[j] = base[vidx[j]][sidx[j]];
        }
        uint64_t stat_end = s->n_stat < c1 ? s->n_stat : c1;
        if (stat_end > c0)
            tile_stats(t, lane, o, stat_end - c0);
        uint64_t n = (c1 - c0) * E;
        if (po->scratch_f64)
            memcpy((double *)dst + c0 * E, tile, n * sizeof *tile);
        else
            t->kern->to_f32(tile, n, (float *)dst + c0 * E);
    }
}

static void gather_job(void *arg, int tid, int nt)
{
    (void)tid, (void)nt;
    h5p_cpu_tx *t = arg;
    int l;
    while ((l = atomic_fetch_add(&t->next, 1)) < LANES) {
        uint64_t lo, hi;
        share(t->slab->rows, l, LANES, &lo, &hi);
        for (size_t o = 0; o < t->plan->nouts; o++)
            gather_rows(t, l, o, lo, hi);
    }
}

h5prep_status h5p_cpu_gather(h5p_backend *be, int slot, const h5p_tx_slab *s, void *out)
{
    (void)slot;
    h5p_cpu_tx *t = be->tx;
    const h5p_plan *p = t->plan;
    if (s->rows > t->decoded_rows) {
        for (size_t v = 0; v < p->nvars; v++) {
            free(t->decoded[v]);
            t->decoded[v] = h5p_malloc(s->rows * p->vars[v].elems * sizeof *t->decoded[v]);
            RETURN_ERROR_IF(!t->decoded[v], H5PREP_ERR_NOMEM, "cpu transform: out of memory for %llu decoded rows",
                            (unsigned long long)s->rows);
        }
        t->decoded_rows = s->rows;
    }
    t->slab = s;
    t->out = out;
    h5p_pool_run(t->pool, decode_job, t);
    atomic_store(&t->next, 0);
    h5p_pool_run(t->pool, gather_job, t);
    return H5PREP_OK;
}

/* out = cast(the estimated CDF of x) (normalize: quantile): a table per feature, not affine. */
#define CDF_LOOP(IN_T, OUT_T, CAST)                                                                 \
    for (uint64_t i = lo; i < hi; i++) {                                                           \
        const IN_T *x = (const IN_T *)f->in + i * E;                                               \
        OUT_T *y = (OUT_T *)t->out + i * E;                                                        \
        for (uint64_t j = 0; j < E; j++)                                                           \
            y[j] = CAST(h5p_cdf_eval(f->cdf, fi[j], (double)x[j]));                                \
    }
#define CAST_F32(v) ((float)(v))
#define CAST_F64(v) (v)

static void finish_job(void *arg, int tid, int nt)
{
    h5p_cpu_tx *t = arg;
    const h5p_tx_finish *f = t->fin;
    const h5p_plan_output *po = &t->plan->outs[f->output];
    const uint32_t *fi = po->fidx;
    uint64_t E = po->elems, lo, hi;
    share(f->rows, tid, nt, &lo, &hi);
    int f64 = po->scratch_f64;
    if (f->cdf) {
        switch (po->spec->dtype) {
        case H5P_OUT_F32:
            if (f64) CDF_LOOP(double, float, CAST_F32) else CDF_LOOP(float, float, CAST_F32)
            break;
        case H5P_OUT_F64:
            if (f64) CDF_LOOP(double, double, CAST_F64) else CDF_LOOP(float, double, CAST_F64)
            break;
        case H5P_OUT_F16:
            if (f64) CDF_LOOP(double, uint16_t, h5p_f64_to_f16) else CDF_LOOP(float, uint16_t, h5p_f64_to_f16)
            break;
        case H5P_OUT_BF16:
            if (f64) CDF_LOOP(double, uint16_t, h5p_f64_to_bf16) else CDF_LOOP(float, uint16_t, h5p_f64_to_bf16)
            break;
        }
        return;
    }
    /* out = cast((x - shift[f]) / div[f]), f = fi[j]: the kernel table's loop, row by row */
    h5p_normalize_fn normalize = t->kern->normalize[f64][po->spec->dtype];
    size_t in_size = f64 ? sizeof(double) : sizeof(float), out_size = h5p_out_dtype_size(po->spec->dtype);
    for (uint64_t i = lo; i < hi; i++)
        normalize((const unsigned char *)f->in + i * E * in_size, E, t->shift, t->div,
                  (unsigned char *)t->out + i * E * out_size);
}

h5prep_status h5p_cpu_finish(h5p_backend *be, int slot, const h5p_tx_finish *f, void *out)
{
    (void)slot;
    h5p_cpu_tx *t = be->tx;
    const h5p_plan_output *po = &t->plan->outs[f->output];
    for (uint64_t j = 0; !f->cdf && j < po->elems; j++) /* each element's factors, once per block */
        t->shift[j] = f->shift[po->fidx[j]], t->div[j] = f->div[po->fidx[j]];
    t->fin = f;
    t->out = out;
    h5p_pool_run(t->pool, finish_job, t);
    return H5PREP_OK;
}

h5prep_status h5p_cpu_tx_stats(h5p_backend *be, size_t o, h5p_moments *out)
{
    const h5p_cpu_tx *t = be->tx;
    const h5p_plan *p = t->plan;
    for (uint64_t f = 0; f < p->outs[o].features; f++) {
        out[f] = h5p_moments_empty();
        for (int l = 0; l < LANES; l++) {
            h5p_moments m = h5p_states_get(&t->acc[(size_t)l * p->nouts + o], f);
            h5p_moments_merge(&out[f], &m);
        }
    }
    return H5PREP_OK;
}
