/*
 * buf.c - growable, optionally capped byte buffers (git's strbuf, with
 * curl's "too big" cap for anything sized by the outside world).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runbook/buf.h"
#include "runbook/error.h"
#include "runbook/banned.h"

char rb_buf_empty[1];

void
rb_buf_init(struct rb_buf *b, size_t hint)
{
	b->buf = rb_buf_empty;
	b->len = 0;
	b->alloc = 0;
	b->max = 0;
	if (hint)
		(void)rb_buf_grow(b, hint);
}

void
rb_buf_release(struct rb_buf *b)
{
	if (b == NULL)
		return;
	if (b->alloc)
		free(b->buf);
	b->buf = rb_buf_empty;
	b->len = 0;
	b->alloc = 0;
}

void
rb_buf_release_secret(struct rb_buf *b)
{
	if (b == NULL)
		return;
	if (b->alloc)
		explicit_bzero(b->buf, b->alloc);
	rb_buf_release(b);
}

char *
rb_buf_detach(struct rb_buf *b, size_t *out_len)
{
	char *p;

	if (out_len != NULL)
		*out_len = b->len;
	p = b->alloc ? b->buf : xstrdup("");
	b->buf = rb_buf_empty;
	b->len = 0;
	b->alloc = 0;
	return p;
}

int
rb_buf_grow(struct rb_buf *b, size_t extra)
{
	size_t want;
	bool fresh = b->alloc == 0;

	if (extra > SIZE_MAX - b->len - 1)
		return RB_ETOOBIG;
	want = b->len + extra;
	if (b->max != 0 && want > b->max)
		return RB_ETOOBIG;
	if (want + 1 <= b->alloc)
		return 0;
	if (fresh)
		b->buf = NULL;
	b->buf = xgrow(b->buf, &b->alloc, want + 1, 1);
	if (fresh)
		b->buf[0] = '\0';
	return 0;
}

void
rb_buf_setcap(struct rb_buf *b, size_t max)
{
	b->max = max;
}

void
rb_buf_setlen(struct rb_buf *b, size_t len)
{
	if (len > (b->alloc ? b->alloc - 1 : 0))
		RB_BUG("rb_buf_setlen beyond allocation");
	b->len = len;
	b->buf[len] = '\0';
}

void
rb_buf_reset(struct rb_buf *b)
{
	if (b->alloc)
		rb_buf_setlen(b, 0);
}

int
rb_buf_add(struct rb_buf *b, const void *data, size_t len)
{
	int r;

	if (len == 0)
		return 0;
	if ((r = rb_buf_grow(b, len)) != 0)
		return r;
	memcpy(b->buf + b->len, data, len);
	b->len += len;
	b->buf[b->len] = '\0';
	return 0;
}

int
rb_buf_adds(struct rb_buf *b, const char *s)
{
	return rb_buf_add(b, s, strlen(s));
}

int
rb_buf_addch(struct rb_buf *b, int c)
{
	char ch = (char)c;

	return rb_buf_add(b, &ch, 1);
}

int
rb_buf_vaddf(struct rb_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n, r;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		RB_BUG("bad format '%s'", fmt);
	if ((r = rb_buf_grow(b, (size_t)n)) != 0)
		return r;
	vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
rb_buf_addf(struct rb_buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = rb_buf_vaddf(b, fmt, ap);
	va_end(ap);
	return r;
}

int
rb_buf_add_json_str(struct rb_buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;
	int r = 0;

	if ((r = rb_buf_addch(b, '"')) != 0)
		return r;
	for (i = 0; i < len && r == 0; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '"':
			r = rb_buf_adds(b, "\\\"");
			break;
		case '\\':
			r = rb_buf_adds(b, "\\\\");
			break;
		case '\n':
			r = rb_buf_adds(b, "\\n");
			break;
		case '\r':
			r = rb_buf_adds(b, "\\r");
			break;
		case '\t':
			r = rb_buf_adds(b, "\\t");
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				char esc[7] = { '\\', 'u', '0', '0',
				    hex[c >> 4], hex[c & 15], 0 };
				r = rb_buf_adds(b, esc);
			} else
				r = rb_buf_addch(b, c);
		}
	}
	if (r == 0)
		r = rb_buf_addch(b, '"');
	return r;
}

int
rb_buf_add_shquoted(struct rb_buf *b, const char *s, size_t len)
{
	size_t i, start = 0;
	int r;

	if ((r = rb_buf_addch(b, '\'')) != 0)
		return r;
	for (i = 0; i < len; i++) {
		if (s[i] != '\'')
			continue;
		if ((r = rb_buf_add(b, s + start, i - start)) != 0 ||
		    (r = rb_buf_adds(b, "'\\''")) != 0)
			return r;
		start = i + 1;
	}
	if ((r = rb_buf_add(b, s + start, len - start)) != 0)
		return r;
	return rb_buf_addch(b, '\'');
}

void
rb_buf_rtrim(struct rb_buf *b)
{
	while (b->len > 0 && (b->buf[b->len - 1] == ' ' ||
	    b->buf[b->len - 1] == '\t' || b->buf[b->len - 1] == '\n' ||
	    b->buf[b->len - 1] == '\r'))
		b->len--;
	if (b->alloc)
		b->buf[b->len] = '\0';
}

int
rb_buf_read_file(struct rb_buf *b, const char *path, size_t max)
{
	char chunk[65536];
	int fd, r = 0;
	ssize_t n;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? RB_ENOTFOUND : RB_EIO;
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = RB_EIO;
			break;
		}
		if (n == 0)
			break;
		if (max != 0 && b->len + (size_t)n > max) {
			r = RB_ETOOBIG;
			break;
		}
		if ((r = rb_buf_add(b, chunk, (size_t)n)) != 0)
			break;
	}
	{
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return r;
}
