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
	 * taken at the next write fault, which also breaks COW. Every lost
	 * permission lives in the VMA, which every fault checks, and the
	 * CPU's translations must go all the same, whether or not a PTE
	 * changed: a read-only host mapping of a PROT_WRITE VMA's page (the
	 * zero page, a COW page) still reads, as a PTE made read-only does,
	 * and PROT_NONE must stop it. */
	if (!(newflags & VM_WRITE))
		walk_pte_range(vma->vm_mm, start, end, wrprotect_pte, &w);
	if (w.changed || lost)
		flush_tlb_range(vma->vm_mm, start, end);
}

/*
 * How far mprotect goes from start, as Linux's do_mprotect_pkey() walks
 * the VMAs: to end, or to the first hole (*err = -ENOMEM) or the first
 * VMA whose VM_MAY* bits refuse access (*err = -EACCES). The VMAs before
 * that point are changed all the same, as Linux changes them.
 */
static unsigned long mprotect_reach(struct mm_struct *mm, unsigned long start,
				    unsigned long end, unsigned long access,
				    int *err)
{
	unsigned long addr = start;
	unsigned int i = vma_index(mm, start);

	*err = 0;
	for (; addr < end; i++) {
		struct vm_area_struct *vma;

		if (i == mm->map_count || mm->vmas[i]->vm_start > addr) {
			*err = -ENOMEM;
			break;
		}
		vma = mm->vmas[i];
		/* VM_MAY* are VM_* << 4. */
		if (access & ~(vma->vm_flags >> 4) & VM_ACCESS_FLAGS) {
			*err = -EACCES;
			break;
		}
		addr = vma->vm_end;
	}
	return min(addr, end);
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

	int stop_err;

	end = mprotect_reach(mm, start, end, access, &stop_err);
	if (end == start)
		return stop_err;
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
	return stop_err;
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
