// SPDX-License-Identifier: MIT
/*
 * migrate_device_*: migrate device pages by pfn, wherever they are
 * mapped, as the kernel's migrate_device_range() and friends. A driver
 * evicts its memory with them before memunmap_pages().
 *
 * No VMA and no mmap_lock: the pages are found by pfn and their mappings
 * through a small reverse map (see migrate_internal.h): every mapping of
 * a device page is at page->index, in any of the mms on the mm list.
 * The walk runs with the page locks of the pages held, so it must not
 * wait for mmap_lock (a fault holding mmap_read_lock may wait for one of
 * those page locks, and a writer queued behind it would block us): each
 * mm is kept by mm_count (mmlist_next()) and its page tables by
 * pgtable_free_lock (rmap_pte_lock()).
 *
 * Lock order (docs/lifetime.md): page locks, then either the mmu
 * notifier callbacks (and what they take) or pgtable_free_lock and then
 * the PTL; no callback runs with pgtable_free_lock or a PTL held.
 * mmlist_lock, taken only to step the list, is a leaf.
 */
#include "migrate/migrate_internal.h"

/* Does pte map the device page at pfn (private entry or present PTE)?
 * *write says whether that mapping is writable. */
static bool pte_maps_device_pfn(pte_t pte, unsigned long pfn, bool *write)
{
	if (pte_present(pte)) {
		*write = pte_write(pte);
		return !pte_special(pte) && pte_pfn(pte) == pfn;
	}
	if (pte_none(pte))
		return false;
	*write = is_writable_device_private_entry(pte_to_swp_entry(pte));
	return is_device_private_entry(pte_to_swp_entry(pte)) &&
	       swp_offset(pte_to_swp_entry(pte)) == pfn;
}

/*
 * Replace mm's mapping of page, if it has one, with a migration entry,
 * as the kernel's try_to_migrate_one(). The PTE is looked at first so
 * that mms that do not map the page hear nothing; the mmu notifier
 * (MMU_NOTIFY_CLEAR, no owner: as in the kernel, and so that the
 * evicting driver drops its own mirror of the page too) runs with no
 * page-table lock held, and the PTE is checked again under its lock.
 */
static void try_to_migrate_one(struct mm_struct *mm, struct page *page,
			       unsigned long *mpfn)
{
	unsigned long pfn = page_to_pfn(page), addr = page->index;
	struct mmu_notifier_range range;
	bool mapped, write;
	spinlock_t *ptl;
	pte_t *ptep, pte;

	ptep = rmap_pte_lock(mm, addr, &ptl);
	if (!ptep)
		return;
	mapped = pte_maps_device_pfn(ptep_get(ptep), pfn, &write);
	rmap_pte_unlock(mm, ptep, ptl);
	if (!mapped)
		return;

	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR,
				MMU_NOTIFIER_RANGE_BLOCKABLE, mm, addr,
				addr + PAGE_SIZE);
	mmu_notifier_invalidate_range_start(&range);
	ptep = rmap_pte_lock(mm, addr, &ptl);
	if (ptep) {
		pte = ptep_get(ptep);
		if (pte_maps_device_pfn(pte, pfn, &write)) {
			bool flush = set_migration_pte(mm, addr, ptep, page,
						       write);

			/* The migration holds a reference of its own. */
			put_page(page);
			atomic_fetch_sub(&mm->rss_pages, 1);

			if (write)
				*mpfn |= MIGRATE_PFN_WRITE;
			/* Before the driver copies: no CPU may still
			 * write the old page. Inside the lock, which keeps
			 * the table that the flush looks at. */
			if (flush)
				flush_tlb_range(mm, addr, addr + PAGE_SIZE);
		}
		rmap_pte_unlock(mm, ptep, ptl);
	}
	mmu_notifier_invalidate_range_end(&range);
}

/*
 * Replace the migration entries left by migrate_device_unmap() with the
 * page each slot ends up with (migrate_final_page()), in every mm. With
 * dst_pfns NULL, only the slots that lost MIGRATE_PFN_MIGRATE are
 * restored to their old page; the others keep their entries.
 *
 * Fork does not copy migration entries (it waits for them to go); had it
 * copied one, the child would be after its parent on the mm list (it is
 * linked before the copy), and found here after the parent's.
 */
static void remove_migration_ptes(unsigned long *src_pfns,
				  unsigned long *dst_pfns, unsigned long npages)
{
	struct mm_struct *mm;

	for (mm = mmlist_next(NULL); mm; mm = mmlist_next(mm)) {
		for (unsigned long i = 0; i < npages; i++) {
			struct page *page = migrate_pfn_to_page(src_pfns[i]);
			struct page *newpage;
			spinlock_t *ptl;
			pte_t *ptep;

			if (!page)
				continue;
			if (!dst_pfns && (src_pfns[i] & MIGRATE_PFN_MIGRATE))
				continue;
			newpage = migrate_final_page(src_pfns[i],
					dst_pfns ? dst_pfns[i] : 0);
			ptep = rmap_pte_lock(mm, page->index, &ptl);
			if (!ptep)
				continue;
			remove_migration_pte(mm, page->index, ptep, page,
					     newpage);
			rmap_pte_unlock(mm, ptep, ptl);
		}
	}
}

/*
 * Unmap every page of src_pfns (locked, with the migration's reference)
 * from every mm. A page that still has mappings or references beyond
 * ours afterwards (pinned) cannot move: its entries are restored and it
 * loses MIGRATE_PFN_MIGRATE, but stays locked until finalize, as one
 * migrate_vma_setup() leaves alone.
 */
static void migrate_device_unmap(unsigned long *src_pfns, unsigned long npages)
{
	unsigned long restore = 0;
	struct mm_struct *mm;

	for (mm = mmlist_next(NULL); mm; mm = mmlist_next(mm)) {
		unsigned long mapped = 0;

		for (unsigned long i = 0; i < npages; i++) {
			struct page *page = migrate_pfn_to_page(src_pfns[i]);

			/* Without a mapping now, a page gets none: every
			 * new one needs the page lock, or copies (fork) a
			 * mapping that would be counted. */
			if (!page || !page_mapcount(page))
				continue;
			try_to_migrate_one(mm, page, &src_pfns[i]);
			mapped += page_mapcount(page) != 0;
		}
		if (!mapped) {
			mmdrop(mm);
			break;
		}
	}

	for (unsigned long i = 0; i < npages; i++) {
		struct page *page = migrate_pfn_to_page(src_pfns[i]);

		if (!page)
			continue;
		/* Our reference is the only one left, and no mapping. */
		if (page_mapcount(page) || page_ref_count(page) != 1) {
			src_pfns[i] &= ~MIGRATE_PFN_MIGRATE;
			restore++;
		}
	}
	if (restore) {
		remove_migration_ptes(src_pfns, NULL, npages);
		migration_entries_removed();
	}
}

int migrate_device_range(unsigned long *src_pfns, unsigned long start,
			 unsigned long npages)
{
	struct dev_pagemap *pgmap;

	if (!src_pfns || !npages || start + npages < start)
		return -EINVAL;
	pgmap = dev_pagemap_of_range(start, npages);
	if (!pgmap)
		return -EINVAL;

	for (unsigned long i = 0; i < npages; i++) {
		struct page *page = &pgmap->pages[start + i - pgmap->pfn_first];

		/* Free: the driver's, nothing to move. */
		if (!get_page_unless_zero(page)) {
			src_pfns[i] = 0;
			continue;
		}
		/* Another migration (or a fault's migrate_to_ram) has it. */
		if (!trylock_page(page)) {
			put_page(page);
			src_pfns[i] = 0;
			continue;
		}
		src_pfns[i] = migrate_pfn(start + i) | MIGRATE_PFN_MIGRATE;
	}
	migrate_device_unmap(src_pfns, npages);
	return 0;
}

void migrate_device_pages(unsigned long *src_pfns, unsigned long *dst_pfns,
			  unsigned long npages)
{
	__migrate_device_pages(src_pfns, dst_pfns, npages, NULL);
}

void migrate_device_finalize(unsigned long *src_pfns, unsigned long *dst_pfns,
			     unsigned long npages)
{
	remove_migration_ptes(src_pfns, dst_pfns, npages);
	__migrate_device_finalize(src_pfns, dst_pfns, npages, NULL);
}
