/*
 * webhook.h - `runbook serve`: alert webhooks that start runbooks, durably
 * and safely (SPEC section 6).
 *
 * Four parts, each usable on its own (and unit-tested and fuzzed that way):
 *
 *   payloads  (wh_alert.c)   Alertmanager v4, Grafana unified alerting and
 *                            generic JSON bodies -> struct rb_wh_alert
 *   auth      (wh_auth.c)    bearer, basic, HMAC-SHA256 and Grafana
 *                            signatures, compared in constant time
 *   routing   (wh_routes.c)  alert -> first matching route -> params
 *                            rendered over alert.* and checked against the
 *                            target runbook's declared patterns and enums
 *   listener  (serve.c)      libmicrohttpd on runbook's own event loop:
 *                            bounds, authenticates, records durably (the
 *                            queue and audit tables of state.db), answers,
 *                            and hands each queued run to a child process
 *                            `runbook run --queue-id ID --state DIR`.
 *
 * The listener never executes a step itself. It is single
 * threaded: libmicrohttpd runs in "external epoll" mode, its epoll fd is one
 * more fd on the struct rb_evloop that also watches the run children
 * (pidfds) and SIGINT/SIGTERM. The one struct rb_store is therefore only
 * ever used by the thread that opened it (store.h).
 */
#ifndef RUNBOOK_WEBHOOK_H
#define RUNBOOK_WEBHOOK_H

#include "runbook/buf.h"
#include "runbook/diag.h"
#include "runbook/error.h"
#include "runbook/model.h"
#include "runbook/scope.h"

/* ------------------------------------------------------------------ */
/* Payloads (wh_alert.c) */

/* Bodies nested deeper than this are refused before jansson sees them. */
#define RB_WH_MAX_DEPTH 64
/* Room for a fingerprint: 16 hex digits and the NUL. */
#define RB_WH_FINGERPRINT_SIZE 17

/* Which sender format a body is parsed as; chosen by the request path. */
enum rb_wh_kind {
	RB_WH_ALERTMANAGER, /* POST / or /alertmanager: webhook v4 */
	RB_WH_GRAFANA,	    /* POST /grafana: unified alerting */
	RB_WH_GENERIC	    /* POST /hooks/NAME: any JSON object */
};

/* "alertmanager", "grafana", "generic". */
const char *rb_wh_kind_name(enum rb_wh_kind kind);

/*
 * One alert, owning its strings. view points into them and is what the
 * router and templates read (struct rb_alert of scope.h).
 */
struct rb_wh_alert {
	char *status;		 /* "firing" or "resolved" */
	struct rb_label *labels; /* sorted by key, keys unique */
	size_t nlabels;
	struct rb_label *annotations; /* sorted by key, keys unique */
	size_t nannotations;
	char *fingerprint;    /* sender's, or computed (16 hex) */
	char *starts_at;      /* as sent; "" when absent */
	struct rb_alert view; /* borrowed view of the above */
};

/* A parsed body: its alerts in the order they were sent. */
struct rb_wh_payload {
	enum rb_wh_kind kind;
	struct rb_wh_alert *alerts;
	size_t nalerts;
};
#define RB_WH_PAYLOAD_INIT                                                     \
	{                                                                      \
		RB_WH_ALERTMANAGER, NULL, 0                                    \
	}

/*
 * Check that the JSON text body (len bytes) nests arrays and objects at
 * most max_depth deep, without parsing it (strings are skipped, so brackets
 * inside them do not count). Returns 0 or RB_ETOOBIG.
 */
int rb_wh_json_depth_check(const char *body, size_t len, size_t max_depth);

/*
 * Parse body as kind into *out (which must be RB_WH_PAYLOAD_INIT or
 * released). The body must be one JSON value, UTF-8, without duplicate
 * object keys (JSON_REJECT_DUPLICATES) and nested at most RB_WH_MAX_DEPTH
 * deep.
 *
 * Alertmanager and Grafana: an object with an "alerts" array; each alert an
 * object whose "labels" and "annotations" are objects of strings, with
 * optional "status" (default: the payload's "status", else "firing"),
 * "startsAt" and "fingerprint" strings. Unknown fields are ignored at
 * every level (senders add fields over time). A Grafana body must also
 * carry "version": "1" when it has a version. An alert without a
 * fingerprint gets rb_wh_fingerprint() of its labels.
 *
 * Generic: an object; each top-level string field becomes a label (other
 * fields are ignored), giving exactly one alert whose status is "resolved"
 * when a "status" label says so and "firing" otherwise, whose starts_at is
 * the "startsAt" (else "starts_at") label or "", and whose fingerprint is
 * always computed from the labels.
 *
 * Returns 0, or RB_EINVAL (malformed, with a one-line reason in err) or
 * RB_ETOOBIG (nested too deep); *out is then empty.
 */
int rb_wh_payload_parse(struct rb_wh_payload *out, enum rb_wh_kind kind,
    const char *body, size_t len, struct rb_error *err);
/* Free everything the payload owns and reset it; NULL-safe. */
void rb_wh_payload_release(struct rb_wh_payload *p);

/*
 * The Prometheus fingerprint of a label set (prometheus/common
 * model/signature.go, LabelsToSignature): FNV-1a 64 over the pairs sorted
 * by name, each name and each value followed by the byte 0xFF, written as
 * 16 lower-case hex digits. {} gives "cbf29ce484222325".
 */
void rb_wh_fingerprint(
    char out[RB_WH_FINGERPRINT_SIZE], const struct rb_label *labels, size_t n);

/*
 * Append the alert as the JSON object the queue stores and `runbook run
 * --queue-id` reads back:
 *   {"annotations":{..},"fingerprint":"..","kind":"alertmanager",
 *    "labels":{..},"starts_at":"..","status":"firing"}
 * (keys sorted, compact, UTF-8 kept). Returns 0 or RB_ETOOBIG (out's cap).
 */
int rb_wh_alert_json(
    struct rb_buf *out, const struct rb_alert *a, enum rb_wh_kind kind);

/* ------------------------------------------------------------------ */
/* Authentication (wh_auth.c) */

/* The SHA-256 HMAC size in bytes. */
#define RB_WH_MAC_SIZE 32
/* Grafana signatures with a timestamp older or newer than this fail. */
#define RB_WH_REPLAY_WINDOW_S 300

/* The configured schemes with their secrets, read from the environment. */
struct rb_wh_auth;

/* The outcome of a check; also the `reason` label of auth metrics. */
enum rb_wh_auth_result {
	RB_WH_AUTH_OK = 0,
	RB_WH_AUTH_MISSING,   /* no credentials for any scheme */
	RB_WH_AUTH_MALFORMED, /* a credential that does not parse */
	RB_WH_AUTH_INVALID,   /* wrong token, password or signature */
	RB_WH_AUTH_STALE      /* signed timestamp outside the window */
};
#define RB_WH_AUTH_NRESULTS 5

/* "ok", "missing", "malformed", "invalid", "stale". */
const char *rb_wh_auth_result_name(enum rb_wh_auth_result r);

/*
 * Read the secrets that cfg names from the environment (getenv). Each
 * named variable must be set and non-empty, else RB_EINVAL with a message
 * naming the variable (never a value) and a hint. The secrets are copied
 * and wiped when the object is freed. Returns 0 and sets *out.
 */
int rb_wh_auth_new(struct rb_wh_auth **out, const struct rb_routes_auth *cfg,
    struct rb_error *err);
/* Wipe and free; NULL-safe. */
void rb_wh_auth_free(struct rb_wh_auth *a);
/* Whether any scheme is configured (false: every request passes). */
bool rb_wh_auth_configured(const struct rb_wh_auth *a);
/*
 * The environment variables whose values are secrets of a (to keep them
 * out of children's environments); NULL-terminated, owned by a.
 */
const char *const *rb_wh_auth_env_names(const struct rb_wh_auth *a);

/* Look up a request header by name (case-insensitive), NULL if absent. */
typedef const char *(*rb_wh_header_fn)(const char *name, void *payload);

/*
 * Authenticate a request: it passes when any configured scheme verifies
 * (bearer token, basic user and password, HMAC of body in the configured
 * header, Grafana signature in X-Grafana-Alerting-Signature or
 * X-Grafana-Alert-Signature, over "ts:body" with the timestamp header when
 * one is configured, then |now_s - ts| <= RB_WH_REPLAY_WINDOW_S). Every
 * comparison of a secret or MAC is constant-time (CRYPTO_memcmp on
 * equal-length values). body is the raw bytes as received. *out_scheme
 * (may be NULL) receives the scheme that passed, or the one whose failure
 * is reported: "bearer", "basic", "hmac", "grafana" or "none".
 */
enum rb_wh_auth_result rb_wh_auth_check(const struct rb_wh_auth *a,
    rb_wh_header_fn header, void *payload, const char *body, size_t len,
    int64_t now_s, const char **out_scheme);

/*
 * Parse a hex HMAC-SHA256 signature header value: with prefix (e.g.
 * "sha256=", matched case-insensitively) or bare when prefix is NULL;
 * surrounding blanks are ignored; exactly 64 hex digits of either case.
 * Returns 0 and fills out, or RB_EINVAL.
 */
int rb_wh_sig_parse(
    unsigned char out[RB_WH_MAC_SIZE], const char *value, const char *prefix);
/*
 * Split an Authorization header value "<scheme> <credentials>" whose
 * scheme equals scheme case-insensitively. Returns 0 and points
 * out_cred and out_len at the credentials (blanks trimmed), or RB_EINVAL.
 */
int rb_wh_auth_parse_scheme(const char **out_cred, size_t *out_len,
    const char *value, const char *scheme);
/* Parse a decimal unix timestamp header; 0 or RB_EINVAL. */
int rb_wh_parse_timestamp(int64_t *out, const char *value);

/* ------------------------------------------------------------------ */
/* Routing (wh_routes.c) */

/* The routes with their target runbooks, loaded once at start-up. */
struct rb_wh_router;

/*
 * Load the target runbook of every route (each file once, with
 * sub-runbooks checked), resolving names relative to the routes file like
 * `runbook validate` does. Problems in a runbook are added to diags; a
 * runbook that is missing or invalid fails the whole router with
 * RB_EINVAL (or RB_ENOTFOUND) and a message in err naming the route.
 * routes must outlive the router. Returns 0 and sets *out.
 */
int rb_wh_router_new(struct rb_wh_router **out, const struct rb_routes *routes,
    struct rb_diags *diags, struct rb_error *err);
void rb_wh_router_free(struct rb_wh_router *rt);

/*
 * Whether route r takes alert a arriving on hook (the NAME of /hooks/NAME,
 * or NULL for Alertmanager and Grafana): the route's hook must equal hook
 * (routes without `hook` serve only Alertmanager and Grafana), its status
 * must accept the alert's, and every matcher must hold (label equal, or
 * its /regex/ matching; a missing label is ""). Returns 1, 0, or
 * RB_ETOOBIG when a regex hit its match limit (message in err).
 */
int rb_wh_route_matches(const struct rb_route *r, const struct rb_alert *a,
    const char *hook, struct rb_error *err);

/* What the router decided for one alert. */
struct rb_wh_match {
	const struct rb_route *route; /* the route taking it, or NULL */
	const char *runbook;	      /* absolute path of its runbook */
	char *params;		      /* JSON object, rendered params */
	char *dedup_key;	      /* ["route","fingerprint","startsAt"] */
	int64_t window_ms;	      /* dedup window; 0: none */
};
#define RB_WH_MATCH_INIT                                                       \
	{                                                                      \
		NULL, NULL, NULL, NULL, 0                                      \
	}

/*
 * Route alert a (see rb_wh_route_matches) to the first route that takes
 * it, render each of that route's params over alert.* (plain values, no
 * shell quoting) and check every rendered value against the runbook's
 * param pattern and enum (rb_param_check). Returns 0 with out->route NULL
 * when no route takes the alert; 0 with everything filled when it is to be
 * queued; RB_EINVAL (a value failed its check or a template failed) or
 * RB_ETOOBIG (regex limit) with out->route set (when known) and the reason
 * in err: the alert must then be rejected, never queued.
 */
int rb_wh_router_route(struct rb_wh_match *out, const struct rb_wh_router *rt,
    const struct rb_alert *a, const char *hook, struct rb_error *err);
/* Free what a match owns and reset it; NULL-safe. */
void rb_wh_match_release(struct rb_wh_match *m);

/*
 * The loaded target runbook whose absolute path is path (as in
 * rb_wh_match.runbook and the queue), or NULL. Owned by the router.
 */
const struct rb_runbook *rb_wh_router_runbook(
    const struct rb_wh_router *rt, const char *path);

/*
 * The lock key a queued run will take (SPEC 2.1 `lock`, default the
 * runbook's name), computed like the engine does from the runbook, the
 * queued params (JSON object text) and the queued alert (JSON text from
 * rb_wh_alert_json(), or NULL), into out. When the key cannot be computed
 * (params that do not resolve, a template that fails) the runbook's name
 * is used: the listener then waits rather than starting a run its lock
 * would refuse. Returns 0, or RB_ETOOBIG on out's cap.
 */
int rb_wh_lock_key(struct rb_buf *out, const struct rb_runbook *rb,
    const char *params_json, const char *alert_json);

/* ------------------------------------------------------------------ */
/* The listener (serve.c) */

struct rb_wh_server;

enum rb_wh_log_level { RB_WH_LOG_INFO, RB_WH_LOG_WARN, RB_WH_LOG_ERROR };

/*
 * Receives each log line: one JSON object (no newline) with at least "ts",
 * "level" and "msg"; request lines add remote, method, path, code,
 * matched, queued, deduplicated, rejected and duration_ms. Text from the
 * outside (paths, reasons) is JSON-escaped, so a line is always one line.
 */
typedef void (*rb_wh_log_fn)(
    enum rb_wh_log_level level, const char *line, void *payload);

struct rb_wh_serve_opts {
	const struct rb_routes *routes; /* required; outlives server */
	const char *listen;		/* HOST:PORT; NULL: routes->listen */
	const char *state_dir;		/* NULL: rb_store_default_dir() */
	const char *exe;		/* the runbook binary for children;
					   NULL: /proc/self/exe resolved */
	int connection_timeout_s;	/* idle connections closed after */
	int max_connections;		/* in total */
	int max_per_ip;			/* from one address */
	int64_t shutdown_grace_ms;	/* runs get SIGTERM, SIGKILL after */
	rb_wh_log_fn log;		/* NULL: no logging */
	void *payload;			/* for log */
};
#define RB_WH_SERVE_OPTS_INIT                                                  \
	{                                                                      \
		NULL, NULL, NULL, NULL, 10, 512, 128, 30000, NULL, NULL        \
	}

/*
 * Prepare everything that can fail before serving: read the auth secrets
 * (rb_wh_auth_new), load the target runbooks (rb_wh_router_new), refuse to
 * run without auth unless the socket is on loopback, open state.db, put
 * back queue entries orphaned by a dead listener (rb_queue_recover), and
 * bind the listening socket, or take it from systemd socket activation
 * (LISTEN_PID is this process and LISTEN_FDS >= 1: fd 3). Warnings (no
 * auth, routes without dedup) go to the log callback.
 *
 * Returns 0 and sets *out, or: RB_EINVAL for configuration errors (missing
 * secret variable, invalid runbook with diagnostics in diags, no auth on a
 * non-loopback address, bad --listen), RB_EIO when state.db cannot be
 * opened or the address cannot be bound; message and hint in err.
 */
int rb_wh_serve_new(struct rb_wh_server **out,
    const struct rb_wh_serve_opts *opts, struct rb_diags *diags,
    struct rb_error *err);

/*
 * Serve until SIGINT or SIGTERM. Accepted alerts are queued and their runs
 * started as `<exe> run --queue-id ID --state DIR` children (environment:
 * runbook's own, without LISTEN_*, NOTIFY_SOCKET and the auth secrets;
 * stdout and stderr: runbook's stderr), at most max_runs at a time, one
 * at a time per lock key; an entry is marked done (exit 0, or 4: paused
 * at an approval) or failed (anything else) when its child exits.
 *
 * Shutdown is graceful: stop accepting, let requests in flight finish (at
 * most the connection timeout), send SIGTERM to running runs (which
 * journal themselves as interrupted; SIGKILL after shutdown_grace_ms, at
 * once on a second signal), mark their entries from their exit status,
 * and leave queued entries queued for the next start (entries claimed and
 * waiting for a lock are put back by the next start's rb_queue_recover()).
 * Returns 0 after a clean shutdown, or RB_EIO when the event loop failed.
 */
int rb_wh_serve_run(struct rb_wh_server *s, struct rb_error *err);

/* Stop serving and free everything; NULL-safe. Runs still going are
 * killed (rb_proc_release); call after rb_wh_serve_run(). */
void rb_wh_serve_free(struct rb_wh_server *s);

#endif
