/*
 * template.c - `{{ expr | filter ... }}` templates: parsing into literal
 * text and substitutions (with located diagnostics), static checking, and
 * single-pass rendering.
 *
 * Rendering is where injection safety lives. With RB_TMPL_SHELL every
 * substitution becomes one single-quoted shell word unless the author wrote
 * `| raw`, and a secret never reaches the command text at all: it renders as
 * a reference to an environment variable that the caller passes to the
 * child. The text a substitution produces is appended and never scanned
 * again, so a value containing `{{` stays literal.
 */
#include <stdlib.h>
#include <string.h>

#include "template/template_int.h"
#include "runbook/banned.h"

/* Longest template accepted, in bytes. */
#define TMPL_MAX_LEN (1024 * 1024)
/* What a masked secret looks like. */
#define TMPL_MASK "******"

struct tmpl_part {
	size_t off, len;	/* literal text: its span in source */
	struct expr_node *expr; /* a substitution, or NULL for text */
	char *text;		/* substitution: its source, trimmed */
	struct rb_loc loc;	/* substitution: of its "{{" */
	struct tmpl_filter *filters;
	size_t nfilters, afilters;
	bool raw;	  /* `| raw` appears */
	bool has_default; /* `| default(...)` appears */
};

struct rb_tmpl {
	char *source; /* as written */
	size_t len;
	struct tmpl_part *parts; /* in order */
	size_t nparts, alloc;
	bool literal; /* no substitutions */
};

/* Free what a part owns. */
static void
part_release(struct tmpl_part *p)
{
	size_t i;

	expr_node_free(p->expr);
	free(p->text);
	for (i = 0; i < p->nfilters; i++)
		tmpl_filter_release(&p->filters[i]);
	free(p->filters);
	memset(p, 0, sizeof(*p));
}

/* Append a literal-text part for source[off..off+len). */
static void
add_text(struct rb_tmpl *t, size_t off, size_t len)
{
	struct tmpl_part *p;

	if (len == 0)
		return;
	RB_ALLOC_GROW(t->parts, t->nparts + 1, t->alloc);
	p = &t->parts[t->nparts++];
	memset(p, 0, sizeof(*p));
	p->off = off;
	p->len = len;
}

/* The source of a substitution between its braces, without outer blanks. */
static char *
sub_text(const char *src, size_t start, size_t end)
{
	while (start < end &&
	    (src[start] == ' ' || src[start] == '\t' || src[start] == '\n' ||
		src[start] == '\r'))
		start++;
	while (end > start &&
	    (src[end - 1] == ' ' || src[end - 1] == '\t' ||
		src[end - 1] == '\n' || src[end - 1] == '\r'))
		end--;
	return xstrndup(src + start, end - start);
}

/*
 * Parse one substitution; the current position of lx is just after its
 * "{{" (at open). On success the part is complete and lx is after "}}".
 */
static int
parse_sub(struct tmpl_part *p, struct expr_lexer *lx, const struct rb_loc *open)
{
	struct tmpl_filter f;
	size_t start = lx->pos;
	int depth = 0, r;

	p->loc = *open;
	/* No "after ..." in messages about the first token. */
	lx->tok.kind = TOK_EOF;
	if ((r = expr_lex_next(lx)) != 0)
		return r;
	if (lx->tok.kind == TOK_CLOSE) {
		rb_diag_error(lx->diags, open, "empty expression in '{{ }}'");
		rb_diag_hint(lx->diags,
		    "write a name such as '{{ params.host }}', or '{{ \"{{\" "
		    "}}' for a literal '{{'");
		return RB_EINVAL;
	}
	if (lx->tok.kind == TOK_EOF)
		goto unterminated;
	if ((r = expr_parse_node(&p->expr, lx, &depth)) != 0)
		return r;
	while (lx->tok.kind == TOK_PIPE) {
		if ((r = expr_lex_next(lx)) != 0 ||
		    (r = tmpl_filter_parse(&f, lx)) != 0)
			return r;
		RB_ALLOC_GROW(p->filters, p->nfilters + 1, p->afilters);
		p->filters[p->nfilters++] = f;
		if (f.id == TF_RAW)
			p->raw = true;
		else if (f.id == TF_DEFAULT)
			p->has_default = true;
	}
	if (lx->tok.kind == TOK_EOF)
		goto unterminated;
	if (lx->tok.kind != TOK_CLOSE)
		return expr_unexpected(lx,
		    p->nfilters > 0 ? "'|' or '}}'"
				    : "an operator, '|' or '}}'");
	p->text = sub_text(lx->src, start, lx->tok.off);
	return 0;

unterminated:
	rb_diag_error(lx->diags, open, "unterminated '{{'");
	rb_diag_hint(lx->diags,
	    "close it with '}}', or write a literal '{{' as '{{ \"{{\" }}'");
	return RB_EINVAL;
}

/* Find "{{" in s[from..len), or return len. */
static size_t
find_open(const char *s, size_t len, size_t from)
{
	const char *p;

	if (from >= len)
		return len;
	p = memmem(s + from, len - from, "{{", 2);
	return p != NULL ? (size_t)(p - s) : len;
}

int
rb_tmpl_parse(struct rb_tmpl **out, const char *src, size_t len,
    const struct rb_loc *loc, struct rb_diags *diags)
{
	struct rb_diags scratch = RB_DIAGS_INIT;
	struct rb_tmpl *t = NULL;
	struct expr_lexer lx;
	struct rb_loc open;
	size_t pos = 0, at;
	int r = 0;

	if (diags == NULL)
		diags = &scratch;
	if (src == NULL) {
		src = "";
		len = 0;
	}
	expr_lex_init(&lx, src, len, 0, loc != NULL ? loc->line : 1,
	    loc != NULL ? loc->col : 1, loc != NULL ? loc->file : NULL, true,
	    diags);
	if (len > TMPL_MAX_LEN) {
		open = expr_tok_loc(&lx, &lx.tok);
		rb_diag_error(diags, &open,
		    "template is too long (%zu bytes, at most %d)", len,
		    TMPL_MAX_LEN);
		r = RB_EINVAL;
		goto out;
	}
	t = xcalloc(1, sizeof(*t));
	t->source = xmalloc(len + 1);
	if (len > 0)
		memcpy(t->source, src, len);
	t->source[len] = '\0';
	t->len = len;
	t->literal = true;
	while (pos < len) {
		struct tmpl_part *p;

		at = find_open(src, len, pos);
		add_text(t, pos, at - pos);
		if (at == len)
			break;
		expr_lex_advance(&lx, at - lx.pos);
		open.file = lx.file;
		open.line = lx.line;
		open.col = lx.col;
		expr_lex_advance(&lx, 2);
		t->literal = false;
		RB_ALLOC_GROW(t->parts, t->nparts + 1, t->alloc);
		p = &t->parts[t->nparts];
		memset(p, 0, sizeof(*p));
		if (parse_sub(p, &lx, &open) != 0) {
			/*
			 * Report every bad substitution, not just the first:
			 * resume after the next "}}", if there is one.
			 */
			size_t from = lx.tok.off, resume;
			const char *close;

			part_release(p);
			r = RB_EINVAL;
			close = from < len
			    ? memmem(src + from, len - from, "}}", 2)
			    : NULL;
			if (close == NULL)
				break;
			resume = (size_t)(close - src) + 2;
			if (resume > lx.pos)
				expr_lex_advance(&lx, resume - lx.pos);
			pos = lx.pos;
			continue;
		}
		t->nparts++;
		pos = lx.pos;
	}
	if (r != 0)
		goto out;
	*out = t;
	t = NULL;
out:
	rb_tmpl_free(t);
	expr_lex_release(&lx);
	rb_diags_release(&scratch);
	return r;
}

int
rb_tmpl_check(const struct rb_tmpl *t, rb_resolve_fn resolve, void *payload,
    struct rb_diags *diags)
{
	struct rb_diags scratch = RB_DIAGS_INIT;
	struct expr_check_ctx cx;
	size_t i, j;
	int r = 0;

	cx.resolve = resolve;
	cx.payload = payload;
	cx.diags = diags != NULL ? diags : &scratch;
	for (i = 0; i < t->nparts; i++) {
		const struct tmpl_part *p = &t->parts[i];
		enum rb_type type;

		if (p->expr == NULL)
			continue;
		cx.raw = p->raw;
		cx.has_default = p->has_default;
		if (expr_node_check(&type, p->expr, &cx) != 0) {
			r = RB_EINVAL;
			continue;
		}
		for (j = 0; j < p->nfilters; j++) {
			if (tmpl_filter_check(
				&type, &p->filters[j], cx.diags) != 0) {
				r = RB_EINVAL;
				break;
			}
		}
	}
	rb_diags_release(&scratch);
	return r;
}

/* Shell quoting state at a point of a command's literal text. */
enum {
	SHQ_NONE,
	SHQ_SINGLE,
	SHQ_DOUBLE
};

/* The number of RUNBOOK_SECRET_ entries already in env. */
static size_t
count_secrets(const struct rb_strvec *env)
{
	size_t i, n = 0;

	for (i = 0; i < env->nr; i++)
		if (strncmp(env->v[i], "RUNBOOK_SECRET_", 15) == 0)
			n++;
	return n;
}

/*
 * Write a secret value. In shell mode with an environment to fill it becomes
 * "$RUNBOOK_SECRET_<n>" (or ${RUNBOOK_SECRET_<n>} under `| raw`, which
 * works inside the author's own double quotes); otherwise it is masked.
 */
static int
emit_secret(struct rb_buf *out, const struct rb_buf *v,
    const struct tmpl_part *p, const struct rb_tmpl_ctx *ctx, int q)
{
	struct rb_buf env = RB_BUF_INIT;
	size_t n;

	if (!(ctx->flags & RB_TMPL_SHELL)) {
		if (ctx->flags & RB_TMPL_MASK)
			return rb_buf_adds(out, TMPL_MASK);
		return rb_buf_add(out, v->buf, v->len);
	}
	if (ctx->secret_env == NULL) {
		if (p->raw || q == SHQ_DOUBLE)
			return rb_buf_adds(out, TMPL_MASK);
		if (q == SHQ_SINGLE)
			return rb_buf_adds(out, "'" TMPL_MASK "'");
		return rb_buf_add_shquoted(out, TMPL_MASK, strlen(TMPL_MASK));
	}
	n = count_secrets(ctx->secret_env) + 1;
	/* One allocation, so no stray copy of the secret is left behind. */
	rb_buf_grow(&env, 40 + v->len);
	rb_buf_addf(&env, "RUNBOOK_SECRET_%zu=", n);
	rb_buf_add(&env, v->buf, v->len);
	rb_strvec_push_nodup(ctx->secret_env, rb_buf_detach(&env, NULL));
	if (p->raw || q == SHQ_DOUBLE)
		return rb_buf_addf(out, "${RUNBOOK_SECRET_%zu}", n);
	if (q == SHQ_SINGLE)
		return rb_buf_addf(out, "'\"${RUNBOOK_SECRET_%zu}\"'", n);
	return rb_buf_addf(out, "\"$RUNBOOK_SECRET_%zu\"", n);
}

/*
 * A value inside the author's double quotes: backslash the four characters
 * that keep a meaning there (\ " $ `), so it stays one literal string.
 */
static int
add_dquoted_body(struct rb_buf *out, const char *s, size_t len)
{
	size_t i;
	int r = 0;

	for (i = 0; i < len && r == 0; i++) {
		if (s[i] == '\\' || s[i] == '"' || s[i] == '$' || s[i] == '`')
			r = rb_buf_addch(out, '\\');
		if (r == 0)
			r = rb_buf_addch(out, s[i]);
	}
	return r;
}

/*
 * Follow the POSIX quoting state through literal command text, so a
 * substitution knows whether the author put it inside '...' or "...".
 * (Backslash escapes are honoured; here-documents and comments are not
 * special, which errs on the side of quoting.)
 */
static int
shell_scan(int q, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		char c = s[i];

		switch (q) {
		case SHQ_NONE:
			if (c == '\\')
				i++;
			else if (c == '\'')
				q = SHQ_SINGLE;
			else if (c == '"')
				q = SHQ_DOUBLE;
			break;
		case SHQ_SINGLE:
			if (c == '\'')
				q = SHQ_NONE;
			break;
		default:
			if (c == '\\')
				i++;
			else if (c == '"')
				q = SHQ_NONE;
		}
	}
	return q;
}

/* Write one evaluated, filtered substitution (q: the quoting around it). */
static int
emit(struct rb_buf *out, const struct rb_value *v, const struct tmpl_part *p,
    const struct rb_tmpl_ctx *ctx, int q)
{
	struct rb_buf text = RB_BUF_INIT;
	int r;

	if (v->type == RB_VAL_UNKNOWN)
		return rb_buf_addf(out, "<runtime:%s>", v->str);
	rb_value_to_buf(&text, v);
	/* Anything derived from a secret (even a comparison) is one. */
	if ((v->flags & RB_VALUE_SECRET) && v->type != RB_VAL_NULL)
		r = emit_secret(out, &text, p, ctx, q);
	else if ((ctx->flags & RB_TMPL_SHELL) && !p->raw && q == SHQ_DOUBLE)
		r = add_dquoted_body(out, text.buf, text.len);
	else if ((ctx->flags & RB_TMPL_SHELL) && !p->raw && q == SHQ_SINGLE) {
		/* Close the author's quote, add one quoted word, reopen. */
		r = rb_buf_addch(out, '\'');
		if (r == 0)
			r = rb_buf_add_shquoted(out, text.buf, text.len);
		if (r == 0)
			r = rb_buf_addch(out, '\'');
	} else if ((ctx->flags & RB_TMPL_SHELL) && !p->raw)
		r = rb_buf_add_shquoted(out, text.buf, text.len);
	else
		r = rb_buf_add(out, text.buf, text.len);
	rb_buf_release_secret(&text);
	return r;
}

int
rb_tmpl_render(struct rb_buf *out, const struct rb_tmpl *t,
    const struct rb_tmpl_ctx *ctx, unsigned *out_flags, struct rb_error *err)
{
	struct rb_value v = RB_VALUE_INIT;
	struct expr_eval_ctx ecx;
	size_t start = out->len, nenv, i, j;
	unsigned flags = 0;
	int r = 0, q = SHQ_NONE;

	nenv = ctx->secret_env != NULL ? ctx->secret_env->nr : 0;
	ecx.lookup = ctx->lookup;
	ecx.payload = ctx->payload;
	ecx.err = err;
	for (i = 0; i < t->nparts; i++) {
		const struct tmpl_part *p = &t->parts[i];

		if (p->expr == NULL) {
			r = rb_buf_add(out, t->source + p->off, p->len);
			if (ctx->flags & RB_TMPL_SHELL)
				q = shell_scan(q, t->source + p->off, p->len);
		} else {
			ecx.src = p->text;
			if ((r = expr_node_eval(&v, p->expr, &ecx)) != 0)
				goto out;
			for (j = 0; j < p->nfilters; j++)
				tmpl_filter_apply(&v, &p->filters[j]);
			flags |= v.flags;
			r = emit(out, &v, p, ctx, q);
			rb_value_release(&v);
		}
		if (r != 0) {
			r = rb_error_set(err, r,
			    "rendered text of template '%.*s' is too long",
			    EXPR_QUOTE_MAX, t->source);
			goto out;
		}
	}
	if (out_flags != NULL)
		*out_flags = flags;
out:
	rb_value_release(&v);
	if (r != 0) {
		/* Leave nothing half-rendered behind, and no secret copy. */
		if (out->alloc)
			explicit_bzero(out->buf + start, out->len - start);
		if (out->len != start)
			rb_buf_setlen(out, start);
		while (ctx->secret_env != NULL && ctx->secret_env->nr > nenv) {
			char *s = ctx->secret_env->v[ctx->secret_env->nr - 1];

			explicit_bzero(s, strlen(s));
			rb_strvec_pop(ctx->secret_env);
		}
	}
	return r;
}

const char *
rb_tmpl_source(const struct rb_tmpl *t)
{
	return t->source;
}

bool
rb_tmpl_is_literal(const struct rb_tmpl *t)
{
	return t->literal;
}

void
rb_tmpl_free(struct rb_tmpl *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nparts; i++)
		part_release(&t->parts[i]);
	free(t->parts);
	free(t->source);
	free(t);
}
