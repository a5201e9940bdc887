/*
 * engine.h - running a runbook: the scheduler, its options, its events and
 * its result.
 *
 * rb_run() executes the DAG of a validated runbook on one poll(2) loop: up
 * to `jobs` ready steps at a time, `when` conditions, retries and `until`,
 * expectations and captures, whole-run timeout, rollbacks in reverse
 * completion order on failure, then on_failure. It never prints: everything
 * a user sees arrives through the on_event callback, and the result maps
 * onto the SPEC exit codes with rb_run_exit_code().
 */
#ifndef RUNBOOK_ENGINE_H
#define RUNBOOK_ENGINE_H

#include "runbook/scope.h"

enum rb_event_type {
	RB_EV_RUN_STARTED,
	RB_EV_STEP_STARTED,
	RB_EV_STEP_OUTPUT,	/* one line of live output (stream_output) */
	RB_EV_STEP_RETRY,
	RB_EV_STEP_FINISHED,
	RB_EV_STEP_SKIPPED,
	RB_EV_ROLLBACK_STARTED,
	RB_EV_ROLLBACK_FINISHED,
	RB_EV_RUN_FINISHED,
	RB_EV_TICK		/* about once a second while steps run */
};
/* "run_started", "step_started", ... (the JSON event names). */
const char *rb_event_name(enum rb_event_type t);

enum rb_phase {
	RB_PHASE_MAIN,
	RB_PHASE_ROLLBACK,
	RB_PHASE_ON_FAILURE
};
const char *rb_phase_name(enum rb_phase p);

enum rb_status {
	RB_ST_PENDING,
	RB_ST_RUNNING,
	RB_ST_SUCCEEDED,
	RB_ST_FAILED,
	RB_ST_SKIPPED,
	RB_ST_TIMED_OUT,
	RB_ST_INTERRUPTED,
	RB_ST_PAUSED,
	RB_ST_NOT_RUN		/* never started (the run failed first) */
};
const char *rb_status_name(enum rb_status s);

enum rb_run_status {
	RB_RUN_RUNNING,
	RB_RUN_SUCCEEDED,
	RB_RUN_FAILED,
	RB_RUN_ROLLBACK_FAILED,
	RB_RUN_PAUSED,
	RB_RUN_INTERRUPTED,
	RB_RUN_REFUSED
};
const char *rb_run_status_name(enum rb_run_status s);
/* The SPEC exit code for a run status (enum rb_exit). */
int rb_run_exit_code(enum rb_run_status s);

/*
 * An event. Pointers are valid only during the callback. Fields that do not
 * apply to an event type are NULL, 0 or -1.
 */
struct rb_event {
	enum rb_event_type type;
	int64_t ts;			/* wall clock, ms since the epoch */
	const char *run_id;
	const char *runbook;
	const char *step_id;
	const char *step_name;
	const char *action;		/* "run", "check", ... */
	const char *host;		/* "local" or an inventory host */
	enum rb_phase phase;
	int attempt;			/* 1-based */
	int max_attempts;
	enum rb_status status;
	int exit_code;			/* -1 when there is none */
	int64_t duration_ms;
	int64_t delay_ms;		/* STEP_RETRY: wait before the next */
	const char *reason;		/* why it failed, skipped, retried */
	const char *command;		/* display form, secrets masked */
	const char *out_tail;		/* FINISHED: end of stdout */
	const char *err_tail;		/* FINISHED: end of stderr */
	uint64_t out_total;		/* bytes the step wrote to stdout */
	uint64_t err_total;
	const char *line;		/* STEP_OUTPUT: one line, no newline */
	int stream;			/* STEP_OUTPUT: 1 stdout, 2 stderr */
	enum rb_run_status run_status;	/* RUN_FINISHED */
	int nrunning;			/* TICK: steps running now */
	bool dry_run;
	/*
	 * A step on inventory hosts has an event per host, then one FINISHED
	 * with host = its target (a host or a group) that judges them all:
	 * that one has nhosts > 0 and no output of its own. 0 otherwise.
	 */
	int nhosts;
	bool resumed;			/* RUN_STARTED: continues a run */
};

typedef void (*rb_event_fn)(const struct rb_event *ev, void *payload);

enum rb_dry_run {
	RB_DRY_NONE,
	RB_DRY_ALL,		/* execute nothing */
	RB_DRY_CHECKS		/* execute read-only steps only */
};

struct rb_store;
struct rb_journal_run;

/* What resume does with a step found started but never finished. */
enum rb_resume_flags {
	RB_RESUME_RERUN_INFLIGHT = (1 << 0),	/* re-run it anyway */
	RB_RESUME_FORCE = (1 << 1)		/* the runbook file changed */
};

struct rb_run_opts {
	int jobs;			/* parallel steps; 0 = number of CPUs */
	enum rb_dry_run dry_run;
	const struct rb_inventory *inv;	/* NULL: only `local` exists */
	const char *limit;		/* host pattern (fnmatch), or NULL */
	const char *trigger;		/* "cli", "webhook", "resume" */
	const struct rb_alert *alert;	/* webhook runs */
	const char *run_id;		/* NULL: a new one is made */
	bool stream_output;		/* deliver RB_EV_STEP_OUTPUT */
	int64_t kill_grace_ms;		/* SIGTERM -> SIGKILL; default 5s */
	rb_event_fn on_event;
	void *payload;
	/*
	 * The journal and audit log. NULL runs without recording (dry runs);
	 * otherwise the run takes its lock, and every step boundary is
	 * journaled and audited, a step's start durably before it runs.
	 */
	struct rb_store *store;
	const char *actor;		/* NULL: $USER@host */
	const char *plan_digest;	/* recorded with the run, or NULL */
	/* Resume this journaled run instead of starting a new one. */
	const struct rb_journal_run *resume;
	unsigned resume_flags;		/* enum rb_resume_flags */
	bool force_window;		/* recorded: ran outside its window */
	bool accept_new_host_keys;	/* SSH: add unknown keys (audited) */
};
#define RB_RUN_OPTS_INIT { 0, RB_DRY_NONE, NULL, NULL, "cli", NULL, NULL, \
	false, 5000, NULL, NULL, NULL, NULL, NULL, NULL, 0, false, false }

struct rb_run_result {
	enum rb_run_status status;
	char run_id[64];
	char paused_step[256];		/* PAUSED: the gate waiting, or "" */
	char paused_message[512];	/* PAUSED: what it asks */
	size_t nsucceeded, nfailed, nskipped, nrollbacks_failed;
};

/*
 * Run rb with params. Returns 0 when the run was carried out (whatever its
 * outcome, which is in out->status), or a negative RB_E* code when it could
 * not be (with a message in err). SIGINT and SIGTERM are watched for the
 * duration of the call.
 */
int rb_run(struct rb_run_result *out, const struct rb_runbook *rb,
    const struct rb_params *params, const struct rb_run_opts *opts,
    struct rb_error *err);

/*
 * A new run id: sortable UTC time plus random hex
 * ("20261123T190012Z-3fa9c2d1").
 */
void rb_run_id_new(char out[64]);

#endif
