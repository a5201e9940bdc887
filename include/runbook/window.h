/*
 * window.h - maintenance windows: is a moment inside a runbook's `window`,
 * and when does the next one open.
 */
#ifndef RUNBOOK_WINDOW_H
#define RUNBOOK_WINDOW_H

#include <time.h>

#include "runbook/model.h"

/*
 * Decide whether now lies inside w (days, start, end in w->tz, the system
 * zoneinfo; a window whose end is not after its start runs past midnight
 * into the next day, which still counts as the start day's window). Sets
 * *inside, and when outside *next_open to the next opening within the
 * coming eight days (0 if none, e.g. no days set). Resolving the zone
 * changes the process's TZ for the duration of the call: call it from the
 * main thread, before starting threads. Returns 0 or RB_EINVAL.
 */
int rb_window_check(bool *inside, time_t *next_open, const struct rb_window *w,
    time_t now);

#endif
