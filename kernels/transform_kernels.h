/* transform_kernels.h: the transform kernels' arguments and launchers, shared by
 * kernels/transform.cu and the CUDA backend's host code (src/tx_cuda.c). Plain C. */
#ifndef H5PREP_TRANSFORM_KERNELS_H
#define H5PREP_TRANSFORM_KERNELS_H

#if defined(H5PREP_SIMT)
#include "simt.h"
#else
#include <cuda_runtime.h>
#endif

#include "common/decode.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One variable's rows of a slab on the device. */
typedef struct h5p_gvar {
    const void *data;           /* (rows, elems) stored type */
    int dtype;                  /* h5p_dtype */
    unsigned long long elems;   /* per sample */
    h5p_decode dec;
} h5p_gvar;

/* out[i, j] = element sidx[j] of sample order[i] of variable vidx[j], decoded; constants[sidx[j]]
 * where vidx[j] == nvars. Stored as float64 (out_f64) or float32. */
typedef struct h5p_gather_args {
    const h5p_gvar *vars;       /* (nvars,) */
    unsigned int nvars;
    const double *constants;
    const unsigned int *vidx, *sidx; /* (elems,) */
    const unsigned int *order;  /* (rows,) */
    unsigned long long rows, elems;
    int out_f64;
    void *out;                  /* (rows, elems) */
    unsigned int max_blocks;    /* grid limit: enough blocks to fill the device, the loop strides */
} h5p_gather_args;

/* out[i, j] = cast((in[i, j] - shift[f]) / div[f]), f = (j / inner) % features; out_dtype:
 * h5p_out_dtype. */
typedef struct h5p_finish_args {
    const void *in;             /* (rows, elems) float32, or float64 when in_f64 */
    int in_f64;
    void *out;                  /* (rows, elems) of out_dtype */
    int out_dtype;
    const double *shift, *div;  /* (features,) */
    unsigned long long rows, elems, features, inner;
    unsigned int max_blocks;
} h5p_finish_args;

cudaError_t h5p_launch_gather(const h5p_gather_args *a, cudaStream_t stream);
cudaError_t h5p_launch_finish(const h5p_finish_args *a, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
