// SPDX-License-Identifier: MIT
/*
 * The CPU side against the host's own: a first-touch write and read of
 * private anonymous memory, page by page, in managed memory (SIGSEGV,
 * handle_mm_fault, host mapping of a block) and in plain mmap() memory
 * (the host's page fault); and the shootdown of a touched region
 * (uhmm_munmap) against the host's munmap().
 *
 *	cpu_fault [--block PAGES] [--mib SIZE] [--quick] [--json FILE]
 *
 * The native baseline is 4 KiB pages: its region is MADV_NOHUGEPAGE.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/mman.h>

#include <uhmm/uhmm.h>

#include "bench.h"

#define PAGE	4096UL

static struct mm_struct *mm;
static size_t size;

static char *map_managed(void)
{
	return bench_uhmm_map(mm, size, 0);
}

static char *map_native(void)
{
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	madvise(p, size, MADV_NOHUGEPAGE);
	return p;
}

static void unmap_managed(char *p)
{
	if (uhmm_munmap(mm, p, size)) {
		perror("uhmm_munmap");
		exit(1);
	}
}

static void unmap_native(char *p)
{
	munmap(p, size);
}

struct side {
	char *(*map)(void);
	void (*unmap)(char *p);
};

static const struct side managed = { map_managed, unmap_managed };
static const struct side native = { map_native, unmap_native };

static void touch_write(char *p)
{
	for (size_t off = 0; off < size; off += PAGE)
		((volatile char *)p)[off] = 1;
}

static void touch_read(char *p)
{
	unsigned long sum = 0;

	for (size_t off = 0; off < size; off += PAGE)
		sum += ((volatile char *)p)[off];
	if (sum)
		abort();
}

struct first_touch {
	const struct side *side;
	void (*touch)(char *p);
};

/* ns per page of a first touch of every page. */
static double first_touch(void *arg)
{
	const struct first_touch *ft = arg;
	char *p = ft->side->map();
	double t0 = bench_now_ns();

	ft->touch(p);
	t0 = (bench_now_ns() - t0) / (size / PAGE);
	ft->side->unmap(p);
	return t0;
}

/* ms to unmap the whole touched region. */
static double shootdown(void *arg)
{
	const struct side *s = arg;
	char *p = s->map();
	double t0;

	touch_write(p);
	t0 = bench_now_ns();
	s->unmap(p);
	return (bench_now_ns() - t0) / 1e6;
}

int main(int argc, char **argv)
{
	const char *block_opt = bench_option(argc, argv, "block");
	const char *mib_opt = bench_option(argc, argv, "mib");
	struct uhmm_config config = {
		.anon_block_pages = block_opt ? atoi(block_opt) : 16,
		.ram_size = 1UL << 30,
	};
	struct bench_stat v, b;
	char params[128], title[64];

	size = (mib_opt ? strtoul(mib_opt, NULL, 0) :
		bench_quick(argc, argv) ? 16 : 64) << 20;
	if (size * 2 > config.ram_size)
		config.ram_size = size * 2;
	mm = bench_uhmm_start(&config);
	if (!mm) {
		perror("uhmm_mm_create");
		return 1;
	}
	snprintf(params, sizeof(params),
		 "\"block_pages\": %u, \"region_mib\": %zu",
		 config.anon_block_pages, size >> 20);

	snprintf(title, sizeof(title), "CPU faults in managed memory (block %u)",
		 config.anon_block_pages);
	bench_begin(argc, argv, title);
	v = bench_repeat(first_touch, &(struct first_touch){ &managed,
			 touch_write }, 2, 9);
	b = bench_repeat(first_touch, &(struct first_touch){ &native,
			 touch_write }, 2, 9);
	bench_report("cpu_first_touch_write", "ns/page", v,
		     "native_fault_write", b, params);
	v = bench_repeat(first_touch, &(struct first_touch){ &managed,
			 touch_read }, 2, 9);
	b = bench_repeat(first_touch, &(struct first_touch){ &native,
			 touch_read }, 2, 9);
	bench_report("cpu_first_touch_read", "ns/page", v,
		     "native_fault_read", b, params);
	v = bench_repeat(shootdown, (void *)&managed, 2, 9);
	b = bench_repeat(shootdown, (void *)&native, 2, 9);
	bench_report("cpu_shootdown_munmap", "ms", v, "native_munmap", b,
		     params);
	bench_end();
	uhmm_mm_exit(mm);
	return 0;
}
