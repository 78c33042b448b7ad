/* fuzz_packed.c: fuzz target of the packed statistics loader (h5prep_stats_load_packed), the form
 * in which MPI ranks send their parts to rank 0. A buffer that loads and makes a whole document
 * (not a part alone) is packed again and loaded into a fresh state, which must give the same
 * document: the loader and the packer agree. */
#include "fuzz_common.h"

#include "h5prep.h"

#include <stdlib.h>
#include <string.h>

/* The time a document gives as "created" (that of its load, h5p_stats_stamp), blanked: two loads
 * may fall in different seconds. */
static void blank_created(char *json)
{
    char *t = strstr(json, "\"created\": \"");
    for (t = t ? t + 12 : NULL; t && *t && *t != '"'; t++)
        *t = '-';
}

/* The document of a state loaded from a packed buffer; aborts where a refusal says nothing. */
static char *load_json(const void *buf, size_t len)
{
    h5prep_stats_config cfg = h5prep_stats_config_default();
    h5prep_stats *s = h5prep_stats_create(&cfg);
    if (!s)
        abort();
    char *json = NULL;
    if (h5prep_stats_load_packed(s, buf, len, "fuzz input") == H5PREP_OK) {
        if (!(json = h5prep_stats_json(s)))
            abort();
    } else if (!*h5prep_last_error()) {
        abort(); /* a refusal must say why */
    }
    h5prep_stats_destroy(s);
    return json;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    h5prep_stats_config cfg = h5prep_stats_config_default();
    h5prep_stats *s = h5prep_stats_create(&cfg);
    if (!s)
        abort();
    if (h5prep_stats_load_packed(s, data, size, "fuzz input") == H5PREP_OK) {
        void *again = NULL;
        size_t len = 0;
        char *first = h5prep_stats_json(s), *second = NULL;
        if (!first && !*h5prep_last_error())
            abort(); /* a document it cannot give (a part without the others) must say why */
        if (first && (h5prep_stats_pack(s, &again, &len) != H5PREP_OK || !(second = load_json(again, len))))
            abort(); /* what loaded packs and loads back */
        if (first) {
            blank_created(first);
            blank_created(second);
            if (strcmp(first, second) != 0)
                abort(); /* to the same document */
        }
        free(first);
        free(second);
        free(again);
    } else if (!*h5prep_last_error()) {
        abort();
    }
    h5prep_stats_destroy(s);
    return 0;
}
