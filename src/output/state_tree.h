/* state_tree.h: the fixed merge tree over the block states of a variable (output stage): a
 * statistic is defined by block position alone, whoever reduced the blocks (threads, parts, ranks).
 *
 * Node (level l, index k) is the state of blocks [k 2^l, (k+1) 2^l); its children are (l-1, 2k)
 * and (l-1, 2k+1), merged as left ⊕ right (Chan's rule). Nodes are pushed in block order;
 * two siblings on top of the stack are merged at once, so a stack holds the largest aligned nodes
 * of what was pushed. A run over blocks [a, b) leaves exactly the aligned nodes of [a, b) (what a
 * part records); pushing the nodes of all parts in order rebuilds the single run's stack, and
 * finishing folds it from the right: ((n0 ⊕ (n1 ⊕ (n2 ...)))), the tree of nb blocks padded to a
 * power of two. */
#ifndef H5PREP_STATE_TREE_H
#define H5PREP_STATE_TREE_H

#include "h5prep.h"
#include "common/moments.h"

#include <stddef.h>
#include <stdint.h>

typedef struct h5p_tree_node {
    uint32_t level;
    uint64_t index;
    h5p_moments *m; /* (nf,) owned by the tree; a weighted tree's: nf states, then nf sums of weights */
} h5p_tree_node;

typedef struct h5p_tree {
    uint64_t nf;
    h5p_tree_node *node; /* the stack, in block order */
    size_t n, cap;
    int weighted;        /* states of a weighted run (h5p_wmoments_merge), set by h5p_tree_init_weighted */
} h5p_tree;

/* An empty tree of nf-feature states. */
void h5p_tree_init(h5p_tree *t, uint64_t nf);
/* An empty tree of nf weighted states: every array pushed and folded holds nf states followed by
 * their nf sums of weights (h5p_tree_state_bytes), merged by h5p_wmoments_merge. */
void h5p_tree_init_weighted(h5p_tree *t, uint64_t nf);
/* Bytes of one node's array. */
size_t h5p_tree_state_bytes(const h5p_tree *t);
void h5p_tree_free(h5p_tree *t); /* accepts a zeroed or freed tree */

/* Pushes node (level, index) after every node pushed so far; m (nf states, from malloc) is taken
 * over, also on failure. */
h5prep_status h5p_tree_push(h5p_tree *t, uint32_t level, uint64_t index, h5p_moments *m);

/* Whether node (level, index) directly follows the nodes pushed so far, i.e. starts at the block
 * where the last one ends (the first node must start at `first`). */
int h5p_tree_follows(const h5p_tree *t, uint32_t level, uint64_t index, uint64_t first);

/* The first block after the nodes pushed so far (first when none). */
uint64_t h5p_tree_end(const h5p_tree *t, uint64_t first);

/* Folds the stack from the right into out (h5p_tree_state_bytes); empty states when nothing was pushed. The
 * tree is left as it was. */
h5prep_status h5p_tree_fold(const h5p_tree *t, h5p_moments *out);

#endif
