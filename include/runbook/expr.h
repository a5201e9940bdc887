/*
 * expr.h - values, names and the `when`/`until` expression language.
 *
 * Grammar (lowest precedence first):
 *   expr    := or
 *   or      := and ( "||" and )*
 *   and     := not ( "&&" not )*
 *   not     := "!" not | cmp
 *   cmp     := primary ( cmpop primary )?
 *   cmpop   := "==" | "!=" | "<" | "<=" | ">" | ">=" | "=~" | "!~"
 *   primary := literal | name | "(" expr ")"
 *   literal := number | 'string' | "string" | true | false | null
 *   name    := ident ( "." ident )*   ident may contain '-' after its
 *                                      first char (steps.db-ready.ok)
 * `=~` takes a string literal regex on its right ('/re/flags' or bare) that
 * is compiled at parse time. Comparisons between a number and a string
 * compare numerically when the string is a number, so captured text works
 * with `>`; anything else is a type error, reported by rb_expr_check() at
 * validate time or as an evaluation error at run time.
 */
#ifndef RUNBOOK_EXPR_H
#define RUNBOOK_EXPR_H

#include "runbook/diag.h"
#include "runbook/error.h"

enum rb_value_type {
	RB_VAL_NULL,
	RB_VAL_BOOL,
	RB_VAL_NUM,
	RB_VAL_STR,
	RB_VAL_UNKNOWN		/* known only at run time (plan) */
};

enum rb_value_flags {
	RB_VALUE_SECRET = (1 << 0),	/* never shown: rendered as ****** */
	RB_VALUE_TAINTED = (1 << 1),	/* from outside: alerts, step output */
	RB_VALUE_RUNTIME = (1 << 2)	/* depends on a run-time value */
};

struct rb_value {
	enum rb_value_type type;
	unsigned flags;		/* enum rb_value_flags */
	bool b;
	double num;
	char *str;		/* STR: owned text; UNKNOWN: the name */
	size_t len;
};
#define RB_VALUE_INIT { RB_VAL_NULL, 0, false, 0, NULL, 0 }

void rb_value_release(struct rb_value *v);	/* wipes secrets; NULL-safe */
void rb_value_set_null(struct rb_value *v);
void rb_value_set_bool(struct rb_value *v, bool b);
void rb_value_set_num(struct rb_value *v, double num);
void rb_value_set_str(struct rb_value *v, const char *s, size_t len,
    unsigned flags);
void rb_value_set_unknown(struct rb_value *v, const char *name);
/* Truthiness: false, null, 0, "" and "false" are false. */
bool rb_value_truthy(const struct rb_value *v);
/* Text form: numbers without trailing zeros, booleans true/false, null "". */
void rb_value_to_buf(struct rb_buf *out, const struct rb_value *v);

/*
 * Resolve a dotted name (path[0..npath-1], e.g. {"steps","db-ready","ok"})
 * into *out. Returns 0, or RB_ENOTFOUND for a name that does not exist. Valid
 * names without a value (an unset env var, an optional param) give null.
 */
typedef int (*rb_lookup_fn)(struct rb_value *out, const char *const *path,
    size_t npath, void *payload);

/* Static types for validation. */
enum rb_type {
	RB_TYPE_ANY,
	RB_TYPE_BOOL,
	RB_TYPE_NUM,
	RB_TYPE_STR
};

/* A name used in an expression or template, for validation. */
struct rb_name_ref {
	const char *const *path;
	size_t npath;
	struct rb_loc loc;	/* where the name starts */
	bool raw;		/* template: passed through `| raw` */
	bool has_default;	/* template: followed by `| default(...)` */
};
/*
 * Validate one name: set *out_type and return 0, or add a diagnostic (with a
 * "did you mean" where one fits) and return RB_ENOTFOUND.
 */
typedef int (*rb_resolve_fn)(enum rb_type *out_type,
    const struct rb_name_ref *ref, void *payload);

struct rb_expr;

/*
 * Parse src (len bytes) located at loc. Errors are added to diags with the
 * exact line:col of the offending token; returns 0 or RB_EINVAL.
 */
int rb_expr_parse(struct rb_expr **out, const char *src, size_t len,
    const struct rb_loc *loc, struct rb_diags *diags);
/* Check every name through resolve and the operand types; 0 or RB_EINVAL. */
int rb_expr_check(const struct rb_expr *e, rb_resolve_fn resolve,
    void *payload, struct rb_diags *diags);
/*
 * Evaluate. An operand that is RB_VAL_UNKNOWN makes the result unknown
 * (except where && / || are decided by the other side). *out is overwritten
 * (not released first); the caller releases it, also after a failure, when
 * it is null. Returns 0, or RB_EINVAL / RB_ETOOBIG (regex limit) with a
 * message in err.
 */
int rb_expr_eval(struct rb_value *out, const struct rb_expr *e,
    rb_lookup_fn lookup, void *payload, struct rb_error *err);
/* The expression text as written. */
const char *rb_expr_source(const struct rb_expr *e);
void rb_expr_free(struct rb_expr *e);

#endif
