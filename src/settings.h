/* SPDX-License-Identifier: MIT */
/*
 * uhmm's settings: struct uhmm_config and the UHMM_* environment
 * variables, read and checked in one place (settings.c; README.md,
 * "Memory and settings", lists them). Nothing else reads the environment.
 */
#ifndef UHMM_SETTINGS_H
#define UHMM_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

struct uhmm_config;

struct uhmm_settings {
	size_t ram_size;	/* UHMM_RAM, uhmm_config.ram_size */
	size_t va_size;		/* UHMM_VA, uhmm_config.va_size */
	/* log2 of UHMM_ANON_BLOCK, uhmm_config.anon_block_pages: the
	 * pages a user fault on private anonymous memory populates. */
	unsigned int anon_block_order;
	bool page_poison;	/* UHMM_DEBUG=poison */
	bool host_guard;	/* UHMM_HOST_GUARD=1: guard markers allowed */
	bool fault_handler;	/* UHMM_NO_FAULT_HANDLER=0 */
};

/*
 * The settings in use. Written by settings_load() under the init lock
 * before anything reads them; constant once uhmm is initialised.
 */
extern const struct uhmm_settings *const settings;

/*
 * Read config (may be NULL) and the environment, which wins over it,
 * and check every value. 0, or -EINVAL with one line on stderr for each
 * rejected value (its name, the value, what is accepted); then the
 * settings in use are unchanged.
 */
int settings_load(const struct uhmm_config *config);

/* The host reservations a setting sizes. */
enum host_reservation {
	RESERVE_RAM,		/* the memfd of system RAM (UHMM_RAM) */
	RESERVE_MEM_MAP,	/* its struct pages (UHMM_RAM) */
	RESERVE_WINDOW,		/* an mm's address window (UHMM_VA) */
};

/*
 * The host refused reservation what of size bytes with -err: one line on
 * stderr saying which, its size, why, and the setting that shrinks it.
 */
void report_host_refused(enum host_reservation what, size_t size, int err);

/*
 * A mapping of len bytes asked for more than the address space: one line
 * on stderr, the first time only, that UHMM_VA is the cap.
 */
void report_va_cap(size_t len);

#endif /* UHMM_SETTINGS_H */
