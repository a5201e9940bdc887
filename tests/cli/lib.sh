# lib.sh - helpers for CLI tests (tests/cli/tNNNN-*.sh), in the style of
# git's test-lib.sh. Source it first; it creates a scratch directory, cds
# into it, and cleans up (killing anything registered with test_kill_at_end).
#
#   test_expect_success 'description' 'commands'
#   test_must_fail [--exit N] command...   (fails unless command fails)
#   test_cmp expected actual
#   test_done                              (prints "N passed, N failed")

set -u
TEST_NAME=$(basename "$0" .sh)
SRC_DIR=$(cd "$(dirname "$0")/../.." && pwd)
RUNBOOK=${RUNBOOK:-$SRC_DIR/build/runbook}
case $RUNBOOK in /*) ;; *) RUNBOOK=$SRC_DIR/$RUNBOOK ;; esac
export RUNBOOK SRC_DIR
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/rb-$TEST_NAME.XXXXXX")
export RUNBOOK_STATE_DIR="$TEST_TMP/state"
export NO_COLOR=1
unset RUNBOOK_PATH RUNBOOK_INVENTORY
test_count=0
test_passed=0
test_failed=0
test_skipped=0
TEST_PIDS=""

test_kill_at_end() {
	TEST_PIDS="$TEST_PIDS $*"
}

test_cleanup() {
	for p in $TEST_PIDS; do
		kill "$p" 2>/dev/null
	done
	for p in $TEST_PIDS; do
		wait "$p" 2>/dev/null
	done
	cd /
	if [ "$test_failed" -eq 0 ] || [ -z "${KEEP_TMP:-}" ]; then
		rm -rf "$TEST_TMP"
	else
		echo "# kept $TEST_TMP" >&2
	fi
}
trap test_cleanup EXIT
trap 'exit 130' INT TERM

cd "$TEST_TMP" || exit 1

say() {
	echo "# $*" >&2
}

test_expect_success() {
	test_count=$((test_count + 1))
	if [ -n "${TEST_ONLY:-}" ] && [ "$test_count" != "$TEST_ONLY" ]; then
		return 0
	fi
	# Run in a subshell so a failing test cannot change our state.
	if ( set -e; eval "$2" ) >"$TEST_TMP/.out" 2>&1; then
		test_passed=$((test_passed + 1))
		echo "ok $test_count - $1"
		[ -n "${VERBOSE:-}" ] && sed 's/^/#   /' "$TEST_TMP/.out"
	else
		test_failed=$((test_failed + 1))
		echo "not ok $test_count - $1"
		sed 's/^/#   /' "$TEST_TMP/.out" | tail -n 40
	fi
	return 0
}

test_skip() {
	test_count=$((test_count + 1))
	test_skipped=$((test_skipped + 1))
	echo "ok $test_count - # skip $1 ($2)"
}

# test_must_fail [--exit N] cmd...: succeed only if cmd fails (with exit N).
test_must_fail() {
	want=""
	if [ "$1" = "--exit" ]; then
		want=$2
		shift 2
	fi
	"$@"
	code=$?
	if [ "$code" -eq 0 ]; then
		echo "test_must_fail: '$*' succeeded" >&2
		return 1
	fi
	if [ "$code" -gt 128 ] && [ "$code" -ne 130 ]; then
		echo "test_must_fail: '$*' died of signal $((code - 128))" >&2
		return 1
	fi
	if [ -n "$want" ] && [ "$code" -ne "$want" ]; then
		echo "test_must_fail: '$*' exited $code, expected $want" >&2
		return 1
	fi
	return 0
}

# test_proc_gone PID: the process does not exist or is a zombie waiting for
# a reaper (it has exited; nothing runs).
test_proc_gone() {
	[ -r "/proc/$1/stat" ] || return 0
	state=$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null)
	[ -z "$state" ] || [ "$state" = Z ] || [ "$state" = X ]
}

test_cmp() {
	diff -u "$1" "$2"
}

# A free TCP port on 127.0.0.1.
test_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

test_done() {
	if [ "$test_skipped" -gt 0 ]; then
		echo "$test_passed passed, $test_failed failed, $test_skipped skipped"
	else
		echo "$test_passed passed, $test_failed failed"
	fi
	[ "$test_failed" -eq 0 ]
	exit $?
}
