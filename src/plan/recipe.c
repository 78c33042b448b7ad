/* recipe.c: reads a transform recipe (YAML, through libyaml's document API) into an h5p_recipe,
 * checking everything that needs no data: keys, types, ops, variable names, split fractions. */
#include "plan/recipe.h"

#include "common/internal.h"
#include "input/cf.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

/* Bounds on what a recipe may hold. A recipe is a few hundred lines; the bounds are far above
 * that, and low enough that a hostile file is refused in milliseconds: libyaml's scanner takes
 * time quadratic in the depth of flow collections ([[[...]]]), its loader compares each anchor
 * with every other, an alias stands for a whole subtree (a few lines of them can stand for 2^64
 * values, all of which the walk below would visit and plan.c would turn into index maps), and
 * duplicate keys and variable names are found by comparing all pairs. */
enum {
    MAX_RECIPE_BYTES = 16 << 20, /* a recipe is a few hundred lines; more is a wrong file */
    MAX_EXPR_DEPTH = 64,         /* ops within ops */
    MAX_NESTING = 256,           /* open collections, flow or block: an op takes up to 3 levels */
    MAX_NODES = 100000,          /* values (scalars and collections) with every alias expanded */
    MAX_ANCHORS = 1000,
    MAX_ALIASES = 1000,
    MAX_KEYS = 1024,             /* keys of one mapping */
    MAX_VARIABLES = 1024,        /* declared over all inputs */
    MAX_NAME = 200               /* bytes of an output or split name: "<name>-00000.npy" must fit NAME_MAX */
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
    const char *s = NULL;
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

/* Names that become file, directory or dataset names: [A-Za-z0-9_.-]+ of at most MAX_NAME bytes,
 * not starting with '.' (no "." or "..", no hidden files, nothing like the run's own ".staged-N"
 * files in the output directory). */
static h5prep_status check_name(const ctx *c, const yaml_node_t *n, const char *what)
{
    const char *s = text(n);
    int ok = *s && *s != '.' && strlen(s) == n->data.scalar.length;
    for (const char *p = s; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
             *p == '.' || *p == '-';
    if (!ok)
        return fail_at(c, n, "%s: '%.60s' is not a valid name (letters, digits, '_', '.', '-'; not starting with '.')",
                       what, s);
    if (n->data.scalar.length > MAX_NAME)
        return fail_at(c, n, "%s: '%.60s...' is %zu bytes long; a name has at most %d", what, s, n->data.scalar.length,
                       MAX_NAME);
    return H5PREP_OK;
}

/* Whether `name` is `base` followed by `suffix`, ignoring case (as some file systems do). */
static int is_base_plus(const char *name, const char *base, const char *suffix)
{
    size_t n = strlen(base);
    return !strncasecmp(name, base, n) && !strcasecmp(name + n, suffix);
}

/* Split names become <dir>/<split>.h5 and the directory <dir>/<split>/ of .npy shards, beside the
 * directory's own index.json, split.json, stats.json and the recipe. So that no two of them can be
 * one file, also where case is ignored, a split name is none of index, split, stats and recipe,
 * alone or followed by '.'; no two split names differ only in case; and no split is named like
 * another's HDF5 file. n is the mapping whose keys are s->names. */
static h5prep_status check_split_names(const ctx *c, const yaml_node_t *n, const char *what, const h5p_split_spec *s)
{
    static const char *const reserved[] = {"index", "split", "stats", "recipe", NULL};
    for (int i = 0; i < s->nsplits; i++) {
        const yaml_node_t *k = node_of(c, n->data.mapping.pairs.start[i].key);
        const char *a = s->names[i];
        for (int r = 0; reserved[r]; r++) {
            size_t len = strlen(reserved[r]);
            if (!strncasecmp(a, reserved[r], len) && (a[len] == 0 || a[len] == '.'))
                return fail_at(c, k, "%s: split name '%s' is reserved: the output directory holds "
                                     "index.json, split.json, stats.json and the recipe, so a split is not named "
                                     "index, split, stats or recipe, alone or followed by '.'", what, a);
        }
        for (int j = 0; j < i; j++) {
            const char *b = s->names[j];
            if (!strcasecmp(a, b))
                return fail_at(c, k, "%s: split names '%s' and '%s' differ only in case; their files "
                                     "would be one file where case is ignored", what, b, a);
            if (is_base_plus(a, b, ".h5") || is_base_plus(b, a, ".h5"))
                return fail_at(c, k, "%s: split '%s' is named like the HDF5 file of split '%s'", what,
                               is_base_plus(a, b, ".h5") ? a : b, is_base_plus(a, b, ".h5") ? b : a);
        }
    }
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

/* Whether an HDF5 path can name a dataset: HDF5 skips empty components and "." (the group
 * itself), so a path whose last such component is empty or "." names a group ("/", "/g/."). */
static int names_a_group(const char *path)
{
    const char *last = path + strlen(path);
    while (last > path && last[-1] == '/') /* "/g/x/" reads as "/g/x" */
        last--;
    const char *start = last;
    while (start > path && start[-1] != '/')
        start--;
    return start == last || (last - start == 1 && *start == '.');
}

/* Counts the variables declared by the inputs before `in` and by `in` so far. */
static size_t declared_vars(const ctx *c, const h5p_input *in)
{
    size_t total = 0;
    for (const h5p_input *o = c->r->inputs; o <= in; o++)
        total += o->nvars;
    return total;
}

/* Room for `count` more variables in `in` (names, paths, kinds, used, positions). */
static h5prep_status grow_vars(const ctx *c, h5p_input *in, size_t count)
{
    size_t n = in->nvars + count;
    char **names = realloc(in->names, n * sizeof *names);
    in->names = names ? names : in->names;
    char **paths = realloc(in->paths, n * sizeof *paths);
    in->paths = paths ? paths : in->paths;
    h5p_var_kind *kinds = realloc(in->kinds, n * sizeof *kinds);
    in->kinds = kinds ? kinds : in->kinds;
    int *used = realloc(in->used, n * sizeof *used);
    in->used = used ? used : in->used;
    int *lines = realloc(in->lines, n * sizeof *lines);
    in->lines = lines ? lines : in->lines;
    int *cols = realloc(in->cols, n * sizeof *cols);
    in->cols = cols ? cols : in->cols;
    return names && paths && kinds && used && lines && cols ? H5PREP_OK : nomem(c);
}

/* Declares variable `name` (at node k) of `kind` with source `src` as the next of `in`. */
static h5prep_status add_variable(const ctx *c, h5p_input *in, const yaml_node_t *k, const char *name, h5p_var_kind kind,
                                  const char *src)
{
    FORWARD_IF_ERROR(check_unique_var(c, k, in, name));
    size_t i = in->nvars;
    in->names[i] = h5p_strdup(name);
    in->paths[i] = h5p_strdup(src);
    if (!in->names[i] || !in->paths[i]) {
        free(in->names[i]);
        free(in->paths[i]);
        return nomem(c);
    }
    in->kinds[i] = kind;
    in->used[i] = 0;
    in->lines[i] = (int)k->start_mark.line + 1;
    in->cols[i] = (int)k->start_mark.column + 1;
    in->nvars++;
    return H5PREP_OK;
}

/* A mapped variable's value: "/dataset/path", {attribute: NAME} or {dataset: /PATH} (0-d). */
static h5prep_status parse_var_source(const ctx *c, const yaml_node_t *v, const char *name, h5p_var_kind *kind,
                                      const char **src)
{
    static const char *const keys[] = {"attribute", "dataset", NULL};
    *kind = H5P_VAR_DATASET;
    if (v->type == YAML_MAPPING_NODE) {
        FORWARD_IF_ERROR(check_keys(c, v, "inputs.variables", keys));
        const yaml_node_t *a = get(c, v, "attribute"), *d = get(c, v, "dataset");
        if (map_size(v) != 1 || (!a && !d))
            return fail_at(c, v, "inputs.variables.%s: expected one of {attribute: NAME} or {dataset: /PATH} (a value per "
                                 "file)", name);
        *kind = a ? H5P_VAR_ATTRIBUTE : H5P_VAR_SCALAR;
        v = a ? a : d;
    }
    FORWARD_IF_ERROR(read_str(c, v, "inputs.variables", src));
    if (*kind != H5P_VAR_ATTRIBUTE && (*src)[0] != '/')
        return fail_at(c, v, "inputs.variables: the dataset path of '%s' must start with '/', found '%.60s'", name, *src);
    if (*kind != H5P_VAR_ATTRIBUTE && names_a_group(*src))
        return fail_at(c, v, "inputs.variables: '%.60s' (dataset %.60s) names a group, never a dataset", name, *src);
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
    if (count > MAX_VARIABLES - declared_vars(c, in))
        return fail_at(c, n, "inputs.variables: more than %d variables are declared over all inputs", MAX_VARIABLES);
    FORWARD_IF_ERROR(grow_vars(c, in, count));
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *k = node_of(c, mapped ? n->data.mapping.pairs.start[i].key : n->data.sequence.items.start[i]);
        const char *name, *src;
        char path[1100];
        h5p_var_kind kind = H5P_VAR_DATASET;
        FORWARD_IF_ERROR(read_str(c, k, "inputs.variables", &name));
        if (mapped) {
            FORWARD_IF_ERROR(parse_var_source(c, node_of(c, n->data.mapping.pairs.start[i].value), name, &kind, &src));
        } else if (name[0] == '/') {
            return fail_at(c, k, "inputs.variables: '%.60s' is a path; name it with the mapping form "
                                 "(variables: {name: %.60s})", name, name);
        } else {
            snprintf(path, sizeof path, "/%s", name);
            if (strlen(name) >= sizeof path - 1)
                return fail_at(c, k, "inputs.variables: the name '%.60s...' is too long", name);
            src = path;
            if (names_a_group(src))
                return fail_at(c, k, "inputs.variables: '%.60s' (dataset %.60s) names a group, never a dataset", name, src);
        }
        FORWARD_IF_ERROR(add_variable(c, in, k, name, kind, src));
    }
    return H5PREP_OK;
}

/* catalog: {file: CSV, key: COLUMN, columns: [COLUMN, ...]}: each column a variable, one value
 * per file, from the row whose key names the file. */
static h5prep_status parse_catalog(const ctx *c, const yaml_node_t *n, h5p_input *in)
{
    static const char *const keys[] = {"file", "key", "columns", NULL};
    char buf[128];
    FORWARD_IF_ERROR(check_keys(c, n, "inputs.catalog", keys));
    const yaml_node_t *f = get(c, n, "file"), *k = get(c, n, "key"), *cols = get(c, n, "columns");
    FORWARD_IF_ERROR(need(c, f, n, "inputs.catalog", "file"));
    FORWARD_IF_ERROR(need(c, k, n, "inputs.catalog", "key"));
    FORWARD_IF_ERROR(need(c, cols, n, "inputs.catalog", "columns"));
    FORWARD_IF_ERROR(dup_str(c, f, "inputs.catalog.file", &in->catalog));
    FORWARD_IF_ERROR(dup_str(c, k, "inputs.catalog.key", &in->catalog_key));
    in->catalog_line = (int)n->start_mark.line + 1;
    in->catalog_col = (int)n->start_mark.column + 1;
    if (cols->type != YAML_SEQUENCE_NODE || cols->data.sequence.items.top == cols->data.sequence.items.start)
        return fail_at(c, cols, "inputs.catalog.columns: expected a list of column names, found %s",
                       found(cols, buf, sizeof buf));
    size_t count = (size_t)(cols->data.sequence.items.top - cols->data.sequence.items.start);
    if (count > MAX_VARIABLES - declared_vars(c, in))
        return fail_at(c, cols, "inputs.catalog.columns: more than %d variables are declared over all inputs", MAX_VARIABLES);
    FORWARD_IF_ERROR(grow_vars(c, in, count));
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *col = node_of(c, cols->data.sequence.items.start[i]);
        const char *name;
        FORWARD_IF_ERROR(read_str(c, col, "inputs.catalog.columns", &name));
        if (!strcmp(name, in->catalog_key))
            return fail_at(c, col, "inputs.catalog.columns: '%.60s' is the key column, which holds file names", name);
        FORWARD_IF_ERROR(add_variable(c, in, col, name, H5P_VAR_CATALOG, name));
    }
    return H5PREP_OK;
}

static h5prep_status parse_input(const ctx *c, const yaml_node_t *n, h5p_input *in)
{
    static const char *const keys[] = {"files", "variables", "catalog", "per_file", NULL};
    in->line = (int)n->start_mark.line + 1;
    in->col = (int)n->start_mark.column + 1;
    FORWARD_IF_ERROR(check_keys(c, n, "inputs", keys));
    const yaml_node_t *files = get(c, n, "files"), *vars = get(c, n, "variables"), *pf = get(c, n, "per_file"),
                      *cat = get(c, n, "catalog");
    FORWARD_IF_ERROR(need(c, files, n, "inputs", "files"));
    FORWARD_IF_ERROR(need(c, vars, n, "inputs", "variables"));
    FORWARD_IF_ERROR(parse_files(c, files, in));
    FORWARD_IF_ERROR(parse_variables(c, vars, in));
    if (cat)
        FORWARD_IF_ERROR(parse_catalog(c, cat, in));
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
                if (!strcmp(c->r->inputs[i].names[j], text(n))) {
                    c->r->inputs[i].used[j] = 1;
                    return (e->name = h5p_strdup(text(n))) ? H5PREP_OK : nomem(c);
                }
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

static const char *const NORM_NAMES[] = {"none", "zscore", "minmax", "robust", "quantile", NULL};
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

/* normalize.weights and weights_axis of output o (its method already read): parsed by the input
 * stage's parser, whose message then gets the key's place. Weights change the moments only: zscore
 * takes the weighted mean and std, minmax its min and max (never weighted); robust and quantile
 * come from the unweighted sketch, so they are refused, as is a weight without a method. */
static h5prep_status parse_weights(const ctx *c, const yaml_node_t *wn, const yaml_node_t *an, const char *oname,
                                   h5p_output *o)
{
    char key[160], what[192];
    snprintf(key, sizeof key, "outputs.%s.normalize", oname);
    if (!wn)
        return fail_at(c, an, "%s.weights_axis: given without %s.weights", key, key);
    snprintf(what, sizeof what, "%s.weights", key);
    const char *spec = NULL;
    FORWARD_IF_ERROR(read_str(c, wn, what, &spec));
    if (o->norm == H5P_NORM_NONE || o->norm == H5P_NORM_ROBUST || o->norm == H5P_NORM_QUANTILE) {
        fail_at(c, wn, "%s: normalize: %s cannot be weighted%s", what, NORM_NAMES[o->norm],
                o->norm == H5P_NORM_NONE ? " (nothing is normalized)" : ": its quantiles come from a sketch that is not weighted");
        return h5p_hint(H5PREP_ERR_USAGE, "weights go with zscore (the weighted mean and std) or minmax (min and max, which weights do not change)");
    }
    int64_t axis = -1;
    if (an) {
        snprintf(what, sizeof what, "%s.weights_axis", key);
        FORWARD_IF_ERROR(read_i64(c, an, what, 0, H5PREP_MAX_RANK - 1, &axis));
    }
    if (h5p_weights_parse(spec, (int)axis, key, &o->weights) != H5PREP_OK) {
        char msg[2048];
        h5p_error_save(msg, sizeof msg);
        return fail_at(c, wn, "%s", msg);
    }
    o->weights_line = (int)wn->start_mark.line + 1;
    o->weights_col = (int)wn->start_mark.column + 1;
    return H5PREP_OK;
}

static h5prep_status parse_normalize(const ctx *c, const yaml_node_t *n, const char *oname, h5p_output *o)
{
    static const char *const keys[] = {"method", "keep_axes", "stats", "weights", "weights_axis", NULL};
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
    const yaml_node_t *wn = get(c, n, "weights"), *an = get(c, n, "weights_axis");
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
    if (wn || an)
        FORWARD_IF_ERROR(parse_weights(c, wn, an, oname, o));
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
        const h5p_output *o = &r->outputs[r->noutputs++];
        FORWARD_IF_ERROR(parse_output(c, node_of(c, p->key), node_of(c, p->value), &r->outputs[r->noutputs - 1]));
        for (const h5p_output *q = r->outputs; q < o; q++) /* their .npy shards: <split>/<name>-NNNNN.npy */
            if (!strcasecmp(q->name, o->name))
                return fail_at(c, node_of(c, p->key), "outputs: '%s' and '%s' differ only in case; their .npy files "
                                                      "would be one file where case is ignored", q->name, o->name);
    }
    return H5PREP_OK;
}

/* ---- split -------------------------------------------------------------------------------- */

/* The keys of mapping n (split.fractions, split.assign or split.ranges) as the split names. */
static h5prep_status parse_split_names(const ctx *c, const yaml_node_t *n, const char *what, h5p_split_spec *s)
{
    FORWARD_IF_ERROR(check_keys(c, n, what, NULL));
    size_t count = map_size(n);
    if (count < 1 || count > H5P_MAX_SPLITS)
        return fail_at(c, n, "%s: expected 1 to %d splits, found %zu", what, H5P_MAX_SPLITS, count);
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *k = node_of(c, n->data.mapping.pairs.start[i].key);
        FORWARD_IF_ERROR(check_name(c, k, what));
        if (!(s->names[i] = h5p_strdup(text(k))))
            return nomem(c);
        s->nsplits++;
    }
    return check_split_names(c, n, what, s);
}

/* The value of split k in mapping n; what[256] gets "<key>.<split name>" for messages. */
static const yaml_node_t *split_value(const ctx *c, const yaml_node_t *n, const h5p_split_spec *s, const char *key, int k,
                                     char *what)
{
    snprintf(what, 256, "%s.%s", key, s->names[k]);
    return node_of(c, n->data.mapping.pairs.start[k].value);
}

static h5prep_status parse_fractions(const ctx *c, const yaml_node_t *n, h5p_split_spec *s)
{
    FORWARD_IF_ERROR(parse_split_names(c, n, "split.fractions", s));
    double sum = 0;
    char terms[1024];
    size_t len = 0;
    for (int i = 0; i < s->nsplits; i++) {
        char what[256];
        const yaml_node_t *v = split_value(c, n, s, "split.fractions", i, what);
        FORWARD_IF_ERROR(read_f64(c, v, what, &s->fractions[i]));
        if (!(s->fractions[i] >= 0 && s->fractions[i] <= 1))
            return fail_at(c, v, "%s: expected a fraction in [0, 1], found '%s'", what, text(v));
        sum += s->fractions[i];
        if (len < sizeof terms)
            len += (size_t)snprintf(terms + len, sizeof terms - len, "%s%s %s", i ? " + " : "", s->names[i], text(v));
    }
    if (fabs(sum - 1) > 1e-9)
        return fail_at(c, n, "split.fractions sum to %.12g, not 1 (%s)", sum, terms);
    return H5PREP_OK;
}

/* split.assign: {split: GLOB or [GLOBS]}. */
static h5prep_status parse_assign(const ctx *c, const yaml_node_t *n, h5p_split_spec *s)
{
    char buf[128], what[256];
    FORWARD_IF_ERROR(parse_split_names(c, n, "split.assign", s));
    for (int k = 0; k < s->nsplits; k++) {
        const yaml_node_t *v = split_value(c, n, s, "split.assign", k, what);
        if (v->type == YAML_MAPPING_NODE)
            return fail_at(c, v, "%s: expected a glob or a list of globs, found %s", what, found(v, buf, sizeof buf));
        size_t count = v->type == YAML_SCALAR_NODE ? 1 : (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (!count)
            return fail_at(c, v, "%s: the list of globs is empty", what);
        if (!(s->globs[k] = h5p_calloc(count, sizeof *s->globs[k])))
            return nomem(c);
        for (size_t i = 0; i < count; i++) {
            const yaml_node_t *g = v->type == YAML_SCALAR_NODE ? v : node_of(c, v->data.sequence.items.start[i]);
            FORWARD_IF_ERROR(dup_str(c, g, what, &s->globs[k][i]));
            s->nglobs[k]++;
        }
    }
    return H5PREP_OK;
}

int h5p_split_overlap(const h5p_split_spec *spec, int a, int b)
{
    return spec->lo[a] < spec->hi[b] && spec->lo[b] < spec->hi[a];
}

/* A bound of a range: a number, or for by: time an ISO date (*text, checked here, turned into
 * the coordinate's units by the plan). */
static h5prep_status read_bound(const ctx *c, const yaml_node_t *n, const h5p_split_spec *s, const char *what, double *x,
                                char **date)
{
    char buf[128];
    const char *t = n->type == YAML_SCALAR_NODE ? text(n) : "";
    char *end;
    strtod(t, &end);
    int number = is_plain(n) && *t && (!*end || strstr(t, "inf") || strstr(t, "Inf") || strstr(t, "INF"));
    if (s->by != H5P_SPLIT_TIME || number || n->type != YAML_SCALAR_NODE)
        return read_f64(c, n, what, x);
    double v;
    if (h5p_cf_date_value("days since 1970-01-01", "", t, &v) != H5PREP_OK)
        return fail_at(c, n, "%s: expected a number or a date (YYYY-MM-DD, YYYY-MM-DDThh:mm[:ss], optionally Z or +hh:mm), "
                             "found %s", what, found(n, buf, sizeof buf));
    *date = h5p_strdup(t);
    return *date ? H5PREP_OK : nomem(c);
}

/* split.ranges: {split: [START, END]}: fractions of the rows (by: rows) or values of the time
 * coordinate (by: time; numbers in its units or ISO dates), END excluded; no two ranges overlap. */
static h5prep_status parse_ranges(const ctx *c, const yaml_node_t *n, h5p_split_spec *s)
{
    char buf[128], what[256];
    FORWARD_IF_ERROR(parse_split_names(c, n, "split.ranges", s));
    for (int k = 0; k < s->nsplits; k++) {
        const yaml_node_t *v = split_value(c, n, s, "split.ranges", k, what);
        if (v->type != YAML_SEQUENCE_NODE || v->data.sequence.items.top - v->data.sequence.items.start != 2)
            return fail_at(c, v, "%s: expected [START, END], found %s", what, found(v, buf, sizeof buf));
        FORWARD_IF_ERROR(read_bound(c, node_of(c, v->data.sequence.items.start[0]), s, what, &s->lo[k], &s->lo_text[k]));
        FORWARD_IF_ERROR(read_bound(c, node_of(c, v->data.sequence.items.start[1]), s, what, &s->hi[k], &s->hi_text[k]));
        if (s->lo_text[k] || s->hi_text[k])
            continue; /* dates: checked by the plan once they are in the coordinate's units */
        if (s->by == H5P_SPLIT_ROWS && !(s->lo[k] >= 0 && s->hi[k] <= 1))
            return fail_at(c, v, "%s: [%g, %g] is not within [0, 1] (by: rows takes fractions of the row count)", what,
                           s->lo[k], s->hi[k]);
        if (!(s->lo[k] < s->hi[k]))
            return fail_at(c, v, "%s: [%g, %g] is empty (expected START < END; END is excluded)", what, s->lo[k], s->hi[k]);
        for (int j = 0; j < k; j++)
            if (!s->lo_text[j] && !s->hi_text[j] && h5p_split_overlap(s, j, k))
                return fail_at(c, v, "%s: [%g, %g] overlaps split '%s' [%g, %g]", what, s->lo[k], s->hi[k], s->names[j],
                               s->lo[j], s->hi[j]);
    }
    return H5PREP_OK;
}

/* split.coordinate: FILE:/dataset, or a variable declared by the inputs. */
static h5prep_status parse_coordinate(const ctx *c, const yaml_node_t *n, h5p_split_spec *s)
{
    FORWARD_IF_ERROR(dup_str(c, n, "split.coordinate", &s->coordinate));
    s->coord_line = (int)n->start_mark.line + 1;
    s->coord_col = (int)n->start_mark.column + 1;
    if (strstr(s->coordinate, ":/"))
        return H5PREP_OK;
    for (size_t i = 0; i < c->r->ninputs; i++)
        for (size_t j = 0; j < c->r->inputs[i].nvars; j++)
            if (!strcmp(c->r->inputs[i].names[j], s->coordinate)) {
                c->r->inputs[i].used[j] = 1; /* read for the split, so not unused */
                return H5PREP_OK;
            }
    return fail_at(c, n, "split.coordinate: '%.60s' is neither FILE:/DATASET nor a variable of the inputs", s->coordinate);
}

static h5prep_status parse_normalize_with(const ctx *c, const yaml_node_t *nw, h5p_split_spec *s)
{
    char list[256];
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

/* The keys of each kind of split: the one it needs first, then the others it takes. */
static const char *const SPLIT_BY[] = {"fractions", "files", "rows", "time", NULL};
static const char *const SPLIT_KEYS[][6] = {
    {"fractions", "seed", "group_by", "shuffle", "normalize_with", NULL},
    {"assign", "seed", "shuffle", "normalize_with", NULL},
    {"ranges", "seed", "shuffle", "normalize_with", NULL},
    {"ranges", "coordinate", "seed", "shuffle", "normalize_with", NULL},
};

static h5prep_status parse_split(const ctx *c, const yaml_node_t *n, h5p_split_spec *s)
{
    static const char *const keys[] = {"by", "fractions", "assign", "ranges", "coordinate", "seed", "group_by", "shuffle",
                                       "normalize_with", NULL};
    char buf[128], list[256];
    FORWARD_IF_ERROR(check_keys(c, n, "split", keys));
    const yaml_node_t *by = get(c, n, "by"), *seed = get(c, n, "seed"), *gb = get(c, n, "group_by"),
                      *sh = get(c, n, "shuffle"), *nw = get(c, n, "normalize_with");
    int kind = 0;
    if (by)
        FORWARD_IF_ERROR(read_enum(c, by, "split.by", SPLIT_BY, &kind));
    s->by = (h5p_split_by)kind;
    const char *const *allowed = SPLIT_KEYS[kind];
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = node_of(c, p->key);
        int ok = !strcmp(text(k), "by");
        for (int i = 0; allowed[i] && !ok; i++)
            ok = !strcmp(text(k), allowed[i]);
        if (!ok)
            return fail_at(c, k, "split.%s does not apply to by: %s (it takes: %s)", text(k), SPLIT_BY[kind],
                           join(allowed, list, sizeof list));
    }
    const yaml_node_t *body = get(c, n, allowed[0]);
    FORWARD_IF_ERROR(need(c, body, n, "split", allowed[0]));
    if (s->by == H5P_SPLIT_SEEDED)
        FORWARD_IF_ERROR(parse_fractions(c, body, s));
    else if (s->by == H5P_SPLIT_FILES)
        FORWARD_IF_ERROR(parse_assign(c, body, s));
    else
        FORWARD_IF_ERROR(parse_ranges(c, body, s));
    if (s->by == H5P_SPLIT_TIME) {
        const yaml_node_t *co = get(c, n, "coordinate");
        FORWARD_IF_ERROR(need(c, co, n, "split", "coordinate"));
        FORWARD_IF_ERROR(parse_coordinate(c, co, s));
    }
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
    s->shuffle = s->by == H5P_SPLIT_SEEDED; /* splits given by files, rows or time keep input order */
    if (sh)
        FORWARD_IF_ERROR(read_bool(c, sh, "split.shuffle", &s->shuffle));
    if (nw)
        return parse_normalize_with(c, nw, s);
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
    static const char *const hkeys[] = {"chunk_rows", "gzip", NULL}, *const nkeys[] = {"shard_rows", "layout", NULL};
    static const char *const layouts[] = {"flat", "dask", NULL};
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
            if ((v = get(c, p, "layout")))
                FORWARD_IF_ERROR(read_enum(c, v, "write.npy.layout", layouts, &w->npy_dask));
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
    if (sp) {
        FORWARD_IF_ERROR(parse_split(c, sp, &r->split));
    } else { /* no split: one split of every row, in input order */
        r->split.shuffle = 0;
        r->split.nsplits = 1;
        r->split.fractions[0] = 1;
        if (!(r->split.names[0] = h5p_strdup("all")))
            return nomem(c);
    }
    for (size_t i = 0; i < r->ninputs; i++)
        for (size_t j = 0; j < r->inputs[i].nvars; j++)
            if (!r->inputs[i].used[j])
                h5p_warn("%s:%d:%d: variable '%s' (%s) is declared but no output uses it: it is not read, and "
                         "whether the files hold it is not checked",
                         c->path, r->inputs[i].lines[j], r->inputs[i].cols[j], r->inputs[i].names[j],
                         r->inputs[i].paths[j]);
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

/* ---- bounds, checked on libyaml's event stream ----------------------------------------------- */

/* An anchor of the document: its name and position, and its size (values with aliases
 * expanded), known once its node is complete; `open` while its collection is still being read,
 * when an alias to it would be a collection that holds itself. */
typedef struct anchor_info {
    char *name;
    size_t line, col;
    uint64_t size;
    int open;
} anchor_info;

/* An open collection: its size so far, the anchor it defines (-1: none), and how many events it
 * holds (a mapping's keys and values). */
typedef struct open_coll {
    uint64_t size, items;
    int anchor, mapping;
} open_coll;

typedef struct bounds {
    const char *path;
    anchor_info anchors[MAX_ANCHORS];
    int nanchors, naliases, documents, depth;
    open_coll open[MAX_NESTING];
    uint64_t nodes; /* values so far, aliases expanded: the walk visits at most this many */
} bounds;

static h5prep_status fail_pos(const char *path, size_t line0, size_t col0, const char *fmt, ...) H5P_PRINTF(4, 5);
static h5prep_status fail_pos(const char *path, size_t line0, size_t col0, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    h5prep_status st = fail_at_pos(path, line0, col0, H5PREP_ERR_USAGE, fmt, ap);
    va_end(ap);
    return st;
}

/* The latest anchor of that name (a repeated one is libyaml's loader's error), or -1. */
static int find_anchor(const bounds *b, const yaml_char_t *name)
{
    for (int i = b->nanchors - 1; i >= 0; i--)
        if (!strcmp(b->anchors[i].name, (const char *)name))
            return i;
    return -1;
}

static void drop_anchors(bounds *b)
{
    for (int i = 0; i < b->nanchors; i++)
        free(b->anchors[i].name);
    b->nanchors = 0;
}

/* Takes one event: a value (scalar, alias, or the start of a collection) is counted with its
 * expanded size into the document and into the collection that holds it. */
static h5prep_status bound_event(bounds *b, const yaml_event_t *ev)
{
    size_t line = ev->start_mark.line, col = ev->start_mark.column;
    const yaml_char_t *anchor = NULL;
    uint64_t size = 1;
    int opens = 0, mapping = 0;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (b->documents++)
            return fail_pos(b->path, line, col, "a recipe is one YAML document; a second one starts here");
        return H5PREP_OK;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        const open_coll *o = &b->open[--b->depth];
        if (o->anchor >= 0) {
            b->anchors[o->anchor].size = o->size;
            b->anchors[o->anchor].open = 0;
        }
        if (b->depth)
            b->open[b->depth - 1].size += o->size;
        return H5PREP_OK;
    }
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        if (++b->naliases > MAX_ALIASES)
            return fail_pos(b->path, line, col, "more than %d aliases (*%.60s here); a recipe needs a few", MAX_ALIASES,
                            name);
        int a = find_anchor(b, ev->data.alias.anchor);
        if (a >= 0 && b->anchors[a].open)
            return fail_pos(b->path, line, col, "alias *%.60s refers to the collection at %zu:%zu that holds it",
                            name, b->anchors[a].line + 1, b->anchors[a].col + 1);
        size = a >= 0 ? b->anchors[a].size : 1; /* an undefined one is the loader's error */
        if (b->nodes + size > MAX_NODES)
            return fail_pos(b->path, line, col, "alias *%.60s stands for %" PRIu64 " values, which makes the recipe "
                            "more than %d values with its aliases expanded", name, size, MAX_NODES);
        break;
    }
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        opens = 1;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        opens = mapping = 1;
        break;
    default:
        return H5PREP_OK;
    }
    if ((b->nodes += size) > MAX_NODES)
        return fail_pos(b->path, line, col, "more than %d values (scalars, lists and mappings) in the recipe", MAX_NODES);
    if (b->depth) {
        open_coll *p = &b->open[b->depth - 1];
        if (!opens)
            p->size += size;
        if (++p->items > 2 * (uint64_t)MAX_KEYS && p->mapping)
            return fail_pos(b->path, line, col, "a mapping of more than %d keys", MAX_KEYS);
    }
    if (opens && b->depth == MAX_NESTING)
        return fail_pos(b->path, line, col, "lists and mappings nested deeper than %d levels", MAX_NESTING);
    int a = -1;
    if (anchor) {
        if (b->nanchors == MAX_ANCHORS)
            return fail_pos(b->path, line, col, "more than %d anchors (&%.60s here); a recipe needs a few", MAX_ANCHORS,
                            (const char *)anchor);
        anchor_info *ai = &b->anchors[b->nanchors];
        if (!(ai->name = h5p_strdup((const char *)anchor)))
            return h5p_fail(H5PREP_ERR_NOMEM, "%s: out of memory", b->path);
        ai->line = line, ai->col = col, ai->size = 1, ai->open = opens;
        a = b->nanchors++;
    }
    if (opens)
        b->open[b->depth++] = (open_coll){.size = 1, .anchor = a, .mapping = mapping};
    return H5PREP_OK;
}

/* Reads buf's events up to the end of the stream or the first one past a bound. libyaml's
 * scanner looks at most 1024 characters ahead of the event it gives, so a refusal costs at most
 * that much beyond the offending event, whatever follows it. */
static h5prep_status check_bounds(const char *path, const unsigned char *buf, size_t len)
{
    bounds *b = h5p_calloc(1, sizeof *b);
    RETURN_ERROR_IF(!b, H5PREP_ERR_NOMEM, "%s: out of memory", path);
    b->path = path;
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        free(b);
        return h5p_fail(H5PREP_ERR_NOMEM, "%s: out of memory", path);
    }
    yaml_parser_set_input_string(&p, buf, len);
    h5prep_status st = H5PREP_OK;
    for (int done = 0; !done && st == H5PREP_OK;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            st = yaml_error(path, &p, buf, len);
            break;
        }
        st = bound_event(b, &ev);
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    drop_anchors(b);
    free(b);
    return st;
}

/* Loads the single document of buf into doc (deleted by the caller on success), once its events
 * are within the bounds. */
static h5prep_status load_document(const char *path, const unsigned char *buf, size_t len, yaml_document_t *doc)
{
    FORWARD_IF_ERROR(check_bounds(path, buf, len));
    yaml_parser_t p;
    RETURN_ERROR_IF(!yaml_parser_initialize(&p), H5PREP_ERR_NOMEM, "%s: out of memory", path);
    yaml_parser_set_input_string(&p, buf, len);
    h5prep_status st = H5PREP_OK;
    if (!yaml_parser_load(&p, doc)) {
        st = yaml_error(path, &p, buf, len);
        yaml_parser_delete(&p);
        return st;
    }
    if (!yaml_document_get_root_node(doc)) {
        st = h5p_fail(H5PREP_ERR_USAGE, "%s:1:1: the recipe is empty (expected inputs:, outputs:, write:)", path);
        yaml_document_delete(doc);
    }
    yaml_parser_delete(&p);
    return st;
}

h5prep_status h5p_recipe_parse(const char *path, const unsigned char *text, size_t len, h5p_recipe **out)
{
    *out = NULL;
    RETURN_ERROR_IF(len > MAX_RECIPE_BYTES, H5PREP_ERR_USAGE, "%s: %zu bytes is too large for a recipe", path, len);
    yaml_document_t doc;
    FORWARD_IF_ERROR(load_document(path, text, len, &doc));
    h5p_recipe *r = h5p_calloc(1, sizeof *r);
    if (!r || !(r->path = h5p_strdup(path))) {
        free(r);
        yaml_document_delete(&doc);
        return h5p_fail(H5PREP_ERR_NOMEM, "%s: out of memory", path);
    }
    ctx c = {path, &doc, r};
    h5prep_status st = parse_root(&c, yaml_document_get_root_node(&doc));
    yaml_document_delete(&doc);
    if (st != H5PREP_OK) {
        h5p_recipe_free(r);
        return st;
    }
    *out = r;
    return H5PREP_OK;
}

h5prep_status h5p_recipe_load(const char *path, h5p_recipe **out)
{
    *out = NULL;
    unsigned char *buf;
    size_t len = 0;
    FORWARD_IF_ERROR(read_file(path, &buf, &len));
    h5prep_status st = h5p_recipe_parse(path, buf, len, out);
    free(buf);
    return st;
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
        free(in->kinds);
        free(in->catalog);
        free(in->catalog_key);
        free(in->used);
        free(in->lines);
        free(in->cols);
    }
    for (size_t i = 0; i < r->noutputs; i++) {
        expr_free(r->outputs[i].expr);
        free(r->outputs[i].name);
        free(r->outputs[i].stats_path);
        h5p_weights_free(r->outputs[i].weights);
    }
    for (int i = 0; i < H5P_MAX_SPLITS; i++) {
        free(r->split.names[i]);
        for (size_t g = 0; g < r->split.nglobs[i]; g++)
            free(r->split.globs[i][g]);
        free(r->split.globs[i]);
        free(r->split.lo_text[i]);
        free(r->split.hi_text[i]);
    }
    free(r->split.coordinate);
    free(r->inputs);
    free(r->outputs);
    free(r->write.dir);
    free(r->path);
    free(r);
}
