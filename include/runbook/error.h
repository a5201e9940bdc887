/*
 * error.h - error codes and the caller-supplied error buffer.
 *
 * Engine functions return 0 or a negative RB_E* code. The specific message
 * lives in a struct rb_error the caller passes in (never in a global).
 */
#ifndef RUNBOOK_ERROR_H
#define RUNBOOK_ERROR_H

#include "runbook/common.h"

enum {
	RB_OK = 0,
	RB_ERROR = -1,		/* anything not listed below */
	RB_ENOTFOUND = -2,	/* no such runbook, run, step, host, key */
	RB_EINVAL = -3,		/* invalid input (validation failed) */
	RB_ETIMEOUT = -4,	/* a deadline passed */
	RB_ETOOBIG = -5,	/* a capped buffer or limit was exceeded */
	RB_EREFUSED = -6,	/* refused by policy: lock, window, digest */
	RB_EIO = -7,		/* I/O or database failure */
	RB_EINTR = -8,		/* interrupted by a signal */
	RB_EPAUSED = -9		/* waiting for a human decision */
};

struct rb_error {
	int code;		/* the RB_E* value last set */
	char msg[1024];		/* one line, lower-case, no full stop */
	char hint[512];		/* what to do, or "" */
};
#define RB_ERROR_INIT { 0, { 0 }, { 0 } }

/* A short phrase for an RB_E* code ("not found"). Never NULL. */
const char *rb_strerror(int code);

/*
 * Record code and a formatted message in err (if err is not NULL) and return
 * code, so callers can write `return rb_error_set(err, RB_EINVAL, ...)`.
 * The hint is cleared.
 */
int rb_error_set(struct rb_error *err, int code, const char *fmt, ...)
    RB_PRINTFLIKE(3, 4);
/* Set the hint of err (NULL-safe). */
void rb_error_hint(struct rb_error *err, const char *fmt, ...)
    RB_PRINTFLIKE(2, 3);
/* Reset err to RB_ERROR_INIT. */
void rb_error_clear(struct rb_error *err);

#endif
