/*
 * engine_int.h - the scheduler's private state, shared by the parts of the
 * engine: engine.c (the DAG walk, retries, rollbacks), expand.c (sub-
 * runbooks as nodes of one graph), step.c (starting one attempt of one
 * step and judging its result), remote.c (fan-out over inventory hosts),
 * record.c (journal and audit writes) and resume.c (what a resumed run
 * keeps from its journal).
 */
#ifndef RUNBOOK_ENGINE_INT_H
#define RUNBOOK_ENGINE_INT_H

#include "runbook/engine.h"
#include "runbook/evloop.h"
#include "runbook/probe.h"
#include "runbook/ssh.h"
#include "runbook/plan.h"
#include "runbook/proc.h"

struct engine;
struct frame;

/* What a node of the run's DAG is. */
enum node_kind {
	NODE_STEP,		/* a step of some runbook */
	NODE_SUB_START,		/* a `runbook:` step: render with:, resolve */
	NODE_SUB_END		/* ... and its end, after the child's steps */
};

/*
 * One runbook of the run: the root, or one called by a `runbook:` step.
 * Its steps are expanded into the run's single DAG, ids prefixed with the
 * calling steps ("resolve/db-ready"), each evaluated in its own scope.
 */
struct frame {
	struct engine *e;
	const struct rb_runbook *rb;
	struct rb_runbook *owned;	/* loaded here; NULL for the root */
	struct rb_params params;	/* a child's, from with: */
	struct rb_scope scope;
	char *prefix;			/* "" or "call/" (owned) */
	struct frame *parent;
	size_t start_node;		/* parent's NODE_SUB_START, or -1 */
	bool skipped;			/* its runbook: step was skipped */
	bool failed;			/* with: could not be resolved */
};

struct var {
	char *name;
	char *value;
};

/* One host of a step whose target is an inventory host or group. */
struct hostrun {
	const struct rb_host *host;
	enum rb_status status;
	int attempt;
	int jattempt;
	int exit_code;
	char *out, *err;
	size_t out_len, err_len;
	uint64_t out_total, err_total;
	char *reason;
	struct var *vars;
	size_t nvars, avars;
	struct rb_ssh_exec *x;	/* command in flight */
	uint64_t timer;		/* retry delay */
	int64_t start_ms;
	int64_t duration_ms;
	bool started;		/* has begun (counts against the batch) */
	bool restored;		/* resume: succeeded before, not run again */
	struct rb_scope scope;	/* the task's, with host.* set */
	struct task *t;
};

/* One step (or rollback, or on_failure step) as the scheduler sees it. */
struct task {
	struct engine *e;
	struct frame *frame;	/* the runbook this step belongs to */
	struct frame *child;	/* SUB_START/SUB_END: the called runbook */
	enum node_kind kind;
	struct rb_scope *scope;	/* names resolve here */
	const struct rb_step *step;
	size_t idx;		/* in its phase's step array */
	enum rb_phase phase;
	enum rb_status status;
	int attempt;		/* attempts started so far */
	int max_attempts;
	bool active;		/* running, or waiting to retry */
	bool running;		/* an attempt is in flight */
	bool not_executed;	/* dry run: a mutating step left out */
	uint64_t timer;		/* retry delay or sleep timer, 0 if none */
	struct rb_proc proc;
	struct rb_http_xfer *xfer;	/* http/notify request in flight */
	struct rb_tcp_probe *tcp;	/* tcp probe in flight */
	int64_t start_ms;	/* monotonic, first attempt */
	int64_t attempt_start_ms;
	int64_t duration_ms;	/* of the whole step (all attempts) */
	int exit_code;		/* of the last attempt, -1 if none */
	char *out;		/* last attempt's stdout (bounded) */
	size_t out_len;
	uint64_t out_total;
	char *err;
	size_t err_len;
	uint64_t err_total;
	char *reason;		/* why the last attempt failed */
	char *command;		/* display form of the command */
	struct var *vars;
	size_t nvars, avars;
	size_t seq;		/* completion order, for rollbacks */
	int jattempt;		/* the journal's attempt number */
	bool restored;		/* resume: the journal's result, not re-run */
	struct hostrun *hosts;	/* remote target: one per host, else NULL */
	size_t nhosts;
	size_t batch;		/* hosts per batch (all when 0) */
	size_t batch_end;	/* hosts [0, batch_end) may run now */
	size_t max_fail;	/* host failures tolerated */
	size_t nhost_active;	/* running or waiting to retry */
	bool rollout_stopped;	/* too many host failures */
	struct hostrun *cur;	/* the host an event is about, or NULL */
	char *target;		/* remote: the rendered target */
	int64_t delay_next;	/* STEP_RETRY: the wait announced */
	bool rolled_back;	/* resume: its rollback already succeeded */
	struct task *parent;	/* ROLLBACK: the step it compensates */
};

struct engine {
	const struct rb_runbook *rb;
	const struct rb_params *params;
	const struct rb_run_opts *opts;
	struct rb_error *err;
	struct rb_evloop *loop;
	struct rb_http *http;		/* created on first use */
	struct rb_ssh_pool *ssh;	/* created on first use */
	struct rb_scope scope;
	struct rb_strvec base_env;	/* runbook's environment + RUNBOOK_* */
	char run_id[64];
	char started_at[40];
	int64_t start_ms;
	int jobs;

	struct rb_step *xsteps;		/* the expanded DAG (copies, owned) */
	enum node_kind *xkind;
	struct frame **xframe;		/* the frame of each node */
	struct frame **xchild;		/* SUB_*: the called frame */
	size_t nx, ax;
	struct frame **frames;		/* every frame, root first (owned) */
	size_t nframes, aframes;

	struct task *tasks;		/* the current phase's tasks */
	size_t ntasks;
	struct task *main_tasks;	/* kept for steps.* lookups */
	size_t nmain;
	size_t nactive;			/* running or waiting to retry */
	size_t seq;

	bool failing;			/* a step failed: start nothing new */
	bool paused;			/* an approval gate was reached */
	bool interrupted;		/* SIGINT/SIGTERM */
	int nsignals;
	bool run_timed_out;
	bool rolling_back;		/* resume: continue the rollbacks */
	uint64_t run_timer;
	int64_t last_tick;
	size_t rollback_failures;
	struct rb_lock *lock;		/* held for the run's life */
	int record_error;		/* first journal failure, or 0 */
	struct rb_strvec secrets;	/* values masked in recorded output */
};

/* expand.c */
int engine_expand(struct engine *e, struct rb_error *err);
void engine_expand_release(struct engine *e);
int engine_sub_start(struct task *t, struct rb_error *err);
bool engine_frame_skipped(const struct frame *f);

/* record.c */
int record_run_start(struct engine *e);
int record_step(struct engine *e, enum rb_event_type type, struct task *t);
int record_flush(struct engine *e);
void record_run_end(struct engine *e, enum rb_run_status status);
void record_mask(const struct engine *e, char *buf, size_t len);
void record_refusal(struct engine *e, const char *why);
void record_hostkey(struct engine *e, const struct rb_ssh_hostkey_info *in);

/* resume.c */
int engine_restore(struct engine *e);
bool engine_resume_rolling_back(const struct rb_journal_run *run);

/* remote.c */
int remote_resolve(struct task *t);
void remote_start(struct task *t);
void remote_kill(struct task *t);
void remote_release(struct task *t);
void remote_inherit(struct task *rt, const struct task *parent);
void remote_restore(struct task *t);

/* step.c */
void task_start_attempt(struct task *t);
/* Judge an attempt's exit and output against expect; captures too. */
bool task_judge(struct task *t);
void task_kill(struct task *t, int64_t grace_ms);
void task_release(struct task *t);
/* Called by step.c when an attempt ended; engine.c decides what next. */
void engine_attempt_done(struct task *t, bool ok);
void engine_emit(struct engine *e, enum rb_event_type type,
    struct task *t);
/*
 * Announce and journal the start of an attempt; false when the journal
 * could not record it, in which case the attempt has been abandoned.
 */
bool engine_begin_attempt(struct task *t);
int engine_step_value(struct rb_value *out, const char *step_id,
    const char *const *field, size_t nfield, void *payload);
void task_set_reason(struct task *t, const char *fmt, ...)
    RB_PRINTFLIKE(2, 3);

#endif
