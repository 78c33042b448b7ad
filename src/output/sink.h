/* sink.h: the files a transform writes into its output directory: one HDF5 file per split
 * and/or .npy shards (flat, or with write.npy_dask a folder per output that dask's from_npy_stack
 * opens), plus index.json. Rows come in order (h5p_sink_write) or at their place (h5p_sink_write_at); the engine writes the
 * whole directory under a temporary name and renames it when complete. */
#ifndef H5PREP_SINK_H
#define H5PREP_SINK_H

#include "h5prep.h"
#include "plan/describe.h"
#include "plan/recipe.h"

#include <stddef.h>
#include <stdint.h>

typedef struct h5p_sink h5p_sink;

/* Opens the sink on an existing, empty directory `dir`. Splits have names and row counts
 * (a split may have 0 rows: its files hold (0, ...) arrays). */
h5prep_status h5p_sink_open(h5p_sink **out, const char *dir, const h5p_write_spec *w, int nsplits,
                            char *const *split_names, const uint64_t *split_rows);

/* Declares output o (in call order from 0): per-sample rank and shape (not counting axis 0) and
 * the stored type. All outputs are declared before the first write. */
h5prep_status h5p_sink_add_output(h5p_sink *s, const char *name, int rank, const uint64_t *shape,
                                  h5p_out_dtype t);

/* Says what output o is (before the first write): `meta` (a JSON object, plan/describe.h; a
 * reference is taken) goes into index.json under "outputs" and, in each HDF5 file, onto the
 * dataset as attributes (h5prep_from and h5prep_normalize as JSON text, h5prep_cast, units,
 * long_name), with netCDF-4 dimensions: a dimension scale per axis name of `lab` (sample first)
 * attached to the dataset, shared by the outputs that name the same axis with the same length
 * (one of another length gets "<output>_<name>"), so that netCDF readers and xarray see named
 * dimensions; the axis of meta's "channels" gets its labels as a string coordinate variable. */
h5prep_status h5p_sink_describe(h5p_sink *s, int o, json_t *meta, const h5p_output_labels *lab);

/* Appends n rows of output o to split k: n * prod(shape) values of the output's type, native
 * order. Rows of one (o, k) arrive in order; calls for different (o, k) may interleave. */
h5prep_status h5p_sink_write(h5p_sink *s, int o, int k, uint64_t n, const void *data);

/* Writes n rows of output o at rows [row, row + n) of split k, in any order of calls, each row
 * once: .npy rows at their offset in their shard, HDF5 rows a hyperslab each call. Compressed
 * (write.gzip) HDF5 chunks are written once, so there rows must come in order; the engine keeps
 * two passes where they would not. Not mixed with h5p_sink_write on one (o, k). */
h5prep_status h5p_sink_write_at(h5p_sink *s, int o, int k, uint64_t row, uint64_t n, const void *data);

/* Checks that every (o, k) got all its rows, closes every file, and writes <dir>/index.json
 * ("h5prep-dataset/1": per split its rows, HDF5 file, and per output its shape, dtype and
 * shards; "outputs": what h5p_sink_describe said of each; plus `extra`, a JSON object text merged at the top level, may be NULL). */
h5prep_status h5p_sink_close(h5p_sink *s, const char *extra);
/* Frees; files already written stay (the engine removes its temporary directory). */
void h5p_sink_free(h5p_sink *s);

#endif
