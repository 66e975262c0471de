// SPDX-License-Identifier: MIT
/*
 * migrate_vma_setup / pages / finalize to device-private memory and back,
 * driven directly (no dmirror command, so no copy but the migration's
 * own), against memcpy() of the same bytes in the same pieces.
 *
 *	migrate [--mib SIZE] [--quick] [--json FILE]
 *
 *  4 KiB-scattered: every other page of the region, one migrate_vma call
 *	per page (a driver migrating scattered pages has no longer run);
 *	baseline: memcpy() of 4 KiB at every other page.
 *  2 MiB-aligned: 2 MiB-aligned ranges of 512 pages, one call each;
 *	baseline: memcpy() of 2 MiB pieces.
 *
 * Each shape runs twice. Pages the CPU has not touched since they came
 * back from the device are in no host mapping and go without a host
 * call; "_cpu_written" pages were written through pointers before each
 * trip to the device (not timed), as a CPU producing data for the device
 * would, so their host mappings are shot down first. The data is checked
 * after every trip of those, and after the last trip of the others.
 *
 * The device is this file's: one pagemap of device-private memory from
 * memremap_pages(), its "device RAM" a host buffer, a free list of pages,
 * as drivers/dmirror does. The free list hands pages out in the order
 * they were freed, so pages that move together stay together, and the
 * copy is one memcpy() a run of pages contiguous on both sides, as a DMA
 * engine takes one descriptor a run: what is measured beyond memcpy() is
 * migrate_vma's own work. GB/s counts the bytes that moved.
 *
 * The baseline is a memcpy() round trip of the same bytes after each
 * migration round trip: there into a second buffer ("memcpy", against
 * the trips to the device), and back from it ("memcpy_back", against
 * the trips to system RAM, which read bytes the trip before wrote, as
 * the copy back does). Run in the same rounds, it sees the caches and
 * the machine's other jobs as the migrations do: a memcpy() repeated on
 * its own keeps its buffers in a large last-level cache and measures
 * that cache, not the memory the migrations go to.
 *
 * "_overhead": the same trips with the driver's copy left out, in ns a
 * page, against the memcpy() of one page in the baseline's pieces: what
 * migrate_vma and the driver's page handling add to the copy. A ratio r
 * there caps the GB/s ratio at 1 / (1 + r): 0.25 for 0.8.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include <uhmm/uhmm.h>

#include "bench.h"

#define PAGE		4096UL
#define RANGE_PAGES	512UL

static struct dev_pagemap pgmap;
static char *devmem;			/* contents of the device's pages */
/* Free device pages: a ring, taken at head, given back at tail. */
static struct page **free_pages;
static unsigned long free_head, free_tail, nr_free;

static void *devpage_data(struct page *page)
{
	return devmem + ((page_to_pfn(page) - pgmap.pfn_first) * PAGE);
}

static void devpage_free(struct page *page)
{
	free_pages[free_tail++ % pgmap.nr_pages] = page;
	nr_free++;
}

static struct page *devpage_alloc(void)
{
	struct page *page;

	if (!nr_free)
		return NULL;
	page = free_pages[free_head++ % pgmap.nr_pages];
	nr_free--;
	zone_device_page_init(page);
	return page;
}

/* Off for the "_overhead" trips: what the migration costs beyond the
 * copy (the bytes are garbage then, and checked no more). */
static bool copy_data = true;

/* Copy page i from from[i] to to[i] (NULL: none), a run of pages
 * contiguous on both sides at a time. */
static void copy_runs(char **to, char **from, unsigned long n)
{
	for (unsigned long i = 0, run; i < n; i += run) {
		run = 1;
		if (!to[i])
			continue;
		while (i + run < n && to[i + run] == to[i] + run * PAGE &&
		       from[i + run] == from[i] + run * PAGE)
			run++;
		memcpy(to[i], from[i], run * PAGE);
	}
}

/*
 * Fill dst[] for the pages that can move, to system RAM or to the device,
 * and copy them; returns how many moved.
 */
static unsigned long copy_pages(struct migrate_vma *args, bool to_device)
{
	char *to[RANGE_PAGES], *from[RANGE_PAGES];
	unsigned long moved = 0;

	for (unsigned long i = 0; i < args->npages; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		struct page *dpage = NULL;

		args->dst[i] = 0;
		to[i] = NULL;
		if (!spage || !(args->src[i] & MIGRATE_PFN_MIGRATE) ||
		    is_zone_device_page(spage) != !to_device)
			continue;
		if (to_device) {
			dpage = devpage_alloc();
		} else {
			dpage = alloc_page_vma(args->vma,
					       args->start + i * PAGE);
			if (dpage)
				lock_page(dpage);
		}
		if (!dpage)
			continue;
		to[i] = to_device ? devpage_data(dpage) : page_address(dpage);
		from[i] = to_device ? page_address(spage) :
				      devpage_data(spage);
		args->dst[i] = migrate_pfn(page_to_pfn(dpage)) |
			       (args->src[i] & MIGRATE_PFN_WRITE);
		moved++;
	}
	if (copy_data)
		copy_runs(to, from, args->npages);
	return moved;
}

/* Migrate [start, end) one way; returns the pages that moved. */
static unsigned long migrate_range(struct mm_struct *mm, unsigned long start,
				   unsigned long end, bool to_device)
{
	unsigned long src[RANGE_PAGES], dst[RANGE_PAGES], moved;
	struct migrate_vma args = {
		.vma = vma_lookup(mm, start),
		.src = src,
		.dst = dst,
		.start = start,
		.end = end,
		.pgmap_owner = &pgmap,
		.flags = to_device ? MIGRATE_VMA_SELECT_SYSTEM :
				     MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
	};

	if (migrate_vma_setup(&args))
		return 0;
	moved = copy_pages(&args, to_device);
	migrate_vma_pages(&args);
	migrate_vma_finalize(&args);
	return moved;
}

/* The CPU touched one of our pages (the benchmark does not; a driver
 * must have it): bring it back. */
static vm_fault_t devpage_migrate_to_ram(struct vm_fault *vmf)
{
	unsigned long src = 0, dst = 0;
	struct migrate_vma args = {
		.vma = vmf->vma,
		.start = vmf->address & PAGE_MASK,
		.end = (vmf->address & PAGE_MASK) + PAGE,
		.src = &src,
		.dst = &dst,
		.pgmap_owner = &pgmap,
		.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};

	if (migrate_vma_setup(&args))
		return VM_FAULT_SIGBUS;
	copy_pages(&args, false);
	migrate_vma_pages(&args);
	migrate_vma_finalize(&args);
	return 0;
}

static const struct dev_pagemap_ops devpage_ops = {
	.page_free = devpage_free,
	.migrate_to_ram = devpage_migrate_to_ram,
};

static void device_init(size_t size)
{
	void *ret;

	pgmap.type = MEMORY_DEVICE_PRIVATE;
	pgmap.ops = &devpage_ops;
	pgmap.owner = &pgmap;
	if (request_free_mem_region(size, &pgmap.range))
		exit(1);
	ret = memremap_pages(&pgmap);
	if (IS_ERR(ret)) {
		fprintf(stderr, "memremap_pages: %ld\n", PTR_ERR(ret));
		exit(1);
	}
	devmem = malloc(size);
	free_pages = calloc(pgmap.nr_pages, sizeof(*free_pages));
	if (!devmem || !free_pages)
		exit(1);
	/* The device's RAM is there: every page populated (not 0, which
	 * the compiler may turn into calloc(), which populates nothing). */
	memset(devmem, 0xa5, size);
	for (unsigned long i = 0; i < pgmap.nr_pages; i++)
		free_pages[free_tail++] = &pgmap.pages[i];
	nr_free = pgmap.nr_pages;
}

static struct mm_struct *mm;
static size_t size;
static char *region;		/* managed, 2 MiB-aligned */
static char *src_buf, *dst_buf;	/* native, for memcpy */

static unsigned long trip_step(unsigned long pages_per_call)
{
	return pages_per_call == 1 ? 2 * PAGE : pages_per_call * PAGE;
}

/* The word at the start of every page that moves: set and check it
 * through pointers. */
static void write_words(unsigned long pages_per_call, uint64_t val)
{
	unsigned long step = trip_step(pages_per_call);

	for (unsigned long off = 0; off < size; off += step)
		for (unsigned long p = 0; p < pages_per_call; p++)
			*(uint64_t *)(region + off + p * PAGE) =
				val + ((off >> 12) + p);
}

static void check_words(unsigned long pages_per_call, uint64_t val)
{
	unsigned long step = trip_step(pages_per_call);

	for (unsigned long off = 0; off < size; off += step)
		for (unsigned long p = 0; p < pages_per_call; p++)
			if (*(uint64_t *)(region + off + p * PAGE) !=
			    val + ((off >> 12) + p)) {
				fprintf(stderr, "page %#lx lost its data\n",
					off + p * PAGE);
				exit(1);
			}
}

/*
 * One round trip; the GB/s of each way in *to_dev, *to_sys. With
 * cpu_val, the CPU writes every page first and the data is checked when
 * it is back.
 */
static void round_trip(unsigned long pages_per_call, uint64_t cpu_val,
		       double *to_dev, double *to_sys)
{
	unsigned long start = (unsigned long)region, end = start + size;
	unsigned long step = trip_step(pages_per_call);
	unsigned long expect = (size / step) * pages_per_call, moved;
	double t0;

	if (cpu_val)
		write_words(pages_per_call, cpu_val);
	for (int way = 0; way < 2; way++) {
		moved = 0;
		mmap_read_lock(mm);
		t0 = bench_now_ns();
		for (unsigned long a = start; a < end; a += step)
			moved += migrate_range(mm, a,
					       a + pages_per_call * PAGE,
					       way == 0);
		t0 = bench_now_ns() - t0;
		mmap_read_unlock(mm);
		if (moved != expect) {
			fprintf(stderr, "moved %lu of %lu pages\n", moved,
				expect);
			exit(1);
		}
		*(way == 0 ? to_dev : to_sys) = moved * PAGE / t0;
	}
	if (cpu_val)
		check_words(pages_per_call, cpu_val);
}

/* memcpy() GB/s of the same bytes in the same pieces, one way. */
static double copy_way(unsigned long pages_per_call, char *to, char *from)
{
	unsigned long step = trip_step(pages_per_call);
	unsigned long bytes = 0;
	double t0 = bench_now_ns();

	for (unsigned long off = 0; off < size; off += step) {
		memcpy(to + off, from + off, pages_per_call * PAGE);
		bytes += pages_per_call * PAGE;
	}
	t0 = bench_now_ns() - t0;
	/* keep the copies */
	__asm__ volatile("" : : "r"(to) : "memory");
	return bytes / t0;
}

/* A memcpy() round trip as the migration's data goes: there, and back
 * from where it went (the bytes just written, as the device's are). */
static void copy_trip(unsigned long pages_per_call, double *there,
		      double *back)
{
	*there = copy_way(pages_per_call, dst_buf, src_buf);
	*back = copy_way(pages_per_call, src_buf, dst_buf);
}

static char *map_region(void)
{
	char *p = bench_uhmm_map(mm, size + PMD_SIZE, 0);
	char *aligned;

	aligned = (char *)(((unsigned long)p + PMD_SIZE - 1) & PMD_MASK);
	/* Real pages with distinct contents, not the zero page. */
	for (size_t off = 0; off < size; off += PAGE)
		aligned[off] = (char)(off >> 12);
	return aligned;
}

/* A GB/s figure of 4 KiB pages as ns a page (min and max trade places). */
static struct bench_stat ns_per_page(struct bench_stat gbps)
{
	return (struct bench_stat){
		.median = PAGE / gbps.median,
		.min = PAGE / gbps.max,
		.max = PAGE / gbps.min,
	};
}

static void run_shape(unsigned long pages_per_call, const char *shape,
		      int reps)
{
	double dev[BENCH_MAX_REPS], sys[BENCH_MAX_REPS];
	double cdev[BENCH_MAX_REPS], csys[BENCH_MAX_REPS];
	double odev[BENCH_MAX_REPS], osys[BENCH_MAX_REPS];
	double copy_there[BENCH_MAX_REPS], copy_back[BENCH_MAX_REPS];
	struct bench_stat there, back;
	char params[192], name[64];

	/* A memcpy() round trip after each migration round trip: the
	 * baseline sees the machine (its caches, the other jobs on it) as
	 * the migrations did. */
	write_words(pages_per_call, 1);
	round_trip(pages_per_call, 0, &dev[0], &sys[0]);	/* warm-up */
	copy_trip(pages_per_call, &copy_there[0], &copy_back[0]);
	for (int r = 0; r < reps; r++) {
		round_trip(pages_per_call, 0, &dev[r], &sys[r]);
		copy_trip(pages_per_call, &copy_there[r], &copy_back[r]);
	}
	check_words(pages_per_call, 1);
	for (int r = 0; r < reps; r++)
		round_trip(pages_per_call, 2 + r, &cdev[r], &csys[r]);
	copy_data = false;
	for (int r = 0; r < reps; r++)
		round_trip(pages_per_call, 0, &odev[r], &osys[r]);
	copy_data = true;
	there = bench_stat_of(copy_there, reps);
	back = bench_stat_of(copy_back, reps);

	snprintf(params, sizeof(params),
		 "\"pages_per_call\": %lu, \"region_mib\": %zu, "
		 "\"moved_mib\": %zu, \"driver\": \"direct\"",
		 pages_per_call, size >> 20,
		 (pages_per_call == 1 ? size / 2 : size) >> 20);
	snprintf(name, sizeof(name), "migrate_to_dev_%s", shape);
	bench_report(name, "GB/s", bench_stat_of(dev, reps), "memcpy", there,
		     params);
	snprintf(name, sizeof(name), "migrate_to_sys_%s", shape);
	bench_report(name, "GB/s", bench_stat_of(sys, reps), "memcpy_back",
		     back, params);
	snprintf(name, sizeof(name), "migrate_to_dev_%s_cpu_written", shape);
	bench_report(name, "GB/s", bench_stat_of(cdev, reps), "memcpy", there,
		     params);
	snprintf(name, sizeof(name), "migrate_overhead_to_dev_%s", shape);
	bench_report(name, "ns/page", ns_per_page(bench_stat_of(odev, reps)),
		     "memcpy_page", ns_per_page(there), params);
	snprintf(name, sizeof(name), "migrate_overhead_to_sys_%s", shape);
	bench_report(name, "ns/page", ns_per_page(bench_stat_of(osys, reps)),
		     "memcpy_back_page", ns_per_page(back), params);
}

int main(int argc, char **argv)
{
	bool quick = bench_quick(argc, argv);
	struct uhmm_config config = { 0 };
	int reps = quick ? 3 : 7;

	size = bench_region(argc, argv, 64, 16);
	size = (size + PMD_SIZE - 1) & PMD_MASK;
	config.ram_size = 2 * size + (64UL << 20);
	mm = bench_uhmm_start(&config);
	device_init(size);
	region = map_region();
	src_buf = malloc(size);
	dst_buf = malloc(size);
	if (!mm || !src_buf || !dst_buf)
		return 1;
	memset(src_buf, 1, size);
	memset(dst_buf, 2, size);

	bench_begin(argc, argv, "migrate_vma to device memory and back");
	run_shape(1, "4k_scattered", reps);
	run_shape(RANGE_PAGES, "2m_aligned", reps);
	bench_end();

	uhmm_mm_exit(mm);
	memunmap_pages(&pgmap);
	free(devmem);
	free(free_pages);
	free(src_buf);
	free(dst_buf);
	return 0;
}
