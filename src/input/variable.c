/* variable.c: the one input opener (input/variable.h): a dataset path in every file of a glob,
 * probed and joined along axis 0, for `stats` and for the plan of a transform. */
#include "input/variable.h"

#include "common/internal.h"
#include "common/sketch.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *h5p_dataset_path(const char *src)
{
    char *dst = h5p_malloc(strlen(src) + 2);
    if (!dst)
        return NULL;
    size_t len = 1;
    dst[0] = '/';
    for (; *src; src++)
        if (*src != '/' || dst[len - 1] != '/')
            dst[len++] = *src;
    if (len > 1 && dst[len - 1] == '/')
        len--;
    dst[len] = 0;
    return dst;
}

h5prep_status h5p_var_init(h5p_var *v, const char *path)
{
    memset(v, 0, sizeof *v);
    v->name = h5p_dataset_path(path);
    RETURN_ERROR_IF(!v->name, H5PREP_ERR_NOMEM, "out of memory");
    return H5PREP_OK;
}

void h5p_var_free(h5p_var *v)
{
    for (size_t i = 0; i < v->nparts; i++)
        free(v->parts[i].path);
    free(v->parts);
    free(v->result);
    free(v->tend);
    free(v->edge_head);
    free(v->edge_tail);
    free(v->wsum);
    free(v->name);
    h5p_sketch_destroy(v->sketch);
    memset(v, 0, sizeof *v);
}

static h5prep_status add_part(h5p_var *v, const char *path, int raw)
{
    for (size_t i = 0; i < v->nparts; i++)
        RETURN_ERROR_IF(strcmp(v->parts[i].path, path) == 0, H5PREP_ERR_USAGE,
                        "%s:%s: given twice; each file of a dataset is read once", path, v->name);
    h5p_part part;
    memset(&part, 0, sizeof part);
    int rank = 0;
    uint64_t dims[H5PREP_MAX_RANK];
    FORWARD_IF_ERROR(h5p_part_probe(path, v->name, raw, &part, &rank, dims));
    if (v->nparts == 0) {
        v->rank = rank;
        memcpy(v->dims, dims, sizeof dims);
        v->dims[0] = 0;
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

const char *h5p_dataset_colon(const char *arg)
{
    const char *c = strstr(arg, ":/");
    if (!c)
        c = strrchr(arg, ':');
    return c && c != arg && c[1] != 0 ? c : NULL;
}

static int has_glob(const char *s) { return strpbrk(s, "*?[") != NULL; }

h5prep_status h5p_glob_files(const char *pattern, glob_t *g)
{
    memset(g, 0, sizeof *g);
    int rc = glob(pattern, 0, NULL, g);
    if (rc == 0 && g->gl_pathc > 0)
        return H5PREP_OK;
    globfree(g);
    memset(g, 0, sizeof *g);
    if (rc != 0 && rc != GLOB_NOMATCH)
        return h5p_fail(H5PREP_ERR_FILE_NOT_FOUND, "%s: cannot expand the pattern", pattern);
    if (has_glob(pattern))
        return h5p_fail(H5PREP_ERR_FILE_NOT_FOUND, "%s: the pattern matched no files", pattern);
    return h5p_fail(H5PREP_ERR_FILE_NOT_FOUND, "%s: no such file", pattern);
}

h5prep_status h5p_var_add_files(h5p_var *v, const char *pattern, int raw)
{
    glob_t g;
    FORWARD_IF_ERROR(h5p_glob_files(pattern, &g));
    h5prep_status st = H5PREP_OK;
    size_t had = v->nparts;
    uint64_t rows = v->dims[0];
    for (size_t i = 0; st == H5PREP_OK && i < g.gl_pathc; i++)
        st = add_part(v, g.gl_pathv[i], raw);
    if (st != H5PREP_OK) { /* leave v as it was */
        for (size_t i = had; i < v->nparts; i++)
            free(v->parts[i].path);
        v->nparts = had;
        v->dims[0] = rows;
    }
    globfree(&g);
    return st;
}
