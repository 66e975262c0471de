// SPDX-License-Identifier: MIT
/*
 * Scaling: 1, 2, 4, 8 and 16 threads, each faulting in its own disjoint
 * range of one mm (2 MiB-aligned slices of one mapping), through the CPU
 * (a first-touch store to every page) and through dmirror (each thread
 * its own mirror of the mm on device 0, HMM_DMIRROR_WRITE in commands of
 * 512 pages over never-touched memory, so hmm_range_fault allocates).
 * Pages per second of all threads together; the baseline is one thread,
 * so the ratio is the speedup. Figures with more threads than CPUs are
 * marked "_oversub".
 *
 *	scaling [--pages PER_THREAD] [--max-threads N] [--quick] [--json FILE]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

#include "bench.h"

#define PAGE		4096UL
#define MAX_THREADS	16
#define BATCH		512UL

static struct mm_struct *mm;
static unsigned long per_thread;	/* pages */
static size_t slice;			/* bytes, 2 MiB-aligned */
static struct dmirror *mirrors[MAX_THREADS];
static char *bounce[MAX_THREADS];
static pthread_barrier_t barrier;

struct worker {
	int id;
	bool device;
	char *base;
	double start, end;	/* its own clock readings */
};

static void *work(void *arg)
{
	struct worker *w = arg;
	char *p = w->base + w->id * slice;

	pthread_barrier_wait(&barrier);
	w->start = bench_now_ns();
	if (!w->device) {
		for (unsigned long i = 0; i < per_thread; i++)
			((volatile char *)p)[i * PAGE] = 1;
		w->end = bench_now_ns();
		return NULL;
	}
	for (unsigned long i = 0; i < per_thread; i += BATCH) {
		struct hmm_dmirror_cmd cmd = {
			.addr = (uintptr_t)p + i * PAGE,
			.ptr = (uintptr_t)bounce[w->id],
			.npages = per_thread - i < BATCH ? per_thread - i :
							   BATCH,
		};
		int ret = dmirror_cmd(mirrors[w->id], HMM_DMIRROR_WRITE, &cmd);

		if (ret) {
			fprintf(stderr, "WRITE: %d\n", ret);
			exit(1);
		}
	}
	w->end = bench_now_ns();
	return NULL;
}

struct run {
	int threads;
	bool device;
};

/* Pages per second of all threads faulting their slices once. */
static double run(void *arg)
{
	const struct run *r = arg;
	struct worker w[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	size_t size = r->threads * slice;
	double first = 0, last = 0;
	char *base;

	base = bench_uhmm_map(mm, size + PMD_SIZE, 0);
	pthread_barrier_init(&barrier, NULL, r->threads + 1);
	for (int i = 0; i < r->threads; i++) {
		w[i] = (struct worker){
			.id = i,
			.device = r->device,
			.base = (char *)(((uintptr_t)base + PMD_SIZE - 1) &
					 PMD_MASK),
		};
		if (pthread_create(&tid[i], NULL, work, &w[i]))
			exit(1);
	}
	pthread_barrier_wait(&barrier);
	/* From the first thread's start to the last one's end, each read by
	 * the thread itself (this one may not run in between). */
	for (int i = 0; i < r->threads; i++) {
		pthread_join(tid[i], NULL);
		if (!i || w[i].start < first)
			first = w[i].start;
		if (!i || w[i].end > last)
			last = w[i].end;
	}
	pthread_barrier_destroy(&barrier);
	uhmm_munmap(mm, base, size + PMD_SIZE);
	return r->threads * per_thread / ((last - first) / 1e9);
}

int main(int argc, char **argv)
{
	const char *pages_opt = bench_option(argc, argv, "pages");
	const char *max_opt = bench_option(argc, argv, "max-threads");
	bool quick = bench_quick(argc, argv);
	int max_threads = max_opt ? atoi(max_opt) : MAX_THREADS;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct uhmm_config config = { 0 };
	int reps = quick ? 3 : 5;
	char params[192], name[64];

	if (max_threads < 1 || max_threads > MAX_THREADS)
		max_threads = MAX_THREADS;
	per_thread = pages_opt ? strtoul(pages_opt, NULL, 0) :
		     quick ? 1024 : 4096;
	slice = (per_thread * PAGE + PMD_SIZE - 1) & PMD_MASK;
	config.ram_size = 2 * MAX_THREADS * slice + (256UL << 20);
	mm = bench_uhmm_start(&config);
	if (!mm)
		return 1;
	for (int i = 0; i < max_threads; i++) {
		mirrors[i] = dmirror_open(mm, 0);
		bounce[i] = calloc(BATCH, PAGE);
		if (!mirrors[i] || !bounce[i])
			return 1;
	}

	bench_begin(argc, argv, "fault scaling over threads");
	for (int dev = 0; dev < 2; dev++) {
		struct run one = { .threads = 1, .device = dev };
		struct run all = { .threads = max_threads, .device = dev };
		struct bench_stat base;

		/*
		 * Warm-up with the most threads: every page of system RAM
		 * the runs use has been touched by the host once, so that
		 * no run pays the host's first fault on its memfd pages
		 * (which the runs with more threads would otherwise pay
		 * alone).
		 */
		run(&all);
		base = bench_repeat(run, &one, 1, reps);

		for (int t = 1; t <= max_threads; t *= 2) {
			struct run r = { .threads = t, .device = dev };
			struct bench_stat v = t == 1 ? base :
					      bench_repeat(run, &r, 1, reps);

			snprintf(params, sizeof(params),
				 "\"threads\": %d, \"cpus\": %ld, "
				 "\"oversubscribed\": %s, "
				 "\"pages_per_thread\": %lu, \"path\": \"%s\"",
				 t, cpus, t > cpus ? "true" : "false",
				 per_thread, dev ? "dmirror WRITE, 512 pages" :
						   "CPU store");
			snprintf(name, sizeof(name), "scale_%s_t%d%s",
				 dev ? "dmirror" : "cpu", t,
				 t > cpus ? "_oversub" : "");
			bench_report(name, "pages/s", v, "one_thread", base,
				     params);
		}
	}
	bench_end();
	for (int i = 0; i < max_threads; i++) {
		dmirror_close(mirrors[i]);
		free(bounce[i]);
	}
	uhmm_mm_exit(mm);
	return 0;
}
