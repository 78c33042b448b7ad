/* catalog.h: a CSV catalog of per-file values (RFC 4180, parsed by libcsv): a header row naming
 * the columns, then one row per file; the plan joins it to an input's files by its key column. */
#ifndef H5PREP_CATALOG_H
#define H5PREP_CATALOG_H

#include "h5prep.h"

#include <stddef.h>
#include <stdint.h>

typedef struct h5p_catalog {
    char *path;
    size_t nrows, ncols;
    char **columns;     /* (ncols,) the value columns asked for */
    char **keys;        /* (nrows,) the key column, sorted (strcmp) */
    uint64_t *record;   /* (nrows,) 1-based record of each row in the file (the header is 1) */
    double *values;     /* (nrows, ncols) numbers of each row, in key order */
} h5p_catalog;

/* Reads `path`: the header must name `key` and every one of `columns`; each later record must
 * have as many fields as the header, a non-empty key found in no other record, and a number
 * (strtod, the whole field; "nan" is a missing value) in each asked column. Unquoted fields are
 * trimmed of spaces and tabs (libcsv's default); a UTF-8 byte order mark is skipped. */
h5prep_status h5p_catalog_load(const char *path, const char *key, char *const *columns, size_t ncols, h5p_catalog *out);

/* The row naming `file`: its key is the file's path as given, or the part after one of its
 * '/' ("2013/a.nc" and "a.nc" both name "data/2013/a.nc"). No row, or more than one, is an
 * error naming the file. */
h5prep_status h5p_catalog_find(const h5p_catalog *c, const char *file, size_t *row);

void h5p_catalog_free(h5p_catalog *c); /* accepts a zeroed catalog */

#endif
