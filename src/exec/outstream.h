/*
 * outstream.h - the reading side of one captured output stream, shared by
 * the local (proc.c) and SSH (ssh_exec.c) transports so both capture alike:
 * the first head_max bytes in cap->head, the last tail_max in a ring that
 * becomes cap->tail at the end, a count of everything, and (with a line
 * callback) the output split into lines of at most RB_PROC_LINE_MAX bytes.
 */
#ifndef RUNBOOK_EXEC_OUTSTREAM_H
#define RUNBOOK_EXEC_OUTSTREAM_H

#include <stddef.h>

#include "runbook/buf.h"
#include "runbook/proc.h"

typedef void outstream_line_fn(void *ctx, int which, const char *p,
    size_t n);

struct outstream {
	struct rb_capture *cap;
	int which;		/* RB_PROC_STDOUT or RB_PROC_STDERR */
	size_t head_max, tail_max;
	char *ring;		/* tail_max bytes, allocated on overflow */
	size_t ring_pos;	/* next write position */
	size_t ring_len;	/* bytes used, <= tail_max */
	struct rb_buf line;	/* partial line for on_line */
	outstream_line_fn *on_line;	/* NULL: no line splitting */
	void *ctx;
};

void outstream_init(struct outstream *s, struct rb_capture *cap, int which,
    size_t head_max, size_t tail_max, outstream_line_fn *on_line, void *ctx);
/* Capture n bytes and pass the lines they complete to on_line. */
void outstream_feed(struct outstream *s, const char *p, size_t n);
/* The stream ended: pass the partial line on, move the ring to cap->tail. */
void outstream_finish(struct outstream *s);
/* Free what finish would have moved (the stream was abandoned). */
void outstream_release(struct outstream *s);

#endif
