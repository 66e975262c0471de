// SPDX-License-Identifier: MIT
/*
 * An intrusive interval tree: a red-black tree of closed intervals
 * [start, last] ordered by start, augmented with __subtree_last, the
 * largest 'last' found anywhere in a node's subtree.
 *
 * The augmentation is what makes overlap queries cheap: a subtree whose
 * __subtree_last is below the query's start cannot hold an overlapping
 * interval and is skipped whole; and because the tree is ordered by start,
 * once a node starts after the query's last, nothing to its right can
 * overlap either. A query therefore visits O(log n) nodes plus the hits.
 *
 * Nodes with equal starts are kept in insertion order (a new node goes to
 * the right of its equals), so iteration order is stable.
 *
 * The tree keeps, with every structural change, these invariants
 * (interval_tree_validate() checks them all):
 *  - in-order traversal visits nodes by nondecreasing start;
 *  - the root is black, a red node has no red child, and every path from
 *    a node down to a missing child crosses the same number of blacks;
 *  - node->__subtree_last == max(node->last, children's __subtree_last);
 *  - root->leftmost is the first node in order (NULL for an empty tree).
 *
 * An unlinked node points its parent at itself; no node in a tree can.
 */

#include "internal.h"
#include "lib/interval_tree_debug.h"

#define RB_RED		0
#define RB_BLACK	1

typedef struct interval_tree_node itnode_t;

static inline bool it_is_red(const itnode_t *node)
{
	return node && node->color == RB_RED;
}

static inline bool it_is_black(const itnode_t *node)
{
	/* A missing child counts as black. */
	return !node || node->color == RB_BLACK;
}

/* The value node->__subtree_last must hold, from its children's values. */
static inline unsigned long it_compute_last(const itnode_t *node)
{
	unsigned long last = node->last;

	if (node->left && node->left->__subtree_last > last)
		last = node->left->__subtree_last;
	if (node->right && node->right->__subtree_last > last)
		last = node->right->__subtree_last;
	return last;
}

/* Make whatever pointed at old (its parent, or the root) point at new. */
static inline void it_replace_child(itnode_t *old, itnode_t *new,
				    itnode_t *parent,
				    struct rb_root_cached *root)
{
	if (!parent)
		root->root = new;
	else if (parent->left == old)
		parent->left = new;
	else
		parent->right = new;
}

/*
 * Rotations. Both move one node up over its parent; the set of nodes under
 * the pair is unchanged, so the node that moves up inherits the subtree
 * value of the old subtree root and only the one that moves down needs a
 * recomputation. This relies on the values being correct beforehand, which
 * insert and remove establish before they start rebalancing.
 *
 *	    x                 y
 *	   / \   left(x)     / \
 *	  a   y  ------->   x   c
 *	     / \           / \
 *	    b   c         a   b
 */
static void it_rotate_left(itnode_t *x, struct rb_root_cached *root)
{
	itnode_t *y = x->right;
	itnode_t *parent = x->parent;

	x->right = y->left;
	if (y->left)
		y->left->parent = x;
	y->left = x;
	x->parent = y;
	y->parent = parent;
	it_replace_child(x, y, parent, root);

	y->__subtree_last = x->__subtree_last;
	x->__subtree_last = it_compute_last(x);
}

static void it_rotate_right(itnode_t *x, struct rb_root_cached *root)
{
	itnode_t *y = x->left;
	itnode_t *parent = x->parent;

	x->left = y->right;
	if (y->right)
		y->right->parent = x;
	y->right = x;
	x->parent = y;
	y->parent = parent;
	it_replace_child(x, y, parent, root);

	y->__subtree_last = x->__subtree_last;
	x->__subtree_last = it_compute_last(x);
}

/* Recompute __subtree_last from node up to the root. */
static void it_propagate(itnode_t *node)
{
	for (; node; node = node->parent)
		node->__subtree_last = it_compute_last(node);
}

static itnode_t *it_first(itnode_t *node)
{
	if (!node)
		return NULL;
	while (node->left)
		node = node->left;
	return node;
}

/* The in-order successor of node, or NULL. */
static itnode_t *it_next(const itnode_t *node)
{
	const itnode_t *parent;

	if (node->right)
		return it_first(node->right);
	/* Climb until we arrive from a left child. */
	while ((parent = node->parent) && node == parent->right)
		node = parent;
	return (itnode_t *)parent;
}

void interval_tree_node_init(struct interval_tree_node *node)
{
	node->parent = node;
	node->left = NULL;
	node->right = NULL;
	node->__subtree_last = 0;
	node->color = RB_BLACK;
}

bool interval_tree_node_empty(const struct interval_tree_node *node)
{
	return node->parent == node;
}

/* Restore the red-black rules after linking the red leaf node. */
static void it_insert_fixup(itnode_t *node, struct rb_root_cached *root)
{
	itnode_t *parent, *gparent, *uncle;

	while ((parent = node->parent) && parent->color == RB_RED) {
		/* A red node is never the root: gparent exists. */
		gparent = parent->parent;
		if (parent == gparent->left) {
			uncle = gparent->right;
			if (it_is_red(uncle)) {
				/* Push the red up two levels and go on. */
				parent->color = RB_BLACK;
				uncle->color = RB_BLACK;
				gparent->color = RB_RED;
				node = gparent;
				continue;
			}
			if (node == parent->right) {
				/* Turn the zig-zag into a straight line. */
				it_rotate_left(parent, root);
				node = parent;
				parent = node->parent;
			}
			parent->color = RB_BLACK;
			gparent->color = RB_RED;
			it_rotate_right(gparent, root);
		} else {
			uncle = gparent->left;
			if (it_is_red(uncle)) {
				parent->color = RB_BLACK;
				uncle->color = RB_BLACK;
				gparent->color = RB_RED;
				node = gparent;
				continue;
			}
			if (node == parent->left) {
				it_rotate_right(parent, root);
				node = parent;
				parent = node->parent;
			}
			parent->color = RB_BLACK;
			gparent->color = RB_RED;
			it_rotate_left(gparent, root);
		}
		break;
	}
	root->root->color = RB_BLACK;
}

void interval_tree_insert(struct interval_tree_node *node,
			  struct rb_root_cached *root)
{
	itnode_t **link = &root->root, *parent = NULL;
	bool leftmost = true;

	VM_BUG_ON(!interval_tree_node_empty(node));
	VM_BUG_ON(node->start > node->last);

	/*
	 * Going down, every node we pass gets the new interval in its
	 * subtree, so its __subtree_last can only grow to the new last.
	 */
	while (*link) {
		parent = *link;
		if (parent->__subtree_last < node->last)
			parent->__subtree_last = node->last;
		if (node->start < parent->start) {
			link = &parent->left;
		} else {
			link = &parent->right;
			leftmost = false;
		}
	}

	node->parent = parent;
	node->left = NULL;
	node->right = NULL;
	node->color = RB_RED;
	node->__subtree_last = node->last;
	*link = node;
	if (leftmost)
		root->leftmost = node;

	it_insert_fixup(node, root);
}

/*
 * Restore the black-height rule after a black node was unlinked: the path
 * through 'node' (possibly NULL, hence the explicit parent) is one black
 * short.
 */
static void it_erase_fixup(itnode_t *node, itnode_t *parent,
			   struct rb_root_cached *root)
{
	itnode_t *sibling;

	while (node != root->root && it_is_black(node)) {
		/*
		 * The short path has at least one black below parent on
		 * the other side, so sibling is never NULL.
		 */
		if (node == parent->left) {
			sibling = parent->right;
			if (it_is_red(sibling)) {
				/* Make the sibling black, keep heights. */
				sibling->color = RB_BLACK;
				parent->color = RB_RED;
				it_rotate_left(parent, root);
				sibling = parent->right;
			}
			if (it_is_black(sibling->left) &&
			    it_is_black(sibling->right)) {
				/* Shorten the sibling's side too; go up. */
				sibling->color = RB_RED;
				node = parent;
				parent = node->parent;
				continue;
			}
			if (it_is_black(sibling->right)) {
				sibling->left->color = RB_BLACK;
				sibling->color = RB_RED;
				it_rotate_right(sibling, root);
				sibling = parent->right;
			}
			/* Borrow a black from the sibling's side: done. */
			sibling->color = parent->color;
			parent->color = RB_BLACK;
			sibling->right->color = RB_BLACK;
			it_rotate_left(parent, root);
		} else {
			sibling = parent->left;
			if (it_is_red(sibling)) {
				sibling->color = RB_BLACK;
				parent->color = RB_RED;
				it_rotate_right(parent, root);
				sibling = parent->left;
			}
			if (it_is_black(sibling->left) &&
			    it_is_black(sibling->right)) {
				sibling->color = RB_RED;
				node = parent;
				parent = node->parent;
				continue;
			}
			if (it_is_black(sibling->left)) {
				sibling->right->color = RB_BLACK;
				sibling->color = RB_RED;
				it_rotate_left(sibling, root);
				sibling = parent->left;
			}
			sibling->color = parent->color;
			parent->color = RB_BLACK;
			sibling->left->color = RB_BLACK;
			it_rotate_right(parent, root);
		}
		node = root->root;
		break;
	}
	if (node)
		node->color = RB_BLACK;
}

void interval_tree_remove(struct interval_tree_node *node,
			  struct rb_root_cached *root)
{
	itnode_t *child, *parent, *succ;
	int removed_color;

	VM_BUG_ON(interval_tree_node_empty(node));

	if (root->leftmost == node)
		root->leftmost = it_next(node);

	if (!node->left || !node->right) {
		/* At most one child: it takes node's place. */
		child = node->left ? node->left : node->right;
		parent = node->parent;
		removed_color = node->color;
		if (child)
			child->parent = parent;
		it_replace_child(node, child, parent, root);
	} else {
		/*
		 * Two children: the successor (leftmost of the right
		 * subtree, which has no left child) takes node's place and
		 * colour; the hole left is at the successor's old spot.
		 */
		succ = it_first(node->right);
		child = succ->right;
		removed_color = succ->color;
		if (succ->parent == node) {
			parent = succ;
		} else {
			parent = succ->parent;
			parent->left = child;
			if (child)
				child->parent = parent;
			succ->right = node->right;
			succ->right->parent = succ;
		}
		succ->left = node->left;
		succ->left->parent = succ;
		succ->parent = node->parent;
		succ->color = node->color;
		it_replace_child(node, succ, node->parent, root);
	}

	/*
	 * Every node whose subtree lost a member lies on the path from
	 * 'parent' to the root (the successor, if it moved, is on it too).
	 * Fix their values before any rotation relies on them.
	 */
	it_propagate(parent);

	if (removed_color == RB_BLACK)
		it_erase_fixup(child, parent, root);

	interval_tree_node_init(node);
}

/*
 * The first node in order under 'node' that overlaps [start, last], or
 * NULL. Precondition: start <= node->__subtree_last.
 *
 * An interval [s, l] overlaps the query when s <= last and start <= l.
 */
static itnode_t *it_subtree_search(itnode_t *node, unsigned long start,
				   unsigned long last)
{
	for (;;) {
		/*
		 * If anything on the left ends at or after start, the first
		 * such node in order is the only candidate worth looking
		 * at: everything after it starts no earlier.
		 */
		if (node->left && start <= node->left->__subtree_last) {
			node = node->left;
			continue;
		}
		/* Nothing on the left reaches start; try node itself. */
		if (node->start > last)
			return NULL;
		if (start <= node->last)
			return node;
		/* Then the right subtree, if it reaches start at all. */
		node = node->right;
		if (!node || node->__subtree_last < start)
			return NULL;
	}
}

struct interval_tree_node *
interval_tree_iter_first(struct rb_root_cached *root, unsigned long start,
			 unsigned long last)
{
	itnode_t *node = root->root;

	if (!node || node->__subtree_last < start)
		return NULL;
	if (root->leftmost->start > last)
		return NULL;
	return it_subtree_search(node, start, last);
}

struct interval_tree_node *
interval_tree_iter_next(struct interval_tree_node *node, unsigned long start,
			unsigned long last)
{
	itnode_t *right = node->right, *prev;

	/*
	 * Invariant: node overlaps or at least starts at or before last, and
	 * every overlapping node before it in order has been returned.
	 */
	for (;;) {
		/* The right subtree holds the nearest successors. */
		if (right && start <= right->__subtree_last)
			return it_subtree_search(right, start, last);

		/*
		 * Nothing there; climb to the first ancestor we reach from
		 * its left side: it is the next node in order, and its own
		 * right subtree comes after it.
		 */
		do {
			prev = node;
			node = node->parent;
			if (!node)
				return NULL;
		} while (prev == node->right);

		if (node->start > last)
			return NULL;
		if (start <= node->last)
			return node;
		right = node->right;
	}
}

/* ---- test support ---- */

/*
 * Check the subtree under node; returns its black height (counting the
 * missing children as one) or -1 after printing what is wrong.
 */
static int it_validate_subtree(const itnode_t *node, const itnode_t *parent,
			       size_t *count)
{
	int lh, rh;

	if (!node)
		return 1;
	(*count)++;
	if (node->parent != parent) {
		fprintf(stderr, "interval_tree: bad parent at [%lu, %lu]\n",
			node->start, node->last);
		return -1;
	}
	if (node->color != RB_RED && node->color != RB_BLACK) {
		fprintf(stderr, "interval_tree: bad colour %d\n", node->color);
		return -1;
	}
	if (node->start > node->last) {
		fprintf(stderr, "interval_tree: start %lu > last %lu\n",
			node->start, node->last);
		return -1;
	}
	if (node->color == RB_RED &&
	    (it_is_red(node->left) || it_is_red(node->right))) {
		fprintf(stderr,
			"interval_tree: red [%lu, %lu] has a red child\n",
			node->start, node->last);
		return -1;
	}
	if ((node->left && node->left->start > node->start) ||
	    (node->right && node->right->start < node->start)) {
		fprintf(stderr, "interval_tree: order broken at [%lu, %lu]\n",
			node->start, node->last);
		return -1;
	}
	if (node->__subtree_last != it_compute_last(node)) {
		fprintf(stderr,
			"interval_tree: __subtree_last %lu, want %lu"
			" at [%lu, %lu]\n",
			node->__subtree_last, it_compute_last(node),
			node->start, node->last);
		return -1;
	}
	lh = it_validate_subtree(node->left, node, count);
	if (lh < 0)
		return -1;
	rh = it_validate_subtree(node->right, node, count);
	if (rh < 0)
		return -1;
	if (lh != rh) {
		fprintf(stderr,
			"interval_tree: black heights %d and %d"
			" under [%lu, %lu]\n",
			lh, rh, node->start, node->last);
		return -1;
	}
	return lh + (node->color == RB_BLACK);
}

bool interval_tree_validate(struct rb_root_cached *root)
{
	const itnode_t *node, *prev = NULL;
	size_t count = 0, walked = 0;

	if (root->root && root->root->color != RB_BLACK) {
		fprintf(stderr, "interval_tree: red root\n");
		return false;
	}
	if (it_validate_subtree(root->root, NULL, &count) < 0)
		return false;
	if (root->leftmost != it_first(root->root)) {
		fprintf(stderr, "interval_tree: stale leftmost cache\n");
		return false;
	}
	/* Local checks above; the whole order, through it_next(), here. */
	for (node = root->leftmost; node; node = it_next(node)) {
		if (prev && prev->start > node->start) {
			fprintf(stderr, "interval_tree: in-order not sorted\n");
			return false;
		}
		prev = node;
		walked++;
	}
	if (walked != count) {
		fprintf(stderr, "interval_tree: walked %zu of %zu nodes\n",
			walked, count);
		return false;
	}
	return true;
}
