/* choose.h: the one place a compute backend is chosen, for statistics and transforms alike: CUDA
 * when asked for or when AUTO finds a device, else the CPU reference (backends/backend.h). */
#ifndef H5PREP_CHOOSE_H
#define H5PREP_CHOOSE_H

#include "backends/backend.h"

/* The backend of cfg->backend for a ring of nslots slots: CUDA for H5PREP_BACKEND_CUDA; for AUTO,
 * CUDA when a device answers, else the CPU, with the reason in notice (else notice is ""). */
h5prep_status h5p_backend_open(const h5prep_stats_config *cfg, int nslots, const h5p_backend_ops **ops,
                               h5p_backend **be, char *notice, size_t notice_cap);

#endif
