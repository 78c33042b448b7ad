/* dtype.h: the element types h5prep reads (stored types, native byte order once staged) and
 * writes (the output types of a transform's `cast`). Shared by host code and the CUDA kernels. */
#ifndef H5PREP_DTYPE_H
#define H5PREP_DTYPE_H

#include <stddef.h>

/* Element types as they sit in a staging buffer (native byte order). */
typedef enum h5p_dtype {
    H5P_I8, H5P_U8, H5P_I16, H5P_U16, H5P_I32, H5P_U32, H5P_I64, H5P_U64, H5P_F32, H5P_F64
} h5p_dtype;

/* Output types of a transform (bfloat16 is stored as uint16 bit patterns). */
typedef enum h5p_out_dtype { H5P_OUT_F32, H5P_OUT_F64, H5P_OUT_F16, H5P_OUT_BF16 } h5p_out_dtype;

size_t h5p_dtype_size(h5p_dtype t);
const char *h5p_dtype_name(h5p_dtype t);           /* "int8" ... "float64" */
size_t h5p_out_dtype_size(h5p_out_dtype t);
const char *h5p_out_dtype_name(h5p_out_dtype t);   /* "float32", "float64", "float16", "bfloat16" */

#endif
