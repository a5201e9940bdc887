/*
 * util.h - small helpers that know nothing about runbooks: durations,
 * monotonic time, hashing, number parsing, string distance.
 */
#ifndef RUNBOOK_UTIL_H
#define RUNBOOK_UTIL_H

#include "runbook/common.h"

/*
 * Parse a duration: an integer followed by ms, s, m, h or d ("500ms",
 * "30s", "5m", "2h"), or several such parts ("1m30s"). A bare integer is
 * refused (units are required). Returns 0 and sets *out_ms, or RB_EINVAL.
 */
int rb_duration_parse(int64_t *out_ms, const char *s);
/* Format ms as the shortest exact duration ("1m30s", "500ms", "0s"). */
void rb_duration_format(char *out, size_t outsz, int64_t ms);

/* Milliseconds and microseconds from CLOCK_MONOTONIC. */
int64_t rb_now_ms(void);
int64_t rb_now_us(void);
/* Wall clock, for records and messages: ms since the epoch. */
int64_t rb_wall_ms(void);
/* RFC 3339 UTC with milliseconds: "2026-11-23T19:00:00.123Z" (out >= 32). */
void rb_time_format(char *out, size_t outsz, int64_t wall_ms);

/*
 * Parse a base-10 integer that must span the whole string and lie within
 * [min, max]. Returns 0 or RB_EINVAL.
 */
int rb_parse_int(long long *out, const char *s, long long min, long long max);

/* Lower-case hex SHA-256 of data into out (65 bytes with the NUL). */
void rb_sha256_hex(char out[65], const void *data, size_t len);

/* Levenshtein distance, capped: returns cap+1 when greater than cap. */
size_t rb_edit_distance(const char *a, const char *b, size_t cap);
/*
 * The candidate closest to word (for "did you mean"), or NULL when none is
 * close enough to be a likely typo.
 */
const char *rb_suggest(const char *word, const char *const *cands, size_t n);

#endif
