/* pipeline.c: the double (n-)buffered streaming pass. The reader thread fills slot k only after
 * the backend says slot k's work is done (slot_wait); compute waits only for the slot it needs. */
#include "engine/ring.h"

#include "common/internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { SLAB_TARGET = 8u << 20 }; /* bytes per slab when the budget allows: of 4, 8, 16, 32 MiB the fastest */

double h5p_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t h5p_slab_rows(const h5p_var *v, const h5p_part *p, size_t slot_bytes, int decoders)
{
    size_t rb = h5p_part_row_bytes(v, p);
    size_t target = slot_bytes < SLAB_TARGET ? slot_bytes : SLAB_TARGET;
    uint64_t rows = target / rb;
    if (p->filtered && p->chunk_rows > 0 && decoders > 0) {
        /* 4 chunks per decoding thread, so that the decoders end together */
        uint64_t want = CEIL_DIV(4 * (uint64_t)decoders, p->row_chunks) * p->chunk_rows;
        rows = want > rows && want * rb <= slot_bytes ? want : rows;
    }
    if (p->chunk_rows > 0) {
        if (rows >= p->chunk_rows)
            rows = rows / p->chunk_rows * p->chunk_rows;
        else if (p->chunk_rows * rb <= slot_bytes)
            rows = p->chunk_rows;
    }
    if (rows == 0 && rb <= slot_bytes)
        rows = 1;
    return rows < p->rows ? rows : p->rows;
}

typedef struct slot {
    void *buf;          /* staging buffer */
    const void *data;   /* what the slab reads: buf, or rows of a mapped file */
    int full;
    const h5p_part *part;
    uint64_t row, nrows; /* local rows of part */
} slot;

typedef struct ring {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    slot *slots;
    int nslots;
    int stop, reader_done;
    h5prep_status rstatus;
    char rmsg[2048];
    h5p_var *v;
    const h5p_backend_ops *ops;
    h5p_backend *be;
    h5p_pool *decode;
    size_t slot_bytes;
} ring;

static void reader_fail(ring *g, h5prep_status st)
{
    g->rstatus = st;
    h5p_error_save(g->rmsg, sizeof g->rmsg);
}

static void *reader_main(void *arg)
{
    ring *g = arg;
    uint64_t seq = 0;
    int stop = 0;
    for (size_t i = 0; i < g->v->nparts && !stop; i++) {
        const h5p_part *p = &g->v->parts[i];
        h5p_reader rd;
        h5prep_status st = h5p_reader_open(&rd, g->v, p, g->ops->zero_copy);
        if (st != H5PREP_OK) {
            reader_fail(g, st);
            break;
        }
        if (i == 0)
            snprintf(g->v->how, sizeof g->v->how, "%s", rd.how);
        uint64_t per = h5p_slab_rows(g->v, p, g->slot_bytes, g->decode ? h5p_pool_size(g->decode) : 0);
        for (uint64_t row = 0; row < p->rows; row += per, seq++) {
            slot *s = &g->slots[seq % (uint64_t)g->nslots];
            pthread_mutex_lock(&g->mu);
            while (s->full && !g->stop)
                pthread_cond_wait(&g->cv, &g->mu);
            stop = g->stop;
            pthread_mutex_unlock(&g->mu);
            if (stop)
                break;
            uint64_t n = p->rows - row < per ? p->rows - row : per;
            st = g->ops->slot_wait(g->be, (int)(seq % (uint64_t)g->nslots));
            if (st == H5PREP_OK && rd.map)
                s->data = h5p_reader_view(&rd, row, n);
            else if (st == H5PREP_OK && (st = h5p_reader_read(&rd, g->decode, row, n, s->buf)) == H5PREP_OK)
                s->data = s->buf;
            if (st != H5PREP_OK) {
                reader_fail(g, st);
                stop = 1;
                break;
            }
            pthread_mutex_lock(&g->mu);
            s->part = p;
            s->row = row;
            s->nrows = n;
            s->full = 1;
            pthread_cond_broadcast(&g->cv);
            pthread_mutex_unlock(&g->mu);
        }
        if (rd.map) { /* slabs may still point into the mapping: let compute drain the ring */
            pthread_mutex_lock(&g->mu);
            for (int k = 0; k < g->nslots; k++)
                while (g->slots[k].full && !g->stop)
                    pthread_cond_wait(&g->cv, &g->mu);
            pthread_mutex_unlock(&g->mu);
        }
        h5p_reader_close(&rd);
    }
    pthread_mutex_lock(&g->mu);
    g->reader_done = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

static uint64_t prod(const uint64_t *d, int a, int b)
{
    uint64_t n = 1;
    for (int i = a; i < b; i++)
        n *= d[i];
    return n;
}

/* The [outer][features][inner] view of rows [row, row+n) of part p. */
static h5p_slab slab_view(const h5p_var *v, const slot *s)
{
    h5p_slab sl = {.data = s->data, .dtype = s->part->dtype, .dec = &s->part->dec};
    uint64_t n = s->nrows;
    int kf = v->keep_first, kc = v->keep_count, r = v->rank;
    if (kc == 0) {
        sl.outer = n;
        sl.features = 1;
        sl.inner = prod(v->dims, 1, r);
    } else if (kf == 0) {
        uint64_t per_row = prod(v->dims, 1, kc);
        sl.outer = 1;
        sl.features = n * per_row;
        sl.inner = prod(v->dims, kc, r);
        sl.feature_base = (s->part->row0 + s->row) * per_row;
    } else {
        sl.outer = n * prod(v->dims, 1, kf);
        sl.features = prod(v->dims, kf, kf + kc);
        sl.inner = prod(v->dims, kf + kc, r);
    }
    return sl;
}

static h5prep_status consume(ring *g, const h5p_pipeline_opts *o)
{
    size_t rb = (size_t)h5p_var_row_elems(g->v);
    for (uint64_t seq = 0;; seq++) {
        int k = (int)(seq % (uint64_t)g->nslots);
        slot *s = &g->slots[k];
        pthread_mutex_lock(&g->mu);
        while (!s->full && !g->reader_done)
            pthread_cond_wait(&g->cv, &g->mu);
        int have = s->full;
        pthread_mutex_unlock(&g->mu);
        if (!have)
            return H5PREP_OK;
        RETURN_ERROR_IF(h5p_interrupted(), H5PREP_ERR_INTERRUPTED, "%s: interrupted", g->v->name);
        h5p_slab sl = slab_view(g->v, s);
        FORWARD_IF_ERROR(g->ops->stats_slab(g->be, k, &sl));
        uint64_t n = s->nrows;
        size_t esize = h5p_dtype_size(s->part->dtype);
        pthread_mutex_lock(&g->mu);
        s->full = 0;
        pthread_cond_broadcast(&g->cv);
        pthread_mutex_unlock(&g->mu);
        if (o->totals) {
            o->totals->rows_done += n;
            o->totals->bytes_done += n * rb * esize;
            o->totals->seconds = h5p_now() - o->t0;
            if (o->progress)
                o->progress(o->totals, o->progress_user);
        }
    }
}

h5prep_status h5p_pipeline_stats(h5p_var *v, const h5p_backend_ops *ops, h5p_backend *be,
                                 const h5p_pipeline_opts *o)
{
    int nslots = o->slots > 0 ? o->slots : 2;
    size_t slot_budget = o->mem_bytes / (size_t)nslots;
    size_t slot_bytes = 0;
    for (size_t i = 0; i < v->nparts; i++) {
        const h5p_part *p = &v->parts[i];
        uint64_t rows = h5p_slab_rows(v, p, slot_budget, o->decode ? h5p_pool_size(o->decode) : 0);
        if (rows == 0) {
            h5p_fail(H5PREP_ERR_NOMEM, "%s:%s: one row along axis 0 holds %zu bytes, more than a staging slot (%zu bytes)",
                     p->path, v->name, h5p_part_row_bytes(v, p), slot_budget);
            return h5p_hint(H5PREP_ERR_NOMEM, "raise --mem above %zu KiB (now %zu KiB for %d slots)",
                            CEIL_DIV(h5p_part_row_bytes(v, p) * (size_t)nslots, 1024), o->mem_bytes >> 10, nslots);
        }
        size_t need = (size_t)rows * h5p_part_row_bytes(v, p);
        slot_bytes = need > slot_bytes ? need : slot_bytes;
    }

    ring g;
    memset(&g, 0, sizeof g);
    g.nslots = nslots;
    g.v = v;
    g.ops = ops;
    g.be = be;
    g.decode = o->decode;
    g.slot_bytes = slot_budget;
    h5prep_status st = H5PREP_OK;
    uint64_t nf = h5p_var_features(v);
    g.slots = calloc((size_t)nslots, sizeof *g.slots);
    RETURN_ERROR_IF(!g.slots, H5PREP_ERR_NOMEM, "out of memory");
    for (int k = 0; k < nslots && st == H5PREP_OK; k++) {
        g.slots[k].buf = ops->alloc_host(be, slot_bytes);
        if (!g.slots[k].buf)
            st = h5p_fail(H5PREP_ERR_NOMEM, "%s: cannot allocate a %zu-byte staging buffer", v->name, slot_bytes);
    }
    if (st == H5PREP_OK)
        st = ops->begin_var(be, nf, slot_bytes);
    if (st == H5PREP_OK) {
        pthread_mutex_init(&g.mu, NULL);
        pthread_cond_init(&g.cv, NULL);
        pthread_t reader;
        if (pthread_create(&reader, NULL, reader_main, &g) != 0) {
            st = h5p_fail(H5PREP_ERR_INTERNAL, "%s: cannot start the reader thread", v->name);
        } else {
            st = consume(&g, o);
            pthread_mutex_lock(&g.mu);
            g.stop = 1;
            pthread_cond_broadcast(&g.cv);
            pthread_mutex_unlock(&g.mu);
            pthread_join(reader, NULL);
            if (st == H5PREP_OK && g.rstatus != H5PREP_OK) {
                st = g.rstatus;
                h5p_error_restore(g.rmsg);
            }
        }
        pthread_cond_destroy(&g.cv);
        pthread_mutex_destroy(&g.mu);
    }
    if (st == H5PREP_OK) {
        free(v->result);
        v->result = malloc(nf * sizeof *v->result);
        st = v->result ? ops->end_var(be, v->result)
                       : h5p_fail(H5PREP_ERR_NOMEM, "%s: no memory for %llu feature states", v->name,
                                  (unsigned long long)nf);
    }
    for (int k = 0; k < nslots; k++) {
        if (g.slots[k].buf) {
            ops->slot_wait(be, k);
            ops->free_host(be, g.slots[k].buf);
        }
    }
    free(g.slots);
    return st;
}
