// SPDX-License-Identifier: MIT
/*
 * Expensive invariant walkers, for tests and debugging: they take every
 * mmap_lock they need and visit every PTE.
 */
#include "mm/mm_internal.h"
#include "mm/debug.h"

static void count_ptes(struct mm_struct *mm, int *counts, unsigned long nr)
{
	mmap_read_lock(mm);
	for (unsigned int i = 0; i < mm->map_count; i++) {
		struct vm_area_struct *vma = mm->vmas[i];
		unsigned long addr;

		for (addr = vma->vm_start; addr < vma->vm_end;
		     addr += PAGE_SIZE) {
			pmd_t *pmd = pte_table_lookup(mm, addr);
			spinlock_t *ptl;
			pte_t *ptep, pte;

			if (!pmd) {
				addr = (addr | (PMD_SIZE - 1)) + 1 - PAGE_SIZE;
				continue;
			}
			ptep = pte_offset_map_lock(pmd, addr, &ptl);
			pte = ptep_get(ptep);
			pte_unmap_unlock(ptep, ptl);
			if (pte_present(pte) && !pte_special(pte) &&
			    pte_pfn(pte) < nr)
				counts[pte_pfn(pte)]++;
		}
	}
	mmap_read_unlock(mm);
}

long mm_verify_mapcounts(struct mm_struct *const *mms, unsigned int nr_mms)
{
	unsigned long nr = uhmm_ram.nr_pages;
	int *counts = calloc(nr, sizeof(*counts));
	long bad = 0;

	if (!counts)
		return -ENOMEM;
	for (unsigned int i = 0; i < nr_mms; i++)
		count_ptes(mms[i], counts, nr);
	for (unsigned long pfn = 0; pfn < nr; pfn++) {
		struct page *page = pfn_to_page(pfn);
		int mapcount = page_mapcount(page);

		if (mapcount != counts[pfn] ||
		    (mapcount && page_ref_count(page) < mapcount)) {
			if (bad < 10)
				fprintf(stderr,
					"uhmm: pfn %#lx: mapcount %d, %d PTEs, refcount %d\n",
					pfn, mapcount, counts[pfn],
					page_ref_count(page));
			bad++;
		}
	}
	free(counts);
	return bad;
}
