// SPDX-License-Identifier: MIT
/*
 * mremap: shrink, grow or move a mapping, as the kernel's mm/mremap.c.
 *
 * Shrinking unmaps the tail. Growing extends the VMA in place when the
 * space after it is free; otherwise, with MREMAP_MAYMOVE, the mapping
 * moves. Moving makes a VMA at the new address and hands every PTE of
 * the old range over to it (move_page_tables()): present PTEs, the
 * zero page, device-private and device-exclusive entries keep their
 * page, reference, mapcount and rss. Nothing is copied and no device
 * page comes back to system RAM; the old range is then unmapped, or
 * with MREMAP_DONTUNMAP left in place, empty.
 *
 * The whole move runs under mmap_write_lock, inside one MMU_NOTIFY_UNMAP
 * invalidation of the old range: every mirror drops its translations of
 * the old addresses before any PTE changes, and sees the pages again
 * only by faulting the new range. The host mappings of a PTE table are
 * shot down (flush_tlb_range()) before its lock is dropped, so that no
 * thread reaches a page through the old address once the new one maps
 * it; a thread that touches the old range faults, waits for
 * mmap_lock, and finds what is there afterwards (nothing, or with
 * MREMAP_DONTUNMAP fresh memory).
 *
 * Two kinds of entry cannot simply be moved:
 *  - Migration entries: the migration that put one there replaces it
 *    at the address it knows (migrate_device_* run without mmap_lock).
 *    The move waits for it to end, as fork does.
 *  - Device pages (private or coherent) are found by the reverse map of
 *    migrate_device_* at page->index (src/migrate/migrate_internal.h).
 *    One that only this mapping maps moves with page->index updated
 *    under its page lock. One that other mms map too (copy-on-write
 *    after uhmm_fork()) would need two addresses: before the move, this
 *    mm gets its own copy in system RAM, as a write would give it (a
 *    device-private page through its owner's migrate_to_ram(), a
 *    coherent one by migrate_vma_*), and the other mms keep the device
 *    page. The data seen on both sides is unchanged.
 */
#include <stdarg.h>

#include <uhmm/memremap.h>
#include <uhmm/migrate.h>

#include "mm/mm_internal.h"
#include "settings.h"

#define MREMAP_KNOWN	(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)

/* Attempts to give this mm its own copy of a shared device page. */
#define UNSHARE_TRIES	8

/* ---- device pages shared with other mms ---- */

/*
 * The device page at addr if other mms map it too, else NULL. No
 * reference is taken (the migration that unshares it counts them): the
 * PTE's keeps the page, and no one can zap it under mmap_write_lock.
 */
static struct page *shared_device_page(struct mm_struct *mm, pmd_t *pmd,
				       unsigned long addr)
{
	struct page *page = NULL;
	spinlock_t *ptl;
	pte_t *ptep, pte;

	ptep = pte_offset_map_lock(pmd, addr, &ptl);
	pte = ptep_get(ptep);
	if (pte_present(pte) && !pte_special(pte))
		page = pfn_to_page(pte_pfn(pte));
	else if (is_swap_pte(pte) &&
		 is_device_private_entry(pte_to_swp_entry(pte)))
		page = pfn_swap_entry_to_page(pte_to_swp_entry(pte));
	if (page && (!is_zone_device_page(page) || page_mapcount(page) <= 1))
		page = NULL;
	pte_unmap_unlock(ptep, ptl);
	return page;
}

/*
 * This mapping's own copy of a shared device-coherent page, in system
 * RAM, through migrate_vma_* (which moves one VMA's mapping and leaves
 * the others theirs). Returns 0 or VM_FAULT_OOM; a page the migration
 * could not take (locked, pinned) is left for the caller to retry.
 */
static vm_fault_t unshare_coherent_page(struct vm_area_struct *vma,
					unsigned long addr, struct page *page)
{
	unsigned long src = 0, dst = 0;
	struct migrate_vma args = {
		.vma = vma,
		.start = addr,
		.end = addr + PAGE_SIZE,
		.src = &src,
		.dst = &dst,
		.pgmap_owner = page->pgmap->owner,
		.flags = MIGRATE_VMA_SELECT_DEVICE_COHERENT,
	};
	struct page *spage, *dpage;
	vm_fault_t ret = 0;

	if (migrate_vma_setup(&args))
		return VM_FAULT_SIGBUS;
	spage = migrate_pfn_to_page(src);
	if (spage && (src & MIGRATE_PFN_MIGRATE)) {
		dpage = alloc_page();
		if (dpage) {
			lock_page(dpage);
			memcpy(page_address(dpage), page_address(spage),
			       PAGE_SIZE);
			dst = migrate_pfn(page_to_pfn(dpage)) |
			      (src & MIGRATE_PFN_WRITE);
		} else {
			ret = VM_FAULT_OOM;
		}
	}
	migrate_vma_pages(&args);
	migrate_vma_finalize(&args);
	if (dst) {
		/* The migration's MMU_NOTIFY_MIGRATE carried the device's
		 * own owner, which its driver may skip as its own doing:
		 * tell every mirror that this mapping left the page. */
		struct mmu_notifier_range range;

		mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR,
					MMU_NOTIFIER_RANGE_BLOCKABLE,
					vma->vm_mm, addr, addr + PAGE_SIZE);
		mmu_notifier_invalidate_range_start(&range);
		mmu_notifier_invalidate_range_end(&range);
	}
	return ret;
}

/*
 * Give this mm its own copy of every device page in [start, end) that
 * other mms map too, so that every device page left there moves with
 * its reverse map (page->index) intact. Returns 0, -ENOMEM, or -EAGAIN
 * if a page stays shared (its owner keeps refusing to migrate it).
 * mmap_write_lock held.
 */
static int unshare_device_pages(struct mm_struct *mm, unsigned long start,
				unsigned long end)
{
	unsigned long addr, next;

	for (addr = start; addr < end; addr = next) {
		pmd_t *pmd = pte_table_lookup(mm, addr);

		next = level_addr_end(addr, end, PMD_SIZE);
		if (!pmd)
			continue;
		for (; addr < next; addr += PAGE_SIZE) {
			for (int tries = 0;; tries++) {
				struct page *page =
					shared_device_page(mm, pmd, addr);
				struct vm_area_struct *vma;
				vm_fault_t ret;

				if (!page)
					break;
				vma = vma_lookup(mm, addr);
				if (tries == UNSHARE_TRIES)
					return -EAGAIN;
				if (is_device_private_page(page))
					/* A CPU read fault: the owner's
					 * migrate_to_ram() moves this
					 * mapping only. */
					ret = handle_mm_fault(vma, addr, 0);
				else
					ret = unshare_coherent_page(vma, addr,
								    page);
				if (ret & VM_FAULT_OOM)
					return -ENOMEM;
				if (ret & VM_FAULT_ERROR)
					return -EAGAIN;
			}
		}
	}
	return 0;
}

/* ---- moving PTEs ---- */

/*
 * The page whose reverse map follows the address of this PTE: a device
 * page (private entry or coherent present PTE). NULL for everything
 * else, which nothing finds by address.
 */
static struct page *pte_rmap_page(pte_t pte)
{
	struct page *page = NULL;

	if (pte_present(pte)) {
		if (!pte_special(pte))
			page = pfn_to_page(pte_pfn(pte));
	} else if (is_device_private_entry(pte_to_swp_entry(pte))) {
		page = pfn_swap_entry_to_page(pte_to_swp_entry(pte));
	}
	return page && is_zone_device_page(page) ? page : NULL;
}

/*
 * Move the PTEs of [old_addr, old_end), all in one table of old_pmd, to
 * new_addr on, all in one table of new_pmd. Both tables exist. With
 * only_own, stop at a device page that another mm maps too: its sharing
 * is decided under its page lock, since a migration by pfn that gave up
 * may have put back a mapping unshare_device_pages() did not see. The
 * end of what was moved is returned (old_end when all of it).
 */
static unsigned long move_ptes(struct mm_struct *mm, pmd_t *old_pmd,
			       unsigned long old_addr, unsigned long old_end,
			       pmd_t *new_pmd, unsigned long new_addr,
			       bool only_own)
{
	bool shared = false;
	unsigned long flush_start = old_addr;
	spinlock_t *old_ptl, *new_ptl;
	pte_t *old_pte, *new_pte;
	struct page *busy;
	pte_t migrating;

again:
	busy = NULL;
	old_pte = pte_offset_map_lock(old_pmd, old_addr, &old_ptl);
	new_ptl = pte_lockptr(new_pmd);
	/* Only this thread takes two PTLs of this mm (mmap_write_lock
	 * keeps out fork, the other one): no order between them. */
	if (new_ptl != old_ptl)
		spin_lock(new_ptl);
	new_pte = pte_offset(new_pmd, new_addr);
	for (; old_addr < old_end; old_addr += PAGE_SIZE,
	     new_addr += PAGE_SIZE, old_pte++, new_pte++) {
		pte_t pte = ptep_get(old_pte);
		struct page *page;

		if (pte_none(pte))
			continue;
		VM_BUG_ON(!pte_none(ptep_get(new_pte)));
		if (is_swap_pte(pte) &&
		    is_migration_entry(pte_to_swp_entry(pte))) {
			migrating = pte;
			break;
		}
		page = pte_rmap_page(pte);
		if (page && !trylock_page(page)) {
			/* A migration of it by pfn is running: wait
			 * outside the PTLs, then look again. */
			get_page(page);
			busy = page;
			break;
		}
		if (page && only_own && page_mapcount(page) > 1) {
			unlock_page(page);
			shared = true;
			break;
		}
		pte = ptep_get_and_clear(mm, old_addr, old_pte);
		if (pte_present(pte))
			pte = pte_clear_host_mapped(pte);
		set_pte_at(mm, new_addr, new_pte, pte);
		if (page) {
			page->index = new_addr;
			unlock_page(page);
		}
	}
	/* Before the old PTL goes: no CPU may reach a moved page through
	 * the old address once a fault can map the new one. */
	if (old_addr > flush_start)
		flush_tlb_range(mm, flush_start, old_addr);
	if (new_ptl != old_ptl)
		spin_unlock(new_ptl);
	pte_unmap_unlock(old_pte, old_ptl);

	if (shared)
		return old_addr;
	if (busy) {
		lock_page(busy);
		unlock_page(busy);
		put_page(busy);
		flush_start = old_addr;
		goto again;
	}
	if (old_addr < old_end) {
		/* Wait for the migration to put its page back, at the
		 * address it knows. The table stays: mmap_write_lock. */
		migration_entry_wait(old_pte, migrating);
		flush_start = old_addr;
		goto again;
	}
	return old_end;
}

/* The next boundary of a PTE table after either address, as a length. */
static unsigned long move_extent(unsigned long old_addr,
				 unsigned long new_addr, unsigned long left)
{
	unsigned long extent = left;

	extent = min(extent, level_addr_end(old_addr, old_addr + left,
					    PMD_SIZE) - old_addr);
	extent = min(extent, level_addr_end(new_addr, new_addr + left,
					    PMD_SIZE) - new_addr);
	return extent;
}

/*
 * PTE tables at the new address for every part of the old range that
 * has one, so that the move itself cannot fail. 0 or -ENOMEM; a table
 * made stays, empty, until free_pgtables().
 */
static int alloc_move_tables(struct mm_struct *mm, unsigned long old_addr,
			     unsigned long new_addr, unsigned long len)
{
	unsigned long off, extent;

	for (off = 0; off < len; off += extent) {
		extent = move_extent(old_addr + off, new_addr + off,
				     len - off);
		if (pte_table_lookup(mm, old_addr + off) &&
		    !pte_table_alloc(mm, new_addr + off))
			return -ENOMEM;
	}
	return 0;
}

/*
 * Move len bytes of PTEs from old_addr to new_addr. Returns how many
 * bytes moved: len, or less where only_own met a shared device page.
 */
static unsigned long move_page_tables(struct mm_struct *mm,
				      unsigned long old_addr,
				      unsigned long new_addr,
				      unsigned long len, bool only_own)
{
	unsigned long off, extent;

	for (off = 0; off < len; off += extent) {
		unsigned long end;
		pmd_t *old_pmd, *new_pmd;

		extent = move_extent(old_addr + off, new_addr + off,
				     len - off);
		old_pmd = pte_table_lookup(mm, old_addr + off);
		if (!old_pmd)
			continue;
		new_pmd = pte_table_lookup(mm, new_addr + off);
		BUG_ON(!new_pmd);
		end = move_ptes(mm, old_pmd, old_addr + off,
				old_addr + off + extent, new_pmd,
				new_addr + off, only_own);
		if (end < old_addr + off + extent)
			return end - old_addr;
	}
	return len;
}

/* ---- VMAs ---- */

/*
 * Move [addr, addr + old_len), which lies in one VMA, to a new VMA of
 * new_len bytes at new_addr (free). Returns new_addr or -errno (-EAGAIN:
 * a device page in the range is shared with another mm); on error the
 * pages and the mapping are as they were, though a driver's VMA split
 * at the range's ends stays split (drivers' VMAs never merge).
 */
static long move_vma(struct mm_struct *mm, unsigned long addr,
		     unsigned long old_len, unsigned long new_len,
		     unsigned long new_addr, bool dontunmap)
{
	struct mmu_notifier_range range;
	struct vm_area_struct *vma, *new;
	unsigned long moved = min(old_len, new_len), done;
	int err;

	err = vma_split_range(mm, addr, addr + old_len);
	if (err)
		return err;
	vma = vma_lookup(mm, addr);
	new = vm_area_dup(vma);
	if (!new) {
		err = -ENOMEM;
		goto undo;
	}
	new->vm_start = new_addr;
	new->vm_end = new_addr + new_len;
	err = alloc_move_tables(mm, addr, new_addr, moved);
	if (err) {
		vm_area_free(new);
		goto undo;
	}

	mmu_notifier_range_init(&range, MMU_NOTIFY_UNMAP,
				MMU_NOTIFIER_RANGE_BLOCKABLE, mm, addr,
				addr + old_len);
	mmu_notifier_invalidate_range_start(&range);
	done = move_page_tables(mm, addr, new_addr, moved, true);
	if (done < moved) {
		/* A device page became shared again: put back what moved
		 * (the old tables are all there, and nothing can have
		 * become shared in this mm's half), and let the caller
		 * unshare it and try again. */
		move_page_tables(mm, new_addr, addr, done, false);
		err = -EAGAIN;
	}
	mmu_notifier_invalidate_range_end(&range);
	if (err) {
		vm_area_free(new);
		goto undo;
	}

	if (!dontunmap) {
		/* Every PTE is gone from it: only the tables and the VMA
		 * are left to free, before the new VMA may merge with it. */
		free_pgtables(mm, addr, addr + old_len);
		vma_remove(mm, vma);
	}
	vma_insert(mm, new);
	/* As the kernel's copy_vma() and unmap: the driver is told of the
	 * new VMA, and of the old one going. */
	vma_open(new);
	if (!dontunmap)
		remove_vma(vma);
	vma_merge_neighbours(mm, new);
	if (dontunmap) {
		vma = vma_lookup(mm, addr);
		vma_merge_neighbours(mm, vma);
	}
	return (long)new_addr;

undo:
	vma_merge_neighbours(mm, vma_lookup(mm, addr));
	return err;
}

/* Can vma, which ends at its old_end, grow to new_end where it is? */
static bool vma_expandable(struct mm_struct *mm, struct vm_area_struct *vma,
			   unsigned long new_end)
{
	struct vm_area_struct *next = find_vma(mm, vma->vm_end);

	return new_end <= mm->task_size && (!next || next->vm_start >= new_end);
}

static long do_mremap(struct mm_struct *mm, unsigned long addr,
		      unsigned long old_len, unsigned long new_len, int flags,
		      unsigned long new_addr)
{
	bool dontunmap = flags & MREMAP_DONTUNMAP;
	bool fixed = flags & MREMAP_FIXED;
	struct vm_area_struct *vma;
	int err;

	vma = vma_lookup(mm, addr);
	if (!vma)
		return -EFAULT;
	/* A shrink in place needs only addr mapped, as in Linux: the tail
	 * is unmapped whatever VMAs and holes it spans. */
	if (!fixed && !dontunmap && new_len <= old_len) {
		err = new_len < old_len ?
		      do_munmap(mm, addr + new_len, addr + old_len) : 0;
		return err ? err : (long)addr;
	}
	/* Anything else moves or grows the old range: it must lie in one
	 * VMA. */
	if (old_len > vma->vm_end - addr)
		return -EFAULT;
	/* A driver's mapping that must not grow, or holds raw pfns. */
	if ((vma->vm_flags & (VM_DONTEXPAND | VM_PFNMAP)) && dontunmap)
		return -EINVAL;
	if ((vma->vm_flags & (VM_DONTEXPAND | VM_PFNMAP)) && new_len > old_len)
		return -EFAULT;
	/* Room for the splits of the old range and of a MAP_FIXED target
	 * and for the new VMA, so that no VMA insert fails. */
	err = vma_reserve(mm, 5);
	if (err)
		return err;

	if (!fixed && !dontunmap) {
		if (addr + old_len == vma->vm_end &&
		    vma_expandable(mm, vma, addr + new_len)) {
			vma->vm_end = addr + new_len;
			vma_merge_neighbours(mm, vma);
			return (long)addr;
		}
		if (!(flags & MREMAP_MAYMOVE))
			return -ENOMEM;
	}

	/* A move. Before anything changes, the device pages shared with
	 * other mms are made this mm's own. */
	err = unshare_device_pages(mm, addr, addr + min(old_len, new_len));
	if (err)
		return err;
	if (fixed) {
		err = do_munmap(mm, new_addr, new_addr + new_len);
		if (err)
			return err;
	}
	if (old_len > new_len) {
		err = do_munmap(mm, addr + new_len, addr + old_len);
		if (err)
			return err;
		old_len = new_len;
	}
	if (!fixed) {
		new_addr = get_unmapped_area(mm, new_addr, new_len);
		if (!new_addr)
			return -ENOMEM;
	}
	for (int tries = 0;; tries++) {
		long ret = move_vma(mm, addr, old_len, new_len, new_addr,
				    dontunmap);

		/* -EAGAIN: a page shared again meanwhile (move_ptes()). */
		if (ret != -EAGAIN || tries == UNSHARE_TRIES)
			return ret;
		err = unshare_device_pages(mm, addr, addr + old_len);
		if (err)
			return err;
	}
}

void *uhmm_mremap(struct mm_struct *mm, void *old_address, size_t old_len,
		  size_t new_len, int flags, ...)
{
	unsigned long addr = (unsigned long)old_address, new_addr = 0;
	long ret;

	/* As glibc: the new address is read only with MREMAP_FIXED. */
	if (flags & MREMAP_FIXED) {
		va_list ap;

		va_start(ap, flags);
		new_addr = (unsigned long)va_arg(ap, void *);
		va_end(ap);
	}

	if (!mm || (flags & ~MREMAP_KNOWN) || !IS_ALIGNED(addr, PAGE_SIZE))
		goto einval;
	if (old_len > (size_t)-1 - PAGE_SIZE ||
	    new_len > (size_t)-1 - PAGE_SIZE)
		goto einval;
	old_len = PAGE_ALIGN(old_len);
	new_len = PAGE_ALIGN(new_len);
	/* The kernel's zero old_len (a second mapping of shared memory)
	 * is not supported. */
	if (!old_len || !new_len)
		goto einval;
	if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) {
		if (!(flags & MREMAP_MAYMOVE))
			goto einval;
		if ((flags & MREMAP_DONTUNMAP) && old_len != new_len)
			goto einval;
	}
	if (flags & MREMAP_FIXED) {
		if (!IS_ALIGNED(new_addr, PAGE_SIZE) ||
		    new_addr < mm->mmap_base || new_addr > mm->task_size ||
		    new_len > mm->task_size - new_addr)
			goto einval;
		/* The new range must not overlap the old one. */
		if (new_addr < addr + old_len && addr < new_addr + new_len)
			goto einval;
	} else if (new_len > mm->task_size - mm->mmap_base) {
		/* Larger than the address space: nowhere to put it. */
		report_va_cap(new_len);
		errno = ENOMEM;
		return MAP_FAILED;
	}

	mmap_write_lock(mm);
	ret = do_mremap(mm, addr, old_len, new_len, flags, new_addr);
	mmap_write_unlock(mm);
	if (ret < 0) {
		errno = (int)-ret;
		return MAP_FAILED;
	}
	return (void *)ret;

einval:
	errno = EINVAL;
	return MAP_FAILED;
}
