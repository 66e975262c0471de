// SPDX-License-Identifier: MIT
/*
 * MMU notifiers: telling secondary MMUs (devices that mirror an mm's page
 * tables) that CPU page-table entries are about to change.
 *
 * Two kinds of subscriber, as in the kernel's mm/mmu_notifier.c:
 *  - classic subscriptions (struct mmu_notifier) hear of every
 *    invalidation of the mm, bracketed by invalidate_range_start/end, and
 *    of the teardown through ->release;
 *  - interval subscriptions (struct mmu_interval_notifier) cover one range,
 *    sit in an interval tree, hear only of the invalidations that overlap
 *    it, and give their driver the collision-retry protocol described
 *    above mn_itree_is_invalidating() below.
 *
 * The per-mm state is struct mmu_notifier_subscriptions
 * (mmu_notifier_internal.h), where every field says which lock guards it.
 */
#include "internal.h"
#include "notifier/mmu_notifier_internal.h"

/* range->__notifier_state: what _start began and _end must finish. */
#define MN_STATE_ITREE	(1u << 0)	/* in active_invalidate_ranges */
#define MN_STATE_HLIST	(1u << 1)	/* classic starts were called */

/* A broken expectation that is not worth dying for: say so and go on. */
#define MN_WARN_ON(cond) ({						\
	bool __warn = !!(cond);						\
	if (unlikely(__warn))						\
		fprintf(stderr, "uhmm: WARNING at %s:%d: %s\n",		\
			__FILE__, __LINE__, #cond);			\
	__warn;								\
})

static struct mmu_notifier_subscriptions *
mn_subscriptions(struct mm_struct *mm)
{
	return __atomic_load_n(&mm->notifier_subscriptions, __ATOMIC_ACQUIRE);
}

/* Wait on subscriptions->wq; the caller holds subscriptions->lock. */
static void mn_wait(struct mmu_notifier_subscriptions *subscriptions)
{
	pthread_cond_wait(&subscriptions->wq, &subscriptions->lock.m);
}

/* ---- interval subscriptions and the sequence protocol ---- */

/*
 * The collision-retry protocol.
 *
 * A driver fills its device page table from the CPU page tables without
 * holding any lock that an invalidation waits for (hmm_range_fault may
 * sleep, fault, take mmap_lock). So it cannot stop an invalidation from
 * running meanwhile; it can only learn afterwards that one did and start
 * over. The sequence numbers are how it learns:
 *
 *  - subscriptions->invalidate_seq is even while no running invalidation
 *    has hit an interval subscription, and odd while at least one has. It
 *    goes odd at the first hit (mn_itree_inv_start_range) and back to even,
 *    one higher, when the last running invalidation ends
 *    (mn_itree_inv_end), so each odd value names one "invalidation era".
 *  - Each hit subscription's invalidate() stores that odd value into
 *    interval_sub->invalidate_seq (mmu_interval_set_seq), under the
 *    driver's lock, before the CPU page tables change.
 *  - A reader takes interval_sub->invalidate_seq at read_begin and, under
 *    the driver's lock, compares it again at read_retry. Different means
 *    an invalidate() ran in between: what was read may be stale.
 *  - A subscription's own seq is always odd and, outside the era that set
 *    it, different from invalidate_seq. If at read_begin it equals the
 *    current (odd) invalidate_seq, this subscription's invalidation is
 *    still running and the page tables may be mid-change, so read_begin
 *    sleeps until the era ends; the seq it then returns is stale for any
 *    later era.
 *
 * The writer's states:
 *
 *   invalidate_seq  active_ranges  state                tree changes
 *   even            0              idle                 done at once
 *   even            > 0            partially excluded:  done at once; an
 *                                  running ranges hit   insert also makes
 *                                  no subscription      the seq odd
 *   odd             > 0            fully excluded:      deferred to the
 *                                  some range hit and   last inv_end
 *                                  walks the tree
 *                                  without the lock
 *
 * Only the "odd" state pays for the deferred list and the wake-up: the
 * common case of invalidations that no subscription watches stays cheap.
 * An insert in the "even, > 0" state cannot know which addresses those
 * running ranges touch, so it assumes its own range is among them: it
 * forces the seq odd and takes it as its own seq, and so its first
 * read_begin waits for them to end.
 *
 * Reader and writer interleaved (time flows down):
 *
 *   writer                               reader (driver)
 *                                        read_begin():
 *                                          lock
 *                                          seq = sub->invalidate_seq
 *                                          seq != subs->invalidate_seq
 *                                          unlock
 *   inv_start_range():
 *     lock
 *     subs->invalidate_seq |= 1   (= S)
 *     unlock
 *   ops->invalidate(sub, S):
 *     driver_lock
 *     mmu_interval_set_seq(sub, S)
 *     drop device mappings
 *     driver_unlock
 *   change the CPU page tables           hmm_range_fault(): may see the
 *                                        old or the new page tables
 *   inv_end():
 *     lock
 *     subs->invalidate_seq++     (even)
 *     unlock, wake the waiters
 *                                        driver_lock
 *                                        read_retry(): S != seq, retry
 *                                        driver_unlock
 *
 * If the reader took driver_lock before the writer's invalidate() took it,
 * read_retry() says "no change" and the reader programs the device; that
 * is safe because the CPU page tables have not been touched yet (every
 * invalidate() of a range runs before its change) and the invalidate()
 * that follows removes what was programmed. Either way the driver lock
 * orders set_seq against read_retry, which is why neither needs a barrier
 * of its own; read_begin reads subs->invalidate_seq under subs->lock, and
 * sub->invalidate_seq with a plain (relaxed) atomic load: a stale value
 * there can only cause a retry, never hide one.
 */
static bool
mn_itree_is_invalidating(struct mmu_notifier_subscriptions *subscriptions)
{
	return subscriptions->invalidate_seq & 1;
}

/*
 * Count a new running invalidation and find the first subscription it
 * hits. A hit turns the seq odd, which freezes the tree: the caller walks
 * it with mn_itree_inv_next() without the lock, and must end with
 * mn_itree_inv_end() whatever it found.
 */
static struct mmu_interval_notifier *
mn_itree_inv_start_range(struct mmu_notifier_subscriptions *subscriptions,
			 const struct mmu_notifier_range *range,
			 unsigned long *seq)
{
	struct mmu_interval_notifier *res = NULL;
	struct interval_tree_node *node;

	spin_lock(&subscriptions->lock);
	subscriptions->active_invalidate_ranges++;
	node = interval_tree_iter_first(&subscriptions->itree, range->start,
					range->end - 1);
	if (node) {
		subscriptions->invalidate_seq |= 1;
		res = container_of(node, struct mmu_interval_notifier,
				   interval_tree);
	}
	*seq = subscriptions->invalidate_seq;
	spin_unlock(&subscriptions->lock);
	return res;
}

static struct mmu_interval_notifier *
mn_itree_inv_next(struct mmu_interval_notifier *interval_sub,
		  const struct mmu_notifier_range *range)
{
	struct interval_tree_node *node;

	node = interval_tree_iter_next(&interval_sub->interval_tree,
				       range->start, range->end - 1);
	if (!node)
		return NULL;
	return container_of(node, struct mmu_interval_notifier, interval_tree);
}

/*
 * A running invalidation is over. The last one of an era turns the seq
 * even, applies the inserts and removes that waited (this is what lets
 * invalidate_range_start avoid a sleeping lock on the tree), and wakes
 * read_begin and remove.
 */
static void mn_itree_inv_end(struct mmu_notifier_subscriptions *subscriptions)
{
	struct mmu_interval_notifier *interval_sub, *next;

	spin_lock(&subscriptions->lock);
	BUG_ON(!subscriptions->active_invalidate_ranges);
	if (--subscriptions->active_invalidate_ranges ||
	    !mn_itree_is_invalidating(subscriptions)) {
		spin_unlock(&subscriptions->lock);
		return;
	}

	subscriptions->invalidate_seq++;

	cds_list_for_each_entry_safe(interval_sub, next,
				     &subscriptions->deferred_list,
				     deferred_item) {
		/* Not in the tree: a deferred insert; in it: a remove. */
		if (interval_tree_node_empty(&interval_sub->interval_tree))
			interval_tree_insert(&interval_sub->interval_tree,
					     &subscriptions->itree);
		else
			interval_tree_remove(&interval_sub->interval_tree,
					     &subscriptions->itree);
		cds_list_del_init(&interval_sub->deferred_item);
	}
	/*
	 * Under the lock: a remover woken early could otherwise return,
	 * drop the last mm reference and free the condvar under us.
	 */
	pthread_cond_broadcast(&subscriptions->wq);
	spin_unlock(&subscriptions->lock);
}

/**
 * mmu_interval_read_begin - begin a read of the range of interval_sub
 *
 * Returns the sequence to give to mmu_interval_read_retry() (under the
 * driver lock) or mmu_interval_check_retry() once the read is done. If an
 * invalidation that hit interval_sub is running, sleeps until it and every
 * invalidation that overlaps it in time have ended. Never fails. Must not
 * be called with a lock that invalidate() takes.
 *
 * The returned seq may already be stale (read_retry true at once); it does
 * not loop, so the caller bounds its own retries.
 */
unsigned long
mmu_interval_read_begin(struct mmu_interval_notifier *interval_sub)
{
	struct mmu_notifier_subscriptions *subscriptions =
		mn_subscriptions(interval_sub->mm);
	unsigned long seq;

	spin_lock(&subscriptions->lock);
	/* Pairs with the store in mmu_interval_set_seq(). */
	seq = READ_ONCE(interval_sub->invalidate_seq);
	/*
	 * Equal only while the era that stamped interval_sub runs: seq is
	 * odd and the idle invalidate_seq is even, so this always ends.
	 */
	while (seq == subscriptions->invalidate_seq)
		mn_wait(subscriptions);
	spin_unlock(&subscriptions->lock);
	return seq;
}

/* The teardown: every interval subscription hears MMU_NOTIFY_RELEASE. */
static void mn_itree_release(struct mmu_notifier_subscriptions *subscriptions,
			     struct mm_struct *mm)
{
	struct mmu_notifier_range range = {
		.mm = mm,
		.start = 0,
		.end = ULONG_MAX,
		.flags = MMU_NOTIFIER_RANGE_BLOCKABLE,
		.event = MMU_NOTIFY_RELEASE,
	};
	struct mmu_interval_notifier *interval_sub;
	unsigned long cur_seq;
	bool ret;

	for (interval_sub = mn_itree_inv_start_range(subscriptions, &range,
						     &cur_seq);
	     interval_sub;
	     interval_sub = mn_itree_inv_next(interval_sub, &range)) {
		ret = interval_sub->ops->invalidate(interval_sub, &range,
						    cur_seq);
		MN_WARN_ON(!ret);
	}
	mn_itree_inv_end(subscriptions);
}

static int mn_itree_invalidate(struct mmu_notifier_subscriptions *subscriptions,
			       const struct mmu_notifier_range *range)
{
	struct mmu_interval_notifier *interval_sub;
	unsigned long cur_seq;

	for (interval_sub = mn_itree_inv_start_range(subscriptions, range,
						     &cur_seq);
	     interval_sub;
	     interval_sub = mn_itree_inv_next(interval_sub, range)) {
		if (interval_sub->ops->invalidate(interval_sub, range,
						  cur_seq))
			continue;
		/* Only a non-blockable range may be refused. */
		if (MN_WARN_ON(mmu_notifier_range_blockable(range)))
			continue;
		/* The caller will not call _end after -EAGAIN. */
		mn_itree_inv_end(subscriptions);
		return -EAGAIN;
	}
	return 0;
}

static int mn_interval_check(struct mm_struct *mm, unsigned long start,
			     unsigned long length, unsigned long *last)
{
	/* The tree holds closed intervals: the last byte is inside. */
	if (length == 0 || __builtin_add_overflow(start, length - 1, last))
		return -EOVERFLOW;
	/* The caller must hold mm_users: nothing to watch otherwise. */
	if (MN_WARN_ON(atomic_load(&mm->mm_users) <= 0))
		return -EINVAL;
	return 0;
}

static void
__mmu_interval_notifier_insert(struct mmu_interval_notifier *interval_sub,
			       struct mm_struct *mm,
			       struct mmu_notifier_subscriptions *subscriptions,
			       unsigned long start, unsigned long last,
			       const struct mmu_interval_notifier_ops *ops)
{
	interval_sub->mm = mm;
	interval_sub->ops = ops;
	interval_tree_node_init(&interval_sub->interval_tree);
	interval_sub->interval_tree.start = start;
	interval_sub->interval_tree.last = last;
	CDS_INIT_LIST_HEAD(&interval_sub->deferred_item);

	/* Dropped last thing in mmu_interval_notifier_remove(). */
	mmgrab(mm);

	spin_lock(&subscriptions->lock);
	if (subscriptions->active_invalidate_ranges) {
		/*
		 * Invalidations are running and we cannot tell whether
		 * their ranges cover ours, so assume they do: the new
		 * subscription's seq is the current odd one, which makes
		 * its first read_begin wait for them. If the tree is frozen
		 * the insert waits for the last of them too; otherwise it
		 * goes in now and starts the odd era itself.
		 */
		if (mn_itree_is_invalidating(subscriptions)) {
			cds_list_add_tail(&interval_sub->deferred_item,
					  &subscriptions->deferred_list);
		} else {
			subscriptions->invalidate_seq |= 1;
			interval_tree_insert(&interval_sub->interval_tree,
					     &subscriptions->itree);
		}
		interval_sub->invalidate_seq = subscriptions->invalidate_seq;
	} else {
		MN_WARN_ON(mn_itree_is_invalidating(subscriptions));
		/*
		 * Idle: any odd value unequal to the current seq will do;
		 * the one just below it will not come round again until
		 * the counter wraps.
		 */
		interval_sub->invalidate_seq =
			subscriptions->invalidate_seq - 1;
		interval_tree_insert(&interval_sub->interval_tree,
				     &subscriptions->itree);
	}
	spin_unlock(&subscriptions->lock);
}

static int mn_register_locked(struct mmu_notifier *subscription,
			      struct mm_struct *mm);

/**
 * mmu_interval_notifier_insert - watch [start, start + length) of mm
 *
 * Returns 0; -EOVERFLOW when length is 0 or the range wraps; -EINVAL when
 * mm has no users left; -ENOMEM when the per-mm state cannot be allocated.
 * The first insert into an mm takes mmap_write_lock: the caller must not
 * hold mmap_lock.
 */
int mmu_interval_notifier_insert(struct mmu_interval_notifier *interval_sub,
				 struct mm_struct *mm, unsigned long start,
				 unsigned long length,
				 const struct mmu_interval_notifier_ops *ops)
{
	struct mmu_notifier_subscriptions *subscriptions;
	unsigned long last;
	int ret;

	ret = mn_interval_check(mm, start, length, &last);
	if (ret)
		return ret;

	subscriptions = mn_subscriptions(mm);
	if (!subscriptions ||
	    !atomic_load_explicit(&subscriptions->has_itree,
				  memory_order_acquire)) {
		mmap_write_lock(mm);
		ret = mn_register_locked(NULL, mm);
		mmap_write_unlock(mm);
		if (ret)
			return ret;
		subscriptions = mn_subscriptions(mm);
	}
	__mmu_interval_notifier_insert(interval_sub, mm, subscriptions, start,
				       last, ops);
	return 0;
}

/**
 * mmu_interval_notifier_insert_locked - mmu_interval_notifier_insert() for
 * a caller that holds mmap_write_lock
 *
 * Same returns.
 */
int mmu_interval_notifier_insert_locked(
	struct mmu_interval_notifier *interval_sub, struct mm_struct *mm,
	unsigned long start, unsigned long length,
	const struct mmu_interval_notifier_ops *ops)
{
	struct mmu_notifier_subscriptions *subscriptions;
	unsigned long last;
	int ret;

	ret = mn_interval_check(mm, start, length, &last);
	if (ret)
		return ret;

	subscriptions = mn_subscriptions(mm);
	if (!subscriptions ||
	    !atomic_load_explicit(&subscriptions->has_itree,
				  memory_order_acquire)) {
		ret = mn_register_locked(NULL, mm);
		if (ret)
			return ret;
		subscriptions = mn_subscriptions(mm);
	}
	__mmu_interval_notifier_insert(interval_sub, mm, subscriptions, start,
				       last, ops);
	return 0;
}

/**
 * mmu_interval_notifier_remove - stop watching
 *
 * When it returns, invalidate() is not running on interval_sub and will
 * not be called again; interval_sub may be freed or inserted again. If the
 * tree is frozen by a running invalidation, the removal is deferred to its
 * end and this sleeps until then; an insert that was itself still deferred
 * is simply dropped. Drops the mm_count reference of the insert, last.
 * Must not be called from invalidate() or with a lock invalidate() takes.
 */
void mmu_interval_notifier_remove(struct mmu_interval_notifier *interval_sub)
{
	struct mm_struct *mm = interval_sub->mm;
	struct mmu_notifier_subscriptions *subscriptions = mn_subscriptions(mm);
	unsigned long seq = 0;

	spin_lock(&subscriptions->lock);
	if (mn_itree_is_invalidating(subscriptions)) {
		if (interval_tree_node_empty(&interval_sub->interval_tree)) {
			/* Inserted during this era: it never got in. */
			cds_list_del_init(&interval_sub->deferred_item);
		} else {
			/* Running invalidations may be calling it. */
			cds_list_add_tail(&interval_sub->deferred_item,
					  &subscriptions->deferred_list);
			seq = subscriptions->invalidate_seq;
		}
	} else {
		/* A deferred insert never outlives its era. */
		BUG_ON(interval_tree_node_empty(&interval_sub->interval_tree));
		interval_tree_remove(&interval_sub->interval_tree,
				     &subscriptions->itree);
	}
	/* seq is odd when set, so 0 means "no wait". */
	if (seq) {
		while (subscriptions->invalidate_seq == seq)
			mn_wait(subscriptions);
	}
	spin_unlock(&subscriptions->lock);

	/* Pairs with the mmgrab() of the insert. */
	mmdrop(mm);
}

/* ---- classic subscriptions ---- */

static bool mn_hlist_hashed(const struct mmu_notifier *subscription)
{
	/* Unlinked nodes point at themselves (cds_list_del_init). */
	return subscription->hlist.next != &subscription->hlist;
}

static void mn_hlist_unhash(struct mmu_notifier_subscriptions *subscriptions,
			    struct mmu_notifier *subscription)
{
	cds_list_del_init(&subscription->hlist);
	atomic_fetch_sub_explicit(&subscriptions->nr_hlist, 1,
				  memory_order_relaxed);
}

/*
 * ->release is called once per subscription: by the teardown for every
 * subscription still linked when it starts, or by mmu_notifier_unregister()
 * for one it unlinks before that. The choice is made with list_lock held
 * for write by unregister, against hlist_released, which the teardown sets
 * while it holds list_lock for read throughout its ->release calls; so an
 * unregister that finds its subscription still linked either comes before
 * the teardown (and releases it itself) or after all of the teardown's
 * ->release calls have returned.
 *
 * The teardown must not return (its caller frees the pages next) while an
 * unregister's ->release is still fencing the device: it waits for
 * unregister_releasing to drop to zero.
 */
static void mn_hlist_release(struct mmu_notifier_subscriptions *subscriptions,
			     struct mm_struct *mm)
{
	struct mmu_notifier *subscription;

	pthread_rwlock_rdlock(&subscriptions->list_lock);
	subscriptions->hlist_released = true;
	cds_list_for_each_entry(subscription, &subscriptions->list, hlist) {
		/*
		 * The only way a device learns to stop touching the pages
		 * before they are freed: invalidations need not cover
		 * everything it may have cached.
		 */
		if (subscription->ops->release)
			subscription->ops->release(subscription, mm);
	}
	pthread_rwlock_unlock(&subscriptions->list_lock);

	spin_lock(&subscriptions->lock);
	while (subscriptions->unregister_releasing)
		mn_wait(subscriptions);
	spin_unlock(&subscriptions->lock);

	/*
	 * Unlink everything so that a later unregister does not call
	 * ->release again; taking the write side also waits for any
	 * invalidation callback still in flight.
	 */
	pthread_rwlock_wrlock(&subscriptions->list_lock);
	while (!cds_list_empty(&subscriptions->list)) {
		subscription = cds_list_first_entry(&subscriptions->list,
						    struct mmu_notifier, hlist);
		mn_hlist_unhash(subscriptions, subscription);
	}
	pthread_rwlock_unlock(&subscriptions->list_lock);
}

/**
 * mmu_notifier_release - the mm is being torn down
 *
 * Called by the teardown (exit_mmap) once mm_users reached zero and before
 * any page is freed. Interval subscriptions get one invalidate() with
 * MMU_NOTIFY_RELEASE over [0, ULONG_MAX); classic ones get ->release and
 * are unlinked. Returns once every ->release (also those called by a
 * concurrent mmu_notifier_unregister()) has returned.
 */
void mmu_notifier_release(struct mm_struct *mm)
{
	struct mmu_notifier_subscriptions *subscriptions = mn_subscriptions(mm);

	if (!subscriptions)
		return;
	if (atomic_load_explicit(&subscriptions->has_itree,
				 memory_order_acquire))
		mn_itree_release(subscriptions, mm);
	mn_hlist_release(subscriptions, mm);
}

/*
 * Call every classic invalidate_range_start. If one refuses, the range was
 * not blockable: stop, and give invalidate_range_end to those before it,
 * which had their start (or need none), so that each one's start/end stay
 * paired. Those after it hear nothing of this range.
 */
static int mn_hlist_invalidate_range_start(
	struct mmu_notifier_subscriptions *subscriptions,
	const struct mmu_notifier_range *range)
{
	struct mmu_notifier *subscription, *failed = NULL;
	int ret = 0;

	pthread_rwlock_rdlock(&subscriptions->list_lock);
	cds_list_for_each_entry(subscription, &subscriptions->list, hlist) {
		const struct mmu_notifier_ops *ops = subscription->ops;

		if (!ops->invalidate_range_start)
			continue;
		ret = ops->invalidate_range_start(subscription, range);
		if (ret) {
			MN_WARN_ON(mmu_notifier_range_blockable(range) ||
				   ret != -EAGAIN);
			failed = subscription;
			break;
		}
	}
	if (failed) {
		cds_list_for_each_entry(subscription, &subscriptions->list,
					hlist) {
			if (subscription == failed)
				break;
			if (subscription->ops->invalidate_range_end)
				subscription->ops->invalidate_range_end(
					subscription, range);
		}
	}
	pthread_rwlock_unlock(&subscriptions->list_lock);
	return ret;
}

static void
mn_hlist_invalidate_end(struct mmu_notifier_subscriptions *subscriptions,
			const struct mmu_notifier_range *range)
{
	struct mmu_notifier *subscription;

	pthread_rwlock_rdlock(&subscriptions->list_lock);
	cds_list_for_each_entry(subscription, &subscriptions->list, hlist) {
		if (subscription->ops->invalidate_range_end)
			subscription->ops->invalidate_range_end(subscription,
								range);
	}
	pthread_rwlock_unlock(&subscriptions->list_lock);
}

static int __mmu_notifier_invalidate_range_start(
	struct mmu_notifier_subscriptions *subscriptions,
	struct mmu_notifier_range *range)
{
	int ret;

	VM_BUG_ON(range->start >= range->end);

	if (atomic_load_explicit(&subscriptions->has_itree,
				 memory_order_acquire)) {
		ret = mn_itree_invalidate(subscriptions, range);
		if (ret)
			return ret;
		range->__notifier_state |= MN_STATE_ITREE;
	}
	if (atomic_load_explicit(&subscriptions->nr_hlist,
				 memory_order_relaxed)) {
		ret = mn_hlist_invalidate_range_start(subscriptions, range);
		if (ret) {
			/*
			 * The kernel leaves the itree counted here; end it
			 * too, or the seq would stay odd for good and every
			 * read_begin of a hit subscription would hang.
			 */
			if (range->__notifier_state & MN_STATE_ITREE)
				mn_itree_inv_end(subscriptions);
			range->__notifier_state = 0;
			return ret;
		}
		range->__notifier_state |= MN_STATE_HLIST;
	}
	return 0;
}

/**
 * mmu_notifier_invalidate_range_start - PTEs of [start, end) will change
 *
 * The caller holds mmap_lock (read or write), or the page locks of the
 * pages it unmaps (the reverse-map walk of migrate_device_range()), and
 * no page-table lock, and
 * calls mmu_notifier_invalidate_range_end() with the same range once the
 * change is done. Interval subscriptions that overlap the range get
 * invalidate(), then classic ones get invalidate_range_start().
 *
 * Returns 0; or -EAGAIN when the range is not blockable
 * (!MMU_NOTIFIER_RANGE_BLOCKABLE) and a subscriber refused to proceed
 * without sleeping: everything begun is undone (ends given to the classic
 * subscriptions that had their start, the itree range ended) and the
 * caller must not call _end.
 */
int mmu_notifier_invalidate_range_start(struct mmu_notifier_range *range)
{
	struct mmu_notifier_subscriptions *subscriptions;

	range->__notifier_state = 0;
	subscriptions = mn_subscriptions(range->mm);
	if (!subscriptions)
		return 0;
	return __mmu_notifier_invalidate_range_start(subscriptions, range);
}

/**
 * mmu_notifier_invalidate_range_end - the change of PTEs is complete
 *
 * Classic subscriptions get invalidate_range_end(); then the interval
 * invalidation ends, which may end an era (see the protocol above). Only
 * what the matching _start began is ended.
 */
void mmu_notifier_invalidate_range_end(struct mmu_notifier_range *range)
{
	struct mmu_notifier_subscriptions *subscriptions;
	unsigned int state = range->__notifier_state;

	if (!state)
		return;
	subscriptions = mn_subscriptions(range->mm);
	if (state & MN_STATE_HLIST)
		mn_hlist_invalidate_end(subscriptions, range);
	if (state & MN_STATE_ITREE)
		mn_itree_inv_end(subscriptions);
	range->__notifier_state = 0;
}

/* ---- registration and lifetime ---- */

static struct mmu_notifier_subscriptions *mn_subscriptions_alloc(void)
{
	struct mmu_notifier_subscriptions *subscriptions;
	pthread_rwlockattr_t attr;

	subscriptions = calloc(1, sizeof(*subscriptions));
	if (!subscriptions)
		return NULL;

	/*
	 * Readers first (glibc's default, said explicitly): a callback run
	 * under the read side may start a nested invalidation, which must
	 * not queue behind a waiting register.
	 */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_READER_NP);
	pthread_rwlock_init(&subscriptions->list_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	CDS_INIT_LIST_HEAD(&subscriptions->list);
	atomic_init(&subscriptions->nr_hlist, 0);
	atomic_init(&subscriptions->has_itree, false);

	spin_lock_init(&subscriptions->lock);
	/* Even (idle) and not 0, which remove uses as "no wait". */
	subscriptions->invalidate_seq = 2;
	subscriptions->itree = RB_ROOT_CACHED;
	pthread_cond_init(&subscriptions->wq, NULL);
	CDS_INIT_LIST_HEAD(&subscriptions->deferred_list);
	return subscriptions;
}

/*
 * Under mmap_write_lock: create the per-mm state if needed, then link
 * subscription, or (NULL) mark the mm as having interval subscriptions.
 * mmap_write_lock means no invalidation (they hold mmap_lock from _start
 * to _end) is running uncounted when has_itree turns true, so the first
 * insert's "are ranges running?" test sees them all. (_end itself does not
 * depend on it: it undoes what range->__notifier_state says _start did.)
 */
static int mn_register_locked(struct mmu_notifier *subscription,
			      struct mm_struct *mm)
{
	struct mmu_notifier_subscriptions *subscriptions = mn_subscriptions(mm);

	BUG_ON(atomic_load(&mm->mm_users) <= 0);

	if (!subscriptions) {
		subscriptions = mn_subscriptions_alloc();
		if (!subscriptions)
			return -ENOMEM;
		/* Lockless readers see it whole (mm_has_notifiers()). */
		__atomic_store_n(&mm->notifier_subscriptions, subscriptions,
				 __ATOMIC_RELEASE);
	}

	if (!subscription) {
		atomic_store_explicit(&subscriptions->has_itree, true,
				      memory_order_release);
		return 0;
	}

	/* Dropped by mmu_notifier_unregister(). */
	mmgrab(mm);
	subscription->mm = mm;
	pthread_rwlock_wrlock(&subscriptions->list_lock);
	/* At the head, as the kernel: the newest is called first. */
	cds_list_add(&subscription->hlist, &subscriptions->list);
	atomic_fetch_add_explicit(&subscriptions->nr_hlist, 1,
				  memory_order_relaxed);
	pthread_rwlock_unlock(&subscriptions->list_lock);
	return 0;
}

/**
 * __mmu_notifier_register - mmu_notifier_register() under mmap_write_lock
 *
 * Returns 0 or -ENOMEM.
 */
int __mmu_notifier_register(struct mmu_notifier *subscription,
			    struct mm_struct *mm)
{
	return mn_register_locked(subscription, mm);
}

/**
 * mmu_notifier_register - hear of every invalidation of mm
 *
 * The caller holds an mm_users reference (the teardown cannot be running)
 * and not mmap_lock; subscription->ops is set. Takes an mm_count reference
 * that mmu_notifier_unregister() drops, so the subscription may be
 * unregistered at any time, before or after the teardown.
 * Returns 0 or -ENOMEM.
 */
int mmu_notifier_register(struct mmu_notifier *subscription,
			  struct mm_struct *mm)
{
	int ret;

	mmap_write_lock(mm);
	ret = mn_register_locked(subscription, mm);
	mmap_write_unlock(mm);
	return ret;
}

/**
 * mmu_notifier_unregister - stop hearing of mm
 *
 * If the teardown has not released subscription yet, calls ->release
 * itself (once: never both). On return no callback of subscription is
 * running or will run, and subscription may be freed. Drops the mm_count
 * reference of the registration, which may free mm. Must not be called
 * from a callback of this mm's notifiers.
 */
void mmu_notifier_unregister(struct mmu_notifier *subscription,
			     struct mm_struct *mm)
{
	struct mmu_notifier_subscriptions *subscriptions = mn_subscriptions(mm);
	bool release = false;

	BUG_ON(atomic_load(&mm->mm_count) <= 0);
	BUG_ON(subscription->mm != mm);

	/* The write side also waits for every callback in flight. */
	pthread_rwlock_wrlock(&subscriptions->list_lock);
	if (mn_hlist_hashed(subscription)) {
		mn_hlist_unhash(subscriptions, subscription);
		if (!subscriptions->hlist_released) {
			release = true;
			spin_lock(&subscriptions->lock);
			subscriptions->unregister_releasing++;
			spin_unlock(&subscriptions->lock);
		}
	}
	pthread_rwlock_unlock(&subscriptions->list_lock);

	if (release) {
		if (subscription->ops->release)
			subscription->ops->release(subscription, mm);
		spin_lock(&subscriptions->lock);
		if (!--subscriptions->unregister_releasing)
			pthread_cond_broadcast(&subscriptions->wq);
		spin_unlock(&subscriptions->lock);
	}

	/* Pairs with the mmgrab() of the registration. */
	mmdrop(mm);
}

/**
 * mmu_notifier_subscriptions_destroy - free the per-mm state
 *
 * From the final mmdrop(): every subscription is gone, since each held an
 * mm_count reference.
 */
void mmu_notifier_subscriptions_destroy(struct mm_struct *mm)
{
	struct mmu_notifier_subscriptions *subscriptions =
		mm->notifier_subscriptions;

	if (!subscriptions)
		return;
	BUG_ON(!cds_list_empty(&subscriptions->list));
	BUG_ON(!interval_tree_empty(&subscriptions->itree));
	BUG_ON(!cds_list_empty(&subscriptions->deferred_list));
	BUG_ON(subscriptions->active_invalidate_ranges);
	BUG_ON(subscriptions->unregister_releasing);

	pthread_cond_destroy(&subscriptions->wq);
	spin_lock_destroy(&subscriptions->lock);
	pthread_rwlock_destroy(&subscriptions->list_lock);
	free(subscriptions);
	mm->notifier_subscriptions = NULL;
}
