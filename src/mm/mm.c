// SPDX-License-Identifier: MIT
/* The life of an address space: creation, mm_users, mm_count. */
#include "cpu/arch.h"
#include "mm/mm_internal.h"

/*
 * Every mm from mm_alloc() to __mmdrop(), in creation order: the device-
 * page rmap walk (mmlist_next()) visits them, as the kernel's rmap walk
 * visits the VMAs of an anon_vma. New mms go to the tail, so a fork child
 * is always visited after its parent: an entry fork copies from a parent
 * the walk has not converted yet goes to a child it has not visited yet.
 * mmlist_lock is a leaf: nothing else is taken under it, so it may be
 * taken anywhere (with page locks held, in __mmdrop() from any mmdrop()).
 */
static CDS_LIST_HEAD(mmlist);
static pthread_mutex_t mmlist_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- mmap_lock (include/uhmm/mm.h) ---- */

void mmap_read_lock(struct mm_struct *mm)
{
	pthread_rwlock_rdlock(rwlock_of(&mm->mmap_lock));
}

bool mmap_read_trylock(struct mm_struct *mm)
{
	return pthread_rwlock_tryrdlock(rwlock_of(&mm->mmap_lock)) == 0;
}

void mmap_read_unlock(struct mm_struct *mm)
{
	pthread_rwlock_unlock(rwlock_of(&mm->mmap_lock));
}

void mmap_write_lock(struct mm_struct *mm)
{
	pthread_rwlock_wrlock(rwlock_of(&mm->mmap_lock));
	atomic_store_explicit(&mm->mmap_write_owner,
			      (unsigned long)pthread_self(),
			      memory_order_relaxed);
}

void mmap_write_unlock(struct mm_struct *mm)
{
	atomic_store_explicit(&mm->mmap_write_owner, 0, memory_order_relaxed);
	pthread_rwlock_unlock(rwlock_of(&mm->mmap_lock));
}

struct mm_struct *mm_alloc(void)
{
	pthread_rwlockattr_t attr;
	struct mm_struct *mm;
	struct page *pgd;

	if (ensure_initialized())
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
	pthread_rwlock_init(rwlock_of(&mm->mmap_lock), &attr);
	pthread_rwlockattr_destroy(&attr);

	spin_lock_init(&mm->page_table_lock);
	pthread_rwlock_init(rwlock_of(&mm->pgtable_free_lock), NULL);
	mm->mmap_base = user_va_start;
	mm->task_size = user_va_end;
	if (window_bind(mm)) {
		pthread_rwlock_destroy(rwlock_of(&mm->pgtable_free_lock));
		pthread_rwlock_destroy(rwlock_of(&mm->mmap_lock));
		spin_lock_destroy(&mm->page_table_lock);
		pgtable_free(pgd);
		free(mm);
		return NULL;
	}

	pthread_mutex_lock(&mmlist_lock);
	cds_list_add_tail(&mm->mmlist, &mmlist);
	pthread_mutex_unlock(&mmlist_lock);
	return mm;
}

struct mm_struct *uhmm_mm_create(void)
{
	struct mm_struct *mm;
	int err = ensure_initialized();

	/* EINVAL: a setting was rejected (settings.c said which). */
	if (err) {
		errno = -err;
		return NULL;
	}
	mm = mm_alloc();
	if (!mm)
		errno = ENOMEM;
	return mm;
}

void mmgrab(struct mm_struct *mm)
{
	atomic_fetch_add_explicit(&mm->mm_count, 1, memory_order_relaxed);
}

/* An mm_count reference, unless the struct is already on its way out. */
static bool mmgrab_not_zero(struct mm_struct *mm)
{
	int count = atomic_load_explicit(&mm->mm_count, memory_order_relaxed);

	do {
		if (count == 0)
			return false;
	} while (!atomic_compare_exchange_weak(&mm->mm_count, &count,
					       count + 1));
	return true;
}

static void __mmdrop(struct mm_struct *mm)
{
	BUG_ON(mm->map_count);
	/* Off the list before anything is freed: a walker that finds it
	 * there takes mm_count first, and fails now that it is zero. */
	pthread_mutex_lock(&mmlist_lock);
	cds_list_del(&mm->mmlist);
	pthread_mutex_unlock(&mmlist_lock);
	mmu_notifier_subscriptions_destroy(mm);
	window_unbind(mm);
	pgtable_free(virt_to_page(mm->pgd));
	pthread_rwlock_destroy(rwlock_of(&mm->mmap_lock));
	pthread_rwlock_destroy(rwlock_of(&mm->pgtable_free_lock));
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

struct mm_struct *mmlist_next(struct mm_struct *prev)
{
	struct cds_list_head *pos;
	struct mm_struct *mm = NULL;

	pthread_mutex_lock(&mmlist_lock);
	/* prev is still listed: the reference it carries keeps it there. */
	for (pos = prev ? prev->mmlist.next : mmlist.next; pos != &mmlist;
	     pos = pos->next) {
		struct mm_struct *next = cds_list_entry(pos, struct mm_struct,
							mmlist);

		if (mmgrab_not_zero(next)) {
			mm = next;
			break;
		}
	}
	pthread_mutex_unlock(&mmlist_lock);
	/* Outside the lock: this may be the last reference (__mmdrop). */
	if (prev)
		mmdrop(prev);
	return mm;
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
