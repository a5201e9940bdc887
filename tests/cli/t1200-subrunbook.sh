#!/bin/sh
# `runbook:` steps: a called runbook runs as a sub-DAG of the same run.
. "$(dirname "$0")/lib.sh"

mkdir runbooks playbooks
cat >runbooks/child.yaml <<'YAML'
runbook: child
params:
  who: {pattern: '^[a-z]+$'}
steps:
  - id: greet
    run: echo "hello {{ params.who }}" >>log
    rollback: echo "undo greet {{ params.who }}" >>log
  - id: check
    check: echo "child-out {{ params.who }}"
YAML
cat >playbooks/parent.yaml <<'YAML'
playbook: parent
params:
  name: {default: world}
  fail: {default: "no"}
steps:
  - id: before
    run: echo before >>log
  - id: call
    runbook: child
    with: {who: "{{ params.name }}"}
  - id: after
    run: echo "after {{ steps.call.ok }}" >>log; test {{ params.fail }} = no
  - id: skipped-call
    when: params.name == "nobody"
    runbook: child
    with: {who: nobody}
YAML

test_expect_success 'a runbook step runs the called runbook in order, with its params' '
	rm -f log &&
	"$RUNBOOK" run parent 2>err &&
	printf "before\nhello world\nafter true\n" >expect &&
	test_cmp expect log &&
	grep "call/greet" err &&
	grep "skip.*skipped-call" err
'

test_expect_success 'a failure after the call rolls back inside it too, in reverse order' '
	rm -f log &&
	test_must_fail --exit 1 "$RUNBOOK" run parent -p fail=yes 2>err &&
	printf "before\nhello world\nafter true\nundo greet world\n" >expect &&
	test_cmp expect log
'

test_expect_success 'a with: value that fails the called runbook param pattern fails the step' '
	rm -f log &&
	test_must_fail --exit 1 "$RUNBOOK" run parent -p "name=Bad Name" 2>err &&
	grep "child" err && ! grep hello log
'

test_expect_success 'json events show the called steps with their prefix' '
	"$RUNBOOK" run parent --output json >events &&
	grep "\"step\":\"call/greet\"" events &&
	grep "\"step\":\"call\".*\"status\":\"succeeded\"" events
'

test_expect_success 'plan shows the called runbook inside, rendered, under the digest' '
	"$RUNBOOK" plan parent -p name=moon >out &&
	grep "echo .hello moon. >>log" out &&
	a=$("$RUNBOOK" plan parent | sed -n "s/^plan digest: //p") &&
	sed -i "s/hello/hi/" runbooks/child.yaml &&
	b=$("$RUNBOOK" plan parent | sed -n "s/^plan digest: //p") &&
	sed -i "s/hi/hello/" runbooks/child.yaml &&
	test "$a" != "$b"
'

test_expect_success 'validate reports a cycle between runbooks' '
	cat >runbooks/a.yaml <<-YAML &&
	runbook: a
	steps:
	  - id: tob
	    runbook: b
	YAML
	cat >runbooks/b.yaml <<-YAML &&
	runbook: b
	steps:
	  - id: toa
	    runbook: a
	YAML
	test_must_fail --exit 2 "$RUNBOOK" validate runbooks/a.yaml 2>err &&
	grep "runbook cycle: a -> b -> a" err
'

test_done
