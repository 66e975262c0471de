// SPDX-License-Identifier: MIT
/*
 * hmm_range_fault as a snapshot (no fault requested) of present 4 KiB
 * PTEs, against its floor: a plain loop that reads the same PTEs (walking
 * the same page tables) and writes the same hmm_pfns[] entries.
 *
 *	hmm_snapshot [--mib SIZE] [--quick] [--json FILE]
 *
 * The region (1 GiB by default, 128 MiB with --quick) is populated with
 * MAP_POPULATE; the snapshot is one hmm_range_fault() call over all of it
 * under mmap_read_lock, the way a driver mirrors a large range.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include <uhmm/uhmm.h>

#include "mm/pgtable.h"

#include "bench.h"

static struct mm_struct *mm;
static unsigned long start, end;
static unsigned long *pfns;

static struct mmu_interval_notifier sub;

/* ns per page of one hmm_range_fault() snapshot of the region. */
static double snapshot(void *arg)
{
	struct hmm_range range = {
		.notifier = &sub,
		.start = start,
		.end = end,
		.hmm_pfns = pfns,
	};
	double t0;
	int ret;

	do {
		range.notifier_seq = mmu_interval_read_begin(&sub);
		mmap_read_lock(mm);
		t0 = bench_now_ns();
		ret = hmm_range_fault(&range);
		t0 = bench_now_ns() - t0;
		mmap_read_unlock(mm);
	} while (ret == -EBUSY);
	if (ret) {
		fprintf(stderr, "hmm_range_fault: %s\n", strerror(-ret));
		exit(1);
	}
	return t0 / ((end - start) >> PAGE_SHIFT);
}

/*
 * The floor: walk the page tables down to each PTE table once, read every
 * PTE of it and write the entry hmm_range_fault would.
 */
static double floor_loop(void *arg)
{
	unsigned long *out = pfns;
	double t0;

	mmap_read_lock(mm);
	t0 = bench_now_ns();
	for (unsigned long addr = start, next; addr < end; addr = next) {
		pmd_t *pmd = pte_table_lookup(mm, addr);
		pte_t *ptep;

		next = level_addr_end(addr, end, PMD_SIZE);
		if (!pmd) {
			for (; addr < next; addr += PAGE_SIZE)
				*out++ = 0;
			continue;
		}
		ptep = pte_offset(pmd, addr);
		for (; addr < next; addr += PAGE_SIZE, ptep++) {
			pte_t pte = ptep_get(ptep);

			*out++ = pte_present(pte) ?
				 pte_pfn(pte) | HMM_PFN_VALID |
				 (pte_write(pte) ? HMM_PFN_WRITE : 0) : 0;
		}
	}
	t0 = bench_now_ns() - t0;
	mmap_read_unlock(mm);
	return t0 / ((end - start) >> PAGE_SHIFT);
}

int main(int argc, char **argv)
{
	const char *mib_opt = bench_option(argc, argv, "mib");
	bool quick = bench_quick(argc, argv);
	size_t size = (mib_opt ? strtoul(mib_opt, NULL, 0) :
		       quick ? 128 : 1024) << 20;
	struct uhmm_config config = {
		/* the region, its page tables and room to spare */
		.ram_size = size + (size >> 1) + (64UL << 20),
	};
	unsigned long npages = size >> PAGE_SHIFT, present = 0;
	int reps = quick ? 5 : 11;
	struct bench_stat v, b;
	char params[160];
	char *p;
	int err;

	mm = bench_uhmm_start(&config);
	p = bench_uhmm_map(mm, size, MAP_POPULATE);
	start = (unsigned long)p;
	end = start + size;
	pfns = calloc(npages, sizeof(*pfns));
	err = mmu_interval_notifier_insert(&sub, mm, start, size, &bench_nop_notifier_ops);
	if (!pfns || err) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	/* Every page must be a present PTE, or the figure means nothing. */
	snapshot(NULL);
	for (unsigned long i = 0; i < npages; i++)
		present += !!(pfns[i] & HMM_PFN_VALID);
	if (present != npages) {
		fprintf(stderr, "only %lu of %lu pages present\n", present,
			npages);
		return 1;
	}

	snprintf(params, sizeof(params),
		 "\"region_mib\": %zu, \"pages\": %lu, \"calls\": 1",
		 size >> 20, npages);
	bench_begin(argc, argv, "hmm_range_fault snapshot of present PTEs");
	v = bench_repeat(snapshot, NULL, 2, reps);
	b = bench_repeat(floor_loop, NULL, 2, reps);
	bench_report("hmm_snapshot_present", "ns/page", v, "pte_read_floor", b,
		     params);
	bench_end();

	mmu_interval_notifier_remove(&sub);
	uhmm_mm_exit(mm);
	free(pfns);
	return 0;
}
