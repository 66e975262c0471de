/* SPDX-License-Identifier: MIT */
/*
 * Address windows: the host's view of each mm.
 *
 * Every mm's addresses lie in [uhmm_window_start, uhmm_window_end). An mm
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

extern unsigned long uhmm_window_start;
extern unsigned long uhmm_window_end;

/* Reserve the first window, size bytes (2 MiB aligned). 0 or -errno. */
int window_init(size_t size);

/* Bind mm to a free window (sets mm->window_delta). 0 or -ENOMEM. */
int window_bind(struct mm_struct *mm);
/* Empty mm's window and free it. No SIGSEGV handler is inside it on
 * return. mm's page tables are empty. */
void window_unbind(struct mm_struct *mm);

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

/*
 * Host mappings (the only place besides src/mm/physmem.c that asks the
 * host for memory). All take mm addresses, page aligned.
 *
 * host_map(): map [addr, addr + len) to fd at off with prot (prefaulted
 * if writable). -errno on failure.
 * host_unmap(): make [addr, addr + len) PROT_NONE again. Never fails:
 * where the host cannot split its mappings it empties the whole window.
 * Both keep the process's host mappings under vm.max_map_count less an
 * eighth, emptying every window past that.
 * host_unmap_all(): empty the whole window.
 */
/*
 * The zero page, as the host maps it: PMD_SIZE bytes of a memfd that is
 * never written, mapped read-only at the offset of the address within
 * its 2 MiB, so that a run of zero-page PTEs is one host mapping that
 * the host populates in one go (its fault-around), as it would not for
 * a private anonymous mapping.
 */
extern int host_zero_fd;

int host_map(struct mm_struct *mm, unsigned long addr, size_t len, int prot,
	     int fd, off_t off);
void host_unmap(struct mm_struct *mm, unsigned long addr, size_t len);
void host_unmap_all(struct mm_struct *mm);

#endif /* UHMM_CPU_WINDOW_H */
