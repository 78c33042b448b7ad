/* sketch_io.c: the quantile sketch in the h5prep-stats/1 document (output/sketch_io.h) and the
 * tables of what it reports. */
#include "output/sketch_io.h"

#include "common/internal.h"
#include "common/sketch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- what a document reports ------------------------------------------------------------ */

void h5p_sketch_quantile_table(const h5p_var *v, const double *levels, size_t nq, double *out)
{
    for (uint64_t f = 0; f < v->sketch->nf; f++)
        for (size_t q = 0; q < nq; q++)
            out[f * nq + q] = h5p_sketch_quantile(v->sketch, f, levels[q], v->result[f].min, v->result[f].max);
}

void h5p_sketch_histogram_table(const h5p_var *v, int bins, uint64_t *out)
{
    for (uint64_t f = 0; f < v->sketch->nf; f++)
        h5p_sketch_histogram(v->sketch, f, bins, v->result[f].min, v->result[f].max, out + f * (uint64_t)bins);
}

/* A store of feature f: {"offset": k0, "counts": [count of k0, k0 + 1, ..., top]} from its lowest
 * occupied index, and "below" (collapsed). */
static json_t *store_json(const h5p_sketch *s, int st, uint64_t f)
{
    json_t *counts = json_array();
    int64_t top = s->top[st][f], lo = top;
    if (top != H5P_SKETCH_EMPTY) {
        for (int64_t k = top - s->buckets + 1; k <= top; k++)
            if (h5p_sketch_count(s, st, f, k)) {
                lo = k;
                break;
            }
        for (int64_t k = lo; counts && k <= top; k++)
            json_array_append_new(counts, json_integer((json_int_t)h5p_sketch_count(s, st, f, k)));
    }
    return json_pack("{s:I, s:I, s:o}", "offset", (json_int_t)(top == H5P_SKETCH_EMPTY ? 0 : lo), "below",
                     (json_int_t)s->below[st][f], "counts", counts);
}

static json_t *sketch_json(const h5p_sketch *s)
{
    json_t *levels = json_array(), *zero = json_array(), *stores[2] = {json_array(), json_array()};
    for (size_t q = 0; levels && q < s->nlevels; q++)
        json_array_append_new(levels, json_real(s->levels[q]));
    for (uint64_t f = 0; f < s->nf; f++) {
        json_array_append_new(zero, json_integer((json_int_t)s->zero[f]));
        for (int st = 0; st < 2; st++)
            if (!stores[st] || json_array_append_new(stores[st], store_json(s, st, f)) != 0) {
                json_decref(stores[st]);
                stores[st] = NULL;
            }
    }
    return json_pack("{s:f, s:f, s:i, s:o, s:i, s:o, s:o, s:o}", "alpha", s->alpha, "min_indexable",
                     H5P_SKETCH_MIN_INDEXABLE, "buckets", s->buckets, "quantile_levels", levels, "histogram_bins",
                     s->bins, "zero", zero, "negative", stores[0], "positive", stores[1]);
}

int h5p_sketch_put_json(json_t *jv, const h5p_var *v)
{
    const h5p_sketch *s = v->sketch;
    if (!s)
        return 0;
    uint64_t nf = s->nf, bins = (uint64_t)s->bins;
    double *qv = h5p_malloc(nf * s->nlevels * sizeof *qv);
    uint64_t *hv = h5p_malloc(nf * bins * sizeof *hv);
    json_t *levels = json_array(), *quant = json_array(), *hist = json_array(), *coll = json_array();
    int e = !qv || !hv || !levels || !quant || !hist || !coll;
    if (!e) {
        h5p_sketch_quantile_table(v, s->levels, s->nlevels, qv);
        h5p_sketch_histogram_table(v, s->bins, hv);
    }
    for (size_t q = 0; !e && q < s->nlevels; q++)
        e |= json_array_append_new(levels, json_real(s->levels[q]));
    for (uint64_t f = 0; !e && f < nf; f++) {
        json_t *qf = json_array(), *hf = json_array();
        for (size_t q = 0; qf && q < s->nlevels; q++)
            json_array_append_new(qf, isnan(qv[f * s->nlevels + q]) ? json_null() : json_real(qv[f * s->nlevels + q]));
        for (uint64_t b = 0; hf && b < bins; b++)
            json_array_append_new(hf, json_integer((json_int_t)hv[f * bins + b]));
        e |= json_array_append_new(quant, qf) | json_array_append_new(hist, hf);
        e |= json_array_append_new(coll, json_integer((json_int_t)h5p_sketch_collapsed(s, f)));
    }
    free(qv);
    free(hv);
    if (e) {
        json_decref(levels), json_decref(quant), json_decref(hist), json_decref(coll);
        return -1;
    }
    json_t *sk = sketch_json(s);
    if (s->nlevels)
        e |= json_object_set_new(jv, "quantile_levels", levels) | json_object_set_new(jv, "quantiles", quant);
    else
        json_decref(levels), json_decref(quant);
    if (s->bins)
        e |= json_object_set_new(jv, "histogram_bins", json_integer(s->bins)) | json_object_set_new(jv, "histogram", hist);
    else
        json_decref(hist);
    e |= json_object_set_new(jv, "collapsed", coll) | json_object_set_new(jv, "sketch", sk);
    return e || !sk ? -1 : 0;
}

static herr_t put(hid_t g, const char *name, hid_t ftype, hid_t mtype, int rank, const hsize_t *dims, const void *data)
{
    hid_t sp = rank > 0 ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR); /* keep-axes none */
    hid_t d = sp < 0 ? -1 : H5Dcreate2(g, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = d < 0 ? -1 : H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    if (d >= 0)
        H5Dclose(d);
    if (sp >= 0)
        H5Sclose(sp);
    return e;
}

herr_t h5p_sketch_put_h5(hid_t g, const h5p_var *v)
{
    const h5p_sketch *s = v->sketch;
    if (!s)
        return 0;
    uint64_t nf = s->nf;
    hsize_t dims[H5PREP_MAX_RANK + 1];
    int fr = v->keep_count;
    for (int a = 0; a < fr; a++)
        dims[a] = v->dims[v->keep_first + a];
    double *qv = h5p_malloc(nf * s->nlevels * sizeof *qv);
    uint64_t *hv = h5p_malloc(nf * ((uint64_t)s->bins > 1 ? (uint64_t)s->bins : 1) * sizeof *hv);
    json_t *sk = sketch_json(s);
    char *text = sk ? json_dumps(sk, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(sk);
    herr_t e = qv && hv && text ? 0 : -1;
    if (e >= 0) {
        h5p_sketch_quantile_table(v, s->levels, s->nlevels, qv);
        dims[fr] = s->nlevels;
        if (s->nlevels)
            e |= put(g, "quantiles", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, fr + 1, dims, qv);
        h5p_sketch_histogram_table(v, s->bins, hv);
        dims[fr] = (hsize_t)s->bins;
        if (s->bins)
            e |= put(g, "histogram", H5T_STD_I64LE, H5T_NATIVE_UINT64, fr + 1, dims, hv);
        for (uint64_t f = 0; f < nf; f++)
            hv[f] = h5p_sketch_collapsed(s, f);
        e |= put(g, "collapsed", H5T_STD_I64LE, H5T_NATIVE_UINT64, fr, dims, hv);
        e |= h5p_put_string_attr(g, "sketch", text);
    }
    free(qv);
    free(hv);
    free(text);
    return e;
}

/* ---- reading ------------------------------------------------------------------------------ */

static int json_count(json_t *x, uint64_t *out)
{
    if (!json_is_integer(x) || json_integer_value(x) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(x);
    return 0;
}

h5prep_status h5p_sketch_get_json(json_t *sk, const char *path, h5p_var *v)
{
    if (!sk)
        return H5PREP_OK;
    const char *name = v->name;
    uint64_t nf = h5p_var_features(v);
    json_t *ja = json_object_get(sk, "alpha"), *jb = json_object_get(sk, "buckets"), *jl = json_object_get(sk, "quantile_levels");
    json_t *jh = json_object_get(sk, "histogram_bins"), *jz = json_object_get(sk, "zero");
    json_t *js[2] = {json_object_get(sk, "negative"), json_object_get(sk, "positive")};
    double alpha = json_is_number(ja) ? json_number_value(ja) : NAN;
    json_int_t buckets = json_is_integer(jb) ? json_integer_value(jb) : -1, bins = json_is_integer(jh) ? json_integer_value(jh) : -1;
    int ok = alpha >= 1e-6 && alpha <= 0.5 && buckets >= 16 && buckets <= (1 << 20) && bins >= 0 && bins <= 1000000 &&
             json_is_array(jl) && json_array_size(jz) == nf && json_array_size(js[0]) == nf && json_array_size(js[1]) == nf;
    size_t nq = json_array_size(jl);
    double *levels = h5p_malloc(nq * sizeof *levels);
    RETURN_ERROR_IF(!levels, H5PREP_ERR_NOMEM, "%s: out of memory", path);
    for (size_t q = 0; ok && q < nq; q++) {
        json_t *x = json_array_get(jl, q);
        levels[q] = json_is_number(x) ? json_number_value(x) : NAN;
        ok = levels[q] > 0 && levels[q] < 1;
    }
    if (!ok) {
        free(levels);
        h5p_fail(H5PREP_ERR_STATE, "%s: variable %s: the sketch is not one h5prep writes (alpha in [1e-6, 0.5], buckets "
                                   "16..1048576, levels in (0, 1), and zero, negative, positive with one entry per feature)",
                 path, name);
        return h5p_hint(H5PREP_ERR_STATE, "the file was changed or damaged; compute it again");
    }
    h5p_sketch *s = h5p_sketch_create(nf, alpha, (int)buckets, levels, nq, (int)bins);
    free(levels);
    RETURN_ERROR_IF(!s, H5PREP_ERR_NOMEM, "%s: variable %s: out of memory for the quantile sketches", path, name);
    h5prep_status st = H5PREP_OK;
    for (uint64_t f = 0; f < nf && st == H5PREP_OK; f++) {
        ok = json_count(json_array_get(jz, f), &s->zero[f]) == 0;
        for (int k = 0; k < 2 && ok; k++) {
            json_t *e = json_array_get(js[k], f);
            json_t *off = json_object_get(e, "offset"), *cnt = json_object_get(e, "counts");
            uint64_t below = 0;
            ok = json_is_integer(off) && json_is_array(cnt) && json_array_size(cnt) <= (size_t)buckets &&
                 json_count(json_object_get(e, "below"), &below) == 0 && (below == 0 || json_array_size(cnt) > 0) &&
                 json_integer_value(off) >= INT32_MIN / 2 && json_integer_value(off) <= INT32_MAX / 2;
            for (size_t i = 0; ok && i < json_array_size(cnt); i++) {
                uint64_t c = 0;
                ok = json_count(json_array_get(cnt, i), &c) == 0 &&
                     h5p_sketch_add_bucket(s, k, f, (int32_t)(json_integer_value(off) + (json_int_t)i), c) == 0;
            }
            s->below[k][f] += below;
        }
        if (!ok)
            st = h5p_fail(H5PREP_ERR_STATE, "%s: variable %s: feature %llu: the sketch's counts are not non-negative integers "
                                            "of at most %lld buckets per store within float64's range",
                          path, name, (unsigned long long)f, (long long)buckets);
        else if (v->result && h5p_sketch_total(s, f) != (uint64_t)v->result[f].n)
            st = h5p_fail(H5PREP_ERR_STATE, "%s: variable %s: feature %llu: the sketch holds %llu values but count is %lld",
                          path, name, (unsigned long long)f, (unsigned long long)h5p_sketch_total(s, f),
                          (long long)v->result[f].n);
    }
    if (st != H5PREP_OK) {
        h5p_sketch_destroy(s);
        return st;
    }
    h5p_sketch_destroy(v->sketch);
    v->sketch = s;
    return H5PREP_OK;
}

h5prep_status h5p_sketch_get_text(const char *text, const char *path, h5p_var *v)
{
    if (!text)
        return H5PREP_OK;
    json_error_t err;
    json_t *sk = json_loads(text, 0, &err);
    RETURN_ERROR_IF(!sk, H5PREP_ERR_STATE, "%s: variable %s: the attribute sketch is not valid JSON: %s", path, v->name, err.text);
    h5prep_status st = h5p_sketch_get_json(sk, path, v);
    json_decref(sk);
    return st;
}

/* ---- merging ------------------------------------------------------------------------------ */

h5prep_status h5p_sketch_mergeable(const h5p_var *v, const h5p_var *in, const char *path)
{
    const h5p_sketch *a = v->sketch, *b = in->sketch;
    if (!a && !b)
        return H5PREP_OK;
    if (!a || !b) {
        h5p_fail(H5PREP_ERR_STATE, "%s: variable %s %s a quantile sketch but the files merged before %s", path, in->name,
                 b ? "has" : "has no", b ? "have none" : "have one");
        return h5p_hint(H5PREP_ERR_STATE, "merge runs made alike: all with --quantiles/--histogram or none");
    }
    if (a->alpha != b->alpha || a->buckets != b->buckets) {
        h5p_fail(H5PREP_ERR_STATE, "%s: variable %s: the sketch has alpha %g and %d buckets, the files merged before alpha %g and %d buckets",
                 path, in->name, b->alpha, b->buckets, a->alpha, a->buckets);
        return h5p_hint(H5PREP_ERR_STATE, "sketches merge exactly only with the same --sketch-alpha and --sketch-buckets; compute the runs alike");
    }
    return H5PREP_OK;
}

void h5p_sketch_merge_var(h5p_var *v, const h5p_var *in)
{
    if (v->sketch && in->sketch)
        h5p_sketch_merge(v->sketch, in->sketch);
}
