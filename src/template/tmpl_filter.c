/*
 * tmpl_filter.c - the template filters: their table, argument parsing and
 * checking, and what each one does to a value. Filters work on the text
 * form of a value and keep its flags, so a secret stays secret and tainted
 * text stays tainted whatever the author pipes it through.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "template/template_int.h"
#include "runbook/util.h"
#include "runbook/banned.h"

static const struct filter_def {
	const char *name;
	enum tmpl_filter_id id;
	int nargs; /* exact number of arguments */
	bool text; /* needs text: refuses a boolean input */
} filter_defs[] = {
	{ "default", TF_DEFAULT, 1, false },
	{ "lower", TF_LOWER, 0, true },
	{ "upper", TF_UPPER, 0, true },
	{ "trim", TF_TRIM, 0, true },
	{ "host", TF_HOST, 0, true },
	{ "json", TF_JSON, 0, false },
	{ "urlencode", TF_URLENCODE, 0, true },
	{ "raw", TF_RAW, 0, false },
};

/* The definition of filter id. */
static const struct filter_def *
def_of(enum tmpl_filter_id id)
{
	size_t i;

	for (i = 0; i < RB_ARRAY_SIZE(filter_defs); i++)
		if (filter_defs[i].id == id)
			return &filter_defs[i];
	RB_BUG("unknown filter id %d", (int)id);
}

/* Report an error at loc. */
static int filter_error(struct rb_diags *diags, const struct rb_loc *loc,
    const char *fmt, ...) RB_PRINTFLIKE(3, 4);

static int
filter_error(
    struct rb_diags *diags, const struct rb_loc *loc, const char *fmt, ...)
{
	struct rb_buf msg = RB_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	rb_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	rb_diag_error(diags, loc, "%s", msg.buf);
	rb_buf_release(&msg);
	return RB_EINVAL;
}

/* Diagnose an unknown filter name with a did-you-mean. */
static int
unknown_filter(struct expr_lexer *lx, const char *name)
{
	const char *cands[RB_ARRAY_SIZE(filter_defs)];
	struct rb_loc loc = expr_tok_loc(lx, &lx->tok);
	const char *best;
	size_t i;

	for (i = 0; i < RB_ARRAY_SIZE(filter_defs); i++)
		cands[i] = filter_defs[i].name;
	best = rb_suggest(name, cands, RB_ARRAY_SIZE(cands));
	if (best != NULL)
		return filter_error(lx->diags, &loc,
		    "unknown filter '%s' (did you mean '%s'?)", name, best);
	filter_error(lx->diags, &loc, "unknown filter '%s'", name);
	rb_diag_hint(lx->diags,
	    "the filters are default(\"x\"), lower, upper, trim, host, json, "
	    "urlencode and raw");
	return RB_EINVAL;
}

/* Parse "(" literal ( "," literal )* ")" into args; *nargs counts all. */
static int
parse_args(
    struct rb_value *arg, int *nargs, struct expr_lexer *lx, const char *fname)
{
	struct rb_buf found = RB_BUF_INIT;
	struct rb_loc loc;
	int r;

	if ((r = expr_lex_next(lx)) != 0)
		goto out;
	if (lx->tok.kind == TOK_RPAREN)
		goto close;
	for (;;) {
		loc = expr_tok_loc(lx, &lx->tok);
		switch (lx->tok.kind) {
		case TOK_STR:
			if (*nargs == 0)
				rb_value_set_str(
				    arg, lx->str.buf, lx->str.len, 0);
			break;
		case TOK_NUM:
			if (*nargs == 0)
				rb_value_set_num(arg, lx->tok.num);
			break;
		default:
			expr_tok_describe(&found, lx, &lx->tok);
			r = filter_error(lx->diags, &loc,
			    "the argument of filter '%s' must be a string or a "
			    "number, found %s",
			    fname, found.buf);
			goto out;
		}
		(*nargs)++;
		if ((r = expr_lex_next(lx)) != 0)
			goto out;
		if (lx->tok.kind == TOK_RPAREN)
			break;
		if (lx->tok.kind != TOK_COMMA) {
			expr_tok_describe(&found, lx, &lx->tok);
			loc = expr_tok_loc(lx, &lx->tok);
			r = filter_error(lx->diags, &loc,
			    "expected ',' or ')' in the arguments of filter "
			    "'%s', found %s",
			    fname, found.buf);
			goto out;
		}
		if ((r = expr_lex_next(lx)) != 0)
			goto out;
	}
close:
	r = expr_lex_next(lx);
out:
	rb_buf_release(&found);
	return r;
}

int
tmpl_filter_parse(struct tmpl_filter *out, struct expr_lexer *lx)
{
	struct tmpl_filter f;
	const struct filter_def *def = NULL;
	struct rb_buf found = RB_BUF_INIT;
	struct rb_loc paren;
	char *name = NULL;
	size_t i;
	int nargs = 0, r = RB_EINVAL;

	memset(&f, 0, sizeof(f));
	f.loc = expr_tok_loc(lx, &lx->tok);
	if (lx->tok.kind != TOK_NAME && lx->tok.kind != TOK_NULL &&
	    lx->tok.kind != TOK_TRUE && lx->tok.kind != TOK_FALSE) {
		expr_tok_describe(&found, lx, &lx->tok);
		r = filter_error(lx->diags, &f.loc,
		    "expected a filter name after '|', found %s", found.buf);
		if (lx->tok.kind == TOK_EOF || lx->tok.kind == TOK_CLOSE)
			rb_diag_hint(lx->diags, "write '||' for a logical or");
		goto out;
	}
	name = xstrndup(lx->src + lx->tok.off, lx->tok.len);
	for (i = 0; i < RB_ARRAY_SIZE(filter_defs); i++)
		if (strcmp(filter_defs[i].name, name) == 0)
			def = &filter_defs[i];
	if (def == NULL) {
		r = unknown_filter(lx, name);
		goto out;
	}
	f.id = def->id;
	if ((r = expr_lex_next(lx)) != 0)
		goto out;
	paren = expr_tok_loc(lx, &lx->tok);
	if (lx->tok.kind == TOK_LPAREN &&
	    (r = parse_args(&f.arg, &nargs, lx, def->name)) != 0)
		goto out;
	if (nargs != def->nargs) {
		if (def->nargs == 0)
			r = filter_error(lx->diags, &paren,
			    "filter '%s' takes no arguments", def->name);
		else
			r = filter_error(lx->diags,
			    nargs == 0 ? &f.loc : &paren,
			    "filter '%s' takes one argument, given %d",
			    def->name, nargs);
		if (def->id == TF_DEFAULT)
			rb_diag_hint(lx->diags, "write default(\"value\")");
		r = RB_EINVAL;
		goto out;
	}
	*out = f;
	memset(&f, 0, sizeof(f));
	r = 0;
out:
	rb_value_release(&f.arg);
	rb_buf_release(&found);
	free(name);
	return r;
}

void
tmpl_filter_release(struct tmpl_filter *f)
{
	if (f != NULL)
		rb_value_release(&f->arg);
}

int
tmpl_filter_check(
    enum rb_type *type, const struct tmpl_filter *f, struct rb_diags *diags)
{
	const struct filter_def *def = def_of(f->id);

	if (def->text && *type == RB_TYPE_BOOL) {
		filter_error(diags, &f->loc,
		    "filter '%s' needs text, not a boolean", def->name);
		return RB_EINVAL;
	}
	switch (f->id) {
	case TF_DEFAULT:
		if ((f->arg.type == RB_VAL_NUM && *type != RB_TYPE_NUM) ||
		    (f->arg.type == RB_VAL_STR && *type != RB_TYPE_STR))
			*type = RB_TYPE_ANY;
		break;
	case TF_RAW:
		break;
	default:
		*type = RB_TYPE_STR;
		break;
	}
	return 0;
}

/* Strip a trailing ":port" (digits) and the brackets of "[v6]:port". */
static void
strip_port(struct rb_buf *b)
{
	char *close, *colon;
	size_t i;

	if (b->len > 0 && b->buf[0] == '[' &&
	    (close = memchr(b->buf, ']', b->len)) != NULL) {
		size_t hlen = (size_t)(close - b->buf) - 1;
		const char *rest = close + 1;
		size_t rlen = b->len - (size_t)(rest - b->buf);
		bool port = rlen == 0;

		if (rlen >= 2 && rest[0] == ':') {
			port = true;
			for (i = 1; i < rlen; i++)
				port = port && isdigit((unsigned char)rest[i]);
		}
		if (port) {
			memmove(b->buf, b->buf + 1, hlen);
			rb_buf_setlen(b, hlen);
		}
		return;
	}
	colon = memchr(b->buf, ':', b->len);
	/* Two colons and no brackets: a bare IPv6 address, no port. */
	if (colon == NULL ||
	    memchr(colon + 1, ':', b->len - (size_t)(colon - b->buf) - 1) !=
		NULL)
		return;
	if ((size_t)(colon - b->buf) + 1 == b->len)
		return;
	for (i = (size_t)(colon - b->buf) + 1; i < b->len; i++)
		if (!isdigit((unsigned char)b->buf[i]))
			return;
	rb_buf_setlen(b, (size_t)(colon - b->buf));
}

/* Remove leading and trailing white space. */
static void
trim(struct rb_buf *b)
{
	size_t start = 0;

	while (start < b->len && isspace((unsigned char)b->buf[start]))
		start++;
	if (start > 0) {
		memmove(b->buf, b->buf + start, b->len - start);
		rb_buf_setlen(b, b->len - start);
	}
	while (b->len > 0 && isspace((unsigned char)b->buf[b->len - 1]))
		rb_buf_setlen(b, b->len - 1);
}

/* Percent-encode everything but RFC 3986 unreserved characters. */
static void
urlencode(struct rb_buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (isalnum(c) || c == '-' || c == '.' || c == '_' ||
		    c == '~') {
			rb_buf_addch(out, c);
		} else {
			rb_buf_addch(out, '%');
			rb_buf_addch(out, hex[c >> 4]);
			rb_buf_addch(out, hex[c & 15]);
		}
	}
}

void
tmpl_filter_apply(struct rb_value *v, const struct tmpl_filter *f)
{
	struct rb_buf text = RB_BUF_INIT, res = RB_BUF_INIT;
	unsigned flags = v->flags;
	size_t i;

	if (v->type == RB_VAL_UNKNOWN || f->id == TF_RAW)
		return;
	if (f->id == TF_DEFAULT) {
		if (v->type == RB_VAL_NULL ||
		    (v->type == RB_VAL_STR && v->len == 0)) {
			if (f->arg.type == RB_VAL_STR)
				rb_value_set_str(v, f->arg.str, f->arg.len, 0);
			else
				rb_value_set_num(v, f->arg.num);
			v->flags = flags;
		}
		return;
	}
	rb_value_to_buf(&text, v);
	/*
	 * Size the result once: growing by realloc would leave copies of a
	 * secret in freed memory. Escaping at most sextuples a byte.
	 */
	if (f->id == TF_JSON || f->id == TF_URLENCODE)
		rb_buf_grow(&res, text.len * 6 + 2);
	switch (f->id) {
	case TF_LOWER:
		for (i = 0; i < text.len; i++)
			text.buf[i] = (char)tolower((unsigned char)text.buf[i]);
		break;
	case TF_UPPER:
		for (i = 0; i < text.len; i++)
			text.buf[i] = (char)toupper((unsigned char)text.buf[i]);
		break;
	case TF_TRIM:
		trim(&text);
		break;
	case TF_HOST:
		strip_port(&text);
		break;
	case TF_JSON:
		rb_buf_add_json_str(&res, text.buf, text.len);
		rb_buf_release_secret(&text);
		text = res;
		rb_buf_init(&res, 0);
		break;
	case TF_URLENCODE:
		urlencode(&res, text.buf, text.len);
		rb_buf_release_secret(&text);
		text = res;
		rb_buf_init(&res, 0);
		break;
	default:
		break;
	}
	rb_value_set_str(v, text.buf, text.len, flags);
	/* The text may be a secret's: wipe the scratch copies. */
	rb_buf_release_secret(&text);
	rb_buf_release_secret(&res);
}
