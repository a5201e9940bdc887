/*
 * fuzz_template.c - libFuzzer target for `{{ expr | filter }}` templates:
 * parse arbitrary bytes, then check and render what parses in every mode
 * (shell with a secret environment, shell without one, masked, plain).
 * Invariants: no crash, no leak, and outside plain mode a secret value never
 * reaches the rendered text.  Literal text may spell the secret out, even in
 * pieces around expressions that render empty ("Zq7{{ null }}-secret-Xk9"),
 * so a leak is judged by rendering again with another secret value: if the
 * secret still appears, the template's own text made it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runbook/diag.h"
#include "runbook/error.h"
#include "runbook/strvec.h"
#include "runbook/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "Zq7-secret-Xk9"
#define SECRET2 "Wm4-hidden-Pv2"

static const struct {
	const char *name;
	enum rb_value_type type;
	const char *s;
	unsigned flags;
} scope[] = {
	{ "params.host", RB_VAL_STR, "db1", 0 },
	{ "params.port", RB_VAL_STR, "5432", 0 },
	{ "params.evil", RB_VAL_STR, "x'; touch /tmp/pwned; echo '$(id) {{ "
	    "env.HOME }}", 0 },
	{ "params.pw", RB_VAL_STR, SECRET, RB_VALUE_SECRET },
	{ "params.pw2", RB_VAL_STR, SECRET2, RB_VALUE_SECRET },
	{ "params.empty", RB_VAL_STR, "", 0 },
	{ "env.UNSET", RB_VAL_NULL, NULL, 0 },
	{ "env.HOME", RB_VAL_STR, "/home/ops", 0 },
	{ "steps.a.ok", RB_VAL_BOOL, "1", 0 },
	{ "steps.a.exit_code", RB_VAL_NUM, "3", 0 },
	{ "steps.a.stdout", RB_VAL_STR, " DB1:5432\n", RB_VALUE_TAINTED },
	{ "steps.b.stdout", RB_VAL_UNKNOWN, NULL, 0 },
	{ "alert.labels.instance", RB_VAL_STR, "[::1]:9100", RB_VALUE_TAINTED },
};

static int
find(const char *const *path, size_t npath)
{
	char name[128];
	size_t i, used = 0, n;

	for (i = 0; i < npath; i++) {
		n = strlen(path[i]);
		if (used + n + 2 > sizeof(name))
			return -1;
		if (i > 0)
			name[used++] = '.';
		memcpy(name + used, path[i], n);
		used += n;
	}
	name[used] = '\0';
	for (i = 0; i < sizeof(scope) / sizeof(scope[0]); i++)
		if (strcmp(scope[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int
lookup(struct rb_value *out, const char *const *path, size_t npath,
    void *payload)
{
	int i = find(path, npath);

	if (i < 0)
		return RB_ENOTFOUND;
	/* With a payload, params.pw takes the other secret's value. */
	if (payload != NULL && strcmp(scope[i].name, "params.pw") == 0)
		i = find((const char *const[]){ "params", "pw2" }, 2);
	switch (scope[i].type) {
	case RB_VAL_STR:
		rb_value_set_str(out, scope[i].s, strlen(scope[i].s),
		    scope[i].flags);
		break;
	case RB_VAL_NUM:
		rb_value_set_num(out, scope[i].s[0] - '0');
		break;
	case RB_VAL_BOOL:
		rb_value_set_bool(out, scope[i].s[0] == '1');
		break;
	case RB_VAL_UNKNOWN:
		rb_value_set_unknown(out, scope[i].name);
		break;
	default:
		rb_value_set_null(out);
		break;
	}
	return 0;
}

static int
resolve(enum rb_type *out, const struct rb_name_ref *ref, void *payload)
{
	struct rb_diags *d = payload;
	int i = find(ref->path, ref->npath);

	if (i < 0) {
		rb_diag_error(d, &ref->loc, "unknown name");
		return RB_ENOTFOUND;
	}
	*out = scope[i].type == RB_VAL_BOOL ? RB_TYPE_BOOL :
	    scope[i].type == RB_VAL_NUM ? RB_TYPE_NUM :
	    scope[i].type == RB_VAL_STR ? RB_TYPE_STR : RB_TYPE_ANY;
	return 0;
}

/* True when s (len bytes) contains the secret, ignoring case. */
static int
has_secret(const char *s, size_t len)
{
	size_t n = strlen(SECRET), i;

	for (i = 0; i + n <= len; i++)
		if (strncasecmp(s + i, SECRET, n) == 0)
			return 1;
	return 0;
}

/*
 * True when rendering in mode with params.pw set to another secret value no
 * longer shows SECRET: then it came from the secret, not from the template's
 * own text.
 */
static int
leaked(const struct rb_tmpl *t, unsigned mode, int with_env)
{
	int other = 1;
	struct rb_strvec env = RB_STRVEC_INIT;
	struct rb_tmpl_ctx ctx = { lookup, &other, mode,
	    with_env ? &env : NULL };
	struct rb_buf out = RB_BUF_INIT;
	struct rb_error err = RB_ERROR_INIT;
	unsigned flags = 0;
	int r;

	r = rb_tmpl_render(&out, t, &ctx, &flags, &err) == 0 &&
	    !has_secret(out.buf, out.len);
	rb_buf_release_secret(&out);
	rb_strvec_release_secret(&env);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned modes[] = { RB_TMPL_SHELL, RB_TMPL_SHELL,
	    RB_TMPL_MASK, RB_TMPL_SHELL | RB_TMPL_MASK, 0 };
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_loc loc = { "fuzz.yaml", 7, 5 };
	struct rb_tmpl *t = NULL;
	struct rb_buf out = RB_BUF_INIT;
	struct rb_strvec env = RB_STRVEC_INIT;
	struct rb_error err = RB_ERROR_INIT;
	size_t i;

	if (rb_tmpl_parse(&t, (const char *)data, size, &loc, &d) != 0) {
		if (d.nerrors == 0 || t != NULL)
			abort();
		goto out;
	}
	(void)rb_tmpl_check(t, resolve, &d, &d);
	(void)rb_tmpl_is_literal(t);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct rb_tmpl_ctx ctx = { lookup, NULL, modes[i],
		    i == 0 ? &env : NULL };
		unsigned flags = 0;
		size_t before = env.nr;
		int r;

		rb_buf_reset(&out);
		r = rb_tmpl_render(&out, t, &ctx, &flags, &err);
		if (r != 0) {
			if (err.msg[0] == '\0' || out.len != 0 ||
			    env.nr != before)
				abort();
			continue;
		}
		if (modes[i] != 0 && has_secret(out.buf, out.len) &&
		    leaked(t, modes[i], i == 0))
			abort();
		if (rb_tmpl_is_literal(t) &&
		    strcmp(out.buf, rb_tmpl_source(t)) != 0 &&
		    memchr(data, '\0', size) == NULL)
			abort();
	}
out:
	rb_diags_format(&out, &d);
	rb_buf_release_secret(&out);
	rb_strvec_release_secret(&env);
	rb_tmpl_free(t);
	rb_diags_release(&d);
	return 0;
}
