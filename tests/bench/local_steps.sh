#!/bin/sh
# local_steps.sh [RUNBOOK] - per-step overhead of `runbook run` on local
# steps, side by side in one invocation with the fork+exec floor and
# ansible-playbook -c local, plus --jobs scaling (and, for what two CPUs
# allow at the moment, the floor 1 and 2 at a time).
#
#   N=200 (sequential `true` steps), PAR=100 (independent steps),
#   ANSIBLE_N=20 (ansible is ~0.3 s per task: keep it small), REPEAT=5,
#   ANSIBLE_REPEAT=1, ANSIBLE=0 (leave ansible out), NO_INSTALL=1 (do not
#   apt-get install ansible when it is missing).
# The floor and runbook runs are interleaved, REPEAT rounds, so a load
# spike on a shared box hits both; the figures are medians. Per-step cost
# is (T(N) - T(1)) / (N - 1), which removes each runner's start-up. The
# runbook figure includes the durable journal (SQLite WAL,
# synchronous=FULL, one commit per step boundary) and the audit chain.
# BENCH_FORMAT=tsv: result lines on stdout, this report on stderr (lib.sh).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/bench/lib.sh"
RUNBOOK=${1:-$ROOT/build/runbook}
N=${N:-200}
PAR=${PAR:-100}
ANSIBLE_N=${ANSIBLE_N:-20}
REPEAT=${REPEAT:-5}
ANSIBLE_REPEAT=${ANSIBLE_REPEAT:-1}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rb-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
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

# once NAME COMMAND...: append one wall time (µs) of COMMAND to $TMP/t.NAME
once() {
	_n=$1
	shift
	t0=$(date +%s%N)
	"$@" >/dev/null 2>&1 || { echo "bench: '$*' failed" >&2; exit 1; }
	t1=$(date +%s%N)
	echo $(( (t1 - t0) / 1000 )) >>"$TMP/t.$_n"
}
# ms NAME: median of NAME's times, in ms
ms() { median <"$TMP/t.$1" | awk '{ printf "%.1f", $1 / 1000 }'; }
per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.3f", (a - b) / (n - 1) }'; }

gen "$N" seq seq
gen 1 one seq
gen "$PAR" par par
r=0
while [ $r -lt "$REPEAT" ]; do
	once floor "$TMP/floor" "$N"
	once floor1 "$TMP/floor" 1
	once rb "$RUNBOOK" run "$TMP/seq.yaml" --jobs 1
	once rb1 "$RUNBOOK" run "$TMP/one.yaml"
	once p1 "$RUNBOOK" run "$TMP/par.yaml" --jobs 1
	once p2 "$RUNBOOK" run "$TMP/par.yaml" --jobs 2
	once fp1 "$TMP/floor" "$PAR" 1
	once fp2 "$TMP/floor" "$PAR" 2
	r=$((r + 1))
done
floor=$(ms floor) floor1=$(ms floor1) rb=$(ms rb) rb1=$(ms rb1)
p1=$(ms p1) p2=$(ms p2) fp1=$(ms fp1) fp2=$(ms fp2)
rbper=$(per "$rb" "$rb1" "$N")
flper=$(per "$floor" "$floor1" "$N")

echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); medians of $REPEAT"
printf '%-44s %10s %12s\n' "runner ($N sequential 'true' steps)" "wall ms" "ms per step"
printf '%-44s %10s %12s\n' "fork+exec /bin/sh -c true (C floor)" "$floor" "$flper"
printf '%-44s %10s %12s\n' "runbook run (journal + audit, synchronous)" "$rb" "$rbper"
result local.steps n "$N" steps
result local.step floor "$flper" ms/step
result local.step runbook "$rbper" ms/step
result local.startup floor "$floor1" ms
result local.startup runbook "$rb1" ms

if [ "${ANSIBLE:-1}" = 1 ] && bench_install ansible-playbook ansible; then
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
	r=0
	while [ $r -lt "$ANSIBLE_REPEAT" ]; do
		once an ansible-playbook -c local -i localhost, "$TMP/play.yml"
		once an1 ansible-playbook -c local -i localhost, "$TMP/play1.yml"
		r=$((r + 1))
	done
	an=$(ms an) an1=$(ms an1)
	anper=$(per "$an" "$an1" "$ANSIBLE_N")
	printf '%-44s %10s %12s\n' "ansible-playbook -c local ($ANSIBLE_N tasks)" "$an" "$anper"
	awk -v a="$anper" -v r="$rbper" 'BEGIN { printf "runbook is %.0fx faster per step than ansible-playbook\n", a / r }'
	result local.step ansible "$anper" ms/step
	result local.startup ansible "$an1" ms
	result local.ansible_tasks n "$ANSIBLE_N" tasks
elif [ "${ANSIBLE:-1}" = 1 ]; then
	echo "ansible-playbook: not installed (apt-get install ansible) - skipped"
	result local.step ansible n/a "not installed"
else
	result local.step ansible n/a "skipped (ANSIBLE=0)"
fi
awk -v r="$rbper" -v f="$flper" 'BEGIN { printf "runbook per-step cost is %.2fx the fork+exec floor\n", r / f }'
printf '%-44s %10s\n' "$PAR independent steps, --jobs 1" "$p1"
printf '%-44s %10s\n' "$PAR independent steps, --jobs 2" "$p2"
awk -v a="$p1" -v b="$p2" 'BEGIN { printf "--jobs 2 takes %.0f%% of the --jobs 1 time\n", 100 * b / a }'
printf '%-44s %10s\n' "floor, $PAR x sh -c true, 1 at a time" "$fp1"
printf '%-44s %10s\n' "floor, $PAR x sh -c true, 2 at a time" "$fp2"
awk -v a="$fp1" -v b="$fp2" 'BEGIN { printf "the floor, 2 at a time, takes %.0f%% of its 1-at-a-time time\n", 100 * b / a }'
result local.par n "$PAR" steps
result local.par jobs1 "$p1" ms
result local.par jobs2 "$p2" ms
result local.par floor1 "$fp1" ms
result local.par floor2 "$fp2" ms
