/* weights.h: the input stage's area weights for `stats --weights` and a recipe's `normalize:
 * {weights: SPEC}`: a spec (cos of a latitude coordinate, a weight dataset, a quadrature rule over
 * the latitudes) parsed, read and broadcast into one weight per element of a variable's rows,
 * before any data is read. */
#ifndef H5PREP_WEIGHTS_H
#define H5PREP_WEIGHTS_H

#include "input/source.h"

typedef enum h5p_weights_kind { H5P_WEIGHTS_COSLAT, H5P_WEIGHTS_ARRAY, H5P_WEIGHTS_QUADRATURE } h5p_weights_kind;

/* A parsed spec: "coslat:FILE:DATASET", "FILE:DATASET" or "quadrature:RULE". */
typedef struct h5p_weights {
    char *spec;           /* as given */
    h5p_weights_kind kind;
    char *file, *dataset; /* coslat and array: the file (as given) and dataset path */
    char realpath[4096];  /* coslat and array: the file's real path, "" for a quadrature */
    char rule[32];        /* quadrature: naive, legendre-gauss or clenshaw-curtis */
    int axis;             /* --weights-axis, -1 when not given */
    char opt[192], axis_opt[192]; /* what messages call the spec and the axis: "--weights" and
                                     "--weights-axis", or a recipe's "outputs.x.normalize.weights" */
} h5p_weights;

/* Parses spec (axis: --weights-axis or -1) into *out (h5p_weights_free it): an unknown rule, or a
 * quadrature without an axis, is H5PREP_ERR_USAGE. key: NULL for the stats options, else the
 * recipe key that holds `weights` and `weights_axis` ("outputs.x.normalize"), which messages then
 * name. Files are opened by h5p_weights_resolve. */
h5prep_status h5p_weights_parse(const char *spec, int axis, const char *key, h5p_weights **out);
void h5p_weights_free(h5p_weights *w); /* accepts NULL */

/* One weight per element of v: w[(r * row_elems) + j] for element j of row r, where r is 0 when the
 * weights do not vary along axis 0 (rows 1), else the variable's row (rows = v->dims[0]). */
typedef struct h5p_wtable {
    double *w;
    uint64_t rows, row_elems;
    int axis; /* the data axis of a 1-D rule (coslat, quadrature), -1 for a weight array */
} h5p_wtable;

/* The weights of w for variable v (path: its first file, for messages): reads the file of coslat
 * and array specs (a missing file or dataset has the opener's status), finds the latitude axis by
 * its netCDF-4 dimension name unless --weights-axis names it, broadcasts a weight array by
 * numpy's rules against v's shape (H5PREP_ERR_SHAPE naming both shapes where it does not), and
 * refuses negative, NaN or infinite weights (H5PREP_ERR_USAGE). Fills in w->realpath. */
h5prep_status h5p_weights_resolve(h5p_weights *w, const h5p_var *v, h5p_wtable *t);
void h5p_wtable_free(h5p_wtable *t); /* accepts a zeroed table */

/* The latitude factor of quadrature rule `rule` on n >= 2 latitudes into q (n), as NVIDIA Makani's
 * GridQuadrature (over torch-harmonics' rules) has it, each summing to 2; -1 for an unknown rule. */
int h5p_quadrature(const char *rule, uint64_t n, double *q);

#endif
