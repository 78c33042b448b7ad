/* kernels_avx2.c: the AVX2 path of the CPU kernels (4 float64 lanes), kernels_simd.h over AVX2
 * intrinsics; only this file is compiled with -mavx2 -mfma (CMake), FMA contraction off. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define W 4
#define CHUNK 2 /* 8 columns a pass: 8 sums in registers hide the 4-cycle latency of the adds */
#define ISA_NAME "avx2"
#define TABLE h5p_cpu_kernels_avx2

typedef __m256d VD;
typedef __m256d VM; /* all ones in a lane where true */
typedef __m256i VI;

#define V_LOADU(p) _mm256_loadu_pd(p)
#define V_STOREU(p, v) _mm256_storeu_pd((p), (v))
#define V_SET1(x) _mm256_set1_pd(x)
#define V_ADD(a, b) _mm256_add_pd((a), (b))
#define V_SUB(a, b) _mm256_sub_pd((a), (b))
#define V_MUL(a, b) _mm256_mul_pd((a), (b))
#define V_MIN(a, b) _mm256_min_pd((a), (b))
#define V_MAX(a, b) _mm256_max_pd((a), (b))
#define M_EQ(a, b) _mm256_cmp_pd((a), (b), _CMP_EQ_OQ)
#define M_LT(a, b) _mm256_cmp_pd((a), (b), _CMP_LT_OQ)
#define M_GT(a, b) _mm256_cmp_pd((a), (b), _CMP_GT_OQ)
#define M_OR(a, b) _mm256_or_pd((a), (b))
#define M_ANDNOT(a, b) _mm256_andnot_pd((a), (b))
#define M_NONE _mm256_setzero_pd()
#define M_FINITE(x) _mm256_cmp_pd(_mm256_andnot_pd(_mm256_set1_pd(-0.0), (x)), _mm256_set1_pd(DBL_MAX), _CMP_LE_OQ)
#define V_KEEP(m, v) _mm256_and_pd((m), (v))
#define V_SELECT(m, a, b) _mm256_blendv_pd((b), (a), (m))

/* 4 stored values, loaded without alignment, widened exactly to float64. */
static inline __m128i load32(const void *p)
{
    int32_t w;
    memcpy(&w, p, sizeof w);
    return _mm_cvtsi32_si128(w);
}
#define LOAD_i8(p) _mm256_cvtepi32_pd(_mm_cvtepi8_epi32(load32(p)))
#define LOAD_u8(p) _mm256_cvtepi32_pd(_mm_cvtepu8_epi32(load32(p)))
#define LOAD_i16(p) _mm256_cvtepi32_pd(_mm_cvtepi16_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p))))
#define LOAD_u16(p) _mm256_cvtepi32_pd(_mm_cvtepu16_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p))))
#define LOAD_i32(p) _mm256_cvtepi32_pd(_mm_loadu_si128((const __m128i *)(const void *)(p)))
/* uint32 v as (int32)(v - 2^31) + 2^31: both steps exact */
#define LOAD_u32(p)                                                                                \
    _mm256_add_pd(_mm256_cvtepi32_pd(_mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(p)), \
                                                   _mm_set1_epi32(INT32_MIN))),                   \
                  _mm256_set1_pd(0x1p31))
#define LOAD_f32(p) _mm256_cvtps_pd(_mm_loadu_ps(p))
#define LOAD_f64(p) _mm256_loadu_pd(p)

#define VI_LOADU(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define VI_SET1(x) _mm256_set1_epi64x(x)
#define MI_EQ(a, b) _mm256_castsi256_pd(_mm256_cmpeq_epi64((a), (b)))
#define MI_GT_S(a, b) _mm256_castsi256_pd(_mm256_cmpgt_epi64((a), (b)))
#define MI_LT_S(a, b) MI_GT_S((b), (a))
#define FLIP(a) _mm256_xor_si256((a), _mm256_set1_epi64x(INT64_MIN)) /* unsigned order as signed */
#define MI_GT_U(a, b) MI_GT_S(FLIP(a), FLIP(b))
#define MI_LT_U(a, b) MI_GT_S(FLIP(b), FLIP(a))

/* 64-bit integers to float64 without AVX-512: v = hi * 2^32 + lo. lo is placed exactly in the
 * double 2^52 + lo; hi, xor'ed into `hi_bits` (the bits of 2^84, or of 2^84 + 2^63 to flip the sign
 * of a signed hi), gives the double M + hi * 2^32, M = 2^84 (+ 2^63); `magic` = M + 2^52 is then
 * subtracted exactly, and the one rounded add that is left gives the C cast's result. */
static inline VD cvt64(VI v, int64_t hi_bits, double magic)
{
    VI lo = _mm256_blend_epi32(_mm256_set1_epi64x(0x4330000000000000), v, 0x55);
    VI hi = _mm256_xor_si256(_mm256_srli_epi64(v, 32), _mm256_set1_epi64x(hi_bits));
    return _mm256_add_pd(_mm256_sub_pd(_mm256_castsi256_pd(hi), _mm256_set1_pd(magic)), _mm256_castsi256_pd(lo));
}
#define CVT_U64(v) cvt64((v), 0x4530000000000000, 0x1p84 + 0x1p52)
#define CVT_I64(v) cvt64((v), 0x4530000080000000, 0x1p84 + 0x1p63 + 0x1p52)

#define V_DIV(a, b) _mm256_div_pd((a), (b))
#define STORE_F32(p, v) _mm_storeu_ps((p), _mm256_cvtpd_ps(v))
#define V_BITS(v) _mm256_castpd_si256(v)
#define VI_AND(a, b) _mm256_and_si256((a), (b))
#define VI_OR(a, b) _mm256_or_si256((a), (b))
#define VI_ADD(a, b) _mm256_add_epi64((a), (b))
#define VI_SUB(a, b) _mm256_sub_epi64((a), (b))
#define VI_SRLI(a, n) _mm256_srli_epi64((a), (n))
#define VI_SLLI(a, n) _mm256_slli_epi64((a), (n))
#define VI_SRLV(a, n) _mm256_srlv_epi64((a), (n))
#define VI_SLLV(a, n) _mm256_sllv_epi64((a), (n))
#define VI_SELECT(m, a, b) _mm256_castpd_si256(_mm256_blendv_pd(_mm256_castsi256_pd(b), _mm256_castsi256_pd(a), (m)))
#define M_AND(a, b) _mm256_and_pd((a), (b))

/* The low 16 bits of the 4 lanes (each < 2^16) to 4 uint16: the low words, then an exact pack. */
static inline void store_u16(uint16_t *p, __m256i v)
{
    __m128i w = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6)));
    _mm_storel_epi64((__m128i *)(void *)p, _mm_packus_epi32(w, w));
}
#define STORE_U16(p, v) store_u16((p), (v))

#include "backends/cpu/kernels_simd.h"
