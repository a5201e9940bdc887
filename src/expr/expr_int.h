/*
 * expr_int.h - internals of the expression language shared by the lexer,
 * the parser, the evaluator and the template module (which parses the
 * `{{ expr | filter }}` form with the same lexer and parser).
 */
#ifndef RUNBOOK_EXPR_INT_H
#define RUNBOOK_EXPR_INT_H

#include "runbook/buf.h"
#include "runbook/diag.h"
#include "runbook/expr.h"
#include "runbook/regex.h"

/* Longest expression accepted, in bytes. */
#define EXPR_MAX_LEN (64 * 1024)
/* Deepest nesting of '(' and '!' accepted. */
#define EXPR_MAX_DEPTH 200
/* How much of a source text is quoted in messages. */
#define EXPR_QUOTE_MAX 80

/* ---- lexer ---- */

enum expr_tok {
	TOK_EOF,
	TOK_NUM,
	TOK_STR,
	TOK_NAME, /* ident ( "." segment )*, keywords excluded */
	TOK_TRUE,
	TOK_FALSE,
	TOK_NULL,
	TOK_LPAREN,
	TOK_RPAREN,
	TOK_COMMA, /* template filter arguments only */
	TOK_PIPE,  /* template mode: a filter follows */
	TOK_CLOSE, /* template mode: "}}" */
	TOK_EQ,
	TOK_NE,
	TOK_LT,
	TOK_LE,
	TOK_GT,
	TOK_GE,
	TOK_MATCH,
	TOK_NMATCH,
	TOK_AND,
	TOK_OR,
	TOK_NOT
};

struct expr_token {
	enum expr_tok kind;
	size_t off, len; /* span in the source */
	int line, col;	 /* where it starts */
	double num;	 /* TOK_NUM */
	bool escaped;	 /* TOK_STR: decoded text differs from the span */
};

struct expr_lexer {
	const char *src; /* the whole source (template or expression) */
	size_t len;
	size_t pos;		/* next byte to read */
	int line, col;		/* position of src[pos] */
	const char *file;	/* borrowed, for locations */
	bool tmpl;		/* '|' is a filter pipe and "}}" closes */
	struct expr_token tok;	/* the current token */
	struct expr_token prev; /* the one before it (kind TOK_EOF at start) */
	struct rb_buf str;	/* decoded text of a TOK_STR token */
	struct rb_diags *diags;
};

/*
 * Start lexing src at byte pos, which is at line:col of file. Nothing is
 * read until expr_lex_next().
 */
void expr_lex_init(struct expr_lexer *lx, const char *src, size_t len,
    size_t pos, int line, int col, const char *file, bool tmpl,
    struct rb_diags *diags);
void expr_lex_release(struct expr_lexer *lx);
/* Move past n bytes of source, keeping line:col right. */
void expr_lex_advance(struct expr_lexer *lx, size_t n);
/* Read the next token into lx->tok. Returns 0, or RB_EINVAL (diagnosed). */
int expr_lex_next(struct expr_lexer *lx);
/* The location of a token. */
struct rb_loc expr_tok_loc(
    const struct expr_lexer *lx, const struct expr_token *t);
/* Describe a token for messages: "end of expression" or "'text'". */
void expr_tok_describe(struct rb_buf *out, const struct expr_lexer *lx,
    const struct expr_token *t);
/* True when s (len bytes) is a decimal number; stores it in *out. */
bool expr_numeric(const char *s, size_t len, double *out);

/* ---- syntax tree ---- */

enum expr_kind {
	EXPR_LIT,
	EXPR_NAME,
	EXPR_NOT,
	EXPR_AND, /* n-ary, so long chains never deepen the tree */
	EXPR_OR,
	EXPR_CMP
};

enum expr_op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_MATCH, OP_NMATCH };

struct expr_node {
	enum expr_kind kind;
	struct rb_loc loc;   /* start; the operator for EXPR_CMP */
	struct rb_value lit; /* EXPR_LIT */
	char **path;	     /* EXPR_NAME: segments */
	size_t npath;
	char *name;		 /* EXPR_NAME: dotted, for messages */
	enum expr_op op;	 /* EXPR_CMP */
	struct rb_regex *re;	 /* EXPR_CMP with =~ / !~ */
	struct expr_node **kids; /* NOT: 1, CMP: 2, AND/OR: 2 or more */
	size_t nkids;
};

/*
 * Parse one expression (the `or` rule) starting at the current token of
 * lx, which must already have been read. Stops at the first token that
 * cannot continue the expression and leaves it current. *depth counts the
 * nesting already entered. Returns 0 or RB_EINVAL (diagnosed).
 */
int expr_parse_node(struct expr_node **out, struct expr_lexer *lx, int *depth);
void expr_node_free(struct expr_node *n);
/*
 * Diagnose the current token as one that cannot follow an expression, where
 * `expected` (e.g. "an operator") was wanted. Returns RB_EINVAL.
 */
int expr_unexpected(struct expr_lexer *lx, const char *expected);
/* The operator as written ("<=", "=~"). */
const char *expr_op_str(enum expr_op op);

/* Extra name-reference facts a template passes to the resolver. */
struct expr_check_ctx {
	rb_resolve_fn resolve;
	void *payload;
	struct rb_diags *diags;
	bool raw;	  /* the substitution ends in `| raw` */
	bool has_default; /* the substitution has `| default(...)` */
};
/*
 * Check names and operand types under n; *out_type receives the static type
 * of n. Returns 0 or RB_EINVAL (diagnosed).
 */
int expr_node_check(enum rb_type *out_type, const struct expr_node *n,
    const struct expr_check_ctx *cx);

/* What evaluation needs besides the tree. */
struct expr_eval_ctx {
	rb_lookup_fn lookup;
	void *payload;
	const char *src; /* the expression text, for messages */
	struct rb_error *err;
};
/* Evaluate n into *out (which must be initialised). 0 or an RB_E* code. */
int expr_node_eval(struct rb_value *out, const struct expr_node *n,
    const struct expr_eval_ctx *cx);

#endif
