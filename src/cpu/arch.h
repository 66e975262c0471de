/* SPDX-License-Identifier: MIT */
/*
 * The calls src/mm makes into the host MMU binding (src/cpu), and the
 * only header of src/cpu that src/mm includes: the role the kernel's
 * asm/tlbflush.h and asm/mmu_context.h play for its mm. The binding
 * calls back into mm freely (page tables, the fault handler), as the
 * kernel's arch code does.
 */
#ifndef UHMM_CPU_ARCH_H
#define UHMM_CPU_ARCH_H

#include <stddef.h>

struct mm_struct;

/*
 * Every mm's addresses lie in [user_va_start, user_va_end) (the
 * kernel's mmap_base and TASK_SIZE), fixed by window_init().
 */
extern unsigned long user_va_start;
extern unsigned long user_va_end;

/* Reserve the first window, size bytes (2 MiB aligned). 0 or -errno. */
int window_init(size_t size);

/* Bind mm to a free window (sets mm->window_delta). 0 or -ENOMEM. */
int window_bind(struct mm_struct *mm);
/* Empty mm's window and free it. No SIGSEGV handler is inside it on
 * return. mm's page tables are empty. */
void window_unbind(struct mm_struct *mm);

/*
 * Every CPU translation of [start, end) made before is gone on return.
 * The caller keeps the tables of the range in place (mmap_lock, or the
 * pgtable_free_lock of an rmap walk) and may hold one PTL.
 */
void flush_tlb_range(struct mm_struct *mm, unsigned long start,
		     unsigned long end);

#endif /* UHMM_CPU_ARCH_H */
