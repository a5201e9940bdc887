/*
 * expr_eval.c - static checking and evaluation of expression trees.
 *
 * The checker resolves every name through the caller's resolver and rejects
 * operand types that can never compare (a boolean with '<'), so `validate`
 * finds them. The evaluator follows the same rules at run time: `==` on
 * mixed types compares text forms unless both sides look numeric; ordering
 * is numeric for numbers and numeric strings and bytewise for two other
 * strings; unknown (plan-time) operands make the result unknown unless the
 * known side of `&&`/`||` decides it; secret and taint flags propagate.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr_int.h"
#include "runbook/banned.h"

/* ---- static checking ---- */

/* A static type, with null literals told apart from "anything". */
enum stype { S_ANY, S_BOOL, S_NUM, S_STR, S_NULL };

static const char *
stype_article(enum stype t)
{
	switch (t) {
	case S_BOOL:
		return "a boolean";
	case S_NUM:
		return "a number";
	case S_STR:
		return "a string";
	case S_NULL:
		return "null";
	case S_ANY:
	default:
		return "a value";
	}
}

static int check_node(enum stype *out, const struct expr_node **out_lit,
    const struct expr_node *n, const struct expr_check_ctx *cx);

/* Check a name through the resolver. */
static int
check_name(
    enum stype *out, const struct expr_node *n, const struct expr_check_ctx *cx)
{
	struct rb_name_ref ref;
	enum rb_type t = RB_TYPE_ANY;

	*out = S_ANY;
	if (cx->resolve == NULL)
		return 0;
	ref.path = (const char *const *)n->path;
	ref.npath = n->npath;
	ref.loc = n->loc;
	ref.raw = cx->raw;
	ref.has_default = cx->has_default;
	if (cx->resolve(&t, &ref, cx->payload) != 0)
		return RB_EINVAL;
	switch (t) {
	case RB_TYPE_BOOL:
		*out = S_BOOL;
		break;
	case RB_TYPE_NUM:
		*out = S_NUM;
		break;
	case RB_TYPE_STR:
		*out = S_STR;
		break;
	case RB_TYPE_ANY:
	default:
		*out = S_ANY;
		break;
	}
	return 0;
}

/* True when lit is a string literal that does not read as a number. */
static bool
lit_nonnumeric_str(const struct expr_node *lit)
{
	return lit != NULL && lit->lit.type == RB_VAL_STR &&
	    !expr_numeric(lit->lit.str, lit->lit.len, NULL);
}

/* Check the operand types of a comparison. */
static int
check_cmp(const struct expr_node *n, enum stype lt, enum stype rt,
    const struct expr_node *llit, const struct expr_node *rlit,
    const struct expr_check_ctx *cx)
{
	const char *op = expr_op_str(n->op);
	const struct expr_node *str;

	switch (n->op) {
	case OP_EQ:
	case OP_NE:
		return 0;
	case OP_MATCH:
	case OP_NMATCH:
		if (lt != S_BOOL)
			return 0;
		rb_diag_error(
		    cx->diags, &n->loc, "cannot match a boolean with '%s'", op);
		rb_diag_hint(cx->diags,
		    "'%s' matches text; test the boolean directly", op);
		return RB_EINVAL;
	default:
		break;
	}
	if (lt == S_BOOL || rt == S_BOOL) {
		rb_diag_error(cx->diags, &n->loc,
		    "cannot compare a boolean with '%s'", op);
		rb_diag_hint(cx->diags, "use '==' or '!=' with true or false");
		return RB_EINVAL;
	}
	if (lt == S_NULL || rt == S_NULL) {
		rb_diag_error(
		    cx->diags, &n->loc, "cannot compare null with '%s'", op);
		return RB_EINVAL;
	}
	/* A number against text that can never be a number. */
	str = lit_nonnumeric_str(rlit) ? rlit :
	    lit_nonnumeric_str(llit) ? llit : NULL;
	if (str != NULL) {
		const struct expr_node *other = str == rlit ? llit : rlit;
		enum stype ot = str == rlit ? lt : rt;

		if (ot == S_NUM ||
		    (other != NULL && other->lit.type == RB_VAL_STR &&
			!lit_nonnumeric_str(other))) {
			rb_diag_error(cx->diags, &n->loc,
			    "cannot compare %s and the non-numeric string "
			    "'%.*s' with '%s'",
			    stype_article(ot), EXPR_QUOTE_MAX, str->lit.str,
			    op);
			return RB_EINVAL;
		}
	}
	return 0;
}

static int
check_node(enum stype *out, const struct expr_node **out_lit,
    const struct expr_node *n, const struct expr_check_ctx *cx)
{
	const struct expr_node *llit = NULL, *rlit = NULL;
	enum stype lt = S_ANY, rt = S_ANY;
	size_t i;
	int r = 0;

	*out_lit = NULL;
	switch (n->kind) {
	case EXPR_LIT:
		*out_lit = n;
		switch (n->lit.type) {
		case RB_VAL_BOOL:
			*out = S_BOOL;
			break;
		case RB_VAL_NUM:
			*out = S_NUM;
			break;
		case RB_VAL_STR:
			*out = S_STR;
			break;
		case RB_VAL_NULL:
			*out = S_NULL;
			break;
		default:
			*out = S_ANY;
			break;
		}
		return 0;
	case EXPR_NAME:
		return check_name(out, n, cx);
	case EXPR_NOT:
	case EXPR_AND:
	case EXPR_OR:
		for (i = 0; i < n->nkids; i++) {
			if (check_node(&lt, &llit, n->kids[i], cx) != 0)
				r = RB_EINVAL;
		}
		*out = S_BOOL;
		return r;
	case EXPR_CMP:
		*out = S_BOOL;
		if (check_node(&lt, &llit, n->kids[0], cx) != 0)
			r = RB_EINVAL;
		if (n->nkids > 1 && check_node(&rt, &rlit, n->kids[1], cx) != 0)
			r = RB_EINVAL;
		if (r == 0)
			r = check_cmp(n, lt, rt, llit, rlit, cx);
		return r;
	default:
		RB_BUG("unknown expression node %d", (int)n->kind);
	}
}

int
expr_node_check(enum rb_type *out_type, const struct expr_node *n,
    const struct expr_check_ctx *cx)
{
	const struct expr_node *lit;
	enum stype t = S_ANY;
	int r;

	r = check_node(&t, &lit, n, cx);
	switch (t) {
	case S_BOOL:
		*out_type = RB_TYPE_BOOL;
		break;
	case S_NUM:
		*out_type = RB_TYPE_NUM;
		break;
	case S_STR:
		*out_type = RB_TYPE_STR;
		break;
	case S_ANY:
	case S_NULL:
	default:
		*out_type = RB_TYPE_ANY;
		break;
	}
	return r;
}

/* ---- evaluation ---- */

/* Set an evaluation error, quoting the expression for context. */
static int eval_error(const struct expr_eval_ctx *cx, int code, const char *fmt,
    ...) RB_PRINTFLIKE(3, 4);

static int
eval_error(const struct expr_eval_ctx *cx, int code, const char *fmt, ...)
{
	struct rb_buf msg = RB_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	rb_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	if (cx->src != NULL)
		rb_buf_addf(&msg, " in '%.*s'", EXPR_QUOTE_MAX, cx->src);
	rb_error_set(cx->err, code, "%s", msg.buf);
	rb_buf_release(&msg);
	return code;
}

/* Move src into dst, releasing what dst held. */
static void
move_value(struct rb_value *dst, struct rb_value *src)
{
	struct rb_value empty = RB_VALUE_INIT;

	rb_value_release(dst);
	*dst = *src;
	*src = empty;
}

/* Make out unknown, named after the first unknown operand u. */
static void
set_unknown_from(struct rb_value *out, const struct rb_value *u, unsigned flags)
{
	rb_value_set_unknown(out, u->str);
	out->flags |= flags;
}

/* True when v reads as a number; the number goes to *d. */
static bool
numeric_value(const struct rb_value *v, double *d)
{
	if (v->type == RB_VAL_NUM) {
		*d = v->num;
		return true;
	}
	return v->type == RB_VAL_STR && expr_numeric(v->str, v->len, d);
}

/* ==: same types directly; mixed types numerically or by text form. */
static bool
values_equal(const struct rb_value *a, const struct rb_value *b)
{
	struct rb_buf ta = RB_BUF_INIT, tb = RB_BUF_INIT;
	double da, db;
	bool eq;

	if (a->type == b->type) {
		switch (a->type) {
		case RB_VAL_NULL:
			return true;
		case RB_VAL_BOOL:
			return a->b == b->b;
		case RB_VAL_NUM:
			return a->num == b->num;
		case RB_VAL_STR:
			return a->len == b->len &&
			    (a->len == 0 ||
				memcmp(a->str, b->str, a->len) == 0);
		default:
			return false;
		}
	}
	if (numeric_value(a, &da) && numeric_value(b, &db))
		return da == db;
	rb_value_to_buf(&ta, a);
	rb_value_to_buf(&tb, b);
	eq = ta.len == tb.len && memcmp(ta.buf, tb.buf, ta.len) == 0;
	/* The text may be a secret's. */
	rb_buf_release_secret(&ta);
	rb_buf_release_secret(&tb);
	return eq;
}

/* Describe v for a type error without revealing secrets. */
static void
describe_value(struct rb_buf *out, const struct rb_value *v)
{
	switch (v->type) {
	case RB_VAL_NULL:
		rb_buf_adds(out, "null");
		break;
	case RB_VAL_BOOL:
		rb_buf_adds(out, "a boolean");
		break;
	case RB_VAL_NUM:
		rb_buf_adds(out, "a number");
		break;
	case RB_VAL_STR:
		if (v->flags & RB_VALUE_SECRET)
			rb_buf_adds(out, "the non-numeric string '******'");
		else
			rb_buf_addf(out, "the non-numeric string '%.*s'",
			    (int)(v->len > EXPR_QUOTE_MAX ? EXPR_QUOTE_MAX
							  : v->len),
			    v->str);
		break;
	default:
		rb_buf_adds(out, "a value");
		break;
	}
}

/* Order a and b for <, <=, >, >=: *out is -1, 0 or 1. */
static int
order_values(int *out, const struct rb_value *a, const struct rb_value *b,
    const struct expr_node *n, const struct expr_eval_ctx *cx)
{
	const char *op = expr_op_str(n->op);
	struct rb_buf db = RB_BUF_INIT;
	double x, y;
	size_t m;
	int c, r;

	if (a->type == RB_VAL_BOOL || b->type == RB_VAL_BOOL)
		return eval_error(
		    cx, RB_EINVAL, "cannot compare a boolean with '%s'", op);
	if (a->type == RB_VAL_NULL || b->type == RB_VAL_NULL)
		return eval_error(
		    cx, RB_EINVAL, "cannot compare null with '%s'", op);
	if (numeric_value(a, &x) && numeric_value(b, &y)) {
		*out = x < y ? -1 : x > y ? 1 : 0;
		return 0;
	}
	if (a->type == RB_VAL_STR && b->type == RB_VAL_STR &&
	    !expr_numeric(a->str, a->len, NULL) &&
	    !expr_numeric(b->str, b->len, NULL)) {
		m = a->len < b->len ? a->len : b->len;
		c = m > 0 ? memcmp(a->str, b->str, m) : 0;
		if (c == 0)
			c = a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
		*out = c < 0 ? -1 : c > 0 ? 1 : 0;
		return 0;
	}
	/* Exactly one side reads as a number here. */
	describe_value(&db, numeric_value(a, &x) ? b : a);
	r = eval_error(cx, RB_EINVAL,
	    "cannot compare a number and %s with '%s'", db.buf, op);
	rb_buf_release(&db);
	return r;
}

/* l =~ re: match the text form of l. Returns 1, 0 or an error. */
static int
match_value(const struct rb_value *l, const struct expr_node *n,
    const struct expr_eval_ctx *cx)
{
	struct rb_buf text = RB_BUF_INIT;
	int r;

	if (l->type == RB_VAL_BOOL)
		return eval_error(cx, RB_EINVAL,
		    "cannot match a boolean with '%s'", expr_op_str(n->op));
	rb_value_to_buf(&text, l);
	r = rb_regex_match(n->re, text.buf, text.len, cx->err);
	rb_buf_release_secret(&text);
	return r;
}

static int
eval_cmp(struct rb_value *out, const struct expr_node *n,
    const struct expr_eval_ctx *cx)
{
	struct rb_value l = RB_VALUE_INIT, rv = RB_VALUE_INIT;
	bool result = false;
	unsigned flags;
	int r, c = 0;

	if ((r = expr_node_eval(&l, n->kids[0], cx)) != 0)
		goto out;
	if (n->op != OP_MATCH && n->op != OP_NMATCH &&
	    (r = expr_node_eval(&rv, n->kids[1], cx)) != 0)
		goto out;
	flags = (l.flags | rv.flags) & ~(unsigned)RB_VALUE_RUNTIME;
	if (l.type == RB_VAL_UNKNOWN || rv.type == RB_VAL_UNKNOWN) {
		set_unknown_from(
		    out, l.type == RB_VAL_UNKNOWN ? &l : &rv, flags);
		r = 0;
		goto out;
	}
	switch (n->op) {
	case OP_EQ:
	case OP_NE:
		result = values_equal(&l, &rv) == (n->op == OP_EQ);
		break;
	case OP_LT:
	case OP_LE:
	case OP_GT:
	case OP_GE:
		if ((r = order_values(&c, &l, &rv, n, cx)) != 0)
			goto out;
		result = n->op == OP_LT ? c < 0
		    : n->op == OP_LE	? c <= 0
		    : n->op == OP_GT	? c > 0
					: c >= 0;
		break;
	case OP_MATCH:
	case OP_NMATCH:
		if ((r = match_value(&l, n, cx)) < 0)
			goto out;
		result = (r == 1) == (n->op == OP_MATCH);
		break;
	}
	rb_value_set_bool(out, result);
	out->flags = flags;
	r = 0;
out:
	rb_value_release(&l);
	rb_value_release(&rv);
	return r;
}

/* n-ary && / ||: a known operand that decides the result wins. */
static int
eval_logic(struct rb_value *out, const struct expr_node *n,
    const struct expr_eval_ctx *cx)
{
	struct rb_value v = RB_VALUE_INIT, unknown = RB_VALUE_INIT;
	bool is_and = n->kind == EXPR_AND;
	unsigned flags = 0;
	size_t i;
	int r = 0;

	for (i = 0; i < n->nkids; i++) {
		if ((r = expr_node_eval(&v, n->kids[i], cx)) != 0)
			goto out;
		flags |= v.flags;
		if (v.type == RB_VAL_UNKNOWN) {
			if (unknown.type != RB_VAL_UNKNOWN)
				move_value(&unknown, &v);
			rb_value_release(&v);
			continue;
		}
		if (rb_value_truthy(&v) != is_and) {
			/* false && ..., true || ...: decided. */
			rb_value_set_bool(out, !is_and);
			out->flags = flags & ~(unsigned)RB_VALUE_RUNTIME;
			goto out;
		}
		rb_value_release(&v);
	}
	if (unknown.type == RB_VAL_UNKNOWN) {
		set_unknown_from(out, &unknown, flags);
		goto out;
	}
	rb_value_set_bool(out, is_and);
	out->flags = flags & ~(unsigned)RB_VALUE_RUNTIME;
out:
	rb_value_release(&v);
	rb_value_release(&unknown);
	return r;
}

/* Look a name up; an unknown name is an error here (validate reports it
 * earlier). */
static int
eval_name(struct rb_value *out, const struct expr_node *n,
    const struct expr_eval_ctx *cx)
{
	struct rb_value v = RB_VALUE_INIT;
	int r;

	if (cx->lookup == NULL)
		return eval_error(cx, RB_EINVAL, "unknown name '%s'", n->name);
	r = cx->lookup(&v, (const char *const *)n->path, n->npath, cx->payload);
	if (r == RB_ENOTFOUND) {
		rb_value_release(&v);
		return eval_error(cx, RB_EINVAL, "unknown name '%s'", n->name);
	}
	if (r != 0) {
		rb_value_release(&v);
		return eval_error(
		    cx, r, "cannot resolve '%s': %s", n->name, rb_strerror(r));
	}
	move_value(out, &v);
	return 0;
}

int
expr_node_eval(struct rb_value *out, const struct expr_node *n,
    const struct expr_eval_ctx *cx)
{
	struct rb_value v = RB_VALUE_INIT;
	int r;

	switch (n->kind) {
	case EXPR_LIT:
		if (n->lit.type == RB_VAL_STR)
			rb_value_set_str(
			    out, n->lit.str, n->lit.len, n->lit.flags);
		else {
			rb_value_release(out);
			out->type = n->lit.type;
			out->b = n->lit.b;
			out->num = n->lit.num;
		}
		return 0;
	case EXPR_NAME:
		return eval_name(out, n, cx);
	case EXPR_NOT:
		if ((r = expr_node_eval(&v, n->kids[0], cx)) != 0) {
			rb_value_release(&v);
			return r;
		}
		if (v.type == RB_VAL_UNKNOWN) {
			move_value(out, &v);
			return 0;
		}
		rb_value_set_bool(out, !rb_value_truthy(&v));
		out->flags = v.flags;
		rb_value_release(&v);
		return 0;
	case EXPR_AND:
	case EXPR_OR:
		return eval_logic(out, n, cx);
	case EXPR_CMP:
		return eval_cmp(out, n, cx);
	default:
		RB_BUG("unknown expression node %d", (int)n->kind);
	}
}
