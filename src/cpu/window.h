/* SPDX-License-Identifier: MIT */
/*
 * The managed address window: a range of this process's address space,
 * reserved PROT_NONE at initialisation, that uhmm_mmap hands addresses
 * from. Constant after window_init().
 */
#ifndef UHMM_CPU_WINDOW_H
#define UHMM_CPU_WINDOW_H

#include "internal.h"

extern unsigned long uhmm_window_start;
extern unsigned long uhmm_window_end;

/* Reserve size bytes (2 MiB aligned). 0 or -errno. */
int window_init(size_t size);

#endif /* UHMM_CPU_WINDOW_H */
