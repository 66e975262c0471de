/* SPDX-License-Identifier: MIT */
/*
 * Address windows: the host's view of each mm.
 *
 * Every mm's addresses lie in [user_va_start, user_va_end). An mm
 * is bound to a window, a range of this process's address space of that
 * size, reserved PROT_NONE, where address A of the mm is the host pointer
 * A + mm->window_delta. The first window is the range itself (delta 0):
 * the mm bound to it uses its addresses as pointers. The host mappings
 * inside a window are the CPU's TLB for that mm (src/cpu/tlb.c fills
 * nothing; src/cpu/fault.c fills them on a miss; flush_tlb_range()
 * empties them).
 *
 * Windows are never given back to the host: an mm that goes leaves its
 * window, emptied, for the next mm (the first window first).
 */
#ifndef UHMM_CPU_WINDOW_H
#define UHMM_CPU_WINDOW_H

#include "internal.h"
#include "cpu/arch.h"

/*
 * A window slot. base is set once, under window_lock, before nr_windows
 * counts the slot, and never changes. mm is set under window_lock and
 * read lock-free by the SIGSEGV handler, which announces itself in
 * lookups first: window_unbind() clears mm and then waits for lookups to
 * drain, so a handler that saw the mm has taken mm_users (or given up)
 * before the struct can go.
 */
struct host_window {
	unsigned long base;
	struct mm_struct *_Atomic mm;
	atomic_int lookups;
	/*
	 * Held for reading around every host mapping call in the window,
	 * for writing by the fallback of window_empty() that leaves the
	 * window unmapped for a moment: no mapping of ours lands in it
	 * then, so one found there is not ours. Innermost: nothing is
	 * taken under it.
	 */
	pthread_rwlock_t host_lock;
};

static inline size_t window_size(void)
{
	return user_va_end - user_va_start;
}

/* The slots that have a base, for src/cpu/host.c. */
unsigned int window_nr_slots(void);
struct host_window *window_slot(unsigned int i);

/*
 * The mm whose window holds host address haddr, with an mm_users
 * reference, or NULL (not in a window, or the mm has exited). Lock-free:
 * safe in a SIGSEGV handler.
 */
struct mm_struct *window_get_mm(unsigned long haddr);

static inline unsigned long window_host_addr(const struct mm_struct *mm,
					     unsigned long addr)
{
	return addr + mm->window_delta;
}

/* ---- src/cpu/host.c ---- */

/*
 * The zero page, as the host maps it: PMD_SIZE bytes of a memfd that is
 * never written, mapped read-only at the offset of the address within
 * its 2 MiB, so that a run of zero-page PTEs is one host mapping that
 * the host populates in one go (its fault-around), as it would not for
 * a private anonymous mapping. host_init() makes it and probes the host
 * (see src/cpu/host.c): 0 or -errno.
 */
extern int host_zero_fd;
extern bool host_guard;		/* shootdowns use guard markers */
int host_init(void);

/*
 * Host mappings (the only place besides src/mm/physmem.c that asks the
 * host for memory). All take mm addresses, page aligned.
 *
 * host_map(): map [addr, addr + len) to fd at off with prot (prefaulted
 * if writable). -errno on failure.
 * host_unmap(): make [addr, addr + len) fault again (guard markers, or
 * PROT_NONE). Never fails: where the host cannot split its mappings it
 * empties the whole window.
 * Both keep the process's host mappings under vm.max_map_count less an
 * eighth, emptying every window past that.
 * host_unmap_all(): empty the whole window.
 */
int host_map(struct mm_struct *mm, unsigned long addr, size_t len, int prot,
	     int fd, off_t off);
void host_unmap(struct mm_struct *mm, unsigned long addr, size_t len);
void host_unmap_all(struct mm_struct *mm);

#endif /* UHMM_CPU_WINDOW_H */
