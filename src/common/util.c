/* util.c: per-thread error messages, warnings, the interrupt flag, HDF5 error text.
 * Everything here is used by all the other library sources. */
#include "common/internal.h"

#include <errno.h>
#include <hdf5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char g_msg[2048];
static volatile sig_atomic_t g_interrupt;

const char *h5prep_last_error(void) { return g_msg; }
void h5p_clear_error(void) { g_msg[0] = 0; }
void h5p_error_save(char *dst, size_t cap) { snprintf(dst, cap, "%s", g_msg); }
void h5p_error_restore(const char *msg) { snprintf(g_msg, sizeof g_msg, "%s", msg); }

h5prep_status h5p_fail(h5prep_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return st;
}

h5prep_status h5p_hint(h5prep_status st, const char *fmt, ...)
{
    size_t len = strlen(g_msg);
    if (len + 8 >= sizeof g_msg)
        return st;
    memcpy(g_msg + len, "\nhint: ", 8);
    len += 7;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg + len, sizeof g_msg - len, fmt, ap);
    va_end(ap);
    return st;
}

static h5prep_warning_fn g_warn_fn;
static void *g_warn_user;

void h5prep_set_warning_handler(h5prep_warning_fn fn, void *user)
{
    g_warn_fn = fn;
    g_warn_user = user;
}

void h5p_warn(const char *fmt, ...)
{
    if (!g_warn_fn)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g_warn_fn(msg, g_warn_user);
}

int h5p_thread_count(const h5prep_stats_config *cfg)
{
    long n = cfg->threads > 0 ? cfg->threads : sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void h5prep_interrupt(void) { g_interrupt = 1; }
void h5prep_interrupt_reset(void) { g_interrupt = 0; }
int h5p_interrupted(void) { return g_interrupt != 0; }

const char *h5prep_version(void) { return H5PREP_VERSION_STRING; }

const char *h5prep_status_str(h5prep_status s)
{
    switch (s) {
    case H5PREP_OK: return "success";
    case H5PREP_ERR_INTERNAL: return "internal error";
    case H5PREP_ERR_USAGE: return "invalid usage";
    case H5PREP_ERR_FILE_NOT_FOUND: return "file not found";
    case H5PREP_ERR_NOT_HDF5: return "not an HDF5 file";
    case H5PREP_ERR_CORRUPT: return "damaged or truncated HDF5 file";
    case H5PREP_ERR_NO_DATASET: return "dataset not found";
    case H5PREP_ERR_NOT_DATASET: return "not a dataset";
    case H5PREP_ERR_DTYPE: return "unsupported data type";
    case H5PREP_ERR_SHAPE: return "shape mismatch";
    case H5PREP_ERR_EMPTY: return "empty dataset";
    case H5PREP_ERR_AXES: return "invalid axes";
    case H5PREP_ERR_OUTPUT: return "cannot write output";
    case H5PREP_ERR_NOMEM: return "out of memory";
    case H5PREP_ERR_BACKEND: return "backend unavailable";
    case H5PREP_ERR_STATE: return "invalid statistics file";
    case H5PREP_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}

void *h5p_malloc(size_t n) { return malloc(n ? n : 1); }
void *h5p_calloc(size_t count, size_t size) { return calloc(count ? count : 1, size ? size : 1); }
char *h5p_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static _Thread_local char g_h5reason[512];

/* Walking upward starts at the innermost entry, where the error was found: its description is
 * the most specific ("incorrect metadata checksum after all read attempts"); the outer ones say
 * which call gave up. Entries with an empty description are passed over; when all are empty,
 * the innermost entry's minor message ("Read failed") is used. */
typedef struct reason_walk {
    int found;
    char minor[128];
} reason_walk;

static herr_t walk_reason(unsigned n, const H5E_error2_t *e, void *data)
{
    reason_walk *w = data;
    if (n == 0)
        H5Eget_msg(e->min_num, NULL, w->minor, sizeof w->minor);
    if (!w->found && e->desc && e->desc[0]) {
        snprintf(g_h5reason, sizeof g_h5reason, "%s", e->desc);
        w->found = 1;
    }
    return 0;
}

int h5p_put_string_attr(int64_t obj, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = a < 0 ? -1 : H5Awrite(a, t, &value);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return e;
}

const char *h5p_hdf5_reason(void)
{
    g_h5reason[0] = 0;
    reason_walk w = {0, ""};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_reason, &w);
    if (!w.found)
        snprintf(g_h5reason, sizeof g_h5reason, "%s", w.minor[0] ? w.minor : "no reason given");
    return g_h5reason;
}

/* HDF5 keeps one error stack per thread in a thread-safe build: each thread that calls HDF5
 * turns the automatic printing off for itself. */
static _Thread_local int g_h5init;
void h5p_hdf5_init(void)
{
    if (!g_h5init) {
        H5open();
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        g_h5init = 1;
    }
}

void h5p_format_shape(char *dst, size_t cap, int rank, const uint64_t *dims)
{
    size_t len = 0;
    dst[0] = 0;
    for (int a = 0; a < rank && len < cap; a++)
        len += (size_t)snprintf(dst + len, cap - len, "%s%llu", a ? ", " : "(", (unsigned long long)dims[a]);
    if (len < cap)
        snprintf(dst + len, cap - len, "%s)", rank == 1 ? "," : rank == 0 ? "(" : "");
}

void h5p_format_utc(char dst[32], int64_t seconds)
{
    time_t t = (time_t)seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(dst, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void h5p_format_bytes(char *dst, size_t cap, double bytes)
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    int u = 0;
    while (bytes >= 1000 && u < 5)
        bytes /= 1000, u++;
    snprintf(dst, cap, u ? "%.2f %s" : "%.0f %s", bytes, units[u]);
}

uint64_t h5p_prod(const uint64_t *d, int a, int b)
{
    uint64_t n = 1;
    for (int i = a; i < b; i++)
        n *= d[i];
    return n;
}
