/*
 * journal.c - runs and step attempts in state.db: the write-ahead record
 * that resume, `runs` and `show` read back.
 *
 * A "started" attempt is committed before its process starts; the result
 * updates the same row. Rows are never deleted here, so an attempt still
 * "started" after a crash is exactly the step whose effect is unknown.
 */
#include <sys/random.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runbook/error.h"
#include "runbook/journal.h"
#include "runbook/util.h"
#include "store/store_int.h"
#include "runbook/banned.h"

static const char *const run_statuses[] = { "running", "succeeded", "failed",
	"rollback_failed", "paused", "interrupted", "refused" };
static const char *const attempt_statuses[] = { "started", "succeeded",
	"failed", "skipped", "timed_out", "interrupted", "paused" };
static const char *const phases[] = { "main", "rollback", "on_failure" };
static const char *const triggers[] = { "cli", "webhook", "resume" };

#define FREE_CONST(p) free((void *)(uintptr_t)(p))

static bool
in_list(const char *s, const char *const *list, size_t n)
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

bool
rb_journal_run_status_valid(const char *s)
{
	return in_list(s, run_statuses, RB_ARRAY_SIZE(run_statuses));
}

bool
rb_journal_attempt_status_valid(const char *s)
{
	return in_list(s, attempt_statuses, RB_ARRAY_SIZE(attempt_statuses));
}

void
rb_journal_new_run_id(char out[RB_JOURNAL_ID_SIZE])
{
	time_t now = time(NULL);
	struct tm tm;
	uint32_t rnd = 0;
	char ts[32];

	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || read(fd, &rnd, sizeof(rnd)) !=
		    (ssize_t)sizeof(rnd))
			rnd = (uint32_t)getpid() * 2654435761u ^
			    (uint32_t)rb_now_us();
		if (fd >= 0)
			close(fd);
	}
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(out, RB_JOURNAL_ID_SIZE, "%s-%08x", ts, (unsigned)rnd);
}

/* ------------------------------------------------------------------ */
/* Runs                                                                 */
/* ------------------------------------------------------------------ */

static const char SQL_RUN_INSERT[] =
    "INSERT INTO runs (run_id, runbook, runbook_path, runbook_digest,"
    " plan_digest, params, trigger, actor, status, resumed_from, pid,"
    " pid_start_time, boot_id, host, started_ms, finished_ms, exit_code)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
    " ?15, ?16, ?17)";

int
rb_journal_run_create(char out_id[RB_JOURNAL_ID_SIZE], struct rb_store *st,
    const struct rb_journal_run *run)
{
	char id[RB_JOURNAL_ID_SIZE], actor[RB_STORE_ACTOR_SIZE];
	const char *status, *params, *boot, *trigger;
	sqlite3_stmt *s = NULL;
	int64_t now, pid, pstart;
	bool owned = false, final;
	int rc, r;

	if ((r = store_enter(st)) != 0)
		return r;
	if (run->runbook == NULL || *run->runbook == '\0')
		return rb_error_set(&st->err, RB_EINVAL,
		    "cannot record a run without a runbook name");
	status = run->status != NULL ? run->status : "running";
	if (!rb_journal_run_status_valid(status))
		return rb_error_set(&st->err, RB_EINVAL,
		    "unknown run status '%s'", status);
	trigger = run->trigger != NULL ? run->trigger : "cli";
	if (!in_list(trigger, triggers, RB_ARRAY_SIZE(triggers)))
		return rb_error_set(&st->err, RB_EINVAL,
		    "unknown run trigger '%s'", trigger);
	params = run->params != NULL ? run->params : "{}";
	if ((r = store_json_object(st, params, "run params")) != 0)
		return r;
	if (run->run_id != NULL) {
		if (*run->run_id == '\0' ||
		    strlen(run->run_id) >= RB_JOURNAL_ID_SIZE)
			return rb_error_set(&st->err, RB_EINVAL,
			    "invalid run id '%s'", run->run_id);
		snprintf(id, sizeof(id), "%s", run->run_id);
	} else
		rb_journal_new_run_id(id);
	if (run->actor != NULL)
		snprintf(actor, sizeof(actor), "%s", run->actor);
	else
		rb_store_default_actor(actor, sizeof(actor));
	if (run->pid == 0) {
		pid = st->pid;
		pstart = st->pid_start_time;
		boot = st->boot_id;
	} else {
		pid = run->pid;
		pstart = run->pid_start_time;
		boot = run->boot_id;
	}
	now = run->started_ms != 0 ? run->started_ms : rb_wall_ms();
	final = strcmp(status, "running") != 0;

	if ((r = store_op_begin(st, &owned)) != 0)
		return r;
	if ((r = store_stmt(&s, st, SQL_RUN_INSERT)) != 0)
		goto out;
	if ((rc = store_bind_text(s, 1, id, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 2, run->runbook, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 3, run->runbook_path, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 4, run->runbook_digest, -1)) !=
	    SQLITE_OK ||
	    (rc = store_bind_text(s, 5, run->plan_digest, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 6, params, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 7, trigger, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 8, actor, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 9, status, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 10, run->resumed_from, -1)) !=
	    SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 11, pid)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 12, pstart)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 13, boot, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 14, st->host, -1)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 15, now)) != SQLITE_OK) {
		r = store_sqlerr(st, rc, "record a run");
		goto out;
	}
	if (final) {
		sqlite3_bind_int64(s, 16, run->finished_ms != 0 ?
		    run->finished_ms : now);
		if (run->exit_code >= 0)
			sqlite3_bind_int(s, 17, run->exit_code);
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		r = rb_error_set(&st->err, RB_EINVAL,
		    "run '%s' already exists", id);
	else if (rc != SQLITE_DONE)
		r = store_sqlerr(st, rc, "record a run");
out:
	store_stmt_done(s);
	r = store_op_end(st, owned, r, "record a run");
	if (r == 0)
		memcpy(out_id, id, sizeof(id));
	return r;
}

static const char SQL_RUN_RESUME[] =
    "UPDATE runs SET status = 'running', pid = ?2, pid_start_time = ?3,"
    " boot_id = ?4, host = ?5, finished_ms = NULL, exit_code = NULL"
    " WHERE run_id = ?1";
static const char SQL_RUN_FINISH[] =
    "UPDATE runs SET status = ?2, finished_ms = ?3, exit_code = ?4"
    " WHERE run_id = ?1";

int
rb_journal_run_set_status(struct rb_store *st, const char *run_id,
    const char *status, int exit_code)
{
	sqlite3_stmt *s = NULL;
	bool owned = false;
	int rc, r;

	if ((r = store_enter(st)) != 0)
		return r;
	if (!rb_journal_run_status_valid(status))
		return rb_error_set(&st->err, RB_EINVAL,
		    "unknown run status '%s'",
		    status != NULL ? status : "(null)");
	if (run_id == NULL)
		return rb_error_set(&st->err, RB_EINVAL, "no run id");
	if ((r = store_op_begin(st, &owned)) != 0)
		return r;
	if (strcmp(status, "running") == 0) {
		if ((r = store_stmt(&s, st, SQL_RUN_RESUME)) != 0)
			goto out;
		rc = store_bind_text(s, 1, run_id, -1);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(s, 2, st->pid);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(s, 3, st->pid_start_time);
		if (rc == SQLITE_OK)
			rc = store_bind_text(s, 4, st->boot_id, -1);
		if (rc == SQLITE_OK)
			rc = store_bind_text(s, 5, st->host, -1);
	} else {
		if ((r = store_stmt(&s, st, SQL_RUN_FINISH)) != 0)
			goto out;
		rc = store_bind_text(s, 1, run_id, -1);
		if (rc == SQLITE_OK)
			rc = store_bind_text(s, 2, status, -1);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(s, 3, rb_wall_ms());
		if (rc == SQLITE_OK && exit_code >= 0)
			rc = sqlite3_bind_int(s, 4, exit_code);
	}
	if (rc != SQLITE_OK) {
		r = store_sqlerr(st, rc, "set a run's status");
		goto out;
	}
	if ((r = store_exec_stmt(st, s, "set a run's status")) != 0)
		goto out;
	if (sqlite3_changes(st->db) == 0)
		r = rb_error_set(&st->err, RB_ENOTFOUND, "no run '%s'",
		    run_id);
out:
	store_stmt_done(s);
	return store_op_end(st, owned, r, "set a run's status");
}

/* ------------------------------------------------------------------ */
/* Attempts                                                             */
/* ------------------------------------------------------------------ */

static const char SQL_NEXT_ATTEMPT[] =
    "SELECT COALESCE(MAX(attempt), 0) + 1 FROM step_attempts"
    " WHERE run_id = ?1 AND step_id = ?2 AND host = ?3 AND phase = ?4";
static const char SQL_ATTEMPT_INSERT[] =
    "INSERT INTO step_attempts (run_id, step_id, host, phase, attempt,"
    " status, started_ms, finished_ms, duration_ms, command, command_digest,"
    " error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

/* Check the identifying fields of a and fill in host and phase defaults. */
static int
attempt_key(struct rb_store *st, const struct rb_journal_attempt *a,
    const char **host, const char **phase)
{
	if (a->run_id == NULL || *a->run_id == '\0' || a->step_id == NULL ||
	    *a->step_id == '\0')
		return rb_error_set(&st->err, RB_EINVAL,
		    "a step record needs a run id and a step id");
	*host = a->host != NULL ? a->host : "local";
	*phase = a->phase != NULL ? a->phase : "main";
	if (!in_list(*phase, phases, RB_ARRAY_SIZE(phases)))
		return rb_error_set(&st->err, RB_EINVAL,
		    "unknown step phase '%s'", *phase);
	if (a->attempt < 0)
		return rb_error_set(&st->err, RB_EINVAL,
		    "invalid attempt number %d", a->attempt);
	return 0;
}

/* Bind the (run, step, host, phase) key to parameters 1..4. */
static int
bind_key(sqlite3_stmt *s, const struct rb_journal_attempt *a,
    const char *host, const char *phase)
{
	int rc;

	if ((rc = store_bind_text(s, 1, a->run_id, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 2, a->step_id, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 3, host, -1)) != SQLITE_OK)
		return rc;
	return store_bind_text(s, 4, phase, -1);
}

/* Insert a "started" or "skipped" attempt row. */
static int
attempt_insert(int *out_attempt, struct rb_store *st,
    const struct rb_journal_attempt *a, bool skipped)
{
	const char *host, *phase;
	sqlite3_stmt *s = NULL;
	int64_t now;
	bool owned = false;
	int rc, r, attempt = a->attempt;

	if ((r = store_enter(st)) != 0)
		return r;
	if ((r = attempt_key(st, a, &host, &phase)) != 0)
		return r;
	now = a->started_ms != 0 ? a->started_ms : rb_wall_ms();
	if ((r = store_op_begin(st, &owned)) != 0)
		return r;
	if (attempt == 0) {
		if ((r = store_stmt(&s, st, SQL_NEXT_ATTEMPT)) != 0)
			goto out;
		if ((rc = bind_key(s, a, host, phase)) != SQLITE_OK ||
		    (rc = sqlite3_step(s)) != SQLITE_ROW) {
			r = store_sqlerr(st, rc, "number a step attempt");
			goto out;
		}
		attempt = sqlite3_column_int(s, 0);
		store_stmt_done(s);
	}
	if ((r = store_stmt(&s, st, SQL_ATTEMPT_INSERT)) != 0)
		goto out;
	if ((rc = bind_key(s, a, host, phase)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int(s, 5, attempt)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 6, skipped ? "skipped" : "started",
	    -1)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 7, now)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 10, a->command, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 11, a->command_digest, -1)) !=
	    SQLITE_OK ||
	    (rc = store_bind_text(s, 12, skipped ? a->error : NULL, -1)) !=
	    SQLITE_OK) {
		r = store_sqlerr(st, rc, "record a step");
		goto out;
	}
	if (skipped) {
		sqlite3_bind_int64(s, 8, now);
		sqlite3_bind_int64(s, 9, 0);
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		r = rb_error_set(&st->err, RB_ENOTFOUND, "no run '%s'",
		    a->run_id);
	else if (rc == SQLITE_CONSTRAINT_UNIQUE)
		r = rb_error_set(&st->err, RB_EINVAL,
		    "attempt %d of step '%s' on '%s' (%s) is already recorded",
		    attempt, a->step_id, host, phase);
	else if (rc != SQLITE_DONE)
		r = store_sqlerr(st, rc, "record a step");
out:
	store_stmt_done(s);
	r = store_op_end(st, owned, r, "record a step");
	if (r == 0 && out_attempt != NULL)
		*out_attempt = attempt;
	return r;
}

int
rb_journal_step_started(int *out_attempt, struct rb_store *st,
    const struct rb_journal_attempt *a)
{
	return attempt_insert(out_attempt, st, a, false);
}

int
rb_journal_step_skipped(int *out_attempt, struct rb_store *st,
    const struct rb_journal_attempt *a)
{
	return attempt_insert(out_attempt, st, a, true);
}

static const char SQL_ATTEMPT_FINISH[] =
    "UPDATE step_attempts SET status = ?6, exit_code = ?7,"
    " finished_ms = ?8,"
    " duration_ms = CASE WHEN ?9 < 0 THEN MAX(?8 - started_ms, 0)"
    "   ELSE ?9 END,"
    " stdout_tail = ?10, stdout_total = ?11, stderr_tail = ?12,"
    " stderr_total = ?13, captures = ?14, error = ?15"
    " WHERE run_id = ?1 AND step_id = ?2 AND host = ?3 AND phase = ?4"
    " AND attempt = ?5 AND status IN ('started', 'paused')";
static const char SQL_ATTEMPT_STATUS[] =
    "SELECT status FROM step_attempts WHERE run_id = ?1 AND step_id = ?2"
    " AND host = ?3 AND phase = ?4 AND attempt = ?5";

/* Explain why a finishing update matched no row. */
static int
finish_missed(struct rb_store *st, const struct rb_journal_attempt *a,
    const char *host, const char *phase)
{
	sqlite3_stmt *s = NULL;
	int rc, r;

	if ((r = store_stmt(&s, st, SQL_ATTEMPT_STATUS)) != 0)
		return r;
	if ((rc = bind_key(s, a, host, phase)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int(s, 5, a->attempt)) != SQLITE_OK) {
		r = store_sqlerr(st, rc, "look up a step");
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		r = rb_error_set(&st->err, RB_EINVAL,
		    "attempt %d of step '%s' on '%s' (%s) already finished "
		    "as '%s'", a->attempt, a->step_id, host, phase,
		    (const char *)sqlite3_column_text(s, 0));
	else if (rc == SQLITE_DONE)
		r = rb_error_set(&st->err, RB_ENOTFOUND,
		    "attempt %d of step '%s' on '%s' (%s) of run '%s' was "
		    "never started", a->attempt, a->step_id, host, phase,
		    a->run_id);
	else
		r = store_sqlerr(st, rc, "look up a step");
out:
	store_stmt_done(s);
	return r;
}

int
rb_journal_step_finished(struct rb_store *st,
    const struct rb_journal_attempt *a)
{
	const char *host, *phase;
	sqlite3_stmt *s = NULL;
	bool owned = false;
	int rc, r;

	if ((r = store_enter(st)) != 0)
		return r;
	if ((r = attempt_key(st, a, &host, &phase)) != 0)
		return r;
	if (a->attempt < 1)
		return rb_error_set(&st->err, RB_EINVAL,
		    "a finished step needs its attempt number");
	if (!rb_journal_attempt_status_valid(a->status) ||
	    strcmp(a->status, "started") == 0 ||
	    strcmp(a->status, "skipped") == 0)
		return rb_error_set(&st->err, RB_EINVAL,
		    "invalid status '%s' for a finished step",
		    a->status != NULL ? a->status : "(null)");
	if (a->stdout_len > RB_JOURNAL_TAIL_MAX ||
	    a->stderr_len > RB_JOURNAL_TAIL_MAX)
		return rb_error_set(&st->err, RB_ETOOBIG,
		    "output tail of step '%s' is over %d bytes", a->step_id,
		    RB_JOURNAL_TAIL_MAX);
	if (a->captures != NULL &&
	    (r = store_json_object(st, a->captures, "step captures")) != 0)
		return r;

	if ((r = store_op_begin(st, &owned)) != 0)
		return r;
	if ((r = store_stmt(&s, st, SQL_ATTEMPT_FINISH)) != 0)
		goto out;
	if ((rc = bind_key(s, a, host, phase)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int(s, 5, a->attempt)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 6, a->status, -1)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 8, a->finished_ms != 0 ?
	    a->finished_ms : rb_wall_ms())) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 9, a->duration_ms)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 10, a->stdout_tail,
	    (int64_t)a->stdout_len)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 11, (int64_t)a->stdout_total)) !=
	    SQLITE_OK ||
	    (rc = store_bind_text(s, 12, a->stderr_tail,
	    (int64_t)a->stderr_len)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 13, (int64_t)a->stderr_total)) !=
	    SQLITE_OK ||
	    (rc = store_bind_text(s, 14, a->captures, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 15, a->error, -1)) != SQLITE_OK) {
		r = store_sqlerr(st, rc, "record a step result");
		goto out;
	}
	if (a->exit_code >= 0)
		sqlite3_bind_int(s, 7, a->exit_code);
	if ((r = store_exec_stmt(st, s, "record a step result")) != 0)
		goto out;
	if (sqlite3_changes(st->db) == 0)
		r = finish_missed(st, a, host, phase);
out:
	store_stmt_done(s);
	return store_op_end(st, owned, r, "record a step result");
}

/* ------------------------------------------------------------------ */
/* Reading                                                              */
/* ------------------------------------------------------------------ */

#define RUN_COLUMNS \
    "run_id, runbook, runbook_path, runbook_digest, plan_digest, params," \
    " trigger, actor, status, resumed_from, pid, pid_start_time, boot_id," \
    " started_ms, finished_ms, exit_code"

static const char SQL_RUN_GET[] =
    "SELECT " RUN_COLUMNS " FROM runs WHERE run_id = ?1";
static const char SQL_RUN_LIST[] =
    "SELECT " RUN_COLUMNS " FROM runs"
    " WHERE (?1 IS NULL OR runbook = ?1) AND (?2 IS NULL OR status = ?2)"
    " ORDER BY started_ms DESC, run_id DESC LIMIT ?3";
static const char SQL_ATTEMPT_LIST[] =
    "SELECT id, step_id, host, phase, attempt, status, exit_code,"
    " started_ms, finished_ms, duration_ms, command, command_digest,"
    " stdout_tail, stdout_total, stderr_tail, stderr_total, captures, error"
    " FROM step_attempts WHERE run_id = ?1 ORDER BY id";

static int
col_int_or(sqlite3_stmt *s, int i, int dflt)
{
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return dflt;
	return sqlite3_column_int(s, i);
}

/* Fill run from a row of RUN_COLUMNS. */
static void
row_to_run(struct rb_store *st, sqlite3_stmt *s, struct rb_journal_run *run)
{
	struct rb_journal_run init = RB_JOURNAL_RUN_INIT;

	*run = init;
	run->run_id = store_col_strdup(s, 0);
	run->runbook = store_col_strdup(s, 1);
	run->runbook_path = store_col_strdup(s, 2);
	run->runbook_digest = store_col_strdup(s, 3);
	run->plan_digest = store_col_strdup(s, 4);
	run->params = store_col_strdup(s, 5);
	run->trigger = store_col_strdup(s, 6);
	run->actor = store_col_strdup(s, 7);
	run->status = store_col_strdup(s, 8);
	run->resumed_from = store_col_strdup(s, 9);
	run->pid = sqlite3_column_int64(s, 10);
	run->pid_start_time = sqlite3_column_int64(s, 11);
	run->boot_id = store_col_strdup(s, 12);
	run->started_ms = sqlite3_column_int64(s, 13);
	run->finished_ms = sqlite3_column_int64(s, 14);
	run->exit_code = col_int_or(s, 15, -1);
	run->runner_alive = run->status != NULL &&
	    strcmp(run->status, "running") == 0 &&
	    store_proc_alive(st, run->pid, run->pid_start_time, run->boot_id);
}

/* Load the attempts of run (whose run_id they share). */
static int
load_attempts(struct rb_store *st, struct rb_journal_run *run)
{
	sqlite3_stmt *s = NULL;
	size_t alloc = 0;
	int rc, r = 0;

	if ((r = store_stmt(&s, st, SQL_ATTEMPT_LIST)) != 0)
		return r;
	if ((rc = store_bind_text(s, 1, run->run_id, -1)) != SQLITE_OK) {
		r = store_sqlerr(st, rc, "load a run");
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct rb_journal_attempt *a;
		struct rb_journal_attempt init = RB_JOURNAL_ATTEMPT_INIT;

		RB_ALLOC_GROW(run->attempts, run->nattempts + 1, alloc);
		a = &run->attempts[run->nattempts++];
		*a = init;
		a->run_id = run->run_id;
		a->seq = sqlite3_column_int64(s, 0);
		a->step_id = store_col_strdup(s, 1);
		a->host = store_col_strdup(s, 2);
		a->phase = store_col_strdup(s, 3);
		a->attempt = sqlite3_column_int(s, 4);
		a->status = store_col_strdup(s, 5);
		a->exit_code = col_int_or(s, 6, -1);
		a->started_ms = sqlite3_column_int64(s, 7);
		a->finished_ms = sqlite3_column_int64(s, 8);
		a->duration_ms = sqlite3_column_type(s, 9) == SQLITE_NULL ? -1 :
		    sqlite3_column_int64(s, 9);
		a->command = store_col_strdup(s, 10);
		a->command_digest = store_col_strdup(s, 11);
		a->stdout_tail = store_col_blobdup(s, 12, &a->stdout_len);
		a->stdout_total = (uint64_t)sqlite3_column_int64(s, 13);
		a->stderr_tail = store_col_blobdup(s, 14, &a->stderr_len);
		a->stderr_total = (uint64_t)sqlite3_column_int64(s, 15);
		a->captures = store_col_strdup(s, 16);
		a->error = store_col_strdup(s, 17);
	}
	if (rc != SQLITE_DONE)
		r = store_sqlerr(st, rc, "load a run's steps");
out:
	store_stmt_done(s);
	return r;
}

int
rb_journal_run_load(struct rb_journal_run *out, struct rb_store *st,
    const char *run_id)
{
	struct rb_journal_run run = RB_JOURNAL_RUN_INIT;
	sqlite3_stmt *s = NULL;
	bool owned = false;
	int rc, r;

	if ((r = store_enter(st)) != 0)
		return r;
	if (run_id == NULL)
		return rb_error_set(&st->err, RB_EINVAL, "no run id");
	if ((r = store_read_begin(st, &owned)) != 0)
		return r;
	if ((r = store_stmt(&s, st, SQL_RUN_GET)) != 0)
		goto out;
	if ((rc = store_bind_text(s, 1, run_id, -1)) != SQLITE_OK) {
		r = store_sqlerr(st, rc, "load a run");
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		r = rb_error_set(&st->err, RB_ENOTFOUND, "no run '%s'",
		    run_id);
		rb_error_hint(&st->err, "'runbook runs' lists recent runs");
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = store_sqlerr(st, rc, "load a run");
		goto out;
	}
	row_to_run(st, s, &run);
	store_stmt_done(s);
	s = NULL;
	if ((r = load_attempts(st, &run)) != 0)
		goto out;
	*out = run;
	run = (struct rb_journal_run)RB_JOURNAL_RUN_INIT;
out:
	store_stmt_done(s);
	store_read_end(st, owned);
	rb_journal_run_release(&run);
	return r;
}

int
rb_journal_runs_list(struct rb_journal_run_list *out, struct rb_store *st,
    const struct rb_journal_filter *filter)
{
	struct rb_journal_filter dflt = RB_JOURNAL_FILTER_INIT;
	sqlite3_stmt *s = NULL;
	int rc, r;

	if ((r = store_enter(st)) != 0)
		return r;
	if (filter == NULL)
		filter = &dflt;
	if ((r = store_stmt(&s, st, SQL_RUN_LIST)) != 0)
		return r;
	if ((rc = store_bind_text(s, 1, filter->runbook, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 2, filter->status, -1)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 3, filter->limit == 0 ? -1 :
	    (int64_t)filter->limit)) != SQLITE_OK) {
		r = store_sqlerr(st, rc, "list runs");
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		RB_ALLOC_GROW(out->runs, out->nr + 1, out->alloc);
		row_to_run(st, s, &out->runs[out->nr++]);
	}
	if (rc != SQLITE_DONE)
		r = store_sqlerr(st, rc, "list runs");
out:
	store_stmt_done(s);
	return r;
}

void
rb_journal_run_release(struct rb_journal_run *run)
{
	struct rb_journal_run init = RB_JOURNAL_RUN_INIT;
	size_t i;

	if (run == NULL)
		return;
	for (i = 0; i < run->nattempts; i++) {
		struct rb_journal_attempt *a = &run->attempts[i];

		/* a->run_id is run->run_id, freed below. */
		FREE_CONST(a->step_id);
		FREE_CONST(a->host);
		FREE_CONST(a->phase);
		FREE_CONST(a->status);
		FREE_CONST(a->command);
		FREE_CONST(a->command_digest);
		FREE_CONST(a->stdout_tail);
		FREE_CONST(a->stderr_tail);
		FREE_CONST(a->captures);
		FREE_CONST(a->error);
	}
	free(run->attempts);
	FREE_CONST(run->run_id);
	FREE_CONST(run->runbook);
	FREE_CONST(run->runbook_path);
	FREE_CONST(run->runbook_digest);
	FREE_CONST(run->plan_digest);
	FREE_CONST(run->params);
	FREE_CONST(run->trigger);
	FREE_CONST(run->actor);
	FREE_CONST(run->status);
	FREE_CONST(run->resumed_from);
	FREE_CONST(run->boot_id);
	*run = init;
}

void
rb_journal_run_list_release(struct rb_journal_run_list *list)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < list->nr; i++)
		rb_journal_run_release(&list->runs[i]);
	free(list->runs);
	list->runs = NULL;
	list->nr = list->alloc = 0;
}
