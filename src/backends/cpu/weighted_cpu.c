/* weighted_cpu.c: the CPU's weighted statistics (backends/cpu/weighted_cpu.h): stored values
 * decoded by the portable decoder (the same bits as every instruction set path), then one
 * weighted update per value in data order. Scalar on purpose: it is correct first, the same on
 * every ISA path, and does not touch the unweighted kernels. */
#include "backends/cpu/weighted_cpu.h"

#include "backends/cpu/kernels_cpu.h"
#include "common/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { DECODE_CHUNK = 4096 }; /* values decoded at a time: 32 KiB, in L1 */

h5prep_status h5p_wstates_init(h5p_wstates *a, uint64_t nf)
{
    memset(a, 0, sizeof *a);
    a->nf = nf;
    a->m = h5p_malloc(nf * (sizeof *a->m + sizeof(double)));
    a->buf = h5p_malloc(DECODE_CHUNK * sizeof *a->buf);
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

void h5p_cpu_weighted_slab(h5p_wstates *a, const h5p_slab *s, const double *w, uint64_t w_row_stride,
                           uint64_t row_elems)
{
    const unsigned char *src = s->data;
    size_t esize = h5p_dtype_size(s->dtype);
    uint64_t total = s->outer * s->features * s->inner, F = s->features, inner = s->inner;
    h5p_decode_fn decode = h5p_cpu_kernels_generic.decode[s->dtype];
    uint64_t q = 0, fi = 0, j = 0; /* value i's place: (i % inner), (i / inner) % F, i % row_elems */
    const double *wr = w;           /* the weights of value i's row */
    for (uint64_t i0 = 0; i0 < total; i0 += DECODE_CHUNK) {
        size_t n = total - i0 < DECODE_CHUNK ? (size_t)(total - i0) : DECODE_CHUNK;
        decode(src + i0 * esize, s->dec, n, a->buf);
        for (size_t k = 0; k < n; k++) {
            uint64_t f = s->feature_base + fi;
            double x = a->buf[k], wt = wr[j];
            if (++j == row_elems)
                j = 0, wr += w_row_stride;
            if (++q == inner && (q = 0, ++fi == F))
                fi = 0;
            h5p_moments *m = &a->m[f];
            if (isnan(x)) {
                m->missing++;
                continue;
            }
            m->n++;
            m->min = x < m->min ? x : m->min;
            m->max = x > m->max ? x : m->max;
            if (wt > 0) { /* West: W += w; mean += (x - mean) w / W; m2 += w (x - mean_old)(x - mean_new) */
                double W = a->w[f] + wt, hi = m->mean, lo = a->lo[f];
                double d = (x - hi) - lo, t = lo + d * (wt / W);
                double sum = hi + t, z = sum - hi; /* hi + t as sum + lo exactly (Knuth's two-sum) */
                a->lo[f] = (hi - (sum - z)) + (t - z);
                m->mean = sum;
                m->m2 += wt * d * ((x - sum) - a->lo[f]);
                a->w[f] = W;
            }
        }
    }
}
