/*
 * strvec.h - NULL-terminated vectors of owned strings (argv, environments).
 */
#ifndef RUNBOOK_STRVEC_H
#define RUNBOOK_STRVEC_H

#include "runbook/common.h"

struct rb_strvec {
	char **v;	/* NULL-terminated; never NULL after init */
	size_t nr;
	size_t alloc;
};

extern const char *rb_strvec_empty[];
#define RB_STRVEC_INIT { (char **)rb_strvec_empty, 0, 0 }

void rb_strvec_init(struct rb_strvec *sv);
/* Append a copy of s; returns the copy. */
const char *rb_strvec_push(struct rb_strvec *sv, const char *s);
/* Append s, taking ownership. */
const char *rb_strvec_push_nodup(struct rb_strvec *sv, char *s);
const char *rb_strvec_pushf(struct rb_strvec *sv, const char *fmt, ...)
    RB_PRINTFLIKE(2, 3);
/*
 * For environments: set NAME=value, replacing an existing NAME= entry.
 */
void rb_strvec_setenv(struct rb_strvec *sv, const char *name,
    const char *value);
/* The value of NAME in an environment vector, or NULL. */
const char *rb_strvec_getenv(const struct rb_strvec *sv, const char *name);
void rb_strvec_pop(struct rb_strvec *sv);
/* Free everything; the vector is RB_STRVEC_INIT afterwards. */
void rb_strvec_release(struct rb_strvec *sv);
/* Like release, but wipes every string first (environments with secrets). */
void rb_strvec_release_secret(struct rb_strvec *sv);

#endif
