// SPDX-License-Identifier: MIT
/* fork: a copy of an address space, private memory shared copy-on-write. */
#include "mm/filemap.h"
#include "mm/mm_internal.h"

static int dup_mmap(struct mm_struct *mm, struct mm_struct *oldmm)
{
	int err = vma_reserve(mm, oldmm->map_count);

	for (unsigned int i = 0; !err && i < oldmm->map_count; i++) {
		struct vm_area_struct *old = oldmm->vmas[i];
		struct vm_area_struct *vma = vm_area_dup(old);

		if (!vma)
			return -ENOMEM;
		vma->vm_mm = mm;
		vma_insert(mm, vma);
		vma_open(vma);
		err = copy_page_range(vma, old);
	}
	return err;
}

struct mm_struct *uhmm_fork(struct mm_struct *oldmm)
{
	struct mm_struct *mm;
	int err;

	if (!oldmm) {
		errno = EINVAL;
		return NULL;
	}
	mm = mm_alloc();
	if (!mm) {
		errno = ENOMEM;
		return NULL;
	}
	mmap_write_lock(oldmm);
	err = dup_mmap(mm, oldmm);
	mmap_write_unlock(oldmm);
	if (err) {
		/* What was copied is torn down like any exiting mm. The
		 * parent keeps its PTEs write-protected, which costs it one
		 * fault per page and changes nothing it can see. */
		mmput(mm);
		errno = -err;
		return NULL;
	}
	return mm;
}
