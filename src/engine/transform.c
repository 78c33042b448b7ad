/* transform.c: `h5prep transform`: a recipe run over a ring of slots. When every output's factors
 * are known before any data is read (normalize: none, or {stats: FILE}), one pass reads, gathers
 * (taking the statistics for stats.json), normalizes, casts and writes each row at its place.
 * Otherwise pass 1 reads, gathers, takes the statistics of the normalizing split (weighted where
 * normalize.weights says) and stages rows (float32/float64) at their place in the split; pass 2
 * normalizes, casts and writes. */
#include "h5prep.h"

#include "backends/choose.h"
#include "backends/cpu/weighted_cpu.h"
#include "common/internal.h"
#include "engine/ring.h"
#include "engine/robust.h"
#include "output/outdir.h"
#include "output/sink.h"
#include "output/state.h"
#include "output/state_tree.h"
#include "plan/describe.h"
#include "plan/plan.h"
#include "plan/split.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <libdeflate.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>


h5prep_transform_config h5prep_transform_config_default(void)
{
    h5prep_transform_config c;
    memset(&c, 0, sizeof c);
    c.engine = h5prep_stats_config_default();
    c.stage_mem = H5PREP_STAGE_MEM_AUTO;
    return c;
}

/* ---- the run ---- */

typedef struct pass1_job {
    uint64_t r0, rows;
} pass1_job;

typedef struct pass2_job {
    size_t o;
    int split;
    uint64_t row0, rows; /* rows of the split */
} pass2_job;

/* normalize.weights of an output: pass 1's statistics weighted, one block per slab. */
typedef struct out_weights {
    double *tab;      /* (elems,) the weight of each element of a sample; NULL: unweighted */
    int axis;         /* the variable's axis of 1-D weights, -1 for an array */
    h5p_tree tree;    /* the weighted block states so far */
    h5p_wstates acc;  /* the CPU's weighted states of one slab (a backend without weighted ops) */
    double *wsum;     /* (features,) sums of weights after pass 1 */
} out_weights;

typedef struct run {
    const h5prep_transform_config *cfg;
    h5p_recipe *recipe;
    h5p_plan plan;
    h5p_split split;
    int stats_split;              /* -1: every row counts */
    const h5p_backend_ops *ops;
    h5p_backend *be;
    void *in[H5P_RING_SLOTS_MAX], *out[H5P_RING_SLOTS_MAX]; /* each slot's input and result buffers */
    void *cast[H5P_RING_SLOTS_MAX]; /* one pass: each slot's rows normalized and cast, outputs one after another */
    int passes;
    char staged_why[128];         /* with two passes: why */
    h5p_pool *decode;
    h5p_outdir outdir;             /* the output directory, written under a temporary name */
    unsigned char **staged;       /* two passes: (nouts,) mapped staging file of each output: rows by
                                     split, in output order within a split */
    size_t *staged_len;
    int staged_in_memory;
    uint64_t split_base[H5P_MAX_SPLITS];
    h5p_sink *sink;
    char *dir;                    /* --out or write.dir */
    /* pass 1 (the one pass) */
    pass1_job *jobs1;
    uint64_t njobs1, slab_rows;
    size_t host_in, host_out;     /* bytes of each slot's input and result buffers on the host */
    h5p_reader *readers;          /* (nvars,) the reader thread's open dataset of each variable */
    size_t *reader_part;          /* (nvars,) part open in readers[v], SIZE_MAX when none */
    uint32_t **order;             /* (nslots,) row order of the slab in each slot */
    uint64_t n_stat[H5P_RING_SLOTS_MAX]; /* rows of the slab in each slot that count for statistics */
    h5p_decode **slot_dec;        /* (nslots,) (nvars,) CF decoding of each variable's slab */
    /* pass 2 */
    pass2_job *jobs2;
    uint64_t njobs2;
    double **shift, **div;        /* (nouts,) (features,) */
    json_t **factors;             /* (nouts,) where each normalized output's factors come from
                                     (factors_record), NULL for an output not normalized */
    h5p_moments **moments;        /* (nouts,) statistics of each output */
    h5p_sketch **sketch;          /* (nouts,) quantile sketch of pass 1 of each output normalized
                                     robust or quantile with this run's statistics, else NULL */
    h5p_sketch **file_sketch;     /* (nouts,) the statistics file's sketch of a quantile output */
    h5p_cdf *cdf;                 /* (nouts,) the CDF table of a quantile output, else zeroed */
    out_weights *wt;              /* (nouts,) normalize.weights of each output */
    h5p_pool *wpool;              /* the CPU's weighted reduction's threads, beside the backend's */
    int nslots;
    uint64_t bytes_read, bytes_written;
    uint64_t rows_done, rows_total, bytes_done, bytes_total; /* progress over both passes */
    double t0;
    char backend_name[16], notice[256];
} run;

/* Bytes of one row of output o as written (its dtype), and where output o starts among a slab of
 * `rows` rows of every output so written. */
static size_t cast_row_bytes(const h5p_plan *p, size_t o) { return p->outs[o].elems * h5p_out_dtype_size(p->outs[o].spec->dtype); }

static size_t cast_offset(const h5p_plan *p, size_t o, uint64_t rows)
{
    size_t off = 0;
    for (size_t q = 0; q < o; q++)
        off += rows * cast_row_bytes(p, q);
    return off;
}

/* Bytes of one slot's buffers (in and out together) under --mem. */
static size_t slot_budget(const run *r) { return r->cfg->engine.mem_bytes / (size_t)r->nslots; }

static void size_for_pass2(run *r);

/* Slabs of at most slab_rows samples that never cross a file of any variable, so that each
 * variable's rows in a slab share one file's CF decoding. A slot holds a slab's input, its
 * gathered rows, its row order and, in one pass, its rows as written: all within its share of
 * --mem. With two passes, pass 2 reuses the input and result buffers (size_for_pass2). */
static h5prep_status plan_pass1(run *r)
{
    const h5p_plan *p = &r->plan;
    size_t in = h5p_plan_in_row_bytes(p), out = h5p_plan_out_row_bytes(p), widest = in > out ? in : out;
    size_t cast = r->passes == 1 ? cast_offset(p, p->nouts, 1) : 0, row = in + out + cast + sizeof(uint32_t);
    const h5p_part *first = &p->vars[0].var.parts[0];
    h5p_slab_rule rule = {widest, row, slot_budget(r), p->vars[0].per_file ? 0 : first->chunk_rows, first->row_chunks, 0, 0, UINT64_MAX};
    uint64_t rows = h5p_slab_rows(&rule); /* whole chunks decode in parallel */
    if (rows == 0) {
        h5p_fail(H5PREP_ERR_NOMEM, "--mem: one sample needs %zu bytes of input and output in each of %d ring slots", row,
                 r->nslots);
        return h5p_hint(H5PREP_ERR_NOMEM, "give at least --mem %zuK", CEIL_DIV(row * (size_t)r->nslots, 1024));
    }
    r->slab_rows = rows;
    r->host_in = rows * in;
    r->host_out = rows * out;
    if (r->passes == 2)
        size_for_pass2(r);
    for (size_t v = 0; v < p->nvars; v++)
        for (size_t k = 0; k < p->vars[v].var.nparts; k++)
            FORWARD_IF_ERROR(h5p_check_chunk_budget(&p->vars[v].var, &p->vars[v].var.parts[k], slot_budget(r), r->nslots));
    uint64_t cap = 16, n = 0;
    r->jobs1 = h5p_malloc(cap * sizeof *r->jobs1);
    RETURN_ERROR_IF(!r->jobs1, H5PREP_ERR_NOMEM, "out of memory");
    for (uint64_t s = 0; s < p->n;) {
        uint64_t end = s + r->slab_rows < p->n ? s + r->slab_rows : p->n;
        for (size_t v = 0; v < p->nvars; v++) {
            const h5p_plan_var *pv = &p->vars[v];
            if (pv->per_file) {
                end = s + 1;
                continue;
            }
            for (size_t k = 0; k < pv->var.nparts; k++) {
                uint64_t b = pv->var.parts[k].row0 + pv->var.parts[k].rows;
                if (b > s && b < end)
                    end = b;
            }
        }
        if (n == cap) {
            pass1_job *nj = realloc(r->jobs1, 2 * cap * sizeof *nj);
            RETURN_ERROR_IF(!nj, H5PREP_ERR_NOMEM, "out of memory");
            r->jobs1 = nj, cap *= 2;
        }
        r->jobs1[n++] = (pass1_job){s, end - s};
        s = end;
    }
    r->njobs1 = n;
    return H5PREP_OK;
}

/* The decoding of values used as they are (per-file values, already float64). */
static h5p_decode plain_decode(void)
{
    h5p_decode d;
    memset(&d, 0, sizeof d);
    d.scale = 1, d.vmin = -INFINITY, d.vmax = INFINITY;
    return d;
}

/* Reader thread: samples [r0, r0+rows) of every variable into `in`, one variable after another. */
static h5prep_status read1(void *ctx, h5p_ring *g, uint64_t job, int slot)
{
    (void)g;
    run *r = ctx;
    const h5p_plan *p = &r->plan;
    const pass1_job *jb = &r->jobs1[job];
    unsigned char *in = r->in[slot];
    for (size_t v = 0; v < p->nvars; v++) {
        const h5p_plan_var *pv = &p->vars[v];
        size_t k = 0;
        uint64_t local = 0, nrows = jb->rows;
        if (pv->file_values) {
            memcpy(in + h5p_plan_var_offset(p, v, r->slab_rows), pv->file_values + jb->r0, jb->rows * sizeof(double));
            r->slot_dec[slot][v] = plain_decode();
            continue;
        }
        if (pv->per_file) {
            k = (size_t)jb->r0;
            nrows = pv->var.parts[k].rows;
        } else {
            while (pv->var.parts[k].row0 + pv->var.parts[k].rows <= jb->r0)
                k++;
            local = jb->r0 - pv->var.parts[k].row0;
        }
        if (r->reader_part[v] != k) {
            if (r->reader_part[v] != SIZE_MAX)
                h5p_reader_close(&r->readers[v]);
            r->reader_part[v] = SIZE_MAX;
            FORWARD_IF_ERROR(h5p_reader_open(&r->readers[v], &pv->var, &pv->var.parts[k], 0));
            r->reader_part[v] = k;
        }
        unsigned char *dst = in + h5p_plan_var_offset(p, v, r->slab_rows);
        FORWARD_IF_ERROR(h5p_reader_read(&r->readers[v], r->decode, local, nrows, dst));
        r->slot_dec[slot][v] = pv->var.parts[k].dec;
    }
    return H5PREP_OK;
}

/* Rows in no split (outside every range of a split by rows or time) count for nothing. */
static int counts_for_stats(const run *r, uint64_t sample)
{
    uint8_t w = r->split.which[sample];
    return r->stats_split < 0 ? w != H5P_SPLIT_DROPPED : w == (uint8_t)r->stats_split;
}

/* One bar over both passes: input bytes of pass 1, then staged bytes of pass 2. */
static void report_progress(run *r, uint64_t rows, uint64_t bytes)
{
    r->rows_done += rows;
    r->bytes_done += bytes;
    const h5prep_stats_config *e = &r->cfg->engine;
    if (!e->progress)
        return;
    h5prep_progress pr = {r->rows_done, r->rows_total, r->bytes_done, r->bytes_total, h5p_now() - r->t0};
    e->progress(&pr, e->progress_user);
}

/* Whether output o's factors come from a quantile sketch (normalize: robust or quantile). */
static int wants_sketch(const h5p_output *spec) { return spec->norm == H5P_NORM_ROBUST || spec->norm == H5P_NORM_QUANTILE; }

/* The CDF table that replaces output o's affine finish (normalize: quantile), else NULL. */
static const h5p_cdf *finish_cdf(const run *r, size_t o) { return r->plan.outs[o].spec->norm == H5P_NORM_QUANTILE ? &r->cdf[o] : NULL; }

static h5prep_status compute1(void *ctx, uint64_t job, int slot)
{
    run *r = ctx;
    const unsigned char *in = r->in[slot];
    const h5p_plan *p = &r->plan;
    const pass1_job *jb = &r->jobs1[job];
    h5p_tx_slab s;
    memset(&s, 0, sizeof s);
    s.rows = jb->rows;
    for (size_t v = 0; v < p->nvars; v++) {
        s.data[v] = in + h5p_plan_var_offset(p, v, r->slab_rows);
        s.dec[v] = &r->slot_dec[slot][v];
    }
    /* rows that count for statistics first, so that the backend reduces one contiguous block */
    uint32_t *ord = r->order[slot];
    uint64_t a = 0;
    for (uint64_t i = 0; i < jb->rows; i++)
        if (counts_for_stats(r, jb->r0 + i))
            ord[a++] = (uint32_t)i;
    s.n_stat = a;
    r->n_stat[slot] = a;
    for (uint64_t i = 0; i < jb->rows; i++)
        if (!counts_for_stats(r, jb->r0 + i))
            ord[a++] = (uint32_t)i;
    s.order = ord;
    FORWARD_IF_ERROR(r->ops->gather(r->be, slot, &s, r->out[slot]));
    for (size_t o = 0; r->passes == 1 && o < p->nouts; o++) {
        h5p_tx_finish f = {o, (unsigned char *)r->out[slot] + h5p_plan_block_offset(p, o, jb->rows), jb->rows, r->shift[o], r->div[o],
                           finish_cdf(r, o)};
        FORWARD_IF_ERROR(r->ops->finish(r->be, slot, &f, (unsigned char *)r->cast[slot] + cast_offset(p, o, jb->rows)));
    }
    r->bytes_read += jb->rows * h5p_plan_in_row_bytes(p);
    report_progress(r, jb->rows, jb->rows * h5p_plan_in_row_bytes(p));
    return H5PREP_OK;
}

/* Bytes output o writes of n rows, in HDF5 and .npy together. */
static void count_written(run *r, size_t o, uint64_t n)
{
    const h5p_write_spec *w = &r->recipe->write;
    r->bytes_written += n * cast_row_bytes(&r->plan, o) * (uint64_t)(!!w->hdf5 + !!w->npy);
}

/* Pass 1's weighted statistics of output o (normalize.weights): the slab's rows that count, as
 * gathered (on the host, after the backend's wait), become the next block of o's weighted tree,
 * reduced by the backend's weighted ops or else the CPU's. Each element j of a sample has the
 * weight wt[o].tab[j] in every row. */
static h5prep_status weighted_block(run *r, size_t o, uint64_t job, int slot)
{
    const h5p_plan_output *po = &r->plan.outs[o];
    uint64_t n = r->n_stat[slot];
    if (n == 0)
        return H5PREP_OK;
    h5p_decode dec = plain_decode(); /* gathered values: missing ones are NaN */
    h5p_slab sl = {.data = (const unsigned char *)r->out[slot] + h5p_plan_block_offset(&r->plan, o, r->jobs1[job].rows),
                   .dtype = po->scratch_f64 ? H5P_F64 : H5P_F32,
                   .outer = n * (po->elems / (po->features * po->inner)),
                   .features = po->features,
                   .inner = po->inner,
                   .dec = &dec};
    h5p_tree *t = &r->wt[o].tree;
    size_t bytes = h5p_tree_state_bytes(t);
    h5p_moments *m = h5p_malloc(bytes);
    RETURN_ERROR_IF(!m, H5PREP_ERR_NOMEM, "output '%s': no memory for %" PRIu64 " weighted feature states", po->spec->name,
                    po->features);
    h5prep_status st = H5PREP_OK;
    if (r->ops->wstats_slab) {
        h5p_wslab ws = {&sl, 0, 0, po->elems, 0};
        st = r->ops->wstats_begin(r->be, po->features, r->wt[o].tab, po->elems);
        if (st == H5PREP_OK)
            st = r->ops->wstats_slab(r->be, slot, &ws);
        if (st == H5PREP_OK)
            st = r->ops->wstats_end(r->be, m, (double *)(m + po->features));
    } else {
        h5p_wstates *a = &r->wt[o].acc;
        h5p_cpu_weighted_slab(a, &sl, r->wt[o].tab, 0, po->elems, r->wpool);
        h5p_wstates_finish(a);
        memcpy(m, a->m, bytes);
        h5p_wstates_reset(a);
    }
    if (st != H5PREP_OK) {
        free(m);
        return st;
    }
    return h5p_tree_push(t, 0, h5p_tree_end(t, 0), m);
}

/* Writer thread: each row goes to its place in its split: in the mapped staging file (two
 * passes), or normalized and cast into the outputs (one pass). Rows of a slab that are neighbours
 * there too go together; rows in no split are left. */
static h5prep_status write1(void *ctx, uint64_t job, int slot)
{
    run *r = ctx;
    const h5p_plan *p = &r->plan;
    const pass1_job *jb = &r->jobs1[job];
    FORWARD_IF_ERROR(r->ops->wait(r->be, slot));
    const uint32_t *ord = r->order[slot];
    const uint8_t *which = r->split.which;
    const uint64_t *dest = r->split.dest;
    for (size_t o = 0; o < p->nouts; o++) {
        const h5p_plan_output *po = &p->outs[o];
        if (r->sketch[o]) /* here, after the backend's wait: the gathered rows are on the host; rows [0, n_stat) count */
            FORWARD_IF_ERROR(h5p_robust_add(r->sketch[o], (const unsigned char *)r->out[slot] + h5p_plan_block_offset(p, o, jb->rows),
                                            po->scratch_f64, r->n_stat[slot], po->elems, po->features, po->inner));
        if (r->wt[o].tab)
            FORWARD_IF_ERROR(weighted_block(r, o, job, slot));
        size_t rb = r->staged ? h5p_plan_row_bytes(p, o) : cast_row_bytes(p, o);
        const unsigned char *blk = r->staged ? (const unsigned char *)r->out[slot] + h5p_plan_block_offset(p, o, jb->rows)
                                             : (const unsigned char *)r->cast[slot] + cast_offset(p, o, jb->rows);
        for (uint64_t i = 0, n; i < jb->rows; i += n) {
            uint64_t smp = jb->r0 + ord[i];
            uint8_t w = which[smp];
            n = 1;
            if (w == H5P_SPLIT_DROPPED)
                continue;
            while (i + n < jb->rows && which[jb->r0 + ord[i + n]] == w && dest[jb->r0 + ord[i + n]] == dest[smp] + n)
                n++;
            if (r->staged) {
                memcpy(r->staged[o] + (r->split_base[w] + dest[smp]) * rb, blk + i * rb, n * rb);
                continue;
            }
            FORWARD_IF_ERROR(h5p_sink_write_at(r->sink, (int)o, w, dest[smp], n, blk + i * rb));
            count_written(r, o, n);
        }
    }
    return H5PREP_OK;
}

/* Per-feature shift and divisor of output o from statistics ms (features,), or for robust and
 * quantile from the sketch sk (engine/robust.h; quantile: shift 0, divisor 1 and the CDF table).
 * A constant feature is divided by 1 (it becomes 0). A std or range beyond DBL_MAX (values more
 * than about 1e154 apart) cannot divide: the run stops before any output is written. */
static h5prep_status norm_factors(run *r, size_t o, const h5p_moments *ms, const double *wsum, const h5p_sketch *sk)
{
    const h5p_plan_output *po = &r->plan.outs[o];
    if (po->spec->norm == H5P_NORM_ROBUST)
        return h5p_robust_factors(sk, ms, po->spec->name, r->shift[o], r->div[o]);
    if (po->spec->norm == H5P_NORM_QUANTILE) { /* the finish maps each value through the table; no shift, no divisor */
        for (uint64_t f = 0; f < po->features; f++)
            r->shift[o][f] = 0, r->div[o][f] = 1;
        RETURN_ERROR_IF(h5p_cdf_build(sk, &r->cdf[o]) != 0, H5PREP_ERR_NOMEM, "output '%s': out of memory for the CDF table", po->spec->name);
        return H5PREP_OK;
    }
    for (uint64_t f = 0; f < po->features; f++) {
        const h5p_moments *m = &ms[f];
        double shift = 0, div = 1;
        if (po->spec->norm == H5P_NORM_ZSCORE && m->n > 0 && (!wsum || wsum[f] > 0)) {
            div = sqrt(m->m2 / (wsum ? wsum[f] : (double)m->n)); /* a weighted statistics file: its weighted std */
            shift = m->mean;
        } else if (po->spec->norm == H5P_NORM_MINMAX && m->n > 0) {
            div = m->max - m->min;
            shift = m->min;
        }
        if (!isfinite(div)) {
            h5p_fail(H5PREP_ERR_STATE, "output '%s': feature %" PRIu64 ": its %s exceeds float64 (values about 1e154 or more apart), so it cannot be normalized",
                     po->spec->name, f, po->spec->norm == H5P_NORM_ZSCORE ? "standard deviation" : "range");
            return h5p_hint(H5PREP_ERR_STATE, "use normalize: none for this output, or rescale the input (scale_factor)");
        }
        r->shift[o][f] = shift;
        r->div[o][f] = div > 0 ? div : 1;
    }
    return H5PREP_OK;
}

/* Rows of output o in a pass-2 job: a slab's worth, whose staged rows fit the slot's input
 * buffer and the same rows as written its result buffer (0: not one row fits). */
static uint64_t pass2_rows(const run *r, size_t o)
{
    const h5p_plan *p = &r->plan;
    size_t out_row = cast_row_bytes(p, o), rb = h5p_plan_row_bytes(p, o);
    h5p_slab_rule rule = {out_row > rb ? out_row : rb, rb + out_row, slot_budget(r), 0, 0, 0, 0, UINT64_MAX};
    uint64_t rows = h5p_slab_rows(&rule), in = r->host_in / rb, out = r->host_out / out_row;
    rows = rows < in ? rows : in;
    return rows < out ? rows : out;
}

/* Two passes: the input and result buffers grown to what pass 2's jobs would fill, or, where
 * that is more than the slot's share of --mem, the share split between them in that proportion
 * (each still holding a slab of pass 1). */
static void size_for_pass2(run *r)
{
    const h5p_plan *p = &r->plan;
    size_t share = slot_budget(r) - r->slab_rows * sizeof(uint32_t), in = r->host_in, out = r->host_out;
    r->host_in = r->host_out = SIZE_MAX; /* pass2_rows: a slab's worth */
    for (size_t o = 0; o < p->nouts; o++) {
        uint64_t rows = pass2_rows(r, o);
        in = rows * h5p_plan_row_bytes(p, o) > in ? rows * h5p_plan_row_bytes(p, o) : in;
        out = rows * cast_row_bytes(p, o) > out ? rows * cast_row_bytes(p, o) : out;
    }
    if (in + out > share) {
        size_t lo = r->slab_rows * h5p_plan_in_row_bytes(p), hi = share - r->slab_rows * h5p_plan_out_row_bytes(p);
        size_t a = (size_t)((double)share * ((double)in / ((double)in + (double)out)));
        in = a < lo ? lo : a > hi ? hi : a;
        out = share - in;
    }
    r->host_in = in;
    r->host_out = out;
}

/* Before any data is read, with two passes: one row of every output fits the slot's buffers. */
static h5prep_status check_pass2(const run *r)
{
    const h5p_plan *p = &r->plan;
    for (size_t o = 0; o < p->nouts; o++)
        if (pass2_rows(r, o) == 0) {
            size_t in = h5p_plan_in_row_bytes(p), row = h5p_plan_row_bytes(p, o);
            h5p_fail(H5PREP_ERR_NOMEM, "--mem: a staged row of output '%s' (%zu bytes) does not fit a ring slot's input buffer of %zu bytes (%" PRIu64 " samples)",
                     p->outs[o].spec->name, row, r->host_in, r->slab_rows);
            return h5p_hint(H5PREP_ERR_NOMEM, "give at least --mem %zuK",
                            CEIL_DIV(slot_budget(r) * (size_t)r->nslots, 1024) * CEIL_DIV(row, in ? in * r->slab_rows : 1));
        }
    return H5PREP_OK;
}

static h5prep_status plan_pass2(run *r)
{
    const h5p_plan *p = &r->plan;
    uint64_t n = 0, cap = 16;
    r->jobs2 = h5p_malloc(cap * sizeof *r->jobs2);
    RETURN_ERROR_IF(!r->jobs2, H5PREP_ERR_NOMEM, "out of memory");
    for (int k = 0; k < r->split.nsplits; k++)
        for (size_t o = 0; o < p->nouts; o++) {
            uint64_t block = pass2_rows(r, o);
            for (uint64_t s = 0; s < r->split.count[k]; s += block) {
                if (n == cap) {
                    pass2_job *nj = realloc(r->jobs2, 2 * cap * sizeof *nj);
                    RETURN_ERROR_IF(!nj, H5PREP_ERR_NOMEM, "out of memory");
                    r->jobs2 = nj, cap *= 2;
                }
                uint64_t rows = r->split.count[k] - s < block ? r->split.count[k] - s : block;
                r->jobs2[n++] = (pass2_job){o, k, s, rows};
            }
        }
    r->njobs2 = n;
    return H5PREP_OK;
}

static h5prep_status read2(void *ctx, h5p_ring *g, uint64_t job, int slot)
{
    (void)g;
    run *r = ctx;
    const pass2_job *jb = &r->jobs2[job];
    size_t rb = h5p_plan_row_bytes(&r->plan, jb->o);
    memcpy(r->in[slot], r->staged[jb->o] + (r->split_base[jb->split] + jb->row0) * rb, jb->rows * rb);
    return H5PREP_OK;
}

static h5prep_status compute2(void *ctx, uint64_t job, int slot)
{
    run *r = ctx;
    const pass2_job *jb = &r->jobs2[job];
    h5p_tx_finish f = {jb->o, r->in[slot], jb->rows, r->shift[jb->o], r->div[jb->o], finish_cdf(r, jb->o)};
    FORWARD_IF_ERROR(r->ops->finish(r->be, slot, &f, r->out[slot]));
    report_progress(r, jb->rows, jb->rows * h5p_plan_row_bytes(&r->plan, jb->o));
    return H5PREP_OK;
}

static h5prep_status write2(void *ctx, uint64_t job, int slot)
{
    run *r = ctx;
    const pass2_job *jb = &r->jobs2[job];
    FORWARD_IF_ERROR(r->ops->wait(r->be, slot));
    count_written(r, jb->o, jb->rows);
    return h5p_sink_write(r->sink, (int)jb->o, jb->split, jb->rows, r->out[slot]);
}

/* ---- setup and teardown ---- */

/* The backend (the one chooser), ready for this plan's slots. */
static h5prep_status open_backend(run *r, size_t in_bytes, size_t out_bytes)
{
    FORWARD_IF_ERROR(h5p_backend_open(&r->cfg->engine, r->nslots, &r->ops, &r->be, r->notice, sizeof r->notice));
    snprintf(r->backend_name, sizeof r->backend_name, "%s", r->ops->name);
    return r->ops->tx_begin(r->be, &r->plan, in_bytes, out_bytes);
}

/* Where output o's rows wait between the passes: anonymous memory when every output together
 * fits the staging budget, else a file in the temporary directory, reserved in full up front (a
 * full disk is an error here, not a fault in a copy) and unlinked at once. */
static h5prep_status stage_output(run *r, size_t o, size_t len, int in_memory)
{
    void *m = MAP_FAILED;
    int err = 0;
    if (in_memory) {
        m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        err = errno;
    } else {
        char name[64];
        snprintf(name, sizeof name, ".staged-%zu", o);
        char *path = h5p_outdir_path(&r->outdir, name);
        RETURN_ERROR_IF(!path, H5PREP_ERR_NOMEM, "out of memory");
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        err = errno;
        unlink(path);
        free(path);
        RETURN_ERROR_IF(fd < 0, H5PREP_ERR_OUTPUT, "%s: cannot create a staging file: %s", r->outdir.tmp, strerror(err));
        err = posix_fallocate(fd, 0, (off_t)len);
        if (!err) {
            m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            err = errno;
        }
        close(fd);
    }
    if (m == MAP_FAILED) {
        h5p_fail(in_memory ? H5PREP_ERR_NOMEM : H5PREP_ERR_OUTPUT, "%s: cannot stage %.2f GB for output '%s' %s: %s", r->outdir.tmp,
                 (double)len / 1e9, r->plan.outs[o].spec->name, in_memory ? "in memory" : "on disk", strerror(err));
        return h5p_hint(in_memory ? H5PREP_ERR_NOMEM : H5PREP_ERR_OUTPUT, "%s",
                        in_memory ? "lower --stage-mem to stage on disk" : "the output directory's file system needs room for the outputs twice while the run lasts");
    }
    r->staged[o] = m;
    r->staged_len[o] = len;
    return H5PREP_OK;
}

/* --stage-mem, or half the free memory. */
static size_t staging_budget(const run *r)
{
    size_t budget = r->cfg->stage_mem;
    if (budget == H5PREP_STAGE_MEM_AUTO) {
        long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        budget = pages > 0 && page > 0 ? (size_t)pages * (size_t)page / 2 : 0;
    }
    return budget;
}

static h5prep_status open_staging(run *r)
{
    const h5p_plan *p = &r->plan;
    r->staged = h5p_calloc(p->nouts, sizeof *r->staged);
    r->staged_len = h5p_calloc(p->nouts, sizeof *r->staged_len);
    RETURN_ERROR_IF(!r->staged || !r->staged_len, H5PREP_ERR_NOMEM, "out of memory");
    uint64_t kept = p->n - r->split.dropped;
    r->staged_in_memory = kept * h5p_plan_out_row_bytes(p) <= staging_budget(r);
    for (size_t o = 0; o < p->nouts; o++) {
        size_t len = kept * h5p_plan_row_bytes(p, o);
        if (len > 0)
            FORWARD_IF_ERROR(stage_output(r, o, len, r->staged_in_memory));
    }
    return H5PREP_OK;
}

/* The split: seeded over samples or groups, or given per sample by the plan (files, rows, time),
 * then shuffled with keys per sample when asked. */
static h5prep_status make_split(run *r)
{
    const h5p_plan *p = &r->plan;
    const h5p_split_spec *sp = &r->plan.split;
    int need_keys = !p->assign || sp->shuffle;
    uint64_t units = p->group_of ? p->ngroups : p->n;
    uint32_t *key = need_keys ? h5p_malloc((units ? units : 1) * sizeof *key) : NULL;
    RETURN_ERROR_IF(need_keys && !key, H5PREP_ERR_NOMEM, "%s: out of memory for the split keys of %" PRIu64 " samples",
                    r->recipe->path, units);
    h5prep_status st = need_keys ? r->ops->keys(r->be, sp->seed, units, key) : H5PREP_OK;
    if (st == H5PREP_OK && p->assign)
        st = h5p_split_assign(sp, p->n, p->assign, key, &r->split);
    else if (st == H5PREP_OK)
        st = h5p_split_make(sp, p->n, p->group_of, p->ngroups, key, &r->split);
    free(key);
    FORWARD_IF_ERROR(st);
    uint64_t base = 0;
    for (int k = 0; k < r->split.nsplits; k++) {
        r->split_base[k] = base, base += r->split.count[k];
        if (r->split.count[k] > 0 || p->n == 0)
            continue;
        if (sp->by == H5P_SPLIT_SEEDED)
            h5p_warn("%s: split '%s' gets no rows (%g of %" PRIu64 " %s); its files hold (0, ...) arrays", r->recipe->path,
                     sp->names[k], sp->fractions[k], units, p->group_of ? "groups" : "samples");
        else
            h5p_warn("%s: split '%s' gets no rows (no %s of the %" PRIu64 " samples is in it); its files hold (0, ...) arrays",
                     r->recipe->path, sp->names[k], sp->by == H5P_SPLIT_FILES ? "file" : "row", p->n);
    }
    r->stats_split = sp->stats_split;
    return H5PREP_OK;
}

static h5prep_status write_split(run *r)
{
    char *path = h5p_outdir_path(&r->outdir, "split.json");
    RETURN_ERROR_IF(!path, H5PREP_ERR_NOMEM, "out of memory");
    h5prep_status st = h5p_split_write_manifest(&r->split, &r->plan.split, path);
    free(path);
    return st;
}

static int factors_from_file(const h5p_output *spec) { return spec->norm != H5P_NORM_NONE && spec->stats_path; }

/* {"file": as given, "realpath", "size", "mtime", "crc32", "variable", "features"} of the statistics
 * file of output o (normalize: {stats: FILE}): the file its factors were just read from. */
static h5prep_status file_record(const h5p_output *spec, uint64_t features, json_t **out)
{
    const char *path = spec->stats_path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        h5p_fail(H5PREP_ERR_STATE, "%s: cannot read the statistics file of output '%s': %s", path, spec->name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return H5PREP_ERR_STATE;
    }
    uint32_t crc = 0;
    unsigned char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        crc = libdeflate_crc32(crc, buf, (size_t)n);
    int err = n < 0 ? errno : 0;
    close(fd);
    char *real = realpath(path, NULL);
    if (err || !real) {
        h5p_fail(H5PREP_ERR_STATE, "%s: cannot read the statistics file of output '%s': %s", path, spec->name,
                 strerror(err ? err : errno));
        free(real);
        return H5PREP_ERR_STATE;
    }
    char mtime[32], crc_hex[16], var[256];
    h5p_format_utc(mtime, (int64_t)sb.st_mtime);
    snprintf(crc_hex, sizeof crc_hex, "%08" PRIx32, crc);
    snprintf(var, sizeof var, "/%s", spec->name);
    *out = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:I}", "file", path, "realpath", real, "size", (json_int_t)sb.st_size,
                     "mtime", mtime, "crc32", crc_hex, "variable", var, "features", (json_int_t)features);
    free(real);
    RETURN_ERROR_IF(!*out, H5PREP_ERR_NOMEM, "out of memory");
    return H5PREP_OK;
}

/* Where output o's normalization factors come from, as index.json's normalize.factors and
 * stats.json's provenance.factors say it: the statistics file (file_record), or this run's
 * stats.json and the split they are taken over (null: every row). NULL when the output is not
 * normalized. */
static h5prep_status factors_record(const run *r, size_t o, json_t **out)
{
    const h5p_plan_output *po = &r->plan.outs[o];
    const h5p_output *spec = po->spec;
    int split = r->plan.split.stats_split;
    *out = NULL;
    if (spec->norm == H5P_NORM_NONE)
        return H5PREP_OK;
    if (factors_from_file(spec))
        return file_record(spec, po->features, out);
    *out = json_pack("{s:s, s:o}", "stats", "stats.json", "split", split < 0 ? json_null() : json_string(r->plan.split.names[split]));
    RETURN_ERROR_IF(!*out, H5PREP_ERR_NOMEM, "out of memory");
    if (wants_sketch(spec)) /* the quartiles or the CDF are the sketch's, good to this relative accuracy */
        RETURN_ERROR_IF(json_object_set_new(*out, "sketch_alpha", json_real(r->cfg->engine.sketch_alpha)) != 0, H5PREP_ERR_NOMEM,
                        "out of memory");
    if (spec->weights) /* the weighted mean and std of these weights (zscore; minmax: min and max, never weighted) */
        RETURN_ERROR_IF(json_object_set_new(*out, "weights", h5p_weights_json(spec->weights)) != 0, H5PREP_ERR_NOMEM,
                        "out of memory");
    return H5PREP_OK;
}

enum { MAX_OPEN_SHARDS = 256 };

/* Factors known before any data is read: none to apply, or a statistics file's. */
static int factors_known(const h5p_output *spec) { return spec->norm == H5P_NORM_NONE || factors_from_file(spec); }

/* Before any data is read: one pass, or two and why (r->staged_why). Shuffled rows reach a split
 * in no order, and a gzip-compressed chunk written in pieces would be recompressed each time. */
static void choose_passes(run *r)
{
    const h5p_plan *p = &r->plan;
    const h5p_write_spec *w = &r->recipe->write;
    r->staged_why[0] = 0;
    if (r->cfg->two_passes)
        snprintf(r->staged_why, sizeof r->staged_why, "--two-passes was given");
    for (size_t o = 0; !r->staged_why[0] && o < p->nouts; o++)
        if (!factors_known(p->outs[o].spec))
            snprintf(r->staged_why, sizeof r->staged_why, "output '%s' is normalized with this run's statistics", p->outs[o].spec->name);
    if (!r->staged_why[0] && w->hdf5 && w->gzip && p->split.shuffle)
        snprintf(r->staged_why, sizeof r->staged_why, "shuffled rows into gzip-compressed HDF5 chunks");
    /* shuffled rows reach every .npy shard of their split at once, and a shard stays open until
     * its last row is written: more than MAX_OPEN_SHARDS would run into the open-file limit */
    uint64_t shards = w->npy && w->shard_rows ? CEIL_DIV(p->n, w->shard_rows) * p->nouts : 0; /* about: splits aside */
    if (!r->staged_why[0] && p->split.shuffle && shards > MAX_OPEN_SHARDS)
        snprintf(r->staged_why, sizeof r->staged_why, "shuffled rows into about %" PRIu64 " .npy shards (one pass keeps at most %d open)",
                 shards, MAX_OPEN_SHARDS);
    r->passes = r->staged_why[0] ? 2 : 1;
}

/* Before any data is read: room for every output's statistics and factors, and the factors of
 * the outputs normalized with a statistics file (normalize: {stats: FILE}), read and checked. */
static h5prep_status load_given_factors(run *r)
{
    const h5p_plan *p = &r->plan;
    r->moments = h5p_calloc(p->nouts, sizeof *r->moments);
    r->shift = h5p_calloc(p->nouts, sizeof *r->shift);
    r->div = h5p_calloc(p->nouts, sizeof *r->div);
    r->factors = h5p_calloc(p->nouts, sizeof *r->factors);
    r->sketch = h5p_calloc(p->nouts, sizeof *r->sketch);
    r->file_sketch = h5p_calloc(p->nouts, sizeof *r->file_sketch);
    r->cdf = h5p_calloc(p->nouts, sizeof *r->cdf);
    RETURN_ERROR_IF(!r->moments || !r->shift || !r->div || !r->factors || !r->sketch || !r->file_sketch || !r->cdf, H5PREP_ERR_NOMEM,
                    "out of memory");
    for (size_t o = 0; o < p->nouts; o++) {
        const h5p_plan_output *po = &p->outs[o];
        const h5p_output *spec = po->spec;
        r->moments[o] = h5p_calloc(po->features, sizeof **r->moments);
        r->shift[o] = h5p_malloc(po->features * sizeof **r->shift);
        r->div[o] = h5p_malloc(po->features * sizeof **r->div);
        RETURN_ERROR_IF(!r->moments[o] || !r->shift[o] || !r->div[o], H5PREP_ERR_NOMEM, "out of memory for output '%s'",
                        spec->name);
        if (spec->norm == H5P_NORM_NONE)
            FORWARD_IF_ERROR(norm_factors(r, o, r->moments[o], NULL, NULL)); /* shift 0, divisor 1 */
        if (!factors_from_file(spec)) {
            if (wants_sketch(spec))
                FORWARD_IF_ERROR(h5p_robust_sketch(&r->cfg->engine, spec->name, po->features, &r->sketch[o]));
            FORWARD_IF_ERROR(factors_record(r, o, &r->factors[o]));
            continue;
        }
        h5prep_stats *s = h5prep_stats_create(NULL);
        RETURN_ERROR_IF(!s, H5PREP_ERR_NOMEM, "out of memory");
        h5prep_status st = h5prep_stats_load(s, spec->stats_path);
        char name[256];
        snprintf(name, sizeof name, "/%s", spec->name);
        h5p_var *v = st == H5PREP_OK ? h5p_stats_find(s, name) : NULL;
        if (st == H5PREP_OK && !v)
            st = h5p_fail(H5PREP_ERR_STATE, "%s: has no variable '%s' for output '%s'", spec->stats_path, name, spec->name);
        else if (st == H5PREP_OK && h5p_var_features(v) != po->features)
            st = h5p_fail(H5PREP_ERR_STATE, "%s:%s: %" PRIu64 " features, but output '%s' normalizes %" PRIu64 " (normalize.keep_axes)",
                          spec->stats_path, name, h5p_var_features(v), spec->name, po->features);
        else if (st == H5PREP_OK && wants_sketch(spec) && !v->sketch)
            st = h5p_fail(H5PREP_ERR_STATE, "%s:%s: no quantile sketch, which output '%s' (normalize: %s) takes its %s from; "
                          "write the file with h5prep stats --quantiles (any levels)", spec->stats_path, name, spec->name,
                          h5p_norm_name(spec->norm), spec->norm == H5P_NORM_ROBUST ? "median and IQR" : "CDF");
        int weighted = st == H5PREP_OK && v->wsum != NULL; /* the file's statistics are weighted: so are its factors */
        if (st == H5PREP_OK)
            st = norm_factors(r, o, v->result, v->wsum, v->sketch);
        else
            h5p_hint(st, "the statistics file is named by outputs.%s.normalize.stats (%s:%d:%d)", spec->name, r->recipe->path,
                     spec->line, spec->col);
        if (st == H5PREP_OK && spec->norm == H5P_NORM_QUANTILE) { /* the CDF table reads it until the last row */
            r->file_sketch[o] = v->sketch;
            v->sketch = NULL;
        }
        h5prep_stats_destroy(s);
        FORWARD_IF_ERROR(st);
        FORWARD_IF_ERROR(factors_record(r, o, &r->factors[o]));
        RETURN_ERROR_IF(json_object_set_new(r->factors[o], "weighted", json_boolean(weighted)) != 0, H5PREP_ERR_NOMEM, "out of memory");
    }
    return H5PREP_OK;
}

/* After pass 1: output o's statistics (weighted: the fold of its weighted tree, whose counts, min
 * and max are the unweighted ones), and its factors unless known before. */
static h5prep_status run_factors(run *r, size_t o)
{
    uint64_t nf = r->plan.outs[o].features;
    FORWARD_IF_ERROR(r->ops->tx_stats(r->be, o, r->moments[o]));
    out_weights *ow = &r->wt[o];
    if (ow->tab) {
        h5p_moments *m = h5p_malloc(h5p_tree_state_bytes(&ow->tree));
        RETURN_ERROR_IF(!m, H5PREP_ERR_NOMEM, "output '%s': out of memory", r->plan.outs[o].spec->name);
        h5prep_status st = h5p_tree_fold(&ow->tree, m);
        if (st == H5PREP_OK) {
            memcpy(r->moments[o], m, nf * sizeof *m);
            memcpy(ow->wsum, m + nf, nf * sizeof *ow->wsum);
        }
        free(m);
        FORWARD_IF_ERROR(st);
    }
    if (!factors_known(r->plan.outs[o].spec))
        FORWARD_IF_ERROR(norm_factors(r, o, r->moments[o], ow->wsum, r->sketch[o]));
    return H5PREP_OK;
}

/* stats.json: every output's statistics (before normalization) as an h5prep-stats/1 document. */
static h5prep_status write_stats(run *r)
{
    const h5p_plan *p = &r->plan;
    h5prep_stats *s = h5prep_stats_create(&r->cfg->engine);
    RETURN_ERROR_IF(!s, H5PREP_ERR_NOMEM, "out of memory");
    h5prep_status st = H5PREP_OK;
    uint64_t rows = r->stats_split < 0 ? p->n - r->split.dropped : r->split.count[r->stats_split];
    for (size_t o = 0; o < p->nouts && st == H5PREP_OK; o++) {
        const h5p_plan_output *po = &p->outs[o];
        char name[256];
        snprintf(name, sizeof name, "/%s", po->spec->name);
        uint64_t dims[H5PREP_MAX_RANK] = {rows};
        memcpy(dims + 1, po->shape, (size_t)po->rank * sizeof *po->shape);
        st = h5p_stats_add_result(s, name, po->rank + 1, dims, po->keep_first, po->keep_count, r->moments[o], po->features);
        if (st == H5PREP_OK && r->sketch[o]) /* lent for the write: quantiles and buckets in stats.json */
            h5p_stats_find(s, name)->sketch = r->sketch[o];
        if (st == H5PREP_OK && r->wt[o].tab) { /* weighted: wsum, weights_axis and the spec beside the states */
            h5p_var *v = h5p_stats_find(s, name);
            v->wsum = h5p_malloc(po->features * sizeof *v->wsum);
            if (!v->wsum)
                st = h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
            else
                memcpy(v->wsum, r->wt[o].wsum, po->features * sizeof *v->wsum);
            v->weights_axis = r->wt[o].axis;
            v->weights = po->spec->weights;
        }
    }
    json_t *factors = json_object();
    for (size_t o = 0; factors && o < p->nouts; o++)
        if (r->factors[o] && json_object_set(factors, p->outs[o].spec->name, r->factors[o]) != 0)
            json_decref(factors), factors = NULL;
    if (st == H5PREP_OK && !factors)
        st = h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    if (st == H5PREP_OK) {
        h5p_stats_set_backend(s, r->backend_name);
        h5p_stats_set_factors(s, factors);
        h5p_stats_stamp(s);
        char *path = h5p_outdir_path(&r->outdir, "stats.json");
        st = path ? h5prep_stats_write(s, path) : h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
        free(path);
    }
    json_decref(factors);
    for (size_t o = 0; o < p->nouts; o++) /* the sketches lent stay the run's (a CDF table reads them) */
        if (r->sketch[o]) {
            char name[256];
            snprintf(name, sizeof name, "/%s", p->outs[o].spec->name);
            h5p_var *v = h5p_stats_find(s, name);
            if (v)
                v->sketch = NULL;
        }
    h5prep_stats_destroy(s);
    return st;
}

static h5prep_status open_sink(run *r)
{
    const h5p_plan *p = &r->plan;
    FORWARD_IF_ERROR(h5p_sink_open(&r->sink, r->outdir.tmp, &r->recipe->write, r->split.nsplits, r->plan.split.names,
                                   r->split.count));
    for (size_t o = 0; o < p->nouts; o++)
        FORWARD_IF_ERROR(h5p_sink_add_output(r->sink, p->outs[o].spec->name, p->outs[o].rank, p->outs[o].shape,
                                             p->outs[o].spec->dtype));
    for (size_t o = 0; o < p->nouts; o++) {
        json_t *meta;
        h5p_output_labels lab;
        FORWARD_IF_ERROR(h5p_describe_output(p, o, r->factors[o], &meta, &lab));
        h5prep_status st = h5p_sink_describe(r->sink, (int)o, meta, &lab);
        json_decref(meta);
        FORWARD_IF_ERROR(st);
    }
    return H5PREP_OK;
}

/* The recipe as it was read, copied into the output directory as recipe.yaml. */
static h5prep_status copy_recipe(run *r)
{
    char *dst = h5p_outdir_path(&r->outdir, "recipe.yaml");
    RETURN_ERROR_IF(!dst, H5PREP_ERR_NOMEM, "out of memory");
    FILE *in = fopen(r->recipe->path, "rb"), *out = in ? fopen(dst, "wb") : NULL;
    int e = in && out ? 0 : errno ? errno : EIO;
    char buf[65536];
    for (size_t n; !e && (n = fread(buf, 1, sizeof buf, in)) > 0;)
        if (fwrite(buf, 1, n, out) != n)
            e = errno ? errno : EIO;
    if (!e && ferror(in))
        e = EIO;
    if (in)
        fclose(in);
    if (out && fclose(out) != 0 && !e)
        e = errno ? errno : EIO;
    if (e)
        h5p_fail(H5PREP_ERR_OUTPUT, "%s: cannot copy the recipe %s into the output: %s", dst, r->recipe->path, strerror(e));
    free(dst);
    return e ? H5PREP_ERR_OUTPUT : H5PREP_OK;
}

/* Every input file that was read: path, dataset, rows, type, size and mtime (as stats.json). */
static json_t *inputs_json(const run *r)
{
    json_t *inputs = json_array();
    for (size_t v = 0; inputs && v < r->plan.nvars; v++)
        for (size_t k = 0; k < r->plan.vars[v].var.nparts; k++)
            json_array_append_new(inputs, h5p_input_json(&r->plan.vars[v].var, &r->plan.vars[v].var.parts[k]));
    return inputs;
}

static h5prep_status close_sink(run *r)
{
    FORWARD_IF_ERROR(copy_recipe(r));
    json_t *inputs = inputs_json(r);
    char tool[64];
    snprintf(tool, sizeof tool, "h5prep %s", h5prep_version());
    json_t *extra = inputs ? json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:{s:s, s:b, s:o}}", "stats", "stats.json", "split",
                                       "split.json", "recipe", r->recipe->path, "recipe_copy", "recipe.yaml", "backend",
                                       r->backend_name, "samples", (json_int_t)r->plan.n, "provenance", "tool", tool,
                                       "cf_decoding", !r->cfg->engine.raw, "inputs", inputs)
                           : NULL;
    char *text = extra ? json_dumps(extra, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(extra);
    RETURN_ERROR_IF(!text, H5PREP_ERR_NOMEM, "out of memory");
    h5prep_status st = h5p_sink_close(r->sink, text);
    free(text);
    return st;
}

/* The message of a failed weights call, after the place of output spec's `weights` in the recipe
 * and its key (where the message does not name it: the weight file's opener). */
static h5prep_status weights_failed(const run *r, const h5p_output *spec, h5prep_status st)
{
    char msg[2048];
    h5p_error_save(msg, sizeof msg);
    const char *key = strstr(msg, spec->weights->opt) ? "" : spec->weights->opt;
    return h5p_fail(st, "%s:%d:%d: %s%s%s", r->recipe->path, spec->weights_line, spec->weights_col, key, *key ? ": " : "", msg);
}

/* Before any data is read: the weights of each output with normalize.weights, resolved against
 * the one input variable its elements copy (on that variable's axes, as `stats --weights` on its
 * dataset) and taken per element of a sample through the output's map. Refused, naming the recipe
 * and key: an output with elements of several variables or constants (whose axes the weights
 * would follow is ambiguous), a value per file, and weights that vary along the dataset's axis 0. */
static h5prep_status resolve_weights(run *r)
{
    const h5p_plan *p = &r->plan;
    r->wt = h5p_calloc(p->nouts, sizeof *r->wt);
    RETURN_ERROR_IF(!r->wt, H5PREP_ERR_NOMEM, "out of memory");
    for (size_t o = 0; o < p->nouts; o++) {
        const h5p_plan_output *po = &p->outs[o];
        const h5p_output *spec = po->spec;
        if (!spec->weights)
            continue;
        uint32_t v = (uint32_t)p->nvars;
        int consts = 0, several = 0;
        for (uint64_t j = 0; j < po->elems; j++) {
            if (po->vidx[j] == p->nvars)
                consts = 1;
            else if (v == p->nvars)
                v = po->vidx[j];
            else
                several |= po->vidx[j] != v;
        }
        if (consts || several || v == p->nvars) {
            h5p_fail(H5PREP_ERR_USAGE, "%s:%d:%d: %s: output '%s' has elements of %s, so the axes its weights broadcast along are not defined",
                     r->recipe->path, spec->weights_line, spec->weights_col, spec->weights->opt, spec->name,
                     several ? "more than one input variable" : "constants (a constant pad)");
            return h5p_hint(H5PREP_ERR_USAGE, "weights follow the axes of the one input variable an output copies (broadcast, slice, reshape, "
                            "edge pads and joins of that variable only); normalize each variable as an output of its own");
        }
        const h5p_plan_var *pv = &p->vars[v];
        if (pv->file_values) {
            h5p_fail(H5PREP_ERR_USAGE, "%s:%d:%d: %s: output '%s' is made of '%s', a value per file, which has no axes to weight",
                     r->recipe->path, spec->weights_line, spec->weights_col, spec->weights->opt, spec->name, pv->name);
            return h5p_hint(H5PREP_ERR_USAGE, "weights go with outputs made of a dataset variable");
        }
        h5p_wtable t;
        h5prep_status st = h5p_weights_resolve(spec->weights, &pv->var, &t);
        if (st != H5PREP_OK)
            return weights_failed(r, spec, st);
        if (t.rows > 1) {
            h5p_wtable_free(&t);
            h5p_fail(H5PREP_ERR_SHAPE, "%s:%d:%d: %s %s: the weights vary along axis 0 of %s:%s; a transform takes weights that are the same for every row",
                     r->recipe->path, spec->weights_line, spec->weights_col, spec->weights->opt, spec->weights->spec,
                     pv->var.parts[0].path, pv->var.name);
            return h5p_hint(H5PREP_ERR_SHAPE, "give the weights axis 0 of length 1, e.g. (1, lat, lon) or (lat, lon)");
        }
        out_weights *ow = &r->wt[o];
        ow->tab = h5p_malloc(po->elems * sizeof *ow->tab);
        ow->wsum = h5p_calloc(po->features, sizeof *ow->wsum);
        if (!ow->tab || !ow->wsum) {
            h5p_wtable_free(&t);
            return h5p_fail(H5PREP_ERR_NOMEM, "output '%s': out of memory for its weights", spec->name);
        }
        for (uint64_t j = 0; j < po->elems; j++) /* element sidx[j] of a sample: within one row of the dataset, or several (per_file) */
            ow->tab[j] = t.w[po->sidx[j] % t.row_elems];
        ow->axis = t.axis;
        h5p_wtable_free(&t);
        h5p_tree_init_weighted(&ow->tree, po->features);
    }
    return H5PREP_OK;
}

/* The CPU's weighted states of each weighted output, where the backend has no weighted ops. */
static h5prep_status weighted_states(run *r)
{
    const h5p_plan *p = &r->plan;
    int threads = h5p_thread_count(&r->cfg->engine), any = 0;
    for (size_t o = 0; o < p->nouts && !r->ops->wstats_slab; o++)
        if (r->wt[o].tab) {
            FORWARD_IF_ERROR(h5p_wstates_init(&r->wt[o].acc, p->outs[o].features, threads));
            any = 1;
        }
    if (any && threads > 1)
        RETURN_ERROR_IF(!(r->wpool = h5p_pool_create(threads)), H5PREP_ERR_NOMEM, "out of memory for %d threads", threads);
    return H5PREP_OK;
}

/* Everything before the output directory: the factors known before reading, one pass or two,
 * the slabs sized, the backend opened, the split made (no data is read). */
static h5prep_status prepare_passes(run *r)
{
    const h5p_plan *p = &r->plan;
    FORWARD_IF_ERROR(resolve_weights(r));
    FORWARD_IF_ERROR(load_given_factors(r));
    choose_passes(r);
    FORWARD_IF_ERROR(plan_pass1(r));
    if (r->passes == 2)
        FORWARD_IF_ERROR(check_pass2(r));
    /* the device's buffers: with one pass, a slab's gathered rows go back through the backend to
     * be cast, each output's block in the input buffer and its rows as written in the result's */
    size_t in = r->host_in, out = r->host_out, cast = r->passes == 1 ? cast_offset(p, p->nouts, r->slab_rows) : 0;
    size_t block_max = out > cast ? out : cast;
    FORWARD_IF_ERROR(open_backend(r, in > block_max ? in : block_max, block_max));
    FORWARD_IF_ERROR(weighted_states(r));
    FORWARD_IF_ERROR(make_split(r));
    /* one bar over both passes: input bytes read, then staged bytes (rows in no split are not) */
    uint64_t kept = p->n - r->split.dropped;
    r->rows_total = p->n + (r->passes == 2 ? kept * p->nouts : 0);
    r->bytes_total = p->n * h5p_plan_in_row_bytes(p) + (r->passes == 2 ? kept * h5p_plan_out_row_bytes(p) : 0);
    return H5PREP_OK;
}

static h5prep_status run_passes(run *r)
{
    const h5p_plan *p = &r->plan;
    FORWARD_IF_ERROR(prepare_passes(r));
    FORWARD_IF_ERROR(h5p_outdir_begin(&r->outdir, r->dir, r->cfg->overwrite));
    FORWARD_IF_ERROR(write_split(r));
    if (r->passes == 2)
        FORWARD_IF_ERROR(open_staging(r));

    h5prep_status st = H5PREP_OK;
    void **in = r->in, **out = r->out;
    r->order = h5p_calloc((size_t)r->nslots, sizeof *r->order);
    r->slot_dec = h5p_calloc((size_t)r->nslots, sizeof *r->slot_dec);
    RETURN_ERROR_IF(!r->order || !r->slot_dec, H5PREP_ERR_NOMEM, "out of memory");
    for (int k = 0; k < r->nslots && st == H5PREP_OK; k++) {
        in[k] = r->ops->alloc_host(r->be, r->host_in);
        out[k] = r->ops->alloc_host(r->be, r->host_out);
        r->order[k] = r->ops->alloc_host(r->be, r->slab_rows * sizeof **r->order); /* copied to the device */
        r->slot_dec[k] = h5p_calloc(p->nvars, sizeof **r->slot_dec);
        if (r->passes == 1)
            r->cast[k] = r->ops->alloc_host(r->be, cast_offset(p, p->nouts, r->slab_rows));
        if (!in[k] || !out[k] || !r->order[k] || !r->slot_dec[k] || (r->passes == 1 && !r->cast[k]))
            st = h5p_fail(H5PREP_ERR_NOMEM, "out of memory for %d ring slots of %zu + %zu bytes", r->nslots, r->host_in, r->host_out);
    }
    r->readers = h5p_calloc(p->nvars, sizeof *r->readers);
    r->reader_part = h5p_malloc(p->nvars * sizeof *r->reader_part);
    if (st == H5PREP_OK && (!r->readers || !r->reader_part))
        st = h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    for (size_t v = 0; st == H5PREP_OK && v < p->nvars; v++)
        r->reader_part[v] = SIZE_MAX;

    static const h5p_ring_fns pass1 = {read1, compute1, write1}, pass2 = {read2, compute2, write2};
    if (st == H5PREP_OK && r->passes == 1)
        st = open_sink(r);
    if (st == H5PREP_OK)
        st = h5p_ring_run(&pass1, r, r->njobs1, r->nslots, NULL);
    for (size_t v = 0; r->reader_part && v < p->nvars; v++)
        if (r->reader_part[v] != SIZE_MAX)
            h5p_reader_close(&r->readers[v]);

    for (size_t o = 0; o < p->nouts && st == H5PREP_OK; o++)
        st = run_factors(r, o);
    if (st == H5PREP_OK)
        st = write_stats(r);
    if (st == H5PREP_OK && r->passes == 2)
        st = plan_pass2(r);
    if (st == H5PREP_OK && r->passes == 2)
        st = open_sink(r);
    if (st == H5PREP_OK && r->passes == 2)
        st = h5p_ring_run(&pass2, r, r->njobs2, r->nslots, NULL);
    if (st == H5PREP_OK)
        st = close_sink(r);
    for (int k = 0; k < r->nslots; k++) {
        r->ops->wait(r->be, k); /* nothing may still copy into a buffer freed here (after an error) */
        if (in[k])
            r->ops->free_host(r->be, in[k]);
        if (out[k])
            r->ops->free_host(r->be, out[k]);
        if (r->order[k])
            r->ops->free_host(r->be, r->order[k]);
        if (r->cast[k])
            r->ops->free_host(r->be, r->cast[k]);
        r->order[k] = r->cast[k] = NULL;
    }
    return st;
}

static void run_free(run *r)
{
    const h5p_plan *p = &r->plan;
    h5p_files_release();
    if (r->be)
        r->ops->destroy(r->be);
    h5p_pool_destroy(r->decode);
    h5p_sink_free(r->sink);
    for (size_t o = 0; r->staged && o < p->nouts; o++)
        if (r->staged[o])
            munmap(r->staged[o], r->staged_len[o]);
    h5p_outdir_free(&r->outdir);
    for (int k = 0; r->slot_dec && k < r->nslots; k++)
        free(r->slot_dec[k]);
    for (size_t o = 0; o < p->nouts; o++) {
        if (r->moments)
            free(r->moments[o]);
        if (r->shift)
            free(r->shift[o]);
        if (r->div)
            free(r->div[o]);
        if (r->factors)
            json_decref(r->factors[o]);
        if (r->sketch)
            h5p_sketch_destroy(r->sketch[o]);
        if (r->file_sketch)
            h5p_sketch_destroy(r->file_sketch[o]);
        if (r->cdf)
            h5p_cdf_free(&r->cdf[o]);
        if (r->wt)
            free(r->wt[o].tab), free(r->wt[o].wsum), h5p_tree_free(&r->wt[o].tree), h5p_wstates_free(&r->wt[o].acc);
    }
    free(r->wt);
    h5p_pool_destroy(r->wpool);
    free(r->moments), free(r->shift), free(r->div), free(r->factors), free(r->sketch), free(r->file_sketch), free(r->cdf);
    free(r->order), free(r->slot_dec), free(r->readers), free(r->reader_part);
    free(r->jobs1), free(r->jobs2), free(r->staged), free(r->staged_len), free(r->dir);
    h5p_split_free(&r->split);
    h5p_plan_free(&r->plan);
    h5p_recipe_free(r->recipe);
}

static void fill_report(const run *r, h5prep_transform_report *rep)
{
    memset(rep, 0, sizeof *rep);
    snprintf(rep->out_dir, sizeof rep->out_dir, "%s", r->dir);
    snprintf(rep->backend, sizeof rep->backend, "%s", r->backend_name);
    snprintf(rep->notice, sizeof rep->notice, "%s", r->notice);
    rep->samples = r->plan.n;
    rep->nsplits = r->split.nsplits;
    for (int k = 0; k < r->split.nsplits; k++) {
        rep->split_rows[k] = r->split.count[k];
        snprintf(rep->split_names[k], sizeof rep->split_names[k], "%s", r->plan.split.names[k]);
    }
    rep->passes = r->passes;
    snprintf(rep->staged_why, sizeof rep->staged_why, "%s", r->staged_why);
    rep->staged_in_memory = r->staged_in_memory;
    rep->bytes_read = r->bytes_read;
    rep->bytes_written = r->bytes_written;
    rep->seconds = h5p_now() - r->t0;
}

/* The recipe read, the output directory named, the plan built and checked against --mem. */
static h5prep_status prepare(run *r, const char *recipe_path, const h5prep_transform_config *cfg)
{
    r->cfg = cfg;
    r->t0 = h5p_now();
    r->nslots = (r->cfg->engine.slots > 0 ? r->cfg->engine.slots : 2) + 1; /* one more: read, compute, write */
    FORWARD_IF_ERROR(h5p_recipe_load(recipe_path, &r->recipe));
    const char *dir = r->cfg->out_dir ? r->cfg->out_dir : r->recipe->write.dir;
    if (!dir) {
        h5p_fail(H5PREP_ERR_USAGE, "%s: no output directory: the recipe has no write.dir", recipe_path);
        return h5p_hint(H5PREP_ERR_USAGE, "give one with --out DIR");
    }
    RETURN_ERROR_IF(!(r->dir = h5p_strdup(dir)), H5PREP_ERR_NOMEM, "out of memory");
    for (size_t len = strlen(r->dir); len > 1 && r->dir[len - 1] == '/'; len--) /* "out/" is "out" */
        r->dir[len - 1] = 0;
    FORWARD_IF_ERROR(h5p_plan_build(r->recipe, r->cfg->inputs, r->cfg->ninputs, r->cfg->engine.raw, &r->plan));
    uint64_t elems = 0;
    for (size_t o = 0; o < r->plan.nouts; o++)
        elems += r->plan.outs[o].elems;
    FORWARD_IF_ERROR(h5p_plan_check_maps(recipe_path, elems, r->cfg->engine.mem_bytes));
    int threads = h5p_thread_count(&r->cfg->engine);
    r->decode = threads > 1 ? h5p_pool_create(threads) : NULL;
    return H5PREP_OK;
}

h5prep_status h5prep_transform(const char *recipe_path, const h5prep_transform_config *cfg, h5prep_transform_report *rep)
{
    h5p_clear_error();
    h5p_hdf5_init();
    h5prep_transform_config defaults = h5prep_transform_config_default();
    run r;
    memset(&r, 0, sizeof r);
    h5prep_status st = prepare(&r, recipe_path, cfg ? cfg : &defaults);
    if (st == H5PREP_OK)
        st = run_passes(&r);
    if (st == H5PREP_OK)
        st = h5p_outdir_publish(&r.outdir);
    if (st == H5PREP_OK && rep)
        fill_report(&r, rep);
    run_free(&r);
    return st;
}

/* ---- --dry-run ---- */

/* A byte count for people, onto f. */
static void print_bytes(FILE *f, double b)
{
    char text[32];
    h5p_format_bytes(text, sizeof text, b);
    fputs(text, f);
}

static h5prep_status plan_text(run *r, char **out)
{
    const h5p_plan *p = &r->plan;
    const h5p_write_spec *w = &r->recipe->write;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    RETURN_ERROR_IF(!f, H5PREP_ERR_NOMEM, "out of memory");
    size_t files = 0;
    double file_bytes = 0;
    for (size_t v = 0; v < p->nvars; v++)
        for (size_t k = 0; k < p->vars[v].var.nparts; k++) {
            const h5p_part *pt = &p->vars[v].var.parts[k];
            int seen = 0;
            for (size_t u = 0; u <= v && !seen; u++)
                for (size_t j = 0; j < (u == v ? k : p->vars[u].var.nparts) && !seen; j++)
                    seen = strcmp(p->vars[u].var.parts[j].path, pt->path) == 0;
            if (!seen)
                files++, file_bytes += (double)pt->size;
        }
    fprintf(f, "%s: %" PRIu64 " samples from %zu variable(s) in %zu file(s), %s backend\n", r->recipe->path, p->n,
            p->nvars, files, r->backend_name);
    fprintf(f, "  %-16s %-24s %-28s %s\n", "input", "dataset", "shape", "dtype");
    for (size_t v = 0; v < p->nvars; v++) {
        const h5p_plan_var *pv = &p->vars[v];
        char shape[256];
        h5p_format_shape(shape, sizeof shape, pv->var.rank, pv->var.dims);
        fprintf(f, "  %-16s %-24s %-28s %s%s%s\n", pv->name, pv->var.name, shape, h5p_dtype_name(pv->dtype),
                pv->per_file ? ", one sample per file" : "", pv->var.nparts > 1 ? " (several files)" : "");
    }
    uint64_t write_row = 0;
    fprintf(f, "  %-16s %-28s %-9s %s\n", "output", "shape", "dtype", "normalization");
    for (size_t o = 0; o < p->nouts; o++) {
        const h5p_plan_output *po = &p->outs[o];
        fprintf(f, "  %-16s ", po->spec->name);
        char shape[256];
        uint64_t dims[H5PREP_MAX_RANK + 1] = {p->n};
        memcpy(dims + 1, po->shape, (size_t)po->rank * sizeof *po->shape);
        h5p_format_shape(shape, sizeof shape, po->rank + 1, dims);
        fprintf(f, "%-28s %-9s %s", shape, h5p_out_dtype_name(po->spec->dtype),
                h5p_norm_name(po->spec->norm));
        if (po->spec->norm != H5P_NORM_NONE)
            fprintf(f, ", %" PRIu64 " feature(s), factors of %s", po->features,
                    po->spec->stats_path ? po->spec->stats_path
                    : r->stats_split < 0 ? "this run's rows"
                                         : r->recipe->split.names[r->stats_split]);
        if (po->spec->norm != H5P_NORM_NONE && !po->spec->stats_path && r->stats_split >= 0)
            fputs(" (this run's split)", f);
        if (po->spec->weights)
            fprintf(f, ", statistics weighted by %s", po->spec->weights->spec);
        fputc('\n', f);
        write_row += cast_row_bytes(p, o);
    }
    fprintf(f, "  split");
    for (int k = 0; k < r->split.nsplits; k++)
        fprintf(f, "%s %s %" PRIu64, k ? "," : "", r->recipe->split.names[k], r->split.count[k]);
    if (r->split.dropped)
        fprintf(f, " (%" PRIu64 " rows in no split: read, not written)", r->split.dropped);
    uint64_t kept = p->n - r->split.dropped;
    fputs("\n  read:  ", f);
    print_bytes(f, (double)p->n * (double)h5p_plan_in_row_bytes(p));
    fputs(" of input values, once (the files hold ", f);
    print_bytes(f, file_bytes);
    fputs(")\n  write: ", f);
    int copies = (w->hdf5 ? 1 : 0) + (w->npy ? 1 : 0);
    print_bytes(f, (double)kept * (double)write_row * copies);
    fprintf(f, " (%s%s%s%s)\n", w->hdf5 ? "HDF5" : "", copies == 2 ? " and " : "", w->npy ? ".npy" : "",
            w->hdf5 && w->gzip ? ", before compression" : "");
    size_t staged = kept * h5p_plan_out_row_bytes(p), budget = staging_budget(r);
    if (r->passes == 1)
        fputs("  passes: 1 (every output's factors are known before reading: read, normalize, cast and write at once)\n", f);
    else {
        fprintf(f, "  passes: 2 (%s: rows are staged, then normalized, cast and written)\n  staging: ", r->staged_why);
        print_bytes(f, (double)staged);
        if (staged <= budget)
            fputs(" in memory (within ", f);
        else
            fprintf(f, " in a file in the temporary directory beside %s (more than ", r->dir);
        print_bytes(f, (double)budget);
        fputs(" of --stage-mem)\n", f);
    }
    size_t slot = r->host_in + r->host_out + r->slab_rows * (sizeof(uint32_t) + (r->passes == 1 ? cast_offset(p, p->nouts, 1) : 0));
    fprintf(f, "  ring: %d slots of %" PRIu64 " samples, ", r->nslots, r->slab_rows);
    print_bytes(f, (double)slot * r->nslots);
    fputs(" of host memory (--mem ", f);
    print_bytes(f, (double)r->cfg->engine.mem_bytes);
    fputs(")\n", f);
    fprintf(f, "  output: %s (not created: dry run)\n", r->dir);
    if (fclose(f) != 0) {
        free(text);
        return h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    }
    *out = text;
    return H5PREP_OK;
}

h5prep_status h5prep_transform_plan(const char *recipe_path, const h5prep_transform_config *cfg, char **text)
{
    h5p_clear_error();
    h5p_hdf5_init();
    *text = NULL;
    h5prep_transform_config defaults = h5prep_transform_config_default();
    run r;
    memset(&r, 0, sizeof r);
    h5prep_status st = prepare(&r, recipe_path, cfg ? cfg : &defaults);
    if (st == H5PREP_OK)
        st = prepare_passes(&r);
    if (st == H5PREP_OK)
        st = plan_text(&r, text);
    run_free(&r);
    return st;
}
