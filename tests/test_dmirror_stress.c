// SPDX-License-Identifier: MIT
/*
 * CPU threads write while dmirror devices migrate pages to their memory
 * and back, take snapshots, read a read-only region, and release all of
 * their memory, on one mm. Afterwards every page holds the last value
 * its writer wrote, seen alike by the CPU and by a device; every device
 * page is back with its device; mapcounts match the page tables; and
 * the mm's exit gives every page back. A second test has devices migrate
 * while their pages are zapped (test_migrations_against_zaps).
 *
 * Device reads of pages that CPU threads are writing would be a data
 * race by design (a device's DMA does not take the CPU's page-table
 * lock), so the devices READ the written region only at the end, and a
 * coherent device's MIGRATE_TO_DEV (whose read-back reads pages the CPU
 * writes in place) excludes the writers with dma_lock. The migrations
 * that run all along copy under migration entries.
 */
#include "test_util.h"
#include "mm/debug.h"

#define NPAGES		128	/* written by the CPU threads */
#define NRO		64	/* read-only region, read by the devices */
#define NWRITERS	2
#define WRITES		3000
#define NDEVTHREADS	3

static struct mm_struct *mm;
static char *rw, *ro;
static atomic_bool stop;
static atomic_long device_errors;	/* unexpected return codes */
static atomic_long device_cmds;
/* Writers share it; a read-back of coherent pages takes it alone. */
static pthread_rwlock_t dma_lock = PTHREAD_RWLOCK_INITIALIZER;

/* Each writer owns the pages i with i % NWRITERS == its id. */
static uint64_t last_written[NPAGES];

static void *writer(void *arg)
{
	long id = (long)arg;

	for (uint64_t v = 1; v <= WRITES; v++) {
		for (unsigned long i = id; i < NPAGES; i += NWRITERS) {
			uint64_t word[2] = { v * NPAGES + i, ~(v * NPAGES + i) };

			pthread_rwlock_rdlock(&dma_lock);
			if (cpu_access(mm, rw + i * PAGE_SIZE, word,
					sizeof(word), 1) != sizeof(word))
				atomic_fetch_add(&device_errors, 1);
			pthread_rwlock_unlock(&dma_lock);
			last_written[i] = word[0];
		}
	}
	return NULL;
}

static int cmd(struct dmirror *d, unsigned int command, char *addr,
	       void *ptr, unsigned long npages)
{
	struct hmm_dmirror_cmd c = { .addr = (uintptr_t)addr,
				     .ptr = (uintptr_t)ptr, .npages = npages };

	atomic_fetch_add(&device_cmds, 1);
	return dmirror_cmd(d, command, &c);
}

/*
 * The end of a test: mapcounts match the page tables and rss the PTEs
 * that map a page; the mm's exit gives every page back to devices
 * 0..nr_devices-1 and to the allocator (free_before pages free).
 */
static void exit_and_check(unsigned long free_before, int nr_devices)
{
	struct dmirror_device_stats stats;

	assert_int_equal(mm_verify_mapcounts(&mm, 1), 0);
	uhmm_mm_exit(mm);
	for (int dev = 0; dev < nr_devices; dev++) {
		assert_int_equal(dmirror_device_stats(dev, &stats), 0);
		assert_int_equal(stats.pages_in_use, 0);
	}
	assert_int_equal(free_pages_now(), free_before);
}

static bool ro_page_ok(const char *buf, unsigned long i)
{
	for (unsigned long k = 0; k < PAGE_SIZE; k++)
		if (buf[k] != (char)(i + 1))
			return false;
	return true;
}

static void *device_thread(void *arg)
{
	long id = (long)arg;
	int device = id == 2 ? 2 : (int)id;	/* 0, 1 private; 2 coherent */
	char *buf = malloc(NPAGES * PAGE_SIZE);
	unsigned char *snap = malloc(NPAGES);
	unsigned int seed = (unsigned int)id * 7919 + 1;
	struct dmirror *d = dmirror_open(mm, device);

	while (!atomic_load(&stop)) {
		unsigned long first = rand_r(&seed) % NPAGES;
		unsigned long n = 1 + rand_r(&seed) % (NPAGES - first);
		int ret;

		switch (rand_r(&seed) % 6) {
		case 0:
		case 1:
			/* -ENOENT: a page stayed behind (on another device,
			 * or locked by a racing migration). */
			if (device == 2)
				pthread_rwlock_wrlock(&dma_lock);
			ret = cmd(d, HMM_DMIRROR_MIGRATE_TO_DEV,
				  rw + first * PAGE_SIZE, buf, n);
			if (device == 2)
				pthread_rwlock_unlock(&dma_lock);
			if (ret && ret != -ENOENT)
				atomic_fetch_add(&device_errors, 1);
			break;
		case 2:
			ret = cmd(d, HMM_DMIRROR_MIGRATE_TO_SYS,
				  rw + first * PAGE_SIZE, buf, n);
			if (ret)
				atomic_fetch_add(&device_errors, 1);
			break;
		case 3:
			ret = cmd(d, HMM_DMIRROR_SNAPSHOT,
				  rw + first * PAGE_SIZE, snap, n);
			if (ret)
				atomic_fetch_add(&device_errors, 1);
			break;
		case 4:
			first %= NRO;
			n = 1 + rand_r(&seed) % (NRO - first);
			ret = cmd(d, HMM_DMIRROR_READ, ro + first * PAGE_SIZE,
				  buf, n);
			for (unsigned long i = 0; !ret && i < n; i++)
				if (!ro_page_ok(buf + i * PAGE_SIZE, first + i))
					ret = -EIO;
			if (ret)
				atomic_fetch_add(&device_errors, 1);
			break;
		case 5:
			if (rand_r(&seed) % 8 == 0 &&
			    cmd(d, HMM_DMIRROR_RELEASE, rw, buf, 1))
				atomic_fetch_add(&device_errors, 1);
			break;
		}
	}
	dmirror_close(d);
	free(snap);
	free(buf);
	return NULL;
}

static void test_writers_against_devices(void **state)
{
	pthread_t writers[NWRITERS], devices[NDEVTHREADS];
	unsigned long free_before;
	char *buf = malloc(NPAGES * PAGE_SIZE);
	struct dmirror *d, *d2;

	(void)state;
	free_before = free_pages_now();
	mm = uhmm_mm_create();
	assert_non_null(mm);
	rw = uhmm_mmap(mm, NULL, NPAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = uhmm_mmap(mm, NULL, NRO * PAGE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_ptr_not_equal(rw, MAP_FAILED);
	assert_ptr_not_equal(ro, MAP_FAILED);
	for (unsigned long i = 0; i < NRO; i++) {
		memset(buf, (char)(i + 1), PAGE_SIZE);
		assert_int_equal(cpu_access(mm, ro + i * PAGE_SIZE, buf,
					     PAGE_SIZE, 1), PAGE_SIZE);
	}
	assert_int_equal(uhmm_mprotect(mm, ro, NRO * PAGE_SIZE, PROT_READ), 0);

	for (long i = 0; i < NDEVTHREADS; i++)
		pthread_create(&devices[i], NULL, device_thread, (void *)i);
	for (long i = 0; i < NWRITERS; i++)
		pthread_create(&writers[i], NULL, writer, (void *)i);
	for (int i = 0; i < NWRITERS; i++)
		pthread_join(writers[i], NULL);
	atomic_store(&stop, true);
	for (int i = 0; i < NDEVTHREADS; i++)
		pthread_join(devices[i], NULL);
	assert_int_equal(atomic_load(&device_errors), 0);
	assert_true(atomic_load(&device_cmds) > 0);

	/* The CPU sees the last write of every page... */
	for (unsigned long i = 0; i < NPAGES; i++) {
		uint64_t word[2];

		assert_int_equal(cpu_access(mm, rw + i * PAGE_SIZE, word,
					     sizeof(word), 0), sizeof(word));
		assert_int_equal(word[0], last_written[i]);
		assert_int_equal(word[1], ~last_written[i]);
		assert_int_equal(word[0], (uint64_t)WRITES * NPAGES + i);
	}
	/* ...and so does a device, from wherever the pages are now: its
	 * read faults device 0's pages back; once device 2 has given its
	 * coherent pages back, all of them can move to device 1. */
	d = dmirror_open(mm, 1);
	assert_non_null(d);
	assert_int_equal(cmd(d, HMM_DMIRROR_READ, rw, buf, NPAGES), 0);
	for (unsigned long i = 0; i < NPAGES; i++)
		assert_int_equal(*(uint64_t *)(buf + i * PAGE_SIZE),
				 last_written[i]);
	d2 = dmirror_open(mm, 2);
	assert_non_null(d2);
	assert_int_equal(cmd(d2, HMM_DMIRROR_MIGRATE_TO_SYS, rw, buf, NPAGES),
			 0);
	dmirror_close(d2);
	memset(buf, 0, NPAGES * PAGE_SIZE);
	assert_int_equal(cmd(d, HMM_DMIRROR_MIGRATE_TO_DEV, rw, buf, NPAGES),
			 0);
	for (unsigned long i = 0; i < NPAGES; i++)
		assert_int_equal(*(uint64_t *)(buf + i * PAGE_SIZE),
				 last_written[i]);
	dmirror_close(d);
	exit_and_check(free_before, 3);
	free(buf);
}

/*
 * Migrations race what can take their pages away between setup and
 * finalize: MADV_DONTNEED, munmap (and a new mapping at once), and CPU
 * touches that bring device pages back through migrate_to_ram. The
 * zaps drop data, so no data is checked; the accounting is: mapcounts
 * match the page tables, rss counts every PTE that maps a page, and
 * exit gives every page back to its allocator, RAM and devices alike.
 */
#define ZAP_PAGES	64
#define ZAP_ROUNDS	3000

static char *zapped;
static atomic_bool zaps_done;
static atomic_long zap_errors;
static atomic_long zap_migrations;	/* commands that moved their pages */

static void *zap_migrator(void *arg)
{
	unsigned int seed = (unsigned int)(long)arg * 31 + 5;
	char *buf = malloc(ZAP_PAGES * PAGE_SIZE);
	struct dmirror *d = dmirror_open(mm, (int)(long)arg);

	while (!atomic_load(&zaps_done)) {
		unsigned long first = rand_r(&seed) % ZAP_PAGES;
		unsigned long n = 1 + rand_r(&seed) % (ZAP_PAGES - first);
		unsigned int command = rand_r(&seed) % 2 ?
			HMM_DMIRROR_MIGRATE_TO_DEV : HMM_DMIRROR_MIGRATE_TO_SYS;
		int ret = cmd(d, command, zapped + first * PAGE_SIZE, buf, n);

		/* -EINVAL: the range is unmapped at this moment; -ENOENT:
		 * a page was zapped or taken before the read-back. */
		if (!ret)
			atomic_fetch_add(&zap_migrations, 1);
		else if (ret != -EINVAL && ret != -ENOENT)
			atomic_fetch_add(&zap_errors, 1);
	}
	dmirror_close(d);
	free(buf);
	return NULL;
}

static void *zap_toucher(void *arg)
{
	unsigned int seed = 77;

	(void)arg;
	while (!atomic_load(&zaps_done)) {
		unsigned long i = rand_r(&seed) % ZAP_PAGES;
		uint64_t v = i;

		/* Fails only in a munmap's gap. */
		cpu_access(mm, zapped + i * PAGE_SIZE, &v, sizeof(v),
			   rand_r(&seed) % 2);
	}
	return NULL;
}

static void test_migrations_against_zaps(void **state)
{
	pthread_t migrators[2], toucher;
	unsigned long free_before = free_pages_now();
	unsigned int seed = 3;

	(void)state;
	mm = uhmm_mm_create();
	assert_non_null(mm);
	zapped = uhmm_mmap(mm, NULL, ZAP_PAGES * PAGE_SIZE,
			   PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
	assert_ptr_not_equal(zapped, MAP_FAILED);
	for (long i = 0; i < 2; i++)
		pthread_create(&migrators[i], NULL, zap_migrator, (void *)i);
	pthread_create(&toucher, NULL, zap_toucher, NULL);

	/* The rounds go on until the devices have migrated all along. */
	for (int r = 0; r < ZAP_ROUNDS ||
			atomic_load(&zap_migrations) < ZAP_ROUNDS; r++) {
		unsigned long first = rand_r(&seed) % ZAP_PAGES;
		unsigned long n = 1 + rand_r(&seed) % (ZAP_PAGES - first);
		char *p = zapped + first * PAGE_SIZE;

		if (rand_r(&seed) % 4) {
			if (uhmm_madvise(mm, p, n * PAGE_SIZE, MADV_DONTNEED))
				atomic_fetch_add(&zap_errors, 1);
		} else if (uhmm_munmap(mm, p, n * PAGE_SIZE) ||
			   uhmm_mmap(mm, p, n * PAGE_SIZE,
				     PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				     -1, 0) != p) {
			atomic_fetch_add(&zap_errors, 1);
		}
	}
	atomic_store(&zaps_done, true);
	for (int i = 0; i < 2; i++)
		pthread_join(migrators[i], NULL);
	pthread_join(toucher, NULL);
	assert_int_equal(atomic_load(&zap_errors), 0);

	exit_and_check(free_before, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writers_against_devices),
		cmocka_unit_test(test_migrations_against_zaps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
