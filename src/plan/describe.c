/* describe.c: what each output of a plan is (plan/describe.h), from the recipe and the labels of
 * the input variables, for index.json and the attributes and dimension scales of the HDF5 outputs. */
#include "plan/describe.h"

#include "common/internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_CHANNEL_LABELS = 16384 }; /* labels listed per output; more are counted only */

static const char *op_name(h5p_op_kind k)
{
    switch (k) {
    case H5P_OP_VAR: return "var";
    case H5P_OP_BROADCAST: return "broadcast";
    case H5P_OP_PAD: return "pad";
    case H5P_OP_CONCAT: return "concat";
    case H5P_OP_STACK: return "stack";
    case H5P_OP_RESHAPE: return "reshape";
    case H5P_OP_FLATTEN: return "flatten";
    case H5P_OP_SLICE: return "slice";
    }
    return "?";
}

json_t *h5p_expr_json(const h5p_expr *e)
{
    if (e->kind == H5P_OP_VAR)
        return json_string(e->name);
    json_t *args = json_object();
    if (!args)
        return NULL;
    int fail = 0;
    switch (e->kind) {
    case H5P_OP_BROADCAST:
        fail |= json_object_set_new(args, "axis", json_integer(e->axis));
        fail |= json_object_set_new(args, "size", json_integer((json_int_t)e->size));
        break;
    case H5P_OP_PAD:
        fail |= json_object_set_new(args, "axis", json_integer(e->axis));
        fail |= json_object_set_new(args, "before", json_integer((json_int_t)e->before));
        fail |= json_object_set_new(args, "after", json_integer((json_int_t)e->after));
        fail |= e->pad_edge ? json_object_set_new(args, "mode", json_string("edge"))
                            : json_object_set_new(args, "value", json_real(e->pad_value));
        break;
    case H5P_OP_CONCAT:
    case H5P_OP_STACK:
        fail |= json_object_set_new(args, "axis", json_integer(e->axis));
        break;
    case H5P_OP_RESHAPE: {
        json_t *shape = json_array();
        for (int a = 0; shape && a < e->nshape; a++)
            fail |= json_array_append_new(shape, json_integer((json_int_t)e->shape[a]));
        fail |= json_object_set_new(args, "shape", shape);
        break;
    }
    case H5P_OP_SLICE:
        fail |= json_object_set_new(args, "axis", json_integer(e->axis));
        fail |= json_object_set_new(args, "start", json_integer((json_int_t)e->start));
        fail |= json_object_set_new(args, "stop", e->stop == INT64_MAX ? json_null() : json_integer((json_int_t)e->stop));
        fail |= json_object_set_new(args, "step", json_integer((json_int_t)e->step));
        break;
    default: break;
    }
    json_t *of = NULL;
    if (e->kind == H5P_OP_CONCAT || e->kind == H5P_OP_STACK) {
        of = json_array();
        for (size_t i = 0; of && i < e->nargs; i++)
            fail |= json_array_append_new(of, h5p_expr_json(e->args[i]));
    } else if (e->nargs == 1) {
        of = h5p_expr_json(e->args[0]);
    }
    fail |= json_object_set_new(args, "of", of);
    json_t *j = fail ? NULL : json_object();
    if (!j || json_object_set_new(j, op_name(e->kind), args) != 0) {
        json_decref(j);
        if (!j)
            json_decref(args);
        return NULL;
    }
    return j;
}

/* The one variable every leaf of e reads, or NULL when there are several (or constants only). */
static const char *one_variable(const h5p_expr *e)
{
    if (e->kind == H5P_OP_VAR)
        return e->name;
    const char *name = NULL;
    for (size_t i = 0; i < e->nargs; i++) {
        const char *n = one_variable(e->args[i]);
        if (!n || (name && strcmp(name, n) != 0))
            return NULL;
        name = n;
    }
    return name;
}

static const h5p_plan_var *plan_var(const h5p_plan *p, const char *name)
{
    for (size_t v = 0; v < p->nvars; v++)
        if (strcmp(p->vars[v].name, name) == 0)
            return &p->vars[v];
    return NULL;
}

typedef char axis_names[H5PREP_MAX_RANK + 1][72];

static void insert_axis(axis_names n, int *R, int at)
{
    memmove(n[at + 1], n[at], (size_t)(*R - at) * sizeof n[0]);
    n[at][0] = 0;
    (*R)++;
}

/* The names of the axes of e's result (sample axis first, R of them): an input variable's
 * dimension names, kept through the ops that keep an axis as it is; "" for an axis an op makes
 * or changes. The number of axes, or -1 when out of memory. */
static int expr_axes(const h5p_plan *p, const h5p_expr *e, axis_names n)
{
    if (e->kind == H5P_OP_VAR) {
        const h5p_plan_var *pv = plan_var(p, e->name);
        if (!pv)
            return -1;
        h5p_labels in;
        h5p_var_labels(&pv->var, &in);
        memset(n, 0, sizeof(axis_names));
        for (int a = 1; a <= pv->rank; a++) /* a per-file variable's dataset axis 0 is sample axis 1 */
            snprintf(n[a], sizeof n[a], "%s", in.dims[pv->per_file ? a - 1 : a]);
        return pv->rank + 1;
    }
    if (e->kind == H5P_OP_RESHAPE || e->kind == H5P_OP_FLATTEN) {
        int R = e->kind == H5P_OP_FLATTEN ? 2 : e->nshape + 1;
        memset(n, 0, sizeof(axis_names));
        return R;
    }
    int R = expr_axes(p, e->args[0], n);
    if (R < 0)
        return R;
    if (e->kind == H5P_OP_CONCAT || e->kind == H5P_OP_STACK) {
        axis_names *other = malloc(sizeof *other);
        if (!other)
            return -1;
        for (size_t i = 1; i < e->nargs && R >= 0; i++) {
            int Ri = expr_axes(p, e->args[i], *other);
            for (int a = 0; a < R && Ri == R; a++)
                if (strcmp(n[a], (*other)[a]) != 0)
                    n[a][0] = 0;
            R = Ri < 0 ? Ri : R;
        }
        free(other);
        if (R < 0)
            return R;
    }
    int at = e->axis;
    switch (e->kind) {
    case H5P_OP_BROADCAST:
    case H5P_OP_STACK:
        at = at < 0 ? at + R + 1 : at;
        if (at >= 1 && at <= R && R <= H5PREP_MAX_RANK)
            insert_axis(n, &R, at);
        break;
    case H5P_OP_PAD:
    case H5P_OP_SLICE:
    case H5P_OP_CONCAT:
        at = at < 0 ? at + R : at;
        if (at >= 1 && at < R)
            n[at][0] = 0;
        break;
    default: break;
    }
    n[0][0] = 0;
    return R;
}

/* Where the elements of one channel come from: the variables in the order they first appear, for
 * each the first element seen and the axes along which its elements differ, and the constants. */
typedef struct channel_sources {
    size_t n;
    size_t order[H5P_PLAN_MAX_VARS];
    int seen[H5P_PLAN_MAX_VARS];
    uint32_t first[H5P_PLAN_MAX_VARS];
    unsigned varies[H5P_PLAN_MAX_VARS]; /* bit d: axis d of the variable's sample */
    uint64_t constants;
    double value;                      /* the first constant */
    int values_differ;
} channel_sources;

/* The axes of one sample of v on which its elements a and b differ (bit d: axis d). */
static unsigned differing_axes(const h5p_plan_var *v, uint64_t a, uint64_t b)
{
    unsigned bits = 0;
    for (int d = v->rank - 1; d >= 0; d--) {
        bits |= (unsigned)(a % v->shape[d] != b % v->shape[d]) << d;
        a /= v->shape[d], b /= v->shape[d];
    }
    return bits;
}

/* "hl_inputs[:,0]": v indexed on one sample, numpy style: the index where every element of the
 * channel has the same, ':' where they differ, trailing ':' left out. */
static void put_var_label(FILE *m, const h5p_plan_var *v, uint64_t first, unsigned varies)
{
    uint64_t idx[H5PREP_MAX_RANK];
    for (int d = v->rank - 1; d >= 0; d--)
        idx[d] = first % v->shape[d], first /= v->shape[d];
    int last = v->rank;
    while (last > 0 && (varies >> (last - 1) & 1))
        last--;
    fputs(v->name, m);
    for (int d = 0; d < last; d++) {
        fputc(d ? ',' : '[', m);
        if (varies >> d & 1)
            fputc(':', m);
        else
            fprintf(m, "%" PRIu64, idx[d]);
    }
    if (last > 0)
        fputc(']', m);
}

/* The label of a channel (channel_json), malloc'd; NULL when out of memory. */
static char *channel_label(const h5p_plan *p, const channel_sources *cs)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m)
        return NULL;
    for (size_t k = 0; k < cs->n; k++) {
        size_t v = cs->order[k];
        if (k)
            fputc('|', m);
        put_var_label(m, &p->vars[v], cs->first[v], cs->varies[v]);
    }
    if (cs->n == 0 && cs->constants && !cs->values_differ) {
        char t[32]; /* the shortest text that reads back as the value */
        for (int digits = 15; digits <= 17; digits++) {
            snprintf(t, sizeof t, "%.*g", digits, cs->value);
            if (strtod(t, NULL) == cs->value)
                break;
        }
        fprintf(m, "constant %s", t);
    } else if (cs->n == 0) {
        fputs("constant", m);
    }
    if (fclose(m) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* The sources of channel c of po, whose channel axis splits a sample into [outer][len][inner]. */
static void channel_scan(const h5p_plan *p, const h5p_plan_output *po, uint64_t c, uint64_t outer, uint64_t len,
                         uint64_t inner, channel_sources *cs)
{
    memset(cs, 0, sizeof *cs);
    for (uint64_t o = 0; o < outer; o++)
        for (uint64_t i = 0; i < inner; i++) {
            uint64_t j = (o * len + c) * inner + i;
            uint32_t v = po->vidx[j];
            double x = po->value[j];
            if (v == p->nvars && cs->constants++ == 0)
                cs->value = x;
            else if (v == p->nvars)
                cs->values_differ |= !(x == cs->value || (isnan(x) && isnan(cs->value)));
            else if (!cs->seen[v]) {
                cs->seen[v] = 1;
                cs->order[cs->n++] = v;
                cs->first[v] = po->sidx[j];
            } else {
                cs->varies[v] |= differing_axes(&p->vars[v], cs->first[v], po->sidx[j]);
            }
        }
}

/* {"axis", "dim", "count", "labels"} of output o's channel axis (plan.h's channel_axis): one label
 * per channel saying where its values come from (channel_label), or "labels_omitted" instead of
 * labels beyond MAX_CHANNEL_LABELS channels. NULL when out of memory. */
static json_t *channels_json(const h5p_plan *p, const h5p_plan_output *po, const char *dim)
{
    int ax = po->channel_axis;
    uint64_t outer = 1, len = po->shape[ax], inner = 1;
    for (int d = 0; d < ax; d++)
        outer *= po->shape[d];
    for (int d = ax + 1; d < po->rank; d++)
        inner *= po->shape[d];
    json_t *ch = json_pack("{s:i, s:s, s:I}", "axis", ax + 1, "dim", dim, "count", (json_int_t)len);
    if (ch && len > MAX_CHANNEL_LABELS) {
        if (json_object_set_new(ch, "labels_omitted", json_sprintf("more than %d channels", MAX_CHANNEL_LABELS)) != 0) {
            json_decref(ch);
            return NULL;
        }
        return ch;
    }
    json_t *labels = ch ? json_array() : NULL;
    channel_sources *cs = labels ? malloc(sizeof *cs) : NULL;
    int fail = !cs;
    for (uint64_t c = 0; !fail && c < len; c++) {
        channel_scan(p, po, c, outer, len, inner, cs);
        char *text = channel_label(p, cs);
        fail = !text || json_array_append_new(labels, json_string(text)) != 0;
        free(text);
    }
    free(cs);
    if (fail)
        json_decref(labels);
    if (fail || json_object_set_new(ch, "labels", labels) != 0) { /* set_new releases labels */
        json_decref(ch);
        return NULL;
    }
    return ch;
}

const char *h5p_norm_name(h5p_norm_kind k)
{
    return k == H5P_NORM_ZSCORE ? "zscore" : k == H5P_NORM_MINMAX ? "minmax" : k == H5P_NORM_ROBUST ? "robust"
         : k == H5P_NORM_QUANTILE ? "quantile" : "none";
}

h5prep_status h5p_describe_output(const h5p_plan *p, size_t o, json_t *factors, json_t **meta,
                                  h5p_output_labels *lab)
{
    const h5p_plan_output *po = &p->outs[o];
    const h5p_output *spec = po->spec;
    memset(lab, 0, sizeof *lab);
    *meta = NULL;
    const char *one = one_variable(spec->expr);
    const h5p_plan_var *pv = one ? plan_var(p, one) : NULL;
    h5p_labels in;
    memset(&in, 0, sizeof in);
    if (pv)
        h5p_var_labels(&pv->var, &in);
    axis_names *names = malloc(sizeof *names);
    RETURN_ERROR_IF(!names, H5PREP_ERR_NOMEM, "out of memory");
    int R = expr_axes(p, spec->expr, *names);
    snprintf(lab->dims[0], sizeof lab->dims[0], "sample");
    for (int a = 1; a <= po->rank; a++) {
        const char *dn = R == po->rank + 1 ? (*names)[a] : "";
        int taken = strcmp(dn, "sample") == 0;
        for (int b = 1; b < a && !taken; b++) /* an axis name appears once in an output */
            taken = strcmp(lab->dims[b], dn) == 0;
        if (*dn && !taken)
            snprintf(lab->dims[a], sizeof lab->dims[a], "%s", dn);
        else
            snprintf(lab->dims[a], sizeof lab->dims[a], "%s_dim%d", spec->name, a);
    }
    free(names);
    if (pv && spec->norm == H5P_NORM_NONE)
        snprintf(lab->units, sizeof lab->units, "%s", in.units);
    if (pv)
        snprintf(lab->long_name, sizeof lab->long_name, "%s", in.long_name);

    json_t *norm = json_pack("{s:s}", "method", h5p_norm_name(spec->norm));
    if (norm && spec->norm != H5P_NORM_NONE) {
        json_t *keep = json_array();
        for (int a = 0; keep && a < po->keep_count; a++)
            json_array_append_new(keep, json_integer(po->keep_first + a));
        json_object_set_new(norm, "keep_axes", keep);
        json_object_set(norm, "factors", factors);
    }
    json_t *dims = json_array();
    for (int a = 0; dims && a <= po->rank; a++)
        json_array_append_new(dims, json_string(lab->dims[a]));
    json_t *from = h5p_expr_json(spec->expr);
    if (!norm || !dims || !from) {
        json_decref(norm), json_decref(dims), json_decref(from);
        return h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    }
    /* json_pack takes its `o` arguments, also when it fails */
    json_t *m = json_pack("{s:o, s:o, s:s, s:o}", "from", from, "normalize", norm, "cast",
                          h5p_out_dtype_name(spec->dtype), "dims", dims);
    RETURN_ERROR_IF(!m, H5PREP_ERR_NOMEM, "out of memory");
    if (po->channel_axis >= 0 && po->elems > 0 &&
        json_object_set_new(m, "channels", channels_json(p, po, lab->dims[po->channel_axis + 1])) != 0) {
        json_decref(m);
        return h5p_fail(H5PREP_ERR_NOMEM, "out of memory for the channel labels of output '%s'", spec->name);
    }
    if (*lab->units)
        json_object_set_new(m, "units", json_string(lab->units));
    if (*lab->long_name)
        json_object_set_new(m, "long_name", json_string(lab->long_name));
    *meta = m;
    return H5PREP_OK;
}
