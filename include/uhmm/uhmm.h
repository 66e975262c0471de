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

#include <signal.h>
#include <sys/mman.h>
#include <sys/types.h>

#include <uhmm/compiler.h>
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
#include <uhmm/version.h>
#include <uhmm/xarray.h>

UHMM_BEGIN_DECLS

/* ---- set-up ---- */

struct uhmm_config {
	/* Bytes of system RAM (a sparse memfd), a multiple of 2 MiB up to
	 * 1 TiB; 0: the default, 1 GiB. The environment variable UHMM_RAM
	 * (e.g. "4G") overrides it. */
	size_t ram_size;
	/* Bytes of virtual address space uhmm_mmap hands out from, a
	 * multiple of 2 MiB up to 32 TiB; 0: the default, 64 GiB. UHMM_VA
	 * overrides it. Every mm gets a window of this size in the
	 * process's address space (uhmm_ptr()). */
	size_t va_size;
	/* Pages a CPU first touch of private anonymous memory allocates
	 * at once (an aligned block, as the kernel's multi-size THP): a
	 * power of two from 1 to 512; 0: the default, 16. UHMM_ANON_BLOCK
	 * overrides it. More pages, fewer faults, more memory populated
	 * that may never be used. */
	unsigned int anon_block_pages;
};

/*
 * Set sizes before first use. Optional: every entry point initialises
 * with the defaults on first use. Returns 0, -EBUSY if uhmm is already
 * initialised, -EINVAL for a setting (a field here or a UHMM_* variable)
 * out of its range, -ENOMEM if the host refuses the memory. Either prints
 * a line on stderr for each value or reservation refused, naming the
 * setting (README.md, "Memory and settings", lists them).
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
 * NULL with errno ENOMEM, or EINVAL where initialisation refused a
 * setting (see uhmm_init()). */
struct mm_struct *uhmm_mm_create(void);

/*
 * mmap(2) in mm. prot: PROT_NONE or PROT_READ|PROT_WRITE|PROT_EXEC bits;
 * flags: exactly one of MAP_PRIVATE and MAP_SHARED, optionally
 * MAP_ANONYMOUS (fd ignored, off must be 0) and MAP_FIXED (addr is used
 * and whatever was mapped there is unmapped first). A file mapping needs
 * fd open for reading, and for writing if MAP_SHARED with PROT_WRITE.
 * Returns the address, or MAP_FAILED with errno: EINVAL (bad flags,
 * length 0, unaligned addr or off, a range outside the address space),
 * EBADF, EACCES, ENODEV (fd not a regular file), ENOMEM (also for a len
 * above the address space, UHMM_VA: said once on stderr, as it is a
 * setting).
 */
void *uhmm_mmap(struct mm_struct *mm, void *addr, size_t len, int prot,
		int flags, int fd, off_t off);

/* munmap(2): 0, or -1 with EINVAL. Unmapping nothing is not an error. */
int uhmm_munmap(struct mm_struct *mm, void *addr, size_t len);

/* <sys/mman.h> has these only with _GNU_SOURCE; the values are Linux's. */
#ifndef MREMAP_MAYMOVE
#define MREMAP_MAYMOVE		1
#endif
#ifndef MREMAP_FIXED
#define MREMAP_FIXED		2
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP	4
#endif

/*
 * mremap(2) in mm: resize the mapping [old_addr, old_addr + old_len),
 * which must lie in one VMA, to new_len bytes. Lengths are rounded up
 * to pages. Without flags it shrinks in place (the tail is unmapped) or
 * grows in place if the space after the VMA is free. MREMAP_MAYMOVE
 * lets it move where growing in place is not possible; MREMAP_FIXED
 * (with MAYMOVE; the fifth argument, void *new_addr, is read only with
 * it) moves it to new_addr, unmapping whatever was there first;
 * MREMAP_DONTUNMAP (with MAYMOVE, old_len == new_len) moves it and
 * leaves the old range mapped, empty: private memory reads zeros there
 * again, file memory the file.
 *
 * A move keeps every page where it is (device pages stay on the device)
 * and notifies the old range with MMU_NOTIFY_UNMAP before any PTE
 * changes; the new range faults in from the moved page tables. A device
 * page that a uhmm_fork() relative maps too is first copied to system
 * RAM for this mm, as a CPU write would copy it.
 *
 * Returns the (new) address, or MAP_FAILED with errno: EINVAL (unknown
 * flags, unaligned old_addr or new_addr, old_len or new_len 0, FIXED or
 * DONTUNMAP without MAYMOVE, DONTUNMAP with a size change, a FIXED
 * range outside the address space or overlapping the old one,
 * DONTUNMAP of a driver's VM_DONTEXPAND or VM_PFNMAP mapping), EFAULT
 * (old_addr is not mapped, the old range of a move or growth runs past
 * its VMA, or it would grow a VM_DONTEXPAND or VM_PFNMAP mapping; a
 * shrink in place, as in Linux, needs only old_addr mapped and unmaps
 * the tail whatever VMAs and holes it spans), ENOMEM
 * (cannot grow in place without MAYMOVE, no free range to move to, out
 * of memory), EAGAIN (a shared device page its owner would not
 * migrate). Unlike Linux, old_len 0 (a second mapping of shared
 * memory) is refused with EINVAL.
 */
void *uhmm_mremap(struct mm_struct *mm, void *old_addr, size_t old_len,
		  size_t new_len, int flags, ... /* void *new_addr */);

/*
 * mprotect(2): 0, or -1 with EINVAL (bad prot, unaligned), ENOMEM (part
 * of the range is not mapped), EACCES (PROT_WRITE on a shared mapping of
 * a file not open for writing). As Linux, a failure part-way leaves the
 * VMAs before the point of failure changed: with ENOMEM for a hole, the
 * mapped range from addr up to the hole has the new protection (nothing
 * changes if addr itself is in a hole), and with EACCES the VMAs before
 * the one that refuses. Running out of memory to split a VMA changes
 * nothing.
 */
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

/* ---- CPU access through pointers ---- */

/*
 * The pointer through which this process reaches address addr of mm, or
 * NULL if addr is outside mm's address space. Loads and stores through
 * it act as the CPU's on mm: they fault pages in, break copy-on-write,
 * bring device-private pages back, wait out migrations, and fault
 * (SIGSEGV, SIGBUS) where the kernel's would. The first mm created (and,
 * once it is gone, the next one) maps its addresses at themselves:
 * uhmm_ptr(mm, addr) == addr, so what uhmm_mmap() returns is the
 * pointer. Any other mm (a uhmm_fork() child) has a window of its own.
 */
void *uhmm_ptr(struct mm_struct *mm, void *addr);

/*
 * uhmm serves CPU faults from a SIGSEGV handler it installs when it
 * initialises (unless UHMM_NO_FAULT_HANDLER is set in the environment).
 * A SIGSEGV it does not resolve goes to the handler that was installed
 * before it, or kills the process as the kernel would.
 *
 * A program that installs its own SIGSEGV handler afterwards has two
 * ways to keep pointers working: call uhmm_install_fault_handler() again
 * once its handler is in (uhmm then hands it what it does not resolve),
 * or call uhmm_handle_fault() first thing in its handler and return if
 * it says true (the access has been resolved and runs again). On false
 * the fault is the program's: info->si_signo and si_code say what the
 * kernel would have delivered (SIGSEGV with SEGV_MAPERR or SEGV_ACCERR,
 * or SIGBUS; a SIGBUS with si_errno ENOMEM where RAM ran out, where the
 * kernel would call its OOM killer). uhmm holds no lock when it hands a
 * fault on, so the program's handler may siglongjmp() out and go on
 * calling uhmm.
 *
 * Loads, stores and instruction fetches are checked as x86 Linux checks
 * them: PROT_WRITE alone lets loads through, and a fetch needs
 * PROT_EXEC (else SIGSEGV, SEGV_ACCERR, once the page is in: a fetch
 * past the end of a file is SIGBUS first). Only x86-64's signal context
 * tells a fetch from a load; elsewhere a fetch from a readable page
 * without PROT_EXEC faults again for ever.
 *
 * A thread must not touch managed memory while it is inside a uhmm
 * callback (mmu notifier, migrate_to_ram, page_free): the fault would
 * wait for locks that thread holds.
 *
 * info is the handler's siginfo_t *. It is declared void * because ISO C
 * without a POSIX feature-test macro has no siginfo_t, and this header
 * must not depend on the includer's macros; a siginfo_t * converts to it
 * implicitly, in C as in C++.
 */
bool uhmm_handle_fault(void *info, void *ucontext);

/* (Re)install uhmm's SIGSEGV handler in front of the current one: 0, or
 * -errno (-EBUSY where a sanitizer keeps SIGSEGV to itself). Call it
 * while no other thread can take a SIGSEGV. */
int uhmm_install_fault_handler(void);

UHMM_END_DECLS

#endif /* UHMM_UHMM_H */
