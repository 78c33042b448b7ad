/* hd.h: the two definitions that host code and CUDA kernels both need: H5PREP_HD marks a function
 * that is compiled for the host and the device (empty under a plain C compiler), and CEIL_DIV. */
#ifndef H5PREP_HD_H
#define H5PREP_HD_H

#ifdef __CUDACC__
#define H5PREP_HD __host__ __device__
#else
#define H5PREP_HD
#endif

#define CEIL_DIV(a, b) (((a) + (b)-1) / (b))

#endif
