// SPDX-License-Identifier: MIT
/*
 * The page cache of host files and shmem objects (see mm/filemap.h).
 *
 * Every host inode mapped through uhmm has one struct address_space,
 * found by (st_dev, st_ino) in a global table, holding a dup of a host
 * descriptor for I/O and its cached pages in i_pages. A shmem object has
 * an address_space of its own that is in no table and has no descriptor.
 *
 * Locks, outermost first (one may be taken while those above it are
 * held, never while one below it is):
 *
 *   mmap_lock             held by the callers of filemap_get_page and of
 *                         write-back, read or write
 *   mapping->wb_lock      one write-back pass of a mapping at a time;
 *                         held across pwrite, so a sleeping lock
 *   mapping->i_lock       i_pages, nrpages, and page->mapping and
 *                         page->index of the pages in i_pages; never held
 *                         across host I/O or put_page()
 *
 *   filemap_table.lock    the inode table, every i_count and i_dying;
 *                         nests with none of the above (only fcntl and
 *                         close run under it). file_from_fd() may sleep
 *                         on it, in filemap_table.released, until the
 *                         last fput of the same inode in another thread
 *                         has finished its write-back.
 *
 * A page-table lock may be held around set_page_dirty(), which takes no
 * lock at all: it only sets a page flag.
 *
 * The host calls of the page cache (pread, pwrite, fstat, fcntl, close)
 * are all in this file.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uhmm/xarray.h>

#include "internal.h"
#include "mm/filemap.h"

struct address_space {
	/* ---- inode table (host files only): filemap_table.lock ---- */
	struct address_space *i_hash_next;
	dev_t i_dev;			/* constant */
	ino_t i_ino;			/* constant */
	int i_count;			/* struct files; shmem too */
	/* The last struct file is gone and the mapping is being written
	 * back and emptied; file_from_fd() waits for it to leave the table
	 * rather than read the file before the write-back is done. */
	bool i_dying;

	bool i_shmem;			/* constant */
	pgoff_t i_shmem_pages;		/* size in pages (shmem); constant */

	/*
	 * The host descriptor for I/O, read lock-free; replaced (once: read
	 * only by read-write) under filemap_table.lock. The descriptor it
	 * replaced stays open in host_fd_old until the mapping dies, since a
	 * reader may be in pread() on it.
	 */
	atomic_int host_fd;
	int host_fd_old;		/* -1 or a dup: filemap_table.lock */
	int host_accmode;		/* of host_fd: filemap_table.lock */

	pthread_mutex_t wb_lock;	/* see the top of the file */

	spinlock_t i_lock;
	struct xarray i_pages;		/* index -> page: i_lock */
	unsigned long nrpages;		/* entries in i_pages: i_lock */
};

#define FILEMAP_HASH_BITS	8
#define FILEMAP_HASH_SIZE	(1U << FILEMAP_HASH_BITS)

static struct {
	pthread_mutex_t lock;
	/* Broadcast when a dying mapping has left the table. */
	pthread_cond_t released;
	struct address_space *hash[FILEMAP_HASH_SIZE];
} filemap_table = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.released = PTHREAD_COND_INITIALIZER,
};

/* Pages in all page caches together. */
static atomic_long nr_pagecache_pages;

/* Pages handled per visit under i_lock by write-back and eviction. */
#define FILEMAP_BATCH	32

static unsigned int filemap_hash(dev_t dev, ino_t ino)
{
	uint64_t key = ((uint64_t)dev * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)ino;

	return (unsigned int)((key * 0x9e3779b97f4a7c15ULL) >>
			      (64 - FILEMAP_HASH_BITS));
}

/* ---- address_space lifetime ---- */

static struct address_space *mapping_alloc(bool shmem)
{
	struct address_space *mapping = calloc(1, sizeof(*mapping));

	if (!mapping)
		return NULL;
	mapping->i_shmem = shmem;
	mapping->i_count = 1;
	atomic_init(&mapping->host_fd, -1);
	mapping->host_fd_old = -1;
	pthread_mutex_init(&mapping->wb_lock, NULL);
	spin_lock_init(&mapping->i_lock);
	xa_init(&mapping->i_pages);
	return mapping;
}

static void mapping_free(struct address_space *mapping)
{
	VM_BUG_ON(!xa_empty(&mapping->i_pages) || mapping->nrpages);
	pthread_mutex_destroy(&mapping->wb_lock);
	spin_lock_destroy(&mapping->i_lock);
	free(mapping);
}

/* Caller holds filemap_table.lock. */
static struct address_space *mapping_lookup(dev_t dev, ino_t ino)
{
	struct address_space *mapping;

	mapping = filemap_table.hash[filemap_hash(dev, ino)];
	for (; mapping; mapping = mapping->i_hash_next)
		if (mapping->i_dev == dev && mapping->i_ino == ino)
			return mapping;
	return NULL;
}

/* Caller holds filemap_table.lock. */
static void mapping_unhash(struct address_space *mapping)
{
	struct address_space **p;

	p = &filemap_table.hash[filemap_hash(mapping->i_dev, mapping->i_ino)];
	while (*p != mapping)
		p = &(*p)->i_hash_next;
	*p = mapping->i_hash_next;
}

static int host_dup(int fd)
{
	int newfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	if (newfd < 0)
		return errno == EMFILE || errno == ENFILE ? -EMFILE : -ENOMEM;
	return newfd;
}

/*
 * The address_space of the inode st describes, with a new i_count
 * reference; created with a dup of fd if there is none. fd is open with
 * accmode (O_RDONLY or O_RDWR); a mapping that only had a read-only dup
 * gets a read-write one, so that write-back can work.
 */
static struct address_space *mapping_get(const struct stat *st, int fd,
					 int accmode, int *err)
{
	struct address_space *mapping;
	int newfd;

	pthread_mutex_lock(&filemap_table.lock);
	for (;;) {
		mapping = mapping_lookup(st->st_dev, st->st_ino);
		if (!mapping || !mapping->i_dying)
			break;
		pthread_cond_wait(&filemap_table.released, &filemap_table.lock);
	}

	if (mapping) {
		if (accmode == O_RDWR && mapping->host_accmode != O_RDWR) {
			newfd = host_dup(fd);
			if (newfd < 0) {
				mapping = NULL;
				*err = newfd;
				goto out;
			}
			VM_BUG_ON(mapping->host_fd_old >= 0);
			mapping->host_fd_old = atomic_load(&mapping->host_fd);
			atomic_store(&mapping->host_fd, newfd);
			mapping->host_accmode = O_RDWR;
		}
		mapping->i_count++;
		goto out;
	}

	newfd = host_dup(fd);
	if (newfd < 0) {
		*err = newfd;
		goto out;
	}
	mapping = mapping_alloc(false);
	if (!mapping) {
		close(newfd);
		*err = -ENOMEM;
		goto out;
	}
	mapping->i_dev = st->st_dev;
	mapping->i_ino = st->st_ino;
	atomic_store(&mapping->host_fd, newfd);
	mapping->host_accmode = accmode;
	mapping->i_hash_next = filemap_table.hash[filemap_hash(st->st_dev,
							       st->st_ino)];
	filemap_table.hash[filemap_hash(st->st_dev, st->st_ino)] = mapping;
out:
	pthread_mutex_unlock(&filemap_table.lock);
	return mapping;
}

/*
 * Drop every page of the cache: each loses page->mapping and the cache's
 * reference. The last file of the mapping is gone, so no PTE maps them
 * any more; whoever still holds a reference keeps an anonymous-looking
 * page that returns to the allocator with that reference.
 */
static void mapping_evict_all(struct address_space *mapping)
{
	struct page *batch[FILEMAP_BATCH];
	unsigned int n;

	do {
		unsigned long index = 0;
		struct page *page;

		n = 0;
		spin_lock(&mapping->i_lock);
		while (n < FILEMAP_BATCH &&
		       (page = xa_find(&mapping->i_pages, &index, ~0UL))) {
			VM_BUG_ON(page_mapcount(page) != 0);
			xa_erase(&mapping->i_pages, index);
			WRITE_ONCE(page->mapping, NULL);
			clear_page_flag(page, PG_dirty);
			batch[n++] = page;
		}
		mapping->nrpages -= n;
		spin_unlock(&mapping->i_lock);

		atomic_fetch_sub(&nr_pagecache_pages, n);
		for (unsigned int i = 0; i < n; i++)
			put_page(batch[i]);
	} while (n == FILEMAP_BATCH);
}

/*
 * The last struct file of mapping is gone: write back, empty the cache,
 * close the host descriptors, free. A write-back error here loses the
 * data, as there is no one left to report it to.
 */
static void mapping_release(struct address_space *mapping)
{
	if (!mapping->i_shmem)
		filemap_write_and_wait_range(mapping, 0, ~0UL);
	mapping_evict_all(mapping);

	if (!mapping->i_shmem) {
		pthread_mutex_lock(&filemap_table.lock);
		mapping_unhash(mapping);
		pthread_cond_broadcast(&filemap_table.released);
		pthread_mutex_unlock(&filemap_table.lock);
		close(atomic_load(&mapping->host_fd));
		if (mapping->host_fd_old >= 0)
			close(mapping->host_fd_old);
	}
	mapping_free(mapping);
}

static void mapping_put(struct address_space *mapping)
{
	bool last;

	pthread_mutex_lock(&filemap_table.lock);
	VM_BUG_ON(mapping->i_count <= 0);
	last = --mapping->i_count == 0;
	if (last)
		mapping->i_dying = true;
	pthread_mutex_unlock(&filemap_table.lock);
	if (last)
		mapping_release(mapping);
}

/* ---- struct file ---- */

static struct file *file_alloc(struct address_space *mapping, int accmode)
{
	struct file *file = malloc(sizeof(*file));

	if (file) {
		atomic_init(&file->f_count, 1);
		file->f_flags = accmode;
		file->f_mapping = mapping;
	}
	return file;
}

struct file *file_from_fd(int fd, int *err)
{
	struct address_space *mapping;
	struct file *file;
	struct stat st;
	int flags, accmode;

	flags = fcntl(fd, F_GETFL);
	/* An O_PATH descriptor allows no I/O: mmap(2) says EBADF too. */
	if (flags < 0 || (flags & O_PATH)) {
		*err = -EBADF;
		return NULL;
	}
	if (fstat(fd, &st)) {
		*err = -EBADF;
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		*err = -ENODEV;
		return NULL;
	}
	accmode = flags & O_ACCMODE;
	if (accmode != O_RDONLY && accmode != O_RDWR) {
		*err = -EACCES;
		return NULL;
	}

	mapping = mapping_get(&st, fd, accmode, err);
	if (!mapping)
		return NULL;
	file = file_alloc(mapping, accmode);
	if (!file) {
		mapping_put(mapping);
		*err = -ENOMEM;
	}
	return file;
}

struct file *shmem_file_setup(unsigned long size)
{
	struct address_space *mapping = mapping_alloc(true);
	struct file *file;

	if (!mapping)
		return NULL;
	/* Rounded up, without overflowing near ULONG_MAX. */
	mapping->i_shmem_pages = (size >> PAGE_SHIFT) +
				 !!(size & (PAGE_SIZE - 1));
	file = file_alloc(mapping, O_RDWR);
	if (!file)
		mapping_free(mapping);
	return file;
}

void get_file(struct file *file)
{
	int old = atomic_fetch_add(&file->f_count, 1);

	VM_BUG_ON(old <= 0);
}

void fput(struct file *file)
{
	int old = atomic_fetch_sub(&file->f_count, 1);

	VM_BUG_ON(old <= 0);
	if (old == 1) {
		mapping_put(file->f_mapping);
		free(file);
	}
}

bool file_is_shmem(const struct file *file)
{
	return file->f_mapping->i_shmem;
}

/* ---- reading pages in ---- */

/* 0 if index is inside the file as it is now, -EFAULT past its end. */
static int filemap_check_index(struct address_space *mapping, pgoff_t index)
{
	struct stat st;
	unsigned long size;

	if (mapping->i_shmem)
		return index < mapping->i_shmem_pages ? 0 : -EFAULT;
	if (fstat(atomic_load(&mapping->host_fd), &st))
		return -EIO;
	size = (unsigned long)st.st_size;
	if (index >= (size >> PAGE_SHIFT) + !!(size & (PAGE_SIZE - 1)))
		return -EFAULT;
	return 0;
}

/* Fill page with index's bytes of the file, zeros past its end. */
static int filemap_read_page(struct address_space *mapping,
			     struct page *page, pgoff_t index)
{
	char *buf = page_address(page);
	off_t pos = (off_t)index << PAGE_SHIFT;
	int fd = atomic_load(&mapping->host_fd);
	size_t done = 0;

	if (mapping->i_shmem) {
		memset(buf, 0, PAGE_SIZE);
		return 0;
	}
	while (done < PAGE_SIZE) {
		ssize_t n = pread(fd, buf + done, PAGE_SIZE - done,
				  pos + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -EIO;
		}
		if (n == 0)
			break;		/* end of file */
		done += n;
	}
	memset(buf + done, 0, PAGE_SIZE - done);
	return 0;
}

static struct page *filemap_lookup(struct address_space *mapping,
				   pgoff_t index)
{
	struct page *page;

	spin_lock(&mapping->i_lock);
	page = xa_load(&mapping->i_pages, index);
	if (page)
		get_page(page);
	spin_unlock(&mapping->i_lock);
	return page;
}

/*
 * A hit costs no host call: a file that the host shrinks under a cached
 * page keeps that page readable until the mapping dies (uhmm is not told
 * of host truncation).
 *
 * A miss reads the page without i_lock; two threads missing on the same
 * index both read, and the one that inserts second frees its copy and
 * takes the first one's.
 */
int filemap_get_page(struct file *file, pgoff_t index, struct page **pagep)
{
	struct address_space *mapping = file->f_mapping;
	struct page *page, *cached = NULL;
	int err;

	page = filemap_lookup(mapping, index);
	if (page)
		goto found;

	err = filemap_check_index(mapping, index);
	if (err)
		return err;
	page = alloc_page();
	if (!page)
		return -ENOMEM;
	err = filemap_read_page(mapping, page, index);
	if (err) {
		put_page(page);
		return err;
	}
	set_page_flag(page, PG_uptodate);

	spin_lock(&mapping->i_lock);
	err = xa_insert(&mapping->i_pages, index, page);
	if (!err) {
		WRITE_ONCE(page->mapping, mapping);
		page->index = index;
		mapping->nrpages++;
		/* the cache keeps the allocation's reference */
		get_page(page);		/* and this one is the caller's */
	} else if (err == -EBUSY) {
		cached = xa_load(&mapping->i_pages, index);
		get_page(cached);
	}
	spin_unlock(&mapping->i_lock);

	if (!err) {
		atomic_fetch_add(&nr_pagecache_pages, 1);
	} else {
		put_page(page);
		if (!cached)
			return err;
		page = cached;
	}
found:
	VM_BUG_ON(!test_page_flag(page, PG_uptodate));
	*pagep = page;
	return 0;
}

/* ---- dirty pages and write-back ---- */

/*
 * Called with a page-table lock held: sets a bit and nothing else. The
 * caller keeps page->mapping alive (it maps the page through a VMA that
 * holds a file of that mapping, or holds such a file otherwise), so the
 * mapping may be looked at.
 */
void set_page_dirty(struct page *page)
{
	struct address_space *mapping = READ_ONCE(page->mapping);

	if (!mapping || PageAnon(page) || mapping->i_shmem)
		return;
	if (!PageDirty(page))
		set_page_flag(page, PG_dirty);
}

/*
 * Write one page back, no further than isize. Returns 0, or -EIO with the
 * page dirty again.
 */
static int filemap_writepage(int fd, struct page *page, off_t isize)
{
	off_t pos = (off_t)page->index << PAGE_SHIFT;
	const char *buf = page_address(page);
	size_t len, done = 0;
	int err = 0;

	/*
	 * Clear the bit before reading the page: a store after this point
	 * dirties the page again (through the PTE's dirty bit) and is
	 * written by the next pass.
	 */
	if (!test_and_clear_page_flag(page, PG_dirty))
		return 0;
	/* Wholly past the end: the host truncated the file. The kernel
	 * would have dropped the page with the truncation; drop the data. */
	if (pos >= isize)
		return 0;
	len = min((off_t)PAGE_SIZE, isize - pos);

	set_page_flag(page, PG_writeback);
	while (done < len) {
		ssize_t n = pwrite(fd, buf + done, len - done,
				   pos + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = -EIO;
			break;
		}
		done += n;
	}
	clear_page_flag(page, PG_writeback);
	if (err)
		set_page_flag(page, PG_dirty);
	return err;
}

/*
 * wb_lock makes the pass "and wait": a page that a concurrent pass has
 * already taken the dirty bit of is on disk by the time this pass gets
 * the lock. The file size is sampled once, at the start of the pass.
 */
int filemap_write_and_wait_range(struct address_space *mapping,
				 pgoff_t first, pgoff_t last)
{
	struct page *batch[FILEMAP_BATCH];
	unsigned long index = first;
	bool done = false;
	struct stat st;
	int fd, ret = 0;

	if (mapping->i_shmem || first > last)
		return 0;

	pthread_mutex_lock(&mapping->wb_lock);
	fd = atomic_load(&mapping->host_fd);
	if (fstat(fd, &st)) {
		ret = -EIO;
		goto out;
	}
	while (!done) {
		unsigned int n = 0;
		struct page *page;

		spin_lock(&mapping->i_lock);
		while (n < FILEMAP_BATCH) {
			page = xa_find(&mapping->i_pages, &index, last);
			if (!page || index == last)
				done = true;
			if (!page)
				break;
			if (PageDirty(page)) {
				get_page(page);
				batch[n++] = page;
			}
			if (done)
				break;
			index++;
		}
		spin_unlock(&mapping->i_lock);

		for (unsigned int i = 0; i < n; i++) {
			if (filemap_writepage(fd, batch[i], st.st_size))
				ret = -EIO;
			put_page(batch[i]);
		}
	}
out:
	pthread_mutex_unlock(&mapping->wb_lock);
	return ret;
}

unsigned long filemap_nr_pages(void)
{
	return (unsigned long)atomic_load(&nr_pagecache_pages);
}
