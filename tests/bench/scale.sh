#!/bin/sh
# scale.sh [RUNBOOK] - how validate and plan grow with the size of a
# runbook: wall time and peak RSS for 10, 100, 1,000 and 10,000 steps
# (SIZES overrides). Steps chain through implicit needs, every fifth one
# fans in from two earlier steps, and each has a template and a `when`.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUNBOOK=${1:-$ROOT/build/runbook}
SIZES=${SIZES:-10 100 1000 10000}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rb-scale.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

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
			printf "    run: echo step %d on {{ params.host }}\n", i
		}
	}' >"$TMP/scale-$1.yaml"
}

# "seconds peak-KiB" of a command, from GNU time if present, else /proc.
measure() {
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f "%e %M" "$@" 2>&1 >/dev/null | tail -n 1
	else
		t0=$(date +%s%N)
		"$@" >/dev/null 2>&1
		echo "$(( ($(date +%s%N) - t0) / 1000000 ))ms ?"
	fi
}

printf '%8s %10s %14s %12s %14s %12s\n' steps "file KiB" "validate s" "peak KiB" "plan json s" "peak KiB"
for n in $SIZES; do
	gen "$n"
	kib=$(( $(wc -c <"$TMP/scale-$n.yaml") / 1024 ))
	v=$(measure "$RUNBOOK" validate "$TMP/scale-$n.yaml")
	p=$(measure "$RUNBOOK" plan "$TMP/scale-$n.yaml" --format json)
	printf '%8s %10s %14s %12s %14s %12s\n' "$n" "$kib" ${v% *} ${v#* } ${p% *} ${p#* }
done
