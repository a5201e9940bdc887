/*
 * template.h - `{{ expr | filter ... }}` templates in string values.
 *
 * A template is parsed once (with located errors) and rendered many times.
 * Rendering is single-pass: the text a substitution produces is never
 * scanned for `{{` again. Filters: default("x"), lower, upper, trim, host
 * (strip ":port"), json, urlencode, raw.
 *
 * Injection safety: with RB_TMPL_SHELL every substituted value is written as
 * one POSIX single-quoted word unless the author wrote `| raw`. Secret values
 * (and anything computed from one) never reach command text: with
 * RB_TMPL_SHELL they render as a reference to an environment variable
 * ("$RUNBOOK_SECRET_1", or ${RUNBOOK_SECRET_1} under `| raw`, which also
 * works inside the author's own double quotes) whose NAME=value is appended
 * to ctx->secret_env. Numbering continues after the RUNBOOK_SECRET_ entries
 * already in ctx->secret_env, so several renders can share one environment.
 * With RB_TMPL_SHELL and no secret_env a secret renders as '******'; in
 * other modes with RB_TMPL_MASK it renders as ******, and without either
 * flag as itself (HTTP headers, notification bodies). Unknown (plan-time)
 * values render as "<runtime:NAME>" in every mode, unquoted.
 */
#ifndef RUNBOOK_TEMPLATE_H
#define RUNBOOK_TEMPLATE_H

#include "runbook/expr.h"
#include "runbook/strvec.h"

struct rb_tmpl;

enum rb_tmpl_flags {
	RB_TMPL_SHELL = (1 << 0),	/* quote substitutions for /bin/sh */
	RB_TMPL_MASK = (1 << 1)		/* secrets as ****** (display) */
};

struct rb_tmpl_ctx {
	rb_lookup_fn lookup;
	void *payload;
	unsigned flags;			/* enum rb_tmpl_flags */
	struct rb_strvec *secret_env;	/* SHELL: receives RUNBOOK_SECRET_N=v */
};

/*
 * Parse src located at loc (the position of the string's first character).
 * Unterminated `{{`, empty expressions, unknown filters and bad filter
 * arguments are located diagnostics. Returns 0 or RB_EINVAL.
 */
int rb_tmpl_parse(struct rb_tmpl **out, const char *src, size_t len,
    const struct rb_loc *loc, struct rb_diags *diags);
/* Validate names (and their types) through resolve; 0 or RB_EINVAL. */
int rb_tmpl_check(const struct rb_tmpl *t, rb_resolve_fn resolve,
    void *payload, struct rb_diags *diags);
/*
 * Render into out (appending). Values of type RB_VAL_UNKNOWN render as
 * "<runtime:NAME>". *out_flags (if not NULL) receives the union of the
 * enum rb_value_flags of every substituted value. Returns 0, or an error
 * code with a message in err (unknown name at run time, regex limit).
 */
int rb_tmpl_render(struct rb_buf *out, const struct rb_tmpl *t,
    const struct rb_tmpl_ctx *ctx, unsigned *out_flags,
    struct rb_error *err);
/* The template text as written. */
const char *rb_tmpl_source(const struct rb_tmpl *t);
/* True when the template has no {{ }} (rendering returns the source). */
bool rb_tmpl_is_literal(const struct rb_tmpl *t);
void rb_tmpl_free(struct rb_tmpl *t);

#endif
