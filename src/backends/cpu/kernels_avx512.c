/* kernels_avx512.c: the AVX-512 path of the CPU kernels (8 float64 lanes, mask registers),
 * kernels_simd.h over AVX-512 F/BW/VL/DQ intrinsics; only this file is compiled for AVX-512 (CMake). */
#include <immintrin.h>

#define W 8
#define CHUNK 4 /* 32 columns a pass: 16 sums in registers of 32 */
#define ISA_NAME "avx512"
#define TABLE h5p_cpu_kernels_avx512

typedef __m512d VD;
typedef __mmask8 VM;
typedef __m512i VI;

#define V_LOADU(p) _mm512_loadu_pd(p)
#define V_STOREU(p, v) _mm512_storeu_pd((p), (v))
#define V_SET1(x) _mm512_set1_pd(x)
#define V_ADD(a, b) _mm512_add_pd((a), (b))
#define V_SUB(a, b) _mm512_sub_pd((a), (b))
#define V_MUL(a, b) _mm512_mul_pd((a), (b))
#define V_MIN(a, b) _mm512_min_pd((a), (b))
#define V_MAX(a, b) _mm512_max_pd((a), (b))
#define M_EQ(a, b) _mm512_cmp_pd_mask((a), (b), _CMP_EQ_OQ)
#define M_LT(a, b) _mm512_cmp_pd_mask((a), (b), _CMP_LT_OQ)
#define M_GT(a, b) _mm512_cmp_pd_mask((a), (b), _CMP_GT_OQ)
#define M_OR(a, b) ((VM)((a) | (b)))
#define M_ANDNOT(a, b) ((VM)(~(a) & (b)))
#define M_NONE ((VM)0)
#define M_FINITE(x) _mm512_cmp_pd_mask(_mm512_abs_pd(x), _mm512_set1_pd(DBL_MAX), _CMP_LE_OQ)
#define V_KEEP(m, v) _mm512_maskz_mov_pd((m), (v))
#define V_SELECT(m, a, b) _mm512_mask_blend_pd((m), (b), (a))

/* 8 stored values, loaded without alignment, widened exactly to float64. */
#define LOAD_i8(p) _mm512_cvtepi32_pd(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p))))
#define LOAD_u8(p) _mm512_cvtepi32_pd(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p))))
#define LOAD_i16(p) _mm512_cvtepi32_pd(_mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p))))
#define LOAD_u16(p) _mm512_cvtepi32_pd(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p))))
#define LOAD_i32(p) _mm512_cvtepi32_pd(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define LOAD_u32(p) _mm512_cvtepu32_pd(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define LOAD_f32(p) _mm512_cvtps_pd(_mm256_loadu_ps(p))
#define LOAD_f64(p) _mm512_loadu_pd(p)

#define VI_LOADU(p) _mm512_loadu_si512((const void *)(p))
#define VI_SET1(x) _mm512_set1_epi64(x)
#define MI_EQ(a, b) _mm512_cmpeq_epi64_mask((a), (b))
#define MI_LT_S(a, b) _mm512_cmplt_epi64_mask((a), (b))
#define MI_GT_S(a, b) _mm512_cmpgt_epi64_mask((a), (b))
#define MI_LT_U(a, b) _mm512_cmplt_epu64_mask((a), (b))
#define MI_GT_U(a, b) _mm512_cmpgt_epu64_mask((a), (b))
#define CVT_I64(v) _mm512_cvtepi64_pd(v)
#define CVT_U64(v) _mm512_cvtepu64_pd(v)

#define V_DIV(a, b) _mm512_div_pd((a), (b))
#define STORE_F32(p, v) _mm256_storeu_ps((p), _mm512_cvtpd_ps(v))
#define V_BITS(v) _mm512_castpd_si512(v)
#define VI_AND(a, b) _mm512_and_si512((a), (b))
#define VI_OR(a, b) _mm512_or_si512((a), (b))
#define VI_ADD(a, b) _mm512_add_epi64((a), (b))
#define VI_SUB(a, b) _mm512_sub_epi64((a), (b))
#define VI_SRLI(a, n) _mm512_srli_epi64((a), (n))
#define VI_SLLI(a, n) _mm512_slli_epi64((a), (n))
#define VI_SRLV(a, n) _mm512_srlv_epi64((a), (n))
#define VI_SLLV(a, n) _mm512_sllv_epi64((a), (n))
#define VI_SELECT(m, a, b) _mm512_mask_blend_epi64((m), (b), (a))
#define M_AND(a, b) ((VM)((a) & (b)))
#define STORE_U16(p, v) _mm_storeu_si128((__m128i *)(void *)(p), _mm512_cvtepi64_epi16(v))

#include "backends/cpu/kernels_simd.h"
