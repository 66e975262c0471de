// SPDX-License-Identifier: MIT
/* Device memory: pagemaps above RAM, struct pages by pfn, the free
 * callback on the last put, coherent memory the CPU can address. */
#include "test_util.h"

static struct page *freed[8];
static unsigned int nr_freed;

static void page_free(struct page *page)
{
	if (nr_freed < 8)
		freed[nr_freed] = page;
	nr_freed++;
}

static vm_fault_t migrate_to_ram(struct vm_fault *vmf)
{
	return VM_FAULT_SIGBUS;
}

static const struct dev_pagemap_ops ops = {
	.page_free = page_free,
	.migrate_to_ram = migrate_to_ram,
};

static int owner_a, owner_b;

static void test_private_pagemap(void **state)
{
	unsigned long before = free_pages_now();
	struct dev_pagemap pgmap = { .type = MEMORY_DEVICE_PRIVATE,
				     .ops = &ops, .owner = &owner_a };
	struct uhmm_meminfo mi;
	struct page *page;
	unsigned long pfn;

	assert_int_equal(request_free_mem_region(PMD_SIZE, &pgmap.range), 0);
	assert_null(memremap_pages(&pgmap));
	assert_int_equal(uhmm_meminfo(&mi), 0);
	assert_true(pgmap.pfn_first >= mi.total_pages);
	assert_int_equal(pgmap.nr_pages, PMD_SIZE >> PAGE_SHIFT);
	/* Device memory is not system RAM. */
	assert_int_equal(free_pages_now(), before);

	pfn = pgmap.pfn_first + 7;
	page = pfn_to_page(pfn);
	assert_ptr_equal(page, &pgmap.pages[7]);
	assert_int_equal(page_to_pfn(page), pfn);
	assert_true(is_zone_device_page(page));
	assert_true(is_device_private_page(page));
	assert_false(is_device_coherent_page(page));
	assert_null(page_address(page));
	assert_null(pfn_to_page(pgmap.pfn_first + pgmap.nr_pages));

	nr_freed = 0;
	zone_device_page_init(page);
	assert_true(PageLocked(page));
	unlock_page(page);
	assert_int_equal(page_ref_count(page), 1);
	get_page(page);
	put_page(page);
	assert_int_equal(nr_freed, 0);
	put_page(page);
	assert_int_equal(nr_freed, 1);
	assert_ptr_equal(freed[0], page);
	assert_int_equal(free_pages_now(), before);
	memunmap_pages(&pgmap);
	assert_null(pfn_to_page(pfn));
}

static void test_coherent_pagemap(void **state)
{
	struct dev_pagemap pgmap = { .type = MEMORY_DEVICE_COHERENT,
				     .ops = &ops, .owner = &owner_b };
	struct page *page;
	char *vaddr;

	assert_int_equal(request_free_mem_region(PMD_SIZE, &pgmap.range), 0);
	vaddr = memremap_pages(&pgmap);
	assert_false(IS_ERR_OR_NULL(vaddr));
	page = pfn_to_page(pgmap.pfn_first + 3);
	assert_true(is_device_coherent_page(page));
	assert_ptr_equal(page_address(page), vaddr + 3 * PAGE_SIZE);
	memset(page_address(page), 'c', PAGE_SIZE);
	assert_int_equal(vaddr[3 * PAGE_SIZE + 17], 'c');
	memunmap_pages(&pgmap);
}

/* Bad pagemaps change nothing and say why. */
static void test_bad_pagemaps(void **state)
{
	struct dev_pagemap a = { .type = MEMORY_DEVICE_PRIVATE, .ops = &ops,
				 .owner = &owner_a };
	struct dev_pagemap b = a, c = a;
	struct dev_pagemap_ops no_migrate = { .page_free = page_free };
	struct range r;

	assert_int_equal(request_free_mem_region(PAGE_SIZE, &r), -EINVAL);
	assert_int_equal(request_free_mem_region(PMD_SIZE, &a.range), 0);
	b.range = a.range;
	assert_null(memremap_pages(&a));
	/* overlaps a */
	assert_ptr_equal(memremap_pages(&b), ERR_PTR(-EINVAL));
	/* overlaps RAM */
	c.range.start = 0;
	c.range.end = PMD_SIZE - 1;
	assert_ptr_equal(memremap_pages(&c), ERR_PTR(-EINVAL));
	/* private memory needs migrate_to_ram and an owner */
	assert_int_equal(request_free_mem_region(PMD_SIZE, &c.range), 0);
	c.ops = &no_migrate;
	assert_ptr_equal(memremap_pages(&c), ERR_PTR(-EINVAL));
	c.ops = &ops;
	c.owner = NULL;
	assert_ptr_equal(memremap_pages(&c), ERR_PTR(-EINVAL));
	c.owner = &owner_a;
	c.type = 7;
	assert_ptr_equal(memremap_pages(&c), ERR_PTR(-EINVAL));
	memunmap_pages(&a);
}

/* memunmap_pages waits for the pages still in use. */
static struct page *held;

static void *release_later(void *arg)
{
	usleep(20000);
	put_page(held);
	return arg;
}

static void test_memunmap_waits(void **state)
{
	struct dev_pagemap pgmap = { .type = MEMORY_DEVICE_PRIVATE,
				     .ops = &ops, .owner = &owner_a };
	pthread_t t;

	assert_int_equal(request_free_mem_region(PMD_SIZE, &pgmap.range), 0);
	assert_null(memremap_pages(&pgmap));
	held = pfn_to_page(pgmap.pfn_first);
	zone_device_page_init(held);
	unlock_page(held);
	nr_freed = 0;
	pthread_create(&t, NULL, release_later, NULL);
	memunmap_pages(&pgmap);
	/* It returned, so the page was freed before. */
	assert_int_equal(nr_freed, 1);
	pthread_join(t, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_private_pagemap),
		cmocka_unit_test(test_coherent_pagemap),
		cmocka_unit_test(test_bad_pagemaps),
		cmocka_unit_test(test_memunmap_waits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
