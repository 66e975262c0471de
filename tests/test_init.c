// SPDX-License-Identifier: MIT
/*
 * uhmm_init: sizes from the configuration struct and the environment, and
 * what uhmm says when it refuses a setting or the host refuses memory.
 */
#include <sys/resource.h>

#include "test_util.h"

extern char **environ;

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
	/* A bad setting is an invalid argument, not a lack of memory. */
	if (uhmm_mm_create() != NULL || errno != EINVAL)
		_exit(2);
}

static void defaults_on_first_use(void)
{
	struct uhmm_meminfo mi;

	unsetenv("UHMM_RAM");
	if (uhmm_meminfo(&mi) != 0 || mi.total_pages != (1UL << 30) >> PAGE_SHIFT)
		_exit(1);
}

/*
 * The cases that check what uhmm prints run this program again, as
 * "test_init --child NAME", in a fresh process whose environment is the
 * test's without its UHMM_* variables plus env[]; its stderr comes back
 * in err. Returns the child's exit status (100 + signal if killed).
 */
static int run_exec(const char *name, const char *const env[], char *err,
		    size_t err_size)
{
	char *argv[] = { "test_init", "--child", (char *)name, NULL };
	char *envp[256];
	size_t n = 0, got = 0;
	int fds[2], status;
	ssize_t r;
	pid_t pid;

	for (char **e = environ; *e && n < ARRAY_SIZE(envp) - 16; e++)
		if (strncmp(*e, "UHMM_", 5))
			envp[n++] = *e;
	for (; *env; env++)
		envp[n++] = (char *)*env;
	envp[n] = NULL;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		execve("/proc/self/exe", argv, envp);
		_exit(99);
	}
	close(fds[1]);
	while ((r = read(fds[0], err + got, err_size - 1 - got)) > 0)
		got += (size_t)r;
	err[got] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* As TAP comments, a line each. */
	for (const char *line = err; *line; ) {
		int len = (int)strcspn(line, "\n");

		print_message("# %s: %.*s\n", name, len, line);
		line += len + (line[len] == '\n');
	}
	return WIFEXITED(status) ? WEXITSTATUS(status)
				 : 100 + WTERMSIG(status);
}

static int count_of(const char *haystack, const char *needle)
{
	int n = 0;

	for (const char *p = haystack; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* ---- children, by name (main) ---- */

/* 0: uhmm_mm_create() failed with EINVAL. */
static int child_mm_create_einval(void)
{
	if (uhmm_mm_create())
		return 1;
	return errno == EINVAL ? 0 : 2;
}

/* 0: uhmm_init() refused config values with -EINVAL. */
static int child_config_ram(void)
{
	struct uhmm_config cfg = { .ram_size = 3UL << 20 };

	return uhmm_init(&cfg) == -EINVAL ? 0 : 1;
}

static int child_config_block(void)
{
	struct uhmm_config cfg = { .anon_block_pages = 3 };

	return uhmm_init(&cfg) == -EINVAL ? 0 : 1;
}

/* RLIMIT_AS at what the process maps now plus extra bytes. */
static void limit_address_space(size_t extra)
{
	unsigned long pages = 0;
	struct rlimit rl;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f || fscanf(f, "%lu", &pages) != 1)
		_exit(3);
	fclose(f);
	rl.rlim_cur = rl.rlim_max = pages * (rlim_t)PAGE_SIZE + extra;
	if (setrlimit(RLIMIT_AS, &rl))
		_exit(4);
}

/* 0: the first mm failed with ENOMEM under a small RLIMIT_AS. */
static int child_small_rlimit_window(void)
{
	/* Room for 64 MiB of RAM and its struct pages, not a 64 GiB window. */
	limit_address_space(512UL << 20);
	if (uhmm_mm_create())
		return 1;
	return errno == ENOMEM ? 0 : 2;
}

static int child_small_rlimit_ram(void)
{
	/* No room for 1 GiB of RAM. */
	limit_address_space(64UL << 20);
	if (uhmm_mm_create())
		return 1;
	return errno == ENOMEM ? 0 : 2;
}

/* 0: two 1 TiB uhmm_mmap calls failed with ENOMEM. */
static int child_mmap_1t(void)
{
	struct mm_struct *mm = uhmm_mm_create();
	int ret = 0;

	if (!mm)
		return 1;
	for (int i = 0; i < 2; i++)
		if (uhmm_mmap(mm, NULL, 1UL << 40, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) !=
		    MAP_FAILED || errno != ENOMEM)
			ret = 2;
	uhmm_mm_exit(mm);
	return ret;
}

static const struct {
	const char *name;
	int (*fn)(void);
} children[] = {
	{ "mm_create_einval", child_mm_create_einval },
	{ "config_ram", child_config_ram },
	{ "config_block", child_config_block },
	{ "small_rlimit_window", child_small_rlimit_window },
	{ "small_rlimit_ram", child_small_rlimit_ram },
	{ "mmap_1t", child_mmap_1t },
};

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

/* Each rejected environment value: EINVAL and its own line. */
static void test_rejected_env_says_why(void **state)
{
	static const struct {
		const char *env[3];
		const char *line;
	} cases[] = {
		{ { "UHMM_VA=1000" }, "uhmm: UHMM_VA=1000 rejected: must be "
		  "a multiple of 2 MiB from 2 MiB to 32 TiB" },
		{ { "UHMM_VA=100T" }, "uhmm: UHMM_VA=100T rejected: must be "
		  "a multiple of 2 MiB from 2 MiB to 32 TiB" },
		{ { "UHMM_RAM=3M" }, "uhmm: UHMM_RAM=3M rejected: must be "
		  "a multiple of 2 MiB from 2 MiB to 1 TiB" },
		{ { "UHMM_RAM=lots" }, "uhmm: UHMM_RAM=lots rejected: " },
		{ { "UHMM_RAM=99999999999999999999T" },
		  "uhmm: UHMM_RAM=99999999999999999999T rejected: " },
		{ { "UHMM_ANON_BLOCK=3" }, "uhmm: UHMM_ANON_BLOCK=3 rejected: "
		  "must be a power of two from 1 to 512" },
		{ { "UHMM_ANON_BLOCK=1024" },
		  "uhmm: UHMM_ANON_BLOCK=1024 rejected: " },
		{ { "UHMM_DEBUG=1" }, "uhmm: UHMM_DEBUG=1 rejected: must be "
		  "a comma-separated list of: poison" },
		{ { "UHMM_DEBUG=poison,bogus" },
		  "uhmm: UHMM_DEBUG=poison,bogus rejected: " },
		{ { "UHMM_HOST_GUARD=off" },
		  "uhmm: UHMM_HOST_GUARD=off rejected: must be 0 or 1" },
		{ { "UHMM_NO_FAULT_HANDLER=yes" },
		  "uhmm: UHMM_NO_FAULT_HANDLER=yes rejected: must be 0 or 1" },
		/* Every bad value is named, not just the first. */
		{ { "UHMM_RAM=3M", "UHMM_VA=1k" },
		  "uhmm: UHMM_VA=1k rejected: " },
		{ { "UHMM_RAM=3M", "UHMM_VA=1k" },
		  "uhmm: UHMM_RAM=3M rejected: " },
	};
	char err[4096];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(run_exec("mm_create_einval", cases[i].env,
					  err, sizeof(err)), 0);
		assert_non_null(strstr(err, cases[i].line));
	}
}

/* Accepted values say nothing. */
static void test_accepted_env_is_quiet(void **state)
{
	const char *env[] = { "UHMM_RAM=64M", "UHMM_VA=2G",
			      "UHMM_ANON_BLOCK=512", "UHMM_DEBUG=poison",
			      "UHMM_HOST_GUARD=0", "UHMM_NO_FAULT_HANDLER=1",
			      NULL };
	char err[4096];

	/* mm_create_einval fails (1) when the mm is created. */
	assert_int_equal(run_exec("mm_create_einval", env, err,
				  sizeof(err)), 1);
	assert_null(strstr(err, "uhmm:"));
}

static void test_rejected_config_says_why(void **state)
{
	const char *env[] = { NULL };
	char err[4096];

	assert_int_equal(run_exec("config_ram", env, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "uhmm: uhmm_config.ram_size=3145728 "
				    "rejected: must be a multiple of 2 MiB"));
	assert_int_equal(run_exec("config_block", env, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "uhmm: uhmm_config.anon_block_pages=3 "
				    "rejected: must be a power of two"));
}

/* A reservation the host refuses: which, its size, the setting. */
static void test_small_rlimit_says_why(void **state)
{
	const char *window_env[] = { "UHMM_RAM=64M", NULL };
	const char *ram_env[] = { "UHMM_RAM=1G", NULL };
	char err[4096];

	assert_int_equal(run_exec("small_rlimit_window", window_env, err,
				  sizeof(err)), 0);
	assert_non_null(strstr(err, "uhmm: the host refused 64 GiB for an "
				    "mm's address window"));
	assert_non_null(strstr(err, "a smaller UHMM_VA"));
	assert_non_null(strstr(err, "RLIMIT_AS"));

	assert_int_equal(run_exec("small_rlimit_ram", ram_env, err,
				  sizeof(err)), 0);
	assert_non_null(strstr(err, "uhmm: the host refused 1 GiB for "
				    "system RAM"));
	assert_non_null(strstr(err, "a smaller UHMM_RAM"));
}

/* A mapping above UHMM_VA: ENOMEM, and the cap named once. */
static void test_mmap_above_va_says_cap(void **state)
{
	const char *env[] = { "UHMM_RAM=64M", NULL };
	char err[4096];

	assert_int_equal(run_exec("mmap_1t", env, err, sizeof(err)), 0);
	assert_int_equal(count_of(err, "uhmm: a mapping of 1 TiB is larger "
				       "than the address space: UHMM_VA (or "
				       "uhmm_config.va_size) caps it at "
				       "64 GiB"), 1);
	assert_int_equal(count_of(err, "uhmm:"), 1);
}

/* uhmm_version() is the headers' version, MAJOR.MINOR.PATCH of the
 * macros, and meson.build's (UHMM_TEST_VERSION). */
static void test_version(void **state)
{
	char expect[32];

	snprintf(expect, sizeof(expect), "%d.%d.%d", UHMM_VERSION_MAJOR,
		 UHMM_VERSION_MINOR, UHMM_VERSION_PATCH);
	assert_string_equal(uhmm_version(), UHMM_VERSION_STRING);
	assert_string_equal(uhmm_version(), expect);
	assert_non_null(getenv("UHMM_TEST_VERSION"));
	assert_string_equal(uhmm_version(), getenv("UHMM_TEST_VERSION"));
	assert_int_equal(UHMM_VERSION_NUMBER, UHMM_VERSION_MAJOR * 10000 +
			 UHMM_VERSION_MINOR * 100 + UHMM_VERSION_PATCH);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--child")) {
		for (size_t i = 0; i < ARRAY_SIZE(children); i++)
			if (!strcmp(argv[2], children[i].name))
				return children[i].fn();
		return 98;
	}

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_bad_sizes),
		cmocka_unit_test(test_bad_env),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_rejected_env_says_why),
		cmocka_unit_test(test_accepted_env_is_quiet),
		cmocka_unit_test(test_rejected_config_says_why),
		cmocka_unit_test(test_small_rlimit_says_why),
		cmocka_unit_test(test_mmap_above_va_says_cap),
		cmocka_unit_test(test_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
