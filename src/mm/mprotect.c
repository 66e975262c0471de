// SPDX-License-Identifier: MIT
/* mprotect: change the protection of whole VMAs, splitting at the ends. */
#include "mm/mm_internal.h"

#define PROT_ALL	(PROT_READ | PROT_WRITE | PROT_EXEC)

/* Is [start, end) covered by VMAs without a hole? */
static bool range_fully_mapped(struct mm_struct *mm, unsigned long start,
			       unsigned long end)
{
	unsigned long addr = start;

	for (unsigned int i = vma_index(mm, start);
	     i < mm->map_count && addr < end; i++) {
		if (mm->vmas[i]->vm_start > addr)
			return false;
		addr = mm->vmas[i]->vm_end;
	}
	return addr >= end;
}

static int do_mprotect(struct mm_struct *mm, unsigned long start,
		       unsigned long end, int prot)
{
	unsigned long access = (prot & PROT_READ ? VM_READ : 0) |
			       (prot & PROT_WRITE ? VM_WRITE : 0) |
			       (prot & PROT_EXEC ? VM_EXEC : 0);
	struct mmu_notifier_range range;
	unsigned int i;
	int err;

	if (!range_fully_mapped(mm, start, end))
		return -ENOMEM;
	/* Check every VMA before changing any. VM_MAY* are VM_* << 4. */
	for (i = vma_index(mm, start);
	     i < mm->map_count && mm->vmas[i]->vm_start < end; i++) {
		if (access & ~(mm->vmas[i]->vm_flags >> 4) & VM_ACCESS_FLAGS)
			return -EACCES;
	}
	err = vma_split_range(mm, start, end);
	if (err)
		return err;

	mmu_notifier_range_init(&range, MMU_NOTIFY_PROTECTION_VMA,
				MMU_NOTIFIER_RANGE_BLOCKABLE, mm, start, end);
	mmu_notifier_invalidate_range_start(&range);
	for (i = vma_index(mm, start);
	     i < mm->map_count && mm->vmas[i]->vm_start < end; i++) {
		struct vm_area_struct *vma = mm->vmas[i];
		unsigned long newflags = (vma->vm_flags & ~VM_ACCESS_FLAGS) |
					 access;

		change_protection(vma, vma->vm_start, vma->vm_end, newflags);
		vma->vm_flags = newflags;
	}
	mmu_notifier_invalidate_range_end(&range);

	/* Merge from the far end so that indexes stay valid. */
	for (i = vma_index(mm, end - 1) + 1; i-- > vma_index(mm, start);)
		if (i < mm->map_count)
			vma_merge_neighbours(mm, mm->vmas[i]);
	return 0;
}

int uhmm_mprotect(struct mm_struct *mm, void *addr, size_t len, int prot)
{
	unsigned long start = (unsigned long)addr;
	int err = check_user_range(mm, start, len);

	if (!err && (prot & ~PROT_ALL))
		err = -EINVAL;
	if (!err) {
		mmap_write_lock(mm);
		err = do_mprotect(mm, start, start + len, prot);
		mmap_write_unlock(mm);
	}
	if (err) {
		errno = -err;
		return -1;
	}
	return 0;
}
