// SPDX-License-Identifier: MIT
/* The buddy allocator, struct page references, and uhmm_meminfo. */
#include "test_util.h"
#include "mm/physmem.h"

/* Every order can be had, comes back whole, and blocks are aligned. */
static void test_orders(void **state)
{
	unsigned long before = free_pages_now();

	for (unsigned int order = 0; order <= MAX_PAGE_ORDER; order++) {
		struct page *page = alloc_pages(order);

		assert_non_null(page);
		assert_int_equal(page_to_pfn(page) & ((1UL << order) - 1), 0);
		assert_int_equal(page_ref_count(page), 1);
		assert_int_equal(free_pages_now(), before - (1UL << order));
		__free_pages(page, order);
		assert_int_equal(free_pages_now(), before);
	}
	assert_null(alloc_pages(MAX_PAGE_ORDER + 1));
}

/* A page goes back only with its last reference. */
static void test_refcount(void **state)
{
	unsigned long before = free_pages_now();
	struct page *page = alloc_page();

	assert_non_null(page);
	get_page(page);
	assert_int_equal(page_ref_count(page), 2);
	put_page(page);
	assert_int_equal(free_pages_now(), before - 1);
	put_page(page);
	assert_int_equal(free_pages_now(), before);
}

/* split_page makes every page of a block independent. */
static void test_split(void **state)
{
	unsigned long before = free_pages_now();
	struct page *page = alloc_pages(4);

	assert_non_null(page);
	split_page(page, 4);
	for (int i = 15; i >= 0; i--) {
		assert_int_equal(page_ref_count(page + i), 1);
		put_page(page + i);
	}
	assert_int_equal(free_pages_now(), before);
	/* The 16 pages merged back: an order-4 block is there again at the
	 * same place (lowest free block of that size first is not promised,
	 * so check only that all of RAM can be taken in 2 MiB blocks). */
}

/* Exhausting RAM gives NULL, and freeing everything restores it. */
static void test_exhaust(void **state)
{
	struct uhmm_meminfo mi;
	struct page **blocks;
	unsigned long n = 0;

	assert_int_equal(uhmm_meminfo(&mi), 0);
	blocks = calloc(mi.total_pages, sizeof(*blocks));
	assert_non_null(blocks);
	while ((blocks[n] = alloc_page()) != NULL)
		n++;
	assert_int_equal(n, mi.free_pages);
	assert_int_equal(free_pages_now(), 0);
	assert_null(alloc_pages(3));
	while (n--)
		put_page(blocks[n]);
	assert_int_equal(free_pages_now(), mi.free_pages);
	/* Fully merged again: every whole free 2 MiB block can be had (the
	 * zero page keeps one block partly used). */
	n = 0;
	while ((blocks[n] = alloc_pages(MAX_PAGE_ORDER)) != NULL)
		n++;
	assert_int_equal(n, mi.free_pages >> MAX_PAGE_ORDER);
	assert_int_equal(free_pages_now(),
			 mi.free_pages - (n << MAX_PAGE_ORDER));
	while (n--)
		__free_pages(blocks[n], MAX_PAGE_ORDER);
	free(blocks);
	assert_int_equal(free_pages_now(), mi.free_pages);
}

/* The direct map reaches the same bytes through page_address. */
static void test_direct_map(void **state)
{
	struct page *page = alloc_page();
	char *p = page_address(page);

	memset(p, 0x5a, PAGE_SIZE);
	assert_ptr_equal(virt_to_page(p + 100), page);
	assert_ptr_equal(pfn_to_page(page_to_pfn(page)), page);
	assert_int_equal(p[PAGE_SIZE - 1], 0x5a);
	put_page(page);
}

static void test_meminfo(void **state)
{
	struct uhmm_meminfo mi;

	assert_int_equal(uhmm_meminfo(NULL), -EINVAL);
	assert_int_equal(uhmm_meminfo(&mi), 0);
	/* UHMM_RAM=256M in the test environment */
	assert_int_equal(mi.total_pages, (256UL << 20) >> PAGE_SHIFT);
	/* The zero page is taken at initialisation. */
	assert_true(mi.free_pages < mi.total_pages);
	assert_true(is_zero_page(zero_page()));
	assert_int_equal(((char *)page_address(zero_page()))[123], 0);
	assert_int_equal(uhmm_init(NULL), -EBUSY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_meminfo),
		cmocka_unit_test(test_orders),
		cmocka_unit_test(test_refcount),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_direct_map),
		cmocka_unit_test(test_exhaust),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
