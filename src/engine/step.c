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
	remote_release(t);
	rb_http_cancel(t->xfer);
	t->xfer = NULL;
	rb_tcp_cancel(t->tcp);
	t->tcp = NULL;
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
bool
task_judge(struct task *t)
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
			task_set_reason(t, "exit %d (expected %d)",
			    t->exit_code, x->nexit ? x->exit_codes[0] : 0);
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

/* ------------------------------------------------------------------ */
/* Probes: http, tcp, notify */

static struct rb_http *
engine_http(struct engine *e, struct rb_error *err)
{
	if (e->http == NULL && rb_http_new(&e->http, e->loop, err) != 0)
		return NULL;
	return e->http;
}

/* Render a key/value list into "Name: value" header lines. */
static int
render_headers(struct rb_strvec *out, const struct rb_kv *kv, size_t n,
    const struct rb_scope *scope, struct rb_error *err)
{
	struct rb_buf v = RB_BUF_INIT;
	size_t i;
	int r = 0;

	for (i = 0; i < n && r == 0; i++) {
		if ((r = rb_render_text(&v, kv[i].value, scope, false, err)))
			break;
		rb_strvec_pushf(out, "%s: %s", kv[i].key, v.buf);
		rb_buf_release_secret(&v);
	}
	rb_buf_release_secret(&v);
	return r;
}

static int64_t
min_timeout(int64_t a, int64_t b)
{
	if (a <= 0)
		return b;
	if (b <= 0)
		return a;
	return a < b ? a : b;
}

static void
http_done(struct rb_http_result *res, void *payload)
{
	struct task *t = payload;
	const struct rb_http_spec *h = t->step->http;
	struct rb_error err = RB_ERROR_INIT;
	bool ok;
	size_t i;
	int m;

	t->xfer = NULL;
	t->running = false;
	t->out = rb_buf_detach(&res->body, &t->out_len);
	t->out_total = t->out_len;
	t->exit_code = (int)res->status;
	if (res->code == RB_ETIMEOUT) {
		task_set_reason(t, "%s", res->err.msg);
		t->status = RB_ST_TIMED_OUT;
		t->exit_code = -1;
		engine_attempt_done(t, false);
		return;
	}
	if (res->code != 0 && res->code != RB_ETOOBIG) {
		task_set_reason(t, "%s", res->err.msg);
		t->exit_code = -1;
		engine_attempt_done(t, false);
		return;
	}
	ok = h->nstatus == 0 ? res->status >= 200 && res->status < 300 : false;
	for (i = 0; i < h->nstatus; i++)
		if (res->status == h->status[i])
			ok = true;
	if (!ok) {
		task_set_reason(t, "HTTP status %ld (expected %s)", res->status,
		    h->nstatus ? "a listed status" : "2xx");
		engine_attempt_done(t, false);
		return;
	}
	if (h->body_match != NULL) {
		m = rb_regex_match(h->body_match, t->out, t->out_len, &err);
		if (m != 1) {
			if (m < 0)
				task_set_reason(t, "body_match: %s", err.msg);
			else
				task_set_reason(t, "body does not match %s",
				    rb_regex_source(h->body_match));
			engine_attempt_done(t, false);
			return;
		}
	}
	for (i = 0; i < t->step->ncaptures; i++) {
		const struct rb_step_capture *cap = &t->step->captures[i];
		struct capture_ctx c = { t, cap, false, NULL, 0 };

		m = rb_regex_match_groups(cap->re, t->out, t->out_len,
		    on_group, &c, &err);
		if (m > 0 && !c.found && c.first != NULL)
			set_var(t, cap->name, c.first, c.first_len);
		free(c.first);
	}
	engine_attempt_done(t, true);
}

/*
 * An attempt that could not be started (a template, a request or a spawn
 * failed): its reason is the error (with its hint, if any), and it ends as
 * failed without an exit status.
 */
static void
attempt_not_started(struct task *t, const struct rb_error *err,
    const char *what)
{
	if (err->msg[0] == '\0')
		task_set_reason(t, "%s", what);
	else if (err->hint[0] != '\0')
		task_set_reason(t, "%s (%s)", err->msg, err->hint);
	else
		task_set_reason(t, "%s", err->msg);
	t->exit_code = -1;
	engine_attempt_done(t, false);
}

static void
start_http(struct task *t)
{
	struct engine *e = t->e;
	const struct rb_http_spec *h = t->step->http;
	struct rb_http_request req = RB_HTTP_REQUEST_INIT;
	struct rb_strvec headers = RB_STRVEC_INIT;
	struct rb_buf url = RB_BUF_INIT, body = RB_BUF_INIT, disp = RB_BUF_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_http *http;

	if ((http = engine_http(e, &err)) == NULL ||
	    rb_render_text(&url, h->url, t->scope, false, &err) != 0 ||
	    rb_render_text(&disp, h->url, t->scope, true, &err) != 0 ||
	    render_headers(&headers, h->headers, h->nheaders, t->scope,
	    &err) != 0 ||
	    (h->body != NULL &&
	    rb_render_text(&body, h->body, t->scope, false, &err) != 0))
		goto fail;
	free(t->command);
	t->command = xstrfmt("%s %s", h->method, disp.buf);
	req.url = url.buf;
	req.method = h->method;
	req.headers = &headers;
	req.body = h->body != NULL ? body.buf : NULL;
	req.body_len = body.len;
	req.timeout_ms = min_timeout(h->timeout_ms, t->step->timeout_ms);
	req.insecure = h->insecure;
	req.on_done = http_done;
	req.payload = t;
	if (!engine_begin_attempt(t))
		goto out;
	t->running = true;
	if (rb_http_start(&t->xfer, http, &req, &err) != 0) {
		t->running = false;
		goto fail;
	}
	goto out;
fail:
	attempt_not_started(t, &err, "cannot start request");
out:
	rb_strvec_release_secret(&headers);
	rb_buf_release_secret(&url);
	rb_buf_release_secret(&body);
	rb_buf_release(&disp);
}

static void
notify_done(struct rb_http_result *res, void *payload)
{
	struct task *t = payload;

	t->xfer = NULL;
	t->running = false;
	t->exit_code = (int)res->status;
	t->out = rb_buf_detach(&res->body, &t->out_len);
	t->out_total = t->out_len;
	if (res->code != 0) {
		task_set_reason(t, "%s", res->err.msg);
		if (res->code == RB_ETIMEOUT)
			t->status = RB_ST_TIMED_OUT;
		engine_attempt_done(t, false);
		return;
	}
	engine_attempt_done(t, true);
}

static void
start_notify(struct task *t)
{
	struct engine *e = t->e;
	const struct rb_notify_spec *ns = t->step->notify;
	struct rb_notify n = RB_NOTIFY_INIT;
	struct rb_strvec headers = RB_STRVEC_INIT;
	struct rb_buf url = RB_BUF_INIT, text = RB_BUF_INIT, body = RB_BUF_INIT;
	struct rb_buf disp = RB_BUF_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_http *http;

	if ((http = engine_http(e, &err)) == NULL ||
	    rb_render_text(&url, ns->url, t->scope, false, &err) != 0 ||
	    render_headers(&headers, ns->headers, ns->nheaders, t->scope,
	    &err) != 0 ||
	    (ns->text != NULL &&
	    rb_render_text(&text, ns->text, t->scope, false, &err) != 0) ||
	    (ns->text != NULL &&
	    rb_render_text(&disp, ns->text, t->scope, true, &err) != 0) ||
	    (ns->body != NULL &&
	    rb_render_text(&body, ns->body, t->scope, false, &err) != 0))
		goto fail;
	free(t->command);
	t->command = xstrfmt("notify: %s", ns->text ? disp.buf : "(body)");
	n.url = url.buf;
	n.text = ns->text ? text.buf : NULL;
	n.body = ns->body ? body.buf : NULL;
	n.headers = &headers;
	n.timeout_ms = min_timeout(RB_NOTIFY_TIMEOUT_MS, t->step->timeout_ms);
	n.on_done = notify_done;
	n.payload = t;
	if (!engine_begin_attempt(t))
		goto out;
	t->running = true;
	if (rb_notify_send(&t->xfer, http, &n, &err) != 0) {
		t->running = false;
		goto fail;
	}
	goto out;
fail:
	attempt_not_started(t, &err, "cannot notify");
out:
	rb_strvec_release_secret(&headers);
	rb_buf_release_secret(&url);
	rb_buf_release_secret(&text);
	rb_buf_release_secret(&body);
	rb_buf_release(&disp);
}

static void
tcp_done(const struct rb_tcp_result *res, void *payload)
{
	struct task *t = payload;

	t->tcp = NULL;
	t->running = false;
	t->exit_code = res->code == 0 ? 0 : 1;
	if (res->code != 0) {
		task_set_reason(t, "%s", res->err.msg);
		if (res->code == RB_ETIMEOUT)
			t->status = RB_ST_TIMED_OUT;
		engine_attempt_done(t, false);
		return;
	}
	engine_attempt_done(t, true);
}

static void
start_tcp(struct task *t)
{
	struct engine *e = t->e;
	struct rb_tcp_request req = RB_TCP_REQUEST_INIT;
	struct rb_buf target = RB_BUF_INIT;
	struct rb_error err = RB_ERROR_INIT;
	char *host = NULL, *port = NULL;

	if (rb_render_text(&target, t->step->command, t->scope, false,
	    &err) != 0)
		goto fail;
	free(t->command);
	t->command = xstrfmt("connect to %s", target.buf);
	if (rb_tcp_split_target(&host, &port, target.buf) != 0) {
		rb_error_set(&err, RB_EINVAL, "bad tcp target '%s': expected "
		    "host:port", target.buf);
		goto fail;
	}
	req.host = host;
	req.port = port;
	req.timeout_ms = min_timeout(RB_TCP_TIMEOUT_MS, t->step->timeout_ms);
	req.on_done = tcp_done;
	req.payload = t;
	if (!engine_begin_attempt(t))
		goto out;
	t->running = true;
	if (rb_tcp_start(&t->tcp, e->loop, &req, &err) != 0) {
		t->running = false;
		goto fail;
	}
	goto out;
fail:
	attempt_not_started(t, &err, "cannot connect");
out:
	free(host);
	free(port);
	rb_buf_release(&target);
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
	record_mask(t->e, t->out, t->out_len);
	record_mask(t->e, t->err, t->err_len);
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
		ok = task_judge(t);
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
	if (rb_render_shell(&cmd, s->command, t->scope, &secrets, &err) != 0)
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
		if (rb_render_text(&tmp, s->env[i].value, t->scope, false,
		    &err) != 0)
			goto fail;
		rb_strvec_setenv(&t->proc.env, s->env[i].key, tmp.buf);
		rb_buf_release_secret(&tmp);
	}
	for (i = 0; i < secrets.nr; i++)
		rb_strvec_push(&t->proc.env, secrets.v[i]);
	if (s->workdir != NULL) {
		if (rb_render_text(&tmp, s->workdir, t->scope, false, &err))
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
	if (!engine_begin_attempt(t)) {
		rb_proc_release(&t->proc);
		rb_buf_release(&tmp);
		rb_buf_release(&cmd);
		rb_strvec_release_secret(&secrets);
		return;
	}
	t->running = true;
	if (rb_proc_start(&t->proc, e->loop, &err) != 0) {
		t->running = false;
		goto fail;
	}
	rb_buf_release(&tmp);
	rb_buf_release(&cmd);
	rb_strvec_release_secret(&secrets);
	return;
fail:
	rb_proc_release(&t->proc);
	rb_buf_release(&tmp);
	rb_buf_release(&cmd);
	rb_strvec_release_secret(&secrets);
	attempt_not_started(t, &err, "cannot start");
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

	if (t->hosts != NULL) {
		remote_start(t);
		return;
	}
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
	case RB_ACT_HTTP:
		start_http(t);
		return;
	case RB_ACT_NOTIFY:
		start_notify(t);
		return;
	case RB_ACT_TCP:
		start_tcp(t);
		return;
	case RB_ACT_SLEEP:
		free(t->command);
		t->command = xstrfmt("sleep %lldms", (long long)s->sleep_ms);
		if (!engine_begin_attempt(t))
			return;
		t->running = true;
		t->timer = rb_evloop_add_timer(e->loop,
		    rb_now_ms() + s->sleep_ms, sleep_done, t);
		return;
	case RB_ACT_APPROVE:
	case RB_ACT_MANUAL:
		if (!engine_begin_attempt(t))
			return;
		t->status = RB_ST_PAUSED;
		{
			struct rb_buf msg = RB_BUF_INIT;

			if (rb_render_text(&msg, s->command, t->scope, true,
			    NULL) != 0)
				rb_buf_adds(&msg, rb_tmpl_source(s->command));
			task_set_reason(t, "waiting for a person: %s", msg.buf);
			rb_buf_release(&msg);
		}
		e->paused = true;
		engine_attempt_done(t, false);
		return;
	default:
		if (!engine_begin_attempt(t))
			return;
		task_set_reason(t, "'%s' steps cannot run in this build yet",
		    rb_action_name(s->action));
		engine_attempt_done(t, false);
		return;
	}
}

void
task_kill(struct task *t, int64_t grace_ms)
{
	if (t->running && t->hosts != NULL)
		remote_kill(t);
	else if (t->running && t->proc.priv != NULL)
		rb_proc_kill_tree(&t->proc, grace_ms);
	else if (t->running && (t->timer != 0 || t->xfer != NULL ||
	    t->tcp != NULL)) {
		if (t->timer != 0)
			rb_evloop_cancel_timer(t->e->loop, t->timer);
		rb_http_cancel(t->xfer);
		rb_tcp_cancel(t->tcp);
		t->xfer = NULL;
		t->tcp = NULL;
		t->timer = 0;
		t->running = false;
		t->status = t->e->interrupted ? RB_ST_INTERRUPTED :
		    RB_ST_TIMED_OUT;
		task_set_reason(t, t->e->interrupted ? "interrupted" :
		    "stopped: the run timed out");
		engine_attempt_done(t, false);
	}
}
