/* SPDX-License-Identifier: MIT */
#ifndef UHMM_MMU_NOTIFIER_H
#define UHMM_MMU_NOTIFIER_H

#include <uhmm/compiler.h>
#include <uhmm/interval_tree.h>
#include <uhmm/mm.h>

UHMM_BEGIN_DECLS

struct mmu_notifier;
struct mmu_interval_notifier;

/*
 * Why a range is being invalidated.
 *
 * MMU_NOTIFY_UNMAP: the range is unmapped (munmap, exit).
 * MMU_NOTIFY_CLEAR: PTEs are cleared but the range stays mapped
 *	(madvise(MADV_DONTNEED), copy-on-write break).
 * MMU_NOTIFY_PROTECTION_VMA: the VMA's protection changes (mprotect).
 * MMU_NOTIFY_PROTECTION_PAGE: some PTEs lose write permission (fork).
 * MMU_NOTIFY_SOFT_DIRTY: soft-dirty tracking write-protects PTEs.
 * MMU_NOTIFY_RELEASE: the mm is being torn down; interval subscribers get
 *	it once over the whole address space before the teardown.
 * MMU_NOTIFY_MIGRATE: pages are being migrated; owner says who started it.
 * MMU_NOTIFY_EXCLUSIVE: PTEs become device-exclusive entries; owner says
 *	which device.
 */
enum mmu_notifier_event {
	MMU_NOTIFY_UNMAP = 0,
	MMU_NOTIFY_CLEAR,
	MMU_NOTIFY_PROTECTION_VMA,
	MMU_NOTIFY_PROTECTION_PAGE,
	MMU_NOTIFY_SOFT_DIRTY,
	MMU_NOTIFY_RELEASE,
	MMU_NOTIFY_MIGRATE,
	MMU_NOTIFY_EXCLUSIVE,
};

#define MMU_NOTIFIER_RANGE_BLOCKABLE	(1 << 0)

struct mmu_notifier_range {
	struct mm_struct *mm;
	unsigned long start;		/* first byte */
	unsigned long end;		/* first byte after the range */
	unsigned int flags;		/* MMU_NOTIFIER_RANGE_* */
	enum mmu_notifier_event event;
	void *owner;			/* MIGRATE/EXCLUSIVE: the initiator */
	/* Notifier core only: what _start began, so that _end undoes
	 * exactly that even if subscriptions appeared in between. */
	unsigned int __notifier_state;
};

static inline bool
mmu_notifier_range_blockable(const struct mmu_notifier_range *range)
{
	return range->flags & MMU_NOTIFIER_RANGE_BLOCKABLE;
}

static inline void mmu_notifier_range_init(struct mmu_notifier_range *range,
					   enum mmu_notifier_event event,
					   unsigned int flags,
					   struct mm_struct *mm,
					   unsigned long start,
					   unsigned long end)
{
	range->mm = mm;
	range->start = start;
	range->end = end;
	range->flags = flags;
	range->event = event;
	range->owner = NULL;
	range->__notifier_state = 0;
}

static inline void
mmu_notifier_range_init_owner(struct mmu_notifier_range *range,
			      enum mmu_notifier_event event, unsigned int flags,
			      struct mm_struct *mm, unsigned long start,
			      unsigned long end, void *owner)
{
	mmu_notifier_range_init(range, event, flags, mm, start, end);
	range->owner = owner;
}

/* ---- classic notifiers: every invalidation of the mm ---- */

struct mmu_notifier_ops {
	/*
	 * The mm is being torn down: stop every device access to its pages
	 * before returning. Called once, from the teardown or from
	 * mmu_notifier_unregister(), whichever comes first.
	 */
	void (*release)(struct mmu_notifier *subscription,
			struct mm_struct *mm);
	/*
	 * PTEs in [range->start, range->end) are about to change. After it
	 * returns the device must not use the old translations. Return 0, or
	 * -EAGAIN when the range is not blockable and it would have to sleep.
	 */
	int (*invalidate_range_start)(struct mmu_notifier *subscription,
				      const struct mmu_notifier_range *range);
	/* The change is complete; new translations may be established. */
	void (*invalidate_range_end)(struct mmu_notifier *subscription,
				     const struct mmu_notifier_range *range);
};

/*
 * A classic subscription. The caller sets ops; the rest is the notifier
 * core's after registration: mm is set by register; hlist is linked and
 * unlinked with the subscriptions' list_lock held for write (see
 * mmu_notifier.c).
 */
struct mmu_notifier {
	struct cds_list_head hlist;
	const struct mmu_notifier_ops *ops;
	struct mm_struct *mm;
};

/*
 * Register a subscription for every invalidation of mm. Holds an mm_count
 * reference until unregistered. mmu_notifier_register takes mmap_lock for
 * write itself; __mmu_notifier_register expects the caller to hold it.
 * Returns 0 or -ENOMEM.
 */
int mmu_notifier_register(struct mmu_notifier *subscription,
			  struct mm_struct *mm);
int __mmu_notifier_register(struct mmu_notifier *subscription,
			    struct mm_struct *mm);
/*
 * Remove a subscription. If the mm has not been torn down, release() is
 * called first. Waits for callbacks in progress on this subscription.
 * Safe after the teardown already released it. Drops the mm_count
 * reference taken by register.
 */
void mmu_notifier_unregister(struct mmu_notifier *subscription,
			     struct mm_struct *mm);

/* ---- interval notifiers: invalidations that hit one range ---- */

struct mmu_interval_notifier_ops {
	/*
	 * Called for an invalidation that overlaps the subscription. It must
	 * take the driver lock that protects the device page table, call
	 * mmu_interval_set_seq(interval_sub, cur_seq), drop the device's
	 * translations for the range and unlock. Return false only when
	 * !mmu_notifier_range_blockable(range) and it would have to sleep.
	 */
	bool (*invalidate)(struct mmu_interval_notifier *interval_sub,
			   const struct mmu_notifier_range *range,
			   unsigned long cur_seq);
};

/*
 * An interval subscription: [start, start + length) of one mm.
 *  interval_tree: in the mm's tree, under the subscriptions' lock;
 *	linked only while inserted (not while its insert is deferred).
 *  deferred_item: on the deferred list while an insert or remove waits for
 *	the running invalidation to end; subscriptions' lock.
 *  invalidate_seq: written by mmu_interval_set_seq() under the driver's
 *	lock and by insert; read by mmu_interval_read_retry() under the same
 *	driver lock.
 */
struct mmu_interval_notifier {
	struct interval_tree_node interval_tree;
	const struct mmu_interval_notifier_ops *ops;
	struct mm_struct *mm;
	struct cds_list_head deferred_item;
	unsigned long invalidate_seq;
};

/*
 * Subscribe to invalidations of [start, start + length) of mm. Holds an
 * mm_count reference until removed. The caller holds an mm_users
 * reference. Returns 0, -EOVERFLOW for an empty or wrapping range (as the
 * kernel), -EINVAL if mm has no users left, -ENOMEM. The first insert into
 * an mm takes mmap_write_lock, so the caller must not hold mmap_lock;
 * _locked: the caller holds mmap_write_lock.
 * An insert that arrives during an invalidation is deferred to its end,
 * as in the kernel: the new subscription is not told of that invalidation
 * but its first read_begin waits for it to finish.
 */
int mmu_interval_notifier_insert(struct mmu_interval_notifier *interval_sub,
				 struct mm_struct *mm, unsigned long start,
				 unsigned long length,
				 const struct mmu_interval_notifier_ops *ops);
int mmu_interval_notifier_insert_locked(
	struct mmu_interval_notifier *interval_sub, struct mm_struct *mm,
	unsigned long start, unsigned long length,
	const struct mmu_interval_notifier_ops *ops);
/*
 * Remove a subscription. If an invalidation is running it waits for it to
 * end, so after return invalidate() is not running and will not be called.
 * Must not be called from invalidate() or with a lock invalidate() takes.
 */
void mmu_interval_notifier_remove(struct mmu_interval_notifier *interval_sub);

/*
 * Begin a read side critical section (see mmu_notifier.c for the
 * protocol). Returns the sequence to hand to mmu_interval_read_retry().
 * If an invalidation of the range is running, waits for it to end.
 */
unsigned long
mmu_interval_read_begin(struct mmu_interval_notifier *interval_sub);

/*
 * Called by invalidate() under the driver lock: mark the subscription so
 * that every reader that began before sees a retry.
 */
static inline void
mmu_interval_set_seq(struct mmu_interval_notifier *interval_sub,
		     unsigned long cur_seq)
{
	__atomic_store_n(&interval_sub->invalidate_seq, cur_seq,
			 __ATOMIC_RELAXED);
}

/*
 * Under the driver lock: true if an invalidation began after
 * mmu_interval_read_begin() returned seq; the results read since must not
 * be used and the caller starts over.
 */
static inline bool
mmu_interval_read_retry(struct mmu_interval_notifier *interval_sub,
			unsigned long seq)
{
	return interval_sub->invalidate_seq != seq;
}

/*
 * Without the driver lock, an early and unreliable test: true means a
 * retry will be needed, false means nothing.
 */
static inline bool
mmu_interval_check_retry(struct mmu_interval_notifier *interval_sub,
			 unsigned long seq)
{
	return __atomic_load_n(&interval_sub->invalidate_seq,
			       __ATOMIC_ACQUIRE) != seq;
}

/* ---- the core side: called by the memory manager ---- */

/*
 * Bracket a change of PTEs in [range->start, range->end). Caller holds
 * mmap_lock (read or write) and no page-table lock. _start returns 0, or
 * -EAGAIN if a subscriber refused a non-blockable range (then _end must
 * not be called).
 */
int mmu_notifier_invalidate_range_start(struct mmu_notifier_range *range);
void mmu_notifier_invalidate_range_end(struct mmu_notifier_range *range);

/* Teardown of mm: release for classic, RELEASE for interval subscribers. */
void mmu_notifier_release(struct mm_struct *mm);

/* Frees mm->notifier_subscriptions; from the final mmdrop. */
void mmu_notifier_subscriptions_destroy(struct mm_struct *mm);

static inline bool mm_has_notifiers(struct mm_struct *mm)
{
	return __atomic_load_n(&mm->notifier_subscriptions, __ATOMIC_ACQUIRE)
		!= NULL;
}

UHMM_END_DECLS

#endif /* UHMM_MMU_NOTIFIER_H */
