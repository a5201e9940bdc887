/*
 * ssh.h - run step commands on inventory hosts over SSH (libssh2), on the
 * engine's event loop.
 *
 * One struct rb_ssh_pool per run holds one SSH session per inventory host,
 * opened on first use and reused by every later command for that host.
 * Everything is non-blocking and driven by the rb_evloop the pool was
 * created on: hundreds of hosts connect, authenticate and run commands
 * concurrently on one thread. Usage:
 *
 *	struct rb_ssh_opts o = RB_SSH_OPTS_INIT;
 *	struct rb_ssh_cmd c = RB_SSH_CMD_INIT;
 *
 *	o.accept_new_host_keys = run_opts->accept_new;
 *	o.on_hostkey = audit_hostkey;		(every trust decision)
 *	if ((r = rb_ssh_pool_new(&pool, loop, &o, &err)) != 0)
 *		goto out;
 *	c.command = "systemctl restart postgresql";
 *	c.env = &step_env;			(RUNBOOK_PARAM_X=..., ...)
 *	c.timeout_ms = 60000;
 *	c.on_done = step_finished;		(exactly once, from the loop)
 *	c.payload = task;
 *	if ((r = rb_ssh_exec_start(&task->ssh, pool, host, &c, &err)) != 0)
 *		goto out;			(only for invalid input)
 *	... the loop runs; step_finished(x, res, task) ...
 *	rb_ssh_pool_free(pool);			(after the loop, at run end)
 *
 * Host keys (SPEC 3). After the key exchange the server's host key is
 * checked against the host's known_hosts file (rb_host.known_hosts, else
 * ~/.ssh/known_hosts; a leading "~/" is $HOME or rb_ssh_opts.home) in
 * OpenSSH format: plain and hashed ("|1|salt|hash") names, several names
 * per line, "@revoked" lines; non-22 ports as "[address]:port", exactly as
 * OpenSSH writes them (a plain "address" line does not vouch for another
 * port). The name checked is the host's address as written in the
 * inventory. Wildcard patterns and @cert-authority lines are not supported
 * and never match. The outcome:
 *   - the key matches: trusted;
 *   - no key of any type is known for the host: refused, or with
 *     accept_new_host_keys appended to the file as "[address]:port type
 *     base64" (the file is created 0600, its directory 0700, if missing);
 *   - a different key, a key of another type than the ones known for the
 *     host, or a revoked key: refused, always, also with
 *     accept_new_host_keys ("remote host identification has changed").
 * Every decision (trusted ones included) is passed to opts.on_hostkey with
 * the key type and its SHA256 fingerprint, for the audit log. A refused
 * host never gets a channel: no command byte is ever sent to it. Refusals
 * and authentication failures are remembered for the pool's life; network
 * failures are retried by the next command for that host.
 *
 * Authentication: the ssh-agent first (if opts.agent_socket, else
 * $SSH_AUTH_SOCK, names a socket), then the identity file (rb_host.identity,
 * else ~/.ssh/id_ed25519 and ~/.ssh/id_ecdsa, those that exist). Keys with
 * a passphrase work only through the agent. ed25519 and ECDSA keys work;
 * RSA user keys do not with Debian's libssh2 1.10 against OpenSSH 8.8 and
 * later (it signs only with SHA-1 "ssh-rsa"; libssh2 issue 634), and the
 * error says so. Password and keyboard-interactive authentication are
 * never tried; agent forwarding, X11 and ptys are never requested.
 *
 * How a command runs (SPEC 3). The channel executes the constant string
 * "exec /bin/sh -s", so the login shell (bash, fish, csh...) only ever
 * parses that; the script rb_ssh_script() builds is then written on the
 * channel's stdin. It exports each env entry as a single-quoted value, cds
 * to workdir (exit 1 if that fails; a leading "~/" is the remote $HOME),
 * and has that /bin/sh evaluate the command, single-quoted, with stdin
 * from /dev/null: exactly what `/bin/sh -c COMMAND` would do (same $0, $$
 * and exit status) without another fork and exec. A hostile value arrives
 * byte-identical and is never parsed as shell. The channel's stdin stays
 * open while the command runs and is its lifeline: when it reaches EOF -
 * on a timeout or rb_ssh_exec_cancel() (this module sends EOF), or because
 * the connection died or runbook exited - a watcher on the host sends
 * SIGTERM to the command's process group, and SIGKILL kill_grace_ms later.
 * Remote commands therefore never outlive the run that started them, with
 * any SSH server and without the "signal" channel request (libssh2 1.10
 * has none). After a command ended normally, what is left of its process
 * group is killed when the channel closes, as rb_proc does locally; a
 * process that left the group (setsid) escapes, as it would locally. A
 * leftover that keeps the command's stdout open holds the channel (and
 * the step) until the timeout, as with ssh(1).
 *
 * Channels. Up to opts.max_channels commands run at once on one session
 * (OpenSSH's MaxSessions is 10 by default); more wait in a queue for that
 * host. If the server refuses a channel while others are open, the limit
 * for that session is lowered to what it accepted and the command waits.
 *
 * Name resolution uses getaddrinfo_a(3) (glibc runs it on a helper thread)
 * polled from a loop timer, so a slow DNS server never stalls the loop.
 * Each session uses one fd; thousands of hosts need `ulimit -n` raised.
 */
#ifndef RUNBOOK_SSH_H
#define RUNBOOK_SSH_H

#include "runbook/buf.h"
#include "runbook/common.h"
#include "runbook/error.h"
#include "runbook/proc.h"
#include "runbook/strvec.h"

struct rb_evloop;
struct rb_host;
struct rb_ssh_pool;
struct rb_ssh_exec;

/* Defaults for struct rb_ssh_opts. */
#define RB_SSH_CONNECT_TIMEOUT_MS 10000
#define RB_SSH_AUTH_TIMEOUT_MS 10000
#define RB_SSH_KILL_GRACE_MS 2000
#define RB_SSH_KEEPALIVE_S 30
#define RB_SSH_MAX_CHANNELS 10

/* ------------------------------------------------------------- host keys */

/* The outcome of one host-key check. */
enum rb_ssh_hostkey_status {
	RB_SSH_HOSTKEY_KNOWN,	/* matches known_hosts: trusted */
	RB_SSH_HOSTKEY_ADDED,	/* was unknown, added (accept_new_host_keys) */
	RB_SSH_HOSTKEY_UNKNOWN, /* not in known_hosts: refused */
	RB_SSH_HOSTKEY_CHANGED, /* differs from known_hosts, or revoked:
				 * refused (never added) */
	RB_SSH_HOSTKEY_ERROR	/* cannot be checked or recorded (unreadable
				 * file, unsupported key type): refused */
};

/* One host-key decision, for the audit log. Valid during the callback. */
struct rb_ssh_hostkey_info {
	const char *host;    /* inventory name */
	const char *address; /* as in the inventory */
	int port;
	const char *key_type;	 /* "ssh-ed25519", "ecdsa-sha2-nistp256"... */
	const char *fingerprint; /* "SHA256:<base64>", as ssh-keygen -l */
	enum rb_ssh_hostkey_status status;
	bool trusted;		 /* KNOWN or ADDED: the session goes on */
	const char *reason;	 /* one line: why, e.g. the refusal message */
	const char *known_hosts; /* the file checked (and written) */
	int line;		 /* its matching / conflicting / added line,
				  * 0 when there is none */
};

/* Called on the loop for every host-key decision. */
typedef void (*rb_ssh_hostkey_fn)(
    const struct rb_ssh_hostkey_info *info, void *payload);

/* ----------------------------------------------------------------- pool */

struct rb_ssh_opts {
	int64_t connect_timeout_ms; /* resolve + TCP connect + SSH handshake */
	int64_t auth_timeout_ms;    /* host-key check + authentication */
	int64_t kill_grace_ms;	    /* SIGTERM to SIGKILL on the host when a
				     * command is stopped (whole seconds on
				     * the host, at least 1) */
	int keepalive_s;	    /* SSH keepalive interval; 0 = none */
	unsigned max_channels;	    /* concurrent commands per session */
	bool accept_new_host_keys;  /* add unknown keys (never changed ones) */
	const char *home;	    /* for "~/" paths; NULL: $HOME */
	const char *agent_socket;   /* NULL: $SSH_AUTH_SOCK; "": no agent */
	rb_ssh_hostkey_fn on_hostkey; /* optional */
	void *payload;		      /* passed to on_hostkey */
};

#define RB_SSH_OPTS_INIT                                                       \
	{                                                                      \
		RB_SSH_CONNECT_TIMEOUT_MS, RB_SSH_AUTH_TIMEOUT_MS,             \
		    RB_SSH_KILL_GRACE_MS, RB_SSH_KEEPALIVE_S,                  \
		    RB_SSH_MAX_CHANNELS, false, NULL, NULL, NULL, NULL         \
	}

/* Counters for metrics and tests; monotonic over the pool's life. */
struct rb_ssh_stats {
	unsigned connects;	   /* sessions that reached authentication */
	unsigned connect_failures; /* attempts that ended before that */
	unsigned hostkey_refusals; /* hosts refused for their host key */
	unsigned commands;	   /* commands whose remote shell started */
};

/*
 * Create a pool whose sessions live on loop. opts may be NULL for the
 * defaults; it is copied (strings included). Opens no connection and no
 * fd. Returns 0 and sets *out, or RB_ERROR (libssh2 cannot initialise)
 * with the message in err; *out is untouched on failure.
 *
 * An open session keeps a keepalive timer on the loop even when idle, so
 * rb_evloop_run() does not return while the pool has sessions: drive the
 * loop with rb_evloop_run_once() until your own work is done, then free
 * the pool. The ssh-agent (a local socket) is asked synchronously.
 */
int rb_ssh_pool_new(struct rb_ssh_pool **out, struct rb_evloop *loop,
    const struct rb_ssh_opts *opts, struct rb_error *err);

/*
 * Close every session and free the pool. Commands still running or queued
 * are abandoned without their on_done: their channels and connections are
 * closed, which ends the remote commands (see the lifeline above). Each
 * session gets one non-blocking disconnect message; nothing waits for the
 * network. Must not be called from a callback of this pool. NULL-safe.
 */
void rb_ssh_pool_free(struct rb_ssh_pool *pool);

/* Commands started and not yet passed to their on_done. */
size_t rb_ssh_pool_pending(const struct rb_ssh_pool *pool);

/* Copy the pool's counters into *out. */
void rb_ssh_pool_stats(
    struct rb_ssh_stats *out, const struct rb_ssh_pool *pool);

/* ------------------------------------------------------------- commands */

/*
 * What happened to one command. Valid in on_done; the callback may take
 * the capture buffers with rb_buf_detach(). The captures have the
 * semantics of rb_proc's (proc.h): head, tail, total.
 *
 * - The command ran to its end: status is its exit code (or 128+N when
 *   the remote shell was killed by signal N, as reported by the server),
 *   error.code is 0.
 * - host_error: the command could not be run, or its outcome is unknown,
 *   because of the host, not the command: unknown or changed host key
 *   (RB_EREFUSED), connection refused / unreachable / lost, failed
 *   authentication (RB_ERROR), connect or auth timeout (RB_ETIMEOUT).
 *   error.msg names the host and the cause, error.hint what to do.
 *   started tells whether the remote shell had begun (then the command
 *   may have run in part); status is -1.
 * - timed_out / cancelled: stopped by timeout_ms or rb_ssh_exec_cancel();
 *   error.code RB_ETIMEOUT / RB_EINTR. If the command had started, status
 *   is usually 143 (the watcher's SIGTERM); if the host did not confirm
 *   its end within kill_grace_ms + 3 s, status is -1 and error.msg says
 *   it may still be running. A timeout while still connecting also sets
 *   host_error.
 */
struct rb_ssh_result {
	int status;	       /* exit code, or 128+signal; -1: none */
	int signal;	       /* signal that ended the remote shell, or 0 */
	bool started;	       /* the remote shell accepted the script */
	bool host_error;       /* see above: host, not command */
	bool timed_out;	       /* timeout_ms expired */
	bool cancelled;	       /* rb_ssh_exec_cancel() */
	struct rb_error error; /* code 0 when the command ran to its end */
	const char *host;      /* inventory name (valid during on_done) */
	int64_t start_ms;      /* CLOCK_MONOTONIC at rb_ssh_exec_start() */
	int64_t exec_ms;       /* when the remote shell started, or 0 */
	int64_t end_ms;	       /* when the result was complete */
	struct rb_capture out; /* the command's stdout */
	struct rb_capture err; /* the command's stderr */
};

/*
 * Called for each line of output, without its newline, as it arrives;
 * stream is RB_PROC_STDOUT or RB_PROC_STDERR; a last line without newline
 * is passed at the end; lines longer than RB_PROC_LINE_MAX come in pieces.
 * The callback may call rb_ssh_exec_cancel() and rb_ssh_exec_start().
 */
typedef void (*rb_ssh_line_fn)(struct rb_ssh_exec *x, int stream,
    const char *line, size_t len, void *payload);
/*
 * Called exactly once per successful rb_ssh_exec_start(), from the loop
 * (never from inside rb_ssh_exec_start()). x is freed when the callback
 * returns; the callback may start new commands and cancel other ones.
 */
typedef void (*rb_ssh_done_fn)(
    struct rb_ssh_exec *x, struct rb_ssh_result *res, void *payload);

/* A command to run. Read by rb_ssh_exec_start() only; nothing is kept. */
struct rb_ssh_cmd {
	const char *command; /* shell text, as for /bin/sh -c (required) */
	const struct rb_strvec *env; /* NAME=value to export, or NULL */
	const char *workdir;	     /* directory on the host, or NULL */
	int64_t timeout_ms;	     /* from rb_ssh_exec_start(); 0 = none */
	size_t head_max;	     /* capture sizes per stream */
	size_t tail_max;
	rb_ssh_line_fn on_line; /* optional */
	rb_ssh_done_fn on_done; /* required */
	void *payload;		/* passed to on_line and on_done */
};

#define RB_SSH_CMD_INIT                                                        \
	{                                                                      \
		NULL, NULL, NULL, 0, RB_PROC_HEAD_MAX, RB_PROC_TAIL_MAX, NULL, \
		    NULL, NULL                                                 \
	}

/*
 * Queue cmd for host and return at once; the session to host is opened on
 * first use and reused afterwards. The pool keeps its own copy of host's
 * connection fields (address, port, user, identity, known_hosts) from the
 * first command for host->name; later commands for that name use it.
 * timeout_ms counts from this call, so it bounds connecting, queueing and
 * running together. env entries must be NAME=value with NAME a shell
 * identifier; values may hold any byte but NUL. Secret values are fine:
 * the script is wiped from memory when the command ends, and nothing
 * here logs it.
 *
 * Returns 0: on_done will be called exactly once from the loop (unless the
 * pool is freed first), and *out (if out is not NULL) is the command's
 * handle until then. Returns RB_EINVAL for unusable input (no command or
 * on_done, a bad env name, an address or user that cannot be written
 * into a known_hosts line or a message, a bad port),
 * with the message in err: nothing was queued and no callback will come.
 * A host that cannot be reached is not an error here: it is reported
 * through on_done.
 */
int rb_ssh_exec_start(struct rb_ssh_exec **out, struct rb_ssh_pool *pool,
    const struct rb_host *host, const struct rb_ssh_cmd *cmd,
    struct rb_error *err);

/*
 * Stop a command: a queued one ends at once; a running one has its
 * stdin closed (see the lifeline above) and ends when the host confirms.
 * on_done still comes, from the loop, with cancelled set. A no-op for a
 * command that already ended or was stopped. x must be a handle whose
 * on_done has not returned yet.
 */
void rb_ssh_exec_cancel(struct rb_ssh_exec *x);

/*
 * Append to out the exact script a command is sent as (the preamble, cd,
 * watcher and the quoted command; see above), for review and tests. It
 * contains the env values in clear. kill_grace_ms as in rb_ssh_opts.
 * Returns 0, or RB_EINVAL (bad env entry; message in err) with out
 * unchanged.
 */
int rb_ssh_script(struct rb_buf *out, const char *command,
    const struct rb_strvec *env, const char *workdir, int64_t kill_grace_ms,
    struct rb_error *err);

#endif
