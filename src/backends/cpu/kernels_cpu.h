/* kernels_cpu.h: the CPU backend's hot loops as a dispatch table, one per instruction set (portable
 * C always, AVX2 and AVX-512 on x86-64), chosen once per backend from the CPU and H5PREP_ISA. */
#ifndef H5PREP_KERNELS_CPU_H
#define H5PREP_KERNELS_CPU_H

#include "h5prep.h"
#include "common/decode.h"
#include "common/dtype.h"

#include <stddef.h>
#include <stdint.h>

/* Every path computes each value with the same operations in the same order: decoding is per
 * value (raw * scale + offset as a multiply and then an add, never fused: -ffp-contract=off), and
 * the moment passes vectorize across the columns of a block, never along its rows, so that every
 * column's sums add its rows one by one in row order whatever the vector width. Results are
 * therefore the same to the last bit on every path. */
typedef enum h5p_cpu_isa { H5P_ISA_GENERIC, H5P_ISA_AVX2, H5P_ISA_AVX512, H5P_ISA_COUNT } h5p_cpu_isa;

enum { H5P_NDTYPES = H5P_F64 + 1, H5P_NCASTS = H5P_OUT_BF16 + 1 };

/* Decodes n stored values to float64, missing values (decode.h) as NaN. */
typedef void (*h5p_decode_fn)(const void *src, const h5p_decode *d, size_t n, double *dst);

/* The transform's finish over n values of a row: y[j] = cast((x[j] - shift[j]) / div[j]), a
 * subtraction then a division in float64 and the cast of common/half.h (float16, bfloat16) or C's
 * (float32); x: (n,) float32 or float64 (the staged type), shift, div: (n,) the factors of each
 * value's feature, y: (n,) of the output's dtype. */
typedef void (*h5p_normalize_fn)(const void *x, size_t n, const double *shift, const double *div, void *y);

/* The passes of h5p_cpu_block_stats over x: (rows, F) float64, NaN for missing; every array
 * argument has F entries (one per column) and is updated in place. */
typedef struct h5p_cpu_kernels {
    const char *isa; /* "generic", "avx2", "avx512" */
    h5p_decode_fn decode[H5P_NDTYPES];
    /* y[j] = (float)x[j], j < n: the staging of rows as float32 */
    void (*to_f32)(const double *x, size_t n, float *y);
    h5p_normalize_fn normalize[2][H5P_NCASTS]; /* [staged as float64][output dtype] */
    /* cnt += 1, sum += v over the values that are not NaN; mn, mx: min and max (NaN ignored) */
    void (*sums)(const double *x, size_t rows, size_t F, double *cnt, double *sum, double *mn, double *mx);
    /* sum += v * unit over the values that are not NaN */
    void (*unit_sums)(const double *x, size_t rows, size_t F, const double *unit, double *sum);
    /* d = v * unit - mu (v - mu when unit is NULL); d1 += d, d2 += d * d where d is not NaN */
    void (*deviations)(const double *x, size_t rows, size_t F, const double *mu, const double *unit, double *d1,
                       double *d2);
} h5p_cpu_kernels;

/* The table of `isa`, or NULL when it is not built in or this CPU lacks the instructions. */
const h5p_cpu_kernels *h5p_cpu_kernels_for(h5p_cpu_isa isa);
/* The table to use: H5PREP_ISA (generic, avx2 or avx512) when set, else the widest this CPU runs.
 * H5PREP_ERR_BACKEND when H5PREP_ISA names an unknown path or one this CPU cannot run. */
h5prep_status h5p_cpu_kernels_choose(const h5p_cpu_kernels **out);

/* The portable kernels on columns [f0, F) only: the vector paths finish their last columns with
 * them, and their decoders and transform loops finish the last values with the entries of
 * h5p_cpu_kernels_generic. */
extern const h5p_cpu_kernels h5p_cpu_kernels_generic;
void h5p_generic_sums(const double *x, size_t rows, size_t F, size_t f0, double *cnt, double *sum, double *mn,
                      double *mx);
void h5p_generic_unit_sums(const double *x, size_t rows, size_t F, size_t f0, const double *unit, double *sum);
void h5p_generic_deviations(const double *x, size_t rows, size_t F, size_t f0, const double *mu, const double *unit,
                            double *d1, double *d2);

/* A decoder's constants for the vector paths: for the types up to 32 bits and the float types every
 * test can be made in float64 (exact), with the fill values and valid range converted once. */
typedef struct h5p_decode_consts {
    int plain;                  /* h5p_decode_is_plain(): only NaN/Inf are missing */
    int nfill;                  /* fill[0..nfill) */
    int range;                  /* whether [lo, hi] can leave out a value */
    double fill[H5P_MAX_FILLS]; /* the fill values as values of the stored type, in float64 */
    double lo, hi;              /* the valid range in float64 (64-bit integers: unused) */
} h5p_decode_consts;
void h5p_decode_consts_init(h5p_dtype t, const h5p_decode *d, h5p_decode_consts *c);

/* Defined in kernels_avx2.c and kernels_avx512.c when built (H5PREP_HAVE_X86_SIMD). */
extern const h5p_cpu_kernels h5p_cpu_kernels_avx2, h5p_cpu_kernels_avx512;

#endif
