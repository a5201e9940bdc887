/*
 * db.c - the state directory and state.db: resolving and creating the
 * directory, opening the database with the pragmas durability needs,
 * schema migrations, the prepared-statement cache, transactions, and the
 * mapping of SQLite failures onto RB_E* codes with messages a person can
 * act on.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "runbook/buf.h"
#include "runbook/error.h"
#include "runbook/store.h"
#include "runbook/util.h"
#include "store/store_int.h"
#include "runbook/banned.h"

/*
 * Schema migrations, in order: migrations[i] takes user_version i to i+1,
 * in one transaction. Never edit a released entry; append a new one.
 */
static const char *const migrations[] = {
	/* 1: journal, audit log, locks, webhook queue. */
	"CREATE TABLE runs ("
	"  run_id TEXT PRIMARY KEY,"
	"  runbook TEXT NOT NULL,"
	"  runbook_path TEXT,"
	"  runbook_digest TEXT,"
	"  plan_digest TEXT,"
	"  params TEXT NOT NULL DEFAULT '{}',"
	"  trigger TEXT NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  status TEXT NOT NULL,"
	"  resumed_from TEXT,"
	"  pid INTEGER,"
	"  pid_start_time INTEGER,"
	"  boot_id TEXT,"
	"  host TEXT,"
	"  started_ms INTEGER NOT NULL,"
	"  finished_ms INTEGER,"
	"  exit_code INTEGER"
	");"
	"CREATE INDEX runs_started ON runs(started_ms);"
	"CREATE INDEX runs_runbook ON runs(runbook, started_ms);"
	"CREATE TABLE step_attempts ("
	"  id INTEGER PRIMARY KEY,"
	"  run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
	"  step_id TEXT NOT NULL,"
	"  host TEXT NOT NULL,"
	"  phase TEXT NOT NULL,"
	"  attempt INTEGER NOT NULL,"
	"  status TEXT NOT NULL,"
	"  exit_code INTEGER,"
	"  started_ms INTEGER NOT NULL,"
	"  finished_ms INTEGER,"
	"  duration_ms INTEGER,"
	"  command TEXT,"
	"  command_digest TEXT,"
	"  stdout_tail TEXT,"
	"  stdout_total INTEGER,"
	"  stderr_tail TEXT,"
	"  stderr_total INTEGER,"
	"  captures TEXT,"
	"  error TEXT,"
	"  UNIQUE (run_id, step_id, host, phase, attempt)"
	");"
	"CREATE TABLE audit (seq INTEGER PRIMARY KEY, ts TEXT, actor TEXT,"
	"  event TEXT, run_id TEXT, details TEXT, prev_hash TEXT, hash TEXT);"
	"CREATE TABLE locks ("
	"  key TEXT PRIMARY KEY,"
	"  run_id TEXT NOT NULL,"
	"  pid INTEGER NOT NULL,"
	"  pid_start_time INTEGER,"
	"  boot_id TEXT,"
	"  host TEXT,"
	"  acquired_ms INTEGER NOT NULL"
	");"
	"CREATE TABLE queue ("
	"  id INTEGER PRIMARY KEY,"
	"  created_ms INTEGER NOT NULL,"
	"  route TEXT,"
	"  runbook TEXT NOT NULL,"
	"  params TEXT NOT NULL DEFAULT '{}',"
	"  alert TEXT,"
	"  dedup_key TEXT,"
	"  status TEXT NOT NULL,"
	"  run_id TEXT,"
	"  source TEXT,"
	"  claimed_pid INTEGER,"
	"  claimed_start_time INTEGER,"
	"  started_ms INTEGER,"
	"  finished_ms INTEGER"
	");"
	"CREATE INDEX queue_dedup ON queue(dedup_key, created_ms)"
	"  WHERE dedup_key IS NOT NULL;"
	"CREATE INDEX queue_status ON queue(status, id);",
};

_Static_assert(RB_ARRAY_SIZE(migrations) == RB_STORE_SCHEMA_VERSION,
    "RB_STORE_SCHEMA_VERSION must equal the number of migrations");

/*
 * Handles this process opened (or inherited through fork()). SQLite keeps
 * per-file lock and shared-memory state in process globals; a forked child
 * inherits them, and a connection it opens to the same file would believe
 * it holds the parent's locks (on the WAL index, for one) without holding
 * them. So a child may open state.db only if its parent had no handle open
 * when it forked. Atomic so that threads opening separate handles agree.
 */
static _Atomic int live_handles;
static _Atomic pid_t live_pid;

static const char HINT_READONLY[] =
    "the state directory is read-only or not accessible: use --state DIR "
    "or fix its permissions";

/* ------------------------------------------------------------------ */
/* State directory                                                      */
/* ------------------------------------------------------------------ */

int
rb_store_default_dir(struct rb_buf *out, const char *opt_dir,
    struct rb_error *err)
{
	const char *v;
	struct passwd pw, *res = NULL;
	char pwbuf[4096];

	if (opt_dir != NULL && *opt_dir != '\0')
		return rb_buf_adds(out, opt_dir);
	if ((v = getenv("RUNBOOK_STATE_DIR")) != NULL && *v != '\0')
		return rb_buf_adds(out, v);
	/* XDG: a relative value is invalid and must be ignored. */
	if ((v = getenv("XDG_STATE_HOME")) != NULL && v[0] == '/')
		return rb_buf_addf(out, "%s/runbook", v);
	if ((v = getenv("HOME")) == NULL || *v == '\0') {
		if (getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf),
		    &res) == 0 &&
		    res != NULL && res->pw_dir != NULL && *res->pw_dir != '\0')
			v = res->pw_dir;
		else
			v = NULL;
	}
	if (v == NULL) {
		rb_error_set(err, RB_ENOTFOUND,
		    "cannot find the state directory: no home directory");
		rb_error_hint(err,
		    "use --state DIR or set RUNBOOK_STATE_DIR");
		return RB_ENOTFOUND;
	}
	return rb_buf_addf(out, "%s/.local/state/runbook", v);
}

/* mkdir -p with mode 0700 for every directory created. */
static int
make_dirs(const char *dir, struct rb_error *err)
{
	struct rb_buf p = RB_BUF_INIT;
	struct stat sb;
	size_t i;
	int r = RB_EIO;

	rb_buf_adds(&p, dir);
	for (i = 1; i <= p.len; i++) {
		char c = p.buf[i];

		if (c != '/' && c != '\0')
			continue;
		if (p.buf[i - 1] == '/')
			continue;
		p.buf[i] = '\0';
		if (stat(p.buf, &sb) != 0 && mkdir(p.buf, 0700) != 0 &&
		    errno != EEXIST) {
			rb_error_set(err, RB_EIO,
			    "cannot create state directory '%s': %s", p.buf,
			    strerror(errno));
			rb_error_hint(err, "%s", HINT_READONLY);
			goto out;
		}
		p.buf[i] = c;
	}
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		rb_error_set(err, RB_EIO, "cannot use state directory '%s': %s",
		    dir, stat(dir, &sb) != 0 ? strerror(errno) :
		    "not a directory");
		rb_error_hint(err, "use --state DIR to choose another one");
		goto out;
	}
	r = 0;
out:
	rb_buf_release(&p);
	return r;
}

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

int
store_sqlerr(struct rb_store *st, int rc, const char *what)
{
	const char *msg, *hint = NULL;
	int code;

	if (st->db != NULL && sqlite3_extended_errcode(st->db) == rc)
		msg = sqlite3_errmsg(st->db);
	else
		msg = sqlite3_errstr(rc);
	switch (rc & 0xff) {
	case SQLITE_FULL:
		code = RB_EIO;
		hint = "the file system holding the state directory is full: "
		    "free some space, or use --state DIR";
		break;
	case SQLITE_IOERR:
		code = RB_EIO;
		hint = "the disk reported an I/O error: check the file system "
		    "(dmesg), or use --state DIR";
		break;
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		code = RB_EIO;
		hint = HINT_READONLY;
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		code = RB_EIO;
		hint = "the state database is damaged: move state.db aside "
		    "(keep it for inspection), or use --state DIR";
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		code = RB_ETIMEOUT;
		hint = "another runbook process kept the state database "
		    "locked: retry, or look for a stuck runbook process";
		break;
	case SQLITE_CONSTRAINT:
		code = RB_EINVAL;
		break;
	case SQLITE_TOOBIG:
		code = RB_ETOOBIG;
		break;
	default:
		code = RB_ERROR;
		break;
	}
	rb_error_set(&st->err, code, "cannot %s in '%s': %s", what,
	    st->path != NULL ? st->path : "?", msg);
	if (hint != NULL)
		rb_error_hint(&st->err, "%s", hint);
	return code;
}

/* ------------------------------------------------------------------ */
/* Statements and transactions                                          */
/* ------------------------------------------------------------------ */

int
store_enter(struct rb_store *st)
{
	if (st == NULL)
		RB_BUG("NULL state store handle");
	if (getpid() != st->pid)
		return rb_error_set(&st->err, RB_ERROR,
		    "bug: state database handle of pid %ld used in pid %ld "
		    "(a handle must not cross fork())", (long)st->pid,
		    (long)getpid());
	rb_error_clear(&st->err);
	return 0;
}

int
store_stmt(sqlite3_stmt **out, struct rb_store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;
	size_t i;
	int rc;

	for (i = 0; i < st->nstmts; i++) {
		if (st->stmts[i].sql == sql) {
			*out = st->stmts[i].stmt;
			store_stmt_done(*out);	/* in case a path forgot */
			return 0;
		}
	}
	rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s,
	    NULL);
	if (rc != SQLITE_OK)
		return store_sqlerr(st, rc, "prepare a statement");
	RB_ALLOC_GROW(st->stmts, st->nstmts + 1, st->alloc);
	st->stmts[st->nstmts].sql = sql;
	st->stmts[st->nstmts].stmt = s;
	st->nstmts++;
	*out = s;
	return 0;
}

void
store_stmt_done(sqlite3_stmt *s)
{
	if (s == NULL)
		return;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

int
store_exec_stmt(struct rb_store *st, sqlite3_stmt *s, const char *what)
{
	int rc, r = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE)
		r = store_sqlerr(st, rc, what);
	store_stmt_done(s);
	return r;
}

/* Run one of the fixed transaction-control statements. */
static int
exec_sql(struct rb_store *st, const char *sql, const char *what)
{
	sqlite3_stmt *s;
	int r;

	if ((r = store_stmt(&s, st, sql)) != 0)
		return r;
	return store_exec_stmt(st, s, what);
}

static const char SQL_BEGIN_IMMEDIATE[] = "BEGIN IMMEDIATE";
static const char SQL_BEGIN_DEFERRED[] = "BEGIN";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";
static const char SQL_SAVEPOINT[] = "SAVEPOINT rb_op";
static const char SQL_RELEASE[] = "RELEASE rb_op";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO rb_op";

/*
 * SQLite rolls a transaction back on its own after some errors (disk full,
 * I/O error); writing on as if it were open would commit half of it.
 */
static int
check_tx_alive(struct rb_store *st)
{
	if (st->in_tx && sqlite3_get_autocommit(st->db)) {
		rb_error_set(&st->err, RB_EIO,
		    "transaction on '%s' was rolled back after an earlier "
		    "error", st->path);
		rb_error_hint(&st->err, "nothing since rb_store_begin() was "
		    "written; roll back and retry");
		return RB_EIO;
	}
	return 0;
}

int
store_op_begin(struct rb_store *st, bool *owned)
{
	int r;

	*owned = false;
	if ((r = check_tx_alive(st)) != 0)
		return r;
	if (sqlite3_get_autocommit(st->db)) {
		if ((r = exec_sql(st, SQL_BEGIN_IMMEDIATE,
		    "begin a transaction")) != 0)
			return r;
		*owned = true;
		return 0;
	}
	return exec_sql(st, SQL_SAVEPOINT, "start a savepoint");
}

int
store_op_end(struct rb_store *st, bool owned, int r, const char *what)
{
	struct rb_error saved;
	int r2;

	if (r == 0) {
		if (!owned)
			return exec_sql(st, SQL_RELEASE, what);
		if ((r2 = exec_sql(st, SQL_COMMIT, what)) == 0)
			return 0;
		r = r2;
	}
	/* Undo, keeping the first error's message. */
	saved = st->err;
	if (owned) {
		if (!sqlite3_get_autocommit(st->db))
			exec_sql(st, SQL_ROLLBACK, "roll back");
	} else if (!sqlite3_get_autocommit(st->db)) {
		exec_sql(st, SQL_ROLLBACK_TO, "roll back a savepoint");
		exec_sql(st, SQL_RELEASE, "release a savepoint");
	}
	st->err = saved;
	return r;
}

int
store_read_begin(struct rb_store *st, bool *owned)
{
	int r;

	*owned = false;
	if ((r = check_tx_alive(st)) != 0)
		return r;
	if (!sqlite3_get_autocommit(st->db))
		return 0;
	if ((r = exec_sql(st, SQL_BEGIN_DEFERRED, "begin a read")) != 0)
		return r;
	*owned = true;
	return 0;
}

void
store_read_end(struct rb_store *st, bool owned)
{
	struct rb_error saved = st->err;

	if (owned && !sqlite3_get_autocommit(st->db))
		exec_sql(st, SQL_COMMIT, "end a read");
	st->err = saved;
}

int
rb_store_begin(struct rb_store *st)
{
	int r;

	if ((r = store_enter(st)) != 0)
		return r;
	if (st->in_tx || !sqlite3_get_autocommit(st->db))
		return rb_error_set(&st->err, RB_EINVAL,
		    "a transaction is already open on '%s'", st->path);
	if ((r = exec_sql(st, SQL_BEGIN_IMMEDIATE, "begin a transaction")) != 0)
		return r;
	st->in_tx = true;
	return 0;
}

int
rb_store_commit(struct rb_store *st)
{
	int r;

	if ((r = store_enter(st)) != 0)
		return r;
	if (!st->in_tx)
		return rb_error_set(&st->err, RB_EINVAL,
		    "no transaction is open on '%s'", st->path);
	if ((r = check_tx_alive(st)) != 0) {
		st->in_tx = false;
		return r;
	}
	st->in_tx = false;
	if ((r = exec_sql(st, SQL_COMMIT, "commit")) != 0) {
		struct rb_error saved = st->err;

		if (!sqlite3_get_autocommit(st->db))
			exec_sql(st, SQL_ROLLBACK, "roll back");
		st->err = saved;
	}
	return r;
}

int
rb_store_rollback(struct rb_store *st)
{
	int r;

	if ((r = store_enter(st)) != 0)
		return r;
	st->in_tx = false;
	if (sqlite3_get_autocommit(st->db))
		return 0;
	return exec_sql(st, SQL_ROLLBACK, "roll back");
}

bool
rb_store_in_transaction(const struct rb_store *st)
{
	return st != NULL && st->in_tx;
}

/* ------------------------------------------------------------------ */
/* Small helpers for the other store files                              */
/* ------------------------------------------------------------------ */

int
store_bind_text(sqlite3_stmt *s, int i, const char *v, int64_t len)
{
	if (v == NULL)
		return sqlite3_bind_null(s, i);
	if (len < 0)
		len = (int64_t)strlen(v);
	return sqlite3_bind_text64(s, i, v, (sqlite3_uint64)len,
	    SQLITE_TRANSIENT, SQLITE_UTF8);
}

char *
store_col_blobdup(sqlite3_stmt *s, int i, size_t *out_len)
{
	const unsigned char *t;
	char *p;
	int n;

	if (sqlite3_column_type(s, i) == SQLITE_NULL) {
		if (out_len != NULL)
			*out_len = 0;
		return NULL;
	}
	t = sqlite3_column_text(s, i);
	n = sqlite3_column_bytes(s, i);
	if (out_len != NULL)
		*out_len = (size_t)n;
	/* Not strndup: output tails may hold NUL bytes. */
	p = xmalloc((size_t)n + 1);
	if (n > 0 && t != NULL)
		memcpy(p, t, (size_t)n);
	p[n] = '\0';
	return p;
}

char *
store_col_strdup(sqlite3_stmt *s, int i)
{
	return store_col_blobdup(s, i, NULL);
}

int
store_json_object(struct rb_store *st, const char *text, const char *what)
{
	json_error_t je;
	json_t *j;
	bool obj;

	j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL)
		return rb_error_set(&st->err, RB_EINVAL,
		    "%s is not valid JSON: %s (column %d)", what, je.text,
		    je.column);
	obj = json_is_object(j);
	json_decref(j);
	if (!obj)
		return rb_error_set(&st->err, RB_EINVAL,
		    "%s is not a JSON object", what);
	return 0;
}

/* Read /proc/PID/stat: field 3 (state) and field 22 (start time). */
static int
proc_stat(pid_t pid, char *out_state, int64_t *out_start)
{
	char path[64], buf[1024], *p, *end;
	ssize_t n;
	int fd, field;
	long long v;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return RB_ENOTFOUND;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return RB_ENOTFOUND;
	buf[n] = '\0';
	/* The command name (field 2) may contain spaces and ')'. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return RB_EINVAL;
	p += 2;
	*out_state = *p;
	for (field = 3; field < 22; field++) {
		if ((p = strchr(p, ' ')) == NULL)
			return RB_EINVAL;
		p++;
	}
	errno = 0;
	v = strtoll(p, &end, 10);
	if (errno != 0 || end == p)
		return RB_EINVAL;
	*out_start = v;
	return 0;
}

int
store_proc_start_time(int64_t *out, pid_t pid)
{
	char state;

	return proc_stat(pid, &state, out);
}

bool
store_proc_alive(const struct rb_store *st, int64_t pid, int64_t start_time,
    const char *boot_id)
{
	int64_t cur;
	char state;

	if (pid <= 0 || (int64_t)(pid_t)pid != pid)
		return false;
	if (boot_id != NULL && *boot_id != '\0' && st->boot_id[0] != '\0' &&
	    strcmp(boot_id, st->boot_id) != 0)
		return false;
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return false;
	if (proc_stat((pid_t)pid, &state, &cur) != 0)
		return true;	/* exists, but /proc tells us no more */
	if (state == 'Z' || state == 'X')
		return false;
	return start_time <= 0 || cur == start_time;
}

/* ------------------------------------------------------------------ */
/* Opening                                                              */
/* ------------------------------------------------------------------ */

/* The kernel's boot id, so a pid from before a reboot is not "alive". */
static void
read_boot_id(char *out, size_t outsz)
{
	ssize_t n;
	int fd;

	out[0] = '\0';
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, out, outsz - 1);
	close(fd);
	if (n <= 0) {
		out[0] = '\0';
		return;
	}
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

/* Run a pragma (or other statement) whose result row, if any, is ignored. */
static int
exec_once(struct rb_store *st, const char *sql, const char *what)
{
	int rc;

	rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store_sqlerr(st, rc, what);
	return 0;
}

static int
user_version(struct rb_store *st, int *out)
{
	sqlite3_stmt *s = NULL;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW)
		*out = sqlite3_column_int(s, 0);
	else
		r = store_sqlerr(st, rc, "read the schema version");
	sqlite3_finalize(s);
	return r;
}

/*
 * Switch to WAL; the answer is the mode in force, which must be "wal".
 *
 * Changing the journal mode of a fresh database takes an exclusive lock,
 * and SQLite answers SQLITE_BUSY at once, without calling the busy handler,
 * when waiting could deadlock: two processes opening a new state directory
 * together each hold a shared lock and want the exclusive one. One of them
 * wins; the other must let go (reset the statement) and ask again, when it
 * finds the database in WAL mode already. So retry, with a growing sleep,
 * for as long as the busy timeout.
 */
static int
set_wal(struct rb_store *st)
{
	sqlite3_stmt *s = NULL;
	const char *mode;
	int64_t deadline = rb_now_ms() + RB_STORE_BUSY_TIMEOUT_MS;
	useconds_t nap = 1000;
	int rc, r = 0;

	for (;;) {
		/* Preparing reads the schema, which can be busy too. */
		rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode=WAL", -1,
		    &s, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		if ((rc & 0xff) != SQLITE_BUSY || rb_now_ms() >= deadline)
			break;
		sqlite3_finalize(s);
		s = NULL;
		usleep(nap);
		if (nap < 64000)
			nap *= 2;
	}
	if (rc != SQLITE_ROW && ((rc & 0xff) == SQLITE_READONLY ||
	    (rc & 0xff) == SQLITE_CANTOPEN)) {
		/* The file is writable, its directory is not. */
		r = rb_error_set(&st->err, RB_EIO, "state database '%s' is "
		    "read-only: the write-ahead log cannot be created in '%s'",
		    st->path, st->dir);
		rb_error_hint(&st->err, "%s", HINT_READONLY);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = store_sqlerr(st, rc, "switch to WAL mode");
		goto out;
	}
	mode = (const char *)sqlite3_column_text(s, 0);
	if (mode == NULL || strcmp(mode, "wal") != 0) {
		r = rb_error_set(&st->err, RB_EIO,
		    "cannot use WAL mode for '%s': journal mode is '%s'",
		    st->path, mode != NULL ? mode : "?");
		rb_error_hint(&st->err, "the file system may not support "
		    "shared memory (a network file system?): use --state DIR "
		    "on a local disk");
	}
out:
	sqlite3_finalize(s);
	return r;
}

/* Bring the schema to RB_STORE_SCHEMA_VERSION, one migration at a time. */
static int
migrate(struct rb_store *st)
{
	char sql[64];
	int v, r;

	for (;;) {
		if ((r = user_version(st, &v)) != 0)
			return r;
		if (v == RB_STORE_SCHEMA_VERSION)
			return 0;
		if (v < 0 || v > RB_STORE_SCHEMA_VERSION) {
			rb_error_set(&st->err, RB_EIO,
			    "state database '%s' has schema version %d, newer "
			    "than this runbook understands (%d)", st->path, v,
			    RB_STORE_SCHEMA_VERSION);
			rb_error_hint(&st->err, "upgrade runbook, or use "
			    "--state DIR for a separate state directory");
			return RB_EIO;
		}
		if ((r = exec_once(st, "BEGIN IMMEDIATE",
		    "begin a schema migration")) != 0)
			return r;
		/* Another process may have migrated while we waited. */
		if ((r = user_version(st, &v)) != 0)
			goto fail;
		if (v < RB_STORE_SCHEMA_VERSION && v >= 0) {
			snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
			    v + 1);
			if ((r = exec_once(st, migrations[v],
			    "migrate the schema")) != 0 ||
			    (r = exec_once(st, sql, "migrate the schema")) != 0)
				goto fail;
		}
		if ((r = exec_once(st, "COMMIT", "commit a migration")) != 0)
			goto fail;
	}
fail:
	if (!sqlite3_get_autocommit(st->db)) {
		struct rb_error saved = st->err;

		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		st->err = saved;
	}
	return r;
}

/*
 * Create state.db with mode 0600 before SQLite does (it would use 0644):
 * it holds command output. O_EXCL means we never open a file that another
 * connection in this process may hold locks on.
 */
static int
precreate(const char *path, struct rb_error *err)
{
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	rb_error_set(err, RB_EIO, "cannot create state database '%s': %s",
	    path, strerror(errno));
	rb_error_hint(err, "%s", HINT_READONLY);
	return RB_EIO;
}

int
rb_store_open(struct rb_store **out, const char *dir, struct rb_error *err)
{
	struct rb_store *st = NULL;
	int rc, r = RB_EIO;

	if (dir == NULL || *dir == '\0')
		return rb_error_set(err, RB_EINVAL, "empty state directory");
	if (live_handles > 0 && live_pid != getpid())
		return rb_error_set(err, RB_ERROR,
		    "bug: state database opened in pid %ld, forked from pid "
		    "%ld while it had the database open (close it before "
		    "fork(), or exec)", (long)getpid(), (long)live_pid);
	if ((r = make_dirs(dir, err)) != 0)
		return r;
	st = xcalloc(1, sizeof(*st));
	st->pid = getpid();
	st->dir = xstrdup(dir);
	st->path = xstrfmt("%s/%s", dir, RB_STORE_DB_NAME);
	if (gethostname(st->host, sizeof(st->host)) != 0)
		snprintf(st->host, sizeof(st->host), "localhost");
	st->host[sizeof(st->host) - 1] = '\0';
	read_boot_id(st->boot_id, sizeof(st->boot_id));
	store_proc_start_time(&st->pid_start_time, st->pid);

	if ((r = precreate(st->path, err)) != 0)
		goto out;
	rc = sqlite3_open_v2(st->path, &st->db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	    NULL);
	if (rc != SQLITE_OK) {
		r = store_sqlerr(st, rc, "open the state database");
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	/* SQLite falls back to read-only quietly; we would fail later. */
	if (sqlite3_db_readonly(st->db, "main") == 1) {
		rb_error_set(&st->err, RB_EIO,
		    "state database '%s' is read-only", st->path);
		rb_error_hint(&st->err, "%s", HINT_READONLY);
		r = RB_EIO;
		goto fail;
	}
	sqlite3_busy_timeout(st->db, RB_STORE_BUSY_TIMEOUT_MS);
	/* No writable_schema tricks, no functions run from schema contents. */
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	if ((r = set_wal(st)) != 0 ||
	    (r = exec_once(st, "PRAGMA synchronous=FULL",
	    "set synchronous=FULL")) != 0 ||
	    (r = exec_once(st, "PRAGMA foreign_keys=ON",
	    "enable foreign keys")) != 0 ||
	    (r = migrate(st)) != 0)
		goto fail;
	if (live_handles++ == 0)
		live_pid = st->pid;
	st->counted = true;
	*out = st;
	st = NULL;
	r = 0;
	goto out;
fail:
	if (err != NULL)
		*err = st->err;
out:
	rb_store_free(st);
	return r;
}

void
rb_store_free(struct rb_store *st)
{
	size_t i;

	if (st == NULL)
		return;
	if (getpid() == st->pid) {
		for (i = 0; i < st->nstmts; i++)
			sqlite3_finalize(st->stmts[i].stmt);
		if (st->db != NULL && !sqlite3_get_autocommit(st->db))
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(st->db);
		if (st->counted)
			live_handles--;
	}
	free(st->stmts);
	free(st->dir);
	free(st->path);
	free(st);
}

const struct rb_error *
rb_store_error(const struct rb_store *st)
{
	return &st->err;
}

const char *
rb_store_dir(const struct rb_store *st)
{
	return st->dir;
}

const char *
rb_store_path(const struct rb_store *st)
{
	return st->path;
}

int
rb_store_schema_version(struct rb_store *st)
{
	int v = -1;

	if (store_enter(st) != 0 || user_version(st, &v) != 0)
		return -1;
	return v;
}

void
rb_store_default_actor(char *out, size_t outsz)
{
	char host[256], name[64];
	const char *user;
	struct passwd pw, *res = NULL;
	char pwbuf[4096];

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if ((user = getenv("USER")) == NULL || *user == '\0')
		user = getenv("LOGNAME");
	if (user == NULL || *user == '\0') {
		if (getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf),
		    &res) == 0 &&
		    res != NULL && res->pw_name != NULL)
			user = res->pw_name;
		else {
			snprintf(name, sizeof(name), "uid%ld", (long)getuid());
			user = name;
		}
	}
	snprintf(out, outsz, "%s@%s", user, host);
}
