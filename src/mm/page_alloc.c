// SPDX-License-Identifier: MIT
/*
 * The buddy allocator for system RAM: free blocks of 2^order pages,
 * order 0 to MAX_PAGE_ORDER, merged with their buddy when both are free.
 * One zone, one lock.
 */
#include "mm/filemap.h"
#include "mm/physmem.h"
#include "settings.h"

static struct zone {
	spinlock_t lock;
	/* Heads of free blocks, by order; each head has PG_buddy and its
	 * order in page->buddy_order. All under lock. */
	struct cds_list_head free_area[NR_PAGE_ORDERS];
	unsigned long nr_free[NR_PAGE_ORDERS];	/* blocks, by order: lock */
	unsigned long free_pages;		/* pages: lock */
} zone;

static atomic_long nr_pgtable_pages;
static struct page *the_zero_page;

/*
 * Page poisoning (UHMM_DEBUG=poison, as the kernel's page_poison): a
 * freed page is filled with PAGE_POISON and checked when it is handed
 * out again, so a write to a page after it was freed is caught.
 */
#define PAGE_POISON 0xaa

static void poison_pages(struct page *page, unsigned int order)
{
	memset(page_address(page), PAGE_POISON, PAGE_SIZE << order);
}

static void check_poison(struct page *page, unsigned int order)
{
	const unsigned char *p = page_address(page);

	for (size_t i = 0; i < (PAGE_SIZE << order); i++) {
		if (unlikely(p[i] != PAGE_POISON)) {
			fprintf(stderr, "uhmm: pfn %#lx written after free "
				"(byte %zu is %#x)\n",
				page_to_pfn(page) + (i >> PAGE_SHIFT),
				i & (PAGE_SIZE - 1), p[i]);
			BUG_ON(1);
		}
	}
}

static inline unsigned long buddy_pfn(unsigned long pfn, unsigned int order)
{
	return pfn ^ (1UL << order);
}

static inline bool page_is_buddy(struct page *page, unsigned int order)
{
	return test_page_flag(page, PG_buddy) && page->buddy_order == order;
}

static void add_to_free_list(struct page *page, unsigned int order)
{
	__set_page_flag(page, PG_buddy);
	page->buddy_order = order;
	cds_list_add(&page->buddy_list, &zone.free_area[order]);
	zone.nr_free[order]++;
}

static void del_from_free_list(struct page *page, unsigned int order)
{
	cds_list_del(&page->buddy_list);
	/* buddy_list shares its bytes with mapping/index */
	memset(&page->buddy_list, 0, sizeof(page->buddy_list));
	__clear_page_flag(page, PG_buddy);
	page->buddy_order = 0;
	zone.nr_free[order]--;
}

/* Caller holds zone.lock. */
static void __free_one_page(unsigned long pfn, unsigned int order)
{
	zone.free_pages += 1UL << order;
	while (order < MAX_PAGE_ORDER) {
		unsigned long bpfn = buddy_pfn(pfn, order);
		struct page *buddy;

		if (!pfn_is_ram(bpfn))
			break;
		buddy = &system_ram.mem_map[bpfn];
		if (!page_is_buddy(buddy, order))
			break;
		del_from_free_list(buddy, order);
		pfn &= bpfn;
		order++;
	}
	add_to_free_list(&system_ram.mem_map[pfn], order);
}

static void free_pages_prepare(struct page *page, unsigned int order)
{
	for (unsigned long i = 0; i < (1UL << order); i++) {
		struct page *p = page + i;

		BUG_ON(atomic_load(&p->_mapcount) != 0);
		BUG_ON(test_page_flag(p, PG_reserved));
		BUG_ON(test_page_flag(p, PG_buddy));
		BUG_ON(test_page_flag(p, PG_locked));
		BUG_ON(p->mapping != NULL);
		atomic_store_explicit(&p->flags, 0, memory_order_relaxed);
		p->mapping = NULL;
		p->index = 0;
		p->buddy_order = 0;
		p->pgmap = NULL;
		p->zone_device_data = NULL;
	}
}

static void free_pages_ok(struct page *page, unsigned int order)
{
	free_pages_prepare(page, order);
	if (settings->page_poison)
		poison_pages(page, order);
	spin_lock(&zone.lock);
	__free_one_page(page_to_pfn(page), order);
	spin_unlock(&zone.lock);
}

/* A block just taken off the free lists, as its caller gets it. */
static struct page *prep_new_page(struct page *page, unsigned int order)
{
	/* Nobody else knows the page yet: a plain store, as set_page_count(). */
	atomic_store_explicit(&page->_refcount, 1, memory_order_relaxed);
	if (settings->page_poison)
		check_poison(page, order);
	return page;
}

static struct page *__alloc_pages(unsigned int order)
{
	struct page *page = NULL;
	unsigned int cur;

	spin_lock(&zone.lock);
	for (cur = order; cur <= MAX_PAGE_ORDER; cur++) {
		if (!cds_list_empty(&zone.free_area[cur])) {
			page = cds_list_entry(zone.free_area[cur].next,
					      struct page, buddy_list);
			break;
		}
	}
	if (page) {
		del_from_free_list(page, cur);
		/* Give back the upper halves until the block is the size
		 * asked for. */
		while (cur > order) {
			cur--;
			add_to_free_list(page + (1UL << cur), cur);
		}
		zone.free_pages -= 1UL << order;
	}
	spin_unlock(&zone.lock);
	return page ? prep_new_page(page, order) : NULL;
}

/*
 * The first pfn of a free block of at least 2^order pages, or 0 if
 * there is none now: a place to start a run of pages that is likely to
 * stay free for a while (the buddy allocator takes small blocks first).
 */
unsigned long free_block_pfn(unsigned int order)
{
	unsigned long pfn = 0;

	spin_lock(&zone.lock);
	for (unsigned int cur = order; cur <= MAX_PAGE_ORDER && !pfn; cur++)
		if (!cds_list_empty(&zone.free_area[cur]))
			pfn = page_to_pfn(cds_list_entry(
				zone.free_area[cur].next, struct page,
				buddy_list));
	spin_unlock(&zone.lock);
	return pfn;
}

/*
 * The order of the free block that holds the aligned 2^order pages
 * around pfn, with its first pfn in *head; MAX_PAGE_ORDER + 1 if any of
 * them is in use. zone.lock held.
 */
static unsigned int free_block_holding(unsigned long pfn, unsigned int order,
				       unsigned long *head)
{
	unsigned int cur;

	for (cur = order; cur <= MAX_PAGE_ORDER; cur++) {
		*head = ALIGN_DOWN(pfn, 1UL << cur);
		if (page_is_buddy(&system_ram.mem_map[*head], cur))
			break;
	}
	return cur;
}

/* Is the aligned block of 2^order pages around pfn all free now? */
bool pfn_block_free(unsigned long pfn, unsigned int order)
{
	unsigned long head;
	bool free;

	if (!pfn_is_ram(ALIGN_DOWN(pfn, 1UL << order)))
		return false;
	spin_lock(&zone.lock);
	free = free_block_holding(pfn, order, &head) <= MAX_PAGE_ORDER;
	spin_unlock(&zone.lock);
	return free;
}

/*
 * The block of 2^order pages at pfn (aligned to it), cut out of the free
 * block that holds it; NULL if any of it is in use. Lets a fault ask for
 * the pages that follow its neighbour's, so that adjacent addresses get
 * adjacent pfns (one host mapping for many pages, src/cpu/fault.c).
 */
struct page *alloc_pages_at(unsigned long pfn, unsigned int order)
{
	unsigned long nr = 1UL << order, head;
	struct page *page = NULL;
	unsigned int cur;

	if (order > MAX_PAGE_ORDER || !IS_ALIGNED(pfn, nr) ||
	    !pfn_is_ram(pfn) || !pfn_is_ram(pfn + nr - 1))
		return NULL;
	spin_lock(&zone.lock);
	cur = free_block_holding(pfn, order, &head);
	if (cur <= MAX_PAGE_ORDER) {
		del_from_free_list(&system_ram.mem_map[head], cur);
		/* Give back the halves that do not hold pfn. */
		while (cur > order) {
			unsigned long half = 1UL << --cur;

			if (pfn >= head + half) {
				add_to_free_list(&system_ram.mem_map[head], cur);
				head += half;
			} else {
				add_to_free_list(&system_ram.mem_map[head + half],
						 cur);
			}
		}
		zone.free_pages -= nr;
		page = &system_ram.mem_map[pfn];
	}
	spin_unlock(&zone.lock);
	return page ? prep_new_page(page, order) : NULL;
}

struct page *alloc_pages(unsigned int order)
{
	if (order > MAX_PAGE_ORDER || ensure_initialized())
		return NULL;
	return __alloc_pages(order);
}

void __free_pages(struct page *page, unsigned int order)
{
	if (atomic_fetch_sub(&page->_refcount, 1) == 1)
		free_pages_ok(page, order);
}

void split_page(struct page *page, unsigned int order)
{
	for (unsigned long i = 1; i < (1UL << order); i++)
		atomic_store_explicit(&page[i]._refcount, 1,
				      memory_order_relaxed);
}

void put_page(struct page *page)
{
	int old = atomic_fetch_sub_explicit(&page->_refcount, 1,
					    memory_order_acq_rel);

	BUG_ON(old <= 0);
	if (old != 1)
		return;
	if (unlikely(page->pgmap))
		free_zone_device_page(page);
	else
		free_pages_ok(page, 0);
}

struct page *zero_page(void)
{
	return the_zero_page;
}

void pgtable_page_accounted(long delta)
{
	atomic_fetch_add(&nr_pgtable_pages, delta);
}

int page_alloc_init(void)
{
	unsigned long pfn, block = 1UL << MAX_PAGE_ORDER;

	spin_lock_init(&zone.lock);
	for (unsigned int o = 0; o < NR_PAGE_ORDERS; o++)
		CDS_INIT_LIST_HEAD(&zone.free_area[o]);

	if (settings->page_poison)
		memset(system_ram.direct_map, PAGE_POISON,
		       system_ram.nr_pages << PAGE_SHIFT);

	/* RAM is a multiple of the largest block (uhmm_init checks). */
	spin_lock(&zone.lock);
	for (pfn = 0; pfn < system_ram.nr_pages; pfn += block)
		__free_one_page(pfn, MAX_PAGE_ORDER);
	spin_unlock(&zone.lock);

	/* Kept for uhmm's whole life, so taken before anyone counts. */
	the_zero_page = __alloc_pages(0);
	if (!the_zero_page)
		return -ENOMEM;
	memset(page_address(the_zero_page), 0, PAGE_SIZE);
	set_page_flag(the_zero_page, PG_reserved);
	set_page_flag(the_zero_page, PG_uptodate);
	return 0;
}

int uhmm_meminfo(struct uhmm_meminfo *mi)
{
	int err;

	if (!mi)
		return -EINVAL;
	err = ensure_initialized();
	if (err)
		return err;

	memset(mi, 0, sizeof(*mi));
	mi->total_pages = system_ram.nr_pages;
	spin_lock(&zone.lock);
	mi->free_pages = zone.free_pages;
	spin_unlock(&zone.lock);
	mi->pgtable_pages = (unsigned long)atomic_load(&nr_pgtable_pages);
	mi->pagecache_pages = filemap_nr_pages();
	return 0;
}
