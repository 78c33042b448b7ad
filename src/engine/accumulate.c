/* accumulate.c: h5prep_stats_update, statistics of arrays handed over from memory batch by batch
 * (a stream that is not in HDF5, or tensors of a training loop): the CPU backend's kernels on each
 * batch as one slab, its states folded into the variable's result with the same merge as a run. */
#include "common/internal.h"
#include "backends/backend.h"
#include "input/variable.h"
#include "output/state.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The CPU backend kept between batches (a pool of compute threads), freed with the stats object. */
typedef struct accumulator {
    h5p_backend *be;
} accumulator;

static void accumulator_release(void *p)
{
    accumulator *a = p;
    if (a)
        h5p_backend_cpu.destroy(a->be);
    free(a);
}

/* Numpy's names of the element types ("float32"), as h5p_dtype_name gives them; values are in
 * the host's byte order. */
static int parse_dtype(const char *name, h5p_dtype *out)
{
    for (int t = H5P_I8; t <= H5P_F64; t++)
        if (strcmp(name, h5p_dtype_name((h5p_dtype)t)) == 0) {
            *out = (h5p_dtype)t;
            return 0;
        }
    return -1;
}

/* Keep-axes of the configuration resolved for `rank`, as stats.c resolves them for a file. */
static h5prep_status resolve_axes(const h5prep_stats_config *c, int rank, const char *name, int *first, int *count)
{
    int kf = c->keep_first, kc = c->keep_count;
    if (kf == H5PREP_KEEP_DEFAULT && kc > 0) {
        kf = rank >= 2 ? rank - 1 : 0;
        kc = rank >= 2 ? 1 : 0;
    }
    *first = 0;
    *count = 0;
    if (kc == 0)
        return H5PREP_OK;
    int f = kf < 0 ? kf + rank : kf;
    if (f < 0 || f + kc > rank) {
        h5p_fail(H5PREP_ERR_AXES, "%s: the array has rank %d but the keep-axes start at %d for %d axes (valid: 0..%d)",
                 name, rank, kf, kc, rank - 1);
        return h5p_hint(H5PREP_ERR_AXES, "kept axes are consecutive; keep_count 0 gives one statistic for the whole variable");
    }
    if (f == 0) {
        h5p_fail(H5PREP_ERR_AXES, "%s: the keep-axes include axis 0, the axis batches are joined along", name);
        return h5p_hint(H5PREP_ERR_AXES, "statistics per row cannot be accumulated batch by batch; keep axes from 1 on");
    }
    *first = f;
    *count = kc;
    return H5PREP_OK;
}

/* Checks the batch's shape and type; *elems: its values. */
static h5prep_status check_batch(const char *name, const void *data, const char *dtype, int rank,
                                 const uint64_t *shape, h5p_dtype *t, uint64_t *elems)
{
    RETURN_ERROR_IF(!dtype || parse_dtype(dtype, t) != 0, H5PREP_ERR_DTYPE,
                    "%s: dtype '%s' is not one of int8, uint8, int16, uint16, int32, uint32, int64, uint64, float32, float64",
                    name, dtype ? dtype : "(null)");
    RETURN_ERROR_IF(rank < 1 || rank > H5PREP_MAX_RANK || !shape, H5PREP_ERR_EMPTY,
                    "%s: an array of rank %d; batches have rank 1..%d, axis 0 the rows", name, rank, H5PREP_MAX_RANK);
    uint64_t n = 1;
    for (int a = 0; a < rank; a++) {
        if (a > 0 && shape[a] == 0) {
            char sh[256];
            h5p_format_shape(sh, sizeof sh, rank, shape);
            return h5p_fail(H5PREP_ERR_EMPTY, "%s: batch of shape %s has a dimension of length zero (axis %d)", name, sh, a);
        }
        RETURN_ERROR_IF(shape[a] != 0 && n > SIZE_MAX / h5p_dtype_size(*t) / shape[a], H5PREP_ERR_NOMEM,
                        "%s: a batch of more than %zu bytes", name, SIZE_MAX);
        n *= shape[a];
    }
    RETURN_ERROR_IF(n > 0 && !data, H5PREP_ERR_USAGE, "%s: no data for a batch of %llu values", name, (unsigned long long)n);
    *elems = n;
    return H5PREP_OK;
}

/* The variable `name` of s for this batch: found (its other axes and kept axes must agree) or
 * appended with empty states. *created: whether it was appended. */
static h5prep_status batch_var(h5prep_stats *s, const char *name, int rank, const uint64_t *shape, h5p_var **out,
                               int *created)
{
    int kf, kc;
    h5p_var *v = h5p_stats_find(s, name);
    *created = v == NULL;
    if (v) {
        RETURN_ERROR_IF(v->nparts > 0, H5PREP_ERR_USAGE,
                        "%s: already an input read from %s; arrays from memory go into a variable of their own name",
                        name, v->parts[0].path);
        RETURN_ERROR_IF(v->tend, H5PREP_ERR_USAGE, "%s: the loaded statistics have tendencies, which a batch cannot continue", name);
        RETURN_ERROR_IF(v->sketch, H5PREP_ERR_USAGE, /* its quantiles would no longer count every value */
                        "%s: has a quantile sketch, which batches from memory do not update yet", name);
        int same = v->rank == rank;
        for (int a = 1; same && a < rank; a++)
            same = v->dims[a] == shape[a];
        if (!same) {
            char got[256], want[256];
            h5p_format_shape(got, sizeof got, rank, shape);
            h5p_format_shape(want, sizeof want, v->rank, v->dims);
            h5p_fail(H5PREP_ERR_SHAPE, "%s: batch of shape %s, but the variable has shape %s; batches may differ only along axis 0",
                     name, got, want);
            return h5p_hint(H5PREP_ERR_SHAPE, "reshape the batch so that every axis but the first matches, or give it another name");
        }
        FORWARD_IF_ERROR(resolve_axes(&s->cfg, rank, name, &kf, &kc));
        RETURN_ERROR_IF(v->keep_first != kf || v->keep_count != kc, H5PREP_ERR_AXES,
                        "%s: keeps %d axes from axis %d, but this configuration keeps %d from %d", name, v->keep_count,
                        v->keep_first, kc, kf);
        *out = v;
        return H5PREP_OK;
    }
    FORWARD_IF_ERROR(resolve_axes(&s->cfg, rank, name, &kf, &kc));
    uint64_t dims[H5PREP_MAX_RANK];
    memcpy(dims, shape, (size_t)rank * sizeof *dims);
    dims[0] = 0;
    uint64_t nf = h5p_prod(dims, kf, kf + kc);
    h5p_moments *empty = h5p_malloc(nf * sizeof *empty);
    RETURN_ERROR_IF(!empty, H5PREP_ERR_NOMEM, "%s: no memory for %llu feature states", name, (unsigned long long)nf);
    for (uint64_t f = 0; f < nf; f++)
        empty[f] = h5p_moments_empty();
    h5prep_status st = h5p_stats_add_result(s, name, rank, dims, kf, kc, empty, nf);
    free(empty);
    if (st != H5PREP_OK) { /* leave s as it was */
        h5p_var *half = h5p_stats_find(s, name);
        if (half) {
            h5p_var_free(half);
            s->nvars--;
        }
        return st;
    }
    *out = h5p_stats_find(s, name);
    return H5PREP_OK;
}

h5prep_status h5prep_stats_update(h5prep_stats *s, const char *name, const void *data, const char *dtype, int rank,
                                  const uint64_t *shape)
{
    h5p_clear_error();
    RETURN_ERROR_IF(!s || !name || !*name, H5PREP_ERR_USAGE, "h5prep_stats_update: no statistics object or no variable name");
    /* a batch's tendencies would need the rows of the batch before it */
    RETURN_ERROR_IF(s->nlags, H5PREP_ERR_USAGE, "%s: tendencies are computed by runs over files (h5prep_stats_run), not batch by batch",
                    name);
    RETURN_ERROR_IF(s->weights, H5PREP_ERR_USAGE, "h5prep_stats_update %s: in-memory batches have no weights yet; weighted statistics come from h5prep_stats_run", name);
    char *path = h5p_dataset_path(name);
    RETURN_ERROR_IF(!path, H5PREP_ERR_NOMEM, "out of memory");
    h5p_dtype t;
    uint64_t elems = 0;
    h5p_var *v = NULL;
    int created = 0;
    h5prep_status st = check_batch(path, data, dtype, rank, shape, &t, &elems);
    if (st == H5PREP_OK)
        st = batch_var(s, path, rank, shape, &v, &created);
    if (st == H5PREP_OK && !s->acc) {
        accumulator *a = calloc(1, sizeof *a);
        st = a ? h5p_backend_cpu.create(&a->be, &s->cfg, 1) : h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
        if (st == H5PREP_OK) {
            s->acc = a;
            s->acc_release = accumulator_release;
        } else {
            free(a);
        }
    }
    uint64_t nf = v ? h5p_var_features(v) : 0;
    h5p_moments *batch = NULL;
    if (st == H5PREP_OK && elems > 0) {
        /* The batch as one slab [outer][features][inner]: the CPU kernels cut it into blocks and
         * lanes themselves, and read it in place (no staging). Axis 0 is never kept here. */
        h5p_backend *be = ((accumulator *)s->acc)->be;
        h5p_decode plain = {.scale = 1.0, .offset = 0.0, .vmin = -INFINITY, .vmax = INFINITY}; /* only NaN/Inf are missing */
        h5p_slab sl = {.data = data, .dtype = t, .dec = &plain};
        if (v->keep_count == 0) {
            sl.outer = shape[0];
            sl.features = 1;
            sl.inner = h5p_prod(shape, 1, rank);
        } else {
            sl.outer = h5p_prod(shape, 0, v->keep_first);
            sl.features = nf;
            sl.inner = h5p_prod(shape, v->keep_first + v->keep_count, rank);
        }
        batch = h5p_malloc(nf * sizeof *batch);
        st = batch ? h5p_backend_cpu.stats_begin(be, nf, (size_t)elems * h5p_dtype_size(t))
                   : h5p_fail(H5PREP_ERR_NOMEM, "%s: no memory for %llu feature states", path, (unsigned long long)nf);
        if (st == H5PREP_OK)
            st = h5p_backend_cpu.stats_slab(be, 0, &sl);
        if (st == H5PREP_OK)
            st = h5p_backend_cpu.stats_end(be, batch);
        if (st == H5PREP_OK) {
            for (uint64_t f = 0; f < nf; f++)
                h5p_moments_merge(&v->result[f], &batch[f]);
            v->dims[0] += shape[0];
        }
    }
    if (st == H5PREP_OK) {
        h5p_stats_stamp(s);
        h5p_stats_set_backend(s, h5p_backend_cpu.name);
    } else if (created && v && v->dims[0] == 0) { /* a variable this call appended goes again */
        h5p_var_free(v);
        s->nvars--;
    }
    free(batch);
    free(path);
    return st;
}
