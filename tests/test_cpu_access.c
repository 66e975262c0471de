// SPDX-License-Identifier: MIT
/*
 * Plain loads and stores into managed memory (src/cpu): the address is
 * the pointer for the first mm, faults fill blocks of pages, a touch
 * after munmap or against the protection faults as in the kernel, fork
 * is copy-on-write both ways through uhmm_ptr(), device pages come back
 * on a touch, threads race munmap, mprotect, madvise and migrations
 * without losing a write, and the host's mapping count stays bounded.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>
#include <stdatomic.h>

#include "test_util.h"
#include "cpu/window.h"
#include "mm/mm_internal.h"

#define MB (1UL << 20)

/* ---- catching the faults the kernel would deliver ---- */

/* volatile: the compiler must not drop the store before the access. */
static __thread sigjmp_buf *volatile catch_jmp;
static __thread int caught_sig, caught_code;

static void catch_handler(int sig, siginfo_t *info, void *ctx)
{
	if (uhmm_handle_fault(info, ctx))
		return;
	if (catch_jmp) {
		caught_sig = info->si_signo;
		caught_code = info->si_code;
		siglongjmp(*catch_jmp, 1);
	}
	signal(sig, SIG_DFL);
}

static void install_catch_handler(void)
{
	struct sigaction act = { .sa_sigaction = catch_handler,
				 .sa_flags = SA_SIGINFO };

	sigemptyset(&act.sa_mask);
	sigaction(SIGSEGV, &act, NULL);
}

/* Store (write) or load one byte at p: 0, or the signal it raised.
 * Relaxed atomics: writers share some pages on purpose. */
static int touch(char *p, int write, char val)
{
	sigjmp_buf jmp;

	caught_sig = 0;
	if (sigsetjmp(jmp, 1)) {
		catch_jmp = NULL;
		return caught_sig;
	}
	catch_jmp = &jmp;
	if (write)
		__atomic_store_n(p, val, __ATOMIC_RELAXED);
	else
		(void)__atomic_load_n(p, __ATOMIC_RELAXED);
	catch_jmp = NULL;
	return 0;
}

static char *map_anon(struct mm_struct *mm, size_t len)
{
	char *p = uhmm_mmap(mm, NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_ptr_not_equal(p, MAP_FAILED);
	return p;
}

static unsigned int anon_block_pages(void)
{
	const char *env = getenv("UHMM_ANON_BLOCK");

	return env ? (unsigned int)atoi(env) : 16;
}

/* Host mappings that lie inside [start, end) (from /proc/self/maps). */
static unsigned long host_mappings(void *start, void *end)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long lo, hi, n = 0;
	char line[512];

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 &&
		    lo >= (unsigned long)start && hi <= (unsigned long)end)
			n++;
	fclose(f);
	return n;
}

/* ---- tests ---- */

/* The first mm's addresses are pointers; data written either way is
 * seen the other way. */
static void test_address_is_pointer(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, 4 * PAGE_SIZE);
	char buf[16];

	install_catch_handler();
	assert_ptr_equal(uhmm_ptr(mm, p), p);
	assert_null(uhmm_ptr(mm, NULL));
	assert_null(uhmm_ptr(NULL, p));
	strcpy(p + 100, "through a pointer");
	assert_int_equal(uhmm_access(mm, p + 100, buf, 8, 0), 8);
	assert_memory_equal(buf, "through ", 8);
	assert_int_equal(uhmm_access(mm, p + PAGE_SIZE, "uhmm_access", 12, 1),
			 12);
	assert_string_equal(p + PAGE_SIZE, "uhmm_access");
	uhmm_mm_exit(mm);
}

/* A first write fills an aligned block of the VMA; a first read maps the
 * zero page over its block; neither leaves the VMA. */
static void test_first_touch_blocks(void **state)
{
	unsigned long block = anon_block_pages(), before = free_pages_now();
	struct mm_struct *mm = uhmm_mm_create();
	char *r = map_anon(mm, 16 * block * PAGE_SIZE);
	char *p = (char *)ALIGN_UP((unsigned long)r, block * PAGE_SIZE);
	char *edge = p + 8 * block * PAGE_SIZE + PAGE_SIZE;

	install_catch_handler();
	assert_int_equal(touch(p + (2 * block - 1) * PAGE_SIZE, 1, 'x'), 0);
	assert_int_equal(atomic_load(&mm->rss_pages), (long)block);
	for (unsigned long i = 0; i < 3 * block; i++) {
		pte_t pte = pte_at(mm, p + i * PAGE_SIZE);
		bool in = i >= block && i < 2 * block;

		assert_int_equal(pte_present(pte), in);
		if (in)
			assert_true(pte_write(pte));
	}
	/* The block's pages follow each other in RAM. */
	assert_int_equal(pte_pfn(pte_at(mm, p + (2 * block - 1) * PAGE_SIZE)),
			 pte_pfn(pte_at(mm, p + block * PAGE_SIZE)) + block - 1);

	assert_int_equal(touch(p + 4 * block * PAGE_SIZE, 0, 0), 0);
	for (unsigned long i = 4 * block; i < 5 * block; i++)
		assert_ptr_equal(pfn_to_page(pte_pfn(pte_at(mm,
				 p + i * PAGE_SIZE))), zero_page());
	assert_true(pte_none(pte_at(mm, p + 5 * block * PAGE_SIZE)));
	assert_int_equal(atomic_load(&mm->rss_pages), (long)block);
	assert_int_equal(p[4 * block * PAGE_SIZE + 5], 0);

	/* A VMA of three pages between two holes: nothing outside it. */
	assert_int_equal(uhmm_munmap(mm, edge - PAGE_SIZE, PAGE_SIZE), 0);
	assert_int_equal(uhmm_munmap(mm, edge + 3 * PAGE_SIZE, PAGE_SIZE), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(touch(edge + i * PAGE_SIZE, 1, (char)i), 0);
	assert_int_equal(atomic_load(&mm->rss_pages), (long)block + 3);
	assert_int_equal(touch(edge + 3 * PAGE_SIZE, 0, 0), SIGSEGV);

	uhmm_mm_exit(mm);
	assert_int_equal(free_pages_now(), before);
}

/* Touches after munmap, against PROT_NONE, and writes to a read-only
 * mapping fault with the kernel's signal and code; data stays. */
static void test_faults_as_kernel(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, 16 * PAGE_SIZE);

	install_catch_handler();
	assert_int_equal(touch(p, 1, 'a'), 0);
	assert_int_equal(uhmm_mprotect(mm, p, 16 * PAGE_SIZE, PROT_READ), 0);
	assert_int_equal(touch(p, 1, 'b'), SIGSEGV);
	assert_int_equal(caught_code, SEGV_ACCERR);
	assert_int_equal(touch(p, 0, 0), 0);
	assert_int_equal(p[0], 'a');

	assert_int_equal(uhmm_mprotect(mm, p, 16 * PAGE_SIZE, PROT_NONE), 0);
	assert_int_equal(touch(p, 0, 0), SIGSEGV);
	assert_int_equal(caught_code, SEGV_ACCERR);

	assert_int_equal(uhmm_mprotect(mm, p, 16 * PAGE_SIZE,
				       PROT_READ | PROT_WRITE), 0);
	assert_int_equal(touch(p, 1, 'c'), 0);
	assert_int_equal(p[0], 'c');

	assert_int_equal(uhmm_madvise(mm, p, 16 * PAGE_SIZE, MADV_DONTNEED),
			 0);
	assert_int_equal(p[0], 0);

	assert_int_equal(uhmm_munmap(mm, p, 16 * PAGE_SIZE), 0);
	assert_int_equal(touch(p, 0, 0), SIGSEGV);
	assert_int_equal(caught_code, SEGV_MAPERR);
	assert_int_equal(touch(p + 15 * PAGE_SIZE, 1, 1), SIGSEGV);
	uhmm_mm_exit(mm);
}

/* A shared file mapping written through a pointer reaches the file. */
static void test_file_shared(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char path[] = "/tmp/uhmm-cpu-XXXXXX", buf[8] = { 0 };
	int fd = mkstemp(path);
	char *p;

	install_catch_handler();
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, 2 * PAGE_SIZE), 0);
	p = uhmm_mmap(mm, NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
		      MAP_SHARED, fd, 0);
	assert_ptr_not_equal(p, MAP_FAILED);
	assert_int_equal(p[PAGE_SIZE], 0);	/* read first: mapped clean */
	memcpy(p + PAGE_SIZE, "shared", 7);	/* then the write traps */
	assert_int_equal(uhmm_msync(mm, p, 2 * PAGE_SIZE, MS_SYNC), 0);
	assert_int_equal(pread(fd, buf, 7, PAGE_SIZE), 7);
	assert_string_equal(buf, "shared");
	/* msync cleaned it: the next write traps again and is written. */
	p[PAGE_SIZE] = 'S';
	assert_int_equal(uhmm_msync(mm, p, 2 * PAGE_SIZE, MS_SYNC), 0);
	assert_int_equal(pread(fd, buf, 1, PAGE_SIZE), 1);
	assert_int_equal(buf[0], 'S');
	uhmm_mm_exit(mm);
	close(fd);
}

/* fork: the child is reached through uhmm_ptr(); copy-on-write holds in
 * both directions, and a child write after the parent's is its own. */
static void test_fork_cow(void **state)
{
	unsigned long before = free_pages_now();
	struct mm_struct *parent = uhmm_mm_create(), *child;
	char *p = map_anon(parent, 64 * PAGE_SIZE), *c;

	install_catch_handler();
	for (int i = 0; i < 64; i++)
		p[i * PAGE_SIZE] = 'P';
	child = uhmm_fork(parent);
	assert_non_null(child);
	c = uhmm_ptr(child, p);
	assert_non_null(c);
	assert_ptr_not_equal(c, p);
	for (int i = 0; i < 64; i++)
		assert_int_equal(c[i * PAGE_SIZE], 'P');
	c[0] = 'C';
	p[PAGE_SIZE] = 'Q';
	assert_int_equal(p[0], 'P');
	assert_int_equal(c[0], 'C');
	assert_int_equal(c[PAGE_SIZE], 'P');
	assert_int_equal(p[PAGE_SIZE], 'Q');
	for (int i = 2; i < 64; i++) {
		c[i * PAGE_SIZE + 1] = 'c';
		assert_int_equal(p[i * PAGE_SIZE + 1], 0);
	}
	uhmm_mm_exit(child);
	/* The child's window is gone with it. */
	assert_int_equal(touch(c, 0, 0), SIGSEGV);
	assert_int_equal(p[2 * PAGE_SIZE], 'P');
	uhmm_mm_exit(parent);
	assert_int_equal(free_pages_now(), before);
}

/* A touch of a device-private page brings it back; a device-coherent
 * page is used in place. */
static void test_device_pages(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, 8 * PAGE_SIZE);
	char *buf = malloc(8 * PAGE_SIZE);
	unsigned char snap[8];
	struct hmm_dmirror_cmd cmd = { .addr = (uintptr_t)p,
				       .ptr = (uintptr_t)buf, .npages = 8 };
	struct dmirror *priv = dmirror_open(mm, 0), *coh = dmirror_open(mm, 2);

	install_catch_handler();
	assert_non_null(priv);
	assert_non_null(coh);
	for (int i = 0; i < 8; i++)
		p[i * PAGE_SIZE] = (char)(i + 1);

	assert_int_equal(dmirror_cmd(priv, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd), 0);
	assert_int_equal(cmd.cpages, 8);
	assert_int_equal(touch(p, 0, 0), 0);	/* faults it back */
	assert_int_equal(p[3 * PAGE_SIZE], 4);
	p[5 * PAGE_SIZE] = 'w';
	cmd.ptr = (uintptr_t)snap;
	assert_int_equal(dmirror_cmd(priv, HMM_DMIRROR_SNAPSHOT, &cmd), 0);
	assert_int_equal(snap[0], HMM_DMIRROR_PROT_WRITE);
	assert_int_equal(snap[5], HMM_DMIRROR_PROT_WRITE);

	cmd.ptr = (uintptr_t)buf;
	assert_int_equal(dmirror_cmd(priv, HMM_DMIRROR_MIGRATE_TO_SYS, &cmd), 0);
	assert_int_equal(dmirror_cmd(coh, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd), 0);
	assert_int_equal(cmd.cpages, 8);
	assert_int_equal(p[5 * PAGE_SIZE], 'w');
	p[6 * PAGE_SIZE] = 'z';
	cmd.ptr = (uintptr_t)snap;
	assert_int_equal(dmirror_cmd(coh, HMM_DMIRROR_SNAPSHOT, &cmd), 0);
	assert_int_equal(snap[6], HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL |
				  HMM_DMIRROR_PROT_WRITE);
	cmd.ptr = (uintptr_t)buf;
	assert_int_equal(dmirror_cmd(coh, HMM_DMIRROR_READ, &cmd), 0);
	assert_int_equal(buf[6 * PAGE_SIZE], 'z');

	/* Exclusive access: a CPU store takes the page back. */
	assert_int_equal(dmirror_cmd(coh, HMM_DMIRROR_MIGRATE_TO_SYS, &cmd), 0);
	assert_int_equal(dmirror_cmd(priv, HMM_DMIRROR_EXCLUSIVE, &cmd), 0);
	assert_int_equal(dmirror_cmd(priv, HMM_DMIRROR_CHECK_EXCLUSIVE, &cmd),
			 -EPERM);
	for (int i = 0; i < 8; i++)
		p[i * PAGE_SIZE] = 'e';
	/* Every store ended an exclusive entry, and the device's atomic
	 * mapping with it. */
	assert_int_equal(dmirror_cmd(priv, HMM_DMIRROR_CHECK_EXCLUSIVE, &cmd),
			 0);
	assert_int_equal(p[7 * PAGE_SIZE], 'e');

	dmirror_close(priv);
	dmirror_close(coh);
	uhmm_mm_exit(mm);
	free(buf);
}

/*
 * Pages that come back from a device are mapped old, as the kernel maps
 * them when their migration entry was not young; only a young PTE may be
 * in a host mapping, so migrating them out again needs no shootdown.
 * One the CPU touched since is young and is shot down: the CPU then sees
 * what the device wrote, not the old copy.
 */
static void test_migrated_back_pages_are_old(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, 16 * PAGE_SIZE);
	char *buf = malloc(16 * PAGE_SIZE);
	struct hmm_dmirror_cmd cmd = { .addr = (uintptr_t)p,
				       .ptr = (uintptr_t)buf, .npages = 16 };
	struct dmirror *d = dmirror_open(mm, 0);

	install_catch_handler();
	assert_non_null(d);
	for (int i = 0; i < 16; i++)
		p[i * PAGE_SIZE] = (char)(i + 1);
	assert_true(pte_young(pte_at(mm, p)));
	assert_int_equal(dmirror_cmd(d, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd), 0);
	assert_int_equal(cmd.cpages, 16);
	assert_int_equal(dmirror_cmd(d, HMM_DMIRROR_MIGRATE_TO_SYS, &cmd), 0);
	assert_int_equal(cmd.cpages, 16);
	for (int i = 0; i < 16; i++) {
		pte_t pte = pte_at(mm, p + i * PAGE_SIZE);

		assert_true(pte_present(pte) && pte_write(pte));
		assert_false(pte_young(pte));
	}

	/* The CPU reads the first page: it is young now, and so is every
	 * page the host mapped with it (with blocks, the whole block). */
	assert_int_equal(p[0], 1);
	assert_true(pte_young(pte_at(mm, p)));

	/* The device takes the other pages and writes them; the CPU must
	 * see the device's bytes, on the pages the host mapped with the
	 * first one too. */
	cmd.addr = (uintptr_t)(p + PAGE_SIZE);
	cmd.npages = 15;
	assert_int_equal(dmirror_cmd(d, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd), 0);
	assert_int_equal(cmd.cpages, 15);
	memset(buf, 'D', 15 * PAGE_SIZE);
	assert_int_equal(dmirror_cmd(d, HMM_DMIRROR_WRITE, &cmd), 0);
	for (int i = 1; i < 16; i++)
		assert_int_equal(p[i * PAGE_SIZE + 7], 'D');
	assert_int_equal(p[0], 1);

	dmirror_close(d);
	uhmm_mm_exit(mm);
	free(buf);
}

/*
 * A shootdown of a page inside a host mapping: guard markers where the
 * host has them, which split nothing; else a PROT_NONE mapping, which
 * splits it in three. Either way the next touch faults and sees the page
 * as it is now.
 */
static void test_shootdown_of_one_page(void **state)
{
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, 16 * PAGE_SIZE);
	char *buf = malloc(PAGE_SIZE);
	struct hmm_dmirror_cmd cmd = { .addr = (uintptr_t)(p + 5 * PAGE_SIZE),
				       .ptr = (uintptr_t)buf, .npages = 1 };
	struct dmirror *d = dmirror_open(mm, 0);
	unsigned long before, after;

	install_catch_handler();
	assert_non_null(d);
	for (int i = 0; i < 16; i++)
		p[i * PAGE_SIZE] = (char)(i + 1);
	before = host_mappings(p, p + 16 * PAGE_SIZE);
	assert_int_equal(dmirror_cmd(d, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd), 0);
	assert_int_equal(cmd.cpages, 1);
	after = host_mappings(p, p + 16 * PAGE_SIZE);
	if (host_guard)
		assert_int_equal(after, before);
	else
		assert_true(after > before);
	memset(buf, 'D', PAGE_SIZE);
	assert_int_equal(dmirror_cmd(d, HMM_DMIRROR_WRITE, &cmd), 0);
	assert_int_equal(p[5 * PAGE_SIZE + 1], 'D');
	assert_int_equal(p[4 * PAGE_SIZE], 5);
	assert_int_equal(p[6 * PAGE_SIZE], 7);
	/* Its neighbours were mapped all along; write-protecting drops the
	 * mark with the host's mappings. */
	for (int i = 4; i <= 6; i++)
		assert_true(pte_host_mapped(pte_at(mm, p + i * PAGE_SIZE)));
	assert_int_equal(uhmm_mprotect(mm, p, 16 * PAGE_SIZE, PROT_READ), 0);
	for (int i = 0; i < 16; i++)
		assert_false(pte_host_mapped(pte_at(mm, p + i * PAGE_SIZE)));
	assert_int_equal(p[6 * PAGE_SIZE], 7);
	assert_true(pte_host_mapped(pte_at(mm, p + 6 * PAGE_SIZE)));

	dmirror_close(d);
	uhmm_mm_exit(mm);
	free(buf);
}

/*
 * Writers store to their own words and add to shared counters through
 * pointers, in a region that a disturber mprotects read-only and back
 * and migrates to a device and back; its other regions it munmaps and
 * maps again, and madvises away, while the writers touch them too. No
 * write to the stable region is lost; a touch of an unmapped page
 * faults and is caught.
 */
#define STABLE_PAGES	64
#define NWRITERS	3
#define ROUNDS		2000

static struct mm_struct *race_mm;
static char *stable, *unstable;
static atomic_bool race_stop;
static atomic_long race_faults;

struct slot { uint64_t own[NWRITERS]; uint64_t shared; };

/* Store r and add 1 through a pointer, again after each fault. */
static void store_until_done(struct slot *s, long id, uint64_t r)
{
	sigjmp_buf jmp;

	/* Read-only or migrating for a while: try until it is writable. */
	if (sigsetjmp(jmp, 1))
		atomic_fetch_add(&race_faults, 1);
	catch_jmp = &jmp;
	s->own[id] = r;
	__atomic_fetch_add(&s->shared, 1, __ATOMIC_RELAXED);
	catch_jmp = NULL;
}

static void *race_writer(void *arg)
{
	long id = (long)arg;
	unsigned int seed = (unsigned int)id + 1;

	for (uint64_t r = 1; r <= ROUNDS; r++) {
		for (int i = 0; i < STABLE_PAGES; i++)
			store_until_done((struct slot *)(stable +
					 i * PAGE_SIZE), id, r);
		if (touch(unstable + (rand_r(&seed) % 32) * PAGE_SIZE, 1,
			  (char)r))
			atomic_fetch_add(&race_faults, 1);
	}
	return NULL;
}

static void *race_disturber(void *arg)
{
	struct dmirror *d = dmirror_open(race_mm, 0);
	char *buf = malloc(STABLE_PAGES * PAGE_SIZE);
	unsigned int seed = 7;

	(void)arg;
	while (!atomic_load(&race_stop)) {
		struct hmm_dmirror_cmd cmd = { .addr = (uintptr_t)stable,
					       .ptr = (uintptr_t)buf,
					       .npages = STABLE_PAGES };

		switch (rand_r(&seed) % 5) {
		case 0:
			uhmm_mprotect(race_mm, stable,
				      STABLE_PAGES * PAGE_SIZE, PROT_READ);
			sched_yield();
			uhmm_mprotect(race_mm, stable, STABLE_PAGES * PAGE_SIZE,
				      PROT_READ | PROT_WRITE);
			break;
		case 1:
			dmirror_cmd(d, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd);
			break;
		case 2:
			dmirror_cmd(d, HMM_DMIRROR_MIGRATE_TO_SYS, &cmd);
			break;
		case 3:
			uhmm_munmap(race_mm, unstable, 16 * PAGE_SIZE);
			sched_yield();
			uhmm_mmap(race_mm, unstable, 16 * PAGE_SIZE,
				  PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			break;
		case 4:
			uhmm_madvise(race_mm, unstable + 16 * PAGE_SIZE,
				     16 * PAGE_SIZE, MADV_DONTNEED);
			break;
		}
	}
	dmirror_close(d);
	free(buf);
	return NULL;
}

static void test_threads_race_unmap_mprotect_migrate(void **state)
{
	pthread_t writers[NWRITERS], disturber;

	install_catch_handler();
	race_mm = uhmm_mm_create();
	stable = map_anon(race_mm, STABLE_PAGES * PAGE_SIZE);
	unstable = map_anon(race_mm, 32 * PAGE_SIZE);
	atomic_store(&race_stop, false);
	pthread_create(&disturber, NULL, race_disturber, NULL);
	for (long i = 0; i < NWRITERS; i++)
		pthread_create(&writers[i], NULL, race_writer, (void *)i);
	for (int i = 0; i < NWRITERS; i++)
		pthread_join(writers[i], NULL);
	atomic_store(&race_stop, true);
	pthread_join(disturber, NULL);

	for (int i = 0; i < STABLE_PAGES; i++) {
		struct slot *s = uhmm_ptr(race_mm, stable + i * PAGE_SIZE);

		for (int w = 0; w < NWRITERS; w++)
			assert_int_equal(s->own[w], ROUNDS);
		assert_int_equal(s->shared, (uint64_t)ROUNDS * NWRITERS);
	}
	print_message("# %ld faults caught\n", atomic_load(&race_faults));
	uhmm_mm_exit(race_mm);
}

/*
 * Every page of a large region, touched by two threads in random order
 * and then read back, under the host's default vm.max_map_count; in
 * order, the host needs few mappings for it.
 */
static size_t big_size(void)
{
	const char *env = getenv("UHMM_TEST_BIG");

	return env ? strtoul(env, NULL, 0) << 20 : 1UL << 30;
}

struct big_arg { uint64_t *base; unsigned long npages, first; };

static void *big_writer(void *arg)
{
	struct big_arg *b = arg;
	unsigned long n = b->npages;

	/* A stride coprime with n visits every page once, out of order. */
	for (unsigned long k = b->first; k < n; k += 2) {
		unsigned long i = (k * 40503UL) % n;

		b->base[i * (PAGE_SIZE / 8)] = i + 1;
	}
	return NULL;
}

static void test_large_region_map_count(void **state)
{
	size_t size = big_size();
	unsigned long npages = size / PAGE_SIZE, maps;
	struct mm_struct *mm = uhmm_mm_create();
	uint64_t *p = (uint64_t *)map_anon(mm, size);
	uint64_t *q = (uint64_t *)map_anon(mm, size / 4);
	struct big_arg args[2];
	pthread_t t[2];

	install_catch_handler();
	for (int i = 0; i < 2; i++) {
		args[i] = (struct big_arg){ p, npages, (unsigned long)i };
		pthread_create(&t[i], NULL, big_writer, &args[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (unsigned long i = 0; i < npages; i++)
		assert_int_equal(p[i * (PAGE_SIZE / 8)], i + 1);
	maps = host_mappings(p, (char *)p + size);
	print_message("# %lu MiB touched at random: %lu host mappings\n",
		      size >> 20, maps);
	assert_true(maps < 65530);
	assert_int_equal(uhmm_munmap(mm, p, size), 0);

	/* In order, adjacent pages get adjacent pfns. */
	for (unsigned long i = 0; i < npages / 4; i++)
		q[i * (PAGE_SIZE / 8)] = i;
	maps = host_mappings(q, (char *)q + size / 4);
	print_message("# %lu MiB touched in order: %lu host mappings\n",
		      size >> 22, maps);
	/* At most a mapping or two per page table, against 65,536 pages. */
	assert_true(maps <= 2 * (size / 4 / PMD_SIZE));
	uhmm_mm_exit(mm);
}

static unsigned long host_max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	unsigned long n = 65530;

	if (f) {
		if (fscanf(f, "%lu", &n) != 1)
			n = 65530;
		fclose(f);
	}
	return n;
}

/*
 * More host mappings than the host allows (vm.max_map_count): reads of
 * every other block map the zero page, one host mapping each with a gap
 * after it. uhmm empties its windows before the process gets close to
 * the limit, so the rest of the process can always map (malloc, thread
 * stacks, a sanitizer). Then writes into the gaps, and every value is
 * where it belongs.
 */
static void test_host_mapping_limit(void **state)
{
	unsigned long block = anon_block_pages() * PAGE_SIZE;
	unsigned long n = host_max_map_count() / 2 + 4096, maps;
	struct mm_struct *mm = uhmm_mm_create();
	char *p = map_anon(mm, n * 2 * block);

	install_catch_handler();
	for (unsigned long i = 0; i < n; i++) {
		assert_int_equal(touch(p + i * 2 * block, 0, 0), 0);
		/* Without the budget the count would pass every value up
		 * to the limit, 2 a read: seen within 2048 of it. */
		if (!(i % 512))
			assert_true(host_mappings(NULL, (void *)-1UL) <
				    host_max_map_count() - 2048);
	}
	maps = host_mappings(p, p + n * 2 * block);
	/* 2n would be past the limit: the window was emptied on the way. */
	assert_true(maps < host_max_map_count());
	for (unsigned long i = 0; i < n; i += 7)
		p[i * 2 * block + block] = (char)(i | 1);
	for (unsigned long i = 0; i < n; i++) {
		assert_int_equal(p[i * 2 * block], 0);
		if (!(i % 7))
			assert_int_equal(p[i * 2 * block + block],
					 (char)(i | 1));
	}
	print_message("# %lu blocks read apart: %lu host mappings after, "
		      "against a limit of %lu\n", n, maps,
		      host_max_map_count());
	uhmm_mm_exit(mm);
}

/* ---- protection changes, against the host's own mmap ---- */

/*
 * One address space to compare: the host's (mmap and friends of libc)
 * or uhmm's (mm), so each sequence runs the same on both.
 */
struct as {
	struct mm_struct *mm;	/* NULL: the host */
};

static char *as_map(struct as *as, size_t len, int prot)
{
	void *p = as->mm ? uhmm_mmap(as->mm, NULL, len, prot,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
			 : mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0);

	assert_ptr_not_equal(p, MAP_FAILED);
	return p;
}

/* 0, or -1 with errno. */
static int as_mprotect(struct as *as, void *p, size_t len, int prot)
{
	return as->mm ? uhmm_mprotect(as->mm, p, len, prot)
		      : mprotect(p, len, prot);
}

static int as_munmap(struct as *as, void *p, size_t len)
{
	return as->mm ? uhmm_munmap(as->mm, p, len) : munmap(p, len);
}

static void *as_mremap(struct as *as, void *p, size_t old_len,
		       size_t new_len, int flags)
{
	return as->mm ? uhmm_mremap(as->mm, p, old_len, new_len, flags)
		      : mremap(p, old_len, new_len, flags);
}

/* What touching page i of p does now: a bit each for a load and a store
 * that raised a signal. The store writes the byte it read, so the
 * contents stay. */
static int page_access(char *p, unsigned long i)
{
	char *q = p + i * PAGE_SIZE;
	int loaded = touch(q, 0, 0);
	char val = loaded ? 0 : __atomic_load_n(q, __ATOMIC_RELAXED);

	return (loaded ? 1 : 0) | (touch(q, 1, val) ? 2 : 0);
}

static const int test_prots[] = {
	PROT_NONE, PROT_READ, PROT_WRITE, PROT_READ | PROT_WRITE,
	PROT_READ | PROT_EXEC,
};

/*
 * Every change of protection leaves exactly the access the host's own
 * mprotect leaves, after a load (the zero page is mapped read-only, even
 * in a PROT_WRITE mapping) or a store came first: a lost access is lost
 * even where no PTE changed.
 */
static void test_protection_change_as_host(void **state)
{
	struct as host = { NULL }, uhmm = { uhmm_mm_create() };
	struct as *both[] = { &host, &uhmm };

	install_catch_handler();
	for (unsigned int f = 0; f < ARRAY_SIZE(test_prots); f++)
	for (unsigned int t = 0; t < ARRAY_SIZE(test_prots); t++)
	for (int store_first = 0; store_first < 2; store_first++) {
		int access[2], val[2];

		for (int k = 0; k < 2; k++) {
			char *p = as_map(both[k], PAGE_SIZE, test_prots[f]);

			if (store_first)
				touch(p, 1, 'a');
			else
				touch(p, 0, 0);
			assert_int_equal(as_mprotect(both[k], p, PAGE_SIZE,
						     test_prots[t]), 0);
			access[k] = page_access(p, 0);
			assert_int_equal(as_mprotect(both[k], p, PAGE_SIZE,
					 PROT_READ | PROT_WRITE), 0);
			val[k] = p[0];
			assert_int_equal(as_munmap(both[k], p, PAGE_SIZE), 0);
		}
		if (access[0] != access[1] || val[0] != val[1])
			fail_msg("prot %#x -> %#x after a %s: host access %d "
				 "byte %d, uhmm access %d byte %d",
				 test_prots[f], test_prots[t],
				 store_first ? "store" : "load", access[0],
				 val[0], access[1], val[1]);
	}
	uhmm_mm_exit(uhmm.mm);
}

/* Four written pages with page 2 unmapped: [0 1] hole [3]. */
static char *map_with_hole(struct as *as)
{
	char *p = as_map(as, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE);

	for (int i = 0; i < 4; i++)
		p[i * PAGE_SIZE] = (char)('a' + i);
	assert_int_equal(as_munmap(as, p + 2 * PAGE_SIZE, PAGE_SIZE), 0);
	return p;
}

/*
 * mprotect over a hole fails with ENOMEM after changing the VMAs before
 * it, as Linux does; from inside the hole it changes nothing.
 */
static void test_mprotect_hole_as_host(void **state)
{
	struct as host = { NULL }, uhmm = { uhmm_mm_create() };
	struct as *both[] = { &host, &uhmm };
	int access[2][4], err[2][2];

	install_catch_handler();
	for (int k = 0; k < 2; k++) {
		char *p = map_with_hole(both[k]);

		errno = 0;
		assert_int_equal(as_mprotect(both[k], p, 4 * PAGE_SIZE,
					     PROT_READ), -1);
		err[k][0] = errno;
		errno = 0;
		assert_int_equal(as_mprotect(both[k], p + 2 * PAGE_SIZE,
					     2 * PAGE_SIZE, PROT_NONE), -1);
		err[k][1] = errno;
		for (int i = 0; i < 4; i++)
			access[k][i] = i == 2 ? 0 : page_access(p, i);
		assert_int_equal(p[0], 'a');
		assert_int_equal(p[3 * PAGE_SIZE], 'd');
		as_munmap(both[k], p, 4 * PAGE_SIZE);
	}
	assert_int_equal(err[0][0], ENOMEM);
	assert_int_equal(err[1][0], ENOMEM);
	assert_int_equal(err[0][1], ENOMEM);
	assert_int_equal(err[1][1], ENOMEM);
	for (int i = 0; i < 4; i++)
		assert_int_equal(access[1][i], access[0][i]);
	assert_int_equal(access[1][0], 2);	/* read-only now */
	assert_int_equal(access[1][3], 0);	/* untouched */
	uhmm_mm_exit(uhmm.mm);
}

/*
 * mremap shrinks in place whatever VMAs and holes the old range spans,
 * as Linux: only the old address must be mapped. Growing such a range,
 * or anything from an unmapped address, is EFAULT on both.
 */
static void test_mremap_shrink_as_host(void **state)
{
	struct as host = { NULL }, uhmm = { uhmm_mm_create() };
	struct as *both[] = { &host, &uhmm };

	install_catch_handler();
	for (int k = 0; k < 2; k++) {
		struct as *as = both[k];
		char *p;

		/* Three VMAs: page 1 read-only. */
		p = as_map(as, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE);
		p[0] = 'x';
		assert_int_equal(as_mprotect(as, p + PAGE_SIZE, PAGE_SIZE,
					     PROT_READ), 0);
		errno = 0;
		assert_ptr_equal(as_mremap(as, p, 2 * PAGE_SIZE,
					   3 * PAGE_SIZE, MREMAP_MAYMOVE),
				 MAP_FAILED);
		assert_int_equal(errno, EFAULT);
		assert_ptr_equal(as_mremap(as, p, 4 * PAGE_SIZE, 4 * PAGE_SIZE,
					   0), p);
		assert_ptr_equal(as_mremap(as, p, 4 * PAGE_SIZE, PAGE_SIZE, 0),
				 p);
		assert_int_equal(p[0], 'x');
		for (int i = 1; i < 4; i++)
			assert_int_equal(page_access(p, i), 3);
		assert_int_equal(as_munmap(as, p, PAGE_SIZE), 0);

		/* Over a hole. */
		p = map_with_hole(as);
		errno = 0;
		assert_ptr_equal(as_mremap(as, p + 2 * PAGE_SIZE,
					   2 * PAGE_SIZE, PAGE_SIZE, 0),
				 MAP_FAILED);
		assert_int_equal(errno, EFAULT);
		assert_ptr_equal(as_mremap(as, p, 4 * PAGE_SIZE, PAGE_SIZE, 0),
				 p);
		assert_int_equal(p[0], 'a');
		assert_int_equal(page_access(p, 1), 3);
		assert_int_equal(page_access(p, 3), 3);
		assert_int_equal(as_munmap(as, p, PAGE_SIZE), 0);
	}
	uhmm_mm_exit(uhmm.mm);
}

/*
 * An instruction fetch needs PROT_EXEC, as on the host: a call into a
 * readable page without it dies of SIGSEGV (it looped in the fault
 * handler, which mapped the page readable again and again), and one into
 * a PROT_EXEC page returns, whether PROT_EXEC came with the mapping or
 * with mprotect, and stops when mprotect takes it away.
 */
static void test_fetch_as_host(void **state)
{
	static const struct { int prot, sig; } steps[] = {
		{ PROT_READ | PROT_WRITE, SIGSEGV },
		{ PROT_READ | PROT_EXEC, 0 },
		{ PROT_READ, SIGSEGV },
		{ PROT_READ | PROT_WRITE | PROT_EXEC, 0 },
		{ PROT_WRITE, SIGSEGV },
		{ PROT_NONE, SIGSEGV },
	};
	struct as host = { NULL }, uhmm = { uhmm_mm_create() };
	struct as *both[] = { &host, &uhmm };

	install_catch_handler();
	for (int k = 0; k < 2; k++) {
		char *p = as_map(both[k], 2 * PAGE_SIZE,
				 PROT_READ | PROT_WRITE);
		char *x = as_map(both[k], PAGE_SIZE, PROT_READ | PROT_WRITE |
				 PROT_EXEC);

		p[0] = (char)0xc3;				/* ret */
		for (unsigned int i = 0; i < ARRAY_SIZE(steps); i++) {
			int sig;

			assert_int_equal(as_mprotect(both[k], p, PAGE_SIZE,
						     steps[i].prot), 0);
			sig = cpu_fetch(p);
			if (sig != steps[i].sig)
				fail_msg("%s: a call into a page of prot %#x: "
					 "signal %d, expected %d",
					 k ? "uhmm" : "host", steps[i].prot,
					 sig, steps[i].sig);
		}
		/* Read in as the zero page. */
		assert_int_equal(p[PAGE_SIZE], 0);
		assert_int_equal(cpu_fetch(p + PAGE_SIZE), SIGSEGV);
		x[0] = (char)0xc3;
		assert_int_equal(cpu_fetch(x), 0);
		as_munmap(both[k], p, 2 * PAGE_SIZE);
		as_munmap(both[k], x, PAGE_SIZE);
	}
	uhmm_mm_exit(uhmm.mm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_is_pointer),
		cmocka_unit_test(test_first_touch_blocks),
		cmocka_unit_test(test_faults_as_kernel),
		cmocka_unit_test(test_protection_change_as_host),
		cmocka_unit_test(test_mprotect_hole_as_host),
		cmocka_unit_test(test_mremap_shrink_as_host),
		cmocka_unit_test(test_fetch_as_host),
		cmocka_unit_test(test_file_shared),
		cmocka_unit_test(test_fork_cow),
		cmocka_unit_test(test_device_pages),
		cmocka_unit_test(test_migrated_back_pages_are_old),
		cmocka_unit_test(test_shootdown_of_one_page),
		cmocka_unit_test(test_threads_race_unmap_mprotect_migrate),
		cmocka_unit_test(test_large_region_map_count),
		cmocka_unit_test(test_host_mapping_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
