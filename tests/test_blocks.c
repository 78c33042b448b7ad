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
