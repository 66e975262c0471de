// SPDX-License-Identifier: MIT
/*
 * The host's side of the CPU's TLB: mapping calls into the windows, the
 * zero page as the host maps it, and the host's mapping limit.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu/window.h"
#include "lib/tsan.h"
#include "settings.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL	102
#endif

int host_zero_fd = -1;

/*
 * Guard regions (MADV_GUARD_INSTALL: Linux 6.13, in shared file mappings
 * since 6.15) replace the host PTEs of a range with markers that fault,
 * and leave the host's mappings as they are. A shootdown of a few pages
 * is then a page-table walk, where a PROT_NONE mapping call splits a
 * host mapping in three: about 1.6 us against 5 us for one page on the
 * machine of bench/RESULTS.md. Probed once at init; UHMM_HOST_GUARD=0
 * turns them off. Set once, before any window is in use.
 */
bool host_guard;

static bool host_guard_works(void)
{
	void *p;
	bool ok;

	if (!settings->host_guard)
		return false;
	p = mmap(NULL, PAGE_SIZE, PROT_READ, MAP_SHARED, host_zero_fd, 0);
	if (p == MAP_FAILED)
		return false;
	ok = !madvise(p, PAGE_SIZE, MADV_GUARD_INSTALL);
	munmap(p, PAGE_SIZE);
	return ok;
}

int host_init(void)
{
	/* Never written: its pages are zeros wherever they are mapped. */
	host_zero_fd = memfd_create("uhmm-zero", MFD_CLOEXEC);
	if (host_zero_fd < 0 || ftruncate(host_zero_fd, PMD_SIZE)) {
		int err = -errno;

		if (host_zero_fd >= 0)
			close(host_zero_fd);
		host_zero_fd = -1;
		return err;
	}
	host_guard = host_guard_works();
	return 0;
}

static void check_map_budget(void);

/* mmap() at host address haddr, fixed: 0 or -errno. */
static int host_mmap(unsigned long haddr, size_t len, int prot, int flags,
		     int fd, off_t off)
{
	void *p;

	tsan_ignore_begin();
	p = mmap((void *)haddr, len, prot, flags, fd, off);
	tsan_ignore_end();
	return p == MAP_FAILED ? -errno : 0;
}

#define RESERVE_FLAGS	(MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)

/* A mapping call into mm's window, within the mapping budget. */
static int window_mmap(struct mm_struct *mm, unsigned long addr, size_t len,
		       int prot, int flags, int fd, off_t off)
{
	int err;

	check_map_budget();
	pthread_rwlock_rdlock(&mm->window->host_lock);
	err = host_mmap(window_host_addr(mm, addr), len, prot,
			flags | MAP_FIXED, fd, off);
	pthread_rwlock_unlock(&mm->window->host_lock);
	return err;
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
	int flags = MAP_SHARED;

	if ((prot & PROT_WRITE) && len > PAGE_SIZE)
		flags |= MAP_POPULATE;
	return window_mmap(mm, addr, len, prot, flags, fd, off);
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
static void window_empty(struct host_window *w)
{
	int err;

	pthread_rwlock_rdlock(&w->host_lock);
	err = host_mmap(w->base, window_size(), PROT_NONE,
			RESERVE_FLAGS | MAP_FIXED, -1, 0);
	pthread_rwlock_unlock(&w->host_lock);
	if (!err)
		return;
	pthread_rwlock_wrlock(&w->host_lock);
	tsan_ignore_begin();
	err = munmap((void *)w->base, window_size()) ? -errno : 0;
	tsan_ignore_end();
	if (!err)
		err = host_mmap(w->base, window_size(), PROT_NONE,
				RESERVE_FLAGS | MAP_FIXED_NOREPLACE, -1, 0);
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
		for (unsigned int i = 0; i < window_nr_slots(); i++)
			window_empty(window_slot(i));
		n = count_host_mappings();
	}
	/* Unreadable: only the host's refusal (ENOMEM) will tell. Close
	 * to the budget with mappings of others: check now and then. */
	left = n < 0 ? LONG_MAX / 2 : max((map_budget - n) / 2, 1024L);
	atomic_store(&host_calls_left, left);
out:
	pthread_mutex_unlock(&budget_lock);
}

/* Guard markers over [addr, addr + len) of mm's window: 0 or -errno. */
static int window_guard(struct mm_struct *mm, unsigned long addr, size_t len)
{
	int err;

	pthread_rwlock_rdlock(&mm->window->host_lock);
	tsan_ignore_begin();
	err = madvise((void *)window_host_addr(mm, addr), len,
		      MADV_GUARD_INSTALL) ? -errno : 0;
	tsan_ignore_end();
	pthread_rwlock_unlock(&mm->window->host_lock);
	return err;
}

/*
 * Less than a PTE table's worth: guard markers where the host has them
 * (no mapping is split or added). A table or more goes back to the
 * reservation, which merges with it and keeps no host page tables.
 */
void host_unmap(struct mm_struct *mm, unsigned long addr, size_t len)
{
	if (host_guard && len < PMD_SIZE && !window_guard(mm, addr, len))
		return;
	/* Splitting a host mapping may hit vm.max_map_count: then empty
	 * the window (a full TLB flush); the CPU faults back what it
	 * uses. */
	if (window_mmap(mm, addr, len, PROT_NONE, RESERVE_FLAGS, -1, 0))
		host_unmap_all(mm);
}
