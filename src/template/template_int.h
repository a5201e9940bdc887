/*
 * template_int.h - template filters, shared by template.c (parsing and
 * rendering) and tmpl_filter.c (the filter table and what each one does).
 */
#ifndef RUNBOOK_TEMPLATE_INT_H
#define RUNBOOK_TEMPLATE_INT_H

#include "expr/expr_int.h"
#include "runbook/template.h"

enum tmpl_filter_id {
	TF_DEFAULT, /* default(x): x when the value is null or "" */
	TF_LOWER,
	TF_UPPER,
	TF_TRIM,
	TF_HOST,      /* strip ":port", and the brackets of "[v6]:port" */
	TF_JSON,      /* a JSON string literal */
	TF_URLENCODE, /* RFC 3986 percent-encoding */
	TF_RAW	      /* no shell quoting (secrets still stay out) */
};

struct tmpl_filter {
	enum tmpl_filter_id id;
	struct rb_loc loc;   /* of the filter name */
	struct rb_value arg; /* default(): the literal argument */
};

/*
 * Parse one filter, `name` or `name(args)`, at the current token of lx (the
 * token after '|'), leaving the token after it current. Unknown filters
 * (with a did-you-mean) and wrong arguments are diagnosed. Returns 0 or
 * RB_EINVAL; *out is filled only on success.
 */
int tmpl_filter_parse(struct tmpl_filter *out, struct expr_lexer *lx);
void tmpl_filter_release(struct tmpl_filter *f);
/*
 * Check f against the static type of its input, *type, and replace *type
 * with the type of its output. Returns 0 or RB_EINVAL (diagnosed).
 */
int tmpl_filter_check(
    enum rb_type *type, const struct tmpl_filter *f, struct rb_diags *diags);
/*
 * Apply f to v in place. Unknown values stay unknown; the flags of v (secret,
 * taint) survive every filter.
 */
void tmpl_filter_apply(struct rb_value *v, const struct tmpl_filter *f);

#endif
