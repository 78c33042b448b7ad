/* dtype.c: sizes and names of the stored and output element types (common/dtype.h). */
#include "common/dtype.h"

size_t h5p_dtype_size(h5p_dtype t)
{
    static const size_t sz[] = {1, 1, 2, 2, 4, 4, 8, 8, 4, 8};
    return sz[t];
}

const char *h5p_dtype_name(h5p_dtype t)
{
    static const char *nm[] = {"int8",   "uint8",  "int16", "uint16",  "int32",
                               "uint32", "int64",  "uint64", "float32", "float64"};
    return nm[t];
}

size_t h5p_out_dtype_size(h5p_out_dtype t)
{
    switch (t) {
    case H5P_OUT_F32: return 4;
    case H5P_OUT_F64: return 8;
    case H5P_OUT_F16: return 2;
    case H5P_OUT_BF16: return 2;
    }
    return 0;
}

const char *h5p_out_dtype_name(h5p_out_dtype t)
{
    static const char *nm[] = {"float32", "float64", "float16", "bfloat16"};
    return (unsigned)t < sizeof nm / sizeof nm[0] ? nm[t] : "unknown";
}
