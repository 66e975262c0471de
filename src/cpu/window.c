// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <sched.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu/window.h"
#include "lib/tsan.h"

unsigned long uhmm_window_start;
unsigned long uhmm_window_end;

/*
 * A window slot. base is set once, under window_lock, before nr_windows
 * counts the slot, and never changes. mm is set under window_lock and
 * read lock-free by the SIGSEGV handler, which announces itself in
 * lookups first: window_unbind() clears mm and then waits for lookups to
 * drain, so a handler that saw the mm has taken mm_users (or given up)
 * before the struct can go.
 */
struct uhmm_window {
	unsigned long base;
	struct mm_struct *_Atomic mm;
	atomic_int lookups;
	/*
	 * Held for reading around every host mapping call in the window,
	 * for writing by the fallback of host_unmap_all() that leaves the
	 * window unmapped for a moment: no mapping of ours lands in it
	 * then, so one found there is not ours. Innermost: nothing is
	 * taken under it.
	 */
	pthread_rwlock_t host_lock;
};

/* 2048 windows of the default 64 GiB fill a 47-bit address space. */
#define MAX_WINDOWS	2048

static struct uhmm_window windows[MAX_WINDOWS];
static atomic_uint nr_windows;		/* slots with a base */
static pthread_mutex_t window_lock = PTHREAD_MUTEX_INITIALIZER;

static inline size_t window_size(void)
{
	return uhmm_window_end - uhmm_window_start;
}

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

int host_zero_fd = -1;

int window_init(size_t size)
{
	unsigned long start = reserve(size);

	if (!start)
		return -errno;
	/* Never written: its pages are zeros wherever they are mapped. */
	host_zero_fd = memfd_create("uhmm-zero", MFD_CLOEXEC);
	if (host_zero_fd < 0 || ftruncate(host_zero_fd, PMD_SIZE)) {
		int err = -errno;

		if (host_zero_fd >= 0)
			close(host_zero_fd);
		host_zero_fd = -1;
		munmap((void *)start, size);
		return err;
	}
	uhmm_window_start = start;
	uhmm_window_end = start + size;
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
			err = -ENOMEM;
			goto out;
		}
		windows[i].base = base;
		pthread_rwlock_init(&windows[i].host_lock, NULL);
		atomic_store(&nr_windows, n + 1);
	}
	mm->window = &windows[i];
	mm->window_delta = windows[i].base - uhmm_window_start;
	atomic_store(&windows[i].mm, mm);
out:
	pthread_mutex_unlock(&window_lock);
	return err;
}

void window_unbind(struct mm_struct *mm)
{
	struct uhmm_window *w = mm->window;

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

struct mm_struct *window_get_mm(unsigned long haddr)
{
	unsigned int n = atomic_load(&nr_windows);
	size_t size = window_size();

	for (unsigned int i = 0; i < n; i++) {
		struct uhmm_window *w = &windows[i];
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

/* ---- host mappings ---- */

static void check_map_budget(void);

static int host_reserve(unsigned long haddr, size_t len, int flags)
{
	void *p;

	tsan_ignore_begin();
	p = mmap((void *)haddr, len, PROT_NONE, flags | MAP_PRIVATE |
		 MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	tsan_ignore_end();
	return p == MAP_FAILED ? -errno : 0;
}

/*
 * A writable run of pages is populated at once: the host's write fault
 * maps one page at a time, and a fault a page costs more than one
 * populate. A single page, or a read-only run, is left to the host's
 * fault, which is cheaper than populating it here, and for reads maps
 * the pages around it already in its page cache in one go (its
 * fault-around).
 */
int host_map(struct mm_struct *mm, unsigned long addr, size_t len, int prot,
	     int fd, off_t off)
{
	int flags = MAP_FIXED | MAP_SHARED;
	void *p;

	if ((prot & PROT_WRITE) && len > PAGE_SIZE)
		flags |= MAP_POPULATE;

	check_map_budget();
	pthread_rwlock_rdlock(&mm->window->host_lock);
	tsan_ignore_begin();
	p = mmap((void *)window_host_addr(mm, addr), len, prot, flags, fd, off);
	tsan_ignore_end();
	pthread_rwlock_unlock(&mm->window->host_lock);
	return p == MAP_FAILED ? -errno : 0;
}

/*
 * Replacing the window's mappings with one PROT_NONE mapping splits
 * nothing (its ends are mapping boundaries already). But the host lets
 * its mapping count go one over vm.max_map_count when a mapping call
 * splits a mapping at one end, and then refuses every mmap() until an
 * munmap() brings the count back: then unmap the window and reserve it
 * again. Other threads of ours stay out of it meanwhile (host_lock); a
 * mapping made there by anyone else cannot be told apart from ours and
 * would be lost, so that ends the process.
 */
static void window_empty(struct uhmm_window *w)
{
	int err;

	pthread_rwlock_rdlock(&w->host_lock);
	err = host_reserve(w->base, window_size(), MAP_FIXED);
	pthread_rwlock_unlock(&w->host_lock);
	if (!err)
		return;
	pthread_rwlock_wrlock(&w->host_lock);
	tsan_ignore_begin();
	err = munmap((void *)w->base, window_size()) ? -errno : 0;
	tsan_ignore_end();
	if (!err)
		err = host_reserve(w->base, window_size(), MAP_FIXED_NOREPLACE);
	pthread_rwlock_unlock(&w->host_lock);
	if (err) {
		errno = -err;
		perror("uhmm: emptying an address window");
		abort();
	}
}

void host_unmap_all(struct mm_struct *mm)
{
	window_empty(mm->window);
}

/*
 * The host's mapping limit. Every mapping of the process counts against
 * vm.max_map_count: the program's, malloc's, a sanitizer's, thread
 * stacks, and the windows'. At the limit the host refuses all of them,
 * so uhmm keeps the count under the limit less an eighth, leaving the
 * rest to the others. A host call adds at most two mappings (it splits
 * one in three), so after host_calls_left more calls the count is read
 * again, and past the budget every window is emptied: a full TLB flush,
 * after which the CPUs fault back what they use.
 */
static atomic_long host_calls_left;
static pthread_mutex_t budget_lock = PTHREAD_MUTEX_INITIALIZER;
static long map_budget;			/* budget_lock; 0 until the first check */

static long read_long(const char *path, long dflt)
{
	FILE *f = fopen(path, "re");
	long v;

	if (!f)
		return dflt;
	if (fscanf(f, "%ld", &v) != 1)
		v = dflt;
	fclose(f);
	return v;
}

/* The process's host mappings (lines of /proc/self/maps), or -1. */
static long count_host_mappings(void)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	long lines = 0;
	char buf[4096];
	ssize_t n;

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(fd);
	return n < 0 ? -1 : lines;
}

static void check_map_budget(void)
{
	long n, left;

	if (atomic_fetch_sub(&host_calls_left, 1) > 0)
		return;
	pthread_mutex_lock(&budget_lock);
	if (atomic_load(&host_calls_left) > 0)
		goto out;		/* another thread has just checked */
	if (!map_budget) {
		long max = read_long("/proc/sys/vm/max_map_count", 65530);

		map_budget = max - max / 8;
	}
	n = count_host_mappings();
	if (n > map_budget) {
		for (unsigned int i = 0; i < atomic_load(&nr_windows); i++)
			window_empty(&windows[i]);
		n = count_host_mappings();
	}
	/* Unreadable: only the host's refusal (ENOMEM) will tell. Close
	 * to the budget with mappings of others: check now and then. */
	left = n < 0 ? LONG_MAX / 2 : max((map_budget - n) / 2, 1024L);
	atomic_store(&host_calls_left, left);
out:
	pthread_mutex_unlock(&budget_lock);
}

void host_unmap(struct mm_struct *mm, unsigned long addr, size_t len)
{
	int err;

	/* Splitting a host mapping may hit vm.max_map_count: then empty
	 * the window (a full TLB flush); the CPU faults back what it
	 * uses. */
	check_map_budget();
	pthread_rwlock_rdlock(&mm->window->host_lock);
	err = host_reserve(window_host_addr(mm, addr), len, MAP_FIXED);
	pthread_rwlock_unlock(&mm->window->host_lock);
	if (err)
		host_unmap_all(mm);
}
