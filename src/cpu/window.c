// SPDX-License-Identifier: MIT
#include <sys/mman.h>

#include "cpu/window.h"

unsigned long uhmm_window_start;
unsigned long uhmm_window_end;

int window_init(size_t size)
{
	char *p;
	unsigned long start;

	/* Over-reserve so that the window can start on a 2 MiB boundary. */
	p = mmap(NULL, size + PMD_SIZE, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	start = ALIGN_UP((unsigned long)p, PMD_SIZE);
	if (start > (unsigned long)p)
		munmap(p, start - (unsigned long)p);
	munmap((char *)start + size, (unsigned long)p + PMD_SIZE - start);

	uhmm_window_start = start;
	uhmm_window_end = start + size;
	return 0;
}
