// SPDX-License-Identifier: MIT
/*
 * A program outside the tree, built with `pkg-config --cflags --libs uhmm`:
 * create an mm, map 64 MiB, write and read it back, fork and see
 * copy-on-write, receive an UNMAP invalidation with the exact range on an
 * interval notifier, see mmu_interval_read_retry turn true, exit the mm
 * and find uhmm_meminfo back where it started. Prints TAP.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uhmm/uhmm.h>

static int failures, checks;

#define CHECK(cond) do {						\
	checks++;							\
	if (!(cond)) {							\
		failures++;						\
		printf("# failed: %s (line %d)\n", #cond, __LINE__);	\
	}								\
} while (0)

struct mirror {
	struct mmu_interval_notifier sub;
	pthread_mutex_t lock;
	unsigned long start, end;
	int event, count;
};

static bool mirror_invalidate(struct mmu_interval_notifier *sub,
			      const struct mmu_notifier_range *range,
			      unsigned long cur_seq)
{
	struct mirror *m = (struct mirror *)sub;

	pthread_mutex_lock(&m->lock);
	mmu_interval_set_seq(sub, cur_seq);
	m->start = range->start;
	m->end = range->end;
	m->event = range->event;
	m->count++;
	pthread_mutex_unlock(&m->lock);
	return true;
}

static const struct mmu_interval_notifier_ops ops = {
	.invalidate = mirror_invalidate,
};

int main(void)
{
	const size_t len = 64UL << 20;
	struct mirror m = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct uhmm_meminfo before, after;
	struct mm_struct *mm, *child;
	unsigned long seq;
	char *p, *buf;
	char c;

	printf("1..1\n");
	CHECK(uhmm_meminfo(&before) == 0);
	mm = uhmm_mm_create();
	CHECK(mm != NULL);
	p = uhmm_mmap(mm, NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);

	buf = malloc(len);
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(i * 31 + (i >> 12));
	CHECK(uhmm_access(mm, p, buf, len, 1) == (ssize_t)len);
	memset(buf, 0, len);
	CHECK(uhmm_access(mm, p, buf, len, 0) == (ssize_t)len);
	for (size_t i = 0; i < len; i += 4093)
		if (buf[i] != (char)(i * 31 + (i >> 12))) {
			CHECK(!"data read back differs");
			break;
		}

	child = uhmm_fork(mm);
	CHECK(child != NULL);
	CHECK(uhmm_access(child, p + 100, "child", 6, 1) == 6);
	CHECK(uhmm_access(mm, p + 100, &c, 1, 0) == 1 && c == buf[100]);
	CHECK(uhmm_access(child, p + 100, &c, 1, 0) == 1 && c == 'c');
	uhmm_mm_exit(child);

	CHECK(mmu_interval_notifier_insert(&m.sub, mm, (unsigned long)p, len,
					   &ops) == 0);
	seq = mmu_interval_read_begin(&m.sub);
	CHECK(!mmu_interval_read_retry(&m.sub, seq));
	CHECK(uhmm_munmap(mm, p + (8 << 20), 4 << 20) == 0);
	pthread_mutex_lock(&m.lock);
	CHECK(m.count == 1 && m.event == MMU_NOTIFY_UNMAP);
	CHECK(m.start == (unsigned long)p + (8 << 20));
	CHECK(m.end == (unsigned long)p + (12 << 20));
	CHECK(mmu_interval_read_retry(&m.sub, seq));
	pthread_mutex_unlock(&m.lock);
	mmu_interval_notifier_remove(&m.sub);

	uhmm_mm_exit(mm);
	CHECK(uhmm_meminfo(&after) == 0);
	CHECK(after.free_pages == before.free_pages);
	free(buf);

	printf("%sok 1 - cpu side end to end (%d checks)\n",
	       failures ? "not " : "", checks);
	return failures != 0;
}
