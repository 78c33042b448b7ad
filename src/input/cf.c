/* cf.c: CF attributes (fill values, valid range, packing) read in their own types and checked
 * with netCDF4-python's rules (Variable._toma, _check_safecast and __getitem__ in _netCDF4.pyx). */
#include "input/cf.h"

#include "common/internal.h"

#include <ctype.h>
#include <float.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { MAX_ATTR_VALUES = 1 << 16 }; /* values read of one attribute; more are only counted */

/* One attribute as stored: integers as int64 or uint64 (by sign), floats as float64, strings as
 * text (the first value). */
typedef struct cf_attr {
    const char *name;
    int present;
    char kind;      /* 'i' signed, 'u' unsigned, 'f' float, 's' string, 'x' another class */
    size_t n;       /* values (elements of the dataspace) */
    h5p_stored *v;  /* (n,) for 'i', 'u', 'f' when n <= MAX_ATTR_VALUES, else NULL */
    char text[256]; /* 's': the first string, cut; 'x': the class name */
} cf_attr;

const char *h5p_type_class_name(int cls)
{
    switch ((H5T_class_t)cls) {
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "variable-length";
    case H5T_ARRAY: return "array";
    case H5T_OPAQUE: return "opaque";
    case H5T_REFERENCE: return "reference";
    case H5T_BITFIELD: return "bitfield";
    case H5T_TIME: return "time";
    default: return "non-numeric";
    }
}

/* Reads the string values' first element into a->text. */
static herr_t read_text(hid_t at, hid_t t, cf_attr *a)
{
    herr_t e = -1;
    if (H5Tis_variable_str(t) > 0) {
        char **s = calloc(a->n, sizeof *s);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t)); /* HDF5 converts no ASCII to UTF-8 or back */
        if (s && (e = H5Aread(at, mt, s)) >= 0) {
            snprintf(a->text, sizeof a->text, "%s", s[0] ? s[0] : "");
            hid_t sp = H5Aget_space(at);
            H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, s);
            H5Sclose(sp);
        }
        H5Tclose(mt);
        free(s);
        return e;
    }
    size_t size = H5Tget_size(t);
    char *buf = size ? malloc(a->n * size + 1) : NULL;
    hid_t mt = H5Tcopy(t); /* as stored: no conversion of the characters */
    if (buf && (e = H5Aread(at, mt, buf)) >= 0) {
        size_t len = size < sizeof a->text - 1 ? size : sizeof a->text - 1;
        memcpy(a->text, buf, len);
        a->text[len] = 0;
    }
    H5Tclose(mt);
    free(buf);
    return e;
}

/* Reads attribute `name` of dataset d into a (present = 0 when it does not exist). */
static h5prep_status read_attr(hid_t d, const char *path, const char *dname, const char *name, cf_attr *a)
{
    memset(a, 0, sizeof *a);
    a->name = name;
    htri_t ex = H5Aexists(d, name);
    RETURN_ERROR_IF(ex < 0, H5PREP_ERR_CORRUPT, "%s:%s: cannot read the attribute list (HDF5: %s)", path, dname,
                    h5p_hdf5_reason());
    if (ex == 0)
        return H5PREP_OK;
    hid_t at = H5Aopen(d, name, H5P_DEFAULT);
    RETURN_ERROR_IF(at < 0, H5PREP_ERR_CORRUPT, "%s:%s: cannot open attribute %s (HDF5: %s)", path, dname, name,
                    h5p_hdf5_reason());
    hid_t t = H5Aget_type(at), sp = H5Aget_space(at);
    hssize_t np = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    H5T_class_t c = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    herr_t e = t < 0 || np < 0 ? -1 : 0;
    a->present = 1;
    a->n = np > 0 ? (size_t)np : 0;
    if (e >= 0 && (c == H5T_INTEGER || c == H5T_FLOAT)) {
        a->kind = c == H5T_FLOAT ? 'f' : H5Tget_sign(t) == H5T_SGN_2 ? 'i' : 'u';
        if (a->n > 0 && a->n <= MAX_ATTR_VALUES) {
            a->v = malloc(a->n * sizeof *a->v);
            hid_t mt = a->kind == 'f' ? H5T_NATIVE_DOUBLE : a->kind == 'i' ? H5T_NATIVE_LLONG : H5T_NATIVE_ULLONG;
            /* the members are 8 bytes: an array of them is an array of int64/uint64/double */
            e = a->v ? H5Aread(at, mt, a->v) : -1;
        }
    } else if (e >= 0 && c == H5T_STRING) {
        a->kind = 's';
        if (a->n > 0 && a->n <= MAX_ATTR_VALUES)
            e = read_text(at, t, a);
    } else if (e >= 0) {
        a->kind = 'x';
        snprintf(a->text, sizeof a->text, "%s", h5p_type_class_name(c));
    }
    char why[512] = "";
    if (e < 0) /* before the closes, which clear the error stack */
        snprintf(why, sizeof why, "%s", h5p_hdf5_reason());
    if (t >= 0)
        H5Tclose(t);
    if (sp >= 0)
        H5Sclose(sp);
    H5Aclose(at);
    if (e < 0) {
        free(a->v);
        a->v = NULL;
        return h5p_fail(H5PREP_ERR_CORRUPT, "%s:%s: cannot read attribute %s: the file is damaged (HDF5: %s)", path,
                        dname, name, why);
    }
    return H5PREP_OK;
}

static void free_attr(cf_attr *a)
{
    free(a->v);
    a->v = NULL;
}

int h5p_string_attr(int64_t obj, const char *name, char *dst, size_t cap)
{
    cf_attr a;
    int ok = read_attr((hid_t)obj, "", "", name, &a) == H5PREP_OK && a.present && a.kind == 's' && a.n >= 1;
    if (ok)
        snprintf(dst, cap, "%s", a.text);
    free_attr(&a);
    return ok;
}

/* "-9999 (int16)", "\"abc\" (a string)", "of 100 values" ...: the attribute for a message. */
static void describe(const cf_attr *a, char *out, size_t cap)
{
    if (a->n != 1 || (a->kind != 's' && !a->v))
        snprintf(out, cap, "(%zu values)", a->n);
    else if (a->kind == 's')
        snprintf(out, cap, "\"%.80s\" (a string)", a->text);
    else if (a->kind == 'x')
        snprintf(out, cap, "(of %.80s type)", a->text);
    else if (a->kind == 'i')
        snprintf(out, cap, "%lld", a->v[0].i);
    else if (a->kind == 'u')
        snprintf(out, cap, "%llu", a->v[0].u);
    else
        snprintf(out, cap, "%.17g", a->v[0].f);
}

/* Integer limits of t as h5p_stored (i for signed types, u for unsigned ones). */
static void int_limits(h5p_dtype t, h5p_stored *lo, h5p_stored *hi)
{
    switch (t) {
    case H5P_I8: lo->i = INT8_MIN, hi->i = INT8_MAX; break;
    case H5P_I16: lo->i = INT16_MIN, hi->i = INT16_MAX; break;
    case H5P_I32: lo->i = INT32_MIN, hi->i = INT32_MAX; break;
    case H5P_I64: lo->i = INT64_MIN, hi->i = INT64_MAX; break;
    case H5P_U8: lo->u = 0, hi->u = UINT8_MAX; break;
    case H5P_U16: lo->u = 0, hi->u = UINT16_MAX; break;
    case H5P_U32: lo->u = 0, hi->u = UINT32_MAX; break;
    default: lo->u = 0, hi->u = UINT64_MAX; break;
    }
}

static int is_signed_int(h5p_dtype t) { return t == H5P_I8 || t == H5P_I16 || t == H5P_I32 || t == H5P_I64; }
static int is_float(h5p_dtype t) { return t == H5P_F32 || t == H5P_F64; }

/* netCDF4-python's _safecast(att, numpy.array(att, dtype)): value k of a converted to stored type
 * t must compare equal to the value itself (NaN equal to NaN) in numpy's common type of the two.
 * For an integer t that means exactly representable; for float32 and float64 it is numpy's
 * comparison after rounding (an int64 attribute on a float64 dataset is always safe and rounds,
 * as numpy does). *out gets the value in t. */
static int safecast(const cf_attr *a, size_t k, h5p_dtype t, h5p_stored *out)
{
    const h5p_stored x = a->v[k];
    if (is_float(t)) {
        if (a->kind == 'f') {
            if (t == H5P_F64 || isnan(x.f) || isinf(x.f)) {
                out->f = x.f;
                return 1;
            }
            if (fabs(x.f) > FLT_MAX) /* numpy makes it inf, which differs */
                return 0;
            out->f = (float)x.f;
            return out->f == x.f;
        }
        /* integers: numpy compares int32/int64/uint64 with float32 (and anything with float64) in
         * float64, each side rounded once */
        double d = a->kind == 'i' ? (double)x.i : (double)x.u;
        if (t == H5P_F64) {
            out->f = d;
            return 1;
        }
        float f = a->kind == 'i' ? (float)x.i : (float)x.u;
        out->f = f;
        return (double)f == d;
    }
    h5p_stored lo, hi;
    int_limits(t, &lo, &hi);
    int sig = is_signed_int(t);
    if (a->kind == 'i') {
        if (sig) {
            out->i = x.i;
            return x.i >= lo.i && x.i <= hi.i;
        }
        out->u = (unsigned long long)x.i;
        return x.i >= 0 && (unsigned long long)x.i <= hi.u;
    }
    if (a->kind == 'u') {
        if (sig) {
            out->i = (long long)x.u;
            return x.u <= (unsigned long long)hi.i;
        }
        out->u = x.u;
        return x.u <= hi.u;
    }
    /* a float on an integer type: integral and inside the type's range */
    double f = x.f;
    if (!(f == floor(f)))
        return 0; /* NaN, Inf, fractions */
    if (sig) {
        if (!(f >= (double)lo.i && f < -(double)lo.i)) /* [min, 2^(bits-1)) */
            return 0;
        out->i = (long long)f;
        return out->i <= hi.i;
    }
    if (!(f >= 0 && f < 18446744073709551616.0))
        return 0;
    out->u = (unsigned long long)f;
    return out->u <= hi.u;
}

/* Whether every value of a is safe for t (netCDF4-python uses an attribute whole or not at all);
 * vals (n,) gets them. Strings and other classes are never safe. */
static int safecast_all(const cf_attr *a, h5p_dtype t, h5p_stored *vals)
{
    if (a->kind != 'i' && a->kind != 'u' && a->kind != 'f')
        return 0;
    if (a->n > 0 && !a->v)
        return 0; /* more values than h5prep reads: the caller has refused it already */
    for (size_t k = 0; k < a->n; k++)
        if (!safecast(a, k, t, &vals[k]))
            return 0;
    return 1;
}

/* Whether Python's float() accepts s: optional blanks and sign, then "inf", "infinity" or "nan",
 * or decimal digits (single '_' between digits) with an optional point and exponent. */
static int python_float(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '+' || *s == '-')
        s++;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    if ((len == 3 && strncasecmp(s, "inf", 3) == 0) || (len == 8 && strncasecmp(s, "infinity", 8) == 0) ||
        (len == 3 && strncasecmp(s, "nan", 3) == 0))
        return 1;
    const char *e = s + len;
    int digits = 0, prev_digit = 0;
    /* mantissa */
    for (; s < e && (isdigit((unsigned char)*s) || *s == '_'); s++) {
        if (*s == '_' && (!prev_digit || s + 1 >= e || !isdigit((unsigned char)s[1])))
            return 0;
        prev_digit = *s != '_';
        digits += prev_digit;
    }
    if (s < e && *s == '.') {
        s++;
        prev_digit = 0;
        for (; s < e && (isdigit((unsigned char)*s) || *s == '_'); s++) {
            if (*s == '_' && (!prev_digit || s + 1 >= e || !isdigit((unsigned char)s[1])))
                return 0;
            prev_digit = *s != '_';
            digits += prev_digit;
        }
    }
    if (!digits)
        return 0;
    if (s < e && (*s == 'e' || *s == 'E')) {
        s++;
        if (s < e && (*s == '+' || *s == '-'))
            s++;
        int exp_digits = 0;
        prev_digit = 0;
        for (; s < e && (isdigit((unsigned char)*s) || *s == '_'); s++) {
            if (*s == '_' && (!prev_digit || s + 1 >= e || !isdigit((unsigned char)s[1])))
                return 0;
            prev_digit = *s != '_';
            exp_digits += prev_digit;
        }
        if (!exp_digits)
            return 0;
    }
    return s == e;
}

static h5prep_status refuse(const char *path, const char *name, const char *what)
{
    h5p_fail(H5PREP_ERR_DTYPE, "%s:%s: %s", path, name, what);
    return h5p_hint(H5PREP_ERR_DTYPE, "'--raw' reads the stored values without CF decoding");
}

/* Orderings of stored values by member, for finding the distinct fill values. */
static int cmp_f(const void *pa, const void *pb)
{
    const h5p_stored *a = pa, *b = pb;
    return (a->f > b->f) - (a->f < b->f);
}
static int cmp_i(const void *pa, const void *pb)
{
    const h5p_stored *a = pa, *b = pb;
    return (a->i > b->i) - (a->i < b->i);
}
static int cmp_u(const void *pa, const void *pb)
{
    const h5p_stored *a = pa, *b = pb;
    return (a->u > b->u) - (a->u < b->u);
}

/* The fill values: every value of missing_value (and of MissingValue, h5prep's addition for
 * HDF-EOS files), and _FillValue, which must be one value; each attribute is used only when all
 * its values cast safely to t (else a warning, as netCDF4-python). NaN fills are left out: NaN is
 * missing anyway. */
static h5prep_status read_fills(hid_t d, const char *path, const char *name, h5p_dtype t, h5p_decode *dec)
{
    static const char *names[] = {"missing_value", "_FillValue", "MissingValue"};
    h5p_stored *all = NULL;
    size_t nall = 0;
    h5prep_status st = H5PREP_OK;
    for (size_t k = 0; k < sizeof names / sizeof *names && st == H5PREP_OK; k++) {
        cf_attr a;
        if ((st = read_attr(d, path, name, names[k], &a)) != H5PREP_OK)
            break;
        if (!a.present)
            continue;
        char what[160], desc[120];
        describe(&a, desc, sizeof desc);
        if (a.n > MAX_ATTR_VALUES && (a.kind == 'i' || a.kind == 'u' || a.kind == 'f')) {
            snprintf(what, sizeof what, "%s holds %zu values; h5prep reads at most %d", a.name, a.n, MAX_ATTR_VALUES);
            st = refuse(path, name, what);
            free_attr(&a);
            break;
        }
        h5p_stored *vals = a.n ? malloc(a.n * sizeof *vals) : NULL;
        h5p_stored *grown = a.n ? realloc(all, (nall + a.n) * sizeof *all) : all;
        if (a.n && (!vals || !grown)) {
            free(vals);
            free_attr(&a);
            if (grown)
                all = grown;
            st = h5p_fail(H5PREP_ERR_NOMEM, "%s:%s: out of memory for the fill values", path, name);
            break;
        }
        all = grown;
        if (!safecast_all(&a, t, vals)) {
            h5p_warn("%s:%s: %s %s cannot be cast exactly to the dataset's type %s: not used%s", path, name, a.name,
                     desc, h5p_dtype_name(t), k < 2 ? ", as netCDF4-python does (it warns too)" : "");
        } else if (strcmp(a.name, "_FillValue") == 0 && a.n != 1) {
            snprintf(what, sizeof what, "_FillValue holds %zu values; a fill value is one value (netCDF4-python fails on it too)",
                     a.n);
            st = refuse(path, name, what);
        } else {
            for (size_t i = 0; i < a.n; i++)
                if (!(is_float(t) && isnan(vals[i].f)))
                    all[nall++] = vals[i];
        }
        free(vals);
        free_attr(&a);
    }
    if (st == H5PREP_OK && nall > 0) {
        int (*cmp)(const void *, const void *) = is_float(t) ? cmp_f : is_signed_int(t) ? cmp_i : cmp_u;
        qsort(all, nall, sizeof *all, cmp);
        size_t distinct = 0;
        for (size_t i = 0; i < nall; i++)
            if (distinct == 0 || cmp(&all[distinct - 1], &all[i]) != 0)
                all[distinct++] = all[i];
        if (distinct > H5P_MAX_FILLS) {
            char what[200];
            snprintf(what, sizeof what, "_FillValue, missing_value and MissingValue give %zu distinct fill values; "
                                        "h5prep compares at most %d",
                     distinct, H5P_MAX_FILLS);
            st = refuse(path, name, what);
        } else {
            memcpy(dec->fill, all, distinct * sizeof *all);
            dec->nfill = (int)distinct;
        }
    }
    free(all);
    return st;
}

/* A valid_min/valid_max/valid_range attribute read and checked: *safe when present and every
 * value casts safely (a warning otherwise), vals (up to 2) in t. */
static h5prep_status read_limit(hid_t d, const char *path, const char *name, const char *attr, h5p_dtype t,
                                cf_attr *a, int *safe, h5p_stored vals[2])
{
    *safe = 0;
    FORWARD_IF_ERROR(read_attr(d, path, name, attr, a));
    if (!a->present)
        return H5PREP_OK;
    h5p_stored *tmp = a->n ? malloc(a->n * sizeof *tmp) : NULL;
    RETURN_ERROR_IF(a->n && !tmp, H5PREP_ERR_NOMEM, "%s:%s: out of memory", path, name);
    int ok = a->n <= MAX_ATTR_VALUES && safecast_all(a, t, tmp);
    if (ok)
        for (size_t k = 0; k < a->n && k < 2; k++)
            vals[k] = tmp[k];
    free(tmp);
    if (!ok) {
        char desc[120];
        describe(a, desc, sizeof desc);
        h5p_warn("%s:%s: %s %s cannot be cast exactly to the dataset's type %s: not used, as netCDF4-python does "
                 "(it warns too)",
                 path, name, attr, desc, h5p_dtype_name(t));
    }
    *safe = ok;
    return H5PREP_OK;
}

/* The valid range: valid_range when it is safe and holds 2 values (valid_min and valid_max are
 * then not used), else valid_min and/or valid_max, each one value. Compared in the stored type. */
static h5prep_status read_range(hid_t d, const char *path, const char *name, h5p_dtype t, h5p_decode *dec)
{
    cf_attr r, mn, mx;
    int safe_r = 0, safe_mn = 0, safe_mx = 0;
    h5p_stored vr[2], vmn[2], vmx[2];
    h5prep_status st = read_limit(d, path, name, "valid_range", t, &r, &safe_r, vr);
    if (st == H5PREP_OK)
        st = read_limit(d, path, name, "valid_min", t, &mn, &safe_mn, vmn);
    else
        memset(&mn, 0, sizeof mn);
    if (st == H5PREP_OK)
        st = read_limit(d, path, name, "valid_max", t, &mx, &safe_mx, vmx);
    else
        memset(&mx, 0, sizeof mx);
    h5p_stored lo, hi;
    int has_lo = 0, has_hi = 0;
    if (st == H5PREP_OK) {
        if (safe_r && r.n == 2) {
            lo = vr[0], hi = vr[1];
            has_lo = has_hi = 1;
        } else {
            if (safe_r)
                h5p_warn("%s:%s: valid_range holds %zu values, not 2: not used (netCDF4-python ignores it too)%s",
                         path, name, r.n, safe_mn || safe_mx ? "; valid_min/valid_max are used instead" : "");
            char what[200];
            if (safe_mn && mn.n != 1) {
                snprintf(what, sizeof what, "valid_min holds %zu values; it must be one value", mn.n);
                st = refuse(path, name, what);
            } else if (safe_mx && mx.n != 1) {
                snprintf(what, sizeof what, "valid_max holds %zu values; it must be one value", mx.n);
                st = refuse(path, name, what);
            }
            if (safe_mn)
                lo = vmn[0], has_lo = 1;
            if (safe_mx)
                hi = vmx[0], has_hi = 1;
        }
    }
    if (st == H5PREP_OK && (has_lo || has_hi)) {
        if (is_float(t)) {
            dec->vmin = has_lo ? lo.f : -INFINITY;
            dec->vmax = has_hi ? hi.f : INFINITY;
        } else {
            int_limits(t, &dec->lo, &dec->hi);
            if (has_lo)
                dec->lo = lo;
            if (has_hi)
                dec->hi = hi;
            dec->int_range = 1;
        }
    }
    free_attr(&r);
    free_attr(&mn);
    free_attr(&mx);
    return st;
}

/* scale_factor and add_offset: each must be one number (float() of it must work, as in
 * netCDF4-python's __getitem__); when one is not, neither is applied, with a warning. A string
 * that float() reads is refused: netCDF4-python then fails multiplying by a string. */
static h5prep_status read_packing(hid_t d, const char *path, const char *name, h5p_decode *dec)
{
    static const char *names[] = {"scale_factor", "add_offset"};
    double val[2] = {1.0, 0.0};
    char bad[2][160] = {"", ""};
    h5prep_status st = H5PREP_OK;
    for (int k = 0; k < 2 && st == H5PREP_OK; k++) {
        cf_attr a;
        if ((st = read_attr(d, path, name, names[k], &a)) != H5PREP_OK || !a.present)
            continue;
        char desc[120];
        describe(&a, desc, sizeof desc);
        if ((a.kind == 'i' || a.kind == 'u' || a.kind == 'f') && a.n == 1 && a.v) {
            val[k] = a.kind == 'f' ? a.v[0].f : a.kind == 'i' ? (double)a.v[0].i : (double)a.v[0].u;
        } else if (a.kind == 's' && a.n == 1 && python_float(a.text)) {
            char what[240];
            snprintf(what, sizeof what, "%s is the string \"%.80s\", not a number (netCDF4-python fails on it too)",
                     a.name, a.text);
            st = refuse(path, name, what);
        } else {
            snprintf(bad[k], sizeof bad[k], "%s %s", a.name, desc);
        }
        free_attr(&a);
    }
    if (st != H5PREP_OK)
        return st;
    if (bad[0][0] || bad[1][0]) {
        h5p_warn("%s:%s: %s%s%s is not one number: no unpacking done, neither scale_factor nor add_offset is "
                 "applied, as netCDF4-python does (it warns too)",
                 path, name, bad[0], bad[0][0] && bad[1][0] ? " and " : "", bad[1]);
        return H5PREP_OK;
    }
    dec->scale = val[0];
    dec->offset = val[1];
    return H5PREP_OK;
}

/* A single number of attribute a into *out; 0 when it is not one number. */
static int one_number(const cf_attr *a, double *out)
{
    if (!a->present || a->n != 1 || !a->v || (a->kind != 'i' && a->kind != 'u' && a->kind != 'f'))
        return 0;
    *out = a->kind == 'f' ? a->v[0].f : a->kind == 'i' ? (double)a->v[0].i : (double)a->v[0].u;
    return 1;
}

/* ODIM_H5 (EUMETNET OPERA): a dataset .../dataN/data is packed by the `what` group beside it:
 * value = raw*gain + offset, raw == nodata (not scanned) and raw == undetect (below the detection
 * threshold) are missing. Used when the dataset has no CF packing or fill value of its own (CF
 * then wins, with a warning); each of the four is used only when it is one number (nodata and
 * undetect: one that casts exactly to the stored type), else a warning says it was not used. */
static h5prep_status read_odim(hid_t d, const char *path, const char *name, h5p_dtype t, h5p_decode *dec)
{
    static const char *names[] = {"gain", "offset", "nodata", "undetect"};
    const char *slash = strrchr(name, '/');
    char what[1024];
    if (!slash || snprintf(what, sizeof what, "%.*s/what", (int)(slash - name), name) >= (int)sizeof what)
        return H5PREP_OK;
    hid_t f = H5Iget_file_id(d);
    RETURN_ERROR_IF(f < 0, H5PREP_ERR_INTERNAL, "%s:%s: cannot find the dataset's file (HDF5: %s)", path, name,
                    h5p_hdf5_reason());
    H5O_info_t oi;
    htri_t ex = H5Lexists(f, what, H5P_DEFAULT);
    hid_t g = ex > 0 && H5Oget_info_by_name(f, what, &oi, H5P_DEFAULT) >= 0 && oi.type == H5O_TYPE_GROUP
                  ? H5Oopen(f, what, H5P_DEFAULT)
                  : H5I_INVALID_HID;
    H5Fclose(f);
    if (g < 0)
        return H5PREP_OK;
    cf_attr a[4];
    h5prep_status st = H5PREP_OK;
    int any = 0;
    for (int k = 0; k < 4; k++) {
        if (st == H5PREP_OK)
            st = read_attr(g, path, what, names[k], &a[k]);
        else
            memset(&a[k], 0, sizeof a[k]);
        any |= a[k].present;
    }
    H5Oclose(g);
    if (st == H5PREP_OK && any && (dec->nfill || dec->scale != 1.0 || dec->offset != 0.0)) {
        h5p_warn("%s:%s: the ODIM attributes of %s (gain, offset, nodata, undetect) are not applied: the dataset's "
                 "own CF attributes are",
                 path, name, what);
    } else if (st == H5PREP_OK && any) {
        double num[2] = {1.0, 0.0};
        for (int k = 0; k < 4; k++) {
            h5p_stored raw = {0};
            double x = 0;
            int used = !a[k].present || (k < 2 ? one_number(&a[k], &x) : a[k].n == 1 && safecast_all(&a[k], t, &raw));
            if (!used) {
                char desc[120];
                describe(&a[k], desc, sizeof desc);
                h5p_warn("%s:%s: ODIM %s/%s %s is not one number%s: not used", path, name, what, names[k], desc,
                         k < 2 ? "" : " of the dataset's type");
            } else if (a[k].present && k < 2) {
                num[k] = x;
            } else if (a[k].present && dec->nfill < H5P_MAX_FILLS && !(is_float(t) && isnan(raw.f))) {
                dec->fill[dec->nfill++] = raw;
            }
        }
        dec->scale = num[0];
        dec->offset = num[1];
    }
    for (int k = 0; k < 4; k++)
        free_attr(&a[k]);
    return st;
}

h5prep_status h5p_cf_decode(int64_t dset, const char *path, const char *name, h5p_dtype t, int raw,
                            h5p_decode *dec)
{
    memset(dec, 0, sizeof *dec);
    dec->scale = 1.0;
    dec->offset = 0.0;
    dec->vmin = -INFINITY;
    dec->vmax = INFINITY;
    if (raw)
        return H5PREP_OK;
    hid_t d = (hid_t)dset;
    FORWARD_IF_ERROR(read_fills(d, path, name, t, dec));
    FORWARD_IF_ERROR(read_range(d, path, name, t, dec));
    FORWARD_IF_ERROR(read_packing(d, path, name, dec));
    return read_odim(d, path, name, t, dec);
}

/* ---- time: CF units "UNIT since DATE" and ISO 8601 dates ------------------------------------ */

h5prep_status h5p_cf_text(int64_t dset, const char *path, const char *dname, const char *name, char *out, size_t cap)
{
    cf_attr a;
    out[0] = 0;
    FORWARD_IF_ERROR(read_attr((hid_t)dset, path, dname, name, &a));
    if (a.present && a.kind == 's')
        snprintf(out, cap, "%s", a.text);
    free_attr(&a);
    return H5PREP_OK;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400, yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1, doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Reads up to `max` digits of s into *v; returns the digits read. */
static int digits(const char **s, int max, int64_t *v)
{
    int n = 0;
    *v = 0;
    while (n < max && **s >= '0' && **s <= '9')
        *v = *v * 10 + (*(*s)++ - '0'), n++;
    return n;
}

/* "YYYY-MM-DD[(T| )hh:mm[:ss[.fff]]][Z| UTC|(+|-)hh[:mm]]" (one-digit months, days and times as
 * CF's udunits allows) as seconds since 1970-01-01T00:00:00 UTC. Returns 0 when s is not such a
 * date. */
static int parse_date(const char *s, double *secs)
{
    int64_t y, mo, d, h = 0, mi = 0, se = 0;
    int neg = *s == '-';
    s += neg;
    if (digits(&s, 6, &y) < 1 || *s++ != '-' || digits(&s, 2, &mo) < 1 || *s++ != '-' || digits(&s, 2, &d) < 1)
        return 0;
    y = neg ? -y : y;
    if (mo < 1 || mo > 12 || d < 1 || days_from_civil(y, mo, d) >= days_from_civil(y + (mo == 12), mo % 12 + 1, 1))
        return 0; /* no such day in that month */
    double frac = 0;
    if ((*s == 'T' || *s == ' ') && s[1] >= '0' && s[1] <= '9') {
        s++;
        if (digits(&s, 2, &h) < 1 || *s++ != ':' || digits(&s, 2, &mi) < 1)
            return 0;
        if (*s == ':') {
            s++;
            if (digits(&s, 2, &se) < 1)
                return 0;
            if (*s == '.') {
                double scale = 0.1;
                for (s++; *s >= '0' && *s <= '9'; s++, scale /= 10)
                    frac += (*s - '0') * scale;
            }
        }
        if (h > 24 || mi > 59 || se > 60)
            return 0;
    }
    int64_t zone = 0;
    if (*s == 'Z' || !strcmp(s, " UTC") || !strcmp(s, " utc")) {
        s += *s == 'Z' ? 1 : 4;
    } else if (*s == '+' || *s == '-' || (*s == ' ' && (s[1] == '+' || s[1] == '-'))) {
        s += *s == ' ';
        int sign = *s++ == '-' ? -1 : 1;
        int64_t zh, zm = 0;
        if (digits(&s, 2, &zh) < 1)
            return 0;
        if (*s == ':')
            s++;
        digits(&s, 2, &zm);
        zone = sign * (zh * 3600 + zm * 60);
    }
    if (*s)
        return 0;
    *secs = (double)(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - zone) + frac;
    return 1;
}

/* Dates before this one differ between the standard (Julian, then Gregorian) calendar and the
 * proleptic Gregorian one used here. */
static const int64_t GREGORIAN_START_DAY = -141427; /* 1582-10-15 */

h5prep_status h5p_cf_date_value(const char *units, const char *calendar, const char *date, double *out)
{
    static const struct { const char *name; double secs; } UNITS[] = {
        {"days", 86400}, {"day", 86400}, {"d", 86400}, {"hours", 3600}, {"hour", 3600}, {"hr", 3600}, {"h", 3600},
        {"minutes", 60}, {"minute", 60}, {"min", 60}, {"seconds", 1}, {"second", 1}, {"sec", 1}, {"s", 1},
        {"milliseconds", 1e-3}, {"millisecond", 1e-3}, {"ms", 1e-3}};
    const char *since = strstr(units, " since ");
    double unit = 0, ref = 0, t = 0;
    for (size_t i = 0; since && i < sizeof UNITS / sizeof UNITS[0]; i++)
        if ((size_t)(since - units) == strlen(UNITS[i].name) && !strncmp(units, UNITS[i].name, (size_t)(since - units)))
            unit = UNITS[i].secs;
    if (!unit || !parse_date(since + 7, &ref)) {
        h5p_fail(H5PREP_ERR_USAGE, "units '%s' are not CF time units (UNIT since YYYY-MM-DD[ hh:mm:ss])", units);
        return h5p_hint(H5PREP_ERR_USAGE, "give the split's bounds as numbers in the coordinate's units");
    }
    RETURN_ERROR_IF(!parse_date(date, &t), H5PREP_ERR_USAGE,
                    "'%s' is not a date (expected YYYY-MM-DD, YYYY-MM-DDThh:mm[:ss], optionally Z or +hh:mm)", date);
    int proleptic = !strcmp(calendar, "proleptic_gregorian");
    if (*calendar && !proleptic && strcmp(calendar, "standard") != 0 && strcmp(calendar, "gregorian") != 0) {
        h5p_fail(H5PREP_ERR_USAGE, "calendar '%s' is not supported for dates (standard, gregorian, proleptic_gregorian are)",
                 calendar);
        return h5p_hint(H5PREP_ERR_USAGE, "give the split's bounds as numbers in the coordinate's units (%s)", units);
    }
    RETURN_ERROR_IF(!proleptic && (ref < (double)GREGORIAN_START_DAY * 86400 || t < (double)GREGORIAN_START_DAY * 86400),
                    H5PREP_ERR_USAGE,
                    "'%s' or the reference date of '%s' is before 1582-10-15, where the standard calendar is Julian "
                    "(not supported; give numbers)", date, units);
    *out = (t - ref) / unit;
    return H5PREP_OK;
}
