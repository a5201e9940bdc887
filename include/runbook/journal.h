/*
 * journal.h - the record of runs and step attempts, for resume, `runs` and
 * `show` (SPEC section 5, "Journal").
 *
 * A run is one execution of a runbook; each execution of a step on one
 * host is an attempt (retries are further attempts; rollbacks and
 * on_failure steps are attempts in the "rollback" and "on_failure"
 * phases). The write-ahead rule: rb_journal_step_started() is durable
 * before the step's process starts, and rb_journal_step_finished() records
 * its result afterwards. An attempt left "started" after a crash is in
 * flight: its effect is unknown, and resume must decide what to do with it.
 *
 * Every writing function commits before it returns, or joins the caller's
 * transaction (rb_store_begin(), store.h), which is how step N's result and
 * step N+1's start share one commit. Errors are in rb_store_error(st).
 *
 * Status names (strings, as stored in the database and shown to users):
 *   run:     running succeeded failed rollback_failed paused interrupted
 *            refused
 *   attempt: started succeeded failed skipped timed_out interrupted paused
 * Phases: main rollback on_failure. Triggers: cli webhook resume.
 *
 * The journal stores what it is given. Secrets must already be masked in
 * params, command, output tails, captures and error texts.
 */
#ifndef RUNBOOK_JOURNAL_H
#define RUNBOOK_JOURNAL_H

#include "runbook/store.h"

/* Room for a run id, NUL included ("20261123T190012Z-3fa9c2d1" is 25). */
#define RB_JOURNAL_ID_SIZE 64
/* The most bytes of stdout or stderr an attempt may carry. */
#define RB_JOURNAL_TAIL_MAX (64 * 1024)

/*
 * A run. Passed to rb_journal_run_create() with borrowed strings; filled by
 * rb_journal_run_load() and rb_journal_runs_list() with strings owned by the
 * record and freed by rb_journal_run_release().
 */
struct rb_journal_run {
	const char *run_id;		/* create: NULL makes a new one */
	const char *runbook;		/* name (required) */
	const char *runbook_path;	/* file it was read from, or NULL */
	const char *runbook_digest;	/* SHA-256 hex of that file, or NULL */
	const char *plan_digest;	/* SHA-256 hex of the plan, or NULL */
	const char *params;		/* JSON object, masked; NULL = {} */
	const char *trigger;		/* cli, webhook, resume; NULL = cli */
	const char *actor;		/* NULL = rb_store_default_actor() */
	const char *status;		/* create: NULL = "running" */
	const char *resumed_from;	/* run id this one resumes, or NULL */
	int64_t pid;			/* runner; create: 0 = this process */
	int64_t pid_start_time;		/* /proc/PID/stat field 22 (ticks) */
	const char *boot_id;		/* the runner's kernel boot id */
	int64_t started_ms;		/* wall clock; create: 0 = now */
	int64_t finished_ms;		/* 0 while not finished */
	int exit_code;			/* SPEC exit code, -1 while none */
	bool runner_alive;		/* load: running and runner alive */
	struct rb_journal_attempt *attempts;	/* load: in record order */
	size_t nattempts;
};
#define RB_JOURNAL_RUN_INIT { NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
	NULL, NULL, NULL, 0, 0, NULL, 0, 0, -1, false, NULL, 0 }

/*
 * One attempt of one step on one host. Passed to the step functions with
 * borrowed strings, identified by run_id, step_id, host (NULL = "local"),
 * phase (NULL = "main") and attempt. In a loaded run the strings are owned
 * by the run, and run_id points to the run's own.
 */
struct rb_journal_attempt {
	const char *run_id;
	const char *step_id;
	const char *host;		/* "local" or a host; NULL = local */
	const char *phase;		/* main, rollback, on_failure */
	int attempt;			/* 1-based; 0 = next (start, skip) */
	const char *status;
	int exit_code;			/* -1 when there is none */
	int64_t started_ms;		/* wall clock; 0 = now */
	int64_t finished_ms;		/* finish: 0 = now; load: 0 = running */
	int64_t duration_ms;		/* -1 = finished_ms - started_ms */
	const char *command;		/* display form, secrets masked */
	const char *command_digest;	/* SHA-256 hex of what runs, or NULL */
	const char *stdout_tail;	/* last bytes of stdout, or NULL */
	size_t stdout_len;		/* bytes in stdout_tail (<= TAIL_MAX) */
	uint64_t stdout_total;		/* bytes the step wrote to stdout */
	const char *stderr_tail;
	size_t stderr_len;
	uint64_t stderr_total;
	const char *captures;		/* JSON object of captures, or NULL */
	const char *error;		/* why it failed or was skipped */
	int64_t seq;			/* load: row id, increasing */
};
#define RB_JOURNAL_ATTEMPT_INIT { NULL, NULL, NULL, NULL, 0, NULL, -1, 0, 0, \
	-1, NULL, NULL, NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0 }

/* Filters for rb_journal_runs_list(). */
struct rb_journal_filter {
	size_t limit;			/* at most this many runs; 0 = all */
	const char *runbook;		/* only this runbook, or NULL */
	const char *status;		/* only this status, or NULL */
};
#define RB_JOURNAL_FILTER_INIT { 20, NULL, NULL }

/* A list of runs, newest first, without their attempts. */
struct rb_journal_run_list {
	struct rb_journal_run *runs;
	size_t nr, alloc;
};
#define RB_JOURNAL_RUN_LIST_INIT { NULL, 0, 0 }

/*
 * Write a new run id into out: UTC time to the second, a dash and 8 random
 * hex digits ("20261123T190012Z-3fa9c2d1"); ids sort by start time.
 */
void rb_journal_new_run_id(char out[RB_JOURNAL_ID_SIZE]);

/*
 * Record a new run from run (see the field comments for defaults; runbook
 * is required, params must be a JSON object). The run id used (run->run_id
 * or a new one) is written to out_id. Returns 0; RB_EINVAL for a missing
 * runbook, bad JSON, an unknown status or trigger, or a run id that exists;
 * or another negative RB_E* code.
 */
int rb_journal_run_create(char out_id[RB_JOURNAL_ID_SIZE], struct rb_store *st,
    const struct rb_journal_run *run);

/*
 * Set the status of a run. A final status (anything but running) sets the
 * finished time and exit_code (-1 for none). Setting "running" again is
 * resuming: the calling process becomes the runner and the finished time
 * and exit code are cleared. Returns 0, RB_ENOTFOUND, RB_EINVAL for an
 * unknown status, or another negative RB_E* code.
 */
int rb_journal_run_set_status(struct rb_store *st, const char *run_id,
    const char *status, int exit_code);

/*
 * Record that an attempt is starting, with status "started" (a->status is
 * ignored). With a->attempt 0 the next number after the highest recorded
 * for (run, step, host, phase) is used; the number used is stored in
 * *out_attempt when out_attempt is not NULL. Returns 0; RB_ENOTFOUND when
 * the run does not exist; RB_EINVAL when that attempt is already recorded;
 * or another negative RB_E* code.
 */
int rb_journal_step_started(int *out_attempt, struct rb_store *st,
    const struct rb_journal_attempt *a);

/*
 * Record the result of a started (or paused) attempt: status (succeeded,
 * failed, timed_out, interrupted, paused), exit code, times, output tails
 * and totals, captures (a JSON object) and error. Returns 0; RB_ENOTFOUND
 * when no such attempt was started; RB_EINVAL for an unknown status, an
 * attempt already finished, or bad captures JSON; RB_ETOOBIG for a tail
 * over RB_JOURNAL_TAIL_MAX; or another negative RB_E* code.
 */
int rb_journal_step_finished(struct rb_store *st,
    const struct rb_journal_attempt *a);

/*
 * Record that a step was skipped (its `when` was false, or resume found it
 * done): an attempt with status "skipped", no process, a->error as the
 * reason. Attempt numbering and returns as rb_journal_step_started().
 */
int rb_journal_step_skipped(int *out_attempt, struct rb_store *st,
    const struct rb_journal_attempt *a);

/*
 * Load run_id with all its attempts into out (which the caller releases
 * with rb_journal_run_release()). runner_alive tells whether a "running"
 * run's recorded process still exists (same pid, start time and boot); a
 * "running" run without a live runner crashed or was killed. Returns 0,
 * RB_ENOTFOUND, or another negative RB_E* code; on failure *out is
 * untouched.
 */
int rb_journal_run_load(struct rb_journal_run *out, struct rb_store *st,
    const char *run_id);

/*
 * Append the runs matching filter (NULL: RB_JOURNAL_FILTER_INIT) to out,
 * newest first, without attempts. The caller releases out with
 * rb_journal_run_list_release(). Returns 0 or a negative RB_E* code.
 */
int rb_journal_runs_list(struct rb_journal_run_list *out, struct rb_store *st,
    const struct rb_journal_filter *filter);

/* Free what a loaded run owns and reset it to RB_JOURNAL_RUN_INIT. */
void rb_journal_run_release(struct rb_journal_run *run);
/* Free every run in the list and reset it. */
void rb_journal_run_list_release(struct rb_journal_run_list *list);

/* True when s is a valid run, attempt status, phase or trigger name. */
bool rb_journal_run_status_valid(const char *s);
bool rb_journal_attempt_status_valid(const char *s);

#endif
