/* testutil.h: shared helpers of the test suite: scratch files, HDF5 writers, the independent
 * float64 reference (two-pass, long double sums) and a CLI runner that captures stderr. */
#ifndef H5PREP_TESTUTIL_H
#define H5PREP_TESTUTIL_H

#include "h5prep.h"

#include <hdf5.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A fresh scratch directory for one test; returns "dir/name" in a static ring of buffers. */
const char *tu_dir(void);
const char *tu_path(const char *name);

/* Writes dataset `name` (intermediate groups created) to file `path` (created if absent), of
 * type `ftype` from memory type `mtype`; chunk_rows > 0 makes it chunked along axis 0. */
void tu_write(const char *path, const char *name, hid_t ftype, hid_t mtype, int rank, const uint64_t *dims,
              const void *data, uint64_t chunk_rows);
/* Adds a numeric attribute with n values (stored as type `ftype`). */
void tu_attr(const char *path, const char *dset, const char *attr, hid_t ftype, const double *vals, int n);
/* The same from n values of memory type mtype. */
void tu_attr_typed(const char *path, const char *dset, const char *attr, hid_t ftype, hid_t mtype, const void *vals,
                   size_t n);

/* Adds a string attribute (fixed length, ASCII) to dataset or group `dset`. */
void tu_attr_text(const char *path, const char *dset, const char *attr, const char *text);

/* Reference statistics of x viewed as [outer][F][inner], NaN meaning missing: two passes with
 * long double sums. Out: (F,) states. */
void tu_reference(const double *x, uint64_t outer, uint64_t F, uint64_t inner, h5prep_moments *out);

/* "path:dset", in a static ring of buffers. */
const char *tu_input(const char *path, const char *dset);
/* Runs stats on inputs with cfg; returns the stats object (asserts success). */
h5prep_stats *tu_run(const h5prep_stats_config *cfg, const char *const *inputs, int n);
/* The view of variable i. */
h5prep_var_view tu_view(const h5prep_stats *s, size_t i);

/* |got - want| <= abs + rel*|want|, with a message naming `what` and feature f on failure. */
void tu_close(double got, double want, double abs_tol, double rel_tol, const char *what, uint64_t f);
/* Compares states: n, missing, min, max exactly; mean and variance within rel_tol. */
void tu_compare(const h5prep_moments *got, const h5prep_moments *want, uint64_t nf, double rel_tol);

/* Runs the h5prep CLI with arguments (a NULL-terminated list); returns its exit code and stores
 * stdout (up to 8 MiB) and stderr (64 KiB) in static buffers. */
int tu_cli(const char *const *args);
/* The same with another binary (h5prep-simt). */
int tu_cli_with(const char *binary, const char *const *args);
/* tu_cli_with in two steps: the child is started (its pid returned), then waited for. With
 * `stopped`, the child stops itself (SIGSTOP) before exec and the caller sends SIGCONT; its pid
 * is then known before it runs. */
pid_t tu_cli_start(const char *binary, const char *const *args, int stopped);
int tu_cli_wait(pid_t pid);
const char *tu_stdout(void);
const char *tu_stderr(void);

/* The whole dataset `dset` of `file` as float64 (HDF5 converts), malloc'd; *count gets the
 * number of values. */
double *tu_read_all(const char *file, const char *dset, size_t *count);
/* Writes text to a file (a recipe, a catalog), asserting success. */
void tu_write_text(const char *path, const char *text);
/* Runs `transform RECIPE --out out --quiet --backend backend [extra...]` (extra: NULL-terminated,
 * at most 8, or NULL) with binary; the exit code (stderr in tu_stderr()). */
int tu_transform(const char *binary, const char *recipe, const char *out, const char *backend, const char *const *extra);
/* Writes the recipe printf(fmt, ...) to DIR/NAME and runs `transform DIR/NAME --out out --quiet
 * --backend backend` with binary; the exit code (stderr in tu_stderr()). */
int tu_transform_fmt(const char *binary, const char *backend, const char *out, const char *dir, const char *name,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Runs the Python check `code` (no double quotes in it) with `arg` as sys.argv[1]; it must exit 0
 * (its message is printed above the failure). */
void tu_python_ok(const char *code, const char *arg);
/* dir/name parsed as JSON; the test fails when it cannot be read or parsed. */
json_t *tu_load_json(const char *dir, const char *name);

int tu_exists(const char *path);
/* Whether dir holds a temporary of h5prep (a name with ".h5prep-tmp-", common/outfile.h). */
int tu_any_temporary(const char *dir);

/* Seeded N(0,1) (Box-Muller over xorshift). */
double tu_normal(uint64_t *state);

#endif
