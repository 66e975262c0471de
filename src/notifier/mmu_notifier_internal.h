/* SPDX-License-Identifier: MIT */
/* The notifier core's per-mm state. Not installed; tests peek at it. */
#ifndef UHMM_NOTIFIER_MMU_NOTIFIER_INTERNAL_H
#define UHMM_NOTIFIER_MMU_NOTIFIER_INTERNAL_H

#include <stdatomic.h>
#include <urcu/list.h>

#include <uhmm/interval_tree.h>
#include <uhmm/types.h>

/*
 * Everything the notifier core keeps for one mm. Allocated by the first
 * registration or insert, under mmap_write_lock, then published with a
 * release store into mm->notifier_subscriptions; it lives until the final
 * mmdrop (mmu_notifier_subscriptions_destroy()).
 *
 * Lock order: mmap_lock, then list_lock, then lock. Callbacks of classic
 * subscriptions run with list_lock held for read; callbacks of interval
 * subscriptions run with no lock of ours held.
 */
struct mmu_notifier_subscriptions {
	/*
	 * Classic subscriptions (struct mmu_notifier.hlist). Linked and
	 * unlinked with list_lock held for write; walked, and their
	 * callbacks called, with list_lock held for read, so that any
	 * number of invalidations run their callbacks at once while
	 * register and unregister wait for those in flight. A reader-
	 * preferring lock: a callback may start a nested invalidation.
	 */
	pthread_rwlock_t list_lock;
	struct cds_list_head list;		/* list_lock */
	/* Entries on list: changed under list_lock held for write; read
	 * without it as a hint by the invalidation fast path. */
	atomic_uint nr_hlist;
	/* Set once the teardown began calling ->release (list_lock held for
	 * read); read with list_lock held for write. */
	bool hlist_released;

	/* Set (never cleared) under mmap_write_lock by the first interval
	 * insert; read without locks by invalidations. */
	atomic_bool has_itree;

	/* Protects everything below. Never held across a callback. */
	spinlock_t lock;
	/* Even: no invalidation holds the tree. Odd: at least one running
	 * invalidation hit a subscription; see the protocol comment in
	 * mmu_notifier.c. lock. */
	unsigned long invalidate_seq;
	/* Invalidations between their itree start and end. lock. */
	unsigned long active_invalidate_ranges;
	/*
	 * Interval subscriptions by range. Changed under lock, and only
	 * while invalidate_seq is even; walked under lock, or without it by
	 * an invalidation while invalidate_seq is odd (it is frozen then).
	 */
	struct rb_root_cached itree;
	/* Signalled (with lock's mutex) when invalidate_seq becomes even
	 * and when unregister_releasing drops to zero. */
	pthread_cond_t wq;
	/* Interval subscriptions whose insert (node not in the tree) or
	 * remove (node in the tree) waits for invalidate_seq to become
	 * even, linked by deferred_item. lock. */
	struct cds_list_head deferred_list;
	/* mmu_notifier_unregister() calls of ->release in progress; the
	 * teardown waits for them. lock. */
	unsigned int unregister_releasing;
};

#endif /* UHMM_NOTIFIER_MMU_NOTIFIER_INTERNAL_H */
