#!/bin/sh
# local_steps.sh [RUNBOOK] - per-step overhead of `runbook run` on local
# steps, side by side in one invocation with the fork+exec floor and
# ansible-playbook -c local (when installed), plus --jobs scaling.
#
#   N=200 (sequential `true` steps), PAR=100 (independent steps),
#   ANSIBLE_N=20 (ansible is ~0.3 s per task: keep it small), REPEAT=3.
# Prints medians. The runbook figure includes the durable journal
# (SQLite WAL, synchronous=FULL) and the audit chain.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUNBOOK=${1:-$ROOT/build/runbook}
N=${N:-200}
PAR=${PAR:-100}
ANSIBLE_N=${ANSIBLE_N:-20}
REPEAT=${REPEAT:-3}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rb-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export RUNBOOK_STATE_DIR="$TMP/state" NO_COLOR=1

cc -O2 -o "$TMP/floor" "$ROOT/tests/bench/floor.c"

# A runbook of n steps; "seq" chains them, "par" makes them all roots.
gen() {
	{
		echo "runbook: bench-$2"
		echo "steps:"
		i=1
		while [ $i -le "$1" ]; do
			echo "  - id: s$i"
			[ "$3" = par ] && echo "    needs: []"
			echo "    run: \"true\""
			i=$((i + 1))
		done
	} >"$TMP/$2.yaml"
}

# median of REPEAT wall times (ms) of a command
time_ms() {
	r=0
	while [ $r -lt "$REPEAT" ]; do
		t0=$(date +%s%N)
		"$@" >/dev/null 2>&1 || { echo "bench: '$*' failed" >&2; exit 1; }
		t1=$(date +%s%N)
		echo $(( (t1 - t0) / 1000 ))
		r=$((r + 1))
	done | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] / 1000 }'
}

gen "$N" seq seq
gen 1 one seq
gen "$PAR" par par
floor=$(time_ms "$TMP/floor" "$N")
floor1=$(time_ms "$TMP/floor" 1)
rb=$(time_ms "$RUNBOOK" run "$TMP/seq.yaml" --jobs 1)
rb1=$(time_ms "$RUNBOOK" run "$TMP/one.yaml")
p1=$(time_ms "$RUNBOOK" run "$TMP/par.yaml" --jobs 1)
p2=$(time_ms "$RUNBOOK" run "$TMP/par.yaml" --jobs 2)

per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.3f", (a - b) / (n - 1) }'; }
rbper=$(per "$rb" "$rb1" "$N")
flper=$(per "$floor" "$floor1" "$N")

printf '%-44s %10s %12s\n' "runner ($N sequential 'true' steps)" "wall ms" "ms per step"
printf '%-44s %10s %12s\n' "fork+exec /bin/sh -c true (C floor)" "$floor" "$flper"
printf '%-44s %10s %12s\n' "runbook run (journal + audit, synchronous)" "$rb" "$rbper"

if command -v ansible-playbook >/dev/null 2>&1; then
	{
		echo "- hosts: localhost"
		echo "  gather_facts: false"
		echo "  tasks:"
		i=1
		while [ $i -le "$ANSIBLE_N" ]; do
			echo "    - command: /bin/true"
			i=$((i + 1))
		done
	} >"$TMP/play.yml"
	{ echo "- hosts: localhost"; echo "  gather_facts: false"; echo "  tasks:"; echo "    - command: /bin/true"; } >"$TMP/play1.yml"
	an=$(REPEAT=1 time_ms ansible-playbook -c local -i localhost, "$TMP/play.yml")
	an1=$(REPEAT=1 time_ms ansible-playbook -c local -i localhost, "$TMP/play1.yml")
	anper=$(per "$an" "$an1" "$ANSIBLE_N")
	printf '%-44s %10s %12s\n' "ansible-playbook -c local ($ANSIBLE_N tasks)" "$an" "$anper"
	awk -v a="$anper" -v r="$rbper" 'BEGIN { printf "runbook is %.0fx faster per step than ansible-playbook\n", a / r }'
else
	echo "ansible-playbook: not installed (apt-get install ansible) - skipped"
fi
awk -v r="$rbper" -v f="$flper" 'BEGIN { printf "runbook per-step cost is %.2fx the fork+exec floor\n", r / f }'
printf '%-44s %10s\n' "$PAR independent steps, --jobs 1" "$p1"
printf '%-44s %10s\n' "$PAR independent steps, --jobs 2" "$p2"
awk -v a="$p1" -v b="$p2" 'BEGIN { printf "--jobs 2 takes %.0f%% of the --jobs 1 time\n", 100 * b / a }'
