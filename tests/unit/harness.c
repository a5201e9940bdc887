/*
 * harness.c - runs every registered unit test and prints "N passed, N failed".
 *
 * Tests are found at build time: the Makefile greps every
 * `test_<area>_<file>__<case>(void)` definition under tests/unit/ into
 * build/unit-list.h. Each runs in order, and a failing assertion ends only
 * its own test.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

struct test {
	const char *name;
	void (*fn)(void);
};

#define T(name) void name(void);
#include "unit-list.h"
#undef T
#define T(name) { #name, name },
static const struct test tests[] = {
#include "unit-list.h"
	{ NULL, NULL }
};
#undef T

static int failed_current;
static char tmpdir[256];
static const char *current;

void
rb_test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	failed_current = 1;
	fprintf(stderr, "FAIL %s\n  %s:%d: ", current, file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *
rb_test_tmpdir(void)
{
	if (tmpdir[0] == '\0') {
		const char *base = getenv("TMPDIR");

		snprintf(tmpdir, sizeof(tmpdir), "%s/rb-unit-XXXXXX",
		    base ? base : "/tmp");
		if (mkdtemp(tmpdir) == NULL) {
			perror("mkdtemp");
			exit(1);
		}
	}
	return tmpdir;
}

int
main(int argc, char **argv)
{
	size_t i, passed = 0, failed = 0;

	for (i = 0; tests[i].name != NULL; i++) {
		if (argc > 1 && strstr(tests[i].name, argv[1]) == NULL)
			continue;
		current = tests[i].name;
		failed_current = 0;
		tmpdir[0] = '\0';
		tests[i].fn();
		if (failed_current)
			failed++;
		else
			passed++;
		if (getenv("RB_TEST_VERBOSE"))
			fprintf(stderr, "%s %s\n", failed_current ? "not ok" : "ok", current);
	}
	printf("unit: %zu passed, %zu failed\n", passed, failed);
	return failed != 0;
}
