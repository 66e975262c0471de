/* SPDX-License-Identifier: MIT */
/*
 * What migrate.c (migrate_vma_*) and migrate_device.c (migrate_device_*)
 * share. Not installed. Migration entries and pagemaps are src/mm's
 * (src/mm/mm_internal.h).
 *
 * The reverse map of device pages. uhmm has no rmap, but a device page
 * (private or coherent) is only ever mapped where a migration put it,
 * fork copies its mappings to the same address of the child, and
 * mremap moves only a mapping no other mm shares (src/mm/mremap.c gives
 * the mover its own copy first): so every mapping of a device page, in
 * any mm, is at page->index. Whoever maps or moves a device page
 * (migrate_vma_insert_page(), remove_migration_pte(), move_ptes())
 * sets page->index, holding the page lock of that page (a migration
 * destination is handed over locked); the rmap walk reads it holding
 * the page lock too. free_zone_device_page()
 * clears it when no one can hold a reference any more.
 */
#ifndef UHMM_MIGRATE_INTERNAL_H
#define UHMM_MIGRATE_INTERNAL_H

#include <uhmm/migrate.h>

#include "mm/mm_internal.h"

/*
 * The page slot src/dst maps once the migration is over: the new page if
 * it moved, the old one if it did not, NULL if there was none.
 */
static inline struct page *migrate_final_page(unsigned long src,
					      unsigned long dst)
{
	struct page *newpage = migrate_pfn_to_page(dst);
	struct page *page = migrate_pfn_to_page(src);

	if (!page || !(src & MIGRATE_PFN_MIGRATE) || !newpage)
		return page;
	return newpage;
}

/*
 * The body of migrate_vma_pages() and migrate_device_pages(): migrate
 * is NULL for the latter (no VMA, so no empty slot is filled).
 */
void __migrate_device_pages(unsigned long *src_pfns, unsigned long *dst_pfns,
			    unsigned long npages, struct migrate_vma *migrate);

/*
 * The end of migrate_vma_finalize() and migrate_device_finalize(): with
 * migrate, the migration entries of its VMA are replaced here; without,
 * the caller has replaced them already (through the rmap). Then the
 * destination pages are unlocked and dropped, the source pages
 * unlocked (not migrate->fault_page, which its fault unlocks) and the
 * migration's references dropped, and the waiters woken. (With migrate,
 * the page a slot ends up with keeps the migration's or the driver's
 * reference as its PTE's.)
 */
void __migrate_device_finalize(unsigned long *src_pfns,
			       unsigned long *dst_pfns, unsigned long npages,
			       struct migrate_vma *migrate);

#endif /* UHMM_MIGRATE_INTERNAL_H */
