/* Unit tests for store/journal.c: runs and step attempts. */
#include <sys/wait.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "runbook/error.h"
#include "runbook/journal.h"
#include "runbook/store.h"

void test_store_journal__run_id_format(void);
void test_store_journal__round_trip(void);
void test_store_journal__batched_boundary(void);
void test_store_journal__errors(void);
void test_store_journal__list_filters(void);
void test_store_journal__runner_alive(void);
void test_store_journal__resume_and_approve(void);

static struct rb_store *
open_store(void)
{
	struct rb_error err = RB_ERROR_INIT;
	struct rb_store *st = NULL;

	if (rb_store_open(&st, rb_test_tmpdir(), &err) != 0)
		rb_test_fail(__FILE__, __LINE__, "open: %s", err.msg);
	return st;
}

/* Create a run of runbook rb; its id goes to id. */
static int
new_run(char id[RB_JOURNAL_ID_SIZE], struct rb_store *st, const char *rb)
{
	struct rb_journal_run run = RB_JOURNAL_RUN_INIT;

	run.runbook = rb;
	return rb_journal_run_create(id, st, &run);
}

void
test_store_journal__run_id_format(void)
{
	char a[RB_JOURNAL_ID_SIZE], b[RB_JOURNAL_ID_SIZE];
	size_t i;

	rb_journal_new_run_id(a);
	rb_journal_new_run_id(b);
	T_EQ_INT(strlen(a), 25);
	T_ASSERT(strcmp(a, b) != 0);
	for (i = 0; i < 8; i++)
		T_ASSERT(isdigit((unsigned char)a[i]));
	T_ASSERT(a[8] == 'T' && a[15] == 'Z' && a[16] == '-');
	for (i = 17; i < 25; i++)
		T_ASSERT(isxdigit((unsigned char)a[i]));
}

void
test_store_journal__round_trip(void)
{
	struct rb_store *st = open_store();
	struct rb_journal_run run = RB_JOURNAL_RUN_INIT, got =
	    RB_JOURNAL_RUN_INIT;
	struct rb_journal_attempt a = RB_JOURNAL_ATTEMPT_INIT;
	const struct rb_journal_attempt *g;
	static const char out[] = "line 1\nbinary \0 byte\n";
	char id[RB_JOURNAL_ID_SIZE];
	int n = -1;

	T_ASSERT(st != NULL);
	run.run_id = "20261123T190012Z-0000abcd";
	run.runbook = "db-connection";
	run.runbook_path = "runbooks/db-connection.yaml";
	run.runbook_digest = "aa11";
	run.plan_digest = "bb22";
	run.params = "{\"db_host\":\"db1\",\"pg_password\":\"******\"}";
	run.trigger = "webhook";
	run.actor = "webhook:am/pg-down";
	T_EQ_INT(rb_journal_run_create(id, st, &run), 0);
	T_EQ_STR(id, "20261123T190012Z-0000abcd");

	a.run_id = id;
	a.step_id = "db-ready";
	a.command = "pg_isready -h 'db1'";
	a.command_digest = "cc33";
	T_EQ_INT(rb_journal_step_started(&n, st, &a), 0);
	T_EQ_INT(n, 1);
	a.attempt = 1;
	a.status = "failed";
	a.exit_code = 2;
	a.stdout_tail = out;
	a.stdout_len = sizeof(out) - 1;
	a.stdout_total = 12345;
	a.stderr_tail = "no response";
	a.stderr_len = 11;
	a.stderr_total = 11;
	a.error = "exit 2, expected 0";
	T_EQ_INT(rb_journal_step_finished(st, &a), 0);

	a = (struct rb_journal_attempt)RB_JOURNAL_ATTEMPT_INIT;
	a.run_id = id;
	a.step_id = "db-ready";
	T_EQ_INT(rb_journal_step_started(&n, st, &a), 0);
	T_EQ_INT(n, 2);	/* the retry */
	a.attempt = 2;
	a.status = "succeeded";
	a.exit_code = 0;
	a.captures = "{\"version\":\"16\"}";
	a.duration_ms = 42;
	T_EQ_INT(rb_journal_step_finished(st, &a), 0);

	a = (struct rb_journal_attempt)RB_JOURNAL_ATTEMPT_INIT;
	a.run_id = id;
	a.step_id = "restart-db";
	a.error = "when: steps.db-ready.failed is false";
	T_EQ_INT(rb_journal_step_skipped(&n, st, &a), 0);
	T_EQ_INT(n, 1);

	a = (struct rb_journal_attempt)RB_JOURNAL_ATTEMPT_INIT;
	a.run_id = id;
	a.step_id = "maintenance-page";
	a.host = "web1";
	a.phase = "rollback";
	T_EQ_INT(rb_journal_step_started(NULL, st, &a), 0);
	T_EQ_INT(rb_journal_run_set_status(st, id, "failed", 1), 0);

	T_EQ_INT(rb_journal_run_load(&got, st, id), 0);
	T_EQ_STR(got.run_id, id);
	T_EQ_STR(got.runbook, "db-connection");
	T_EQ_STR(got.runbook_path, "runbooks/db-connection.yaml");
	T_EQ_STR(got.runbook_digest, "aa11");
	T_EQ_STR(got.plan_digest, "bb22");
	T_CONTAINS(got.params, "******");
	T_EQ_STR(got.trigger, "webhook");
	T_EQ_STR(got.actor, "webhook:am/pg-down");
	T_EQ_STR(got.status, "failed");
	T_EQ_INT(got.exit_code, 1);
	T_EQ_INT(got.pid, getpid());
	T_ASSERT(got.pid_start_time > 0);
	T_ASSERT(got.started_ms > 0 && got.finished_ms >= got.started_ms);
	T_ASSERT(!got.runner_alive);	/* finished runs have no runner */
	T_EQ_INT(got.nattempts, 4);

	g = &got.attempts[0];
	T_EQ_STR(g->step_id, "db-ready");
	T_EQ_STR(g->host, "local");
	T_EQ_STR(g->phase, "main");
	T_EQ_INT(g->attempt, 1);
	T_EQ_STR(g->status, "failed");
	T_EQ_INT(g->exit_code, 2);
	T_EQ_STR(g->command, "pg_isready -h 'db1'");
	T_EQ_STR(g->command_digest, "cc33");
	T_EQ_INT(g->stdout_len, sizeof(out) - 1);
	T_ASSERT(memcmp(g->stdout_tail, out, sizeof(out) - 1) == 0);
	T_EQ_INT(g->stdout_total, 12345);
	T_EQ_STR(g->stderr_tail, "no response");
	T_EQ_STR(g->error, "exit 2, expected 0");
	T_ASSERT(g->duration_ms >= 0);
	T_ASSERT(g->captures == NULL);

	g = &got.attempts[1];
	T_EQ_INT(g->attempt, 2);
	T_EQ_STR(g->status, "succeeded");
	T_EQ_INT(g->exit_code, 0);
	T_EQ_INT(g->duration_ms, 42);
	T_EQ_STR(g->captures, "{\"version\":\"16\"}");
	T_ASSERT(g->seq > got.attempts[0].seq);

	g = &got.attempts[2];
	T_EQ_STR(g->step_id, "restart-db");
	T_EQ_STR(g->status, "skipped");
	T_EQ_INT(g->exit_code, -1);
	T_EQ_INT(g->duration_ms, 0);
	T_EQ_STR(g->error, "when: steps.db-ready.failed is false");

	g = &got.attempts[3];
	T_EQ_STR(g->step_id, "maintenance-page");
	T_EQ_STR(g->host, "web1");
	T_EQ_STR(g->phase, "rollback");
	T_EQ_STR(g->status, "started");	/* in flight */
	T_EQ_INT(g->finished_ms, 0);
	T_EQ_INT(g->duration_ms, -1);
	rb_journal_run_release(&got);
	T_ASSERT(got.run_id == NULL && got.attempts == NULL);
	rb_journal_run_release(&got);	/* twice is harmless */
	rb_store_free(st);
}

void
test_store_journal__batched_boundary(void)
{
	struct rb_store *st = open_store();
	struct rb_journal_attempt a = RB_JOURNAL_ATTEMPT_INIT;
	struct rb_journal_run got = RB_JOURNAL_RUN_INIT;
	char id[RB_JOURNAL_ID_SIZE];

	T_ASSERT(st != NULL);
	T_EQ_INT(new_run(id, st, "rb"), 0);
	a.run_id = id;
	a.step_id = "one";
	T_EQ_INT(rb_journal_step_started(NULL, st, &a), 0);

	/* Step one's result and step two's start: one commit. */
	T_EQ_INT(rb_store_begin(st), 0);
	a.attempt = 1;
	a.status = "succeeded";
	a.exit_code = 0;
	T_EQ_INT(rb_journal_step_finished(st, &a), 0);
	a = (struct rb_journal_attempt)RB_JOURNAL_ATTEMPT_INIT;
	a.run_id = id;
	a.step_id = "two";
	T_EQ_INT(rb_journal_step_started(NULL, st, &a), 0);
	T_EQ_INT(rb_store_commit(st), 0);

	/* A boundary rolled back leaves no trace. */
	T_EQ_INT(rb_store_begin(st), 0);
	a.attempt = 1;
	a.status = "succeeded";
	a.exit_code = 0;
	T_EQ_INT(rb_journal_step_finished(st, &a), 0);
	a = (struct rb_journal_attempt)RB_JOURNAL_ATTEMPT_INIT;
	a.run_id = id;
	a.step_id = "three";
	T_EQ_INT(rb_journal_step_started(NULL, st, &a), 0);
	T_EQ_INT(rb_store_rollback(st), 0);

	T_EQ_INT(rb_journal_run_load(&got, st, id), 0);
	T_EQ_INT(got.nattempts, 2);
	T_EQ_STR(got.attempts[0].status, "succeeded");
	T_EQ_STR(got.attempts[1].step_id, "two");
	T_EQ_STR(got.attempts[1].status, "started");
	rb_journal_run_release(&got);
	rb_store_free(st);
}

void
test_store_journal__errors(void)
{
	struct rb_store *st = open_store();
	struct rb_journal_run run = RB_JOURNAL_RUN_INIT, got =
	    RB_JOURNAL_RUN_INIT;
	struct rb_journal_attempt a = RB_JOURNAL_ATTEMPT_INIT;
	char id[RB_JOURNAL_ID_SIZE], *big;

	T_ASSERT(st != NULL);
	T_EQ_INT(rb_journal_run_create(id, st, &run), RB_EINVAL);
	run.runbook = "rb";
	run.params = "[1]";
	T_EQ_INT(rb_journal_run_create(id, st, &run), RB_EINVAL);
	T_CONTAINS(rb_store_error(st)->msg, "not a JSON object");
	run.params = "{\"a\":";
	T_EQ_INT(rb_journal_run_create(id, st, &run), RB_EINVAL);
	T_CONTAINS(rb_store_error(st)->msg, "not valid JSON");
	run.params = NULL;
	run.status = "exploded";
	T_EQ_INT(rb_journal_run_create(id, st, &run), RB_EINVAL);
	run.status = NULL;
	run.trigger = "cron";
	T_EQ_INT(rb_journal_run_create(id, st, &run), RB_EINVAL);
	run.trigger = NULL;
	run.run_id = "fixed";
	T_EQ_INT(rb_journal_run_create(id, st, &run), 0);
	T_EQ_INT(rb_journal_run_create(id, st, &run), RB_EINVAL);
	T_CONTAINS(rb_store_error(st)->msg, "run 'fixed' already exists");

	T_EQ_INT(rb_journal_run_set_status(st, "nope", "failed", 1),
	    RB_ENOTFOUND);
	T_EQ_INT(rb_journal_run_set_status(st, "fixed", "weird", 1),
	    RB_EINVAL);
	T_EQ_INT(rb_journal_run_load(&got, st, "nope"), RB_ENOTFOUND);
	T_CONTAINS(rb_store_error(st)->msg, "no run 'nope'");

	a.run_id = "nope";
	a.step_id = "s";
	T_EQ_INT(rb_journal_step_started(NULL, st, &a), RB_ENOTFOUND);
	T_CONTAINS(rb_store_error(st)->msg, "no run 'nope'");
	a.run_id = "fixed";
	a.phase = "cleanup";
	T_EQ_INT(rb_journal_step_started(NULL, st, &a), RB_EINVAL);
	a.phase = NULL;
	a.attempt = 1;
	a.status = "succeeded";
	T_EQ_INT(rb_journal_step_finished(st, &a), RB_ENOTFOUND);
	T_CONTAINS(rb_store_error(st)->msg, "never started");
	T_EQ_INT(rb_journal_step_started(NULL, st, &a), 0);
	T_EQ_INT(rb_journal_step_started(NULL, st, &a), RB_EINVAL);
	T_CONTAINS(rb_store_error(st)->msg, "already recorded");
	a.status = "started";
	T_EQ_INT(rb_journal_step_finished(st, &a), RB_EINVAL);
	a.status = "succeeded";
	a.captures = "not json";
	T_EQ_INT(rb_journal_step_finished(st, &a), RB_EINVAL);
	a.captures = NULL;
	big = calloc(1, RB_JOURNAL_TAIL_MAX + 1);
	a.stdout_tail = big;
	a.stdout_len = RB_JOURNAL_TAIL_MAX + 1;
	T_EQ_INT(rb_journal_step_finished(st, &a), RB_ETOOBIG);
	a.stdout_len = RB_JOURNAL_TAIL_MAX;	/* exactly the cap is fine */
	T_EQ_INT(rb_journal_step_finished(st, &a), 0);
	free(big);
	a.stdout_tail = NULL;
	a.stdout_len = 0;
	T_EQ_INT(rb_journal_step_finished(st, &a), RB_EINVAL);
	T_CONTAINS(rb_store_error(st)->msg, "already finished as 'succeeded'");

	/* Inside a transaction a failed call undoes only itself. */
	T_EQ_INT(rb_store_begin(st), 0);
	a.step_id = "t";
	a.attempt = 0;
	T_EQ_INT(rb_journal_step_started(NULL, st, &a), 0);
	a.attempt = 7;
	T_EQ_INT(rb_journal_step_finished(st, &a), RB_ENOTFOUND);
	T_EQ_INT(rb_store_commit(st), 0);
	T_EQ_INT(rb_journal_run_load(&got, st, "fixed"), 0);
	T_EQ_INT(got.nattempts, 2);
	T_EQ_STR(got.attempts[1].step_id, "t");
	rb_journal_run_release(&got);
	rb_store_free(st);
}

void
test_store_journal__list_filters(void)
{
	struct rb_store *st = open_store();
	struct rb_journal_run run = RB_JOURNAL_RUN_INIT;
	struct rb_journal_run_list list = RB_JOURNAL_RUN_LIST_INIT;
	struct rb_journal_filter f = RB_JOURNAL_FILTER_INIT;
	char id[RB_JOURNAL_ID_SIZE], name[32];
	int i;

	T_ASSERT(st != NULL);
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		run.run_id = name;
		run.runbook = i % 2 ? "odd" : "even";
		run.started_ms = 1000 + i;
		T_EQ_INT(rb_journal_run_create(id, st, &run), 0);
	}
	T_EQ_INT(rb_journal_run_set_status(st, "r4", "succeeded", 0), 0);
	T_EQ_INT(rb_journal_runs_list(&list, st, NULL), 0);
	T_EQ_INT(list.nr, 6);
	T_EQ_STR(list.runs[0].run_id, "r5");	/* newest first */
	T_EQ_STR(list.runs[5].run_id, "r0");
	T_ASSERT(list.runs[0].attempts == NULL);
	rb_journal_run_list_release(&list);

	f.limit = 2;
	f.runbook = "even";
	T_EQ_INT(rb_journal_runs_list(&list, st, &f), 0);
	T_EQ_INT(list.nr, 2);
	T_EQ_STR(list.runs[0].run_id, "r4");
	T_EQ_STR(list.runs[1].run_id, "r2");
	rb_journal_run_list_release(&list);

	f.limit = 0;
	f.status = "running";
	T_EQ_INT(rb_journal_runs_list(&list, st, &f), 0);
	T_EQ_INT(list.nr, 2);	/* r2, r0 */
	T_EQ_STR(list.runs[1].run_id, "r0");
	rb_journal_run_list_release(&list);
	rb_store_free(st);
}

void
test_store_journal__runner_alive(void)
{
	struct rb_store *st = open_store();
	struct rb_journal_run run = RB_JOURNAL_RUN_INIT, got =
	    RB_JOURNAL_RUN_INIT;
	char id[RB_JOURNAL_ID_SIZE];
	int status;
	pid_t pid;

	T_ASSERT(st != NULL);
	T_EQ_INT(new_run(id, st, "rb"), 0);
	T_EQ_INT(rb_journal_run_load(&got, st, id), 0);
	T_ASSERT(got.runner_alive);	/* this process */
	rb_journal_run_release(&got);

	/* A runner that exited without finishing the run: crashed. */
	if ((pid = fork()) == 0)
		_exit(0);
	waitpid(pid, &status, 0);
	run.runbook = "rb";
	run.run_id = "crashed";
	run.pid = pid;
	run.pid_start_time = 1;
	T_EQ_INT(rb_journal_run_create(id, st, &run), 0);
	T_EQ_INT(rb_journal_run_load(&got, st, "crashed"), 0);
	T_EQ_STR(got.status, "running");
	T_ASSERT(!got.runner_alive);
	rb_journal_run_release(&got);

	/* Our pid with another start time is a recycled pid. */
	run.run_id = "recycled";
	run.pid = getpid();
	run.pid_start_time = 1;
	T_EQ_INT(rb_journal_run_create(id, st, &run), 0);
	T_EQ_INT(rb_journal_run_load(&got, st, "recycled"), 0);
	T_ASSERT(!got.runner_alive);
	rb_journal_run_release(&got);
	rb_store_free(st);
}

void
test_store_journal__resume_and_approve(void)
{
	struct rb_store *st = open_store();
	struct rb_journal_attempt a = RB_JOURNAL_ATTEMPT_INIT;
	struct rb_journal_run got = RB_JOURNAL_RUN_INIT;
	char id[RB_JOURNAL_ID_SIZE];
	int n;

	T_ASSERT(st != NULL);
	T_EQ_INT(new_run(id, st, "rb"), 0);
	a.run_id = id;
	a.step_id = "gate";
	T_EQ_INT(rb_journal_step_started(&n, st, &a), 0);
	a.attempt = n;
	a.status = "paused";
	T_EQ_INT(rb_journal_step_finished(st, &a), 0);
	T_EQ_INT(rb_journal_run_set_status(st, id, "paused", 4), 0);
	T_EQ_INT(rb_journal_run_load(&got, st, id), 0);
	T_EQ_STR(got.status, "paused");
	T_EQ_INT(got.exit_code, 4);
	T_ASSERT(got.finished_ms > 0);
	rb_journal_run_release(&got);

	/* `approve` then `resume`: the paused attempt gets its outcome. */
	a.status = "succeeded";
	a.error = NULL;
	T_EQ_INT(rb_journal_step_finished(st, &a), 0);
	T_EQ_INT(rb_journal_run_set_status(st, id, "running", -1), 0);
	T_EQ_INT(rb_journal_run_load(&got, st, id), 0);
	T_EQ_STR(got.status, "running");
	T_EQ_INT(got.exit_code, -1);
	T_EQ_INT(got.finished_ms, 0);
	T_ASSERT(got.runner_alive);
	T_EQ_STR(got.attempts[0].status, "succeeded");
	rb_journal_run_release(&got);

	/* A step re-run on resume continues the attempt numbering. */
	a = (struct rb_journal_attempt)RB_JOURNAL_ATTEMPT_INIT;
	a.run_id = id;
	a.step_id = "gate";
	T_EQ_INT(rb_journal_step_started(&n, st, &a), 0);
	T_EQ_INT(n, 2);
	rb_store_free(st);
}
