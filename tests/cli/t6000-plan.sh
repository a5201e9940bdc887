#!/bin/sh
# runbook plan: rendered commands, quoting, secrets, formats and the digest.
. "$(dirname "$0")/lib.sh"

mkdir runbooks
cat >runbooks/db.yaml <<'YAML'
runbook: db
description: Database checks
params:
  db_host: {default: 127.0.0.1, description: Database host}
  note: {default: hello}
  pg_password: {env: TEST_PGPASSWORD, secret: true, required: false}
timeout: 10m
steps:
  - id: ready
    name: Is it up?
    check: pg_isready -h {{ params.db_host }} -p 5432
    expect: {exit: 0, stdout: '/accepting/'}
    continue_on_error: true
  - id: say
    when: steps.ready.failed
    run: echo {{ params.note }}
    rollback: echo undo {{ params.note }}
  - id: login
    run: psql "host={{ params.db_host }}" -c 'select 1' --password={{ params.pg_password }}
    retries: {count: 3, delay: 2s, backoff: 1.5}
  - id: after
    needs: [ready]
    run: echo {{ steps.ready.stdout }}
YAML

test_expect_success 'plan shows rendered, quoted commands and the digest' '
	"$RUNBOOK" plan db >out &&
	grep "pg_isready -h .127.0.0.1. -p 5432" out &&
	grep "when: steps.ready.failed" out &&
	grep "rollback \$ echo undo .hello." out &&
	grep "^plan digest: [0-9a-f]\{64\}$" out
'

test_expect_success 'a hostile param value is one literal shell word' '
	"$RUNBOOK" plan db -p "note=x'"'"'; touch /tmp/pwned; echo '"'"'\$(id)" >out &&
	cmd=$(sed -n "s/^ *\\$ echo //p" out) &&
	printf "%s\n" "$cmd" &&
	test "$(eval "printf %s $cmd")" = "x'"'"'; touch /tmp/pwned; echo '"'"'\$(id)"
'

test_expect_success 'secrets never appear in any plan format' '
	for f in text json markdown dot; do
		TEST_PGPASSWORD=s3cr3t-canary "$RUNBOOK" plan db --format $f >out 2>&1 || exit 1
		if grep s3cr3t-canary out; then exit 1; fi
	done &&
	TEST_PGPASSWORD=s3cr3t-canary "$RUNBOOK" plan db >out &&
	grep "pg_password=\*\*\*\*\*\*" out
'

test_expect_success 'values known only at run time are shown as such' '
	"$RUNBOOK" plan db >out &&
	grep "<runtime:steps.ready.stdout>" out
'

test_expect_success 'json plan has the SPEC fields and its digest is the sha256 of the canonical form' '
	"$RUNBOOK" plan db --format json >plan.json &&
	python3 - plan.json <<-PY
	import json, hashlib, sys
	p = json.load(open(sys.argv[1]))
	for k in ("runbook", "digest", "params", "steps"):
	    assert k in p, k
	for s in p["steps"]:
	    for k in ("id", "action", "command", "target", "needs", "when", "timeout", "retries", "rollback", "layer"):
	        assert k in s, (s["id"], k)
	d = p.pop("digest")
	canon = json.dumps(p, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
	assert hashlib.sha256(canon.encode()).hexdigest() == d, "digest mismatch"
	assert p["steps"][0]["command"] == "pg_isready -h '"'"'127.0.0.1'"'"' -p 5432"
	assert [s["layer"] for s in p["steps"]] == [0, 1, 1, 2], [s["layer"] for s in p["steps"]]
	PY
'

test_expect_success 'the digest is stable and every format prints the same one' '
	a=$("$RUNBOOK" plan db | sed -n "s/^plan digest: //p") &&
	b=$("$RUNBOOK" plan db | sed -n "s/^plan digest: //p") &&
	test "$a" = "$b" &&
	"$RUNBOOK" plan db --format markdown >md 2>err &&
	grep "$a" md && grep "$a" err &&
	"$RUNBOOK" plan db --format dot >g.dot 2>err && grep "$a" err &&
	"$RUNBOOK" plan db --format json 2>/dev/null | grep "$a"
'

test_expect_success 'the digest changes when a rendered value changes' '
	a=$("$RUNBOOK" plan db | sed -n "s/^plan digest: //p") &&
	b=$("$RUNBOOK" plan db -p note=other | sed -n "s/^plan digest: //p") &&
	test "$a" != "$b"
'

test_expect_success 'a shortened digest is refused, saying what a digest is' '
	a=$("$RUNBOOK" plan db | sed -n "s/^plan digest: //p") &&
	short=$(printf %s "$a" | cut -c1-16) &&
	test_must_fail --exit 2 "$RUNBOOK" run db --plan-digest "$short" 2>err &&
	grep "a digest is 64 hex characters; got 16" err &&
	! grep "changed" err
'

cat >runbooks/opt.yaml <<'YAML'
runbook: opt
params:
  flag: {default: ""}
  url: {default: ""}
steps:
  - id: touch-flag
    when: params.flag != ""
    run: touch {{ params.flag }}
  - id: probe
    when: params.url != ""
    http: {url: "{{ params.url }}"}
  - id: tell
    when: env.RB_TEST_HOOK
    notify: {url: "{{ env.RB_TEST_HOOK }}", text: hi}
  - id: always
    run: echo {{ params.flag }}
YAML

test_expect_success 'a step whose when is already false says why, not its empty command' '
	env -u RB_TEST_HOOK "$RUNBOOK" plan opt >out &&
	cat out &&
	grep "^      skipped: params.flag is empty$" out &&
	grep "^      skipped: params.url is empty$" out &&
	grep "^      skipped: env.RB_TEST_HOOK is not set$" out &&
	! grep "\\$ touch" out && ! grep "GET" out && ! grep "POST" out &&
	grep "^      \$ echo .." out &&
	env -u RB_TEST_HOOK "$RUNBOOK" plan opt --format json >p.json &&
	python3 -c "import json,sys; s=json.load(open(\"p.json\"))[\"steps\"]; assert s[0][\"skip\"] == \"params.flag is empty\", s; assert \"skip\" not in s[3]" &&
	RB_TEST_HOOK=http://127.0.0.1:9/x "$RUNBOOK" plan opt -p flag=/tmp/f -p url=http://127.0.0.1:9/ >out &&
	! grep "skipped" out &&
	grep "touch ./tmp/f." out && grep "GET http://127.0.0.1:9/" out && grep "POST to" out
'

if command -v dot >/dev/null 2>&1; then
	test_expect_success 'dot output renders with graphviz' '
		"$RUNBOOK" plan db --format dot >g.dot 2>/dev/null &&
		dot -Tsvg g.dot >g.svg && grep "<svg" g.svg
	'
else
	test_skip 'dot output renders with graphviz' 'dot is not installed (package graphviz)'
fi

test_expect_success 'markdown has a steps table and fenced commands' '
	"$RUNBOOK" plan db --format markdown >md 2>/dev/null &&
	grep "^| Layer | # | Step" md &&
	grep "^\`\`\`sh" md
'

test_expect_success 'an undeclared param is refused with a suggestion' '
	test_must_fail --exit 2 "$RUNBOOK" plan db -p db_hots=x 2>err &&
	grep "unknown parameter .db_hots." err &&
	grep "did you mean .db_host." err
'

test_expect_success 'plan by path works and unknown format is refused' '
	"$RUNBOOK" plan runbooks/db.yaml >/dev/null &&
	test_must_fail --exit 2 "$RUNBOOK" plan db --format pdf 2>err &&
	grep "unknown plan format" err
'

test_expect_success 'list shows the runbook with its description' '
	"$RUNBOOK" list >out &&
	grep "^db  *runbook  *Database checks" out
'

test_done
