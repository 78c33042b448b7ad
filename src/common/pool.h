/* pool.h: a fork-join pool of compute threads; the caller takes part as thread 0.
 * The CPU backend runs its kernels on it, and the reader its chunk decoding. */
#ifndef H5PREP_POOL_H
#define H5PREP_POOL_H

typedef struct h5p_pool h5p_pool;
typedef void (*h5p_pool_fn)(void *arg, int tid, int nthreads);

h5p_pool *h5p_pool_create(int nthreads); /* NULL when threads cannot be started */
void h5p_pool_destroy(h5p_pool *p);      /* accepts NULL */
int h5p_pool_size(const h5p_pool *p);
/* Runs fn(arg, tid, n) for tid = 0..n-1 and returns when all have returned. */
void h5p_pool_run(h5p_pool *p, h5p_pool_fn fn, void *arg);

#endif
