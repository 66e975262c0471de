/* SPDX-License-Identifier: MIT */
/* Errors carried in pointers, as the kernel's include/linux/err.h. */
#ifndef UHMM_ERR_H
#define UHMM_ERR_H

#include <stdbool.h>

#include <uhmm/compiler.h>

UHMM_BEGIN_DECLS

#define MAX_ERRNO	4095

static inline void *ERR_PTR(long error)
{
	return (void *)error;
}

static inline long PTR_ERR(const void *ptr)
{
	return (long)ptr;
}

static inline bool IS_ERR(const void *ptr)
{
	return (unsigned long)ptr >= (unsigned long)-MAX_ERRNO;
}

/* An address or an errno in one unsigned long (vm_mmap_driver()). */
static inline bool IS_ERR_VALUE(unsigned long x)
{
	return x >= (unsigned long)-MAX_ERRNO;
}

static inline bool IS_ERR_OR_NULL(const void *ptr)
{
	return !ptr || IS_ERR(ptr);
}

UHMM_END_DECLS

#endif /* UHMM_ERR_H */
