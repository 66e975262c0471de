/* SPDX-License-Identifier: MIT */
/*
 * dmirror's own structures. Three objects:
 *
 *  struct dmirror_device  one of the DMIRROR_NDEVICES devices; lives for
 *			   the whole process. Its memory comes in chunks.
 *  struct dmirror_chunk   DMIRROR_CHUNK_SIZE of device memory: one
 *			   dev_pagemap; for private memory the host buffer
 *			   that stands in for the device's RAM.
 *  struct dmirror	   one mirror of one mm on one device: a device page
 *			   table and an interval notifier over the whole mm.
 *
 * Lock order: mirror->cmd_lock, then mmap_lock, then page locks, then
 * mdevice->mirrors_lock, then mirror->mutex. mdevice->devmem_lock is
 * taken with nothing but cmd_lock and page locks of system pages held;
 * mdevice->lock (free list, counters) is innermost.
 */
#ifndef DMIRROR_INTERNAL_H
#define DMIRROR_INTERNAL_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/list.h>

/* The installed headers only: dmirror builds out of tree against them. */
#include <uhmm/uhmm.h>
#include <uhmm/xarray.h>
#include <uhmm/dmirror.h>

/*
 * The kernel's container_of() and min(), which uhmm's public headers do
 * not define (a min macro there would break C++ and many programs).
 */
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define min(a, b) ({ __typeof__(a) _a = (a); __typeof__(b) _b = (b); \
		     _a < _b ? _a : _b; })

/* As the kernel driver: 256 MiB of device memory a chunk. */
#define DMIRROR_CHUNK_SIZE	(256UL << 20)

/* Pages handled by one hmm_range_fault() or migrate_vma_setup() call. */
#define DMIRROR_BATCH_PAGES	64

/*
 * Device page-table entries: the struct page the device maps, with tag
 * bits in the low bits (struct page is 8-byte aligned).
 */
#define DPT_WRITE		1UL	/* the device may write */
#define DPT_ATOMIC		2UL	/* held by make_device_exclusive() */
#define DPT_TAGS		(DPT_WRITE | DPT_ATOMIC)

static inline void *dpt_entry(struct page *page, unsigned long tags)
{
	return (void *)((uintptr_t)page | tags);
}

static inline struct page *dpt_page(const void *entry)
{
	return (struct page *)((uintptr_t)entry & ~DPT_TAGS);
}

static inline unsigned long dpt_tags(const void *entry)
{
	return (uintptr_t)entry & DPT_TAGS;
}

struct dmirror_device {
	int id;
	int zone_device_type;		/* HMM_DMIRROR_MEMORY_DEVICE_* */

	/* Chunks; growing and tearing them down. */
	pthread_mutex_t devmem_lock;
	struct dmirror_chunk **chunks;	/* devmem_lock */
	unsigned int nr_chunks;		/* devmem_lock */
	unsigned int chunks_capacity;	/* devmem_lock */
	unsigned long chunks_allocated;	/* devmem_lock */
	unsigned long chunks_freed;	/* devmem_lock */

	pthread_mutex_t lock;
	/* Free device pages, linked through zone_device_data. */
	struct page *free_pages;	/* lock */
	unsigned long calloc;		/* lock: pages handed out */
	unsigned long cfree;		/* lock: pages given back */

	pthread_mutex_t mirrors_lock;
	struct cds_list_head mirrors;	/* mirrors_lock: every open mirror */
};

struct dmirror_chunk {
	struct dev_pagemap pagemap;	/* owner: the dmirror_device */
	struct dmirror_device *mdevice;
	char *backing;			/* page data, pfn_first first */
	bool remove;			/* mdevice->lock: being torn down,
					 * freed pages are not recycled */
};

struct dmirror {
	struct dmirror_device *mdevice;
	struct mm_struct *mm;
	/* Over the whole mm; holds the mm_count reference. */
	struct mmu_interval_notifier notifier;

	/* One command at a time: a mirror's own migration and its own
	 * faults never overlap (see dmirror_interval_invalidate()). */
	pthread_mutex_t cmd_lock;
	unsigned long flags;		/* cmd_lock: HMM_DMIRROR_FLAG_* */
	/* Nonzero from migrate_vma_setup() to migrate_vma_finalize() of a
	 * command of this mirror: its own MMU_NOTIFY_MIGRATE is skipped. */
	atomic_int migrating;

	/* The device page table; the notifier's sequence is set under it. */
	pthread_mutex_t mutex;
	struct xarray pt;		/* mutex: pfn -> dpt_entry() */

	struct cds_list_head list;	/* mdevice->mirrors_lock */
};

/*
 * Who calls whom: cmd.c runs every command and calls the three below;
 * migrate.c calls mirror.c; mirror.c and migrate.c call device.c;
 * device.c calls none of them.
 */

/* device.c */
struct dmirror_device *dmirror_device_get(int id);
struct page *dmirror_devmem_alloc_page(struct dmirror *dmirror);
void *dmirror_page_data(struct page *page);
struct dmirror_device *dmirror_page_to_device(struct page *page);
void dmirror_device_erase(struct dmirror_device *mdevice,
			  struct mm_struct *mm, unsigned long start,
			  unsigned long npages, const bool *erase);
unsigned long dmirror_select_device(struct dmirror_device *mdevice);
unsigned long
dmirror_devmem_fault_alloc_and_copy(struct migrate_vma *args,
				    struct dmirror_device *mdevice);
void dmirror_device_remove_chunks(struct dmirror_device *mdevice);

/* mirror.c */
int dmirror_range_fault_locked(struct dmirror *dmirror,
			       struct mmu_interval_notifier *notifier,
			       struct hmm_range *range);
int dmirror_read_back(struct dmirror *dmirror, struct hmm_dmirror_cmd *cmd);
int dmirror_access(struct dmirror *dmirror, struct hmm_dmirror_cmd *cmd,
		   bool write);
int dmirror_snapshot(struct dmirror *dmirror, struct hmm_dmirror_cmd *cmd);
int dmirror_exclusive(struct dmirror *dmirror, struct hmm_dmirror_cmd *cmd);
int dmirror_check_atomic(struct dmirror *dmirror, struct hmm_dmirror_cmd *cmd);

/* migrate.c */
int dmirror_migrate_to_device(struct dmirror *dmirror,
			      struct hmm_dmirror_cmd *cmd);
int dmirror_migrate_to_system(struct dmirror *dmirror,
			      struct hmm_dmirror_cmd *cmd);

#endif /* DMIRROR_INTERNAL_H */
