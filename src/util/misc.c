/*
 * misc.c - durations, clocks, integer parsing, SHA-256 and edit distance.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "runbook/error.h"
#include "runbook/util.h"
#include "runbook/banned.h"

int
rb_duration_parse(int64_t *out_ms, const char *s)
{
	int64_t total = 0;
	const char *p = s;

	if (s == NULL || *s == '\0')
		return RB_EINVAL;
	while (*p != '\0') {
		char *end;
		unsigned long long n;
		int64_t unit;

		if (*p < '0' || *p > '9')
			return RB_EINVAL;
		errno = 0;
		n = strtoull(p, &end, 10);
		if (errno != 0 || end == p)
			return RB_EINVAL;
		p = end;
		if (strncmp(p, "ms", 2) == 0) {
			unit = 1;
			p += 2;
		} else if (*p == 's') {
			unit = 1000;
			p++;
		} else if (*p == 'm') {
			unit = 60 * 1000;
			p++;
		} else if (*p == 'h') {
			unit = 3600 * 1000;
			p++;
		} else if (*p == 'd') {
			unit = 86400 * 1000;
			p++;
		} else
			return RB_EINVAL;
		/* Cap at ~292 years: far beyond any sane runbook limit. */
		if (n > (unsigned long long)(INT64_MAX / unit) ||
		    total > INT64_MAX - (int64_t)n * unit)
			return RB_EINVAL;
		total += (int64_t)n * unit;
	}
	*out_ms = total;
	return 0;
}

void
rb_duration_format(char *out, size_t outsz, int64_t ms)
{
	static const struct {
		int64_t unit;
		const char *name;
	} units[] = { { 86400000, "d" }, { 3600000, "h" }, { 60000, "m" },
		{ 1000, "s" }, { 1, "ms" } };
	size_t i, used = 0;

	if (outsz == 0)
		return;
	out[0] = '\0';
	if (ms <= 0) {
		snprintf(out, outsz, "0s");
		return;
	}
	for (i = 0; i < RB_ARRAY_SIZE(units) && used < outsz; i++) {
		int n;

		if (ms < units[i].unit)
			continue;
		n = snprintf(out + used, outsz - used, "%lld%s",
		    (long long)(ms / units[i].unit), units[i].name);
		if (n < 0)
			break;
		used += (size_t)n;
		ms %= units[i].unit;
	}
}

int64_t
rb_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
rb_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
rb_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
rb_time_format(char *out, size_t outsz, int64_t wall_ms)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(wall_ms % 1000));
}

int
rb_parse_int(long long *out, const char *s, long long min, long long max)
{
	char *end;
	long long v;

	/* strtoll() would skip leading white space and take a '+'. */
	if (s == NULL || (*s != '-' && (*s < '0' || *s > '9')))
		return RB_EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return RB_EINVAL;
	*out = v;
	return 0;
}

void
rb_sha256_hex(char out[65], const void *data, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int mdlen = 0;
	size_t i;

	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != 32)
		RB_BUG("SHA-256 failed");
	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

size_t
rb_edit_distance(const char *a, const char *b, size_t cap)
{
	size_t la = strlen(a), lb = strlen(b), i, j, best;
	size_t *prev, *cur, *tmp, r;

	if ((la > lb ? la - lb : lb - la) > cap)
		return cap + 1;
	prev = xcalloc(lb + 1, sizeof(*prev));
	cur = xcalloc(lb + 1, sizeof(*cur));
	for (j = 0; j <= lb; j++)
		prev[j] = j;
	for (i = 1; i <= la; i++) {
		cur[0] = i;
		best = cur[0];
		for (j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

			cur[j] = sub < del ? sub : del;
			if (ins < cur[j])
				cur[j] = ins;
			if (cur[j] < best)
				best = cur[j];
		}
		tmp = prev;
		prev = cur;
		cur = tmp;
		if (best > cap) {
			free(prev);
			free(cur);
			return cap + 1;
		}
	}
	r = prev[lb];
	free(prev);
	free(cur);
	return r > cap ? cap + 1 : r;
}

const char *
rb_suggest(const char *word, const char *const *cands, size_t n)
{
	const char *best = NULL;
	size_t i, best_d, cap;

	cap = strlen(word) <= 3 ? 1 : strlen(word) <= 6 ? 2 : 3;
	best_d = cap + 1;
	for (i = 0; i < n; i++) {
		size_t d;

		if (cands[i] == NULL)
			continue;
		d = rb_edit_distance(word, cands[i], cap);
		if (d < best_d) {
			best_d = d;
			best = cands[i];
		}
	}
	return best;
}
