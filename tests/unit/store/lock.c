/*
 * Unit tests for store/lock.c: contention between processes, takeover of a
 * SIGKILLed holder's lock, release, close-on-exec.
 */
#include <sys/wait.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "runbook/error.h"
#include "runbook/lock.h"
#include "runbook/store.h"

void test_store_lock__one_winner_of_20(void);
void test_store_lock__stale_after_sigkill(void);
void test_store_lock__release_and_keys(void);
void test_store_lock__cloexec(void);

#define NRACERS 20

/* What a racing child reports; small enough for an atomic pipe write. */
struct report {
	char kind;		/* W won, L lost properly, X anything else */
	char run_id[63];	/* W: its run id; L: the holder named */
};

/* One racer: wait for the start, try the lock, report, wait, clean up. */
static RB_NORETURN void
racer(int i, int go, int res, int done)
{
	struct rb_error err = RB_ERROR_INIT;
	struct rb_store *st = NULL;
	struct rb_lock *lk = NULL;
	struct report rep;
	char c, id[32];
	const char *p;
	int r;

	memset(&rep, 0, sizeof(rep));
	snprintf(id, sizeof(id), "race-%02d", i);
	if (read(go, &c, 1) < 0)
		_exit(2);
	rep.kind = 'X';
	if (rb_store_open(&st, rb_test_tmpdir(), &err) == 0) {
		r = rb_lock_acquire(&lk, NULL, st, "db-connection", id);
		if (r == 0) {
			rep.kind = 'W';
			snprintf(rep.run_id, sizeof(rep.run_id), "%s", id);
		} else if (r == RB_EREFUSED && (p = strstr(
		    rb_store_error(st)->msg, "is held by run '")) != NULL) {
			rep.kind = 'L';
			snprintf(rep.run_id, sizeof(rep.run_id), "%.*s",
			    (int)strcspn(p + 16, "'"), p + 16);
		} else
			snprintf(rep.run_id, sizeof(rep.run_id), "%d %.50s", r,
			    rb_store_error(st)->msg);
	} else
		snprintf(rep.run_id, sizeof(rep.run_id), "%.60s", err.msg);
	if (write(res, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
		_exit(3);
	if (read(done, &c, 1) < 0)
		_exit(4);
	if (lk != NULL && rb_lock_release(st, lk) != 0)
		_exit(5);
	rb_store_free(st);
	_exit(0);
}

void
test_store_lock__one_winner_of_20(void)
{
	struct rb_error err = RB_ERROR_INIT;
	struct rb_store *st = NULL;
	struct rb_lock *lk = NULL;
	struct report rep[NRACERS];
	pid_t pids[NRACERS];
	int go[2], res[2], done[2], i, j, winners = 0, losers = 0, status;
	const char *winner = NULL;

	/* Create the database first; no handle may be open at fork(). */
	T_EQ_INT(rb_store_open(&st, rb_test_tmpdir(), &err), 0);
	rb_store_free(st);
	st = NULL;
	T_ASSERT(pipe(go) == 0 && pipe(res) == 0 && pipe(done) == 0);
	for (i = 0; i < NRACERS; i++) {
		if ((pids[i] = fork()) == 0) {
			close(go[1]);
			close(res[0]);
			close(done[1]);
			racer(i, go[0], res[1], done[0]);
		}
		T_ASSERT(pids[i] > 0);
	}
	close(go[0]);
	close(res[1]);
	close(done[0]);
	close(go[1]);		/* EOF: every racer starts at once */
	for (i = 0; i < NRACERS; i++) {
		ssize_t n = read(res[0], &rep[i], sizeof(rep[i]));

		T_EQ_INT(n, sizeof(rep[i]));
	}
	close(done[1]);		/* EOF: racers may finish */
	close(res[0]);
	for (i = 0; i < NRACERS; i++) {
		T_EQ_INT(waitpid(pids[i], &status, 0), pids[i]);
		T_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	for (i = 0; i < NRACERS; i++) {
		if (rep[i].kind == 'W') {
			winners++;
			winner = rep[i].run_id;
		} else if (rep[i].kind == 'L')
			losers++;
		else
			rb_test_fail(__FILE__, __LINE__, "racer: %s",
			    rep[i].run_id);
	}
	T_EQ_INT(winners, 1);
	T_EQ_INT(losers, NRACERS - 1);
	/* Every loser was told who holds the lock. */
	for (j = 0; j < NRACERS; j++)
		if (rep[j].kind == 'L')
			T_EQ_STR(rep[j].run_id, winner);

	/* All gone: the lock is free and its row was removed. */
	T_EQ_INT(rb_store_open(&st, rb_test_tmpdir(), &err), 0);
	T_EQ_INT(rb_lock_acquire(&lk, NULL, st, "db-connection", "after"), 0);
	T_EQ_INT(rb_lock_release(st, lk), 0);
	rb_store_free(st);
}

void
test_store_lock__stale_after_sigkill(void)
{
	struct rb_error err = RB_ERROR_INIT;
	struct rb_store *st = NULL;
	struct rb_lock *lk = NULL;
	struct rb_lock_info info, old;
	int fds[2], status;
	char c = 0;
	pid_t pid;

	T_EQ_INT(rb_store_open(&st, rb_test_tmpdir(), &err), 0);
	rb_store_free(st);
	st = NULL;
	T_ASSERT(pipe(fds) == 0);
	if ((pid = fork()) == 0) {
		close(fds[0]);
		if (rb_store_open(&st, rb_test_tmpdir(), &err) != 0 ||
		    rb_lock_acquire(&lk, NULL, st, "maint", "run-victim") != 0)
			_exit(1);
		if (write(fds[1], "A", 1) != 1)
			_exit(2);
		for (;;)
			pause();
	}
	close(fds[1]);
	T_EQ_INT(read(fds[0], &c, 1), 1);
	close(fds[0]);
	T_EQ_INT(c, 'A');

	T_EQ_INT(rb_store_open(&st, rb_test_tmpdir(), &err), 0);
	T_EQ_INT(rb_lock_acquire(&lk, NULL, st, "maint", "run-new"),
	    RB_EREFUSED);
	T_CONTAINS(rb_store_error(st)->msg,
	    "lock 'maint' is held by run 'run-victim' (pid");
	T_CONTAINS(rb_store_error(st)->hint, "runbook show run-victim");
	T_EQ_INT(rb_lock_holder(&info, st, "maint"), 0);
	T_EQ_STR(info.run_id, "run-victim");
	T_EQ_INT(info.pid, pid);
	T_ASSERT(info.alive);

	kill(pid, SIGKILL);
	T_EQ_INT(waitpid(pid, &status, 0), pid);
	T_ASSERT(WIFSIGNALED(status));
	T_EQ_INT(rb_lock_holder(&info, st, "maint"), 0);
	T_ASSERT(!info.alive);	/* the row is stale */

	T_EQ_INT(rb_lock_acquire(&lk, &old, st, "maint", "run-new"), 0);
	T_EQ_STR(old.run_id, "run-victim");
	T_EQ_INT(old.pid, pid);
	T_EQ_INT(rb_lock_holder(&info, st, "maint"), 0);
	T_EQ_STR(info.run_id, "run-new");
	T_EQ_INT(info.pid, getpid());
	T_ASSERT(info.alive);
	T_EQ_INT(rb_lock_release(st, lk), 0);
	T_EQ_INT(rb_lock_holder(&info, st, "maint"), RB_ENOTFOUND);
	rb_store_free(st);
}

void
test_store_lock__release_and_keys(void)
{
	struct rb_error err = RB_ERROR_INIT;
	struct rb_store *st = NULL;
	struct rb_lock *a = NULL, *b = NULL, *c = NULL;
	struct rb_lock_info old;

	T_EQ_INT(rb_store_open(&st, rb_test_tmpdir(), &err), 0);
	T_EQ_INT(rb_lock_acquire(&a, &old, st, "key-a", "r1"), 0);
	T_EQ_STR(old.run_id, "");	/* nothing taken over */
	T_EQ_INT(rb_lock_acquire(&b, NULL, st, "key-b", "r2"), 0);
	/* Same key, same process, another run: still refused. */
	T_EQ_INT(rb_lock_acquire(&c, NULL, st, "key-a", "r3"), RB_EREFUSED);
	T_CONTAINS(rb_store_error(st)->msg, "held by run 'r1'");
	T_ASSERT(c == NULL);
	T_EQ_INT(rb_lock_acquire(&c, NULL, st, "", "r3"), RB_EINVAL);
	T_EQ_INT(rb_lock_release(st, a), 0);
	T_EQ_INT(rb_lock_acquire(&c, NULL, st, "key-a", "r3"), 0);
	T_EQ_INT(rb_lock_release(st, b), 0);
	T_EQ_INT(rb_lock_release(st, c), 0);
	T_EQ_INT(rb_lock_release(st, NULL), 0);
	rb_store_free(st);
}

void
test_store_lock__cloexec(void)
{
	struct rb_error err = RB_ERROR_INIT;
	struct rb_store *st = NULL;
	struct rb_lock *lk = NULL;
	struct dirent *de;
	char link[512], path[300];
	int found = 0;
	DIR *d;

	T_EQ_INT(rb_store_open(&st, rb_test_tmpdir(), &err), 0);
	T_EQ_INT(rb_lock_acquire(&lk, NULL, st, "k", "r"), 0);
	T_ASSERT((d = opendir("/proc/self/fd")) != NULL);
	while ((de = readdir(d)) != NULL) {
		ssize_t n;
		int fd = (int)strtol(de->d_name, NULL, 10);

		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strstr(link, ".lock") == NULL)
			continue;
		found++;
		if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
			rb_test_fail(__FILE__, __LINE__, "%s is inheritable",
			    link);
	}
	closedir(d);
	T_EQ_INT(found, 1);
	T_EQ_INT(rb_lock_release(st, lk), 0);
	rb_store_free(st);
}
