/* Unit tests for util/evloop.c: timers, fd events, signals. */
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "runbook/error.h"
#include "runbook/evloop.h"
#include "runbook/util.h"

void test_util_evloop__timers_order(void);
void test_util_evloop__timer_cancel(void);
void test_util_evloop__timer_rearm_next_round(void);
void test_util_evloop__fd_read_write(void);
void test_util_evloop__stale_fd_not_dispatched(void);
void test_util_evloop__many_fds(void);
void test_util_evloop__signals(void);
void test_util_evloop__run_once_waits(void);

struct order {
	int seen[16];
	int n;
	uint64_t cancel_me;
	struct rb_evloop *loop;
};

static struct order order_state;

static void
record_timer(struct rb_evloop *loop, uint64_t id, void *payload)
{
	(void)loop;
	(void)id;
	if (order_state.n < 16)
		order_state.seen[order_state.n++] = (int)(intptr_t)payload;
}

void
test_util_evloop__timers_order(void)
{
	struct rb_evloop *loop = rb_evloop_new();
	int64_t now = rb_now_ms();
	uint64_t id;

	memset(&order_state, 0, sizeof(order_state));
	rb_evloop_add_timer(loop, now + 60, record_timer, (void *)4);
	rb_evloop_add_timer(loop, now + 20, record_timer, (void *)1);
	rb_evloop_add_timer(loop, now + 40, record_timer, (void *)3);
	rb_evloop_add_timer(loop, now + 20, record_timer, (void *)2);
	id = rb_evloop_add_timer(loop, now + 30, record_timer, (void *)99);
	rb_evloop_add_timer(loop, now - 1000, record_timer, (void *)0);
	T_ASSERT(id != 0);
	T_ASSERT(rb_evloop_cancel_timer(loop, id));
	T_ASSERT(!rb_evloop_cancel_timer(loop, id));
	T_ASSERT(!rb_evloop_cancel_timer(loop, 0));
	T_EQ_INT(rb_evloop_run(loop), 0);
	T_EQ_INT(order_state.n, 5);
	T_EQ_INT(order_state.seen[0], 0);
	T_EQ_INT(order_state.seen[1], 1);
	T_EQ_INT(order_state.seen[2], 2);
	T_EQ_INT(order_state.seen[3], 3);
	T_EQ_INT(order_state.seen[4], 4);
	T_ASSERT(rb_now_ms() - now >= 60);
	rb_evloop_free(loop);
}

static void
cancel_other(struct rb_evloop *loop, uint64_t id, void *payload)
{
	(void)id;
	(void)payload;
	order_state.seen[order_state.n++] = 1;
	T_ASSERT(rb_evloop_cancel_timer(loop, order_state.cancel_me));
}

void
test_util_evloop__timer_cancel(void)
{
	struct rb_evloop *loop = rb_evloop_new();
	int64_t now = rb_now_ms();
	int i;

	memset(&order_state, 0, sizeof(order_state));
	/* Both due in the same round: the first cancels the second. */
	rb_evloop_add_timer(loop, now, cancel_other, NULL);
	order_state.cancel_me = rb_evloop_add_timer(loop, now, record_timer,
	    (void *)7);
	/* Many timers, cancelled in a scattered order, keep the heap sound. */
	for (i = 0; i < 200; i++) {
		int64_t at = now + 1 + (i * 7919) % 50;
		uint64_t id = rb_evloop_add_timer(loop, at, record_timer,
		    (void *)(intptr_t)(100 + i));

		if (i % 2 == 1 || i > 9)
			T_ASSERT(rb_evloop_cancel_timer(loop, id));
	}
	T_EQ_INT(rb_evloop_run(loop), 0);
	/* cancel_other, then the five even timers below 10 by deadline. */
	T_EQ_INT(order_state.n, 6);
	T_EQ_INT(order_state.seen[0], 1);
	for (i = 2; i < 6; i++) {
		int a = order_state.seen[i - 1] - 100;
		int b = order_state.seen[i] - 100;

		T_ASSERT(1 + (a * 7919) % 50 <= 1 + (b * 7919) % 50);
	}
	rb_evloop_free(loop);
}

static int rearm_calls;

static void
rearm(struct rb_evloop *loop, uint64_t id, void *payload)
{
	(void)id;
	(void)payload;
	if (++rearm_calls < 3)
		rb_evloop_add_timer(loop, 0, rearm, NULL);
}

void
test_util_evloop__timer_rearm_next_round(void)
{
	struct rb_evloop *loop = rb_evloop_new();

	rearm_calls = 0;
	rb_evloop_add_timer(loop, 0, rearm, NULL);
	T_EQ_INT(rb_evloop_run_once(loop, 0), 1);
	T_EQ_INT(rearm_calls, 1);
	T_EQ_INT(rb_evloop_run_once(loop, 0), 1);
	T_EQ_INT(rearm_calls, 2);
	T_EQ_INT(rb_evloop_run(loop), 0);
	T_EQ_INT(rearm_calls, 3);
	rb_evloop_free(loop);
}

struct rw {
	int reads, writes;
	char got[16];
};

static void
rw_cb(struct rb_evloop *loop, int fd, int mask, void *payload)
{
	struct rw *s = payload;

	if (mask & RB_EVLOOP_READ) {
		ssize_t n = read(fd, s->got, sizeof(s->got) - 1);

		if (n > 0)
			s->got[n] = '\0';
		s->reads++;
		rb_evloop_del_fd(loop, fd);
	}
	if (mask & RB_EVLOOP_WRITE) {
		(void)!write(fd, "ping", 4);
		s->writes++;
		rb_evloop_del_fd(loop, fd);
	}
}

void
test_util_evloop__fd_read_write(void)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rw s;
	int p[2];

	memset(&s, 0, sizeof(s));
	T_EQ_INT(pipe(p), 0);
	T_EQ_INT(rb_evloop_add_fd(loop, p[0], RB_EVLOOP_READ, rw_cb, &s), 0);
	T_EQ_INT(rb_evloop_add_fd(loop, p[0], RB_EVLOOP_READ, rw_cb, &s),
	    RB_EINVAL);
	T_EQ_INT(rb_evloop_add_fd(loop, p[1], RB_EVLOOP_READ, rw_cb, &s), 0);
	T_EQ_INT(rb_evloop_mod_fd(loop, p[1], RB_EVLOOP_WRITE), 0);
	T_EQ_INT(rb_evloop_mod_fd(loop, 1000, RB_EVLOOP_WRITE), RB_EINVAL);
	T_EQ_INT(rb_evloop_add_fd(loop, p[1], 0, rw_cb, &s), RB_EINVAL);
	/* Round 1: the write end is writable; round 2: the read end. */
	T_EQ_INT(rb_evloop_run(loop), 0);
	T_EQ_INT(s.writes, 1);
	T_EQ_INT(s.reads, 1);
	T_EQ_STR(s.got, "ping");
	rb_evloop_del_fd(loop, p[0]);	/* not registered: a no-op */
	close(p[0]);
	close(p[1]);
	rb_evloop_free(loop);
}

struct stale {
	int a[2], b[2], c[2];
	int a_calls, b_calls, c_calls;
};

static void stale_c(struct rb_evloop *loop, int fd, int mask, void *payload);

static void
stale_a(struct rb_evloop *loop, int fd, int mask, void *payload)
{
	struct stale *s = payload;

	(void)mask;
	s->a_calls++;
	rb_evloop_del_fd(loop, fd);
	/* b is ready in this round too; replace it by an empty pipe c that
	 * reuses its fd number. */
	rb_evloop_del_fd(loop, s->b[0]);
	close(s->b[0]);
	close(s->b[1]);
	if (pipe(s->c) != 0)
		abort();
	if (s->c[0] != s->b[0]) {
		/* Force the reuse the test is about. */
		if (dup2(s->c[0], s->b[0]) < 0)
			abort();
		close(s->c[0]);
		s->c[0] = s->b[0];
	}
	rb_evloop_add_fd(loop, s->c[0], RB_EVLOOP_READ, stale_c, s);
}

static void
stale_b(struct rb_evloop *loop, int fd, int mask, void *payload)
{
	struct stale *s = payload;

	(void)loop;
	(void)fd;
	(void)mask;
	s->b_calls++;
}

static void
stale_c(struct rb_evloop *loop, int fd, int mask, void *payload)
{
	struct stale *s = payload;

	(void)mask;
	s->c_calls++;
	rb_evloop_del_fd(loop, fd);
}

void
test_util_evloop__stale_fd_not_dispatched(void)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct stale s;

	memset(&s, 0, sizeof(s));
	T_EQ_INT(pipe(s.a), 0);
	T_EQ_INT(pipe(s.b), 0);
	T_EQ_INT(write(s.a[1], "x", 1), 1);
	T_EQ_INT(write(s.b[1], "x", 1), 1);
	rb_evloop_add_fd(loop, s.a[0], RB_EVLOOP_READ, stale_a, &s);
	rb_evloop_add_fd(loop, s.b[0], RB_EVLOOP_READ, stale_b, &s);
	T_EQ_INT(rb_evloop_run_once(loop, 1000), 1);
	T_EQ_INT(s.a_calls, 1);
	T_EQ_INT(s.b_calls, 0);
	T_EQ_INT(s.c_calls, 0);	/* c is empty: b's readiness is not c's */
	T_EQ_INT(rb_evloop_run_once(loop, 0), 0);
	T_EQ_INT(write(s.c[1], "y", 1), 1);
	T_EQ_INT(rb_evloop_run_once(loop, 1000), 1);
	T_EQ_INT(s.c_calls, 1);
	close(s.a[0]);
	close(s.a[1]);
	close(s.c[0]);
	close(s.c[1]);
	rb_evloop_free(loop);
}

#define MANY 300

static int many_done;

static void
many_cb(struct rb_evloop *loop, int fd, int mask, void *payload)
{
	char c;

	(void)mask;
	(void)payload;
	if (read(fd, &c, 1) == 1)
		many_done++;
	rb_evloop_del_fd(loop, fd);
}

void
test_util_evloop__many_fds(void)
{
	struct rb_evloop *loop = rb_evloop_new();
	int p[MANY][2];
	int i, n;

	many_done = 0;
	for (n = 0; n < MANY; n++) {
		if (pipe(p[n]) != 0)
			break;
		rb_evloop_add_fd(loop, p[n][0], RB_EVLOOP_READ, many_cb, NULL);
	}
	T_EQ_INT(n, MANY);
	/* Ready in reverse order, half of them late via a timer-free path. */
	for (i = MANY - 1; i >= 0; i--)
		T_EQ_INT(write(p[i][1], "z", 1), 1);
	T_EQ_INT(rb_evloop_run(loop), 0);
	T_EQ_INT(many_done, MANY);
	for (i = 0; i < n; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
	rb_evloop_free(loop);
}

static int sig_seen[NSIG];

static void
on_signal(struct rb_evloop *loop, int signo, void *payload)
{
	(void)payload;
	sig_seen[signo]++;
	rb_evloop_stop(loop);
}

void
test_util_evloop__signals(void)
{
	struct rb_evloop *loop = rb_evloop_new();
	struct rb_evloop *other = rb_evloop_new();
	struct rb_error err = RB_ERROR_INIT;
	const int sigs[] = { SIGUSR1, SIGUSR2, SIGCHLD };
	const int bad[] = { SIGKILL }, twice[] = { SIGUSR1, SIGUSR1 };
	struct sigaction sa;
	int64_t t0;

	memset(sig_seen, 0, sizeof(sig_seen));
	T_EQ_INT(rb_evloop_watch_signals(loop, bad, 1, on_signal, NULL, &err),
	    RB_EINVAL);
	T_EQ_INT(rb_evloop_watch_signals(loop, twice, 2, on_signal, NULL,
	    &err), RB_EINVAL);
	T_EQ_INT(rb_evloop_watch_signals(loop, sigs, 3, on_signal, NULL, &err),
	    0);
	T_EQ_INT(rb_evloop_watch_signals(other, sigs, 3, on_signal, NULL,
	    &err), RB_EINVAL);
	T_CONTAINS(err.msg, "another event loop");
	T_EQ_INT(sigaction(SIGPIPE, NULL, &sa), 0);
	T_ASSERT(sa.sa_handler == SIG_IGN);

	/* Two deliveries before the loop runs are one callback. */
	raise(SIGUSR1);
	raise(SIGUSR1);
	T_EQ_INT(rb_evloop_run_once(loop, 1000), 1);
	T_EQ_INT(sig_seen[SIGUSR1], 1);
	T_EQ_INT(sig_seen[SIGUSR2], 0);
	raise(SIGUSR2);
	T_EQ_INT(rb_evloop_run_once(loop, 1000), 1);
	T_EQ_INT(sig_seen[SIGUSR2], 1);
	/* A signal wakes a loop that would otherwise sleep for a minute. */
	rb_evloop_add_timer(loop, rb_now_ms() + 60000, record_timer, NULL);
	if (fork() == 0) {
		usleep(20000);
		kill(getppid(), SIGUSR1);
		_exit(0);
	}
	T_EQ_INT(rb_evloop_run(loop), 0);	/* stopped by on_signal */
	T_EQ_INT(sig_seen[SIGUSR1], 2);
	t0 = rb_now_ms();
	while (sig_seen[SIGCHLD] == 0 && rb_now_ms() - t0 < 5000)
		T_ASSERT(rb_evloop_run_once(loop, 5000) >= 0);
	T_EQ_INT(sig_seen[SIGCHLD], 1);
	(void)wait(NULL);

	rb_evloop_unwatch_signals(loop);
	T_EQ_INT(sigaction(SIGUSR1, NULL, &sa), 0);
	T_ASSERT(sa.sa_handler == SIG_DFL);
	/* Now another loop may watch. */
	T_EQ_INT(rb_evloop_watch_signals(other, sigs, 1, on_signal, NULL,
	    &err), 0);
	rb_evloop_free(other);	/* unwatches */
	T_EQ_INT(sigaction(SIGUSR1, NULL, &sa), 0);
	T_ASSERT(sa.sa_handler == SIG_DFL);
	rb_evloop_free(loop);
}

void
test_util_evloop__run_once_waits(void)
{
	struct rb_evloop *loop = rb_evloop_new();
	int64_t t0 = rb_now_ms();

	T_EQ_INT(rb_evloop_run_once(loop, 50), 0);
	T_ASSERT(rb_now_ms() - t0 >= 49);
	T_EQ_INT(rb_evloop_run(loop), 0);	/* nothing registered */
	rb_evloop_free(loop);
}
