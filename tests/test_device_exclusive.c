// SPDX-License-Identifier: MIT
/*
 * make_device_exclusive and device-exclusive entries: the entry replaces
 * a writable anonymous mapping (faulting it in, breaking COW) with the
 * page still mapped and locked for the driver; a CPU access, fork and
 * hmm_range_fault take the page back; mprotect leaves the entry alone;
 * munmap, MADV_DONTNEED and exit free the page; the errors.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <time.h>

#include "test_util.h"
#include "mm/debug.h"
#include "mm/mm_internal.h"

#define NPAGES 8

/* The device's owner cookie (pgmap_owner, range->owner). */
static int dev_owner;

/* What a mirror was told. */
struct events {
	unsigned int excl_owner;	/* EXCLUSIVE from our owner */
	unsigned int excl_none;		/* EXCLUSIVE with no owner */
	unsigned int other;		/* anything else */
	unsigned long start, end;	/* the last EXCLUSIVE range */
};

/* A mirror of the range that records what it is told. */
struct mirror {
	struct mmu_interval_notifier sub;
	pthread_mutex_t lock;
	struct events ev;		/* lock */
};

static bool mirror_invalidate(struct mmu_interval_notifier *sub,
			      const struct mmu_notifier_range *range,
			      unsigned long cur_seq)
{
	struct mirror *m = container_of(sub, struct mirror, sub);

	pthread_mutex_lock(&m->lock);
	mmu_interval_set_seq(sub, cur_seq);
	if (range->event == MMU_NOTIFY_EXCLUSIVE) {
		if (range->owner == &dev_owner)
			m->ev.excl_owner++;
		else if (!range->owner)
			m->ev.excl_none++;
		else
			m->ev.other++;
		m->ev.start = range->start;
		m->ev.end = range->end;
	} else {
		m->ev.other++;
	}
	pthread_mutex_unlock(&m->lock);
	return true;
}

static const struct mmu_interval_notifier_ops mirror_ops = {
	.invalidate = mirror_invalidate,
};

struct fixture {
	unsigned long free_before;
	struct mm_struct *mm;
	char *p;
	struct mirror m;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->free_before = free_pages_now();
	f->mm = uhmm_mm_create();
	f->p = uhmm_mmap(f->mm, NULL, NPAGES * PAGE_SIZE,
			 PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	pthread_mutex_init(&f->m.lock, NULL);
	*state = f;
	if (f->p == MAP_FAILED ||
	    mmu_interval_notifier_insert(&f->m.sub, f->mm, (unsigned long)f->p,
					 NPAGES * PAGE_SIZE, &mirror_ops))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(mm_verify_mapcounts(&f->mm, 1), 0);
	mmu_interval_notifier_remove(&f->m.sub);
	uhmm_mm_exit(f->mm);
	/* Every page an entry held went back with the mm. */
	assert_int_equal(free_pages_now(), f->free_before);
	pthread_mutex_destroy(&f->m.lock);
	free(f);
	return 0;
}

static void reset_events(struct fixture *f)
{
	pthread_mutex_lock(&f->m.lock);
	memset(&f->m.ev, 0, sizeof(f->m.ev));
	pthread_mutex_unlock(&f->m.lock);
}

/* What the mirror was told since the reset, copied under the lock so
 * that the asserts run without it (a failed one leaves the test). */
static struct events events(struct fixture *f)
{
	struct events ev;

	pthread_mutex_lock(&f->m.lock);
	ev = f->m.ev;
	pthread_mutex_unlock(&f->m.lock);
	return ev;
}

/* Expect exactly these counts of EXCLUSIVE events since the reset. */
static void expect_events(struct fixture *f, unsigned int with_owner,
			  unsigned int without_owner)
{
	struct events ev = events(f);

	assert_int_equal(ev.excl_owner, with_owner);
	assert_int_equal(ev.excl_none, without_owner);
}

/* ... and the last of them covered the page at a only. */
static void expect_range(struct fixture *f, char *a)
{
	struct events ev = events(f);

	assert_int_equal(ev.start, (unsigned long)a);
	assert_int_equal(ev.end, (unsigned long)a + PAGE_SIZE);
}

static char *page_addr(struct fixture *f, unsigned int i)
{
	return f->p + i * PAGE_SIZE;
}

static bool pte_is_exclusive(pte_t pte)
{
	return is_swap_pte(pte) &&
	       is_device_exclusive_entry(pte_to_swp_entry(pte));
}

/* The page the PTE at addr maps, present or exclusive; else NULL. */
static struct page *page_at(struct mm_struct *mm, void *addr)
{
	pte_t pte = pte_at(mm, addr);

	if (pte_present(pte))
		return pfn_to_page(pte_pfn(pte));
	if (pte_is_exclusive(pte))
		return pfn_swap_entry_to_page(pte_to_swp_entry(pte));
	return NULL;
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

/* The driver's call: make_device_exclusive under mmap_read_lock. */
static struct page *make_exclusive(struct mm_struct *mm, void *addr)
{
	struct page *page;

	mmap_read_lock(mm);
	page = make_device_exclusive(mm, (unsigned long)addr, &dev_owner);
	mmap_read_unlock(mm);
	return page;
}

/* The driver has mapped the page: let it go. */
static void release(struct page *page)
{
	unlock_page(page);
	put_page(page);
}

/* Make the page at addr exclusive and let it go at once. */
static struct page *make_exclusive_released(struct mm_struct *mm, void *addr)
{
	struct page *page = make_exclusive(mm, addr);

	assert_false(IS_ERR(page));
	release(page);
	return page;
}

/* A written page: the entry replaces its PTE, the page stays mapped,
 * comes back locked with the driver's reference, and the mirror is told
 * with our owner, over that page only. */
static void test_written_page(void **state)
{
	struct fixture *f = *state;
	char *a = page_addr(f, 2);
	struct page *old, *page;
	long rss;
	int refs;
	pte_t pte;

	put_byte(f->mm, a, 'a');
	old = page_at(f->mm, a);
	assert_non_null(old);
	refs = page_ref_count(old);
	rss = atomic_load(&f->mm->rss_pages);
	reset_events(f);

	page = make_exclusive(f->mm, a);
	assert_false(IS_ERR(page));
	assert_ptr_equal(page, old);
	assert_true(PageLocked(page));
	pte = pte_at(f->mm, a);
	assert_true(pte_is_exclusive(pte));
	assert_int_equal(swp_offset(pte_to_swp_entry(pte)), page_to_pfn(page));
	assert_int_equal(page_mapcount(page), 1);
	assert_int_equal(page_ref_count(page), refs + 1);
	assert_int_equal(atomic_load(&f->mm->rss_pages), rss);
	assert_int_equal(mm_verify_mapcounts(&f->mm, 1), 0);
	expect_events(f, 1, 0);
	expect_range(f, a);
	assert_int_equal(((char *)page_address(page))[0], 'a');

	release(page);
	assert_false(PageLocked(page));
	assert_int_equal(page_ref_count(page), refs);
	/* Still exclusive until the CPU touches it. */
	assert_true(pte_is_exclusive(pte_at(f->mm, a)));
}

/* An untouched page is faulted in (a fresh zeroed page) and made
 * exclusive; rss counts it. */
static void test_untouched_page(void **state)
{
	struct fixture *f = *state;
	char *a = page_addr(f, 5);
	struct page *page;

	assert_true(pte_none(pte_at(f->mm, a)));
	reset_events(f);
	page = make_exclusive(f->mm, a + 123);	/* any address in the page */
	assert_false(IS_ERR(page));
	assert_true(PageLocked(page));
	assert_true(PageAnon(page));
	assert_false(is_zero_page(page));
	assert_true(pte_is_exclusive(pte_at(f->mm, a)));
	assert_ptr_equal(page_at(f->mm, a), page);
	assert_int_equal(page_mapcount(page), 1);
	assert_int_equal(atomic_load(&f->mm->rss_pages), 1);
	expect_events(f, 1, 0);
	release(page);
	assert_int_equal(get_byte(f->mm, a), 0);
}

/* A page read in as the zero page is replaced by a writable copy. */
static void test_zero_page(void **state)
{
	struct fixture *f = *state;
	char *a = page_addr(f, 1);
	struct page *page;

	assert_int_equal(get_byte(f->mm, a), 0);
	assert_ptr_equal(page_at(f->mm, a), zero_page());
	page = make_exclusive_released(f->mm, a);
	assert_false(is_zero_page(page));
	assert_true(pte_is_exclusive(pte_at(f->mm, a)));
	assert_int_equal(get_byte(f->mm, a), 0);
}

/* A page shared copy-on-write with a child: the parent's write fault
 * breaks COW first, so the entry holds a private copy and the child
 * keeps the old page and data. */
static void test_cow_shared_page(void **state)
{
	struct fixture *f = *state;
	char *a = page_addr(f, 0);
	struct mm_struct *child, *mms[2];
	struct page *shared, *page;

	put_byte(f->mm, a, 'p');
	child = uhmm_fork(f->mm);
	assert_non_null(child);
	mms[0] = f->mm;
	mms[1] = child;
	shared = page_at(f->mm, a);
	assert_ptr_equal(page_at(child, a), shared);
	assert_int_equal(page_mapcount(shared), 2);

	page = make_exclusive(f->mm, a);
	assert_false(IS_ERR(page));
	assert_ptr_not_equal(page, shared);
	assert_int_equal(page_mapcount(shared), 1);
	assert_int_equal(page_mapcount(page), 1);
	assert_int_equal(((char *)page_address(page))[0], 'p');
	assert_true(pte_is_exclusive(pte_at(f->mm, a)));
	assert_true(pte_present(pte_at(child, a)));
	assert_int_equal(mm_verify_mapcounts(mms, 2), 0);
	release(page);

	put_byte(f->mm, a, 'q');
	assert_int_equal(get_byte(child, a), 'p');
	assert_int_equal(get_byte(f->mm, a), 'q');
	/* The parent wrote to the entry's page in place: no second copy. */
	assert_ptr_equal(page_at(f->mm, a), page);
	assert_int_equal(mm_verify_mapcounts(mms, 2), 0);
	uhmm_mm_exit(child);
}

/* Making an exclusive page exclusive again takes it back from the
 * device (no owner) and hands it out again (our owner). */
static void test_exclusive_again(void **state)
{
	struct fixture *f = *state;
	char *a = page_addr(f, 3);
	struct page *first, *page;

	put_byte(f->mm, a, 'e');
	first = make_exclusive_released(f->mm, a);
	reset_events(f);
	page = make_exclusive(f->mm, a);
	assert_false(IS_ERR(page));
	assert_ptr_equal(page, first);
	expect_events(f, 1, 1);
	assert_true(pte_is_exclusive(pte_at(f->mm, a)));
	release(page);
	assert_int_equal(get_byte(f->mm, a), 'e');
}

/* A temporary file of one page of 'F'. */
static int make_file(void)
{
	char path[] = "/tmp/uhmm-test-XXXXXX";
	char buf[PAGE_SIZE];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	memset(buf, 'F', sizeof(buf));
	assert_int_equal(pwrite(fd, buf, sizeof(buf), 0), PAGE_SIZE);
	unlink(path);
	return fd;
}

static void expect_error(struct mm_struct *mm, void *addr, long err)
{
	struct page *page = make_exclusive(mm, addr);

	assert_true(IS_ERR(page));
	assert_int_equal(PTR_ERR(page), err);
}

/* No VMA, a VMA without write permission: -EFAULT, nothing faulted in.
 * A page that is not anonymous (shmem, a shared file): -EOPNOTSUPP and
 * the page is left as it was. A private file mapping works: the write
 * fault copies the page-cache page into an anonymous one. */
static void test_errors(void **state)
{
	struct fixture *f = *state;
	char *hole, *ro, *shm, *shf, *prf;
	struct page *page;
	int fd = make_file();

	hole = uhmm_mmap(f->mm, NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_ptr_not_equal(hole, MAP_FAILED);
	assert_int_equal(uhmm_munmap(f->mm, hole + PAGE_SIZE, PAGE_SIZE), 0);
	expect_error(f->mm, hole + PAGE_SIZE, -EFAULT);

	ro = uhmm_mmap(f->mm, NULL, PAGE_SIZE, PROT_READ,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_ptr_not_equal(ro, MAP_FAILED);
	expect_error(f->mm, ro, -EFAULT);
	assert_true(pte_none(pte_at(f->mm, ro)));
	assert_int_equal(get_byte(f->mm, ro), 0);	/* the zero page */
	expect_error(f->mm, ro, -EFAULT);
	assert_true(pte_present(pte_at(f->mm, ro)));

	shm = uhmm_mmap(f->mm, NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_ptr_not_equal(shm, MAP_FAILED);
	put_byte(f->mm, shm, 's');
	page = page_at(f->mm, shm);
	expect_error(f->mm, shm, -EOPNOTSUPP);
	assert_true(pte_present(pte_at(f->mm, shm)));
	assert_false(PageLocked(page));
	assert_int_equal(page_ref_count(page), 2);	/* cache + PTE */
	assert_int_equal(get_byte(f->mm, shm), 's');

	shf = uhmm_mmap(f->mm, NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
			MAP_SHARED, fd, 0);
	assert_ptr_not_equal(shf, MAP_FAILED);
	expect_error(f->mm, shf, -EOPNOTSUPP);
	assert_true(pte_present(pte_at(f->mm, shf)));
	assert_false(PageLocked(page_at(f->mm, shf)));

	prf = uhmm_mmap(f->mm, NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE, fd, 0);
	assert_ptr_not_equal(prf, MAP_FAILED);
	assert_int_equal(get_byte(f->mm, prf), 'F');
	page = make_exclusive(f->mm, prf);
	assert_false(IS_ERR(page));
	assert_true(PageAnon(page));
	assert_ptr_not_equal(page, page_at(f->mm, shf));
	assert_int_equal(((char *)page_address(page))[0], 'F');
	release(page);
	assert_int_equal(get_byte(f->mm, prf), 'F');

	assert_int_equal(mm_verify_mapcounts(&f->mm, 1), 0);
	assert_int_equal(uhmm_munmap(f->mm, hole, PAGE_SIZE), 0);
	assert_int_equal(uhmm_munmap(f->mm, ro, PAGE_SIZE), 0);
	assert_int_equal(uhmm_munmap(f->mm, shm, PAGE_SIZE), 0);
	assert_int_equal(uhmm_munmap(f->mm, shf, PAGE_SIZE), 0);
	assert_int_equal(uhmm_munmap(f->mm, prf, PAGE_SIZE), 0);
	close(fd);
}

/* A CPU read restores the PTE, writable since the VMA is, after an
 * EXCLUSIVE invalidation without an owner; the data is there. */
static void test_cpu_read_restores(void **state)
{
	struct fixture *f = *state;
	char *a = page_addr(f, 4);
	struct page *page;
	long rss;
	pte_t pte;

	put_byte(f->mm, a, 'r');
	page = make_exclusive_released(f->mm, a);
	rss = atomic_load(&f->mm->rss_pages);
	reset_events(f);
	assert_int_equal(get_byte(f->mm, a), 'r');
	expect_events(f, 0, 1);
	expect_range(f, a);
	pte = pte_at(f->mm, a);
	assert_true(pte_present(pte));
	assert_true(pte_write(pte));
	assert_true(pte_young(pte));
	assert_int_equal(pte_pfn(pte), page_to_pfn(page));
	assert_int_equal(page_mapcount(page), 1);
	assert_int_equal(page_ref_count(page), 1);
	assert_int_equal(atomic_load(&f->mm->rss_pages), rss);
	/* Restored once: the next access is a plain one. */
	reset_events(f);
	assert_int_equal(get_byte(f->mm, a), 'r');
	expect_events(f, 0, 0);
}

/* A CPU write restores the PTE and writes in place (no copy). */
static void test_cpu_write_restores(void **state)
{
	struct fixture *f = *state;
	char *a = page_addr(f, 6);
	struct page *page;
	pte_t pte;

	put_byte(f->mm, a, 'w');
	page = make_exclusive_released(f->mm, a);
	reset_events(f);
	put_byte(f->mm, a + 1, 'x');
	expect_events(f, 0, 1);
	pte = pte_at(f->mm, a);
	assert_true(pte_present(pte));
	assert_true(pte_write(pte));
	assert_true(pte_dirty(pte));
	assert_int_equal(pte_pfn(pte), page_to_pfn(page));
	assert_int_equal(((char *)page_address(page))[0], 'w');
	assert_int_equal(((char *)page_address(page))[1], 'x');
}

/* mprotect leaves the entry; the restore then maps the page read-only
 * and a write is refused. Write permission back: the write reuses the
 * page. */
static void test_mprotect_read_only(void **state)
{
	struct fixture *f = *state;
	char *a = page_addr(f, 7);
	struct page *page;
	char c = 'z';
	pte_t pte;

	put_byte(f->mm, a, 'm');
	page = make_exclusive_released(f->mm, a);
	assert_int_equal(uhmm_mprotect(f->mm, a, PAGE_SIZE, PROT_READ), 0);
	assert_true(pte_is_exclusive(pte_at(f->mm, a)));
	reset_events(f);
	assert_int_equal(get_byte(f->mm, a), 'm');
	expect_events(f, 0, 1);
	pte = pte_at(f->mm, a);
	assert_true(pte_present(pte));
	assert_false(pte_write(pte));
	assert_int_equal(pte_pfn(pte), page_to_pfn(page));
	errno = 0;
	assert_int_equal(cpu_access(f->mm, a, &c, 1, 1), -1);
	assert_int_equal(errno, EFAULT);
	assert_int_equal(get_byte(f->mm, a), 'm');

	/* The VMA is read-only: make_device_exclusive refuses it too. */
	expect_error(f->mm, a, -EFAULT);

	assert_int_equal(uhmm_mprotect(f->mm, a, PAGE_SIZE,
				       PROT_READ | PROT_WRITE), 0);
	put_byte(f->mm, a, 'n');
	assert_ptr_equal(page_at(f->mm, a), page);
	assert_true(pte_write(pte_at(f->mm, a)));
}

/* fork restores the parent's entries and shares the pages COW: each
 * side's write copies, the other keeps the old data. The child never
 * has an exclusive entry. */
static void test_fork_restores(void **state)
{
	struct fixture *f = *state;
	char *a = page_addr(f, 0), *b = page_addr(f, 1);
	struct page *pa, *pb;
	struct mm_struct *child, *mms[2];
	pte_t pte;

	put_byte(f->mm, a, 'f');
	put_byte(f->mm, b, 'F');
	pa = make_exclusive_released(f->mm, a);
	pb = make_exclusive_released(f->mm, b);
	reset_events(f);
	child = uhmm_fork(f->mm);
	assert_non_null(child);
	mms[0] = f->mm;
	mms[1] = child;
	/* The device lost its mappings in fork's write-protect
	 * invalidation; no EXCLUSIVE one of its own. */
	expect_events(f, 0, 0);
	assert_int_equal(events(f).other, 1);

	for (int i = 0; i < 2; i++) {
		char *x = i ? b : a;
		struct page *px = i ? pb : pa;

		pte = pte_at(f->mm, x);
		assert_true(pte_present(pte));
		assert_false(pte_write(pte));
		assert_int_equal(pte_pfn(pte), page_to_pfn(px));
		pte = pte_at(child, x);
		assert_true(pte_present(pte));
		assert_false(pte_write(pte));
		assert_int_equal(pte_pfn(pte), page_to_pfn(px));
		assert_int_equal(page_mapcount(px), 2);
	}
	assert_int_equal(mm_verify_mapcounts(mms, 2), 0);

	put_byte(f->mm, a, 'g');		/* parent copies */
	assert_ptr_not_equal(page_at(f->mm, a), pa);
	assert_int_equal(get_byte(child, a), 'f');
	put_byte(child, b, 'h');		/* child copies */
	assert_ptr_not_equal(page_at(child, b), pb);
	assert_int_equal(get_byte(f->mm, b), 'F');
	assert_int_equal(get_byte(f->mm, a), 'g');
	assert_int_equal(get_byte(child, b), 'h');
	assert_int_equal(mm_verify_mapcounts(mms, 2), 0);
	uhmm_mm_exit(child);
}

/* ---- a driver thread that still holds the page lock ---- */

struct holder {
	struct page *page;
	atomic_int released;
};

/* Hold the page a while, as a driver mapping it, then let it go. */
static void *release_later(void *arg)
{
	struct holder *h = arg;

	usleep(100 * 1000);
	atomic_store(&h->released, 1);
	release(h->page);
	return NULL;
}

/* A CPU access waits for the driver to unlock the page. */
static void test_access_waits_for_driver(void **state)
{
	struct fixture *f = *state;
	char *a = page_addr(f, 2);
	struct holder h = { 0 };
	int released;
	pthread_t t;
	char c = 0;

	put_byte(f->mm, a, 'l');
	h.page = make_exclusive(f->mm, a);
	assert_false(IS_ERR(h.page));
	reset_events(f);
	assert_int_equal(pthread_create(&t, NULL, release_later, &h), 0);
	assert_int_equal(cpu_access(f->mm, a, &c, 1, 0), 1);
	released = atomic_load(&h.released);
	pthread_join(t, NULL);
	/* The access completed only after the unlock. */
	assert_int_equal(released, 1);
	assert_int_equal(c, 'l');
	expect_events(f, 0, 1);
	assert_true(pte_present(pte_at(f->mm, a)));
}

/* fork waits for the driver to unlock the page too. */
static void test_fork_waits_for_driver(void **state)
{
	struct fixture *f = *state;
	char *a = page_addr(f, 3);
	struct holder h = { 0 };
	struct mm_struct *child;
	pte_t parent_pte, child_pte;
	int released;
	pthread_t t;

	put_byte(f->mm, a, 'k');
	h.page = make_exclusive(f->mm, a);
	assert_false(IS_ERR(h.page));
	assert_int_equal(pthread_create(&t, NULL, release_later, &h), 0);
	child = uhmm_fork(f->mm);
	released = atomic_load(&h.released);
	pthread_join(t, NULL);
	assert_non_null(child);
	parent_pte = pte_at(f->mm, a);
	child_pte = pte_at(child, a);
	uhmm_mm_exit(child);
	/* fork restored the entry only after the unlock. */
	assert_int_equal(released, 1);
	assert_true(pte_present(parent_pte));
	assert_true(pte_present(child_pte));
	assert_int_equal(pte_pfn(child_pte), page_to_pfn(h.page));
}

/* ---- the ways an entry's page is freed ---- */

static void make_all_exclusive(struct fixture *f, char seed)
{
	for (unsigned int i = 0; i < NPAGES; i++) {
		put_byte(f->mm, page_addr(f, i), seed + i);
		make_exclusive_released(f->mm, page_addr(f, i));
	}
	for (unsigned int i = 0; i < NPAGES; i++)
		assert_true(pte_is_exclusive(pte_at(f->mm, page_addr(f, i))));
	assert_int_equal(atomic_load(&f->mm->rss_pages), NPAGES);
}

static void test_dontneed_frees(void **state)
{
	struct fixture *f = *state;
	unsigned long free_touched;

	make_all_exclusive(f, 'A');
	free_touched = free_pages_now();
	assert_int_equal(uhmm_madvise(f->mm, f->p, NPAGES * PAGE_SIZE,
				      MADV_DONTNEED), 0);
	assert_int_equal(free_pages_now(), free_touched + NPAGES);
	assert_int_equal(atomic_load(&f->mm->rss_pages), 0);
	for (unsigned int i = 0; i < NPAGES; i++) {
		assert_true(pte_none(pte_at(f->mm, page_addr(f, i))));
		assert_int_equal(get_byte(f->mm, page_addr(f, i)), 0);
	}
	assert_int_equal(mm_verify_mapcounts(&f->mm, 1), 0);
}

static void test_munmap_frees(void **state)
{
	struct fixture *f = *state;
	unsigned long free_mapped = free_pages_now();

	make_all_exclusive(f, 'a');
	assert_int_equal(uhmm_munmap(f->mm, f->p, NPAGES * PAGE_SIZE), 0);
	/* The pages and the page tables they needed. */
	assert_int_equal(free_pages_now(), free_mapped);
	assert_int_equal(atomic_load(&f->mm->rss_pages), 0);
	assert_int_equal(mm_verify_mapcounts(&f->mm, 1), 0);
}

/* Exit frees the pages, even one the driver still holds, once it lets
 * go. */
static void test_exit_frees(void **state)
{
	unsigned long free_before = free_pages_now();
	struct mm_struct *mm = uhmm_mm_create();
	char *p = uhmm_mmap(mm, NULL, NPAGES * PAGE_SIZE,
			    PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct page *held;

	assert_ptr_not_equal(p, MAP_FAILED);
	for (unsigned int i = 0; i < NPAGES; i++) {
		put_byte(mm, p + i * PAGE_SIZE, 'x');
		if (i)
			make_exclusive_released(mm, p + i * PAGE_SIZE);
	}
	held = make_exclusive(mm, p);
	assert_false(IS_ERR(held));
	assert_int_equal(mm_verify_mapcounts(&mm, 1), 0);
	uhmm_mm_exit(mm);
	assert_int_equal(page_mapcount(held), 0);
	assert_int_equal(page_ref_count(held), 1);
	assert_int_equal(free_pages_now(), free_before - 1);
	release(held);
	assert_int_equal(free_pages_now(), free_before);
}

/* ---- hmm_range_fault ---- */

static int range_fault(struct fixture *f, unsigned long *pfns,
		       unsigned long default_flags)
{
	struct hmm_range range = {
		.notifier = &f->m.sub,
		.start = (unsigned long)f->p,
		.end = (unsigned long)f->p + NPAGES * PAGE_SIZE,
		.hmm_pfns = pfns,
		.default_flags = default_flags,
	};
	int ret;

	do {
		range.notifier_seq = mmu_interval_read_begin(&f->m.sub);
		mmap_read_lock(f->mm);
		ret = hmm_range_fault(&range);
		mmap_read_unlock(f->mm);
	} while (ret == -EBUSY);
	return ret;
}

/* A snapshot reports the entry as nothing mapped and leaves it; a fault
 * request takes the page back and reports it valid and writable. */
static void test_hmm_range_fault(void **state)
{
	struct fixture *f = *state;
	unsigned long pfns[NPAGES];
	struct page *page;

	for (unsigned int i = 0; i < NPAGES; i++)
		put_byte(f->mm, page_addr(f, i), 'h');
	page = make_exclusive_released(f->mm, page_addr(f, 2));

	reset_events(f);
	assert_int_equal(range_fault(f, pfns, 0), 0);
	assert_int_equal(pfns[2], 0);
	assert_true(pfns[1] & HMM_PFN_VALID);
	assert_true(pfns[3] & HMM_PFN_WRITE);
	assert_true(pte_is_exclusive(pte_at(f->mm, page_addr(f, 2))));
	expect_events(f, 0, 0);

	assert_int_equal(range_fault(f, pfns, HMM_PFN_REQ_FAULT), 0);
	assert_int_equal(pfns[2], page_to_pfn(page) | HMM_PFN_VALID |
				  HMM_PFN_WRITE);
	assert_true(pte_present(pte_at(f->mm, page_addr(f, 2))));
	expect_events(f, 0, 1);

	/* The same through a write request. */
	page = make_exclusive_released(f->mm, page_addr(f, 5));
	assert_int_equal(range_fault(f, pfns, HMM_PFN_REQ_FAULT |
				     HMM_PFN_REQ_WRITE), 0);
	assert_int_equal(pfns[5], page_to_pfn(page) | HMM_PFN_VALID |
				  HMM_PFN_WRITE);
	assert_int_equal(((char *)page_address(page))[0], 'h');
}

/* ---- a device taking pages while the CPU uses them ---- */

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

struct race {
	struct fixture *f;
	atomic_int stop;
	atomic_long taken, errors;
};

/*
 * The device: takes random pages exclusive, sometimes keeping the page
 * lock after dropping mmap_lock (as a driver that maps the page later
 * may), so that CPU faults and fork meet a locked page.
 */
static void *device_thread(void *arg)
{
	struct race *r = arg;
	unsigned int seed = 1;

	while (!atomic_load(&r->stop)) {
		unsigned int i = rand_r(&seed) % NPAGES;
		struct mm_struct *mm = r->f->mm;
		struct page *page;

		mmap_read_lock(mm);
		page = make_device_exclusive(mm, (unsigned long)
					     page_addr(r->f, i), &dev_owner);
		if (IS_ERR(page)) {
			mmap_read_unlock(mm);
			atomic_fetch_add(&r->errors, 1);
			continue;
		}
		if (i & 1) {
			mmap_read_unlock(mm);
			sched_yield();
			release(page);
		} else {
			release(page);
			mmap_read_unlock(mm);
		}
		atomic_fetch_add(&r->taken, 1);
	}
	return NULL;
}

/* The CPU writes and reads back every page while the device takes
 * them; every read sees the last write, in the parent and in children
 * forked meanwhile, and nothing leaks. */
static void test_race_cpu_and_device(void **state)
{
	struct fixture *f = *state;
	struct race r = { .f = f };
	unsigned int values[NPAGES] = { 0 };
	long bad = 0;
	double deadline = now() + 30;
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, device_thread, &r), 0);
	/* Until the device has taken enough pages too; a device that
	 * makes no progress in 30 s fails the test. */
	for (unsigned int n = 0;
	     n < 3000 || (atomic_load(&r.taken) < 2000 && now() < deadline);
	     n++) {
		unsigned int i = n % NPAGES, v = n + 1, got = 0;

		if (cpu_access(f->mm, page_addr(f, i), &v, sizeof(v), 1) !=
		    sizeof(v))
			bad++;
		values[i] = v;
		if (cpu_access(f->mm, page_addr(f, i), &got, sizeof(got), 0)
		    != sizeof(got) || got != values[i])
			bad++;
		if (n % 256 == 255) {
			struct mm_struct *child = uhmm_fork(f->mm);

			if (!child) {
				bad++;
				continue;
			}
			for (unsigned int j = 0; j < NPAGES; j++) {
				got = 0;
				if (cpu_access(child, page_addr(f, j), &got,
						sizeof(got), 0) != sizeof(got) ||
				    got != values[j])
					bad++;
			}
			uhmm_mm_exit(child);
		}
	}
	atomic_store(&r.stop, 1);
	pthread_join(t, NULL);
	assert_int_equal(bad, 0);
	assert_int_equal(atomic_load(&r.errors), 0);
	assert_true(atomic_load(&r.taken) >= 2000);
	assert_int_equal(mm_verify_mapcounts(&f->mm, 1), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_written_page),
		T(test_untouched_page),
		T(test_zero_page),
		T(test_cow_shared_page),
		T(test_exclusive_again),
		T(test_errors),
		T(test_cpu_read_restores),
		T(test_cpu_write_restores),
		T(test_mprotect_read_only),
		T(test_fork_restores),
		T(test_access_waits_for_driver),
		T(test_fork_waits_for_driver),
		T(test_dontneed_frees),
		T(test_munmap_frees),
		cmocka_unit_test(test_exit_frees),
		T(test_hmm_range_fault),
		T(test_race_cpu_and_device),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
