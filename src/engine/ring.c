/* ring.c: the one ring (engine/ring.h): reader thread -> compute (the caller) -> optional writer
 * thread over nslots slots, with one way errors cross threads and one interrupt path; and the
 * one slab sizing rule, and the block rule made from it. */
#include "engine/ring.h"

#include "common/internal.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

double h5p_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t h5p_slab_rows(const h5p_slab_rule *r)
{
    uint64_t rows = H5P_SLAB_TARGET / r->row_bytes, budget = r->slot_bytes / r->slot_row_bytes;
    rows = rows < budget ? rows : budget;
    if (r->filtered && r->chunk_rows > 0 && r->decoders > 0) {
        /* 4 chunks per decoding thread, so that the decoders end together */
        uint64_t want = CEIL_DIV(4 * (uint64_t)r->decoders, r->row_chunks) * r->chunk_rows;
        rows = want > rows && want <= budget ? want : rows;
    }
    if (r->chunk_rows > 0) {
        if (rows >= r->chunk_rows)
            rows = rows / r->chunk_rows * r->chunk_rows;
        else if (r->chunk_rows <= budget)
            rows = r->chunk_rows;
    }
    if (rows == 0 && budget > 0)
        rows = 1;
    return rows < r->max_rows ? rows : r->max_rows;
}

uint64_t h5p_block_rows(const h5p_slab_rule *r)
{
    h5p_slab_rule free_rule = *r;
    free_rule.slot_bytes = SIZE_MAX;
    free_rule.decoders = 0;
    return h5p_slab_rows(&free_rule);
}

h5prep_status h5p_check_chunk_budget(const h5p_var *v, const h5p_part *p, size_t slot_bytes, int nslots)
{
    /* chunks within HDF5's own chunk cache (1 MiB a dataset) are decoded there */
    if (!p->filtered || p->chunk_bytes <= slot_bytes || p->chunk_bytes <= H5P_CHUNK_CACHE)
        return H5PREP_OK;
    h5p_fail(H5PREP_ERR_NOMEM, "%s:%s: a compressed chunk holds %.1f MiB, more than a ring slot (%.1f MiB of --mem for %d slots); reading it would exceed --mem",
             p->path, v->name, (double)p->chunk_bytes / 1048576.0, (double)slot_bytes / 1048576.0, nslots);
    return h5p_hint(H5PREP_ERR_NOMEM, "give --mem %lluM or more (or rewrite the file with smaller chunks)",
                    (unsigned long long)CEIL_DIV(p->chunk_bytes * (uint64_t)nslots, 1048576));
}

/* Job j runs in slot j % nslots: read(j) fills it, compute(j) works on it, write(j) drains it. */
struct h5p_ring {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const h5p_ring_fns *fn;
    void *ctx;
    uint64_t njobs;
    int nslots;
    uint64_t read_done, computed, written; /* jobs completed by each stage */
    int stop;
    h5prep_status st;
    char msg[2048];
};

static void ring_fail(h5p_ring *g, h5prep_status st)
{
    pthread_mutex_lock(&g->mu);
    if (!g->stop) { /* the first failure is the one reported */
        g->stop = 1;
        g->st = st;
        h5p_error_save(g->msg, sizeof g->msg);
    }
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Waits until *counter > need (or a stop); returns 0 on a stop. */
static int ring_wait(h5p_ring *g, const uint64_t *counter, uint64_t need)
{
    pthread_mutex_lock(&g->mu);
    while (!g->stop && *counter <= need)
        pthread_cond_wait(&g->cv, &g->mu);
    int ok = !g->stop;
    pthread_mutex_unlock(&g->mu);
    return ok;
}

/* Advances *counter, and `written` with it when there is no writer. */
static void ring_advance(h5p_ring *g, uint64_t *counter)
{
    pthread_mutex_lock(&g->mu);
    (*counter)++;
    if (counter == &g->computed && !g->fn->write)
        g->written++;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

int h5p_ring_drain(h5p_ring *g, uint64_t job) { return job == 0 || ring_wait(g, &g->written, job - 1); }

static void *ring_reader(void *arg)
{
    h5p_ring *g = arg;
    h5p_hdf5_init();
    for (uint64_t j = 0; j < g->njobs; j++) {
        if (j >= (uint64_t)g->nslots && !ring_wait(g, &g->written, j - (uint64_t)g->nslots))
            break;
        h5prep_status st = g->fn->read(g->ctx, g, j, (int)(j % (uint64_t)g->nslots));
        if (st != H5PREP_OK) {
            ring_fail(g, st);
            break;
        }
        ring_advance(g, &g->read_done);
    }
    return NULL;
}

static void *ring_writer(void *arg)
{
    h5p_ring *g = arg;
    h5p_hdf5_init();
    for (uint64_t j = 0; j < g->njobs; j++) {
        if (!ring_wait(g, &g->computed, j))
            break;
        h5prep_status st = g->fn->write(g->ctx, j, (int)(j % (uint64_t)g->nslots));
        if (st != H5PREP_OK) {
            ring_fail(g, st);
            break;
        }
        ring_advance(g, &g->written);
    }
    return NULL;
}

h5prep_status h5p_ring_run(const h5p_ring_fns *fn, void *ctx, uint64_t njobs, int nslots, const char *what)
{
    h5p_ring g;
    memset(&g, 0, sizeof g);
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    g.fn = fn, g.ctx = ctx, g.njobs = njobs, g.nslots = nslots;
    pthread_t rt, wt;
    int have_r = pthread_create(&rt, NULL, ring_reader, &g) == 0;
    int have_w = have_r && fn->write && pthread_create(&wt, NULL, ring_writer, &g) == 0;
    if (!have_r || (fn->write && !have_w)) {
        ring_fail(&g, h5p_fail(H5PREP_ERR_INTERNAL, "cannot start the reader and writer threads"));
    } else {
        for (uint64_t j = 0; j < njobs; j++) {
            if (!ring_wait(&g, &g.read_done, j))
                break;
            if (h5p_interrupted()) {
                ring_fail(&g, h5p_fail(H5PREP_ERR_INTERRUPTED, "%s%sinterrupted: the run stopped before its outputs were complete and wrote nothing",
                                      what ? what : "", what ? ": " : ""));
                break;
            }
            h5prep_status st = fn->compute(ctx, j, (int)(j % (uint64_t)nslots));
            if (st != H5PREP_OK) {
                ring_fail(&g, st);
                break;
            }
            ring_advance(&g, &g.computed);
        }
    }
    if (have_r)
        pthread_join(rt, NULL);
    if (have_w)
        pthread_join(wt, NULL);
    h5prep_status st = g.stop ? g.st : H5PREP_OK;
    if (st != H5PREP_OK)
        h5p_error_restore(g.msg);
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);
    return st;
}
