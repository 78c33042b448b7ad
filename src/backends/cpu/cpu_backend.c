/* cpu_backend.c: the CPU backend's table (backends/backend.h): one pool of compute threads for
 * statistics and transforms, plain aligned host memory, and every operation synchronous. */
#include "backends/cpu/cpu.h"

#include "common/internal.h"

#include <stdlib.h>

static h5prep_status cpu_create(h5p_backend **out, const h5prep_stats_config *cfg, int nslots)
{
    (void)nslots; /* every operation is done when it returns: slots need nothing of their own */
    const h5p_cpu_kernels *kern;
    FORWARD_IF_ERROR(h5p_cpu_kernels_choose(&kern));
    int nt = h5p_thread_count(cfg);
    h5p_backend *be = calloc(1, sizeof *be);
    RETURN_ERROR_IF(!be, H5PREP_ERR_NOMEM, "cpu backend: out of memory");
    be->nt = nt;
    be->kern = kern;
    be->th = calloc((size_t)nt, sizeof *be->th);
    be->pool = h5p_pool_create(nt);
    if (!be->th || !be->pool) {
        h5p_pool_destroy(be->pool);
        free(be->th);
        free(be);
        return h5p_fail(H5PREP_ERR_NOMEM, "cpu backend: cannot start %d compute threads", nt);
    }
    *out = be;
    return H5PREP_OK;
}

static void cpu_destroy(h5p_backend *be)
{
    if (!be)
        return;
    h5p_pool_destroy(be->pool);
    h5p_cpu_stats_free(be);
    h5p_cpu_tx_free(be);
    free(be);
}

static void *cpu_alloc_host(h5p_backend *be, size_t bytes)
{
    (void)be;
    void *p = NULL;
    return posix_memalign(&p, 64, bytes ? bytes : 64) == 0 ? p : NULL;
}

static void cpu_free_host(h5p_backend *be, void *p)
{
    (void)be;
    free(p);
}

static h5prep_status cpu_wait(h5p_backend *be, int slot)
{
    (void)be, (void)slot;
    return H5PREP_OK; /* every operation is synchronous */
}

static const char *cpu_isa(const h5p_backend *be) { return be->kern->isa; }

const h5p_backend_ops h5p_backend_cpu = {
    .name = "cpu",
    .zero_copy = 1,
    .create = cpu_create,
    .destroy = cpu_destroy,
    .alloc_host = cpu_alloc_host,
    .free_host = cpu_free_host,
    .wait = cpu_wait,
    .stats_begin = h5p_cpu_stats_begin,
    .stats_slab = h5p_cpu_stats_slab,
    .stats_end = h5p_cpu_stats_end,
    .tx_begin = h5p_cpu_tx_begin,
    .keys = h5p_cpu_keys,
    .gather = h5p_cpu_gather,
    .finish = h5p_cpu_finish,
    .tx_stats = h5p_cpu_tx_stats,
    .isa = cpu_isa,
};
