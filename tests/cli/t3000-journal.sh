#!/bin/sh
# The journal: runs, show, resume after failure and after a crash, changed
# runbooks, the audit chain, and locks.
. "$(dirname "$0")/lib.sh"

mkdir runbooks
cat >runbooks/j.yaml <<'YAML'
runbook: j
params:
  note: {default: hi}
steps:
  - id: one
    run: echo one >>ledger
  - id: two
    run: echo two >>ledger; test -e fixed
    capture: {v: '/(?<v>two)/'}
  - id: three
    run: echo three >>ledger
YAML

run_id() {
	sed -n 's/.*"run_id":"\([^"]*\)".*/\1/p' "$1" | head -n 1
}

test_expect_success 'a run is journaled: runs lists it, show shows its steps' '
	touch fixed &&
	"$RUNBOOK" run j --output json >ev &&
	id=$(run_id ev) &&
	"$RUNBOOK" runs >out &&
	grep "$id *j *succeeded" out &&
	"$RUNBOOK" show "$id" >out &&
	grep "^one .*succeeded" out && grep "^three .*succeeded" out &&
	"$RUNBOOK" show "$id" --output json | python3 -c "
import json,sys; d=json.load(sys.stdin); assert len(d[\"attempts\"])==3, d"
'

test_expect_success 'resume after a failure skips what succeeded and reruns the rest' '
	rm -f fixed ledger &&
	test_must_fail --exit 1 "$RUNBOOK" run j --output json >ev &&
	id=$(run_id ev) &&
	printf "one\ntwo\n" >expect && test_cmp expect ledger &&
	touch fixed &&
	"$RUNBOOK" resume "$id" 2>err &&
	printf "one\ntwo\ntwo\nthree\n" >expect && test_cmp expect ledger &&
	"$RUNBOOK" show "$id" >out &&
	grep "^two .*main *2 *succeeded" out &&
	"$RUNBOOK" runs >out && grep "$id *j *succeeded" out
'

test_expect_success 'resume keeps a continue_on_error failure instead of rerunning it' '
	cat >runbooks/coe.yaml <<-YAML &&
	runbook: coe
	steps:
	  - id: probe
	    check: echo probe >>coe.log; false
	    continue_on_error: true
	  - id: act
	    run: echo act >>coe.log; test -e coe.fixed
	YAML
	rm -f coe.log coe.fixed &&
	test_must_fail --exit 1 "$RUNBOOK" run coe --output json >ev &&
	id=$(run_id ev) && touch coe.fixed &&
	"$RUNBOOK" resume "$id" 2>err &&
	printf "probe\nact\nact\n" >expect && test_cmp expect coe.log
'

test_expect_success 'resume refuses a run that already succeeded' '
	id=$("$RUNBOOK" runs --output json | run_id /dev/stdin) &&
	test_must_fail --exit 5 "$RUNBOOK" resume "$id" 2>err &&
	grep "already succeeded" err
'

test_expect_success 'resume refuses when the runbook changed, unless --force' '
	rm -f fixed ledger &&
	test_must_fail --exit 1 "$RUNBOOK" run j --output json >ev &&
	id=$(run_id ev) &&
	cp runbooks/j.yaml j.bak &&
	echo "# edited" >>runbooks/j.yaml &&
	touch fixed &&
	test_must_fail --exit 5 "$RUNBOOK" resume "$id" 2>err &&
	grep "changed since run" err &&
	"$RUNBOOK" resume "$id" --force 2>err &&
	cp j.bak runbooks/j.yaml
'

cat >runbooks/k.yaml <<'YAML'
runbook: k
steps:
  - id: first
    run: echo first >>ledger
  - id: slow
    run: echo slow-start >>ledger; echo $$ >slow.pid; sleep 30; echo slow-end >>ledger
  - id: last
    run: echo last >>ledger
YAML

test_expect_success 'after SIGKILL the in-flight step needs a human decision (exit 5)' '
	rm -f ledger slow.pid
	"$RUNBOOK" run k --output json >ev 2>&1 &
	pid=$! &&
	i=0; while ! test -s slow.pid && test $i -lt 100; do sleep 0.05; i=$((i+1)); done &&
	kill -9 $pid && wait $pid; kill -9 $(cat slow.pid) 2>/dev/null;
	id=$(run_id ev) &&
	"$RUNBOOK" runs >out && grep "$id *k *crashed" out &&
	test_must_fail --exit 5 "$RUNBOOK" resume "$id" 2>err &&
	grep "step .slow. of run" err && grep "rerun-inflight" err &&
	"$RUNBOOK" resume "$id" --rerun-inflight 2>err &&
	printf "first\nslow-start\nslow-start\nslow-end\nlast\n" >expect &&
	test_cmp expect ledger
'

test_expect_success 'an idempotent in-flight step is re-run on its own' '
	sed "s/    run: echo slow-start/    idempotent: true\n    run: echo slow-start/" runbooks/k.yaml >runbooks/k2.yaml &&
	sed -i "s/^runbook: k$/runbook: k2/" runbooks/k2.yaml &&
	rm -f ledger slow.pid
	"$RUNBOOK" run k2 --output json >ev 2>&1 &
	pid=$! &&
	i=0; while ! test -s slow.pid && test $i -lt 100; do sleep 0.05; i=$((i+1)); done &&
	kill -9 $pid && wait $pid; kill -9 $(cat slow.pid) 2>/dev/null;
	id=$(run_id ev) &&
	{ "$RUNBOOK" resume "$id" 2>err || { cat err; cat ledger; false; }; } &&
	grep -c "^first$" ledger | grep -x 1
'

test_expect_success 'audit verify passes, and names the seq of an edited record' '
	"$RUNBOOK" audit verify >out && grep "audit log ok" out &&
	"$RUNBOOK" audit head >head && test -n "$(cat head)" &&
	"$RUNBOOK" audit export --format jsonl >log.jsonl &&
	test "$(wc -l <log.jsonl)" -eq "$(cut -d" " -f1 head)" &&
	sqlite3 "$RUNBOOK_STATE_DIR/state.db" "update audit set actor = actor || \"x\" where seq = 5" &&
	test_must_fail --exit 1 "$RUNBOOK" audit verify 2>err &&
	grep "at seq 5" err
'

test_expect_success 'a deleted audit record is found' '
	rm -rf "$RUNBOOK_STATE_DIR" && touch fixed &&
	"$RUNBOOK" run j >/dev/null 2>&1 && "$RUNBOOK" run j >/dev/null 2>&1 &&
	sqlite3 "$RUNBOOK_STATE_DIR/state.db" "delete from audit where seq = 4" &&
	test_must_fail --exit 1 "$RUNBOOK" audit verify 2>err &&
	grep "seq 4" err
'

test_expect_success 'a truncated tail is found against a kept head' '
	rm -rf "$RUNBOOK_STATE_DIR" &&
	"$RUNBOOK" run j >/dev/null 2>&1 &&
	h=$("$RUNBOOK" audit head | cut -d" " -f2) &&
	n=$("$RUNBOOK" audit head | cut -d" " -f1) &&
	sqlite3 "$RUNBOOK_STATE_DIR/state.db" "delete from audit where seq = $n" &&
	"$RUNBOOK" audit verify &&
	test_must_fail --exit 1 "$RUNBOOK" audit verify --head "$h" 2>err &&
	grep "truncated" err
'

cat >runbooks/lk.yaml <<'YAML'
runbook: lk
lock: the-lock
steps:
  - id: hold
    run: echo $$ >holder.pid; sleep 2
YAML

test_expect_success 'a second run of the same lock key is refused with the holder (exit 5)' '
	rm -f holder.pid
	"$RUNBOOK" run lk --output json >ev1 2>&1 &
	pid=$! &&
	i=0; while ! test -s holder.pid && test $i -lt 100; do sleep 0.05; i=$((i+1)); done &&
	test_must_fail --exit 5 "$RUNBOOK" run lk 2>err &&
	id=$(run_id ev1) &&
	grep "held by run .$id." err &&
	wait $pid
'

test_expect_success 'a lock whose holder was SIGKILLed is taken over' '
	rm -f holder.pid
	"$RUNBOOK" run lk >/dev/null 2>&1 &
	pid=$! &&
	i=0; while ! test -s holder.pid && test $i -lt 100; do sleep 0.05; i=$((i+1)); done &&
	kill -9 $pid; wait $pid; kill -9 "$(cat holder.pid)" 2>/dev/null;
	"$RUNBOOK" run lk 2>err
'

test_expect_success '20 simultaneous runs of one lock key: exactly one runs' '
	cat >runbooks/race.yaml <<-YAML &&
	runbook: race
	lock: race
	steps:
	  - id: go
	    run: |
	      echo x >>raced
	      # hold the lock until the 19 others have been refused
	      while [ "\$(cat codes 2>/dev/null | wc -l)" -lt 19 ]; do sleep 0.1; done
	    timeout: 60s
	YAML
	rm -f raced codes &&
	for i in $(seq 20); do
		( c=0; "$RUNBOOK" run race >/dev/null 2>&1 || c=$?; echo $c >>codes ) &
	done; wait &&
	test "$(wc -l <raced)" -eq 1 &&
	test "$(grep -cx 0 codes)" -eq 1 &&
	test "$(grep -cx 5 codes)" -eq 19
'

test_expect_success 'a read-only state directory gives a clear error' '
	mkdir ro && chmod 500 ro &&
	if [ "$(id -u)" -eq 0 ]; then
		# root ignores permissions: use a path under a file instead
		touch notadir && test_must_fail "$RUNBOOK" run j --state notadir/state 2>err
	else
		test_must_fail "$RUNBOOK" run j --state ro/state 2>err
	fi &&
	grep "runbook: error:" err
'

test_expect_success 'secrets never reach the journal or the audit log' '
	cat >runbooks/sec.yaml <<-YAML &&
	runbook: sec
	params:
	  pw: {env: TEST_SECRET_PW, secret: true}
	steps:
	  - id: use
	    run: echo "pw is {{ params.pw }}"; echo {{ params.pw }} >&2
	YAML
	TEST_SECRET_PW=canary-s3cr3t "$RUNBOOK" run sec 2>err &&
	! grep canary-s3cr3t err &&
	! sqlite3 "$RUNBOOK_STATE_DIR/state.db" .dump | grep canary-s3cr3t &&
	! "$RUNBOOK" audit export | grep canary-s3cr3t &&
	! grep -r canary-s3cr3t "$RUNBOOK_STATE_DIR"
'

test_done
