// SPDX-License-Identifier: MIT
/*
 * migrate_vma_*: move anonymous pages between system RAM and device
 * memory, as the kernel's mm/migrate_device.c.
 *
 * Setup replaces each collected page's PTE with a migration entry and
 * keeps a reference to the page; CPU faults on the entry wait
 * (migration_entry_wait) until finalize replaces it with the new page,
 * or the old one where the migration did not happen, and wakes them.
 * A migrate_vma moves this VMA's mapping of a page. A page that other
 * mms also map (copy-on-write after fork) is copied for this mapping
 * and stays theirs; a page with references that are not mappings
 * (pinned) stays where it is, reported without MIGRATE_PFN_MIGRATE.
 *
 * The parts shared with migrate_device_* (migrate_device.c), which
 * moves device pages wherever they are mapped, are here too.
 */
#include "migrate/migrate_internal.h"

static bool migrate_selects_page(const struct migrate_vma *m,
				 const struct page *page)
{
	if (is_device_private_page(page))
		return (m->flags & MIGRATE_VMA_SELECT_DEVICE_PRIVATE) &&
		       page->pgmap->owner == m->pgmap_owner;
	if (is_device_coherent_page(page))
		return (m->flags & MIGRATE_VMA_SELECT_DEVICE_COHERENT) &&
		       page->pgmap->owner == m->pgmap_owner;
	return (m->flags & MIGRATE_VMA_SELECT_SYSTEM) && PageAnon(page);
}

/*
 * Collect one PTE (PTL held). Returns the src entry. A page in it is
 * locked and keeps a reference of the migration until finalize: the
 * reference of the PTE it leaves, or one of its own where it stays.
 * *unmapped counts the PTEs replaced by migration entries.
 */
static unsigned long migrate_collect_pte(struct migrate_vma *m,
					 struct vm_area_struct *vma,
					 unsigned long addr, pte_t *ptep,
					 bool *flush, long *unmapped)
{
	struct mm_struct *mm = vma->vm_mm;
	pte_t pte = ptep_get(ptep);
	unsigned long pfn, mpfn;
	struct page *page;
	bool write;

	if (pte_none(pte) || (pte_present(pte) && pte_special(pte))) {
		/* An empty or zero-page slot: may be filled. */
		if (vma_is_anonymous(vma) &&
		    (m->flags & MIGRATE_VMA_SELECT_SYSTEM)) {
			m->cpages++;
			return MIGRATE_PFN_MIGRATE;
		}
		return 0;
	}
	if (pte_present(pte)) {
		pfn = pte_pfn(pte);
		write = pte_write(pte);
	} else {
		swp_entry_t entry = pte_to_swp_entry(pte);

		if (!is_device_private_entry(entry))
			return 0;
		pfn = swp_offset(entry);
		write = is_writable_device_private_entry(entry);
	}
	page = pfn_to_page(pfn);
	if (!page || !migrate_selects_page(m, page))
		return 0;

	/* The PTE's reference keeps the page while the PTL is held.
	 * fault_page is locked by the fault that called migrate_to_ram();
	 * a page another migration holds is left to it. */
	if (page != m->fault_page && !trylock_page(page))
		return 0;
	mpfn = migrate_pfn(pfn) | (write ? MIGRATE_PFN_WRITE : 0);
	/*
	 * Every reference must be a mapping, or the one the CPU fault holds
	 * on fault_page: a pinned page stays.
	 * A page other mms map too (read-only, copy-on-write after fork)
	 * moves for this mapping only; the others keep the old page, which
	 * holds the same data.
	 */
	if (page_ref_count(page) !=
	    page_mapcount(page) + (page == m->fault_page)) {
		get_page(page);
		return mpfn;
	}

	if (set_migration_pte(mm, addr, ptep, page, write))
		*flush = true;
	(*unmapped)++;
	m->cpages++;
	return mpfn | MIGRATE_PFN_MIGRATE;
}

static void migrate_vma_collect(struct migrate_vma *m)
{
	struct vm_area_struct *vma = m->vma;
	struct mmu_notifier_range range;
	unsigned long addr, next;

	mmu_notifier_range_init_owner(&range, MMU_NOTIFY_MIGRATE,
				      MMU_NOTIFIER_RANGE_BLOCKABLE, vma->vm_mm,
				      m->start, m->end, m->pgmap_owner);
	mmu_notifier_invalidate_range_start(&range);
	for (addr = m->start; addr < m->end; addr = next) {
		pmd_t *pmd = pte_table_lookup(vma->vm_mm, addr);
		bool flush = false;
		long unmapped = 0;
		spinlock_t *ptl;
		pte_t *ptep;

		next = level_addr_end(addr, m->end, PMD_SIZE);
		if (!pmd) {
			for (; addr < next; addr += PAGE_SIZE) {
				unsigned long mpfn = 0;

				if (vma_is_anonymous(vma) &&
				    (m->flags & MIGRATE_VMA_SELECT_SYSTEM)) {
					mpfn = MIGRATE_PFN_MIGRATE;
					m->cpages++;
				}
				m->src[m->npages++] = mpfn;
			}
			continue;
		}
		ptep = pte_offset_map_lock(pmd, addr, &ptl);
		for (unsigned long a = addr; a < next; a += PAGE_SIZE, ptep++)
			m->src[m->npages++] = migrate_collect_pte(m, vma, a,
						ptep, &flush, &unmapped);
		atomic_fetch_sub(&vma->vm_mm->rss_pages, unmapped);
		pte_unmap_unlock(ptep, ptl);
		if (flush)
			flush_tlb_range(vma->vm_mm, addr, next);
	}
	mmu_notifier_invalidate_range_end(&range);
}

int migrate_vma_setup(struct migrate_vma *args)
{
	struct vm_area_struct *vma = args ? args->vma : NULL;
	unsigned long nr_pages;

	if (!vma || !args->src || !args->dst)
		return -EINVAL;
	args->start &= PAGE_MASK;
	args->end &= PAGE_MASK;
	if (args->start >= args->end || args->start < vma->vm_start ||
	    args->end > vma->vm_end)
		return -EINVAL;
	/* A driver's mapping keeps the pages the driver put there. */
	if (vma->vm_flags & VM_SPECIAL)
		return -EINVAL;
	if (args->fault_page && !is_device_private_page(args->fault_page))
		return -EINVAL;
	nr_pages = (args->end - args->start) >> PAGE_SHIFT;
	memset(args->src, 0, nr_pages * sizeof(*args->src));
	args->cpages = 0;
	args->npages = 0;
	migrate_vma_collect(args);
	return 0;
}

/*
 * Put newpage in the empty or zero-page slot at addr. Returns false if
 * the slot changed since setup.
 */
static bool migrate_vma_insert_page(struct migrate_vma *m, unsigned long addr,
				    struct page *newpage)
{
	struct vm_area_struct *vma = m->vma;
	struct mm_struct *mm = vma->vm_mm;
	bool write = vma->vm_flags & VM_WRITE;
	spinlock_t *ptl;
	pte_t *ptep, orig;
	pmd_t *pmd;

	if (!vma_is_anonymous(vma))
		return false;
	pmd = pte_table_alloc(mm, addr);
	if (!pmd)
		return false;
	ptep = pte_offset_map_lock(pmd, addr, &ptl);
	orig = ptep_get(ptep);
	if (!pte_none(orig) && !(pte_present(orig) && pte_special(orig))) {
		pte_unmap_unlock(ptep, ptl);
		return false;
	}
	if (!pte_none(orig))
		ptep_clear_flush(vma, addr, ptep);
	set_page_flag(newpage, PG_anon);
	/* The driver's reference stays the driver's until finalize: a
	 * zap before that must not free a page it still holds locked. */
	get_page(newpage);
	set_newpage_pte(mm, addr, ptep, newpage, write, true);
	atomic_fetch_add(&mm->rss_pages, 1);
	pte_unmap_unlock(ptep, ptl);
	return true;
}

void __migrate_device_pages(unsigned long *src_pfns, unsigned long *dst_pfns,
			    unsigned long npages, struct migrate_vma *m)
{
	struct mmu_notifier_range range;
	bool notified = false;

	for (unsigned long i = 0; i < npages; i++) {
		struct page *newpage = migrate_pfn_to_page(dst_pfns[i]);
		struct page *page = migrate_pfn_to_page(src_pfns[i]);
		unsigned long addr;

		if (!newpage) {
			src_pfns[i] &= ~MIGRATE_PFN_MIGRATE;
			continue;
		}
		if (!(src_pfns[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (page) {
			/* The migration entries stay until finalize; the
			 * new page inherits what the old one was. */
			set_page_flag(newpage, PG_anon);
			continue;
		}
		/* An empty slot is only filled where there is a VMA;
		 * migrate_device_range() never marks one. */
		if (!m) {
			src_pfns[i] &= ~MIGRATE_PFN_MIGRATE;
			continue;
		}
		addr = m->start + (i << PAGE_SHIFT);
		if (!notified) {
			notified = true;
			mmu_notifier_range_init_owner(&range,
				MMU_NOTIFY_MIGRATE, MMU_NOTIFIER_RANGE_BLOCKABLE,
				m->vma->vm_mm, addr, m->end, m->pgmap_owner);
			mmu_notifier_invalidate_range_start(&range);
		}
		if (!migrate_vma_insert_page(m, addr, newpage))
			src_pfns[i] &= ~MIGRATE_PFN_MIGRATE;
	}
	if (notified)
		mmu_notifier_invalidate_range_end(&range);
}

void migrate_vma_pages(struct migrate_vma *m)
{
	__migrate_device_pages(m->src, m->dst, m->npages, m);
}

/* Drop what a migration holds of a page: its lock (not fault_page's,
 * which its fault unlocks) and its reference. */
static void migrate_release_page(struct page *page, struct page *fault_page)
{
	if (!page)
		return;
	if (page != fault_page)
		unlock_page(page);
	put_page(page);
}

/*
 * Finalize the slots of one PTE table of m's range, [addr, end) and
 * src_pfns[i...]: replace the migration entries that are still there
 * (not zapped by MADV_DONTNEED) with the page each slot ends up with,
 * under one PTL, then let go of the pages outside it (a put may free a
 * page, and a device page's page_free() is the driver's).
 *
 * The page a slot ends up with takes the reference the migration holds
 * on it as its PTE's (the driver's on a new page, the migration's on an
 * old one that stays), and is unlocked under the PTL, before a zap can
 * drop that reference. Slots that map nothing let go of both pages.
 */
static void migrate_vma_finalize_table(struct migrate_vma *m,
				       unsigned long addr, unsigned long end,
				       unsigned long *src_pfns,
				       unsigned long *dst_pfns)
{
	struct mm_struct *mm = m->vma->vm_mm;
	pmd_t *pmd = pte_table_lookup(mm, addr);
	unsigned long n = (end - addr) >> PAGE_SHIFT;
	bool mapped[PTRS_PER_PTE] = { false };
	long nr_mapped = 0;

	if (pmd) {
		spinlock_t *ptl;
		pte_t *ptep = pte_offset_map_lock(pmd, addr, &ptl);

		for (unsigned long i = 0; i < n; i++, ptep++) {
			struct page *page = migrate_pfn_to_page(src_pfns[i]);
			struct page *final;

			if (!page ||
			    !is_migration_pte_of(ptep_get(ptep), page))
				continue;
			final = migrate_final_page(src_pfns[i], dst_pfns[i]);
			map_final_page(mm, addr + (i << PAGE_SHIFT), ptep,
				       final);
			if (final != m->fault_page)
				unlock_page(final);
			mapped[i] = true;
			nr_mapped++;
		}
		atomic_fetch_add(&mm->rss_pages, nr_mapped);
		pte_unmap_unlock(ptep, ptl);
	}
	for (unsigned long i = 0; i < n; i++) {
		struct page *newpage = migrate_pfn_to_page(dst_pfns[i]);
		struct page *page = migrate_pfn_to_page(src_pfns[i]);

		if (!mapped[i]) {
			migrate_release_page(newpage, NULL);
			migrate_release_page(page, m->fault_page);
		} else if (migrate_final_page(src_pfns[i], dst_pfns[i]) ==
			   newpage) {
			migrate_release_page(page, m->fault_page);
		} else {
			migrate_release_page(newpage, NULL);
		}
	}
}

void __migrate_device_finalize(unsigned long *src_pfns,
			       unsigned long *dst_pfns, unsigned long npages,
			       struct migrate_vma *m)
{
	if (m) {
		unsigned long addr, next, i = 0;

		for (addr = m->start; addr < m->end; addr = next) {
			next = level_addr_end(addr, m->end, PMD_SIZE);
			migrate_vma_finalize_table(m, addr, next,
						   src_pfns + i, dst_pfns + i);
			i += (next - addr) >> PAGE_SHIFT;
		}
	} else {
		/* The caller has replaced the entries (through the rmap). */
		for (unsigned long i = 0; i < npages; i++) {
			migrate_release_page(migrate_pfn_to_page(dst_pfns[i]),
					     NULL);
			migrate_release_page(migrate_pfn_to_page(src_pfns[i]),
					     NULL);
		}
	}
	migration_entries_removed();
}

void migrate_vma_finalize(struct migrate_vma *m)
{
	__migrate_device_finalize(m->src, m->dst, m->npages, m);
}
