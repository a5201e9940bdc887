/*
 * proc.h - child processes on the event loop (git's run-command, tmux's job).
 *
 * Every process runbook starts goes through struct rb_proc. Usage:
 *
 *	struct rb_proc p = RB_PROC_INIT;
 *
 *	rb_strvec_push(&p.args, "pg_isready -h db1");
 *	p.use_shell = true;
 *	rb_strvec_push(&p.env, "PATH=/usr/bin:/bin");
 *	p.timeout_ms = 60000;
 *	p.on_done = step_finished;	(called once, from the loop)
 *	p.payload = step;
 *	if ((r = rb_proc_start(&p, loop, &err)) != 0)
 *		goto out;	(err.msg says why: "cannot execute ...")
 *	... the loop runs; step_finished(&p, &p.result, step) ...
 *	rb_proc_release(&p);
 *
 * Guarantees, all of which the unit tests check with real processes:
 *
 * - The child is started with vfork() (no copy of runbook's page tables,
 *   so the cost per step does not grow with runbook's size). Between
 *   vfork() and execve() it makes only async-signal-safe calls that change
 *   nothing of the parent's: setsid() (it leads a new session and process
 *   group whose id is its pid, so the whole tree can be signalled with
 *   killpg()), every signal disposition back to SIG_DFL and an empty
 *   signal mask, stdin / stdout / stderr wired with dup2(), every other fd
 *   closed (close_range), chdir(), execve() with exactly the environment
 *   given (nothing is inherited from runbook's own environment).
 * - A failure in the child before exec comes back to rb_proc_start()
 *   through a close-on-exec pipe as {stage, errno}, so the caller gets
 *   "cannot change to directory 'x': No such file or directory" rather than
 *   a mysterious exit 127; the child is reaped before rb_proc_start()
 *   returns.
 * - Output is read from non-blocking pipes on the loop into a bounded
 *   capture per stream: the first head_max and the last tail_max bytes are
 *   kept and every byte is counted, so a step printing 50 MB neither blocks
 *   on a full pipe nor grows memory.
 * - The child is watched through a pidfd (Linux 5.3 or later), so no
 *   SIGCHLD handler is needed and other children of the process are never
 *   reaped by accident. Nobody else in the process may wait() for an
 *   rb_proc child, and SIGCHLD must not be set to SIG_IGN (children would
 *   be reaped by the kernel and the exit status lost).
 * - When the main process exits, its process group is sent SIGKILL before
 *   it is reaped: leftovers of the step (background jobs, a daemon that did
 *   not call setsid()) do not survive it and cannot hold the output pipes
 *   open, much like systemd's KillMode=control-group. The zombie leader still
 *   holds the group id at that moment, so the signal cannot reach an
 *   unrelated process that reused the pid. A grandchild that called
 *   setsid() or setpgid() itself has left the group and escapes killpg();
 *   if it keeps stdout or stderr open, reading stops drain_ms after the main
 *   process exited and result.drain_expired is set.
 * - On a timeout (timeout_ms) or rb_proc_kill_tree(): SIGTERM to the group,
 *   SIGKILL to the group after the grace period, then the reap as above. No
 *   zombie is left on any path, including rb_proc_release() of a running
 *   process, which kills the group and reaps synchronously.
 *
 * Exit status: result.status is the exit code, or 128+N when the main
 * process was killed by signal N (what $? would show).
 */
#ifndef RUNBOOK_PROC_H
#define RUNBOOK_PROC_H

#include <sys/types.h>

#include "runbook/buf.h"
#include "runbook/common.h"
#include "runbook/error.h"
#include "runbook/strvec.h"

struct rb_evloop;
struct rb_proc;
struct rb_proc_priv;

/* Default capture sizes, per stream. */
#define RB_PROC_HEAD_MAX (64 * 1024)
#define RB_PROC_TAIL_MAX (64 * 1024)
/* Default SIGTERM-to-SIGKILL grace for the timeout. */
#define RB_PROC_GRACE_MS 5000
/* Default wait for EOF on the pipes after the main process exited. */
#define RB_PROC_DRAIN_MS 500
/* Lines longer than this are passed to on_line in pieces. */
#define RB_PROC_LINE_MAX 8192

/* Values for rb_proc.in, .out and .err besides a plain fd (>= 0). */
enum rb_proc_fd {
	RB_PROC_PIPE = -1,	/* out/err: capture; in: feed in_data */
	RB_PROC_DEVNULL = -2,	/* /dev/null */
	RB_PROC_INHERIT = -3,	/* runbook's own stdin/stdout/stderr */
	RB_PROC_TO_OUT = -4	/* err only: wherever stdout goes (2>&1) */
};

/* Which stream a line or capture belongs to. */
enum rb_proc_stream {
	RB_PROC_STDOUT = 1,
	RB_PROC_STDERR = 2
};

/*
 * The bounded capture of one output stream. While total <= head_max, head
 * holds everything; after that the first head_max bytes stay in head and
 * tail holds the last (at most tail_max) bytes. The two are contiguous when
 * total == head.len + tail.len; otherwise the bytes in between were
 * dropped (rb_capture_truncated()).
 */
struct rb_capture {
	struct rb_buf head;	/* the first bytes */
	struct rb_buf tail;	/* the last bytes after head */
	uint64_t total;		/* every byte the child wrote */
};

/* Whether bytes between head and tail were dropped. */
bool rb_capture_truncated(const struct rb_capture *c);
/*
 * Append the captured text to out: head and tail, with a line
 * "[... N bytes omitted ...]" between them when the capture was truncated.
 * Returns 0 or RB_ETOOBIG (out's cap; out is then unchanged).
 */
int rb_capture_join(struct rb_buf *out, const struct rb_capture *c);
/* Free both buffers; the capture is empty afterwards. NULL-safe. */
void rb_capture_release(struct rb_capture *c);

/* What happened to a process. Valid in on_done and until the next start. */
struct rb_proc_result {
	int status;		/* exit code, or 128+signal; -1: not ended */
	int signal;		/* the signal that killed it, or 0 */
	bool timed_out;		/* timeout_ms expired: the group was killed */
	bool killed;		/* rb_proc_kill_tree() ran (timeout, caller) */
	bool drain_expired;	/* output still open drain_ms after exit */
	int64_t start_ms;	/* CLOCK_MONOTONIC just before vfork() */
	int64_t exit_ms;	/* when the main process was reaped */
	int64_t end_ms;		/* when output ended too: on_done time */
	struct rb_capture out;	/* stdout, when .out is RB_PROC_PIPE */
	struct rb_capture err;	/* stderr, when .err is RB_PROC_PIPE */
};

/*
 * Called for each line of output, without its newline, as it arrives (for
 * live output with -v); a last line without a newline is passed at EOF.
 * stream is RB_PROC_STDOUT or RB_PROC_STDERR. The callback may call
 * rb_proc_kill_tree(), but must not release or restart proc.
 */
typedef void (*rb_proc_line_fn)(struct rb_proc *proc, int stream,
    const char *line, size_t len, void *payload);
/*
 * Called exactly once per successful rb_proc_start(), from the loop, when
 * the main process was reaped and both output streams ended. res is
 * &proc->result; the callback may take its buffers with rb_buf_detach(),
 * and may release, restart or free proc (nothing touches proc after the
 * callback returns).
 */
typedef void (*rb_proc_done_fn)(struct rb_proc *proc,
    struct rb_proc_result *res, void *payload);

struct rb_proc {
	/*
	 * Set by the caller before rb_proc_start(); not to be changed while
	 * the process runs. What they point to is needed only during
	 * rb_proc_start(), except in_data, needed until on_done.
	 */
	struct rb_strvec args;	/* program and arguments; see use_shell */
	struct rb_strvec env;	/* the complete environment, NAME=value */
	const char *dir;	/* working directory, NULL for runbook's */
	bool use_shell;		/* run /bin/sh -c args[0] args[1]...  */
	int in;			/* RB_PROC_DEVNULL (default), _INHERIT, fd */
	const char *in_data;	/* if set: stdin is a pipe fed with these */
	size_t in_len;		/*   in_len bytes, then closed */
	int out;		/* RB_PROC_PIPE (default), _DEVNULL, ..., fd */
	int err;		/* as out, or RB_PROC_TO_OUT */
	int64_t timeout_ms;	/* kill the tree after this long; 0: never */
	int64_t grace_ms;	/* SIGTERM to SIGKILL, for the timeout */
	int64_t drain_ms;	/* wait for pipe EOF after exit */
	size_t head_max;	/* capture, per stream */
	size_t tail_max;
	rb_proc_line_fn on_line;	/* optional */
	rb_proc_done_fn on_done;	/* optional for rb_proc_run() */
	void *payload;		/* passed to on_line and on_done */

	/* Set by rb_proc_start(). */
	pid_t pid;		/* also the process group and session id */
	struct rb_proc_result result;

	struct rb_proc_priv *priv;	/* private to proc.c; NULL when idle */
};

#define RB_PROC_RESULT_INIT { -1, 0, false, false, false, 0, 0, 0, \
	{ RB_BUF_INIT, RB_BUF_INIT, 0 }, { RB_BUF_INIT, RB_BUF_INIT, 0 } }
#define RB_PROC_INIT { RB_STRVEC_INIT, RB_STRVEC_INIT, NULL, false, \
	RB_PROC_DEVNULL, NULL, 0, RB_PROC_PIPE, RB_PROC_PIPE, 0, \
	RB_PROC_GRACE_MS, RB_PROC_DRAIN_MS, RB_PROC_HEAD_MAX, \
	RB_PROC_TAIL_MAX, NULL, NULL, NULL, -1, RB_PROC_RESULT_INIT, NULL }

/* Initialise proc as RB_PROC_INIT. */
void rb_proc_init(struct rb_proc *proc);

/*
 * Start the process on loop and return without waiting for it.
 *
 * Without use_shell, args.v[0] is the program: a name without '/' is
 * looked up in the PATH of proc->env (or "/usr/local/bin:/usr/bin:/bin"
 * when env has no PATH), in the parent, before vfork(). With use_shell the
 * child is `/bin/sh -c args.v[0] args.v[1]...` (args.v[1] becomes $0).
 * fds given in in/out/err are duplicated into the child and stay owned by
 * the caller; in_data must stay valid until on_done.
 *
 * Returns 0: the child runs, proc->pid is set, and on_done will be called
 * exactly once from the loop (unless proc is released first). Otherwise
 * returns RB_ENOTFOUND (program or directory not found) or RB_ERROR (vfork,
 * pipe, exec failures) with the message in err: no child is left, no
 * callback will be called, and proc->result.status stays -1.
 */
int rb_proc_start(struct rb_proc *proc, struct rb_evloop *loop,
    struct rb_error *err);

/*
 * Terminate the process group: SIGTERM now, and SIGKILL after grace_ms
 * (at once when grace_ms <= 0) unless the whole group is gone by then.
 * Sets result.killed. A no-op when the main process already exited (its
 * group was killed then) or proc is not running. May be called again with
 * a shorter grace, e.g. on a second Ctrl-C.
 */
void rb_proc_kill_tree(struct rb_proc *proc, int64_t grace_ms);

/*
 * Run proc to completion on a private loop and return when on_done would
 * be called (on_done, if set, is called first). Returns 0 when the process
 * ran, whatever its exit status (see proc->result), or an error as
 * rb_proc_start().
 */
int rb_proc_run(struct rb_proc *proc, struct rb_error *err);

/*
 * Free everything proc owns (args, env, result buffers) and make it
 * RB_PROC_INIT again. If the process is still running, its group is killed
 * with SIGKILL and reaped here (blocking briefly), its events leave the
 * loop, and on_done is not called. NULL-safe; may be called from on_done.
 */
void rb_proc_release(struct rb_proc *proc);

#endif
