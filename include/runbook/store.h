/*
 * store.h - the state directory and its SQLite database, state.db.
 *
 * Everything runbook must remember between processes lives in one SQLite
 * file, <state>/state.db: the journal of runs and step attempts
 * (journal.h), the hash-chained audit log (audit.h), run locks (lock.h) and
 * the webhook queue (queue.h). This header opens and closes that database
 * and groups writes into transactions; the other four modules operate on
 * the struct rb_store it returns.
 *
 * Durability: the database runs in WAL mode with synchronous=FULL, so a
 * write that a function here reported as done survives a process crash and
 * a power loss. Every writing function commits before it returns, unless
 * the caller opened a transaction with rb_store_begin(); then its writes
 * become durable together, at rb_store_commit(). That is how the engine
 * makes one commit per step boundary (step N's result, step N+1's start and
 * both audit records).
 *
 * Errors: functions taking a struct rb_store return 0 or a negative RB_E*
 * code and leave the message (with SQLite's own text, the file name and a
 * hint) in the handle, read with rb_store_error(). Disk full, I/O errors and
 * read-only or unopenable files are RB_EIO; a database that stays locked by
 * another process longer than the busy timeout (5 s) is RB_ETIMEOUT.
 *
 * Processes and threads: a struct rb_store belongs to the process and the
 * thread that opened it. It must never be used across fork(): SQLite's
 * POSIX locks are per process, and a child using its parent's connection
 * corrupts them. Every function checks the caller's pid against the
 * opener's and fails with RB_ERROR and a message beginning "bug:" instead
 * of touching the database; in a forked child rb_store_free() only
 * releases memory. A child that needs the database opens its own handle,
 * and may do so only when its parent had no handle open at fork() time
 * (SQLite's per-file lock state lives in process globals that the child
 * inherits, so its new connection would think it held the parent's locks):
 * close the handle before forking such a child, or exec. rb_store_open()
 * refuses, with a "bug:" message, in a child forked while handles were
 * open. SQLite opens its files close-on-exec, so an exec'd child inherits
 * nothing.
 */
#ifndef RUNBOOK_STORE_H
#define RUNBOOK_STORE_H

#include "runbook/buf.h"
#include "runbook/error.h"

struct rb_store;

/* The file name of the database inside the state directory. */
#define RB_STORE_DB_NAME "state.db"
/* How long a writer waits for another process's transaction (ms). */
#define RB_STORE_BUSY_TIMEOUT_MS 5000
/* The schema version this build creates and understands (user_version). */
#define RB_STORE_SCHEMA_VERSION 1
/* Room for a "$USER@hostname" actor string, NUL included. */
#define RB_STORE_ACTOR_SIZE 320

/*
 * Resolve the state directory (SPEC section 4), first match wins: opt_dir
 * (the --state option, may be NULL), $RUNBOOK_STATE_DIR,
 * $XDG_STATE_HOME/runbook (only when that variable is an absolute path, as
 * the XDG specification requires), ~/.local/state/runbook (HOME, or the
 * password database when HOME is unset). Empty values are ignored. The path
 * is appended to out (nothing is created). Returns 0, or RB_ENOTFOUND when
 * no home directory can be found (message and hint in err).
 */
int rb_store_default_dir(struct rb_buf *out, const char *opt_dir,
    struct rb_error *err);

/*
 * Open <dir>/state.db, creating dir (and missing parents, mode 0700) and
 * the database (mode 0600) when absent, then set the pragmas (WAL,
 * synchronous=FULL, foreign_keys, busy timeout) and bring the schema up to
 * RB_STORE_SCHEMA_VERSION, one transaction per migration. Safe when several
 * processes open the same fresh directory at once.
 *
 * On success *out is a new handle the caller frees with rb_store_free().
 * Returns 0, or RB_EIO (directory or database not creatable, not writable,
 * full, damaged, or written by a newer runbook) with the message in err;
 * RB_ERROR ("bug: ...") in a child forked while handles were open; *out is
 * then untouched.
 */
int rb_store_open(struct rb_store **out, const char *dir,
    struct rb_error *err);

/*
 * Close the database and free the handle; NULL-safe. A transaction still
 * open is rolled back. Cached statements are finalised. Called in a forked
 * child, it frees nothing that belongs to SQLite (the parent's connection
 * must not be touched).
 */
void rb_store_free(struct rb_store *st);

/* The error of the last failed call on st (code 0 after a success). */
const struct rb_error *rb_store_error(const struct rb_store *st);
/* The state directory and the database path (owned by st). */
const char *rb_store_dir(const struct rb_store *st);
const char *rb_store_path(const struct rb_store *st);
/* The schema version of the open database (user_version), -1 on error. */
int rb_store_schema_version(struct rb_store *st);

/*
 * Start a write transaction (BEGIN IMMEDIATE: waits up to the busy timeout
 * for other writers, then holds the write lock). Until rb_store_commit() or
 * rb_store_rollback(), the writing functions of journal.h, audit.h, lock.h
 * and queue.h join this transaction instead of committing on their own; if
 * one of them fails, only its own change is undone (it runs in a savepoint)
 * and the transaction stays open for the caller to commit or roll back.
 * Transactions do not nest: beginning twice is RB_EINVAL. Returns 0 or a
 * negative RB_E* code.
 */
int rb_store_begin(struct rb_store *st);
/*
 * Commit the open transaction: when this returns 0, everything written
 * since rb_store_begin() is durable. On failure the transaction is rolled
 * back (nothing in it was written). RB_EINVAL when none is open.
 */
int rb_store_commit(struct rb_store *st);
/* Roll the open transaction back; a no-op returning 0 when none is open. */
int rb_store_rollback(struct rb_store *st);
/* True between rb_store_begin() and rb_store_commit()/rb_store_rollback(). */
bool rb_store_in_transaction(const struct rb_store *st);

/*
 * "$USER@hostname" for journal and audit actors, into out (outsz bytes;
 * RB_STORE_ACTOR_SIZE is always enough). USER falls back to LOGNAME, then
 * the password database, then "uid<N>".
 */
void rb_store_default_actor(char *out, size_t outsz);

#endif
