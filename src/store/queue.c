/*
 * queue.c - the webhook listener's durable queue of runs to start, with
 * deduplication of repeated alerts inside a time window.
 *
 * Every change is one transaction (BEGIN IMMEDIATE), so the dedup check
 * and the insert cannot interleave with another process's, and a claim
 * hands an entry to exactly one process.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runbook/error.h"
#include "runbook/queue.h"
#include "runbook/util.h"
#include "store/store_int.h"
#include "runbook/banned.h"

#define FREE_CONST(p) free((void *)(uintptr_t)(p))

#define ENTRY_COLUMNS \
    "id, created_ms, route, runbook, params, alert, dedup_key, status," \
    " run_id, source, claimed_pid, started_ms, finished_ms"

static const char SQL_DEDUP[] =
    "SELECT id FROM queue WHERE dedup_key = ?1 AND created_ms > ?2"
    " ORDER BY created_ms DESC LIMIT 1";
static const char SQL_ENQUEUE[] =
    "INSERT INTO queue (created_ms, route, runbook, params, alert,"
    " dedup_key, status, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued',"
    " ?7)";
static const char SQL_NEXT[] =
    "SELECT " ENTRY_COLUMNS " FROM queue WHERE status = 'queued'"
    " ORDER BY id LIMIT 1";
static const char SQL_GET[] =
    "SELECT " ENTRY_COLUMNS " FROM queue WHERE id = ?1";
static const char SQL_CLAIM[] =
    "UPDATE queue SET status = 'started', claimed_pid = ?2,"
    " claimed_start_time = ?3, started_ms = ?4 WHERE id = ?1";
static const char SQL_MARK[] =
    "UPDATE queue SET status = ?2, run_id = COALESCE(?3, run_id),"
    " finished_ms = CASE WHEN ?2 IN ('done', 'failed') THEN ?4"
    "   ELSE finished_ms END WHERE id = ?1";
static const char SQL_ORPHANS[] =
    "SELECT id, claimed_pid, claimed_start_time FROM queue"
    " WHERE status = 'started' AND run_id IS NULL";
static const char SQL_REQUEUE[] =
    "UPDATE queue SET status = 'queued', claimed_pid = NULL,"
    " claimed_start_time = NULL, started_ms = NULL WHERE id = ?1";
static const char SQL_COUNT[] =
    "SELECT COUNT(*) FROM queue WHERE ?1 IS NULL OR status = ?1";

int
rb_queue_enqueue(int64_t *out_id, enum rb_queue_result *out_result,
    struct rb_store *st, const struct rb_queue_entry *e, int64_t window_ms)
{
	const char *params;
	sqlite3_stmt *s = NULL;
	enum rb_queue_result res = RB_QUEUE_QUEUED;
	int64_t now, id = 0;
	bool owned = false;
	int rc, r;

	if ((r = store_enter(st)) != 0)
		return r;
	if (e->runbook == NULL || *e->runbook == '\0')
		return rb_error_set(&st->err, RB_EINVAL,
		    "cannot queue a run without a runbook name");
	params = e->params != NULL ? e->params : "{}";
	if ((r = store_json_object(st, params, "queued run params")) != 0 ||
	    (e->alert != NULL &&
	    (r = store_json_object(st, e->alert, "queued alert")) != 0))
		return r;
	now = e->created_ms != 0 ? e->created_ms : rb_wall_ms();

	if ((r = store_op_begin(st, &owned)) != 0)
		return r;
	if (e->dedup_key != NULL && window_ms > 0) {
		if ((r = store_stmt(&s, st, SQL_DEDUP)) != 0)
			goto out;
		if ((rc = store_bind_text(s, 1, e->dedup_key, -1)) !=
		    SQLITE_OK ||
		    (rc = sqlite3_bind_int64(s, 2, now - window_ms)) !=
		    SQLITE_OK) {
			r = store_sqlerr(st, rc, "queue a run");
			goto out;
		}
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			id = sqlite3_column_int64(s, 0);
			res = RB_QUEUE_DEDUPLICATED;
			goto out;
		}
		if (rc != SQLITE_DONE) {
			r = store_sqlerr(st, rc, "queue a run");
			goto out;
		}
		store_stmt_done(s);
	}
	if ((r = store_stmt(&s, st, SQL_ENQUEUE)) != 0)
		goto out;
	if ((rc = sqlite3_bind_int64(s, 1, now)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 2, e->route, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 3, e->runbook, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 4, params, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 5, e->alert, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 6, e->dedup_key, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 7, e->source, -1)) != SQLITE_OK) {
		r = store_sqlerr(st, rc, "queue a run");
		goto out;
	}
	if ((r = store_exec_stmt(st, s, "queue a run")) != 0)
		goto out;
	id = sqlite3_last_insert_rowid(st->db);
out:
	store_stmt_done(s);
	r = store_op_end(st, owned, r, "queue a run");
	if (r == 0) {
		*out_id = id;
		*out_result = res;
	}
	return r;
}

/* Fill e from a row of ENTRY_COLUMNS. */
static void
row_to_entry(sqlite3_stmt *s, struct rb_queue_entry *e)
{
	e->id = sqlite3_column_int64(s, 0);
	e->created_ms = sqlite3_column_int64(s, 1);
	e->route = store_col_strdup(s, 2);
	e->runbook = store_col_strdup(s, 3);
	e->params = store_col_strdup(s, 4);
	e->alert = store_col_strdup(s, 5);
	e->dedup_key = store_col_strdup(s, 6);
	e->status = store_col_strdup(s, 7);
	e->run_id = store_col_strdup(s, 8);
	e->source = store_col_strdup(s, 9);
	e->claimed_pid = sqlite3_column_int64(s, 10);
	e->started_ms = sqlite3_column_int64(s, 11);
	e->finished_ms = sqlite3_column_int64(s, 12);
}

int
rb_queue_claim(struct rb_queue_entry *out, struct rb_store *st)
{
	struct rb_queue_entry e = RB_QUEUE_ENTRY_INIT;
	sqlite3_stmt *s = NULL;
	int64_t now = rb_wall_ms();
	bool owned = false;
	int rc, r;

	if ((r = store_enter(st)) != 0)
		return r;
	if ((r = store_op_begin(st, &owned)) != 0)
		return r;
	if ((r = store_stmt(&s, st, SQL_NEXT)) != 0)
		goto out;
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		r = rb_error_set(&st->err, RB_ENOTFOUND, "the queue is empty");
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = store_sqlerr(st, rc, "claim a queued run");
		goto out;
	}
	row_to_entry(s, &e);
	store_stmt_done(s);
	if ((r = store_stmt(&s, st, SQL_CLAIM)) != 0)
		goto out;
	if ((rc = sqlite3_bind_int64(s, 1, e.id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, st->pid)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 3, st->pid_start_time)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 4, now)) != SQLITE_OK) {
		r = store_sqlerr(st, rc, "claim a queued run");
		goto out;
	}
	r = store_exec_stmt(st, s, "claim a queued run");
out:
	store_stmt_done(s);
	r = store_op_end(st, owned, r, "claim a queued run");
	if (r == 0) {
		FREE_CONST(e.status);
		e.status = xstrdup("started");
		e.claimed_pid = st->pid;
		e.started_ms = now;
		*out = e;
	} else
		rb_queue_entry_release(&e);
	return r;
}

int
rb_queue_mark(struct rb_store *st, int64_t id, const char *status,
    const char *run_id)
{
	sqlite3_stmt *s = NULL;
	int rc, r;

	if ((r = store_enter(st)) != 0)
		return r;
	if (status == NULL || (strcmp(status, "started") != 0 &&
	    strcmp(status, "done") != 0 && strcmp(status, "failed") != 0))
		return rb_error_set(&st->err, RB_EINVAL,
		    "invalid queue status '%s'",
		    status != NULL ? status : "(null)");
	if ((r = store_stmt(&s, st, SQL_MARK)) != 0)
		return r;
	if ((rc = sqlite3_bind_int64(s, 1, id)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 2, status, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 3, run_id, -1)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 4, rb_wall_ms())) != SQLITE_OK) {
		r = store_sqlerr(st, rc, "update a queued run");
		store_stmt_done(s);
		return r;
	}
	if ((r = store_exec_stmt(st, s, "update a queued run")) != 0)
		return r;
	if (sqlite3_changes(st->db) == 0)
		return rb_error_set(&st->err, RB_ENOTFOUND,
		    "no queue entry %lld", (long long)id);
	return 0;
}

int
rb_queue_get(struct rb_queue_entry *out, struct rb_store *st, int64_t id)
{
	sqlite3_stmt *s = NULL;
	int rc, r;

	if ((r = store_enter(st)) != 0)
		return r;
	if ((r = store_stmt(&s, st, SQL_GET)) != 0)
		return r;
	if ((rc = sqlite3_bind_int64(s, 1, id)) != SQLITE_OK) {
		r = store_sqlerr(st, rc, "read a queued run");
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		row_to_entry(s, out);
	else if (rc == SQLITE_DONE)
		r = rb_error_set(&st->err, RB_ENOTFOUND,
		    "no queue entry %lld", (long long)id);
	else
		r = store_sqlerr(st, rc, "read a queued run");
out:
	store_stmt_done(s);
	return r;
}

int
rb_queue_recover(size_t *out_n, struct rb_store *st)
{
	sqlite3_stmt *s = NULL;
	int64_t *ids = NULL;
	size_t n = 0, alloc = 0, i;
	bool owned = false;
	int rc, r;

	if ((r = store_enter(st)) != 0)
		return r;
	if ((r = store_op_begin(st, &owned)) != 0)
		return r;
	if ((r = store_stmt(&s, st, SQL_ORPHANS)) != 0)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (store_proc_alive(st, sqlite3_column_int64(s, 1),
		    sqlite3_column_int64(s, 2), NULL))
			continue;
		RB_ALLOC_GROW(ids, n + 1, alloc);
		ids[n++] = sqlite3_column_int64(s, 0);
	}
	if (rc != SQLITE_DONE) {
		r = store_sqlerr(st, rc, "recover queued runs");
		goto out;
	}
	store_stmt_done(s);
	if ((r = store_stmt(&s, st, SQL_REQUEUE)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if ((rc = sqlite3_bind_int64(s, 1, ids[i])) != SQLITE_OK) {
			r = store_sqlerr(st, rc, "recover queued runs");
			goto out;
		}
		if ((r = store_exec_stmt(st, s, "recover queued runs")) != 0)
			goto out;
	}
out:
	store_stmt_done(s);
	free(ids);
	r = store_op_end(st, owned, r, "recover queued runs");
	if (r == 0 && out_n != NULL)
		*out_n = n;
	return r;
}

int
rb_queue_count(int64_t *out, struct rb_store *st, const char *status)
{
	sqlite3_stmt *s = NULL;
	int rc, r;

	if ((r = store_enter(st)) != 0)
		return r;
	if ((r = store_stmt(&s, st, SQL_COUNT)) != 0)
		return r;
	if ((rc = store_bind_text(s, 1, status, -1)) != SQLITE_OK ||
	    (rc = sqlite3_step(s)) != SQLITE_ROW)
		r = store_sqlerr(st, rc, "count queued runs");
	else
		*out = sqlite3_column_int64(s, 0);
	store_stmt_done(s);
	return r;
}

void
rb_queue_entry_release(struct rb_queue_entry *e)
{
	struct rb_queue_entry init = RB_QUEUE_ENTRY_INIT;

	if (e == NULL)
		return;
	FREE_CONST(e->route);
	FREE_CONST(e->runbook);
	FREE_CONST(e->params);
	FREE_CONST(e->alert);
	FREE_CONST(e->dedup_key);
	FREE_CONST(e->status);
	FREE_CONST(e->run_id);
	FREE_CONST(e->source);
	*e = init;
}
