/*
 * outstream.c - bounded head/tail capture and line splitting of one output
 * stream, for both transports (see outstream.h).
 */
#include <stdlib.h>
#include <string.h>

#include "runbook/common.h"
#include "exec/outstream.h"
#include "runbook/banned.h"

void
outstream_init(struct outstream *s, struct rb_capture *cap, int which,
    size_t head_max, size_t tail_max, outstream_line_fn *on_line, void *ctx)
{
	memset(s, 0, sizeof(*s));
	s->cap = cap;
	s->which = which;
	s->head_max = head_max;
	s->tail_max = tail_max;
	s->on_line = on_line;
	s->ctx = ctx;
	rb_buf_init(&s->line, 0);
}

/* Keep the first head_max bytes in head and the last tail_max in the ring. */
static void
capture_add(struct outstream *s, const char *p, size_t n)
{
	struct rb_capture *c = s->cap;
	size_t tail_max = s->tail_max, first;

	c->total += n;
	if (c->head.len < s->head_max) {
		size_t take = s->head_max - c->head.len;

		if (take > n)
			take = n;
		(void)rb_buf_add(&c->head, p, take); /* uncapped buffer */
		p += take;
		n -= take;
	}
	if (n == 0 || tail_max == 0)
		return;
	if (s->ring == NULL)
		s->ring = xmalloc(tail_max);
	if (n >= tail_max) {
		memcpy(s->ring, p + n - tail_max, tail_max);
		s->ring_pos = 0;
		s->ring_len = tail_max;
		return;
	}
	first = tail_max - s->ring_pos;
	if (first > n)
		first = n;
	memcpy(s->ring + s->ring_pos, p, first);
	memcpy(s->ring, p + first, n - first);
	s->ring_pos = (s->ring_pos + n) % tail_max;
	s->ring_len = s->ring_len + n > tail_max ? tail_max : s->ring_len + n;
}

/* Split p into lines for on_line; no buffered line exceeds LINE_MAX. */
static void
lines_feed(struct outstream *s, const char *p, size_t n)
{
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t len = nl != NULL ? (size_t)(nl - p) : n;
		size_t room = RB_PROC_LINE_MAX - s->line.len;

		if (len >= room) {
			/* Too long for one line: pass a full piece on. */
			(void)rb_buf_add(&s->line, p, room);
			s->on_line(s->ctx, s->which, s->line.buf, s->line.len);
			rb_buf_reset(&s->line);
			p += room;
			n -= room;
			continue;
		}
		if (nl == NULL) {
			(void)rb_buf_add(&s->line, p, len);
			return;
		}
		if (s->line.len == 0) {
			s->on_line(s->ctx, s->which, p, len);
		} else {
			(void)rb_buf_add(&s->line, p, len);
			s->on_line(s->ctx, s->which, s->line.buf, s->line.len);
			rb_buf_reset(&s->line);
		}
		p += len + 1;
		n -= len + 1;
	}
}

void
outstream_feed(struct outstream *s, const char *p, size_t n)
{
	capture_add(s, p, n);
	if (s->on_line != NULL)
		lines_feed(s, p, n);
}

void
outstream_finish(struct outstream *s)
{
	if (s->on_line != NULL && s->line.len > 0)
		s->on_line(s->ctx, s->which, s->line.buf, s->line.len);
	rb_buf_release(&s->line);
	if (s->ring == NULL)
		return;
	if (s->ring_len < s->tail_max) {
		(void)rb_buf_add(&s->cap->tail, s->ring, s->ring_len);
	} else {
		(void)rb_buf_add(&s->cap->tail, s->ring + s->ring_pos,
		    s->ring_len - s->ring_pos);
		(void)rb_buf_add(&s->cap->tail, s->ring, s->ring_pos);
	}
	free(s->ring);
	s->ring = NULL;
	s->ring_pos = s->ring_len = 0;
}

void
outstream_release(struct outstream *s)
{
	free(s->ring);
	s->ring = NULL;
	s->ring_pos = s->ring_len = 0;
	rb_buf_release(&s->line);
}
