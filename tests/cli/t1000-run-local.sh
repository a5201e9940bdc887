#!/bin/sh
# runbook run on local targets: scheduling, exit codes, rollbacks, retries,
# until, captures, timeouts, quoting, dry runs, signals and JSON events.
. "$(dirname "$0")/lib.sh"

mkdir runbooks

test_expect_success 'a passing runbook exits 0 and shows a summary' '
	cat >runbooks/ok.yaml <<-YAML &&
	runbook: ok
	steps:
	  - id: one
	    run: echo hello
	  - id: two
	    check: "true"
	YAML
	"$RUNBOOK" run ok 2>err &&
	grep "one" err && grep "succeeded" err
'

test_expect_success 'parallel roots actually overlap' '
	cat >runbooks/par.yaml <<-YAML &&
	runbook: par
	steps:
	  - id: a
	    needs: []
	    run: date +%s%N >a.start; sleep 1; date +%s%N >a.end
	  - id: b
	    needs: []
	    run: date +%s%N >b.start; sleep 1; date +%s%N >b.end
	YAML
	"$RUNBOOK" run par --jobs 2 2>err &&
	# Each began before the other ended (load-proof, unlike wall time).
	test "$(cat a.start)" -lt "$(cat b.end)" &&
	test "$(cat b.start)" -lt "$(cat a.end)"
'

test_expect_success '--jobs 1 serialises independent steps' '
	start=$(date +%s%N) &&
	"$RUNBOOK" run par --jobs 1 2>err &&
	end=$(date +%s%N) &&
	test $(( (end - start) / 1000000 )) -ge 2000
'

test_expect_success 'a failed step rolls back succeeded steps in reverse order, exit 1' '
	cat >runbooks/rb.yaml <<-YAML &&
	runbook: rb
	steps:
	  - id: s1
	    run: echo s1 >>log
	    rollback: echo undo-s1 >>log
	  - id: s2
	    run: echo s2 >>log
	    rollback: echo undo-s2 >>log
	  - id: s3
	    run: echo s3 >>log; exit 3
	    rollback: echo undo-s3 >>log
	  - id: s4
	    run: echo s4 >>log
	on_failure:
	  - id: tell
	    run: echo on-failure >>log
	YAML
	rm -f log &&
	test_must_fail --exit 1 "$RUNBOOK" run rb 2>err &&
	printf "s1\ns2\ns3\nundo-s2\nundo-s1\non-failure\n" >expect &&
	test_cmp expect log &&
	grep "exit 3 (expected 0)" err
'

test_expect_success 'a failing rollback gives exit 3 and the other rollbacks still run' '
	cat >runbooks/rbf.yaml <<-YAML &&
	runbook: rbf
	steps:
	  - id: s1
	    run: "true"
	    rollback: echo undo-s1 >>log
	  - id: s2
	    run: "true"
	    rollback: echo undo-s2 >>log; exit 1
	  - id: s3
	    run: "false"
	YAML
	rm -f log &&
	test_must_fail --exit 3 "$RUNBOOK" run rbf 2>err &&
	printf "undo-s2\nundo-s1\n" >expect &&
	test_cmp expect log
'

test_expect_success 'continue_on_error records the failure and goes on' '
	cat >runbooks/coe.yaml <<-YAML &&
	runbook: coe
	steps:
	  - id: probe
	    check: "false"
	    continue_on_error: true
	  - id: fix
	    when: steps.probe.failed
	    run: echo fixed >fixed
	  - id: skipme
	    when: steps.probe.ok
	    run: echo no >skipped
	YAML
	"$RUNBOOK" run coe 2>err &&
	test -f fixed && ! test -f skipped &&
	grep "skip" err
'

test_expect_success 'a timed-out step and its grandchildren are gone' '
	cat >runbooks/to.yaml <<-YAML &&
	runbook: to
	steps:
	  - id: hang
	    timeout: 500ms
	    run: (trap "" TERM; sleep 300; echo survived >survived) & echo \$! >gc.pid; trap "" TERM; sleep 300
	YAML
	test_must_fail --exit 1 "$RUNBOOK" run to 2>err &&
	grep "timed out after 500ms" err &&
	sleep 0.2 &&
	test_proc_gone "$(cat gc.pid)"
'

test_expect_success 'retries stop at the right attempt' '
	cat >runbooks/retry.yaml <<-YAML &&
	runbook: retry
	steps:
	  - id: flaky
	    run: echo x >>attempts; test \$(wc -l <attempts) -ge 3
	    retries: {count: 5, delay: 10ms, backoff: 2}
	  - id: never
	    run: echo y >>never; false
	    retries: 2
	    timeout: 5s
	YAML
	rm -f attempts never &&
	test_must_fail --exit 1 "$RUNBOOK" run retry --output json >events &&
	test "$(wc -l <attempts)" -eq 3 &&
	test "$(wc -l <never)" -eq 3 &&
	test "$(grep -c "\"event\":\"step_retry\"" events)" -eq 4
'

test_expect_success 'until polls until the condition holds' '
	cat >runbooks/until.yaml <<-YAML &&
	runbook: until
	steps:
	  - id: poll
	    check: echo x >>polls; wc -l <polls
	    capture: {n: "/(?<n>[0-9]+)/"}
	    until: steps.poll.vars.n >= 4
	    retries: {count: 10, delay: 10ms}
	YAML
	rm -f polls &&
	"$RUNBOOK" run until 2>err &&
	test "$(wc -l <polls)" -eq 4
'

test_expect_success 'captures feed a later when' '
	cat >runbooks/cap.yaml <<-YAML &&
	runbook: cap
	steps:
	  - id: count
	    check: echo "connections=97"
	    capture: {conns: "/connections=(?<conns>[0-9]+)/"}
	  - id: high
	    when: steps.count.vars.conns > 90
	    run: echo high >high
	  - id: low
	    when: steps.count.vars.conns <= 90
	    run: echo low >low
	  - id: show
	    run: echo "{{ steps.count.vars.conns }}" >value
	YAML
	"$RUNBOOK" run cap 2>err &&
	test -f high && ! test -f low &&
	test "$(cat value)" = 97
'

test_expect_success 'a hostile param reaches the command byte-identical and executes nothing' '
	cat >runbooks/inj.yaml <<-YAML &&
	runbook: inj
	params:
	  v: {}
	steps:
	  - id: echo
	    run: printf %s {{ params.v }} >got; printf %s "\$RUNBOOK_PARAM_V" >env
	YAML
	v="x'"'"'; touch pwned; echo '"'"'\$(touch pwned2)\`touch pwned3\` \"q\" {{ env.HOME }}" &&
	"$RUNBOOK" run inj -p "v=$v" 2>err &&
	test "$(cat got)" = "$v" &&
	test "$(cat env)" = "$v" &&
	! test -e pwned && ! test -e pwned2 && ! test -e pwned3
'

test_expect_success 'expect checks stdout patterns and lists of exit codes' '
	cat >runbooks/exp.yaml <<-YAML &&
	runbook: exp
	steps:
	  - id: a
	    check: echo "accepting connections"; exit 3
	    expect: {exit: [0, 3], stdout: "/accepting/", not_stdout: "/refused/"}
	  - id: b
	    check: echo "connection refused"
	    expect: {not_stdout: "/refused/"}
	YAML
	test_must_fail --exit 1 "$RUNBOOK" run exp 2>err &&
	grep "stdout matches" err &&
	grep "ok *a" err
'

test_expect_success 'whole-run timeout stops the run and rolls back' '
	cat >runbooks/rto.yaml <<-YAML &&
	runbook: rto
	timeout: 600ms
	steps:
	  - id: first
	    run: "true"
	    rollback: echo undone >undone
	  - id: slow
	    run: sleep 30
	YAML
	test_must_fail --exit 1 "$RUNBOOK" run rto 2>err &&
	test -f undone
'

test_expect_success 'json output: one event per line, run_started first, run_finished last' '
	"$RUNBOOK" run ok --output json >events &&
	head -n 1 events | grep "\"event\":\"run_started\"" &&
	tail -n 1 events | grep "\"event\":\"run_finished\"" &&
	python3 -c "
import json,sys
for l in open(\"events\"):
    e = json.loads(l)
    assert \"event\" in e and \"ts\" in e and \"run_id\" in e, e
"
'

test_expect_success 'a step printing 50 MB neither hangs nor keeps it all' '
	cat >runbooks/big.yaml <<-YAML &&
	runbook: big
	steps:
	  - id: flood
	    run: head -c 52428800 /dev/zero | tr "\\\\0" x; echo; echo END
	YAML
	"$RUNBOOK" run big --output json >events &&
	grep "\"stdout_bytes\":52428805" events
'

test_expect_success 'dry-run executes nothing and prints the plan' '
	cat >runbooks/dry.yaml <<-YAML &&
	runbook: dry
	steps:
	  - id: probe
	    check: echo probed >probed; false
	    continue_on_error: true
	  - id: act
	    when: steps.probe.failed
	    run: echo acted >acted
	  - id: other
	    when: steps.probe.ok
	    run: echo other >other
	YAML
	"$RUNBOOK" run dry --dry-run >out 2>err &&
	! test -e probed && ! test -e acted &&
	grep "plan digest" out
'

test_expect_success 'dry-run=checks runs read-only steps and shows the branches' '
	"$RUNBOOK" run dry --dry-run=checks 2>err &&
	test -e probed && ! test -e acted && ! test -e other &&
	grep "dry run" err &&
	grep "when steps.probe.ok is false" err
'

test_expect_success 'SIGINT stops the run: exit 130, the step killed, nothing rolled back' '
	cat >runbooks/int.yaml <<-YAML
	runbook: int
	steps:
	  - id: first
	    run: "true"
	    rollback: echo undone >undone-int
	  - id: long
	    run: echo \$\$ >long.pid; sleep 60
	YAML
	"$RUNBOOK" run int 2>err &
	pid=$! &&
	i=0; while ! test -s long.pid && test $i -lt 100; do sleep 0.05; i=$((i+1)); done &&
	kill -INT $pid &&
	code=0 && wait $pid || code=$?
	echo "exit code $code" &&
	cat err &&
	test "$code" -eq 130 &&
	! test -e undone-int &&
	test_proc_gone "$(cat long.pid)"
'

test_expect_success 'an approval gate pauses the run with exit 4' '
	cat >runbooks/gate.yaml <<-YAML &&
	runbook: gate
	steps:
	  - id: ask
	    approve: Restart the database?
	  - id: after
	    run: echo ran >ran
	YAML
	test_must_fail --exit 4 "$RUNBOOK" run gate 2>err &&
	! test -e ran
'

test_expect_success 'NO_COLOR output has no escape sequences' '
	NO_COLOR=1 "$RUNBOOK" run ok 2>err &&
	! grep "$(printf "\033")" err
'

test_expect_success 'workdir and env reach the command' '
	mkdir wd &&
	cat >runbooks/wd.yaml <<-YAML &&
	runbook: wd
	steps:
	  - id: here
	    workdir: wd
	    env: {GREETING: hi}
	    run: pwd >where; echo "\$GREETING \$RUNBOOK_STEP_ID" >what
	YAML
	"$RUNBOOK" run wd 2>err &&
	grep "/wd$" wd/where && test "$(cat wd/what)" = "hi here"
'

test_done
