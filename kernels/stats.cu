/* stats.cu: the CUDA statistics kernels: per-thread partial states over a staged slab in its
 * stored type (decoded on the device), then a fixed-order merge per feature into accumulators.
 * Same source for nvcc and, through cuda_compat.h, for the SIMT harness used by the tests. */
#include "cuda_compat.h"
#include "load.h"
#include "launch.h"


enum { RUN = 32 }; /* values per run: one pivot, then one merge into the thread's state */

/* in: a.count stored values; out: a.part[g] for g < a.threads. Thread g reads values g,
 * g + threads, ... (coalesced), all of one feature. Each run of RUN values is summed around a
 * pivot (the running mean, or the run's first value) and merged into the thread's state. Once
 * the thread has met a value beyond 2^480 (so that a deviation could overflow when squared,
 * or a sum), its runs are summed again in units of 2^600 (exact: a power of two): no sum or
 * square overflows unless m2 itself exceeds DBL_MAX, where it is +inf. Bounded to 4 blocks of
 * 256 per SM (at most 64 registers; ptxas needs 50 without spilling, 70 unbounded). */
H5P_GLOBAL void H5P_BOUNDS(H5P_STATS_BLOCK, 4) stats_partial(const h5p_stats_args a)
{
    const double BIG = 0x1p480, UNIT = 0x1p-600, BACK = 0x1p600; /* UNIT * BACK = 1 */
    unsigned long long g = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= a.threads)
        return;
    double n = 0, miss = 0, mean = 0, m2 = 0, lo = INFINITY, hi = -INFINITY;
    unsigned long long i = g;
    while (i < a.count) {
        unsigned long long i0 = i;
        double pivot = n > 0 ? mean : NAN, c = 0, s1 = 0, s2 = 0;
        for (int r = 0; r < RUN && i < a.count; r++, i += a.threads) {
            double x = load_value(a.data, a.dtype, i, &a.dec);
            if (x == x) {
                pivot = pivot == pivot ? pivot : x;
                double d = x - pivot;
                c += 1;
                s1 += d;
                s2 += d * d;
                lo = x < lo ? x : lo;
                hi = x > hi ? x : hi;
            } else {
                miss += 1;
            }
        }
        if (c > 0) {
            double back = 1.0;
            if (-lo > BIG || hi > BIG) { /* rare: the run again, in units */
                back = BACK;
                double p = pivot * UNIT;
                s1 = s2 = 0;
                for (int r = 0; r < RUN && i0 < a.count; r++, i0 += a.threads) {
                    double x = load_value(a.data, a.dtype, i0, &a.dec);
                    double d = x * UNIT - p;
                    s1 += x == x ? d : 0.0;
                    s2 += x == x ? d * d : 0.0;
                }
                pivot = p;
            }
            double rm2 = s2 - s1 * s1 / c;
            h5p_merge_into(&n, &mean, &m2, c, (pivot + s1 / c) * back, (rm2 > 0 ? rm2 : 0.0) * back * back);
        }
    }
    a.part.n[g] = n;
    a.part.missing[g] = miss;
    a.part.mean[g] = mean;
    a.part.m2[g] = m2;
    a.part.min[g] = lo;
    a.part.max[g] = hi;
}
H5P_ENTRY(stats_partial, h5p_stats_args)

/* One state in registers; merged with another by Chan's rule (h5p_merge_into). */
typedef struct state6 {
    double n, missing, mean, m2, min, max;
} state6;

H5P_DEVICE void merge6(state6 *a, double n, double missing, double mean, double m2, double lo, double hi)
{
    h5p_merge_into(&a->n, &a->mean, &a->m2, n, mean, m2);
    a->missing += missing;
    a->min = lo < a->min ? lo : a->min;
    a->max = hi > a->max ? hi : a->max;
}

/* Block f (striding over features): its threads merge the per-thread states of feature f in a
 * fixed order, then a tree in shared memory (6 x blockDim doubles) and a warp of shuffles join
 * them; thread 0 merges the result into acc[base + f]. blockDim is a power of two >= 64. */
H5P_GLOBAL void stats_merge(const h5p_merge_args a)
{
    double *sm = H5P_SHARED(double);
    unsigned t = threadIdx.x, nb = blockDim.x;
    unsigned long long per = a.threads / a.features; /* per-thread states of one feature */
    for (unsigned long long f = blockIdx.x; f < a.features; f += gridDim.x) {
        state6 s = {0, 0, 0, 0, INFINITY, -INFINITY};
        for (unsigned long long j = t; j < per; j += nb) {
            unsigned long long g = (f + a.features * (j / a.inner)) * a.inner + j % a.inner;
            merge6(&s, a.part.n[g], a.part.missing[g], a.part.mean[g], a.part.m2[g], a.part.min[g], a.part.max[g]);
        }
        sm[t] = s.n, sm[nb + t] = s.missing, sm[2 * nb + t] = s.mean;
        sm[3 * nb + t] = s.m2, sm[4 * nb + t] = s.min, sm[5 * nb + t] = s.max;
        __syncthreads();
        for (unsigned stride = nb / 2; stride >= 32; stride /= 2) {
            if (t < stride) {
                unsigned o = t + stride;
                merge6(&s, sm[o], sm[nb + o], sm[2 * nb + o], sm[3 * nb + o], sm[4 * nb + o], sm[5 * nb + o]);
                sm[t] = s.n, sm[nb + t] = s.missing, sm[2 * nb + t] = s.mean;
                sm[3 * nb + t] = s.m2, sm[4 * nb + t] = s.min, sm[5 * nb + t] = s.max;
            }
            __syncthreads();
        }
        if (t < 32) {
            for (int off = 16; off > 0; off /= 2) {
                double on = __shfl_down_sync(0xffffffffu, s.n, off);
                double omiss = __shfl_down_sync(0xffffffffu, s.missing, off);
                double omean = __shfl_down_sync(0xffffffffu, s.mean, off);
                double om2 = __shfl_down_sync(0xffffffffu, s.m2, off);
                double olo = __shfl_down_sync(0xffffffffu, s.min, off);
                double ohi = __shfl_down_sync(0xffffffffu, s.max, off);
                if (t + off < 32)
                    merge6(&s, on, omiss, omean, om2, olo, ohi);
            }
        }
        if (t == 0) {
            unsigned long long k = a.base + f;
            state6 acc = {a.acc.n[k], a.acc.missing[k], a.acc.mean[k], a.acc.m2[k], a.acc.min[k], a.acc.max[k]};
            merge6(&acc, s.n, s.missing, s.mean, s.m2, s.min, s.max);
            a.acc.n[k] = acc.n, a.acc.missing[k] = acc.missing, a.acc.mean[k] = acc.mean;
            a.acc.m2[k] = acc.m2, a.acc.min[k] = acc.min, a.acc.max[k] = acc.max;
        }
        __syncthreads(); /* sm is rewritten for the next feature */
    }
}
H5P_ENTRY(stats_merge, h5p_merge_args)

typedef struct reset_args {
    h5p_states s;
    unsigned long long n;
} reset_args;

H5P_GLOBAL void states_reset(const reset_args a)
{
    unsigned long long k = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= a.n)
        return;
    a.s.n[k] = a.s.missing[k] = a.s.mean[k] = a.s.m2[k] = 0.0;
    a.s.min[k] = INFINITY;
    a.s.max[k] = -INFINITY;
}
H5P_ENTRY(states_reset, reset_args)


H5P_HOST_API cudaError_t h5p_launch_stats_partial(const h5p_stats_args *a, cudaStream_t stream)
{
    unsigned long long period = a->features * a->inner;
    if (!a->data || a->count == 0 || a->dtype < H5P_I8 || a->dtype > H5P_F64 || period == 0 ||
        a->threads == 0 || a->threads % period != 0 || a->dec.nfill < 0 || a->dec.nfill > H5P_MAX_FILLS)
        return cudaErrorInvalidValue;
    unsigned long long grid = CEIL_DIV(a->threads, (unsigned long long)H5P_STATS_BLOCK);
    if (grid > 0x7fffffffULL)
        return cudaErrorInvalidValue;
    H5P_LAUNCH(stats_partial, (int)grid, H5P_STATS_BLOCK, 0, stream, *a);
    return cudaGetLastError();
}

H5P_HOST_API cudaError_t h5p_launch_stats_merge(const h5p_merge_args *a, cudaStream_t stream)
{
    if (a->features == 0 || a->inner == 0 || a->threads % (a->features * a->inner) != 0)
        return cudaErrorInvalidValue;
    /* a block no wider than the states it merges per feature: 64, 128 or 256 threads */
    unsigned long long per = a->threads / a->features;
    int block = per <= 64 ? 64 : per <= 128 ? 128 : H5P_MERGE_BLOCK;
    int grid = a->features < 65535 ? (int)a->features : 65535;
    H5P_LAUNCH(stats_merge, grid, block, 6 * (size_t)block * sizeof(double), stream, *a);
    return cudaGetLastError();
}

H5P_HOST_API cudaError_t h5p_launch_states_reset(h5p_states s, unsigned long long n, cudaStream_t stream)
{
    if (n == 0)
        return cudaSuccess;
    reset_args a;
    a.s = s;
    a.n = n;
    H5P_LAUNCH(states_reset, (int)CEIL_DIV(n, 256ULL), 256, 0, stream, a);
    return cudaGetLastError();
}
