// SPDX-License-Identifier: MIT
/*
 * Where the pages of private anonymous memory come from: the block a
 * user fault fills, and pfns in line with the pages around it, so that
 * a PTE table's pages are one run of RAM (one host mapping).
 */
#include "mm/mm_internal.h"
#include "settings.h"

/*
 * The order of the block a fault on private anonymous memory fills: the
 * largest up to settings->anon_block_order whose aligned block around
 * the address lies in the VMA with every PTE none (the kernel's
 * multi-size THP for anonymous memory). Only for user faults, the CPU's
 * own: a block pays for the host trap they take (src/cpu/fault.c), which
 * a device fault or uhmm_access() does not, and those keep the kernel's
 * one page. The PTEs are read without the PTL; the caller checks them
 * again under it.
 */
unsigned int anon_fault_order(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	unsigned int order;

	if (!(vmf->flags & FAULT_FLAG_USER))
		return 0;
	for (order = settings->anon_block_order; order; order--) {
		unsigned long size = PAGE_SIZE << order;
		unsigned long start = ALIGN_DOWN(vmf->address, size);
		pte_t *ptep = pte_offset(vmf->pmd, start);
		unsigned long i;

		if (start < vma->vm_start || start + size > vma->vm_end)
			continue;
		for (i = 0; i < (1UL << order); i++)
			if (!pte_none(ptep_get(ptep + i)))
				break;
		if (i == (1UL << order))
			break;
	}
	return order;
}

/*
 * The pfn that would put the block at PTE index idx in line with the
 * nearest mapped page of its PTE table, at most max_dist entries away
 * (so that the table's pages can be one run in RAM, one host mapping:
 * src/cpu/fault.c), or 0. The PTEs are read without the PTL: only a
 * hint comes out.
 */
static unsigned long anon_block_pfn_hint(pte_t *table, unsigned long idx,
					 unsigned long nr,
					 unsigned long max_dist)
{
	for (unsigned long d = 1; d <= max_dist && d < PTRS_PER_PTE; d++) {
		pte_t pte;

		if (idx >= d) {
			pte = ptep_get(table + idx - d);
			if (pte_present(pte) && !pte_special(pte))
				return pte_pfn(pte) + d;
		}
		if (idx + nr - 1 + d < PTRS_PER_PTE) {
			pte = ptep_get(table + idx + nr - 1 + d);
			if (pte_present(pte) && !pte_special(pte) &&
			    pte_pfn(pte) >= nr - 1 + d)
				return pte_pfn(pte) - (nr - 1 + d);
		}
		if (idx < d && idx + nr - 1 + d >= PTRS_PER_PTE)
			break;
	}
	return 0;
}

/*
 * The pfn for the page at addr that follows the page mapped at
 * neighbour (in another PTE table, under mmap_lock), or 0; only if the
 * 2 MiB of RAM around it is all free, so that the rest of addr's table
 * can follow.
 */
static unsigned long neighbour_pfn_hint(struct vm_area_struct *vma,
					unsigned long neighbour,
					unsigned long addr)
{
	unsigned long pfn;
	pmd_t *pmd;
	pte_t pte;

	if (neighbour < vma->vm_start || neighbour >= vma->vm_end)
		return 0;
	pmd = pte_table_lookup(vma->vm_mm, neighbour);
	if (!pmd)
		return 0;
	pte = ptep_get(pte_offset(pmd, neighbour));
	if (!pte_present(pte) || pte_special(pte))
		return 0;
	if (addr < neighbour && pte_pfn(pte) < (neighbour - addr) / PAGE_SIZE)
		return 0;
	pfn = pte_pfn(pte) + (long)(addr - neighbour) / (long)PAGE_SIZE;
	return pfn_block_free(pfn, PMD_SHIFT - PAGE_SHIFT) ? pfn : 0;
}

/*
 * 2^order pages for the block at start of vma, in line with the nearest
 * mapped page of its PTE table (pmd, or NULL if it has none yet), else
 * with the neighbouring tables' edges, else at the place in a free 2 MiB
 * run where the whole table's run would fit. Under mmap_lock.
 */
struct page *alloc_pages_in_line(struct vm_area_struct *vma, pmd_t *pmd,
				 unsigned long start, unsigned int order,
				 unsigned long max_dist)
{
	unsigned long idx = pte_index(start), table = start - idx * PAGE_SIZE;
	unsigned long hint = 0;
	struct page *page = NULL;

	if (pmd)
		hint = anon_block_pfn_hint(pte_offset(pmd, start) - idx, idx,
					   1UL << order, max_dist);
	if (!hint)
		hint = neighbour_pfn_hint(vma, table - PAGE_SIZE, start);
	if (!hint)
		hint = neighbour_pfn_hint(vma, table + PMD_SIZE, start);
	if (!hint) {
		hint = free_block_pfn(PMD_SHIFT - PAGE_SHIFT);
		if (hint)
			hint += idx;
	}
	if (hint)
		page = alloc_pages_at(hint, order);
	if (!page)
		page = alloc_pages(order);
	if (page && order)
		split_page(page, order);
	return page;
}

/*
 * This thread's last alloc_page_vma(): a driver that migrates a range
 * home asks for its pages in order, before any of them is mapped, so the
 * page before is found here rather than in the page table.
 */
static __thread struct {
	struct mm_struct *mm;
	unsigned long addr, pfn;
} last_vma_alloc;

struct page *alloc_page_vma(struct vm_area_struct *vma, unsigned long addr)
{
	struct page *page = NULL;

	if (!vma || addr < vma->vm_start || addr >= vma->vm_end)
		return alloc_page();
	addr &= PAGE_MASK;
	if (last_vma_alloc.mm == vma->vm_mm &&
	    last_vma_alloc.addr + PAGE_SIZE == addr)
		page = alloc_pages_at(last_vma_alloc.pfn + 1, 0);
	/* A short look around: this runs once a page, not once a block. */
	if (!page)
		page = alloc_pages_in_line(vma,
					   pte_table_lookup(vma->vm_mm, addr),
					   addr, 0, 16);
	if (page) {
		last_vma_alloc.mm = vma->vm_mm;
		last_vma_alloc.addr = addr;
		last_vma_alloc.pfn = page_to_pfn(page);
	}
	return page;
}
