/*
 * diag.h - located diagnostics ("file:line:col: error: ...").
 *
 * Parsers and validators collect every problem of a file into a struct
 * rb_diags instead of printing or stopping at the first one; the CLI prints
 * them all and the worst level decides the exit status.
 */
#ifndef RUNBOOK_DIAG_H
#define RUNBOOK_DIAG_H

#include "runbook/buf.h"

/* A position in an input file; file is borrowed (owned by the document). */
struct rb_loc {
	const char *file;
	int line;	/* 1-based; 0 when unknown */
	int col;	/* 1-based; 0 when unknown */
};
#define RB_LOC_INIT { NULL, 0, 0 }

enum rb_diag_level {
	RB_DIAG_NOTE,
	RB_DIAG_WARNING,
	RB_DIAG_ERROR
};

struct rb_diag {
	enum rb_diag_level level;
	char *file;	/* owned copy */
	int line, col;
	char *msg;	/* "unknown key 'retires' in step 'wait-db'" */
	char *hint;	/* what to do, or NULL */
};

struct rb_diags {
	struct rb_diag *v;
	size_t nr, alloc;
	size_t nerrors, nwarnings;
	size_t max;	/* stop recording after this many (0 = 1000) */
};
#define RB_DIAGS_INIT { NULL, 0, 0, 0, 0, 0 }

/* Record a diagnostic. loc may be NULL (no position). */
void rb_diag_add(struct rb_diags *d, enum rb_diag_level level,
    const struct rb_loc *loc, const char *fmt, ...) RB_PRINTFLIKE(4, 5);
/* Attach a hint to the most recently added diagnostic. */
void rb_diag_hint(struct rb_diags *d, const char *fmt, ...)
    RB_PRINTFLIKE(2, 3);
#define rb_diag_error(d, loc, ...) \
	rb_diag_add((d), RB_DIAG_ERROR, (loc), __VA_ARGS__)
#define rb_diag_warn(d, loc, ...) \
	rb_diag_add((d), RB_DIAG_WARNING, (loc), __VA_ARGS__)

/* Stable sort by file, line, column (insertion order kept among equals). */
void rb_diags_sort(struct rb_diags *d);
/*
 * Append all diagnostics in the compiler form, one per line:
 *   file:line:col: error: msg
 *   file:line:col: hint: hint
 */
void rb_diags_format(struct rb_buf *out, const struct rb_diags *d);
void rb_diags_release(struct rb_diags *d);

/* A short, printable rendering of user text for messages. */
struct rb_qbuf {
	char s[100];
};
/*
 * Render len bytes of s into b: control characters escaped as \xNN, long
 * text cut with "...". Returns b->s.
 */
const char *rb_qstr(struct rb_qbuf *b, const char *s, size_t len);

/* strerror(errnum) with a lower-case first letter, into out. */
void rb_errno_text(char *out, size_t outsz, int errnum);

/* Largest input file (YAML, config) accepted, in bytes. */
#define RB_FILE_MAX (16 * 1024 * 1024)

/*
 * Read a whole file (at most RB_FILE_MAX bytes) into buf. Returns 0,
 * RB_ENOTFOUND (nothing reported), or RB_EINVAL with a diagnostic.
 */
int rb_file_read(struct rb_buf *buf, const char *path, struct rb_diags *d);

#endif
