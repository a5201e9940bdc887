/* Unit tests for util/buf.c, strvec.c and misc.c. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "runbook/buf.h"
#include "runbook/error.h"
#include "runbook/strvec.h"
#include "runbook/util.h"

void test_util_buf__cap(void);
void test_util_buf__shquote(void);
void test_util_buf__duration(void);
void test_util_buf__suggest(void);
void test_util_buf__strvec_env(void);

void
test_util_buf__cap(void)
{
	struct rb_buf b = RB_BUF_INIT;

	rb_buf_setcap(&b, 4);
	T_EQ_INT(rb_buf_adds(&b, "abc"), 0);
	T_EQ_INT(rb_buf_adds(&b, "de"), RB_ETOOBIG);
	T_EQ_STR(b.buf, "abc");
	T_EQ_INT(rb_buf_addch(&b, 'd'), 0);
	T_EQ_STR(b.buf, "abcd");
	rb_buf_release(&b);
	T_EQ_INT(b.len, 0);
	T_EQ_STR(b.buf, "");
}

void
test_util_buf__shquote(void)
{
	struct rb_buf b = RB_BUF_INIT;
	const char *v = "x'; touch /tmp/pwned; echo '$(id)";

	rb_buf_add_shquoted(&b, v, strlen(v));
	T_EQ_STR(b.buf, "'x'\\''; touch /tmp/pwned; echo '\\''$(id)'");
	rb_buf_reset(&b);
	rb_buf_add_shquoted(&b, "", 0);
	T_EQ_STR(b.buf, "''");
	rb_buf_release(&b);
}

void
test_util_buf__duration(void)
{
	int64_t ms = 0;
	char out[32];

	T_EQ_INT(rb_duration_parse(&ms, "500ms"), 0);
	T_EQ_INT(ms, 500);
	T_EQ_INT(rb_duration_parse(&ms, "1m30s"), 0);
	T_EQ_INT(ms, 90000);
	T_EQ_INT(rb_duration_parse(&ms, "2h"), 0);
	T_EQ_INT(ms, 7200000);
	T_EQ_INT(rb_duration_parse(&ms, "10"), RB_EINVAL);
	T_EQ_INT(rb_duration_parse(&ms, "5x"), RB_EINVAL);
	T_EQ_INT(rb_duration_parse(&ms, ""), RB_EINVAL);
	T_EQ_INT(rb_duration_parse(&ms, "-5s"), RB_EINVAL);
	T_EQ_INT(rb_duration_parse(&ms, "99999999999999999999s"), RB_EINVAL);
	rb_duration_format(out, sizeof(out), 90000);
	T_EQ_STR(out, "1m30s");
	rb_duration_format(out, sizeof(out), 0);
	T_EQ_STR(out, "0s");
}

void
test_util_buf__suggest(void)
{
	const char *keys[] = { "retries", "run", "rollback", "timeout" };

	T_EQ_STR(rb_suggest("retires", keys, 4), "retries");
	T_EQ_STR(rb_suggest("timout", keys, 4), "timeout");
	T_ASSERT(rb_suggest("zzzzzzzz", keys, 4) == NULL);
}

void
test_util_buf__strvec_env(void)
{
	struct rb_strvec env = RB_STRVEC_INIT;

	rb_strvec_setenv(&env, "A", "1");
	rb_strvec_setenv(&env, "B", "2");
	rb_strvec_setenv(&env, "A", "3");
	T_EQ_INT(env.nr, 2);
	T_EQ_STR(rb_strvec_getenv(&env, "A"), "3");
	T_ASSERT(env.v[2] == NULL);
	rb_strvec_release(&env);
	T_EQ_INT(env.nr, 0);
}
