/* recipe.c: reads a transform recipe (YAML, through libyaml's document API) into an h5p_recipe,
 * checking everything that needs no data: keys, types, ops, variable names, split fractions. */
#include "plan/recipe.h"

#include "common/internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

enum {
    MAX_RECIPE_BYTES = 16 << 20, /* a recipe is a few hundred lines; more is a wrong file */
    MAX_EXPR_DEPTH = 64          /* also stops aliases that refer to their own ancestors */
};

typedef struct ctx {
    const char *path;
    yaml_document_t *doc;
    h5p_recipe *r;
} ctx;

/* ---- messages ----------------------------------------------------------------------------- */

static h5prep_status fail_at_pos(const char *path, size_t line0, size_t col0, h5prep_status st,
                                 const char *fmt, va_list ap) H5P_PRINTF(5, 0);
static h5prep_status fail_at_pos(const char *path, size_t line0, size_t col0, h5prep_status st,
                                 const char *fmt, va_list ap)
{
    char msg[1800];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return h5p_fail(st, "%s:%zu:%zu: %s", path, line0 + 1, col0 + 1, msg);
}

/* "<path>:<line>:<col>: <message>" at node n, H5PREP_ERR_USAGE. */
static h5prep_status fail_at(const ctx *c, const yaml_node_t *n, const char *fmt, ...) H5P_PRINTF(3, 4);
static h5prep_status fail_at(const ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    h5prep_status st = fail_at_pos(c->path, n->start_mark.line, n->start_mark.column, H5PREP_ERR_USAGE, fmt, ap);
    va_end(ap);
    return st;
}

static h5prep_status nomem(const ctx *c) { return h5p_fail(H5PREP_ERR_NOMEM, "%s: out of memory", c->path); }

/* What a node holds, for "found ..." in messages: the scalar as written, or its kind. */
static const char *found(const yaml_node_t *n, char *buf, size_t cap)
{
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    snprintf(buf, cap, "'%.60s%s'", (const char *)n->data.scalar.value, n->data.scalar.length > 60 ? "..." : "");
    return buf;
}

/* "a, b, c" from a NULL-terminated list, for "expected one of: ...". */
static const char *join(const char *const *names, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    for (size_t i = 0; names[i] && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", names[i]);
    return buf;
}

/* ---- node access -------------------------------------------------------------------------- */

static yaml_node_t *node_of(const ctx *c, int id) { return yaml_document_get_node(c->doc, id); }

static int is_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static const char *text(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

/* A value left empty or written null/~ counts as absent. */
static int is_null(const yaml_node_t *n)
{
    if (!is_plain(n))
        return 0;
    const char *s = text(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static size_t map_size(const yaml_node_t *m) { return (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start); }

/* The value of `key` in mapping m; NULL when absent or null. */
static yaml_node_t *get(const ctx *c, const yaml_node_t *m, const char *key)
{
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_of(c, p->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp(text(k), key)) {
            yaml_node_t *v = node_of(c, p->value);
            return is_null(v) ? NULL : v;
        }
    }
    return NULL;
}

/* Checks that n is a mapping whose keys are distinct scalars, each in `allowed` (NULL-terminated;
 * NULL allows any name). `where` names the mapping in messages. */
static h5prep_status check_keys(const ctx *c, const yaml_node_t *n, const char *where, const char *const *allowed)
{
    char buf[128], list[512];
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(c, n, "%s: expected a mapping, found %s", where, found(n, buf, sizeof buf));
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_of(c, p->key);
        if (k->type != YAML_SCALAR_NODE || strlen(text(k)) != k->data.scalar.length)
            return fail_at(c, k, "%s: keys must be plain names, found %s", where, found(k, buf, sizeof buf));
        if (allowed) {
            size_t i = 0;
            while (allowed[i] && strcmp(allowed[i], text(k)) != 0)
                i++;
            if (!allowed[i])
                return fail_at(c, k, "unknown key '%s' in %s (expected one of: %s)", text(k), where,
                               join(allowed, list, sizeof list));
        }
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *kq = node_of(c, q->key);
            if (!strcmp(text(kq), text(k)))
                return fail_at(c, k, "%s: key '%s' appears twice (first at %zu:%zu)", where, text(k),
                               kq->start_mark.line + 1, kq->start_mark.column + 1);
        }
    }
    return H5PREP_OK;
}

/* ---- scalars ------------------------------------------------------------------------------ */

/* A string value (any quoting) without NUL bytes, not empty. */
static h5prep_status read_str(const ctx *c, const yaml_node_t *n, const char *what, const char **out)
{
    char buf[128];
    if (n->type != YAML_SCALAR_NODE)
        return fail_at(c, n, "%s: expected a string, found %s", what, found(n, buf, sizeof buf));
    if (!n->data.scalar.length || strlen(text(n)) != n->data.scalar.length)
        return fail_at(c, n, "%s: expected a non-empty string without NUL bytes", what);
    *out = text(n);
    return H5PREP_OK;
}

static h5prep_status dup_str(const ctx *c, const yaml_node_t *n, const char *what, char **out)
{
    const char *s;
    FORWARD_IF_ERROR(read_str(c, n, what, &s));
    *out = h5p_strdup(s);
    return *out ? H5PREP_OK : nomem(c);
}

/* Numbers and booleans are plain scalars: in YAML a quoted "3" is a string. */
static h5prep_status read_i64(const ctx *c, const yaml_node_t *n, const char *what, int64_t lo, int64_t hi,
                              int64_t *out)
{
    char buf[128];
    if (is_plain(n) && *text(n)) {
        char *end;
        errno = 0;
        long long v = strtoll(text(n), &end, 10);
        if (!*end && errno == 0 && v >= lo && v <= hi) {
            *out = v;
            return H5PREP_OK;
        }
    }
    if (hi == INT64_MAX)
        return fail_at(c, n, "%s: expected an integer >= %lld, found %s", what, (long long)lo, found(n, buf, sizeof buf));
    return fail_at(c, n, "%s: expected an integer in [%lld, %lld], found %s", what, (long long)lo, (long long)hi,
                   found(n, buf, sizeof buf));
}

static h5prep_status read_u64(const ctx *c, const yaml_node_t *n, const char *what, uint64_t lo, uint64_t *out)
{
    char buf[128];
    if (is_plain(n) && *text(n) && *text(n) != '-') {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(text(n), &end, 10);
        if (!*end && errno == 0 && v >= lo) {
            *out = v;
            return H5PREP_OK;
        }
    }
    return fail_at(c, n, "%s: expected an unsigned integer >= %llu, found %s", what, (unsigned long long)lo,
                   found(n, buf, sizeof buf));
}

static h5prep_status read_int(const ctx *c, const yaml_node_t *n, const char *what, int lo, int hi, int *out)
{
    int64_t v;
    FORWARD_IF_ERROR(read_i64(c, n, what, lo, hi, &v));
    *out = (int)v;
    return H5PREP_OK;
}

/* An axis of an op: 1..MAX_RANK-1 or counted from the end; axis 0 holds the samples. */
static h5prep_status read_axis(const ctx *c, const yaml_node_t *n, const char *what, int *out)
{
    char buf[128];
    int64_t v = 0;
    if (read_i64(c, n, what, -(H5PREP_MAX_RANK - 1), H5PREP_MAX_RANK - 1, &v) != H5PREP_OK || v == 0)
        return fail_at(c, n, "%s: expected an axis in [1, %d] or [-%d, -1] (axis 0 holds the samples), found %s",
                       what, H5PREP_MAX_RANK - 1, H5PREP_MAX_RANK - 1, found(n, buf, sizeof buf));
    *out = (int)v;
    return H5PREP_OK;
}

static h5prep_status read_f64(const ctx *c, const yaml_node_t *n, const char *what, double *out)
{
    char buf[128];
    if (is_plain(n) && *text(n)) {
        const char *s = text(n);
        const char *t = (*s == '+' || *s == '-') ? s + 1 : s;
        if (!strcmp(t, ".inf") || !strcmp(t, ".Inf") || !strcmp(t, ".INF")) {
            *out = *s == '-' ? -INFINITY : INFINITY;
            return H5PREP_OK;
        }
        if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN")) {
            *out = NAN;
            return H5PREP_OK;
        }
        char *end;
        double v = strtod(s, &end);
        if (!*end) {
            *out = v;
            return H5PREP_OK;
        }
    }
    return fail_at(c, n, "%s: expected a number, found %s", what, found(n, buf, sizeof buf));
}

static int read_bool_text(const yaml_node_t *n, int *out)
{
    static const char *const t[] = {"true", "True", "TRUE"}, *const f[] = {"false", "False", "FALSE"};
    for (int i = 0; i < 3 && is_plain(n); i++) {
        if (!strcmp(text(n), t[i]) || !strcmp(text(n), f[i])) {
            *out = !strcmp(text(n), t[i]);
            return 1;
        }
    }
    return 0;
}

static h5prep_status read_bool(const ctx *c, const yaml_node_t *n, const char *what, int *out)
{
    char buf[128];
    if (!read_bool_text(n, out))
        return fail_at(c, n, "%s: expected true or false, found %s", what, found(n, buf, sizeof buf));
    return H5PREP_OK;
}

/* One of `names` (NULL-terminated); *out is its index. */
static h5prep_status read_enum(const ctx *c, const yaml_node_t *n, const char *what, const char *const *names,
                               int *out)
{
    char buf[128], list[256];
    if (n->type == YAML_SCALAR_NODE)
        for (int i = 0; names[i]; i++)
            if (!strcmp(text(n), names[i])) {
                *out = i;
                return H5PREP_OK;
            }
    return fail_at(c, n, "%s: expected one of: %s; found %s", what, join(names, list, sizeof list),
                   found(n, buf, sizeof buf));
}

/* Names that become file, directory or dataset names: [A-Za-z0-9_.-]+, not "." or "..". */
static h5prep_status check_name(const ctx *c, const yaml_node_t *n, const char *what)
{
    const char *s = text(n);
    int ok = *s && strcmp(s, ".") && strcmp(s, "..");
    for (const char *p = s; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
             *p == '.' || *p == '-';
    if (!ok)
        return fail_at(c, n, "%s: '%.60s' is not a valid name (letters, digits, '_', '.', '-'; not '.' or '..')",
                       what, s);
    return H5PREP_OK;
}

/* A required value: present and not null. */
static h5prep_status need(const ctx *c, const yaml_node_t *v, const yaml_node_t *at, const char *where, const char *key)
{
    if (!v)
        return fail_at(c, at, "%s: missing required key '%s'", where, key);
    return H5PREP_OK;
}

/* ---- inputs ------------------------------------------------------------------------------- */

/* Fails when `name` is already declared by an input before `in` or earlier in `in`. */
static h5prep_status check_unique_var(const ctx *c, const yaml_node_t *at, const h5p_input *in, const char *name)
{
    for (const h5p_input *o = c->r->inputs; o <= in; o++)
        for (size_t i = 0; i < o->nvars; i++)
            if (!strcmp(o->names[i], name))
                return fail_at(c, at, "variable '%s' is declared twice (first in the input at %d:%d)", name, o->line,
                               o->col);
    return H5PREP_OK;
}

static h5prep_status parse_files(const ctx *c, const yaml_node_t *n, h5p_input *in)
{
    char buf[128];
    if (n->type == YAML_MAPPING_NODE)
        return fail_at(c, n, "inputs.files: expected a file name or a list of them, found %s", found(n, buf, sizeof buf));
    size_t count = n->type == YAML_SCALAR_NODE ? 1 : (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (!count)
        return fail_at(c, n, "inputs.files: the list is empty");
    in->files = h5p_calloc(count, sizeof *in->files);
    if (!in->files)
        return nomem(c);
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *f = n->type == YAML_SCALAR_NODE ? n : node_of(c, n->data.sequence.items.start[i]);
        FORWARD_IF_ERROR(dup_str(c, f, "inputs.files", &in->files[i]));
        in->nfiles++;
    }
    return H5PREP_OK;
}

static h5prep_status parse_variables(const ctx *c, const yaml_node_t *n, h5p_input *in)
{
    char buf[128];
    int mapped = n->type == YAML_MAPPING_NODE;
    if (mapped)
        FORWARD_IF_ERROR(check_keys(c, n, "inputs.variables", NULL));
    else if (n->type != YAML_SEQUENCE_NODE)
        return fail_at(c, n, "inputs.variables: expected a list of names or a mapping name: /dataset/path, found %s",
                       found(n, buf, sizeof buf));
    size_t count = mapped ? map_size(n) : (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (!count)
        return fail_at(c, n, "inputs.variables: no variables are declared");
    in->names = h5p_calloc(count, sizeof *in->names);
    in->paths = h5p_calloc(count, sizeof *in->paths);
    if (!in->names || !in->paths)
        return nomem(c);
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *k = node_of(c, mapped ? n->data.mapping.pairs.start[i].key : n->data.sequence.items.start[i]);
        const char *name, *path;
        FORWARD_IF_ERROR(read_str(c, k, "inputs.variables", &name));
        FORWARD_IF_ERROR(check_unique_var(c, k, in, name));
        if (mapped) {
            const yaml_node_t *v = node_of(c, n->data.mapping.pairs.start[i].value);
            FORWARD_IF_ERROR(read_str(c, v, "inputs.variables", &path));
            if (path[0] != '/')
                return fail_at(c, v, "inputs.variables: the dataset path of '%s' must start with '/', found '%.60s'",
                               name, path);
        } else if (name[0] == '/') {
            return fail_at(c, k, "inputs.variables: '%.60s' is a path; name it with the mapping form "
                                 "(variables: {name: %.60s})", name, name);
        }
        size_t plen = mapped ? strlen(path) + 1 : strlen(name) + 2;
        in->names[i] = h5p_strdup(name);
        in->paths[i] = h5p_malloc(plen);
        if (!in->names[i] || !in->paths[i]) {
            free(in->names[i]);
            free(in->paths[i]);
            return nomem(c);
        }
        snprintf(in->paths[i], plen, mapped ? "%s" : "/%s", mapped ? path : name);
        in->nvars++;
    }
    return H5PREP_OK;
}

static h5prep_status parse_input(const ctx *c, const yaml_node_t *n, h5p_input *in)
{
    static const char *const keys[] = {"files", "variables", "per_file", NULL};
    in->line = (int)n->start_mark.line + 1;
    in->col = (int)n->start_mark.column + 1;
    FORWARD_IF_ERROR(check_keys(c, n, "inputs", keys));
    const yaml_node_t *files = get(c, n, "files"), *vars = get(c, n, "variables"), *pf = get(c, n, "per_file");
    FORWARD_IF_ERROR(need(c, files, n, "inputs", "files"));
    FORWARD_IF_ERROR(need(c, vars, n, "inputs", "variables"));
    FORWARD_IF_ERROR(parse_files(c, files, in));
    FORWARD_IF_ERROR(parse_variables(c, vars, in));
    if (pf)
        FORWARD_IF_ERROR(read_bool(c, pf, "inputs.per_file", &in->per_file));
    return H5PREP_OK;
}

static h5prep_status parse_inputs(const ctx *c, const yaml_node_t *n)
{
    h5p_recipe *r = c->r;
    char buf[128];
    if (n->type == YAML_SCALAR_NODE)
        return fail_at(c, n, "inputs: expected a list of input groups (files:, variables:), found %s",
                       found(n, buf, sizeof buf));
    int single = n->type == YAML_MAPPING_NODE;
    size_t count = single ? 1 : (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (!count)
        return fail_at(c, n, "inputs: the list is empty");
    r->inputs = h5p_calloc(count, sizeof *r->inputs);
    if (!r->inputs)
        return nomem(c);
    for (size_t i = 0; i < count; i++) {
        r->ninputs++; /* counted first so that h5p_recipe_free sees what is partly filled */
        FORWARD_IF_ERROR(parse_input(c, single ? n : node_of(c, n->data.sequence.items.start[i]), &r->inputs[i]));
    }
    return H5PREP_OK;
}

/* ---- expressions -------------------------------------------------------------------------- */

typedef struct op_info {
    const char *name;
    h5p_op_kind kind;
    const char *const *keys; /* NULL-terminated, "of" first */
} op_info;

static const char *const k_broadcast[] = {"of", "axis", "size", NULL};
static const char *const k_pad[] = {"of", "axis", "before", "after", "mode", "value", NULL};
static const char *const k_join[] = {"of", "axis", NULL};
static const char *const k_reshape[] = {"of", "shape", NULL};
static const char *const k_flatten[] = {"of", NULL};
static const char *const k_slice[] = {"of", "axis", "start", "stop", "step", NULL};
static const op_info OPS[] = {
    {"broadcast", H5P_OP_BROADCAST, k_broadcast}, {"pad", H5P_OP_PAD, k_pad},
    {"concat", H5P_OP_CONCAT, k_join},            {"stack", H5P_OP_STACK, k_join},
    {"reshape", H5P_OP_RESHAPE, k_reshape},       {"flatten", H5P_OP_FLATTEN, k_flatten},
    {"slice", H5P_OP_SLICE, k_slice},
};
static const char *const OP_NAMES[] = {"broadcast", "pad", "concat", "stack", "reshape", "flatten", "slice", NULL};

static void expr_free(h5p_expr *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nargs; i++)
        expr_free(e->args[i]);
    free(e->args);
    free(e->name);
    free(e);
}

static h5prep_status unknown_variable(const ctx *c, const yaml_node_t *n)
{
    char list[1200];
    size_t len = 0;
    list[0] = 0;
    for (size_t i = 0; i < c->r->ninputs; i++)
        for (size_t j = 0; j < c->r->inputs[i].nvars && len < sizeof list; j++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", c->r->inputs[i].names[j]);
    if (len >= sizeof list)
        memcpy(list + sizeof list - 4, "...", 4);
    return fail_at(c, n, "unknown variable '%.60s' (the inputs declare: %s)", text(n), list);
}

static h5prep_status parse_expr(const ctx *c, const yaml_node_t *n, int depth, h5p_expr **out);

static h5prep_status parse_args(const ctx *c, const op_info *op, const yaml_node_t *of, int depth, h5p_expr *e)
{
    char buf[128], where[32];
    int many = op->kind == H5P_OP_CONCAT || op->kind == H5P_OP_STACK;
    snprintf(where, sizeof where, "%s.of", op->name);
    if (many && of->type != YAML_SEQUENCE_NODE)
        return fail_at(c, of, "%s: expected a list of expressions, found %s", where, found(of, buf, sizeof buf));
    if (!many && of->type == YAML_SEQUENCE_NODE)
        return fail_at(c, of, "%s: expected one expression, found a list", where);
    size_t count = many ? (size_t)(of->data.sequence.items.top - of->data.sequence.items.start) : 1;
    if (!count)
        return fail_at(c, of, "%s: the list is empty", where);
    e->args = h5p_calloc(count, sizeof *e->args);
    if (!e->args)
        return nomem(c);
    for (size_t i = 0; i < count; i++) {
        e->nargs++;
        FORWARD_IF_ERROR(parse_expr(c, many ? node_of(c, of->data.sequence.items.start[i]) : of, depth + 1, &e->args[i]));
    }
    return H5PREP_OK;
}

static h5prep_status parse_shape(const ctx *c, const yaml_node_t *n, h5p_expr *e)
{
    char buf[128];
    if (n->type != YAML_SEQUENCE_NODE)
        return fail_at(c, n, "reshape.shape: expected a list of sizes, found %s", found(n, buf, sizeof buf));
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count < 1 || count > H5PREP_MAX_RANK - 1)
        return fail_at(c, n, "reshape.shape: expected 1 to %d sizes (the per-sample shape), found %zu",
                       H5PREP_MAX_RANK - 1, count);
    int inferred = 0;
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *s = node_of(c, n->data.sequence.items.start[i]);
        int64_t v;
        FORWARD_IF_ERROR(read_i64(c, s, "reshape.shape", -1, INT64_MAX, &v));
        if (v == 0)
            return fail_at(c, s, "reshape.shape: expected a size >= 1 or -1, found 0");
        if (v == -1 && inferred++)
            return fail_at(c, s, "reshape.shape: at most one size may be -1");
        e->shape[i] = v;
    }
    e->nshape = (int)count;
    return H5PREP_OK;
}

/* Reads the op's parameters from `params` (NULL in the shorthand `op: EXPR`); `at` is the op's key. */
static h5prep_status parse_params(const ctx *c, const op_info *op, const yaml_node_t *params,
                                  const yaml_node_t *at, h5p_expr *e)
{
    char what[32];
#define PARAM(key) (params ? get(c, params, key) : NULL)
#define WHAT(key) (snprintf(what, sizeof what, "%s.%s", op->name, key), what)
    const yaml_node_t *v;
    if (op->kind != H5P_OP_RESHAPE && op->kind != H5P_OP_FLATTEN) {
        v = PARAM("axis");
        if (!v)
            return fail_at(c, at, "%s: missing required key 'axis' (write %s: {of: ..., axis: N, ...})", op->name,
                           op->name);
        FORWARD_IF_ERROR(read_axis(c, v, WHAT("axis"), &e->axis));
    }
    switch (op->kind) {
    case H5P_OP_BROADCAST:
        v = PARAM("size");
        FORWARD_IF_ERROR(need(c, v, params ? params : at, "broadcast", "size"));
        return read_u64(c, v, WHAT("size"), 1, &e->size);
    case H5P_OP_PAD:
        if ((v = PARAM("before")))
            FORWARD_IF_ERROR(read_u64(c, v, WHAT("before"), 0, &e->before));
        if ((v = PARAM("after")))
            FORWARD_IF_ERROR(read_u64(c, v, WHAT("after"), 0, &e->after));
        if ((v = PARAM("mode"))) {
            static const char *const modes[] = {"constant", "edge", NULL};
            FORWARD_IF_ERROR(read_enum(c, v, WHAT("mode"), modes, &e->pad_edge));
        }
        if ((v = PARAM("value")))
            FORWARD_IF_ERROR(read_f64(c, v, WHAT("value"), &e->pad_value));
        return H5PREP_OK;
    case H5P_OP_RESHAPE:
        v = PARAM("shape");
        if (!v)
            return fail_at(c, at, "reshape: missing required key 'shape' (write reshape: {of: ..., shape: [...]})");
        return parse_shape(c, v, e);
    case H5P_OP_SLICE:
        e->stop = INT64_MAX;
        e->step = 1;
        if ((v = PARAM("start")))
            FORWARD_IF_ERROR(read_i64(c, v, WHAT("start"), INT64_MIN, INT64_MAX, &e->start));
        if ((v = PARAM("stop")))
            FORWARD_IF_ERROR(read_i64(c, v, WHAT("stop"), INT64_MIN, INT64_MAX, &e->stop));
        if ((v = PARAM("step")))
            FORWARD_IF_ERROR(read_i64(c, v, WHAT("step"), 1, INT64_MAX, &e->step));
        return H5PREP_OK;
    case H5P_OP_VAR:
    case H5P_OP_CONCAT:
    case H5P_OP_STACK:
    case H5P_OP_FLATTEN:
        return H5PREP_OK;
    }
#undef PARAM
#undef WHAT
    return H5PREP_OK;
}

/* EXPR: a variable name, or {op: {of: EXPR(s), params...}}, or {op: EXPR} for an op whose
 * parameters all have defaults. A mapping value is the op's parameters iff it has the key `of`. */
static h5prep_status parse_expr(const ctx *c, const yaml_node_t *n, int depth, h5p_expr **out)
{
    char list[128];
    *out = NULL;
    if (depth > MAX_EXPR_DEPTH)
        return fail_at(c, n, "expression nested deeper than %d ops", MAX_EXPR_DEPTH);
    if (n->type == YAML_SEQUENCE_NODE || is_null(n))
        return fail_at(c, n, "expected an expression (a variable name or {op: ...}), found %s",
                       is_null(n) ? "nothing" : "a list");
    h5p_expr *e = h5p_calloc(1, sizeof *e);
    if (!e)
        return nomem(c);
    *out = e;
    if (n->type == YAML_SCALAR_NODE) {
        e->kind = H5P_OP_VAR;
        e->line = (int)n->start_mark.line + 1;
        e->col = (int)n->start_mark.column + 1;
        for (size_t i = 0; i < c->r->ninputs; i++)
            for (size_t j = 0; j < c->r->inputs[i].nvars; j++)
                if (!strcmp(c->r->inputs[i].names[j], text(n)))
                    return (e->name = h5p_strdup(text(n))) ? H5PREP_OK : nomem(c);
        return unknown_variable(c, n);
    }
    FORWARD_IF_ERROR(check_keys(c, n, "an expression", NULL));
    if (map_size(n) != 1)
        return fail_at(c, n, "an expression mapping has exactly one key, the op (one of: %s); found %zu keys",
                       join(OP_NAMES, list, sizeof list), map_size(n));
    const yaml_node_t *key = node_of(c, n->data.mapping.pairs.start[0].key);
    const yaml_node_t *val = node_of(c, n->data.mapping.pairs.start[0].value);
    const op_info *op = NULL;
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
        if (!strcmp(OPS[i].name, text(key)))
            op = &OPS[i];
    if (!op)
        return fail_at(c, key, "unknown op '%.60s' (expected one of: %s)", text(key), join(OP_NAMES, list, sizeof list));
    e->kind = op->kind;
    e->line = (int)key->start_mark.line + 1;
    e->col = (int)key->start_mark.column + 1;
    const yaml_node_t *params = NULL, *of = val;
    if (val->type == YAML_MAPPING_NODE && get(c, val, "of")) {
        params = val;
        FORWARD_IF_ERROR(check_keys(c, params, op->name, op->keys));
        of = get(c, params, "of");
    } else if (is_null(val)) {
        return fail_at(c, key, "%s: missing its operand (write %s: {of: ...})", op->name, op->name);
    } else if (val->type == YAML_MAPPING_NODE && map_size(val)) {
        /* {axis: 1, ...} without `of` is the op's parameters with the operand forgotten */
        const yaml_node_t *first = node_of(c, val->data.mapping.pairs.start[0].key);
        for (size_t i = 1; op->keys[i] && first->type == YAML_SCALAR_NODE; i++)
            if (!strcmp(text(first), op->keys[i]))
                return fail_at(c, val, "%s: missing required key 'of'", op->name);
    }
    FORWARD_IF_ERROR(parse_args(c, op, of, depth, e));
    return parse_params(c, op, params, key, e);
}

/* ---- outputs ------------------------------------------------------------------------------ */

static const char *const NORM_NAMES[] = {"none", "zscore", "minmax", NULL};
static const char *const DTYPE_NAMES[] = {"float32", "float64", "float16", "bfloat16", NULL};

/* keep_axes: none, one axis, or a list of consecutive axes (increasing). */
static h5prep_status read_keep_axes(const ctx *c, const yaml_node_t *n, const char *what, h5p_output *o)
{
    if (is_plain(n) && !strcmp(text(n), "none")) {
        o->keep_first = 0;
        o->keep_count = 0;
        return H5PREP_OK;
    }
    if (n->type != YAML_SEQUENCE_NODE) {
        FORWARD_IF_ERROR(read_axis(c, n, what, &o->keep_first));
        o->keep_count = 1;
        return H5PREP_OK;
    }
    int count = (int)(n->data.sequence.items.top - n->data.sequence.items.start), prev = 0;
    if (count == 0)
        return fail_at(c, n, "%s: expected axes such as [1] or [-2, -1], or none; found an empty list", what);
    for (int i = 0; i < count; i++) {
        const yaml_node_t *item = node_of(c, n->data.sequence.items.start[i]);
        int a = 0;
        FORWARD_IF_ERROR(read_axis(c, item, what, &a));
        if (i > 0 && a != prev + 1)
            return fail_at(c, item, "%s: kept axes must be consecutive and increasing ([1, 2] or [-2, -1]), found %d after %d",
                           what, a, prev);
        if (i == 0)
            o->keep_first = a;
        prev = a;
    }
    o->keep_count = count;
    return H5PREP_OK;
}

static h5prep_status parse_normalize(const ctx *c, const yaml_node_t *n, const char *oname, h5p_output *o)
{
    static const char *const keys[] = {"method", "keep_axes", "stats", NULL};
    char what[160];
    int k;
    if (n->type != YAML_MAPPING_NODE) {
        snprintf(what, sizeof what, "outputs.%s.normalize", oname);
        FORWARD_IF_ERROR(read_enum(c, n, what, NORM_NAMES, &k));
        o->norm = (h5p_norm_kind)k;
        return H5PREP_OK;
    }
    snprintf(what, sizeof what, "outputs.%s.normalize", oname);
    FORWARD_IF_ERROR(check_keys(c, n, what, keys));
    const yaml_node_t *m = get(c, n, "method"), *ka = get(c, n, "keep_axes"), *st = get(c, n, "stats");
    FORWARD_IF_ERROR(need(c, m, n, what, "method"));
    snprintf(what, sizeof what, "outputs.%s.normalize.method", oname);
    FORWARD_IF_ERROR(read_enum(c, m, what, NORM_NAMES, &k));
    o->norm = (h5p_norm_kind)k;
    if (ka) {
        snprintf(what, sizeof what, "outputs.%s.normalize.keep_axes", oname);
        FORWARD_IF_ERROR(read_keep_axes(c, ka, what, o));
    }
    if (st) {
        snprintf(what, sizeof what, "outputs.%s.normalize.stats", oname);
        FORWARD_IF_ERROR(dup_str(c, st, what, &o->stats_path));
    }
    return H5PREP_OK;
}

static h5prep_status parse_output(const ctx *c, const yaml_node_t *key, const yaml_node_t *n, h5p_output *o)
{
    static const char *const keys[] = {"from", "normalize", "cast", NULL};
    char where[160];
    o->line = (int)key->start_mark.line + 1;
    o->col = (int)key->start_mark.column + 1;
    o->keep_first = H5PREP_KEEP_DEFAULT;
    o->keep_count = 1;
    FORWARD_IF_ERROR(check_name(c, key, "outputs"));
    if (!(o->name = h5p_strdup(text(key))))
        return nomem(c);
    snprintf(where, sizeof where, "outputs.%s", o->name);
    if (is_null(n))
        return fail_at(c, key, "%s: missing required key 'from'", where);
    FORWARD_IF_ERROR(check_keys(c, n, where, keys));
    const yaml_node_t *from = get(c, n, "from"), *norm = get(c, n, "normalize"), *cast = get(c, n, "cast");
    FORWARD_IF_ERROR(need(c, from, n, where, "from"));
    FORWARD_IF_ERROR(parse_expr(c, from, 0, &o->expr));
    if (norm)
        FORWARD_IF_ERROR(parse_normalize(c, norm, o->name, o));
    if (cast) {
        int k;
        snprintf(where, sizeof where, "outputs.%s.cast", o->name);
        FORWARD_IF_ERROR(read_enum(c, cast, where, DTYPE_NAMES, &k));
        o->dtype = (h5p_out_dtype)k;
    }
    return H5PREP_OK;
}

static h5prep_status parse_outputs(const ctx *c, const yaml_node_t *n)
{
    h5p_recipe *r = c->r;
    FORWARD_IF_ERROR(check_keys(c, n, "outputs", NULL));
    if (!map_size(n))
        return fail_at(c, n, "outputs: no outputs are defined");
    r->outputs = h5p_calloc(map_size(n), sizeof *r->outputs);
    if (!r->outputs)
        return nomem(c);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        r->noutputs++;
        FORWARD_IF_ERROR(parse_output(c, node_of(c, p->key), node_of(c, p->value), &r->outputs[r->noutputs - 1]));
    }
    return H5PREP_OK;
}

/* ---- split -------------------------------------------------------------------------------- */

static h5prep_status parse_fractions(const ctx *c, const yaml_node_t *n, h5p_split_spec *s)
{
    FORWARD_IF_ERROR(check_keys(c, n, "split.fractions", NULL));
    size_t count = map_size(n);
    if (count < 1 || count > H5P_MAX_SPLITS)
        return fail_at(c, n, "split.fractions: expected 1 to %d splits, found %zu", H5P_MAX_SPLITS, count);
    double sum = 0;
    char terms[1024];
    size_t len = 0;
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *k = node_of(c, n->data.mapping.pairs.start[i].key);
        const yaml_node_t *v = node_of(c, n->data.mapping.pairs.start[i].value);
        char what[96];
        FORWARD_IF_ERROR(check_name(c, k, "split.fractions"));
        snprintf(what, sizeof what, "split.fractions.%s", text(k));
        FORWARD_IF_ERROR(read_f64(c, v, what, &s->fractions[i]));
        if (!(s->fractions[i] >= 0 && s->fractions[i] <= 1))
            return fail_at(c, v, "%s: expected a fraction in [0, 1], found '%s'", what, text(v));
        if (!(s->names[i] = h5p_strdup(text(k))))
            return nomem(c);
        s->nsplits++;
        sum += s->fractions[i];
        if (len < sizeof terms)
            len += (size_t)snprintf(terms + len, sizeof terms - len, "%s%s %s", i ? " + " : "", text(k), text(v));
    }
    if (fabs(sum - 1) > 1e-9)
        return fail_at(c, n, "split.fractions sum to %.12g, not 1 (%s)", sum, terms);
    return H5PREP_OK;
}

static h5prep_status parse_split(const ctx *c, const yaml_node_t *n, h5p_split_spec *s)
{
    static const char *const keys[] = {"fractions", "seed", "group_by", "shuffle", "normalize_with", NULL};
    char buf[128], list[256];
    FORWARD_IF_ERROR(check_keys(c, n, "split", keys));
    const yaml_node_t *fr = get(c, n, "fractions"), *seed = get(c, n, "seed"), *gb = get(c, n, "group_by"),
                      *sh = get(c, n, "shuffle"), *nw = get(c, n, "normalize_with");
    FORWARD_IF_ERROR(need(c, fr, n, "split", "fractions"));
    FORWARD_IF_ERROR(parse_fractions(c, fr, s));
    if (seed)
        FORWARD_IF_ERROR(read_u64(c, seed, "split.seed", 0, &s->seed));
    if (gb && gb->type == YAML_MAPPING_NODE) {
        static const char *const gkeys[] = {"rows", NULL};
        FORWARD_IF_ERROR(check_keys(c, gb, "split.group_by", gkeys));
        const yaml_node_t *rows = get(c, gb, "rows");
        FORWARD_IF_ERROR(need(c, rows, gb, "split.group_by", "rows"));
        FORWARD_IF_ERROR(read_u64(c, rows, "split.group_by.rows", 1, &s->group_rows));
        s->group_by = H5P_GROUP_ROWS;
    } else if (gb) {
        static const char *const kinds[] = {"none", "file", NULL};
        int k;
        if (read_enum(c, gb, "split.group_by", kinds, &k) != H5PREP_OK)
            return fail_at(c, gb, "split.group_by: expected none, file or {rows: K}; found %s", found(gb, buf, sizeof buf));
        s->group_by = k ? H5P_GROUP_FILE : H5P_GROUP_NONE;
    }
    if (sh)
        FORWARD_IF_ERROR(read_bool(c, sh, "split.shuffle", &s->shuffle));
    if (nw) {
        const char *name;
        FORWARD_IF_ERROR(read_str(c, nw, "split.normalize_with", &name));
        if (!strcmp(name, "all")) {
            s->stats_split = -1;
            return H5PREP_OK;
        }
        for (int i = 0; i < s->nsplits; i++)
            if (!strcmp(s->names[i], name)) {
                s->stats_split = i;
                return H5PREP_OK;
            }
        const char *names[H5P_MAX_SPLITS + 1] = {0};
        memcpy(names, s->names, (size_t)s->nsplits * sizeof *names);
        return fail_at(c, nw, "split.normalize_with: '%.60s' is not a split (expected all or one of: %s)", name,
                       join(names, list, sizeof list));
    }
    for (int i = 0; i < s->nsplits; i++)
        if (!strcmp(s->names[i], "train"))
            s->stats_split = i;
    return H5PREP_OK;
}

/* ---- write -------------------------------------------------------------------------------- */

/* `key: true|false|{params}`; a mapping turns the format on. Returns the mapping or NULL. */
static h5prep_status read_switch(const ctx *c, const yaml_node_t *n, const char *what, int *on, const yaml_node_t **params)
{
    char buf[128];
    *params = NULL;
    if (n->type == YAML_MAPPING_NODE) {
        *on = 1;
        *params = n;
        return H5PREP_OK;
    }
    if (!read_bool_text(n, on))
        return fail_at(c, n, "%s: expected true, false or a mapping of options, found %s", what, found(n, buf, sizeof buf));
    return H5PREP_OK;
}

static h5prep_status parse_write(const ctx *c, const yaml_node_t *n, h5p_write_spec *w)
{
    static const char *const keys[] = {"dir", "hdf5", "npy", NULL};
    static const char *const hkeys[] = {"chunk_rows", "gzip", NULL}, *const nkeys[] = {"shard_rows", NULL};
    FORWARD_IF_ERROR(check_keys(c, n, "write", keys));
    const yaml_node_t *dir = get(c, n, "dir"), *h5 = get(c, n, "hdf5"), *npy = get(c, n, "npy"), *p, *v;
    if (dir)
        FORWARD_IF_ERROR(dup_str(c, dir, "write.dir", &w->dir));
    if (h5) {
        FORWARD_IF_ERROR(read_switch(c, h5, "write.hdf5", &w->hdf5, &p));
        if (p) {
            FORWARD_IF_ERROR(check_keys(c, p, "write.hdf5", hkeys));
            if ((v = get(c, p, "chunk_rows")))
                FORWARD_IF_ERROR(read_u64(c, v, "write.hdf5.chunk_rows", 1, &w->chunk_rows));
            if ((v = get(c, p, "gzip")))
                FORWARD_IF_ERROR(read_int(c, v, "write.hdf5.gzip", 0, 9, &w->gzip));
        }
    }
    if (npy) {
        FORWARD_IF_ERROR(read_switch(c, npy, "write.npy", &w->npy, &p));
        if (p) {
            FORWARD_IF_ERROR(check_keys(c, p, "write.npy", nkeys));
            if ((v = get(c, p, "shard_rows")))
                FORWARD_IF_ERROR(read_u64(c, v, "write.npy.shard_rows", 0, &w->shard_rows));
        }
    }
    if (!w->hdf5 && !w->npy)
        return fail_at(c, n, "write: both hdf5 and npy are off; nothing would be written");
    return H5PREP_OK;
}

/* ---- file and document -------------------------------------------------------------------- */

static h5prep_status parse_root(const ctx *c, const yaml_node_t *root)
{
    static const char *const keys[] = {"inputs", "outputs", "split", "write", NULL};
    h5p_recipe *r = c->r;
    FORWARD_IF_ERROR(check_keys(c, root, "the recipe", keys));
    const yaml_node_t *in = get(c, root, "inputs"), *out = get(c, root, "outputs"), *sp = get(c, root, "split"),
                      *wr = get(c, root, "write");
    FORWARD_IF_ERROR(need(c, in, root, "the recipe", "inputs"));
    FORWARD_IF_ERROR(need(c, out, root, "the recipe", "outputs"));
    FORWARD_IF_ERROR(need(c, wr, root, "the recipe", "write"));
    FORWARD_IF_ERROR(parse_inputs(c, in));
    FORWARD_IF_ERROR(parse_outputs(c, out));
    r->split.shuffle = 1;
    if (sp) {
        FORWARD_IF_ERROR(parse_split(c, sp, &r->split));
    } else { /* no split: one split of every row, in input order */
        r->split.shuffle = 0;
        r->split.nsplits = 1;
        r->split.fractions[0] = 1;
        if (!(r->split.names[0] = h5p_strdup("all")))
            return nomem(c);
    }
    r->write.hdf5 = 1;
    return parse_write(c, wr, &r->write);
}

/* The whole file: libyaml's reader errors carry a byte offset, turned into a line here. */
static h5prep_status read_file(const char *path, unsigned char **buf, size_t *len)
{
    struct stat sb;
    *buf = NULL;
    if (stat(path, &sb) != 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return h5p_fail(H5PREP_ERR_FILE_NOT_FOUND, "%s: recipe not found", path);
        return h5p_fail(H5PREP_ERR_USAGE, "%s: cannot read the recipe: %s", path, strerror(e));
    }
    RETURN_ERROR_IF(!S_ISREG(sb.st_mode), H5PREP_ERR_USAGE, "%s: the recipe is not a regular file", path);
    RETURN_ERROR_IF(sb.st_size > MAX_RECIPE_BYTES, H5PREP_ERR_USAGE, "%s: %lld bytes is too large for a recipe",
                    path, (long long)sb.st_size);
    FILE *f = fopen(path, "rb");
    if (!f)
        return h5p_fail(H5PREP_ERR_USAGE, "%s: cannot read the recipe: %s", path, strerror(errno));
    *buf = h5p_malloc((size_t)sb.st_size);
    if (!*buf) {
        fclose(f);
        return h5p_fail(H5PREP_ERR_NOMEM, "%s: out of memory", path);
    }
    *len = fread(*buf, 1, (size_t)sb.st_size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || *len != (size_t)sb.st_size) {
        free(*buf);
        *buf = NULL;
        return h5p_fail(H5PREP_ERR_USAGE, "%s: cannot read the recipe", path);
    }
    return H5PREP_OK;
}

static h5prep_status yaml_error(const char *path, const yaml_parser_t *p, const unsigned char *buf, size_t len)
{
    if (p->error == YAML_MEMORY_ERROR)
        return h5p_fail(H5PREP_ERR_NOMEM, "%s: out of memory", path);
    size_t line = p->problem_mark.line, col = p->problem_mark.column;
    if (p->error == YAML_READER_ERROR) {
        line = col = 0;
        for (size_t i = 0; i < p->problem_offset && i < len; i++, col++)
            if (buf[i] == '\n')
                line++, col = (size_t)-1;
        return h5p_fail(H5PREP_ERR_USAGE, "%s:%zu:%zu: %s (byte 0x%02x)", path, line + 1, col + 1,
                        p->problem ? p->problem : "cannot read", (unsigned)p->problem_value & 0xffu);
    }
    if (p->context)
        return h5p_fail(H5PREP_ERR_USAGE, "%s:%zu:%zu: %s (%s at %zu:%zu)", path, line + 1, col + 1,
                        p->problem ? p->problem : "invalid YAML", p->context, p->context_mark.line + 1,
                        p->context_mark.column + 1);
    return h5p_fail(H5PREP_ERR_USAGE, "%s:%zu:%zu: %s", path, line + 1, col + 1, p->problem ? p->problem : "invalid YAML");
}

/* Loads the single document of buf into doc (deleted by the caller on success). */
static h5prep_status load_document(const char *path, const unsigned char *buf, size_t len, yaml_document_t *doc)
{
    yaml_parser_t p;
    RETURN_ERROR_IF(!yaml_parser_initialize(&p), H5PREP_ERR_NOMEM, "%s: out of memory", path);
    yaml_parser_set_input_string(&p, buf, len);
    if (!yaml_parser_load(&p, doc)) {
        h5prep_status st = yaml_error(path, &p, buf, len);
        yaml_parser_delete(&p);
        return st;
    }
    yaml_document_t extra;
    h5prep_status st = H5PREP_OK;
    if (!yaml_parser_load(&p, &extra)) {
        st = yaml_error(path, &p, buf, len);
    } else {
        if (yaml_document_get_root_node(&extra))
            st = h5p_fail(H5PREP_ERR_USAGE, "%s:%zu:%zu: a recipe is one YAML document; a second one starts here",
                          path, extra.start_mark.line + 1, extra.start_mark.column + 1);
        yaml_document_delete(&extra);
    }
    if (st == H5PREP_OK && !yaml_document_get_root_node(doc))
        st = h5p_fail(H5PREP_ERR_USAGE, "%s:1:1: the recipe is empty (expected inputs:, outputs:, write:)", path);
    if (st != H5PREP_OK)
        yaml_document_delete(doc);
    yaml_parser_delete(&p);
    return st;
}

h5prep_status h5p_recipe_load(const char *path, h5p_recipe **out)
{
    *out = NULL;
    unsigned char *buf;
    size_t len = 0;
    FORWARD_IF_ERROR(read_file(path, &buf, &len));
    yaml_document_t doc;
    h5prep_status st = load_document(path, buf, len, &doc);
    free(buf);
    if (st != H5PREP_OK)
        return st;
    h5p_recipe *r = h5p_calloc(1, sizeof *r);
    if (!r || !(r->path = h5p_strdup(path))) {
        free(r);
        yaml_document_delete(&doc);
        return h5p_fail(H5PREP_ERR_NOMEM, "%s: out of memory", path);
    }
    ctx c = {path, &doc, r};
    st = parse_root(&c, yaml_document_get_root_node(&doc));
    yaml_document_delete(&doc);
    if (st != H5PREP_OK) {
        h5p_recipe_free(r);
        return st;
    }
    *out = r;
    return H5PREP_OK;
}

void h5p_recipe_free(h5p_recipe *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->ninputs; i++) {
        h5p_input *in = &r->inputs[i];
        for (size_t j = 0; j < in->nfiles; j++)
            free(in->files[j]);
        for (size_t j = 0; j < in->nvars; j++) {
            free(in->names[j]);
            free(in->paths[j]);
        }
        free(in->files);
        free(in->names);
        free(in->paths);
    }
    for (size_t i = 0; i < r->noutputs; i++) {
        expr_free(r->outputs[i].expr);
        free(r->outputs[i].name);
        free(r->outputs[i].stats_path);
    }
    for (int i = 0; i < r->split.nsplits; i++)
        free(r->split.names[i]);
    free(r->inputs);
    free(r->outputs);
    free(r->write.dir);
    free(r->path);
    free(r);
}
