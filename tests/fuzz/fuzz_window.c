/*
 * fuzz_window.c - libFuzzer target for maintenance windows: the input is
 * the YAML value of a runbook's `window:` key (flow or block style), loaded
 * with the rest of a fixed runbook; what loads is evaluated with
 * rb_window_check() at fixed moments around real DST changes (Europe, the
 * US, Australia: spring or autumn, by a hash of the input), a few others,
 * and two picked by the hash.
 *
 * Invariants: no crash, no leak, and
 *  - a model exactly when there are no errors; every diagnostic has a
 *    message and formats to one line (two with its hint);
 *  - a loaded window has days in 1..0x7f (never none), start in 00:00 to
 *    23:59, end in 00:00 to 24:00 and not equal to start, and a tz that is
 *    UTC or a zoneinfo file the C library can use (TZif), not any file;
 *  - evaluation returns 0, is deterministic, and restores the caller's TZ;
 *  - outside, the next opening is after now and within eight days; it is
 *    inside at that moment and outside one second before;
 *  - inside agrees with the wall clock in the window's zone: today is a
 *    listed day and start <= now < end, or for a window past midnight,
 *    today is listed and now >= start, or yesterday is and now < end.
 *    Moments whose wall time repeats, and days where the start or end
 *    time is skipped or repeated by a DST change, are left out (either
 *    reading is defensible there).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runbook/buf.h"
#include "runbook/diag.h"
#include "runbook/model.h"
#include "runbook/window.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fuzzer's own zone, which every evaluation must leave in place. */
#define OWN_TZ "Asia/Kolkata"
#define OWN_GMTOFF (5 * 3600 + 1800)

static const char head[] =
    "runbook: w\n"
    "steps: [{id: s, run: 'true'}]\n"
    "window: ";

/* DST changes: EU spring/autumn, US spring/autumn, Sydney autumn/spring. */
static const time_t changes[] = { 1711846800, 1729990800, 1710054000,
	1730613600, 1712419200, 1728144000 };
static const time_t around[] = { -90000, -7200, -3600, -1, 0, 1800, 5400,
	9000, 12600, 18000, 32400, 72000 };
static const time_t others[] = { 1795316400, 1709208000, 1767225599,
	1767225600, 2147483647, 946684800 };

#define NCHANGES (sizeof(changes) / sizeof(changes[0]))
#define NAROUND (sizeof(around) / sizeof(around[0]))
#define NOTHERS (sizeof(others) / sizeof(others[0]))
#define NMOMENTS (NCHANGES / 2 * NAROUND + NOTHERS + 2)

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("TZ", OWN_TZ, 1);
	tzset();
	return 0;
}

static void
check_own_tz(void)
{
	const char *tz = getenv("TZ");
	time_t t = 1700000000;
	struct tm tm;

	if (tz == NULL || strcmp(tz, OWN_TZ) != 0)
		abort();
	localtime_r(&t, &tm);
	if (tm.tm_gmtoff != OWN_GMTOFF)
		abort();
}

/* Each diagnostic has a message and is one line, two with a hint. */
static void
check_diags(const struct rb_diags *d)
{
	struct rb_buf out = RB_BUF_INIT;
	size_t i, want = 0, got = 0;
	const char *p;

	for (i = 0; i < d->nr; i++) {
		if (d->v[i].msg == NULL || d->v[i].msg[0] == '\0' ||
		    (d->v[i].hint != NULL && d->v[i].hint[0] == '\0'))
			abort();
		want += d->v[i].hint != NULL ? 2 : 1;
	}
	rb_diags_format(&out, d);
	for (p = out.buf; p != NULL && *p != '\0'; p++)
		if (*p == '\n')
			got++;
		else if (*p == '\r')
			abort();
	if (got != want)
		abort();
	rb_buf_release(&out);
}

/* A zone the C library can load: a TZif file under the zoneinfo dir. */
static bool
tz_usable(const char *tz)
{
	const char *dir = getenv("TZDIR");
	char path[4096], magic[4];
	FILE *f;
	bool ok;

	if (dir == NULL || *dir == '\0')
		dir = "/usr/share/zoneinfo";
	if (strcmp(tz, "UTC") == 0)
		return true;
	if (tz[0] == '\0' || tz[0] == '/' || strstr(tz, "..") != NULL)
		return false;
	snprintf(path, sizeof(path), "%s/%s", dir, tz);
	if ((f = fopen(path, "rb")) == NULL)
		return false;
	ok = fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
	fclose(f);
	return ok;
}

/* The calendar day date + days at minute (plain arithmetic, no zone). */
static void
civil(struct tm *out, const struct tm *date, int days, int minute)
{
	struct tm tm;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = date->tm_year;
	tm.tm_mon = date->tm_mon;
	tm.tm_mday = date->tm_mday + days;
	tm.tm_min = minute;
	t = timegm(&tm);
	gmtime_r(&t, out);
}

static bool
same_minute(const struct tm *a, const struct tm *b)
{
	return a->tm_year == b->tm_year && a->tm_yday == b->tm_yday &&
	    a->tm_hour == b->tm_hour && a->tm_min == b->tm_min;
}

/* Whether the wall time at t also shows up to three hours around it. */
static bool
repeats(time_t t, const struct tm *wall)
{
	static const int deltas[] = { -10800, -7200, -5400, -3600, -1800,
		1800, 3600, 5400, 7200, 10800 };
	struct tm tm;
	size_t i;

	for (i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
		time_t u = t + deltas[i];

		localtime_r(&u, &tm);
		if (same_minute(&tm, wall))
			return true;
	}
	return false;
}

/* Whether wall time `want` (current zone) is skipped or repeated. */
static bool
unsure(const struct tm *want)
{
	struct tm tm = *want, back;
	time_t t;

	tm.tm_isdst = -1;
	if ((t = mktime(&tm)) == (time_t)-1)
		return true;
	localtime_r(&t, &back);
	return !same_minute(&back, want) || repeats(t, want);
}

/* The wall-clock answer at now (current zone): 1, 0, or -1 for unsure. */
static int
wall_inside(const struct rb_window *w, time_t now)
{
	struct tm lt, s, e, sy, sn;
	bool crossing = w->end_min <= w->start_min, today, yday;
	int m;

	localtime_r(&now, &lt);
	if (repeats(now, &lt))
		return -1;
	m = lt.tm_hour * 60 + lt.tm_min;
	civil(&s, &lt, 0, w->start_min);
	civil(&e, &lt, 0, w->end_min);
	civil(&sy, &lt, -1, w->start_min);
	civil(&sn, &lt, 1, w->start_min);
	if (unsure(&s) || unsure(&e) || unsure(&sn) ||
	    (crossing && unsure(&sy)))
		return -1;
	today = (w->days & (1u << lt.tm_wday)) != 0;
	yday = (w->days & (1u << ((lt.tm_wday + 6) % 7))) != 0;
	if (!crossing)
		return today && m >= w->start_min && m < w->end_min;
	return (today && m >= w->start_min) || (yday && m < w->end_min);
}

struct answer {
	bool inside;
	time_t next;
};

static void
eval(struct answer *a, const struct rb_window *w, time_t now)
{
	if (rb_window_check(&a->inside, &a->next, w, now) != 0)
		abort();
	check_own_tz();
}

static void
check_window(const struct rb_window *w, const uint8_t *data, size_t size)
{
	time_t moments[NMOMENTS];
	struct answer got[NMOMENTS], again, at;
	uint64_t h = 1469598103934665603ULL;
	size_t i, j, n = 0;

	if (w->days == 0 || w->days > 0x7f || w->start_min < 0 ||
	    w->start_min > 1439 || w->end_min < 0 || w->end_min > 1440 ||
	    w->start_min == w->end_min ||
	    (w->tz != NULL && !tz_usable(w->tz)))
		abort();
	for (i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	/* Per region, spring or autumn as the input's hash says. */
	for (i = 0; i < NCHANGES; i += 2)
		for (j = 0; j < NAROUND; j++)
			moments[n++] = changes[i + (h >> (40 + i) & 1)] +
			    around[j];
	for (i = 0; i < NOTHERS; i++)
		moments[n++] = others[i];
	/* Two moments from 2000 to 2040 picked by the input. */
	moments[n++] = 946684800 + (time_t)(h % (40ULL * 365 * 86400));
	moments[n++] = 946684800 + (time_t)((h >> 32) * 2837 % (40ULL * 365 *
	    86400));

	for (i = 0; i < n; i++) {
		time_t now = moments[i];

		eval(&got[i], w, now);
		eval(&again, w, now);
		if (again.inside != got[i].inside || again.next != got[i].next)
			abort();
		if (got[i].inside) {
			if (got[i].next != 0)
				abort();
			continue;
		}
		if (got[i].next <= now || got[i].next > now + 8 * 86400 + 7200)
			abort();
		eval(&at, w, got[i].next);
		if (!at.inside)
			abort();
		eval(&at, w, got[i].next - 1);
		if (at.inside)
			abort();
	}

	/* The wall clock, in the window's zone. */
	setenv("TZ", w->tz != NULL ? w->tz : "UTC", 1);
	tzset();
	for (i = 0; i < n; i++) {
		int want = wall_inside(w, moments[i]);

		if (want >= 0 && (want != 0) != got[i].inside)
			abort();
	}
	setenv("TZ", OWN_TZ, 1);
	tzset();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_runbook *rb = NULL;
	struct answer a;
	char *text;
	size_t hlen = sizeof(head) - 1;
	int r;

	if (size > 4096)
		return 0;
	text = malloc(hlen + size + 1);
	memcpy(text, head, hlen);
	memcpy(text + hlen, data, size);
	text[hlen + size] = '\n';
	r = rb_runbook_load_buf(&rb, "fuzz.yaml", text, hlen + size + 1, 0, &d);
	if ((r == 0) != (rb != NULL) || (r == 0) != (d.nerrors == 0))
		abort();
	check_diags(&d);
	if (rb != NULL) {
		if (rb->window.present)
			check_window(&rb->window, data, size);
		else {
			eval(&a, &rb->window, 1700000000);
			if (!a.inside || a.next != 0)
				abort();
		}
	}
	rb_runbook_free(rb);
	rb_diags_release(&d);
	free(text);
	return 0;
}
