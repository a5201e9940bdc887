/*
 * serve.c - the webhook listener: libmicrohttpd on runbook's own event
 * loop. It bounds each request, authenticates it, routes its alerts,
 * records the outcome durably (queue + audit in state.db), answers, and
 * hands every queued run to a child process `runbook run --queue-id ID`.
 * It never executes a step itself.
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

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runbook/evloop.h"
#include "runbook/queue.h"
#include "runbook/store.h"
#include "runbook/util.h"
#include "serve/serve_int.h"
#include "runbook/banned.h"

/* A JSON string of at most max bytes of s; invalid UTF-8 as \xNN text. */
static json_t *
serve_jtext(const char *s, size_t len, size_t max)
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

json_t *
serve_jstr(const char *s)
{
	return serve_jtext(s, s != NULL ? strlen(s) : 0, MAX_LOG_TEXT);
}

/* Emit one log line: {"ts","level","msg", fields...}; takes fields. */
void
serve_log(const struct rb_wh_server *s, enum rb_wh_log_level level,
    const char *msg, json_t *fields)
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
	json_object_set_new(o, "msg", serve_jstr(msg));
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
	    (r = serve_resolve_exe(s, err)) != 0)
		goto out;
	if ((r = rb_store_default_dir(&dir, opts->state_dir, err)) != 0 ||
	    (r = rb_store_open(&s->st, dir.buf, err)) != 0)
		goto out;
	s->state_dir = xstrdup(rb_store_dir(s->st));
	if ((r = serve_open_listener(s,
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
		serve_log(s, RB_WH_LOG_WARN,
		    "no authentication configured: any "
		    "local process can start runbooks",
		    json_pack("{s:s}", "listen", s->address));
	}
	for (i = 0; i < s->routes->nroutes; i++)
		if (s->routes->routes[i].dedup_ms <= 0)
			serve_log(s, RB_WH_LOG_WARN,
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
		serve_log(s, RB_WH_LOG_INFO,
		    "requeued runs claimed by a listener that died",
		    json_pack("{s:I}", "entries", (json_int_t)nrec));
	serve_build_child_env(s);
	s->loop = rb_evloop_new();
	if ((r = serve_start_daemon(s, err)) != 0)
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
		serve_log(s, RB_WH_LOG_INFO,
		    "shutting down: no new connections; "
		    "running runs get SIGTERM",
		    json_pack("{s:s,s:I,s:I}", "signal", strsignal(signo),
			"running", (json_int_t)s->nrunning, "requests",
			(json_int_t)s->inflight));
		for (run = s->runs; run != NULL; run = run->next)
			rb_proc_kill_tree(&run->proc, s->o.shutdown_grace_ms);
		return;
	}
	serve_log(s, RB_WH_LOG_WARN, "second signal: stopping now",
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
	serve_log(s, RB_WH_LOG_INFO, "listening",
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
		if ((again = serve_commit_round(s)))
			MHD_run(s->d);
		if (again && !claim_deferred)
			claim_deferred = true;
		else {
			serve_claim_runs(s);
			claim_deferred = false;
		}
		if (s->draining && !again && !claim_deferred &&
		    s->nrunning == 0 &&
		    (s->inflight == 0 || rb_now_ms() >= s->drain_deadline_ms))
			break;
	}
	serve_log(s, RB_WH_LOG_INFO, "stopped",
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
		serve_op_release(&s->later[i]);
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
