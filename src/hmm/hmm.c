// SPDX-License-Identifier: MIT
/*
 * hmm_range_fault: walk the CPU page tables of a range and report each
 * page to a device as pfn + HMM_PFN_* flags, faulting in what the request
 * bits ask for, as the kernel's mm/hmm.c.
 *
 * The walk runs under the caller's mmap_read_lock and takes each PTE
 * table's lock while it reads it. When a page must be faulted the walk
 * drops the table lock, faults the rest of that table's span, remembers
 * where it was (hmm_vma_walk.last) and starts again from there, unless
 * the fault invalidated the range, in which case the caller starts over.
 */
#include <uhmm/hmm.h>
#include <uhmm/memremap.h>

#include "mm/mm_internal.h"

struct hmm_vma_walk {
	struct hmm_range *range;
	unsigned long last;	/* entries before it are final */
};

enum {
	HMM_NEED_FAULT = 1 << 0,
	HMM_NEED_WRITE_FAULT = 1 << 1,
	HMM_NEED_ALL_BITS = HMM_NEED_FAULT | HMM_NEED_WRITE_FAULT,
	/* a migration entry: wait for it, then walk again */
	HMM_NEED_MIGRATION_WAIT = 1 << 2,
};

static unsigned long *hmm_pfns_at(struct hmm_range *range,
				  unsigned long addr)
{
	return range->hmm_pfns + ((addr - range->start) >> PAGE_SHIFT);
}

static void hmm_pfns_fill(struct hmm_range *range, unsigned long addr,
			  unsigned long end, unsigned long value)
{
	unsigned long *pfn = hmm_pfns_at(range, addr);

	for (; addr < end; addr += PAGE_SIZE)
		*pfn++ = value;
}

/* What the caller asks of the page whose input entry is hmm_pfn. */
static unsigned long hmm_pfn_req_flags(const struct hmm_range *range,
				       unsigned long hmm_pfn)
{
	return ((hmm_pfn & range->pfn_flags_mask) | range->default_flags) &
	       (HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE);
}

/* Must a page whose CPU mapping gives cpu_flags be faulted? */
static unsigned int hmm_pte_need_fault(unsigned long req,
				       unsigned long cpu_flags)
{
	if (!(req & HMM_PFN_REQ_FAULT))
		return 0;
	if ((req & HMM_PFN_REQ_WRITE) && !(cpu_flags & HMM_PFN_WRITE))
		return HMM_NEED_FAULT | HMM_NEED_WRITE_FAULT;
	if (!(cpu_flags & HMM_PFN_VALID))
		return HMM_NEED_FAULT;
	return 0;
}

/* The same for every page of [addr, end), all mapped with cpu_flags. */
static unsigned int hmm_range_need_fault(struct hmm_range *range,
					 unsigned long addr, unsigned long end,
					 unsigned long cpu_flags)
{
	const unsigned long *pfn = hmm_pfns_at(range, addr);
	unsigned int required = 0;

	/* Nothing can be asked for: the common snapshot case. */
	if (!((range->default_flags | range->pfn_flags_mask) &
	      HMM_PFN_REQ_FAULT))
		return 0;
	for (; addr < end; addr += PAGE_SIZE) {
		required |= hmm_pte_need_fault(hmm_pfn_req_flags(range, *pfn++),
					       cpu_flags);
		if (required == HMM_NEED_ALL_BITS)
			break;
	}
	return required;
}

/*
 * Fault every page of [addr, end) in vma, then have the walk restart at
 * addr. Called without any page-table lock.
 */
static int hmm_vma_fault(struct hmm_vma_walk *walk, struct vm_area_struct *vma,
			 unsigned long addr, unsigned long end,
			 unsigned int required)
{
	unsigned int flags = FAULT_FLAG_REMOTE;

	walk->last = addr;
	if (required & HMM_NEED_WRITE_FAULT) {
		if (!(vma->vm_flags & VM_WRITE))
			return -EPERM;
		flags |= FAULT_FLAG_WRITE;
	}
	for (; addr < end; addr += PAGE_SIZE) {
		vm_fault_t ret = handle_mm_fault(vma, addr, flags);

		if (ret & VM_FAULT_OOM)
			return -ENOMEM;
		if (ret & VM_FAULT_ERROR)
			return -EFAULT;
	}
	return -EBUSY;
}

/* A range with no VMA: HMM_PFN_ERROR in a snapshot (as the kernel's
 * pte_hole without a vma), -EFAULT if asked to fault. */
static int hmm_walk_hole(struct hmm_range *range, unsigned long addr,
			 unsigned long end)
{
	if (hmm_range_need_fault(range, addr, end, 0))
		return -EFAULT;
	hmm_pfns_fill(range, addr, end, HMM_PFN_ERROR);
	return 0;
}

/*
 * Report one PTE into *hmm_pfn. Returns 0, or the HMM_NEED_* bits if the
 * page must be faulted first. Called with the PTE table locked.
 */
static unsigned int hmm_handle_pte(struct hmm_range *range, pte_t pte,
				   unsigned long *hmm_pfn)
{
	unsigned long req = hmm_pfn_req_flags(range, *hmm_pfn);
	unsigned long cpu_flags;
	unsigned int required;

	if (!pte_present(pte)) {
		swp_entry_t entry = pte_to_swp_entry(pte);

		/* The caller's own device memory is reported as it is. */
		if (!pte_none(pte) && is_device_private_entry(entry) &&
		    pfn_swap_entry_to_page(entry)->pgmap->owner ==
		    range->dev_private_owner) {
			cpu_flags = HMM_PFN_VALID;
			if (is_writable_device_private_entry(entry))
				cpu_flags |= HMM_PFN_WRITE;
			*hmm_pfn = swp_offset(entry) | cpu_flags;
			return 0;
		}
		required = hmm_pte_need_fault(req, 0);
		if (!required) {
			*hmm_pfn = 0;
			return 0;
		}
		if (!pte_none(pte) && is_migration_entry(entry))
			return HMM_NEED_MIGRATION_WAIT;
		/* none, another device's page (migrated back by the fault),
		 * a device-exclusive entry (the fault restores the PTE, so
		 * the device holding it loses its access, as in the
		 * kernel), or an entry the fault reports as an error */
		return required;
	}

	cpu_flags = HMM_PFN_VALID | (pte_write(pte) ? HMM_PFN_WRITE : 0);
	required = hmm_pte_need_fault(req, cpu_flags);
	if (required)
		return required;
	/* The only special PTE is the zero page, mirrored read-only like
	 * any page; anything else special cannot be mirrored. */
	if (pte_special(pte) && pte_pfn(pte) != page_to_pfn(zero_page()))
		*hmm_pfn = HMM_PFN_ERROR;
	else
		*hmm_pfn = pte_pfn(pte) | cpu_flags;
	return 0;
}

/* [addr, end) inside one PMD's span of vma. */
static int hmm_walk_pmd(struct hmm_vma_walk *walk, struct vm_area_struct *vma,
			unsigned long addr, unsigned long end)
{
	struct hmm_range *range = walk->range;
	unsigned long *hmm_pfn = hmm_pfns_at(range, addr);
	unsigned int required;
	spinlock_t *ptl;
	pte_t *ptep;
	pmd_t *pmd;

	pmd = pte_table_lookup(vma->vm_mm, addr);
	if (!pmd) {
		required = hmm_range_need_fault(range, addr, end, 0);
		if (required)
			return hmm_vma_fault(walk, vma, addr, end, required);
		hmm_pfns_fill(range, addr, end, 0);
		return 0;
	}

	ptep = pte_offset_map_lock(pmd, addr, &ptl);
	for (; addr < end; addr += PAGE_SIZE, ptep++, hmm_pfn++) {
		pte_t pte = ptep_get(ptep);

		required = hmm_handle_pte(range, pte, hmm_pfn);
		if (required == HMM_NEED_MIGRATION_WAIT) {
			pte_unmap_unlock(ptep, ptl);
			walk->last = addr;
			migration_entry_wait(ptep, pte);
			return -EBUSY;
		}
		if (required) {
			pte_unmap_unlock(ptep, ptl);
			return hmm_vma_fault(walk, vma, addr, end, required);
		}
	}
	pte_unmap_unlock(ptep, ptl);
	return 0;
}

static int hmm_walk_vma(struct hmm_vma_walk *walk, struct vm_area_struct *vma,
			unsigned long addr, unsigned long end)
{
	struct hmm_range *range = walk->range;
	unsigned long next;
	int ret;

	/* A VMA the device may not read, or one of raw pfns or device
	 * registers (no struct page to mirror; a driver's VM_MIXEDMAP
	 * pages have one and are mirrored as any): an error where a
	 * fault is asked for, HMM_PFN_ERROR in a snapshot. */
	if (!(vma->vm_flags & VM_READ) ||
	    (vma->vm_flags & (VM_IO | VM_PFNMAP))) {
		if (hmm_range_need_fault(range, addr, end, 0))
			return -EFAULT;
		hmm_pfns_fill(range, addr, end, HMM_PFN_ERROR);
		return 0;
	}
	for (; addr < end; addr = next) {
		next = level_addr_end(addr, end, PMD_SIZE);
		ret = hmm_walk_pmd(walk, vma, addr, next);
		if (ret)
			return ret;
	}
	return 0;
}

static int hmm_walk_range(struct hmm_vma_walk *walk, struct mm_struct *mm,
			  unsigned long addr, unsigned long end)
{
	while (addr < end) {
		struct vm_area_struct *vma = find_vma(mm, addr);
		unsigned long vend;
		int ret;

		if (!vma || vma->vm_start >= end)
			return hmm_walk_hole(walk->range, addr, end);
		if (vma->vm_start > addr) {
			ret = hmm_walk_hole(walk->range, addr, vma->vm_start);
			if (ret)
				return ret;
			addr = vma->vm_start;
		}
		vend = min(end, vma->vm_end);
		ret = hmm_walk_vma(walk, vma, addr, vend);
		if (ret)
			return ret;
		addr = vend;
	}
	return 0;
}

int hmm_range_fault(struct hmm_range *range)
{
	struct hmm_vma_walk walk = { .range = range };
	struct mm_struct *mm;
	int ret;

	if (!range || !range->notifier || !range->hmm_pfns ||
	    !IS_ALIGNED(range->start, PAGE_SIZE) ||
	    !IS_ALIGNED(range->end, PAGE_SIZE) || range->start >= range->end)
		return -EINVAL;
	mm = range->notifier->mm;
	walk.last = range->start;

	do {
		/* If the range is no longer valid, the caller starts over. */
		if (mmu_interval_check_retry(range->notifier,
					     range->notifier_seq))
			return -EBUSY;
		ret = hmm_walk_range(&walk, mm, walk.last, range->end);
		/* -EBUSY from a fault: entries before walk.last are final,
		 * walk the rest again. */
	} while (ret == -EBUSY);
	return ret;
}
