#!/bin/sh
# run.sh [--smoke] [-j JOBS] BUILD - fault injection over a representative run.
# Knobs: KINDS="alloc sqlite-alloc write fsync" (which to sweep),
# SMOKE_CASES=12 (cases per kind with --smoke), FROM=1 (the first N of a
# full sweep, to continue one that was stopped).
#
# BUILD/runbook must be the fault-injection build (`make fault-build`: clang,
# ASan+UBSan, -DRB_FAULT_INJECT; see include/runbook/fault.h). A clean run of
# tests/fault/representative.yaml counts its allocations, SQLite allocations,
# SQLite writes and fsyncs; then, for every N of every kind (--smoke: about
# SMOKE_CASES of each, spread over the range), a fresh state directory gets a
# run in which the Nth one fails. Each case must end in one of:
#
#   - success (the failure was absorbed, e.g. a retried SQLite allocation);
#   - a clean error: exit 1, 2, 5 or 130 with a "runbook: error:" line;
#   - for a failed xmalloc, the documented death: the one line
#     "runbook: fatal: out of memory", SIGABRT (exit 134), nothing else;
#
# never a crash or a sanitizer report (leaks included: LeakSanitizer checks
# every process that exits). Then, without the fault, the run must finish:
# `runbook resume RUN_ID --rerun-inflight` when the run reached the journal
# (a fresh `runbook run` when it did not), exit 0, the last step's line in
# the output log, the skipped branch never run, and `runbook audit verify`
# clean. Prints one line per failing case and ends "N passed, N failed".
HERE=$(cd "$(dirname "$0")" && pwd)
YAML=$HERE/representative.yaml

if [ "${1:-}" = --case ]; then
	# --case RUNBOOK KIND N: one case, one result line ($FAULT_YAML and
	# $RUNBOOK_INVENTORY come from the parent).
	RB=$2 KIND=$3 N=$4
	YAML=$FAULT_YAML
	T=$(mktemp -d "${TMPDIR:-/tmp}/rb-fault.XXXXXX") || exit 1
	export RUNBOOK_STATE_DIR="$T/state" NO_COLOR=1
	unset RUNBOOK_FAULT_REPORT
	why=""
	RUNBOOK_FAULT="$KIND=$N" "$RB" run "$YAML" -p out="$T" \
	    >"$T/out" 2>"$T/err"
	rc=$?
	if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/err"; then
		why="sanitizer report"
	else
		case $rc in
		0) ;;
		134) grep -q '^runbook: fatal: out of memory' "$T/err" ||
			why="died (134) without the out-of-memory line" ;;
		1|2|5|130) grep -q '^runbook: error: ' "$T/err" ||
			why="exit $rc without an error line"
			# Cut short, a run must not claim success (once every
			# step is done, only recording the end failed).
			grep -q '^run [^ ]* succeeded:' "$T/err" &&
			    ! grep -q '^ok  *report ' "$T/err" &&
			why="exit $rc, but the summary says the run succeeded" ;;
		*) why="exit $rc" ;;
		esac
	fi
	if [ -z "$why" ] && [ $rc -ne 0 ]; then
		id=$("$RB" runs --output json 2>"$T/rerr" |
		    sed -n '1s/.*"run_id":"\([^"]*\)".*/\1/p')
		if [ -n "$id" ]; then
			"$RB" resume "$id" --rerun-inflight >"$T/rout" 2>>"$T/rerr"
		else
			"$RB" run "$YAML" -p out="$T" >"$T/rout" 2>>"$T/rerr"
		fi
		rrc=$?
		if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
		    "$T/rerr"; then
			why="sanitizer report while finishing the run"
		elif [ $rrc -ne 0 ]; then
			why="finishing the run (${id:+resume $id}${id:-run again}) exited $rrc"
		fi
	fi
	if [ -z "$why" ]; then
		if ! grep -q '^report 3 ' "$T/log" 2>/dev/null; then
			why="the last step never ran"
		elif grep -q '^never' "$T/log"; then
			why="the skipped branch ran"
		elif ! "$RB" audit verify >/dev/null 2>>"$T/rerr"; then
			why="audit verify failed"
		fi
	fi
	fired=$(grep -c '^runbook: fault injected' "$T/err")
	if [ -z "$why" ]; then
		echo "ok $KIND=$N exit $rc${fired:+ (fired $fired)}"
		rm -rf "$T"
	else
		echo "not ok $KIND=$N: $why (exit $rc; kept $T)"
		grep -v '^    #' "$T/err" "$T/rerr" 2>/dev/null | tail -n 8 |
		    sed 's/^/    /'
	fi
	exit 0
fi

SMOKE=0
JOBS=$(nproc 2>/dev/null || echo 2)
while [ $# -gt 1 ]; do
	case $1 in
	--smoke) SMOKE=1 ;;
	-j) JOBS=$2; shift ;;
	*) break ;;
	esac
	shift
done
BUILD=${1:-build-fault}
RB=$BUILD/runbook
SMOKE_CASES=${SMOKE_CASES:-12}
KINDS=${KINDS:-alloc sqlite-alloc write fsync}

if ! { RUNBOOK_FAULT=alloc=1 "$RB" list 2>&1 | grep -q 'fault injected'; } \
    2>/dev/null; then
	echo "$RB is not a fault-injection build (make fault-build)" >&2
	echo "fault: 0 passed, 1 failed"
	exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/rb-fault.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

# With a private sshd (tests/fixtures/sshd), the run also has a step on a
# remote host, so the SSH transport's paths are broken too.
FAULT_YAML=$T/representative.yaml
cp "$YAML" "$FAULT_YAML"
SSHD_DIR=$T/sshd
trap 'sh "$HERE/../fixtures/sshd/stop-sshd.sh" "$SSHD_DIR" 2>/dev/null; rm -rf "$T"' EXIT
if [ -z "${FAULT_NO_SSH:-}" ] && port=$(SSHD_LOGLEVEL=INFO \
    sh "$HERE/../fixtures/sshd/start-sshd.sh" "$SSHD_DIR" 2>"$T/sshd.err"); then
	cat >"$T/inventory.yaml" <<-EOF
	defaults: {user: $(id -un), port: $port, identity: $SSHD_DIR/id_ed25519, known_hosts: $SSHD_DIR/known_hosts}
	hosts:
	  box: {address: 127.0.0.1}
	EOF
	cat >>"$FAULT_YAML" <<-'EOF'
	  - id: remote
	    needs: [probe]
	    on: box
	    run: printf '%s\n' "remote {{ params.who }}" "$RUNBOOK_HOST" | wc -l
	    idempotent: true
	EOF
	sed -i 's/needs: \[mark, never, settle, auth\]/needs: [mark, never, settle, auth, remote]/' \
	    "$FAULT_YAML"
	echo "with an SSH step (sshd on 127.0.0.1:$port)"
else
	echo "without an SSH step: $(cat "$T/sshd.err" 2>/dev/null)"
	printf 'hosts: {}\n' >"$T/inventory.yaml"
fi
RUNBOOK_INVENTORY=$T/inventory.yaml
export FAULT_YAML RUNBOOK_INVENTORY
unset SSH_AUTH_SOCK

# The clean run: how many of each kind there are to fail.
if ! RUNBOOK_STATE_DIR="$T/state" RUNBOOK_FAULT_REPORT="$T/counts" \
    "$RB" run "$FAULT_YAML" -p out="$T" >"$T/out" 2>&1; then
	cat "$T/out"
	echo "the representative run fails without faults"
	echo "fault: 0 passed, 1 failed"
	exit 1
fi
echo "a clean run makes: $(tr '\n' ' ' <"$T/counts")"

# Cases: every N, or SMOKE_CASES of them spread over 1..count.
while read -r kind count; do
	[ "$count" -gt 0 ] || continue
	case " $KINDS " in *" $kind "*) ;; *) continue ;; esac
	if [ $SMOKE -eq 1 ] && [ "$count" -gt "$SMOKE_CASES" ]; then
		awk -v c="$count" -v k="$SMOKE_CASES" -v kind="$kind" 'BEGIN {
			for (i = 0; i < k; i++)
				print kind, 1 + int(i * (c - 1) / (k - 1))
		}'
	else
		awk -v c="$count" -v kind="$kind" -v f="${FROM:-1}" \
		    'BEGIN { for (i = f; i <= c; i++) print kind, i }'
	fi
done <"$T/counts" >"$T/cases"
echo "$(wc -l <"$T/cases") cases, $JOBS at a time"

# shellcheck disable=SC2016
xargs -P "$JOBS" -n 2 sh -c 'sh "$0" --case "$1" "$2" "$3"' \
    "$HERE/run.sh" "$RB" <"$T/cases" >"$T/results"
grep -v '^ok ' "$T/results"
passed=$(grep -c '^ok ' "$T/results")
failed=$(grep -c '^not ok ' "$T/results")
for k in alloc sqlite-alloc write fsync; do
	grep "^ok $k=" "$T/results" | awk -v k="$k" '
	    { n++; e[$4]++ }
	    END { if (n) { printf "  %-13s %5d ok:", k, n;
		for (x in e) printf " exit %s x%d", x, e[x]; print "" } }'
done
echo "fault: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
