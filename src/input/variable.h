/* variable.h: the one input opener: a dataset path in the files of a glob, opened, checked and
 * joined along axis 0 into a logical variable (input/source.h's h5p_var), with each file's CF
 * decoding. Used by `stats` for its FILE:DATASET arguments and by the plan for a recipe's inputs. */
#ifndef H5PREP_VARIABLE_H
#define H5PREP_VARIABLE_H

#include "input/source.h"

#include <glob.h>

/* The dataset path with one leading '/' and no empty components ("a//b/" is "/a/b"); malloc'd,
 * NULL when out of memory. */
char *h5p_dataset_path(const char *path);

/* Where an argument FILE:DATASET splits: at the first ":/" (an absolute dataset path, which may
 * itself hold ':'), else at the last ':' (a relative path then holds none). NULL when there is no
 * split. */
const char *h5p_dataset_colon(const char *arg);

/* The files matching `pattern` (a path, or a glob), in sorted order, into *g (globfree() it);
 * H5PREP_ERR_FILE_NOT_FOUND naming the pattern when nothing matches (g is then empty). */
h5prep_status h5p_glob_files(const char *pattern, glob_t *g);

/* Starts v as the variable of dataset `path` (normalized) with no files yet. */
h5prep_status h5p_var_init(h5p_var *v, const char *path);

/* Adds the dataset v->name of every file matching `pattern` (a path, or a glob whose matches are
 * taken in sorted order) after the files v has, checking that the other axes agree. With raw, CF
 * attributes are not read. On failure v is as it was. */
h5prep_status h5p_var_add_files(h5p_var *v, const char *pattern, int raw);

void h5p_var_free(h5p_var *v); /* accepts a zeroed variable */

#endif
