/*
 * expr_parse.c - recursive-descent parser for `when`/`until` expressions
 * (grammar in include/runbook/expr.h) producing a located syntax tree.
 *
 * Every syntax error is reported at the exact line:col of the offending
 * token and parsing stops at the first one. Nesting is bounded by
 * EXPR_MAX_DEPTH so hostile input cannot overflow the stack; `&&` and `||`
 * chains become one n-ary node, so their length never deepens the tree.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr_int.h"
#include "runbook/banned.h"

struct rb_expr {
	char *source; /* as written */
	struct expr_node *root;
};

static int parse_or(struct expr_node **out, struct expr_lexer *lx, int *depth);

const char *
expr_op_str(enum expr_op op)
{
	/* In enum expr_op order. */
	static const char *const names[] = { "==", "!=", "<", "<=", ">",
		">=", "=~", "!~" };

	return (size_t)op < RB_ARRAY_SIZE(names) ? names[op] : "?";
}

/* A new node of kind k located at token t. */
static struct expr_node *
node_new(
    enum expr_kind k, const struct expr_lexer *lx, const struct expr_token *t)
{
	struct expr_node *n = xcalloc(1, sizeof(*n));

	n->kind = k;
	n->loc = expr_tok_loc(lx, t);
	return n;
}

void
expr_node_free(struct expr_node *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nkids; i++)
		expr_node_free(n->kids[i]);
	free(n->kids);
	for (i = 0; i < n->npath; i++)
		free(n->path[i]);
	free(n->path);
	free(n->name);
	rb_value_release(&n->lit);
	rb_regex_free(n->re);
	free(n);
}

/* Append kid to n's children. */
static void
add_kid(struct expr_node *n, struct expr_node *kid, size_t *alloc)
{
	RB_ALLOC_GROW(n->kids, n->nkids + 1, *alloc);
	n->kids[n->nkids++] = kid;
}

/* Report an error located at the current token. */
static int parse_error(struct expr_lexer *lx, const char *fmt, ...)
    RB_PRINTFLIKE(2, 3);

static int
parse_error(struct expr_lexer *lx, const char *fmt, ...)
{
	struct rb_loc loc = expr_tok_loc(lx, &lx->tok);
	struct rb_buf msg = RB_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	rb_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	rb_diag_error(lx->diags, &loc, "%s", msg.buf);
	rb_buf_release(&msg);
	return RB_EINVAL;
}

/* True when the current token is the bare word w (and, or, not). */
static bool
tok_is_word(const struct expr_lexer *lx, const char *w)
{
	size_t n = strlen(w);

	return lx->tok.kind == TOK_NAME && lx->tok.len == n &&
	    memcmp(lx->src + lx->tok.off, w, n) == 0;
}

int
expr_unexpected(struct expr_lexer *lx, const char *expected)
{
	struct rb_buf found = RB_BUF_INIT, prev = RB_BUF_INIT;
	int r;

	if (tok_is_word(lx, "and"))
		return parse_error(
		    lx, "unknown operator 'and' (did you mean '&&'?)");
	if (tok_is_word(lx, "or"))
		return parse_error(
		    lx, "unknown operator 'or' (did you mean '||'?)");
	if (lx->tok.kind == TOK_RPAREN)
		return parse_error(lx, "unmatched ')'");
	expr_tok_describe(&found, lx, &lx->tok);
	expr_tok_describe(&prev, lx, &lx->prev);
	r = parse_error(lx, "expected %s after %s, found %s", expected,
	    prev.buf, found.buf);
	rb_buf_release(&found);
	rb_buf_release(&prev);
	return r;
}

/* Enter one nesting level ('(' or '!'), refusing past EXPR_MAX_DEPTH. */
static int
enter(struct expr_lexer *lx, int *depth)
{
	if (*depth >= EXPR_MAX_DEPTH)
		return parse_error(lx,
		    "expression is nested too deeply (more than %d levels)",
		    EXPR_MAX_DEPTH);
	(*depth)++;
	return 0;
}

/* A name token split at its dots into a path. */
static struct expr_node *
name_node(const struct expr_lexer *lx)
{
	struct expr_node *n = node_new(EXPR_NAME, lx, &lx->tok);
	const char *s = lx->src + lx->tok.off, *end = s + lx->tok.len;
	size_t alloc = 0;

	n->name = xstrndup(s, lx->tok.len);
	while (s < end) {
		const char *dot = memchr(s, '.', (size_t)(end - s));

		if (dot == NULL)
			dot = end;
		RB_ALLOC_GROW(n->path, n->npath + 1, alloc);
		n->path[n->npath++] = xstrndup(s, (size_t)(dot - s));
		s = dot + 1;
	}
	return n;
}

/* The column of byte off inside string token t, when it can be exact. */
static struct rb_loc
string_offset_loc(
    const struct expr_lexer *lx, const struct expr_token *t, size_t off)
{
	struct expr_lexer tmp;
	struct rb_loc loc;

	if (t->escaped || off + 1 >= t->len)
		return expr_tok_loc(lx, t);
	/* No escapes: byte off of the text is byte off+1 of the token. */
	expr_lex_init(&tmp, lx->src, lx->len, t->off, t->line, t->col, lx->file,
	    lx->tmpl, NULL);
	expr_lex_advance(&tmp, off + 1);
	loc.file = lx->file;
	loc.line = tmp.line;
	loc.col = tmp.col;
	expr_lex_release(&tmp);
	return loc;
}

/* The string-literal regex on the right of =~ / !~, compiled now. */
static int
parse_regex(struct expr_node *cmp, size_t *alloc, struct expr_lexer *lx)
{
	struct rb_error err = RB_ERROR_INIT;
	struct expr_node *lit;
	size_t off = 0;
	int r;

	if (lx->tok.kind != TOK_STR) {
		struct rb_buf found = RB_BUF_INIT;

		expr_tok_describe(&found, lx, &lx->tok);
		r = parse_error(lx,
		    "expected a string literal regex after '%s', found %s",
		    expr_op_str(cmp->op), found.buf);
		rb_diag_hint(
		    lx->diags, "write the pattern in quotes, e.g. '/^ok/i'");
		rb_buf_release(&found);
		return r;
	}
	if ((r = rb_regex_compile(
		 &cmp->re, lx->str.buf, lx->str.len, true, &off, &err)) != 0) {
		struct rb_loc loc = string_offset_loc(lx, &lx->tok, off);

		rb_diag_error(lx->diags, &loc, "%s", err.msg);
		if (err.hint[0] != '\0')
			rb_diag_hint(lx->diags, "%s", err.hint);
		return RB_EINVAL;
	}
	lit = node_new(EXPR_LIT, lx, &lx->tok);
	rb_value_set_str(&lit->lit, lx->str.buf, lx->str.len, 0);
	add_kid(cmp, lit, alloc);
	return expr_lex_next(lx);
}

/* primary := literal | name | "(" expr ")" */
static int
parse_primary(struct expr_node **out, struct expr_lexer *lx, int *depth)
{
	struct expr_node *n = NULL;
	struct expr_token open;
	struct rb_buf found = RB_BUF_INIT, prev = RB_BUF_INIT;
	int r = RB_EINVAL;

	switch (lx->tok.kind) {
	case TOK_NUM:
		n = node_new(EXPR_LIT, lx, &lx->tok);
		rb_value_set_num(&n->lit, lx->tok.num);
		break;
	case TOK_STR:
		n = node_new(EXPR_LIT, lx, &lx->tok);
		rb_value_set_str(&n->lit, lx->str.buf, lx->str.len, 0);
		break;
	case TOK_TRUE:
	case TOK_FALSE:
		n = node_new(EXPR_LIT, lx, &lx->tok);
		rb_value_set_bool(&n->lit, lx->tok.kind == TOK_TRUE);
		break;
	case TOK_NULL:
		n = node_new(EXPR_LIT, lx, &lx->tok);
		break;
	case TOK_NAME:
		if (tok_is_word(lx, "not")) {
			r = parse_error(
			    lx, "unknown operator 'not' (did you mean '!'?)");
			goto out;
		}
		n = name_node(lx);
		break;
	case TOK_LPAREN:
		if ((r = enter(lx, depth)) != 0)
			goto out;
		open = lx->tok;
		if ((r = expr_lex_next(lx)) != 0 ||
		    (r = parse_or(&n, lx, depth)) != 0)
			goto out;
		if (lx->tok.kind != TOK_RPAREN) {
			if (tok_is_word(lx, "and") || tok_is_word(lx, "or")) {
				r = expr_unexpected(lx, "')'");
				goto out;
			}
			expr_tok_describe(&found, lx, &lx->tok);
			r = parse_error(lx,
			    "expected ')' after '(' at %d:%d, found %s",
			    open.line, open.col, found.buf);
			goto out;
		}
		(*depth)--;
		break;
	default:
		expr_tok_describe(&found, lx, &lx->tok);
		if (lx->prev.kind == TOK_EOF && lx->tok.kind == TOK_EOF)
			r = parse_error(lx, "empty expression");
		else if (lx->prev.kind == TOK_EOF || lx->prev.kind == TOK_CLOSE)
			r = parse_error(
			    lx, "expected a value, found %s", found.buf);
		else {
			expr_tok_describe(&prev, lx, &lx->prev);
			r = parse_error(lx,
			    "expected a value after %s, found %s", prev.buf,
			    found.buf);
		}
		goto out;
	}
	if ((r = expr_lex_next(lx)) != 0)
		goto out;
	*out = n;
	n = NULL;
	r = 0;
out:
	expr_node_free(n);
	rb_buf_release(&found);
	rb_buf_release(&prev);
	return r;
}

/* The comparison operator of a token, or -1. */
static int
cmp_op(enum expr_tok k)
{
	switch (k) {
	case TOK_EQ:
		return OP_EQ;
	case TOK_NE:
		return OP_NE;
	case TOK_LT:
		return OP_LT;
	case TOK_LE:
		return OP_LE;
	case TOK_GT:
		return OP_GT;
	case TOK_GE:
		return OP_GE;
	case TOK_MATCH:
		return OP_MATCH;
	case TOK_NMATCH:
		return OP_NMATCH;
	default:
		return -1;
	}
}

/* cmp := primary ( op primary )? -- comparisons do not chain */
static int
parse_cmp(struct expr_node **out, struct expr_lexer *lx, int *depth)
{
	struct expr_node *l = NULL, *n = NULL, *rhs = NULL;
	size_t alloc = 0;
	int op, r;

	if ((r = parse_primary(&l, lx, depth)) != 0)
		goto out;
	if ((op = cmp_op(lx->tok.kind)) < 0) {
		*out = l;
		l = NULL;
		goto out;
	}
	n = node_new(EXPR_CMP, lx, &lx->tok);
	n->op = (enum expr_op)op;
	add_kid(n, l, &alloc);
	l = NULL;
	if ((r = expr_lex_next(lx)) != 0)
		goto out;
	if (n->op == OP_MATCH || n->op == OP_NMATCH) {
		if ((r = parse_regex(n, &alloc, lx)) != 0)
			goto out;
	} else {
		if ((r = parse_primary(&rhs, lx, depth)) != 0)
			goto out;
		add_kid(n, rhs, &alloc);
	}
	if (cmp_op(lx->tok.kind) >= 0) {
		struct rb_buf found = RB_BUF_INIT;

		expr_tok_describe(&found, lx, &lx->tok);
		r = parse_error(
		    lx, "unexpected %s after a comparison", found.buf);
		rb_diag_hint(lx->diags,
		    "comparisons do not chain; combine them with '&&' or '||'");
		rb_buf_release(&found);
		goto out;
	}
	*out = n;
	n = NULL;
	r = 0;
out:
	expr_node_free(l);
	expr_node_free(n);
	return r;
}

/* not := "!" not | cmp */
static int
parse_not(struct expr_node **out, struct expr_lexer *lx, int *depth)
{
	struct expr_node *n = NULL, *kid = NULL;
	size_t alloc = 0;
	int r;

	if (lx->tok.kind != TOK_NOT)
		return parse_cmp(out, lx, depth);
	if ((r = enter(lx, depth)) != 0)
		return r;
	n = node_new(EXPR_NOT, lx, &lx->tok);
	if ((r = expr_lex_next(lx)) != 0 ||
	    (r = parse_not(&kid, lx, depth)) != 0)
		goto out;
	add_kid(n, kid, &alloc);
	(*depth)--;
	*out = n;
	n = NULL;
out:
	expr_node_free(n);
	return r;
}

/* One n-ary level: sub ( tok sub )* for && (kind EXPR_AND) or ||. */
static int
parse_chain(struct expr_node **out, struct expr_lexer *lx, int *depth,
    enum expr_tok tok, enum expr_kind kind,
    int (*sub)(struct expr_node **, struct expr_lexer *, int *))
{
	struct expr_node *first = NULL, *n = NULL, *kid = NULL;
	size_t alloc = 0;
	int r;

	if ((r = sub(&first, lx, depth)) != 0)
		goto out;
	if (lx->tok.kind != tok) {
		*out = first;
		first = NULL;
		goto out;
	}
	n = node_new(kind, lx, &lx->tok);
	n->loc = first->loc;
	add_kid(n, first, &alloc);
	first = NULL;
	while (lx->tok.kind == tok) {
		if ((r = expr_lex_next(lx)) != 0 ||
		    (r = sub(&kid, lx, depth)) != 0)
			goto out;
		add_kid(n, kid, &alloc);
		kid = NULL;
	}
	*out = n;
	n = NULL;
out:
	expr_node_free(first);
	expr_node_free(n);
	return r;
}

static int
parse_and(struct expr_node **out, struct expr_lexer *lx, int *depth)
{
	return parse_chain(out, lx, depth, TOK_AND, EXPR_AND, parse_not);
}

static int
parse_or(struct expr_node **out, struct expr_lexer *lx, int *depth)
{
	return parse_chain(out, lx, depth, TOK_OR, EXPR_OR, parse_and);
}

int
expr_parse_node(struct expr_node **out, struct expr_lexer *lx, int *depth)
{
	return parse_or(out, lx, depth);
}

int
rb_expr_parse(struct rb_expr **out, const char *src, size_t len,
    const struct rb_loc *loc, struct rb_diags *diags)
{
	struct rb_diags scratch = RB_DIAGS_INIT;
	struct rb_expr *e = NULL;
	struct expr_lexer lx;
	int depth = 0, r = RB_EINVAL;

	if (diags == NULL)
		diags = &scratch;
	if (src == NULL) {
		src = "";
		len = 0;
	}
	expr_lex_init(&lx, src, len, 0, loc != NULL ? loc->line : 1,
	    loc != NULL ? loc->col : 1, loc != NULL ? loc->file : NULL, false,
	    diags);
	if (len > EXPR_MAX_LEN) {
		parse_error(&lx,
		    "expression is too long (%zu bytes, at most %d)", len,
		    EXPR_MAX_LEN);
		goto out;
	}
	e = xcalloc(1, sizeof(*e));
	e->source = xstrndup(src, len);
	if ((r = expr_lex_next(&lx)) != 0 ||
	    (r = parse_or(&e->root, &lx, &depth)) != 0)
		goto out;
	if (lx.tok.kind != TOK_EOF) {
		r = expr_unexpected(&lx, "an operator");
		goto out;
	}
	*out = e;
	e = NULL;
	r = 0;
out:
	rb_expr_free(e);
	expr_lex_release(&lx);
	rb_diags_release(&scratch);
	return r;
}

int
rb_expr_check(const struct rb_expr *e, rb_resolve_fn resolve, void *payload,
    struct rb_diags *diags)
{
	struct rb_diags scratch = RB_DIAGS_INIT;
	struct expr_check_ctx cx;
	enum rb_type t;
	int r;

	cx.resolve = resolve;
	cx.payload = payload;
	cx.diags = diags != NULL ? diags : &scratch;
	cx.raw = false;
	cx.has_default = false;
	r = expr_node_check(&t, e->root, &cx);
	rb_diags_release(&scratch);
	return r;
}

int
rb_expr_eval(struct rb_value *out, const struct rb_expr *e, rb_lookup_fn lookup,
    void *payload, struct rb_error *err)
{
	struct rb_value v = RB_VALUE_INIT;
	struct expr_eval_ctx cx;
	int r;

	cx.lookup = lookup;
	cx.payload = payload;
	cx.src = e->source;
	cx.err = err;
	if ((r = expr_node_eval(&v, e->root, &cx)) != 0) {
		rb_value_release(&v);
		*out = v;
		return r;
	}
	*out = v;
	return 0;
}

const char *
rb_expr_source(const struct rb_expr *e)
{
	return e->source;
}

void
rb_expr_free(struct rb_expr *e)
{
	if (e == NULL)
		return;
	expr_node_free(e->root);
	free(e->source);
	free(e);
}
