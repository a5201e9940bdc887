/*
 * error.c - error code phrases and the caller-supplied error buffer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "runbook/error.h"
#include "runbook/banned.h"

const char *
rb_strerror(int code)
{
	switch (code) {
	case RB_OK:
		return "success";
	case RB_ENOTFOUND:
		return "not found";
	case RB_EINVAL:
		return "invalid input";
	case RB_ETIMEOUT:
		return "timed out";
	case RB_ETOOBIG:
		return "too big";
	case RB_EREFUSED:
		return "refused";
	case RB_EIO:
		return "input/output error";
	case RB_EINTR:
		return "interrupted";
	case RB_EPAUSED:
		return "paused for approval";
	default:
		return "error";
	}
}

int
rb_error_set(struct rb_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->hint[0] = '\0';
	return code;
}

void
rb_error_hint(struct rb_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err->hint, sizeof(err->hint), fmt, ap);
	va_end(ap);
}

void
rb_error_clear(struct rb_error *err)
{
	if (err == NULL)
		return;
	err->code = 0;
	err->msg[0] = '\0';
	err->hint[0] = '\0';
}
