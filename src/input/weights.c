/* weights.c: area weights for `stats --weights` and recipes (input/weights.h): the spec parsed, the weight
 * file read through the one input opener, quadrature rules computed, and everything broadcast to
 * one float64 weight per element of a variable's rows before the ring starts. */
#include "input/weights.h"

#include "common/internal.h"
#include "input/variable.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const g_rules[] = {"naive", "legendre-gauss", "clenshaw-curtis"};

void h5p_weights_free(h5p_weights *w)
{
    if (!w)
        return;
    free(w->spec);
    free(w->file);
    free(w->dataset);
    free(w);
}

/* FILE:DATASET of a spec into w->file and w->dataset. */
static h5prep_status split_file(h5p_weights *w, const char *arg)
{
    const char *colon = h5p_dataset_colon(arg);
    if (!colon || colon == arg || !colon[1]) {
        h5p_fail(H5PREP_ERR_USAGE, "%s '%s': expected coslat:FILE:/LAT, FILE:DATASET or quadrature:RULE", w->opt, w->spec);
        return h5p_hint(H5PREP_ERR_USAGE, "e.g. %s coslat:data/nc4uvt.nc:/lat, or %s quadrature:legendre-gauss with %s 2", w->opt, w->opt,
                        w->axis_opt);
    }
    w->file = h5p_malloc((size_t)(colon - arg) + 1);
    w->dataset = h5p_dataset_path(colon + 1);
    RETURN_ERROR_IF(!w->file || !w->dataset, H5PREP_ERR_NOMEM, "out of memory");
    memcpy(w->file, arg, (size_t)(colon - arg));
    w->file[colon - arg] = 0;
    return H5PREP_OK;
}

h5prep_status h5p_weights_parse(const char *spec, int axis, const char *key, h5p_weights **out)
{
    *out = NULL;
    h5p_weights *w = calloc(1, sizeof *w);
    RETURN_ERROR_IF(!w, H5PREP_ERR_NOMEM, "out of memory");
    w->axis = axis;
    snprintf(w->opt, sizeof w->opt, "%s%s", key ? key : "--weights", key ? ".weights" : "");
    snprintf(w->axis_opt, sizeof w->axis_opt, "%s%s", key ? key : "--weights-axis", key ? ".weights_axis" : "");
    w->spec = h5p_strdup(spec);
    h5prep_status st = w->spec ? H5PREP_OK : h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    if (st == H5PREP_OK && strncmp(spec, "quadrature:", 11) == 0) {
        w->kind = H5P_WEIGHTS_QUADRATURE;
        const char *rule = spec + 11;
        int known = 0;
        for (size_t i = 0; i < sizeof g_rules / sizeof *g_rules; i++)
            known |= strcmp(rule, g_rules[i]) == 0;
        if (!known) {
            h5p_fail(H5PREP_ERR_USAGE, "%s %s: unknown quadrature rule '%s'", w->opt, spec, rule);
            st = h5p_hint(H5PREP_ERR_USAGE, "the rules are naive, legendre-gauss and clenshaw-curtis");
        } else if (axis < 0) {
            h5p_fail(H5PREP_ERR_USAGE, "%s %s: a quadrature rule needs the latitude axis", w->opt, spec);
            st = h5p_hint(H5PREP_ERR_USAGE, "give %s N: its length is the number of latitudes", w->axis_opt);
        } else {
            snprintf(w->rule, sizeof w->rule, "%s", rule);
        }
    } else if (st == H5PREP_OK && strncmp(spec, "coslat:", 7) == 0) {
        w->kind = H5P_WEIGHTS_COSLAT;
        st = split_file(w, spec + 7);
    } else if (st == H5PREP_OK) {
        w->kind = H5P_WEIGHTS_ARRAY;
        st = split_file(w, spec);
    }
    if (st != H5PREP_OK) {
        h5p_weights_free(w);
        return st;
    }
    *out = w;
    return H5PREP_OK;
}

void h5p_wtable_free(h5p_wtable *t)
{
    free(t->w);
    memset(t, 0, sizeof *t);
}

/* P_n(x) and its derivative by the three-term recurrence. */
static void legendre(uint64_t n, double x, double *p, double *dp)
{
    double p0 = 1.0, p1 = x;
    for (uint64_t k = 2; k <= n; k++) {
        double pk = ((double)(2 * k - 1) * x * p1 - (double)(k - 1) * p0) / (double)k;
        p0 = p1;
        p1 = pk;
    }
    *p = n == 0 ? 1.0 : p1;
    *dp = (double)n * (x * p1 - p0) / (x * x - 1.0);
}

int h5p_quadrature(const char *rule, uint64_t n, double *q)
{
    const double pi = 3.14159265358979323846;
    if (strcmp(rule, "naive") == 0) { /* sin of the colatitude on linspace(0, pi, n), scaled to sum 2 */
        double sum = 0;
        for (uint64_t i = 0; i < n; i++) {
            double s = sin(pi * (double)i / (double)(n - 1));
            q[i] = s > 0 ? s : 0.0;
            sum += q[i];
        }
        for (uint64_t i = 0; i < n; i++)
            q[i] *= 2.0 / sum;
        return 0;
    }
    if (strcmp(rule, "legendre-gauss") == 0) { /* numpy's leggauss: Newton on the roots of P_n */
        for (uint64_t i = 0; i < (n + 1) / 2; i++) {
            double x = cos(pi * ((double)i + 0.75) / ((double)n + 0.5)), p, dp;
            for (int it = 0; it < 100; it++) {
                legendre(n, x, &p, &dp);
                double dx = p / dp;
                x -= dx;
                if (fabs(dx) < 1e-16)
                    break;
            }
            legendre(n, x, &p, &dp);
            q[i] = q[n - 1 - i] = 2.0 / ((1.0 - x * x) * dp * dp); /* symmetric about the equator */
        }
        return 0;
    }
    if (strcmp(rule, "clenshaw-curtis") == 0) { /* nodes cos(k pi / N), N = n - 1 (Waldvogel's weights) */
        uint64_t N = n - 1;
        for (uint64_t k = 0; k <= N; k++) {
            double s = 0, theta = pi * (double)k / (double)N;
            for (uint64_t j = 1; 2 * j <= N; j++)
                s += (2 * j == N ? 1.0 : 2.0) / (4.0 * (double)(j * j) - 1.0) * cos(2.0 * (double)j * theta);
            q[k] = (k == 0 || k == N ? 1.0 : 2.0) / (double)N * (1.0 - s);
        }
        return 0;
    }
    return -1;
}

/* The table of v from weights `val` of data-aligned shape wd (rank v->rank; 1 where they do not
 * vary): row r's element j gets val at the broadcast index of (r, j). */
static h5prep_status build_table(const h5p_var *v, const uint64_t *wd, const double *val, h5p_wtable *t)
{
    int rank = v->rank;
    uint64_t stride[H5PREP_MAX_RANK], s = 1;
    for (int a = rank; a-- > 0;) {
        stride[a] = wd[a] > 1 ? s : 0;
        s *= wd[a];
    }
    t->rows = wd[0] > 1 ? v->dims[0] : 1;
    t->row_elems = h5p_var_row_elems(v);
    uint64_t n;
    RETURN_ERROR_IF(__builtin_mul_overflow(t->rows, t->row_elems, &n) || n > ((uint64_t)1 << 27), H5PREP_ERR_NOMEM,
                    "%s: weights that vary along axis 0 and the other axes would take %llu x %llu values",
                    v->name, (unsigned long long)t->rows, (unsigned long long)t->row_elems);
    t->w = h5p_malloc(n * sizeof *t->w);
    RETURN_ERROR_IF(!t->w, H5PREP_ERR_NOMEM, "%s: no memory for %llu weights", v->name, (unsigned long long)n);
    uint64_t idx[H5PREP_MAX_RANK] = {0}; /* the odometer over (rows, dims[1..rank)) */
    for (uint64_t i = 0; i < n; i++) {
        uint64_t off = 0;
        for (int a = 0; a < rank; a++)
            off += idx[a] * stride[a];
        t->w[i] = val[off];
        for (int a = rank; a-- > 0;) {
            if (++idx[a] < (a == 0 ? t->rows : v->dims[a]))
                break;
            idx[a] = 0;
        }
    }
    return H5PREP_OK;
}

/* Every weight must be a finite number >= 0 (0 leaves a value out of the moments, not the counts). */
static h5prep_status check_values(const h5p_weights *w, const double *val, uint64_t n, const char *what)
{
    for (uint64_t i = 0; i < n; i++)
        if (!(val[i] >= 0) || isinf(val[i])) {
            h5p_fail(H5PREP_ERR_USAGE, "%s %s: %s: weight %llu is %g; weights must be finite numbers >= 0",
                     w->opt, w->spec, what, (unsigned long long)i, val[i]);
            return h5p_hint(H5PREP_ERR_USAGE, "a NaN weight may be a fill value of the weight dataset; weights of 0 are allowed");
        }
    return H5PREP_OK;
}

/* The data axis of the 1-D weights of w along which lat (the latitude variable) lies: --weights-axis,
 * else the axis of v whose netCDF-4 dimension has lat's name. */
static h5prep_status find_axis(const h5p_weights *w, const h5p_var *v, const h5p_var *lat, const char *path, int *axis)
{
    if (w->axis >= 0) {
        *axis = w->axis;
        return H5PREP_OK;
    }
    h5p_labels ll, vl;
    h5p_var_labels(lat, &ll);
    const char *dim = ll.dims[0][0] ? ll.dims[0] : strrchr(lat->name, '/') + 1;
    h5p_var_labels(v, &vl);
    int found = -1, times = 0;
    for (int a = 0; a < v->rank; a++)
        if (strcmp(vl.dims[a], dim) == 0)
            found = a, times++;
    if (times == 1) {
        *axis = found;
        return H5PREP_OK;
    }
    h5p_fail(H5PREP_ERR_USAGE, "%s:%s: %s %s: %s axis of the dataset has the dimension '%s' of %s:%s", path,
             v->name, w->opt, w->spec, times ? "more than one" : "no", dim, w->file, w->dataset);
    return h5p_hint(H5PREP_ERR_USAGE, "name the latitude axis with %s N ('h5prep info %s' lists the dimensions)", w->axis_opt, path);
}

h5prep_status h5p_weights_resolve(h5p_weights *w, const h5p_var *v, h5p_wtable *t)
{
    memset(t, 0, sizeof *t);
    t->axis = -1;
    const char *path = v->parts[0].path;
    uint64_t wd[H5PREP_MAX_RANK];
    for (int a = 0; a < v->rank; a++)
        wd[a] = 1;
    if (w->axis >= v->rank) {
        h5p_fail(H5PREP_ERR_USAGE, "%s:%s: %s %d, but the dataset has rank %d (valid: 0..%d)", path, v->name,
                 w->axis_opt, w->axis, v->rank, v->rank - 1);
        return h5p_hint(H5PREP_ERR_USAGE, "the axis is counted from 0 in the dataset's shape ('h5prep info %s')", path);
    }
    if (w->kind == H5P_WEIGHTS_QUADRATURE) {
        uint64_t n = v->dims[w->axis];
        uint64_t least = strcmp(w->rule, "naive") == 0 ? 3 : 2; /* naive: sin is 0 at both poles */
        RETURN_ERROR_IF(n < least || n > ((uint64_t)1 << 24), H5PREP_ERR_USAGE,
                        "%s:%s: %s %s along axis %d: %llu latitudes (%llu .. 2^24 expected)", path, v->name,
                        w->opt, w->spec, w->axis, (unsigned long long)n, (unsigned long long)least);
        double *q = h5p_malloc(n * sizeof *q);
        RETURN_ERROR_IF(!q, H5PREP_ERR_NOMEM, "out of memory");
        h5p_quadrature(w->rule, n, q);
        wd[w->axis] = n;
        t->axis = w->axis;
        h5prep_status st = build_table(v, wd, q, t);
        free(q);
        return st;
    }
    h5p_var wv;
    FORWARD_IF_ERROR(h5p_var_init(&wv, w->dataset));
    h5prep_status st = h5p_var_add_files(&wv, w->file, 0);
    if (st == H5PREP_OK && wv.nparts != 1)
        st = h5p_fail(H5PREP_ERR_USAGE, "%s %s: '%s' matches %zu files; weights come from one file", w->opt, w->spec,
                      w->file, wv.nparts);
    if (st == H5PREP_OK && !realpath(wv.parts[0].path, w->realpath))
        st = h5p_fail(H5PREP_ERR_FILE_NOT_FOUND, "%s %s: %s: cannot resolve the path", w->opt, w->spec, wv.parts[0].path);
    char what[4200];
    snprintf(what, sizeof what, "%s:%s", w->file, wv.name);
    uint64_t n = st == H5PREP_OK ? h5p_prod(wv.dims, 0, wv.rank) : 0;
    double *val = NULL;
    if (st == H5PREP_OK && n > ((uint64_t)1 << 27))
        st = h5p_fail(H5PREP_ERR_NOMEM, "%s %s: %llu weights are more than h5prep reads as weights (2^27)", w->opt, w->spec,
                      (unsigned long long)n);
    if (st == H5PREP_OK && !(val = h5p_malloc(n * sizeof *val)))
        st = h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    if (st == H5PREP_OK)
        st = h5p_part_read_f64(&wv.parts[0], wv.name, n, val);
    if (st == H5PREP_OK && w->kind == H5P_WEIGHTS_COSLAT) {
        if (wv.rank != 1)
            st = h5p_fail(H5PREP_ERR_USAGE, "%s %s: the latitude %s has rank %d; coslat takes a 1-D coordinate",
                          w->opt, w->spec, what, wv.rank);
        for (uint64_t i = 0; i < n && st == H5PREP_OK; i++) {
            if (!(fabs(val[i]) <= 90.0))
                st = h5p_fail(H5PREP_ERR_USAGE, "%s %s: latitude %llu of %s is %g, not a latitude in degrees in [-90, 90]",
                              w->opt, w->spec, (unsigned long long)i, what, val[i]);
            double c = cos(val[i] * (3.14159265358979323846 / 180.0));
            val[i] = c > 0 ? c : 0.0; /* cos(+-90 deg) rounds to about +-6e-17 */
        }
        int axis = -1;
        if (st == H5PREP_OK)
            st = find_axis(w, v, &wv, path, &axis);
        if (st == H5PREP_OK && wv.dims[0] != v->dims[axis])
            st = h5p_fail(H5PREP_ERR_SHAPE, "%s:%s: %s %s: %s has %llu latitudes, but axis %d of the dataset has length %llu",
                          path, v->name, w->opt, w->spec, what, (unsigned long long)wv.dims[0], axis,
                          (unsigned long long)v->dims[axis]);
        if (st == H5PREP_OK) {
            wd[axis] = wv.dims[0];
            t->axis = axis;
        }
    } else if (st == H5PREP_OK) { /* numpy broadcasting: trailing axes aligned, each 1 or equal */
        int ok = wv.rank <= v->rank;
        for (int k = 0; ok && k < wv.rank; k++) {
            int a = v->rank - wv.rank + k;
            ok = wv.dims[k] == 1 || wv.dims[k] == v->dims[a];
            wd[a] = wv.dims[k];
        }
        if (!ok) {
            char ws[256], ds[256];
            h5p_format_shape(ws, sizeof ws, wv.rank, wv.dims);
            h5p_format_shape(ds, sizeof ds, v->rank, v->dims);
            h5p_fail(H5PREP_ERR_SHAPE, "%s:%s: %s %s: the weights of shape %s do not broadcast to the dataset's shape %s",
                     path, v->name, w->opt, w->spec, ws, ds);
            st = h5p_hint(H5PREP_ERR_SHAPE, "numpy's rules: trailing axes are aligned, and each weight axis is 1 or the dataset's length");
        }
    }
    if (st == H5PREP_OK)
        st = check_values(w, val, n, what);
    if (st == H5PREP_OK)
        st = build_table(v, wd, val, t);
    free(val);
    h5p_var_free(&wv);
    if (st != H5PREP_OK)
        h5p_wtable_free(t);
    return st;
}
