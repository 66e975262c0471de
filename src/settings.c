// SPDX-License-Identifier: MIT
/*
 * Every setting of uhmm: struct uhmm_config and the UHMM_* environment
 * variables (the environment wins over the struct), each checked against
 * what it accepts, and the lines that say what went wrong when a setting
 * or the host's refusal of what it sizes stops uhmm. The table of
 * README.md, "Memory and settings", lists exactly these.
 */
#include <ctype.h>
#include <stdatomic.h>
#include <sys/resource.h>

#include "internal.h"
#include "settings.h"

#define DEFAULT_RAM_SIZE	(1ULL << 30)
#define MAX_RAM_SIZE		(1ULL << 40)
#define DEFAULT_VA_SIZE		(64ULL << 30)
#define MAX_VA_SIZE		(1ULL << 45)
#define DEFAULT_ANON_BLOCK	16

/* What the lines of rejected values say is accepted. */
#define SIZE_RANGE(max) "must be a multiple of 2 MiB from 2 MiB to " max
#define RAM_ACCEPTED	SIZE_RANGE("1 TiB") " (e.g. 512M, 4G)"
#define VA_ACCEPTED	SIZE_RANGE("32 TiB") " (e.g. 64G)"
#define BLOCK_ACCEPTED	"must be a power of two from 1 to 512 (pages)"
#define BOOL_ACCEPTED	"must be 0 or 1"

/* Written by settings_load() under init_lock (init.c) only. */
static struct uhmm_settings current;
const struct uhmm_settings *const settings = &current;

/* UHMM_DEBUG's words, comma-separated; each turns one check on. */
static const struct {
	const char *word;
	size_t offset;		/* of its bool in struct uhmm_settings */
} debug_words[] = {
	{ "poison", offsetof(struct uhmm_settings, page_poison) },
};

/* "64 GiB", "3 MiB", "4097 bytes": in the largest unit that divides. */
static const char *format_size(char buf[32], unsigned long long bytes)
{
	static const char *const units[] = {
		"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB",
	};
	unsigned int u = 0;

	while (bytes && !(bytes & 1023) && u < ARRAY_SIZE(units) - 1) {
		bytes >>= 10;
		u++;
	}
	snprintf(buf, 32, "%llu %s", bytes, units[u]);
	return buf;
}

/* The variable's value, or NULL where it is unset or empty. */
static const char *env_value(const char *name)
{
	const char *value = getenv(name);

	return value && *value ? value : NULL;
}

static bool reject(const char *name, const char *value, const char *accepted)
{
	fprintf(stderr, "uhmm: %s=%s rejected: %s\n", name, value, accepted);
	return false;
}

static bool reject_number(const char *name, unsigned long long value,
			  const char *accepted)
{
	char num[24];

	snprintf(num, sizeof(num), "%llu", value);
	return reject(name, num, accepted);
}

/* "4G", "512M", "65536K", "1073741824", with an optional B: false if it
 * is none of those or does not fit in 64 bits. */
static bool parse_size(const char *s, unsigned long long *bytes)
{
	unsigned int shift = 0;
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return false;
	switch (toupper((unsigned char)*end)) {
	case 'T': shift += 10; /* fall through */
	case 'G': shift += 10; /* fall through */
	case 'M': shift += 10; /* fall through */
	case 'K': shift += 10; end++; break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || v > ULLONG_MAX >> shift)
		return false;
	*bytes = v << shift;
	return true;
}

static bool size_ok(unsigned long long size, unsigned long long max)
{
	return size >= PMD_SIZE && size <= max && IS_ALIGNED(size, PMD_SIZE);
}

/* A size from the environment, else from the struct (0: the default). */
static bool load_size(const char *name, const char *field,
		      size_t config_value, unsigned long long def,
		      unsigned long long max, const char *accepted,
		      size_t *out)
{
	const char *value = env_value(name);
	unsigned long long size = def;

	if (value) {
		if (!parse_size(value, &size) || !size_ok(size, max))
			return reject(name, value, accepted);
	} else if (config_value) {
		size = config_value;
		if (!size_ok(size, max))
			return reject_number(field, size, accepted);
	}
	*out = (size_t)size;
	return true;
}

static bool block_ok(unsigned long pages)
{
	return pages && pages <= PTRS_PER_PTE && !(pages & (pages - 1));
}

static bool load_anon_block(const struct uhmm_config *config,
			    unsigned int *order)
{
	const char *value = env_value("UHMM_ANON_BLOCK");
	unsigned long pages = DEFAULT_ANON_BLOCK;

	if (value) {
		char *end;

		errno = 0;
		pages = isdigit((unsigned char)*value) ?
			strtoul(value, &end, 10) : 0;
		if (!pages || errno || *end || !block_ok(pages))
			return reject("UHMM_ANON_BLOCK", value, BLOCK_ACCEPTED);
	} else if (config && config->anon_block_pages) {
		pages = config->anon_block_pages;
		if (!block_ok(pages))
			return reject_number("uhmm_config.anon_block_pages",
					     pages, BLOCK_ACCEPTED);
	}
	*order = (unsigned int)__builtin_ctzl(pages);
	return true;
}

/* "0" or "1"; unset or empty: def. */
static bool load_bool(const char *name, bool def, bool *out)
{
	const char *value = env_value(name);

	if (!value) {
		*out = def;
		return true;
	}
	if (strcmp(value, "0") && strcmp(value, "1"))
		return reject(name, value, BOOL_ACCEPTED);
	*out = value[0] == '1';
	return true;
}

static bool load_debug(struct uhmm_settings *s)
{
	const char *value = env_value("UHMM_DEBUG");
	char accepted[128] = "must be a comma-separated list of:";

	for (size_t i = 0; i < ARRAY_SIZE(debug_words); i++)
		snprintf(accepted + strlen(accepted),
			 sizeof(accepted) - strlen(accepted), " %s",
			 debug_words[i].word);
	for (const char *w = value; w && *w; w += *w == ',') {
		size_t len = strcspn(w, ","), i;

		for (i = 0; i < ARRAY_SIZE(debug_words); i++)
			if (strlen(debug_words[i].word) == len &&
			    !strncmp(w, debug_words[i].word, len))
				break;
		if (i == ARRAY_SIZE(debug_words))
			return reject("UHMM_DEBUG", value, accepted);
		*(bool *)((char *)s + debug_words[i].offset) = true;
		w += len;
	}
	return true;
}

int settings_load(const struct uhmm_config *config)
{
	struct uhmm_settings s = { 0 };
	bool no_handler, ok = true;

	/* Every value is checked, so that one run names all bad ones. */
	ok &= load_size("UHMM_RAM", "uhmm_config.ram_size",
			config ? config->ram_size : 0, DEFAULT_RAM_SIZE,
			MAX_RAM_SIZE, RAM_ACCEPTED, &s.ram_size);
	ok &= load_size("UHMM_VA", "uhmm_config.va_size",
			config ? config->va_size : 0, DEFAULT_VA_SIZE,
			MAX_VA_SIZE, VA_ACCEPTED, &s.va_size);
	ok &= load_anon_block(config, &s.anon_block_order);
	ok &= load_debug(&s);
	ok &= load_bool("UHMM_HOST_GUARD", true, &s.host_guard);
	ok &= load_bool("UHMM_NO_FAULT_HANDLER", false, &no_handler);
	if (!ok)
		return -EINVAL;
	s.fault_handler = !no_handler;
	current = s;
	return 0;
}

void report_host_refused(enum host_reservation what, size_t size, int err)
{
	static const char *const names[] = {
		[RESERVE_RAM] = "system RAM (a memfd)",
		[RESERVE_MEM_MAP] = "the struct pages of system RAM",
		[RESERVE_WINDOW] = "an mm's address window (PROT_NONE)",
	};
	const char *setting = what == RESERVE_WINDOW ?
			      "UHMM_VA (or uhmm_config.va_size)" :
			      "UHMM_RAM (or uhmm_config.ram_size)";
	char sz[32], limit[80] = "";
	struct rlimit rl;

	/* The usual reason where the host has memory to spare. */
	if (!getrlimit(RLIMIT_AS, &rl) && rl.rlim_cur != RLIM_INFINITY)
		snprintf(limit, sizeof(limit),
			 " (RLIMIT_AS, ulimit -v: %llu KiB)",
			 (unsigned long long)rl.rlim_cur >> 10);
	fprintf(stderr, "uhmm: the host refused %s for %s: %s; a smaller "
		"%s shrinks it%s\n", format_size(sz, size), names[what],
		strerror(-err), setting, limit);
}

void report_va_cap(size_t len)
{
	static atomic_bool said;
	char asked[32], cap[32];

	if (atomic_exchange(&said, true))
		return;
	fprintf(stderr, "uhmm: a mapping of %s is larger than the address "
		"space: UHMM_VA (or uhmm_config.va_size) caps it at %s, so "
		"it fails with ENOMEM\n", format_size(asked, len),
		format_size(cap, settings->va_size));
}
