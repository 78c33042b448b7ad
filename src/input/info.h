/* info.h: `h5prep info` for files: the datasets of FILE[:DATASET] (FILE a path or a glob), each
 * described as a JSON object, and the table of such a description. output/dirinfo.c prints both. */
#ifndef H5PREP_INFO_H
#define H5PREP_INFO_H

#include "h5prep.h"

#include <jansson.h>
#include <stdio.h>

/* Appends to the array `files`, for each file that the argument's FILE matches (sorted by name),
 * {"file": PATH, "datasets": [{"path", "shape", "dtype", "byte_order", "chunks", "filters", "cf",
 * "dims"}, ...]} (README.md, "h5prep-info/1"): every dataset of the file in name order, or only
 * DATASET, or the datasets under DATASET when it is a group. An argument that names an existing
 * file is that file, ':' and all; else it splits as stats' FILE:DATASET does. */
h5prep_status h5p_info_files(const char *arg, json_t *files);

/* The table of one file's description: its path, then a line for each dataset. */
void h5p_info_table(FILE *f, const json_t *file);

#endif
