/* SPDX-License-Identifier: MIT */
#ifndef UHMM_MM_H
#define UHMM_MM_H

#include <errno.h>

#include <uhmm/compiler.h>
#include <uhmm/err.h>
#include <uhmm/mm_types.h>

UHMM_BEGIN_DECLS

/* ---- address-space lifetime (see struct mm_struct) ---- */

void mmgrab(struct mm_struct *mm);
void mmdrop(struct mm_struct *mm);
void mmget(struct mm_struct *mm);
bool mmget_not_zero(struct mm_struct *mm);
void mmput(struct mm_struct *mm);

/*
 * mmap_lock (a pthread rwlock): readers are page-table walkers and
 * faults, writers change the VMA set. Functions rather than inlines
 * because struct mm_struct holds the lock as a uhmm_rwlock_t.
 */
void mmap_read_lock(struct mm_struct *mm);
bool mmap_read_trylock(struct mm_struct *mm);
void mmap_read_unlock(struct mm_struct *mm);
void mmap_write_lock(struct mm_struct *mm);
void mmap_write_unlock(struct mm_struct *mm);

/* Does this thread hold mmap_lock for write (mmap_assert_write_locked)? */
static inline bool mmap_write_locked_by_me(struct mm_struct *mm)
{
	return __atomic_load_n(&mm->mmap_write_owner, __ATOMIC_RELAXED) ==
	       (unsigned long)pthread_self();
}

/* ---- VMAs (caller holds mmap_lock) ---- */

/* The first VMA with vm_end > addr, or NULL. */
struct vm_area_struct *find_vma(struct mm_struct *mm, unsigned long addr);
/* The VMA that contains addr, or NULL. */
struct vm_area_struct *vma_lookup(struct mm_struct *mm, unsigned long addr);

/* Private anonymous memory: neither a file nor a driver behind it. */
static inline bool vma_is_anonymous(const struct vm_area_struct *vma)
{
	return !vma->vm_file && !vma->vm_ops;
}

/* ---- faults ---- */

/* handle_mm_fault() flags */
#define FAULT_FLAG_WRITE	0x01	/* the access is a write */
#define FAULT_FLAG_USER		0x04	/* the access came from "user mode" */
#define FAULT_FLAG_REMOTE	0x08	/* on behalf of another (a device) */
#define FAULT_FLAG_UNSHARE	0x10	/* break COW without a write */

/* handle_mm_fault() results */
#define VM_FAULT_OOM		0x0001
#define VM_FAULT_SIGBUS		0x0002
#define VM_FAULT_MAJOR		0x0004	/* read from a file */
#define VM_FAULT_SIGSEGV	0x0040
#define VM_FAULT_NOPAGE		0x0100
#define VM_FAULT_RETRY		0x0400	/* waited; the caller retries */
#define VM_FAULT_ERROR		(VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV)

/*
 * A fault being handled: what handle_mm_fault() knows, and what a
 * device's migrate_to_ram() is given (vma, address, flags, page).
 */
struct vm_fault {
	struct vm_area_struct *vma;
	unsigned long address;		/* page aligned */
	unsigned int flags;		/* FAULT_FLAG_* */
	pgoff_t pgoff;			/* in vma->vm_file, or the driver's
					 * offset (vm_pgoff + page index) */
	pmd_t *pmd;			/* the entry over the PTE table */
	pte_t *pte;			/* valid while ptl is held */
	pte_t orig_pte;			/* the PTE when the fault began */
	spinlock_t *ptl;
	struct page *page;		/* migrate_to_ram: the device page;
					 * vm_ops->fault: out, see there */
};

/*
 * Resolve a fault at address in vma: populate the page tables so that
 * the access described by flags can complete. Caller holds
 * mmap_read_lock and has checked that vma permits the access.
 * Returns 0 or VM_FAULT_* bits.
 */
vm_fault_t handle_mm_fault(struct vm_area_struct *vma, unsigned long address,
			   unsigned int flags);

/* The vm_fault_t for an errno of a driver's fault path. */
static inline vm_fault_t vmf_error(int err)
{
	return err == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
}

/* ---- drivers' mappings ---- */

/*
 * What a driver gives the VMAs of its mappings (vma->vm_ops), as the
 * kernel's. Every callback runs with mmap_lock held: open and close for
 * write, fault for read (at least). None may take mmap_lock or touch
 * managed memory.
 *
 * open:  a new VMA now maps the driver's object too: the second half of
 *        a split (munmap, mprotect or madvise of part of the mapping),
 *        the child's copy at uhmm_fork(). Not called for the VMA that
 *        the driver's mmap callback set up.
 * close: a VMA goes (munmap, MAP_FIXED over it, mm exit). Called after
 *        its PTEs are gone, once for every VMA that had open called,
 *        and for the first one. A driver's VMA is never merged with a
 *        neighbour, so no VMA goes without close.
 * fault: a CPU or device access found no PTE at vmf->address. Either
 *        install one (vm_insert_page(); VM_MIXEDMAP must have been set
 *        at mmap time) and return VM_FAULT_NOPAGE, or return 0 with a
 *        page in vmf->page that holds a reference for the caller, which
 *        maps it (a write to a private mapping maps a copy instead); or
 *        VM_FAULT_SIGBUS, VM_FAULT_OOM. A VMA without fault gets
 *        VM_FAULT_SIGBUS: the driver was to fill it at mmap time.
 */
struct vm_operations_struct {
	void (*open)(struct vm_area_struct *vma);
	void (*close)(struct vm_area_struct *vma);
	vm_fault_t (*fault)(struct vm_fault *vmf);
};

/*
 * The driver's half of mmap(2) of its device, the kernel's
 * file->f_op->mmap(file, vma): called by vm_mmap_driver() with
 * mmap_write_lock held and the new VMA in place and still empty
 * (vm_ops: callbacks that do nothing; vm_private_data: NULL). It may set
 * vm_ops, vm_private_data and vm_flags (VM_MIXEDMAP, VM_IO, clear
 * VM_MAYWRITE...), and insert pages (vm_insert_page()). priv is what
 * the driver passed to vm_mmap_driver(), its open file. Returns 0 or a
 * negative errno; on an error the pages inserted are unmapped and the
 * VMA goes without a call to close.
 */
typedef int (*vm_mmap_fn)(void *priv, struct vm_area_struct *vma);

/*
 * Map [addr, addr + len) of mm to a driver: what a driver's own mmap
 * entry point (dmirror_mmap()) calls, as the kernel's vm_mmap() does for
 * a device file. prot and flags as uhmm_mmap() without MAP_ANONYMOUS
 * (exactly one of MAP_SHARED and MAP_PRIVATE; MAP_FIXED,
 * MAP_FIXED_NOREPLACE, MAP_POPULATE); pgoff is the driver's offset of
 * the first page (vmf->pgoff). Takes mmap_write_lock: the caller holds
 * no mmap_lock. Returns the address, or a negative errno cast to
 * unsigned long (IS_ERR_VALUE()): -EINVAL (bad arguments, no mmap
 * callback, addr not usable with MAP_FIXED), -EEXIST (MAP_FIXED_NOREPLACE
 * over a mapping), -EOVERFLOW (pgoff + pages wraps), -ENOMEM, or what
 * mmap returned.
 */
unsigned long vm_mmap_driver(struct mm_struct *mm, unsigned long addr,
			     unsigned long len, int prot, int flags,
			     unsigned long pgoff, vm_mmap_fn mmap,
			     void *priv);

/*
 * Map page at addr of vma, a driver's mapping (the kernel's
 * vm_insert_page()). The PTE takes a reference and a mapcount of its
 * own (the caller keeps its reference and drops it when it is done) and
 * the page counts in the mm's rss, as a file page; unmapping the VMA
 * (munmap, MADV_DONTNEED, exit) drops them, so a page the caller let go
 * is freed with the mapping. The page is mapped read-only in a private
 * mapping, where a write copies it to an anonymous page (copy-on-write),
 * and writable in a shared writable one. The shared zero page may be
 * inserted: it is mapped without a reference, as for anonymous memory.
 *
 * Caller holds mmap_lock: for write if VM_MIXEDMAP is not yet set on the
 * VMA (vm_insert_page() sets it then, as the kernel), for read at least
 * afterwards (a fault callback). Returns 0, -EFAULT (addr outside the
 * VMA), -EINVAL (addr not page aligned; a page that is free, anonymous,
 * a page-table page or device-private memory; a VMA that is not a
 * driver's (anonymous memory, a file) or is VM_PFNMAP; a VMA without
 * VM_MIXEDMAP while mmap_lock is not held for write), -EBUSY
 * (something is mapped at addr already), -ENOMEM (no page table).
 */
int vm_insert_page(struct vm_area_struct *vma, unsigned long addr,
		   struct page *page);

/* ---- pages ---- */

struct page *pfn_to_page(unsigned long pfn);
unsigned long page_to_pfn(const struct page *page);
void *page_address(const struct page *page);
struct page *virt_to_page(const void *addr);

/*
 * Allocate 2^order physically contiguous pages of system RAM (order <=
 * MAX_PAGE_ORDER). The first page holds one reference; free the block
 * with __free_pages() or make each page independent with split_page().
 * NULL when no block of that order is free. Contents are undefined.
 */
struct page *alloc_pages(unsigned int order);
static inline struct page *alloc_page(void)
{
	return alloc_pages(0);
}
/*
 * A page of system RAM for address addr of vma (the kernel's
 * alloc_page_vma()): where it can, the pfn that continues the pages
 * mapped around addr, so that the CPU reaches them through one host
 * mapping. For a driver's migrate_to_ram() and migrations back to system
 * memory. Caller holds mmap_lock. NULL when RAM is out.
 */
struct page *alloc_page_vma(struct vm_area_struct *vma, unsigned long addr);
void __free_pages(struct page *page, unsigned int order);
void split_page(struct page *page, unsigned int order);

static inline void get_page(struct page *page)
{
	__atomic_fetch_add(&page->_refcount, 1, __ATOMIC_RELAXED);
}

/*
 * A reference to a page found by pfn rather than through something that
 * holds one (a PTE under its lock): taken only if the page is in use.
 * Returns false for a free page, or one whose last reference is being
 * dropped: the count never goes back up from zero here, so the free path
 * (and the driver that hands the page out again with
 * zone_device_page_init()) owns it undisturbed.
 */
static inline bool get_page_unless_zero(struct page *page)
{
	int ref = __atomic_load_n(&page->_refcount, __ATOMIC_RELAXED);

	do {
		if (ref == 0)
			return false;
	} while (!__atomic_compare_exchange_n(&page->_refcount, &ref,
			ref + 1, true, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED));
	return true;
}

/* Drop a reference; the last one frees the page. */
void put_page(struct page *page);

static inline int page_ref_count(const struct page *page)
{
	return __atomic_load_n(&page->_refcount, __ATOMIC_SEQ_CST);
}

static inline int page_mapcount(const struct page *page)
{
	return __atomic_load_n(&page->_mapcount, __ATOMIC_SEQ_CST);
}

static inline bool PageAnon(const struct page *page)
{
	return __atomic_load_n(&page->flags, __ATOMIC_SEQ_CST) &
	       (1UL << PG_anon);
}

static inline bool PageDirty(const struct page *page)
{
	return __atomic_load_n(&page->flags, __ATOMIC_SEQ_CST) &
	       (1UL << PG_dirty);
}

/*
 * The page lock, as the kernel's folio lock: held across a migration
 * (setup to finalize) and by make_device_exclusive() until the driver
 * has mapped the page, so that the page cannot change state under
 * them. lock_page() sleeps; never hold a PTL across it.
 */
void lock_page(struct page *page);
bool trylock_page(struct page *page);
void unlock_page(struct page *page);

static inline bool PageLocked(const struct page *page)
{
	return __atomic_load_n(&page->flags, __ATOMIC_SEQ_CST) &
	       (1UL << PG_locked);
}

/* ---- get_user_pages ---- */

#define FOLL_WRITE	(1U << 0)	/* the pages will be written */
#define FOLL_LONGTERM	(1U << 8)	/* pinned for an unbounded time */
#define FOLL_PIN	(1U << 14)	/* set by pin_user_pages_*() */

/*
 * Take a reference on each page of [start, start + nr_pages pages) of
 * mm, faulting it in as a CPU access would (FOLL_WRITE: for writing,
 * breaking copy-on-write). Device-private pages come back to system RAM
 * first. Caller holds mmap_read_lock. Returns the number of pages taken
 * (fewer than asked when a page fails after the first), or -EFAULT (no
 * VMA, or one that does not allow the access), -ENOMEM, -EINVAL (bad
 * flags or start). Drop each page with put_page().
 */
long get_user_pages_remote(struct mm_struct *mm, unsigned long start,
			   unsigned long nr_pages, unsigned int gup_flags,
			   struct page **pages);
/*
 * The same for pins (DMA). FOLL_LONGTERM also moves device-coherent
 * pages to system RAM before pinning them. Release with
 * unpin_user_page(s).
 */
long pin_user_pages_remote(struct mm_struct *mm, unsigned long start,
			   unsigned long nr_pages, unsigned int gup_flags,
			   struct page **pages);
void unpin_user_page(struct page *page);
void unpin_user_pages(struct page **pages, unsigned long npages);

/* The shared zero page: mapped read-only for reads of untouched memory. */
struct page *zero_page(void);
static inline bool is_zero_page(const struct page *page)
{
	return page == zero_page();
}

UHMM_END_DECLS

#endif /* UHMM_MM_H */
