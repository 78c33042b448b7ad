/* fuzz_recipe.c: fuzz target of the recipe parser (h5p_recipe_parse, the text in memory): it must
 * never crash, and every refusal must leave no recipe and name the file in its message. */
#include "fuzz_common.h"

#include "plan/recipe.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    h5p_recipe *r = (h5p_recipe *)1;
    h5prep_status st = h5p_recipe_parse("fuzz.yaml", data, size, &r);
    if (st == H5PREP_OK) {
        if (!r || !r->noutputs || !r->ninputs || r->split.nsplits < 1)
            abort();
        h5p_recipe_free(r);
    } else if (r || strncmp(h5prep_last_error(), "fuzz.yaml", 9) != 0) {
        abort();
    }
    return 0;
}
