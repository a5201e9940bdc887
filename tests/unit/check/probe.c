/*
 * Unit tests for check/probe_http.c, check/probe_tcp.c and check/notify.c
 * against real peers: tests/fixtures/http/server.py started with rb_proc on
 * the same loop as the probes, and in-process sockets that listen but never
 * answer.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "runbook/buf.h"
#include "runbook/error.h"
#include "runbook/evloop.h"
#include "runbook/probe.h"
#include "runbook/proc.h"
#include "runbook/util.h"

void test_check_probe__http_status_and_body(void);
void test_check_probe__http_method_headers_body(void);
void test_check_probe__http_slow_does_not_block(void);
void test_check_probe__http_timeout_never_answers(void);
void test_check_probe__http_body_cap(void);
void test_check_probe__http_redirects(void);
void test_check_probe__http_protocols(void);
void test_check_probe__http_refused_and_redacted(void);
void test_check_probe__http_cancel(void);
void test_check_probe__http_invalid_request(void);
void test_check_probe__tcp(void);
void test_check_probe__tcp_timeout(void);
void test_check_probe__tcp_split_target(void);
void test_check_probe__notify_body_slack(void);
void test_check_probe__notify_send(void);

/* ------------------------------------------------------------- fixtures */

struct server {
	struct rb_proc proc;
	int port;
	bool done;
};

static void
server_line(struct rb_proc *proc, int stream, const char *line, size_t len,
    void *payload)
{
	struct server *s = payload;
	char buf[16];

	(void)proc;
	if (stream == RB_PROC_STDOUT && s->port == 0 && len < sizeof(buf)) {
		long long v;

		memcpy(buf, line, len);
		buf[len] = '\0';
		if (rb_parse_int(&v, buf, 1, 65535) == 0)
			s->port = (int)v;
	}
}

static void
server_done(struct rb_proc *proc, struct rb_proc_result *res, void *payload)
{
	struct server *s = payload;

	(void)proc;
	(void)res;
	s->done = true;
}

/* The fixture's path, from this file's (tests run from the top dir). */
static char *
fixture_path(void)
{
	const char *f = __FILE__;
	const char *cut = strstr(f, "unit/check/probe.c");

	return xstrfmt("%.*sfixtures/http/server.py",
	    cut ? (int)(cut - f) : 0, f);
}

/* Start server.py on loop and wait for its port. */
static int
server_start(struct server *s, struct rb_evloop *loop, const char *record)
{
	struct rb_error err = RB_ERROR_INIT;
	int64_t end = rb_now_ms() + 15000;
	char *path = fixture_path();
	int r;

	memset(s, 0, sizeof(*s));
	rb_proc_init(&s->proc);
	rb_strvec_push(&s->proc.args, "python3");
	rb_strvec_push(&s->proc.args, path);
	if (record != NULL) {
		rb_strvec_push(&s->proc.args, "--record");
		rb_strvec_push(&s->proc.args, record);
	}
	rb_strvec_push(&s->proc.env, "PATH=/usr/bin:/bin");
	s->proc.on_line = server_line;
	s->proc.on_done = server_done;
	s->proc.payload = s;
	free(path);
	if ((r = rb_proc_start(&s->proc, loop, &err)) != 0) {
		fprintf(stderr, "server: %s\n", err.msg);
		return r;
	}
	while (s->port == 0 && !s->done && rb_now_ms() < end)
		rb_evloop_run_once(loop, 100);
	return s->port != 0 ? 0 : RB_ERROR;
}

static void
server_stop(struct server *s, struct rb_evloop *loop)
{
	rb_proc_kill_tree(&s->proc, 0);
	while (!s->done)
		rb_evloop_run_once(loop, 1000);
	rb_proc_release(&s->proc);
}

/*
 * A TCP listener on 127.0.0.1 that never accepts; returns the fd. The
 * kernel completes up to backlog + 1 connections on its own.
 */
static int
silent_listener(int *port, int backlog)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, backlog) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
		return -1;
	*port = ntohs(sin.sin_port);
	return fd;
}

/* A port on 127.0.0.1 that nothing listens on. */
static int
closed_port(void)
{
	int port = 0, fd = silent_listener(&port, 0);

	close(fd);
	return port;
}

/* One finished request, copied out of the callback. */
struct got {
	bool done;
	int order;
	int code;
	long status;
	bool truncated;
	int64_t ms;
	struct rb_buf body;
	char msg[1024];
};

static int finish_seq;

static void
got_http(struct rb_http_result *res, void *payload)
{
	struct got *g = payload;
	char *body;
	size_t len;

	g->done = true;
	g->order = ++finish_seq;
	g->code = res->code;
	g->status = res->status;
	g->truncated = res->truncated;
	g->ms = res->end_ms - res->start_ms;
	body = rb_buf_detach(&res->body, &len);
	rb_buf_release(&g->body);
	rb_buf_add(&g->body, body, len);
	free(body);
	snprintf(g->msg, sizeof(g->msg), "%s", res->err.msg);
}

/* Forget an earlier result (g must be zeroed or reset before). */
static void
got_reset(struct got *g)
{
	rb_buf_release(&g->body);
	memset(g, 0, sizeof(*g));
	rb_buf_init(&g->body, 0);
}

/* Run loop until g is done or ms passed. */
static bool
wait_for(struct rb_evloop *loop, struct got *g, int ms)
{
	int64_t end = rb_now_ms() + ms;

	while (!g->done && rb_now_ms() < end)
		rb_evloop_run_once(loop, 100);
	return g->done;
}

/* GET url on http and wait for the answer. */
static void
fetch(struct rb_evloop *loop, struct rb_http *http, struct got *g,
    struct rb_http_request *req)
{
	struct rb_error err = RB_ERROR_INIT;

	got_reset(g);
	req->on_done = got_http;
	req->payload = g;
	if (rb_http_start(NULL, http, req, &err) != 0) {
		g->code = err.code;
		snprintf(g->msg, sizeof(g->msg), "%s", err.msg);
		g->done = true;
		return;
	}
	(void)wait_for(loop, g, 20000);
}

/* ------------------------------------------------------------------ HTTP */

void
test_check_probe__http_status_and_body(void)
{
	struct rb_http_request req = RB_HTTP_REQUEST_INIT;
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_error err = RB_ERROR_INIT;
	struct rb_http *http = NULL;
	struct server s;
	struct got g = { 0 };
	char url[128];

	T_EQ_INT(server_start(&s, loop, NULL), 0);
	T_EQ_INT(rb_http_new(&http, loop, &err), 0);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", s.port);
	req.url = url;
	fetch(loop, http, &g, &req);
	T_EQ_INT(g.code, 0);
	T_EQ_INT(g.status, 200);
	T_EQ_STR(g.body.buf, "ok");
	T_ASSERT(g.ms >= 0 && g.ms < 5000);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/status/503", s.port);
	fetch(loop, http, &g, &req);
	T_EQ_INT(g.code, 0);	/* a status is not a transport error */
	T_EQ_INT(g.status, 503);
	T_EQ_STR(g.body.buf, "status 503");

	req.require_2xx = true;
	fetch(loop, http, &g, &req);
	T_EQ_INT(g.code, RB_ERROR);
	T_EQ_INT(g.status, 503);
	T_CONTAINS(g.msg, "unexpected status 503 from 'http://127.0.0.1:");
	T_CONTAINS(g.msg, "/status/503': status 503");
	req.require_2xx = false;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", s.port);
	req.method = "HEAD";
	fetch(loop, http, &g, &req);
	T_EQ_INT(g.code, 0);
	T_EQ_INT(g.status, 200);
	T_EQ_INT(g.body.len, 0);

	rb_buf_release(&g.body);
	rb_http_free(http);
	server_stop(&s, loop);
	/* Nothing of the client or the server is left on the loop. */
	T_EQ_INT(rb_evloop_run(loop), 0);
	rb_evloop_free(loop);
}

void
test_check_probe__http_method_headers_body(void)
{
	struct rb_http_request req = RB_HTTP_REQUEST_INIT;
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_error err = RB_ERROR_INIT;
	struct rb_strvec headers = RB_STRVEC_INIT;
	struct rb_http *http = NULL;
	struct server s;
	struct got g = { 0 };
	char url[128];

	T_EQ_INT(server_start(&s, loop, NULL), 0);
	T_EQ_INT(rb_http_new(&http, loop, &err), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", s.port);
	rb_strvec_push(&headers, "X-Runbook-Test: yes");
	rb_strvec_push(&headers, "Content-Type: application/json");

	req.url = url;
	req.method = "PUT";
	req.headers = &headers;
	req.body = "{\"a\":1}";
	req.body_len = 7;
	fetch(loop, http, &g, &req);
	T_EQ_INT(g.code, 0);
	T_EQ_INT(g.status, 200);
	T_CONTAINS(g.body.buf, "\"method\": \"PUT\"");
	T_CONTAINS(g.body.buf, "\"body\": \"{\\\"a\\\":1}\"");
	T_CONTAINS(g.body.buf, "\"x-runbook-test\": \"yes\"");
	T_CONTAINS(g.body.buf, "\"content-type\": \"application/json\"");
	T_CONTAINS(g.body.buf, "\"user-agent\": \"runbook/");
	T_ASSERT(strstr(g.body.buf, "100-continue") == NULL);

	/* A body without a method is a POST; POST without a body works. */
	req.method = NULL;
	fetch(loop, http, &g, &req);
	T_CONTAINS(g.body.buf, "\"method\": \"POST\"");
	req.method = "POST";
	req.body = NULL;
	req.body_len = 0;
	fetch(loop, http, &g, &req);
	T_CONTAINS(g.body.buf, "\"method\": \"POST\"");
	T_CONTAINS(g.body.buf, "\"body\": \"\"");
	req.method = "DELETE";
	fetch(loop, http, &g, &req);
	T_CONTAINS(g.body.buf, "\"method\": \"DELETE\"");

	rb_buf_release(&g.body);
	rb_strvec_release(&headers);
	rb_http_free(http);
	server_stop(&s, loop);
	rb_evloop_free(loop);
}

struct order {
	int proc_order;
};

static void
proc_finished(struct rb_proc *proc, struct rb_proc_result *res, void *payload)
{
	struct order *o = payload;

	(void)proc;
	(void)res;
	o->proc_order = ++finish_seq;
}

void
test_check_probe__http_slow_does_not_block(void)
{
	struct rb_http_request req = RB_HTTP_REQUEST_INIT;
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_error err = RB_ERROR_INIT;
	struct rb_http *http = NULL;
	struct rb_proc p;
	struct order o = { 0 };
	struct server s;
	struct got slow = { 0 }, fast = { 0 };
	char url1[128], url2[128];
	int64_t t0;

	T_EQ_INT(server_start(&s, loop, NULL), 0);
	T_EQ_INT(rb_http_new(&http, loop, &err), 0);
	finish_seq = 0;
	snprintf(url1, sizeof(url1), "http://127.0.0.1:%d/slow/1000", s.port);
	snprintf(url2, sizeof(url2), "http://127.0.0.1:%d/health", s.port);

	req.url = url1;
	req.on_done = got_http;
	req.payload = &slow;
	t0 = rb_now_ms();
	T_EQ_INT(rb_http_start(NULL, http, &req, &err), 0);
	req.url = url2;
	req.payload = &fast;
	T_EQ_INT(rb_http_start(NULL, http, &req, &err), 0);
	/* A process on the same loop, too. */
	rb_proc_init(&p);
	rb_strvec_push(&p.args, "/bin/true");
	p.on_done = proc_finished;
	p.payload = &o;
	T_EQ_INT(rb_proc_start(&p, loop, &err), 0);

	T_ASSERT(wait_for(loop, &slow, 20000));
	T_ASSERT(fast.done);
	T_EQ_INT(slow.code, 0);
	T_EQ_INT(fast.code, 0);
	T_ASSERT(fast.order < slow.order);
	T_ASSERT(o.proc_order != 0 && o.proc_order < slow.order);
	T_ASSERT(fast.ms < 500);
	T_ASSERT(slow.ms >= 990);
	T_ASSERT(rb_now_ms() - t0 < 5000);
	rb_buf_release(&slow.body);
	rb_buf_release(&fast.body);
	rb_proc_release(&p);
	rb_http_free(http);
	server_stop(&s, loop);
	rb_evloop_free(loop);
}

void
test_check_probe__http_timeout_never_answers(void)
{
	struct rb_http_request req = RB_HTTP_REQUEST_INIT;
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_error err = RB_ERROR_INIT;
	struct rb_http *http = NULL;
	struct got g = { 0 };
	char url[128];
	int port = 0, lfd = silent_listener(&port, 16);

	T_ASSERT(lfd >= 0);
	T_EQ_INT(rb_http_new(&http, loop, &err), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", port);

	req.url = url;
	req.timeout_ms = 300;
	fetch(loop, http, &g, &req);
	T_EQ_INT(g.code, RB_ETIMEOUT);
	T_EQ_INT(g.status, 0);
	T_CONTAINS(g.msg, "request to 'http://127.0.0.1:");
	T_CONTAINS(g.msg, "/health' timed out after 300ms");
	T_ASSERT(g.ms >= 290 && g.ms < 3000);
	rb_buf_release(&g.body);
	rb_http_free(http);
	close(lfd);
	T_EQ_INT(rb_evloop_run(loop), 0);
	rb_evloop_free(loop);
}

void
test_check_probe__http_body_cap(void)
{
	struct rb_http_request req = RB_HTTP_REQUEST_INIT;
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_error err = RB_ERROR_INIT;
	struct rb_http *http = NULL;
	struct server s;
	struct got g = { 0 };
	char url[128];

	T_EQ_INT(server_start(&s, loop, NULL), 0);
	T_EQ_INT(rb_http_new(&http, loop, &err), 0);

	req.url = url;
	req.max_body = 1000;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/bytes/1000", s.port);
	fetch(loop, http, &g, &req);
	T_EQ_INT(g.code, 0);
	T_ASSERT(!g.truncated);
	T_EQ_INT(g.body.len, 1000);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/bytes/3000000", s.port);
	fetch(loop, http, &g, &req);
	T_EQ_INT(g.code, RB_ETOOBIG);
	T_ASSERT(g.truncated);
	T_EQ_INT(g.status, 200);
	T_EQ_INT(g.body.len, 1000);
	T_CONTAINS(g.msg, "/bytes/3000000' is larger than 1000 bytes");

	/* The default cap is 1 MiB. */
	req.max_body = 0;
	fetch(loop, http, &g, &req);
	T_EQ_INT(g.code, RB_ETOOBIG);
	T_EQ_INT(g.body.len, RB_HTTP_MAX_BODY);

	rb_buf_release(&g.body);
	rb_http_free(http);
	server_stop(&s, loop);
	rb_evloop_free(loop);
}

void
test_check_probe__http_redirects(void)
{
	struct rb_http_request req = RB_HTTP_REQUEST_INIT;
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_error err = RB_ERROR_INIT;
	struct rb_http *http = NULL;
	struct server s;
	struct got g = { 0 };
	char url[128];

	T_EQ_INT(server_start(&s, loop, NULL), 0);
	T_EQ_INT(rb_http_new(&http, loop, &err), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/redirect/3", s.port);

	req.url = url;
	fetch(loop, http, &g, &req);
	T_EQ_INT(g.code, 0);
	T_EQ_INT(g.status, 200);
	T_EQ_STR(g.body.buf, "done");

	req.max_redirects = 2;
	fetch(loop, http, &g, &req);
	T_EQ_INT(g.code, RB_ERROR);
	T_CONTAINS(g.msg, "too many redirects from '");
	T_CONTAINS(g.msg, "(more than 2)");

	req.max_redirects = 0;
	fetch(loop, http, &g, &req);
	T_EQ_INT(g.code, 0);
	T_EQ_INT(g.status, 302);

	rb_buf_release(&g.body);
	rb_http_free(http);
	server_stop(&s, loop);
	rb_evloop_free(loop);
}

void
test_check_probe__http_protocols(void)
{
	struct rb_http_request req = RB_HTTP_REQUEST_INIT;
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_error err = RB_ERROR_INIT;
	struct rb_http *http = NULL;
	struct server s;
	struct got g = { 0 };
	char url[256];

	T_EQ_INT(server_start(&s, loop, NULL), 0);
	T_EQ_INT(rb_http_new(&http, loop, &err), 0);

	req.url = "file:///etc/passwd";
	fetch(loop, http, &g, &req);
	T_EQ_INT(g.code, RB_EINVAL);
	T_EQ_STR(g.msg, "unsupported protocol in 'file:///etc/passwd': only "
	    "http and https are allowed");
	T_EQ_INT(g.body.len, 0);

	req.url = "gopher://127.0.0.1:1/";
	fetch(loop, http, &g, &req);
	T_EQ_INT(g.code, RB_EINVAL);

	req.url = "http://[::1";
	fetch(loop, http, &g, &req);
	T_EQ_INT(g.code, RB_EINVAL);

	/* A redirect to file:// is refused too. */
	snprintf(url, sizeof(url),
	    "http://127.0.0.1:%d/goto?to=file%%3A%%2F%%2F%%2Fetc%%2Fpasswd",
	    s.port);
	req.url = url;
	fetch(loop, http, &g, &req);
	T_EQ_INT(g.code, RB_EINVAL);
	T_ASSERT(strstr(g.body.buf, "root:") == NULL);

	rb_buf_release(&g.body);
	rb_http_free(http);
	server_stop(&s, loop);
	rb_evloop_free(loop);
}

void
test_check_probe__http_refused_and_redacted(void)
{
	struct rb_http_request req = RB_HTTP_REQUEST_INIT;
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_error err = RB_ERROR_INIT;
	struct rb_http *http = NULL;
	struct got g = { 0 };
	char url[256];
	int port = closed_port();

	T_EQ_INT(rb_http_new(&http, loop, &err), 0);
	snprintf(url, sizeof(url),
	    "http://user:s3cret@127.0.0.1:%d/x?token=abc#frag", port);

	req.url = url;
	fetch(loop, http, &g, &req);
	T_EQ_INT(g.code, RB_ERROR);
	T_CONTAINS(g.msg, "cannot connect to 'http://127.0.0.1:");
	T_CONTAINS(g.msg, "/x': ");
	T_ASSERT(strstr(g.msg, "s3cret") == NULL);
	T_ASSERT(strstr(g.msg, "token") == NULL);

	req.redact_path = true;
	fetch(loop, http, &g, &req);
	T_CONTAINS(g.msg, "cannot connect to 'http://127.0.0.1:");
	T_ASSERT(strstr(g.msg, "/x") == NULL);
	rb_buf_release(&g.body);
	rb_http_free(http);
	rb_evloop_free(loop);
}

struct cancel_state {
	struct rb_http_xfer *victim;
	struct got g;
};

static void
cancel_victim(struct rb_http_result *res, void *payload)
{
	struct cancel_state *c = payload;

	got_http(res, &c->g);
	rb_http_cancel(c->victim);
	c->victim = NULL;
}

static void
cancel_on_timer(struct rb_evloop *loop, uint64_t id, void *payload)
{
	(void)loop;
	(void)id;
	rb_http_cancel(payload);
}

void
test_check_probe__http_cancel(void)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_error err = RB_ERROR_INIT;
	struct rb_http *http = NULL;
	struct rb_http_xfer *x = NULL;
	struct cancel_state c;
	struct server s;
	struct got never = { 0 };
	char slow[128], fast[128];
	int64_t t0;

	T_EQ_INT(server_start(&s, loop, NULL), 0);
	T_EQ_INT(rb_http_new(&http, loop, &err), 0);
	memset(&c, 0, sizeof(c));
	snprintf(slow, sizeof(slow), "http://127.0.0.1:%d/slow/3000", s.port);
	snprintf(fast, sizeof(fast), "http://127.0.0.1:%d/health", s.port);

	/* Cancelled by a timer: no callback, and the loop empties. */
	struct rb_http_request req = RB_HTTP_REQUEST_INIT;
	req.url = slow;
	req.on_done = got_http;
	req.payload = &never;
	T_EQ_INT(rb_http_start(&x, http, &req, &err), 0);
	rb_evloop_add_timer(loop, rb_now_ms() + 100, cancel_on_timer, x);
	t0 = rb_now_ms();
	while (rb_now_ms() - t0 < 300)
		rb_evloop_run_once(loop, 50);
	T_ASSERT(!never.done);

	/* Cancelled from another request's callback. */
	req.url = slow;
	T_EQ_INT(rb_http_start(&c.victim, http, &req, &err), 0);
	req.url = fast;
	req.on_done = cancel_victim;
	req.payload = &c;
	T_EQ_INT(rb_http_start(NULL, http, &req, &err), 0);
	T_ASSERT(wait_for(loop, &c.g, 10000));
	T_EQ_INT(c.g.code, 0);
	T_ASSERT(c.victim == NULL);
	t0 = rb_now_ms();
	while (rb_now_ms() - t0 < 300)
		rb_evloop_run_once(loop, 50);
	T_ASSERT(!never.done);

	/* Freeing the client cancels what is in flight. */
	req.url = slow;
	req.on_done = got_http;
	req.payload = &never;
	T_EQ_INT(rb_http_start(NULL, http, &req, &err), 0);
	rb_evloop_run_once(loop, 50);
	rb_http_free(http);
	T_ASSERT(!never.done);
	rb_buf_release(&c.g.body);
	rb_buf_release(&never.body);
	server_stop(&s, loop);
	T_EQ_INT(rb_evloop_run(loop), 0);
	rb_evloop_free(loop);
}

void
test_check_probe__http_invalid_request(void)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_error err = RB_ERROR_INIT;
	struct rb_strvec headers = RB_STRVEC_INIT;
	struct rb_http *http = NULL;
	struct got g = { 0 };

	T_EQ_INT(rb_http_new(&http, loop, &err), 0);
	struct rb_http_request req = RB_HTTP_REQUEST_INIT;
	req.on_done = got_http;
	req.payload = &g;
	T_EQ_INT(rb_http_start(NULL, http, &req, &err), RB_EINVAL);
	req.url = "http://127.0.0.1:1/";
	req.method = "GE T";
	T_EQ_INT(rb_http_start(NULL, http, &req, &err), RB_EINVAL);
	T_EQ_STR(err.msg, "invalid HTTP method 'GE T'");
	req.method = NULL;
	rb_strvec_push(&headers, "X-Evil: a\r\nX-Injected: b");
	req.headers = &headers;
	T_EQ_INT(rb_http_start(NULL, http, &req, &err), RB_EINVAL);
	T_CONTAINS(err.msg, "invalid HTTP header");
	rb_strvec_release(&headers);
	rb_http_free(http);
	T_EQ_INT(rb_evloop_run(loop), 0);
	rb_evloop_free(loop);
}

/* ------------------------------------------------------------------- TCP */

struct tcp_got {
	bool done;
	int code;
	char address[64];
	char msg[1024];
	int64_t ms;
};

static void
got_tcp(const struct rb_tcp_result *res, void *payload)
{
	struct tcp_got *g = payload;

	g->done = true;
	g->code = res->code;
	g->ms = res->end_ms - res->start_ms;
	snprintf(g->address, sizeof(g->address), "%s", res->address);
	snprintf(g->msg, sizeof(g->msg), "%s", res->err.msg);
}

/* Probe host:port and wait for the result. */
static int
tcp_probe(struct rb_evloop *loop, struct tcp_got *g, const char *host,
    const char *port, int64_t timeout_ms)
{
	struct rb_tcp_request req = RB_TCP_REQUEST_INIT;
	struct rb_error err = RB_ERROR_INIT;
	int64_t end = rb_now_ms() + 10000;
	int r;

	memset(g, 0, sizeof(*g));
	req.host = host;
	req.port = port;
	req.timeout_ms = timeout_ms;
	req.on_done = got_tcp;
	req.payload = g;
	if ((r = rb_tcp_start(NULL, loop, &req, &err)) != 0)
		return r;
	if (g->done)
		return RB_ERROR;	/* must never complete inside start */
	while (!g->done && rb_now_ms() < end)
		rb_evloop_run_once(loop, 100);
	return g->done ? 0 : RB_ETIMEOUT;
}

void
test_check_probe__tcp(void)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct tcp_got g;
	char port[16], want[128];
	int lport = 0, lfd = silent_listener(&lport, 16);

	T_ASSERT(lfd >= 0);
	snprintf(port, sizeof(port), "%d", lport);
	T_EQ_INT(tcp_probe(loop, &g, "127.0.0.1", port, 1000), 0);
	T_EQ_INT(g.code, 0);
	snprintf(want, sizeof(want), "127.0.0.1:%d", lport);
	T_EQ_STR(g.address, want);
	T_EQ_STR(g.msg, "");
	/* A name from /etc/hosts. */
	T_EQ_INT(tcp_probe(loop, &g, "localhost", port, 1000), 0);
	T_EQ_INT(g.code, 0);
	close(lfd);

	snprintf(port, sizeof(port), "%d", closed_port());
	T_EQ_INT(tcp_probe(loop, &g, "127.0.0.1", port, 1000), 0);
	T_EQ_INT(g.code, RB_ERROR);
	snprintf(want, sizeof(want), "cannot connect to '127.0.0.1:%s': "
	    "Connection refused", port);
	T_EQ_STR(g.msg, want);

	T_EQ_INT(tcp_probe(loop, &g, "127.0.0.1", "no-such-service-rb", 1000),
	    0);
	T_EQ_INT(g.code, RB_ENOTFOUND);
	T_CONTAINS(g.msg, "cannot resolve '127.0.0.1:no-such-service-rb': ");
	T_EQ_INT(rb_evloop_run(loop), 0);
	rb_evloop_free(loop);
}

void
test_check_probe__tcp_timeout(void)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct tcp_got g;
	struct sockaddr_in sin;
	char port[16];
	int lport = 0, lfd = silent_listener(&lport, 0), i, fill[8];

	/* Fill the accept queue (backlog 0) so further SYNs are dropped. */
	T_ASSERT(lfd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)lport);
	for (i = 0; i < 8; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		(void)connect(fill[i], (struct sockaddr *)&sin, sizeof(sin));
	}
	usleep(50000);
	snprintf(port, sizeof(port), "%d", lport);
	T_EQ_INT(tcp_probe(loop, &g, "127.0.0.1", port, 300), 0);
	for (i = 0; i < 8; i++)
		close(fill[i]);
	close(lfd);
	T_EQ_INT(g.code, RB_ETIMEOUT);
	T_ASSERT(g.ms >= 290 && g.ms < 3000);
	T_CONTAINS(g.msg, "connection to '127.0.0.1:");
	T_CONTAINS(g.msg, "' timed out after 300ms");
	rb_evloop_free(loop);
}

void
test_check_probe__tcp_split_target(void)
{
	char *host = NULL, *port = NULL;

	T_EQ_INT(rb_tcp_split_target(&host, &port, "db1:5432"), 0);
	T_EQ_STR(host, "db1");
	T_EQ_STR(port, "5432");
	free(host);
	free(port);
	T_EQ_INT(rb_tcp_split_target(&host, &port, "[::1]:22"), 0);
	T_EQ_STR(host, "::1");
	T_EQ_STR(port, "22");
	free(host);
	free(port);
	T_EQ_INT(rb_tcp_split_target(&host, &port, "db1:postgresql"), 0);
	free(host);
	free(port);
	T_EQ_INT(rb_tcp_split_target(&host, &port, "db1"), RB_EINVAL);
	T_EQ_INT(rb_tcp_split_target(&host, &port, ":22"), RB_EINVAL);
	T_EQ_INT(rb_tcp_split_target(&host, &port, "db1:"), RB_EINVAL);
	T_EQ_INT(rb_tcp_split_target(&host, &port, "::1:22"), RB_EINVAL);
	T_EQ_INT(rb_tcp_split_target(&host, &port, "[::1]22"), RB_EINVAL);
	T_EQ_INT(rb_tcp_split_target(&host, &port, "db1:22/x"), RB_EINVAL);
}

/* ---------------------------------------------------------------- notify */

void
test_check_probe__notify_body_slack(void)
{
	struct rb_buf b = RB_BUF_INIT;

	T_EQ_INT(rb_notify_body_slack(&b, "db \"down\" on db1\n\tnow"), 0);
	T_EQ_STR(b.buf, "{\"text\":\"db \\\"down\\\" on db1\\n\\tnow\"}");
	rb_buf_reset(&b);
	/* Valid UTF-8 stays; invalid bytes and surrogates become U+FFFD. */
	T_EQ_INT(rb_notify_body_slack(&b, "caf\xc3\xa9 \xff \xed\xa0\x80 \x01"),
	    0);
	T_EQ_STR(b.buf, "{\"text\":\"caf\xc3\xa9 \xef\xbf\xbd "
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \\u0001\"}");
	rb_buf_reset(&b);
	rb_buf_setcap(&b, 10);
	T_EQ_INT(rb_notify_body_slack(&b, "this is too long"), RB_ETOOBIG);
	T_EQ_INT(b.len, 0);
	rb_buf_release(&b);
}

void
test_check_probe__notify_send(void)
{
	struct rb_notify n = RB_NOTIFY_INIT;
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_error err = RB_ERROR_INIT;
	struct rb_buf rec = RB_BUF_INIT;
	struct rb_http *http = NULL;
	struct server s;
	struct got g = { 0 };
	char url[128], record[512];

	snprintf(record, sizeof(record), "%s/record.txt", rb_test_tmpdir());
	T_EQ_INT(server_start(&s, loop, record), 0);
	T_EQ_INT(rb_http_new(&http, loop, &err), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/record", s.port);

	n.url = url;
	n.text = "db-connection failed on \"db1\"";
	n.on_done = got_http;
	n.payload = &g;
	got_reset(&g);
	T_EQ_INT(rb_notify_send(NULL, http, &n, &err), 0);
	T_ASSERT(wait_for(loop, &g, 10000));
	T_EQ_INT(g.code, 0);
	T_EQ_INT(g.status, 200);
	T_EQ_INT(rb_buf_read_file(&rec, record, 0), 0);
	T_EQ_STR(rec.buf,
	    "{\"text\":\"db-connection failed on \\\"db1\\\"\"}\n");

	/* A raw body is sent as is. */
	n.text = NULL;
	n.body = "{\"blocks\":[]}";
	got_reset(&g);
	T_EQ_INT(rb_notify_send(NULL, http, &n, &err), 0);
	T_ASSERT(wait_for(loop, &g, 10000));
	T_EQ_INT(g.code, 0);
	rb_buf_reset(&rec);
	T_EQ_INT(rb_buf_read_file(&rec, record, 0), 0);
	T_CONTAINS(rec.buf, "\n{\"blocks\":[]}\n");

	/* A webhook that answers 404: a failure that does not show the path
	 * (the secret part of a webhook URL). */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/status/404", s.port);
	got_reset(&g);
	T_EQ_INT(rb_notify_send(NULL, http, &n, &err), 0);
	T_ASSERT(wait_for(loop, &g, 10000));
	T_EQ_INT(g.code, RB_ERROR);
	T_EQ_INT(g.status, 404);
	T_CONTAINS(g.msg, "unexpected status 404 from 'http://127.0.0.1:");
	T_ASSERT(strstr(g.msg, "/status") == NULL);

	n.body = NULL;
	T_EQ_INT(rb_notify_send(NULL, http, &n, &err), RB_EINVAL);
	T_EQ_STR(err.msg, "notification without text or body");

	rb_buf_release(&g.body);
	rb_buf_release(&rec);
	rb_http_free(http);
	server_stop(&s, loop);
	rb_evloop_free(loop);
}
