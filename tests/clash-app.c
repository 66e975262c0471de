// SPDX-License-Identifier: MIT
/*
 * An application that happens to use, for its own functions and
 * variables, names that uhmm uses inside (host_init, window_init,
 * report_bug, settings, system_ram), with other types. Linked with
 * libuhmm.so or libuhmm.a (tests/link-clash.sh), it must link, and uhmm
 * must go on using its own: the application's are called only by the
 * application, and its variables keep their values. Prints TAP.
 */
#include <stdio.h>
#include <string.h>

#include <uhmm/uhmm.h>

/* How often the application's own functions ran. */
static int host_init_calls, window_init_calls, report_bug_calls;

int host_init(void);
long window_init(const char *name);
void report_bug(int code);

int host_init(void)
{
	host_init_calls++;
	return -1;
}

long window_init(const char *name)
{
	window_init_calls++;
	return (long)strlen(name);
}

void report_bug(int code)
{
	report_bug_calls += code;
}

const char *settings = "the application's settings";
int system_ram[4] = { 1, 2, 3, 4 };

static int n;

static void check(int ok, const char *what)
{
	printf("%s %d - %s\n", ok ? "ok" : "not ok", ++n, what);
}

int main(void)
{
	const size_t len = 64 * PAGE_SIZE;
	struct mm_struct *mm;
	char *p, buf[8];
	size_t i;

	printf("1..6\n");
	/* The application's names are its own. */
	check(host_init() == -1 && window_init("abc") == 3 &&
	      (report_bug(2), report_bug_calls == 2),
	      "the application's functions run");

	mm = uhmm_mm_create();
	check(mm != NULL, "uhmm_mm_create");
	if (!mm)
		return 1;
	p = uhmm_mmap(mm, NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check(p != MAP_FAILED, "uhmm_mmap");
	if (p == MAP_FAILED)
		return 1;
	p = uhmm_ptr(mm, p);
	for (i = 0; i < len; i += PAGE_SIZE)
		p[i] = (char)(i / PAGE_SIZE + 1);
	for (i = 0; i < len; i += PAGE_SIZE)
		if (p[i] != (char)(i / PAGE_SIZE + 1))
			break;
	check(i == len, "pages written through the pointer read back");
	check(uhmm_access(mm, p + 5 * PAGE_SIZE, buf, 1, 0) == 1 &&
	      buf[0] == 6, "uhmm_access reads what the pointer wrote");
	uhmm_munmap(mm, p, len);
	uhmm_mm_exit(mm);

	/* uhmm called none of them and wrote none of its variables. */
	check(host_init_calls == 1 && window_init_calls == 1 &&
	      report_bug_calls == 2 &&
	      strcmp(settings, "the application's settings") == 0 &&
	      system_ram[0] == 1 && system_ram[3] == 4,
	      "uhmm used none of the application's names");
	return 0;
}
