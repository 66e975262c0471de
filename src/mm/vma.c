// SPDX-License-Identifier: MIT
/*
 * VMAs of an mm: a sorted array of pointers, searched by bisection. The
 * array is read under mmap_read_lock and changed under mmap_write_lock.
 */
#include "mm/filemap.h"
#include "mm/mm_internal.h"

struct vm_area_struct *vm_area_alloc(struct mm_struct *mm)
{
	struct vm_area_struct *vma = calloc(1, sizeof(*vma));

	if (vma)
		vma->vm_mm = mm;
	return vma;
}

struct vm_area_struct *vm_area_dup(struct vm_area_struct *orig)
{
	struct vm_area_struct *vma = malloc(sizeof(*vma));

	if (!vma)
		return NULL;
	*vma = *orig;
	if (vma->vm_file)
		get_file(vma->vm_file);
	return vma;
}

void vm_area_free(struct vm_area_struct *vma)
{
	if (vma->vm_file)
		fput(vma->vm_file);
	free(vma);
}

/* What a driver's VMA has until its mmap callback says otherwise. */
const struct vm_operations_struct vma_dummy_vm_ops;

void vma_open(struct vm_area_struct *vma)
{
	if (vma->vm_ops && vma->vm_ops->open)
		vma->vm_ops->open(vma);
}

void remove_vma(struct vm_area_struct *vma)
{
	if (vma->vm_ops && vma->vm_ops->close)
		vma->vm_ops->close(vma);
	vm_area_free(vma);
}

unsigned int vma_index(struct mm_struct *mm, unsigned long addr)
{
	unsigned int lo = 0, hi = mm->map_count;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (mm->vmas[mid]->vm_end > addr)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

struct vm_area_struct *find_vma(struct mm_struct *mm, unsigned long addr)
{
	unsigned int i = vma_index(mm, addr);

	return i < mm->map_count ? mm->vmas[i] : NULL;
}

struct vm_area_struct *vma_lookup(struct mm_struct *mm, unsigned long addr)
{
	struct vm_area_struct *vma = find_vma(mm, addr);

	return vma && vma->vm_start <= addr ? vma : NULL;
}

int vma_reserve(struct mm_struct *mm, unsigned int n)
{
	unsigned int want = mm->map_count + n;
	struct vm_area_struct **v;
	unsigned int cap;

	if (want <= mm->vmas_capacity)
		return 0;
	cap = max(want, mm->vmas_capacity * 2);
	cap = max(cap, 16u);
	v = realloc(mm->vmas, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	mm->vmas = v;
	mm->vmas_capacity = cap;
	return 0;
}

void vma_insert(struct mm_struct *mm, struct vm_area_struct *vma)
{
	unsigned int i = vma_index(mm, vma->vm_start);

	BUG_ON(mm->map_count >= mm->vmas_capacity);
	VM_BUG_ON(i < mm->map_count && mm->vmas[i]->vm_start < vma->vm_end);
	memmove(&mm->vmas[i + 1], &mm->vmas[i],
		(mm->map_count - i) * sizeof(*mm->vmas));
	mm->vmas[i] = vma;
	mm->map_count++;
}

void vma_remove(struct mm_struct *mm, struct vm_area_struct *vma)
{
	unsigned int i = vma_index(mm, vma->vm_start);

	BUG_ON(i >= mm->map_count || mm->vmas[i] != vma);
	memmove(&mm->vmas[i], &mm->vmas[i + 1],
		(mm->map_count - i - 1) * sizeof(*mm->vmas));
	mm->map_count--;
}

int split_vma(struct mm_struct *mm, struct vm_area_struct *vma,
	      unsigned long addr)
{
	struct vm_area_struct *new;

	VM_BUG_ON(addr <= vma->vm_start || addr >= vma->vm_end);
	if (vma_reserve(mm, 1))
		return -ENOMEM;
	new = vm_area_dup(vma);
	if (!new)
		return -ENOMEM;
	new->vm_start = addr;
	new->vm_pgoff += (addr - vma->vm_start) >> PAGE_SHIFT;
	vma->vm_end = addr;
	vma_insert(mm, new);
	/* The driver learns of the new VMA once it is what it will be. */
	vma_open(new);
	return 0;
}

/* Undo split_vma(): vma takes next's range back. Write lock. */
static void unsplit_vma(struct mm_struct *mm, struct vm_area_struct *vma,
			struct vm_area_struct *next)
{
	vma_remove(mm, next);
	vma->vm_end = next->vm_end;
	remove_vma(next);
}

int vma_split_range(struct mm_struct *mm, unsigned long start,
		    unsigned long end)
{
	struct vm_area_struct *first = find_vma(mm, start);
	struct vm_area_struct *last;
	bool split_first = false;
	int err;

	if (!first || first->vm_start >= end)
		return 0;
	if (first->vm_start < start) {
		err = split_vma(mm, first, start);
		if (err)
			return err;
		split_first = true;
	}
	last = find_vma(mm, end - 1);
	if (last && last->vm_start < end && last->vm_end > end) {
		err = split_vma(mm, last, end);
		if (err) {
			/* Undo the first split: the caller sees no change. */
			if (split_first)
				unsplit_vma(mm, first, find_vma(mm, start));
			return err;
		}
	}
	return 0;
}

/* Can b, which starts where a ends, be folded into a? */
static bool vma_can_merge(const struct vm_area_struct *a,
			  const struct vm_area_struct *b)
{
	if (a->vm_end != b->vm_start || a->vm_flags != b->vm_flags)
		return false;
	/* A driver's mapping stays as the driver made it: it may count
	 * its VMAs (open, close), and two drivers' mappings side by side
	 * have no file to tell them apart. */
	if (a->vm_ops || b->vm_ops || a->vm_file != b->vm_file)
		return false;
	if (vma_is_anonymous(a))
		return true;
	return a->vm_pgoff + ((a->vm_end - a->vm_start) >> PAGE_SHIFT) ==
	       b->vm_pgoff;
}

void vma_merge_neighbours(struct mm_struct *mm, struct vm_area_struct *vma)
{
	unsigned int i = vma_index(mm, vma->vm_start);

	if (i + 1 < mm->map_count && vma_can_merge(vma, mm->vmas[i + 1])) {
		struct vm_area_struct *next = mm->vmas[i + 1];

		vma_remove(mm, next);
		vma->vm_end = next->vm_end;
		vm_area_free(next);
	}
	if (i > 0 && vma_can_merge(mm->vmas[i - 1], vma)) {
		struct vm_area_struct *prev = mm->vmas[i - 1];

		vma_remove(mm, vma);
		prev->vm_end = vma->vm_end;
		vm_area_free(vma);
	}
}

/* Is [addr, addr + len) free and inside the address space? */
static bool range_is_free(struct mm_struct *mm, unsigned long addr,
			  unsigned long len)
{
	struct vm_area_struct *vma;

	if (addr < mm->mmap_base || addr > mm->task_size ||
	    len > mm->task_size - addr)
		return false;
	vma = find_vma(mm, addr);
	return !vma || vma->vm_start >= addr + len;
}

unsigned long get_unmapped_area(struct mm_struct *mm, unsigned long hint,
				unsigned long len)
{
	/* Large mappings start on a 2 MiB boundary so that they can be
	 * backed by aligned blocks, as the kernel does for THP. */
	unsigned long align = len >= PMD_SIZE ? PMD_SIZE : PAGE_SIZE;
	unsigned long addr = mm->mmap_base;

	if (hint && IS_ALIGNED(hint, PAGE_SIZE) && range_is_free(mm, hint, len))
		return hint;

	for (unsigned int i = 0; i <= mm->map_count; i++) {
		unsigned long gap_end = i < mm->map_count ?
					mm->vmas[i]->vm_start : mm->task_size;

		addr = ALIGN_UP(addr, align);
		if (addr < gap_end && gap_end - addr >= len)
			return addr;
		if (i < mm->map_count)
			addr = max(addr, mm->vmas[i]->vm_end);
	}
	return 0;
}
