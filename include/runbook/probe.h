/*
 * probe.h - network probes on the event loop: HTTP requests (libcurl's
 * multi interface), TCP connects, and notification POSTs to chat webhooks.
 *
 * None of these block the loop on the network: a probe against a host that
 * never answers waits on its own timer while steps and other probes go on.
 * (One exception, documented at rb_tcp_start(): a TCP probe to a host
 * *name* resolves it with getaddrinfo(), which blocks.)
 *
 * Every request reports through a completion callback called exactly once,
 * from the loop and never from inside the start function, unless the
 * request is cancelled first. The handle a start function returns is valid
 * until its callback returns or it is cancelled.
 *
 * Messages never show the secret parts of a URL: user:password@ is
 * dropped, the query string is dropped, and for notifications (whose URL
 * path is usually the secret, e.g. Slack's /services/T../B../...) only
 * scheme://host[:port] is shown.
 */
#ifndef RUNBOOK_PROBE_H
#define RUNBOOK_PROBE_H

#include "runbook/buf.h"
#include "runbook/common.h"
#include "runbook/error.h"
#include "runbook/strvec.h"

struct rb_evloop;

/* ------------------------------------------------------------------ HTTP */

struct rb_http;		/* a libcurl multi handle driven by one loop */
struct rb_http_xfer;	/* one request in flight */

#define RB_HTTP_TIMEOUT_MS 10000	/* default whole-request timeout */
#define RB_HTTP_MAX_BODY (1024 * 1024)	/* default response body cap */
#define RB_HTTP_MAX_REDIRECTS 5

/*
 * The outcome of a request. code is
 *   0             a response arrived (whatever its status, unless
 *                 require_2xx was set);
 *   RB_ETOOBIG    the body exceeded max_body: status is valid, body holds
 *                 the first max_body bytes, truncated is set, and the
 *                 transfer was stopped there;
 *   RB_ETIMEOUT   timeout_ms passed (connect included);
 *   RB_EINVAL     a URL that is malformed or not http:// or https://;
 *   RB_ERROR      anything else: resolve, connect, TLS, a redirect over
 *                 the limit, a non-2xx status with require_2xx.
 * err.msg says what happened in a line ("cannot connect to
 * 'http://127.0.0.1:1/health': Couldn't connect to server").
 */
struct rb_http_result {
	int code;		/* see above */
	long status;		/* HTTP status of the last response, 0: none */
	struct rb_buf body;	/* response body, at most max_body bytes */
	bool truncated;		/* body was cut at max_body */
	int64_t start_ms;	/* CLOCK_MONOTONIC: request started */
	int64_t end_ms;		/* and ended; duration = end_ms - start_ms */
	struct rb_error err;	/* the message when code != 0 */
};

/*
 * Completion callback. res and its buffers belong to the request and are
 * freed when the callback returns; take the body with rb_buf_detach() to
 * keep it. The callback may start and cancel other requests, but must not
 * free the struct rb_http.
 */
typedef void (*rb_http_done_fn)(struct rb_http_result *res, void *payload);

/*
 * A request. Everything it points to is read during rb_http_start() only
 * (the body is copied), so it may live on the caller's stack.
 */
struct rb_http_request {
	const char *url;		/* http:// or https:// only */
	const char *method;		/* NULL: GET, or POST with a body */
	const struct rb_strvec *headers;	/* "Name: value", or NULL */
	const char *body;		/* request body, or NULL */
	size_t body_len;
	int64_t timeout_ms;		/* whole request; 0: the default */
	bool insecure;			/* skip TLS certificate checks */
	bool require_2xx;		/* status not 2xx: RB_ERROR */
	bool redact_path;		/* messages show scheme://host only */
	long max_redirects;		/* follow at most this many; 0: none */
	size_t max_body;		/* 0: RB_HTTP_MAX_BODY */
	rb_http_done_fn on_done;
	void *payload;
};
#define RB_HTTP_REQUEST_INIT { NULL, NULL, NULL, NULL, 0, 0, false, false, \
	false, RB_HTTP_MAX_REDIRECTS, 0, NULL, NULL }

/*
 * Create the HTTP client of loop in *out (libcurl is initialised on first
 * use). Requests on one client share connections. Returns 0, or RB_ERROR
 * with err set; *out is untouched on failure.
 */
int rb_http_new(struct rb_http **out, struct rb_evloop *loop,
    struct rb_error *err);
/*
 * Cancel every request still in flight (their callbacks are not called)
 * and free the client. NULL-safe; not from inside a completion callback.
 */
void rb_http_free(struct rb_http *http);

/*
 * Start a request. Only http and https are allowed, for the URL and for
 * every redirect; redirects are followed up to max_redirects; the body
 * kept is capped at max_body; proxies from the environment (http_proxy,
 * no_proxy, ...) are honoured as curl(1) does. Sends "User-Agent:
 * runbook/VERSION" unless headers set one.
 *
 * Returns 0 (on_done will be called; *out, if out is not NULL, is the
 * handle for rb_http_cancel()), or RB_EINVAL for a request that cannot be
 * made (no URL or callback, a header or method with control characters),
 * RB_ERROR if libcurl refused it, with err set.
 */
int rb_http_start(struct rb_http_xfer **out, struct rb_http *http,
    const struct rb_http_request *req, struct rb_error *err);
/* Stop a request; its callback is not called. NULL-safe. */
void rb_http_cancel(struct rb_http_xfer *xfer);

/* ------------------------------------------------------------------- TCP */

struct rb_tcp_probe;	/* one connect attempt in flight */

#define RB_TCP_TIMEOUT_MS 5000

/*
 * The outcome of a TCP probe. code is 0 (connected), RB_ETIMEOUT,
 * RB_ENOTFOUND (the name did not resolve) or RB_ERROR (refused,
 * unreachable, ...), with the reason in err.msg.
 */
struct rb_tcp_result {
	int code;
	char address[64];	/* the address that answered or failed last */
	int64_t start_ms;	/* CLOCK_MONOTONIC */
	int64_t end_ms;
	struct rb_error err;
};

/* Completion callback; res is freed when it returns. */
typedef void (*rb_tcp_done_fn)(const struct rb_tcp_result *res,
    void *payload);

struct rb_tcp_request {
	const char *host;	/* name, IPv4 or IPv6 literal (no brackets) */
	const char *port;	/* number or service name */
	int64_t timeout_ms;	/* for all addresses; 0: RB_TCP_TIMEOUT_MS */
	rb_tcp_done_fn on_done;
	void *payload;
};
#define RB_TCP_REQUEST_INIT { NULL, NULL, 0, NULL, NULL }

/*
 * Split "host:port", "[v6addr]:port" into newly allocated *out_host and
 * *out_port (brackets removed). Returns 0 or RB_EINVAL (no port, empty
 * host, stray brackets); the outputs are untouched on failure.
 */
int rb_tcp_split_target(char **out_host, char **out_port, const char *target);

/*
 * Connect to host:port without blocking the loop and report whether a
 * connection could be made (it is closed at once; nothing is sent). Every
 * address of the host is tried in turn within timeout_ms.
 *
 * Name resolution: a numeric address never blocks. A host name is resolved
 * with getaddrinfo(), which blocks the loop for as long as the resolver
 * takes (instant for /etc/hosts names such as localhost, up to the
 * resolver's timeout for an unreachable DNS server). Use numeric addresses
 * in probes that must never stall other work.
 *
 * Returns 0 (on_done will be called, from the loop; *out, if out is not
 * NULL, is the handle for rb_tcp_cancel()) or RB_EINVAL (missing host,
 * port or callback) with err set.
 */
int rb_tcp_start(struct rb_tcp_probe **out, struct rb_evloop *loop,
    const struct rb_tcp_request *req, struct rb_error *err);
/* Stop a probe; its callback is not called. NULL-safe. */
void rb_tcp_cancel(struct rb_tcp_probe *probe);

/* ---------------------------------------------------------------- notify */

#define RB_NOTIFY_TIMEOUT_MS 10000

/*
 * A notification: a POST of a JSON body to a chat or webhook URL. The
 * body is `body` as given, or, when body is NULL, Slack's {"text": text}
 * (which Mattermost, Rocket.Chat and Discord's /slack endpoint accept too).
 */
struct rb_notify {
	const char *url;
	const char *text;	/* used when body is NULL */
	const char *body;	/* a complete JSON document, or NULL */
	const struct rb_strvec *headers;	/* extra "Name: value" lines */
	int64_t timeout_ms;	/* 0: RB_NOTIFY_TIMEOUT_MS */
	bool insecure;		/* skip TLS certificate checks */
	rb_http_done_fn on_done;
	void *payload;
};
#define RB_NOTIFY_INIT { NULL, NULL, NULL, NULL, 0, false, NULL, NULL }

/*
 * Append Slack's {"text":"..."} for text to out, with JSON escaping; a
 * byte sequence that is not valid UTF-8 becomes U+FFFD, so the document is
 * always valid JSON. Returns 0, or RB_ETOOBIG (out's cap; out unchanged).
 */
int rb_notify_body_slack(struct rb_buf *out, const char *text);

/*
 * POST the notification with Content-Type: application/json through http.
 * Redirects are not followed (a redirected POST would lose its body), and a
 * status outside 200-299 is a failure: res->code is RB_ERROR and err.msg
 * names the status and the start of the answer. Messages show only the
 * URL's scheme://host[:port].
 *
 * Returns 0 (on_done will be called; *out as rb_http_start()) or
 * RB_EINVAL (no URL, neither text nor body) with err set.
 */
int rb_notify_send(struct rb_http_xfer **out, struct rb_http *http,
    const struct rb_notify *n, struct rb_error *err);

#endif
