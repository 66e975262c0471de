// SPDX-License-Identifier: MIT
/*
 * dmirror devices and their memory: chunks of device memory registered
 * with memremap_pages(), a free list of device pages, the page_free and
 * migrate_to_ram callbacks, the copy of device pages back to system RAM
 * (migrate_to_ram, MIGRATE_TO_SYS), and eviction of every chunk
 * (RELEASE).
 *
 * Private memory is not addressable by the CPU: its contents live in a
 * host buffer per chunk that only the "device" (this driver) reads and
 * writes. Coherent memory is CPU-addressable, so its contents are the
 * pagemap's own memory.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "dmirror_internal.h"

#define DMIRROR_CHUNKS_RESERVE	16

static struct dmirror_device dmirror_devices[DMIRROR_NDEVICES];
static pthread_once_t dmirror_devices_once = PTHREAD_ONCE_INIT;

static const struct dev_pagemap_ops dmirror_devmem_ops;

static void dmirror_devices_init(void)
{
	for (int i = 0; i < DMIRROR_NDEVICES; i++) {
		struct dmirror_device *mdevice = &dmirror_devices[i];

		mdevice->id = i;
		/* As the kernel driver: two private, two coherent. */
		mdevice->zone_device_type = i < 2 ?
			HMM_DMIRROR_MEMORY_DEVICE_PRIVATE :
			HMM_DMIRROR_MEMORY_DEVICE_COHERENT;
		pthread_mutex_init(&mdevice->devmem_lock, NULL);
		pthread_mutex_init(&mdevice->lock, NULL);
		pthread_mutex_init(&mdevice->mirrors_lock, NULL);
		CDS_INIT_LIST_HEAD(&mdevice->mirrors);
	}
}

struct dmirror_device *dmirror_device_get(int id)
{
	if (id < 0 || id >= DMIRROR_NDEVICES)
		return NULL;
	pthread_once(&dmirror_devices_once, dmirror_devices_init);
	return &dmirror_devices[id];
}

static struct dmirror_chunk *dmirror_page_to_chunk(struct page *page)
{
	return container_of(page->pgmap, struct dmirror_chunk, pagemap);
}

struct dmirror_device *dmirror_page_to_device(struct page *page)
{
	return dmirror_page_to_chunk(page)->mdevice;
}

/* Where the device keeps the contents of a page it maps. */
void *dmirror_page_data(struct page *page)
{
	if (is_device_private_page(page)) {
		struct dmirror_chunk *chunk = dmirror_page_to_chunk(page);

		return chunk->backing +
		       ((page_to_pfn(page) - chunk->pagemap.pfn_first)
			<< PAGE_SHIFT);
	}
	return page_address(page);
}

static void dmirror_free_list_push(struct dmirror_device *mdevice,
				   struct page *page)
{
	page->zone_device_data = mdevice->free_pages;
	mdevice->free_pages = page;
}

static struct page *dmirror_free_list_pop(struct dmirror_device *mdevice)
{
	struct page *page = mdevice->free_pages;

	if (page) {
		mdevice->free_pages = page->zone_device_data;
		page->zone_device_data = NULL;
	}
	return page;
}

static void dmirror_chunk_free(struct dmirror_chunk *chunk)
{
	if (chunk->pagemap.type == MEMORY_DEVICE_PRIVATE && chunk->backing)
		munmap(chunk->backing, DMIRROR_CHUNK_SIZE);
	free(chunk);
}

/* A new chunk; its pages go on the free list. Returns 0 or -ENOMEM. */
static int dmirror_allocate_chunk(struct dmirror_device *mdevice)
{
	struct dmirror_chunk *chunk;
	void *vaddr;
	int err = -ENOMEM;

	chunk = calloc(1, sizeof(*chunk));
	if (!chunk)
		return -ENOMEM;
	chunk->mdevice = mdevice;
	chunk->pagemap.ops = &dmirror_devmem_ops;
	chunk->pagemap.owner = mdevice;
	if (mdevice->zone_device_type == HMM_DMIRROR_MEMORY_DEVICE_PRIVATE) {
		chunk->pagemap.type = MEMORY_DEVICE_PRIVATE;
		chunk->backing = mmap(NULL, DMIRROR_CHUNK_SIZE,
				      PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS |
				      MAP_NORESERVE, -1, 0);
		if (chunk->backing == MAP_FAILED) {
			chunk->backing = NULL;
			goto out_free;
		}
	} else {
		chunk->pagemap.type = MEMORY_DEVICE_COHERENT;
	}
	err = request_free_mem_region(DMIRROR_CHUNK_SIZE, &chunk->pagemap.range);
	if (err)
		goto out_free;

	pthread_mutex_lock(&mdevice->devmem_lock);
	if (mdevice->nr_chunks == mdevice->chunks_capacity) {
		unsigned int capacity = mdevice->chunks_capacity +
					DMIRROR_CHUNKS_RESERVE;
		struct dmirror_chunk **chunks;

		chunks = realloc(mdevice->chunks, capacity * sizeof(*chunks));
		if (!chunks) {
			err = -ENOMEM;
			goto out_unlock;
		}
		mdevice->chunks = chunks;
		mdevice->chunks_capacity = capacity;
	}
	vaddr = memremap_pages(&chunk->pagemap);
	if (IS_ERR(vaddr)) {
		err = PTR_ERR(vaddr);
		goto out_unlock;
	}
	if (chunk->pagemap.type == MEMORY_DEVICE_COHERENT)
		chunk->backing = vaddr;
	mdevice->chunks[mdevice->nr_chunks++] = chunk;
	mdevice->chunks_allocated++;

	pthread_mutex_lock(&mdevice->lock);
	for (unsigned long i = chunk->pagemap.nr_pages; i-- > 0;)
		dmirror_free_list_push(mdevice, &chunk->pagemap.pages[i]);
	pthread_mutex_unlock(&mdevice->lock);
	pthread_mutex_unlock(&mdevice->devmem_lock);
	return 0;

out_unlock:
	pthread_mutex_unlock(&mdevice->devmem_lock);
out_free:
	dmirror_chunk_free(chunk);
	return err;
}

/*
 * A device page, locked, with one reference, or NULL. HMM_DMIRROR_FLAG_
 * FAIL_ALLOC fails the next allocation of a huge (PMD) device page, as
 * in the kernel driver; dmirror allocates base pages only, so it has no
 * effect here beyond being consumed by huge allocations.
 */
struct page *dmirror_devmem_alloc_page(struct dmirror *dmirror)
{
	struct dmirror_device *mdevice = dmirror->mdevice;
	struct page *dpage;

	for (;;) {
		pthread_mutex_lock(&mdevice->lock);
		dpage = dmirror_free_list_pop(mdevice);
		if (dpage)
			mdevice->calloc++;
		pthread_mutex_unlock(&mdevice->lock);
		if (dpage)
			break;
		if (dmirror_allocate_chunk(mdevice))
			return NULL;
	}
	zone_device_page_init(dpage);
	return dpage;
}

static void dmirror_devmem_free(struct page *page)
{
	struct dmirror_chunk *chunk = dmirror_page_to_chunk(page);
	struct dmirror_device *mdevice = chunk->mdevice;

	pthread_mutex_lock(&mdevice->lock);
	mdevice->cfree++;
	if (!chunk->remove)
		dmirror_free_list_push(mdevice, page);
	pthread_mutex_unlock(&mdevice->lock);
}

/*
 * Forget the pages i of [start, start + npages pages) with erase[i] in
 * every mirror of this device on mm: the device is migrating them, and
 * the migrating mirror skips its own MMU_NOTIFY_MIGRATE.
 */
void dmirror_device_erase(struct dmirror_device *mdevice,
			  struct mm_struct *mm, unsigned long start,
			  unsigned long npages, const bool *erase)
{
	struct dmirror *dmirror;

	pthread_mutex_lock(&mdevice->mirrors_lock);
	cds_list_for_each_entry(dmirror, &mdevice->mirrors, list) {
		if (dmirror->mm != mm)
			continue;
		pthread_mutex_lock(&dmirror->mutex);
		for (unsigned long i = 0; i < npages; i++)
			if (erase[i])
				xa_erase(&dmirror->pt,
					 (start >> PAGE_SHIFT) + i);
		pthread_mutex_unlock(&dmirror->mutex);
	}
	pthread_mutex_unlock(&mdevice->mirrors_lock);
}

/*
 * Device pages back to system RAM, for migrate_to_ram() and
 * MIGRATE_TO_SYS. Returns the number of pages that could not get a
 * system page.
 */
unsigned long
dmirror_devmem_fault_alloc_and_copy(struct migrate_vma *args,
				    struct dmirror_device *mdevice)
{
	bool moving[DMIRROR_BATCH_PAGES];
	unsigned long failed = 0;

	/* The device forgets the pages before their copies are taken, so
	 * that it cannot write one after its copy. */
	for (unsigned long i = 0; i < args->npages; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);

		args->dst[i] = 0;
		moving[i] = spage && (args->src[i] & MIGRATE_PFN_MIGRATE) &&
			    is_zone_device_page(spage);
	}
	dmirror_device_erase(mdevice, args->vma->vm_mm, args->start,
			     args->npages, moving);
	for (unsigned long i = 0; i < args->npages; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		struct page *dpage;

		if (!moving[i])
			continue;
		dpage = alloc_page_vma(args->vma,
				       args->start + i * PAGE_SIZE);
		if (!dpage) {
			failed++;
			continue;
		}
		lock_page(dpage);
		memcpy(page_address(dpage), dmirror_page_data(spage),
		       PAGE_SIZE);
		args->dst[i] = migrate_pfn(page_to_pfn(dpage)) |
			       (args->src[i] & MIGRATE_PFN_WRITE);
	}
	return failed;
}

/* migrate_vma's flags for the pages of this device. */
unsigned long dmirror_select_device(struct dmirror_device *mdevice)
{
	return mdevice->zone_device_type == HMM_DMIRROR_MEMORY_DEVICE_PRIVATE ?
		MIGRATE_VMA_SELECT_DEVICE_PRIVATE :
		MIGRATE_VMA_SELECT_DEVICE_COHERENT;
}

/* migrate_to_ram(): a CPU access to one of our private pages. */
static vm_fault_t dmirror_devmem_fault(struct vm_fault *vmf)
{
	struct dmirror_device *mdevice = dmirror_page_to_device(vmf->page);
	unsigned long src = 0, dst = 0;
	struct migrate_vma args = {
		.vma = vmf->vma,
		.start = vmf->address,
		.end = vmf->address + PAGE_SIZE,
		.src = &src,
		.dst = &dst,
		.pgmap_owner = mdevice,
		.flags = dmirror_select_device(mdevice),
		.fault_page = vmf->page,
	};
	unsigned long failed;

	if (migrate_vma_setup(&args))
		return VM_FAULT_SIGBUS;
	failed = dmirror_devmem_fault_alloc_and_copy(&args, mdevice);
	migrate_vma_pages(&args);
	migrate_vma_finalize(&args);
	return failed ? VM_FAULT_OOM : 0;
}

static const struct dev_pagemap_ops dmirror_devmem_ops = {
	.page_free = dmirror_devmem_free,
	.migrate_to_ram = dmirror_devmem_fault,
};

/*
 * Move every page of chunk that is in use back to system RAM, wherever it
 * is mapped. Pages that cannot move now (locked by a migration, pinned)
 * are retried until they are free: memunmap_pages() waits for them.
 */
static void dmirror_device_evict_chunk(struct dmirror_chunk *chunk)
{
	unsigned long npages = chunk->pagemap.nr_pages;
	unsigned long *src_pfns, *dst_pfns;

	/* As __GFP_NOFAIL: eviction cannot give up. */
	while (!(src_pfns = calloc(npages, sizeof(*src_pfns))))
		usleep(1000);
	while (!(dst_pfns = calloc(npages, sizeof(*dst_pfns))))
		usleep(1000);

	while (atomic_load(&chunk->pagemap.pages_in_use)) {
		unsigned long moved = 0;

		/* Fails only for a range that is not one pagemap's. */
		if (migrate_device_range(src_pfns, chunk->pagemap.pfn_first,
					 npages))
			abort();
		for (unsigned long i = 0; i < npages; i++) {
			struct page *spage = migrate_pfn_to_page(src_pfns[i]);
			struct page *dpage;

			dst_pfns[i] = 0;
			if (!spage || !(src_pfns[i] & MIGRATE_PFN_MIGRATE))
				continue;
			/* As __GFP_NOFAIL: eviction cannot give up. */
			while (!(dpage = alloc_page()))
				usleep(1000);
			lock_page(dpage);
			memcpy(page_address(dpage), dmirror_page_data(spage),
			       PAGE_SIZE);
			dst_pfns[i] = migrate_pfn(page_to_pfn(dpage)) |
				      (src_pfns[i] & MIGRATE_PFN_WRITE);
			moved++;
		}
		migrate_device_pages(src_pfns, dst_pfns, npages);
		migrate_device_finalize(src_pfns, dst_pfns, npages);
		if (!moved && atomic_load(&chunk->pagemap.pages_in_use))
			usleep(1000);
	}
	free(src_pfns);
	free(dst_pfns);
}

/* HMM_DMIRROR_RELEASE: evict and free all of the device's memory. */
void dmirror_device_remove_chunks(struct dmirror_device *mdevice)
{
	pthread_mutex_lock(&mdevice->devmem_lock);
	/* Nothing is handed out from a chunk that is going away. */
	pthread_mutex_lock(&mdevice->lock);
	for (unsigned int i = 0; i < mdevice->nr_chunks; i++)
		mdevice->chunks[i]->remove = true;
	mdevice->free_pages = NULL;
	pthread_mutex_unlock(&mdevice->lock);

	for (unsigned int i = 0; i < mdevice->nr_chunks; i++) {
		struct dmirror_chunk *chunk = mdevice->chunks[i];

		dmirror_device_evict_chunk(chunk);
		memunmap_pages(&chunk->pagemap);
		dmirror_chunk_free(chunk);
		mdevice->chunks_freed++;
	}
	free(mdevice->chunks);
	mdevice->chunks = NULL;
	mdevice->nr_chunks = 0;
	mdevice->chunks_capacity = 0;
	pthread_mutex_unlock(&mdevice->devmem_lock);
}

int dmirror_device_stats(int device, struct dmirror_device_stats *stats)
{
	struct dmirror_device *mdevice = dmirror_device_get(device);

	if (!mdevice || !stats)
		return -EINVAL;
	pthread_mutex_lock(&mdevice->devmem_lock);
	stats->chunks_allocated = mdevice->chunks_allocated;
	stats->chunks_freed = mdevice->chunks_freed;
	pthread_mutex_lock(&mdevice->lock);
	stats->pages_allocated = mdevice->calloc;
	stats->pages_freed = mdevice->cfree;
	pthread_mutex_unlock(&mdevice->lock);
	pthread_mutex_unlock(&mdevice->devmem_lock);
	stats->pages_in_use = stats->pages_allocated - stats->pages_freed;
	stats->memory_type = mdevice->zone_device_type;
	return 0;
}
