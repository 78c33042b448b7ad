/* test_sink.c: float16/bfloat16 rounding against every pattern of both formats, and the sink's
 * files read back independently: HDF5 through its C API, .npy by parsing the header, the index. */
#include "common/half.h"
#include "output/sink.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- half conversions -------------------------------------------------------------------- */

typedef struct small_fmt {
    const char *name;
    int ebits, mbits;
    uint16_t (*to)(double);
    double (*from)(uint16_t);
} small_fmt;

static const small_fmt F16 = {"float16", 5, 10, h5p_f64_to_f16, h5p_f16_to_f64};
static const small_fmt BF16 = {"bfloat16", 8, 7, h5p_f64_to_bf16, h5p_bf16_to_f64};

/* The value of pattern p from its fields, by ldexp: independent of half.h's bit assembly. */
static double ref_decode(const small_fmt *f, uint16_t p)
{
    int bias = (1 << (f->ebits - 1)) - 1;
    int e = (p >> f->mbits) & ((1 << f->ebits) - 1);
    int m = p & ((1 << f->mbits) - 1);
    double v = e == 0 ? ldexp(m, 1 - bias - f->mbits)
             : e == (1 << f->ebits) - 1 ? (m ? NAN : INFINITY)
                                         : ldexp(m + (1 << f->mbits), e - bias - f->mbits);
    return p & 0x8000 ? -v : v;
}

static void check_format(const small_fmt *f)
{
    int bias = (1 << (f->ebits - 1)) - 1;
    uint16_t inf = (uint16_t)(((1 << f->ebits) - 1) << f->mbits), quiet = (uint16_t)(1 << (f->mbits - 1));
    /* every pattern decodes exactly and comes back */
    for (uint32_t p = 0; p < 65536; p++) {
        uint16_t h = (uint16_t)p;
        double d = f->from(h), r = ref_decode(f, h);
        if ((h & 0x7fff) > inf) {
            cr_assert(isnan(d), "%s %#06x: expected NaN, got %g", f->name, h, d);
            cr_assert_eq(f->to(d), h | quiet, "%s %#06x: NaN came back as %#06x (expected %#06x)", f->name, h,
                         f->to(d), h | quiet);
            continue;
        }
        cr_assert(d == r && signbit(d) == signbit(r), "%s %#06x: decoded %a, expected %a", f->name, h, d, r);
        cr_assert_eq(f->to(d), h, "%s %#06x: round trip gave %#06x", f->name, h, f->to(d));
    }
    /* between neighbours: the midpoint goes to the even one, a double ulp either side to the nearer
     * one; past the largest finite, the neighbour is 2^(emax+1) and the pattern above it inf */
    for (uint16_t p = 0; p < inf; p++) {
        double lo = ref_decode(f, p), hi = p + 1 == inf ? ldexp(1, bias + 1) : ref_decode(f, (uint16_t)(p + 1));
        double mid = (lo + hi) / 2; /* exact: a few significant bits */
        uint16_t even = p & 1 ? (uint16_t)(p + 1) : p;
        for (int sg = 0; sg < 2; sg++) {
            double s = sg ? -1 : 1;
            uint16_t sb = sg ? 0x8000 : 0;
            cr_assert_eq(f->to(s * mid), sb | even, "%s: %a (tie after %#06x) gave %#06x", f->name, s * mid, p,
                         f->to(s * mid));
            double below = nextafter(mid, 0), above = nextafter(mid, INFINITY);
            cr_assert_eq(f->to(s * below), sb | p, "%s: %a gave %#06x, expected %#06x", f->name, s * below,
                         f->to(s * below), sb | p);
            cr_assert_eq(f->to(s * above), sb | (p + 1), "%s: %a gave %#06x, expected %#06x", f->name, s * above,
                         f->to(s * above), sb | (p + 1));
        }
    }
    /* overflow, NaN, zeros and what lies below the smallest subnormal */
    cr_assert_eq(f->to(1e300), inf);
    cr_assert_eq(f->to(-DBL_MAX), 0x8000 | inf);
    cr_assert_eq(f->to(INFINITY), inf);
    cr_assert_eq(f->to(-INFINITY), 0x8000 | inf);
    cr_assert_eq(f->to(NAN), inf | quiet);
    cr_assert_eq(f->to(-NAN), 0x8000 | inf | quiet);
    double snan; /* payload in the low bits only: dropping them must not make an infinity */
    uint64_t sb = UINT64_C(0x7ff0000000000001);
    memcpy(&snan, &sb, sizeof snan);
    cr_assert_eq(f->to(snan), inf | quiet, "%s: signalling NaN gave %#06x", f->name, f->to(snan));
    cr_assert_eq(f->to(0.0), 0);
    cr_assert_eq(f->to(-0.0), 0x8000);
    cr_assert_eq(f->to(DBL_TRUE_MIN), 0);
    cr_assert_eq(f->to(-DBL_MIN), 0x8000);
    cr_assert_eq(f->to(ldexp(1, 1 - bias - f->mbits - 1)), 0, "half the smallest subnormal ties to 0");
    cr_assert_eq(f->to(ldexp(1.5, 1 - bias - f->mbits - 1)), 1);
    cr_assert_eq(f->to(ldexp(1, 1 - bias - f->mbits - 2)), 0);
}

Test(sink, float16_every_pattern_and_every_midpoint) { check_format(&F16); }
Test(sink, bfloat16_every_pattern_and_every_midpoint) { check_format(&BF16); }

Test(sink, half_rounds_once_from_float64)
{
    /* 1 + 2^-11 + 2^-40 lies above the float16 midpoint between 1 and 1 + 2^-10; through float32
     * it would become the midpoint and then tie down to 1 */
    cr_assert_eq(h5p_f64_to_f16(1 + 0x1p-11 + 0x1p-40), 0x3c01);
    cr_assert_eq(h5p_f64_to_bf16(1 + 0x1p-8 + 0x1p-40), 0x3f81);
    cr_assert_eq(h5p_f64_to_f16(65519.999), 0x7bff);
    cr_assert_eq(h5p_f64_to_f16(65520), 0x7c00);
    cr_assert_eq(h5p_f64_to_bf16(0x1.ffp127), 0x7f80);
    cr_assert_eq(h5p_f64_to_bf16(0x1.fefffffp127), 0x7f7f);
}

/* bfloat16 of a float32 value is the classic rounding of its top 16 bits: an independent check
 * over float32 patterns of every exponent. */
Test(sink, bfloat16_matches_float32_bit_rounding)
{
    uint64_t state = 7;
    for (int i = 0; i < 1000000; i++) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        uint32_t u = (uint32_t)(state >> 16);
        float x;
        memcpy(&x, &u, sizeof x);
        if (isnan(x))
            continue;
        uint16_t want = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
        cr_assert_eq(h5p_f64_to_bf16(x), want, "%a: %#06x, expected %#06x", (double)x, h5p_f64_to_bf16(x), want);
    }
}

/* ---- the sink ----------------------------------------------------------------------------- */

typedef struct out_case {
    const char *name;
    int rank;
    uint64_t shape[3];
    h5p_out_dtype t;
    size_t esize;
    const char *descr, *dtype;
} out_case;

static const out_case OUTS[] = {
    {"x", 2, {3, 5}, H5P_OUT_F32, 4, "<f4", "float32"},
    {"y", 1, {7}, H5P_OUT_F64, 8, "<f8", "float64"},
    {"h", 2, {2, 3}, H5P_OUT_F16, 2, "<f2", "float16"},
    {"b", 0, {0}, H5P_OUT_BF16, 2, "<u2", "bfloat16"},
};
enum { NOUT = 4 };

static size_t row_bytes(const out_case *o)
{
    size_t n = o->esize;
    for (int a = 0; a < o->rank; a++)
        n *= o->shape[a];
    return n;
}

/* Rows of output o in split k: distinct values, some that need rounding in the small types. */
static unsigned char *make_rows(const out_case *o, int k, uint64_t rows)
{
    size_t per = row_bytes(o) / o->esize, n = (size_t)rows * per;
    unsigned char *buf = malloc(n * o->esize + 1);
    for (size_t i = 0; i < n; i++) {
        double v = (k + 1) * 1000.0 + (double)i / 3.0 - (double)(i % 7) * 0.01;
        switch (o->t) {
        case H5P_OUT_F32: ((float *)buf)[i] = (float)v; break;
        case H5P_OUT_F64: ((double *)buf)[i] = v; break;
        case H5P_OUT_F16: ((uint16_t *)buf)[i] = h5p_f64_to_f16(v); break;
        case H5P_OUT_BF16: ((uint16_t *)buf)[i] = h5p_f64_to_bf16(v); break;
        }
    }
    return buf;
}

static const char *out_dir(const char *name)
{
    const char *d = tu_path(name);
    cr_assert_eq(mkdir(d, 0777), 0, "mkdir %s", d);
    return d;
}

static h5p_write_spec spec(int hdf5, uint64_t chunk_rows, int gzip, int npy, uint64_t shard_rows)
{
    h5p_write_spec w = {NULL, hdf5, chunk_rows, gzip, npy, shard_rows, 0};
    return w;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Parses a .npy file: checks the 1.0 header (magic, version, alignment, exact dict text) and
 * that the data that follows equals want (rows of row_bytes). */
static void check_npy(const char *path, const char *descr, uint64_t rows, int rank, const uint64_t *shape,
                      const unsigned char *want, size_t rb)
{
    size_t len;
    unsigned char *b = slurp(path, &len);
    cr_assert(len >= 10 && memcmp(b, "\x93NUMPY\x01\x00", 8) == 0, "%s: not NPY 1.0", path);
    size_t hlen = b[8] | (size_t)b[9] << 8, data = 10 + hlen;
    cr_assert_eq(data % 64, 0, "%s: data starts at %zu", path, data);
    cr_assert_eq(b[data - 1], '\n', "%s: header does not end in a newline", path);
    char dict[1024], tuple[512];
    int n = snprintf(tuple, sizeof tuple, "(%llu,", (unsigned long long)rows);
    for (int a = 0; a < rank; a++)
        n += snprintf(tuple + n, sizeof tuple - (size_t)n, "%s%llu,", a ? " " : "", (unsigned long long)shape[a]);
    if (rank > 0)
        tuple[n - 1] = 0;
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s), }", descr, tuple);
    size_t dl = strlen(dict);
    cr_assert(dl < hlen && memcmp(b + 10, dict, dl) == 0, "%s: header '%.*s', expected '%s'", path, (int)hlen,
              b + 10, dict);
    for (size_t i = 10 + dl; i < data - 1; i++)
        cr_assert_eq(b[i], ' ', "%s: header padding", path);
    cr_assert_eq(len - data, rows * rb, "%s: %zu data bytes, expected %llu", path, len - data,
                 (unsigned long long)(rows * rb));
    cr_assert(rows == 0 || memcmp(b + data, want, rows * rb) == 0, "%s: data differ", path);
    free(b);
}

static char *read_attr(hid_t obj, const char *name)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    cr_assert(a >= 0, "attribute %s missing", name);
    hid_t t = H5Aget_type(a);
    cr_assert(H5Tis_variable_str(t) > 0, "attribute %s is not a string", name);
    char *v = NULL;
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5Tget_cset(t));
    cr_assert(H5Aread(a, mt, &v) >= 0);
    char *copy = strdup(v);
    H5free_memory(v);
    H5Tclose(mt), H5Tclose(t), H5Aclose(a);
    return copy;
}

/* Checks dataset o of an HDF5 file: shape, stored type, chunks, filters, attribute, values. */
static void check_h5(hid_t f, const char *path, const out_case *o, uint64_t rows, uint64_t chunk, int gzip,
                     const unsigned char *want)
{
    char dname[64];
    snprintf(dname, sizeof dname, "/%s", o->name);
    hid_t d = H5Dopen2(f, dname, H5P_DEFAULT);
    cr_assert(d >= 0, "%s:%s missing", path, dname);
    hid_t sp = H5Dget_space(d);
    hsize_t dims[4];
    cr_assert_eq(H5Sget_simple_extent_ndims(sp), o->rank + 1, "%s:%s rank", path, dname);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    cr_assert_eq(dims[0], rows, "%s:%s has %llu rows", path, dname, (unsigned long long)dims[0]);
    for (int a = 0; a < o->rank; a++)
        cr_assert_eq(dims[a + 1], o->shape[a]);

    hid_t t = H5Dget_type(d);
    switch (o->t) {
    case H5P_OUT_F32: cr_assert(H5Tequal(t, H5T_IEEE_F32LE) > 0); break;
    case H5P_OUT_F64: cr_assert(H5Tequal(t, H5T_IEEE_F64LE) > 0); break;
    case H5P_OUT_BF16: cr_assert(H5Tequal(t, H5T_STD_U16LE) > 0); break;
    case H5P_OUT_F16: {
        size_t spos, epos, esize, mpos, msize;
        cr_assert_eq(H5Tget_class(t), H5T_FLOAT);
        cr_assert_eq(H5Tget_size(t), 2);
        cr_assert_eq(H5Tget_order(t), H5T_ORDER_LE);
        H5Tget_fields(t, &spos, &epos, &esize, &mpos, &msize);
        cr_assert(spos == 15 && epos == 10 && esize == 5 && mpos == 0 && msize == 10, "half fields");
        cr_assert_eq(H5Tget_ebias(t), 15);
        break;
    }
    }
    H5Tclose(t);
    char *attr = read_attr(d, "h5prep_dtype");
    cr_assert_str_eq(attr, o->dtype);
    free(attr);

    hid_t dcpl = H5Dget_create_plist(d);
    cr_assert_eq(H5Pget_layout(dcpl), H5D_CHUNKED);
    hsize_t cdims[4];
    cr_assert_eq(H5Pget_chunk(dcpl, 4, cdims), o->rank + 1);
    cr_assert_eq(cdims[0], chunk, "%s:%s chunk of %llu rows, expected %llu", path, dname,
                 (unsigned long long)cdims[0], (unsigned long long)chunk);
    for (int a = 0; a < o->rank; a++)
        cr_assert_eq(cdims[a + 1], o->shape[a]);
    if (gzip) {
        unsigned flags, cd[8];
        size_t ncd = 8;
        cr_assert_eq(H5Pget_nfilters(dcpl), 2);
        cr_assert_eq(H5Pget_filter2(dcpl, 0, &flags, &(size_t){8}, cd, 0, NULL, NULL), H5Z_FILTER_SHUFFLE);
        cr_assert_eq(H5Pget_filter2(dcpl, 1, &flags, &ncd, cd, 0, NULL, NULL), H5Z_FILTER_DEFLATE);
        cr_assert_eq(cd[0], (unsigned)gzip);
    } else {
        cr_assert_eq(H5Pget_nfilters(dcpl), 0);
    }
    H5Pclose(dcpl);

    size_t per = row_bytes(o) / o->esize, n = (size_t)rows * per;
    if (o->t == H5P_OUT_F16) { /* HDF5's own conversion: proves that it reads the type as IEEE half */
        double *got = malloc(n * sizeof *got + 1);
        cr_assert(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(got[i], h5p_f16_to_f64(((const uint16_t *)want)[i]), "%s:%s[%zu]", path, dname, i);
        free(got);
    } else {
        hid_t mt = o->t == H5P_OUT_F32 ? H5T_NATIVE_FLOAT : o->t == H5P_OUT_F64 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_UINT16;
        unsigned char *got = malloc(n * o->esize + 1);
        cr_assert(H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0);
        cr_assert(n == 0 || memcmp(got, want, n * o->esize) == 0, "%s:%s values differ", path, dname);
        free(got);
    }
    H5Sclose(sp);
    H5Dclose(d);
}

static json_t *load_index(const char *dir)
{
    json_t *j = tu_load_json(dir, "index.json");
    cr_assert_str_eq(json_string_value(json_object_get(j, "format")), "h5prep-dataset/1");
    return j;
}

/* Writes every output of every split in pieces of odd sizes, interleaved, then checks it all. */
static void every_dtype(int hdf5, uint64_t chunk_rows, int gzip, int npy, uint64_t shard_rows)
{
    enum { NSPLIT = 3 };
    char *names[NSPLIT] = {"train", "val", "test"};
    const uint64_t rows[NSPLIT] = {37, 0, 10};
    const char *dir = out_dir("out");
    h5p_write_spec w = spec(hdf5, chunk_rows, gzip, npy, shard_rows);
    h5p_sink *s;
    cr_assert_eq(h5p_sink_open(&s, dir, &w, NSPLIT, names, rows), H5PREP_OK, "%s", h5prep_last_error());
    unsigned char *data[NOUT][NSPLIT];
    uint64_t done[NOUT][NSPLIT] = {{0}};
    for (int o = 0; o < NOUT; o++) {
        cr_assert_eq(h5p_sink_add_output(s, OUTS[o].name, OUTS[o].rank, OUTS[o].shape, OUTS[o].t), H5PREP_OK,
                     "%s", h5prep_last_error());
        for (int k = 0; k < NSPLIT; k++)
            data[o][k] = make_rows(&OUTS[o], k, rows[k]);
    }
    static const uint64_t pieces[] = {1, 3, 7, 2, 11, 5, 1, 13};
    for (int step = 0, left = 1; left; step++) {
        left = 0;
        for (int k = 0; k < NSPLIT; k++)
            for (int o = 0; o < NOUT; o++) {
                uint64_t n = pieces[(step + o + k) % 8];
                if (n > rows[k] - done[o][k])
                    n = rows[k] - done[o][k];
                if (n == 0)
                    continue;
                cr_assert_eq(h5p_sink_write(s, o, k, n, data[o][k] + done[o][k] * row_bytes(&OUTS[o])), H5PREP_OK,
                             "%s", h5prep_last_error());
                done[o][k] += n;
                left |= done[o][k] < rows[k];
            }
    }
    cr_assert_eq(h5p_sink_close(s, "{\"recipe\": \"r.yaml\", \"seed\": 3}"), H5PREP_OK, "%s", h5prep_last_error());
    h5p_sink_free(s);

    json_t *idx = load_index(dir);
    json_t *splits = json_object_get(idx, "splits");
    cr_assert_eq(json_object_size(splits), NSPLIT);
    const char *key;
    json_t *v;
    static const char *const top[] = {"format", "splits", "recipe", "seed"};
    int ki = 0;
    json_object_foreach(idx, key, v) /* the order written: format, splits, then the extra keys */
        cr_assert_str_eq(key, top[ki++]);
    cr_assert_str_eq(json_string_value(json_object_get(idx, "recipe")), "r.yaml");
    ki = 0;
    json_object_foreach(splits, key, v)
        cr_assert_str_eq(key, names[ki++]);

    for (int k = 0; k < NSPLIT; k++) {
        json_t *sj = json_object_get(splits, names[k]);
        cr_assert_eq(json_integer_value(json_object_get(sj, "rows")), (json_int_t)rows[k]);
        char h5[512];
        snprintf(h5, sizeof h5, "%s/%s.h5", dir, names[k]);
        cr_assert_eq(tu_exists(h5), hdf5, "%s", h5);
        if (hdf5) {
            char want[64];
            snprintf(want, sizeof want, "%s.h5", names[k]);
            cr_assert_str_eq(json_string_value(json_object_get(sj, "hdf5")), want);
        } else {
            cr_assert_null(json_object_get(sj, "hdf5"));
        }
        hid_t f = hdf5 ? H5Fopen(h5, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
        for (int o = 0; o < NOUT; o++) {
            const out_case *oc = &OUTS[o];
            json_t *oj = json_object_get(json_object_get(sj, "outputs"), oc->name);
            cr_assert_not_null(oj, "index: %s of %s", oc->name, names[k]);
            json_t *shape = json_object_get(oj, "shape");
            cr_assert_eq(json_array_size(shape), (size_t)oc->rank + 1);
            cr_assert_eq(json_integer_value(json_array_get(shape, 0)), (json_int_t)rows[k]);
            for (int a = 0; a < oc->rank; a++)
                cr_assert_eq(json_integer_value(json_array_get(shape, (size_t)a + 1)), (json_int_t)oc->shape[a]);
            cr_assert_str_eq(json_string_value(json_object_get(oj, "dtype")), oc->dtype);
            if (oc->t == H5P_OUT_BF16)
                cr_assert_str_eq(json_string_value(json_object_get(oj, "stored_as")), "uint16");
            else
                cr_assert_null(json_object_get(oj, "stored_as"));
            if (hdf5) {
                uint64_t c = chunk_rows ? chunk_rows : (1 << 20) / row_bytes(oc);
                c = c > rows[k] ? rows[k] : c;
                check_h5(f, h5, oc, rows[k], c ? c : 1, gzip, data[o][k]);
            }
            json_t *shards = json_object_get(oj, "npy");
            if (!npy) {
                cr_assert_null(shards);
                continue;
            }
            uint64_t sr = shard_rows ? shard_rows : rows[k], nsh = rows[k] ? (rows[k] + sr - 1) / sr : 1;
            cr_assert_eq(json_array_size(shards), nsh, "%s of %s: %zu shards", oc->name, names[k],
                         json_array_size(shards));
            for (uint64_t i = 0; i < nsh; i++) {
                json_t *sh = json_array_get(shards, i);
                char rel[256], abs[512];
                snprintf(rel, sizeof rel, "%s/%s-%05llu.npy", names[k], oc->name, (unsigned long long)i);
                cr_assert_str_eq(json_string_value(json_object_get(sh, "path")), rel);
                uint64_t row0 = i * sr, n = rows[k] - row0 < sr ? rows[k] - row0 : sr;
                cr_assert_eq(json_integer_value(json_object_get(sh, "row0")), (json_int_t)row0);
                cr_assert_eq(json_integer_value(json_object_get(sh, "rows")), (json_int_t)n);
                snprintf(abs, sizeof abs, "%s/%s", dir, rel);
                check_npy(abs, oc->descr, n, oc->rank, oc->shape, data[o][k] + row0 * row_bytes(oc), row_bytes(oc));
            }
        }
        if (f >= 0)
            H5Fclose(f);
    }
    json_decref(idx);
    for (int o = 0; o < NOUT; o++)
        for (int k = 0; k < NSPLIT; k++)
            free(data[o][k]);
}

Test(sink, every_dtype_gzip_chunks_and_shards_in_odd_pieces) { every_dtype(1, 8, 4, 1, 16); }
Test(sink, every_dtype_no_filter_auto_chunks_one_shard) { every_dtype(1, 0, 0, 1, 0); }
Test(sink, hdf5_only_chunk_larger_than_split) { every_dtype(1, 100, 9, 0, 0); }
Test(sink, npy_only_shards_of_one_row) { every_dtype(0, 0, 0, 1, 1); }

/* 16 KiB rows in blocks larger than a chunk and the npy buffer: whole chunks go straight from the
 * caller's rows, the remainders through the stage. */
Test(sink, large_rows_large_writes)
{
    enum { R = 300, F = 4096 };
    char *names[1] = {"all"};
    const uint64_t rows[1] = {R}, shape[1] = {F};
    const char *dir = out_dir("big");
    h5p_write_spec w = spec(1, 0, 1, 1, 250);
    h5p_sink *s;
    cr_assert_eq(h5p_sink_open(&s, dir, &w, 1, names, rows), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5p_sink_add_output(s, "x", 1, shape, H5P_OUT_F32), H5PREP_OK, "%s", h5prep_last_error());
    float *x = malloc(sizeof(float) * R * F);
    uint64_t seed = 11;
    for (size_t i = 0; i < (size_t)R * F; i++)
        x[i] = (float)tu_normal(&seed);
    static const uint64_t blocks[] = {100, 28, 36, 64, 1, 71};
    for (uint64_t i = 0, r = 0; r < R; r += blocks[i++])
        cr_assert_eq(h5p_sink_write(s, 0, 0, blocks[i], x + r * F), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5p_sink_close(s, NULL), H5PREP_OK, "%s", h5prep_last_error());
    h5p_sink_free(s);

    const out_case oc = {"x", 1, {F}, H5P_OUT_F32, 4, "<f4", "float32"};
    char path[512];
    snprintf(path, sizeof path, "%s/all.h5", dir);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    check_h5(f, path, &oc, R, 64, 1, (const unsigned char *)x);
    H5Fclose(f);
    snprintf(path, sizeof path, "%s/all/x-00000.npy", dir);
    check_npy(path, "<f4", 250, 1, shape, (const unsigned char *)x, F * 4);
    snprintf(path, sizeof path, "%s/all/x-00001.npy", dir);
    check_npy(path, "<f4", 50, 1, shape, (const unsigned char *)(x + 250 * F), F * 4);
    json_t *idx = load_index(dir);
    cr_assert_null(json_object_get(idx, "recipe"));
    json_decref(idx);
    free(x);
}

Test(sink, write_past_the_end_and_missing_rows_fail)
{
    char *names[2] = {"train", "val"};
    const uint64_t rows[2] = {5, 3}, shape[1] = {2};
    const char *dir = out_dir("short");
    h5p_write_spec w = spec(1, 0, 0, 1, 0);
    h5p_sink *s;
    cr_assert_eq(h5p_sink_open(&s, dir, &w, 2, names, rows), H5PREP_OK);
    cr_assert_eq(h5p_sink_add_output(s, "x", 1, shape, H5P_OUT_F64), H5PREP_OK);
    double v[2 * 6] = {0};
    cr_assert_eq(h5p_sink_write(s, 0, 1, 2, v), H5PREP_OK);
    cr_assert_eq(h5p_sink_write(s, 0, 1, 2, v), H5PREP_ERR_INTERNAL);
    cr_assert(strstr(h5prep_last_error(), "'x' of split 'val'") && strstr(h5prep_last_error(), "3 rows"), "%s",
              h5prep_last_error());
    cr_assert_eq(h5p_sink_write(s, 1, 0, 1, v), H5PREP_ERR_INTERNAL, "no output 1");
    cr_assert_eq(h5p_sink_add_output(s, "late", 1, shape, H5P_OUT_F64), H5PREP_ERR_INTERNAL);
    cr_assert_eq(h5p_sink_write(s, 0, 0, 6, v), H5PREP_ERR_INTERNAL);
    cr_assert_eq(h5p_sink_write(s, 0, 0, 5, v), H5PREP_OK);
    cr_assert_eq(h5p_sink_close(s, NULL), H5PREP_ERR_INTERNAL, "val got 2 of 3 rows");
    cr_assert(strstr(h5prep_last_error(), "got 2 of its 3 rows"), "%s", h5prep_last_error());
    h5p_sink_free(s);
    cr_assert(!tu_exists(tu_path("short/index.json")));
}

Test(sink, bad_names_and_extra_are_refused)
{
    char *bad[1] = {"a/b"}, *good[1] = {"all"};
    const uint64_t rows[1] = {1}, shape[1] = {1};
    h5p_write_spec w = spec(1, 0, 0, 0, 0);
    h5p_sink *s;
    cr_assert_eq(h5p_sink_open(&s, out_dir("n1"), &w, 1, bad, rows), H5PREP_ERR_USAGE);
    cr_assert_eq(h5p_sink_open(&s, out_dir("n2"), &w, 1, good, rows), H5PREP_OK);
    cr_assert_eq(h5p_sink_add_output(s, "..", 1, shape, H5P_OUT_F32), H5PREP_ERR_USAGE);
    cr_assert_eq(h5p_sink_add_output(s, "x", 1, shape, H5P_OUT_F32), H5PREP_OK);
    cr_assert_eq(h5p_sink_add_output(s, "x", 1, shape, H5P_OUT_F32), H5PREP_ERR_USAGE);
    float one = 1;
    cr_assert_eq(h5p_sink_write(s, 0, 0, 1, &one), H5PREP_OK);
    cr_assert_eq(h5p_sink_close(s, "{\"splits\": 1}"), H5PREP_ERR_INTERNAL, "extra may not replace splits");
    h5p_sink_free(s);
}

Test(sink, unwritable_directory_fails_with_output)
{
    char *names[1] = {"all"};
    const uint64_t rows[1] = {4};
    const char *file = tu_path("plain-file"); /* a file where the directory should be: fails for root too */
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fclose(f);
    h5p_sink *s = (h5p_sink *)1;
    h5p_write_spec w = spec(1, 0, 0, 0, 0);
    cr_assert_eq(h5p_sink_open(&s, file, &w, 1, names, rows), H5PREP_ERR_OUTPUT);
    cr_assert_null(s);
    cr_assert(strstr(h5prep_last_error(), "plain-file/all.h5"), "%s", h5prep_last_error());
    w = spec(0, 0, 0, 1, 0);
    cr_assert_eq(h5p_sink_open(&s, file, &w, 1, names, rows), H5PREP_ERR_OUTPUT);
    cr_assert(strstr(h5prep_last_error(), "plain-file/all") && strstr(h5prep_last_error(), "Not a directory"), "%s",
              h5prep_last_error());
    cr_assert_eq(h5p_sink_open(&s, tu_path("missing/dir"), &w, 1, names, rows), H5PREP_ERR_OUTPUT);
}
