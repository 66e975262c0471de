// SPDX-License-Identifier: MIT
/*
 * make_device_exclusive: give a device atomic access to an anonymous
 * page by replacing its PTE with a device-exclusive entry, as the
 * kernel's mm/rmap.c (after the 6.15 rework: one entry type, always
 * writable, the page stays mapped). The way back, restore on a CPU
 * fault or at fork, is in memory.c next to the other entry types.
 */
#include <uhmm/memremap.h>
#include <uhmm/rmap.h>

#include "mm/filemap.h"
#include "mm/mm_internal.h"

/*
 * The page mapped present and writable at addr, with a reference for
 * the caller, faulting for write until there is one (as GUP with
 * FOLL_WRITE: the fault breaks copy-on-write, restores an exclusive
 * entry, brings a device-private page back). Caller holds mmap_read_lock
 * and has checked that vma allows writes.
 */
static struct page *get_page_for_write(struct vm_area_struct *vma,
				       unsigned long addr)
{
	struct mm_struct *mm = vma->vm_mm;

	for (;;) {
		pmd_t *pmd = pte_table_lookup(mm, addr);
		struct page *page = NULL;
		vm_fault_t ret;

		if (pmd) {
			spinlock_t *ptl;
			pte_t *ptep = pte_offset_map_lock(pmd, addr, &ptl);
			pte_t pte = ptep_get(ptep);

			if (pte_present(pte) && pte_write(pte)) {
				page = vm_normal_page(vma, addr, pte);
				if (page)
					get_page(page);
			}
			pte_unmap_unlock(ptep, ptl);
			if (page)
				return page;
			/* Writable and special: nothing a device can own. */
			if (pte_present(pte) && pte_write(pte))
				return ERR_PTR(-EFAULT);
		}
		ret = handle_mm_fault(vma, addr,
				      FAULT_FLAG_WRITE | FAULT_FLAG_REMOTE);
		if (ret & VM_FAULT_OOM)
			return ERR_PTR(-ENOMEM);
		if (ret & VM_FAULT_ERROR)
			return ERR_PTR(-EFAULT);
	}
}

struct page *make_device_exclusive(struct mm_struct *mm, unsigned long addr,
				   void *owner)
{
	struct mmu_notifier_range range;
	struct vm_area_struct *vma;
	struct page *page;
	spinlock_t *ptl;
	pte_t *ptep, pte;
	pmd_t *pmd;

	addr &= PAGE_MASK;
	vma = vma_lookup(mm, addr);
	/* As GUP with FOLL_WRITE: the VMA must allow the write. */
	if (!vma || !(vma->vm_flags & VM_WRITE))
		return ERR_PTR(-EFAULT);

retry:
	page = get_page_for_write(vma, addr);
	if (IS_ERR(page))
		return page;
	/*
	 * Only an anonymous page of system RAM: a page-cache page has
	 * other mappings the entry would not cover, and device memory is
	 * the device's already.
	 */
	if (!PageAnon(page) || is_zone_device_page(page)) {
		put_page(page);
		return ERR_PTR(-EOPNOTSUPP);
	}
	/* The lock keeps a CPU fault from restoring the PTE until the
	 * driver has mapped the page and unlocks it. */
	lock_page(page);

	/* Devices drop their mappings of the page now; the caller skips
	 * its own invalidation by owner. */
	mmu_notifier_range_init_owner(&range, MMU_NOTIFY_EXCLUSIVE,
				      MMU_NOTIFIER_RANGE_BLOCKABLE, mm, addr,
				      addr + PAGE_SIZE, owner);
	mmu_notifier_invalidate_range_start(&range);

	/*
	 * Recheck: the page must still be mapped here writable. A writable
	 * anonymous page has exactly this one mapping, so when the entry
	 * replaces it no CPU can reach the page any more. The PTE table
	 * cannot have gone: that needs mmap_write_lock.
	 */
	pmd = pte_table_lookup(mm, addr);
	ptep = pte_offset_map_lock(pmd, addr, &ptl);
	pte = ptep_get(ptep);
	if (!pte_present(pte) || !pte_write(pte) ||
	    pte_pfn(pte) != page_to_pfn(page)) {
		pte_unmap_unlock(ptep, ptl);
		mmu_notifier_invalidate_range_end(&range);
		unlock_page(page);
		put_page(page);
		goto retry;
	}
	/* Clear and flush first, so that the dirty bit is final. */
	pte = ptep_clear_flush(vma, addr, ptep);
	if (pte_dirty(pte))
		set_page_dirty(page);
	/* The mapcount, the PTE's reference and rss go to the entry. */
	set_pte_at(mm, addr, ptep,
		   swp_entry_to_pte(make_device_exclusive_entry(
				    page_to_pfn(page))));
	pte_unmap_unlock(ptep, ptl);
	mmu_notifier_invalidate_range_end(&range);
	return page;
}
