/* Unit tests for store/queue.c: dedup windows, claims, recovery, races. */
#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "runbook/error.h"
#include "runbook/queue.h"
#include "runbook/store.h"
#include "runbook/util.h"

void test_store_queue__dedup_window(void);
void test_store_queue__claim_and_mark(void);
void test_store_queue__recover_orphans(void);
void test_store_queue__concurrent_dedup(void);

#define WINDOW_MS (10 * 60 * 1000)

static struct rb_store *
open_store(void)
{
	struct rb_error err = RB_ERROR_INIT;
	struct rb_store *st = NULL;

	if (rb_store_open(&st, rb_test_tmpdir(), &err) != 0)
		rb_test_fail(__FILE__, __LINE__, "open: %s", err.msg);
	return st;
}

void
test_store_queue__dedup_window(void)
{
	struct rb_store *st = open_store();
	struct rb_queue_entry e = RB_QUEUE_ENTRY_INIT;
	enum rb_queue_result res;
	int64_t id1, id2, now = rb_wall_ms(), n;

	T_ASSERT(st != NULL);
	e.route = "pg-down";
	e.runbook = "db-connection";
	e.params = "{\"db_host\":\"db1\"}";
	e.alert = "{\"fingerprint\":\"507a62d79ee76c9a\"}";
	e.dedup_key = "pg-down/507a62d79ee76c9a/2026-11-23T19:00:00Z";
	e.source = "alertmanager";

	/* First delivery 11 minutes ago: queued. */
	e.created_ms = now - 11 * 60 * 1000;
	T_EQ_INT(rb_queue_enqueue(&id1, &res, st, &e, WINDOW_MS), 0);
	T_EQ_INT(res, RB_QUEUE_QUEUED);
	/* Now: outside the 10 minute window, so queued again. */
	e.created_ms = now;
	T_EQ_INT(rb_queue_enqueue(&id2, &res, st, &e, WINDOW_MS), 0);
	T_EQ_INT(res, RB_QUEUE_QUEUED);
	T_ASSERT(id2 > id1);
	/* A repeat a minute later, within the window: deduplicated. */
	e.created_ms = now + 60 * 1000;
	T_EQ_INT(rb_queue_enqueue(&id1, &res, st, &e, WINDOW_MS), 0);
	T_EQ_INT(res, RB_QUEUE_DEDUPLICATED);
	T_EQ_INT(id1, id2);
	/* Another key, no key, or no window: always queued. */
	e.dedup_key = "pg-down/other/2026-11-23T19:00:00Z";
	T_EQ_INT(rb_queue_enqueue(&id1, &res, st, &e, WINDOW_MS), 0);
	T_EQ_INT(res, RB_QUEUE_QUEUED);
	e.dedup_key = NULL;
	T_EQ_INT(rb_queue_enqueue(&id1, &res, st, &e, WINDOW_MS), 0);
	T_EQ_INT(res, RB_QUEUE_QUEUED);
	T_EQ_INT(rb_queue_enqueue(&id1, &res, st, &e, WINDOW_MS), 0);
	T_EQ_INT(res, RB_QUEUE_QUEUED);
	e.dedup_key = "pg-down/other/2026-11-23T19:00:00Z";
	T_EQ_INT(rb_queue_enqueue(&id1, &res, st, &e, 0), 0);
	T_EQ_INT(res, RB_QUEUE_QUEUED);
	T_EQ_INT(rb_queue_count(&n, st, "queued"), 0);
	T_EQ_INT(n, 6);

	/* Bad input queues nothing. */
	e.params = "[]";
	T_EQ_INT(rb_queue_enqueue(&id1, &res, st, &e, 0), RB_EINVAL);
	e.params = NULL;
	e.alert = "{";
	T_EQ_INT(rb_queue_enqueue(&id1, &res, st, &e, 0), RB_EINVAL);
	e.alert = NULL;
	e.runbook = NULL;
	T_EQ_INT(rb_queue_enqueue(&id1, &res, st, &e, 0), RB_EINVAL);
	T_EQ_INT(rb_queue_count(&n, st, NULL), 0);
	T_EQ_INT(n, 6);
	rb_store_free(st);
}

void
test_store_queue__claim_and_mark(void)
{
	struct rb_store *st = open_store();
	struct rb_queue_entry e = RB_QUEUE_ENTRY_INIT, got =
	    RB_QUEUE_ENTRY_INIT;
	enum rb_queue_result res;
	int64_t id1, id2, n;

	T_ASSERT(st != NULL);
	T_EQ_INT(rb_queue_claim(&got, st), RB_ENOTFOUND);
	e.runbook = "first";
	e.route = "r";
	e.source = "127.0.0.1";
	T_EQ_INT(rb_queue_enqueue(&id1, &res, st, &e, 0), 0);
	e.runbook = "second";
	T_EQ_INT(rb_queue_enqueue(&id2, &res, st, &e, 0), 0);

	T_EQ_INT(rb_queue_claim(&got, st), 0);	/* oldest first */
	T_EQ_INT(got.id, id1);
	T_EQ_STR(got.runbook, "first");
	T_EQ_STR(got.params, "{}");
	T_EQ_STR(got.status, "started");
	T_EQ_STR(got.source, "127.0.0.1");
	T_EQ_INT(got.claimed_pid, getpid());
	T_ASSERT(got.run_id == NULL && got.alert == NULL);
	rb_queue_entry_release(&got);

	T_EQ_INT(rb_queue_mark(st, id1, "started", "run-1"), 0);
	T_EQ_INT(rb_queue_mark(st, id1, "done", NULL), 0);
	T_EQ_INT(rb_queue_get(&got, st, id1), 0);
	T_EQ_STR(got.status, "done");
	T_EQ_STR(got.run_id, "run-1");	/* kept */
	T_ASSERT(got.finished_ms >= got.started_ms && got.started_ms > 0);
	rb_queue_entry_release(&got);
	T_EQ_INT(rb_queue_mark(st, id1, "queued", NULL), RB_EINVAL);
	T_EQ_INT(rb_queue_mark(st, 999, "done", NULL), RB_ENOTFOUND);
	T_EQ_INT(rb_queue_get(&got, st, 999), RB_ENOTFOUND);

	T_EQ_INT(rb_queue_claim(&got, st), 0);
	T_EQ_INT(got.id, id2);
	rb_queue_entry_release(&got);
	T_EQ_INT(rb_queue_claim(&got, st), RB_ENOTFOUND);
	T_CONTAINS(rb_store_error(st)->msg, "empty");
	T_EQ_INT(rb_queue_count(&n, st, "started"), 0);
	T_EQ_INT(n, 1);
	T_EQ_INT(rb_queue_count(&n, st, "queued"), 0);
	T_EQ_INT(n, 0);
	rb_store_free(st);
}

void
test_store_queue__recover_orphans(void)
{
	struct rb_store *st = open_store();
	struct rb_queue_entry e = RB_QUEUE_ENTRY_INIT, got =
	    RB_QUEUE_ENTRY_INIT;
	struct rb_error err = RB_ERROR_INIT;
	enum rb_queue_result res;
	int64_t id1, id2, id3;
	size_t n = 99;
	int status;
	pid_t pid;

	T_ASSERT(st != NULL);
	e.runbook = "rb";
	T_EQ_INT(rb_queue_enqueue(&id1, &res, st, &e, 0), 0);
	T_EQ_INT(rb_queue_enqueue(&id2, &res, st, &e, 0), 0);
	T_EQ_INT(rb_queue_enqueue(&id3, &res, st, &e, 0), 0);
	rb_store_free(st);

	/* A listener claims two entries, starts a run for one, and dies. */
	if ((pid = fork()) == 0) {
		struct rb_queue_entry c = RB_QUEUE_ENTRY_INIT;

		if (rb_store_open(&st, rb_test_tmpdir(), &err) != 0 ||
		    rb_queue_claim(&c, st) != 0 ||
		    rb_queue_mark(st, c.id, "started", "run-a") != 0)
			_exit(1);
		rb_queue_entry_release(&c);
		if (rb_queue_claim(&c, st) != 0)
			_exit(2);
		_exit(0);	/* no cleanup: a crash */
	}
	T_EQ_INT(waitpid(pid, &status, 0), pid);
	T_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	st = open_store();
	T_ASSERT(st != NULL);
	T_EQ_INT(rb_queue_recover(&n, st), 0);
	T_EQ_INT(n, 1);		/* the one without a run */
	T_EQ_INT(rb_queue_get(&got, st, id2), 0);
	T_EQ_STR(got.status, "queued");
	T_EQ_INT(got.claimed_pid, 0);
	rb_queue_entry_release(&got);
	T_EQ_INT(rb_queue_get(&got, st, id1), 0);
	T_EQ_STR(got.status, "started");	/* its run owns it now */
	T_EQ_STR(got.run_id, "run-a");
	rb_queue_entry_release(&got);
	/* Our own claims are not orphans. */
	T_EQ_INT(rb_queue_claim(&got, st), 0);
	T_EQ_INT(got.id, id2);
	rb_queue_entry_release(&got);
	T_EQ_INT(rb_queue_recover(&n, st), 0);
	T_EQ_INT(n, 0);
	rb_store_free(st);
}

#define NSENDERS 10

void
test_store_queue__concurrent_dedup(void)
{
	struct rb_store *st = open_store();
	pid_t pids[NSENDERS];
	int go[2], i, status, queued = 0, dedup = 0;
	int64_t n;

	/* Ten deliveries of one alert at once (HA pairs, retries). */
	T_ASSERT(st != NULL);
	rb_store_free(st);
	T_ASSERT(pipe(go) == 0);
	for (i = 0; i < NSENDERS; i++) {
		if ((pids[i] = fork()) == 0) {
			struct rb_queue_entry e = RB_QUEUE_ENTRY_INIT;
			struct rb_error err = RB_ERROR_INIT;
			enum rb_queue_result res;
			struct rb_store *s2 = NULL;
			int64_t id;
			char c;

			close(go[1]);
			if (read(go[0], &c, 1) < 0)
				_exit(9);
			e.runbook = "rb";
			e.dedup_key = "route/fp/startsAt";
			if (rb_store_open(&s2, rb_test_tmpdir(), &err) != 0 ||
			    rb_queue_enqueue(&id, &res, s2, &e, WINDOW_MS) != 0)
				_exit(8);
			rb_store_free(s2);
			_exit(res == RB_QUEUE_QUEUED ? 0 : 1);
		}
		T_ASSERT(pids[i] > 0);
	}
	close(go[0]);
	close(go[1]);
	for (i = 0; i < NSENDERS; i++) {
		T_EQ_INT(waitpid(pids[i], &status, 0), pids[i]);
		T_ASSERT(WIFEXITED(status));
		if (WEXITSTATUS(status) == 0)
			queued++;
		else if (WEXITSTATUS(status) == 1)
			dedup++;
	}
	T_EQ_INT(queued, 1);
	T_EQ_INT(dedup, NSENDERS - 1);
	st = open_store();
	T_ASSERT(st != NULL);
	T_EQ_INT(rb_queue_count(&n, st, NULL), 0);
	T_EQ_INT(n, 1);
	rb_store_free(st);
}
