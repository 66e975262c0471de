// SPDX-License-Identifier: MIT
/*
 * uhmm demo: map memory in an address space, write and read it through
 * plain pointers from several threads, fork it while they run, show
 * copy-on-write in both directions, and print the mmu notifier events a
 * subscriber sees along the way.
 */
#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uhmm/uhmm.h>

static const char *const event_names[] = {
	[MMU_NOTIFY_UNMAP] = "UNMAP",
	[MMU_NOTIFY_CLEAR] = "CLEAR",
	[MMU_NOTIFY_PROTECTION_VMA] = "PROTECTION_VMA",
	[MMU_NOTIFY_PROTECTION_PAGE] = "PROTECTION_PAGE",
	[MMU_NOTIFY_SOFT_DIRTY] = "SOFT_DIRTY",
	[MMU_NOTIFY_RELEASE] = "RELEASE",
	[MMU_NOTIFY_MIGRATE] = "MIGRATE",
	[MMU_NOTIFY_EXCLUSIVE] = "EXCLUSIVE",
};

struct mirror {
	struct mmu_interval_notifier notifier;
	const char *name;
	pthread_mutex_t lock;
	unsigned long base;
	bool quiet;			/* count, do not print */
	unsigned long count[MMU_NOTIFY_EXCLUSIVE + 1];	/* under lock */
};

static bool mirror_invalidate(struct mmu_interval_notifier *mni,
			      const struct mmu_notifier_range *range,
			      unsigned long cur_seq)
{
	struct mirror *m = (struct mirror *)mni;

	pthread_mutex_lock(&m->lock);
	mmu_interval_set_seq(mni, cur_seq);
	m->count[range->event]++;
	if (m->quiet)
		;
	else if (range->end == ULONG_MAX)
		printf("  [%s] invalidate %-15s whole address space\n",
		       m->name, event_names[range->event]);
	else
		printf("  [%s] invalidate %-15s [+%#lx, +%#lx)\n", m->name,
		       event_names[range->event], range->start - m->base,
		       range->end - m->base);
	pthread_mutex_unlock(&m->lock);
	return true;
}

static const struct mmu_interval_notifier_ops mirror_ops = {
	.invalidate = mirror_invalidate,
};

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* What the CPU reads at addr of mm, through a pointer. */
static void show(struct mm_struct *mm, const char *who, char *addr)
{
	printf("  %-6s reads \"%s\"\n", who, (char *)uhmm_ptr(mm, addr));
}

/* Print and reset what a quiet mirror counted. */
static void show_counts(struct mirror *m)
{
	pthread_mutex_lock(&m->lock);
	for (int e = 0; e <= MMU_NOTIFY_EXCLUSIVE; e++) {
		if (m->count[e])
			printf("  [%s] %lu %s invalidation%s\n", m->name,
			       m->count[e], event_names[e],
			       m->count[e] == 1 ? "" : "s");
		m->count[e] = 0;
	}
	pthread_mutex_unlock(&m->lock);
}

static void set_quiet(struct mirror *m, bool quiet)
{
	pthread_mutex_lock(&m->lock);
	m->quiet = quiet;
	pthread_mutex_unlock(&m->lock);
}

/*
 * The threads: each owns every nthreads-th page of a region and stores
 * (or checks) one word per page there through a plain pointer.
 */
#define NTHREADS	2

struct worker {
	pthread_t thread;
	uint64_t *base;		/* a pointer: uhmm_ptr() of the mm's address */
	unsigned long npages, id;
	uint64_t value;		/* stored, or expected, in each of its pages */
	bool write;
	atomic_bool *stop;	/* if set: repeat until it is true */
	unsigned long wrong;
	atomic_ulong rounds;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	const unsigned long stride = 4096 / sizeof(uint64_t);

	do {
		for (unsigned long i = w->id; i < w->npages; i += NTHREADS) {
			uint64_t *word = &w->base[i * stride];

			if (w->write)
				*word = w->value + i;
			else if (*word != w->value + i)
				w->wrong++;
		}
		atomic_fetch_add(&w->rounds, 1);
	} while (w->stop && !atomic_load(w->stop));
	return NULL;
}

static void run_workers(struct worker *w, void *base, unsigned long npages,
			uint64_t value, bool write, atomic_bool *stop)
{
	for (unsigned long t = 0; t < NTHREADS; t++) {
		w[t] = (struct worker){ .base = base, .npages = npages,
					.id = t, .value = value,
					.write = write, .stop = stop };
		if (pthread_create(&w[t].thread, NULL, worker_run, &w[t]))
			die("pthread_create");
	}
}

static unsigned long join_workers(struct worker *w, const char *what)
{
	unsigned long wrong = 0, rounds = 0;

	for (int t = 0; t < NTHREADS; t++) {
		pthread_join(w[t].thread, NULL);
		wrong += w[t].wrong;
		rounds += atomic_load(&w[t].rounds);
	}
	printf("  %d threads %s: %lu passes, %lu wrong words\n", NTHREADS, what,
	       rounds, wrong);
	return wrong;
}

int main(void)
{
	const size_t len = 64UL << 20;
	const unsigned long npages = len / 4096;
	struct mirror parent_mirror = { .name = "parent",
					.lock = PTHREAD_MUTEX_INITIALIZER };
	struct mirror child_mirror = { .name = "child ",
				       .lock = PTHREAD_MUTEX_INITIALIZER };
	struct worker workers[NTHREADS], readers[NTHREADS];
	struct uhmm_meminfo before, after;
	struct mm_struct *mm, *child;
	atomic_bool stop = false;
	unsigned long seq, wrong = 0;
	char *p, via_access[32] = { 0 };

	uhmm_meminfo(&before);
	printf("uhmm: %lu MiB of system RAM, %lu pages free\n",
	       before.total_pages >> 8, before.free_pages);

	mm = uhmm_mm_create();
	if (!mm)
		die("uhmm_mm_create");
	p = uhmm_mmap(mm, NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("uhmm_mmap");
	printf("mapped 64 MiB of private anonymous memory at %p: "
	       "the address is the pointer\n", (void *)p);

	parent_mirror.base = (unsigned long)p;
	if (mmu_interval_notifier_insert(&parent_mirror.notifier, mm,
					 (unsigned long)p, len, &mirror_ops))
		die("mmu_interval_notifier_insert");
	seq = mmu_interval_read_begin(&parent_mirror.notifier);

	printf("\nthreads store through pointers into every page:\n");
	run_workers(workers, p, npages, 1000, true, NULL);
	wrong += join_workers(workers, "wrote");

	printf("\nthe parent forks while threads read every page:\n");
	set_quiet(&parent_mirror, true);
	run_workers(readers, p, npages, 1000, false, &stop);
	for (int t = 0; t < NTHREADS; t++)	/* they have mapped it all */
		while (!atomic_load(&readers[t].rounds))
			sched_yield();
	child = uhmm_fork(mm);
	if (!child)
		die("uhmm_fork");
	atomic_store(&stop, true);
	wrong += join_workers(readers, "read during the fork");
	show_counts(&parent_mirror);
	printf("  the child's copy is at %p in this process (uhmm_ptr)\n",
	       uhmm_ptr(child, p));
	child_mirror.base = (unsigned long)p;
	if (mmu_interval_notifier_insert(&child_mirror.notifier, child,
					 (unsigned long)p, len, &mirror_ops))
		die("mmu_interval_notifier_insert");

	printf("\nthe parent's threads rewrite every page (copy-on-write), "
	       "the child's read theirs:\n");
	set_quiet(&child_mirror, true);
	atomic_store(&stop, false);
	run_workers(readers, uhmm_ptr(child, p), npages, 1000, false, &stop);
	run_workers(workers, p, npages, 2000, true, NULL);
	wrong += join_workers(workers, "wrote in the parent");
	atomic_store(&stop, true);
	wrong += join_workers(readers, "read the old values in the child");
	show_counts(&parent_mirror);
	show_counts(&child_mirror);
	set_quiet(&parent_mirror, false);
	set_quiet(&child_mirror, false);

	printf("\nthe child writes a page; each side sees its own:\n");
	strcpy(uhmm_ptr(child, p + 64), "written by the child");
	show(mm, "parent", p + 64);
	show(child, "child", p + 64);
	strcpy(p + 64, "written by the parent");
	if (uhmm_access(mm, p + 64, via_access, sizeof(via_access) - 1, 0) < 0)
		die("uhmm_access");
	printf("  parent reads \"%s\" through uhmm_access\n", via_access);
	show(child, "child", p + 64);

	printf("\nthe parent write-protects, then unmaps, a page:\n");
	if (uhmm_mprotect(mm, p, 4096, PROT_READ))
		die("uhmm_mprotect");
	if (uhmm_munmap(mm, p + 4096, 4096))
		die("uhmm_munmap");
	printf("  the parent's mirror must retry what it read before: %s\n",
	       mmu_interval_read_retry(&parent_mirror.notifier, seq) ?
	       "yes" : "no");

	printf("\nthe child drops its pages, then exits:\n");
	if (uhmm_madvise(child, p, 8192, MADV_DONTNEED))
		die("uhmm_madvise");
	mmu_interval_notifier_remove(&child_mirror.notifier);
	printf("  (the child's mirror was removed before the exit)\n");
	uhmm_mm_exit(child);

	printf("\nthe parent exits:\n");
	uhmm_mm_exit(mm);
	mmu_interval_notifier_remove(&parent_mirror.notifier);

	uhmm_meminfo(&after);
	printf("\n%lu pages free after both exits (%s); %lu wrong words\n",
	       after.free_pages, after.free_pages == before.free_pages ?
	       "nothing leaked" : "LEAKED", wrong);
	return after.free_pages == before.free_pages && !wrong ? 0 : 1;
}
