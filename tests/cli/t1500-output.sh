#!/bin/sh
# What a person reads from run, resume, approve, show and runs: the first
# line says started or resumed, carried-over steps keep their attempts,
# totals count steps (not rollbacks, on_failure or hosts), commands show a
# '$ ' on every line, NO_COLOR turns off colour but not the live lines, and
# `runs` filters and limits as it says.
. "$(dirname "$0")/lib.sh"

mkdir runbooks
cat >runbooks/gate.yaml <<'YAML'
runbook: gate
steps:
  - id: one
    run: echo one
  - id: two
    approve: go on?
  - id: three
    run: |
      echo three
      echo second line
YAML
cat >runbooks/fail.yaml <<'YAML'
runbook: fail
steps:
  - id: a
    run: echo a
    rollback: echo undo a
  - id: b
    run: echo b
    rollback: echo undo b
  - id: c
    when: params.x != ""
    run: echo c
  - id: d
    run: echo failing >&2; exit 3
  - id: e
    run: echo never
params:
  x: {default: ""}
on_failure:
  - id: tell
    run: echo told
YAML

run_id() {
	sed -n "s/^runbook: run of '[^']*' [a-z]*, run \([^ ]*\)$/\1/p" "$1" | head -n 1
}

test_expect_success 'a paused run, approved: the first line says resumed, not started' '
	test_must_fail --exit 4 "$RUNBOOK" run gate 2>err &&
	grep "^runbook: run of .gate. started, run " err &&
	id=$(run_id err) && test -n "$id" &&
	"$RUNBOOK" approve "$id" two --by alice 2>err &&
	cat err &&
	grep "^runbook: run of .gate. resumed, run $id$" err &&
	! grep "started" err
'

test_expect_success 'carried-over steps are done, with the attempts they took' '
	id=$("$RUNBOOK" runs --runbook gate --limit 1 | awk "NR == 2 { print \$1 }") &&
	"$RUNBOOK" show "$id" >/dev/null &&
	grep "^done    one: succeeded before the run stopped" err &&
	grep "^one  *local  *succeeded  *1 " err &&
	grep "^two  *local  *succeeded  *1 " err &&
	grep "^run $id succeeded: 3 succeeded, 0 failed, 0 skipped$" err
'

test_expect_success 'approve --output json: run_started says resumed' '
	test_must_fail --exit 4 "$RUNBOOK" run gate 2>err &&
	id=$(run_id err) &&
	"$RUNBOOK" approve "$id" two --by alice --output json >ev 2>err ||
		{ cat err; exit 1; }
	grep "\"event\":\"run_started\"" ev | grep "\"resumed\":true"
'

test_expect_success 'the totals count steps: not rollbacks, not on_failure' '
	test_must_fail --exit 1 "$RUNBOOK" run fail 2>err &&
	cat err &&
	grep "^a (rollback) " err && grep "^tell (on_failure) " err &&
	grep "failed: 2 succeeded, 1 failed, 1 skipped$" err
'

test_expect_success 'show and -v put $ before every line of a command' '
	test_must_fail --exit 4 "$RUNBOOK" run gate 2>err &&
	id=$(run_id err) &&
	"$RUNBOOK" approve "$id" two --by bob 2>/dev/null &&
	"$RUNBOOK" show "$id" --step three >out &&
	cat out &&
	grep "^    \$ echo three$" out &&
	grep "^    \$ echo second line$" out &&
	test_must_fail --exit 4 "$RUNBOOK" run gate -v 2>err &&
	id=$(run_id err) &&
	"$RUNBOOK" approve "$id" two --by bob -v 2>err &&
	cat err &&
	grep "^    \$ echo second line$" err &&
	! grep "^    \$ $" err
'

# Under a pseudo-terminal: the live area redraws with cursor movement.
if command -v script >/dev/null 2>&1; then
	test_expect_success 'NO_COLOR turns off colour, not the live step lines' '
		cat >runbooks/slow.yaml <<-YAML &&
		runbook: slow
		steps:
		  - id: wait
		    run: sleep 2.5
		YAML
		TERM=xterm NO_COLOR=1 script -qec "\"$RUNBOOK\" run slow" /dev/null \
		    </dev/null >tty.out 2>&1 &&
		cat -v tty.out &&
		grep "~ wait on local" tty.out &&
		grep -q "$(printf "\\033")\\[[0-9]*A" tty.out &&
		! grep -q "$(printf "\\033")\\[[0-9;]*m" tty.out &&
		TERM=dumb script -qec "\"$RUNBOOK\" run slow" /dev/null \
		    </dev/null >dumb.out 2>&1 &&
		! grep "~ wait" dumb.out &&
		grep "^start   wait" dumb.out
	'
else
	test_skip 'NO_COLOR under a terminal' 'script is not installed (package bsdutils)'
fi

test_expect_success 'runs: --limit 0 and --status refused are refused, saying why' '
	test_must_fail --exit 2 "$RUNBOOK" runs --limit 0 2>err &&
	grep "bad --limit .0.: a number of runs from 1" err &&
	test_must_fail --exit 2 "$RUNBOOK" runs --status refused 2>err &&
	grep "a refused run never starts" err &&
	grep "hint: refusals are in the audit log" err &&
	test_must_fail --exit 2 "$RUNBOOK" runs --status bogus 2>err &&
	grep "use running, crashed, succeeded" err
'

test_expect_success 'runs: 20 by default, with a hint when older ones are hidden' '
	i=0 &&
	while [ $i -lt 21 ]; do
		"$RUNBOOK" run fail -p x=1 >/dev/null 2>&1
		i=$((i + 1))
	done
	"$RUNBOOK" runs >out 2>err &&
	test "$(wc -l <out)" -eq 21 &&
	grep "hint: only the 20 most recent runs are shown; --limit N shows more" err &&
	"$RUNBOOK" runs --limit 100 >out 2>err &&
	! grep hint err &&
	test_must_fail --exit 4 "$RUNBOOK" run gate 2>/dev/null &&
	test_must_fail --exit 4 "$RUNBOOK" run gate 2>/dev/null &&
	"$RUNBOOK" runs --status paused --limit 1 >out 2>err &&
	test "$(wc -l <out)" -eq 2 && grep paused out &&
	grep "only the 1 most recent run is shown" err
'

test_expect_success 'runs --status crashed lists a run whose process died' '
	cat >runbooks/hang.yaml <<-YAML &&
	runbook: hang
	steps:
	  - id: s
	    run: echo \$\$ >$TEST_TMP/hang.pid; exec sleep 60
	YAML
	"$RUNBOOK" run hang >/dev/null 2>&1 &
	pid=$! &&
	n=0 &&
	until "$RUNBOOK" runs --status running | grep -q hang; do
		n=$((n + 1)); test $n -lt 100 || exit 1; sleep 0.1
	done &&
	! "$RUNBOOK" runs --status crashed | grep -q hang &&
	kill -9 $pid && wait $pid 2>/dev/null
	kill -9 "$(cat hang.pid)" 2>/dev/null
	"$RUNBOOK" runs --status crashed >out &&
	cat out &&
	grep "hang  *crashed" out &&
	! "$RUNBOOK" runs --status running | grep -q hang
'

test_done
