/*
 * probe_http.c - HTTP requests on the event loop through libcurl's multi
 * socket interface (curl's docs/examples/hiperfifo.c, on rb_evloop).
 *
 * libcurl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and
 * when to call it back (CURLMOPT_TIMERFUNCTION); we map both onto evloop fd
 * and timer events and call curl_multi_socket_action() when they fire.
 * Completed transfers are collected from curl_multi_info_read() first and
 * their callbacks run afterwards, outside any libcurl call, so a callback
 * may start or cancel requests freely.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "runbook/evloop.h"
#include "runbook/probe.h"
#include "runbook/util.h"
#include "runbook/banned.h"

#define BODY_EXCERPT 200 /* bytes of a non-2xx answer shown in messages */

struct rb_http {
	struct rb_evloop *loop;
	CURLM *multi;
	uint64_t timer;		    /* libcurl's single timeout, 0: none */
	struct rb_http_xfer *xfers; /* in flight, doubly linked */
};

struct rb_http_xfer {
	struct rb_http *http;
	CURL *easy;
	struct curl_slist *headers;
	char *url_msg; /* the URL as messages show it */
	size_t max_body;
	long max_redirects;
	int64_t timeout_ms;
	bool require_2xx;
	bool finished;	/* out of the multi, callback pending */
	bool cancelled; /* cancelled while finished */
	struct rb_http_result res;
	char errbuf[CURL_ERROR_SIZE];
	rb_http_done_fn on_done;
	void *payload;
	struct rb_http_xfer *prev, *next; /* http->xfers */
	struct rb_http_xfer *next_done;	  /* completion batch */
};

/* --------------------------------------------------------------- helpers */

/* curl_global_init() once; the engine is single-threaded at this point. */
static int
global_init(struct rb_error *err)
{
	static bool done;
	CURLcode cc;

	if (done)
		return 0;
	if ((cc = curl_global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK)
		return rb_error_set(err, RB_ERROR,
		    "cannot initialise libcurl: %s", curl_easy_strerror(cc));
	done = true;
	return 0;
}

/*
 * The URL as messages may show it: scheme://host[:port] plus the path
 * unless redact_path; never user:password@, the query or the fragment.
 */
static char *
url_for_message(const char *url, bool redact_path)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	unsigned flags = CURLU_NON_SUPPORT_SCHEME;
	bool ok = u != NULL;
	char *s;

	ok = ok && curl_url_set(u, CURLUPART_URL, url, flags) == CURLUE_OK;
	ok = ok && curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK;
	ok = ok && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK;
	if (!ok) {
		/* Unparsable: show it, unless it may hold a secret. */
		if (redact_path || strchr(url, '@') != NULL)
			url = "(invalid URL)";
		s = xstrdup(url);
		goto out;
	}
	(void)curl_url_get(u, CURLUPART_PORT, &port, 0);
	if (!redact_path)
		(void)curl_url_get(u, CURLUPART_PATH, &path, 0);
	s = xstrfmt("%s://%s%s%s%s", scheme, host, port ? ":" : "",
	    port ? port : "", path ? path : "");
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return s;
}

/* A method is an RFC 9110 token. */
static bool
valid_method(const char *m)
{
	if (*m == '\0')
		return false;
	for (; *m != '\0'; m++)
		if (!((*m >= 'A' && *m <= 'Z') || (*m >= 'a' && *m <= 'z') ||
			(*m >= '0' && *m <= '9') ||
			strchr("!#$%&'*+.^_`|~-", *m)))
			return false;
	return true;
}

/* Whether the header list sets name (case-insensitive, "Name:"). */
static bool
has_header(const struct rb_strvec *h, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; h != NULL && i < h->nr; i++)
		if (strncasecmp(h->v[i], name, n) == 0 &&
		    (h->v[i][n] == ':' || h->v[i][n] == ';'))
			return true;
	return false;
}

/* Unlink x from the in-flight list. */
static void
xfer_unlink(struct rb_http_xfer *x)
{
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		x->http->xfers = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
}

static void
xfer_free(struct rb_http_xfer *x)
{
	if (x == NULL)
		return;
	if (x->easy != NULL)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->url_msg);
	rb_buf_release(&x->res.body);
	free(x);
}

/* ------------------------------------------------------ libcurl <-> loop */

static void check_done(struct rb_http *http);

/* An fd of libcurl's is ready: hand it to curl_multi_socket_action(). */
static void
on_socket(struct rb_evloop *loop, int fd, int mask, void *payload)
{
	struct rb_http *http = payload;
	int ev = 0, running;

	if (mask & RB_EVLOOP_READ)
		ev |= CURL_CSELECT_IN;
	if (mask & RB_EVLOOP_WRITE)
		ev |= CURL_CSELECT_OUT;
	if (mask & RB_EVLOOP_ERROR) {
		ev |= CURL_CSELECT_ERR;
		/* Closed behind our back: never spin on POLLNVAL. */
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
			rb_evloop_del_fd(loop, fd);
	}
	(void)curl_multi_socket_action(http->multi, fd, ev, &running);
	check_done(http);
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what libcurl asks, or stop. */
static int
socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct rb_http *http = userp;
	int mask = 0;

	(void)easy;
	(void)socketp;
	if (what & CURL_POLL_IN)
		mask |= RB_EVLOOP_READ;
	if (what & CURL_POLL_OUT)
		mask |= RB_EVLOOP_WRITE;
	if (what == CURL_POLL_REMOVE || mask == 0) {
		rb_evloop_del_fd(http->loop, s);
		return 0;
	}
	if (rb_evloop_mod_fd(http->loop, s, mask) != 0 &&
	    rb_evloop_add_fd(http->loop, s, mask, on_socket, http) != 0)
		return -1;
	return 0;
}

/* libcurl's timeout expired. */
static void
on_timer(struct rb_evloop *loop, uint64_t id, void *payload)
{
	struct rb_http *http = payload;
	int running;

	(void)loop;
	(void)id;
	http->timer = 0; /* socket_action may set a new one */
	(void)curl_multi_socket_action(
	    http->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(http);
}

/* CURLMOPT_TIMERFUNCTION: one timer, replaced on every call; -1 deletes. */
static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct rb_http *http = userp;

	(void)multi;
	if (http->timer != 0)
		(void)rb_evloop_cancel_timer(http->loop, http->timer);
	http->timer = 0;
	if (timeout_ms >= 0)
		http->timer = rb_evloop_add_timer(
		    http->loop, rb_now_ms() + timeout_ms, on_timer, http);
	return 0;
}

/* CURLOPT_WRITEFUNCTION: keep at most max_body bytes, then stop. */
static size_t
on_body(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct rb_http_xfer *x = userdata;
	size_t n = size * nmemb, room = x->max_body - x->res.body.len;

	if (n > room) {
		(void)rb_buf_add(&x->res.body, p, room);
		x->res.truncated = true;
		return 0; /* CURLE_WRITE_ERROR ends the transfer */
	}
	(void)rb_buf_add(&x->res.body, p, n);
	return n;
}

/* A byte for a one-line message: control characters become spaces. */
static int
printable(char ch)
{
	unsigned char c = (unsigned char)ch;

	return c < 0x20 || c == 0x7f ? ' ' : c;
}

/* Fill x->res from libcurl's verdict. */
static void
set_result(struct rb_http_xfer *x, CURLcode cc)
{
	struct rb_http_result *res = &x->res;
	const char *why =
	    x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(cc);
	char dur[32];
	long status = 0;

	(void)curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	res->status = status;
	res->end_ms = rb_now_ms();
	switch (cc) {
	case CURLE_OK:
		res->code = 0;
		if (x->require_2xx && (status < 200 || status > 299)) {
			struct rb_buf ex = RB_BUF_INIT;
			size_t i;

			for (i = 0; i < res->body.len && i < BODY_EXCERPT; i++)
				rb_buf_addch(&ex, printable(res->body.buf[i]));
			rb_buf_rtrim(&ex);
			rb_error_set(&res->err, RB_ERROR,
			    "unexpected status %ld from '%s'%s%s", status,
			    x->url_msg, ex.len ? ": " : "", ex.buf);
			res->code = RB_ERROR;
			rb_buf_release(&ex);
		}
		break;
	case CURLE_WRITE_ERROR:
		if (res->truncated) {
			res->code = rb_error_set(&res->err, RB_ETOOBIG,
			    "response from '%s' is larger than %zu bytes",
			    x->url_msg, x->max_body);
			break;
		}
		res->code = rb_error_set(&res->err, RB_ERROR,
		    "request to '%s' failed: %s", x->url_msg, why);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		rb_duration_format(dur, sizeof(dur), x->timeout_ms);
		res->code = rb_error_set(&res->err, RB_ETIMEOUT,
		    "request to '%s' timed out after %s", x->url_msg, dur);
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
		res->code = rb_error_set(&res->err, RB_EINVAL,
		    "unsupported protocol in '%s': only http and https are "
		    "allowed",
		    x->url_msg);
		break;
	case CURLE_URL_MALFORMAT:
		res->code = rb_error_set(&res->err, RB_EINVAL,
		    "invalid URL '%s': %s", x->url_msg, why);
		break;
	case CURLE_TOO_MANY_REDIRECTS:
		res->code = rb_error_set(&res->err, RB_ERROR,
		    "too many redirects from '%s' (more than %ld)", x->url_msg,
		    x->max_redirects);
		break;
	case CURLE_COULDNT_CONNECT:
		res->code = rb_error_set(&res->err, RB_ERROR,
		    "cannot connect to '%s': %s", x->url_msg, why);
		break;
	default:
		res->code = rb_error_set(&res->err, RB_ERROR,
		    "request to '%s' failed: %s", x->url_msg, why);
		break;
	}
}

/* Collect finished transfers, then run their callbacks. */
static void
check_done(struct rb_http *http)
{
	struct rb_http_xfer *done = NULL, **tail = &done;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(http->multi, &left)) != NULL) {
		struct rb_http_xfer *x;
		CURL *easy = msg->easy_handle;
		CURLcode cc = msg->data.result;
		char *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		(void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		x = (struct rb_http_xfer *)(void *)priv;
		set_result(x, cc);
		(void)curl_multi_remove_handle(http->multi, easy);
		xfer_unlink(x);
		x->finished = true;
		*tail = x;
		tail = &x->next_done;
	}
	while (done != NULL) {
		struct rb_http_xfer *x = done;

		done = x->next_done;
		if (!x->cancelled)
			x->on_done(&x->res, x->payload);
		xfer_free(x);
	}
}

/* ------------------------------------------------------------------- API */

int
rb_http_new(struct rb_http **out, struct rb_evloop *loop, struct rb_error *err)
{
	struct rb_http *http = NULL;
	int r;

	if ((r = global_init(err)) != 0)
		return r;
	http = xcalloc(1, sizeof(*http));
	http->loop = loop;
	if ((http->multi = curl_multi_init()) == NULL) {
		free(http);
		return rb_error_set(
		    err, RB_ERROR, "cannot create a libcurl multi handle");
	}
	curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
	curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
	*out = http;
	return 0;
}

void
rb_http_free(struct rb_http *http)
{
	if (http == NULL)
		return;
	while (http->xfers != NULL)
		rb_http_cancel(http->xfers);
	/* Closing cached connections calls socket_cb: the loop is alive. */
	curl_multi_cleanup(http->multi);
	if (http->timer != 0)
		(void)rb_evloop_cancel_timer(http->loop, http->timer);
	free(http);
}

void
rb_http_cancel(struct rb_http_xfer *x)
{
	if (x == NULL)
		return;
	if (x->finished) {
		x->cancelled = true; /* check_done() frees it */
		return;
	}
	(void)curl_multi_remove_handle(x->http->multi, x->easy);
	xfer_unlink(x);
	xfer_free(x);
}

/* Method and body options; returns a CURLcode. */
static CURLcode
set_method(CURL *e, const struct rb_http_request *req)
{
	const char *m = req->method;
	CURLcode cc = CURLE_OK;

	if (m == NULL)
		m = req->body != NULL ? "POST" : "GET";
	if (strcmp(m, "HEAD") == 0)
		return curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	if (req->body != NULL || strcmp(m, "POST") == 0) {
		const char *body = req->body != NULL ? req->body : "";
		curl_off_t len =
		    req->body != NULL ? (curl_off_t)req->body_len : 0;

		/* The size first: COPYPOSTFIELDS copies that many bytes. */
		cc = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, len);
		if (cc == CURLE_OK)
			cc = curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
		if (cc != CURLE_OK)
			return cc;
	}
	if (strcmp(m, "GET") == 0 && req->body == NULL)
		return CURLE_OK;
	if (strcmp(m, "POST") == 0)
		return CURLE_OK;
	return curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
}

int
rb_http_start(struct rb_http_xfer **out, struct rb_http *http,
    const struct rb_http_request *req, struct rb_error *err)
{
	struct rb_http_xfer *x = NULL;
	CURLcode cc = CURLE_OK;
	CURLMcode mc;
	CURL *e;
	size_t i;
	int r = RB_ERROR;

	if (req->url == NULL || *req->url == '\0' || req->on_done == NULL)
		return rb_error_set(
		    err, RB_EINVAL, "HTTP request without a URL or a callback");
	if (req->method != NULL && !valid_method(req->method))
		return rb_error_set(
		    err, RB_EINVAL, "invalid HTTP method '%s'", req->method);
	for (i = 0; req->headers != NULL && i < req->headers->nr; i++) {
		const char *h = req->headers->v[i];

		if (strpbrk(h, "\r\n") != NULL || strpbrk(h, ":;") == NULL ||
		    *h == ':')
			return rb_error_set(
			    err, RB_EINVAL, "invalid HTTP header '%s'", h);
	}

	x = xcalloc(1, sizeof(*x));
	x->http = http;
	x->url_msg = url_for_message(req->url, req->redact_path);
	x->max_body = req->max_body ? req->max_body : RB_HTTP_MAX_BODY;
	x->max_redirects = req->max_redirects > 0 ? req->max_redirects : 0;
	x->timeout_ms =
	    req->timeout_ms > 0 ? req->timeout_ms : RB_HTTP_TIMEOUT_MS;
	x->require_2xx = req->require_2xx;
	x->on_done = req->on_done;
	x->payload = req->payload;
	rb_buf_init(&x->res.body, 0);
	if ((x->easy = e = curl_easy_init()) == NULL) {
		r = rb_error_set(
		    err, RB_ERROR, "cannot create a libcurl handle");
		goto out;
	}
	for (i = 0; req->headers != NULL && i < req->headers->nr; i++) {
		struct curl_slist *l =
		    curl_slist_append(x->headers, req->headers->v[i]);

		if (l == NULL)
			RB_BUG("curl_slist_append: out of memory");
		x->headers = l;
	}
	if (req->body != NULL && !has_header(req->headers, "Expect")) {
		/* No "Expect: 100-continue" round trip for bodies. */
		struct curl_slist *l = curl_slist_append(x->headers, "Expect:");

		if (l == NULL)
			RB_BUG("curl_slist_append: out of memory");
		x->headers = l;
	}

	/* Stop at the first option libcurl refuses. */
#define SETOPT(opt, val)                                                       \
	do {                                                                   \
		if (cc == CURLE_OK)                                            \
			cc = curl_easy_setopt(e, opt, val);                    \
	} while (0)
	SETOPT(CURLOPT_URL, req->url);
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_FOLLOWLOCATION, x->max_redirects > 0 ? 1L : 0L);
	SETOPT(CURLOPT_MAXREDIRS, x->max_redirects);
	SETOPT(CURLOPT_TIMEOUT_MS, (long)x->timeout_ms);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)x->timeout_ms);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_PRIVATE, (char *)x);
	SETOPT(CURLOPT_ERRORBUFFER, x->errbuf);
	SETOPT(CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(CURLOPT_WRITEDATA, x);
	SETOPT(CURLOPT_USERAGENT, "runbook/" RB_VERSION);
	SETOPT(CURLOPT_ACCEPT_ENCODING, "");
	SETOPT(CURLOPT_HTTPHEADER, x->headers);
	if (req->insecure) {
		SETOPT(CURLOPT_SSL_VERIFYPEER, 0L);
		SETOPT(CURLOPT_SSL_VERIFYHOST, 0L);
	}
#undef SETOPT
	if (cc == CURLE_OK)
		cc = set_method(e, req);
	if (cc != CURLE_OK) {
		r = rb_error_set(err, RB_ERROR,
		    "cannot set up request to '%s': %s", x->url_msg,
		    curl_easy_strerror(cc));
		goto out;
	}

	x->res.start_ms = rb_now_ms();
	/* Starts nothing yet: libcurl asks for a zero timeout first. */
	if ((mc = curl_multi_add_handle(http->multi, e)) != CURLM_OK) {
		r = rb_error_set(err, RB_ERROR,
		    "cannot start request to '%s': %s", x->url_msg,
		    curl_multi_strerror(mc));
		goto out;
	}
	x->next = http->xfers;
	if (http->xfers != NULL)
		http->xfers->prev = x;
	http->xfers = x;
	if (out != NULL)
		*out = x;
	x = NULL;
	r = 0;
out:
	xfer_free(x);
	return r;
}
