/* sketch_cpu.c: adds a statistics slab to the quantile sketch (backends/cpu/sketch_cpu.h), one
 * value at a time: counts are integers, so the order of slabs, threads and parts cannot matter. */
#include "backends/cpu/sketch_cpu.h"

#include "backends/cpu/kernels_cpu.h"
#include "common/internal.h"

#include <math.h>
#include <stdlib.h>

enum { SKETCH_BLOCK = 65536 }; /* values decoded at a time: 512 KiB */

h5prep_status h5p_cpu_sketch_slab(h5p_sketch *sk, const h5p_slab *sl)
{
    uint64_t n = sl->outer * sl->features * sl->inner;
    size_t esize = h5p_dtype_size(sl->dtype);
    double *x = h5p_malloc(SKETCH_BLOCK * sizeof *x);
    RETURN_ERROR_IF(!x, H5PREP_ERR_NOMEM, "out of memory for the quantile sketch's decoding buffer");
    const unsigned char *src = sl->data;
    uint64_t f = 0, i = 0; /* the feature of value e, and e's place in its run of inner values */
    for (uint64_t e0 = 0; e0 < n; e0 += SKETCH_BLOCK) {
        size_t m = n - e0 < SKETCH_BLOCK ? (size_t)(n - e0) : SKETCH_BLOCK;
        h5p_cpu_kernels_generic.decode[sl->dtype](src + e0 * esize, sl->dec, m, x);
        for (size_t e = 0; e < m; e++) {
            if (!isnan(x[e]))
                h5p_sketch_add(sk, sl->feature_base + f, x[e]);
            if (++i == sl->inner) {
                i = 0;
                f = f + 1 == sl->features ? 0 : f + 1;
            }
        }
    }
    free(x);
    return H5PREP_OK;
}
