/*
 * buf.h - growable byte buffers with strbuf invariants and an optional cap.
 *
 * Invariants (git's strbuf): buf is never NULL and always NUL-terminated at
 * buf[len]; RB_BUF_INIT needs no allocation; rb_buf_detach() is the only way
 * to take the memory. A buffer with max != 0 refuses to grow past max bytes:
 * the adding function returns RB_ETOOBIG and leaves the buffer unchanged.
 */
#ifndef RUNBOOK_BUF_H
#define RUNBOOK_BUF_H

#include <stdarg.h>

#include "runbook/common.h"

struct rb_buf {
	char *buf;	/* contents, NUL-terminated */
	size_t len;	/* bytes used, excluding the NUL */
	size_t alloc;	/* bytes allocated, 0 when buf is the static empty */
	size_t max;	/* hard cap on len, 0 for none */
};

extern char rb_buf_empty[];
#define RB_BUF_INIT { rb_buf_empty, 0, 0, 0 }

void rb_buf_init(struct rb_buf *b, size_t hint);
/* Free the contents; the buffer is RB_BUF_INIT afterwards (cap kept). */
void rb_buf_release(struct rb_buf *b);
/* Wipe the contents with explicit_bzero, then release (for secrets). */
void rb_buf_release_secret(struct rb_buf *b);
/* Return the contents (caller frees) and reset the buffer. */
char *rb_buf_detach(struct rb_buf *b, size_t *out_len);
/* Make room for extra more bytes. Returns 0 or RB_ETOOBIG. */
int rb_buf_grow(struct rb_buf *b, size_t extra);
/* Set the cap (0 = none). */
void rb_buf_setcap(struct rb_buf *b, size_t max);
void rb_buf_setlen(struct rb_buf *b, size_t len);
void rb_buf_reset(struct rb_buf *b);

/* Append. Each returns 0 or RB_ETOOBIG (buffer unchanged). */
int rb_buf_add(struct rb_buf *b, const void *data, size_t len);
int rb_buf_adds(struct rb_buf *b, const char *s);
int rb_buf_addch(struct rb_buf *b, int c);
int rb_buf_addf(struct rb_buf *b, const char *fmt, ...) RB_PRINTFLIKE(2, 3);
int rb_buf_vaddf(struct rb_buf *b, const char *fmt, va_list ap);
/* Append s as a JSON string literal, quotes included. */
int rb_buf_add_json_str(struct rb_buf *b, const char *s, size_t len);

/*
 * Append s as one POSIX shell word: single quotes, with each ' written as
 * '\''. The result is exact for sh, dash and bash.
 */
int rb_buf_add_shquoted(struct rb_buf *b, const char *s, size_t len);

/* Remove trailing whitespace. */
void rb_buf_rtrim(struct rb_buf *b);

/*
 * Read a whole file into b, refusing files larger than max bytes (0 = no
 * limit) with RB_ETOOBIG. Returns 0, RB_ENOTFOUND or RB_EIO; errno is kept.
 */
int rb_buf_read_file(struct rb_buf *b, const char *path, size_t max);

#endif
