// SPDX-License-Identifier: MIT
/*
 * The device fault path end to end through dmirror: a READ command finds
 * the pages missing from its device page table, runs hmm_range_fault()
 * (in batches of 64 pages, the driver's), takes its notifier lock, checks
 * the sequence and enters the pages. Commands of 1 page and of 512 pages.
 *
 *	dmirror_fault [--mib SIZE] [--quick] [--json FILE]
 *
 * The CPU has the pages mapped (MAP_POPULATE), so no CPU fault is part of
 * it. Each page READ also costs the command's two 4 KiB copies (device
 * memory to its bounce buffer, bounce buffer to cmd.ptr): the same
 * command over pages the device already maps is the second baseline, and
 * the difference between the two is the fault path alone. The first
 * baseline is the host's first-touch write fault.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

#include "bench.h"

#define PAGE	4096UL

static struct mm_struct *mm;
static struct dmirror *dmirror;
static size_t size;
static char *buf;

struct run {
	unsigned long batch;	/* pages per READ command */
	bool hit;		/* read twice, time the second pass */
};

static void read_all(char *p, unsigned long batch)
{
	for (size_t off = 0; off < size; off += batch * PAGE) {
		struct hmm_dmirror_cmd cmd = {
			.addr = (uintptr_t)p + off,
			.ptr = (uintptr_t)buf,
			.npages = batch,
		};
		int ret = dmirror_cmd(dmirror, HMM_DMIRROR_READ, &cmd);

		if (ret || cmd.cpages != batch) {
			fprintf(stderr, "READ: %d\n", ret);
			exit(1);
		}
	}
}

/* ns per page of READ over a region the device has not mapped yet. */
static double device_read(void *arg)
{
	const struct run *r = arg;
	double t0;
	char *p;

	p = bench_uhmm_map(mm, size, MAP_POPULATE);
	if (r->hit)
		read_all(p, r->batch);
	t0 = bench_now_ns();
	read_all(p, r->batch);
	t0 = (bench_now_ns() - t0) / (size / PAGE);
	uhmm_munmap(mm, p, size);	/* the device forgets the region */
	return t0;
}

int main(int argc, char **argv)
{
	bool quick = bench_quick(argc, argv);
	struct uhmm_config config = { 0 };
	struct bench_native native = { .write = true };
	static const unsigned long batches[] = { 1, 512 };
	int reps = quick ? 5 : 9;
	struct bench_stat nat;
	char params[160];

	size = bench_region(argc, argv, 32, 8);
	config.ram_size = 2 * size + (64UL << 20);
	mm = bench_uhmm_start(&config);
	dmirror = dmirror_open(mm, 0);
	buf = malloc(512 * PAGE);
	if (!mm || !dmirror || !buf)
		return 1;
	memset(buf, 0, 512 * PAGE);
	native.size = size;

	bench_begin(argc, argv, "device faults through dmirror (READ)");
	nat = bench_repeat(bench_native_fault, &native, 2, reps);
	for (unsigned int i = 0; i < 2; i++) {
		struct run miss = { .batch = batches[i] };
		struct run hit = { .batch = batches[i], .hit = true };
		struct bench_stat v, h;
		char name[64];

		snprintf(params, sizeof(params),
			 "\"batch_pages\": %lu, \"region_mib\": %zu, "
			 "\"cpu_populated\": true, \"includes\": "
			 "\"READ copies\"", batches[i], size >> 20);
		v = bench_repeat(device_read, &miss, 2, reps);
		h = bench_repeat(device_read, &hit, 2, reps);
		snprintf(name, sizeof(name), "dmirror_fault_%lu", batches[i]);
		bench_report(name, "ns/page", v, "native_fault_write", nat,
			     params);
		snprintf(name, sizeof(name), "dmirror_fault_%lu_vs_hit",
			 batches[i]);
		bench_report(name, "ns/page", v, "dmirror_read_hit", h,
			     params);
	}
	bench_end();
	dmirror_close(dmirror);
	uhmm_mm_exit(mm);
	free(buf);
	return 0;
}
