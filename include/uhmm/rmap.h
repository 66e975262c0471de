/* SPDX-License-Identifier: MIT */
/*
 * Device-exclusive access, as the kernel's make_device_exclusive().
 */
#ifndef UHMM_RMAP_H
#define UHMM_RMAP_H

#include <uhmm/compiler.h>
#include <uhmm/err.h>
#include <uhmm/mm.h>

UHMM_BEGIN_DECLS

/*
 * Give the device identified by owner exclusive (atomic) access to the
 * anonymous page mapped at addr of mm: the page is faulted in writable
 * (breaking copy-on-write) and its PTE replaced by a device-exclusive
 * entry, after an MMU_NOTIFY_EXCLUSIVE invalidation carrying owner (so
 * the caller can skip its own). The page stays mapped (mapcount and
 * rss unchanged). The next CPU access restores the normal PTE after an
 * MMU_NOTIFY_EXCLUSIVE invalidation with no owner, so the device loses
 * its mapping; fork restores it before copying.
 *
 * Caller holds mmap_read_lock. Returns the page, locked and with a
 * reference: the caller maps it in its device page table, then calls
 * unlock_page() and put_page() (a CPU access waits for the page lock,
 * so the device mapping cannot be lost before it is made). While it
 * holds the page lock the caller must not take mmap_lock or wait for an
 * invalidation to end (mmu_interval_read_begin()): a CPU fault, or a
 * fork, may be waiting for the lock with mmap_lock held inside one.
 * Errors: ERR_PTR(-EFAULT) (no VMA, one without write permission, or a
 * fault that failed), ERR_PTR(-EOPNOTSUPP) (not an anonymous page of
 * system RAM: shared and shmem mappings, device memory),
 * ERR_PTR(-ENOMEM).
 */
struct page *make_device_exclusive(struct mm_struct *mm, unsigned long addr,
				   void *owner);

UHMM_END_DECLS

#endif /* UHMM_RMAP_H */
