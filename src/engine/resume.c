/*
 * resume.c - continuing a journaled run: steps that succeeded are not run
 * again (their results, captures included, feed `when` as before), failed
 * and skipped steps are evaluated afresh, and a step found started but never
 * finished - its effect unknown - is run again only when it is idempotent
 * or the operator said --rerun-inflight. A run that stopped while rolling
 * back goes on rolling back.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine/engine_int.h"
#include "runbook/journal.h"
#include "runbook/banned.h"

/* The last attempt of step id in phase on host, or NULL. */
static const struct rb_journal_attempt *
last_on(const struct rb_journal_run *run, const char *id, const char *phase,
    const char *host)
{
	const struct rb_journal_attempt *best = NULL;
	size_t i;

	for (i = 0; i < run->nattempts; i++) {
		const struct rb_journal_attempt *a = &run->attempts[i];

		if (strcmp(a->step_id, id) != 0 || strcmp(a->phase, phase) != 0)
			continue;
		if (host != NULL && strcmp(a->host, host) != 0)
			continue;
		if (best == NULL || a->seq > best->seq)
			best = a;
	}
	return best;
}

/* The last local attempt (remote steps are restored per host). */
static const struct rb_journal_attempt *
last_attempt(const struct rb_journal_run *run, const char *id,
    const char *phase)
{
	return last_on(run, id, phase, "local");
}

/* A step with no local attempt and no remote one is new. */
static bool
ran_remotely(const struct rb_journal_run *run, const char *id)
{
	size_t i;

	for (i = 0; i < run->nattempts; i++)
		if (strcmp(run->attempts[i].step_id, id) == 0 &&
		    strcmp(run->attempts[i].host, "local") != 0)
			return true;
	return false;
}

static bool
is_inflight(const struct rb_journal_attempt *a)
{
	return strcmp(a->status, "started") == 0 ||
	    strcmp(a->status, "interrupted") == 0;
}

/* Put a journaled result back into a task, as if it had just run. */
static void
restore(struct task *t, const struct rb_journal_attempt *a,
    enum rb_status status)
{
	json_t *caps;
	const char *k;
	json_t *v;

	t->status = status;
	t->restored = true;
	t->attempt = a->attempt;
	t->jattempt = a->attempt;
	t->exit_code = a->exit_code;
	t->duration_ms = a->duration_ms > 0 ? a->duration_ms : 0;
	t->seq = (size_t)a->seq;
	if (a->stdout_tail != NULL) {
		t->out = xstrndup(a->stdout_tail, a->stdout_len);
		t->out_len = a->stdout_len;
	}
	t->out_total = a->stdout_total;
	if (a->stderr_tail != NULL) {
		t->err = xstrndup(a->stderr_tail, a->stderr_len);
		t->err_len = a->stderr_len;
	}
	t->err_total = a->stderr_total;
	if (a->error != NULL)
		task_set_reason(t, "%s", a->error);
	if (a->captures != NULL &&
	    (caps = json_loads(a->captures, 0, NULL)) != NULL) {
		json_object_foreach(caps, k, v) {
			if (!json_is_string(v))
				continue;
			RB_ALLOC_GROW(t->vars, t->nvars + 1, t->avars);
			t->vars[t->nvars].name = xstrdup(k);
			t->vars[t->nvars].value = xstrdup(json_string_value(v));
			t->nvars++;
		}
		json_decref(caps);
	}
}

int
engine_restore(struct engine *e)
{
	const struct rb_journal_run *run = e->opts->resume;
	bool rerun = (e->opts->resume_flags & RB_RESUME_RERUN_INFLIGHT) != 0;
	size_t i, j;

	if (run == NULL)
		return 0;
	/* First, refuse if a step with an unknown effect would run again. */
	for (i = 0; i < e->nmain; i++) {
		struct task *t = &e->main_tasks[i];
		const struct rb_journal_attempt *a;

		if (t->kind != NODE_STEP || t->step->idempotent || rerun)
			continue;
		a = NULL;
		for (j = 0; j < run->nattempts && a == NULL; j++) {
			const struct rb_journal_attempt *x = &run->attempts[j];
			const struct rb_journal_attempt *l;

			if (strcmp(x->step_id, t->step->id) != 0 ||
			    strcmp(x->phase, "main") != 0)
				continue;
			l = last_on(run, t->step->id, "main", x->host);
			if (l != NULL && is_inflight(l))
				a = l;
		}
		if (a == NULL)
			continue;
		rb_error_set(e->err, RB_EREFUSED, "step '%s' of run '%s' was "
		    "%s on %s when the run stopped: whether it took effect "
		    "is unknown", t->step->id, run->run_id,
		    strcmp(a->status, "started") == 0 ? "still running" :
		    "interrupted", a->host);
		rb_error_hint(e->err, "check what '%s' did; then 'runbook "
		    "resume %s --rerun-inflight' runs it again (or mark it "
		    "idempotent in the runbook)", t->step->id, run->run_id);
		return RB_EREFUSED;
	}
	for (i = 0; i < e->nmain; i++) {
		struct task *t = &e->main_tasks[i];
		const struct rb_journal_attempt *a, *rbk;

		if (t->kind == NODE_SUB_START || ran_remotely(run, t->step->id))
			continue;
		a = last_attempt(run, t->step->id, "main");
		if (a == NULL)
			continue;
		if ((size_t)a->seq > e->seq)
			e->seq = (size_t)a->seq;
		if (strcmp(a->status, "succeeded") == 0) {
			rbk = last_attempt(run, t->step->id, "rollback");
			restore(t, a, RB_ST_SUCCEEDED);
			task_set_reason(t, "succeeded before the run stopped; "
			    "not run again");
			/* Undone by its rollback: do it again. */
			if (rbk != NULL && strcmp(rbk->status, "succeeded") == 0
			    && !e->rolling_back) {
				t->restored = false;
				t->status = RB_ST_PENDING;
			} else if (rbk != NULL)
				t->rolled_back = strcmp(rbk->status,
				    "succeeded") == 0;
		} else if ((t->step->action == RB_ACT_APPROVE ||
		    t->step->action == RB_ACT_MANUAL) &&
		    strcmp(a->status, "failed") == 0) {
			/* A rejected gate stays rejected. */
			restore(t, a, RB_ST_FAILED);
		} else if (t->step->continue_on_error &&
		    (strcmp(a->status, "failed") == 0 ||
		    strcmp(a->status, "timed_out") == 0)) {
			/* Recorded, and the run went on: keep it so. */
			restore(t, a, strcmp(a->status, "failed") == 0 ?
			    RB_ST_FAILED : RB_ST_TIMED_OUT);
		}
	}
	return 0;
}

/* Whether the journal shows the run was rolling back when it stopped. */
bool
engine_resume_rolling_back(const struct rb_journal_run *run)
{
	size_t i;

	if (run == NULL)
		return false;
	for (i = 0; i < run->nattempts; i++)
		if (strcmp(run->attempts[i].phase, "rollback") == 0)
			return true;
	return false;
}
