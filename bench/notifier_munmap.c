// SPDX-License-Identifier: MIT
/*
 * What munmap() of 1 GiB costs with many interval notifiers on the mm:
 * notifiers registered elsewhere in the address space must cost nothing
 * (the interval tree finds the ones a range hits), notifiers the range
 * hits cost one invalidate callback each.
 *
 *	notifier_munmap [--mib SIZE] [--populate] [--quick] [--json FILE]
 *
 * 0, 10, 1,000 and 100,000 one-page notifiers, either all outside the
 * unmapped range ("miss": above it) or spread evenly over it ("hit").
 * The region is mapped again at the same address before every run. It
 * is left empty, so that the figure is the invalidation and not the
 * freeing of pages; --populate touches one page every 2 MiB, so that
 * every PTE table exists and pages and host mappings are torn down too
 * (milliseconds, which drown the notifiers). The baseline is the same
 * munmap() with no notifier at all, measured again before each figure.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include <uhmm/uhmm.h>

#include "bench.h"

#define PAGE	4096UL

static struct mm_struct *mm;
static size_t size;
static char *region;
static bool populate;
static unsigned long hits;	/* invalidate callbacks */

static bool count_invalidate(struct mmu_interval_notifier *sub,
			     const struct mmu_notifier_range *range,
			     unsigned long cur_seq)
{
	mmu_interval_set_seq(sub, cur_seq);
	hits++;
	return true;
}

static const struct mmu_interval_notifier_ops count_ops = {
	.invalidate = count_invalidate,
};

static void map_region(void)
{
	char *p = uhmm_mmap(mm, region, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS |
			    (region ? MAP_FIXED : 0), -1, 0);

	if (p == MAP_FAILED || (region && p != region)) {
		perror("uhmm_mmap");
		exit(1);
	}
	region = p;
	if (populate)
		for (size_t off = 0; off < size; off += PMD_SIZE)
			p[off] = 1;
}

/* µs of one munmap() of the region. */
static double unmap(void *arg)
{
	double t0;

	map_region();
	t0 = bench_now_ns();
	if (uhmm_munmap(mm, region, size)) {
		perror("uhmm_munmap");
		exit(1);
	}
	return (bench_now_ns() - t0) / 1e3;
}

int main(int argc, char **argv)
{
	const char *mib_opt = bench_option(argc, argv, "mib");
	bool quick = bench_quick(argc, argv);
	static const unsigned long counts[] = { 10, 1000, 100000 };
	struct uhmm_config config = { 0 };
	int reps = quick ? 5 : 9;
	struct mmu_interval_notifier *subs;
	char params[192], name[64];

	populate = bench_flag(argc, argv, "populate");
	size = (mib_opt ? strtoul(mib_opt, NULL, 0) : quick ? 256 : 1024)
	       << 20;
	config.ram_size = 256UL << 20;
	mm = bench_uhmm_start(&config);
	subs = calloc(counts[2], sizeof(*subs));
	if (!mm || !subs)
		return 1;
	/* Where the region lives: map it once, keep the address. */
	map_region();
	uhmm_munmap(mm, region, size);

	bench_begin(argc, argv, "munmap with interval notifiers registered");
	for (int hit = 0; hit < 2; hit++) {
		for (unsigned int c = 0; c < 3; c++) {
			unsigned long n = counts[c], stride;
			unsigned long first;
			struct bench_stat v, base;

			/* The baseline next to each figure: a drift of the
			 * machine between figures is not taken for theirs. */
			base = bench_repeat(unmap, NULL, 2, reps);
			/* miss: one page every 8 KiB above the region;
			 * hit: spread over the whole of it. */
			stride = hit ? size / n & PAGE_MASK : 2 * PAGE;
			first = (unsigned long)region + (hit ? 0 : size + PMD_SIZE);
			for (unsigned long i = 0; i < n; i++)
				if (mmu_interval_notifier_insert(&subs[i], mm,
						first + i * stride, PAGE,
						&count_ops))
					return 1;
			hits = 0;
			v = bench_repeat(unmap, NULL, 2, reps);
			for (unsigned long i = 0; i < n; i++)
				mmu_interval_notifier_remove(&subs[i]);
			snprintf(params, sizeof(params),
				 "\"notifiers\": %lu, \"hit\": %s, "
				 "\"callbacks_per_munmap\": %lu, "
				 "\"region_mib\": %zu, \"populated\": %s",
				 n, hit ? "true" : "false",
				 hits / (2 + reps), size >> 20,
				 populate ? "true" : "false");
			snprintf(name, sizeof(name), "munmap_notifiers_%s_%lu",
				 hit ? "hit" : "miss", n);
			bench_report(name, "us", v, "no_notifiers", base,
				     params);
		}
	}
	bench_end();
	uhmm_mm_exit(mm);
	free(subs);
	return 0;
}
