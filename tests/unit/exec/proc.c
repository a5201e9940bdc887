/*
 * Unit tests for exec/proc.c, with real processes: exit codes, signals,
 * bounded capture, process-group kills, exec failures, environment, fds.
 */
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "runbook/buf.h"
#include "runbook/error.h"
#include "runbook/evloop.h"
#include "runbook/proc.h"
#include "runbook/util.h"

void test_exec_proc__exit_codes(void);
void test_exec_proc__killed_by_signal(void);
void test_exec_proc__capture_both_streams(void);
void test_exec_proc__stderr_to_stdout(void);
void test_exec_proc__output_to_fd(void);
void test_exec_proc__big_output_bounded(void);
void test_exec_proc__capture_join(void);
void test_exec_proc__timeout_kills_group(void);
void test_exec_proc__timeout_escalates_to_sigkill(void);
void test_exec_proc__kill_tree_by_caller(void);
void test_exec_proc__leftovers_killed_at_exit(void);
void test_exec_proc__setsid_escapee_drain(void);
void test_exec_proc__exec_failure(void);
void test_exec_proc__env_is_exact(void);
void test_exec_proc__workdir(void);
void test_exec_proc__own_session(void);
void test_exec_proc__signals_reset(void);
void test_exec_proc__fds_closed(void);
void test_exec_proc__stdin_data(void);
void test_exec_proc__own_stdio_closed(void);
void test_exec_proc__lines(void);
void test_exec_proc__parallel_100(void);
void test_exec_proc__release_running(void);

/* True when the caller has no child left, not even a zombie. */
static bool
no_children(void)
{
	return waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD;
}

/* True when pid is gone or a zombie (dead, waiting for its new parent). */
static bool
pid_gone(pid_t pid)
{
	char path[64], buf[512];
	struct rb_buf stat = RB_BUF_INIT;
	const char *p;
	bool gone;

	if (kill(pid, 0) != 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (rb_buf_read_file(&stat, path, sizeof(buf)) != 0)
		return true;
	p = strrchr(stat.buf, ')');
	gone = p != NULL && (p[2] == 'Z' || p[2] == 'X');
	rb_buf_release(&stat);
	return gone;
}

/* Poll pid_gone() for up to ms. */
static bool
wait_gone(pid_t pid, int ms)
{
	int64_t end = rb_now_ms() + ms;

	while (!pid_gone(pid)) {
		if (rb_now_ms() > end)
			return false;
		usleep(5000);
	}
	return true;
}

/* True when no live (non-zombie) process is in process group pgid. */
static bool
group_empty(pid_t pgid)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	bool empty = true;

	if (d == NULL)
		return false;
	while (empty && (de = readdir(d)) != NULL) {
		char path[300];
		struct rb_buf st = RB_BUF_INIT;
		const char *p;
		char state;
		int ppid, pgrp;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if (rb_buf_read_file(&st, path, 4096) == 0 &&
		    (p = strrchr(st.buf, ')')) != NULL &&
		    sscanf(p + 2, "%c %d %d", &state, &ppid, &pgrp) == 3 &&
		    pgrp == pgid && state != 'Z' && state != 'X')
			empty = false;
		rb_buf_release(&st);
	}
	closedir(d);
	return empty;
}

/* Poll group_empty() for up to ms. */
static bool
wait_group_empty(pid_t pgid, int ms)
{
	int64_t end = rb_now_ms() + ms;

	while (!group_empty(pgid)) {
		if (rb_now_ms() > end)
			return false;
		usleep(5000);
	}
	return true;
}

/* Set up p to run cmd with /bin/sh and a small PATH. */
static void
shell(struct rb_proc *p, const char *cmd)
{
	rb_proc_init(p);
	rb_strvec_push(&p->args, cmd);
	p->use_shell = true;
	rb_strvec_push(&p->env, "PATH=/usr/bin:/bin");
}

void
test_exec_proc__exit_codes(void)
{
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;

	shell(&p, "exit 3");
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_INT(p.result.status, 3);
	T_EQ_INT(p.result.signal, 0);
	T_ASSERT(!p.result.timed_out);
	T_ASSERT(p.result.end_ms >= p.result.start_ms);
	rb_proc_release(&p);

	shell(&p, "true");
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_INT(p.result.status, 0);
	T_EQ_INT(p.result.out.total, 0);
	/* A struct can run again after its result was looked at. */
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_INT(p.result.status, 0);
	rb_proc_release(&p);
	T_ASSERT(no_children());
}

void
test_exec_proc__killed_by_signal(void)
{
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;

	shell(&p, "kill -KILL $$");
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_INT(p.result.status, 128 + SIGKILL);
	T_EQ_INT(p.result.signal, SIGKILL);
	rb_proc_release(&p);
	shell(&p, "kill -SEGV $$");
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_INT(p.result.status, 128 + SIGSEGV);
	rb_proc_release(&p);
}

void
test_exec_proc__capture_both_streams(void)
{
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;

	shell(&p, "echo out; echo err >&2; printf 'no newline'");
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_STR(p.result.out.head.buf, "out\nno newline");
	T_EQ_STR(p.result.err.head.buf, "err\n");
	T_EQ_INT(p.result.out.total, 14);
	T_EQ_INT(p.result.out.tail.len, 0);
	T_ASSERT(!rb_capture_truncated(&p.result.out));
	rb_proc_release(&p);
}

void
test_exec_proc__stderr_to_stdout(void)
{
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;

	shell(&p, "echo a; echo b >&2; echo c");
	p.err = RB_PROC_TO_OUT;
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_STR(p.result.out.head.buf, "a\nb\nc\n");
	T_EQ_INT(p.result.err.total, 0);
	rb_proc_release(&p);

	shell(&p, "echo quiet; echo loud >&2");
	p.out = RB_PROC_DEVNULL;
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_INT(p.result.out.total, 0);
	T_EQ_STR(p.result.err.head.buf, "loud\n");
	rb_proc_release(&p);
}

void
test_exec_proc__output_to_fd(void)
{
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_buf got = RB_BUF_INIT;
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/out.log", rb_test_tmpdir());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	T_ASSERT(fd >= 0);
	shell(&p, "echo a; echo b >&2");
	p.out = fd;
	p.err = RB_PROC_TO_OUT;
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	close(fd);	/* still ours: the child had a copy */
	T_EQ_INT(p.result.out.total, 0);
	T_EQ_INT(rb_buf_read_file(&got, path, 0), 0);
	T_EQ_STR(got.buf, "a\nb\n");
	rb_buf_release(&got);
	rb_proc_release(&p);
}

void
test_exec_proc__big_output_bounded(void)
{
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;
	const uint64_t mb50 = 50ull * 1024 * 1024;
	int64_t t0 = rb_now_ms();

	/* 50 MiB of 'x' between a recognisable start and end, on both. */
	shell(&p, "printf START; head -c 52428800 /dev/zero | tr '\\0' x; "
	    "printf END; printf E >&2; head -c 52428800 /dev/zero >&2; "
	    "printf Z >&2");
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_INT(p.result.status, 0);
	T_EQ_INT(p.result.out.total, mb50 + 8);
	T_EQ_INT(p.result.out.head.len, RB_PROC_HEAD_MAX);
	T_EQ_INT(p.result.out.tail.len, RB_PROC_TAIL_MAX);
	T_ASSERT(p.result.out.head.alloc <= 2 * RB_PROC_HEAD_MAX);
	T_ASSERT(p.result.out.tail.alloc <= 2 * RB_PROC_TAIL_MAX);
	T_ASSERT(memcmp(p.result.out.head.buf, "STARTxxx", 8) == 0);
	T_ASSERT(memcmp(p.result.out.tail.buf + RB_PROC_TAIL_MAX - 6, "xxxEND",
	    6) == 0);
	T_ASSERT(rb_capture_truncated(&p.result.out));
	T_EQ_INT(p.result.err.total, mb50 + 2);
	T_EQ_INT(p.result.err.head.buf[0], 'E');
	T_EQ_INT(p.result.err.tail.buf[RB_PROC_TAIL_MAX - 1], 'Z');
	T_ASSERT(rb_now_ms() - t0 < 30000);
	rb_proc_release(&p);

	/* Small caps, and output just over head + tail. */
	shell(&p, "printf 0123456789abcdef");
	p.head_max = 4;
	p.tail_max = 5;
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_STR(p.result.out.head.buf, "0123");
	T_EQ_STR(p.result.out.tail.buf, "bcdef");
	T_EQ_INT(p.result.out.total, 16);
	rb_proc_release(&p);
}

void
test_exec_proc__capture_join(void)
{
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_buf b = RB_BUF_INIT;

	shell(&p, "printf 'one\\ntwo\\n'; printf three");
	p.head_max = 4;
	p.tail_max = 5;
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_INT(rb_capture_join(&b, &p.result.out), 0);
	T_EQ_STR(b.buf, "one\n[... 4 bytes omitted ...]\nthree");
	rb_buf_release(&b);
	rb_proc_release(&p);

	/* Exactly head + tail: contiguous, nothing omitted. */
	shell(&p, "printf 123456789");
	p.head_max = 4;
	p.tail_max = 5;
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_ASSERT(!rb_capture_truncated(&p.result.out));
	T_EQ_INT(rb_capture_join(&b, &p.result.out), 0);
	T_EQ_STR(b.buf, "123456789");
	rb_buf_release(&b);
	rb_proc_release(&p);
}

/* The first line of a capture as a pid. */
static pid_t
first_pid(const struct rb_capture *c)
{
	long long v = 0;
	char line[32];
	size_t n = strcspn(c->head.buf, "\n");

	if (n == 0 || n >= sizeof(line))
		return -1;
	memcpy(line, c->head.buf, n);
	line[n] = '\0';
	if (rb_parse_int(&v, line, 2, INT_MAX) != 0)
		return -1;
	return (pid_t)v;
}

void
test_exec_proc__timeout_kills_group(void)
{
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;
	pid_t gc;

	/* A grandchild that ignores SIGTERM, under a shell that waits. */
	shell(&p, "(trap '' TERM; exec sleep 1000) & echo $!; wait");
	p.timeout_ms = 300;
	p.grace_ms = 5000;
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_ASSERT(p.result.timed_out);
	T_ASSERT(p.result.killed);
	T_EQ_INT(p.result.status, 128 + SIGTERM);
	/* The leader died of SIGTERM at once; the group kill at its exit took
	 * the grandchild without waiting for the grace period. */
	T_ASSERT(p.result.end_ms - p.result.start_ms < 3000);
	gc = first_pid(&p.result.out);
	T_ASSERT(gc > 1);
	T_ASSERT(wait_gone(gc, 2000));
	T_ASSERT(wait_group_empty(p.pid, 2000));
	rb_proc_release(&p);
	T_ASSERT(no_children());
}

void
test_exec_proc__timeout_escalates_to_sigkill(void)
{
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;
	pid_t gc;

	/* Everybody ignores SIGTERM: only the SIGKILL after grace works. */
	shell(&p, "trap '' TERM; sleep 1000 & echo $!; wait");
	p.timeout_ms = 200;
	p.grace_ms = 300;
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_ASSERT(p.result.timed_out);
	T_EQ_INT(p.result.status, 128 + SIGKILL);
	T_ASSERT(p.result.exit_ms - p.result.start_ms >= 500);
	T_ASSERT(p.result.exit_ms - p.result.start_ms < 3000);
	gc = first_pid(&p.result.out);
	T_ASSERT(gc > 1);
	T_ASSERT(wait_gone(gc, 2000));
	T_ASSERT(wait_group_empty(p.pid, 2000));
	rb_proc_release(&p);
	T_ASSERT(no_children());
}

static void
kill_soon(struct rb_evloop *loop, uint64_t id, void *payload)
{
	(void)loop;
	(void)id;
	rb_proc_kill_tree(payload, 1000);
}

static void
count_done(struct rb_proc *proc, struct rb_proc_result *res, void *payload)
{
	(void)proc;
	(void)res;
	(*(int *)payload)++;
}

void
test_exec_proc__kill_tree_by_caller(void)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;
	int done = 0;

	rb_proc_init(&p);
	rb_strvec_push(&p.args, "/bin/sleep");
	rb_strvec_push(&p.args, "100");
	p.on_done = count_done;
	p.payload = &done;
	T_EQ_INT(rb_proc_start(&p, loop, &err), 0);
	rb_evloop_add_timer(loop, rb_now_ms() + 50, kill_soon, &p);
	T_EQ_INT(rb_evloop_run(loop), 0);
	T_EQ_INT(done, 1);
	T_ASSERT(p.result.killed);
	T_ASSERT(!p.result.timed_out);
	T_EQ_INT(p.result.status, 128 + SIGTERM);
	rb_proc_kill_tree(&p, 0);	/* not running: a no-op */
	rb_proc_release(&p);
	rb_evloop_free(loop);
	T_ASSERT(no_children());
}

void
test_exec_proc__leftovers_killed_at_exit(void)
{
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;
	pid_t gc;

	/* The background job keeps stdout open; the group kill at exit
	 * closes it, so the step ends now, not after drain_ms. */
	shell(&p, "sleep 1000 & echo $!");
	p.drain_ms = 5000;
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_INT(p.result.status, 0);
	T_ASSERT(!p.result.drain_expired);
	T_ASSERT(p.result.end_ms - p.result.start_ms < 2000);
	gc = first_pid(&p.result.out);
	T_ASSERT(gc > 1);
	T_ASSERT(wait_gone(gc, 2000));
	rb_proc_release(&p);
}

void
test_exec_proc__setsid_escapee_drain(void)
{
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;
	pid_t esc;

	/* setsid(1) leaves the group: killpg cannot reach it, and it holds
	 * stdout open; reading stops drain_ms after the exit. The leader
	 * waits until the escapee has left the group (it wrote F). */
	shell(&p, "setsid sh -c 'echo $$ > \"$F\"; echo $$; exec sleep 30' & "
	    "while [ ! -s \"$F\" ]; do sleep 0.01; done");
	rb_strvec_pushf(&p.env, "F=%s/escaped", rb_test_tmpdir());
	p.drain_ms = 200;
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_INT(p.result.status, 0);
	T_ASSERT(p.result.drain_expired);
	T_ASSERT(p.result.end_ms - p.result.exit_ms >= 190);
	T_ASSERT(p.result.end_ms - p.result.exit_ms < 2000);
	esc = first_pid(&p.result.out);
	T_ASSERT(esc > 1);
	T_ASSERT(!pid_gone(esc));	/* documented: it escaped */
	kill(esc, SIGKILL);
	rb_proc_release(&p);
}

void
test_exec_proc__exec_failure(void)
{
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;
	char script[PATH_MAX];
	int fd;

	rb_proc_init(&p);
	rb_strvec_push(&p.args, "/nonexistent/prog");
	T_EQ_INT(rb_proc_run(&p, &err), RB_ENOTFOUND);
	T_EQ_STR(err.msg,
	    "cannot execute '/nonexistent/prog': No such file or directory");
	T_EQ_INT(p.result.status, -1);
	rb_proc_release(&p);

	rb_proc_init(&p);
	rb_strvec_push(&p.args, "no-such-command-rb");
	rb_strvec_push(&p.env, "PATH=/usr/bin:/bin");
	T_EQ_INT(rb_proc_run(&p, &err), RB_ENOTFOUND);
	T_EQ_STR(err.msg, "cannot run 'no-such-command-rb': command not found");
	rb_proc_release(&p);

	shell(&p, "true");
	p.dir = "/nonexistent-dir-rb";
	T_EQ_INT(rb_proc_run(&p, &err), RB_ENOTFOUND);
	T_EQ_STR(err.msg, "cannot change to directory '/nonexistent-dir-rb': "
	    "No such file or directory");
	rb_proc_release(&p);

	/* Exists but is not executable. */
	snprintf(script, sizeof(script), "%s/noexec", rb_test_tmpdir());
	fd = open(script, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	T_ASSERT(fd >= 0);
	T_EQ_INT(write(fd, "#!/bin/sh\n", 10), 10);
	close(fd);
	rb_proc_init(&p);
	rb_strvec_push(&p.args, script);
	T_EQ_INT(rb_proc_run(&p, &err), RB_ERROR);
	T_CONTAINS(err.msg, "Permission denied");
	rb_proc_release(&p);

	/* A bad interpreter line gets a hint. */
	fd = open(script, O_WRONLY | O_TRUNC, 0755);
	T_ASSERT(fd >= 0);
	T_EQ_INT(write(fd, "#!/nonexistent/interp\n", 22), 22);
	close(fd);
	T_EQ_INT(chmod(script, 0755), 0);
	rb_proc_init(&p);
	rb_strvec_push(&p.args, script);
	T_EQ_INT(rb_proc_run(&p, &err), RB_ENOTFOUND);
	T_CONTAINS(err.hint, "interpreter");
	rb_proc_release(&p);
	T_ASSERT(no_children());
}

void
test_exec_proc__env_is_exact(void)
{
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;

	setenv("RB_TEST_LEAK", "must-not-appear", 1);
	rb_proc_init(&p);
	rb_strvec_push(&p.args, "env");	/* found in the given PATH */
	rb_strvec_push(&p.env, "PATH=/usr/bin:/bin");
	rb_strvec_push(&p.env, "RUNBOOK_PARAM_X=a b'c");
	rb_strvec_push(&p.env, "EMPTY=");
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_STR(p.result.out.head.buf,
	    "PATH=/usr/bin:/bin\nRUNBOOK_PARAM_X=a b'c\nEMPTY=\n");
	rb_proc_release(&p);

	/* No environment at all. */
	rb_proc_init(&p);
	rb_strvec_push(&p.args, "/usr/bin/env");
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_INT(p.result.status, 0);
	T_EQ_INT(p.result.out.total, 0);
	rb_proc_release(&p);
	unsetenv("RB_TEST_LEAK");
}

void
test_exec_proc__workdir(void)
{
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;
	char real[PATH_MAX], want[PATH_MAX + 2];

	T_ASSERT(realpath(rb_test_tmpdir(), real) != NULL);
	snprintf(want, sizeof(want), "%s\n", real);
	shell(&p, "pwd -P");
	p.dir = rb_test_tmpdir();
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_STR(p.result.out.head.buf, want);
	rb_proc_release(&p);
}

void
test_exec_proc__own_session(void)
{
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;
	int pid = 0, pgrp = 0, sid = 0;
	const char *s;

	rb_proc_init(&p);
	rb_strvec_push(&p.args, "/bin/cat");
	rb_strvec_push(&p.args, "/proc/self/stat");
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	s = strrchr(p.result.out.head.buf, ')');
	T_ASSERT(s != NULL);
	T_EQ_INT(sscanf(p.result.out.head.buf, "%d", &pid), 1);
	T_EQ_INT(sscanf(s + 2, "%*c %*d %d %d", &pgrp, &sid), 2);
	T_EQ_INT(pid, p.pid);
	T_EQ_INT(pgrp, p.pid);
	T_EQ_INT(sid, p.pid);
	rb_proc_release(&p);
}

void
test_exec_proc__signals_reset(void)
{
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;
	struct sigaction ign, old_int, old_pipe;
	sigset_t block, old_mask;

	/* Ignored and blocked signals in the parent must not reach a child. */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGPIPE, &ign, &old_pipe);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old_mask);
	rb_proc_init(&p);
	rb_strvec_push(&p.args, "/bin/grep");
	rb_strvec_push(&p.args, "-E");
	rb_strvec_push(&p.args, "^Sig(Ign|Blk)");
	rb_strvec_push(&p.args, "/proc/self/status");
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	T_EQ_STR(p.result.out.head.buf,
	    "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
	rb_proc_release(&p);
}

void
test_exec_proc__fds_closed(void)
{
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;
	int fd = open("/dev/null", O_RDONLY);	/* deliberately inheritable */

	T_ASSERT(fd >= 0);
	T_EQ_INT(dup2(fd, 57), 57);
	rb_proc_init(&p);
	rb_strvec_push(&p.args, "/bin/ls");
	rb_strvec_push(&p.args, "/proc/self/fd");
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	close(57);
	close(fd);
	/* 0, 1, 2, and ls's own directory fd. */
	T_EQ_STR(p.result.out.head.buf, "0\n1\n2\n3\n");
	rb_proc_release(&p);
}

void
test_exec_proc__stdin_data(void)
{
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_buf big = RB_BUF_INIT;
	size_t i;

	rb_proc_init(&p);
	rb_strvec_push(&p.args, "/bin/cat");
	p.in_data = "hello\nworld\n";
	p.in_len = 12;
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_STR(p.result.out.head.buf, "hello\nworld\n");
	rb_proc_release(&p);

	/* More than a pipe holds, while the output is read concurrently. */
	for (i = 0; i < 1024 * 1024; i++)
		rb_buf_addch(&big, 'a' + (int)(i % 26));
	rb_proc_init(&p);
	rb_strvec_push(&p.args, "/bin/cat");
	p.in_data = big.buf;
	p.in_len = big.len;
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_INT(p.result.out.total, big.len);
	T_ASSERT(memcmp(p.result.out.head.buf, big.buf, RB_PROC_HEAD_MAX) == 0);
	rb_proc_release(&p);

	/* A child that never reads: EPIPE, not SIGPIPE, and no hang. */
	shell(&p, "exec 0<&-; sleep 0.05");
	p.in_data = big.buf;
	p.in_len = big.len;
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_INT(p.result.status, 0);
	rb_proc_release(&p);
	rb_buf_release(&big);

	/* Default stdin is /dev/null. */
	rb_proc_init(&p);
	rb_strvec_push(&p.args, "/bin/cat");
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_INT(p.result.out.total, 0);
	rb_proc_release(&p);
}

/* Run p with runbook's own fds 0 and 1 closed; returns rb_proc_run(). */
static int
run_with_stdio_closed(struct rb_proc *p, struct rb_error *err)
{
	int saved0 = dup(0), saved1 = dup(1), r;

	if (saved0 < 3 || saved1 < 3)
		return -100;
	close(0);
	close(1);
	r = rb_proc_run(p, err);
	dup2(saved0, 0);
	dup2(saved1, 1);
	close(saved0);
	close(saved1);
	return r;
}

void
test_exec_proc__own_stdio_closed(void)
{
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;

	/* The pipes land on fds 0 and 1; the child must still get them
	 * wired right, and a failure must still be reported. */
	shell(&p, "cat; echo err >&2");
	p.in_data = "abc";
	p.in_len = 3;
	T_EQ_INT(run_with_stdio_closed(&p, &err), 0);
	T_EQ_INT(p.result.status, 0);
	T_EQ_STR(p.result.out.head.buf, "abc");
	T_EQ_STR(p.result.err.head.buf, "err\n");
	rb_proc_release(&p);

	shell(&p, "true");
	p.dir = "/nonexistent-dir-rb";
	T_EQ_INT(run_with_stdio_closed(&p, &err), RB_ENOTFOUND);
	T_CONTAINS(err.msg, "cannot change to directory");
	rb_proc_release(&p);
}

struct lines {
	char got[4][64];
	int n;
	size_t longest;
	int pieces;
};

static void
on_line(struct rb_proc *proc, int stream, const char *line, size_t len,
    void *payload)
{
	struct lines *l = payload;

	(void)proc;
	if (len > l->longest)
		l->longest = len;
	l->pieces++;
	if (l->n < 4 && len < 60) {
		snprintf(l->got[l->n], sizeof(l->got[0]), "%d:%.*s", stream,
		    (int)len, line);
		l->n++;
	}
}

void
test_exec_proc__lines(void)
{
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;
	struct lines l;

	memset(&l, 0, sizeof(l));
	shell(&p, "echo one; echo two >&2; sleep 0.05; printf 'thr'; "
	    "sleep 0.05; printf 'ee'");
	p.on_line = on_line;
	p.payload = &l;
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_INT(l.n, 3);
	T_EQ_STR(l.got[0], "1:one");
	T_EQ_STR(l.got[1], "2:two");
	T_EQ_STR(l.got[2], "1:three");
	rb_proc_release(&p);

	/* A 20000-byte line comes in pieces of at most RB_PROC_LINE_MAX. */
	memset(&l, 0, sizeof(l));
	shell(&p, "head -c 20000 /dev/zero | tr '\\0' y; echo");
	p.on_line = on_line;
	p.payload = &l;
	T_EQ_INT(rb_proc_run(&p, &err), 0);
	T_EQ_INT(l.longest, RB_PROC_LINE_MAX);
	T_EQ_INT(l.pieces, 3);
	rb_proc_release(&p);
}

#define PAR 100

struct par {
	int done;
	int bad;
};

static void
par_done(struct rb_proc *proc, struct rb_proc_result *res, void *payload)
{
	struct par *st = payload;
	long long i = -1;
	char want[16];

	st->done++;
	if (rb_parse_int(&i, proc->args.v[1], 0, PAR) != 0)
		st->bad++;
	snprintf(want, sizeof(want), "%lld\n", i);
	if (res->status != (int)(i % 7) || strcmp(res->out.head.buf, want) != 0)
		st->bad++;
}

void
test_exec_proc__parallel_100(void)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_error err = RB_ERROR_INIT;
	struct rb_proc *procs = calloc(PAR, sizeof(*procs));
	struct par st = { 0, 0 };
	int i, started = 0;

	T_ASSERT(procs != NULL);
	for (i = 0; i < PAR; i++) {
		struct rb_proc *p = &procs[i];

		rb_proc_init(p);
		rb_strvec_push(&p->args,
		    "sleep 0.2; echo $0; exit $(($0 % 7))");
		rb_strvec_pushf(&p->args, "%d", i);
		p->use_shell = true;
		rb_strvec_push(&p->env, "PATH=/usr/bin:/bin");
		p->on_done = par_done;
		p->payload = &st;
		if (rb_proc_start(p, loop, &err) == 0)
			started++;
	}
	T_EQ_INT(started, PAR);
	T_EQ_INT(rb_evloop_run(loop), 0);
	T_EQ_INT(st.done, PAR);
	T_EQ_INT(st.bad, 0);
	for (i = 0; i < PAR; i++)
		rb_proc_release(&procs[i]);
	free(procs);
	rb_evloop_free(loop);
	T_ASSERT(no_children());
}

void
test_exec_proc__release_running(void)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_proc p;
	struct rb_error err = RB_ERROR_INIT;
	int done = 0;
	pid_t pid;

	shell(&p, "sleep 1000 & sleep 1000");
	p.on_done = count_done;
	p.payload = &done;
	T_EQ_INT(rb_proc_start(&p, loop, &err), 0);
	pid = p.pid;
	T_EQ_INT(rb_evloop_run_once(loop, 50), 0);
	rb_proc_release(&p);
	T_EQ_INT(done, 0);
	T_ASSERT(no_children());
	T_ASSERT(wait_group_empty(pid, 2000));
	T_EQ_INT(rb_evloop_run(loop), 0);	/* nothing left on the loop */
	rb_evloop_free(loop);
}
