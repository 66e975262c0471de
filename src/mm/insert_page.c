// SPDX-License-Identifier: MIT
/*
 * vm_insert_page: a driver maps one of its pages into a VMA of its own
 * mapping, as the kernel's mm/memory.c does for drivers that hand
 * memory to user space (VM_MIXEDMAP).
 *
 * The page is counted as a file page would be: the PTE holds a
 * reference and a mapcount, and the page counts in the mm's rss, so
 * that zap (munmap, MADV_DONTNEED, exit) and fork treat it like any
 * mapped page; it has no page->mapping and is never anonymous. The PTE
 * takes the VMA's protection: writable only in a shared writable
 * mapping, read-only in a private one, where a write breaks
 * copy-on-write into an anonymous page (do_wp_page()).
 */
#include <uhmm/memremap.h>

#include "mm/mm_internal.h"

/*
 * Can page be mapped by a driver into vma? 0 or -EINVAL. The zero page
 * only where no write can ever reach it in place: a private mapping
 * (a write copies it) or one that can never be writable (the kernel's
 * vm_mixed_zeropage_allowed()); in a shared writable mapping a write
 * would make the one zero page of every mm writable.
 */
static int validate_page_before_insert(struct vm_area_struct *vma,
				       struct page *page)
{
	if (!page || page_ref_count(page) <= 0)
		return -EINVAL;
	if (is_zero_page(page))
		return (vma->vm_flags & VM_SHARED) &&
		       (vma->vm_flags & (VM_WRITE | VM_MAYWRITE)) ?
		       -EINVAL : 0;
	/*
	 * Anonymous memory belongs to some mm's COW scheme; page tables
	 * and free blocks to the allocator. Device memory is mapped only
	 * by migration: its reverse map (docs/lifetime.md) finds a device
	 * page's mappings at page->index, which an insert would not set.
	 */
	if (PageAnon(page) || test_page_flag(page, PG_table) ||
	    test_page_flag(page, PG_buddy) || is_zone_device_page(page))
		return -EINVAL;
	return 0;
}

/* Is anything holding mmap_lock at all? A cheap precondition check. */
static bool mmap_locked(struct mm_struct *mm)
{
	if (pthread_rwlock_trywrlock(rwlock_of(&mm->mmap_lock)) == 0) {
		pthread_rwlock_unlock(rwlock_of(&mm->mmap_lock));
		return false;
	}
	return true;
}

/* The PTE protection of a page inserted into vma (the kernel's
 * vm_page_prot): writable only where a write needs no copy. */
static uint64_t insert_page_prot(const struct vm_area_struct *vma)
{
	uint64_t bits = _PAGE_ACCESSED;

	if ((vma->vm_flags & (VM_SHARED | VM_WRITE)) ==
	    (VM_SHARED | VM_WRITE))
		bits |= _PAGE_RW;
	return bits;
}

static int insert_page(struct vm_area_struct *vma, unsigned long addr,
		       struct page *page)
{
	struct mm_struct *mm = vma->vm_mm;
	spinlock_t *ptl;
	pte_t *ptep, pte;
	pmd_t *pmd;

	pmd = pte_table_alloc(mm, addr);
	if (!pmd)
		return -ENOMEM;
	ptep = pte_offset_map_lock(pmd, addr, &ptl);
	if (!pte_none(ptep_get(ptep))) {
		pte_unmap_unlock(ptep, ptl);
		return -EBUSY;
	}
	if (is_zero_page(page)) {
		/* As do_anonymous_page() maps it: special, uncounted. */
		pte = pte_mkspecial(pfn_pte(page_to_pfn(page), _PAGE_ACCESSED));
	} else {
		get_page(page);
		atomic_fetch_add(&page->_mapcount, 1);
		atomic_fetch_add(&mm->rss_pages, 1);
		pte = pfn_pte(page_to_pfn(page), insert_page_prot(vma));
	}
	/* The slot was none: no CPU translation to flush. */
	set_pte_at(mm, addr, ptep, pte);
	pte_unmap_unlock(ptep, ptl);
	return 0;
}

int vm_insert_page(struct vm_area_struct *vma, unsigned long addr,
		   struct page *page)
{
	int err;

	if (!vma)
		return -EINVAL;
	VM_BUG_ON(!mmap_locked(vma->vm_mm));
	if (addr < vma->vm_start || addr >= vma->vm_end)
		return -EFAULT;
	if (!IS_ALIGNED(addr, PAGE_SIZE))
		return -EINVAL;
	err = validate_page_before_insert(vma, page);
	if (err)
		return err;
	/* Only a driver's mapping: anonymous memory and files have pages
	 * of their own. */
	if (!vma->vm_ops || (vma->vm_flags & VM_PFNMAP))
		return -EINVAL;
	if (!(vma->vm_flags & VM_MIXEDMAP)) {
		/* Readers of vm_flags hold mmap_lock for read: a flag is set
		 * only under the write lock. The kernel BUGs here; a fault
		 * callback that inserts must find VM_MIXEDMAP set at mmap
		 * time. */
		if (!mmap_write_locked_by_me(vma->vm_mm)) {
			fprintf(stderr, "uhmm: WARNING: vm_insert_page() "
				"on a VMA without VM_MIXEDMAP and without "
				"mmap_write_lock\n");
			return -EINVAL;
		}
		vma->vm_flags |= VM_MIXEDMAP;
	}
	return insert_page(vma, addr, page);
}
