/* test_outputs.c: what h5prep writes never touches anyone else's file: links at and inside the
 * outputs, SIGTERM/SIGHUP, stale temporaries of killed runs, and a full disk (a small tmpfs). */
#include "common/outfile.h"
#include "output/sink.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Asserts that path holds exactly `text`. */
static void holds(const char *path, const char *text)
{
    char buf[256] = {0};
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s went missing", path);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cr_assert_str_eq(buf, text, "%s was changed", path);
}

static int is_link(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode);
}

/* (rows, cols) float32 of seeded normals at path:/a, chunked by 1024 rows. */
static const char *make_input(const char *name, uint64_t rows, uint64_t cols)
{
    const char *path = tu_path(name);
    float *x = malloc(rows * cols * sizeof *x);
    cr_assert_not_null(x);
    uint64_t seed = 7;
    for (uint64_t i = 0; i < rows * cols; i++)
        x[i] = (float)tu_normal(&seed);
    uint64_t dims[2] = {rows, cols};
    tu_write(path, "a", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, x, rows < 1024 ? rows : 1024);
    free(x);
    return path;
}

/* A recipe over input's /a into write options `write` (e.g. "{hdf5: true}"); its path. */
static const char *make_recipe(const char *name, const char *input, const char *write)
{
    char text[2048];
    snprintf(text, sizeof text, "inputs: {files: %s, variables: [a]}\noutputs:\n  x: {from: a}\nwrite: %s\n", input, write);
    const char *path = tu_path(name);
    tu_write_text(path, text);
    return path;
}

/* in[512]: an input file; victim[512]: someone's file holding "precious"; state[512]: the
 * statistics of in's /a, for merge. */
static void victim_and_state(char *in, char *victim, char *state)
{
    snprintf(in, 512, "%s", make_input("in.h5", 64, 3));
    snprintf(victim, 512, "%s", tu_path("victim"));
    tu_write_text(victim, "precious");
    snprintf(state, 512, "%s", tu_path("state.json"));
    const char *good[] = {"stats", tu_input(in, "/a"), "-o", state, "--quiet", NULL};
    cr_assert_eq(tu_cli(good), 0, "%s", tu_stderr());
}

/* ---- links ------------------------------------------------------------------------------- */

Test(outputs, a_link_at_the_output_is_refused_for_every_kind)
{
    char in[512], victim[512], state[512], recipe[512];
    victim_and_state(in, victim, state);
    snprintf(recipe, sizeof recipe, "%s", make_recipe("r.yaml", in, "{hdf5: true}"));
    const char *names[] = {"l.json", "l.h5", "m.json"};
    for (int i = 0; i < 3; i++) {
        char link[512];
        snprintf(link, sizeof link, "%s", tu_path(names[i]));
        cr_assert_eq(symlink(victim, link), 0);
        const char *stats[] = {"stats", tu_input(in, "/a"), "-o", link, "--quiet", NULL};
        const char *merge[] = {"merge", state, "-o", link, NULL};
        int rc = tu_cli(i < 2 ? stats : merge);
        cr_assert_eq(rc, 12, "%s -o %s: exit %d; %s", i < 2 ? "stats" : "merge", names[i], rc, tu_stderr());
        cr_assert(strstr(tu_stderr(), "is a symbolic link"), "%s", tu_stderr());
        holds(victim, "precious");
        cr_assert(is_link(link), "the link %s was replaced", link);
    }
    /* transform -o DIR where DIR is a link to someone's directory, with and without --overwrite */
    const char *vdir = tu_path("vdir"), *ldir = tu_path("ldir");
    cr_assert_eq(mkdir(vdir, 0777), 0);
    char vfile[512];
    snprintf(vfile, sizeof vfile, "%s/index.json", vdir);
    tu_write_text(vfile, "precious");
    cr_assert_eq(symlink(vdir, ldir), 0);
    for (int overwrite = 0; overwrite < 2; overwrite++) {
        const char *args[] = {"transform", recipe, "--out", ldir, "--quiet", overwrite ? "--overwrite" : NULL, NULL};
        cr_assert_eq(tu_cli(args), 12, "%s", tu_stderr());
        cr_assert(strstr(tu_stderr(), "is a symbolic link"), "%s", tu_stderr());
        holds(vfile, "precious");
        cr_assert(is_link(ldir));
    }
    cr_assert(!tu_any_temporary(tu_dir()), "a refused run left a temporary");
}

/* The attack of issue 10: links planted at the temporary names of the old scheme (OUT.tmp-PID,
 * the pid known before the run starts) and at every name of the new one that can be guessed
 * (all but the random part) must not make h5prep write anywhere but its output. */
Test(outputs, links_planted_at_guessable_temporary_names_are_never_followed)
{
    char in[512], victim[512], state[512];
    victim_and_state(in, victim, state);
    const char *names[] = {"o.json", "o.h5", "m.json"};
    for (int i = 0; i < 3; i++) {
        char out[512], link[600];
        snprintf(out, sizeof out, "%s", tu_path(names[i]));
        const char *stats[] = {"stats", tu_input(in, "/a"), "-o", out, "--quiet", NULL};
        const char *merge[] = {"merge", state, "-o", out, NULL};
        pid_t pid = tu_cli_start(H5PREP_CLI, i < 2 ? stats : merge, 1);
        int status;
        cr_assert_eq(waitpid(pid, &status, WUNTRACED), pid);
        cr_assert(WIFSTOPPED(status));
        snprintf(link, sizeof link, "%s.tmp-%ld", out, (long)pid);
        cr_assert_eq(symlink(victim, link), 0);
        kill(pid, SIGCONT);
        cr_assert_eq(tu_cli_wait(pid), 0, "%s: %s", names[i], tu_stderr());
        holds(victim, "precious");
        cr_assert(!is_link(out) && tu_exists(out), "%s is not the output h5prep wrote", out);
        unlink(link);
    }
}

/* The files inside a transform's directory, planted as links before each is created (the
 * directory is private while written; this is the writer's own guarantee). */
Test(outputs, links_inside_the_output_directory_are_never_followed)
{
    char victim[512], d[512], p[600];
    snprintf(victim, sizeof victim, "%s", tu_path("victim"));
    tu_write_text(victim, "precious");
    char *names[] = {"train"};
    uint64_t rows[] = {4}, shape[] = {2};
    float data[8] = {0};
    h5p_sink *s = NULL;

    snprintf(d, sizeof d, "%s", tu_path("d1")); /* <split>.h5 */
    cr_assert_eq(mkdir(d, 0777), 0);
    snprintf(p, sizeof p, "%s/train.h5", d);
    cr_assert_eq(symlink(victim, p), 0);
    h5p_write_spec h5 = {.hdf5 = 1};
    cr_assert_neq(h5p_sink_open(&s, d, &h5, 1, names, rows), H5PREP_OK, "the sink wrote through %s", p);
    holds(victim, "precious");

    snprintf(d, sizeof d, "%s", tu_path("d2")); /* <split>/<output>-00000.npy, planted after the open */
    cr_assert_eq(mkdir(d, 0777), 0);
    h5p_write_spec npy = {.npy = 1};
    cr_assert_eq(h5p_sink_open(&s, d, &npy, 1, names, rows), H5PREP_OK, "%s", h5prep_last_error());
    snprintf(p, sizeof p, "%s/train/x-00000.npy", d);
    cr_assert_eq(symlink(victim, p), 0);
    cr_assert_neq(h5p_sink_add_output(s, "x", 1, shape, H5P_OUT_F32), H5PREP_OK, "the sink wrote through %s", p);
    h5p_sink_free(s);
    holds(victim, "precious");

    snprintf(d, sizeof d, "%s", tu_path("d3")); /* index.json */
    cr_assert_eq(mkdir(d, 0777), 0);
    snprintf(p, sizeof p, "%s/index.json", d);
    cr_assert_eq(symlink(victim, p), 0);
    cr_assert_eq(h5p_sink_open(&s, d, &npy, 1, names, rows), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5p_sink_add_output(s, "x", 1, shape, H5P_OUT_F32), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5p_sink_write(s, 0, 0, 4, data), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_neq(h5p_sink_close(s, NULL), H5PREP_OK, "the sink wrote through %s", p);
    h5p_sink_free(s);
    holds(victim, "precious");

    /* split.json and stats.json: written through h5p_tmpfile, which refuses a link at the name */
    snprintf(p, sizeof p, "%s/split.json", d);
    cr_assert_eq(symlink(victim, p), 0);
    h5p_tmpfile t;
    cr_assert_eq(h5p_tmpfile_begin(&t, p), H5PREP_ERR_OUTPUT);
    cr_assert(strstr(h5prep_last_error(), "is a symbolic link"), "%s", h5prep_last_error());
    holds(victim, "precious");
    cr_assert(!tu_any_temporary(d));
}

/* ---- signals ----------------------------------------------------------------------------- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A transform slow enough to be stopped (deflate 9 of 48 MB of normals): started, and signalled
 * with sig once its temporary directory exists; returns the exit code. */
static int transform_signalled(int sig, const char *out)
{
    char in[512];
    snprintf(in, sizeof in, "%s", tu_path("big.h5"));
    if (!tu_exists(in))
        make_input("big.h5", 96 * 1024, 128);
    const char *recipe = make_recipe("slow.yaml", in, "{hdf5: {gzip: 9}}");
    const char *args[] = {"transform", recipe, "--out", out, "--quiet", "--threads", "1", NULL};
    pid_t pid = tu_cli_start(H5PREP_CLI, args, 0);
    for (int ms = 0; ms < 20000 && !tu_any_temporary(tu_dir()); ms += 5)
        sleep_ms(5);
    cr_assert(tu_any_temporary(tu_dir()), "the run made no temporary directory in 20 s");
    kill(pid, sig);
    return tu_cli_wait(pid);
}

Test(outputs, sigterm_and_sighup_stop_a_transform_and_leave_nothing, .timeout = 120)
{
    const int sigs[] = {SIGTERM, SIGHUP};
    for (int i = 0; i < 2; i++) {
        const char *out = tu_path("out");
        int rc = transform_signalled(sigs[i], out);
        cr_assert_eq(rc, 128 + sigs[i], "signal %d: exit %d; %s", sigs[i], rc, tu_stderr());
        cr_assert(strstr(tu_stderr(), "interrupted"), "the run did not stop itself: %s", tu_stderr());
        cr_assert(!tu_exists(out), "an interrupted run left its output");
        cr_assert(!tu_any_temporary(tu_dir()), "an interrupted run left its temporary");
    }
}

/* stats through the SIMT build (CUDA kernels run on the CPU: seconds for 30 MB) */
Test(outputs, sigterm_stops_stats_and_writes_nothing, .timeout = 120)
{
    const char *in = make_input("stats.h5", 120 * 1024, 64);
    const char *out = tu_path("s.h5");
    const char *args[] = {"stats", tu_input(in, "/a"), "--backend", "cuda", "--threads", "1", "-o", out, "--quiet", NULL};
    pid_t pid = tu_cli_start(H5PREP_CLI_SIMT, args, 0);
    sleep_ms(300);
    kill(pid, SIGTERM);
    int rc = tu_cli_wait(pid);
    cr_assert_eq(rc, 128 + SIGTERM, "exit %d; %s", rc, tu_stderr());
    cr_assert(strstr(tu_stderr(), "interrupted"), "the run did not stop itself: %s", tu_stderr());
    cr_assert(!tu_exists(out));
    cr_assert(!tu_any_temporary(tu_dir()));
}

/* ---- stale temporaries ------------------------------------------------------------------- */

Test(outputs, a_killed_run_does_not_block_the_next_and_its_leftover_goes, .timeout = 120)
{
    const char *out = tu_path("out");
    cr_assert_eq(transform_signalled(SIGKILL, out), 128 + SIGKILL);
    cr_assert(tu_any_temporary(tu_dir()), "SIGKILL leaves the temporary directory (it is the case tested)");
    const char *in = make_input("small.h5", 50, 3);
    const char *recipe = make_recipe("fast.yaml", in, "{hdf5: true}");
    const char *args[] = {"transform", recipe, "--out", out, "--quiet", NULL};
    cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "removed the temporary of an h5prep run that ended without cleaning up"), "%s",
              tu_stderr());
    cr_assert(!tu_any_temporary(tu_dir()), "the stale temporary is still there");
    cr_assert(tu_exists(tu_path("out/all.h5")), "the second run wrote nothing");
}

/* The start time of this process as h5prep records it: field 22 of /proc/self/stat. */
static unsigned long long own_start(void)
{
    char buf[1024] = {0};
    FILE *f = fopen("/proc/self/stat", "r");
    cr_assert_not_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long long v = 0;
    for (int field = 3; p && field <= 22; field++) {
        p = strchr(p + 1, ' ');
        if (field == 22 && p)
            v = strtoull(p + 1, NULL, 10);
    }
    return v;
}

Test(outputs, only_stale_temporaries_of_this_user_are_swept_and_links_are_left)
{
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    char gone[512], reused[512], live[512], link[512], victim[512];
    snprintf(gone, sizeof gone, "%s/.o.json.h5prep-tmp-%ld-123-AAAAAA", tu_dir(), (long)dead);
    snprintf(reused, sizeof reused, "%s/.o.json.h5prep-tmp-%ld-1-BBBBBB", tu_dir(), (long)getpid());
    snprintf(live, sizeof live, "%s/.o.json.h5prep-tmp-%ld-%llu-CCCCCC", tu_dir(), (long)getpid(), own_start());
    snprintf(link, sizeof link, "%s/.o.json.h5prep-tmp-%ld-123-DDDDDD", tu_dir(), (long)dead);
    snprintf(victim, sizeof victim, "%s", tu_path("victim"));
    tu_write_text(gone, "left by a killed run");
    tu_write_text(reused, "its pid now belongs to another process");
    tu_write_text(live, "a run still writing");
    tu_write_text(victim, "precious");
    cr_assert_eq(symlink(victim, link), 0);
    const char *in = make_input("in.h5", 20, 2), *out = tu_path("o.json");
    const char *args[] = {"stats", tu_input(in, "/a"), "-o", out, "--quiet", NULL};
    cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
    cr_assert(!tu_exists(gone), "the temporary of a process that is gone was not removed");
    cr_assert(!tu_exists(reused), "the temporary of a pid now reused was not removed");
    cr_assert(tu_exists(live), "the temporary of a live run was removed");
    cr_assert(is_link(link), "a link named like a temporary was removed");
    holds(victim, "precious");
    cr_assert(strstr(tu_stderr(), "removed the temporary"), "%s", tu_stderr());
    cr_assert(strstr(tu_stderr(), "left alone"), "%s", tu_stderr());
}

/* ---- a full disk ------------------------------------------------------------------------- */

static char g_tiny[512];

static void unmount_tiny(void)
{
    if (g_tiny[0])
        umount2(g_tiny, MNT_DETACH);
}

/* Entries in dir (. and .. aside). */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void full(const char *const *args, const char *what)
{
    int rc = tu_cli(args);
    cr_assert_eq(rc, 12, "%s on a full disk: exit %d (139 is SIGSEGV); %s", what, rc, tu_stderr());
    cr_assert(strstr(tu_stderr(), "No space left on device") || strstr(tu_stderr(), "no space"), "%s: %s", what,
              tu_stderr());
    cr_assert_eq(entries(g_tiny), 0, "%s on a full disk left files behind", what);
}

Test(outputs, a_full_disk_exits_12_leaves_nothing_and_never_crashes, .fini = unmount_tiny, .timeout = 120)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to mount a small tmpfs (CI runs as root)");
    snprintf(g_tiny, sizeof g_tiny, "%s", tu_path("tiny"));
    cr_assert_eq(mkdir(g_tiny, 0777), 0);
    if (mount("tmpfs", g_tiny, "tmpfs", 0, "size=8m") != 0) {
        int e = errno;
        g_tiny[0] = 0;
        cr_skip_test("cannot mount a tmpfs here: %s", strerror(e));
    }
    char wide[512], tall[512], o[600];
    snprintf(wide, sizeof wide, "%s", tu_input(make_input("wide.h5", 2, 300000), "/a")); /* 300000 features */
    snprintf(tall, sizeof tall, "%s", make_input("tall.h5", 60000, 64));                 /* 15 MB */
    const char *exts[] = {"json", "h5"};
    for (int i = 0; i < 2; i++) {
        snprintf(o, sizeof o, "%s/s.%s", g_tiny, exts[i]);
        const char *args[] = {"stats", wide, "--keep-axes", "1", "-o", o, "--quiet", NULL};
        full(args, exts[i]);
    }
    const char *writes[] = {"{hdf5: true}", "{npy: true}", "{hdf5: {gzip: 1}}"};
    for (int i = 0; i < 3; i++) {
        const char *recipe = make_recipe("t.yaml", tall, writes[i]);
        snprintf(o, sizeof o, "%s/out", g_tiny);
        const char *args[] = {"transform", recipe, "--out", o, "--quiet", NULL};
        full(args, writes[i]);
    }
}
