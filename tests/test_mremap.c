// SPDX-License-Identifier: MIT
/*
 * uhmm_mremap: shrink and grow in place, moves (MAYMOVE, FIXED over a
 * mapping, DONTUNMAP), every errno, the notifier events a move sends,
 * and the data of every kind of page surviving it: system RAM, shared
 * memory, device-private and device-coherent pages (which stay on the
 * device and are still found by the device's eviction afterwards),
 * device-exclusive entries, device pages shared with a fork child.
 * Threads that touch the old range while it moves fault and never see
 * stale data. Every test ends with system RAM and device memory back
 * where they were.
 */
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "test_util.h"
#include "mm/mm_internal.h"

#define NPAGES		64
#define WORDS		(PAGE_SIZE / sizeof(unsigned long))

/* ---- helpers ---- */

struct counts {
	unsigned long free_pages;
	unsigned long dev_in_use[DMIRROR_NDEVICES];
};

static int setup(void **state)
{
	struct counts *c = calloc(1, sizeof(*c));

	c->free_pages = free_pages_now();
	for (int i = 0; i < DMIRROR_NDEVICES; i++)
		c->dev_in_use[i] = device_pages_in_use(i);
	*state = c;
	return 0;
}

/* Nothing leaked: RAM and device pages are back where they were. */
static int teardown(void **state)
{
	struct counts *c = *state;

	assert_int_equal(free_pages_now(), c->free_pages);
	for (int i = 0; i < DMIRROR_NDEVICES; i++)
		assert_int_equal(device_pages_in_use(i), c->dev_in_use[i]);
	free(c);
	return 0;
}

static char *map_anon(struct mm_struct *mm, void *hint, size_t len)
{
	char *p = uhmm_mmap(mm, hint, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS |
			    (hint ? MAP_FIXED : 0), -1, 0);

	assert_ptr_not_equal(p, MAP_FAILED);
	return p;
}

/* A free range of len bytes, well away from everything mapped now. */
static char *free_range(struct mm_struct *mm, size_t len)
{
	char *p = map_anon(mm, NULL, len + 2 * PMD_SIZE);

	assert_int_equal(uhmm_munmap(mm, p, len + 2 * PMD_SIZE), 0);
	return p + PMD_SIZE + 3 * PAGE_SIZE;	/* not table aligned */
}

static unsigned long word(unsigned long seed, unsigned long page,
			  unsigned long w)
{
	return seed << 32 | page << 12 | w;
}

/* Page i of [p, p + n pages) gets words seed:i:w. */
static void fill(struct mm_struct *mm, char *p, unsigned long n,
		 unsigned long seed)
{
	unsigned long buf[WORDS];

	for (unsigned long i = 0; i < n; i++) {
		for (unsigned long w = 0; w < WORDS; w++)
			buf[w] = word(seed, i, w);
		assert_int_equal(cpu_access(mm, p + i * PAGE_SIZE, buf,
					    PAGE_SIZE, 1), PAGE_SIZE);
	}
}

/* Pages [first, first + n) of the range at p hold seed's words. */
static void check_pages(struct mm_struct *mm, char *p, unsigned long first,
			unsigned long n, unsigned long seed)
{
	unsigned long buf[WORDS];

	for (unsigned long i = first; i < first + n; i++) {
		assert_int_equal(cpu_access(mm, p + i * PAGE_SIZE, buf,
					    PAGE_SIZE, 0), PAGE_SIZE);
		for (unsigned long w = 0; w < WORDS; w++)
			if (buf[w] != word(seed, i, w))
				fail_msg("page %lu word %lu: %#lx, expected "
					 "%#lx", i, w, buf[w],
					 word(seed, i, w));
	}
}

static void check(struct mm_struct *mm, char *p, unsigned long n,
		  unsigned long seed)
{
	check_pages(mm, p, 0, n, seed);
}

static void check_zero(struct mm_struct *mm, char *p, unsigned long n)
{
	unsigned long buf[WORDS];

	for (unsigned long i = 0; i < n; i++) {
		assert_int_equal(cpu_access(mm, p + i * PAGE_SIZE, buf,
					    PAGE_SIZE, 0), PAGE_SIZE);
		for (unsigned long w = 0; w < WORDS; w++)
			if (buf[w])
				fail_msg("page %lu word %lu: %#lx, expected 0",
					 i, w, buf[w]);
	}
}

/* Every page of the range faults (no VMA). */
static void check_unmapped(struct mm_struct *mm, char *p, unsigned long n)
{
	char c;

	for (unsigned long i = 0; i < n; i++) {
		errno = 0;
		assert_int_equal(cpu_access(mm, p + i * PAGE_SIZE, &c, 1, 0),
				 -1);
		assert_int_equal(errno, EFAULT);
	}
}

static void *xmremap(struct mm_struct *mm, void *old, size_t old_len,
		     size_t new_len, int flags, void *new_addr)
{
	void *p = uhmm_mremap(mm, old, old_len, new_len, flags, new_addr);

	assert_ptr_not_equal(p, MAP_FAILED);
	return p;
}

static void expect_fail(void *ret, int err)
{
	assert_ptr_equal(ret, MAP_FAILED);
	assert_int_equal(errno, err);
}

enum pte_kind { PTE_NONE, PTE_PRESENT, PTE_DEVICE_PRIVATE,
		PTE_DEVICE_EXCLUSIVE, PTE_OTHER };

static enum pte_kind pte_kind(struct mm_struct *mm, void *addr)
{
	pte_t pte = pte_at(mm, addr);

	if (pte_present(pte))
		return PTE_PRESENT;
	if (is_swap_pte(pte) && is_device_private_entry(pte_to_swp_entry(pte)))
		return PTE_DEVICE_PRIVATE;
	if (is_swap_pte(pte) &&
	    is_device_exclusive_entry(pte_to_swp_entry(pte)))
		return PTE_DEVICE_EXCLUSIVE;
	return pte_none(pte) ? PTE_NONE : PTE_OTHER;
}

static void expect_pte_kind(struct mm_struct *mm, char *p, unsigned long n,
			    enum pte_kind kind)
{
	for (unsigned long i = 0; i < n; i++)
		if (pte_kind(mm, p + i * PAGE_SIZE) != kind)
			fail_msg("page %lu: PTE kind %d, expected %d", i,
				 pte_kind(mm, p + i * PAGE_SIZE), kind);
}

static int dmirror_run(struct dmirror *d, unsigned int command, void *addr,
		       void *buf, unsigned long npages, uint64_t *cpages)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)addr,
		.ptr = (uintptr_t)buf,
		.npages = npages,
	};
	int ret = dmirror_cmd(d, command, &cmd);

	if (cpages)
		*cpages = cmd.cpages;
	return ret;
}

/* ---- resizing in place ---- */

/* Shrinking unmaps the tail (an UNMAP of it) and keeps the rest. */
static void test_shrink(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, NULL, NPAGES * PAGE_SIZE);

	fill(mm, p, NPAGES, 1);
	assert_ptr_equal(xmremap(mm, p, NPAGES * PAGE_SIZE,
				 NPAGES / 2 * PAGE_SIZE, 0, NULL), p);
	check(mm, p, NPAGES / 2, 1);
	check_unmapped(mm, p + NPAGES / 2 * PAGE_SIZE, NPAGES / 2);
	/* Lengths are rounded up to pages; the same size changes nothing. */
	assert_ptr_equal(xmremap(mm, p, NPAGES / 2 * PAGE_SIZE - 100,
				 NPAGES / 2 * PAGE_SIZE, MREMAP_MAYMOVE,
				 NULL), p);
	check(mm, p, NPAGES / 2, 1);
	uhmm_mm_exit(mm);
}

/* Growing where the space after the VMA is free stays in place; the new
 * part is fresh memory. */
static void test_grow_in_place(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, NULL, 2 * NPAGES * PAGE_SIZE);

	assert_int_equal(uhmm_munmap(mm, p + NPAGES * PAGE_SIZE,
				     NPAGES * PAGE_SIZE), 0);
	fill(mm, p, NPAGES, 2);
	assert_ptr_equal(xmremap(mm, p, NPAGES * PAGE_SIZE,
				 2 * NPAGES * PAGE_SIZE, 0, NULL), p);
	check(mm, p, NPAGES, 2);
	check_zero(mm, p + NPAGES * PAGE_SIZE, NPAGES);
	fill(mm, p, 2 * NPAGES, 3);
	check(mm, p, 2 * NPAGES, 3);
	uhmm_mm_exit(mm);
}

/* Blocked by the next mapping: ENOMEM without MAYMOVE (nothing
 * changes), a move with it; the old range is gone. */
static void test_grow_move(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, NULL, 2 * NPAGES * PAGE_SIZE), *q;

	/* Two VMAs: a different protection after the first. */
	assert_int_equal(uhmm_mprotect(mm, p + NPAGES * PAGE_SIZE,
				       NPAGES * PAGE_SIZE, PROT_READ), 0);
	fill(mm, p, NPAGES, 4);
	expect_fail(uhmm_mremap(mm, p, NPAGES * PAGE_SIZE,
				2 * NPAGES * PAGE_SIZE, 0), ENOMEM);
	check(mm, p, NPAGES, 4);

	q = xmremap(mm, p, NPAGES * PAGE_SIZE, 3 * NPAGES * PAGE_SIZE,
		    MREMAP_MAYMOVE, NULL);
	assert_ptr_not_equal(q, p);
	check(mm, q, NPAGES, 4);
	check_zero(mm, q + NPAGES * PAGE_SIZE, 2 * NPAGES);
	check_unmapped(mm, p, NPAGES);
	/* The read-only VMA after it is untouched. */
	check_zero(mm, p + NPAGES * PAGE_SIZE, 1);
	uhmm_mm_exit(mm);
}

/* ---- moves ---- */

/* MREMAP_FIXED onto another mapping replaces it; the pages move (no
 * copy: the same pfns), and shrinking while moving drops the tail. */
static void test_move_fixed_over_mapping(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, NULL, NPAGES * PAGE_SIZE);
	char *q = map_anon(mm, NULL, NPAGES * PAGE_SIZE);
	unsigned long before;

	fill(mm, p, NPAGES, 5);
	fill(mm, q, NPAGES, 6);
	before = free_pages_now();
	assert_ptr_equal(xmremap(mm, p, NPAGES * PAGE_SIZE,
				 NPAGES / 2 * PAGE_SIZE,
				 MREMAP_MAYMOVE | MREMAP_FIXED, q + PAGE_SIZE),
			 q + PAGE_SIZE);
	check(mm, q + PAGE_SIZE, NPAGES / 2, 5);
	check_unmapped(mm, p, NPAGES);
	/* The parts of q not covered are still q's. */
	{
		unsigned long buf[WORDS];

		assert_int_equal(cpu_access(mm, q, buf, PAGE_SIZE, 0),
				 PAGE_SIZE);
		assert_true(buf[1] == word(6, 0, 1));
		assert_int_equal(cpu_access(mm, q + (NPAGES / 2 + 1) *
					    PAGE_SIZE, buf, PAGE_SIZE, 0),
				 PAGE_SIZE);
		assert_true(buf[1] == word(6, NPAGES / 2 + 1, 1));
	}
	/* Half of p's pages and half of q's were freed, nothing copied
	 * (page tables aside). */
	assert_true(free_pages_now() >= before + NPAGES);
	uhmm_mm_exit(mm);
}

/* MREMAP_DONTUNMAP: the data moves, the old range stays mapped and
 * reads zeros; writing there makes new pages. Without FIXED, a free
 * range is chosen. */
static void test_dontunmap(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, NULL, NPAGES * PAGE_SIZE), *q;
	char *r = free_range(mm, NPAGES * PAGE_SIZE);

	fill(mm, p, NPAGES, 7);
	q = xmremap(mm, p, NPAGES * PAGE_SIZE, NPAGES * PAGE_SIZE,
		    MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
	assert_ptr_not_equal(q, p);
	check(mm, q, NPAGES, 7);
	check_zero(mm, p, NPAGES);
	fill(mm, p, NPAGES, 8);
	check(mm, p, NPAGES, 8);
	check(mm, q, NPAGES, 7);

	/* And to a fixed place, not aligned to a page table. */
	assert_ptr_equal(xmremap(mm, q, NPAGES * PAGE_SIZE, NPAGES * PAGE_SIZE,
				 MREMAP_MAYMOVE | MREMAP_FIXED |
				 MREMAP_DONTUNMAP, r), r);
	check(mm, r, NPAGES, 7);
	check_zero(mm, q, NPAGES);
	uhmm_mm_exit(mm);
}

/* Shared memory moves too; with DONTUNMAP the old range maps the same
 * object again and reads the same data. */
static void test_move_shared(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char *p = uhmm_mmap(mm, NULL, NPAGES * PAGE_SIZE,
			    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			    -1, 0), *q;
	char *r = free_range(mm, NPAGES * PAGE_SIZE);

	assert_ptr_not_equal(p, MAP_FAILED);
	fill(mm, p, NPAGES, 9);
	q = xmremap(mm, p, NPAGES * PAGE_SIZE, NPAGES * PAGE_SIZE,
		    MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, r);
	check(mm, q, NPAGES, 9);
	check(mm, p, NPAGES, 9);
	/* One object behind both. */
	fill(mm, q, 1, 10);
	check(mm, p, 1, 10);
	uhmm_mm_exit(mm);
}

/* ---- errors ---- */

static void test_errors(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, NULL, NPAGES * PAGE_SIZE);
	/* Read-only, so that it does not merge with p. */
	char *q = uhmm_mmap(mm, NULL, NPAGES * PAGE_SIZE, PROT_READ,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *hole = free_range(mm, NPAGES * PAGE_SIZE);
	size_t len = NPAGES * PAGE_SIZE;
	const int mf = MREMAP_MAYMOVE | MREMAP_FIXED;

	assert_ptr_equal(q, p + len);

	fill(mm, p, NPAGES, 11);

	/* EINVAL */
	expect_fail(uhmm_mremap(NULL, p, len, len, 0), EINVAL);
	expect_fail(uhmm_mremap(mm, p, len, len, 8), EINVAL);
	expect_fail(uhmm_mremap(mm, p + 1, len, len, 0), EINVAL);
	expect_fail(uhmm_mremap(mm, p, len, 0, MREMAP_MAYMOVE), EINVAL);
	expect_fail(uhmm_mremap(mm, p, 0, len, MREMAP_MAYMOVE), EINVAL);
	expect_fail(uhmm_mremap(mm, p, len, (size_t)-1, MREMAP_MAYMOVE),
		    EINVAL);
	expect_fail(uhmm_mremap(mm, p, len, len, MREMAP_FIXED, q), EINVAL);
	expect_fail(uhmm_mremap(mm, p, len, len, MREMAP_DONTUNMAP), EINVAL);
	expect_fail(uhmm_mremap(mm, p, len, 2 * len,
				MREMAP_MAYMOVE | MREMAP_DONTUNMAP), EINVAL);
	expect_fail(uhmm_mremap(mm, p, len, len, mf, hole + 1), EINVAL);
	/* Overlap of the old and new ranges, either way round. */
	expect_fail(uhmm_mremap(mm, p, len, len, mf, p + PAGE_SIZE), EINVAL);
	expect_fail(uhmm_mremap(mm, p + PAGE_SIZE, len - PAGE_SIZE,
				len - PAGE_SIZE, mf, p), EINVAL);
	/* Outside the address space. */
	expect_fail(uhmm_mremap(mm, p, len, len, mf,
				(void *)(mm->mmap_base - len)), EINVAL);
	expect_fail(uhmm_mremap(mm, p, len, len, mf,
				(void *)(mm->task_size - PAGE_SIZE)), EINVAL);

	/* EFAULT: nothing mapped, or the range runs past its VMA. */
	expect_fail(uhmm_mremap(mm, hole, len, len, MREMAP_MAYMOVE), EFAULT);
	expect_fail(uhmm_mremap(mm, hole, len, len, mf, hole + 2 * len),
		    EFAULT);
	expect_fail(uhmm_mremap(mm, p, 2 * len, 3 * len, MREMAP_MAYMOVE),
		    EFAULT);
	/* As Linux: the same size is a shrink by nothing, which needs only
	 * old_address mapped. */
	assert_ptr_equal(uhmm_mremap(mm, p, 2 * len, 2 * len, MREMAP_MAYMOVE),
			 p);
	assert_int_equal(uhmm_mprotect(mm, p + len / 2, len / 2, PROT_READ),
			 0);
	expect_fail(uhmm_mremap(mm, p, len, len, mf, hole), EFAULT);

	/* ENOMEM: cannot grow in place without MAYMOVE; larger than the
	 * address space. */
	expect_fail(uhmm_mremap(mm, p, len / 2, len, 0), ENOMEM);
	expect_fail(uhmm_mremap(mm, p, len, mm->task_size - mm->mmap_base +
				PAGE_SIZE, MREMAP_MAYMOVE), ENOMEM);

	/* None of that changed anything. */
	check(mm, p, NPAGES, 11);
	check_zero(mm, q, NPAGES);
	check_unmapped(mm, hole, NPAGES);
	uhmm_mm_exit(mm);
}

/* ---- notifiers ---- */

#define MAX_EVENTS 16

struct recorder {
	struct mmu_interval_notifier sub;
	pthread_mutex_t lock;
	unsigned int n;
	struct mmu_notifier_range ev[MAX_EVENTS];
};

static bool rec_invalidate(struct mmu_interval_notifier *sub,
			   const struct mmu_notifier_range *range,
			   unsigned long cur_seq)
{
	struct recorder *r = container_of(sub, struct recorder, sub);

	pthread_mutex_lock(&r->lock);
	mmu_interval_set_seq(sub, cur_seq);
	if (r->n < MAX_EVENTS)
		r->ev[r->n++] = *range;
	pthread_mutex_unlock(&r->lock);
	return true;
}

static const struct mmu_interval_notifier_ops rec_ops = {
	.invalidate = rec_invalidate,
};

static void recorder_insert(struct recorder *r, struct mm_struct *mm,
			    void *start, size_t len)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	assert_int_equal(mmu_interval_notifier_insert(&r->sub, mm,
			 (unsigned long)start, len, &rec_ops), 0);
}

static void expect_event(struct recorder *r, unsigned int i,
			 enum mmu_notifier_event event, void *start,
			 size_t len)
{
	assert_true(i < r->n);
	assert_int_equal(r->ev[i].event, event);
	assert_int_equal(r->ev[i].start, (unsigned long)start);
	assert_int_equal(r->ev[i].end, (unsigned long)start + len);
	assert_true(r->ev[i].flags & MMU_NOTIFIER_RANGE_BLOCKABLE);
}

/* A move is one UNMAP of the old range, before any PTE changes (a
 * mirror's read_retry fails); a FIXED target is unmapped first; a
 * shrink unmaps the tail; growing in place notifies nothing. */
static void test_notifier_events(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	size_t len = NPAGES * PAGE_SIZE;
	char *p = map_anon(mm, NULL, len), *q = map_anon(mm, NULL, len);
	char *g = map_anon(mm, NULL, 2 * len);
	struct recorder old, target, grow;
	unsigned long seq;

	fill(mm, p, NPAGES, 12);
	assert_int_equal(uhmm_munmap(mm, g + len, len), 0);
	recorder_insert(&old, mm, p, len);
	recorder_insert(&target, mm, q, len);
	recorder_insert(&grow, mm, g, 2 * len);
	seq = mmu_interval_read_begin(&old.sub);

	xmremap(mm, p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, q);
	assert_true(mmu_interval_read_retry(&old.sub, seq));
	assert_int_equal(target.n, 1);
	expect_event(&target, 0, MMU_NOTIFY_UNMAP, q, len);
	assert_int_equal(old.n, 1);
	expect_event(&old, 0, MMU_NOTIFY_UNMAP, p, len);
	check(mm, q, NPAGES, 12);

	/* A shrink. */
	xmremap(mm, q, len, len / 2, 0, NULL);
	assert_int_equal(target.n, 2);
	expect_event(&target, 1, MMU_NOTIFY_UNMAP, q + len / 2, len / 2);

	/* Growing in place. */
	seq = mmu_interval_read_begin(&grow.sub);
	xmremap(mm, g, len, 2 * len, 0, NULL);
	assert_false(mmu_interval_read_retry(&grow.sub, seq));

	mmu_interval_notifier_remove(&old.sub);
	mmu_interval_notifier_remove(&target.sub);
	mmu_interval_notifier_remove(&grow.sub);
	uhmm_mm_exit(mm);
}

/* ---- device memory ---- */

/*
 * Pages on the device move with their mapping and stay there: the
 * device's mirror of the old range is dropped, the new range snapshots
 * as device pages, the device's eviction (migrate_device_range, which
 * finds mappings by address) finds them at the new address, and the
 * CPU reads the data back.
 */
static void device_pages_move(int device, bool evict)
{
	bool coherent = device >= 2;
	unsigned char snap_local = coherent ?
		HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL :
		HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL;
	struct mm_struct *mm = uhmm_mm_create();
	struct dmirror *d = dmirror_open(mm, device);
	size_t len = NPAGES * PAGE_SIZE;
	char *p = map_anon(mm, NULL, len), *q = free_range(mm, len);
	unsigned char *snap = malloc(NPAGES);
	void *buf = malloc(len);
	uint64_t cpages;

	assert_non_null(d);
	fill(mm, p, NPAGES, 13);
	assert_int_equal(dmirror_run(d, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf,
				     NPAGES, &cpages), 0);
	assert_int_equal(cpages, NPAGES);

	assert_ptr_equal(xmremap(mm, p, len, len,
				 MREMAP_MAYMOVE | MREMAP_FIXED, q), q);
	if (!coherent)
		expect_pte_kind(mm, q, NPAGES, PTE_DEVICE_PRIVATE);
	assert_int_equal(dmirror_run(d, HMM_DMIRROR_SNAPSHOT, q, snap, NPAGES,
				     NULL), 0);
	for (unsigned long i = 0; i < NPAGES; i++)
		assert_int_equal(snap[i], snap_local | HMM_DMIRROR_PROT_WRITE);
	/* The device cannot reach the old range any more. */
	assert_int_equal(dmirror_run(d, HMM_DMIRROR_READ, p, buf, NPAGES,
				     NULL), -EFAULT);

	if (evict) {
		assert_int_equal(dmirror_run(d, HMM_DMIRROR_RELEASE, q, buf,
					     NPAGES, NULL), 0);
		expect_pte_kind(mm, q, NPAGES, PTE_PRESENT);
	} else {
		/* The device reads the new range in place. */
		assert_int_equal(dmirror_run(d, HMM_DMIRROR_READ, q, buf,
					     NPAGES, &cpages), 0);
		assert_int_equal(cpages, NPAGES);
		for (unsigned long i = 0; i < NPAGES; i++)
			assert_true(((unsigned long *)buf)[i * WORDS + 3] ==
				    word(13, i, 3));
	}
	check(mm, q, NPAGES, 13);
	check_unmapped(mm, p, NPAGES);

	dmirror_close(d);
	uhmm_mm_exit(mm);
	free(snap);
	free(buf);
}

static void test_device_private_move(void **state)
{
	device_pages_move(0, false);
	device_pages_move(0, true);
}

static void test_device_coherent_move(void **state)
{
	device_pages_move(2, false);
	device_pages_move(2, true);
}

/* Device-exclusive entries move as they are; the device's mapping of
 * the old address is dropped, and the CPU's first touch of the new one
 * takes the page back. */
static void test_device_exclusive_move(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	struct dmirror *d = dmirror_open(mm, 0);
	size_t len = 8 * PAGE_SIZE;
	char *p = map_anon(mm, NULL, len), *q = free_range(mm, len);
	void *buf = malloc(len);
	uint64_t cpages;

	fill(mm, p, 8, 14);
	assert_int_equal(dmirror_run(d, HMM_DMIRROR_EXCLUSIVE, p, buf, 8,
				     &cpages), 0);
	assert_int_equal(cpages, 8);
	expect_pte_kind(mm, p, 8, PTE_DEVICE_EXCLUSIVE);

	assert_ptr_equal(xmremap(mm, p, len, len,
				 MREMAP_MAYMOVE | MREMAP_FIXED, q), q);
	expect_pte_kind(mm, q, 8, PTE_DEVICE_EXCLUSIVE);
	check(mm, q, 8, 14);
	expect_pte_kind(mm, q, 8, PTE_PRESENT);
	fill(mm, q, 8, 15);
	check(mm, q, 8, 15);
	check_unmapped(mm, p, 8);

	dmirror_close(d);
	uhmm_mm_exit(mm);
	free(buf);
}

/*
 * Device pages shared copy-on-write with a fork child: the one that
 * moves gets its own copy in system RAM, the other keeps the device
 * pages at the old address, where the device's eviction still finds
 * them; both see the data, and a write on one side stays there.
 */
static void device_pages_fork_move(int device, bool child_moves)
{
	struct mm_struct *parent = uhmm_mm_create();
	struct dmirror *d = dmirror_open(parent, device);
	size_t len = 16 * PAGE_SIZE;
	char *p = map_anon(parent, NULL, len), *q = free_range(parent, len);
	struct mm_struct *child, *mover, *stayer;
	void *buf = malloc(len);
	uint64_t cpages;

	fill(parent, p, 16, 16);
	assert_int_equal(dmirror_run(d, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, 16,
				     &cpages), 0);
	assert_int_equal(cpages, 16);
	child = uhmm_fork(parent);
	assert_non_null(child);
	mover = child_moves ? child : parent;
	stayer = child_moves ? parent : child;

	assert_ptr_equal(xmremap(mover, p, len, len,
				 MREMAP_MAYMOVE | MREMAP_FIXED, q), q);
	expect_pte_kind(mover, q, 16, PTE_PRESENT);
	if (device < 2)
		expect_pte_kind(stayer, p, 16, PTE_DEVICE_PRIVATE);

	/* Eviction finds the stayer's mappings where they are. */
	assert_int_equal(dmirror_run(d, HMM_DMIRROR_RELEASE, p, buf, 16, NULL),
			 0);
	expect_pte_kind(stayer, p, 16, PTE_PRESENT);

	check(mover, q, 16, 16);
	check(stayer, p, 16, 16);
	check_unmapped(mover, p, 16);
	fill(mover, q, 16, 17);
	check(stayer, p, 16, 16);
	fill(stayer, p, 16, 18);
	check(mover, q, 16, 17);

	uhmm_mm_exit(child);
	dmirror_close(d);
	uhmm_mm_exit(parent);
	free(buf);
}

static void test_device_private_fork(void **state)
{
	device_pages_fork_move(0, false);
	device_pages_fork_move(0, true);
}

struct mover {
	struct mm_struct *mm;
	char *from, *to;
	void *ret;
};

static void *mover_run(void *arg)
{
	struct mover *m = arg;

	m->ret = uhmm_mremap(m->mm, m->from, PAGE_SIZE, PAGE_SIZE,
			     MREMAP_MAYMOVE | MREMAP_FIXED, m->to);
	return NULL;
}

/*
 * The sharing of a device page is decided under its page lock: an
 * eviction that holds migration entries in both a parent and a fork
 * child (the page looks mapped nowhere) and then gives up puts both
 * mappings back while the child's mremap waits for its entry. The move
 * must not take the page along, or the parent's mapping would no longer
 * be at page->index and no eviction could ever find it.
 */
static void test_device_private_fork_evict_race(void **state)
{
	struct mm_struct *parent = uhmm_mm_create(), *child;
	struct dmirror *d = dmirror_open(parent, 0);
	char *p = map_anon(parent, NULL, PAGE_SIZE);
	char *q = free_range(parent, PAGE_SIZE);
	unsigned long src = 0, dst = 0, pfn;
	void *buf = malloc(PAGE_SIZE);
	struct mover m;
	struct page *page;
	pthread_t thread;
	uint64_t cpages;
	pte_t pte;

	fill(parent, p, 1, 40);
	assert_int_equal(dmirror_run(d, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, 1,
				     &cpages), 0);
	assert_int_equal(cpages, 1);
	child = uhmm_fork(parent);
	assert_non_null(child);
	pte = pte_at(parent, p);
	pfn = swp_offset(pte_to_swp_entry(pte));
	page = pfn_to_page(pfn);
	assert_int_equal(page_mapcount(page), 2);

	assert_int_equal(migrate_device_range(&src, pfn, 1), 0);
	assert_true(src & MIGRATE_PFN_MIGRATE);
	m = (struct mover){ .mm = child, .from = p, .to = q };
	pthread_create(&thread, NULL, mover_run, &m);
	usleep(100000);		/* likely waiting on the entry by now */
	migrate_device_pages(&src, &dst, 1);	/* no destination: stays */
	migrate_device_finalize(&src, &dst, 1);
	pthread_join(thread, NULL);
	assert_ptr_equal(m.ret, q);

	/* The child has its own copy; the parent's mapping is where the
	 * page says, and eviction moves it. */
	expect_pte_kind(child, q, 1, PTE_PRESENT);
	expect_pte_kind(parent, p, 1, PTE_DEVICE_PRIVATE);
	assert_int_equal(page->index, (unsigned long)p);
	assert_int_equal(dmirror_run(d, HMM_DMIRROR_RELEASE, p, buf, 1, NULL),
			 0);
	expect_pte_kind(parent, p, 1, PTE_PRESENT);
	check(parent, p, 1, 40);
	check(child, q, 1, 40);

	uhmm_mm_exit(child);
	dmirror_close(d);
	uhmm_mm_exit(parent);
	free(buf);
}

static void test_device_coherent_fork(void **state)
{
	device_pages_fork_move(2, false);
	device_pages_fork_move(2, true);
}

/* ---- concurrency ---- */

struct toucher {
	struct mm_struct *mm;
	char *p;			/* the old range */
	unsigned long first, npages;	/* readers: the pages they read */
	bool dontunmap;
	atomic_bool *stop;
	unsigned long seed;
	unsigned long last_written;	/* writer: last store that landed */
	atomic_ulong reads;
	unsigned long faults;
	int bad_errno;			/* a fault other than expected */
	bool stale;			/* data that should not be there */
};

/*
 * Read pages of the old range as it moves: each word read is the data,
 * or (DONTUNMAP, after the move) zero; or the read faults (the range is
 * gone). Never anything else. Failures are left for the main thread to
 * assert on.
 */
static void *reader(void *arg)
{
	struct toucher *t = arg;
	unsigned long buf[WORDS];

	for (unsigned long n = 0; !atomic_load(t->stop); n++) {
		unsigned long i = t->first + n % t->npages;

		if (cpu_access(t->mm, t->p + i * PAGE_SIZE, buf, PAGE_SIZE,
			       0) < 0) {
			if (errno != EFAULT || t->dontunmap)
				t->bad_errno = errno;
			t->faults++;
			break;
		}
		atomic_fetch_add(&t->reads, 1);
		/* A copy that the move cuts in two reads the rest of the
		 * page after its fault: with DONTUNMAP, zeros. */
		for (unsigned long w = 0; w < WORDS; w++)
			if (buf[w] != word(t->seed, i, w) &&
			    !(t->dontunmap && buf[w] == 0)) {
				t->stale = true;
				fprintf(stderr, "# page %lu word %lu: %#lx\n",
					i, w, buf[w]);
				break;
			}
		if (t->stale)
			break;
	}
	return NULL;
}

/* Store a growing count into the last word of page 0 until it faults. */
static void *writer(void *arg)
{
	struct toucher *t = arg;
	unsigned long *slot = (unsigned long *)(t->p + PAGE_SIZE) - 1;

	for (unsigned long v = 1;; v++) {
		if (cpu_access(t->mm, slot, &v, sizeof(v), 1) < 0) {
			if (errno != EFAULT)
				t->bad_errno = errno;
			t->faults++;
			break;
		}
		t->last_written = v;
		atomic_fetch_add(&t->reads, 1);
	}
	return NULL;
}

/*
 * Readers (and without DONTUNMAP a writer) on the old range while it
 * moves. Without DONTUNMAP each ends with one fault, and the writer's
 * last store that landed is what the new range holds.
 */
static void threads_race(bool dontunmap)
{
	enum { READERS = 3, W = READERS };
	struct mm_struct *mm = uhmm_mm_create();
	size_t len = NPAGES * PAGE_SIZE;
	char *p = map_anon(mm, NULL, len), *q = free_range(mm, len);
	pthread_t th[READERS + 1];
	struct toucher t[READERS + 1];
	atomic_bool stop = false;
	unsigned long buf[WORDS];
	int flags = MREMAP_MAYMOVE | MREMAP_FIXED;
	int nthreads = READERS + !dontunmap;

	if (dontunmap)
		flags |= MREMAP_DONTUNMAP;
	fill(mm, p, NPAGES, 19);
	for (int i = 0; i < nthreads; i++) {
		/* The writer's page 0 is not the pattern: readers skip it. */
		t[i] = (struct toucher){ .mm = mm, .p = p, .first = 1,
					 .npages = NPAGES - 1,
					 .dontunmap = dontunmap, .stop = &stop,
					 .seed = 19 };
		assert_int_equal(pthread_create(&th[i], NULL,
				 i == W ? writer : reader, &t[i]), 0);
	}
	/* Let them all get going in the range first. */
	for (int i = 0; i < nthreads; i++)
		while (atomic_load(&t[i].reads) < 4 && !t[i].faults &&
		       !t[i].stale)
			sched_yield();
	assert_ptr_equal(xmremap(mm, p, len, len, flags, q), q);
	if (dontunmap) {
		for (int i = 0; i < 1000; i++)
			sched_yield();
		atomic_store(&stop, true);
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].bad_errno, 0);
		assert_false(t[i].stale);
		assert_int_equal(t[i].faults, !dontunmap);
	}

	check_pages(mm, q, 1, NPAGES - 1, 19);
	if (!dontunmap) {
		/* Every store that landed before the move is at the new
		 * address, and none landed after it. */
		assert_int_equal(cpu_access(mm, q, buf, PAGE_SIZE, 0),
				 PAGE_SIZE);
		assert_true(buf[WORDS - 1] == t[W].last_written);
	}
	uhmm_mm_exit(mm);
}

static void test_threads_race(void **state)
{
	threads_race(false);
	threads_race(true);
}


/*
 * The device evicts its memory (migrate_device_range: no mmap_lock,
 * migration entries found by address) while the range moves back and
 * forth: the move waits for the entries to go, the eviction finds each
 * page where it is mapped, and no data is lost.
 */
struct evictor {
	struct dmirror *d;
	pthread_barrier_t *barrier;
	int iterations;
	int err;
};

static void *evict_loop(void *arg)
{
	struct evictor *e = arg;
	struct hmm_dmirror_cmd cmd = { .npages = 1 };

	for (int i = 0; i < e->iterations; i++) {
		pthread_barrier_wait(e->barrier);
		cmd.addr = 0;
		if (dmirror_cmd(e->d, HMM_DMIRROR_RELEASE, &cmd) && !e->err)
			e->err = -1;
		pthread_barrier_wait(e->barrier);
	}
	return NULL;
}

static void spin_us(long us)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000 +
	       (t.tv_nsec - t0.tv_nsec) / 1000 < us);
}

static void test_evict_race(void **state)
{
	enum { ITERATIONS = 40, PAGES = 32 };
	struct mm_struct *mm = uhmm_mm_create();
	struct dmirror *d = dmirror_open(mm, 0);
	size_t len = PAGES * PAGE_SIZE;
	char *a = map_anon(mm, NULL, len), *b = free_range(mm, len);
	pthread_barrier_t barrier;
	struct evictor e = { .d = d, .barrier = &barrier,
			     .iterations = ITERATIONS };
	void *buf = malloc(len);
	pthread_t th;

	pthread_barrier_init(&barrier, NULL, 2);
	fill(mm, a, PAGES, 20);
	assert_int_equal(pthread_create(&th, NULL, evict_loop, &e), 0);
	for (int i = 0; i < ITERATIONS; i++) {
		char *from = i & 1 ? b : a, *to = i & 1 ? a : b;
		uint64_t cpages;

		assert_int_equal(dmirror_run(d, HMM_DMIRROR_MIGRATE_TO_DEV,
					     from, buf, PAGES, &cpages), 0);
		assert_int_equal(cpages, PAGES);
		pthread_barrier_wait(&barrier);
		/* Give the eviction head starts from 0 to about its whole
		 * run (under a millisecond). */
		spin_us((i % 10) * 60);
		assert_ptr_equal(xmremap(mm, from, len, len,
					 MREMAP_MAYMOVE | MREMAP_FIXED, to),
				 to);
		pthread_barrier_wait(&barrier);
		check(mm, to, PAGES, 20);
		check_unmapped(mm, from, PAGES);
	}
	pthread_join(th, NULL);
	assert_int_equal(e.err, 0);
	pthread_barrier_destroy(&barrier);
	dmirror_close(d);
	uhmm_mm_exit(mm);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_shrink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grow_in_place, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_grow_move, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_move_fixed_over_mapping,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_dontunmap, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_move_shared, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notifier_events, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_device_private_move,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_coherent_move,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_exclusive_move,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_private_fork,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_coherent_fork,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_device_private_fork_evict_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_race, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_evict_race, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
