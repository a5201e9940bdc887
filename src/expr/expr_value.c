/*
 * expr_value.c - struct rb_value: the typed values that names resolve to and
 * that expressions and templates compute, with truthiness and text forms.
 * Secret strings are wiped when released.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/buf.h"
#include "runbook/expr.h"
#include "runbook/banned.h"

void
rb_value_release(struct rb_value *v)
{
	if (v == NULL)
		return;
	if (v->str != NULL) {
		if (v->flags & RB_VALUE_SECRET)
			explicit_bzero(v->str, v->len);
		free(v->str);
	}
	v->type = RB_VAL_NULL;
	v->flags = 0;
	v->b = false;
	v->num = 0;
	v->str = NULL;
	v->len = 0;
}

void
rb_value_set_null(struct rb_value *v)
{
	rb_value_release(v);
}

void
rb_value_set_bool(struct rb_value *v, bool b)
{
	rb_value_release(v);
	v->type = RB_VAL_BOOL;
	v->b = b;
}

void
rb_value_set_num(struct rb_value *v, double num)
{
	rb_value_release(v);
	v->type = RB_VAL_NUM;
	v->num = num;
}

void
rb_value_set_str(struct rb_value *v, const char *s, size_t len, unsigned flags)
{
	char *copy = xmalloc(len + 1);

	/* Copy first: s may point into v itself. */
	if (len > 0)
		memcpy(copy, s, len);
	copy[len] = '\0';
	rb_value_release(v);
	v->type = RB_VAL_STR;
	v->flags = flags;
	v->str = copy;
	v->len = len;
}

void
rb_value_set_unknown(struct rb_value *v, const char *name)
{
	char *copy = xstrdup(name != NULL ? name : "");

	rb_value_release(v);
	v->type = RB_VAL_UNKNOWN;
	v->flags = RB_VALUE_RUNTIME;
	v->str = copy;
	v->len = strlen(copy);
}

bool
rb_value_truthy(const struct rb_value *v)
{
	switch (v->type) {
	case RB_VAL_BOOL:
		return v->b;
	case RB_VAL_NUM:
		return v->num != 0 && !isnan(v->num);
	case RB_VAL_STR:
		return v->len != 0 &&
		    !(v->len == 5 && memcmp(v->str, "false", 5) == 0);
	case RB_VAL_NULL:
	case RB_VAL_UNKNOWN:
	default:
		return false;
	}
}

/* Append num in its shortest form that reads back exactly. */
static void
add_number(struct rb_buf *out, double num)
{
	char tmp[64];
	int prec;

	if (isnan(num)) {
		rb_buf_adds(out, "nan");
		return;
	}
	if (isinf(num)) {
		rb_buf_adds(out, num < 0 ? "-inf" : "inf");
		return;
	}
	if (num == 0) {
		/* Also -0, which reads oddly in a command. */
		rb_buf_addch(out, '0');
		return;
	}
	if (num == floor(num) && fabs(num) < 1e15) {
		rb_buf_addf(out, "%.0f", num);
		return;
	}
	for (prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, num);
		if (strtod(tmp, NULL) == num)
			break;
	}
	rb_buf_adds(out, tmp);
}

void
rb_value_to_buf(struct rb_buf *out, const struct rb_value *v)
{
	switch (v->type) {
	case RB_VAL_BOOL:
		rb_buf_adds(out, v->b ? "true" : "false");
		break;
	case RB_VAL_NUM:
		add_number(out, v->num);
		break;
	case RB_VAL_STR:
	case RB_VAL_UNKNOWN:
		if (v->str != NULL)
			rb_buf_add(out, v->str, v->len);
		break;
	case RB_VAL_NULL:
	default:
		break;
	}
}
