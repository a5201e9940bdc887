/*
 * writer.c - the group commit: everything decided in one event-loop round
 * (queue entries, audit records) is written in one transaction with one
 * fsync; only then are the parked requests answered 202. When the commit
 * fails, nothing of the round is on disk and each parked request gets 503.
 */
#include <stdlib.h>

#include "runbook/audit.h"
#include "runbook/queue.h"
#include "runbook/store.h"
#include "serve/serve_int.h"
#include "runbook/banned.h"

/*
 * Write one op into the open transaction; q is the request an enqueue
 * belongs to (its counts are updated), NULL for audit records.
 */
static int
write_op(struct rb_wh_server *s, struct op *o, struct req *q)
{
	struct rb_queue_entry e = RB_QUEUE_ENTRY_INIT;
	enum rb_queue_result res;
	int64_t id = 0;
	char *details;
	int r;

	if (o->kind == OP_ENQUEUE) {
		e.route = o->route;
		e.runbook = o->runbook;
		e.params = o->params;
		e.alert = o->alert;
		e.dedup_key = o->dedup_key;
		e.source = q->ip; /* the run's actor: webhook:IP/ROUTE */
		if ((r = rb_queue_enqueue(
			 &id, &res, s->st, &e, o->window_ms)) != 0)
			return r;
		json_object_set_new(o->details, "queue_id", json_integer(id));
		if (res == RB_QUEUE_QUEUED) {
			o->event = "webhook.accepted";
			q->queued++;
		} else {
			o->event = "webhook.deduplicated";
			q->dedup++;
		}
	}
	details = json_dumps(o->details, JSON_COMPACT | JSON_SORT_KEYS);
	if (details == NULL)
		RB_BUG("cannot serialise audit details");
	r = rb_audit_append(NULL, s->st, o->event, o->actor, NULL, details);
	free(details);
	return r;
}

/*
 * Write the audit records of requests already answered and everything of
 * the parked (accepted) requests in one transaction, commit, then answer
 * and resume the parked ones: 202 when the commit succeeded, 503 when it
 * did not (nothing of the round was written, the sender retries). Returns
 * true when connections were resumed (libmicrohttpd must run again).
 */
bool
serve_commit_round(struct rb_wh_server *s)
{
	struct req *q, *next, *list = s->parked;
	struct rb_error err = RB_ERROR_INIT;
	size_t i;
	bool ok;
	int r;

	if (list == NULL && s->nlater == 0)
		return false;
	s->parked = NULL;
	s->parked_tail = &s->parked;
	r = rb_store_begin(s->st);
	for (i = 0; r == 0 && i < s->nlater; i++)
		r = write_op(s, &s->later[i], NULL);
	for (q = list; r == 0 && q != NULL; q = q->next)
		for (i = 0; r == 0 && i < q->nops; i++)
			r = write_op(s, &q->ops[i], q);
	if (r == 0)
		r = rb_store_commit(s->st);
	else {
		/* The rollback clears the handle's error: keep it. */
		err = *rb_store_error(s->st);
		(void)rb_store_rollback(s->st);
	}
	if (r != 0 && err.code == 0)
		err = *rb_store_error(s->st);
	ok = r == 0;
	if (ok)
		s->m.commits++;
	else {
		s->m.commit_failures++;
		serve_log(s, RB_WH_LOG_ERROR, "cannot record webhook requests",
		    json_pack("{s:o,s:o,s:I}", "error", serve_jstr(err.msg),
			"hint", serve_jstr(err.hint), "lost_audit_records",
			(json_int_t)s->nlater));
	}
	for (i = 0; i < s->nlater; i++)
		serve_op_release(&s->later[i]);
	s->nlater = 0;
	for (q = list; q != NULL; q = next) {
		next = q->next;
		if (ok) {
			s->m.alerts[AL_QUEUED] += q->queued;
			s->m.alerts[AL_DEDUP] += q->dedup;
			if (q->queued > 0)
				s->want_claim = true;
			serve_set_response(q, MHD_HTTP_ACCEPTED,
			    "application/json", serve_hook_body(q));
		} else {
			q->queued = q->dedup = 0;
			serve_set_response(q, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "application/json",
			    serve_error_body("the state database "
			    "is unavailable; retry later"));
		}
		if (serve_send_response(q) != MHD_YES)
			serve_log(s, RB_WH_LOG_WARN, "cannot queue a response",
			    json_pack("{s:s}", "remote", q->remote));
		MHD_resume_connection(q->conn);
	}
	return list != NULL;
}
