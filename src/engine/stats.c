/* stats.c: the public statistics API: inputs (FILE:DATASET with globs), the run over every
 * variable through the chosen backend, merging of loaded states, and read access to results. */
#include "common/internal.h"
#include "engine/ring.h"
#include "output/state.h"

#include <glob.h>
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

void h5p_var_free(h5p_var *v)
{
    for (size_t i = 0; i < v->nparts; i++)
        free(v->parts[i].path);
    free(v->parts);
    free(v->result);
    free(v->name);
    memset(v, 0, sizeof *v);
}

void h5prep_stats_destroy(h5prep_stats *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nvars; i++)
        h5p_var_free(&s->vars[i]);
    free(s->vars);
    json_decref(s->merged_inputs);
    json_decref(s->merged_from);
    free(s);
}

void h5p_format_shape(char *dst, size_t cap, int rank, const uint64_t *dims)
{
    size_t len = 0;
    dst[0] = 0;
    for (int a = 0; a < rank && len < cap; a++)
        len += (size_t)snprintf(dst + len, cap - len, "%s%llu", a ? ", " : "(", (unsigned long long)dims[a]);
    if (len < cap)
        snprintf(dst + len, cap - len, "%s)", rank == 1 ? "," : rank == 0 ? "(" : "");
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
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(s->created, sizeof s->created, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Resolves the configured keep-axes against the rank of v. */
static h5prep_status resolve_axes(const h5prep_stats_config *c, h5p_var *v, const char *path)
{
    int kf = c->keep_first, kc = c->keep_count;
    if (kf == H5PREP_KEEP_DEFAULT && kc > 0) {
        kf = v->rank >= 2 ? v->rank - 1 : 0;
        kc = v->rank >= 2 ? 1 : 0;
    }
    if (kc == 0) {
        v->keep_first = 0;
        v->keep_count = 0;
        return H5PREP_OK;
    }
    int first = kf < 0 ? kf + v->rank : kf;
    if (first < 0 || first + kc > v->rank) {
        char req[128];
        size_t len = 0;
        for (int a = 0; a < kc && len < sizeof req; a++)
            len += (size_t)snprintf(req + len, sizeof req - len, "%s%d", a ? "," : "", kf + a);
        h5p_fail(H5PREP_ERR_AXES, "%s:%s: dataset has rank %d but --keep-axes %s was given (valid: 0..%d)",
                 path, v->name, v->rank, req, v->rank - 1);
        return h5p_hint(H5PREP_ERR_AXES, "kept axes are consecutive; 'none' gives one statistic for the whole dataset");
    }
    v->keep_first = first;
    v->keep_count = kc;
    return H5PREP_OK;
}

static h5prep_status add_part(h5prep_stats *s, h5p_var *v, const char *path)
{
    for (size_t i = 0; i < v->nparts; i++)
        RETURN_ERROR_IF(strcmp(v->parts[i].path, path) == 0, H5PREP_ERR_USAGE,
                        "%s:%s: given twice; each file of a dataset is read once", path, v->name);
    h5p_part part;
    memset(&part, 0, sizeof part);
    int rank = 0;
    uint64_t dims[H5PREP_MAX_RANK];
    FORWARD_IF_ERROR(h5p_part_probe(path, v->name, s->cfg.raw, &part, &rank, dims));
    if (v->nparts == 0) {
        v->rank = rank;
        memcpy(v->dims, dims, sizeof dims);
        v->dims[0] = 0;
        FORWARD_IF_ERROR(resolve_axes(&s->cfg, v, path));
    } else {
        int same = rank == v->rank;
        for (int a = 1; same && a < rank; a++)
            same = dims[a] == v->dims[a];
        if (!same) {
            char got[256], want[256];
            uint64_t first[H5PREP_MAX_RANK];
            memcpy(first, v->dims, sizeof first);
            first[0] = v->parts[0].rows;
            h5p_format_shape(got, sizeof got, rank, dims);
            h5p_format_shape(want, sizeof want, v->rank, first);
            h5p_fail(H5PREP_ERR_SHAPE, "%s:%s: shape %s does not match %s in %s; files are joined along axis 0, so the other axes must agree",
                     path, v->name, got, want, v->parts[0].path);
            return h5p_hint(H5PREP_ERR_SHAPE, "give differently shaped files as separate runs");
        }
    }
    h5p_part *np = realloc(v->parts, (v->nparts + 1) * sizeof *np);
    part.path = np ? h5p_strdup(path) : NULL;
    if (!np || !part.path) {
        if (np)
            v->parts = np;
        return h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    }
    part.row0 = v->dims[0];
    v->dims[0] += part.rows;
    v->parts = np;
    v->parts[v->nparts++] = part;
    return H5PREP_OK;
}

/* The dataset path with one leading '/' and no empty components: "a//b/" becomes "/a/b". dst
 * holds strlen(src) + 2 bytes. */
static void normalize_path(char *dst, const char *src)
{
    size_t len = 1;
    dst[0] = '/';
    for (; *src; src++)
        if (*src != '/' || dst[len - 1] != '/')
            dst[len++] = *src;
    if (len > 1 && dst[len - 1] == '/')
        len--;
    dst[len] = 0;
}

static int has_glob(const char *s) { return strpbrk(s, "*?[") != NULL; }

h5prep_status h5prep_stats_add(h5prep_stats *s, const char *arg)
{
    h5p_clear_error();
    const char *colon = strrchr(arg, ':');
    if (!colon || colon == arg || colon[1] == 0) {
        h5p_fail(H5PREP_ERR_USAGE, "'%s': expected FILE:DATASET, e.g. data/nc4uvt.nc:/T", arg);
        return h5p_hint(H5PREP_ERR_USAGE, "list the datasets of a file with 'h5prep info FILE'");
    }
    size_t flen = (size_t)(colon - arg);
    char *file = malloc(flen + 1), *name = malloc(strlen(colon) + 2);
    RETURN_ERROR_IF(!file || !name, H5PREP_ERR_NOMEM, "out of memory");
    memcpy(file, arg, flen);
    file[flen] = 0;
    normalize_path(name, colon + 1);

    glob_t g;
    memset(&g, 0, sizeof g);
    h5prep_status st = H5PREP_OK;
    int rc = glob(file, 0, NULL, &g);
    if (rc == GLOB_NOMATCH || g.gl_pathc == 0) {
        if (has_glob(file))
            st = h5p_fail(H5PREP_ERR_FILE_NOT_FOUND, "%s: the pattern matched no files", file);
        else
            st = h5p_fail(H5PREP_ERR_FILE_NOT_FOUND, "%s: no such file", file);
    } else if (rc != 0) {
        st = h5p_fail(H5PREP_ERR_FILE_NOT_FOUND, "%s: cannot expand the pattern", file);
    }
    if (st == H5PREP_OK) {
        h5p_var *v = h5p_stats_find(s, name);
        int created = v == NULL;
        if (created && !(v = h5p_stats_append(s, name)))
            st = h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
        for (size_t i = 0; st == H5PREP_OK && i < g.gl_pathc; i++)
            st = add_part(s, v, g.gl_pathv[i]);
        if (st != H5PREP_OK && created) { /* leave s as it was */
            h5p_var_free(v);
            s->nvars--;
        }
    }
    globfree(&g);
    free(file);
    free(name);
    return st;
}

/* CUDA for --backend cuda; for auto, CUDA when a device answers, else the CPU with a notice. */
static h5prep_status open_backend(h5prep_stats *s, const h5p_backend_ops **ops, h5p_backend **be)
{
    s->notice[0] = 0;
    if (s->cfg.backend != H5PREP_BACKEND_CPU) {
#ifdef H5PREP_HAVE_CUDA
        h5prep_status st = h5p_backend_cuda.create(be, &s->cfg);
        if (st == H5PREP_OK) {
            *ops = &h5p_backend_cuda;
            return H5PREP_OK;
        }
        if (s->cfg.backend == H5PREP_BACKEND_CUDA)
            return st;
        const char *why = h5prep_last_error();
        snprintf(s->notice, sizeof s->notice, "%.*s; running on the CPU", (int)strcspn(why, "\n"), why);
        h5p_clear_error();
#else
        if (s->cfg.backend == H5PREP_BACKEND_CUDA) {
            h5p_fail(H5PREP_ERR_BACKEND, "--backend cuda: this build of h5prep has no CUDA backend (nvcc was not found when it was built)");
            return h5p_hint(H5PREP_ERR_BACKEND, "use --backend cpu (or auto), which gives the same statistics");
        }
#endif
    }
    *ops = &h5p_backend_cpu;
    return h5p_backend_cpu.create(be, &s->cfg);
}

h5prep_status h5prep_stats_run(h5prep_stats *s)
{
    h5p_clear_error();
    RETURN_ERROR_IF(s->nvars == 0, H5PREP_ERR_USAGE, "no inputs: give at least one FILE:DATASET");
    const h5p_backend_ops *ops = NULL;
    h5p_backend *be = NULL;
    FORWARD_IF_ERROR(open_backend(s, &ops, &be));
    int nt = h5p_thread_count(&s->cfg);
    h5p_pool *decode = h5p_pool_create(nt);
    if (!decode) {
        ops->destroy(be);
        return h5p_fail(H5PREP_ERR_NOMEM, "cannot start %d decoding threads", nt);
    }
    s->backend = ops->name;
    h5p_stats_stamp(s);

    h5prep_progress totals;
    memset(&totals, 0, sizeof totals);
    for (size_t i = 0; i < s->nvars; i++) {
        const h5p_var *v = &s->vars[i];
        totals.rows_total += v->nparts ? v->dims[0] : 0;
        for (size_t p = 0; p < v->nparts; p++)
            totals.bytes_total += v->parts[p].rows * h5p_part_row_bytes(v, &v->parts[p]);
    }
    h5p_pipeline_opts o = {.mem_bytes = s->cfg.mem_bytes,
                           .slots = s->cfg.slots,
                           .decode = decode,
                           .progress = s->cfg.progress,
                           .progress_user = s->cfg.progress_user,
                           .totals = &totals,
                           .t0 = h5p_now()};
    h5prep_status st = H5PREP_OK;
    for (size_t i = 0; i < s->nvars && st == H5PREP_OK; i++)
        if (s->vars[i].nparts > 0)
            st = h5p_pipeline_stats(&s->vars[i], ops, be, &o);
    h5p_pool_destroy(decode);
    ops->destroy(be);
    return st;
}

const char *h5prep_stats_backend_name(const h5prep_stats *s) { return s->backend; }
const char *h5prep_stats_backend_notice(const h5prep_stats *s) { return s->notice[0] ? s->notice : NULL; }

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
    for (int a = 1; same && a < v->rank; a++)
        same = v->dims[a] == in->dims[a];
    if (!same) {
        char a[256], b[256];
        h5p_format_shape(a, sizeof a, in->rank, in->dims);
        h5p_format_shape(b, sizeof b, v->rank, v->dims);
        st = h5p_fail(H5PREP_ERR_STATE, "%s: variable %s has shape %s keeping %d axes from axis %d, but the runs merged before have %s keeping %d from %d",
                      path, in->name, a, in->keep_count, in->keep_first, b, v->keep_count, v->keep_first);
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
        for (uint64_t f = 0; f < nf && st == H5PREP_OK; f++)
            h5p_moments_merge(&v->result[f], &in->result[f]);
        if (st == H5PREP_OK)
            v->dims[0] = rows;
    }
    h5p_var_free(in);
    return st;
}

size_t h5prep_stats_nvars(const h5prep_stats *s) { return s->nvars; }

h5prep_status h5prep_stats_var(const h5prep_stats *s, size_t i, h5prep_var_view *out)
{
    RETURN_ERROR_IF(i >= s->nvars, H5PREP_ERR_USAGE, "variable index %zu out of range (%zu variables)", i, s->nvars);
    const h5p_var *v = &s->vars[i];
    RETURN_ERROR_IF(!v->result, H5PREP_ERR_USAGE, "%s: no statistics yet; call h5prep_stats_run first", v->name);
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
    return var > 0 ? 0u : (unsigned)H5PREP_FLAG_CONSTANT;
}
