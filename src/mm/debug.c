// SPDX-License-Identifier: MIT
/*
 * Expensive invariant walkers, for tests and debugging: they take every
 * mmap_lock they need and visit every PTE.
 */
#include "mm/mm_internal.h"
#include "mm/debug.h"

struct count_walk {
	int *counts;
	unsigned long nr;
	long mapped;		/* PTEs that map a page: what rss counts */
};

static void count_pte(pte_t *ptep, unsigned long addr, void *arg)
{
	struct count_walk *w = arg;
	pte_t pte = ptep_get(ptep);
	unsigned long pfn;

	if (pte_present(pte) && !pte_special(pte)) {
		pfn = pte_pfn(pte);
	} else if (is_swap_pte(pte) &&
		   is_device_exclusive_entry(pte_to_swp_entry(pte))) {
		/* The page stays mapped while a device holds it. */
		pfn = swp_offset(pte_to_swp_entry(pte));
	} else {
		/* A device-private entry maps its page too (no RAM pfn). */
		if (is_swap_pte(pte) &&
		    is_device_private_entry(pte_to_swp_entry(pte)))
			w->mapped++;
		return;
	}
	w->mapped++;
	if (pfn < w->nr)
		w->counts[pfn]++;
}

/* Count mm's mappings of each RAM pfn into counts; returns the PTEs that
 * map a page. */
static long count_ptes(struct mm_struct *mm, int *counts, unsigned long nr)
{
	struct count_walk w = { counts, nr, 0 };

	mmap_read_lock(mm);
	for (unsigned int i = 0; i < mm->map_count; i++)
		walk_pte_range(mm, mm->vmas[i]->vm_start, mm->vmas[i]->vm_end,
			       count_pte, &w);
	mmap_read_unlock(mm);
	return w.mapped;
}

long mm_verify_mapcounts(struct mm_struct *const *mms, unsigned int nr_mms)
{
	unsigned long nr = system_ram.nr_pages;
	int *counts = calloc(nr, sizeof(*counts));
	long bad = 0;

	if (!counts)
		return -ENOMEM;
	for (unsigned int i = 0; i < nr_mms; i++) {
		long mapped = count_ptes(mms[i], counts, nr);
		long rss = atomic_load(&mms[i]->rss_pages);

		if (rss != mapped) {
			fprintf(stderr, "uhmm: mm %p: rss %ld, %ld PTEs map a page\n",
				(void *)mms[i], rss, mapped);
			bad++;
		}
	}
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
