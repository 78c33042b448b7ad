/* outfile.h: how h5prep creates what it writes: unpredictable, exclusive temporaries beside the
 * output that never follow a link, renamed into place when complete; stale ones swept. */
#ifndef H5PREP_OUTFILE_H
#define H5PREP_OUTFILE_H

#include "h5prep.h"

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* A temporary is named ".<name>.h5prep-tmp-<pid>-<start>-<random>" beside <name>: <start> is the
 * owner's start time (clock ticks after boot, /proc/<pid>/stat), so that a reused pid is told
 * from the owner; <random> makes the name unpredictable. */
#define H5P_TMP_TAG ".h5prep-tmp-"

/* The directory of `path`, opened (O_DIRECTORY), with its spelling for messages ("." when path
 * has no '/') and the last component (both malloc'd; trailing '/' dropped); -1 with the message
 * set and its status in *st when it fails. */
int h5p_open_parent(const char *path, char **dir, char **name, h5prep_status *st);

/* Creates ".<name>.h5prep-tmp-..." in dirfd (spelled `dir` in messages): with fd, a file
 * (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0666 less the umask) open for writing in *fd; else a directory
 * of mode 0700, the mode that mkdir would have given it in *dir_mode (for h5p_outdir to restore
 * when it publishes). Removes first the stale temporaries of <name> (h5p_sweep_stale). Returns
 * the temporary's name (malloc'd), or NULL with the message set and its status in *st. */
char *h5p_tmp_create(int dirfd, const char *dir, const char *name, int *fd, unsigned *dir_mode, h5prep_status *st);

/* Removes the entries ".<name>.h5prep-tmp-*" of dirfd whose owner process is gone and that this
 * user owns, each with a warning; one of another user is named in a warning that says what to
 * delete. Links are never followed; the temporaries of live runs are left alone. */
void h5p_sweep_stale(int dirfd, const char *dir, const char *name);

/* Removes the file or directory tree `name` in dirfd without following any link. */
void h5p_remove_at(int dirfd, const char *name);

/* Creates path for writing: O_CREAT|O_EXCL|O_NOFOLLOW, mode 0666 less the umask; -1 and errno. */
int h5p_create_excl(const char *path);

/* Writes all n bytes; 0, or -1 with errno (EIO for a write of 0 bytes). */
int h5p_write_all(int fd, const void *p, size_t n);
/* The same at offset `at` of the file (pwrite; at < 0: at the file position, as write). */
int h5p_pwrite_all(int fd, const void *p, size_t n, off_t at);

/* An output file written under a temporary beside it and renamed when complete. */
typedef struct h5p_tmpfile {
    char *final_path; /* as given, for messages */
    char *tmp_path;   /* <directory of final_path>/<tmp_name>, for messages */
    char *name;       /* last component of final_path */
    char *tmp_name;
    int dirfd;        /* the directory both are in */
    int fd;           /* the temporary, open for writing; -1 once handed to a stream or closed */
} h5p_tmpfile;

/* Creates the temporary for path (the file, exclusively). On failure t holds nothing to free. */
h5prep_status h5p_tmpfile_begin(h5p_tmpfile *t, const char *path);
/* A stdio stream over t->fd ("w"), which it then owns; NULL with errno. */
FILE *h5p_tmpfile_stream(h5p_tmpfile *t);
/* Closes t->fd if still open, renames the temporary to the final name (a link there is replaced,
 * never followed) unless the run was interrupted; frees the names. On failure the temporary is
 * removed. */
h5prep_status h5p_tmpfile_commit(h5p_tmpfile *t);
/* Removes the temporary; frees the names. */
void h5p_tmpfile_abort(h5p_tmpfile *t);

#endif
