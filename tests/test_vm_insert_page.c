// SPDX-License-Identifier: MIT
/*
 * Drivers' mappings: vm_mmap_driver(), vm_insert_page() and vm_ops.
 * Every errno of vm_insert_page(); the reference and mapcount a PTE
 * takes and gives back; munmap, MADV_DONTNEED and exit freeing the
 * pages; fork sharing them read-only with copy-on-write on both sides
 * (shared mappings: writable, the same page); mprotect; open and close
 * calls on split, fork and unmap; a fault callback inserting on demand;
 * what a device sees (snapshot bytes, VM_PFNMAP refused); and
 * dmirror_mmap(), the kernel test driver's mmap, end to end.
 *
 * A test driver, tdrv, owns NPAGES pages (page i filled with 'A' + i,
 * one reference each) and maps them at driver offset i.
 */
#include <pthread.h>

#include "test_util.h"
#include "mm/debug.h"
#include "mm/mm_internal.h"

#define NPAGES 4
#define SIZE (NPAGES * PAGE_SIZE)

enum tdrv_fault {
	TDRV_FAULT_INSERT,	/* vm_insert_page(), VM_FAULT_NOPAGE */
	TDRV_FAULT_PAGE,	/* return the page in vmf->page */
	TDRV_FAULT_SIGBUS,
};

struct tdrv {
	/* What its mmap callback does. */
	bool with_ops;			/* vm_ops = tdrv_vm_ops */
	bool insert;			/* insert every page at mmap time */
	unsigned long set_flags;	/* vm_flags it sets */
	unsigned long clear_flags;	/* vm_flags it clears */
	int mmap_err;			/* returned after the inserts */
	/* What its fault callback does. */
	enum tdrv_fault fault_mode;

	struct page *pages[NPAGES];	/* page i at driver offset i */
	/* Calls: mmap of VMAs it gave tdrv_vm_ops, and their callbacks. */
	atomic_int mmaps, opens, closes, faults;
	/* The VMAs it has been told of (mmap, open) and not closed: a
	 * close of any other is a bug. Under live_lock. */
	pthread_mutex_t live_lock;
	struct vm_area_struct *live[64];
	int nlive;
	atomic_int fault_errors;	/* vm_insert_page() failures there */
};

struct fixture {
	struct mm_struct *mm;
	struct tdrv drv;
	unsigned long free_before;
	unsigned long in_use_before[DMIRROR_NDEVICES];
};

/* ---- the test driver ---- */

static void tdrv_track(struct tdrv *drv, struct vm_area_struct *vma)
{
	pthread_mutex_lock(&drv->live_lock);
	assert_true(drv->nlive < 64);
	drv->live[drv->nlive++] = vma;
	pthread_mutex_unlock(&drv->live_lock);
}

static void tdrv_open(struct vm_area_struct *vma)
{
	struct tdrv *drv = vma->vm_private_data;

	atomic_fetch_add(&drv->opens, 1);
	tdrv_track(drv, vma);
}

static void tdrv_close(struct vm_area_struct *vma)
{
	struct tdrv *drv = vma->vm_private_data;
	int i;

	atomic_fetch_add(&drv->closes, 1);
	pthread_mutex_lock(&drv->live_lock);
	for (i = 0; i < drv->nlive && drv->live[i] != vma; i++)
		;
	if (i == drv->nlive)
		fail_msg("close of a VMA the driver was never told of");
	drv->live[i] = drv->live[--drv->nlive];
	pthread_mutex_unlock(&drv->live_lock);
}

static vm_fault_t tdrv_fault(struct vm_fault *vmf)
{
	struct tdrv *drv = vmf->vma->vm_private_data;
	struct page *page;
	int err;

	atomic_fetch_add(&drv->faults, 1);
	if (vmf->pgoff >= NPAGES || drv->fault_mode == TDRV_FAULT_SIGBUS)
		return VM_FAULT_SIGBUS;
	page = drv->pages[vmf->pgoff];
	if (drv->fault_mode == TDRV_FAULT_PAGE) {
		get_page(page);
		vmf->page = page;
		return 0;
	}
	err = vm_insert_page(vmf->vma, vmf->address, page);
	/* -EBUSY: a racing fault inserted it first. */
	if (err && err != -EBUSY) {
		atomic_fetch_add(&drv->fault_errors, 1);
		return vmf_error(err);
	}
	return VM_FAULT_NOPAGE;
}

static const struct vm_operations_struct tdrv_vm_ops = {
	.open = tdrv_open,
	.close = tdrv_close,
	.fault = tdrv_fault,
};

static int tdrv_mmap(void *private, struct vm_area_struct *vma)
{
	struct tdrv *drv = private;

	/* A new VMA comes empty, with callbacks that do nothing. */
	assert_non_null(vma->vm_ops);
	assert_null(vma->vm_ops->fault);
	assert_null(vma->vm_private_data);
	assert_false(vma_is_anonymous(vma));
	if (drv->with_ops) {
		atomic_fetch_add(&drv->mmaps, 1);
		vma->vm_ops = &tdrv_vm_ops;
		vma->vm_private_data = drv;
	}
	vma->vm_flags |= drv->set_flags;
	vma->vm_flags &= ~drv->clear_flags;
	if (drv->insert) {
		for (unsigned long a = vma->vm_start; a < vma->vm_end;
		     a += PAGE_SIZE) {
			unsigned long off = vma->vm_pgoff +
					    ((a - vma->vm_start) >> PAGE_SHIFT);
			int err;

			if (off >= NPAGES)
				return -EINVAL;
			err = vm_insert_page(vma, a, drv->pages[off]);
			if (err)
				return err;
		}
	}
	/* A failed mmap's VMA goes without close, as in the kernel. */
	if (drv->with_ops && !drv->mmap_err)
		tdrv_track(drv, vma);
	return drv->mmap_err;
}

static char *tdrv_map_at(struct fixture *f, void *addr, unsigned long len,
			 int prot, int flags, unsigned long pgoff)
{
	unsigned long ret = vm_mmap_driver(f->mm, (unsigned long)addr, len,
					   prot, flags, pgoff, tdrv_mmap,
					   &f->drv);

	assert_false(IS_ERR_VALUE(ret));
	return (char *)ret;
}

static char *tdrv_map(struct fixture *f, int prot, int flags)
{
	return tdrv_map_at(f, NULL, SIZE, prot, flags, 0);
}

/* ---- fixture ---- */

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->free_before = free_pages_now();
	for (int i = 0; i < DMIRROR_NDEVICES; i++)
		f->in_use_before[i] = device_pages_in_use(i);
	for (int i = 0; i < NPAGES; i++) {
		f->drv.pages[i] = alloc_page();
		assert_non_null(f->drv.pages[i]);
		memset(page_address(f->drv.pages[i]), 'A' + i, PAGE_SIZE);
	}
	pthread_mutex_init(&f->drv.live_lock, NULL);
	f->drv.with_ops = true;
	f->drv.insert = true;
	f->mm = uhmm_mm_create();
	assert_non_null(f->mm);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->mm)
		uhmm_mm_exit(f->mm);
	/* Every VMA that had open (or came from mmap) had close. */
	if (f->drv.with_ops) {
		assert_int_equal(atomic_load(&f->drv.closes),
				 atomic_load(&f->drv.opens) +
				 atomic_load(&f->drv.mmaps));
		assert_int_equal(f->drv.nlive, 0);
	}
	/* The mappings let go of the driver's pages: it holds the last
	 * reference of each, and nothing else leaked. */
	for (int i = 0; i < NPAGES; i++) {
		assert_int_equal(page_ref_count(f->drv.pages[i]), 1);
		assert_int_equal(page_mapcount(f->drv.pages[i]), 0);
		put_page(f->drv.pages[i]);
	}
	assert_int_equal(free_pages_now(), f->free_before);
	for (int i = 0; i < DMIRROR_NDEVICES; i++)
		assert_int_equal(device_pages_in_use(i), f->in_use_before[i]);
	free(f);
	return 0;
}

/* ---- helpers ---- */

/* The page a present PTE maps at addr, or NULL. */
static struct page *page_at(struct mm_struct *mm, void *addr)
{
	pte_t pte = pte_at(mm, addr);

	return pte_present(pte) ? pfn_to_page(pte_pfn(pte)) : NULL;
}

static struct vm_area_struct *vma_at(struct mm_struct *mm, void *addr)
{
	struct vm_area_struct *vma;

	mmap_read_lock(mm);
	vma = vma_lookup(mm, (unsigned long)addr);
	mmap_read_unlock(mm);
	return vma;
}

static long rss(struct mm_struct *mm)
{
	return atomic_load(&mm->rss_pages);
}

static char cpu_byte(struct mm_struct *mm, void *addr)
{
	char c = 0;

	assert_int_equal(cpu_access(mm, addr, &c, 1, 0), 1);
	return c;
}

static void cpu_poke(struct mm_struct *mm, void *addr, char c)
{
	assert_int_equal(cpu_access(mm, addr, &c, 1, 1), 1);
}

static void verify_mapcounts(struct mm_struct **mms, unsigned int n)
{
	assert_int_equal(mm_verify_mapcounts(mms, n), 0);
}

static void check_driver_page(struct fixture *f, int i, int ref, int map)
{
	assert_int_equal(page_ref_count(f->drv.pages[i]), ref);
	assert_int_equal(page_mapcount(f->drv.pages[i]), map);
}

static int dmirror_run1(struct dmirror *d, unsigned int command, void *addr,
			void *buf, unsigned long npages, uint64_t *cpages)
{
	struct hmm_dmirror_cmd c = { .addr = (uintptr_t)addr,
				     .ptr = (uintptr_t)buf, .npages = npages };
	int ret = dmirror_cmd(d, command, &c);

	if (cpages)
		*cpages = c.cpages;
	return ret;
}

static unsigned char snapshot_one(struct mm_struct *mm, void *addr)
{
	struct dmirror *d = dmirror_open(mm, 0);
	unsigned char b = 0xAA;
	uint64_t cpages = 0;

	assert_non_null(d);
	assert_int_equal(dmirror_run1(d, HMM_DMIRROR_SNAPSHOT, addr, &b, 1,
				      &cpages), 0);
	assert_int_equal(cpages, 1);
	dmirror_close(d);
	return b;
}

/* ---- vm_insert_page ---- */

/* What the test driver's mmap tries before it inserts the real pages. */
struct insert_errors {
	struct page *anon, *table, *devpriv, *freed;
	int r_below, r_end, r_unaligned, r_null, r_free, r_anon, r_table,
	    r_devpriv, r_busy, r_zero_writable, r_zero;
	int ref_anon;
};
static struct insert_errors ie;

static int errors_mmap(void *private, struct vm_area_struct *vma)
{
	struct tdrv *drv = private;
	struct page *page = drv->pages[0];

	ie.r_below = vm_insert_page(vma, vma->vm_start - PAGE_SIZE, page);
	ie.r_end = vm_insert_page(vma, vma->vm_end, page);
	ie.r_unaligned = vm_insert_page(vma, vma->vm_start + 8, page);
	ie.r_null = vm_insert_page(vma, vma->vm_start, NULL);
	ie.r_free = vm_insert_page(vma, vma->vm_start, ie.freed);
	ie.r_anon = vm_insert_page(vma, vma->vm_start, ie.anon);
	ie.r_table = vm_insert_page(vma, vma->vm_start, ie.table);
	ie.r_devpriv = vm_insert_page(vma, vma->vm_start, ie.devpriv);
	/* None of those set VM_MIXEDMAP. */
	assert_false(vma->vm_flags & VM_MIXEDMAP);
	assert_int_equal(vm_insert_page(vma, vma->vm_start, page), 0);
	assert_true(vma->vm_flags & VM_MIXEDMAP);
	ie.r_busy = vm_insert_page(vma, vma->vm_start, drv->pages[1]);
	/* Shared and may become writable: a write would reach the zero
	 * page of every mm. Not once it never can. */
	ie.r_zero_writable = vm_insert_page(vma, vma->vm_start + PAGE_SIZE,
					    zero_page());
	vma->vm_flags &= ~VM_MAYWRITE;
	ie.r_zero = vm_insert_page(vma, vma->vm_start + PAGE_SIZE,
				   zero_page());
	return 0;
}

/* Every errno, and no reference or mapcount taken by a failure. */
static void test_insert_errors(void **state)
{
	struct fixture *f = *state;
	char *anon, *p;
	struct dmirror *d;
	uint64_t cpages;
	unsigned long ret;
	char *buf = malloc(PAGE_SIZE);
	struct vm_area_struct *vma;
	pmd_t *pmd;

	/* An anonymous page, a page-table page, a device-private page, a
	 * free page. */
	anon = uhmm_mmap(f->mm, NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_ptr_not_equal(anon, MAP_FAILED);
	cpu_poke(f->mm, anon, 1);
	cpu_poke(f->mm, anon + PAGE_SIZE, 2);
	ie.anon = page_at(f->mm, anon);
	assert_non_null(ie.anon);
	ie.ref_anon = page_ref_count(ie.anon);
	mmap_read_lock(f->mm);
	pmd = pte_table_lookup(f->mm, (unsigned long)anon);
	assert_non_null(pmd);
	ie.table = table_entry_page(table_entry_read(&pmd->pmd));
	mmap_read_unlock(f->mm);
	d = dmirror_open(f->mm, 0);
	assert_non_null(d);
	assert_int_equal(dmirror_run1(d, HMM_DMIRROR_MIGRATE_TO_DEV,
				      anon + PAGE_SIZE, buf, 1, &cpages), 0);
	assert_int_equal(cpages, 1);
	ie.devpriv = pfn_swap_entry_to_page(pte_to_swp_entry(
				pte_at(f->mm, anon + PAGE_SIZE)));
	assert_true(is_device_private_page(ie.devpriv));
	ie.freed = alloc_page();
	assert_non_null(ie.freed);
	put_page(ie.freed);

	ret = vm_mmap_driver(f->mm, 0, 2 * PAGE_SIZE, PROT_READ,
			     MAP_SHARED, 0, errors_mmap, &f->drv);
	assert_false(IS_ERR_VALUE(ret));
	p = (char *)ret;
	assert_int_equal(ie.r_below, -EFAULT);
	assert_int_equal(ie.r_end, -EFAULT);
	assert_int_equal(ie.r_unaligned, -EINVAL);
	assert_int_equal(ie.r_null, -EINVAL);
	assert_int_equal(ie.r_free, -EINVAL);
	assert_int_equal(ie.r_anon, -EINVAL);
	assert_int_equal(ie.r_table, -EINVAL);
	assert_int_equal(ie.r_devpriv, -EINVAL);
	assert_int_equal(ie.r_busy, -EBUSY);
	assert_int_equal(ie.r_zero_writable, -EINVAL);
	assert_int_equal(ie.r_zero, 0);
	assert_int_equal(page_ref_count(ie.anon), ie.ref_anon);
	assert_int_equal(page_mapcount(ie.anon), 1);
	/* The one that went in: the PTE's reference and mapcount. */
	check_driver_page(f, 0, 2, 1);
	check_driver_page(f, 1, 1, 0);
	assert_ptr_equal(page_at(f->mm, p), f->drv.pages[0]);
	/* The zero page goes in uncounted, as for anonymous memory. */
	assert_true(is_zero_page(page_at(f->mm, p + PAGE_SIZE)));
	assert_true(pte_special(pte_at(f->mm, p + PAGE_SIZE)));
	assert_int_equal(cpu_byte(f->mm, p + PAGE_SIZE), 0);
	assert_int_equal(cpu_byte(f->mm, p), 'A');

	/* Only a driver's mapping: not anonymous memory. */
	mmap_write_lock(f->mm);
	vma = vma_lookup(f->mm, (unsigned long)anon);
	assert_int_equal(vm_insert_page(vma, vma->vm_start, f->drv.pages[1]),
			 -EINVAL);
	mmap_write_unlock(f->mm);
	check_driver_page(f, 1, 1, 0);
	assert_false(vma->vm_flags & VM_MIXEDMAP);

	verify_mapcounts(&f->mm, 1);
	assert_int_equal(uhmm_munmap(f->mm, p, 2 * PAGE_SIZE), 0);
	check_driver_page(f, 0, 1, 0);
	dmirror_close(d);
	free(buf);
}

/* VM_MIXEDMAP needs mmap_write_lock; afterwards a read lock is enough. */
static void test_insert_lock(void **state)
{
	struct fixture *f = *state;
	struct vm_area_struct *vma;
	char *p;

	f->drv.insert = false;
	p = tdrv_map(f, PROT_READ, MAP_SHARED);
	vma = vma_at(f->mm, p);
	assert_false(vma->vm_flags & VM_MIXEDMAP);

	mmap_read_lock(f->mm);
	assert_int_equal(vm_insert_page(vma, (unsigned long)p,
					f->drv.pages[0]), -EINVAL);
	mmap_read_unlock(f->mm);
	check_driver_page(f, 0, 1, 0);
	assert_false(vma->vm_flags & VM_MIXEDMAP);

	mmap_write_lock(f->mm);
	assert_int_equal(vm_insert_page(vma, (unsigned long)p,
					f->drv.pages[0]), 0);
	mmap_write_unlock(f->mm);
	assert_true(vma->vm_flags & VM_MIXEDMAP);

	mmap_read_lock(f->mm);
	assert_int_equal(vm_insert_page(vma, (unsigned long)p + PAGE_SIZE,
					f->drv.pages[1]), 0);
	mmap_read_unlock(f->mm);
	check_driver_page(f, 0, 2, 1);
	check_driver_page(f, 1, 2, 1);
	assert_int_equal(cpu_byte(f->mm, p + PAGE_SIZE), 'B');
	/* No fault callback was asked: the pages were there. */
	assert_int_equal(atomic_load(&f->drv.faults), 0);
}

/* A VM_PFNMAP mapping takes no pages, and no device may mirror it. */
static void test_pfnmap(void **state)
{
	struct fixture *f = *state;
	struct vm_area_struct *vma;
	struct page *pages[1];
	uint64_t cpages = 0;
	struct dmirror *d;
	char *p, buf[1];

	f->drv.insert = false;
	f->drv.set_flags = VM_PFNMAP | VM_IO;
	/* MAP_POPULATE has nothing to fault in there. */
	p = tdrv_map(f, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE);
	vma = vma_at(f->mm, p);
	mmap_write_lock(f->mm);
	assert_int_equal(vm_insert_page(vma, (unsigned long)p,
					f->drv.pages[0]), -EINVAL);
	mmap_write_unlock(f->mm);
	check_driver_page(f, 0, 1, 0);

	assert_int_equal(snapshot_one(f->mm, p), HMM_DMIRROR_PROT_ERROR);
	d = dmirror_open(f->mm, 0);
	assert_non_null(d);
	assert_int_equal(dmirror_run1(d, HMM_DMIRROR_READ, p, buf, 1,
				      &cpages), -EFAULT);
	dmirror_close(d);
	mmap_read_lock(f->mm);
	assert_int_equal(get_user_pages_remote(f->mm, (unsigned long)p, 1, 0,
					       pages), -EFAULT);
	mmap_read_unlock(f->mm);
	assert_int_equal(uhmm_madvise(f->mm, p, PAGE_SIZE, MADV_DONTNEED), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(atomic_load(&f->drv.faults), 0);
}

/* ---- vm_mmap_driver ---- */

static void test_mmap_errors(void **state)
{
	struct fixture *f = *state;
	unsigned long free_now, ret;
	char *anon, *p;

	assert_int_equal((long)vm_mmap_driver(f->mm, 0, SIZE, PROT_READ,
					      MAP_SHARED, 0, NULL, &f->drv),
			 -EINVAL);
	assert_int_equal((long)vm_mmap_driver(f->mm, 0, SIZE, PROT_READ,
					      MAP_SHARED | MAP_ANONYMOUS, 0,
					      tdrv_mmap, &f->drv), -EINVAL);
	assert_int_equal((long)vm_mmap_driver(f->mm, 0, 0, PROT_READ,
					      MAP_SHARED, 0, tdrv_mmap,
					      &f->drv), -EINVAL);
	assert_int_equal((long)vm_mmap_driver(f->mm, 0, SIZE, PROT_READ,
					      MAP_SHARED | MAP_PRIVATE, 0,
					      tdrv_mmap, &f->drv), -EINVAL);
	assert_int_equal((long)vm_mmap_driver(f->mm, 0, SIZE, PROT_READ,
					      MAP_SHARED, ULONG_MAX,
					      tdrv_mmap, &f->drv),
			 -EOVERFLOW);
	assert_int_equal((long)vm_mmap_driver(NULL, 0, SIZE, PROT_READ,
					      MAP_SHARED, 0, tdrv_mmap,
					      &f->drv), -EINVAL);
	assert_int_equal(atomic_load(&f->drv.mmaps), 0);

	/* The driver fails after inserting: its pages are unmapped, the
	 * VMA is gone, close is not called. */
	free_now = free_pages_now();
	f->drv.mmap_err = -ENODEV;
	ret = vm_mmap_driver(f->mm, 0, SIZE, PROT_READ, MAP_SHARED, 0,
			     tdrv_mmap, &f->drv);
	assert_int_equal((long)ret, -ENODEV);
	assert_int_equal(atomic_load(&f->drv.mmaps), 1);
	assert_int_equal(atomic_load(&f->drv.closes), 0);
	for (int i = 0; i < NPAGES; i++)
		check_driver_page(f, i, 1, 0);
	assert_int_equal(f->mm->map_count, 0);
	assert_int_equal(rss(f->mm), 0);
	assert_int_equal(free_pages_now(), free_now);
	/* Not counted in the teardown's balance. */
	atomic_store(&f->drv.mmaps, 0);
	f->drv.mmap_err = 0;

	/* MAP_FIXED replaces what was there; MAP_FIXED_NOREPLACE refuses. */
	anon = uhmm_mmap(f->mm, NULL, SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_ptr_not_equal(anon, MAP_FAILED);
	cpu_poke(f->mm, anon, 'x');
	assert_int_equal((long)vm_mmap_driver(f->mm, (unsigned long)anon,
					      SIZE, PROT_READ,
					      MAP_SHARED | MAP_FIXED_NOREPLACE,
					      0, tdrv_mmap, &f->drv), -EEXIST);
	p = tdrv_map_at(f, anon + PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ,
			MAP_SHARED | MAP_FIXED, 1);
	assert_ptr_equal(p, anon + PAGE_SIZE);
	/* vm_pgoff is the driver's offset. */
	assert_int_equal(cpu_byte(f->mm, p), 'B');
	assert_int_equal(cpu_byte(f->mm, p + PAGE_SIZE), 'C');
	assert_int_equal(cpu_byte(f->mm, anon), 'x');
	assert_int_equal(f->mm->map_count, 3);
	/* A driver's mapping is not merged with anything. */
	p = tdrv_map_at(f, anon + 3 * PAGE_SIZE, PAGE_SIZE, PROT_READ,
			MAP_SHARED | MAP_FIXED, 3);
	assert_int_equal(f->mm->map_count, 3);
	assert_int_equal(cpu_byte(f->mm, p), 'D');
	verify_mapcounts(&f->mm, 1);
}

/* ---- references, unmapping, exit ---- */

static void test_refcounts_and_munmap(void **state)
{
	struct fixture *f = *state;
	long rss_before = rss(f->mm);
	char *p;

	p = tdrv_map(f, PROT_READ | PROT_WRITE, MAP_SHARED);
	assert_true(vma_at(f->mm, p)->vm_flags & VM_MIXEDMAP);
	assert_int_equal(rss(f->mm), rss_before + NPAGES);
	for (int i = 0; i < NPAGES; i++) {
		check_driver_page(f, i, 2, 1);
		assert_false(PageAnon(f->drv.pages[i]));
		assert_ptr_equal(page_at(f->mm, p + i * PAGE_SIZE),
				 f->drv.pages[i]);
		assert_int_equal(cpu_byte(f->mm, p + i * PAGE_SIZE), 'A' + i);
	}
	verify_mapcounts(&f->mm, 1);

	/* Unmapping the middle splits the VMA: open for each new part,
	 * close for the part that goes. */
	assert_int_equal(uhmm_munmap(f->mm, p + PAGE_SIZE, 2 * PAGE_SIZE), 0);
	assert_int_equal(atomic_load(&f->drv.opens), 2);
	assert_int_equal(atomic_load(&f->drv.closes), 1);
	check_driver_page(f, 0, 2, 1);
	check_driver_page(f, 1, 1, 0);
	check_driver_page(f, 2, 1, 0);
	check_driver_page(f, 3, 2, 1);
	assert_int_equal(rss(f->mm), rss_before + 2);
	assert_int_equal(cpu_byte(f->mm, p + 3 * PAGE_SIZE), 'D');

	assert_int_equal(uhmm_munmap(f->mm, p, SIZE), 0);
	assert_int_equal(atomic_load(&f->drv.closes), 3);
	for (int i = 0; i < NPAGES; i++)
		check_driver_page(f, i, 1, 0);
	assert_int_equal(rss(f->mm), rss_before);
}

/* What the mapping holds goes at exit; the teardown checks the rest. */
static void test_exit_releases(void **state)
{
	struct fixture *f = *state;
	char *p;

	p = tdrv_map(f, PROT_READ, MAP_PRIVATE);
	assert_int_equal(cpu_byte(f->mm, p + 2 * PAGE_SIZE), 'C');
	uhmm_mm_exit(f->mm);
	f->mm = NULL;
	assert_int_equal(atomic_load(&f->drv.closes), 1);
	for (int i = 0; i < NPAGES; i++)
		check_driver_page(f, i, 1, 0);
}

/* MADV_DONTNEED drops the pages; the fault callback brings them back,
 * and a mapping without one faults with SIGBUS. */
static void test_dontneed(void **state)
{
	struct fixture *f = *state;
	char *p, c;

	p = tdrv_map(f, PROT_READ, MAP_SHARED);
	assert_int_equal(uhmm_madvise(f->mm, p, 2 * PAGE_SIZE, MADV_DONTNEED),
			 0);
	check_driver_page(f, 0, 1, 0);
	check_driver_page(f, 1, 1, 0);
	check_driver_page(f, 2, 2, 1);
	assert_null(page_at(f->mm, p));
	assert_int_equal(cpu_byte(f->mm, p + PAGE_SIZE), 'B');
	assert_int_equal(atomic_load(&f->drv.faults), 1);
	check_driver_page(f, 1, 2, 1);

	/* Without vm_ops of its own, nothing can fill the hole. */
	f->drv.with_ops = false;
	p = tdrv_map(f, PROT_READ, MAP_SHARED);
	assert_int_equal(uhmm_madvise(f->mm, p, PAGE_SIZE, MADV_DONTNEED), 0);
	errno = 0;
	assert_int_equal(cpu_access(f->mm, p, &c, 1, 0), -1);
	assert_int_equal(errno, EFAULT);
	assert_int_equal(cpu_byte(f->mm, p + PAGE_SIZE), 'B');
	assert_int_equal(uhmm_munmap(f->mm, p, SIZE), 0);
	pthread_mutex_init(&f->drv.live_lock, NULL);
	f->drv.with_ops = true;
}

/* ---- CPU writes: copy-on-write ---- */

static void test_private_write_cows(void **state)
{
	struct fixture *f = *state;
	struct page *copy;
	pte_t pte;
	char *p;

	p = tdrv_map(f, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	/* Read-only in a private mapping, though the VMA is writable. */
	pte = pte_at(f->mm, p);
	assert_true(pte_present(pte));
	assert_false(pte_write(pte));
	assert_int_equal(cpu_byte(f->mm, p), 'A');

	cpu_poke(f->mm, p + 5, 'z');
	copy = page_at(f->mm, p);
	assert_ptr_not_equal(copy, f->drv.pages[0]);
	assert_true(PageAnon(copy));
	assert_true(pte_write(pte_at(f->mm, p)));
	assert_int_equal(page_ref_count(copy), 1);
	assert_int_equal(page_mapcount(copy), 1);
	/* The driver's page is untouched and no longer mapped. */
	check_driver_page(f, 0, 1, 0);
	assert_int_equal(((char *)page_address(f->drv.pages[0]))[5], 'A');
	assert_int_equal(cpu_byte(f->mm, p + 5), 'z');
	assert_int_equal(cpu_byte(f->mm, p + 6), 'A');
	/* The others are still the driver's. */
	check_driver_page(f, 1, 2, 1);
	assert_int_equal(rss(f->mm), NPAGES);
	verify_mapcounts(&f->mm, 1);
}

static void test_shared_write_in_place(void **state)
{
	struct fixture *f = *state;
	char *p;

	p = tdrv_map(f, PROT_READ | PROT_WRITE, MAP_SHARED);
	assert_true(pte_write(pte_at(f->mm, p + PAGE_SIZE)));
	cpu_poke(f->mm, p + PAGE_SIZE + 7, 'w');
	assert_ptr_equal(page_at(f->mm, p + PAGE_SIZE), f->drv.pages[1]);
	assert_int_equal(((char *)page_address(f->drv.pages[1]))[7], 'w');
	assert_true(pte_dirty(pte_at(f->mm, p + PAGE_SIZE)));
	check_driver_page(f, 1, 2, 1);
}

/* ---- fork ---- */

static void test_fork_private(void **state)
{
	struct fixture *f = *state;
	struct mm_struct *child, *mms[2];
	struct page *pc, *pp;
	char *p;

	p = tdrv_map(f, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	child = uhmm_fork(f->mm);
	assert_non_null(child);
	assert_int_equal(atomic_load(&f->drv.opens), 1);
	mms[0] = f->mm;
	mms[1] = child;

	/* Both map the driver's pages, read-only. */
	for (int i = 0; i < NPAGES; i++) {
		check_driver_page(f, i, 3, 2);
		assert_ptr_equal(page_at(child, p + i * PAGE_SIZE),
				 f->drv.pages[i]);
		assert_false(pte_write(pte_at(child, p + i * PAGE_SIZE)));
	}
	assert_int_equal(cpu_byte(child, p + 2 * PAGE_SIZE), 'C');
	verify_mapcounts(mms, 2);

	/* A write on either side copies. */
	cpu_poke(child, p, 'c');
	pc = page_at(child, p);
	assert_ptr_not_equal(pc, f->drv.pages[0]);
	assert_true(PageAnon(pc));
	check_driver_page(f, 0, 2, 1);
	cpu_poke(f->mm, p, 'p');
	pp = page_at(f->mm, p);
	assert_ptr_not_equal(pp, f->drv.pages[0]);
	assert_ptr_not_equal(pp, pc);
	check_driver_page(f, 0, 1, 0);
	assert_int_equal(cpu_byte(child, p), 'c');
	assert_int_equal(cpu_byte(f->mm, p), 'p');
	assert_int_equal(((char *)page_address(f->drv.pages[0]))[0], 'A');
	verify_mapcounts(mms, 2);

	uhmm_mm_exit(child);
	assert_int_equal(atomic_load(&f->drv.closes), 1);
	check_driver_page(f, 1, 2, 1);
}

static void test_fork_shared(void **state)
{
	struct fixture *f = *state;
	struct mm_struct *child;
	char *p;

	p = tdrv_map(f, PROT_READ | PROT_WRITE, MAP_SHARED);
	child = uhmm_fork(f->mm);
	assert_non_null(child);
	/* Copied at fork, not faulted again: the same pages. */
	for (int i = 0; i < NPAGES; i++) {
		check_driver_page(f, i, 3, 2);
		assert_ptr_equal(page_at(child, p + i * PAGE_SIZE),
				 f->drv.pages[i]);
	}
	cpu_poke(child, p + 3 * PAGE_SIZE, 's');
	assert_int_equal(cpu_byte(f->mm, p + 3 * PAGE_SIZE), 's');
	assert_int_equal(atomic_load(&f->drv.faults), 0);
	uhmm_mm_exit(child);
	for (int i = 0; i < NPAGES; i++)
		check_driver_page(f, i, 2, 1);
	assert_int_equal(atomic_load(&f->drv.opens), 1);
	assert_int_equal(atomic_load(&f->drv.closes), 1);
}

/* A VMA without vm_ops->open or close: fork and exit still balance
 * the pages (dmirror's mapping is one). */
static void test_fork_dmirror(void **state)
{
	struct fixture *f = *state;
	struct dmirror *d = dmirror_open(f->mm, 0);
	struct mm_struct *child;
	struct page *page;
	char *p;

	assert_non_null(d);
	p = dmirror_mmap(d, NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE);
	assert_ptr_not_equal(p, MAP_FAILED);
	page = page_at(f->mm, p);
	assert_int_equal(page_ref_count(page), 1);
	child = uhmm_fork(f->mm);
	assert_non_null(child);
	assert_int_equal(page_ref_count(page), 2);
	assert_int_equal(page_mapcount(page), 2);
	cpu_poke(child, p, 1);
	assert_int_equal(page_mapcount(page), 1);
	assert_int_equal(cpu_byte(f->mm, p), 0);
	uhmm_mm_exit(child);
	assert_int_equal(page_ref_count(page), 1);
	dmirror_close(d);
}

/* ---- mprotect ---- */

static void test_mprotect(void **state)
{
	struct fixture *f = *state;
	struct mm_struct *mms[1] = { f->mm };
	char *p, *s, c = 'q';

	/* Private: read-only forbids the write; writable again, it
	 * copies. */
	p = tdrv_map(f, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	assert_int_equal(uhmm_mprotect(f->mm, p, PAGE_SIZE, PROT_READ), 0);
	assert_int_equal(atomic_load(&f->drv.opens), 1);
	assert_int_equal(cpu_access(f->mm, p, &c, 1, 1), -1);
	assert_int_equal(errno, EFAULT);
	assert_int_equal(uhmm_mprotect(f->mm, p, PAGE_SIZE,
				       PROT_READ | PROT_WRITE), 0);
	/* Not merged back: the driver counts its VMAs. */
	assert_int_equal(f->mm->map_count, 2);
	cpu_poke(f->mm, p, 'q');
	assert_ptr_not_equal(page_at(f->mm, p), f->drv.pages[0]);
	check_driver_page(f, 0, 1, 0);

	/* Shared: writable PTEs are write-protected, and writable again
	 * in place. */
	s = tdrv_map(f, PROT_READ | PROT_WRITE, MAP_SHARED);
	cpu_poke(f->mm, s + PAGE_SIZE, 'r');
	assert_true(pte_write(pte_at(f->mm, s + PAGE_SIZE)));
	assert_int_equal(uhmm_mprotect(f->mm, s, SIZE, PROT_READ), 0);
	assert_false(pte_write(pte_at(f->mm, s + PAGE_SIZE)));
	assert_int_equal(cpu_access(f->mm, s + PAGE_SIZE, &c, 1, 1), -1);
	assert_int_equal(uhmm_mprotect(f->mm, s, SIZE,
				       PROT_READ | PROT_WRITE), 0);
	cpu_poke(f->mm, s + PAGE_SIZE, 't');
	assert_ptr_equal(page_at(f->mm, s + PAGE_SIZE), f->drv.pages[1]);
	assert_int_equal(((char *)page_address(f->drv.pages[1]))[0], 't');
	verify_mapcounts(mms, 1);

	/* A driver that clears VM_MAYWRITE is never made writable. */
	f->drv.clear_flags = VM_MAYWRITE;
	f->drv.insert = false;
	p = tdrv_map(f, PROT_READ, MAP_SHARED);
	assert_int_equal(uhmm_mprotect(f->mm, p, SIZE, PROT_READ | PROT_WRITE),
			 -1);
	assert_int_equal(errno, EACCES);
}

/* ---- the fault callback ---- */

static void test_fault_inserts(void **state)
{
	struct fixture *f = *state;
	struct page *copy;
	char *p;

	f->drv.insert = false;
	f->drv.set_flags = VM_MIXEDMAP;
	p = tdrv_map(f, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	assert_null(page_at(f->mm, p));
	assert_int_equal(snapshot_one(f->mm, p), HMM_DMIRROR_PROT_NONE);
	assert_int_equal(atomic_load(&f->drv.faults), 0);

	/* A CPU read: one fault, the driver's page, read-only. */
	assert_int_equal(cpu_byte(f->mm, p + 2 * PAGE_SIZE), 'C');
	assert_int_equal(atomic_load(&f->drv.faults), 1);
	check_driver_page(f, 2, 2, 1);
	assert_false(pte_write(pte_at(f->mm, p + 2 * PAGE_SIZE)));
	assert_int_equal(cpu_byte(f->mm, p + 2 * PAGE_SIZE + 1), 'C');
	assert_int_equal(atomic_load(&f->drv.faults), 1);

	/* A CPU write: the fault inserts, the retry copies. */
	cpu_poke(f->mm, p + PAGE_SIZE, 'w');
	assert_int_equal(atomic_load(&f->drv.faults), 2);
	copy = page_at(f->mm, p + PAGE_SIZE);
	assert_true(PageAnon(copy));
	check_driver_page(f, 1, 1, 0);
	assert_int_equal(cpu_byte(f->mm, p + PAGE_SIZE + 1), 'B');

	/* A device read faults it in too. */
	{
		struct dmirror *d = dmirror_open(f->mm, 0);
		char *buf = malloc(PAGE_SIZE);
		uint64_t cpages = 0;

		assert_non_null(d);
		assert_int_equal(dmirror_run1(d, HMM_DMIRROR_READ, p, buf, 1,
					      &cpages), 0);
		assert_int_equal(cpages, 1);
		assert_int_equal(buf[100], 'A');
		assert_int_equal(atomic_load(&f->drv.faults), 3);
		check_driver_page(f, 0, 2, 1);
		/* A device write breaks COW as the CPU's does. */
		memset(buf, 'd', PAGE_SIZE);
		assert_int_equal(dmirror_run1(d, HMM_DMIRROR_WRITE,
					      p + 3 * PAGE_SIZE, buf, 1,
					      &cpages), 0);
		assert_int_equal(cpu_byte(f->mm, p + 3 * PAGE_SIZE), 'd');
		check_driver_page(f, 3, 1, 0);
		assert_int_equal(((char *)page_address(f->drv.pages[3]))[0],
				 'D');
		dmirror_close(d);
		free(buf);
	}
	assert_int_equal(atomic_load(&f->drv.fault_errors), 0);
	verify_mapcounts(&f->mm, 1);
}

static void test_fault_returns_page(void **state)
{
	struct fixture *f = *state;
	char *p, *s;

	f->drv.insert = false;
	f->drv.fault_mode = TDRV_FAULT_PAGE;
	s = tdrv_map(f, PROT_READ | PROT_WRITE, MAP_SHARED);
	assert_int_equal(cpu_byte(f->mm, s + PAGE_SIZE), 'B');
	check_driver_page(f, 1, 2, 1);
	/* Mapped clean and read-only; a write makes it writable, in
	 * place. */
	assert_false(pte_write(pte_at(f->mm, s + PAGE_SIZE)));
	cpu_poke(f->mm, s + PAGE_SIZE, 'S');
	assert_ptr_equal(page_at(f->mm, s + PAGE_SIZE), f->drv.pages[1]);
	assert_int_equal(((char *)page_address(f->drv.pages[1]))[0], 'S');

	/* Private: a write fault maps a copy straight away. */
	p = tdrv_map(f, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	cpu_poke(f->mm, p + 2 * PAGE_SIZE, 'P');
	assert_true(PageAnon(page_at(f->mm, p + 2 * PAGE_SIZE)));
	check_driver_page(f, 2, 1, 0);
	assert_int_equal(cpu_byte(f->mm, p + 2 * PAGE_SIZE + 1), 'C');
	verify_mapcounts(&f->mm, 1);
}

static void test_fault_errors(void **state)
{
	struct fixture *f = *state;
	uint64_t cpages = 0;
	struct dmirror *d;
	char *p, c, buf[PAGE_SIZE];

	/* MAP_POPULATE asks the callback for every page. */
	f->drv.insert = false;
	f->drv.set_flags = VM_MIXEDMAP;
	p = tdrv_map(f, PROT_READ, MAP_SHARED | MAP_POPULATE);
	assert_int_equal(atomic_load(&f->drv.faults), NPAGES);
	for (int i = 0; i < NPAGES; i++)
		check_driver_page(f, i, 2, 1);
	assert_int_equal(uhmm_munmap(f->mm, p, SIZE), 0);
	f->drv.set_flags = 0;

	/* The callback says SIGBUS: the CPU faults, the device gets
	 * -EFAULT. */
	f->drv.insert = false;
	f->drv.fault_mode = TDRV_FAULT_SIGBUS;
	p = tdrv_map(f, PROT_READ, MAP_SHARED);
	assert_int_equal(cpu_access(f->mm, p, &c, 1, 0), -1);
	assert_int_equal(errno, EFAULT);
	d = dmirror_open(f->mm, 0);
	assert_non_null(d);
	assert_int_equal(dmirror_run1(d, HMM_DMIRROR_READ, p, buf, 1,
				      &cpages), -EFAULT);
	dmirror_close(d);

	/* A fault callback cannot set VM_MIXEDMAP: mmap_lock is held for
	 * read only. */
	f->drv.fault_mode = TDRV_FAULT_INSERT;
	p = tdrv_map(f, PROT_READ, MAP_SHARED);
	assert_int_equal(cpu_access(f->mm, p, &c, 1, 0), -1);
	assert_int_equal(atomic_load(&f->drv.fault_errors), 1);
	assert_false(vma_at(f->mm, p)->vm_flags & VM_MIXEDMAP);
	check_driver_page(f, 0, 1, 0);
}

/*
 * CPU threads race to fault the same pages: each is inserted once, the
 * losers' vm_insert_page() get -EBUSY. Through uhmm_access() in both
 * runs: through pointers, a thread's load from a page that another
 * thread's fault mapped is ordered by the host MMU, which ThreadSanitizer
 * cannot see.
 */
struct race_arg {
	struct mm_struct *mm;
	char *p;
	int bad;
};

static void *race_reader(void *arg)
{
	struct race_arg *a = arg;

	for (int round = 0; round < 50; round++)
		for (int i = 0; i < NPAGES; i++) {
			char c = 0;

			if (uhmm_access(a->mm, a->p + i * PAGE_SIZE + round,
					&c, 1, 0) != 1 || c != 'A' + i)
				a->bad++;
		}
	return NULL;
}

static void test_fault_race(void **state)
{
	struct fixture *f = *state;
	struct race_arg args[4];
	pthread_t threads[4];

	f->drv.insert = false;
	f->drv.set_flags = VM_MIXEDMAP;
	for (int round = 0; round < 20; round++) {
		char *p = tdrv_map(f, PROT_READ, MAP_SHARED);

		for (int t = 0; t < 4; t++) {
			args[t] = (struct race_arg){ .mm = f->mm, .p = p };
			assert_int_equal(pthread_create(&threads[t], NULL,
							race_reader, &args[t]),
					 0);
		}
		for (int t = 0; t < 4; t++) {
			assert_int_equal(pthread_join(threads[t], NULL), 0);
			assert_int_equal(args[t].bad, 0);
		}
		for (int i = 0; i < NPAGES; i++)
			check_driver_page(f, i, 2, 1);
		assert_int_equal(uhmm_munmap(f->mm, p, SIZE), 0);
	}
	assert_int_equal(atomic_load(&f->drv.fault_errors), 0);
	assert_true(atomic_load(&f->drv.faults) >= 20 * NPAGES);
}

/* ---- what a device sees ---- */

static void test_snapshot_flags(void **state)
{
	struct fixture *f = *state;
	char *p;

	p = tdrv_map(f, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	assert_int_equal(snapshot_one(f->mm, p), HMM_DMIRROR_PROT_READ);
	cpu_poke(f->mm, p, 1);
	assert_int_equal(snapshot_one(f->mm, p), HMM_DMIRROR_PROT_WRITE);

	p = tdrv_map(f, PROT_READ | PROT_WRITE, MAP_SHARED);
	assert_int_equal(snapshot_one(f->mm, p), HMM_DMIRROR_PROT_WRITE);

	p = tdrv_map(f, PROT_READ, MAP_SHARED);
	assert_int_equal(snapshot_one(f->mm, p), HMM_DMIRROR_PROT_READ);

	p = tdrv_map(f, PROT_NONE, MAP_SHARED);
	assert_int_equal(snapshot_one(f->mm, p), HMM_DMIRROR_PROT_ERROR);
}

/* ---- dmirror_mmap ---- */

static void test_dmirror_mmap(void **state)
{
	struct fixture *f = *state;
	unsigned long npages = 8, size = npages * PAGE_SIZE;
	struct dmirror *d = dmirror_open(f->mm, 0);
	unsigned long free_now = free_pages_now();
	unsigned char *m = malloc(npages);
	char *buf = malloc(size);
	uint64_t cpages = 0;
	char *p;

	assert_non_null(d);
	p = dmirror_mmap(d, NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	assert_ptr_not_equal(p, MAP_FAILED);
	/* One page each, and the page table. */
	assert_true(free_pages_now() <= free_now - npages);
	for (unsigned long i = 0; i < npages; i++) {
		struct page *page = page_at(f->mm, p + i * PAGE_SIZE);

		assert_non_null(page);
		assert_int_equal(page_ref_count(page), 1);
		assert_int_equal(page_mapcount(page), 1);
		assert_false(PageAnon(page));
		assert_false(is_zero_page(page));
	}
	assert_int_equal(dmirror_run1(d, HMM_DMIRROR_SNAPSHOT, p, m, npages,
				      &cpages), 0);
	assert_int_equal(cpages, npages);
	for (unsigned long i = 0; i < npages; i++)
		assert_int_equal(m[i], HMM_DMIRROR_PROT_READ);

	/* Zeroed; the device reads them as they are. */
	memset(buf, 0x5a, size);
	assert_int_equal(dmirror_run1(d, HMM_DMIRROR_READ, p, buf, npages,
				      &cpages), 0);
	assert_int_equal(cpages, npages);
	for (unsigned long i = 0; i < size; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(cpu_byte(f->mm, p + size - 1), 0);

	/* A device write copies; the CPU sees it. */
	memset(buf, 0x33, PAGE_SIZE);
	assert_int_equal(dmirror_run1(d, HMM_DMIRROR_WRITE, p, buf, 1,
				      &cpages), 0);
	assert_int_equal(cpu_byte(f->mm, p + 9), 0x33);
	assert_true(PageAnon(page_at(f->mm, p)));
	cpu_poke(f->mm, p + PAGE_SIZE, 0x44);
	assert_int_equal(dmirror_run1(d, HMM_DMIRROR_SNAPSHOT, p, m, 3,
				      &cpages), 0);
	assert_int_equal(m[0], HMM_DMIRROR_PROT_WRITE);
	assert_int_equal(m[1], HMM_DMIRROR_PROT_WRITE);
	assert_int_equal(m[2], HMM_DMIRROR_PROT_READ);

	/* A driver's mapping is not migrated. */
	assert_int_equal(dmirror_run1(d, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf,
				      1, &cpages), -EINVAL);
	verify_mapcounts(&f->mm, 1);

	/* The mapping outlives the mirror; unmapping frees every page. */
	dmirror_close(d);
	assert_int_equal(cpu_byte(f->mm, p + 2 * PAGE_SIZE), 0);
	assert_int_equal(uhmm_munmap(f->mm, p, size), 0);
	assert_int_equal(rss(f->mm), 0);
	free(m);
	free(buf);
}

static void test_dmirror_mmap_shared(void **state)
{
	struct fixture *f = *state;
	struct dmirror *d = dmirror_open(f->mm, 1);
	char *p, buf[PAGE_SIZE];
	uint64_t cpages = 0;
	struct page *page;

	assert_non_null(d);
	p = dmirror_mmap(d, NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
			 MAP_SHARED);
	assert_ptr_not_equal(p, MAP_FAILED);
	page = page_at(f->mm, p);
	assert_int_equal(snapshot_one(f->mm, p), HMM_DMIRROR_PROT_WRITE);
	memset(buf, 0x77, sizeof(buf));
	assert_int_equal(dmirror_run1(d, HMM_DMIRROR_WRITE, p, buf, 1,
				      &cpages), 0);
	/* In place: the device wrote the driver's own page. */
	assert_ptr_equal(page_at(f->mm, p), page);
	assert_int_equal(cpu_byte(f->mm, p + 100), 0x77);
	dmirror_close(d);
	/* The teardown's exit frees it. */
}

static void test_dmirror_mmap_errors(void **state)
{
	struct fixture *f = *state;
	struct dmirror *d = dmirror_open(f->mm, 0);
	struct uhmm_meminfo mi;
	unsigned long free_now;
	struct mm_struct *mm2;
	char *p;

	assert_non_null(d);
	errno = 0;
	assert_ptr_equal(dmirror_mmap(NULL, NULL, PAGE_SIZE, PROT_READ,
				      MAP_PRIVATE), MAP_FAILED);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_ptr_equal(dmirror_mmap(d, NULL, PAGE_SIZE, PROT_READ,
				      MAP_PRIVATE | MAP_ANONYMOUS), MAP_FAILED);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_ptr_equal(dmirror_mmap(d, NULL, 0, PROT_READ, MAP_PRIVATE),
			 MAP_FAILED);
	assert_int_equal(errno, EINVAL);
	p = dmirror_mmap(d, NULL, PAGE_SIZE, PROT_READ, MAP_PRIVATE);
	assert_ptr_not_equal(p, MAP_FAILED);
	errno = 0;
	assert_ptr_equal(dmirror_mmap(d, p, PAGE_SIZE, PROT_READ,
				      MAP_PRIVATE | MAP_FIXED_NOREPLACE),
			 MAP_FAILED);
	assert_int_equal(errno, EEXIST);

	/* More than all of RAM: ENOMEM, and what was inserted is freed. */
	assert_int_equal(uhmm_meminfo(&mi), 0);
	free_now = free_pages_now();
	errno = 0;
	assert_ptr_equal(dmirror_mmap(d, NULL, (mi.total_pages + 1) * PAGE_SIZE,
				      PROT_READ, MAP_PRIVATE), MAP_FAILED);
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(free_pages_now(), free_now);
	assert_int_equal(f->mm->map_count, 1);
	dmirror_close(d);

	/* A mirror of an mm that has exited. */
	mm2 = uhmm_mm_create();
	assert_non_null(mm2);
	d = dmirror_open(mm2, 0);
	assert_non_null(d);
	uhmm_mm_exit(mm2);
	errno = 0;
	assert_ptr_equal(dmirror_mmap(d, NULL, PAGE_SIZE, PROT_READ,
				      MAP_PRIVATE), MAP_FAILED);
	assert_int_equal(errno, EINVAL);
	dmirror_close(d);
}

/* gup sees the driver's page; FOLL_WRITE on a private mapping copies. */
/* mremap of a driver's mapping: it moves with its pages and grows
 * unless VM_DONTEXPAND; DONTUNMAP leaves the driver a second VMA, which
 * it is told of (teardown checks that opens and closes balance). */
static void test_mremap(void **state)
{
	struct fixture *f = *state;
	char buf[2] = { 0 }, *p, *q, *r;

	p = tdrv_map(f, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	q = uhmm_mremap(f->mm, p, SIZE, SIZE, MREMAP_MAYMOVE |
			MREMAP_DONTUNMAP);
	assert_ptr_not_equal(q, MAP_FAILED);
	assert_int_equal(atomic_load(&f->drv.opens), 1);
	assert_int_equal(cpu_access(f->mm, q + PAGE_SIZE, buf, 1, 0), 1);
	assert_int_equal(buf[0], 'B');
	assert_ptr_equal(page_at(f->mm, q + PAGE_SIZE), f->drv.pages[1]);
	assert_null(page_at(f->mm, p + PAGE_SIZE));
	/* Moved and grown: the driver's fault fills the new tail. */
	r = uhmm_mremap(f->mm, q, SIZE, 2 * SIZE, MREMAP_MAYMOVE);
	assert_ptr_not_equal(r, MAP_FAILED);
	assert_int_equal(cpu_access(f->mm, r, buf, 1, 0), 1);
	assert_int_equal(buf[0], 'A');
	assert_int_equal(uhmm_munmap(f->mm, r, 2 * SIZE), 0);
	assert_int_equal(uhmm_munmap(f->mm, p, SIZE), 0);

	f->drv.set_flags = VM_DONTEXPAND;
	p = tdrv_map(f, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	errno = 0;
	assert_ptr_equal(uhmm_mremap(f->mm, p, SIZE, 2 * SIZE,
				     MREMAP_MAYMOVE), MAP_FAILED);
	assert_int_equal(errno, EFAULT);
	assert_ptr_equal(uhmm_mremap(f->mm, p, SIZE, SIZE, MREMAP_MAYMOVE |
				     MREMAP_DONTUNMAP), MAP_FAILED);
	assert_int_equal(errno, EINVAL);
	/* Shrinking and moving are allowed. */
	q = uhmm_mremap(f->mm, p, SIZE, SIZE / 2, MREMAP_MAYMOVE |
			MREMAP_FIXED, p + 4 * SIZE);
	assert_ptr_equal(q, p + 4 * SIZE);
	assert_int_equal(cpu_access(f->mm, q + PAGE_SIZE, buf, 1, 0), 1);
	assert_int_equal(buf[0], 'B');
	assert_int_equal(cpu_access(f->mm, p, buf, 1, 0), -1);
}

static void test_gup(void **state)
{
	struct fixture *f = *state;
	struct page *pages[NPAGES];
	char *p;

	p = tdrv_map(f, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mmap_read_lock(f->mm);
	assert_int_equal(get_user_pages_remote(f->mm, (unsigned long)p, NPAGES,
					       0, pages), NPAGES);
	mmap_read_unlock(f->mm);
	for (int i = 0; i < NPAGES; i++) {
		assert_ptr_equal(pages[i], f->drv.pages[i]);
		check_driver_page(f, i, 3, 1);
		put_page(pages[i]);
	}
	mmap_read_lock(f->mm);
	assert_int_equal(get_user_pages_remote(f->mm, (unsigned long)p, 1,
					       FOLL_WRITE, pages), 1);
	mmap_read_unlock(f->mm);
	assert_ptr_not_equal(pages[0], f->drv.pages[0]);
	assert_true(PageAnon(pages[0]));
	put_page(pages[0]);
	check_driver_page(f, 0, 1, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_insert_errors),
		T(test_insert_lock),
		T(test_pfnmap),
		T(test_mmap_errors),
		T(test_refcounts_and_munmap),
		T(test_exit_releases),
		T(test_dontneed),
		T(test_private_write_cows),
		T(test_shared_write_in_place),
		T(test_fork_private),
		T(test_fork_shared),
		T(test_fork_dmirror),
		T(test_mprotect),
		T(test_fault_inserts),
		T(test_fault_returns_page),
		T(test_fault_errors),
		T(test_fault_race),
		T(test_snapshot_flags),
		T(test_dmirror_mmap),
		T(test_dmirror_mmap_shared),
		T(test_dmirror_mmap_errors),
		T(test_mremap),
		T(test_gup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
