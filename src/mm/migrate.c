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
