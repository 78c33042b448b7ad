/* sketch_api.c: read access to the quantile sketches of an h5prep_stats (include/h5prep.h:
 * h5prep_stats_quantiles, _histogram, _collapsed), through the tables of output/sketch_io.c. */
#include "common/internal.h"
#include "common/sketch.h"
#include "output/sketch_io.h"
#include "output/state.h"

static h5prep_status sketch_of(const h5prep_stats *s, size_t i, const h5p_var **out)
{
    RETURN_ERROR_IF(i >= s->nvars, H5PREP_ERR_USAGE, "variable index %zu out of range (%zu variables)", i, s->nvars);
    const h5p_var *v = &s->vars[i];
    RETURN_ERROR_IF(!v->result || !v->sketch, H5PREP_ERR_USAGE,
                    "%s: no quantile sketch: run with quantiles or histogram_bins, or load a document that has one", v->name);
    *out = v;
    return H5PREP_OK;
}

h5prep_status h5prep_stats_quantiles(const h5prep_stats *s, size_t i, const double *levels, size_t nlevels, double *out)
{
    const h5p_var *v = NULL;
    FORWARD_IF_ERROR(sketch_of(s, i, &v));
    for (size_t q = 0; q < nlevels; q++)
        RETURN_ERROR_IF(!(levels[q] > 0 && levels[q] < 1), H5PREP_ERR_USAGE, "quantile level %g is not in (0, 1)", levels[q]);
    h5p_sketch_quantile_table(v, levels, nlevels, out);
    return H5PREP_OK;
}

h5prep_status h5prep_stats_histogram(const h5prep_stats *s, size_t i, int bins, uint64_t *out)
{
    const h5p_var *v = NULL;
    FORWARD_IF_ERROR(sketch_of(s, i, &v));
    RETURN_ERROR_IF(bins < 1, H5PREP_ERR_USAGE, "histogram of %d bins: expected at least 1", bins);
    h5p_sketch_histogram_table(v, bins, out);
    return H5PREP_OK;
}

h5prep_status h5prep_stats_collapsed(const h5prep_stats *s, size_t i, uint64_t *out)
{
    const h5p_var *v = NULL;
    FORWARD_IF_ERROR(sketch_of(s, i, &v));
    for (uint64_t f = 0; f < v->sketch->nf; f++)
        out[f] = h5p_sketch_collapsed(v->sketch, f);
    return H5PREP_OK;
}
