#!/bin/sh
# run.sh BUILD SECONDS - run every libFuzzer target in BUILD/fuzz for SECONDS
# each, starting from its seed corpus (tests/fuzz/corpus/NAME) with its
# dictionary (tests/fuzz/NAME.dict). New inputs go to a scratch corpus so
# the checked-in seeds stay small. A crash is a failure; its input is kept
# in BUILD/fuzz/artifacts/ to become a regression test.
BUILD=${1:-build}
SECONDS_EACH=${2:-5}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
passed=0 failed=0
mkdir -p "$BUILD/fuzz/artifacts"
for f in "$BUILD"/fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f" | sed 's/^fuzz_//')
	seeds="$ROOT/tests/fuzz/corpus/$name"
	work="$BUILD/fuzz/corpus-$name"
	mkdir -p "$work"
	dict=""
	[ -f "$ROOT/tests/fuzz/$name.dict" ] && dict="-dict=$ROOT/tests/fuzz/$name.dict"
	if "$f" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix="$BUILD/fuzz/artifacts/$name-" $dict \
	    "$work" "$seeds" >"$BUILD/fuzz/$name.log" 2>&1; then
		passed=$((passed + 1))
		echo "fuzz $name: ok ($(grep -o 'Done [0-9]* runs' "$BUILD/fuzz/$name.log" | tail -n 1))"
	else
		failed=$((failed + 1))
		echo "fuzz $name: FAILED"
		tail -n 30 "$BUILD/fuzz/$name.log"
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
