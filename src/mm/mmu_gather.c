// SPDX-License-Identifier: MIT
/*
 * The mmu_gather: PTEs cleared under the PTL, their range flushed and
 * their pages released after the lock is dropped.
 */
#include "mm/mm_internal.h"

void tlb_gather_mmu(struct mmu_gather *tlb, struct mm_struct *mm)
{
	tlb->mm = mm;
	tlb->start = ULONG_MAX;
	tlb->end = 0;
	tlb->nr = 0;
}

/* Flush what was cleared, then let the pages go. No PTL held. */
void tlb_flush_mmu(struct mmu_gather *tlb)
{
	if (tlb->start < tlb->end)
		flush_tlb_range(tlb->mm, tlb->start, tlb->end);
	tlb->start = ULONG_MAX;
	tlb->end = 0;
	for (unsigned int i = 0; i < tlb->nr; i++)
		put_page(tlb->pages[i]);
	tlb->nr = 0;
}

void tlb_finish_mmu(struct mmu_gather *tlb)
{
	tlb_flush_mmu(tlb);
}
