/* sketch_cpu.c: adds a statistics slab to the quantile sketch (backends/cpu/sketch_cpu.h), one
 * value at a time: counts are integers, so the order of slabs, threads and parts cannot matter. */
#include "backends/cpu/sketch_cpu.h"

#include "backends/cpu/kernels_cpu.h"
#include "common/internal.h"

#include <math.h>
#include <stdlib.h>

enum { SKETCH_BLOCK = 65536 }; /* values decoded at a time: 512 KiB */

static void add_value(h5p_sketch *sk, uint64_t f, double x)
{
    if (!isnan(x))
        h5p_sketch_add(sk, f, x);
}

/* Rows (outer) of at most SKETCH_BLOCK values are decoded several at a time and added feature by
 * feature, so that each feature's buckets stay in cache while its values of those rows go in
 * (one row after another they would not: the buckets of all features are tens of MB). Wider
 * rows go in as they lie. */
h5prep_status h5p_cpu_sketch_slab(h5p_sketch *sk, const h5p_slab *sl)
{
    uint64_t L = sl->features * sl->inner, F = sl->features, inner = sl->inner;
    size_t esize = h5p_dtype_size(sl->dtype);
    double *x = h5p_malloc(SKETCH_BLOCK * sizeof *x);
    RETURN_ERROR_IF(!x, H5PREP_ERR_NOMEM, "out of memory for the quantile sketch's decoding buffer");
    const unsigned char *src = sl->data;
    h5p_decode_fn decode = h5p_cpu_kernels_generic.decode[sl->dtype];
    if (L <= SKETCH_BLOCK) {
        uint64_t per = SKETCH_BLOCK / L;
        for (uint64_t o0 = 0; o0 < sl->outer; o0 += per) {
            uint64_t nr = sl->outer - o0 < per ? sl->outer - o0 : per;
            decode(src + o0 * L * esize, sl->dec, (size_t)(nr * L), x);
            for (uint64_t f = 0; f < F; f++)
                for (uint64_t o = 0; o < nr; o++)
                    for (uint64_t i = 0; i < inner; i++)
                        add_value(sk, sl->feature_base + f, x[o * L + f * inner + i]);
        }
    } else {
        uint64_t n = sl->outer * L, f = 0, i = 0; /* the feature of value e, and e's place in its run of inner values */
        for (uint64_t e0 = 0; e0 < n; e0 += SKETCH_BLOCK) {
            size_t m = n - e0 < SKETCH_BLOCK ? (size_t)(n - e0) : SKETCH_BLOCK;
            decode(src + e0 * esize, sl->dec, m, x);
            for (size_t e = 0; e < m; e++) {
                add_value(sk, sl->feature_base + f, x[e]);
                if (++i == inner) {
                    i = 0;
                    f = f + 1 == F ? 0 : f + 1;
                }
            }
        }
    }
    free(x);
    return H5PREP_OK;
}
