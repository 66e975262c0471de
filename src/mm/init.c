// SPDX-License-Identifier: MIT
/*
 * Initialisation: the settings (settings.c: uhmm_init()'s and the
 * environment's), then system RAM, the allocator and the address window,
 * once.
 */
#include <pthread.h>

#include "cpu/arch.h"
#include "mm/mm_internal.h"
#include "settings.h"

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
/* 0: not yet; 1: done; <0: failed with that errno. Written under
 * init_lock, read lock-free once set. */
static int init_state;

void report_bug(const char *file, int line, const char *cond)
{
	fprintf(stderr, "uhmm: BUG at %s:%d: %s\n", file, line, cond);
	abort();
}

static int do_init(const struct uhmm_config *config)
{
	int err = settings_load(config);

	if (!err)
		err = physmem_init(settings->ram_size);
	if (!err)
		err = page_alloc_init();
	if (!err)
		err = window_init(settings->va_size);
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
	if (!err && settings->fault_handler)
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
