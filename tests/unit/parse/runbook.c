/* Unit tests for parse/parse_runbook.c: the runbook schema pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "runbook/buf.h"
#include "runbook/error.h"
#include "runbook/model.h"
#include "runbook/util.h"

void test_parse_runbook__spec_example(void);
void test_parse_runbook__digest_and_path(void);
void test_parse_runbook__unknown_key(void);
void test_parse_runbook__wrong_types(void);
void test_parse_runbook__duplicate_id(void);
void test_parse_runbook__bad_duration(void);
void test_parse_runbook__bad_regex(void);
void test_parse_runbook__no_action(void);
void test_parse_runbook__two_actions(void);
void test_parse_runbook__undeclared_param(void);
void test_parse_runbook__unknown_needs(void);
void test_parse_runbook__bad_ids(void);
void test_parse_runbook__missing_required(void);
void test_parse_runbook__empty_steps(void);
void test_parse_runbook__needs_resolution(void);
void test_parse_runbook__step_refs(void);
void test_parse_runbook__ancestor_warning(void);
void test_parse_runbook__other_namespaces(void);
void test_parse_runbook__raw_warning(void);
void test_parse_runbook__runbook_level_names(void);
void test_parse_runbook__include_and_playbook(void);
void test_parse_runbook__params(void);
void test_parse_runbook__param_defaults_checked(void);
void test_parse_runbook__window(void);
void test_parse_runbook__window_errors(void);
void test_parse_runbook__rollback(void);
void test_parse_runbook__rollback_errors(void);
void test_parse_runbook__actions(void);
void test_parse_runbook__action_errors(void);
void test_parse_runbook__retries_and_expect(void);
void test_parse_runbook__capture(void);
void test_parse_runbook__readonly_and_env(void);
void test_parse_runbook__on_failure(void);
void test_parse_runbook__expr_and_template_errors(void);
void test_parse_runbook__subrunbooks(void);
void test_parse_runbook__subrunbook_cycle(void);
void test_parse_runbook__ten_errors(void);
void test_parse_runbook__not_a_mapping(void);

/* Load yaml as t.yaml; return its sorted diagnostics (caller frees). */
static char *
diags_of(const char *yaml, int *out_r)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_runbook *rb = NULL;
	struct rb_buf out = RB_BUF_INIT;
	int r;

	r = rb_runbook_load_buf(&rb, "t.yaml", yaml, strlen(yaml), 0, &d);
	if ((r == 0) != (rb != NULL))
		rb_buf_adds(&out, "BUG: result and model disagree\n");
	if (r == 0 && d.nerrors != 0)
		rb_buf_adds(&out, "BUG: a model despite errors\n");
	rb_diags_sort(&d);
	rb_diags_format(&out, &d);
	rb_diags_release(&d);
	rb_runbook_free(rb);
	if (out_r != NULL)
		*out_r = r;
	return rb_buf_detach(&out, NULL);
}

/* Load yaml that must be valid (warnings allowed). */
static struct rb_runbook *
load_ok(const char *yaml)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_runbook *rb = NULL;
	struct rb_buf out = RB_BUF_INIT;

	if (rb_runbook_load_buf(&rb, "t.yaml", yaml, strlen(yaml), 0,
	    &d) != 0) {
		rb_diags_format(&out, &d);
		fprintf(stderr, "unexpected diagnostics:\n%s", out.buf);
	}
	rb_buf_release(&out);
	rb_diags_release(&d);
	return rb;
}

#define CHECK_DIAGS(yaml, expected) do { \
	char *got_ = diags_of((yaml), NULL); \
	T_EQ_STR(got_, (expected)); \
	free(got_); \
} while (0)

static const char spec_example[] =
    "# yaml-language-server: $schema=../schemas/runbook.schema.json\n"
    "runbook: db-connection\n"
    "description: Database connection failures\n"
    "labels: {severity: P1, team: platform}\n"
    "params:\n"
    "  db_host: {default: 127.0.0.1, pattern: '^[A-Za-z0-9._-]+$', "
    "description: Database host}\n"
    "  db_port: {default: \"5432\", pattern: '^[0-9]+$'}\n"
    "  pg_password: {env: PGPASSWORD, secret: true, required: false}\n"
    "on: local\n"
    "timeout: 10m\n"
    "steps:\n"
    "  - id: db-ready\n"
    "    name: Is PostgreSQL accepting connections?\n"
    "    check: pg_isready -h {{ params.db_host }} -p {{ params.db_port }}\n"
    "    expect: {exit: 0, stdout: '/accepting connections/'}\n"
    "    continue_on_error: true\n"
    "  - id: maintenance-page\n"
    "    when: steps.db-ready.failed\n"
    "    run: touch /var/www/maintenance.flag\n"
    "    rollback: rm -f /var/www/maintenance.flag\n"
    "  - id: restart-db\n"
    "    when: steps.db-ready.failed\n"
    "    run: systemctl restart postgresql\n"
    "    timeout: 60s\n"
    "  - id: wait-db\n"
    "    check: pg_isready -h {{ params.db_host }} -p {{ params.db_port }}\n"
    "    retries: {count: 10, delay: 2s, backoff: 1.5}\n"
    "on_failure:\n"
    "  - id: tell-oncall\n"
    "    notify: {url: \"{{ env.SLACK_WEBHOOK_URL }}\", text: "
    "\"db-connection failed on {{ params.db_host }}\"}\n";

void
test_parse_runbook__spec_example(void)
{
	struct rb_runbook *rb = load_ok(spec_example);
	const struct rb_step *s;
	const struct rb_param *p;

	T_ASSERT(rb != NULL);
	T_EQ_STR(rb->name, "db-connection");
	T_ASSERT(!rb->playbook);
	T_EQ_STR(rb->description, "Database connection failures");
	T_EQ_INT(rb->nlabels, 2);
	T_EQ_STR(rb->labels[1].key, "team");
	T_EQ_STR(rb->labels[1].value, "platform");
	T_EQ_INT(rb->nparams, 3);
	p = rb_runbook_param(rb, "db_host");
	T_ASSERT(p != NULL);
	T_EQ_STR(p->def, "127.0.0.1");
	T_ASSERT(!p->required);
	T_EQ_STR(p->pattern_src, "^[A-Za-z0-9._-]+$");
	T_EQ_STR(p->description, "Database host");
	T_EQ_INT(p->loc.line, 6);
	T_EQ_INT(p->loc.col, 3);
	p = rb_runbook_param(rb, "pg_password");
	T_ASSERT(p->secret && !p->required && p->def == NULL);
	T_EQ_STR(p->env, "PGPASSWORD");
	T_ASSERT(rb_runbook_param(rb, "nope") == NULL);
	T_EQ_STR(rb_tmpl_source(rb->on), "local");
	T_EQ_INT(rb->timeout_ms, 600000);
	T_ASSERT(!rb->window.present);
	T_ASSERT(rb->lock == NULL);

	T_EQ_INT(rb->nsteps, 4);
	s = &rb->steps[0];
	T_EQ_STR(s->id, "db-ready");
	T_EQ_STR(s->name, "Is PostgreSQL accepting connections?");
	T_EQ_INT(s->action, RB_ACT_CHECK);
	T_EQ_STR(rb_action_name(s->action), "check");
	T_EQ_STR(rb_tmpl_source(s->command),
	    "pg_isready -h {{ params.db_host }} -p {{ params.db_port }}");
	T_EQ_INT(s->nneed_idx, 0);
	T_ASSERT(!s->needs_given);
	T_EQ_INT(s->expect.nexit, 1);
	T_EQ_INT(s->expect.exit_codes[0], 0);
	T_EQ_STR(rb_regex_source(s->expect.stdout_re),
	    "/accepting connections/");
	T_ASSERT(s->continue_on_error);
	T_EQ_INT(s->timeout_ms, 300000);
	T_EQ_INT(s->loc.line, 12);
	T_EQ_INT(s->loc.col, 5);
	T_ASSERT(rb_step_is_readonly(s));

	s = &rb->steps[1];
	T_EQ_INT(s->action, RB_ACT_RUN);
	T_EQ_STR(rb_expr_source(s->when), "steps.db-ready.failed");
	T_EQ_INT(s->nneed_idx, 1);
	T_EQ_INT(s->need_idx[0], 0);
	T_ASSERT(s->rollback != NULL);
	T_EQ_STR(s->rollback->id, "maintenance-page.rollback");
	T_EQ_INT(s->rollback->action, RB_ACT_RUN);
	T_EQ_STR(rb_tmpl_source(s->rollback->command),
	    "rm -f /var/www/maintenance.flag");
	T_EQ_INT(s->rollback->timeout_ms, 300000);
	T_EQ_INT(s->rollback->loc.line, 20);
	T_EQ_INT(s->rollback->loc.col, 15);
	T_ASSERT(!rb_step_is_readonly(s));

	T_EQ_INT(rb->steps[2].timeout_ms, 60000);
	T_EQ_INT(rb->steps[2].need_idx[0], 1);
	s = &rb->steps[3];
	T_EQ_INT(s->retries.count, 10);
	T_EQ_INT(s->retries.delay_ms, 2000);
	T_ASSERT(s->retries.backoff > 1.49 && s->retries.backoff < 1.51);
	T_EQ_INT(s->need_idx[0], 2);

	T_EQ_INT(rb->non_failure, 1);
	s = &rb->on_failure[0];
	T_EQ_INT(s->action, RB_ACT_NOTIFY);
	T_EQ_STR(rb_tmpl_source(s->notify->url), "{{ env.SLACK_WEBHOOK_URL }}");
	T_EQ_STR(rb_tmpl_source(s->notify->text),
	    "db-connection failed on {{ params.db_host }}");
	T_ASSERT(s->notify->body == NULL);
	T_EQ_INT(s->nneed_idx, 0);
	T_ASSERT(rb_runbook_step(rb, "tell-oncall") == s);
	T_ASSERT(rb_runbook_step(rb, "wait-db") == &rb->steps[3]);
	T_ASSERT(rb_runbook_step(rb, "nope") == NULL);
	rb_runbook_free(rb);
}

void
test_parse_runbook__digest_and_path(void)
{
	struct rb_runbook *rb = load_ok("runbook: x\nsteps: [{id: a, run: b}]\n");
	char hex[65];

	T_ASSERT(rb != NULL);
	rb_sha256_hex(hex, "runbook: x\nsteps: [{id: a, run: b}]\n", 36);
	T_EQ_STR(rb->digest, hex);
	T_EQ_STR(rb->path, "t.yaml");
	T_ASSERT(rb->doc != NULL);
	rb_runbook_free(rb);
	rb_runbook_free(NULL);
}

void
test_parse_runbook__unknown_key(void)
{
	CHECK_DIAGS("runbook: x\nstpes: []\nsteps:\n"
	    "  - id: wait-db\n    run: x\n    retires: 3\n    zzzzz: 1\n",
	    "t.yaml:2:1: error: unknown key 'stpes' (did you mean 'steps'?)\n"
	    "t.yaml:6:5: error: unknown key 'retires' in step 'wait-db' "
	    "(did you mean 'retries'?)\n"
	    "t.yaml:7:5: error: unknown key 'zzzzz' in step 'wait-db'\n"
	    "t.yaml:7:5: hint: valid keys here: id, name, needs, when, until, "
	    "on, batch, max_fail, timeout, retries, expect, capture, rollback, "
	    "continue_on_error, idempotent, readonly, env, workdir, with, run, "
	    "check, http, tcp, sleep, approve, notify, runbook, manual\n");
}

void
test_parse_runbook__wrong_types(void)
{
	CHECK_DIAGS("runbook: x\nlabels: [a]\nsteps:\n"
	    "  - id: a\n    run: x\n    timeout: [1, 2]\n"
	    "    continue_on_error: maybe\n    name: {a: b}\n"
	    "    env: [A]\n",
	    "t.yaml:2:9: error: 'labels' must be a mapping, not a list\n"
	    "t.yaml:6:14: error: 'timeout' must be a duration like 30s, 5m or "
	    "2h, not a list\n"
	    "t.yaml:7:24: error: 'continue_on_error' must be true or false, "
	    "not 'maybe'\n"
	    "t.yaml:8:11: error: 'name' must be a string, not a mapping\n"
	    "t.yaml:9:10: error: 'env' must be a mapping, not a list\n");
}

void
test_parse_runbook__duplicate_id(void)
{
	CHECK_DIAGS("runbook: x\nsteps:\n  - id: a\n    run: x\n"
	    "  - id: b\n    run: y\n  - id: a\n    run: z\n"
	    "on_failure:\n  - id: b\n    run: w\n",
	    "t.yaml:7:9: error: duplicate step id 'a' (first at line 3)\n"
	    "t.yaml:7:9: hint: step ids must be unique in a file, on_failure "
	    "steps included\n"
	    "t.yaml:10:9: error: duplicate step id 'b' (first at line 5)\n"
	    "t.yaml:10:9: hint: step ids must be unique in a file, on_failure "
	    "steps included\n");
}

void
test_parse_runbook__bad_duration(void)
{
	CHECK_DIAGS("runbook: x\ntimeout: 10\nsteps:\n"
	    "  - id: a\n    sleep: 5 minutes\n"
	    "  - id: b\n    run: x\n    timeout: 0s\n",
	    "t.yaml:2:10: error: 'timeout' must be a duration like 30s, 5m or "
	    "2h, not '10'\n"
	    "t.yaml:2:10: hint: add a unit: '10s' for seconds, '10m' for "
	    "minutes\n"
	    "t.yaml:5:12: error: 'sleep' must be a duration like 30s, 5m or "
	    "2h, not '5 minutes'\n"
	    "t.yaml:8:14: error: 'timeout' must be more than 0s\n");
}

void
test_parse_runbook__bad_regex(void)
{
	CHECK_DIAGS("runbook: x\nparams:\n  p: {pattern: '[a-'}\nsteps:\n"
	    "  - id: a\n    run: x\n"
	    "    expect: {stdout: '/ok(/', not_stderr: '/x/q'}\n",
	    "t.yaml:3:16: error: invalid regex '[a-': missing terminating ] "
	    "for character class at offset 3\n"
	    "t.yaml:7:22: error: invalid regex '/ok(/': missing closing "
	    "parenthesis at offset 4\n"
	    "t.yaml:7:43: error: unknown regex flag 'q' in '/x/q' at offset "
	    "3\n"
	    "t.yaml:7:43: hint: a pattern that starts with '/' is read as "
	    "/re/flags with flags i, m, s, x; escape a literal leading slash "
	    "as '\\/'\n");
}

void
test_parse_runbook__no_action(void)
{
	CHECK_DIAGS("runbook: x\nsteps:\n  - id: a\n    name: nothing\n",
	    "t.yaml:3:5: error: step 'a' has no action: add one of run, "
	    "check, http, tcp, sleep, approve, notify, runbook, manual\n");
}

void
test_parse_runbook__two_actions(void)
{
	CHECK_DIAGS("runbook: x\nsteps:\n  - id: a\n    run: x\n"
	    "    check: y\n    sleep: 1s\n",
	    "t.yaml:5:5: error: step 'a' has two actions, 'run' and 'check'\n"
	    "t.yaml:5:5: hint: a step does one thing: split it into two steps\n"
	    "t.yaml:6:5: error: step 'a' has two actions, 'run' and 'sleep'\n"
	    "t.yaml:6:5: hint: a step does one thing: split it into two "
	    "steps\n");
}

void
test_parse_runbook__undeclared_param(void)
{
	CHECK_DIAGS("runbook: x\nparams: {db_host: h}\nsteps:\n"
	    "  - id: a\n    run: echo {{ params.db_hots }} {{ params.zz }}\n"
	    "    when: params.a.b == 'x'\n",
	    "t.yaml:5:18: error: unknown param 'db_hots' (did you mean "
	    "'db_host'?)\n"
	    "t.yaml:5:18: hint: declare it under 'params:'\n"
	    "t.yaml:5:39: error: unknown param 'zz'\n"
	    "t.yaml:5:39: hint: declare it under 'params:'\n"
	    "t.yaml:6:11: error: unknown name 'params.a.b'\n"
	    "t.yaml:6:11: hint: a param is used as params.NAME\n");
}

void
test_parse_runbook__unknown_needs(void)
{
	CHECK_DIAGS("runbook: x\nsteps:\n  - id: db-ready\n    run: x\n"
	    "  - id: b\n    needs: [db-redy, b]\n    run: y\n"
	    "  - id: c\n    needs: zzz\n    run: z\n"
	    "  - id: d\n    needs:\n    run: z\n"
	    "  - id: e\n    needs: [[a]]\n    run: z\n",
	    "t.yaml:6:13: error: step 'b' needs unknown step 'db-redy' (did "
	    "you mean 'db-ready'?)\n"
	    "t.yaml:6:22: error: step 'b' needs itself\n"
	    "t.yaml:9:12: error: step 'c' needs unknown step 'zzz'\n"
	    "t.yaml:12:11: error: 'needs' must be a list of step ids, not "
	    "empty\n"
	    "t.yaml:12:11: hint: write 'needs: []' to make this step a root "
	    "that waits for nothing\n"
	    "t.yaml:15:13: error: each item of 'needs' must be a step id, not "
	    "a list\n");
}

void
test_parse_runbook__bad_ids(void)
{
	CHECK_DIAGS("runbook: Db_Conn\nsteps:\n  - id: Wait_DB\n    run: x\n"
	    "  - id: -a\n    run: x\n  - id: ''\n    run: x\n",
	    "t.yaml:1:10: error: invalid runbook name 'Db_Conn'\n"
	    "t.yaml:1:10: hint: use a-z, 0-9, '_' and '-', starting with a "
	    "letter or digit\n"
	    "t.yaml:3:9: error: invalid step id 'Wait_DB'\n"
	    "t.yaml:3:9: hint: use a-z, 0-9, '_' and '-', starting with a "
	    "letter or digit\n"
	    "t.yaml:5:9: error: invalid step id '-a'\n"
	    "t.yaml:5:9: hint: use a-z, 0-9, '_' and '-', starting with a "
	    "letter or digit\n"
	    "t.yaml:7:9: error: invalid step id ''\n"
	    "t.yaml:7:9: hint: use a-z, 0-9, '_' and '-', starting with a "
	    "letter or digit\n");
}

void
test_parse_runbook__missing_required(void)
{
	CHECK_DIAGS("description: x\n",
	    "t.yaml:1:1: error: missing key 'runbook'\n"
	    "t.yaml:1:1: hint: name the runbook with 'runbook: NAME' (or "
	    "'playbook: NAME')\n"
	    "t.yaml:1:1: error: missing key 'steps'\n");
	CHECK_DIAGS("runbook: x\nsteps:\n  - run: x\n  - echo hi\n",
	    "t.yaml:3:5: error: step 1 has no 'id'\n"
	    "t.yaml:3:5: hint: add 'id: NAME' (a-z, 0-9, '_', '-'); other "
	    "steps and templates refer to it\n"
	    "t.yaml:4:5: error: step 2 must be a mapping, not 'echo hi'\n"
	    "t.yaml:4:5: hint: write '- id: NAME' and, indented under it, an "
	    "action such as 'run: COMMAND'\n");
	CHECK_DIAGS("",
	    "t.yaml: error: the file is empty\n"
	    "t.yaml: hint: a runbook needs 'runbook: NAME' and 'steps:'\n");
}

void
test_parse_runbook__empty_steps(void)
{
	CHECK_DIAGS("runbook: x\nsteps: []\n",
	    "t.yaml:2:8: error: 'steps' is empty\n"
	    "t.yaml:2:8: hint: a runbook needs at least one step\n");
	CHECK_DIAGS("runbook: x\nsteps:\n",
	    "t.yaml:2:7: error: 'steps' must be a list, not empty\n");
}

void
test_parse_runbook__needs_resolution(void)
{
	struct rb_runbook *rb = load_ok("runbook: x\nsteps:\n"
	    "  - {id: a, run: x}\n"
	    "  - {id: b, run: x, needs: []}\n"
	    "  - {id: c, run: x}\n"
	    "  - {id: d, run: x, needs: [a, c, a]}\n"
	    "  - {id: e, run: x, needs: b}\n");

	T_ASSERT(rb != NULL);
	T_EQ_INT(rb->steps[0].nneed_idx, 0);
	T_ASSERT(!rb->steps[0].needs_given);
	T_EQ_INT(rb->steps[1].nneed_idx, 0);
	T_ASSERT(rb->steps[1].needs_given);
	T_EQ_INT(rb->steps[2].nneed_idx, 1);
	T_EQ_INT(rb->steps[2].need_idx[0], 1);
	T_EQ_INT(rb->steps[3].nneeds, 3);
	T_EQ_INT(rb->steps[3].nneed_idx, 2);
	T_EQ_INT(rb->steps[3].need_idx[0], 0);
	T_EQ_INT(rb->steps[3].need_idx[1], 2);
	T_EQ_INT(rb->steps[4].nneeds, 1);
	T_EQ_STR(rb->steps[4].needs[0], "b");
	T_EQ_INT(rb->steps[4].need_idx[0], 1);
	rb_runbook_free(rb);
}

void
test_parse_runbook__step_refs(void)
{
	CHECK_DIAGS("runbook: x\nsteps:\n"
	    "  - id: db-ready\n    check: x\n"
	    "    capture: {version: '/v(?<version>\\d+)/'}\n"
	    "  - id: b\n"
	    "    when: steps.db-redy.ok || steps.db-ready.okay\n"
	    "    run: echo {{ steps.db-ready.vars.versoin }} {{ steps.b.ok }}\n"
	    "    until: steps.b.ok && steps.db-ready.vars.version == '1'\n"
	    "    retries: 2\n"
	    "  - id: c\n    run: echo {{ steps.db-ready }} {{ steps.tell.ok }}\n"
	    "on_failure:\n  - id: tell\n"
	    "    run: echo {{ steps.c.stdout }}\n",
	    "t.yaml:7:11: error: unknown step 'db-redy' in "
	    "'steps.db-redy.ok' (did you mean 'db-ready'?)\n"
	    "t.yaml:7:31: error: unknown name 'steps.db-ready.okay' (did you "
	    "mean 'steps.db-ready.ok'?)\n"
	    "t.yaml:7:31: hint: a step has ok, failed, skipped, status, "
	    "exit_code, stdout, stderr, duration_ms and vars.NAME\n"
	    "t.yaml:8:18: error: step 'db-ready' has no capture 'versoin' "
	    "(did you mean 'version'?)\n"
	    "t.yaml:8:18: hint: declare it under 'capture:' of step "
	    "'db-ready'\n"
	    "t.yaml:8:52: error: step 'b' cannot use its own result "
	    "'steps.b.ok'\n"
	    "t.yaml:8:52: hint: only 'until' (and the step's rollback) can "
	    "look at the step's own latest attempt\n"
	    "t.yaml:12:18: error: incomplete name 'steps.db-ready'\n"
	    "t.yaml:12:18: hint: use steps.ID.ok, .failed, .skipped, .status, "
	    ".exit_code, .stdout, .stderr, .duration_ms or .vars.NAME\n"
	    "t.yaml:12:39: error: unknown step 'tell' in 'steps.tell.ok'\n"
	    "t.yaml:12:39: hint: on_failure steps run only when the run fails, "
	    "after every other step\n");
}

void
test_parse_runbook__ancestor_warning(void)
{
	CHECK_DIAGS("runbook: x\nsteps:\n"
	    "  - {id: a, run: x}\n"
	    "  - {id: b, run: x, needs: []}\n"
	    "  - id: c\n    needs: [b]\n"
	    "    when: steps.a.ok && steps.a.exit_code == 0\n"
	    "    run: echo {{ steps.b.stdout }}\n"
	    "  - id: d\n    run: echo {{ steps.a.stdout }}\n",
	    "t.yaml:7:11: warning: step 'c' uses steps.a but does not wait "
	    "for it: add 'a' to needs\n"
	    "t.yaml:10:18: warning: step 'd' uses steps.a but does not wait "
	    "for it: add 'a' to needs\n");
}

void
test_parse_runbook__other_namespaces(void)
{
	CHECK_DIAGS("runbook: x\nsteps:\n  - id: a\n"
	    "    run: echo {{ env.HOME }} {{ alert.labels.instance }}\n"
	    "    env:\n"
	    "      A: \"{{ alert.status }}{{ alert.fingerprint }}"
	    "{{ alert.starts_at }}{{ alert.annotations.summary }}\"\n"
	    "      B: \"{{ run.id }}{{ run.runbook }}{{ run.started_at }}"
	    "{{ run.trigger }}{{ host.name }}{{ host.address }}\"\n"
	    "      C: \"{{ alert.label.x }}{{ run.idd }}{{ host.ip }}"
	    "{{ parms.x }}{{ foo.bar }}{{ env.A.B }}\"\n",
	    "t.yaml:8:14: error: unknown name 'alert.label.x' (did you mean "
	    "'alert.labels.x'?)\n"
	    "t.yaml:8:14: hint: an alert has alert.status, alert.labels.NAME, "
	    "alert.annotations.NAME, alert.fingerprint and alert.starts_at\n"
	    "t.yaml:8:33: error: unknown name 'run.idd' (did you mean "
	    "'run.id'?)\n"
	    "t.yaml:8:33: hint: a run has run.id, run.runbook, run.started_at "
	    "and run.trigger\n"
	    "t.yaml:8:46: error: unknown name 'host.ip'\n"
	    "t.yaml:8:46: hint: a host has host.name and host.address\n"
	    "t.yaml:8:59: error: unknown name 'parms.x' (did you mean "
	    "'params.x'?)\n"
	    "t.yaml:8:59: hint: names start with params., env., steps., "
	    "alert., run. or host.\n"
	    "t.yaml:8:72: error: unknown name 'foo.bar'\n"
	    "t.yaml:8:72: hint: names start with params., env., steps., "
	    "alert., run. or host.\n"
	    "t.yaml:8:85: error: unknown name 'env.A.B'\n"
	    "t.yaml:8:85: hint: an environment variable is used as env.NAME\n");
}

void
test_parse_runbook__raw_warning(void)
{
	CHECK_DIAGS("runbook: x\nparams: {p: a}\nsteps:\n  - id: a\n"
	    "    run: echo {{ params.p | raw }} {{ alert.labels.x | raw }}\n"
	    "    rollback: echo {{ params.p | raw }} {{ env.X | raw }}\n"
	    "    env: {X: \"{{ params.p | raw }}\"}\n",
	    "t.yaml:5:18: warning: '| raw' passes params.p to the shell "
	    "unquoted\n"
	    "t.yaml:5:18: hint: drop '| raw' so the value is quoted, or "
	    "restrict the param with a 'pattern'\n"
	    "t.yaml:5:39: warning: '| raw' passes alert.labels.x to the "
	    "shell unquoted\n"
	    "t.yaml:5:39: hint: drop '| raw' so the value is quoted\n"
	    "t.yaml:6:23: warning: '| raw' passes params.p to the shell "
	    "unquoted\n"
	    "t.yaml:6:23: hint: drop '| raw' so the value is quoted, or "
	    "restrict the param with a 'pattern'\n");
}

void
test_parse_runbook__runbook_level_names(void)
{
	CHECK_DIAGS("runbook: x\nparams: {p: a}\n"
	    "lock: \"db-{{ params.p }}-{{ steps.a.ok }}\"\n"
	    "on: \"{{ host.name }}\"\n"
	    "steps: [{id: a, run: x}]\n",
	    "t.yaml:3:29: error: 'steps.a.ok' cannot be used here: no step has "
	    "run when this is evaluated\n"
	    "t.yaml:4:9: error: 'host.name' can only be used inside a step\n");
}

void
test_parse_runbook__include_and_playbook(void)
{
	struct rb_runbook *rb;

	CHECK_DIAGS("runbook: x\ninclude: other.yaml\nsteps: [{id: a, run: x}]\n",
	    "t.yaml:2:1: error: 'include' is not supported\n"
	    "t.yaml:2:1: hint: run the other runbook as a step: '- id: NAME' "
	    "with 'runbook: OTHER' and 'with: {...}'\n");
	CHECK_DIAGS("runbook: x\nplaybook: y\nsteps: [{id: a, run: x}]\n",
	    "t.yaml:2:1: error: both 'runbook' and 'playbook' are given\n"
	    "t.yaml:2:1: hint: name the file with one of them\n");
	rb = load_ok("playbook: incident\nsteps: [{id: a, manual: do it}]\n");
	T_ASSERT(rb != NULL);
	T_ASSERT(rb->playbook);
	T_EQ_STR(rb->name, "incident");
	T_EQ_INT(rb->steps[0].action, RB_ACT_MANUAL);
	rb_runbook_free(rb);
}

void
test_parse_runbook__params(void)
{
	struct rb_runbook *rb = load_ok("runbook: x\nparams:\n"
	    "  a: \"5432\"\n  b:\n  c: {enum: [x, y], default: y}\n"
	    "  d: {required: false}\n  e: {default: q, required: true}\n"
	    "steps: [{id: s, run: x}]\n");
	const struct rb_param *p;

	T_ASSERT(rb != NULL);
	T_EQ_INT(rb->nparams, 5);
	p = rb_runbook_param(rb, "a");
	T_EQ_STR(p->def, "5432");
	T_ASSERT(!p->required);
	p = rb_runbook_param(rb, "b");
	T_ASSERT(p->def == NULL && p->required);
	p = rb_runbook_param(rb, "c");
	T_EQ_INT(p->nenums, 2);
	T_EQ_STR(p->enums[1], "y");
	T_ASSERT(!rb_runbook_param(rb, "d")->required);
	T_ASSERT(rb_runbook_param(rb, "e")->required);
	rb_runbook_free(rb);

	CHECK_DIAGS("runbook: x\nparams:\n  bad name: 1\n  ok: [1]\n"
	    "  e: {enum: [], env: 1X, secret: sure, colour: red}\n"
	    "steps: [{id: s, run: x}]\n",
	    "t.yaml:3:3: error: invalid param name 'bad name'\n"
	    "t.yaml:3:3: hint: use letters, digits, '_' and '-', starting with "
	    "a letter or '_'\n"
	    "t.yaml:4:7: error: param 'ok' must be a mapping or a default "
	    "value, not a list\n"
	    "t.yaml:4:7: hint: for example 'ok: {default: x, pattern: "
	    "\"^[a-z]+$\"}'\n"
	    "t.yaml:5:13: error: 'enum' must not be an empty list\n"
	    "t.yaml:5:22: error: invalid environment variable name '1X'\n"
	    "t.yaml:5:22: hint: use letters, digits and '_', not starting with "
	    "a digit\n"
	    "t.yaml:5:34: error: 'secret' must be true or false, not 'sure'\n"
	    "t.yaml:5:40: error: unknown key 'colour' in param 'e'\n"
	    "t.yaml:5:40: hint: valid keys here: default, required, pattern, "
	    "enum, env, secret, description\n");
}

void
test_parse_runbook__param_defaults_checked(void)
{
	CHECK_DIAGS("runbook: x\nparams:\n"
	    "  host: {default: \"bad host\", pattern: '^[a-z0-9.]+$'}\n"
	    "  env: {default: qa, enum: [staging, production]}\n"
	    "  pw: {default: hunter2, pattern: '^[0-9]+$', secret: true}\n"
	    "steps: [{id: s, run: x}]\n",
	    "t.yaml:3:19: error: default 'bad host' of param 'host' does not "
	    "match its pattern '^[a-z0-9.]+$'\n"
	    "t.yaml:4:18: error: default 'qa' of param 'env' is not one of its "
	    "enum values: staging, production\n"
	    "t.yaml:5:17: error: the default of param 'pw' does not match its "
	    "pattern '^[0-9]+$'\n");
}

void
test_parse_runbook__window(void)
{
	struct rb_runbook *rb;

	rb = load_ok("runbook: x\nwindow: {days: [mon-fri], start: \"22:00\", "
	    "end: \"06:00\", tz: UTC}\nsteps: [{id: s, run: x}]\n");
	T_ASSERT(rb != NULL);
	T_ASSERT(rb->window.present);
	T_EQ_INT(rb->window.days, 0x3e);
	T_EQ_INT(rb->window.start_min, 22 * 60);
	T_EQ_INT(rb->window.end_min, 6 * 60);
	T_EQ_STR(rb->window.tz, "UTC");
	T_EQ_INT(rb->window.loc.line, 2);
	rb_runbook_free(rb);

	rb = load_ok("runbook: x\nwindow: {days: fri-mon, start: \"2:00\", "
	    "end: \"24:00\"}\nsteps: [{id: s, run: x}]\n");
	T_ASSERT(rb != NULL);
	T_EQ_INT(rb->window.days, 0x63);
	T_EQ_INT(rb->window.start_min, 120);
	T_EQ_INT(rb->window.end_min, 1440);
	T_ASSERT(rb->window.tz == NULL);
	rb_runbook_free(rb);

	rb = load_ok("runbook: x\nwindow: {days: [Sunday, sat], start: "
	    "\"00:00\", end: \"01:00\"}\nsteps: [{id: s, run: x}]\n");
	T_EQ_INT(rb->window.days, 0x41);
	rb_runbook_free(rb);
	rb = load_ok("runbook: x\nwindow: {days: daily, start: \"00:00\", "
	    "end: \"01:00\"}\nsteps: [{id: s, run: x}]\n");
	T_EQ_INT(rb->window.days, 0x7f);
	rb_runbook_free(rb);
	rb = load_ok("runbook: x\nwindow: {days: \"sat,sun\", start: \"00:00\", "
	    "end: \"01:00\"}\nsteps: [{id: s, run: x}]\n");
	T_EQ_INT(rb->window.days, 0x41);
	rb_runbook_free(rb);
}

void
test_parse_runbook__window_errors(void)
{
	struct rb_buf dir = RB_BUF_INIT, f = RB_BUF_INIT;
	const char *old = getenv("TZDIR");
	char *saved = old != NULL ? strdup(old) : NULL;
	char *got;
	FILE *fp;

	/* A private zoneinfo, so the test does not depend on tzdata. */
	rb_buf_addf(&dir, "%s/zoneinfo", rb_test_tmpdir());
	mkdir(dir.buf, 0700);
	rb_buf_addf(&dir, "/Europe");
	mkdir(dir.buf, 0700);
	rb_buf_addf(&f, "%s/Berlin", dir.buf);
	fp = fopen(f.buf, "w");
	T_ASSERT(fp != NULL);
	fclose(fp);
	rb_buf_setlen(&dir, dir.len - strlen("/Europe"));
	setenv("TZDIR", dir.buf, 1);
	got = diags_of("runbook: x\n"
	    "window: {days: [mon-fri, funday], start: \"25:00\", end: 6, "
	    "tz: Europe/Berln}\n"
	    "steps: [{id: s, run: x}]\n", NULL);
	if (saved != NULL)
		setenv("TZDIR", saved, 1);
	else
		unsetenv("TZDIR");
	free(saved);
	T_EQ_STR(got,
	    "t.yaml:2:26: error: unknown day 'funday' in 'days'\n"
	    "t.yaml:2:26: hint: use sun, mon, tue, wed, thu, fri, sat, a range "
	    "like mon-fri, weekdays, weekends or daily\n"
	    "t.yaml:2:42: error: 'start' must be a time like \"02:00\" (00:00 "
	    "to 23:59), not '25:00'\n"
	    "t.yaml:2:56: error: 'end' must be a time like \"02:00\" (00:00 to "
	    "23:59), not '6'\n"
	    "t.yaml:2:63: error: unknown time zone 'Europe/Berln' (did you "
	    "mean 'Europe/Berlin'?)\n"
	    "t.yaml:2:63: hint: use a tz database name such as UTC or "
	    "Europe/Berlin (see /usr/share/zoneinfo)\n");
	free(got);
	rb_buf_release(&dir);
	rb_buf_release(&f);
	CHECK_DIAGS("runbook: x\nwindow: {start: \"02:00\", end: \"02:00\", "
	    "tz: ../etc/passwd}\nsteps: [{id: s, run: x}]\n",
	    "t.yaml:2:31: error: 'window' is empty: 'start' and 'end' are the "
	    "same time\n"
	    "t.yaml:2:44: error: unknown time zone '../etc/passwd'\n"
	    "t.yaml:2:44: hint: use a tz database name such as UTC or "
	    "Europe/Berlin (see /usr/share/zoneinfo)\n");
	CHECK_DIAGS("runbook: x\nwindow: {days: []}\nsteps: [{id: s, run: x}]\n",
	    "t.yaml:2:9: error: missing key 'start' in 'window'\n"
	    "t.yaml:2:9: error: missing key 'end' in 'window'\n"
	    "t.yaml:2:16: error: 'days' must not be an empty list\n");
}

void
test_parse_runbook__rollback(void)
{
	struct rb_runbook *rb = load_ok("runbook: x\nsteps:\n"
	    "  - id: a\n    run: x\n"
	    "    rollback:\n      http: {url: 'http://h/undo', method: post}\n"
	    "      timeout: 5s\n"
	    "      env: {A: \"{{ steps.a.stdout }}\"}\n"
	    "  - id: b\n    run: x\n    rollback: {id: undo-b, check: y}\n");
	const struct rb_step *r;

	T_ASSERT(rb != NULL);
	r = rb->steps[0].rollback;
	T_ASSERT(r != NULL);
	T_EQ_STR(r->id, "a.rollback");
	T_EQ_INT(r->action, RB_ACT_HTTP);
	T_EQ_STR(r->http->method, "POST");
	T_EQ_INT(r->http->timeout_ms, 10000);
	T_EQ_INT(r->timeout_ms, 5000);
	T_EQ_INT(r->nenv, 1);
	T_ASSERT(!rb_step_is_readonly(r));
	T_EQ_STR(rb->steps[1].rollback->id, "undo-b");
	T_EQ_INT(rb->steps[1].rollback->action, RB_ACT_CHECK);
	rb_runbook_free(rb);
}

void
test_parse_runbook__rollback_errors(void)
{
	CHECK_DIAGS("runbook: x\nsteps:\n  - id: a\n    run: x\n"
	    "    rollback: {approve: ok?, needs: [a], when: 'true'}\n"
	    "  - id: b\n    run: x\n    rollback: [x]\n"
	    "  - id: c\n    run: x\n    rollback: {name: nothing}\n"
	    "on_failure:\n  - id: d\n    run: x\n    rollback: y\n",
	    "t.yaml:5:16: error: a rollback cannot be 'approve': use run, "
	    "check, http, tcp, notify or sleep\n"
	    "t.yaml:5:30: error: 'needs' cannot be used in a rollback\n"
	    "t.yaml:5:42: error: 'when' cannot be used in a rollback\n"
	    "t.yaml:8:15: error: 'rollback' must be a shell command or a step "
	    "mapping, not a list\n"
	    "t.yaml:11:15: error: the rollback of step 'c' has no action: add "
	    "one of run, check, http, tcp, notify or sleep\n"
	    "t.yaml:15:5: error: 'rollback' cannot be used in on_failure "
	    "steps\n"
	    "t.yaml:15:5: hint: on_failure steps run after the rollbacks; "
	    "nothing undoes them\n");
}

void
test_parse_runbook__actions(void)
{
	struct rb_runbook *rb = load_ok("runbook: x\nsteps:\n"
	    "  - id: h\n    http:\n      url: http://127.0.0.1:8080/healthz\n"
	    "      method: head\n      headers: {X-Token: \"{{ env.T }}\"}\n"
	    "      status: [200, 204]\n      body_match: '/ok/i'\n"
	    "      timeout: 3s\n      insecure: true\n"
	    "  - {id: h2, http: 'http://x/'}\n"
	    "  - {id: t, tcp: 'db1:5432'}\n"
	    "  - {id: t2, tcp: '{{ env.H }}'}\n"
	    "  - {id: s, sleep: 1m30s}\n"
	    "  - {id: ap, approve: 'Proceed?'}\n"
	    "  - {id: n, notify: {url: 'http://x', body: '{}', "
	    "headers: {Content-Type: application/json}}}\n"
	    "  - {id: sub, runbook: other, with: {p: \"{{ env.X }}\"}}\n"
	    "  - {id: m, manual: 'Call the DBA'}\n");
	const struct rb_step *s;

	T_ASSERT(rb != NULL);
	s = &rb->steps[0];
	T_EQ_INT(s->action, RB_ACT_HTTP);
	T_ASSERT(s->command == NULL);
	T_EQ_STR(s->http->method, "HEAD");
	T_EQ_INT(s->http->nheaders, 1);
	T_EQ_STR(s->http->headers[0].key, "X-Token");
	T_EQ_INT(s->http->nstatus, 2);
	T_EQ_INT(s->http->status[1], 204);
	T_ASSERT(s->http->body_match != NULL);
	T_EQ_INT(s->http->timeout_ms, 3000);
	T_ASSERT(s->http->insecure);
	T_ASSERT(rb_step_is_readonly(s));
	s = &rb->steps[1];
	T_EQ_STR(rb_tmpl_source(s->http->url), "http://x/");
	T_EQ_STR(s->http->method, "GET");
	T_EQ_INT(s->http->nstatus, 0);
	T_ASSERT(rb_step_is_readonly(s));
	T_EQ_STR(rb_tmpl_source(rb->steps[2].command), "db1:5432");
	T_ASSERT(rb_step_is_readonly(&rb->steps[2]));
	T_EQ_INT(rb->steps[4].sleep_ms, 90000);
	T_ASSERT(rb_step_is_readonly(&rb->steps[4]));
	T_EQ_STR(rb_tmpl_source(rb->steps[5].command), "Proceed?");
	T_ASSERT(!rb_step_is_readonly(&rb->steps[5]));
	s = &rb->steps[6];
	T_EQ_STR(rb_tmpl_source(s->notify->body), "{}");
	T_ASSERT(s->notify->text == NULL);
	T_EQ_INT(s->notify->nheaders, 1);
	s = &rb->steps[7];
	T_EQ_INT(s->action, RB_ACT_RUNBOOK);
	T_EQ_STR(s->sub_runbook, "other");
	T_EQ_INT(s->nwith, 1);
	T_EQ_STR(s->with[0].key, "p");
	T_EQ_INT(rb->steps[8].action, RB_ACT_MANUAL);
	rb_runbook_free(rb);
}

void
test_parse_runbook__action_errors(void)
{
	CHECK_DIAGS("runbook: x\nsteps:\n"
	    "  - id: h\n    http: {method: 'G T', status: [200, 700], "
	    "headers: {'a b': x}}\n"
	    "  - {id: t, tcp: db1}\n"
	    "  - {id: n, notify: {url: x}}\n"
	    "  - {id: n2, notify: {url: x, text: a, body: b}}\n"
	    "  - {id: r, run: ''}\n"
	    "  - {id: sub, runbook: 'Bad Name'}\n"
	    "  - {id: w, run: x, with: {a: b}}\n",
	    "t.yaml:4:11: error: missing key 'url' in 'http' of step 'h'\n"
	    "t.yaml:4:20: error: 'method' must be an HTTP method like GET or "
	    "POST, not 'G T'\n"
	    "t.yaml:4:41: error: 'status' must be a whole number from 100 to "
	    "599, not '700'\n"
	    "t.yaml:4:57: error: invalid HTTP header name 'a b'\n"
	    "t.yaml:5:18: error: 'tcp' must be host:port, not 'db1'\n"
	    "t.yaml:5:18: hint: for example 'db1:5432' or '[::1]:5432'\n"
	    "t.yaml:6:21: error: 'notify' of step 'n' has no message: add "
	    "'text' or 'body'\n"
	    "t.yaml:7:40: error: 'notify' takes 'text' or 'body', not both\n"
	    "t.yaml:7:40: hint: 'text' sends Slack-style {\"text\": ...}; "
	    "'body' sends the body exactly as written\n"
	    "t.yaml:8:18: error: 'run' must not be empty\n"
	    "t.yaml:9:24: error: invalid runbook name 'Bad Name'\n"
	    "t.yaml:9:24: hint: use a runbook's name (a-z, 0-9, '_', '-') or a "
	    "path to its file\n"
	    "t.yaml:10:21: error: 'with' only applies to 'runbook:' steps\n");
}

void
test_parse_runbook__retries_and_expect(void)
{
	struct rb_runbook *rb = load_ok("runbook: x\nsteps:\n"
	    "  - {id: a, run: x, retries: 3, expect: {exit: [0, 3], "
	    "stderr: '/warn/', not_stdout: '/ERROR/'}}\n"
	    "  - {id: b, run: x, retries: {count: 2}}\n");

	T_ASSERT(rb != NULL);
	T_EQ_INT(rb->steps[0].retries.count, 3);
	T_EQ_INT(rb->steps[0].retries.delay_ms, 1000);
	T_ASSERT(rb->steps[0].retries.backoff == 1.0);
	T_EQ_INT(rb->steps[0].expect.nexit, 2);
	T_EQ_INT(rb->steps[0].expect.exit_codes[1], 3);
	T_ASSERT(rb->steps[0].expect.stderr_re != NULL);
	T_ASSERT(rb->steps[0].expect.not_stdout_re != NULL);
	T_ASSERT(rb->steps[0].expect.stdout_re == NULL);
	T_EQ_INT(rb->steps[1].retries.count, 2);
	T_EQ_INT(rb->steps[1].expect.nexit, 0);
	rb_runbook_free(rb);

	CHECK_DIAGS("runbook: x\nsteps:\n"
	    "  - {id: a, run: x, retries: many}\n"
	    "  - {id: b, run: x, retries: {delay: 1s, backoff: 0.5}}\n"
	    "  - {id: c, run: x, expect: {exit: 300, stdot: x}}\n"
	    "  - {id: d, http: 'http://x', expect: {exit: 0}}\n"
	    "  - {id: e, run: x, until: 'true'}\n",
	    "t.yaml:3:30: error: 'retries' must be a whole number from 0 to "
	    "1000 or {count, delay, backoff}, not 'many'\n"
	    "t.yaml:4:30: error: missing key 'count' in 'retries' of step "
	    "'b'\n"
	    "t.yaml:4:51: error: 'backoff' must be a number of at least 1, not "
	    "'0.5'\n"
	    "t.yaml:5:36: error: 'exit' must be a whole number from 0 to 255, "
	    "not '300'\n"
	    "t.yaml:5:41: error: unknown key 'stdot' in 'expect' of step 'c' "
	    "(did you mean 'stdout'?)\n"
	    "t.yaml:6:31: error: 'expect' only applies to run and check "
	    "steps\n"
	    "t.yaml:6:31: hint: an http probe checks 'status' and 'body_match' "
	    "under 'http'\n"
	    "t.yaml:7:28: warning: 'until' has no effect without 'retries' in "
	    "step 'e'\n"
	    "t.yaml:7:28: hint: add 'retries: {count: N, delay: 5s}' so the "
	    "step is tried again until the condition holds\n");
}

void
test_parse_runbook__capture(void)
{
	struct rb_runbook *rb = load_ok("runbook: x\nsteps:\n"
	    "  - id: a\n    check: x\n    capture:\n"
	    "      version: '/v(?<version>[0-9.]+)/'\n"
	    "      code: '/code=([0-9]+)/'\n"
	    "      err: {regex: '/E(\\d+)/', stream: stderr}\n"
	    "  - id: b\n    run: echo {{ steps.a.vars.code }}\n");

	T_ASSERT(rb != NULL);
	T_EQ_INT(rb->steps[0].ncaptures, 3);
	T_EQ_STR(rb->steps[0].captures[0].name, "version");
	T_EQ_STR(rb->steps[0].captures[0].stream, "stdout");
	T_EQ_STR(rb->steps[0].captures[2].stream, "stderr");
	T_EQ_INT(rb->steps[0].captures[1].loc.line, 7);
	rb_runbook_free(rb);

	CHECK_DIAGS("runbook: x\nsteps:\n"
	    "  - id: a\n    check: x\n    capture:\n"
	    "      whole: '/v[0-9]+/'\n"
	    "      bad name: '/x/'\n"
	    "      s: {regex: '/(x)/', stream: stdin}\n"
	    "      m: {stream: stdout}\n"
	    "  - {id: b, sleep: 1s, capture: {x: '/(x)/'}}\n",
	    "t.yaml:6:14: warning: capture 'whole' has no group: the whole "
	    "match is captured\n"
	    "t.yaml:6:14: hint: name the part you want, e.g. "
	    "'/version (?<whole>\\S+)/'\n"
	    "t.yaml:7:7: error: invalid capture name 'bad name'\n"
	    "t.yaml:7:7: hint: use letters, digits, '_' and '-', starting with "
	    "a letter or '_'\n"
	    "t.yaml:8:35: error: 'stream' must be stdout or stderr, not "
	    "'stdin'\n"
	    "t.yaml:9:10: error: missing key 'regex' in capture 'm' of step "
	    "'a'\n"
	    "t.yaml:10:24: error: 'capture' only applies to run, check and "
	    "http steps\n");
}

void
test_parse_runbook__readonly_and_env(void)
{
	struct rb_runbook *rb = load_ok("runbook: x\nsteps:\n"
	    "  - {id: a, run: df -h, readonly: true, idempotent: yes, "
	    "env: {LC_ALL: C}, workdir: /tmp}\n");

	T_ASSERT(rb != NULL);
	T_ASSERT(rb->steps[0].readonly);
	T_ASSERT(rb->steps[0].idempotent);
	T_ASSERT(rb_step_is_readonly(&rb->steps[0]));
	T_EQ_INT(rb->steps[0].nenv, 1);
	T_EQ_STR(rb->steps[0].env[0].key, "LC_ALL");
	T_EQ_STR(rb_tmpl_source(rb->steps[0].workdir), "/tmp");
	rb_runbook_free(rb);

	CHECK_DIAGS("runbook: x\nsteps:\n"
	    "  - {id: a, check: x, readonly: true}\n"
	    "  - {id: b, run: x, env: {A-B: x, OK: \"\"}, batch: 0, "
	    "max_fail: 150%}\n"
	    "  - {id: c, run: x, on: \"\", batch: 25%, max_fail: 1}\n",
	    "t.yaml:3:23: error: 'readonly' only applies to run steps\n"
	    "t.yaml:3:23: hint: check, http (GET/HEAD), tcp and sleep steps "
	    "are read-only already\n"
	    "t.yaml:4:27: error: invalid environment variable name 'A-B' in "
	    "'env'\n"
	    "t.yaml:4:27: hint: use letters, digits and '_', not starting with "
	    "a digit\n"
	    "t.yaml:4:51: error: 'batch' must be a whole number of at least 1 "
	    "or a percentage like 25%, not '0'\n"
	    "t.yaml:4:64: error: 'max_fail' must be a number or a percentage "
	    "from 0% to 100%, not '150%'\n"
	    "t.yaml:5:25: error: 'on' must not be empty\n");
}

void
test_parse_runbook__on_failure(void)
{
	struct rb_runbook *rb = load_ok("runbook: x\nsteps: [{id: a, run: x}]\n"
	    "on_failure:\n  - {id: n1, run: 'echo {{ steps.a.stdout }}'}\n"
	    "  - {id: n2, run: 'echo {{ steps.n1.ok }}'}\n");

	T_ASSERT(rb != NULL);
	T_EQ_INT(rb->non_failure, 2);
	T_EQ_INT(rb->on_failure[0].nneed_idx, 0);
	T_EQ_INT(rb->on_failure[1].nneed_idx, 1);
	T_EQ_INT(rb->on_failure[1].need_idx[0], 0);
	rb_runbook_free(rb);

	CHECK_DIAGS("runbook: x\nsteps: [{id: a, run: x}]\n"
	    "on_failure:\n  - {id: n1, run: x, needs: [a]}\n"
	    "  - {id: n2, run: x, needs: []}\n"
	    "  - {id: n3, run: 'echo {{ steps.n1.ok }}'}\n",
	    "t.yaml:4:30: error: step 'n1' needs unknown step 'a'\n"
	    "t.yaml:4:30: hint: on_failure steps run after every step has "
	    "finished; 'needs' names other on_failure steps only\n"
	    "t.yaml:6:28: warning: step 'n3' uses steps.n1 but does not wait "
	    "for it: add 'n1' to needs\n");
}

void
test_parse_runbook__expr_and_template_errors(void)
{
	char *got = diags_of("runbook: x\nsteps:\n"
	    "  - id: a\n    run: echo {{ params.x\n    when: '&& b'\n", NULL);

	/* Whatever the wording, both are located in their scalars. */
	T_CONTAINS(got, "t.yaml:4:");
	T_CONTAINS(got, "t.yaml:5:");
	T_CONTAINS(got, ": error: ");
	free(got);
}

/* Write a file under the test's scratch directory. */
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

/* Load a file under the scratch directory with sub-runbook checks. */
static char *
sub_diags_of(const char *rel, int *out_r)
{
	struct rb_diags d = RB_DIAGS_INIT;
	struct rb_runbook *rb = NULL;
	struct rb_buf path = RB_BUF_INIT, out = RB_BUF_INIT;
	const char *old = getenv("RUNBOOK_PATH");
	char *saved = old != NULL ? strdup(old) : NULL;
	size_t i;
	int r;

	setenv("RUNBOOK_PATH", rb_test_tmpdir(), 1);
	rb_buf_addf(&path, "%s/%s", rb_test_tmpdir(), rel);
	r = rb_runbook_load(&rb, path.buf, RB_RUNBOOK_LOAD_CHECK_SUBRUNBOOKS,
	    &d);
	if (saved != NULL)
		setenv("RUNBOOK_PATH", saved, 1);
	else
		unsetenv("RUNBOOK_PATH");
	free(saved);
	rb_diags_sort(&d);
	/* Paths relative to the scratch directory, for stable text. */
	for (i = 0; i < d.nr; i++) {
		size_t n = strlen(rb_test_tmpdir());

		if (d.v[i].file != NULL &&
		    strncmp(d.v[i].file, rb_test_tmpdir(), n) == 0)
			memmove(d.v[i].file, d.v[i].file + n + 1,
			    strlen(d.v[i].file + n + 1) + 1);
		if (d.v[i].hint != NULL && strstr(d.v[i].hint,
		    rb_test_tmpdir()) != NULL) {
			free(d.v[i].hint);
			d.v[i].hint = strdup("(path)");
		}
	}
	rb_diags_format(&out, &d);
	rb_diags_release(&d);
	rb_runbook_free(rb);
	rb_buf_release(&path);
	if (out_r != NULL)
		*out_r = r;
	return rb_buf_detach(&out, NULL);
}

void
test_parse_runbook__subrunbooks(void)
{
	char *got;
	int r;

	write_file("target.yaml", "runbook: target\nparams:\n"
	    "  host: {}\n  port: {default: '22'}\n  pw: {env: PW}\n"
	    "steps: [{id: s, run: 'echo {{ params.host }}'}]\n");
	write_file("broken.yaml", "runbook: broken\nsteps: []\n");
	write_file("caller.yaml", "playbook: caller\nsteps:\n"
	    "  - {id: a, runbook: target, with: {host: h, prot: 1}}\n"
	    "  - {id: b, runbook: target}\n"
	    "  - {id: c, runbook: targte}\n"
	    "  - {id: d, runbook: ./target.yaml, with: {host: x}}\n"
	    "  - {id: e, runbook: sub/none.yaml}\n"
	    "  - {id: f, runbook: broken}\n");
	got = sub_diags_of("caller.yaml", &r);
	T_EQ_INT(r, RB_EINVAL);
	T_EQ_STR(got,
	    "caller.yaml:3:46: error: runbook 'target' has no param 'prot' "
	    "(did you mean 'port'?)\n"
	    "caller.yaml:3:46: hint: its params are: host, port, pw\n"
	    "caller.yaml:4:22: error: runbook 'target' needs param 'host': add "
	    "it to 'with'\n"
	    "caller.yaml:5:22: error: unknown runbook 'targte' (did you mean "
	    "'target'?)\n"
	    "caller.yaml:5:22: hint: (path)\n"
	    "caller.yaml:7:22: error: unknown runbook 'sub/none.yaml'\n"
	    "caller.yaml:7:22: hint: (path)\n"
	    "caller.yaml:8:22: error: runbook 'broken' has errors\n"
	    "caller.yaml:8:22: hint: (path)\n");
	free(got);

	/* Without the flag nothing is looked up. */
	{
		struct rb_diags d = RB_DIAGS_INIT;
		struct rb_runbook *rb = NULL;
		struct rb_buf path = RB_BUF_INIT;

		write_file("lone.yaml", "runbook: lone\nsteps:\n"
		    "  - {id: a, runbook: nowhere}\n");
		rb_buf_addf(&path, "%s/lone.yaml", rb_test_tmpdir());
		T_EQ_INT(rb_runbook_load(&rb, path.buf, 0, &d), 0);
		T_EQ_INT(d.nr, 0);
		rb_runbook_free(rb);
		rb_buf_release(&path);
		rb_diags_release(&d);
	}
}

void
test_parse_runbook__subrunbook_cycle(void)
{
	char *got;
	int r;

	write_file("a.yaml", "runbook: a\nsteps:\n  - {id: s, runbook: b}\n");
	write_file("b.yaml", "runbook: b\nsteps:\n  - {id: s, run: x}\n"
	    "  - {id: t, runbook: c.yaml}\n");
	write_file("c.yaml", "runbook: c\nsteps:\n  - {id: s, runbook: a}\n");
	got = sub_diags_of("a.yaml", &r);
	T_EQ_INT(r, RB_EINVAL);
	T_EQ_STR(got, "a.yaml:3:22: error: runbook cycle: a -> b -> c -> a\n"
	    "a.yaml:3:22: hint: a runbook cannot run itself, directly or "
	    "through others\n");
	free(got);
	write_file("self.yaml", "runbook: self\nsteps:\n"
	    "  - {id: s, runbook: self.yaml}\n");
	got = sub_diags_of("self.yaml", &r);
	T_EQ_STR(got, "self.yaml:3:22: error: runbook cycle: self -> self\n"
	    "self.yaml:3:22: hint: a runbook cannot run itself, directly or "
	    "through others\n");
	free(got);
	/* A cycle further down is reported where it closes. */
	write_file("top.yaml", "runbook: top\nsteps:\n  - {id: s, runbook: b}\n");
	write_file("b.yaml", "runbook: b\nsteps:\n  - {id: t, runbook: c}\n");
	write_file("c.yaml", "runbook: c\nsteps:\n  - {id: s, runbook: b}\n");
	got = sub_diags_of("top.yaml", &r);
	T_EQ_INT(r, RB_EINVAL);
	T_EQ_STR(got, "b.yaml:3:22: error: runbook cycle: b -> c -> b\n"
	    "b.yaml:3:22: hint: a runbook cannot run itself, directly or "
	    "through others\n");
	free(got);
}

void
test_parse_runbook__ten_errors(void)
{
	int r;
	char *got = diags_of("runbook: db-connection\n"
	    "descripton: typo\n"
	    "params:\n"
	    "  db_host: {default: 127.0.0.1}\n"
	    "timeout: 10\n"
	    "steps:\n"
	    "  - id: db-ready\n"
	    "    check: pg_isready -h {{ params.db_hots }}\n"
	    "    expect: {stdout: '/accepting(/'}\n"
	    "  - id: wait-db\n"
	    "    check: pg_isready\n"
	    "    retires: 3\n"
	    "    timeout: [1, 2]\n"
	    "  - id: wait-db\n"
	    "    run: echo a\n"
	    "    check: echo b\n"
	    "  - id: Restart\n"
	    "    needs: [db-redy]\n"
	    "    run: systemctl restart postgresql\n"
	    "  - id: nothing\n"
	    "    name: does nothing\n", &r);

	T_EQ_INT(r, RB_EINVAL);
	T_EQ_STR(got,
	    "t.yaml:2:1: error: unknown key 'descripton' (did you mean "
	    "'description'?)\n"
	    "t.yaml:5:10: error: 'timeout' must be a duration like 30s, 5m or "
	    "2h, not '10'\n"
	    "t.yaml:5:10: hint: add a unit: '10s' for seconds, '10m' for "
	    "minutes\n"
	    "t.yaml:8:29: error: unknown param 'db_hots' (did you mean "
	    "'db_host'?)\n"
	    "t.yaml:8:29: hint: declare it under 'params:'\n"
	    "t.yaml:9:22: error: invalid regex '/accepting(/': missing closing "
	    "parenthesis at offset 11\n"
	    "t.yaml:12:5: error: unknown key 'retires' in step 'wait-db' (did "
	    "you mean 'retries'?)\n"
	    "t.yaml:13:14: error: 'timeout' must be a duration like 30s, 5m "
	    "or 2h, not a list\n"
	    "t.yaml:14:9: error: duplicate step id 'wait-db' (first at line "
	    "10)\n"
	    "t.yaml:14:9: hint: step ids must be unique in a file, on_failure "
	    "steps included\n"
	    "t.yaml:16:5: error: step 'wait-db' has two actions, 'run' and "
	    "'check'\n"
	    "t.yaml:16:5: hint: a step does one thing: split it into two "
	    "steps\n"
	    "t.yaml:17:9: error: invalid step id 'Restart'\n"
	    "t.yaml:17:9: hint: use a-z, 0-9, '_' and '-', starting with a "
	    "letter or digit\n"
	    "t.yaml:18:13: error: step 'Restart' needs unknown step 'db-redy' "
	    "(did you mean 'db-ready'?)\n"
	    "t.yaml:20:5: error: step 'nothing' has no action: add one of run, "
	    "check, http, tcp, sleep, approve, notify, runbook, manual\n");
	free(got);
}

void
test_parse_runbook__not_a_mapping(void)
{
	CHECK_DIAGS("- a\n- b\n",
	    "t.yaml:1:1: error: a runbook must be a mapping, not a list\n"
	    "t.yaml:1:1: hint: start with 'runbook: NAME' and 'steps:'\n");
	CHECK_DIAGS("runbook: x\nsteps: [{id: a, run: x}]\nrunbook: y\n",
	    "t.yaml:3:1: error: duplicate key 'runbook' (first at line 1)\n"
	    "t.yaml:3:1: hint: remove one of them: later keys would silently "
	    "replace earlier ones\n");
}
