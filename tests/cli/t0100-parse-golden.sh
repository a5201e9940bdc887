#!/bin/sh
# Golden diagnostics: `runbook validate` on each tests/data/parse/CASE.yaml
# prints exactly CASE.out on stderr (exit 2 when it holds an error, else 0),
# and every ok-*.yaml validates clean. Files under helpers/ are only named
# by the cases. Run from the source tree so the paths in messages match.
. "$(dirname "$0")/lib.sh"

cd "$SRC_DIR" || exit 1
DATA=tests/data/parse
# The secrets ok-routes.yaml names, set as serve needs them (validate
# warns about each one that is not; t5000 tests that warning).
export RUNBOOK_WEBHOOK_TOKEN=t RUNBOOK_WEBHOOK_SECRET=s GRAFANA_SECRET=g

for yaml in "$DATA"/*.yaml; do
	case=$(basename "$yaml" .yaml)
	case $case in
	ok-*)
		test_expect_success "$case validates clean" "
			\"\$RUNBOOK\" validate '$yaml' >'$TEST_TMP/stdout' 2>'$TEST_TMP/stderr' &&
			test_cmp /dev/null '$TEST_TMP/stderr' &&
			grep ' 0 errors, 0 warnings' '$TEST_TMP/stdout'
		"
		continue
		;;
	esac
	if [ ! -f "$DATA/$case.out" ]; then
		test_expect_success "$case has a golden .out file" "false"
		continue
	fi
	if grep -q ': error: ' "$DATA/$case.out"; then
		want=2
	else
		want=0
	fi
	test_expect_success "$case: diagnostics match $case.out" "
		code=0
		\"\$RUNBOOK\" validate '$yaml' >/dev/null 2>'$TEST_TMP/stderr' || code=\$?
		test_cmp '$DATA/$case.out' '$TEST_TMP/stderr' &&
		test \"\$code\" -eq $want
	"
done

test_expect_success 'validating the whole directory reports every case' '
	code=0
	"$RUNBOOK" validate "$DATA" >"$TEST_TMP/stdout" 2>/dev/null || code=$?
	test "$code" -eq 2 &&
	grep "files checked" "$TEST_TMP/stdout"
'

test_done
