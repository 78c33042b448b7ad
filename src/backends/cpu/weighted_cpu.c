/* weighted_cpu.c: the CPU's weighted statistics (backends/cpu/weighted_cpu.h): stored values
 * decoded by the portable decoder (the same bits as every instruction set path), then one
 * weighted update per value in data order. Scalar on purpose: it is correct first, the same on
 * every ISA path, and does not touch the unweighted kernels. */
#include "backends/cpu/weighted_cpu.h"

#include "backends/cpu/kernels_cpu.h"
#include "common/internal.h"

#include <stdlib.h>
#include <string.h>

enum { DECODE_CHUNK = 4096 }; /* values decoded at a time: 32 KiB, in L1 */

h5prep_status h5p_wstates_init(h5p_wstates *a, uint64_t nf, int threads)
{
    memset(a, 0, sizeof *a);
    a->nf = nf;
    a->threads = threads > 0 ? threads : 1;
    a->m = h5p_malloc(nf * (sizeof *a->m + sizeof(double)));
    a->buf = h5p_malloc((size_t)a->threads * DECODE_CHUNK * sizeof *a->buf);
    a->lo = h5p_malloc(nf * sizeof *a->lo);
    if (!a->m || !a->buf || !a->lo) {
        h5p_wstates_free(a);
        return h5p_fail(H5PREP_ERR_NOMEM, "no memory for %llu weighted feature states", (unsigned long long)nf);
    }
    a->w = (double *)(a->m + nf);
    h5p_wstates_reset(a);
    return H5PREP_OK;
}

void h5p_wstates_reset(h5p_wstates *a)
{
    for (uint64_t f = 0; f < a->nf; f++) {
        a->m[f] = h5p_moments_empty();
        a->w[f] = a->lo[f] = 0.0;
    }
}

void h5p_wstates_finish(h5p_wstates *a)
{
    for (uint64_t f = 0; f < a->nf; f++) {
        a->m[f].mean += a->lo[f];
        a->lo[f] = 0.0;
    }
}

void h5p_wstates_free(h5p_wstates *a)
{
    free(a->m);
    free(a->buf);
    free(a->lo);
    memset(a, 0, sizeof *a);
}

/* What the threads of one slab share. */
typedef struct wjob {
    h5p_wstates *a;
    const h5p_slab *s;
    const double *w;
    uint64_t w_row_stride, row_elems;
} wjob;

/* Features [f0, f1) of the slab: for each outer index their values are one contiguous segment,
 * taken in order. */
static void weighted_features(const wjob *jb, double *buf, uint64_t f0, uint64_t f1)
{
    h5p_wstates *a = jb->a;
    const h5p_slab *s = jb->s;
    const unsigned char *src = s->data;
    size_t esize = h5p_dtype_size(s->dtype);
    uint64_t F = s->features, inner = s->inner, row_elems = jb->row_elems;
    h5p_decode_fn decode = h5p_cpu_kernels_generic.decode[s->dtype];
    for (uint64_t o = 0; o < s->outer; o++) {
        uint64_t i0 = (o * F + f0) * inner, len = (f1 - f0) * inner;
        uint64_t q = 0, fi = f0, j = i0 % row_elems; /* value i's place: i % inner, (i / inner) % F, i % row_elems */
        const double *wr = jb->w + i0 / row_elems * jb->w_row_stride; /* the weights of value i's row */
        for (uint64_t c0 = 0; c0 < len; c0 += DECODE_CHUNK) {
            size_t n = len - c0 < DECODE_CHUNK ? (size_t)(len - c0) : DECODE_CHUNK;
            decode(src + (i0 + c0) * esize, s->dec, n, buf);
            for (size_t k = 0; k < n; k++) {
                uint64_t f = s->feature_base + fi;
                double x = buf[k], wt = wr[j];
                if (++j == row_elems)
                    j = 0, wr += jb->w_row_stride;
                if (++q == inner)
                    q = 0, fi++;
                h5p_wmoments_add(&a->m[f], &a->w[f], &a->lo[f], x, wt);
            }
        }
    }
}

static void weighted_job(void *arg, int tid, int nt)
{
    const wjob *jb = arg;
    uint64_t F = jb->s->features;
    nt = nt < jb->a->threads ? nt : jb->a->threads;
    if (tid < nt) /* thread tid: features [F tid / nt, F (tid + 1) / nt) */
        weighted_features(jb, jb->a->buf + (size_t)tid * DECODE_CHUNK, F * (uint64_t)tid / (uint64_t)nt,
                          F * (uint64_t)(tid + 1) / (uint64_t)nt);
}

void h5p_cpu_weighted_slab(h5p_wstates *a, const h5p_slab *s, const double *w, uint64_t w_row_stride,
                           uint64_t row_elems, h5p_pool *pool)
{
    wjob jb = {a, s, w, w_row_stride, row_elems};
    if (pool && s->features > 1 && a->threads > 1)
        h5p_pool_run(pool, weighted_job, &jb);
    else
        weighted_features(&jb, a->buf, 0, s->features);
}
