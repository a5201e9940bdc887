/*
 * plan.c - the canonical JSON plan, its digest, and the text, markdown and
 * dot renderings of it.
 *
 * Everything a reviewer sees comes from the JSON object built here, and the
 * engine renders commands through the same rb_render_shell(), so the plan
 * digest approved in a change request identifies exactly what will run.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "runbook/diag.h"
#include "runbook/error.h"
#include "runbook/expr.h"
#include "runbook/plan.h"
#include "runbook/util.h"
#include "runbook/banned.h"

struct rb_plan {
	json_t *json;		/* the canonical plan, digest included */
	char digest[65];
};

int
rb_plan_format_parse(enum rb_plan_format *out, const char *name)
{
	if (strcmp(name, "text") == 0)
		*out = RB_PLAN_TEXT;
	else if (strcmp(name, "json") == 0)
		*out = RB_PLAN_JSON;
	else if (strcmp(name, "markdown") == 0 || strcmp(name, "md") == 0)
		*out = RB_PLAN_MARKDOWN;
	else if (strcmp(name, "dot") == 0)
		*out = RB_PLAN_DOT;
	else
		return RB_EINVAL;
	return 0;
}

int
rb_render_shell(struct rb_buf *out, const struct rb_tmpl *t,
    const struct rb_scope *scope, struct rb_strvec *secret_env,
    struct rb_error *err)
{
	struct rb_tmpl_ctx ctx = { rb_scope_lookup, (void *)scope,
		RB_TMPL_SHELL | RB_TMPL_MASK, secret_env };

	return rb_tmpl_render(out, t, &ctx, NULL, err);
}

int
rb_render_text(struct rb_buf *out, const struct rb_tmpl *t,
    const struct rb_scope *scope, bool mask, struct rb_error *err)
{
	struct rb_tmpl_ctx ctx = { rb_scope_lookup, (void *)scope,
		mask ? RB_TMPL_MASK : 0, NULL };

	return rb_tmpl_render(out, t, &ctx, NULL, err);
}

int
rb_render_target(struct rb_buf *out, const struct rb_step *s,
    const struct rb_runbook *rb, const struct rb_scope *scope,
    struct rb_error *err)
{
	const struct rb_tmpl *t = s->on != NULL ? s->on : rb->on;

	if (t == NULL)
		return rb_buf_adds(out, "local");
	return rb_render_text(out, t, scope, true, err);
}

/* ------------------------------------------------------------------ */
/* Building the JSON */

static json_t *
jstr(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* A string built in a buffer; the buffer is reset. */
static json_t *
jbuf(struct rb_buf *b)
{
	json_t *j = json_stringn(b->buf, b->len);

	rb_buf_reset(b);
	return j != NULL ? j : json_string("<invalid utf-8>");
}

static json_t *
jduration(int64_t ms)
{
	char d[64];

	rb_duration_format(d, sizeof(d), ms);
	return json_string(d);
}

static int
add_text(json_t *obj, const char *key, const struct rb_tmpl *t,
    const struct rb_scope *scope, struct rb_buf *tmp, struct rb_error *err)
{
	int r;

	if (t == NULL)
		return 0;
	if ((r = rb_render_text(tmp, t, scope, true, err)) != 0)
		return r;
	json_object_set_new(obj, key, jbuf(tmp));
	return 0;
}

static json_t *
kv_object(const struct rb_kv *kv, size_t n, const struct rb_scope *scope,
    struct rb_buf *tmp, struct rb_error *err, int *r)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; i < n && *r == 0; i++)
		*r = add_text(o, kv[i].key, kv[i].value, scope, tmp, err);
	return o;
}

static json_t *
expect_json(const struct rb_expect *e)
{
	json_t *o = json_object(), *codes = json_array();
	size_t i;

	if (e->nexit == 0)
		json_array_append_new(codes, json_integer(0));
	for (i = 0; i < e->nexit; i++)
		json_array_append_new(codes, json_integer(e->exit_codes[i]));
	json_object_set_new(o, "exit", codes);
	if (e->stdout_re != NULL)
		json_object_set_new(o, "stdout",
		    jstr(rb_regex_source(e->stdout_re)));
	if (e->stderr_re != NULL)
		json_object_set_new(o, "stderr",
		    jstr(rb_regex_source(e->stderr_re)));
	if (e->not_stdout_re != NULL)
		json_object_set_new(o, "not_stdout",
		    jstr(rb_regex_source(e->not_stdout_re)));
	if (e->not_stderr_re != NULL)
		json_object_set_new(o, "not_stderr",
		    jstr(rb_regex_source(e->not_stderr_re)));
	return o;
}

/* The target and, when the inventory knows it, the hosts it expands to. */
static int
add_target(json_t *o, const struct rb_step *s, const struct rb_runbook *rb,
    const struct rb_inventory *inv, const struct rb_scope *scope,
    struct rb_buf *tmp, struct rb_error *err)
{
	const struct rb_group *g;
	json_t *hosts;
	size_t i;
	int r;

	if ((r = rb_render_target(tmp, s, rb, scope, err)) != 0)
		return r;
	if (inv != NULL && (g = rb_inventory_group(inv, tmp->buf)) != NULL) {
		hosts = json_array();
		for (i = 0; i < g->nmembers; i++)
			json_array_append_new(hosts,
			    json_string(g->members[i]));
		json_object_set_new(o, "hosts", hosts);
	}
	json_object_set_new(o, "target", jbuf(tmp));
	return 0;
}

/* The action-specific part of a step: command or its structured probe. */
static int
add_action(json_t *o, const struct rb_step *s, const struct rb_scope *scope,
    struct rb_buf *tmp, struct rb_error *err)
{
	json_t *x;
	size_t i;
	int r = 0;

	json_object_set_new(o, "action",
	    json_string(rb_action_name(s->action)));
	switch (s->action) {
	case RB_ACT_RUN:
	case RB_ACT_CHECK:
		if ((r = rb_render_shell(tmp, s->command, scope, NULL, err)))
			return r;
		json_object_set_new(o, "command", jbuf(tmp));
		json_object_set_new(o, "expect", expect_json(&s->expect));
		break;
	case RB_ACT_TCP:
	case RB_ACT_APPROVE:
	case RB_ACT_MANUAL:
		if ((r = rb_render_text(tmp, s->command, scope, true, err)))
			return r;
		json_object_set_new(o, s->action == RB_ACT_TCP ? "address" :
		    "message", jbuf(tmp));
		break;
	case RB_ACT_SLEEP:
		json_object_set_new(o, "duration", jduration(s->sleep_ms));
		break;
	case RB_ACT_HTTP:
		x = json_object();
		json_object_set_new(x, "method", json_string(s->http->method));
		r = add_text(x, "url", s->http->url, scope, tmp, err);
		if (r == 0)
			json_object_set_new(x, "headers",
			    kv_object(s->http->headers, s->http->nheaders,
			    scope, tmp, err, &r));
		if (r == 0)
			r = add_text(x, "body", s->http->body, scope, tmp, err);
		if (s->http->nstatus > 0) {
			json_t *st = json_array();

			for (i = 0; i < s->http->nstatus; i++)
				json_array_append_new(st,
				    json_integer(s->http->status[i]));
			json_object_set_new(x, "status", st);
		} else
			json_object_set_new(x, "status", json_string("2xx"));
		if (s->http->body_match != NULL)
			json_object_set_new(x, "body_match",
			    jstr(rb_regex_source(s->http->body_match)));
		json_object_set_new(x, "timeout",
		    jduration(s->http->timeout_ms));
		json_object_set_new(x, "insecure",
		    json_boolean(s->http->insecure));
		json_object_set_new(o, "http", x);
		break;
	case RB_ACT_NOTIFY:
		x = json_object();
		r = add_text(x, "url", s->notify->url, scope, tmp, err);
		if (r == 0)
			r = add_text(x, "text", s->notify->text, scope, tmp,
			    err);
		if (r == 0)
			r = add_text(x, "body", s->notify->body, scope, tmp,
			    err);
		if (r == 0)
			json_object_set_new(x, "headers",
			    kv_object(s->notify->headers, s->notify->nheaders,
			    scope, tmp, err, &r));
		json_object_set_new(o, "notify", x);
		break;
	case RB_ACT_RUNBOOK:
		x = json_object();
		json_object_set_new(x, "name", json_string(s->sub_runbook));
		json_object_set_new(x, "with", kv_object(s->with, s->nwith,
		    scope, tmp, err, &r));
		json_object_set_new(o, "runbook", x);
		break;
	}
	return r;
}

static json_t *
retries_json(const struct rb_retries *rt)
{
	json_t *o = json_object();

	json_object_set_new(o, "count", json_integer(rt->count));
	json_object_set_new(o, "delay", jduration(rt->delay_ms));
	json_object_set_new(o, "backoff", json_real(rt->backoff));
	return o;
}

/* What skip_reason() learns from the names a `when` uses. */
struct empty_names {
	const struct rb_scope *scope;
	struct rb_buf *out;
	size_t n;
};

/* rb_resolve_fn: note each params.X or env.X that is empty or unset. */
static int
note_empty(enum rb_type *out_type, const struct rb_name_ref *ref,
    void *payload)
{
	struct empty_names *en = payload;
	struct rb_value v = RB_VALUE_INIT;

	*out_type = RB_TYPE_ANY;
	if (ref->npath != 2 || (strcmp(ref->path[0], "params") != 0 &&
	    strcmp(ref->path[0], "env") != 0))
		return 0;
	if (rb_scope_lookup(&v, ref->path, ref->npath,
	    (void *)en->scope) == 0 &&
	    (v.type == RB_VAL_NULL || (v.type == RB_VAL_STR && v.len == 0))) {
		rb_buf_addf(en->out, "%s%s.%s is %s", en->n++ ? ", " : "",
		    ref->path[0], ref->path[1], strcmp(ref->path[0], "env") ==
		    0 && v.type == RB_VAL_NULL ? "not set" : "empty");
	}
	rb_value_release(&v);
	return 0;
}

/*
 * Why a step will be skipped whatever happens before it: its `when` is
 * already false with these params and this environment (a `when` that
 * needs a step's result is not decided here). Sets *out to the reason
 * ("params.x is empty") or leaves it empty. It is part of the plan, and so
 * of the digest, like every value the plan renders from params and env.
 */
static void
skip_reason(struct rb_buf *out, const struct rb_step *s,
    const struct rb_scope *scope)
{
	struct rb_value v = RB_VALUE_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_diags d = RB_DIAGS_INIT;
	struct empty_names en = { scope, out, 0 };

	rb_buf_reset(out);
	if (s->when == NULL || rb_expr_eval(&v, s->when, rb_scope_lookup,
	    (void *)scope, &err) != 0 || v.type == RB_VAL_UNKNOWN ||
	    rb_value_truthy(&v))
		goto out;
	rb_expr_check(s->when, note_empty, &en, &d);
	if (en.n == 0)
		rb_buf_adds(out, "its condition is false with these params");
out:
	rb_value_release(&v);
	rb_diags_release(&d);
}

static void sub_plan(json_t *x, const struct rb_step *s,
    const struct rb_runbook *rb, const struct rb_inventory *inv,
    const struct rb_scope *scope, int depth);

static int
step_json(json_t **out, const struct rb_step *s, const struct rb_runbook *rb,
    const struct rb_inventory *inv, const struct rb_scope *scope,
    const struct rb_step *all, long layer, struct rb_buf *tmp,
    int depth, struct rb_error *err)
{
	json_t *o = json_object(), *needs = json_array();
	size_t i;
	int r;

	json_object_set_new(o, "id", json_string(s->id));
	if (s->name != NULL)
		json_object_set_new(o, "name", json_string(s->name));
	if ((r = add_action(o, s, scope, tmp, err)) != 0 ||
	    (r = add_target(o, s, rb, inv, scope, tmp, err)) != 0)
		goto out;
	if (s->action == RB_ACT_RUNBOOK)
		sub_plan(json_object_get(o, "runbook"), s, rb, inv, scope,
		    depth);
	for (i = 0; all != NULL && i < s->nneed_idx; i++)
		json_array_append_new(needs,
		    json_string(all[s->need_idx[i]].id));
	json_object_set_new(o, "needs", needs);
	needs = NULL;
	json_object_set_new(o, "when",
	    s->when ? json_string(rb_expr_source(s->when)) : json_null());
	skip_reason(tmp, s, scope);
	if (tmp->len > 0)
		json_object_set_new(o, "skip", jbuf(tmp));
	json_object_set_new(o, "until",
	    s->until ? json_string(rb_expr_source(s->until)) : json_null());
	json_object_set_new(o, "timeout", jduration(s->timeout_ms));
	json_object_set_new(o, "retries", retries_json(&s->retries));
	if (layer >= 0)
		json_object_set_new(o, "layer", json_integer(layer));
	json_object_set_new(o, "continue_on_error",
	    json_boolean(s->continue_on_error));
	json_object_set_new(o, "idempotent", json_boolean(s->idempotent));
	json_object_set_new(o, "readonly",
	    json_boolean(rb_step_is_readonly(s)));
	if (s->batch > 0)
		json_object_set_new(o, "batch", s->batch_pct ?
		    json_sprintf("%d%%", s->batch) : json_integer(s->batch));
	if (s->max_fail > 0)
		json_object_set_new(o, "max_fail", s->max_fail_pct ?
		    json_sprintf("%d%%", s->max_fail) :
		    json_integer(s->max_fail));
	if (s->ncaptures > 0) {
		json_t *c = json_object();

		for (i = 0; i < s->ncaptures; i++)
			json_object_set_new(c, s->captures[i].name,
			    json_string(rb_regex_source(s->captures[i].re)));
		json_object_set_new(o, "capture", c);
	}
	if (s->nenv > 0) {
		json_object_set_new(o, "env", kv_object(s->env, s->nenv, scope,
		    tmp, err, &r));
		if (r != 0)
			goto out;
	}
	if (s->workdir != NULL &&
	    (r = add_text(o, "workdir", s->workdir, scope, tmp, err)) != 0)
		goto out;
	if (s->rollback != NULL) {
		json_t *rbj = NULL;

		if ((r = step_json(&rbj, s->rollback, rb, inv, scope, NULL, -1,
		    tmp, depth, err)) != 0)
			goto out;
		json_object_del(rbj, "needs");
		json_object_set_new(o, "rollback", rbj);
	} else
		json_object_set_new(o, "rollback", json_null());
	*out = o;
	o = NULL;
	r = 0;
out:
	json_decref(o);
	json_decref(needs);
	return r;
}

/* qsort_r comparator: by layer, then file order. */
static int
cmp_layer(const void *a, const void *b, void *payload)
{
	const size_t *layer = payload;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	if (layer[x] != layer[y])
		return layer[x] < layer[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int plan_build(struct rb_plan **out, const struct rb_runbook *rb,
    const struct rb_params *params, const struct rb_inventory *inv,
    int depth, struct rb_error *err);

int
rb_plan_build(struct rb_plan **out, const struct rb_runbook *rb,
    const struct rb_params *params, const struct rb_inventory *inv,
    struct rb_error *err)
{
	return plan_build(out, rb, params, inv, 0, err);
}

/*
 * The plan of the runbook a `runbook:` step calls, with its with: values
 * rendered in the caller's scope, nested under the step as "steps" (so the
 * caller's digest covers it). What cannot be planned yet (a value known only
 * at run time that the called runbook's pattern rejects) is said in
 * "plan_error" instead.
 */
static void
sub_plan(json_t *x, const struct rb_step *s, const struct rb_runbook *rb,
    const struct rb_inventory *inv, const struct rb_scope *scope, int depth)
{
	struct rb_strvec kv = RB_STRVEC_INIT;
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_params params = RB_PARAMS_INIT;
	struct rb_runbook *sub = NULL;
	struct rb_plan *plan = NULL;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_buf v = RB_BUF_INIT;
	char *path = NULL;
	size_t i;

	if (depth >= 16) {
		json_object_set_new(x, "plan_error",
		    json_string("runbooks call each other too deep"));
		return;
	}
	if (rb_runbook_find_from(&path, s->sub_runbook, rb->path, &err) != 0 ||
	    rb_runbook_load(&sub, path, 0, &d) != 0) {
		json_object_set_new(x, "plan_error", json_string(err.msg[0] ?
		    err.msg : "the called runbook has errors"));
		goto out;
	}
	for (i = 0; i < s->nwith; i++) {
		rb_buf_reset(&v);
		if (rb_render_text(&v, s->with[i].value, scope, true,
		    &err) == 0)
			rb_strvec_pushf(&kv, "%s=%s", s->with[i].key, v.buf);
	}
	if (rb_params_resolve(&params, sub, (const char *const *)kv.v, kv.nr,
	    &d) != 0) {
		json_object_set_new(x, "plan_error", json_string(d.nr ?
		    d.v[0].msg : "cannot resolve its params"));
		goto out;
	}
	if (plan_build(&plan, sub, &params, inv, depth + 1, &err) != 0) {
		json_object_set_new(x, "plan_error", json_string(err.msg));
		goto out;
	}
	json_object_set(x, "params", json_object_get(plan->json, "params"));
	json_object_set(x, "steps", json_object_get(plan->json, "steps"));
out:
	rb_plan_free(plan);
	rb_params_release(&params);
	rb_runbook_free(sub);
	rb_diags_release(&d);
	rb_strvec_release(&kv);
	rb_buf_release(&v);
	free(path);
}

static int
plan_build(struct rb_plan **out, const struct rb_runbook *rb,
    const struct rb_params *params, const struct rb_inventory *inv,
    int depth, struct rb_error *err)
{
	struct rb_scope scope = { 0 };
	struct rb_dag dag = RB_DAG_INIT;
	struct rb_diags diags = RB_DIAGS_INIT;
	struct rb_buf tmp = RB_BUF_INIT;
	struct rb_plan *plan = NULL;
	json_t *root = json_object(), *steps = json_array(), *of = json_array();
	json_t *pj = json_object();
	char *canon = NULL;
	size_t i, *order = NULL;
	int r;

	scope.rb = rb;
	scope.params = params;
	if ((r = rb_dag_build(&dag, rb->steps, rb->nsteps, &diags)) != 0) {
		rb_error_set(err, RB_EINVAL, "%s",
		    diags.nr ? diags.v[0].msg : "cannot order the steps");
		goto out;
	}
	json_object_set_new(root, "runbook", json_string(rb->name));
	json_object_set_new(root, "kind",
	    json_string(rb->playbook ? "playbook" : "runbook"));
	json_object_set_new(root, "file_digest", json_string(rb->digest));
	for (i = 0; params != NULL && i < params->n; i++) {
		const struct rb_param_value *v = &params->v[i];

		json_object_set_new(pj, v->param->name,
		    v->value == NULL ? json_null() :
		    v->param->secret ? json_string("******") :
		    json_string(v->value));
	}
	json_object_set_new(root, "params", pj);
	pj = NULL;
	json_object_set_new(root, "timeout",
	    rb->timeout_ms ? jduration(rb->timeout_ms) : json_null());
	if (rb->lock != NULL) {
		if ((r = rb_render_text(&tmp, rb->lock, &scope, true, err)))
			goto out;
		json_object_set_new(root, "lock", jbuf(&tmp));
	} else
		json_object_set_new(root, "lock", json_string(rb->name));
	json_object_set_new(root, "layers",
	    json_integer((json_int_t)dag.nlayers));
	/* Layer by layer, file order within a layer: a valid order to read. */
	order = xcalloc(rb->nsteps ? rb->nsteps : 1, sizeof(*order));
	for (i = 0; i < rb->nsteps; i++)
		order[i] = i;
	qsort_r(order, rb->nsteps, sizeof(*order), cmp_layer, dag.layer);
	for (i = 0; i < rb->nsteps; i++) {
		const struct rb_step *s = &rb->steps[order[i]];
		json_t *sj = NULL;

		if ((r = step_json(&sj, s, rb, inv, &scope, rb->steps,
		    (long)dag.layer[order[i]], &tmp, depth, err)) != 0)
			goto out;
		json_array_append_new(steps, sj);
	}
	json_object_set_new(root, "steps", steps);
	steps = NULL;
	for (i = 0; i < rb->non_failure; i++) {
		json_t *sj = NULL;

		if ((r = step_json(&sj, &rb->on_failure[i], rb, inv, &scope,
		    rb->on_failure, -1, &tmp, depth, err)) != 0)
			goto out;
		json_array_append_new(of, sj);
	}
	json_object_set_new(root, "on_failure", of);
	of = NULL;

	plan = xcalloc(1, sizeof(*plan));
	canon = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	if (canon == NULL) {
		r = rb_error_set(err, RB_ERROR, "cannot serialise the plan");
		goto out;
	}
	rb_sha256_hex(plan->digest, canon, strlen(canon));
	json_object_set_new(root, "digest", json_string(plan->digest));
	plan->json = root;
	root = NULL;
	*out = plan;
	plan = NULL;
	r = 0;
out:
	free(order);
	free(canon);
	free(plan);
	json_decref(root);
	json_decref(steps);
	json_decref(of);
	json_decref(pj);
	rb_buf_release(&tmp);
	rb_diags_release(&diags);
	rb_dag_release(&dag);
	return r;
}

const char *
rb_plan_digest(const struct rb_plan *plan)
{
	return plan->digest;
}

void
rb_plan_free(struct rb_plan *plan)
{
	if (plan == NULL)
		return;
	json_decref(plan->json);
	free(plan);
}

/* ------------------------------------------------------------------ */
/* Renderings */

static const char *
jget(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* "3 retries every 2s x1.5" or NULL when there are none. */
static void
retries_text(struct rb_buf *out, const json_t *s)
{
	const json_t *rt = json_object_get(s, "retries");
	json_int_t count = json_integer_value(json_object_get(rt, "count"));
	double backoff = json_real_value(json_object_get(rt, "backoff"));

	if (count <= 0)
		return;
	rb_buf_addf(out, "%lld %s, delay %s", (long long)count,
	    count == 1 ? "retry" : "retries", jget(rt, "delay"));
	if (backoff > 1.0)
		rb_buf_addf(out, " x%g", backoff);
}

static void
needs_text(struct rb_buf *out, const json_t *s)
{
	const json_t *needs = json_object_get(s, "needs");
	size_t i;

	for (i = 0; i < json_array_size(needs); i++)
		rb_buf_addf(out, "%s%s", i ? ", " : "",
		    json_string_value(json_array_get(needs, i)));
}

/* One line describing what a step does, without the command itself. */
static void
action_summary(struct rb_buf *out, const json_t *s)
{
	const char *a = jget(s, "action");
	const json_t *x;

	if (strcmp(a, "http") == 0) {
		x = json_object_get(s, "http");
		rb_buf_addf(out, "%s %s (expect %s)", jget(x, "method"),
		    jget(x, "url"),
		    json_is_string(json_object_get(x, "status")) ?
		    "2xx" : "listed status");
	} else if (strcmp(a, "tcp") == 0)
		rb_buf_addf(out, "connect to %s", jget(s, "address"));
	else if (strcmp(a, "sleep") == 0)
		rb_buf_addf(out, "wait %s", jget(s, "duration"));
	else if (strcmp(a, "notify") == 0) {
		x = json_object_get(s, "notify");
		rb_buf_addf(out, "POST to %s", jget(x, "url"));
		if (jget(x, "text") != NULL)
			rb_buf_addf(out, ": %s", jget(x, "text"));
	} else if (strcmp(a, "approve") == 0 || strcmp(a, "manual") == 0)
		rb_buf_addf(out, "%s: %s", strcmp(a, "approve") == 0 ?
		    "wait for approval" : "manual step",
		    jget(s, "message"));
	else if (strcmp(a, "runbook") == 0) {
		const char *k;
		json_t *v;

		x = json_object_get(s, "runbook");
		rb_buf_addf(out, "runbook %s", jget(x, "name"));
		json_object_foreach(json_object_get(x, "with"), k, v)
			rb_buf_addf(out, " %s=%s", k, json_string_value(v));
	}
}

static void
indent_lines(struct rb_buf *out, const char *prefix, const char *text)
{
	const char *p = text, *nl;

	while (*p != '\0') {
		nl = strchr(p, '\n');
		rb_buf_adds(out, prefix);
		rb_buf_add(out, p, nl ? (size_t)(nl - p) : strlen(p));
		rb_buf_addch(out, '\n');
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

static void
text_step(struct rb_buf *out, const json_t *s, const char *indent)
{
	struct rb_buf tmp = RB_BUF_INIT;
	const char *cmd = jget(s, "command");
	const json_t *rbk = json_object_get(s, "rollback");
	char pre[64];

	rb_buf_addf(out, "%s%s  %s on %s, timeout %s", indent, jget(s, "id"),
	    jget(s, "action"), jget(s, "target"), jget(s, "timeout"));
	needs_text(&tmp, s);
	if (tmp.len)
		rb_buf_addf(out, ", after %s", tmp.buf);
	rb_buf_reset(&tmp);
	rb_buf_addch(out, '\n');
	snprintf(pre, sizeof(pre), "%s    ", indent);
	if (jget(s, "name") != NULL)
		rb_buf_addf(out, "%s# %s\n", pre, jget(s, "name"));
	if (jget(s, "when") != NULL)
		rb_buf_addf(out, "%swhen: %s\n", pre, jget(s, "when"));
	if (jget(s, "skip") != NULL) {
		/* Not its commands: they will not run with these params. */
		rb_buf_addf(out, "%sskipped: %s\n", pre, jget(s, "skip"));
		rb_buf_release(&tmp);
		return;
	}
	if (cmd != NULL) {
		char p2[80];

		snprintf(p2, sizeof(p2), "%s$ ", pre);
		indent_lines(out, p2, cmd);
	} else {
		const json_t *rbj = json_object_get(s, "runbook"), *ns;
		size_t k;

		action_summary(&tmp, s);
		rb_buf_addf(out, "%s%s\n", pre, tmp.buf);
		rb_buf_reset(&tmp);
		if (jget(rbj, "plan_error") != NULL)
			rb_buf_addf(out, "%s(inside: %s)\n", pre,
			    jget(rbj, "plan_error"));
		json_array_foreach(json_object_get(rbj, "steps"), k, ns)
			text_step(out, ns, pre);
	}
	retries_text(&tmp, s);
	if (tmp.len)
		rb_buf_addf(out, "%sretries: %s\n", pre, tmp.buf);
	rb_buf_reset(&tmp);
	if (jget(s, "until") != NULL)
		rb_buf_addf(out, "%suntil: %s\n", pre, jget(s, "until"));
	if (json_is_true(json_object_get(s, "continue_on_error")))
		rb_buf_addf(out, "%scontinue on error\n", pre);
	if (json_is_object(rbk)) {
		const char *rc = jget(rbk, "command");

		if (rc != NULL) {
			char p2[80];

			snprintf(p2, sizeof(p2), "%srollback $ ", pre);
			indent_lines(out, p2, rc);
		} else {
			action_summary(&tmp, rbk);
			rb_buf_addf(out, "%srollback: %s\n", pre, tmp.buf);
		}
	}
	rb_buf_release(&tmp);
}

static void
format_text(struct rb_buf *out, const json_t *p)
{
	const json_t *steps = json_object_get(p, "steps"), *s, *v;
	const char *k;
	long layer = -1;
	size_t i;

	rb_buf_addf(out, "plan for %s '%s'\n", jget(p, "kind"),
	    jget(p, "runbook"));
	if (json_object_size(json_object_get(p, "params")) > 0) {
		rb_buf_adds(out, "params:");
		json_object_foreach(json_object_get(p, "params"), k, v)
			rb_buf_addf(out, " %s=%s", k, json_is_null(v) ?
			    "(unset)" : json_string_value(v));
		rb_buf_addch(out, '\n');
	}
	if (jget(p, "timeout") != NULL)
		rb_buf_addf(out, "timeout: %s\n", jget(p, "timeout"));
	rb_buf_addf(out, "lock: %s\n", jget(p, "lock"));
	json_array_foreach(steps, i, s) {
		long l = (long)json_integer_value(json_object_get(s, "layer"));

		if (l != layer) {
			rb_buf_addf(out, "\nlayer %ld\n", l);
			layer = l;
		}
		text_step(out, s, "  ");
	}
	if (json_array_size(json_object_get(p, "on_failure")) > 0) {
		rb_buf_adds(out, "\non failure (after rollbacks)\n");
		json_array_foreach(json_object_get(p, "on_failure"), i, s)
			text_step(out, s, "  ");
	}
	rb_buf_addf(out, "\nplan digest: %s\n", jget(p, "digest"));
}

/* Markdown table cell: pipes escaped, newlines as <br>. */
static void
md_cell(struct rb_buf *out, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '|')
			rb_buf_adds(out, "\\|");
		else if (*s == '\n')
			rb_buf_adds(out, "<br>");
		else
			rb_buf_addch(out, *s);
	}
}

/* A fenced block whose fence is longer than any backtick run inside. */
static void
md_fence(struct rb_buf *out, const char *lang, const char *text)
{
	size_t run = 0, max = 0, i;
	const char *p;

	for (p = text; *p != '\0'; p++) {
		run = *p == '`' ? run + 1 : 0;
		if (run > max)
			max = run;
	}
	for (i = 0; i < (max >= 3 ? max + 1 : 3); i++)
		rb_buf_addch(out, '`');
	rb_buf_addf(out, "%s\n%s\n", lang, text);
	for (i = 0; i < (max >= 3 ? max + 1 : 3); i++)
		rb_buf_addch(out, '`');
	rb_buf_addch(out, '\n');
}

static void
md_steps(struct rb_buf *out, const json_t *steps, bool layers)
{
	struct rb_buf tmp = RB_BUF_INIT;
	const json_t *s;
	size_t i;

	rb_buf_addf(out, "| %s# | Step | Action | Target | Needs | When | "
	    "Timeout | Retries | Rollback |\n", layers ? "Layer | " : "");
	rb_buf_addf(out, "|%s---|---|---|---|---|---|---|---|---|\n",
	    layers ? "---|" : "");
	json_array_foreach(steps, i, s) {
		const json_t *rbk = json_object_get(s, "rollback");

		if (layers)
			rb_buf_addf(out, "| %lld ", (long long)
			    json_integer_value(json_object_get(s, "layer")));
		rb_buf_addf(out, "| %zu | `%s`", i + 1, jget(s, "id"));
		if (jget(s, "name") != NULL) {
			rb_buf_adds(out, " ");
			md_cell(out, jget(s, "name"));
		}
		rb_buf_addf(out, " | %s | ", jget(s, "action"));
		md_cell(out, jget(s, "target"));
		rb_buf_adds(out, " | ");
		needs_text(&tmp, s);
		md_cell(out, tmp.len ? tmp.buf : "-");
		rb_buf_reset(&tmp);
		rb_buf_adds(out, " | ");
		md_cell(out, jget(s, "when") ? jget(s, "when") : "-");
		if (jget(s, "skip") != NULL) {
			rb_buf_adds(out, " (skipped: ");
			md_cell(out, jget(s, "skip"));
			rb_buf_adds(out, ")");
		}
		rb_buf_addf(out, " | %s | ", jget(s, "timeout"));
		retries_text(&tmp, s);
		md_cell(out, tmp.len ? tmp.buf : "-");
		rb_buf_reset(&tmp);
		rb_buf_addf(out, " | %s |\n",
		    json_is_object(rbk) ? "yes" : "-");
	}
	rb_buf_release(&tmp);
}

static void
md_details(struct rb_buf *out, const json_t *steps)
{
	struct rb_buf tmp = RB_BUF_INIT;
	const json_t *s;
	size_t i;

	json_array_foreach(steps, i, s) {
		const json_t *rbk = json_object_get(s, "rollback");

		rb_buf_addf(out, "\n#### %zu. `%s`", i + 1, jget(s, "id"));
		if (jget(s, "name") != NULL)
			rb_buf_addf(out, " — %s", jget(s, "name"));
		rb_buf_addch(out, '\n');
		if (jget(s, "command") != NULL)
			md_fence(out, "sh", jget(s, "command"));
		else {
			action_summary(&tmp, s);
			rb_buf_addf(out, "\n%s\n", tmp.buf);
			rb_buf_reset(&tmp);
		}
		if (json_is_object(rbk)) {
			rb_buf_adds(out, "\nRollback:\n");
			if (jget(rbk, "command") != NULL)
				md_fence(out, "sh", jget(rbk, "command"));
			else {
				action_summary(&tmp, rbk);
				rb_buf_addf(out, "%s\n", tmp.buf);
				rb_buf_reset(&tmp);
			}
		}
	}
	rb_buf_release(&tmp);
}

static void
format_markdown(struct rb_buf *out, const json_t *p)
{
	const json_t *v;
	const char *k;

	rb_buf_addf(out, "### Plan: %s `%s`\n\n", jget(p, "kind"),
	    jget(p, "runbook"));
	rb_buf_addf(out, "- Plan digest: `%s`\n", jget(p, "digest"));
	rb_buf_addf(out, "- Runbook file SHA-256: `%s`\n",
	    jget(p, "file_digest"));
	rb_buf_addf(out, "- Lock: `%s`\n", jget(p, "lock"));
	if (jget(p, "timeout") != NULL)
		rb_buf_addf(out, "- Whole-run timeout: %s\n",
		    jget(p, "timeout"));
	rb_buf_addf(out, "- Run exactly this plan with: "
	    "`runbook run %s --plan-digest %s", jget(p, "runbook"),
	    jget(p, "digest"));
	json_object_foreach(json_object_get(p, "params"), k, v)
		if (json_is_string(v) && strcmp(json_string_value(v), "******"))
			rb_buf_addf(out, " -p %s=...", k);
	rb_buf_adds(out, "`\n");
	if (json_object_size(json_object_get(p, "params")) > 0) {
		rb_buf_adds(out, "\n| Parameter | Value |\n|---|---|\n");
		json_object_foreach(json_object_get(p, "params"), k, v) {
			rb_buf_addf(out, "| `%s` | ", k);
			md_cell(out, json_is_null(v) ? "(unset)" :
			    json_string_value(v));
			rb_buf_adds(out, " |\n");
		}
	}
	rb_buf_adds(out, "\n#### Steps (in execution layers; steps in one "
	    "layer may run in parallel)\n\n");
	md_steps(out, json_object_get(p, "steps"), true);
	md_details(out, json_object_get(p, "steps"));
	if (json_array_size(json_object_get(p, "on_failure")) > 0) {
		rb_buf_adds(out, "\n#### On failure (after rollbacks)\n\n");
		md_steps(out, json_object_get(p, "on_failure"), false);
		md_details(out, json_object_get(p, "on_failure"));
	}
}

/* A dot string literal. */
static void
dot_str(struct rb_buf *out, const char *s)
{
	rb_buf_addch(out, '"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			rb_buf_addch(out, '\\');
		if (*s == '\n')
			rb_buf_adds(out, "\\n");
		else
			rb_buf_addch(out, *s);
	}
	rb_buf_addch(out, '"');
}

static void
format_dot(struct rb_buf *out, const json_t *p)
{
	struct rb_buf label = RB_BUF_INIT;
	const json_t *steps = json_object_get(p, "steps"), *s, *n;
	size_t i, j;
	long layer, maxl = json_integer_value(json_object_get(p, "layers"));

	rb_buf_adds(out, "digraph ");
	dot_str(out, jget(p, "runbook"));
	rb_buf_adds(out, " {\n  rankdir=TB;\n  node [shape=box, "
	    "style=rounded, fontname=\"monospace\"];\n  label=");
	rb_buf_addf(&label, "%s\nplan digest %s", jget(p, "runbook"),
	    jget(p, "digest"));
	dot_str(out, label.buf);
	rb_buf_reset(&label);
	rb_buf_adds(out, ";\n  labelloc=t;\n");
	json_array_foreach(steps, i, s) {
		rb_buf_adds(out, "  ");
		dot_str(out, jget(s, "id"));
		rb_buf_addf(&label, "%s\n%s on %s", jget(s, "id"),
		    jget(s, "action"), jget(s, "target"));
		if (jget(s, "when") != NULL)
			rb_buf_addf(&label, "\nwhen %s", jget(s, "when"));
		rb_buf_adds(out, " [label=");
		dot_str(out, label.buf);
		rb_buf_reset(&label);
		if (json_is_object(json_object_get(s, "rollback")))
			rb_buf_adds(out, ", peripheries=2");
		rb_buf_adds(out, "];\n");
		json_array_foreach(json_object_get(s, "needs"), j, n) {
			rb_buf_adds(out, "  ");
			dot_str(out, json_string_value(n));
			rb_buf_adds(out, " -> ");
			dot_str(out, jget(s, "id"));
			rb_buf_adds(out, ";\n");
		}
	}
	for (layer = 0; layer < maxl; layer++) {
		rb_buf_adds(out, "  { rank=same;");
		json_array_foreach(steps, i, s) {
			if (json_integer_value(json_object_get(s, "layer")) !=
			    layer)
				continue;
			rb_buf_adds(out, " ");
			dot_str(out, jget(s, "id"));
			rb_buf_adds(out, ";");
		}
		rb_buf_adds(out, " }\n");
	}
	rb_buf_adds(out, "}\n");
	rb_buf_release(&label);
}

void
rb_plan_format(struct rb_buf *out, const struct rb_plan *plan,
    enum rb_plan_format fmt)
{
	char *s;

	switch (fmt) {
	case RB_PLAN_JSON:
		s = json_dumps(plan->json, JSON_INDENT(2) | JSON_SORT_KEYS);
		if (s != NULL) {
			rb_buf_adds(out, s);
			rb_buf_addch(out, '\n');
		}
		free(s);
		break;
	case RB_PLAN_MARKDOWN:
		format_markdown(out, plan->json);
		break;
	case RB_PLAN_DOT:
		format_dot(out, plan->json);
		break;
	default:
		format_text(out, plan->json);
	}
}
