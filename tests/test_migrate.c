// SPDX-License-Identifier: MIT
/*
 * migrate_vma_* and device-private memory, driven by a small device in
 * the test: anonymous pages move to device memory and back (on a CPU
 * touch through migrate_to_ram, or on request), holes are filled, shared
 * and pinned pages are handled, and every page comes back at the end.
 */
#include "test_util.h"
#include "mm/debug.h"
#include "mm/mm_internal.h"

#define NPAGES 16

/* The device: 512 pages of private memory, contents kept in malloc'd
 * buffers (zone_device_data). */
static struct device {
	struct dev_pagemap pgmap;
	pthread_mutex_t lock;
	struct page *free[512];		/* lock */
	unsigned int nr_free;		/* lock */
	unsigned long migrate_to_ram_calls;	/* lock */
} dev;

static int other_owner;

static void dev_page_free(struct page *page)
{
	pthread_mutex_lock(&dev.lock);
	dev.free[dev.nr_free++] = page;
	pthread_mutex_unlock(&dev.lock);
}

static struct page *dev_alloc(void)
{
	struct page *page = NULL;

	pthread_mutex_lock(&dev.lock);
	if (dev.nr_free)
		page = dev.free[--dev.nr_free];
	pthread_mutex_unlock(&dev.lock);
	if (page)
		zone_device_page_init(page);
	return page;
}

static char *dev_data(struct page *page)
{
	return page->zone_device_data;
}

/* The device's copy of spage, or of a hole (NULL: zeroes). */
static void dev_copy_in(struct page *dpage, struct page *spage)
{
	if (spage)
		memcpy(dev_data(dpage), page_address(spage), PAGE_SIZE);
	else
		memset(dev_data(dpage), 0, PAGE_SIZE);
}

/* Move [start, end) of vma between system RAM and the device. */
static unsigned long dev_migrate(struct vm_area_struct *vma,
				 unsigned long start, unsigned long end,
				 bool to_device, struct page *fault_page)
{
	unsigned long src[NPAGES], dst[NPAGES], moved = 0;
	struct migrate_vma m = {
		.vma = vma, .src = src, .dst = dst,
		.start = start, .end = end,
		.pgmap_owner = &dev,
		.flags = to_device ? MIGRATE_VMA_SELECT_SYSTEM :
				     MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = fault_page,
	};

	assert_int_equal(migrate_vma_setup(&m), 0);
	for (unsigned long i = 0; i < m.npages; i++) {
		struct page *spage = migrate_pfn_to_page(src[i]);
		struct page *dpage;

		dst[i] = 0;
		if (!(src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		dpage = to_device ? dev_alloc() : alloc_page();
		if (!dpage)
			continue;
		if (!to_device)
			lock_page(dpage);
		if (to_device) {
			dev_copy_in(dpage, spage);
		} else {
			memcpy(page_address(dpage), dev_data(spage), PAGE_SIZE);
		}
		dst[i] = migrate_pfn(page_to_pfn(dpage));
		moved++;
	}
	migrate_vma_pages(&m);
	migrate_vma_finalize(&m);
	return moved;
}

static vm_fault_t dev_migrate_to_ram(struct vm_fault *vmf)
{
	pthread_mutex_lock(&dev.lock);
	dev.migrate_to_ram_calls++;
	pthread_mutex_unlock(&dev.lock);
	dev_migrate(vmf->vma, vmf->address, vmf->address + PAGE_SIZE, false,
		    vmf->page);
	return 0;
}

static const struct dev_pagemap_ops dev_ops = {
	.page_free = dev_page_free,
	.migrate_to_ram = dev_migrate_to_ram,
};

static int group_setup(void **state)
{
	dev.pgmap.type = MEMORY_DEVICE_PRIVATE;
	dev.pgmap.ops = &dev_ops;
	dev.pgmap.owner = &dev;
	pthread_mutex_init(&dev.lock, NULL);
	if (request_free_mem_region(PMD_SIZE, &dev.pgmap.range) ||
	    memremap_pages(&dev.pgmap))
		return -1;
	for (unsigned long i = 0; i < dev.pgmap.nr_pages; i++) {
		dev.pgmap.pages[i].zone_device_data = malloc(PAGE_SIZE);
		dev.free[dev.nr_free++] = &dev.pgmap.pages[i];
	}
	return 0;
}

static int group_teardown(void **state)
{
	for (unsigned long i = 0; i < dev.pgmap.nr_pages; i++)
		free(dev.pgmap.pages[i].zone_device_data);
	memunmap_pages(&dev.pgmap);
	return 0;
}

struct fixture {
	unsigned long free_before;
	struct mm_struct *mm;
	char *p;
	struct vm_area_struct *vma;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->free_before = free_pages_now();
	f->mm = uhmm_mm_create();
	f->p = uhmm_mmap(f->mm, NULL, NPAGES * PAGE_SIZE,
			 PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	f->vma = vma_lookup(f->mm, (unsigned long)f->p);
	*state = f;
	return f->p == MAP_FAILED;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	uhmm_mm_exit(f->mm);
	/* Every device page is back with the driver, every RAM page free. */
	assert_int_equal(dev.nr_free, dev.pgmap.nr_pages);
	assert_int_equal(atomic_load(&dev.pgmap.pages_in_use), 0);
	assert_int_equal(free_pages_now(), f->free_before);
	free(f);
	return 0;
}

static void fill(struct fixture *f, struct mm_struct *mm, int seed)
{
	for (int i = 0; i < NPAGES; i++) {
		int v = seed + i;

		assert_int_equal(cpu_access(mm, f->p + i * PAGE_SIZE, &v,
					     sizeof(v), 1), sizeof(v));
	}
}

static void check(struct fixture *f, struct mm_struct *mm, int seed)
{
	for (int i = 0; i < NPAGES; i++) {
		int v = -1;

		assert_int_equal(cpu_access(mm, f->p + i * PAGE_SIZE, &v,
					     sizeof(v), 0), sizeof(v));
		assert_int_equal(v, seed + i);
	}
}

static bool set_seq(struct mmu_interval_notifier *sub,
		    const struct mmu_notifier_range *range,
		    unsigned long cur_seq)
{
	mmu_interval_set_seq(sub, cur_seq);
	return true;
}

static const struct mmu_interval_notifier_ops set_seq_ops = {
	.invalidate = set_seq,
};

static int snapshot(struct fixture *f, struct mm_struct *mm, void *owner,
		    unsigned long *pfns)
{
	struct mmu_interval_notifier sub;
	struct hmm_range range = {
		.notifier = &sub,
		.start = (unsigned long)f->p,
		.end = (unsigned long)f->p + NPAGES * PAGE_SIZE,
		.hmm_pfns = pfns,
		.dev_private_owner = owner,
	};
	int ret;

	assert_int_equal(mmu_interval_notifier_insert(&sub, mm, range.start,
			 NPAGES * PAGE_SIZE, &set_seq_ops), 0);
	range.notifier_seq = mmu_interval_read_begin(&sub);
	mmap_read_lock(mm);
	ret = hmm_range_fault(&range);
	mmap_read_unlock(mm);
	mmu_interval_notifier_remove(&sub);
	return ret;
}

static unsigned long migrate_range(struct fixture *f, bool to_device)
{
	unsigned long n;

	mmap_read_lock(f->mm);
	n = dev_migrate(f->vma, (unsigned long)f->p,
			(unsigned long)f->p + NPAGES * PAGE_SIZE, to_device,
			NULL);
	mmap_read_unlock(f->mm);
	return n;
}

/* Written pages move to the device, RAM is freed, the owner sees its
 * pages, others see nothing; a CPU read brings each page back. */
static void test_migrate_and_touch(void **state)
{
	struct fixture *f = *state;
	unsigned long pfns[NPAGES], touched;

	fill(f, f->mm, 100);
	touched = free_pages_now();
	assert_int_equal(migrate_range(f, true), NPAGES);
	assert_int_equal(free_pages_now(), touched + NPAGES);
	assert_int_equal(dev.nr_free, dev.pgmap.nr_pages - NPAGES);

	assert_int_equal(snapshot(f, f->mm, &dev, pfns), 0);
	for (int i = 0; i < NPAGES; i++) {
		struct page *page = hmm_pfn_to_page(pfns[i]);

		assert_true(pfns[i] & HMM_PFN_VALID);
		assert_true(pfns[i] & HMM_PFN_WRITE);
		assert_true(is_device_private_page(page));
		assert_int_equal(*(int *)dev_data(page), 100 + i);
	}
	assert_int_equal(snapshot(f, f->mm, &other_owner, pfns), 0);
	for (int i = 0; i < NPAGES; i++)
		assert_int_equal(pfns[i], 0);

	dev.migrate_to_ram_calls = 0;
	check(f, f->mm, 100);
	assert_int_equal(dev.migrate_to_ram_calls, NPAGES);
	assert_int_equal(dev.nr_free, dev.pgmap.nr_pages);
	assert_int_equal(free_pages_now(), touched);
	assert_int_equal(mm_verify_mapcounts(&f->mm, 1), 0);
}

/* Untouched memory migrates as zero-filled device pages. */
static void test_migrate_holes(void **state)
{
	struct fixture *f = *state;
	char c = 1;

	assert_int_equal(cpu_access(f->mm, f->p + 3 * PAGE_SIZE, &c, 1, 0), 1);
	assert_int_equal(migrate_range(f, true), NPAGES);
	assert_int_equal(dev.nr_free, dev.pgmap.nr_pages - NPAGES);
	for (int i = 0; i < NPAGES; i++) {
		int v = -1;

		assert_int_equal(cpu_access(f->mm, f->p + i * PAGE_SIZE, &v,
					     sizeof(v), 0), sizeof(v));
		assert_int_equal(v, 0);
	}
}

/* A fault with REQ_FAULT from another device migrates pages back. */
static void test_hmm_fault_migrates_back(void **state)
{
	struct fixture *f = *state;
	struct mmu_interval_notifier sub;
	unsigned long pfns[NPAGES];
	struct hmm_range range = {
		.notifier = &sub,
		.start = (unsigned long)f->p,
		.end = (unsigned long)f->p + NPAGES * PAGE_SIZE,
		.hmm_pfns = pfns,
		.default_flags = HMM_PFN_REQ_FAULT,
		.dev_private_owner = &other_owner,
	};
	int ret;

	fill(f, f->mm, 7);
	assert_int_equal(migrate_range(f, true), NPAGES);
	assert_int_equal(mmu_interval_notifier_insert(&sub, f->mm, range.start,
			 NPAGES * PAGE_SIZE, &set_seq_ops), 0);
	do {
		range.notifier_seq = mmu_interval_read_begin(&sub);
		mmap_read_lock(f->mm);
		ret = hmm_range_fault(&range);
		mmap_read_unlock(f->mm);
	} while (ret == -EBUSY);
	assert_int_equal(ret, 0);
	for (int i = 0; i < NPAGES; i++) {
		assert_true(pfns[i] & HMM_PFN_VALID);
		assert_false(is_zone_device_page(hmm_pfn_to_page(pfns[i])));
		assert_int_equal(*(int *)page_address(hmm_pfn_to_page(pfns[i])),
				 7 + i);
	}
	mmu_interval_notifier_remove(&sub);
	assert_int_equal(dev.nr_free, dev.pgmap.nr_pages);
}

/* Device pages of a forked mm: shared read-only, each side's touch
 * brings back its own copy; exit and munmap free them. */
static void test_fork_device_pages(void **state)
{
	struct fixture *f = *state;
	struct mm_struct *child;
	unsigned long pfns[NPAGES];

	fill(f, f->mm, 50);
	assert_int_equal(migrate_range(f, true), NPAGES);
	child = uhmm_fork(f->mm);
	assert_non_null(child);
	assert_int_equal(snapshot(f, f->mm, &dev, pfns), 0);
	assert_true(pfns[0] & HMM_PFN_VALID);
	assert_false(pfns[0] & HMM_PFN_WRITE);		/* COW */
	assert_int_equal(page_mapcount(hmm_pfn_to_page(pfns[0])), 2);
	{
		struct mm_struct *mms[2] = { f->mm, child };

		assert_int_equal(mm_verify_mapcounts(mms, 2), 0);
	}
	check(f, child, 50);			/* child copies back */
	fill(f, child, 60);
	assert_int_equal(snapshot(f, f->mm, &dev, pfns), 0);
	assert_int_equal(page_mapcount(hmm_pfn_to_page(pfns[0])), 1);
	check(f, f->mm, 50);
	uhmm_mm_exit(child);
	fill(f, f->mm, 70);
	assert_int_equal(migrate_range(f, true), NPAGES);
	assert_int_equal(uhmm_munmap(f->mm, f->p, NPAGES * PAGE_SIZE), 0);
	assert_int_equal(dev.nr_free, dev.pgmap.nr_pages);
}

/* Setup takes nothing it cannot move: a pinned page stays. */
static void test_pinned_page_stays(void **state)
{
	struct fixture *f = *state;
	unsigned long pfns[NPAGES];
	struct page *pinned;

	fill(f, f->mm, 1);
	assert_int_equal(snapshot(f, f->mm, NULL, pfns), 0);
	pinned = hmm_pfn_to_page(pfns[5]);
	get_page(pinned);
	assert_int_equal(migrate_range(f, true), NPAGES - 1);
	assert_int_equal(snapshot(f, f->mm, &dev, pfns), 0);
	assert_ptr_equal(hmm_pfn_to_page(pfns[5]), pinned);
	assert_true(is_device_private_page(hmm_pfn_to_page(pfns[4])));
	put_page(pinned);
	check(f, f->mm, 1);
}

/* The collection fires MMU_NOTIFY_MIGRATE with the initiator as owner. */
static unsigned int migrate_events;
static void *migrate_owner;

static bool note_event(struct mmu_interval_notifier *sub,
		       const struct mmu_notifier_range *range,
		       unsigned long cur_seq)
{
	mmu_interval_set_seq(sub, cur_seq);
	if (range->event == MMU_NOTIFY_MIGRATE) {
		migrate_events++;
		migrate_owner = range->owner;
	}
	return true;
}

static void test_migrate_event(void **state)
{
	struct fixture *f = *state;
	static const struct mmu_interval_notifier_ops ops = {
		.invalidate = note_event,
	};
	struct mmu_interval_notifier sub;

	fill(f, f->mm, 3);
	assert_int_equal(mmu_interval_notifier_insert(&sub, f->mm,
			 (unsigned long)f->p, NPAGES * PAGE_SIZE, &ops), 0);
	migrate_events = 0;
	assert_int_equal(migrate_range(f, true), NPAGES);
	assert_int_equal(migrate_events, 1);
	assert_ptr_equal(migrate_owner, &dev);
	mmu_interval_notifier_remove(&sub);
	check(f, f->mm, 3);
}

/*
 * Every way a slot can end, in one migration, with the counts each page
 * is left with: a page that moves (its device page has one reference,
 * its PTE's), a page the driver declines (restored: one reference, one
 * mapping), a page zapped between migrate_vma_pages() and finalize (gone,
 * and so is the device page it was to get), a hole that is filled.
 */
static void test_finalize_outcomes(void **state)
{
	struct fixture *f = *state;
	unsigned long src[NPAGES], dst[NPAGES], start = (unsigned long)f->p;
	struct migrate_vma m = {
		.vma = f->vma, .src = src, .dst = dst,
		.start = start, .end = start + NPAGES * PAGE_SIZE,
		.pgmap_owner = &dev, .flags = MIGRATE_VMA_SELECT_SYSTEM,
	};
	enum { MOVED = 0, DECLINED = 1, ZAPPED = 2, HOLE = 3 };
	struct page *declined, *moved, *filled;
	int v;

	fill(f, f->mm, 5);
	assert_int_equal(uhmm_madvise(f->mm, f->p + HOLE * PAGE_SIZE,
				      PAGE_SIZE, MADV_DONTNEED), 0);
	mmap_read_lock(f->mm);
	assert_int_equal(migrate_vma_setup(&m), 0);
	assert_int_equal(m.cpages, NPAGES);
	assert_null(migrate_pfn_to_page(src[HOLE]));
	declined = migrate_pfn_to_page(src[DECLINED]);
	for (unsigned long i = 0; i < NPAGES; i++) {
		struct page *spage = migrate_pfn_to_page(src[i]);
		struct page *dpage;

		dst[i] = 0;
		if (i == DECLINED)
			continue;
		dpage = dev_alloc();
		assert_non_null(dpage);
		dev_copy_in(dpage, spage);
		dst[i] = migrate_pfn(page_to_pfn(dpage));
	}
	migrate_vma_pages(&m);
	assert_int_equal(uhmm_madvise(f->mm, f->p + ZAPPED * PAGE_SIZE,
				      PAGE_SIZE, MADV_DONTNEED), 0);
	/* The source keeps the migration's reference, the filled hole
	 * its PTE's and the driver's. */
	assert_int_equal(page_ref_count(declined), 1);
	filled = migrate_pfn_to_page(dst[HOLE]);
	assert_int_equal(page_ref_count(filled), 2);
	migrate_vma_finalize(&m);
	mmap_read_unlock(f->mm);

	moved = migrate_pfn_to_page(dst[MOVED]);
	assert_int_equal(page_ref_count(moved), 1);
	assert_int_equal(page_mapcount(moved), 1);
	assert_int_equal(page_ref_count(filled), 1);
	assert_int_equal(page_mapcount(filled), 1);
	assert_int_equal(page_ref_count(declined), 1);
	assert_int_equal(page_mapcount(declined), 1);
	assert_false(PageLocked(declined));
	assert_false(PageLocked(moved));
	assert_int_equal(pte_pfn(pte_at(f->mm, f->p + DECLINED * PAGE_SIZE)),
			 page_to_pfn(declined));
	assert_true(pte_none(pte_at(f->mm, f->p + ZAPPED * PAGE_SIZE)));
	assert_int_equal(atomic_load(&f->mm->rss_pages), NPAGES - 1);
	/* The device page the zapped slot was to get is the driver's. */
	assert_int_equal(atomic_load(&dev.pgmap.pages_in_use), NPAGES - 2);

	for (int i = 0; i < NPAGES; i++) {
		v = -1;
		assert_int_equal(cpu_access(f->mm, f->p + i * PAGE_SIZE, &v,
					    sizeof(v), 0), sizeof(v));
		assert_int_equal(v, i == ZAPPED || i == HOLE ? 0 : 5 + i);
	}
}

static void test_setup_errors(void **state)
{
	struct fixture *f = *state;
	unsigned long src[NPAGES], dst[NPAGES];
	struct migrate_vma m = { .vma = f->vma, .src = src, .dst = dst,
				 .start = (unsigned long)f->p,
				 .end = (unsigned long)f->p,
				 .flags = MIGRATE_VMA_SELECT_SYSTEM };

	assert_int_equal(migrate_vma_setup(&m), -EINVAL);
	m.end = (unsigned long)f->p + (NPAGES + 1) * PAGE_SIZE;
	assert_int_equal(migrate_vma_setup(&m), -EINVAL);
	m.end = (unsigned long)f->p + PAGE_SIZE;
	m.fault_page = alloc_page();
	assert_int_equal(migrate_vma_setup(&m), -EINVAL);
	put_page(m.fault_page);
	m.fault_page = NULL;
	m.src = NULL;
	assert_int_equal(migrate_vma_setup(&m), -EINVAL);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_migrate_and_touch),
		T(test_migrate_holes),
		T(test_hmm_fault_migrates_back),
		T(test_fork_device_pages),
		T(test_pinned_page_stays),
		T(test_migrate_event),
		T(test_finalize_outcomes),
		T(test_setup_errors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
