// SPDX-License-Identifier: MIT
/*
 * Why uhmm serves CPU faults the way it does. A user-space pager has two
 * ways to hear of a first touch: a SIGSEGV in the faulting thread (uhmm:
 * the handler maps the page and the instruction runs again) or
 * userfaultfd (the kernel parks the faulting thread, a handler thread
 * reads the event and fills the page with UFFDIO_COPY, which wakes it).
 * This times the userfaultfd way against the host's own fault, and
 * uhmm's managed first touch against the userfaultfd way. Both pagers
 * fill the same number of pages a fault (--block, default uhmm's 16).
 *
 *	uffd_fault [--block PAGES] [--mib SIZE] [--quick] [--json FILE]
 *
 * userfaultfd may be refused: unprivileged users get it only with
 * vm.unprivileged_userfaultfd=1, or for user-mode faults only
 * (UFFD_USER_MODE_ONLY, Linux 5.11), or through /dev/userfaultfd. Then
 * the program says "skipped: ..." and reports no userfaultfd figure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <uhmm/uhmm.h>

#include "bench.h"

#define PAGE	4096UL

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

static struct mm_struct *mm;
static size_t size;
static unsigned long block_bytes;
static char *zeros;		/* the source of every UFFDIO_COPY */
static int uffd = -1;

static const char *uffd_open(void)
{
	static char why[200];
	int err;

	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (uffd < 0 && errno == EINVAL)	/* before Linux 5.11 */
		uffd = syscall(SYS_userfaultfd, O_CLOEXEC);
	err = errno;
#ifdef USERFAULTFD_IOC_NEW
	if (uffd < 0) {
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

		if (dev >= 0) {
			uffd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC);
			close(dev);
		}
	}
#endif
	if (uffd < 0) {
		char sysctl[16] = "absent";
		FILE *f = fopen("/proc/sys/vm/unprivileged_userfaultfd", "r");

		if (f) {
			if (!fgets(sysctl, sizeof(sysctl), f))
				strcpy(sysctl, "?");
			sysctl[strcspn(sysctl, "\n")] = 0;
			fclose(f);
		}
		snprintf(why, sizeof(why),
			 "userfaultfd refused (%s; vm.unprivileged_userfaultfd=%s, "
			 "/dev/userfaultfd not usable)", strerror(err), sysctl);
		return why;
	}
	struct uffdio_api api = { .api = UFFD_API };

	if (ioctl(uffd, UFFDIO_API, &api)) {
		snprintf(why, sizeof(why), "UFFDIO_API: %s", strerror(errno));
		close(uffd);
		uffd = -1;
		return why;
	}
	return NULL;
}

/* The pager: fill the aligned block around each fault. */
static void *uffd_handler(void *arg)
{
	for (;;) {
		struct uffd_msg msg;
		struct uffdio_copy copy;

		if (read(uffd, &msg, sizeof(msg)) != sizeof(msg)) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			perror("userfaultfd read");
			exit(1);
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		copy = (struct uffdio_copy){
			.dst = msg.arg.pagefault.address & ~(block_bytes - 1),
			.src = (uintptr_t)zeros,
			.len = block_bytes,
		};
		if (ioctl(uffd, UFFDIO_COPY, &copy) && errno != EEXIST) {
			perror("UFFDIO_COPY");
			exit(1);
		}
		if (copy.copy < 0 && copy.copy != -EEXIST) {
			fprintf(stderr, "UFFDIO_COPY: %lld\n", copy.copy);
			exit(1);
		}
		if (copy.copy == -EEXIST) {	/* filled meanwhile: wake */
			struct uffdio_range r = {
				.start = msg.arg.pagefault.address & ~(PAGE - 1),
				.len = PAGE,
			};

			ioctl(uffd, UFFDIO_WAKE, &r);
		}
	}
	return NULL;
}

/* ns per page of a first-touch write served by the userfaultfd pager. */
static double uffd_write(void *arg)
{
	struct uffdio_register reg = {
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	double t0;
	char *p;

	/* Aligned to the block, so that a block never leaves the region. */
	p = mmap(NULL, size + block_bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	char *a = (char *)(((uintptr_t)p + block_bytes - 1) &
			   ~(block_bytes - 1));

	madvise(a, size, MADV_NOHUGEPAGE);
	reg.range.start = (uintptr_t)a;
	reg.range.len = size;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg)) {
		perror("UFFDIO_REGISTER");
		exit(1);
	}
	t0 = bench_now_ns();
	for (size_t off = 0; off < size; off += PAGE)
		((volatile char *)a)[off] = 1;
	t0 = (bench_now_ns() - t0) / (size / PAGE);
	munmap(p, size + block_bytes);	/* unregisters */
	return t0;
}

static double managed_write(void *arg)
{
	char *p = bench_uhmm_map(mm, size, 0);
	double t0;

	t0 = bench_now_ns();
	for (size_t off = 0; off < size; off += PAGE)
		((volatile char *)p)[off] = 1;
	t0 = (bench_now_ns() - t0) / (size / PAGE);
	uhmm_munmap(mm, p, size);
	return t0;
}

int main(int argc, char **argv)
{
	const char *block_opt = bench_option(argc, argv, "block");
	bool quick = bench_quick(argc, argv);
	struct uhmm_config config = {
		.anon_block_pages = block_opt ? atoi(block_opt) : 16,
	};
	struct bench_native native = { .write = true };
	int reps = quick ? 5 : 9;
	struct bench_stat m, u, b;
	const char *skip;
	pthread_t handler;
	char params[160], title[80];

	size = bench_region(argc, argv, 64, 16);
	config.ram_size = 2 * size + (64UL << 20);
	mm = bench_uhmm_start(&config);
	block_bytes = config.anon_block_pages * PAGE;
	zeros = aligned_alloc(PAGE, block_bytes);
	if (!zeros)
		return 1;
	memset(zeros, 0, block_bytes);
	native.size = size;
	snprintf(params, sizeof(params),
		 "\"block_pages\": %u, \"region_mib\": %zu, "
		 "\"uffd\": \"MISSING, UFFDIO_COPY, handler thread\"",
		 config.anon_block_pages, size >> 20);

	snprintf(title, sizeof(title),
		 "first-touch faults: uhmm against userfaultfd (block %u)",
		 config.anon_block_pages);
	bench_begin(argc, argv, title);
	skip = uffd_open();
	if (skip) {
		printf("skipped: %s\n", skip);
		bench_end();
		uhmm_mm_exit(mm);
		return 0;
	}
	if (pthread_create(&handler, NULL, uffd_handler, NULL))
		return 1;
	u = bench_repeat(uffd_write, NULL, 2, reps);
	b = bench_repeat(bench_native_fault, &native, 2, reps);
	m = bench_repeat(managed_write, NULL, 2, reps);
	bench_report("uffd_fault_write", "ns/page", u, "native_fault_write", b,
		     params);
	bench_report("cpu_first_touch_write_vs_uffd", "ns/page", m,
		     "uffd_fault_write", u, params);
	bench_end();
	pthread_cancel(handler);
	pthread_join(handler, NULL);
	close(uffd);
	uhmm_mm_exit(mm);
	free(zeros);
	return 0;
}
