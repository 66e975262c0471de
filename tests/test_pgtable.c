// SPDX-License-Identifier: MIT
/* Page tables: entry encoding, table allocation and lookup, split PTE
 * locks, and freeing exactly the tables that map nothing. */
#include "test_util.h"
#include "mm/mm_internal.h"

static void test_pte_encoding(void **state)
{
	pte_t pte = pfn_pte(0x12345, _PAGE_RW);
	swp_entry_t e;

	assert_true(pte_present(pte));
	assert_false(pte_none(pte));
	assert_int_equal(pte_pfn(pte), 0x12345);
	assert_true(pte_write(pte));
	assert_false(pte_dirty(pte) || pte_young(pte) || pte_special(pte));
	pte = pte_mkyoung(pte_mkdirty(pte));
	assert_true(pte_dirty(pte) && pte_young(pte));
	pte = pte_wrprotect(pte_mkclean(pte_mkold(pte)));
	assert_false(pte_write(pte) || pte_dirty(pte) || pte_young(pte));
	assert_int_equal(pte_pfn(pte), 0x12345);
	assert_true(pte_special(pte_mkspecial(pte)));

	/* Every non-present kind round-trips and is neither none nor
	 * present, including type 0 offset 0. */
	for (unsigned int type = 0; type <= SWP_MIGRATION_WRITE; type++) {
		for (unsigned long off = 0; off < (1UL << 40); off = off * 7 + 1) {
			pte_t p = swp_entry_to_pte(swp_entry(type, off));

			assert_true(is_swap_pte(p));
			e = pte_to_swp_entry(p);
			assert_int_equal(swp_type(e), type);
			assert_int_equal(swp_offset(e), off);
		}
	}
	assert_true(pte_none((pte_t){ 0 }));
	assert_false(is_swap_pte((pte_t){ 0 }));
}

static void test_level_addr_end(void **state)
{
	assert_int_equal(level_addr_end(0x1000, 0x400000, PMD_SIZE), PMD_SIZE);
	assert_int_equal(level_addr_end(0x1000, 0x3000, PMD_SIZE), 0x3000);
	/* At the very top the boundary wraps to 0: clamped to end. */
	assert_int_equal(level_addr_end(ULONG_MAX - PAGE_SIZE + 1, ULONG_MAX,
					PMD_SIZE), ULONG_MAX);
	assert_int_equal(level_addr_end(ULONG_MAX & PMD_MASK, 0, PMD_SIZE), 0);
}

static void test_tables(void **state)
{
	struct uhmm_meminfo a, b;
	struct mm_struct *mm;
	unsigned long base;
	pmd_t *pmd1, *pmd2, *pmd3;

	assert_int_equal(uhmm_meminfo(&a), 0);
	mm = uhmm_mm_create();
	base = mm->mmap_base;
	mmap_write_lock(mm);
	assert_null(pte_table_lookup(mm, base));
	pmd1 = pte_table_alloc(mm, base);
	assert_non_null(pmd1);
	assert_ptr_equal(pte_table_lookup(mm, base + PMD_SIZE - 1), pmd1);
	/* The next 2 MiB has its own PTE table and its own lock; the next
	 * 1 GiB its own pmd table. */
	pmd2 = pte_table_alloc(mm, base + PMD_SIZE);
	pmd3 = pte_table_alloc(mm, base + PUD_SIZE);
	assert_ptr_equal(pmd2, pmd1 + 1);
	assert_non_null(pmd3);
	assert_ptr_not_equal(pte_lockptr(pmd3), pte_lockptr(pmd1));
	assert_ptr_not_equal(pte_lockptr(pmd1), pte_lockptr(pmd2));
	assert_int_equal(uhmm_meminfo(&b), 0);
	/* pgd, one pud, two pmd, three PTE tables */
	assert_int_equal(b.pgtable_pages - a.pgtable_pages, 7);

	/* A table that maps something is kept; empty ones go. */
	set_pte_at(mm, base, pte_offset(pmd1, base), pfn_pte(1, 0));
	free_pgtables(mm, mm->mmap_base, mm->task_size);
	assert_ptr_equal(pte_table_lookup(mm, base), pmd1);
	assert_null(pte_table_lookup(mm, base + PMD_SIZE));
	assert_null(pte_table_lookup(mm, base + PUD_SIZE));
	assert_int_equal(uhmm_meminfo(&b), 0);
	assert_int_equal(b.pgtable_pages - a.pgtable_pages, 4);
	ptep_get_and_clear(mm, base, pte_offset(pmd1, base));
	free_pgtables(mm, base, base + PAGE_SIZE);
	assert_null(pte_table_lookup(mm, base));
	mmap_write_unlock(mm);
	uhmm_mm_exit(mm);
	assert_int_equal(uhmm_meminfo(&b), 0);
	assert_int_equal(b.pgtable_pages, a.pgtable_pages);
	assert_int_equal(b.free_pages, a.free_pages);
}

/* The PTE helpers change exactly what they say. */
static void test_pte_helpers(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	unsigned long addr = mm->mmap_base;
	pte_t *ptep, old;
	pmd_t *pmd;

	mmap_write_lock(mm);
	pmd = pte_table_alloc(mm, addr);
	ptep = pte_offset(pmd, addr);
	set_pte_at(mm, addr, ptep, pfn_pte(7, _PAGE_RW | _PAGE_DIRTY));
	ptep_set_wrprotect(mm, addr, ptep);
	assert_false(pte_write(ptep_get(ptep)));
	assert_true(pte_dirty(ptep_get(ptep)));
	old = ptep_get_and_clear(mm, addr, ptep);
	assert_true(pte_none(ptep_get(ptep)));
	assert_int_equal(pte_pfn(old), 7);
	mmap_write_unlock(mm);
	uhmm_mm_exit(mm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pte_encoding),
		cmocka_unit_test(test_level_addr_end),
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_pte_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
