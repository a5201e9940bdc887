#!/bin/sh
# scale.sh [RUNBOOK] - how runbook's cost grows: wall time and peak RSS of
# `validate`, `plan --format json` and a real `run` for runbooks of 10,
# 100, 1,000 and 10,000 steps, and of a run fanned out over 1, 10 and 50
# inventory hosts.
#
# Step growth: steps chain through implicit needs, every fifth one fans in
# from two earlier steps, each has a `when` and a template; the command is
# `true` (its arguments carry the rendered template), so a run is N
# sequential processes, each journalled (SQLite WAL, synchronous=FULL) and
# audited like any run.
# Host growth: HOST_STEPS steps of `true`, each `on:` a group of H aliases
# of one private loopback sshd (tests/fixtures/sshd; its MaxStartups
# 400:30:800 and MaxSessions 100 admit 50 concurrent logins), so the
# first step opens H sessions at once and the others reuse them.
#
# Knobs: SIZES="10 100 1000 10000" (validate, plan), RUN_SIZES (default
# SIZES), HOSTS="1 10 50", HOST_STEPS=10, REPEAT=3 (medians; a run of
# 10,000 steps or more is measured BIG_REPEAT=1 time), RUN_TIMEOUT=600
# seconds per run (a run that takes longer is reported as "timeout"),
# HOSTS= (no host growth). Peak RSS is GNU time's maximum resident set size of the
# runbook process (the largest of it and its children).
# BENCH_FORMAT=tsv: result lines on stdout, this report on stderr (lib.sh).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/bench/lib.sh"
RUNBOOK=${1:-$ROOT/build/runbook}
case $RUNBOOK in /*) ;; *) RUNBOOK=$(pwd)/$RUNBOOK ;; esac
SIZES=${SIZES-10 100 1000 10000}
RUN_SIZES=${RUN_SIZES-$SIZES}
HOSTS=${HOSTS-1 10 50}
HOST_STEPS=${HOST_STEPS:-10}
REPEAT=${REPEAT:-3}
BIG_REPEAT=${BIG_REPEAT:-1}
RUN_TIMEOUT=${RUN_TIMEOUT:-600}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rb-scale.XXXXXX")
cleanup() {
	[ -f "$TMP/sshd/sshd.pid" ] &&
	    sh "$ROOT/tests/fixtures/sshd/stop-sshd.sh" "$TMP/sshd" 3>&-
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export NO_COLOR=1
unset SSH_AUTH_SOCK

gen() {
	awk -v n="$1" 'BEGIN {
		print "runbook: scale"
		print "params:"
		print "  host: {default: db1, pattern: \"^[a-z0-9.-]+$\"}"
		print "steps:"
		for (i = 1; i <= n; i++) {
			printf "  - id: s%d\n", i
			if (i % 5 == 0 && i > 2)
				printf "    needs: [s%d, s%d]\n", i - 1, i - 2
			if (i > 1)
				printf "    when: steps.s%d.ok || params.host == \"x\"\n", i - 1
			printf "    run: true step %d on {{ params.host }}\n", i
		}
	}' >"$TMP/scale-$1.yaml"
}

# measure NAME N COMMAND...: median wall ms and peak KiB of COMMAND over
# REPEAT runs (a run of N >= 10000 steps: BIG_REPEAT), into $w and $m;
# "timeout" when it took longer than RUN_TIMEOUT, "failed" when it failed.
measure() {
	_name=$1 _n=$2
	shift 2
	_reps=$REPEAT
	[ "$_name" = run ] && [ "$_n" -ge 10000 ] && _reps=$BIG_REPEAT
	: >"$TMP/w" && : >"$TMP/m"
	_r=0 w='' m=''
	while [ $_r -lt "$_reps" ]; do
		if wall_rss "$TMP/one" timeout "$RUN_TIMEOUT" "$@"; then
			read -r _w _m <"$TMP/one"
			echo "$_w" >>"$TMP/w"
			echo "$_m" >>"$TMP/m"
		else
			_st=$?
			if [ $_st = 124 ]; then
				w=timeout
			else
				w=failed
				echo "scale.sh: $_name at $_n failed ($_st): $*" >&2
			fi
			m=n/a
			return 0
		fi
		_r=$((_r + 1))
	done
	w=$(median <"$TMP/w")
	m=$(median <"$TMP/m")
}

# put KIND N: report the last measure as result lines
put() {
	if [ "$w" = timeout ]; then
		result "growth.$1.wall" "$2" n/a "timeout (> ${RUN_TIMEOUT} s)"
	elif [ "$w" = failed ]; then
		result "growth.$1.wall" "$2" n/a failed
	else
		result "growth.$1.wall" "$2" "$w" ms
	fi
	result "growth.$1.rss" "$2" "$m" KiB
}

echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); medians of $REPEAT (a run of 10,000 steps: $BIG_REPEAT)"
printf '%8s %9s %12s %10s %12s %10s %12s %10s %10s\n' steps "file KiB" \
    "validate ms" "peak KiB" "plan ms" "peak KiB" "run ms" "peak KiB" "run ms/step"
for n in $SIZES; do
	gen "$n"
	kib=$(( $(wc -c <"$TMP/scale-$n.yaml") / 1024 ))
	measure validate "$n" "$RUNBOOK" validate "$TMP/scale-$n.yaml"
	vw=$w vm=$m
	put validate "$n"
	measure plan "$n" "$RUNBOOK" plan "$TMP/scale-$n.yaml" --format json
	pw=$w pm=$m
	put plan "$n"
	rw=- rm=- per=-
	case " $RUN_SIZES " in
	*" $n "*)
		# One state directory per size: every run adds to its state.db
		# as repeated runs of one runbook would.
		measure run "$n" "$RUNBOOK" run "$TMP/scale-$n.yaml" \
		    --state "$TMP/state-$n"
		rw=$w rm=$m
		put run "$n"
		per=$(echo "$rw" | awk -v n="$n" '/^[0-9.]+$/ { printf "%.2f", $1 / n; next } { print "-" }')
		;;
	esac
	printf '%8s %9s %12s %10s %12s %10s %12s %10s %10s\n' "$n" "$kib" \
	    "$vw" "$vm" "$pw" "$pm" "$rw" "$rm" "$per"
done

[ -n "$HOSTS" ] || exit 0
echo
if ! PORT=$(SSHD_LOGLEVEL=INFO sh "$ROOT/tests/fixtures/sshd/start-sshd.sh" \
    "$TMP/sshd" 3>&- 2>"$TMP/sshd.err"); then
	echo "host growth: cannot start sshd: $(cat "$TMP/sshd.err")"
	for h in $HOSTS; do
		result growth.hosts.wall "$h" n/a "no sshd"
	done
	exit 0
fi
{
	echo "runbook: fleet"
	echo "steps:"
	s=1
	while [ $s -le "$HOST_STEPS" ]; do
		echo "  - id: s$s"
		echo "    on: fleet"
		echo "    run: \"true\""
		s=$((s + 1))
	done
} >"$TMP/fleet.yaml"
result growth.hosts.steps n "$HOST_STEPS" steps
printf '%8s %11s %10s %10s %14s\n' hosts host-steps "run ms" "peak KiB" "ms/host-step"
for h in $HOSTS; do
	{
		echo "defaults: {user: $(id -un), port: $PORT, identity: $TMP/sshd/id_ed25519, known_hosts: $TMP/sshd/known_hosts}"
		echo "hosts:"
		i=1
		while [ $i -le "$h" ]; do
			echo "  h$i: {address: 127.0.0.1}"
			i=$((i + 1))
		done
		printf 'groups:\n  fleet: ['
		i=1
		while [ $i -le "$h" ]; do
			printf '%sh%d' "$([ $i -gt 1 ] && echo ', ')" $i
			i=$((i + 1))
		done
		echo ']'
	} >"$TMP/inv-$h.yaml"
	measure hosts "$h" "$RUNBOOK" run "$TMP/fleet.yaml" \
	    --inventory "$TMP/inv-$h.yaml" --state "$TMP/hstate-$h"
	put hosts "$h"
	per=$(echo "$w" | awk -v n="$((h * HOST_STEPS))" '/^[0-9.]+$/ { printf "%.2f", $1 / n; next } { print "-" }')
	printf '%8s %11s %10s %10s %14s\n' "$h" "$((h * HOST_STEPS))" "$w" "$m" "$per"
done
