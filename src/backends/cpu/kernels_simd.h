/* kernels_simd.h: the vector paths' kernels written once over a few vector macros, included by
 * kernels_avx2.c and kernels_avx512.c, which define the macros and name the table (kernels_cpu.h).
 *
 * The including file defines: VD (W float64 lanes), VM (a lane mask), VI (W 64-bit integers);
 * V_LOADU/V_STOREU/V_SET1/V_ADD/V_SUB/V_MUL; V_MIN(a, b) = a < b ? a : b and V_MAX(a, b) =
 * a > b ? a : b lane by lane (minpd/maxpd: b where either is NaN, as the portable loops); M_EQ,
 * M_LT, M_GT (ordered compares), M_OR, M_ANDNOT(a, b) = ~a & b, M_NONE, M_FINITE(x) (|x| <= DBL_MAX);
 * V_KEEP(m, v) = m ? v : +0, V_SELECT(m, a, b) = m ? a : b; LOAD_<type>(p): W stored values as
 * float64; VI_LOADU, VI_SET1, MI_EQ, MI_LT_S/MI_GT_S (signed), MI_LT_U/MI_GT_U (unsigned),
 * CVT_I64/CVT_U64 (correctly rounded, as a C cast); CHUNK: vectors of columns per pass; TABLE.
 * For the transform: V_DIV; STORE_F32(p, v): W floats, rounded as a C cast; V_BITS(v): the bits of v as VI; VI_AND, VI_OR,
 * VI_ADD, VI_SUB, VI_SRLI/VI_SLLI (constant count), VI_SRLV/VI_SLLV (count per lane, 0 past 63),
 * VI_SELECT(m, a, b) = m ? a : b, M_AND; STORE_U16(p, v): the low 16 bits of each lane. */
#ifndef H5PREP_KERNELS_SIMD_H
#define H5PREP_KERNELS_SIMD_H

#include "backends/cpu/kernels_cpu.h"

#include <float.h>
#include <math.h>
#include <stdint.h>

/* ---- decoding -------------------------------------------------------------------------- */

/* The decoded value of x, NaN where `miss` holds or raw * scale + offset is not finite: the
 * portable h5p_decode_value, multiply then add. */
static inline VD decoded(VD x, VM miss, VD scale, VD offset)
{
    VD y = V_ADD(V_MUL(x, scale), offset);
    return V_SELECT(M_ANDNOT(miss, M_FINITE(y)), y, V_SET1(NAN));
}

/* Whether x (a value of a type up to 32 bits, or a float, in float64) is a fill value or outside
 * the valid range. */
static inline VM fill_or_range(VD x, const h5p_decode_consts *c)
{
    VM m = M_NONE;
    for (int k = 0; k < c->nfill; k++)
        m = M_OR(m, M_EQ(x, V_SET1(c->fill[k])));
    if (c->range)
        m = M_OR(m, M_OR(M_LT(x, V_SET1(c->lo)), M_GT(x, V_SET1(c->hi))));
    return m;
}

/* Types up to 32 bits and the float types: every test in float64; the last n % W values by the
 * portable decoder. */
#define DEFINE_DECODE(NAME, T, DTYPE)                                                              \
    static void decode_##NAME(const void *src, const h5p_decode *d, size_t n, double *dst)         \
    {                                                                                              \
        const T *s = src;                                                                          \
        h5p_decode_consts c;                                                                       \
        h5p_decode_consts_init(DTYPE, d, &c);                                                      \
        size_t i = 0;                                                                              \
        if (c.plain) {                                                                             \
            for (; i + W <= n; i += W) {                                                           \
                VD x = LOAD_##NAME(s + i);                                                         \
                V_STOREU(dst + i, V_SELECT(M_FINITE(x), x, V_SET1(NAN)));                          \
            }                                                                                      \
        } else {                                                                                   \
            VD scale = V_SET1(d->scale), offset = V_SET1(d->offset);                               \
            for (; i + W <= n; i += W) {                                                           \
                VD x = LOAD_##NAME(s + i);                                                         \
                V_STOREU(dst + i, decoded(x, fill_or_range(x, &c), scale, offset));                \
            }                                                                                      \
        }                                                                                          \
        h5p_cpu_kernels_generic.decode[DTYPE](s + i, d, n - i, dst + i);                           \
    }

/* 64-bit integers: fills and the valid range compare as integers (exact), member M of h5p_stored,
 * with the compares LT/GT of the type's signedness. */
#define DEFINE_DECODE_64(NAME, T, DTYPE, M, LT, GT, CVT)                                           \
    static void decode_##NAME(const void *src, const h5p_decode *d, size_t n, double *dst)         \
    {                                                                                              \
        const T *s = src;                                                                          \
        size_t i = 0;                                                                              \
        if (h5p_decode_is_plain(d)) {                                                              \
            for (; i + W <= n; i += W)                                                             \
                V_STOREU(dst + i, CVT(VI_LOADU(s + i)));                                           \
        } else {                                                                                   \
            VD scale = V_SET1(d->scale), offset = V_SET1(d->offset);                               \
            VI lo = VI_SET1((int64_t)d->lo.M), hi = VI_SET1((int64_t)d->hi.M);                     \
            for (; i + W <= n; i += W) {                                                           \
                VI v = VI_LOADU(s + i);                                                            \
                VM m = M_NONE;                                                                     \
                for (int k = 0; k < d->nfill; k++)                                                 \
                    m = M_OR(m, MI_EQ(v, VI_SET1((int64_t)d->fill[k].M)));                         \
                if (d->int_range)                                                                  \
                    m = M_OR(m, M_OR(LT(v, lo), GT(v, hi)));                                       \
                V_STOREU(dst + i, decoded(CVT(v), m, scale, offset));                              \
            }                                                                                      \
        }                                                                                          \
        h5p_cpu_kernels_generic.decode[DTYPE](s + i, d, n - i, dst + i);                           \
    }

DEFINE_DECODE(i8, int8_t, H5P_I8)
DEFINE_DECODE(u8, uint8_t, H5P_U8)
DEFINE_DECODE(i16, int16_t, H5P_I16)
DEFINE_DECODE(u16, uint16_t, H5P_U16)
DEFINE_DECODE(i32, int32_t, H5P_I32)
DEFINE_DECODE(u32, uint32_t, H5P_U32)
DEFINE_DECODE(f32, float, H5P_F32)
DEFINE_DECODE(f64, double, H5P_F64)
DEFINE_DECODE_64(i64, int64_t, H5P_I64, i, MI_LT_S, MI_GT_S, CVT_I64)
DEFINE_DECODE_64(u64, uint64_t, H5P_U64, u, MI_LT_U, MI_GT_U, CVT_U64)

/* ---- the moment passes ------------------------------------------------------------------ */

/* Each pass takes NV (CHUNK or 1) vectors of columns [f, f + NV*W) at a time, keeps their sums in
 * registers over all rows (row order, as the portable loops), and leaves the last F % W columns to
 * the portable loops. NV is a constant where these are called, so the loops over j unroll. */
static inline void sums_cols(const double *x, size_t rows, size_t F, size_t f, int NV, double *cnt, double *sum,
                             double *mn, double *mx)
{
    VD c[CHUNK], s[CHUNK], lo[CHUNK], hi[CHUNK], one = V_SET1(1.0);
    for (int j = 0; j < NV; j++) {
        c[j] = V_LOADU(cnt + f + j * W), s[j] = V_LOADU(sum + f + j * W);
        lo[j] = V_LOADU(mn + f + j * W), hi[j] = V_LOADU(mx + f + j * W);
    }
    for (size_t r = 0; r < rows; r++) {
        const double *row = x + r * F + f;
        for (int j = 0; j < NV; j++) {
            VD v = V_LOADU(row + j * W);
            VM ok = M_EQ(v, v);
            c[j] = V_ADD(c[j], V_KEEP(ok, one));
            s[j] = V_ADD(s[j], V_KEEP(ok, v));
            lo[j] = V_MIN(v, lo[j]);
            hi[j] = V_MAX(v, hi[j]);
        }
    }
    for (int j = 0; j < NV; j++) {
        V_STOREU(cnt + f + j * W, c[j]), V_STOREU(sum + f + j * W, s[j]);
        V_STOREU(mn + f + j * W, lo[j]), V_STOREU(mx + f + j * W, hi[j]);
    }
}

static void sums(const double *x, size_t rows, size_t F, double *cnt, double *sum, double *mn, double *mx)
{
    size_t f = 0;
    for (; f + CHUNK * W <= F; f += CHUNK * W)
        sums_cols(x, rows, F, f, CHUNK, cnt, sum, mn, mx);
    for (; f + W <= F; f += W)
        sums_cols(x, rows, F, f, 1, cnt, sum, mn, mx);
    h5p_generic_sums(x, rows, F, f, cnt, sum, mn, mx);
}

static inline void unit_sums_cols(const double *x, size_t rows, size_t F, size_t f, int NV, const double *unit,
                                  double *sum)
{
    VD s[CHUNK], u[CHUNK];
    for (int j = 0; j < NV; j++)
        s[j] = V_LOADU(sum + f + j * W), u[j] = V_LOADU(unit + f + j * W);
    for (size_t r = 0; r < rows; r++) {
        const double *row = x + r * F + f;
        for (int j = 0; j < NV; j++) {
            VD v = V_LOADU(row + j * W);
            s[j] = V_ADD(s[j], V_KEEP(M_EQ(v, v), V_MUL(v, u[j])));
        }
    }
    for (int j = 0; j < NV; j++)
        V_STOREU(sum + f + j * W, s[j]);
}

static void unit_sums(const double *x, size_t rows, size_t F, const double *unit, double *sum)
{
    size_t f = 0;
    for (; f + CHUNK * W <= F; f += CHUNK * W)
        unit_sums_cols(x, rows, F, f, CHUNK, unit, sum);
    for (; f + W <= F; f += W)
        unit_sums_cols(x, rows, F, f, 1, unit, sum);
    h5p_generic_unit_sums(x, rows, F, f, unit, sum);
}

/* SCALED: d = v * unit - mu, else v - mu (a constant where called). */
static inline void deviations_cols(const double *x, size_t rows, size_t F, size_t f, int NV, int SCALED,
                                   const double *mu, const double *unit, double *d1, double *d2)
{
    VD s1[CHUNK], s2[CHUNK], m[CHUNK], u[CHUNK];
    for (int j = 0; j < NV; j++) {
        s1[j] = V_LOADU(d1 + f + j * W), s2[j] = V_LOADU(d2 + f + j * W), m[j] = V_LOADU(mu + f + j * W);
        u[j] = SCALED ? V_LOADU(unit + f + j * W) : V_SET1(1.0);
    }
    for (size_t r = 0; r < rows; r++) {
        const double *row = x + r * F + f;
        for (int j = 0; j < NV; j++) {
            VD v = V_LOADU(row + j * W);
            VD d = V_SUB(SCALED ? V_MUL(v, u[j]) : v, m[j]);
            VD kept = V_KEEP(M_EQ(d, d), d);
            s1[j] = V_ADD(s1[j], kept);
            s2[j] = V_ADD(s2[j], V_MUL(kept, kept));
        }
    }
    for (int j = 0; j < NV; j++)
        V_STOREU(d1 + f + j * W, s1[j]), V_STOREU(d2 + f + j * W, s2[j]);
}

static void deviations(const double *x, size_t rows, size_t F, const double *mu, const double *unit, double *d1,
                       double *d2)
{
    size_t f = 0;
    for (; f + CHUNK * W <= F; f += CHUNK * W) {
        if (unit)
            deviations_cols(x, rows, F, f, CHUNK, 1, mu, unit, d1, d2);
        else
            deviations_cols(x, rows, F, f, CHUNK, 0, mu, unit, d1, d2);
    }
    for (; f + W <= F; f += W)
        deviations_cols(x, rows, F, f, 1, unit != NULL, mu, unit, d1, d2);
    h5p_generic_deviations(x, rows, F, f, mu, unit, d1, d2);
}

/* ---- the transform's loops ------------------------------------------------------------- */

static void to_f32(const double *x, size_t n, float *y)
{
    size_t j = 0;
    for (; j + W <= n; j += W)
        STORE_F32(y + j, V_LOADU(x + j));
    h5p_cpu_kernels_generic.to_f32(x + j, n - j, y + j);
}

/* h5p_f64_to_small_ (common/half.h) lane by lane: the same integer steps, its branches as selects.
 * The count of bits to drop is capped at 54, which drops every bit of a significand (< 2^53) and
 * does not round up, as the portable code's `shift > 53` returns zero. */
#define DEFINE_TO_SMALL(NAME, EBITS, MBITS)                                                        \
    static inline VI NAME(VD x)                                                                    \
    {                                                                                              \
        enum { BIAS = (1 << ((EBITS) - 1)) - 1, KEEP = 52 - (MBITS) };                             \
        const VI one = VI_SET1(1), zero = VI_SET1(0);                                              \
        const VI inf = VI_SET1((int64_t)((1 << (EBITS)) - 1) << (MBITS));                          \
        VI b = V_BITS(x);                                                                          \
        VI sign = VI_AND(VI_SRLI(b, 48), VI_SET1(0x8000));                                         \
        VI dexp = VI_AND(VI_SRLI(b, 52), VI_SET1(0x7ff));                                          \
        VI dman = VI_AND(b, VI_SET1((INT64_C(1) << 52) - 1));                                      \
        VM nan = M_ANDNOT(MI_EQ(dman, zero), MI_EQ(dexp, VI_SET1(0x7ff)));                         \
        VM over = MI_GT_S(dexp, VI_SET1(1023 + BIAS)); /* e > bias, Inf and NaN included */        \
        VI nan_bits = VI_OR(VI_OR(inf, VI_SET1(1 << ((MBITS) - 1))), VI_SRLI(dman, KEEP));         \
        VI sig = VI_OR(dman, VI_SET1(INT64_C(1) << 52));                                           \
        VI below = VI_SUB(VI_SET1(1024 - BIAS), dexp); /* 1 - bias - e: > 0 below the normals */   \
        VM normal = MI_GT_S(one, below);                                                           \
        VI shift = VI_SELECT(MI_GT_S(below, VI_SET1(54 - KEEP)), VI_SET1(54), VI_ADD(below, VI_SET1(KEEP))); \
        shift = VI_SELECT(normal, VI_SET1(KEEP), shift);                                           \
        VI q = VI_SRLV(sig, shift);                                                                \
        VI rem = VI_AND(sig, VI_SUB(VI_SLLV(one, shift), one));                                    \
        VI halfway = VI_SLLV(one, VI_SUB(shift, one));                                             \
        VM up = M_OR(MI_GT_S(rem, halfway), M_AND(MI_EQ(rem, halfway), MI_EQ(VI_AND(q, one), one))); \
        q = VI_ADD(q, VI_SELECT(up, one, zero));                                                   \
        VI mag = VI_ADD(q, VI_SELECT(normal, VI_SLLI(VI_SUB(dexp, VI_SET1(1024 - BIAS)), (MBITS)), zero)); \
        return VI_OR(sign, VI_SELECT(over, VI_SELECT(nan, nan_bits, inf), mag));                   \
    }
DEFINE_TO_SMALL(to_f16, 5, 10)
DEFINE_TO_SMALL(to_bf16, 8, 7)

#define STORE_OUT_F32(p, v) STORE_F32((p), (v))
#define STORE_OUT_F64(p, v) V_STOREU((p), (v))
#define STORE_OUT_F16(p, v) STORE_U16((p), to_f16(v))
#define STORE_OUT_BF16(p, v) STORE_U16((p), to_bf16(v))

/* The portable loop's operations per value, W values at a time: the staged value in float64, the
 * subtraction, the division, the cast; the last n % W values by the portable loop. */
#define DEFINE_NORMALIZE(NAME, IN_T, LOAD, X64, OUT_T, OUT)                                        \
    static void normalize_##NAME(const void *x, size_t n, const double *shift, const double *div, void *y) \
    {                                                                                              \
        const IN_T *s = x;                                                                         \
        OUT_T *d = y;                                                                              \
        size_t j = 0;                                                                              \
        for (; j + W <= n; j += W)                                                                 \
            STORE_OUT_##OUT(d + j, V_DIV(V_SUB(LOAD(s + j), V_LOADU(shift + j)), V_LOADU(div + j))); \
        h5p_cpu_kernels_generic.normalize[X64][H5P_OUT_##OUT](s + j, n - j, shift + j, div + j, d + j); \
    }
DEFINE_NORMALIZE(f32_f32, float, LOAD_f32, 0, float, F32)
DEFINE_NORMALIZE(f32_f64, float, LOAD_f32, 0, double, F64)
DEFINE_NORMALIZE(f32_f16, float, LOAD_f32, 0, uint16_t, F16)
DEFINE_NORMALIZE(f32_bf16, float, LOAD_f32, 0, uint16_t, BF16)
DEFINE_NORMALIZE(f64_f32, double, LOAD_f64, 1, float, F32)
DEFINE_NORMALIZE(f64_f64, double, LOAD_f64, 1, double, F64)
DEFINE_NORMALIZE(f64_f16, double, LOAD_f64, 1, uint16_t, F16)
DEFINE_NORMALIZE(f64_bf16, double, LOAD_f64, 1, uint16_t, BF16)

const h5p_cpu_kernels TABLE = {
    .isa = ISA_NAME,
    .decode = {decode_i8, decode_u8, decode_i16, decode_u16, decode_i32, decode_u32, decode_i64, decode_u64,
               decode_f32, decode_f64},
    .to_f32 = to_f32,
    .normalize = {{normalize_f32_f32, normalize_f32_f64, normalize_f32_f16, normalize_f32_bf16},
                  {normalize_f64_f32, normalize_f64_f64, normalize_f64_f16, normalize_f64_bf16}},
    .sums = sums,
    .unit_sums = unit_sums,
    .deviations = deviations,
};

#endif
