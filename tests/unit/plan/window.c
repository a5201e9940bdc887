/* Unit tests for plan/window.c: maintenance windows across zones. */
#include <string.h>
#include <time.h>

#include "harness.h"
#include "runbook/window.h"

void test_plan_window__inside_and_next(void);
void test_plan_window__crosses_midnight(void);
void test_plan_window__zone(void);
void test_plan_window__dst_end_is_clock_time(void);

/* 2026-11-22 is a Sunday. */
static time_t
utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	return timegm(&tm);
}

void
test_plan_window__inside_and_next(void)
{
	struct rb_window w = { true, 1u << 0, 2 * 60, 6 * 60, NULL,
		{ NULL, 0, 0 } };
	time_t next;
	bool in;

	T_EQ_INT(rb_window_check(&in, &next, &w, utc(2026, 11, 22, 3, 0)), 0);
	T_ASSERT(in);
	T_EQ_INT(rb_window_check(&in, &next, &w, utc(2026, 11, 22, 6, 0)), 0);
	T_ASSERT(!in);
	T_EQ_INT(next, utc(2026, 11, 29, 2, 0));
	T_EQ_INT(rb_window_check(&in, &next, &w, utc(2026, 11, 23, 12, 0)), 0);
	T_ASSERT(!in);
	T_EQ_INT(next, utc(2026, 11, 29, 2, 0));
}

void
test_plan_window__crosses_midnight(void)
{
	/* Saturday 22:00 to Sunday 02:00. */
	struct rb_window w = { true, 1u << 6, 22 * 60, 2 * 60, NULL,
		{ NULL, 0, 0 } };
	time_t next;
	bool in;

	rb_window_check(&in, &next, &w, utc(2026, 11, 22, 1, 30));
	T_ASSERT(in);
	rb_window_check(&in, &next, &w, utc(2026, 11, 22, 2, 30));
	T_ASSERT(!in);
	T_EQ_INT(next, utc(2026, 11, 28, 22, 0));
}

void
test_plan_window__zone(void)
{
	/* Sunday 02:00-06:00 in Berlin (UTC+1 in November) = 01:00-05:00Z. */
	struct rb_window w = { true, 1u << 0, 2 * 60, 6 * 60,
		(char *)"Europe/Berlin", { NULL, 0, 0 } };
	time_t next;
	bool in;

	rb_window_check(&in, &next, &w, utc(2026, 11, 22, 0, 30));
	T_ASSERT(!in);
	T_EQ_INT(next, utc(2026, 11, 22, 1, 0));
	rb_window_check(&in, &next, &w, utc(2026, 11, 22, 4, 59));
	T_ASSERT(in);
}

/*
 * A window's end is a clock time in its zone, not start + length: on the
 * night the clocks change, the window is an hour shorter or longer.
 * (Found by tests/fuzz/fuzz_window.c.)
 */
void
test_plan_window__dst_end_is_clock_time(void)
{
	/* Berlin, Sunday 2026-10-25, 03:00 CEST -> 02:00 CET. */
	struct rb_window autumn = { true, 1u << 0, 1 * 60, 5 * 60,
		(char *)"Europe/Berlin", { NULL, 0, 0 } };
	/* New York, Sunday 2026-03-08, 02:00 EST -> 03:00 EDT. */
	struct rb_window spring = { true, 1u << 0, 90, 210,
		(char *)"America/New_York", { NULL, 0, 0 } };
	time_t next;
	bool in;

	/* 01:00 CEST = 23:00Z; 05:00 CET = 04:00Z (five hours later). */
	rb_window_check(&in, &next, &autumn, utc(2026, 10, 24, 23, 30));
	T_ASSERT(in);
	rb_window_check(&in, &next, &autumn, utc(2026, 10, 25, 3, 30));
	T_ASSERT(in);	/* 04:30 CET: start + 4 h would have closed it */
	rb_window_check(&in, &next, &autumn, utc(2026, 10, 25, 4, 0));
	T_ASSERT(!in);
	/* 01:30 EST = 06:30Z; 03:30 EDT = 07:30Z (one hour later). */
	rb_window_check(&in, &next, &spring, utc(2026, 3, 8, 7, 15));
	T_ASSERT(in);
	rb_window_check(&in, &next, &spring, utc(2026, 3, 8, 7, 45));
	T_ASSERT(!in);	/* 03:45 EDT: start + 2 h would still be open */
}
