// SPDX-License-Identifier: MIT
/*
 * TLB flushes. The CPU's translations of managed memory are the host
 * mappings of the address window; uhmm_access and device walkers read
 * the page tables under their locks and cache nothing, so until the
 * window is bound to host mappings there is nothing to shoot down. This
 * is the one place where that shootdown goes.
 */
#include "mm/pgtable.h"

void flush_tlb_range(struct mm_struct *mm, unsigned long start,
		     unsigned long end)
{
	(void)mm;
	(void)start;
	(void)end;
}
