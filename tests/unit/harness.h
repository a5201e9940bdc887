/*
 * harness.h - the unit-test harness: assert macros that print file:line and
 * both values, and a registry the Makefile fills (build/unit-list.h).
 *
 * A test is a function `void test_<area>_<file>__<case>(void)` in
 * tests/unit/<area>/<file>.c; the build collects them automatically.
 */
#ifndef RUNBOOK_TEST_HARNESS_H
#define RUNBOOK_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

void rb_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A scratch directory unique to the current test (created on demand). */
const char *rb_test_tmpdir(void);

#define T_ASSERT(cond) do { \
	if (!(cond)) { rb_test_fail(__FILE__, __LINE__, "assertion failed: %s", #cond); return; } \
} while (0)
#define T_EQ_INT(a, b) do { \
	long long a_ = (long long)(a), b_ = (long long)(b); \
	if (a_ != b_) { rb_test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_); return; } \
} while (0)
#define T_EQ_STR(a, b) do { \
	const char *a_ = (a), *b_ = (b); \
	if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) { \
		rb_test_fail(__FILE__, __LINE__, "%s == %s: '%s' != '%s'", #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); return; } \
} while (0)
#define T_CONTAINS(hay, needle) do { \
	const char *h_ = (hay), *n_ = (needle); \
	if (h_ == NULL || strstr(h_, n_) == NULL) { \
		rb_test_fail(__FILE__, __LINE__, "'%s' does not contain '%s'", h_ ? h_ : "(null)", n_); return; } \
} while (0)

#endif
