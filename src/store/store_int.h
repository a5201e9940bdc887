/*
 * store_int.h - what the files of src/store/ share: the handle, the
 * statement cache, transactions around one operation, SQLite error mapping
 * and process identity (pid + start time + boot id).
 */
#ifndef RUNBOOK_STORE_INT_H
#define RUNBOOK_STORE_INT_H

#include <sys/types.h>

#include <sqlite3.h>

#include "runbook/store.h"

/* One cached prepared statement, keyed by the address of its SQL text. */
struct store_stmt {
	const char *sql;		/* static text, compared by address */
	sqlite3_stmt *stmt;
};

struct rb_store {
	sqlite3 *db;
	char *dir;			/* the state directory */
	char *path;			/* <dir>/state.db */
	pid_t pid;			/* the opener; never crosses fork() */
	int64_t pid_start_time;		/* the opener's start time (ticks) */
	bool in_tx;			/* rb_store_begin() is open */
	bool counted;			/* counted in live_handles (db.c) */
	struct rb_error err;		/* the last failure's message */
	struct store_stmt *stmts;	/* prepared, in first-use order */
	size_t nstmts, alloc;
	char host[256];			/* gethostname() */
	char boot_id[64];		/* kernel boot id, or "" */
};

/*
 * Start a public call: refuse a handle used across fork() and clear the
 * previous error. Returns 0 or RB_ERROR.
 */
int store_enter(struct rb_store *st);

/*
 * The cached statement for sql (a string literal or other static text,
 * recognised by its address), prepared on first use, reset and with no
 * bindings. The caller calls store_stmt_done() when finished with it.
 */
int store_stmt(sqlite3_stmt **out, struct rb_store *st, const char *sql);
/* Reset s and clear its bindings, so it holds no snapshot; NULL-safe. */
void store_stmt_done(sqlite3_stmt *s);

/*
 * Record SQLite result rc as the handle's error ("cannot WHAT in 'PATH':
 * sqlite's message", with a hint) and return the RB_E* code it maps to.
 */
int store_sqlerr(struct rb_store *st, int rc, const char *what);

/* Step s to completion (a statement returning no rows), then reset it. */
int store_exec_stmt(struct rb_store *st, sqlite3_stmt *s, const char *what);

/*
 * Bracket one write operation: when the caller has a transaction open,
 * a savepoint inside it (so a failure undoes only this operation), else
 * BEGIN IMMEDIATE ... COMMIT of its own. store_op_end() commits/releases
 * when r is 0 and rolls back otherwise; it returns r, or the commit's error.
 */
int store_op_begin(struct rb_store *st, bool *owned);
int store_op_end(struct rb_store *st, bool owned, int r, const char *what);

/*
 * Bracket a group of reads that must see one snapshot (BEGIN ... COMMIT
 * when no transaction is open, nothing otherwise).
 */
int store_read_begin(struct rb_store *st, bool *owned);
void store_read_end(struct rb_store *st, bool owned);

/* Bind text v (NULL binds NULL); len < 0 means strlen. Returns rc. */
int store_bind_text(sqlite3_stmt *s, int i, const char *v, int64_t len);
/* A copy of column i as a NUL-terminated string, NULL for SQL NULL. */
char *store_col_strdup(sqlite3_stmt *s, int i);
/* Like store_col_strdup(), also giving the byte length. */
char *store_col_blobdup(sqlite3_stmt *s, int i, size_t *out_len);

/*
 * Check that text is a JSON object; RB_EINVAL with "WHAT is not a JSON
 * object: ..." in st's error otherwise.
 */
int store_json_object(struct rb_store *st, const char *text, const char *what);

/* /proc/PID/stat field 22 (start time in clock ticks since boot). */
int store_proc_start_time(int64_t *out, pid_t pid);
/*
 * Whether the process recorded as (pid, start_time, boot_id) still runs:
 * same boot, pid exists and is not a zombie, same start time when one was
 * recorded (0 = unknown).
 */
bool store_proc_alive(const struct rb_store *st, int64_t pid,
    int64_t start_time, const char *boot_id);

#endif
