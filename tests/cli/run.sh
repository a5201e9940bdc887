#!/bin/sh
# run.sh BUILD - run every tests/cli/t*.sh against BUILD/runbook and sum up.
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUNBOOK=$BUILD/runbook
export RUNBOOK
passed=0 failed=0 skipped=0 bad=""
for t in "$ROOT"/tests/cli/t[0-9]*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	t0=$(date +%s)
	out=$(sh "$t" 2>&1)
	code=$?
	secs=$(( $(date +%s) - t0 ))
	last=$(printf '%s\n' "$out" | tail -n 1)
	p=$(printf '%s\n' "$last" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
	f=$(printf '%s\n' "$last" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
	s=$(printf '%s\n' "$last" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
	if [ -z "$p" ]; then
		p=0
		f=1
	fi
	if [ "$code" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + ${f:-0}))
	skipped=$((skipped + ${s:-0}))
	if [ "${f:-0}" -ne 0 ]; then
		bad="$bad $name"
		printf '%s\n' "$out" | grep -v '^ok ' | sed "s/^/$name: /"
		echo "$name: (${secs}s)"
	else
		echo "$name: $last (${secs}s)"
		# What was skipped, and the package it needs, stays visible.
		printf '%s\n' "$out" | grep '# skip' | sed "s/^/$name: /"
	fi
done
[ -n "$bad" ] && echo "failing:$bad"
echo "cli: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
