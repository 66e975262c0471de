// SPDX-License-Identifier: MIT
/*
 * uhmm_access: a CPU load or store done on behalf of the caller, the way
 * the kernel's access_remote_vm does it: find the page through the page
 * tables, fault it in if it is missing or read-only, copy under the PTE
 * lock so that the PTE cannot change during the copy.
 */
#include "mm/filemap.h"
#include "mm/mm_internal.h"

/*
 * Copy up to the end of the page at addr if its PTE allows the access.
 * Returns bytes copied, or 0 if a fault is needed first (also for every
 * non-present entry: the fault waits out a migration, restores a
 * device-exclusive entry, brings a device-private page back).
 */
static size_t access_page(struct vm_area_struct *vma, unsigned long addr,
			  char *buf, size_t len, bool write)
{
	struct mm_struct *mm = vma->vm_mm;
	size_t off = addr & ~PAGE_MASK;
	size_t n = min(len, PAGE_SIZE - off);
	struct page *page;
	spinlock_t *ptl;
	pte_t *ptep, pte;
	pmd_t *pmd;
	char *kaddr;

	pmd = pte_table_lookup(mm, addr);
	if (!pmd)
		return 0;
	ptep = pte_offset_map_lock(pmd, addr, &ptl);
	pte = ptep_get(ptep);
	if (!pte_present(pte) || (write && !pte_write(pte))) {
		pte_unmap_unlock(ptep, ptl);
		return 0;
	}
	page = pfn_to_page(pte_pfn(pte));
	kaddr = (char *)page_address(page) + off;
	if (write) {
		memcpy(kaddr, buf, n);
		if (!pte_dirty(pte) || !pte_young(pte))
			ptep_set_access_flags(vma, addr, ptep,
					      pte_mkyoung(pte_mkdirty(pte)));
		set_page_dirty(page);
	} else {
		memcpy(buf, kaddr, n);
		if (!pte_young(pte))
			ptep_set_access_flags(vma, addr, ptep,
					      pte_mkyoung(pte));
	}
	pte_unmap_unlock(ptep, ptl);
	return n;
}

ssize_t uhmm_access(struct mm_struct *mm, void *addr, void *buf, size_t len,
		    int write)
{
	unsigned long a = (unsigned long)addr;
	char *p = buf;
	int err = 0;

	if (!mm || (!buf && len)) {
		errno = EINVAL;
		return -1;
	}
	if (a + len < a) {
		errno = EFAULT;
		return -1;
	}

	mmap_read_lock(mm);
	while (len) {
		struct vm_area_struct *vma = vma_lookup(mm, a);
		/* As on x86: anything accessible is readable. */
		unsigned long need = write ? VM_WRITE : VM_ACCESS_FLAGS;
		vm_fault_t ret;
		size_t n;

		if (!vma || !(vma->vm_flags & need)) {
			err = EFAULT;
			break;
		}
		n = access_page(vma, a, p, len, write);
		if (n) {
			a += n;
			p += n;
			len -= n;
			continue;
		}
		ret = handle_mm_fault(vma, a, (write ? FAULT_FLAG_WRITE : 0) |
				      FAULT_FLAG_REMOTE);
		if (ret & VM_FAULT_OOM) {
			err = ENOMEM;
			break;
		}
		if (ret & VM_FAULT_ERROR) {
			err = EFAULT;
			break;
		}
	}
	mmap_read_unlock(mm);
	if (err) {
		errno = err;
		return -1;
	}
	return p - (char *)buf;
}
