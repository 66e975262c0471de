/* SPDX-License-Identifier: MIT */
#ifndef UHMM_MM_TYPES_H
#define UHMM_MM_TYPES_H

#ifndef __cplusplus
#include <stdatomic.h>
#endif
#include <urcu/list.h>

#include <uhmm/compiler.h>
#include <uhmm/types.h>

UHMM_BEGIN_DECLS

struct address_space;
struct dev_pagemap;
struct file;
struct mmu_notifier_subscriptions;
struct host_window;
struct vm_operations_struct;

/*
 * struct page: one for every pfn of system RAM and of device memory
 * (memremap_pages()). Who holds the references counted in _refcount:
 *  - the allocator's caller, from alloc_pages() until it is handed over;
 *  - every PTE that maps the page (one each, matching _mapcount);
 *  - the page cache, one while the page is in a mapping's i_pages;
 *  - anyone who looked it up and wants it to stay (get_page()).
 * The page returns to the allocator when the last reference is put.
 */
struct page {
	UHMM_ATOMIC(unsigned long) flags; /* PG_* bits, atomic bit
					 * operations */
	UHMM_ATOMIC(int) _refcount;	/* see above */
	UHMM_ATOMIC(int) _mapcount;	/* PTEs mapping this page (0: unmapped);
					 * changed under the PTL of each PTE */
	UHMM_ANONYMOUS union {
		UHMM_ANONYMOUS struct {	/* page cache and anonymous pages */
			/* page cache: the owning mapping, set and cleared
			 * under mapping->lock; NULL for anonymous pages */
			struct address_space *mapping;
			/* page cache: offset in mapping, in pages;
			 * device pages: the address they are mapped at
			 * (under the page lock; the reverse map of
			 * migrate_device_*) */
			pgoff_t index;
		};
		/* free block head in the buddy allocator: zone lock */
		struct cds_list_head buddy_list;
		/* page-table page: the split PTE lock of this table */
		spinlock_t ptl;
	};
	unsigned long buddy_order;	/* buddy: order of a free block head
					 * (the kernel's page->private) */
	struct dev_pagemap *pgmap;	/* device memory: its pagemap */
	void *zone_device_data;		/* device memory: the driver's */
} __attribute__((aligned(64)));	/* one cache line, as the kernel's */

/* struct page flags (bit numbers). */
enum pageflags {
	PG_uptodate,	/* contents are valid (page cache) */
	PG_dirty,	/* contents newer than the backing file */
	PG_anon,	/* anonymous memory (private, COW-able) */
	PG_buddy,	/* head of a free block in the allocator */
	PG_table,	/* page-table page */
	PG_reserved,	/* never freed (the shared zero page) */
	PG_writeback,	/* being written to its file */
	PG_locked,	/* lock_page(): migration, device-exclusive */
	PG_waiters,	/* someone sleeps in lock_page() for PG_locked */
	PG_host_mapped,	/* page-table page: the host may map some of its
			 * PTEs (set under its PTL, src/cpu/tlb.c) */
};

/* vm_area_struct.vm_flags */
#define VM_NONE		0x00000000UL
#define VM_READ		0x00000001UL
#define VM_WRITE	0x00000002UL
#define VM_EXEC		0x00000004UL
#define VM_SHARED	0x00000008UL
#define VM_MAYREAD	0x00000010UL
#define VM_MAYWRITE	0x00000020UL
#define VM_MAYEXEC	0x00000040UL
#define VM_MAYSHARE	0x00000080UL
#define VM_PFNMAP	0x00000400UL	/* raw pfns, no struct page to count:
					 * no device may mirror it */
#define VM_IO		0x00004000UL	/* device registers: never mirrored,
					 * never pinned */
#define VM_SEQ_READ	0x00008000UL	/* MADV_SEQUENTIAL */
#define VM_RAND_READ	0x00010000UL	/* MADV_RANDOM */
#define VM_DONTEXPAND	0x00040000UL	/* cannot grow (no mremap expand) */
#define VM_MIXEDMAP	0x10000000UL	/* pages a driver put in with
					 * vm_insert_page(): struct pages,
					 * counted like file pages */
#define VM_ACCESS_FLAGS	(VM_READ | VM_WRITE | VM_EXEC)
/* A driver's mapping that is never merged with a neighbour nor
 * migrated. */
#define VM_SPECIAL	(VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP)

/*
 * A virtual memory area: [vm_start, vm_end) of one mm with one protection
 * and one backing. Every field is written under mmap_write_lock and read
 * under mmap_read_lock.
 */
struct vm_area_struct {
	struct mm_struct *vm_mm;
	unsigned long vm_start;
	unsigned long vm_end;		/* first byte after the area */
	unsigned long vm_flags;		/* VM_* */
	unsigned long vm_pgoff;		/* offset in vm_file, in pages; for
					 * private anonymous memory the page
					 * number of vm_start at creation */
	struct file *vm_file;		/* file or shmem object, with a
					 * reference; NULL: private anonymous
					 * or a driver's mapping */
	/* A driver's mapping (vm_mmap_driver()): its callbacks, never
	 * NULL there; NULL for anonymous memory and files. */
	const struct vm_operations_struct *vm_ops;
	void *vm_private_data;		/* the driver's, copied on split
					 * and fork */
};

/* Page-table entry types: one 64-bit word a level, as on x86-64. */
typedef struct { uint64_t pte; } pte_t;
typedef struct { uint64_t pmd; } pmd_t;
typedef struct { uint64_t pud; } pud_t;
typedef struct { uint64_t pgd; } pgd_t;

/*
 * An address space.
 *
 * mm_users counts those who use the address space: the owner (dropped by
 * uhmm_mm_exit) and anyone who took mmget()/mmget_not_zero() to work on it
 * (a device fault path). When it reaches zero the address space is torn
 * down (notifier release, unmap of everything).
 * mm_count counts references to the struct itself: one for all mm_users
 * together, and one per mmgrab() (every registered notifier holds one).
 * When it reaches zero the struct and its top-level table are freed.
 */
struct mm_struct {
	UHMM_ATOMIC(int) mm_users;
	UHMM_ATOMIC(int) mm_count;

	/*
	 * Readers: page-table walkers and fault handlers. Writers: changes
	 * to the VMA set and anything that frees page tables. Taken with
	 * mmap_read_lock() and mmap_write_lock() (include/uhmm/mm.h).
	 */
	uhmm_rwlock_t mmap_lock;
	/* The thread (pthread_self()) that holds mmap_lock for write, or
	 * 0: set by it after taking the lock, cleared before dropping it,
	 * read by anyone (mmap_write_locked_by_me()). */
	UHMM_ATOMIC(unsigned long) mmap_write_owner;

	/* VMAs sorted by address, not overlapping: mmap_lock */
	struct vm_area_struct **vmas;
	unsigned int map_count;		/* entries used in vmas */
	unsigned int vmas_capacity;

	/* The range uhmm_mmap places mappings in; constant. */
	unsigned long mmap_base;
	unsigned long task_size;

	pgd_t *pgd;			/* top-level table; constant */
	/* Serialises populating a pud/pmd/pte table into an empty slot. */
	spinlock_t page_table_lock;
	/*
	 * Keeps PTE tables (and the pud/pmd tables above them) in place for
	 * walkers that hold no mmap_lock: the device-page rmap walk of
	 * migrate_device_*(), which runs with page locks held and so must
	 * not wait for mmap_lock (a fault holding mmap_read_lock may be
	 * waiting for one of those page locks). free_pgtables() holds it
	 * for write (inside mmap_write_lock) while it frees tables; such a
	 * walker holds it for read from pte_table_lookup() until it has
	 * dropped the PTL. Taken inside page locks, outside the PTL.
	 */
	uhmm_rwlock_t pgtable_free_lock;

	/* On the list of every mm from mm_alloc() to __mmdrop(), oldest
	 * first, which the device-page rmap walk visits: mmlist_lock
	 * (src/mm/mm.c). */
	struct cds_list_head mmlist;

	/* Allocated once under mmap_write_lock; freed with the struct. */
	struct mmu_notifier_subscriptions *notifier_subscriptions;

	/* The host pointer of address A is A + window_delta; window is
	 * the slot (src/cpu/window.c). Constant from mm_alloc() until
	 * __mmdrop(). */
	struct host_window *window;
	unsigned long window_delta;

	/* Pages with a struct page mapped by present PTEs (the zero page
	 * not counted); changed under the PTL of each PTE. */
	UHMM_ATOMIC(long) rss_pages;
};

UHMM_END_DECLS

#endif /* UHMM_MM_TYPES_H */
