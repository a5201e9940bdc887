/*
 * ssh_int.h - what the four parts of the SSH transport share: the pool
 * and its per-host sessions (ssh_pool.c), logging in (ssh_auth.c), the
 * commands and their channels (ssh_exec.c), and the known_hosts checks
 * (ssh_known_hosts.c).
 *
 * Threading model: none. Every function here runs on the pool's loop, and
 * libssh2 is used in non-blocking mode only.
 *
 * libssh2 1.10 rules that shape the code (from its source):
 * - Once a call returned LIBSSH2_ERROR_EAGAIN with a partly sent packet
 *   (block directions include OUTBOUND), the next send on the session must
 *   be that same call with the same arguments; any other send fails with
 *   LIBSSH2_ERROR_BAD_USE. host->out_owner records which command owns the
 *   pending packet, and nothing else runs on the session until it is out.
 * - libssh2_channel_open_ex() keeps its state in the session, so only one
 *   channel may be opening per session (host->opening).
 * - Any call may read packets for every channel of the session into one
 *   queue. A command that was asked before its packet arrived sees it
 *   only when asked again, and the socket will not wake us for it: the
 *   pump goes round until a round reads nothing from the socket
 *   (host->received, counted by our recv callback).
 * - libssh2_knownhost_* collections belong to a session (for allocation);
 *   the pool keeps a never-connected session just for them, so a parsed
 *   known_hosts file is shared by every host that names it.
 */
#ifndef RUNBOOK_SSH_INT_H
#define RUNBOOK_SSH_INT_H

#include <libssh2.h>

#include "runbook/error.h"
#include "runbook/ssh.h"
#include "exec/outstream.h"

struct kh_file;
struct resolve;

/* Where a host's session is. */
enum host_state {
	HS_IDLE,      /* no session; the next queued command opens one */
	HS_RESOLVE,   /* getaddrinfo_a() running */
	HS_CONNECT,   /* non-blocking connect() */
	HS_HANDSHAKE, /* libssh2_session_handshake() */
	HS_AUTH,      /* host key checked; authenticating */
	HS_READY,     /* channels may be opened */
	HS_FAILED     /* refused for good (host key, auth): fail commands */
};

/* Where a command is. */
enum exec_state {
	XS_QUEUED, /* on host->queue, waiting for the session / a slot */
	XS_OPEN,   /* opening its channel (it is host->opening) */
	XS_EXEC,   /* "exec /bin/sh -s" sent, waiting for the reply */
	XS_WRITE,  /* writing the script on stdin */
	XS_RUN,	   /* reading output until the remote EOF */
	XS_EOF,	   /* sending EOF on stdin: stop the command */
	XS_CLOSE,  /* waiting for the remote close (exit status) */
	XS_FREE,   /* libssh2_channel_free() */
	XS_DONE	   /* on pool->done, waiting for on_done */
};

/* Why a command is being stopped. */
enum exec_stop { STOP_NONE, STOP_TIMEOUT, STOP_CANCEL };

/* A doubly linked list of commands (a queue, active set or done list). */
struct exec_list {
	struct rb_ssh_exec *head, *tail;
	size_t nr;
};

/* One captured stream: the rb_capture plus its tail ring and line. */
/* One inventory host: its connection settings and its session. */
struct ssh_host {
	struct rb_ssh_pool *pool;
	char *name, *address, *user;
	int port;
	char *identity;	   /* expanded path, or NULL for the defaults */
	char *known_hosts; /* expanded path */
	char *hostport;	   /* "address" or "[address]:port" */

	enum host_state state;
	struct rb_error error; /* why the last attempt failed */
	int fd;		       /* socket, -1 when none */
	int fd_mask;	       /* registered with the loop, 0 = not */
	struct resolve *rs;    /* lookup in flight, or NULL */
	struct addrinfo *ai;   /* addresses to try */
	struct addrinfo *ai_cur;
	int connect_errno; /* the last connect() failure */
	LIBSSH2_SESSION *session;
	uint64_t phase_timer; /* connect or auth deadline */
	uint64_t kick_timer;  /* deferred pump */
	uint64_t keepalive_timer;
	uint64_t resolve_timer;
	int64_t resolve_wait; /* current poll interval */

	/* authentication progress */
	int auth_step;
	LIBSSH2_AGENT *agent;
	struct libssh2_agent_publickey *agent_id;
	struct rb_strvec ident_files;
	size_t ident_next;
	const char *ident_cur;
	struct rb_buf auth_tried; /* "agent key ssh-rsa, /x/id (not found)" */
	bool auth_rsa;		  /* an RSA key was offered and failed */

	/* commands */
	struct exec_list queue;	 /* XS_QUEUED */
	struct exec_list active; /* XS_OPEN ... XS_FREE */
	unsigned max_channels;
	struct rb_ssh_exec *opening;
	struct rb_ssh_exec *out_owner;
	uint64_t received; /* bytes read from the socket, ever */
	bool pumping;
};

struct rb_ssh_pool {
	struct rb_evloop *loop;
	struct rb_ssh_opts opts; /* strings below are the copies */
	char *home;
	char *agent_socket;
	struct ssh_host **hosts;
	size_t nhosts, hosts_alloc;
	LIBSSH2_SESSION *kh_session; /* owns the known_hosts collections */
	struct kh_file **kh;
	size_t nkh, kh_alloc;
	struct exec_list done; /* XS_DONE, waiting for on_done */
	uint64_t done_timer;
	size_t pending; /* started, on_done not yet returned */
	struct rb_ssh_stats stats;
};

struct rb_ssh_exec {
	struct rb_ssh_pool *pool;
	struct ssh_host *host;
	struct rb_ssh_exec *prev, *next; /* in one exec_list */
	struct exec_list *list;		 /* the list it is on, or NULL */
	enum exec_state state;
	enum exec_stop stop;
	LIBSSH2_CHANNEL *ch;
	struct rb_buf script; /* stdin; may hold secrets */
	size_t script_off;
	int blocked_op;	   /* OP_* owning host->out_owner */
	bool eof_sent;	   /* stdin closed: the watcher stops it */
	bool requeued;	   /* retried once after a lost session */
	bool kill_expired; /* the host did not confirm the stop */
	uint64_t timeout_timer;
	uint64_t kill_timer;
	int64_t timeout_ms;
	size_t head_max, tail_max;
	rb_ssh_line_fn on_line;
	rb_ssh_done_fn on_done;
	void *payload;
	struct outstream out, err;
	struct rb_ssh_result result;
};

/* What one step of a command's state machine achieved. */
enum step_result {
	STEP_WAIT,     /* libssh2 would block */
	STEP_PROGRESS, /* something moved: step again */
	STEP_DONE,     /* the command ended (it is off host->active) */
	STEP_FATAL     /* the session is broken (message in host->error) */
};

/* ---- exec_list helpers (ssh_exec.c) */
void exec_list_push(struct exec_list *l, struct rb_ssh_exec *x);
void exec_list_push_front(struct exec_list *l, struct rb_ssh_exec *x);
void exec_list_remove(struct rb_ssh_exec *x);

/* ---- ssh_exec.c: commands */
/* Advance x's channel as far as it goes without blocking. */
enum step_result exec_step(struct rb_ssh_exec *x);
/* End x with its result as it stands: off its list, onto pool->done. */
void exec_finish(struct rb_ssh_exec *x);
/* End a command that never got a channel with host's error. */
void exec_fail_host(
    struct rb_ssh_exec *x, const struct rb_error *e, bool started);
/* Free x and everything it owns (its channel must be gone). */
void exec_free(struct rb_ssh_exec *x);

/* ---- ssh_pool.c: sessions */
/* The pool's session for host->name, created (and copied) on first use;
 * NULL with RB_EINVAL in err when host has no usable address. */
struct ssh_host *ssh_host_get(
    struct rb_ssh_pool *pool, const struct rb_host *host, struct rb_error *err);
/* Run host's state machine now (not re-entrant: nested calls return). */
void host_pump(struct ssh_host *h);
/* Run host's state machine on the next loop round. */
void host_kick(struct ssh_host *h);
/* Whether a libssh2 error code leaves the session unusable. */
bool ssh_error_is_fatal(int rc);
/* The session's last error message ("" if none). */
const char *ssh_last_error(LIBSSH2_SESSION *s, int *code);
/* Connecting h failed (h->error says why); permanent: never retry. */
void ssh_connect_failed(struct ssh_host *h, bool permanent);
/* h is authenticated: take commands, start keepalives. */
void ssh_host_ready(struct ssh_host *h);

/* ---- ssh_auth.c: logging in */
/* Begin authenticating h (its host key is checked). */
void ssh_auth_start(struct ssh_host *h);
/* Take the next authentication steps until one blocks or ends. */
void ssh_auth_step(struct ssh_host *h);

/* ---- ssh_known_hosts.c: host keys */
/*
 * Check the host key of h's freshly handshaken session, report the
 * decision through opts.on_hostkey, and add it when allowed. Returns 0
 * (trusted) or RB_EREFUSED / RB_ERROR with the message in h->error.
 */
int ssh_hostkey_verify(struct ssh_host *h);
/* The host key algorithms to offer, known types for h first (malloc'd). */
char *ssh_hostkey_prefs(struct ssh_host *h);
/* Free every cached known_hosts file. */
void ssh_kh_free_all(struct rb_ssh_pool *pool);

#endif
