/* fuzz_h5input.c: fuzz target of opening and reading an HDF5 input: the input is written as a file,
 * its datasets listed (h5prep_info), and the first few added and run through the statistics
 * (h5prep_stats_add + h5prep_stats_run, CPU backend, one thread, --mem 64K) with CF decoding. */
#include "fuzz_common.h"

#include "h5prep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_DATASETS = 4 };

typedef struct found {
    char paths[MAX_DATASETS][256];
    int n;
} found;

static void collect(const h5prep_dataset_info *d, void *user)
{
    found *f = user;
    if (f->n < MAX_DATASETS && strlen(d->path) < sizeof f->paths[0] && strcmp(d->dtype, "string") &&
        strcmp(d->dtype, "compound"))
        snprintf(f->paths[f->n++], sizeof f->paths[0], "%s", d->path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_scratch("input.h5");
    fz_write(path, data, size);
    char file[8192];
    snprintf(file, sizeof file, "%s", path);
    found f = {.n = 0};
    if (h5prep_info(file, collect, &f) != H5PREP_OK)
        return 0;
    for (int i = 0; i < f.n; i++) {
        h5prep_stats_config cfg = h5prep_stats_config_default();
        cfg.mem_bytes = 64 << 10;
        cfg.threads = 1;
        cfg.backend = H5PREP_BACKEND_CPU;
        cfg.keep_first = (size & 1) ? H5PREP_KEEP_DEFAULT : 0; /* half of the inputs: one statistic */
        cfg.keep_count = (size & 1) ? 1 : 0;
        h5prep_stats *s = h5prep_stats_create(&cfg);
        if (!s)
            abort();
        char arg[8704];
        snprintf(arg, sizeof arg, "%s:%s", file, f.paths[i]);
        if (h5prep_stats_add(s, arg) == H5PREP_OK && h5prep_stats_run(s) == H5PREP_OK)
            free(h5prep_stats_json(s));
        h5prep_stats_destroy(s);
    }
    return 0;
}
