/* SPDX-License-Identifier: MIT */
/*
 * System RAM: one memfd, pfn N at offset N * PAGE_SIZE, with a direct map
 * of the whole of it and a struct page for every pfn. Set up once by
 * ensure_initialized(); constant afterwards.
 */
#ifndef UHMM_MM_PHYSMEM_H
#define UHMM_MM_PHYSMEM_H

#include "internal.h"

struct system_ram {
	int fd;				/* the memfd */
	char *direct_map;		/* page_address() of pfn 0 */
	struct page *mem_map;		/* struct page of pfn 0 */
	unsigned long nr_pages;
};

extern struct system_ram system_ram;

/* Create the memfd, its direct map and mem_map. 0 or -errno. */
int physmem_init(size_t ram_size);

static inline bool pfn_is_ram(unsigned long pfn)
{
	return pfn < system_ram.nr_pages;
}

static inline bool page_is_ram(const struct page *page)
{
	return page >= system_ram.mem_map &&
	       page < system_ram.mem_map + system_ram.nr_pages;
}

/* Backing memory for device-coherent pagemaps. */
int physmem_backing_create(size_t size, int *fdp, char **addrp);
void physmem_backing_destroy(size_t size, int fd, char *addr);

/* The struct page of a device pfn, or NULL (src/mm/memremap.c). */
struct page *device_pfn_to_page(unsigned long pfn);
/* The last reference to a device page is gone. */
void free_zone_device_page(struct page *page);

/* The buddy allocator: set up over all of RAM (page_alloc.c). */
int page_alloc_init(void);
/* The free block of 2^order pages at pfn, or NULL (page_alloc.c). */
struct page *alloc_pages_at(unsigned long pfn, unsigned int order);
unsigned long free_block_pfn(unsigned int order);
bool pfn_block_free(unsigned long pfn, unsigned int order);

/* Page-table pages in use (page_alloc.c keeps the count). */
void pgtable_page_accounted(long delta);

#endif /* UHMM_MM_PHYSMEM_H */
