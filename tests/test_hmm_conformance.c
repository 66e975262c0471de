// SPDX-License-Identifier: MIT
/*
 * Conformance with the kernel's HMM selftest: every scenario of
 * tools/testing/selftests/mm/hmm-tests.c, replayed against dmirror with
 * the same calls and the same expectations (return codes, cpages,
 * faults, data, snapshot bytes), under the same fixture variants:
 *
 *   hmm_device_private    one mirror on device 0 (device-private memory)
 *   hmm_device_coherent   one mirror on device 2 (device-coherent memory)
 *   hmm2_device_private   mirrors on devices 0 and 1
 *   hmm2_device_coherent  mirrors on devices 2 and 3
 *
 * A test is named "<variant>/<scenario>", e.g. "hmm_device_private/
 * anon_read". The kernel test's "ptr" is an address in the test's own
 * mm (every test creates one and exits it); its plain pointer loads and
 * stores are cpu_access() calls here. Its "mirror" is a malloc'd buffer
 * of this process. fork() is uhmm_fork(): "the child" runs on this
 * thread against the child mm, and its _exit() is uhmm_mm_exit().
 *
 * Where uhmm cannot run a scenario as the kernel does:
 *  - No transparent huge pages (anon_write_child with THP,
 *    anon_write_huge, migrate_anon_huge_*, migrate_partial_unmap_fault,
 *    benchmark_thp_migration): the same scenario runs on a PMD-aligned
 *    region of P base pages. MADV_HUGEPAGE, MADV_NOHUGEPAGE and
 *    MADV_COLLAPSE are left out when uhmm refuses them with EINVAL.
 *    migrate_anon_huge_fault expects the base-page byte 0x22
 *    (PRIV_LOCAL|WRITE) where the kernel has 0x26 (with PMD), and checks
 *    the CPU page table directly where the kernel reads
 *    /proc/self/pagemap. uhmm has no MADV_FREE either: where it is
 *    refused (migrate_anon_huge_free), MADV_DONTNEED frees the migrated
 *    range instead.
 *  - No hugetlbfs (anon_write_hugetlbfs, compound): the MAP_HUGETLB mmap
 *    must fail, and then the kernel test skips or returns; so do these.
 *  - mixedmap maps the device with dmirror_mmap(), where the kernel
 *    test mmaps the device file.
 *  - migrate_remap_fault moves with uhmm_mremap() where the kernel test
 *    calls mremap().
 *  - hmm_gup_test takes and releases its pages with
 *    get_user_pages_remote and pin_user_pages_remote where the kernel
 *    test uses the gup_test module (which also has fast variants).
 *  - file_write: shared file mappings reach the file on msync, munmap and
 *    exit (README), so the test msyncs before its pread.
 *  - migrate_anon_huge_zero_err reads the new mapping where the kernel
 *    reads through a stale pointer that works only if mmap reuses the
 *    address.
 *  - anon_write_child, anon_write_child_shared, exclusive_cow,
 *    hmm_cow_in_device: there is no wait status to check; the child's
 *    checks are assertions on this thread.
 *  - snapshot: the kernel gives its 1-page MIGRATE_TO_DEV commands a
 *    7-byte buffer (the driver copies a page into it); here the buffer
 *    holds a page for each page of the range.
 *  - benchmark_thp_migration leaves out the sizes that need more than
 *    half the free system RAM (the 256 MiB one, with UHMM_RAM=256M).
 *
 * Beyond the kernel suite: -EINVAL on a mirror whose mm has exited and
 * for malformed commands; owner filtering between two devices; the
 * device counters of dmirror_device_stats(); READ racing MADV_DONTNEED
 * (the -EBUSY retry). Every teardown checks that system RAM and device
 * pages are back where they were before the test.
 *
 * The list at the end is cmocka_unit_test_prestate_setup_teardown()'s
 * struct written out, to name each test after its variant; the prestate
 * is the variant and the name. HMM_TEST_FILTER="hmm2_*" runs the tests
 * whose name matches. A skipped test prints why as a TAP comment.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <strings.h>
#include <stdatomic.h>
#include <sys/time.h>
#include <time.h>

#include "test_util.h"
#include "mm/mm_internal.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif

#define HMM_BUFFER_SIZE	(1024UL << 12)
#define NPAGES		(HMM_BUFFER_SIZE >> PAGE_SHIFT)	/* N: 1024 */
#define PMD_PAGES	(PMD_SIZE >> PAGE_SHIFT)	/* P: 512 */
#define NTIMES		10

/* What a failed command must leave in cpages and faults. */
#define CMD_UNTOUCHED	0x5a5a5a5a5a5a5a5aULL

/* ---- fixtures ---- */

struct hmm_variant {
	int device_number0;
	int device_number1;	/* hmm2 only; -1 for hmm */
};

static const struct hmm_variant hmm_device_private = { 0, -1 };
static const struct hmm_variant hmm_device_coherent = { 2, -1 };
static const struct hmm_variant hmm2_device_private = { 0, 1 };
static const struct hmm_variant hmm2_device_coherent = { 2, 3 };

static bool hmm_is_coherent_type(int dev_num)
{
	return dev_num >= 2;
}

/* What a test's entry in the list hands its setup. */
struct hmm_prestate {
	const struct hmm_variant *variant;
	const char *name;
};

struct hmm_fixture {
	const struct hmm_variant *variant;
	struct mm_struct *mm;
	struct dmirror *fd;		/* hmm: the device */
	struct dmirror *fd0, *fd1;	/* hmm2: both devices (fd0 == fd) */
	unsigned long free_before;
	unsigned long in_use_before[DMIRROR_NDEVICES];
};

static int hmm_setup(void **state)
{
	const struct hmm_prestate *pre = *state;
	const struct hmm_variant *v = pre->variant;
	struct hmm_fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->variant = v;
	f->free_before = free_pages_now();
	for (int i = 0; i < DMIRROR_NDEVICES; i++)
		f->in_use_before[i] = device_pages_in_use(i);
	f->mm = uhmm_mm_create();
	if (!f->mm)
		return -1;
	f->fd = f->fd0 = dmirror_open(f->mm, v->device_number0);
	if (!f->fd)
		return -1;
	if (v->device_number1 >= 0) {
		f->fd1 = dmirror_open(f->mm, v->device_number1);
		if (!f->fd1)
			return -1;
	}
	*state = f;
	return 0;
}

static int hmm_teardown(void **state)
{
	struct hmm_fixture *f = *state;

	dmirror_close(f->fd1);
	dmirror_close(f->fd0);
	uhmm_mm_exit(f->mm);
	/* Nothing leaked: every page is back with the allocator and every
	 * device page with its device. */
	assert_int_equal(free_pages_now(), f->free_before);
	for (int i = 0; i < DMIRROR_NDEVICES; i++)
		assert_int_equal(device_pages_in_use(i), f->in_use_before[i]);
	free(f);
	return 0;
}

/* ---- helpers ---- */

struct hmm_counts {
	uint64_t cpages;
	uint64_t faults;
};

/*
 * The kernel test's helper: run one command on [addr, addr + npages
 * pages) with ptr as the buffer; 0 or -errno, retried on -EINTR. On
 * failure c is left alone (and the driver must not have touched the
 * counters of its command).
 */
static int hmm_dmirror_cmd(struct dmirror *d, unsigned int request,
			   void *addr, void *ptr, unsigned long npages,
			   struct hmm_counts *c)
{
	struct hmm_dmirror_cmd cmd;
	int ret;

	for (;;) {
		cmd = (struct hmm_dmirror_cmd){
			.addr = (uintptr_t)addr,
			.ptr = (uintptr_t)ptr,
			.npages = npages,
			.cpages = CMD_UNTOUCHED,
			.faults = CMD_UNTOUCHED,
		};
		ret = dmirror_cmd(d, request, &cmd);
		if (ret != -EINTR)
			break;
	}
	if (ret) {
		assert_true(cmd.cpages == CMD_UNTOUCHED &&
			    cmd.faults == CMD_UNTOUCHED);
		return ret;
	}
	c->cpages = cmd.cpages;
	c->faults = cmd.faults;
	return 0;
}

static int hmm_migrate_sys_to_dev(struct dmirror *d, void *addr, void *ptr,
				  unsigned long npages, struct hmm_counts *c)
{
	return hmm_dmirror_cmd(d, HMM_DMIRROR_MIGRATE_TO_DEV, addr, ptr,
			       npages, c);
}

static int hmm_migrate_dev_to_sys(struct dmirror *d, void *addr, void *ptr,
				  unsigned long npages, struct hmm_counts *c)
{
	return hmm_dmirror_cmd(d, HMM_DMIRROR_MIGRATE_TO_SYS, addr, ptr,
			       npages, c);
}

static void *xmalloc(size_t size)
{
	void *p = malloc(size);

	assert_non_null(p);
	return p;
}

static char *hmm_mmap(struct mm_struct *mm, size_t len, int prot, int flags,
		      int fd)
{
	char *p = uhmm_mmap(mm, NULL, len, prot, flags, fd, 0);

	assert_ptr_not_equal(p, MAP_FAILED);
	return p;
}

static void hmm_munmap(struct mm_struct *mm, void *addr, size_t len)
{
	assert_int_equal(uhmm_munmap(mm, addr, len), 0);
}

static void hmm_mprotect(struct mm_struct *mm, void *addr, size_t len,
			 int prot)
{
	assert_int_equal(uhmm_mprotect(mm, addr, len, prot), 0);
}

/*
 * MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_COLLAPSE: uhmm has no huge pages
 * and refuses these with EINVAL; then the call is left out. Anything
 * else must succeed, as in the kernel test.
 */
static void madvise_thp(struct mm_struct *mm, void *addr, size_t len,
			int advice)
{
	int ret = uhmm_madvise(mm, addr, len, advice);

	if (ret == -1 && errno == EINVAL)
		return;
	assert_int_equal(ret, 0);
}

static char *pmd_align(char *p)
{
	return (char *)ALIGN_UP((uintptr_t)p, PMD_SIZE);
}

/* CPU loads and stores (the kernel test's plain pointer accesses). */
static void cpu_read(struct mm_struct *mm, void *addr, void *buf, size_t len)
{
	assert_int_equal(cpu_access(mm, addr, buf, len, 0), (ssize_t)len);
}

static void cpu_write(struct mm_struct *mm, void *addr, const void *buf,
		      size_t len)
{
	assert_int_equal(cpu_access(mm, addr, (void *)buf, len, 1),
			 (ssize_t)len);
}

static int cpu_read_int(struct mm_struct *mm, void *base, unsigned long i)
{
	int v;

	cpu_read(mm, (int *)base + i, &v, sizeof(v));
	return v;
}

static void cpu_write_int(struct mm_struct *mm, void *base, unsigned long i,
			  int v)
{
	cpu_write(mm, (int *)base + i, &v, sizeof(v));
}

/* int i of a buffer holds sign * i + add (the kernel's i, -i, i + c). */
static int seq_value(unsigned long i, int sign, long add)
{
	return (int)(sign * (long)i + add);
}

/* Ints [first, first + n) of p (p is the start of the buffer). */
static void seq_fill(int *p, unsigned long first, unsigned long n, int sign,
		     long add)
{
	for (unsigned long i = first; i < first + n; i++)
		p[i] = seq_value(i, sign, add);
}

static void seq_check(const int *p, unsigned long first, unsigned long n,
		      int sign, long add, const char *what)
{
	for (unsigned long i = first; i < first + n; i++)
		if (p[i] != seq_value(i, sign, add))
			fail_msg("%s: int %lu is %d, expected %d", what, i,
				 p[i], seq_value(i, sign, add));
}

static void const_check(const int *p, unsigned long first, unsigned long n,
			int v, const char *what)
{
	for (unsigned long i = first; i < first + n; i++)
		if (p[i] != v)
			fail_msg("%s: int %lu is %d, expected %d", what, i,
				 p[i], v);
}

/* The CPU stores sign * i + add into ints [first, first + n) at base. */
static void cpu_fill(struct mm_struct *mm, void *base, unsigned long first,
		     unsigned long n, int sign, long add)
{
	int *tmp = xmalloc(n * sizeof(int));

	for (unsigned long i = 0; i < n; i++)
		tmp[i] = seq_value(first + i, sign, add);
	cpu_write(mm, (int *)base + first, tmp, n * sizeof(int));
	free(tmp);
}

/* The CPU loads ints [first, first + n) at base and checks them. */
static void cpu_check(struct mm_struct *mm, void *base, unsigned long first,
		      unsigned long n, int sign, long add, const char *what)
{
	int *tmp = xmalloc(n * sizeof(int));

	cpu_read(mm, (int *)base + first, tmp, n * sizeof(int));
	for (unsigned long i = 0; i < n; i++)
		if (tmp[i] != seq_value(first + i, sign, add))
			fail_msg("%s: int %lu is %d, expected %d", what,
				 first + i, tmp[i],
				 seq_value(first + i, sign, add));
	free(tmp);
}

static void cpu_check_const(struct mm_struct *mm, void *base,
			    unsigned long first, unsigned long n, int v,
			    const char *what)
{
	int *tmp = xmalloc(n * sizeof(int));

	cpu_read(mm, (int *)base + first, tmp, n * sizeof(int));
	for (unsigned long i = 0; i < n; i++)
		if (tmp[i] != v)
			fail_msg("%s: int %lu is %d, expected %d", what,
				 first + i, tmp[i], v);
	free(tmp);
}

static void bytes_check(const unsigned char *m, unsigned long n,
			unsigned char v, const char *what)
{
	for (unsigned long i = 0; i < n; i++)
		if (m[i] != v)
			fail_msg("%s: byte %lu is 0x%02x, expected 0x%02x",
				 what, i, m[i], v);
}

/* A scenario uhmm cannot run yet: say why, then cmocka's skip. */
#define hmm_skip(reason) do {						\
	printf("# skipped: %s\n", reason);				\
	fflush(stdout);							\
	skip();								\
} while (0)

/* A temporary file that is gone once closed, size bytes long. */
static int hmm_create_file(unsigned long size)
{
	int fd = open("/tmp", O_TMPFILE | O_EXCL | O_RDWR, 0600);

	if (fd < 0) {
		/* A /tmp without O_TMPFILE: the same, by hand. */
		char path[] = "/tmp/uhmm-conf-XXXXXX";

		fd = mkstemp(path);
		assert_true(fd >= 0);
		unlink(path);
	}
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static unsigned int hmm_random_seed(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned int)(ts.tv_nsec ^ ts.tv_sec ^ getpid());
}

/* ---- the kernel's scenarios ---- */

/* open_close: the fixture opens and closes the device. */
static void test_open_close(void **state)
{
	struct hmm_fixture *f = *state;

	assert_non_null(f->fd);
}

/* anon_read: the device reads private anonymous memory, including a
 * pte_none page and a zero page; one fault pass. */
static void test_anon_read(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	unsigned long first = 2 * PAGE_SIZE / sizeof(int);
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	char *ptr;
	int val;

	ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1);

	/* Everything but the first two pages (pte_none and zero page). */
	cpu_fill(f->mm, ptr, first, nints - first, 1, 0);
	hmm_mprotect(f->mm, ptr, size, PROT_READ);

	/* Populate the CPU page table with the zero page. */
	val = cpu_read_int(f->mm, ptr + PAGE_SIZE, 0);
	assert_int_equal(val, 0);

	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_READ, ptr, mirror,
					 npages, &c), 0);
	assert_int_equal(c.cpages, npages);
	assert_int_equal(c.faults, 1);

	const_check(mirror, 0, first, 0, "mirror");
	seq_check(mirror, first, nints - first, 1, 0, "mirror");

	hmm_munmap(f->mm, ptr, size);
	free(mirror);
}

/* anon_read_prot: a PROT_NONE range cannot be read, and a failed READ
 * copies nothing out. */
static void test_anon_read_prot(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	char *ptr;

	ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1);
	cpu_fill(f->mm, ptr, 0, nints, 1, 0);
	seq_fill(mirror, 0, nints, -1, 0);

	hmm_mprotect(f->mm, ptr, size, PROT_NONE);
	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_READ, ptr, mirror,
					 npages, &c), -EFAULT);

	hmm_mprotect(f->mm, ptr, size, PROT_READ);
	cpu_check(f->mm, ptr, 0, nints, 1, 0, "ptr");
	seq_check(mirror, 0, nints, -1, 0, "mirror");

	hmm_munmap(f->mm, ptr, size);
	free(mirror);
}

/* anon_write: the device writes untouched private anonymous memory. */
static void test_anon_write(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	char *ptr;

	ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1);
	seq_fill(mirror, 0, nints, 1, 0);

	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_WRITE, ptr, mirror,
					 npages, &c), 0);
	assert_int_equal(c.cpages, npages);
	assert_int_equal(c.faults, 1);

	cpu_check(f->mm, ptr, 0, nints, 1, 0, "ptr");

	hmm_munmap(f->mm, ptr, size);
	free(mirror);
}

/* anon_write_prot: a device write to a read-only mapping is -EPERM and
 * writes nothing; after mprotect RW it goes through with one fault
 * pass, although page 0 is already mirrored read-only. */
static void test_anon_write_prot(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	char *ptr;

	ptr = hmm_mmap(f->mm, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1);

	/* The device reads a zero page. */
	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_READ, ptr, mirror,
					 1, &c), 0);
	assert_int_equal(c.cpages, 1);
	assert_int_equal(c.faults, 1);

	seq_fill(mirror, 0, nints, 1, 0);
	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_WRITE, ptr, mirror,
					 npages, &c), -EPERM);
	cpu_check_const(f->mm, ptr, 0, nints, 0, "ptr after -EPERM");

	/* Now allow writing and see that the zero page is replaced. */
	hmm_mprotect(f->mm, ptr, size, PROT_READ | PROT_WRITE);
	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_WRITE, ptr, mirror,
					 npages, &c), 0);
	assert_int_equal(c.cpages, npages);
	assert_int_equal(c.faults, 1);
	cpu_check(f->mm, ptr, 0, nints, 1, 0, "ptr");

	hmm_munmap(f->mm, ptr, size);
	free(mirror);
}

/* anon_write_child: a device write in a forked child copies on write
 * (the parent keeps its values), with and without the pages migrated to
 * the device first, on N pages and on a PMD-aligned P pages. */
static void test_anon_write_child(void **state)
{
	struct hmm_fixture *f = *state;

	for (int migrate = 0; migrate < 2; ++migrate) {
		for (int use_thp = 0; use_thp < 2; ++use_thp) {
			unsigned long npages = use_thp ? PMD_PAGES : NPAGES;
			unsigned long size = npages << PAGE_SHIFT;
			unsigned long nints = size / sizeof(int);
			struct dmirror *child_fd;
			struct mm_struct *child;
			struct hmm_counts c;
			int *mirror = xmalloc(size);
			char *old_ptr, *ptr;

			old_ptr = hmm_mmap(f->mm, size * 2,
					   PROT_READ | PROT_WRITE,
					   MAP_PRIVATE | MAP_ANONYMOUS, -1);
			ptr = old_ptr;
			if (use_thp) {
				ptr = pmd_align(old_ptr);
				madvise_thp(f->mm, ptr, size, MADV_HUGEPAGE);
			}

			cpu_fill(f->mm, ptr, 0, nints, 1, 0);
			seq_fill(mirror, 0, nints, -1, 0);

			if (migrate) {
				assert_int_equal(hmm_migrate_sys_to_dev(f->fd,
						ptr, mirror, npages, &c), 0);
				assert_int_equal(c.cpages, npages);
			}

			child = uhmm_fork(f->mm);
			assert_non_null(child);

			/* The child sees the parent's values. */
			cpu_check(child, ptr, 0, nints, 1, 0, "child ptr");
			if (!migrate)
				seq_check(mirror, 0, nints, -1, 0, "mirror");

			/* The child needs its own mirror of its own mm; the
			 * kernel test opens device 0 in every variant. */
			child_fd = dmirror_open(child, 0);
			assert_non_null(child_fd);
			assert_int_equal(hmm_dmirror_cmd(child_fd,
					HMM_DMIRROR_WRITE, ptr, mirror, npages,
					&c), 0);
			assert_int_equal(c.cpages, npages);
			assert_int_equal(c.faults, 1);
			if (!migrate)
				cpu_check(child, ptr, 0, nints, -1, 0,
					  "child ptr after the device write");
			dmirror_close(child_fd);
			uhmm_mm_exit(child);

			/* The parent's buffer did not change. */
			cpu_check(f->mm, ptr, 0, nints, 1, 0, "parent ptr");

			hmm_munmap(f->mm, old_ptr, size * 2);
			free(mirror);
		}
	}
}

/* anon_write_child_shared: a device write in a child to shared
 * anonymous memory is seen by the parent (no copy-on-write). */
static void test_anon_write_child_shared(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct dmirror *child_fd;
	struct mm_struct *child;
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	char *ptr;

	ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1);
	cpu_fill(f->mm, ptr, 0, nints, 1, 0);
	seq_fill(mirror, 0, nints, -1, 0);

	child = uhmm_fork(f->mm);
	assert_non_null(child);

	cpu_check(child, ptr, 0, nints, 1, 0, "child ptr");
	seq_check(mirror, 0, nints, -1, 0, "mirror");

	child_fd = dmirror_open(child, 0);
	assert_non_null(child_fd);
	assert_int_equal(hmm_dmirror_cmd(child_fd, HMM_DMIRROR_WRITE, ptr,
					 mirror, npages, &c), 0);
	assert_int_equal(c.cpages, npages);
	assert_int_equal(c.faults, 1);
	cpu_check(child, ptr, 0, nints, -1, 0, "child ptr");
	dmirror_close(child_fd);
	uhmm_mm_exit(child);

	/* The parent's buffer did change. */
	cpu_check(f->mm, ptr, 0, nints, -1, 0, "parent ptr");

	hmm_munmap(f->mm, ptr, size);
	free(mirror);
}

/* anon_write_huge: the device writes a PMD-aligned PMD of anonymous
 * memory (P base pages here). */
static void test_anon_write_huge(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long size = 2 * PMD_SIZE, npages, nints;
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	char *old_ptr, *ptr;

	old_ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1);
	size /= 2;
	npages = size >> PAGE_SHIFT;
	nints = size / sizeof(int);
	ptr = pmd_align(old_ptr);
	madvise_thp(f->mm, ptr, size, MADV_HUGEPAGE);

	seq_fill(mirror, 0, nints, 1, 0);
	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_WRITE, ptr, mirror,
					 npages, &c), 0);
	assert_int_equal(c.cpages, npages);
	assert_int_equal(c.faults, 1);
	cpu_check(f->mm, ptr, 0, nints, 1, 0, "ptr");

	hmm_munmap(f->mm, old_ptr, 2 * size);
	free(mirror);
}

/* anon_write_hugetlbfs: uhmm has no hugetlbfs, so the MAP_HUGETLB mmap
 * fails, and then the kernel test skips: this one passes. */
static void test_anon_write_hugetlbfs(void **state)
{
	struct hmm_fixture *f = *state;

	assert_ptr_equal(uhmm_mmap(f->mm, NULL, 2UL << 20,
				   PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
				   -1, 0), MAP_FAILED);
}

/* file_read: the device reads a shared, read-only file mapping. */
static void test_file_read(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	int fd = hmm_create_file(size);
	char *ptr;

	/* Write the initial contents of the file. */
	seq_fill(mirror, 0, nints, 1, 0);
	assert_int_equal(pwrite(fd, mirror, size, 0), (ssize_t)size);
	memset(mirror, 0, size);

	ptr = hmm_mmap(f->mm, size, PROT_READ, MAP_SHARED, fd);

	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_READ, ptr, mirror,
					 npages, &c), 0);
	assert_int_equal(c.cpages, npages);
	assert_int_equal(c.faults, 1);
	seq_check(mirror, 0, nints, 1, 0, "mirror");

	hmm_munmap(f->mm, ptr, size);
	close(fd);
	free(mirror);
}

/* file_write: the device writes a shared file mapping; the CPU and the
 * file see the data. */
static void test_file_write(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	int fd = hmm_create_file(size);
	char *ptr;

	ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	seq_fill(mirror, 0, nints, 1, 0);

	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_WRITE, ptr, mirror,
					 npages, &c), 0);
	assert_int_equal(c.cpages, npages);
	assert_int_equal(c.faults, 1);
	cpu_check(f->mm, ptr, 0, nints, 1, 0, "ptr");

	/* uhmm's page cache reaches the file on msync (the kernel's is the
	 * file's own, and needs none). */
	assert_int_equal(uhmm_msync(f->mm, ptr, size, MS_SYNC), 0);
	memset(mirror, 0, size);
	assert_int_equal(pread(fd, mirror, size, 0), (ssize_t)size);
	seq_check(mirror, 0, nints, 1, 0, "file");

	hmm_munmap(f->mm, ptr, size);
	close(fd);
	free(mirror);
}

/* migrate: anonymous memory to the device; M2D copies it out. */
static void test_migrate(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	char *ptr;

	ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1);
	cpu_fill(f->mm, ptr, 0, nints, 1, 0);

	assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(c.cpages, npages);
	seq_check(mirror, 0, nints, 1, 0, "mirror");

	hmm_munmap(f->mm, ptr, size);
	free(mirror);
}

/* migrate_file_private: the copy-on-write anonymous pages of a private
 * file mapping migrate. */
static void test_migrate_file_private(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	int fd = hmm_create_file(size);
	char *ptr;

	ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd);
	cpu_fill(f->mm, ptr, 0, nints, 1, 0);

	assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(c.cpages, npages);
	seq_check(mirror, 0, nints, 1, 0, "mirror");

	hmm_munmap(f->mm, ptr, size);
	close(fd);
	free(mirror);
}

/* migrate_fault: half the pages fault back to the CPU; migrating the mix
 * of system and device pages again reads back all N. */
static void test_migrate_fault(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	char *ptr;

	ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1);
	cpu_fill(f->mm, ptr, 0, nints, 1, 0);

	assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(c.cpages, npages);
	seq_check(mirror, 0, nints, 1, 0, "mirror");

	/* Fault half the pages back to system memory and check them. */
	cpu_check(f->mm, ptr, 0, nints / 2, 1, 0, "ptr");

	/* Migrate memory to the device again. */
	assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(c.cpages, npages);
	seq_check(mirror, 0, nints, 1, 0, "mirror");

	hmm_munmap(f->mm, ptr, size);
	free(mirror);
}

/* migrate_release: RELEASE evicts the device's memory; the data is
 * still there for the CPU. */
static void test_migrate_release(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	char *ptr;

	ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1);
	cpu_fill(f->mm, ptr, 0, nints, 1, 0);

	assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(c.cpages, npages);
	seq_check(mirror, 0, nints, 1, 0, "mirror");

	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_RELEASE, ptr,
					 mirror, npages, &c), 0);

	cpu_check(f->mm, ptr, 0, nints / 2, 1, 0, "ptr");

	hmm_munmap(f->mm, ptr, size);
	free(mirror);
}

/* migrate_shared: shared anonymous memory does not migrate, so the
 * read-back finds holes. */
static void test_migrate_shared(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	char *ptr;

	ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1);

	assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror, npages,
						&c), -ENOENT);

	hmm_munmap(f->mm, ptr, size);
	free(mirror);
}

/* migrate_mixed: PROT_NONE and holes are -EINVAL; zero, read-only and
 * read-write pages migrate; a page on the other device is -ENOENT. */
static void test_migrate_mixed(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = 6, size = npages << PAGE_SHIFT;
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	char *p;
	int val;

	/* Reserve a range of addresses. */
	p = hmm_mmap(f->mm, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1);

	/* Migrating a protected area is an error. */
	assert_int_equal(hmm_migrate_sys_to_dev(f->fd1, p, mirror, npages,
						&c), -EINVAL);

	/* Punch a hole after the first page address. */
	hmm_munmap(f->mm, p + PAGE_SIZE, PAGE_SIZE);

	/* The VMA does not cover the range. */
	assert_int_equal(hmm_migrate_sys_to_dev(f->fd1, p, mirror, 3, &c),
			 -EINVAL);

	/* Page 2: a read-only zero page. */
	hmm_mprotect(f->mm, p + 2 * PAGE_SIZE, PAGE_SIZE, PROT_READ);
	val = cpu_read_int(f->mm, p + 2 * PAGE_SIZE, 0) + 3;
	assert_int_equal(val, 3);

	/* Page 3: read-only. */
	hmm_mprotect(f->mm, p + 3 * PAGE_SIZE, PAGE_SIZE,
		     PROT_READ | PROT_WRITE);
	cpu_write_int(f->mm, p + 3 * PAGE_SIZE, 0, val);
	hmm_mprotect(f->mm, p + 3 * PAGE_SIZE, PAGE_SIZE, PROT_READ);

	/* Pages 4-5: read-write. */
	hmm_mprotect(f->mm, p + 4 * PAGE_SIZE, 2 * PAGE_SIZE,
		     PROT_READ | PROT_WRITE);
	cpu_write_int(f->mm, p + 4 * PAGE_SIZE, 0, val);
	cpu_write_int(f->mm, p + 5 * PAGE_SIZE, 0, val);

	/* Pages 2-5 to device 1. */
	assert_int_equal(hmm_migrate_sys_to_dev(f->fd1, p + 2 * PAGE_SIZE,
						mirror, 4, &c), 0);
	assert_int_equal(c.cpages, 4);

	/* Page 5 does not move to device 0: it is on device 1. */
	assert_int_equal(hmm_migrate_sys_to_dev(f->fd0, p + 5 * PAGE_SIZE,
						mirror, 1, &c), -ENOENT);

	/* Page 1 is a hole already. */
	hmm_munmap(f->mm, p, size);
	free(mirror);
}

/* migrate_multiple: to the device and back, ten times (back through CPU
 * faults on private memory, through M2S on coherent memory). */
static void test_migrate_multiple(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);

	for (unsigned long c = 0; c < NTIMES; c++) {
		struct hmm_counts cnt;
		int *mirror = xmalloc(size);
		char *ptr;

		ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1);
		cpu_fill(f->mm, ptr, 0, nints, 1, 0);

		assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror,
							npages, &cnt), 0);
		assert_int_equal(cnt.cpages, npages);
		seq_check(mirror, 0, nints, 1, 0, "mirror");

		if (hmm_is_coherent_type(f->variant->device_number0)) {
			assert_int_equal(hmm_migrate_dev_to_sys(f->fd, ptr,
					mirror, npages, &cnt), 0);
			assert_int_equal(cnt.cpages, npages);
		}
		cpu_check(f->mm, ptr, 0, nints, 1, 0, "ptr");

		hmm_munmap(f->mm, ptr, size);
		free(mirror);
	}
}

/* anon_read_multiple: ten fresh READs, each with one fault pass. */
static void test_anon_read_multiple(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);

	for (unsigned long c = 0; c < NTIMES; c++) {
		struct hmm_counts cnt;
		int *mirror = xmalloc(size);
		char *ptr;

		ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1);
		cpu_fill(f->mm, ptr, 0, nints, 1, (long)c);

		assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_READ, ptr,
						 mirror, npages, &cnt), 0);
		assert_int_equal(cnt.cpages, npages);
		assert_int_equal(cnt.faults, 1);
		seq_check(mirror, 0, nints, 1, (long)c, "mirror");

		hmm_munmap(f->mm, ptr, size);
		free(mirror);
	}
}

struct unmap_buffer_arg {
	struct mm_struct *mm;
	char *ptr;
	unsigned long size;
	unsigned int seed;
	int ret;
};

/* Wait a little, then unmap the second half while it is being read. */
static void *unmap_buffer(void *p)
{
	struct unmap_buffer_arg *a = p;
	struct timespec t = { 0, rand_r(&a->seed) % 32000 };

	nanosleep(&t, NULL);
	a->ret = uhmm_munmap(a->mm, a->ptr + a->size / 2, a->size / 2);
	return NULL;
}

/* anon_teardown: READ while another thread unmaps half the range; any
 * error goes, but a READ that succeeds read everything. */
static void test_anon_teardown(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	unsigned int seed = hmm_random_seed();

	for (unsigned long c = 0; c < NTIMES; ++c) {
		struct unmap_buffer_arg arg;
		struct hmm_counts cnt;
		pthread_t thread;
		int *mirror = xmalloc(size);
		char *ptr;
		int rc;

		ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1);
		cpu_fill(f->mm, ptr, 0, nints, 1, (long)c);

		arg = (struct unmap_buffer_arg){
			.mm = f->mm, .ptr = ptr, .size = size,
			.seed = seed + (unsigned int)c, .ret = -1,
		};
		assert_int_equal(pthread_create(&thread, NULL, unmap_buffer,
						&arg), 0);

		rc = hmm_dmirror_cmd(f->fd, HMM_DMIRROR_READ, ptr, mirror,
				     npages, &cnt);
		if (rc == 0) {
			assert_int_equal(cnt.cpages, npages);
			assert_int_equal(cnt.faults, 1);
			seq_check(mirror, 0, nints, 1, (long)c, "mirror");
		}

		assert_int_equal(pthread_join(thread, NULL), 0);
		assert_int_equal(arg.ret, 0);
		hmm_munmap(f->mm, ptr, size);
		free(mirror);
	}
}

/* mixedmap: a snapshot of a private mapping of the device file, whose
 * pages the driver inserts (vm_insert_page): read-only to the device. */
static void test_mixedmap(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = 1, size = npages << PAGE_SHIFT;
	unsigned char *m = xmalloc(npages);
	struct hmm_counts c;
	char *p;
	int ret;

	/* Reserve a range of addresses: mmap of the device itself. */
	p = dmirror_mmap(f->fd, NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE);
	assert_ptr_not_equal(p, MAP_FAILED);

	/* Simulate a device snapshotting CPU pagetables. */
	ret = hmm_dmirror_cmd(f->fd, HMM_DMIRROR_SNAPSHOT, p, m, npages, &c);
	assert_int_equal(ret, 0);
	assert_int_equal(c.cpages, npages);

	/* Check what the device saw. */
	assert_int_equal(m[0], HMM_DMIRROR_PROT_READ);

	hmm_munmap(f->mm, p, size);
	free(m);
}

/* snapshot: SNAPSHOT reports every kind of CPU mapping without faulting:
 * PROT_NONE, hole, zero page, read-only, read-write, a page on this
 * device and one on the other (hidden if private). */
static void test_snapshot(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = 7, size = npages << PAGE_SHIFT;
	struct hmm_counts c;
	/* The kernel test gives its 1-page MIGRATE_TO_DEV commands a buffer
	 * of npages bytes; the driver copies a whole page into it. */
	unsigned char *m = xmalloc(size);
	char *p;
	int val;

	p = hmm_mmap(f->mm, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1);

	/* Punch a hole after the first page address. */
	hmm_munmap(f->mm, p + PAGE_SIZE, PAGE_SIZE);

	/* Page 2: a read-only zero page. */
	hmm_mprotect(f->mm, p + 2 * PAGE_SIZE, PAGE_SIZE, PROT_READ);
	val = cpu_read_int(f->mm, p + 2 * PAGE_SIZE, 0) + 3;
	assert_int_equal(val, 3);

	/* Page 3: read-only. */
	hmm_mprotect(f->mm, p + 3 * PAGE_SIZE, PAGE_SIZE,
		     PROT_READ | PROT_WRITE);
	cpu_write_int(f->mm, p + 3 * PAGE_SIZE, 0, val);
	hmm_mprotect(f->mm, p + 3 * PAGE_SIZE, PAGE_SIZE, PROT_READ);

	/* Pages 4-6: read-write; only page 4 written. */
	hmm_mprotect(f->mm, p + 4 * PAGE_SIZE, 3 * PAGE_SIZE,
		     PROT_READ | PROT_WRITE);
	cpu_write_int(f->mm, p + 4 * PAGE_SIZE, 0, val);

	/* Page 5 to device 0, page 6 to device 1. */
	assert_int_equal(hmm_migrate_sys_to_dev(f->fd0, p + 5 * PAGE_SIZE, m,
						1, &c), 0);
	assert_int_equal(c.cpages, 1);
	assert_int_equal(hmm_migrate_sys_to_dev(f->fd1, p + 6 * PAGE_SIZE, m,
						1, &c), 0);
	assert_int_equal(c.cpages, 1);

	assert_int_equal(hmm_dmirror_cmd(f->fd0, HMM_DMIRROR_SNAPSHOT, p, m,
					 npages, &c), 0);
	assert_int_equal(c.cpages, npages);

	assert_int_equal(m[0], HMM_DMIRROR_PROT_ERROR);
	assert_int_equal(m[1], HMM_DMIRROR_PROT_ERROR);
	assert_int_equal(m[2], HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ);
	assert_int_equal(m[3], HMM_DMIRROR_PROT_READ);
	assert_int_equal(m[4], HMM_DMIRROR_PROT_WRITE);
	if (!hmm_is_coherent_type(f->variant->device_number0)) {
		assert_int_equal(m[5], HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL |
				       HMM_DMIRROR_PROT_WRITE);
		assert_int_equal(m[6], HMM_DMIRROR_PROT_NONE);
	} else {
		assert_int_equal(m[5], HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL |
				       HMM_DMIRROR_PROT_WRITE);
		assert_int_equal(m[6], HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE |
				       HMM_DMIRROR_PROT_WRITE);
	}

	hmm_munmap(f->mm, p, size);
	free(m);
}

/* compound: snapshots of a hugetlbfs page. uhmm has no hugetlbfs, so the
 * MAP_HUGETLB mmap fails, and then the kernel test returns: this one
 * passes. */
static void test_compound(void **state)
{
	struct hmm_fixture *f = *state;

	assert_ptr_equal(uhmm_mmap(f->mm, NULL, 2UL << 20,
				   PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
				   -1, 0), MAP_FAILED);
}

/* double_map: two devices read the same pages; after a migration to
 * device 1, device 0 reads them again with one fault pass. */
static void test_double_map(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = 6, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	char *ptr;

	ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1);
	cpu_fill(f->mm, ptr, 0, nints, 1, 0);
	hmm_mprotect(f->mm, ptr, size, PROT_READ);

	/* Device 0 reads. */
	assert_int_equal(hmm_dmirror_cmd(f->fd0, HMM_DMIRROR_READ, ptr, mirror,
					 npages, &c), 0);
	assert_int_equal(c.cpages, npages);
	assert_int_equal(c.faults, 1);
	seq_check(mirror, 0, nints, 1, 0, "device 0");

	/* Device 1 reads. */
	memset(mirror, 0, size);
	assert_int_equal(hmm_dmirror_cmd(f->fd1, HMM_DMIRROR_READ, ptr, mirror,
					 npages, &c), 0);
	assert_int_equal(c.cpages, npages);
	assert_int_equal(c.faults, 1);
	seq_check(mirror, 0, nints, 1, 0, "device 1");

	/* Migrate to device 1, then read from device 0. */
	assert_int_equal(hmm_migrate_sys_to_dev(f->fd1, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(c.cpages, npages);

	memset(mirror, 0, size);
	assert_int_equal(hmm_dmirror_cmd(f->fd0, HMM_DMIRROR_READ, ptr, mirror,
					 npages, &c), 0);
	assert_int_equal(c.cpages, npages);
	assert_int_equal(c.faults, 1);
	seq_check(mirror, 0, nints, 1, 0, "device 0 after the migration");

	hmm_munmap(f->mm, ptr, size);
	free(mirror);
}

/* The CPU increments every int of [ptr, ptr + nints ints): each must
 * have been i + add before. */
static void cpu_increment(struct mm_struct *mm, char *ptr, unsigned long nints,
			  long add, const char *what)
{
	int *tmp = xmalloc(nints * sizeof(int));

	cpu_read(mm, ptr, tmp, nints * sizeof(int));
	seq_check(tmp, 0, nints, 1, add, what);
	for (unsigned long i = 0; i < nints; i++)
		tmp[i]++;
	cpu_write(mm, ptr, tmp, nints * sizeof(int));
	free(tmp);
}

/* exclusive: the device takes the pages for atomic access; CPU accesses
 * take them back, and no atomic entry is left. */
static void test_exclusive(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	char *ptr;

	ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1);
	cpu_fill(f->mm, ptr, 0, nints, 1, 0);

	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_EXCLUSIVE, ptr,
					 mirror, npages, &c), 0);
	assert_int_equal(c.cpages, npages);
	seq_check(mirror, 0, nints, 1, 0, "mirror");

	/* Fault the pages back to the CPU and check them. */
	cpu_increment(f->mm, ptr, nints, 0, "ptr");
	cpu_check(f->mm, ptr, 0, nints, 1, 1, "ptr");

	/* Atomic access revoked. */
	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_CHECK_EXCLUSIVE,
					 ptr, mirror, npages, &c), 0);

	hmm_munmap(f->mm, ptr, size);
	free(mirror);
}

/* exclusive_mprotect: after mprotect READ, a device write to pages it
 * holds exclusively is -EPERM. */
static void test_exclusive_mprotect(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	char *ptr;

	ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1);
	cpu_fill(f->mm, ptr, 0, nints, 1, 0);

	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_EXCLUSIVE, ptr,
					 mirror, npages, &c), 0);
	assert_int_equal(c.cpages, npages);
	seq_check(mirror, 0, nints, 1, 0, "mirror");

	hmm_mprotect(f->mm, ptr, size, PROT_READ);
	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_WRITE, ptr, mirror,
					 npages, &c), -EPERM);

	hmm_munmap(f->mm, ptr, size);
	free(mirror);
}

/* exclusive_cow: fork after EXCLUSIVE; parent and child each write
 * their own copy. */
static void test_exclusive_cow(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct mm_struct *child;
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	char *ptr;

	ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1);
	cpu_fill(f->mm, ptr, 0, nints, 1, 0);

	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_EXCLUSIVE, ptr,
					 mirror, npages, &c), 0);
	assert_int_equal(c.cpages, npages);

	child = uhmm_fork(f->mm);
	assert_non_null(child);

	/* The child increments its copy. */
	cpu_increment(child, ptr, nints, 0, "child ptr");
	cpu_check(child, ptr, 0, nints, 1, 1, "child ptr");

	/* The parent increments its own. */
	cpu_increment(f->mm, ptr, nints, 0, "parent ptr");
	cpu_check(f->mm, ptr, 0, nints, 1, 1, "parent ptr");

	/* (Not in the kernel test: the two copies stayed apart.) */
	cpu_check(child, ptr, 0, nints, 1, 1, "child ptr at exit");
	uhmm_mm_exit(child);

	hmm_munmap(f->mm, ptr, size);
	free(mirror);
}

/*
 * The kernel's gup_test ioctls on one page, for writing: take the page
 * (get_user_pages or a pin) and release it again. uhmm has no fast
 * variants: GUP_FAST_BENCHMARK and PIN_FAST_BENCHMARK use the remote
 * calls as well.
 */
static long gup_test_exec(struct mm_struct *mm, void *addr, bool pin,
			  unsigned int flags)
{
	struct page *page = NULL;
	long ret;

	mmap_read_lock(mm);
	if (pin)
		ret = pin_user_pages_remote(mm, (unsigned long)addr, 1,
					    FOLL_WRITE | flags, &page);
	else
		ret = get_user_pages_remote(mm, (unsigned long)addr, 1,
					    FOLL_WRITE | flags, &page);
	mmap_read_unlock(mm);
	if (ret == 1) {
		if (pin)
			unpin_user_page(page);
		else
			put_page(page);
	}
	return ret;
}

/* hmm_gup_test: get_user_pages of device pages brings private pages
 * back to system memory and leaves coherent ones on the device; a
 * long-term pin moves both. */
static void test_hmm_gup_test(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = 4, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct hmm_counts c;
	unsigned char *m;
	int *mirror = xmalloc(size);
	char *ptr;

	ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1);
	cpu_fill(f->mm, ptr, 0, nints, 1, 0);

	assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(c.cpages, npages);
	seq_check(mirror, 0, nints, 1, 0, "mirror");

	/* GUP_BASIC_TEST, GUP_FAST_BENCHMARK, PIN_FAST_BENCHMARK with
	 * FOLL_LONGTERM, PIN_LONGTERM_BENCHMARK. */
	assert_int_equal(gup_test_exec(f->mm, ptr, false, 0), 1);
	assert_int_equal(gup_test_exec(f->mm, ptr + PAGE_SIZE, false, 0), 1);
	assert_int_equal(gup_test_exec(f->mm, ptr + 2 * PAGE_SIZE, true,
				       FOLL_LONGTERM), 1);
	assert_int_equal(gup_test_exec(f->mm, ptr + 3 * PAGE_SIZE, true,
				       FOLL_LONGTERM), 1);

	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_SNAPSHOT, ptr,
					 mirror, npages, &c), 0);
	assert_int_equal(c.cpages, npages);
	m = (unsigned char *)mirror;
	if (hmm_is_coherent_type(f->variant->device_number0)) {
		assert_int_equal(m[0], HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL |
				       HMM_DMIRROR_PROT_WRITE);
		assert_int_equal(m[1], HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL |
				       HMM_DMIRROR_PROT_WRITE);
	} else {
		assert_int_equal(m[0], HMM_DMIRROR_PROT_WRITE);
		assert_int_equal(m[1], HMM_DMIRROR_PROT_WRITE);
	}
	assert_int_equal(m[2], HMM_DMIRROR_PROT_WRITE);
	assert_int_equal(m[3], HMM_DMIRROR_PROT_WRITE);

	/* No corrupted data. */
	cpu_check(f->mm, ptr, 0, nints, 1, 0, "ptr");

	hmm_munmap(f->mm, ptr, size);
	free(mirror);
}

/* hmm_cow_in_device: the parent writes pages that are on the device and
 * shared copy-on-write with a child; it ends up with plain writable
 * system pages. */
static void test_hmm_cow_in_device(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = 4, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct mm_struct *child;
	struct hmm_counts c;
	unsigned char *m;
	int *mirror = xmalloc(size);
	char *ptr;

	ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1);
	cpu_fill(f->mm, ptr, 0, nints, 1, 0);

	assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(c.cpages, npages);

	/* The child just exists (it spins in the kernel test). */
	child = uhmm_fork(f->mm);
	assert_non_null(child);

	/* The parent writes its copy-on-write pages (private pages come back
	 * to system memory first). */
	cpu_fill(f->mm, ptr, 0, nints, 1, 0);

	/* SIGKILL the child. */
	uhmm_mm_exit(child);

	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_SNAPSHOT, ptr,
					 mirror, npages, &c), 0);
	assert_int_equal(c.cpages, npages);
	m = (unsigned char *)mirror;
	bytes_check(m, npages, HMM_DMIRROR_PROT_WRITE, "snapshot");

	hmm_munmap(f->mm, ptr, size);
	free(mirror);
}

/* migrate_anon_huge_empty: an empty read-only PMD migrates as zeros. */
static void test_migrate_anon_huge_empty(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long size = PMD_SIZE, npages = size >> PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	char *old_ptr, *ptr;

	memset(mirror, 0xFF, size);
	old_ptr = hmm_mmap(f->mm, 2 * size, PROT_READ,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1);
	ptr = pmd_align(old_ptr);
	madvise_thp(f->mm, ptr, size, MADV_HUGEPAGE);

	assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(c.cpages, npages);
	const_check(mirror, 0, nints, 0, "mirror");

	hmm_munmap(f->mm, old_ptr, 2 * size);
	free(mirror);
}

/* migrate_anon_huge_zero: a read-only PMD mapped by the zero page
 * migrates as zeros and faults back as zeros. */
static void test_migrate_anon_huge_zero(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long size = PMD_SIZE, npages = size >> PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	char *old_ptr, *ptr;

	memset(mirror, 0xFF, size);
	old_ptr = hmm_mmap(f->mm, 2 * size, PROT_READ,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1);
	ptr = pmd_align(old_ptr);
	madvise_thp(f->mm, ptr, size, MADV_HUGEPAGE);

	/* Map the (huge) zero page. */
	assert_int_equal(cpu_read_int(f->mm, ptr, 0), 0);

	assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(c.cpages, npages);
	const_check(mirror, 0, nints, 0, "mirror");

	/* Fault the pages back to system memory and check them. */
	cpu_check_const(f->mm, ptr, 0, nints, 0, "ptr");

	hmm_munmap(f->mm, old_ptr, 2 * size);
	free(mirror);
}

/* migrate_anon_huge_free: a migrated PMD can be freed with madvise. */
static void test_migrate_anon_huge_free(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long size = PMD_SIZE, npages = size >> PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	char *old_ptr, *ptr;
	int ret;

	memset(mirror, 0xFF, size);
	old_ptr = hmm_mmap(f->mm, 2 * size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1);
	ptr = pmd_align(old_ptr);
	madvise_thp(f->mm, ptr, size, MADV_HUGEPAGE);
	cpu_fill(f->mm, ptr, 0, nints, 1, 0);

	assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(c.cpages, npages);
	seq_check(mirror, 0, nints, 1, 0, "mirror");

	/* Try freeing it. uhmm has no MADV_FREE: where it is refused, free
	 * the device pages with MADV_DONTNEED, which then reads zeros. */
	ret = uhmm_madvise(f->mm, ptr, size, MADV_FREE);
	if (ret == -1 && errno == EINVAL) {
		assert_int_equal(uhmm_madvise(f->mm, ptr, size,
					      MADV_DONTNEED), 0);
		cpu_check_const(f->mm, ptr, 0, nints, 0, "ptr after DONTNEED");
	} else {
		assert_int_equal(ret, 0);
	}

	hmm_munmap(f->mm, old_ptr, 2 * size);
	free(mirror);
}

/* Whether the CPU PTE at addr is a device-private entry (not present,
 * a swap-type entry): what /proc/self/pagemap shows as swap, not
 * present. */
static bool cpu_pte_is_device_private(struct mm_struct *mm, unsigned long addr)
{
	spinlock_t *ptl;
	pte_t *ptep, pte;
	pmd_t *pmd;
	bool ret = false;

	mmap_read_lock(mm);
	pmd = pte_table_lookup(mm, addr);
	if (pmd) {
		ptep = pte_offset_map_lock(pmd, addr, &ptl);
		pte = ptep_get(ptep);
		ret = is_swap_pte(pte) && !pte_present(pte) &&
		      is_device_private_entry(pte_to_swp_entry(pte));
		pte_unmap_unlock(ptep, ptl);
	}
	mmap_read_unlock(mm);
	return ret;
}

/* migrate_anon_huge_fault: a (collapsed) PMD migrates; on the private
 * device every page is a local private page and not present for the
 * CPU; the CPU faults it all back. */
static void test_migrate_anon_huge_fault(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long size = PMD_SIZE, npages = size >> PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	char *old_ptr, *ptr;

	memset(mirror, 0xFF, size);
	old_ptr = hmm_mmap(f->mm, 2 * size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1);
	ptr = pmd_align(old_ptr);
	cpu_fill(f->mm, ptr, 0, nints, 1, 0);
	madvise_thp(f->mm, ptr, size, MADV_COLLAPSE);

	assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(c.cpages, npages);
	seq_check(mirror, 0, nints, 1, 0, "mirror");

	if (!hmm_is_coherent_type(f->variant->device_number0)) {
		unsigned char *m = (unsigned char *)mirror;

		assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_SNAPSHOT,
						 ptr, m, npages, &c), 0);
		assert_int_equal(c.cpages, npages);
		/* The kernel expects 0x26 (with PMD) from its THP; base
		 * pages here. */
		bytes_check(m, npages, HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL |
				       HMM_DMIRROR_PROT_WRITE, "snapshot");

		/* The pagemap check: swap-type, not present. */
		for (unsigned long i = 0; i < npages; ++i)
			if (!cpu_pte_is_device_private(f->mm,
					(unsigned long)ptr + i * PAGE_SIZE))
				fail_msg("page %lu: the CPU PTE is not a "
					 "device-private entry", i);
	}

	/* Fault the pages back to system memory and check them. */
	cpu_check(f->mm, ptr, 0, nints, 1, 0, "ptr");

	hmm_munmap(f->mm, old_ptr, 2 * size);
	free(mirror);
}

/* migrate_partial_unmap_fault: unmap half of a migrated PMD at three
 * offsets; the rest faults back intact. */
static void test_migrate_partial_unmap_fault(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long size = PMD_SIZE, npages = size >> PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	unsigned long unmap_size = size / 2;
	unsigned long offsets[] = { 0, size / 4, size / 2 };

	for (int use_thp = 0; use_thp < 2; ++use_thp) {
		for (unsigned long j = 0; j < ARRAY_SIZE(offsets); ++j) {
			unsigned long off = offsets[j];
			struct hmm_counts c;
			int *mirror = xmalloc(size);
			char *old_ptr, *ptr;

			memset(mirror, 0xFF, size);
			old_ptr = hmm_mmap(f->mm, 2 * size,
					   PROT_READ | PROT_WRITE,
					   MAP_PRIVATE | MAP_ANONYMOUS, -1);
			ptr = pmd_align(old_ptr);
			madvise_thp(f->mm, ptr, size, use_thp ?
				    MADV_HUGEPAGE : MADV_NOHUGEPAGE);
			cpu_fill(f->mm, ptr, 0, nints, 1, 0);

			assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr,
					mirror, npages, &c), 0);
			assert_int_equal(c.cpages, npages);
			seq_check(mirror, 0, nints, 1, 0, "mirror");

			hmm_munmap(f->mm, ptr + off, unmap_size);

			/* Fault the rest back and check it. */
			if (off)
				cpu_check(f->mm, ptr, 0, off / sizeof(int), 1,
					  0, "ptr before the hole");
			if (off + unmap_size < size)
				cpu_check(f->mm, ptr,
					  (off + unmap_size) / sizeof(int),
					  (size - off - unmap_size) /
					  sizeof(int), 1, 0,
					  "ptr after the hole");

			hmm_munmap(f->mm, old_ptr, 2 * size);
			free(mirror);
		}
	}
}

/* One pass of migrate_remap_fault: see below. */
static void remap_fault_one(struct hmm_fixture *f, bool before,
			    bool dont_unmap, bool use_thp, unsigned long off)
{
	unsigned long size = PMD_SIZE, npages = size >> PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	int flags = MREMAP_MAYMOVE | MREMAP_FIXED;
	int *mirror = xmalloc(size);
	char *old_ptr, *map, *ptr, *new_ptr = NULL;
	struct hmm_counts c;

	if (dont_unmap)
		flags |= MREMAP_DONTUNMAP;
	memset(mirror, 0xFF, size);
	old_ptr = hmm_mmap(f->mm, 8 * size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1);
	map = pmd_align(old_ptr);
	madvise_thp(f->mm, map, size, use_thp ? MADV_HUGEPAGE :
		    MADV_NOHUGEPAGE);
	hmm_munmap(f->mm, map + size, size * 2);
	ptr = map;

	cpu_fill(f->mm, ptr, 0, nints, 1, 0);

	if (before) {
		new_ptr = uhmm_mremap(f->mm, map, size, size, flags,
				      map + size + off);
		assert_ptr_not_equal(new_ptr, MAP_FAILED);
		ptr = new_ptr;
	}

	assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(c.cpages, npages);
	seq_check(mirror, 0, nints, 1, 0, "mirror");

	if (!before) {
		new_ptr = uhmm_mremap(f->mm, map, size, size, flags,
				      map + size + off);
		assert_ptr_not_equal(new_ptr, MAP_FAILED);
		ptr = new_ptr;
	}
	assert_ptr_equal(new_ptr, map + size + off);

	/* Fault the pages back to system memory and check them. */
	cpu_check(f->mm, ptr, 0, nints, 1, 0, "ptr");

	hmm_munmap(f->mm, new_ptr, size);
	hmm_munmap(f->mm, old_ptr, 8 * size);
	free(mirror);
}

/* migrate_remap_fault: mremap a PMD (MAYMOVE|FIXED, with and without
 * DONTUNMAP) to three offsets past it, before or after migrating it to
 * the device; the device reads what was written, and the CPU reads it
 * back at the new address. 24 passes. */
static void test_migrate_remap_fault(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long offsets[] = { 0, PMD_SIZE / 4, PMD_SIZE / 2 };

	for (int before = 0; before < 2; ++before)
		for (int dont_unmap = 0; dont_unmap < 2; ++dont_unmap)
			for (int use_thp = 0; use_thp < 2; ++use_thp)
				for (unsigned long j = 0;
				     j < ARRAY_SIZE(offsets); ++j)
					remap_fault_one(f, before, dont_unmap,
							use_thp, offsets[j]);
}

/* migrate_anon_huge_err: the device fails its (huge) page allocation
 * once: migration still succeeds, in both directions. */
static void test_migrate_anon_huge_err(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long size = PMD_SIZE, npages = size >> PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct hmm_counts c;
	int *mirror = xmalloc(2 * size);
	char *old_ptr, *ptr;

	memset(mirror, 0xFF, 2 * size);
	old_ptr = hmm_mmap(f->mm, 2 * size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1);
	ptr = pmd_align(old_ptr);
	madvise_thp(f->mm, ptr, size, MADV_HUGEPAGE);
	cpu_fill(f->mm, ptr, 0, nints, 1, 0);

	/* Migrate to the device, but force an allocation error. */
	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_FLAGS, ptr, mirror,
					 HMM_DMIRROR_FLAG_FAIL_ALLOC, &c), 0);
	assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(c.cpages, npages);
	seq_check(mirror, 0, nints, 1, 0, "mirror");

	/* Fault back a single page. */
	assert_int_equal(cpu_read_int(f->mm, ptr, 2048), 2048);

	/* Unmap and remap the region to reset things. */
	hmm_munmap(f->mm, old_ptr, 2 * size);
	old_ptr = hmm_mmap(f->mm, 2 * size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1);
	ptr = pmd_align(old_ptr);
	madvise_thp(f->mm, ptr, size, MADV_HUGEPAGE);
	cpu_fill(f->mm, ptr, 0, nints, 1, 0);

	assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(c.cpages, npages);

	/* Force an allocation error when migrating back. */
	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_FLAGS, ptr, mirror,
					 HMM_DMIRROR_FLAG_FAIL_ALLOC, &c), 0);
	assert_int_equal(hmm_migrate_dev_to_sys(f->fd, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(cpu_read_int(f->mm, ptr, 2048), 2048);

	hmm_munmap(f->mm, old_ptr, 2 * size);
	free(mirror);
}

/* migrate_anon_huge_zero_err: the same with a read-only, untouched PMD
 * and with one mapped by the zero page. */
static void test_migrate_anon_huge_zero_err(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long size = PMD_SIZE, npages = size >> PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct hmm_counts c;
	int *mirror = xmalloc(2 * size);
	char *old_ptr, *ptr;

	memset(mirror, 0xFF, 2 * size);
	old_ptr = hmm_mmap(f->mm, 2 * size, PROT_READ,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1);
	ptr = pmd_align(old_ptr);
	madvise_thp(f->mm, ptr, size, MADV_HUGEPAGE);

	/* Migrate to the device, but force an allocation error. */
	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_FLAGS, ptr, mirror,
					 HMM_DMIRROR_FLAG_FAIL_ALLOC, &c), 0);
	assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(c.cpages, npages);
	const_check(mirror, 0, nints, 0, "mirror");

	/* Fault back a single page. */
	assert_int_equal(cpu_read_int(f->mm, ptr, 2048), 0);

	/* Unmap and remap the region to reset things. */
	hmm_munmap(f->mm, old_ptr, 2 * size);
	old_ptr = hmm_mmap(f->mm, 2 * size, PROT_READ,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1);
	ptr = pmd_align(old_ptr);
	madvise_thp(f->mm, ptr, size, MADV_HUGEPAGE);

	/* Map the zero page (the kernel reads through the old pointer,
	 * which is this mapping only if mmap reused the address). */
	assert_int_equal(cpu_read_int(f->mm, ptr, 0), 0);

	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_FLAGS, ptr, mirror,
					 HMM_DMIRROR_FLAG_FAIL_ALLOC, &c), 0);
	assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(c.cpages, npages);

	/* Fault the device memory back and check it. */
	cpu_check_const(f->mm, ptr, 0, nints, 0, "ptr");

	hmm_munmap(f->mm, old_ptr, 2 * size);
	free(mirror);
}

struct benchmark_results {
	double sys_to_dev_time;
	double dev_to_sys_time;
	double throughput_s2d;
	double throughput_d2s;
};

static double get_time_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* One size, with or without the THP hint: a warm-up round trip, then
 * five timed ones. Every call must succeed. */
static void run_migration_benchmark(struct hmm_fixture *f, int use_thp,
				    size_t buffer_size, int iterations,
				    struct benchmark_results *results)
{
	unsigned long npages = buffer_size >> PAGE_SHIFT;
	unsigned long nints = buffer_size / sizeof(int);
	double s2d_total = 0, d2s_total = 0;
	struct hmm_counts c;
	int *mirror = xmalloc(buffer_size);
	int *tmp = xmalloc(buffer_size);
	char *ptr;

	memset(mirror, 0xFF, buffer_size);
	ptr = hmm_mmap(f->mm, buffer_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1);
	madvise_thp(f->mm, ptr, buffer_size,
		    use_thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);

	for (unsigned long i = 0; i < nints; i++)
		tmp[i] = (int)(i & 0xFF);
	cpu_write(f->mm, ptr, tmp, buffer_size);

	/* Warm-up. */
	assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(hmm_migrate_dev_to_sys(f->fd, ptr, mirror, npages,
						&c), 0);

	for (int i = 0; i < iterations; i++) {
		double start = get_time_ms();

		assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror,
							npages, &c), 0);
		s2d_total += get_time_ms() - start;

		start = get_time_ms();
		assert_int_equal(hmm_migrate_dev_to_sys(f->fd, ptr, mirror,
							npages, &c), 0);
		d2s_total += get_time_ms() - start;
	}

	results->sys_to_dev_time = s2d_total / iterations;
	results->dev_to_sys_time = d2s_total / iterations;
	results->throughput_s2d = (buffer_size / (1024.0 * 1024.0 * 1024.0)) /
				  (results->sys_to_dev_time / 1000.0);
	results->throughput_d2s = (buffer_size / (1024.0 * 1024.0 * 1024.0)) /
				  (results->dev_to_sys_time / 1000.0);

	/* Not in the kernel benchmark: the data made the round trips. */
	cpu_read(f->mm, ptr, tmp, buffer_size);
	for (unsigned long i = 0; i < nints; i++)
		if (tmp[i] != (int)(i & 0xFF))
			fail_msg("int %lu is %d after the round trips", i,
				 tmp[i]);

	hmm_munmap(f->mm, ptr, buffer_size);
	free(tmp);
	free(mirror);
}

/* benchmark_thp_migration: M2D and M2S round trips of sizes from a
 * quarter PMD to 128 PMDs; times are printed (as TAP comments), not
 * checked. */
static void test_benchmark_thp_migration(void **state)
{
	struct hmm_fixture *f = *state;
	static const char *const test_names[] = {
		"Small Buffer", "Half THP Size", "Single THP Size",
		"Two THP Size", "Four THP Size", "Eight THP Size",
		"One twenty eight THP Size",
	};
	size_t thp_size = PMD_SIZE;
	size_t test_sizes[] = {
		thp_size / 4, thp_size / 2, thp_size, thp_size * 2,
		thp_size * 4, thp_size * 8, thp_size * 128,
	};
	const int iterations = 5;

	printf("# HMM THP Migration Benchmark (device %d, base pages)\n",
	       f->variant->device_number0);
	for (unsigned long i = 0; i < ARRAY_SIZE(test_sizes); i++) {
		struct benchmark_results thp, regular;

		if (test_sizes[i] > INT_MAX)
			break;
		/* System RAM is UHMM_RAM, not the machine's. */
		if ((test_sizes[i] >> PAGE_SHIFT) > free_pages_now() / 2) {
			printf("# %s (%.1f MB): left out, more than half the "
			       "free system RAM\n", test_names[i],
			       test_sizes[i] / (1024.0 * 1024.0));
			continue;
		}
		run_migration_benchmark(f, 1, test_sizes[i], iterations, &thp);
		run_migration_benchmark(f, 0, test_sizes[i], iterations,
					&regular);
		printf("# %-26s %7.1f MB | S->D %8.3f ms %6.2f GB/s | "
		       "D->S %8.3f ms %6.2f GB/s | (no-THP hint: S->D %.3f ms, "
		       "D->S %.3f ms)\n", test_names[i],
		       test_sizes[i] / (1024.0 * 1024.0), thp.sys_to_dev_time,
		       thp.throughput_s2d, thp.dev_to_sys_time,
		       thp.throughput_d2s, regular.sys_to_dev_time,
		       regular.dev_to_sys_time);
	}
	fflush(stdout);
}

/* ---- beyond the kernel suite ---- */

static const unsigned int all_commands[] = {
	HMM_DMIRROR_READ, HMM_DMIRROR_WRITE, HMM_DMIRROR_MIGRATE_TO_DEV,
	HMM_DMIRROR_MIGRATE_TO_SYS, HMM_DMIRROR_SNAPSHOT,
	HMM_DMIRROR_EXCLUSIVE, HMM_DMIRROR_CHECK_EXCLUSIVE,
	HMM_DMIRROR_RELEASE, HMM_DMIRROR_FLAGS,
};

static const char *const all_command_names[] = {
	"READ", "WRITE", "MIGRATE_TO_DEV", "MIGRATE_TO_SYS", "SNAPSHOT",
	"EXCLUSIVE", "CHECK_EXCLUSIVE", "RELEASE", "FLAGS",
};

static void expect_einval_all(struct dmirror *d, void *addr, void *ptr,
			      unsigned long npages, const char *what)
{
	for (unsigned long i = 0; i < ARRAY_SIZE(all_commands); i++) {
		struct hmm_counts c;
		int ret = hmm_dmirror_cmd(d, all_commands[i], addr, ptr,
					  npages, &c);

		if (ret != -EINVAL)
			fail_msg("%s: %s returned %d, expected -EINVAL", what,
				 all_command_names[i], ret);
	}
}

/* Every command on a mirror whose mm has exited is -EINVAL, at once:
 * READ and WRITE do not wait for an address space that is gone. */
static void test_einval_exited_mm(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = 4, size = npages << PAGE_SHIFT;
	struct mm_struct *mm = uhmm_mm_create();
	int *buf = xmalloc(size);
	struct dmirror *d;
	char *ptr;

	assert_non_null(mm);
	ptr = hmm_mmap(mm, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1);
	cpu_fill(mm, ptr, 0, size / sizeof(int), 1, 0);
	d = dmirror_open(mm, f->variant->device_number0);
	assert_non_null(d);

	uhmm_mm_exit(mm);

	/* A mirror of an mm without users cannot be opened. */
	errno = 0;
	assert_null(dmirror_open(mm, f->variant->device_number0));
	assert_int_equal(errno, EINVAL);

	expect_einval_all(d, ptr, buf, npages, "exited mm");

	dmirror_close(d);
	free(buf);
}

/* Malformed commands are -EINVAL before anything is done: an unaligned
 * addr, npages 0, a range that wraps, an unknown command; also a bad
 * device number for open and stats. */
static void test_einval_bad_args(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = 4, size = npages << PAGE_SHIFT;
	static const unsigned int unknown[] = {
		0, _IOWR('H', 0x09, struct hmm_dmirror_cmd),
		_IOWR('H', 0x7f, struct hmm_dmirror_cmd),
		_IOWR('h', 0x00, struct hmm_dmirror_cmd),
		_IOR('H', 0x00, struct hmm_dmirror_cmd),
	};
	struct dmirror_device_stats s;
	struct hmm_counts c;
	int *buf = xmalloc(size);
	char *ptr;

	ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1);
	cpu_fill(f->mm, ptr, 0, size / sizeof(int), 1, 0);

	expect_einval_all(f->fd, ptr + 1, buf, npages, "unaligned addr");
	expect_einval_all(f->fd, ptr + PAGE_SIZE / 2, buf, npages,
			  "unaligned addr");
	expect_einval_all(f->fd, ptr, buf, 0, "npages 0");
	expect_einval_all(f->fd, ptr, buf, ULONG_MAX >> PAGE_SHIFT,
			  "wrapping range");
	expect_einval_all(f->fd, ptr, buf, ~0UL, "npages ~0");

	for (unsigned long i = 0; i < ARRAY_SIZE(unknown); i++)
		assert_int_equal(hmm_dmirror_cmd(f->fd, unknown[i], ptr, buf,
						 npages, &c), -EINVAL);

	/* Nothing was done: the device has not mapped the range. */
	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_READ, ptr, buf,
					 npages, &c), 0);
	assert_int_equal(c.cpages, npages);
	assert_int_equal(c.faults, 1);
	seq_check(buf, 0, size / sizeof(int), 1, 0, "buf");

	assert_int_equal(dmirror_cmd(NULL, HMM_DMIRROR_READ, NULL), -EINVAL);
	assert_int_equal(dmirror_cmd(f->fd, HMM_DMIRROR_READ, NULL), -EINVAL);
	errno = 0;
	assert_null(dmirror_open(f->mm, DMIRROR_NDEVICES));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(dmirror_open(f->mm, -1));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(dmirror_device_stats(DMIRROR_NDEVICES, &s), -EINVAL);
	assert_int_equal(dmirror_device_stats(-1, &s), -EINVAL);

	hmm_munmap(f->mm, ptr, size);
	free(buf);
}

/* Owner filtering: pages on device 0 are hidden from device 1 when
 * private (0x00; its READ faults them back to system RAM, after which
 * device 0 sees plain writable system pages), and visible as remote
 * coherent pages when coherent (0x52; its READ moves nothing). */
static void test_owner_filter(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	bool coherent = hmm_is_coherent_type(f->variant->device_number0);
	unsigned char local = coherent ?
		HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | HMM_DMIRROR_PROT_WRITE :
		HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE;
	unsigned char remote = coherent ?
		HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE | HMM_DMIRROR_PROT_WRITE :
		HMM_DMIRROR_PROT_NONE;
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	unsigned char *m = xmalloc(npages);
	char *ptr;

	ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1);
	cpu_fill(f->mm, ptr, 0, nints, 1, 0);

	assert_int_equal(hmm_migrate_sys_to_dev(f->fd0, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(c.cpages, npages);

	assert_int_equal(hmm_dmirror_cmd(f->fd1, HMM_DMIRROR_SNAPSHOT, ptr, m,
					 npages, &c), 0);
	assert_int_equal(c.cpages, npages);
	bytes_check(m, npages, remote, "device 1 snapshot");
	assert_int_equal(hmm_dmirror_cmd(f->fd0, HMM_DMIRROR_SNAPSHOT, ptr, m,
					 npages, &c), 0);
	bytes_check(m, npages, local, "device 0 snapshot");

	/* Device 1 reads them (faulting private pages back). */
	memset(mirror, 0, size);
	assert_int_equal(hmm_dmirror_cmd(f->fd1, HMM_DMIRROR_READ, ptr, mirror,
					 npages, &c), 0);
	assert_int_equal(c.cpages, npages);
	assert_int_equal(c.faults, 1);
	seq_check(mirror, 0, nints, 1, 0, "device 1 read");

	/* Private: plain system pages again, writable as the device-private
	 * entries were. Coherent: nothing moved. */
	assert_int_equal(hmm_dmirror_cmd(f->fd0, HMM_DMIRROR_SNAPSHOT, ptr, m,
					 npages, &c), 0);
	bytes_check(m, npages, coherent ? local : HMM_DMIRROR_PROT_WRITE,
		    "device 0 snapshot after the device 1 read");
	assert_int_equal(hmm_dmirror_cmd(f->fd1, HMM_DMIRROR_SNAPSHOT, ptr, m,
					 npages, &c), 0);
	bytes_check(m, npages, coherent ? remote : HMM_DMIRROR_PROT_WRITE,
		    "device 1 snapshot after its read");

	cpu_check(f->mm, ptr, 0, nints, 1, 0, "ptr");

	hmm_munmap(f->mm, ptr, size);
	free(m);
	free(mirror);
}

static struct dmirror_device_stats device_stats(int device)
{
	struct dmirror_device_stats s;

	assert_int_equal(dmirror_device_stats(device, &s), 0);
	assert_int_equal(s.pages_in_use, s.pages_allocated - s.pages_freed);
	return s;
}

/* The device counters follow the pages: N more in use after M2D, as many
 * fewer once they are back in system RAM (CPU faults for private memory,
 * M2S for coherent memory, which CPU reads leave on the device); after
 * RELEASE every chunk is freed. */
static void test_device_stats(void **state)
{
	struct hmm_fixture *f = *state;
	int dev = f->variant->device_number0;
	bool coherent = hmm_is_coherent_type(dev);
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	unsigned long nints = size / sizeof(int);
	struct dmirror_device_stats s0, s;
	struct hmm_counts c;
	int *mirror = xmalloc(size);
	char *ptr;

	s0 = device_stats(dev);
	assert_int_equal(s0.memory_type, coherent ?
			 HMM_DMIRROR_MEMORY_DEVICE_COHERENT :
			 HMM_DMIRROR_MEMORY_DEVICE_PRIVATE);

	ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1);
	cpu_fill(f->mm, ptr, 0, nints, 1, 0);

	assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(c.cpages, npages);
	s = device_stats(dev);
	assert_int_equal(s.pages_in_use, s0.pages_in_use + npages);
	assert_int_equal(s.pages_allocated, s0.pages_allocated + npages);
	assert_true(s.chunks_allocated >= 1);

	cpu_check(f->mm, ptr, 0, nints, 1, 0, "ptr");
	s = device_stats(dev);
	if (coherent) {
		assert_int_equal(s.pages_in_use, s0.pages_in_use + npages);
		assert_int_equal(hmm_migrate_dev_to_sys(f->fd, ptr, mirror,
							npages, &c), 0);
		assert_int_equal(c.cpages, npages);
		s = device_stats(dev);
	}
	assert_int_equal(s.pages_in_use, s0.pages_in_use);
	assert_int_equal(s.pages_freed, s0.pages_freed + npages);

	/* And again, then RELEASE evicts them. */
	assert_int_equal(hmm_migrate_sys_to_dev(f->fd, ptr, mirror, npages,
						&c), 0);
	assert_int_equal(device_stats(dev).pages_in_use,
			 s0.pages_in_use + npages);
	assert_int_equal(hmm_dmirror_cmd(f->fd, HMM_DMIRROR_RELEASE, ptr,
					 mirror, npages, &c), 0);
	s = device_stats(dev);
	assert_int_equal(s.chunks_freed, s.chunks_allocated);
	assert_int_equal(s.pages_in_use, 0);
	cpu_check(f->mm, ptr, 0, nints, 1, 0, "ptr after RELEASE");

	hmm_munmap(f->mm, ptr, size);
	free(mirror);
}

/* READ racing MADV_DONTNEED: see test_read_ebusy_retry(). */
struct churn {
	struct mm_struct *mm;
	char *ptr;
	unsigned long size;
	/* CPU write passes and device READs exclude each other, so that
	 * the device never copies a page while the CPU stores to it; the
	 * DONTNEEDs run outside it, against the READs. */
	pthread_mutex_t lock;
	int value;			/* lock: of the last write pass */
	atomic_bool stop;
	atomic_long passes;
	atomic_long dontneeds;
	atomic_long errors;
};

static void *churn_thread(void *arg)
{
	struct churn *ch = arg;
	unsigned long nints = ch->size / sizeof(int);
	unsigned long npages = ch->size >> PAGE_SHIFT;
	unsigned int seed = hmm_random_seed();
	int *tmp = malloc(ch->size);

	if (!tmp) {
		atomic_fetch_add(&ch->errors, 1);
		return NULL;
	}
	for (int k = 1; !atomic_load(&ch->stop); k++) {
		for (unsigned long i = 0; i < nints; i++)
			tmp[i] = k;
		pthread_mutex_lock(&ch->lock);
		if (cpu_access(ch->mm, ch->ptr, tmp, ch->size, 1) !=
		    (ssize_t)ch->size)
			atomic_fetch_add(&ch->errors, 1);
		ch->value = k;
		pthread_mutex_unlock(&ch->lock);
		atomic_fetch_add(&ch->passes, 1);

		for (int j = 0; j < 8 && !atomic_load(&ch->stop); j++) {
			unsigned long first = rand_r(&seed) % npages;
			unsigned long n = 1 + rand_r(&seed) % (npages - first);
			struct timespec t = { 0, rand_r(&seed) % 50000 };

			nanosleep(&t, NULL);
			if (uhmm_madvise(ch->mm, ch->ptr + first * PAGE_SIZE,
					 n * PAGE_SIZE, MADV_DONTNEED))
				atomic_fetch_add(&ch->errors, 1);
			atomic_fetch_add(&ch->dontneeds, 1);
		}
	}
	free(tmp);
	return NULL;
}

/* The -EBUSY retry: a thread keeps rewriting a range with a new value
 * and dropping parts of it with MADV_DONTNEED while READs of the range
 * run. Every READ must return 0 with cpages N, and every page must read
 * as one whole value: 0 (dropped) or the value of the last pass; a
 * stale device mapping would show an old or freed (poisoned) page. */
static void test_read_ebusy_retry(void **state)
{
	struct hmm_fixture *f = *state;
	unsigned long npages = NPAGES, size = npages << PAGE_SHIFT;
	unsigned long ints_per_page = PAGE_SIZE / sizeof(int);
	struct churn ch = { .mm = f->mm, .size = size };
	long refaulted = 0;
	int *mirror = xmalloc(size);
	pthread_t thread;

	ch.ptr = hmm_mmap(f->mm, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1);
	pthread_mutex_init(&ch.lock, NULL);
	assert_int_equal(pthread_create(&thread, NULL, churn_thread, &ch), 0);

	for (int r = 0; r < 300; r++) {
		struct hmm_counts c;
		int expected, ret;

		pthread_mutex_lock(&ch.lock);
		expected = ch.value;
		ret = hmm_dmirror_cmd(f->fd, HMM_DMIRROR_READ, ch.ptr, mirror,
				      npages, &c);
		pthread_mutex_unlock(&ch.lock);

		if (ret) {
			atomic_store(&ch.stop, true);
			pthread_join(thread, NULL);
			fail_msg("READ %d returned %d", r, ret);
		}
		/* faults is 0 when nothing was dropped since the last READ. */
		if (c.cpages != npages) {
			atomic_store(&ch.stop, true);
			pthread_join(thread, NULL);
			fail_msg("READ %d: cpages %lu, faults %lu", r,
				 (unsigned long)c.cpages,
				 (unsigned long)c.faults);
		}
		if (c.faults > 1)
			refaulted++;
		for (unsigned long p = 0; p < npages; p++) {
			const int *page = mirror + p * ints_per_page;
			int v = page[0];

			if (v != 0 && v != expected) {
				atomic_store(&ch.stop, true);
				pthread_join(thread, NULL);
				fail_msg("READ %d: page %lu holds %d (0x%x), "
					 "expected 0 or %d", r, p, v, v,
					 expected);
			}
			for (unsigned long i = 1; i < ints_per_page; i++)
				if (page[i] != v) {
					atomic_store(&ch.stop, true);
					pthread_join(thread, NULL);
					fail_msg("READ %d: page %lu int %lu "
						 "is %d, int 0 is %d", r, p,
						 i, page[i], v);
				}
		}
		/* Let the writer in now and then. */
		if (r % 4 == 3)
			sched_yield();
	}
	atomic_store(&ch.stop, true);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_int_equal(atomic_load(&ch.errors), 0);
	printf("# read_ebusy_retry: %ld write passes, %ld DONTNEEDs, "
	       "%ld of 300 READs needed more than one fault pass\n",
	       atomic_load(&ch.passes), atomic_load(&ch.dontneeds), refaulted);
	fflush(stdout);

	pthread_mutex_destroy(&ch.lock);
	hmm_munmap(f->mm, ch.ptr, size);
	free(mirror);
}

/* ---- the list ---- */

/*
 * cmocka 1.1.5 reports a skipped test as "not ok N # SKIP", which Meson's
 * TAP parser counts as a failure (TAP's form is "ok N # SKIP"). When the
 * output is TAP, stdout goes through a pipe to a thread that writes the
 * lines on, those fixed.
 */
struct tap_fix {
	FILE *in;
	int out;
};

static void *tap_fix_thread(void *arg)
{
	struct tap_fix *t = arg;
	size_t cap = 0;
	char *line = NULL;
	ssize_t n;

	while ((n = getline(&line, &cap, t->in)) > 0) {
		char *l = line;

		if (!strncmp(l, "not ok ", 7) && strstr(l, " # SKIP")) {
			l += 4;
			n -= 4;
		}
		while (n > 0) {
			ssize_t w = write(t->out, l, (size_t)n);

			if (w <= 0)
				break;
			l += w;
			n -= w;
		}
	}
	free(line);
	fclose(t->in);
	return NULL;
}

static int hmm_run_tests(const struct CMUnitTest *tests, size_t count)
{
	const char *output = getenv("CMOCKA_MESSAGE_OUTPUT");
	struct tap_fix t;
	pthread_t thread;
	int p[2], ret;

	if (!output || strcasecmp(output, "TAP") || pipe(p))
		return _cmocka_run_group_tests("tests", tests, count, NULL,
					       NULL);
	fflush(stdout);
	t.out = dup(STDOUT_FILENO);
	t.in = fdopen(p[0], "r");
	if (t.out < 0 || !t.in || dup2(p[1], STDOUT_FILENO) < 0)
		abort();
	close(p[1]);
	if (pthread_create(&thread, NULL, tap_fix_thread, &t))
		abort();
	ret = _cmocka_run_group_tests("tests", tests, count, NULL, NULL);
	fflush(stdout);
	/* The last write end goes: the thread sees the end of the file. */
	dup2(t.out, STDOUT_FILENO);
	pthread_join(thread, NULL);
	close(t.out);
	return ret;
}

#define VARIANT_TEST(v, fn)						\
	{ .name = #v "/" #fn, .test_func = test_##fn,			\
	  .setup_func = hmm_setup, .teardown_func = hmm_teardown,	\
	  .initial_state = &(struct hmm_prestate){ &v, #v "/" #fn } }
#define HMM_TEST(fn)							\
	VARIANT_TEST(hmm_device_private, fn),				\
	VARIANT_TEST(hmm_device_coherent, fn)
#define HMM2_TEST(fn)							\
	VARIANT_TEST(hmm2_device_private, fn),				\
	VARIANT_TEST(hmm2_device_coherent, fn)

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* The kernel's, in its order. */
		HMM_TEST(open_close),
		HMM_TEST(anon_read),
		HMM_TEST(anon_read_prot),
		HMM_TEST(anon_write),
		HMM_TEST(anon_write_prot),
		HMM_TEST(anon_write_child),
		HMM_TEST(anon_write_child_shared),
		HMM_TEST(anon_write_huge),
		HMM_TEST(anon_write_hugetlbfs),
		HMM_TEST(file_read),
		HMM_TEST(file_write),
		HMM_TEST(migrate),
		HMM_TEST(migrate_file_private),
		HMM_TEST(migrate_fault),
		HMM_TEST(migrate_release),
		HMM_TEST(migrate_shared),
		HMM2_TEST(migrate_mixed),
		HMM_TEST(migrate_multiple),
		HMM_TEST(anon_read_multiple),
		HMM_TEST(anon_teardown),
		HMM_TEST(mixedmap),
		HMM2_TEST(snapshot),
		HMM_TEST(compound),
		HMM2_TEST(double_map),
		HMM_TEST(exclusive),
		HMM_TEST(exclusive_mprotect),
		HMM_TEST(exclusive_cow),
		HMM_TEST(hmm_gup_test),
		HMM_TEST(hmm_cow_in_device),
		HMM_TEST(migrate_anon_huge_empty),
		HMM_TEST(migrate_anon_huge_zero),
		HMM_TEST(migrate_anon_huge_free),
		HMM_TEST(migrate_anon_huge_fault),
		HMM_TEST(migrate_partial_unmap_fault),
		HMM_TEST(migrate_remap_fault),
		HMM_TEST(migrate_anon_huge_err),
		HMM_TEST(migrate_anon_huge_zero_err),
		HMM_TEST(benchmark_thp_migration),
		/* Beyond the kernel suite. */
		HMM_TEST(einval_exited_mm),
		HMM_TEST(einval_bad_args),
		HMM2_TEST(owner_filter),
		HMM_TEST(device_stats),
		HMM_TEST(read_ebusy_retry),
	};

	/* HMM_TEST_FILTER="hmm_device_private/anon_*" runs a subset. */
	if (getenv("HMM_TEST_FILTER"))
		cmocka_set_test_filter(getenv("HMM_TEST_FILTER"));
	return hmm_run_tests(tests, ARRAY_SIZE(tests));
}
