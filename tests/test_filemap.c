// SPDX-License-Identifier: MIT
/*
 * The page cache on its own (src/mm/filemap.c) and the radix tree behind
 * i_pages (src/lib/xarray.c). The mmap and fault paths over it are tested
 * elsewhere.
 *
 * Files are unlinked temporaries in /tmp; a second descriptor with other
 * access is opened through /proc/self/fd.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <uhmm/xarray.h>

#include "internal.h"
#include "mm/filemap.h"

/* The byte at offset off of every test file: differs page to page. */
static unsigned char pattern(off_t off)
{
	return (unsigned char)(off * 7 + off / PAGE_SIZE + 1);
}

/* An unlinked temporary file of size bytes of pattern(), open O_RDWR. */
static int make_file(off_t size)
{
	char path[] = "/tmp/uhmm-filemap-XXXXXX";
	unsigned char buf[PAGE_SIZE];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	for (off_t off = 0; off < size; off += PAGE_SIZE) {
		size_t len = min((off_t)PAGE_SIZE, size - off);

		for (size_t i = 0; i < len; i++)
			buf[i] = pattern(off + (off_t)i);
		assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	}
	return fd;
}

/* Another descriptor of the same file, opened with flags. */
static int reopen(int fd, int flags)
{
	char path[64];
	int nfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, flags);
	assert_true(nfd >= 0);
	return nfd;
}

static off_t file_size(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return st.st_size;
}

static unsigned long free_pages(void)
{
	struct uhmm_meminfo mi;

	assert_int_equal(uhmm_meminfo(&mi), 0);
	return mi.free_pages;
}

static struct file *open_file(int fd)
{
	int err = 0;
	struct file *file = file_from_fd(fd, &err);

	assert_non_null(file);
	assert_int_equal(err, 0);
	return file;
}

static struct page *get(struct file *file, pgoff_t index)
{
	struct page *page = NULL;

	assert_int_equal(filemap_get_page(file, index, &page), 0);
	assert_non_null(page);
	return page;
}

static int file_error(int fd)
{
	int err = 0;

	assert_null(file_from_fd(fd, &err));
	return err;
}

/* ---- file_from_fd ---- */

/* Every way a descriptor can be unfit, with mmap(2)'s errno. */
static void test_file_from_fd_errors(void **state)
{
	int fd = make_file(PAGE_SIZE), closed, dir, wronly, opath, pipefd[2];

	assert_int_equal(file_error(-1), -EBADF);
	closed = dup(fd);
	close(closed);
	assert_int_equal(file_error(closed), -EBADF);

	dir = open("/tmp", O_RDONLY | O_DIRECTORY);
	assert_true(dir >= 0);
	assert_int_equal(file_error(dir), -ENODEV);
	close(dir);

	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(file_error(pipefd[0]), -ENODEV);
	close(pipefd[0]);
	close(pipefd[1]);

	wronly = reopen(fd, O_WRONLY);
	assert_int_equal(file_error(wronly), -EACCES);
	close(wronly);

	opath = reopen(fd, O_PATH);
	assert_int_equal(file_error(opath), -EBADF);
	close(opath);

	assert_int_equal(filemap_nr_pages(), 0);
	close(fd);
}

/* Two files of one inode share one address_space and so one page per
 * index; f_flags keeps each caller's access mode; the caller's fd may be
 * closed at once. */
static void test_shared_page_cache(void **state)
{
	int fd = make_file(2 * PAGE_SIZE);
	int rdonly = reopen(fd, O_RDONLY);
	struct file *a = open_file(rdonly), *b = open_file(fd);
	struct page *pa, *pb;

	close(rdonly);
	close(fd);
	assert_ptr_not_equal(a, b);
	assert_ptr_equal(a->f_mapping, b->f_mapping);
	assert_int_equal(a->f_flags, O_RDONLY);
	assert_int_equal(b->f_flags, O_RDWR);
	assert_false(file_is_shmem(a));

	pa = get(a, 1);
	pb = get(b, 1);
	assert_ptr_equal(pa, pb);
	/* the cache's reference and ours, twice */
	assert_int_equal(page_ref_count(pa), 3);
	assert_ptr_equal(pa->mapping, a->f_mapping);
	assert_int_equal(pa->index, 1);
	assert_true(test_page_flag(pa, PG_uptodate));
	assert_false(PageDirty(pa));
	assert_false(PageAnon(pa));
	assert_int_equal(filemap_nr_pages(), 1);

	put_page(pa);
	put_page(pb);
	assert_int_equal(page_ref_count(pa), 1);
	fput(a);
	assert_int_equal(filemap_nr_pages(), 1);
	fput(b);
	assert_int_equal(filemap_nr_pages(), 0);
}

/* get_file/fput count: the mapping lives until the last reference. */
static void test_get_file(void **state)
{
	int fd = make_file(PAGE_SIZE);
	struct file *file = open_file(fd);
	struct page *page;

	close(fd);
	get_file(file);
	assert_int_equal(atomic_load(&file->f_count), 2);
	fput(file);
	page = get(file, 0);
	assert_int_equal(filemap_nr_pages(), 1);
	put_page(page);
	fput(file);
	assert_int_equal(filemap_nr_pages(), 0);
}

/* ---- reading ---- */

/* Pages hold the file's bytes, zeros past its end in the last partial
 * page; beyond that -EFAULT, until the file grows. */
static void test_read_contents(void **state)
{
	const off_t size = 3 * PAGE_SIZE + 100;
	int fd = make_file(size);
	struct file *file = open_file(fd);
	struct page *page;

	for (pgoff_t index = 0; index < 4; index++) {
		const unsigned char *p;

		page = get(file, index);
		p = page_address(page);
		for (size_t i = 0; i < PAGE_SIZE; i++) {
			off_t off = (off_t)(index * PAGE_SIZE + i);

			if (p[i] != (off < size ? pattern(off) : 0))
				fail_msg("index %lu byte %zu: %#x", index, i,
					 p[i]);
		}
		put_page(page);
	}

	assert_int_equal(filemap_get_page(file, 4, &page), -EFAULT);
	assert_int_equal(filemap_get_page(file, 1000000, &page), -EFAULT);
	assert_int_equal(filemap_nr_pages(), 4);

	/* The file grows: the new page can be had. */
	assert_int_equal(pwrite(fd, "x", 1, 5 * PAGE_SIZE - 1), 1);
	page = get(file, 4);
	assert_int_equal(((unsigned char *)page_address(page))[0], 0);
	assert_int_equal(((unsigned char *)page_address(page))[PAGE_SIZE - 1],
			 'x');
	put_page(page);

	/* An empty file has no page at all. */
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(filemap_get_page(file, 5, &page), -EFAULT);

	fput(file);
	close(fd);
	assert_int_equal(filemap_nr_pages(), 0);
}

/* A cached page stays valid even if the host changes the file: the cache
 * is what mappings see, as in the kernel. */
static void test_cache_hit(void **state)
{
	int fd = make_file(PAGE_SIZE);
	struct file *file = open_file(fd);
	struct page *page = get(file, 0), *again;

	assert_int_equal(pwrite(fd, "zz", 2, 0), 2);
	again = get(file, 0);
	assert_ptr_equal(page, again);
	assert_int_equal(((unsigned char *)page_address(again))[0],
			 pattern(0));
	put_page(page);
	put_page(again);
	fput(file);
	close(fd);
}

/* ---- dirty pages and write-back ---- */

/* Dirty pages are written, clean ones and those outside the range are
 * not; the file never grows. */
static void test_writeback(void **state)
{
	const off_t size = 2 * PAGE_SIZE + 1000;
	int fd = make_file(size);
	struct file *file = open_file(fd);
	struct page *p0 = get(file, 0), *p1 = get(file, 1), *p2 = get(file, 2);
	unsigned char buf[PAGE_SIZE];

	memset(page_address(p0), 0xa0, PAGE_SIZE);
	memset(page_address(p1), 0xa1, PAGE_SIZE);	/* never dirtied */
	memset(page_address(p2), 0xa2, PAGE_SIZE);	/* past EOF too */
	set_page_dirty(p0);
	set_page_dirty(p2);
	assert_true(PageDirty(p0));
	assert_false(PageDirty(p1));
	assert_true(PageDirty(p2));

	/* [1, 2]: page 2 only */
	assert_int_equal(filemap_write_and_wait_range(file->f_mapping, 1, 2),
			 0);
	assert_true(PageDirty(p0));
	assert_false(PageDirty(p2));
	assert_int_equal(file_size(fd), size);
	assert_int_equal(pread(fd, buf, PAGE_SIZE, 2 * PAGE_SIZE), 1000);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(buf[i], 0xa2);
	assert_int_equal(pread(fd, buf, 1, 0), 1);
	assert_int_equal(buf[0], pattern(0));

	/* an empty range writes nothing */
	assert_int_equal(filemap_write_and_wait_range(file->f_mapping, 1, 0),
			 0);
	assert_true(PageDirty(p0));

	assert_int_equal(filemap_write_and_wait_range(file->f_mapping, 0,
						      ~0UL), 0);
	assert_false(PageDirty(p0));
	assert_int_equal(pread(fd, buf, PAGE_SIZE, 0), PAGE_SIZE);
	for (size_t i = 0; i < PAGE_SIZE; i++)
		assert_int_equal(buf[i], 0xa0);
	assert_int_equal(pread(fd, buf, PAGE_SIZE, PAGE_SIZE), PAGE_SIZE);
	for (size_t i = 0; i < PAGE_SIZE; i++)
		assert_int_equal(buf[i], pattern(PAGE_SIZE + i));
	assert_int_equal(file_size(fd), size);

	/* A page wholly past a shrunk file's end is not written. */
	set_page_dirty(p2);
	assert_int_equal(ftruncate(fd, PAGE_SIZE), 0);
	assert_int_equal(filemap_write_and_wait_range(file->f_mapping, 0,
						      ~0UL), 0);
	assert_int_equal(file_size(fd), PAGE_SIZE);

	put_page(p0);
	put_page(p1);
	put_page(p2);
	fput(file);
	close(fd);
}

/* set_page_dirty is a no-op for anonymous pages. */
static void test_set_page_dirty_anon(void **state)
{
	struct page *page = alloc_page();

	assert_non_null(page);
	assert_null(page->mapping);
	set_page_dirty(page);
	assert_false(PageDirty(page));
	put_page(page);
}

/* A read-only dup cannot write back (-EIO, the page stays dirty) until a
 * read-write descriptor of the inode comes and replaces it. */
static void test_writeback_needs_rdwr(void **state)
{
	int fd = make_file(PAGE_SIZE);
	int rdonly = reopen(fd, O_RDONLY);
	struct file *ro = open_file(rdonly), *rw;
	struct page *page = get(ro, 0);
	unsigned char c;

	close(rdonly);
	memset(page_address(page), 0x5a, PAGE_SIZE);
	set_page_dirty(page);
	assert_int_equal(filemap_write_and_wait_range(ro->f_mapping, 0, 0),
			 -EIO);
	assert_true(PageDirty(page));
	assert_int_equal(pread(fd, &c, 1, 0), 1);
	assert_int_equal(c, pattern(0));

	rw = open_file(fd);
	assert_ptr_equal(rw->f_mapping, ro->f_mapping);
	assert_int_equal(filemap_write_and_wait_range(ro->f_mapping, 0, 0), 0);
	assert_false(PageDirty(page));
	assert_int_equal(pread(fd, &c, 1, 0), 1);
	assert_int_equal(c, 0x5a);

	put_page(page);
	fput(rw);
	fput(ro);
	close(fd);
}

/* ---- shmem ---- */

static void test_shmem(void **state)
{
	struct file *file = shmem_file_setup(3 * PAGE_SIZE);
	struct page *page, *again;
	const unsigned char *p;

	assert_non_null(file);
	assert_true(file_is_shmem(file));
	assert_int_equal(file->f_flags, O_RDWR);

	page = get(file, 2);
	p = page_address(page);
	for (size_t i = 0; i < PAGE_SIZE; i++)
		assert_int_equal(p[i], 0);
	assert_ptr_equal(page->mapping, file->f_mapping);
	memset(page_address(page), 0x77, PAGE_SIZE);
	set_page_dirty(page);
	assert_false(PageDirty(page));
	assert_int_equal(filemap_write_and_wait_range(file->f_mapping, 0,
						      ~0UL), 0);

	again = get(file, 2);
	assert_ptr_equal(page, again);
	assert_int_equal(((unsigned char *)page_address(again))[0], 0x77);
	assert_int_equal(filemap_get_page(file, 3, &again), -EFAULT);
	assert_int_equal(filemap_nr_pages(), 1);

	put_page(page);
	put_page(again);
	fput(file);
	assert_int_equal(filemap_nr_pages(), 0);

	/* Two objects never share pages; a size is rounded up. */
	{
		struct file *a = shmem_file_setup(1), *b = shmem_file_setup(1);
		struct page *pa = get(a, 0), *pb = get(b, 0), *none;

		assert_ptr_not_equal(a->f_mapping, b->f_mapping);
		assert_ptr_not_equal(pa, pb);
		assert_int_equal(filemap_get_page(a, 1, &none), -EFAULT);
		put_page(pa);
		put_page(pb);
		fput(a);
		fput(b);
	}
}

/* ---- teardown ---- */

/* The last fput writes back and returns every page to the allocator. */
static void test_last_fput_frees(void **state)
{
	const int nr = 40;
	unsigned long before = free_pages();
	int fd = make_file(nr * PAGE_SIZE);
	struct file *file = open_file(fd);
	struct file *shm = shmem_file_setup(nr * PAGE_SIZE);
	unsigned char c;

	assert_non_null(shm);
	for (int i = 0; i < nr; i++) {
		struct page *page = get(file, i), *spage = get(shm, i);

		if (i % 3 == 0) {
			memset(page_address(page), i, PAGE_SIZE);
			set_page_dirty(page);
		}
		put_page(page);
		put_page(spage);
	}
	assert_int_equal(filemap_nr_pages(), 2 * nr);
	assert_int_equal(free_pages(), before - 2 * nr);

	fput(file);
	fput(shm);
	assert_int_equal(filemap_nr_pages(), 0);
	assert_int_equal(free_pages(), before);
	for (int i = 0; i < nr; i++) {
		assert_int_equal(pread(fd, &c, 1, (off_t)i * PAGE_SIZE + 9), 1);
		assert_int_equal(c, i % 3 ? pattern(i * PAGE_SIZE + 9) : i);
	}
	assert_int_equal(file_size(fd), nr * PAGE_SIZE);

	/* A new file of the inode reads what was written back. */
	file = open_file(fd);
	{
		struct page *page = get(file, 3);

		assert_int_equal(((unsigned char *)page_address(page))[0], 3);
		put_page(page);
	}
	fput(file);
	close(fd);
	assert_int_equal(free_pages(), before);
}

/* A page someone still holds leaves the cache at the last fput and is
 * freed with that reference. */
static void test_fput_with_page_held(void **state)
{
	unsigned long before = free_pages();
	int fd = make_file(PAGE_SIZE);
	struct file *file = open_file(fd);
	struct page *page = get(file, 0);

	fput(file);
	assert_null(page->mapping);
	assert_int_equal(page_ref_count(page), 1);
	assert_int_equal(filemap_nr_pages(), 0);
	assert_int_equal(free_pages(), before - 1);
	set_page_dirty(page);		/* no mapping any more: no-op */
	assert_false(PageDirty(page));
	put_page(page);
	assert_int_equal(free_pages(), before);
	close(fd);
}

/* ---- concurrency ---- */

#define NR_THREADS	8
#define NR_INDEXES	64

struct get_worker {
	pthread_t thread;
	unsigned int id;
	struct file *file;
	pthread_barrier_t *barrier;
	struct page *pages[NR_INDEXES];
	int failures;
};

static void *get_worker_fn(void *arg)
{
	struct get_worker *w = arg;

	pthread_barrier_wait(w->barrier);
	for (unsigned int i = 0; i < NR_INDEXES; i++) {
		/* each thread walks the indexes from its own start */
		pgoff_t index = (i + w->id * 7) % NR_INDEXES;
		const unsigned char *p;

		if (filemap_get_page(w->file, index, &w->pages[index])) {
			w->failures++;
			continue;
		}
		p = page_address(w->pages[index]);
		if (p[5] != pattern(index * PAGE_SIZE + 5))
			w->failures++;
	}
	return NULL;
}

/* Threads missing on the same indexes at once end with one page an index
 * and exact reference counts; the losers' pages go back. */
static void test_concurrent_get_page(void **state)
{
	static struct get_worker w[NR_THREADS];
	unsigned long before = free_pages();
	int fd = make_file(NR_INDEXES * PAGE_SIZE);
	struct file *file = open_file(fd);
	pthread_barrier_t barrier;

	pthread_barrier_init(&barrier, NULL, NR_THREADS);
	for (unsigned int t = 0; t < NR_THREADS; t++) {
		memset(&w[t], 0, sizeof(w[t]));
		w[t].id = t;
		w[t].file = file;
		w[t].barrier = &barrier;
		assert_int_equal(pthread_create(&w[t].thread, NULL,
						get_worker_fn, &w[t]), 0);
	}
	for (unsigned int t = 0; t < NR_THREADS; t++) {
		pthread_join(w[t].thread, NULL);
		assert_int_equal(w[t].failures, 0);
	}
	pthread_barrier_destroy(&barrier);

	assert_int_equal(filemap_nr_pages(), NR_INDEXES);
	assert_int_equal(free_pages(), before - NR_INDEXES);
	for (unsigned int i = 0; i < NR_INDEXES; i++) {
		struct page *page = w[0].pages[i];

		for (unsigned int t = 1; t < NR_THREADS; t++)
			assert_ptr_equal(w[t].pages[i], page);
		assert_int_equal(page_ref_count(page), 1 + NR_THREADS);
		assert_int_equal(page->index, i);
		for (unsigned int t = 0; t < NR_THREADS; t++)
			put_page(w[t].pages[i]);
		assert_int_equal(page_ref_count(page), 1);
	}
	fput(file);
	close(fd);
	assert_int_equal(free_pages(), before);
}

#define NR_ROUNDS	300

struct open_worker {
	pthread_t thread;
	unsigned int id;
	int fd;
	int failures;
};

/*
 * Each round opens the file, bumps a counter in its own page, dirties it
 * and lets go; the last fput of a round writes back and empties the cache
 * while other threads open the inode again. A thread that ever sees a
 * stale counter has read the file before a write-back finished.
 */
static void *open_worker_fn(void *arg)
{
	struct open_worker *w = arg;

	for (unsigned int round = 0; round < NR_ROUNDS; round++) {
		struct page *page;
		struct file *file;
		unsigned int *counter;
		int err;

		file = file_from_fd(w->fd, &err);
		if (!file) {
			w->failures++;
			continue;
		}
		if (filemap_get_page(file, w->id, &page)) {
			w->failures++;
			fput(file);
			continue;
		}
		counter = page_address(page);
		if (*counter != round)
			w->failures++;
		*counter = round + 1;
		set_page_dirty(page);
		put_page(page);
		fput(file);
	}
	return NULL;
}

static void test_concurrent_open_close(void **state)
{
	struct open_worker w[NR_THREADS];
	unsigned long before = free_pages();
	int fd = make_file(0);

	assert_int_equal(ftruncate(fd, NR_THREADS * PAGE_SIZE), 0);
	for (unsigned int t = 0; t < NR_THREADS; t++) {
		w[t] = (struct open_worker){ .id = t, .fd = fd };
		assert_int_equal(pthread_create(&w[t].thread, NULL,
						open_worker_fn, &w[t]), 0);
	}
	for (unsigned int t = 0; t < NR_THREADS; t++)
		pthread_join(w[t].thread, NULL);
	/* Every file is gone now, so everything is written back. */
	for (unsigned int t = 0; t < NR_THREADS; t++) {
		unsigned int counter;

		assert_int_equal(w[t].failures, 0);
		assert_int_equal(pread(fd, &counter, sizeof(counter),
				       (off_t)t * PAGE_SIZE),
				 sizeof(counter));
		assert_int_equal(counter, NR_ROUNDS);
	}
	assert_int_equal(filemap_nr_pages(), 0);
	assert_int_equal(free_pages(), before);
	close(fd);
}

#define NR_WB_INDEXES	256

struct wb_worker {
	pthread_t thread;
	unsigned int id;
	struct file *file;
	atomic_bool *stop;
	int failures;
};

/* Fault pages in, in an order of its own, and dirty them (contents are
 * left as read, so that any write-back of them is correct). */
static void *wb_getter_fn(void *arg)
{
	struct wb_worker *w = arg;

	for (unsigned int i = 0; i < NR_WB_INDEXES; i++) {
		pgoff_t index = (i * 37 + w->id * 11) % NR_WB_INDEXES;
		struct page *page;

		if (filemap_get_page(w->file, index, &page)) {
			w->failures++;
			continue;
		}
		set_page_dirty(page);
		put_page(page);
	}
	return NULL;
}

static void *wb_writer_fn(void *arg)
{
	struct wb_worker *w = arg;

	while (!atomic_load(w->stop))
		if (filemap_write_and_wait_range(w->file->f_mapping, 0, ~0UL))
			w->failures++;
	return NULL;
}

/* Write-back walks i_pages while other threads insert into it and dirty
 * pages; at the end one more pass leaves nothing dirty and the file
 * intact. */
static void test_concurrent_writeback(void **state)
{
	enum { GETTERS = 4, WRITERS = 2 };
	struct wb_worker w[GETTERS + WRITERS];
	const off_t size = NR_WB_INDEXES * PAGE_SIZE - 10;
	int fd = make_file(size);
	struct file *file = open_file(fd);
	atomic_bool stop = false;
	unsigned long index;
	struct page *page;

	for (unsigned int t = 0; t < GETTERS + WRITERS; t++) {
		w[t] = (struct wb_worker){ .id = t, .file = file,
					   .stop = &stop };
		assert_int_equal(pthread_create(&w[t].thread, NULL,
				 t < GETTERS ? wb_getter_fn : wb_writer_fn,
				 &w[t]), 0);
	}
	for (unsigned int t = 0; t < GETTERS; t++)
		pthread_join(w[t].thread, NULL);
	atomic_store(&stop, true);
	for (unsigned int t = GETTERS; t < GETTERS + WRITERS; t++)
		pthread_join(w[t].thread, NULL);
	for (unsigned int t = 0; t < GETTERS + WRITERS; t++)
		assert_int_equal(w[t].failures, 0);

	assert_int_equal(filemap_nr_pages(), NR_WB_INDEXES);
	assert_int_equal(filemap_write_and_wait_range(file->f_mapping, 0,
						      ~0UL), 0);
	for (index = 0; index < NR_WB_INDEXES; index++) {
		page = get(file, index);
		assert_false(PageDirty(page));
		assert_int_equal(page_ref_count(page), 2);
		put_page(page);
	}
	assert_int_equal(file_size(fd), size);
	for (off_t off = 0; off < size; off += 999) {
		unsigned char c;

		assert_int_equal(pread(fd, &c, 1, off), 1);
		assert_int_equal(c, pattern(off));
	}
	fput(file);
	close(fd);
}

/* ---- xarray ---- */

static void test_xarray_basic(void **state)
{
	static const unsigned long idx[] = {
		0, 1, 511, 512, 513, 262143, 262144, 1UL << 30,
		(1UL << 63) - 1, 1UL << 63, ~0UL - 1, ~0UL,
	};
	struct xarray xa = XARRAY_INIT;
	unsigned long index;
	void *entry, *old;
	size_t n;

	assert_true(xa_empty(&xa));
	assert_null(xa_load(&xa, 0));
	assert_null(xa_erase(&xa, 5));
	for (size_t i = 0; i < ARRAY_SIZE(idx); i++)
		assert_int_equal(xa_insert(&xa, idx[i], (void *)&idx[i]), 0);
	assert_int_equal(xa_insert(&xa, 512, (void *)1), -EBUSY);
	assert_int_equal(xa_insert(&xa, 7, NULL), -EINVAL);
	for (size_t i = 0; i < ARRAY_SIZE(idx); i++)
		assert_ptr_equal(xa_load(&xa, idx[i]), &idx[i]);
	assert_null(xa_load(&xa, 2));
	assert_null(xa_load(&xa, 1UL << 40));

	n = 0;
	xa_for_each(&xa, index, entry) {
		assert_int_equal(index, idx[n]);
		assert_ptr_equal(entry, &idx[n]);
		n++;
	}
	assert_int_equal(n, ARRAY_SIZE(idx));

	n = 0;
	xa_for_each_range(&xa, index, entry, 2, 1UL << 30) {
		assert_int_equal(index, idx[n + 2]);
		n++;
	}
	assert_int_equal(n, 6);
	index = 514;
	assert_null(xa_find(&xa, &index, 262142));
	assert_int_equal(index, 514);

	assert_int_equal(xa_store(&xa, 1, (void *)2, &old), 0);
	assert_ptr_equal(old, &idx[1]);
	assert_int_equal(xa_store(&xa, 1, NULL, &old), 0);
	assert_ptr_equal(old, (void *)2);
	assert_null(xa_load(&xa, 1));

	for (size_t i = 0; i < ARRAY_SIZE(idx); i++) {
		if (idx[i] == 1)
			continue;
		assert_ptr_equal(xa_erase(&xa, idx[i]), &idx[i]);
		assert_null(xa_load(&xa, idx[i]));
	}
	assert_true(xa_empty(&xa));

	/* erase in the walk */
	for (unsigned long i = 0; i < 2000; i += 3)
		assert_int_equal(xa_insert(&xa, i, (void *)(i + 1)), 0);
	n = 0;
	xa_for_each(&xa, index, entry) {
		assert_ptr_equal(xa_erase(&xa, index), (void *)(index + 1));
		n++;
	}
	assert_int_equal(n, 667);
	assert_true(xa_empty(&xa));

	for (unsigned long i = 0; i < 100000; i += 97)
		assert_int_equal(xa_insert(&xa, i << 20, (void *)1), 0);
	xa_destroy(&xa);
	assert_true(xa_empty(&xa));
}

/* Random stores and erases against a plain array, in a window of indexes
 * that crosses node boundaries at several levels. */
static void test_xarray_random(void **state)
{
	enum { N = 4096 };
	static void *ref[N];
	struct xarray xa = XARRAY_INIT;
	unsigned long base = (1UL << 27) - N / 2, index;
	unsigned int seed = 12345;
	void *entry;

	memset(ref, 0, sizeof(ref));
	for (int step = 0; step < 200000; step++) {
		unsigned int i = rand_r(&seed) % N;
		void *old;

		if (rand_r(&seed) % 3 == 0) {
			assert_ptr_equal(xa_erase(&xa, base + i), ref[i]);
			ref[i] = NULL;
		} else {
			void *e = (void *)(uintptr_t)(step + 1);

			assert_int_equal(xa_store(&xa, base + i, e, &old), 0);
			assert_ptr_equal(old, ref[i]);
			ref[i] = e;
		}
		if (step % 20000 == 0) {
			unsigned int next = 0;

			xa_for_each(&xa, index, entry) {
				while (!ref[next])
					next++;
				assert_int_equal(index, base + next);
				assert_ptr_equal(entry, ref[next]);
				next++;
			}
			while (next < N && !ref[next])
				next++;
			assert_int_equal(next, N);
		}
	}
	for (unsigned int i = 0; i < N; i++)
		assert_ptr_equal(xa_load(&xa, base + i), ref[i]);
	for (unsigned int i = 0; i < N; i++)
		xa_erase(&xa, base + i);
	assert_true(xa_empty(&xa));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xarray_basic),
		cmocka_unit_test(test_xarray_random),
		cmocka_unit_test(test_file_from_fd_errors),
		cmocka_unit_test(test_shared_page_cache),
		cmocka_unit_test(test_get_file),
		cmocka_unit_test(test_read_contents),
		cmocka_unit_test(test_cache_hit),
		cmocka_unit_test(test_writeback),
		cmocka_unit_test(test_set_page_dirty_anon),
		cmocka_unit_test(test_writeback_needs_rdwr),
		cmocka_unit_test(test_shmem),
		cmocka_unit_test(test_last_fput_frees),
		cmocka_unit_test(test_fput_with_page_held),
		cmocka_unit_test(test_concurrent_get_page),
		cmocka_unit_test(test_concurrent_open_close),
		cmocka_unit_test(test_concurrent_writeback),
	};

	return cmocka_run_group_tests_name("filemap", tests, NULL, NULL);
}
