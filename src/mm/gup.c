// SPDX-License-Identifier: MIT
/*
 * get_user_pages / pin_user_pages: take references on the pages that
 * back a range of an mm, faulting them in as a CPU access would, as the
 * kernel's mm/gup.c. A device-private page is brought back to system
 * RAM by the fault (only system RAM and coherent memory can be handed
 * out); a long-term pin (FOLL_LONGTERM) also moves device-coherent
 * pages to system RAM first, so that device memory is never pinned for
 * an unbounded time.
 *
 * uhmm counts a pin as an ordinary reference: a pinned page has more
 * references than mappings, which is what migration checks.
 */
#include <uhmm/migrate.h>

#include "mm/mm_internal.h"

/* The page at addr if its PTE allows the access, with a reference. */
static struct page *follow_page_pte(struct vm_area_struct *vma,
				    unsigned long addr, bool write)
{
	struct page *page = NULL;
	spinlock_t *ptl;
	pte_t *ptep, pte;
	pmd_t *pmd;

	pmd = pte_table_lookup(vma->vm_mm, addr);
	if (!pmd)
		return NULL;
	ptep = pte_offset_map_lock(pmd, addr, &ptl);
	pte = ptep_get(ptep);
	if (pte_present(pte) && (!write || pte_write(pte))) {
		page = pfn_to_page(pte_pfn(pte));
		get_page(page);
	}
	pte_unmap_unlock(ptep, ptl);
	return page;
}

static int check_vma_flags(struct vm_area_struct *vma, unsigned int gup_flags)
{
	/* Raw pfns and device registers have no pages to take. */
	if (vma->vm_flags & (VM_IO | VM_PFNMAP))
		return -EFAULT;
	if (gup_flags & FOLL_WRITE)
		return vma->vm_flags & VM_WRITE ? 0 : -EFAULT;
	return vma->vm_flags & VM_ACCESS_FLAGS ? 0 : -EFAULT;
}

static long __get_user_pages(struct mm_struct *mm, unsigned long start,
			     unsigned long nr_pages, unsigned int gup_flags,
			     struct page **pages)
{
	bool write = gup_flags & FOLL_WRITE;
	unsigned long i = 0;
	int err = 0;

	while (i < nr_pages) {
		unsigned long addr = start + (i << PAGE_SHIFT);
		struct vm_area_struct *vma = vma_lookup(mm, addr);
		struct page *page;
		vm_fault_t ret;

		if (!vma) {
			err = -EFAULT;
			break;
		}
		err = check_vma_flags(vma, gup_flags);
		if (err)
			break;
		page = follow_page_pte(vma, addr, write);
		if (page) {
			pages[i++] = page;
			continue;
		}
		ret = handle_mm_fault(vma, addr, FAULT_FLAG_REMOTE |
				      (write ? FAULT_FLAG_WRITE : 0));
		if (ret & VM_FAULT_OOM) {
			err = -ENOMEM;
			break;
		}
		if (ret & VM_FAULT_ERROR) {
			err = -EFAULT;
			break;
		}
	}
	return i ? (long)i : err;
}

/*
 * Move one device-coherent page to system RAM wherever it is mapped, as
 * the kernel's migrate_device_coherent_folio(). Returns 0 or -EBUSY.
 */
static int migrate_device_coherent_page(struct page *page)
{
	unsigned long src = 0, dst = 0;
	struct page *dpage;

	if (migrate_device_range(&src, page_to_pfn(page), 1))
		return -EBUSY;
	if (!(src & MIGRATE_PFN_MIGRATE))
		goto out;
	dpage = alloc_page();
	if (dpage) {
		lock_page(dpage);
		memcpy(page_address(dpage), page_address(page), PAGE_SIZE);
		dst = migrate_pfn(page_to_pfn(dpage));
	}
out:
	migrate_device_pages(&src, &dst, 1);
	migrate_device_finalize(&src, &dst, 1);
	return dst ? 0 : -EBUSY;
}

/*
 * FOLL_LONGTERM: if any page is device-coherent, drop every reference,
 * move those pages to system RAM and have the caller start over
 * (-EAGAIN), as check_and_migrate_movable_pages() does.
 */
static long check_and_migrate_movable_pages(struct page **pages, long nr)
{
	struct page *coherent[16];
	unsigned int n = 0;
	long ret = 0;

	for (long i = 0; i < nr; i++)
		if (is_device_coherent_page(pages[i]) && n < 16) {
			get_page(pages[i]);
			coherent[n++] = pages[i];
		}
	if (!n)
		return 0;
	for (long i = 0; i < nr; i++)
		put_page(pages[i]);
	for (unsigned int i = 0; i < n; i++) {
		put_page(coherent[i]);
		if (migrate_device_coherent_page(coherent[i]))
			ret = -ENOMEM;
	}
	return ret ? ret : -EAGAIN;
}

static long gup(struct mm_struct *mm, unsigned long start,
		unsigned long nr_pages, unsigned int gup_flags,
		struct page **pages)
{
	long ret;

	if (!mm || !pages || (start & ~PAGE_MASK) ||
	    (gup_flags & ~(FOLL_WRITE | FOLL_LONGTERM | FOLL_PIN)))
		return -EINVAL;
	if (!nr_pages)
		return 0;
	do {
		ret = __get_user_pages(mm, start, nr_pages, gup_flags, pages);
		if (ret > 0 && (gup_flags & FOLL_LONGTERM))
			ret = check_and_migrate_movable_pages(pages, ret) ?: ret;
	} while (ret == -EAGAIN);
	return ret;
}

long get_user_pages_remote(struct mm_struct *mm, unsigned long start,
			   unsigned long nr_pages, unsigned int gup_flags,
			   struct page **pages)
{
	/* As the kernel: long-term references are pins. */
	if (gup_flags & (FOLL_LONGTERM | FOLL_PIN))
		return -EINVAL;
	return gup(mm, start, nr_pages, gup_flags, pages);
}

long pin_user_pages_remote(struct mm_struct *mm, unsigned long start,
			   unsigned long nr_pages, unsigned int gup_flags,
			   struct page **pages)
{
	if (gup_flags & FOLL_PIN)
		return -EINVAL;
	return gup(mm, start, nr_pages, gup_flags | FOLL_PIN, pages);
}

void unpin_user_page(struct page *page)
{
	put_page(page);
}

void unpin_user_pages(struct page **pages, unsigned long npages)
{
	for (unsigned long i = 0; i < npages; i++)
		unpin_user_page(pages[i]);
}
