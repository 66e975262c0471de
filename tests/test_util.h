/* SPDX-License-Identifier: MIT */
/* Shared by the test programs: cmocka, uhmm, and small helpers. */
#ifndef UHMM_TEST_UTIL_H
#define UHMM_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uhmm/uhmm.h>

#include "internal.h"

static inline unsigned long free_pages_now(void)
{
	struct uhmm_meminfo mi;

	assert_int_equal(uhmm_meminfo(&mi), 0);
	return mi.free_pages;
}

#endif /* UHMM_TEST_UTIL_H */
