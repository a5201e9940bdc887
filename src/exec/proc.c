/*
 * proc.c - start children in a session of their own, capture their output
 * on the event loop, kill their process group on timeout, and reap them
 * (git's run-command.c, tmux's job.c, OpenSSH's subprocess()).
 *
 * A process is finished when three things happened: its pidfd reported the
 * exit and it was reaped, and both capture pipes reached EOF (or drain_ms
 * passed after the exit). Only then is on_done called, exactly once, and
 * proc.c never touches the struct afterwards, so the callback may free it.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runbook/evloop.h"
#include "runbook/proc.h"
#include "runbook/util.h"
#include "exec/outstream.h"
#include "runbook/banned.h"

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
#define READ_CHUNK 65536
#define READS_PER_EVENT 4 /* then yield to the other fds */
#define CLOSE_FALLBACK_MAX 65536

/* Where the child failed before exec, reported through the error pipe. */
enum child_stage {
	STAGE_SETSID = 1,
	STAGE_DEVNULL,
	STAGE_DUP,
	STAGE_CHDIR,
	STAGE_EXEC
};

struct child_error {
	int stage;
	int err; /* errno */
};

/* Source of a child's fd 0/1/2 besides a real fd. */
#define SRC_DEVNULL (-1)

/* Everything the child needs, prepared before vfork(): it allocates nothing. */
struct child_plan {
	const char *path; /* what to execve() */
	char *const *argv;
	char *const *envp;
	const char *dir;
	int src[3];	 /* fd for 0, 1, 2, or SRC_DEVNULL */
	bool err_to_out; /* dup2(1, 2) after stdout is in place */
	int errfd;	 /* write end of the exec-error pipe */
	int max_fd;	 /* bound for the close() fallback */
};

/* One captured output stream. */
struct stream {
	struct rb_proc *proc;
	int fd;	   /* parent's read end, -1 once closed */
	struct outstream os;
};

struct rb_proc_priv {
	struct rb_evloop *loop;
	int pidfd; /* -1 once reaped */
	struct stream out, err;
	int in_fd; /* stdin write end, -1 once closed */
	size_t in_off;
	uint64_t timeout_timer;
	uint64_t kill_timer;
	int64_t kill_deadline;
	uint64_t drain_timer;
	bool exited;
};

/* ------------------------------------------------------------- capture */

bool
rb_capture_truncated(const struct rb_capture *c)
{
	return c->total > (uint64_t)c->head.len + (uint64_t)c->tail.len;
}

int
rb_capture_join(struct rb_buf *out, const struct rb_capture *c)
{
	size_t oldlen = out->len;
	int r;

	if ((r = rb_buf_add(out, c->head.buf, c->head.len)) != 0)
		goto out;
	if (rb_capture_truncated(c)) {
		uint64_t gap = c->total - c->head.len - c->tail.len;

		if (out->len > 0 && out->buf[out->len - 1] != '\n' &&
		    (r = rb_buf_addch(out, '\n')) != 0)
			goto out;
		if ((r = rb_buf_addf(out, "[... %llu bytes omitted ...]\n",
			 (unsigned long long)gap)) != 0)
			goto out;
	}
	r = rb_buf_add(out, c->tail.buf, c->tail.len);
out:
	if (r != 0)
		rb_buf_setlen(out, oldlen);
	return r;
}

void
rb_capture_release(struct rb_capture *c)
{
	if (c == NULL)
		return;
	rb_buf_release(&c->head);
	rb_buf_release(&c->tail);
	c->total = 0;
}

/* The line callback of both streams. */
static void
line_emit(void *ctx, int which, const char *p, size_t n)
{
	struct rb_proc *proc = ctx;

	proc->on_line(proc, which, p, n, proc->payload);
}

/* ------------------------------------------------------------ the child */

/* Report where the child failed and exit; async-signal-safe. */
static RB_NORETURN void
child_fail(int errfd, int stage)
{
	struct child_error ce;

	ce.stage = stage;
	ce.err = errno;
	(void)!write(errfd, &ce, sizeof(ce));
	_exit(127);
}

/* Close every fd from 3 up except keep; async-signal-safe. */
static void
child_close_fds(int keep, int max_fd)
{
	int fd;

#ifdef SYS_close_range
	if ((keep <= 3 ||
		syscall(SYS_close_range, 3U, (unsigned)keep - 1, 0U) == 0) &&
	    syscall(SYS_close_range, (unsigned)keep + 1, ~0U, 0U) == 0)
		return;
#endif
	for (fd = 3; fd < max_fd; fd++)
		if (fd != keep)
			(void)close(fd);
}

/*
 * The child between vfork() and execve(). It runs on our stack below the
 * caller's frame and shares our memory, but has its own fd table, signal
 * dispositions, working directory and session, which is all it changes.
 * Only async-signal-safe calls, writing nothing but its own locals (and
 * errno): the parent may have other threads (libcurl's resolver) whose
 * locks could be held at this moment.
 */
static RB_NORETURN void
child_run(const struct child_plan *cp)
{
	struct sigaction sa;
	sigset_t none;
	int src[3], fd, sig, nullfd = -1, errfd = cp->errfd;

	/*
	 * If runbook itself runs with 0, 1 or 2 closed, our pipes may have
	 * landed there: move every fd about to be overwritten out of the way
	 * first (the error pipe here, the sources below).
	 */
	if (errfd < 3 && (errfd = fcntl(errfd, F_DUPFD_CLOEXEC, 3)) < 0)
		_exit(127);
	if (setsid() < 0)
		child_fail(errfd, STAGE_SETSID);
	/* All signals are still blocked (the parent did it before vfork()). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++) {
		if (sigaction(sig, &sa, NULL) == 0)
			continue;
#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
		{
			/*
			 * glibc keeps 32 and 33 for itself and refuses them,
			 * but an ignored disposition inherited from our parent
			 * would still pass to the step: reset it in the kernel.
			 */
			struct {
				void *handler;
				unsigned long flags;
				void *restorer;
				uint64_t mask;
			} ksa = { NULL, 0, NULL, 0 };	/* SIG_DFL */

			(void)syscall(SYS_rt_sigaction, sig, &ksa, NULL,
			    sizeof(ksa.mask));
		}
#endif
	}

	for (fd = 0; fd < 3; fd++) {
		src[fd] = cp->src[fd];
		if (src[fd] == SRC_DEVNULL) {
			if (nullfd < 0)
				nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
			if (nullfd < 0)
				child_fail(errfd, STAGE_DEVNULL);
			src[fd] = nullfd;
		}
		/* A source in 0..2 would be clobbered by an earlier dup2(). */
		if (src[fd] < 3 && src[fd] != fd &&
		    (src[fd] = fcntl(src[fd], F_DUPFD_CLOEXEC, 3)) < 0)
			child_fail(errfd, STAGE_DUP);
	}
	for (fd = 0; fd < 3; fd++) {
		if (fd == 2 && cp->err_to_out) {
			if (dup2(1, 2) < 0)
				child_fail(errfd, STAGE_DUP);
		} else if (src[fd] == fd) {
			/* Drop CLOEXEC; an inherited stream may be closed. */
			if (fcntl(fd, F_SETFD, 0) < 0 && errno != EBADF)
				child_fail(errfd, STAGE_DUP);
		} else if (dup2(src[fd], fd) < 0) {
			child_fail(errfd, STAGE_DUP);
		}
	}
	child_close_fds(errfd, cp->max_fd);
	if (cp->dir != NULL && chdir(cp->dir) < 0)
		child_fail(errfd, STAGE_CHDIR);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	execve(cp->path, cp->argv, cp->envp);
	child_fail(errfd, STAGE_EXEC);
}

/* ----------------------------------------------------------- the parent */

static pid_t spawn(const struct child_plan *cp) __attribute__((noinline));

/*
 * Start the child with vfork(): the parent is suspended until the child
 * calls execve() or _exit(), and no page tables are copied nor pages made
 * copy-on-write, so starting a step costs the same whatever runbook's own
 * size. (With fork(), rb_proc_run() of `sh -c true` measured ~8% slower
 * than a bare fork/exec/wait loop; with vfork() it is faster than that
 * loop, and 2x faster once the parent has 64 MiB of heap.) Kept in a
 * frame of its own that holds nothing the child could clobber.
 */
static pid_t
spawn(const struct child_plan *cp)
{
	pid_t pid = vfork();

	if (pid == 0)
		child_run(cp);
	return pid;
}

/* The source of the child's fd target: our pipe end, or what spec says. */
static int
child_src(int spec, int pipe_end, int target)
{
	if (pipe_end >= 0)
		return pipe_end;
	if (spec == RB_PROC_DEVNULL)
		return SRC_DEVNULL;
	if (spec == RB_PROC_INHERIT || spec == RB_PROC_TO_OUT)
		return target;
	return spec;
}

/* How far the child's close() fallback (no close_range) must go. */
static int
close_fallback_max(void)
{
	static int max;
	struct rlimit rl;

	if (max == 0) {
		max = CLOSE_FALLBACK_MAX;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		    rl.rlim_cur != RLIM_INFINITY &&
		    rl.rlim_cur < CLOSE_FALLBACK_MAX)
			max = (int)rl.rlim_cur;
	}
	return max;
}

/* Find name in the PATH of env; *out is a new string. */
static int
locate_in_path(char **out, const char *name, const struct rb_strvec *env)
{
	const char *path = rb_strvec_getenv(env, "PATH");
	struct rb_buf cand = RB_BUF_INIT;
	const char *p;

	if (path == NULL)
		path = DEFAULT_PATH;
	for (p = path;; p++) {
		const char *end = strchr(p, ':');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		struct stat st;

		rb_buf_reset(&cand);
		if (len == 0)
			rb_buf_adds(&cand, ".");
		else
			rb_buf_add(&cand, p, len);
		rb_buf_addf(&cand, "/%s", name);
		if (stat(cand.buf, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(cand.buf, X_OK) == 0) {
			*out = rb_buf_detach(&cand, NULL);
			return 0;
		}
		if (end == NULL)
			break;
		p = end;
	}
	rb_buf_release(&cand);
	return RB_ENOTFOUND;
}

/* waitpid() that survives EINTR; returns the status or -1. */
static int
reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return status;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* Record a wait status: the code, or 128+N for signal N. */
static void
set_status(struct rb_proc_result *res, int status)
{
	if (status == -1) {
		res->status = -1; /* reaped by someone else */
	} else if (WIFEXITED(status)) {
		res->status = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		res->signal = WTERMSIG(status);
		res->status = 128 + res->signal;
	}
}

/* The message for a child that failed at stage, with errno e. */
static int
child_error_set(
    struct rb_error *err, const struct child_plan *cp, int stage, int e)
{
	int code = (e == ENOENT || e == ENOTDIR) ? RB_ENOTFOUND : RB_ERROR;
	struct stat st;

	switch (stage) {
	case STAGE_CHDIR:
		return rb_error_set(err, code,
		    "cannot change to directory '%s': %s", cp->dir,
		    strerror(e));
	case STAGE_EXEC:
		rb_error_set(err, code, "cannot execute '%s': %s", cp->path,
		    strerror(e));
		if (e == ENOENT && stat(cp->path, &st) == 0)
			rb_error_hint(err,
			    "the file exists: check the "
			    "interpreter in its '#!' line");
		else if (e == E2BIG)
			rb_error_hint(err, "Linux takes at most 128 KiB in "
			    "one argument or environment variable, and the "
			    "command and every RUNBOOK_PARAM_* count: pass "
			    "large values in a file; over SSH there is no "
			    "such limit");
		return code;
	case STAGE_DEVNULL:
		return rb_error_set(
		    err, RB_ERROR, "cannot open '/dev/null': %s", strerror(e));
	case STAGE_SETSID:
		return rb_error_set(err, RB_ERROR,
		    "cannot start a session for '%s': %s", cp->path,
		    strerror(e));
	default:
		return rb_error_set(err, RB_ERROR,
		    "cannot set up the standard streams of '%s': %s", cp->path,
		    strerror(e));
	}
}

/* O_NONBLOCK on a fresh pipe end (F_SETFL ignores the access mode). */
static int
set_nonblock(int fd)
{
	return fcntl(fd, F_SETFL, O_NONBLOCK);
}

static void on_stream(struct rb_evloop *loop, int fd, int mask, void *payload);
static void on_stdin(struct rb_evloop *loop, int fd, int mask, void *payload);
static void on_exit_fd(struct rb_evloop *loop, int fd, int mask, void *payload);
static void on_timeout(struct rb_evloop *loop, uint64_t id, void *payload);

/* Register fd (if open) with the loop; it is ours, so never taken. */
static void
watch(
    struct rb_evloop *loop, int fd, int mask, rb_evloop_fd_fn fn, void *payload)
{
	if (fd >= 0 && rb_evloop_add_fd(loop, fd, mask, fn, payload) != 0)
		RB_BUG("fd %d is already registered with the loop", fd);
}

static void
stream_init(
    struct stream *s, struct rb_proc *proc, int which, struct rb_capture *cap)
{
	s->proc = proc;
	s->fd = -1;
	outstream_init(&s->os, cap, which, proc->head_max, proc->tail_max,
	    proc->on_line != NULL ? line_emit : NULL, proc);
}

void
rb_proc_init(struct rb_proc *proc)
{
	struct rb_proc blank = RB_PROC_INIT;

	*proc = blank;
}

/* Reset the result for a new start, freeing what a former run left. */
static void
result_reset(struct rb_proc_result *res)
{
	struct rb_proc_result blank = RB_PROC_RESULT_INIT;

	rb_capture_release(&res->out);
	rb_capture_release(&res->err);
	*res = blank;
}

int
rb_proc_start(
    struct rb_proc *proc, struct rb_evloop *loop, struct rb_error *err)
{
	struct rb_strvec shargv = RB_STRVEC_INIT;
	struct rb_proc_priv *priv = NULL;
	struct child_plan cp;
	struct child_error ce;
	sigset_t all, old;
	char *found = NULL;
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	int inp[2] = { -1, -1 }, xp[2] = { -1, -1 };
	int pidfd = -1, e;
	ssize_t n;
	pid_t pid;
	int r = RB_ERROR;

	if (proc->priv != NULL)
		RB_BUG("rb_proc_start() on a running process");
	result_reset(&proc->result);
	proc->pid = -1;
	if (proc->args.nr == 0)
		return rb_error_set(err, RB_EINVAL, "no command to run");
	if (proc->in <= RB_PROC_TO_OUT || proc->out <= RB_PROC_TO_OUT ||
	    proc->err < RB_PROC_TO_OUT)
		return rb_error_set(err, RB_EINVAL,
		    "invalid stream redirection for '%s'", proc->args.v[0]);

	memset(&cp, 0, sizeof(cp));
	if (proc->use_shell) {
		size_t i;

		rb_strvec_push(&shargv, "sh");
		rb_strvec_push(&shargv, "-c");
		for (i = 0; i < proc->args.nr; i++)
			rb_strvec_push(&shargv, proc->args.v[i]);
		cp.path = "/bin/sh";
		cp.argv = shargv.v;
	} else {
		if (strchr(proc->args.v[0], '/') != NULL) {
			cp.path = proc->args.v[0];
		} else if (locate_in_path(&found, proc->args.v[0],
		    &proc->env) != 0) {
			r = rb_error_set(err, RB_ENOTFOUND,
			    "cannot run '%s': command not found",
			    proc->args.v[0]);
			rb_error_hint(err,
			    "check the PATH given to the "
			    "command, or use an absolute path");
			goto out;
		} else {
			cp.path = found;
		}
		cp.argv = proc->args.v;
	}
	cp.envp = proc->env.v;
	cp.dir = proc->dir;
	cp.max_fd = close_fallback_max();

	if ((proc->out == RB_PROC_PIPE && pipe2(outp, O_CLOEXEC) != 0) ||
	    (proc->err == RB_PROC_PIPE && pipe2(errp, O_CLOEXEC) != 0) ||
	    ((proc->in_data != NULL || proc->in == RB_PROC_PIPE) &&
		pipe2(inp, O_CLOEXEC) != 0) ||
	    pipe2(xp, O_CLOEXEC) != 0) {
		r = rb_error_set(err, RB_ERROR,
		    "cannot create pipes for '%s': %s", proc->args.v[0],
		    strerror(errno));
		goto out;
	}
	if ((outp[0] >= 0 && set_nonblock(outp[0]) != 0) ||
	    (errp[0] >= 0 && set_nonblock(errp[0]) != 0) ||
	    (inp[1] >= 0 && set_nonblock(inp[1]) != 0)) {
		r = rb_error_set(err, RB_ERROR,
		    "cannot set up pipes for '%s': %s", proc->args.v[0],
		    strerror(errno));
		goto out;
	}

	/* Sources of the child's 0, 1, 2. */
	cp.err_to_out = proc->err == RB_PROC_TO_OUT;
	cp.src[0] = child_src(proc->in, inp[0], 0);
	cp.src[1] = child_src(proc->out, outp[1], 1);
	cp.src[2] = child_src(proc->err, errp[1], 2);
	cp.errfd = xp[1];

	/*
	 * Block every signal across vfork(): a handler of ours must never run
	 * in the child, on our stack and with our memory. The child resets
	 * the dispositions, then unblocks.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	proc->result.start_ms = rb_now_ms();
	pid = spawn(&cp);
	e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		r = rb_error_set(err, RB_ERROR, "cannot start '%s': vfork: %s",
		    proc->args.v[0], strerror(e));
		goto out;
	}
	close_fd(&outp[1]);
	close_fd(&errp[1]);
	close_fd(&inp[0]);
	close_fd(&xp[1]);

	/* The child exec'd or failed by now; EOF means it exec'd (the pipe
	 * was close-on-exec). */
	do {
		n = read(xp[0], &ce, sizeof(ce));
	} while (n < 0 && errno == EINTR);
	close_fd(&xp[0]);
	if (n == (ssize_t)sizeof(ce)) {
		(void)reap(pid);
		r = child_error_set(err, &cp, ce.stage, ce.err);
		goto out;
	}

	pidfd = (int)syscall(SYS_pidfd_open, pid, 0U);
	if (pidfd < 0) {
		e = errno;
		(void)killpg(pid, SIGKILL);
		(void)reap(pid);
		r = rb_error_set(err, RB_ERROR,
		    "cannot watch process '%s': pidfd_open: %s",
		    proc->args.v[0], strerror(e));
		rb_error_hint(err, "runbook needs Linux 5.3 or later");
		goto out;
	}

	proc->pid = pid;
	priv = xcalloc(1, sizeof(*priv));
	priv->loop = loop;
	priv->pidfd = pidfd;
	pidfd = -1;
	stream_init(&priv->out, proc, RB_PROC_STDOUT, &proc->result.out);
	stream_init(&priv->err, proc, RB_PROC_STDERR, &proc->result.err);
	priv->out.fd = outp[0];
	priv->err.fd = errp[0];
	priv->in_fd = inp[1];
	outp[0] = errp[0] = inp[1] = -1;
	proc->priv = priv;
	if (priv->in_fd >= 0 && (proc->in_data == NULL || proc->in_len == 0))
		close_fd(&priv->in_fd); /* empty stdin: EOF at once */

	watch(loop, priv->pidfd, RB_EVLOOP_READ, on_exit_fd, proc);
	watch(loop, priv->out.fd, RB_EVLOOP_READ, on_stream, &priv->out);
	watch(loop, priv->err.fd, RB_EVLOOP_READ, on_stream, &priv->err);
	watch(loop, priv->in_fd, RB_EVLOOP_WRITE, on_stdin, proc);
	if (proc->timeout_ms > 0)
		priv->timeout_timer = rb_evloop_add_timer(loop,
		    proc->result.start_ms + proc->timeout_ms, on_timeout, proc);
	r = 0;
out:
	if (r != 0 && pidfd >= 0)
		close(pidfd);
	close_fd(&outp[0]);
	close_fd(&outp[1]);
	close_fd(&errp[0]);
	close_fd(&errp[1]);
	close_fd(&inp[0]);
	close_fd(&inp[1]);
	close_fd(&xp[0]);
	close_fd(&xp[1]);
	free(found);
	rb_strvec_release(&shargv);
	return r;
}

/* ------------------------------------------------------- running child */

/* Stop reading s: flush its partial line, close the pipe. */
static void
stream_close(struct stream *s)
{
	struct rb_proc *proc = s->proc;

	if (s->fd < 0)
		return;
	rb_evloop_del_fd(proc->priv->loop, s->fd);
	close_fd(&s->fd);
	outstream_finish(&s->os);
}

static void
stdin_close(struct rb_proc *proc)
{
	struct rb_proc_priv *priv = proc->priv;

	if (priv->in_fd < 0)
		return;
	rb_evloop_del_fd(priv->loop, priv->in_fd);
	close_fd(&priv->in_fd);
}

static void
cancel_timer(struct rb_evloop *loop, uint64_t *id)
{
	if (*id != 0)
		(void)rb_evloop_cancel_timer(loop, *id);
	*id = 0;
}

/* Call on_done if everything ended; proc may be gone afterwards. */
static void
maybe_finish(struct rb_proc *proc)
{
	struct rb_proc_priv *priv = proc->priv;

	if (!priv->exited || priv->out.fd >= 0 || priv->err.fd >= 0 ||
	    priv->in_fd >= 0)
		return;
	cancel_timer(priv->loop, &priv->drain_timer);
	cancel_timer(priv->loop, &priv->timeout_timer);
	cancel_timer(priv->loop, &priv->kill_timer);
	free(priv);
	proc->priv = NULL;
	proc->result.end_ms = rb_now_ms();
	if (proc->on_done != NULL)
		proc->on_done(proc, &proc->result, proc->payload);
}

/* A capture pipe is readable: read a bounded amount, or see EOF. */
static void
on_stream(struct rb_evloop *loop, int fd, int mask, void *payload)
{
	struct stream *s = payload;
	struct rb_proc *proc = s->proc;
	char buf[READ_CHUNK];
	int i;

	(void)loop;
	(void)mask;
	for (i = 0; i < READS_PER_EVENT; i++) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n > 0) {
			outstream_feed(&s->os, buf, (size_t)n);
			if ((size_t)n < sizeof(buf))
				return; /* drained; poll tells us more */
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		/* EOF, or a read error that ends the stream all the same. */
		stream_close(s);
		maybe_finish(proc);
		return;
	}
}

/*
 * Write in_data to a pipe without risking SIGPIPE, whatever the process's
 * disposition: block it, and swallow the one our write raised.
 */
static ssize_t
write_nosigpipe(int fd, const void *p, size_t n)
{
	static const struct timespec zero = { 0, 0 };
	sigset_t pipeset, old;
	ssize_t w;
	int e;

	sigemptyset(&pipeset);
	sigaddset(&pipeset, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipeset, &old);
	w = write(fd, p, n);
	e = errno;
	if (w < 0 && e == EPIPE && !sigismember(&old, SIGPIPE))
		(void)sigtimedwait(&pipeset, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return w;
}

/* The stdin pipe is writable: feed the next piece of in_data. */
static void
on_stdin(struct rb_evloop *loop, int fd, int mask, void *payload)
{
	struct rb_proc *proc = payload;
	struct rb_proc_priv *priv = proc->priv;
	size_t left = proc->in_len - priv->in_off;
	ssize_t w;

	(void)loop;
	(void)mask;
	w = write_nosigpipe(fd, proc->in_data + priv->in_off,
	    left > READ_CHUNK ? READ_CHUNK : left);
	if (w > 0) {
		priv->in_off += (size_t)w;
		if (priv->in_off < proc->in_len)
			return;
	} else if (w < 0 &&
	    (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
		return;
	}
	/* All written, or the child closed its stdin (EPIPE). */
	stdin_close(proc);
	maybe_finish(proc);
}

/* drain_ms after the exit the pipes are still open: stop reading. */
static void
on_drain(struct rb_evloop *loop, uint64_t id, void *payload)
{
	struct rb_proc *proc = payload;

	(void)loop;
	(void)id;
	proc->priv->drain_timer = 0;
	proc->result.drain_expired = true;
	stream_close(&proc->priv->out);
	stream_close(&proc->priv->err);
	maybe_finish(proc);
}

/* The pidfd is readable: the main process exited. */
static void
on_exit_fd(struct rb_evloop *loop, int fd, int mask, void *payload)
{
	struct rb_proc *proc = payload;
	struct rb_proc_priv *priv = proc->priv;

	(void)mask;
	/*
	 * Kill what is left of the group while the zombie leader still pins
	 * the group id, then reap.
	 */
	(void)killpg(proc->pid, SIGKILL);
	set_status(&proc->result, reap(proc->pid));
	proc->result.exit_ms = rb_now_ms();
	rb_evloop_del_fd(loop, fd);
	close_fd(&priv->pidfd);
	priv->exited = true;
	cancel_timer(loop, &priv->timeout_timer);
	cancel_timer(loop, &priv->kill_timer);
	stdin_close(proc);
	if ((priv->out.fd >= 0 || priv->err.fd >= 0) && proc->drain_ms >= 0)
		priv->drain_timer = rb_evloop_add_timer(loop,
		    proc->result.exit_ms + proc->drain_ms, on_drain, proc);
	maybe_finish(proc);
}

static void
on_timeout(struct rb_evloop *loop, uint64_t id, void *payload)
{
	struct rb_proc *proc = payload;

	(void)loop;
	(void)id;
	proc->priv->timeout_timer = 0;
	proc->result.timed_out = true;
	rb_proc_kill_tree(proc, proc->grace_ms);
}

static void
on_kill(struct rb_evloop *loop, uint64_t id, void *payload)
{
	struct rb_proc *proc = payload;

	(void)loop;
	(void)id;
	proc->priv->kill_timer = 0;
	(void)killpg(proc->pid, SIGKILL);
}

void
rb_proc_kill_tree(struct rb_proc *proc, int64_t grace_ms)
{
	struct rb_proc_priv *priv = proc->priv;
	int64_t deadline;

	if (priv == NULL || priv->exited)
		return;
	proc->result.killed = true;
	if (grace_ms <= 0) {
		cancel_timer(priv->loop, &priv->kill_timer);
		(void)killpg(proc->pid, SIGKILL);
		return;
	}
	(void)killpg(proc->pid, SIGTERM);
	(void)killpg(proc->pid, SIGCONT); /* stopped members too */
	deadline = rb_now_ms() + grace_ms;
	if (priv->kill_timer != 0 && priv->kill_deadline <= deadline)
		return;
	cancel_timer(priv->loop, &priv->kill_timer);
	priv->kill_deadline = deadline;
	priv->kill_timer =
	    rb_evloop_add_timer(priv->loop, deadline, on_kill, proc);
}

int
rb_proc_run(struct rb_proc *proc, struct rb_error *err)
{
	struct rb_evloop *loop = rb_evloop_new();
	int r;

	if ((r = rb_proc_start(proc, loop, err)) != 0)
		goto out;
	/* The proc's events are the only ones: the loop ends with it. */
	if ((r = rb_evloop_run(loop)) != 0) {
		r = rb_error_set(err, RB_EIO, "cannot wait for '%s': %s",
		    proc->args.v[0], strerror(errno));
		rb_proc_release(proc);
	}
out:
	rb_evloop_free(loop);
	return r;
}

/* Kill and reap a running process without calling on_done. */
static void
abort_running(struct rb_proc *proc)
{
	struct rb_proc_priv *priv = proc->priv;

	if (!priv->exited) {
		(void)killpg(proc->pid, SIGKILL);
		(void)reap(proc->pid);
		rb_evloop_del_fd(priv->loop, priv->pidfd);
		close_fd(&priv->pidfd);
	}
	if (priv->out.fd >= 0) {
		rb_evloop_del_fd(priv->loop, priv->out.fd);
		close_fd(&priv->out.fd);
	}
	if (priv->err.fd >= 0) {
		rb_evloop_del_fd(priv->loop, priv->err.fd);
		close_fd(&priv->err.fd);
	}
	stdin_close(proc);
	cancel_timer(priv->loop, &priv->drain_timer);
	cancel_timer(priv->loop, &priv->timeout_timer);
	cancel_timer(priv->loop, &priv->kill_timer);
	outstream_release(&priv->out.os);
	outstream_release(&priv->err.os);
	free(priv);
	proc->priv = NULL;
}

void
rb_proc_release(struct rb_proc *proc)
{
	if (proc == NULL)
		return;
	if (proc->priv != NULL)
		abort_running(proc);
	rb_strvec_release(&proc->args);
	rb_strvec_release_secret(&proc->env);
	rb_capture_release(&proc->result.out);
	rb_capture_release(&proc->result.err);
	rb_proc_init(proc);
}
