/* half.h: float64 <-> IEEE float16 and bfloat16 bit patterns, for the `cast:` of outputs.
 * Integer bit manipulation only, H5PREP_HD, so that CUDA kernels and the CPU give the same bits. */
#ifndef H5PREP_HALF_H
#define H5PREP_HALF_H

#include "common/moments.h"

#include <stdint.h>
#include <string.h>

/* x rounded to nearest, ties to even, straight from float64 (no double rounding through float32)
 * to a binary format of 1 sign bit, `ebits` exponent bits and `mbits` stored mantissa bits.
 * Overflow goes to ±inf, NaN stays NaN with the quiet bit set, zero keeps its sign. */
static inline H5PREP_HD uint16_t h5p_f64_to_small_(double x, int ebits, int mbits)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    uint16_t sign = (uint16_t)((b >> 48) & 0x8000u);
    int dexp = (int)((b >> 52) & 0x7ff);
    uint64_t dman = b & ((UINT64_C(1) << 52) - 1);
    int bias = (1 << (ebits - 1)) - 1;
    uint16_t inf = (uint16_t)(((1u << ebits) - 1) << mbits);
    if (dexp == 0x7ff) {
        if (dman == 0)
            return (uint16_t)(sign | inf);
        /* the top payload bits, and the quiet bit so that a payload shifted away cannot turn the
         * NaN into an infinity */
        return (uint16_t)(sign | inf | (1u << (mbits - 1)) | (uint16_t)(dman >> (52 - mbits)));
    }
    if (dexp == 0) /* float64 subnormals and zeros: far below half of the smallest subnormal */
        return sign;
    int e = dexp - 1023;
    if (e > bias) /* at least 2^(emax+1) */
        return (uint16_t)(sign | inf);
    uint64_t sig = dman | (UINT64_C(1) << 52); /* x = sig * 2^(e-52) */
    /* Bits to drop: down to the target's ulp, 2^(e-mbits) for normals, 2^(1-bias-mbits) below. */
    int shift = e >= 1 - bias ? 52 - mbits : 52 - mbits + (1 - bias - e);
    if (shift > 53) /* below half of the smallest subnormal: sig < 2^53 <= 2^(shift-1) */
        return sign;
    uint64_t q = sig >> shift, rem = sig & ((UINT64_C(1) << shift) - 1), halfway = UINT64_C(1) << (shift - 1);
    q += rem > halfway || (rem == halfway && (q & 1));
    /* Normals: q holds the implicit bit (2^mbits), which adds one to the biased exponent, and a
     * carry out of the mantissa moves to the next binade or to infinity by itself. Subnormals: q
     * is the pattern, and rounding up to 2^mbits gives the smallest normal. */
    uint64_t mag = e >= 1 - bias ? ((uint64_t)(e + bias - 1) << mbits) + q : q;
    return (uint16_t)(sign | (uint16_t)mag);
}

/* The exact float64 value of a pattern of the same format. */
static inline H5PREP_HD double h5p_small_to_f64_(uint16_t h, int ebits, int mbits)
{
    int bias = (1 << (ebits - 1)) - 1;
    int exp = (int)((h >> mbits) & ((1u << ebits) - 1));
    uint64_t man = h & ((1u << mbits) - 1), b;
    if (exp == (1 << ebits) - 1) {
        b = (UINT64_C(0x7ff) << 52) | (man << (52 - mbits));
    } else if (exp == 0) {
        /* man * 2^(1-bias-mbits): integer to double and a power-of-two scale, both exact */
        double scale;
        uint64_t sb = (uint64_t)(1023 + 1 - bias - mbits) << 52;
        memcpy(&scale, &sb, sizeof scale);
        double v = (double)man * scale;
        return h & 0x8000u ? -v : v;
    } else {
        b = ((uint64_t)(exp - bias + 1023) << 52) | (man << (52 - mbits));
    }
    b |= (uint64_t)(h & 0x8000u) << 48;
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

/* IEEE binary16: 5 exponent bits, 10 mantissa bits; largest finite 65504, 65520 rounds to inf. */
static inline H5PREP_HD uint16_t h5p_f64_to_f16(double x) { return h5p_f64_to_small_(x, 5, 10); }
static inline H5PREP_HD double h5p_f16_to_f64(uint16_t h) { return h5p_small_to_f64_(h, 5, 10); }

/* bfloat16: the top half of a float32 (8 exponent bits, 7 mantissa bits). */
static inline H5PREP_HD uint16_t h5p_f64_to_bf16(double x) { return h5p_f64_to_small_(x, 8, 7); }
static inline H5PREP_HD double h5p_bf16_to_f64(uint16_t h) { return h5p_small_to_f64_(h, 8, 7); }

#endif
