// SPDX-License-Identifier: MIT
/*
 * mmap of the device itself, as the kernel driver's dmirror_fops_mmap():
 * every page of the new mapping is a zeroed page of system RAM that the
 * driver inserts with vm_insert_page(). The mapping then holds the only
 * reference to each, so they go back to the allocator with it (munmap,
 * mm exit). A private writable mapping maps them read-only: a CPU write
 * copies the page (copy-on-write), a device sees it read-only.
 */
#include "dmirror_internal.h"

static int dmirror_fops_mmap(void *private, struct vm_area_struct *vma)
{
	(void)private;
	for (unsigned long addr = vma->vm_start; addr < vma->vm_end;
	     addr += PAGE_SIZE) {
		struct page *page = alloc_page();
		int ret;

		if (!page)
			return -ENOMEM;
		memset(page_address(page), 0, PAGE_SIZE);
		ret = vm_insert_page(vma, addr, page);
		/* The PTE holds its own reference now, or it failed. */
		put_page(page);
		if (ret)
			return ret;
	}
	return 0;
}

void *dmirror_mmap(struct dmirror *dmirror, void *addr, size_t len, int prot,
		   int flags)
{
	unsigned long ret;

	if (!dmirror) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	/* As a command: the mirrored mm must still have users. */
	if (!mmget_not_zero(dmirror->mm)) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	ret = vm_mmap_driver(dmirror->mm, (unsigned long)addr, len, prot,
			     flags, 0, dmirror_fops_mmap, dmirror);
	mmput(dmirror->mm);
	if (IS_ERR_VALUE(ret)) {
		errno = (int)-(long)ret;
		return MAP_FAILED;
	}
	return (void *)ret;
}
