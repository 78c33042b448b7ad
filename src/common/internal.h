/* internal.h: the common stage (src/common), below every other: error plumbing and small helpers.
 * Errors travel up as h5prep_status; the message is kept per thread for h5prep_last_error(). */
#ifndef H5PREP_INTERNAL_H
#define H5PREP_INTERNAL_H

#include "h5prep.h"
#include "common/hd.h"

#include <stdarg.h>
#include <stddef.h>

#if defined(__GNUC__)
#define H5P_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define H5P_PRINTF(a, b)
#endif

/* Records the message for h5prep_last_error() and returns `st`. */
h5prep_status h5p_fail(h5prep_status st, const char *fmt, ...) H5P_PRINTF(2, 3);
/* Appends "\nhint: ..." to the current message; returns `st`. */
h5prep_status h5p_hint(h5prep_status st, const char *fmt, ...) H5P_PRINTF(2, 3);
void h5p_clear_error(void);
/* Passes one warning line to the handler of h5prep_set_warning_handler(), if any. */
void h5p_warn(const char *fmt, ...) H5P_PRINTF(1, 2);
/* Copies the message into/out of a buffer, to carry an error between threads. */
void h5p_error_save(char *dst, size_t cap);
void h5p_error_restore(const char *msg);

#define RETURN_ERROR_IF(cond, st, ...)                                                             \
    do {                                                                                           \
        if (cond)                                                                                  \
            return h5p_fail((st), __VA_ARGS__);                                                    \
    } while (0)

#define FORWARD_IF_ERROR(expr)                                                                     \
    do {                                                                                           \
        h5prep_status st_ = (expr);                                                                \
        if (st_ != H5PREP_OK)                                                                      \
            return st_;                                                                            \
    } while (0)

/* The compute threads of a config: cfg->threads, or every online core when it is 0. */
int h5p_thread_count(const h5prep_stats_config *cfg);

/* Interrupt flag set by h5prep_interrupt(). */
int h5p_interrupted(void);

/* d[a] * d[a+1] * ... * d[b-1]; 1 when b <= a. */
uint64_t h5p_prod(const uint64_t *d, int a, int b);

/* "(a, b, c)"; "(n,)" for rank 1. */
void h5p_format_shape(char *dst, size_t cap, int rank, const uint64_t *dims);
/* "917.50 kB", "1.05 MB", "12 B": a byte count in decimal units, for people. */
void h5p_format_bytes(char *dst, size_t cap, double bytes);
/* "2026-12-02T17:05:54Z": a time in seconds since the epoch as ISO 8601 UTC. */
void h5p_format_utc(char dst[32], int64_t seconds);

/* malloc/calloc that never return NULL for size 0. */
void *h5p_malloc(size_t n);
void *h5p_calloc(size_t count, size_t size);
char *h5p_strdup(const char *s);

/* The most specific message on this thread's HDF5 error stack, for "(HDF5: ...)" suffixes: the
 * innermost non-empty description; "no reason given" when the stack says nothing. Call it before
 * any other HDF5 call, which would clear the stack. */
const char *h5p_hdf5_reason(void);
/* Writes a scalar UTF-8 string attribute on an HDF5 object (hid_t); negative on failure. */
int h5p_put_string_attr(int64_t obj, const char *name, const char *value);

/* Turns off HDF5's own printing of errors for the calling thread. */
void h5p_hdf5_init(void);

#endif
