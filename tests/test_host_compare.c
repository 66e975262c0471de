// SPDX-License-Identifier: MIT
/*
 * The same calls on the host's own mmap and on uhmm's, and what loads,
 * stores and instruction fetches do afterwards, compared: every change of
 * protection between NONE, R, W, RW, RX and RWX (on x86, W reads too)
 * after a first load, a first store or none; mprotect and munmap over
 * holes and across VMAs; mremap shrinking, growing and moving;
 * MADV_DONTNEED and the reads after it. Each runs on private and shared
 * anonymous memory and on private and shared mappings of a file. Every
 * difference is printed, and any is a failure.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>

#include "test_util.h"

enum kind { PRIVATE_ANON, SHARED_ANON, PRIVATE_FILE, SHARED_FILE, NR_KINDS };

static const char *const kind_name[NR_KINDS] = {
	"private anon", "shared anon", "private file", "shared file",
};

static const int all_prots[] = {
	PROT_NONE, PROT_READ, PROT_WRITE, PROT_READ | PROT_WRITE,
	PROT_READ | PROT_EXEC, PROT_READ | PROT_WRITE | PROT_EXEC,
};

#define RET	((char)0xc3)	/* x86's ret: byte 0 of every page */

/* ---- catching what the kernel would deliver ---- */

static sigjmp_buf *volatile catch_jmp;
static int caught_sig, caught_code;

static void catch_handler(int sig, siginfo_t *info, void *ctx)
{
	if (sig == SIGSEGV && uhmm_handle_fault(info, ctx))
		return;
	if (catch_jmp) {
		caught_sig = info->si_signo;
		caught_code = info->si_code;
		siglongjmp(*catch_jmp, 1);
	}
	/* Not caught (a child of cpu_fetch()): die of what uhmm says, as
	 * its own handler would make the process die. */
	signal(info->si_signo, SIG_DFL);
	if (info->si_signo != sig)
		raise(info->si_signo);
}

static void install_catch_handler(void)
{
	struct sigaction act = { .sa_sigaction = catch_handler,
				 .sa_flags = SA_SIGINFO };

	sigemptyset(&act.sa_mask);
	sigaction(SIGSEGV, &act, NULL);
	sigaction(SIGBUS, &act, NULL);
}

/* A load (write 0) or a store of val at p: 0, or the signal raised. */
static int touch(char *p, int write, char val, char *loaded)
{
	sigjmp_buf jmp;

	caught_sig = caught_code = 0;
	if (sigsetjmp(jmp, 1)) {
		catch_jmp = NULL;
		return caught_sig;
	}
	catch_jmp = &jmp;
	if (write)
		__atomic_store_n(p, val, __ATOMIC_RELAXED);
	else
		*loaded = __atomic_load_n(p, __ATOMIC_RELAXED);
	catch_jmp = NULL;
	return 0;
}

/* ---- a log of results, one per address space ---- */

#define LOG_MAX	4096

struct log {
	unsigned int n;
	int v[LOG_MAX];
	char what[LOG_MAX][80];
	const char *why[LOG_MAX];	/* where uhmm differs on purpose */
};

static void __attribute__((format(printf, 3, 4)))
log_int(struct log *l, int v, const char *fmt, ...)
{
	va_list ap;

	assert_true(l->n < LOG_MAX);
	va_start(ap, fmt);
	vsnprintf(l->what[l->n], sizeof(l->what[0]), fmt, ap);
	va_end(ap);
	l->why[l->n] = NULL;
	l->v[l->n++] = v;
}

/* The last entry may differ from the host's, for the reason why. */
static void log_on_purpose(struct log *l, const char *why)
{
	l->why[l->n - 1] = why;
}

/* A call's result: its return value (0 or -1) and errno. */
static void log_call(struct log *l, int ret, const char *what)
{
	log_int(l, ret, "%s", what);
	log_int(l, ret ? errno : 0, "%s: errno", what);
}

/*
 * What page i of p does now: a load (signal and code, and bytes 0 and 1
 * where it works), an instruction fetch (where byte 0 is a ret, or the
 * page cannot be read, so that nothing else can run), then a store of
 * 'S' to byte 1.
 */
static void log_page(struct log *l, char *p, unsigned long i,
		     const char *step)
{
	char *q = p + i * PAGE_SIZE, b0 = 0, b1 = 0;
	int load = touch(q, 0, 0, &b0);

	log_int(l, load, "%s: page %lu load", step, i);
	log_int(l, caught_code, "%s: page %lu load si_code", step, i);
	if (!load) {
		touch(q + 1, 0, 0, &b1);
		log_int(l, (unsigned char)b0, "%s: page %lu byte 0", step, i);
		log_int(l, (unsigned char)b1, "%s: page %lu byte 1", step, i);
	}
	if (load || b0 == RET)
		log_int(l, cpu_fetch(q), "%s: page %lu fetch", step, i);
	log_int(l, touch(q + 1, 1, 'S', NULL), "%s: page %lu store", step,
		i);
}

static void log_pages(struct log *l, char *p, unsigned long first,
		      unsigned long n, const char *step)
{
	for (unsigned long i = first; i < first + n; i++)
		log_page(l, p, i, step);
}

/* Every entry that differs, printed; their number. */
static unsigned int log_compare(const struct log *host, const struct log *u,
				enum kind kind)
{
	unsigned int diffs = 0;

	assert_int_equal(host->n, u->n);
	for (unsigned int i = 0; i < host->n; i++) {
		assert_string_equal(host->what[i], u->what[i]);
		if (host->v[i] == u->v[i])
			continue;
		if (u->why[i]) {
			print_message("# %s: %s: host %d, uhmm %d, on purpose: "
				      "%s\n", kind_name[kind], host->what[i],
				      host->v[i], u->v[i], u->why[i]);
			continue;
		}
		print_message("# %s: %s: host %d, uhmm %d\n", kind_name[kind],
			      host->what[i], host->v[i], u->v[i]);
		diffs++;
	}
	return diffs;
}

/* ---- one address space: the host's or uhmm's ---- */

struct as {
	struct mm_struct *mm;	/* NULL: the host */
	int fd;			/* the file of the last file mapping, or -1 */
};

/*
 * A file of npages pages for a file mapping: page i holds a ret in byte
 * 0 and 'A' + i after it. The host and uhmm each get their own, since
 * uhmm's page cache is not the host's.
 */
static int make_file(unsigned long npages)
{
	char path[] = "/tmp/uhmm-compare-XXXXXX", buf[PAGE_SIZE];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	for (unsigned long i = 0; i < npages; i++) {
		memset(buf, 'A' + (int)i, sizeof(buf));
		buf[0] = RET;
		assert_int_equal(pwrite(fd, buf, sizeof(buf),
					(off_t)(i * PAGE_SIZE)), PAGE_SIZE);
	}
	return fd;
}

static char *as_map(struct as *as, enum kind kind, unsigned long npages,
		    int prot)
{
	int flags = kind == PRIVATE_ANON || kind == PRIVATE_FILE ?
		    MAP_PRIVATE : MAP_SHARED;
	size_t len = npages * PAGE_SIZE;
	int fd = -1;
	void *p;

	if (kind == PRIVATE_FILE || kind == SHARED_FILE) {
		if (as->fd >= 0)
			close(as->fd);
		fd = as->fd = make_file(npages);
	} else {
		flags |= MAP_ANONYMOUS;
	}
	p = as->mm ? uhmm_mmap(as->mm, NULL, len, prot, flags, fd, 0)
		   : mmap(NULL, len, prot, flags, fd, 0);
	assert_ptr_not_equal(p, MAP_FAILED);
	return p;
}

static int as_mprotect(struct as *as, char *p, unsigned long first,
		       unsigned long n, int prot)
{
	p += first * PAGE_SIZE;
	return as->mm ? uhmm_mprotect(as->mm, p, n * PAGE_SIZE, prot)
		      : mprotect(p, n * PAGE_SIZE, prot);
}

static int as_munmap(struct as *as, char *p, unsigned long first,
		     unsigned long n)
{
	p += first * PAGE_SIZE;
	return as->mm ? uhmm_munmap(as->mm, p, n * PAGE_SIZE)
		      : munmap(p, n * PAGE_SIZE);
}

static int as_madvise(struct as *as, char *p, unsigned long first,
		      unsigned long n, int advice)
{
	p += first * PAGE_SIZE;
	return as->mm ? uhmm_madvise(as->mm, p, n * PAGE_SIZE, advice)
		      : madvise(p, n * PAGE_SIZE, advice);
}

static char *as_mremap(struct as *as, char *p, unsigned long old_pages,
		       unsigned long new_pages, int flags, char *to)
{
	size_t old_len = old_pages * PAGE_SIZE, new_len = new_pages * PAGE_SIZE;

	return as->mm ? uhmm_mremap(as->mm, p, old_len, new_len, flags, to)
		      : mremap(p, old_len, new_len, flags, to);
}

/* Bytes 0 and 1 of each of n pages of the file as it is now. */
static void log_file(struct log *l, struct as *as, unsigned long n,
		     const char *step)
{
	for (unsigned long i = 0; i < n; i++) {
		char b[2] = { 0, 0 };

		log_int(l, (int)pread(as->fd, b, 2, (off_t)(i * PAGE_SIZE)),
			"%s: file page %lu read", step, i);
		log_int(l, (unsigned char)b[0], "%s: file page %lu byte 0",
			step, i);
		log_int(l, (unsigned char)b[1], "%s: file page %lu byte 1",
			step, i);
	}
}

/* ---- the sequences ---- */

/*
 * mmap with prot a, a first load, store (a ret to byte 0) or nothing,
 * mprotect to b, then the accesses; then read and write again, and for a
 * shared file what reached the file.
 */
static void protection_change(struct log *l, struct as *as, enum kind kind,
			      int a, int b, int first)
{
	static const char *const first_name[] = { "none", "load", "store" };
	char step[64], *p = as_map(as, kind, 1, a), c;

	snprintf(step, sizeof(step), "prot %#x, %s, prot %#x", a,
		 first_name[first], b);
	if (first)
		log_int(l, touch(p, first == 2, RET, &c), "%s: first touch",
			step);
	log_call(l, as_mprotect(as, p, 0, 1, b), step);
	log_page(l, p, 0, step);
	log_call(l, as_mprotect(as, p, 0, 1, PROT_READ | PROT_WRITE),
		 "back to rw");
	log_page(l, p, 0, step);
	log_call(l, as_munmap(as, p, 0, 1), "munmap");
	if (kind == SHARED_FILE)
		log_file(l, as, 1, step);
}

/* Eight written pages: [0 1] rw, [2 3] read-only, [4] rw, 5 a hole,
 * [6 7] rw. */
static char *map_layout(struct log *l, struct as *as, enum kind kind)
{
	char *p = as_map(as, kind, 8, PROT_READ | PROT_WRITE);

	for (int i = 0; i < 8; i++) {
		p[i * PAGE_SIZE] = RET;
		p[i * PAGE_SIZE + 1] = (char)('a' + i);
	}
	log_call(l, as_mprotect(as, p, 2, 2, PROT_READ), "layout: mprotect");
	log_call(l, as_munmap(as, p, 5, 1), "layout: munmap");
	return p;
}

static void holes_and_spans(struct log *l, struct as *as, enum kind kind)
{
	char *p = map_layout(l, as, kind);

	/* To the hole: the VMAs before it change, and ENOMEM. */
	log_call(l, as_mprotect(as, p, 1, 6, PROT_READ | PROT_EXEC),
		 "mprotect [1, 7) rx");
	log_pages(l, p, 0, 8, "after mprotect [1, 7) rx");

	/* Across three VMAs up to the hole. */
	log_call(l, as_mprotect(as, p, 0, 5, PROT_READ | PROT_WRITE),
		 "mprotect [0, 5) rw");
	log_pages(l, p, 0, 8, "after mprotect [0, 5) rw");

	/* From a hole: nothing changes. */
	log_call(l, as_mprotect(as, p, 5, 2, PROT_NONE),
		 "mprotect [5, 7) none");
	log_pages(l, p, 6, 1, "after mprotect [5, 7) none");

	/* Over the hole: munmap does not mind. */
	log_call(l, as_munmap(as, p, 4, 3), "munmap [4, 7)");
	log_pages(l, p, 0, 8, "after munmap [4, 7)");

	log_call(l, as_mprotect(as, p, 3, 5, PROT_NONE),
		 "mprotect [3, 8) none");
	log_pages(l, p, 0, 8, "after mprotect [3, 8) none");

	/* Over PROT_NONE and read-only pages and a hole: ENOMEM at the
	 * hole, after dropping what comes before it. Private anonymous
	 * memory reads zeros, a private file mapping the file again, and
	 * shared memory what was written. */
	log_call(l, as_madvise(as, p, 0, 5, MADV_DONTNEED),
		 "madvise [0, 5) dontneed");
	log_call(l, as_mprotect(as, p, 0, 4, PROT_READ | PROT_WRITE),
		 "mprotect [0, 4) rw");
	log_pages(l, p, 0, 8, "after madvise [0, 5) dontneed");
	log_call(l, as_madvise(as, p, 7, 1, MADV_DONTNEED),
		 "madvise [7, 8) dontneed");
	log_pages(l, p, 7, 1, "after madvise [7, 8) dontneed");

	log_call(l, as_munmap(as, p, 0, 8), "munmap [0, 8)");
	log_pages(l, p, 0, 8, "after munmap [0, 8)");
	if (kind == SHARED_FILE)
		log_file(l, as, 8, "the file at the end");
}

static void remaps(struct log *l, struct as *as, enum kind kind)
{
	char *p = as_map(as, kind, 4, PROT_READ | PROT_WRITE), *q, *t;

	for (int i = 0; i < 4; i++) {
		p[i * PAGE_SIZE] = RET;
		p[i * PAGE_SIZE + 1] = (char)('a' + i);
	}
	q = as_mremap(as, p, 4, 2, 0, NULL);
	log_int(l, q == p, "mremap shrink: in place");
	log_pages(l, p, 0, 4, "after mremap shrink");

	/* Grown, the shared memory and the file are as long as before: the
	 * pages past their end raise SIGBUS. */
	q = as_mremap(as, p, 2, 6, MREMAP_MAYMOVE, NULL);
	log_int(l, q != MAP_FAILED, "mremap grow");
	if (q == MAP_FAILED)
		return;
	log_pages(l, q, 0, 6, "after mremap grow");

	t = as_map(as, PRIVATE_ANON, 8, PROT_NONE);
	p = as_mremap(as, q, 6, 6, MREMAP_MAYMOVE | MREMAP_FIXED,
		      t + PAGE_SIZE);
	log_int(l, p == t + PAGE_SIZE, "mremap move");
	if (p != t + PAGE_SIZE)
		return;
	log_pages(l, q, 0, 6, "the old range after mremap move");
	log_pages(l, t, 0, 8, "after mremap move");

	q = as_mremap(as, p, 6, 6, 0, NULL);
	log_int(l, q == p, "mremap same size");

	/* The pages move and the old range stays: private anonymous
	 * memory fresh there, shared memory and files as they are. */
	q = as_map(as, PRIVATE_ANON, 6, PROT_NONE);
	p = as_mremap(as, t + PAGE_SIZE, 6, 6,
		      MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, q);
	log_int(l, p == q, "mremap dontunmap");
	if (p != q)
		return;
	log_pages(l, t, 0, 8, "the old range after mremap dontunmap");
	log_pages(l, q, 0, 6, "after mremap dontunmap");

	/*
	 * A second mapping of shared memory: Linux's old_len 0. uhmm
	 * refuses it with EINVAL (include/uhmm/uhmm.h); Linux refuses it
	 * for private mappings too.
	 */
	errno = 0;
	p = as_mremap(as, q, 0, 1, MREMAP_MAYMOVE, NULL);
	log_int(l, p != MAP_FAILED, "mremap old_len 0");
	log_on_purpose(l, "a second mapping of shared memory is refused");
	log_int(l, p == MAP_FAILED ? errno : 0, "mremap old_len 0: errno");
	log_on_purpose(l, "a second mapping of shared memory is refused");
	if (p != MAP_FAILED)
		as_munmap(as, p, 0, 1);

	log_call(l, as_munmap(as, t, 0, 8), "munmap");
	log_call(l, as_munmap(as, q, 0, 6), "munmap");
	if (kind == SHARED_FILE)
		log_file(l, as, 4, "the file at the end");
}

/* Run seq on the host and on uhmm for every kind of memory; compare. */
static void compare(void (*seq)(struct log *, struct as *, enum kind),
		    const char *name)
{
	struct log *logs = calloc(2, sizeof(*logs));
	unsigned int diffs = 0;

	assert_non_null(logs);
	install_catch_handler();
	for (int kind = 0; kind < NR_KINDS; kind++) {
		struct as as[2] = { { NULL, -1 }, { uhmm_mm_create(), -1 } };

		assert_non_null(as[1].mm);
		for (int k = 0; k < 2; k++) {
			logs[k].n = 0;
			seq(&logs[k], &as[k], (enum kind)kind);
			if (as[k].fd >= 0)
				close(as[k].fd);
		}
		diffs += log_compare(&logs[0], &logs[1], (enum kind)kind);
		uhmm_mm_exit(as[1].mm);
	}
	free(logs);
	if (diffs)
		fail_msg("%s: %u differences from the host", name, diffs);
}

static void protection_changes(struct log *l, struct as *as, enum kind kind)
{
	for (unsigned int a = 0; a < ARRAY_SIZE(all_prots); a++)
		for (unsigned int b = 0; b < ARRAY_SIZE(all_prots); b++)
			for (int first = 0; first < 3; first++)
				protection_change(l, as, kind, all_prots[a],
						  all_prots[b], first);
}

static void test_protection_changes(void **state)
{
	compare(protection_changes, "protection changes");
}

static void test_holes_and_spans(void **state)
{
	compare(holes_and_spans, "holes and spans");
}

static void test_mremap(void **state)
{
	compare(remaps, "mremap");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protection_changes),
		cmocka_unit_test(test_holes_and_spans),
		cmocka_unit_test(test_mremap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
