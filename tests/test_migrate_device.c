// SPDX-License-Identifier: MIT
/*
 * migrate_device_range/pages/finalize: a driver evicts every page of a
 * pagemap by pfn, wherever it is mapped (one mm, a forked pair, present
 * device-coherent mappings), while pinned pages stay, mappings vanish or
 * lose write permission between the steps, and other threads fault,
 * unmap, fork and exit. Each test
 * ends with every device page back with its driver, the pagemap torn
 * down and every page of system RAM free again.
 */
#include <pthread.h>

#include "test_util.h"
#include "mm/debug.h"
#include "mm/mm_internal.h"

#define DEV_PAGES	(PMD_SIZE / PAGE_SIZE)	/* one pagemap */
#define NPAGES		16

/*
 * The device: one pagemap of private or coherent memory. Private
 * contents live in a malloc'd shadow (zone_device_data); coherent ones
 * at page_address().
 */
struct device {
	struct dev_pagemap pgmap;
	pthread_mutex_t lock;
	struct page *free[DEV_PAGES];		/* lock */
	unsigned long nr_free;			/* lock */
	char *shadow;				/* private: the contents */
};

static struct device *page_device(struct page *page)
{
	return container_of(page->pgmap, struct device, pgmap);
}

static char *dev_data(struct page *page)
{
	if (is_device_private_page(page))
		return page->zone_device_data;
	return page_address(page);
}

static unsigned long dev_nr_free(struct device *d)
{
	unsigned long n;

	pthread_mutex_lock(&d->lock);
	n = d->nr_free;
	pthread_mutex_unlock(&d->lock);
	return n;
}

static void dev_page_free(struct page *page)
{
	struct device *d = page_device(page);

	pthread_mutex_lock(&d->lock);
	d->free[d->nr_free++] = page;
	pthread_mutex_unlock(&d->lock);
}

static struct page *dev_alloc(struct device *d)
{
	struct page *page = NULL;

	pthread_mutex_lock(&d->lock);
	if (d->nr_free)
		page = d->free[--d->nr_free];
	pthread_mutex_unlock(&d->lock);
	if (page)
		zone_device_page_init(page);
	return page;
}

/* Move [start, end) of vma between RAM and d (mmap_read_lock held). */
static unsigned long dev_migrate(struct device *d, struct vm_area_struct *vma,
				 unsigned long start, unsigned long end,
				 bool to_device, struct page *fault_page)
{
	unsigned long src[NPAGES * 4], dst[NPAGES * 4], moved = 0;
	struct migrate_vma m = {
		.vma = vma, .src = src, .dst = dst,
		.start = start, .end = end,
		.pgmap_owner = d,
		.flags = !to_device ? MIGRATE_VMA_SELECT_DEVICE_PRIVATE :
			 MIGRATE_VMA_SELECT_SYSTEM,
		.fault_page = fault_page,
	};

	if ((end - start) / PAGE_SIZE > ARRAY_SIZE(src) ||
	    migrate_vma_setup(&m))
		return 0;
	for (unsigned long i = 0; i < m.npages; i++) {
		struct page *spage = migrate_pfn_to_page(src[i]);
		struct page *dpage;

		dst[i] = 0;
		if (!(src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		dpage = to_device ? dev_alloc(d) : alloc_page();
		if (!dpage)
			continue;
		if (!to_device)
			lock_page(dpage);
		if (to_device && spage)
			memcpy(dev_data(dpage), page_address(spage), PAGE_SIZE);
		else if (to_device)
			memset(dev_data(dpage), 0, PAGE_SIZE);
		else
			memcpy(page_address(dpage), dev_data(spage), PAGE_SIZE);
		dst[i] = migrate_pfn(page_to_pfn(dpage));
		moved++;
	}
	migrate_vma_pages(&m);
	migrate_vma_finalize(&m);
	return moved;
}

static vm_fault_t dev_migrate_to_ram(struct vm_fault *vmf)
{
	dev_migrate(page_device(vmf->page), vmf->vma, vmf->address,
		    vmf->address + PAGE_SIZE, false, vmf->page);
	return 0;
}

static const struct dev_pagemap_ops dev_ops = {
	.page_free = dev_page_free,
	.migrate_to_ram = dev_migrate_to_ram,
};

/* ---- eviction, the way a driver does it (lib/test_hmm.c) ---- */

struct evict_stats {
	unsigned long moved;	/* MIGRATE_PFN_MIGRATE, and a copy made */
	unsigned long stayed;	/* taken but not movable (pinned) */
	unsigned long writable;	/* MIGRATE_PFN_WRITE */
};

/* Copy each page migrate_device_range() took to a new RAM page. */
static void dev_evict_copy(unsigned long *src, unsigned long *dst,
			   struct evict_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned long i = 0; i < DEV_PAGES; i++) {
		struct page *spage = migrate_pfn_to_page(src[i]);
		struct page *dpage;

		dst[i] = 0;
		if (!spage)
			continue;
		if (src[i] & MIGRATE_PFN_WRITE)
			st->writable++;
		if (!(src[i] & MIGRATE_PFN_MIGRATE)) {
			st->stayed++;
			continue;
		}
		dpage = alloc_page();
		if (!dpage)
			continue;
		lock_page(dpage);
		memcpy(page_address(dpage), dev_data(spage), PAGE_SIZE);
		dst[i] = migrate_pfn(page_to_pfn(dpage));
		st->moved++;
	}
}

static int dev_evict(struct device *d, unsigned long *src,
		     struct evict_stats *st)
{
	unsigned long dst[DEV_PAGES];
	int ret;

	ret = migrate_device_range(src, d->pgmap.pfn_first, DEV_PAGES);
	if (ret)
		return ret;
	dev_evict_copy(src, dst, st);
	migrate_device_pages(src, dst, DEV_PAGES);
	migrate_device_finalize(src, dst, DEV_PAGES);
	return 0;
}

/* Evict until nothing is left in use (bounded). */
static long dev_evict_all(struct device *d)
{
	unsigned long src[DEV_PAGES];
	struct evict_stats st;

	for (int tries = 0; tries < 100; tries++) {
		if (!atomic_load(&d->pgmap.pages_in_use))
			return 0;
		if (dev_evict(d, src, &st))
			return -1;
	}
	return atomic_load(&d->pgmap.pages_in_use);
}

static struct device *dev_create(enum memory_type type)
{
	struct device *d = calloc(1, sizeof(*d));
	void *vaddr;

	d->pgmap.type = type;
	d->pgmap.ops = &dev_ops;
	d->pgmap.owner = d;
	pthread_mutex_init(&d->lock, NULL);
	if (request_free_mem_region(PMD_SIZE, &d->pgmap.range))
		return NULL;
	vaddr = memremap_pages(&d->pgmap);
	if (IS_ERR(vaddr))
		return NULL;
	if (type == MEMORY_DEVICE_PRIVATE)
		d->shadow = malloc(DEV_PAGES * PAGE_SIZE);
	for (unsigned long i = 0; i < DEV_PAGES; i++) {
		if (d->shadow)
			d->pgmap.pages[i].zone_device_data =
				d->shadow + i * PAGE_SIZE;
		d->free[d->nr_free++] = &d->pgmap.pages[i];
	}
	return d;
}

/* ---- fixture: one device, one mm with NPAGES of anonymous memory ---- */

struct fixture {
	unsigned long free_before;
	struct device *dev;
	struct mm_struct *mm;
	char *p;
	struct vm_area_struct *vma;
	/* More mms of a test, ended by teardown if the test failed first. */
	struct mm_struct *child, *other;
};

static int setup_type(void **state, enum memory_type type)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->free_before = free_pages_now();
	f->dev = dev_create(type);
	f->mm = uhmm_mm_create();
	f->p = uhmm_mmap(f->mm, NULL, NPAGES * PAGE_SIZE,
			 PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	f->vma = vma_lookup(f->mm, (unsigned long)f->p);
	*state = f;
	return !f->dev || f->p == MAP_FAILED;
}

static int setup_private(void **state)
{
	return setup_type(state, MEMORY_DEVICE_PRIVATE);
}

static int setup_coherent(void **state)
{
	return setup_type(state, MEMORY_DEVICE_COHERENT);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct device *d = f->dev;
	long left = dev_evict_all(d);

	uhmm_mm_exit(f->other);
	uhmm_mm_exit(f->child);
	uhmm_mm_exit(f->mm);
	/* Only a pagemap with nothing in use can go (memunmap_pages()
	 * would wait for ever); a failed test leaks it. */
	assert_int_equal(left, 0);
	assert_int_equal(dev_nr_free(d), DEV_PAGES);
	memunmap_pages(&d->pgmap);
	free(d->shadow);
	free(d);
	/* Every RAM page (data, page tables) is free again. */
	assert_int_equal(free_pages_now(), f->free_before);
	free(f);
	return 0;
}

/* ---- helpers ---- */

static void fill_page(struct mm_struct *mm, char *addr, int v)
{
	assert_int_equal(cpu_access(mm, addr, &v, sizeof(v), 1), sizeof(v));
	assert_int_equal(cpu_access(mm, addr + PAGE_SIZE - sizeof(v), &v,
				     sizeof(v), 1), sizeof(v));
}

static void check_page(struct mm_struct *mm, char *addr, int want)
{
	int v = -1, w = -1;

	assert_int_equal(cpu_access(mm, addr, &v, sizeof(v), 0), sizeof(v));
	assert_int_equal(cpu_access(mm, addr + PAGE_SIZE - sizeof(w), &w,
				     sizeof(w), 0), sizeof(w));
	assert_int_equal(v, want);
	assert_int_equal(w, want);
}

static void fill(struct fixture *f, struct mm_struct *mm, int seed)
{
	for (int i = 0; i < NPAGES; i++)
		fill_page(mm, f->p + i * PAGE_SIZE, seed + i);
}

static void check(struct fixture *f, struct mm_struct *mm, int seed)
{
	for (int i = 0; i < NPAGES; i++)
		check_page(mm, f->p + i * PAGE_SIZE, seed + i);
}

static unsigned long migrate_to_device(struct fixture *f, struct mm_struct *mm)
{
	unsigned long n;

	mmap_read_lock(mm);
	n = dev_migrate(f->dev, vma_lookup(mm, (unsigned long)f->p),
			(unsigned long)f->p,
			(unsigned long)f->p + NPAGES * PAGE_SIZE, true, NULL);
	mmap_read_unlock(mm);
	return n;
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

/* What the CPU page tables of mm map at f->p (no faults): the device's
 * own pages are reported, other non-present entries as 0. */
static void snapshot(struct fixture *f, struct mm_struct *mm,
		     unsigned long *pfns)
{
	struct mmu_interval_notifier sub;
	struct hmm_range range = {
		.notifier = &sub,
		.start = (unsigned long)f->p,
		.end = (unsigned long)f->p + NPAGES * PAGE_SIZE,
		.hmm_pfns = pfns,
		.dev_private_owner = f->dev,
	};
	int ret;

	assert_int_equal(mmu_interval_notifier_insert(&sub, mm, range.start,
			 NPAGES * PAGE_SIZE, &set_seq_ops), 0);
	do {
		range.notifier_seq = mmu_interval_read_begin(&sub);
		mmap_read_lock(mm);
		ret = hmm_range_fault(&range);
		mmap_read_unlock(mm);
	} while (ret == -EBUSY);
	mmu_interval_notifier_remove(&sub);
	assert_int_equal(ret, 0);
}

/* Every page of f->p in mm is a present PTE of system RAM. */
static void assert_in_ram(struct fixture *f, struct mm_struct *mm,
			  bool writable)
{
	unsigned long pfns[NPAGES];

	snapshot(f, mm, pfns);
	for (int i = 0; i < NPAGES; i++) {
		assert_true(pfns[i] & HMM_PFN_VALID);
		assert_false(is_zone_device_page(hmm_pfn_to_page(pfns[i])));
		assert_int_equal(!!(pfns[i] & HMM_PFN_WRITE), writable);
	}
}

/* Every page of f->p in mm is on the device. */
static void assert_on_device(struct fixture *f, struct mm_struct *mm)
{
	unsigned long pfns[NPAGES];

	snapshot(f, mm, pfns);
	for (int i = 0; i < NPAGES; i++) {
		assert_true(pfns[i] & HMM_PFN_VALID);
		assert_ptr_equal(hmm_pfn_to_page(pfns[i])->pgmap,
				 &f->dev->pgmap);
	}
}

static void assert_mapcounts(struct mm_struct *a, struct mm_struct *b)
{
	struct mm_struct *mms[2] = { a, b };

	assert_int_equal(mm_verify_mapcounts(mms, b ? 2 : 1), 0);
}

/* ---- tests ---- */

/* Every device-private page of one mm comes back: data in RAM, PTEs
 * present and writable as before, the pagemap empty. */
static void test_evict_private(void **state)
{
	struct fixture *f = *state;
	unsigned long src[DEV_PAGES];
	struct evict_stats st;
	unsigned long ram;

	fill(f, f->mm, 100);
	ram = free_pages_now();
	assert_int_equal(migrate_to_device(f, f->mm), NPAGES);
	assert_on_device(f, f->mm);
	assert_int_equal(free_pages_now(), ram + NPAGES);

	assert_int_equal(dev_evict(f->dev, src, &st), 0);
	assert_int_equal(st.moved, NPAGES);
	assert_int_equal(st.stayed, 0);
	assert_int_equal(st.writable, NPAGES);
	assert_int_equal(atomic_load(&f->dev->pgmap.pages_in_use), 0);
	assert_int_equal(dev_nr_free(f->dev), DEV_PAGES);
	assert_int_equal(free_pages_now(), ram);
	assert_in_ram(f, f->mm, true);
	check(f, f->mm, 100);
	assert_mapcounts(f->mm, NULL);
	/* Nothing left: every pfn is free. */
	assert_int_equal(dev_evict(f->dev, src, &st), 0);
	assert_int_equal(st.moved + st.stayed, 0);
}

/* Free pfns give src 0; pages in use give migrate_pfn(pfn) | MIGRATE;
 * bad arguments give -EINVAL. */
static void test_range_src_and_errors(void **state)
{
	struct fixture *f = *state;
	struct dev_pagemap *pgmap = &f->dev->pgmap;
	unsigned long src[DEV_PAGES], dst[DEV_PAGES], pfn, busy = 0;
	struct evict_stats st;

	assert_int_equal(migrate_device_range(src, pgmap->pfn_first,
					      DEV_PAGES), 0);
	for (unsigned long i = 0; i < DEV_PAGES; i++)
		assert_int_equal(src[i], 0);
	migrate_device_pages(src, src, DEV_PAGES);
	migrate_device_finalize(src, src, DEV_PAGES);

	fill(f, f->mm, 1);
	assert_int_equal(migrate_to_device(f, f->mm), NPAGES);
	assert_int_equal(migrate_device_range(src, pgmap->pfn_first,
					      DEV_PAGES), 0);
	for (unsigned long i = 0; i < DEV_PAGES; i++) {
		pfn = pgmap->pfn_first + i;
		if (!src[i]) {
			assert_int_equal(page_ref_count(pfn_to_page(pfn)), 0);
			continue;
		}
		assert_int_equal(src[i] & ~MIGRATE_PFN_WRITE,
				 migrate_pfn(pfn) | MIGRATE_PFN_MIGRATE);
		assert_true(PageLocked(pfn_to_page(pfn)));
		busy++;
	}
	assert_int_equal(busy, NPAGES);
	/* (A CPU touch now would wait for finalize.) */
	dev_evict_copy(src, dst, &st);
	migrate_device_pages(src, dst, DEV_PAGES);
	migrate_device_finalize(src, dst, DEV_PAGES);
	assert_int_equal(st.moved, NPAGES);
	check(f, f->mm, 1);

	assert_int_equal(migrate_device_range(NULL, pgmap->pfn_first, 1),
			 -EINVAL);
	assert_int_equal(migrate_device_range(src, pgmap->pfn_first, 0),
			 -EINVAL);
	/* Past the pagemap's end, below it, in system RAM. */
	assert_int_equal(migrate_device_range(src, pgmap->pfn_first + 1,
					      DEV_PAGES), -EINVAL);
	assert_int_equal(migrate_device_range(src, pgmap->pfn_first - 1, 2),
			 -EINVAL);
	assert_int_equal(migrate_device_range(src, 0, 1), -EINVAL);
	assert_int_equal(migrate_device_range(src, ULONG_MAX, 2), -EINVAL);
}

/* After fork each device page is mapped in two mms: both mappings move,
 * to one RAM page shared copy-on-write. */
static void test_evict_after_fork(void **state)
{
	struct fixture *f = *state;
	unsigned long src[DEV_PAGES], pfns[NPAGES], cpfns[NPAGES];
	struct mm_struct *child;
	struct evict_stats st;

	fill(f, f->mm, 200);
	assert_int_equal(migrate_to_device(f, f->mm), NPAGES);
	child = f->child = uhmm_fork(f->mm);
	assert_non_null(child);
	assert_on_device(f, child);
	snapshot(f, child, pfns);
	assert_int_equal(page_mapcount(hmm_pfn_to_page(pfns[0])), 2);

	assert_int_equal(dev_evict(f->dev, src, &st), 0);
	assert_int_equal(st.moved, NPAGES);
	assert_int_equal(st.writable, 0);	/* COW made both read-only */
	assert_int_equal(atomic_load(&f->dev->pgmap.pages_in_use), 0);
	assert_in_ram(f, f->mm, false);
	assert_in_ram(f, child, false);
	snapshot(f, f->mm, pfns);
	snapshot(f, child, cpfns);
	for (int i = 0; i < NPAGES; i++) {
		assert_int_equal(hmm_pfn_to_pfn(pfns[i]),
				 hmm_pfn_to_pfn(cpfns[i]));
		assert_int_equal(page_mapcount(hmm_pfn_to_page(pfns[i])), 2);
	}
	assert_mapcounts(f->mm, child);
	check(f, f->mm, 200);
	check(f, child, 200);

	/* Still copy-on-write: each side's store is its own. */
	fill(f, child, 300);
	check(f, f->mm, 200);
	fill(f, f->mm, 400);
	check(f, child, 300);
	check(f, f->mm, 400);
	assert_mapcounts(f->mm, child);
	uhmm_mm_exit(child);
	f->child = NULL;
	assert_mapcounts(f->mm, NULL);
}

/* A page with a reference that is not a mapping cannot move: it keeps
 * its mappings, in both mms, and loses MIGRATE_PFN_MIGRATE. */
static void test_evict_pinned(void **state)
{
	struct fixture *f = *state;
	unsigned long src[DEV_PAGES], dst[DEV_PAGES], pfns[NPAGES], i5;
	struct mm_struct *child;
	struct evict_stats st;
	struct page *pinned;

	fill(f, f->mm, 10);
	assert_int_equal(migrate_to_device(f, f->mm), NPAGES);
	snapshot(f, f->mm, pfns);
	pinned = hmm_pfn_to_page(pfns[5]);
	i5 = page_to_pfn(pinned) - f->dev->pgmap.pfn_first;
	get_page(pinned);

	/* Between unmap and finalize, the pinned page is already mapped
	 * again; the others are migration entries (reported as nothing). */
	assert_int_equal(migrate_device_range(src, f->dev->pgmap.pfn_first,
					      DEV_PAGES), 0);
	snapshot(f, f->mm, pfns);
	for (int i = 0; i < NPAGES; i++)
		assert_int_equal(pfns[i], i != 5 ? 0 : HMM_PFN_VALID |
				 HMM_PFN_WRITE | page_to_pfn(pinned));
	assert_true(PageLocked(pinned));
	dev_evict_copy(src, dst, &st);
	migrate_device_pages(src, dst, DEV_PAGES);
	migrate_device_finalize(src, dst, DEV_PAGES);
	assert_int_equal(st.moved, NPAGES - 1);
	assert_int_equal(st.stayed, 1);
	assert_int_equal(st.writable, NPAGES);
	assert_int_equal(src[i5], migrate_pfn(page_to_pfn(pinned)) |
				  MIGRATE_PFN_WRITE);
	/* Its entry is back, writable as it was; the rest moved. */
	snapshot(f, f->mm, pfns);
	for (int i = 0; i < NPAGES; i++) {
		assert_true(pfns[i] & HMM_PFN_VALID);
		assert_true(pfns[i] & HMM_PFN_WRITE);
		if (i == 5)
			assert_ptr_equal(hmm_pfn_to_page(pfns[i]), pinned);
		else
			assert_false(is_zone_device_page(
				     hmm_pfn_to_page(pfns[i])));
	}
	assert_int_equal(page_mapcount(pinned), 1);
	assert_int_equal(page_ref_count(pinned), 2);
	assert_false(PageLocked(pinned));
	assert_int_equal(atomic_load(&f->dev->pgmap.pages_in_use), 1);
	assert_mapcounts(f->mm, NULL);
	/* (A CPU touch of the pinned page would retry for ever: its
	 * migrate_to_ram cannot move it either.) */
	for (int i = 0; i < NPAGES; i++)
		if (i != 5)
			check_page(f->mm, f->p + i * PAGE_SIZE, 10 + i);
	put_page(pinned);
	check(f, f->mm, 10);
	assert_int_equal(atomic_load(&f->dev->pgmap.pages_in_use), 0);

	/* Mapped in two mms, pinned: both entries come back, read-only. */
	assert_int_equal(migrate_to_device(f, f->mm), NPAGES);
	child = f->child = uhmm_fork(f->mm);
	assert_non_null(child);
	snapshot(f, f->mm, pfns);
	pinned = hmm_pfn_to_page(pfns[5]);
	get_page(pinned);
	assert_int_equal(dev_evict(f->dev, src, &st), 0);
	assert_int_equal(st.moved, NPAGES - 1);
	assert_int_equal(st.stayed, 1);
	assert_int_equal(page_mapcount(pinned), 2);
	snapshot(f, child, pfns);
	assert_ptr_equal(hmm_pfn_to_page(pfns[5]), pinned);
	assert_false(pfns[5] & HMM_PFN_WRITE);
	snapshot(f, f->mm, pfns);
	assert_ptr_equal(hmm_pfn_to_page(pfns[5]), pinned);
	assert_false(pfns[5] & HMM_PFN_WRITE);
	put_page(pinned);
	assert_int_equal(dev_evict(f->dev, src, &st), 0);
	assert_int_equal(st.moved, 1);
	assert_int_equal(atomic_load(&f->dev->pgmap.pages_in_use), 0);
	check(f, f->mm, 10);
	check(f, child, 10);
	assert_mapcounts(f->mm, child);
	uhmm_mm_exit(child);
	f->child = NULL;
}

/* Mappings zapped (MADV_DONTNEED) or unmapped between unmap and
 * finalize are simply gone: the copies are dropped, nothing leaks. */
static void test_zap_before_finalize(void **state)
{
	struct fixture *f = *state;
	unsigned long src[DEV_PAGES], dst[DEV_PAGES];
	struct evict_stats st;
	unsigned long ram;
	int v;

	fill(f, f->mm, 500);
	ram = free_pages_now();
	assert_int_equal(migrate_to_device(f, f->mm), NPAGES);

	assert_int_equal(migrate_device_range(src, f->dev->pgmap.pfn_first,
					      DEV_PAGES), 0);
	dev_evict_copy(src, dst, &st);
	assert_int_equal(st.moved, NPAGES);
	assert_int_equal(uhmm_madvise(f->mm, f->p, 4 * PAGE_SIZE,
				      MADV_DONTNEED), 0);
	assert_int_equal(uhmm_munmap(f->mm, f->p + 12 * PAGE_SIZE,
				     4 * PAGE_SIZE), 0);
	migrate_device_pages(src, dst, DEV_PAGES);
	migrate_device_finalize(src, dst, DEV_PAGES);

	assert_int_equal(atomic_load(&f->dev->pgmap.pages_in_use), 0);
	/* Of the 16 pages that held RAM before, only the 8 still mapped
	 * do: the copies of the others were dropped. */
	assert_int_equal(free_pages_now(), ram + 8);
	for (int i = 0; i < 4; i++)
		check_page(f->mm, f->p + i * PAGE_SIZE, 0);
	for (int i = 4; i < 12; i++)
		check_page(f->mm, f->p + i * PAGE_SIZE, 500 + i);
	assert_int_equal(cpu_access(f->mm, f->p + 12 * PAGE_SIZE, &v,
				     sizeof(v), 0), -1);
	assert_int_equal(errno, EFAULT);
	assert_mapcounts(f->mm, NULL);
}

/* mprotect() between unmap and finalize: the migration entries lose
 * write permission with the VMA, so the pages come back read-only. */
static void test_mprotect_before_finalize(void **state)
{
	struct fixture *f = *state;
	unsigned long src[DEV_PAGES], dst[DEV_PAGES], pfns[NPAGES];
	struct evict_stats st;

	fill(f, f->mm, 550);
	assert_int_equal(migrate_to_device(f, f->mm), NPAGES);
	assert_int_equal(migrate_device_range(src, f->dev->pgmap.pfn_first,
					      DEV_PAGES), 0);
	dev_evict_copy(src, dst, &st);
	assert_int_equal(st.writable, NPAGES);
	assert_int_equal(uhmm_mprotect(f->mm, f->p, NPAGES * PAGE_SIZE,
				       PROT_READ), 0);
	migrate_device_pages(src, dst, DEV_PAGES);
	migrate_device_finalize(src, dst, DEV_PAGES);
	assert_int_equal(atomic_load(&f->dev->pgmap.pages_in_use), 0);
	snapshot(f, f->mm, pfns);
	for (int i = 0; i < NPAGES; i++) {
		assert_true(pfns[i] & HMM_PFN_VALID);
		assert_false(pfns[i] & HMM_PFN_WRITE);
	}
	check(f, f->mm, 550);
	assert_mapcounts(f->mm, NULL);
}

/* Device-coherent pages are mapped by present PTEs: those move too, in
 * both mms of a fork, and the CPU sees the data throughout. */
static void test_evict_coherent(void **state)
{
	struct fixture *f = *state;
	unsigned long src[DEV_PAGES], pfns[NPAGES];
	struct mm_struct *child;
	struct evict_stats st;

	fill(f, f->mm, 600);
	assert_int_equal(migrate_to_device(f, f->mm), NPAGES);
	snapshot(f, f->mm, pfns);
	for (int i = 0; i < NPAGES; i++) {
		assert_true(pfns[i] & HMM_PFN_WRITE);
		assert_true(is_device_coherent_page(hmm_pfn_to_page(pfns[i])));
	}
	check(f, f->mm, 600);		/* present: no fault, no migration */
	assert_on_device(f, f->mm);

	assert_int_equal(dev_evict(f->dev, src, &st), 0);
	assert_int_equal(st.moved, NPAGES);
	assert_int_equal(st.writable, NPAGES);
	assert_int_equal(atomic_load(&f->dev->pgmap.pages_in_use), 0);
	assert_in_ram(f, f->mm, true);
	check(f, f->mm, 600);
	assert_mapcounts(f->mm, NULL);

	/* Shared with a child, read-only on both sides. */
	assert_int_equal(migrate_to_device(f, f->mm), NPAGES);
	child = f->child = uhmm_fork(f->mm);
	assert_non_null(child);
	assert_int_equal(dev_evict(f->dev, src, &st), 0);
	assert_int_equal(st.moved, NPAGES);
	assert_int_equal(st.writable, 0);
	assert_int_equal(atomic_load(&f->dev->pgmap.pages_in_use), 0);
	assert_in_ram(f, f->mm, false);
	assert_in_ram(f, child, false);
	assert_mapcounts(f->mm, child);
	fill(f, child, 700);
	check(f, f->mm, 600);
	check(f, child, 700);
	uhmm_mm_exit(child);
	f->child = NULL;
}

/* Eviction fires MMU_NOTIFY_CLEAR (no owner) once for every mapping, in
 * every mm that maps a page, and nothing elsewhere. */
struct clear_counter {
	struct mmu_interval_notifier sub;
	unsigned long clears;		/* MMU_NOTIFY_CLEAR, no owner */
	unsigned long others;
};

static bool count_clear(struct mmu_interval_notifier *sub,
			const struct mmu_notifier_range *range,
			unsigned long cur_seq)
{
	struct clear_counter *c = container_of(sub, struct clear_counter, sub);

	mmu_interval_set_seq(sub, cur_seq);
	if (range->event == MMU_NOTIFY_CLEAR && !range->owner &&
	    range->end - range->start == PAGE_SIZE)
		c->clears++;
	else
		c->others++;
	return true;
}

static void test_evict_notifies(void **state)
{
	static const struct mmu_interval_notifier_ops ops = {
		.invalidate = count_clear,
	};
	struct fixture *f = *state;
	struct clear_counter cp = { 0 }, cc = { 0 }, cx = { 0 };
	unsigned long src[DEV_PAGES];
	struct mm_struct *child, *other;
	struct evict_stats st;
	char *q;

	fill(f, f->mm, 800);
	assert_int_equal(migrate_to_device(f, f->mm), NPAGES);
	child = f->child = uhmm_fork(f->mm);
	other = f->other = uhmm_mm_create();
	assert_non_null(child);
	assert_non_null(other);
	q = uhmm_mmap(other, f->p, NPAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	assert_ptr_equal(q, f->p);
	fill(f, other, 900);
	assert_int_equal(mmu_interval_notifier_insert(&cp.sub, f->mm,
			 (unsigned long)f->p, NPAGES * PAGE_SIZE, &ops), 0);
	assert_int_equal(mmu_interval_notifier_insert(&cc.sub, child,
			 (unsigned long)f->p, NPAGES * PAGE_SIZE, &ops), 0);
	assert_int_equal(mmu_interval_notifier_insert(&cx.sub, other,
			 (unsigned long)f->p, NPAGES * PAGE_SIZE, &ops), 0);

	assert_int_equal(dev_evict(f->dev, src, &st), 0);
	assert_int_equal(st.moved, NPAGES);
	assert_int_equal(cp.clears, NPAGES);
	assert_int_equal(cc.clears, NPAGES);
	assert_int_equal(cp.others + cc.others, 0);
	assert_int_equal(cx.clears + cx.others, 0);

	mmu_interval_notifier_remove(&cp.sub);
	mmu_interval_notifier_remove(&cc.sub);
	mmu_interval_notifier_remove(&cx.sub);
	check(f, f->mm, 800);
	check(f, child, 800);
	check(f, other, 900);
	uhmm_mm_exit(other);
	uhmm_mm_exit(child);
	f->other = f->child = NULL;
}

/* ---- races (run these under TSan and ASan) ---- */

#define RACE_PAGES	48
#define RACE_ROUNDS	40
#define RACE_MAX_ROUNDS	5000

struct cpu_thread {
	struct mm_struct *mm;
	char *p;
	atomic_bool started, stop;
	unsigned long errors;		/* read after join */
	atomic_ulong rounds;
};

/* A CPU that reads, checks and rewrites every page over and over: its
 * loads and stores fault device pages back and wait on migrations. */
static void *cpu_thread_fn(void *arg)
{
	struct cpu_thread *t = arg;
	int expect[RACE_PAGES];

	for (int i = 0; i < RACE_PAGES; i++)
		expect[i] = i * 1000;
	atomic_store(&t->started, true);
	while (!atomic_load(&t->stop)) {
		for (int i = 0; i < RACE_PAGES; i++) {
			char *addr = t->p + i * PAGE_SIZE;
			int v = -1, w = -1;

			if (cpu_access(t->mm, addr, &v, sizeof(v), 0) !=
			    sizeof(v) ||
			    cpu_access(t->mm, addr + PAGE_SIZE - sizeof(w),
					&w, sizeof(w), 0) != sizeof(w) ||
			    v != expect[i] || w != expect[i])
				t->errors++;
			v = ++expect[i];
			if (cpu_access(t->mm, addr + PAGE_SIZE - sizeof(v),
					&v, sizeof(v), 1) != sizeof(v) ||
			    cpu_access(t->mm, addr, &v, sizeof(v), 1) !=
			    sizeof(v))
				t->errors++;
		}
		atomic_fetch_add(&t->rounds, 1);
	}
	return NULL;
}

/* The main thread moves the pages to the device and evicts them again
 * while a CPU thread uses them: the CPU always sees its own data. */
static void test_race_cpu_faults(void **state)
{
	struct fixture *f = *state;
	struct cpu_thread t = { .mm = f->mm };
	unsigned long src[DEV_PAGES], evicted = 0, to_dev = 0;
	struct evict_stats st;
	pthread_t thread;
	int bad = 0;

	t.p = uhmm_mmap(f->mm, NULL, RACE_PAGES * PAGE_SIZE,
			PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	assert_ptr_not_equal(t.p, MAP_FAILED);
	for (int i = 0; i < RACE_PAGES; i++)
		fill_page(f->mm, t.p + i * PAGE_SIZE, i * 1000);

	assert_int_equal(pthread_create(&thread, NULL, cpu_thread_fn, &t), 0);
	while (!atomic_load(&t.started))
		;
	/* Until the CPU has been through its pages a few times (it goes
	 * slowly: most of its accesses fault or wait on a migration). */
	for (int round = 0; round < RACE_MAX_ROUNDS &&
	     (round < RACE_ROUNDS || atomic_load(&t.rounds) < 2); round++) {
		mmap_read_lock(f->mm);
		to_dev += dev_migrate(f->dev, vma_lookup(f->mm,
				      (unsigned long)t.p), (unsigned long)t.p,
				      (unsigned long)t.p +
				      RACE_PAGES * PAGE_SIZE, true, NULL);
		mmap_read_unlock(f->mm);
		bad += dev_evict(f->dev, src, &st) != 0;
		evicted += st.moved;
	}
	atomic_store(&t.stop, true);
	pthread_join(thread, NULL);

	assert_int_equal(bad, 0);
	assert_int_equal(t.errors, 0);
	assert_true(t.rounds >= 1);
	assert_true(to_dev > 0);
	assert_true(evicted > 0);
	assert_int_equal(dev_evict_all(f->dev), 0);
	assert_mapcounts(f->mm, NULL);
	/* The thread's last store of each page is there: one per round. */
	for (int i = 0; i < RACE_PAGES; i++)
		check_page(f->mm, t.p + i * PAGE_SIZE,
			   i * 1000 + (int)t.rounds);
}

struct unmap_thread {
	struct mm_struct *mm, *child;
	char *p;
	long delay_ns;			/* after go, before the munmap */
	atomic_bool go, done;
	unsigned long errors;		/* read after join */
};

static long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* Unmap half of the parent's pages, then end the child. */
static void *unmap_thread_fn(void *arg)
{
	struct unmap_thread *t = arg;
	long until;

	while (!atomic_load(&t->go))
		;
	/* Meet the eviction (tens of µs) at a different step each time. */
	for (until = now_ns() + t->delay_ns; now_ns() < until;)
		;
	if (uhmm_munmap(t->mm, t->p + NPAGES / 2 * PAGE_SIZE,
			NPAGES / 2 * PAGE_SIZE))
		t->errors++;
	uhmm_mm_exit(t->child);
	atomic_store(&t->done, true);
	return NULL;
}

/* Eviction while another thread unmaps pages and ends an mm that maps
 * them: mappings that vanish are not found, nothing is lost or freed
 * twice, and what stays mapped comes back. */
static void test_race_munmap_exit(void **state)
{
	struct fixture *f = *state;
	unsigned long src[DEV_PAGES];
	struct evict_stats st;

	for (int iter = 0; iter < 40; iter++) {
		struct unmap_thread t = { .mm = f->mm, .p = f->p,
					  .delay_ns = iter % 10 * 8000 };
		pthread_t thread;
		long evicts = 0;
		int bad = 0;
		char *p;

		fill(f, f->mm, iter * 100);
		assert_int_equal(migrate_to_device(f, f->mm), NPAGES);
		t.child = uhmm_fork(f->mm);
		assert_non_null(t.child);

		assert_int_equal(pthread_create(&thread, NULL, unmap_thread_fn,
						&t), 0);
		atomic_store(&t.go, true);
		do {
			bad += dev_evict(f->dev, src, &st) != 0;
			evicts++;
		} while (!atomic_load(&t.done) && evicts < 1000);
		pthread_join(thread, NULL);
		assert_int_equal(bad, 0);
		assert_int_equal(t.errors, 0);
		assert_int_equal(dev_evict_all(f->dev), 0);
		for (int i = 0; i < NPAGES / 2; i++)
			check_page(f->mm, f->p + i * PAGE_SIZE, iter * 100 + i);
		assert_mapcounts(f->mm, NULL);
		/* Map the other half again for the next round. */
		p = uhmm_mmap(f->mm, f->p + NPAGES / 2 * PAGE_SIZE,
			      NPAGES / 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		assert_ptr_equal(p, f->p + NPAGES / 2 * PAGE_SIZE);
	}
}

struct fork_thread {
	struct mm_struct *mm;
	struct mm_struct *child;	/* read after join */
	long delay_ns;			/* after go, before the fork */
	atomic_bool go;
};

static void *fork_thread_fn(void *arg)
{
	struct fork_thread *t = arg;
	long until;

	while (!atomic_load(&t->go))
		;
	for (until = now_ns() + t->delay_ns; now_ns() < until;)
		;
	t->child = uhmm_fork(t->mm);
	return NULL;
}

/* Eviction while another thread forks the mm: fork meets device-private
 * entries (the walk then finds the child's copy too: it comes after its
 * parent), migration entries (it waits for the migration to end) or RAM
 * pages; either way both mms see the data, copy-on-write. */
static void test_race_fork(void **state)
{
	struct fixture *f = *state;
	unsigned long src[DEV_PAGES];
	struct evict_stats st;

	for (int iter = 0; iter < 100; iter++) {
		struct fork_thread t = { .mm = f->mm,
					 .delay_ns = iter % 10 * 5000 };
		pthread_t thread;
		int bad;

		fill(f, f->mm, iter);
		assert_int_equal(migrate_to_device(f, f->mm), NPAGES);
		assert_int_equal(pthread_create(&thread, NULL, fork_thread_fn,
						&t), 0);
		atomic_store(&t.go, true);
		bad = dev_evict(f->dev, src, &st);
		pthread_join(thread, NULL);
		f->child = t.child;

		assert_int_equal(bad, 0);
		assert_non_null(t.child);
		assert_int_equal(dev_evict_all(f->dev), 0);
		assert_mapcounts(f->mm, t.child);
		check(f, t.child, iter);
		check(f, f->mm, iter);
		fill(f, t.child, iter + 1000);
		check(f, f->mm, iter);
		uhmm_mm_exit(t.child);
		f->child = NULL;
	}
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_private, teardown)
#define TC(fn) cmocka_unit_test_setup_teardown(fn, setup_coherent, teardown)
	const struct CMUnitTest tests[] = {
		T(test_evict_private),
		T(test_range_src_and_errors),
		T(test_evict_after_fork),
		T(test_evict_pinned),
		T(test_zap_before_finalize),
		T(test_mprotect_before_finalize),
		TC(test_evict_coherent),
		T(test_evict_notifies),
		T(test_race_cpu_faults),
		T(test_race_munmap_exit),
		T(test_race_fork),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
