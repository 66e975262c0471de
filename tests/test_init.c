// SPDX-License-Identifier: MIT
/* uhmm_init: sizes from the configuration struct and the environment. */
#include "test_util.h"

/* Each case needs a fresh process: uhmm initialises once. */
static int run_child(void (*fn)(void))
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		fn();
		_exit(0);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

static void config_sets_ram(void)
{
	struct uhmm_config cfg = { .ram_size = 64UL << 20 };
	struct uhmm_meminfo mi;

	unsetenv("UHMM_RAM");
	if (uhmm_init(&cfg) != 0 || uhmm_meminfo(&mi) != 0)
		_exit(1);
	if (mi.total_pages != (64UL << 20) >> PAGE_SHIFT)
		_exit(2);
	if (uhmm_init(&cfg) != -EBUSY)
		_exit(3);
}

static void env_overrides_config(void)
{
	struct uhmm_config cfg = { .ram_size = 64UL << 20 };
	struct uhmm_meminfo mi;

	setenv("UHMM_RAM", "32M", 1);
	if (uhmm_init(&cfg) != 0 || uhmm_meminfo(&mi) != 0)
		_exit(1);
	if (mi.total_pages != (32UL << 20) >> PAGE_SHIFT)
		_exit(2);
}

static void bad_sizes(void)
{
	struct uhmm_config odd = { .ram_size = (64UL << 20) + 4096 };
	struct uhmm_config ok = { .ram_size = 64UL << 20 };

	unsetenv("UHMM_RAM");
	if (uhmm_init(&odd) != -EINVAL)
		_exit(1);
	/* A refused configuration leaves uhmm uninitialised. */
	if (uhmm_init(&ok) != 0)
		_exit(2);
}

static void bad_env(void)
{
	setenv("UHMM_RAM", "lots", 1);
	if (uhmm_init(NULL) != -EINVAL)
		_exit(1);
	if (uhmm_mm_create() != NULL || errno != ENOMEM)
		_exit(2);
}

static void defaults_on_first_use(void)
{
	struct uhmm_meminfo mi;

	unsetenv("UHMM_RAM");
	if (uhmm_meminfo(&mi) != 0 || mi.total_pages != (1UL << 30) >> PAGE_SHIFT)
		_exit(1);
}

static void test_config(void **state)
{
	assert_int_equal(run_child(config_sets_ram), 0);
}

static void test_env(void **state)
{
	assert_int_equal(run_child(env_overrides_config), 0);
}

static void test_bad_sizes(void **state)
{
	assert_int_equal(run_child(bad_sizes), 0);
}

static void test_bad_env(void **state)
{
	assert_int_equal(run_child(bad_env), 0);
}

static void test_defaults(void **state)
{
	assert_int_equal(run_child(defaults_on_first_use), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_bad_sizes),
		cmocka_unit_test(test_bad_env),
		cmocka_unit_test(test_defaults),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
