/* backend.h: the table of operations a compute backend provides to the pipeline.
 * The CPU backend is the reference; the CUDA backend fills the same table. */
#ifndef H5PREP_BACKEND_H
#define H5PREP_BACKEND_H

#include "h5prep.h"
#include "common/moments.h"
#include "input/source.h"

#include <stddef.h>
#include <stdint.h>

/* A slab of staged rows viewed as [outer][features][inner]; `feature_base` is the index of its
 * first feature among the variable's features (non-zero only when axis 0 is kept). */
typedef struct h5p_slab {
    const void *data; /* (outer, features, inner) of dtype, native byte order */
    h5p_dtype dtype;
    uint64_t outer, features, inner;
    uint64_t feature_base;
    const h5p_decode *dec;
} h5p_slab;

typedef struct h5p_backend h5p_backend; /* a backend's own state */

typedef struct h5p_backend_ops {
    const char *name;
    int zero_copy; /* slabs may point into the mapped input file instead of staging buffers */
    h5prep_status (*create)(h5p_backend **be, const h5prep_stats_config *cfg);
    void (*destroy)(h5p_backend *be);
    /* Staging memory for one ring slot (pinned for CUDA). */
    void *(*alloc_host)(h5p_backend *be, size_t bytes);
    void (*free_host)(h5p_backend *be, void *p);
    /* Starts a variable of n_features; slabs hold at most slab_bytes. */
    h5prep_status (*begin_var)(h5p_backend *be, uint64_t n_features, size_t slab_bytes);
    /* Accumulates the slab staged in `slot`; may return before the work is done. */
    h5prep_status (*stats_slab)(h5p_backend *be, int slot, const h5p_slab *slab);
    /* Returns once the buffer of `slot` may be refilled. */
    h5prep_status (*slot_wait)(h5p_backend *be, int slot);
    /* Finishes the variable: merges every partial state into out (n_features). */
    h5prep_status (*end_var)(h5p_backend *be, h5p_moments *out);
} h5p_backend_ops;

extern const h5p_backend_ops h5p_backend_cpu;
#ifdef H5PREP_HAVE_CUDA
extern const h5p_backend_ops h5p_backend_cuda;
#endif

/* Per-feature accumulators of the CPU backend: one array per field (counts as exact float64
 * integers), so that merging a block into them vectorizes. */
typedef struct h5p_acc {
    double *n, *missing, *mean, *m2, *min, *max;
} h5p_acc;
int h5p_acc_init(h5p_acc *a, size_t F); /* allocates and resets; 0 on success */
void h5p_acc_free(h5p_acc *a);
void h5p_acc_reset(h5p_acc *a, size_t F);
h5p_moments h5p_acc_get(const h5p_acc *a, size_t f);

/* The CPU kernel on one block of decoded float64 values (x: rows x F, missing = NaN): merges the
 * block's per-column states into acc[base..base+F). scratch: 6*F doubles. Exposed for tests. */
void h5p_cpu_block_stats(const double *x, size_t rows, size_t F, double *scratch, const h5p_acc *acc,
                         size_t base);
/* Decodes n stored values to float64, missing values as NaN. */
void h5p_cpu_decode(const void *src, h5p_dtype t, const h5p_decode *dec, size_t n, double *dst);

#endif
