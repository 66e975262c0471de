// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <sched.h>
#include <sys/mman.h>

#include "cpu/window.h"
#include "settings.h"

unsigned long user_va_start;
unsigned long user_va_end;

/* 2048 windows of the default 64 GiB fill a 47-bit address space. */
#define MAX_WINDOWS	2048

static struct host_window windows[MAX_WINDOWS];
static atomic_uint nr_windows;		/* slots with a base */
static pthread_mutex_t window_lock = PTHREAD_MUTEX_INITIALIZER;

/* size bytes of PROT_NONE address space, 2 MiB aligned, or 0. */
static unsigned long reserve(size_t size)
{
	char *p;
	unsigned long start;

	/* Over-reserve so that the window can start on a 2 MiB boundary. */
	p = mmap(NULL, size + PMD_SIZE, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return 0;
	start = ALIGN_UP((unsigned long)p, PMD_SIZE);
	if (start > (unsigned long)p)
		munmap(p, start - (unsigned long)p);
	munmap((char *)start + size, (unsigned long)p + PMD_SIZE - start);
	return start;
}

int window_init(size_t size)
{
	unsigned long start = reserve(size);
	int err;

	if (!start) {
		err = -errno;
		report_host_refused(RESERVE_WINDOW, size, err);
		return err;
	}
	err = host_init();
	if (err) {
		munmap((void *)start, size);
		return err;
	}
	user_va_start = start;
	user_va_end = start + size;
	windows[0].base = start;
	pthread_rwlock_init(&windows[0].host_lock, NULL);
	atomic_store(&nr_windows, 1);
	return 0;
}

int window_bind(struct mm_struct *mm)
{
	unsigned int i, n;
	int err = 0;

	pthread_mutex_lock(&window_lock);
	n = atomic_load(&nr_windows);
	for (i = 0; i < n; i++)
		if (!atomic_load(&windows[i].mm))
			break;
	if (i == n) {
		unsigned long base = i < MAX_WINDOWS ? reserve(window_size())
						     : 0;

		if (!base) {
			/* Past MAX_WINDOWS the host refused nothing. */
			if (i < MAX_WINDOWS)
				report_host_refused(RESERVE_WINDOW,
						    window_size(), -errno);
			err = -ENOMEM;
			goto out;
		}
		windows[i].base = base;
		pthread_rwlock_init(&windows[i].host_lock, NULL);
		atomic_store(&nr_windows, n + 1);
	}
	mm->window = &windows[i];
	mm->window_delta = windows[i].base - user_va_start;
	atomic_store(&windows[i].mm, mm);
out:
	pthread_mutex_unlock(&window_lock);
	return err;
}

void window_unbind(struct mm_struct *mm)
{
	struct host_window *w = mm->window;

	if (!w)
		return;
	host_unmap_all(mm);
	pthread_mutex_lock(&window_lock);
	atomic_store(&w->mm, NULL);
	while (atomic_load(&w->lookups))
		sched_yield();
	pthread_mutex_unlock(&window_lock);
	mm->window = NULL;
}

unsigned int window_nr_slots(void)
{
	return atomic_load(&nr_windows);
}

struct host_window *window_slot(unsigned int i)
{
	return &windows[i];
}

struct mm_struct *window_get_mm(unsigned long haddr)
{
	unsigned int n = atomic_load(&nr_windows);
	size_t size = window_size();

	for (unsigned int i = 0; i < n; i++) {
		struct host_window *w = &windows[i];
		struct mm_struct *mm;

		if (haddr - w->base >= size)
			continue;
		atomic_fetch_add(&w->lookups, 1);
		mm = atomic_load(&w->mm);
		if (mm && !mmget_not_zero(mm))
			mm = NULL;
		atomic_fetch_sub(&w->lookups, 1);
		return mm;
	}
	return NULL;
}

void *uhmm_ptr(struct mm_struct *mm, void *addr)
{
	unsigned long a = (unsigned long)addr;

	if (!mm || a < mm->mmap_base || a >= mm->task_size)
		return NULL;
	return (void *)window_host_addr(mm, a);
}
