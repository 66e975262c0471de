/* SPDX-License-Identifier: MIT */
/*
 * Migration of anonymous memory between system RAM and device memory,
 * driven by a device driver, as the kernel's migrate_vma_*.
 *
 *   migrate_vma_setup()     collect the pages of [start, end) and replace
 *                           their PTEs with migration entries (CPU faults
 *                           on them wait); src[] says what was taken
 *   (the driver allocates destination pages into dst[] and copies)
 *   migrate_vma_pages()     move each page's place to its destination
 *   migrate_vma_finalize()  map the new pages (or the old ones where
 *                           migration failed) and drop the old ones
 *
 * The caller holds mmap_read_lock from setup until finalize.
 */
#ifndef UHMM_MIGRATE_H
#define UHMM_MIGRATE_H

#include <uhmm/compiler.h>
#include <uhmm/memremap.h>

UHMM_BEGIN_DECLS

#define MIGRATE_PFN_VALID	(1UL << 0)	/* a page is there */
#define MIGRATE_PFN_MIGRATE	(1UL << 1)	/* it is (to be) migrated */
#define MIGRATE_PFN_WRITE	(1UL << 3)	/* it was mapped writable */
#define MIGRATE_PFN_SHIFT	6

static inline unsigned long migrate_pfn(unsigned long pfn)
{
	return (pfn << MIGRATE_PFN_SHIFT) | MIGRATE_PFN_VALID;
}

static inline struct page *migrate_pfn_to_page(unsigned long mpfn)
{
	if (!(mpfn & MIGRATE_PFN_VALID))
		return NULL;
	return pfn_to_page(mpfn >> MIGRATE_PFN_SHIFT);
}

enum migrate_vma_direction {
	MIGRATE_VMA_SELECT_SYSTEM = 1 << 0,
	MIGRATE_VMA_SELECT_DEVICE_PRIVATE = 1 << 1,
	MIGRATE_VMA_SELECT_DEVICE_COHERENT = 1 << 2,
};

struct migrate_vma {
	struct vm_area_struct *vma;
	/*
	 * Both arrays have one entry per page of [start, end). src is
	 * filled by setup: migrate_pfn(pfn) | MIGRATE_PFN_* for a page
	 * taken, MIGRATE_PFN_MIGRATE alone for an empty or zero-page slot
	 * of anonymous memory that may be filled, 0 for a page left alone.
	 * dst is filled by the driver: migrate_pfn() of a page it
	 * allocated, locked and with one reference (finalize unlocks it
	 * and drops the reference), or 0. Pages in src are locked from
	 * setup to finalize.
	 */
	unsigned long *dst;
	unsigned long *src;
	unsigned long cpages;		/* pages setup collected */
	unsigned long npages;		/* pages setup looked at */
	unsigned long start;
	unsigned long end;
	/* Device pages of this owner are selected; MMU_NOTIFY_MIGRATE
	 * carries it so that the initiator can skip its own invalidation. */
	void *pgmap_owner;
	unsigned long flags;		/* MIGRATE_VMA_SELECT_* */
	/* From migrate_to_ram(): the device page the CPU faulted on. */
	struct page *fault_page;
};

/*
 * Returns 0 (cpages may be 0: nothing could be migrated), or -EINVAL for
 * an unaligned or empty range, one outside args->vma, missing arrays, a
 * fault_page that is not device-private, or a driver's mapping
 * (VM_SPECIAL: VM_MIXEDMAP, VM_PFNMAP, VM_IO).
 */
int migrate_vma_setup(struct migrate_vma *args);
void migrate_vma_pages(struct migrate_vma *migrate);
void migrate_vma_finalize(struct migrate_vma *migrate);

/*
 * Migrate device pages by pfn, wherever they are mapped: a driver evicts
 * its memory (device removal, before memunmap_pages()) with these.
 *
 *   migrate_device_range()    for each pfn of [start, start + npages)
 *                             that is in use, take a reference and the
 *                             page lock, and replace every PTE that maps
 *                             it (in any mm) with a migration entry;
 *                             src_pfns[i] is migrate_pfn() |
 *                             MIGRATE_PFN_MIGRATE (| MIGRATE_PFN_WRITE if
 *                             some mapping was writable), or 0 for a free
 *                             page or one another migration holds locked;
 *                             a page that cannot be unmapped (pinned: a
 *                             reference that is not a mapping) keeps its
 *                             mappings and loses MIGRATE_PFN_MIGRATE, but
 *                             stays locked until finalize
 *   (the driver fills dst_pfns with locked pages, one reference each, and
 *    copies the data; 0 where it does not migrate)
 *   migrate_device_pages()    as migrate_vma_pages(), without filling
 *                             empty slots; clears MIGRATE_PFN_MIGRATE
 *                             where dst_pfns[i] is 0
 *   migrate_device_finalize() replace the migration entries with the new
 *                             page (the old one where it did not move),
 *                             unlock and drop both
 *
 * Each mapping hears an MMU_NOTIFY_CLEAR invalidation (no owner) before
 * its PTE is replaced; CPU faults on the migration entries wait until
 * finalize. Mappings zapped or unmapped meanwhile are simply gone.
 * Called without any mmap_lock held (the caller may not hold one: a
 * fault holding it may wait for one of these page locks). Returns 0, or
 * -EINVAL (no src_pfns, npages 0, a range that is not device memory of
 * one pagemap).
 */
int migrate_device_range(unsigned long *src_pfns, unsigned long start,
			 unsigned long npages);
void migrate_device_pages(unsigned long *src_pfns, unsigned long *dst_pfns,
			  unsigned long npages);
void migrate_device_finalize(unsigned long *src_pfns, unsigned long *dst_pfns,
			     unsigned long npages);

UHMM_END_DECLS

#endif /* UHMM_MIGRATE_H */
