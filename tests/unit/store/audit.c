/*
 * Unit tests for store/audit.c: the hash definition, appending, export, and
 * the tamper matrix (every kind of tampering at every position, done with
 * raw SQL on a separate SQLite connection, must be found at the right seq).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "harness.h"
#include "runbook/audit.h"
#include "runbook/buf.h"
#include "runbook/error.h"
#include "runbook/journal.h"
#include "runbook/store.h"

void test_store_audit__hash_vector(void);
void test_store_audit__append_and_head(void);
void test_store_audit__rejects_bad_input(void);
void test_store_audit__export_jsonl(void);
void test_store_audit__joins_transaction(void);
void test_store_audit__detects_edit(void);
void test_store_audit__detects_delete(void);
void test_store_audit__detects_insert(void);
void test_store_audit__detects_reorder(void);
void test_store_audit__detects_rehash(void);
void test_store_audit__detects_truncation(void);

#define NREC 6

/* Hashes of records 1..NREC of the last fresh log (index = seq). */
static char hashes[NREC + 1][RB_AUDIT_HASH_SIZE];

/* A fresh state directory under the test's tmpdir with NREC records. */
static struct rb_store *
fresh(const char *what, int k)
{
	struct rb_error err = RB_ERROR_INIT;
	struct rb_audit_head h;
	struct rb_store *st = NULL;
	char dir[512], details[64];
	int i;

	snprintf(dir, sizeof(dir), "%s/%s-%d", rb_test_tmpdir(), what, k);
	if (rb_store_open(&st, dir, &err) != 0) {
		rb_test_fail(__FILE__, __LINE__, "open: %s", err.msg);
		return NULL;
	}
	snprintf(hashes[0], sizeof(hashes[0]), "%s", RB_AUDIT_ZERO_HASH);
	for (i = 1; i <= NREC; i++) {
		snprintf(details, sizeof(details),
		    "{\"step\":\"s%d\",\"i\":%d}", i, i);
		if (rb_audit_append(&h, st, i % 2 ? "step.started" :
		    "step.finished", "ops@host", i % 3 ? "run-1" : NULL,
		    details) != 0) {
			rb_test_fail(__FILE__, __LINE__, "append: %s",
			    rb_store_error(st)->msg);
			rb_store_free(st);
			return NULL;
		}
		memcpy(hashes[i], h.hash, sizeof(h.hash));
	}
	return st;
}

/* Run SQL on a second, raw connection to the same file. */
static int tamper(struct rb_store *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
tamper(struct rb_store *st, const char *fmt, ...)
{
	char sql[2048];
	sqlite3 *db = NULL;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	rc = sqlite3_open_v2(rb_store_path(st), &db, SQLITE_OPEN_READWRITE,
	    NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		rb_test_fail(__FILE__, __LINE__, "tamper '%s': %s", sql,
		    sqlite3_errmsg(db));
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Verify and compare with the expected problem and seq; false on mismatch. */
static bool
expect(struct rb_store *st, const char *head, enum rb_audit_problem p,
    int64_t seq, const char *what, int k)
{
	struct rb_audit_verdict v;
	int r;

	if ((r = rb_audit_verify(&v, st, head)) != 0) {
		rb_test_fail(__FILE__, __LINE__, "%s at %d: verify returned %d "
		    "(%s)", what, k, r, rb_store_error(st)->msg);
		return false;
	}
	if (v.problem != p || v.bad_seq != seq) {
		rb_test_fail(__FILE__, __LINE__, "%s at %d: got %s at %lld, "
		    "want %s at %lld (%s)", what, k,
		    rb_audit_problem_name(v.problem), (long long)v.bad_seq,
		    rb_audit_problem_name(p), (long long)seq, v.reason);
		return false;
	}
	return true;
}

/* Shift records k.. up by one, leaving seq k free. */
static int
make_room(struct rb_store *st, int k)
{
	return tamper(st, "UPDATE audit SET seq = -(seq + 1) WHERE seq >= %d;"
	    "UPDATE audit SET seq = -seq WHERE seq < 0;", k);
}

void
test_store_audit__hash_vector(void)
{
	static const char want[] =
	    "3fbba428fc3084d9e7e92e4e761df86ac18e4e756e5990709d5ec6401d0c4fde";
	struct rb_audit_record rec = { 1, "2026-11-23T19:00:12.345Z",
		"ops@db1", "run.started", NULL, "{}", RB_AUDIT_ZERO_HASH,
		NULL };
	char h[RB_AUDIT_HASH_SIZE];

	/* The example in audit.h, computed independently with sha256sum. */
	rb_audit_record_hash(h, &rec);
	T_EQ_STR(h, want);
	/* NULL and "" are different values. */
	rec.run_id = "";
	rb_audit_record_hash(h, &rec);
	T_ASSERT(strcmp(h, want) != 0);
}

void
test_store_audit__append_and_head(void)
{
	struct rb_store *st = fresh("a", 0);
	struct rb_audit_head head;
	struct rb_audit_verdict v;

	T_ASSERT(st != NULL);
	T_EQ_INT(rb_audit_head(&head, st), 0);
	T_EQ_INT(head.seq, NREC);
	T_EQ_STR(head.hash, hashes[NREC]);
	T_EQ_INT(rb_audit_verify(&v, st, NULL), 0);
	T_EQ_INT(v.problem, RB_AUDIT_OK);
	T_EQ_INT(v.nrecords, NREC);
	T_EQ_INT(v.head.seq, NREC);
	T_EQ_STR(v.head.hash, hashes[NREC]);
	/* Any earlier head is fine too: later records are appends. */
	T_EQ_INT(rb_audit_verify(&v, st, hashes[3]), 0);
	T_EQ_INT(v.problem, RB_AUDIT_OK);
	T_EQ_INT(rb_audit_verify(&v, st, "nothex"), RB_EINVAL);
	rb_store_free(st);

	/* An empty log verifies, with the zero hash as its head. */
	st = fresh("empty", 0);
	T_ASSERT(st != NULL);
	T_EQ_INT(tamper(st, "DELETE FROM audit"), 0);
	T_EQ_INT(rb_audit_head(&head, st), 0);
	T_EQ_INT(head.seq, 0);
	T_EQ_STR(head.hash, RB_AUDIT_ZERO_HASH);
	T_EQ_INT(rb_audit_verify(&v, st, RB_AUDIT_ZERO_HASH), 0);
	T_EQ_INT(v.problem, RB_AUDIT_OK);
	rb_store_free(st);
}

void
test_store_audit__rejects_bad_input(void)
{
	struct rb_store *st = fresh("bad", 0);
	struct rb_audit_head head;

	T_ASSERT(st != NULL);
	T_EQ_INT(rb_audit_append(NULL, st, "", NULL, NULL, NULL), RB_EINVAL);
	T_EQ_INT(rb_audit_append(NULL, st, "Run Started", NULL, NULL, NULL),
	    RB_EINVAL);
	T_CONTAINS(rb_store_error(st)->msg, "invalid audit event name");
	T_EQ_INT(rb_audit_append(NULL, st, "x", NULL, NULL, "[]"), RB_EINVAL);
	T_EQ_INT(rb_audit_append(NULL, st, "x", NULL, NULL,
	    "{\"a\":1,\"a\":2}"), RB_EINVAL);
	T_EQ_INT(rb_audit_append(NULL, st, "x", NULL, NULL, "{"), RB_EINVAL);
	T_CONTAINS(rb_store_error(st)->msg, "not valid JSON");
	T_EQ_INT(rb_audit_head(&head, st), 0);
	T_EQ_INT(head.seq, NREC);	/* nothing was appended */
	rb_store_free(st);
}

void
test_store_audit__export_jsonl(void)
{
	struct rb_store *st = fresh("export", 0);
	struct rb_buf b = RB_BUF_INIT;
	const char *p;
	int lines = 0;

	T_ASSERT(st != NULL);
	/* Details are stored in canonical form: compact, sorted keys. */
	T_EQ_INT(rb_audit_append(NULL, st, "run.finished", "a@b", "run-1",
	    "{ \"z\": 1, \"a\": \"x\\ny\" }"), 0);
	T_EQ_INT(rb_audit_export_jsonl(&b, st, 0), 0);
	for (p = b.buf; *p != '\0'; p++)
		lines += *p == '\n';
	T_EQ_INT(lines, NREC + 1);
	T_CONTAINS(b.buf, "{\"seq\":1,\"ts\":\"");
	T_CONTAINS(b.buf, "\"event\":\"step.started\",\"run_id\":\"run-1\","
	    "\"details\":{\"i\":1,\"step\":\"s1\"},\"prev_hash\":\"0000");
	T_CONTAINS(b.buf, "\"run_id\":null");
	T_CONTAINS(b.buf, "\"details\":{\"a\":\"x\\ny\",\"z\":1}");
	T_CONTAINS(b.buf, hashes[NREC]);

	/* since: a time after everything exports nothing. */
	rb_buf_reset(&b);
	T_EQ_INT(rb_audit_export_jsonl(&b, st, 4102444800000LL), 0);
	T_EQ_INT(b.len, 0);

	/* A capped buffer: whole lines only, then RB_ETOOBIG. */
	rb_buf_release(&b);
	rb_buf_setcap(&b, 400);
	T_EQ_INT(rb_audit_export_jsonl(&b, st, 0), RB_ETOOBIG);
	T_ASSERT(b.len > 0 && b.buf[b.len - 1] == '\n');
	T_CONTAINS(rb_store_error(st)->msg, "400-byte limit");
	rb_buf_release(&b);

	/* A tampered, non-canonical details text is exported as a string. */
	T_EQ_INT(tamper(st, "UPDATE audit SET details = '{ \"i\" : 2 }' "
	    "WHERE seq = 2"), 0);
	rb_buf_setcap(&b, 0);
	T_EQ_INT(rb_audit_export_jsonl(&b, st, 0), 0);
	T_CONTAINS(b.buf, "\"details\":\"{ \\\"i\\\" : 2 }\"");
	rb_buf_release(&b);
	rb_store_free(st);
}

void
test_store_audit__joins_transaction(void)
{
	struct rb_store *st = fresh("tx", 0);
	struct rb_journal_run run = RB_JOURNAL_RUN_INIT;
	struct rb_journal_run_list list = RB_JOURNAL_RUN_LIST_INIT;
	struct rb_audit_head head;
	char id[RB_JOURNAL_ID_SIZE];

	T_ASSERT(st != NULL);
	run.runbook = "rb";
	T_EQ_INT(rb_store_begin(st), 0);
	T_EQ_INT(rb_journal_run_create(id, st, &run), 0);
	T_EQ_INT(rb_audit_append(NULL, st, "run.started", NULL, id, NULL), 0);
	T_EQ_INT(rb_store_rollback(st), 0);
	T_EQ_INT(rb_audit_head(&head, st), 0);
	T_EQ_INT(head.seq, NREC);
	T_EQ_INT(rb_journal_runs_list(&list, st, NULL), 0);
	T_EQ_INT(list.nr, 0);

	T_EQ_INT(rb_store_begin(st), 0);
	T_EQ_INT(rb_journal_run_create(id, st, &run), 0);
	T_EQ_INT(rb_audit_append(&head, st, "run.started", NULL, id, NULL), 0);
	T_EQ_INT(head.seq, NREC + 1);
	T_EQ_INT(rb_store_commit(st), 0);
	T_EQ_INT(rb_journal_runs_list(&list, st, NULL), 0);
	T_EQ_INT(list.nr, 1);
	rb_journal_run_list_release(&list);
	rb_store_free(st);
}

void
test_store_audit__detects_edit(void)
{
	struct rb_store *st;
	int k;

	for (k = 1; k <= NREC; k++) {
		T_ASSERT((st = fresh("edit", k)) != NULL);
		/* One byte: {"i":... becomes {"j":... */
		T_EQ_INT(tamper(st, "UPDATE audit SET details = "
		    "substr(details, 1, 2) || 'j' || substr(details, 4) "
		    "WHERE seq = %d", k), 0);
		if (!expect(st, NULL, RB_AUDIT_EDITED, k, "edit details", k))
			goto fail;
		rb_store_free(st);
	}
	for (k = 1; k <= NREC; k++) {
		T_ASSERT((st = fresh("edit-actor", k)) != NULL);
		T_EQ_INT(tamper(st, "UPDATE audit SET actor = 'root@host', "
		    "run_id = NULL WHERE seq = %d", k), 0);
		if (!expect(st, NULL, RB_AUDIT_EDITED, k, "edit actor", k))
			goto fail;
		rb_store_free(st);
	}
	return;
fail:
	rb_store_free(st);
}

void
test_store_audit__detects_delete(void)
{
	struct rb_store *st;
	int k;

	for (k = 1; k < NREC; k++) {
		T_ASSERT((st = fresh("delete", k)) != NULL);
		T_EQ_INT(tamper(st, "DELETE FROM audit WHERE seq = %d", k), 0);
		if (!expect(st, NULL, RB_AUDIT_DELETED, k, "delete", k))
			goto fail;
		rb_store_free(st);

		/* The same, with the records after it renumbered. */
		T_ASSERT((st = fresh("delete-renumber", k)) != NULL);
		T_EQ_INT(tamper(st, "DELETE FROM audit WHERE seq = %d;"
		    "UPDATE audit SET seq = -(seq - 1) WHERE seq > %d;"
		    "UPDATE audit SET seq = -seq WHERE seq < 0;", k, k), 0);
		if (!expect(st, NULL, RB_AUDIT_DELETED, k, "delete+renumber",
		    k))
			goto fail;
		rb_store_free(st);
	}
	return;
fail:
	rb_store_free(st);
}

void
test_store_audit__detects_insert(void)
{
	struct rb_audit_record rec;
	char h[RB_AUDIT_HASH_SIZE];
	struct rb_store *st;
	int k;

	for (k = 1; k <= NREC; k++) {
		/* A forged record with a correct hash, the rest renumbered. */
		T_ASSERT((st = fresh("insert", k)) != NULL);
		rec.seq = k;
		rec.ts = "2026-11-23T19:00:00.000Z";
		rec.actor = "mallory@host";
		rec.event = "approval.granted";
		rec.run_id = "run-1";
		rec.details = "{}";
		rec.prev_hash = hashes[k - 1];
		rb_audit_record_hash(h, &rec);
		T_EQ_INT(make_room(st, k), 0);
		T_EQ_INT(tamper(st, "INSERT INTO audit VALUES (%d, '%s', '%s', "
		    "'%s', '%s', '%s', '%s', '%s')", k, rec.ts, rec.actor,
		    rec.event, rec.run_id, rec.details, rec.prev_hash, h), 0);
		if (!expect(st, NULL, RB_AUDIT_INSERTED, k, "forged insert", k))
			goto fail;
		rb_store_free(st);

		/* A record with made-up hashes, the rest renumbered. */
		T_ASSERT((st = fresh("insert-junk", k)) != NULL);
		T_EQ_INT(make_room(st, k), 0);
		T_EQ_INT(tamper(st, "INSERT INTO audit VALUES (%d, 'x', 'x', "
		    "'x', NULL, '{}', '%0*d', '%0*d')", k, 64, 7, 64, 8), 0);
		if (!expect(st, NULL, RB_AUDIT_INSERTED, k, "junk insert", k))
			goto fail;
		rb_store_free(st);
	}
	/* A copy of a record appended at the end. */
	for (k = 1; k <= NREC; k++) {
		T_ASSERT((st = fresh("copy", k)) != NULL);
		T_EQ_INT(tamper(st, "INSERT INTO audit SELECT %d, ts, actor, "
		    "event, run_id, details, prev_hash, hash FROM audit "
		    "WHERE seq = %d", NREC + 1, k), 0);
		if (!expect(st, NULL, RB_AUDIT_INSERTED, NREC + 1, "copy", k))
			goto fail;
		rb_store_free(st);
	}
	/* A record before the first. */
	T_ASSERT((st = fresh("insert-zero", 0)) != NULL);
	T_EQ_INT(tamper(st, "INSERT INTO audit SELECT 0, ts, actor, event, "
	    "run_id, details, prev_hash, hash FROM audit WHERE seq = 1"), 0);
	if (!expect(st, NULL, RB_AUDIT_INSERTED, 0, "seq 0", 0))
		goto fail;
	rb_store_free(st);
	return;
fail:
	rb_store_free(st);
}

void
test_store_audit__detects_reorder(void)
{
	struct rb_store *st;
	int k;

	/* Swap the contents of records k and k+1 (seq stays in place). */
	for (k = 1; k < NREC; k++) {
		T_ASSERT((st = fresh("swap", k)) != NULL);
		T_EQ_INT(tamper(st, "UPDATE audit SET seq = -1 WHERE seq = %d;"
		    "UPDATE audit SET seq = %d WHERE seq = %d;"
		    "UPDATE audit SET seq = %d WHERE seq = -1;", k, k, k + 1,
		    k + 1), 0);
		if (!expect(st, NULL, RB_AUDIT_REORDERED, k, "swap", k))
			goto fail;
		rb_store_free(st);
	}
	/* Swap the first and the last. */
	T_ASSERT((st = fresh("swap-far", 0)) != NULL);
	T_EQ_INT(tamper(st, "UPDATE audit SET seq = -1 WHERE seq = 1;"
	    "UPDATE audit SET seq = 1 WHERE seq = %d;"
	    "UPDATE audit SET seq = %d WHERE seq = -1;", NREC, NREC), 0);
	if (!expect(st, NULL, RB_AUDIT_REORDERED, 1, "swap first/last", 0))
		goto fail;
	rb_store_free(st);
	return;
fail:
	rb_store_free(st);
}

void
test_store_audit__detects_rehash(void)
{
	struct rb_audit_record rec;
	char h[RB_AUDIT_HASH_SIZE], ts[64], actor[64], event[64], run[64];
	char details[128];
	struct rb_store *st;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int k;

	/* Edit a record and recompute its own hash: the next link breaks. */
	for (k = 1; k < NREC; k++) {
		T_ASSERT((st = fresh("rehash", k)) != NULL);
		T_EQ_INT(sqlite3_open_v2(rb_store_path(st), &db,
		    SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
		T_EQ_INT(sqlite3_prepare_v2(db, "SELECT ts, actor, event, "
		    "ifnull(run_id, '') FROM audit WHERE seq = ?1", -1, &s,
		    NULL), SQLITE_OK);
		sqlite3_bind_int(s, 1, k);
		T_EQ_INT(sqlite3_step(s), SQLITE_ROW);
		snprintf(ts, sizeof(ts), "%s",
		    (const char *)sqlite3_column_text(s, 0));
		snprintf(actor, sizeof(actor), "%s",
		    (const char *)sqlite3_column_text(s, 1));
		snprintf(event, sizeof(event), "%s",
		    (const char *)sqlite3_column_text(s, 2));
		snprintf(run, sizeof(run), "%s",
		    (const char *)sqlite3_column_text(s, 3));
		sqlite3_finalize(s);
		sqlite3_close(db);
		snprintf(details, sizeof(details),
		    "{\"i\":%d,\"step\":\"evil\"}", k);
		rec.seq = k;
		rec.ts = ts;
		rec.actor = actor;
		rec.event = event;
		rec.run_id = *run != '\0' ? run : NULL;
		rec.details = details;
		rec.prev_hash = hashes[k - 1];
		rb_audit_record_hash(h, &rec);
		T_EQ_INT(tamper(st, "UPDATE audit SET details = '%s', hash = "
		    "'%s' WHERE seq = %d", details, h, k), 0);
		if (!expect(st, NULL, RB_AUDIT_EDITED, k, "rehash", k))
			goto fail;
		rb_store_free(st);
	}
	return;
fail:
	rb_store_free(st);
}

void
test_store_audit__detects_truncation(void)
{
	struct rb_store *st;
	char head[RB_AUDIT_HASH_SIZE];
	int k;

	for (k = 1; k <= NREC; k++) {
		T_ASSERT((st = fresh("truncate", k)) != NULL);
		memcpy(head, hashes[NREC], sizeof(head));
		T_EQ_INT(tamper(st, "DELETE FROM audit WHERE seq >= %d", k), 0);
		/* Without the head, a shorter chain is still a chain... */
		if (!expect(st, NULL, RB_AUDIT_OK, 0, "truncate, no head", k))
			goto fail;
		/* ...with it, the missing tail is found. */
		if (!expect(st, head, RB_AUDIT_TRUNCATED, k, "truncate", k))
			goto fail;
		/* Appending new records does not hide the truncation. */
		T_EQ_INT(rb_audit_append(NULL, st, "run.started", NULL, NULL,
		    NULL), 0);
		if (!expect(st, head, RB_AUDIT_TRUNCATED, k + 1,
		    "truncate+append", k))
			goto fail;
		rb_store_free(st);
	}
	return;
fail:
	rb_store_free(st);
}
