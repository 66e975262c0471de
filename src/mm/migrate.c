// SPDX-License-Identifier: MIT
/*
 * Migration entries: the non-present PTEs that stand for a page while it
 * moves (set by migrate_vma_setup() and migrate_device_range()), the
 * wait of a CPU fault that finds one, and their replacement by the page
 * the migration ends with (the kernel's mm/migrate.c and, for setting
 * them, try_to_migrate_one() of mm/rmap.c). The migrations themselves
 * are src/migrate's, above mm.
 */
#include <uhmm/memremap.h>

#include "mm/mm_internal.h"

/*
 * Faults waiting for migration entries to go; broadcast by finalize.
 * migration_waiters counts the waiters, so that a finalize nobody waits
 * for takes no lock: a waiter counts itself before it reads the PTE, a
 * finalize reads the count after it has written its PTEs, each with a
 * full barrier in between, so either the waiter sees the new PTE or the
 * finalize sees the waiter (and takes the lock the waiter sleeps under).
 */
static pthread_mutex_t migration_wq_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t migration_wq = PTHREAD_COND_INITIALIZER;
static atomic_ulong migration_waiters;

void migration_entry_wait(pte_t *ptep, pte_t orig)
{
	pthread_mutex_lock(&migration_wq_lock);
	atomic_fetch_add(&migration_waiters, 1);
	atomic_thread_fence(memory_order_seq_cst);
	while (pte_same(ptep_get(ptep), orig))
		pthread_cond_wait(&migration_wq, &migration_wq_lock);
	atomic_fetch_sub(&migration_waiters, 1);
	pthread_mutex_unlock(&migration_wq_lock);
}

void migration_entries_removed(void)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&migration_waiters, memory_order_relaxed))
		return;
	pthread_mutex_lock(&migration_wq_lock);
	pthread_cond_broadcast(&migration_wq);
	pthread_mutex_unlock(&migration_wq_lock);
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
	return young;
}

/*
 * Map newpage at addr (PTL held): a device-private entry for a
 * device-private page, a present PTE otherwise. The mapping gets its
 * mapcount; its reference and rss are the caller's to give. A device
 * page records where it is mapped for the reverse map (the caller holds
 * its page lock).
 */
void set_newpage_pte(struct mm_struct *mm, unsigned long addr,
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
	/* The first mapping of a page is a plain store, as the kernel's
	 * folio_add_new_anon_rmap(): an anonymous or device page is mapped
	 * only by the holder of its page lock (us), and a page with no
	 * mapping has none to lose meanwhile. */
	if (!page_mapcount(newpage))
		atomic_store_explicit(&newpage->_mapcount, 1,
				      memory_order_relaxed);
	else
		atomic_fetch_add(&newpage->_mapcount, 1);
	set_pte_at(mm, addr, ptep, pte);
}

bool remove_migration_pte(struct mm_struct *mm, unsigned long addr,
			  pte_t *ptep, struct page *page, struct page *newpage)
{
	if (!is_migration_pte_of(ptep_get(ptep), page))
		return false;
	get_page(newpage);
	map_final_page(mm, addr, ptep, newpage);
	atomic_fetch_add(&mm->rss_pages, 1);
	return true;
}
