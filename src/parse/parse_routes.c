/*
 * parse_routes.c - the schema pass for webhook routes files (SPEC 6):
 * listener settings, authentication (secrets only by environment variable
 * name), and routes from alerts to runbooks, each target runbook loaded and
 * its params checked against the route's mapping.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/util.h"
#include "parse/parse_int.h"
#include "runbook/banned.h"

#define DEFAULT_LISTEN "127.0.0.1:9095"
#define DEFAULT_MAX_BODY (1024 * 1024)
#define MAX_MAX_BODY ((size_t)1024 * 1024 * 1024)
#define DEFAULT_MAX_RUNS 4
#define DEFAULT_HMAC_HEADER "X-Hub-Signature-256"

/* A target runbook, loaded once however many routes name it. */
struct target {
	char *ref;	       /* as written */
	struct rb_runbook *rb; /* NULL when missing or invalid */
	int status;
	char *path; /* where it was found, or NULL */
	struct rb_error err;
};

struct rtp {
	struct rb_diags *d;
	struct rb_routes *routes;
	struct target *targets;
	size_t ntargets, talloc;
};

/* ------------------------------------------------------------------ */
/* Listener and auth */

/* host:port or [v6]:port with a port in 1..65535. */
static bool
listen_ok(const char *s)
{
	const char *colon = strrchr(s, ':');
	long long port;

	if (colon == NULL || colon == s)
		return false;
	if (s[0] == '[' && colon[-1] != ']')
		return false;
	if (s[0] != '[' && memchr(s, ':', (size_t)(colon - s)) != NULL)
		return false;
	if (strpbrk(s, " \t\r\n/") != NULL)
		return false;
	return rb_parse_int(&port, colon + 1, 1, 65535) == 0;
}

/* The name of an environment variable that holds a secret. */
static char *
parse_env_ref(struct rtp *p, const struct rb_node *n, const char *key)
{
	char *s = parse_nonempty_str(p->d, n, key);
	struct rb_qbuf qb;

	if (s != NULL && !parse_valid_env_name(s)) {
		rb_diag_error(p->d, &n->loc,
		    "'%s' must name an environment variable, not %s", key,
		    parse_describe(&qb, n));
		rb_diag_hint(p->d,
		    "write the variable's name (like "
		    "RUNBOOK_WEBHOOK_TOKEN), not its value");
		free(s);
		return NULL;
	}
	return s;
}

/* Keys that would put a secret into the file; reported with a hint. */
static bool
literal_secret(struct rtp *p, const struct rb_node *map, const char *key,
    const char *env_key)
{
	const struct rb_node *k = parse_key_node(map, key);

	if (k == NULL)
		return false;
	rb_diag_error(p->d, &k->loc,
	    "secrets cannot be written in the routes file: '%s' is not allowed",
	    key);
	rb_diag_hint(p->d,
	    "put the secret in an environment variable and "
	    "name the variable with '%s'",
	    env_key);
	return true;
}

/*
 * Parse one auth sub-mapping: known keys into v[], literal secret keys
 * reported. forbidden[i] names a literal key and the _env key to use.
 */
static void
parse_auth_map(struct rtp *p, const struct rb_node *n, const char *key,
    struct parse_key *keys, size_t nkeys, const char *const *forbidden,
    size_t nforbidden)
{
	struct parse_key *all;
	const struct rb_node **ignored;
	char where[64];
	size_t i;

	if (!parse_want_map(p->d, n, key))
		return;
	/* Literal secret keys get their own message, not "unknown key". */
	all = xcalloc(nkeys + nforbidden / 2 + 1, sizeof(*all));
	ignored = xcalloc(nforbidden / 2 + 1, sizeof(*ignored));
	memcpy(all, keys, nkeys * sizeof(*all));
	for (i = 0; i + 1 < nforbidden; i += 2) {
		all[nkeys + i / 2].name = forbidden[i];
		all[nkeys + i / 2].value = &ignored[i / 2];
	}
	snprintf(where, sizeof(where), "'%s'", key);
	parse_map(p->d, n, where, all, nkeys + nforbidden / 2);
	for (i = 0; i + 1 < nforbidden; i += 2)
		(void)literal_secret(p, n, forbidden[i], forbidden[i + 1]);
	free(all);
	free(ignored);
}

static void
parse_auth(struct rtp *p, const struct rb_node *n)
{
	enum { A_BEARER, A_BASIC, A_HMAC, A_GRAFANA, A_N };
	static const char *const top_forbidden[] = { "token",
		"bearer_token_env", "bearer_token", "bearer_token_env",
		"secret", "hmac: {secret_env: NAME}", "password",
		"basic: {password_env: NAME}" };
	static const char *const basic_forbidden[] = { "password",
		"password_env" };
	static const char *const hmac_forbidden[] = { "secret", "secret_env",
		"key", "secret_env" };
	static const char *const grafana_forbidden[] = { "secret", "secret_env",
		"token", "secret_env" };
	const struct rb_node *v[A_N];
	struct parse_key keys[A_N] = { { "bearer_token_env", 0, &v[A_BEARER] },
		{ "basic", 0, &v[A_BASIC] }, { "hmac", 0, &v[A_HMAC] },
		{ "grafana", 0, &v[A_GRAFANA] } };
	struct rb_routes_auth *a = &p->routes->auth;

	memset(v, 0, sizeof(v));
	parse_auth_map(p, n, "auth", keys, A_N, top_forbidden,
	    RB_ARRAY_SIZE(top_forbidden));
	if (v[A_BEARER] != NULL)
		a->bearer_token_env =
		    parse_env_ref(p, v[A_BEARER], "bearer_token_env");
	if (v[A_BASIC] != NULL) {
		const struct rb_node *u = NULL, *pw = NULL;
		struct parse_key bk[] = { { "user_env", PARSE_REQUIRED, &u },
			{ "password_env", PARSE_REQUIRED, &pw } };

		parse_auth_map(p, v[A_BASIC], "basic", bk, RB_ARRAY_SIZE(bk),
		    basic_forbidden, RB_ARRAY_SIZE(basic_forbidden));
		if (u != NULL)
			a->basic_user_env = parse_env_ref(p, u, "user_env");
		if (pw != NULL)
			a->basic_password_env =
			    parse_env_ref(p, pw, "password_env");
	}
	if (v[A_HMAC] != NULL) {
		const struct rb_node *sec = NULL, *hdr = NULL;
		struct parse_key hk[] = {
			{ "secret_env", PARSE_REQUIRED, &sec },
			{ "header", 0, &hdr }
		};

		parse_auth_map(p, v[A_HMAC], "hmac", hk, RB_ARRAY_SIZE(hk),
		    hmac_forbidden, RB_ARRAY_SIZE(hmac_forbidden));
		if (sec != NULL)
			a->hmac_secret_env =
			    parse_env_ref(p, sec, "secret_env");
		if (hdr != NULL)
			a->hmac_header =
			    parse_nonempty_str(p->d, hdr, "header");
		if (a->hmac_header == NULL)
			a->hmac_header = xstrdup(DEFAULT_HMAC_HEADER);
	}
	if (v[A_GRAFANA] != NULL) {
		const struct rb_node *sec = NULL, *ts = NULL;
		struct parse_key gk[] = {
			{ "secret_env", PARSE_REQUIRED, &sec },
			{ "timestamp_header", 0, &ts }
		};

		parse_auth_map(p, v[A_GRAFANA], "grafana", gk,
		    RB_ARRAY_SIZE(gk), grafana_forbidden,
		    RB_ARRAY_SIZE(grafana_forbidden));
		if (sec != NULL)
			a->grafana_secret_env =
			    parse_env_ref(p, sec, "secret_env");
		if (ts != NULL)
			a->grafana_timestamp_header =
			    parse_nonempty_str(p->d, ts, "timestamp_header");
	}
}

/* ------------------------------------------------------------------ */
/* Routes */

/* Route params may use alert.* only (rb_resolve_fn; payload: rtp). */
static int
resolve_route_name(
    enum rb_type *out, const struct rb_name_ref *ref, void *payload)
{
	struct rtp *p = payload;
	static const char *const namespaces[] = { "alert", "params", "env",
		"steps", "run", "host" };

	*out = RB_TYPE_STR;
	if (ref->npath > 0 && strcmp(ref->path[0], "alert") == 0)
		return parse_check_alert_ref(p->d, ref);
	if (ref->npath > 0 &&
	    parse_in_list(
		ref->path[0], namespaces, RB_ARRAY_SIZE(namespaces))) {
		struct rb_buf name = RB_BUF_INIT;

		parse_ref_name(&name, ref);
		rb_diag_error(p->d, &ref->loc,
		    "'%s' cannot be used in route "
		    "params: only alert.* names can",
		    name.buf);
		rb_diag_hint(p->d,
		    "a route fills the runbook's params from "
		    "the alert that matched");
		rb_buf_release(&name);
		return RB_ENOTFOUND;
	}
	return parse_unknown_name(p->d, ref, namespaces, 1, 0,
	    "route params "
	    "use alert.status, alert.labels.NAME, alert.annotations.NAME, "
	    "alert.fingerprint and alert.starts_at");
}

/* The target runbook of a route, loaded on first use. */
static struct target *
get_target(struct rtp *p, const char *ref)
{
	struct rb_diags scratch = RB_DIAGS_INIT;
	struct target *t;
	size_t i;

	for (i = 0; i < p->ntargets; i++)
		if (strcmp(p->targets[i].ref, ref) == 0)
			return &p->targets[i];
	RB_ALLOC_GROW(p->targets, p->ntargets + 1, p->talloc);
	t = &p->targets[p->ntargets++];
	memset(t, 0, sizeof(*t));
	t->ref = xstrdup(ref);
	t->status =
	    rb_runbook_find_from(&t->path, ref, p->routes->path, &t->err);
	if (t->status == 0)
		t->status = rb_runbook_load(&t->rb, t->path, 0, &scratch);
	rb_diags_release(&scratch);
	return t;
}

/* Check the route's params against the params its runbook declares. */
static void
check_route_params(struct rtp *p, const struct rb_route *r,
    const struct rb_node *rbnode, const char *where)
{
	const struct rb_runbook *rb;
	struct target *t = get_target(p, r->runbook);
	const char **names;
	struct rb_qbuf qa, qb;
	size_t i, j;

	if (t->status == RB_ENOTFOUND || (t->status != 0 && t->path == NULL)) {
		parse_report_missing_runbook(p->d, rbnode, r->runbook, &t->err);
		return;
	}
	if (t->status != 0 || t->rb == NULL) {
		rb_diag_error(p->d, &rbnode->loc, "runbook '%s' has errors",
		    rb_qstr(&qa, r->runbook, strlen(r->runbook)));
		rb_diag_hint(
		    p->d, "run 'runbook validate %s' to see them", t->path);
		return;
	}
	rb = t->rb;
	rb_qstr(&qa, rb->name, strlen(rb->name));
	names = xcalloc(rb->nparams + 1, sizeof(*names));
	for (i = 0; i < rb->nparams; i++)
		names[i] = rb->params[i].name;
	for (i = 0; i < r->nparams; i++) {
		struct rb_buf msg = RB_BUF_INIT;

		if (rb_runbook_param(rb, r->params[i].key) != NULL)
			continue;
		rb_buf_addf(&msg, "runbook '%s' has no param '%s'", qa.s,
		    rb_qstr(&qb, r->params[i].key, strlen(r->params[i].key)));
		parse_suggest(&msg, r->params[i].key, names, rb->nparams);
		rb_diag_error(p->d, &r->params[i].loc, "%s", msg.buf);
		rb_buf_reset(&msg);
		for (j = 0; j < rb->nparams; j++)
			rb_buf_addf(&msg, "%s%s", j ? ", " : "", names[j]);
		if (rb->nparams > 0)
			rb_diag_hint(p->d, "its params are: %s", msg.buf);
		else
			rb_diag_hint(p->d, "it declares no params");
		rb_buf_release(&msg);
	}
	for (i = 0; i < rb->nparams; i++) {
		const struct rb_param *pa = &rb->params[i];

		if (!pa->required || pa->def != NULL || pa->env != NULL)
			continue;
		for (j = 0; j < r->nparams; j++)
			if (strcmp(r->params[j].key, pa->name) == 0)
				break;
		if (j < r->nparams)
			continue;
		rb_diag_error(p->d, &rbnode->loc,
		    "runbook '%s' needs param "
		    "'%s': map it under 'params' of %s",
		    qa.s, rb_qstr(&qb, pa->name, strlen(pa->name)), where);
	}
	free(names);
}

/* label: value, or label: '/regex/'. */
static void
parse_match(struct rtp *p, struct rb_route *r, const struct rb_node *n)
{
	size_t i;

	if (!parse_want_map(p->d, n, "match"))
		return;
	r->match = xcalloc(n->npairs + 1, sizeof(*r->match));
	for (i = 0; i < n->npairs; i++) {
		const struct rb_node *k = n->pairs[i].key;
		const struct rb_node *v = n->pairs[i].value;
		struct rb_route_match *m = &r->match[r->nmatch];
		struct rb_qbuf qb;
		char *val;

		if (!parse_valid_env_name(k->str) || strlen(k->str) != k->len) {
			rb_diag_error(p->d, &k->loc,
			    "invalid label name '%s' in 'match'",
			    rb_qstr(&qb, k->str, k->len));
			rb_diag_hint(p->d,
			    "label names use letters, digits "
			    "and '_', not starting with a digit");
			continue;
		}
		if (v->kind == RB_NODE_SCALAR && rb_node_is_null(v))
			val = xstrdup("");
		else if ((val = parse_str(p->d, v, k->str, NULL)) == NULL)
			continue;
		if (val[0] == '/' && strlen(val) >= 2 &&
		    parse_regex(p->d, v, k->str, true, &m->re) != 0) {
			free(val);
			continue;
		}
		m->label = xstrndup(k->str, k->len);
		if (m->re == NULL)
			m->value = val;
		else
			free(val);
		m->loc = k->loc;
		r->nmatch++;
	}
}

static void
parse_route(
    struct rtp *p, struct rb_route *r, const struct rb_node *n, size_t pos)
{
	enum {
		R_NAME,
		R_HOOK,
		R_MATCH,
		R_STATUS,
		R_RUNBOOK,
		R_PARAMS,
		R_DEDUP,
		R_N
	};
	const struct rb_node *v[R_N];
	const struct parse_key keys[R_N] = { { "name", 0, &v[R_NAME] },
		{ "hook", 0, &v[R_HOOK] }, { "match", 0, &v[R_MATCH] },
		{ "status", 0, &v[R_STATUS] },
		{ "runbook", PARSE_REQUIRED, &v[R_RUNBOOK] },
		{ "params", 0, &v[R_PARAMS] }, { "dedup", 0, &v[R_DEDUP] } };
	char where[160];
	struct rb_qbuf qb;
	size_t i;

	r->loc = n->loc;
	r->status = RB_ROUTE_FIRING;
	if (n->kind != RB_NODE_MAP) {
		rb_diag_error(p->d, &n->loc,
		    "route %zu must be a mapping, not %s", pos + 1,
		    parse_describe(&qb, n));
		return;
	}
	if ((v[R_NAME] = rb_node_get(n, "name")) != NULL) {
		r->name = parse_nonempty_str(p->d, v[R_NAME], "name");
		if (r->name != NULL && !parse_valid_id(r->name)) {
			rb_diag_error(p->d, &v[R_NAME]->loc,
			    "invalid route name '%s'",
			    rb_qstr(&qb, r->name, strlen(r->name)));
			rb_diag_hint(p->d,
			    "use a-z, 0-9, '_' and '-', "
			    "starting with a letter or digit");
		}
	}
	if (r->name != NULL)
		snprintf(where, sizeof(where), "route '%s'",
		    rb_qstr(&qb, r->name, strlen(r->name)));
	else
		snprintf(where, sizeof(where), "route %zu", pos + 1);
	if (v[R_NAME] == NULL)
		rb_diag_error(p->d, &n->loc, "%s has no 'name'", where);
	parse_map(p->d, n, where, keys, R_N);
	if (v[R_HOOK] != NULL) {
		r->hook = parse_nonempty_str(p->d, v[R_HOOK], "hook");
		if (r->hook != NULL && !parse_valid_id(r->hook)) {
			rb_diag_error(p->d, &v[R_HOOK]->loc,
			    "invalid hook name '%s'",
			    rb_qstr(&qb, r->hook, strlen(r->hook)));
			rb_diag_hint(p->d,
			    "it becomes the URL path "
			    "/hooks/NAME: use a-z, 0-9, '_' and '-'");
		}
	}
	if (v[R_MATCH] != NULL)
		parse_match(p, r, v[R_MATCH]);
	if (v[R_STATUS] != NULL) {
		char *st = parse_nonempty_str(p->d, v[R_STATUS], "status");

		if (st != NULL && strcmp(st, "firing") == 0)
			r->status = RB_ROUTE_FIRING;
		else if (st != NULL && strcmp(st, "resolved") == 0)
			r->status = RB_ROUTE_RESOLVED;
		else if (st != NULL && strcmp(st, "any") == 0)
			r->status = RB_ROUTE_ANY;
		else if (st != NULL)
			rb_diag_error(p->d, &v[R_STATUS]->loc,
			    "'status' must be firing, resolved or any, not %s",
			    parse_describe(&qb, v[R_STATUS]));
		free(st);
	}
	if (v[R_RUNBOOK] != NULL)
		r->runbook = parse_nonempty_str(p->d, v[R_RUNBOOK], "runbook");
	if (v[R_PARAMS] != NULL) {
		(void)parse_kv_map(p->d, v[R_PARAMS], "params", false,
		    &r->params, &r->nparams);
		for (i = 0; i < r->nparams; i++)
			(void)rb_tmpl_check(
			    r->params[i].value, resolve_route_name, p, p->d);
	}
	if (v[R_DEDUP] != NULL)
		(void)parse_duration(p->d, v[R_DEDUP], "dedup", &r->dedup_ms);
	if (r->runbook != NULL)
		check_route_params(p, r, v[R_RUNBOOK], where);
}

static void
parse_route_list(struct rtp *p, const struct rb_node *n)
{
	struct rb_routes *rt = p->routes;
	size_t i, j;

	if (!parse_want_seq(p->d, n, "routes"))
		return;
	if (n->nitems == 0) {
		rb_diag_warn(p->d, &n->loc,
		    "'routes' is empty: no alert will start a runbook");
		return;
	}
	rt->routes = xcalloc(n->nitems, sizeof(*rt->routes));
	rt->nroutes = n->nitems;
	for (i = 0; i < n->nitems; i++)
		parse_route(p, &rt->routes[i], n->items[i], i);
	for (i = 1; i < rt->nroutes; i++) {
		const struct rb_route *r = &rt->routes[i];

		if (r->name == NULL)
			continue;
		for (j = 0; j < i; j++) {
			struct rb_qbuf qb;

			if (rt->routes[j].name == NULL ||
			    strcmp(rt->routes[j].name, r->name) != 0)
				continue;
			rb_diag_error(p->d,
			    &rb_node_get(n->items[i], "name")->loc,
			    "duplicate route name '%s' (first at line %d)",
			    rb_qstr(&qb, r->name, strlen(r->name)),
			    rb_node_get(n->items[j], "name")->loc.line);
			break;
		}
	}
}

static void
parse_routes(struct rtp *p, const struct rb_node *root)
{
	enum { T_LISTEN, T_AUTH, T_MAX_BODY, T_MAX_RUNS, T_ROUTES, T_N };
	const struct rb_node *v[T_N];
	const struct parse_key keys[T_N] = { { "listen", 0, &v[T_LISTEN] },
		{ "auth", 0, &v[T_AUTH] }, { "max_body", 0, &v[T_MAX_BODY] },
		{ "max_runs", 0, &v[T_MAX_RUNS] },
		{ "routes", PARSE_REQUIRED, &v[T_ROUTES] } };
	struct rb_routes *rt = p->routes;
	struct rb_qbuf qb;
	long long n;

	if (root->kind != RB_NODE_MAP) {
		rb_diag_error(p->d, &root->loc,
		    "a routes file must be a mapping, not %s",
		    parse_describe(&qb, root));
		rb_diag_hint(
		    p->d, "start with 'listen:', 'auth:' and 'routes:'");
		return;
	}
	parse_map(p->d, root, NULL, keys, T_N);
	if (v[T_LISTEN] != NULL) {
		char *l = parse_nonempty_str(p->d, v[T_LISTEN], "listen");

		if (l != NULL && !listen_ok(l)) {
			rb_diag_error(p->d, &v[T_LISTEN]->loc,
			    "'listen' must "
			    "be HOST:PORT like 127.0.0.1:9095, not %s",
			    parse_describe(&qb, v[T_LISTEN]));
			free(l);
			l = NULL;
		}
		if (l != NULL) {
			free(rt->listen);
			rt->listen = l;
		}
	}
	if (v[T_AUTH] != NULL)
		parse_auth(p, v[T_AUTH]);
	else {
		rb_diag_warn(p->d, &root->loc,
		    "no 'auth': anyone who can "
		    "reach the listener can start runbooks");
		rb_diag_hint(p->d,
		    "add 'auth: {bearer_token_env: NAME}' or "
		    "an hmac or grafana signature");
	}
	if (v[T_MAX_BODY] != NULL &&
	    parse_size(p->d, v[T_MAX_BODY], "max_body", MAX_MAX_BODY,
		&rt->max_body) == 0 &&
	    rt->max_body == 0) {
		rb_diag_error(p->d, &v[T_MAX_BODY]->loc,
		    "'max_body' must be more than 0 bytes");
		rt->max_body = DEFAULT_MAX_BODY;
	}
	if (v[T_MAX_RUNS] != NULL &&
	    parse_int(p->d, v[T_MAX_RUNS], "max_runs", 1, 1000, &n) == 0)
		rt->max_runs = (int)n;
	if (v[T_ROUTES] != NULL)
		parse_route_list(p, v[T_ROUTES]);
}

int
rb_routes_load_buf(struct rb_routes **out, const char *name, const char *data,
    size_t len, struct rb_diags *diags)
{
	struct rb_yaml_doc *doc = NULL;
	struct rb_routes *rt = NULL;
	struct rtp p;
	size_t before = diags->nerrors, i;
	int r;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	if ((r = rb_yaml_load_buf(&doc, name, data, len, diags)) != 0)
		goto out;
	rt = xcalloc(1, sizeof(*rt));
	rt->doc = doc;
	rt->path = xstrdup(rb_yaml_name(doc));
	rt->listen = xstrdup(DEFAULT_LISTEN);
	rt->max_body = DEFAULT_MAX_BODY;
	rt->max_runs = DEFAULT_MAX_RUNS;
	p.d = diags;
	p.routes = rt;
	if (rb_yaml_root(doc) == NULL) {
		struct rb_loc loc = { rb_yaml_name(doc), 0, 0 };

		rb_diag_error(diags, &loc, "the file is empty");
		rb_diag_hint(diags, "a routes file needs 'routes:'");
	} else
		parse_routes(&p, rb_yaml_root(doc));
	if (diags->nerrors > before) {
		r = RB_EINVAL;
		goto out;
	}
	*out = rt;
	rt = NULL;
	r = 0;
out:
	for (i = 0; i < p.ntargets; i++) {
		free(p.targets[i].ref);
		free(p.targets[i].path);
		rb_runbook_free(p.targets[i].rb);
	}
	free(p.targets);
	rb_routes_free(rt);
	return r;
}

int
rb_routes_load(struct rb_routes **out, const char *path, struct rb_diags *diags)
{
	struct rb_buf buf = RB_BUF_INIT;
	int r;

	*out = NULL;
	if ((r = rb_file_read(&buf, path, diags)) == 0)
		r = rb_routes_load_buf(out, path, buf.buf, buf.len, diags);
	rb_buf_release(&buf);
	return r;
}
