// SPDX-License-Identifier: MIT
/*
 * uhmm demo: map memory in an address space, write and read it, fork it,
 * show copy-on-write, and print every mmu notifier event a subscriber
 * sees along the way.
 */
#include <limits.h>
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
};

static bool mirror_invalidate(struct mmu_interval_notifier *mni,
			      const struct mmu_notifier_range *range,
			      unsigned long cur_seq)
{
	struct mirror *m = (struct mirror *)mni;

	pthread_mutex_lock(&m->lock);
	mmu_interval_set_seq(mni, cur_seq);
	if (range->end == ULONG_MAX)
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

static void show(struct mm_struct *mm, const char *who, char *addr)
{
	char buf[32] = { 0 };

	if (uhmm_access(mm, addr, buf, sizeof(buf) - 1, 0) < 0)
		die("uhmm_access");
	printf("  %-6s reads \"%s\"\n", who, buf);
}

static void write_str(struct mm_struct *mm, char *addr, const char *s)
{
	if (uhmm_access(mm, addr, (void *)s, strlen(s) + 1, 1) < 0)
		die("uhmm_access");
}

int main(void)
{
	const size_t len = 64UL << 20;
	struct mirror parent_mirror = { .name = "parent",
					.lock = PTHREAD_MUTEX_INITIALIZER };
	struct mirror child_mirror = { .name = "child ",
				       .lock = PTHREAD_MUTEX_INITIALIZER };
	struct uhmm_meminfo before, after;
	struct mm_struct *mm, *child;
	unsigned long seq;
	char *p;

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
	printf("mapped 64 MiB of private anonymous memory at %p\n", (void *)p);

	parent_mirror.base = (unsigned long)p;
	if (mmu_interval_notifier_insert(&parent_mirror.notifier, mm,
					 (unsigned long)p, len, &mirror_ops))
		die("mmu_interval_notifier_insert");
	seq = mmu_interval_read_begin(&parent_mirror.notifier);

	printf("\nwrite a page, then fork:\n");
	write_str(mm, p, "written by the parent");
	child = uhmm_fork(mm);
	if (!child)
		die("uhmm_fork");
	child_mirror.base = (unsigned long)p;
	if (mmu_interval_notifier_insert(&child_mirror.notifier, child,
					 (unsigned long)p, len, &mirror_ops))
		die("mmu_interval_notifier_insert");
	show(mm, "parent", p);
	show(child, "child", p);

	printf("\nthe child writes the shared page (copy-on-write break):\n");
	write_str(child, p, "written by the child");
	show(mm, "parent", p);
	show(child, "child", p);

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
	printf("\n%lu pages free after both exits (%s)\n", after.free_pages,
	       after.free_pages == before.free_pages ? "nothing leaked" :
	       "LEAKED");
	return after.free_pages == before.free_pages ? 0 : 1;
}
