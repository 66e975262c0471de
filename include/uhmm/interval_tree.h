/* SPDX-License-Identifier: MIT */
#ifndef UHMM_INTERVAL_TREE_H
#define UHMM_INTERVAL_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include <uhmm/compiler.h>

UHMM_BEGIN_DECLS

/*
 * An intrusive interval tree of closed intervals [start, last], as the
 * kernel's lib/interval_tree.c: an augmented red-black tree ordered by
 * start, each node caching the largest 'last' of its subtree, so that
 * finding the nodes that overlap a query costs O(log n + hits).
 * Not thread-safe: the owner's lock protects it.
 */
struct interval_tree_node {
	struct interval_tree_node *parent;
	struct interval_tree_node *left;
	struct interval_tree_node *right;
	unsigned long start;		/* first value in the interval */
	unsigned long last;		/* last value in the interval */
	unsigned long __subtree_last;
	int color;
};

struct rb_root_cached {
	struct interval_tree_node *root;
	struct interval_tree_node *leftmost;
};

#define RB_ROOT_CACHED ((struct rb_root_cached){ NULL, NULL })

/* A node that is not in any tree, after interval_tree_node_init/_remove. */
void interval_tree_node_init(struct interval_tree_node *node);
bool interval_tree_node_empty(const struct interval_tree_node *node);

void interval_tree_insert(struct interval_tree_node *node,
			  struct rb_root_cached *root);
void interval_tree_remove(struct interval_tree_node *node,
			  struct rb_root_cached *root);

static inline bool interval_tree_empty(const struct rb_root_cached *root)
{
	return root->root == NULL;
}

/* The overlapping node with the lowest start, or NULL. */
struct interval_tree_node *
interval_tree_iter_first(struct rb_root_cached *root, unsigned long start,
			 unsigned long last);
/* The next overlapping node after node, in start order, or NULL. */
struct interval_tree_node *
interval_tree_iter_next(struct interval_tree_node *node, unsigned long start,
			unsigned long last);

UHMM_END_DECLS

#endif /* UHMM_INTERVAL_TREE_H */
