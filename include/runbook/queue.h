/*
 * queue.h - the durable queue between `runbook serve` and the runs it
 * starts (SPEC section 6, "Accepted means durable").
 *
 * The listener enqueues one entry per routed alert and answers 202 only
 * after rb_queue_enqueue() returned: the entry is then committed to
 * state.db and survives a crash. A dedup key (route, fingerprint,
 * startsAt) with a window makes repeats of the same alert within the window
 * come back as "deduplicated" instead of being queued again; the check and
 * the insert are one transaction, so concurrent deliveries of the same
 * alert queue exactly one entry.
 *
 * Life of an entry: queued -> started (claimed by a process, later given
 * the run id) -> done or failed. An entry claimed by a process that died
 * before attaching a run id never started a run; rb_queue_recover() puts it
 * back in the queue. An entry with a run id is never re-queued (the run's
 * own journal says what happened to it).
 */
#ifndef RUNBOOK_QUEUE_H
#define RUNBOOK_QUEUE_H

#include "runbook/store.h"

/*
 * An entry. Passed to rb_queue_enqueue() with borrowed strings; filled by
 * rb_queue_claim() and rb_queue_get() with strings owned by the entry and
 * freed by rb_queue_entry_release().
 */
struct rb_queue_entry {
	int64_t id;			/* assigned by enqueue */
	int64_t created_ms;		/* wall clock; enqueue: 0 = now */
	const char *route;		/* route name, or NULL */
	const char *runbook;		/* required */
	const char *params;		/* JSON object, NULL = {} */
	const char *alert;		/* JSON of the alert, or NULL */
	const char *dedup_key;		/* NULL: never deduplicated */
	const char *status;		/* queued started done failed */
	const char *run_id;		/* set once the run exists */
	const char *source;		/* who sent it (source, address) */
	int64_t claimed_pid;		/* the process that claimed it, or 0 */
	int64_t started_ms, finished_ms;	/* 0 when not yet */
};
#define RB_QUEUE_ENTRY_INIT { 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, \
	NULL, NULL, 0, 0, 0 }

enum rb_queue_result {
	RB_QUEUE_QUEUED,		/* a new entry was committed */
	RB_QUEUE_DEDUPLICATED		/* same key within the window */
};

/*
 * Queue e unless an entry with the same dedup_key was created within the
 * last window_ms milliseconds (window_ms <= 0 or no key: always queue).
 * *out_result says which happened and *out_id is the new entry's id or the
 * existing one's. Commits before returning (unless the caller's transaction
 * is open). Returns 0; RB_EINVAL for a missing runbook or params/alert that
 * are not JSON; or another negative RB_E* code, in which case nothing was
 * queued.
 */
int rb_queue_enqueue(int64_t *out_id, enum rb_queue_result *out_result,
    struct rb_store *st, const struct rb_queue_entry *e, int64_t window_ms);

/*
 * Take the oldest queued entry: it becomes "started", claimed by this
 * process, and is copied into *out (release with rb_queue_entry_release()).
 * Returns 0, RB_ENOTFOUND when nothing is queued, or another negative RB_E*
 * code.
 */
int rb_queue_claim(struct rb_queue_entry *out, struct rb_store *st);

/*
 * Set an entry's status ("started", "done" or "failed") and, when run_id is
 * not NULL, its run id. done and failed set the finished time. Returns 0,
 * RB_ENOTFOUND, RB_EINVAL for another status, or a negative RB_E* code.
 */
int rb_queue_mark(struct rb_store *st, int64_t id, const char *status,
    const char *run_id);

/* Load entry id into *out. Returns 0, RB_ENOTFOUND or a negative code. */
int rb_queue_get(struct rb_queue_entry *out, struct rb_store *st, int64_t id);

/*
 * Put back in the queue every "started" entry without a run id whose
 * claiming process is gone; *out_n (may be NULL) is how many. For the
 * listener's start-up. Returns 0 or a negative RB_E* code.
 */
int rb_queue_recover(size_t *out_n, struct rb_store *st);

/* How many entries have status (NULL: all). Returns 0 or a negative code. */
int rb_queue_count(int64_t *out, struct rb_store *st, const char *status);

/* Free what a loaded entry owns and reset it to RB_QUEUE_ENTRY_INIT. */
void rb_queue_entry_release(struct rb_queue_entry *e);

#endif
