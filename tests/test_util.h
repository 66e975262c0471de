/* SPDX-License-Identifier: MIT */
/* Shared by the test programs: cmocka, uhmm, and small helpers. */
#ifndef UHMM_TEST_UTIL_H
#define UHMM_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

#include "internal.h"
#include "mm/pgtable.h"

static inline unsigned long free_pages_now(void)
{
	struct uhmm_meminfo mi;

	assert_int_equal(uhmm_meminfo(&mi), 0);
	return mi.free_pages;
}

/* The PTE that maps addr in mm, read under its lock (0: no table). */
static inline pte_t pte_at(struct mm_struct *mm, void *addr)
{
	pte_t pte = { 0 };
	spinlock_t *ptl;
	pte_t *ptep;
	pmd_t *pmd;

	mmap_read_lock(mm);
	pmd = pte_table_lookup(mm, (unsigned long)addr);
	if (pmd) {
		ptep = pte_offset_map_lock(pmd, (unsigned long)addr, &ptl);
		pte = ptep_get(ptep);
		pte_unmap_unlock(ptep, ptl);
	}
	mmap_read_unlock(mm);
	return pte;
}

/* Device pages of dmirror device N that are allocated now. */
static inline unsigned long device_pages_in_use(int device)
{
	struct dmirror_device_stats s;

	assert_int_equal(dmirror_device_stats(device, &s), 0);
	return s.pages_in_use;
}

/*
 * The CPU's loads and stores for the tests: uhmm_access(), or, with
 * UHMM_TEST_CPU=ptr in the environment, memcpy() through uhmm_ptr(), with
 * the same results (-1 and EFAULT where the access faults, after copying
 * what came before the faulting page). Each test program runs both ways.
 */
static __thread sigjmp_buf *volatile test_fault_jmp;
static __thread int test_fault_errno;

static void __attribute__((unused))
test_segv_handler(int sig, siginfo_t *info, void *ctx)
{
	(void)sig;
	if (uhmm_handle_fault(info, ctx))
		return;
	if (test_fault_jmp) {
		test_fault_errno = info->si_errno ? info->si_errno : EFAULT;
		siglongjmp(*test_fault_jmp, 1);
	}
	signal(SIGSEGV, SIG_DFL);	/* not expected: crash on the spot */
}

/* cmocka puts its own SIGSEGV handler in for every test: ours goes in
 * front of it, as a program's own handler would (uhmm_handle_fault()). */
static inline void test_install_fault_handler(void)
{
	struct sigaction act = { .sa_sigaction = test_segv_handler,
				 .sa_flags = SA_SIGINFO };

	sigemptyset(&act.sa_mask);
	sigaction(SIGSEGV, &act, NULL);
}

static inline bool test_cpu_ptr(void)
{
	const char *env = getenv("UHMM_TEST_CPU");

	return env && !strcmp(env, "ptr");
}

/*
 * A copy as the CPU would make it, with relaxed atomic loads and stores:
 * the tests' threads race on purpose, as CPUs may, and check the data
 * afterwards; ThreadSanitizer is there to check uhmm's own accesses.
 */
static inline void cpu_copy(char *dst, const char *src, size_t n)
{
	size_t i = 0;

	if (!(((uintptr_t)dst | (uintptr_t)src) & 7))
		for (; i + 8 <= n; i += 8)
			__atomic_store_n((uint64_t *)(dst + i),
					 __atomic_load_n((const uint64_t *)(src + i),
							 __ATOMIC_RELAXED),
					 __ATOMIC_RELAXED);
	for (; i < n; i++)
		__atomic_store_n(dst + i, __atomic_load_n(src + i,
				 __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}

static inline ssize_t cpu_access(struct mm_struct *mm, void *addr, void *buf,
				 size_t len, int write)
{
	volatile unsigned long a = (unsigned long)addr;
	char *volatile p = buf;
	sigjmp_buf jmp;

	if (!test_cpu_ptr())
		return uhmm_access(mm, addr, buf, len, write);
	if (!mm || (!buf && len)) {
		errno = EINVAL;
		return -1;
	}
	test_fault_errno = EFAULT;
	if (a + len < a)
		goto fault;
	test_install_fault_handler();
	if (sigsetjmp(jmp, 1))
		goto fault;
	test_fault_jmp = &jmp;
	while (a < (unsigned long)addr + len) {
		size_t n = min((unsigned long)addr + len - a,
			       PAGE_SIZE - (a & ~PAGE_MASK));
		char *host = uhmm_ptr(mm, (void *)a);

		if (!host)
			goto fault;
		if (write)
			cpu_copy(host, p, n);
		else
			cpu_copy(p, host, n);
		a += n;
		p += n;
	}
	test_fault_jmp = NULL;
	return (ssize_t)len;
fault:
	test_fault_jmp = NULL;
	errno = test_fault_errno;
	return -1;
}

/*
 * How long a child of cpu_fetch() may take before it counts as hung. Not
 * a speed target (a call returns at once); it only bounds a fault that
 * would be retried for ever, so that the test fails instead of hanging.
 */
#define FETCH_BOUND_S	60

/*
 * Call the code at p (a `ret`, 0xc3) in a child process, with the
 * handlers of this one: 0 if the call returned, the signal the child died
 * of if not (SIGALRM: it hung). Page tables live in system RAM, which the
 * child shares with this process: call it only where a load from p has
 * just worked, or failed, in this process, so that the child's fault
 * finds its page there, or fails the same way, and allocates nothing. It
 * may still set the young and host-mapped bits of PTEs here, which cost
 * a needless flush at most.
 */
static inline int __attribute__((unused)) cpu_fetch(void *p)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		alarm(FETCH_BOUND_S);
		((void (*)(void))p)();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status)) {
		assert_int_equal(WEXITSTATUS(status), 0);
		return 0;
	}
	assert_true(WIFSIGNALED(status));
	return WTERMSIG(status);
}

#endif /* UHMM_TEST_UTIL_H */
