/* SPDX-License-Identifier: MIT */
/*
 * What every public header needs to be included from C11 and C++ alike,
 * and to say which of its names libuhmm exports.
 *
 *   UHMM_BEGIN_DECLS  around the declarations of each header: extern "C"
 *   UHMM_END_DECLS    in C++, and default visibility: libuhmm is compiled
 *                     with -fvisibility=hidden, so what is declared
 *                     between them is what it exports, and nothing else
 *                     (src/libuhmm.map lists the same names; so does
 *                     tests/exports.py, from the headers)
 *   UHMM_ATOMIC(T)    the type of a field that uhmm reads and writes
 *                     atomically: _Atomic(T) in C; plain T in C++, which
 *                     has no _Atomic (see below)
 *   UHMM_ANONYMOUS    before an anonymous struct or union member
 */
#ifndef UHMM_COMPILER_H
#define UHMM_COMPILER_H

#ifdef __GNUC__
#define UHMM_VISIBILITY_PUSH	_Pragma("GCC visibility push(default)")
#define UHMM_VISIBILITY_POP	_Pragma("GCC visibility pop")
#else
#define UHMM_VISIBILITY_PUSH
#define UHMM_VISIBILITY_POP
#endif

#ifdef __cplusplus
#define UHMM_BEGIN_DECLS	UHMM_VISIBILITY_PUSH extern "C" {
#define UHMM_END_DECLS		} UHMM_VISIBILITY_POP
#else
#define UHMM_BEGIN_DECLS	UHMM_VISIBILITY_PUSH
#define UHMM_END_DECLS		UHMM_VISIBILITY_POP
#endif

/*
 * A field that uhmm changes atomically (struct page's counts and flags,
 * mm_struct's counts). In C it is _Atomic(T). C++17 has no _Atomic, and
 * std::atomic<T> is not a C type; so there the field is a plain T of the
 * same size and alignment (the static assertions below check that for
 * the types uhmm uses). C++ code must not read or write such a field
 * directly: the inline helpers of the headers (page_ref_count(),
 * get_page()...) reach it with the compiler's __atomic builtins, which
 * are atomic on a plain T as on an _Atomic one.
 */
#ifdef __cplusplus
#define UHMM_ATOMIC(T)	T
#else
#define UHMM_ATOMIC(T)	_Atomic(T)
_Static_assert(sizeof(_Atomic(int)) == sizeof(int) &&
	       _Alignof(_Atomic(int)) == _Alignof(int),
	       "_Atomic(int) has the layout of int");
_Static_assert(sizeof(_Atomic(long)) == sizeof(long) &&
	       _Alignof(_Atomic(long)) == _Alignof(long),
	       "_Atomic(long) has the layout of long");
_Static_assert(sizeof(_Atomic(unsigned long)) == sizeof(unsigned long) &&
	       _Alignof(_Atomic(unsigned long)) == _Alignof(unsigned long),
	       "_Atomic(unsigned long) has the layout of unsigned long");
#endif

/*
 * An anonymous struct or union member: C11 has them, ISO C++ does not
 * (g++ and clang++ accept them as an extension, which __extension__
 * keeps quiet under -pedantic).
 */
#ifdef __cplusplus
#define UHMM_ANONYMOUS	__extension__
#else
#define UHMM_ANONYMOUS
#endif

#endif /* UHMM_COMPILER_H */
