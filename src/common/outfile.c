/* outfile.c: unpredictable, exclusive temporaries that never follow a link, their renaming into
 * place, and the sweep of stale ones left by killed runs (common/outfile.h); used by every writer. */
#define _GNU_SOURCE /* getrandom, O_NOFOLLOW, O_DIRECTORY */
#include "common/outfile.h"

#include "common/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    TMP_BASE_MAX = 160,  /* bytes of <name> kept in a temporary's name (NAME_MAX is 255) */
    REMOVE_DEPTH = 32,   /* h5p_remove_at descends no deeper (an output tree has 2 levels) */
    CREATE_TRIES = 64
};

/* Field 22 of /proc/<pid>/stat, the process's start in clock ticks after boot; 0 when unknown. */
static unsigned long long proc_start(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces and ')' */
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

static void random_suffix(char *dst, size_t len)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[16];
    if (getrandom(r, len, 0) != (ssize_t)len) { /* no entropy source: the clock, still exclusive */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec ^ (uint64_t)getpid();
        for (size_t i = 0; i < len; i++, x = x * 6364136223846793005ull + 1442695040888963407ull)
            r[i] = (unsigned char)(x >> 56);
    }
    for (size_t i = 0; i < len; i++)
        dst[i] = digits[r[i] % (sizeof digits - 1)];
    dst[len] = 0;
}

/* ".<name>.h5prep-tmp-" with <name> cut to TMP_BASE_MAX bytes: the start of every temporary of name. */
static void tmp_prefix(char *dst, size_t cap, const char *name)
{
    snprintf(dst, cap, ".%.*s%s", (int)TMP_BASE_MAX, name, H5P_TMP_TAG);
}

int h5p_open_parent(const char *path, char **dir, char **name, h5prep_status *st)
{
    *dir = *name = NULL;
    char *p = h5p_strdup(path);
    if (!p) {
        *st = h5p_fail(H5PREP_ERR_NOMEM, "%s: out of memory", path);
        return -1;
    }
    for (size_t len = strlen(p); len > 1 && p[len - 1] == '/'; len--)
        p[len - 1] = 0;
    char *slash = strrchr(p, '/');
    const char *base = slash ? slash + 1 : p;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        *st = h5p_fail(H5PREP_ERR_USAGE, "%s: names a directory, not an output h5prep can write", path);
        *st = h5p_hint(*st, "give a name in it, such as %s/out", path);
        free(p);
        return -1;
    }
    *name = h5p_strdup(base);
    if (slash)
        *slash = 0;
    *dir = h5p_strdup(!slash ? "." : slash == p ? "/" : p);
    free(p);
    if (!*name || !*dir) {
        free(*name), free(*dir);
        *dir = *name = NULL;
        *st = h5p_fail(H5PREP_ERR_NOMEM, "%s: out of memory", path);
        return -1;
    }
    int fd = open(*dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        *st = h5p_fail(H5PREP_ERR_OUTPUT, "%s: cannot create the output: its directory %s cannot be opened: %s", path, *dir, strerror(e));
        *st = h5p_hint(*st, "the directory must exist and be writable");
        free(*name), free(*dir);
        *dir = *name = NULL;
    }
    return fd;
}

static void remove_depth(int at, const char *name, int depth)
{
    struct stat sb;
    if (fstatat(at, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        return;
    if (S_ISDIR(sb.st_mode) && depth < REMOVE_DEPTH) {
        int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d && fd >= 0)
            close(fd);
        for (struct dirent *e; d && (e = readdir(d));)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                remove_depth(dirfd(d), e->d_name, depth + 1);
        if (d)
            closedir(d);
        unlinkat(at, name, AT_REMOVEDIR);
    } else if (!S_ISDIR(sb.st_mode)) {
        unlinkat(at, name, 0);
    }
}

void h5p_remove_at(int dirfd, const char *name) { remove_depth(dirfd, name, 0); }

/* Whether the temporary entry (its name after the prefix: "<pid>-<start>-<random>") belongs to a
 * process that still runs; 1 when the name cannot be read (not ours to judge). */
static int owner_alive(const char *rest, long *pid_out)
{
    long pid;
    unsigned long long start;
    char rnd[16];
    if (sscanf(rest, "%ld-%llu-%15s", &pid, &start, rnd) != 3 || pid <= 0)
        return 1;
    *pid_out = pid;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return 0;
    unsigned long long now = proc_start(pid); /* the pid runs: the same process, or a reuse? */
    return now == 0 || now == start;
}

void h5p_sweep_stale(int dirfd, const char *dir, const char *name)
{
    char prefix[TMP_BASE_MAX + 32];
    tmp_prefix(prefix, sizeof prefix, name);
    size_t plen = strlen(prefix);
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    for (struct dirent *e; (e = readdir(d));) {
        long pid = 0;
        struct stat sb;
        if (strncmp(e->d_name, prefix, plen) != 0 || owner_alive(e->d_name + plen, &pid) ||
            fstatat(dirfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) {
            h5p_warn("%s/%s: named like a temporary of h5prep but not a file or directory (a link?); left alone",
                     dir, e->d_name);
        } else if (sb.st_uid != geteuid()) {
            h5p_warn("%s/%s: the temporary of an h5prep run that is gone (process %ld), owned by user %u; left "
                     "alone: its owner can delete it (rm -r '%s/%s')",
                     dir, e->d_name, pid, (unsigned)sb.st_uid, dir, e->d_name);
        } else {
            h5p_remove_at(dirfd, e->d_name);
            h5p_warn("%s/%s: removed the temporary of an h5prep run that ended without cleaning up (process %ld)",
                     dir, e->d_name, pid);
        }
    }
    closedir(d);
}

char *h5p_tmp_create(int dirfd, const char *dir, const char *name, int *fd, unsigned *dir_mode, h5prep_status *st)
{
    h5p_sweep_stale(dirfd, dir, name);
    char prefix[TMP_BASE_MAX + 32], rnd[8];
    tmp_prefix(prefix, sizeof prefix, name);
    long pid = (long)getpid();
    unsigned long long start = proc_start(pid);
    size_t cap = strlen(prefix) + 64;
    char *tmp = h5p_malloc(cap);
    if (!tmp) {
        *st = h5p_fail(H5PREP_ERR_NOMEM, "%s/%s: out of memory", dir, name);
        return NULL;
    }
    int e = EEXIST;
    for (int tries = 0; tries < CREATE_TRIES && e == EEXIST; tries++) {
        random_suffix(rnd, 6);
        snprintf(tmp, cap, "%s%ld-%llu-%s", prefix, pid, start, rnd);
        if (fd) {
            *fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
            e = *fd < 0 ? errno : 0;
        } else {
            e = mkdirat(dirfd, tmp, 0777) != 0 ? errno : 0;
        }
    }
    if (!e && !fd) { /* private while it is written; the mode mkdir gave comes back at publishing */
        struct stat sb;
        int dfd = openat(dirfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        e = dfd < 0 || fstat(dfd, &sb) != 0 || fchmod(dfd, 0700) != 0 ? errno : 0;
        if (!e)
            *dir_mode = (unsigned)(sb.st_mode & 07777);
        if (dfd >= 0)
            close(dfd);
        if (e)
            unlinkat(dirfd, tmp, AT_REMOVEDIR);
    }
    if (e) {
        *st = h5p_fail(H5PREP_ERR_OUTPUT, "%s/%s: cannot create the temporary %s for it: %s", dir, name,
                       fd ? "file" : "directory", strerror(e));
        *st = h5p_hint(*st, "the directory %s must exist and be writable", dir);
        free(tmp);
        return NULL;
    }
    return tmp;
}

int h5p_create_excl(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
}

int h5p_write_all(int fd, const void *buf, size_t n) { return h5p_pwrite_all(fd, buf, n, -1); }

int h5p_pwrite_all(int fd, const void *buf, size_t n, off_t at)
{
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t k = at < 0 ? write(fd, p, n) : pwrite(fd, p, n, at);
        if (k > 0 && at >= 0)
            at += k;
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            if (k == 0)
                errno = EIO;
            return -1;
        }
        p += k, n -= (size_t)k;
    }
    return 0;
}

/* ---- h5p_tmpfile ----------------------------------------------------------------------------- */

static void tmpfile_free(h5p_tmpfile *t)
{
    if (t->fd >= 0)
        close(t->fd);
    if (t->dirfd >= 0)
        close(t->dirfd);
    free(t->final_path);
    free(t->tmp_path);
    free(t->name);
    free(t->tmp_name);
    memset(t, 0, sizeof *t);
    t->fd = t->dirfd = -1;
}

h5prep_status h5p_tmpfile_begin(h5p_tmpfile *t, const char *path)
{
    memset(t, 0, sizeof *t);
    t->fd = -1;
    h5prep_status st = H5PREP_OK;
    char *dir = NULL;
    t->dirfd = h5p_open_parent(path, &dir, &t->name, &st);
    struct stat sb;
    if (t->dirfd >= 0 && fstatat(t->dirfd, t->name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode)) {
        h5p_fail(H5PREP_ERR_OUTPUT, "%s: is a symbolic link; h5prep never writes through a link nor replaces one", path);
        st = h5p_hint(H5PREP_ERR_OUTPUT, "give the file it points to, or remove the link");
    }
    if (st == H5PREP_OK && t->dirfd >= 0)
        t->tmp_name = h5p_tmp_create(t->dirfd, dir, t->name, &t->fd, NULL, &st);
    if (t->tmp_name) {
        size_t n = strlen(dir) + strlen(t->tmp_name) + 2;
        t->tmp_path = h5p_malloc(n);
        t->final_path = h5p_strdup(path);
        if (t->tmp_path)
            snprintf(t->tmp_path, n, "%s/%s", dir, t->tmp_name);
        if (!t->tmp_path || !t->final_path) {
            unlinkat(t->dirfd, t->tmp_name, 0);
            st = h5p_fail(H5PREP_ERR_NOMEM, "%s: out of memory", path);
        }
    }
    free(dir);
    if (st != H5PREP_OK)
        tmpfile_free(t);
    return st;
}

FILE *h5p_tmpfile_stream(h5p_tmpfile *t)
{
    FILE *f = fdopen(t->fd, "w");
    if (f)
        t->fd = -1;
    return f;
}

h5prep_status h5p_tmpfile_commit(h5p_tmpfile *t)
{
    int e = t->fd >= 0 && close(t->fd) != 0 ? errno : 0; /* NFS reports a full disk at close */
    t->fd = -1;
    if (e) {
        h5p_fail(H5PREP_ERR_OUTPUT, "%s: writing the output failed: %s", t->final_path, strerror(e));
    } else if (h5p_interrupted()) {
        h5p_fail(H5PREP_ERR_INTERRUPTED, "%s: interrupted: the output was not written", t->final_path);
    } else if (renameat(t->dirfd, t->tmp_name, t->dirfd, t->name) != 0) {
        e = errno;
        h5p_fail(H5PREP_ERR_OUTPUT, "%s: cannot rename the finished output into place: %s", t->final_path, strerror(e));
    } else {
        tmpfile_free(t);
        return H5PREP_OK;
    }
    h5prep_status st = e ? H5PREP_ERR_OUTPUT : H5PREP_ERR_INTERRUPTED;
    h5p_tmpfile_abort(t);
    return st;
}

void h5p_tmpfile_abort(h5p_tmpfile *t)
{
    if (t->dirfd >= 0 && t->tmp_name)
        unlinkat(t->dirfd, t->tmp_name, 0);
    tmpfile_free(t);
}
