/* pool.c: fork-join thread pool (one generation counter, one mutex, two condition variables).
 * Workers sleep between jobs; h5p_pool_run wakes them, works as thread 0 and waits for the rest. */
#include "common/pool.h"

#include <pthread.h>
#include <stdlib.h>

struct h5p_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    unsigned long generation;
    int pending, quit;
    h5p_pool_fn fn;
    void *arg;
};

typedef struct worker_arg {
    h5p_pool *p;
    int tid;
} worker_arg;

static void *worker(void *a)
{
    worker_arg *w = a;
    h5p_pool *p = w->p;
    int tid = w->tid;
    free(w);
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->quit)
            break;
        seen = p->generation;
        h5p_pool_fn fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);
        fn(arg, tid, p->n);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

h5p_pool *h5p_pool_create(int nthreads)
{
    h5p_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = nthreads < 1 ? 1 : nthreads;
    p->threads = calloc((size_t)p->n, sizeof *p->threads);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (!p->threads) {
        h5p_pool_destroy(p);
        return NULL;
    }
    for (int t = 1; t < p->n; t++) {
        worker_arg *w = malloc(sizeof *w);
        if (!w || (w->p = p, w->tid = t, pthread_create(&p->threads[t], NULL, worker, w) != 0)) {
            free(w);
            p->n = t; /* threads 1..t-1 run; destroy joins exactly those */
            h5p_pool_destroy(p);
            return NULL;
        }
    }
    return p;
}

void h5p_pool_destroy(h5p_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int t = 1; t < p->n && p->threads; t++)
        pthread_join(p->threads[t], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

int h5p_pool_size(const h5p_pool *p) { return p->n; }

void h5p_pool_run(h5p_pool *p, h5p_pool_fn fn, void *arg)
{
    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->pending = p->n - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
