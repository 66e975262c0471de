// SPDX-License-Identifier: MIT
/* The version of the library (include/uhmm/version.h). */
#include <uhmm/version.h>

const char *uhmm_version(void)
{
	return UHMM_VERSION_STRING;
}
