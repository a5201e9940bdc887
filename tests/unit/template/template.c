/* Unit tests for template/: parsing, filters, shell quoting and secrets. */
#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "runbook/buf.h"
#include "runbook/diag.h"
#include "runbook/error.h"
#include "runbook/strvec.h"
#include "runbook/template.h"

void test_template_template__literal(void);
void test_template_template__plain(void);
void test_template_template__shell_hostile(void);
void test_template_template__shell_roundtrip(void);
void test_template_template__shell_quote_context(void);
void test_template_template__single_pass(void);
void test_template_template__literal_braces(void);
void test_template_template__secrets_shell(void);
void test_template_template__secrets_masked(void);
void test_template_template__unknown_and_null(void);
void test_template_template__filters(void);
void test_template_template__filter_host(void);
void test_template_template__taint_survives(void);
void test_template_template__parse_errors(void);
void test_template_template__parse_errors_located(void);
void test_template_template__check(void);
void test_template_template__render_error_rollback(void);
void test_template_template__expressions(void);

/* ---- a tiny scope ---- */

struct fake {
	const char *name;
	enum rb_value_type type;
	const char *s;
	unsigned flags;
};

static const struct fake fakes[] = {
	{ "params.host", RB_VAL_STR, "db1", 0 },
	{ "params.port", RB_VAL_STR, "5432", 0 },
	{ "params.evil", RB_VAL_STR, "x'; touch /tmp/pwned; echo '$(id)", 0 },
	{ "params.nl", RB_VAL_STR, "a\nb`id` $HOME \"q\" \\ *", 0 },
	{ "params.tmpl", RB_VAL_STR, "{{ env.HOME }}", 0 },
	{ "params.pw", RB_VAL_STR, "s3cr'et pw", RB_VALUE_SECRET },
	{ "params.pw2", RB_VAL_STR, "hunter2", RB_VALUE_SECRET },
	{ "params.nopw", RB_VAL_NULL, NULL, RB_VALUE_SECRET },
	{ "params.empty", RB_VAL_STR, "", 0 },
	{ "params.mixed", RB_VAL_STR, "  Hello World \n", 0 },
	{ "env.UNSET", RB_VAL_NULL, NULL, 0 },
	{ "steps.a.ok", RB_VAL_BOOL, "1", 0 },
	{ "steps.a.exit_code", RB_VAL_NUM, "3", 0 },
	{ "steps.a.stdout", RB_VAL_STR, " DB1:5432\n", RB_VALUE_TAINTED },
	{ "steps.later.stdout", RB_VAL_UNKNOWN, NULL, 0 },
	{ "alert.labels.instance", RB_VAL_STR, "db1:9100", RB_VALUE_TAINTED },
};

static const struct fake *
find_fake(const char *const *path, size_t npath)
{
	char name[256];
	size_t i, used = 0;

	name[0] = '\0';
	for (i = 0; i < npath && used < sizeof(name); i++)
		used += (size_t)snprintf(name + used, sizeof(name) - used,
		    "%s%s", i ? "." : "", path[i]);
	for (i = 0; i < RB_ARRAY_SIZE(fakes); i++)
		if (strcmp(fakes[i].name, name) == 0)
			return &fakes[i];
	return NULL;
}

static int
lookup(struct rb_value *out, const char *const *path, size_t npath,
    void *payload)
{
	const struct fake *f = find_fake(path, npath);

	(void)payload;
	if (f == NULL)
		return RB_ENOTFOUND;
	switch (f->type) {
	case RB_VAL_STR:
		rb_value_set_str(out, f->s, strlen(f->s), f->flags);
		break;
	case RB_VAL_BOOL:
		rb_value_set_bool(out, f->s[0] == '1');
		break;
	case RB_VAL_NUM:
		rb_value_set_num(out, strtod(f->s, NULL));
		break;
	case RB_VAL_UNKNOWN:
		rb_value_set_unknown(out, f->name);
		break;
	default:
		rb_value_set_null(out);
		out->flags = f->flags;
		break;
	}
	return 0;
}

struct resolve_log {
	struct rb_diags *diags;
	int calls;
	bool raw, has_default;	/* of the last call */
	int line, col;		/* of the last call */
};

static int
resolve(enum rb_type *out, const struct rb_name_ref *ref, void *payload)
{
	struct resolve_log *log = payload;
	const struct fake *f = find_fake(ref->path, ref->npath);

	log->calls++;
	log->raw = ref->raw;
	log->has_default = ref->has_default;
	log->line = ref->loc.line;
	log->col = ref->loc.col;
	if (f == NULL) {
		rb_diag_error(log->diags, &ref->loc, "unknown name");
		return RB_ENOTFOUND;
	}
	*out = f->type == RB_VAL_BOOL ? RB_TYPE_BOOL : f->type == RB_VAL_NUM ?
	    RB_TYPE_NUM : f->type == RB_VAL_STR ? RB_TYPE_STR : RB_TYPE_ANY;
	return 0;
}

/*
 * Render src with flags into a static buffer; returns it, or NULL on
 * failure. *oflags gets the value flags.
 */
static char rendered[4096];

static const char *
render(const char *src, unsigned flags, struct rb_strvec *env,
    unsigned *oflags)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_loc loc = { "t.yaml", 1, 1 };
	struct rb_tmpl *t = NULL;
	struct rb_buf out = RB_BUF_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_tmpl_ctx ctx = { lookup, NULL, flags, env };
	unsigned dummy;
	const char *res = NULL;

	if (rb_tmpl_parse(&t, src, strlen(src), &loc, &d) != 0) {
		fprintf(stderr, "  parse '%s': %s\n", src,
		    d.nr ? d.v[0].msg : "?");
		goto out;
	}
	if (rb_tmpl_render(&out, t, &ctx, oflags ? oflags : &dummy,
	    &err) != 0) {
		fprintf(stderr, "  render '%s': %s\n", src, err.msg);
		goto out;
	}
	snprintf(rendered, sizeof(rendered), "%s", out.buf);
	res = rendered;
out:
	rb_tmpl_free(t);
	rb_buf_release(&out);
	rb_diags_release(&d);
	return res;
}

/* Parse src at 4:9 expecting failure; the first diagnostic. */
static struct rb_diag first;
static size_t ndiags;

static int
parse_fails(const char *src)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_loc loc = { "rb.yaml", 4, 9 };
	struct rb_tmpl *t = NULL;
	int r;

	free(first.msg);
	free(first.hint);
	memset(&first, 0, sizeof(first));
	r = rb_tmpl_parse(&t, src, strlen(src), &loc, &d);
	ndiags = d.nr;
	if (d.nr > 0) {
		first.line = d.v[0].line;
		first.col = d.v[0].col;
		first.msg = strdup(d.v[0].msg);
		first.hint = d.v[0].hint ? strdup(d.v[0].hint) : NULL;
	}
	rb_tmpl_free(t);
	rb_diags_release(&d);
	return r == RB_EINVAL && t == NULL && ndiags > 0;
}

static void
reset_first(void)
{
	free(first.msg);
	free(first.hint);
	memset(&first, 0, sizeof(first));
}

/* ---- tests ---- */

void
test_template_template__literal(void)
{
	struct rb_tmpl *t = NULL;
	struct rb_diags d = RB_DIAGS_INIT;

	T_EQ_INT(rb_tmpl_parse(&t, "echo }} { } hi", 14, NULL, &d), 0);
	T_ASSERT(rb_tmpl_is_literal(t));
	T_EQ_STR(rb_tmpl_source(t), "echo }} { } hi");
	rb_tmpl_free(t);
	t = NULL;
	T_EQ_INT(rb_tmpl_parse(&t, "", 0, NULL, &d), 0);
	T_ASSERT(rb_tmpl_is_literal(t));
	rb_tmpl_free(t);
	t = NULL;
	T_EQ_INT(rb_tmpl_parse(&t, "{{ params.host }}", 17, NULL, &d), 0);
	T_ASSERT(!rb_tmpl_is_literal(t));
	rb_tmpl_free(t);
	rb_tmpl_free(NULL);
	T_EQ_STR(render("echo }} { } hi", RB_TMPL_SHELL, NULL, NULL),
	    "echo }} { } hi");
	T_EQ_STR(render("", RB_TMPL_SHELL, NULL, NULL), "");
	T_EQ_INT(d.nr, 0);
}

void
test_template_template__plain(void)
{
	T_EQ_STR(render("host={{ params.host }}:{{params.port}}", 0, NULL,
	    NULL), "host=db1:5432");
	T_EQ_STR(render("{{ params.host }}", 0, NULL, NULL), "db1");
	T_EQ_STR(render("code {{ steps.a.exit_code }} ok={{ steps.a.ok }}", 0,
	    NULL, NULL), "code 3 ok=true");
	T_EQ_STR(render("{{\n  params.host\n}}!", 0, NULL, NULL), "db1!");
	T_EQ_STR(render("a{{ params.host }}{{ params.port }}b", 0, NULL, NULL),
	    "adb15432b");
}

void
test_template_template__shell_hostile(void)
{
	T_EQ_STR(render("echo {{ params.evil }}", RB_TMPL_SHELL, NULL, NULL),
	    "echo 'x'\\''; touch /tmp/pwned; echo '\\''$(id)'");
	T_EQ_STR(render("echo {{ params.nl }}", RB_TMPL_SHELL, NULL, NULL),
	    "echo 'a\nb`id` $HOME \"q\" \\ *'");
	T_EQ_STR(render("pg_isready -h {{ params.host }} -p {{ params.port }}",
	    RB_TMPL_SHELL, NULL, NULL), "pg_isready -h 'db1' -p '5432'");
	/* raw is the author's explicit choice. */
	T_EQ_STR(render("echo {{ params.host | raw }}", RB_TMPL_SHELL, NULL,
	    NULL), "echo db1");
	/* Numbers and booleans are quoted too. */
	T_EQ_STR(render("exit {{ steps.a.exit_code }}", RB_TMPL_SHELL, NULL,
	    NULL), "exit '3'");
}

/* Run `printf %s <rendered>` through /bin/sh and capture its output. */
static int
sh_printf(struct rb_buf *out, const char *script)
{
	int fds[2], status;
	pid_t pid;
	char buf[512];
	ssize_t n;

	if (pipe(fds) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while ((n = read(fds[0], buf, sizeof(buf))) > 0)
		rb_buf_add(out, buf, (size_t)n);
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

void
test_template_template__shell_roundtrip(void)
{
	struct rb_buf got = RB_BUF_INIT;
	const char *cmd;
	char path[512];

	/* A hostile value arrives byte-identical and is never run. */
	snprintf(path, sizeof(path), "%s/pwned", rb_test_tmpdir());
	cmd = render("cd {{ params.host }}/.. 2>/dev/null; printf %s "
	    "{{ params.evil }}{{ params.nl }}{{ params.tmpl }}{{ params.empty }}",
	    RB_TMPL_SHELL, NULL, NULL);
	T_ASSERT(cmd != NULL);
	T_EQ_INT(sh_printf(&got, cmd), 0);
	T_EQ_STR(got.buf, "x'; touch /tmp/pwned; echo '$(id)"
	    "a\nb`id` $HOME \"q\" \\ *{{ env.HOME }}");
	T_ASSERT(access(path, F_OK) != 0);
	rb_buf_release(&got);
}

void
test_template_template__shell_quote_context(void)
{
	struct rb_buf got = RB_BUF_INIT;
	const char *cmd;
	const char *want = "x'; touch /tmp/pwned; echo '$(id)"
	    "a\nb`id` $HOME \"q\" \\ *";

	/* Inside the author's double quotes: one literal string. */
	cmd = render("printf %s \"<{{ params.evil }}{{ params.nl }}>\"",
	    RB_TMPL_SHELL, NULL, NULL);
	T_ASSERT(cmd != NULL);
	T_EQ_INT(sh_printf(&got, cmd), 0);
	T_ASSERT(got.len == strlen(want) + 2);
	T_ASSERT(memcmp(got.buf + 1, want, strlen(want)) == 0);
	rb_buf_reset(&got);
	/* Inside single quotes: the quote is closed and reopened. */
	cmd = render("printf %s '<{{ params.evil }}{{ params.nl }}>'",
	    RB_TMPL_SHELL, NULL, NULL);
	T_ASSERT(cmd != NULL);
	T_EQ_INT(sh_printf(&got, cmd), 0);
	T_ASSERT(got.len == strlen(want) + 2);
	T_ASSERT(memcmp(got.buf + 1, want, strlen(want)) == 0);
	rb_buf_reset(&got);
	/* An escaped quote does not open a quoted context. */
	cmd = render("printf %s \\\"{{ params.host }}", RB_TMPL_SHELL, NULL,
	    NULL);
	T_EQ_STR(cmd, "printf %s \\\"'db1'");
	rb_buf_release(&got);
}

void
test_template_template__single_pass(void)
{
	/* A value that looks like a template stays literal. */
	T_EQ_STR(render("v={{ params.tmpl }}", 0, NULL, NULL),
	    "v={{ env.HOME }}");
	T_EQ_STR(render("echo {{ params.tmpl }}", RB_TMPL_SHELL, NULL, NULL),
	    "echo '{{ env.HOME }}'");
}

void
test_template_template__literal_braces(void)
{
	T_EQ_STR(render("{{ \"{{\" }} x }}", 0, NULL, NULL), "{{ x }}");
	T_EQ_STR(render("{{ '}}' }}", 0, NULL, NULL), "}}");
	T_EQ_STR(render("{{ \"{{\" | raw }}", RB_TMPL_SHELL, NULL, NULL), "{{");
	T_EQ_STR(render("{{ \"{{\" }}", RB_TMPL_SHELL, NULL, NULL), "'{{'");
}

void
test_template_template__secrets_shell(void)
{
	struct rb_strvec env = RB_STRVEC_INIT;
	unsigned flags = 0;
	const char *s;

	s = render("PGPASSWORD={{ params.pw }} psql -c {{ params.pw2 | raw }}"
	    " \"Bearer {{ params.pw | upper | raw }}\"", RB_TMPL_SHELL, &env,
	    &flags);
	T_EQ_STR(s, "PGPASSWORD=\"$RUNBOOK_SECRET_1\" psql -c "
	    "${RUNBOOK_SECRET_2} \"Bearer ${RUNBOOK_SECRET_3}\"");
	T_ASSERT(strstr(s, "s3cr") == NULL && strstr(s, "hunter") == NULL);
	T_ASSERT(flags & RB_VALUE_SECRET);
	T_EQ_INT(env.nr, 3);
	T_EQ_STR(env.v[0], "RUNBOOK_SECRET_1=s3cr'et pw");
	T_EQ_STR(env.v[1], "RUNBOOK_SECRET_2=hunter2");
	T_EQ_STR(env.v[2], "RUNBOOK_SECRET_3=S3CR'ET PW");
	/* A second render into the same environment does not collide. */
	s = render("{{ params.pw2 | json }}", RB_TMPL_SHELL, &env, NULL);
	T_EQ_STR(s, "\"$RUNBOOK_SECRET_4\"");
	T_EQ_STR(env.v[3], "RUNBOOK_SECRET_4=\"hunter2\"");
	rb_strvec_release_secret(&env);

	/* Anything derived from a secret is one. */
	s = render("{{ params.pw == 'x' }}", RB_TMPL_SHELL, &env, NULL);
	T_EQ_STR(s, "\"$RUNBOOK_SECRET_1\"");
	T_EQ_STR(env.v[0], "RUNBOOK_SECRET_1=false");
	rb_strvec_release_secret(&env);

	/* Without an environment to carry it, the secret is masked. */
	s = render("psql -p {{ params.pw }} {{ params.pw | raw }}",
	    RB_TMPL_SHELL, NULL, NULL);
	T_EQ_STR(s, "psql -p '******' ******");
	/* An unset secret is just empty. */
	s = render("x={{ params.nopw }}", RB_TMPL_SHELL, &env, NULL);
	T_EQ_STR(s, "x=''");
	T_EQ_INT(env.nr, 0);
	s = render("x={{ params.nopw | default('d') }}", RB_TMPL_SHELL, &env,
	    NULL);
	T_EQ_STR(s, "x=\"$RUNBOOK_SECRET_1\"");
	rb_strvec_release_secret(&env);
}

void
test_template_template__secrets_masked(void)
{
	unsigned flags = 0;

	T_EQ_STR(render("pw={{ params.pw }} {{ params.pw | json }} "
	    "{{ params.pw | urlencode | lower }}", RB_TMPL_MASK, NULL, &flags),
	    "pw=****** ****** ******");
	T_ASSERT(flags & RB_VALUE_SECRET);
	/* Neither shell nor mask (an HTTP header): the value itself. */
	T_EQ_STR(render("Bearer {{ params.pw2 }}", 0, NULL, NULL),
	    "Bearer hunter2");
	T_EQ_STR(render("{{ params.pw | urlencode }}", 0, NULL, NULL),
	    "s3cr%27et%20pw");
}

void
test_template_template__unknown_and_null(void)
{
	unsigned flags = 0;

	T_EQ_STR(render("grep x {{ steps.later.stdout }}", RB_TMPL_SHELL, NULL,
	    &flags), "grep x <runtime:steps.later.stdout>");
	T_ASSERT(flags & RB_VALUE_RUNTIME);
	T_EQ_STR(render("{{ steps.later.stdout | trim | default('x') | raw }}",
	    RB_TMPL_SHELL, NULL, NULL), "<runtime:steps.later.stdout>");
	T_EQ_STR(render("[{{ env.UNSET }}]", 0, NULL, &flags), "[]");
	T_EQ_INT(flags, 0);
	T_EQ_STR(render("echo {{ env.UNSET }}", RB_TMPL_SHELL, NULL, NULL),
	    "echo ''");
	T_EQ_STR(render("echo {{ env.UNSET | raw }}.", RB_TMPL_SHELL, NULL,
	    NULL), "echo .");
}

void
test_template_template__filters(void)
{
	T_EQ_STR(render("{{ env.UNSET | default(\"x\") }}", 0, NULL, NULL),
	    "x");
	T_EQ_STR(render("{{ params.empty | default('x') }}", 0, NULL, NULL),
	    "x");
	T_EQ_STR(render("{{ params.host | default('x') }}", 0, NULL, NULL),
	    "db1");
	T_EQ_STR(render("{{ env.UNSET | default(5) }}", 0, NULL, NULL), "5");
	T_EQ_STR(render("{{ params.mixed | lower }}", 0, NULL, NULL),
	    "  hello world \n");
	T_EQ_STR(render("{{ params.mixed | upper }}", 0, NULL, NULL),
	    "  HELLO WORLD \n");
	T_EQ_STR(render("[{{ params.mixed | trim }}]", 0, NULL, NULL),
	    "[Hello World]");
	T_EQ_STR(render("[{{ params.empty | trim }}]", 0, NULL, NULL), "[]");
	T_EQ_STR(render("{{ params.nl | json }}", 0, NULL, NULL),
	    "\"a\\nb`id` $HOME \\\"q\\\" \\\\ *\"");
	T_EQ_STR(render("{{ steps.a.exit_code | json }}", 0, NULL, NULL),
	    "\"3\"");
	T_EQ_STR(render("{{ params.evil | urlencode }}", 0, NULL, NULL),
	    "x%27%3B%20touch%20%2Ftmp%2Fpwned%3B%20echo%20%27%24%28id%29");
	T_EQ_STR(render("{{ 'caf\xc3\xa9 a-b_c.d~' | urlencode }}", 0, NULL,
	    NULL), "caf%C3%A9%20a-b_c.d~");
	T_EQ_STR(render("{{ params.host | upper() }}", 0, NULL, NULL), "DB1");
	T_EQ_STR(render("{{ params.host | upper | json }}", 0, NULL, NULL),
	    "\"DB1\"");
	T_EQ_STR(render("{{ steps.a.stdout | trim | lower | host }}", 0, NULL,
	    NULL), "db1");
	/* json then shell quoting: both layers apply. */
	T_EQ_STR(render("curl -d {{ params.evil | json }}", RB_TMPL_SHELL,
	    NULL, NULL),
	    "curl -d '\"x'\\''; touch /tmp/pwned; echo '\\''$(id)\"'");
	T_EQ_STR(render("{{ env.UNSET | default('a b') }}", RB_TMPL_SHELL,
	    NULL, NULL), "'a b'");
}

void
test_template_template__filter_host(void)
{
	struct rb_tmpl *t = NULL;
	struct rb_buf out = RB_BUF_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_tmpl_ctx ctx = { lookup, NULL, 0, NULL };
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "db1:9100", "db1" },
		{ "db1", "db1" },
		{ "10.0.0.1:5432", "10.0.0.1" },
		{ "[::1]:9100", "::1" },
		{ "[fe80::1]", "fe80::1" },
		{ "fe80::1", "fe80::1" },
		{ "::1", "::1" },
		{ "db1:http", "db1:http" },
		{ "db1:", "db1:" },
		{ "[::1]x", "[::1]x" },
		{ "[::1", "[::1" },
		{ "", "" },
	};
	size_t i;
	char src[128];

	for (i = 0; i < RB_ARRAY_SIZE(cases); i++) {
		snprintf(src, sizeof(src), "{{ '%s' | host }}", cases[i].in);
		T_EQ_INT(rb_tmpl_parse(&t, src, strlen(src), NULL, NULL), 0);
		rb_buf_reset(&out);
		T_EQ_INT(rb_tmpl_render(&out, t, &ctx, NULL, &err), 0);
		T_EQ_STR(out.buf, cases[i].out);
		rb_tmpl_free(t);
		t = NULL;
	}
	rb_buf_release(&out);
	T_EQ_STR(render("{{ alert.labels.instance | host }}", RB_TMPL_SHELL,
	    NULL, NULL), "'db1'");
}

void
test_template_template__taint_survives(void)
{
	unsigned flags = 0;

	T_ASSERT(render("{{ steps.a.stdout | trim | lower | host | json | "
	    "urlencode | upper | default('x') | raw }}", 0, NULL, &flags) !=
	    NULL);
	T_EQ_INT(flags, RB_VALUE_TAINTED);
	T_ASSERT(render("{{ params.host }} {{ alert.labels.instance | "
	    "host }}", 0, NULL, &flags) != NULL);
	T_EQ_INT(flags, RB_VALUE_TAINTED);
	T_ASSERT(render("{{ params.host }}", 0, NULL, &flags) != NULL);
	T_EQ_INT(flags, 0);
	T_ASSERT(render("{{ params.host == alert.labels.instance }}", 0, NULL,
	    &flags) != NULL);
	T_EQ_INT(flags, RB_VALUE_TAINTED);
}

void
test_template_template__parse_errors(void)
{
	T_ASSERT(parse_fails("echo {{ params.x"));
	T_EQ_STR(first.msg, "unterminated '{{'");
	T_ASSERT(first.hint != NULL);
	T_ASSERT(parse_fails("echo {{ }}"));
	T_EQ_STR(first.msg, "empty expression in '{{ }}'");
	T_ASSERT(parse_fails("echo {{}}"));
	T_ASSERT(parse_fails("{{ params.host | lowr }}"));
	T_EQ_STR(first.msg, "unknown filter 'lowr' (did you mean 'lower'?)");
	T_ASSERT(parse_fails("{{ params.host | zzzzzzzz }}"));
	T_EQ_STR(first.msg, "unknown filter 'zzzzzzzz'");
	T_CONTAINS(first.hint, "urlencode");
	T_ASSERT(parse_fails("{{ params.host | default }}"));
	T_EQ_STR(first.msg, "filter 'default' takes one argument, given 0");
	T_ASSERT(parse_fails("{{ params.host | default() }}"));
	T_ASSERT(parse_fails("{{ params.host | default('a', 'b') }}"));
	T_EQ_STR(first.msg, "filter 'default' takes one argument, given 2");
	T_ASSERT(parse_fails("{{ params.host | default(params.port) }}"));
	T_EQ_STR(first.msg, "the argument of filter 'default' must be a "
	    "string or a number, found 'params.port'");
	T_ASSERT(parse_fails("{{ params.host | default(true) }}"));
	T_ASSERT(parse_fails("{{ params.host | default('a' 'b') }}"));
	T_EQ_STR(first.msg, "expected ',' or ')' in the arguments of filter "
	    "'default', found 'b'");
	T_ASSERT(parse_fails("{{ params.host | lower(1) }}"));
	T_EQ_STR(first.msg, "filter 'lower' takes no arguments");
	T_EQ_INT(first.col, 31);
	T_ASSERT(parse_fails("{{ params.host | }}"));
	T_EQ_STR(first.msg, "expected a filter name after '|', found '}}'");
	T_ASSERT(parse_fails("{{ params.host | 'x' }}"));
	T_ASSERT(parse_fails("{{ params.host params.port }}"));
	T_EQ_STR(first.msg, "expected an operator, '|' or '}}' after "
	    "'params.host', found 'params.port'");
	T_ASSERT(parse_fails("{{ params.host | raw raw }}"));
	T_EQ_STR(first.msg, "expected '|' or '}}' after 'raw', found 'raw'");
	T_ASSERT(parse_fails("{{ params.host | raw"));
	T_EQ_STR(first.msg, "unterminated '{{'");
	T_ASSERT(parse_fails("{{ params.host ) }}"));
	T_EQ_STR(first.msg, "unmatched ')'");
	T_ASSERT(parse_fails("{{ 'abc }}"));
	T_ASSERT(parse_fails("{{ { }}"));
	T_EQ_STR(first.msg, "unexpected character '{'");
	/* Every bad substitution is reported, not only the first. */
	T_ASSERT(parse_fails("{{ a | lowr }} ok {{ b }} {{ }} {{ c | uper }}"));
	T_EQ_INT(ndiags, 3);
	reset_first();
}

void
test_template_template__parse_errors_located(void)
{
	/* The template starts at 4:9. */
	T_ASSERT(parse_fails("echo {{ params.x"));
	T_EQ_INT(first.line, 4);
	T_EQ_INT(first.col, 14);
	T_ASSERT(parse_fails("a\n  {{ bad | nope }}"));
	T_EQ_INT(first.line, 5);
	T_EQ_INT(first.col, 12);
	T_ASSERT(parse_fails("x {{ a => 1 }}"));
	T_EQ_INT(first.line, 4);
	T_EQ_INT(first.col, 16);
	T_CONTAINS(first.msg, "did you mean '>='?");
	T_ASSERT(parse_fails("{{ a }}\n{{ a | default('x', }}"));
	T_EQ_INT(first.line, 5);
	T_EQ_INT(first.col, 21);
	T_ASSERT(parse_fails("{{ a }}\n\n{{ }}"));
	T_EQ_INT(first.line, 6);
	T_EQ_INT(first.col, 1);
	reset_first();
}

void
test_template_template__check(void)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct resolve_log log;
	struct rb_loc loc = { "rb.yaml", 2, 5 };
	struct rb_tmpl *t = NULL;
	const char *src;

	memset(&log, 0, sizeof(log));
	log.diags = &d;
	src = "echo {{ params.host | raw }}";
	T_EQ_INT(rb_tmpl_parse(&t, src, strlen(src), &loc, &d), 0);
	T_EQ_INT(rb_tmpl_check(t, resolve, &log, &d), 0);
	T_EQ_INT(log.calls, 1);
	T_ASSERT(log.raw && !log.has_default);
	T_EQ_INT(log.line, 2);
	T_EQ_INT(log.col, 13);
	rb_tmpl_free(t);

	src = "{{ env.UNSET | default('x') | lower }}";
	T_EQ_INT(rb_tmpl_parse(&t, src, strlen(src), &loc, &d), 0);
	T_EQ_INT(rb_tmpl_check(t, resolve, &log, &d), 0);
	T_ASSERT(!log.raw && log.has_default);
	rb_tmpl_free(t);

	/* Unknown names and type errors, each located. */
	src = "{{ params.nope }} {{ steps.a.ok | upper }} "
	    "{{ steps.a.ok > 1 }} {{ steps.a.ok | json | upper }}";
	T_EQ_INT(rb_tmpl_parse(&t, src, strlen(src), &loc, &d), 0);
	T_EQ_INT(rb_tmpl_check(t, resolve, &log, &d), RB_EINVAL);
	T_EQ_INT(d.nr, 3);
	T_EQ_STR(d.v[0].msg, "unknown name");
	T_EQ_INT(d.v[0].col, 8);
	T_EQ_STR(d.v[1].msg, "filter 'upper' needs text, not a boolean");
	T_EQ_INT(d.v[1].col, 39);
	T_EQ_STR(d.v[2].msg, "cannot compare a boolean with '>'");
	rb_tmpl_free(t);
	rb_diags_release(&d);
}

void
test_template_template__render_error_rollback(void)
{
	struct rb_tmpl *t = NULL;
	struct rb_buf out = RB_BUF_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_strvec env = RB_STRVEC_INIT;
	struct rb_tmpl_ctx ctx = { lookup, NULL, RB_TMPL_SHELL, &env };
	const char *src = "a {{ params.pw }} b {{ params.nope }}";

	rb_strvec_push(&env, "KEEP=1");
	rb_buf_adds(&out, "prefix:");
	T_EQ_INT(rb_tmpl_parse(&t, src, strlen(src), NULL, NULL), 0);
	T_EQ_INT(rb_tmpl_render(&out, t, &ctx, NULL, &err), RB_EINVAL);
	T_CONTAINS(err.msg, "unknown name 'params.nope'");
	/* Nothing half-rendered, no secret left in the environment. */
	T_EQ_STR(out.buf, "prefix:");
	T_EQ_INT(env.nr, 1);
	T_EQ_STR(env.v[0], "KEEP=1");
	rb_tmpl_free(t);
	t = NULL;

	/* A capped output buffer gives RB_ETOOBIG. */
	rb_buf_setcap(&out, 10);
	src = "{{ params.evil }}";
	T_EQ_INT(rb_tmpl_parse(&t, src, strlen(src), NULL, NULL), 0);
	T_EQ_INT(rb_tmpl_render(&out, t, &ctx, NULL, &err), RB_ETOOBIG);
	T_CONTAINS(err.msg, "too long");
	T_EQ_STR(out.buf, "prefix:");
	rb_tmpl_free(t);
	rb_buf_release(&out);
	rb_strvec_release_secret(&env);
}

void
test_template_template__expressions(void)
{
	/* A substitution is a full expression; '|' vs '||' is told apart. */
	T_EQ_STR(render("{{ steps.a.exit_code > 2 || false }}", 0, NULL, NULL),
	    "true");
	T_EQ_STR(render("{{ steps.a.exit_code > 2||false | json }}", 0, NULL,
	    NULL), "\"true\"");
	T_EQ_STR(render("{{ (params.host == 'db1') && !steps.a.ok }}",
	    RB_TMPL_SHELL, NULL, NULL), "'false'");
	T_EQ_STR(render("{{ 'x' =~ '/X/i' }}", 0, NULL, NULL), "true");
	T_EQ_STR(render("{{ 42 }}{{ null }}{{ 'lit' }}", 0, NULL, NULL),
	    "42lit");
}
