/* catalog.c: reads a CSV catalog with libcsv (RFC 4180 quoting, strict mode) into sorted keys and
 * float64 columns, and finds the row of an input file; used by the plan for per-file labels. */
#include "input/catalog.h"

#include "common/internal.h"

#include <csv.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parse in progress: fields of the current record, the header's column positions, the rows. */
typedef struct reading {
    h5p_catalog *c;
    const char *key;
    char **field;           /* fields of the current record */
    size_t nfield, capfield;
    size_t header_fields;   /* 0 until the header is read */
    size_t key_col, *col;   /* positions of the key and of each asked column in a record */
    uint64_t records;       /* records so far, the header included */
    size_t caprows;
    h5prep_status st;       /* the first error; later records are skipped */
} reading;

static void on_field(void *s, size_t len, void *data)
{
    reading *rd = data;
    if (rd->st != H5PREP_OK)
        return;
    if (rd->nfield == rd->capfield) {
        size_t cap = rd->capfield ? 2 * rd->capfield : 16;
        char **f = realloc(rd->field, cap * sizeof *f);
        if (!f) {
            rd->st = h5p_fail(H5PREP_ERR_NOMEM, "%s: out of memory", rd->c->path);
            return;
        }
        rd->field = f, rd->capfield = cap;
    }
    char *t = h5p_malloc(len + 1);
    if (!t) {
        rd->st = h5p_fail(H5PREP_ERR_NOMEM, "%s: out of memory", rd->c->path);
        return;
    }
    memcpy(t, s ? s : "", len);
    t[len] = 0;
    rd->field[rd->nfield++] = t;
}

static h5prep_status read_header(reading *rd)
{
    h5p_catalog *c = rd->c;
    if (rd->nfield && !strncmp(rd->field[0], "\xef\xbb\xbf", 3)) /* a UTF-8 byte order mark */
        memmove(rd->field[0], rd->field[0] + 3, strlen(rd->field[0]) - 2);
    rd->header_fields = rd->nfield;
    rd->col = h5p_malloc((c->ncols ? c->ncols : 1) * sizeof *rd->col);
    RETURN_ERROR_IF(!rd->col, H5PREP_ERR_NOMEM, "%s: out of memory", c->path);
    for (size_t k = 0; k <= c->ncols; k++) {
        const char *want = k < c->ncols ? c->columns[k] : rd->key;
        size_t i = 0;
        while (i < rd->nfield && strcmp(rd->field[i], want) != 0)
            i++;
        if (i == rd->nfield) {
            char list[512];
            size_t len = 0;
            list[0] = 0;
            for (size_t j = 0; j < rd->nfield && len < sizeof list; j++)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", j ? ", " : "", rd->field[j]);
            return h5p_fail(H5PREP_ERR_USAGE, "%s: the header has no column '%s' (it has: %s)", c->path, want, list);
        }
        if (k < c->ncols)
            rd->col[k] = i;
        else
            rd->key_col = i;
    }
    return H5PREP_OK;
}

static h5prep_status read_row(reading *rd)
{
    h5p_catalog *c = rd->c;
    RETURN_ERROR_IF(rd->nfield != rd->header_fields, H5PREP_ERR_USAGE,
                    "%s: record %llu has %zu fields, but the header has %zu", c->path, (unsigned long long)rd->records,
                    rd->nfield, rd->header_fields);
    RETURN_ERROR_IF(!rd->field[rd->key_col][0], H5PREP_ERR_USAGE, "%s: record %llu: the key column '%s' is empty", c->path,
                    (unsigned long long)rd->records, rd->key);
    if (c->nrows == rd->caprows) {
        size_t cap = rd->caprows ? 2 * rd->caprows : 64;
        char **keys = realloc(c->keys, cap * sizeof *keys);
        c->keys = keys ? keys : c->keys;
        uint64_t *rec = realloc(c->record, cap * sizeof *rec);
        c->record = rec ? rec : c->record;
        double *v = realloc(c->values, cap * (c->ncols ? c->ncols : 1) * sizeof *v);
        c->values = v ? v : c->values;
        RETURN_ERROR_IF(!keys || !rec || !v, H5PREP_ERR_NOMEM, "%s: out of memory", c->path);
        rd->caprows = cap;
    }
    size_t r = c->nrows;
    for (size_t k = 0; k < c->ncols; k++) {
        const char *s = rd->field[rd->col[k]];
        char *end;
        errno = 0;
        double x = strtod(s, &end);
        if (!*s || *end) {
            h5p_fail(H5PREP_ERR_USAGE, "%s: record %llu (%s): column '%s' is '%.60s', not a number", c->path,
                     (unsigned long long)rd->records, rd->field[rd->key_col], c->columns[k], s);
            return h5p_hint(H5PREP_ERR_USAGE, "catalog columns become float64 labels; write categories as numbers");
        }
        c->values[r * c->ncols + k] = x;
    }
    c->keys[r] = rd->field[rd->key_col];
    rd->field[rd->key_col] = NULL; /* kept as the key */
    c->record[r] = rd->records;
    c->nrows++;
    return H5PREP_OK;
}

static void on_record(int ch, void *data)
{
    (void)ch;
    reading *rd = data;
    rd->records++;
    if (rd->st == H5PREP_OK)
        rd->st = rd->header_fields ? read_row(rd) : read_header(rd);
    for (size_t i = 0; i < rd->nfield; i++)
        free(rd->field[i]);
    rd->nfield = 0;
}

/* Parses the whole file through libcsv. */
static h5prep_status parse_file(FILE *f, reading *rd)
{
    struct csv_parser p;
    RETURN_ERROR_IF(csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0, H5PREP_ERR_NOMEM, "%s: out of memory",
                    rd->c->path);
    char buf[1 << 16];
    size_t got, offset = 0;
    int bad = 0;
    while (!bad && rd->st == H5PREP_OK && (got = fread(buf, 1, sizeof buf, f)) > 0) {
        size_t used = csv_parse(&p, buf, got, on_field, on_record, rd);
        bad = used != got;
        offset += used;
    }
    if (!bad && rd->st == H5PREP_OK)
        bad = csv_fini(&p, on_field, on_record, rd) != 0;
    if (rd->st == H5PREP_OK && ferror(f))
        rd->st = h5p_fail(H5PREP_ERR_USAGE, "%s: cannot read the catalog: %s", rd->c->path, strerror(errno));
    else if (rd->st == H5PREP_OK && bad)
        rd->st = h5p_fail(H5PREP_ERR_USAGE, "%s: near byte %zu (record %llu): %s (RFC 4180: a quote inside a field is "
                          "written twice and the field quoted)", rd->c->path, offset, (unsigned long long)rd->records + 1,
                          csv_strerror(csv_error(&p)));
    csv_free(&p);
    return rd->st;
}

typedef struct keyed {
    const char *key;
    size_t row;
} keyed;

static int by_key(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    int d = strcmp(x->key, y->key);
    return d ? d : (x->row > y->row) - (x->row < y->row);
}

/* Orders the rows by key; a key in two records is an error. */
static h5prep_status sort_rows(h5p_catalog *c)
{
    size_t n = c->nrows, m = c->ncols;
    keyed *ix = h5p_malloc((n ? n : 1) * sizeof *ix);
    char **keys = h5p_malloc((n ? n : 1) * sizeof *keys);
    uint64_t *rec = h5p_malloc((n ? n : 1) * sizeof *rec);
    double *v = h5p_malloc((n ? n : 1) * (m ? m : 1) * sizeof *v);
    if (!ix || !keys || !rec || !v) {
        free(ix), free(keys), free(rec), free(v);
        return h5p_fail(H5PREP_ERR_NOMEM, "%s: out of memory", c->path);
    }
    for (size_t i = 0; i < n; i++)
        ix[i] = (keyed){c->keys[i], i};
    qsort(ix, n, sizeof *ix, by_key);
    for (size_t i = 0; i < n; i++) {
        size_t r = ix[i].row;
        keys[i] = c->keys[r], rec[i] = c->record[r];
        memcpy(v + i * m, c->values + r * m, m * sizeof *v);
    }
    free(ix), free(c->keys), free(c->record), free(c->values);
    c->keys = keys, c->record = rec, c->values = v;
    for (size_t i = 1; i < n; i++)
        RETURN_ERROR_IF(!strcmp(keys[i - 1], keys[i]), H5PREP_ERR_USAGE, "%s: key '%s' is in records %llu and %llu",
                        c->path, keys[i], (unsigned long long)rec[i - 1], (unsigned long long)rec[i]);
    return H5PREP_OK;
}

h5prep_status h5p_catalog_load(const char *path, const char *key, char *const *columns, size_t ncols, h5p_catalog *out)
{
    memset(out, 0, sizeof *out);
    out->path = h5p_strdup(path);
    out->columns = h5p_calloc(ncols ? ncols : 1, sizeof *out->columns);
    RETURN_ERROR_IF(!out->path || !out->columns, H5PREP_ERR_NOMEM, "%s: out of memory", path);
    for (size_t k = 0; k < ncols; k++) {
        RETURN_ERROR_IF(!(out->columns[k] = h5p_strdup(columns[k])), H5PREP_ERR_NOMEM, "%s: out of memory", path);
        out->ncols = k + 1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        h5p_fail(e == ENOENT ? H5PREP_ERR_FILE_NOT_FOUND : H5PREP_ERR_USAGE, "%s: cannot open the catalog: %s", path,
                 strerror(e));
        return h5p_hint(e == ENOENT ? H5PREP_ERR_FILE_NOT_FOUND : H5PREP_ERR_USAGE,
                        "the catalog is named by inputs.catalog.file, relative to the working directory");
    }
    reading rd = {.c = out, .key = key};
    h5prep_status st = parse_file(f, &rd);
    fclose(f);
    for (size_t i = 0; i < rd.nfield; i++)
        free(rd.field[i]);
    free(rd.field);
    free(rd.col);
    if (st == H5PREP_OK && !rd.header_fields)
        st = h5p_fail(H5PREP_ERR_USAGE, "%s: the catalog is empty (expected a header row naming its columns)", path);
    return st == H5PREP_OK ? sort_rows(out) : st;
}

/* The row whose key is exactly s, or SIZE_MAX. */
static size_t find_key(const h5p_catalog *c, const char *s)
{
    size_t lo = 0, hi = c->nrows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = strcmp(c->keys[mid], s);
        if (d == 0)
            return mid;
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SIZE_MAX;
}

h5prep_status h5p_catalog_find(const h5p_catalog *c, const char *file, size_t *row)
{
    size_t got = SIZE_MAX;
    for (const char *s = file; s; s = strchr(s, '/') ? strchr(s, '/') + 1 : NULL) {
        size_t r = *s ? find_key(c, s) : SIZE_MAX;
        if (r == SIZE_MAX)
            continue;
        if (got != SIZE_MAX) {
            h5p_fail(H5PREP_ERR_USAGE, "%s: %s is named by two rows: '%s' (record %llu) and '%s' (record %llu)", c->path,
                     file, c->keys[got], (unsigned long long)c->record[got], c->keys[r], (unsigned long long)c->record[r]);
            return h5p_hint(H5PREP_ERR_USAGE, "keys name a file by its path or a trailing part of it; keep one row per file");
        }
        got = r;
    }
    if (got == SIZE_MAX) {
        h5p_fail(H5PREP_ERR_USAGE, "%s: no row names the input file %s", c->path, file);
        return h5p_hint(H5PREP_ERR_USAGE, "a row's key is the file's path or a trailing part of it (such as its name)");
    }
    *row = got;
    return H5PREP_OK;
}

void h5p_catalog_free(h5p_catalog *c)
{
    if (!c)
        return;
    for (size_t k = 0; k < c->ncols; k++)
        free(c->columns[k]);
    for (size_t i = 0; i < c->nrows; i++)
        free(c->keys[i]);
    free(c->columns), free(c->keys), free(c->record), free(c->values), free(c->path);
    memset(c, 0, sizeof *c);
}
