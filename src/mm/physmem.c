// SPDX-License-Identifier: MIT
/*
 * The host side of system RAM: the memfd and the direct map. Together
 * with src/cpu/ this is the only place that asks the host for memory.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <unistd.h>

#include "mm/physmem.h"

struct uhmm_ram uhmm_ram = { .fd = -1 };

int physmem_init(size_t ram_size)
{
	size_t map_bytes;
	void *dm, *mm;
	int fd;

	fd = memfd_create("uhmm-ram", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)ram_size) < 0)
		goto err_close;

	dm = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (dm == MAP_FAILED)
		goto err_close;

	/* Sparse until touched, like the memfd: calloc would fault it all. */
	map_bytes = (ram_size >> PAGE_SHIFT) * sizeof(struct page);
	mm = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mm == MAP_FAILED) {
		munmap(dm, ram_size);
		goto err_close;
	}

	uhmm_ram.fd = fd;
	uhmm_ram.direct_map = dm;
	uhmm_ram.mem_map = mm;
	uhmm_ram.nr_pages = ram_size >> PAGE_SHIFT;
	return 0;

err_close:
	{
		int err = -errno;

		close(fd);
		return err;
	}
}

struct page *pfn_to_page(unsigned long pfn)
{
	if (likely(pfn_is_ram(pfn)))
		return &uhmm_ram.mem_map[pfn];
	return NULL;
}

unsigned long page_to_pfn(const struct page *page)
{
	VM_BUG_ON(!page_is_ram(page));
	return (unsigned long)(page - uhmm_ram.mem_map);
}

void *page_address(const struct page *page)
{
	return uhmm_ram.direct_map + (page_to_pfn(page) << PAGE_SHIFT);
}

struct page *virt_to_page(const void *addr)
{
	unsigned long off = (unsigned long)((const char *)addr -
					    uhmm_ram.direct_map);

	VM_BUG_ON(off >= uhmm_ram.nr_pages << PAGE_SHIFT);
	return &uhmm_ram.mem_map[off >> PAGE_SHIFT];
}
