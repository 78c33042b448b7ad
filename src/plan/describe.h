/* describe.h: what each output of a plan is, in words a reader of the outputs can use: the
 * recipe expression, normalization, cast, axis names and labels. The transform writes it into
 * index.json and onto each HDF5 dataset (output/sink.h). */
#ifndef H5PREP_DESCRIBE_H
#define H5PREP_DESCRIBE_H

#include "plan/plan.h"

#include <jansson.h>

/* Axis names (sample axis first) and labels of one output. */
typedef struct h5p_output_labels {
    char dims[H5PREP_MAX_RANK + 1][72]; /* "sample", then each per-sample axis: the inputs'
                                           dimension name where the ops keep that axis as it is,
                                           else "<output>_dim<axis>" (the Python package's names) */
    char units[128];     /* the variable's units where the output is one variable, not normalized */
    char long_name[256]; /* the variable's long_name where the output is one variable */
} h5p_output_labels;

/* The recipe expression as JSON, in the recipe's own form: a variable's name, or
 * {"<op>": {arguments..., "of": operand(s)}}. NULL when out of memory. */
json_t *h5p_expr_json(const h5p_expr *e);

/* The name of a normalization method as recipes and index.json spell it. */
const char *h5p_norm_name(h5p_norm_kind k);

/* Output o of p: *meta gets {"from", "normalize": {"method", "keep_axes", "factors"}, "cast",
 * "dims", "channels"?, "units"?, "long_name"?}; `channels` ({"axis", "dim", "count", "labels"
 * or "labels_omitted"}, README's *Output directory*) where a concat or stack made the output's
 * channel axis (plan.h's channel_axis); `factors` is the transform's record of where the factors
 * come from (a reference is taken; README's *Normalization*), absent without normalization.
 * *lab gets the names and labels. H5PREP_ERR_NOMEM only. */
h5prep_status h5p_describe_output(const h5p_plan *p, size_t o, json_t *factors, json_t **meta,
                                  h5p_output_labels *lab);

#endif
