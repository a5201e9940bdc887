/*
 * serve.c - the webhook listener: libmicrohttpd on runbook's own event
 * loop. It bounds each request, authenticates it, routes its alerts,
 * records the outcome durably (queue + audit in state.db), answers, and
 * hands every queued run to a child process `runbook run --queue-id ID`.
 * It never executes a step itself (STYLE 15).
 *
 * Threading: there is exactly one thread. libmicrohttpd runs in "external
 * epoll" mode (MHD_USE_EPOLL without an internal thread); its epoll fd is
 * watched by the struct rb_evloop that also carries the run children's
 * pidfds and SIGINT/SIGTERM, and MHD_run() is called from the loop. The
 * struct rb_store is therefore only ever used by the thread that opened it,
 * as store.h requires, and no lock is needed anywhere.
 *
 * Durability with group commit: a request that accepts alerts (a 202) is
 * parked with MHD_suspend_connection() once it is decided. After each
 * MHD_run() round everything decided in it is written in ONE transaction
 * (queue entries and audit records), committed (one fsync for the whole
 * round), and only then are the parked requests answered and resumed: a
 * 202 is never sent for anything that is not on disk. When the database
 * fails, the transaction is rolled back and every parked request gets 503,
 * so the sender retries. Every other answer (400, 401, 413, 422, 200
 * {"matched":0}) does not depend on the commit: it is sent at once and its
 * audit record rides along in the next round's transaction.
 *
 * Request flow (the access handler is called several times per request):
 *   1. headers: endpoint, method, framing (two Content-Length headers,
 *      Content-Length with Transfer-Encoding -> 400), declared size (413,
 *      at once to a client expecting "100 Continue", else after reading
 *      and dropping the body so the answer is not lost to a reset)
 *   2. body pieces: appended to a buffer capped at max_body; once it
 *      overflows (chunked bodies too) nothing more is kept, and the
 *      request gets 413 when it ends (MAX_DISCARD bounds the wait; the
 *      whole upload is bounded in time too)
 *   3. end of body: authenticate (401), parse (400), route each alert
 *      (param checks -> rejected), then answer or park for the commit.
 *
 * Runs: queued entries are claimed oldest first while fewer than max_runs
 * children run. An entry whose lock key (computed like the engine does) is
 * held by one of our running runs is held back until that run ends: its
 * run would only be refused (exit 5) and the alert lost.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "runbook/audit.h"
#include "runbook/evloop.h"
#include "runbook/proc.h"
#include "runbook/queue.h"
#include "runbook/store.h"
#include "runbook/strvec.h"
#include "runbook/util.h"
#include "runbook/webhook.h"
#include "runbook/banned.h"

extern char **environ;

#define SD_LISTEN_FDS_START 3
#define MAX_LOG_TEXT 512 /* outside text in logs and audit */
#define MAX_HOOK_NAME 64
#define MAX_WAIT_MS 1000 /* poll at least this often */
/*
 * After a body overflows max_body, this much more is read and dropped so
 * that the 413 can be sent once the request is complete (libmicrohttpd
 * 0.9.75 does not send a response queued in the middle of an upload).
 * A sender going beyond it has its connection closed without an answer.
 */
#define MAX_DISCARD (8 * 1024 * 1024)

static const int known_codes[] = { 200, 202, 400, 401, 404, 405, 413, 422, 500,
	503 };
#define NCODES RB_ARRAY_SIZE(known_codes)

enum alert_result { AL_QUEUED, AL_DEDUP, AL_REJECTED, AL_UNMATCHED, AL_N };
static const char *const alert_result_names[AL_N] = { "queued", "deduplicated",
	"rejected", "unmatched" };

enum run_result { RUN_STARTED, RUN_SUCCEEDED, RUN_FAILED, RUN_PAUSED, RUN_N };
static const char *const run_result_names[RUN_N] = { "started", "succeeded",
	"failed", "paused" };

/* Counters for /metrics. Label values are fixed sets, never alert data. */
struct metrics {
	uint64_t requests[NCODES + 1]; /* by known_codes; last: other */
	uint64_t alerts[AL_N];
	uint64_t runs[RUN_N];
	uint64_t auth_failures[RB_WH_AUTH_NRESULTS];
	uint64_t commits, commit_failures;
};

enum endpoint { EP_NOTFOUND, EP_HEALTH, EP_METRICS, EP_HOOK };

/* Something to write when the round commits. */
enum op_kind { OP_AUDIT, OP_ENQUEUE };
struct op {
	enum op_kind kind;
	const char *event; /* OP_AUDIT: a static name */
	char *actor;
	json_t *details;     /* OP_ENQUEUE: extended with queue_id */
	char *route;	     /* OP_ENQUEUE from here on */
	const char *runbook; /* borrowed from the router */
	char *params;
	char *alert;
	char *dedup_key;
	int64_t window_ms;
};

/* One HTTP request, from its headers until libmicrohttpd is done with it. */
struct req {
	struct rb_wh_server *srv;
	struct MHD_Connection *conn;
	enum endpoint ep;
	enum rb_wh_kind kind;
	char hook[MAX_HOOK_NAME + 1]; /* /hooks/NAME */
	char method[16];
	char *path;	     /* for logs: bounded, as received */
	char ip[NI_MAXHOST]; /* the peer's address */
	char remote[NI_MAXHOST + NI_MAXSERV + 4]; /* address:port */
	int64_t t0_us;
	struct rb_buf body; /* capped at max_body */
	bool toobig;	    /* the body overflowed max_body */
	size_t discarded;   /* bytes dropped since */
	bool decided;	    /* parked or answered */
	bool answered;
	int code;
	char *resp; /* response body (JSON or text) */
	const char *ctype;
	const char *www_auth; /* WWW-Authenticate on 401 */
	size_t matched, queued, dedup, rejected, unmatched;
	struct op *ops;
	size_t nops, aops;
	struct req *next; /* in the parked list */
};

/* A run child: `runbook run --queue-id ID`. */
struct run {
	struct rb_proc proc; /* must not move while running */
	struct rb_wh_server *srv;
	int64_t queue_id;
	char *lock_key; /* the lock its runbook takes */
	struct run *prev, *next;
};

/*
 * A claimed entry waiting because a running run holds its lock key (its
 * run would be refused, exit 5, and the alert lost). It stays claimed by
 * this process: if the listener dies, the next one puts it back.
 */
struct held {
	int64_t queue_id;
	char *lock_key;
	struct held *next;
};

struct rb_wh_server {
	struct rb_wh_serve_opts o;
	const struct rb_routes *routes;
	struct rb_wh_auth *auth;
	struct rb_wh_router *router;
	struct rb_store *st;
	struct rb_evloop *loop;
	struct MHD_Daemon *d;
	int listen_fd;				   /* ours until MHD takes it */
	int epoll_fd;				   /* MHD's, watched by loop */
	char address[NI_MAXHOST + NI_MAXSERV + 4]; /* host:port */
	char *exe;
	char *state_dir;
	struct rb_strvec child_env; /* environment of run children */
	size_t max_body;
	int max_runs;

	struct req *parked, **parked_tail;
	struct op *later; /* audit records of answered requests */
	size_t nlater, alater;
	size_t inflight; /* requests not yet completed */
	struct run *runs;
	size_t nrunning;
	struct held *held; /* FIFO of claimed, waiting entries */
	size_t nheld;
	bool want_claim; /* the queue may have work */
	bool claim_error_logged;

	int signals; /* SIGINT/SIGTERM received */
	bool draining;
	int64_t drain_deadline_ms;
	struct metrics m;
};

/* ------------------------------------------------------------------ */
/* Logging */

/* A JSON string of at most max bytes of s; invalid UTF-8 as \xNN text. */
static json_t *
jtext(const char *s, size_t len, size_t max)
{
	struct rb_buf b = RB_BUF_INIT;
	json_t *j;
	size_t i;

	if (s == NULL)
		return json_null();
	if (len > max)
		len = max;
	if ((j = json_stringn(s, len)) != NULL)
		return j;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f)
			rb_buf_addch(&b, c);
		else
			rb_buf_addf(&b, "\\x%02x", c);
	}
	j = json_stringn(b.buf, b.len);
	rb_buf_release(&b);
	return j;
}

static json_t *
jstr(const char *s)
{
	return jtext(s, s != NULL ? strlen(s) : 0, MAX_LOG_TEXT);
}

/* Emit one log line: {"ts","level","msg", fields...}; takes fields. */
static void
slog(const struct rb_wh_server *s, enum rb_wh_log_level level, const char *msg,
    json_t *fields)
{
	static const char *const names[] = { "info", "warning", "error" };
	char ts[40];
	json_t *o;
	char *line;

	if (s->o.log == NULL) {
		json_decref(fields);
		return;
	}
	rb_time_format(ts, sizeof(ts), rb_wall_ms());
	o = json_object();
	json_object_set_new(o, "ts", json_string(ts));
	json_object_set_new(o, "level", json_string(names[level]));
	json_object_set_new(o, "msg", jstr(msg));
	if (fields != NULL) {
		json_object_update(o, fields);
		json_decref(fields);
	}
	line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
	json_decref(o);
	if (line != NULL)
		s->o.log(level, line, s->o.payload);
	free(line);
}

/* libmicrohttpd's own messages, as warnings. */
static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct rb_wh_server *s = cls;
	char text[512];
	size_t n;

	vsnprintf(text, sizeof(text), fmt, ap);
	n = strlen(text);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		text[--n] = '\0';
	slog(s, RB_WH_LOG_WARN, "libmicrohttpd",
	    json_pack("{s:o}", "detail", jstr(text)));
}

/* ------------------------------------------------------------------ */
/* Requests: answering */

static void
count_code(struct rb_wh_server *s, int code)
{
	size_t i;

	for (i = 0; i < NCODES; i++)
		if (known_codes[i] == code)
			break;
	s->m.requests[i]++;
}

/* Queue req's response on its connection (suspended or in the handler). */
static enum MHD_Result
send_response(struct req *q)
{
	struct MHD_Response *resp;
	const char *body = q->resp != NULL ? q->resp : "";
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(
	    strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    q->ctype != NULL ? q->ctype : "application/json");
	MHD_add_response_header(
	    resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (q->code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
		    q->ep == EP_HOOK ? "POST" : "GET, HEAD");
	if (q->code == MHD_HTTP_UNAUTHORIZED && q->www_auth != NULL)
		MHD_add_response_header(
		    resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, q->www_auth);
	ret = MHD_queue_response(q->conn, (unsigned int)q->code, resp);
	MHD_destroy_response(resp);
	q->answered = true;
	count_code(q->srv, q->code);
	return ret;
}

static void
set_response(struct req *q, int code, const char *ctype, char *body)
{
	free(q->resp);
	q->code = code;
	q->ctype = ctype;
	q->resp = body;
}

/* {"error": reason} as a response body. */
static char *
error_body(const char *reason)
{
	json_t *o = json_pack("{s:o}", "error", jstr(reason));
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s;
}

/* Answer now, from the handler, without recording anything. */
static enum MHD_Result
answer_now(struct req *q, int code, const char *ctype, char *body)
{
	set_response(q, code, ctype, body);
	q->decided = true;
	return send_response(q);
}

/* Park a decided request until the round's commit. */
static void
park(struct req *q)
{
	struct rb_wh_server *s = q->srv;

	q->decided = true;
	q->next = NULL;
	*s->parked_tail = q;
	s->parked_tail = &q->next;
	MHD_suspend_connection(q->conn);
}

/* Free what an op owns. */
static void
op_release(struct op *o)
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

static void
ops_free(struct req *q)
{
	size_t i;

	for (i = 0; i < q->nops; i++)
		op_release(&q->ops[i]);
	free(q->ops);
	q->ops = NULL;
	q->nops = q->aops = 0;
}

/* Details every webhook audit record carries. */
static json_t *
base_details(const struct req *q)
{
	return json_pack("{s:s,s:o}", "kind", rb_wh_kind_name(q->kind), "path",
	    jstr(q->path));
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
 * Answer a request whose answer does not depend on the commit (anything
 * but 202) at once, from the handler; its audit records are written by the
 * next commit round. Answering before the request body was read (a 413 on
 * Content-Length) without delay also spares "Expect: 100-continue" clients
 * from sending the body.
 */
static void
answer_deferred(struct req *q)
{
	struct rb_wh_server *s = q->srv;
	size_t i;

	for (i = 0; i < q->nops; i++) {
		RB_ALLOC_GROW(s->later, s->nlater + 1, s->alater);
		s->later[s->nlater++] = q->ops[i];
	}
	q->nops = 0;
	q->decided = true;
	if (send_response(q) != MHD_YES)
		slog(s, RB_WH_LOG_WARN, "cannot queue a response",
		    json_pack("{s:s}", "remote", q->remote));
}

/*
 * Refuse the whole request with code and reason, audited as
 * webhook.rejected.
 */
static void
reject(struct req *q, int code, const char *reason, const char *scheme)
{
	json_t *d = base_details(q);

	json_object_set_new(d, "code", json_integer(code));
	json_object_set_new(d, "reason", jstr(reason));
	if (scheme != NULL)
		json_object_set_new(d, "scheme", json_string(scheme));
	add_audit(q, "webhook.rejected", NULL, d);
	set_response(q, code, "application/json", error_body(reason));
	answer_deferred(q);
}

/* ------------------------------------------------------------------ */
/* Requests: deciding */

/* Header lookup for rb_wh_auth_check (payload: the connection). */
static const char *
conn_header(const char *name, void *payload)
{
	return MHD_lookup_connection_value(payload, MHD_HEADER_KIND, name);
}

struct framing {
	int ncl, nte;
	const char *cl, *te;
};

static enum MHD_Result
count_framing(
    void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct framing *f = cls;

	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		f->ncl++;
		f->cl = value;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		f->nte++;
		f->te = value;
	}
	return MHD_YES;
}

/*
 * Headers of a hook request: refuse ambiguous framing (libmicrohttpd
 * 0.9.75 takes the first of two Content-Length headers) and declared
 * bodies over max_body. Returns true when the request was decided.
 */
static bool
check_framing(struct req *q)
{
	struct framing f = { 0, 0, NULL, NULL };
	long long cl;

	MHD_get_connection_values(q->conn, MHD_HEADER_KIND, count_framing, &f);
	if (f.ncl > 1) {
		reject(q, MHD_HTTP_BAD_REQUEST,
		    "more than one Content-Length header", NULL);
		return true;
	}
	if (f.ncl > 0 && f.nte > 0) {
		reject(q, MHD_HTTP_BAD_REQUEST,
		    "both Content-Length and Transfer-Encoding", NULL);
		return true;
	}
	if (f.nte > 1 || (f.nte == 1 && strcasecmp(f.te, "chunked") != 0)) {
		reject(q, MHD_HTTP_BAD_REQUEST, "unsupported Transfer-Encoding",
		    NULL);
		return true;
	}
	if (f.ncl == 1 && rb_parse_int(&cl, f.cl, 0, LLONG_MAX) != 0) {
		reject(q, MHD_HTTP_BAD_REQUEST, "bad Content-Length", NULL);
		return true;
	}
	if (f.ncl == 1 && (unsigned long long)cl > q->srv->max_body) {
		/*
		 * A client waiting for "100 Continue" sends nothing more:
		 * refuse now. One already sending the body would see its
		 * connection reset by a close with unread data, losing the
		 * answer: read and drop the body first, up to MAX_DISCARD.
		 */
		if (MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND,
			MHD_HTTP_HEADER_EXPECT) != NULL ||
		    (unsigned long long)cl - q->srv->max_body > MAX_DISCARD) {
			reject(q, MHD_HTTP_CONTENT_TOO_LARGE,
			    "body larger than max_body", NULL);
			return true;
		}
		q->toobig = true;
		rb_buf_release(&q->body);
	}
	return false;
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
	json_object_set_new(d, "fingerprint", jstr(a->fingerprint));
	json_object_set_new(d, "starts_at", jstr(a->starts_at));
	json_object_set_new(d, "status", jstr(a->status));
	if (m.route != NULL) {
		q->matched++;
		json_object_set_new(d, "route", json_string(m.route->name));
		json_object_set_new(d, "runbook", jstr(m.route->runbook));
	}
	if (r != 0) {
		q->rejected++;
		json_object_set_new(d, "reason", jstr(err.msg));
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
static char *
hook_body(const struct req *q)
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

/* The whole body is in: authenticate, parse, route, park. */
static void
decide_hook(struct req *q)
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
		reject(q, MHD_HTTP_UNAUTHORIZED, reason, scheme);
		return;
	}
	if ((r = rb_wh_payload_parse(
		 &p, q->kind, q->body.buf, q->body.len, &err)) != 0) {
		reject(q, MHD_HTTP_BAD_REQUEST, err.msg, NULL);
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
		park(q);
		goto out;
	}
	set_response(q,
	    q->matched == 0 ? MHD_HTTP_OK : MHD_HTTP_UNPROCESSABLE_CONTENT,
	    "application/json", hook_body(q));
	answer_deferred(q);
out:
	rb_wh_payload_release(&p);
}

/* ------------------------------------------------------------------ */
/* Requests: GET endpoints */

static char *
metrics_text(struct rb_wh_server *s)
{
	struct rb_buf b = RB_BUF_INIT;
	int64_t depth = 0;
	size_t i;

#define HEAD(name, type, help)                                                 \
	rb_buf_addf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type)
	HEAD("runbook_webhook_requests_total", "counter",
	    "Webhook listener HTTP requests by response code.");
	for (i = 0; i < NCODES; i++)
		rb_buf_addf(&b,
		    "runbook_webhook_requests_total{code=\"%d\"} %llu\n",
		    known_codes[i], (unsigned long long)s->m.requests[i]);
	rb_buf_addf(&b, "runbook_webhook_requests_total{code=\"other\"} %llu\n",
	    (unsigned long long)s->m.requests[NCODES]);
	HEAD("runbook_webhook_alerts_total", "counter",
	    "Alerts received, by what happened to them.");
	for (i = 0; i < AL_N; i++)
		rb_buf_addf(&b,
		    "runbook_webhook_alerts_total{result=\"%s\"} %llu\n",
		    alert_result_names[i], (unsigned long long)s->m.alerts[i]);
	HEAD("runbook_webhook_auth_failures_total", "counter",
	    "Requests refused by authentication, by reason.");
	for (i = 1; i < RB_WH_AUTH_NRESULTS; i++)
		rb_buf_addf(&b,
		    "runbook_webhook_auth_failures_total{reason=\"%s\"} %llu\n",
		    rb_wh_auth_result_name(i),
		    (unsigned long long)s->m.auth_failures[i]);
	HEAD("runbook_runs_total", "counter",
	    "Runs handed to child processes, and how they ended.");
	for (i = 0; i < RUN_N; i++)
		rb_buf_addf(&b, "runbook_runs_total{result=\"%s\"} %llu\n",
		    run_result_names[i], (unsigned long long)s->m.runs[i]);
	HEAD("runbook_runs_running", "gauge", "Run children running now.");
	rb_buf_addf(&b, "runbook_runs_running %zu\n", s->nrunning);
	HEAD("runbook_webhook_commits_total", "counter",
	    "State database transactions of accepted requests.");
	rb_buf_addf(&b, "runbook_webhook_commits_total %llu\n",
	    (unsigned long long)s->m.commits);
	HEAD("runbook_webhook_commit_failures_total", "counter",
	    "Transactions that failed (their requests got 503).");
	rb_buf_addf(&b, "runbook_webhook_commit_failures_total %llu\n",
	    (unsigned long long)s->m.commit_failures);
	if (rb_queue_count(&depth, s->st, "queued") == 0) {
		HEAD("runbook_queue_depth", "gauge",
		    "Queued runs waiting for a free run slot.");
		rb_buf_addf(&b, "runbook_queue_depth %lld\n", (long long)depth);
	}
#undef HEAD
	return rb_buf_detach(&b, NULL);
}

static enum MHD_Result
answer_get(struct req *q)
{
	struct rb_wh_server *s = q->srv;
	int64_t n;

	if (q->ep == EP_METRICS)
		return answer_now(q, MHD_HTTP_OK,
		    "text/plain; version=0.0.4; charset=utf-8",
		    metrics_text(s));
	if (s->draining)
		return answer_now(q, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "text/plain; charset=utf-8", xstrdup("shutting down\n"));
	if (rb_queue_count(&n, s->st, "queued") != 0) {
		slog(s, RB_WH_LOG_ERROR, "health check failed",
		    json_pack(
			"{s:o}", "error", jstr(rb_store_error(s->st)->msg)));
		return answer_now(q, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "text/plain; charset=utf-8",
		    xstrdup("state database unavailable\n"));
	}
	return answer_now(
	    q, MHD_HTTP_OK, "text/plain; charset=utf-8", xstrdup("ok\n"));
}

/* ------------------------------------------------------------------ */
/* Requests: the access handler */

static bool
valid_hook_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > MAX_HOOK_NAME)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			(i > 0 && (c == '_' || c == '-'))))
			return false;
	}
	return true;
}

static void
classify(struct req *q, const char *url)
{
	q->ep = EP_NOTFOUND;
	q->kind = RB_WH_ALERTMANAGER;
	if (strcmp(url, "/healthz") == 0)
		q->ep = EP_HEALTH;
	else if (strcmp(url, "/metrics") == 0)
		q->ep = EP_METRICS;
	else if (strcmp(url, "/") == 0 || strcmp(url, "/alertmanager") == 0)
		q->ep = EP_HOOK;
	else if (strcmp(url, "/grafana") == 0) {
		q->ep = EP_HOOK;
		q->kind = RB_WH_GRAFANA;
	} else if (strncmp(url, "/hooks/", 7) == 0 &&
	    valid_hook_name(url + 7)) {
		q->ep = EP_HOOK;
		q->kind = RB_WH_GENERIC;
		snprintf(q->hook, sizeof(q->hook), "%s", url + 7);
	}
}

static void
peer_address(struct req *q)
{
	const union MHD_ConnectionInfo *ci;
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	socklen_t len;

	snprintf(q->ip, sizeof(q->ip), "unknown");
	snprintf(q->remote, sizeof(q->remote), "unknown");
	ci = MHD_get_connection_info(
	    q->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return;
	len = ci->client_addr->sa_family == AF_INET6
	    ? sizeof(struct sockaddr_in6)
	    : sizeof(struct sockaddr_in);
	if (getnameinfo(ci->client_addr, len, host, sizeof(host), serv,
		sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return;
	snprintf(q->ip, sizeof(q->ip), "%s", host);
	if (ci->client_addr->sa_family == AF_INET6)
		snprintf(q->remote, sizeof(q->remote), "[%s]:%s", host, serv);
	else
		snprintf(q->remote, sizeof(q->remote), "%s:%s", host, serv);
}

static struct req *
req_new(struct rb_wh_server *s, struct MHD_Connection *conn, const char *url,
    const char *method)
{
	struct req *q = xcalloc(1, sizeof(*q));

	q->srv = s;
	q->conn = conn;
	q->t0_us = rb_now_us();
	q->path = xstrndup(url, MAX_LOG_TEXT);
	snprintf(q->method, sizeof(q->method), "%s", method);
	rb_buf_init(&q->body, 0);
	rb_buf_setcap(&q->body, s->max_body);
	peer_address(q);
	classify(q, url);
	s->inflight++;
	return q;
}

static void
req_free(struct req *q)
{
	if (q == NULL)
		return;
	q->srv->inflight--;
	ops_free(q);
	rb_buf_release(&q->body);
	free(q->path);
	free(q->resp);
	free(q);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct rb_wh_server *s = cls;
	struct req *q = *con_cls;

	(void)version;
	if (q == NULL) {
		q = req_new(s, conn, url, method);
		*con_cls = q;
		if (q->ep == EP_NOTFOUND)
			return answer_now(q, MHD_HTTP_NOT_FOUND,
			    "application/json", error_body("no such path"));
		if (q->ep != EP_HOOK) {
			if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
			    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
				return answer_now(q,
				    MHD_HTTP_METHOD_NOT_ALLOWED,
				    "application/json",
				    error_body("method not allowed"));
			return answer_get(q);
		}
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return answer_now(q, MHD_HTTP_METHOD_NOT_ALLOWED,
			    "application/json",
			    error_body("method not allowed: use POST"));
		(void)check_framing(q);
		return MHD_YES;
	}
	if (q->decided) {
		/* Parked or answered: discard whatever still arrives. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		/*
		 * libmicrohttpd's timeout is per idle period: a body trickling
		 * in a byte at a time never trips it. Bound the whole upload.
		 */
		if (rb_now_us() - q->t0_us >
		    (int64_t)s->o.connection_timeout_s * 3 * 1000000) {
			slog(s, RB_WH_LOG_WARN, "request body too slow: closed",
			    json_pack("{s:s}", "remote", q->remote));
			return MHD_NO;
		}
		if (q->toobig) {
			q->discarded += *upload_data_size;
			*upload_data_size = 0;
			return q->discarded > MAX_DISCARD ? MHD_NO : MHD_YES;
		}
		if (rb_buf_add(&q->body, upload_data, *upload_data_size) != 0) {
			/* Over max_body (chunked, or more than declared):
			 * keep nothing more, answer 413 at the end. */
			q->toobig = true;
			q->discarded = *upload_data_size;
			rb_buf_release(&q->body);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (q->toobig) {
		reject(q, MHD_HTTP_CONTENT_TOO_LARGE,
		    "body larger than max_body", NULL);
		return MHD_YES;
	}
	decide_hook(q);
	return MHD_YES;
}

/* libmicrohttpd is done with a request: log it and free it. */
static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	static const char *const toes[] = { "completed", "error", "timeout",
		"shutdown", "read error", "client abort" };
	struct rb_wh_server *s = cls;
	struct req *q = *con_cls;
	json_t *f;

	(void)conn;
	if (q == NULL)
		return;
	*con_cls = NULL;
	f = json_pack("{s:s,s:o,s:o,s:i,s:I,s:I,s:I,s:I,s:f}", "remote",
	    q->remote, "method", jstr(q->method), "path", jstr(q->path), "code",
	    q->answered ? q->code : 0, "matched", (json_int_t)q->matched,
	    "queued", (json_int_t)q->queued, "deduplicated",
	    (json_int_t)q->dedup, "rejected", (json_int_t)q->rejected,
	    "duration_ms", (double)(rb_now_us() - q->t0_us) / 1000.0);
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK &&
	    (size_t)toe < RB_ARRAY_SIZE(toes))
		json_object_set_new(f, "termination", json_string(toes[toe]));
	slog(s, RB_WH_LOG_INFO, "request", f);
	req_free(q);
}

/* ------------------------------------------------------------------ */
/* The commit round */

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
static bool
commit_round(struct rb_wh_server *s)
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
		slog(s, RB_WH_LOG_ERROR, "cannot record webhook requests",
		    json_pack("{s:o,s:o,s:I}", "error", jstr(err.msg), "hint",
			jstr(err.hint), "lost_audit_records",
			(json_int_t)s->nlater));
	}
	for (i = 0; i < s->nlater; i++)
		op_release(&s->later[i]);
	s->nlater = 0;
	for (q = list; q != NULL; q = next) {
		next = q->next;
		if (ok) {
			s->m.alerts[AL_QUEUED] += q->queued;
			s->m.alerts[AL_DEDUP] += q->dedup;
			if (q->queued > 0)
				s->want_claim = true;
			set_response(q, MHD_HTTP_ACCEPTED, "application/json",
			    hook_body(q));
		} else {
			q->queued = q->dedup = 0;
			set_response(q, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "application/json",
			    error_body("the state database "
				       "is unavailable; retry later"));
		}
		if (send_response(q) != MHD_YES)
			slog(s, RB_WH_LOG_WARN, "cannot queue a response",
			    json_pack("{s:s}", "remote", q->remote));
		MHD_resume_connection(q->conn);
	}
	return list != NULL;
}

/* ------------------------------------------------------------------ */
/* Runs */

static void run_done(
    struct rb_proc *proc, struct rb_proc_result *res, void *payload);

static void
run_unlink(struct rb_wh_server *s, struct run *run)
{
	if (run->prev != NULL)
		run->prev->next = run->next;
	else
		s->runs = run->next;
	if (run->next != NULL)
		run->next->prev = run->prev;
	s->nrunning--;
}

/* Start the child for claimed entry id; takes lock_key. */
static void
run_start(struct rb_wh_server *s, int64_t id, char *lock_key)
{
	struct run *run = xcalloc(1, sizeof(*run));
	struct rb_error err = RB_ERROR_INIT;
	size_t i;

	rb_proc_init(&run->proc);
	run->srv = s;
	run->queue_id = id;
	run->lock_key = lock_key;
	rb_strvec_push(&run->proc.args, s->exe);
	rb_strvec_push(&run->proc.args, "run");
	rb_strvec_push(&run->proc.args, "--queue-id");
	rb_strvec_pushf(&run->proc.args, "%lld", (long long)id);
	rb_strvec_push(&run->proc.args, "--state");
	rb_strvec_push(&run->proc.args, s->state_dir);
	for (i = 0; i < s->child_env.nr; i++)
		rb_strvec_push(&run->proc.env, s->child_env.v[i]);
	run->proc.in = RB_PROC_DEVNULL;
	run->proc.out = STDERR_FILENO; /* the run's output: our log */
	run->proc.err = STDERR_FILENO;
	run->proc.on_done = run_done;
	run->proc.payload = run;
	if (rb_proc_start(&run->proc, s->loop, &err) != 0) {
		slog(s, RB_WH_LOG_ERROR, "cannot start run",
		    json_pack("{s:I,s:o}", "queue_id", (json_int_t)id, "error",
			jstr(err.msg)));
		if (rb_queue_mark(s->st, id, "failed", NULL) != 0)
			slog(s, RB_WH_LOG_ERROR, "cannot mark queue entry",
			    json_pack("{s:I,s:o}", "queue_id", (json_int_t)id,
				"error", jstr(rb_store_error(s->st)->msg)));
		s->m.runs[RUN_FAILED]++;
		rb_proc_release(&run->proc);
		free(run->lock_key);
		free(run);
		return;
	}
	run->next = s->runs;
	if (s->runs != NULL)
		s->runs->prev = run;
	s->runs = run;
	s->nrunning++;
	s->m.runs[RUN_STARTED]++;
	slog(s, RB_WH_LOG_INFO, "run started",
	    json_pack("{s:I,s:i}", "queue_id", (json_int_t)id, "pid",
		(int)run->proc.pid));
}

static void
run_done(struct rb_proc *proc, struct rb_proc_result *res, void *payload)
{
	struct run *run = payload;
	struct rb_wh_server *s = run->srv;
	const char *status;
	enum run_result rr;

	(void)proc;
	if (res->status == RB_EXIT_OK) {
		rr = RUN_SUCCEEDED;
		status = "done";
	} else if (res->status == RB_EXIT_PAUSED) {
		/* Waiting for `runbook approve`: the journal has it now. */
		rr = RUN_PAUSED;
		status = "done";
	} else {
		rr = RUN_FAILED;
		status = "failed";
	}
	s->m.runs[rr]++;
	if (rb_queue_mark(s->st, run->queue_id, status, NULL) != 0)
		slog(s, RB_WH_LOG_ERROR, "cannot mark queue entry",
		    json_pack("{s:I,s:o}", "queue_id",
			(json_int_t)run->queue_id, "error",
			jstr(rb_store_error(s->st)->msg)));
	slog(s, rr == RUN_FAILED ? RB_WH_LOG_WARN : RB_WH_LOG_INFO,
	    "run finished",
	    json_pack("{s:I,s:i,s:i,s:s,s:I}", "queue_id",
		(json_int_t)run->queue_id, "pid", (int)proc->pid, "exit",
		res->status, "result", run_result_names[rr], "duration_ms",
		(json_int_t)(res->end_ms - res->start_ms)));
	run_unlink(s, run);
	rb_proc_release(&run->proc);
	free(run->lock_key);
	free(run);
	s->want_claim = true;
}

/* Whether a running run holds (or will take) lock key. */
static bool
lock_busy(const struct rb_wh_server *s, const char *key)
{
	const struct run *run;

	for (run = s->runs; run != NULL; run = run->next)
		if (strcmp(run->lock_key, key) == 0)
			return true;
	return false;
}

/* The lock key of a claimed entry (see rb_wh_lock_key()). */
static char *
entry_lock_key(struct rb_wh_server *s, const struct rb_queue_entry *e)
{
	const struct rb_runbook *rb =
	    rb_wh_router_runbook(s->router, e->runbook);
	struct rb_buf key = RB_BUF_INIT;

	if (rb == NULL)
		/* Not one of ours (another listener's routes): by file. */
		rb_buf_adds(&key, e->runbook);
	else
		rb_wh_lock_key(&key, rb, e->params, e->alert);
	return rb_buf_detach(&key, NULL);
}

/* Start held entries whose lock is free, oldest first. */
static void
start_held(struct rb_wh_server *s)
{
	struct held **pp = &s->held, *h;

	while ((h = *pp) != NULL && s->nrunning < (size_t)s->max_runs) {
		if (lock_busy(s, h->lock_key)) {
			pp = &h->next;
			continue;
		}
		*pp = h->next;
		s->nheld--;
		run_start(s, h->queue_id, h->lock_key);
		free(h);
	}
}

static void
hold(struct rb_wh_server *s, int64_t id, char *key)
{
	struct held *h = xcalloc(1, sizeof(*h)), **pp = &s->held;

	h->queue_id = id;
	h->lock_key = key;
	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = h;
	s->nheld++;
	slog(s, RB_WH_LOG_INFO,
	    "run waits for a running run with the same lock",
	    json_pack("{s:I}", "queue_id", (json_int_t)id));
}

/*
 * Start queued runs while there is room: first the held entries whose lock
 * came free, then newly claimed ones (held instead when their lock is
 * taken; at most max_runs are held, keeping the rest in the queue).
 */
static void
claim_runs(struct rb_wh_server *s)
{
	struct rb_queue_entry e = RB_QUEUE_ENTRY_INIT;
	char *key;
	int r;

	if (s->draining)
		return;
	start_held(s);
	while (s->want_claim && s->nrunning < (size_t)s->max_runs &&
	    s->nheld < (size_t)s->max_runs) {
		r = rb_queue_claim(&e, s->st);
		if (r == RB_ENOTFOUND) {
			s->want_claim = false;
			break;
		}
		if (r != 0) {
			/* Try again on the next event (a request or a run
			 * that ends); log only the first failure. */
			if (!s->claim_error_logged)
				slog(s, RB_WH_LOG_ERROR,
				    "cannot claim a queued run",
				    json_pack("{s:o}", "error",
					jstr(rb_store_error(s->st)->msg)));
			s->claim_error_logged = true;
			s->want_claim = false;
			break;
		}
		s->claim_error_logged = false;
		slog(s, RB_WH_LOG_INFO, "claimed queue entry",
		    json_pack("{s:I,s:o,s:o}", "queue_id", (json_int_t)e.id,
			"route", jstr(e.route), "runbook", jstr(e.runbook)));
		key = entry_lock_key(s, &e);
		if (lock_busy(s, key))
			hold(s, e.id, key);
		else
			run_start(s, e.id, key);
		rb_queue_entry_release(&e);
	}
}

/* ------------------------------------------------------------------ */
/* Start-up */

/* Whether a bound address is on loopback (127/8, ::1, ::ffff:127/104). */
static bool
is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		const unsigned char *b = in6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 127;
	}
	return false;
}

static void
format_address(
    char *out, size_t outsz, const struct sockaddr_storage *ss, socklen_t len)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getnameinfo((const struct sockaddr *)ss, len, host, sizeof(host),
		serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(out, outsz, "unknown");
	else if (ss->ss_family == AF_INET6)
		snprintf(out, outsz, "[%s]:%s", host, serv);
	else
		snprintf(out, outsz, "%s:%s", host, serv);
}

/* Split HOST:PORT or [V6]:PORT. */
static int
split_listen(char *host, size_t hostsz, char *port, size_t portsz,
    const char *listen, struct rb_error *err)
{
	const char *colon = strrchr(listen, ':');
	const char *h = listen;
	size_t hl;
	long long pn;

	if (colon == NULL || colon == listen)
		goto bad;
	hl = (size_t)(colon - listen);
	if (listen[0] == '[') {
		if (hl < 3 || colon[-1] != ']')
			goto bad;
		h = listen + 1;
		hl -= 2;
	} else if (memchr(listen, ':', hl) != NULL)
		goto bad;
	if (hl >= hostsz || rb_parse_int(&pn, colon + 1, 0, 65535) != 0)
		goto bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, portsz, "%lld", pn);
	return 0;
bad:
	rb_error_set(err, RB_EINVAL, "invalid listen address '%s'", listen);
	rb_error_hint(err, "use HOST:PORT like 127.0.0.1:9095 or [::1]:9095");
	return RB_EINVAL;
}

static int
set_fd_flags(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -1;
	return 0;
}

/* The socket systemd passed (fd 3), or -1 when not socket-activated. */
static int
activated_socket(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	long long p, n;

	if (pid == NULL || fds == NULL ||
	    rb_parse_int(&p, pid, 1, INT_MAX) != 0 ||
	    p != (long long)getpid() || rb_parse_int(&n, fds, 1, INT_MAX) != 0)
		return -1;
	return SD_LISTEN_FDS_START;
}

/* Bind and listen on addr, or take systemd's socket. */
static int
open_listener(struct rb_wh_server *s, const char *addr, bool *out_loopback,
    struct rb_error *err)
{
	struct addrinfo hints, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[256], port[16];
	int fd = -1, one = 1, gai, r;

	if ((fd = activated_socket()) >= 0) {
		if (set_fd_flags(fd) != 0 ||
		    getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
			r = rb_error_set(err, RB_EIO,
			    "cannot use the socket "
			    "passed by systemd (fd %d): %s",
			    fd, strerror(errno));
			fd = -1;
			goto out;
		}
		goto done;
	}
	if ((r = split_listen(
		 host, sizeof(host), port, sizeof(port), addr, err)) != 0)
		goto out;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	if ((gai = getaddrinfo(host, port, &hints, &res)) != 0) {
		r = rb_error_set(err, RB_EINVAL,
		    "cannot resolve listen address '%s': %s", addr,
		    gai_strerror(gai));
		goto out;
	}
	fd = socket(res->ai_family,
	    res->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, res->ai_protocol);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (res->ai_family == AF_INET6 &&
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) !=
		    0) ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
	    listen(fd, SOMAXCONN) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		r = rb_error_set(err, RB_EIO, "cannot listen on '%s': %s", addr,
		    strerror(errno));
		rb_error_hint(err,
		    "is another 'runbook serve' running? use "
		    "--listen to pick another address");
		goto out;
	}
done:
	format_address(s->address, sizeof(s->address), &ss, len);
	*out_loopback = is_loopback(&ss);
	s->listen_fd = fd;
	fd = -1;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (res != NULL)
		freeaddrinfo(res);
	return r;
}

/* The environment of run children: ours without socket activation, the
 * service manager's notification socket, or the listener's secrets. */
static void
build_child_env(struct rb_wh_server *s)
{
	static const char *const drop[] = { "LISTEN_PID", "LISTEN_FDS",
		"LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_PID",
		"WATCHDOG_USEC" };
	const char *const *secrets = rb_wh_auth_env_names(s->auth);
	char **e;
	size_t i, n;

	for (e = environ; e != NULL && *e != NULL; e++) {
		bool keep = true;

		for (i = 0; keep && i < RB_ARRAY_SIZE(drop); i++) {
			n = strlen(drop[i]);
			if (strncmp(*e, drop[i], n) == 0 && (*e)[n] == '=')
				keep = false;
		}
		for (i = 0; keep && secrets[i] != NULL; i++) {
			n = strlen(secrets[i]);
			if (strncmp(*e, secrets[i], n) == 0 && (*e)[n] == '=')
				keep = false;
		}
		if (keep)
			rb_strvec_push(&s->child_env, *e);
	}
}

static int
start_daemon(struct rb_wh_server *s, struct rb_error *err)
{
	const union MHD_DaemonInfo *info;
	unsigned int flags =
	    MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(s->listen_fd, (struct sockaddr *)&ss, &len) == 0 &&
	    ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, s, MHD_OPTION_LISTEN_SOCKET,
	    (MHD_socket)s->listen_fd, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)s->o.connection_timeout_s,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)s->o.max_connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)s->o.max_per_ip,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	    MHD_OPTION_STRICT_FOR_CLIENT, (int)1, MHD_OPTION_END);
	if (s->d == NULL)
		return rb_error_set(err, RB_EIO,
		    "cannot start the HTTP listener on '%s'", s->address);
	/* The daemon owns the socket now (closed by MHD_stop_daemon). */
	s->listen_fd = -1;
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL || info->epoll_fd < 0)
		return rb_error_set(
		    err, RB_EIO, "libmicrohttpd has no epoll descriptor");
	s->epoll_fd = info->epoll_fd;
	return 0;
}

static int
resolve_exe(struct rb_wh_server *s, struct rb_error *err)
{
	char buf[PATH_MAX];
	ssize_t n;

	if (s->o.exe != NULL) {
		s->exe = xstrdup(s->o.exe);
		return 0;
	}
	n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0)
		return rb_error_set(err, RB_EIO,
		    "cannot find the runbook binary (/proc/self/exe): %s",
		    strerror(errno));
	buf[n] = '\0';
	s->exe = xstrdup(buf);
	return 0;
}

int
rb_wh_serve_new(struct rb_wh_server **out, const struct rb_wh_serve_opts *opts,
    struct rb_diags *diags, struct rb_error *err)
{
	struct rb_wh_server *s = xcalloc(1, sizeof(*s));
	struct rb_buf dir = RB_BUF_INIT;
	bool loopback = false;
	size_t i, nrec = 0;
	int r;

	s->o = *opts;
	s->routes = opts->routes;
	s->listen_fd = -1;
	s->epoll_fd = -1;
	s->parked_tail = &s->parked;
	s->max_body = s->routes->max_body;
	s->max_runs = s->routes->max_runs > 0 ? s->routes->max_runs : 4;
	rb_strvec_init(&s->child_env);
	if ((r = rb_wh_auth_new(&s->auth, &s->routes->auth, err)) != 0 ||
	    (r = rb_wh_router_new(&s->router, s->routes, diags, err)) != 0 ||
	    (r = resolve_exe(s, err)) != 0)
		goto out;
	if ((r = rb_store_default_dir(&dir, opts->state_dir, err)) != 0 ||
	    (r = rb_store_open(&s->st, dir.buf, err)) != 0)
		goto out;
	s->state_dir = xstrdup(rb_store_dir(s->st));
	if ((r = open_listener(s,
		 opts->listen != NULL ? opts->listen : s->routes->listen,
		 &loopback, err)) != 0)
		goto out;
	if (!rb_wh_auth_configured(s->auth)) {
		if (!loopback) {
			r = rb_error_set(err, RB_EINVAL,
			    "refusing to listen on '%s' without authentication",
			    s->address);
			rb_error_hint(err,
			    "add 'auth:' to the routes file "
			    "(bearer_token_env, basic, hmac or grafana), or "
			    "listen on 127.0.0.1");
			goto out;
		}
		slog(s, RB_WH_LOG_WARN,
		    "no authentication configured: any "
		    "local process can start runbooks",
		    json_pack("{s:s}", "listen", s->address));
	}
	for (i = 0; i < s->routes->nroutes; i++)
		if (s->routes->routes[i].dedup_ms <= 0)
			slog(s, RB_WH_LOG_WARN,
			    "route has no 'dedup': every "
			    "delivery of an alert queues a run (Alertmanager "
			    "HA pairs deliver each notification twice)",
			    json_pack(
				"{s:s}", "route", s->routes->routes[i].name));
	if ((r = rb_queue_recover(&nrec, s->st)) != 0) {
		rb_error_set(err, r, "%s", rb_store_error(s->st)->msg);
		goto out;
	}
	if (nrec > 0)
		slog(s, RB_WH_LOG_INFO,
		    "requeued runs claimed by a listener that died",
		    json_pack("{s:I}", "entries", (json_int_t)nrec));
	build_child_env(s);
	s->loop = rb_evloop_new();
	if ((r = start_daemon(s, err)) != 0)
		goto out;
	s->want_claim = true;
	*out = s;
	s = NULL;
	r = 0;
out:
	rb_buf_release(&dir);
	rb_wh_serve_free(s);
	return r;
}

const char *
rb_wh_serve_address(const struct rb_wh_server *s)
{
	return s->address;
}

/* ------------------------------------------------------------------ */
/* The loop */

static void
on_epoll(struct rb_evloop *loop, int fd, int mask, void *payload)
{
	/* MHD_run() follows every round; nothing to do here. */
	(void)loop;
	(void)fd;
	(void)mask;
	(void)payload;
}

static void
on_signal(struct rb_evloop *loop, int signo, void *payload)
{
	struct rb_wh_server *s = payload;
	struct run *run;
	MHD_socket lfd;

	(void)loop;
	s->signals++;
	if (s->signals == 1) {
		s->draining = true;
		s->drain_deadline_ms =
		    rb_now_ms() + (int64_t)s->o.connection_timeout_s * 1000;
		lfd = MHD_quiesce_daemon(s->d);
		if (lfd != MHD_INVALID_SOCKET)
			close(lfd);
		slog(s, RB_WH_LOG_INFO,
		    "shutting down: no new connections; "
		    "running runs get SIGTERM",
		    json_pack("{s:s,s:I,s:I}", "signal", strsignal(signo),
			"running", (json_int_t)s->nrunning, "requests",
			(json_int_t)s->inflight));
		for (run = s->runs; run != NULL; run = run->next)
			rb_proc_kill_tree(&run->proc, s->o.shutdown_grace_ms);
		return;
	}
	slog(s, RB_WH_LOG_WARN, "second signal: stopping now",
	    json_pack("{s:s}", "signal", strsignal(signo)));
	s->drain_deadline_ms = rb_now_ms();
	for (run = s->runs; run != NULL; run = run->next)
		rb_proc_kill_tree(&run->proc, 0);
}

int
rb_wh_serve_run(struct rb_wh_server *s, struct rb_error *err)
{
	static const int sigs[] = { SIGINT, SIGTERM };
	MHD_UNSIGNED_LONG_LONG to;
	bool again = false, claim_deferred = false;
	int64_t wait;
	int r;

	if ((r = rb_evloop_watch_signals(
		 s->loop, sigs, RB_ARRAY_SIZE(sigs), on_signal, s, err)) != 0)
		return r;
	if ((r = rb_evloop_add_fd(
		 s->loop, s->epoll_fd, RB_EVLOOP_READ, on_epoll, s)) != 0) {
		rb_error_set(err, r, "cannot watch the listener");
		goto out;
	}
	slog(s, RB_WH_LOG_INFO, "listening",
	    json_pack("{s:s,s:s,s:I,s:i}", "address", s->address, "state",
		s->state_dir, "routes", (json_int_t)s->routes->nroutes,
		"max_runs", s->max_runs));
	for (;;) {
		if (again || claim_deferred)
			wait = 0;
		else if (MHD_get_timeout(s->d, &to) == MHD_YES)
			wait = to < MAX_WAIT_MS ? (int64_t)to : MAX_WAIT_MS;
		else
			wait = MAX_WAIT_MS;
		if (s->draining && wait > 100)
			wait = 100;
		if ((r = rb_evloop_run_once(s->loop, wait)) < 0 &&
		    errno != EINTR) {
			r = rb_error_set(err, RB_EIO, "event loop failed: %s",
			    strerror(errno));
			goto out;
		}
		MHD_run(s->d);
		/*
		 * Answers first: after a round resumed connections, starting
		 * runs (a claim commit and a fork) waits for one more round,
		 * in which libmicrohttpd sends the answers.
		 */
		if ((again = commit_round(s)))
			MHD_run(s->d);
		if (again && !claim_deferred)
			claim_deferred = true;
		else {
			claim_runs(s);
			claim_deferred = false;
		}
		if (s->draining && !again && !claim_deferred &&
		    s->nrunning == 0 &&
		    (s->inflight == 0 || rb_now_ms() >= s->drain_deadline_ms))
			break;
	}
	slog(s, RB_WH_LOG_INFO, "stopped",
	    json_pack("{s:I,s:I}", "requests", (json_int_t)s->inflight, "held",
		(json_int_t)s->nheld));
	r = 0;
out:
	rb_evloop_del_fd(s->loop, s->epoll_fd);
	rb_evloop_unwatch_signals(s->loop);
	if (s->d != NULL) {
		MHD_stop_daemon(s->d);
		s->d = NULL;
	}
	return r;
}

void
rb_wh_serve_free(struct rb_wh_server *s)
{
	struct run *run, *next;
	struct held *h, *hnext;
	size_t i;

	if (s == NULL)
		return;
	if (s->d != NULL)
		MHD_stop_daemon(s->d);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	for (run = s->runs; run != NULL; run = next) {
		next = run->next;
		rb_proc_release(&run->proc);
		free(run->lock_key);
		free(run);
	}
	for (h = s->held; h != NULL; h = hnext) {
		hnext = h->next;
		free(h->lock_key);
		free(h);
	}
	for (i = 0; i < s->nlater; i++)
		op_release(&s->later[i]);
	free(s->later);
	rb_evloop_free(s->loop);
	rb_store_free(s->st);
	rb_wh_router_free(s->router);
	rb_wh_auth_free(s->auth);
	rb_strvec_release(&s->child_env);
	free(s->exe);
	free(s->state_dir);
	free(s);
}
