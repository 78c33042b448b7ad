/* moments.h: the per-feature statistics state and its exact merge, shared by every backend.
 * Functions are H5PREP_HD so that CUDA kernels and host code use the very same arithmetic. */
#ifndef H5PREP_MOMENTS_H
#define H5PREP_MOMENTS_H

#include "h5prep.h"

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define H5PREP_HD __host__ __device__
#else
#define H5PREP_HD
#endif

/* One feature's state (the public h5prep_moments): n used, missing left out, mean, m2, min, max. */
typedef h5prep_moments h5p_moments;

static inline H5PREP_HD h5p_moments h5p_moments_empty(void)
{
    h5p_moments m = {0, 0, 0.0, 0.0, INFINITY, -INFINITY};
    return m;
}

/* a <- a merged with b (Chan, Golub and LeVeque 1979). Associative up to rounding; exact in
 * n, missing, min and max. */
static inline H5PREP_HD void h5p_moments_merge(h5p_moments *a, const h5p_moments *b)
{
    a->missing += b->missing;
    if (b->n == 0)
        return;
    if (a->n == 0) {
        a->n = b->n;
        a->mean = b->mean;
        a->m2 = b->m2;
    } else {
        double na = (double)a->n, nb = (double)b->n, n = na + nb;
        double delta = b->mean - a->mean;
        a->mean += delta * (nb / n);
        a->m2 += b->m2 + delta * delta * (na * nb / n);
        a->n += b->n;
    }
    a->min = b->min < a->min ? b->min : a->min;
    a->max = b->max > a->max ? b->max : a->max;
}

/* The state of a run of values summarised by a corrected two-pass: n used values with
 * sum `s` and, around mean = s/n, sum of deviations `d1` and of squared deviations `d2`. */
static inline H5PREP_HD h5p_moments h5p_moments_from_run(double n, double mean, double d1, double d2,
                                                         double mn, double mx, int64_t missing)
{
    h5p_moments m = h5p_moments_empty();
    m.missing = missing;
    if (n > 0) {
        m.n = (int64_t)n;
        m.mean = mean + d1 / n;
        m.m2 = d2 - d1 * d1 / n;
        if (m.m2 < 0)
            m.m2 = 0;
        m.min = mn;
        m.max = mx;
    }
    return m;
}

#endif
