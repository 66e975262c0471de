// SPDX-License-Identifier: MIT
/*
 * The fault handler, and the PTE-range operations built on the page
 * tables that it shares helpers with: zap (unmap) and copy (fork).
 */
#include <uhmm/memremap.h>

#include "mm/filemap.h"
#include "mm/mm_internal.h"

struct page *vm_normal_page(struct vm_area_struct *vma, unsigned long addr,
			    pte_t pte)
{
	if (pte_special(pte))
		return NULL;
	return pfn_to_page(pte_pfn(pte));
}

/* ---- zap ---- */

static void zap_pte_range(struct mmu_gather *tlb, struct vm_area_struct *vma,
			  pmd_t *pmd, unsigned long addr, unsigned long end)
{
	struct mm_struct *mm = vma->vm_mm;
	unsigned int first = tlb->nr;
	spinlock_t *ptl;
	pte_t *ptep = pte_offset_map_lock(pmd, addr, &ptl);

	for (; addr < end; addr += PAGE_SIZE, ptep++) {
		pte_t pte = ptep_get(ptep);
		struct page *page;

		if (pte_none(pte))
			continue;
		pte = ptep_get_and_clear(mm, addr, ptep);
		if (!pte_present(pte)) {
			swp_entry_t entry = pte_to_swp_entry(pte);

			/* A migration entry holds nothing: the migration
			 * finds it gone and lets the page go. A
			 * device-private or device-exclusive entry maps its
			 * page like a present PTE; no CPU translation of it
			 * exists to flush. */
			if (!is_device_private_entry(entry) &&
			    !is_device_exclusive_entry(entry))
				continue;
			page = pfn_swap_entry_to_page(entry);
			atomic_fetch_sub(&page->_mapcount, 1);
			tlb->pages[tlb->nr++] = page;
			continue;
		}
		tlb_track_range(tlb, addr);
		page = vm_normal_page(vma, addr, pte);
		if (!page)
			continue;
		/* An anonymous page has nowhere to write back to. */
		if (pte_dirty(pte) && !PageAnon(page))
			set_page_dirty(page);
		atomic_fetch_sub(&page->_mapcount, 1);
		tlb->pages[tlb->nr++] = page;
	}
	/* Every page gathered was mapped here: rss once a table. */
	atomic_fetch_sub(&mm->rss_pages, (long)(tlb->nr - first));
	pte_unmap_unlock(ptep, ptl);
	/* A batch holds at most one PTE table's pages: flush per table,
	 * outside the lock. */
	tlb_flush_mmu(tlb);
}

void zap_page_range(struct mmu_gather *tlb, struct vm_area_struct *vma,
		    unsigned long start, unsigned long end)
{
	unsigned long addr, next;

	for (addr = start; addr < end; addr = next) {
		pmd_t *pmd;

		next = level_addr_end(addr, end, PMD_SIZE);
		pmd = pte_table_lookup(vma->vm_mm, addr);
		if (pmd)
			zap_pte_range(tlb, vma, pmd, addr, next);
	}
}

/* ---- device-exclusive entries ---- */

/*
 * Put back the present PTE that a device-exclusive entry replaced. The
 * page is locked (so that its driver has mapped it and lets go) and the
 * PTL held; the caller has invalidated the device's mapping. The entry
 * kept mapcount, reference and rss, so the PTE takes them over as they
 * are. The page was mapped writable by this one PTE when the entry was
 * made and nothing can have shared it since (fork restores first), so
 * the PTE is writable if the VMA is now: no copy-on-write is due.
 */
static void restore_exclusive_pte(struct vm_area_struct *vma,
				  struct page *page, unsigned long addr,
				  pte_t *ptep)
{
	pte_t pte = pfn_pte(page_to_pfn(page), _PAGE_ACCESSED);

	VM_BUG_ON(!PageLocked(page));
	if (vma->vm_flags & VM_WRITE)
		pte = pte_mkwrite(pte_mkdirty(pte));
	/* Non-present before: nothing to flush. */
	set_pte_at(vma->vm_mm, addr, ptep, pte);
}

/* ---- fork ---- */

static bool is_cow_mapping(unsigned long flags)
{
	return (flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE;
}

/*
 * fork of a non-present entry. A device-private page is shared like a
 * present one: one more reference and mapcount, read-only on both sides
 * of a COW mapping. Migration entries cannot be met: migrations run
 * under mmap_read_lock and fork holds the parent's for write.
 * Device-exclusive entries never get here: copy_pte_range() restores
 * them first.
 */
static void copy_nonpresent_pte(struct mm_struct *dst_mm,
				struct mm_struct *src_mm, pte_t *dst_pte,
				pte_t *src_pte, unsigned long addr, bool cow)
{
	pte_t pte = ptep_get(src_pte);
	swp_entry_t entry = pte_to_swp_entry(pte);
	struct page *page;

	BUG_ON(!is_device_private_entry(entry));
	page = pfn_swap_entry_to_page(entry);
	get_page(page);
	atomic_fetch_add(&page->_mapcount, 1);
	atomic_fetch_add(&dst_mm->rss_pages, 1);
	if (cow && is_writable_device_private_entry(entry)) {
		pte = swp_entry_to_pte(make_device_private_entry(
					swp_offset(entry), false));
		set_pte_at(src_mm, addr, src_pte, pte);
	}
	set_pte_at(dst_mm, addr, dst_pte, pte);
}

static int copy_pte_range(struct vm_area_struct *dst_vma,
			  struct vm_area_struct *src_vma, pmd_t *src_pmd,
			  unsigned long addr, unsigned long end)
{
	struct mm_struct *dst_mm = dst_vma->vm_mm;
	struct mm_struct *src_mm = src_vma->vm_mm;
	bool cow = is_cow_mapping(src_vma->vm_flags);
	pte_t *src_pte, *dst_pte;
	spinlock_t *src_ptl, *dst_ptl;
	struct page *busy = NULL;
	pte_t *migrating = NULL, migrating_pte;
	pmd_t *dst_pmd;

	dst_pmd = pte_table_alloc(dst_mm, addr);
	if (!dst_pmd)
		return -ENOMEM;
again:
	/* Nobody else can see the child yet; its lock is taken for the
	 * rule's sake and is never contended. */
	dst_pte = pte_offset_map_lock(dst_pmd, addr, &dst_ptl);
	src_pte = pte_offset_map_lock(src_pmd, addr, &src_ptl);
	for (; addr < end; addr += PAGE_SIZE, src_pte++, dst_pte++) {
		pte_t pte = ptep_get(src_pte);
		struct page *page;

		if (pte_none(pte))
			continue;
		if (!pte_present(pte) &&
		    is_migration_entry(pte_to_swp_entry(pte))) {
			/*
			 * migrate_device_range() runs without mmap_lock: let
			 * it finish rather than copy an entry its reverse-map
			 * walk may already have passed in the child.
			 */
			migrating = src_pte;
			migrating_pte = pte;
			break;
		}
		if (!pte_present(pte) &&
		    is_device_exclusive_entry(pte_to_swp_entry(pte))) {
			/*
			 * The child must not inherit the device's exclusive
			 * access: restore the parent's PTE (the device lost
			 * its mapping in copy_page_range()'s invalidation)
			 * and copy it as a present one, write-protected on
			 * both sides. Only private memory has such entries.
			 */
			VM_BUG_ON(!cow);
			page = pfn_swap_entry_to_page(pte_to_swp_entry(pte));
			if (!trylock_page(page)) {
				/* Its driver has not mapped it yet: wait
				 * for it outside the PTLs, then redo this
				 * entry. */
				get_page(page);
				busy = page;
				break;
			}
			restore_exclusive_pte(src_vma, page, addr, src_pte);
			unlock_page(page);
			pte = ptep_get(src_pte);
		}
		if (!pte_present(pte)) {
			copy_nonpresent_pte(dst_mm, src_mm, dst_pte, src_pte,
					    addr, cow);
			continue;
		}
		page = vm_normal_page(src_vma, addr, pte);
		if (page) {
			get_page(page);
			atomic_fetch_add(&page->_mapcount, 1);
			atomic_fetch_add(&dst_mm->rss_pages, 1);
		}
		if (cow && pte_write(pte)) {
			ptep_set_wrprotect(src_mm, addr, src_pte);
			pte = pte_wrprotect(pte);
		}
		set_pte_at(dst_mm, addr, dst_pte, pte_mkold(pte));
	}
	pte_unmap_unlock(src_pte, src_ptl);
	pte_unmap_unlock(dst_pte, dst_ptl);
	if (busy) {
		/*
		 * Where the kernel fails the fork, wait: the driver holds
		 * the lock only until it has mapped the page, and a page
		 * lock holder never waits for mmap_lock (which comes
		 * first), so the wait ends.
		 */
		lock_page(busy);
		unlock_page(busy);
		put_page(busy);
		busy = NULL;
		goto again;
	}
	if (migrating) {
		migration_entry_wait(migrating, migrating_pte);
		migrating = NULL;
		goto again;
	}
	return 0;
}

int copy_page_range(struct vm_area_struct *dst_vma,
		    struct vm_area_struct *src_vma)
{
	unsigned long addr, next, end = src_vma->vm_end;
	struct mm_struct *src_mm = src_vma->vm_mm;
	struct mmu_notifier_range range;
	bool cow = is_cow_mapping(src_vma->vm_flags);
	int err = 0;

	/* Shared mappings are not copied: the child faults them in from
	 * the page cache, as in the kernel. A driver's pages are: its
	 * mapping may have nothing to fault them in again. */
	if ((src_vma->vm_flags & VM_SHARED) &&
	    !(src_vma->vm_flags & (VM_PFNMAP | VM_MIXEDMAP)))
		return 0;

	if (cow) {
		mmu_notifier_range_init(&range, MMU_NOTIFY_PROTECTION_PAGE,
					MMU_NOTIFIER_RANGE_BLOCKABLE, src_mm,
					src_vma->vm_start, end);
		mmu_notifier_invalidate_range_start(&range);
	}
	for (addr = src_vma->vm_start; addr < end; addr = next) {
		pmd_t *src_pmd;

		next = level_addr_end(addr, end, PMD_SIZE);
		src_pmd = pte_table_lookup(src_mm, addr);
		if (!src_pmd)
			continue;
		err = copy_pte_range(dst_vma, src_vma, src_pmd, addr, next);
		if (err)
			break;
	}
	if (cow) {
		flush_tlb_range(src_mm, src_vma->vm_start, end);
		mmu_notifier_invalidate_range_end(&range);
	}
	return err;
}

/* ---- faults ---- */

static inline bool fault_is_write(const struct vm_fault *vmf)
{
	return vmf->flags & (FAULT_FLAG_WRITE | FAULT_FLAG_UNSHARE);
}

static void page_add_new_anon_rmap(struct page *page)
{
	set_page_flag(page, PG_anon);
	atomic_store(&page->_mapcount, 1);
}

/* Lock the PTE again and check it still is what the fault saw. */
static bool fault_relock_same(struct vm_fault *vmf)
{
	vmf->pte = pte_offset_map_lock(vmf->pmd, vmf->address, &vmf->ptl);
	if (pte_same(ptep_get(vmf->pte), vmf->orig_pte))
		return true;
	pte_unmap_unlock(vmf->pte, vmf->ptl);
	return false;
}

/* Are the PTEs of the block at ptep all none? PTL held. */
static bool pte_range_none(pte_t *ptep, unsigned long nr)
{
	for (unsigned long i = 0; i < nr; i++)
		if (!pte_none(ptep_get(ptep + i)))
			return false;
	return true;
}

/*
 * Private anonymous memory: the zero page on read, new zeroed pages on
 * write, for the block anon_fault_order() picks.
 */
static vm_fault_t do_anonymous_page(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mm_struct *mm = vma->vm_mm;
	unsigned int order = anon_fault_order(vmf);
	unsigned long nr = 1UL << order, i;
	unsigned long start = ALIGN_DOWN(vmf->address, PAGE_SIZE << order);
	struct page *page;
	pte_t *ptep;

	if (!fault_is_write(vmf)) {
		pte_t zero = pte_mkspecial(pfn_pte(page_to_pfn(zero_page()),
						   _PAGE_ACCESSED));

		if (!fault_relock_same(vmf))
			return 0;
		ptep = vmf->pte - (vmf->address - start) / PAGE_SIZE;
		for (i = 0; i < nr; i++)
			if (pte_none(ptep_get(ptep + i)))
				set_pte_at(mm, start + i * PAGE_SIZE, ptep + i,
					   zero);
		pte_unmap_unlock(vmf->pte, vmf->ptl);
		return 0;
	}

	page = alloc_pages_in_line(vmf->vma, vmf->pmd, start, order,
				   PTRS_PER_PTE);
	if (!page && order) {
		order = 0;
		nr = 1;
		start = vmf->address;
		page = alloc_pages_in_line(vmf->vma, vmf->pmd, start, 0,
					   PTRS_PER_PTE);
	}
	if (!page)
		return VM_FAULT_OOM;
	memset(page_address(page), 0, PAGE_SIZE << order);

	if (!fault_relock_same(vmf))
		goto free;
	ptep = vmf->pte - (vmf->address - start) / PAGE_SIZE;
	if (!pte_range_none(ptep, nr)) {
		/* A racing fault filled part of the block: let the access
		 * come again and take a smaller one. */
		pte_unmap_unlock(vmf->pte, vmf->ptl);
		goto free;
	}
	for (i = 0; i < nr; i++) {
		page_add_new_anon_rmap(page + i);
		set_pte_at(mm, start + i * PAGE_SIZE, ptep + i,
			   pfn_pte(page_to_pfn(page) + i, _PAGE_RW |
				   _PAGE_DIRTY | _PAGE_ACCESSED));
	}
	atomic_fetch_add(&mm->rss_pages, (long)nr);
	pte_unmap_unlock(vmf->pte, vmf->ptl);
	return 0;
free:
	for (i = 0; i < nr; i++)
		put_page(page + i);
	return 0;
}

/*
 * Copy-on-write: replace the PTE's page with a private copy (of src, or
 * zeros if src is NULL). Called without the PTL; src carries a reference
 * of the caller's that is dropped here.
 */
static vm_fault_t wp_page_copy(struct vm_fault *vmf, struct page *src)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mm_struct *mm = vma->vm_mm;
	struct mmu_notifier_range range;
	struct page *new, *old = NULL;
	pte_t entry;

	new = alloc_page();
	if (!new) {
		if (src)
			put_page(src);
		return VM_FAULT_OOM;
	}
	if (src)
		memcpy(page_address(new), page_address(src), PAGE_SIZE);
	else
		memset(page_address(new), 0, PAGE_SIZE);

	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR,
				MMU_NOTIFIER_RANGE_BLOCKABLE, mm,
				vmf->address, vmf->address + PAGE_SIZE);
	mmu_notifier_invalidate_range_start(&range);

	if (fault_relock_same(vmf)) {
		pte_t old_pte = ptep_clear_flush(vma, vmf->address, vmf->pte);

		/* none for do_cow_fault, the zero page, or a shared page */
		if (pte_present(old_pte))
			old = vm_normal_page(vma, vmf->address, old_pte);
		entry = pfn_pte(page_to_pfn(new), _PAGE_RW | _PAGE_DIRTY |
			       _PAGE_ACCESSED);
		page_add_new_anon_rmap(new);
		if (!old)
			atomic_fetch_add(&mm->rss_pages, 1);
		set_pte_at(mm, vmf->address, vmf->pte, entry);
		if (old) {
			if (pte_dirty(old_pte))
				set_page_dirty(old);
			atomic_fetch_sub(&old->_mapcount, 1);
		}
		pte_unmap_unlock(vmf->pte, vmf->ptl);
		new = NULL;
	}
	mmu_notifier_invalidate_range_end(&range);

	if (new)
		put_page(new);
	if (old)
		put_page(old);		/* the old PTE's reference */
	if (src)
		put_page(src);		/* the caller's */
	return 0;
}

/* A write to a present read-only PTE; called with the PTL held. */
static vm_fault_t do_wp_page(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct page *page = vm_normal_page(vma, vmf->address, vmf->orig_pte);
	pte_t entry = pte_mkyoung(pte_mkdirty(pte_mkwrite(vmf->orig_pte)));

	if (vma->vm_flags & VM_SHARED) {
		/* Shared mapping: no copy, just permission and dirtiness.
		 * Never for the zero page (vm_insert_page() keeps it out of
		 * shared writable mappings; a driver's fault must too). */
		if (pte_pfn(vmf->orig_pte) == page_to_pfn(zero_page())) {
			pte_unmap_unlock(vmf->pte, vmf->ptl);
			return VM_FAULT_SIGBUS;
		}
		if (page)
			set_page_dirty(page);
		ptep_set_access_flags(vma, vmf->address, vmf->pte, entry);
		pte_unmap_unlock(vmf->pte, vmf->ptl);
		return 0;
	}

	/*
	 * A private anonymous page that only this PTE references can be
	 * reused in place. The count cannot rise under us: every other
	 * way to a reference goes through a PTE lock or the page cache,
	 * and anonymous pages are in no cache.
	 */
	if (page && PageAnon(page) && page_ref_count(page) == 1) {
		ptep_set_access_flags(vma, vmf->address, vmf->pte, entry);
		pte_unmap_unlock(vmf->pte, vmf->ptl);
		return 0;
	}

	if (page)
		get_page(page);
	pte_unmap_unlock(vmf->pte, vmf->ptl);
	return wp_page_copy(vmf, page);
}

/*
 * The page for a fault on a file or a driver's mapping, with a reference
 * for the caller in *pagep. Returns 0, VM_FAULT_NOPAGE (the driver's
 * fault callback mapped something itself: the access runs again), or an
 * error. Called without the PTL.
 */
static vm_fault_t __do_fault(struct vm_fault *vmf, struct page **pagep)
{
	struct vm_area_struct *vma = vmf->vma;
	vm_fault_t ret;
	int err;

	if (vma->vm_ops) {
		/* A mapping the driver was to fill at mmap time. */
		if (!vma->vm_ops->fault)
			return VM_FAULT_SIGBUS;
		vmf->page = NULL;
		ret = vma->vm_ops->fault(vmf);
		if (ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY))
			return ret;
		if (!vmf->page)
			return VM_FAULT_SIGBUS;
		VM_BUG_ON(page_ref_count(vmf->page) <= 0);
		*pagep = vmf->page;
		return 0;
	}
	err = filemap_get_page(vma->vm_file, vmf->pgoff, pagep);
	if (err)
		return vmf_error(err);
	return 0;
}

/* File, shmem or driver memory: map the page (or a copy of it). */
static vm_fault_t do_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mm_struct *mm = vma->vm_mm;
	bool shared = vma->vm_flags & VM_SHARED;
	struct page *page;
	uint64_t bits = _PAGE_ACCESSED;
	vm_fault_t ret;

	ret = __do_fault(vmf, &page);
	if (ret)
		return ret;

	if (!shared && fault_is_write(vmf))	/* do_cow_fault */
		return wp_page_copy(vmf, page);

	if (shared && (vma->vm_flags & VM_WRITE)) {
		/* A file or driver page is mapped writable only by a
		 * write, which dirties it; shmem has nothing to write
		 * back. */
		if (vma->vm_file && file_is_shmem(vma->vm_file))
			bits |= _PAGE_RW;
		else if (fault_is_write(vmf))
			bits |= _PAGE_RW | _PAGE_DIRTY;
	}

	if (!fault_relock_same(vmf)) {
		put_page(page);
		return 0;
	}
	if (bits & _PAGE_DIRTY)
		set_page_dirty(page);
	/* The reference from filemap_get_page() becomes the PTE's. */
	atomic_fetch_add(&page->_mapcount, 1);
	atomic_fetch_add(&mm->rss_pages, 1);
	set_pte_at(mm, vmf->address, vmf->pte,
		   pfn_pte(page_to_pfn(page), bits));
	pte_unmap_unlock(vmf->pte, vmf->ptl);
	return 0;
}

/*
 * A CPU access to a device-exclusive entry: take the page back from the
 * device and restore the present PTE. Called without the PTL; returns 0
 * and the caller retries the access.
 */
static vm_fault_t remove_device_exclusive_entry(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct page *page = pfn_swap_entry_to_page(
				pte_to_swp_entry(vmf->orig_pte));
	struct mmu_notifier_range range;

	/* A reference taken while the entry is there keeps the page from
	 * being freed (by a racing zap) while we sleep on its lock. */
	if (!fault_relock_same(vmf))
		return 0;
	get_page(page);
	pte_unmap_unlock(vmf->pte, vmf->ptl);

	/* The driver that made the entry holds the lock until it has
	 * mapped the page: its mapping cannot be lost before it exists. */
	lock_page(page);
	/* No owner: every device, the one holding the page included,
	 * drops its mapping. */
	mmu_notifier_range_init_owner(&range, MMU_NOTIFY_EXCLUSIVE,
				      MMU_NOTIFIER_RANGE_BLOCKABLE,
				      vma->vm_mm, vmf->address,
				      vmf->address + PAGE_SIZE, NULL);
	mmu_notifier_invalidate_range_start(&range);
	if (fault_relock_same(vmf)) {
		restore_exclusive_pte(vma, page, vmf->address, vmf->pte);
		pte_unmap_unlock(vmf->pte, vmf->ptl);
	}
	mmu_notifier_invalidate_range_end(&range);
	unlock_page(page);
	put_page(page);
	return 0;
}

/*
 * A non-present entry: wait out a migration, take a page back from a
 * device that holds it exclusively, or have the owner of a
 * device-private page bring it back to system RAM. Called without the
 * PTL; the caller retries the access after a return of 0.
 */
static vm_fault_t do_swap_page(struct vm_fault *vmf)
{
	swp_entry_t entry = pte_to_swp_entry(vmf->orig_pte);
	struct page *page;
	vm_fault_t ret;

	if (is_migration_entry(entry)) {
		migration_entry_wait(vmf->pte, vmf->orig_pte);
		return 0;
	}
	if (is_device_exclusive_entry(entry))
		return remove_device_exclusive_entry(vmf);
	if (!is_device_private_entry(entry))
		return VM_FAULT_SIGBUS;

	vmf->pte = pte_offset_map_lock(vmf->pmd, vmf->address, &vmf->ptl);
	if (!pte_same(ptep_get(vmf->pte), vmf->orig_pte)) {
		pte_unmap_unlock(vmf->pte, vmf->ptl);
		return 0;
	}
	page = pfn_swap_entry_to_page(entry);
	/*
	 * The page lock before the reference, under the PTL, as the
	 * kernel: a fault that waited for the lock holding a reference
	 * would look like a pin to the holder's migrate_vma_setup(), which
	 * would leave the page on the device; with enough faults on the
	 * page, every holder would. A fault that finds the page locked
	 * sleeps until it is not, holding nothing, and is retried.
	 */
	if (!trylock_page(page)) {
		wait_on_page_locked_ptl(page, vmf->ptl);
		return 0;
	}
	/* The PTE's reference keeps the page until here; ours keeps it
	 * under the driver. The driver gets it locked (migrate_vma_setup()
	 * leaves fault_page to us) and allows our reference. */
	get_page(page);
	pte_unmap_unlock(vmf->pte, vmf->ptl);
	vmf->page = page;
	ret = page->pgmap->ops->migrate_to_ram(vmf);
	unlock_page(page);
	put_page(page);
	return ret;
}

vm_fault_t handle_mm_fault(struct vm_area_struct *vma, unsigned long address,
			   unsigned int flags)
{
	struct vm_fault vmf = {
		.vma = vma,
		.address = address & PAGE_MASK,
		.flags = flags,
	};
	pte_t entry;

	VM_BUG_ON(address < vma->vm_start || address >= vma->vm_end);
	vmf.pgoff = vma->vm_pgoff +
		    ((vmf.address - vma->vm_start) >> PAGE_SHIFT);

	vmf.pmd = pte_table_alloc(vma->vm_mm, vmf.address);
	if (!vmf.pmd)
		return VM_FAULT_OOM;

	vmf.pte = pte_offset_map_lock(vmf.pmd, vmf.address, &vmf.ptl);
	entry = ptep_get(vmf.pte);
	vmf.orig_pte = entry;

	if (pte_none(entry)) {
		pte_unmap_unlock(vmf.pte, vmf.ptl);
		if (vma_is_anonymous(vma))
			return do_anonymous_page(&vmf);
		return do_fault(&vmf);
	}
	if (!pte_present(entry)) {
		pte_unmap_unlock(vmf.pte, vmf.ptl);
		return do_swap_page(&vmf);
	}
	if (fault_is_write(&vmf) && !pte_write(entry))
		return do_wp_page(&vmf);

	entry = pte_mkyoung(entry);
	if (fault_is_write(&vmf))
		entry = pte_mkdirty(entry);
	if (!pte_same(entry, vmf.orig_pte))
		ptep_set_access_flags(vma, vmf.address, vmf.pte, entry);
	pte_unmap_unlock(vmf.pte, vmf.ptl);
	return 0;
}

