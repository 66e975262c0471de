// SPDX-License-Identifier: MIT
#include <uhmm/uhmm.h>

#include "bench.h"

static FILE *json;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct bench_stat bench_stat_of(double *s, int n)
{
	qsort(s, n, sizeof(s[0]), cmp_double);
	return (struct bench_stat){
		.median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2,
		.min = s[0],
		.max = s[n - 1],
	};
}

struct bench_stat bench_repeat(double (*fn)(void *arg), void *arg,
			       int warmup, int reps)
{
	double s[BENCH_MAX_REPS];

	if (reps < 1)
		reps = 1;
	if (reps > BENCH_MAX_REPS)
		reps = BENCH_MAX_REPS;
	for (int i = 0; i < warmup; i++)
		fn(arg);
	for (int i = 0; i < reps; i++)
		s[i] = fn(arg);
	return bench_stat_of(s, reps);
}

const char *bench_option(int argc, char **argv, const char *name)
{
	for (int i = 1; i + 1 < argc; i++)
		if (!strncmp(argv[i], "--", 2) && !strcmp(argv[i] + 2, name))
			return argv[i + 1];
	return NULL;
}

bool bench_flag(int argc, char **argv, const char *name)
{
	for (int i = 1; i < argc; i++)
		if (!strncmp(argv[i], "--", 2) && !strcmp(argv[i] + 2, name))
			return true;
	return false;
}

size_t bench_region(int argc, char **argv, size_t mib, size_t quick_mib)
{
	const char *opt = bench_option(argc, argv, "mib");

	if (opt)
		return strtoul(opt, NULL, 0) << 20;
	return (bench_quick(argc, argv) ? quick_mib : mib) << 20;
}

struct mm_struct *bench_uhmm_start(const struct uhmm_config *config)
{
	struct mm_struct *mm;
	int err = uhmm_init(config);

	if (err) {
		fprintf(stderr, "uhmm_init: %s\n", strerror(-err));
		exit(1);
	}
	mm = uhmm_mm_create();
	if (!mm) {
		perror("uhmm_mm_create");
		exit(1);
	}
	return mm;
}

char *bench_uhmm_map(struct mm_struct *mm, size_t len, int extra_flags)
{
	char *p = uhmm_mmap(mm, NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);

	if (p == MAP_FAILED) {
		perror("uhmm_mmap");
		exit(1);
	}
	return p;
}

static bool nop_invalidate(struct mmu_interval_notifier *sub,
			   const struct mmu_notifier_range *range,
			   unsigned long cur_seq)
{
	mmu_interval_set_seq(sub, cur_seq);
	return true;
}

const struct mmu_interval_notifier_ops bench_nop_notifier_ops = {
	.invalidate = nop_invalidate,
};

void bench_begin(int argc, char **argv, const char *title)
{
	const char *path = bench_option(argc, argv, "json");

	if (path) {
		json = fopen(path, "a");
		if (!json) {
			perror(path);
			exit(2);
		}
	}
	printf("== %s\n", title);
	printf("%-40s %10s %10s %10s %-9s %-20s %10s %7s\n", "figure",
	       "median", "min", "max", "unit", "baseline", "median",
	       "ratio");
}

void bench_report(const char *name, const char *unit, struct bench_stat value,
		  const char *baseline_name, struct bench_stat baseline,
		  const char *params)
{
	double ratio = value.median / baseline.median;

	printf("%-40s %10.3f %10.3f %10.3f %-9s %-20s %10.3f %7.2f\n", name,
	       value.median, value.min, value.max, unit, baseline_name,
	       baseline.median, ratio);
	if (!json)
		return;
	fprintf(json, "{\"name\": \"%s\", \"value\": %.6g, \"min\": %.6g, "
		"\"max\": %.6g, \"unit\": \"%s\", \"baseline\": %.6g, "
		"\"baseline_name\": \"%s\", \"ratio\": %.6g, "
		"\"params\": {%s}}\n", name, value.median, value.min, value.max,
		unit, baseline.median, baseline_name, ratio, params);
	fflush(json);
}

void bench_end(void)
{
	if (json)
		fclose(json);
	json = NULL;
}
