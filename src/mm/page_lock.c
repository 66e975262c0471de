// SPDX-License-Identifier: MIT
/*
 * lock_page()/unlock_page(): PG_locked with sleeping waiters. Waiters
 * sleep on one of a few hashed wait queues, as the kernel's page wait
 * table, so struct page needs no room for them, and set PG_waiters, so
 * that an unlock nobody waits for is one atomic operation.
 */
#include "internal.h"

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
