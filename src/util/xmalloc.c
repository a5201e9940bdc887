/*
 * xmalloc.c - allocation wrappers that terminate on out-of-memory, secret
 * wiping, and the BUG() reporter.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runbook/common.h"
#include "runbook/fault.h"
#include "runbook/banned.h"

/* Print one line and terminate: the process cannot go on without memory. */
static RB_NORETURN void
oom(size_t size)
{
	char msg[128];
	int n;

	n = snprintf(msg, sizeof(msg),
	    "runbook: fatal: out of memory allocating %zu bytes\n", size);
	if (n > 0)
		(void)!write(STDERR_FILENO, msg, (size_t)n);
	abort();
}

void *
xmalloc(size_t size)
{
	void *p = rb_fault_alloc() ? NULL : malloc(size ? size : 1);

	if (p == NULL)
		oom(size);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p;

	if (size != 0 && nmemb > SIZE_MAX / size)
		oom(SIZE_MAX);
	p = rb_fault_alloc() ? NULL : calloc(nmemb ? nmemb : 1,
	    size ? size : 1);
	if (p == NULL)
		oom(nmemb * size);
	return p;
}

void *
xrealloc(void *ptr, size_t size)
{
	void *p = rb_fault_alloc() ? NULL : realloc(ptr, size ? size : 1);

	if (p == NULL)
		oom(size);
	return p;
}

void *
xgrow(void *ptr, size_t *alloc, size_t nr, size_t elsize)
{
	size_t n;

	if (nr <= *alloc)
		return ptr;
	n = *alloc < 8 ? 8 : *alloc;
	while (n < nr) {
		if (n > SIZE_MAX / 2)
			oom(SIZE_MAX);
		n = n * 3 / 2 + 8;
	}
	if (n > SIZE_MAX / elsize)
		oom(SIZE_MAX);
	ptr = xrealloc(ptr, n * elsize);
	*alloc = n;
	return ptr;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p;
	size_t len = strnlen(s, n);

	p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
xstrfmt(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		RB_BUG("bad format '%s'", fmt);
	p = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void
freezero(void *ptr, size_t len)
{
	if (ptr == NULL)
		return;
	explicit_bzero(ptr, len);
	free(ptr);
}

void
rb_free_secret(char *s)
{
	if (s != NULL)
		freezero(s, strlen(s));
}

void
rb_bug_fl(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "runbook: BUG: %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
