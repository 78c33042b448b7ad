/* outdir.h: the life of a transform's output directory: checked before any data is read, written
 * under a temporary name beside it, published (renamed into place) only when complete, and removed
 * on any failure, so that nothing that looks finished is left by a run that did not finish. */
#ifndef H5PREP_OUTDIR_H
#define H5PREP_OUTDIR_H

#include "h5prep.h"

typedef struct h5p_outdir {
    char *dir;      /* the final path, without trailing '/' */
    char *tmp;      /* the directory being written (path); NULL once published or removed */
    char *parent;   /* the directory both are in (path) */
    char *name, *tmp_name; /* last components of dir and tmp */
    int dirfd;      /* parent, open; 0 when none */
    unsigned mode;  /* tmp's mode when published (as mkdir would give it) */
    int overwrite;  /* an existing transform output (or an empty directory) may be replaced */
} h5p_outdir;

/* Refuses a link at `dir`, an existing `dir` (unless overwrite and it is replaceable), and
 * creates the temporary directory beside it (mode 0700 while written; common/outfile.h). On
 * failure d holds nothing to free. */
h5prep_status h5p_outdir_begin(h5p_outdir *d, const char *dir, int overwrite);
/* "<tmp>/<name>", malloc'd; NULL when out of memory. */
char *h5p_outdir_path(const h5p_outdir *d, const char *name);
/* Renames the temporary directory to `dir`; with overwrite the old one goes only afterwards. */
h5prep_status h5p_outdir_publish(h5p_outdir *d);
/* Removes the temporary directory if it is still there, and frees the names. */
void h5p_outdir_free(h5p_outdir *d);

#endif
