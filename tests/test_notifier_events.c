// SPDX-License-Identifier: MIT
/*
 * Every change that removes or downgrades a mapping fires the notifiers
 * with the right range and event: munmap (UNMAP), mprotect
 * (PROTECTION_VMA), madvise DONTNEED (CLEAR), fork (PROTECTION_PAGE), a
 * COW break (CLEAR), exit (RELEASE, then UNMAP); and the lifetime rules:
 * a notifier keeps the struct, release runs before pages are freed,
 * unregister after release is safe.
 */
#include "test_util.h"

#define MAX_EVENTS 64

struct recorder {
	struct mmu_interval_notifier sub;
	struct mmu_notifier mn;
	pthread_mutex_t lock;
	unsigned int n;
	struct mmu_notifier_range ev[MAX_EVENTS];
	unsigned int starts, ends, releases;
	unsigned long free_at_release;
};

static bool rec_invalidate(struct mmu_interval_notifier *sub,
			   const struct mmu_notifier_range *range,
			   unsigned long cur_seq)
{
	struct recorder *r = container_of(sub, struct recorder, sub);

	pthread_mutex_lock(&r->lock);
	mmu_interval_set_seq(sub, cur_seq);
	if (r->n < MAX_EVENTS)
		r->ev[r->n++] = *range;
	pthread_mutex_unlock(&r->lock);
	return true;
}

static const struct mmu_interval_notifier_ops rec_ops = {
	.invalidate = rec_invalidate,
};

static int mn_start(struct mmu_notifier *mn,
		    const struct mmu_notifier_range *range)
{
	struct recorder *r = container_of(mn, struct recorder, mn);

	__atomic_add_fetch(&r->starts, 1, __ATOMIC_RELAXED);
	return 0;
}

static void mn_end(struct mmu_notifier *mn,
		   const struct mmu_notifier_range *range)
{
	struct recorder *r = container_of(mn, struct recorder, mn);

	__atomic_add_fetch(&r->ends, 1, __ATOMIC_RELAXED);
}

static void mn_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct recorder *r = container_of(mn, struct recorder, mn);
	struct uhmm_meminfo mi;

	uhmm_meminfo(&mi);
	r->free_at_release = mi.free_pages;
	r->releases++;
}

static const struct mmu_notifier_ops mn_ops = {
	.release = mn_release,
	.invalidate_range_start = mn_start,
	.invalidate_range_end = mn_end,
};

static struct recorder *recorder_new(void)
{
	struct recorder *r = calloc(1, sizeof(*r));

	pthread_mutex_init(&r->lock, NULL);
	return r;
}

static void expect_event(struct recorder *r, unsigned int i,
			 enum mmu_notifier_event event, void *start,
			 unsigned long len)
{
	assert_true(i < r->n);
	assert_int_equal(r->ev[i].event, event);
	assert_int_equal(r->ev[i].start, (unsigned long)start);
	assert_int_equal(r->ev[i].end, (unsigned long)start + len);
	assert_true(r->ev[i].flags & MMU_NOTIFIER_RANGE_BLOCKABLE);
}

static char *map_anon(struct mm_struct *mm, size_t len)
{
	char *p = uhmm_mmap(mm, NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_ptr_not_equal(p, MAP_FAILED);
	return p;
}

static void touch(struct mm_struct *mm, char *p, size_t len)
{
	for (size_t off = 0; off < len; off += PAGE_SIZE)
		assert_int_equal(cpu_access(mm, p + off, "x", 1, 1), 1);
}

/* munmap: UNMAP with the exact range; read_retry turns true. */
static void test_unmap_event(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, 16 * PAGE_SIZE);
	struct recorder *r = recorder_new();
	unsigned long seq;

	touch(mm, p, 16 * PAGE_SIZE);
	assert_int_equal(mmu_interval_notifier_insert(&r->sub, mm,
			 (unsigned long)p, 16 * PAGE_SIZE, &rec_ops), 0);
	seq = mmu_interval_read_begin(&r->sub);
	assert_false(mmu_interval_read_retry(&r->sub, seq));
	assert_int_equal(uhmm_munmap(mm, p + 4 * PAGE_SIZE, 3 * PAGE_SIZE), 0);
	assert_int_equal(r->n, 1);
	expect_event(r, 0, MMU_NOTIFY_UNMAP, p + 4 * PAGE_SIZE, 3 * PAGE_SIZE);
	assert_true(mmu_interval_read_retry(&r->sub, seq));
	assert_true(mmu_interval_check_retry(&r->sub, seq));

	/* A change outside the subscription does not reach it. */
	{
		char *q = uhmm_mmap(mm, p + 16 * PAGE_SIZE, PAGE_SIZE,
				    PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
				    MAP_FIXED, -1, 0);

		assert_ptr_equal(q, p + 16 * PAGE_SIZE);
		seq = mmu_interval_read_begin(&r->sub);
		assert_int_equal(uhmm_munmap(mm, q, PAGE_SIZE), 0);
		assert_int_equal(r->n, 1);
		assert_false(mmu_interval_read_retry(&r->sub, seq));
	}
	mmu_interval_notifier_remove(&r->sub);
	uhmm_mm_exit(mm);
	free(r);
}

/* mprotect (PROTECTION_VMA), madvise (CLEAR), mmap MAP_FIXED (UNMAP). */
static void test_protect_clear_events(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, 8 * PAGE_SIZE);
	struct recorder *r = recorder_new();

	touch(mm, p, 8 * PAGE_SIZE);
	assert_int_equal(mmu_interval_notifier_insert(&r->sub, mm,
			 (unsigned long)p, 8 * PAGE_SIZE, &rec_ops), 0);
	assert_int_equal(uhmm_mprotect(mm, p + PAGE_SIZE, 2 * PAGE_SIZE,
				       PROT_READ), 0);
	expect_event(r, 0, MMU_NOTIFY_PROTECTION_VMA, p + PAGE_SIZE,
		     2 * PAGE_SIZE);
	assert_int_equal(uhmm_madvise(mm, p + 5 * PAGE_SIZE, PAGE_SIZE,
				      MADV_DONTNEED), 0);
	expect_event(r, 1, MMU_NOTIFY_CLEAR, p + 5 * PAGE_SIZE, PAGE_SIZE);
	assert_ptr_equal(uhmm_mmap(mm, p + 6 * PAGE_SIZE, 2 * PAGE_SIZE,
				   PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
				   MAP_FIXED, -1, 0), p + 6 * PAGE_SIZE);
	expect_event(r, 2, MMU_NOTIFY_UNMAP, p + 6 * PAGE_SIZE, 2 * PAGE_SIZE);
	assert_int_equal(r->n, 3);
	mmu_interval_notifier_remove(&r->sub);
	uhmm_mm_exit(mm);
	free(r);
}

/* fork write-protects the parent (PROTECTION_PAGE); a COW break in
 * either mm clears the one page (CLEAR). */
static void test_fork_cow_events(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, 4 * PAGE_SIZE);
	struct recorder *pr = recorder_new(), *cr = recorder_new();
	struct mm_struct *child;

	touch(mm, p, 4 * PAGE_SIZE);
	assert_int_equal(mmu_interval_notifier_insert(&pr->sub, mm,
			 (unsigned long)p, 4 * PAGE_SIZE, &rec_ops), 0);
	child = uhmm_fork(mm);
	assert_non_null(child);
	assert_int_equal(pr->n, 1);
	expect_event(pr, 0, MMU_NOTIFY_PROTECTION_PAGE, p, 4 * PAGE_SIZE);

	assert_int_equal(mmu_interval_notifier_insert(&cr->sub, child,
			 (unsigned long)p, 4 * PAGE_SIZE, &rec_ops), 0);
	assert_int_equal(cpu_access(child, p + 2 * PAGE_SIZE, "c", 1, 1), 1);
	assert_int_equal(cr->n, 1);
	expect_event(cr, 0, MMU_NOTIFY_CLEAR, p + 2 * PAGE_SIZE, PAGE_SIZE);
	assert_int_equal(cpu_access(mm, p + 3 * PAGE_SIZE, "p", 1, 1), 1);
	assert_int_equal(pr->n, 2);
	expect_event(pr, 1, MMU_NOTIFY_CLEAR, p + 3 * PAGE_SIZE, PAGE_SIZE);
	/* The parent's page 2 is its own again: reused, no event. */
	assert_int_equal(cpu_access(mm, p + 2 * PAGE_SIZE, "p", 1, 1), 1);
	assert_int_equal(pr->n, 2);

	mmu_interval_notifier_remove(&cr->sub);
	uhmm_mm_exit(child);
	mmu_interval_notifier_remove(&pr->sub);
	uhmm_mm_exit(mm);
	free(pr);
	free(cr);
}

/* Exit: RELEASE then UNMAP to interval subscribers; classic release
 * runs before any page is freed; the struct outlives the exit while a
 * notifier is registered; unregister after release is safe. */
static void test_exit_events(void **state)
{
	unsigned long before = free_pages_now();
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, 32 * PAGE_SIZE);
	struct recorder *r = recorder_new();
	unsigned long in_use;

	touch(mm, p, 32 * PAGE_SIZE);
	in_use = free_pages_now();
	assert_int_equal(mmu_interval_notifier_insert(&r->sub, mm,
			 (unsigned long)p, 32 * PAGE_SIZE, &rec_ops), 0);
	r->mn.ops = &mn_ops;
	assert_int_equal(mmu_notifier_register(&r->mn, mm), 0);
	assert_int_equal(atomic_load(&mm->mm_count), 3);
	/* Before the exit it hears every invalidation, paired. */
	assert_int_equal(uhmm_madvise(mm, p, PAGE_SIZE, MADV_DONTNEED), 0);
	assert_int_equal(r->starts, 1);
	assert_int_equal(r->ends, 1);
	r->starts = r->ends = 0;
	r->n = 0;
	in_use = free_pages_now();

	uhmm_mm_exit(mm);
	assert_int_equal(r->releases, 1);
	assert_int_equal(r->free_at_release, in_use);
	assert_int_equal(r->n, 2);
	assert_int_equal(r->ev[0].event, MMU_NOTIFY_RELEASE);
	assert_int_equal(r->ev[0].start, 0);
	assert_int_equal(r->ev[0].end, ULONG_MAX);
	assert_int_equal(r->ev[1].event, MMU_NOTIFY_UNMAP);
	assert_true(r->ev[1].start <= (unsigned long)p &&
		    r->ev[1].end >= (unsigned long)p + 32 * PAGE_SIZE);
	/* Release detached the classic notifier, as in the kernel: it hears
	 * nothing of the teardown that follows. */
	assert_int_equal(r->starts, 0);
	assert_int_equal(r->ends, 0);

	/* The struct is alive (two notifiers hold it); pages are gone but
	 * for the top-level table. */
	assert_int_equal(atomic_load(&mm->mm_count), 2);
	assert_int_equal(atomic_load(&mm->mm_users), 0);
	assert_int_equal(free_pages_now(), before - 1);

	mmu_notifier_unregister(&r->mn, mm);
	assert_int_equal(r->releases, 1);	/* not called again */
	mmu_interval_notifier_remove(&r->sub);
	assert_int_equal(free_pages_now(), before);
	free(r);
}

/* The Done-means scenario of the CPU side, end to end. */
static void test_done_means(void **state)
{
	unsigned long before = free_pages_now();
	struct mm_struct *mm = uhmm_mm_create(), *child;
	size_t len = 64UL << 20;
	char *p = map_anon(mm, len);
	struct recorder *r = recorder_new();
	unsigned long seq;
	char c;

	for (size_t off = 0; off < len; off += PAGE_SIZE) {
		c = (char)(off >> PAGE_SHIFT);
		assert_int_equal(cpu_access(mm, p + off, &c, 1, 1), 1);
	}
	for (size_t off = 0; off < len; off += PAGE_SIZE) {
		assert_int_equal(cpu_access(mm, p + off, &c, 1, 0), 1);
		assert_int_equal(c, (char)(off >> PAGE_SHIFT));
	}
	child = uhmm_fork(mm);
	assert_non_null(child);
	assert_int_equal(cpu_access(child, p, "C", 1, 1), 1);
	assert_int_equal(cpu_access(mm, p, &c, 1, 0), 1);
	assert_int_equal(c, 0);
	uhmm_mm_exit(child);

	assert_int_equal(mmu_interval_notifier_insert(&r->sub, mm,
			 (unsigned long)p, len, &rec_ops), 0);
	seq = mmu_interval_read_begin(&r->sub);
	assert_int_equal(uhmm_munmap(mm, p + len / 2, len / 4), 0);
	expect_event(r, 0, MMU_NOTIFY_UNMAP, p + len / 2, len / 4);
	assert_true(mmu_interval_read_retry(&r->sub, seq));
	mmu_interval_notifier_remove(&r->sub);
	uhmm_mm_exit(mm);
	assert_int_equal(free_pages_now(), before);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unmap_event),
		cmocka_unit_test(test_protect_clear_events),
		cmocka_unit_test(test_fork_cow_events),
		cmocka_unit_test(test_exit_events),
		cmocka_unit_test(test_done_means),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
