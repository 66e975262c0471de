/* SPDX-License-Identifier: MIT */
/*
 * Page tables: entry encoding, walking, and the one small set of helpers
 * through which every PTE is installed, changed or cleared.
 *
 * Each level is one page of system RAM holding 512 64-bit entries. An
 * upper-level entry (pgd, pud, pmd) is 0 or the pfn of the next table
 * with _PAGE_PRESENT | _PAGE_TABLE. A PTE is one of:
 *
 *   0                        none: nothing mapped, nothing remembered
 *   pfn | _PAGE_PRESENT ...  present: RW, DIRTY, ACCESSED (young),
 *                            SPECIAL (no struct page refcounting: the
 *                            shared zero page)
 *   _PAGE_SWP | type | off   non-present entry (swp_entry_t): a swap slot,
 *                            or a migration, device-private or
 *                            device-exclusive entry whose offset is a pfn
 *
 * Locking: an upper-level entry goes from none to a table under
 * mm->page_table_lock, and back to none only under mmap_write_lock (see
 * free_pgtables()). A PTE changes only under the PTL of its table, the
 * spinlock in the struct page of that table page (split PTE locks).
 * Walkers hold mmap_lock for read, or (the reverse-map walk of
 * migrate_device_*, which runs without it) mm->pgtable_free_lock for
 * read, so tables cannot vanish under them.
 */
#ifndef UHMM_MM_PGTABLE_H
#define UHMM_MM_PGTABLE_H

#include "cpu/arch.h"
#include "mm/physmem.h"

#define _PAGE_PRESENT	(1ULL << 0)
#define _PAGE_RW	(1ULL << 1)
#define _PAGE_ACCESSED	(1ULL << 5)
#define _PAGE_DIRTY	(1ULL << 6)
#define _PAGE_PSE	(1ULL << 7)	/* pmd: maps a 2 MiB page */
#define _PAGE_SPECIAL	(1ULL << 9)
#define _PAGE_TABLE	(1ULL << 10)	/* upper level: points to a table */
#define _PAGE_SWP	(1ULL << 11)	/* non-present entry marker */
/* Software, present PTEs only: the fault path mapped this PTE in the host
 * (src/cpu/fault.c). A hint for the runs it maps: dropped where a PTE is
 * write-protected, made old or moved, all of which flush; a flush that
 * leaves a PTE as it is (a whole window emptied) leaves it stale. */
#define _PAGE_HOST_MAPPED (1ULL << 58)

#define PTE_PFN_SHIFT	PAGE_SHIFT
#define PTE_PFN_MASK	(((1ULL << 40) - 1) << PTE_PFN_SHIFT)

/* ---- non-present entries (swp_entry_t) ---- */

typedef struct { uint64_t val; } swp_entry_t;

#define SWP_TYPE_SHIFT	1
#define SWP_TYPE_BITS	5
#define SWP_TYPE_MASK	((1ULL << SWP_TYPE_BITS) - 1)
#define SWP_OFFSET_SHIFT PAGE_SHIFT

/* Types above the swap devices' range, as the kernel's swapops.h. */
enum {
	SWP_DEVICE_EXCLUSIVE = 26,
	SWP_DEVICE_READ = 27,
	SWP_DEVICE_WRITE = 28,
	SWP_MIGRATION_READ = 29,
	SWP_MIGRATION_WRITE = 30,
	MAX_SWAPFILES = 26,
};

static inline swp_entry_t swp_entry(unsigned int type, unsigned long offset)
{
	return (swp_entry_t){ ((uint64_t)type << SWP_TYPE_SHIFT) |
			      ((uint64_t)offset << SWP_OFFSET_SHIFT) };
}

static inline unsigned int swp_type(swp_entry_t e)
{
	return (e.val >> SWP_TYPE_SHIFT) & SWP_TYPE_MASK;
}

static inline unsigned long swp_offset(swp_entry_t e)
{
	return e.val >> SWP_OFFSET_SHIFT;
}

/* Migration entries: the page is being moved; a fault waits. */
static inline bool is_migration_entry(swp_entry_t e)
{
	return swp_type(e) == SWP_MIGRATION_READ ||
	       swp_type(e) == SWP_MIGRATION_WRITE;
}

static inline bool is_writable_migration_entry(swp_entry_t e)
{
	return swp_type(e) == SWP_MIGRATION_WRITE;
}

static inline swp_entry_t make_migration_entry(unsigned long pfn, bool write)
{
	return swp_entry(write ? SWP_MIGRATION_WRITE : SWP_MIGRATION_READ, pfn);
}

/*
 * A migration entry remembers whether the PTE it replaced was young, so
 * that the PTE that replaces it is young only if that one was (the
 * kernel's migration entry A bit). Outside the type and offset bits.
 */
#define SWP_MIG_YOUNG	(1ULL << 6)

static inline swp_entry_t make_migration_entry_young(swp_entry_t e)
{
	return (swp_entry_t){ e.val | SWP_MIG_YOUNG };
}

static inline bool is_migration_entry_young(swp_entry_t e)
{
	return e.val & SWP_MIG_YOUNG;
}

/* Device-private entries: the page is in device memory; it holds a
 * reference and a mapcount like a present PTE. */
static inline bool is_device_private_entry(swp_entry_t e)
{
	return swp_type(e) == SWP_DEVICE_READ || swp_type(e) == SWP_DEVICE_WRITE;
}

static inline bool is_writable_device_private_entry(swp_entry_t e)
{
	return swp_type(e) == SWP_DEVICE_WRITE;
}

static inline swp_entry_t make_device_private_entry(unsigned long pfn,
						    bool write)
{
	return swp_entry(write ? SWP_DEVICE_WRITE : SWP_DEVICE_READ, pfn);
}

/*
 * Device-exclusive entries: a device has atomic access to the page
 * (make_device_exclusive()). The page stays mapped: the entry holds the
 * PTE's reference and mapcount and counts in rss like a present PTE. It
 * is always writable (the kernel's since 6.15); a CPU access or fork
 * restores the present PTE first, writable if the VMA is.
 */
static inline bool is_device_exclusive_entry(swp_entry_t e)
{
	return swp_type(e) == SWP_DEVICE_EXCLUSIVE;
}

static inline swp_entry_t make_device_exclusive_entry(unsigned long pfn)
{
	return swp_entry(SWP_DEVICE_EXCLUSIVE, pfn);
}

/* ---- PTE values ---- */

static inline bool pte_none(pte_t p)	{ return p.pte == 0; }
static inline bool pte_present(pte_t p)	{ return p.pte & _PAGE_PRESENT; }
static inline bool is_swap_pte(pte_t p)	{ return !pte_none(p) && !pte_present(p); }
static inline bool pte_write(pte_t p)	{ return p.pte & _PAGE_RW; }
static inline bool pte_dirty(pte_t p)	{ return p.pte & _PAGE_DIRTY; }
static inline bool pte_young(pte_t p)	{ return p.pte & _PAGE_ACCESSED; }
static inline bool pte_special(pte_t p)	{ return p.pte & _PAGE_SPECIAL; }
static inline bool pte_same(pte_t a, pte_t b) { return a.pte == b.pte; }

static inline unsigned long pte_pfn(pte_t p)
{
	return (p.pte & PTE_PFN_MASK) >> PTE_PFN_SHIFT;
}

static inline pte_t pfn_pte(unsigned long pfn, uint64_t bits)
{
	return (pte_t){ ((uint64_t)pfn << PTE_PFN_SHIFT) | _PAGE_PRESENT | bits };
}

static inline pte_t pte_mkwrite(pte_t p)  { p.pte |= _PAGE_RW; return p; }
/* Both are followed by a flush: the host maps the PTE no more. */
static inline pte_t pte_wrprotect(pte_t p)
{
	p.pte &= ~(_PAGE_RW | _PAGE_HOST_MAPPED);
	return p;
}
static inline pte_t pte_mkdirty(pte_t p)  { p.pte |= _PAGE_DIRTY; return p; }
static inline pte_t pte_mkclean(pte_t p)  { p.pte &= ~_PAGE_DIRTY; return p; }
static inline pte_t pte_mkyoung(pte_t p)  { p.pte |= _PAGE_ACCESSED; return p; }
static inline pte_t pte_mkold(pte_t p)
{
	p.pte &= ~(_PAGE_ACCESSED | _PAGE_HOST_MAPPED);
	return p;
}
static inline pte_t pte_mkspecial(pte_t p) { p.pte |= _PAGE_SPECIAL; return p; }
static inline bool pte_host_mapped(pte_t p) { return p.pte & _PAGE_HOST_MAPPED; }
static inline pte_t pte_mkhost_mapped(pte_t p)
{
	p.pte |= _PAGE_HOST_MAPPED;
	return p;
}
static inline pte_t pte_clear_host_mapped(pte_t p)
{
	p.pte &= ~_PAGE_HOST_MAPPED;
	return p;
}

static inline swp_entry_t pte_to_swp_entry(pte_t p)
{
	return (swp_entry_t){ p.pte & ~_PAGE_SWP };
}

static inline pte_t swp_entry_to_pte(swp_entry_t e)
{
	return (pte_t){ e.val | _PAGE_SWP };
}

/* The page a migration or device entry points to. */
static inline struct page *pfn_swap_entry_to_page(swp_entry_t e)
{
	return pfn_to_page(swp_offset(e));
}

static inline pte_t ptep_get(pte_t *ptep)
{
	return (pte_t){ __atomic_load_n(&ptep->pte, __ATOMIC_RELAXED) };
}

/* ---- upper levels ---- */

static inline unsigned long pgd_index(unsigned long a) { return (a >> PGDIR_SHIFT) & (PTRS_PER_PGD - 1); }
static inline unsigned long pud_index(unsigned long a) { return (a >> PUD_SHIFT) & (PTRS_PER_PUD - 1); }
static inline unsigned long pmd_index(unsigned long a) { return (a >> PMD_SHIFT) & (PTRS_PER_PMD - 1); }
static inline unsigned long pte_index(unsigned long a) { return (a >> PAGE_SHIFT) & (PTRS_PER_PTE - 1); }

/* Upper-level entries are read without a lock: one atomic load. */
static inline uint64_t table_entry_read(const uint64_t *e)
{
	return __atomic_load_n(e, __ATOMIC_ACQUIRE);
}

static inline bool table_entry_none(uint64_t e)	{ return e == 0; }

static inline struct page *table_entry_page(uint64_t e)
{
	return pfn_to_page((e & PTE_PFN_MASK) >> PTE_PFN_SHIFT);
}

static inline void *table_entry_table(uint64_t e)
{
	return page_address(table_entry_page(e));
}

static inline pgd_t *pgd_offset(struct mm_struct *mm, unsigned long addr)
{
	return mm->pgd + pgd_index(addr);
}

static inline pud_t *pud_offset(pgd_t *pgd, unsigned long addr)
{
	return (pud_t *)table_entry_table(table_entry_read(&pgd->pgd)) +
	       pud_index(addr);
}

static inline pmd_t *pmd_offset(pud_t *pud, unsigned long addr)
{
	return (pmd_t *)table_entry_table(table_entry_read(&pud->pud)) +
	       pmd_index(addr);
}

static inline pte_t *pte_offset(pmd_t *pmd, unsigned long addr)
{
	return (pte_t *)table_entry_table(table_entry_read(&pmd->pmd)) +
	       pte_index(addr);
}

static inline spinlock_t *pte_lockptr(pmd_t *pmd)
{
	return &table_entry_page(table_entry_read(&pmd->pmd))->ptl;
}

/* The PTE for addr with its table locked. pmd must point to a table. */
static inline pte_t *pte_offset_map_lock(pmd_t *pmd, unsigned long addr,
					 spinlock_t **ptlp)
{
	spinlock_t *ptl = pte_lockptr(pmd);

	spin_lock(ptl);
	*ptlp = ptl;
	return pte_offset(pmd, addr);
}

static inline void pte_unmap_unlock(pte_t *pte, spinlock_t *ptl)
{
	(void)pte;
	spin_unlock(ptl);
}

/* Next table boundary after addr at a level, clamped to end. */
static inline unsigned long level_addr_end(unsigned long addr,
					   unsigned long end,
					   unsigned long size)
{
	unsigned long boundary = (addr + size) & ~(size - 1);

	return boundary - 1 < end - 1 ? boundary : end;
}

/* ---- pgtable.c ---- */

/*
 * The pmd entry for addr, allocating the pud and pmd tables and the PTE
 * table below it as needed. NULL if memory ran out (nothing is left
 * half-built: an allocated table stays, empty, until free_pgtables()).
 */
pmd_t *pte_table_alloc(struct mm_struct *mm, unsigned long addr);

/* The pmd entry for addr if a PTE table exists there, else NULL. */
pmd_t *pte_table_lookup(struct mm_struct *mm, unsigned long addr);

/*
 * Call fn(ptep, addr, arg) for every PTE slot of [start, end) that has a
 * table, with that table's PTL held (the kernel's walk_page_range, for
 * the PTE level only). Caller holds mmap_lock.
 */
typedef void (*pte_walk_fn)(pte_t *ptep, unsigned long addr, void *arg);
void walk_pte_range(struct mm_struct *mm, unsigned long start,
		    unsigned long end, pte_walk_fn fn, void *arg);

/* A zeroed table page, accounted, its PTL initialised. */
struct page *pgtable_alloc(void);
void pgtable_free(struct page *page);

/*
 * Free every table in [start, end) that maps nothing. Caller holds
 * mmap_write_lock, and this takes mm->pgtable_free_lock for write: no
 * walker can be inside.
 */
void free_pgtables(struct mm_struct *mm, unsigned long start,
		   unsigned long end);

/*
 * Wait until the migration entry at ptep (orig) is gone. Called with
 * mmap_lock held for read and no PTL (src/mm/migrate.c).
 */
void migration_entry_wait(pte_t *ptep, pte_t orig);

/* ---- the PTE helpers: every install, change and clear goes here ---- */

/* Install pte (the slot is none or a non-present entry). Holds the PTL. */
void set_pte_at(struct mm_struct *mm, unsigned long addr, pte_t *ptep,
		pte_t pte);

/* Clear a PTE and return what it was. Holds the PTL. The caller flushes
 * (tlb_flush_mmu or flush_tlb_range) before the page can be freed. */
pte_t ptep_get_and_clear(struct mm_struct *mm, unsigned long addr,
			 pte_t *ptep);

/* Clear a PTE and flush it at once (single-page replacements). */
pte_t ptep_clear_flush(struct vm_area_struct *vma, unsigned long addr,
		       pte_t *ptep);

/* Drop write permission; the caller flushes. Holds the PTL. */
void ptep_set_wrprotect(struct mm_struct *mm, unsigned long addr,
			pte_t *ptep);

/* Upgrade access/dirty bits of a present PTE (never a downgrade, so
 * nothing to flush). Holds the PTL. */
void ptep_set_access_flags(struct vm_area_struct *vma, unsigned long addr,
			   pte_t *ptep, pte_t entry);

#endif /* UHMM_MM_PGTABLE_H */
