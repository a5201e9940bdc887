/* Unit tests for util/regex.c: /re/flags, limits, named groups. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "runbook/error.h"
#include "runbook/regex.h"
#include "runbook/util.h"

void test_util_regex__bare_and_slashes(void);
void test_util_regex__flags(void);
void test_util_regex__compile_error_offset(void);
void test_util_regex__redos_bound(void);
void test_util_regex__named_groups(void);
void test_util_regex__span(void);
void test_util_regex__binary_subject(void);

void
test_util_regex__bare_and_slashes(void)
{
	struct rb_regex *re = NULL;
	struct rb_error err = RB_ERROR_INIT;

	T_EQ_INT(rb_regex_compile(&re, "/accepting connections/", 23, true,
	    NULL, &err), 0);
	T_EQ_STR(rb_regex_source(re), "/accepting connections/");
	T_EQ_INT(rb_regex_match(re, "x: accepting connections", 24, &err), 1);
	T_EQ_INT(rb_regex_match(re, "no response", 11, &err), 0);
	rb_regex_free(re);
	re = NULL;

	/* Without slashes=true the slashes are part of the pattern. */
	T_EQ_INT(rb_regex_compile(&re, "/a/", 3, false, NULL, &err), 0);
	T_EQ_INT(rb_regex_match(re, "a", 1, &err), 0);
	T_EQ_INT(rb_regex_match(re, "x/a/y", 5, &err), 1);
	rb_regex_free(re);
	re = NULL;

	/* A single leading slash is a bare pattern. */
	T_EQ_INT(rb_regex_compile(&re, "/tmp", 4, true, NULL, &err), 0);
	T_EQ_INT(rb_regex_match(re, "cd /tmp", 7, &err), 1);
	rb_regex_free(re);
	re = NULL;

	/* An empty subject and a NULL subject both work. */
	T_EQ_INT(rb_regex_compile(&re, "^$", 2, true, NULL, &err), 0);
	T_EQ_INT(rb_regex_match(re, "", 0, &err), 1);
	T_EQ_INT(rb_regex_match(re, NULL, 0, &err), 1);
	rb_regex_free(re);
	rb_regex_free(NULL);
}

void
test_util_regex__flags(void)
{
	struct rb_regex *re = NULL;
	struct rb_error err = RB_ERROR_INIT;
	size_t off = 99;

	T_EQ_INT(rb_regex_compile(&re, "/^ERROR/im", 10, true, NULL, &err), 0);
	T_EQ_INT(rb_regex_match(re, "ok\nerror: x", 11, &err), 1);
	rb_regex_free(re);
	re = NULL;

	T_EQ_INT(rb_regex_compile(&re, "/a.b/s", 6, true, NULL, &err), 0);
	T_EQ_INT(rb_regex_match(re, "a\nb", 3, &err), 1);
	rb_regex_free(re);
	re = NULL;

	T_EQ_INT(rb_regex_compile(&re, "/a b # c/x", 10, true, NULL, &err), 0);
	T_EQ_INT(rb_regex_match(re, "ab", 2, &err), 1);
	rb_regex_free(re);
	re = NULL;

	T_EQ_INT(rb_regex_compile(&re, "/usr/bin", 8, true, &off, &err),
	    RB_EINVAL);
	T_ASSERT(re == NULL);
	T_EQ_INT(off, 5);
	T_CONTAINS(err.msg, "unknown regex flag 'b'");
	T_ASSERT(err.hint[0] != '\0');
}

void
test_util_regex__compile_error_offset(void)
{
	struct rb_regex *re = NULL;
	struct rb_error err = RB_ERROR_INIT;
	size_t off = 0;

	T_EQ_INT(rb_regex_compile(&re, "ab(c", 4, true, &off, &err),
	    RB_EINVAL);
	T_ASSERT(re == NULL);
	T_EQ_INT(off, 4);
	T_CONTAINS(err.msg, "invalid regex 'ab(c'");
	T_CONTAINS(err.msg, "at offset 4");

	/* With slashes the offset counts from the opening slash. */
	T_EQ_INT(rb_regex_compile(&re, "/a)/", 4, true, &off, &err),
	    RB_EINVAL);
	T_EQ_INT(off, 2);
	T_CONTAINS(err.msg, "at offset 2");
}

void
test_util_regex__redos_bound(void)
{
	struct rb_regex *re = NULL;
	struct rb_error err = RB_ERROR_INIT;
	char *subject = malloc(10002);
	int64_t t0;

	T_ASSERT(subject != NULL);
	memset(subject, 'a', 10000);
	subject[10000] = '!';
	subject[10001] = '\0';
	T_EQ_INT(rb_regex_compile(&re, "(a+)+$", 6, true, NULL, &err), 0);
	t0 = rb_now_ms();
	T_EQ_INT(rb_regex_match(re, subject, 10001, &err), RB_ETOOBIG);
	T_ASSERT(rb_now_ms() - t0 < 2000);
	T_CONTAINS(err.msg, "regex '(a+)+$' exceeded");
	T_ASSERT(err.hint[0] != '\0');
	rb_regex_free(re);
	re = NULL;

	/* The same bound holds for the groups variant. */
	T_EQ_INT(rb_regex_compile(&re, "/(?<x>a|aa)+$/", 14, true, NULL,
	    &err), 0);
	T_EQ_INT(rb_regex_match(re, subject, 10001, &err), RB_ETOOBIG);
	rb_regex_free(re);
	free(subject);
}

struct groups {
	char seen[256];
	int calls;
};

static int
collect(const char *name, const char *value, size_t len, void *payload)
{
	struct groups *g = payload;
	size_t used = strlen(g->seen);

	g->calls++;
	snprintf(g->seen + used, sizeof(g->seen) - used, "%s=%.*s;", name,
	    (int)len, value);
	return 0;
}

static int
stop_at_first(const char *name, const char *value, size_t len, void *payload)
{
	(void)name;
	(void)value;
	(void)len;
	(void)payload;
	return -42;
}

void
test_util_regex__named_groups(void)
{
	struct rb_regex *re = NULL;
	struct rb_error err = RB_ERROR_INIT;
	struct groups g;
	const char *s = "version 15.4 (port 5432)";
	const char *pat =
	    "/version (?<ver>[0-9.]+)(?: \\(port (?<port>\\d+)\\))?(?<zz>X)?/";

	memset(&g, 0, sizeof(g));
	T_EQ_INT(rb_regex_compile(&re, pat, strlen(pat), true, NULL, &err),
	    0);
	T_EQ_INT(rb_regex_ngroups(re), 3);
	T_EQ_INT(rb_regex_ncaptures(re), 3);
	T_EQ_STR(rb_regex_group_name(re, 0), "port");
	T_EQ_STR(rb_regex_group_name(re, 1), "ver");
	T_ASSERT(rb_regex_group_name(re, 3) == NULL);
	T_EQ_INT(rb_regex_match_groups(re, s, strlen(s), collect, &g, &err),
	    1);
	/* Unset groups (zz) are skipped. */
	T_EQ_STR(g.seen, "port=5432;ver=15.4;");
	T_EQ_INT(g.calls, 2);
	T_EQ_INT(rb_regex_match_groups(re, s, strlen(s), stop_at_first, NULL,
	    &err), -42);
	T_EQ_INT(rb_regex_match_groups(re, "nothing", 7, collect, &g, &err),
	    0);
	rb_regex_free(re);
}

void
test_util_regex__span(void)
{
	struct rb_regex *re = NULL;
	struct rb_error err = RB_ERROR_INIT;
	size_t st = 9, ln = 9;
	const char *s = "load: 3.25 ok";

	T_EQ_INT(rb_regex_compile(&re, "/load: ([0-9.]+)( x)?/", 22, true,
	    NULL, &err), 0);
	T_EQ_INT(rb_regex_match_span(re, s, strlen(s), 1, &st, &ln, &err), 1);
	T_EQ_INT(st, 6);
	T_EQ_INT(ln, 4);
	T_EQ_INT(rb_regex_match_span(re, s, strlen(s), 0, &st, &ln, &err), 1);
	T_EQ_INT(st, 0);
	T_EQ_INT(ln, 10);
	T_EQ_INT(rb_regex_match_span(re, s, strlen(s), 2, &st, &ln, &err), 0);
	T_EQ_INT(ln, 0);
	T_EQ_INT(rb_regex_match_span(re, s, strlen(s), 7, &st, &ln, &err), 0);
	T_EQ_INT(rb_regex_match_span(re, "x", 1, 1, &st, &ln, &err), 0);
	rb_regex_free(re);
}

void
test_util_regex__binary_subject(void)
{
	struct rb_regex *re = NULL;
	struct rb_error err = RB_ERROR_INIT;
	const char s[] = "\xff\xfe ok\0 \xc3";

	/* Invalid UTF-8 and NUL bytes in output must not be an error. */
	T_EQ_INT(rb_regex_compile(&re, "/ok/", 4, true, NULL, &err), 0);
	T_EQ_INT(rb_regex_match(re, s, sizeof(s) - 1, &err), 1);
	rb_regex_free(re);
	re = NULL;
	T_EQ_INT(rb_regex_compile(&re, "/caf\xc3\xa9./i", 9, true, NULL,
	    &err), 0);
	T_EQ_INT(rb_regex_match(re, "CAF\xc3\x89\xe2\x82\xac", 8, &err), 1);
	rb_regex_free(re);
}
