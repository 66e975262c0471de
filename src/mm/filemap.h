/* SPDX-License-Identifier: MIT */
/*
 * Files, shmem objects and their page cache.
 *
 * A struct file is what a VMA holds: a reference to an open host file
 * (shared file mappings, private file mappings) or to a shmem object (the
 * backing of MAP_SHARED|MAP_ANONYMOUS). Several struct files can share one
 * struct address_space: every mapping of the same host inode (same st_dev
 * and st_ino) finds the same page cache, as in the kernel.
 *
 * Who holds references:
 *  - struct file: each VMA that maps it (get_file/fput); the file holds a
 *    reference to its address_space.
 *  - struct address_space: each struct file of that inode. When the last
 *    one goes, dirty pages are written back, the page cache is emptied
 *    (each cached page loses the cache's reference) and the host fd is
 *    closed.
 *  - a page in the cache: one reference held by the cache, plus one for
 *    every PTE that maps it and every caller of filemap_get_page().
 */
#ifndef UHMM_MM_FILEMAP_H
#define UHMM_MM_FILEMAP_H

#include <sys/types.h>

#include "internal.h"

struct address_space;

struct file {
	atomic_int f_count;
	int f_flags;			/* O_ACCMODE bits of the host fd */
	struct address_space *f_mapping;	/* constant */
};

/*
 * A struct file for host file descriptor fd (uhmm keeps its own dup of
 * the descriptor; the caller may close fd). Returns the file, or NULL with
 * *err set: -EBADF (not an open fd, or an O_PATH one), -EACCES (not open
 * for reading), -ENODEV (not a regular file), -EMFILE (no descriptor left
 * for uhmm's dup), -ENOMEM.
 */
struct file *file_from_fd(int fd, int *err);

/* A new shmem object of size bytes (page aligned), zero filled. NULL if
 * memory for the bookkeeping cannot be had. */
struct file *shmem_file_setup(unsigned long size);

void get_file(struct file *file);
/* Drop a reference; see above for what the last one of an inode does. */
void fput(struct file *file);

/* True for a shmem object, false for a host file. */
bool file_is_shmem(const struct file *file);

/*
 * The page at index of file's page cache, reading it from the file on a
 * miss. Returns 0 and a page with a reference for the caller, uptodate;
 * -EFAULT if index is at or beyond the end of the file (SIGBUS in the
 * kernel), -ENOMEM, -EIO (the read failed). Pages beyond the file's end
 * inside the last partial page read as zeros. May block on file I/O:
 * never call it with a page-table lock held.
 */
int filemap_get_page(struct file *file, pgoff_t index, struct page **pagep);

/*
 * Mark a page-cache page dirty (its mapping will write it back). No-op
 * for anonymous pages and shmem. Takes no lock (callers may hold a
 * page-table lock); the caller must keep page->mapping alive, e.g. by
 * mapping the page through a VMA whose file is of that mapping.
 */
void set_page_dirty(struct page *page);

/*
 * Write every dirty page of the mapping with index in [first, last] back
 * to the host file (never extending it), and wait for the writes.
 * Returns 0, or -EIO if a write failed (the page stays dirty).
 */
int filemap_write_and_wait_range(struct address_space *mapping,
				 pgoff_t first, pgoff_t last);

/* Pages held by all page caches together (uhmm_meminfo). */
unsigned long filemap_nr_pages(void);

#endif /* UHMM_MM_FILEMAP_H */
