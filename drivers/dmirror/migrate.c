// SPDX-License-Identifier: MIT
/*
 * dmirror's migration commands: MIGRATE_TO_DEV and MIGRATE_TO_SYS over a
 * range (migrate_to_ram() for a CPU access to one of its private pages
 * is device.c's). Each runs the three steps of include/uhmm/migrate.h in
 * batches of DMIRROR_BATCH_PAGES under mmap_read_lock.
 *
 * The migrating mirror skips its own MMU_NOTIFY_MIGRATE, so these paths
 * update the device page tables themselves: every mirror of the device
 * on the mm forgets a page before its old copy is dropped, and
 * MIGRATE_TO_DEV then maps the new pages with a snapshot under the
 * notifier sequence, so that a page unmapped meanwhile is not mapped.
 */
#include "dmirror_internal.h"

static void dmirror_migrate_alloc_and_copy(struct migrate_vma *args,
					   struct dmirror *dmirror)
{
	for (unsigned long i = 0; i < args->npages; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		struct page *dpage;

		args->dst[i] = 0;
		if (!(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		/* spage is NULL for an empty or zero-page slot. */
		if (spage && is_zone_device_page(spage))
			continue;
		dpage = dmirror_devmem_alloc_page(dmirror);
		if (!dpage)
			continue;
		if (spage)
			memcpy(dmirror_page_data(dpage), page_address(spage),
			       PAGE_SIZE);
		else
			memset(dmirror_page_data(dpage), 0, PAGE_SIZE);
		args->dst[i] = migrate_pfn(page_to_pfn(dpage));
		if ((args->src[i] & MIGRATE_PFN_WRITE) ||
		    (!spage && (args->vma->vm_flags & VM_WRITE)))
			args->dst[i] |= MIGRATE_PFN_WRITE;
	}
}

/*
 * The VMA at addr, if the device may migrate it, and the end of the
 * batch that starts at addr. Under mmap_read_lock.
 */
static struct vm_area_struct *dmirror_migrate_vma(struct mm_struct *mm,
						  unsigned long addr,
						  unsigned long end,
						  unsigned long *next)
{
	struct vm_area_struct *vma = vma_lookup(mm, addr);

	if (!vma || !(vma->vm_flags & VM_READ))
		return NULL;
	*next = min(end, addr + DMIRROR_BATCH_PAGES * PAGE_SIZE);
	*next = min(*next, vma->vm_end);
	return vma;
}

/* Map the pages of [start, end) that moved to dpages[], where they are
 * still mapped by the CPU. */
static int dmirror_migrate_map(struct dmirror *dmirror, unsigned long start,
			       unsigned long end, struct page **dpages)
{
	unsigned long pfns[DMIRROR_BATCH_PAGES];
	struct hmm_range range = {
		.start = start,
		.end = end,
		.hmm_pfns = pfns,
		.dev_private_owner = dmirror->mdevice,
	};
	unsigned long i, n = (end - start) >> PAGE_SHIFT;
	int ret;

	ret = dmirror_range_fault_locked(dmirror, &dmirror->notifier, &range);
	if (ret)
		return ret;
	for (i = 0; i < n && !ret; i++) {
		if (!dpages[i] || !(pfns[i] & HMM_PFN_VALID) ||
		    hmm_pfn_to_page(pfns[i]) != dpages[i])
			continue;
		ret = xa_store(&dmirror->pt, (start >> PAGE_SHIFT) + i,
			       dpt_entry(dpages[i], pfns[i] & HMM_PFN_WRITE ?
						    DPT_WRITE : 0), NULL);
	}
	pthread_mutex_unlock(&dmirror->mutex);
	return ret;
}

/* One batch to the device; dpages[] gets the pages that moved. */
static int dmirror_migrate_batch_to_device(struct dmirror *dmirror,
					   struct vm_area_struct *vma,
					   unsigned long start,
					   unsigned long end,
					   struct page **dpages)
{
	unsigned long src[DMIRROR_BATCH_PAGES], dst[DMIRROR_BATCH_PAGES];
	bool moved[DMIRROR_BATCH_PAGES];
	struct migrate_vma args = {
		.vma = vma,
		.src = src,
		.dst = dst,
		.start = start,
		.end = end,
		.pgmap_owner = dmirror->mdevice,
		.flags = MIGRATE_VMA_SELECT_SYSTEM,
	};
	int ret;

	atomic_fetch_add(&dmirror->migrating, 1);
	ret = migrate_vma_setup(&args);
	if (ret)
		goto out;
	dmirror_migrate_alloc_and_copy(&args, dmirror);
	migrate_vma_pages(&args);
	/* The device forgets the old pages before finalize frees them. */
	for (unsigned long i = 0; i < args.npages; i++) {
		moved[i] = (src[i] & MIGRATE_PFN_MIGRATE) && dst[i];
		dpages[i] = moved[i] ? migrate_pfn_to_page(dst[i]) : NULL;
	}
	dmirror_device_erase(dmirror->mdevice, vma->vm_mm, start, args.npages,
			     moved);
	migrate_vma_finalize(&args);
out:
	atomic_fetch_sub(&dmirror->migrating, 1);
	return ret;
}

int dmirror_migrate_to_device(struct dmirror *dmirror,
			      struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	struct page *dpages[DMIRROR_BATCH_PAGES];
	struct mm_struct *mm = dmirror->mm;
	unsigned long addr, next;
	int ret = 0;

	if (!cmd->ptr)
		return -EFAULT;
	for (addr = start; addr < end; addr = next) {
		struct vm_area_struct *vma;

		mmap_read_lock(mm);
		vma = dmirror_migrate_vma(mm, addr, end, &next);
		if (!vma)
			ret = -EINVAL;
		else
			ret = dmirror_migrate_batch_to_device(dmirror, vma,
							      addr, next,
							      dpages);
		mmap_read_unlock(mm);
		if (!ret)
			ret = dmirror_migrate_map(dmirror, addr, next, dpages);
		if (ret)
			break;
	}
	return ret;
}

int dmirror_migrate_to_system(struct dmirror *dmirror,
			      struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	unsigned long src[DMIRROR_BATCH_PAGES], dst[DMIRROR_BATCH_PAGES];
	struct mm_struct *mm = dmirror->mm;
	unsigned long addr, next;
	int ret = 0;

	mmap_read_lock(mm);
	for (addr = start; addr < end; addr = next) {
		struct migrate_vma args = {
			.src = src,
			.dst = dst,
			.pgmap_owner = dmirror->mdevice,
			.flags = dmirror_select_device(dmirror->mdevice),
		};

		args.vma = dmirror_migrate_vma(mm, addr, end, &next);
		if (!args.vma) {
			ret = -EINVAL;
			break;
		}
		args.start = addr;
		args.end = next;
		atomic_fetch_add(&dmirror->migrating, 1);
		ret = migrate_vma_setup(&args);
		if (!ret) {
			dmirror_devmem_fault_alloc_and_copy(&args,
							    dmirror->mdevice);
			migrate_vma_pages(&args);
			for (unsigned long i = 0; i < args.npages; i++)
				if ((src[i] & MIGRATE_PFN_MIGRATE) && dst[i])
					cmd->cpages++;
			migrate_vma_finalize(&args);
		}
		atomic_fetch_sub(&dmirror->migrating, 1);
		if (ret)
			break;
	}
	mmap_read_unlock(mm);
	return ret;
}
