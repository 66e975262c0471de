/* SPDX-License-Identifier: MIT */
/*
 * hmm_range_fault: mirror a range of the CPU page tables into a device's,
 * faulting pages in where asked. See docs/lifetime.md for the driver
 * pattern (read_begin, fault, driver lock, read_retry).
 */
#ifndef UHMM_HMM_H
#define UHMM_HMM_H

#include <uhmm/compiler.h>
#include <uhmm/mmu_notifier.h>

UHMM_BEGIN_DECLS

/*
 * The bits of an hmm_pfns[] entry: the pfn in the low bits, flags on top.
 *
 * On output:
 *  HMM_PFN_VALID: the pfn is mapped and may be read by the device
 *  HMM_PFN_WRITE: ... and written (needs HMM_PFN_VALID)
 *  HMM_PFN_ERROR: the address cannot be mirrored (a hole, PROT_NONE)
 *  order: log2 of the pages the CPU maps this pfn with
 *	(hmm_pfn_to_map_order())
 * 0: nothing is mapped there.
 *
 * On input (with range->default_flags and range->pfn_flags_mask):
 *  HMM_PFN_REQ_FAULT: fault the page in if it is not mapped
 *  HMM_PFN_REQ_WRITE: fault it in writable, breaking copy-on-write
 */
#define HMM_PFN_VALID		(1UL << 63)
#define HMM_PFN_WRITE		(1UL << 62)
#define HMM_PFN_ERROR		(1UL << 61)
#define HMM_PFN_ORDER_SHIFT	56
#define HMM_PFN_REQ_FAULT	HMM_PFN_VALID
#define HMM_PFN_REQ_WRITE	HMM_PFN_WRITE
#define HMM_PFN_FLAGS		(0xFFUL << HMM_PFN_ORDER_SHIFT)

/* The page of a valid hmm_pfns[] entry. */
static inline struct page *hmm_pfn_to_page(unsigned long hmm_pfn)
{
	return pfn_to_page(hmm_pfn & ~HMM_PFN_FLAGS);
}

/* The pfn of a valid hmm_pfns[] entry. */
static inline unsigned long hmm_pfn_to_pfn(unsigned long hmm_pfn)
{
	return hmm_pfn & ~HMM_PFN_FLAGS;
}

/* The CPU maps the page with 2^order pages (0: a 4 KiB PTE). */
static inline unsigned int hmm_pfn_to_map_order(unsigned long hmm_pfn)
{
	return (hmm_pfn >> HMM_PFN_ORDER_SHIFT) & 0x1F;
}

struct hmm_range {
	struct mmu_interval_notifier *notifier;	/* covers [start, end) */
	unsigned long notifier_seq;	/* from mmu_interval_read_begin() */
	unsigned long start;		/* page aligned */
	unsigned long end;		/* page aligned, > start */
	unsigned long *hmm_pfns;	/* one entry per page, in and out */
	unsigned long default_flags;	/* HMM_PFN_REQ_* for every page */
	unsigned long pfn_flags_mask;	/* which input bits of hmm_pfns[]
					 * count, per page */
	void *dev_private_owner;	/* device-private pages of this owner
					 * are reported, not migrated */
};

/*
 * Snapshot [range->start, range->end) of the CPU page tables into
 * range->hmm_pfns, faulting in the pages the request bits ask for.
 * Caller holds mmap_read_lock of the notifier's mm.
 *
 * Returns 0 with every entry filled, or:
 *  -EBUSY	the notifier sequence moved (an invalidation hit the range):
 *		call mmu_interval_read_begin() and try again;
 *  -EFAULT	a requested page is in a hole, in a VMA that cannot be
 *		mirrored (no VM_READ; VM_IO or VM_PFNMAP: raw pfns, where
 *		a snapshot reports HMM_PFN_ERROR), or could not be
 *		faulted in;
 *  -EPERM	a write was requested in a VMA without VM_WRITE;
 *  -ENOMEM	memory ran out while faulting;
 *  -EINVAL	start/end unaligned or empty, or no notifier.
 * On an error, entries may hold partial results and must not be used.
 */
int hmm_range_fault(struct hmm_range *range);

UHMM_END_DECLS

#endif /* UHMM_HMM_H */
