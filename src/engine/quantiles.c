/* quantiles.c: the engine's side of `stats --quantiles/--histogram` (engine/quantiles.h): the
 * options checked, the memory the sketch may take, and each slab added to it by the backend. */
#include "engine/quantiles.h"

#include "backends/cpu/sketch_cpu.h"
#include "common/internal.h"
#include "common/sketch.h"

#include <math.h>

int h5p_quantiles_wanted(const h5prep_stats_config *c) { return c->nquantiles > 0 || c->histogram_bins > 0; }

h5prep_status h5p_quantiles_check(const h5prep_stats_config *c)
{
    for (size_t i = 0; i < c->nquantiles; i++)
        if (!(c->quantiles[i] > 0 && c->quantiles[i] < 1)) {
            h5p_fail(H5PREP_ERR_USAGE, "--quantiles: level %g is not in (0, 1)", c->quantiles[i]);
            return h5p_hint(H5PREP_ERR_USAGE, "give levels strictly between 0 and 1, e.g. --quantiles 0.01,0.5,0.99; "
                                              "min and max are exact in every document");
        }
    RETURN_ERROR_IF(c->histogram_bins < 0 || c->histogram_bins > 1000000, H5PREP_ERR_USAGE,
                    "--histogram %d: expected 1..1000000 bins", c->histogram_bins);
    RETURN_ERROR_IF(!(c->sketch_alpha >= 1e-6 && c->sketch_alpha <= 0.5), H5PREP_ERR_USAGE,
                    "--sketch-alpha %g: expected a relative accuracy in [1e-6, 0.5] (default 0.01)", c->sketch_alpha);
    RETURN_ERROR_IF(c->sketch_buckets < 16 || c->sketch_buckets > (1 << 20), H5PREP_ERR_USAGE,
                    "--sketch-buckets %d: expected 16..1048576 (default 2048)", c->sketch_buckets);
    return H5PREP_OK;
}

h5prep_status h5p_quantiles_begin(const h5prep_stats_config *c, h5p_var *vars, size_t nvars)
{
    uint64_t nf = 0;
    for (size_t i = 0; i < nvars; i++)
        nf += h5p_var_features(&vars[i]);
    uint64_t need = h5p_sketch_bytes(nf, c->sketch_buckets);
    if (need > c->mem_bytes) {
        char have[32], want[32];
        h5p_format_bytes(have, sizeof have, (double)c->mem_bytes);
        h5p_format_bytes(want, sizeof want, (double)need);
        h5p_fail(H5PREP_ERR_NOMEM, "%s:%s%s: the quantile sketches of %llu features need %s (%llu bytes each with %d buckets), more than --mem (%s)",
                 vars[0].nparts ? vars[0].parts[0].path : "", vars[0].name, nvars > 1 ? " and the other variables" : "", (unsigned long long)nf, want, (unsigned long long)h5p_sketch_bytes(1, c->sketch_buckets),
                 c->sketch_buckets, have);
        int fit = 0; /* the most buckets whose sketches fit --mem */
        while (fit < (1 << 20) && h5p_sketch_bytes(nf, fit + 1) <= c->mem_bytes)
            fit++;
        if (fit >= 16)
            return h5p_hint(H5PREP_ERR_NOMEM, "raise --mem to at least %lluM, or lower --sketch-buckets to %d or fewer "
                                              "(fewer buckets collapse more of the smallest magnitudes)",
                            (unsigned long long)CEIL_DIV(need, 1 << 20), fit);
        return h5p_hint(H5PREP_ERR_NOMEM, "raise --mem to at least %lluM, or keep fewer axes",
                        (unsigned long long)CEIL_DIV(need, 1 << 20));
    }
    for (size_t i = 0; i < nvars; i++) {
        h5p_sketch_destroy(vars[i].sketch);
        vars[i].sketch = h5p_sketch_create(h5p_var_features(&vars[i]), c->sketch_alpha, c->sketch_buckets,
                                           c->quantiles, c->nquantiles, c->histogram_bins);
        RETURN_ERROR_IF(!vars[i].sketch, H5PREP_ERR_NOMEM, "%s: out of memory for the quantile sketches", vars[i].name);
    }
    return H5PREP_OK;
}

h5prep_status h5p_quantiles_slab(h5p_var *v, const h5p_backend_ops *ops, h5p_backend *be, int slot, const h5p_slab *slab)
{
    if (!v->sketch)
        return H5PREP_OK;
    return ops->sketch_slab ? ops->sketch_slab(be, slot, slab, v->sketch) : h5p_cpu_sketch_slab(v->sketch, slab);
}
