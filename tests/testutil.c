/* testutil.c: helpers for the Criterion suites (see testutil.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "testutil.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_dir[256];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* The scratch directory goes when the test's process exits (Criterion forks one per test). */
static void remove_dir(void) { nftw(g_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

const char *tu_dir(void)
{
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof g_dir, "/tmp/h5prep-test-XXXXXX");
        cr_assert_not_null(mkdtemp(g_dir), "mkdtemp");
        atexit(remove_dir);
    }
    return g_dir;
}

const char *tu_path(const char *name)
{
    static char ring[8][512];
    static int k;
    char *p = ring[k++ % 8];
    snprintf(p, 512, "%s/%s", tu_dir(), name);
    return p;
}

static hid_t open_or_create(const char *path)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = access(path, F_OK) == 0 ? H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT)
                                      : H5Fcreate(path, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(f >= 0, "cannot open %s for writing", path);
    return f;
}

void tu_write(const char *path, const char *name, hid_t ftype, hid_t mtype, int rank, const uint64_t *dims,
              const void *data, uint64_t chunk_rows)
{
    hid_t f = open_or_create(path);
    hsize_t d[H5S_MAX_RANK], c[H5S_MAX_RANK];
    for (int a = 0; a < rank; a++)
        d[a] = c[a] = dims[a];
    hid_t sp = H5Screate_simple(rank, d, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (chunk_rows) {
        c[0] = chunk_rows;
        H5Pset_chunk(dcpl, rank, c);
    }
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t ds = H5Dcreate2(f, name, ftype, sp, lcpl, dcpl, H5P_DEFAULT);
    cr_assert(ds >= 0, "cannot create %s:%s", path, name);
    cr_assert(H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0, "write %s", name);
    H5Dclose(ds);
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(f);
}

/* Attribute attr of dset in path, of the dataspace sp (closed here), written from vals. */
static void put_attr(const char *path, const char *dset, const char *attr, hid_t ftype, hid_t mtype, hid_t sp,
                     const void *vals)
{
    hid_t f = open_or_create(path), d = H5Oopen(f, dset, H5P_DEFAULT);
    hid_t a = H5Acreate2(d, attr, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(a >= 0 && H5Awrite(a, mtype, vals) >= 0, "attribute %s", attr);
    H5Aclose(a);
    H5Sclose(sp);
    H5Oclose(d);
    H5Fclose(f);
}

void tu_attr_typed(const char *path, const char *dset, const char *attr, hid_t ftype, hid_t mtype, const void *vals,
                   size_t n)
{
    hsize_t dim = (hsize_t)n;
    put_attr(path, dset, attr, ftype, mtype, H5Screate_simple(1, &dim, NULL), vals);
}

void tu_attr_text(const char *path, const char *dset, const char *attr, const char *text)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(text));
    put_attr(path, dset, attr, t, t, H5Screate(H5S_SCALAR), text);
    H5Tclose(t);
}

void tu_attr(const char *path, const char *dset, const char *attr, hid_t ftype, const double *vals, int n)
{
    tu_attr_typed(path, dset, attr, ftype, H5T_NATIVE_DOUBLE, vals, (size_t)n);
}

void tu_reference(const double *x, uint64_t outer, uint64_t F, uint64_t inner, h5prep_moments *out)
{
    for (uint64_t f = 0; f < F; f++) {
        long double sum = 0;
        int64_t n = 0, miss = 0;
        double mn = INFINITY, mx = -INFINITY;
        for (uint64_t o = 0; o < outer; o++)
            for (uint64_t i = 0; i < inner; i++) {
                double v = x[(o * F + f) * inner + i];
                if (isnan(v)) {
                    miss++;
                    continue;
                }
                sum += v;
                n++;
                mn = v < mn ? v : mn;
                mx = v > mx ? v : mx;
            }
        long double mean = n ? sum / n : 0, m2 = 0;
        for (uint64_t o = 0; o < outer; o++)
            for (uint64_t i = 0; i < inner; i++) {
                double v = x[(o * F + f) * inner + i];
                if (!isnan(v))
                    m2 += (v - mean) * (v - mean);
            }
        out[f] = (h5prep_moments){n, miss, (double)mean, (double)m2, mn, mx};
    }
}

const char *tu_input(const char *path, const char *dset)
{
    static char ring[8][700];
    static int k;
    char *p = ring[k++ % 8];
    snprintf(p, 700, "%s:%s", path, dset);
    return p;
}

h5prep_stats *tu_run(const h5prep_stats_config *cfg, const char *const *inputs, int n)
{
    h5prep_stats *s = h5prep_stats_create(cfg);
    cr_assert_not_null(s);
    for (int i = 0; i < n; i++) {
        h5prep_status st = h5prep_stats_add(s, inputs[i]);
        cr_assert_eq(st, H5PREP_OK, "add %s: %s", inputs[i], h5prep_last_error());
    }
    h5prep_status st = h5prep_stats_run(s);
    cr_assert_eq(st, H5PREP_OK, "run: %s", h5prep_last_error());
    return s;
}

h5prep_var_view tu_view(const h5prep_stats *s, size_t i)
{
    h5prep_var_view v;
    cr_assert_eq(h5prep_stats_var(s, i, &v), H5PREP_OK, "%s", h5prep_last_error());
    return v;
}

void tu_close(double got, double want, double abs_tol, double rel_tol, const char *what, uint64_t f)
{
    double tol = abs_tol + rel_tol * fabs(want);
    cr_assert(fabs(got - want) <= tol, "%s[%llu]: got %.17g, want %.17g (tolerance %.3g)", what,
              (unsigned long long)f, got, want, tol);
}

void tu_compare(const h5prep_moments *got, const h5prep_moments *want, uint64_t nf, double rel_tol)
{
    for (uint64_t f = 0; f < nf; f++) {
        cr_assert_eq(got[f].n, want[f].n, "count[%llu]: %lld != %lld", (unsigned long long)f, (long long)got[f].n,
                     (long long)want[f].n);
        cr_assert_eq(got[f].missing, want[f].missing, "missing[%llu]: %lld != %lld", (unsigned long long)f,
                     (long long)got[f].missing, (long long)want[f].missing);
        if (want[f].n == 0)
            continue;
        cr_assert_eq(got[f].min, want[f].min, "min[%llu]: %.17g != %.17g", (unsigned long long)f, got[f].min, want[f].min);
        cr_assert_eq(got[f].max, want[f].max, "max[%llu]: %.17g != %.17g", (unsigned long long)f, got[f].max, want[f].max);
        double scale = fmax(fabs(want[f].mean), sqrt(want[f].m2 / (double)want[f].n));
        tu_close(got[f].mean, want[f].mean, rel_tol * scale, rel_tol, "mean", f);
        double var_g = got[f].m2 / (double)got[f].n, var_w = want[f].m2 / (double)want[f].n;
        /* the variance is checked relative to itself, with an absolute floor at the rounding
           level of the data's magnitude (mean^2 * eps * n grows with n) */
        tu_close(var_g, var_w, 1e-15 * want[f].mean * want[f].mean * (double)want[f].n, rel_tol, "var", f);
    }
}

static char g_out[8 << 20], g_err[65536];
const char *tu_stdout(void) { return g_out; }
const char *tu_stderr(void) { return g_err; }

static void slurp(int fd, char *dst, size_t cap)
{
    size_t len = 0;
    ssize_t k;
    while ((k = read(fd, dst + len, cap - 1 - len)) > 0 && len + (size_t)k < cap - 1)
        len += (size_t)k;
    dst[len] = 0;
    char sink[4096];
    while (read(fd, sink, sizeof sink) > 0) {
    }
}

int tu_cli(const char *const *args) { return tu_cli_with(H5PREP_CLI, args); }

/* Where a child's stdout and stderr go (600 bytes each). */
static void cli_paths(char *outp, char *errp)
{
    snprintf(outp, 600, "%s/cli.out", tu_dir());
    snprintf(errp, 600, "%s/cli.err", tu_dir());
}

pid_t tu_cli_start(const char *binary, const char *const *args, int stopped)
{
    char outp[600], errp[600];
    cli_paths(outp, errp);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork");
    if (pid == 0) {
        int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644), e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(126); /* no place for the output: the caller sees exit 126 */
        const char *argv[64];
        int n = 0;
        argv[n++] = binary;
        for (int i = 0; args[i] && n < 63; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        if (stopped)
            raise(SIGSTOP);
        execv(binary, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int tu_cli_wait(pid_t pid)
{
    char outp[600], errp[600];
    cli_paths(outp, errp);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) /* a signal (Criterion's timers) may interrupt the wait */
        cr_assert_eq(errno, EINTR, "waitpid: %s", strerror(errno));
    int fo = open(outp, O_RDONLY), fe = open(errp, O_RDONLY);
    cr_assert(fo >= 0 && fe >= 0, "the output of the command went missing (%s)", outp);
    slurp(fo, g_out, sizeof g_out);
    slurp(fe, g_err, sizeof g_err);
    close(fo);
    close(fe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The whole dataset as float64 (HDF5 converts); *count gets the number of values. */
double *tu_read_all(const char *file, const char *dset, size_t *count)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(f >= 0, "cannot open %s", file);
    hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
    cr_assert(d >= 0, "%s has no dataset %s", file, dset);
    hid_t sp = H5Dget_space(d);
    size_t n = (size_t)H5Sget_simple_extent_npoints(sp);
    double *x = malloc((n ? n : 1) * sizeof *x);
    cr_assert(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    *count = n;
    return x;
}

void tu_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert(fputs(text, f) >= 0 && fclose(f) == 0, "cannot write %s", path);
}

json_t *tu_load_json(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    cr_assert_not_null(j, "%s: %s", path, e.text);
    return j;
}

void tu_python_ok(const char *code, const char *arg)
{
    char cmd[16384];
    cr_assert_lt(snprintf(cmd, sizeof cmd, "%s -c \"%s\" '%s'", H5PREP_PYTHON, code, arg), (int)sizeof cmd);
    cr_assert_eq(system(cmd), 0, "the Python check failed (its message is above): %s", cmd);
}

int tu_transform_fmt(const char *binary, const char *backend, const char *out, const char *dir, const char *name,
                     const char *fmt, ...)
{
    char text[8192], recipe[1024];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    cr_assert(len >= 0 && (size_t)len < sizeof text, "recipe text too long");
    snprintf(recipe, sizeof recipe, "%s/%s", dir, name);
    tu_write_text(recipe, text);
    return tu_transform(binary, recipe, out, backend, NULL);
}

int tu_transform(const char *binary, const char *recipe, const char *out, const char *backend, const char *const *extra)
{
    const char *args[16] = {"transform", recipe, "--out", out, "--quiet", "--backend", backend};
    int n = 7;
    for (int k = 0; extra && extra[k]; k++) {
        cr_assert(n < 15, "tu_transform: more than 8 extra arguments");
        args[n++] = extra[k];
    }
    args[n] = NULL;
    return tu_cli_with(binary, args);
}

int tu_cli_with(const char *binary, const char *const *args) { return tu_cli_wait(tu_cli_start(binary, args, 0)); }

int tu_exists(const char *path) { return access(path, F_OK) == 0; }

int tu_any_temporary(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d)))
        found |= strstr(e->d_name, ".h5prep-tmp-") != NULL;
    closedir(d);
    return found;
}

double tu_normal(uint64_t *s)
{
    double u[2];
    for (int k = 0; k < 2; k++) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        u[k] = ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]);
}
