// SPDX-License-Identifier: MIT
/*
 * The host's own page fault, the baseline of every fault figure: a first
 * touch of fresh private anonymous memory, 4 KiB pages.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "bench.h"

#define PAGE	4096UL

double bench_native_fault(void *arg)
{
	const struct bench_native *n = arg;
	unsigned long sum = 0;
	double t0;
	char *p;

	p = mmap(NULL, n->size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	madvise(p, n->size, MADV_NOHUGEPAGE);
	t0 = bench_now_ns();
	for (size_t off = 0; off < n->size; off += PAGE) {
		if (n->write)
			((volatile char *)p)[off] = 1;
		else
			sum += ((volatile char *)p)[off];
	}
	t0 = (bench_now_ns() - t0) / (n->size / PAGE);
	munmap(p, n->size);
	if (sum)
		abort();
	return t0;
}
