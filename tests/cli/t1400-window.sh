#!/bin/sh
# Maintenance windows: outside one, run refuses (exit 5) and says when the
# next opens; --force-window runs anyway and is audited.
. "$(dirname "$0")/lib.sh"

mkdir runbooks
days="sun mon tue wed thu fri sat"
# The day after tomorrow (UTC), so the window is surely closed now.
later=$(echo $days | cut -d" " -f$(( ($(date -u +%w) + 2) % 7 + 1 )))
cat >runbooks/closed.yaml <<YAML
runbook: closed
window: {days: [$later], start: "02:00", end: "03:00", tz: UTC}
steps:
  - id: work
    run: echo worked >>ledger
YAML
cat >runbooks/open.yaml <<YAML
runbook: open
window: {days: [sun, mon, tue, wed, thu, fri, sat], start: "00:00", end: "23:59", tz: UTC}
steps:
  - id: work
    run: echo worked >>ledger
YAML

test_expect_success 'outside its window a run is refused with the next opening' '
	test_must_fail --exit 5 "$RUNBOOK" run closed 2>err &&
	grep "outside its maintenance window: the next one opens" err &&
	grep "02:00 UTC" err &&
	! test -e ledger &&
	"$RUNBOOK" audit export | grep "\"event\":\"refusal\"" | grep window
'

test_expect_success '--force-window runs it and the audit log says so' '
	"$RUNBOOK" run closed --force-window 2>err &&
	test -e ledger &&
	"$RUNBOOK" audit export | grep "force.window"
'

test_expect_success 'inside its window a run just runs' '
	test "$(date -u +%H%M)" != 2359 || sleep 61 &&
	rm -f ledger &&
	"$RUNBOOK" run open 2>err && test -e ledger
'

test_expect_success 'plan works outside the window (review before it opens)' '
	"$RUNBOOK" plan closed >out && grep "echo worked" out
'

test_expect_success 'a window with no day, or a zone that is not a zone, is refused at validate' '
	cat >runbooks/nodays.yaml <<-YAML &&
	runbook: nodays
	window: {days: "", start: "02:00", end: "03:00"}
	steps:
	  - id: a
	    run: "true"
	YAML
	test_must_fail --exit 2 "$RUNBOOK" validate runbooks/nodays.yaml 2>err &&
	grep "nodays.yaml:2:.*.days. must not be empty" err &&
	cat >runbooks/badtz.yaml <<-YAML &&
	runbook: badtz
	window: {days: [sun], start: "02:00", end: "03:00", tz: zone.tab}
	steps:
	  - id: a
	    run: "true"
	YAML
	if test -f /usr/share/zoneinfo/zone.tab; then
		test_must_fail --exit 2 "$RUNBOOK" validate runbooks/badtz.yaml 2>err &&
		grep "badtz.yaml:2:" err
	fi
'

test_done
