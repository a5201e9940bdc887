#!/bin/sh
# Basics: version, help, usage errors, exit codes of the front end.
. "$(dirname "$0")/lib.sh"

test_expect_success 'version prints the version' '
	"$RUNBOOK" version >out &&
	grep "^runbook [0-9]" out
'

test_expect_success 'no command is a usage error (exit 2)' '
	test_must_fail --exit 2 "$RUNBOOK" 2>err &&
	grep "usage: runbook COMMAND" err
'

test_expect_success 'unknown command says so and hints' '
	test_must_fail --exit 2 "$RUNBOOK" frobnicate 2>err &&
	grep "runbook: error: unknown command .frobnicate." err &&
	grep "runbook: hint:" err
'

test_expect_success 'every command answers -h with its usage line' '
	for c in $("$RUNBOOK" --help | sed -n "s/^  \([a-z]*\) .*/\1/p"); do
		"$RUNBOOK" $c -h >out || exit 1
		grep "^usage: runbook $c" out || exit 1
	done
'

test_expect_success 'validate without files is a usage error' '
	test_must_fail --exit 2 "$RUNBOOK" validate 2>err &&
	grep "usage: runbook validate" err
'

test_expect_success 'plan of a missing runbook says where it looked' '
	test_must_fail --exit 2 "$RUNBOOK" plan no-such-runbook 2>err &&
	grep "no-such-runbook" err
'

test_done
