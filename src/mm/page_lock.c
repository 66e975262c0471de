// SPDX-License-Identifier: MIT
/*
 * lock_page()/unlock_page(): PG_locked with sleeping waiters. Waiters
 * sleep on one of a few hashed wait queues, as the kernel's page wait
 * table, so struct page needs no room for them, and set PG_waiters, so
 * that an unlock nobody waits for is one atomic operation.
 */
#include "mm/mm_internal.h"

#define PAGE_WAIT_TABLE_BITS	6
#define PAGE_WAIT_TABLE_SIZE	(1U << PAGE_WAIT_TABLE_BITS)

static struct page_wait_queue {
	pthread_mutex_t lock;
	pthread_cond_t wait;		/* PG_locked cleared on one of ours */
} page_wait_table[PAGE_WAIT_TABLE_SIZE];

static pthread_once_t page_wait_once = PTHREAD_ONCE_INIT;

static void page_wait_table_init(void)
{
	for (unsigned int i = 0; i < PAGE_WAIT_TABLE_SIZE; i++) {
		pthread_mutex_init(&page_wait_table[i].lock, NULL);
		pthread_cond_init(&page_wait_table[i].wait, NULL);
	}
}

static struct page_wait_queue *page_waitqueue(const struct page *page)
{
	uintptr_t h = (uintptr_t)page / sizeof(*page);

	pthread_once(&page_wait_once, page_wait_table_init);
	h *= 0x9E3779B97F4A7C15ULL;
	return &page_wait_table[h >> (64 - PAGE_WAIT_TABLE_BITS)];
}

bool trylock_page(struct page *page)
{
	return !test_and_set_page_flag(page, PG_locked);
}

void lock_page(struct page *page)
{
	struct page_wait_queue *q;

	if (trylock_page(page))
		return;
	q = page_waitqueue(page);
	pthread_mutex_lock(&q->lock);
	for (;;) {
		/* Before the test: an unlock after a failed test sees it. */
		set_page_flag(page, PG_waiters);
		if (trylock_page(page))
			break;
		pthread_cond_wait(&q->wait, &q->lock);
	}
	pthread_mutex_unlock(&q->lock);
}

void unlock_page(struct page *page)
{
	unsigned long old = atomic_fetch_and(&page->flags,
					     ~(1UL << PG_locked));
	struct page_wait_queue *q;

	BUG_ON(!(old & (1UL << PG_locked)));
	if (!(old & (1UL << PG_waiters)))
		return;
	/* A waiter sets PG_waiters and tests PG_locked under q->lock, so
	 * it is asleep now or will see the bit clear. Those that lose the
	 * race for the page set PG_waiters again before they sleep. */
	q = page_waitqueue(page);
	pthread_mutex_lock(&q->lock);
	clear_page_flag(page, PG_waiters);
	pthread_cond_broadcast(&q->wait);
	pthread_mutex_unlock(&q->lock);
}

/*
 * Sleep until page is unlocked, without taking its lock or a reference:
 * for a fault that found page, locked by someone else, behind the PTE
 * whose lock ptl the caller holds (and has checked the PTE under it).
 * Drops ptl; the caller then retries the fault, which finds the page
 * where the lock holder left it (system RAM, or still on its device).
 *
 * Waiting with a reference would make the page look pinned to the
 * holder's migration (migrate_vma_setup() allows only the fault's own
 * reference), which would leave it where it is, and with enough such
 * waiters the next holder would find the same, for ever.
 *
 * Without a reference the page may be freed, and a device page's
 * pagemap memunmap'd (struct page and all), as soon as ptl is dropped.
 * So the page is touched only under ptl: the PTE maps it there, and its
 * reference keeps the page in use (refcount above 0), so memunmap_pages()
 * waits (pages_in_use) and the struct stays. PG_waiters is set and
 * PG_locked tested under q->lock, as lock_page() does, and ptl is
 * dropped only then: an unlock after the test sees PG_waiters and takes
 * q->lock, which pthread_cond_wait() gives up only once we sleep. After
 * the wake-up (for this page, another one of the queue, or none) the
 * page is not looked at again: the caller's retry looks at the PTE.
 */
void wait_on_page_locked_ptl(struct page *page, spinlock_t *ptl)
{
	struct page_wait_queue *q = page_waitqueue(page);

	pthread_mutex_lock(&q->lock);
	set_page_flag(page, PG_waiters);
	if (!PageLocked(page)) {
		/* Unlocked meanwhile; the flag costs one wake-up at most. */
		pthread_mutex_unlock(&q->lock);
		spin_unlock(ptl);
		return;
	}
	spin_unlock(ptl);
	pthread_cond_wait(&q->wait, &q->lock);
	pthread_mutex_unlock(&q->lock);
}
