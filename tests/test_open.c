/* test_open.c: input files are opened once and held from their probe to the end of the call that
 * reads them (input/source.c): what is held is closed after a run and after the destruction of a
 * statistics set that never ran; a file replaced after its probe is read as it is now; more files
 * than the table holds are still all read. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

/* Open file descriptors of this process. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own */
}

/* nfiles files f000.h5.. with /x and /y of 4 rows, x = file index + row, y = 10 * x. */
static void write_files(int nfiles)
{
    for (int k = 0; k < nfiles; k++) {
        char name[32];
        snprintf(name, sizeof name, "f%03d.h5", k);
        double x[4], y[4];
        for (int i = 0; i < 4; i++)
            x[i] = k + i, y[i] = 10 * (k + i);
        uint64_t dims[1] = {4};
        tu_write(tu_path(name), "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, dims, x, 0);
        tu_write(tu_path(name), "/y", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, dims, y, 0);
    }
}

/* Runs stats over both datasets of nfiles files and checks every value was read. */
static void run_and_check(int nfiles)
{
    h5prep_stats_config cfg = h5prep_stats_config_default();
    cfg.keep_count = 0;
    const char *in[2] = {tu_input(tu_path("f*.h5"), "/x"), tu_input(tu_path("f*.h5"), "/y")};
    h5prep_stats *s = tu_run(&cfg, in, 2);
    for (size_t v = 0; v < 2; v++) {
        h5prep_var_view w = tu_view(s, v);
        double scale = v ? 10 : 1, mean = scale * ((nfiles - 1) / 2.0 + 1.5);
        cr_assert_eq(w.moments[0].n, 4 * nfiles);
        cr_assert_float_eq(w.moments[0].mean, mean, 1e-12 * mean, "%s mean", w.name);
        cr_assert_eq(w.moments[0].max, scale * (nfiles + 2));
    }
    h5prep_stats_destroy(s);
}

Test(open, held_files_are_closed_after_a_run_and_after_a_set_that_never_ran)
{
    write_files(12);
    int before = open_fds();
    run_and_check(12);
    cr_assert_eq(open_fds(), before, "a run left %d descriptors open", open_fds() - before);

    h5prep_stats *s = h5prep_stats_create(NULL);
    cr_assert_eq(h5prep_stats_add(s, tu_input(tu_path("f*.h5"), "/x")), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_gt(open_fds(), before, "the probed files are held until the run");
    h5prep_stats_destroy(s);
    cr_assert_eq(open_fds(), before, "destroy left %d descriptors open", open_fds() - before);
}

Test(open, a_file_replaced_after_its_probe_is_read_as_it_is_now)
{
    write_files(1);
    h5prep_stats_config cfg = h5prep_stats_config_default();
    cfg.keep_count = 0;
    h5prep_stats *s = h5prep_stats_create(&cfg);
    cr_assert_eq(h5prep_stats_add(s, tu_input(tu_path("f000.h5"), "/x")), H5PREP_OK, "%s", h5prep_last_error());
    /* replaced by a new file of the same shape (a new inode), as a producer rewriting it would */
    cr_assert_eq(unlink(tu_path("f000.h5")), 0);
    double x[4] = {100, 200, 300, 400};
    uint64_t dims[1] = {4};
    tu_write(tu_path("f000.h5"), "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, dims, x, 0);
    cr_assert_eq(h5prep_stats_run(s), H5PREP_OK, "%s", h5prep_last_error());
    h5prep_var_view w = tu_view(s, 0);
    cr_assert_eq(w.moments[0].mean, 250.0, "read the held old file (mean %g), not the new one", w.moments[0].mean);
    h5prep_stats_destroy(s);
}

Test(open, more_files_than_the_table_holds_are_all_read)
{
    /* 64 descriptors: the table holds 16 files, fewer than the 40 given */
    struct rlimit rl = {64, 64};
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    write_files(40);
    int before = open_fds();
    run_and_check(40);
    cr_assert_eq(open_fds(), before);
}
