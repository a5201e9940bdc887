/* Unit tests for parse/parse_routes.c: webhook routes files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "runbook/buf.h"
#include "runbook/error.h"
#include "runbook/model.h"

void test_parse_routes__spec_example(void);
void test_parse_routes__defaults(void);
void test_parse_routes__auth(void);
void test_parse_routes__literal_secrets(void);
void test_parse_routes__errors(void);
void test_parse_routes__target_params(void);

/* Write a file under the scratch directory. */
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

/*
 * Load yaml as routes.yaml in the scratch directory (so relative runbook
 * paths resolve there); return the sorted diagnostics with the directory
 * taken out of file names.
 */
static char *
diags_of(const char *yaml, struct rb_routes **keep)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_routes *rt = NULL;
	struct rb_buf out = RB_BUF_INIT, name = RB_BUF_INIT;
	size_t i, n = strlen(rb_test_tmpdir());
	int r;

	write_file("target.yaml", "runbook: target\nparams:\n"
	    "  host: {}\n  port: {default: '5432'}\n  pw: {env: PGPW}\n"
	    "steps: [{id: s, run: 'echo {{ params.host }}'}]\n");
	write_file("broken.yaml", "runbook: broken\n");
	rb_buf_addf(&name, "%s/routes.yaml", rb_test_tmpdir());
	r = rb_routes_load_buf(&rt, name.buf, yaml, strlen(yaml), &d);
	if ((r == 0) != (rt != NULL))
		rb_buf_adds(&out, "BUG: result and model disagree\n");
	rb_diags_sort(&d);
	for (i = 0; i < d.nr; i++) {
		if (d.v[i].file != NULL &&
		    strncmp(d.v[i].file, rb_test_tmpdir(), n) == 0)
			memmove(d.v[i].file, d.v[i].file + n + 1,
			    strlen(d.v[i].file + n + 1) + 1);
		if (d.v[i].hint != NULL &&
		    strstr(d.v[i].hint, rb_test_tmpdir()) != NULL) {
			free(d.v[i].hint);
			d.v[i].hint = strdup("(path)");
		}
	}
	rb_diags_format(&out, &d);
	rb_diags_release(&d);
	rb_buf_release(&name);
	if (keep != NULL)
		*keep = rt;
	else
		rb_routes_free(rt);
	return rb_buf_detach(&out, NULL);
}

void
test_parse_routes__spec_example(void)
{
	struct rb_routes *rt = NULL;
	const struct rb_route *r;
	char *got = diags_of("listen: 127.0.0.1:9095\n"
	    "auth:\n  bearer_token_env: RUNBOOK_WEBHOOK_TOKEN\n"
	    "max_body: 1MiB\n"
	    "routes:\n"
	    "  - name: pg-down\n"
	    "    match: {alertname: PostgresDown, severity: "
	    "'/critical|page/'}\n"
	    "    status: firing\n"
	    "    runbook: target.yaml\n"
	    "    params: {host: \"{{ alert.labels.instance | host }}\"}\n"
	    "    dedup: 10m\n"
	    "  - {name: generic, hook: deploys, status: any, "
	    "runbook: ./target.yaml, params: {host: x}}\n", &rt);

	T_EQ_STR(got, "");
	free(got);
	T_ASSERT(rt != NULL);
	T_EQ_STR(rt->listen, "127.0.0.1:9095");
	T_EQ_STR(rt->auth.bearer_token_env, "RUNBOOK_WEBHOOK_TOKEN");
	T_EQ_INT(rt->max_body, 1024 * 1024);
	T_EQ_INT(rt->max_runs, 4);
	T_EQ_INT(rt->nroutes, 2);
	r = &rt->routes[0];
	T_EQ_STR(r->name, "pg-down");
	T_ASSERT(r->hook == NULL);
	T_EQ_INT(r->nmatch, 2);
	T_EQ_STR(r->match[0].label, "alertname");
	T_EQ_STR(r->match[0].value, "PostgresDown");
	T_ASSERT(r->match[0].re == NULL);
	T_ASSERT(r->match[1].re != NULL);
	T_ASSERT(r->match[1].value == NULL);
	T_EQ_INT(r->status, RB_ROUTE_FIRING);
	T_EQ_STR(r->runbook, "target.yaml");
	T_EQ_INT(r->nparams, 1);
	T_EQ_INT(r->dedup_ms, 600000);
	T_EQ_INT(r->loc.line, 6);
	r = &rt->routes[1];
	T_EQ_STR(r->hook, "deploys");
	T_EQ_INT(r->status, RB_ROUTE_ANY);
	T_EQ_INT(r->dedup_ms, 0);
	rb_routes_free(rt);
	rb_routes_free(NULL);
}

void
test_parse_routes__defaults(void)
{
	struct rb_routes *rt = NULL;
	char *got = diags_of("auth: {hmac: {secret_env: S}}\n"
	    "max_body: 512KiB\nmax_runs: 8\n"
	    "routes: [{name: r, runbook: target.yaml, "
	    "params: {host: x}, status: resolved}]\n", &rt);

	T_EQ_STR(got, "");
	free(got);
	T_ASSERT(rt != NULL);
	T_EQ_STR(rt->listen, "127.0.0.1:9095");
	T_EQ_STR(rt->auth.hmac_secret_env, "S");
	T_EQ_STR(rt->auth.hmac_header, "X-Hub-Signature-256");
	T_ASSERT(rt->auth.bearer_token_env == NULL);
	T_EQ_INT(rt->max_body, 512 * 1024);
	T_EQ_INT(rt->max_runs, 8);
	T_EQ_INT(rt->routes[0].status, RB_ROUTE_RESOLVED);
	rb_routes_free(rt);
}

void
test_parse_routes__auth(void)
{
	struct rb_routes *rt = NULL;
	char *got = diags_of("listen: '[::1]:9000'\nauth:\n"
	    "  basic: {user_env: U, password_env: P}\n"
	    "  hmac: {secret_env: S, header: X-Signature-256}\n"
	    "  grafana: {secret_env: G, timestamp_header: X-Ts}\n"
	    "max_body: 1000000\n"
	    "routes: [{name: r, runbook: target.yaml, params: {host: x}}]\n",
	    &rt);

	T_EQ_STR(got, "");
	free(got);
	T_ASSERT(rt != NULL);
	T_EQ_STR(rt->listen, "[::1]:9000");
	T_EQ_STR(rt->auth.basic_user_env, "U");
	T_EQ_STR(rt->auth.basic_password_env, "P");
	T_EQ_STR(rt->auth.hmac_header, "X-Signature-256");
	T_EQ_STR(rt->auth.grafana_secret_env, "G");
	T_EQ_STR(rt->auth.grafana_timestamp_header, "X-Ts");
	T_EQ_INT(rt->max_body, 1000000);
	rb_routes_free(rt);
	got = diags_of("routes: [{name: r, runbook: target.yaml, "
	    "params: {host: x}}]\n", NULL);
	T_EQ_STR(got, "routes.yaml:1:1: warning: no 'auth': anyone who can "
	    "reach the listener can start runbooks\n"
	    "routes.yaml:1:1: hint: add 'auth: {bearer_token_env: NAME}' or an "
	    "hmac or grafana signature\n");
	free(got);
}

void
test_parse_routes__literal_secrets(void)
{
	char *got = diags_of("auth:\n  token: abc\n"
	    "  bearer_token_env: 'abc def'\n"
	    "  hmac: {secret: x}\n  basic: {user_env: U, password: p}\n"
	    "routes: [{name: r, runbook: target.yaml, params: {host: x}}]\n",
	    NULL);

	T_EQ_STR(got,
	    "routes.yaml:2:3: error: secrets cannot be written in the routes "
	    "file: 'token' is not allowed\n"
	    "routes.yaml:2:3: hint: put the secret in an environment variable "
	    "and name the variable with 'bearer_token_env'\n"
	    "routes.yaml:3:21: error: 'bearer_token_env' must name an "
	    "environment variable, not 'abc def'\n"
	    "routes.yaml:3:21: hint: write the variable's name (like "
	    "RUNBOOK_WEBHOOK_TOKEN), not its value\n"
	    "routes.yaml:4:9: error: missing key 'secret_env' in 'hmac'\n"
	    "routes.yaml:4:10: error: secrets cannot be written in the routes "
	    "file: 'secret' is not allowed\n"
	    "routes.yaml:4:10: hint: put the secret in an environment variable "
	    "and name the variable with 'secret_env'\n"
	    "routes.yaml:5:10: error: missing key 'password_env' in 'basic'\n"
	    "routes.yaml:5:24: error: secrets cannot be written in the routes "
	    "file: 'password' is not allowed\n"
	    "routes.yaml:5:24: hint: put the secret in an environment variable "
	    "and name the variable with 'password_env'\n");
	free(got);
}

void
test_parse_routes__errors(void)
{
	char *got = diags_of("listen: 9095\n"
	    "auth: {bearer_token_env: T}\n"
	    "max_body: 2 parsecs\nmax_runs: 0\ncolour: red\n"
	    "routes:\n"
	    "  - name: Pg\n"
	    "    hook: 'a/b'\n"
	    "    match: {bad-label: x, re: '/(x/', ok: [1]}\n"
	    "    status: fring\n"
	    "    runbook: target.yaml\n"
	    "    params: {host: \"{{ params.x }}{{ alert.label.x }}\"}\n"
	    "    dedup: 10\n"
	    "  - {name: Pg, runbook: nowhere.yaml}\n"
	    "  - {runbook: broken.yaml}\n"
	    "  - [x]\n", NULL);

	T_EQ_STR(got,
	    "routes.yaml:1:9: error: 'listen' must be HOST:PORT like "
	    "127.0.0.1:9095, not '9095'\n"
	    "routes.yaml:3:11: error: 'max_body' must be a size like 1MiB, "
	    "512KiB or 1000000, not '2 parsecs'\n"
	    "routes.yaml:3:11: hint: units are B, KB, KiB, MB, MiB, GB and "
	    "GiB; at most 1073741824 bytes\n"
	    "routes.yaml:4:11: error: 'max_runs' must be a whole number from 1 "
	    "to 1000, not '0'\n"
	    "routes.yaml:5:1: error: unknown key 'colour'\n"
	    "routes.yaml:5:1: hint: valid keys here: listen, auth, max_body, "
	    "max_runs, routes\n"
	    "routes.yaml:7:11: error: invalid route name 'Pg'\n"
	    "routes.yaml:7:11: hint: use a-z, 0-9, '_' and '-', starting with "
	    "a letter or digit\n"
	    "routes.yaml:8:11: error: invalid hook name 'a/b'\n"
	    "routes.yaml:8:11: hint: it becomes the URL path /hooks/NAME: use "
	    "a-z, 0-9, '_' and '-'\n"
	    "routes.yaml:9:13: error: invalid label name 'bad-label' in "
	    "'match'\n"
	    "routes.yaml:9:13: hint: label names use letters, digits and '_', "
	    "not starting with a digit\n"
	    "routes.yaml:9:31: error: invalid regex '/(x/': missing closing "
	    "parenthesis at offset 3\n"
	    "routes.yaml:9:43: error: 'ok' must be a string, not a list\n"
	    "routes.yaml:10:13: error: 'status' must be firing, resolved or "
	    "any, not 'fring'\n"
	    "routes.yaml:12:24: error: 'params.x' cannot be used in route "
	    "params: only alert.* names can\n"
	    "routes.yaml:12:24: hint: a route fills the runbook's params from "
	    "the alert that matched\n"
	    "routes.yaml:12:38: error: unknown name 'alert.label.x' (did you "
	    "mean 'alert.labels.x'?)\n"
	    "routes.yaml:12:38: hint: an alert has alert.status, "
	    "alert.labels.NAME, alert.annotations.NAME, alert.fingerprint and "
	    "alert.starts_at\n"
	    "routes.yaml:13:12: error: 'dedup' must be a duration like 30s, 5m "
	    "or 2h, not '10'\n"
	    "routes.yaml:13:12: hint: add a unit: '10s' for seconds, '10m' for "
	    "minutes\n"
	    "routes.yaml:14:12: error: invalid route name 'Pg'\n"
	    "routes.yaml:14:12: hint: use a-z, 0-9, '_' and '-', starting with "
	    "a letter or digit\n"
	    "routes.yaml:14:12: error: duplicate route name 'Pg' (first at "
	    "line 7)\n"
	    "routes.yaml:14:25: error: unknown runbook 'nowhere.yaml'\n"
	    "routes.yaml:14:25: hint: (path)\n"
	    "routes.yaml:15:5: error: route 3 has no 'name'\n"
	    "routes.yaml:15:15: error: runbook 'broken.yaml' has errors\n"
	    "routes.yaml:15:15: hint: (path)\n"
	    "routes.yaml:16:5: error: route 4 must be a mapping, not a "
	    "list\n");
	free(got);
}

void
test_parse_routes__target_params(void)
{
	char *got = diags_of("auth: {bearer_token_env: T}\n"
	    "routes:\n"
	    "  - name: a\n    runbook: target.yaml\n"
	    "    params: {hots: x, pw: \"{{ alert.annotations.pw }}\"}\n"
	    "routes_extra: 1\n", NULL);

	T_EQ_STR(got,
	    "routes.yaml:4:14: error: runbook 'target' needs param 'host': map "
	    "it under 'params' of route 'a'\n"
	    "routes.yaml:5:14: error: runbook 'target' has no param 'hots' "
	    "(did you mean 'host'?)\n"
	    "routes.yaml:5:14: hint: its params are: host, port, pw\n"
	    "routes.yaml:6:1: error: unknown key 'routes_extra'\n"
	    "routes.yaml:6:1: hint: valid keys here: listen, auth, max_body, "
	    "max_runs, routes\n");
	free(got);
}
