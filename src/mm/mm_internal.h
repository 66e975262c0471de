/* SPDX-License-Identifier: MIT */
/*
 * What the files of src/mm share among themselves, and with the layers
 * above (src/hmm, src/migrate) and the host binding (src/cpu). Not
 * installed.
 */
#ifndef UHMM_MM_INTERNAL_H
#define UHMM_MM_INTERNAL_H

#include "mm/pgtable.h"

/* ---- vma.c: the sorted VMA array (mmap_lock) ---- */

struct vm_area_struct *vm_area_alloc(struct mm_struct *mm);
struct vm_area_struct *vm_area_dup(struct vm_area_struct *orig);
void vm_area_free(struct vm_area_struct *vma);
/* Tell the driver of a new copy of its VMA (vm_ops->open). Write lock. */
void vma_open(struct vm_area_struct *vma);
/* A VMA that leaves its mm for good: vm_ops->close, then free. Write
 * lock, the VMA out of the array and its PTEs gone. */
void remove_vma(struct vm_area_struct *vma);
/* The callbacks (none) of a driver's VMA before its mmap sets any. */
extern const struct vm_operations_struct vma_dummy_vm_ops;

/* Index of the first VMA with vm_end > addr (map_count if none). */
unsigned int vma_index(struct mm_struct *mm, unsigned long addr);
/* Room for n more VMAs, so that a later insert cannot fail. */
int vma_reserve(struct mm_struct *mm, unsigned int n);
/* Insert at its place; room must have been reserved. Write lock. */
void vma_insert(struct mm_struct *mm, struct vm_area_struct *vma);
/* Remove from the array (not freed). Write lock. */
void vma_remove(struct mm_struct *mm, struct vm_area_struct *vma);
/*
 * Split vma at addr (page aligned, strictly inside): vma keeps
 * [vm_start, addr), a new VMA gets [addr, vm_end) (and vm_ops->open).
 * Returns 0 or -ENOMEM. Write lock.
 */
int split_vma(struct mm_struct *mm, struct vm_area_struct *vma,
	      unsigned long addr);
/* Merge vma with its neighbours where they are compatible. Write lock. */
void vma_merge_neighbours(struct mm_struct *mm, struct vm_area_struct *vma);
/* A free range of len bytes, aligned, or 0. */
unsigned long get_unmapped_area(struct mm_struct *mm, unsigned long hint,
				unsigned long len);
/* Split VMAs so that start and end fall on VMA boundaries. 0 or -ENOMEM
 * (then nothing changed). Write lock. */
int vma_split_range(struct mm_struct *mm, unsigned long start,
		    unsigned long end);

/* ---- anon_block.c ---- */

/* The order of the block a fault on private anonymous memory fills
 * (0 for one page). The PTEs are read without the PTL. */
unsigned int anon_fault_order(struct vm_fault *vmf);
/* 2^order pages (split) for the block at start of vma, placed in line
 * with the pages mapped around it where RAM allows; NULL if none.
 * pmd: the block's PTE table, or NULL. Under mmap_lock. */
struct page *alloc_pages_in_line(struct vm_area_struct *vma, pmd_t *pmd,
				 unsigned long start, unsigned int order,
				 unsigned long max_dist);

/* ---- mmu_gather.c ---- */

/*
 * Pages whose PTEs were cleared wait here until the range has been
 * flushed; only then is their reference dropped (as the kernel's
 * mmu_gather), so no CPU can reach a page after it is freed.
 */
#define MMU_GATHER_BATCH	PTRS_PER_PTE
struct mmu_gather {
	struct mm_struct *mm;
	unsigned long start, end;	/* range to flush; start >= end: none */
	unsigned int nr;
	struct page *pages[MMU_GATHER_BATCH];
};

void tlb_gather_mmu(struct mmu_gather *tlb, struct mm_struct *mm);
void tlb_flush_mmu(struct mmu_gather *tlb);
void tlb_finish_mmu(struct mmu_gather *tlb);

/* The cleared PTE at addr joins the range to flush. */
static inline void tlb_track_range(struct mmu_gather *tlb, unsigned long addr)
{
	tlb->start = min(tlb->start, addr);
	tlb->end = max(tlb->end, addr + PAGE_SIZE);
}

/* ---- memory.c ---- */

/* Clear the PTEs of [start, end) inside vma. Caller holds mmap_lock. */
void zap_page_range(struct mmu_gather *tlb, struct vm_area_struct *vma,
		    unsigned long start, unsigned long end);

/* Copy the PTEs of a VMA at fork. 0 or -ENOMEM. */
int copy_page_range(struct vm_area_struct *dst_vma,
		    struct vm_area_struct *src_vma);

/* The struct page a present PTE maps, or NULL for special PTEs. */
struct page *vm_normal_page(struct vm_area_struct *vma, unsigned long addr,
			    pte_t pte);

/* ---- mprotect.c ---- */

/* Write-protect or restore PTEs after a protection change. */
void change_protection(struct vm_area_struct *vma, unsigned long start,
		       unsigned long end, unsigned long newflags);

/* ---- mmap.c ---- */

/* Unmap [start, end). Write lock held. 0 or -ENOMEM (nothing changed). */
int do_munmap(struct mm_struct *mm, unsigned long start, unsigned long end);
/* Tear down every mapping at the last mmput. */
void exit_mmap(struct mm_struct *mm);

/* Argument checks shared by munmap/mprotect/madvise/msync: 0 or -EINVAL. */
int check_user_range(struct mm_struct *mm, unsigned long start, size_t len);

/* ---- mm.c ---- */

/* A new mm with one mm_users reference, on the mm list. */
struct mm_struct *mm_alloc(void);

/*
 * Visit every mm that may map a page, without any mmap_lock (the
 * device-page rmap walk of src/migrate/migrate_device.c):
 *
 *	for (mm = mmlist_next(NULL); mm; mm = mmlist_next(mm))
 *
 * Each mm returned carries an mm_count reference (its struct, pgd and
 * notifier subscriptions stay) that the next call drops; leaving the loop
 * early, drop it with mmdrop(). mms created meanwhile are added at the
 * tail and visited too, so a fork child comes after its parent. An mm
 * whose mm_users is zero is still visited until its struct goes: its
 * page tables may still be being torn down. Takes mmlist_lock, a leaf.
 */
struct mm_struct *mmlist_next(struct mm_struct *prev);

/* ---- pgtable.c: PTEs of an mm whose mmap_lock is not held ---- */

/*
 * The PTE at addr with its table's PTL held, for a walker without
 * mmap_lock (the device-page rmap walk): mm->pgtable_free_lock is held
 * for read so that free_pgtables() cannot free the table meanwhile. The
 * caller holds mm_count. NULL (nothing held) if no PTE table is there.
 * Never call with a PTL held; release with rmap_pte_unlock().
 */
pte_t *rmap_pte_lock(struct mm_struct *mm, unsigned long addr,
		     spinlock_t **ptlp);
void rmap_pte_unlock(struct mm_struct *mm, pte_t *ptep, spinlock_t *ptl);

/* ---- page_lock.c ---- */

/* A fault that found page locked behind the PTE whose lock ptl it holds:
 * sleep until the page is unlocked, holding neither its lock nor a
 * reference, and drop ptl. The caller then retries the fault. */
void wait_on_page_locked_ptl(struct page *page, spinlock_t *ptl);

/* ---- memremap.c ---- */

/* The pagemap that holds all of [pfn, pfn + nr), or NULL. Stays valid
 * as long as its driver does not memunmap_pages() it. */
struct dev_pagemap *dev_pagemap_of_range(unsigned long pfn, unsigned long nr);

/* ---- migrate.c: migration entries ---- */

/* Wake the faults waiting for migration entries to go (after any
 * migration entry was replaced or restored). */
void migration_entries_removed(void);

/*
 * Replace the PTE at addr (PTL held) that maps page with a migration
 * entry, writable if the mapping was, young if it was; the mapping's
 * mapcount goes, and its reference and rss are the caller's to drop (or
 * to keep, as the migration's reference). Returns whether the old PTE
 * was present and young: only such a PTE may be mapped in the host
 * (src/cpu/tlb.c), and the caller flushes it before anyone copies the
 * page.
 */
static inline bool set_migration_pte(struct mm_struct *mm,
				     unsigned long addr, pte_t *ptep,
				     struct page *page, bool write)
{
	pte_t old = ptep_get_and_clear(mm, addr, ptep);
	swp_entry_t entry = make_migration_entry(page_to_pfn(page), write);
	bool young = pte_present(old) && pte_young(old);

	if (young)
		entry = make_migration_entry_young(entry);
	set_pte_at(mm, addr, ptep, swp_entry_to_pte(entry));
	atomic_fetch_sub(&page->_mapcount, 1);
	return young;
}

/*
 * If *ptep (PTL held) is a migration entry for page, replace it with a
 * mapping of newpage (page itself to restore it): a device-private entry
 * for a device-private newpage, a present PTE otherwise, writable if the
 * migration entry was. The mapping gets a reference of its own, its
 * mapcount and rss. Returns false if the entry is something else
 * (zapped meanwhile). The caller holds the page locks of page and
 * newpage.
 */
bool remove_migration_pte(struct mm_struct *mm, unsigned long addr,
			  pte_t *ptep, struct page *page,
			  struct page *newpage);

/*
 * Map newpage at addr (PTL held): a device-private entry for a
 * device-private page, a present PTE otherwise. The mapping gets its
 * mapcount; its reference and rss are the caller's to give. A device
 * page records where it is mapped for the reverse map (the caller holds
 * its page lock).
 */
static inline void set_newpage_pte(struct mm_struct *mm, unsigned long addr,
				   pte_t *ptep, struct page *newpage,
				   bool write, bool young)
{
	unsigned long pfn = page_to_pfn(newpage);
	pte_t pte;

	if (is_device_private_page(newpage))
		pte = swp_entry_to_pte(make_device_private_entry(pfn, write));
	else
		pte = pfn_pte(pfn, (young ? _PAGE_ACCESSED : 0) |
			      (write ? _PAGE_RW | _PAGE_DIRTY : 0));
	if (is_zone_device_page(newpage))
		newpage->index = addr;
	/* The first mapping of a page is a plain store, as the kernel's
	 * folio_add_new_anon_rmap(): an anonymous or device page is mapped
	 * only by the holder of its page lock (us), and a page with no
	 * mapping has none to lose meanwhile. */
	if (!page_mapcount(newpage))
		atomic_store_explicit(&newpage->_mapcount, 1,
				      memory_order_relaxed);
	else
		atomic_fetch_add(&newpage->_mapcount, 1);
	set_pte_at(mm, addr, ptep, pte);
}

/* Is pte (PTL held) still page's migration entry? */
static inline bool is_migration_pte_of(pte_t pte, const struct page *page)
{
	swp_entry_t entry = pte_to_swp_entry(pte);

	return is_swap_pte(pte) && is_migration_entry(entry) &&
	       swp_offset(entry) == page_to_pfn(page);
}

/* Replace page's migration entry at addr with a mapping of newpage, as
 * writable and as young as the entry says. */
static inline void map_final_page(struct mm_struct *mm, unsigned long addr,
				  pte_t *ptep, struct page *newpage)
{
	swp_entry_t entry = pte_to_swp_entry(ptep_get(ptep));

	set_newpage_pte(mm, addr, ptep, newpage,
			is_writable_migration_entry(entry),
			is_migration_entry_young(entry));
}

#endif /* UHMM_MM_INTERNAL_H */
