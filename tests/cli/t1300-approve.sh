#!/bin/sh
# Human gates: approve/manual pause the run (exit 4); `runbook approve`
# records the decision and continues; a rejection rolls back.
. "$(dirname "$0")/lib.sh"

mkdir runbooks
cat >runbooks/gate.yaml <<'YAML'
runbook: gate
steps:
  - id: prepare
    run: echo prepare >>ledger
    rollback: echo undo-prepare >>ledger
  - id: ok-to-restart
    approve: Restart the database now?
  - id: restart
    run: echo restart >>ledger
  - id: confirm
    manual: Check the dashboard shows green
  - id: done
    run: echo done >>ledger
YAML

paused_id() {
	sed -n "s/^runbook: run \([^ ]*\) is paused.*/\1/p" "$1"
}

test_expect_success 'an approve step pauses the run (exit 4) and says how to continue' '
	rm -f ledger &&
	test_must_fail --exit 4 "$RUNBOOK" run gate 2>err &&
	id=$(paused_id err) && test -n "$id" &&
	grep "runbook approve $id ok-to-restart --by NAME" err &&
	printf "prepare\n" >expect && test_cmp expect ledger &&
	"$RUNBOOK" runs --status paused | grep "$id" &&
	echo "$id" >run.id
'

test_expect_success 'approve records the approver and continues to the next gate' '
	id=$(cat run.id) &&
	test_must_fail --exit 4 "$RUNBOOK" approve "$id" ok-to-restart --by alice --comment "change CHG-42" 2>err &&
	grep "approved by alice: change CHG-42" err &&
	printf "prepare\nrestart\n" >expect && test_cmp expect ledger &&
	grep "paused at step .confirm." err
'

test_expect_success 'manual confirmation finishes the run' '
	id=$(cat run.id) &&
	"$RUNBOOK" approve "$id" confirm --by bob 2>err &&
	printf "prepare\nrestart\ndone\n" >expect && test_cmp expect ledger &&
	"$RUNBOOK" runs | grep "$id *gate *succeeded" &&
	"$RUNBOOK" audit export | grep "approval.granted" | grep alice &&
	"$RUNBOOK" audit export | grep "approval.granted" | grep bob
'

test_expect_success 'approving a step that is not waiting is refused' '
	id=$(cat run.id) &&
	test_must_fail --exit 5 "$RUNBOOK" approve "$id" confirm --by bob 2>err &&
	grep "not waiting for approval" err
'

test_expect_success '--by is required' '
	test_must_fail --exit 2 "$RUNBOOK" approve x y 2>err &&
	grep -- "--by NAME is required" err
'

test_expect_success 'a rejection fails the step and rolls back' '
	rm -f ledger &&
	test_must_fail --exit 4 "$RUNBOOK" run gate 2>err &&
	id=$(paused_id err) &&
	test_must_fail --exit 1 "$RUNBOOK" approve "$id" ok-to-restart --by carol --reject --comment "not now" 2>err &&
	printf "prepare\nundo-prepare\n" >expect && test_cmp expect ledger &&
	"$RUNBOOK" audit export | grep "approval.rejected" | grep carol
'

test_done
