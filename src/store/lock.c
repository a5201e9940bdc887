/*
 * lock.c - run locks: flock(2) on <state>/locks/<sha256(key)>.lock decides
 * who holds a key; a row in the locks table says who that is.
 *
 * The flock is the only authority. The kernel serialises it between any
 * number of processes and drops it when its holder exits, however it dies,
 * so "exactly one winner" and "a dead holder's lock is free" need no logic
 * here. Only the flock holder writes a key's row, so a row whose flock is
 * free is stale and simply replaced.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runbook/error.h"
#include "runbook/lock.h"
#include "runbook/util.h"
#include "store/store_int.h"
#include "runbook/banned.h"

/* How long a refused acquirer waits for the winner's row to appear. */
#define ROW_WAIT_MS 500

struct rb_lock {
	int fd;			/* holds the flock; O_CLOEXEC */
	char *key;
	char *run_id;
};

static const char SQL_HOLDER[] =
    "SELECT key, run_id, pid, pid_start_time, boot_id, host, acquired_ms"
    " FROM locks WHERE key = ?1";
static const char SQL_TAKE[] =
    "INSERT OR REPLACE INTO locks (key, run_id, pid, pid_start_time,"
    " boot_id, host, acquired_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_GIVE_BACK[] =
    "DELETE FROM locks WHERE key = ?1 AND run_id = ?2 AND pid = ?3";

/* Read key's row into out; RB_ENOTFOUND when there is none. */
static int
read_holder(struct rb_lock_info *out, struct rb_store *st, const char *key)
{
	sqlite3_stmt *s = NULL;
	const char *t;
	int rc, r = 0;

	memset(out, 0, sizeof(*out));
	if ((r = store_stmt(&s, st, SQL_HOLDER)) != 0)
		return r;
	if ((rc = store_bind_text(s, 1, key, -1)) != SQLITE_OK) {
		r = store_sqlerr(st, rc, "read a lock");
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		r = RB_ENOTFOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = store_sqlerr(st, rc, "read a lock");
		goto out;
	}
	snprintf(out->key, sizeof(out->key), "%s", key);
	if ((t = (const char *)sqlite3_column_text(s, 1)) != NULL)
		snprintf(out->run_id, sizeof(out->run_id), "%s", t);
	out->pid = sqlite3_column_int64(s, 2);
	out->pid_start_time = sqlite3_column_int64(s, 3);
	if ((t = (const char *)sqlite3_column_text(s, 5)) != NULL)
		snprintf(out->host, sizeof(out->host), "%s", t);
	out->acquired_ms = sqlite3_column_int64(s, 6);
	out->alive = store_proc_alive(st, out->pid, out->pid_start_time,
	    (const char *)sqlite3_column_text(s, 4));
out:
	store_stmt_done(s);
	return r;
}

/* Open (creating) the lock file for key; O_CLOEXEC, never a symlink. */
static int
open_lock_file(int *out_fd, struct rb_store *st, const char *key)
{
	char hex[65], *dir = NULL, *path = NULL;
	int fd, r = RB_EIO;

	dir = xstrfmt("%s/locks", rb_store_dir(st));
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		rb_error_set(&st->err, RB_EIO,
		    "cannot create lock directory '%s': %s", dir,
		    strerror(errno));
		rb_error_hint(&st->err, "the state directory is read-only or "
		    "not accessible: use --state DIR or fix its permissions");
		goto out;
	}
	rb_sha256_hex(hex, key, strlen(key));
	path = xstrfmt("%s/%s.lock", dir, hex);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rb_error_set(&st->err, RB_EIO, "cannot open lock file '%s': %s",
		    path, strerror(errno));
		rb_error_hint(&st->err, "the state directory is read-only or "
		    "not accessible: use --state DIR or fix its permissions");
		goto out;
	}
	*out_fd = fd;
	r = 0;
out:
	free(dir);
	free(path);
	return r;
}

/* The lock is held by a live process: say by whom. */
static int
refuse(struct rb_store *st, const char *key)
{
	struct rb_lock_info who;
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int64_t deadline = rb_now_ms() + ROW_WAIT_MS;
	int r;

	/* The winner writes its row just after taking the flock. */
	while ((r = read_holder(&who, st, key)) == RB_ENOTFOUND &&
	    rb_now_ms() < deadline)
		nanosleep(&ts, NULL);
	if (r != 0 && r != RB_ENOTFOUND)
		return r;
	if (r == RB_ENOTFOUND) {
		rb_error_set(&st->err, RB_EREFUSED,
		    "lock '%s' is held by another runbook process", key);
		rb_error_hint(&st->err, "wait for the other run to finish");
		return RB_EREFUSED;
	}
	rb_error_set(&st->err, RB_EREFUSED,
	    "lock '%s' is held by run '%s' (pid %lld)", key, who.run_id,
	    (long long)who.pid);
	if (who.alive)
		rb_error_hint(&st->err, "wait for run '%s' to finish; "
		    "'runbook show %s' shows its progress", who.run_id,
		    who.run_id);
	else
		rb_error_hint(&st->err, "pid %lld is gone but the lock file is "
		    "still open in another process: see 'fuser %s/locks/'",
		    (long long)who.pid, rb_store_dir(st));
	return RB_EREFUSED;
}

/* Write our row, remembering a stale one in taken_over. */
static int
take_row(struct rb_lock_info *taken_over, struct rb_store *st,
    const char *key, const char *run_id)
{
	struct rb_lock_info old;
	sqlite3_stmt *s = NULL;
	bool owned = false;
	int rc, r;

	if ((r = store_op_begin(st, &owned)) != 0)
		return r;
	r = read_holder(&old, st, key);
	if (r == RB_ENOTFOUND)
		r = 0;
	else if (r != 0)
		goto out;
	if (taken_over != NULL)
		*taken_over = old;
	if ((r = store_stmt(&s, st, SQL_TAKE)) != 0)
		goto out;
	if ((rc = store_bind_text(s, 1, key, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 2, run_id, -1)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 3, (int64_t)getpid())) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 4, st->pid_start_time)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 5, st->boot_id, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 6, st->host, -1)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 7, rb_wall_ms())) != SQLITE_OK) {
		r = store_sqlerr(st, rc, "record a lock");
		goto out;
	}
	r = store_exec_stmt(st, s, "record a lock");
out:
	store_stmt_done(s);
	return store_op_end(st, owned, r, "record a lock");
}

int
rb_lock_acquire(struct rb_lock **out, struct rb_lock_info *taken_over,
    struct rb_store *st, const char *key, const char *run_id)
{
	struct rb_lock *lk = NULL;
	int fd = -1, r;

	if ((r = store_enter(st)) != 0)
		return r;
	if (key == NULL || *key == '\0')
		return rb_error_set(&st->err, RB_EINVAL, "empty lock key");
	if (run_id == NULL || *run_id == '\0')
		return rb_error_set(&st->err, RB_EINVAL,
		    "a lock needs a run id");
	if ((r = open_lock_file(&fd, st, key)) != 0)
		return r;
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK)
			r = refuse(st, key);
		else {
			r = rb_error_set(&st->err, RB_EIO,
			    "cannot lock '%s': %s", key, strerror(errno));
		}
		goto out;
	}
	if ((r = take_row(taken_over, st, key, run_id)) != 0)
		goto out;
	lk = xcalloc(1, sizeof(*lk));
	lk->fd = fd;
	lk->key = xstrdup(key);
	lk->run_id = xstrdup(run_id);
	*out = lk;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);	/* drops the flock, if we took it */
	return r;
}

int
rb_lock_release(struct rb_store *st, struct rb_lock *lk)
{
	sqlite3_stmt *s = NULL;
	int rc, r;

	if (lk == NULL)
		return 0;
	if ((r = store_enter(st)) != 0)
		goto out;
	if ((r = store_stmt(&s, st, SQL_GIVE_BACK)) != 0)
		goto out;
	if ((rc = store_bind_text(s, 1, lk->key, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 2, lk->run_id, -1)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 3, (int64_t)getpid())) != SQLITE_OK) {
		r = store_sqlerr(st, rc, "release a lock");
		goto out;
	}
	r = store_exec_stmt(st, s, "release a lock");
out:
	store_stmt_done(s);
	/* The row is gone (or stale); now let the next holder in. */
	close(lk->fd);
	free(lk->key);
	free(lk->run_id);
	free(lk);
	return r;
}

int
rb_lock_holder(struct rb_lock_info *out, struct rb_store *st,
    const char *key)
{
	int r;

	if ((r = store_enter(st)) != 0)
		return r;
	if (key == NULL)
		return rb_error_set(&st->err, RB_EINVAL, "empty lock key");
	r = read_holder(out, st, key);
	if (r == RB_ENOTFOUND)
		rb_error_set(&st->err, RB_ENOTFOUND, "nobody holds lock '%s'",
		    key);
	return r;
}
