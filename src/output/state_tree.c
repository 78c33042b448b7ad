/* state_tree.c: the fixed merge tree over block states (output/state_tree.h), shared by a run, its
 * parts and its ranks, so that every way of splitting the blocks merges them in the same order. */
#include "output/state_tree.h"

#include "common/internal.h"

#include <stdlib.h>
#include <string.h>

void h5p_tree_init(h5p_tree *t, uint64_t nf)
{
    memset(t, 0, sizeof *t);
    t->nf = nf;
}

void h5p_tree_init_weighted(h5p_tree *t, uint64_t nf)
{
    h5p_tree_init(t, nf);
    t->weighted = 1;
}

size_t h5p_tree_state_bytes(const h5p_tree *t)
{
    return (size_t)t->nf * (sizeof(h5p_moments) + (t->weighted ? sizeof(double) : 0));
}

void h5p_tree_free(h5p_tree *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->node[i].m);
    free(t->node);
    t->node = NULL;
    t->n = t->cap = 0;
}

/* left <- left ⊕ right, feature by feature */
static void merge_states(const h5p_tree *t, h5p_moments *left, const h5p_moments *right)
{
    uint64_t nf = t->nf;
    if (!t->weighted) {
        for (uint64_t f = 0; f < nf; f++)
            h5p_moments_merge(&left[f], &right[f]);
        return;
    }
    double *wl = (double *)(left + nf);
    const double *wr = (const double *)(right + nf);
    for (uint64_t f = 0; f < nf; f++)
        h5p_wmoments_merge(&left[f], &wl[f], &right[f], wr[f]);
}

h5prep_status h5p_tree_push(h5p_tree *t, uint32_t level, uint64_t index, h5p_moments *m)
{
    /* while the top is the left sibling of the new node, they make their parent */
    while (t->n > 0 && t->node[t->n - 1].level == level && index % 2 == 1 && t->node[t->n - 1].index == index - 1) {
        h5p_tree_node *top = &t->node[t->n - 1];
        merge_states(t, top->m, m);
        free(m);
        m = top->m;
        t->n--;
        level++;
        index /= 2;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        h5p_tree_node *grown = realloc(t->node, cap * sizeof *grown);
        if (!grown) {
            free(m);
            return h5p_fail(H5PREP_ERR_NOMEM, "out of memory for the merge tree");
        }
        t->node = grown, t->cap = cap;
    }
    t->node[t->n++] = (h5p_tree_node){level, index, m};
    return H5PREP_OK;
}

uint64_t h5p_tree_end(const h5p_tree *t, uint64_t first)
{
    if (t->n == 0)
        return first;
    const h5p_tree_node *top = &t->node[t->n - 1];
    return (top->index + 1) << top->level;
}

int h5p_tree_follows(const h5p_tree *t, uint32_t level, uint64_t index, uint64_t first)
{
    return level < 64 && index << level == h5p_tree_end(t, first);
}

h5prep_status h5p_tree_fold(const h5p_tree *t, h5p_moments *out)
{
    for (uint64_t f = 0; f < t->nf; f++)
        out[f] = h5p_moments_empty();
    if (t->weighted)
        memset(out + t->nf, 0, t->nf * sizeof(double));
    if (t->n == 0)
        return H5PREP_OK;
    /* right fold: out = n[last]; out = n[i] ⊕ out */
    size_t bytes = h5p_tree_state_bytes(t);
    h5p_moments *left = h5p_malloc(bytes);
    RETURN_ERROR_IF(!left, H5PREP_ERR_NOMEM, "out of memory for %llu feature states", (unsigned long long)t->nf);
    memcpy(out, t->node[t->n - 1].m, bytes);
    for (size_t i = t->n - 1; i-- > 0;) {
        memcpy(left, t->node[i].m, bytes);
        merge_states(t, left, out);
        memcpy(out, left, bytes);
    }
    free(left);
    return H5PREP_OK;
}
