/*
 * remote.c - steps on inventory hosts: resolving a target to hosts, fanning
 * a step out over a group in batches with max_fail, running each host's
 * command over SSH (ssh.h) on the run's event loop, and folding the
 * per-host results back into the step.
 *
 * Only run and check steps (and shell rollbacks) run on a host; probes,
 * notifications, sleeps and gates always run on the controller.
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"
#include "runbook/audit.h"
#include "runbook/journal.h"
#include "runbook/util.h"
#include "runbook/banned.h"

static void pump(struct task *t);

static void
host_release(struct hostrun *h)
{
	size_t i;

	free(h->out);
	free(h->err);
	free(h->reason);
	h->out = h->err = h->reason = NULL;
	for (i = 0; i < h->nvars; i++) {
		free(h->vars[i].name);
		free(h->vars[i].value);
	}
	free(h->vars);
	h->vars = NULL;
	h->nvars = h->avars = 0;
}

void
remote_release(struct task *t)
{
	size_t i;

	for (i = 0; i < t->nhosts; i++) {
		struct hostrun *h = &t->hosts[i];

		if (h->x != NULL)
			rb_ssh_exec_cancel(h->x);
		if (h->timer != 0)
			rb_evloop_cancel_timer(t->e->loop, h->timer);
		host_release(h);
	}
	free(t->hosts);
	t->hosts = NULL;
	t->nhosts = 0;
	free(t->target);
	t->target = NULL;
}

static void
on_hostkey(const struct rb_ssh_hostkey_info *info, void *payload)
{
	struct engine *e = payload;

	record_hostkey(e, info);
}

static struct rb_ssh_pool *
engine_ssh(struct engine *e, struct rb_error *err)
{
	struct rb_ssh_opts o = RB_SSH_OPTS_INIT;

	if (e->ssh != NULL)
		return e->ssh;
	o.accept_new_host_keys = e->opts->accept_new_host_keys;
	o.kill_grace_ms = e->opts->kill_grace_ms;
	o.on_hostkey = on_hostkey;
	o.payload = e;
	if (rb_ssh_pool_new(&e->ssh, e->loop, &o, err) != 0)
		return NULL;
	return e->ssh;
}

/* Whether a host passes --limit (a glob on the host name; "a,b" lists). */
static bool
limited(const char *limit, const char *name)
{
	char *copy, *p, *tok, *save = NULL;
	bool ok = false;

	if (limit == NULL || *limit == '\0')
		return true;
	copy = xstrdup(limit);
	for (p = copy; (tok = strtok_r(p, ",", &save)) != NULL; p = NULL)
		if (fnmatch(tok, name, 0) == 0)
			ok = true;
	free(copy);
	return ok;
}

static size_t
of_hosts(int n, bool pct, size_t nhosts, bool round_up)
{
	size_t v;

	if (!pct)
		return (size_t)n;
	v = (size_t)n * nhosts;
	return round_up ? (v + 99) / 100 : v / 100;
}

/*
 * Resolve the target of a run/check step. Returns 0 with t->hosts set for
 * a remote target (NULL for local), 1 when --limit leaves no host, or an
 * error with t->reason set.
 */
int
remote_resolve(struct task *t)
{
	struct engine *e = t->e;
	const struct rb_inventory *inv = e->opts->inv;
	const struct rb_step *s = t->step;
	struct rb_buf target = RB_BUF_INIT;
	struct rb_error err = RB_ERROR_INIT;
	const struct rb_group *g;
	const struct rb_host *h;
	size_t i;
	int r = 0;

	if (t->hosts != NULL)
		return 0;
	if (rb_render_target(&target, s, t->frame->rb, t->scope, &err) != 0) {
		task_set_reason(t, "cannot render the target: %s", err.msg);
		r = RB_EINVAL;
		goto out;
	}
	if (strcmp(target.buf, "local") == 0 || strcmp(target.buf, "") == 0)
		goto out;
	if (s->action != RB_ACT_RUN && s->action != RB_ACT_CHECK)
		goto out;	/* probes run from the controller */
	if (inv == NULL) {
		task_set_reason(t, "target '%s' needs an inventory: pass "
		    "--inventory FILE or set RUNBOOK_INVENTORY", target.buf);
		r = RB_ENOTFOUND;
		goto out;
	}
	t->target = xstrdup(target.buf);
	if ((h = rb_inventory_host(inv, target.buf)) != NULL) {
		if (limited(e->opts->limit, h->name)) {
			t->hosts = xcalloc(1, sizeof(*t->hosts));
			t->hosts[0].host = h;
			t->nhosts = 1;
		}
	} else if ((g = rb_inventory_group(inv, target.buf)) != NULL) {
		t->hosts = xcalloc(g->nmembers ? g->nmembers : 1,
		    sizeof(*t->hosts));
		for (i = 0; i < g->nmembers; i++) {
			h = rb_inventory_host(inv, g->members[i]);
			if (h == NULL || !limited(e->opts->limit, h->name))
				continue;
			t->hosts[t->nhosts++].host = h;
		}
	} else {
		task_set_reason(t, "unknown target '%s': not a host or group "
		    "of inventory '%s'", target.buf, inv->path);
		r = RB_ENOTFOUND;
		goto out;
	}
	if (t->nhosts == 0) {
		free(t->hosts);
		t->hosts = NULL;
		task_set_reason(t, "no host of '%s' matches --limit '%s'",
		    target.buf, e->opts->limit ? e->opts->limit : "");
		r = 1;
		goto out;
	}
	for (i = 0; i < t->nhosts; i++) {
		struct hostrun *hr = &t->hosts[i];

		hr->t = t;
		hr->status = RB_ST_PENDING;
		hr->exit_code = -1;
		hr->scope = *t->scope;
		hr->scope.host_name = hr->host->name;
		hr->scope.host_address = hr->host->address;
	}
	t->batch = s->batch > 0 ? of_hosts(s->batch, s->batch_pct, t->nhosts,
	    true) : t->nhosts;
	if (t->batch == 0)
		t->batch = 1;
	t->max_fail = of_hosts(s->max_fail, s->max_fail_pct, t->nhosts,
	    false);
	remote_restore(t);
out:
	rb_buf_release(&target);
	return r;
}

/* Rollbacks run on the hosts where the step they undo succeeded. */
void
remote_inherit(struct task *rt, const struct task *parent)
{
	size_t i;

	if (parent->hosts == NULL)
		return;
	rt->hosts = xcalloc(parent->nhosts, sizeof(*rt->hosts));
	for (i = 0; i < parent->nhosts; i++) {
		const struct hostrun *ph = &parent->hosts[i];
		struct hostrun *h;

		if (ph->status != RB_ST_SUCCEEDED)
			continue;
		h = &rt->hosts[rt->nhosts++];
		h->t = rt;
		h->host = ph->host;
		h->status = RB_ST_PENDING;
		h->exit_code = -1;
		h->scope = ph->scope;
	}
	rt->target = parent->target ? xstrdup(parent->target) : NULL;
	rt->batch = rt->nhosts ? rt->nhosts : 1;
	rt->max_fail = 0;
}

static void
move_out_of_task(struct task *t, struct hostrun *h)
{
	h->reason = t->reason;
	h->vars = t->vars;
	h->nvars = t->nvars;
	h->avars = t->avars;
	t->reason = NULL;
	t->vars = NULL;
	t->nvars = t->avars = 0;
	t->out = t->err = NULL;
	t->out_len = t->err_len = 0;
}

static void host_start(struct hostrun *h);

static void
host_retry(struct rb_evloop *loop, uint64_t id, void *payload)
{
	struct hostrun *h = payload;

	(void)loop;
	(void)id;
	h->timer = 0;
	if (h->t->e->failing || h->t->e->interrupted) {
		h->status = h->t->e->interrupted ? RB_ST_INTERRUPTED :
		    RB_ST_FAILED;
		h->t->nhost_active--;
		pump(h->t);
		return;
	}
	host_start(h);
}

static void
host_done(struct rb_ssh_exec *x, struct rb_ssh_result *res, void *payload)
{
	struct hostrun *h = payload;
	struct task *t = h->t;
	struct engine *e = t->e;
	struct rb_buf b = RB_BUF_INIT;
	char d[32];
	bool ok = false;

	(void)x;
	h->x = NULL;
	host_release(h);
	rb_capture_join(&b, &res->out);
	h->out_total = res->out.total;
	h->out = rb_buf_detach(&b, &h->out_len);
	rb_capture_join(&b, &res->err);
	h->err_total = res->err.total;
	h->err = rb_buf_detach(&b, &h->err_len);
	record_mask(e, h->out, h->out_len);
	record_mask(e, h->err, h->err_len);
	h->exit_code = res->status;
	h->duration_ms = rb_now_ms() - h->start_ms;
	h->status = RB_ST_FAILED;
	if (res->timed_out && !res->host_error) {
		rb_duration_format(d, sizeof(d), t->step->timeout_ms);
		h->reason = xstrfmt("timed out after %s", d);
		h->status = RB_ST_TIMED_OUT;
	} else if (res->cancelled) {
		h->reason = xstrdup(e->interrupted ? "interrupted" :
		    "stopped: the run timed out");
		h->status = e->interrupted ? RB_ST_INTERRUPTED :
		    RB_ST_TIMED_OUT;
	} else if (res->host_error || res->error.code != 0) {
		h->reason = res->error.hint[0] ?
		    xstrfmt("%s (%s)", res->error.msg, res->error.hint) :
		    xstrdup(res->error.msg);
	} else {
		/* Judge with the step's own rules, as for a local command. */
		t->out = h->out;
		t->out_len = h->out_len;
		t->err = h->err;
		t->err_len = h->err_len;
		t->exit_code = h->exit_code;
		ok = task_judge(t);
		move_out_of_task(t, h);
		if (ok)
			h->status = RB_ST_SUCCEEDED;
	}
	if (!ok && h->status == RB_ST_FAILED && h->attempt < t->max_attempts &&
	    !e->failing && !e->interrupted) {
		const struct rb_retries *rt = &t->step->retries;
		double delay = (double)rt->delay_ms;
		int i;

		for (i = 1; i < h->attempt; i++)
			delay *= rt->backoff > 1.0 ? rt->backoff : 1.0;
		t->cur = h;
		t->delay_next = (int64_t)delay;
		engine_emit(e, RB_EV_STEP_RETRY, t);
		t->cur = NULL;
		h->timer = rb_evloop_add_timer(e->loop, rb_now_ms() +
		    (int64_t)delay, host_retry, h);
		return;
	}
	t->cur = h;
	engine_emit(e, t->phase == RB_PHASE_ROLLBACK ?
	    RB_EV_ROLLBACK_FINISHED : RB_EV_STEP_FINISHED, t);
	t->cur = NULL;
	t->nhost_active--;
	pump(t);
}

/* The environment a remote command gets: RUNBOOK_* and the step's env. */
static int
remote_env(struct rb_strvec *env, struct hostrun *h, struct rb_error *err)
{
	struct task *t = h->t;
	struct engine *e = t->e;
	const struct rb_step *s = t->step;
	struct rb_buf v = RB_BUF_INIT;
	size_t i;
	int r = 0;

	for (i = 0; i < e->base_env.nr; i++)
		if (strncmp(e->base_env.v[i], "RUNBOOK_", 8) == 0)
			rb_strvec_push(env, e->base_env.v[i]);
	rb_strvec_setenv(env, "RUNBOOK_STEP_ID", s->id);
	rb_strvec_setenv(env, "RUNBOOK_HOST", h->host->name);
	rb_buf_addf(&v, "%d", h->attempt);
	rb_strvec_setenv(env, "RUNBOOK_ATTEMPT", v.buf);
	for (i = 0; i < s->nenv && r == 0; i++) {
		rb_buf_reset(&v);
		if ((r = rb_render_text(&v, s->env[i].value, &h->scope, false,
		    err)) == 0)
			rb_strvec_setenv(env, s->env[i].key, v.buf);
	}
	rb_buf_release_secret(&v);
	return r;
}

/* One line of a host's live output, as RB_EV_STEP_OUTPUT (-v). */
static void
host_line(struct rb_ssh_exec *x, int stream, const char *line, size_t len,
    void *payload)
{
	struct hostrun *h = payload;
	struct task *t = h->t;
	struct engine *e = t->e;
	struct rb_event ev;
	char *l = xstrndup(line, len);

	(void)x;
	memset(&ev, 0, sizeof(ev));
	ev.type = RB_EV_STEP_OUTPUT;
	ev.ts = rb_wall_ms();
	ev.run_id = e->run_id;
	ev.runbook = e->rb->name;
	ev.step_id = t->phase == RB_PHASE_ROLLBACK && t->parent ?
	    t->parent->step->id : t->step->id;
	ev.action = rb_action_name(t->step->action);
	ev.host = h->host->name;
	ev.phase = t->phase;
	ev.attempt = h->attempt;
	ev.max_attempts = t->max_attempts;
	ev.exit_code = -1;
	ev.line = l;
	ev.stream = stream;
	e->opts->on_event(&ev, e->opts->payload);
	free(l);
}

static void
host_start(struct hostrun *h)
{
	struct task *t = h->t;
	struct engine *e = t->e;
	const struct rb_step *s = t->step;
	struct rb_ssh_cmd cmd = RB_SSH_CMD_INIT;
	struct rb_strvec env = RB_STRVEC_INIT, secrets = RB_STRVEC_INIT;
	struct rb_buf text = RB_BUF_INIT, wd = RB_BUF_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_ssh_pool *pool;
	size_t i;

	h->started = true;
	h->attempt++;
	h->start_ms = rb_now_ms();
	host_release(h);
	h->status = RB_ST_RUNNING;
	if (rb_render_shell(&text, s->command, &h->scope, &secrets, &err) != 0
	    || remote_env(&env, h, &err) != 0 ||
	    (s->workdir != NULL &&
	    rb_render_text(&wd, s->workdir, &h->scope, false, &err) != 0) ||
	    (pool = engine_ssh(e, &err)) == NULL)
		goto fail;
	for (i = 0; i < secrets.nr; i++)
		rb_strvec_push(&env, secrets.v[i]);
	free(t->command);
	t->command = xstrdup(text.buf);
	t->cur = h;
	if (record_step(e, t->phase == RB_PHASE_ROLLBACK ?
	    RB_EV_ROLLBACK_STARTED : RB_EV_STEP_STARTED, t) != 0) {
		t->cur = NULL;
		h->status = RB_ST_NOT_RUN;
		h->reason = xstrdup("not started: the journal could not "
		    "record it");
		t->nhost_active--;
		goto out;
	}
	engine_emit(e, t->phase == RB_PHASE_ROLLBACK ?
	    RB_EV_ROLLBACK_STARTED : RB_EV_STEP_STARTED, t);
	t->cur = NULL;
	cmd.command = text.buf;
	cmd.env = &env;
	cmd.workdir = s->workdir != NULL ? wd.buf : NULL;
	cmd.timeout_ms = s->timeout_ms;
	cmd.on_done = host_done;
	if (e->opts->stream_output && e->opts->on_event != NULL)
		cmd.on_line = host_line;
	cmd.payload = h;
	if (rb_ssh_exec_start(&h->x, pool, h->host, &cmd, &err) == 0)
		goto out;
fail:
	h->reason = xstrdup(err.msg[0] ? err.msg : "cannot start");
	h->status = RB_ST_FAILED;
	t->cur = h;
	engine_emit(e, RB_EV_STEP_FINISHED, t);
	t->cur = NULL;
	t->nhost_active--;
	pump(t);
out:
	rb_strvec_release_secret(&env);
	rb_strvec_release_secret(&secrets);
	rb_buf_release(&text);
	rb_buf_release(&wd);
}

static bool
host_final(const struct hostrun *h)
{
	return h->status != RB_ST_PENDING && h->status != RB_ST_RUNNING;
}

/* Every host has an outcome: fold them into the step's. */
static void
finish(struct task *t)
{
	size_t i, nfailed = 0, nnot = 0, first = (size_t)-1;
	int maxexit = -1;
	bool ok;

	for (i = 0; i < t->nhosts; i++) {
		struct hostrun *h = &t->hosts[i];

		if (h->status == RB_ST_PENDING) {
			h->status = RB_ST_NOT_RUN;
			nnot++;
		} else if (h->status != RB_ST_SUCCEEDED)
			nfailed++;
		if (first == (size_t)-1 && host_final(h) &&
		    h->status != RB_ST_NOT_RUN)
			first = i;
		if (h->exit_code > maxexit)
			maxexit = h->exit_code;
	}
	ok = !t->rollout_stopped && nfailed <= t->max_fail;
	/* steps.ID.*: the first host's output, the highest exit code. */
	free(t->out);
	free(t->err);
	t->out = t->err = NULL;
	t->out_len = t->err_len = 0;
	if (first != (size_t)-1) {
		struct hostrun *h = &t->hosts[first];

		t->out = h->out ? xstrndup(h->out, h->out_len) : NULL;
		t->out_len = h->out_len;
		t->err = h->err ? xstrndup(h->err, h->err_len) : NULL;
		t->err_len = h->err_len;
		for (i = 0; i < h->nvars; i++) {
			RB_ALLOC_GROW(t->vars, t->nvars + 1, t->avars);
			t->vars[t->nvars].name = xstrdup(h->vars[i].name);
			t->vars[t->nvars].value = xstrdup(h->vars[i].value);
			t->nvars++;
		}
	}
	t->exit_code = maxexit;
	if (t->rollout_stopped)
		task_set_reason(t, "rollout stopped: %zu of %zu hosts failed "
		    "(max_fail %zu); %zu hosts not run", nfailed, t->nhosts,
		    t->max_fail, nnot);
	else if (nfailed > 0)
		task_set_reason(t, "%zu of %zu hosts failed (max_fail %zu)",
		    nfailed, t->nhosts, t->max_fail);
	t->attempt = t->max_attempts;	/* retries were per host */
	t->running = false;
	if (!ok && t->status == RB_ST_RUNNING)
		t->status = RB_ST_FAILED;
	engine_attempt_done(t, ok);
}

/* Start what the current batch allows; move on when a batch is done. */
static void
pump(struct task *t)
{
	struct engine *e = t->e;
	size_t i, nfailed;
	bool batch_done;

	for (;;) {
		bool stopping = e->interrupted || e->record_error ||
		    (e->failing && t->phase == RB_PHASE_MAIN);

		for (i = 0; i < t->batch_end && !stopping; i++) {
			struct hostrun *h = &t->hosts[i];

			if (h->started || h->status != RB_ST_PENDING)
				continue;
			t->nhost_active++;
			host_start(h);
		}
		if (t->nhost_active > 0)
			return;
		batch_done = true;
		nfailed = 0;
		for (i = 0; i < t->batch_end; i++) {
			if (!host_final(&t->hosts[i]) && !stopping)
				batch_done = false;
			if (host_final(&t->hosts[i]) &&
			    t->hosts[i].status != RB_ST_SUCCEEDED &&
			    t->hosts[i].status != RB_ST_NOT_RUN)
				nfailed++;
		}
		if (!batch_done)
			return;
		if (nfailed > t->max_fail) {
			t->rollout_stopped = t->batch_end < t->nhosts;
			finish(t);
			return;
		}
		if (t->batch_end >= t->nhosts || stopping) {
			finish(t);
			return;
		}
		t->batch_end += t->batch;
		if (t->batch_end > t->nhosts)
			t->batch_end = t->nhosts;
	}
}

void
remote_start(struct task *t)
{
	t->attempt = 1;
	t->running = true;
	t->status = RB_ST_RUNNING;
	t->start_ms = rb_now_ms();
	if (t->batch_end == 0)
		t->batch_end = t->batch < t->nhosts ? t->batch : t->nhosts;
	pump(t);
}

void
remote_kill(struct task *t)
{
	size_t i;

	for (i = 0; i < t->nhosts; i++) {
		struct hostrun *h = &t->hosts[i];

		if (h->x != NULL)
			rb_ssh_exec_cancel(h->x);
		if (h->timer != 0) {
			rb_evloop_cancel_timer(t->e->loop, h->timer);
			h->timer = 0;
			h->status = t->e->interrupted ? RB_ST_INTERRUPTED :
			    RB_ST_FAILED;
			t->nhost_active--;
		}
	}
	if (t->nhost_active == 0 && t->running)
		pump(t);
}

/* Resume: hosts whose last attempt of this step succeeded stay done. */
void
remote_restore(struct task *t)
{
	const struct rb_journal_run *run = t->e->opts->resume;
	size_t i, j, ndone = 0;

	if (run == NULL || t->phase != RB_PHASE_MAIN)
		return;
	for (i = 0; i < t->nhosts; i++) {
		struct hostrun *h = &t->hosts[i];
		const struct rb_journal_attempt *best = NULL;

		for (j = 0; j < run->nattempts; j++) {
			const struct rb_journal_attempt *a = &run->attempts[j];

			if (strcmp(a->step_id, t->step->id) != 0 ||
			    strcmp(a->phase, "main") != 0 ||
			    strcmp(a->host, h->host->name) != 0)
				continue;
			if (best == NULL || a->seq > best->seq)
				best = a;
		}
		if (best == NULL || strcmp(best->status, "succeeded") != 0)
			continue;
		h->status = RB_ST_SUCCEEDED;
		h->restored = true;
		h->started = true;
		h->attempt = best->attempt;
		h->jattempt = best->attempt;
		h->exit_code = best->exit_code;
		if (best->stdout_tail != NULL) {
			h->out = xstrndup(best->stdout_tail, best->stdout_len);
			h->out_len = best->stdout_len;
		}
		ndone++;
	}
	(void)ndone;
}
