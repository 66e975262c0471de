// SPDX-License-Identifier: MIT
/* msync: write the dirty pages of shared file mappings back. */
#include "mm/filemap.h"
#include "mm/mm_internal.h"

/*
 * Move the dirty bits of the PTEs of [start, end) to their pages and
 * write-protect the PTEs, so that the next write faults and dirties the
 * page again (the kernel's page_mkclean, for this mm).
 */
static void mkclean_pte(pte_t *ptep, unsigned long addr, void *arg)
{
	struct vm_area_struct *vma = arg;
	pte_t pte = ptep_get(ptep);
	struct page *page;

	if (!pte_present(pte) || !pte_dirty(pte))
		return;
	page = vm_normal_page(vma, addr, pte);
	pte = ptep_get_and_clear(vma->vm_mm, addr, ptep);
	set_pte_at(vma->vm_mm, addr, ptep, pte_wrprotect(pte_mkclean(pte)));
	if (page)
		set_page_dirty(page);
}

static void msync_mkclean(struct vm_area_struct *vma, unsigned long start,
			  unsigned long end)
{
	struct mmu_notifier_range range;

	mmu_notifier_range_init(&range, MMU_NOTIFY_PROTECTION_PAGE,
				MMU_NOTIFIER_RANGE_BLOCKABLE, vma->vm_mm,
				start, end);
	mmu_notifier_invalidate_range_start(&range);
	walk_pte_range(vma->vm_mm, start, end, mkclean_pte, vma);
	flush_tlb_range(vma->vm_mm, start, end);
	mmu_notifier_invalidate_range_end(&range);
}

int uhmm_msync(struct mm_struct *mm, void *addr, size_t len, int flags)
{
	unsigned long start = (unsigned long)addr, end, a;
	int err = check_user_range(mm, start, len);

	if (!err && ((flags & ~(MS_ASYNC | MS_SYNC | MS_INVALIDATE)) ||
		     ((flags & MS_ASYNC) && (flags & MS_SYNC))))
		err = -EINVAL;
	if (err) {
		errno = -err;
		return -1;
	}
	end = start + len;

	mmap_read_lock(mm);
	for (a = start; a < end;) {
		struct vm_area_struct *vma = find_vma(mm, a);
		unsigned long s, e;

		if (!vma || vma->vm_start >= end) {
			err = -ENOMEM;
			break;
		}
		if (vma->vm_start > a)
			err = -ENOMEM;
		s = max(a, vma->vm_start);
		e = min(end, vma->vm_end);
		if (vma->vm_file && (vma->vm_flags & VM_SHARED) &&
		    !file_is_shmem(vma->vm_file)) {
			pgoff_t first = vma->vm_pgoff +
					((s - vma->vm_start) >> PAGE_SHIFT);

			msync_mkclean(vma, s, e);
			if (filemap_write_and_wait_range(vma->vm_file->f_mapping,
					first,
					first + ((e - s) >> PAGE_SHIFT) - 1) &&
			    !err)
				err = -EIO;
		}
		a = vma->vm_end;
	}
	mmap_read_unlock(mm);
	if (err) {
		errno = -err;
		return -1;
	}
	return 0;
}
