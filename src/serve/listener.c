/*
 * listener.c - the HTTP side of serve: the listening socket (or systemd's),
 * libmicrohttpd's access handler, framing checks that libmicrohttpd 0.9.75
 * lets through, bounded bodies, the GET endpoints (/healthz, /metrics),
 * and answering: at once for answers that do not depend on the commit,
 * or parked until the writer's commit for a 202.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "runbook/queue.h"
#include "runbook/store.h"
#include "runbook/util.h"
#include "serve/serve_int.h"
#include "runbook/banned.h"

static const int known_codes[NCODES] = { 200, 202, 400, 401, 404, 405, 413,
	422, 500, 503 };
static const char *const alert_result_names[AL_N] = { "queued", "deduplicated",
	"rejected", "unmatched" };

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
	serve_log(s, RB_WH_LOG_WARN, "libmicrohttpd",
	    json_pack("{s:o}", "detail", serve_jstr(text)));
}

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
enum MHD_Result
serve_send_response(struct req *q)
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

void
serve_set_response(struct req *q, int code, const char *ctype, char *body)
{
	free(q->resp);
	q->code = code;
	q->ctype = ctype;
	q->resp = body;
}

/* {"error": reason} as a response body. */
char *
serve_error_body(const char *reason)
{
	json_t *o = json_pack("{s:o}", "error", serve_jstr(reason));
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s;
}

/* Answer now, from the handler, without recording anything. */
static enum MHD_Result
answer_now(struct req *q, int code, const char *ctype, char *body)
{
	serve_set_response(q, code, ctype, body);
	q->decided = true;
	return serve_send_response(q);
}

/* Park a decided request until the round's commit. */
void
serve_park(struct req *q)
{
	struct rb_wh_server *s = q->srv;

	q->decided = true;
	q->next = NULL;
	*s->parked_tail = q;
	s->parked_tail = &q->next;
	MHD_suspend_connection(q->conn);
}

/*
 * Answer a request whose answer does not depend on the commit (anything
 * but 202) at once, from the handler; its audit records are written by the
 * next commit round. Answering before the request body was read (a 413 on
 * Content-Length) without delay also spares "Expect: 100-continue" clients
 * from sending the body.
 */
void
serve_answer_deferred(struct req *q)
{
	struct rb_wh_server *s = q->srv;
	size_t i;

	for (i = 0; i < q->nops; i++) {
		RB_ALLOC_GROW(s->later, s->nlater + 1, s->alater);
		s->later[s->nlater++] = q->ops[i];
	}
	q->nops = 0;
	q->decided = true;
	if (serve_send_response(q) != MHD_YES)
		serve_log(s, RB_WH_LOG_WARN, "cannot queue a response",
		    json_pack("{s:s}", "remote", q->remote));
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
		serve_reject(q, MHD_HTTP_BAD_REQUEST,
		    "more than one Content-Length header", NULL);
		return true;
	}
	if (f.ncl > 0 && f.nte > 0) {
		serve_reject(q, MHD_HTTP_BAD_REQUEST,
		    "both Content-Length and Transfer-Encoding", NULL);
		return true;
	}
	if (f.nte > 1 || (f.nte == 1 && strcasecmp(f.te, "chunked") != 0)) {
		serve_reject(q, MHD_HTTP_BAD_REQUEST,
		    "unsupported Transfer-Encoding", NULL);
		return true;
	}
	if (f.ncl == 1 && rb_parse_int(&cl, f.cl, 0, LLONG_MAX) != 0) {
		serve_reject(
		    q, MHD_HTTP_BAD_REQUEST, "bad Content-Length", NULL);
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
			serve_reject(q, MHD_HTTP_CONTENT_TOO_LARGE,
			    "body larger than max_body", NULL);
			return true;
		}
		q->toobig = true;
		rb_buf_release(&q->body);
	}
	return false;
}

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
		    serve_run_result_names[i],
		    (unsigned long long)s->m.runs[i]);
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
		serve_log(s, RB_WH_LOG_ERROR, "health check failed",
		    json_pack("{s:o}", "error",
			serve_jstr(rb_store_error(s->st)->msg)));
		return answer_now(q, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "text/plain; charset=utf-8",
		    xstrdup("state database unavailable\n"));
	}
	return answer_now(
	    q, MHD_HTTP_OK, "text/plain; charset=utf-8", xstrdup("ok\n"));
}

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
	serve_ops_free(q);
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
			    "application/json",
			    serve_error_body("no such path"));
		if (q->ep != EP_HOOK) {
			if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
			    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
				return answer_now(q,
				    MHD_HTTP_METHOD_NOT_ALLOWED,
				    "application/json",
				    serve_error_body("method not allowed"));
			return answer_get(q);
		}
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return answer_now(q, MHD_HTTP_METHOD_NOT_ALLOWED,
			    "application/json",
			    serve_error_body("method not allowed: use POST"));
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
			serve_log(s, RB_WH_LOG_WARN,
			    "request body too slow: closed",
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
		serve_reject(q, MHD_HTTP_CONTENT_TOO_LARGE,
		    "body larger than max_body", NULL);
		return MHD_YES;
	}
	serve_decide_hook(q);
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
	    q->remote, "method", serve_jstr(q->method), "path",
	    serve_jstr(q->path), "code", q->answered ? q->code : 0, "matched",
	    (json_int_t)q->matched, "queued", (json_int_t)q->queued,
	    "deduplicated", (json_int_t)q->dedup, "rejected",
	    (json_int_t)q->rejected, "duration_ms",
	    (double)(rb_now_us() - q->t0_us) / 1000.0);
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK &&
	    (size_t)toe < RB_ARRAY_SIZE(toes))
		json_object_set_new(f, "termination", json_string(toes[toe]));
	serve_log(s, RB_WH_LOG_INFO, "request", f);
	req_free(q);
}

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
int
serve_open_listener(struct rb_wh_server *s, const char *addr,
    bool *out_loopback, struct rb_error *err)
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

int
serve_start_daemon(struct rb_wh_server *s, struct rb_error *err)
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
