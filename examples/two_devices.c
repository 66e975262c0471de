// SPDX-License-Identifier: MIT
/*
 * A program outside the tree that uses only <uhmm/uhmm.h>: two dmirror
 * devices with device-private memory mirror one mm. A range migrates to
 * device 0; device 1 reads it, which faults every page back to system
 * RAM (device 0's pages are not device 1's to map); snapshots and
 * counters show each step. Prints TAP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

#define NPAGES	64
#define PAGE	4096UL

static int failures, checks;

#define CHECK(cond) do {						\
	checks++;							\
	if (!(cond)) {							\
		failures++;						\
		printf("# failed: %s (line %d)\n", #cond, __LINE__);	\
	}								\
} while (0)

static int cmd(struct dmirror *d, unsigned int command, void *addr,
	       void *ptr, unsigned long npages, struct hmm_dmirror_cmd *c)
{
	memset(c, 0, sizeof(*c));
	c->addr = (uintptr_t)addr;
	c->ptr = (uintptr_t)ptr;
	c->npages = npages;
	return dmirror_cmd(d, command, c);
}

static bool snapshot_is(struct dmirror *d, char *p, unsigned char want)
{
	unsigned char snap[NPAGES];
	struct hmm_dmirror_cmd c;

	if (cmd(d, HMM_DMIRROR_SNAPSHOT, p, snap, NPAGES, &c) ||
	    c.cpages != NPAGES)
		return false;
	for (int i = 0; i < NPAGES; i++)
		if (snap[i] != want)
			return false;
	return true;
}

int main(void)
{
	struct dmirror_device_stats s0, s1;
	struct hmm_dmirror_cmd c;
	struct dmirror *d0, *d1;
	struct mm_struct *mm;
	int *buf, *data;
	char *p;

	printf("1..1\n");
	mm = uhmm_mm_create();
	CHECK(mm != NULL);
	p = uhmm_mmap(mm, NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	data = malloc(NPAGES * PAGE);
	buf = malloc(NPAGES * PAGE);
	for (unsigned long i = 0; i < NPAGES * PAGE / sizeof(int); i++)
		data[i] = (int)i;
	CHECK(uhmm_access(mm, p, data, NPAGES * PAGE, 1) == NPAGES * PAGE);

	d0 = dmirror_open(mm, 0);
	d1 = dmirror_open(mm, 1);
	CHECK(d0 && d1);
	CHECK(dmirror_device_stats(0, &s0) == 0);

	/* To device 0: every page moves, and device 0 reads them back. */
	CHECK(cmd(d0, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, NPAGES, &c) == 0);
	CHECK(c.cpages == NPAGES);
	CHECK(memcmp(buf, data, NPAGES * PAGE) == 0);
	CHECK(snapshot_is(d0, p, HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL |
				 HMM_DMIRROR_PROT_WRITE));
	/* Another owner's private pages are invisible to device 1. */
	CHECK(snapshot_is(d1, p, HMM_DMIRROR_PROT_NONE));
	CHECK(dmirror_device_stats(0, &s1) == 0);
	CHECK(s1.pages_in_use == s0.pages_in_use + NPAGES);

	/* Device 1 reads: one fault pass brings every page back. */
	memset(buf, 0, NPAGES * PAGE);
	CHECK(cmd(d1, HMM_DMIRROR_READ, p, buf, NPAGES, &c) == 0);
	CHECK(c.cpages == NPAGES && c.faults == 1);
	CHECK(memcmp(buf, data, NPAGES * PAGE) == 0);
	CHECK(snapshot_is(d0, p, HMM_DMIRROR_PROT_WRITE));
	CHECK(dmirror_device_stats(0, &s1) == 0);
	CHECK(s1.pages_in_use == s0.pages_in_use);
	CHECK(s1.pages_freed == s0.pages_freed + NPAGES);

	/* And the CPU sees the same data. */
	memset(buf, 0, NPAGES * PAGE);
	CHECK(uhmm_access(mm, p, buf, NPAGES * PAGE, 0) == NPAGES * PAGE);
	CHECK(memcmp(buf, data, NPAGES * PAGE) == 0);

	dmirror_close(d1);
	dmirror_close(d0);
	uhmm_mm_exit(mm);
	free(buf);
	free(data);
	printf("%sok 1 - two devices on one mm (%d checks)\n",
	       failures ? "not " : "", checks);
	return failures != 0;
}
