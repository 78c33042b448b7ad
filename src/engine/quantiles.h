/* quantiles.h: the engine's side of `stats --quantiles/--histogram`: options, backend, memory
 * budget, and each statistics slab added to its variable's sketch (common/sketch.h) by the
 * backend that computes its statistics. */
#ifndef H5PREP_QUANTILES_H
#define H5PREP_QUANTILES_H

#include "h5prep.h"
#include "backends/backend.h"
#include "input/source.h"

/* Whether the config asks for a sketch (quantiles or a histogram). */
int h5p_quantiles_wanted(const h5prep_stats_config *c);
/* Levels in (0, 1), bins, alpha and buckets in range. */
h5prep_status h5p_quantiles_check(const h5prep_stats_config *c);
/* Checks that the sketches of every feature of vars fit --mem (H5PREP_ERR_NOMEM with the --mem
 * and --sketch-buckets that would do) and gives each variable an empty one. */
h5prep_status h5p_quantiles_begin(const h5prep_stats_config *c, h5p_var *vars, size_t nvars);
/* Adds the slab's values to v's sketch, if it has one: by the backend's sketch_slab (after its
 * stats_slab of the same slot), or on the host. */
h5prep_status h5p_quantiles_slab(h5p_var *v, const h5p_backend_ops *ops, h5p_backend *be, int slot, const h5p_slab *slab);

#endif
