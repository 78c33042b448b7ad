/* sketch_cpu.h: the quantile sketch's one producer: a statistics slab's values added to the
 * per-feature sketch (common/sketch.h) on the host, for every backend that computes it. */
#ifndef H5PREP_SKETCH_CPU_H
#define H5PREP_SKETCH_CPU_H

#include "backends/backend.h"
#include "common/sketch.h"

/* Decodes the slab (CF rules of decode.h, the portable decoder: the same values on every ISA
 * path) and adds every value that is not missing to feature feature_base + f of sk. */
h5prep_status h5p_cpu_sketch_slab(h5p_sketch *sk, const h5p_slab *slab);

#endif
