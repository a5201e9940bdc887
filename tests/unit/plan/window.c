/* Unit tests for plan/window.c: maintenance windows across zones. */
#include <string.h>
#include <time.h>

#include "harness.h"
#include "runbook/window.h"

void test_plan_window__inside_and_next(void);
void test_plan_window__crosses_midnight(void);
void test_plan_window__zone(void);

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
