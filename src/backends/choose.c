/* choose.c: the one chooser of a compute backend (backends/choose.h), for statistics and
 * transforms alike: CUDA when asked for or when AUTO finds a device, else the CPU reference. */
#include "backends/choose.h"

#include "common/internal.h"

#include <stdio.h>
#include <string.h>

h5prep_status h5p_backend_open(const h5prep_stats_config *cfg, int nslots, const h5p_backend_ops **ops, h5p_backend **be, char *notice, size_t notice_cap)
{
    notice[0] = 0;
    *be = NULL;
    RETURN_ERROR_IF(nslots < 1 || nslots > H5P_RING_SLOTS_MAX, H5PREP_ERR_USAGE, "--slots %d: at most %d",
                    cfg->slots, H5PREP_MAX_SLOTS);
    if (cfg->backend != H5PREP_BACKEND_CPU) {
#ifdef H5PREP_HAVE_CUDA
        h5prep_status st = h5p_backend_cuda.create(be, cfg, nslots);
        if (st == H5PREP_OK) {
            *ops = &h5p_backend_cuda;
            return H5PREP_OK;
        }
        if (cfg->backend == H5PREP_BACKEND_CUDA)
            return st;
        const char *why = h5prep_last_error();
        snprintf(notice, notice_cap, "%.*s; running on the CPU", (int)strcspn(why, "\n"), why);
        h5p_clear_error();
#else
        (void)notice_cap;
        if (cfg->backend == H5PREP_BACKEND_CUDA) {
            h5p_fail(H5PREP_ERR_BACKEND, "--backend cuda: this build of h5prep has no CUDA backend (nvcc was not found when it was built)");
            return h5p_hint(H5PREP_ERR_BACKEND, "use --backend cpu (or auto), which gives the same results");
        }
#endif
    }
    *ops = &h5p_backend_cpu;
    return h5p_backend_cpu.create(be, cfg, nslots);
}
