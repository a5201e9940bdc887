/*
 * lock.h - run locks: two runs holding the same key never overlap (SPEC
 * section 5, "Locks").
 *
 * A lock is two things. The authority is flock(LOCK_EX | LOCK_NB) on
 * <state>/locks/<sha256(key)>.lock, opened close-on-exec: the kernel drops
 * it when the holder exits, however it dies (SIGKILL included), and it is
 * race-free between any number of processes. Beside it, a row in
 * locks(key, run_id, pid, pid_start_time, boot_id, host, acquired_ms) says
 * who holds it, for error messages and `runbook` tooling. A row whose flock
 * is free is stale (its holder died or forgot it) and is taken over.
 *
 * Lock files are never removed: removing a file another process has open
 * and is about to lock would let two processes hold "the same" lock.
 *
 * The flock belongs to the open file, so a child forked while the lock is
 * held shares it until it execs (the descriptor is close-on-exec) or
 * exits. The lock is local to one machine's state directory: controllers
 * on several machines sharing a network file system are not supported.
 */
#ifndef RUNBOOK_LOCK_H
#define RUNBOOK_LOCK_H

#include "runbook/store.h"

struct rb_lock;

/* Who holds (or held) a lock, from its row. */
struct rb_lock_info {
	char key[256];			/* truncated if longer */
	char run_id[64];
	int64_t pid;
	int64_t pid_start_time;		/* /proc/PID/stat field 22 */
	char host[256];
	int64_t acquired_ms;		/* wall clock */
	bool alive;			/* the holder process still exists */
};

/*
 * Take the lock for key on behalf of run_id. On success *out is the held
 * lock, to be given back with rb_lock_release(), and when taken_over is not
 * NULL it receives the stale holder replaced (taken_over->run_id is "" when
 * there was none). Returns 0; RB_EREFUSED when a live process holds the
 * lock, with the holder's run id and pid in rb_store_error(st) (message
 * "lock 'KEY' is held by run 'ID' (pid N)"); RB_EINVAL for an empty key;
 * RB_EIO when the lock file cannot be created; on failure *out is
 * untouched. Call it outside rb_store_begin(): inside a transaction the
 * row joins it (and is undone with it), and a refusal cannot wait for the
 * winner's row to name it.
 */
int rb_lock_acquire(struct rb_lock **out, struct rb_lock_info *taken_over,
    struct rb_store *st, const char *key, const char *run_id);

/*
 * Give the lock back: delete its row, then drop the flock, then free lk
 * (NULL-safe). The flock is dropped and lk freed even when deleting the row
 * fails (a stale row is harmless: the next holder takes it over). Returns 0
 * or the negative RB_E* code of the row deletion.
 */
int rb_lock_release(struct rb_store *st, struct rb_lock *lk);

/*
 * Look up the row for key into out; alive says whether the recorded
 * process (pid, start time, boot) still exists. The flock is not probed, so
 * this never gets in the way of a run acquiring the lock. Returns 0,
 * RB_ENOTFOUND when there is no row for key, or another negative RB_E*
 * code.
 */
int rb_lock_holder(struct rb_lock_info *out, struct rb_store *st,
    const char *key);

#endif
