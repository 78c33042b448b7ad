/* stats.c: the statistics driver and its public API: inputs (FILE:DATASET with globs, through the
 * input opener), the run of every variable through the one ring and the chosen backend, merging of
 * loaded states, and read access to results. */
#include "common/internal.h"
#include "backends/choose.h"
#include "engine/quantiles.h"
#include "backends/cpu/weighted_cpu.h"
#include "engine/ring.h"
#include "engine/tendency.h"
#include "input/variable.h"
#include "output/state.h"
#include "output/state_tree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Resolves the configured keep-axes against the rank of v. */
static h5prep_status resolve_axes(const h5prep_stats_config *c, h5p_var *v, const char *path)
{
    int kf = c->keep_first, kc = c->keep_count;
    if (kf == H5PREP_KEEP_DEFAULT && kc > 0) {
        kf = v->rank >= 2 ? v->rank - 1 : 0;
        kc = v->rank >= 2 ? 1 : 0;
    }
    if (kc == 0) {
        v->keep_first = 0;
        v->keep_count = 0;
        return H5PREP_OK;
    }
    int first = kf < 0 ? kf + v->rank : kf;
    if (first < 0 || first + kc > v->rank) {
        char req[128];
        size_t len = 0;
        for (int a = 0; a < kc && len < sizeof req; a++)
            len += (size_t)snprintf(req + len, sizeof req - len, "%s%d", a ? "," : "", kf + a);
        h5p_fail(H5PREP_ERR_AXES, "%s:%s: dataset has rank %d but --keep-axes %s was given (valid: 0..%d)",
                 path, v->name, v->rank, req, v->rank - 1);
        return h5p_hint(H5PREP_ERR_AXES, "kept axes are consecutive; 'none' gives one statistic for the whole dataset");
    }
    v->keep_first = first;
    v->keep_count = kc;
    return H5PREP_OK;
}

h5prep_status h5prep_stats_add(h5prep_stats *s, const char *arg)
{
    h5p_clear_error();
    const char *colon = h5p_dataset_colon(arg);
    if (!colon) {
        h5p_fail(H5PREP_ERR_USAGE, "'%s': expected FILE:DATASET, e.g. data/nc4uvt.nc:/T", arg);
        return h5p_hint(H5PREP_ERR_USAGE, "list the datasets of a file with 'h5prep info FILE'");
    }
    size_t flen = (size_t)(colon - arg);
    char *file = h5p_malloc(flen + 1), *name = h5p_dataset_path(colon + 1);
    h5prep_status st = file && name ? H5PREP_OK : h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    h5p_var *v = st == H5PREP_OK ? h5p_stats_find(s, name) : NULL;
    int created = v == NULL;
    if (st == H5PREP_OK) {
        memcpy(file, arg, flen);
        file[flen] = 0;
        if (created && !(v = h5p_stats_append(s, name)))
            st = h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    }
    if (st == H5PREP_OK)
        st = h5p_var_add_files(v, file, s->cfg.raw);
    if (st == H5PREP_OK && !created) /* one rule: statistics are per dataset path */
        h5p_warn("%s: the dataset %s was given before: this argument's files are joined to it along axis 0, "
                 "one set of statistics for both",
                 arg, name);
    if (st == H5PREP_OK && created)
        st = resolve_axes(&s->cfg, v, v->parts[0].path);
    if (st != H5PREP_OK && created && v) { /* leave s as it was */
        h5p_var_free(v);
        s->nvars--;
    }
    free(file);
    free(name);
    return st;
}

/* ---- one variable through the ring: no writer; slabs of whole blocks (or pieces of a block that
 * does not fit a slot), in slot buffers or viewed in place in a mapped file. Each block is reduced
 * to a state of its own and the block states are merged in the fixed tree (output/state_tree.h),
 * so that a result depends on the data alone. Where axis 0 is kept, blocks share no feature and
 * their states are left in place instead. ---- */

typedef struct stats_job {
    size_t part;
    uint64_t row, rows;             /* local rows of the part */
    uint64_t block;                 /* the block's index among the variable's blocks */
    uint64_t block_row, block_rows; /* the job's first row in its block; the block's rows */
    int lead;                       /* rows before a part's share that only its tendencies read */
} stats_job;

typedef struct stats_run {
    h5p_var *v;
    const h5p_backend_ops *ops;
    h5p_backend *be;
    h5p_pool *decode;
    stats_job *jobs;
    uint64_t njobs;
    int nslots;
    void *buf[H5P_RING_SLOTS_MAX];        /* slot staging buffers */
    const void *data[H5P_RING_SLOTS_MAX]; /* what each slot's slab reads: buf, or rows of a mapped file */
    h5p_reader rd;                        /* the reader thread's open part */
    size_t rd_part;                       /* SIZE_MAX when none is open */
    h5prep_progress *totals;
    const h5prep_stats_config *cfg;
    double t0;
    int disjoint;  /* axis 0 is kept: block states stay in place (no tree) */
    h5p_tree tree; /* the block states so far */
    int part_index, part_count; /* reduce only this share of the blocks (0 0: all) */
    uint64_t blocks, first, end; /* the variable's blocks; the share [first, end) */
    size_t tend_row_bytes;       /* slot memory a row costs the tendencies (0: none) */
    uint64_t lead_rows;          /* a part run's rows read before its share for the tendencies: the longest lag */
    h5p_tendency tend;
    const h5p_wtable *wt;        /* --weights: the variable's weights, reduced by wacc; else NULL */
    h5p_wstates wacc;            /* the weighted states of the block (of every block where disjoint) */
    h5p_pool *wpool;             /* the CPU weighted reduction's threads; NULL where the backend has its own */
} stats_run;

static h5prep_status stats_read(void *ctx, h5p_ring *g, uint64_t job, int slot)
{
    stats_run *r = ctx;
    const stats_job *jb = &r->jobs[job];
    if (r->rd_part != jb->part) {
        if (r->rd_part != SIZE_MAX) {
            if (r->rd.map && !h5p_ring_drain(g, job)) /* slabs before may still point into the mapping */
                return H5PREP_ERR_INTERRUPTED;        /* the ring stopped: its first failure is reported */
            h5p_reader_close(&r->rd);
            r->rd_part = SIZE_MAX;
        }
        FORWARD_IF_ERROR(h5p_reader_open(&r->rd, r->v, &r->v->parts[jb->part], r->ops->zero_copy));
        r->rd_part = jb->part;
        if (jb->part == 0)
            snprintf(r->v->how, sizeof r->v->how, "%s", r->rd.how);
    }
    FORWARD_IF_ERROR(r->ops->wait(r->be, slot));
    if (r->rd.map) {
        r->data[slot] = h5p_reader_view(&r->rd, jb->row, jb->rows);
        return H5PREP_OK;
    }
    FORWARD_IF_ERROR(h5p_reader_read(&r->rd, r->decode, jb->row, jb->rows, r->buf[slot]));
    r->data[slot] = r->buf[slot];
    return H5PREP_OK;
}

/* The [outer][features][inner] view of a job's rows. */
static h5p_slab slab_view(const h5p_var *v, const stats_job *jb, const void *data)
{
    const h5p_part *p = &v->parts[jb->part];
    h5p_slab sl = {.data = data, .dtype = p->dtype, .dec = &p->dec};
    uint64_t n = jb->rows;
    int kf = v->keep_first, kc = v->keep_count, r = v->rank;
    if (kc == 0) {
        sl.outer = n;
        sl.features = 1;
        sl.inner = h5p_prod(v->dims, 1, r);
    } else if (kf == 0) {
        uint64_t per_row = h5p_prod(v->dims, 1, kc);
        sl.outer = 1;
        sl.features = n * per_row;
        sl.inner = h5p_prod(v->dims, kc, r);
        sl.feature_base = (p->row0 + jb->row) * per_row;
    } else {
        sl.outer = n * h5p_prod(v->dims, 1, kf);
        sl.features = h5p_prod(v->dims, kf, kf + kc);
        sl.inner = h5p_prod(v->dims, kf + kc, r);
    }
    /* the slab's place in its block, in units (rows of features, or lines); where axis 0 is kept
     * with the last axis, every value is a feature of its own and no unit spans rows */
    uint64_t units = sl.inner == 1 ? sl.outer : sl.outer * sl.features;
    if (!(kc > 0 && kf == 0 && sl.inner == 1)) {
        sl.unit0 = units / n * jb->block_row;
        sl.units = units / n * jb->block_rows;
    }
    return sl;
}

/* A weighted job: its rows into the block's weighted states, by the backend's weighted reduction
 * or else the CPU's; at the block's end they are pushed onto the (weighted) tree and reset. */
static h5prep_status weighted_compute(stats_run *r, const stats_job *jb, const h5p_slab *sl, int slot)
{
    const h5p_wtable *t = r->wt;
    uint64_t row = r->v->parts[jb->part].row0 + jb->row;
    const double *w = t->rows > 1 ? t->w + row * t->row_elems : t->w;
    if (r->ops->wstats_slab) { /* k0: each feature meets outer / rows * inner values a row */
        h5p_wslab ws = {sl, (uint64_t)(w - t->w), t->rows > 1 ? t->row_elems : 0, t->row_elems,
                        r->disjoint ? 0 : jb->block_row * (sl->outer / jb->rows) * sl->inner};
        FORWARD_IF_ERROR(r->ops->wstats_slab(r->be, slot, &ws));
    } else {
        h5p_cpu_weighted_slab(&r->wacc, sl, w, t->rows > 1 ? t->row_elems : 0, t->row_elems, r->wpool);
    }
    if (r->disjoint || jb->block_row + jb->rows != jb->block_rows)
        return H5PREP_OK;
    size_t bytes = h5p_tree_state_bytes(&r->tree);
    h5p_moments *m = h5p_malloc(bytes);
    RETURN_ERROR_IF(!m, H5PREP_ERR_NOMEM, "%s: no memory for %llu feature states", r->v->name,
                    (unsigned long long)r->tree.nf);
    if (r->ops->wstats_end) {
        h5prep_status st = r->ops->wstats_end(r->be, m, (double *)(m + r->tree.nf));
        if (st != H5PREP_OK) {
            free(m);
            return st;
        }
    } else {
        h5p_wstates_finish(&r->wacc);
        memcpy(m, r->wacc.m, bytes);
        h5p_wstates_reset(&r->wacc);
    }
    return h5p_tree_push(&r->tree, 0, jb->block, m);
}

static h5prep_status stats_compute(void *ctx, uint64_t job, int slot)
{
    stats_run *r = ctx;
    const stats_job *jb = &r->jobs[job];
    h5p_slab sl = slab_view(r->v, jb, r->data[slot]);
    const h5p_part *p = &r->v->parts[jb->part];
    h5p_tendency_job tj = {r->data[slot], p, p->row0 + jb->row, jb->rows, jb->block, p->row0 + jb->row - jb->block_row,
                           jb->block_rows, jb->block_row + jb->rows == jb->block_rows, slot, jb->lead};
    if (jb->lead) /* the rows before the share: remembered for the pairs of its first rows, nothing else */
        return h5p_tendency_job_run(&r->tend, &sl, &tj);
    if (r->wt) /* values in data order: a block's state does not depend on its pieces */
        FORWARD_IF_ERROR(weighted_compute(r, jb, &sl, slot));
    else
        FORWARD_IF_ERROR(r->ops->stats_slab(r->be, slot, &sl));
    FORWARD_IF_ERROR(h5p_tendency_job_run(&r->tend, &sl, &tj));
    FORWARD_IF_ERROR(h5p_quantiles_slab(r->v, r->ops, r->be, slot, &sl));
    if (!r->wt && !r->disjoint && jb->block_row + jb->rows == jb->block_rows) { /* the block is complete */
        h5p_moments *m = h5p_malloc(r->tree.nf * sizeof *m);
        RETURN_ERROR_IF(!m, H5PREP_ERR_NOMEM, "%s: no memory for %llu feature states", r->v->name,
                        (unsigned long long)r->tree.nf);
        h5prep_status st = r->ops->stats_end(r->be, m);
        if (st != H5PREP_OK) {
            free(m);
            return st;
        }
        FORWARD_IF_ERROR(h5p_tree_push(&r->tree, 0, jb->block, m));
    }
    h5prep_progress *t = r->totals;
    t->rows_done += jb->rows;
    t->bytes_done += jb->rows * h5p_part_row_bytes(r->v, &r->v->parts[jb->part]);
    t->seconds = h5p_now() - r->t0;
    if (r->cfg->progress)
        r->cfg->progress(t, r->cfg->progress_user);
    return H5PREP_OK;
}

/* The jobs of v: each part in blocks (h5p_block_rows), each block in one slab or in pieces of whole
 * chunks that fit a slot; *slot_bytes: the largest slab. */
static h5prep_status plan_jobs(stats_run *r, size_t slot_budget, size_t *slot_bytes)
{
    const h5p_var *v = r->v;
    *slot_bytes = 0;
    uint64_t n = 0;
    uint64_t *per = h5p_malloc(2 * v->nparts * sizeof *per), *block = per + v->nparts; /* piece and block rows */
    RETURN_ERROR_IF(!per, H5PREP_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < v->nparts; i++) {
        const h5p_part *p = &v->parts[i];
        size_t rb = h5p_part_row_bytes(v, p);
        h5prep_status st = h5p_check_chunk_budget(v, p, slot_budget, r->nslots);
        if (st != H5PREP_OK) {
            free(per);
            return st;
        }
        h5p_slab_rule rule = {rb, rb + r->tend_row_bytes, slot_budget, p->chunk_rows, p->row_chunks, p->filtered,
                              r->decode ? h5p_pool_size(r->decode) : 0, p->rows};
        block[i] = h5p_block_rows(&rule);
        rule.max_rows = block[i];
        per[i] = h5p_slab_rows(&rule);
        if (per[i] == 0) {
            free(per);
            h5p_fail(H5PREP_ERR_NOMEM, "%s:%s: one row along axis 0 holds %zu bytes, more than a staging slot (%zu bytes)",
                     p->path, v->name, rb, slot_budget);
            return h5p_hint(H5PREP_ERR_NOMEM, "raise --mem above %zu KiB (now %zu KiB for %d slots)",
                            CEIL_DIV(rb * (size_t)r->nslots, 1024), r->cfg->mem_bytes >> 10, r->nslots);
        }
        size_t need = (size_t)per[i] * rb;
        *slot_bytes = need > *slot_bytes ? need : *slot_bytes;
        n += CEIL_DIV(p->rows, block[i]) * CEIL_DIV(block[i], per[i]);
        r->blocks += CEIL_DIV(p->rows, block[i]);
    }
    r->first = r->part_count ? r->blocks * (uint64_t)(r->part_index - 1) / (uint64_t)r->part_count : 0;
    r->end = r->part_count ? r->blocks * (uint64_t)r->part_index / (uint64_t)r->part_count : r->blocks;
    /* a part run's tendencies read the lead_rows before its share first: the pairs of its first
     * rows are then formed as in one run, block by block, and parts merge to the same bits */
    uint64_t share_row = 0, b = 0;
    for (size_t i = 0; i < v->nparts && b < r->first; i++)
        for (uint64_t row = 0; row < v->parts[i].rows && b < r->first; row += block[i], b++)
            share_row = v->parts[i].row0 + (v->parts[i].rows - row < block[i] ? v->parts[i].rows : row + block[i]);
    uint64_t lead0 = share_row > r->lead_rows ? share_row - r->lead_rows : 0;
    for (size_t i = 0; r->first > 0 && i < v->nparts; i++)
        n += CEIL_DIV(r->lead_rows < v->parts[i].rows ? r->lead_rows : v->parts[i].rows, per[i]) + 1;
    r->jobs = h5p_malloc(n * sizeof *r->jobs);
    if (!r->jobs) {
        free(per);
        return h5p_fail(H5PREP_ERR_NOMEM, "out of memory for %llu slabs", (unsigned long long)n);
    }
    for (size_t i = 0; r->first > 0 && i < v->nparts; i++) {
        const h5p_part *p = &v->parts[i];
        if (share_row <= p->row0 || lead0 >= p->row0 + p->rows)
            continue;
        uint64_t lo = lead0 > p->row0 ? lead0 - p->row0 : 0, hi = share_row - p->row0 < p->rows ? share_row - p->row0 : p->rows;
        for (uint64_t row = lo; row < hi; row += per[i])
            r->jobs[r->njobs++] = (stats_job){i, row, hi - row < per[i] ? hi - row : per[i], 0, 0, 0, 1};
    }
    b = 0;
    for (size_t i = 0; i < v->nparts; i++)
        for (uint64_t row = 0; row < v->parts[i].rows; row += block[i], b++) {
            uint64_t left = v->parts[i].rows - row, brows = left < block[i] ? left : block[i];
            for (uint64_t off = 0; off < brows && b >= r->first && b < r->end; off += per[i]) {
                uint64_t len = brows - off < per[i] ? brows - off : per[i];
                r->jobs[r->njobs++] = (stats_job){i, row + off, len, b, off, brows, 0};
            }
        }
    free(per);
    return H5PREP_OK;
}

/* A weighted run's states into v->result and v->wsum: the fold of the tree, or the states in
 * place where axis 0 is kept. */
static h5prep_status weighted_result(h5p_var *v, stats_run *r, uint64_t nf)
{
    free(v->result);
    free(v->wsum);
    v->result = h5p_malloc(nf * sizeof *v->result);
    v->wsum = h5p_malloc(nf * sizeof *v->wsum);
    RETURN_ERROR_IF(!v->result || !v->wsum, H5PREP_ERR_NOMEM, "%s: no memory for %llu feature states", v->name,
                    (unsigned long long)nf);
    h5p_wstates out = r->wacc;
    if (r->disjoint && r->ops->wstats_end) /* the states in place are the backend's */
        FORWARD_IF_ERROR(r->ops->wstats_end(r->be, r->wacc.m, r->wacc.w));
    h5p_wstates_finish(&r->wacc);
    if (!r->disjoint)
        FORWARD_IF_ERROR(h5p_tree_fold(&r->tree, r->wacc.m)); /* the block states are spent: wacc holds the fold */
    memcpy(v->result, out.m, nf * sizeof *v->result);
    memcpy(v->wsum, out.w, nf * sizeof *v->wsum);
    v->weights_axis = r->wt->axis;
    return H5PREP_OK;
}

/* Streams v (all its parts) through the backend and stores the states in v->result. */
static h5prep_status run_var(h5prep_stats *s, h5p_var *v, const h5p_backend_ops *ops, h5p_backend *be, h5p_pool *decode,
                             h5prep_progress *totals, double t0, const h5p_wtable *wt, h5p_pool *wpool)
{
    stats_run r;
    memset(&r, 0, sizeof r);
    r.v = v, r.ops = ops, r.be = be, r.decode = decode, r.totals = totals, r.cfg = &s->cfg, r.t0 = t0, r.wt = wt, r.wpool = wpool;
    r.nslots = s->cfg.slots > 0 ? s->cfg.slots : 2;
    r.rd_part = SIZE_MAX;
    r.disjoint = v->keep_count > 0 && v->keep_first == 0;
    r.part_index = s->part_index, r.part_count = s->part_count;
    uint64_t nf = h5p_var_features(v), max_rows = 0;
    if (wt)
        h5p_tree_init_weighted(&r.tree, nf);
    else
        h5p_tree_init(&r.tree, nf);
    size_t slot_bytes = 0, keep = h5p_tendency_keep_bytes(v, s->lags, s->nlags);
    r.tend_row_bytes = h5p_tendency_row_bytes(v, s->nlags);
    r.lead_rows = s->part_count && s->nlags ? (uint64_t)s->lags[s->nlags - 1] : 0;
    h5prep_status st = H5PREP_OK;
    if (keep > s->cfg.mem_bytes / 2) {
        h5p_fail(H5PREP_ERR_NOMEM, "%s: --tendency %d keeps %d decoded rows (%.1f MiB), more than half of --mem (%.1f MiB)",
                 v->name, s->lags[s->nlags - 1], s->lags[s->nlags - 1], (double)keep / 1048576.0,
                 (double)s->cfg.mem_bytes / 1048576.0);
        st = h5p_hint(H5PREP_ERR_NOMEM, "give --mem %lluM or more", (unsigned long long)CEIL_DIV(4 * (uint64_t)keep, 1048576));
    }
    if (st == H5PREP_OK)
        st = plan_jobs(&r, (s->cfg.mem_bytes - keep) / (size_t)r.nslots, &slot_bytes);
    for (uint64_t j = 0; j < r.njobs; j++)
        max_rows = r.jobs[j].rows > max_rows ? r.jobs[j].rows : max_rows;
    if (st == H5PREP_OK)
        st = h5p_tendency_begin(&r.tend, v, s->lags, s->nlags, ops, &s->cfg, r.nslots, max_rows);
    for (int k = 0; k < r.nslots && st == H5PREP_OK; k++)
        if (!(r.buf[k] = ops->alloc_host(be, slot_bytes)))
            st = h5p_fail(H5PREP_ERR_NOMEM, "%s: cannot allocate a %zu-byte staging buffer", v->name, slot_bytes);
    if (st == H5PREP_OK)
        st = wt ? h5p_wstates_init(&r.wacc, nf, wpool ? h5p_pool_size(wpool) : 1) : ops->stats_begin(be, nf, slot_bytes);
    if (st == H5PREP_OK && wt && ops->wstats_begin) /* wacc then holds only the results */
        st = ops->wstats_begin(be, nf, wt->w, wt->rows * wt->row_elems);
    static const h5p_ring_fns fns = {stats_read, stats_compute, NULL};
    if (st == H5PREP_OK)
        st = h5p_ring_run(&fns, &r, r.njobs, r.nslots, v->name);
    if (r.rd_part != SIZE_MAX)
        h5p_reader_close(&r.rd);
    if (st == H5PREP_OK && wt) {
        st = weighted_result(v, &r, nf);
    } else if (st == H5PREP_OK) {
        free(v->result);
        v->result = h5p_malloc(nf * sizeof *v->result);
        if (!v->result)
            st = h5p_fail(H5PREP_ERR_NOMEM, "%s: no memory for %llu feature states", v->name, (unsigned long long)nf);
        else if (r.disjoint)
            st = ops->stats_end(be, v->result);
        else
            st = h5p_tree_fold(&r.tree, v->result);
    }
    if (st == H5PREP_OK && s->nlags) {
        free(v->tend);
        v->ntend = s->nlags;
        memcpy(v->tend_lag, s->lags, sizeof v->tend_lag);
        v->tend = h5p_malloc((size_t)s->nlags * nf * sizeof *v->tend);
        st = v->tend ? h5p_tendency_end(&r.tend, v->tend, v, r.end == r.blocks)
                     : h5p_fail(H5PREP_ERR_NOMEM, "%s: no memory for %llu tendency states", v->name,
                                (unsigned long long)(nf * (uint64_t)s->nlags));
    }
    if (st == H5PREP_OK && s->pnodes) { /* a part run keeps the nodes for its document */
        h5p_part_nodes *pn = &s->pnodes[v - s->vars];
        h5p_part_nodes_free(pn);
        *pn = (h5p_part_nodes){r.blocks, r.first, r.end, r.tree, {{0}}};
        memset(&r.tree, 0, sizeof r.tree);
        for (int k = 0; k < r.tend.nlags; k++) {
            pn->tend[k] = r.tend.tree[k];
            memset(&r.tend.tree[k], 0, sizeof r.tend.tree[k]);
        }
    }
    h5p_tendency_free(&r.tend);
    h5p_tree_free(&r.tree);
    h5p_wstates_free(&r.wacc);
    for (int k = 0; k < r.nslots; k++) {
        if (r.buf[k]) {
            ops->wait(be, k); /* nothing may still copy from a buffer freed here (after an error) */
            ops->free_host(be, r.buf[k]);
        }
    }
    free(r.jobs);
    return st;
}

static void free_tables(h5p_wtable *wt, size_t n)
{
    for (size_t i = 0; wt && i < n; i++)
        h5p_wtable_free(&wt[i]);
    free(wt);
}

/* --weights: every variable's weights, read and checked before any data is; *out NULL without. */
static h5prep_status resolve_weights(h5prep_stats *s, h5p_wtable **out)
{
    *out = NULL;
    if (!s->weights)
        return H5PREP_OK;
    h5p_wtable *wt = calloc(s->nvars, sizeof *wt);
    RETURN_ERROR_IF(!wt, H5PREP_ERR_NOMEM, "out of memory");
    h5prep_status st = H5PREP_OK;
    for (size_t i = 0; i < s->nvars && st == H5PREP_OK; i++)
        if (s->vars[i].nparts > 0)
            st = h5p_weights_resolve(s->weights, &s->vars[i], &wt[i]);
    if (st != H5PREP_OK) {
        free_tables(wt, s->nvars);
        return st;
    }
    *out = wt;
    return H5PREP_OK;
}

h5prep_status h5prep_stats_run(h5prep_stats *s)
{
    h5p_clear_error();
    RETURN_ERROR_IF(s->nvars == 0, H5PREP_ERR_USAGE, "no inputs: give at least one FILE:DATASET");
    for (size_t i = 0; s->part_count && i < s->nvars; i++)
        if (s->vars[i].keep_count > 0 && s->vars[i].keep_first == 0) {
            h5p_fail(H5PREP_ERR_USAGE, "%s: --part %d/%d: axis 0 is kept as a feature axis, so every row has statistics of its own and there is nothing to merge",
                     s->vars[i].name, s->part_index, s->part_count);
            return h5p_hint(H5PREP_ERR_USAGE, "run it whole, or keep other axes");
        }
    for (size_t i = 0; i < s->nvars; i++)
        if (s->vars[i].nparts > 0)
            FORWARD_IF_ERROR(h5p_tendency_check(&s->vars[i], s->lags, s->nlags));
    if (s->part_count && !s->pnodes) {
        s->pnodes = calloc(s->nvars, sizeof *s->pnodes);
        RETURN_ERROR_IF(!s->pnodes, H5PREP_ERR_NOMEM, "out of memory");
    }
    if (s->weights && (s->nlags || h5p_quantiles_wanted(&s->cfg))) {
        h5p_fail(H5PREP_ERR_USAGE, "--weights cannot be combined with --tendency, --quantiles or --histogram yet: their statistics would not be weighted");
        return h5p_hint(H5PREP_ERR_USAGE, "run the weighted statistics and the others in two runs");
    }
    h5p_wtable *wt = NULL;
    FORWARD_IF_ERROR(resolve_weights(s, &wt));
    h5prep_stats_config cfg = s->cfg;
    const h5p_backend_ops *ops = NULL;
    h5p_backend *be = NULL;
    int nslots = s->cfg.slots > 0 ? s->cfg.slots : 2;
    h5prep_status ost = h5p_quantiles_check(&cfg);
    if (ost == H5PREP_OK && h5p_quantiles_wanted(&cfg))
        ost = h5p_quantiles_begin(&cfg, s->vars, s->nvars);
    if (ost == H5PREP_OK)
        ost = h5p_backend_open(&cfg, nslots, &ops, &be, s->notice, sizeof s->notice);
    if (ost != H5PREP_OK) {
        free_tables(wt, s->nvars);
        return ost;
    }
    int nt = h5p_thread_count(&s->cfg);
    int cpu_weights = wt && !ops->wstats_slab; /* the backend has no weighted reduction of its own */
    h5p_pool *decode = h5p_pool_create(nt), *wpool = cpu_weights ? h5p_pool_create(nt) : NULL;
    if (!decode || (cpu_weights && !wpool)) {
        h5p_pool_destroy(decode);
        ops->destroy(be);
        free_tables(wt, s->nvars);
        return h5p_fail(H5PREP_ERR_NOMEM, "cannot start %d decoding threads", nt);
    }
    s->backend = ops->name;
    s->isa = ops->isa ? ops->isa(be) : NULL;
    h5p_stats_stamp(s);

    h5prep_progress totals;
    memset(&totals, 0, sizeof totals);
    for (size_t i = 0; i < s->nvars; i++) {
        const h5p_var *v = &s->vars[i];
        totals.rows_total += v->nparts ? v->dims[0] : 0;
        for (size_t p = 0; p < v->nparts; p++)
            totals.bytes_total += v->parts[p].rows * h5p_part_row_bytes(v, &v->parts[p]);
    }
    double t0 = h5p_now();
    h5prep_status st = H5PREP_OK;
    for (size_t i = 0; i < s->nvars && st == H5PREP_OK; i++)
        if (s->vars[i].nparts > 0)
            st = run_var(s, &s->vars[i], ops, be, decode, &totals, t0, wt ? &wt[i] : NULL, wpool);
    h5p_pool_destroy(wpool);
    h5p_pool_destroy(decode);
    ops->destroy(be);
    free_tables(wt, s->nvars);
    h5p_files_release();
    return st;
}
