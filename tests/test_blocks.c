/* test_blocks.c: results defined by data position alone: a statistic is the fixed tree over fixed
 * blocks of rows, so its JSON is the same bytes for any thread count, --mem and slot count. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

enum { R = 9000, A = 30, B = 20 }; /* 21.6 MB of float32: three blocks, each cut into pieces by small --mem */

/* The document without its creation time (the one line that may differ between runs). */
static char *json_without_time(const h5prep_stats *s)
{
    char *j = h5prep_stats_json(s);
    cr_assert(j);
    char *c = strstr(j, "\"created\"");
    cr_assert(c, "no creation time in %.200s", j);
    char *end = strchr(c, '\n');
    memmove(c, end, strlen(end) + 1);
    return j;
}

/* 1e3 + N(0, 3): a large offset, so that every change in the order of the sums shows in the bits. */
static const char *write_offset_data(const char *name, uint64_t chunk_rows)
{
    float *x = malloc((size_t)R * A * B * sizeof *x);
    cr_assert(x);
    uint64_t seed = 5;
    for (size_t i = 0; i < (size_t)R * A * B; i++)
        x[i] = (float)(1e3 + 3.0 * tu_normal(&seed));
    const char *path = tu_path(name);
    uint64_t dims[3] = {R, A, B};
    tu_write(path, "/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, dims, x, chunk_rows);
    free(x);
    return path;
}

Test(blocks, json_is_the_same_bytes_for_any_threads_memory_and_slots, .timeout = 300)
{
    const char *path = write_offset_data("offset.h5", 7);
    struct {
        int first, count;
    } keeps[] = {{0, 0}, {2, 1}, {1, 1}, {1, 2}, {0, 1}};
    struct {
        int threads, slots;
        size_t mem;
    } runs[] = {{1, 0, 0}, {2, 0, 0}, {3, 0, (size_t)1 << 20}, {2, 3, (size_t)300 << 10}, {1, 2, (size_t)5 << 20}};
    for (size_t k = 0; k < sizeof keeps / sizeof *keeps; k++) {
        char *first = NULL;
        for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
            h5prep_stats_config c = h5prep_stats_config_default();
            c.keep_first = keeps[k].first;
            c.keep_count = keeps[k].count;
            c.threads = runs[r].threads;
            if (runs[r].slots)
                c.slots = runs[r].slots;
            if (runs[r].mem)
                c.mem_bytes = runs[r].mem;
            const char *inputs[] = {tu_input(path, "/x")};
            h5prep_stats *s = tu_run(&c, inputs, 1);
            char *j = json_without_time(s);
            h5prep_stats_destroy(s);
            if (!first) {
                first = j;
                continue;
            }
            cr_assert(strcmp(first, j) == 0, "keep %d+%d: threads %d, --mem %zu, %d slots give other bytes than threads 1 and the default --mem",
                      keeps[k].first, keeps[k].count, runs[r].threads, runs[r].mem, runs[r].slots);
            free(j);
        }
        free(first);
    }
}

/* The same through the CLI, with a file of one chunk per row (pieces end mid-block everywhere). */
Test(blocks, cli_output_is_the_same_bytes_for_threads_and_mem, .timeout = 300)
{
    const char *path = write_offset_data("offset1.h5", 1);
    const char *in = tu_input(path, "/x");
    char *first = NULL;
    const char *opts[][4] = {{"--threads", "1", NULL}, {"--threads", "2", "--mem", "1M"}, {"--mem", "256K", NULL}};
    for (int r = 0; r < 3; r++) {
        const char *out = tu_path(r == 0 ? "a.json" : r == 1 ? "b.json" : "c.json");
        const char *args[12] = {"stats", in, "--keep-axes", "2", "-o", out};
        int n = 6;
        for (int i = 0; i < 4 && opts[r][i]; i++)
            args[n++] = opts[r][i];
        args[n] = NULL;
        cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
        FILE *f = fopen(out, "rb");
        cr_assert(f);
        char *text = calloc(1, 1 << 20);
        cr_assert(text);
        size_t got = fread(text, 1, (1 << 20) - 1, f);
        fclose(f);
        cr_assert(got > 0);
        char *c = strstr(text, "\"created\"");
        cr_assert(c);
        memmove(c, strchr(c, '\n'), strlen(strchr(c, '\n')) + 1);
        if (!first) {
            first = text;
            continue;
        }
        cr_assert(strcmp(first, text) == 0, "%s %s %s %s: other bytes than --threads 1", opts[r][0], opts[r][1],
                  opts[r][2] ? opts[r][2] : "", opts[r][3] ? opts[r][3] : "");
        free(text);
    }
    free(first);
}

/* ---- --part i/N and the merge of parts ------------------------------------------------- */

/* Runs part i of n (n = 0: the whole run) of path:/x keeping axis 2 and writes it to out. */
static void run_part(const char *path, int i, int n, const char *out)
{
    h5prep_stats_config c = h5prep_stats_config_default();
    c.keep_first = 2;
    c.mem_bytes = (size_t)1 << 20; /* pieces of blocks too */
    h5prep_stats *s = h5prep_stats_create(&c);
    if (n)
        cr_assert_eq(h5prep_stats_set_part(s, i, n), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_add(s, tu_input(path, "/x")), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_run(s), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_write(s, out), H5PREP_OK, "%s", h5prep_last_error());
    h5prep_stats_destroy(s);
}

/* The "variables" object of a JSON document (everything from it on). */
static char *variables_of(const char *text)
{
    const char *v = strstr(text, "\"variables\"");
    cr_assert(v, "no variables in %.200s", text);
    char *copy = strdup(v);
    cr_assert(copy);
    return copy;
}

static char *variables_of_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s", path);
    static char text[4 << 20];
    size_t got = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    while (got > 0 && text[got - 1] == '\n') /* the file ends its document with a newline */
        got--;
    text[got] = 0;
    return variables_of(text);
}

/* Loads parts[0..n) into a fresh merge; returns its status (the merge is kept in *out). */
static h5prep_status merge_parts(const char *const *parts, int n, h5prep_stats **out)
{
    h5prep_stats *m = h5prep_stats_create(NULL);
    h5prep_status st = H5PREP_OK;
    for (int i = 0; i < n && st == H5PREP_OK; i++)
        st = h5prep_stats_load(m, parts[i]);
    *out = m;
    return st;
}

enum { PR = 27000 }; /* 64.8 MB of float32: 8 blocks, so that 7 parts each hold some */

Test(parts, merge_of_n_parts_is_the_bytes_of_one_run, .timeout = 300)
{
    float *x = malloc((size_t)PR * A * B * sizeof *x);
    cr_assert(x);
    uint64_t seed = 9;
    for (size_t i = 0; i < (size_t)PR * A * B; i++)
        x[i] = (float)(1e3 + 3.0 * tu_normal(&seed));
    char *path = strdup(tu_path("parts.h5")); /* tu_path's buffers are reused below */
    cr_assert(path);
    uint64_t dims[3] = {PR, A, B};
    tu_write(path, "/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, dims, x, 5);
    free(x);
    char *whole = strdup(tu_path("whole.json"));
    cr_assert(whole);
    run_part(path, 0, 0, whole);
    char *want = variables_of_file(whole);
    static const int counts[] = {1, 3, 7};
    for (int c = 0; c < 3; c++) {
        int n = counts[c];
        char names[7][64];
        const char *parts[7];
        for (int i = 0; i < n; i++) {
            snprintf(names[i], sizeof names[i], "p%d-%d.json", n, i + 1);
            parts[i] = strdup(tu_path(names[i]));
            run_part(path, i + 1, n, parts[i]);
        }
        /* in reverse order: the merge sorts the parts by block */
        const char *reversed[7];
        for (int i = 0; i < n; i++)
            reversed[i] = parts[n - 1 - i];
        h5prep_stats *m;
        cr_assert_eq(merge_parts(reversed, n, &m), H5PREP_OK, "N = %d: %s", n, h5prep_last_error());
        char *j = h5prep_stats_json(m);
        cr_assert(j, "N = %d: %s", n, h5prep_last_error());
        char *got = variables_of(j);
        cr_assert(strcmp(got, want) == 0, "N = %d: the merge of the parts differs from the single run", n);
        free(got);
        free(j);
        h5prep_stats_destroy(m);
        if (n == 7) {
            /* parts 2 and 5 left out: named as missing, and nothing is written */
            const char *some[] = {parts[0], parts[2], parts[3], parts[5], parts[6]};
            cr_assert_eq(merge_parts(some, 5, &m), H5PREP_OK, "%s", h5prep_last_error());
            cr_assert_eq(h5prep_stats_write(m, tu_path("incomplete.json")), H5PREP_ERR_STATE);
            cr_assert(strstr(h5prep_last_error(), "parts 2, 5 of 7 are missing"), "%s", h5prep_last_error());
            cr_assert(!tu_exists(tu_path("incomplete.json")));
            h5prep_stats_destroy(m);
            /* part 3 again under another name: an overlap, refused naming both */
            const char *copy = tu_path("copy-of-3.json");
            char cmd[2048];
            snprintf(cmd, sizeof cmd, "cp '%s' '%s'", parts[2], copy);
            cr_assert_eq(system(cmd), 0);
            const char *twice[] = {parts[0], parts[2], copy};
            cr_assert_eq(merge_parts(twice, 3, &m), H5PREP_ERR_STATE);
            cr_assert(strstr(h5prep_last_error(), "part 3/7") && strstr(h5prep_last_error(), "overlaps part 3/7"),
                      "%s", h5prep_last_error());
            h5prep_stats_destroy(m);
            /* a part of another split of the same data is refused */
            const char *mixed[] = {parts[0], whole};
            cr_assert_eq(merge_parts(mixed, 2, &m), H5PREP_ERR_STATE);
            cr_assert(strstr(h5prep_last_error(), "hold parts of it"), "%s", h5prep_last_error());
            h5prep_stats_destroy(m);
        }
        for (int i = 0; i < n; i++)
            free((char *)parts[i]);
    }
    free(want);
    free(whole);
    free(path);
}

Test(parts, bad_part_arguments_are_refused)
{
    h5prep_stats *s = h5prep_stats_create(NULL);
    cr_assert_eq(h5prep_stats_set_part(s, 0, 3), H5PREP_ERR_USAGE);
    cr_assert_eq(h5prep_stats_set_part(s, 4, 3), H5PREP_ERR_USAGE);
    cr_assert(strstr(h5prep_last_error(), "--part 4/3"), "%s", h5prep_last_error());
    h5prep_stats_destroy(s);
    const char *args[] = {"stats", "--part", "2of3", "x.h5:/x", NULL};
    cr_assert_eq(tu_cli(args), H5PREP_ERR_USAGE);
    cr_assert(strstr(tu_stderr(), "--part 2of3"), "%s", tu_stderr());
}
