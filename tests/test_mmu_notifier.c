// SPDX-License-Identifier: MIT
/*
 * The notifier machinery of src/notifier/mmu_notifier.c, driven directly:
 * hand-built ranges on an mm from uhmm_mm_create(), interval and classic
 * subscriptions with counting callbacks, threads that hold an invalidation
 * open at a chosen point, and a race test of the collision-retry contract.
 *
 * cmocka asserts only on the main thread; workers record what they saw in
 * atomics that the main thread checks after joining them.
 */
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "notifier/mmu_notifier_internal.h"

#define BASE	0x100000UL

/* ---- a gate: a worker stops at it until the main thread opens it ---- */

struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int arrived;		/* workers that reached the gate */
	bool open;
};

static void gate_init(struct gate *g)
{
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	g->arrived = 0;
	g->open = false;
}

static void gate_destroy(struct gate *g)
{
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
}

static void gate_pass(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->arrived++;
	pthread_cond_broadcast(&g->cond);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static void gate_wait_arrived(struct gate *g, int n)
{
	pthread_mutex_lock(&g->lock);
	while (g->arrived < n)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->open = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/* Long enough that a broken wait would usually have returned by then;
 * no assertion depends on it. */
static void let_others_run(void)
{
	usleep(20 * 1000);
}

/* ---- interval subscriptions that record their calls ---- */

static atomic_int call_log[16];	/* ids of hit subscriptions, in order */
static atomic_int call_log_len;

struct isub {
	struct mmu_interval_notifier notifier;
	int id;
	pthread_mutex_t lock;		/* the "driver lock" */
	/* under lock: */
	int calls;
	struct mmu_notifier_range range;	/* of the last call */
	unsigned long cur_seq;			/* of the last call */
	/* set up before use: */
	bool refuse_nonblock;		/* return false when not blockable */
	struct gate *gate;		/* stop here inside invalidate() */
};

static bool isub_invalidate(struct mmu_interval_notifier *mni,
			    const struct mmu_notifier_range *range,
			    unsigned long cur_seq)
{
	struct isub *s = container_of(mni, struct isub, notifier);
	int n;

	if (s->refuse_nonblock && !mmu_notifier_range_blockable(range))
		return false;

	pthread_mutex_lock(&s->lock);
	mmu_interval_set_seq(mni, cur_seq);
	s->calls++;
	s->range = *range;
	s->cur_seq = cur_seq;
	pthread_mutex_unlock(&s->lock);

	n = atomic_fetch_add(&call_log_len, 1);
	if (n < (int)ARRAY_SIZE(call_log))
		atomic_store(&call_log[n], s->id);

	if (s->gate)
		gate_pass(s->gate);
	return true;
}

static const struct mmu_interval_notifier_ops isub_ops = {
	.invalidate = isub_invalidate,
};

static void isub_init(struct isub *s, int id)
{
	memset(s, 0, sizeof(*s));
	s->id = id;
	pthread_mutex_init(&s->lock, NULL);
}

static void isub_insert(struct isub *s, struct mm_struct *mm,
			unsigned long start, unsigned long length)
{
	assert_int_equal(mmu_interval_notifier_insert(&s->notifier, mm,
						      start, length,
						      &isub_ops), 0);
}

static int isub_calls(struct isub *s)
{
	int calls;

	pthread_mutex_lock(&s->lock);
	calls = s->calls;
	pthread_mutex_unlock(&s->lock);
	return calls;
}

/* read_retry under the driver lock, as a driver does. */
static bool isub_retry(struct isub *s, unsigned long seq)
{
	bool retry;

	pthread_mutex_lock(&s->lock);
	retry = mmu_interval_read_retry(&s->notifier, seq);
	pthread_mutex_unlock(&s->lock);
	return retry;
}

static void call_log_reset(void)
{
	atomic_store(&call_log_len, 0);
}

/* ---- invalidations, as the memory manager brackets them ---- */

static int inv_start(struct mmu_notifier_range *r, struct mm_struct *mm,
		     unsigned long start, unsigned long end,
		     enum mmu_notifier_event event, unsigned int flags,
		     void *owner)
{
	int ret;

	mmu_notifier_range_init_owner(r, event, flags, mm, start, end, owner);
	mmap_read_lock(mm);
	ret = mmu_notifier_invalidate_range_start(r);
	if (ret)
		mmap_read_unlock(mm);
	return ret;
}

static void inv_end(struct mmu_notifier_range *r)
{
	mmu_notifier_invalidate_range_end(r);
	mmap_read_unlock(r->mm);
}

/* One complete blockable invalidation of [start, end). */
static void invalidate(struct mm_struct *mm, unsigned long start,
		       unsigned long end)
{
	struct mmu_notifier_range r;

	assert_int_equal(inv_start(&r, mm, start, end, MMU_NOTIFY_CLEAR,
				   MMU_NOTIFIER_RANGE_BLOCKABLE, NULL), 0);
	inv_end(&r);
}

static unsigned long subs_seq(struct mm_struct *mm)
{
	struct mmu_notifier_subscriptions *subs = mm->notifier_subscriptions;
	unsigned long seq;

	spin_lock(&subs->lock);
	seq = subs->invalidate_seq;
	spin_unlock(&subs->lock);
	return seq;
}

static unsigned long subs_active(struct mm_struct *mm)
{
	struct mmu_notifier_subscriptions *subs = mm->notifier_subscriptions;
	unsigned long n;

	spin_lock(&subs->lock);
	n = subs->active_invalidate_ranges;
	spin_unlock(&subs->lock);
	return n;
}

static bool in_tree(struct isub *s)
{
	struct mmu_notifier_subscriptions *subs =
		s->notifier.mm->notifier_subscriptions;
	bool ret;

	spin_lock(&subs->lock);
	ret = !interval_tree_node_empty(&s->notifier.interval_tree);
	spin_unlock(&subs->lock);
	return ret;
}

static int mm_count(struct mm_struct *mm)
{
	return atomic_load(&mm->mm_count);
}

static struct mm_struct *new_mm(void)
{
	struct mm_struct *mm = uhmm_mm_create();

	assert_non_null(mm);
	assert_int_equal(mm_count(mm), 1);
	return mm;
}

/* ---- a worker thread that runs one invalidation in steps ---- */

enum { PH_IDLE, PH_STARTING, PH_STARTED, PH_ENDING, PH_ENDED };

struct inv_worker {
	pthread_t thread;
	struct mm_struct *mm;
	unsigned long start, end;
	struct gate may_end;		/* opened by main: call _end */
	atomic_int phase;
	int ret;
};

static void *inv_worker_fn(void *arg)
{
	struct inv_worker *w = arg;
	struct mmu_notifier_range r;

	atomic_store(&w->phase, PH_STARTING);
	w->ret = inv_start(&r, w->mm, w->start, w->end, MMU_NOTIFY_CLEAR,
			   MMU_NOTIFIER_RANGE_BLOCKABLE, NULL);
	atomic_store(&w->phase, PH_STARTED);
	gate_pass(&w->may_end);
	atomic_store(&w->phase, PH_ENDING);
	if (!w->ret)
		inv_end(&r);
	atomic_store(&w->phase, PH_ENDED);
	return NULL;
}

static void inv_worker_run(struct inv_worker *w, struct mm_struct *mm,
			   unsigned long start, unsigned long end)
{
	w->mm = mm;
	w->start = start;
	w->end = end;
	gate_init(&w->may_end);
	atomic_store(&w->phase, PH_IDLE);
	assert_int_equal(pthread_create(&w->thread, NULL, inv_worker_fn, w),
			 0);
}

static void inv_worker_finish(struct inv_worker *w)
{
	gate_open(&w->may_end);
	pthread_join(w->thread, NULL);
	assert_int_equal(w->ret, 0);
	gate_destroy(&w->may_end);
}

/* A thread that calls read_begin and notes the worker's phase on return. */
struct reader {
	pthread_t thread;
	struct isub *sub;
	struct inv_worker *worker;	/* whose phase to note */
	atomic_bool done;
	unsigned long seq;
	int phase_at_return;
};

static void *reader_fn(void *arg)
{
	struct reader *rd = arg;

	rd->seq = mmu_interval_read_begin(&rd->sub->notifier);
	rd->phase_at_return = atomic_load(&rd->worker->phase);
	atomic_store(&rd->done, true);
	return NULL;
}

static void reader_run(struct reader *rd, struct isub *sub,
		       struct inv_worker *w)
{
	rd->sub = sub;
	rd->worker = w;
	atomic_store(&rd->done, false);
	assert_int_equal(pthread_create(&rd->thread, NULL, reader_fn, rd), 0);
}

/* ================= tests ================= */

/* With no subscription the mm has no notifier state and the calls are
 * no-ops. */
static void test_no_notifiers(void **state)
{
	struct mm_struct *mm = new_mm();
	struct mmu_notifier_range r;

	assert_false(mm_has_notifiers(mm));
	assert_int_equal(inv_start(&r, mm, BASE, 2 * BASE, MMU_NOTIFY_UNMAP,
				   0, NULL), 0);
	assert_int_equal(r.__notifier_state, 0);
	inv_end(&r);
	assert_false(mm_has_notifiers(mm));
	uhmm_mm_exit(mm);
}

/* Only overlapping subscriptions are called, in start order; end is
 * exclusive, an interval's last byte inclusive; the callback sees the
 * range exactly as built. */
static void test_interval_hit_miss(void **state)
{
	struct mm_struct *mm = new_mm();
	struct isub a, b, c;
	struct mmu_notifier_range r;
	int owner;

	isub_init(&a, 1);
	isub_init(&b, 2);
	isub_init(&c, 3);
	/* inserted out of order on purpose */
	isub_insert(&b, mm, 0x20000, 0x10000);		/* [0x20000, 0x2ffff] */
	isub_insert(&c, mm, 0x50000, 0x1000);		/* [0x50000, 0x50fff] */
	isub_insert(&a, mm, 0x10000, 0x10000);		/* [0x10000, 0x1ffff] */
	assert_true(mm_has_notifiers(mm));
	assert_int_equal(mm_count(mm), 4);

	call_log_reset();
	invalidate(mm, 0x20000, 0x30000);
	assert_int_equal(atomic_load(&call_log_len), 1);
	assert_int_equal(atomic_load(&call_log[0]), 2);

	/* end is exclusive: [0x1f000, 0x20000) does not reach b */
	call_log_reset();
	invalidate(mm, 0x1f000, 0x20000);
	assert_int_equal(atomic_load(&call_log_len), 1);
	assert_int_equal(atomic_load(&call_log[0]), 1);

	/* two bytes straddling the boundary: a then b */
	call_log_reset();
	invalidate(mm, 0x1ffff, 0x20001);
	assert_int_equal(atomic_load(&call_log_len), 2);
	assert_int_equal(atomic_load(&call_log[0]), 1);
	assert_int_equal(atomic_load(&call_log[1]), 2);

	/* the gap between b and c */
	call_log_reset();
	invalidate(mm, 0x30000, 0x50000);
	assert_int_equal(atomic_load(&call_log_len), 0);

	/* c's last byte is in it; the byte after is not */
	call_log_reset();
	invalidate(mm, 0x50fff, 0x51000);
	assert_int_equal(atomic_load(&call_log_len), 1);
	assert_int_equal(atomic_load(&call_log[0]), 3);
	call_log_reset();
	invalidate(mm, 0x51000, 0x60000);
	invalidate(mm, 0, 0x10000);
	assert_int_equal(atomic_load(&call_log_len), 0);

	/* everything, in start order */
	call_log_reset();
	invalidate(mm, 0, ULONG_MAX);
	assert_int_equal(atomic_load(&call_log_len), 3);
	assert_int_equal(atomic_load(&call_log[0]), 1);
	assert_int_equal(atomic_load(&call_log[1]), 2);
	assert_int_equal(atomic_load(&call_log[2]), 3);

	/* the callback sees the caller's range, event, flags and owner */
	assert_int_equal(inv_start(&r, mm, 0x50800, 0x50900,
				   MMU_NOTIFY_MIGRATE, 0, &owner), 0);
	inv_end(&r);
	assert_ptr_equal(c.range.mm, mm);
	assert_int_equal(c.range.start, 0x50800);
	assert_int_equal(c.range.end, 0x50900);
	assert_int_equal(c.range.event, MMU_NOTIFY_MIGRATE);
	assert_int_equal(c.range.flags, 0);
	assert_ptr_equal(c.range.owner, &owner);
	assert_true(c.cur_seq & 1);
	assert_int_equal(c.notifier.invalidate_seq, c.cur_seq);

	assert_int_equal(isub_calls(&a), 3);
	assert_int_equal(isub_calls(&b), 3);
	assert_int_equal(isub_calls(&c), 3);
	assert_false(subs_seq(mm) & 1);
	assert_int_equal(subs_active(mm), 0);

	mmu_interval_notifier_remove(&a.notifier);
	mmu_interval_notifier_remove(&b.notifier);
	mmu_interval_notifier_remove(&c.notifier);
	assert_int_equal(mm_count(mm), 1);
	call_log_reset();
	invalidate(mm, 0, ULONG_MAX);
	assert_int_equal(atomic_load(&call_log_len), 0);
	uhmm_mm_exit(mm);
}

/* Ranges that cannot be watched are refused, with the kernel's errno. */
static void test_insert_errors(void **state)
{
	struct mm_struct *mm = new_mm();
	struct isub a;

	isub_init(&a, 1);
	assert_int_equal(mmu_interval_notifier_insert(&a.notifier, mm, BASE,
						      0, &isub_ops),
			 -EOVERFLOW);
	assert_int_equal(mmu_interval_notifier_insert(&a.notifier, mm,
						      ULONG_MAX - 10, 12,
						      &isub_ops),
			 -EOVERFLOW);
	assert_int_equal(mm_count(mm), 1);

	/* the largest range that fits: [ULONG_MAX - 10, ULONG_MAX] */
	isub_insert(&a, mm, ULONG_MAX - 10, 11);
	call_log_reset();
	invalidate(mm, ULONG_MAX - 1, ULONG_MAX);
	assert_int_equal(atomic_load(&call_log_len), 1);
	mmu_interval_notifier_remove(&a.notifier);

	/* _locked under mmap_write_lock */
	mmap_write_lock(mm);
	assert_int_equal(mmu_interval_notifier_insert_locked(&a.notifier, mm,
							     BASE, PAGE_SIZE,
							     &isub_ops), 0);
	mmap_write_unlock(mm);
	invalidate(mm, BASE, BASE + 1);
	assert_int_equal(isub_calls(&a), 2);
	mmu_interval_notifier_remove(&a.notifier);
	assert_int_equal(mm_count(mm), 1);
	uhmm_mm_exit(mm);
}

/* read_retry is true after an invalidation that hit the subscription and
 * false after one that missed it; check_retry agrees. */
static void test_read_retry_contract(void **state)
{
	struct mm_struct *mm = new_mm();
	struct isub a;
	unsigned long seq, seq2;

	isub_init(&a, 1);
	isub_insert(&a, mm, BASE, 4 * PAGE_SIZE);

	seq = mmu_interval_read_begin(&a.notifier);
	assert_true(seq & 1);
	assert_false(isub_retry(&a, seq));
	assert_false(mmu_interval_check_retry(&a.notifier, seq));

	/* misses: just before and just after */
	invalidate(mm, BASE - PAGE_SIZE, BASE);
	invalidate(mm, BASE + 4 * PAGE_SIZE, BASE + 8 * PAGE_SIZE);
	assert_false(isub_retry(&a, seq));
	assert_false(mmu_interval_check_retry(&a.notifier, seq));
	assert_int_equal(isub_calls(&a), 0);

	/* a hit */
	invalidate(mm, BASE + PAGE_SIZE, BASE + PAGE_SIZE + 1);
	assert_true(isub_retry(&a, seq));
	assert_true(mmu_interval_check_retry(&a.notifier, seq));

	/* a new read after it sees a stable seq again */
	seq2 = mmu_interval_read_begin(&a.notifier);
	assert_int_not_equal(seq2, seq);
	assert_true(seq2 & 1);
	assert_false(isub_retry(&a, seq2));
	invalidate(mm, 0, BASE);
	assert_false(isub_retry(&a, seq2));
	invalidate(mm, 0, ULONG_MAX);
	assert_true(isub_retry(&a, seq2));

	mmu_interval_notifier_remove(&a.notifier);
	uhmm_mm_exit(mm);
}

/* read_begin of a subscription whose invalidation is in flight returns
 * only once that invalidation has ended, with the seq of that era. */
static void test_read_begin_waits(void **state)
{
	struct mm_struct *mm = new_mm();
	struct inv_worker w;
	struct reader rd;
	struct gate in_cb;
	struct isub a;

	isub_init(&a, 1);
	isub_insert(&a, mm, BASE, PAGE_SIZE);
	gate_init(&in_cb);
	a.gate = &in_cb;

	inv_worker_run(&w, mm, BASE, BASE + PAGE_SIZE);
	gate_wait_arrived(&in_cb, 1);		/* w is inside invalidate() */
	assert_true(subs_seq(mm) & 1);

	reader_run(&rd, &a, &w);
	let_others_run();
	assert_false(atomic_load(&rd.done));
	gate_open(&in_cb);
	gate_wait_arrived(&w.may_end, 1);	/* w is between start and end */
	let_others_run();
	assert_false(atomic_load(&rd.done));

	inv_worker_finish(&w);
	pthread_join(rd.thread, NULL);
	assert_true(rd.phase_at_return >= PH_ENDING);
	assert_int_equal(rd.seq, a.cur_seq);
	assert_false(isub_retry(&a, rd.seq));

	/* A reader of a subscription the running invalidation missed does
	 * not wait. */
	a.gate = NULL;
	gate_destroy(&in_cb);
	inv_worker_run(&w, mm, 2 * BASE, 2 * BASE + PAGE_SIZE);
	gate_wait_arrived(&w.may_end, 1);
	assert_false(subs_seq(mm) & 1);
	assert_int_equal(mmu_interval_read_begin(&a.notifier), rd.seq);
	inv_worker_finish(&w);

	mmu_interval_notifier_remove(&a.notifier);
	uhmm_mm_exit(mm);
}

/* An insert while the tree is frozen is deferred: the new subscription is
 * not called by the invalidation in flight, is in the tree after it, and
 * its first read_begin waits for it. */
static void test_insert_deferred(void **state)
{
	struct mm_struct *mm = new_mm();
	struct inv_worker w;
	struct reader rd;
	struct gate in_cb;
	struct isub a, n;
	unsigned long era;

	isub_init(&a, 1);
	isub_init(&n, 2);
	isub_insert(&a, mm, BASE, PAGE_SIZE);
	gate_init(&in_cb);
	a.gate = &in_cb;

	inv_worker_run(&w, mm, BASE, BASE + 2 * PAGE_SIZE);
	gate_wait_arrived(&in_cb, 1);
	era = subs_seq(mm);
	assert_true(era & 1);

	/* n covers the range being invalidated, after a */
	isub_insert(&n, mm, BASE + PAGE_SIZE, PAGE_SIZE);
	assert_false(in_tree(&n));
	assert_int_equal(n.notifier.invalidate_seq, era);
	assert_int_equal(mm_count(mm), 3);

	reader_run(&rd, &n, &w);
	gate_open(&in_cb);
	gate_wait_arrived(&w.may_end, 1);
	assert_false(in_tree(&n));
	let_others_run();
	assert_false(atomic_load(&rd.done));

	inv_worker_finish(&w);
	pthread_join(rd.thread, NULL);
	assert_true(rd.phase_at_return >= PH_ENDING);
	assert_int_equal(isub_calls(&n), 0);
	assert_true(in_tree(&n));
	assert_int_equal(subs_seq(mm), era + 1);
	assert_true(cds_list_empty(
		&mm->notifier_subscriptions->deferred_list));

	/* now it is an ordinary subscription */
	a.gate = NULL;
	gate_destroy(&in_cb);
	assert_false(isub_retry(&n, rd.seq));
	invalidate(mm, BASE + PAGE_SIZE, BASE + 2 * PAGE_SIZE);
	assert_int_equal(isub_calls(&n), 1);
	assert_true(isub_retry(&n, rd.seq));

	mmu_interval_notifier_remove(&n.notifier);
	mmu_interval_notifier_remove(&a.notifier);
	assert_int_equal(mm_count(mm), 1);
	uhmm_mm_exit(mm);
}

/* An insert while invalidations run that hit nothing goes straight into
 * the tree, but takes an odd seq so that read_begin waits for them. */
static void test_insert_during_missed_invalidation(void **state)
{
	struct mm_struct *mm = new_mm();
	struct inv_worker w;
	struct reader rd;
	struct isub a, n;
	unsigned long before;

	isub_init(&a, 1);
	isub_init(&n, 2);
	isub_insert(&a, mm, BASE, PAGE_SIZE);
	before = subs_seq(mm);

	inv_worker_run(&w, mm, 4 * BASE, 5 * BASE);	/* misses a */
	gate_wait_arrived(&w.may_end, 1);
	assert_int_equal(subs_seq(mm), before);
	assert_int_equal(subs_active(mm), 1);

	isub_insert(&n, mm, 4 * BASE, PAGE_SIZE);
	assert_true(in_tree(&n));
	assert_int_equal(subs_seq(mm), before | 1);
	assert_int_equal(n.notifier.invalidate_seq, before | 1);

	reader_run(&rd, &n, &w);
	let_others_run();
	assert_false(atomic_load(&rd.done));
	inv_worker_finish(&w);
	pthread_join(rd.thread, NULL);
	assert_true(rd.phase_at_return >= PH_ENDING);
	assert_int_equal(subs_seq(mm), before + 2);
	/* the worker's range was counted before n existed: n not called */
	assert_int_equal(isub_calls(&n), 0);

	mmu_interval_notifier_remove(&n.notifier);
	mmu_interval_notifier_remove(&a.notifier);
	uhmm_mm_exit(mm);
}

struct remover {
	pthread_t thread;
	struct isub *sub;
	struct inv_worker *worker;
	atomic_bool done;
	int phase_at_return;
	int calls_at_return;
};

static void *remover_fn(void *arg)
{
	struct remover *rm = arg;

	mmu_interval_notifier_remove(&rm->sub->notifier);
	rm->phase_at_return = atomic_load(&rm->worker->phase);
	rm->calls_at_return = isub_calls(rm->sub);
	atomic_store(&rm->done, true);
	return NULL;
}

/* A remove while an invalidation holds the tree waits for it to end; no
 * call reaches the subscription after remove returned. */
static void test_remove_waits(void **state)
{
	struct mm_struct *mm = new_mm();
	struct inv_worker w;
	struct remover rm;
	struct gate in_cb;
	struct isub a, b;

	isub_init(&a, 1);
	isub_init(&b, 2);
	isub_insert(&a, mm, BASE, PAGE_SIZE);
	isub_insert(&b, mm, BASE + PAGE_SIZE, PAGE_SIZE);
	gate_init(&in_cb);
	a.gate = &in_cb;

	inv_worker_run(&w, mm, BASE, BASE + 2 * PAGE_SIZE);
	gate_wait_arrived(&in_cb, 1);		/* in a's callback, b next */

	rm.sub = &b;
	rm.worker = &w;
	atomic_store(&rm.done, false);
	assert_int_equal(pthread_create(&rm.thread, NULL, remover_fn, &rm), 0);
	let_others_run();
	assert_false(atomic_load(&rm.done));
	assert_true(in_tree(&b));

	gate_open(&in_cb);
	gate_wait_arrived(&w.may_end, 1);
	/* b, still in the frozen tree, was called after the remove began */
	assert_int_equal(isub_calls(&b), 1);
	let_others_run();
	assert_false(atomic_load(&rm.done));

	inv_worker_finish(&w);
	pthread_join(rm.thread, NULL);
	assert_true(rm.phase_at_return >= PH_ENDING);
	assert_int_equal(rm.calls_at_return, 1);
	assert_false(in_tree(&b));
	assert_true(interval_tree_node_empty(&b.notifier.interval_tree));

	a.gate = NULL;
	gate_destroy(&in_cb);
	invalidate(mm, 0, ULONG_MAX);
	assert_int_equal(isub_calls(&b), 1);
	assert_int_equal(mm_count(mm), 2);

	/* b can be inserted again */
	isub_insert(&b, mm, BASE, PAGE_SIZE);
	invalidate(mm, BASE, BASE + 1);
	assert_int_equal(isub_calls(&b), 2);
	mmu_interval_notifier_remove(&b.notifier);
	mmu_interval_notifier_remove(&a.notifier);
	assert_int_equal(mm_count(mm), 1);
	uhmm_mm_exit(mm);
}

/* Removing a subscription whose insert is still deferred drops it from the
 * deferred list at once: it never enters the tree. */
static void test_remove_deferred_insert(void **state)
{
	struct mm_struct *mm = new_mm();
	struct inv_worker w;
	struct isub a, n;

	isub_init(&a, 1);
	isub_init(&n, 2);
	isub_insert(&a, mm, BASE, PAGE_SIZE);

	inv_worker_run(&w, mm, BASE, BASE + PAGE_SIZE);
	gate_wait_arrived(&w.may_end, 1);	/* hit a, not yet ended */
	assert_true(subs_seq(mm) & 1);

	isub_insert(&n, mm, BASE, PAGE_SIZE);
	assert_false(in_tree(&n));
	assert_int_equal(mm_count(mm), 3);
	/* on the main thread: would hang if it waited for the worker */
	mmu_interval_notifier_remove(&n.notifier);
	assert_int_equal(mm_count(mm), 2);
	assert_true(cds_list_empty(
		&mm->notifier_subscriptions->deferred_list));
	assert_int_equal(atomic_load(&w.phase), PH_STARTED);

	inv_worker_finish(&w);
	assert_false(in_tree(&n));
	invalidate(mm, 0, ULONG_MAX);
	assert_int_equal(isub_calls(&n), 0);

	mmu_interval_notifier_remove(&a.notifier);
	assert_int_equal(mm_count(mm), 1);
	uhmm_mm_exit(mm);
}

/* Overlapping invalidations share one odd seq, which stays odd until the
 * last of them ends, whichever it is and whether or not it hit. */
static void test_nested_invalidations(void **state)
{
	struct mm_struct *mm = new_mm();
	struct mmu_notifier_range r1, r2, r3;
	struct inv_worker dummy;
	struct reader rd;
	struct isub a, b;
	unsigned long even, odd;

	isub_init(&a, 1);
	isub_init(&b, 2);
	isub_insert(&a, mm, BASE, PAGE_SIZE);
	isub_insert(&b, mm, 2 * BASE, PAGE_SIZE);
	even = subs_seq(mm);
	assert_false(even & 1);
	odd = even + 1;
	atomic_store(&dummy.phase, PH_IDLE);

	/* r1 misses everything, r2 hits a, r3 hits b */
	assert_int_equal(inv_start(&r1, mm, 8 * BASE, 9 * BASE,
				   MMU_NOTIFY_CLEAR,
				   MMU_NOTIFIER_RANGE_BLOCKABLE, NULL), 0);
	assert_int_equal(subs_seq(mm), even);
	assert_int_equal(inv_start(&r2, mm, BASE, 2 * BASE, MMU_NOTIFY_CLEAR,
				   MMU_NOTIFIER_RANGE_BLOCKABLE, NULL), 0);
	assert_int_equal(subs_seq(mm), odd);
	assert_int_equal(inv_start(&r3, mm, 2 * BASE, 3 * BASE,
				   MMU_NOTIFY_CLEAR,
				   MMU_NOTIFIER_RANGE_BLOCKABLE, NULL), 0);
	assert_int_equal(a.cur_seq, odd);
	assert_int_equal(b.cur_seq, odd);
	assert_int_equal(subs_active(mm), 3);

	reader_run(&rd, &a, &dummy);
	inv_end(&r2);
	assert_int_equal(subs_seq(mm), odd);
	let_others_run();
	assert_false(atomic_load(&rd.done));
	inv_end(&r3);
	assert_int_equal(subs_seq(mm), odd);
	let_others_run();
	assert_false(atomic_load(&rd.done));
	atomic_store(&dummy.phase, PH_ENDING);
	inv_end(&r1);				/* the one that missed */
	assert_int_equal(subs_seq(mm), even + 2);
	assert_int_equal(subs_active(mm), 0);
	pthread_join(rd.thread, NULL);
	assert_true(rd.phase_at_return >= PH_ENDING);
	assert_int_equal(rd.seq, odd);

	mmu_interval_notifier_remove(&a.notifier);
	mmu_interval_notifier_remove(&b.notifier);
	uhmm_mm_exit(mm);
}

/* ---- classic subscriptions ---- */

struct csub {
	struct mmu_notifier notifier;
	int id;
	atomic_int starts, ends, releases;
	struct mmu_notifier_range range;	/* last start (one thread) */
	int refuse;				/* errno to return when
						 * not blockable */
};

static void csub_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct csub *c = container_of(mn, struct csub, notifier);

	atomic_fetch_add(&c->releases, 1);
}

static int csub_start(struct mmu_notifier *mn,
		      const struct mmu_notifier_range *range)
{
	struct csub *c = container_of(mn, struct csub, notifier);
	int n;

	if (c->refuse && !mmu_notifier_range_blockable(range))
		return c->refuse;
	atomic_fetch_add(&c->starts, 1);
	c->range = *range;
	n = atomic_fetch_add(&call_log_len, 1);
	if (n < (int)ARRAY_SIZE(call_log))
		atomic_store(&call_log[n], c->id);
	return 0;
}

static void csub_end(struct mmu_notifier *mn,
		     const struct mmu_notifier_range *range)
{
	struct csub *c = container_of(mn, struct csub, notifier);

	atomic_fetch_add(&c->ends, 1);
}

static const struct mmu_notifier_ops csub_ops = {
	.release = csub_release,
	.invalidate_range_start = csub_start,
	.invalidate_range_end = csub_end,
};

static void csub_init(struct csub *c, int id)
{
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->notifier.ops = &csub_ops;
}

/* register/unregister: every invalidation is seen in start/end pairs;
 * unregister of a live mm calls release once; mm_count follows. */
static void test_classic_register_unregister(void **state)
{
	struct mm_struct *mm = new_mm();
	struct csub x, y;

	csub_init(&x, 1);
	csub_init(&y, 2);
	assert_int_equal(mmu_notifier_register(&x.notifier, mm), 0);
	assert_ptr_equal(x.notifier.mm, mm);
	assert_int_equal(mm_count(mm), 2);
	mmap_write_lock(mm);
	assert_int_equal(__mmu_notifier_register(&y.notifier, mm), 0);
	mmap_write_unlock(mm);
	assert_int_equal(mm_count(mm), 3);

	invalidate(mm, BASE, 2 * BASE);
	assert_int_equal(atomic_load(&x.starts), 1);
	assert_int_equal(atomic_load(&x.ends), 1);
	assert_int_equal(atomic_load(&y.starts), 1);
	assert_int_equal(x.range.start, BASE);
	assert_int_equal(x.range.end, 2 * BASE);
	assert_int_equal(x.range.event, MMU_NOTIFY_CLEAR);

	mmu_notifier_unregister(&x.notifier, mm);
	assert_int_equal(atomic_load(&x.releases), 1);
	assert_int_equal(atomic_load(&y.releases), 0);
	assert_int_equal(mm_count(mm), 2);

	invalidate(mm, BASE, 2 * BASE);
	assert_int_equal(atomic_load(&x.starts), 1);
	assert_int_equal(atomic_load(&y.starts), 2);
	assert_int_equal(atomic_load(&y.ends), 2);

	mmu_notifier_unregister(&y.notifier, mm);
	assert_int_equal(atomic_load(&y.releases), 1);
	assert_int_equal(mm_count(mm), 1);
	uhmm_mm_exit(mm);
	assert_int_equal(atomic_load(&x.releases), 1);
	assert_int_equal(atomic_load(&y.releases), 1);
}

/* The teardown releases everything once: interval subscriptions get one
 * MMU_NOTIFY_RELEASE invalidation over the whole space, classic ones
 * ->release; a registered notifier keeps the struct alive; unregister and
 * remove after the teardown do not release again. */
static void test_release_on_exit(void **state)
{
	struct mm_struct *mm = new_mm();
	struct csub x;
	struct isub a;

	csub_init(&x, 1);
	isub_init(&a, 2);
	assert_int_equal(mmu_notifier_register(&x.notifier, mm), 0);
	isub_insert(&a, mm, BASE, PAGE_SIZE);
	assert_int_equal(mm_count(mm), 3);

	uhmm_mm_exit(mm);
	/* the struct lives on, held by the two subscriptions */
	assert_int_equal(atomic_load(&mm->mm_users), 0);
	assert_int_equal(mm_count(mm), 2);
	assert_int_equal(atomic_load(&x.releases), 1);
	assert_int_equal(isub_calls(&a), 1);
	assert_int_equal(a.range.event, MMU_NOTIFY_RELEASE);
	assert_int_equal(a.range.start, 0);
	assert_int_equal(a.range.end, ULONG_MAX);
	assert_true(mmu_notifier_range_blockable(&a.range));
	assert_false(subs_seq(mm) & 1);

	mmu_notifier_unregister(&x.notifier, mm);
	assert_int_equal(atomic_load(&x.releases), 1);
	assert_int_equal(mm_count(mm), 1);
	/* the last mmdrop: the struct is freed (ASan checks the rest) */
	mmu_interval_notifier_remove(&a.notifier);
	assert_int_equal(isub_calls(&a), 1);
}

struct unregisterer {
	pthread_t thread;
	struct csub *c;
	struct mm_struct *mm;
};

static void *unregister_fn(void *arg)
{
	struct unregisterer *u = arg;

	mmu_notifier_unregister(&u->c->notifier, u->mm);
	return NULL;
}

/* unregister racing with the teardown: each subscription is released
 * exactly once, whoever wins. */
static void test_release_unregister_race(void **state)
{
	enum { N = 8, ROUNDS = 50 };

	for (int round = 0; round < ROUNDS; round++) {
		struct mm_struct *mm = new_mm();
		struct unregisterer u[N];
		struct csub c[N];

		for (int i = 0; i < N; i++) {
			csub_init(&c[i], i);
			assert_int_equal(mmu_notifier_register(&c[i].notifier,
							       mm), 0);
		}
		mmgrab(mm);		/* keep it to look at the counts */
		for (int i = 0; i < N; i++) {
			u[i].c = &c[i];
			u[i].mm = mm;
			assert_int_equal(pthread_create(&u[i].thread, NULL,
							unregister_fn, &u[i]),
					 0);
		}
		uhmm_mm_exit(mm);
		for (int i = 0; i < N; i++)
			pthread_join(u[i].thread, NULL);
		for (int i = 0; i < N; i++)
			assert_int_equal(atomic_load(&c[i].releases), 1);
		assert_int_equal(mm_count(mm), 1);
		mmdrop(mm);
	}
}

/* A refusal of a non-blockable range undoes what was begun: classic
 * subscriptions before the refusing one get their end, those after it
 * nothing; the interval invalidation is ended (seq even again); the
 * caller gets -EAGAIN. */
static void test_nonblockable_refusal(void **state)
{
	struct mm_struct *mm = new_mm();
	struct mmu_notifier_range r;
	struct csub x, y, z;
	struct isub a, b;
	unsigned long seq_a, seq_b;

	csub_init(&x, 1);
	csub_init(&y, 2);
	csub_init(&z, 3);
	y.refuse = -EAGAIN;
	isub_init(&a, 10);
	isub_init(&b, 11);
	b.refuse_nonblock = true;
	/* newest first: the list is x, y, z */
	assert_int_equal(mmu_notifier_register(&z.notifier, mm), 0);
	assert_int_equal(mmu_notifier_register(&y.notifier, mm), 0);
	assert_int_equal(mmu_notifier_register(&x.notifier, mm), 0);
	isub_insert(&a, mm, BASE, PAGE_SIZE);
	isub_insert(&b, mm, 4 * BASE, PAGE_SIZE);
	seq_a = mmu_interval_read_begin(&a.notifier);

	/* a classic refusal, after a was invalidated */
	call_log_reset();
	assert_int_equal(inv_start(&r, mm, BASE, 2 * BASE, MMU_NOTIFY_CLEAR,
				   0, NULL), -EAGAIN);
	assert_int_equal(isub_calls(&a), 1);
	assert_int_equal(atomic_load(&x.starts), 1);
	assert_int_equal(atomic_load(&x.ends), 1);
	assert_int_equal(atomic_load(&y.starts), 0);
	assert_int_equal(atomic_load(&y.ends), 0);
	assert_int_equal(atomic_load(&z.starts), 0);
	assert_int_equal(atomic_load(&z.ends), 0);
	assert_int_equal(atomic_load(&call_log_len), 2);	/* a, x */
	assert_int_equal(atomic_load(&call_log[0]), 10);
	assert_int_equal(atomic_load(&call_log[1]), 1);
	assert_false(subs_seq(mm) & 1);
	assert_int_equal(subs_active(mm), 0);
	assert_true(isub_retry(&a, seq_a));
	/* not left waiting on an era that never ends */
	assert_int_equal(mmu_interval_read_begin(&a.notifier), a.cur_seq);

	/* the same range, blockable: everyone is told */
	invalidate(mm, BASE, 2 * BASE);
	assert_int_equal(atomic_load(&y.starts), 1);
	assert_int_equal(atomic_load(&y.ends), 1);
	assert_int_equal(atomic_load(&z.starts), 1);
	assert_int_equal(atomic_load(&z.ends), 1);
	assert_int_equal(atomic_load(&x.ends), 2);

	/* an interval refusal: the classic ones are not called at all */
	seq_b = mmu_interval_read_begin(&b.notifier);
	assert_int_equal(inv_start(&r, mm, 0, 8 * BASE, MMU_NOTIFY_CLEAR, 0,
				   NULL), -EAGAIN);
	assert_int_equal(isub_calls(&a), 3);	/* before b in the tree */
	assert_int_equal(isub_calls(&b), 0);
	assert_int_equal(atomic_load(&x.starts), 2);
	assert_false(subs_seq(mm) & 1);
	assert_int_equal(subs_active(mm), 0);
	assert_false(isub_retry(&b, seq_b));
	/* blockable: b takes it */
	invalidate(mm, 0, 8 * BASE);
	assert_int_equal(isub_calls(&b), 1);
	assert_true(isub_retry(&b, seq_b));

	mmu_interval_notifier_remove(&a.notifier);
	mmu_interval_notifier_remove(&b.notifier);
	mmu_notifier_unregister(&x.notifier, mm);
	mmu_notifier_unregister(&y.notifier, mm);
	mmu_notifier_unregister(&z.notifier, mm);
	assert_int_equal(mm_count(mm), 1);
	uhmm_mm_exit(mm);
}

/* ---- the race: the collision-retry contract under contention ----
 *
 * The "CPU page tables" are NPAGES generation counters; an invalidator of
 * pages [p0, p1) brackets with start/end and bumps their generations in
 * between, as a PTE change would. A mirror (one per subscription) reads
 * the generations of its pages between read_begin and read_retry, and
 * under its driver lock, when read_retry says the read is good, checks
 * that the generations are still what it read and marks its copy valid.
 * Its invalidate() marks the copy invalid under the same lock, and the
 * invalidator checks, after bumping and before ending, that no mirror of
 * those pages became valid meanwhile. Either check fails if a reader ever
 * accepts a read that an invalidation overlapped.
 */
#define NPAGES		8
#define RBASE		(64 * BASE)

struct mirror {
	struct mmu_interval_notifier notifier;
	pthread_mutex_t lock;		/* the driver lock */
	unsigned int p0, p1;		/* pages [p0, p1) */
	bool valid;			/* lock: the device copy is in use */
	atomic_bool live;		/* between insert and remove */
	atomic_long hits;
};

static atomic_ulong page_gen[NPAGES];
static atomic_long race_violations;
static atomic_long race_reads, race_retries, race_invalidations;
static atomic_bool race_stop;

static bool mirror_invalidate(struct mmu_interval_notifier *mni,
			      const struct mmu_notifier_range *range,
			      unsigned long cur_seq)
{
	struct mirror *m = container_of(mni, struct mirror, notifier);

	/* never called before insert or after remove returned */
	if (!atomic_load(&m->live))
		atomic_fetch_add(&race_violations, 1);
	pthread_mutex_lock(&m->lock);
	mmu_interval_set_seq(mni, cur_seq);
	m->valid = false;
	pthread_mutex_unlock(&m->lock);
	atomic_fetch_add(&m->hits, 1);
	return true;
}

static const struct mmu_interval_notifier_ops mirror_ops = {
	.invalidate = mirror_invalidate,
};

static void mirror_init(struct mirror *m, unsigned int p0, unsigned int p1)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->p0 = p0;
	m->p1 = p1;
}

static int mirror_insert(struct mirror *m, struct mm_struct *mm)
{
	atomic_store(&m->live, true);
	return mmu_interval_notifier_insert(&m->notifier, mm,
					    RBASE + m->p0 * PAGE_SIZE,
					    (m->p1 - m->p0) * PAGE_SIZE,
					    &mirror_ops);
}

static void mirror_remove(struct mirror *m)
{
	mmu_interval_notifier_remove(&m->notifier);
	pthread_mutex_lock(&m->lock);
	m->valid = false;
	pthread_mutex_unlock(&m->lock);
	atomic_store(&m->live, false);
}

/* One fault-and-program cycle, retried until it sticks. */
static void mirror_fault(struct mirror *m, unsigned int *rng)
{
	unsigned long snap[NPAGES];
	unsigned long seq;

	for (;;) {
		seq = mmu_interval_read_begin(&m->notifier);
		for (unsigned int p = m->p0; p < m->p1; p++) {
			snap[p] = atomic_load(&page_gen[p]);
			if (rand_r(rng) % 8 == 0)
				sched_yield();
		}
		if (mmu_interval_check_retry(&m->notifier, seq)) {
			atomic_fetch_add(&race_retries, 1);
			continue;
		}
		pthread_mutex_lock(&m->lock);
		if (mmu_interval_read_retry(&m->notifier, seq)) {
			pthread_mutex_unlock(&m->lock);
			atomic_fetch_add(&race_retries, 1);
			continue;
		}
		for (unsigned int p = m->p0; p < m->p1; p++)
			if (atomic_load(&page_gen[p]) != snap[p])
				atomic_fetch_add(&race_violations, 1);
		m->valid = true;
		pthread_mutex_unlock(&m->lock);
		atomic_fetch_add(&race_reads, 1);
		return;
	}
}

/*
 * Two fixed mirrors, of pages [0, 3) and [5, 8), and churning ones of
 * [2, 6) and [3, 5): invalidations of pages 3 and 4 alone find the tree
 * empty there whenever the churners are out, which makes the "partially
 * excluded" state (running ranges, even seq) that inserts must handle.
 */
static struct mirror race_mirrors[2];
static struct mm_struct *race_mm;

struct race_thread {
	pthread_t thread;
	unsigned int seed;
	int iterations;
	struct mirror *mirror;
	unsigned int p0, p1;		/* churn: the pages of its mirror */
};

static void *race_invalidator(void *arg)
{
	struct race_thread *t = arg;
	struct mmu_notifier_range r;

	for (int i = 0; i < t->iterations; i++) {
		unsigned int p0 = rand_r(&t->seed) % NPAGES;
		unsigned int p1 = p0 + 1 + rand_r(&t->seed) % (NPAGES - p0);

		mmu_notifier_range_init(&r, MMU_NOTIFY_CLEAR,
					MMU_NOTIFIER_RANGE_BLOCKABLE, race_mm,
					RBASE + p0 * PAGE_SIZE,
					RBASE + p1 * PAGE_SIZE);
		mmap_read_lock(race_mm);
		if (mmu_notifier_invalidate_range_start(&r))
			atomic_fetch_add(&race_violations, 1);
		/* A PTE change takes a while; widens the window in which
		 * an insert can meet this running range. */
		if (rand_r(&t->seed) % 4 == 0)
			usleep(rand_r(&t->seed) % 50);
		for (unsigned int p = p0; p < p1; p++)
			atomic_fetch_add(&page_gen[p], 1);
		if (rand_r(&t->seed) % 4 == 0)
			sched_yield();
		/* Nobody may have programmed these pages since. */
		for (int k = 0; k < 2; k++) {
			struct mirror *m = &race_mirrors[k];

			if (m->p1 <= p0 || p1 <= m->p0)
				continue;
			pthread_mutex_lock(&m->lock);
			if (m->valid)
				atomic_fetch_add(&race_violations, 1);
			pthread_mutex_unlock(&m->lock);
		}
		mmu_notifier_invalidate_range_end(&r);
		mmap_read_unlock(race_mm);
		atomic_fetch_add(&race_invalidations, 1);
		/* Let eras end now and then, or readers only ever wait.
		 * Coverage only: nothing depends on the timing. */
		if (rand_r(&t->seed) % 4 == 0)
			usleep(rand_r(&t->seed) % 200);
	}
	return NULL;
}

static void *race_reader(void *arg)
{
	struct race_thread *t = arg;

	while (!atomic_load(&race_stop))
		mirror_fault(t->mirror, &t->seed);
	return NULL;
}

/* Inserts and removes a mirror over and over, faulting through it:
 * inserts and removes in every writer state, deferred ones included. */
static void *race_churn(void *arg)
{
	struct race_thread *t = arg;
	struct mirror m;

	mirror_init(&m, t->p0, t->p1);
	while (!atomic_load(&race_stop)) {
		if (mirror_insert(&m, race_mm))
			atomic_fetch_add(&race_violations, 1);
		mirror_fault(&m, &t->seed);
		if (rand_r(&t->seed) % 2)
			mirror_fault(&m, &t->seed);
		mirror_remove(&m);
		t->iterations++;
	}
	pthread_mutex_destroy(&m.lock);
	return NULL;
}

static void test_race_read_retry(void **state)
{
	enum { WRITERS = 3, READERS = 2, CHURNERS = 2, ITER = 4000 };
	struct race_thread w[WRITERS], rd[READERS], ch[CHURNERS];
	long churns = 0;

	race_mm = new_mm();
	for (int p = 0; p < NPAGES; p++)
		atomic_store(&page_gen[p], 0);
	atomic_store(&race_violations, 0);
	atomic_store(&race_reads, 0);
	atomic_store(&race_retries, 0);
	atomic_store(&race_invalidations, 0);
	atomic_store(&race_stop, false);
	mirror_init(&race_mirrors[0], 0, 3);
	mirror_init(&race_mirrors[1], 5, 8);
	assert_int_equal(mirror_insert(&race_mirrors[0], race_mm), 0);
	assert_int_equal(mirror_insert(&race_mirrors[1], race_mm), 0);

	for (int i = 0; i < READERS; i++) {
		rd[i].seed = 100 + i;
		rd[i].mirror = &race_mirrors[i];
		assert_int_equal(pthread_create(&rd[i].thread, NULL,
						race_reader, &rd[i]), 0);
	}
	for (int i = 0; i < CHURNERS; i++) {
		ch[i].seed = 200 + i;
		ch[i].iterations = 0;
		ch[i].p0 = i ? 3 : 2;
		ch[i].p1 = i ? 5 : 6;
		assert_int_equal(pthread_create(&ch[i].thread, NULL,
						race_churn, &ch[i]), 0);
	}
	for (int i = 0; i < WRITERS; i++) {
		w[i].seed = 300 + i;
		w[i].iterations = ITER;
		assert_int_equal(pthread_create(&w[i].thread, NULL,
						race_invalidator, &w[i]), 0);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(w[i].thread, NULL);
	atomic_store(&race_stop, true);
	for (int i = 0; i < READERS; i++)
		pthread_join(rd[i].thread, NULL);
	for (int i = 0; i < CHURNERS; i++) {
		pthread_join(ch[i].thread, NULL);
		churns += ch[i].iterations;
	}

	print_message("# %ld invalidations, %ld reads, %ld retries, "
		      "%ld insert/remove cycles, hits %ld/%ld\n",
		      atomic_load(&race_invalidations),
		      atomic_load(&race_reads), atomic_load(&race_retries),
		      churns, atomic_load(&race_mirrors[0].hits),
		      atomic_load(&race_mirrors[1].hits));
	assert_int_equal(atomic_load(&race_violations), 0);
	assert_int_equal(atomic_load(&race_invalidations), WRITERS * ITER);
	assert_true(atomic_load(&race_reads) > 0);
	assert_true(atomic_load(&race_mirrors[0].hits) > 0);
	assert_false(subs_seq(race_mm) & 1);
	assert_int_equal(subs_active(race_mm), 0);

	mirror_remove(&race_mirrors[0]);
	mirror_remove(&race_mirrors[1]);
	assert_int_equal(mm_count(race_mm), 1);
	uhmm_mm_exit(race_mm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_notifiers),
		cmocka_unit_test(test_interval_hit_miss),
		cmocka_unit_test(test_insert_errors),
		cmocka_unit_test(test_read_retry_contract),
		cmocka_unit_test(test_read_begin_waits),
		cmocka_unit_test(test_insert_deferred),
		cmocka_unit_test(test_insert_during_missed_invalidation),
		cmocka_unit_test(test_remove_waits),
		cmocka_unit_test(test_remove_deferred_insert),
		cmocka_unit_test(test_nested_invalidations),
		cmocka_unit_test(test_classic_register_unregister),
		cmocka_unit_test(test_release_on_exit),
		cmocka_unit_test(test_release_unregister_race),
		cmocka_unit_test(test_nonblockable_refusal),
		cmocka_unit_test(test_race_read_retry),
	};

	/* e.g. UHMM_TEST_FILTER='test_race*' to run one scenario */
	if (getenv("UHMM_TEST_FILTER"))
		cmocka_set_test_filter(getenv("UHMM_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
