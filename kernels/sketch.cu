/* sketch.cu: the quantile sketch's bucket counts on the device: each value's bucket index by the
 * CPU's own function (common/sketch_index.h), counted per row of one feature's values with
 * atomics (integer counts: any order gives the same). The host adds the rows to its sketch
 * (h5p_sketch_add_feature), which gives the CPU's sketch exactly. Same source for nvcc and,
 * through cuda_compat.h, for the SIMT harness. */
#include "cuda_compat.h"
#include "load.h"
#include "launch.h"

#include "common/sketch_index.h"

/* Value j of row r's feature (j < outer * inner), decoded; NaN when missing. */
H5P_DEVICE double row_value(const h5p_sketch_args *a, unsigned long long f, unsigned long long j)
{
    unsigned long long o = j / a->inner, i = j % a->inner;
    return load_value(a->data, a->dtype, (o * a->features + f) * a->inner + i, &a->dec);
}

/* Block r (striding over rows): its threads find the highest index of each store over the row's
 * values (a tree in shared memory: 2 x blockDim long longs), clear the row, then read the values
 * again and count each in its bucket, under the window (below) or as zero. blockDim is a power
 * of two. */
H5P_GLOBAL void sketch_count(const h5p_sketch_args a)
{
    long long *sm = H5P_SHARED(long long);
    unsigned t = threadIdx.x, nb = blockDim.x;
    unsigned long long per = a.outer * a.inner, W = H5P_SKETCH_ROW(a.buckets), B = (unsigned long long)a.buckets;
    for (unsigned long long r = blockIdx.x; r < a.features * a.chunks; r += gridDim.x) {
        unsigned long long f = r / a.chunks, j0 = r % a.chunks * a.chunk;
        unsigned long long j1 = j0 + a.chunk < per ? j0 + a.chunk : per;
        unsigned long long *row = a.rows + r * W;
        long long hi0 = H5P_SKETCH_EMPTY, hi1 = H5P_SKETCH_EMPTY;
        for (unsigned long long j = j0 + t; j < j1; j += nb) {
            double x = row_value(&a, f, j), m = fabs(x);
            if (m >= H5P_SKETCH_MIN_INDEXABLE) { /* NaN fails it too */
                long long k = (long long)h5p_sketch_index(m, a.log2m, a.per_octave);
                if (x > 0)
                    hi1 = k > hi1 ? k : hi1;
                else
                    hi0 = k > hi0 ? k : hi0;
            }
        }
        sm[t] = hi0, sm[nb + t] = hi1;
        for (unsigned long long w = t; w < W; w += nb)
            row[w] = 0;
        __syncthreads();
        for (unsigned stride = nb / 2; stride > 0; stride /= 2) {
            if (t < stride) {
                sm[t] = sm[t + stride] > sm[t] ? sm[t + stride] : sm[t];
                sm[nb + t] = sm[nb + t + stride] > sm[nb + t] ? sm[nb + t + stride] : sm[nb + t];
            }
            __syncthreads();
        }
        long long top0 = sm[0], top1 = sm[nb]; /* scalars, not an array: registers, no local memory */
        unsigned long long below0 = 0, below1 = 0, zero = 0;
        for (unsigned long long j = j0 + t; j < j1; j += nb) {
            double x = row_value(&a, f, j), m = fabs(x);
            if (m >= H5P_SKETCH_MIN_INDEXABLE) {
                long long k = (long long)h5p_sketch_index(m, a.log2m, a.per_octave), top = x > 0 ? top1 : top0;
                if (k <= top - a.buckets && x > 0)
                    below1 += 1;
                else if (k <= top - a.buckets)
                    below0 += 1;
                else
                    atomicAdd(&row[(x > 0 ? B : 0) + (unsigned long long)(k - (top - a.buckets + 1))], 1ULL);
            } else if (x == x) {
                zero += 1;
            }
        }
        if (below0)
            atomicAdd(&row[2 * B], below0);
        if (below1)
            atomicAdd(&row[2 * B + 1], below1);
        if (zero)
            atomicAdd(&row[2 * B + 2], zero);
        if (t == 0) {
            row[2 * B + 3] = (unsigned long long)top0;
            row[2 * B + 4] = (unsigned long long)top1;
        }
        __syncthreads(); /* sm is rewritten for the next row */
    }
}
H5P_ENTRY(sketch_count, h5p_sketch_args)

H5P_HOST_API cudaError_t h5p_launch_sketch_count(const h5p_sketch_args *a, cudaStream_t stream)
{
    unsigned long long rows = a->features * a->chunks;
    if (!a->data || !a->rows || !a->log2m || a->dtype < H5P_I8 || a->dtype > H5P_F64 || rows == 0 || a->inner == 0 ||
        a->chunk == 0 || a->buckets < 1 || a->dec.nfill < 0 || a->dec.nfill > H5P_MAX_FILLS)
        return cudaErrorInvalidValue;
    int grid = rows < 65535 ? (int)rows : 65535;
    H5P_LAUNCH(sketch_count, grid, H5P_SKETCH_BLOCK, 2 * (size_t)H5P_SKETCH_BLOCK * sizeof(long long), stream, *a);
    return cudaGetLastError();
}
