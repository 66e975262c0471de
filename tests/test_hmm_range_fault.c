// SPDX-License-Identifier: MIT
/*
 * hmm_range_fault: snapshots without faulting, faults where the request
 * bits ask, the kernel's return codes, and the driver pattern racing
 * against CPU-side invalidations.
 */
#include "test_util.h"
#include "mm/mm_internal.h"

#define NPAGES 16

struct mirror {
	struct mmu_interval_notifier sub;
	pthread_mutex_t lock;
	unsigned long invalidations;	/* lock */
};

static bool mirror_invalidate(struct mmu_interval_notifier *sub,
			      const struct mmu_notifier_range *range,
			      unsigned long cur_seq)
{
	struct mirror *m = container_of(sub, struct mirror, sub);

	pthread_mutex_lock(&m->lock);
	mmu_interval_set_seq(sub, cur_seq);
	m->invalidations++;
	pthread_mutex_unlock(&m->lock);
	return true;
}

static const struct mmu_interval_notifier_ops mirror_ops = {
	.invalidate = mirror_invalidate,
};

struct fixture {
	struct mm_struct *mm;
	char *p;
	struct mirror m;
	unsigned long pfns[NPAGES];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->mm = uhmm_mm_create();
	f->p = uhmm_mmap(f->mm, NULL, NPAGES * PAGE_SIZE,
			 PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	pthread_mutex_init(&f->m.lock, NULL);
	if (f->p == MAP_FAILED ||
	    mmu_interval_notifier_insert(&f->m.sub, f->mm, (unsigned long)f->p,
					 NPAGES * PAGE_SIZE, &mirror_ops))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	mmu_interval_notifier_remove(&f->m.sub);
	uhmm_mm_exit(f->mm);
	free(f);
	return 0;
}

/* One call over [p + first page, + n pages) with the given requests;
 * -EBUSY is returned to the caller. */
static int range_fault_once(struct fixture *f, unsigned int first,
			    unsigned int n, unsigned long default_flags)
{
	struct hmm_range range = {
		.notifier = &f->m.sub,
		.start = (unsigned long)f->p + first * PAGE_SIZE,
		.end = (unsigned long)f->p + (first + n) * PAGE_SIZE,
		.hmm_pfns = f->pfns + first,
		.default_flags = default_flags,
	};
	int ret;

	range.notifier_seq = mmu_interval_read_begin(&f->m.sub);
	mmap_read_lock(f->mm);
	ret = hmm_range_fault(&range);
	mmap_read_unlock(f->mm);
	return ret;
}

/* The same, starting over on -EBUSY as a driver does. */
static int range_fault(struct fixture *f, unsigned int first, unsigned int n,
		       unsigned long default_flags)
{
	int ret;

	do {
		ret = range_fault_once(f, first, n, default_flags);
	} while (ret == -EBUSY);
	return ret;
}

static void cpu_write(struct fixture *f, unsigned int page, char c)
{
	assert_int_equal(cpu_access(f->mm, f->p + page * PAGE_SIZE, &c, 1, 1), 1);
}

static void cpu_read(struct fixture *f, unsigned int page)
{
	char c;

	assert_int_equal(cpu_access(f->mm, f->p + page * PAGE_SIZE, &c, 1, 0), 1);
}

/* A snapshot faults nothing: none is 0, the zero page VALID read-only,
 * a written page VALID|WRITE with its pfn. */
static void test_snapshot(void **state)
{
	struct fixture *f = *state;
	unsigned long pfn;

	cpu_read(f, 1);
	cpu_write(f, 2, 'x');
	assert_int_equal(range_fault(f, 0, NPAGES, 0), 0);
	assert_int_equal(f->pfns[0], 0);
	assert_int_equal(f->pfns[1], page_to_pfn(zero_page()) | HMM_PFN_VALID);
	pfn = f->pfns[2];
	assert_true(pfn & HMM_PFN_VALID);
	assert_true(pfn & HMM_PFN_WRITE);
	assert_false(pfn & HMM_PFN_ERROR);
	assert_int_equal(hmm_pfn_to_map_order(pfn), 0);
	assert_int_equal(((char *)page_address(hmm_pfn_to_page(pfn)))[0], 'x');
	for (int i = 3; i < NPAGES; i++)
		assert_int_equal(f->pfns[i], 0);
	/* Nothing was faulted in. */
	assert_int_equal(range_fault(f, 3, 1, 0), 0);
	assert_int_equal(f->pfns[3], 0);
}

/* REQ_FAULT maps pages for reading (zero page), REQ_WRITE writable. */
static void test_fault_read_write(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(range_fault(f, 0, 4, HMM_PFN_REQ_FAULT), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(f->pfns[i],
				 page_to_pfn(zero_page()) | HMM_PFN_VALID);
	assert_int_equal(range_fault(f, 0, 4,
				     HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE), 0);
	for (int i = 0; i < 4; i++) {
		assert_true(f->pfns[i] & HMM_PFN_WRITE);
		assert_ptr_not_equal(hmm_pfn_to_page(f->pfns[i]), zero_page());
	}
	/* The device's pages are the CPU's. */
	*(char *)page_address(hmm_pfn_to_page(f->pfns[3])) = 'd';
	{
		char c;

		assert_int_equal(cpu_access(f->mm, f->p + 3 * PAGE_SIZE, &c,
					     1, 0), 1);
		assert_int_equal(c, 'd');
	}
}

/*
 * Per-page requests through pfn_flags_mask. Inputs are set again before
 * every try: outputs share their bits with the requests.
 */
static void test_per_page_requests(void **state)
{
	struct fixture *f = *state;
	int ret;
	struct hmm_range range = {
		.notifier = &f->m.sub,
		.start = (unsigned long)f->p,
		.end = (unsigned long)f->p + 4 * PAGE_SIZE,
		.hmm_pfns = f->pfns,
		.pfn_flags_mask = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE,
	};

	/* With the PTE table in place, faults start at the first page
	 * that asks for one (with none, the whole span is faulted with
	 * every request or'ed together, as the kernel does for a hole). */
	cpu_write(f, NPAGES - 1, 't');
	do {
		f->pfns[0] = 0;
		f->pfns[1] = HMM_PFN_REQ_FAULT;
		f->pfns[2] = 0;
		f->pfns[3] = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
		range.notifier_seq = mmu_interval_read_begin(&f->m.sub);
		mmap_read_lock(f->mm);
		ret = hmm_range_fault(&range);
		mmap_read_unlock(f->mm);
	} while (ret == -EBUSY);
	assert_int_equal(ret, 0);
	assert_int_equal(f->pfns[0], 0);
	assert_int_equal(f->pfns[1], page_to_pfn(zero_page()) | HMM_PFN_VALID);
	assert_true(f->pfns[3] & HMM_PFN_WRITE);
	assert_ptr_not_equal(hmm_pfn_to_page(f->pfns[3]), zero_page());
}

/* Holes and unreadable VMAs: HMM_PFN_ERROR in a snapshot, -EFAULT
 * when a fault is asked; a write to read-only memory: -EPERM. */
static void test_errors(void **state)
{
	struct fixture *f = *state;

	cpu_write(f, 5, 'a');
	assert_int_equal(uhmm_munmap(f->mm, f->p + 2 * PAGE_SIZE, PAGE_SIZE), 0);
	assert_int_equal(uhmm_mprotect(f->mm, f->p + 4 * PAGE_SIZE,
				       2 * PAGE_SIZE, PROT_NONE), 0);
	assert_int_equal(uhmm_mprotect(f->mm, f->p + 8 * PAGE_SIZE, PAGE_SIZE,
				       PROT_READ), 0);

	assert_int_equal(range_fault(f, 0, NPAGES, 0), 0);
	assert_int_equal(f->pfns[2], HMM_PFN_ERROR);
	assert_int_equal(f->pfns[4], HMM_PFN_ERROR);
	assert_int_equal(f->pfns[5], HMM_PFN_ERROR);

	assert_int_equal(range_fault(f, 2, 1, HMM_PFN_REQ_FAULT), -EFAULT);
	assert_int_equal(range_fault(f, 4, 2, HMM_PFN_REQ_FAULT), -EFAULT);
	assert_int_equal(range_fault(f, 8, 1, HMM_PFN_REQ_FAULT), 0);
	assert_int_equal(f->pfns[8], page_to_pfn(zero_page()) | HMM_PFN_VALID);
	assert_int_equal(range_fault(f, 8, 1,
				     HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE),
			 -EPERM);

	/* Bad ranges. */
	assert_int_equal(range_fault(f, 1, 0, 0), -EINVAL);
	{
		struct hmm_range r = { .notifier = &f->m.sub,
				       .start = (unsigned long)f->p + 1,
				       .end = (unsigned long)f->p + PAGE_SIZE,
				       .hmm_pfns = f->pfns };

		assert_int_equal(hmm_range_fault(&r), -EINVAL);
	}
}

/* A write request breaks copy-on-write; it invalidates the range, so
 * the first call says -EBUSY and the retry succeeds. */
static void test_write_breaks_cow(void **state)
{
	struct fixture *f = *state;
	struct mm_struct *child;
	struct page *old;
	int ret;

	cpu_write(f, 0, 'p');
	assert_int_equal(range_fault(f, 0, 1, 0), 0);
	old = hmm_pfn_to_page(f->pfns[0]);
	child = uhmm_fork(f->mm);
	assert_non_null(child);
	assert_int_equal(range_fault(f, 0, 1, 0), 0);
	assert_false(f->pfns[0] & HMM_PFN_WRITE);	/* write-protected */

	ret = range_fault_once(f, 0, 1, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE);
	assert_int_equal(ret, -EBUSY);
	assert_int_equal(range_fault(f, 0, 1, HMM_PFN_REQ_FAULT |
				     HMM_PFN_REQ_WRITE), 0);
	assert_true(f->pfns[0] & HMM_PFN_WRITE);
	assert_ptr_not_equal(hmm_pfn_to_page(f->pfns[0]), old);
	assert_int_equal(((char *)page_address(hmm_pfn_to_page(f->pfns[0])))[0],
			 'p');
	uhmm_mm_exit(child);
}

/* -EBUSY when an invalidation of the range came after read_begin. */
static void test_ebusy(void **state)
{
	struct fixture *f = *state;
	struct hmm_range range = {
		.notifier = &f->m.sub,
		.start = (unsigned long)f->p,
		.end = (unsigned long)f->p + NPAGES * PAGE_SIZE,
		.hmm_pfns = f->pfns,
	};

	range.notifier_seq = mmu_interval_read_begin(&f->m.sub);
	assert_int_equal(uhmm_madvise(f->mm, f->p, PAGE_SIZE, MADV_DONTNEED), 0);
	mmap_read_lock(f->mm);
	assert_int_equal(hmm_range_fault(&range), -EBUSY);
	mmap_read_unlock(f->mm);
	range.notifier_seq = mmu_interval_read_begin(&f->m.sub);
	mmap_read_lock(f->mm);
	assert_int_equal(hmm_range_fault(&range), 0);
	mmap_read_unlock(f->mm);
}

/* Shared file and shmem pages mirror like any others. */
static void test_shared_mappings(void **state)
{
	struct fixture *f = *state;
	char *s = uhmm_mmap(f->mm, f->p + NPAGES * PAGE_SIZE, PAGE_SIZE,
			    PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	struct mirror m2 = { .lock = PTHREAD_MUTEX_INITIALIZER };
	unsigned long pfn = 0;
	struct hmm_range range = {
		.notifier = &m2.sub,
		.start = (unsigned long)s,
		.end = (unsigned long)s + PAGE_SIZE,
		.hmm_pfns = &pfn,
		.default_flags = HMM_PFN_REQ_FAULT,
	};

	assert_ptr_not_equal(s, MAP_FAILED);
	assert_int_equal(mmu_interval_notifier_insert(&m2.sub, f->mm,
			 (unsigned long)s, PAGE_SIZE, &mirror_ops), 0);
	range.notifier_seq = mmu_interval_read_begin(&m2.sub);
	mmap_read_lock(f->mm);
	assert_int_equal(hmm_range_fault(&range), 0);
	mmap_read_unlock(f->mm);
	/* shmem is mapped writable from the first fault */
	assert_true(pfn & HMM_PFN_VALID);
	assert_true(pfn & HMM_PFN_WRITE);
	mmu_interval_notifier_remove(&m2.sub);
}

/*
 * The driver pattern under fire: a device thread mirrors the range with
 * read_begin / hmm_range_fault / lock / read_retry, and checks, under its
 * lock, that what it accepted is what the CPU page table holds; other
 * threads write, drop and unmap pages meanwhile.
 */
struct race {
	struct fixture *f;
	atomic_int stop;
	atomic_long accepted, retries, stale;
};

static void *device_thread(void *arg)
{
	struct race *r = arg;
	struct fixture *f = r->f;
	unsigned long pfns[NPAGES];

	while (!atomic_load(&r->stop)) {
		struct hmm_range range = {
			.notifier = &f->m.sub,
			.start = (unsigned long)f->p,
			.end = (unsigned long)f->p + NPAGES * PAGE_SIZE,
			.hmm_pfns = pfns,
		};
		int ret;

		range.notifier_seq = mmu_interval_read_begin(&f->m.sub);
		mmap_read_lock(f->mm);
		ret = hmm_range_fault(&range);
		if (ret) {
			mmap_read_unlock(f->mm);
			atomic_fetch_add(&r->retries, 1);
			continue;
		}
		pthread_mutex_lock(&f->m.lock);
		if (mmu_interval_read_retry(&f->m.sub, range.notifier_seq)) {
			pthread_mutex_unlock(&f->m.lock);
			mmap_read_unlock(f->mm);
			atomic_fetch_add(&r->retries, 1);
			continue;
		}
		/* Accepted: it must match the page tables right now, since
		 * any change would have had to take this lock first. */
		for (int i = 0; i < NPAGES; i++) {
			pmd_t *pmd = pte_table_lookup(f->mm, range.start +
						      i * PAGE_SIZE);
			pte_t pte = { 0 };

			if (pmd)
				pte = ptep_get(pte_offset(pmd, range.start +
							  i * PAGE_SIZE));
			/* New mappings need no notice; a removed or
			 * changed or downgraded one must have been
			 * invalidated. */
			if (!(pfns[i] & HMM_PFN_VALID))
				continue;
			if (!pte_present(pte) ||
			    hmm_pfn_to_pfn(pfns[i]) != pte_pfn(pte) ||
			    ((pfns[i] & HMM_PFN_WRITE) && !pte_write(pte)))
				atomic_fetch_add(&r->stale, 1);
		}
		atomic_fetch_add(&r->accepted, 1);
		pthread_mutex_unlock(&f->m.lock);
		mmap_read_unlock(f->mm);
	}
	return NULL;
}

static void test_driver_pattern_race(void **state)
{
	struct fixture *f = *state;
	struct race r = { .f = f };
	unsigned int seed = 1;
	pthread_t dev;

	pthread_create(&dev, NULL, device_thread, &r);
	for (int i = 0; i < 20000; i++) {
		unsigned int page = (seed = seed * 1103515245u + 12345u) >> 16;
		char *a = f->p + (page % NPAGES) * PAGE_SIZE;

		switch ((seed >> 8) % 3) {
		case 0:
			cpu_access(f->mm, a, "w", 1, 1);
			break;
		case 1:
			uhmm_madvise(f->mm, a, PAGE_SIZE, MADV_DONTNEED);
			break;
		case 2:
			uhmm_munmap(f->mm, a, PAGE_SIZE);
			uhmm_mmap(f->mm, a, PAGE_SIZE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				  -1, 0);
			break;
		}
	}
	atomic_store(&r.stop, 1);
	pthread_join(dev, NULL);
	assert_int_equal(atomic_load(&r.stale), 0);
	assert_true(atomic_load(&r.accepted) > 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_snapshot),
		T(test_fault_read_write),
		T(test_per_page_requests),
		T(test_errors),
		T(test_write_breaks_cow),
		T(test_ebusy),
		T(test_shared_mappings),
		T(test_driver_pattern_race),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
