/*
 * fault.h - fault injection for the test build (`make fault`).
 *
 * Built with -DRB_FAULT_INJECT, the binary reads $RUNBOOK_FAULT once, a
 * comma-separated list of KIND=N, and makes the Nth event of that kind fail:
 *
 *   alloc=N          the Nth xmalloc/xcalloc/xrealloc (the process dies on
 *                    it, as it would on a real out-of-memory)
 *   sqlite-alloc=N   the Nth allocation SQLite makes (SQLITE_NOMEM)
 *   write=N          the Nth write SQLite makes to a file (SQLITE_IOERR_WRITE)
 *   fsync=N          the Nth fsync SQLite makes (SQLITE_IOERR_FSYNC)
 *
 * When a fault fires it prints "runbook: fault injected: KIND #N" on stderr.
 * $RUNBOOK_FAULT_REPORT=FILE makes a process that exits normally write its
 * counts ("alloc 1234" per line) so a harness knows the range of N to sweep.
 *
 * Without RB_FAULT_INJECT these compile to nothing. The counters are the only
 * process-wide mutable state in the program, and exist only in that build.
 */
#ifndef RUNBOOK_FAULT_H
#define RUNBOOK_FAULT_H

#include <stdbool.h>

#ifdef RB_FAULT_INJECT
/* Install the SQLite allocator and VFS shims; call first thing in main(). */
void rb_fault_init(void);
/* Count one allocation; true when it must fail. */
bool rb_fault_alloc(void);
#else
static inline void
rb_fault_init(void)
{
}

static inline bool
rb_fault_alloc(void)
{
	return false;
}
#endif

#endif
