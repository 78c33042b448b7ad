/* outdir.c: a transform's output directory, written as "<dir>.tmp-<pid>" and renamed into place
 * when complete (output/outdir.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "output/outdir.h"

#include "common/internal.h"

#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static char *path_join(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *s = h5p_malloc(len);
    if (s)
        snprintf(s, len, "%s/%s", dir, name);
    return s;
}

/* Whether --overwrite may replace dir: an empty directory, or one a transform wrote. */
static int replaceable(const char *dir)
{
    char *index = path_join(dir, "index.json");
    json_t *doc = index ? json_load_file(index, 0, NULL) : NULL;
    const char *format = json_string_value(json_object_get(doc, "format"));
    int ok = format && strcmp(format, "h5prep-dataset/1") == 0;
    json_decref(doc);
    free(index);
    if (!ok && rmdir(dir) == 0) /* empty: nothing to lose, and it will be created again */
        ok = 1;
    return ok;
}

/* Refuses an existing directory that may not be replaced; creates "<dir>.tmp-<pid>". */
static h5prep_status make_tmpdir(h5p_outdir *d)
{
    struct stat sb;
    if (stat(d->dir, &sb) == 0 && !d->overwrite) {
        h5p_fail(H5PREP_ERR_OUTPUT, "%s: the output directory exists", d->dir);
        return h5p_hint(H5PREP_ERR_OUTPUT, "choose another one with --out, or replace it with --overwrite");
    }
    if (stat(d->dir, &sb) == 0 && !replaceable(d->dir)) {
        h5p_fail(H5PREP_ERR_OUTPUT, "%s: not the output of an h5prep transform (no index.json of format h5prep-dataset/1); --overwrite replaces only those",
                 d->dir);
        return h5p_hint(H5PREP_ERR_OUTPUT, "remove it yourself, or choose another --out");
    }
    size_t len = strlen(d->dir) + 32;
    d->tmp = h5p_malloc(len);
    RETURN_ERROR_IF(!d->tmp, H5PREP_ERR_NOMEM, "out of memory");
    snprintf(d->tmp, len, "%s.tmp-%ld", d->dir, (long)getpid());
    if (mkdir(d->tmp, 0777) != 0) {
        h5p_fail(H5PREP_ERR_OUTPUT, "%s: cannot create the output directory: %s", d->tmp, strerror(errno));
        free(d->tmp);
        d->tmp = NULL;
        return h5p_hint(H5PREP_ERR_OUTPUT, "the parent directory must exist and be writable");
    }
    return H5PREP_OK;
}

h5prep_status h5p_outdir_begin(h5p_outdir *d, const char *dir, int overwrite)
{
    memset(d, 0, sizeof *d);
    d->overwrite = overwrite;
    d->dir = h5p_strdup(dir);
    RETURN_ERROR_IF(!d->dir, H5PREP_ERR_NOMEM, "out of memory");
    for (size_t len = strlen(d->dir); len > 1 && d->dir[len - 1] == '/'; len--) /* "out/" is "out" */
        d->dir[len - 1] = 0;
    h5prep_status st = make_tmpdir(d);
    if (st != H5PREP_OK)
        h5p_outdir_free(d);
    return st;
}


/* Moves the finished directory into place; with --overwrite the old one goes only afterwards. */
h5prep_status h5p_outdir_publish(h5p_outdir *d)
{
    char *old = NULL;
    struct stat sb;
    if (stat(d->dir, &sb) == 0) {
        if (!d->overwrite) { /* it appeared while this run lasted */
            h5p_fail(H5PREP_ERR_OUTPUT, "%s: the output directory was created by someone else during the run; the finished output was removed",
                     d->dir);
            return h5p_hint(H5PREP_ERR_OUTPUT, "run again with another --out, or with --overwrite");
        }
        size_t len = strlen(d->dir) + 32;
        old = h5p_malloc(len);
        RETURN_ERROR_IF(!old, H5PREP_ERR_NOMEM, "out of memory");
        snprintf(old, len, "%s.old-%ld", d->dir, (long)getpid());
        if (rename(d->dir, old) != 0) {
            free(old);
            return h5p_fail(H5PREP_ERR_OUTPUT, "%s: cannot move the existing directory aside: %s", d->dir, strerror(errno));
        }
    }
    if (rename(d->tmp, d->dir) != 0) {
        int err = errno;
        if (old)
            rename(old, d->dir);
        free(old);
        return h5p_fail(H5PREP_ERR_OUTPUT, "%s: cannot rename the finished output into place: %s", d->dir, strerror(err));
    }
    if (old)
        remove_tree(old);
    free(old);
    free(d->tmp);
    d->tmp = NULL;
    return H5PREP_OK;
}


char *h5p_outdir_path(const h5p_outdir *d, const char *name) { return path_join(d->tmp, name); }

void h5p_outdir_free(h5p_outdir *d)
{
    if (d->tmp)
        remove_tree(d->tmp);
    free(d->tmp);
    free(d->dir);
    memset(d, 0, sizeof *d);
}
