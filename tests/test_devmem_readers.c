// SPDX-License-Identifier: MIT
/*
 * Many CPU threads loading from the same device-private pages through
 * plain pointers: 2, 4, 16 and 64 threads each read one byte of every
 * page of a range that a device holds, all in the same order, so that
 * they fault on the same page at once. The faults must between them
 * bring every page back to system RAM, whatever the number of threads:
 * one of them migrates the page while the others wait without holding
 * a reference (a reference of theirs would make the page look pinned to
 * the migration, which would then leave it on the device, and so on for
 * ever). The same with the pages spread over two devices, with device
 * commands that move the range back to a device and read it meanwhile,
 * and with a page that an extra reference keeps on its device until it
 * is dropped. Every value read is checked, and afterwards every page is
 * in system RAM and no device page is in use.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "test_util.h"
#include "mm/mm_internal.h"

/* The pages of the one-device runs; the others take half as many, to
 * keep the time down (a livelock shows on any page). */
#define NPAGES		4096
#define MAX_READERS	64

/*
 * How long the readers may take before the test calls it a livelock.
 * Not a speed target: the whole run takes well under a second here
 * (several under a sanitizer); this only bounds a wait that would never
 * end, so that the test fails instead of hanging.
 */
#define LIVELOCK_BOUND_S	60

static const int reader_counts[] = { 2, 4, 16, 64 };

/* The byte every address of page i holds: never 0, so that a page read
 * as the zero page or a fresh one does not pass. */
static char page_value(unsigned long i)
{
	return (char)(i % 251 + 1);
}

struct run {
	char *host;			/* the range, as this process sees it */
	unsigned long npages;
	pthread_barrier_t start;	/* the readers set off together */
	atomic_int readers_left;	/* readers still reading */
	atomic_long bad;		/* wrong values seen, by anyone */
	atomic_long cmds;		/* device commands issued */
	atomic_long cmd_errors;		/* of which failed */
	struct dmirror *dev[2];		/* the commands' devices */
	char *buf;			/* their buffer, npages pages */
	pthread_mutex_t lock;
	pthread_cond_t finished;	/* a thread is done */
	int done;			/* lock: threads done */
};

struct reader {
	struct run *run;
	unsigned long offset;		/* the byte of each page it reads */
};

static void thread_done(struct run *run)
{
	pthread_mutex_lock(&run->lock);
	run->done++;
	pthread_cond_signal(&run->finished);
	pthread_mutex_unlock(&run->lock);
}

/* One byte of every page, in order, each load faulting while the page
 * is on a device. */
static void *reader(void *arg)
{
	struct reader *r = arg;
	struct run *run = r->run;
	long bad = 0;

	pthread_barrier_wait(&run->start);
	for (unsigned long i = 0; i < run->npages; i++) {
		char v = __atomic_load_n(run->host + i * PAGE_SIZE + r->offset,
					 __ATOMIC_RELAXED);

		bad += v != page_value(i);
	}
	atomic_fetch_add(&run->bad, bad);
	atomic_fetch_sub(&run->readers_left, 1);
	thread_done(run);
	return NULL;
}

/*
 * One device command over n pages from page first; a READ's data is
 * checked. A MIGRATE_TO_DEV hands back what the device holds after the
 * move, and fails with -ENOENT where a CPU fault took a page back
 * before that (as the kernel's test driver does): not an error here.
 */
static void device_cmd(struct run *run, struct dmirror *d,
		       unsigned int command, unsigned long first,
		       unsigned long n)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)(run->host + first * PAGE_SIZE),
		.ptr = (uintptr_t)run->buf, .npages = n,
	};
	int ret;

	atomic_fetch_add(&run->cmds, 1);
	ret = dmirror_cmd(d, command, &cmd);
	if (ret == -ENOENT && command == HMM_DMIRROR_MIGRATE_TO_DEV)
		return;
	if (ret) {
		atomic_fetch_add(&run->cmd_errors, 1);
		return;
	}
	if (command != HMM_DMIRROR_READ)
		return;
	for (unsigned long i = 0; i < n; i++)
		if (run->buf[i * PAGE_SIZE] != page_value(first + i) ||
		    run->buf[i * PAGE_SIZE + PAGE_SIZE - 1] !=
		    page_value(first + i))
			atomic_fetch_add(&run->bad, 1);
}

/*
 * While the readers read, a window of CMD_PAGES pages steps through the
 * range: device 0 or 1 (in turn) moves it to its memory and reads it
 * there, then the other device reads it, which faults the pages back
 * from the first device as the CPU does. The commands meet the
 * readers' faults on the same pages, from both devices.
 */
#define CMD_PAGES	256

static void *commander(void *arg)
{
	struct run *run = arg;

	pthread_barrier_wait(&run->start);
	for (unsigned long r = 0; atomic_load(&run->readers_left); r++) {
		unsigned long first = r * CMD_PAGES % run->npages;
		struct dmirror *d = run->dev[r & 1];

		device_cmd(run, d, HMM_DMIRROR_MIGRATE_TO_DEV, first,
			   CMD_PAGES);
		device_cmd(run, d, HMM_DMIRROR_READ, first, CMD_PAGES);
		device_cmd(run, run->dev[!(r & 1)], HMM_DMIRROR_READ, first,
			   CMD_PAGES);
	}
	thread_done(run);
	return NULL;
}

/*
 * Wait for nthreads threads to be done. A livelocked fault never ends,
 * and its thread cannot be joined: report it and end the process.
 */
static void wait_done(struct run *run, int nthreads, const char *what)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += LIVELOCK_BOUND_S;
	pthread_mutex_lock(&run->lock);
	while (run->done < nthreads) {
		if (pthread_cond_timedwait(&run->finished, &run->lock,
					   &deadline) == ETIMEDOUT) {
			fprintf(stderr, "# %s: %d of %d threads still not done "
				"after %d s: the faults livelock\n", what,
				nthreads - run->done, nthreads,
				LIVELOCK_BOUND_S);
			printf("not ok - %s livelocks\n", what);
			fflush(NULL);
			_exit(EXIT_FAILURE);
		}
	}
	pthread_mutex_unlock(&run->lock);
}

static char *map_filled(struct mm_struct *mm, unsigned long npages)
{
	char *p = uhmm_mmap(mm, NULL, npages * PAGE_SIZE,
			    PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *host;

	assert_ptr_not_equal(p, MAP_FAILED);
	host = uhmm_ptr(mm, p);
	assert_non_null(host);
	for (unsigned long i = 0; i < npages; i++)
		memset(host + i * PAGE_SIZE, page_value(i), PAGE_SIZE);
	return p;
}

/* Move pages [first, first + n) of p to device d. */
static void migrate_to_dev(struct dmirror *d, char *p, unsigned long first,
			   unsigned long n, char *buf)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)(p + first * PAGE_SIZE),
		.ptr = (uintptr_t)buf, .npages = n,
	};

	assert_int_equal(dmirror_cmd(d, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd), 0);
	assert_int_equal(cmd.cpages, n);
}

/* Every page of p is back in system RAM, with its data. */
static void assert_all_in_ram(struct mm_struct *mm, char *p,
			      unsigned long npages)
{
	for (unsigned long i = 0; i < npages; i++) {
		pte_t pte = pte_at(mm, p + i * PAGE_SIZE);

		assert_true(pte_present(pte));
		assert_false(is_zone_device_page(pfn_to_page(pte_pfn(pte))));
	}
	for (int dev = 0; dev < 2; dev++)
		assert_int_equal(device_pages_in_use(dev), 0);
}

enum layout {
	ONE_DEVICE,		/* every page on device 0 */
	TWO_DEVICES,		/* runs of 16 pages, on device 0 and 1 in turn */
	WITH_COMMANDS,		/* device 0, and device commands meanwhile */
};

static const char *const layout_names[] = {
	[ONE_DEVICE] = "readers of one device's pages",
	[TWO_DEVICES] = "readers of two devices' pages",
	[WITH_COMMANDS] = "readers among device commands",
};

static void run_readers(enum layout layout, int nreaders)
{
	struct reader readers[MAX_READERS];
	pthread_t threads[MAX_READERS + 1];
	struct run run = {
		.npages = layout == ONE_DEVICE ? NPAGES : NPAGES / 2,
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.finished = PTHREAD_COND_INITIALIZER,
	};
	unsigned long npages = run.npages;
	int nthreads = nreaders + (layout == WITH_COMMANDS);
	struct mm_struct *mm;
	char what[80];
	char *p;

	/* Before the first touch: cmocka puts its handler in per test. */
	test_install_fault_handler();
	mm = uhmm_mm_create();
	assert_non_null(mm);
	p = map_filled(mm, npages);
	run.host = uhmm_ptr(mm, p);
	run.buf = malloc(npages * PAGE_SIZE);
	assert_non_null(run.buf);
	for (int dev = 0; dev < 2; dev++) {
		run.dev[dev] = dmirror_open(mm, dev);
		assert_non_null(run.dev[dev]);
	}
	if (layout == TWO_DEVICES) {
		for (unsigned long i = 0; i < npages; i += 16)
			migrate_to_dev(run.dev[(i / 16) & 1], p, i, 16,
				       run.buf);
		assert_int_equal(device_pages_in_use(0), npages / 2);
		assert_int_equal(device_pages_in_use(1), npages / 2);
	} else {
		migrate_to_dev(run.dev[0], p, 0, npages, run.buf);
		assert_int_equal(device_pages_in_use(0), npages);
	}
	for (unsigned long i = 0; i < npages; i++)
		assert_false(pte_present(pte_at(mm, p + i * PAGE_SIZE)));

	atomic_init(&run.readers_left, nreaders);
	atomic_init(&run.bad, 0);
	atomic_init(&run.cmds, 0);
	atomic_init(&run.cmd_errors, 0);
	assert_int_equal(pthread_barrier_init(&run.start, NULL, nthreads), 0);
	for (int i = 0; i < nreaders; i++) {
		readers[i].run = &run;
		readers[i].offset = (unsigned long)i * 67 % PAGE_SIZE;
		assert_int_equal(pthread_create(&threads[i], NULL, reader,
						&readers[i]), 0);
	}
	if (layout == WITH_COMMANDS)
		assert_int_equal(pthread_create(&threads[nreaders], NULL,
						commander, &run), 0);
	snprintf(what, sizeof(what), "%d %s", nreaders, layout_names[layout]);
	wait_done(&run, nthreads, what);
	for (int i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	pthread_barrier_destroy(&run.start);
	assert_int_equal(atomic_load(&run.bad), 0);
	assert_int_equal(atomic_load(&run.cmd_errors), 0);

	/* The commands may have left pages on a device: one more pass. */
	if (layout == WITH_COMMANDS) {
		for (unsigned long i = 0; i < npages; i++)
			assert_int_equal(run.host[i * PAGE_SIZE + 1],
					 page_value(i));
		print_message("# %s: %ld device commands\n", what,
			      atomic_load(&run.cmds));
	}
	assert_all_in_ram(mm, p, npages);

	for (int dev = 0; dev < 2; dev++)
		dmirror_close(run.dev[dev]);
	uhmm_mm_exit(mm);
	free(run.buf);
}

static void test_readers_one_device(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(reader_counts); i++)
		run_readers(ONE_DEVICE, reader_counts[i]);
}

static void test_readers_two_devices(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(reader_counts); i++)
		run_readers(TWO_DEVICES, reader_counts[i]);
}

static void test_readers_with_device_commands(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(reader_counts); i++)
		run_readers(WITH_COMMANDS, reader_counts[i]);
}

/*
 * A page with a reference that is not a mapping (a driver's, or a pin)
 * cannot move: the readers' faults return without moving it and are
 * retried, for as long as the reference is held, and none of them may
 * hang once it is dropped.
 */
static void test_readers_of_held_page(void **state)
{
	pthread_t threads[4];
	struct reader readers[4];
	struct run run = {
		.npages = 1,
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.finished = PTHREAD_COND_INITIALIZER,
	};
	struct timespec pause = { .tv_nsec = 50 * 1000 * 1000 };
	struct mm_struct *mm;
	struct dmirror *d;
	struct page *page;
	char *p;

	(void)state;
	test_install_fault_handler();
	mm = uhmm_mm_create();
	assert_non_null(mm);
	p = map_filled(mm, 1);
	run.host = uhmm_ptr(mm, p);
	run.buf = malloc(PAGE_SIZE);
	d = dmirror_open(mm, 0);
	assert_non_null(d);
	migrate_to_dev(d, p, 0, 1, run.buf);
	page = pfn_swap_entry_to_page(pte_to_swp_entry(pte_at(mm, p)));
	assert_true(is_device_private_page(page));
	get_page(page);

	atomic_init(&run.readers_left, 4);
	atomic_init(&run.bad, 0);
	assert_int_equal(pthread_barrier_init(&run.start, NULL, 4), 0);
	for (int i = 0; i < 4; i++) {
		readers[i].run = &run;
		readers[i].offset = (unsigned long)i * 67;
		assert_int_equal(pthread_create(&threads[i], NULL, reader,
						&readers[i]), 0);
	}
	/* However long we wait, the page stays and so do the readers. */
	nanosleep(&pause, NULL);
	assert_int_equal(atomic_load(&run.readers_left), 4);
	assert_false(pte_present(pte_at(mm, p)));
	put_page(page);
	wait_done(&run, 4, "readers of a page held for a while");
	for (int i = 0; i < 4; i++)
		pthread_join(threads[i], NULL);
	pthread_barrier_destroy(&run.start);
	assert_int_equal(atomic_load(&run.bad), 0);
	assert_all_in_ram(mm, p, 1);

	dmirror_close(d);
	uhmm_mm_exit(mm);
	free(run.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readers_one_device),
		cmocka_unit_test(test_readers_two_devices),
		cmocka_unit_test(test_readers_with_device_commands),
		cmocka_unit_test(test_readers_of_held_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
