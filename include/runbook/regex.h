/*
 * regex.h - a thin PCRE2 wrapper with match limits.
 *
 * Every match runs with match, depth and heap limits, so a pathological
 * pattern against hostile input fails fast (RB_ETOOBIG) instead of hanging a
 * run. Patterns may be written bare or as /re/flags (flags i, m, s, x).
 */
#ifndef RUNBOOK_REGEX_H
#define RUNBOOK_REGEX_H

#include "runbook/error.h"

struct rb_regex;

/*
 * Compile pattern (len bytes). If slashes is true and the pattern has the
 * form /re/flags, the slashes are stripped and the flags applied. On error
 * returns RB_EINVAL with a message in err that includes the offset, and sets
 * *out_offset (if not NULL) to the 0-based offset of the error in pattern.
 */
int rb_regex_compile(struct rb_regex **out, const char *pattern, size_t len,
    bool slashes, size_t *out_offset, struct rb_error *err);
/* The source text as written. */
const char *rb_regex_source(const struct rb_regex *re);

/*
 * Match re against subject. Returns 1 on a match, 0 on no match, or
 * RB_ETOOBIG when a match limit was hit (message in err).
 */
int rb_regex_match(const struct rb_regex *re, const char *subject, size_t len,
    struct rb_error *err);

/* Called once per named group of a match: name and the matched text. */
typedef int (*rb_regex_group_fn)(const char *name, const char *value,
    size_t len, void *payload);
/*
 * Match and report named groups (unset groups are skipped). Returns like
 * rb_regex_match, or the callback's non-zero return.
 */
int rb_regex_match_groups(const struct rb_regex *re, const char *subject,
    size_t len, rb_regex_group_fn fn, void *payload, struct rb_error *err);
/* Number of named groups and the i-th name (in table order). */
size_t rb_regex_ngroups(const struct rb_regex *re);
const char *rb_regex_group_name(const struct rb_regex *re, size_t i);

/*
 * Match and report the span of capture group `group` (0 = the whole match)
 * as an offset and length into subject. Returns 1 when re matched and the
 * group took part in the match, 0 when re did not match or the group is
 * unset (*out_start and *out_len are then 0), or RB_ETOOBIG like
 * rb_regex_match.
 */
int rb_regex_match_span(const struct rb_regex *re, const char *subject,
    size_t len, size_t group, size_t *out_start, size_t *out_len,
    struct rb_error *err);
/* Number of capture groups, named or not (group 0 not counted). */
size_t rb_regex_ncaptures(const struct rb_regex *re);

void rb_regex_free(struct rb_regex *re);

#endif
