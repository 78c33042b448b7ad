/* state.c: h5prep_stats as a set of variables and their per-feature states (output/state.h):
 * creation, lookup, merging of loaded states, results set by a run, and read access. The engine
 * fills it; output/state_io.c reads and writes it as statistics files. */
#include "output/state.h"

#include "backends/backend.h"

#include "common/internal.h"
#include "output/sketch_io.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

h5prep_stats_config h5prep_stats_config_default(void)
{
    h5prep_stats_config c;
    memset(&c, 0, sizeof c);
    c.keep_first = H5PREP_KEEP_DEFAULT;
    c.keep_count = 1;
    c.ddof = 0;
    c.raw = 0;
    c.mem_bytes = (size_t)512 << 20;
    c.slots = 2;
    c.threads = 0;
    c.backend = H5PREP_BACKEND_AUTO;
    c.device = 0;
    c.sketch_alpha = 0.01;
    c.sketch_buckets = 2048;
    return c;
}

h5prep_stats *h5prep_stats_create(const h5prep_stats_config *cfg)
{
    h5prep_stats *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cfg = cfg ? *cfg : h5prep_stats_config_default();
    return s;
}

void h5p_part_nodes_free(h5p_part_nodes *pn)
{
    h5p_tree_free(&pn->tree);
    for (int k = 0; k < H5PREP_MAX_TENDENCIES; k++)
        h5p_tree_free(&pn->tend[k]);
}

void h5prep_stats_destroy(h5prep_stats *s)
{
    if (!s)
        return;
    h5p_files_release(); /* those its inputs' probes opened, when it never ran */
    for (size_t i = 0; i < s->nvars; i++)
        h5p_var_free(&s->vars[i]);
    free(s->vars);
    for (size_t i = 0; s->pnodes && i < s->nvars; i++)
        h5p_part_nodes_free(&s->pnodes[i]);
    free(s->pnodes);
    json_decref(s->merged_inputs);
    json_decref(s->merged_from);
    json_decref(s->factors);
    json_decref(s->pending);
    for (size_t i = 0; i < s->nkept; i++)
        free(s->kept[i].data);
    free(s->kept);
    json_decref(s->merged_weights);
    h5p_weights_free(s->weights);
    if (s->acc_release)
        s->acc_release(s->acc);
    free(s);
}

h5prep_status h5prep_stats_set_part(h5prep_stats *s, int index, int count)
{
    h5p_clear_error();
    RETURN_ERROR_IF(count < 1 || index < 1 || index > count, H5PREP_ERR_USAGE,
                    "--part %d/%d: expected i/N with 1 <= i <= N (e.g. --part 3/16)", index, count);
    s->part_index = index;
    s->part_count = count;
    return H5PREP_OK;
}

void h5prep_stats_set_ranks(h5prep_stats *s, int ranks) { s->ranks = ranks; }

h5prep_status h5prep_stats_set_weights(h5prep_stats *s, const char *spec, int axis)
{
    h5p_clear_error();
    h5p_weights *w = NULL;
    if (spec)
        FORWARD_IF_ERROR(h5p_weights_parse(spec, axis, NULL, &w));
    else
        RETURN_ERROR_IF(axis >= 0, H5PREP_ERR_USAGE, "--weights-axis %d without --weights", axis);
    h5p_weights_free(s->weights);
    s->weights = w;
    return H5PREP_OK;
}

h5p_var *h5p_stats_find(h5prep_stats *s, const char *name)
{
    for (size_t i = 0; i < s->nvars; i++)
        if (strcmp(s->vars[i].name, name) == 0)
            return &s->vars[i];
    return NULL;
}

h5p_var *h5p_stats_append(h5prep_stats *s, const char *name)
{
    if (s->nvars == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 4;
        h5p_var *nv = realloc(s->vars, cap * sizeof *nv);
        if (!nv)
            return NULL;
        s->vars = nv;
        s->cap = cap;
    }
    h5p_var *v = &s->vars[s->nvars];
    memset(v, 0, sizeof *v);
    v->name = h5p_strdup(name);
    if (!v->name)
        return NULL;
    s->nvars++;
    return v;
}

void h5p_stats_stamp(h5prep_stats *s)
{
    h5p_format_utc(s->created, (int64_t)time(NULL));
}

const char *h5prep_stats_backend_name(const h5prep_stats *s) { return s->backend; }
const char *h5prep_stats_backend_notice(const h5prep_stats *s) { return s->notice[0] ? s->notice : NULL; }
const char *h5prep_stats_backend_isa(const h5prep_stats *s) { return s->isa; }

/* The tendencies of `in`, whose rows follow v's, merged into v's: v ⊕ in ⊕ the pairs that straddle
 * them, (tail of v, head of in), reduced by the CPU backend's kernels as one slab per lag. The
 * edges become v's head and in's tail. */
static h5prep_status merge_tendencies(h5p_var *v, h5p_var *in, const char *path)
{
    uint64_t nf = h5p_var_features(v), E = h5p_prod(v->dims, 1, v->rank), K = v->edge_rows;
    double *d = h5p_malloc((size_t)(K * E) * sizeof *d);
    h5p_moments *m = h5p_malloc((size_t)(nf * (uint64_t)v->ntend) * sizeof *m); /* every lag's, before v changes */
    h5p_backend *be = NULL;
    h5prep_status st = d && m ? H5PREP_OK : h5p_fail(H5PREP_ERR_NOMEM, "%s: out of memory", path);
    h5prep_stats_config one = h5prep_stats_config_default();
    one.threads = 1;
    if (st == H5PREP_OK)
        st = h5p_backend_cpu.create(&be, &one, 1);
    static const h5p_decode plain = {.scale = 1.0, .vmin = -INFINITY, .vmax = INFINITY};
    for (int k = 0; k < v->ntend && st == H5PREP_OK; k++) {
        uint64_t L = (uint64_t)v->tend_lag[k];
        /* pair j: row j of in's head less row K - L + j of v's tail, j < L */
        for (uint64_t e = 0; e < L * E; e++)
            d[e] = in->edge_head[e] - v->edge_tail[(K - L) * E + e];
        h5p_slab sl = {.data = d, .dtype = H5P_F64, .dec = &plain};
        if (v->keep_count == 0) {
            sl.outer = L, sl.features = 1, sl.inner = E;
        } else {
            sl.outer = L * h5p_prod(v->dims, 1, v->keep_first);
            sl.features = nf;
            sl.inner = h5p_prod(v->dims, v->keep_first + v->keep_count, v->rank);
        }
        st = h5p_backend_cpu.stats_begin(be, nf, (size_t)(L * E) * sizeof *d);
        if (st == H5PREP_OK)
            st = h5p_backend_cpu.stats_slab(be, 0, &sl);
        if (st == H5PREP_OK)
            st = h5p_backend_cpu.stats_end(be, m + k * nf);
    }
    for (uint64_t f = 0; st == H5PREP_OK && f < nf * (uint64_t)v->ntend; f++) {
        h5p_moments_merge(&v->tend[f], &in->tend[f]);
        h5p_moments_merge(&v->tend[f], &m[f]);
    }
    if (st == H5PREP_OK) {
        double *t = v->edge_tail;
        v->edge_tail = in->edge_tail;
        in->edge_tail = t;
    }
    h5p_backend_cpu.destroy(be);
    free(d);
    free(m);
    return st;
}

h5prep_status h5p_stats_merge_var(h5prep_stats *s, h5p_var *in, const char *path)
{
    h5p_var *v = h5p_stats_find(s, in->name);
    if (!v) {
        h5p_var *nv = h5p_stats_append(s, in->name);
        if (!nv) {
            h5p_var_free(in);
            return h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
        }
        free(nv->name);
        *nv = *in;
        memset(in, 0, sizeof *in);
        return H5PREP_OK;
    }
    h5prep_status st = H5PREP_OK;
    int same = v->rank == in->rank && v->keep_first == in->keep_first && v->keep_count == in->keep_count;
    if (same && !v->wsum != !in->wsum) { /* the documents' weights are compared first (state_io.c) */
        h5p_var_free(in);
        return h5p_fail(H5PREP_ERR_STATE, "%s: variable %s is %sweighted, the runs merged before are %sweighted", path,
                        v->name, v->wsum ? "not " : "", v->wsum ? "" : "not ");
    }
    for (int a = 1; same && a < v->rank; a++)
        same = v->dims[a] == in->dims[a];
    if (!same) {
        char a[256], b[256];
        h5p_format_shape(a, sizeof a, in->rank, in->dims);
        h5p_format_shape(b, sizeof b, v->rank, v->dims);
        st = h5p_fail(H5PREP_ERR_STATE, "%s: variable %s has shape %s keeping %d axes from axis %d, but the runs merged before have %s keeping %d from %d",
                      path, in->name, a, in->keep_count, in->keep_first, b, v->keep_count, v->keep_first);
    } else if (v->ntend != in->ntend || memcmp(v->tend_lag, in->tend_lag, (size_t)v->ntend * sizeof *v->tend_lag) != 0) {
        st = h5p_fail(H5PREP_ERR_STATE, "%s: variable %s has tendencies of %d lags, the runs merged before of %d (or other lags)",
                      path, in->name, in->ntend, v->ntend);
        h5p_hint(H5PREP_ERR_STATE, "merge statistics computed with the same --tendency options");
    } else if (v->ntend > 0 && (!v->edge_tail || !in->edge_head)) { /* the pairs across two runs need their edge rows */
        st = h5p_fail(H5PREP_ERR_STATE, "%s: variable %s has tendencies but %s no edge rows, so the pairs that straddle the two runs cannot be formed",
                      path, in->name, in->edge_head ? "the runs merged before keep" : "this file keeps");
        h5p_hint(H5PREP_ERR_STATE, "compute tendencies in one run over all the files (a glob joins them along axis 0)");
    } else if (v->keep_count > 0 && v->keep_first == 0) {
        st = h5p_fail(H5PREP_ERR_STATE, "%s: variable %s keeps axis 0 as a feature axis; such statistics belong to their rows and cannot be merged",
                      path, in->name);
    } else { /* counts and rows are checked before anything is merged: a refused file changes nothing */
        uint64_t nf = h5p_var_features(v), rows;
        int64_t sum;
        if (__builtin_add_overflow(v->dims[0], in->dims[0], &rows) || rows > INT64_MAX)
            st = h5p_fail(H5PREP_ERR_STATE, "%s: variable %s: the merged rows overflow (%llu + %llu is more than 2^63 - 1)",
                          path, in->name, (unsigned long long)v->dims[0], (unsigned long long)in->dims[0]);
        for (uint64_t f = 0; f < nf && st == H5PREP_OK; f++) {
            const h5p_moments *a = &v->result[f], *b = &in->result[f];
            if (__builtin_add_overflow(a->n, b->n, &sum))
                st = h5p_fail(H5PREP_ERR_STATE, "%s: variable %s: feature %llu: the merged count overflows (%lld + %lld is more than 2^63 - 1)",
                              path, in->name, (unsigned long long)f, (long long)a->n, (long long)b->n);
            else if (__builtin_add_overflow(a->missing, b->missing, &sum))
                st = h5p_fail(H5PREP_ERR_STATE, "%s: variable %s: feature %llu: the merged missing count overflows (%lld + %lld is more than 2^63 - 1)",
                              path, in->name, (unsigned long long)f, (long long)a->missing, (long long)b->missing);
        }
        if (st == H5PREP_OK && v->ntend > 0)
            st = merge_tendencies(v, in, path);
        if (st == H5PREP_OK)
            st = h5p_sketch_mergeable(v, in, path);
        for (uint64_t f = 0; f < nf && st == H5PREP_OK; f++) {
            if (v->wsum)
                h5p_wmoments_merge(&v->result[f], &v->wsum[f], &in->result[f], in->wsum[f]);
            else
                h5p_moments_merge(&v->result[f], &in->result[f]);
        }
        if (st == H5PREP_OK) {
            h5p_sketch_merge_var(v, in);
            v->dims[0] = rows;
        }
    }
    h5p_var_free(in);
    return st;
}

size_t h5prep_stats_nvars(const h5prep_stats *s) { return s->nvars; }

h5prep_status h5prep_stats_var(const h5prep_stats *s, size_t i, h5prep_var_view *out)
{
    RETURN_ERROR_IF(i >= s->nvars, H5PREP_ERR_USAGE, "variable index %zu out of range (%zu variables)", i, s->nvars);
    const h5p_var *v = &s->vars[i];
    RETURN_ERROR_IF(!v->result, H5PREP_ERR_USAGE, "%s: no statistics yet; run or load them first", v->name);
    memset(out, 0, sizeof *out);
    out->name = v->name;
    out->rank = v->rank;
    memcpy(out->shape, v->dims, sizeof out->shape);
    out->keep_first = v->keep_first;
    out->keep_count = v->keep_count;
    out->feature_rank = v->keep_count;
    for (int a = 0; a < v->keep_count; a++)
        out->feature_shape[a] = v->dims[v->keep_first + a];
    out->n_features = h5p_var_features(v);
    out->moments = v->result;
    out->read_path = v->how[0] ? v->how : NULL;
    out->ntendencies = v->tend ? v->ntend : 0;
    out->tendency_lags = v->tend_lag;
    out->tendencies = v->tend;
    return H5PREP_OK;
}

double h5prep_moments_variance(const h5prep_moments *m, int ddof)
{
    return m->n > ddof ? m->m2 / (double)(m->n - ddof) : NAN;
}

unsigned h5prep_moments_flags(const h5prep_moments *m, int ddof)
{
    if (m->n == 0)
        return H5PREP_FLAG_EMPTY | H5PREP_FLAG_CONSTANT;
    double var = h5prep_moments_variance(m, ddof);
    return var > 0 && isfinite(var) ? 0u : (unsigned)H5PREP_FLAG_CONSTANT; /* no divisor: 0, undefined or beyond float64 */
}

double h5prep_weighted_variance(const h5prep_moments *m, double wsum, int ddof)
{
    return wsum > (double)ddof ? m->m2 / (wsum - (double)ddof) : NAN;
}

unsigned h5prep_weighted_flags(const h5prep_moments *m, double wsum, int ddof)
{
    if (m->n == 0)
        return H5PREP_FLAG_EMPTY | H5PREP_FLAG_CONSTANT;
    double var = h5prep_weighted_variance(m, wsum, ddof);
    return var > 0 && isfinite(var) ? 0u : (unsigned)H5PREP_FLAG_CONSTANT;
}

const double *h5prep_stats_var_wsum(const h5prep_stats *s, size_t i)
{
    return i < s->nvars ? s->vars[i].wsum : NULL;
}

h5prep_status h5p_stats_add_result(h5prep_stats *s, const char *name, int rank, const uint64_t *dims, int keep_first,
                                   int keep_count, const h5p_moments *m, uint64_t nf)
{
    h5p_var *v = h5p_stats_append(s, name);
    RETURN_ERROR_IF(!v, H5PREP_ERR_NOMEM, "out of memory");
    v->rank = rank;
    memcpy(v->dims, dims, (size_t)rank * sizeof *dims);
    v->keep_first = keep_first;
    v->keep_count = keep_count;
    v->result = h5p_malloc(nf * sizeof *v->result);
    RETURN_ERROR_IF(!v->result, H5PREP_ERR_NOMEM, "out of memory");
    memcpy(v->result, m, nf * sizeof *m);
    return H5PREP_OK;
}

void h5p_stats_set_backend(h5prep_stats *s, const char *name) { s->backend = name; }

void h5p_stats_set_factors(h5prep_stats *s, struct json_t *factors)
{
    json_decref(s->factors);
    s->factors = json_incref(factors);
}
