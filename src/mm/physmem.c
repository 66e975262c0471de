// SPDX-License-Identifier: MIT
/*
 * The host side of system RAM: the memfd and the direct map. Together
 * with src/cpu/ this is the only place that asks the host for memory.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <unistd.h>

#include <uhmm/memremap.h>

#include "mm/physmem.h"
#include "settings.h"

struct system_ram system_ram = { .fd = -1 };

/* A memfd of size bytes, sparse until touched, mapped shared once. */
static int memfd_map(const char *name, size_t size, int *fdp, char **addrp)
{
	void *addr;
	int fd, err;

	fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		goto err;
	addr = mmap(NULL, size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (addr == MAP_FAILED)
		goto err;
	*fdp = fd;
	*addrp = addr;
	return 0;
err:
	err = -errno;
	close(fd);
	return err;
}

int physmem_init(size_t ram_size)
{
	size_t map_bytes = (ram_size >> PAGE_SHIFT) * sizeof(struct page);
	char *dm;
	void *mm;
	int fd, err;

	err = memfd_map("uhmm-ram", ram_size, &fd, &dm);
	if (err) {
		report_host_refused(RESERVE_RAM, ram_size, err);
		return err;
	}
	/* Sparse until touched, like the memfd: calloc would fault it all. */
	mm = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mm == MAP_FAILED) {
		err = -errno;
		physmem_backing_destroy(ram_size, fd, dm);
		report_host_refused(RESERVE_MEM_MAP, map_bytes, err);
		return err;
	}
	system_ram.fd = fd;
	system_ram.direct_map = dm;
	system_ram.mem_map = mm;
	system_ram.nr_pages = ram_size >> PAGE_SHIFT;
	return 0;
}

/*
 * CPU-addressable memory of a device (MEMORY_DEVICE_COHERENT): a memfd
 * of its own, mapped once. 0 or -errno.
 */
int physmem_backing_create(size_t size, int *fdp, char **addrp)
{
	return memfd_map("uhmm-device", size, fdp, addrp);
}

void physmem_backing_destroy(size_t size, int fd, char *addr)
{
	munmap(addr, size);
	close(fd);
}

struct page *pfn_to_page(unsigned long pfn)
{
	if (likely(pfn_is_ram(pfn)))
		return &system_ram.mem_map[pfn];
	return device_pfn_to_page(pfn);
}

unsigned long page_to_pfn(const struct page *page)
{
	if (likely(page_is_ram(page)))
		return (unsigned long)(page - system_ram.mem_map);
	return page->pgmap->pfn_first + (unsigned long)(page - page->pgmap->pages);
}

/* NULL for device-private pages: the CPU cannot address them. */
void *page_address(const struct page *page)
{
	if (likely(page_is_ram(page)))
		return system_ram.direct_map +
		       ((unsigned long)(page - system_ram.mem_map) << PAGE_SHIFT);
	if (page->pgmap->type != MEMORY_DEVICE_COHERENT)
		return NULL;
	return page->pgmap->vaddr +
	       ((unsigned long)(page - page->pgmap->pages) << PAGE_SHIFT);
}

struct page *virt_to_page(const void *addr)
{
	unsigned long off = (unsigned long)((const char *)addr -
					    system_ram.direct_map);

	VM_BUG_ON(off >= system_ram.nr_pages << PAGE_SHIFT);
	return &system_ram.mem_map[off >> PAGE_SHIFT];
}
