/* robust.c: the factors of `normalize: {method: robust}` (engine/robust.h) from the per-feature
 * quantile sketch: the gathered rows go in through the sketch's one producer
 * (backends/cpu/sketch_cpu.h), so counts, and so the factors, do not depend on slabs or threads. */
#include "engine/robust.h"

#include "backends/cpu/sketch_cpu.h"
#include "common/internal.h"

#include <inttypes.h>
#include <math.h>

static const double LEVELS[] = {0.25, 0.5, 0.75};

h5prep_status h5p_robust_sketch(const h5prep_stats_config *c, const char *output, uint64_t nf, h5p_sketch **out)
{
    *out = NULL;
    uint64_t need = h5p_sketch_bytes(nf, c->sketch_buckets);
    if (need > c->mem_bytes) {
        char have[32], want[32];
        h5p_format_bytes(have, sizeof have, (double)c->mem_bytes);
        h5p_format_bytes(want, sizeof want, (double)need);
        h5p_fail(H5PREP_ERR_NOMEM, "output '%s': normalize: robust or quantile needs a quantile sketch of %" PRIu64 " features, %s with %d buckets, more than --mem (%s)",
                 output, nf, want, c->sketch_buckets, have);
        return h5p_hint(H5PREP_ERR_NOMEM, "raise --mem to at least %lluM, lower --sketch-buckets, or keep fewer axes (normalize.keep_axes)",
                        (unsigned long long)CEIL_DIV(need, 1 << 20));
    }
    *out = h5p_sketch_create(nf, c->sketch_alpha, c->sketch_buckets, LEVELS, sizeof LEVELS / sizeof *LEVELS, 0);
    RETURN_ERROR_IF(!*out, H5PREP_ERR_NOMEM, "output '%s': out of memory for the quantile sketch", output);
    return H5PREP_OK;
}

h5prep_status h5p_robust_add(h5p_sketch *sk, const void *block, int f64, uint64_t rows, uint64_t elems, uint64_t features,
                             uint64_t inner)
{
    /* the gathered values are decoded already: a missing value is NaN, which the sketch leaves out */
    h5p_decode plain = {0};
    plain.scale = 1, plain.vmin = -INFINITY, plain.vmax = INFINITY;
    h5p_slab sl = {block, f64 ? H5P_F64 : H5P_F32, rows * elems / (features * inner), features, inner, 0, &plain, 0, 0};
    return sl.outer ? h5p_cpu_sketch_slab(sk, &sl) : H5PREP_OK;
}

h5prep_status h5p_robust_factors(const h5p_sketch *sk, const h5p_moments *ms, const char *output, double *shift, double *div)
{
    for (uint64_t f = 0; f < sk->nf; f++) {
        shift[f] = 0, div[f] = 1;
        if (h5p_sketch_total(sk, f) == 0)
            continue;
        double q25 = h5p_sketch_quantile(sk, f, 0.25, ms[f].min, ms[f].max);
        double q75 = h5p_sketch_quantile(sk, f, 0.75, ms[f].min, ms[f].max);
        double iqr = q75 - q25;
        if (!isfinite(iqr)) {
            h5p_fail(H5PREP_ERR_STATE, "output '%s': feature %" PRIu64 ": its interquartile range exceeds float64 (quartiles about 1e308 apart), so it cannot be normalized",
                     output, f);
            return h5p_hint(H5PREP_ERR_STATE, "use normalize: none for this output, or rescale the input (scale_factor)");
        }
        shift[f] = h5p_sketch_quantile(sk, f, 0.5, ms[f].min, ms[f].max);
        div[f] = iqr > 0 ? iqr : 1;
    }
    return H5PREP_OK;
}
