/*
 * common.h - attributes, version, allocation wrappers and the exit-code table
 * shared by every part of runbook.
 */
#ifndef RUNBOOK_COMMON_H
#define RUNBOOK_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RB_VERSION "0.1.0"

#define RB_PRINTFLIKE(f, a) __attribute__((format(printf, f, a)))
#define RB_NORETURN __attribute__((noreturn))
#define RB_UNUSED __attribute__((unused))
#define RB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Exit codes, SPEC section 4. The CLI maps engine results onto these; nothing
 * else may be returned from main().
 */
enum rb_exit {
	RB_EXIT_OK = 0,			/* success */
	RB_EXIT_FAILED = 1,		/* run failed, rollbacks succeeded */
	RB_EXIT_USAGE = 2,		/* usage or validation error */
	RB_EXIT_ROLLBACK_FAILED = 3,	/* run failed and a rollback failed */
	RB_EXIT_PAUSED = 4,		/* paused at an approval */
	RB_EXIT_REFUSED = 5,		/* window, lock, digest, changed file */
	RB_EXIT_INTERRUPTED = 130	/* SIGINT/SIGTERM; journal intact */
};

/*
 * Allocation that cannot fail: on out-of-memory these print one line and
 * terminate the process. This is the only place engine code may terminate.
 */
void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Grow *ptr (of *alloc elements of size elsize) to hold at least nr. */
void *xgrow(void *ptr, size_t *alloc, size_t nr, size_t elsize);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* A newly allocated formatted string. */
char *xstrfmt(const char *fmt, ...) RB_PRINTFLIKE(1, 2);
/* free() that first wipes len bytes (for secrets); NULL-safe. */
void freezero(void *ptr, size_t len);
/* Wipe and free a NUL-terminated secret string; NULL-safe. */
void rb_free_secret(char *s);

/* Report a programmer error (file:line) and abort. */
RB_NORETURN void rb_bug_fl(const char *file, int line, const char *fmt, ...)
    RB_PRINTFLIKE(3, 4);
#define RB_BUG(...) rb_bug_fl(__FILE__, __LINE__, __VA_ARGS__)

/* Grow an array `x` with `alloc` slots to hold `nr` elements. */
#define RB_ALLOC_GROW(x, nr, alloc) \
	((x) = xgrow((x), &(alloc), (nr), sizeof(*(x))))

#endif
