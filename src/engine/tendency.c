/* tendency.c: tendencies x[t+lag] - x[t] along axis 0 (engine/tendency.h): the lags of a run,
 * the host-side differences of decoded rows and their reduction by the backend's statistics
 * operations, block by block into each lag's fixed tree. */
#include "engine/tendency.h"

#include "common/internal.h"
#include "backends/cpu/kernels_cpu.h"
#include "output/state.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

h5prep_status h5prep_stats_add_tendency(h5prep_stats *s, int lag)
{
    h5p_clear_error();
    RETURN_ERROR_IF(lag < 1, H5PREP_ERR_USAGE, "--tendency %d: the lag must be 1 or more rows along axis 0", lag);
    for (int i = 0; i < s->nlags; i++)
        RETURN_ERROR_IF(s->lags[i] == lag, H5PREP_ERR_USAGE, "--tendency %d: given twice; each lag is computed once", lag);
    RETURN_ERROR_IF(s->nlags == H5PREP_MAX_TENDENCIES, H5PREP_ERR_USAGE, "--tendency %d: at most %d lags", lag,
                    H5PREP_MAX_TENDENCIES);
    int i = s->nlags++;
    for (; i > 0 && s->lags[i - 1] > lag; i--) /* ascending: the document's order whatever the order given */
        s->lags[i] = s->lags[i - 1];
    s->lags[i] = lag;
    return H5PREP_OK;
}

h5prep_status h5p_tendency_check(const h5p_var *v, const int *lags, int nlags)
{
    if (nlags == 0)
        return H5PREP_OK;
    if (v->keep_count > 0 && v->keep_first == 0) {
        h5p_fail(H5PREP_ERR_AXES, "%s:%s: --tendency differences rows along axis 0, but axis 0 is kept as a feature axis",
                 v->parts[0].path, v->name);
        return h5p_hint(H5PREP_ERR_AXES, "keep axes from 1 on, or leave out --tendency");
    }
    int maxlag = lags[nlags - 1];
    if ((uint64_t)maxlag >= v->dims[0]) {
        h5p_fail(H5PREP_ERR_SHAPE, "%s:%s: --tendency %d needs more than %d rows along axis 0, but the dataset has %llu",
                 v->parts[0].path, v->name, maxlag, maxlag, (unsigned long long)v->dims[0]);
        return h5p_hint(H5PREP_ERR_SHAPE, "give a lag below %llu, or more files of the dataset",
                        (unsigned long long)v->dims[0]);
    }
    return H5PREP_OK;
}

static uint64_t row_elems(const h5p_var *v) { return h5p_prod(v->dims, 1, v->rank); }

size_t h5p_tendency_row_bytes(const h5p_var *v, int nlags)
{
    return nlags ? (size_t)(row_elems(v) * sizeof(double) * (uint64_t)(nlags + 1)) : 0;
}

size_t h5p_tendency_keep_bytes(const h5p_var *v, const int *lags, int nlags)
{
    return nlags ? (size_t)(row_elems(v) * sizeof(double) * (uint64_t)lags[nlags - 1]) : 0;
}

h5prep_status h5p_tendency_begin(h5p_tendency *t, const h5p_var *v, const int *lags, int nlags,
                                 const h5p_backend_ops *ops, const h5prep_stats_config *cfg, int nslots,
                                 uint64_t max_rows)
{
    memset(t, 0, sizeof *t);
    t->nlags = nlags;
    memcpy(t->lags, lags, (size_t)nlags * sizeof *lags);
    t->maxlag = nlags ? lags[nlags - 1] : 0;
    t->row_elems = row_elems(v);
    t->nf = h5p_var_features(v);
    t->ops = ops;
    t->nslots = nslots;
    if (nlags == 0)
        return H5PREP_OK;
    size_t slab_bytes = (size_t)(max_rows * t->row_elems * sizeof(double));
    t->x = h5p_malloc((size_t)(((uint64_t)t->maxlag + max_rows) * t->row_elems) * sizeof *t->x);
    RETURN_ERROR_IF(!t->x, H5PREP_ERR_NOMEM, "%s: no memory for the decoded rows of --tendency %d", v->name, t->maxlag);
    if (2 * (uint64_t)t->maxlag * t->row_elems <= H5P_EDGE_MAX_VALUES)
        RETURN_ERROR_IF(!(t->head = h5p_malloc((size_t)((uint64_t)t->maxlag * t->row_elems) * sizeof *t->head)),
                        H5PREP_ERR_NOMEM, "%s: no memory for the first rows of --tendency %d", v->name, t->maxlag);
    for (int k = 0; k < nlags; k++) {
        h5p_tree_init(&t->tree[k], t->nf);
        FORWARD_IF_ERROR(ops->create(&t->be[k], cfg, nslots));
        for (int j = 0; j < nslots; j++)
            RETURN_ERROR_IF(!(t->diff[k][j] = ops->alloc_host(t->be[k], slab_bytes)), H5PREP_ERR_NOMEM,
                            "%s: cannot allocate a %zu-byte buffer of --tendency %d", v->name, slab_bytes, lags[k]);
        FORWARD_IF_ERROR(ops->stats_begin(t->be[k], t->nf, slab_bytes));
    }
    return H5PREP_OK;
}

/* Differences come as float64 with NaN for a missing side: nothing left to decode. */
static const h5p_decode plain_f64 = {.scale = 1.0, .vmin = -INFINITY, .vmax = INFINITY};

h5prep_status h5p_tendency_job_run(h5p_tendency *t, const h5p_slab *view, const h5p_tendency_job *j)
{
    if (t->nlags == 0)
        return H5PREP_OK;
    uint64_t E = t->row_elems, K = (uint64_t)t->maxlag;
    double *cur = t->x + K * E;
    h5p_cpu_kernels_generic.decode[j->p->dtype](j->data, &j->p->dec, (size_t)(j->rows * E), cur);
    if (t->head && j->g0 == t->head_rows && j->g0 < K) { /* the variable's first rows, for the edges */
        uint64_t n = K - j->g0 < j->rows ? K - j->g0 : j->rows;
        memcpy(t->head + j->g0 * E, cur, (size_t)(n * E) * sizeof *cur);
        t->head_rows += n;
    }
    uint64_t outer_per_row = view->outer / j->rows;
    uint64_t units_per_row = view->inner == 1 ? outer_per_row : outer_per_row * view->features;
    for (int k = 0; k < t->nlags && !j->lead; k++) {
        uint64_t L = (uint64_t)t->lags[k];
        /* pairs whose later row is in this job and whose earlier row has been seen: i >= i0 */
        uint64_t i0 = L > t->have ? L - t->have : 0;
        uint64_t first = j->b0 > L ? j->b0 : L; /* the block's first row with a pair */
        uint64_t bend = j->b0 + j->brows;
        if (i0 < j->rows) {
            FORWARD_IF_ERROR(t->ops->wait(t->be[k], j->slot));
            double *d = t->diff[k][j->slot];
            const double *a = cur + i0 * E, *b = cur + i0 * E - L * E;
            for (uint64_t e = 0, n = (j->rows - i0) * E; e < n; e++)
                d[e] = a[e] - b[e]; /* NaN on a missing side: the backend counts the pair as missing */
            h5p_slab sl = {.data = d, .dtype = H5P_F64, .dec = &plain_f64, .features = view->features,
                           .inner = view->inner, .outer = outer_per_row * (j->rows - i0)};
            sl.unit0 = units_per_row * (j->g0 + i0 - first);
            sl.units = units_per_row * (bend - first);
            FORWARD_IF_ERROR(t->ops->stats_slab(t->be[k], j->slot, &sl));
        }
        if (!j->done)
            continue;
        h5p_moments *m = h5p_malloc(t->nf * sizeof *m);
        RETURN_ERROR_IF(!m, H5PREP_ERR_NOMEM, "no memory for %llu tendency states", (unsigned long long)t->nf);
        h5prep_status st = H5PREP_OK;
        if (bend > first)
            st = t->ops->stats_end(t->be[k], m);
        else /* every row of the block is within the lag of the first row: no pair */
            for (uint64_t f = 0; f < t->nf; f++)
                m[f] = h5p_moments_empty();
        if (st != H5PREP_OK) {
            free(m);
            return st;
        }
        FORWARD_IF_ERROR(h5p_tree_push(&t->tree[k], 0, j->block, m));
    }
    /* keep the last maxlag rows seen for the next job */
    uint64_t keep = t->have + j->rows < K ? t->have + j->rows : K;
    memmove(t->x + (K - keep) * E, t->x + (K + j->rows - keep) * E, (size_t)(keep * E) * sizeof *t->x);
    t->have = keep;
    return H5PREP_OK;
}

h5prep_status h5p_tendency_end(h5p_tendency *t, h5p_moments *out, h5p_var *v, int last)
{
    for (int k = 0; k < t->nlags; k++)
        FORWARD_IF_ERROR(h5p_tree_fold(&t->tree[k], out + (uint64_t)k * t->nf));
    free(v->edge_head);
    free(v->edge_tail);
    v->edge_head = v->edge_tail = NULL;
    v->edge_rows = 0;
    if (!t->head) /* too many values to keep */
        return H5PREP_OK;
    v->edge_rows = (uint64_t)t->maxlag;
    if (t->head_rows == (uint64_t)t->maxlag) {
        v->edge_head = t->head;
        t->head = NULL;
    }
    if (last) { /* x[0, maxlag) holds the last rows after the last job */
        size_t n = (size_t)((uint64_t)t->maxlag * t->row_elems);
        v->edge_tail = h5p_malloc(n * sizeof *v->edge_tail);
        RETURN_ERROR_IF(!v->edge_tail, H5PREP_ERR_NOMEM, "%s: no memory for the last rows of --tendency %d", v->name, t->maxlag);
        memcpy(v->edge_tail, t->x, n * sizeof *t->x);
    }
    return H5PREP_OK;
}

void h5p_tendency_free(h5p_tendency *t)
{
    for (int k = 0; k < t->nlags; k++) {
        for (int j = 0; j < t->nslots && t->be[k]; j++)
            if (t->diff[k][j]) {
                t->ops->wait(t->be[k], j); /* nothing may still copy from a buffer freed here */
                t->ops->free_host(t->be[k], t->diff[k][j]);
            }
        if (t->be[k])
            t->ops->destroy(t->be[k]);
        h5p_tree_free(&t->tree[k]);
    }
    free(t->x);
    free(t->head);
    memset(t, 0, sizeof *t);
}
