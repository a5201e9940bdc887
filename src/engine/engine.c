/*
 * engine.c - the scheduler: walks the DAG on one event loop, up to `jobs`
 * steps at a time; applies `when`, retries and `until`; on a failure starts
 * nothing new, lets running steps end, runs the rollbacks of succeeded steps
 * in reverse completion order, then on_failure. SIGINT/SIGTERM stop it and
 * leave the run interrupted (resumable), never half-rolled-back.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "engine/engine_int.h"
#include "runbook/dag.h"
#include "runbook/journal.h"
#include "runbook/util.h"
#include "runbook/window.h"
#include "runbook/banned.h"

extern char **environ;

const char *
rb_event_name(enum rb_event_type t)
{
	static const char *const names[] = { "run_started", "step_started",
		"step_output", "step_retry", "step_finished", "step_skipped",
		"rollback_started", "rollback_finished", "run_finished",
		"tick" };

	return (size_t)t < RB_ARRAY_SIZE(names) ? names[t] : "unknown";
}

const char *
rb_phase_name(enum rb_phase p)
{
	return p == RB_PHASE_ROLLBACK ? "rollback" :
	    p == RB_PHASE_ON_FAILURE ? "on_failure" : "main";
}

const char *
rb_status_name(enum rb_status s)
{
	static const char *const names[] = { "pending", "running",
		"succeeded", "failed", "skipped", "timed_out", "interrupted",
		"paused", "not_run" };

	return (size_t)s < RB_ARRAY_SIZE(names) ? names[s] : "unknown";
}

const char *
rb_run_status_name(enum rb_run_status s)
{
	static const char *const names[] = { "running", "succeeded", "failed",
		"rollback_failed", "paused", "interrupted", "refused" };

	return (size_t)s < RB_ARRAY_SIZE(names) ? names[s] : "unknown";
}

int
rb_run_exit_code(enum rb_run_status s)
{
	switch (s) {
	case RB_RUN_SUCCEEDED:
		return RB_EXIT_OK;
	case RB_RUN_FAILED:
		return RB_EXIT_FAILED;
	case RB_RUN_ROLLBACK_FAILED:
		return RB_EXIT_ROLLBACK_FAILED;
	case RB_RUN_PAUSED:
		return RB_EXIT_PAUSED;
	case RB_RUN_INTERRUPTED:
		return RB_EXIT_INTERRUPTED;
	case RB_RUN_REFUSED:
		return RB_EXIT_REFUSED;
	default:
		return RB_EXIT_FAILED;
	}
}

void
rb_run_id_new(char out[64])
{
	unsigned char rnd[4] = { 0, 0, 0, 0 };
	char ts[40];
	int64_t now = rb_wall_ms();
	time_t t = (time_t)(now / 1000);
	struct tm tm;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		uint32_t x = (uint32_t)getpid() ^ (uint32_t)rb_now_us();

		memcpy(rnd, &x, sizeof(rnd));
	}
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(out, 64, "%s-%02x%02x%02x%02x", ts, rnd[0], rnd[1], rnd[2],
	    rnd[3]);
}

/* ------------------------------------------------------------------ */
/* Events */

/*
 * The end of a step's output for events: at most RB_EVENT_TAIL bytes,
 * starting at a line boundary when there is one. The journal keeps more.
 */
#define RB_EVENT_TAIL 4096
static const char *
tail_of(const char *s, size_t len)
{
	const char *p, *nl;

	if (s == NULL || len <= RB_EVENT_TAIL)
		return s;
	p = s + len - RB_EVENT_TAIL;
	nl = memchr(p, '\n', RB_EVENT_TAIL);
	return nl != NULL && nl + 1 < s + len ? nl + 1 : p;
}

bool
engine_begin_attempt(struct task *t)
{
	struct engine *e = t->e;
	enum rb_event_type type = t->phase == RB_PHASE_ROLLBACK ?
	    RB_EV_ROLLBACK_STARTED : RB_EV_STEP_STARTED;

	if (record_step(e, type, t) != 0) {
		/* Not durable, so not started: resume will run it. */
		t->running = false;
		t->status = RB_ST_NOT_RUN;
		task_set_reason(t, "not started: the journal could not record "
		    "it");
		if (t->active) {
			t->active = false;
			e->nactive--;
		}
		return false;
	}
	engine_emit(e, type, t);
	return true;
}

void
engine_emit(struct engine *e, enum rb_event_type type, struct task *t)
{
	struct rb_event ev;

	if (t != NULL && !t->restored && (type == RB_EV_STEP_FINISHED ||
	    type == RB_EV_ROLLBACK_FINISHED || type == RB_EV_STEP_SKIPPED))
		record_step(e, type, t);
	if (e->opts->on_event == NULL)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.ts = rb_wall_ms();
	ev.run_id = e->run_id;
	ev.runbook = e->rb->name;
	ev.exit_code = -1;
	ev.dry_run = e->opts->dry_run != RB_DRY_NONE;
	if (t != NULL) {
		ev.step_id = t->phase == RB_PHASE_ROLLBACK && t->parent ?
		    t->parent->step->id : t->step->id;
		ev.step_name = t->step->name;
		ev.action = rb_action_name(t->step->action);
		ev.host = t->target != NULL ? t->target : "local";
		ev.phase = t->phase;
		ev.attempt = t->attempt;
		ev.max_attempts = t->max_attempts;
		ev.status = t->status;
		ev.exit_code = t->exit_code;
		ev.duration_ms = t->duration_ms;
		ev.delay_ms = t->delay_next;
		ev.reason = t->reason;
		ev.command = t->command;
		ev.out_tail = tail_of(t->out, t->out_len);
		ev.err_tail = tail_of(t->err, t->err_len);
		ev.out_total = t->out_total;
		ev.err_total = t->err_total;
		if (t->cur != NULL) {
			const struct hostrun *h = t->cur;

			ev.host = h->host->name;
			ev.attempt = h->attempt;
			ev.status = h->status;
			ev.exit_code = h->exit_code;
			ev.duration_ms = h->duration_ms;
			ev.reason = h->reason;
			ev.out_tail = tail_of(h->out, h->out_len);
			ev.err_tail = tail_of(h->err, h->err_len);
			ev.out_total = h->out_total;
			ev.err_total = h->err_total;
		} else if (t->hosts != NULL && t->nhosts > 0 &&
		    (type == RB_EV_STEP_FINISHED ||
		    type == RB_EV_ROLLBACK_FINISHED)) {
			/* The verdict over the hosts; the output is theirs. */
			ev.nhosts = (int)t->nhosts;
			ev.out_tail = ev.err_tail = NULL;
			ev.out_total = ev.err_total = 0;
		}
	}
	if (type == RB_EV_TICK)
		ev.nrunning = (int)e->nactive;
	ev.resumed = e->opts->resume != NULL;
	e->opts->on_event(&ev, e->opts->payload);
}

/* ------------------------------------------------------------------ */
/* steps.ID.* for templates and expressions */

/* The task of step id in frame f (a runbook: step resolves to its end). */
static struct task *
find_task(struct frame *f, const char *id)
{
	struct engine *e = f->e;
	size_t i, plen = strlen(f->prefix);

	for (i = 0; i < e->nmain; i++) {
		const struct task *t = &e->main_tasks[i];
		const char *tid = t->step->id;

		if (t->kind == NODE_SUB_START || t->frame != f)
			continue;
		if (strncmp(tid, f->prefix, plen) == 0 &&
		    strcmp(tid + plen, id) == 0)
			return &e->main_tasks[i];
	}
	for (i = 0; e->tasks != e->main_tasks && i < e->ntasks; i++)
		if (e->tasks[i].phase == RB_PHASE_ON_FAILURE &&
		    strcmp(e->tasks[i].step->id, id) == 0)
			return &e->tasks[i];
	return NULL;
}

int
engine_step_value(struct rb_value *out, const char *step_id,
    const char *const *field, size_t nfield, void *payload)
{
	struct frame *fr = payload;
	struct task *t = find_task(fr, step_id);
	const char *f = field[0];
	bool done;
	size_t i;

	if (t == NULL || nfield == 0)
		return RB_ENOTFOUND;
	done = t->status == RB_ST_SUCCEEDED || t->status == RB_ST_FAILED ||
	    t->status == RB_ST_TIMED_OUT || t->status == RB_ST_SKIPPED ||
	    (t->status == RB_ST_RUNNING && t->exit_code >= 0);
	if (t->not_executed) {
		struct rb_buf name = RB_BUF_INIT;

		rb_buf_addf(&name, "steps.%s", step_id);
		for (i = 0; i < nfield; i++)
			rb_buf_addf(&name, ".%s", field[i]);
		rb_value_set_unknown(out, name.buf);
		rb_buf_release(&name);
		return 0;
	}
	if (nfield == 1 && strcmp(f, "ok") == 0)
		rb_value_set_bool(out, t->status == RB_ST_SUCCEEDED);
	else if (nfield == 1 && strcmp(f, "failed") == 0)
		rb_value_set_bool(out, t->status == RB_ST_FAILED ||
		    t->status == RB_ST_TIMED_OUT);
	else if (nfield == 1 && strcmp(f, "skipped") == 0)
		rb_value_set_bool(out, t->status == RB_ST_SKIPPED);
	else if (nfield == 1 && strcmp(f, "status") == 0)
		rb_value_set_str(out, rb_status_name(t->status),
		    strlen(rb_status_name(t->status)), 0);
	else if (nfield == 1 && strcmp(f, "exit_code") == 0) {
		if (done && t->exit_code >= 0)
			rb_value_set_num(out, t->exit_code);
		else
			rb_value_set_null(out);
	} else if (nfield == 1 && strcmp(f, "duration_ms") == 0)
		rb_value_set_num(out, (double)t->duration_ms);
	else if (nfield == 1 && strcmp(f, "stdout") == 0)
		rb_value_set_str(out, t->out ? t->out : "", t->out_len,
		    RB_VALUE_TAINTED);
	else if (nfield == 1 && strcmp(f, "stderr") == 0)
		rb_value_set_str(out, t->err ? t->err : "", t->err_len,
		    RB_VALUE_TAINTED);
	else if (nfield == 2 && strcmp(f, "vars") == 0) {
		rb_value_set_null(out);
		for (i = 0; i < t->nvars; i++)
			if (strcmp(t->vars[i].name, field[1]) == 0)
				rb_value_set_str(out, t->vars[i].value,
				    strlen(t->vars[i].value), RB_VALUE_TAINTED);
	} else
		return RB_ENOTFOUND;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Attempts, retries, completion */

static void
retry_fire(struct rb_evloop *loop, uint64_t id, void *payload)
{
	struct task *t = payload;

	(void)loop;
	(void)id;
	t->timer = 0;
	if (t->e->failing || t->e->interrupted) {
		/* The run is stopping: the last attempt's failure stands. */
		t->active = false;
		t->e->nactive--;
		t->status = t->e->interrupted ? RB_ST_INTERRUPTED :
		    RB_ST_FAILED;
		t->duration_ms = rb_now_ms() - t->start_ms;
		engine_emit(t->e, RB_EV_STEP_FINISHED, t);
		return;
	}
	task_start_attempt(t);
}

/* Evaluate `until` after an attempt: 1 true, 0 false, -1 error. */
static int
eval_until(struct task *t)
{
	struct rb_value v = RB_VALUE_INIT;
	struct rb_error err = RB_ERROR_INIT;
	int r;

	if (t->step->until == NULL)
		return 1;
	if (rb_expr_eval(&v, t->step->until, rb_scope_lookup, t->scope,
	    &err) != 0) {
		task_set_reason(t, "cannot evaluate until: %s", err.msg);
		return -1;
	}
	r = rb_value_truthy(&v) ? 1 : 0;
	rb_value_release(&v);
	return r;
}

void
engine_attempt_done(struct task *t, bool ok)
{
	struct engine *e = t->e;
	int64_t now = rb_now_ms();
	int u = 1;

	t->running = false;
	t->duration_ms = now - t->start_ms;
	if (ok && (u = eval_until(t)) == 0)
		task_set_reason(t, "until %s is false",
		    rb_expr_source(t->step->until));
	if (ok && u == 1) {
		t->status = RB_ST_SUCCEEDED;
	} else if (t->status == RB_ST_PAUSED) {
		/* an approval gate: the run stops here and waits */
	} else if (t->attempt < t->max_attempts && !e->failing &&
	    !e->interrupted && t->status != RB_ST_INTERRUPTED && u >= 0) {
		const struct rb_retries *rt = &t->step->retries;
		double delay = (double)rt->delay_ms;
		int i;

		for (i = 1; i < t->attempt; i++)
			delay *= rt->backoff > 1.0 ? rt->backoff : 1.0;
		if (delay > 86400000.0)
			delay = 86400000.0;
		t->status = RB_ST_FAILED;
		t->delay_next = (int64_t)delay;
		engine_emit(e, RB_EV_STEP_RETRY, t);
		t->timer = rb_evloop_add_timer(e->loop, now + (int64_t)delay,
		    retry_fire, t);
		/* stays active while it waits */
		return;
	} else if (t->status == RB_ST_RUNNING)
		t->status = RB_ST_FAILED;

	t->active = false;
	e->nactive--;
	t->seq = ++e->seq;
	engine_emit(e, t->phase == RB_PHASE_ROLLBACK ?
	    RB_EV_ROLLBACK_FINISHED : RB_EV_STEP_FINISHED, t);
	if (t->status == RB_ST_SUCCEEDED)
		return;
	if (t->phase == RB_PHASE_ROLLBACK)
		e->rollback_failures++;
	else if (t->status == RB_ST_PAUSED)
		e->paused = true;
	else if (!t->step->continue_on_error && t->phase == RB_PHASE_MAIN)
		e->failing = true;
}

/* ------------------------------------------------------------------ */
/* The phase loop */

static void
kill_all(struct engine *e, int64_t grace)
{
	size_t i;

	for (i = 0; i < e->ntasks; i++)
		if (e->tasks[i].running)
			task_kill(&e->tasks[i], grace);
}

static void
on_signal(struct rb_evloop *loop, int signo, void *payload)
{
	struct engine *e = payload;

	(void)loop;
	(void)signo;
	e->interrupted = true;
	e->nsignals++;
	/* A second signal means "now": no grace period. */
	kill_all(e, e->nsignals > 1 ? 0 : e->opts->kill_grace_ms);
}

static void
run_timeout(struct rb_evloop *loop, uint64_t id, void *payload)
{
	struct engine *e = payload;

	(void)loop;
	(void)id;
	e->run_timer = 0;
	e->run_timed_out = true;
	e->failing = true;
	kill_all(e, e->opts->kill_grace_ms);
}

/*
 * The run is stopping: a step waiting to retry will not get another
 * attempt, so its last failure stands now rather than after the delay.
 */
static void
cancel_retries(struct engine *e)
{
	size_t i;

	for (i = 0; i < e->ntasks; i++) {
		struct task *t = &e->tasks[i];

		if (!t->active || t->running || t->timer == 0)
			continue;
		rb_evloop_cancel_timer(e->loop, t->timer);
		t->timer = 0;
		t->active = false;
		e->nactive--;
		t->status = e->interrupted ? RB_ST_INTERRUPTED : RB_ST_FAILED;
		t->seq = ++e->seq;
		engine_emit(e, RB_EV_STEP_FINISHED, t);
	}
}

/* Evaluate `when`: 1 run, 0 skip, -1 error (reason set), 2 unknown. */
static int
eval_when(struct task *t)
{
	struct rb_value v = RB_VALUE_INIT;
	struct rb_error err = RB_ERROR_INIT;
	int r;

	if (t->step->when == NULL)
		return 1;
	if (rb_expr_eval(&v, t->step->when, rb_scope_lookup, t->scope,
	    &err) != 0) {
		task_set_reason(t, "cannot evaluate when: %s", err.msg);
		return -1;
	}
	if (v.type == RB_VAL_UNKNOWN)
		r = 2;
	else
		r = rb_value_truthy(&v) ? 1 : 0;
	rb_value_release(&v);
	return r;
}

static void
init_task(struct engine *e, struct task *t, const struct rb_step *s,
    size_t idx, enum rb_phase phase)
{
	memset(t, 0, sizeof(*t));
	t->e = e;
	t->kind = NODE_STEP;
	t->frame = e->frames[0];
	if (phase == RB_PHASE_MAIN && idx < e->nx && s == &e->xsteps[idx]) {
		t->kind = e->xkind[idx];
		t->frame = e->xframe[idx];
		t->child = e->xchild[idx];
	}
	t->scope = &t->frame->scope;
	t->step = s;
	t->idx = idx;
	t->phase = phase;
	t->status = RB_ST_PENDING;
	t->exit_code = -1;
	t->max_attempts = s->retries.count + 1;
	rb_proc_init(&t->proc);
}

/* Decide whether a ready step runs, is skipped, or is left out. */
/* A `runbook:` step's start or end node reached the front of the DAG. */
static void
start_sub_node(struct engine *e, struct task *t)
{
	struct rb_error err = RB_ERROR_INIT;

	t->attempt = 1;
	if (t->kind == NODE_SUB_END) {
		struct task *st = &e->main_tasks[t->child->start_node];

		t->status = RB_ST_SUCCEEDED;
		t->duration_ms = rb_now_ms() - st->start_ms;
		t->seq = ++e->seq;
		engine_emit(e, RB_EV_STEP_FINISHED, t);
		return;
	}
	t->start_ms = rb_now_ms();
	free(t->command);
	t->command = xstrfmt("runbook %s", t->step->sub_runbook);
	engine_emit(e, RB_EV_STEP_STARTED, t);
	if (engine_sub_start(t, &err) != 0) {
		task_set_reason(t, "%s", err.msg);
		t->status = RB_ST_FAILED;
		t->seq = ++e->seq;
		engine_emit(e, RB_EV_STEP_FINISHED, t);
		e->failing = true;
		return;
	}
	/* Its result is the end node's; nothing more to show here. */
	t->status = RB_ST_SUCCEEDED;
	t->seq = ++e->seq;
}

static void
start_ready(struct engine *e, struct task *t)
{
	int w;

	if (engine_frame_skipped(t->frame) ||
	    (t->kind == NODE_SUB_END && engine_frame_skipped(t->child))) {
		t->status = RB_ST_SKIPPED;
		t->seq = ++e->seq;
		task_set_reason(t,
		    "the runbook step that calls it was skipped");
		if (t->kind != NODE_SUB_START)
			engine_emit(e, RB_EV_STEP_SKIPPED, t);
		return;
	}
	w = t->kind == NODE_SUB_END ? 1 : eval_when(t);
	if (t->kind != NODE_STEP && (w == 1 || w == 2)) {
		start_sub_node(e, t);
		return;
	}
	if (t->kind == NODE_SUB_START && w == 0)
		t->child->skipped = true;

	if (w == 0 || w == 2) {
		t->status = RB_ST_SKIPPED;
		t->seq = ++e->seq;
		if (w == 2) {
			t->not_executed = true;
			task_set_reason(t, "when %s depends on a step the "
			    "dry run did not execute",
			    rb_expr_source(t->step->when));
		} else
			task_set_reason(t, "when %s is false",
			    rb_expr_source(t->step->when));
		engine_emit(e, RB_EV_STEP_SKIPPED, t);
		return;
	}
	if (w < 0) {
		t->status = RB_ST_FAILED;
		t->seq = ++e->seq;
		engine_emit(e, RB_EV_STEP_FINISHED, t);
		if (!t->step->continue_on_error)
			e->failing = true;
		return;
	}
	if (e->opts->dry_run == RB_DRY_CHECKS &&
	    !rb_step_is_readonly(t->step)) {
		t->status = RB_ST_SKIPPED;
		t->not_executed = true;
		t->seq = ++e->seq;
		task_set_reason(t, "dry run: '%s' step not executed",
		    rb_action_name(t->step->action));
		engine_emit(e, RB_EV_STEP_SKIPPED, t);
		return;
	}
	if ((w = remote_resolve(t)) != 0) {
		t->seq = ++e->seq;
		if (w == 1) {
			t->status = RB_ST_SKIPPED;
			engine_emit(e, RB_EV_STEP_SKIPPED, t);
			return;
		}
		t->status = RB_ST_FAILED;
		engine_emit(e, RB_EV_STEP_FINISHED, t);
		if (!t->step->continue_on_error)
			e->failing = true;
		return;
	}
	t->active = true;
	e->nactive++;
	task_start_attempt(t);
}

/* Whether a finished task lets its dependents proceed. */
static bool
satisfies(const struct task *t)
{
	return t->status == RB_ST_SUCCEEDED || t->status == RB_ST_SKIPPED ||
	    ((t->status == RB_ST_FAILED || t->status == RB_ST_TIMED_OUT) &&
	    t->step->continue_on_error);
}

static void
tick(struct engine *e)
{
	int64_t now = rb_now_ms();

	if (e->nactive > 0 && now - e->last_tick >= 1000) {
		e->last_tick = now;
		engine_emit(e, RB_EV_TICK, NULL);
	}
}

/*
 * Run a set of tasks as a DAG (main steps, on_failure steps). Returns when
 * every task ended, or the run is failing/paused/interrupted and nothing is
 * active any more.
 */
static int
run_phase(struct engine *e, struct task *tasks, size_t n,
    const struct rb_step *steps, bool stop_on_failure)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_dag dag = RB_DAG_INIT;
	struct rb_dag_iter it;
	bool *marked;
	size_t i;
	int r;

	if ((r = rb_dag_build(&dag, steps, n, &d)) != 0) {
		rb_error_set(e->err, RB_EINVAL, "%s", d.nr ? d.v[0].msg :
		    "cannot order the steps");
		rb_diags_release(&d);
		return r;
	}
	e->tasks = tasks;
	e->ntasks = n;
	marked = xcalloc(n ? n : 1, sizeof(*marked));
	rb_dag_iter_init(&it, &dag);
	for (;;) {
		bool stop = e->interrupted || e->paused || e->record_error ||
		    (stop_on_failure && e->failing);

		/* Hand finished tasks back to the DAG. */
		for (i = 0; i < n; i++) {
			struct task *t = &tasks[i];

			if (marked[i] || t->active ||
			    t->status == RB_ST_PENDING)
				continue;
			if (satisfies(t)) {
				marked[i] = true;
				rb_dag_iter_done(&it, i);
			}
		}
		while (!stop && e->nactive < (size_t)e->jobs &&
		    rb_dag_iter_next(&it, &i)) {
			/* Resume: what the journal says is done stays so. */
			if (tasks[i].status != RB_ST_PENDING)
				continue;
			start_ready(e, &tasks[i]);
			stop = e->interrupted || e->paused ||
			    e->record_error || (stop_on_failure && e->failing);
			if (!tasks[i].active && satisfies(&tasks[i]) &&
			    !marked[i]) {
				marked[i] = true;
				rb_dag_iter_done(&it, i);
			}
		}
		if (e->nactive == 0) {
			bool more = false;

			/* Anything newly ready (after skips) goes round. */
			for (i = 0; i < n && !stop; i++)
				if (!marked[i] &&
				    tasks[i].status != RB_ST_PENDING &&
				    satisfies(&tasks[i]))
					more = true;
			if (!more && (stop || it.nheap == 0))
				break;
			if (more)
				continue;
		}
		if (stop)
			cancel_retries(e);
		/* Results so far become durable before the loop waits. */
		record_flush(e);
		if (rb_evloop_run_once(e->loop, 250) < 0 && !e->interrupted) {
			rb_error_set(e->err, RB_EIO, "event loop failed");
			break;
		}
		tick(e);
	}
	rb_dag_iter_release(&it);
	rb_dag_release(&dag);
	free(marked);
	return 0;
}

static int
cmp_seq_desc(const void *a, const void *b)
{
	const struct task *x = *(const struct task *const *)a;
	const struct task *y = *(const struct task *const *)b;

	return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

/* Roll back every succeeded step, the last one to finish first. */
static void
run_rollbacks(struct engine *e)
{
	struct task **order = xcalloc(e->nmain ? e->nmain : 1, sizeof(*order));
	struct task *rt = xcalloc(e->nmain ? e->nmain : 1, sizeof(*rt));
	size_t i, n = 0;

	for (i = 0; i < e->nmain; i++) {
		const struct task *t = &e->main_tasks[i];
		bool some = t->status == RB_ST_SUCCEEDED;
		size_t k;

		/* A fanned-out step that failed overall is still undone on
		 * the hosts where it succeeded. */
		for (k = 0; !some && k < t->nhosts; k++)
			if (t->hosts[k].status == RB_ST_SUCCEEDED)
				some = true;
		if (some && t->step->rollback != NULL && !t->not_executed &&
		    !t->rolled_back)
			order[n++] = &e->main_tasks[i];
	}
	qsort(order, n, sizeof(*order), cmp_seq_desc);
	e->tasks = rt;
	e->ntasks = n;
	for (i = 0; i < n && !e->interrupted; i++) {
		struct task *t = &rt[i];

		init_task(e, t, order[i]->step->rollback, i,
		    RB_PHASE_ROLLBACK);
		t->parent = order[i];
		t->frame = order[i]->frame;
		t->scope = order[i]->scope;
		remote_inherit(t, order[i]);
		if (order[i]->hosts != NULL && t->nhosts == 0)
			continue;
		t->active = true;
		e->nactive++;
		task_start_attempt(t);
		while (t->active && rb_evloop_run_once(e->loop, 250) >= 0)
			tick(e);
	}
	for (i = 0; i < n; i++)
		task_release(&rt[i]);
	free(rt);
	free(order);
	e->tasks = e->main_tasks;
	e->ntasks = e->nmain;
}

/* The environment every command starts from (documented in runbook.1). */
static void
build_base_env(struct engine *e)
{
	char **v;

	for (v = environ; *v != NULL; v++)
		if (strncmp(*v, "RUNBOOK_SECRET_", 15) != 0)
			rb_strvec_push(&e->base_env, *v);
	rb_strvec_setenv(&e->base_env, "RUNBOOK_RUN_ID", e->run_id);
	rb_strvec_setenv(&e->base_env, "RUNBOOK_RUNBOOK", e->rb->name);
	rb_strvec_setenv(&e->base_env, "RUNBOOK_TRIGGER",
	    e->opts->trigger ? e->opts->trigger : "cli");
	rb_params_export(&e->base_env, e->params, false);
	if (e->opts->alert != NULL) {
		const struct rb_alert *a = e->opts->alert;
		struct rb_buf name = RB_BUF_INIT;
		size_t i;

		for (i = 0; i < a->nlabels; i++) {
			rb_buf_reset(&name);
			rb_buf_adds(&name, "RUNBOOK_ALERT_LABEL_");
			rb_env_name(&name, a->labels[i].key);
			rb_strvec_setenv(&e->base_env, name.buf,
			    a->labels[i].value);
		}
		if (a->status != NULL)
			rb_strvec_setenv(&e->base_env, "RUNBOOK_ALERT_STATUS",
			    a->status);
		rb_buf_release(&name);
	}
}

int
rb_run(struct rb_run_result *out, const struct rb_runbook *rb,
    const struct rb_params *params, const struct rb_run_opts *opts,
    struct rb_error *err)
{
	static const int sigs[] = { SIGINT, SIGTERM };
	struct engine e;
	size_t i;
	int r;

	memset(&e, 0, sizeof(e));
	memset(out, 0, sizeof(*out));
	e.rb = rb;
	e.params = params;
	e.opts = opts;
	e.err = err;
	e.jobs = opts->jobs > 0 ? opts->jobs :
	    (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (e.jobs < 1)
		e.jobs = 1;
	if (opts->resume != NULL)
		snprintf(e.run_id, sizeof(e.run_id), "%s",
		    opts->resume->run_id);
	else if (opts->run_id != NULL)
		snprintf(e.run_id, sizeof(e.run_id), "%s", opts->run_id);
	else
		rb_run_id_new(e.run_id);
	e.start_ms = rb_now_ms();
	rb_time_format(e.started_at, sizeof(e.started_at), rb_wall_ms());
	rb_strvec_init(&e.base_env);
	rb_strvec_init(&e.secrets);
	build_base_env(&e);
	e.scope.rb = rb;
	e.scope.params = params;
	e.scope.alert = opts->alert;
	e.scope.run_id = e.run_id;
	e.scope.started_at = e.started_at;
	e.scope.trigger = opts->trigger;
	e.scope.step_value = engine_step_value;
	e.loop = rb_evloop_new();
	if ((r = rb_evloop_watch_signals(e.loop, sigs, RB_ARRAY_SIZE(sigs),
	    on_signal, &e, err)) != 0)
		goto out;

	if ((r = engine_expand(&e, err)) != 0)
		goto out;
	e.nmain = e.nx;
	e.main_tasks = xcalloc(e.nmain ? e.nmain : 1, sizeof(*e.main_tasks));
	for (i = 0; i < e.nmain; i++)
		init_task(&e, &e.main_tasks[i], &e.xsteps[i], i,
		    RB_PHASE_MAIN);
	for (i = 0; params != NULL && i < params->n; i++)
		if (params->v[i].param->secret && params->v[i].value != NULL)
			rb_strvec_push(&e.secrets, params->v[i].value);
	snprintf(out->run_id, sizeof(out->run_id), "%s", e.run_id);
	/* The window gates the start of a run, not its continuation. */
	if (rb->window.present && !opts->force_window &&
	    opts->dry_run == RB_DRY_NONE && opts->resume == NULL) {
		bool inside;
		time_t next;
		char when[64];
		struct tm tm;

		rb_window_check(&inside, &next, &rb->window, time(NULL));
		if (!inside) {
			if (next != 0) {
				gmtime_r(&next, &tm);
				strftime(when, sizeof(when),
				    "%Y-%m-%d %H:%M UTC", &tm);
			} else
				snprintf(when, sizeof(when), "never (no days)");
			r = rb_error_set(err, RB_EREFUSED, "runbook '%s' is "
			    "outside its maintenance window: the next one "
			    "opens %s", rb->name, when);
			rb_error_hint(err, "wait for the window, or run with "
			    "--force-window (recorded in the audit log)");
			out->status = RB_RUN_REFUSED;
			record_refusal(&e, err->msg);
			goto out;
		}
	}
	e.rolling_back = engine_resume_rolling_back(opts->resume);
	if ((r = engine_restore(&e)) != 0) {
		out->status = RB_RUN_REFUSED;
		record_refusal(&e, e.err->msg);
		goto out;
	}
	if ((r = record_run_start(&e)) != 0) {
		if (r == RB_EREFUSED)
			out->status = RB_RUN_REFUSED;
		goto out;
	}
	engine_emit(&e, RB_EV_RUN_STARTED, NULL);
	if (rb->timeout_ms > 0)
		e.run_timer = rb_evloop_add_timer(e.loop,
		    e.start_ms + rb->timeout_ms, run_timeout, &e);

	for (i = 0; i < e.nmain; i++) {
		struct task *t = &e.main_tasks[i];

		if (!t->restored)
			continue;
		engine_emit(&e, RB_EV_STEP_SKIPPED, t);
		if (t->status == RB_ST_FAILED && !t->step->continue_on_error)
			e.failing = true;
	}
	if (e.rolling_back)
		e.failing = true;
	else if ((r = run_phase(&e, e.main_tasks, e.nmain, e.xsteps,
	    true)) != 0)
		goto out;
	if (e.run_timer != 0)
		rb_evloop_cancel_timer(e.loop, e.run_timer);
	e.run_timer = 0;

	if (e.failing && !e.interrupted && !e.record_error) {
		run_rollbacks(&e);
		if (rb->non_failure > 0 && !e.interrupted) {
			struct task *of = xcalloc(rb->non_failure, sizeof(*of));

			for (i = 0; i < rb->non_failure; i++)
				init_task(&e, &of[i], &rb->on_failure[i], i,
				    RB_PHASE_ON_FAILURE);
			run_phase(&e, of, rb->non_failure, rb->on_failure,
			    false);
			for (i = 0; i < rb->non_failure; i++)
				task_release(&of[i]);
			free(of);
			e.tasks = e.main_tasks;
			e.ntasks = e.nmain;
		}
	}

	for (i = 0; i < e.nmain; i++) {
		struct task *t = &e.main_tasks[i];

		if (t->kind == NODE_SUB_START)
			continue;
		/* Never started, whether interrupted or cut short. */
		if (t->status == RB_ST_PENDING)
			t->status = RB_ST_NOT_RUN;
		if (t->status == RB_ST_SUCCEEDED)
			out->nsucceeded++;
		else if (t->status == RB_ST_SKIPPED)
			out->nskipped++;
		else if (t->status == RB_ST_FAILED ||
		    t->status == RB_ST_TIMED_OUT)
			out->nfailed++;
	}
	out->nrollbacks_failed = e.rollback_failures;
	for (i = 0; i < e.nmain; i++) {
		const struct task *t = &e.main_tasks[i];
		struct rb_buf msg = RB_BUF_INIT;

		if (t->status != RB_ST_PAUSED || out->paused_step[0] != '\0')
			continue;
		snprintf(out->paused_step, sizeof(out->paused_step), "%s",
		    t->step->id);
		if (t->step->command != NULL &&
		    rb_render_text(&msg, t->step->command, t->scope, true,
		    NULL) == 0)
			snprintf(out->paused_message,
			    sizeof(out->paused_message), "%s", msg.buf);
		rb_buf_release(&msg);
	}
	/*
	 * A journal that cannot be written stops the run where it is, before
	 * its rollbacks: it did not succeed, it was cut short, and 'resume'
	 * finishes it once the state directory works again.
	 */
	if (e.interrupted || e.record_error)
		out->status = RB_RUN_INTERRUPTED;
	else if (e.failing && e.rollback_failures > 0)
		out->status = RB_RUN_ROLLBACK_FAILED;
	else if (e.failing)
		out->status = RB_RUN_FAILED;
	else if (e.paused)
		out->status = RB_RUN_PAUSED;
	else
		out->status = RB_RUN_SUCCEEDED;
	record_run_end(&e, out->status);
	{
		struct rb_event ev;

		memset(&ev, 0, sizeof(ev));
		ev.type = RB_EV_RUN_FINISHED;
		ev.ts = rb_wall_ms();
		ev.run_id = e.run_id;
		ev.runbook = rb->name;
		ev.exit_code = -1;
		ev.run_status = out->status;
		ev.duration_ms = rb_now_ms() - e.start_ms;
		ev.dry_run = opts->dry_run != RB_DRY_NONE;
		if (opts->on_event != NULL)
			opts->on_event(&ev, opts->payload);
	}
	r = e.record_error;
out:
	for (i = 0; e.main_tasks != NULL && i < e.nmain; i++)
		task_release(&e.main_tasks[i]);
	free(e.main_tasks);
	rb_http_free(e.http);
	rb_ssh_pool_free(e.ssh);
	engine_expand_release(&e);
	if (e.lock != NULL)
		record_run_end(&e, RB_RUN_INTERRUPTED);
	rb_strvec_release_secret(&e.secrets);
	rb_evloop_unwatch_signals(e.loop);
	rb_evloop_free(e.loop);
	rb_strvec_release(&e.base_env);
	return r;
}
