/*
 * audit.c - the hash-chained audit log: append, head, verify, export.
 *
 * Each record's hash covers its own fields and the previous record's hash
 * (the serialisation is defined in audit.h, for other tools). Verification
 * walks the chain in one read snapshot and, at the first record that does
 * not check out, looks at the neighbouring evidence to say what most likely
 * happened there: edited, deleted, inserted or reordered.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "runbook/audit.h"
#include "runbook/buf.h"
#include "runbook/error.h"
#include "runbook/util.h"
#include "store/store_int.h"
#include "runbook/banned.h"

#define NFIELDS 6	/* ts, actor, event, run_id, details, prev_hash */

/* Append one netstring ("<len>:<bytes>,"), or "-," for NULL. */
static void
add_netstring(struct rb_buf *b, const char *s, size_t len)
{
	if (s == NULL) {
		rb_buf_add(b, "-,", 2);
		return;
	}
	rb_buf_addf(b, "%zu:", len);
	rb_buf_add(b, s, len);
	rb_buf_addch(b, ',');
}

/* The chain hash of seq and the six text fields (NULL allowed). */
static void
hash_fields(char out[RB_AUDIT_HASH_SIZE], int64_t seq,
    const char *const f[NFIELDS], const size_t len[NFIELDS])
{
	struct rb_buf b = RB_BUF_INIT;
	char num[32];
	int i, n;

	rb_buf_adds(&b, "rbaudit1");
	n = snprintf(num, sizeof(num), "%lld", (long long)seq);
	add_netstring(&b, num, (size_t)n);
	for (i = 0; i < NFIELDS; i++)
		add_netstring(&b, f[i], len[i]);
	rb_sha256_hex(out, b.buf, b.len);
	rb_buf_release(&b);
}

void
rb_audit_record_hash(char out[RB_AUDIT_HASH_SIZE],
    const struct rb_audit_record *rec)
{
	const char *f[NFIELDS] = { rec->ts, rec->actor, rec->event,
		rec->run_id, rec->details, rec->prev_hash };
	size_t len[NFIELDS];
	int i;

	for (i = 0; i < NFIELDS; i++)
		len[i] = f[i] != NULL ? strlen(f[i]) : 0;
	hash_fields(out, rec->seq, f, len);
}

const char *
rb_audit_problem_name(enum rb_audit_problem p)
{
	switch (p) {
	case RB_AUDIT_OK:
		return "ok";
	case RB_AUDIT_EDITED:
		return "edited";
	case RB_AUDIT_DELETED:
		return "deleted";
	case RB_AUDIT_INSERTED:
		return "inserted";
	case RB_AUDIT_REORDERED:
		return "reordered";
	case RB_AUDIT_TRUNCATED:
		return "truncated";
	}
	return "unknown";
}

/* ------------------------------------------------------------------ */
/* Appending                                                            */
/* ------------------------------------------------------------------ */

static bool
event_name_ok(const char *e)
{
	const char *p;

	if (e == NULL || *e == '\0' || strlen(e) > 64)
		return false;
	for (p = e; *p != '\0'; p++)
		if (!islower((unsigned char)*p) &&
		    !isdigit((unsigned char)*p) && strchr("_-*.", *p) == NULL)
			return false;
	return true;
}

/* The canonical form of a details object (caller frees), or NULL. */
static char *
canonical_details(struct rb_store *st, const char *details)
{
	json_error_t je;
	json_t *j;
	char *s;

	j = json_loads(details != NULL ? details : "{}",
	    JSON_REJECT_DUPLICATES, &je);
	if (j == NULL) {
		rb_error_set(&st->err, RB_EINVAL,
		    "audit details are not valid JSON: %s (column %d)", je.text,
		    je.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		rb_error_set(&st->err, RB_EINVAL,
		    "audit details are not a JSON object");
		return NULL;
	}
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (s == NULL)
		RB_BUG("json_dumps failed");
	return s;
}

static const char SQL_LAST[] =
    "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1";
static const char SQL_INSERT[] =
    "INSERT INTO audit (seq, ts, actor, event, run_id, details, prev_hash,"
    " hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/* The last record's seq and hash (0 and zeros when empty). */
static int
last_record(struct rb_audit_head *out, struct rb_store *st)
{
	sqlite3_stmt *s = NULL;
	const char *h;
	int rc, r = 0;

	out->seq = 0;
	snprintf(out->hash, sizeof(out->hash), "%s", RB_AUDIT_ZERO_HASH);
	if ((r = store_stmt(&s, st, SQL_LAST)) != 0)
		return r;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->seq = sqlite3_column_int64(s, 0);
		h = (const char *)sqlite3_column_text(s, 1);
		if (h != NULL)
			snprintf(out->hash, sizeof(out->hash), "%s", h);
	} else if (rc != SQLITE_DONE)
		r = store_sqlerr(st, rc, "read the audit log");
	store_stmt_done(s);
	return r;
}

int
rb_audit_append(struct rb_audit_head *out, struct rb_store *st,
    const char *event, const char *actor, const char *run_id,
    const char *details)
{
	char actor_buf[RB_STORE_ACTOR_SIZE], ts[32];
	struct rb_audit_head last, head;
	struct rb_audit_record rec;
	sqlite3_stmt *s = NULL;
	char *canon = NULL;
	bool owned = false;
	int rc, r;

	if ((r = store_enter(st)) != 0)
		return r;
	if (!event_name_ok(event))
		return rb_error_set(&st->err, RB_EINVAL,
		    "invalid audit event name '%s'",
		    event != NULL ? event : "(null)");
	if ((canon = canonical_details(st, details)) == NULL)
		return RB_EINVAL;
	if (actor == NULL) {
		rb_store_default_actor(actor_buf, sizeof(actor_buf));
		actor = actor_buf;
	}
	rb_time_format(ts, sizeof(ts), rb_wall_ms());

	if ((r = store_op_begin(st, &owned)) != 0)
		goto done;
	if ((r = last_record(&last, st)) != 0)
		goto out;
	rec.seq = last.seq + 1;
	rec.ts = ts;
	rec.actor = actor;
	rec.event = event;
	rec.run_id = run_id;
	rec.details = canon;
	rec.prev_hash = last.hash;
	rec.hash = NULL;
	head.seq = rec.seq;
	rb_audit_record_hash(head.hash, &rec);
	if ((r = store_stmt(&s, st, SQL_INSERT)) != 0)
		goto out;
	if ((rc = sqlite3_bind_int64(s, 1, rec.seq)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 2, ts, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 3, actor, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 4, event, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 5, run_id, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 6, canon, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 7, last.hash, -1)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 8, head.hash, -1)) != SQLITE_OK) {
		r = store_sqlerr(st, rc, "append to the audit log");
		goto out;
	}
	r = store_exec_stmt(st, s, "append to the audit log");
out:
	store_stmt_done(s);
	r = store_op_end(st, owned, r, "append to the audit log");
	if (r == 0 && out != NULL)
		*out = head;
done:
	free(canon);
	return r;
}

int
rb_audit_head(struct rb_audit_head *out, struct rb_store *st)
{
	int r;

	if ((r = store_enter(st)) != 0)
		return r;
	return last_record(out, st);
}

/* ------------------------------------------------------------------ */
/* Verifying                                                            */
/* ------------------------------------------------------------------ */

static const char SQL_ALL[] =
    "SELECT seq, ts, actor, event, run_id, details, prev_hash, hash"
    " FROM audit ORDER BY seq";
static const char SQL_BY_HASH[] =
    "SELECT seq FROM audit WHERE hash = ?1 AND seq != ?2 ORDER BY seq"
    " LIMIT 1";

/* A row of SQL_ALL, with the text fields pointing into the statement. */
struct row {
	int64_t seq;
	const char *f[NFIELDS];		/* ts actor event run_id details prev */
	size_t len[NFIELDS];
	char prev[RB_AUDIT_HASH_SIZE];	/* prev_hash, "" when not 64 chars */
	char hash[RB_AUDIT_HASH_SIZE];	/* hash, "" when not 64 chars */
};

/* Copy a hash column into out, or "" when it is NULL or not a hash. */
static void
copy_hash(char out[RB_AUDIT_HASH_SIZE], sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);

	out[0] = '\0';
	if (t != NULL && sqlite3_column_bytes(s, i) == RB_AUDIT_HASH_SIZE - 1)
		memcpy(out, t, RB_AUDIT_HASH_SIZE);
}

static void
read_row(struct row *rw, sqlite3_stmt *s)
{
	int i;

	rw->seq = sqlite3_column_int64(s, 0);
	for (i = 0; i < NFIELDS; i++) {
		if (sqlite3_column_type(s, i + 1) == SQLITE_NULL) {
			rw->f[i] = NULL;
			rw->len[i] = 0;
		} else {
			rw->f[i] = (const char *)sqlite3_column_text(s, i + 1);
			rw->len[i] = (size_t)sqlite3_column_bytes(s, i + 1);
		}
	}
	copy_hash(rw->prev, s, 6);
	copy_hash(rw->hash, s, 7);
}

/*
 * The seq of the record (other than seq) whose hash is h: 0 for the zero
 * hash (the start of the chain), -1 when there is none.
 */
static int
find_hash(int64_t *out, struct rb_store *st, const char *h, int64_t seq)
{
	sqlite3_stmt *s = NULL;
	int rc, r = 0;

	*out = -1;
	if (*h == '\0')
		return 0;
	if (strcmp(h, RB_AUDIT_ZERO_HASH) == 0) {
		*out = 0;
		return 0;
	}
	if ((r = store_stmt(&s, st, SQL_BY_HASH)) != 0)
		return r;
	if ((rc = store_bind_text(s, 1, h, -1)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, seq)) != SQLITE_OK) {
		r = store_sqlerr(st, rc, "verify the audit log");
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		r = store_sqlerr(st, rc, "verify the audit log");
out:
	store_stmt_done(s);
	return r;
}

static void
verdict(struct rb_audit_verdict *v, enum rb_audit_problem p, int64_t seq,
    const char *fmt, ...) RB_PRINTFLIKE(4, 5);

static void
verdict(struct rb_audit_verdict *v, enum rb_audit_problem p, int64_t seq,
    const char *fmt, ...)
{
	va_list ap;

	v->problem = p;
	v->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
	va_end(ap);
}

/* Does r's stored hash match r's fields hashed as record seq? */
static bool
hash_as(const struct row *r, int64_t seq)
{
	char h[RB_AUDIT_HASH_SIZE];

	hash_fields(h, seq, r->f, r->len);
	return strcmp(h, r->hash) == 0;
}

/*
 * Explain the first record r that does not check out. prev is the last
 * good record (seq 0 when r is the first). s is positioned on r, whose
 * fields point into it; it is stepped (to peek at the next record) only
 * after the last use of r's fields.
 */
static int
classify(struct rb_audit_verdict *v, struct rb_store *st, sqlite3_stmt *s,
    const struct row *r, const struct rb_audit_head *prev, bool hash_ok,
    bool chain_ok)
{
	bool as_next, as_prev;
	int64_t q;
	int rc, ret;

	/* Renumbered records still match their hash at their old seq. */
	as_next = !hash_ok && hash_as(r, r->seq + 1);
	as_prev = !hash_ok && r->seq > 1 && hash_as(r, r->seq - 1);
	if (!chain_ok) {
		/* An exact copy of another record? */
		if ((ret = find_hash(&q, st, r->hash, r->seq)) != 0)
			return ret;
		if (q > 0) {
			verdict(v, RB_AUDIT_INSERTED, r->seq,
			    "record %lld is a copy of record %lld",
			    (long long)r->seq, (long long)q);
			return 0;
		}
		if ((ret = find_hash(&q, st, r->prev, r->seq)) != 0)
			return ret;
		if (q > r->seq) {
			verdict(v, RB_AUDIT_REORDERED, r->seq,
			    "record %lld is chained after record %lld "
			    "(records were reordered)", (long long)r->seq,
			    (long long)q);
			return 0;
		}
		if (q >= 0 && prev->seq > 0 && q < prev->seq) {
			int64_t d = prev->seq - q;

			/* r follows q: records q+1 .. prev were slipped in. */
			if (hash_ok || hash_as(r, r->seq - d)) {
				verdict(v, RB_AUDIT_INSERTED, q + 1,
				    "record %lld is not part of the chain "
				    "(record %lld follows record %lld)",
				    (long long)(q + 1), (long long)r->seq,
				    (long long)q);
				return 0;
			}
		}
		/* Does the next record skip r and follow prev? */
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			char next_prev[RB_AUDIT_HASH_SIZE];
			int64_t r_seq = r->seq;

			copy_hash(next_prev, s, 6);
			if (strcmp(next_prev, prev->hash) == 0) {
				verdict(v, RB_AUDIT_INSERTED, r_seq,
				    "record %lld is not part of the chain "
				    "(record %lld follows record %lld)",
				    (long long)r_seq,
				    (long long)sqlite3_column_int64(s, 0),
				    (long long)prev->seq);
				return 0;
			}
		} else if (rc != SQLITE_DONE)
			return store_sqlerr(st, rc, "verify the audit log");
	}
	if (!hash_ok) {
		if (as_next)
			verdict(v, RB_AUDIT_DELETED, r->seq,
			    "record %lld is missing (the record now numbered "
			    "%lld was hashed as %lld)", (long long)r->seq,
			    (long long)r->seq, (long long)(r->seq + 1));
		else if (as_prev)
			verdict(v, RB_AUDIT_INSERTED, r->seq - 1,
			    "record %lld is not part of the chain (the record "
			    "now numbered %lld was hashed as %lld)",
			    (long long)(r->seq - 1), (long long)r->seq,
			    (long long)(r->seq - 1));
		else
			verdict(v, RB_AUDIT_EDITED, r->seq,
			    "record %lld does not match its hash (edited)",
			    (long long)r->seq);
		return 0;
	}
	/* r is intact but does not follow prev: prev was rewritten. */
	if (prev->seq > 0)
		verdict(v, RB_AUDIT_EDITED, prev->seq,
		    "record %lld is not the record that record %lld was "
		    "chained to (edited and re-hashed)", (long long)prev->seq,
		    (long long)r->seq);
	else
		verdict(v, RB_AUDIT_EDITED, r->seq,
		    "record %lld does not start the chain (edited)",
		    (long long)r->seq);
	return 0;
}

/* Check and normalise an expected head hash into out. */
static int
parse_head(char out[RB_AUDIT_HASH_SIZE], struct rb_store *st, const char *h)
{
	size_t i;

	if (strlen(h) != RB_AUDIT_HASH_SIZE - 1)
		goto bad;
	for (i = 0; i < RB_AUDIT_HASH_SIZE - 1; i++) {
		if (!isxdigit((unsigned char)h[i]))
			goto bad;
		out[i] = (char)tolower((unsigned char)h[i]);
	}
	out[i] = '\0';
	return 0;
bad:
	rb_error_set(&st->err, RB_EINVAL,
	    "invalid audit head '%s': a hash is 64 hex characters; got %zu",
	    h, strlen(h));
	rb_error_hint(&st->err, "'runbook audit head' prints the head hash");
	return RB_EINVAL;
}

int
rb_audit_verify(struct rb_audit_verdict *out, struct rb_store *st,
    const char *expected_head)
{
	struct rb_audit_verdict v;
	struct rb_audit_head prev;
	char want[RB_AUDIT_HASH_SIZE], h[RB_AUDIT_HASH_SIZE];
	sqlite3_stmt *s = NULL;
	struct row rw;
	bool owned = false, head_found = false;
	int rc, r;

	if ((r = store_enter(st)) != 0)
		return r;
	if (expected_head != NULL &&
	    (r = parse_head(want, st, expected_head)) != 0)
		return r;
	memset(&v, 0, sizeof(v));
	prev.seq = 0;
	snprintf(prev.hash, sizeof(prev.hash), "%s", RB_AUDIT_ZERO_HASH);
	if (expected_head != NULL && strcmp(want, RB_AUDIT_ZERO_HASH) == 0)
		head_found = true;	/* the head of an empty log */

	if ((r = store_read_begin(st, &owned)) != 0)
		return r;
	if ((r = store_stmt(&s, st, SQL_ALL)) != 0)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		bool hash_ok, chain_ok;

		read_row(&rw, s);
		v.nrecords++;
		if (rw.seq > prev.seq + 1) {
			verdict(&v, RB_AUDIT_DELETED, prev.seq + 1,
			    "record %lld is missing (the next is %lld)",
			    (long long)(prev.seq + 1), (long long)rw.seq);
			break;
		}
		if (rw.seq <= prev.seq) {
			verdict(&v, RB_AUDIT_INSERTED, rw.seq,
			    "record %lld precedes the first record",
			    (long long)rw.seq);
			break;
		}
		hash_fields(h, rw.seq, rw.f, rw.len);
		hash_ok = strcmp(h, rw.hash) == 0;
		chain_ok = strcmp(rw.prev, prev.hash) == 0;
		if (!hash_ok || !chain_ok) {
			r = classify(&v, st, s, &rw, &prev, hash_ok, chain_ok);
			break;
		}
		prev.seq = rw.seq;
		memcpy(prev.hash, rw.hash, sizeof(prev.hash));
		if (expected_head != NULL && strcmp(rw.hash, want) == 0)
			head_found = true;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		r = store_sqlerr(st, rc, "verify the audit log");
		goto out;
	}
	if (r != 0)
		goto out;
	if (v.problem == RB_AUDIT_OK && !head_found && expected_head != NULL)
		verdict(&v, RB_AUDIT_TRUNCATED, prev.seq + 1,
		    "no record has the expected head hash: records from %lld "
		    "on were removed", (long long)(prev.seq + 1));
	v.head = prev;
	*out = v;
out:
	store_stmt_done(s);
	store_read_end(st, owned);
	return r;
}

/* ------------------------------------------------------------------ */
/* Exporting                                                            */
/* ------------------------------------------------------------------ */

static const char SQL_SINCE[] =
    "SELECT seq, ts, actor, event, run_id, details, prev_hash, hash"
    " FROM audit WHERE ?1 IS NULL OR ts >= ?1 ORDER BY seq";

int
rb_audit_export(struct rb_store *st, int64_t since_ms, rb_audit_record_fn fn,
    void *payload)
{
	struct rb_audit_record rec;
	sqlite3_stmt *s = NULL;
	char since[32];
	bool owned = false;
	int rc, r;

	if ((r = store_enter(st)) != 0)
		return r;
	if ((r = store_read_begin(st, &owned)) != 0)
		return r;
	if ((r = store_stmt(&s, st, SQL_SINCE)) != 0)
		goto out;
	rb_time_format(since, sizeof(since), since_ms);
	if ((rc = store_bind_text(s, 1, since_ms > 0 ? since : NULL, -1)) !=
	    SQLITE_OK) {
		r = store_sqlerr(st, rc, "export the audit log");
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		rec.seq = sqlite3_column_int64(s, 0);
		rec.ts = (const char *)sqlite3_column_text(s, 1);
		rec.actor = (const char *)sqlite3_column_text(s, 2);
		rec.event = (const char *)sqlite3_column_text(s, 3);
		rec.run_id = (const char *)sqlite3_column_text(s, 4);
		rec.details = (const char *)sqlite3_column_text(s, 5);
		rec.prev_hash = (const char *)sqlite3_column_text(s, 6);
		rec.hash = (const char *)sqlite3_column_text(s, 7);
		if ((r = fn(&rec, payload)) != 0)
			goto out;
	}
	if (rc != SQLITE_DONE)
		r = store_sqlerr(st, rc, "export the audit log");
out:
	store_stmt_done(s);
	store_read_end(st, owned);
	return r;
}

/* Append s as a JSON string, or null. */
static int
add_str_or_null(struct rb_buf *b, const char *s)
{
	if (s == NULL)
		return rb_buf_adds(b, "null");
	return rb_buf_add_json_str(b, s, strlen(s));
}

/* Is s exactly in canonical form (so it can be embedded verbatim)? */
static bool
is_canonical(const char *s)
{
	json_t *j;
	char *c;
	bool ok;

	if (s == NULL || (j = json_loads(s, JSON_REJECT_DUPLICATES, NULL)) ==
	    NULL)
		return false;
	c = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	ok = c != NULL && json_is_object(j) && strcmp(c, s) == 0;
	free(c);
	json_decref(j);
	return ok;
}

/* One JSONL line per record; a line that does not fit is left out whole. */
static int
jsonl_line(const struct rb_audit_record *rec, void *payload)
{
	struct rb_buf *b = payload;
	size_t mark = b->len;
	int r;

	if ((r = rb_buf_addf(b, "{\"seq\":%lld,\"ts\":",
	    (long long)rec->seq)) ||
	    (r = add_str_or_null(b, rec->ts)) ||
	    (r = rb_buf_adds(b, ",\"actor\":")) ||
	    (r = add_str_or_null(b, rec->actor)) ||
	    (r = rb_buf_adds(b, ",\"event\":")) ||
	    (r = add_str_or_null(b, rec->event)) ||
	    (r = rb_buf_adds(b, ",\"run_id\":")) ||
	    (r = add_str_or_null(b, rec->run_id)) ||
	    (r = rb_buf_adds(b, ",\"details\":")))
		goto out;
	if (is_canonical(rec->details))
		r = rb_buf_adds(b, rec->details);
	else
		r = add_str_or_null(b, rec->details);
	if (r != 0 ||
	    (r = rb_buf_adds(b, ",\"prev_hash\":")) ||
	    (r = add_str_or_null(b, rec->prev_hash)) ||
	    (r = rb_buf_adds(b, ",\"hash\":")) ||
	    (r = add_str_or_null(b, rec->hash)) ||
	    (r = rb_buf_adds(b, "}\n")))
		goto out;
out:
	if (r != 0)
		rb_buf_setlen(b, mark);
	return r;
}

int
rb_audit_export_jsonl(struct rb_buf *out, struct rb_store *st,
    int64_t since_ms)
{
	int r;

	r = rb_audit_export(st, since_ms, jsonl_line, out);
	if (r == RB_ETOOBIG && rb_store_error(st)->code == 0)
		rb_error_set(&st->err, RB_ETOOBIG,
		    "audit export is larger than its %zu-byte limit", out->max);
	return r;
}
