// SPDX-License-Identifier: MIT
/*
 * A dmirror: the device page table of one mm on one device, kept
 * coherent with the CPU's by an interval notifier, and the commands that
 * read, write, snapshot and take exclusive access through it.
 *
 * The device page table is written only under dmirror->mutex: by a fault
 * after mmu_interval_read_retry() said the snapshot is still good (the
 * driver pattern of include/uhmm/hmm.h), by a migration for pages it
 * moved itself, and by the invalidate callback, which erases.
 */
#include "dmirror_internal.h"

/* Erase [start, end) from the device page table. Under dmirror->mutex. */
static void dmirror_do_update(struct dmirror *dmirror, unsigned long start,
			      unsigned long end)
{
	unsigned long index;
	void *entry;

	xa_for_each_range(&dmirror->pt, index, entry, start >> PAGE_SHIFT,
			  (end >> PAGE_SHIFT) - 1)
		xa_erase(&dmirror->pt, index);
}

static bool dmirror_interval_invalidate(struct mmu_interval_notifier *mni,
					const struct mmu_notifier_range *range,
					unsigned long cur_seq)
{
	struct dmirror *dmirror = container_of(mni, struct dmirror, notifier);

	/*
	 * Our own migration rewrites the entries it moves itself, and the
	 * command that runs it is the only one of this mirror (cmd_lock),
	 * so no fault of ours can be racing it.
	 */
	if (range->event == MMU_NOTIFY_MIGRATE &&
	    range->owner == dmirror->mdevice &&
	    atomic_load(&dmirror->migrating))
		return true;

	if (mmu_notifier_range_blockable(range))
		pthread_mutex_lock(&dmirror->mutex);
	else if (pthread_mutex_trylock(&dmirror->mutex))
		return false;
	mmu_interval_set_seq(mni, cur_seq);
	dmirror_do_update(dmirror, range->start, range->end);
	pthread_mutex_unlock(&dmirror->mutex);
	return true;
}

static const struct mmu_interval_notifier_ops dmirror_min_ops = {
	.invalidate = dmirror_interval_invalidate,
};

struct dmirror *dmirror_open(struct mm_struct *mm, int device)
{
	struct dmirror_device *mdevice = dmirror_device_get(device);
	struct dmirror *dmirror;
	int err;

	if (!mdevice || !mm) {
		errno = EINVAL;
		return NULL;
	}
	if (!mmget_not_zero(mm)) {
		errno = EINVAL;
		return NULL;
	}
	dmirror = calloc(1, sizeof(*dmirror));
	if (!dmirror) {
		mmput(mm);
		errno = ENOMEM;
		return NULL;
	}
	dmirror->mdevice = mdevice;
	dmirror->mm = mm;
	pthread_mutex_init(&dmirror->cmd_lock, NULL);
	pthread_mutex_init(&dmirror->mutex, NULL);
	xa_init(&dmirror->pt);
	err = mmu_interval_notifier_insert(&dmirror->notifier, mm, 0,
					   ULONG_MAX & PAGE_MASK,
					   &dmirror_min_ops);
	mmput(mm);
	if (err) {
		free(dmirror);
		errno = -err;
		return NULL;
	}
	pthread_mutex_lock(&mdevice->mirrors_lock);
	cds_list_add(&dmirror->list, &mdevice->mirrors);
	pthread_mutex_unlock(&mdevice->mirrors_lock);
	return dmirror;
}

void dmirror_close(struct dmirror *dmirror)
{
	struct dmirror_device *mdevice;

	if (!dmirror)
		return;
	mdevice = dmirror->mdevice;
	pthread_mutex_lock(&mdevice->mirrors_lock);
	cds_list_del(&dmirror->list);
	pthread_mutex_unlock(&mdevice->mirrors_lock);
	mmu_interval_notifier_remove(&dmirror->notifier);
	xa_destroy(&dmirror->pt);
	pthread_mutex_destroy(&dmirror->mutex);
	pthread_mutex_destroy(&dmirror->cmd_lock);
	free(dmirror);
}

/* Enter what hmm_range_fault() found. Under dmirror->mutex. */
static int dmirror_do_fault(struct dmirror *dmirror, struct hmm_range *range)
{
	unsigned long *pfns = range->hmm_pfns;
	unsigned long addr;

	for (addr = range->start; addr < range->end;
	     addr += PAGE_SIZE, pfns++) {
		unsigned long tags = 0;
		int err;

		if (*pfns & HMM_PFN_ERROR)
			return -EFAULT;
		if (!(*pfns & HMM_PFN_VALID))
			return -EFAULT;
		if (*pfns & HMM_PFN_WRITE)
			tags = DPT_WRITE;
		else if (range->default_flags & HMM_PFN_REQ_WRITE)
			return -EFAULT;
		err = xa_store(&dmirror->pt, addr >> PAGE_SHIFT,
			       dpt_entry(hmm_pfn_to_page(*pfns), tags), NULL);
		if (err)
			return err;
	}
	return 0;
}

/*
 * The driver pattern: snapshot (or fault) under mmap_read_lock, then
 * under the device lock check that no invalidation came in between, and
 * only then let fill() program the device page table. Returns 0 with
 * dmirror->mutex held, or an error without it.
 */
int dmirror_range_fault_locked(struct dmirror *dmirror,
			       struct mmu_interval_notifier *notifier,
			       struct hmm_range *range)
{
	struct mm_struct *mm = dmirror->mm;
	int ret;

	for (;;) {
		range->notifier = notifier;
		range->notifier_seq = mmu_interval_read_begin(notifier);
		mmap_read_lock(mm);
		ret = hmm_range_fault(range);
		mmap_read_unlock(mm);
		if (ret == -EBUSY)
			continue;
		if (ret)
			return ret;
		pthread_mutex_lock(&dmirror->mutex);
		if (!mmu_interval_read_retry(notifier, range->notifier_seq))
			return 0;
		pthread_mutex_unlock(&dmirror->mutex);
	}
}

/* Fault [start, end) into the device page table. */
static int dmirror_fault(struct dmirror *dmirror, unsigned long start,
			 unsigned long end, bool write)
{
	unsigned long pfns[DMIRROR_BATCH_PAGES];
	struct hmm_range range = {
		.hmm_pfns = pfns,
		.default_flags = HMM_PFN_REQ_FAULT |
				 (write ? HMM_PFN_REQ_WRITE : 0),
		.pfn_flags_mask = 0,
		.dev_private_owner = dmirror->mdevice,
	};
	unsigned long addr;
	int ret = 0;

	for (addr = start; addr < end; addr = range.end) {
		range.start = addr;
		range.end = min(end, addr + DMIRROR_BATCH_PAGES * PAGE_SIZE);
		ret = dmirror_range_fault_locked(dmirror, &dmirror->notifier,
						 &range);
		if (ret)
			break;
		ret = dmirror_do_fault(dmirror, &range);
		pthread_mutex_unlock(&dmirror->mutex);
		if (ret)
			break;
	}
	return ret;
}

/*
 * Copy [start, end) from what the device maps into bounce (which holds
 * the range from the command's addr), counting pages. -ENOENT at the
 * first page not mapped. Under dmirror->mutex.
 */
static int dmirror_do_read(struct dmirror *dmirror, unsigned long start,
			   unsigned long end, char *bounce, uint64_t *cpages)
{
	for (unsigned long addr = start; addr < end; addr += PAGE_SIZE) {
		void *entry = xa_load(&dmirror->pt, addr >> PAGE_SHIFT);

		if (!entry)
			return -ENOENT;
		memcpy(bounce + (*cpages << PAGE_SHIFT),
		       dmirror_page_data(dpt_page(entry)), PAGE_SIZE);
		(*cpages)++;
	}
	return 0;
}

static int dmirror_do_write(struct dmirror *dmirror, unsigned long start,
			    unsigned long end, const char *bounce,
			    uint64_t *cpages)
{
	for (unsigned long addr = start; addr < end; addr += PAGE_SIZE) {
		void *entry = xa_load(&dmirror->pt, addr >> PAGE_SHIFT);

		if (!entry || !(dpt_tags(entry) & DPT_WRITE))
			return -ENOENT;
		memcpy(dmirror_page_data(dpt_page(entry)),
		       bounce + (*cpages << PAGE_SHIFT), PAGE_SIZE);
		(*cpages)++;
	}
	return 0;
}

static int dmirror_bounce_alloc(struct hmm_dmirror_cmd *cmd, char **bounce)
{
	if (!cmd->ptr)
		return -EFAULT;
	*bounce = malloc(cmd->npages << PAGE_SHIFT);
	return *bounce ? 0 : -ENOMEM;
}

/*
 * MIGRATE_TO_DEV and EXCLUSIVE hand back what the device now holds over
 * the command's range, for verification; -ENOENT if a page is missing.
 */
int dmirror_read_back(struct dmirror *dmirror, struct hmm_dmirror_cmd *cmd)
{
	char *bounce;
	int ret;

	ret = dmirror_bounce_alloc(cmd, &bounce);
	if (ret)
		return ret;
	pthread_mutex_lock(&dmirror->mutex);
	ret = dmirror_do_read(dmirror, cmd->addr,
			      cmd->addr + (cmd->npages << PAGE_SHIFT), bounce,
			      &cmd->cpages);
	pthread_mutex_unlock(&dmirror->mutex);
	if (!ret)
		memcpy((void *)(uintptr_t)cmd->ptr, bounce,
		       cmd->npages << PAGE_SHIFT);
	free(bounce);
	return ret;
}

/*
 * READ and WRITE: access the device's view, faulting the rest of the
 * range in whenever a page is missing; faults counts those passes.
 */
int dmirror_access(struct dmirror *dmirror, struct hmm_dmirror_cmd *cmd,
		   bool write)
{
	unsigned long size = cmd->npages << PAGE_SHIFT;
	unsigned long start = cmd->addr, end = cmd->addr + size;
	char *bounce;
	int ret;

	ret = dmirror_bounce_alloc(cmd, &bounce);
	if (ret)
		return ret;
	if (write)
		memcpy(bounce, (void *)(uintptr_t)cmd->ptr, size);
	for (;;) {
		pthread_mutex_lock(&dmirror->mutex);
		if (write)
			ret = dmirror_do_write(dmirror, start, end, bounce,
					       &cmd->cpages);
		else
			ret = dmirror_do_read(dmirror, start, end, bounce,
					      &cmd->cpages);
		pthread_mutex_unlock(&dmirror->mutex);
		if (ret != -ENOENT)
			break;
		start = cmd->addr + (cmd->cpages << PAGE_SHIFT);
		ret = dmirror_fault(dmirror, start, end, write);
		if (ret)
			break;
		cmd->faults++;
	}
	if (!ret && !write)
		memcpy((void *)(uintptr_t)cmd->ptr, bounce, size);
	free(bounce);
	return ret;
}

static unsigned char dmirror_mkentry(struct dmirror *dmirror,
				     unsigned long hmm_pfn)
{
	unsigned char perm;
	struct page *page;

	if (hmm_pfn & HMM_PFN_ERROR)
		return HMM_DMIRROR_PROT_ERROR;
	if (!(hmm_pfn & HMM_PFN_VALID))
		return HMM_DMIRROR_PROT_NONE;
	page = hmm_pfn_to_page(hmm_pfn);
	if (is_device_private_page(page))
		perm = dmirror_page_to_device(page) == dmirror->mdevice ?
			HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL :
			HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE;
	else if (is_device_coherent_page(page))
		perm = dmirror_page_to_device(page) == dmirror->mdevice ?
			HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL :
			HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE;
	else if (is_zero_page(page))
		perm = HMM_DMIRROR_PROT_ZERO;
	else
		perm = HMM_DMIRROR_PROT_NONE;
	perm |= hmm_pfn & HMM_PFN_WRITE ? HMM_DMIRROR_PROT_WRITE :
					  HMM_DMIRROR_PROT_READ;
	if (hmm_pfn_to_map_order(hmm_pfn) + PAGE_SHIFT == PMD_SHIFT)
		perm |= HMM_DMIRROR_PROT_PMD;
	else if (hmm_pfn_to_map_order(hmm_pfn) + PAGE_SHIFT == PUD_SHIFT)
		perm |= HMM_DMIRROR_PROT_PUD;
	return perm;
}

/* A snapshot's own notifier, over just the range it reads: it only has
 * to make the reader retry. */
struct dmirror_snapshot_notifier {
	struct mmu_interval_notifier notifier;
	struct dmirror *dmirror;
};

static bool dmirror_snapshot_invalidate(struct mmu_interval_notifier *mni,
					const struct mmu_notifier_range *range,
					unsigned long cur_seq)
{
	struct dmirror_snapshot_notifier *sn =
		container_of(mni, struct dmirror_snapshot_notifier, notifier);

	if (mmu_notifier_range_blockable(range))
		pthread_mutex_lock(&sn->dmirror->mutex);
	else if (pthread_mutex_trylock(&sn->dmirror->mutex))
		return false;
	mmu_interval_set_seq(mni, cur_seq);
	pthread_mutex_unlock(&sn->dmirror->mutex);
	return true;
}

static const struct mmu_interval_notifier_ops dmirror_snapshot_ops = {
	.invalidate = dmirror_snapshot_invalidate,
};

/* SNAPSHOT: one HMM_DMIRROR_PROT_* byte per page; never faults. */
int dmirror_snapshot(struct dmirror *dmirror, struct hmm_dmirror_cmd *cmd)
{
	struct dmirror_snapshot_notifier sn = { .dmirror = dmirror };
	unsigned long pfns[DMIRROR_BATCH_PAGES];
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	unsigned char *uptr = (unsigned char *)(uintptr_t)cmd->ptr;
	struct hmm_range range = {
		.hmm_pfns = pfns,
		.dev_private_owner = dmirror->mdevice,
	};
	int ret = 0;

	if (!uptr)
		return -EFAULT;
	for (unsigned long addr = start; addr < end; addr = range.end) {
		unsigned long n;

		range.start = addr;
		range.end = min(end, addr + DMIRROR_BATCH_PAGES * PAGE_SIZE);
		ret = mmu_interval_notifier_insert(&sn.notifier, dmirror->mm,
						   range.start,
						   range.end - range.start,
						   &dmirror_snapshot_ops);
		if (ret)
			break;
		ret = dmirror_range_fault_locked(dmirror, &sn.notifier, &range);
		n = (range.end - range.start) >> PAGE_SHIFT;
		if (!ret) {
			for (unsigned long i = 0; i < n; i++)
				uptr[i] = dmirror_mkentry(dmirror, pfns[i]);
			pthread_mutex_unlock(&dmirror->mutex);
		}
		mmu_interval_notifier_remove(&sn.notifier);
		if (ret)
			break;
		uptr += n;
		cmd->cpages += n;
	}
	return ret;
}

/* EXCLUSIVE: take every page of the range for atomic access (the caller
 * then reads it back). */
int dmirror_exclusive(struct dmirror *dmirror, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	struct mm_struct *mm = dmirror->mm;
	int ret = 0;

	if (!cmd->ptr)
		return -EFAULT;
	mmap_read_lock(mm);
	for (unsigned long addr = start; !ret && addr < end;
	     addr += PAGE_SIZE) {
		struct page *page;

		page = make_device_exclusive(mm, addr, dmirror->mdevice);
		if (IS_ERR(page)) {
			ret = PTR_ERR(page);
			break;
		}
		/* The page lock keeps the CPU from taking it back before the
		 * device has it. */
		pthread_mutex_lock(&dmirror->mutex);
		ret = xa_store(&dmirror->pt, addr >> PAGE_SHIFT,
			       dpt_entry(page, DPT_ATOMIC), NULL);
		pthread_mutex_unlock(&dmirror->mutex);
		unlock_page(page);
		put_page(page);
	}
	mmap_read_unlock(mm);
	return ret;
}

/* CHECK_EXCLUSIVE: -EPERM while the device still holds a page atomically. */
int dmirror_check_atomic(struct dmirror *dmirror, struct hmm_dmirror_cmd *cmd)
{
	unsigned long first = cmd->addr >> PAGE_SHIFT;
	unsigned long last = first + cmd->npages - 1;
	unsigned long index;
	void *entry;
	int ret = 0;

	pthread_mutex_lock(&dmirror->mutex);
	xa_for_each_range(&dmirror->pt, index, entry, first, last) {
		if (dpt_tags(entry) & DPT_ATOMIC) {
			ret = -EPERM;
			break;
		}
	}
	pthread_mutex_unlock(&dmirror->mutex);
	return ret;
}
