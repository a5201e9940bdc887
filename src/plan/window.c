/*
 * window.c - maintenance windows in the runbook's time zone.
 *
 * The zone is applied by setting TZ around localtime_r()/mktime(), the
 * only portable way to use the system zoneinfo from C; the caller's TZ is
 * restored before returning.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runbook/error.h"
#include "runbook/window.h"
#include "runbook/banned.h"

int
rb_window_check(bool *inside, time_t *next_open, const struct rb_window *w,
    time_t now)
{
	const char *old = getenv("TZ");
	char *saved = old != NULL ? xstrdup(old) : NULL;
	struct tm today;
	time_t best = 0;
	int d;

	*inside = false;
	*next_open = 0;
	if (!w->present) {
		*inside = true;
		free(saved);
		return 0;
	}
	setenv("TZ", w->tz != NULL ? w->tz : "UTC", 1);
	tzset();
	localtime_r(&now, &today);
	/* Yesterday's window may still be open (it can cross midnight). */
	for (d = -1; d <= 8; d++) {
		struct tm tm = today, etm;
		time_t start, end;
		int len;

		tm.tm_mday += d;
		tm.tm_hour = 0;
		tm.tm_min = w->start_min;
		tm.tm_sec = 0;
		tm.tm_isdst = -1;
		etm = tm;
		start = mktime(&tm);	/* normalises tm, sets tm_wday */
		if (start == (time_t)-1 || !(w->days & (1u << tm.tm_wday)))
			continue;
		/*
		 * The end is a wall-clock time too (the next day's when not
		 * after the start): a DST change in between moves it by an
		 * hour against start + length.
		 */
		len = w->end_min - w->start_min;
		if (len <= 0) {
			len += 24 * 60;
			etm.tm_mday++;
		}
		etm.tm_min = w->end_min;
		end = mktime(&etm);
		if (end == (time_t)-1 || end <= start)
			end = start + (time_t)len * 60;
		if (start <= now && now < end) {
			*inside = true;
			break;
		}
		if (start > now && (best == 0 || start < best))
			best = start;
	}
	if (saved != NULL)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved);
	if (!*inside)
		*next_open = best;
	return 0;
}
