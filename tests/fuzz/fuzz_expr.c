/*
 * fuzz_expr.c - libFuzzer target for the `when`/`until` expression language:
 * parse arbitrary bytes, then check and evaluate what parses against a scope
 * with strings, numbers, booleans, nulls, secrets, tainted text and unknown
 * (plan-time) values. Invariants: no crash, no leak, every failure comes
 * with a message, and a secret never appears in an error message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/diag.h"
#include "runbook/error.h"
#include "runbook/expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "Zq7-secret-Xk9"

/* The scope: names by their dotted form. */
static const struct {
	const char *name;
	enum rb_value_type type;
	const char *s;
	unsigned flags;
} scope[] = {
	{ "params.host", RB_VAL_STR, "db1", 0 },
	{ "params.port", RB_VAL_STR, "5432", 0 },
	{ "params.pw", RB_VAL_STR, SECRET, RB_VALUE_SECRET },
	{ "params.empty", RB_VAL_STR, "", 0 },
	{ "env.UNSET", RB_VAL_NULL, NULL, 0 },
	{ "env.HOME", RB_VAL_STR, "/home/ops", 0 },
	{ "steps.a.ok", RB_VAL_BOOL, "1", 0 },
	{ "steps.a.failed", RB_VAL_BOOL, "0", 0 },
	{ "steps.a.exit_code", RB_VAL_NUM, "3", 0 },
	{ "steps.a.stdout", RB_VAL_STR, "accepting connections\nload 3.25\n",
	    RB_VALUE_TAINTED },
	{ "steps.a.vars.load", RB_VAL_STR, "3.25", RB_VALUE_TAINTED },
	{ "steps.b.ok", RB_VAL_UNKNOWN, NULL, 0 },
	{ "steps.b.stdout", RB_VAL_UNKNOWN, NULL, 0 },
	{ "alert.labels.instance", RB_VAL_STR, "db1:9100", RB_VALUE_TAINTED },
};

/* The index of path in scope, or -1. */
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

	(void)payload;
	if (i < 0)
		return RB_ENOTFOUND;
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_loc loc = { "fuzz.yaml", 3, 9 };
	struct rb_expr *e = NULL;
	struct rb_value v = RB_VALUE_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_buf text = RB_BUF_INIT;
	int r;

	if (rb_expr_parse(&e, (const char *)data, size, &loc, &d) != 0) {
		if (d.nerrors == 0 || e != NULL)
			abort();
		goto out;
	}
	(void)rb_expr_check(e, resolve, &d, &d);
	r = rb_expr_eval(&v, e, lookup, NULL, &err);
	if (r != 0) {
		if (err.msg[0] == '\0' || v.type != RB_VAL_NULL)
			abort();
		if (strstr(err.msg, SECRET) != NULL &&
		    memmem(data, size, SECRET, strlen(SECRET)) == NULL)
			abort();
	} else {
		(void)rb_value_truthy(&v);
		rb_value_to_buf(&text, &v);
	}
out:
	rb_diags_format(&text, &d);
	rb_buf_release(&text);
	rb_value_release(&v);
	rb_expr_free(e);
	rb_diags_release(&d);
	return 0;
}
