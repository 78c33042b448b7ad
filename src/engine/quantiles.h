/* quantiles.h: the engine's side of `stats --quantiles/--histogram`: options, backend, memory
 * budget, and each statistics slab added to its variable's sketch (common/sketch.h). */
#ifndef H5PREP_QUANTILES_H
#define H5PREP_QUANTILES_H

#include "h5prep.h"
#include "backends/backend.h"
#include "input/source.h"

/* Whether the config asks for a sketch (quantiles or a histogram). */
int h5p_quantiles_wanted(const h5prep_stats_config *c);
/* Levels in (0, 1), bins, alpha and buckets in range; --backend cuda refused (H5PREP_ERR_BACKEND):
 * the sketch is computed by the CPU backend only. */
h5prep_status h5p_quantiles_check(const h5prep_stats_config *c);
/* The config a run opens its backend with: AUTO becomes the CPU when a sketch is wanted, and
 * notice says so (in a build with CUDA). */
void h5p_quantiles_backend(const h5prep_stats_config *c, h5prep_stats_config *run, char *notice, size_t cap);
/* Checks that the sketches of every feature of vars fit --mem (H5PREP_ERR_NOMEM with the --mem
 * and --sketch-buckets that would do) and gives each variable an empty one. */
h5prep_status h5p_quantiles_begin(const h5prep_stats_config *c, h5p_var *vars, size_t nvars);
/* Adds the slab's values to v's sketch, if it has one. */
h5prep_status h5p_quantiles_slab(h5p_var *v, const h5p_slab *slab);

#endif
