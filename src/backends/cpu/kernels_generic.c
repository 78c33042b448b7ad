/* kernels_generic.c: the portable C path of the CPU kernels (kernels_cpu.h), always built and
 * compiled for baseline x86-64; the AVX2 and AVX-512 paths give the same bits and end with it. */
#include "backends/cpu/kernels_cpu.h"

#include "common/half.h"

#include <float.h>
#include <math.h>
#include <stdint.h>

/* ---- decoding: stored type -> float64, missing -> NaN ---------------------------------- */

/* One pass over the block: a value is missing when FILL (a test of v against the fill values) holds
 * or when X, the value as the valid range compares it, lies outside [lo, hi]. */
#define DECODE_LOOP(T, X, FILL)                                                                    \
    for (size_t i = 0; i < n; i++) {                                                               \
        T v = s[i];                                                                                \
        dst[i] = h5p_decode_value((double)v, (FILL) | ((X) < lo) | ((X) > hi), &dd);               \
    }
#define FOUR_FILLS ((v == f0) | (v == f1) | (v == f2) | (v == f3))

/* Fill values beyond the fourth: one more select pass each over the block, still in cache. */
#define EXTRA_FILLS(T, M)                                                                          \
    for (int k = 4; k < d->nfill; k++) {                                                           \
        const T fk = (T)d->fill[k].M;                                                              \
        for (size_t i = 0; i < n; i++)                                                             \
            dst[i] = s[i] == fk ? NAN : dst[i];                                                    \
    }

/* Without fill values, packing or a valid range only NaN/Inf are missing. */
#define PLAIN_LOOP(T)                                                                              \
    for (size_t i = 0; i < n; i++) {                                                               \
        double x = (double)s[i];                                                                   \
        dst[i] = fabs(x) <= DBL_MAX ? x : NAN;                                                     \
    }

/* The fill values to compare in the first pass, as T: fill[0..3], the first repeated. */
#define FIRST_FILLS(T, M)                                                                          \
    T fill[4];                                                                                     \
    for (int k = 0; k < 4; k++)                                                                    \
        fill[k] = (T)d->fill[k < d->nfill ? k : 0].M;                                              \
    const T f0 = fill[0], f1 = fill[1], f2 = fill[2], f3 = fill[3];

/* Without fill values, packing or a valid range: PLAIN_LOOP, and the decoder is done. */
#define PLAIN_RETURN(T)                                                                            \
    if (h5p_decode_is_plain(d)) {                                                                  \
        PLAIN_LOOP(T)                                                                              \
        return;                                                                                    \
    }

/* Integer types: fills (member M of h5p_stored) and the valid range compare as integers of T, so
 * that 64-bit values compare exactly; without a valid range [lo, hi] is T's whole range. A block
 * without a fill value has its own loop. */
#define DEFINE_DECODE_INT(T, NAME, M, TMIN, TMAX)                                                  \
    static void decode_##NAME(const void *src, const h5p_decode *d, size_t n, double *dst)     \
    {                                                                                              \
        const T *s = src;                                                                          \
        PLAIN_RETURN(T)                                                                            \
        const h5p_decode dd = *d; /* a local copy: no aliasing with dst */                         \
        const T lo = d->int_range ? (T)d->lo.M : (T)(TMIN), hi = d->int_range ? (T)d->hi.M : (T)(TMAX); \
        if (d->nfill > 0) {                                                                        \
            FIRST_FILLS(T, M)                                                                      \
            DECODE_LOOP(T, v, FOUR_FILLS)                                                          \
        } else {                                                                                   \
            DECODE_LOOP(T, v, 0)                                                                   \
        }                                                                                          \
        EXTRA_FILLS(T, M)                                                                          \
    }

/* Float types: fill values are values of T; the valid range (vmin, vmax) is exact in float64. */
#define DEFINE_DECODE_FLOAT(T, NAME)                                                               \
    static void decode_##NAME(const void *src, const h5p_decode *d, size_t n, double *dst)     \
    {                                                                                              \
        const T *s = src;                                                                          \
        PLAIN_RETURN(T)                                                                            \
        const h5p_decode dd = *d;                                                                  \
        const double lo = d->vmin, hi = d->vmax;                                                   \
        if (d->nfill > 0) {                                                                        \
            FIRST_FILLS(T, f)                                                                      \
            DECODE_LOOP(T, (double)v, FOUR_FILLS)                                                  \
        } else {                                                                                   \
            DECODE_LOOP(T, (double)v, 0)                                                           \
        }                                                                                          \
        EXTRA_FILLS(T, f)                                                                          \
    }

DEFINE_DECODE_INT(int8_t, i8, i, INT8_MIN, INT8_MAX)
DEFINE_DECODE_INT(uint8_t, u8, u, 0, UINT8_MAX)
DEFINE_DECODE_INT(int16_t, i16, i, INT16_MIN, INT16_MAX)
DEFINE_DECODE_INT(uint16_t, u16, u, 0, UINT16_MAX)
DEFINE_DECODE_INT(int32_t, i32, i, INT32_MIN, INT32_MAX)
DEFINE_DECODE_INT(uint32_t, u32, u, 0, UINT32_MAX)
DEFINE_DECODE_INT(int64_t, i64, i, INT64_MIN, INT64_MAX)
DEFINE_DECODE_INT(uint64_t, u64, u, 0, UINT64_MAX)
DEFINE_DECODE_FLOAT(float, f32)
DEFINE_DECODE_FLOAT(double, f64)

/* The value v of type t (as decode.h stores it) in float64: exact for every type up to 32 bits. */
static double stored_double(h5p_dtype t, h5p_stored v)
{
    switch (t) {
    case H5P_I8: return (int8_t)v.i;
    case H5P_U8: return (uint8_t)v.u;
    case H5P_I16: return (int16_t)v.i;
    case H5P_U16: return (uint16_t)v.u;
    case H5P_I32: return (int32_t)v.i;
    case H5P_U32: return (uint32_t)v.u;
    case H5P_I64: return (double)(int64_t)v.i;
    case H5P_U64: return (double)(uint64_t)v.u;
    case H5P_F32: return (float)v.f;
    default: return v.f;
    }
}

void h5p_decode_consts_init(h5p_dtype t, const h5p_decode *d, h5p_decode_consts *c)
{
    int is_float = t == H5P_F32 || t == H5P_F64;
    c->plain = h5p_decode_is_plain(d);
    c->nfill = d->nfill;
    for (int k = 0; k < d->nfill; k++)
        c->fill[k] = stored_double(t, d->fill[k]);
    c->range = is_float ? d->vmin > -INFINITY || d->vmax < INFINITY : d->int_range;
    c->lo = is_float ? d->vmin : d->int_range ? stored_double(t, d->lo) : -INFINITY;
    c->hi = is_float ? d->vmax : d->int_range ? stored_double(t, d->hi) : INFINITY;
}

/* ---- the moment passes, on columns [f0, F) of each row ---------------------------------- */

void h5p_generic_sums(const double *restrict x, size_t rows, size_t F, size_t f0, double *restrict cnt,
                      double *restrict sum, double *restrict mn, double *restrict mx)
{
    for (size_t r = 0; r < rows; r++) {
        const double *restrict row = x + r * F;
        for (size_t f = f0; f < F; f++) {
            double v = row[f];
            int ok = v == v;
            cnt[f] += ok ? 1.0 : 0.0;
            sum[f] += ok ? v : 0.0;
            mn[f] = v < mn[f] ? v : mn[f];
            mx[f] = v > mx[f] ? v : mx[f];
        }
    }
}

void h5p_generic_unit_sums(const double *restrict x, size_t rows, size_t F, size_t f0, const double *restrict unit,
                           double *restrict sum)
{
    for (size_t r = 0; r < rows; r++) {
        const double *restrict row = x + r * F;
        for (size_t f = f0; f < F; f++) {
            double v = row[f];
            sum[f] += v == v ? v * unit[f] : 0.0;
        }
    }
}

/* d1 += d, d2 += d * d over the deviations d = X - mu that are not NaN */
#define DEVIATION_LOOP(X)                                                                          \
    for (size_t r = 0; r < rows; r++) {                                                            \
        const double *restrict row = x + r * F;                                                    \
        for (size_t f = f0; f < F; f++) {                                                          \
            double d = (X) - mu[f];                                                                \
            int ok = d == d;                                                                       \
            d1[f] += ok ? d : 0.0;                                                                 \
            d2[f] += ok ? d * d : 0.0;                                                             \
        }                                                                                          \
    }

void h5p_generic_deviations(const double *restrict x, size_t rows, size_t F, size_t f0, const double *restrict mu,
                            const double *restrict unit, double *restrict d1, double *restrict d2)
{
    if (unit) {
        DEVIATION_LOOP(row[f] * unit[f])
    } else {
        DEVIATION_LOOP(row[f])
    }
}

/* ---- the transform's loops ------------------------------------------------------------- */

static void to_f32(const double *restrict x, size_t n, float *restrict y)
{
    for (size_t j = 0; j < n; j++)
        y[j] = (float)x[j];
}

#define CAST_F32(v) ((float)(v))
#define CAST_F64(v) (v)
#define DEFINE_NORMALIZE(NAME, IN_T, OUT_T, CAST)                                                  \
    static void normalize_##NAME(const void *x, size_t n, const double *restrict shift,            \
                                 const double *restrict div, void *y)                              \
    {                                                                                              \
        const IN_T *restrict s = x;                                                                \
        OUT_T *restrict d = y;                                                                     \
        for (size_t j = 0; j < n; j++)                                                             \
            d[j] = CAST(((double)s[j] - shift[j]) / div[j]);                                       \
    }
DEFINE_NORMALIZE(f32_f32, float, float, CAST_F32)
DEFINE_NORMALIZE(f32_f64, float, double, CAST_F64)
DEFINE_NORMALIZE(f32_f16, float, uint16_t, h5p_f64_to_f16)
DEFINE_NORMALIZE(f32_bf16, float, uint16_t, h5p_f64_to_bf16)
DEFINE_NORMALIZE(f64_f32, double, float, CAST_F32)
DEFINE_NORMALIZE(f64_f64, double, double, CAST_F64)
DEFINE_NORMALIZE(f64_f16, double, uint16_t, h5p_f64_to_f16)
DEFINE_NORMALIZE(f64_bf16, double, uint16_t, h5p_f64_to_bf16)

static void sums(const double *x, size_t rows, size_t F, double *cnt, double *sum, double *mn, double *mx)
{
    h5p_generic_sums(x, rows, F, 0, cnt, sum, mn, mx);
}

static void unit_sums(const double *x, size_t rows, size_t F, const double *unit, double *sum)
{
    h5p_generic_unit_sums(x, rows, F, 0, unit, sum);
}

static void deviations(const double *x, size_t rows, size_t F, const double *mu, const double *unit, double *d1,
                       double *d2)
{
    h5p_generic_deviations(x, rows, F, 0, mu, unit, d1, d2);
}

const h5p_cpu_kernels h5p_cpu_kernels_generic = {
    .isa = "generic",
    .decode = {decode_i8, decode_u8, decode_i16, decode_u16, decode_i32, decode_u32, decode_i64, decode_u64,
               decode_f32, decode_f64},
    .to_f32 = to_f32,
    .normalize = {{normalize_f32_f32, normalize_f32_f64, normalize_f32_f16, normalize_f32_bf16},
                  {normalize_f64_f32, normalize_f64_f64, normalize_f64_f16, normalize_f64_bf16}},
    .sums = sums,
    .unit_sums = unit_sums,
    .deviations = deviations,
};
