/*
 * audit.h - the append-only, hash-chained audit log (SPEC section 5,
 * "Audit").
 *
 * Records live in state.db, in a table other tools may read:
 *
 *   audit(seq INTEGER PRIMARY KEY, ts TEXT, actor TEXT, event TEXT,
 *         run_id TEXT, details TEXT, prev_hash TEXT, hash TEXT)
 *
 *   seq        1, 2, 3, ... with no gaps
 *   ts         RFC 3339 UTC with milliseconds, "2026-11-23T19:00:12.345Z"
 *   actor      "$USER@host", or for webhooks "webhook:<source>/<route>"
 *   event      a dotted name, see below
 *   run_id     the run the record is about, or NULL
 *   details    a JSON object in canonical form: jansson compact output
 *              with sorted keys, UTF-8 kept as is (never contains secrets)
 *   prev_hash  the hash of record seq-1; 64 '0's for seq 1
 *   hash       SHA-256, lower-case hex, of the canonical serialisation
 *
 * Canonical serialisation (version 1). The bytes hashed are the ASCII tag
 * "rbaudit1" followed by the seven fields seq, ts, actor, event, run_id,
 * details, prev_hash in that order, each written as a netstring:
 *
 *   <decimal byte length>:<bytes>,
 *
 * where seq is its decimal ASCII form ("12") and the bytes of a text field
 * are exactly what the table stores (UTF-8, no normalisation). A NULL field
 * (run_id may be NULL) is written as the two bytes "-,". Example: the
 * record (1, "2026-11-23T19:00:12.345Z", "ops@db1", "run.started", NULL,
 * "{}", 64 x "0") hashes the bytes
 *
 *   rbaudit11:1,24:2026-11-23T19:00:12.345Z,7:ops@db1,11:run.started,-,
 *   2:{},64:0000000000000000000000000000000000000000000000000000000000000000,
 *
 * (one line, no newline), giving hash
 * 3fbba428fc3084d9e7e92e4e761df86ac18e4e756e5990709d5ec6401d0c4fde.
 * (tests/unit/store/audit.c checks this vector.)
 *
 * What the chain proves: any edited, deleted, inserted or reordered record
 * is found by rb_audit_verify(), which names the first bad seq. Removing
 * records from the end is found only against a head hash kept elsewhere
 * (rb_audit_head(), "runbook audit head"). Anyone who can write state.db
 * can also recompute the whole chain; keeping the head outside the machine
 * is what makes a rewrite detectable.
 *
 * Event names: run.requested run.started run.finished run.interrupted
 * run.resumed step.started step.finished step.skipped rollback.started
 * rollback.finished approval.granted approval.rejected refusal force.window
 * force.resume force.rerun_inflight lock.taken_over webhook.accepted
 * webhook.rejected webhook.deduplicated hostkey.accepted hostkey.rejected.
 * rb_audit_append() accepts any name of lower-case letters, digits, '_',
 * '-', '*' and '.', so new events need no change here.
 */
#ifndef RUNBOOK_AUDIT_H
#define RUNBOOK_AUDIT_H

#include "runbook/store.h"

#define RB_AUDIT_HASH_SIZE 65	/* 64 hex digits and the NUL */
#define RB_AUDIT_ZERO_HASH \
	"0000000000000000000000000000000000000000000000000000000000000000"

/* One record, as stored. Strings are borrowed (valid during a callback). */
struct rb_audit_record {
	int64_t seq;
	const char *ts;
	const char *actor;
	const char *event;
	const char *run_id;		/* may be NULL */
	const char *details;
	const char *prev_hash;
	const char *hash;
};

/* The latest record: seq 0 and RB_AUDIT_ZERO_HASH when the log is empty. */
struct rb_audit_head {
	int64_t seq;
	char hash[RB_AUDIT_HASH_SIZE];
};

enum rb_audit_problem {
	RB_AUDIT_OK = 0,
	RB_AUDIT_EDITED,	/* contents differ from what was hashed */
	RB_AUDIT_DELETED,	/* a seq is missing */
	RB_AUDIT_INSERTED,	/* a record that is not part of the chain */
	RB_AUDIT_REORDERED,	/* a record sits elsewhere in the chain */
	RB_AUDIT_TRUNCATED	/* the expected head is gone */
};

/* The outcome of rb_audit_verify(). */
struct rb_audit_verdict {
	enum rb_audit_problem problem;	/* RB_AUDIT_OK when the chain holds */
	int64_t bad_seq;		/* the first bad seq, 0 when OK */
	int64_t nrecords;		/* records checked */
	struct rb_audit_head head;	/* the last record that checked out */
	char reason[256];		/* one line: what was found */
};

/* Called for each exported record; a non-zero return stops the export. */
typedef int (*rb_audit_record_fn)(const struct rb_audit_record *rec,
    void *payload);

/*
 * Compute the hash of rec (every field but rec->hash) as defined above,
 * into out. For other tools and tests; rb_audit_append() uses it.
 */
void rb_audit_record_hash(char out[RB_AUDIT_HASH_SIZE],
    const struct rb_audit_record *rec);

/* Short name of a problem: "ok", "edited", "deleted", ... */
const char *rb_audit_problem_name(enum rb_audit_problem p);

/*
 * Append a record: event (see above), actor (NULL: rb_store_default_actor),
 * run_id (may be NULL) and details (JSON object text, NULL = {}; stored in
 * canonical form). The time is now. Joins the caller's transaction when one
 * is open, so a journal write and its audit record commit together; else
 * commits before returning. When out is not NULL it receives the new seq
 * and hash. Returns 0, RB_EINVAL (bad event name, details not a JSON
 * object), or another negative RB_E* code (error in rb_store_error(st)).
 */
int rb_audit_append(struct rb_audit_head *out, struct rb_store *st,
    const char *event, const char *actor, const char *run_id,
    const char *details);

/* The latest record's seq and hash. Returns 0 or a negative RB_E* code. */
int rb_audit_head(struct rb_audit_head *out, struct rb_store *st);

/*
 * Check the whole chain, in one read snapshot: seq runs 1, 2, 3 ... with
 * no gap, each hash matches its record, each prev_hash is the previous
 * record's hash. With expected_head (a hash from rb_audit_head(), or NULL)
 * a record with that hash must also exist, which catches a removed tail
 * (later records appended since are fine). The result is in *out: problem
 * and the first bad seq (for a missing record, its seq; for a truncated
 * tail, the seq after the last record that checks out), the reason being
 * the best explanation of the evidence. Returns 0 when the check ran
 * (whatever it found), or a negative RB_E* code when it could not
 * (database error, bad expected_head).
 */
int rb_audit_verify(struct rb_audit_verdict *out, struct rb_store *st,
    const char *expected_head);

/*
 * Call fn for every record with ts at or after since_ms (wall clock ms; 0
 * for all), in seq order. Returns 0, fn's non-zero return value, or a
 * negative RB_E* code.
 */
int rb_audit_export(struct rb_store *st, int64_t since_ms,
    rb_audit_record_fn fn, void *payload);

/*
 * Append the records since since_ms to out as JSON Lines, one object per
 * record: {"seq":N,"ts":..,"actor":..,"event":..,"run_id":..|null,
 * "details":<the stored details text, verbatim>,"prev_hash":..,"hash":..}.
 * A details text that is not valid JSON (a tampered record) is written as
 * a JSON string instead. Returns 0, RB_ETOOBIG when out's cap is reached,
 * or a negative RB_E* code.
 */
int rb_audit_export_jsonl(struct rb_buf *out, struct rb_store *st,
    int64_t since_ms);

#endif
