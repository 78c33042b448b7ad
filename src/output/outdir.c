/* outdir.c: a transform's output directory, written as a private temporary beside it (".<dir>.
 * h5prep-tmp-...", common/outfile.h) and renamed into place when complete (output/outdir.h). */
#define _GNU_SOURCE /* renameat2 */
#include "output/outdir.h"

#include "common/internal.h"
#include "common/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Refuses a link at dir, or an existing directory that may not be replaced; creates the private
 * temporary directory beside it. */
static h5prep_status make_tmpdir(h5p_outdir *d)
{
    struct stat sb;
    int exists = fstatat(d->dirfd, d->name, &sb, AT_SYMLINK_NOFOLLOW) == 0;
    if (exists && S_ISLNK(sb.st_mode)) {
        h5p_fail(H5PREP_ERR_OUTPUT, "%s: is a symbolic link; h5prep never writes through a link nor replaces one", d->dir);
        return h5p_hint(H5PREP_ERR_OUTPUT, "give the directory it points to, or remove the link");
    }
    if (exists && !d->overwrite) {
        h5p_fail(H5PREP_ERR_OUTPUT, "%s: the output directory exists", d->dir);
        return h5p_hint(H5PREP_ERR_OUTPUT, "choose another one with --out, or replace it with --overwrite");
    }
    if (exists && !replaceable(d->dir)) {
        h5p_fail(H5PREP_ERR_OUTPUT, "%s: not the output of an h5prep transform (no index.json of format h5prep-dataset/1); --overwrite replaces only those",
                 d->dir);
        return h5p_hint(H5PREP_ERR_OUTPUT, "remove it yourself, or choose another --out");
    }
    h5prep_status st = H5PREP_OK;
    d->tmp_name = h5p_tmp_create(d->dirfd, d->parent, d->name, NULL, &d->mode, &st);
    if (!d->tmp_name)
        return st;
    d->tmp = path_join(d->parent, d->tmp_name);
    if (!d->tmp) {
        h5p_remove_at(d->dirfd, d->tmp_name);
        free(d->tmp_name);
        d->tmp_name = NULL;
        return h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    }
    return H5PREP_OK;
}

h5prep_status h5p_outdir_begin(h5p_outdir *d, const char *dir, int overwrite)
{
    memset(d, 0, sizeof *d);
    d->overwrite = overwrite;
    h5prep_status st = H5PREP_OK;
    d->dirfd = h5p_open_parent(dir, &d->parent, &d->name, &st);
    d->dir = d->dirfd >= 0 ? path_join(d->parent, d->name) : NULL;
    if (d->dirfd >= 0 && !d->dir)
        st = h5p_fail(H5PREP_ERR_NOMEM, "out of memory");
    if (d->dir && strcmp(d->parent, ".") == 0) /* "out", not "./out", in messages */
        memmove(d->dir, d->dir + 2, strlen(d->dir + 2) + 1);
    if (st == H5PREP_OK)
        st = make_tmpdir(d);
    if (st != H5PREP_OK)
        h5p_outdir_free(d);
    return st;
}

/* Gives the temporary directory the mode mkdir gave it before it was made private. */
static h5prep_status restore_mode(const h5p_outdir *d)
{
    int fd = openat(d->dirfd, d->tmp_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int e = fd < 0 || fchmod(fd, (mode_t)d->mode) != 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    RETURN_ERROR_IF(e, H5PREP_ERR_OUTPUT, "%s: cannot set the mode of the finished output: %s", d->tmp, strerror(e));
    return H5PREP_OK;
}

/* Moves the finished directory into place atomically: renameat2 with RENAME_NOREPLACE, or with
 * --overwrite RENAME_EXCHANGE, after which the old directory is at the temporary name and goes
 * (a run killed there leaves it as a stale temporary, swept by the next run). Where the file
 * system has no renameat2, the old directory is first moved aside under a temporary name. */
h5prep_status h5p_outdir_publish(h5p_outdir *d)
{
    RETURN_ERROR_IF(h5p_interrupted(), H5PREP_ERR_INTERRUPTED, "%s: interrupted: the output was not written", d->dir);
    FORWARD_IF_ERROR(restore_mode(d));
    struct stat sb;
    int exists = fstatat(d->dirfd, d->name, &sb, AT_SYMLINK_NOFOLLOW) == 0, e = 0;
    if (exists && (!d->overwrite || !S_ISDIR(sb.st_mode))) { /* it appeared while this run lasted */
        h5p_fail(H5PREP_ERR_OUTPUT, "%s: the output directory was created by someone else during the run; the finished output was removed",
                 d->dir);
        return h5p_hint(H5PREP_ERR_OUTPUT, "run again with another --out, or with --overwrite");
    }
    if (renameat2(d->dirfd, d->tmp_name, d->dirfd, d->name, exists ? RENAME_EXCHANGE : RENAME_NOREPLACE) == 0) {
        if (exists)
            h5p_remove_at(d->dirfd, d->tmp_name); /* the old one, now */
    } else if (errno == EEXIST) {
        return h5p_fail(H5PREP_ERR_OUTPUT, "%s: the output directory was created by someone else during the run; the finished output was removed",
                        d->dir);
    } else if (errno != EINVAL && errno != ENOSYS) {
        e = errno;
    } else { /* no renameat2 here */
        h5prep_status st = H5PREP_OK;
        char *old = exists ? h5p_tmp_create(d->dirfd, d->parent, d->name, NULL, &d->mode, &st) : NULL;
        if (exists && !old)
            return st;
        if (old && renameat(d->dirfd, d->name, d->dirfd, old) != 0) {
            e = errno;
            unlinkat(d->dirfd, old, AT_REMOVEDIR);
            free(old);
            return h5p_fail(H5PREP_ERR_OUTPUT, "%s: cannot move the existing directory aside: %s", d->dir, strerror(e));
        }
        if (renameat(d->dirfd, d->tmp_name, d->dirfd, d->name) != 0) {
            e = errno;
            if (old)
                renameat(d->dirfd, old, d->dirfd, d->name);
        } else if (old) {
            h5p_remove_at(d->dirfd, old);
        }
        free(old);
    }
    RETURN_ERROR_IF(e, H5PREP_ERR_OUTPUT, "%s: cannot rename the finished output into place: %s", d->dir, strerror(e));
    free(d->tmp);
    free(d->tmp_name);
    d->tmp = d->tmp_name = NULL;
    return H5PREP_OK;
}


char *h5p_outdir_path(const h5p_outdir *d, const char *name) { return path_join(d->tmp, name); }

void h5p_outdir_free(h5p_outdir *d)
{
    if (d->tmp_name)
        h5p_remove_at(d->dirfd, d->tmp_name);
    if (d->dirfd > 0)
        close(d->dirfd);
    free(d->tmp);
    free(d->tmp_name);
    free(d->dir);
    free(d->parent);
    free(d->name);
    memset(d, 0, sizeof *d);
}
