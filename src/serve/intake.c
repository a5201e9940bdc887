/*
 * intake.c - deciding a webhook request once its body is in: authenticate
 * it, parse the payload, route every alert (params checked against the
 * runbook), and turn each outcome into ops (queue entries with their dedup
 * keys, audit records) that the writer commits. Nothing here writes to the
 * store or answers a 202: that waits for the commit round (writer.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "runbook/util.h"
#include "serve/serve_int.h"
#include "runbook/banned.h"

/* Free what an op owns. */
void
serve_op_release(struct op *o)
{
	free(o->actor);
	json_decref(o->details);
	free(o->route);
	free(o->params);
	free(o->alert);
	free(o->dedup_key);
}

static struct op *
add_op(struct req *q, enum op_kind kind)
{
	struct op *o;

	RB_ALLOC_GROW(q->ops, q->nops + 1, q->aops);
	o = &q->ops[q->nops++];
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	return o;
}

void
serve_ops_free(struct req *q)
{
	size_t i;

	for (i = 0; i < q->nops; i++)
		serve_op_release(&q->ops[i]);
	free(q->ops);
	q->ops = NULL;
	q->nops = q->aops = 0;
}

/* Details every webhook audit record carries. */
static json_t *
base_details(const struct req *q)
{
	return json_pack("{s:s,s:o}", "kind", rb_wh_kind_name(q->kind), "path",
	    serve_jstr(q->path));
}

static void
add_audit(struct req *q, const char *event, const char *route, json_t *details)
{
	struct op *o = add_op(q, OP_AUDIT);

	o->event = event;
	o->actor = route != NULL ? xstrfmt("webhook:%s/%s", q->ip, route)
				 : xstrfmt("webhook:%s", q->ip);
	o->details = details;
}

/*
 * Refuse the whole request with code and reason, audited as
 * webhook.rejected.
 */
void
serve_reject(struct req *q, int code, const char *reason, const char *scheme)
{
	json_t *d = base_details(q);

	json_object_set_new(d, "code", json_integer(code));
	json_object_set_new(d, "reason", serve_jstr(reason));
	if (scheme != NULL)
		json_object_set_new(d, "scheme", json_string(scheme));
	add_audit(q, "webhook.rejected", NULL, d);
	serve_set_response(
	    q, code, "application/json", serve_error_body(reason));
	serve_answer_deferred(q);
}

/* Header lookup for rb_wh_auth_check (payload: the connection). */
static const char *
conn_header(const char *name, void *payload)
{
	return MHD_lookup_connection_value(payload, MHD_HEADER_KIND, name);
}

/* Route one alert; adds the ops for it. */
static void
route_alert(struct req *q, const struct rb_wh_alert *a)
{
	struct rb_wh_server *s = q->srv;
	struct rb_wh_match m = RB_WH_MATCH_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_buf alert = RB_BUF_INIT;
	struct op *o;
	json_t *d;
	int r;

	r = rb_wh_router_route(&m, s->router, &a->view,
	    q->kind == RB_WH_GENERIC ? q->hook : NULL, &err);
	if (m.route == NULL && r == 0) {
		q->unmatched++;
		goto out;
	}
	d = base_details(q);
	json_object_set_new(d, "fingerprint", serve_jstr(a->fingerprint));
	json_object_set_new(d, "starts_at", serve_jstr(a->starts_at));
	json_object_set_new(d, "status", serve_jstr(a->status));
	if (m.route != NULL) {
		q->matched++;
		json_object_set_new(d, "route", json_string(m.route->name));
		json_object_set_new(d, "runbook", serve_jstr(m.route->runbook));
	}
	if (r != 0) {
		q->rejected++;
		json_object_set_new(d, "reason", serve_jstr(err.msg));
		add_audit(q, "webhook.rejected",
		    m.route != NULL ? m.route->name : NULL, d);
		goto out;
	}
	rb_wh_alert_json(&alert, &a->view, q->kind);
	o = add_op(q, OP_ENQUEUE);
	o->actor = xstrfmt("webhook:%s/%s", q->ip, m.route->name);
	o->details = d;
	o->route = xstrdup(m.route->name);
	o->runbook = m.runbook;
	o->params = m.params;
	o->dedup_key = m.dedup_key;
	o->alert = rb_buf_detach(&alert, NULL);
	o->window_ms = m.window_ms;
	m.params = m.dedup_key = NULL;
out:
	rb_wh_match_release(&m);
	rb_buf_release(&alert);
}

/* The response body of a decided hook request. */
char *
serve_hook_body(const struct req *q)
{
	json_t *o;
	char *text;

	if (q->matched == 0)
		return xstrdup("{\"matched\":0}");
	o = json_pack("{s:I,s:I,s:I,s:I,s:I}", "matched",
	    (json_int_t)q->matched, "queued", (json_int_t)q->queued,
	    "deduplicated", (json_int_t)q->dedup, "rejected",
	    (json_int_t)q->rejected, "unmatched", (json_int_t)q->unmatched);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

/* The whole body is in: authenticate, parse, route, serve_park. */
void
serve_decide_hook(struct req *q)
{
	struct rb_wh_server *s = q->srv;
	struct rb_wh_payload p = RB_WH_PAYLOAD_INIT;
	struct rb_error err = RB_ERROR_INIT;
	enum rb_wh_auth_result ar;
	const char *scheme = NULL;
	char reason[128];
	size_t i;
	int r;

	ar = rb_wh_auth_check(s->auth, conn_header, q->conn, q->body.buf,
	    q->body.len, (int64_t)time(NULL), &scheme);
	if (ar != RB_WH_AUTH_OK) {
		s->m.auth_failures[ar]++;
		snprintf(reason, sizeof(reason),
		    "authentication failed: %s (%s)",
		    rb_wh_auth_result_name(ar), scheme);
		q->www_auth = strcmp(scheme, "bearer") == 0 ? "Bearer"
		    : strcmp(scheme, "basic") == 0 ? "Basic realm=\"runbook\""
						   : NULL;
		serve_reject(q, MHD_HTTP_UNAUTHORIZED, reason, scheme);
		return;
	}
	if ((r = rb_wh_payload_parse(
		 &p, q->kind, q->body.buf, q->body.len, &err)) != 0) {
		serve_reject(q, MHD_HTTP_BAD_REQUEST, err.msg, NULL);
		goto out;
	}
	for (i = 0; i < p.nalerts; i++)
		route_alert(q, &p.alerts[i]);
	if (q->unmatched > 0) {
		json_t *d = base_details(q);

		json_object_set_new(
		    d, "alerts", json_integer((json_int_t)q->unmatched));
		add_audit(q, "webhook.unmatched", NULL, d);
	}
	s->m.alerts[AL_REJECTED] += q->rejected;
	s->m.alerts[AL_UNMATCHED] += q->unmatched;
	/*
	 * 202 when anything was accepted (queued or deduplicated), even if
	 * other alerts of the payload were rejected: the body says how many.
	 * 200 {"matched":0} when no route took any alert. 422 when routes
	 * took alerts but every one failed its param checks: a retry would
	 * fail the same way.
	 */
	if (q->matched > q->rejected) {
		q->code = MHD_HTTP_ACCEPTED;
		serve_park(q);
		goto out;
	}
	serve_set_response(q,
	    q->matched == 0 ? MHD_HTTP_OK : MHD_HTTP_UNPROCESSABLE_CONTENT,
	    "application/json", serve_hook_body(q));
	serve_answer_deferred(q);
out:
	rb_wh_payload_release(&p);
}
