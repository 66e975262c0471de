// SPDX-License-Identifier: MIT
/* The life of an address space: creation, mm_users, mm_count. */
#include "cpu/window.h"
#include "mm/mm_internal.h"

struct mm_struct *mm_alloc(void)
{
	pthread_rwlockattr_t attr;
	struct mm_struct *mm;
	struct page *pgd;

	if (uhmm_ensure_init())
		return NULL;
	mm = calloc(1, sizeof(*mm));
	if (!mm)
		return NULL;
	pgd = pgtable_alloc();
	if (!pgd) {
		free(mm);
		return NULL;
	}
	mm->pgd = page_address(pgd);
	atomic_init(&mm->mm_users, 1);
	atomic_init(&mm->mm_count, 1);

	/* Writers first: a stream of faults must not starve munmap. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
		PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&mm->mmap_lock, &attr);
	pthread_rwlockattr_destroy(&attr);

	spin_lock_init(&mm->page_table_lock);
	mm->mmap_base = uhmm_window_start;
	mm->task_size = uhmm_window_end;
	return mm;
}

struct mm_struct *uhmm_mm_create(void)
{
	struct mm_struct *mm = mm_alloc();

	if (!mm)
		errno = ENOMEM;
	return mm;
}

void mmgrab(struct mm_struct *mm)
{
	atomic_fetch_add_explicit(&mm->mm_count, 1, memory_order_relaxed);
}

static void __mmdrop(struct mm_struct *mm)
{
	BUG_ON(mm->map_count);
	mmu_notifier_subscriptions_destroy(mm);
	pgtable_free(virt_to_page(mm->pgd));
	pthread_rwlock_destroy(&mm->mmap_lock);
	spin_lock_destroy(&mm->page_table_lock);
	free(mm->vmas);
	free(mm);
}

void mmdrop(struct mm_struct *mm)
{
	int old = atomic_fetch_sub_explicit(&mm->mm_count, 1,
					    memory_order_acq_rel);

	BUG_ON(old <= 0);
	if (old == 1)
		__mmdrop(mm);
}

void mmget(struct mm_struct *mm)
{
	int old = atomic_fetch_add_explicit(&mm->mm_users, 1,
					    memory_order_relaxed);

	BUG_ON(old <= 0);
}

bool mmget_not_zero(struct mm_struct *mm)
{
	int users = atomic_load_explicit(&mm->mm_users, memory_order_relaxed);

	do {
		if (users == 0)
			return false;
	} while (!atomic_compare_exchange_weak(&mm->mm_users, &users,
					       users + 1));
	return true;
}

void mmput(struct mm_struct *mm)
{
	int old = atomic_fetch_sub_explicit(&mm->mm_users, 1,
					    memory_order_acq_rel);

	BUG_ON(old <= 0);
	if (old == 1) {
		exit_mmap(mm);
		mmdrop(mm);
	}
}

void uhmm_mm_exit(struct mm_struct *mm)
{
	if (mm)
		mmput(mm);
}
