// SPDX-License-Identifier: MIT
/* madvise: advice over ranges of VMAs. */
#include "mm/mm_internal.h"

/* Drop the pages of [start, end) in vma: the next touch faults afresh. */
static void madvise_dontneed(struct vm_area_struct *vma, unsigned long start,
			     unsigned long end)
{
	struct mmu_notifier_range range;
	struct mmu_gather tlb;

	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR,
				MMU_NOTIFIER_RANGE_BLOCKABLE, vma->vm_mm,
				start, end);
	mmu_notifier_invalidate_range_start(&range);
	tlb_gather_mmu(&tlb, vma->vm_mm);
	zap_page_range(&tlb, vma, start, end);
	tlb_finish_mmu(&tlb);
	mmu_notifier_invalidate_range_end(&range);
}

static bool madvise_behavior_valid(int advice)
{
	switch (advice) {
	case MADV_NORMAL:
	case MADV_RANDOM:
	case MADV_SEQUENTIAL:
	case MADV_WILLNEED:
	case MADV_DONTNEED:
		return true;
	}
	return false;
}

static bool madvise_need_write_lock(int advice)
{
	/* Only the read-ahead hints change VMA flags. */
	return advice == MADV_NORMAL || advice == MADV_RANDOM ||
	       advice == MADV_SEQUENTIAL;
}

static void madvise_vma(struct vm_area_struct *vma, unsigned long start,
			unsigned long end, int advice)
{
	switch (advice) {
	case MADV_NORMAL:
		vma->vm_flags &= ~(VM_SEQ_READ | VM_RAND_READ);
		break;
	case MADV_RANDOM:
		vma->vm_flags = (vma->vm_flags & ~VM_SEQ_READ) | VM_RAND_READ;
		break;
	case MADV_SEQUENTIAL:
		vma->vm_flags = (vma->vm_flags & ~VM_RAND_READ) | VM_SEQ_READ;
		break;
	case MADV_DONTNEED:
		madvise_dontneed(vma, start, end);
		break;
	case MADV_WILLNEED:
		break;
	}
}

int uhmm_madvise(struct mm_struct *mm, void *addr, size_t len, int advice)
{
	unsigned long start = (unsigned long)addr, end, a;
	bool write = madvise_need_write_lock(advice);
	int err = check_user_range(mm, start, len);

	if (!err && !madvise_behavior_valid(advice))
		err = -EINVAL;
	if (err) {
		errno = -err;
		return -1;
	}
	end = start + len;

	if (write) {
		mmap_write_lock(mm);
		err = vma_split_range(mm, start, end);
		if (err) {
			mmap_write_unlock(mm);
			errno = -err;
			return -1;
		}
	} else {
		mmap_read_lock(mm);
	}
	/* As the kernel: advise what is mapped, report a hole at the end. */
	for (a = start; a < end;) {
		struct vm_area_struct *vma = find_vma(mm, a);

		if (!vma || vma->vm_start >= end) {
			err = -ENOMEM;
			break;
		}
		if (vma->vm_start > a)
			err = -ENOMEM;
		/* Raw pfns cannot be faulted in again. */
		if (advice == MADV_DONTNEED && (vma->vm_flags & VM_PFNMAP)) {
			err = -EINVAL;
			break;
		}
		a = max(a, vma->vm_start);
		madvise_vma(vma, a, min(end, vma->vm_end), advice);
		a = vma->vm_end;
	}
	if (write) {
		struct vm_area_struct *vma = find_vma(mm, start);

		while (vma && vma->vm_start < end) {
			unsigned long next = vma->vm_end;

			vma_merge_neighbours(mm, vma);
			vma = find_vma(mm, next);
		}
		mmap_write_unlock(mm);
	} else {
		mmap_read_unlock(mm);
	}
	if (err) {
		errno = -err;
		return -1;
	}
	return 0;
}
