// SPDX-License-Identifier: MIT
/* mprotect: change the protection of VMAs, splitting at the ends, and of
 * the PTEs that map them. */
#include "mm/mm_internal.h"

#define PROT_ALL	(PROT_READ | PROT_WRITE | PROT_EXEC)

struct wrprotect_walk {
	struct mm_struct *mm;
	bool changed;
};

static void wrprotect_pte(pte_t *ptep, unsigned long addr, void *arg)
{
	struct wrprotect_walk *w = arg;
	pte_t pte = ptep_get(ptep);

	/* A device-exclusive entry stays: its restore takes writability
	 * from the VMA as it is then. */
	if (pte_present(pte) && pte_write(pte)) {
		ptep_set_wrprotect(w->mm, addr, ptep);
		w->changed = true;
	} else if (is_swap_pte(pte) &&
		   is_writable_device_private_entry(pte_to_swp_entry(pte))) {
		unsigned long pfn = swp_offset(pte_to_swp_entry(pte));

		set_pte_at(w->mm, addr, ptep, swp_entry_to_pte(
			   make_device_private_entry(pfn, false)));
	} else if (is_swap_pte(pte) &&
		   is_writable_migration_entry(pte_to_swp_entry(pte))) {
		/* A migration without mmap_lock (migrate_device_range())
		 * must not map the new page writable. */
		swp_entry_t entry = pte_to_swp_entry(pte);
		swp_entry_t rd = make_migration_entry(swp_offset(entry), false);

		if (is_migration_entry_young(entry))
			rd = make_migration_entry_young(rd);
		set_pte_at(w->mm, addr, ptep, swp_entry_to_pte(rd));
	}
}

void change_protection(struct vm_area_struct *vma, unsigned long start,
		       unsigned long end, unsigned long newflags)
{
	struct wrprotect_walk w = { .mm = vma->vm_mm };
	unsigned long lost = vma->vm_flags & ~newflags & VM_ACCESS_FLAGS;

	/* Only a loss of write permission touches PTEs: a gained one is
	 * taken at the next write fault, which also breaks COW. A lost
	 * read or exec permission lives in the VMA, which every fault
	 * checks; the CPU's translations must go all the same. */
	if (!(newflags & VM_WRITE))
		walk_pte_range(vma->vm_mm, start, end, wrprotect_pte, &w);
	if (w.changed || (lost & ~VM_WRITE))
		flush_tlb_range(vma->vm_mm, start, end);
}

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
