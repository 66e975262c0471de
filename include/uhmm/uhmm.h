/* SPDX-License-Identifier: MIT */
#ifndef UHMM_UHMM_H
#define UHMM_UHMM_H

/*
 * uhmm: Heterogeneous Memory Management in user space.
 *
 * This header includes every public area and declares what a process does
 * to its own address space (in the kernel: the system calls). Those calls
 * follow libc's conventions: -1 or MAP_FAILED with errno set.
 */

#include <sys/mman.h>
#include <sys/types.h>

#include <uhmm/dmirror.h>
#include <uhmm/err.h>
#include <uhmm/hmm.h>
#include <uhmm/memremap.h>
#include <uhmm/migrate.h>
#include <uhmm/interval_tree.h>
#include <uhmm/mm.h>
#include <uhmm/mm_types.h>
#include <uhmm/mmu_notifier.h>
#include <uhmm/rmap.h>
#include <uhmm/types.h>

/* ---- set-up ---- */

struct uhmm_config {
	/* Bytes of system RAM (a sparse memfd); 0: the default, 1 GiB.
	 * The environment variable UHMM_RAM (e.g. "4G") overrides it. */
	size_t ram_size;
	/* Bytes of virtual address space uhmm_mmap hands out from; 0: the
	 * default, 64 GiB. UHMM_VA overrides it. */
	size_t va_size;
};

/*
 * Set sizes before first use. Optional: every entry point initialises
 * with the defaults on first use. Returns 0, -EBUSY if uhmm is already
 * initialised, -EINVAL for a size that is not a multiple of 2 MiB or is
 * out of range, -ENOMEM if the memory cannot be had.
 */
int uhmm_init(const struct uhmm_config *config);

struct uhmm_meminfo {
	unsigned long total_pages;	/* system RAM, in pages */
	unsigned long free_pages;	/* of which free; page tables are used */
	unsigned long pgtable_pages;	/* page-table pages in use */
	unsigned long pagecache_pages;	/* pages in file and shmem caches */
};

/*
 * Fill mi with exact counts of system RAM. Returns 0, or -EINVAL for NULL,
 * or the initialisation error.
 */
int uhmm_meminfo(struct uhmm_meminfo *mi);

/* ---- the process side ---- */

/* A new, empty address space, with one mm_users reference for the caller.
 * NULL with errno ENOMEM. */
struct mm_struct *uhmm_mm_create(void);

/*
 * mmap(2) in mm. prot: PROT_NONE or PROT_READ|PROT_WRITE|PROT_EXEC bits;
 * flags: exactly one of MAP_PRIVATE and MAP_SHARED, optionally
 * MAP_ANONYMOUS (fd ignored, off must be 0) and MAP_FIXED (addr is used
 * and whatever was mapped there is unmapped first). A file mapping needs
 * fd open for reading, and for writing if MAP_SHARED with PROT_WRITE.
 * Returns the address, or MAP_FAILED with errno: EINVAL (bad flags,
 * length 0, unaligned addr or off, a range outside the address space),
 * EBADF, EACCES, ENODEV (fd not a regular file), ENOMEM.
 */
void *uhmm_mmap(struct mm_struct *mm, void *addr, size_t len, int prot,
		int flags, int fd, off_t off);

/* munmap(2): 0, or -1 with EINVAL. Unmapping nothing is not an error. */
int uhmm_munmap(struct mm_struct *mm, void *addr, size_t len);

/* mprotect(2): 0, or -1 with EINVAL (bad prot, unaligned), ENOMEM (part
 * of the range is not mapped), EACCES (PROT_WRITE on a shared mapping of
 * a file not open for writing). */
int uhmm_mprotect(struct mm_struct *mm, void *addr, size_t len, int prot);

/* madvise(2) with MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL,
 * MADV_WILLNEED, MADV_DONTNEED: 0, or -1 with EINVAL (unknown advice,
 * unaligned) or ENOMEM (part of the range is not mapped; the mapped parts
 * are still advised, as in the kernel). */
int uhmm_madvise(struct mm_struct *mm, void *addr, size_t len, int advice);

/* msync(2) with MS_SYNC or MS_ASYNC (both write back now), MS_INVALIDATE
 * accepted: 0, or -1 with EINVAL, ENOMEM (unmapped), EIO. */
int uhmm_msync(struct mm_struct *mm, void *addr, size_t len, int flags);

/*
 * A copy of mm: private memory is shared copy-on-write, shared memory is
 * shared. The child has one mm_users reference for the caller. NULL with
 * errno ENOMEM (nothing of the child is left behind).
 */
struct mm_struct *uhmm_fork(struct mm_struct *mm);

/* Drop the owner's mm_users reference; the last user tears the address
 * space down (notifier release, unmap of everything, file write-back). */
void uhmm_mm_exit(struct mm_struct *mm);

/*
 * Read (write == 0) or write len bytes at addr of mm through buf, as a CPU
 * access would: faults pages in, breaks copy-on-write. Returns len, or -1
 * with errno EFAULT when part of the range is not mapped or does not
 * allow the access (what was before the faulting page was copied), or
 * ENOMEM.
 */
ssize_t uhmm_access(struct mm_struct *mm, void *addr, void *buf, size_t len,
		    int write);

#endif /* UHMM_UHMM_H */
