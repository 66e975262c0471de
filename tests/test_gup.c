// SPDX-License-Identifier: MIT
/*
 * get_user_pages_remote / pin_user_pages_remote: faulting in, copy-on-
 * write, errors, device-private pages coming back, FOLL_LONGTERM moving
 * device-coherent pages out, and pins keeping pages from migrating.
 */
#include "test_util.h"

#define NPAGES 8

struct fixture {
	struct mm_struct *mm;
	char *p;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->mm = uhmm_mm_create();
	assert_non_null(f->mm);
	f->p = uhmm_mmap(f->mm, NULL, NPAGES * PAGE_SIZE,
			 PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	assert_ptr_not_equal(f->p, MAP_FAILED);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	uhmm_mm_exit(f->mm);
	free(f);
	return 0;
}

static long gup(struct fixture *f, unsigned long first, unsigned long n,
		unsigned int flags, struct page **pages, bool pin)
{
	unsigned long start = (unsigned long)f->p + first * PAGE_SIZE;
	long ret;

	mmap_read_lock(f->mm);
	ret = pin ? pin_user_pages_remote(f->mm, start, n, flags, pages) :
		    get_user_pages_remote(f->mm, start, n, flags, pages);
	mmap_read_unlock(f->mm);
	return ret;
}

static void put_pages(struct page **pages, long n)
{
	for (long i = 0; i < n; i++)
		put_page(pages[i]);
}

static void test_faults_in(void **state)
{
	struct fixture *f = *state;
	struct page *pages[NPAGES];
	char c = 0;

	/* A read of untouched memory gets the zero page... */
	assert_int_equal(gup(f, 0, 1, 0, pages, false), 1);
	assert_true(is_zero_page(pages[0]));
	put_pages(pages, 1);
	/* ...a write gets a fresh page, and the CPU sees what it holds. */
	assert_int_equal(gup(f, 0, NPAGES, FOLL_WRITE, pages, false), NPAGES);
	for (int i = 0; i < NPAGES; i++) {
		assert_false(is_zero_page(pages[i]));
		assert_int_equal(page_ref_count(pages[i]), 2);
		memset(page_address(pages[i]), 'a' + i, PAGE_SIZE);
	}
	put_pages(pages, NPAGES);
	assert_int_equal(cpu_access(f->mm, f->p + 3 * PAGE_SIZE, &c, 1, 0), 1);
	assert_int_equal(c, 'd');
}

static void test_write_breaks_cow(void **state)
{
	struct fixture *f = *state;
	struct page *parent_page, *child_page;
	struct mm_struct *child;
	char c;

	assert_int_equal(cpu_access(f->mm, f->p, "p", 1, 1), 1);
	child = uhmm_fork(f->mm);
	assert_non_null(child);
	assert_int_equal(gup(f, 0, 1, 0, &parent_page, false), 1);
	mmap_read_lock(child);
	assert_int_equal(get_user_pages_remote(child, (unsigned long)f->p, 1,
					       FOLL_WRITE, &child_page), 1);
	mmap_read_unlock(child);
	/* The child's write reference is a page of its own. */
	assert_ptr_not_equal(child_page, parent_page);
	*(char *)page_address(child_page) = 'c';
	put_page(child_page);
	put_page(parent_page);
	assert_int_equal(cpu_access(f->mm, f->p, &c, 1, 0), 1);
	assert_int_equal(c, 'p');
	assert_int_equal(cpu_access(child, f->p, &c, 1, 0), 1);
	assert_int_equal(c, 'c');
	uhmm_mm_exit(child);
}

static void test_errors(void **state)
{
	struct fixture *f = *state;
	struct page *pages[NPAGES];

	assert_int_equal(gup(f, 0, 1, 0x4000000, pages, false), -EINVAL);
	assert_int_equal(gup(f, 0, 1, FOLL_LONGTERM, pages, false), -EINVAL);
	assert_int_equal(gup(f, 0, 0, 0, pages, false), 0);
	assert_int_equal(uhmm_mprotect(f->mm, f->p + 2 * PAGE_SIZE, PAGE_SIZE,
				       PROT_READ), 0);
	/* A read-only page stops a write request: the pages before count. */
	assert_int_equal(gup(f, 0, 4, FOLL_WRITE, pages, false), 2);
	put_pages(pages, 2);
	assert_int_equal(gup(f, 2, 1, FOLL_WRITE, pages, false), -EFAULT);
	assert_int_equal(gup(f, 2, 1, 0, pages, false), 1);
	put_pages(pages, 1);
	assert_int_equal(uhmm_mprotect(f->mm, f->p + 5 * PAGE_SIZE, PAGE_SIZE,
				       PROT_NONE), 0);
	assert_int_equal(gup(f, 5, 1, 0, pages, false), -EFAULT);
	assert_int_equal(uhmm_munmap(f->mm, f->p + 7 * PAGE_SIZE, PAGE_SIZE), 0);
	assert_int_equal(gup(f, 7, 1, 0, pages, false), -EFAULT);
	assert_int_equal(gup(f, 6, 2, 0, pages, false), 1);
	put_pages(pages, 1);
}

static int dmirror_migrate(struct dmirror *d, char *p, unsigned long npages,
			   void *buf, uint64_t *cpages)
{
	struct hmm_dmirror_cmd c = { .addr = (uintptr_t)p,
				     .ptr = (uintptr_t)buf, .npages = npages };
	int ret = dmirror_cmd(d, HMM_DMIRROR_MIGRATE_TO_DEV, &c);

	*cpages = c.cpages;
	return ret;
}

static unsigned char snapshot_one(struct dmirror *d, char *p)
{
	unsigned char b = 0xAA;
	struct hmm_dmirror_cmd c = { .addr = (uintptr_t)p,
				     .ptr = (uintptr_t)&b, .npages = 1 };

	assert_int_equal(dmirror_cmd(d, HMM_DMIRROR_SNAPSHOT, &c), 0);
	return b;
}

/* The kernel's hmm_gup_test: what GUP does to pages in device memory. */
static void gup_device_memory(struct fixture *f, int device, bool coherent)
{
	char *buf = malloc(4 * PAGE_SIZE);
	struct page *pages[4];
	struct dmirror *d;
	uint64_t cpages;

	for (int i = 0; i < 4; i++)
		assert_int_equal(cpu_access(f->mm, f->p + i * PAGE_SIZE,
					     &i, sizeof(i), 1), sizeof(i));
	d = dmirror_open(f->mm, device);
	assert_non_null(d);
	assert_int_equal(dmirror_migrate(d, f->p, 4, buf, &cpages), 0);
	assert_int_equal(cpages, 4);

	assert_int_equal(gup(f, 0, 2, FOLL_WRITE, pages, false), 2);
	put_pages(pages, 2);
	assert_int_equal(gup(f, 2, 2, FOLL_WRITE | FOLL_LONGTERM, pages, true),
			 2);
	for (int i = 0; i < 2; i++)
		assert_false(is_zone_device_page(pages[i]));
	unpin_user_pages(pages, 2);

	/* Plain references leave coherent pages where they are. */
	for (int i = 0; i < 2; i++)
		assert_int_equal(snapshot_one(d, f->p + i * PAGE_SIZE),
				 coherent ? HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL |
					    HMM_DMIRROR_PROT_WRITE :
					    HMM_DMIRROR_PROT_WRITE);
	for (int i = 2; i < 4; i++)
		assert_int_equal(snapshot_one(d, f->p + i * PAGE_SIZE),
				 HMM_DMIRROR_PROT_WRITE);
	for (int i = 0; i < 4; i++) {
		int v = -1;

		assert_int_equal(cpu_access(f->mm, f->p + i * PAGE_SIZE, &v,
					     sizeof(v), 0), sizeof(v));
		assert_int_equal(v, i);
	}
	dmirror_close(d);
	free(buf);
}

static void test_device_private(void **state)
{
	gup_device_memory(*state, 0, false);
}

static void test_device_coherent(void **state)
{
	gup_device_memory(*state, 2, true);
}

/* A pinned page stays in system RAM: migration to the device skips it. */
static void test_pin_blocks_migration(void **state)
{
	struct fixture *f = *state;
	char *buf = malloc(NPAGES * PAGE_SIZE);
	struct page *pinned;
	struct dmirror *d;
	uint64_t cpages;

	assert_int_equal(cpu_access(f->mm, f->p, buf, NPAGES * PAGE_SIZE, 1),
			 NPAGES * PAGE_SIZE);
	assert_int_equal(gup(f, 1, 1, FOLL_WRITE | FOLL_LONGTERM, &pinned,
			     true), 1);
	d = dmirror_open(f->mm, 0);
	assert_non_null(d);
	/* The device cannot read back page 1: it did not move. */
	assert_int_equal(dmirror_migrate(d, f->p, NPAGES, buf, &cpages),
			 -ENOENT);
	assert_int_equal(snapshot_one(d, f->p + PAGE_SIZE),
			 HMM_DMIRROR_PROT_WRITE);
	assert_int_equal(snapshot_one(d, f->p),
			 HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL |
			 HMM_DMIRROR_PROT_WRITE);
	unpin_user_page(pinned);
	assert_int_equal(dmirror_migrate(d, f->p, NPAGES, buf, &cpages), 0);
	assert_int_equal(cpages, NPAGES);
	dmirror_close(d);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_faults_in, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_breaks_cow, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_private, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_device_coherent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pin_blocks_migration,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
