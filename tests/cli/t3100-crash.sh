#!/bin/sh
# Crash test: SIGKILL `runbook run` at random moments, then resume until the
# run succeeds. Invariants: no step runs again after the journal recorded
# its success; a resume without --rerun-inflight never runs anything when a
# non-idempotent step was in flight; the database and audit chain stay
# sound. ITERATIONS (default 20) sets how many crashes.
. "$(dirname "$0")/lib.sh"

ITERATIONS=${ITERATIONS:-20}
mkdir runbooks
cat >runbooks/crash.yaml <<'YAML'
runbook: crash
steps:
  - id: s1
    run: echo "start s1 $RUNBOOK_ATTEMPT" >>ledger; sleep 0.03; echo "end s1" >>ledger
  - id: s2
    idempotent: true
    run: echo "start s2 $RUNBOOK_ATTEMPT" >>ledger; sleep 0.05; echo "end s2" >>ledger
  - id: s3a
    needs: [s2]
    run: echo "start s3a $RUNBOOK_ATTEMPT" >>ledger; sleep 0.04; echo "end s3a" >>ledger
  - id: s3b
    needs: [s2]
    idempotent: true
    run: echo "start s3b $RUNBOOK_ATTEMPT" >>ledger; sleep 0.06; echo "end s3b" >>ledger
  - id: s4
    needs: [s3a, s3b]
    run: echo "start s4 $RUNBOOK_ATTEMPT" >>ledger; sleep 0.02; echo "end s4" >>ledger
YAML

crash_once() {
	rm -f ledger ev
	"$RUNBOOK" run crash --output json >ev 2>/dev/null &
	pid=$!
	# Somewhere between start-up and the end of the run (~250 ms).
	sleep "0.$(printf '%03d' $(( $(od -An -N2 -tu2 /dev/urandom) % 300 )))"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	# The step the runner left behind finishes on its own (an orphan).
	sleep 0.15
	id=$(sed -n 's/.*"run_id":"\([^"]*\)".*/\1/p' ev | head -n 1)
	[ -n "$id" ] || return 0	# killed before it recorded anything
	n=0
	while [ $n -lt 10 ]; do
		n=$((n + 1))
		before=$(cat ledger 2>/dev/null | wc -l)
		code=0
		"$RUNBOOK" resume "$id" >/dev/null 2>err || code=$?
		case $code in
		0) break ;;
		5)
			if grep -q "already succeeded" err; then break; fi
			after=$(cat ledger 2>/dev/null | wc -l)
			if [ "$before" != "$after" ]; then
				echo "resume refused but ran something"; return 1
			fi
			grep -q "step 's[13]a*' of run\|step 's4' of run\|step 's3a' of run\|step 's1' of run" err || {
				echo "refused for an idempotent step:"; cat err; return 1; }
			"$RUNBOOK" resume "$id" --rerun-inflight >/dev/null 2>&1 && break
			;;
		*) echo "resume exited $code"; cat err; return 1 ;;
		esac
	done
	"$RUNBOOK" show "$id" --output json >show.json || return 1
	python3 - show.json <<-'PY' || return 1
	import json, sys
	d = json.load(open(sys.argv[1]))
	assert d["status"] == "succeeded", d["status"]
	done = {}
	for a in sorted(d["attempts"], key=lambda a: a["started_ms"]):
	    if a["phase"] != "main":
	        continue
	    s = a["step"]
	    assert s not in done, "step %s ran again after it succeeded" % s
	    if a["status"] == "succeeded":
	        done[s] = True
	assert set(done) == {"s1", "s2", "s3a", "s3b", "s4"}, done
	PY
}

test_expect_success "$ITERATIONS random SIGKILLs, each resumed to success" '
	i=0
	while [ $i -lt $ITERATIONS ]; do
		i=$((i + 1))
		crash_once || { echo "iteration $i failed"; exit 1; }
	done
'

test_expect_success 'the database is intact and the audit chain verifies' '
	test "$(sqlite3 "$RUNBOOK_STATE_DIR/state.db" "pragma integrity_check")" = ok &&
	"$RUNBOOK" audit verify
'

test_done
