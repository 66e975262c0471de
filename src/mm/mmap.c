// SPDX-License-Identifier: MIT
/* mmap, munmap and the teardown of a whole address space. */
#include <fcntl.h>

#include "mm/filemap.h"
#include "mm/mm_internal.h"
#include "settings.h"

#define PROT_ALL	(PROT_READ | PROT_WRITE | PROT_EXEC)
#define MAP_KNOWN	(MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | \
			 MAP_FIXED_NOREPLACE | MAP_NORESERVE | MAP_POPULATE)

int check_user_range(struct mm_struct *mm, unsigned long start, size_t len)
{
	if (!mm || !IS_ALIGNED(start, PAGE_SIZE) || len == 0 ||
	    !IS_ALIGNED(len, PAGE_SIZE))
		return -EINVAL;
	if (start + len < start)
		return -EINVAL;
	return 0;
}

static unsigned long calc_vm_flags(int prot, int flags)
{
	unsigned long vm_flags = VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;

	if (prot & PROT_READ)
		vm_flags |= VM_READ;
	if (prot & PROT_WRITE)
		vm_flags |= VM_WRITE;
	if (prot & PROT_EXEC)
		vm_flags |= VM_EXEC;
	if (flags & MAP_SHARED)
		vm_flags |= VM_SHARED | VM_MAYSHARE;
	return vm_flags;
}

/* Fault in every page of a new mapping (MAP_POPULATE); best effort. */
static void mm_populate(struct mm_struct *mm, unsigned long start,
			unsigned long len)
{
	mmap_read_lock(mm);
	for (unsigned long a = start; a < start + len; a += PAGE_SIZE) {
		struct vm_area_struct *vma = vma_lookup(mm, a);
		unsigned int flags = 0;

		/* Raw pfns have nothing to fault in (as gup). */
		if (!vma || !(vma->vm_flags & VM_READ) ||
		    (vma->vm_flags & (VM_IO | VM_PFNMAP)))
			continue;
		if ((vma->vm_flags & (VM_WRITE | VM_SHARED)) == VM_WRITE)
			flags |= FAULT_FLAG_WRITE;
		if (handle_mm_fault(vma, a, flags) & VM_FAULT_ERROR)
			break;
	}
	mmap_read_unlock(mm);
}

static void *mmap_fail(int err)
{
	errno = -err;
	return MAP_FAILED;
}

/* Check what uhmm_mmap() and vm_mmap_driver() share. 0 or -EINVAL. */
static int mmap_check(struct mm_struct *mm, unsigned long addr, size_t *len,
		      int prot, int flags)
{
	int type = flags & (MAP_SHARED | MAP_PRIVATE);

	if (!mm || (prot & ~PROT_ALL) || (flags & ~MAP_KNOWN) ||
	    (type != MAP_SHARED && type != MAP_PRIVATE) || *len == 0)
		return -EINVAL;
	if (*len > (size_t)-1 - PAGE_SIZE)
		return -ENOMEM;
	*len = PAGE_ALIGN(*len);
	/* As Linux for a length above TASK_SIZE; the cap is a setting. */
	if (*len > mm->task_size - mm->mmap_base) {
		report_va_cap(*len);
		return -ENOMEM;
	}
	if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) &&
	    (!IS_ALIGNED(addr, PAGE_SIZE) || addr < mm->mmap_base ||
	     addr > mm->task_size || *len > mm->task_size - addr))
		return -EINVAL;
	return 0;
}

/*
 * Unmap the pages of mm->vmas[first, last) (adjacent) under one
 * MMU_NOTIFY_UNMAP and free their page tables; the VMAs stay. Write lock.
 */
static void unmap_region(struct mm_struct *mm, unsigned int first,
			 unsigned int last)
{
	struct mmu_notifier_range range;
	struct mmu_gather tlb;

	mmu_notifier_range_init(&range, MMU_NOTIFY_UNMAP,
				MMU_NOTIFIER_RANGE_BLOCKABLE, mm,
				mm->vmas[first]->vm_start,
				mm->vmas[last - 1]->vm_end);
	mmu_notifier_invalidate_range_start(&range);
	tlb_gather_mmu(&tlb, mm);
	for (unsigned int i = first; i < last; i++)
		zap_page_range(&tlb, mm->vmas[i], mm->vmas[i]->vm_start,
			       mm->vmas[i]->vm_end);
	tlb_finish_mmu(&tlb);
	mmu_notifier_invalidate_range_end(&range);
	free_pgtables(mm, range.start, range.end);
}

/*
 * Take a driver's mapping down again after its mmap callback failed:
 * the pages it inserted go, the VMA goes without close.
 */
static void mmap_driver_undo(struct mm_struct *mm, struct vm_area_struct *vma)
{
	unsigned int i = vma_index(mm, vma->vm_start);

	unmap_region(mm, i, i + 1);
	vma_remove(mm, vma);
	vm_area_free(vma);
}

/*
 * Put the new vma (vm_flags, vm_file set) at addr, or where there is
 * room, and give it to the driver's mmap if there is one. Takes
 * mmap_write_lock. Returns the address or a negative errno; on an error
 * vma is freed.
 */
static long mmap_region(struct mm_struct *mm, struct vm_area_struct *vma,
			unsigned long addr, unsigned long len, int flags,
			unsigned long pgoff, vm_mmap_fn mmap, void *private)
{
	int err;

	mmap_write_lock(mm);
	/* Room for the new VMA and for the split a MAP_FIXED unmap may
	 * need, so nothing can fail after the old mapping is gone. */
	err = vma_reserve(mm, 3);
	if (err)
		goto out_unlock;
	if (flags & MAP_FIXED_NOREPLACE) {
		struct vm_area_struct *v = find_vma(mm, addr);

		if (v && v->vm_start < addr + len) {
			err = -EEXIST;
			goto out_unlock;
		}
	} else if (flags & MAP_FIXED) {
		err = do_munmap(mm, addr, addr + len);
		if (err)
			goto out_unlock;
	} else {
		addr = get_unmapped_area(mm, addr, len);
		if (!addr) {
			err = -ENOMEM;
			goto out_unlock;
		}
	}
	vma->vm_start = addr;
	vma->vm_end = addr + len;
	/* Private anonymous memory: the page number of vm_start. */
	vma->vm_pgoff = vma->vm_file || mmap ? pgoff : addr >> PAGE_SHIFT;
	vma_insert(mm, vma);
	if (mmap) {
		/* As the kernel's call_mmap(): the driver sets its VMA up
		 * and may fill it. */
		vma->vm_ops = &vma_dummy_vm_ops;
		err = mmap(private, vma);
		if (!vma->vm_ops)
			vma->vm_ops = &vma_dummy_vm_ops;
		if (err) {
			mmap_driver_undo(mm, vma);
			mmap_write_unlock(mm);
			return err;
		}
		/* It must not have moved its VMA. */
		BUG_ON(vma->vm_start != addr || vma->vm_end != addr + len);
	}
	vma_merge_neighbours(mm, vma);
	mmap_write_unlock(mm);
	return (long)addr;

out_unlock:
	mmap_write_unlock(mm);
	vm_area_free(vma);
	return err;
}

void *uhmm_mmap(struct mm_struct *mm, void *addr_hint, size_t len, int prot,
		int flags, int fd, off_t off)
{
	unsigned long addr = (unsigned long)addr_hint;
	int type = flags & (MAP_SHARED | MAP_PRIVATE);
	struct vm_area_struct *vma;
	struct file *file = NULL;
	long ret;
	int err;

	err = mmap_check(mm, addr, &len, prot, flags);
	if (err)
		return mmap_fail(err);
	if (!(flags & MAP_ANONYMOUS)) {
		if (off < 0 || !IS_ALIGNED((unsigned long)off, PAGE_SIZE))
			return mmap_fail(-EINVAL);
		file = file_from_fd(fd, &err);
		if (!file)
			return mmap_fail(err);
		if (type == MAP_SHARED && (prot & PROT_WRITE) &&
		    (file->f_flags & O_ACCMODE) != O_RDWR) {
			fput(file);
			return mmap_fail(-EACCES);
		}
	} else if (type == MAP_SHARED) {
		file = shmem_file_setup(len);
		if (!file)
			return mmap_fail(-ENOMEM);
		off = 0;
	}

	vma = vm_area_alloc(mm);
	if (!vma) {
		if (file)
			fput(file);
		return mmap_fail(-ENOMEM);
	}
	vma->vm_flags = calc_vm_flags(prot, flags);
	/* A shared mapping of a file opened read-only can never be made
	 * writable. */
	if (file && type == MAP_SHARED && !file_is_shmem(file) &&
	    (file->f_flags & O_ACCMODE) != O_RDWR)
		vma->vm_flags &= ~VM_MAYWRITE;
	vma->vm_file = file;

	ret = mmap_region(mm, vma, addr, len, flags,
			  file ? (unsigned long)off >> PAGE_SHIFT : 0,
			  NULL, NULL);
	if (ret < 0)
		return mmap_fail((int)ret);
	addr = (unsigned long)ret;

	if (flags & MAP_POPULATE)
		mm_populate(mm, addr, len);
	return (void *)addr;
}

unsigned long vm_mmap_driver(struct mm_struct *mm, unsigned long addr,
			     unsigned long len, int prot, int flags,
			     unsigned long pgoff, vm_mmap_fn mmap,
			     void *private)
{
	struct vm_area_struct *vma;
	size_t size = len;
	long ret;
	int err;

	if (!mmap || (flags & MAP_ANONYMOUS))
		return (unsigned long)-EINVAL;
	err = mmap_check(mm, addr, &size, prot, flags);
	if (err)
		return (unsigned long)(long)err;
	if (pgoff + (size >> PAGE_SHIFT) < pgoff)
		return (unsigned long)-EOVERFLOW;
	vma = vm_area_alloc(mm);
	if (!vma)
		return (unsigned long)-ENOMEM;
	vma->vm_flags = calc_vm_flags(prot, flags);
	ret = mmap_region(mm, vma, addr, size, flags, pgoff, mmap, private);
	if (ret < 0)
		return (unsigned long)ret;
	if (flags & MAP_POPULATE)
		mm_populate(mm, (unsigned long)ret, size);
	return (unsigned long)ret;
}

/* Write back what the unmapped part of a shared file mapping dirtied. */
static void unmap_writeback(struct vm_area_struct *vma)
{
	if (vma->vm_file && (vma->vm_flags & VM_SHARED) &&
	    !file_is_shmem(vma->vm_file))
		filemap_write_and_wait_range(vma->vm_file->f_mapping,
			vma->vm_pgoff,
			vma->vm_pgoff +
			((vma->vm_end - vma->vm_start) >> PAGE_SHIFT) - 1);
}

int do_munmap(struct mm_struct *mm, unsigned long start, unsigned long end)
{
	unsigned int first, last;
	int err;

	err = vma_split_range(mm, start, end);
	if (err)
		return err;
	first = vma_index(mm, start);
	last = vma_index(mm, end);	/* first VMA past the range */
	if (last < mm->map_count && mm->vmas[last]->vm_start < end)
		last++;
	if (first >= last)
		return 0;

	unmap_region(mm, first, last);
	while (last-- > first) {
		struct vm_area_struct *vma = mm->vmas[last];

		unmap_writeback(vma);
		vma_remove(mm, vma);
		remove_vma(vma);
	}
	return 0;
}

int uhmm_munmap(struct mm_struct *mm, void *addr, size_t len)
{
	unsigned long start = (unsigned long)addr;
	int err = check_user_range(mm, start, len);

	if (!err) {
		mmap_write_lock(mm);
		err = do_munmap(mm, start, start + len);
		mmap_write_unlock(mm);
	}
	if (err) {
		errno = -err;
		return -1;
	}
	return 0;
}

void exit_mmap(struct mm_struct *mm)
{
	struct mmu_notifier_range range;
	struct mmu_gather tlb;

	/* Devices let go of the mm before any of its pages is freed. */
	mmu_notifier_release(mm);

	mmap_write_lock(mm);
	if (mm->map_count) {
		mmu_notifier_range_init(&range, MMU_NOTIFY_UNMAP,
					MMU_NOTIFIER_RANGE_BLOCKABLE, mm,
					0, ULONG_MAX);
		mmu_notifier_invalidate_range_start(&range);
		tlb_gather_mmu(&tlb, mm);
		for (unsigned int i = 0; i < mm->map_count; i++)
			zap_page_range(&tlb, mm->vmas[i],
				       mm->vmas[i]->vm_start,
				       mm->vmas[i]->vm_end);
		tlb_finish_mmu(&tlb);
		mmu_notifier_invalidate_range_end(&range);
	}
	free_pgtables(mm, mm->mmap_base, mm->task_size);
	while (mm->map_count) {
		struct vm_area_struct *vma = mm->vmas[mm->map_count - 1];

		unmap_writeback(vma);
		mm->map_count--;
		remove_vma(vma);
	}
	mmap_write_unlock(mm);
}
