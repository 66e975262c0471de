/* SPDX-License-Identifier: MIT */
/* Internal helpers shared by every part of uhmm. Not installed. */
#ifndef UHMM_INTERNAL_H
#define UHMM_INTERNAL_H

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uhmm/uhmm.h>

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

#define ALIGN_DOWN(x, a)	((x) & ~((__typeof__(x))(a) - 1))
#define ALIGN_UP(x, a)		ALIGN_DOWN((x) + (a) - 1, (a))
#define IS_ALIGNED(x, a)	(((x) & ((__typeof__(x))(a) - 1)) == 0)
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))

#define min(a, b) ({ __typeof__(a) _a = (a); __typeof__(b) _b = (b); _a < _b ? _a : _b; })
#define max(a, b) ({ __typeof__(a) _a = (a); __typeof__(b) _b = (b); _a > _b ? _a : _b; })

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define READ_ONCE(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* An invariant broken: a bug in uhmm. Always fatal, always checked. */
#define BUG_ON(cond) do {						\
	if (unlikely(cond))						\
		report_bug(__FILE__, __LINE__, #cond);			\
} while (0)

/* Cheap precondition checks, compiled in unless NDEBUG. */
#ifdef NDEBUG
#define VM_BUG_ON(cond)	((void)sizeof(cond))
#else
#define VM_BUG_ON(cond)	BUG_ON(cond)
#endif

__attribute__((noreturn, cold))
void report_bug(const char *file, int line, const char *cond);

/*
 * The pthread_rwlock_t that a uhmm_rwlock_t of a public struct holds
 * (include/uhmm/types.h says why the type is not pthread_rwlock_t).
 */
_Static_assert(sizeof(uhmm_rwlock_t) == sizeof(pthread_rwlock_t) &&
	       _Alignof(uhmm_rwlock_t) == _Alignof(pthread_rwlock_t),
	       "uhmm_rwlock_t has the layout of pthread_rwlock_t");

static inline pthread_rwlock_t *rwlock_of(uhmm_rwlock_t *lock)
{
	return (pthread_rwlock_t *)lock;
}

/* First use of any entry point initialises uhmm with the defaults. */
int ensure_initialized(void);

/* Page flag helpers (atomic). */
static inline bool test_page_flag(const struct page *page, int bit)
{
	return atomic_load(&page->flags) & (1UL << bit);
}

static inline void set_page_flag(struct page *page, int bit)
{
	atomic_fetch_or(&page->flags, 1UL << bit);
}

static inline void clear_page_flag(struct page *page, int bit)
{
	atomic_fetch_and(&page->flags, ~(1UL << bit));
}

/* Not atomic, as the kernel's __SetPageX(): for a page nobody else can
 * change the flags of (free, or not yet handed out); readers still see
 * a whole word. */
static inline void __set_page_flag(struct page *page, int bit)
{
	atomic_store_explicit(&page->flags,
		atomic_load_explicit(&page->flags, memory_order_relaxed) |
		(1UL << bit), memory_order_relaxed);
}

static inline void __clear_page_flag(struct page *page, int bit)
{
	atomic_store_explicit(&page->flags,
		atomic_load_explicit(&page->flags, memory_order_relaxed) &
		~(1UL << bit), memory_order_relaxed);
}

static inline bool test_and_set_page_flag(struct page *page, int bit)
{
	return atomic_fetch_or(&page->flags, 1UL << bit) & (1UL << bit);
}

static inline bool test_and_clear_page_flag(struct page *page, int bit)
{
	return atomic_fetch_and(&page->flags, ~(1UL << bit)) & (1UL << bit);
}

#endif /* UHMM_INTERNAL_H */
