/*
 * diag.c - collecting, sorting and formatting located diagnostics.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/diag.h"
#include "runbook/banned.h"

static const char *
level_name(enum rb_diag_level l)
{
	switch (l) {
	case RB_DIAG_NOTE:
		return "note";
	case RB_DIAG_WARNING:
		return "warning";
	default:
		return "error";
	}
}

void
rb_diag_add(struct rb_diags *d, enum rb_diag_level level,
    const struct rb_loc *loc, const char *fmt, ...)
{
	struct rb_diag *x;
	struct rb_buf msg = RB_BUF_INIT;
	va_list ap;
	size_t max = d->max ? d->max : 1000;

	if (level == RB_DIAG_ERROR)
		d->nerrors++;
	else if (level == RB_DIAG_WARNING)
		d->nwarnings++;
	if (d->nr >= max)
		return;
	va_start(ap, fmt);
	rb_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	RB_ALLOC_GROW(d->v, d->nr + 1, d->alloc);
	x = &d->v[d->nr++];
	x->level = level;
	x->file = loc != NULL && loc->file != NULL ? xstrdup(loc->file) : NULL;
	x->line = loc != NULL ? loc->line : 0;
	x->col = loc != NULL ? loc->col : 0;
	x->msg = rb_buf_detach(&msg, NULL);
	x->hint = NULL;
}

void
rb_diag_hint(struct rb_diags *d, const char *fmt, ...)
{
	struct rb_buf hint = RB_BUF_INIT;
	va_list ap;
	struct rb_diag *x;

	if (d->nr == 0)
		return;
	x = &d->v[d->nr - 1];
	va_start(ap, fmt);
	rb_buf_vaddf(&hint, fmt, ap);
	va_end(ap);
	free(x->hint);
	x->hint = rb_buf_detach(&hint, NULL);
}

static int
cmp_diag(const struct rb_diag *a, const struct rb_diag *b)
{
	int c;

	c = strcmp(a->file ? a->file : "", b->file ? b->file : "");
	if (c != 0)
		return c;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return 0;
}

void
rb_diags_sort(struct rb_diags *d)
{
	size_t i, j;

	/* Insertion sort: stable, and diagnostics lists are short. */
	for (i = 1; i < d->nr; i++) {
		struct rb_diag x = d->v[i];

		for (j = i; j > 0 && cmp_diag(&d->v[j - 1], &x) > 0; j--)
			d->v[j] = d->v[j - 1];
		d->v[j] = x;
	}
}

/* "file:line:col: " (or less when parts are unknown). */
static void
add_prefix(struct rb_buf *out, const struct rb_diag *x)
{
	if (x->file == NULL)
		return;
	rb_buf_adds(out, x->file);
	if (x->line > 0) {
		rb_buf_addf(out, ":%d", x->line);
		if (x->col > 0)
			rb_buf_addf(out, ":%d", x->col);
	}
	rb_buf_adds(out, ": ");
}

void
rb_diags_format(struct rb_buf *out, const struct rb_diags *d)
{
	size_t i;

	for (i = 0; i < d->nr; i++) {
		const struct rb_diag *x = &d->v[i];

		add_prefix(out, x);
		rb_buf_addf(out, "%s: %s\n", level_name(x->level), x->msg);
		if (x->hint != NULL) {
			add_prefix(out, x);
			rb_buf_addf(out, "hint: %s\n", x->hint);
		}
	}
}

void
rb_diags_release(struct rb_diags *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->nr; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
		free(d->v[i].hint);
	}
	free(d->v);
	d->v = NULL;
	d->nr = d->alloc = 0;
	d->nerrors = d->nwarnings = 0;
}

const char *
rb_qstr(struct rb_qbuf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0, max = sizeof(b->s) - 8;

	for (i = 0; i < len && s != NULL; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o >= max) {
			memcpy(b->s + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c == 0x7f) {
			b->s[o++] = '\\';
			b->s[o++] = 'x';
			b->s[o++] = hex[c >> 4];
			b->s[o++] = hex[c & 15];
		} else
			b->s[o++] = (char)c;
	}
	b->s[o] = '\0';
	return b->s;
}
