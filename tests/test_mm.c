// SPDX-License-Identifier: MIT
/*
 * Address spaces: mmap/munmap/mprotect/madvise argument checks, VMA
 * split and merge, faults (zero page, fresh page, write-protect), COW
 * after fork, uhmm_access, page-table freeing, and no leaked page.
 */
#include "test_util.h"
#include "mm/debug.h"
#include "mm/mm_internal.h"

#define MB (1UL << 20)

static struct page *page_at(struct mm_struct *mm, void *addr)
{
	pte_t pte = pte_at(mm, addr);

	return pte_present(pte) ? pfn_to_page(pte_pfn(pte)) : NULL;
}

static void put_byte(struct mm_struct *mm, void *addr, char c)
{
	assert_int_equal(cpu_access(mm, addr, &c, 1, 1), 1);
}

static char get_byte(struct mm_struct *mm, void *addr)
{
	char c = 0x7f;

	assert_int_equal(cpu_access(mm, addr, &c, 1, 0), 1);
	return c;
}

static char *map_anon(struct mm_struct *mm, size_t len, int prot)
{
	char *p = uhmm_mmap(mm, NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);

	assert_ptr_not_equal(p, MAP_FAILED);
	return p;
}

static void expect_einval(int ret)
{
	assert_int_equal(ret, -1);
	assert_int_equal(errno, EINVAL);
}

/* Bad arguments: -1/EINVAL and nothing changes. */
static void test_bad_input(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE);
	unsigned int vmas = mm->map_count;

	errno = 0;
	assert_ptr_equal(uhmm_mmap(mm, NULL, 0, PROT_READ,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
			 MAP_FAILED);
	assert_int_equal(errno, EINVAL);
	assert_ptr_equal(uhmm_mmap(mm, NULL, PAGE_SIZE, 0x100,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
			 MAP_FAILED);
	assert_int_equal(errno, EINVAL);
	assert_ptr_equal(uhmm_mmap(mm, NULL, PAGE_SIZE, PROT_READ,
				   MAP_ANONYMOUS, -1, 0), MAP_FAILED);
	assert_int_equal(errno, EINVAL);
	assert_ptr_equal(uhmm_mmap(mm, NULL, PAGE_SIZE, PROT_READ,
				   MAP_PRIVATE | MAP_SHARED | MAP_ANONYMOUS,
				   -1, 0), MAP_FAILED);
	assert_int_equal(errno, EINVAL);
	/* MAP_FIXED outside the address space, or unaligned. */
	assert_ptr_equal(uhmm_mmap(mm, (void *)0x1000, PAGE_SIZE, PROT_READ,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				   -1, 0), MAP_FAILED);
	assert_int_equal(errno, EINVAL);
	assert_ptr_equal(uhmm_mmap(mm, p + 1, PAGE_SIZE, PROT_READ,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				   -1, 0), MAP_FAILED);
	assert_int_equal(errno, EINVAL);
	assert_ptr_equal(uhmm_mmap(mm, NULL, PAGE_SIZE, PROT_READ,
				   MAP_PRIVATE, -1, 0), MAP_FAILED);
	assert_int_equal(errno, EBADF);

	expect_einval(uhmm_munmap(mm, p + 1, PAGE_SIZE));
	expect_einval(uhmm_munmap(mm, p, 0));
	expect_einval(uhmm_munmap(mm, p, 100));
	expect_einval(uhmm_munmap(mm, (void *)-PAGE_SIZE, 2 * PAGE_SIZE));
	expect_einval(uhmm_mprotect(mm, p, PAGE_SIZE, 0x40));
	expect_einval(uhmm_mprotect(mm, p + 8, PAGE_SIZE, PROT_READ));
	expect_einval(uhmm_mprotect(mm, p, 0, PROT_READ));
	expect_einval(uhmm_madvise(mm, p, PAGE_SIZE, 12345));
	expect_einval(uhmm_madvise(mm, p + 1, PAGE_SIZE, MADV_DONTNEED));
	expect_einval(uhmm_msync(mm, p, PAGE_SIZE, MS_SYNC | MS_ASYNC));

	assert_int_equal(mm->map_count, vmas);
	assert_int_equal(mm->vmas[0]->vm_start, (unsigned long)p);
	assert_int_equal(mm->vmas[0]->vm_end, (unsigned long)p + 4 * PAGE_SIZE);
	assert_int_equal(mm->vmas[0]->vm_flags & VM_ACCESS_FLAGS,
			 VM_READ | VM_WRITE);

	/* A hole in mprotect's range: ENOMEM, and, as in Linux, the VMA
	 * before the hole changed, the one after it not. */
	assert_int_equal(uhmm_munmap(mm, p + PAGE_SIZE, PAGE_SIZE), 0);
	assert_int_equal(uhmm_mprotect(mm, p, 4 * PAGE_SIZE, PROT_READ), -1);
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(mm->vmas[0]->vm_flags & VM_ACCESS_FLAGS, VM_READ);
	assert_int_equal(mm->vmas[1]->vm_flags & VM_ACCESS_FLAGS,
			 VM_READ | VM_WRITE);
	/* Unmapping nothing is fine. */
	assert_int_equal(uhmm_munmap(mm, p + PAGE_SIZE, PAGE_SIZE), 0);
	uhmm_mm_exit(mm);
}

/* Reads map the zero page, writes a fresh zeroed page. */
static void test_anon_faults(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE);
	pte_t pte;

	assert_true(pte_none(pte_at(mm, p)));
	assert_int_equal(get_byte(mm, p), 0);
	pte = pte_at(mm, p);
	assert_true(pte_present(pte));
	assert_false(pte_write(pte));
	assert_ptr_equal(page_at(mm, p), zero_page());

	assert_int_equal(atomic_load(&mm->rss_pages), 0);	/* zero page */
	put_byte(mm, p + 10, 'x');
	assert_int_equal(atomic_load(&mm->rss_pages), 1);
	pte = pte_at(mm, p);
	assert_true(pte_write(pte) && pte_dirty(pte));
	assert_ptr_not_equal(page_at(mm, p), zero_page());
	assert_int_equal(page_mapcount(page_at(mm, p)), 1);
	assert_int_equal(page_ref_count(page_at(mm, p)), 1);
	assert_int_equal(get_byte(mm, p + 10), 'x');
	assert_int_equal(get_byte(mm, p + 11), 0);
	uhmm_mm_exit(mm);
}

/* 64 MiB written and read back across page boundaries. */
static void test_access_large(void **state)
{
	unsigned long before = free_pages_now();
	struct mm_struct *mm = uhmm_mm_create();
	size_t len = 64 * MB;
	char *p = map_anon(mm, len, PROT_READ | PROT_WRITE);
	uint32_t *buf = malloc(len), *out = malloc(len);

	for (size_t i = 0; i < len / 4; i++)
		buf[i] = (uint32_t)(i * 2654435761u);
	assert_int_equal(cpu_access(mm, p, buf, len, 1), (ssize_t)len);
	memset(out, 0, len);
	assert_int_equal(cpu_access(mm, p + 3, out, len - 3, 0),
			 (ssize_t)len - 3);
	assert_memory_equal(out, (char *)buf + 3, len - 3);
	uhmm_mm_exit(mm);
	assert_int_equal(free_pages_now(), before);
	free(buf);
	free(out);
}

/* EFAULT for holes, PROT_NONE and writes to read-only memory. */
static void test_access_errors(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, 3 * PAGE_SIZE, PROT_READ | PROT_WRITE);
	char buf[2 * PAGE_SIZE];

	memset(buf, 'a', sizeof(buf));
	assert_int_equal(uhmm_munmap(mm, p + PAGE_SIZE, PAGE_SIZE), 0);
	assert_int_equal(cpu_access(mm, p, buf, 2 * PAGE_SIZE, 1), -1);
	assert_int_equal(errno, EFAULT);
	/* The part before the hole was written. */
	assert_int_equal(get_byte(mm, p + PAGE_SIZE - 1), 'a');

	assert_int_equal(uhmm_mprotect(mm, p, PAGE_SIZE, PROT_NONE), 0);
	assert_int_equal(cpu_access(mm, p, buf, 1, 0), -1);
	assert_int_equal(errno, EFAULT);
	assert_int_equal(uhmm_mprotect(mm, p + 2 * PAGE_SIZE, PAGE_SIZE,
				       PROT_READ), 0);
	assert_int_equal(cpu_access(mm, p + 2 * PAGE_SIZE, buf, 1, 1), -1);
	assert_int_equal(errno, EFAULT);
	assert_int_equal(cpu_access(mm, p + 2 * PAGE_SIZE, buf, 1, 0), 1);
	/* Write-only memory is readable, as on x86. */
	assert_int_equal(uhmm_mprotect(mm, p + 2 * PAGE_SIZE, PAGE_SIZE,
				       PROT_WRITE), 0);
	assert_int_equal(cpu_access(mm, p + 2 * PAGE_SIZE, buf, 1, 1), 1);
	assert_int_equal(cpu_access(mm, p + 2 * PAGE_SIZE, buf, 1, 0), 1);
	/* PROT_NONE keeps the data: readable again after mprotect. */
	assert_int_equal(uhmm_mprotect(mm, p, PAGE_SIZE, PROT_READ), 0);
	assert_int_equal(get_byte(mm, p + 5), 'a');
	uhmm_mm_exit(mm);
}

/* Split at mprotect/munmap boundaries, merge back when equal again. */
static void test_vma_split_merge(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, 8 * PAGE_SIZE, PROT_READ | PROT_WRITE);
	char *q;

	assert_int_equal(mm->map_count, 1);
	assert_int_equal(uhmm_mprotect(mm, p + 2 * PAGE_SIZE, 2 * PAGE_SIZE,
				       PROT_READ), 0);
	assert_int_equal(mm->map_count, 3);
	assert_int_equal(find_vma(mm, (unsigned long)p + 2 * PAGE_SIZE)->vm_start,
			 (unsigned long)p + 2 * PAGE_SIZE);
	assert_int_equal(find_vma(mm, (unsigned long)p + 2 * PAGE_SIZE)->vm_end,
			 (unsigned long)p + 4 * PAGE_SIZE);
	assert_int_equal(uhmm_mprotect(mm, p + 2 * PAGE_SIZE, 2 * PAGE_SIZE,
				       PROT_READ | PROT_WRITE), 0);
	assert_int_equal(mm->map_count, 1);

	/* A hole in the middle, then refill it with MAP_FIXED: merged. */
	assert_int_equal(uhmm_munmap(mm, p + 3 * PAGE_SIZE, PAGE_SIZE), 0);
	assert_int_equal(mm->map_count, 2);
	assert_null(vma_lookup(mm, (unsigned long)p + 3 * PAGE_SIZE));
	q = uhmm_mmap(mm, p + 3 * PAGE_SIZE, PAGE_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	assert_ptr_equal(q, p + 3 * PAGE_SIZE);
	assert_int_equal(mm->map_count, 1);

	/* MAP_FIXED_NOREPLACE refuses an occupied range. */
	assert_ptr_equal(uhmm_mmap(mm, p, PAGE_SIZE, PROT_READ,
				   MAP_PRIVATE | MAP_ANONYMOUS |
				   MAP_FIXED_NOREPLACE, -1, 0), MAP_FAILED);
	assert_int_equal(errno, EEXIST);

	/* Different protections never merge. */
	q = uhmm_mmap(mm, p + 8 * PAGE_SIZE, PAGE_SIZE, PROT_READ,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	assert_ptr_equal(q, p + 8 * PAGE_SIZE);
	assert_int_equal(mm->map_count, 2);
	uhmm_mm_exit(mm);
}

/* MAP_FIXED over a mapping replaces its pages. */
static void test_map_fixed_replaces(void **state)
{
	unsigned long before = free_pages_now();
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE);

	put_byte(mm, p + PAGE_SIZE, 'z');
	assert_ptr_equal(uhmm_mmap(mm, p + PAGE_SIZE, PAGE_SIZE,
				   PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				   -1, 0), p + PAGE_SIZE);
	assert_int_equal(get_byte(mm, p + PAGE_SIZE), 0);
	uhmm_mm_exit(mm);
	assert_int_equal(free_pages_now(), before);
}

/* fork: both sides see the old data, writes stay on their side. */
static void test_fork_cow(void **state)
{
	unsigned long before = free_pages_now();
	struct mm_struct *parent = uhmm_mm_create();
	char *p = map_anon(parent, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE);
	struct mm_struct *child;
	struct page *page;

	put_byte(parent, p, 'P');
	get_byte(parent, p + PAGE_SIZE);	/* zero page */
	page = page_at(parent, p);

	child = uhmm_fork(parent);
	assert_non_null(child);
	assert_ptr_equal(page_at(child, p), page);
	assert_int_equal(page_mapcount(page), 2);
	assert_int_equal(page_ref_count(page), 2);
	assert_false(pte_write(pte_at(parent, p)));
	assert_false(pte_write(pte_at(child, p)));
	assert_ptr_equal(page_at(child, p + PAGE_SIZE), zero_page());

	/* Child writes: it gets a copy; the parent keeps the original. */
	put_byte(child, p, 'C');
	assert_ptr_not_equal(page_at(child, p), page);
	assert_int_equal(get_byte(parent, p), 'P');
	assert_int_equal(get_byte(child, p), 'C');
	assert_int_equal(page_mapcount(page), 1);

	/* Parent writes: the page is its alone now and is reused. */
	put_byte(parent, p, 'Q');
	assert_ptr_equal(page_at(parent, p), page);
	assert_int_equal(get_byte(child, p), 'C');

	/* Zero page and untouched pages: each side gets its own. */
	put_byte(parent, p + PAGE_SIZE, 'x');
	put_byte(child, p + 2 * PAGE_SIZE, 'y');
	assert_int_equal(get_byte(child, p + PAGE_SIZE), 0);
	assert_int_equal(get_byte(parent, p + 2 * PAGE_SIZE), 0);

	uhmm_mm_exit(child);
	assert_int_equal(get_byte(parent, p), 'Q');
	uhmm_mm_exit(parent);
	assert_int_equal(free_pages_now(), before);
}

/* Shared anonymous memory stays shared across fork. */
static void test_fork_shared(void **state)
{
	unsigned long before = free_pages_now();
	struct mm_struct *parent = uhmm_mm_create();
	char *p = uhmm_mmap(parent, NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct mm_struct *child;

	assert_ptr_not_equal(p, MAP_FAILED);
	put_byte(parent, p, 'a');
	child = uhmm_fork(parent);
	assert_non_null(child);
	assert_int_equal(get_byte(child, p), 'a');
	put_byte(child, p, 'b');
	put_byte(child, p + PAGE_SIZE, 'c');
	assert_int_equal(get_byte(parent, p), 'b');
	assert_int_equal(get_byte(parent, p + PAGE_SIZE), 'c');
	assert_ptr_equal(page_at(parent, p), page_at(child, p));
	uhmm_mm_exit(parent);
	assert_int_equal(get_byte(child, p), 'b');
	uhmm_mm_exit(child);
	assert_int_equal(free_pages_now(), before);
}

/* MADV_DONTNEED: private pages read as zero again; shared keep data. */
static void test_madvise_dontneed(void **state)
{
	unsigned long before = free_pages_now();
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE);
	char *s = uhmm_mmap(mm, NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	put_byte(mm, p, 1);
	put_byte(mm, p + PAGE_SIZE, 2);
	put_byte(mm, s, 3);
	assert_int_equal(uhmm_madvise(mm, p, 2 * PAGE_SIZE, MADV_DONTNEED), 0);
	assert_true(pte_none(pte_at(mm, p)));
	assert_int_equal(get_byte(mm, p), 0);
	assert_int_equal(uhmm_madvise(mm, s, PAGE_SIZE, MADV_DONTNEED), 0);
	assert_true(pte_none(pte_at(mm, s)));
	assert_int_equal(get_byte(mm, s), 3);
	/* A range with a hole: the mapped part is advised, ENOMEM. */
	put_byte(mm, p, 1);
	assert_int_equal(uhmm_munmap(mm, p + PAGE_SIZE, PAGE_SIZE), 0);
	assert_int_equal(uhmm_madvise(mm, p, 2 * PAGE_SIZE, MADV_DONTNEED), -1);
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(get_byte(mm, p), 0);
	assert_int_equal(uhmm_madvise(mm, p, PAGE_SIZE, MADV_SEQUENTIAL), 0);
	assert_true(vma_lookup(mm, (unsigned long)p)->vm_flags & VM_SEQ_READ);
	uhmm_mm_exit(mm);
	assert_int_equal(free_pages_now(), before);
}

/* mprotect read-only write-protects PTEs; back to RW, writes work. */
static void test_mprotect_ptes(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, PAGE_SIZE, PROT_READ | PROT_WRITE);
	struct page *page;

	put_byte(mm, p, 'w');
	page = page_at(mm, p);
	assert_true(pte_write(pte_at(mm, p)));
	assert_int_equal(uhmm_mprotect(mm, p, PAGE_SIZE, PROT_READ), 0);
	assert_false(pte_write(pte_at(mm, p)));
	assert_int_equal(uhmm_mprotect(mm, p, PAGE_SIZE, PROT_READ | PROT_WRITE), 0);
	put_byte(mm, p, 'v');
	/* Reused in place, no copy. */
	assert_ptr_equal(page_at(mm, p), page);
	assert_true(pte_write(pte_at(mm, p)));
	uhmm_mm_exit(mm);
}

/* Page tables are freed by munmap and counted as used memory. */
static void test_pgtables_freed(void **state)
{
	struct uhmm_meminfo a, b, c;
	struct mm_struct *mm;
	char *p;

	assert_int_equal(uhmm_meminfo(&a), 0);
	mm = uhmm_mm_create();
	/* Inside one PUD, so that one PMD table covers it wherever the
	 * window lies. */
	p = (char *)ALIGN_UP(mm->mmap_base, PUD_SIZE);
	assert_true((unsigned long)p + 8 * MB <= mm->task_size);
	assert_ptr_equal(uhmm_mmap(mm, p, 8 * MB, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				   -1, 0), p);
	for (size_t off = 0; off < 8 * MB; off += 2 * MB)
		put_byte(mm, p + off, 1);
	assert_int_equal(uhmm_meminfo(&b), 0);
	/* pgd + pud + pmd + 4 PTE tables */
	assert_int_equal(b.pgtable_pages - a.pgtable_pages, 7);
	assert_int_equal(a.free_pages - b.free_pages, 7 + 4);
	assert_int_equal(uhmm_munmap(mm, p, 8 * MB), 0);
	assert_int_equal(uhmm_meminfo(&c), 0);
	assert_int_equal(c.pgtable_pages - a.pgtable_pages, 1);	/* pgd */
	assert_int_equal(a.free_pages - c.free_pages, 1);
	uhmm_mm_exit(mm);
	assert_int_equal(free_pages_now(), a.free_pages);
}

/* mm_users and mm_count as the kernel defines them. */
static void test_mm_refcounts(void **state)
{
	unsigned long before = free_pages_now();
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, PAGE_SIZE, PROT_READ | PROT_WRITE);

	put_byte(mm, p, 1);
	assert_true(mmget_not_zero(mm));
	uhmm_mm_exit(mm);			/* the owner goes */
	assert_int_equal(get_byte(mm, p), 1);	/* still alive for the user */
	mmgrab(mm);
	mmput(mm);				/* last user: torn down */
	assert_int_equal(mm->map_count, 0);
	assert_false(mmget_not_zero(mm));
	mmdrop(mm);				/* struct freed */
	assert_int_equal(free_pages_now(), before);
}

/* Exhausting RAM: ENOMEM from uhmm_access, and everything consistent. */
static void test_oom(void **state)
{
	unsigned long before = free_pages_now();
	struct mm_struct *mm = uhmm_mm_create();
	size_t len = 512 * MB;	/* twice the test RAM */
	char *p = map_anon(mm, len, PROT_READ | PROT_WRITE);
	char c = 1;
	size_t off;

	for (off = 0; off < len; off += PAGE_SIZE)
		if (cpu_access(mm, p + off, &c, 1, 1) != 1)
			break;
	assert_true(off < len);
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(free_pages_now(), 0);
	/* What was written is intact. */
	assert_int_equal(get_byte(mm, p), 1);
	assert_int_equal(get_byte(mm, p + off - PAGE_SIZE), 1);
	assert_null(uhmm_fork(mm));
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(uhmm_munmap(mm, p, len), 0);
	uhmm_mm_exit(mm);
	assert_int_equal(free_pages_now(), before);
}

/* fork runs out of memory half-way: the child is gone, the parent's
 * data and every count are intact, nothing leaks. */
static void test_fork_enomem_midway(void **state)
{
	unsigned long before = free_pages_now();
	struct mm_struct *mm = uhmm_mm_create(), *child;
	size_t len = 16 * MB;
	char *p = map_anon(mm, len, PROT_READ | PROT_WRITE);
	struct page **hog;
	unsigned long n = 0, spare;

	for (size_t off = 0; off < len; off += PMD_SIZE)
		put_byte(mm, p + off, (char)(off >> 21));
	/* Leave the child room for its pgd, pud, pmd and a few PTE tables,
	 * fewer than the 8 it needs. */
	spare = free_pages_now() - 6;
	hog = calloc(spare, sizeof(*hog));
	while (n < spare && (hog[n] = alloc_page()) != NULL)
		n++;
	child = uhmm_fork(mm);
	assert_null(child);
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(free_pages_now(), 6);
	assert_int_equal(mm_verify_mapcounts(&mm, 1), 0);
	while (n--)
		put_page(hog[n]);
	free(hog);
	for (size_t off = 0; off < len; off += PMD_SIZE) {
		assert_int_equal(get_byte(mm, p + off), (char)(off >> 21));
		put_byte(mm, p + off, 'w');	/* reused, no copy */
	}
	assert_int_equal(mm_verify_mapcounts(&mm, 1), 0);
	uhmm_mm_exit(mm);
	assert_int_equal(free_pages_now(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_anon_faults),
		cmocka_unit_test(test_access_large),
		cmocka_unit_test(test_access_errors),
		cmocka_unit_test(test_vma_split_merge),
		cmocka_unit_test(test_map_fixed_replaces),
		cmocka_unit_test(test_fork_cow),
		cmocka_unit_test(test_fork_shared),
		cmocka_unit_test(test_madvise_dontneed),
		cmocka_unit_test(test_mprotect_ptes),
		cmocka_unit_test(test_pgtables_freed),
		cmocka_unit_test(test_mm_refcounts),
		cmocka_unit_test(test_oom),
		cmocka_unit_test(test_fork_enomem_midway),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
