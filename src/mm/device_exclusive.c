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

struct page *make_device_exclusive(struct mm_struct *mm, unsigned long addr,
				   void *owner)
{
	struct mmu_notifier_range range;
	struct vm_area_struct *vma;
	struct page *page;
	spinlock_t *ptl;
	pte_t *ptep, pte;
	pmd_t *pmd;
	long ret;

	addr &= PAGE_MASK;
	vma = vma_lookup(mm, addr);
	/* As GUP with FOLL_WRITE: the VMA must allow the write. */
	if (!vma || !(vma->vm_flags & VM_WRITE))
		return ERR_PTR(-EFAULT);

retry:
	/* As GUP with FOLL_WRITE: the fault breaks copy-on-write, restores
	 * an exclusive entry, brings a device-private page back. */
	ret = get_user_pages_remote(mm, addr, 1, FOLL_WRITE, &page);
	if (ret < 0)
		return ERR_PTR(ret);
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
