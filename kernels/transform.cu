/* transform.cu: the transform kernels: a gather through an output's index map (broadcast, pad,
 * concat, stack, reshape and slice are all one such map, see src/plan/plan.h), the normalize+cast
 * and normalize: quantile's CDF+cast (the CPU's lookup, common/sketch_cdf.h).
 * The CPU backend (src/backends/cpu/transform_cpu.c) is their reference; copies agree bit for bit. */
#include "cuda_compat.h"
#include "common/half.h"
#include "common/sketch_cdf.h"
#include "load.h"
#include "launch.h"


enum { TX_BLOCK = 256 };

/* Grid-stride over the rows*elems outputs; neighbouring threads write neighbouring elements. */
H5P_GLOBAL void gather(const h5p_gather_args a)
{
    unsigned long long total = a.rows * a.elems, stride = (unsigned long long)gridDim.x * blockDim.x;
    for (unsigned long long k = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += stride) {
        unsigned long long i = k / a.elems, j = k - i * a.elems;
        unsigned int v = a.vidx[j], s = a.sidx[j];
        double x;
        if (v == a.nvars) {
            x = a.constants[s];
        } else {
            const h5p_gvar *g = &a.vars[v];
            x = load_value(g->data, g->dtype, (unsigned long long)a.order[i] * g->elems + s, &g->dec);
        }
        if (a.out_f64)
            ((double *)a.out)[k] = x;
        else
            ((float *)a.out)[k] = (float)x;
    }
}
H5P_ENTRY(gather, h5p_gather_args)

/* out[k] = y cast to out_dtype (h5p_out_dtype). */
H5P_DEVICE void store_cast(void *out, int out_dtype, unsigned long long k, double y)
{
    switch (out_dtype) {
    case H5P_OUT_F32: ((float *)out)[k] = (float)y; break;
    case H5P_OUT_F64: ((double *)out)[k] = y; break;
    case H5P_OUT_F16: ((unsigned short *)out)[k] = h5p_f64_to_f16(y); break;
    default: ((unsigned short *)out)[k] = h5p_f64_to_bf16(y); break;
    }
}

H5P_GLOBAL void finish(const h5p_finish_args a)
{
    unsigned long long total = a.rows * a.elems, stride = (unsigned long long)gridDim.x * blockDim.x;
    for (unsigned long long k = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += stride) {
        unsigned long long f = (k % a.elems) / a.inner % a.features;
        double x = a.in_f64 ? ((const double *)a.in)[k] : (double)((const float *)a.in)[k];
        store_cast(a.out, a.out_dtype, k, (x - a.shift[f]) / a.div[f]);
    }
}
H5P_ENTRY(finish, h5p_finish_args)

/* One thread per value: a binary search in its feature's entries (2 x buckets + 3 at most), the
 * CPU's own. */
H5P_GLOBAL void finish_cdf(const h5p_finish_args a)
{
    unsigned long long total = a.rows * a.elems, stride = (unsigned long long)gridDim.x * blockDim.x;
    for (unsigned long long k = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += stride) {
        unsigned long long f = (k % a.elems) / a.inner % a.features;
        double x = a.in_f64 ? ((const double *)a.in)[k] : (double)((const float *)a.in)[k];
        store_cast(a.out, a.out_dtype, k, h5p_cdf_lookup(a.order, a.p, a.off[f], a.off[f + 1], x, a.log2m, a.per_octave));
    }
}
H5P_ENTRY(finish_cdf, h5p_finish_args)

/* Enough blocks to cover the work, at most max_blocks (the loops stride over the rest). */
static int grid_for(unsigned long long total, unsigned int max_blocks)
{
    unsigned long long g = (total + TX_BLOCK - 1) / TX_BLOCK;
    return g > max_blocks ? (int)max_blocks : (int)g;
}

H5P_HOST_API cudaError_t h5p_launch_gather(const h5p_gather_args *a, cudaStream_t stream)
{
    if (!a->vars || !a->vidx || !a->sidx || !a->order || !a->out || a->elems == 0 || a->max_blocks == 0 ||
        a->max_blocks > 65535)
        return cudaErrorInvalidValue;
    if (a->rows == 0)
        return cudaSuccess;
    H5P_LAUNCH(gather, grid_for(a->rows * a->elems, a->max_blocks), TX_BLOCK, 0, stream, *a);
    return cudaGetLastError();
}

/* The affine finish, or the CDF finish when a->off is set. */
H5P_HOST_API cudaError_t h5p_launch_finish(const h5p_finish_args *a, cudaStream_t stream)
{
    int cdf = a->off != NULL;
    if (!a->in || !a->out || (cdf ? !a->order || !a->p || !a->log2m : !a->shift || !a->div) || a->elems == 0 ||
        a->features == 0 || a->inner == 0 || a->elems % (a->features * a->inner) != 0 || a->max_blocks == 0 ||
        a->max_blocks > 65535 || a->out_dtype < H5P_OUT_F32 || a->out_dtype > H5P_OUT_BF16)
        return cudaErrorInvalidValue;
    if (a->rows == 0)
        return cudaSuccess;
    if (cdf)
        H5P_LAUNCH(finish_cdf, grid_for(a->rows * a->elems, a->max_blocks), TX_BLOCK, 0, stream, *a);
    else
        H5P_LAUNCH(finish, grid_for(a->rows * a->elems, a->max_blocks), TX_BLOCK, 0, stream, *a);
    return cudaGetLastError();
}
