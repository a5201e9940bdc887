/* Unit tests for model/model.c: lookups, param checks, finding files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "runbook/buf.h"
#include "runbook/error.h"
#include "runbook/model.h"
#include "runbook/strvec.h"
#include "paths.h"

void test_model_model__action_names(void);
void test_model_model__readonly(void);
void test_model_model__param_check(void);
void test_model_model__search_path(void);
void test_model_model__find(void);
void test_model_model__find_from(void);
void test_model_model__free_null(void);

void
test_model_model__action_names(void)
{
	static const char *const names[] = { "run", "check", "http", "tcp",
		"sleep", "approve", "notify", "runbook", "manual" };
	int i;

	for (i = RB_ACT_RUN; i <= RB_ACT_MANUAL; i++)
		T_EQ_STR(rb_action_name((enum rb_action)i), names[i]);
	T_EQ_STR(rb_action_name((enum rb_action)99), "unknown");
}

void
test_model_model__readonly(void)
{
	struct rb_http_spec h = { 0 };
	struct rb_step s;

	memset(&s, 0, sizeof(s));
	s.action = RB_ACT_RUN;
	T_ASSERT(!rb_step_is_readonly(&s));
	s.readonly = true;
	T_ASSERT(rb_step_is_readonly(&s));
	s.action = RB_ACT_CHECK;
	T_ASSERT(rb_step_is_readonly(&s));
	s.action = RB_ACT_TCP;
	T_ASSERT(rb_step_is_readonly(&s));
	s.action = RB_ACT_SLEEP;
	T_ASSERT(rb_step_is_readonly(&s));
	s.action = RB_ACT_APPROVE;
	T_ASSERT(!rb_step_is_readonly(&s));
	s.action = RB_ACT_NOTIFY;
	T_ASSERT(!rb_step_is_readonly(&s));
	s.action = RB_ACT_RUNBOOK;
	T_ASSERT(!rb_step_is_readonly(&s));
	s.action = RB_ACT_HTTP;
	s.http = &h;
	h.method = (char *)"GET";
	T_ASSERT(rb_step_is_readonly(&s));
	h.method = (char *)"HEAD";
	T_ASSERT(rb_step_is_readonly(&s));
	h.method = (char *)"POST";
	T_ASSERT(!rb_step_is_readonly(&s));
}

void
test_model_model__param_check(void)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_runbook *rb = NULL;
	struct rb_error err = RB_ERROR_INIT;
	const char *y = "runbook: x\nparams:\n"
	    "  host: {pattern: '^[a-z0-9.]+$'}\n"
	    "  env: {enum: [staging, production]}\n"
	    "  pw: {pattern: '^[0-9]+$', secret: true}\n"
	    "  free: {}\n"
	    "steps: [{id: a, run: x}]\n";

	T_EQ_INT(rb_runbook_load_buf(&rb, "t.yaml", y, strlen(y), 0, &d), 0);
	T_EQ_INT(rb_param_check(rb_runbook_param(rb, "host"), "db1.local",
	    &err), 0);
	T_EQ_INT(rb_param_check(rb_runbook_param(rb, "host"), "db1; rm -rf /",
	    &err), RB_EINVAL);
	T_EQ_STR(err.msg, "invalid value 'db1; rm -rf /' for param 'host': it "
	    "does not match '^[a-z0-9.]+$'");
	T_EQ_INT(rb_param_check(rb_runbook_param(rb, "env"), "production",
	    &err), 0);
	T_EQ_INT(rb_param_check(rb_runbook_param(rb, "env"), "prod", &err),
	    RB_EINVAL);
	T_EQ_STR(err.msg, "invalid value 'prod' for param 'env': not one of "
	    "staging, production");
	/* A secret's value never appears in the message. */
	T_EQ_INT(rb_param_check(rb_runbook_param(rb, "pw"), "hunter2", &err),
	    RB_EINVAL);
	T_EQ_STR(err.msg, "invalid value for param 'pw': it does not match "
	    "'^[0-9]+$'");
	T_ASSERT(strstr(err.msg, "hunter2") == NULL);
	T_EQ_INT(rb_param_check(rb_runbook_param(rb, "free"), "anything",
	    &err), 0);
	rb_runbook_free(rb);
	rb_diags_release(&d);
}

/* Run f with RUNBOOK_PATH set to value (NULL: unset), restoring it. */
static void
with_path(const char *value, void (*f)(void *), void *arg)
{
	const char *old = getenv("RUNBOOK_PATH");
	char *saved = old != NULL ? strdup(old) : NULL;

	if (value != NULL)
		setenv("RUNBOOK_PATH", value, 1);
	else
		unsetenv("RUNBOOK_PATH");
	f(arg);
	if (saved != NULL)
		setenv("RUNBOOK_PATH", saved, 1);
	else
		unsetenv("RUNBOOK_PATH");
	free(saved);
}

static void
get_search_path(void *arg)
{
	rb_runbook_search_path(arg);
}

void
test_model_model__search_path(void)
{
	struct rb_strvec sv = RB_STRVEC_INIT;

	with_path("/a:/b::/c", get_search_path, &sv);
	/* ./runbooks, ./playbooks, $RUNBOOK_PATH, then the installed ones. */
	T_EQ_INT(sv.nr, 7);
	T_EQ_STR(sv.v[0], "runbooks");
	T_EQ_STR(sv.v[1], "playbooks");
	T_EQ_STR(sv.v[2], "/a");
	T_EQ_STR(sv.v[3], "/b");
	T_EQ_STR(sv.v[4], "/c");
	T_EQ_STR(sv.v[5], RB_DATADIR "/runbooks");
	T_EQ_STR(sv.v[6], RB_DATADIR "/playbooks");
	rb_strvec_release(&sv);
	with_path(NULL, get_search_path, &sv);
	T_EQ_INT(sv.nr, 4);
	rb_strvec_release(&sv);
}

struct find_case {
	const char *name;
	int r;
	char *path;
	struct rb_error err;
};

static void
do_find(void *arg)
{
	struct find_case *c = arg;

	rb_error_clear(&c->err);
	c->r = rb_runbook_find(&c->path, c->name, &c->err);
}

static void
touch(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f != NULL)
		fclose(f);
}

void
test_model_model__find(void)
{
	struct rb_buf a = RB_BUF_INIT, b = RB_BUF_INIT, p = RB_BUF_INIT;
	struct find_case c;

	memset(&c, 0, sizeof(c));
	rb_buf_addf(&a, "%s/one", rb_test_tmpdir());
	rb_buf_addf(&b, "%s/two", rb_test_tmpdir());
	mkdir(a.buf, 0700);
	mkdir(b.buf, 0700);
	rb_buf_addf(&p, "%s/first.yml", a.buf);
	touch(p.buf);
	rb_buf_reset(&p);
	rb_buf_addf(&p, "%s/first.yaml", b.buf);
	touch(p.buf);
	rb_buf_reset(&p);
	rb_buf_addf(&p, "%s/second.yaml", b.buf);
	touch(p.buf);
	rb_buf_reset(&p);
	rb_buf_addf(&p, "%s:%s", a.buf, b.buf);

	/* The first directory wins, and .yml is found too. */
	c.name = "first";
	with_path(p.buf, do_find, &c);
	T_EQ_INT(c.r, 0);
	T_ASSERT(c.path != NULL && strstr(c.path, "/one/first.yml") != NULL);
	free(c.path);
	c.name = "second";
	with_path(p.buf, do_find, &c);
	T_EQ_INT(c.r, 0);
	T_ASSERT(strstr(c.path, "/two/second.yaml") != NULL);
	free(c.path);
	c.path = NULL;
	c.name = "third";
	with_path(NULL, do_find, &c);
	T_EQ_INT(c.r, RB_ENOTFOUND);
	T_ASSERT(c.path == NULL);
	T_EQ_STR(c.err.msg, "no runbook named 'third'");
	T_EQ_STR(c.err.hint, "looked for third.yaml and third.yml in runbooks, "
	    "playbooks, " RB_DATADIR "/runbooks, " RB_DATADIR "/playbooks "
	    "(add directories with $RUNBOOK_PATH)");
	/* A path is used as it is. */
	rb_buf_reset(&p);
	rb_buf_addf(&p, "%s/second.yaml", b.buf);
	c.name = p.buf;
	with_path(NULL, do_find, &c);
	T_EQ_INT(c.r, 0);
	T_EQ_STR(c.path, p.buf);
	free(c.path);
	c.path = NULL;
	c.name = "missing.yaml";
	with_path(NULL, do_find, &c);
	T_EQ_INT(c.r, RB_ENOTFOUND);
	T_EQ_STR(c.err.msg, "no runbook file 'missing.yaml'");
	/* A directory is not a runbook. */
	c.name = a.buf;
	with_path(NULL, do_find, &c);
	T_EQ_INT(c.r, RB_ENOTFOUND);
	rb_buf_release(&a);
	rb_buf_release(&b);
	rb_buf_release(&p);
}

void
test_model_model__find_from(void)
{
	struct rb_buf dir = RB_BUF_INIT, from = RB_BUF_INIT, p = RB_BUF_INIT;
	struct rb_error err = RB_ERROR_INIT;
	char *out = NULL;

	rb_buf_addf(&dir, "%s/pb", rb_test_tmpdir());
	mkdir(dir.buf, 0700);
	rb_buf_addf(&p, "%s/sub.yaml", dir.buf);
	touch(p.buf);
	rb_buf_addf(&from, "%s/main.yaml", dir.buf);
	T_EQ_INT(rb_runbook_find_from(&out, "sub.yaml", from.buf, &err), 0);
	T_EQ_STR(out, p.buf);
	free(out);
	T_EQ_INT(rb_runbook_find_from(&out, "./sub.yaml", from.buf, &err), 0);
	free(out);
	T_EQ_INT(rb_runbook_find_from(&out, "nope/x.yaml", from.buf, &err),
	    RB_ENOTFOUND);
	T_ASSERT(out == NULL);
	T_CONTAINS(err.hint, "/pb/nope/x.yaml' (a path is relative to the "
	    "file that names it)");
	T_EQ_INT(rb_runbook_find_from(&out, p.buf, "elsewhere/x.yaml", &err),
	    0);
	T_EQ_STR(out, p.buf);
	free(out);
	rb_buf_release(&dir);
	rb_buf_release(&from);
	rb_buf_release(&p);
}

void
test_model_model__free_null(void)
{
	rb_runbook_free(NULL);
	rb_inventory_free(NULL);
	rb_routes_free(NULL);
	T_ASSERT(rb_runbook_step(NULL, "x") == NULL);
	T_ASSERT(rb_runbook_param(NULL, "x") == NULL);
	T_ASSERT(rb_inventory_host(NULL, "x") == NULL);
	T_ASSERT(rb_inventory_group(NULL, "x") == NULL);
}
