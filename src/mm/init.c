// SPDX-License-Identifier: MIT
/*
 * Initialisation: sizes from uhmm_init() or the environment, then system
 * RAM, the allocator and the address window, once.
 */
#include <ctype.h>
#include <pthread.h>

#include "cpu/arch.h"
#include "mm/mm_internal.h"

#define DEFAULT_RAM_SIZE	(1UL << 30)
#define DEFAULT_VA_SIZE		(64UL << 30)
#define MAX_RAM_SIZE		(1UL << 40)
#define MAX_VA_SIZE		(1UL << 45)
#define DEFAULT_ANON_BLOCK	16

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
/* 0: not yet; 1: done; <0: failed with that errno. Written under
 * init_lock, read lock-free once set. */
static int init_state;

void report_bug(const char *file, int line, const char *cond)
{
	fprintf(stderr, "uhmm: BUG at %s:%d: %s\n", file, line, cond);
	abort();
}

/* "4G", "512M", "65536K", "1073741824": bytes, or 0 if malformed. */
static size_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return 0;
	v = strtoull(s, &end, 10);
	switch (toupper((unsigned char)*end)) {
	case 'T': v <<= 10; /* fall through */
	case 'G': v <<= 10; /* fall through */
	case 'M': v <<= 10; /* fall through */
	case 'K': v <<= 10; end++; break;
	case '\0': break;
	default: return 0;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	return *end ? 0 : (size_t)v;
}

static bool size_ok(size_t size, size_t max)
{
	return size && size <= max && IS_ALIGNED(size, PMD_SIZE);
}

static int do_init(const struct uhmm_config *config)
{
	size_t ram = config && config->ram_size ? config->ram_size
						 : DEFAULT_RAM_SIZE;
	size_t va = config && config->va_size ? config->va_size
					      : DEFAULT_VA_SIZE;
	unsigned int block = config && config->anon_block_pages ?
			     config->anon_block_pages : DEFAULT_ANON_BLOCK;
	const char *env;
	int err;

	env = getenv("UHMM_RAM");
	if (env && *env) {
		ram = parse_size(env);
		if (!ram) {
			fprintf(stderr, "uhmm: UHMM_RAM=%s is not a size\n", env);
			return -EINVAL;
		}
	}
	env = getenv("UHMM_VA");
	if (env && *env) {
		va = parse_size(env);
		if (!va) {
			fprintf(stderr, "uhmm: UHMM_VA=%s is not a size\n", env);
			return -EINVAL;
		}
	}
	env = getenv("UHMM_ANON_BLOCK");
	if (env && *env) {
		char *end;

		block = (unsigned int)strtoul(env, &end, 10);
		if (*end || !block) {
			fprintf(stderr, "uhmm: UHMM_ANON_BLOCK=%s is not a "
				"number of pages\n", env);
			return -EINVAL;
		}
	}
	if (!size_ok(ram, MAX_RAM_SIZE) || !size_ok(va, MAX_VA_SIZE) ||
	    block > PTRS_PER_PTE || (block & (block - 1)))
		return -EINVAL;
	anon_block_order = (unsigned int)__builtin_ctz(block);

	err = physmem_init(ram);
	if (!err)
		err = page_alloc_init();
	if (!err)
		err = window_init(va);
	return err;
}

static int init_locked(const struct uhmm_config *config)
{
	int err;

	pthread_mutex_lock(&init_lock);
	if (init_state) {
		err = init_state < 0 ? init_state : -EBUSY;
	} else {
		err = do_init(config);
		/* A refused size changes nothing and may be corrected;
		 * a failure half-way through setting up is final. */
		if (err != -EINVAL)
			__atomic_store_n(&init_state, err ? err : 1,
					 __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&init_lock);
	/* Outside init_lock: it initialises through ensure_initialized(). */
	if (!err && !getenv("UHMM_NO_FAULT_HANDLER"))
		uhmm_install_fault_handler();
	return err;
}

int uhmm_init(const struct uhmm_config *config)
{
	return init_locked(config);
}

int ensure_initialized(void)
{
	int state = __atomic_load_n(&init_state, __ATOMIC_ACQUIRE);

	if (likely(state == 1))
		return 0;
	if (state < 0)
		return state;
	state = init_locked(NULL);
	return state == -EBUSY ? 0 : state;
}
