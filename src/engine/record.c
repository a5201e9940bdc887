/*
 * record.c - writing a run into the journal and the audit log.
 *
 * The write-ahead rule: a step's "started" record (and its audit record) is
 * committed before its process starts. Results are written as steps end
 * but committed with the next start, or before the loop next waits, so a
 * step boundary costs one commit (step N's result and step N+1's start
 * together). Nothing that reaches state.db contains a secret: commands are
 * recorded in their display form (secrets are "$RUNBOOK_SECRET_N"
 * references), and output is masked before it is kept.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "engine/engine_int.h"
#include "runbook/audit.h"
#include "runbook/journal.h"
#include "runbook/lock.h"
#include "runbook/util.h"
#include "runbook/banned.h"

/* Remember the first recording failure; the run stops starting steps. */
static int
fail(struct engine *e, int r)
{
	if (e->record_error == 0) {
		e->record_error = r;
		rb_error_set(e->err, r, "cannot record the run in '%s': %s",
		    rb_store_path(e->opts->store),
		    rb_store_error(e->opts->store)->msg);
		rb_error_hint(e->err, "%s",
		    rb_store_error(e->opts->store)->hint[0] != '\0' ?
		    rb_store_error(e->opts->store)->hint :
		    "fix the state directory, then 'runbook resume' the run");
	}
	return r;
}

static int
begin(struct engine *e)
{
	struct rb_store *st = e->opts->store;
	int r;

	if (rb_store_in_transaction(st))
		return 0;
	if ((r = rb_store_begin(st)) != 0)
		return fail(e, r);
	return 0;
}

int
record_flush(struct engine *e)
{
	struct rb_store *st = e->opts->store;
	int r;

	if (st == NULL || !rb_store_in_transaction(st))
		return 0;
	if (e->record_error != 0) {
		/*
		 * Part of this step boundary failed (an audit record, say):
		 * keep none of it, so the journal and the audit log agree and
		 * resume sees the boundary as not reached.
		 */
		(void)rb_store_rollback(st);
		return e->record_error;
	}
	if ((r = rb_store_commit(st)) != 0)
		return fail(e, r);
	return 0;
}

static int
audit(struct engine *e, const char *event, json_t *details)
{
	char *s = json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS);
	int r;

	json_decref(details);
	r = rb_audit_append(NULL, e->opts->store, event, e->opts->actor,
	    e->run_id, s);
	free(s);
	return r != 0 ? fail(e, r) : 0;
}

/* Overwrite every occurrence of a secret value in buf with '*'. */
void
record_mask(const struct engine *e, char *buf, size_t len)
{
	size_t i;

	if (buf == NULL)
		return;
	for (i = 0; i < e->secrets.nr; i++) {
		const char *sv = e->secrets.v[i];
		size_t n = strlen(sv);
		char *p = buf;

		if (n < 3)
			continue;
		while ((p = memmem(p, len - (size_t)(p - buf), sv, n)) !=
		    NULL) {
			memset(p, '*', n);
			p += n;
		}
	}
}

static json_t *
params_json(const struct rb_params *p)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; p != NULL && i < p->n; i++) {
		json_t *v;

		if (p->v[i].value == NULL)
			v = json_null();
		else if (p->v[i].param->secret)
			v = json_string("******");
		else if ((v = json_string(p->v[i].value)) == NULL)
			v = json_string("<invalid utf-8>");
		json_object_set_new(o, p->v[i].param->name, v);
	}
	return o;
}

int
record_run_start(struct engine *e)
{
	const struct rb_run_opts *o = e->opts;
	struct rb_store *st = o->store;
	struct rb_journal_run run = RB_JOURNAL_RUN_INIT;
	struct rb_lock_info taken = { 0 };
	struct rb_buf key = RB_BUF_INIT;
	struct rb_error err = RB_ERROR_INIT;
	char id[RB_JOURNAL_ID_SIZE];
	json_t *d;
	char *params = NULL, *abspath = NULL;
	int r;

	if (st == NULL)
		return 0;
	/* Resume may run from another directory: keep the absolute path. */
	abspath = realpath(e->rb->path, NULL);
	if (e->rb->lock != NULL) {
		if ((r = rb_render_text(&key, e->rb->lock, &e->scope, false,
		    &err)) != 0) {
			rb_error_set(e->err, r,
			    "cannot render the lock key: %s", err.msg);
			goto out;
		}
	} else
		rb_buf_adds(&key, e->rb->name);
	if ((r = rb_lock_acquire(&e->lock, &taken, st, key.buf,
	    e->run_id)) != 0) {
		if (r == RB_EREFUSED) {
			rb_error_set(e->err, RB_EREFUSED, "%s",
			    rb_store_error(st)->msg);
			rb_error_hint(e->err, "wait for that run to finish, or "
			    "look at it with 'runbook show RUN_ID'");
			d = json_pack("{s:s,s:s,s:s}", "reason", "lock held",
			    "lock", key.buf, "runbook", e->rb->name);
			audit(e, "refusal", d);
		} else
			fail(e, r);
		goto out;
	}
	if (taken.run_id[0] != '\0') {
		d = json_pack("{s:s,s:s,s:I}", "lock", key.buf, "stale_run",
		    taken.run_id, "stale_pid", (json_int_t)taken.pid);
		if ((r = audit(e, "lock.taken_over", d)) != 0)
			goto out;
	}
	if ((r = begin(e)) != 0)
		goto out;
	if (o->resume != NULL) {
		if ((r = rb_journal_run_set_status(st, e->run_id, "running",
		    -1)) != 0) {
			fail(e, r);
			goto out;
		}
		d = json_pack("{s:s,s:s,s:b,s:b}", "runbook", e->rb->name,
		    "digest", e->rb->digest, "rerun_inflight",
		    (o->resume_flags & RB_RESUME_RERUN_INFLIGHT) != 0, "force",
		    (o->resume_flags & RB_RESUME_FORCE) != 0);
		if ((r = audit(e, "run.resumed", d)) != 0)
			goto out;
	} else {
		d = params_json(e->params);
		params = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(d);
		run.run_id = e->run_id;
		run.runbook = e->rb->name;
		run.runbook_path = abspath != NULL ? abspath : e->rb->path;
		run.runbook_digest = e->rb->digest;
		run.plan_digest = o->plan_digest;
		run.params = params;
		run.trigger = o->trigger;
		run.actor = o->actor;
		if ((r = rb_journal_run_create(id, st, &run)) != 0) {
			fail(e, r);
			goto out;
		}
		d = json_pack("{s:s,s:s,s:o,s:s,s:s*}", "runbook", e->rb->name,
		    "digest", e->rb->digest, "params", params_json(e->params),
		    "trigger", o->trigger ? o->trigger : "cli",
		    "plan_digest", o->plan_digest);
		if ((r = audit(e, "run.started", d)) != 0)
			goto out;
		if (o->force_window) {
			d = json_pack("{s:s}", "runbook", e->rb->name);
			if ((r = audit(e, "force.window", d)) != 0)
				goto out;
		}
	}
	r = record_flush(e);
out:
	free(params);
	free(abspath);
	rb_buf_release(&key);
	if (r != 0 && e->lock != NULL) {
		rb_lock_release(st, e->lock);
		e->lock = NULL;
	}
	return r;
}

static const char *
host_of(const struct task *t)
{
	return t->cur != NULL ? t->cur->host->name : "local";
}

static json_t *
step_details(const struct task *t)
{
	json_t *d = json_object();
	char digest[65];

	json_object_set_new(d, "step", json_string(t->step->id));
	if (t->parent != NULL)
		json_object_set_new(d, "for_step",
		    json_string(t->parent->step->id));
	json_object_set_new(d, "host", json_string(host_of(t)));
	json_object_set_new(d, "phase", json_string(rb_phase_name(t->phase)));
	json_object_set_new(d, "attempt", json_integer(t->cur ?
	    t->cur->jattempt : t->jattempt));
	json_object_set_new(d, "action",
	    json_string(rb_action_name(t->step->action)));
	if (t->command != NULL) {
		rb_sha256_hex(digest, t->command, strlen(t->command));
		json_object_set_new(d, "command_sha256", json_string(digest));
	}
	return d;
}

static char *
captures_json(const struct task *t)
{
	json_t *o = json_object();
	char *s;
	size_t i;

	for (i = 0; i < t->nvars; i++) {
		json_t *v = json_string(t->vars[i].value);

		json_object_set_new(o, t->vars[i].name,
		    v ? v : json_string("<invalid utf-8>"));
	}
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

/* Keep at most the journal's limit: the end of the output matters most. */
static const char *
journal_tail(const char *s, size_t len, size_t *out_len)
{
	if (s == NULL) {
		*out_len = 0;
		return NULL;
	}
	if (len > RB_JOURNAL_TAIL_MAX) {
		*out_len = RB_JOURNAL_TAIL_MAX;
		return s + len - RB_JOURNAL_TAIL_MAX;
	}
	*out_len = len;
	return s;
}

/* record_step() for one host of a fanned-out step. */
static int
record_host(struct engine *e, enum rb_event_type type, struct task *t,
    struct hostrun *h)
{
	struct rb_store *st = e->opts->store;
	struct rb_journal_attempt a = RB_JOURNAL_ATTEMPT_INIT;
	char *caps = NULL;
	json_t *d, *o;
	size_t i;
	int r;

	if ((r = begin(e)) != 0)
		return r;
	a.run_id = e->run_id;
	a.step_id = t->phase == RB_PHASE_ROLLBACK && t->parent ?
	    t->parent->step->id : t->step->id;
	a.host = h->host->name;
	a.phase = rb_phase_name(t->phase);
	a.command = t->command;
	switch (type) {
	case RB_EV_STEP_STARTED:
	case RB_EV_ROLLBACK_STARTED:
		if ((r = rb_journal_step_started(&h->jattempt, st, &a)) != 0)
			return fail(e, r);
		if ((r = audit(e, type == RB_EV_STEP_STARTED ? "step.started" :
		    "rollback.started", step_details(t))) != 0)
			return r;
		return record_flush(e);
	case RB_EV_STEP_FINISHED:
	case RB_EV_ROLLBACK_FINISHED:
		if (h->jattempt == 0 &&
		    (r = rb_journal_step_started(&h->jattempt, st, &a)) != 0)
			return fail(e, r);
		a.attempt = h->jattempt;
		a.status = h->status == RB_ST_NOT_RUN ? "interrupted" :
		    rb_status_name(h->status);
		a.exit_code = h->exit_code;
		a.stdout_tail = journal_tail(h->out, h->out_len, &a.stdout_len);
		a.stdout_total = h->out_total;
		a.stderr_tail = journal_tail(h->err, h->err_len, &a.stderr_len);
		a.stderr_total = h->err_total;
		o = json_object();
		for (i = 0; i < h->nvars; i++) {
			json_t *v = json_string(h->vars[i].value);

			json_object_set_new(o, h->vars[i].name, v ? v :
			    json_string("<invalid utf-8>"));
		}
		caps = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(o);
		a.captures = caps;
		a.error = h->reason;
		r = rb_journal_step_finished(st, &a);
		free(caps);
		if (r != 0)
			return fail(e, r);
		d = step_details(t);
		json_object_set_new(d, "status", json_string(a.status));
		json_object_set_new(d, "exit_code", h->exit_code >= 0 ?
		    json_integer(h->exit_code) : json_null());
		return audit(e, type == RB_EV_STEP_FINISHED ? "step.finished" :
		    "rollback.finished", d);
	default:
		return 0;
	}
}

void
record_hostkey(struct engine *e, const struct rb_ssh_hostkey_info *in)
{
	json_t *d;

	if (e->opts->store == NULL)
		return;
	d = json_pack("{s:s,s:s,s:i,s:s,s:s,s:s}", "host", in->host,
	    "address", in->address ? in->address : "", "port", in->port,
	    "key_type", in->key_type ? in->key_type : "", "fingerprint",
	    in->fingerprint ? in->fingerprint : "", "reason",
	    in->reason ? in->reason : "");
	audit(e, in->trusted ? "hostkey.accepted" : "hostkey.rejected", d);
}

int
record_step(struct engine *e, enum rb_event_type type, struct task *t)
{
	struct rb_store *st = e->opts->store;
	struct rb_journal_attempt a = RB_JOURNAL_ATTEMPT_INIT;
	char *caps = NULL;
	json_t *d;
	const char *ev;
	int r;

	if (st == NULL || e->record_error != 0)
		return e->record_error;
	if (t->kind == NODE_SUB_START && type != RB_EV_STEP_FINISHED)
		return 0;
	/* A fanned-out step is journaled per host, not as a whole. */
	if (t->hosts != NULL && t->cur == NULL)
		return 0;
	if (t->cur != NULL)
		return record_host(e, type, t, t->cur);
	if ((r = begin(e)) != 0)
		return r;
	a.run_id = e->run_id;
	a.step_id = t->phase == RB_PHASE_ROLLBACK && t->parent ?
	    t->parent->step->id : t->step->id;
	a.host = host_of(t);
	a.phase = rb_phase_name(t->phase);
	a.command = t->command;
	switch (type) {
	case RB_EV_STEP_STARTED:
	case RB_EV_ROLLBACK_STARTED:
		a.attempt = 0;
		if ((r = rb_journal_step_started(&t->jattempt, st, &a)) != 0)
			return fail(e, r);
		ev = type == RB_EV_STEP_STARTED ? "step.started" :
		    "rollback.started";
		if ((r = audit(e, ev, step_details(t))) != 0)
			return r;
		/* Durable before the process starts. */
		return record_flush(e);
	case RB_EV_STEP_SKIPPED:
		a.error = t->reason;
		if ((r = rb_journal_step_skipped(&t->jattempt, st, &a)) != 0)
			return fail(e, r);
		d = step_details(t);
		json_object_set_new(d, "reason", json_string(t->reason ?
		    t->reason : ""));
		return audit(e, "step.skipped", d);
	case RB_EV_STEP_FINISHED:
	case RB_EV_ROLLBACK_FINISHED:
		if (t->jattempt == 0) {
			/* Failed before it could start (e.g. a bad when). */
			a.attempt = 0;
			if ((r = rb_journal_step_started(&t->jattempt, st,
			    &a)) != 0)
				return fail(e, r);
		}
		a.attempt = t->jattempt;
		a.status = t->status == RB_ST_NOT_RUN ? "interrupted" :
		    rb_status_name(t->status);
		a.exit_code = t->exit_code;
		a.stdout_tail = journal_tail(t->out, t->out_len, &a.stdout_len);
		a.stdout_total = t->out_total;
		a.stderr_tail = journal_tail(t->err, t->err_len, &a.stderr_len);
		a.stderr_total = t->err_total;
		caps = captures_json(t);
		a.captures = caps;
		a.error = t->reason;
		r = rb_journal_step_finished(st, &a);
		free(caps);
		if (r != 0)
			return fail(e, r);
		d = step_details(t);
		json_object_set_new(d, "status", json_string(a.status));
		json_object_set_new(d, "exit_code", t->exit_code >= 0 ?
		    json_integer(t->exit_code) : json_null());
		json_object_set_new(d, "duration_ms",
		    json_integer(t->duration_ms));
		json_object_set_new(d, "stdout_bytes",
		    json_integer((json_int_t)t->out_total));
		json_object_set_new(d, "stderr_bytes",
		    json_integer((json_int_t)t->err_total));
		return audit(e, type == RB_EV_STEP_FINISHED ? "step.finished" :
		    "rollback.finished", d);
	default:
		return 0;
	}
}

void
record_run_end(struct engine *e, enum rb_run_status status)
{
	struct rb_store *st = e->opts->store;
	json_t *d;

	if (st == NULL)
		return;
	if (e->record_error == 0 && begin(e) == 0) {
		if (rb_journal_run_set_status(st, e->run_id,
		    rb_run_status_name(status), rb_run_exit_code(status)) != 0)
			fail(e, RB_EIO);
		d = json_pack("{s:s,s:s,s:i}", "runbook", e->rb->name,
		    "status", rb_run_status_name(status), "exit_code",
		    rb_run_exit_code(status));
		audit(e, status == RB_RUN_INTERRUPTED ? "run.interrupted" :
		    "run.finished", d);
		record_flush(e);
	}
	if (rb_store_in_transaction(st))
		rb_store_rollback(st);
	if (e->lock != NULL)
		rb_lock_release(st, e->lock);
	e->lock = NULL;
}

/* Audit a refusal to run (e.g. resume would re-run an unknown step). */
void
record_refusal(struct engine *e, const char *why)
{
	json_t *d;

	if (e->opts->store == NULL)
		return;
	d = json_pack("{s:s,s:s}", "runbook", e->rb->name, "reason",
	    why != NULL ? why : "");
	audit(e, "refusal", d);
}
