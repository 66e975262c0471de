// SPDX-License-Identifier: MIT
/*
 * Managed memory behind plain pointers: two threads write a pattern into
 * 256 MiB through the pointer uhmm_mmap() returned, the main thread reads
 * it back through the pointer and through uhmm_access(), and after
 * uhmm_munmap() a touch of the range faults, as it would in the kernel.
 *
 *	cc pointers.c $(pkg-config --cflags --libs uhmm)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uhmm/uhmm.h>

#define SIZE		(256UL << 20)
#define NTHREADS	2

static uint64_t *buf;
static sigjmp_buf fault_jmp;
static volatile sig_atomic_t faulted;

static void *writer(void *arg)
{
	size_t n = SIZE / sizeof(uint64_t), t = (size_t)(uintptr_t)arg;

	for (size_t i = t * n / NTHREADS; i < (t + 1) * n / NTHREADS; i++)
		buf[i] = i * 0x9e3779b97f4a7c15ULL;
	return NULL;
}

/* Installed before uhmm initialises: uhmm hands it what it refuses. */
static void on_segv(int sig, siginfo_t *info, void *ctx)
{
	(void)sig;
	(void)info;
	(void)ctx;
	faulted = 1;
	siglongjmp(fault_jmp, 1);
}

int main(void)
{
	struct sigaction act = { .sa_sigaction = on_segv,
				 .sa_flags = SA_SIGINFO };
	pthread_t threads[NTHREADS];
	struct mm_struct *mm;
	uint64_t word;

	sigaction(SIGSEGV, &act, NULL);
	mm = uhmm_mm_create();
	if (!mm) {
		perror("uhmm_mm_create");
		return 1;
	}
	buf = uhmm_mmap(mm, NULL, SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		perror("uhmm_mmap");
		return 1;
	}

	for (size_t t = 0; t < NTHREADS; t++)
		pthread_create(&threads[t], NULL, writer, (void *)t);
	for (size_t t = 0; t < NTHREADS; t++)
		pthread_join(threads[t], NULL);

	for (size_t i = 0; i < SIZE / sizeof(uint64_t); i++) {
		uint64_t want = i * 0x9e3779b97f4a7c15ULL;

		if (buf[i] != want) {
			fprintf(stderr, "word %zu through the pointer: %#llx\n",
				i, (unsigned long long)buf[i]);
			return 1;
		}
		if (i % 4096 == 0 &&
		    (uhmm_access(mm, &buf[i], &word, sizeof(word), 0) !=
		     sizeof(word) || word != want)) {
			fprintf(stderr, "word %zu through uhmm_access\n", i);
			return 1;
		}
	}
	printf("256 MiB written by %d threads, read back through the "
	       "pointer and uhmm_access\n", NTHREADS);

	uhmm_munmap(mm, buf, SIZE);
	if (!sigsetjmp(fault_jmp, 1))
		word = *(volatile uint64_t *)&buf[SIZE / 16];
	if (!faulted) {
		fprintf(stderr, "a load after uhmm_munmap did not fault\n");
		return 1;
	}
	printf("a load after uhmm_munmap faulted with SIGSEGV\n");
	uhmm_mm_exit(mm);
	return 0;
}
