/*
 * wh_routes.c - from an alert to a run: the first route whose hook, status
 * and label matchers take the alert, its params rendered over alert.* as
 * plain values, and every rendered value checked against the target
 * runbook's declared pattern and enum before anything is queued.
 *
 * Alert data is attacker-influenced: a value that fails its param's check
 * is rejected here and never reaches the queue, let alone a shell.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "runbook/params.h"
#include "runbook/plan.h"
#include "runbook/webhook.h"
#include "runbook/banned.h"

/* A target runbook, loaded once however many routes name it. */
struct target {
	char *path; /* absolute */
	struct rb_runbook *rb;
};

struct rb_wh_router {
	const struct rb_routes *routes; /* borrowed */
	struct target *targets;
	size_t ntargets, talloc;
	size_t *route_target; /* per route: index into targets */
};

void
rb_wh_router_free(struct rb_wh_router *rt)
{
	size_t i;

	if (rt == NULL)
		return;
	for (i = 0; i < rt->ntargets; i++) {
		free(rt->targets[i].path);
		rb_runbook_free(rt->targets[i].rb);
	}
	free(rt->targets);
	free(rt->route_target);
	free(rt);
}

/* Find or load the runbook route r names; sets *out_idx. */
static int
load_target(size_t *out_idx, struct rb_wh_router *rt, const struct rb_route *r,
    struct rb_diags *diags, struct rb_error *err)
{
	struct rb_error ferr = RB_ERROR_INIT;
	struct rb_runbook *rb = NULL;
	char *found = NULL, *abs = NULL;
	size_t i;
	int ret;

	if ((ret = rb_runbook_find_from(
		 &found, r->runbook, rt->routes->path, &ferr)) != 0) {
		rb_error_set(err, ret, "route '%s': %s", r->name, ferr.msg);
		if (ferr.hint[0] != '\0')
			rb_error_hint(err, "%s", ferr.hint);
		goto out;
	}
	if ((abs = realpath(found, NULL)) == NULL)
		abs = xstrdup(found);
	for (i = 0; i < rt->ntargets; i++) {
		if (strcmp(rt->targets[i].path, abs) == 0) {
			*out_idx = i;
			ret = 0;
			goto out;
		}
	}
	if ((ret = rb_runbook_load(
		 &rb, abs, RB_RUNBOOK_LOAD_CHECK_SUBRUNBOOKS, diags)) != 0) {
		rb_error_set(err, RB_EINVAL,
		    "route '%s': runbook '%s' has errors", r->name, abs);
		rb_error_hint(err,
		    "fix them ('runbook validate %s'); serve "
		    "refuses to start with an invalid runbook",
		    abs);
		ret = RB_EINVAL;
		goto out;
	}
	RB_ALLOC_GROW(rt->targets, rt->ntargets + 1, rt->talloc);
	rt->targets[rt->ntargets].path = abs;
	rt->targets[rt->ntargets].rb = rb;
	*out_idx = rt->ntargets++;
	abs = NULL;
	ret = 0;
out:
	free(found);
	free(abs);
	return ret;
}

int
rb_wh_router_new(struct rb_wh_router **out, const struct rb_routes *routes,
    struct rb_diags *diags, struct rb_error *err)
{
	struct rb_wh_router *rt = xcalloc(1, sizeof(*rt));
	size_t i, j;
	int r;

	rt->routes = routes;
	rt->route_target =
	    xcalloc(routes->nroutes + 1, sizeof(*rt->route_target));
	for (i = 0; i < routes->nroutes; i++) {
		const struct rb_route *ro = &routes->routes[i];
		const struct rb_runbook *rb;

		if ((r = load_target(
			 &rt->route_target[i], rt, ro, diags, err)) != 0)
			goto out;
		rb = rt->targets[rt->route_target[i]].rb;
		for (j = 0; j < ro->nparams; j++) {
			if (rb_runbook_param(rb, ro->params[j].key) != NULL)
				continue;
			r = rb_error_set(err, RB_EINVAL,
			    "route '%s': runbook '%s' has no param '%s'",
			    ro->name, rb->name, ro->params[j].key);
			goto out;
		}
	}
	*out = rt;
	rt = NULL;
	r = 0;
out:
	rb_wh_router_free(rt);
	return r;
}

/* The value of label key, or "" when the alert has no such label. */
static const char *
label_or_empty(const struct rb_alert *a, const char *key)
{
	size_t i;

	for (i = 0; i < a->nlabels; i++)
		if (strcmp(a->labels[i].key, key) == 0)
			return a->labels[i].value;
	return "";
}

int
rb_wh_route_matches(const struct rb_route *r, const struct rb_alert *a,
    const char *hook, struct rb_error *err)
{
	const char *st = a->status != NULL ? a->status : "firing";
	size_t i;
	int m;

	if ((r->hook == NULL) != (hook == NULL))
		return 0;
	if (r->hook != NULL && strcmp(r->hook, hook) != 0)
		return 0;
	if ((r->status == RB_ROUTE_FIRING && strcmp(st, "firing") != 0) ||
	    (r->status == RB_ROUTE_RESOLVED && strcmp(st, "resolved") != 0))
		return 0;
	for (i = 0; i < r->nmatch; i++) {
		const struct rb_route_match *mt = &r->match[i];
		const char *v = label_or_empty(a, mt->label);

		if (mt->re == NULL) {
			if (strcmp(v, mt->value) != 0)
				return 0;
			continue;
		}
		if ((m = rb_regex_match(mt->re, v, strlen(v), err)) < 0) {
			rb_error_set(err, m,
			    "route '%s': matcher '%s' hit the "
			    "regex match limit",
			    r->name, mt->label);
			return m;
		}
		if (m == 0)
			return 0;
	}
	return 1;
}

void
rb_wh_match_release(struct rb_wh_match *m)
{
	struct rb_wh_match init = RB_WH_MATCH_INIT;

	if (m == NULL)
		return;
	free(m->params);
	free(m->dedup_key);
	*m = init;
}

/* Render route r's params for alert a into a JSON object text. */
static int
render_params(char **out, const struct rb_route *r, const struct rb_runbook *rb,
    const struct rb_alert *a, struct rb_error *err)
{
	struct rb_params none = RB_PARAMS_INIT;
	struct rb_scope sc;
	struct rb_tmpl_ctx ctx;
	struct rb_buf v = RB_BUF_INIT;
	struct rb_error e = RB_ERROR_INIT;
	json_t *obj = json_object(), *js;
	size_t i;
	int ret;

	memset(&sc, 0, sizeof(sc));
	sc.rb = rb;
	sc.params = &none;
	sc.alert = a;
	sc.trigger = "webhook";
	ctx.lookup = rb_scope_lookup;
	ctx.payload = &sc;
	ctx.flags = 0; /* values, not shell text */
	ctx.secret_env = NULL;
	for (i = 0; i < r->nparams; i++) {
		const struct rb_kv *kv = &r->params[i];
		const struct rb_param *p = rb_runbook_param(rb, kv->key);

		rb_buf_reset(&v);
		rb_error_clear(&e);
		ret = rb_tmpl_render(&v, kv->value, &ctx, NULL, &e);
		if (ret != 0) {
			rb_error_set(err, ret, "route '%s': param '%s': %s",
			    r->name, kv->key, e.msg);
			goto out;
		}
		if (p == NULL) {
			ret = rb_error_set(err, RB_EINVAL,
			    "route '%s': runbook '%s' has no param '%s'",
			    r->name, rb->name, kv->key);
			goto out;
		}
		if (memchr(v.buf, '\0', v.len) != NULL) {
			ret = rb_error_set(err, RB_EINVAL,
			    "route '%s': param '%s' contains a NUL byte",
			    r->name, kv->key);
			goto out;
		}
		if ((ret = rb_param_check(p, v.buf, &e)) != 0) {
			rb_error_set(err,
			    ret == RB_ETOOBIG ? RB_ETOOBIG : RB_EINVAL,
			    "route '%s': %s", r->name, e.msg);
			ret = err->code;
			goto out;
		}
		if ((js = json_stringn(v.buf, v.len)) == NULL) {
			ret = rb_error_set(err, RB_EINVAL,
			    "route '%s': param '%s' is not valid UTF-8",
			    r->name, kv->key);
			goto out;
		}
		json_object_set_new(obj, kv->key, js);
	}
	if ((*out = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		RB_BUG("cannot serialise route params");
	ret = 0;
out:
	json_decref(obj);
	rb_buf_release(&v);
	return ret;
}

/* ["route","fingerprint","startsAt"]: unambiguous whatever the bytes. */
static char *
dedup_key(const struct rb_route *r, const struct rb_alert *a)
{
	json_t *k = json_array();
	char *s;

	json_array_append_new(k, json_string(r->name));
	json_array_append_new(
	    k, json_string(a->fingerprint != NULL ? a->fingerprint : ""));
	json_array_append_new(
	    k, json_string(a->starts_at != NULL ? a->starts_at : ""));
	s = json_dumps(k, JSON_COMPACT);
	json_decref(k);
	if (s == NULL)
		RB_BUG("cannot serialise a dedup key");
	return s;
}

int
rb_wh_router_route(struct rb_wh_match *out, const struct rb_wh_router *rt,
    const struct rb_alert *a, const char *hook, struct rb_error *err)
{
	struct rb_wh_match m = RB_WH_MATCH_INIT;
	const struct target *t;
	size_t i;
	int r;

	for (i = 0; i < rt->routes->nroutes; i++) {
		m.route = &rt->routes->routes[i];
		if ((r = rb_wh_route_matches(m.route, a, hook, err)) < 0)
			goto out;
		if (r == 1)
			break;
	}
	if (i == rt->routes->nroutes) {
		m.route = NULL;
		r = 0;
		goto out;
	}
	t = &rt->targets[rt->route_target[i]];
	m.runbook = t->path;
	m.window_ms = m.route->dedup_ms;
	if ((r = render_params(&m.params, m.route, t->rb, a, err)) != 0)
		goto out;
	m.dedup_key = dedup_key(m.route, a);
	r = 0;
out:
	if (r != 0) {
		const struct rb_route *keep = m.route;

		rb_wh_match_release(&m);
		m.route = keep;
	}
	*out = m;
	return r;
}

const struct rb_runbook *
rb_wh_router_runbook(const struct rb_wh_router *rt, const char *path)
{
	size_t i;

	for (i = 0; path != NULL && i < rt->ntargets; i++)
		if (strcmp(rt->targets[i].path, path) == 0)
			return rt->targets[i].rb;
	return NULL;
}

/* A JSON object of strings as labels (owned copies), sorted as parsed. */
static struct rb_label *
labels_of(const json_t *obj, size_t *out_n)
{
	struct rb_label *l = xcalloc(json_object_size(obj) + 1, sizeof(*l));
	const char *key;
	json_t *v;
	size_t n = 0;

	json_object_foreach((json_t *)obj, key, v)
	{
		if (!json_is_string(v))
			continue;
		l[n].key = xstrdup(key);
		l[n].value = xstrdup(json_string_value(v));
		n++;
	}
	*out_n = n;
	return l;
}

static void
labels_release(struct rb_label *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(l[i].key);
		free(l[i].value);
	}
	free(l);
}

int
rb_wh_lock_key(struct rb_buf *out, const struct rb_runbook *rb,
    const char *params_json, const char *alert_json)
{
	struct rb_params params = RB_PARAMS_INIT;
	struct rb_diags diags = RB_DIAGS_INIT;
	struct rb_strvec kv = RB_STRVEC_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_alert alert;
	struct rb_label *labels = NULL, *ann = NULL;
	struct rb_buf key = RB_BUF_INIT;
	struct rb_scope sc;
	json_t *p = NULL, *a = NULL, *v;
	const char *k;
	int r;

	memset(&alert, 0, sizeof(alert));
	if (rb->lock == NULL)
		goto fallback;
	p = json_loads(params_json != NULL ? params_json : "{}", 0, NULL);
	json_object_foreach(p, k, v) if (json_is_string(v))
	    rb_strvec_pushf(&kv, "%s=%s", k, json_string_value(v));
	if (rb_params_resolve(
		&params, rb, (const char *const *)kv.v, kv.nr, &diags) != 0)
		goto fallback;
	if (alert_json != NULL &&
	    (a = json_loads(alert_json, 0, NULL)) != NULL) {
		labels =
		    labels_of(json_object_get(a, "labels"), &alert.nlabels);
		ann = labels_of(
		    json_object_get(a, "annotations"), &alert.nannotations);
		alert.labels = labels;
		alert.annotations = ann;
		alert.status = json_string_value(json_object_get(a, "status"));
		alert.fingerprint =
		    json_string_value(json_object_get(a, "fingerprint"));
		alert.starts_at =
		    json_string_value(json_object_get(a, "starts_at"));
	}
	memset(&sc, 0, sizeof(sc));
	sc.rb = rb;
	sc.params = &params;
	sc.alert = a != NULL ? &alert : NULL;
	sc.trigger = "webhook";
	if (rb_render_text(&key, rb->lock, &sc, false, &err) != 0)
		goto fallback;
	r = rb_buf_add(out, key.buf, key.len);
	goto out;
fallback:
	r = rb_buf_adds(out, rb->name);
out:
	rb_buf_release_secret(&key);
	labels_release(labels, alert.nlabels);
	labels_release(ann, alert.nannotations);
	json_decref(p);
	json_decref(a);
	rb_params_release(&params);
	rb_diags_release(&diags);
	rb_strvec_release_secret(&kv);
	return r;
}
