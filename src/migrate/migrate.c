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

/* Faults waiting for migration entries to go; broadcast by finalize. */
static pthread_mutex_t migration_wq_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t migration_wq = PTHREAD_COND_INITIALIZER;

void migration_entry_wait(pte_t *ptep, pte_t orig)
{
	pthread_mutex_lock(&migration_wq_lock);
	while (pte_same(ptep_get(ptep), orig))
		pthread_cond_wait(&migration_wq, &migration_wq_lock);
	pthread_mutex_unlock(&migration_wq_lock);
}

void migration_entries_removed(void)
{
	pthread_mutex_lock(&migration_wq_lock);
	pthread_cond_broadcast(&migration_wq);
	pthread_mutex_unlock(&migration_wq_lock);
}

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

bool set_migration_pte(struct mm_struct *mm, unsigned long addr,
		       pte_t *ptep, struct page *page, bool write)
{
	pte_t old = ptep_get_and_clear(mm, addr, ptep);
	swp_entry_t entry = make_migration_entry(page_to_pfn(page), write);
	bool young = pte_present(old) && pte_young(old);

	if (young)
		entry = make_migration_entry_young(entry);
	set_pte_at(mm, addr, ptep, swp_entry_to_pte(entry));
	atomic_fetch_sub(&page->_mapcount, 1);
	atomic_fetch_sub(&mm->rss_pages, 1);
	put_page(page);			/* the PTE's reference */
	return young;
}

/*
 * Map newpage at addr (PTL held): a device-private entry for a
 * device-private page, a present PTE otherwise. The mapping gets its
 * reference, mapcount and rss; a device page records where it is mapped
 * for the reverse map (the caller holds its page lock).
 */
static void set_newpage_pte(struct mm_struct *mm, unsigned long addr,
			    pte_t *ptep, struct page *newpage, bool write,
			    bool young)
{
	unsigned long pfn = page_to_pfn(newpage);
	pte_t pte;

	if (is_device_private_page(newpage))
		pte = swp_entry_to_pte(make_device_private_entry(pfn, write));
	else
		pte = pfn_pte(pfn, (young ? _PAGE_ACCESSED : 0) |
			      (write ? _PAGE_RW | _PAGE_DIRTY : 0));
	if (is_zone_device_page(newpage))
		newpage->index = addr;
	get_page(newpage);
	atomic_fetch_add(&newpage->_mapcount, 1);
	atomic_fetch_add(&mm->rss_pages, 1);
	set_pte_at(mm, addr, ptep, pte);
}

/*
 * Collect one PTE (PTL held). Returns the src entry. A page in it is
 * locked and keeps a reference of the migration until finalize.
 */
static unsigned long migrate_collect_pte(struct migrate_vma *m,
					 struct vm_area_struct *vma,
					 unsigned long addr, pte_t *ptep,
					 bool *flush)
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

	get_page(page);
	/* fault_page is locked by the fault that called migrate_to_ram();
	 * a page another migration holds is left to it. */
	if (page != m->fault_page && !trylock_page(page)) {
		put_page(page);
		return 0;
	}
	mpfn = migrate_pfn(pfn) | (write ? MIGRATE_PFN_WRITE : 0);
	/*
	 * Every reference must be a mapping, ours, or the one the CPU fault
	 * holds on fault_page: a pinned page stays.
	 * A page other mms map too (read-only, copy-on-write after fork)
	 * moves for this mapping only; the others keep the old page, which
	 * holds the same data.
	 */
	if (page_ref_count(page) !=
	    page_mapcount(page) + 1 + (page == m->fault_page))
		return mpfn;

	if (set_migration_pte(mm, addr, ptep, page, write))
		*flush = true;
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
			m->src[m->npages++] =
				migrate_collect_pte(m, vma, a, ptep, &flush);
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
	set_newpage_pte(mm, addr, ptep, newpage, write, true);
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

bool remove_migration_pte(struct mm_struct *mm, unsigned long addr,
			  pte_t *ptep, struct page *page, struct page *newpage)
{
	pte_t pte = ptep_get(ptep);
	swp_entry_t entry = pte_to_swp_entry(pte);

	if (!is_swap_pte(pte) || !is_migration_entry(entry) ||
	    swp_offset(entry) != page_to_pfn(page))
		return false;
	set_newpage_pte(mm, addr, ptep, newpage,
			is_writable_migration_entry(entry),
			is_migration_entry_young(entry));
	return true;
}

/*
 * Replace the migration entries of m's range that are still there (not
 * zapped by MADV_DONTNEED) with the page each slot ends up with: one walk
 * and one PTL a PTE table.
 */
static void remove_migration_ptes_vma(struct migrate_vma *m,
				      unsigned long *src_pfns,
				      unsigned long *dst_pfns)
{
	struct mm_struct *mm = m->vma->vm_mm;
	unsigned long addr = m->start, next, i = 0;

	for (; addr < m->end; addr = next) {
		pmd_t *pmd = pte_table_lookup(mm, addr);
		spinlock_t *ptl;
		pte_t *ptep;

		next = level_addr_end(addr, m->end, PMD_SIZE);
		if (!pmd) {
			i += (next - addr) >> PAGE_SHIFT;
			continue;
		}
		ptep = pte_offset_map_lock(pmd, addr, &ptl);
		for (unsigned long a = addr; a < next;
		     a += PAGE_SIZE, ptep++, i++) {
			struct page *page = migrate_pfn_to_page(src_pfns[i]);

			if (page)
				remove_migration_pte(mm, a, ptep, page,
					migrate_final_page(src_pfns[i],
							   dst_pfns[i]));
		}
		pte_unmap_unlock(ptep, ptl);
	}
}

/* Drop what the driver handed over in dst[] (locked, one reference). */
static void migrate_release_newpage(struct page *newpage)
{
	unlock_page(newpage);
	put_page(newpage);
}

void __migrate_device_finalize(unsigned long *src_pfns,
			       unsigned long *dst_pfns, unsigned long npages,
			       struct migrate_vma *m)
{
	struct page *fault_page = m ? m->fault_page : NULL;

	if (m)
		remove_migration_ptes_vma(m, src_pfns, dst_pfns);
	/* Outside the PTLs: a put may free a page, and a device page's
	 * page_free() is the driver's. */
	for (unsigned long i = 0; i < npages; i++) {
		struct page *newpage = migrate_pfn_to_page(dst_pfns[i]);
		struct page *page = migrate_pfn_to_page(src_pfns[i]);

		/* Mapped, the new page has its PTEs' references now. */
		if (newpage)
			migrate_release_newpage(newpage);
		if (!page)
			continue;
		if (page != fault_page)
			unlock_page(page);
		put_page(page);				/* the migration's */
	}
	migration_entries_removed();
}

void migrate_vma_finalize(struct migrate_vma *m)
{
	__migrate_device_finalize(m->src, m->dst, m->npages, m);
}
