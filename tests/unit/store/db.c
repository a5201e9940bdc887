/* Unit tests for store/db.c: opening, pragmas, migrations, errors, fork. */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "harness.h"
#include "runbook/audit.h"
#include "runbook/buf.h"
#include "runbook/error.h"
#include "runbook/store.h"

void test_store_db__open_creates_dir(void);
void test_store_db__migrations_idempotent(void);
void test_store_db__newer_schema_refused(void);
void test_store_db__default_dir(void);
void test_store_db__readonly_dir(void);
void test_store_db__not_a_directory(void);
void test_store_db__damaged_file(void);
void test_store_db__transactions(void);
void test_store_db__fork_refused(void);
void test_store_db__concurrent_first_open(void);
void test_store_db__write_error(void);

/* Run one statement on a separate raw connection; first column into out. */
static int
raw_query(const char *path, const char *sql, char *out, size_t outsz)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int rc;

	out[0] = '\0';
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		sqlite3_close(db);
		return -1;
	}
	rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW &&
	    sqlite3_column_text(s, 0) != NULL)
		snprintf(out, outsz, "%s",
		    (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

void
test_store_db__open_creates_dir(void)
{
	struct rb_error err = RB_ERROR_INIT;
	struct rb_store *st = NULL;
	struct stat sb;
	char dir[512], path[600], v[64];

	snprintf(dir, sizeof(dir), "%s/a/b/state", rb_test_tmpdir());
	T_EQ_INT(rb_store_open(&st, dir, &err), 0);
	T_EQ_STR(rb_store_dir(st), dir);
	snprintf(path, sizeof(path), "%s/state.db", dir);
	T_EQ_STR(rb_store_path(st), path);
	T_EQ_INT(rb_store_schema_version(st), RB_STORE_SCHEMA_VERSION);
	T_ASSERT(stat(dir, &sb) == 0);
	T_EQ_INT(sb.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/a", rb_test_tmpdir());
	T_ASSERT(stat(path, &sb) == 0);
	T_EQ_INT(sb.st_mode & 0777, 0700);
	T_ASSERT(stat(rb_store_path(st), &sb) == 0);
	T_EQ_INT(sb.st_mode & 0777, 0600);
	T_EQ_INT(raw_query(rb_store_path(st), "PRAGMA journal_mode", v,
	    sizeof(v)), 0);
	T_EQ_STR(v, "wal");
	T_EQ_INT(raw_query(rb_store_path(st),
	    "SELECT group_concat(name, ',') FROM (SELECT name FROM "
	    "sqlite_master WHERE type = 'table' ORDER BY name)", v,
	    sizeof(v)), 0);
	T_EQ_STR(v, "audit,locks,queue,runs,step_attempts");
	rb_store_free(st);
}

void
test_store_db__migrations_idempotent(void)
{
	struct rb_error err = RB_ERROR_INIT;
	struct rb_store *st = NULL;
	struct rb_audit_head head;
	char path[600], v[64];
	int i;

	for (i = 0; i < 3; i++) {
		T_EQ_INT(rb_store_open(&st, rb_test_tmpdir(), &err), 0);
		T_EQ_INT(rb_store_schema_version(st), RB_STORE_SCHEMA_VERSION);
		T_EQ_INT(rb_audit_append(NULL, st, "run.requested", "t@h",
		    NULL, NULL), 0);
		T_EQ_INT(rb_audit_head(&head, st), 0);
		T_EQ_INT(head.seq, i + 1);	/* data survives reopening */
		rb_store_free(st);
		st = NULL;
	}
	snprintf(path, sizeof(path), "%s/state.db", rb_test_tmpdir());
	T_EQ_INT(raw_query(path, "PRAGMA user_version", v, sizeof(v)), 0);
	T_EQ_INT(strtol(v, NULL, 10), RB_STORE_SCHEMA_VERSION);
	T_EQ_INT(raw_query(path, "SELECT count(*) FROM sqlite_master", v,
	    sizeof(v)), 0);
	T_EQ_STR(v, "12");	/* 5 tables, 4 indexes, 3 autoindexes */
}

void
test_store_db__newer_schema_refused(void)
{
	struct rb_error err = RB_ERROR_INIT;
	struct rb_store *st = NULL;
	char path[600], v[64];

	T_EQ_INT(rb_store_open(&st, rb_test_tmpdir(), &err), 0);
	rb_store_free(st);
	st = NULL;
	snprintf(path, sizeof(path), "%s/state.db", rb_test_tmpdir());
	T_EQ_INT(raw_query(path, "PRAGMA user_version = 99", v, sizeof(v)), 0);
	T_EQ_INT(rb_store_open(&st, rb_test_tmpdir(), &err), RB_EIO);
	T_ASSERT(st == NULL);
	T_CONTAINS(err.msg, "schema version 99, newer than this runbook");
	T_CONTAINS(err.hint, "upgrade runbook");
}

/* Set or unset an environment variable. */
static void
set_env(const char *name, const char *value)
{
	if (value == NULL)
		unsetenv(name);
	else
		setenv(name, value, 1);
}

void
test_store_db__default_dir(void)
{
	static const char *const names[] = { "RUNBOOK_STATE_DIR",
		"XDG_STATE_HOME", "HOME" };
	struct rb_error err = RB_ERROR_INIT;
	struct rb_buf b = RB_BUF_INIT;
	char *saved[3];
	size_t i;

	for (i = 0; i < 3; i++) {
		const char *v = getenv(names[i]);

		saved[i] = v != NULL ? strdup(v) : NULL;
	}
	set_env("RUNBOOK_STATE_DIR", "/env/state");
	set_env("XDG_STATE_HOME", "/xdg");
	set_env("HOME", "/home/ops");
	rb_store_default_dir(&b, "/opt/state", &err);
	T_EQ_STR(b.buf, "/opt/state");
	rb_buf_reset(&b);
	rb_store_default_dir(&b, NULL, &err);
	T_EQ_STR(b.buf, "/env/state");
	rb_buf_reset(&b);
	set_env("RUNBOOK_STATE_DIR", "");
	rb_store_default_dir(&b, "", &err);
	T_EQ_STR(b.buf, "/xdg/runbook");
	rb_buf_reset(&b);
	set_env("XDG_STATE_HOME", "relative/ignored");
	rb_store_default_dir(&b, NULL, &err);
	T_EQ_STR(b.buf, "/home/ops/.local/state/runbook");
	rb_buf_reset(&b);
	set_env("HOME", NULL);
	T_EQ_INT(rb_store_default_dir(&b, NULL, &err), 0);
	T_CONTAINS(b.buf, "/.local/state/runbook");	/* from passwd */
	rb_buf_release(&b);
	for (i = 0; i < 3; i++) {
		set_env(names[i], saved[i]);
		free(saved[i]);
	}
}

/*
 * In a child process without root's powers, open dir and report the
 * result: exit status 0 when it was RB_EIO with a read-only hint, the
 * message on the pipe.
 */
static int
open_unprivileged(const char *dir, char *msg, size_t msgsz)
{
	int fds[2], status = -1;
	ssize_t n;
	pid_t pid;

	if (pipe(fds) != 0)
		return -1;
	if ((pid = fork()) == 0) {
		struct rb_error err = RB_ERROR_INIT;
		struct rb_store *st = NULL;
		int r;

		close(fds[0]);
		if (geteuid() == 0 && (setgroups(0, NULL) != 0 ||
		    setgid(65534) != 0 || setuid(65534) != 0))
			_exit(3);
		r = rb_store_open(&st, dir, &err);
		if (write(fds[1], err.msg, strlen(err.msg)) < 0)
			_exit(4);
		_exit(r == RB_EIO && strstr(err.hint, "read-only") != NULL ?
		    0 : 1);
	}
	close(fds[1]);
	n = read(fds[0], msg, msgsz - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(fds[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void
test_store_db__readonly_dir(void)
{
	struct rb_error err = RB_ERROR_INIT;
	struct rb_store *st = NULL;
	char dir[512], path[600], msg[1024];

	/* Let an unprivileged child reach the directories below. */
	T_EQ_INT(chmod(rb_test_tmpdir(), 0755), 0);

	/* A read-only directory without a database. */
	snprintf(dir, sizeof(dir), "%s/empty", rb_test_tmpdir());
	T_EQ_INT(mkdir(dir, 0555), 0);
	T_EQ_INT(open_unprivileged(dir, msg, sizeof(msg)), 0);
	T_CONTAINS(msg, "cannot create state database");
	T_CONTAINS(msg, dir);

	/* A read-only directory with a read-only database in it. */
	snprintf(dir, sizeof(dir), "%s/existing", rb_test_tmpdir());
	T_EQ_INT(rb_store_open(&st, dir, &err), 0);
	rb_store_free(st);
	snprintf(path, sizeof(path), "%s/state.db", dir);
	T_EQ_INT(chmod(path, 0644), 0);
	T_EQ_INT(chmod(dir, 0555), 0);
	T_EQ_INT(open_unprivileged(dir, msg, sizeof(msg)), 0);
	T_CONTAINS(msg, "is read-only");
	T_CONTAINS(msg, path);
}

void
test_store_db__not_a_directory(void)
{
	struct rb_error err = RB_ERROR_INIT;
	struct rb_store *st = NULL;
	char dir[512];
	int fd;

	snprintf(dir, sizeof(dir), "%s/file", rb_test_tmpdir());
	T_ASSERT((fd = open(dir, O_CREAT | O_WRONLY, 0600)) >= 0);
	close(fd);
	T_EQ_INT(rb_store_open(&st, dir, &err), RB_EIO);
	T_CONTAINS(err.msg, "not a directory");
	T_CONTAINS(err.hint, "--state DIR");
}

void
test_store_db__damaged_file(void)
{
	struct rb_error err = RB_ERROR_INIT;
	struct rb_store *st = NULL;
	char path[600], junk[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/state.db", rb_test_tmpdir());
	memset(junk, 'x', sizeof(junk));
	T_ASSERT((fd = open(path, O_CREAT | O_WRONLY, 0600)) >= 0);
	T_EQ_INT(write(fd, junk, sizeof(junk)), sizeof(junk));
	close(fd);
	T_EQ_INT(rb_store_open(&st, rb_test_tmpdir(), &err), RB_EIO);
	T_CONTAINS(err.msg, "file is not a database");
	T_CONTAINS(err.msg, path);
	T_CONTAINS(err.hint, "damaged");
}

void
test_store_db__transactions(void)
{
	struct rb_error err = RB_ERROR_INIT;
	struct rb_store *st = NULL;
	struct rb_audit_head head;

	T_EQ_INT(rb_store_open(&st, rb_test_tmpdir(), &err), 0);
	T_EQ_INT(rb_store_commit(st), RB_EINVAL);
	T_EQ_INT(rb_store_rollback(st), 0);
	T_EQ_INT(rb_store_begin(st), 0);
	T_ASSERT(rb_store_in_transaction(st));
	T_EQ_INT(rb_store_begin(st), RB_EINVAL);
	T_CONTAINS(rb_store_error(st)->msg, "already open");
	T_EQ_INT(rb_audit_append(NULL, st, "run.requested", NULL, "r1",
	    NULL), 0);
	T_EQ_INT(rb_store_rollback(st), 0);
	T_ASSERT(!rb_store_in_transaction(st));
	T_EQ_INT(rb_audit_head(&head, st), 0);
	T_EQ_INT(head.seq, 0);

	T_EQ_INT(rb_store_begin(st), 0);
	T_EQ_INT(rb_audit_append(NULL, st, "run.requested", NULL, "r1",
	    NULL), 0);
	/* A failing call inside the transaction leaves it usable. */
	T_EQ_INT(rb_audit_append(NULL, st, "Bad Event", NULL, "r1", NULL),
	    RB_EINVAL);
	T_EQ_INT(rb_audit_append(NULL, st, "run.started", NULL, "r1", NULL),
	    0);
	T_EQ_INT(rb_store_commit(st), 0);
	T_EQ_INT(rb_store_error(st)->code, 0);
	T_EQ_INT(rb_audit_head(&head, st), 0);
	T_EQ_INT(head.seq, 2);
	rb_store_free(st);
}

void
test_store_db__fork_refused(void)
{
	struct rb_error err = RB_ERROR_INIT;
	struct rb_store *st = NULL;
	struct rb_audit_verdict v;
	char other[512];
	int status = -1;
	pid_t pid;

	T_EQ_INT(rb_store_open(&st, rb_test_tmpdir(), &err), 0);
	T_EQ_INT(rb_audit_append(NULL, st, "run.requested", NULL, NULL,
	    NULL), 0);
	snprintf(other, sizeof(other), "%s/other", rb_test_tmpdir());
	if ((pid = fork()) == 0) {
		struct rb_audit_head head;
		struct rb_store *st2 = NULL;
		int bad = 0;

		/* The inherited handle must refuse to work... */
		if (rb_audit_head(&head, st) != RB_ERROR ||
		    strncmp(rb_store_error(st)->msg, "bug:", 4) != 0)
			bad |= 1;
		/* ...and so must opening any database in this child. */
		if (rb_store_open(&st2, other, &err) != RB_ERROR ||
		    strstr(err.msg, "before fork()") == NULL)
			bad |= 2;
		rb_store_free(st);	/* memory only */
		_exit(bad);
	}
	T_ASSERT(pid > 0);
	waitpid(pid, &status, 0);
	T_ASSERT(WIFEXITED(status));
	T_EQ_INT(WEXITSTATUS(status), 0);
	/* The parent's handle is unharmed. */
	T_EQ_INT(rb_audit_append(NULL, st, "run.started", NULL, NULL, NULL),
	    0);
	T_EQ_INT(rb_audit_verify(&v, st, NULL), 0);
	T_EQ_INT(v.problem, RB_AUDIT_OK);
	T_EQ_INT(v.nrecords, 2);
	rb_store_free(st);
}

#define NOPENERS 12
#define NROUNDS 8

void
test_store_db__concurrent_first_open(void)
{
	struct rb_error err = RB_ERROR_INIT;
	struct rb_store *st = NULL;
	struct rb_audit_verdict v;
	pid_t pids[NOPENERS];
	char dir[512];
	int go[2], i, round, status;

	/*
	 * Processes racing to create, migrate and append to one fresh
	 * database: every open and append succeeds, and the appends form one
	 * unbroken chain. The race (SQLite answers "database is locked" at
	 * once to one of two processes switching a new file to WAL) is lost
	 * only now and then, so it is run several times over.
	 */
	for (round = 0; round < NROUNDS; round++) {
		snprintf(dir, sizeof(dir), "%s/fresh%d", rb_test_tmpdir(),
		    round);
		T_ASSERT(pipe(go) == 0);
		for (i = 0; i < NOPENERS; i++) {
			if ((pids[i] = fork()) == 0) {
				char c;
				int r;

				close(go[1]);
				if (read(go[0], &c, 1) < 0)
					_exit(9);
				if ((r = rb_store_open(&st, dir, &err)) != 0) {
					fprintf(stderr, "open: %s\n", err.msg);
					_exit(1);
				}
				r = rb_audit_append(NULL, st, "run.requested",
				    NULL, NULL, NULL);
				if (r != 0)
					fprintf(stderr, "append: %s\n",
					    rb_store_error(st)->msg);
				rb_store_free(st);
				_exit(r == 0 ? 0 : 2);
			}
			T_ASSERT(pids[i] > 0);
		}
		close(go[0]);
		close(go[1]);
		for (i = 0; i < NOPENERS; i++) {
			T_EQ_INT(waitpid(pids[i], &status, 0), pids[i]);
			T_ASSERT(WIFEXITED(status));
			T_EQ_INT(WEXITSTATUS(status), 0);
		}
		T_EQ_INT(rb_store_open(&st, dir, &err), 0);
		T_EQ_INT(rb_audit_verify(&v, st, NULL), 0);
		T_EQ_INT(v.problem, RB_AUDIT_OK);
		T_EQ_INT(v.nrecords, NOPENERS);
		rb_store_free(st);
		st = NULL;
	}
}

void
test_store_db__write_error(void)
{
	struct rb_error err = RB_ERROR_INIT;
	struct rb_store *st = NULL;
	struct rb_audit_verdict v;
	char msg[2048];
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	/*
	 * A child whose files may not grow past 256 KiB appends 32 KiB
	 * records until the disk "fails": the error is RB_EIO naming the
	 * database, and every record committed before it is intact.
	 */
	T_EQ_INT(rb_store_open(&st, rb_test_tmpdir(), &err), 0);
	rb_store_free(st);
	st = NULL;
	T_ASSERT(pipe(fds) == 0);
	if ((pid = fork()) == 0) {
		struct rlimit rl = { 256 * 1024, 256 * 1024 };
		struct rb_buf d = RB_BUF_INIT;
		int i, r = 0;

		close(fds[0]);
		signal(SIGXFSZ, SIG_IGN);
		if (rb_store_open(&st, rb_test_tmpdir(), &err) != 0 ||
		    setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(1);
		rb_buf_adds(&d, "{\"pad\":\"");
		for (i = 0; i < 32 * 1024; i++)
			rb_buf_addch(&d, 'x');
		rb_buf_adds(&d, "\"}");
		for (i = 0; i < 100 && r == 0; i++)
			r = rb_audit_append(NULL, st, "run.requested", NULL,
			    NULL, d.buf);
		snprintf(msg, sizeof(msg), "%d|%s|%s", r,
		    rb_store_error(st)->msg, rb_store_error(st)->hint);
		if (write(fds[1], msg, strlen(msg)) < 0)
			_exit(2);
		_exit(0);
	}
	close(fds[1]);
	n = read(fds[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(fds[0]);
	T_EQ_INT(waitpid(pid, &status, 0), pid);
	T_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	T_ASSERT(strncmp(msg, "-7|", 3) == 0);	/* RB_EIO */
	T_CONTAINS(msg, "cannot append to the audit log in '");
	T_CONTAINS(msg, "state.db': disk I/O error");
	T_CONTAINS(msg, "the disk reported an I/O error");

	T_EQ_INT(rb_store_open(&st, rb_test_tmpdir(), &err), 0);
	T_EQ_INT(rb_audit_verify(&v, st, NULL), 0);
	T_EQ_INT(v.problem, RB_AUDIT_OK);
	T_ASSERT(v.nrecords > 0 && v.nrecords < 100);
	rb_store_free(st);
}
