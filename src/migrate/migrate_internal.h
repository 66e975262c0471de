/* SPDX-License-Identifier: MIT */
/*
 * What memremap.c, migrate.c (migrate_vma_*) and migrate_device.c
 * (migrate_device_*) share. Not installed.
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

/* ---- memremap.c ---- */

/* The pagemap that holds all of [pfn, pfn + nr), or NULL. Stays valid
 * as long as its driver does not memunmap_pages() it. */
struct dev_pagemap *dev_pagemap_of_range(unsigned long pfn, unsigned long nr);

/* ---- migrate.c ---- */

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
bool set_migration_pte(struct mm_struct *mm, unsigned long addr,
		       pte_t *ptep, struct page *page, bool write);

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
