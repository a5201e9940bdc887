/*
 * serve_int.h - what the parts of `runbook serve` share: the server, its
 * requests, the ops a request writes at the next commit, and the run
 * children. One thread owns all of it (see serve.c).
 *
 *   serve.c       the server's life: start-up, the event loop, signals,
 *                 shutdown, and serve's JSON log
 *   listener.c    the socket and libmicrohttpd: framing checks, the access
 *                 handler, answering and parking requests, GET endpoints
 *   intake.c      deciding a webhook request: auth, payload, routes, dedup
 *                 keys, turning each outcome into ops for the writer
 *   writer.c      the commit round: every op of a loop round in one
 *                 transaction, then the parked requests answered
 *   supervisor.c  run children: claiming queued entries, lock hold-back,
 *                 starting `runbook run --queue-id` and reaping it
 */
#ifndef RUNBOOK_SERVE_INT_H
#define RUNBOOK_SERVE_INT_H

#include <netdb.h>
#include <stdarg.h>

#include <jansson.h>
#include <microhttpd.h>

#include "runbook/proc.h"
#include "runbook/strvec.h"
#include "runbook/webhook.h"

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

/* The status codes /metrics counts by name (listener.c: known_codes). */
#define NCODES 10

enum alert_result { AL_QUEUED, AL_DEDUP, AL_REJECTED, AL_UNMATCHED, AL_N };

enum run_result { RUN_STARTED, RUN_SUCCEEDED, RUN_FAILED, RUN_PAUSED, RUN_N };
/* Their names in /metrics (supervisor.c). */
extern const char *const serve_run_result_names[RUN_N];

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
	int listen_fd; /* ours until MHD takes it */
	int epoll_fd;  /* MHD's, watched by loop */
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

/* serve.c: logging */ /* A JSON string of s, bounded to MAX_LOG_TEXT bytes, for
			  logs and audit. */
json_t *serve_jstr(const char *s);
/* Emit one log line: {"ts","level","msg", fields...}; takes fields. */
void serve_log(const struct rb_wh_server *s, enum rb_wh_log_level level,
    const char *msg, json_t *fields);

/* listener.c: HTTP framing and answers */
/* Queue req's response on its connection (suspended or in the handler). */
enum MHD_Result serve_send_response(struct req *q);
/* Set q's answer (takes body); sent by serve_send_response(). */
void serve_set_response(
    struct req *q, int code, const char *ctype, char *body);
/* {"error": reason} as a response body. */
char *serve_error_body(const char *reason);
/* Park a decided request until the round's commit. */
void serve_park(struct req *q);
/*
 * Answer a request whose answer does not depend on the commit (anything
 * but 202) at once, from the handler; its audit records are written by the
 * next commit round. Answering before the request body was read (a 413 on
 * Content-Length) without delay also spares "Expect: 100-continue" clients
 * from sending the body.
 */
void serve_answer_deferred(struct req *q);
/* Bind and listen on addr, or take systemd's socket. */
int serve_open_listener(struct rb_wh_server *s, const char *addr,
    bool *out_loopback,
    struct rb_error *err); /* Start libmicrohttpd on the listening socket, in
			      external epoll mode. */
int serve_start_daemon(struct rb_wh_server *s, struct rb_error *err);

/* intake.c: deciding a request */
/* Free what an op owns. */
void serve_op_release(struct op *o);/* Release every op of q. */
void serve_ops_free(struct req *q);
/*
 * Refuse the whole request with code and reason, audited as
 * webhook.rejected.
 */
void serve_reject(
    struct req *q, int code, const char *reason, const char *scheme);
/* The response body of a decided hook request. */
char *serve_hook_body(const struct req *q);
/* The whole body is in: authenticate, parse, route, park. */
void serve_decide_hook(struct req *q);

/* writer.c: the commit round */
/*
 * Write the audit records of requests already answered and everything of
 * the parked (accepted) requests in one transaction, commit, then answer
 * and resume the parked ones: 202 when the commit succeeded, 503 when it
 * did not (nothing of the round was written, the sender retries). Returns
 * true when connections were resumed (libmicrohttpd must run again).
 */
bool serve_commit_round(struct rb_wh_server *s);

/* supervisor.c: run children */
/*
 * Start queued runs while there is room: first the held entries whose lock
 * came free, then newly claimed ones (held instead when their lock is
 * taken; at most max_runs are held, keeping the rest in the queue).
 */
void serve_claim_runs(struct rb_wh_server *s);
/* The environment of run children: ours without socket activation, the
 * service manager's notification socket, or the listener's secrets. */
void serve_build_child_env(
    struct rb_wh_server *s); /* The runbook binary that run children execute. */
int serve_resolve_exe(struct rb_wh_server *s, struct rb_error *err);

#endif
