/*
 * expr_lex.c - the tokenizer of the expression language, shared with
 * templates. It tracks line:col through the source (newlines advance the
 * line; columns count characters, not UTF-8 continuation bytes) so every
 * diagnostic points at the offending token, and it recognises common
 * operator typos ("=>", "=", "&") with a did-you-mean.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr_int.h"
#include "runbook/banned.h"

/* How much of a token is quoted in messages. */
#define TOK_QUOTE_MAX 40

void
expr_lex_init(struct expr_lexer *lx, const char *src, size_t len, size_t pos,
    int line, int col, const char *file, bool tmpl, struct rb_diags *diags)
{
	memset(lx, 0, sizeof(*lx));
	lx->src = src;
	lx->len = len;
	lx->pos = pos;
	lx->line = line > 0 ? line : 1;
	lx->col = col > 0 ? col : 1;
	lx->file = file;
	lx->tmpl = tmpl;
	lx->diags = diags;
	rb_buf_init(&lx->str, 0);
	lx->tok.kind = TOK_EOF;
	lx->tok.off = pos;
	lx->tok.line = lx->line;
	lx->tok.col = lx->col;
	lx->prev = lx->tok;
}

void
expr_lex_release(struct expr_lexer *lx)
{
	rb_buf_release(&lx->str);
}

void
expr_lex_advance(struct expr_lexer *lx, size_t n)
{
	while (n-- > 0 && lx->pos < lx->len) {
		unsigned char c = (unsigned char)lx->src[lx->pos++];

		if (c == '\n') {
			lx->line++;
			lx->col = 1;
		} else if ((c & 0xc0) != 0x80) {
			/* One column per character: skip continuation bytes. */
			lx->col++;
		}
	}
}

struct rb_loc
expr_tok_loc(const struct expr_lexer *lx, const struct expr_token *t)
{
	struct rb_loc loc;

	loc.file = lx->file;
	loc.line = t->line;
	loc.col = t->col;
	return loc;
}

/* Append len bytes of s for a message, with control bytes escaped. */
static void
add_quoted_text(struct rb_buf *out, const char *s, size_t len)
{
	size_t i, n = len > TOK_QUOTE_MAX ? TOK_QUOTE_MAX : len;

	rb_buf_addch(out, '\'');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n')
			rb_buf_adds(out, "\\n");
		else if (c == '\t')
			rb_buf_adds(out, "\\t");
		else if (c < 0x20 || c == 0x7f)
			rb_buf_addf(out, "\\x%02x", c);
		else
			rb_buf_addch(out, c);
	}
	if (n < len)
		rb_buf_adds(out, "...");
	rb_buf_addch(out, '\'');
}

void
expr_tok_describe(
    struct rb_buf *out, const struct expr_lexer *lx, const struct expr_token *t)
{
	if (t->kind == TOK_EOF) {
		rb_buf_adds(out, "end of expression");
		return;
	}
	if (t->kind == TOK_STR && t->len <= TOK_QUOTE_MAX) {
		/* A string literal already shows its own quotes. */
		rb_buf_add(out, lx->src + t->off, t->len);
		return;
	}
	add_quoted_text(out, lx->src + t->off, t->len);
}

bool
expr_numeric(const char *s, size_t len, double *out)
{
	char tmp[64];
	size_t i = 0, j, start, end;
	double d;

	while (i < len && isspace((unsigned char)s[i]))
		i++;
	end = len;
	while (end > i && isspace((unsigned char)s[end - 1]))
		end--;
	start = i;
	if (i < end && (s[i] == '-' || s[i] == '+'))
		i++;
	j = i;
	while (i < end && isdigit((unsigned char)s[i]))
		i++;
	if (i == j)
		return false;
	if (i < end && s[i] == '.') {
		j = ++i;
		while (i < end && isdigit((unsigned char)s[i]))
			i++;
		if (i == j)
			return false;
	}
	if (i < end && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < end && (s[i] == '-' || s[i] == '+'))
			i++;
		j = i;
		while (i < end && isdigit((unsigned char)s[i]))
			i++;
		if (i == j)
			return false;
	}
	if (i != end || end - start >= sizeof(tmp))
		return false;
	memcpy(tmp, s + start, end - start);
	tmp[end - start] = '\0';
	d = strtod(tmp, NULL);
	if (!isfinite(d))
		return false;
	if (out != NULL)
		*out = d;
	return true;
}

/* Report an error at the current token and fail. */
static int lex_error(struct expr_lexer *lx, const char *fmt, ...)
    RB_PRINTFLIKE(2, 3);

static int
lex_error(struct expr_lexer *lx, const char *fmt, ...)
{
	struct rb_loc loc = expr_tok_loc(lx, &lx->tok);
	struct rb_buf msg = RB_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	rb_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	rb_diag_error(lx->diags, &loc, "%s", msg.buf);
	rb_buf_release(&msg);
	lx->tok.kind = TOK_EOF;
	return RB_EINVAL;
}

/* An unknown operator of n bytes at the token start, with a suggestion. */
static int
bad_operator(struct expr_lexer *lx, size_t n, const char *suggest)
{
	char op[8];

	if (n >= sizeof(op))
		n = sizeof(op) - 1;
	memcpy(op, lx->src + lx->tok.off, n);
	op[n] = '\0';
	return lex_error(
	    lx, "unknown operator '%s' (did you mean '%s'?)", op, suggest);
}

static bool
is_ident_start(int c)
{
	return isalpha(c) || c == '_';
}

static bool
is_ident_char(int c)
{
	return isalnum(c) || c == '_' || c == '-';
}

/* The byte at pos+i, or 0 past the end. */
static int
peek(const struct expr_lexer *lx, size_t i)
{
	return lx->pos + i < lx->len ? (unsigned char)lx->src[lx->pos + i] : 0;
}

/* A quoted string; single quotes are raw ('' is a quote), double quotes
 * take backslash escapes (unknown ones are kept, so "\d" reaches a regex). */
static int
lex_string(struct expr_lexer *lx)
{
	int q = peek(lx, 0);
	size_t i = 1;

	rb_buf_reset(&lx->str);
	lx->tok.escaped = false;
	for (;;) {
		int c;

		if (lx->pos + i >= lx->len) {
			lx->tok.len = 1;
			lex_error(lx, "unterminated string: no closing %s",
			    q == '"' ? "'\"'" : "\"'\"");
			rb_diag_hint(lx->diags,
			    "end the string with the quote it starts with");
			return RB_EINVAL;
		}
		c = peek(lx, i);
		if (c == q && q == '\'' && peek(lx, i + 1) == '\'') {
			rb_buf_addch(&lx->str, '\'');
			lx->tok.escaped = true;
			i += 2;
			continue;
		}
		if (c == q) {
			i++;
			break;
		}
		if (c == '\\' && q == '"' && lx->pos + i + 1 < lx->len) {
			int e = peek(lx, i + 1);

			lx->tok.escaped = true;
			switch (e) {
			case 'n':
				rb_buf_addch(&lx->str, '\n');
				break;
			case 't':
				rb_buf_addch(&lx->str, '\t');
				break;
			case 'r':
				rb_buf_addch(&lx->str, '\r');
				break;
			case '"':
			case '\\':
				rb_buf_addch(&lx->str, e);
				break;
			default:
				/* Kept as written: regexes need "\d", "\.". */
				rb_buf_addch(&lx->str, '\\');
				rb_buf_addch(&lx->str, e);
				break;
			}
			i += 2;
			continue;
		}
		rb_buf_addch(&lx->str, c);
		i++;
	}
	lx->tok.kind = TOK_STR;
	lx->tok.len = i;
	expr_lex_advance(lx, i);
	return 0;
}

/* A decimal number, optionally negative; "12abc" is one bad token. */
static int
lex_number(struct expr_lexer *lx)
{
	char text[TOK_QUOTE_MAX + 1];
	size_t i = 0, n;

	if (peek(lx, 0) == '-')
		i++;
	while (isdigit(peek(lx, i)))
		i++;
	if (peek(lx, i) == '.' && isdigit(peek(lx, i + 1))) {
		i++;
		while (isdigit(peek(lx, i)))
			i++;
	}
	if ((peek(lx, i) == 'e' || peek(lx, i) == 'E') &&
	    (isdigit(peek(lx, i + 1)) ||
		((peek(lx, i + 1) == '-' || peek(lx, i + 1) == '+') &&
		    isdigit(peek(lx, i + 2))))) {
		i += 2;
		while (isdigit(peek(lx, i)))
			i++;
	}
	lx->tok.len = i;
	if (is_ident_char(peek(lx, i)) || peek(lx, i) == '.') {
		while (is_ident_char(peek(lx, i)) || peek(lx, i) == '.')
			i++;
		lx->tok.len = i;
		n = i > TOK_QUOTE_MAX ? TOK_QUOTE_MAX : i;
		memcpy(text, lx->src + lx->tok.off, n);
		text[n] = '\0';
		return lex_error(
		    lx, "invalid number '%s'%s", text, n < i ? "..." : "");
	}
	if (!expr_numeric(lx->src + lx->tok.off, i, &lx->tok.num)) {
		n = i > TOK_QUOTE_MAX ? TOK_QUOTE_MAX : i;
		memcpy(text, lx->src + lx->tok.off, n);
		text[n] = '\0';
		return lex_error(lx, "number '%s'%s is out of range", text,
		    n < i ? "..." : "");
	}
	lx->tok.kind = TOK_NUM;
	expr_lex_advance(lx, i);
	return 0;
}

/* A dotted name; step ids may start with a digit after the first dot. */
static int
lex_name(struct expr_lexer *lx)
{
	size_t i = 1;
	const char *s = lx->src + lx->tok.off;

	while (is_ident_char(peek(lx, i)))
		i++;
	while (peek(lx, i) == '.') {
		if (!isalnum(peek(lx, i + 1)) && peek(lx, i + 1) != '_') {
			struct rb_buf name = RB_BUF_INIT;

			add_quoted_text(&name, s, i + 1);
			/* Point at what follows the dot. */
			expr_lex_advance(lx, i + 1);
			lx->tok.off = lx->pos;
			lx->tok.line = lx->line;
			lx->tok.col = lx->col;
			lx->tok.len = 0;
			lex_error(
			    lx, "expected a name after '.' in %s", name.buf);
			rb_buf_release(&name);
			return RB_EINVAL;
		}
		i++;
		while (is_ident_char(peek(lx, i)))
			i++;
	}
	lx->tok.len = i;
	lx->tok.kind = TOK_NAME;
	if (i == 4 && memcmp(s, "true", 4) == 0)
		lx->tok.kind = TOK_TRUE;
	else if (i == 5 && memcmp(s, "false", 5) == 0)
		lx->tok.kind = TOK_FALSE;
	else if (i == 4 && memcmp(s, "null", 4) == 0)
		lx->tok.kind = TOK_NULL;
	expr_lex_advance(lx, i);
	return 0;
}

/* Set the current token to an n-byte operator and move past it. */
static int
op(struct expr_lexer *lx, enum expr_tok kind, size_t n)
{
	lx->tok.kind = kind;
	lx->tok.len = n;
	expr_lex_advance(lx, n);
	return 0;
}

int
expr_lex_next(struct expr_lexer *lx)
{
	int c, c1;

	lx->prev = lx->tok;
	while (lx->pos < lx->len &&
	    (peek(lx, 0) == ' ' || peek(lx, 0) == '\t' || peek(lx, 0) == '\n' ||
		peek(lx, 0) == '\r'))
		expr_lex_advance(lx, 1);
	lx->tok.off = lx->pos;
	lx->tok.line = lx->line;
	lx->tok.col = lx->col;
	lx->tok.len = 0;
	lx->tok.num = 0;
	lx->tok.escaped = false;
	if (lx->pos >= lx->len) {
		lx->tok.kind = TOK_EOF;
		return 0;
	}
	c = peek(lx, 0);
	c1 = peek(lx, 1);
	switch (c) {
	case '(':
		return op(lx, TOK_LPAREN, 1);
	case ')':
		return op(lx, TOK_RPAREN, 1);
	case ',':
		return op(lx, TOK_COMMA, 1);
	case '}':
		if (lx->tmpl && c1 == '}')
			return op(lx, TOK_CLOSE, 2);
		break;
	case '|':
		if (c1 == '|')
			return op(lx, TOK_OR, 2);
		if (lx->tmpl)
			return op(lx, TOK_PIPE, 1);
		return bad_operator(lx, 1, "||");
	case '&':
		if (c1 == '&')
			return op(lx, TOK_AND, 2);
		return bad_operator(lx, 1, "&&");
	case '=':
		if (c1 == '=' && peek(lx, 2) == '=')
			return bad_operator(lx, 3, "==");
		if (c1 == '=')
			return op(lx, TOK_EQ, 2);
		if (c1 == '~')
			return op(lx, TOK_MATCH, 2);
		if (c1 == '>')
			return bad_operator(lx, 2, ">=");
		if (c1 == '<')
			return bad_operator(lx, 2, "<=");
		return bad_operator(lx, 1, "==");
	case '!':
		if (c1 == '=' && peek(lx, 2) == '=')
			return bad_operator(lx, 3, "!=");
		if (c1 == '=')
			return op(lx, TOK_NE, 2);
		if (c1 == '~')
			return op(lx, TOK_NMATCH, 2);
		return op(lx, TOK_NOT, 1);
	case '<':
		if (c1 == '>')
			return bad_operator(lx, 2, "!=");
		if (c1 == '=')
			return op(lx, TOK_LE, 2);
		return op(lx, TOK_LT, 1);
	case '>':
		if (c1 == '=')
			return op(lx, TOK_GE, 2);
		return op(lx, TOK_GT, 1);
	case '~':
		return bad_operator(lx, 1, "=~");
	case '\'':
	case '"':
		return lex_string(lx);
	default:
		break;
	}
	if (isdigit(c) || (c == '-' && isdigit(c1)))
		return lex_number(lx);
	if (is_ident_start(c))
		return lex_name(lx);
	lx->tok.len = 1;
	if (c >= 0x20 && c < 0x7f) {
		char ch[2] = { (char)c, '\0' };

		return lex_error(lx, "unexpected character '%s'", ch);
	} else {
		return lex_error(lx, "unexpected byte 0x%02x", (unsigned)c);
	}
}
