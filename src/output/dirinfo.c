/* dirinfo.c: `h5prep info DIR`: a transform's output directory summarised from its index.json and
 * the sizes of its files (splits, rows, outputs, shapes, dtypes, normalization), as JSON or a table;
 * and `h5prep info ARG...`: directories and files (input/info.c) together in one table or document. */
#include "common/internal.h"
#include "input/info.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int64_t file_size(const char *dir, const char *name)
{
    char path[4096];
    struct stat sb;
    if (!name || snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path || stat(path, &sb) != 0)
        return -1;
    return (int64_t)sb.st_size;
}

static json_t *per_sample_shape(json_t *shape)
{
    json_t *s = json_array();
    for (size_t a = 1; s && a < json_array_size(shape); a++)
        json_array_append(s, json_array_get(shape, a));
    return s;
}

/* The summary document ("h5prep-info/1") into *out. */
static h5prep_status summary(const char *dir, json_t **out)
{
    char path[4096];
    *out = NULL;
    RETURN_ERROR_IF(snprintf(path, sizeof path, "%s/index.json", dir) >= (int)sizeof path, H5PREP_ERR_USAGE,
                    "%s: path too long", dir);
    json_error_t err;
    json_t *ix = json_load_file(path, 0, &err);
    const char *format = json_string_value(json_object_get(ix, "format"));
    if (!ix || !format || strcmp(format, "h5prep-dataset/1") != 0) {
        struct stat sb;
        h5prep_status st = stat(path, &sb) != 0 ? H5PREP_ERR_FILE_NOT_FOUND : H5PREP_ERR_STATE;
        if (st == H5PREP_ERR_FILE_NOT_FOUND)
            h5p_fail(st, "%s: no index.json: not the output directory of 'h5prep transform'", dir);
        else
            h5p_fail(st, "%s: %s", path, !ix ? err.text : "not an index of format h5prep-dataset/1");
        json_decref(ix);
        return h5p_hint(st, "'h5prep info FILE' lists the datasets of an HDF5 file");
    }
    json_t *described = json_object_get(ix, "outputs");
    json_t *splits = json_object(), *outs = json_object();
    int64_t total = file_size(dir, "index.json");
    const char *sname;
    json_t *sp;
    json_object_foreach(json_object_get(ix, "splits"), sname, sp) {
        int64_t h5 = file_size(dir, json_string_value(json_object_get(sp, "hdf5"))), npy = 0;
        const char *oname;
        json_t *o;
        json_object_foreach(json_object_get(sp, "outputs"), oname, o) {
            json_t *sum = json_object_get(outs, oname);
            if (!sum) {
                json_t *meta = json_object_get(described, oname);
                json_t *norm = json_object_get(meta, "normalize");
                sum = json_pack("{s:o, s:O?, s:I}", "shape", per_sample_shape(json_object_get(o, "shape")), "dtype",
                                json_object_get(o, "dtype"), "bytes", (json_int_t)0);
                if (sum && norm)
                    json_object_set(sum, "normalize", norm);
                if (sum && json_object_get(meta, "dims"))
                    json_object_set(sum, "dims", json_object_get(meta, "dims"));
                json_object_set_new(outs, oname, sum);
            }
            int64_t ob = 0;
            size_t i;
            json_t *sh;
            json_array_foreach(json_object_get(o, "npy"), i, sh) {
                int64_t b = file_size(dir, json_string_value(json_object_get(sh, "path")));
                ob += b > 0 ? b : 0;
            }
            npy += ob;
            json_t *bytes = json_object_get(sum, "bytes");
            json_integer_set(bytes, json_integer_value(bytes) + ob);
        }
        json_object_set_new(splits, sname, json_pack("{s:O, s:I, s:I}", "rows", json_object_get(sp, "rows"), "hdf5_bytes",
                                                     (json_int_t)(h5 > 0 ? h5 : 0), "npy_bytes", (json_int_t)npy));
        total += (h5 > 0 ? h5 : 0) + npy;
    }
    static const char *const extra[] = {"stats.json", "split.json", "recipe.yaml"};
    for (size_t k = 0; k < sizeof extra / sizeof *extra; k++) {
        int64_t b = file_size(dir, extra[k]);
        total += b > 0 ? b : 0;
    }
    json_t *doc = json_pack("{s:s, s:s, s:O?, s:O?, s:O?, s:o, s:o, s:I}", "format", "h5prep-info/1", "dir", dir, "samples",
                            json_object_get(ix, "samples"), "recipe", json_object_get(ix, "recipe"), "backend",
                            json_object_get(ix, "backend"), "splits", splits, "outputs", outs, "bytes", (json_int_t)total);
    json_decref(ix);
    RETURN_ERROR_IF(!doc, H5PREP_ERR_NOMEM, "out of memory");
    *out = doc;
    return H5PREP_OK;
}

/* A JSON array of integers or strings as "a, b, c". */
static void print_list(FILE *f, const json_t *a, const char *open, const char *close)
{
    size_t i;
    json_t *v;
    fputs(open, f);
    json_array_foreach(a, i, v) {
        if (json_is_string(v))
            fprintf(f, "%s%s", i ? ", " : "", json_string_value(v));
        else
            fprintf(f, "%s%" JSON_INTEGER_FORMAT, i ? ", " : "", json_integer_value(v));
    }
    fputs(json_array_size(a) == 1 && strcmp(open, "(") == 0 ? ",)" : close, f);
}

static void print_normalize(FILE *f, const json_t *n)
{
    const char *method = json_string_value(json_object_get(n, "method"));
    if (!method) {
        fputs("(not recorded)", f);
        return;
    }
    fputs(method, f);
    if (strcmp(method, "none") == 0)
        return;
    json_t *keep = json_object_get(n, "keep_axes"), *fac = json_object_get(n, "factors");
    if (json_array_size(keep))
        print_list(f, keep, " per axes [", "]");
    else
        fputs(" one factor", f);
    const char *file = json_string_value(json_object_get(fac, "file"));
    const char *split = json_string_value(json_object_get(fac, "split"));
    if (file)
        fprintf(f, ", factors of %s", file);
    else
        fprintf(f, ", factors of stats.json (%s)", split ? split : "all rows");
}

static void dir_table(FILE *f, const json_t *doc)
{
    fprintf(f, "%s: h5prep transform output, %" JSON_INTEGER_FORMAT " samples", json_string_value(json_object_get(doc, "dir")),
            json_integer_value(json_object_get(doc, "samples")));
    if (json_object_get(doc, "recipe"))
        fprintf(f, " from %s", json_string_value(json_object_get(doc, "recipe")));
    if (json_object_get(doc, "backend"))
        fprintf(f, " (%s backend)", json_string_value(json_object_get(doc, "backend")));
    char size[32];
    h5p_format_bytes(size, sizeof size, (double)json_integer_value(json_object_get(doc, "bytes")));
    fprintf(f, ", %s", size);
    fprintf(f, "\n  %-12s %12s %12s %12s\n", "split", "rows", "HDF5", "npy");
    const char *name;
    json_t *v;
    json_object_foreach(json_object_get(doc, "splits"), name, v) {
        fprintf(f, "  %-12s %12" JSON_INTEGER_FORMAT " ", name, json_integer_value(json_object_get(v, "rows")));
        for (int k = 0; k < 2; k++) {
            h5p_format_bytes(size, sizeof size, (double)json_integer_value(json_object_get(v, k ? "npy_bytes" : "hdf5_bytes")));
            fprintf(f, " %12s", size);
        }
        fputc('\n', f);
    }
    fprintf(f, "  %-12s %-20s %-9s %s\n", "output", "shape (per sample)", "dtype", "normalization; dims");
    json_object_foreach(json_object_get(doc, "outputs"), name, v) {
        char shape[256] = "";
        FILE *g = fmemopen(shape, sizeof shape, "w");
        if (g) {
            print_list(g, json_object_get(v, "shape"), "(", ")");
            fclose(g);
        }
        fprintf(f, "  %-12s %-20s %-9s ", name, shape, json_string_value(json_object_get(v, "dtype")));
        print_normalize(f, json_object_get(v, "normalize"));
        if (json_object_get(v, "dims"))
            print_list(f, json_object_get(v, "dims"), "; dims ", "");
        fputc('\n', f);
    }
}

/* The tables of items (directory summaries and file descriptions) one after the other. */
static char *tables(const json_t *items)
{
    char *text = NULL;
    size_t len = 0, i;
    json_t *item;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    json_array_foreach(items, i, item) {
        if (json_object_get(item, "dir"))
            dir_table(f, item);
        else
            h5p_info_table(f, item);
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* The one h5prep-info/1 document of items: a lone directory's summary, else the files and the
 * directories' summaries side by side. */
static json_t *document(json_t *items)
{
    json_t *files = json_array(), *dirs = json_array(), *item;
    size_t i;
    json_array_foreach(items, i, item)
        json_array_append(json_object_get(item, "dir") ? dirs : files, item);
    json_t *doc = json_array_size(items) == 1 && json_array_size(dirs) == 1
                      ? json_incref(json_array_get(dirs, 0))
                      : json_pack("{s:s, s:O}", "format", "h5prep-info/1", "files", files);
    if (doc && json_array_size(dirs) && !json_object_get(doc, "dir"))
        json_object_set(doc, "dirs", dirs);
    json_decref(files);
    json_decref(dirs);
    return doc;
}

/* What `h5prep info` prints of items: their tables one after the other, or their one document. */
static h5prep_status render(json_t *items, int as_json, char **out)
{
    json_t *doc = as_json ? document(items) : NULL;
    *out = !as_json ? tables(items) : doc ? json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    RETURN_ERROR_IF(!*out, H5PREP_ERR_NOMEM, "out of memory");
    return H5PREP_OK;
}

h5prep_status h5prep_info_dir(const char *dir, int as_json, char **out)
{
    h5p_clear_error();
    *out = NULL;
    json_t *doc;
    FORWARD_IF_ERROR(summary(dir, &doc));
    json_t *items = json_pack("[o]", doc);
    h5prep_status st = items ? render(items, as_json, out) : h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    json_decref(items);
    return st;
}

static int is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

h5prep_status h5prep_info_text(const char *const *args, size_t nargs, int as_json, char **out)
{
    h5p_clear_error();
    *out = NULL;
    json_t *items = json_array(); /* in argument order: directory summaries and file descriptions */
    h5prep_status st = items ? H5PREP_OK : h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == H5PREP_OK && i < nargs; i++) {
        json_t *doc;
        if (!is_dir(args[i]))
            st = h5p_info_files(args[i], items);
        else if ((st = summary(args[i], &doc)) == H5PREP_OK && json_array_append_new(items, doc) != 0)
            st = h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    }
    if (st == H5PREP_OK)
        st = render(items, as_json, out);
    json_decref(items);
    return st;
}
