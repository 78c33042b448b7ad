/* sketch_io.h: a variable's quantile sketch (common/sketch.h) in the h5prep-stats/1 document
 * (output/state_io.c calls these): what it reports (quantiles, histogram, collapsed counts), the
 * sketch itself as JSON (also the .h5 attribute "sketch"), and its merge with a loaded one. */
#ifndef H5PREP_SKETCH_IO_H
#define H5PREP_SKETCH_IO_H

#include "h5prep.h"
#include "input/source.h"

#include <hdf5.h>
#include <jansson.h>

/* Sets "quantile_levels", "quantiles" (F, Q), "histogram_bins", "histogram" (F, bins),
 * "collapsed" (F) and "sketch" on jv when v has a sketch; -1 when out of memory. */
int h5p_sketch_put_json(json_t *jv, const h5p_var *v);
/* The same in the variable's HDF5 group: datasets quantiles, histogram, collapsed and the
 * attribute "sketch" (the JSON object as text); negative on failure. */
herr_t h5p_sketch_put_h5(hid_t g, const h5p_var *v);

/* Reads the "sketch" object of a variable (from JSON, or the text of the .h5 attribute; NULL:
 * none) into v->sketch, checked against v's counts (H5PREP_ERR_STATE naming path and feature). */
h5prep_status h5p_sketch_get_json(json_t *sk, const char *path, h5p_var *v);
h5prep_status h5p_sketch_get_text(const char *text, const char *path, h5p_var *v);

/* What the sketch of v reports: out (n_features, nq) quantiles at levels (NaN where a feature has
 * no value), and out (n_features, bins) histogram counts over each feature's [min, max]. */
void h5p_sketch_quantile_table(const h5p_var *v, const double *levels, size_t nq, double *out);
void h5p_sketch_histogram_table(const h5p_var *v, int bins, uint64_t *out);

/* Whether loaded `in` can merge into v: both have a sketch of the same alpha and buckets, or
 * neither has one (H5PREP_ERR_STATE otherwise, naming path); then the merge itself (exact). */
h5prep_status h5p_sketch_mergeable(const h5p_var *v, const h5p_var *in, const char *path);
void h5p_sketch_merge_var(h5p_var *v, const h5p_var *in);

#endif
