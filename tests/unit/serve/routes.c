/* Unit tests for serve/wh_routes.c: matching and param mapping. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "harness.h"
#include "runbook/buf.h"
#include "runbook/error.h"
#include "runbook/model.h"
#include "runbook/webhook.h"

void test_serve_routes__matchers(void);
void test_serve_routes__status_and_hooks(void);
void test_serve_routes__first_match_and_params(void);
void test_serve_routes__rejected_values(void);
void test_serve_routes__permissive_value_kept_exactly(void);
void test_serve_routes__invalid_runbook(void);
void test_serve_routes__lock_key(void);

static void
write_file(const char *rel, const char *text)
{
	struct rb_buf path = RB_BUF_INIT;
	FILE *f;

	rb_buf_addf(&path, "%s/%s", rb_test_tmpdir(), rel);
	f = fopen(path.buf, "w");
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
	rb_buf_release(&path);
}

static const char target_yaml[] =
    "runbook: target\n"
    "params:\n"
    "  host: {pattern: '^[A-Za-z0-9._-]+$'}\n"
    "  level: {enum: [page, ticket], default: ticket}\n"
    "  note: {default: ''}\n"
    "steps: [{id: s, run: 'echo {{ params.host }}'}]\n";

static const char routes_yaml[] =
    "routes:\n"
    "  - name: pg\n"
    "    match: {alertname: PostgresDown, severity: '/^(critical|page)$/'}\n"
    "    runbook: target.yaml\n"
    "    params: {host: '{{ alert.labels.instance | host }}',"
    " level: '{{ alert.labels.level | default(\"page\") }}'}\n"
    "    dedup: 10m\n"
    "  - name: resolved\n"
    "    match: {alertname: PostgresDown}\n"
    "    status: resolved\n"
    "    runbook: target.yaml\n"
    "    params: {host: '{{ alert.labels.instance | host }}'}\n"
    "  - name: any-disk\n"
    "    match: {alertname: DiskFull}\n"
    "    status: any\n"
    "    runbook: target.yaml\n"
    "    params: {host: '{{ alert.labels.instance }}',"
    " note: '{{ alert.annotations.summary }}'}\n"
    "  - name: deploy\n"
    "    hook: deploy\n"
    "    runbook: target.yaml\n"
    "    params: {host: '{{ alert.labels.host }}',"
    " note: '{{ alert.labels.note }}'}\n"
    "  - name: catch-all\n"
    "    runbook: target.yaml\n"
    "    params: {host: 'fallback', note: '{{ alert.fingerprint }}"
    "@{{ alert.starts_at }}'}\n";

static struct rb_routes *
load_routes(const char *yaml)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_routes *rt = NULL;
	struct rb_buf name = RB_BUF_INIT, out = RB_BUF_INIT;

	write_file("target.yaml", target_yaml);
	rb_buf_addf(&name, "%s/routes.yaml", rb_test_tmpdir());
	if (rb_routes_load_buf(&rt, name.buf, yaml, strlen(yaml), &d) != 0) {
		rb_diags_format(&out, &d);
		fprintf(stderr, "%s", out.buf);
	}
	rb_buf_release(&out);
	rb_buf_release(&name);
	rb_diags_release(&d);
	return rt;
}

/* An alert over static label arrays. */
struct fake {
	struct rb_label labels[4];
	struct rb_label ann[1];
	struct rb_alert a;
};

static void
fake_init(struct fake *f, const char *status, const char *alertname,
    const char *severity, const char *instance)
{
	size_t n = 0;

	memset(f, 0, sizeof(*f));
	if (alertname != NULL) {
		f->labels[n].key = (char *)"alertname";
		f->labels[n++].value = (char *)alertname;
	}
	if (instance != NULL) {
		f->labels[n].key = (char *)"instance";
		f->labels[n++].value = (char *)instance;
	}
	if (severity != NULL) {
		f->labels[n].key = (char *)"severity";
		f->labels[n++].value = (char *)severity;
	}
	f->ann[0].key = (char *)"summary";
	f->ann[0].value = (char *)"disk 99% full";
	f->a.status = status;
	f->a.labels = f->labels;
	f->a.nlabels = n;
	f->a.annotations = f->ann;
	f->a.nannotations = 1;
	f->a.fingerprint = "0123456789abcdef";
	f->a.starts_at = "2024-05-01T10:00:00Z";
}

void
test_serve_routes__matchers(void)
{
	struct rb_routes *rt = load_routes(routes_yaml);
	struct rb_error err = RB_ERROR_INIT;
	struct fake f;
	const struct rb_route *pg;

	T_ASSERT(rt != NULL);
	pg = &rt->routes[0];
	fake_init(&f, "firing", "PostgresDown", "critical", "db1:9187");
	T_EQ_INT(rb_wh_route_matches(pg, &f.a, NULL, &err), 1);
	fake_init(&f, "firing", "PostgresDown", "page", "db1:9187");
	T_EQ_INT(rb_wh_route_matches(pg, &f.a, NULL, &err), 1);
	/* The regex is anchored by its author: no partial match. */
	fake_init(&f, "firing", "PostgresDown", "noncritical", "db1:9187");
	T_EQ_INT(rb_wh_route_matches(pg, &f.a, NULL, &err), 0);
	fake_init(&f, "firing", "PostgresUp", "critical", "db1:9187");
	T_EQ_INT(rb_wh_route_matches(pg, &f.a, NULL, &err), 0);
	/* A missing label is "": equality and regex both fail here. */
	fake_init(&f, "firing", "PostgresDown", NULL, "db1:9187");
	T_EQ_INT(rb_wh_route_matches(pg, &f.a, NULL, &err), 0);
	fake_init(&f, "firing", NULL, "critical", "db1:9187");
	T_EQ_INT(rb_wh_route_matches(pg, &f.a, NULL, &err), 0);
	rb_routes_free(rt);
}

void
test_serve_routes__status_and_hooks(void)
{
	struct rb_routes *rt = load_routes(routes_yaml);
	struct rb_error err = RB_ERROR_INIT;
	struct fake f;

	T_ASSERT(rt != NULL);
	fake_init(&f, "resolved", "PostgresDown", "critical", "db1:9187");
	T_EQ_INT(rb_wh_route_matches(&rt->routes[0], &f.a, NULL, &err), 0);
	T_EQ_INT(rb_wh_route_matches(&rt->routes[1], &f.a, NULL, &err), 1);
	fake_init(&f, "firing", "PostgresDown", "critical", "db1:9187");
	T_EQ_INT(rb_wh_route_matches(&rt->routes[1], &f.a, NULL, &err), 0);
	fake_init(&f, "resolved", "DiskFull", NULL, "h");
	T_EQ_INT(rb_wh_route_matches(&rt->routes[2], &f.a, NULL, &err), 1);
	fake_init(&f, "firing", "DiskFull", NULL, "h");
	T_EQ_INT(rb_wh_route_matches(&rt->routes[2], &f.a, NULL, &err), 1);
	/* Hook routes take only their hook; others never take hooks. */
	T_EQ_INT(rb_wh_route_matches(&rt->routes[3], &f.a, NULL, &err), 0);
	T_EQ_INT(rb_wh_route_matches(&rt->routes[3], &f.a, "deploy", &err), 1);
	T_EQ_INT(rb_wh_route_matches(&rt->routes[3], &f.a, "other", &err), 0);
	T_EQ_INT(rb_wh_route_matches(&rt->routes[4], &f.a, "deploy", &err), 0);
	T_EQ_INT(rb_wh_route_matches(&rt->routes[4], &f.a, NULL, &err), 1);
	rb_routes_free(rt);
}

void
test_serve_routes__first_match_and_params(void)
{
	struct rb_routes *rt = load_routes(routes_yaml);
	struct rb_wh_router *r = NULL;
	struct rb_wh_match m = RB_WH_MATCH_INIT;
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct fake f;

	T_ASSERT(rt != NULL);
	T_EQ_INT(rb_wh_router_new(&r, rt, &d, &err), 0);
	fake_init(
	    &f, "firing", "PostgresDown", "critical", "db1.example.org:9187");
	T_EQ_INT(rb_wh_router_route(&m, r, &f.a, NULL, &err), 0);
	T_EQ_STR(m.route->name, "pg");
	T_CONTAINS(m.runbook, "/target.yaml");
	T_ASSERT(m.runbook[0] == '/');
	T_EQ_STR(m.params, "{\"host\":\"db1.example.org\",\"level\":\"page\"}");
	T_EQ_STR(m.dedup_key,
	    "[\"pg\",\"0123456789abcdef\","
	    "\"2024-05-01T10:00:00Z\"]");
	T_EQ_INT(m.window_ms, 600000);
	rb_wh_match_release(&m);

	/* Falls through to the catch-all; templates over alert.* fields. */
	fake_init(&f, "firing", "Other", NULL, NULL);
	T_EQ_INT(rb_wh_router_route(&m, r, &f.a, NULL, &err), 0);
	T_EQ_STR(m.route->name, "catch-all");
	T_EQ_STR(m.params,
	    "{\"host\":\"fallback\",\"note\":"
	    "\"0123456789abcdef@2024-05-01T10:00:00Z\"}");
	T_EQ_INT(m.window_ms, 0);
	rb_wh_match_release(&m);

	/* Annotations. */
	fake_init(&f, "resolved", "DiskFull", NULL, "h1");
	T_EQ_INT(rb_wh_router_route(&m, r, &f.a, NULL, &err), 0);
	T_EQ_STR(m.route->name, "any-disk");
	T_EQ_STR(m.params, "{\"host\":\"h1\",\"note\":\"disk 99% full\"}");
	rb_wh_match_release(&m);

	/* A hook nobody serves: no route. */
	T_EQ_INT(rb_wh_router_route(&m, r, &f.a, "nope", &err), 0);
	T_ASSERT(m.route == NULL);
	T_ASSERT(m.params == NULL);
	rb_wh_router_free(r);
	rb_diags_release(&d);
	rb_routes_free(rt);
}

void
test_serve_routes__rejected_values(void)
{
	struct rb_routes *rt = load_routes(routes_yaml);
	struct rb_wh_router *r = NULL;
	struct rb_wh_match m = RB_WH_MATCH_INIT;
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct fake f;

	T_ASSERT(rt != NULL);
	T_EQ_INT(rb_wh_router_new(&r, rt, &d, &err), 0);
	/* Shell metacharacters fail the host pattern: never queued. */
	fake_init(&f, "firing", "PostgresDown", "critical",
	    "db1;touch /tmp/pwned:9187");
	T_EQ_INT(rb_wh_router_route(&m, r, &f.a, NULL, &err), RB_EINVAL);
	T_ASSERT(m.route != NULL);
	T_EQ_STR(m.route->name, "pg");
	T_ASSERT(m.params == NULL && m.dedup_key == NULL);
	T_CONTAINS(err.msg, "route 'pg'");
	T_CONTAINS(err.msg, "param 'host'");
	rb_wh_match_release(&m);

	/* An empty value (missing label) fails the pattern too. */
	fake_init(&f, "firing", "PostgresDown", "critical", NULL);
	T_EQ_INT(rb_wh_router_route(&m, r, &f.a, NULL, &err), RB_EINVAL);
	rb_wh_match_release(&m);

	/* Enum: level must be page or ticket. */
	{
		struct rb_label l[4] = { { (char *)"alertname",
					     (char *)"PostgresDown" },
			{ (char *)"instance", (char *)"db1:1" },
			{ (char *)"level", (char *)"$(reboot)" },
			{ (char *)"severity", (char *)"page" } };

		f.a.labels = l;
		f.a.nlabels = 4;
		T_EQ_INT(
		    rb_wh_router_route(&m, r, &f.a, NULL, &err), RB_EINVAL);
		T_CONTAINS(err.msg, "param 'level'");
		T_CONTAINS(err.msg, "not one of page, ticket");
		rb_wh_match_release(&m);
	}
	rb_wh_router_free(r);
	rb_diags_release(&d);
	rb_routes_free(rt);
}

void
test_serve_routes__permissive_value_kept_exactly(void)
{
	static const char hostile[] = "zzz\";echo${IFS}\"x\";# $(id) `id` "
				      "'q' {{ env.HOME }} \\ \xc3\xa9 \t\n";
	struct rb_routes *rt = load_routes(routes_yaml);
	struct rb_wh_router *r = NULL;
	struct rb_wh_match m = RB_WH_MATCH_INIT;
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_label l[2] = { { (char *)"host", (char *)"web1" },
		{ (char *)"note", (char *)hostile } };
	struct fake f;
	json_t *j;

	T_ASSERT(rt != NULL);
	T_EQ_INT(rb_wh_router_new(&r, rt, &d, &err), 0);
	fake_init(&f, "firing", NULL, NULL, NULL);
	f.a.labels = l;
	f.a.nlabels = 2;
	T_EQ_INT(rb_wh_router_route(&m, r, &f.a, "deploy", &err), 0);
	T_EQ_STR(m.route->name, "deploy");
	j = json_loads(m.params, 0, NULL);
	T_ASSERT(j != NULL);
	T_EQ_STR(json_string_value(json_object_get(j, "note")), hostile);
	T_EQ_STR(json_string_value(json_object_get(j, "host")), "web1");
	json_decref(j);
	rb_wh_match_release(&m);
	rb_wh_router_free(r);
	rb_diags_release(&d);
	rb_routes_free(rt);
}

void
test_serve_routes__invalid_runbook(void)
{
	struct rb_routes *rt = load_routes(routes_yaml);
	struct rb_wh_router *r = NULL;
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_error err = RB_ERROR_INIT;

	T_ASSERT(rt != NULL);
	/* The runbook broke after the routes file was read. */
	write_file("target.yaml", "runbook: target\nsteps: []\n");
	T_EQ_INT(rb_wh_router_new(&r, rt, &d, &err), RB_EINVAL);
	T_ASSERT(r == NULL);
	T_CONTAINS(err.msg, "route 'pg'");
	T_CONTAINS(err.msg, "has errors");
	T_ASSERT(d.nerrors > 0);
	rb_diags_release(&d);
	rb_routes_free(rt);
	write_file("target.yaml", target_yaml);
}

void
test_serve_routes__lock_key(void)
{
	static const char yaml[] =
	    "routes:\n"
	    "  - name: locked\n"
	    "    runbook: locked.yaml\n"
	    "    params: {host: '{{ alert.labels.host }}'}\n"
	    "  - name: plain\n"
	    "    runbook: target.yaml\n"
	    "    params: {host: '{{ alert.labels.host }}'}\n";
	struct rb_routes *rt;
	struct rb_wh_router *r = NULL;
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_error err = RB_ERROR_INIT;
	struct rb_buf b = RB_BUF_INIT, path = RB_BUF_INIT;
	const struct rb_runbook *rb;
	char *abs;

	write_file("locked.yaml",
	    "runbook: locked\n"
	    "params: {host: {pattern: '^[a-z0-9]+$'}}\n"
	    "lock: 'locked-{{ params.host }}'\n"
	    "steps: [{id: s, run: 'true'}]\n");
	rt = load_routes(yaml);
	T_ASSERT(rt != NULL);
	T_EQ_INT(rb_wh_router_new(&r, rt, &d, &err), 0);
	rb_buf_addf(&path, "%s/locked.yaml", rb_test_tmpdir());
	abs = realpath(path.buf, NULL);
	T_ASSERT(abs != NULL);
	rb = rb_wh_router_runbook(r, abs);
	free(abs);
	T_ASSERT(rb != NULL);
	T_EQ_STR(rb->name, "locked");
	T_ASSERT(rb_wh_router_runbook(r, "/nonexistent.yaml") == NULL);

	T_EQ_INT(rb_wh_lock_key(&b, rb, "{\"host\":\"db1\"}",
		     "{\"labels\":{\"host\":\"db1\"},\"status\":\"firing\"}"),
	    0);
	T_EQ_STR(b.buf, "locked-db1");
	/* A value that would not resolve: the runbook name, to be safe. */
	rb_buf_reset(&b);
	T_EQ_INT(rb_wh_lock_key(&b, rb, "{\"host\":\"DB 1\"}", NULL), 0);
	T_EQ_STR(b.buf, "locked");
	rb_buf_reset(&b);
	T_EQ_INT(rb_wh_lock_key(&b, rb, "not json", NULL), 0);
	T_EQ_STR(b.buf, "locked");
	/* No lock: the runbook's name. */
	rb_buf_reset(&b);
	rb_buf_reset(&path);
	rb_buf_addf(&path, "%s/target.yaml", rb_test_tmpdir());
	abs = realpath(path.buf, NULL);
	T_ASSERT(abs != NULL);
	rb = rb_wh_router_runbook(r, abs);
	free(abs);
	T_ASSERT(rb != NULL);
	T_EQ_INT(rb_wh_lock_key(&b, rb, "{\"host\":\"db1\"}", NULL), 0);
	T_EQ_STR(b.buf, "target");
	rb_buf_release(&b);
	rb_buf_release(&path);
	rb_wh_router_free(r);
	rb_diags_release(&d);
	rb_routes_free(rt);
}
