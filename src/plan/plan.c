/* plan.c: resolves a recipe against its files before any data is read. Each op becomes an index
 * map over one sample's elements, so that a whole output is one gather from its inputs. */
#include "plan/plan.h"

#include "common/internal.h"
#include "input/catalog.h"
#include "input/cf.h"
#include "input/variable.h"
#include "plan/split.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A value of one sample as an index map: element j comes from (var[j], src[j]) or is value[j]. */
typedef struct node {
    int rank;
    uint64_t shape[H5PREP_MAX_RANK];
    uint64_t elems;
    int32_t *var;
    uint32_t *src;
    double *value;
    int chan;      /* the per-sample axis that the outermost concat or stack made, followed through
                      the ops above it; -1 when there is none or a reshape or flatten ended it */
} node;

static void node_free(node *a)
{
    free(a->var);
    free(a->src);
    free(a->value);
    memset(a, 0, sizeof *a);
}

static const char *op_name(h5p_op_kind k)
{
    static const char *names[] = {"variable", "broadcast", "pad", "concat", "stack", "reshape", "flatten", "slice"};
    return names[k];
}

static h5prep_status node_alloc(node *a, const h5p_recipe *r, const h5p_expr *e)
{
    uint64_t n = 1;
    int over = 0;
    for (int d = 0; d < a->rank; d++) {
        over |= a->shape[d] > UINT32_MAX || (a->shape[d] && n > UINT32_MAX / a->shape[d]);
        n = over ? n : n * a->shape[d];
    }
    if (over) {
        h5p_fail(H5PREP_ERR_SHAPE, "%s:%d:%d: %s: one sample of the result would have more than %u elements", r->path, e->line,
                 e->col, op_name(e->kind), UINT32_MAX);
        return h5p_hint(H5PREP_ERR_SHAPE, "split the output into several smaller outputs");
    }
    a->elems = n;
    a->var = h5p_malloc(n * sizeof *a->var);
    a->src = h5p_malloc(n * sizeof *a->src);
    a->value = h5p_calloc(n, sizeof *a->value);
    RETURN_ERROR_IF(!a->var || !a->src || !a->value, H5PREP_ERR_NOMEM, "%s: out of memory for the map of an output", r->path);
    return H5PREP_OK;
}

static void copy_elem(node *dst, uint64_t j, const node *from, uint64_t i)
{
    dst->var[j] = from->var[i];
    dst->src[j] = from->src[i];
    dst->value[j] = from->value[i];
}

/* "(N, 138, 20)": the sample count then a per-sample shape. */
static void fmt_shape(char *dst, size_t cap, uint64_t n, int rank, const uint64_t *shape)
{
    uint64_t full[H5PREP_MAX_RANK];
    full[0] = n;
    memcpy(full + 1, shape, (size_t)rank * sizeof *shape);
    h5p_format_shape(dst, cap, rank + 1, full);
}

/* The per-sample axis of `axis` (counted on the whole array of rank `full_rank`, sample axis 0). */
static h5prep_status sample_axis(const h5p_plan *p, const h5p_expr *e, int full_rank, int *out)
{
    int a = e->axis < 0 ? e->axis + full_rank : e->axis;
    if (a < 1 || a >= full_rank) {
        h5p_fail(H5PREP_ERR_SHAPE, "%s:%d:%d: %s: axis %d is out of range for a result of rank %d (valid: 1..%d, or -%d..-1)",
                 p->recipe->path, e->line, e->col, op_name(e->kind), e->axis, full_rank, full_rank - 1, full_rank - 1);
        return h5p_hint(H5PREP_ERR_SHAPE, "axis 0 is the sample axis, which ops do not change");
    }
    *out = a - 1;
    return H5PREP_OK;
}

/* Products of the per-sample extents before and after axis a. */
static void split_at(const node *a, int axis, uint64_t *outer, uint64_t *inner)
{
    *outer = *inner = 1;
    for (int d = 0; d < axis; d++)
        *outer *= a->shape[d];
    for (int d = axis + 1; d < a->rank; d++)
        *inner *= a->shape[d];
}

static h5prep_status eval(h5p_plan *p, const h5p_expr *e, node *out);

static h5prep_status eval_var(h5p_plan *p, const h5p_expr *e, node *out)
{
    for (size_t v = 0; v < p->nvars; v++) {
        if (strcmp(p->vars[v].name, e->name) != 0)
            continue;
        out->rank = p->vars[v].rank;
        memcpy(out->shape, p->vars[v].shape, sizeof out->shape);
        out->chan = -1;
        FORWARD_IF_ERROR(node_alloc(out, p->recipe, e));
        for (uint64_t j = 0; j < out->elems; j++)
            out->var[j] = (int32_t)v, out->src[j] = (uint32_t)j;
        return H5PREP_OK;
    }
    return h5p_fail(H5PREP_ERR_INTERNAL, "%s:%d:%d: variable '%s' was not opened", p->recipe->path, e->line, e->col, e->name);
}

static h5prep_status eval_broadcast(h5p_plan *p, const h5p_expr *e, const node *c, node *out)
{
    int ax;
    FORWARD_IF_ERROR(sample_axis(p, e, c->rank + 2, &ax));
    RETURN_ERROR_IF(c->rank + 2 > H5PREP_MAX_RANK, H5PREP_ERR_SHAPE, "%s:%d:%d: broadcast: the result would have more than %d axes",
                    p->recipe->path, e->line, e->col, H5PREP_MAX_RANK);
    out->rank = c->rank + 1;
    for (int d = 0, s = 0; d < out->rank; d++)
        out->shape[d] = d == ax ? e->size : c->shape[s++];
    out->chan = c->chan < ax ? c->chan : c->chan + 1;
    FORWARD_IF_ERROR(node_alloc(out, p->recipe, e));
    uint64_t outer = 1, inner = 1;
    for (int d = 0; d < ax; d++)
        outer *= c->shape[d];
    for (int d = ax; d < c->rank; d++)
        inner *= c->shape[d];
    uint64_t j = 0;
    for (uint64_t o = 0; o < outer; o++)
        for (uint64_t k = 0; k < e->size; k++)
            for (uint64_t i = 0; i < inner; i++)
                copy_elem(out, j++, c, o * inner + i);
    return H5PREP_OK;
}

static h5prep_status eval_pad(h5p_plan *p, const h5p_expr *e, const node *c, node *out)
{
    int ax;
    FORWARD_IF_ERROR(sample_axis(p, e, c->rank + 1, &ax));
    out->rank = c->rank;
    memcpy(out->shape, c->shape, sizeof out->shape);
    out->chan = c->chan;
    uint64_t L = c->shape[ax];
    RETURN_ERROR_IF(e->before > UINT32_MAX || e->after > UINT32_MAX, H5PREP_ERR_SHAPE,
                    "%s:%d:%d: pad: before %" PRIu64 " and after %" PRIu64 ": at most %u elements each", p->recipe->path,
                    e->line, e->col, e->before, e->after, UINT32_MAX);
    out->shape[ax] = e->before + L + e->after;
    FORWARD_IF_ERROR(node_alloc(out, p->recipe, e));
    uint64_t outer, inner, j = 0;
    split_at(c, ax, &outer, &inner);
    for (uint64_t o = 0; o < outer; o++)
        for (uint64_t l = 0; l < out->shape[ax]; l++)
            for (uint64_t i = 0; i < inner; i++, j++) {
                int64_t s = (int64_t)l - (int64_t)e->before;
                if (s >= 0 && s < (int64_t)L) {
                    copy_elem(out, j, c, (o * L + (uint64_t)s) * inner + i);
                } else if (e->pad_edge) {
                    uint64_t edge = s < 0 ? 0 : L - 1;
                    copy_elem(out, j, c, (o * L + edge) * inner + i);
                } else {
                    out->var[j] = -1, out->src[j] = 0, out->value[j] = e->pad_value;
                }
            }
    return H5PREP_OK;
}

/* concat (new_axis 0) or stack (new_axis 1) of the operands cs[0..n). */
static h5prep_status eval_join(h5p_plan *p, const h5p_expr *e, const node *cs, size_t n, int new_axis, node *out)
{
    const node *c0 = &cs[0];
    int ax;
    FORWARD_IF_ERROR(sample_axis(p, e, c0->rank + 1 + new_axis, &ax));
    RETURN_ERROR_IF(c0->rank + 1 + new_axis > H5PREP_MAX_RANK, H5PREP_ERR_SHAPE,
                    "%s:%d:%d: stack: the result would have more than %d axes", p->recipe->path, e->line, e->col, H5PREP_MAX_RANK);
    uint64_t total = 0;
    for (size_t k = 0; k < n; k++) {
        int same = cs[k].rank == c0->rank;
        for (int d = 0; same && d < c0->rank; d++)
            same = cs[k].shape[d] == c0->shape[d] || (!new_axis && d == ax);
        if (!same) {
            char a[256], b[256];
            fmt_shape(a, sizeof a, p->n, c0->rank, c0->shape);
            fmt_shape(b, sizeof b, p->n, cs[k].rank, cs[k].shape);
            if (new_axis)
                return h5p_fail(H5PREP_ERR_SHAPE, "%s:%d:%d: stack: operand %zu has shape %s but operand 1 has %s; stacked operands must have the same shape",
                                p->recipe->path, e->line, e->col, k + 1, b, a);
            return h5p_fail(H5PREP_ERR_SHAPE, "%s:%d:%d: concat on axis %d: operand %zu has shape %s but operand 1 has %s; they must agree on every other axis",
                            p->recipe->path, e->line, e->col, ax + 1, k + 1, b, a);
        }
        total += new_axis ? 1 : cs[k].shape[ax];
    }
    out->rank = c0->rank + new_axis;
    out->chan = ax;
    for (int d = 0, s = 0; d < out->rank; d++) {
        out->shape[d] = d == ax ? total : c0->shape[s];
        s += d != ax || !new_axis; /* concat replaces c0's axis ax; stack inserts a new one */
    }
    FORWARD_IF_ERROR(node_alloc(out, p->recipe, e));
    /* operand k fills, for every outer index, a block of (its extent on ax) * inner elements */
    uint64_t outer = 1, inner = 1;
    for (int d = 0; d < ax; d++)
        outer *= c0->shape[d];
    for (int d = ax + 1 - new_axis; d < c0->rank; d++)
        inner *= c0->shape[d];
    uint64_t j = 0;
    for (uint64_t o = 0; o < outer; o++)
        for (size_t k = 0; k < n; k++) {
            uint64_t block = (new_axis ? 1 : cs[k].shape[ax]) * inner;
            for (uint64_t i = 0; i < block; i++)
                copy_elem(out, j++, &cs[k], o * block + i);
        }
    return H5PREP_OK;
}

static h5prep_status eval_reshape(h5p_plan *p, const h5p_expr *e, const node *c, node *out)
{
    out->chan = -1;
    if (e->kind == H5P_OP_FLATTEN) {
        out->rank = 1;
        out->shape[0] = c->elems;
    } else {
        uint64_t known = 1;
        int infer = -1;
        for (int d = 0; d < e->nshape; d++) {
            if (e->shape[d] < 0)
                infer = d;
            else
                known *= (uint64_t)e->shape[d];
        }
        out->rank = e->nshape;
        for (int d = 0; d < e->nshape; d++)
            out->shape[d] = d == infer ? (known ? c->elems / known : 0) : (uint64_t)e->shape[d];
        uint64_t got = 1;
        for (int d = 0; d < out->rank; d++)
            got *= out->shape[d];
        if (got != c->elems || (infer >= 0 && out->shape[infer] == 0)) {
            char a[256];
            fmt_shape(a, sizeof a, p->n, c->rank, c->shape);
            return h5p_fail(H5PREP_ERR_SHAPE, "%s:%d:%d: reshape: a sample of shape %s has %" PRIu64 " elements, which the per-sample shape given does not hold",
                            p->recipe->path, e->line, e->col, a, c->elems);
        }
    }
    FORWARD_IF_ERROR(node_alloc(out, p->recipe, e));
    for (uint64_t j = 0; j < c->elems; j++)
        copy_elem(out, j, c, j);
    return H5PREP_OK;
}

static h5prep_status eval_slice(h5p_plan *p, const h5p_expr *e, const node *c, node *out)
{
    int ax;
    FORWARD_IF_ERROR(sample_axis(p, e, c->rank + 1, &ax));
    int64_t L = (int64_t)c->shape[ax];
    int64_t start = e->start < 0 ? e->start + L : e->start, stop = e->stop == INT64_MAX ? L : e->stop;
    stop = stop < 0 ? stop + L : stop;
    start = start < 0 ? 0 : start > L ? L : start;
    stop = stop < 0 ? 0 : stop > L ? L : stop;
    int64_t count = stop > start ? (stop - start - 1) / e->step + 1 : 0;
    if (count == 0) {
        char a[256];
        fmt_shape(a, sizeof a, p->n, c->rank, c->shape);
        return h5p_fail(H5PREP_ERR_SHAPE, "%s:%d:%d: slice on axis %d of shape %s selects nothing", p->recipe->path, e->line,
                        e->col, ax + 1, a);
    }
    out->rank = c->rank;
    memcpy(out->shape, c->shape, sizeof out->shape);
    out->chan = c->chan;
    out->shape[ax] = (uint64_t)count;
    FORWARD_IF_ERROR(node_alloc(out, p->recipe, e));
    uint64_t outer, inner, j = 0;
    split_at(c, ax, &outer, &inner);
    for (uint64_t o = 0; o < outer; o++)
        for (int64_t l = 0; l < count; l++)
            for (uint64_t i = 0; i < inner; i++)
                copy_elem(out, j++, c, (o * (uint64_t)L + (uint64_t)(start + l * e->step)) * inner + i);
    return H5PREP_OK;
}

static h5prep_status eval(h5p_plan *p, const h5p_expr *e, node *out)
{
    memset(out, 0, sizeof *out);
    if (e->kind == H5P_OP_VAR)
        return eval_var(p, e, out);
    node *cs = h5p_calloc(e->nargs, sizeof *cs);
    RETURN_ERROR_IF(!cs, H5PREP_ERR_NOMEM, "out of memory");
    h5prep_status st = H5PREP_OK;
    for (size_t k = 0; k < e->nargs && st == H5PREP_OK; k++)
        st = eval(p, e->args[k], &cs[k]);
    if (st == H5PREP_OK) {
        switch (e->kind) {
        case H5P_OP_BROADCAST: st = eval_broadcast(p, e, &cs[0], out); break;
        case H5P_OP_PAD: st = eval_pad(p, e, &cs[0], out); break;
        case H5P_OP_CONCAT: st = eval_join(p, e, cs, e->nargs, 0, out); break;
        case H5P_OP_STACK: st = eval_join(p, e, cs, e->nargs, 1, out); break;
        case H5P_OP_RESHAPE:
        case H5P_OP_FLATTEN: st = eval_reshape(p, e, &cs[0], out); break;
        case H5P_OP_SLICE: st = eval_slice(p, e, &cs[0], out); break;
        case H5P_OP_VAR: break;
        }
    }
    for (size_t k = 0; k < e->nargs; k++)
        node_free(&cs[k]);
    free(cs);
    if (st != H5PREP_OK)
        node_free(out);
    return st;
}

/* Whether any expression of the recipe reads variable `name`. */
static int expr_uses(const h5p_expr *e, const char *name)
{
    if (e->kind == H5P_OP_VAR)
        return strcmp(e->name, name) == 0;
    for (size_t k = 0; k < e->nargs; k++)
        if (expr_uses(e->args[k], name))
            return 1;
    return 0;
}

static int var_used(const h5p_recipe *r, const char *name)
{
    for (size_t o = 0; o < r->noutputs; o++)
        if (expr_uses(r->outputs[o].expr, name))
            return 1;
    return 0;
}

/* Opens input variable `name` (dataset `path`) in every file of the globs. */
static h5prep_status open_var(const h5p_recipe *r, const h5p_input *in, char *const *files, size_t nfiles, const char *path,
                              int raw, h5p_var *out)
{
    h5prep_status st = h5p_var_init(out, path);
    for (size_t f = 0; f < nfiles && st == H5PREP_OK; f++)
        st = h5p_var_add_files(out, files[f], raw);
    if (st != H5PREP_OK) {
        h5p_var_free(out);
        if (in->line > 0)
            h5p_hint(st, "the input is declared at %s:%d:%d", r->path, in->line, in->col);
    }
    return st;
}

static h5prep_status add_var(h5p_plan *p, const h5p_input *in, size_t i, char *const *files, size_t nfiles, int raw)
{
    h5p_plan_var *pv = &p->vars[p->nvars];
    memset(pv, 0, sizeof *pv);
    FORWARD_IF_ERROR(open_var(p->recipe, in, files, nfiles, in->paths[i], raw, &pv->var));
    p->nvars++;
    pv->name = in->names[i];
    pv->input = in;
    pv->per_file = in->per_file;
    const h5p_var *v = &pv->var;
    pv->dtype = v->parts[0].dtype;
    for (size_t k = 1; k < v->nparts; k++)
        RETURN_ERROR_IF(v->parts[k].dtype != pv->dtype, H5PREP_ERR_DTYPE, "%s:%s: stored as %s but as %s in %s; a variable must have one type in all its files",
                        v->parts[k].path, v->name, h5p_dtype_name(v->parts[k].dtype), h5p_dtype_name(pv->dtype), v->parts[0].path);
    if (pv->per_file) {
        for (size_t k = 1; k < v->nparts; k++)
            RETURN_ERROR_IF(v->parts[k].rows != v->parts[0].rows, H5PREP_ERR_SHAPE,
                            "%s:%s: %" PRIu64 " rows but %" PRIu64 " in %s; with per_file each file is one sample, so all must have the same shape",
                            v->parts[k].path, v->name, v->parts[k].rows, v->parts[0].rows, v->parts[0].path);
        RETURN_ERROR_IF(v->rank + 1 > H5PREP_MAX_RANK, H5PREP_ERR_SHAPE, "%s:%s: rank %d is too large for per_file", v->parts[0].path, v->name, v->rank);
        pv->rank = v->rank;
        pv->shape[0] = v->parts[0].rows;
        memcpy(pv->shape + 1, v->dims + 1, (size_t)(v->rank - 1) * sizeof *v->dims);
    } else {
        pv->rank = v->rank - 1;
        memcpy(pv->shape, v->dims + 1, (size_t)pv->rank * sizeof *v->dims);
    }
    pv->elems = 1;
    for (int d = 0; d < pv->rank; d++)
        pv->elems *= pv->shape[d];
    pv->row_bytes = pv->elems * h5p_dtype_size(pv->dtype);
    return H5PREP_OK;
}

static uint64_t var_samples(const h5p_plan_var *v) { return v->per_file ? v->var.nparts : v->var.dims[0]; }

/* The value of per-file variable i of `in` for file `path`. */
static h5prep_status file_value(const h5p_input *in, size_t i, const h5p_catalog *cat, const char *path, double *out)
{
    if (in->kinds[i] != H5P_VAR_CATALOG)
        return h5p_file_scalar(path, in->paths[i], in->kinds[i] == H5P_VAR_ATTRIBUTE, out);
    size_t row = 0, col = 0;
    FORWARD_IF_ERROR(h5p_catalog_find(cat, path, &row));
    while (strcmp(cat->columns[col], in->paths[i]) != 0)
        col++;
    *out = cat->values[row * cat->ncols + col];
    return H5PREP_OK;
}

/* The input's catalog, with every column it declares (read once per input). */
static h5prep_status load_catalog(const h5p_input *in, h5p_catalog *cat)
{
    if (cat->path)
        return H5PREP_OK;
    char **cols = h5p_malloc(in->nvars * sizeof *cols);
    RETURN_ERROR_IF(!cols, H5PREP_ERR_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < in->nvars; i++)
        if (in->kinds[i] == H5P_VAR_CATALOG)
            cols[n++] = in->paths[i];
    h5prep_status st = h5p_catalog_load(in->catalog, in->catalog_key, cols, n, cat);
    free(cols);
    return st;
}

/* Per-file variable i of `in`: one value per file of a dataset variable of the same input (its
 * files and rows), read now; a sample takes the value of its file. */
static h5prep_status add_file_var(h5p_plan *p, const h5p_input *in, size_t i, h5p_catalog *cat)
{
    const h5p_plan_var *sib = NULL;
    for (size_t v = 0; v < p->nvars && !sib; v++)
        if (p->vars[v].input == in && !p->vars[v].file_values)
            sib = &p->vars[v];
    if (!sib) {
        h5p_fail(H5PREP_ERR_USAGE, "%s:%d:%d: '%s' has one value per file, but no dataset of its input (at %d:%d) is used by an "
                 "output, so its files and rows are unknown", p->recipe->path, in->lines[i], in->cols[i], in->names[i], in->line, in->col);
        return h5p_hint(H5PREP_ERR_USAGE, "use a dataset variable of the same input in an output");
    }
    if (in->kinds[i] == H5P_VAR_CATALOG)
        FORWARD_IF_ERROR(load_catalog(in, cat));
    h5p_plan_var *pv = &p->vars[p->nvars];
    memset(pv, 0, sizeof *pv);
    uint64_t n = var_samples(sib);
    FORWARD_IF_ERROR(h5p_var_init(&pv->var, in->paths[i]));
    p->nvars++;
    pv->name = in->names[i];
    pv->input = in;
    pv->var.rank = 1;
    pv->var.dims[0] = n;
    pv->dtype = H5P_F64;
    pv->elems = 1;
    pv->row_bytes = sizeof(double);
    pv->file_values = h5p_malloc((n ? n : 1) * sizeof *pv->file_values);
    RETURN_ERROR_IF(!pv->file_values, H5PREP_ERR_NOMEM, "out of memory for '%s' of %" PRIu64 " samples", pv->name, n);
    uint64_t s = 0;
    for (size_t k = 0; k < sib->var.nparts; k++) {
        const h5p_part *part = &sib->var.parts[k];
        double x;
        h5prep_status st = file_value(in, i, cat, part->path, &x);
        if (st != H5PREP_OK)
            return h5p_hint(st, "'%s' is declared at %s:%d:%d", pv->name, p->recipe->path, in->lines[i], in->cols[i]);
        for (uint64_t r = 0; r < (sib->per_file ? 1 : part->rows); r++)
            pv->file_values[s++] = x;
    }
    return H5PREP_OK;
}

/* float32 staging is exact when every value an output can hold is a float32. */
static int needs_f64(const h5p_plan *p, const node *a)
{
    for (uint64_t j = 0; j < a->elems; j++) {
        if (a->var[j] < 0) {
            if ((double)(float)a->value[j] != a->value[j])
                return 1;
            continue;
        }
        const h5p_plan_var *v = &p->vars[a->var[j]];
        int small = v->dtype == H5P_F32 || v->dtype == H5P_I8 || v->dtype == H5P_U8 || v->dtype == H5P_I16 || v->dtype == H5P_U16;
        for (size_t k = 0; small && k < v->var.nparts; k++)
            small = v->var.parts[k].dec.scale == 1.0 && v->var.parts[k].dec.offset == 0.0;
        if (!small)
            return 1;
    }
    return 0;
}

/* The node's map (var = -1 for a constant) in the form the kernels read (plan.h); a is consumed. */
static h5prep_status kernel_map(const h5p_plan *p, h5p_plan_output *po, node *a)
{
    po->value = a->value;
    a->value = NULL;
    po->vidx = h5p_malloc(po->elems * sizeof *po->vidx);
    po->sidx = h5p_malloc(po->elems * sizeof *po->sidx);
    po->fidx = h5p_malloc(po->elems * sizeof *po->fidx);
    h5prep_status st = po->vidx && po->sidx && po->fidx
                           ? H5PREP_OK
                           : h5p_fail(H5PREP_ERR_NOMEM, "%s: out of memory for the map of output '%s'", p->recipe->path, po->spec->name);
    for (uint64_t j = 0; st == H5PREP_OK && j < po->elems; j++) {
        po->vidx[j] = a->var[j] < 0 ? (uint32_t)p->nvars : (uint32_t)a->var[j];
        po->sidx[j] = a->var[j] < 0 ? (uint32_t)j : a->src[j];
    }
    node_free(a);
    return st;
}

static h5prep_status build_output(h5p_plan *p, size_t o)
{
    const h5p_output *spec = &p->recipe->outputs[o];
    h5p_plan_output *po = &p->outs[o];
    node a;
    FORWARD_IF_ERROR(eval(p, spec->expr, &a));
    po->spec = spec;
    po->rank = a.rank;
    memcpy(po->shape, a.shape, sizeof po->shape);
    po->elems = a.elems;
    po->channel_axis = a.chan;
    po->scratch_f64 = needs_f64(p, &a);
    FORWARD_IF_ERROR(kernel_map(p, po, &a));
    int full = po->rank + 1, kf = spec->keep_first, kc = spec->keep_count;
    if (kf == H5PREP_KEEP_DEFAULT) /* the last axis; one statistic for an (N,) output */
        kf = full - 1, kc = full > 1;
    kf = kf < 0 ? kf + full : kf;
    if (kc > 0 && (kf < 1 || kf + kc > full)) {
        char s[256];
        fmt_shape(s, sizeof s, p->n, po->rank, po->shape);
        h5p_fail(H5PREP_ERR_AXES, "%s:%d:%d: output '%s' has shape %s, so normalize.keep_axes from %d (%d axes) is out of range (valid: 1..%d)",
                 p->recipe->path, spec->line, spec->col, spec->name, s, spec->keep_first, kc, full - 1);
        return h5p_hint(H5PREP_ERR_AXES, "axis 0 holds the samples, which are always reduced; 'none' gives one statistic");
    }
    po->keep_first = kc > 0 ? kf : 0;
    po->keep_count = kc;
    po->features = po->inner = 1;
    for (int d = 0; d < po->rank; d++) {
        if (kc > 0 && d + 1 >= kf && d + 1 < kf + kc)
            po->features *= po->shape[d];
        else if (kc > 0 && d + 1 >= kf + kc)
            po->inner *= po->shape[d];
    }
    if (kc == 0)
        po->inner = 1;
    for (uint64_t j = 0; j < po->elems; j++)
        po->fidx[j] = (uint32_t)(j / po->inner % po->features);
    return H5PREP_OK;
}

/* The file of each sample: the index of its part of the first variable (the first input's files). */
static void sample_files(const h5p_plan *p, uint64_t *file_of)
{
    const h5p_plan_var *v = &p->vars[0];
    uint64_t i = 0;
    for (size_t k = 0; k < v->var.nparts; k++)
        for (uint64_t r = 0; r < (v->per_file ? 1 : v->var.parts[k].rows); r++)
            file_of[i++] = k;
}

static h5prep_status build_groups(h5p_plan *p)
{
    const h5p_split_spec *sp = &p->split;
    if (sp->group_by == H5P_GROUP_NONE)
        return H5PREP_OK;
    p->group_of = h5p_malloc(p->n * sizeof *p->group_of);
    RETURN_ERROR_IF(!p->group_of, H5PREP_ERR_NOMEM, "out of memory for the groups of %" PRIu64 " samples", p->n);
    if (sp->group_by == H5P_GROUP_ROWS) {
        for (uint64_t i = 0; i < p->n; i++)
            p->group_of[i] = i / sp->group_rows;
        p->ngroups = p->n ? (p->n - 1) / sp->group_rows + 1 : 0;
        return H5PREP_OK;
    }
    sample_files(p, p->group_of);
    p->ngroups = p->vars[0].var.nparts;
    return H5PREP_OK;
}

/* by: files: the split of file `path`, the one split whose globs match it (fnmatch with
 * FNM_PATHNAME | FNM_PERIOD, as glob(3) matches the inputs' globs). */
static h5prep_status split_of_file(const h5p_plan *p, const char *path, uint8_t *out)
{
    const h5p_split_spec *sp = &p->split;
    int got = -1;
    const char *by = NULL;
    for (int k = 0; k < sp->nsplits; k++)
        for (size_t g = 0; g < sp->nglobs[k]; g++) {
            if (fnmatch(sp->globs[k][g], path, FNM_PATHNAME | FNM_PERIOD) != 0)
                continue;
            if (got >= 0 && got != k) {
                h5p_fail(H5PREP_ERR_USAGE, "%s: split by files: %s is in split '%s' (glob '%s') and in split '%s' (glob '%s')",
                         p->recipe->path, path, sp->names[got], by, sp->names[k], sp->globs[k][g]);
                return h5p_hint(H5PREP_ERR_USAGE, "each file belongs to exactly one split: narrow the globs of split.assign");
            }
            got = k, by = sp->globs[k][g];
        }
    if (got < 0) {
        h5p_fail(H5PREP_ERR_USAGE, "%s: split by files: %s is in no split (no glob of split.assign matches it)", p->recipe->path,
                 path);
        return h5p_hint(H5PREP_ERR_USAGE, "globs match the file names as the inputs' globs give them (here '%s'); add it to a "
                        "split or leave it out of the inputs", path);
    }
    *out = (uint8_t)got;
    return H5PREP_OK;
}

static h5prep_status assign_by_files(h5p_plan *p)
{
    const h5p_var *v = &p->vars[0].var;
    uint8_t *file_split = h5p_malloc(v->nparts);
    uint64_t *file_of = h5p_malloc(p->n * sizeof *file_of);
    h5prep_status st = file_split && file_of ? H5PREP_OK : h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < v->nparts && st == H5PREP_OK; k++)
        st = split_of_file(p, v->parts[k].path, &file_split[k]);
    if (st == H5PREP_OK) {
        sample_files(p, file_of);
        for (uint64_t i = 0; i < p->n; i++)
            p->assign[i] = file_split[file_of[i]];
    }
    free(file_split);
    free(file_of);
    return st;
}

/* by: time: the coordinate, FILE:/DATASET (FILE may be a glob) or a variable of the inputs. */
static h5prep_status open_coordinate(const h5p_plan *p, char *const *files, size_t nfiles, int raw, h5p_var *v)
{
    const h5p_recipe *r = p->recipe;
    const char *spec = p->split.coordinate, *sep = strstr(spec, ":/");
    if (sep) {
        char *file = h5p_malloc((size_t)(sep - spec) + 1);
        RETURN_ERROR_IF(!file, H5PREP_ERR_NOMEM, "out of memory");
        memcpy(file, spec, (size_t)(sep - spec));
        file[sep - spec] = 0;
        h5prep_status st = h5p_var_init(v, sep + 1);
        if (st == H5PREP_OK)
            st = h5p_var_add_files(v, file, raw);
        free(file);
        return st;
    }
    for (size_t g = 0; g < r->ninputs; g++) {
        const h5p_input *in = &r->inputs[g];
        for (size_t i = 0; i < in->nvars; i++)
            if (!strcmp(in->names[i], spec))
                return open_var(r, in, g == 0 && files ? files : in->files, g == 0 && files ? nfiles : in->nfiles,
                                in->paths[i], raw, v);
    }
    return h5p_fail(H5PREP_ERR_INTERNAL, "%s: split.coordinate '%s' is not a variable", r->path, spec);
}

/* Dates of split.ranges as values of the coordinate v, through its CF units and calendar (the
 * same in every file); the ranges are then checked as numbers are when the recipe is read. */
static h5prep_status convert_dates(h5p_plan *p, const h5p_var *v)
{
    h5p_split_spec *sp = &p->split;
    int any = 0;
    for (int k = 0; k < sp->nsplits; k++)
        any |= sp->lo_text[k] || sp->hi_text[k];
    if (!any)
        return H5PREP_OK;
    char units[128], cal[128], other[128];
    FORWARD_IF_ERROR(h5p_part_text_attr(&v->parts[0], v->name, "units", units, sizeof units));
    FORWARD_IF_ERROR(h5p_part_text_attr(&v->parts[0], v->name, "calendar", cal, sizeof cal));
    if (!units[0]) {
        h5p_fail(H5PREP_ERR_USAGE, "%s:%s: the time coordinate has no units attribute, so the dates of split.ranges cannot be "
                 "placed on it", v->parts[0].path, v->name);
        return h5p_hint(H5PREP_ERR_USAGE, "give the bounds as numbers in the coordinate's units");
    }
    for (size_t k = 1; k < v->nparts; k++) {
        FORWARD_IF_ERROR(h5p_part_text_attr(&v->parts[k], v->name, "units", other, sizeof other));
        RETURN_ERROR_IF(strcmp(units, other) != 0, H5PREP_ERR_USAGE,
                        "%s:%s: units '%s', but '%s' in %s; the dates of split.ranges need one reference", v->parts[k].path,
                        v->name, other, units, v->parts[0].path);
    }
    for (int k = 0; k < sp->nsplits; k++) {
        for (int end = 0; end < 2; end++) {
            const char *date = end ? sp->hi_text[k] : sp->lo_text[k];
            h5prep_status st = date ? h5p_cf_date_value(units, cal, date, end ? &sp->hi[k] : &sp->lo[k]) : H5PREP_OK;
            if (st != H5PREP_OK)
                return h5p_hint(st, "split.ranges.%s of %s, against %s:%s", sp->names[k], p->recipe->path, v->parts[0].path,
                                v->name);
        }
        RETURN_ERROR_IF(!(sp->lo[k] < sp->hi[k]), H5PREP_ERR_USAGE,
                        "%s: split.ranges.%s is [%.17g, %.17g) in the units of the coordinate (%s): empty (expected START < END)",
                        p->recipe->path, sp->names[k], sp->lo[k], sp->hi[k], units);
        for (int j = 0; j < k; j++)
            RETURN_ERROR_IF(h5p_split_overlap(sp, j, k), H5PREP_ERR_USAGE,
                            "%s: split.ranges.%s [%.17g, %.17g) overlaps split '%s' [%.17g, %.17g) (%s)", p->recipe->path,
                            sp->names[k], sp->lo[k], sp->hi[k], sp->names[j], sp->lo[j], sp->hi[j], units);
    }
    return H5PREP_OK;
}

static h5prep_status assign_by_time(h5p_plan *p, char *const *files, size_t nfiles, int raw)
{
    const h5p_split_spec *sp = &p->split;
    h5p_var v;
    memset(&v, 0, sizeof v);
    h5prep_status st = open_coordinate(p, files, nfiles, raw, &v);
    if (st != H5PREP_OK) {
        h5p_hint(st, "the time coordinate is named by split.coordinate (%s:%d:%d)", p->recipe->path, sp->coord_line, sp->coord_col);
        h5p_var_free(&v);
        return st;
    }
    if (v.rank != 1 || v.dims[0] != p->n) {
        char shape[256];
        h5p_format_shape(shape, sizeof shape, v.rank, v.dims);
        h5p_fail(H5PREP_ERR_SHAPE, "%s: split.coordinate %s has shape %s, but the inputs have %" PRIu64 " samples",
                 p->recipe->path, sp->coordinate, shape, p->n);
        h5p_var_free(&v);
        return h5p_hint(H5PREP_ERR_SHAPE, "a time coordinate has one value per sample: shape (%" PRIu64 ",)", p->n);
    }
    st = convert_dates(p, &v);
    double *t = st == H5PREP_OK ? h5p_malloc(p->n * sizeof *t) : NULL;
    if (st == H5PREP_OK && !t)
        st = h5p_fail(H5PREP_ERR_NOMEM, "out of memory for the time coordinate of %" PRIu64 " samples", p->n);
    for (size_t k = 0; k < v.nparts && st == H5PREP_OK; k++)
        st = h5p_part_read_f64(&v.parts[k], v.name, v.parts[k].rows, t + v.parts[k].row0);
    for (uint64_t i = 0; i < p->n && st == H5PREP_OK; i++) {
        if (isnan(t[i])) {
            size_t k = 0;
            while (v.parts[k].row0 + v.parts[k].rows <= i)
                k++;
            h5p_fail(H5PREP_ERR_USAGE, "%s:%s: the time coordinate of sample %" PRIu64 " (row %" PRIu64 " of this file) is missing",
                     v.parts[k].path, v.name, i, i - v.parts[k].row0);
            st = h5p_hint(H5PREP_ERR_USAGE, "every sample needs a time to be placed in a split");
            break;
        }
        p->assign[i] = H5P_SPLIT_DROPPED;
        for (int k = 0; k < sp->nsplits; k++)
            if (t[i] >= sp->lo[k] && t[i] < sp->hi[k])
                p->assign[i] = (uint8_t)k;
    }
    free(t);
    h5p_var_free(&v);
    return st;
}

/* The split of each sample when the recipe gives it (by files, rows or time). */
static h5prep_status build_assignment(h5p_plan *p, char *const *files, size_t nfiles, int raw)
{
    const h5p_split_spec *sp = &p->split;
    if (sp->by == H5P_SPLIT_SEEDED)
        return H5PREP_OK;
    p->assign = h5p_malloc(p->n ? p->n : 1);
    RETURN_ERROR_IF(!p->assign, H5PREP_ERR_NOMEM, "out of memory for the split of %" PRIu64 " samples", p->n);
    if (sp->by == H5P_SPLIT_FILES)
        return assign_by_files(p);
    if (sp->by == H5P_SPLIT_TIME)
        return assign_by_time(p, files, nfiles, raw);
    memset(p->assign, H5P_SPLIT_DROPPED, p->n);
    for (int k = 0; k < sp->nsplits; k++) {
        uint64_t r0, r1;
        h5p_split_block(sp->lo[k], sp->hi[k], p->n, &r0, &r1);
        memset(p->assign + r0, k, r1 - r0);
    }
    return H5PREP_OK;
}

h5prep_status h5p_plan_build(const h5p_recipe *r, char *const *files, size_t nfiles, int raw, h5p_plan *p)
{
    memset(p, 0, sizeof *p);
    p->recipe = r;
    p->split = r->split;
    size_t declared = 0;
    for (size_t g = 0; g < r->ninputs; g++)
        declared += r->inputs[g].nvars;
    p->vars = h5p_calloc(declared, sizeof *p->vars);
    p->outs = h5p_calloc(r->noutputs, sizeof *p->outs);
    RETURN_ERROR_IF(!p->vars || !p->outs, H5PREP_ERR_NOMEM, "out of memory");
    for (size_t g = 0; g < r->ninputs; g++) { /* datasets first: per-file values take their files */
        const h5p_input *in = &r->inputs[g];
        char *const *f = g == 0 && files ? files : in->files;
        size_t nf = g == 0 && files ? nfiles : in->nfiles;
        for (size_t i = 0; i < in->nvars; i++)
            if (in->kinds[i] == H5P_VAR_DATASET && var_used(r, in->names[i]))
                FORWARD_IF_ERROR(add_var(p, in, i, f, nf, raw));
    }
    for (size_t g = 0; g < r->ninputs; g++) {
        const h5p_input *in = &r->inputs[g];
        h5p_catalog cat;
        memset(&cat, 0, sizeof cat);
        h5prep_status st = H5PREP_OK;
        for (size_t i = 0; i < in->nvars && st == H5PREP_OK; i++)
            if (in->kinds[i] != H5P_VAR_DATASET && var_used(r, in->names[i]))
                st = add_file_var(p, in, i, &cat);
        if (st != H5PREP_OK && cat.path)
            h5p_hint(st, "the catalog is declared at %s:%d:%d", r->path, in->catalog_line, in->catalog_col);
        h5p_catalog_free(&cat);
        FORWARD_IF_ERROR(st);
    }
    RETURN_ERROR_IF(p->nvars == 0, H5PREP_ERR_USAGE, "%s: the outputs use no input variable", r->path);
    RETURN_ERROR_IF(p->nvars > H5P_PLAN_MAX_VARS, H5PREP_ERR_USAGE, "%s: the outputs use %zu variables; at most %d are supported",
                    r->path, p->nvars, H5P_PLAN_MAX_VARS);
    p->n = var_samples(&p->vars[0]);
    for (size_t v = 1; v < p->nvars; v++) {
        const h5p_plan_var *a = &p->vars[0], *b = &p->vars[v];
        if (var_samples(b) != p->n) {
            h5p_fail(H5PREP_ERR_SHAPE, "%s: variable '%s' (%s) has %" PRIu64 " samples but '%s' (%s) has %" PRIu64 "; every variable must have one value per sample",
                     r->path, b->name, b->var.name, var_samples(b), a->name, a->var.name, p->n);
            return h5p_hint(H5PREP_ERR_SHAPE, "samples run along axis 0 of every dataset (with per_file: one per file)");
        }
    }
    for (size_t o = 0; o < r->noutputs; o++) {
        p->nouts = o + 1; /* so that h5p_plan_free frees a half-built output too */
        FORWARD_IF_ERROR(build_output(p, o));
    }
    FORWARD_IF_ERROR(build_groups(p));
    return build_assignment(p, files, nfiles, raw);
}

void h5p_plan_free(h5p_plan *p)
{
    if (!p)
        return;
    for (size_t v = 0; v < p->nvars; v++) {
        h5p_var_free(&p->vars[v].var);
        free(p->vars[v].file_values);
    }
    for (size_t o = 0; o < p->nouts; o++) {
        free(p->outs[o].vidx);
        free(p->outs[o].sidx);
        free(p->outs[o].fidx);
        free(p->outs[o].value);
    }
    free(p->vars);
    free(p->outs);
    free(p->group_of);
    free(p->assign);
    memset(p, 0, sizeof *p);
}

size_t h5p_plan_in_row_bytes(const h5p_plan *p)
{
    return h5p_plan_var_offset(p, p->nvars, 1);
}

size_t h5p_plan_var_offset(const h5p_plan *p, size_t v, uint64_t rows)
{
    size_t off = 0;
    for (size_t k = 0; k < v; k++)
        off += rows * p->vars[k].row_bytes;
    return off;
}

size_t h5p_plan_row_bytes(const h5p_plan *p, size_t o)
{
    return p->outs[o].elems * (p->outs[o].scratch_f64 ? 8 : 4);
}

size_t h5p_plan_out_row_bytes(const h5p_plan *p)
{
    return h5p_plan_block_offset(p, p->nouts, 1);
}

size_t h5p_plan_block_offset(const h5p_plan *p, size_t o, uint64_t rows)
{
    size_t off = 0;
    for (size_t k = 0; k < o; k++)
        off += rows * h5p_plan_row_bytes(p, k);
    return off;
}

/* The plan's index maps within the memory budget: 4 + 4 + 4 + 8 bytes (vidx, sidx, fidx, value) per
 * element of one sample, summed over the outputs (`elems`); `what` names the recipe in the message. */
h5prep_status h5p_plan_check_maps(const char *what, uint64_t elems, size_t mem_bytes)
{
    const uint64_t per = 3 * sizeof(uint32_t) + sizeof(double);
    if (elems <= mem_bytes / per)
        return H5PREP_OK;
    uint64_t kib = elems > (UINT64_MAX - 1023) / per ? UINT64_MAX >> 10 : (elems * per + 1023) >> 10;
    h5p_fail(H5PREP_ERR_NOMEM, "%s: the index maps of the outputs take %" PRIu64 " KiB (%" PRIu64 " elements per sample, %" PRIu64
             " bytes each), more than the memory budget (--mem %zu KiB)", what, kib, elems, per, mem_bytes >> 10);
    return h5p_hint(H5PREP_ERR_NOMEM, "raise --mem to at least %" PRIu64 "K, or make the outputs' samples smaller", kib);
}
