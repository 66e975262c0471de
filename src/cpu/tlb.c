// SPDX-License-Identifier: MIT
/*
 * TLB flushes. The CPU's translations of an mm are the host mappings in
 * its window (src/cpu/window.h); a flush makes a range fault again,
 * so the next touch misses and src/cpu/fault.c maps it from the page
 * tables as they are then.
 *
 * A PTE table whose entries were never mapped in the host has nothing to
 * flush: the fault path sets PG_host_mapped on the table page, under its
 * PTL, before it maps anything from it. A flush follows a PTE change
 * made under that PTL, so a mapping made before the change is seen here
 * with its flag, and one made after it maps the new PTE. The flag stays
 * until the table is freed.
 *
 * Within a table, the host maps only young PTEs: the fault path makes
 * every PTE of a run young, under the PTL, before it maps the run, as a
 * CPU sets the accessed bit of an entry it loads into its TLB. Nothing
 * makes a present PTE old in place, so a PTE found old under its PTL is
 * in no host mapping and needs no flush: migration entries remember
 * whether the PTE they replaced was young (set_migration_pte()), and the
 * page a migration puts back is mapped old if it was not, so pages that
 * came back from a device and were not touched since go to it again
 * without a host call.
 */
#include "cpu/window.h"
#include "mm/pgtable.h"

static bool table_host_mapped(struct mm_struct *mm, unsigned long addr)
{
	pmd_t *pmd = pte_table_lookup(mm, addr);

	return pmd && test_page_flag(
		table_entry_page(table_entry_read(&pmd->pmd)), PG_host_mapped);
}

/*
 * Callers keep the tables of [start, end) in place (mmap_lock, or the
 * pgtable_free_lock of an rmap walk) and may hold one PTL: nothing here
 * takes a uhmm lock but the mapping budget's lock and the windows'
 * host_lock, which are innermost (src/cpu/window.c).
 */
void flush_tlb_range(struct mm_struct *mm, unsigned long start,
		     unsigned long end)
{
	unsigned long addr, next, run = 0;

	if (!mm->window)
		return;
	/* One host call per run of tables that were mapped. */
	for (addr = start; addr < end; addr = next) {
		next = level_addr_end(addr, end, PMD_SIZE);
		if (table_host_mapped(mm, addr)) {
			if (!run)
				run = addr;
			continue;
		}
		if (run) {
			host_unmap(mm, run, addr - run);
			run = 0;
		}
	}
	if (run)
		host_unmap(mm, run, end - run);
}
