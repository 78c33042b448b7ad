/* test_isa.c: the CPU kernels' instruction set paths (src/backends/cpu/kernels_cpu.h): every path
 * this CPU runs against a scalar reference and against each other, bit for bit, and the choice. */
#include "backends/cpu/cpu.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

/* Equal bits, any NaN equal to any NaN (a NaN's payload may depend on the order of operands). */
static int same(double a, double b) { return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0; }

static const size_t sizes[] = {0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 129, 1023, 1025};

/* ---- decoding ---------------------------------------------------------------------------- */

/* Value i of the buffer as decode.h's union holds it. */
static h5p_stored stored_at(h5p_dtype t, const void *p, size_t i)
{
    h5p_stored v;
    switch (t) {
    case H5P_I8: v.i = ((const int8_t *)p)[i]; break;
    case H5P_U8: v.u = ((const uint8_t *)p)[i]; break;
    case H5P_I16: v.i = ((const int16_t *)p)[i]; break;
    case H5P_U16: v.u = ((const uint16_t *)p)[i]; break;
    case H5P_I32: v.i = ((const int32_t *)p)[i]; break;
    case H5P_U32: v.u = ((const uint32_t *)p)[i]; break;
    case H5P_I64: v.i = ((const int64_t *)p)[i]; break;
    case H5P_U64: v.u = ((const uint64_t *)p)[i]; break;
    case H5P_F32: v.f = ((const float *)p)[i]; break;
    default: v.f = ((const double *)p)[i]; break;
    }
    return v;
}

static int is_signed(h5p_dtype t) { return t == H5P_I8 || t == H5P_I16 || t == H5P_I32 || t == H5P_I64; }
static int is_float(h5p_dtype t) { return t == H5P_F32 || t == H5P_F64; }

static double as_double(h5p_dtype t, h5p_stored v)
{
    return is_float(t) ? v.f : is_signed(t) ? (double)v.i : (double)v.u;
}

/* The reference: decode.h's rules one value at a time, every comparison in the stored type. */
static double reference_decode(h5p_dtype t, const h5p_decode *d, h5p_stored v)
{
    double x = as_double(t, v);
    if (h5p_decode_is_plain(d))
        return fabs(x) <= DBL_MAX ? x : NAN;
    int miss = 0;
    for (int k = 0; k < d->nfill; k++)
        miss |= is_float(t) ? x == d->fill[k].f : is_signed(t) ? v.i == d->fill[k].i : v.u == d->fill[k].u;
    if (is_float(t))
        miss |= x < d->vmin || x > d->vmax;
    else if (d->int_range)
        miss |= is_signed(t) ? v.i < d->lo.i || v.i > d->hi.i : v.u < d->lo.u || v.u > d->hi.u;
    double y = x * d->scale + d->offset;
    return !miss && fabs(y) <= DBL_MAX ? y : NAN;
}

/* Stored values of type t: random bits (every bit pattern, NaN and Inf included for floats),
 * every third one of a few hostile values: 0, -0, the type's extremes, the fill values, values
 * at and beside the valid range, 2^53 + 1 (rounds in float64). */
static void fill_values(h5p_dtype t, const h5p_decode *d, void *p, size_t n, uint64_t *seed)
{
    size_t es = h5p_dtype_size(t);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = next(seed);
        memcpy((unsigned char *)p + i * es, &r, es);
        if (r % 3 != 0)
            continue;
        int64_t pick[] = {0, -1, 1, INT64_MAX, INT64_MIN, (1ll << 53) + 1, d->fill[0].i, d->lo.i, d->lo.i - 1,
                          d->hi.i, d->hi.i + 1, 127, -128, 32767, -32768, 65535, 4294967295ll};
        double fpick[] = {0.0, -0.0, NAN, INFINITY, -INFINITY, DBL_MAX, -DBL_MAX, FLT_MAX, 1e-310, 1e8 + 0.5,
                          d->fill[0].f, d->vmin, d->vmax, nextafter(d->vmax, INFINITY), 3.0};
        if (t == H5P_F32) {
            float f = (float)fpick[(r >> 8) % (sizeof fpick / sizeof *fpick)];
            memcpy((unsigned char *)p + i * es, &f, es);
        } else if (t == H5P_F64) {
            memcpy((unsigned char *)p + i * es, &fpick[(r >> 8) % (sizeof fpick / sizeof *fpick)], es);
        } else {
            memcpy((unsigned char *)p + i * es, &pick[(r >> 8) % (sizeof pick / sizeof *pick)], es);
        }
    }
}

/* The CF decodings under test for type t: plain, one fill, five fills (more than the portable
 * loop compares in its first pass), a valid range, packed (scale 0.01, offset 1e8), a decode
 * that overflows (scale and offset 1e300), and a fill with scale 1 and offset 0. */
enum { NCASES = 7 };
static h5p_decode decode_case(h5p_dtype t, int c, uint64_t *seed)
{
    h5p_decode d;
    memset(&d, 0, sizeof d);
    d.scale = 1.0, d.vmin = -INFINITY, d.vmax = INFINITY;
    int nfill = c == 1 || c == 4 || c == 6 ? 1 : c == 2 ? 5 : 0;
    for (int k = 0; k < nfill; k++) {
        unsigned char raw[8];
        uint64_t r = next(seed) >> (k == 0 ? 40 : 0); /* the first one small: it occurs in fills */
        memcpy(raw, &r, sizeof raw);
        d.fill[k] = stored_at(t, raw, 0);
        if (is_float(t) && isnan(d.fill[k].f))
            d.fill[k].f = -9999.0;
        d.nfill++;
    }
    if (c == 3) {
        if (is_float(t))
            d.vmin = -100.0, d.vmax = 1e30;
        else if (is_signed(t))
            d.int_range = 1, d.lo.i = -100, d.hi.i = 100;
        else
            d.int_range = 1, d.lo.u = 3, d.hi.u = 200;
    }
    if (c == 4)
        d.scale = 0.01, d.offset = 1e8;
    if (c == 5)
        d.scale = 1e300, d.offset = 1e300;
    return d;
}

Test(isa, every_decoder_on_every_path_matches_the_reference_bit_for_bit)
{
    enum { MAXN = 1025 + 1 };
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    static unsigned char src[MAXN * 8];
    static double got[MAXN];
    int paths = 0;
    for (int isa = 0; isa < H5P_ISA_COUNT; isa++) {
        const h5p_cpu_kernels *k = h5p_cpu_kernels_for((h5p_cpu_isa)isa);
        if (!k)
            continue;
        paths++;
        for (int t = 0; t < H5P_NDTYPES; t++) {
            size_t es = h5p_dtype_size((h5p_dtype)t);
            for (int c = 0; c < NCASES; c++) {
                h5p_decode d = decode_case((h5p_dtype)t, c, &seed);
                for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
                    size_t n = sizes[z], skew = z % 2; /* odd sizes start one value in: unaligned */
                    fill_values((h5p_dtype)t, &d, src, n + skew, &seed);
                    k->decode[t](src + skew * es, &d, n, got);
                    for (size_t i = 0; i < n; i++) {
                        double want = reference_decode((h5p_dtype)t, &d, stored_at((h5p_dtype)t, src, i + skew));
                        cr_assert(same(got[i], want), "%s, %s, case %d, n %zu: value %zu decodes to %a, want %a",
                                  k->isa, h5p_dtype_name((h5p_dtype)t), c, n, i, got[i], want);
                    }
                }
            }
        }
    }
    cr_assert_geq(paths, 1);
}

/* ---- the block moments ------------------------------------------------------------------- */

/* Column c's value in row i: 1e8 + noise, a constant, NaN and Inf among values, +-0, values near
 * +-1e150 (beyond 2^480: summed in units of 2^600), every value missing, tiny values, ordinary values. */
static double column_value(size_t i, size_t c, uint64_t *s)
{
    double u = (double)(next(s) >> 11) * 0x1p-53;
    switch (c % 8) {
    case 0: return 1e8 + u;
    case 1: return 3.25;
    case 2: return i % 3 == 1 ? NAN : i % 11 == 4 ? INFINITY : i % 13 == 5 ? -INFINITY : u;
    case 3: return i % 2 ? 0.0 : -0.0;
    case 4: return (i % 2 ? 1e150 : -1e150) * (0.5 + u);
    case 5: return NAN;
    case 6: return 1e-310 * u;
    default: return -7 + 2 * u + (i % 5 == 0 ? NAN : 0.0);
    }
}

static int finite_column(size_t c) { return c % 8 != 2; }

static void expect_same_state(const h5p_states *a, const h5p_states *b, size_t F, const char *isa, size_t rows)
{
    for (size_t f = 0; f < F; f++) {
        const double *pa[] = {a->n, a->missing, a->mean, a->m2, a->min, a->max};
        const double *pb[] = {b->n, b->missing, b->mean, b->m2, b->min, b->max};
        static const char *const names[] = {"n", "missing", "mean", "m2", "min", "max"};
        for (int q = 0; q < 6; q++)
            cr_assert(same(pa[q][f], pb[q][f]), "%s, %zu rows x %zu columns: %s[%zu] %a, generic %a", isa, rows, F,
                      names[q], f, pa[q][f], pb[q][f]);
    }
}

Test(isa, block_moments_on_every_path_are_bit_identical_and_match_the_reference)
{
    static const size_t widths[] = {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 40, 63, 64, 65, 129};
    static const size_t heights[] = {0, 1, 2, 31, 32, 33, 257};
    const h5p_cpu_kernels *generic = h5p_cpu_kernels_for(H5P_ISA_GENERIC);
    cr_assert_not_null(generic);
    uint64_t seed = 77;
    for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++)
        for (size_t hi = 0; hi < sizeof heights / sizeof *heights; hi++) {
            size_t F = widths[wi], rows = heights[hi];
            double *x = malloc((rows * F + 1) * sizeof *x), *scratch = malloc(6 * F * sizeof *scratch);
            cr_assert(x && scratch);
            for (size_t i = 0; i < rows; i++)
                for (size_t c = 0; c < F; c++)
                    x[i * F + c] = column_value(i, c, &seed);
            h5p_states want, got;
            cr_assert_eq(h5p_states_init(&want, F), 0);
            cr_assert_eq(h5p_states_init(&got, F), 0);
            size_t cut = rows / 3; /* two blocks merged into the same states, as the backend does */
            h5p_cpu_block_stats(generic, x, cut, F, scratch, &want, 0);
            h5p_cpu_block_stats(generic, x + cut * F, rows - cut, F, scratch, &want, 0);
            for (int isa = H5P_ISA_GENERIC + 1; isa < H5P_ISA_COUNT; isa++) {
                const h5p_cpu_kernels *k = h5p_cpu_kernels_for((h5p_cpu_isa)isa);
                if (!k)
                    continue;
                h5p_states_reset(&got, F);
                h5p_cpu_block_stats(k, x, cut, F, scratch, &got, 0);
                h5p_cpu_block_stats(k, x + cut * F, rows - cut, F, scratch, &got, 0);
                expect_same_state(&got, &want, F, k->isa, rows);
            }
            /* the finite columns against the long double two-pass reference */
            h5prep_moments *ref = malloc(F * sizeof *ref), *mine = malloc(F * sizeof *mine);
            tu_reference(x, rows, F, 1, ref);
            size_t nf = 0;
            for (size_t f = 0; f < F; f++)
                if (finite_column(f)) {
                    mine[nf] = h5p_states_get(&want, f);
                    ref[nf++] = ref[f];
                }
            tu_compare(mine, ref, nf, 1e-12);
            h5p_states_free(&want), h5p_states_free(&got);
            free(x), free(scratch), free(ref), free(mine);
        }
}

/* ---- the transform's loops --------------------------------------------------------------- */

/* The pattern of x rounded to nearest, ties to even, in a binary format of `ebits` exponent and
 * `mbits` mantissa bits, by float64 arithmetic alone (frexp, a power-of-two scale and rint under
 * the default rounding mode), not by common/half.h's bit steps. NaN: the quiet NaN of that sign. */
static uint16_t reference_small(double x, int ebits, int mbits)
{
    uint16_t sign = signbit(x) ? 0x8000 : 0, inf = (uint16_t)(((1u << ebits) - 1) << mbits);
    if (isnan(x))
        return (uint16_t)(sign | inf | (1u << (mbits - 1)));
    double a = fabs(x);
    int emin = 2 - (1 << (ebits - 1)); /* the exponent of the smallest normal */
    if (isinf(a))
        return sign | inf;
    int e;
    frexp(a, &e); /* a = m * 2^e, 0.5 <= m < 1: the ulp of a's binade is 2^(e - 1 - mbits) */
    int ue = (e - 1 < emin ? emin : e - 1) - mbits;
    double r = rint(ldexp(a, -ue)); /* the rounded value in ulps, an integer */
    double v = ldexp(r, ue);
    if (v >= ldexp(1.0, (1 << (ebits - 1))))
        return sign | inf;
    if (v < ldexp(1.0, emin)) /* subnormal or zero: the pattern is the count of smallest ulps */
        return (uint16_t)(sign | (uint16_t)ldexp(v, mbits - emin));
    frexp(v, &e);
    uint16_t man = (uint16_t)(ldexp(v, mbits - (e - 1)) - ldexp(1.0, mbits));
    return (uint16_t)(sign | (uint16_t)((e - 1 + (1 << (ebits - 1)) - 1) << mbits) | man);
}

/* Staged values: every third a hostile one (NaN, +-Inf, +-0, 1e8 offsets, float16's largest
 * finite value, its rounding boundary 65520 and beyond, ties and subnormals of float16 and
 * bfloat16, float64 subnormals, the float32 and float64 extremes, values that a cast through
 * float32 would round twice), the others random: any bit
 * pattern of the staged type, or 1e8 plus noise. */
static double staged_value(int f64, uint64_t *s)
{
    static const double hostile[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 1e8, 1e8 + 0.25, -1e8, 65504.0,
                                     65519.0, 65520.0, -65520.0, 1e5, 0x1p-24, 0x1p-25, 0x1.8p-25, 0x1p-14,
                                     0x1.ffcp-15, 0x1.002p-14, 0x1p-133, 0x1p-134, 0x1.8p-133, 0x1p-126,
                                     0x1.fe8p127, 0x1.ffp127, 1e-310, -1e-310, FLT_MAX, DBL_MAX, -DBL_MAX, 1.0 + 0x1p-11,
                                     1.0 + 0x1.8p-11, 1.0 + 0x1p-8, 1.0 + 0x1.8p-8, 3.0, -7.5,
                                     /* just above a tie of float16 and of bfloat16, a tie of float32:
                                        a cast through float32 rounds twice and goes down */
                                     1.0 + 0x1p-11 + 0x1p-40, -(1.0 + 0x1p-8 + 0x1p-40)};
    uint64_t r = next(s);
    if (r % 3 == 0)
        return hostile[(r >> 8) % (sizeof hostile / sizeof *hostile)];
    if (r % 3 == 1)
        return 1e8 + (double)(next(s) >> 11) * 0x1p-50;
    double v;
    if (f64) {
        memcpy(&v, &r, sizeof v);
    } else {
        uint32_t w = (uint32_t)(r >> 32);
        float f;
        memcpy(&f, &w, sizeof f);
        v = f;
    }
    return v;
}

/* The factors of feature f: identity (the hostile values exactly), the 1e8 offset, scales that
 * push values past float16's range or into its subnormals, a divisor of 3 (inexact quotients). */
static void factors(uint64_t f, double *shift, double *div)
{
    static const double sh[] = {0.0, 1e8, -3.5, 1e8 + 0.25, 0.0, 2.0};
    static const double dv[] = {1.0, 3.0, 1e-3, 7e-9, 1e6, 0.1};
    *shift = sh[f % 6], *div = dv[f % 6];
}

static double out_value(int o, const void *y, size_t i)
{
    switch (o) {
    case H5P_OUT_F32: return ((const float *)y)[i];
    case H5P_OUT_F64: return ((const double *)y)[i];
    default: return NAN;
    }
}

Test(isa, normalize_and_cast_on_every_path_are_byte_identical_and_match_a_float64_reference)
{
    enum { MAXN = 1025 + 1 };
    static double x64[MAXN], shift[MAXN], div[MAXN];
    static float x32[MAXN];
    static unsigned char got[MAXN * 8], want[MAXN * 8];
    const h5p_cpu_kernels *generic = h5p_cpu_kernels_for(H5P_ISA_GENERIC);
    uint64_t seed = 12;
    for (int x_f64 = 0; x_f64 < 2; x_f64++)
        for (int o = 0; o < H5P_NCASTS; o++)
            for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
                size_t n = sizes[z], skew = z % 2, os = h5p_out_dtype_size((h5p_out_dtype)o);
                for (size_t i = 0; i < n + skew; i++) {
                    x64[i] = staged_value(x_f64, &seed);
                    x32[i] = (float)x64[i];
                    factors(next(&seed) % 7 == 0 ? 0 : i, &shift[i], &div[i]);
                }
                const void *x = x_f64 ? (const void *)(x64 + skew) : (const void *)(x32 + skew);
                generic->normalize[x_f64][o](x, n, shift + skew, div + skew, want);
                for (size_t i = 0; i < n; i++) {
                    double v = ((x_f64 ? x64[i + skew] : (double)x32[i + skew]) - shift[i + skew]) / div[i + skew];
                    const char *name = h5p_out_dtype_name((h5p_out_dtype)o);
                    if (o == H5P_OUT_F16 || o == H5P_OUT_BF16) {
                        uint16_t h, ref = o == H5P_OUT_F16 ? reference_small(v, 5, 10) : reference_small(v, 8, 7);
                        memcpy(&h, want + i * 2, 2);
                        uint16_t exp_mask = o == H5P_OUT_F16 ? 0x7c00 : 0x7f80;
                        int h_nan = (h & exp_mask) == exp_mask && (h & ~exp_mask & 0x7fff);
                        cr_assert(isnan(v) ? h_nan : h == ref, "%s <- %s: value %zu of %zu: %a gives %#06x, want %#06x",
                                  name, x_f64 ? "float64" : "float32", i, n, v, h, ref);
                    } else {
                        double ref = o == H5P_OUT_F32 ? (double)(float)v : v;
                        cr_assert(same(out_value(o, want, i), ref), "%s <- %s: value %zu of %zu: %a gives %a, want %a",
                                  name, x_f64 ? "float64" : "float32", i, n, v, out_value(o, want, i), ref);
                    }
                }
                for (int isa = H5P_ISA_GENERIC + 1; isa < H5P_ISA_COUNT; isa++) {
                    const h5p_cpu_kernels *k = h5p_cpu_kernels_for((h5p_cpu_isa)isa);
                    if (!k)
                        continue;
                    memset(got, 0xa5, sizeof got);
                    k->normalize[x_f64][o](x, n, shift + skew, div + skew, got);
                    cr_assert(memcmp(got, want, n * os) == 0 && got[n * os] == 0xa5,
                              "%s: %s <- %s, n %zu: not the generic path's bytes (or wrote past n)", k->isa,
                              h5p_out_dtype_name((h5p_out_dtype)o), x_f64 ? "float64" : "float32", n);
                }
            }
}

Test(isa, float32_staging_on_every_path_is_the_c_cast)
{
    enum { MAXN = 1025 + 1 };
    static double x[MAXN];
    static float got[MAXN + 1];
    uint64_t seed = 5;
    for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
        size_t n = sizes[z], skew = z % 2;
        for (size_t i = 0; i < n + skew; i++)
            x[i] = i % 5 == 0 ? nextafter(FLT_MAX, INFINITY) * (i % 2 ? 1 : -1) : staged_value(1, &seed);
        for (int isa = 0; isa < H5P_ISA_COUNT; isa++) {
            const h5p_cpu_kernels *k = h5p_cpu_kernels_for((h5p_cpu_isa)isa);
            if (!k)
                continue;
            got[n] = 42.0f;
            k->to_f32(x + skew, n, got);
            for (size_t i = 0; i < n; i++) {
                float want = (float)x[i + skew];
                cr_assert((isnan(want) && isnan(got[i])) || memcmp(&want, &got[i], sizeof want) == 0,
                          "%s, n %zu: %a staged as %a, want %a", k->isa, n, x[i + skew], (double)got[i], (double)want);
            }
            cr_assert(got[n] == 42.0f, "%s, n %zu: wrote past n", k->isa, n);
        }
    }
}

/* ---- a transform through the CLI --------------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s is missing", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert(buf && fread(buf, 1, (size_t)n, f) == (size_t)n, "%s: cannot read", path);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* The recipe's outputs: every cast of the raw values (normalize: none) and z-score/min-max ones
 * with factors per level (w: (rows, 3, 7), keep_axes [1]: 3 features of 7 values) and per column. */
static const char *const cast_outputs[] = {"a_f32", "a_f64", "a_f16", "a_bf16", "z_f16", "z_bf16", "m_f32", "z_f64"};

/* x and w (float64, staged as float64; w within 1e9) and y (float32, staged as float32) of hostile
 * values, cast to every dtype and normalized: the same .npy bytes on every path, each value equal to numpy's
 * float64 reference cast by numpy (float16) or rounded in float64 (bfloat16). */
Test(isa, cli_transform_every_cast_is_the_same_bytes_on_every_path_and_the_float64_reference)
{
    enum { ROWS = 203 };
    static double x[ROWS * 21], w[ROWS * 21];
    static float y[ROWS * 7];
    uint64_t seed = 21;
    for (size_t i = 0; i < ROWS * 21; i++) {
        x[i] = staged_value(1, &seed);
        double v = staged_value(1, &seed); /* w: the same but within 1e9, so that it can be normalized */
        w[i] = fabs(v) <= 1e9 || isnan(v) ? v : i % 2 ? NAN : -INFINITY;
    }
    for (size_t i = 0; i < ROWS * 7; i++)
        y[i] = (float)staged_value(0, &seed);
    const char *in = tu_path("hostile.h5"), *rp = tu_path("casts.yaml");
    uint64_t dx[3] = {ROWS, 3, 7}, dy[2] = {ROWS, 7};
    tu_write(in, "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, dx, x, 0);
    tu_write(in, "/w", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, dx, w, 0);
    tu_write(in, "/y", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dy, y, 0);
    char text[2048];
    snprintf(text, sizeof text,
             "inputs:\n  - files: %s\n    variables: [x, w, y]\n"
             "outputs:\n"
             "  a_f32: {from: x, cast: float32}\n"
             "  a_f64: {from: x, cast: float64}\n"
             "  a_f16: {from: x, cast: float16}\n"
             "  a_bf16: {from: x, cast: bfloat16}\n"
             "  z_f16: {from: w, normalize: {method: zscore, keep_axes: [1]}, cast: float16}\n"
             "  z_bf16: {from: y, normalize: zscore, cast: bfloat16}\n"
             "  m_f32: {from: y, normalize: minmax, cast: float32}\n"
             "  z_f64: {from: y, normalize: zscore, cast: float64}\n"
             "split: {fractions: {train: 1.0}, shuffle: false}\n"
             "write: {dir: unused, hdf5: false, npy: {shard_rows: 1000}}\n",
             in);
    tu_write_text(rp, text);
    char *first[sizeof cast_outputs / sizeof *cast_outputs] = {0};
    size_t first_len[sizeof cast_outputs / sizeof *cast_outputs];
    const char *first_dir = NULL;
    for (int isa = 0; isa < H5P_ISA_COUNT; isa++) {
        const h5p_cpu_kernels *k = h5p_cpu_kernels_for((h5p_cpu_isa)isa);
        if (!k)
            continue;
        char name[32];
        snprintf(name, sizeof name, "casts-%s", k->isa);
        const char *out = tu_path(name);
        setenv("H5PREP_ISA", k->isa, 1);
        const char *args[] = {"transform", rp, "-o", out, "--backend", "cpu", "--quiet", NULL};
        int rc = tu_cli(args);
        cr_assert_eq(rc, 0, "%s: exit %d: %s", k->isa, rc, tu_stderr());
        for (size_t o = 0; o < sizeof cast_outputs / sizeof *cast_outputs; o++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/train/%s-00000.npy", out, cast_outputs[o]);
            size_t len;
            char *bytes = read_file(path, &len);
            if (!first[o]) {
                first[o] = bytes, first_len[o] = len;
                continue;
            }
            cr_assert(len == first_len[o] && memcmp(bytes, first[o], len) == 0, "%s: %s differs from the %s path",
                      k->isa, path, h5p_cpu_kernels_generic.isa);
            free(bytes);
        }
        first_dir = first_dir ? first_dir : out;
    }
    unsetenv("H5PREP_ISA");
    for (size_t o = 0; o < sizeof cast_outputs / sizeof *cast_outputs; o++)
        free(first[o]);
    char arg[8192];
    snprintf(arg, sizeof arg, "%s|%s", first_dir, in);
    tu_python_ok("import sys, json, h5py, numpy as np\n"
                 "np.seterr(all='ignore')\n"
                 "out, inp = sys.argv[1].split('|')\n"
                 "f = h5py.File(inp, 'r')\n"
                 "x = f['x'][...].astype(np.float64)\n"
                 "w = f['w'][...].astype(np.float64)\n"
                 "y = f['y'][...].astype(np.float64)\n"
                 "x[~np.isfinite(x)] = np.nan\n"
                 "w[~np.isfinite(w)] = np.nan\n"
                 "y[~np.isfinite(y)] = np.nan\n"
                 "def bf16(v):\n"
                 "    # nearest, ties to even, in float64: rint in units of the ulp of each binade (2**-133 below 2**-126)\n"
                 "    a = np.abs(v)\n"
                 "    ok = np.isfinite(a) & (a > 0)\n"
                 "    m, e = np.frexp(np.where(ok, a, 1.0))\n"
                 "    ulp = np.ldexp(1.0, np.maximum(e - 1, -126) - 7)\n"
                 "    r = np.where(ok, np.rint(np.where(ok, a, 0.0) / ulp) * ulp, 0.0)\n"
                 "    r = np.where(r >= 2.0 ** 128, np.inf, r)\n"
                 "    return (np.copysign(r, v).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)\n"
                 "st = json.load(open(out + '/stats.json'))['variables']\n"
                 "def factors(name, method, shape):\n"
                 "    s = st['/' + name]\n"
                 "    num = lambda k: np.array([np.nan if v is None else float(v) for v in s[k]])\n"
                 "    if method == 'zscore':\n"
                 "        shift, div = num('mean'), np.sqrt(num('m2') / num('count'))\n"
                 "    else:\n"
                 "        shift, div = num('min'), num('max') - num('min')\n"
                 "    div = np.where(div > 0, div, 1.0)\n"
                 "    return shift.reshape(shape), div.reshape(shape)\n"
                 "with np.errstate(all='ignore'):\n"
                 "    ref = {'a_f32': x, 'a_f64': x, 'a_f16': x, 'a_bf16': x}\n"
                 "    sh, dv = factors('z_f16', 'zscore', (3, 1))\n"
                 "    ref['z_f16'] = (w - sh) / dv\n"
                 "    sh, dv = factors('z_bf16', 'zscore', (7,))\n"
                 "    ref['z_bf16'] = (y - sh) / dv\n"
                 "    sh, dv = factors('m_f32', 'minmax', (7,))\n"
                 "    ref['m_f32'] = (y - sh) / dv\n"
                 "    sh, dv = factors('z_f64', 'zscore', (7,))\n"
                 "    ref['z_f64'] = (y - sh) / dv\n"
                 "    for k, v in ref.items():\n"
                 "        g = np.load(out + '/train/' + k + '-00000.npy')\n"
                 "        assert g.shape == v.shape, (k, g.shape, v.shape)\n"
                 "        nan = np.isnan(v)\n"
                 "        if k.endswith('bf16'):\n"
                 "            w = bf16(v)\n"
                 "            ok = np.where(nan, ((g & 0x7f80) == 0x7f80) & ((g & 0x7f) != 0), g == w)\n"
                 "        else:\n"
                 "            w = v.astype({'f32': np.float32, 'f64': np.float64, 'f16': np.float16}[k[-3:]])\n"
                 "            ok = np.where(nan, np.isnan(g), (g == w) & (np.signbit(g) == np.signbit(w)))\n"
                 "        bad = np.flatnonzero(~ok)\n"
                 "        assert bad.size == 0, (k, bad.size, bad[:4], v.ravel()[bad[:4]], g.ravel()[bad[:4]], w.ravel()[bad[:4]])\n"
                 "        assert (~nan).sum() > 0.5 * nan.size, (k, nan.sum())\n"
                 "print('casts ok')\n",
                 arg);
}

/* ---- the choice -------------------------------------------------------------------------- */

/* Whether /proc/cpuinfo lists every flag in `flags` (space-separated): the kernel's view of the
 * CPU, independent of the compiler's detection. -1 when it cannot be read. */
static int cpuinfo_has(const char *flags)
{
    FILE *fp = fopen("/proc/cpuinfo", "r");
    if (!fp)
        return -1;
    static char line[8192];
    int found = -1;
    while (found < 0 && fgets(line, sizeof line, fp))
        if (strncmp(line, "flags", 5) == 0) {
            found = 1;
            char want[256];
            snprintf(want, sizeof want, "%s", flags);
            for (char *tok = strtok(want, " "); tok && found; tok = strtok(NULL, " ")) {
                char pat[64];
                snprintf(pat, sizeof pat, " %s", tok);
                const char *hit = strstr(line, pat);
                found = hit && (hit[strlen(pat)] == ' ' || hit[strlen(pat)] == '\n');
            }
        }
    fclose(fp);
    return found;
}

Test(isa, the_path_follows_the_cpu_and_h5prep_isa)
{
    static const char *const names[] = {"generic", "avx2", "avx512"};
    static const char *const needs[] = {"", "avx2 fma", "avx512f avx512bw avx512vl avx512dq"};
    cr_assert_not_null(h5p_cpu_kernels_for(H5P_ISA_GENERIC), "the portable path is always built");
    const h5p_cpu_kernels *widest = NULL, *k;
    for (int isa = 0; isa < H5P_ISA_COUNT; isa++) {
        const h5p_cpu_kernels *t = h5p_cpu_kernels_for((h5p_cpu_isa)isa);
#if defined(H5PREP_HAVE_X86_SIMD)
        int has = isa == 0 ? 1 : cpuinfo_has(needs[isa]);
        if (has >= 0)
            cr_assert_eq(t != NULL, has, "%s: /proc/cpuinfo says %d, the dispatcher %d", names[isa], has, t != NULL);
#else
        (void)needs;
#endif
        if (t)
            cr_assert_str_eq(t->isa, names[isa]);
        widest = t ? t : widest;
    }
    unsetenv("H5PREP_ISA");
    cr_assert_eq(h5p_cpu_kernels_choose(&k), H5PREP_OK);
    cr_assert_eq(k, widest, "without H5PREP_ISA the widest path runs: %s, want %s", k->isa, widest->isa);
    for (int isa = 0; isa < H5P_ISA_COUNT; isa++) {
        setenv("H5PREP_ISA", names[isa], 1);
        const h5p_cpu_kernels *t = h5p_cpu_kernels_for((h5p_cpu_isa)isa);
        h5prep_status st = h5p_cpu_kernels_choose(&k);
        if (t) {
            cr_assert_eq(st, H5PREP_OK, "H5PREP_ISA=%s: %s", names[isa], h5prep_last_error());
            cr_assert_eq(k, t);
        } else {
            cr_assert_eq(st, H5PREP_ERR_BACKEND);
            cr_assert(strstr(h5prep_last_error(), "cannot run") && strstr(h5prep_last_error(), "hint:"), "%s",
                      h5prep_last_error());
        }
    }
    setenv("H5PREP_ISA", "sse9", 1);
    cr_assert_eq(h5p_cpu_kernels_choose(&k), H5PREP_ERR_BACKEND);
    cr_assert(strstr(h5prep_last_error(), "H5PREP_ISA=sse9: no such CPU path (valid: generic, avx2, avx512)") &&
                  strstr(h5prep_last_error(), "hint: unset H5PREP_ISA"),
              "%s", h5prep_last_error());
    unsetenv("H5PREP_ISA");
}

/* Through the CLI: packed int16 with fill values, every path, the same document but for the
 * path it names; --verbose says which ran; an unknown path exits with its message. */
Test(isa, cli_every_path_gives_the_same_document_and_names_itself, .timeout = 60)
{
    enum { ROWS = 4099, F = 5 };
    static int16_t raw[ROWS * F];
    uint64_t seed = 3;
    for (int i = 0; i < ROWS * F; i++)
        raw[i] = (int16_t)(i % 17 == 0 ? -32768 : (int)(next(&seed) % 30001) - 15000);
    uint64_t dims[2] = {ROWS, F};
    const char *path = tu_path("packed.h5");
    tu_write(path, "/p", H5T_STD_I16LE, H5T_NATIVE_INT16, 2, dims, raw, 0);
    double scale = 0.01, offset = 1e8, fill = -32768;
    tu_attr(path, "/p", "scale_factor", H5T_IEEE_F64LE, &scale, 1);
    tu_attr(path, "/p", "add_offset", H5T_IEEE_F64LE, &offset, 1);
    tu_attr(path, "/p", "_FillValue", H5T_STD_I16LE, &fill, 1);
    const char *args[] = {"stats", tu_input(path, "/p"), "--backend", "cpu", "--json", "--quiet", "--verbose", NULL};
    char *first = NULL;
    for (int isa = 0; isa < H5P_ISA_COUNT; isa++) {
        const h5p_cpu_kernels *k = h5p_cpu_kernels_for((h5p_cpu_isa)isa);
        if (!k)
            continue;
        setenv("H5PREP_ISA", k->isa, 1);
        int rc = tu_cli(args);
        cr_assert_eq(rc, 0, "%s: exit %d: %s", k->isa, rc, tu_stderr());
        char says[64];
        snprintf(says, sizeof says, "backend cpu, kernels %s\n", k->isa);
        cr_assert(strstr(tu_stderr(), says), "--verbose with H5PREP_ISA=%s: %s", k->isa, tu_stderr());
        json_error_t e;
        json_t *doc = json_loads(tu_stdout(), 0, &e);
        cr_assert_not_null(doc, "%s", e.text);
        json_t *prov = json_object_get(doc, "provenance");
        cr_assert_str_eq(json_string_value(json_object_get(prov, "cpu_isa")), k->isa);
        char *vars = json_dumps(json_object_get(doc, "variables"), JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
        if (!first)
            first = vars;
        else {
            cr_assert_str_eq(vars, first, "%s differs from generic", k->isa);
            free(vars);
        }
        json_decref(doc);
    }
    free(first);
    setenv("H5PREP_ISA", "neon", 1);
    int rc = tu_cli(args);
    cr_assert_neq(rc, 0);
    cr_assert(strstr(tu_stderr(), "H5PREP_ISA=neon: no such CPU path"), "%s", tu_stderr());
    unsetenv("H5PREP_ISA");
}
