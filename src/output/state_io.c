/* state_io.c: the h5prep-stats/1 document: built once as JSON, written as .json or .h5 (same
 * content), and read back from either for `h5prep merge`. Layout documented in README.md. */
#include "common/internal.h"
#include "common/outfile.h"
#include "output/sketch_io.h"
#include "output/state.h"
#include "output/state_pack.h"

#include <errno.h>
#include <float.h>
#include <hdf5.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ---- building the document ----------------------------------------------------------- */

/* A float64 as JSON, in a form that reads back: a number when finite, null for NaN, and the
 * strings "inf" and "-inf" for infinities (JSON has no such numbers and jansson refuses them). */
static json_t *real_json(double x)
{
    return isfinite(x) ? json_real(x) : isnan(x) ? json_null() : json_string(x > 0 ? "inf" : "-inf");
}

static json_t *u64_array(const uint64_t *a, int n, uint64_t offset)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_integer((json_int_t)(a[i] + offset)));
    return arr;
}

json_t *h5p_input_json(const h5p_var *v, const h5p_part *p)
{
    char mtime[32];
    h5p_format_utc(mtime, p->mtime);
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:I, s:s}", "path", p->path, "dataset", v->name, "rows",
                     (json_int_t)p->rows, "dtype", h5p_dtype_name(p->dtype), "byte_order",
                     p->big_endian ? "big" : "little", "size", (json_int_t)p->size, "mtime", mtime);
}

char *h5prep_stats_inputs(const h5prep_stats *s)
{
    size_t len = 1;
    for (size_t i = 0; i < s->nvars; i++)
        for (size_t k = 0; k < s->vars[i].nparts; k++)
            len += strlen(s->vars[i].parts[k].path) + strlen(s->vars[i].name) + 96;
    char *text = malloc(len), *at = text;
    for (size_t i = 0; text && i < s->nvars; i++)
        for (size_t k = 0; k < s->vars[i].nparts; k++) {
            const h5p_part *p = &s->vars[i].parts[k];
            char mtime[32];
            h5p_format_utc(mtime, p->mtime);
            at += snprintf(at, len - (size_t)(at - text), "%s:%s, %" PRIu64 " rows, %" PRId64 " bytes, modified %s\n",
                           p->path, s->vars[i].name, p->rows, p->size, mtime);
        }
    if (text)
        *at = '\0';
    return text;
}

json_t *h5p_weights_json(const h5p_weights *w)
{
    char resolved[4400];
    if (w->kind == H5P_WEIGHTS_QUADRATURE)
        snprintf(resolved, sizeof resolved, "quadrature:%s", w->rule);
    else
        snprintf(resolved, sizeof resolved, "%s%s:%s", w->kind == H5P_WEIGHTS_COSLAT ? "coslat:" : "", w->realpath,
                 w->dataset);
    return json_pack("{s:s, s:s, s:o, s:o}", "spec", w->spec, "resolved", resolved, "file",
                     w->realpath[0] ? json_string(w->realpath) : json_null(), "axis",
                     w->axis >= 0 ? json_integer(w->axis) : json_null());
}

/* provenance.weights of a weighted run, or of the weighted documents merged; NULL: unweighted. */
static json_t *weights_json(const h5prep_stats *s)
{
    if (s->weights)
        return h5p_weights_json(s->weights);
    /* a merge: the weights of its documents (null: unweighted) */
    json_t *m = s->merged_weights ? json_object_get(s->merged_weights, "weights") : NULL;
    return json_is_object(m) ? json_deep_copy(m) : NULL;
}

static json_t *provenance_json(const h5prep_stats *s)
{
    json_t *inputs = json_array();
    for (size_t i = 0; i < s->nvars; i++)
        for (size_t k = 0; k < s->vars[i].nparts; k++)
            json_array_append_new(inputs, h5p_input_json(&s->vars[i], &s->vars[i].parts[k]));
    if (s->merged_inputs)
        json_array_extend(inputs, s->merged_inputs);
    char tool[64];
    snprintf(tool, sizeof tool, "h5prep %s", h5prep_version());
    json_t *p = json_pack("{s:s, s:s, s:s, s:i, s:b, s:o}", "tool", tool, "created",
                          s->created, "backend", s->backend ? s->backend : "none", "ddof", s->cfg.ddof,
                          "cf_decoding", !s->cfg.raw, "inputs", inputs);
    if (s->isa)
        json_object_set_new(p, "cpu_isa", json_string(s->isa));
    if (s->merged_from)
        json_object_set(p, "merged_from", s->merged_from);
    if (s->factors)
        json_object_set(p, "factors", s->factors);
    json_t *w = weights_json(s);
    if (w)
        json_object_set_new(p, "weights", w);
    if (s->ranks > 0)
        json_object_set_new(p, "ranks", json_integer(s->ranks));
    if (s->part_count) {
        char part[32];
        snprintf(part, sizeof part, "%d/%d", s->part_index, s->part_count);
        json_object_set_new(p, "part", json_string(part));
    }
    return p;
}

/* The per-feature arrays of a variable: the six that make its states, then three that are
 * derived from them (checked for their length and kind only). */
enum { NSTATE_KEYS = 6, NKEYS = 9 };
static const char *const g_keys[NKEYS] = {"count", "missing", "mean", "m2", "min", "max", "std", "var", "flags"};
static int key_is_integer(int k) { return k < 2 || k == 8; }

/* The six arrays of nf states as packed words (pk), into obj under their keys. */
static json_t *states_packed(json_t *obj, const h5p_moments *m, uint64_t nf, h5p_packer *pk)
{
    for (int k = 0; obj && k < NSTATE_KEYS; k++) {
        void *w;
        json_t *ref = h5p_pack_reserve(pk, nf, &w);
        if (!ref || json_object_set_new(obj, g_keys[k], ref) != 0) {
            json_decref(obj);
            return NULL;
        }
        int64_t *iw = w;
        double *dw = w;
        for (uint64_t f = 0; f < nf; f++) {
            const h5p_moments *x = &m[f];
            switch (k) {
            case 0: iw[f] = x->n; break;
            case 1: iw[f] = x->missing; break;
            case 2: dw[f] = x->mean; break;
            case 3: dw[f] = x->m2; break;
            case 4: dw[f] = x->min; break;
            default: dw[f] = x->max; break;
            }
        }
    }
    return obj;
}

/* The sums of weights of nf states as "wsum" in obj (NULL wsum: unweighted, nothing added); NULL
 * (obj released) when out of memory. JSON in both forms, packed or not. */
static json_t *wsum_json(json_t *obj, const double *wsum, uint64_t nf)
{
    if (!wsum || !obj)
        return obj;
    json_t *ws = json_array();
    for (uint64_t f = 0; ws && f < nf; f++)
        json_array_append_new(ws, real_json(wsum[f]));
    if (!ws || json_array_size(ws) != nf || json_object_set_new(obj, "wsum", ws) != 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* The six arrays of nf states (count, missing, mean, m2, min, max) into obj, as they are: a
 * part's tree nodes, read back bit for bit; packed words instead of JSON lists with pk. A weighted
 * node (wsum) holds its sums of weights beside them. */
static json_t *states_json(json_t *obj, const h5p_moments *m, uint64_t nf, const double *wsum, h5p_packer *pk)
{
    obj = wsum_json(obj, wsum, nf);
    if (pk)
        return states_packed(obj, m, nf, pk);
    json_t *a[6];
    for (int k = 0; k < 6; k++)
        a[k] = json_array();
    for (uint64_t f = 0; f < nf; f++) {
        json_array_append_new(a[0], json_integer(m[f].n));
        json_array_append_new(a[1], json_integer(m[f].missing));
        json_array_append_new(a[2], real_json(m[f].mean));
        json_array_append_new(a[3], real_json(m[f].m2));
        json_array_append_new(a[4], real_json(m[f].min));
        json_array_append_new(a[5], real_json(m[f].max));
    }
    for (int k = 0; k < 6; k++)
        if (!obj || !a[k] || json_array_size(a[k]) != nf || json_object_set_new(obj, g_keys[k], a[k]) != 0) {
            for (int j = k; j < 6; j++)
                json_decref(a[j]);
            json_decref(obj);
            return NULL;
        }
    return obj;
}

/* A part run's record of a variable: which part, its share of the blocks, and its tree nodes. */
static json_t *nodes_json(const h5p_tree *t, h5p_packer *pk)
{
    json_t *nodes = json_array();
    for (size_t i = 0; nodes && i < t->n; i++) {
        const h5p_tree_node *n = &t->node[i];
        json_t *o = states_json(json_pack("{s:i, s:I}", "level", (int)n->level, "index", (json_int_t)n->index), n->m,
                                t->nf, t->weighted ? (const double *)(n->m + t->nf) : NULL, pk);
        if (!o || json_array_append_new(nodes, o) != 0) {
            json_decref(nodes);
            return NULL;
        }
    }
    return nodes;
}

/* A part run's record of a variable: which part, its share of the blocks, and its tree nodes (and
 * with tendencies, "tendency_nodes": each lag's nodes over the same share, lags ascending). */
static json_t *part_json(const h5prep_stats *s, const h5p_part_nodes *pn, h5p_packer *pk)
{
    json_t *o = json_pack("{s:i, s:i, s:I, s:I, s:I, s:o}", "index", s->part_index, "count", s->part_count, "blocks",
                          (json_int_t)pn->blocks, "first", (json_int_t)pn->first, "end", (json_int_t)pn->end, "nodes",
                          nodes_json(&pn->tree, pk));
    json_t *tend = o && s->nlags ? json_array() : NULL;
    for (int k = 0; tend && k < s->nlags; k++)
        if (json_array_append_new(tend, nodes_json(&pn->tend[k], pk)) != 0) {
            json_decref(tend);
            tend = NULL;
        }
    if (o && s->nlags && (!tend || json_object_set_new(o, "tendency_nodes", tend) != 0)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* What a variable's document holds besides its per-feature arrays. Fields added here (or to the
 * variable in document()) travel in both forms, the packed one carrying them as JSON in its header. */
static json_t *var_meta_json(const h5p_var *v)
{
    json_t *keep = json_array();
    for (int a = 0; a < v->keep_count; a++)
        json_array_append_new(keep, json_integer(v->keep_first + a));
    json_t *jv = json_pack("{s:o, s:o, s:o}", "shape", u64_array(v->dims, v->rank, 0), "keep_axes", keep,
                           "feature_shape", u64_array(v->dims + v->keep_first, v->keep_count, 0));
    /* --weights: the data axis of 1-D weights (null for an array of weights) */
    if (jv && v->wsum &&
        json_object_set_new(jv, "weights_axis", v->weights_axis >= 0 ? json_integer(v->weights_axis) : json_null()) != 0) {
        json_decref(jv);
        return NULL;
    }
    /* a transform's output weighted by its recipe: the spec, as provenance.weights of stats has it */
    if (jv && v->weights && json_object_set_new(jv, "weights", h5p_weights_json(v->weights)) != 0) {
        json_decref(jv);
        return NULL;
    }
    return jv;
}

/* The per-feature arrays of nf states as a document shows them (count, missing, mean, std, var,
 * min, max, m2, flags), added to obj; with wsum, weighted (frequency weights). NULL (obj released)
 * when out of memory. */
static json_t *moments_json(json_t *obj, const h5p_moments *ms, const double *wsum, uint64_t nf, int ddof)
{
    json_t *count = json_array(), *missing = json_array(), *mean = json_array(), *std = json_array(),
           *var = json_array(), *mn = json_array(), *mx = json_array(), *m2 = json_array(),
           *flags = json_array();
    for (uint64_t f = 0; f < nf; f++) {
        const h5p_moments *m = &ms[f];
        double vr = wsum ? h5prep_weighted_variance(m, wsum[f], ddof) : h5prep_moments_variance(m, ddof);
        int empty = m->n == 0, nomean = empty || (wsum && !(wsum[f] > 0)); /* a weighted mean needs weight */
        json_array_append_new(count, json_integer(m->n));
        json_array_append_new(missing, json_integer(m->missing));
        json_array_append_new(mean, nomean ? json_null() : real_json(m->mean));
        json_array_append_new(var, real_json(vr));
        json_array_append_new(std, real_json(sqrt(vr)));
        json_array_append_new(mn, empty ? json_null() : real_json(m->min));
        json_array_append_new(mx, empty ? json_null() : real_json(m->max));
        json_array_append_new(m2, real_json(m->m2));
        json_array_append_new(flags, json_integer(wsum ? h5prep_weighted_flags(m, wsum[f], ddof)
                                                       : h5prep_moments_flags(m, ddof)));
    }
    /* every array has one entry per feature, or there is no document (only memory can fail) */
    json_t *all[] = {count, missing, mean, std, var, mn, mx, m2, flags};
    static const char *const keys[] = {"count", "missing", "mean", "std", "var", "min", "max", "m2", "flags"};
    int full = obj != NULL;
    for (size_t k = 0; k < sizeof all / sizeof *all; k++)
        full &= all[k] != NULL && json_array_size(all[k]) == nf;
    size_t k = 0;
    while (full && k < sizeof all / sizeof *all && json_object_set_new(obj, keys[k], all[k]) == 0)
        k++;
    if (k == sizeof all / sizeof *all)
        return obj;
    for (size_t j = full ? k + 1 : 0; j < sizeof all / sizeof *all; j++) /* set_new released all[k] */
        json_decref(all[j]);
    json_decref(obj);
    return NULL;
}

/* "tendencies": [{"lag", the arrays of moments_json}, ...] of v into jv; NULL (jv released) when
 * out of memory. */
static json_t *tendencies_json(json_t *jv, const h5p_var *v, int ddof)
{
    if (!jv || !v->tend)
        return jv;
    uint64_t nf = h5p_var_features(v);
    json_t *list = json_array();
    for (int k = 0; list && k < v->ntend; k++) {
        json_t *o = moments_json(json_pack("{s:i}", "lag", v->tend_lag[k]), v->tend + (uint64_t)k * nf, NULL, nf, ddof);
        if (!o || json_array_append_new(list, o) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    if (!list || json_object_set_new(jv, "tendencies", list) != 0) {
        json_decref(jv);
        return NULL;
    }
    if (!v->edge_rows)
        return jv;
    /* the first and last rows, so that a merge with a run over the rows after (or before) this
     * one's forms the pairs that straddle them */
    size_t n = (size_t)(v->edge_rows * h5p_prod(v->dims, 1, v->rank));
    json_t *edges = json_pack("{s:I}", "rows", (json_int_t)v->edge_rows);
    const double *rows[2] = {v->edge_head, v->edge_tail}; /* a part holds the head or the tail it saw */
    static const char *const keys[2] = {"head", "tail"};
    for (int k = 0; k < 2 && edges; k++) {
        json_t *a = rows[k] ? json_array() : NULL;
        for (size_t i = 0; a && i < n; i++)
            if (json_array_append_new(a, real_json(rows[k][i])) != 0)
                break;
        if (rows[k] && (!a || json_array_size(a) != n || json_object_set_new(edges, keys[k], a) != 0)) {
            json_decref(a);
            json_decref(edges);
            edges = NULL;
        }
    }
    if (!edges || json_object_set_new(jv, "tendency_edges", edges) != 0) {
        json_decref(jv);
        return NULL;
    }
    return jv;
}

/* A variable's document. With pk (the packed form) its six state arrays are packed words and the
 * derived std, var and flags are left out (a loader derives them); a new per-feature array joins
 * moments_json and, to travel as words too, the pk branch (h5p_pack_reserve), read back by
 * json_column. Tendencies and edge rows travel as JSON in both forms (their tree nodes in a part
 * as words). */
static json_t *var_json(const h5p_var *v, int ddof, h5p_packer *pk)
{
    uint64_t nf = h5p_var_features(v);
    json_t *jv = pk ? states_json(var_meta_json(v), v->result, nf, v->wsum, pk)
                    : wsum_json(moments_json(var_meta_json(v), v->result, v->wsum, nf, ddof), v->wsum, nf);
    return tendencies_json(jv, v, ddof);
}

/* The document; with pk its per-feature arrays go to pk as words (the packed form's header). */
static json_t *document(const h5prep_stats *s, h5p_packer *pk)
{
    json_t *vars = json_object();
    for (size_t i = 0; i < s->nvars; i++) {
        if (!s->vars[i].result)
            continue;
        json_t *jv = var_json(&s->vars[i], s->cfg.ddof, pk);
        if (jv && h5p_sketch_put_json(jv, &s->vars[i]) != 0) {
            json_decref(jv);
            jv = NULL;
        }
        if (jv && s->pnodes && json_object_set_new(jv, "part", part_json(s, &s->pnodes[i], pk)) != 0)
            jv = NULL; /* set_new released it */
        if (json_object_set_new(vars, s->vars[i].name, jv) != 0) {
            json_decref(vars); /* a variable left out would be a wrong document, not a shorter one */
            return NULL;
        }
    }
    return json_pack("{s:s, s:o, s:o}", "format", H5PREP_STATS_FORMAT, "provenance", provenance_json(s),
                     "variables", vars);
}

enum { DUMP_FLAGS = JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17) };

/* Puts arrays of scalars on one line ([1, 2, 3]) in jansson's indented text, in place: the
 * objects stay indented for people, the long per-feature arrays stay short for files. */
static void collapse_scalar_arrays(char *t)
{
    char *w = t;
    int in_str = 0, depth_flat = 0; /* depth_flat: inside an array holding no array or object */
    for (char *r = t; *r; r++) {
        char c = *r;
        if (in_str) {
            *w++ = c;
            if (c == '\\' && r[1])
                *w++ = *++r;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '[' && !depth_flat) {
            char *q = r + 1; /* does this array hold only scalars? */
            int qs = 0;
            for (; *q && (qs || (*q != ']' && *q != '[' && *q != '{')); q++)
                if (*q == '"' && q[-1] != '\\')
                    qs = !qs;
            depth_flat = *q == ']';
        } else if (c == ']' && depth_flat) {
            depth_flat = 0;
        } else if (depth_flat && (c == '\n' || c == ' ')) {
            if (c == ' ' && w > t && w[-1] == ',')
                *w++ = ' ';
            continue;
        }
        *w++ = c;
    }
    *w = 0;
}

static h5prep_status parts_complete(const h5prep_stats *s);

char *h5prep_stats_json(const h5prep_stats *s)
{
    if (parts_complete(s) != H5PREP_OK)
        return NULL;
    json_t *doc = document(s, NULL);
    char *text = doc ? json_dumps(doc, DUMP_FLAGS) : NULL;
    json_decref(doc);
    if (text)
        collapse_scalar_arrays(text);
    return text;
}

/* ---- writing ------------------------------------------------------------------------- */

static h5prep_status write_json(const h5prep_stats *s, h5p_tmpfile *t, const char *path)
{
    char *text = h5prep_stats_json(s);
    RETURN_ERROR_IF(!text, H5PREP_ERR_NOMEM, "%s: out of memory while building the document", path);
    FILE *f = h5p_tmpfile_stream(t);
    if (!f) {
        int e = errno;
        free(text);
        return h5p_fail(H5PREP_ERR_OUTPUT, "%s: cannot create the output: %s", path, strerror(e));
    }
    int bad = fputs(text, f) < 0 || fputc('\n', f) == EOF;
    bad |= fclose(f) != 0;
    free(text);
    RETURN_ERROR_IF(bad, H5PREP_ERR_OUTPUT, "%s: writing the output failed: %s", path, strerror(errno));
    return H5PREP_OK;
}

static herr_t put_i64_attr(hid_t obj, const char *name, const uint64_t *vals, int n)
{
    int64_t buf[H5PREP_MAX_RANK];
    for (int i = 0; i < n; i++)
        buf[i] = (int64_t)vals[i];
    hsize_t dim = (hsize_t)n;
    hid_t sp = n > 0 ? H5Screate_simple(1, &dim, NULL) : H5Screate(H5S_NULL);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = a < 0 ? -1 : n > 0 ? H5Awrite(a, H5T_NATIVE_INT64, buf) : 0;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    return e;
}

static herr_t put_dataset(hid_t g, const char *name, hid_t ftype, hid_t mtype, int rank,
                          const uint64_t *shape, const void *data)
{
    hsize_t d[H5PREP_MAX_RANK];
    for (int a = 0; a < rank; a++)
        d[a] = shape[a];
    hid_t sp = rank > 0 ? H5Screate_simple(rank, d, NULL) : H5Screate(H5S_SCALAR);
    hid_t ds = H5Dcreate2(g, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = ds < 0 ? -1 : H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    if (ds >= 0)
        H5Dclose(ds);
    H5Sclose(sp);
    return e;
}

/* The per-feature datasets of nf states (count, missing, mean, std, var, min, max, m2, flags) in g;
 * with wsum, weighted (frequency weights). */
static herr_t put_moments(hid_t g, const h5p_moments *ms, const double *wsum, uint64_t nf, int frank,
                          const uint64_t *fshape, int ddof)
{
    herr_t e = 0;
    int64_t *ic = malloc(2 * nf * sizeof *ic);
    double *dv = malloc(7 * nf * sizeof *dv);
    uint8_t *fl = malloc(nf ? nf : 1);
    if (!ic || !dv || !fl) {
        e = -1;
    } else {
        int64_t *cnt = ic, *mis = ic + nf;
        double *mean = dv, *sd = dv + nf, *var = dv + 2 * nf, *mn = dv + 3 * nf, *mx = dv + 4 * nf,
               *m2 = dv + 5 * nf;
        for (uint64_t i = 0; i < nf; i++) {
            const h5p_moments *m = &ms[i];
            int empty = m->n == 0;
            cnt[i] = m->n;
            mis[i] = m->missing;
            mean[i] = empty || (wsum && !(wsum[i] > 0)) ? NAN : m->mean;
            var[i] = wsum ? h5prep_weighted_variance(m, wsum[i], ddof) : h5prep_moments_variance(m, ddof);
            sd[i] = sqrt(var[i]);
            mn[i] = empty ? NAN : m->min;
            mx[i] = empty ? NAN : m->max;
            m2[i] = m->m2;
            fl[i] = (uint8_t)(wsum ? h5prep_weighted_flags(m, wsum[i], ddof) : h5prep_moments_flags(m, ddof));
        }
        e |= put_dataset(g, "count", H5T_STD_I64LE, H5T_NATIVE_INT64, frank, fshape, cnt);
        e |= put_dataset(g, "missing", H5T_STD_I64LE, H5T_NATIVE_INT64, frank, fshape, mis);
        e |= put_dataset(g, "mean", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, frank, fshape, mean);
        e |= put_dataset(g, "std", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, frank, fshape, sd);
        e |= put_dataset(g, "var", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, frank, fshape, var);
        e |= put_dataset(g, "min", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, frank, fshape, mn);
        e |= put_dataset(g, "max", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, frank, fshape, mx);
        e |= put_dataset(g, "m2", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, frank, fshape, m2);
        e |= put_dataset(g, "flags", H5T_STD_U8LE, H5T_NATIVE_UINT8, frank, fshape, fl);
    }
    free(ic);
    free(dv);
    free(fl);
    return e;
}

/* Group `name` under parent, with the groups on its path; negative when it cannot be made. */
static hid_t make_group(hid_t parent, const char *name)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = H5Gcreate2(parent, name, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    return g;
}

/* Tendencies of v: group "tendencies/lag_L" per lag, with attribute "lag" and put_moments's datasets. */
static herr_t put_tendencies(hid_t g, const h5p_var *v, int frank, const uint64_t *fshape, int ddof)
{
    herr_t e = 0;
    uint64_t nf = h5p_var_features(v);
    for (int k = 0; v->tend && k < v->ntend && e >= 0; k++) {
        char name[48];
        snprintf(name, sizeof name, "tendencies/lag_%d", v->tend_lag[k]);
        hid_t t = make_group(g, name);
        if (t < 0)
            return -1;
        uint64_t lag = (uint64_t)v->tend_lag[k];
        e |= put_i64_attr(t, "lag", &lag, 1);
        e |= put_moments(t, v->tend + (uint64_t)k * nf, NULL, nf, frank, fshape, ddof);
        H5Gclose(t);
    }
    return e;
}

static herr_t write_h5_var(hid_t f, const h5p_var *v, int ddof)
{
    char gname[1100];
    snprintf(gname, sizeof gname, "/variables%s", v->name);
    hid_t g = make_group(f, gname);
    if (g < 0)
        return -1;
    uint64_t keep[H5PREP_MAX_RANK];
    for (int a = 0; a < v->keep_count; a++)
        keep[a] = (uint64_t)(v->keep_first + a);
    const uint64_t *fshape = v->dims + v->keep_first;
    int frank = v->keep_count;
    herr_t e = h5p_put_string_attr(g, "name", v->name);
    e |= put_i64_attr(g, "shape", v->dims, v->rank);
    e |= put_i64_attr(g, "keep_axes", keep, v->keep_count);
    e |= put_i64_attr(g, "feature_shape", fshape, frank);
    e |= put_moments(g, v->result, v->wsum, h5p_var_features(v), frank, fshape, ddof);
    if (v->wsum) {
        e |= put_dataset(g, "wsum", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, frank, fshape, v->wsum);
        uint64_t axis = (uint64_t)v->weights_axis; /* an empty attribute: weights of an array */
        e |= put_i64_attr(g, "weights_axis", &axis, v->weights_axis >= 0);
    }
    e |= put_tendencies(g, v, frank, fshape, ddof);
    if (e >= 0)
        e |= h5p_sketch_put_h5(g, v);
    H5Gclose(g);
    return e;
}

/* The file is built in memory (HDF5's core driver, no backing store: HDF5 opens nothing by name)
 * and its image written to the exclusive temporary: no link is followed, and a full disk is a
 * failed write(2), which libhdf5 never sees (its own failed flushes crash it at exit). */
static h5prep_status write_h5(const h5prep_stats *s, h5p_tmpfile *t, const char *path)
{
    h5p_hdf5_init();
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    hid_t f = fapl < 0 || H5Pset_fapl_core(fapl, 1 << 20, 0) < 0 ? -1
            : H5Fcreate(t->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (fapl >= 0)
        H5Pclose(fapl);
    RETURN_ERROR_IF(f < 0, H5PREP_ERR_OUTPUT, "%s: cannot create the output in memory (HDF5: %s)", path, h5p_hdf5_reason());
    json_t *prov = provenance_json(s);
    char *ptext = json_dumps(prov, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(prov);
    herr_t e = ptext ? 0 : -1;
    e |= h5p_put_string_attr(f, "format", H5PREP_STATS_FORMAT);
    if (ptext)
        e |= h5p_put_string_attr(f, "provenance", ptext);
    free(ptext);
    for (size_t i = 0; i < s->nvars && e >= 0; i++)
        if (s->vars[i].result)
            e |= write_h5_var(f, &s->vars[i], s->cfg.ddof);
    if (e >= 0)
        e = H5Fflush(f, H5F_SCOPE_GLOBAL);
    ssize_t n = e < 0 ? -1 : H5Fget_file_image(f, NULL, 0);
    void *image = n > 0 ? h5p_malloc((size_t)n) : NULL;
    if (!image || H5Fget_file_image(f, image, (size_t)n) != n)
        e = -1;
    if (e < 0)
        h5p_fail(H5PREP_ERR_OUTPUT, "%s: building the HDF5 output failed (HDF5: %s)", path, h5p_hdf5_reason());
    H5Fclose(f); /* in memory: nothing to fail */
    if (e >= 0 && h5p_write_all(t->fd, image, (size_t)n) != 0) {
        e = -1;
        h5p_fail(H5PREP_ERR_OUTPUT, "%s: writing the output failed: %s", path, strerror(errno));
    }
    free(image);
    return e < 0 ? H5PREP_ERR_OUTPUT : H5PREP_OK;
}

static int has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), m = strlen(ext);
    return n > m && strcasecmp(path + n - m, ext) == 0;
}

static int is_h5_path(const char *path)
{
    return has_ext(path, ".h5") || has_ext(path, ".hdf5") || has_ext(path, ".hdf") || has_ext(path, ".nc");
}

/* Whether a and b name the same existing file (links and other spellings included). */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* The statistics file loaded into s that is the same file as path, or NULL. */
static const char *loaded_named(const h5prep_stats *s, const char *path)
{
    for (size_t i = 0; s->merged_from && i < json_array_size(s->merged_from); i++) {
        const char *p = json_string_value(json_array_get(s->merged_from, i));
        if (p && same_file(p, path))
            return p;
    }
    return NULL;
}

/* Whether path names an existing file that is one of the run's inputs or a merge's statistics files. */
static const char *input_named(const h5prep_stats *s, const char *path)
{
    for (size_t i = 0; i < s->nvars; i++)
        for (size_t k = 0; k < s->vars[i].nparts; k++)
            if (same_file(s->vars[i].parts[k].path, path))
                return s->vars[i].parts[k].path;
    return loaded_named(s, path);
}

h5prep_status h5prep_stats_write(const h5prep_stats *s, const char *path)
{
    h5p_clear_error();
    int h5 = is_h5_path(path);
    if (!h5 && !has_ext(path, ".json")) {
        h5p_fail(H5PREP_ERR_USAGE, "%s: unknown output format", path);
        return h5p_hint(H5PREP_ERR_USAGE, "name the output *.json or *.h5");
    }
    const char *input = input_named(s, path);
    RETURN_ERROR_IF(input, H5PREP_ERR_OUTPUT, "%s: is the input %s; h5prep does not overwrite its inputs", path, input);
    if (h5 && s->part_count) {
        h5p_fail(H5PREP_ERR_USAGE, "%s: a part (--part %d/%d) is written as JSON: its tree nodes have no place in the .h5 layout",
                 path, s->part_index, s->part_count);
        return h5p_hint(H5PREP_ERR_USAGE, "name the part *.json; 'h5prep merge' of all parts may then write .h5");
    }
    FORWARD_IF_ERROR(parts_complete(s));
    h5p_tmpfile t;
    FORWARD_IF_ERROR(h5p_tmpfile_begin(&t, path));
    h5prep_status st = h5 ? write_h5(s, &t, path) : write_json(s, &t, path);
    if (st != H5PREP_OK) {
        h5p_tmpfile_abort(&t);
        return st;
    }
    return h5p_tmpfile_commit(&t);
}

/* ---- loading (for merges) ------------------------------------------------------------- */

/* A variable's arrays as read from either format, before conversion to states. */
typedef struct loaded_arrays {
    int64_t *count, *missing;
    double *mean, *m2, *min, *max;
} loaded_arrays;


static h5prep_status bad_state(const char *path, const char *name, uint64_t f, const char *fmt, ...) H5P_PRINTF(4, 5);

/* "PATH: variable NAME: feature F: ..." with the hint every damaged state gets. */
static h5prep_status bad_state(const char *path, const char *name, uint64_t f, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    h5p_fail(H5PREP_ERR_STATE, "%s: variable %s: feature %llu: %s", path, name, (unsigned long long)f, what);
    return h5p_hint(H5PREP_ERR_STATE, "h5prep does not write such a state: the file was changed or damaged; compute it again with h5prep stats");
}

/* Rejects a feature's state that no run or merge can produce, one message per kind. The
 * tolerances are those of real states: a mean computed by merges may lie a few ulps outside
 * [min, max] (allowed: 1e-9 of the values' magnitude), and m2 may exceed count*((max-min)/2)^2,
 * its largest value (Popoviciu), by rounding only (allowed: 1e-6 relative, plus the residue
 * of a constant column at 16 ulps). m2 = +inf is a state (its true value exceeds DBL_MAX). */
static h5prep_status check_state(const h5p_moments *m, const double *wsum, const char *path, const char *name,
                                 uint64_t f)
{
    if (wsum && !(wsum[f] >= 0 && wsum[f] <= DBL_MAX))
        return bad_state(path, name, f, "the sum of weights is %g, not a finite number >= 0", wsum[f]);
    if (m->n < 0)
        return bad_state(path, name, f, "count is negative (%lld)", (long long)m->n);
    if (m->missing < 0)
        return bad_state(path, name, f, "missing is negative (%lld)", (long long)m->missing);
    if (m->n == 0 || (wsum && wsum[f] == 0))
        return H5PREP_OK; /* mean, m2, min and max of an empty feature are not used; nor mean and m2 without weight */
    if (!isfinite(m->mean))
        return bad_state(path, name, f, "count is %lld but the mean is not a finite number (%g)", (long long)m->n, m->mean);
    if (!isfinite(m->min) || !isfinite(m->max))
        return bad_state(path, name, f, "count is %lld, so min and max must be finite numbers (found %g and %g)",
                         (long long)m->n, m->min, m->max);
    if (m->min > m->max)
        return bad_state(path, name, f, "min %.17g is greater than max %.17g", m->min, m->max);
    if (isnan(m->m2))
        return bad_state(path, name, f, "count is %lld but m2 is not a number", (long long)m->n);
    if (m->m2 < 0)
        return bad_state(path, name, f, "m2 is negative (%.17g)", m->m2);
    double amax = fmax(fabs(m->min), fabs(m->max)), tol = 1e-9 * amax;
    if (m->mean < m->min - tol || m->mean > m->max + tol)
        return bad_state(path, name, f, "the mean %.17g lies outside [min, max] = [%.17g, %.17g]", m->mean, m->min, m->max);
    double half = m->max * 0.5 - m->min * 0.5, resid = 16 * DBL_EPSILON * amax; /* neither overflows */
    double bound = (wsum ? wsum[f] : (double)m->n) * (half * half + resid * resid) * (1 + 1e-6);
    if (m->m2 > bound)
        return bad_state(path, name, f, "m2 %.17g is more than %s, min and max allow (%s * ((max - min) / 2)^2 = %.17g)",
                         m->m2, wsum ? "wsum" : "count", wsum ? "wsum" : "count",
                         (wsum ? wsum[f] : (double)m->n) * half * half);
    return H5PREP_OK;
}

/* The checked states of loaded arrays into out (nf). */
static h5prep_status arrays_to_states(const loaded_arrays *a, uint64_t nf, const char *path, const char *name,
                                      h5p_moments *out, const double *wsum)
{
    for (uint64_t f = 0; f < nf; f++) {
        h5p_moments m = h5p_moments_empty();
        m.missing = a->missing[f];
        m.n = a->count[f];
        if (a->count[f] > 0) {
            m.mean = a->mean[f];
            m.m2 = a->m2[f];
            m.min = a->min[f];
            m.max = a->max[f];
        }
        FORWARD_IF_ERROR(check_state(&m, wsum, path, name, f));
        out[f] = m;
    }
    return H5PREP_OK;
}

static h5prep_status fill_states(h5p_var *v, const loaded_arrays *a, const char *path)
{
    uint64_t nf = h5p_var_features(v);
    v->result = malloc((nf ? nf : 1) * sizeof *v->result);
    RETURN_ERROR_IF(!v->result, H5PREP_ERR_NOMEM, "%s: out of memory", path);
    return arrays_to_states(a, nf, path, v->name, v->result, v->wsum);
}

static int json_u64s(json_t *arr, uint64_t *out, int cap, uint64_t min_value)
{
    if (!json_is_array(arr) || json_array_size(arr) > (size_t)cap)
        return -1;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *x = json_array_get(arr, i);
        if (!json_is_integer(x) || json_integer_value(x) < (json_int_t)min_value)
            return -1;
        out[i] = (uint64_t)json_integer_value(x);
    }
    return (int)json_array_size(arr);
}

/* A JSON entry as float64: a number, null (NaN) or one of the strings "inf", "-inf" and "nan"
 * (what real_json writes, and "nan" besides); -1 for anything else. */
static int json_to_real(json_t *x, double *out)
{
    if (json_is_number(x)) {
        *out = json_number_value(x);
        return 0;
    }
    if (json_is_null(x)) {
        *out = NAN;
        return 0;
    }
    const char *t = json_is_string(x) ? json_string_value(x) : NULL;
    if (t && (strcmp(t, "inf") == 0 || strcmp(t, "-inf") == 0 || strcmp(t, "nan") == 0)) {
        *out = t[0] == 'n' ? NAN : t[0] == '-' ? -INFINITY : INFINITY;
        return 0;
    }
    return -1;
}

/* Array g_keys[k] of a packed document (src): the words of its reference. */
static h5prep_status packed_column(json_t *ref, int k, uint64_t n, const char *fshape, void *out, const char *path,
                                   const char *name, const h5p_payload *src)
{
    const char *key = g_keys[k];
    switch (h5p_payload_words(src, ref, n, out)) {
    case H5P_PACKED_OK: return H5PREP_OK;
    case H5P_PACKED_NOT_REF:
        return h5p_fail(H5PREP_ERR_STATE, "%s: variable %s: \"%s\" is neither a list nor a packed array {\"packed\": [OFFSET, N]}",
                        path, name, key);
    case H5P_PACKED_OUTSIDE:
        return h5p_fail(H5PREP_ERR_STATE, "%s: variable %s: \"%s\" lies outside the %llu bytes of packed arrays (or off their 8-byte words)",
                        path, name, key, (unsigned long long)src->len);
    default:
        return h5p_fail(H5PREP_ERR_STATE, "%s: variable %s: \"%s\" has %lld packed entries, but feature_shape %s gives %llu features",
                        path, name, key, (long long)json_integer_value(json_array_get(json_object_get(ref, "packed"), 1)),
                        fshape, (unsigned long long)n);
    }
}

/* Array g_keys[k] of variable `name`: n entries of its kind, stored into ints or reals when
 * they are given. fshape: the feature shape, for the message. src: the payload of a packed
 * document, whose arrays are references to its words (NULL for a JSON document). */
static h5prep_status json_column(json_t *jv, int k, uint64_t n, const char *fshape, int64_t *ints, double *reals,
                                 const char *path, const char *name, const h5p_payload *src)
{
    const char *key = g_keys[k];
    json_t *arr = json_object_get(jv, key);
    RETURN_ERROR_IF(!arr, H5PREP_ERR_STATE, "%s: variable %s: \"%s\" is missing", path, name, key);
    if (src && json_is_object(arr))
        return packed_column(arr, k, n, fshape, ints ? (void *)ints : (void *)reals, path, name, src);
    RETURN_ERROR_IF(!json_is_array(arr), H5PREP_ERR_STATE, "%s: variable %s: \"%s\" is not a list", path, name, key);
    RETURN_ERROR_IF(json_array_size(arr) != n, H5PREP_ERR_STATE,
                    "%s: variable %s: \"%s\" has %zu entries, but feature_shape %s gives %llu features", path, name, key,
                    json_array_size(arr), fshape, (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        json_t *x = json_array_get(arr, i);
        double r;
        if (key_is_integer(k)) {
            RETURN_ERROR_IF(!json_is_integer(x), H5PREP_ERR_STATE, "%s: variable %s: \"%s\" entry %llu is not an integer",
                            path, name, key, (unsigned long long)i);
            if (ints)
                ints[i] = json_integer_value(x);
        } else {
            RETURN_ERROR_IF(json_to_real(x, &r) != 0, H5PREP_ERR_STATE,
                            "%s: variable %s: \"%s\" entry %llu is not a number, null, \"inf\" or \"-inf\"", path, name,
                            key, (unsigned long long)i);
            if (reals)
                reals[i] = r;
        }
    }
    return H5PREP_OK;
}

static h5prep_status alloc_arrays(loaded_arrays *a, uint64_t nf, const char *path)
{
    size_t n = nf ? nf : 1;
    a->count = malloc(2 * n * sizeof *a->count);
    a->mean = malloc(4 * n * sizeof *a->mean);
    RETURN_ERROR_IF(!a->count || !a->mean, H5PREP_ERR_NOMEM, "%s: out of memory", path);
    a->missing = a->count + n;
    a->m2 = a->mean + n;
    a->min = a->mean + 2 * n;
    a->max = a->mean + 3 * n;
    return H5PREP_OK;
}

static void free_arrays(loaded_arrays *a)
{
    free(a->count);
    free(a->mean);
}

/* Where array k of the loaded arrays goes (NULL for the derived ones). */
static void *array_slot(const loaded_arrays *a, int k)
{
    void *slots[NKEYS] = {a->count, a->missing, a->mean, a->m2, a->min, a->max, NULL, NULL, NULL};
    return slots[k];
}

/* The "wsum" array of a weighted variable or part node (nf numbers) into a new array *out; NULL
 * when jv has none (an unweighted state). */
static h5prep_status json_wsum(json_t *jv, uint64_t nf, const char *path, const char *name, double **out)
{
    *out = NULL;
    json_t *arr = json_object_get(jv, "wsum");
    if (!arr)
        return H5PREP_OK;
    RETURN_ERROR_IF(!json_is_array(arr) || json_array_size(arr) != nf, H5PREP_ERR_STATE,
                    "%s: variable %s: \"wsum\" is not a list of %llu numbers (one per feature)", path, name,
                    (unsigned long long)nf);
    double *w = h5p_malloc(nf * sizeof *w);
    RETURN_ERROR_IF(!w, H5PREP_ERR_NOMEM, "%s: out of memory", path);
    for (uint64_t i = 0; i < nf; i++)
        if (json_to_real(json_array_get(arr, i), &w[i]) != 0) {
            free(w);
            return h5p_fail(H5PREP_ERR_STATE, "%s: variable %s: \"wsum\" entry %llu is not a number", path, name,
                            (unsigned long long)i);
        }
    *out = w;
    return H5PREP_OK;
}

/* The states of one JSON object (a variable, a tendency or a part's tree node) into out (nf): its
 * state arrays (words of src where packed), then, where wsum is given, its "wsum" into a new
 * array (NULL when the object has none), against which the states are checked. */
static h5prep_status load_states(json_t *obj, uint64_t nf, const char *fs, const char *path, const char *name,
                                 const h5p_payload *src, double **wsum, h5p_moments *out)
{
    loaded_arrays a = {0};
    h5prep_status st = alloc_arrays(&a, nf, path);
    for (int k = 0; k < NSTATE_KEYS && st == H5PREP_OK; k++)
        st = json_column(obj, k, nf, fs, key_is_integer(k) ? array_slot(&a, k) : NULL,
                         key_is_integer(k) ? NULL : array_slot(&a, k), path, name, src);
    if (st == H5PREP_OK && wsum)
        st = json_wsum(obj, nf, path, name, wsum);
    if (st == H5PREP_OK)
        st = arrays_to_states(&a, nf, path, name, out, wsum ? *wsum : NULL);
    free_arrays(&a);
    return st;
}

/* Checks the axes of a loaded variable and derives keep_first/keep_count. */
static h5prep_status check_axes(h5p_var *v, const uint64_t *keep, int nkeep, const uint64_t *fshape,
                                int frank, const char *path)
{
    int ok = v->rank >= 1 && nkeep == frank;
    for (int a = 0; ok && a < nkeep; a++)
        ok = keep[a] == keep[0] + (uint64_t)a && keep[a] < (uint64_t)v->rank && fshape[a] == v->dims[keep[a]];
    RETURN_ERROR_IF(!ok, H5PREP_ERR_STATE, "%s: variable %s: shape, keep_axes and feature_shape disagree", path, v->name);
    uint64_t nf = 1;
    for (int a = 0; a < v->rank; a++) /* rows may be 0 (a transform's empty split), no other axis */
        RETURN_ERROR_IF((a > 0 && v->dims[a] == 0) || v->dims[a] > INT64_MAX, H5PREP_ERR_STATE,
                        "%s: variable %s: shape has an axis of length %llu (%s .. 2^63 - 1 expected)", path, v->name,
                        (unsigned long long)v->dims[a], a > 0 ? "1" : "0");
    for (int a = 0; a < nkeep; a++)
        RETURN_ERROR_IF(__builtin_mul_overflow(nf, fshape[a], &nf) || nf > SIZE_MAX / (6 * sizeof(double)),
                        H5PREP_ERR_STATE, "%s: variable %s: feature_shape gives more features than can be held", path,
                        v->name);
    v->keep_first = nkeep ? (int)keep[0] : 0;
    v->keep_count = nkeep;
    return H5PREP_OK;
}

/* "tendency_edges" of a variable (absent: none kept): the longest lag's first and last rows. */
static h5prep_status load_edges(json_t *e, const char *path, h5p_var *v)
{
    if (!e)
        return H5PREP_OK;
    RETURN_ERROR_IF(v->ntend == 0, H5PREP_ERR_STATE, "%s: variable %s: \"tendency_edges\" without tendencies", path, v->name);
    json_t *rows = json_object_get(e, "rows");
    uint64_t n = (uint64_t)v->tend_lag[v->ntend - 1] * h5p_prod(v->dims, 1, v->rank);
    RETURN_ERROR_IF(!json_is_integer(rows) || json_integer_value(rows) != v->tend_lag[v->ntend - 1], H5PREP_ERR_STATE,
                    "%s: variable %s: \"tendency_edges\".rows is not the longest lag, %d", path, v->name,
                    v->tend_lag[v->ntend - 1]);
    static const char *const keys[2] = {"head", "tail"};
    double **dst[2] = {&v->edge_head, &v->edge_tail};
    for (int k = 0; k < 2; k++) {
        json_t *a = json_object_get(e, keys[k]);
        if (!a) /* a part's document holds the edge it saw */
            continue;
        RETURN_ERROR_IF(!json_is_array(a) || json_array_size(a) != n, H5PREP_ERR_STATE,
                        "%s: variable %s: \"tendency_edges\".%s does not hold %d rows of the dataset (%llu values)", path,
                        v->name, keys[k], v->tend_lag[v->ntend - 1], (unsigned long long)n);
        RETURN_ERROR_IF(!(*dst[k] = malloc((n ? n : 1) * sizeof **dst[k])), H5PREP_ERR_NOMEM, "%s: out of memory", path);
        for (uint64_t i = 0; i < n; i++)
            RETURN_ERROR_IF(json_to_real(json_array_get(a, i), &(*dst[k])[i]) != 0, H5PREP_ERR_STATE,
                            "%s: variable %s: \"tendency_edges\".%s value %llu is not a number or null", path, v->name,
                            keys[k], (unsigned long long)i);
    }
    v->edge_rows = (uint64_t)v->tend_lag[v->ntend - 1];
    return H5PREP_OK;
}

/* "tendencies" of a variable (absent: none): lags ascending, each with the arrays of its states. */
static h5prep_status load_tendencies(json_t *list, const char *path, h5p_var *v, const char *fs)
{
    if (!list)
        return H5PREP_OK;
    size_t nt = json_is_array(list) ? json_array_size(list) : 0;
    RETURN_ERROR_IF(!json_is_array(list) || nt > H5PREP_MAX_TENDENCIES, H5PREP_ERR_STATE,
                    "%s: variable %s: \"tendencies\" is not a list of at most %d lags", path, v->name, H5PREP_MAX_TENDENCIES);
    uint64_t nf = h5p_var_features(v);
    v->tend = malloc((nt * nf > 0 ? nt * nf : 1) * sizeof *v->tend);
    RETURN_ERROR_IF(!v->tend, H5PREP_ERR_NOMEM, "%s: out of memory", path);
    v->ntend = (int)nt;
    for (size_t k = 0; k < nt; k++) {
        json_t *e = json_array_get(list, k), *lag = json_object_get(e, "lag");
        json_int_t L = json_is_integer(lag) ? json_integer_value(lag) : 0;
        RETURN_ERROR_IF(L < 1 || L > INT32_MAX || (k > 0 && L <= v->tend_lag[k - 1]), H5PREP_ERR_STATE,
                        "%s: variable %s: tendency %zu: \"lag\" is not an integer above the lag before it", path, v->name, k);
        v->tend_lag[k] = (int)L;
        char what[1100];
        snprintf(what, sizeof what, "%s (tendency lag %d)", v->name, (int)L);
        for (int c = 0; c < NKEYS; c++)
            FORWARD_IF_ERROR(json_column(e, c, nf, fs, NULL, NULL, path, what, NULL));
        FORWARD_IF_ERROR(load_states(e, nf, fs, path, what, NULL, NULL, v->tend + k * nf));
    }
    return H5PREP_OK;
}

static h5prep_status load_json_var(const char *name, json_t *jv, const char *path, h5p_var *v, const h5p_payload *src)
{
    uint64_t keep[H5PREP_MAX_RANK], fshape[H5PREP_MAX_RANK];
    v->name = h5p_strdup(name);
    RETURN_ERROR_IF(!v->name, H5PREP_ERR_NOMEM, "out of memory");
    v->rank = json_u64s(json_object_get(jv, "shape"), v->dims, H5PREP_MAX_RANK, 0);
    int nkeep = json_u64s(json_object_get(jv, "keep_axes"), keep, H5PREP_MAX_RANK, 0);
    int frank = json_u64s(json_object_get(jv, "feature_shape"), fshape, H5PREP_MAX_RANK, 0);
    RETURN_ERROR_IF(v->rank < 0 || nkeep < 0 || frank < 0, H5PREP_ERR_STATE,
                    "%s: variable %s: shape, keep_axes or feature_shape is not a list of integers", path, name);
    FORWARD_IF_ERROR(check_axes(v, keep, nkeep, fshape, frank, path));
    uint64_t nf = h5p_var_features(v);
    char fs[256];
    h5p_format_shape(fs, sizeof fs, frank, fshape);
    for (int k = 0; k < (src ? NSTATE_KEYS : NKEYS); k++) /* every array first, before memory is taken for them */
        FORWARD_IF_ERROR(json_column(jv, k, nf, fs, NULL, NULL, path, name, src)); /* packed: no derived ones */
    json_t *wax = json_object_get(jv, "weights_axis");
    v->weights_axis = json_is_integer(wax) ? (int)json_integer_value(wax) : -1;
    v->result = malloc((nf ? nf : 1) * sizeof *v->result);
    RETURN_ERROR_IF(!v->result, H5PREP_ERR_NOMEM, "%s: out of memory", path);
    h5prep_status st = load_states(jv, nf, fs, path, name, src, &v->wsum, v->result);
    if (st == H5PREP_OK)
        st = load_tendencies(json_object_get(jv, "tendencies"), path, v, fs);
    if (st == H5PREP_OK)
        st = load_edges(json_object_get(jv, "tendency_edges"), path, v);
    if (st == H5PREP_OK)
        st = h5p_sketch_get_json(json_object_get(jv, "sketch"), path, v);
    return st;
}

/* ---- parts: the documents of --part i/N runs, merged by their tree nodes ---------------- */

/* Integer `key` of a part record, at least min_value. */
static h5prep_status part_u64(json_t *part, const char *key, uint64_t min_value, uint64_t *out, const char *path,
                              const char *name)
{
    json_t *x = json_object_get(part, key);
    RETURN_ERROR_IF(!json_is_integer(x) || json_integer_value(x) < (json_int_t)min_value, H5PREP_ERR_STATE,
                    "%s: variable %s: part.%s is missing or not an integer of at least %llu", path, name, key,
                    (unsigned long long)min_value);
    *out = (uint64_t)json_integer_value(x);
    return H5PREP_OK;
}

/* Pushes the nodes of one loaded part onto t, checking that they follow the blocks before them
 * and lie in the part's share; a packed part's words are in s->kept. */
static h5prep_status push_part_nodes(const h5prep_stats *s, h5p_tree *t, json_t *e, json_t *nodes, const char *name)
{
    json_t *jp = json_object_get(e, "payload");
    const h5p_payload *src = jp ? &s->kept[json_integer_value(jp)] : NULL;
    const char *path = json_string_value(json_object_get(e, "path"));
    uint64_t end = (uint64_t)json_integer_value(json_object_get(e, "end"));
    json_t *jn;
    RETURN_ERROR_IF(!json_is_array(nodes), H5PREP_ERR_STATE, "%s: variable %s: the part's tree nodes are not a list", path, name);
    size_t i;
    json_array_foreach(nodes, i, jn)
    {
        json_t *jl = json_object_get(jn, "level"), *jk = json_object_get(jn, "index");
        RETURN_ERROR_IF(!json_is_integer(jl) || !json_is_integer(jk) || json_integer_value(jl) < 0 ||
                            json_integer_value(jl) > 62 || json_integer_value(jk) < 0,
                        H5PREP_ERR_STATE, "%s: variable %s: part node %zu has no valid level and index", path, name, i);
        uint32_t level = (uint32_t)json_integer_value(jl);
        uint64_t index = (uint64_t)json_integer_value(jk);
        if (!h5p_tree_follows(t, level, index, 0) || (index + 1) << level > end) {
            h5p_fail(H5PREP_ERR_STATE, "%s: variable %s: part node %zu (blocks %llu..%llu) does not follow the blocks before it (%llu)",
                     path, name, i, (unsigned long long)(index << level), (unsigned long long)((index + 1) << level),
                     (unsigned long long)h5p_tree_end(t, 0));
            return h5p_hint(H5PREP_ERR_STATE, "h5prep does not write such a part: the file was changed or damaged; compute it again");
        }
        double *ws = NULL;
        h5p_moments *m = malloc(h5p_tree_state_bytes(t) + sizeof *m);
        RETURN_ERROR_IF(!m, H5PREP_ERR_NOMEM, "%s: out of memory", path);
        h5prep_status st = load_states(jn, t->nf, "of the variable", path, name, src, &ws, m);
        if (st == H5PREP_OK && !ws != !t->weighted)
            st = h5p_fail(H5PREP_ERR_STATE, "%s: variable %s: part node %zu is %sweighted, the variable is %sweighted", path,
                          name, i, ws ? "" : "not ", t->weighted ? "" : "not ");
        if (st == H5PREP_OK && ws) /* a weighted tree's node: the sums of weights after the states */
            memcpy(m + t->nf, ws, t->nf * sizeof *ws);
        free(ws);
        if (st != H5PREP_OK) {
            free(m);
            return st;
        }
        FORWARD_IF_ERROR(h5p_tree_push(t, level, index, m));
    }
    return H5PREP_OK;
}

/* Every part of v is loaded: their nodes in block order rebuild the single run's tree. */
static h5prep_status assemble_parts(const h5prep_stats *s, json_t *list, h5p_var *v)
{
    size_t n = json_array_size(list);
    json_t **by_first = malloc((n ? n : 1) * sizeof *by_first);
    RETURN_ERROR_IF(!by_first, H5PREP_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) { /* insertion sort by first block: n is the part count */
        json_t *e = json_array_get(list, i);
        json_int_t first = json_integer_value(json_object_get(e, "first"));
        size_t j = i;
        for (; j > 0 && json_integer_value(json_object_get(by_first[j - 1], "first")) > first; j--)
            by_first[j] = by_first[j - 1];
        by_first[j] = e;
    }
    h5p_tree t;
    uint64_t nf = h5p_var_features(v);
    if (v->wsum)
        h5p_tree_init_weighted(&t, nf);
    else
        h5p_tree_init(&t, nf);
    h5prep_status st = H5PREP_OK;
    for (size_t i = 0; i < n && st == H5PREP_OK; i++)
        st = push_part_nodes(s, &t, by_first[i], json_object_get(by_first[i], "nodes"), v->name);
    h5p_moments *all = st == H5PREP_OK ? h5p_malloc(h5p_tree_state_bytes(&t)) : NULL;
    if (st == H5PREP_OK && !all)
        st = h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    if (st == H5PREP_OK)
        st = h5p_tree_fold(&t, all);
    if (st == H5PREP_OK) { /* a weighted fold holds the sums of weights after the states */
        memcpy(v->result, all, nf * sizeof *all);
        if (v->wsum)
            memcpy(v->wsum, all + nf, nf * sizeof *v->wsum);
    }
    free(all);
    for (int k = 0; k < v->ntend && st == H5PREP_OK; k++) { /* each lag's tree the same way (unweighted) */
        h5p_tree_free(&t);
        h5p_tree_init(&t, nf);
        for (size_t i = 0; i < n && st == H5PREP_OK; i++)
            st = push_part_nodes(s, &t, by_first[i], json_array_get(json_object_get(by_first[i], "tendency_nodes"), (size_t)k),
                                 v->name);
        if (st == H5PREP_OK)
            st = h5p_tree_fold(&t, v->tend + (uint64_t)k * nf);
    }
    h5p_tree_free(&t);
    free(by_first);
    return st;
}

/* Loads variable `in` of a part document: refuses parts of other runs, a part given twice and
 * parts that overlap; merges the tree once every part of N is there. `in` is consumed. kept: the
 * index in s->kept of a packed document's payload, which its nodes refer to (-1: JSON). */
static h5prep_status load_part(h5prep_stats *s, json_t *part, const char *path, h5p_var *in, long kept)
{
    const char *name = in->name;
    uint64_t idx = 0, cnt = 0, blocks = 0, first = 0, end = 0;
    h5prep_status st = part_u64(part, "index", 1, &idx, path, name);
    if (st == H5PREP_OK)
        st = part_u64(part, "count", 1, &cnt, path, name);
    if (st == H5PREP_OK)
        st = part_u64(part, "blocks", 0, &blocks, path, name);
    if (st == H5PREP_OK)
        st = part_u64(part, "first", 0, &first, path, name);
    if (st == H5PREP_OK)
        st = part_u64(part, "end", 0, &end, path, name);
    if (st == H5PREP_OK && (idx > cnt || first > end || end > blocks || !json_is_array(json_object_get(part, "nodes"))))
        st = h5p_fail(H5PREP_ERR_STATE, "%s: variable %s: part %llu/%llu with blocks %llu..%llu of %llu, or without nodes, is not a part h5prep writes",
                      path, name, (unsigned long long)idx, (unsigned long long)cnt, (unsigned long long)first,
                      (unsigned long long)end, (unsigned long long)blocks);
    if (st == H5PREP_OK && !s->pending && !(s->pending = json_object()))
        st = h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    json_t *list = st == H5PREP_OK ? json_object_get(s->pending, name) : NULL;
    h5p_var *v = st == H5PREP_OK ? h5p_stats_find(s, name) : NULL;
    if (st == H5PREP_OK && v && !list)
        st = h5p_fail(H5PREP_ERR_STATE, "%s: variable %s is part %llu/%llu of a run, but the files merged before hold it whole",
                      path, name, (unsigned long long)idx, (unsigned long long)cnt);
    json_t *e;
    size_t i;
    json_array_foreach(list, i, e)
    {
        if (st != H5PREP_OK)
            break;
        const char *other = json_string_value(json_object_get(e, "path"));
        uint64_t oi = (uint64_t)json_integer_value(json_object_get(e, "index"));
        uint64_t oc = (uint64_t)json_integer_value(json_object_get(e, "count"));
        uint64_t of = (uint64_t)json_integer_value(json_object_get(e, "first"));
        uint64_t oe = (uint64_t)json_integer_value(json_object_get(e, "end"));
        if (oc != cnt || (uint64_t)json_integer_value(json_object_get(e, "blocks")) != blocks) {
            st = h5p_fail(H5PREP_ERR_STATE, "%s: variable %s: part %llu/%llu is not a part of the run of %s (part %llu/%llu): the part counts or blocks differ",
                          path, name, (unsigned long long)idx, (unsigned long long)cnt, other, (unsigned long long)oi,
                          (unsigned long long)oc);
        } else if (oi == idx || (first < oe && of < end)) {
            h5p_fail(H5PREP_ERR_STATE, "%s: variable %s: part %llu/%llu (blocks %llu..%llu) overlaps part %llu/%llu in %s (blocks %llu..%llu)",
                     path, name, (unsigned long long)idx, (unsigned long long)cnt, (unsigned long long)first,
                     (unsigned long long)end, (unsigned long long)oi, (unsigned long long)cnt, other,
                     (unsigned long long)of, (unsigned long long)oe);
            st = h5p_hint(H5PREP_ERR_STATE, "give each part of the run once");
        }
    }
    if (st == H5PREP_OK && v) {
        int same = v->rank == in->rank && v->keep_first == in->keep_first && v->keep_count == in->keep_count;
        for (int a = 0; same && a < v->rank; a++)
            same = v->dims[a] == in->dims[a];
        same = same && v->ntend == in->ntend && memcmp(v->tend_lag, in->tend_lag, sizeof v->tend_lag) == 0;
        if (!same)
            st = h5p_fail(H5PREP_ERR_STATE, "%s: variable %s: part %llu/%llu has another shape, other kept axes or other tendency lags than the parts merged before",
                          path, name, (unsigned long long)idx, (unsigned long long)cnt);
    }
    if (st == H5PREP_OK && !list) {
        list = json_array();
        if (!list || json_object_set_new(s->pending, name, list) != 0)
            st = h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    }
    if (st == H5PREP_OK &&
        json_array_append_new(list, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:O}", "path", path, "index", (json_int_t)idx,
                                              "count", (json_int_t)cnt, "blocks", (json_int_t)blocks, "first",
                                              (json_int_t)first, "end", (json_int_t)end, "nodes",
                                              json_object_get(part, "nodes"))) != 0)
        st = h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    if (st == H5PREP_OK && kept >= 0 &&
        json_object_set_new(json_array_get(list, json_array_size(list) - 1), "payload", json_integer(kept)) != 0)
        st = h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    json_t *tend_nodes = json_object_get(part, "tendency_nodes");
    if (st == H5PREP_OK && in->ntend &&
        (!json_is_array(tend_nodes) || json_array_size(tend_nodes) != (size_t)in->ntend))
        st = h5p_fail(H5PREP_ERR_STATE, "%s: variable %s: part %llu/%llu has %d tendency lags but not one list of tree nodes for each",
                      path, name, (unsigned long long)idx, (unsigned long long)cnt, in->ntend);
    if (st == H5PREP_OK && in->ntend &&
        json_object_set(json_array_get(list, json_array_size(list) - 1), "tendency_nodes", tend_nodes) != 0)
        st = h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    if (st == H5PREP_OK && v) /* sketches add up exactly in any order: each part's is merged as it comes */
        st = h5p_sketch_mergeable(v, in, path);
    if (st == H5PREP_OK && v)
        h5p_sketch_merge_var(v, in);
    if (st == H5PREP_OK && !v) { /* the first part: the variable, with the part's own states until all are here */
        st = h5p_stats_merge_var(s, in, path);
        v = h5p_stats_find(s, name);
    }
    if (st == H5PREP_OK && v) { /* the edges of the run: the parts that read its first or its last rows hold them */
        double **mine[2] = {&v->edge_head, &v->edge_tail}, **theirs[2] = {&in->edge_head, &in->edge_tail};
        for (int k = 0; k < 2; k++)
            if (!*mine[k] && *theirs[k]) {
                *mine[k] = *theirs[k];
                *theirs[k] = NULL;
            }
    }
    uint64_t covered = 0;
    json_array_foreach(list, i, e)
        covered += (uint64_t)(json_integer_value(json_object_get(e, "end")) - json_integer_value(json_object_get(e, "first")));
    if (st == H5PREP_OK && covered == blocks)
        st = assemble_parts(s, list, v);
    h5p_var_free(in);
    return st;
}

/* A merge of parts writes nothing until every part of N of every variable is there. */
static h5prep_status parts_complete(const h5prep_stats *s)
{
    const char *name;
    json_t *list;
    json_object_foreach(s->pending, name, list)
    {
        json_t *e0 = json_array_get(list, 0);
        uint64_t cnt = (uint64_t)json_integer_value(json_object_get(e0, "count")), covered = 0;
        uint64_t blocks = (uint64_t)json_integer_value(json_object_get(e0, "blocks"));
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e)
            covered += (uint64_t)(json_integer_value(json_object_get(e, "end")) - json_integer_value(json_object_get(e, "first")));
        if (covered == blocks)
            continue;
        char missing[512];
        size_t len = 0, nmiss = 0;
        for (uint64_t k = 1; k <= cnt && len + 32 < sizeof missing; k++) {
            int have = 0;
            json_array_foreach(list, i, e)
                have |= (uint64_t)json_integer_value(json_object_get(e, "index")) == k;
            if (!have)
                len += (size_t)snprintf(missing + len, sizeof missing - len, "%s%llu", nmiss++ ? ", " : "", (unsigned long long)k);
        }
        h5p_fail(H5PREP_ERR_STATE, "variable %s: part%s %s of %llu %s missing (%zu of %llu merged)", name, nmiss > 1 ? "s" : "",
                 missing, (unsigned long long)cnt, nmiss > 1 ? "are" : "is", json_array_size(list), (unsigned long long)cnt);
        return h5p_hint(H5PREP_ERR_STATE, "merge every part of the run, e.g. h5prep merge parts/t-*.json -o t.json");
    }
    return H5PREP_OK;
}

static void remember_merge(h5prep_stats *s, const char *path, json_t *prov)
{
    if (!s->merged_from)
        s->merged_from = json_array();
    if (!s->merged_inputs)
        s->merged_inputs = json_array();
    json_array_append_new(s->merged_from, json_string(path));
    json_t *in = json_object_get(prov, "inputs"), *x, *y;
    size_t i, j;
    int part = json_object_get(prov, "part") != NULL;
    json_array_foreach(in, i, x) /* the parts of a run share their inputs: those once each */
    {
        int seen = 0;
        json_array_foreach(s->merged_inputs, j, y)
            seen |= part && json_equal(x, y);
        if (!seen)
            json_array_append(s->merged_inputs, x);
    }
}

/* provenance.weights must be that of the documents loaded before (their "resolved" rule or file
 * and dataset, and axis): statistics of other weights, or weighted and unweighted ones, do not
 * mix. The first document's weights are kept for the merged provenance. */
static h5prep_status check_weights(h5prep_stats *s, json_t *prov, const char *path)
{
    json_t *w = json_object_get(prov, "weights");
    RETURN_ERROR_IF(w && (!json_is_object(w) || !json_is_string(json_object_get(w, "resolved")) ||
                          !json_is_string(json_object_get(w, "spec"))),
                    H5PREP_ERR_STATE, "%s: provenance.weights is not an object with \"spec\" and \"resolved\"", path);
    if (!s->merged_weights) {
        s->merged_weights = json_pack("{s:s, s:O}", "path", path, "weights", w ? w : json_null());
        RETURN_ERROR_IF(!s->merged_weights, H5PREP_ERR_NOMEM, "out of memory");
        return H5PREP_OK;
    }
    json_t *before = json_object_get(s->merged_weights, "weights");
    int same = json_is_null(before) ? w == NULL
                                    : w && json_equal(json_object_get(w, "resolved"), json_object_get(before, "resolved")) &&
                                          json_equal(json_object_get(w, "axis"), json_object_get(before, "axis"));
    if (same)
        return H5PREP_OK;
    const char *first = json_string_value(json_object_get(s->merged_weights, "path"));
    const char *a = w ? json_string_value(json_object_get(w, "spec")) : NULL;
    const char *b = json_is_null(before) ? NULL : json_string_value(json_object_get(before, "spec"));
    h5p_fail(H5PREP_ERR_STATE, "%s: was computed %s%s, but %s %s%s; such statistics do not merge", path,
             a ? "with --weights " : "without weights", a ? a : "", first, b ? "with --weights " : "without weights",
             b ? b : "");
    return h5p_hint(H5PREP_ERR_STATE, "merge statistics computed with the same --weights (the same rule, or the same file, dataset and axis)");
}

/* CF decoding and ddof must be those of the documents loaded before: statistics of decoded
 * and raw values do not mix, and a ddof that differs says the runs were not made alike (m2
 * itself does not depend on it; the merge's own ddof gives the merged var and std). */
static h5prep_status check_decoding(h5prep_stats *s, json_t *prov, const char *path)
{
    json_t *cf = json_object_get(prov, "cf_decoding");
    RETURN_ERROR_IF(!json_is_boolean(cf), H5PREP_ERR_STATE, "%s: provenance.cf_decoding is missing", path);
    json_t *dd = json_object_get(prov, "ddof");
    RETURN_ERROR_IF(!json_is_integer(dd) || json_integer_value(dd) < 0 || json_integer_value(dd) > INT32_MAX,
                    H5PREP_ERR_STATE, "%s: provenance.ddof is missing or not a non-negative integer", path);
    int raw = !json_is_true(cf), ddof = (int)json_integer_value(dd);
    int before = s->merged_from && json_array_size(s->merged_from) > 0;
    if (before && raw != s->cfg.raw)
        return h5p_fail(H5PREP_ERR_STATE, "%s: was computed with CF decoding %s, the files before it with it %s; such statistics do not mix",
                        path, raw ? "off" : "on", raw ? "on" : "off");
    if (before && ddof != s->merged_ddof) {
        h5p_fail(H5PREP_ERR_STATE, "%s: was computed with ddof %d, the files before it with ddof %d", path, ddof,
                 s->merged_ddof);
        return h5p_hint(H5PREP_ERR_STATE, "merge files of runs made alike; the merged var and std use merge --ddof");
    }
    s->cfg.raw = raw;
    s->merged_ddof = ddof;
    return check_weights(s, prov, path);
}

/* Merges a parsed document (consumed) called `path` in messages into s. kept: for a packed
 * document, the index of its payload in s->kept (-1: a JSON document, arrays and all). */
static h5prep_status load_json_doc(h5prep_stats *s, json_t *doc, const char *path, long kept)
{
    const h5p_payload *src = kept >= 0 ? &s->kept[kept] : NULL;
    h5prep_status st = H5PREP_OK;
    json_t *fmt = json_object_get(doc, "format"), *vars = json_object_get(doc, "variables");
    json_t *prov = json_object_get(doc, "provenance");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), H5PREP_STATS_FORMAT) != 0 || !json_is_object(vars)) {
        st = h5p_fail(H5PREP_ERR_STATE, "%s: not an %s document (\"format\" and \"variables\" are missing or wrong)",
                      path, H5PREP_STATS_FORMAT);
    } else {
        st = check_decoding(s, prov, path);
    }
    const char *name;
    json_t *jv;
    json_object_foreach(vars, name, jv)
    {
        if (st != H5PREP_OK)
            break;
        h5p_var v;
        memset(&v, 0, sizeof v);
        st = load_json_var(name, jv, path, &v, src);
        json_t *part = json_object_get(jv, "part");
        if (st == H5PREP_OK && part)
            st = load_part(s, part, path, &v, kept);
        else if (st == H5PREP_OK && s->pending && json_object_get(s->pending, name))
            st = h5p_fail(H5PREP_ERR_STATE, "%s: holds variable %s whole, but the files merged before hold parts of it", path, name);
        else if (st == H5PREP_OK)
            st = h5p_stats_merge_var(s, &v, path);
        h5p_var_free(&v);
    }
    if (st == H5PREP_OK)
        remember_merge(s, path, prov);
    json_decref(doc);
    return st;
}

static h5prep_status load_json(h5prep_stats *s, const char *path)
{
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    RETURN_ERROR_IF(!doc, H5PREP_ERR_STATE, "%s:%d:%d: not valid JSON: %s", path, err.line, err.column, err.text);
    return load_json_doc(s, doc, path, -1);
}

h5prep_status h5prep_stats_load_text(h5prep_stats *s, const char *text, const char *name)
{
    h5p_clear_error();
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    RETURN_ERROR_IF(!doc, H5PREP_ERR_STATE, "%s:%d:%d: not valid JSON: %s", name, err.line, err.column, err.text);
    h5prep_status st = load_json_doc(s, doc, name, -1);
    if (st == H5PREP_OK) {
        h5p_stats_stamp(s);
        s->backend = "merge";
    }
    return st;
}

/* ---- the packed form: statistics exchanged in memory (output/state_pack.h) ---------------- */

h5prep_status h5prep_stats_pack(const h5prep_stats *s, void **buf, size_t *len)
{
    h5p_clear_error();
    *buf = NULL;
    *len = 0;
    FORWARD_IF_ERROR(parts_complete(s));
    h5p_packer pk = {0};
    json_t *doc = document(s, &pk);
    char *header = doc && !pk.failed ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(doc);
    h5prep_status st = header ? h5p_pack_finish(&pk, header, buf, len)
                              : h5p_fail(H5PREP_ERR_NOMEM, "out of memory while packing the statistics");
    free(header);
    h5p_packer_free(&pk);
    return st;
}

h5prep_status h5prep_stats_load_packed(h5prep_stats *s, const void *buf, size_t len, const char *name)
{
    h5p_clear_error();
    const char *header;
    size_t header_len;
    h5p_payload p;
    FORWARD_IF_ERROR(h5p_packed_open(buf, len, name, &header, &header_len, &p));
    json_error_t err;
    json_t *doc = json_loadb(header, header_len, 0, &err);
    RETURN_ERROR_IF(!doc, H5PREP_ERR_STATE, "%s: the header of the packed statistics is not valid JSON (%d:%d: %s)", name,
                    err.line, err.column, err.text);
    /* a copy of the words is kept in s: the nodes of a part wait there until every part is here */
    h5p_payload *grown = realloc(s->kept, (s->nkept + 1) * sizeof *grown);
    if (grown)
        s->kept = grown;
    unsigned char *copy = grown ? h5p_malloc(p.len) : NULL;
    if (!copy) {
        json_decref(doc);
        return h5p_fail(H5PREP_ERR_NOMEM, "%s: out of memory for %llu bytes of packed statistics", name,
                        (unsigned long long)p.len);
    }
    memcpy(copy, p.data, p.len);
    s->kept[s->nkept] = (h5p_payload){copy, p.len};
    h5prep_status st = load_json_doc(s, doc, name, (long)s->nkept++);
    if (st == H5PREP_OK) {
        h5p_stats_stamp(s);
        s->backend = "merge";
    }
    return st;
}

static char *get_string_attr(hid_t obj, const char *name)
{
    if (H5Aexists(obj, name) <= 0)
        return NULL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    char *out = NULL;
    if (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t));
        char *v = NULL;
        if (H5Aread(a, mt, &v) >= 0 && v) {
            out = h5p_strdup(v);
            H5free_memory(v);
        }
        H5Tclose(mt);
    }
    H5Tclose(t);
    H5Aclose(a);
    return out;
}

static int get_i64_attr(hid_t obj, const char *name, uint64_t *out, int cap)
{
    if (H5Aexists(obj, name) <= 0)
        return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t sp = H5Aget_space(a);
    hssize_t n = H5Sget_select_npoints(sp);
    int r = -1;
    int64_t buf[H5PREP_MAX_RANK];
    if (H5Sget_simple_extent_type(sp) == H5S_NULL)
        r = 0;
    else if (n >= 0 && n <= cap && H5Aread(a, H5T_NATIVE_INT64, buf) >= 0)
        r = (int)n;
    for (int i = 0; i < r; i++)
        out[i] = buf[i] < 0 ? UINT64_MAX : (uint64_t)buf[i];
    H5Sclose(sp);
    H5Aclose(a);
    return r;
}

/* Entries of dataset `name` in group g; -1 when there is none. */
static hssize_t dataset_len(hid_t g, const char *name)
{
    if (H5Lexists(g, name, H5P_DEFAULT) <= 0)
        return -1;
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0)
        return -1;
    hid_t sp = H5Dget_space(d);
    hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (sp >= 0)
        H5Sclose(sp);
    H5Dclose(d);
    return n;
}

/* Array g_keys[k] as a dataset of n entries, read into out when it is given. */
static h5prep_status h5_column(hid_t g, int k, uint64_t n, const char *fshape, void *out, const char *path,
                               const char *name)
{
    const char *key = g_keys[k];
    hssize_t len = dataset_len(g, key);
    RETURN_ERROR_IF(len < 0, H5PREP_ERR_STATE, "%s: variable %s: \"%s\" is missing", path, name, key);
    RETURN_ERROR_IF((uint64_t)len != n, H5PREP_ERR_STATE,
                    "%s: variable %s: \"%s\" has %lld entries, but feature_shape %s gives %llu features", path, name,
                    key, (long long)len, fshape, (unsigned long long)n);
    if (!out)
        return H5PREP_OK;
    hid_t d = H5Dopen2(g, key, H5P_DEFAULT);
    herr_t e = d < 0 ? -1 : H5Dread(d, key_is_integer(k) ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
    if (d >= 0)
        H5Dclose(d);
    RETURN_ERROR_IF(e < 0, H5PREP_ERR_STATE, "%s: variable %s: \"%s\" cannot be read as numbers (HDF5: %s)", path, name,
                    key, h5p_hdf5_reason());
    return H5PREP_OK;
}

typedef struct h5_load {
    h5prep_stats *s;
    const char *path;
    h5prep_status st;
} h5_load;

/* The "wsum" dataset (nf sums of weights) and weights_axis attribute of a weighted variable. */
static h5prep_status h5_wsum(hid_t g, uint64_t nf, const char *path, h5p_var *v)
{
    RETURN_ERROR_IF((uint64_t)dataset_len(g, "wsum") != nf, H5PREP_ERR_STATE,
                    "%s: variable %s: \"wsum\" does not have one entry per feature (%llu)", path, v->name,
                    (unsigned long long)nf);
    v->wsum = h5p_malloc(nf * sizeof *v->wsum);
    RETURN_ERROR_IF(!v->wsum, H5PREP_ERR_NOMEM, "%s: out of memory", path);
    hid_t d = H5Dopen2(g, "wsum", H5P_DEFAULT);
    herr_t e = d < 0 ? -1 : H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v->wsum);
    if (d >= 0)
        H5Dclose(d);
    RETURN_ERROR_IF(e < 0, H5PREP_ERR_STATE, "%s: variable %s: \"wsum\" cannot be read as numbers (HDF5: %s)", path,
                    v->name, h5p_hdf5_reason());
    uint64_t axis;
    v->weights_axis = get_i64_attr(g, "weights_axis", &axis, 1) == 1 ? (int)axis : -1;
    return H5PREP_OK;
}

static herr_t load_h5_group(hid_t root, const char *gpath, const H5O_info_t *info, void *arg)
{
    h5_load *L = arg;
    if (info->type != H5O_TYPE_GROUP)
        return 0;
    hid_t g = H5Gopen2(root, gpath, H5P_DEFAULT);
    char *name = g >= 0 ? get_string_attr(g, "name") : NULL;
    if (!name) {
        if (g >= 0)
            H5Gclose(g);
        return 0; /* an intermediate group */
    }
    h5p_var v;
    memset(&v, 0, sizeof v);
    v.name = name;
    uint64_t keep[H5PREP_MAX_RANK], fshape[H5PREP_MAX_RANK];
    v.rank = get_i64_attr(g, "shape", v.dims, H5PREP_MAX_RANK);
    int nkeep = get_i64_attr(g, "keep_axes", keep, H5PREP_MAX_RANK);
    int frank = get_i64_attr(g, "feature_shape", fshape, H5PREP_MAX_RANK);
    h5prep_status st = v.rank < 0 || nkeep < 0 || frank < 0
                           ? h5p_fail(H5PREP_ERR_STATE, "%s: variable %s: shape, keep_axes or feature_shape attribute missing", L->path, name)
                           : check_axes(&v, keep, nkeep, fshape, frank, L->path);
    if (st == H5PREP_OK && H5Lexists(g, "tendencies", H5P_DEFAULT) > 0) {
        h5p_fail(H5PREP_ERR_STATE, "%s: variable %s has tendencies, which a merge reads from the JSON document only", L->path, name);
        st = h5p_hint(H5PREP_ERR_STATE, "write the statistics with -o FILE.json and merge those");
    }
    loaded_arrays a = {0};
    uint64_t nf = h5p_var_features(&v);
    char fs[256];
    h5p_format_shape(fs, sizeof fs, frank > 0 ? frank : 0, fshape);
    for (int k = 0; k < NKEYS && st == H5PREP_OK; k++) /* every array first, before memory is taken */
        st = h5_column(g, k, nf, fs, NULL, L->path, name);
    if (st == H5PREP_OK)
        st = alloc_arrays(&a, nf, L->path);
    for (int k = 0; k < NSTATE_KEYS && st == H5PREP_OK; k++)
        st = h5_column(g, k, nf, fs, array_slot(&a, k), L->path, name);
    if (st == H5PREP_OK && dataset_len(g, "wsum") >= 0)
        st = h5_wsum(g, nf, L->path, &v);
    if (st == H5PREP_OK)
        st = fill_states(&v, &a, L->path);
    free_arrays(&a);
    char *sketch = st == H5PREP_OK ? get_string_attr(g, "sketch") : NULL;
    if (st == H5PREP_OK)
        st = h5p_sketch_get_text(sketch, L->path, &v);
    free(sketch);
    H5Gclose(g);
    if (st == H5PREP_OK)
        st = h5p_stats_merge_var(L->s, &v, L->path);
    else
        h5p_var_free(&v);
    L->st = st;
    return st == H5PREP_OK ? 0 : 1;
}

static h5prep_status load_h5(h5prep_stats *s, const char *path)
{
    h5p_hdf5_init();
    RETURN_ERROR_IF(H5Fis_hdf5(path) <= 0, H5PREP_ERR_STATE, "%s: not an HDF5 file", path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    RETURN_ERROR_IF(f < 0, H5PREP_ERR_STATE, "%s: cannot open (HDF5: %s)", path, h5p_hdf5_reason());
    char *fmt = get_string_attr(f, "format"), *ptext = get_string_attr(f, "provenance");
    json_t *prov = ptext ? json_loads(ptext, 0, NULL) : NULL;
    h5prep_status st = H5PREP_OK;
    if (!fmt || strcmp(fmt, H5PREP_STATS_FORMAT) != 0 || !prov || H5Lexists(f, "variables", H5P_DEFAULT) <= 0)
        st = h5p_fail(H5PREP_ERR_STATE, "%s: not an %s file (attributes format/provenance or group /variables missing)",
                      path, H5PREP_STATS_FORMAT);
    else
        st = check_decoding(s, prov, path);
    if (st == H5PREP_OK) {
        h5_load L = {s, path, H5PREP_OK};
        hid_t g = H5Gopen2(f, "variables", H5P_DEFAULT);
        H5Ovisit(g, H5_INDEX_NAME, H5_ITER_INC, load_h5_group, &L);
        H5Gclose(g);
        st = L.st;
    }
    if (st == H5PREP_OK)
        remember_merge(s, path, prov);
    json_decref(prov);
    free(fmt);
    free(ptext);
    H5Fclose(f);
    return st;
}

h5prep_status h5prep_stats_load(h5prep_stats *s, const char *path)
{
    h5p_clear_error();
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return h5p_fail(e == ENOENT ? H5PREP_ERR_FILE_NOT_FOUND : H5PREP_ERR_STATE, "%s: cannot open: %s", path,
                        strerror(e));
    }
    fclose(f);
    const char *twice = loaded_named(s, path);
    if (twice) {
        h5p_fail(H5PREP_ERR_USAGE, "%s: is %s, loaded already; a merge counts each statistics file once", path, twice);
        return h5p_hint(H5PREP_ERR_USAGE, "give each part once (a glob and an explicit name may overlap)");
    }
    h5prep_status st = is_h5_path(path) ? load_h5(s, path) : load_json(s, path);
    if (st == H5PREP_OK) {
        h5p_stats_stamp(s);
        s->backend = "merge";
    }
    return st;
}
