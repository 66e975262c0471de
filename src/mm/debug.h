/* SPDX-License-Identifier: MIT */
#ifndef UHMM_MM_DEBUG_H
#define UHMM_MM_DEBUG_H

#include <uhmm/mm_types.h>

/*
 * Check, for every page of system RAM, that its mapcount equals the
 * number of PTEs of the given mms that map it and that its refcount is
 * at least that, and, for every mm, that its rss counts the PTEs that
 * map a page (present, device-private, device-exclusive). The mms must
 * be every live mm. Returns the number of pages and mms that break a
 * rule (and prints the first few), or -ENOMEM.
 */
long mm_verify_mapcounts(struct mm_struct *const *mms, unsigned int nr_mms);

#endif /* UHMM_MM_DEBUG_H */
