/* SPDX-License-Identifier: MIT */
/* Test support for lib/interval_tree.c. Not installed. */
#ifndef UHMM_LIB_INTERVAL_TREE_DEBUG_H
#define UHMM_LIB_INTERVAL_TREE_DEBUG_H

#include <stdbool.h>

#include <uhmm/interval_tree.h>

/*
 * Walk the whole tree and check every invariant: search order, parent
 * links, the red-black rules, each __subtree_last and the leftmost cache.
 * Prints the first violation to stderr and returns false; O(n).
 */
bool interval_tree_validate(struct rb_root_cached *root);

#endif /* UHMM_LIB_INTERVAL_TREE_DEBUG_H */
