// SPDX-License-Identifier: MIT
/*
 * hmm_range_fault with HMM_PFN_REQ_FAULT over never-touched anonymous
 * memory: the device faults the pages in itself, no trap involved. A
 * read request maps the zero page, a write request (HMM_PFN_REQ_WRITE)
 * allocates; each against the host's own first-touch fault of the same
 * kind.
 *
 *	hmm_fault [--mib SIZE] [--quick] [--json FILE]
 *
 * One hmm_range_fault() call over the whole region (64 MiB by default)
 * under mmap_read_lock; the mapping, the notifier and the munmap are not
 * timed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/mman.h>

#include <uhmm/uhmm.h>

#include "bench.h"

static struct mm_struct *mm;
static size_t size;
static unsigned long *pfns;

/* ns per page of faulting a fresh region in with one call. */
static double device_fault(void *arg)
{
	bool write = *(bool *)arg;
	struct mmu_interval_notifier sub;
	struct hmm_range range = {
		.notifier = &sub,
		.hmm_pfns = pfns,
		.default_flags = HMM_PFN_REQ_FAULT |
				 (write ? HMM_PFN_REQ_WRITE : 0),
	};
	double t = 0, t0;
	char *p;
	int ret;

	p = bench_uhmm_map(mm, size, 0);
	range.start = (unsigned long)p;
	range.end = range.start + size;
	if (mmu_interval_notifier_insert(&sub, mm, range.start, size,
					 &bench_nop_notifier_ops))
		exit(1);
	do {
		range.notifier_seq = mmu_interval_read_begin(&sub);
		mmap_read_lock(mm);
		t0 = bench_now_ns();
		ret = hmm_range_fault(&range);
		t += bench_now_ns() - t0;
		mmap_read_unlock(mm);
	} while (ret == -EBUSY);
	if (ret) {
		fprintf(stderr, "hmm_range_fault: %s\n", strerror(-ret));
		exit(1);
	}
	if (!(pfns[size / PAGE_SIZE - 1] & HMM_PFN_VALID))
		abort();
	mmu_interval_notifier_remove(&sub);
	uhmm_munmap(mm, p, size);
	return t / (size / PAGE_SIZE);
}

int main(int argc, char **argv)
{
	bool quick = bench_quick(argc, argv);
	struct uhmm_config config = { 0 };
	int reps = quick ? 5 : 9;
	struct bench_native native;
	bool write;
	struct bench_stat v, b;
	char params[128];

	size = bench_region(argc, argv, 64, 16);
	config.ram_size = 2 * size + (64UL << 20);
	mm = bench_uhmm_start(&config);
	pfns = calloc(size / PAGE_SIZE, sizeof(*pfns));
	if (!mm || !pfns)
		return 1;
	native.size = size;
	snprintf(params, sizeof(params),
		 "\"region_mib\": %zu, \"calls\": 1", size >> 20);

	bench_begin(argc, argv, "hmm_range_fault faulting never-touched memory");
	write = false;
	native.write = false;
	v = bench_repeat(device_fault, &write, 2, reps);
	b = bench_repeat(bench_native_fault, &native, 2, reps);
	bench_report("hmm_fault_read", "ns/page", v, "native_fault_read", b,
		     params);
	write = true;
	native.write = true;
	v = bench_repeat(device_fault, &write, 2, reps);
	b = bench_repeat(bench_native_fault, &native, 2, reps);
	bench_report("hmm_fault_write", "ns/page", v, "native_fault_write", b,
		     params);
	bench_end();
	uhmm_mm_exit(mm);
	free(pfns);
	return 0;
}
