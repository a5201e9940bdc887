/*
 * step.c - one attempt of one step: render its command exactly as the plan
 * shows it, start it on the event loop, and judge the result against the
 * step's expectations and captures.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"
#include "runbook/plan.h"
#include "runbook/util.h"
#include "runbook/banned.h"

void
task_set_reason(struct task *t, const char *fmt, ...)
{
	struct rb_buf b = RB_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	rb_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	free(t->reason);
	t->reason = rb_buf_detach(&b, NULL);
}

static void
clear_attempt(struct task *t)
{
	size_t i;

	free(t->out);
	free(t->err);
	t->out = t->err = NULL;
	t->out_len = t->err_len = 0;
	t->out_total = t->err_total = 0;
	t->exit_code = -1;
	free(t->reason);
	t->reason = NULL;
	for (i = 0; i < t->nvars; i++) {
		free(t->vars[i].name);
		free(t->vars[i].value);
	}
	t->nvars = 0;
}

void
task_release(struct task *t)
{
	clear_attempt(t);
	free(t->vars);
	t->vars = NULL;
	t->avars = 0;
	free(t->command);
	t->command = NULL;
	rb_proc_release(&t->proc);
	if (t->timer != 0)
		rb_evloop_cancel_timer(t->e->loop, t->timer);
	t->timer = 0;
}

/* Record a capture value (the last one of a name wins). */
static void
set_var(struct task *t, const char *name, const char *v, size_t len)
{
	size_t i;

	for (i = 0; i < t->nvars; i++) {
		if (strcmp(t->vars[i].name, name) == 0) {
			free(t->vars[i].value);
			t->vars[i].value = xstrndup(v, len);
			return;
		}
	}
	RB_ALLOC_GROW(t->vars, t->nvars + 1, t->avars);
	t->vars[t->nvars].name = xstrdup(name);
	t->vars[t->nvars].value = xstrndup(v, len);
	t->nvars++;
}

struct capture_ctx {
	struct task *t;
	const struct rb_step_capture *cap;
	bool found;
	char *first;
	size_t first_len;
};

static int
on_group(const char *name, const char *value, size_t len, void *payload)
{
	struct capture_ctx *c = payload;

	if (strcmp(name, c->cap->name) == 0) {
		set_var(c->t, c->cap->name, value, len);
		c->found = true;
	} else if (c->first == NULL) {
		c->first = xstrndup(value, len);
		c->first_len = len;
	}
	return 0;
}

/*
 * Judge a finished command against expect: exit codes, then the stdout and
 * stderr patterns. Captures are taken whatever the verdict, so a failed
 * step still shows what it saw. Returns true when the attempt passed.
 */
static bool
judge_command(struct task *t)
{
	const struct rb_step *s = t->step;
	const struct rb_expect *x = &s->expect;
	struct rb_error err = RB_ERROR_INIT;
	size_t i;
	bool ok = false;
	int m;

	for (i = 0; i < s->ncaptures; i++) {
		const struct rb_step_capture *cap = &s->captures[i];
		bool on_err = cap->stream && strcmp(cap->stream, "stderr") == 0;
		struct capture_ctx c = { t, cap, false, NULL, 0 };

		m = rb_regex_match_groups(cap->re, on_err ? t->err : t->out,
		    on_err ? t->err_len : t->out_len, on_group, &c, &err);
		if (m > 0 && !c.found && c.first != NULL)
			set_var(t, cap->name, c.first, c.first_len);
		free(c.first);
		if (m < 0) {
			task_set_reason(t, "capture '%s': %s", cap->name,
			    err.msg);
			return false;
		}
	}
	if (x->nexit == 0)
		ok = t->exit_code == 0;
	for (i = 0; i < x->nexit; i++)
		if (t->exit_code == x->exit_codes[i])
			ok = true;
	if (!ok) {
		if (x->nexit <= 1)
			task_set_reason(t, "exit %d (expected %d)", t->exit_code,
			    x->nexit ? x->exit_codes[0] : 0);
		else
			task_set_reason(t, "exit %d (not an expected code)",
			    t->exit_code);
		return false;
	}
	{
		const struct {
			const struct rb_regex *re;
			bool want;
			bool on_err;
			const char *what;
		} pats[] = {
			{ x->stdout_re, true, false, "stdout" },
			{ x->stderr_re, true, true, "stderr" },
			{ x->not_stdout_re, false, false, "stdout" },
			{ x->not_stderr_re, false, true, "stderr" },
		};

		for (i = 0; i < RB_ARRAY_SIZE(pats); i++) {
			if (pats[i].re == NULL)
				continue;
			m = rb_regex_match(pats[i].re,
			    pats[i].on_err ? t->err : t->out,
			    pats[i].on_err ? t->err_len : t->out_len, &err);
			if (m < 0) {
				task_set_reason(t, "%s pattern %s: %s",
				    pats[i].what, rb_regex_source(pats[i].re),
				    err.msg);
				return false;
			}
			if ((m == 1) != pats[i].want) {
				task_set_reason(t, "%s %s %s", pats[i].what,
				    pats[i].want ? "does not match" :
				    "matches", rb_regex_source(pats[i].re));
				return false;
			}
		}
	}
	return true;
}

/* Take a capture's text as one bounded string. */
static char *
take_capture(const struct rb_capture *c, size_t *len, uint64_t *total)
{
	struct rb_buf b = RB_BUF_INIT;

	rb_capture_join(&b, c);
	*total = c->total;
	return rb_buf_detach(&b, len);
}

static void
proc_done(struct rb_proc *p, struct rb_proc_result *res, void *payload)
{
	struct task *t = payload;
	char d[32];
	bool ok;

	(void)p;
	t->running = false;
	t->out = take_capture(&res->out, &t->out_len, &t->out_total);
	t->err = take_capture(&res->err, &t->err_len, &t->err_total);
	t->exit_code = res->status;
	if (res->timed_out) {
		rb_duration_format(d, sizeof(d), t->step->timeout_ms);
		task_set_reason(t, "timed out after %s", d);
		t->status = RB_ST_TIMED_OUT;
		ok = false;
	} else if (res->killed && (t->e->interrupted || t->e->run_timed_out)) {
		task_set_reason(t, t->e->interrupted ? "interrupted" :
		    "stopped: the run timed out");
		t->status = t->e->interrupted ? RB_ST_INTERRUPTED :
		    RB_ST_TIMED_OUT;
		ok = false;
	} else
		ok = judge_command(t);
	rb_proc_release(&t->proc);
	engine_attempt_done(t, ok);
}

static void
on_line(struct rb_proc *p, int stream, const char *line, size_t len,
    void *payload)
{
	struct task *t = payload;
	struct rb_event ev;
	char *l = xstrndup(line, len);

	(void)p;
	memset(&ev, 0, sizeof(ev));
	ev.type = RB_EV_STEP_OUTPUT;
	ev.ts = rb_wall_ms();
	ev.run_id = t->e->run_id;
	ev.runbook = t->e->rb->name;
	ev.step_id = t->step->id;
	ev.action = rb_action_name(t->step->action);
	ev.host = "local";
	ev.phase = t->phase;
	ev.attempt = t->attempt;
	ev.max_attempts = t->max_attempts;
	ev.exit_code = -1;
	ev.line = l;
	ev.stream = stream;
	t->e->opts->on_event(&ev, t->e->opts->payload);
	free(l);
}

/* Start a run/check (or shell rollback) attempt as /bin/sh -c. */
static void
start_command(struct task *t)
{
	struct engine *e = t->e;
	const struct rb_step *s = t->step;
	struct rb_strvec secrets = RB_STRVEC_INIT;
	struct rb_buf cmd = RB_BUF_INIT, tmp = RB_BUF_INIT;
	struct rb_error err = RB_ERROR_INIT;
	size_t i;

	rb_proc_init(&t->proc);
	if (rb_render_shell(&cmd, s->command, &e->scope, &secrets, &err) != 0)
		goto fail;
	free(t->command);
	t->command = xstrdup(cmd.buf);
	for (i = 0; i < e->base_env.nr; i++)
		rb_strvec_push(&t->proc.env, e->base_env.v[i]);
	rb_strvec_setenv(&t->proc.env, "RUNBOOK_STEP_ID", s->id);
	rb_buf_addf(&tmp, "%d", t->attempt);
	rb_strvec_setenv(&t->proc.env, "RUNBOOK_ATTEMPT", tmp.buf);
	rb_buf_reset(&tmp);
	for (i = 0; i < s->nenv; i++) {
		if (rb_render_text(&tmp, s->env[i].value, &e->scope, false,
		    &err) != 0)
			goto fail;
		rb_strvec_setenv(&t->proc.env, s->env[i].key, tmp.buf);
		rb_buf_release_secret(&tmp);
	}
	for (i = 0; i < secrets.nr; i++)
		rb_strvec_push(&t->proc.env, secrets.v[i]);
	if (s->workdir != NULL) {
		if (rb_render_text(&tmp, s->workdir, &e->scope, false, &err))
			goto fail;
		t->proc.dir = NULL;
	}
	rb_strvec_push(&t->proc.args, cmd.buf);
	t->proc.use_shell = true;
	t->proc.timeout_ms = s->timeout_ms;
	t->proc.grace_ms = e->opts->kill_grace_ms;
	t->proc.on_done = proc_done;
	t->proc.payload = t;
	if (e->opts->stream_output)
		t->proc.on_line = on_line;
	/* The directory string must live until the child is started. */
	if (s->workdir != NULL)
		t->proc.dir = tmp.buf;
	t->running = true;
	engine_emit(e, t->phase == RB_PHASE_ROLLBACK ? RB_EV_ROLLBACK_STARTED :
	    RB_EV_STEP_STARTED, t);
	if (rb_proc_start(&t->proc, e->loop, &err) != 0) {
		t->running = false;
		goto fail;
	}
	rb_buf_release(&tmp);
	rb_buf_release(&cmd);
	rb_strvec_release_secret(&secrets);
	return;
fail:
	task_set_reason(t, "%s", err.msg[0] ? err.msg : "cannot start");
	rb_proc_release(&t->proc);
	rb_buf_release(&tmp);
	rb_buf_release(&cmd);
	rb_strvec_release_secret(&secrets);
	t->exit_code = -1;
	if (!t->running && t->attempt_start_ms != 0) {
		/* The start event was sent: finish what it began. */
	}
	engine_attempt_done(t, false);
}

static void
sleep_done(struct rb_evloop *loop, uint64_t id, void *payload)
{
	struct task *t = payload;

	(void)loop;
	(void)id;
	t->timer = 0;
	t->running = false;
	t->exit_code = 0;
	engine_attempt_done(t, true);
}

void
task_start_attempt(struct task *t)
{
	struct engine *e = t->e;
	const struct rb_step *s = t->step;

	clear_attempt(t);
	t->attempt++;
	t->attempt_start_ms = rb_now_ms();
	if (t->attempt == 1)
		t->start_ms = t->attempt_start_ms;
	t->status = RB_ST_RUNNING;
	switch (s->action) {
	case RB_ACT_RUN:
	case RB_ACT_CHECK:
		start_command(t);
		return;
	case RB_ACT_SLEEP:
		t->running = true;
		engine_emit(e, RB_EV_STEP_STARTED, t);
		t->timer = rb_evloop_add_timer(e->loop,
		    rb_now_ms() + s->sleep_ms, sleep_done, t);
		return;
	case RB_ACT_APPROVE:
	case RB_ACT_MANUAL:
		engine_emit(e, RB_EV_STEP_STARTED, t);
		t->status = RB_ST_PAUSED;
		task_set_reason(t, "waiting for a person: %s",
		    rb_tmpl_source(s->command));
		e->paused = true;
		engine_attempt_done(t, false);
		return;
	default:
		engine_emit(e, RB_EV_STEP_STARTED, t);
		task_set_reason(t, "'%s' steps cannot run in this build yet",
		    rb_action_name(s->action));
		engine_attempt_done(t, false);
		return;
	}
}

void
task_kill(struct task *t, int64_t grace_ms)
{
	if (t->running && t->proc.priv != NULL)
		rb_proc_kill_tree(&t->proc, grace_ms);
	else if (t->running && t->timer != 0) {
		rb_evloop_cancel_timer(t->e->loop, t->timer);
		t->timer = 0;
		t->running = false;
		t->status = t->e->interrupted ? RB_ST_INTERRUPTED :
		    RB_ST_TIMED_OUT;
		task_set_reason(t, t->e->interrupted ? "interrupted" :
		    "stopped: the run timed out");
		engine_attempt_done(t, false);
	}
}
