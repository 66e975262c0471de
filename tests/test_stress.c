// SPDX-License-Identifier: MIT
/*
 * Races: threads fault and write pages while others munmap/remap,
 * madvise, mprotect and fork underneath them, with a mirror following
 * along through an interval notifier. Checked afterwards or on the way:
 * no write to a page that stayed mapped is lost, fork children never
 * leak writes into the parent, mapcounts match PTEs, and every page is
 * back in the allocator after exit.
 */
#include "test_util.h"
#include "mm/debug.h"

#define OWNED_PAGES	256	/* per writer; never unmapped */
#define CHURN_PAGES	512	/* unmapped, remapped, dropped */
#define WRITERS		2
#define ROUNDS		40000

struct stress {
	struct mm_struct *mm;
	char *owned;		/* WRITERS * OWNED_PAGES pages */
	char *churn;		/* CHURN_PAGES pages */
	char *shared;		/* CHURN_PAGES pages, MAP_SHARED */
	atomic_int stop;
	atomic_long lost_writes;
	atomic_long cow_leaks;
	atomic_long unexpected_errors;
	atomic_long writes_done;

	/* the mirror */
	struct mmu_interval_notifier sub;
	pthread_mutex_t mirror_lock;
	long invalidations;	/* mirror_lock */
};

static unsigned int rnd(unsigned int *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 8;
}

/* A writer owns its pages: what it stored last must read back, whatever
 * happens to the protection of the range or to the mm (fork). */
static void *writer(void *arg_)
{
	struct stress *s = ((void **)arg_)[0];
	long id = (long)((void **)arg_)[1];
	char *base = s->owned + id * OWNED_PAGES * PAGE_SIZE;
	uint32_t last[OWNED_PAGES] = { 0 };
	unsigned int seed = (unsigned int)id * 7919u + 1;

	for (uint32_t round = 1; !atomic_load(&s->stop) || round < 64; round++) {
		unsigned int i = rnd(&seed) % OWNED_PAGES;
		char *p = base + i * PAGE_SIZE + (rnd(&seed) % 1000) * 4;
		uint32_t v = (round << 8) | (uint32_t)id, got = 0;

		/* Every write goes to offset 0 of the page and to p: both
		 * must survive. */
		if (cpu_access(s->mm, base + i * PAGE_SIZE, &v, 4, 1) == 4) {
			last[i] = v;
			atomic_fetch_add(&s->writes_done, 1);
		} else if (errno != EFAULT) {	/* EFAULT: read-only now */
			atomic_fetch_add(&s->unexpected_errors, 1);
		}
		if (cpu_access(s->mm, base + i * PAGE_SIZE, &got, 4, 0) != 4)
			atomic_fetch_add(&s->unexpected_errors, 1);
		else if (got != last[i])
			atomic_fetch_add(&s->lost_writes, 1);
		/* touch the churn region too; errors are expected there */
		cpu_access(s->mm, s->churn + (rnd(&seed) % CHURN_PAGES) *
			    PAGE_SIZE, &v, 4, rnd(&seed) & 1);
		cpu_access(s->mm, s->shared + (rnd(&seed) % CHURN_PAGES) *
			    PAGE_SIZE, &v, 4, rnd(&seed) & 1);
		(void)p;
	}
	return NULL;
}

static void *churner(void *arg)
{
	struct stress *s = arg;
	unsigned int seed = 4242;

	for (int r = 0; r < ROUNDS && !atomic_load(&s->stop); r++) {
		unsigned int first = rnd(&seed) % CHURN_PAGES;
		unsigned int n = 1 + rnd(&seed) % min(32u, CHURN_PAGES - first);
		char *p = s->churn + first * PAGE_SIZE;
		int ret = 0;

		switch (rnd(&seed) % 4) {
		case 0:
			ret = uhmm_munmap(s->mm, p, n * PAGE_SIZE);
			if (!ret && uhmm_mmap(s->mm, p, n * PAGE_SIZE,
					      PROT_READ | PROT_WRITE,
					      MAP_PRIVATE | MAP_ANONYMOUS |
					      MAP_FIXED, -1, 0) != p)
				ret = -1;
			break;
		case 1:
			ret = uhmm_madvise(s->mm, p, n * PAGE_SIZE,
					   MADV_DONTNEED);
			break;
		case 2:
			ret = uhmm_madvise(s->mm, s->shared + first * PAGE_SIZE,
					   n * PAGE_SIZE, MADV_DONTNEED);
			break;
		case 3:
			ret = uhmm_mprotect(s->mm, p, n * PAGE_SIZE, PROT_READ);
			if (!ret)
				ret = uhmm_mprotect(s->mm, p, n * PAGE_SIZE,
						    PROT_READ | PROT_WRITE);
			break;
		}
		if (ret)
			atomic_fetch_add(&s->unexpected_errors, 1);
	}
	return NULL;
}

static void *protector(void *arg)
{
	struct stress *s = arg;
	size_t len = WRITERS * OWNED_PAGES * PAGE_SIZE;
	unsigned int seed = 99;

	for (int r = 0; r < ROUNDS / 4 && !atomic_load(&s->stop); r++) {
		size_t off = (rnd(&seed) % (WRITERS * OWNED_PAGES)) * PAGE_SIZE;
		size_t n = min((size_t)(1 + rnd(&seed) % 16) * PAGE_SIZE,
			       len - off);

		if (uhmm_mprotect(s->mm, s->owned + off, n, PROT_READ) ||
		    uhmm_mprotect(s->mm, s->owned + off, n,
				  PROT_READ | PROT_WRITE))
			atomic_fetch_add(&s->unexpected_errors, 1);
	}
	return NULL;
}

/* Fork, write in the child, check the parent never sees it. */
static void *forker(void *arg)
{
	struct stress *s = arg;
	unsigned int seed = 31337;
	const uint32_t marker = 0xc0ffee00;

	for (int r = 0; r < ROUNDS / 40 && !atomic_load(&s->stop); r++) {
		struct mm_struct *child = uhmm_fork(s->mm);
		unsigned int i;

		if (!child) {
			atomic_fetch_add(&s->unexpected_errors, 1);
			continue;
		}
		for (int k = 0; k < 64; k++) {
			uint32_t got = 0;

			i = rnd(&seed) % (WRITERS * OWNED_PAGES);
			/* may be EFAULT if it was read-only at the fork */
			cpu_access(child, s->owned + i * PAGE_SIZE + 8,
				    (void *)&marker, 4, 1);
			if (cpu_access(s->mm, s->owned + i * PAGE_SIZE + 8,
					&got, 4, 0) == 4 && got == marker)
				atomic_fetch_add(&s->cow_leaks, 1);
		}
		uhmm_mm_exit(child);
	}
	return NULL;
}

static bool mirror_invalidate(struct mmu_interval_notifier *sub,
			      const struct mmu_notifier_range *range,
			      unsigned long cur_seq)
{
	struct stress *s = container_of(sub, struct stress, sub);

	pthread_mutex_lock(&s->mirror_lock);
	mmu_interval_set_seq(sub, cur_seq);
	s->invalidations++;
	pthread_mutex_unlock(&s->mirror_lock);
	return true;
}

static const struct mmu_interval_notifier_ops mirror_ops = {
	.invalidate = mirror_invalidate,
};

static void test_race_everything(void **state)
{
	unsigned long before = free_pages_now();
	struct stress *s = calloc(1, sizeof(*s));
	size_t owned_len = WRITERS * OWNED_PAGES * PAGE_SIZE;
	size_t churn_len = CHURN_PAGES * PAGE_SIZE;
	pthread_t w[WRITERS], c, p, f;
	void *args[WRITERS][2];

	s->mm = uhmm_mm_create();
	pthread_mutex_init(&s->mirror_lock, NULL);
	s->owned = uhmm_mmap(s->mm, NULL, owned_len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	s->churn = uhmm_mmap(s->mm, NULL, churn_len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	s->shared = uhmm_mmap(s->mm, NULL, churn_len, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_ptr_not_equal(s->owned, MAP_FAILED);
	assert_ptr_not_equal(s->churn, MAP_FAILED);
	assert_ptr_not_equal(s->shared, MAP_FAILED);
	assert_int_equal(mmu_interval_notifier_insert(&s->sub, s->mm,
			 (unsigned long)s->churn, churn_len, &mirror_ops), 0);

	for (long i = 0; i < WRITERS; i++) {
		args[i][0] = s;
		args[i][1] = (void *)i;
		pthread_create(&w[i], NULL, writer, args[i]);
	}
	pthread_create(&c, NULL, churner, s);
	pthread_create(&p, NULL, protector, s);
	pthread_create(&f, NULL, forker, s);
	pthread_join(c, NULL);
	pthread_join(p, NULL);
	pthread_join(f, NULL);
	atomic_store(&s->stop, 1);
	for (int i = 0; i < WRITERS; i++)
		pthread_join(w[i], NULL);

	print_message("# writes %ld, invalidations %ld\n", atomic_load(&s->writes_done), s->invalidations);
	assert_int_equal(atomic_load(&s->lost_writes), 0);
	assert_int_equal(atomic_load(&s->cow_leaks), 0);
	assert_int_equal(atomic_load(&s->unexpected_errors), 0);
	assert_true(atomic_load(&s->writes_done) > 0);
	assert_true(s->invalidations > 0);
	assert_int_equal(mm_verify_mapcounts(&s->mm, 1), 0);

	mmu_interval_notifier_remove(&s->sub);
	uhmm_mm_exit(s->mm);
	assert_int_equal(mm_verify_mapcounts(NULL, 0), 0);
	assert_int_equal(free_pages_now(), before);
	free(s);
}

/* Many mms forked from each other, written and exited in any order. */
static void test_fork_tree(void **state)
{
	unsigned long before = free_pages_now();
	struct mm_struct *mms[16];
	unsigned int nr = 1, seed = 5;
	size_t len = 64 * PAGE_SIZE;
	char *p;

	mms[0] = uhmm_mm_create();
	p = uhmm_mmap(mms[0], NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (int r = 0; r < 400; r++) {
		unsigned int i = rnd(&seed) % nr;
		uint32_t v = (uint32_t)r;

		switch (rnd(&seed) % 3) {
		case 0:
			if (nr < 16) {
				mms[nr] = uhmm_fork(mms[i]);
				assert_non_null(mms[nr]);
				nr++;
			}
			break;
		case 1:
			assert_int_equal(cpu_access(mms[i], p + (rnd(&seed) % 64) *
						     PAGE_SIZE, &v, 4, 1), 4);
			break;
		case 2:
			if (nr > 1) {
				uhmm_mm_exit(mms[i]);
				mms[i] = mms[--nr];
			}
			break;
		}
		if (r % 50 == 0)
			assert_int_equal(mm_verify_mapcounts(mms, nr), 0);
	}
	assert_int_equal(mm_verify_mapcounts(mms, nr), 0);
	while (nr)
		uhmm_mm_exit(mms[--nr]);
	assert_int_equal(free_pages_now(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_race_everything),
		cmocka_unit_test(test_fork_tree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
