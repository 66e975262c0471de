// SPDX-License-Identifier: MIT
/*
 * A CPU touch of a device-private page: the load or store traps
 * (SIGSEGV), the fault handler finds the device-private entry, calls
 * dmirror's migrate_to_ram() (migrate_vma of that one page back to system
 * RAM) and maps the page in the host; the instruction runs again. Against
 * the host's own first-touch write fault, which also has to allocate and
 * fill a page.
 *
 *	devmem_fault [--mib SIZE] [--quick] [--json FILE]
 *
 * Untimed before each run: a fresh region, written by the CPU, moved to
 * dmirror device 0 with HMM_DMIRROR_MIGRATE_TO_DEV.
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

/* ns per page of touching every page of a region on the device. */
static double touch_device(void *arg)
{
	bool write = *(bool *)arg;
	struct hmm_dmirror_cmd cmd = { .ptr = (uintptr_t)buf };
	unsigned long sum = 0;
	double t0;
	char *p;
	int ret;

	p = bench_uhmm_map(mm, size, 0);
	for (size_t off = 0; off < size; off += PAGE)
		p[off] = 1;
	cmd.addr = (uintptr_t)p;
	cmd.npages = size / PAGE;
	ret = dmirror_cmd(dmirror, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd);
	if (ret || cmd.cpages != size / PAGE) {
		fprintf(stderr, "MIGRATE_TO_DEV: %d\n", ret);
		exit(1);
	}
	t0 = bench_now_ns();
	for (size_t off = 0; off < size; off += PAGE) {
		if (write)
			((volatile char *)p)[off] = 2;
		else
			sum += ((volatile char *)p)[off];
	}
	t0 = (bench_now_ns() - t0) / (size / PAGE);
	if (!write && sum != size / PAGE)
		abort();
	uhmm_munmap(mm, p, size);
	return t0;
}

int main(int argc, char **argv)
{
	bool quick = bench_quick(argc, argv);
	struct uhmm_config config = { 0 };
	struct bench_native native = { .write = true };
	int reps = quick ? 5 : 9;
	struct bench_stat v, b;
	char params[128];
	bool write;

	size = bench_region(argc, argv, 16, 4);
	config.ram_size = 2 * size + (64UL << 20);
	mm = bench_uhmm_start(&config);
	dmirror = dmirror_open(mm, 0);
	buf = malloc(size);
	if (!mm || !dmirror || !buf)
		return 1;
	memset(buf, 0, size);
	native.size = size;
	snprintf(params, sizeof(params),
		 "\"region_mib\": %zu, \"device\": \"dmirror 0 (private)\"",
		 size >> 20);

	bench_begin(argc, argv, "CPU touch of device-private pages");
	b = bench_repeat(bench_native_fault, &native, 2, reps);
	write = false;
	v = bench_repeat(touch_device, &write, 1, reps);
	bench_report("devmem_cpu_touch_read", "ns/page", v,
		     "native_fault_write", b, params);
	write = true;
	v = bench_repeat(touch_device, &write, 1, reps);
	bench_report("devmem_cpu_touch_write", "ns/page", v,
		     "native_fault_write", b, params);
	bench_end();
	dmirror_close(dmirror);
	uhmm_mm_exit(mm);
	free(buf);
	return 0;
}
