// SPDX-License-Identifier: MIT
/*
 * Device memory (ZONE_DEVICE): pagemaps of pfns above system RAM, each
 * with an array of struct pages, found by pfn through a small registry.
 *
 * A device page is free at refcount 0 and belongs to its driver then;
 * zone_device_page_init() hands it out with one reference, and the last
 * put_page() gives it back through ops->page_free(). pages_in_use counts
 * the pages in between, so that memunmap_pages() can wait for them.
 */
#include <uhmm/memremap.h>

#include "mm/mm_internal.h"

#define MAX_PAGEMAPS	64

static struct {
	/* Readers: device_pfn_to_page(). Writers: memremap/memunmap. */
	pthread_rwlock_t lock;
	struct dev_pagemap *maps[MAX_PAGEMAPS];	/* lock */
	unsigned int nr;			/* lock */
	unsigned long next_free_pfn;		/* lock; 0: RAM's end */
	/* Broadcast when a pagemap's last page in use is freed. */
	pthread_mutex_t free_lock;
	pthread_cond_t freed;
} registry = {
	.lock = PTHREAD_RWLOCK_INITIALIZER,
	.free_lock = PTHREAD_MUTEX_INITIALIZER,
	.freed = PTHREAD_COND_INITIALIZER,
};

/*
 * pfn_to_page() of device pfns without a lock: the pagemap of each
 * 2 MiB section of device pfns that one pagemap covers whole, as the
 * kernel's vmemmap is found by arithmetic. Set by memremap_pages() before
 * the pagemap's pages can be handed out, cleared by memunmap_pages()
 * after the last one is freed; a caller looks up only a pfn whose page
 * it holds or whose pagemap it owns, so the pagemap it finds is alive.
 * Sections shared by two pagemaps (ranges not 2 MiB aligned) and pfns
 * beyond the table take the registry's lock.
 */
#define SECTION_SHIFT	(PMD_SHIFT - PAGE_SHIFT)
#define NR_SECTIONS	(1UL << 20)		/* 2 TiB of device pfns */

static struct dev_pagemap *_Atomic sections[NR_SECTIONS];

static unsigned long device_pfn_base(void)
{
	return ALIGN_UP(system_ram.nr_pages, 1UL << SECTION_SHIFT);
}

/* Point the sections pgmap covers whole at it, or at NULL. */
static void set_sections(struct dev_pagemap *pgmap, struct dev_pagemap *to)
{
	unsigned long base = device_pfn_base() >> SECTION_SHIFT;
	unsigned long first = ALIGN_UP(pgmap->pfn_first, 1UL << SECTION_SHIFT);
	unsigned long end = ALIGN_DOWN(pgmap->pfn_first + pgmap->nr_pages,
				       1UL << SECTION_SHIFT);

	for (unsigned long pfn = first; pfn < end;
	     pfn += 1UL << SECTION_SHIFT) {
		unsigned long i = (pfn >> SECTION_SHIFT) - base;

		if (i < NR_SECTIONS)
			atomic_store_explicit(&sections[i], to,
					      memory_order_release);
	}
}

int request_free_mem_region(unsigned long size, struct range *range)
{
	unsigned long pfn;
	int err;

	if (!range || !size || !IS_ALIGNED(size, PMD_SIZE))
		return -EINVAL;
	err = ensure_initialized();
	if (err)
		return err;
	pthread_rwlock_wrlock(&registry.lock);
	if (!registry.next_free_pfn)
		registry.next_free_pfn = ALIGN_UP(system_ram.nr_pages,
						  1UL << MAX_PAGE_ORDER);
	pfn = registry.next_free_pfn;
	registry.next_free_pfn += size >> PAGE_SHIFT;
	pthread_rwlock_unlock(&registry.lock);
	range->start = (uint64_t)pfn << PAGE_SHIFT;
	range->end = range->start + size - 1;
	return 0;
}

static bool pagemap_overlaps(unsigned long first, unsigned long nr)
{
	for (unsigned int i = 0; i < registry.nr; i++) {
		struct dev_pagemap *m = registry.maps[i];

		if (first < m->pfn_first + m->nr_pages &&
		    m->pfn_first < first + nr)
			return true;
	}
	return first < system_ram.nr_pages;
}

void *memremap_pages(struct dev_pagemap *pgmap)
{
	unsigned long first, nr;
	bool coherent;
	int err;

	if (!pgmap || !pgmap->ops || !pgmap->ops->page_free ||
	    pgmap->range.end <= pgmap->range.start ||
	    !IS_ALIGNED(pgmap->range.start, PAGE_SIZE) ||
	    !IS_ALIGNED(range_len(&pgmap->range), PAGE_SIZE))
		return ERR_PTR(-EINVAL);
	switch (pgmap->type) {
	case MEMORY_DEVICE_PRIVATE:
		if (!pgmap->ops->migrate_to_ram || !pgmap->owner)
			return ERR_PTR(-EINVAL);
		coherent = false;
		break;
	case MEMORY_DEVICE_COHERENT:
		if (!pgmap->owner)
			return ERR_PTR(-EINVAL);
		coherent = true;
		break;
	default:
		return ERR_PTR(-EINVAL);
	}
	err = ensure_initialized();
	if (err)
		return ERR_PTR(err);

	first = pgmap->range.start >> PAGE_SHIFT;
	nr = range_len(&pgmap->range) >> PAGE_SHIFT;
	pgmap->pages = aligned_alloc(_Alignof(struct page),
				     nr * sizeof(struct page));
	if (!pgmap->pages)
		return ERR_PTR(-ENOMEM);
	memset(pgmap->pages, 0, nr * sizeof(struct page));
	pgmap->vaddr = NULL;
	pgmap->backing_fd = -1;
	if (coherent) {
		err = physmem_backing_create(nr << PAGE_SHIFT,
					     &pgmap->backing_fd, &pgmap->vaddr);
		if (err) {
			free(pgmap->pages);
			return ERR_PTR(err);
		}
	}
	for (unsigned long i = 0; i < nr; i++)
		pgmap->pages[i].pgmap = pgmap;
	pgmap->pfn_first = first;
	pgmap->nr_pages = nr;
	atomic_init(&pgmap->pages_in_use, 0);

	pthread_rwlock_wrlock(&registry.lock);
	err = registry.nr == MAX_PAGEMAPS ? -ENOMEM :
	      pagemap_overlaps(first, nr) ? -EINVAL : 0;
	if (!err) {
		registry.maps[registry.nr++] = pgmap;
		set_sections(pgmap, pgmap);
	}
	pthread_rwlock_unlock(&registry.lock);
	if (err) {
		if (coherent)
			physmem_backing_destroy(nr << PAGE_SHIFT,
						pgmap->backing_fd, pgmap->vaddr);
		free(pgmap->pages);
		pgmap->pages = NULL;
		return ERR_PTR(err);
	}
	return pgmap->vaddr;
}

void memunmap_pages(struct dev_pagemap *pgmap)
{
	pthread_mutex_lock(&registry.free_lock);
	while (atomic_load(&pgmap->pages_in_use))
		pthread_cond_wait(&registry.freed, &registry.free_lock);
	pthread_mutex_unlock(&registry.free_lock);

	pthread_rwlock_wrlock(&registry.lock);
	set_sections(pgmap, NULL);
	for (unsigned int i = 0; i < registry.nr; i++) {
		if (registry.maps[i] == pgmap) {
			registry.maps[i] = registry.maps[--registry.nr];
			break;
		}
	}
	pthread_rwlock_unlock(&registry.lock);

	if (pgmap->type == MEMORY_DEVICE_COHERENT)
		physmem_backing_destroy(pgmap->nr_pages << PAGE_SHIFT,
					pgmap->backing_fd, pgmap->vaddr);
	free(pgmap->pages);
	pgmap->pages = NULL;
	pgmap->vaddr = NULL;
	pgmap->backing_fd = -1;
}

struct page *device_pfn_to_page(unsigned long pfn)
{
	unsigned long sec = (pfn >> SECTION_SHIFT) -
			    (device_pfn_base() >> SECTION_SHIFT);
	struct page *page = NULL;

	if (pfn >= device_pfn_base() && sec < NR_SECTIONS) {
		struct dev_pagemap *m = atomic_load_explicit(&sections[sec],
						memory_order_acquire);

		if (m)
			return &m->pages[pfn - m->pfn_first];
	}
	pthread_rwlock_rdlock(&registry.lock);
	for (unsigned int i = 0; i < registry.nr; i++) {
		struct dev_pagemap *m = registry.maps[i];

		if (pfn >= m->pfn_first && pfn - m->pfn_first < m->nr_pages) {
			page = &m->pages[pfn - m->pfn_first];
			break;
		}
	}
	pthread_rwlock_unlock(&registry.lock);
	return page;
}

struct dev_pagemap *dev_pagemap_of_range(unsigned long pfn, unsigned long nr)
{
	struct dev_pagemap *pgmap = NULL;

	pthread_rwlock_rdlock(&registry.lock);
	for (unsigned int i = 0; i < registry.nr; i++) {
		struct dev_pagemap *m = registry.maps[i];

		if (pfn >= m->pfn_first && nr <= m->nr_pages &&
		    pfn - m->pfn_first <= m->nr_pages - nr) {
			pgmap = m;
			break;
		}
	}
	pthread_rwlock_unlock(&registry.lock);
	return pgmap;
}

void zone_device_page_init(struct page *page)
{
	VM_BUG_ON(!is_zone_device_page(page));
	BUG_ON(page_ref_count(page) != 0);
	/* Locked before anyone can take it: without a reference no one
	 * does (get_page_unless_zero() fails), so the lock is a plain
	 * store, and setting the count publishes it. */
	__set_page_flag(page, PG_locked);
	atomic_fetch_add(&page->pgmap->pages_in_use, 1);
	atomic_store_explicit(&page->_refcount, 1, memory_order_release);
}

void free_zone_device_page(struct page *page)
{
	struct dev_pagemap *pgmap = page->pgmap;

	BUG_ON(page_mapcount(page) != 0);
	BUG_ON(PageLocked(page));
	page->mapping = NULL;
	page->index = 0;
	atomic_store_explicit(&page->flags, 0, memory_order_relaxed);
	pgmap->ops->page_free(page);
	if (atomic_fetch_sub(&pgmap->pages_in_use, 1) != 1)
		return;
	/* The last one: memunmap_pages() tests the count under free_lock
	 * before it sleeps, so it is asleep now or sees 0. */
	pthread_mutex_lock(&registry.free_lock);
	pthread_cond_broadcast(&registry.freed);
	pthread_mutex_unlock(&registry.free_lock);
}
