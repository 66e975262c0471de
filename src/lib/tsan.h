/* SPDX-License-Identifier: MIT */
/*
 * ThreadSanitizer and host mappings. TSan takes an mmap() for a write to
 * the whole range, and it checks a load or store before the instruction
 * runs: an access that faults, is resolved by the SIGSEGV handler (which
 * takes the locks that order it after the mmap) and runs again was
 * checked before that order existed, and TSan reports a race with the
 * mmap that is not there. Inside tsan_ignore_begin()/end() TSan forgets
 * the range's history instead, which is what a change of host mapping
 * is: no access to the memory. Nothing without TSan.
 */
#ifndef UHMM_LIB_TSAN_H
#define UHMM_LIB_TSAN_H

#if defined(__SANITIZE_THREAD__)
#define UHMM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UHMM_TSAN 1
#endif
#endif

#ifdef UHMM_TSAN
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
#define tsan_ignore_begin()	AnnotateIgnoreWritesBegin(__FILE__, __LINE__)
#define tsan_ignore_end()	AnnotateIgnoreWritesEnd(__FILE__, __LINE__)
#else
#define tsan_ignore_begin()	do { } while (0)
#define tsan_ignore_end()	do { } while (0)
#endif

#endif /* UHMM_LIB_TSAN_H */
