// SPDX-License-Identifier: MIT
/*
 * Mappings of real files: page-cache pages read on fault, shared writes
 * reaching the file on msync, munmap and exit, private mappings copying
 * on write, and the permission checks of mmap and mprotect.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>

#include "test_util.h"
#include "mm/mm_internal.h"

#define NPAGES 8

/* A temporary file of NPAGES pages, page i filled with byte 'A' + i. */
static int make_file(int flags)
{
	char path[] = "/tmp/uhmm-test-XXXXXX";
	char buf[PAGE_SIZE];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	for (int i = 0; i < NPAGES; i++) {
		memset(buf, 'A' + i, sizeof(buf));
		assert_int_equal(pwrite(fd, buf, sizeof(buf),
					(off_t)i * PAGE_SIZE), PAGE_SIZE);
	}
	if (flags != O_RDWR) {
		int fd2 = open(path, flags);

		assert_true(fd2 >= 0);
		close(fd);
		fd = fd2;
	}
	unlink(path);
	return fd;
}

static char file_byte(int fd, off_t off)
{
	char c = 0;

	assert_int_equal(pread(fd, &c, 1, off), 1);
	return c;
}

static char get_byte(struct mm_struct *mm, void *addr)
{
	char c = 0;

	assert_int_equal(cpu_access(mm, addr, &c, 1, 0), 1);
	return c;
}

static void put_byte(struct mm_struct *mm, void *addr, char c)
{
	assert_int_equal(cpu_access(mm, addr, &c, 1, 1), 1);
}

/* Faults read the file; offsets select the right pages. */
static void test_file_read(void **state)
{
	unsigned long before = free_pages_now();
	struct mm_struct *mm = uhmm_mm_create();
	int fd = make_file(O_RDONLY);
	char *p = uhmm_mmap(mm, NULL, 4 * PAGE_SIZE, PROT_READ, MAP_SHARED,
			    fd, 2 * PAGE_SIZE);

	assert_ptr_not_equal(p, MAP_FAILED);
	close(fd);	/* the mapping keeps the file */
	assert_int_equal(get_byte(mm, p), 'C');
	assert_int_equal(get_byte(mm, p + 3 * PAGE_SIZE + 77), 'F');
	/* A read-only shared mapping can never become writable. */
	assert_int_equal(uhmm_mprotect(mm, p, PAGE_SIZE, PROT_READ | PROT_WRITE),
			 -1);
	assert_int_equal(errno, EACCES);
	uhmm_mm_exit(mm);
	assert_int_equal(free_pages_now(), before);
}

static void test_file_errors(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	int ro = make_file(O_RDONLY);
	int wo = make_file(O_WRONLY);
	char *p;

	assert_ptr_equal(uhmm_mmap(mm, NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
				   MAP_SHARED, ro, 0), MAP_FAILED);
	assert_int_equal(errno, EACCES);
	assert_ptr_equal(uhmm_mmap(mm, NULL, PAGE_SIZE, PROT_READ, MAP_SHARED,
				   wo, 0), MAP_FAILED);
	assert_int_equal(errno, EACCES);
	assert_ptr_equal(uhmm_mmap(mm, NULL, PAGE_SIZE, PROT_READ, MAP_SHARED,
				   ro, 100), MAP_FAILED);
	assert_int_equal(errno, EINVAL);
	/* Private writable mapping of a read-only file is fine. */
	p = uhmm_mmap(mm, NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		      ro, 0);
	assert_ptr_not_equal(p, MAP_FAILED);
	/* Beyond the end of the file: EFAULT (SIGBUS in the kernel). */
	p = uhmm_mmap(mm, NULL, 2 * PAGE_SIZE, PROT_READ, MAP_SHARED, ro,
		      (NPAGES - 1) * PAGE_SIZE);
	assert_ptr_not_equal(p, MAP_FAILED);
	assert_int_equal(get_byte(mm, p), 'A' + NPAGES - 1);
	{
		char c;

		assert_int_equal(cpu_access(mm, p + PAGE_SIZE, &c, 1, 0), -1);
		assert_int_equal(errno, EFAULT);
	}
	close(ro);
	close(wo);
	uhmm_mm_exit(mm);
}

/* Shared writes reach the file on msync, munmap, and exit. */
static void test_file_writeback(void **state)
{
	unsigned long before = free_pages_now();
	struct mm_struct *mm = uhmm_mm_create();
	int fd = make_file(O_RDWR);
	char *p = uhmm_mmap(mm, NULL, NPAGES * PAGE_SIZE,
			    PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	assert_ptr_not_equal(p, MAP_FAILED);
	put_byte(mm, p + 1, 'x');
	assert_int_equal(file_byte(fd, 1), 'A');
	assert_int_equal(uhmm_msync(mm, p, PAGE_SIZE, MS_SYNC), 0);
	assert_int_equal(file_byte(fd, 1), 'x');

	/* Written again after msync: the page is dirtied anew. */
	put_byte(mm, p + 2, 'y');
	assert_int_equal(uhmm_msync(mm, p, NPAGES * PAGE_SIZE, MS_SYNC), 0);
	assert_int_equal(file_byte(fd, 2), 'y');

	put_byte(mm, p + PAGE_SIZE, 'm');
	assert_int_equal(uhmm_munmap(mm, p + PAGE_SIZE, PAGE_SIZE), 0);
	assert_int_equal(file_byte(fd, PAGE_SIZE), 'm');

	put_byte(mm, p + 5 * PAGE_SIZE + 9, 'e');
	uhmm_mm_exit(mm);
	assert_int_equal(file_byte(fd, 5 * PAGE_SIZE + 9), 'e');
	/* The file did not grow. */
	assert_int_equal(lseek(fd, 0, SEEK_END), NPAGES * PAGE_SIZE);
	close(fd);
	assert_int_equal(free_pages_now(), before);
}

/* Two mms map one file: one page cache, writes seen by both. */
static void test_file_shared_between_mms(void **state)
{
	unsigned long before = free_pages_now();
	struct mm_struct *a = uhmm_mm_create(), *b = uhmm_mm_create();
	int fd = make_file(O_RDWR);
	char *pa = uhmm_mmap(a, NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
			     MAP_SHARED, fd, 0);
	char *pb = uhmm_mmap(b, NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
			     MAP_SHARED, fd, 0);

	put_byte(a, pa, 'q');
	assert_int_equal(get_byte(b, pb), 'q');
	uhmm_mm_exit(a);
	put_byte(b, pb + 1, 'r');
	uhmm_mm_exit(b);
	assert_int_equal(file_byte(fd, 0), 'q');
	assert_int_equal(file_byte(fd, 1), 'r');
	close(fd);
	assert_int_equal(free_pages_now(), before);
}

/* A private mapping copies on write and never changes the file. */
static void test_file_private_cow(void **state)
{
	unsigned long before = free_pages_now();
	struct mm_struct *mm = uhmm_mm_create();
	int fd = make_file(O_RDWR);
	char *p = uhmm_mmap(mm, NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE, fd, 0);
	struct mm_struct *child;

	assert_ptr_not_equal(p, MAP_FAILED);
	assert_int_equal(get_byte(mm, p), 'A');
	put_byte(mm, p, 'p');		/* read first, then COW */
	put_byte(mm, p + PAGE_SIZE, 'w');	/* write fault on none */
	assert_int_equal(get_byte(mm, p + 1), 'A');
	assert_int_equal(get_byte(mm, p + PAGE_SIZE + 1), 'B');
	child = uhmm_fork(mm);
	assert_non_null(child);
	put_byte(child, p, 'c');
	assert_int_equal(get_byte(mm, p), 'p');
	uhmm_mm_exit(child);
	uhmm_mm_exit(mm);
	assert_int_equal(file_byte(fd, 0), 'A');
	assert_int_equal(file_byte(fd, PAGE_SIZE), 'B');
	close(fd);
	assert_int_equal(free_pages_now(), before);
}

/* A shared file mapping survives fork: the child writes the file. */
static void test_file_fork_shared(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	int fd = make_file(O_RDWR);
	char *p = uhmm_mmap(mm, NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
			    MAP_SHARED, fd, 0);
	struct mm_struct *child = uhmm_fork(mm);

	assert_non_null(child);
	put_byte(child, p, 'k');
	assert_int_equal(get_byte(mm, p), 'k');
	assert_int_equal(uhmm_msync(child, p, PAGE_SIZE, MS_SYNC), 0);
	assert_int_equal(file_byte(fd, 0), 'k');
	uhmm_mm_exit(child);
	uhmm_mm_exit(mm);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_read),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_file_writeback),
		cmocka_unit_test(test_file_shared_between_mms),
		cmocka_unit_test(test_file_private_cow),
		cmocka_unit_test(test_file_fork_shared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
