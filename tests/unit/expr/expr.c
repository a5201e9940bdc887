/* Unit tests for expr/: values, parsing with located errors, checking and
 * evaluation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "runbook/diag.h"
#include "runbook/error.h"
#include "runbook/expr.h"
#include "runbook/util.h"

void test_expr_expr__values(void);
void test_expr_expr__precedence(void);
void test_expr_expr__operators(void);
void test_expr_expr__numeric_coercion(void);
void test_expr_expr__eval_type_errors(void);
void test_expr_expr__unknown_propagation(void);
void test_expr_expr__flags_propagate(void);
void test_expr_expr__located_errors(void);
void test_expr_expr__located_multiline(void);
void test_expr_expr__located_regex(void);
void test_expr_expr__deep_nesting(void);
void test_expr_expr__long_chains(void);
void test_expr_expr__redos_bound(void);
void test_expr_expr__check_names(void);
void test_expr_expr__check_types(void);
void test_expr_expr__strings(void);
void test_expr_expr__names(void);

/* ---- a tiny scope for the tests ---- */

static char *redos_subject;

struct fake {
	const char *name;
	enum rb_value_type type;
	const char *s;
	double num;
	unsigned flags;
};

static const struct fake fakes[] = {
	{ "params.host", RB_VAL_STR, "db1", 0, 0 },
	{ "params.port", RB_VAL_STR, "5432", 0, 0 },
	{ "params.pw", RB_VAL_STR, "s3cr'et", 0, RB_VALUE_SECRET },
	{ "params.empty", RB_VAL_STR, "", 0, 0 },
	{ "steps.db-ready.ok", RB_VAL_BOOL, NULL, 1, 0 },
	{ "steps.db-ready.failed", RB_VAL_BOOL, NULL, 0, 0 },
	{ "steps.db-ready.exit_code", RB_VAL_NUM, NULL, 2, 0 },
	{ "steps.db-ready.stdout", RB_VAL_STR, "accepting connections\n", 0,
	    RB_VALUE_TAINTED },
	{ "steps.db-ready.vars.load", RB_VAL_STR, "3.25", 0,
	    RB_VALUE_TAINTED },
	{ "steps.later.ok", RB_VAL_UNKNOWN, NULL, 0, 0 },
	{ "steps.later.stdout", RB_VAL_UNKNOWN, NULL, 0, 0 },
	{ "steps.0db.ok", RB_VAL_BOOL, NULL, 1, 0 },
	{ "env.UNSET", RB_VAL_NULL, NULL, 0, 0 },
	{ "alert.labels.instance", RB_VAL_STR, "db1:9100", 0,
	    RB_VALUE_TAINTED },
	{ "redos.subject", RB_VAL_STR, NULL, 0, 0 },
};

static void
join(char *out, size_t outsz, const char *const *path, size_t npath)
{
	size_t i, used = 0;

	out[0] = '\0';
	for (i = 0; i < npath && used < outsz; i++)
		used += (size_t)snprintf(out + used, outsz - used, "%s%s",
		    i ? "." : "", path[i]);
}

static const struct fake *
find_fake(const char *const *path, size_t npath)
{
	char name[256];
	size_t i;

	join(name, sizeof(name), path, npath);
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
		if (f->s == NULL)
			rb_value_set_str(out, redos_subject,
			    strlen(redos_subject), f->flags);
		else
			rb_value_set_str(out, f->s, strlen(f->s), f->flags);
		break;
	case RB_VAL_BOOL:
		rb_value_set_bool(out, f->num != 0);
		break;
	case RB_VAL_NUM:
		rb_value_set_num(out, f->num);
		break;
	case RB_VAL_UNKNOWN:
		rb_value_set_unknown(out, f->name);
		break;
	default:
		rb_value_set_null(out);
		break;
	}
	return 0;
}

struct resolve_log {
	struct rb_diags *diags;
	int calls;
};

static int
resolve(enum rb_type *out, const struct rb_name_ref *ref, void *payload)
{
	struct resolve_log *log = payload;
	const struct fake *f = find_fake(ref->path, ref->npath);
	char name[256];

	log->calls++;
	if (f == NULL) {
		join(name, sizeof(name), ref->path, ref->npath);
		rb_diag_error(log->diags, &ref->loc, "unknown name '%s'", name);
		return RB_ENOTFOUND;
	}
	*out = f->type == RB_VAL_BOOL ? RB_TYPE_BOOL : f->type == RB_VAL_NUM ?
	    RB_TYPE_NUM : f->type == RB_VAL_STR ? RB_TYPE_STR : RB_TYPE_ANY;
	return 0;
}

/* Parse and evaluate src; returns the eval code, or 100 on parse error. */
static int
eval_str(struct rb_value *out, const char *src, struct rb_error *err)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_loc loc = { "t.yaml", 1, 1 };
	struct rb_expr *e = NULL;
	int r;

	if (rb_expr_parse(&e, src, strlen(src), &loc, &d) != 0) {
		if (d.nr > 0)
			fprintf(stderr, "  parse '%s': %d:%d: %s\n", src,
			    d.v[0].line, d.v[0].col, d.v[0].msg);
		rb_diags_release(&d);
		return 100;
	}
	r = rb_expr_eval(out, e, lookup, NULL, err);
	rb_expr_free(e);
	rb_diags_release(&d);
	return r;
}

/* 1 for true, 0 for false, -1 unknown, -2 not a boolean, -3 error. */
static int
truth(const char *src)
{
	struct rb_value v = RB_VALUE_INIT;
	struct rb_error err = RB_ERROR_INIT;
	int r;

	if (eval_str(&v, src, &err) != 0) {
		rb_value_release(&v);
		return -3;
	}
	r = v.type == RB_VAL_BOOL ? v.b : v.type == RB_VAL_UNKNOWN ? -1 : -2;
	rb_value_release(&v);
	return r;
}

/*
 * Parse src at 5:11 of rb.yaml and expect exactly one error at line:col
 * whose message contains msg. Returns 1 when it matched.
 */
static int
expect_error(const char *src, int line, int col, const char *msg)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_loc loc = { "rb.yaml", 5, 11 };
	struct rb_expr *e = NULL;
	int ok;

	ok = rb_expr_parse(&e, src, strlen(src), &loc, &d) == RB_EINVAL &&
	    e == NULL && d.nr == 1 && d.nerrors == 1 &&
	    strcmp(d.v[0].file, "rb.yaml") == 0 && d.v[0].line == line &&
	    d.v[0].col == col && strstr(d.v[0].msg, msg) != NULL;
	if (!ok)
		fprintf(stderr, "  '%s': got %zu diags, first %d:%d '%s'\n",
		    src, d.nr, d.nr ? d.v[0].line : 0, d.nr ? d.v[0].col : 0,
		    d.nr ? d.v[0].msg : "");
	rb_expr_free(e);
	rb_diags_release(&d);
	return ok;
}

/* ---- tests ---- */

void
test_expr_expr__values(void)
{
	struct rb_value v = RB_VALUE_INIT;
	struct rb_buf b = RB_BUF_INIT;

	rb_value_set_num(&v, 3);
	rb_value_to_buf(&b, &v);
	T_EQ_STR(b.buf, "3");
	rb_buf_reset(&b);
	rb_value_set_num(&v, 1.5);
	rb_value_to_buf(&b, &v);
	T_EQ_STR(b.buf, "1.5");
	rb_buf_reset(&b);
	rb_value_set_num(&v, 0.1);
	rb_value_to_buf(&b, &v);
	T_EQ_STR(b.buf, "0.1");
	rb_buf_reset(&b);
	rb_value_set_num(&v, -0.0);
	rb_value_to_buf(&b, &v);
	T_EQ_STR(b.buf, "0");
	rb_buf_reset(&b);
	rb_value_set_num(&v, -42);
	rb_value_to_buf(&b, &v);
	T_EQ_STR(b.buf, "-42");
	rb_buf_reset(&b);
	rb_value_set_num(&v, 1e20);
	rb_value_to_buf(&b, &v);
	T_EQ_STR(b.buf, "1e+20");
	rb_buf_reset(&b);
	rb_value_set_bool(&v, true);
	rb_value_to_buf(&b, &v);
	T_EQ_STR(b.buf, "true");
	rb_buf_reset(&b);
	rb_value_set_null(&v);
	rb_value_to_buf(&b, &v);
	T_EQ_STR(b.buf, "");
	T_ASSERT(!rb_value_truthy(&v));
	rb_value_set_str(&v, "false", 5, 0);
	T_ASSERT(!rb_value_truthy(&v));
	rb_value_set_str(&v, "", 0, 0);
	T_ASSERT(!rb_value_truthy(&v));
	rb_value_set_str(&v, "0", 1, 0);
	T_ASSERT(rb_value_truthy(&v));
	rb_value_set_num(&v, 0);
	T_ASSERT(!rb_value_truthy(&v));
	rb_value_set_unknown(&v, "steps.a.ok");
	T_EQ_INT(v.type, RB_VAL_UNKNOWN);
	T_EQ_STR(v.str, "steps.a.ok");
	T_ASSERT(v.flags & RB_VALUE_RUNTIME);
	rb_value_set_str(&v, "pw", 2, RB_VALUE_SECRET);
	T_ASSERT(v.flags & RB_VALUE_SECRET);
	/* Setting from the value's own text must work. */
	rb_value_set_str(&v, v.str + 1, 1, 0);
	T_EQ_STR(v.str, "w");
	rb_value_release(&v);
	rb_value_release(&v);
	rb_value_release(NULL);
	rb_buf_release(&b);
}

void
test_expr_expr__precedence(void)
{
	/* && binds tighter than ||. */
	T_EQ_INT(truth("true || false && false"), 1);
	T_EQ_INT(truth("(true || false) && false"), 0);
	T_EQ_INT(truth("false && false || true"), 1);
	/* ! binds looser than comparison (grammar: not := "!" not | cmp). */
	T_EQ_INT(truth("!1 == 2"), 1);
	T_EQ_INT(truth("!false && false"), 0);
	T_EQ_INT(truth("!!true"), 1);
	T_EQ_INT(truth("!(true && false) || false"), 1);
	T_EQ_INT(truth("1 < 2 && 2 < 3 || false"), 1);
	T_EQ_INT(truth("1 == 1 && 'a' == 'b' || 2 != 2"), 0);
}

void
test_expr_expr__operators(void)
{
	T_EQ_INT(truth("1 == 1"), 1);
	T_EQ_INT(truth("1 != 1"), 0);
	T_EQ_INT(truth("1 < 2"), 1);
	T_EQ_INT(truth("2 < 2"), 0);
	T_EQ_INT(truth("2 <= 2"), 1);
	T_EQ_INT(truth("3 <= 2"), 0);
	T_EQ_INT(truth("3 > 2"), 1);
	T_EQ_INT(truth("2 > 2"), 0);
	T_EQ_INT(truth("2 >= 2"), 1);
	T_EQ_INT(truth("1 >= 2"), 0);
	T_EQ_INT(truth("-1 < 0"), 1);
	T_EQ_INT(truth("1.5e2 == 150"), 1);
	T_EQ_INT(truth("steps.db-ready.stdout =~ '/^accepting/'"), 1);
	T_EQ_INT(truth("steps.db-ready.stdout =~ '/^ACCEPTING/'"), 0);
	T_EQ_INT(truth("steps.db-ready.stdout =~ '/^ACCEPTING/i'"), 1);
	T_EQ_INT(truth("steps.db-ready.stdout !~ 'refused'"), 1);
	T_EQ_INT(truth("steps.db-ready.exit_code =~ '^[0-9]$'"), 1);
	T_EQ_INT(truth("true && true"), 1);
	T_EQ_INT(truth("true && false"), 0);
	T_EQ_INT(truth("false || false"), 0);
	T_EQ_INT(truth("false || true"), 1);
	T_EQ_INT(truth("!true"), 0);
	T_EQ_INT(truth("!steps.db-ready.failed"), 1);
	T_EQ_INT(truth("steps.db-ready.ok"), 1);
	T_EQ_INT(truth("params.host"), -2);
	T_EQ_INT(truth("steps.db-ready.ok == true"), 1);
	T_EQ_INT(truth("null == null"), 1);
	T_EQ_INT(truth("env.UNSET == null"), 1);
	/* && and || give booleans, not their operands. */
	T_EQ_INT(truth("params.host && 'x'"), 1);
	T_EQ_INT(truth("params.empty || 0"), 0);
	T_EQ_INT(truth("steps.0db.ok"), 1);
}

void
test_expr_expr__numeric_coercion(void)
{
	/* Captured text compares with numbers numerically. */
	T_EQ_INT(truth("steps.db-ready.vars.load > 3"), 1);
	T_EQ_INT(truth("steps.db-ready.vars.load < 3.5"), 1);
	T_EQ_INT(truth("params.port == 5432"), 1);
	T_EQ_INT(truth("params.port >= 1024"), 1);
	T_EQ_INT(truth("'1.0' == 1"), 1);
	T_EQ_INT(truth("steps.db-ready.exit_code == '2'"), 1);
	/* Two numeric strings order numerically, others bytewise. */
	T_EQ_INT(truth("'10' > '9'"), 1);
	T_EQ_INT(truth("'abc' < 'abd'"), 1);
	T_EQ_INT(truth("'ab' < 'abc'"), 1);
	T_EQ_INT(truth("'b' > 'abc'"), 1);
	/* == on two strings is exact text equality. */
	T_EQ_INT(truth("'01' == '1'"), 0);
	/* Mixed types compare text forms unless both are numeric. */
	T_EQ_INT(truth("true == 'true'"), 1);
	T_EQ_INT(truth("null == ''"), 1);
	T_EQ_INT(truth("null == 0"), 0);
	T_EQ_INT(truth("1 == true"), 0);
	T_EQ_INT(truth("' 7 ' == 7"), 1);
	T_EQ_INT(truth("'7x' == 7"), 0);
}

void
test_expr_expr__eval_type_errors(void)
{
	struct rb_value v = RB_VALUE_INIT;
	struct rb_error err = RB_ERROR_INIT;

	T_EQ_INT(eval_str(&v, "steps.db-ready.ok < 3", &err), RB_EINVAL);
	T_CONTAINS(err.msg, "cannot compare a boolean with '<'");
	T_CONTAINS(err.msg, "in 'steps.db-ready.ok < 3'");
	T_EQ_INT(v.type, RB_VAL_NULL);
	T_EQ_INT(eval_str(&v, "'abc' > 3", &err), RB_EINVAL);
	T_CONTAINS(err.msg, "cannot compare a number and the non-numeric "
	    "string 'abc' with '>'");
	T_EQ_INT(eval_str(&v, "3 > 'abc'", &err), RB_EINVAL);
	T_CONTAINS(err.msg, "'abc'");
	T_EQ_INT(eval_str(&v, "'abc' >= '5'", &err), RB_EINVAL);
	T_EQ_INT(eval_str(&v, "env.UNSET < 1", &err), RB_EINVAL);
	T_CONTAINS(err.msg, "cannot compare null with '<'");
	T_EQ_INT(eval_str(&v, "steps.db-ready.ok =~ 'x'", &err), RB_EINVAL);
	T_CONTAINS(err.msg, "cannot match a boolean with '=~'");
	/* A secret never appears in an error message. */
	T_EQ_INT(eval_str(&v, "params.pw > 3", &err), RB_EINVAL);
	T_CONTAINS(err.msg, "'******'");
	T_ASSERT(strstr(err.msg, "s3cr") == NULL);
	/* Unknown names are an evaluation error. */
	T_EQ_INT(eval_str(&v, "steps.nope.ok", &err), RB_EINVAL);
	T_CONTAINS(err.msg, "unknown name 'steps.nope.ok'");
	/* ...unless short-circuited away. */
	T_EQ_INT(truth("false && steps.nope.ok"), 0);
	rb_value_release(&v);
}

void
test_expr_expr__unknown_propagation(void)
{
	struct rb_value v = RB_VALUE_INIT;
	struct rb_error err = RB_ERROR_INIT;

	T_EQ_INT(eval_str(&v, "steps.later.ok", &err), 0);
	T_EQ_INT(v.type, RB_VAL_UNKNOWN);
	T_EQ_STR(v.str, "steps.later.ok");
	T_ASSERT(v.flags & RB_VALUE_RUNTIME);
	rb_value_release(&v);

	T_EQ_INT(truth("steps.later.ok && false"), 0);
	T_EQ_INT(truth("false && steps.later.ok"), 0);
	T_EQ_INT(truth("steps.later.ok || true"), 1);
	T_EQ_INT(truth("true || steps.later.ok"), 1);
	T_EQ_INT(truth("steps.later.ok && true"), -1);
	T_EQ_INT(truth("true && steps.later.ok"), -1);
	T_EQ_INT(truth("steps.later.ok || false"), -1);
	T_EQ_INT(truth("!steps.later.ok"), -1);
	T_EQ_INT(truth("steps.later.stdout == 'x'"), -1);
	T_EQ_INT(truth("3 < steps.later.stdout"), -1);
	T_EQ_INT(truth("steps.later.stdout =~ '/x/'"), -1);
	T_EQ_INT(truth("(steps.later.ok || false) && params.host == 'db1'"),
	    -1);

	/* The result names the first unknown operand. */
	T_EQ_INT(eval_str(&v, "params.host == 'db1' && steps.later.stdout "
	    "== 'x' && steps.later.ok", &err), 0);
	T_EQ_INT(v.type, RB_VAL_UNKNOWN);
	T_EQ_STR(v.str, "steps.later.stdout");
	rb_value_release(&v);

	/* A decided result is known, so not marked as runtime. */
	T_EQ_INT(eval_str(&v, "steps.later.ok && false", &err), 0);
	T_EQ_INT(v.type, RB_VAL_BOOL);
	T_ASSERT(!(v.flags & RB_VALUE_RUNTIME));
	rb_value_release(&v);
}

void
test_expr_expr__flags_propagate(void)
{
	struct rb_value v = RB_VALUE_INIT;
	struct rb_error err = RB_ERROR_INIT;

	T_EQ_INT(eval_str(&v, "params.pw == 'x'", &err), 0);
	T_EQ_INT(v.type, RB_VAL_BOOL);
	T_ASSERT(v.flags & RB_VALUE_SECRET);
	rb_value_release(&v);
	T_EQ_INT(eval_str(&v, "steps.db-ready.stdout =~ '/accepting/'", &err),
	    0);
	T_ASSERT(v.flags & RB_VALUE_TAINTED);
	rb_value_release(&v);
	T_EQ_INT(eval_str(&v, "!(alert.labels.instance == 'x')", &err), 0);
	T_ASSERT(v.flags & RB_VALUE_TAINTED);
	rb_value_release(&v);
	T_EQ_INT(eval_str(&v, "true && steps.db-ready.vars.load > 1", &err),
	    0);
	T_ASSERT(v.flags & RB_VALUE_TAINTED);
	rb_value_release(&v);
	T_EQ_INT(eval_str(&v, "params.pw", &err), 0);
	T_EQ_INT(v.type, RB_VAL_STR);
	T_ASSERT(v.flags & RB_VALUE_SECRET);
	rb_value_release(&v);
	T_EQ_INT(eval_str(&v, "1 == 1", &err), 0);
	T_EQ_INT(v.flags, 0);
	rb_value_release(&v);
}

void
test_expr_expr__located_errors(void)
{
	/* The source starts at 5:11; each error points at its token. */
	T_ASSERT(expect_error("params.a => 3", 5, 20,
	    "unknown operator '=>' (did you mean '>='?)"));
	T_ASSERT(expect_error("params.a =< 3", 5, 20,
	    "unknown operator '=<' (did you mean '<='?)"));
	T_ASSERT(expect_error("params.a = 3", 5, 20,
	    "unknown operator '=' (did you mean '=='?)"));
	T_ASSERT(expect_error("params.a === 3", 5, 20,
	    "unknown operator '===' (did you mean '=='?)"));
	T_ASSERT(expect_error("a <> b", 5, 13,
	    "unknown operator '<>' (did you mean '!='?)"));
	T_ASSERT(expect_error("a & b", 5, 13,
	    "unknown operator '&' (did you mean '&&'?)"));
	T_ASSERT(expect_error("a | b", 5, 13,
	    "unknown operator '|' (did you mean '||'?)"));
	T_ASSERT(expect_error("a ~ 'x'", 5, 13,
	    "unknown operator '~' (did you mean '=~'?)"));
	T_ASSERT(expect_error("a and b", 5, 13,
	    "unknown operator 'and' (did you mean '&&'?)"));
	T_ASSERT(expect_error("a or b", 5, 13,
	    "unknown operator 'or' (did you mean '||'?)"));
	T_ASSERT(expect_error("not a", 5, 11,
	    "unknown operator 'not' (did you mean '!'?)"));
	T_ASSERT(expect_error("(a == 1", 5, 18,
	    "expected ')' after '(' at 5:11, found end of expression"));
	T_ASSERT(expect_error("(a == 1 b", 5, 19,
	    "expected ')' after '(' at 5:11, found 'b'"));
	T_ASSERT(expect_error("a == 1)", 5, 17, "unmatched ')'"));
	T_ASSERT(expect_error("a b", 5, 13,
	    "expected an operator after 'a', found 'b'"));
	T_ASSERT(expect_error("a == b == c", 5, 18,
	    "unexpected '==' after a comparison"));
	T_ASSERT(expect_error("a ==", 5, 15,
	    "expected a value after '==', found end of expression"));
	T_ASSERT(expect_error("a && || b", 5, 16,
	    "expected a value after '&&', found '||'"));
	T_ASSERT(expect_error("()", 5, 12,
	    "expected a value after '(', found ')'"));
	T_ASSERT(expect_error("", 5, 11, "empty expression"));
	T_ASSERT(expect_error("   ", 5, 14, "empty expression"));
	T_ASSERT(expect_error("== 1", 5, 11, "expected a value, found '=='"));
	T_ASSERT(expect_error("steps. == 1", 5, 17,
	    "expected a name after '.' in 'steps.'"));
	T_ASSERT(expect_error("steps.a. == 1", 5, 19,
	    "expected a name after '.'"));
	T_ASSERT(expect_error("a == 'abc", 5, 16,
	    "unterminated string: no closing \"'\""));
	T_ASSERT(expect_error("a == \"abc", 5, 16,
	    "unterminated string: no closing '\"'"));
	T_ASSERT(expect_error("a == 12abc", 5, 16, "invalid number '12abc'"));
	T_ASSERT(expect_error("a == 1.2.3", 5, 16, "invalid number '1.2.3'"));
	T_ASSERT(expect_error("a == 1e999", 5, 16,
	    "number '1e999' is out of range"));
	T_ASSERT(expect_error("a == #", 5, 16, "unexpected character '#'"));
	T_ASSERT(expect_error("a == }}", 5, 16, "unexpected character '}'"));
	T_ASSERT(expect_error("a == \x01", 5, 16, "unexpected byte 0x01"));
	T_ASSERT(expect_error("a =~ b", 5, 16,
	    "expected a string literal regex after '=~', found 'b'"));
	T_ASSERT(expect_error("a !~ 3", 5, 16,
	    "expected a string literal regex after '!~', found '3'"));
	/* Columns count characters, not UTF-8 bytes. */
	T_ASSERT(expect_error("'\xc3\xa9t\xc3\xa9' == a b", 5, 22,
	    "expected an operator after 'a', found 'b'"));
}

void
test_expr_expr__located_multiline(void)
{
	/* A folded YAML scalar: newlines advance the line, column resets. */
	T_ASSERT(expect_error("a == 1 &&\n  (b ==)", 6, 8,
	    "expected a value after '==', found ')'"));
	T_ASSERT(expect_error("a == 1 &&\n\n    b => 2", 7, 7,
	    "unknown operator '=>'"));
	T_ASSERT(expect_error("(a ||\n b", 6, 3,
	    "expected ')' after '(' at 5:11, found end of expression"));
	T_ASSERT(expect_error("a == 'x\ny' b", 6, 4,
	    "expected an operator after"));
}

void
test_expr_expr__located_regex(void)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_loc loc = { "rb.yaml", 3, 9 };
	struct rb_expr *e = NULL;
	const char *src = "steps.a.stdout =~ '/ab(c/'";

	T_EQ_INT(rb_expr_parse(&e, src, strlen(src), &loc, &d), RB_EINVAL);
	T_EQ_INT(d.nr, 1);
	T_EQ_INT(d.v[0].line, 3);
	/* The quote is at col 27; offset 5 in the pattern is its '/'. */
	T_EQ_INT(d.v[0].col, 33);
	T_CONTAINS(d.v[0].msg, "invalid regex '/ab(c/'");
	T_CONTAINS(d.v[0].msg, "at offset 5");
	rb_diags_release(&d);

	src = "x =~ '/a/q'";
	T_EQ_INT(rb_expr_parse(&e, src, strlen(src), &loc, &d), RB_EINVAL);
	T_EQ_INT(d.v[0].col, 18);
	T_CONTAINS(d.v[0].msg, "unknown regex flag 'q'");
	T_ASSERT(d.v[0].hint != NULL);
	rb_diags_release(&d);
}

void
test_expr_expr__deep_nesting(void)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_loc loc = { "rb.yaml", 1, 1 };
	struct rb_expr *e = NULL;
	struct rb_value v = RB_VALUE_INIT;
	struct rb_error err = RB_ERROR_INIT;
	size_t n = 100000, i;
	char *s = malloc(2 * n + 8);
	int64_t t0 = rb_now_ms();

	T_ASSERT(s != NULL);
	/* 200 levels are fine... */
	for (i = 0; i < 200; i++)
		s[i] = '(';
	s[200] = '1';
	for (i = 0; i < 200; i++)
		s[201 + i] = ')';
	s[401] = '\0';
	T_EQ_INT(rb_expr_parse(&e, s, strlen(s), &loc, &d), 0);
	T_EQ_INT(rb_expr_eval(&v, e, lookup, NULL, &err), 0);
	T_EQ_INT(v.type, RB_VAL_NUM);
	rb_value_release(&v);
	rb_expr_free(e);
	e = NULL;

	/* ...201 are refused at the 201st '('. */
	memmove(s + 1, s, 402);
	s[0] = '(';
	s[403] = '\0';
	s[402] = ')';
	T_EQ_INT(rb_expr_parse(&e, s, strlen(s), &loc, &d), RB_EINVAL);
	T_EQ_INT(d.nr, 1);
	T_EQ_INT(d.v[0].col, 201);
	T_CONTAINS(d.v[0].msg, "expression is nested too deeply (more than "
	    "200 levels)");
	rb_diags_release(&d);

	/* 100000 parentheses or bangs: an error, never a stack overflow. */
	memset(s, '(', n);
	s[n] = '\0';
	T_EQ_INT(rb_expr_parse(&e, s, n, &loc, &d), RB_EINVAL);
	T_CONTAINS(d.v[0].msg, "expression is too long");
	rb_diags_release(&d);
	memset(s, '!', 60000);
	s[60000] = 'a';
	s[60001] = '\0';
	T_EQ_INT(rb_expr_parse(&e, s, 60001, &loc, &d), RB_EINVAL);
	T_CONTAINS(d.v[0].msg, "nested too deeply");
	rb_diags_release(&d);
	for (i = 0; i < 30000; i++) {
		s[2 * i] = '!';
		s[2 * i + 1] = '(';
	}
	s[60000] = '\0';
	T_EQ_INT(rb_expr_parse(&e, s, 60000, &loc, &d), RB_EINVAL);
	T_CONTAINS(d.v[0].msg, "nested too deeply");
	T_ASSERT(rb_now_ms() - t0 < 5000);
	rb_diags_release(&d);
	free(s);
}

void
test_expr_expr__long_chains(void)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_loc loc = { "rb.yaml", 1, 1 };
	struct rb_expr *e = NULL;
	struct rb_value v = RB_VALUE_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_buf b = RB_BUF_INIT;
	size_t i;

	/* Long && / || chains never deepen the recursion. */
	for (i = 0; i < 3000; i++)
		rb_buf_adds(&b, i ? " || false && 1 == 1" : "false");
	rb_buf_adds(&b, " || params.host == 'db1'");
	T_EQ_INT(rb_expr_parse(&e, b.buf, b.len, &loc, &d), 0);
	T_EQ_INT(rb_expr_eval(&v, e, lookup, NULL, &err), 0);
	T_EQ_INT(v.type, RB_VAL_BOOL);
	T_ASSERT(v.b);
	T_EQ_STR(rb_expr_source(e), b.buf);
	rb_value_release(&v);
	rb_expr_free(e);
	rb_buf_release(&b);
	rb_diags_release(&d);
}

void
test_expr_expr__redos_bound(void)
{
	struct rb_value v = RB_VALUE_INIT;
	struct rb_error err = RB_ERROR_INIT;
	int64_t t0;

	redos_subject = malloc(10002);
	T_ASSERT(redos_subject != NULL);
	memset(redos_subject, 'a', 10000);
	redos_subject[10000] = '!';
	redos_subject[10001] = '\0';
	t0 = rb_now_ms();
	T_EQ_INT(eval_str(&v, "redos.subject =~ '(a+)+$'", &err), RB_ETOOBIG);
	T_ASSERT(rb_now_ms() - t0 < 2000);
	T_CONTAINS(err.msg, "exceeded its backtracking limit");
	T_EQ_INT(eval_str(&v, "redos.subject =~ '^a+!$'", &err), 0);
	T_ASSERT(v.b);
	rb_value_release(&v);
	free(redos_subject);
	redos_subject = NULL;
}

void
test_expr_expr__check_names(void)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_loc loc = { "rb.yaml", 8, 11 };
	struct resolve_log log = { &d, 0 };
	struct rb_expr *e = NULL;
	const char *src = "steps.db-ready.failed && params.hots == 'x' || "
	    "env.NOPE";

	T_EQ_INT(rb_expr_parse(&e, src, strlen(src), &loc, &d), 0);
	T_EQ_INT(rb_expr_check(e, resolve, &log, &d), RB_EINVAL);
	T_EQ_INT(log.calls, 3);
	/* Every unknown name is reported, each where it starts. */
	T_EQ_INT(d.nr, 2);
	T_EQ_INT(d.v[0].line, 8);
	T_EQ_INT(d.v[0].col, 36);
	T_EQ_STR(d.v[0].msg, "unknown name 'params.hots'");
	T_EQ_INT(d.v[1].col, 58);
	T_EQ_STR(d.v[1].msg, "unknown name 'env.NOPE'");
	rb_expr_free(e);
	rb_diags_release(&d);

	src = "steps.db-ready.failed && steps.db-ready.vars.load > 2";
	T_EQ_INT(rb_expr_parse(&e, src, strlen(src), &loc, &d), 0);
	T_EQ_INT(rb_expr_check(e, resolve, &log, &d), 0);
	T_EQ_INT(d.nr, 0);
	rb_expr_free(e);
}

/* Parse at 2:7 and check; returns the one diagnostic's message or NULL. */
static char *
check_msg(const char *src, int *col)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_loc loc = { "rb.yaml", 2, 7 };
	struct resolve_log log = { &d, 0 };
	struct rb_expr *e = NULL;
	char *msg = NULL;

	if (rb_expr_parse(&e, src, strlen(src), &loc, &d) != 0)
		return strdup("parse error");
	if (rb_expr_check(e, resolve, &log, &d) != 0 && d.nr == 1) {
		msg = strdup(d.v[0].msg);
		*col = d.v[0].col;
	}
	rb_expr_free(e);
	rb_diags_release(&d);
	return msg;
}

void
test_expr_expr__check_types(void)
{
	char *m;
	int col = 0;

	m = check_msg("steps.db-ready.ok < 3", &col);
	T_EQ_STR(m, "cannot compare a boolean with '<'");
	T_EQ_INT(col, 25);
	free(m);
	m = check_msg("1 >= true", &col);
	T_EQ_STR(m, "cannot compare a boolean with '>='");
	free(m);
	m = check_msg("null > 1", &col);
	T_EQ_STR(m, "cannot compare null with '>'");
	free(m);
	m = check_msg("steps.db-ready.exit_code > 'abc'", &col);
	T_EQ_STR(m, "cannot compare a number and the non-numeric string "
	    "'abc' with '>'");
	free(m);
	m = check_msg("'10' < 'abc'", &col);
	T_ASSERT(m != NULL);
	free(m);
	m = check_msg("steps.db-ready.failed =~ '/x/'", &col);
	T_EQ_STR(m, "cannot match a boolean with '=~'");
	free(m);
	/* Fine: equality on anything, numbers against numeric strings. */
	T_ASSERT((m = check_msg("steps.db-ready.ok == 'true'", &col)) == NULL);
	T_ASSERT((m = check_msg("steps.db-ready.exit_code > '1'", &col)) ==
	    NULL);
	T_ASSERT((m = check_msg("params.port > 1 && !steps.db-ready.ok", &col))
	    == NULL);
	T_ASSERT((m = check_msg("params.host < 'm'", &col)) == NULL);
	T_ASSERT((m = check_msg("steps.db-ready.exit_code =~ '^0$'", &col)) ==
	    NULL);
	/* Types are checked inside nested expressions too. */
	m = check_msg("!(true && (steps.db-ready.ok > 1))", &col);
	T_EQ_STR(m, "cannot compare a boolean with '>'");
	free(m);
}

void
test_expr_expr__strings(void)
{
	struct rb_value v = RB_VALUE_INIT;
	struct rb_error err = RB_ERROR_INIT;

	/* Single quotes are raw, '' is a quote. */
	T_EQ_INT(eval_str(&v, "'it''s \\d'", &err), 0);
	T_EQ_STR(v.str, "it's \\d");
	rb_value_release(&v);
	/* Double quotes take escapes; unknown ones stay for regexes. */
	T_EQ_INT(eval_str(&v, "\"a\\\"b\\n\\t\\\\\\d\"", &err), 0);
	T_EQ_STR(v.str, "a\"b\n\t\\\\d");
	rb_value_release(&v);
	T_EQ_INT(eval_str(&v, "\"\"", &err), 0);
	T_EQ_INT(v.type, RB_VAL_STR);
	T_EQ_INT(v.len, 0);
	rb_value_release(&v);
	T_EQ_INT(truth("params.port =~ \"^\\d+$\""), 1);
	T_EQ_INT(truth("'a.b' =~ '^a\\.b$'"), 1);
	T_EQ_INT(truth("'axb' =~ '^a\\.b$'"), 0);
}

void
test_expr_expr__names(void)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_expr *e = NULL;

	/* Step ids with dashes and leading digits; no location given. */
	T_EQ_INT(truth("steps.db-ready.exit_code-1 == 1"), -3);
	T_EQ_INT(truth("steps.0db.ok == true"), 1);
	T_EQ_INT(rb_expr_parse(&e, "x.y", 3, NULL, &d), 0);
	T_EQ_STR(rb_expr_source(e), "x.y");
	rb_expr_free(e);
	e = NULL;
	T_EQ_INT(rb_expr_parse(&e, "x ==", 4, NULL, NULL), RB_EINVAL);
	T_ASSERT(e == NULL);
	rb_expr_free(NULL);
	rb_diags_release(&d);
}
