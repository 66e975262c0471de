/* SPDX-License-Identifier: MIT */
/*
 * A sparse array of pointers indexed by unsigned long, as the kernel's
 * include/linux/xarray.h: a radix tree of 512-way nodes (one 4 KiB slot
 * array a node). uhmm's page cache keeps its pages in one; a driver may
 * keep its device page table in one (drivers/dmirror does).
 *
 * Entries are any non-NULL pointer, stored as they are: low tag bits
 * are the caller's (the kernel reserves some values for its internal
 * entries; here none is reserved). NULL means "no entry": storing NULL
 * erases. Nodes come from malloc.
 *
 * The array has no lock of its own (the kernel's has xa_lock and RCU
 * readers): the owner serialises every call on one array, readers
 * included, because a writer frees nodes.
 *
 * Where the calls differ from the kernel's: no gfp argument (allocation
 * is malloc), no marks (xa_find() has no filter), xa_store() returns an
 * errno and hands the old entry back through *old, XARRAY_INIT takes no
 * arguments.
 *
 * Shape: the root node covers [0, 512 << root->shift); the tree grows a
 * level at the top when an index beyond that is stored and shrinks when
 * only slot 0 of the root is left. A node with no entries is freed at
 * once, so an empty array holds no memory.
 */
#ifndef UHMM_XARRAY_H
#define UHMM_XARRAY_H

#include <stdbool.h>
#include <stddef.h>

#include <uhmm/compiler.h>

UHMM_BEGIN_DECLS

struct xa_node;

struct xarray {
	struct xa_node *xa_root;	/* NULL when empty */
};

#define XARRAY_INIT	{ .xa_root = NULL }

static inline void xa_init(struct xarray *xa)
{
	xa->xa_root = NULL;
}

static inline bool xa_empty(const struct xarray *xa)
{
	return xa->xa_root == NULL;
}

/* The entry at index, or NULL. Never fails. */
void *xa_load(const struct xarray *xa, unsigned long index);

/*
 * Store entry at index, replacing what was there; the old entry goes to
 * *old when old is not NULL. entry NULL erases. Returns 0, or -ENOMEM if
 * a node could not be allocated (nothing changed then).
 */
int xa_store(struct xarray *xa, unsigned long index, void *entry,
	     void **old);

/*
 * Store entry at index only if the slot is empty. Returns 0, -EBUSY
 * (an entry is there; nothing changed), -EINVAL (entry is NULL) or
 * -ENOMEM.
 */
int xa_insert(struct xarray *xa, unsigned long index, void *entry);

/* Remove the entry at index; returns it, or NULL if there was none.
 * Never fails (it allocates nothing). */
void *xa_erase(struct xarray *xa, unsigned long index);

/*
 * The first entry with an index in [*indexp, max], with *indexp set to
 * its index; NULL (*indexp unchanged) if there is none. Never fails.
 */
void *xa_find(const struct xarray *xa, unsigned long *indexp,
	      unsigned long max);

/* Free every node; the array is empty (and usable) afterwards. The
 * entries themselves are the caller's. */
void xa_destroy(struct xarray *xa);

/*
 * Visit every entry with index in [first, last], in index order. The body
 * may erase the current entry (the walk restarts from index + 1 with a
 * fresh lookup), but must not drop the lock that protects the array.
 */
#define xa_for_each_range(xa, index, entry, first, last)		\
	for ((index) = (first),						\
	     (entry) = xa_find((xa), &(index), (last));			\
	     (entry);							\
	     (entry) = (index) == (last) ? NULL :			\
		((index)++, xa_find((xa), &(index), (last))))

#define xa_for_each(xa, index, entry)					\
	xa_for_each_range(xa, index, entry, 0, ~0UL)

UHMM_END_DECLS

#endif /* UHMM_XARRAY_H */
