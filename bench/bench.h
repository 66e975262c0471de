/* SPDX-License-Identifier: MIT */
/*
 * What every benchmark shares: a clock, repetitions with a warm-up, the
 * median with min and max, and the report. A figure is always printed
 * with a baseline measured in the same run and their ratio: on a shared,
 * noisy machine a ratio means much more than an absolute time.
 *
 * Each figure is a row of the table on stdout and, when the program was
 * given --json FILE, one JSON line appended to FILE:
 *   {"name": ..., "value": ..., "min": ..., "max": ..., "unit": ...,
 *    "baseline": ..., "baseline_name": ..., "ratio": ..., "params": {...}}
 */
#ifndef UHMM_BENCH_H
#define UHMM_BENCH_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_MAX_REPS	64

static inline double bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* The median, min and max of reps samples of one quantity. */
struct bench_stat {
	double median, min, max;
};

/*
 * Run fn(arg) warmup + reps times; each run returns its sample (for
 * instance ns per page). The warm-up runs are not counted.
 */
struct bench_stat bench_repeat(double (*fn)(void *arg), void *arg,
			       int warmup, int reps);

/* The median, min and max of n samples already taken (sorts them). */
struct bench_stat bench_stat_of(double *samples, int n);

/* The value of option --name in argv, or NULL. */
const char *bench_option(int argc, char **argv, const char *name);
/* Whether the flag --name (no value) is in argv. */
bool bench_flag(int argc, char **argv, const char *name);
/*
 * --quick: every program shrinks its sizes and repetitions (a smoke run,
 * or a slow machine); the figures say so in their params.
 */
static inline bool bench_quick(int argc, char **argv)
{
	return bench_flag(argc, argv, "quick");
}

/*
 * The native baseline most figures share: ns per page of a first touch
 * (a write, or a read) of every page of size bytes of fresh private
 * anonymous mmap() memory, 4 KiB pages (MADV_NOHUGEPAGE). For
 * bench_repeat(): arg is a struct bench_native.
 */
struct bench_native {
	size_t size;
	bool write;
};
double bench_native_fault(void *arg);

/* Bytes of the region to measure: --mib SIZE, else quick_mib with
 * --quick, else mib. */
size_t bench_region(int argc, char **argv, size_t mib, size_t quick_mib);

struct uhmm_config;
struct mm_struct;
/* uhmm_init(config) and a new mm; a message and exit(1) on failure. */
struct mm_struct *bench_uhmm_start(const struct uhmm_config *config);

/* len bytes of private anonymous read-write memory in mm (with
 * extra_flags, such as MAP_POPULATE); a message and exit(1) on failure. */
char *bench_uhmm_map(struct mm_struct *mm, size_t len, int extra_flags);

struct mmu_interval_notifier_ops;
/* Interval notifier ops whose invalidate only moves the sequence on. */
extern const struct mmu_interval_notifier_ops bench_nop_notifier_ops;

/* The report: begin with the program's arguments (--json FILE). */
void bench_begin(int argc, char **argv, const char *title);
/*
 * One figure: value against baseline (ratio = value.median /
 * baseline.median, so below 1 means faster than the baseline for a
 * time, slower for a rate). params: JSON members without braces, such as
 * "\"block\": 16, \"pages\": 16384", or "".
 */
void bench_report(const char *name, const char *unit, struct bench_stat value,
		  const char *baseline_name, struct bench_stat baseline,
		  const char *params);
void bench_end(void);

#endif /* UHMM_BENCH_H */
