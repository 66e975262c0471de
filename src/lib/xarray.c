// SPDX-License-Identifier: MIT
/*
 * The radix tree behind struct xarray (see include/uhmm/xarray.h).
 *
 * A node at shift s has 512 slots; slot i covers indices
 * [base + (i << s), base + ((i + 1) << s)). At shift 0 the slots hold
 * entries, above it child nodes. Shifts are multiples of 9, so the top
 * possible level is shift 63, of which only slots 0 and 1 are in range of
 * an unsigned long.
 *
 * Invariants (checked by the callers of xa_prune):
 *  - every node holds at least one entry below it (count > 0);
 *  - the root is not a node at shift > 0 whose only child is in slot 0
 *    (such a root is collapsed), so the height is the least that covers
 *    the largest index stored.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include <uhmm/xarray.h>

#define XA_CHUNK_SHIFT	9
#define XA_CHUNK_SIZE	(1U << XA_CHUNK_SHIFT)
#define XA_CHUNK_MASK	(XA_CHUNK_SIZE - 1)
#define XA_INDEX_BITS	(sizeof(unsigned long) * CHAR_BIT)

struct xa_node {
	struct xa_node *parent;		/* NULL for the root */
	unsigned char shift;		/* index bits below one slot */
	unsigned short offset;		/* slot in parent */
	unsigned short count;		/* non-NULL slots */
	void *slots[XA_CHUNK_SIZE];
};

/* Slots of a node at this shift that an unsigned long can reach. */
static unsigned int xa_nr_slots(unsigned int shift)
{
	if (shift + XA_CHUNK_SHIFT > XA_INDEX_BITS)
		return 1U << (XA_INDEX_BITS - shift);
	return XA_CHUNK_SIZE;
}

/* The low index bits a node at this shift covers, as a mask. */
static unsigned long xa_span_mask(unsigned int shift)
{
	if (shift + XA_CHUNK_SHIFT >= XA_INDEX_BITS)
		return ~0UL;
	return (1UL << (shift + XA_CHUNK_SHIFT)) - 1;
}

static unsigned int xa_offset(unsigned int shift, unsigned long index)
{
	return (index >> shift) & XA_CHUNK_MASK;
}

static struct xa_node *xa_node_alloc(unsigned int shift,
				     struct xa_node *parent,
				     unsigned int offset)
{
	struct xa_node *node = calloc(1, sizeof(*node));

	if (node) {
		node->shift = shift;
		node->parent = parent;
		node->offset = offset;
	}
	return node;
}

/* Free empty nodes from node upwards, then collapse the root. */
static void xa_prune(struct xarray *xa, struct xa_node *node)
{
	struct xa_node *root;

	while (node && node->count == 0) {
		struct xa_node *parent = node->parent;

		if (parent) {
			parent->slots[node->offset] = NULL;
			parent->count--;
		} else {
			xa->xa_root = NULL;
		}
		free(node);
		node = parent;
	}

	root = xa->xa_root;
	while (root && root->shift && root->count == 1 && root->slots[0]) {
		struct xa_node *child = root->slots[0];

		child->parent = NULL;
		child->offset = 0;
		free(root);
		root = child;
	}
	xa->xa_root = root;
}

void *xa_load(const struct xarray *xa, unsigned long index)
{
	const struct xa_node *node = xa->xa_root;

	if (!node || (index & ~xa_span_mask(node->shift)))
		return NULL;
	for (;;) {
		void *slot = node->slots[xa_offset(node->shift, index)];

		if (!node->shift || !slot)
			return slot;
		node = slot;
	}
}

/*
 * Grow the tree until the root covers index. The new roots each hold the
 * old one in slot 0, so a failure halfway leaves a valid (if too tall)
 * tree, which xa_prune collapses.
 */
static int xa_grow(struct xarray *xa, unsigned long index)
{
	struct xa_node *root = xa->xa_root;

	if (!root) {
		unsigned int shift = 0;

		while (index & ~xa_span_mask(shift))
			shift += XA_CHUNK_SHIFT;
		root = xa_node_alloc(shift, NULL, 0);
		if (!root)
			return -ENOMEM;
		xa->xa_root = root;
		return 0;
	}
	while (index & ~xa_span_mask(root->shift)) {
		struct xa_node *top = xa_node_alloc(root->shift +
						    XA_CHUNK_SHIFT, NULL, 0);

		if (!top)
			return -ENOMEM;
		top->slots[0] = root;
		top->count = 1;
		root->parent = top;
		root->offset = 0;
		xa->xa_root = root = top;
	}
	return 0;
}

/*
 * The leaf node for index, allocating the path to it; NULL on -ENOMEM
 * (with whatever was allocated pruned again).
 */
static struct xa_node *xa_create_leaf(struct xarray *xa, unsigned long index)
{
	struct xa_node *node;

	if (xa_grow(xa, index)) {
		xa_prune(xa, xa->xa_root);
		return NULL;
	}
	node = xa->xa_root;
	while (node->shift) {
		unsigned int off = xa_offset(node->shift, index);
		struct xa_node *child = node->slots[off];

		if (!child) {
			child = xa_node_alloc(node->shift - XA_CHUNK_SHIFT,
					      node, off);
			if (!child) {
				xa_prune(xa, node);
				return NULL;
			}
			node->slots[off] = child;
			node->count++;
		}
		node = child;
	}
	return node;
}

/* The leaf node holding index, or NULL if the path is not there. */
static struct xa_node *xa_find_leaf(const struct xarray *xa,
				    unsigned long index)
{
	struct xa_node *node = xa->xa_root;

	if (!node || (index & ~xa_span_mask(node->shift)))
		return NULL;
	while (node && node->shift)
		node = node->slots[xa_offset(node->shift, index)];
	return node;
}

static int xa_store_slot(struct xarray *xa, unsigned long index, void *entry,
			 void **old, bool replace)
{
	struct xa_node *leaf = xa_create_leaf(xa, index);
	unsigned int off = index & XA_CHUNK_MASK;
	void *prev;

	if (!leaf)
		return -ENOMEM;
	prev = leaf->slots[off];
	if (old)
		*old = prev;
	if (prev && !replace)
		return -EBUSY;
	leaf->slots[off] = entry;
	if (!prev)
		leaf->count++;
	return 0;
}

int xa_store(struct xarray *xa, unsigned long index, void *entry,
	     void **old)
{
	if (!entry) {
		void *prev = xa_erase(xa, index);

		if (old)
			*old = prev;
		return 0;
	}
	return xa_store_slot(xa, index, entry, old, true);
}

int xa_insert(struct xarray *xa, unsigned long index, void *entry)
{
	if (!entry)
		return -EINVAL;
	return xa_store_slot(xa, index, entry, NULL, false);
}

void *xa_erase(struct xarray *xa, unsigned long index)
{
	struct xa_node *leaf = xa_find_leaf(xa, index);
	unsigned int off = index & XA_CHUNK_MASK;
	void *prev;

	if (!leaf || !leaf->slots[off])
		return NULL;
	prev = leaf->slots[off];
	leaf->slots[off] = NULL;
	leaf->count--;
	xa_prune(xa, leaf);
	return prev;
}

/*
 * Walk down from the root towards *indexp, and on running out of slots in
 * a node, climb to its parent and go on with the parent's next slot.
 * index always stays inside the range of the current node, so its upper
 * bits locate that node's base.
 */
void *xa_find(const struct xarray *xa, unsigned long *indexp,
	      unsigned long max)
{
	const struct xa_node *node = xa->xa_root;
	unsigned long index = *indexp;
	unsigned int off;

	if (!node || index > max || (index & ~xa_span_mask(node->shift)))
		return NULL;
	off = xa_offset(node->shift, index);
	for (;;) {
		unsigned long base;

		while (off < xa_nr_slots(node->shift) && !node->slots[off])
			off++;
		if (off >= xa_nr_slots(node->shift)) {
			if (!node->parent)
				return NULL;
			off = node->offset + 1;
			node = node->parent;
			continue;
		}
		base = (index & ~xa_span_mask(node->shift)) |
		       ((unsigned long)off << node->shift);
		if (base > index)
			index = base;
		if (index > max)
			return NULL;
		if (!node->shift) {
			*indexp = index;
			return node->slots[off];
		}
		node = node->slots[off];
		off = xa_offset(node->shift, index);
	}
}

static void xa_free_node(struct xa_node *node)
{
	if (node->shift) {
		for (unsigned int i = 0; i < xa_nr_slots(node->shift); i++)
			if (node->slots[i])
				xa_free_node(node->slots[i]);
	}
	free(node);
}

void xa_destroy(struct xarray *xa)
{
	if (xa->xa_root)
		xa_free_node(xa->xa_root);
	xa->xa_root = NULL;
}
