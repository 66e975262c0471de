/* SPDX-License-Identifier: MIT */
/*
 * Device memory: pfns above system RAM with struct pages of their own,
 * registered by a driver with memremap_pages(), as the kernel's
 * ZONE_DEVICE.
 */
#ifndef UHMM_MEMREMAP_H
#define UHMM_MEMREMAP_H

#include <uhmm/compiler.h>
#include <uhmm/err.h>
#include <uhmm/mm.h>

UHMM_BEGIN_DECLS

enum memory_type {
	/* Not addressable by the CPU: a CPU access faults and the owner's
	 * migrate_to_ram() brings the page back to system RAM. */
	MEMORY_DEVICE_PRIVATE = 1,
	/* Addressable by the CPU in place (page_address() works). */
	MEMORY_DEVICE_COHERENT,
};

/* A physical address range, bytes, end inclusive (the kernel's). */
struct range {
	uint64_t start;
	uint64_t end;
};

static inline uint64_t range_len(const struct range *range)
{
	return range->end - range->start + 1;
}

struct dev_pagemap_ops {
	/* A page's last reference was dropped: it is the driver's again. */
	void (*page_free)(struct page *page);
	/* A CPU access hit a device-private page of this pagemap
	 * (vmf->page): migrate it to system RAM. Returns 0 or VM_FAULT_*. */
	vm_fault_t (*migrate_to_ram)(struct vm_fault *vmf);
};

/*
 * One range of device memory. The driver fills type, range, ops and
 * owner; memremap_pages() fills the rest, which the driver only reads.
 */
struct dev_pagemap {
	enum memory_type type;
	struct range range;		/* from request_free_mem_region() */
	const struct dev_pagemap_ops *ops;
	void *owner;			/* matched by dev_private_owner and
					 * pgmap_owner */

	/* ---- set by memremap_pages(), constant until memunmap ---- */
	unsigned long pfn_first;
	unsigned long nr_pages;
	struct page *pages;		/* struct page of pfn_first */
	char *vaddr;			/* coherent: page_address() base */
	int backing_fd;			/* coherent: its memfd; else -1 */
	/* Pages between zone_device_page_init() and their last put. */
	UHMM_ATOMIC(long) pages_in_use;
};

/*
 * Reserve size bytes (a multiple of 2 MiB) of physical address space
 * above system RAM and every earlier reservation, for one pagemap.
 * Returns 0, or -EINVAL for a bad size.
 */
int request_free_mem_region(unsigned long size, struct range *range);

/*
 * Give every pfn of pgmap->range a struct page (and, for coherent
 * memory, CPU-addressable backing). Pages start free (refcount 0): the
 * driver hands one out with zone_device_page_init(). Returns the CPU
 * address of the range for coherent memory, NULL for private memory, or
 * ERR_PTR(-EINVAL) (bad type, ops or range, a range that overlaps RAM or
 * another pagemap), ERR_PTR(-ENOMEM).
 */
void *memremap_pages(struct dev_pagemap *pgmap);

/*
 * Tear a pagemap down. Waits until every page of it has been freed (the
 * driver evicts its pages first, as in the kernel).
 */
void memunmap_pages(struct dev_pagemap *pgmap);

/* A free device page becomes in use, locked, with one reference (the
 * kernel's: a migration destination is handed over locked). */
void zone_device_page_init(struct page *page);

static inline bool is_zone_device_page(const struct page *page)
{
	return page->pgmap != NULL;
}

static inline bool is_device_private_page(const struct page *page)
{
	return page->pgmap && page->pgmap->type == MEMORY_DEVICE_PRIVATE;
}

static inline bool is_device_coherent_page(const struct page *page)
{
	return page->pgmap && page->pgmap->type == MEMORY_DEVICE_COHERENT;
}

UHMM_END_DECLS

#endif /* UHMM_MEMREMAP_H */
