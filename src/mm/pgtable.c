// SPDX-License-Identifier: MIT
/* Page-table pages: allocation, lookup, freeing, and the PTE helpers. */
#include "mm/mm_internal.h"

struct page *pgtable_alloc(void)
{
	struct page *page = alloc_page();

	if (!page)
		return NULL;
	memset(page_address(page), 0, PAGE_SIZE);
	set_page_flag(page, PG_table);
	spin_lock_init(&page->ptl);
	pgtable_page_accounted(1);
	return page;
}

void pgtable_free(struct page *page)
{
	VM_BUG_ON(!test_page_flag(page, PG_table));
	spin_lock_destroy(&page->ptl);
	/* ptl shares its bytes with mapping/index: leave them clean. */
	memset(&page->ptl, 0, sizeof(page->ptl));
	clear_page_flag(page, PG_table);
	pgtable_page_accounted(-1);
	put_page(page);
}

/*
 * The table an upper-level entry points to, populating it if none.
 * Racing populators are serialised by page_table_lock; the loser frees
 * its page.
 */
static void *table_populate(struct mm_struct *mm, uint64_t *entry)
{
	uint64_t e = table_entry_read(entry);
	struct page *page;

	if (likely(!table_entry_none(e)))
		return table_entry_table(e);

	page = pgtable_alloc();
	if (!page)
		return NULL;
	spin_lock(&mm->page_table_lock);
	e = table_entry_read(entry);
	if (table_entry_none(e)) {
		e = ((uint64_t)page_to_pfn(page) << PTE_PFN_SHIFT) |
		    _PAGE_PRESENT | _PAGE_TABLE;
		__atomic_store_n(entry, e, __ATOMIC_RELEASE);
		page = NULL;
	}
	spin_unlock(&mm->page_table_lock);
	if (page)
		pgtable_free(page);
	return table_entry_table(e);
}

pmd_t *pte_table_alloc(struct mm_struct *mm, unsigned long addr)
{
	pud_t *pud;
	pmd_t *pmd;

	pud = table_populate(mm, &pgd_offset(mm, addr)->pgd);
	if (!pud)
		return NULL;
	pud += pud_index(addr);
	pmd = table_populate(mm, &pud->pud);
	if (!pmd)
		return NULL;
	pmd += pmd_index(addr);
	if (!table_populate(mm, &pmd->pmd))
		return NULL;
	return pmd;
}

pmd_t *pte_table_lookup(struct mm_struct *mm, unsigned long addr)
{
	pgd_t *pgd = pgd_offset(mm, addr);
	pud_t *pud;
	pmd_t *pmd;

	if (table_entry_none(table_entry_read(&pgd->pgd)))
		return NULL;
	pud = pud_offset(pgd, addr);
	if (table_entry_none(table_entry_read(&pud->pud)))
		return NULL;
	pmd = pmd_offset(pud, addr);
	if (table_entry_none(table_entry_read(&pmd->pmd)))
		return NULL;
	return pmd;
}

void walk_pte_range(struct mm_struct *mm, unsigned long start,
		    unsigned long end, pte_walk_fn fn, void *arg)
{
	unsigned long addr, next;

	for (addr = start; addr < end; addr = next) {
		pmd_t *pmd = pte_table_lookup(mm, addr);
		spinlock_t *ptl;
		pte_t *ptep;

		next = level_addr_end(addr, end, PMD_SIZE);
		if (!pmd)
			continue;
		ptep = pte_offset_map_lock(pmd, addr, &ptl);
		for (; addr < next; addr += PAGE_SIZE, ptep++)
			fn(ptep, addr, arg);
		pte_unmap_unlock(ptep, ptl);
	}
}

static bool table_is_empty(const uint64_t *table)
{
	for (unsigned int i = 0; i < PTRS_PER_PTE; i++)
		if (table[i])
			return false;
	return true;
}

/*
 * Free the table that *entry points to if every entry in it is none,
 * after freeing what its own entries point to (level > 0). Returns true
 * if *entry is none afterwards.
 */
static bool free_table_range(uint64_t *entry, int level, unsigned long addr,
			     unsigned long end)
{
	static const unsigned long size[] = { PMD_SIZE, PUD_SIZE, PGDIR_SIZE };
	uint64_t e = table_entry_read(entry);
	uint64_t *table;

	if (table_entry_none(e))
		return true;
	table = table_entry_table(e);
	if (level > 0) {
		unsigned long step = size[level - 1];
		unsigned long next;

		for (; addr < end; addr = next) {
			next = level_addr_end(addr, end, step);
			free_table_range(&table[(addr / step) & 511],
					 level - 1, addr, next);
			if (next == 0)
				break;
		}
	}
	if (!table_is_empty(table))
		return false;
	__atomic_store_n(entry, 0, __ATOMIC_RELEASE);
	pgtable_free(table_entry_page(e));
	return true;
}

/*
 * mmap_write_lock keeps out every walker that holds mmap_lock;
 * pgtable_free_lock keeps out the rmap walkers, which hold none. Those
 * only turn one non-none PTE into another, so a table they could reach
 * is never empty because of them and the emptiness tests below need no
 * PTL.
 */
void free_pgtables(struct mm_struct *mm, unsigned long start,
		   unsigned long end)
{
	unsigned long addr, next;

	pthread_rwlock_wrlock(rwlock_of(&mm->pgtable_free_lock));
	for (addr = start; addr < end; addr = next) {
		next = level_addr_end(addr, end, PGDIR_SIZE);
		/* level 2: the pgd entry points to a pud table, whose
		 * entries span PUD_SIZE each. */
		free_table_range(&pgd_offset(mm, addr)->pgd, 2, addr, next);
		if (next == 0)
			break;
	}
	pthread_rwlock_unlock(rwlock_of(&mm->pgtable_free_lock));
}

pte_t *rmap_pte_lock(struct mm_struct *mm, unsigned long addr,
		     spinlock_t **ptlp)
{
	pmd_t *pmd;

	pthread_rwlock_rdlock(rwlock_of(&mm->pgtable_free_lock));
	pmd = pte_table_lookup(mm, addr);
	if (!pmd) {
		pthread_rwlock_unlock(rwlock_of(&mm->pgtable_free_lock));
		return NULL;
	}
	return pte_offset_map_lock(pmd, addr, ptlp);
}

void rmap_pte_unlock(struct mm_struct *mm, pte_t *ptep, spinlock_t *ptl)
{
	pte_unmap_unlock(ptep, ptl);
	pthread_rwlock_unlock(rwlock_of(&mm->pgtable_free_lock));
}

void set_pte_at(struct mm_struct *mm, unsigned long addr, pte_t *ptep,
		pte_t pte)
{
	__atomic_store_n(&ptep->pte, pte.pte, __ATOMIC_RELEASE);
}

/*
 * Every PTE writer holds the PTL, and no MMU sets accessed or dirty bits
 * behind it (the host's MMU sets them in the host's tables): here and in
 * ptep_set_wrprotect(), a load and a store do what the kernel needs an
 * atomic exchange or and for.
 */
pte_t ptep_get_and_clear(struct mm_struct *mm, unsigned long addr,
			 pte_t *ptep)
{
	pte_t old = ptep_get(ptep);

	__atomic_store_n(&ptep->pte, 0, __ATOMIC_RELEASE);
	return old;
}

pte_t ptep_clear_flush(struct vm_area_struct *vma, unsigned long addr,
		       pte_t *ptep)
{
	pte_t old = ptep_get_and_clear(vma->vm_mm, addr, ptep);

	flush_tlb_range(vma->vm_mm, addr, addr + PAGE_SIZE);
	return old;
}

void ptep_set_wrprotect(struct mm_struct *mm, unsigned long addr,
			pte_t *ptep)
{
	pte_t old = ptep_get(ptep);

	__atomic_store_n(&ptep->pte,
			 old.pte & ~(_PAGE_RW | _PAGE_HOST_MAPPED),
			 __ATOMIC_RELEASE);
}

void ptep_set_access_flags(struct vm_area_struct *vma, unsigned long addr,
			   pte_t *ptep, pte_t entry)
{
	__atomic_store_n(&ptep->pte, entry.pte, __ATOMIC_RELEASE);
}
