/*
 * model.c - the lifecycle of the immutable runbook, inventory and routes
 * models (model.h): freeing, lookups, param checks, and finding runbook
 * files on the search path (SPEC 4).
 */
#include <sys/stat.h>

#include <stdlib.h>
#include <string.h>

#include "runbook/model.h"
#include "runbook/node.h"
#include "runbook/strvec.h"
#include "paths.h"
#include "runbook/banned.h"

const char *
rb_action_name(enum rb_action a)
{
	switch (a) {
	case RB_ACT_RUN:
		return "run";
	case RB_ACT_CHECK:
		return "check";
	case RB_ACT_HTTP:
		return "http";
	case RB_ACT_TCP:
		return "tcp";
	case RB_ACT_SLEEP:
		return "sleep";
	case RB_ACT_APPROVE:
		return "approve";
	case RB_ACT_NOTIFY:
		return "notify";
	case RB_ACT_RUNBOOK:
		return "runbook";
	case RB_ACT_MANUAL:
		return "manual";
	}
	return "unknown";
}

bool
rb_step_is_readonly(const struct rb_step *s)
{
	switch (s->action) {
	case RB_ACT_CHECK:
	case RB_ACT_TCP:
	case RB_ACT_SLEEP:
		return true;
	case RB_ACT_HTTP:
		return s->http != NULL && s->http->method != NULL &&
		    (strcmp(s->http->method, "GET") == 0 ||
			strcmp(s->http->method, "HEAD") == 0);
	case RB_ACT_RUN:
		return s->readonly;
	default:
		return false;
	}
}

/* ------------------------------------------------------------------ */
/* Freeing */

static void
kv_free(struct rb_kv *kv, size_t n)
{
	size_t i;

	for (i = 0; kv != NULL && i < n; i++) {
		free(kv[i].key);
		rb_tmpl_free(kv[i].value);
	}
	free(kv);
}

static void step_release(struct rb_step *s);

static void
step_free(struct rb_step *s)
{
	if (s == NULL)
		return;
	step_release(s);
	free(s);
}

/* Free everything a step owns (the struct itself is not freed). */
static void
step_release(struct rb_step *s)
{
	size_t i;

	free(s->id);
	free(s->name);
	rb_tmpl_free(s->command);
	if (s->http != NULL) {
		rb_tmpl_free(s->http->url);
		free(s->http->method);
		kv_free(s->http->headers, s->http->nheaders);
		rb_tmpl_free(s->http->body);
		free(s->http->status);
		rb_regex_free(s->http->body_match);
		free(s->http);
	}
	if (s->notify != NULL) {
		rb_tmpl_free(s->notify->url);
		rb_tmpl_free(s->notify->text);
		rb_tmpl_free(s->notify->body);
		kv_free(s->notify->headers, s->notify->nheaders);
		free(s->notify);
	}
	free(s->sub_runbook);
	kv_free(s->with, s->nwith);
	for (i = 0; s->needs != NULL && i < s->nneeds; i++)
		free(s->needs[i]);
	free(s->needs);
	free(s->need_idx);
	rb_expr_free(s->when);
	rb_expr_free(s->until);
	rb_tmpl_free(s->on);
	free(s->expect.exit_codes);
	rb_regex_free(s->expect.stdout_re);
	rb_regex_free(s->expect.stderr_re);
	rb_regex_free(s->expect.not_stdout_re);
	rb_regex_free(s->expect.not_stderr_re);
	for (i = 0; s->captures != NULL && i < s->ncaptures; i++) {
		free(s->captures[i].name);
		rb_regex_free(s->captures[i].re);
		free(s->captures[i].stream);
	}
	free(s->captures);
	step_free(s->rollback);
	kv_free(s->env, s->nenv);
	rb_tmpl_free(s->workdir);
	memset(s, 0, sizeof(*s));
}

static void
steps_free(struct rb_step *v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++)
		step_release(&v[i]);
	free(v);
}

static void
labels_free(struct rb_label *v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++) {
		free(v[i].key);
		free(v[i].value);
	}
	free(v);
}

static void
param_release(struct rb_param *p)
{
	size_t i;

	free(p->name);
	/* A secret's default is as secret as its value. */
	if (p->secret)
		rb_free_secret(p->def);
	else
		free(p->def);
	free(p->pattern_src);
	rb_regex_free(p->pattern);
	for (i = 0; p->enums != NULL && i < p->nenums; i++)
		free(p->enums[i]);
	free(p->enums);
	free(p->env);
	free(p->description);
}

void
rb_runbook_free(struct rb_runbook *rb)
{
	size_t i;

	if (rb == NULL)
		return;
	free(rb->name);
	free(rb->description);
	labels_free(rb->labels, rb->nlabels);
	for (i = 0; rb->params != NULL && i < rb->nparams; i++)
		param_release(&rb->params[i]);
	free(rb->params);
	rb_tmpl_free(rb->on);
	free(rb->window.tz);
	rb_tmpl_free(rb->lock);
	steps_free(rb->steps, rb->nsteps);
	steps_free(rb->on_failure, rb->non_failure);
	free(rb->path);
	rb_yaml_free(rb->doc);
	free(rb);
}

void
rb_inventory_free(struct rb_inventory *inv)
{
	size_t i, j;

	if (inv == NULL)
		return;
	for (i = 0; inv->hosts != NULL && i < inv->nhosts; i++) {
		free(inv->hosts[i].name);
		free(inv->hosts[i].address);
		free(inv->hosts[i].user);
		free(inv->hosts[i].identity);
		free(inv->hosts[i].known_hosts);
	}
	free(inv->hosts);
	for (i = 0; inv->groups != NULL && i < inv->ngroups; i++) {
		free(inv->groups[i].name);
		for (j = 0; j < inv->groups[i].nmembers; j++)
			free(inv->groups[i].members[j]);
		free(inv->groups[i].members);
	}
	free(inv->groups);
	free(inv->path);
	rb_yaml_free(inv->doc);
	free(inv);
}

void
rb_routes_free(struct rb_routes *routes)
{
	struct rb_routes_auth *a;
	size_t i, j;

	if (routes == NULL)
		return;
	free(routes->listen);
	a = &routes->auth;
	free(a->bearer_token_env);
	free(a->basic_user_env);
	free(a->basic_password_env);
	free(a->hmac_secret_env);
	free(a->hmac_header);
	free(a->grafana_secret_env);
	free(a->grafana_timestamp_header);
	for (i = 0; routes->routes != NULL && i < routes->nroutes; i++) {
		struct rb_route *r = &routes->routes[i];

		free(r->name);
		free(r->hook);
		for (j = 0; r->match != NULL && j < r->nmatch; j++) {
			free(r->match[j].label);
			free(r->match[j].value);
			rb_regex_free(r->match[j].re);
		}
		free(r->match);
		free(r->runbook);
		kv_free(r->params, r->nparams);
	}
	free(routes->routes);
	free(routes->path);
	rb_yaml_free(routes->doc);
	free(routes);
}

/* ------------------------------------------------------------------ */
/* Lookups */

const struct rb_step *
rb_runbook_step(const struct rb_runbook *rb, const char *id)
{
	size_t i;

	if (rb == NULL || id == NULL)
		return NULL;
	for (i = 0; i < rb->nsteps; i++)
		if (strcmp(rb->steps[i].id, id) == 0)
			return &rb->steps[i];
	for (i = 0; i < rb->non_failure; i++)
		if (strcmp(rb->on_failure[i].id, id) == 0)
			return &rb->on_failure[i];
	return NULL;
}

const struct rb_param *
rb_runbook_param(const struct rb_runbook *rb, const char *name)
{
	size_t i;

	if (rb == NULL || name == NULL)
		return NULL;
	for (i = 0; i < rb->nparams; i++)
		if (strcmp(rb->params[i].name, name) == 0)
			return &rb->params[i];
	return NULL;
}

int
rb_param_check(
    const struct rb_param *p, const char *value, struct rb_error *err)
{
	struct rb_buf what = RB_BUF_INIT;
	size_t i;
	int r;

	if (p->secret)
		rb_buf_adds(&what, "invalid value");
	else
		rb_buf_addf(&what, "invalid value '%s'", value);
	if (p->nenums > 0) {
		struct rb_buf list = RB_BUF_INIT;

		for (i = 0; i < p->nenums; i++)
			if (strcmp(p->enums[i], value) == 0)
				break;
		if (i == p->nenums) {
			for (i = 0; i < p->nenums; i++)
				rb_buf_addf(
				    &list, "%s%s", i ? ", " : "", p->enums[i]);
			r = rb_error_set(err, RB_EINVAL,
			    "%s for param '%s': not one of %s", what.buf,
			    p->name, list.buf);
			rb_buf_release(&list);
			goto out;
		}
	}
	if (p->pattern != NULL) {
		r = rb_regex_match(p->pattern, value, strlen(value), err);
		if (r < 0)
			goto out;
		if (r == 0) {
			r = rb_error_set(err, RB_EINVAL,
			    "%s for param '%s': it does not match '%s'",
			    what.buf, p->name,
			    p->pattern_src != NULL
				? p->pattern_src
				: rb_regex_source(p->pattern));
			goto out;
		}
	}
	r = 0;
out:
	rb_buf_release(&what);
	return r;
}

const struct rb_host *
rb_inventory_host(const struct rb_inventory *inv, const char *name)
{
	size_t i;

	if (inv == NULL || name == NULL)
		return NULL;
	for (i = 0; i < inv->nhosts; i++)
		if (strcmp(inv->hosts[i].name, name) == 0)
			return &inv->hosts[i];
	return NULL;
}

const struct rb_group *
rb_inventory_group(const struct rb_inventory *inv, const char *name)
{
	size_t i;

	if (inv == NULL || name == NULL)
		return NULL;
	for (i = 0; i < inv->ngroups; i++)
		if (strcmp(inv->groups[i].name, name) == 0)
			return &inv->groups[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Finding runbook files */

void
rb_runbook_search_path(struct rb_strvec *out)
{
	const char *env = getenv("RUNBOOK_PATH");

	rb_strvec_push(out, "runbooks");
	rb_strvec_push(out, "playbooks");
	while (env != NULL && *env != '\0') {
		const char *colon = strchr(env, ':');
		size_t n = colon != NULL ? (size_t)(colon - env) : strlen(env);

		if (n > 0)
			rb_strvec_push_nodup(out, xstrndup(env, n));
		env = colon != NULL ? colon + 1 : NULL;
	}
	/* What `make install` put in place comes last (paths.h). */
	rb_strvec_push(out, RB_DATADIR "/runbooks");
	rb_strvec_push(out, RB_DATADIR "/playbooks");
}

static bool
is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int
rb_runbook_find(char **out, const char *name_or_file, struct rb_error *err)
{
	static const char *const exts[] = { ".yaml", ".yml" };
	struct rb_strvec dirs = RB_STRVEC_INIT;
	struct rb_buf looked = RB_BUF_INIT;
	size_t n = strlen(name_or_file), i, j;
	int r = RB_ENOTFOUND;

	*out = NULL;
	if (n == 0)
		return rb_error_set(err, RB_ENOTFOUND, "empty runbook name");
	if (strchr(name_or_file, '/') != NULL ||
	    (n > 5 && strcmp(name_or_file + n - 5, ".yaml") == 0) ||
	    (n > 4 && strcmp(name_or_file + n - 4, ".yml") == 0)) {
		if (!is_file(name_or_file))
			return rb_error_set(err, RB_ENOTFOUND,
			    "no runbook file '%s'", name_or_file);
		*out = xstrdup(name_or_file);
		return 0;
	}
	rb_runbook_search_path(&dirs);
	for (i = 0; i < dirs.nr && *out == NULL; i++) {
		rb_buf_addf(&looked, "%s%s", i ? ", " : "", dirs.v[i]);
		for (j = 0; j < RB_ARRAY_SIZE(exts); j++) {
			char *path = xstrfmt(
			    "%s/%s%s", dirs.v[i], name_or_file, exts[j]);

			if (is_file(path)) {
				*out = path;
				break;
			}
			free(path);
		}
	}
	if (*out != NULL) {
		r = 0;
		goto out;
	}
	rb_error_set(err, RB_ENOTFOUND, "no runbook named '%s'", name_or_file);
	rb_error_hint(err,
	    "looked for %s.yaml and %s.yml in %s (add "
	    "directories with $RUNBOOK_PATH)",
	    name_or_file, name_or_file, looked.buf);
out:
	rb_strvec_release(&dirs);
	rb_buf_release(&looked);
	return r;
}

int
rb_runbook_find_from(
    char **out, const char *ref, const char *from, struct rb_error *err)
{
	size_t n = strlen(ref);
	const char *slash;
	char *path;

	*out = NULL;
	if (strchr(ref, '/') == NULL &&
	    !(n > 5 && strcmp(ref + n - 5, ".yaml") == 0) &&
	    !(n > 4 && strcmp(ref + n - 4, ".yml") == 0))
		return rb_runbook_find(out, ref, err);
	if (ref[0] == '/' || from == NULL ||
	    (slash = strrchr(from, '/')) == NULL)
		path = xstrdup(ref);
	else
		path = xstrfmt("%.*s/%s", (int)(slash - from), from, ref);
	if (!is_file(path)) {
		rb_error_set(err, RB_ENOTFOUND, "no runbook file '%s'", path);
		rb_error_hint(err,
		    "there is no file '%s' (a path is relative "
		    "to the file that names it)",
		    path);
		free(path);
		return RB_ENOTFOUND;
	}
	*out = path;
	return 0;
}
