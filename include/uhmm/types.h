/* SPDX-License-Identifier: MIT */
#ifndef UHMM_TYPES_H
#define UHMM_TYPES_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uhmm/compiler.h>

UHMM_BEGIN_DECLS

#define PAGE_SHIFT	12
#define PAGE_SIZE	(1UL << PAGE_SHIFT)
#define PAGE_MASK	(~(PAGE_SIZE - 1))
#define PAGE_ALIGN(x)	(((x) + PAGE_SIZE - 1) & PAGE_MASK)

/* Four levels of 512 entries, as on x86-64. */
#define PTRS_PER_PTE	512
#define PTRS_PER_PMD	512
#define PTRS_PER_PUD	512
#define PTRS_PER_PGD	512
#define PMD_SHIFT	21
#define PUD_SHIFT	30
#define PGDIR_SHIFT	39
#define PMD_SIZE	(1UL << PMD_SHIFT)
#define PMD_MASK	(~(PMD_SIZE - 1))
#define PUD_SIZE	(1UL << PUD_SHIFT)
#define PUD_MASK	(~(PUD_SIZE - 1))
#define PGDIR_SIZE	(1UL << PGDIR_SHIFT)
#define PGDIR_MASK	(~(PGDIR_SIZE - 1))

/* Largest buddy order: order 9 is one 2 MiB block. */
#define MAX_PAGE_ORDER	9
#define NR_PAGE_ORDERS	(MAX_PAGE_ORDER + 1)

typedef unsigned long pgoff_t;
typedef unsigned int vm_fault_t;

/*
 * The storage of a pthread_rwlock_t (mm_struct's mmap_lock). ISO C
 * without a POSIX feature-test macro has no pthread_rwlock_t, and a
 * public header must not depend on the includer's; so the field is this
 * union of the same size and alignment, which only libuhmm uses as the
 * pthread_rwlock_t it is (src/mm/mm_internal.h checks the layout).
 * glibc's <pthread.h> says the size whatever the feature-test macros.
 */
#ifdef __SIZEOF_PTHREAD_RWLOCK_T
#define UHMM_SIZEOF_RWLOCK	__SIZEOF_PTHREAD_RWLOCK_T
#else
#define UHMM_SIZEOF_RWLOCK	56
#endif
typedef union {
	char __size[UHMM_SIZEOF_RWLOCK];
	long __align;
} uhmm_rwlock_t;

/*
 * spinlock_t: a short lock that is never held across a sleep on another
 * lock of lower rank. In the kernel it spins; in user space the holder can
 * be preempted, so it is a mutex underneath. The kernel's names are kept so
 * that lock ordering reads the same.
 */
typedef struct {
	pthread_mutex_t m;
} spinlock_t;

static inline void spin_lock_init(spinlock_t *l)
{
	pthread_mutex_init(&l->m, NULL);
}

static inline void spin_lock_destroy(spinlock_t *l)
{
	pthread_mutex_destroy(&l->m);
}

static inline void spin_lock(spinlock_t *l)
{
	pthread_mutex_lock(&l->m);
}

static inline bool spin_trylock(spinlock_t *l)
{
	return pthread_mutex_trylock(&l->m) == 0;
}

static inline void spin_unlock(spinlock_t *l)
{
	pthread_mutex_unlock(&l->m);
}

UHMM_END_DECLS

#endif /* UHMM_TYPES_H */
