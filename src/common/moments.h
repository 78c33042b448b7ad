/* moments.h: the per-feature statistics state and its exact merge, shared by every backend.
 * Functions are H5PREP_HD so that CUDA kernels and host code use the very same arithmetic. */
#ifndef H5PREP_MOMENTS_H
#define H5PREP_MOMENTS_H

#include "h5prep.h"
#include "common/hd.h"

#include <float.h>
#include <math.h>
#include <stdint.h>

/* One feature's state (the public h5prep_moments): n used, missing left out, mean, m2, min, max. */
typedef h5prep_moments h5p_moments;

/* Many features' states as arrays of float64, one array per field (counts as exact float64
 * integers), so that merging blocks of them vectorizes on the CPU and coalesces on the device.
 * The CPU backend's accumulators and the CUDA backend's device states are this type. */
typedef struct h5p_states {
    double *n, *missing, *mean, *m2, *min, *max;
} h5p_states;

static inline H5PREP_HD h5p_moments h5p_moments_empty(void)
{
    h5p_moments m = {0, 0, 0.0, 0.0, INFINITY, -INFINITY};
    return m;
}

/* The mean of a state of weight 1 - w (mean ma) merged with one of weight w (mean mb), delta =
 * mb - ma. ma + delta*w has the least rounding; delta overflows only for means of opposite signs
 * beyond DBL_MAX/2, and then the weighted sum, whose terms cannot overflow, is taken instead. */
static inline H5PREP_HD double h5p_merged_mean(double ma, double mb, double delta, double w)
{
    double near = ma + delta * w, far = (ma - ma * w) + mb * w;
    return fabs(delta) <= DBL_MAX ? near : far;
}

/* a <- a merged with b (Chan, Golub and LeVeque 1979). Associative up to rounding; exact in
 * n, missing, min and max. Over the whole float64 range: the term delta^2 * na*nb/n is formed as
 * delta * (delta * (na * w)), w = nb/n <= 1, which overflows only where the term itself exceeds
 * DBL_MAX (m2 is then +inf, as it truly is), and is 0, not Inf*0, when na is 0. Counts are not
 * checked here (a run cannot reach 2^63 values); merges of loaded states check them first. */
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
        double w = nb / n, delta = b->mean - a->mean;
        a->mean = h5p_merged_mean(a->mean, b->mean, delta, w);
        a->m2 += b->m2 + delta * (delta * (na * w));
        a->n += b->n;
    }
    a->min = b->min < a->min ? b->min : a->min;
    a->max = b->max > a->max ? b->max : a->max;
}

/* (n, mean, m2) <- merged with (nb, mb, m2b), branch-free: empty states have mean 0, so no case
 * is special. For loops over arrays of states that vectorize, and for device code. The same
 * arithmetic as h5p_moments_merge: no intermediate overflows where the result does not. */
static inline H5PREP_HD void h5p_merge_into(double *n, double *mean, double *m2, double nb, double mb, double m2b)
{
    double na = *n, nn = na + nb;
    double w = nn > 0 ? nb / nn : 0.0;
    double delta = mb - *mean;
    *mean = h5p_merged_mean(*mean, mb, delta, w);
    *m2 += m2b + delta * (delta * (na * w));
    *n = nn;
}

/* Weighted states (--weights): a feature's moments with mean and m2 = sum w (x - mean)^2 weighted,
 * n, missing, min and max counted as unweighted, and W the sum of the weights of its values. a
 * (with *wa) <- a merged with b (wb): Chan's rule with the sums of weights in place of the counts
 * (West 1979; Schubert and Gertz 2018), h5p_merge_into's arithmetic. A side with values whose
 * weights are all 0 adds its counts, min and max and nothing to mean and m2. */
static inline H5PREP_HD void h5p_wmoments_merge(h5p_moments *a, double *wa, const h5p_moments *b, double wb)
{
    a->missing += b->missing;
    if (b->n == 0)
        return;
    h5p_merge_into(wa, &a->mean, &a->m2, wb, b->mean, b->m2);
    a->n += b->n;
    a->min = b->min < a->min ? b->min : a->min;
    a->max = b->max > a->max ? b->max : a->max;
}

/* One value x of weight wt >= 0 into a weighted state (m, *wsum) whose running mean is m->mean + *lo:
 * West's (1979) update, the mean kept in two doubles so that large offsets (1e8 + noise) cost no
 * precision. NaN is missing and carries no weight; a value of weight 0 is counted in n, min and max
 * but moves neither mean nor m2. The CPU backend and the CUDA kernel take every value through this
 * one function; m->mean + *lo rounded into m->mean completes the state. */
static inline H5PREP_HD void h5p_wmoments_add(h5p_moments *m, double *wsum, double *lo, double x, double wt)
{
    if (x != x) {
        m->missing++;
        return;
    }
    m->n++;
    m->min = x < m->min ? x : m->min;
    m->max = x > m->max ? x : m->max;
    if (wt > 0) { /* wsum += w; mean += (x - mean) w / wsum; m2 += w (x - mean_old)(x - mean_new) */
        double wn = *wsum + wt, hi = m->mean;
        double d = (x - hi) - *lo, t = *lo + d * (wt / wn);
        double sum = hi + t, z = sum - hi; /* hi + t as sum + lo exactly (Knuth's two-sum) */
        *lo = (hi - (sum - z)) + (t - z);
        m->mean = sum;
        m->m2 += wt * d * ((x - sum) - *lo);
        *wsum = wn;
    }
}

/* a (with *wa, and *loa the low part of its mean) <- a merged with b (wb, lob), both running states
 * of h5p_wmoments_add: Chan's weighted rule with the means kept in two doubles, so that merging
 * many small states near a large offset (1e8 + noise) keeps delta, and so m2, to full precision,
 * as adding their values one by one would. For the CUDA kernel's lanes. */
static inline H5PREP_HD void h5p_wmoments_merge2(h5p_moments *a, double *wa, double *loa, const h5p_moments *b,
                                                 double wb, double lob)
{
    a->missing += b->missing;
    if (b->n == 0)
        return;
    if (*wa == 0) { /* a has no weight (no m2): b's moments */
        a->mean = b->mean;
        a->m2 = b->m2;
        *loa = lob;
        *wa = wb;
    } else if (wb > 0) {
        double wn = *wa + wb, w = wb / wn, hi = a->mean;
        double delta = (b->mean - hi) + (lob - *loa), t = *loa + delta * w;
        double sum = hi + t, z = sum - hi; /* two-sum, as in h5p_wmoments_add */
        *loa = (hi - (sum - z)) + (t - z);
        a->mean = sum;
        a->m2 += b->m2 + delta * (delta * (*wa * w));
        *wa = wn;
    }
    a->n += b->n;
    a->min = b->min < a->min ? b->min : a->min;
    a->max = b->max > a->max ? b->max : a->max;
}

#endif
