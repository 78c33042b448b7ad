/* fuzz_state.c: fuzz target of the state-file loader (h5prep_stats_load): the input is written as
 * a .h5 file when it starts with HDF5's signature, else as .json; a state that loads is merged
 * with itself and written out as JSON, and every variable's view is read. */
#include "fuzz_common.h"

#include "h5prep.h"

#include <stdlib.h>
#include <string.h>

static void read_views(const h5prep_stats *s)
{
    for (size_t i = 0; i < h5prep_stats_nvars(s); i++) {
        h5prep_var_view v;
        if (h5prep_stats_var(s, i, &v) != H5PREP_OK)
            continue;
        double sum = 0;
        for (uint64_t f = 0; f < v.n_features; f++)
            sum += h5prep_moments_variance(&v.moments[f], 0) + (double)h5prep_moments_flags(&v.moments[f], 1);
        (void)sum;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    const char *path = fz_scratch(size >= 8 && !memcmp(data, sig, 8) ? "state.h5" : "state.json");
    fz_write(path, data, size);
    h5prep_stats_config cfg = h5prep_stats_config_default();
    h5prep_stats *s = h5prep_stats_create(&cfg);
    if (!s)
        abort();
    if (h5prep_stats_load(s, path) == H5PREP_OK) {
        read_views(s);
        if (h5prep_stats_load(s, path) == H5PREP_OK) /* the same states merged in */
            read_views(s);
        free(h5prep_stats_json(s));
    } else if (!*h5prep_last_error()) {
        abort(); /* a refusal must say why */
    }
    h5prep_stats_destroy(s);
    return 0;
}
