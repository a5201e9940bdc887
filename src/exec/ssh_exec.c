/*
 * ssh_exec.c - one command on an SSH session: the script it is sent as,
 * the life of its channel (open, "exec /bin/sh -s", write the script, read
 * stdout and stderr, wait for the close and the exit status), timeouts and
 * cancellation, bounded captures, and the completion callback.
 *
 * Commands are driven by their host's pump (ssh_pool.c), which calls
 * exec_step() whenever the socket is ready or something changed. A command
 * that ends goes onto the pool's done list and its on_done runs from a
 * zero-delay timer, never from inside the pump or rb_ssh_exec_start(), so
 * callbacks may start and cancel commands freely.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/ssh_int.h"
#include "runbook/evloop.h"
#include "runbook/model.h"
#include "runbook/util.h"
#include "runbook/banned.h"

/* What the login shell runs: the same in every shell (SPEC 3). */
#define REMOTE_SHELL "exec /bin/sh -s"
/* Extra time after the grace period for the host to confirm a stop. */
#define STOP_CONFIRM_MS 3000
/* Output read from one channel per step, so one chatty command cannot
 * starve the others. */
#define READ_BUDGET (256 * 1024)

/* Which call left a partly sent packet behind (see ssh_int.h). */
enum { OP_NONE, OP_READ, OP_WRITE };

/* ------------------------------------------------------------- lists */

void
exec_list_push(struct exec_list *l, struct rb_ssh_exec *x)
{
	x->prev = l->tail;
	x->next = NULL;
	if (l->tail != NULL)
		l->tail->next = x;
	else
		l->head = x;
	l->tail = x;
	l->nr++;
	x->list = l;
}

void
exec_list_push_front(struct exec_list *l, struct rb_ssh_exec *x)
{
	x->prev = NULL;
	x->next = l->head;
	if (l->head != NULL)
		l->head->prev = x;
	else
		l->tail = x;
	l->head = x;
	l->nr++;
	x->list = l;
}

void
exec_list_remove(struct rb_ssh_exec *x)
{
	struct exec_list *l = x->list;

	if (l == NULL)
		return;
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		l->head = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	else
		l->tail = x->prev;
	l->nr--;
	x->prev = x->next = NULL;
	x->list = NULL;
}

/* ------------------------------------------------------------- script */

/* Whether name[0..len) is a POSIX shell variable name. */
static bool
valid_name(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || (name[0] >= '0' && name[0] <= '9'))
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

int
rb_ssh_script(struct rb_buf *out, const char *command,
    const struct rb_strvec *env, const char *workdir, int64_t kill_grace_ms,
    struct rb_error *err)
{
	size_t old = out->len, i;
	long long grace_s = (kill_grace_ms + 999) / 1000;
	int r = RB_ETOOBIG;

	if (command == NULL)
		return rb_error_set(err, RB_EINVAL, "no command to run");
	for (i = 0; env != NULL && i < env->nr; i++) {
		const char *eq = strchr(env->v[i], '=');

		/* Name only: values may be secrets. */
		if (eq == NULL)
			return rb_error_set(err, RB_EINVAL,
			    "environment entry %zu has no '='", i + 1);
		if (!valid_name(env->v[i], (size_t)(eq - env->v[i])))
			return rb_error_set(err, RB_EINVAL,
			    "invalid environment variable name '%.*s'",
			    (int)(eq - env->v[i] > 64 ? 64 : eq - env->v[i]),
			    env->v[i]);
	}
	if (grace_s < 1)
		grace_s = 1;

	for (i = 0; env != NULL && i < env->nr; i++) {
		const char *eq = strchr(env->v[i], '=');

		if (rb_buf_add(out, "export ", 7) != 0 ||
		    rb_buf_add(out, env->v[i], (size_t)(eq + 1 - env->v[i])) ||
		    rb_buf_add_shquoted(out, eq + 1, strlen(eq + 1)) != 0 ||
		    rb_buf_addch(out, '\n') != 0)
			goto fail;
	}
	if (workdir != NULL) {
		/* "~/x" is the user's home on the host, as in a login. */
		bool tilde =
		    strncmp(workdir, "~/", 2) == 0 || strcmp(workdir, "~") == 0;
		const char *rest = tilde ? workdir + 1 : workdir;

		if (rb_buf_adds(out, tilde ? "cd \"$HOME\"" : "cd ") != 0 ||
		    (*rest != '\0' &&
			rb_buf_add_shquoted(out, rest, strlen(rest)) != 0) ||
		    rb_buf_adds(out, " || exit 1\n") != 0)
			goto fail;
	}
	/*
	 * The rest is one brace group, so the shell has read all of it
	 * before any of it runs: nothing is left on stdin to be eaten by
	 * the command. The watcher keeps the original stdin (fd 3); at its
	 * EOF it stops the process group: SIGTERM, and SIGKILL after the
	 * grace, while the command still runs; at once (leftovers only, as
	 * rb_proc does locally) once it has ended. The command itself is
	 * evaluated by this same /bin/sh, as `/bin/sh -c` would (same $0,
	 * $$, exit status), without another fork and exec.
	 */
	if (rb_buf_addf(out,
		"{ exec 3<&0 </dev/null\n"
		"{ trap '' TERM; while read -r rb_l <&3; do :; done\n"
		"if kill -0 $$; then kill -s TERM 0; sleep %lld; fi\n"
		"kill -s KILL 0; } >/dev/null 2>&1 &\n"
		"exec 3<&-\n"
		"eval ",
		grace_s) != 0 ||
	    rb_buf_add_shquoted(out, command, strlen(command)) != 0 ||
	    rb_buf_adds(out, "\nexit\n}\n") != 0)
		goto fail;
	return 0;
fail:
	rb_buf_setlen(out, old);
	return rb_error_set(err, r, "the command's script is too large");
}

/* ------------------------------------------------------------- capture */

/* The line callback of both streams. */
static void
line_emit(void *ctx, int which, const char *p, size_t n)
{
	struct rb_ssh_exec *x = ctx;

	x->on_line(x, which, p, n, x->payload);
}

/* ------------------------------------------------------------- finish */

/* Deliver the finished commands that were there when the timer was set. */
static void
deliver_done(struct rb_evloop *loop, uint64_t id, void *payload)
{
	struct rb_ssh_pool *pool = payload;
	size_t n = pool->done.nr;

	(void)loop;
	(void)id;
	pool->done_timer = 0;
	while (n-- > 0 && pool->done.head != NULL) {
		struct rb_ssh_exec *x = pool->done.head;

		exec_list_remove(x);
		x->on_done(x, &x->result, x->payload);
		exec_free(x);
	}
}

/* Fill in the parts of the result that depend on how x was stopped. */
static void
stop_result(struct rb_ssh_exec *x)
{
	struct rb_ssh_result *res = &x->result;
	struct ssh_host *h = x->host;
	char d[32];

	if (x->stop == STOP_NONE)
		return;
	res->timed_out = x->stop == STOP_TIMEOUT;
	res->cancelled = x->stop == STOP_CANCEL;
	if (x->kill_expired)
		res->status = -1;
	if (res->error.code != 0 && res->host_error)
		return; /* the host's own failure says more */
	rb_duration_format(d, sizeof(d), x->timeout_ms);
	if (!res->started && h->state != HS_READY && h->state != HS_FAILED) {
		/* Never got as far as the host: that is the host's fault. */
		res->host_error = true;
		if (res->timed_out)
			rb_error_set(&res->error, RB_ETIMEOUT,
			    "timed out after %s connecting to '%s' (%s port "
			    "%d)",
			    d, h->name, h->address, h->port);
		else
			rb_error_set(&res->error, RB_EINTR,
			    "command for '%s' was cancelled while connecting",
			    h->name);
		if (res->timed_out)
			rb_error_hint(&res->error,
			    "check that the host is up "
			    "and reachable, or raise the step's timeout");
		return;
	}
	if (res->timed_out)
		rb_error_set(&res->error, RB_ETIMEOUT,
		    "command on '%s' timed out after %s%s", h->name, d,
		    !res->started ? " before it started"
			: x->kill_expired
			? "; the host did not confirm that it stopped, it may "
			  "still be running"
			: "");
	else
		rb_error_set(&res->error, RB_EINTR,
		    "command on '%s' was cancelled%s", h->name,
		    x->kill_expired ? "; the host did not confirm that it "
		    "stopped, it may still be running" : "");
}

void
exec_finish(struct rb_ssh_exec *x)
{
	struct rb_ssh_pool *pool = x->pool;
	struct ssh_host *h = x->host;

	exec_list_remove(x);
	if (h->opening == x)
		h->opening = NULL;
	if (h->out_owner == x)
		h->out_owner = NULL;
	/* DONE before any callback: cancelling x from its own last on_line
	 * is then a no-op and arms no timer. */
	x->state = XS_DONE;
	if (x->timeout_timer != 0)
		rb_evloop_cancel_timer(pool->loop, x->timeout_timer);
	if (x->kill_timer != 0)
		rb_evloop_cancel_timer(pool->loop, x->kill_timer);
	x->timeout_timer = x->kill_timer = 0;
	outstream_finish(&x->out);
	outstream_finish(&x->err);
	stop_result(x);
	rb_buf_release_secret(&x->script);
	x->result.end_ms = rb_now_ms();
	exec_list_push(&pool->done, x);
	if (pool->done_timer == 0)
		pool->done_timer =
		    rb_evloop_add_timer(pool->loop, 0, deliver_done, pool);
}

void
exec_fail_host(struct rb_ssh_exec *x, const struct rb_error *e, bool started)
{
	x->result.error = *e;
	x->result.host_error = true;
	x->result.started = started;
	x->result.status = -1;
	exec_finish(x);
}

void
exec_free(struct rb_ssh_exec *x)
{
	if (x == NULL)
		return;
	exec_list_remove(x);
	if (x->timeout_timer != 0)
		rb_evloop_cancel_timer(x->pool->loop, x->timeout_timer);
	if (x->kill_timer != 0)
		rb_evloop_cancel_timer(x->pool->loop, x->kill_timer);
	rb_buf_release_secret(&x->script);
	outstream_release(&x->out);
	outstream_release(&x->err);
	rb_capture_release(&x->result.out);
	rb_capture_release(&x->result.err);
	x->pool->pending--;
	free(x);
}

/* ------------------------------------------------------------- stopping */

/* The host did not confirm the stop in time: drop the channel. */
static void
kill_expired(struct rb_evloop *loop, uint64_t id, void *payload)
{
	struct rb_ssh_exec *x = payload;

	(void)loop;
	(void)id;
	x->kill_timer = 0;
	x->kill_expired = true;
	switch (x->state) {
	case XS_WRITE:
	case XS_RUN:
	case XS_EOF:
	case XS_CLOSE:
		if (x->host->out_owner == x)
			x->host->out_owner = NULL;
		x->state = XS_FREE;
		break;
	default:
		break; /* OPEN / EXEC end in XS_FREE on their own */
	}
	host_kick(x->host);
}

/* Stop x for why: a queued command ends now, a running one gets EOF. */
static void
exec_stop(struct rb_ssh_exec *x, enum exec_stop why)
{
	struct rb_ssh_pool *pool = x->pool;

	if (x->state == XS_DONE || x->stop != STOP_NONE)
		return;
	x->stop = why;
	if (x->state == XS_QUEUED) {
		exec_finish(x);
		return;
	}
	x->kill_timer = rb_evloop_add_timer(pool->loop,
	    rb_now_ms() + pool->opts.kill_grace_ms + STOP_CONFIRM_MS,
	    kill_expired, x);
	host_kick(x->host);
}

static void
exec_timeout(struct rb_evloop *loop, uint64_t id, void *payload)
{
	struct rb_ssh_exec *x = payload;

	(void)loop;
	(void)id;
	x->timeout_timer = 0;
	exec_stop(x, STOP_TIMEOUT);
}

void
rb_ssh_exec_cancel(struct rb_ssh_exec *x)
{
	if (x != NULL)
		exec_stop(x, STOP_CANCEL);
}

/* ------------------------------------------------------------- channel */

/* SIG name (without "SIG") to number; 0 if unknown. */
static int
signal_number(const char *name)
{
	static const struct {
		const char *name;
		int num;
	} sigs[] = {
		{ "HUP", SIGHUP },
		{ "INT", SIGINT },
		{ "QUIT", SIGQUIT },
		{ "ILL", SIGILL },
		{ "TRAP", SIGTRAP },
		{ "ABRT", SIGABRT },
		{ "BUS", SIGBUS },
		{ "FPE", SIGFPE },
		{ "KILL", SIGKILL },
		{ "USR1", SIGUSR1 },
		{ "SEGV", SIGSEGV },
		{ "USR2", SIGUSR2 },
		{ "PIPE", SIGPIPE },
		{ "ALRM", SIGALRM },
		{ "TERM", SIGTERM },
		{ "CHLD", SIGCHLD },
		{ "CONT", SIGCONT },
		{ "STOP", SIGSTOP },
		{ "TSTP", SIGTSTP },
		{ "TTIN", SIGTTIN },
		{ "TTOU", SIGTTOU },
		{ "URG", SIGURG },
		{ "XCPU", SIGXCPU },
		{ "XFSZ", SIGXFSZ },
		{ "VTALRM", SIGVTALRM },
		{ "PROF", SIGPROF },
		{ "WINCH", SIGWINCH },
		{ "IO", SIGIO },
		{ "PWR", SIGPWR },
		{ "SYS", SIGSYS },
	};
	size_t i;

	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	for (i = 0; i < RB_ARRAY_SIZE(sigs); i++)
		if (strcmp(sigs[i].name, name) == 0)
			return sigs[i].num;
	return 0;
}

/* Take the exit status (or signal) of x's closed channel. */
static void
collect_status(struct rb_ssh_exec *x)
{
	struct rb_ssh_result *res = &x->result;
	char *sig = NULL;
	size_t siglen = 0;

	if (libssh2_channel_get_exit_signal(
		x->ch, &sig, &siglen, NULL, NULL, NULL, NULL) == 0 &&
	    sig != NULL) {
		int n = signal_number(sig);

		res->signal = n;
		res->status = n > 0 ? 128 + n : -1;
		if (n == 0)
			rb_error_set(&res->error, RB_ERROR,
			    "command on '%s' ended by unknown signal '%s'",
			    x->host->name, sig);
		libssh2_free(x->host->session, sig);
		return;
	}
	res->status = libssh2_channel_get_exit_status(x->ch);
}

/*
 * libssh2 said EAGAIN: if it left a packet half sent, x owns the session's
 * output until that call is repeated (ssh_int.h).
 */
static enum step_result
would_block(struct rb_ssh_exec *x, int op, enum step_result res)
{
	struct ssh_host *h = x->host;

	if (libssh2_session_block_directions(h->session) &
	    LIBSSH2_SESSION_BLOCK_OUTBOUND) {
		h->out_owner = x;
		x->blocked_op = op;
	} else if (h->out_owner == x) {
		h->out_owner = NULL;
		x->blocked_op = OP_NONE;
	}
	return res;
}

/* A call completed: whatever x had pending is out. */
static void
unblocked(struct rb_ssh_exec *x)
{
	if (x->host->out_owner == x)
		x->host->out_owner = NULL;
	x->blocked_op = OP_NONE;
}

/* The session broke: record why for host_lost(). */
static enum step_result
fatal(struct rb_ssh_exec *x, int rc, const char *what)
{
	struct ssh_host *h = x->host;

	rb_error_set(&h->error, RB_ERROR,
	    "connection to '%s' (%s port %d) failed while %s: %s", h->name,
	    h->address, h->port, what, ssh_last_error(h->session, &rc));
	return STEP_FATAL;
}

/*
 * Read what is there on both streams, up to READ_BUDGET. Sets *moved if
 * anything was read and *eof if both streams are at their end. Returns
 * STEP_PROGRESS, STEP_WAIT (a read must be repeated: x owns the output),
 * or STEP_FATAL.
 */
static enum step_result
read_output(struct rb_ssh_exec *x, bool *moved, bool *eof)
{
	static const int ids[2] = { 0, SSH_EXTENDED_DATA_STDERR };
	struct outstream *streams[2] = { &x->out, &x->err };
	char buf[32768];
	size_t budget = READ_BUDGET;
	bool again = true;
	int i, ended = 0;

	while (again && budget > 0) {
		again = false;
		ended = 0;
		for (i = 0; i < 2; i++) {
			ssize_t n = libssh2_channel_read_ex(
			    x->ch, ids[i], buf, sizeof(buf));

			if (n > 0) {
				unblocked(x);
				outstream_feed(streams[i], buf, (size_t)n);
				*moved = true;
				again = true;
				budget =
				    (size_t)n > budget ? 0 : budget - (size_t)n;
			} else if (n == 0) {
				unblocked(x);
				ended++;
			} else if (n == LIBSSH2_ERROR_EAGAIN) {
				(void)would_block(x, OP_READ, STEP_WAIT);
				if (x->host->out_owner == x)
					return STEP_WAIT;
			} else if (ssh_error_is_fatal((int)n)) {
				return fatal(x, (int)n, "reading output");
			} else {
				ended++; /* the channel is gone: no more data */
			}
		}
	}
	*eof = ended == 2;
	if (budget == 0)
		*moved = true; /* more may be waiting: come back */
	return STEP_PROGRESS;
}

enum step_result
exec_step(struct rb_ssh_exec *x)
{
	struct ssh_host *h = x->host;
	LIBSSH2_SESSION *s = h->session;
	enum step_result res = STEP_WAIT, r;
	bool moved, eof;
	ssize_t n;
	int rc;

	for (;;) {
		switch (x->state) {
		case XS_OPEN:
			x->ch = libssh2_channel_open_session(s);
			if (x->ch == NULL) {
				rc = libssh2_session_last_errno(s);
				if (rc == LIBSSH2_ERROR_EAGAIN)
					return would_block(x, OP_NONE, res);
				h->opening = NULL;
				unblocked(x);
				if (ssh_error_is_fatal(rc))
					return fatal(
					    x, rc, "opening a channel");
				if (h->active.nr > 1) {
					/* MaxSessions: wait for a free one. */
					h->max_channels =
					    (unsigned)h->active.nr - 1;
					exec_list_remove(x);
					x->state = XS_QUEUED;
					exec_list_push_front(&h->queue, x);
					return STEP_PROGRESS;
				}
				rb_error_set(&x->result.error, RB_ERROR,
				    "host '%s' refused to open a session "
				    "channel: %s",
				    h->name, ssh_last_error(s, NULL));
				rb_error_hint(&x->result.error,
				    "check "
				    "MaxSessions and ForceCommand in the "
				    "host's sshd_config");
				x->result.host_error = true;
				exec_finish(x);
				return STEP_DONE;
			}
			unblocked(x);
			h->opening = NULL;
			x->state = x->stop != STOP_NONE ? XS_FREE : XS_EXEC;
			res = STEP_PROGRESS;
			break;

		case XS_EXEC:
			rc = libssh2_channel_process_startup(x->ch, "exec", 4,
			    REMOTE_SHELL, sizeof(REMOTE_SHELL) - 1);
			if (rc == LIBSSH2_ERROR_EAGAIN)
				return would_block(x, OP_NONE, res);
			unblocked(x);
			if (rc != 0 && ssh_error_is_fatal(rc))
				return fatal(x, rc, "starting the command");
			if (rc != 0) {
				rb_error_set(&x->result.error, RB_ERROR,
				    "host '%s' refused to run '%s': %s",
				    h->name, REMOTE_SHELL,
				    ssh_last_error(s, NULL));
				rb_error_hint(&x->result.error,
				    "check "
				    "ForceCommand and the login shell of '%s' "
				    "on the host",
				    h->user);
				x->result.host_error = true;
				x->state = XS_FREE;
				res = STEP_PROGRESS;
				break;
			}
			x->result.started = true;
			x->result.exec_ms = rb_now_ms();
			x->pool->stats.commands++;
			/* Stopped before a byte of the script went out:
			 * closing the channel ends the idle shell. */
			x->state = x->stop != STOP_NONE ? XS_FREE : XS_WRITE;
			res = STEP_PROGRESS;
			break;

		case XS_WRITE:
			if (x->blocked_op != OP_WRITE) {
				moved = eof = false;
				r = read_output(x, &moved, &eof);
				if (r == STEP_FATAL)
					return r;
				if (moved)
					res = STEP_PROGRESS;
				if (r == STEP_WAIT)
					return res;
			}
			/* Stopped: the rest need not go out (unless a packet of
			 * it is half sent). A cut script never runs its brace
			 * group; the shell just ends at the EOF. */
			if (x->stop != STOP_NONE && x->blocked_op != OP_WRITE)
				x->script_off = x->script.len;
			if (x->script_off < x->script.len) {
				n = libssh2_channel_write_ex(x->ch, 0,
				    x->script.buf + x->script_off,
				    x->script.len - x->script_off);
				if (n == LIBSSH2_ERROR_EAGAIN)
					return would_block(x, OP_WRITE, res);
				unblocked(x);
				if (n == 0)
					return res; /* no window: wait for it */
				if (n < 0 && ssh_error_is_fatal((int)n))
					return fatal(
					    x, (int)n, "sending the command");
				if (n > 0) {
					x->script_off += (size_t)n;
					res = STEP_PROGRESS;
					continue;
				}
				/* The shell went away before reading it all
				 * (n < 0 on the channel): collect its end. */
			}
			/* All out: the script may hold secrets. */
			rb_buf_release_secret(&x->script);
			x->script_off = 0;
			x->state = x->stop != STOP_NONE ? XS_EOF : XS_RUN;
			res = STEP_PROGRESS;
			break;

		case XS_RUN:
			moved = eof = false;
			r = read_output(x, &moved, &eof);
			if (r == STEP_FATAL)
				return r;
			if (moved)
				res = STEP_PROGRESS;
			if (r == STEP_WAIT)
				return res;
			if (x->stop != STOP_NONE && !x->eof_sent) {
				x->state = XS_EOF;
				break;
			}
			if (eof || libssh2_channel_eof(x->ch)) {
				x->state = XS_CLOSE;
				res = STEP_PROGRESS;
				break;
			}
			return res;

		case XS_EOF:
			rc = libssh2_channel_send_eof(x->ch);
			if (rc == LIBSSH2_ERROR_EAGAIN)
				return would_block(x, OP_NONE, res);
			unblocked(x);
			if (rc != 0 && ssh_error_is_fatal(rc))
				return fatal(x, rc, "stopping the command");
			x->eof_sent = true;
			x->state = XS_RUN;
			res = STEP_PROGRESS;
			break;

		case XS_CLOSE:
			rc = libssh2_channel_wait_closed(x->ch);
			if (rc == LIBSSH2_ERROR_EAGAIN)
				return would_block(x, OP_NONE, res);
			unblocked(x);
			if (rc != 0 && ssh_error_is_fatal(rc))
				return fatal(x, rc,
				    "waiting for the exit "
				    "status");
			collect_status(x);
			x->state = XS_FREE;
			res = STEP_PROGRESS;
			break;

		case XS_FREE:
			rc = libssh2_channel_free(x->ch);
			if (rc == LIBSSH2_ERROR_EAGAIN)
				return would_block(x, OP_NONE, res);
			unblocked(x);
			x->ch = NULL;
			if (rc != 0 && ssh_error_is_fatal(rc)) {
				/* libssh2 freed it anyway; the session is
				 * what broke. */
				exec_finish(x);
				rb_error_set(&h->error, RB_ERROR,
				    "connection to '%s' failed: %s", h->name,
				    ssh_last_error(s, NULL));
				return STEP_FATAL;
			}
			exec_finish(x);
			return STEP_DONE;

		case XS_QUEUED:
		case XS_DONE:
			return res;
		}
	}
}

/* ------------------------------------------------------------- start */

int
rb_ssh_exec_start(struct rb_ssh_exec **out, struct rb_ssh_pool *pool,
    const struct rb_host *host, const struct rb_ssh_cmd *cmd,
    struct rb_error *err)
{
	struct rb_ssh_exec *x;
	struct ssh_host *h;
	int r;

	if (pool == NULL || host == NULL || cmd == NULL)
		return rb_error_set(err, RB_EINVAL, "no pool, host or command");
	if (cmd->command == NULL || cmd->on_done == NULL)
		return rb_error_set(
		    err, RB_EINVAL, "a command needs its text and on_done");
	if (host->name == NULL || host->name[0] == '\0')
		return rb_error_set(err, RB_EINVAL, "host without a name");
	if (host->port < 0 || host->port > 65535)
		return rb_error_set(err, RB_EINVAL,
		    "invalid port %d for host '%s'", host->port, host->name);
	x = xcalloc(1, sizeof(*x));
	x->pool = pool;
	rb_buf_init(&x->script, 0);
	if ((r = rb_ssh_script(&x->script, cmd->command, cmd->env, cmd->workdir,
		 pool->opts.kill_grace_ms, err)) != 0) {
		rb_buf_release_secret(&x->script);
		free(x);
		return r;
	}
	if ((h = ssh_host_get(pool, host, err)) == NULL) {
		rb_buf_release_secret(&x->script);
		free(x);
		return RB_EINVAL;
	}
	x->host = h;
	x->state = XS_QUEUED;
	x->timeout_ms = cmd->timeout_ms;
	x->head_max = cmd->head_max;
	x->tail_max = cmd->tail_max;
	x->on_line = cmd->on_line;
	x->on_done = cmd->on_done;
	x->payload = cmd->payload;
	outstream_init(&x->out, &x->result.out, RB_PROC_STDOUT, x->head_max,
	    x->tail_max, x->on_line != NULL ? line_emit : NULL, x);
	outstream_init(&x->err, &x->result.err, RB_PROC_STDERR, x->head_max,
	    x->tail_max, x->on_line != NULL ? line_emit : NULL, x);
	rb_buf_init(&x->result.out.head, 0);
	rb_buf_init(&x->result.out.tail, 0);
	rb_buf_init(&x->result.err.head, 0);
	rb_buf_init(&x->result.err.tail, 0);
	x->result.status = -1;
	x->result.host = h->name;
	x->result.start_ms = rb_now_ms();
	if (x->timeout_ms > 0)
		x->timeout_timer = rb_evloop_add_timer(pool->loop,
		    x->result.start_ms + x->timeout_ms, exec_timeout, x);
	pool->pending++;
	exec_list_push(&h->queue, x);
	host_kick(h);
	if (out != NULL)
		*out = x;
	return 0;
}
