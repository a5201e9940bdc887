/*
 * strvec.c - NULL-terminated vectors of owned strings (git's strvec).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/strvec.h"
#include "runbook/banned.h"

const char *rb_strvec_empty[] = { NULL };

void
rb_strvec_init(struct rb_strvec *sv)
{
	sv->v = (char **)rb_strvec_empty;
	sv->nr = 0;
	sv->alloc = 0;
}

const char *
rb_strvec_push_nodup(struct rb_strvec *sv, char *s)
{
	if (sv->alloc == 0)
		sv->v = NULL;
	RB_ALLOC_GROW(sv->v, sv->nr + 2, sv->alloc);
	sv->v[sv->nr++] = s;
	sv->v[sv->nr] = NULL;
	return s;
}

const char *
rb_strvec_push(struct rb_strvec *sv, const char *s)
{
	return rb_strvec_push_nodup(sv, xstrdup(s));
}

const char *
rb_strvec_pushf(struct rb_strvec *sv, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		RB_BUG("bad format '%s'", fmt);
	s = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return rb_strvec_push_nodup(sv, s);
}

/* Index of the NAME= entry, or -1. */
static long
env_index(const struct rb_strvec *sv, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < sv->nr; i++)
		if (strncmp(sv->v[i], name, n) == 0 && sv->v[i][n] == '=')
			return (long)i;
	return -1;
}

void
rb_strvec_setenv(struct rb_strvec *sv, const char *name, const char *value)
{
	long i = env_index(sv, name);
	char *s = xstrfmt("%s=%s", name, value);

	if (i < 0) {
		rb_strvec_push_nodup(sv, s);
		return;
	}
	rb_free_secret(sv->v[i]);
	sv->v[i] = s;
}

const char *
rb_strvec_getenv(const struct rb_strvec *sv, const char *name)
{
	long i = env_index(sv, name);

	return i < 0 ? NULL : sv->v[i] + strlen(name) + 1;
}

void
rb_strvec_pop(struct rb_strvec *sv)
{
	if (sv->nr == 0)
		return;
	free(sv->v[--sv->nr]);
	sv->v[sv->nr] = NULL;
}

static void
release(struct rb_strvec *sv, bool wipe)
{
	size_t i;

	if (sv == NULL)
		return;
	if (sv->alloc) {
		for (i = 0; i < sv->nr; i++) {
			if (wipe)
				rb_free_secret(sv->v[i]);
			else
				free(sv->v[i]);
		}
		free(sv->v);
	}
	rb_strvec_init(sv);
}

void
rb_strvec_release(struct rb_strvec *sv)
{
	release(sv, false);
}

void
rb_strvec_release_secret(struct rb_strvec *sv)
{
	release(sv, true);
}
