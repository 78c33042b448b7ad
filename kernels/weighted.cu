/* weighted.cu: the CUDA kernels of weighted statistics (--weights): every value, decoded on the
 * device, goes into one of its feature's lanes by h5p_wmoments_add (the CPU's very update), and
 * a block's lanes are folded per feature in lane order. Same source for nvcc and, through
 * cuda_compat.h, for the SIMT harness used by the tests. */
#include "cuda_compat.h"
#include "load.h"
#include "launch.h"

/* Thread g: one lane of one feature, its values in data order (the lane's state in registers,
 * read at the start and written at the end of the slab). Where inner is 1 neighbouring threads
 * take neighbouring features, else neighbouring positions of one feature: reads of the slab stay
 * coalesced. One division per value (West's update) and 64-bit index divisions: simple first. */
H5P_GLOBAL void H5P_BOUNDS(H5P_WEIGHTED_BLOCK, 4) weighted_slab(const h5p_wslab_args a)
{
    unsigned long long g = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= a.features * a.lanes)
        return;
    unsigned long long f = a.inner == 1 ? g % a.features : g / a.lanes;
    unsigned long long j = a.inner == 1 ? g / a.features : g % a.lanes;
    unsigned long long s = (a.base + f) * a.lanes + j, per = a.outer * a.inner;
    h5p_moments m = a.s.m[s];
    double ws = a.s.w[s], lo = a.s.lo[s];
    /* the slab's value t of feature f has index k0 + t in the block: lane j takes t = j - k0 mod lanes, ... */
    for (unsigned long long t = (j + a.lanes - a.k0 % a.lanes) % a.lanes; t < per; t += a.lanes) {
        unsigned long long i = (t / a.inner * a.features + f) * a.inner + t % a.inner;
        double wt = a.w[i / a.row_elems * a.w_row_stride + i % a.row_elems];
        h5p_wmoments_add(&m, &ws, &lo, load_value(a.data, a.dtype, i, &a.dec), wt);
    }
    a.s.m[s] = m;
    a.s.w[s] = ws;
    a.s.lo[s] = lo;
}
H5P_ENTRY(weighted_slab, h5p_wslab_args)

/* Thread f: feature f's lanes merged in lane order with their means in two doubles
 * (h5p_wmoments_merge2), then emptied; the result completed (mean + lo). Sequential over the
 * lanes: simple first, a tree across threads would be faster where features are few. */
H5P_GLOBAL void weighted_fold(const h5p_wfold_args a)
{
    unsigned long long f = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (f >= a.features)
        return;
    h5p_moments acc = h5p_moments_empty();
    double ws = 0.0, lo = 0.0;
    for (unsigned long long j = 0; j < a.lanes; j++) {
        unsigned long long s = f * a.lanes + j;
        h5p_moments m = a.s.m[s];
        h5p_wmoments_merge2(&acc, &ws, &lo, &m, a.s.w[s], a.s.lo[s]);
        a.s.m[s] = h5p_moments_empty();
        a.s.w[s] = a.s.lo[s] = 0.0;
    }
    acc.mean += lo;
    a.out[f] = acc;
    a.wsum[f] = ws;
}
H5P_ENTRY(weighted_fold, h5p_wfold_args)

typedef struct wreset_args {
    h5p_wlanes s;
    unsigned long long n;
} wreset_args;

H5P_GLOBAL void weighted_reset(const wreset_args a)
{
    unsigned long long k = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= a.n)
        return;
    a.s.m[k] = h5p_moments_empty();
    a.s.w[k] = a.s.lo[k] = 0.0;
}
H5P_ENTRY(weighted_reset, wreset_args)

H5P_HOST_API cudaError_t h5p_launch_weighted_slab(const h5p_wslab_args *a, cudaStream_t stream)
{
    if (!a->data || !a->w || !a->s.m || a->dtype < H5P_I8 || a->dtype > H5P_F64 || a->features == 0 ||
        a->inner == 0 || a->lanes == 0 || a->row_elems == 0 || a->dec.nfill < 0 || a->dec.nfill > H5P_MAX_FILLS)
        return cudaErrorInvalidValue;
    if (a->outer == 0)
        return cudaSuccess;
    unsigned long long grid = CEIL_DIV(a->features * a->lanes, (unsigned long long)H5P_WEIGHTED_BLOCK);
    if (grid > 0x7fffffffULL)
        return cudaErrorInvalidValue;
    H5P_LAUNCH(weighted_slab, (int)grid, H5P_WEIGHTED_BLOCK, 0, stream, *a);
    return cudaGetLastError();
}

H5P_HOST_API cudaError_t h5p_launch_weighted_fold(const h5p_wfold_args *a, cudaStream_t stream)
{
    if (!a->out || !a->wsum || !a->s.m || a->lanes == 0)
        return cudaErrorInvalidValue;
    if (a->features == 0)
        return cudaSuccess;
    unsigned long long grid = CEIL_DIV(a->features, (unsigned long long)H5P_WEIGHTED_BLOCK);
    if (grid > 0x7fffffffULL)
        return cudaErrorInvalidValue;
    H5P_LAUNCH(weighted_fold, (int)grid, H5P_WEIGHTED_BLOCK, 0, stream, *a);
    return cudaGetLastError();
}

H5P_HOST_API cudaError_t h5p_launch_weighted_reset(h5p_wlanes s, unsigned long long n, cudaStream_t stream)
{
    if (n == 0)
        return cudaSuccess;
    wreset_args a;
    a.s = s;
    a.n = n;
    unsigned long long grid = CEIL_DIV(n, (unsigned long long)H5P_WEIGHTED_BLOCK);
    if (grid > 0x7fffffffULL)
        return cudaErrorInvalidValue;
    H5P_LAUNCH(weighted_reset, (int)grid, H5P_WEIGHTED_BLOCK, 0, stream, a);
    return cudaGetLastError();
}
