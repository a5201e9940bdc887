#!/bin/sh
# run-all.sh BUILD - every test layer of `make test`: unit tests, CLI tests
# (which start their own sshd, HTTP and PostgreSQL servers), the module
# layers, the house style, the man page lint, and short fuzz and fault
# injection smoke runs. Ends with the total "N passed, N failed".
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
total_p=0 total_f=0 total_s=0
failures=""

# note OUTPUT PREFIX: remember the "not ok"/"FAILED" lines of a layer, so
# the end of the log names every failure (CI often shows only the tail).
note() {
	l=$(printf '%s\n' "$1" | grep -E '(^|: )not ok |FAILED' | sed "s/^/$2: /")
	[ -n "$l" ] && failures="$failures
$l"
}

count() {
	# count LAYER-OUTPUT-LAST-LINE
	p=$(printf '%s\n' "$1" | sed -n 's/.* \([0-9]*\) passed.*/\1/p; s/^\([0-9]*\) passed.*/\1/p' | head -n 1)
	f=$(printf '%s\n' "$1" | sed -n 's/.* \([0-9]*\) failed.*/\1/p' | head -n 1)
	s=$(printf '%s\n' "$1" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p' | head -n 1)
	total_p=$((total_p + ${p:-0}))
	total_f=$((total_f + ${f:-1}))
	total_s=$((total_s + ${s:-0}))
}

# Sanitizer reports of every process the unit and CLI tests start (the
# serve listener and its run children included) go to files here; each
# file is a failure, even when the test that caused it passed. Only a
# sanitizer build writes any.
SANLOG=$ROOT/$BUILD/sanitizer-logs
case $BUILD in /*) SANLOG=$BUILD/sanitizer-logs ;; esac
rm -rf "$SANLOG"
mkdir -p "$SANLOG"
ASAN_OPTIONS="log_path=$SANLOG/asan:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
UBSAN_OPTIONS="log_path=$SANLOG/ubsan:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export ASAN_OPTIONS UBSAN_OPTIONS

echo "== unit tests"
out=$("$BUILD/unit-tests" 2>&1)
code=$?
printf '%s\n' "$out" | grep -v '^ok ' | tail -n 50
note "$out" unit
last=$(printf '%s\n' "$out" | tail -n 1)
count "$last"
[ "$code" -ne 0 ] && [ "${f:-0}" -eq 0 ] && total_f=$((total_f + 1))

echo "== cli tests"
out=$(sh tests/cli/run.sh "$BUILD" 2>&1)
code=$?
printf '%s\n' "$out"
note "$out" cli
last=$(printf '%s\n' "$out" | tail -n 1)
count "$last"
[ "$code" -ne 0 ] && [ "${f:-0}" -eq 0 ] && total_f=$((total_f + 1))

unset ASAN_OPTIONS UBSAN_OPTIONS
reports=$(ls "$SANLOG" 2>/dev/null | wc -l)
if [ "$reports" -gt 0 ]; then
	echo "== sanitizer reports: $reports"
	for f in "$SANLOG"/*; do
		echo "--- $f"
		head -n 40 "$f"
	done
	total_f=$((total_f + reports))
	failures="$failures
sanitizer: $reports report(s) in $SANLOG"
elif [ -n "${SANITIZE_EXPECTED:-}" ]; then
	echo "== sanitizer reports: none"
fi

echo "== layers"
out=$(sh tests/check-layers.sh "$BUILD/obj" 2>&1)
printf '%s\n' "$out"
note "$out" layers
count "$(printf '%s\n' "$out" | tail -n 1)"

echo "== style"
if command -v python3 >/dev/null 2>&1; then
	# The checker's own cases first: a checker that stopped seeing a rule
	# would pass every file.
	out=$(python3 tests/check-style.py --self-test 2>&1)
	printf '%s\n' "$out" | grep -v '^ok '
	note "$out" style
	count "$(printf '%s\n' "$out" | tail -n 1)"
	out=$(python3 tests/check-style.py 2>&1)
	printf '%s\n' "$out"
	note "$out" style
	count "$(printf '%s\n' "$out" | tail -n 1)"
else
	total_s=$((total_s + 1)); echo "python3 not installed: skipped"
fi

if [ -f src/runbook.1 ]; then
	echo "== man page"
	if command -v mandoc >/dev/null 2>&1; then
		if mandoc -Tlint -W warning src/runbook.1; then
			total_p=$((total_p + 1)); echo "mandoc -Tlint: ok"
		else
			total_f=$((total_f + 1)); echo "mandoc -Tlint: FAILED"
			failures="$failures
man: mandoc -Tlint FAILED"
		fi
	else
		total_s=$((total_s + 1)); echo "mandoc not installed (package mandoc): skipped"
	fi
fi

# The fuzz and fault layers need clang and its sanitizer and libFuzzer
# runtimes; without them they are skipped, naming the missing package.
sanitizer_toolchain() {
	if ! command -v clang >/dev/null 2>&1; then
		echo "clang not installed (package clang)"
		return 1
	fi
	d=$(mktemp -d "${TMPDIR:-/tmp}/rb-probe.XXXXXX") || return 1
	printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)\n{ (void)d; return (int)n & 0; }\n' \
	    >"$d/probe.c"
	if ! clang -fsanitize=fuzzer,address,undefined -o "$d/probe" \
	    "$d/probe.c" >/dev/null 2>&1; then
		rm -rf "$d"
		echo "clang cannot link libFuzzer/sanitizer programs (package libclang-rt-dev)"
		return 1
	fi
	rm -rf "$d"
	return 0
}

if [ -z "${SKIP_FUZZ:-}" ] && [ -n "$(ls tests/fuzz/fuzz_*.c 2>/dev/null)" ]; then
	echo "== fuzz smoke"
	if why=$(sanitizer_toolchain); then
		out=$(make --no-print-directory fuzz-smoke BUILD="$BUILD-fuzz" 2>&1)
		code=$?
		printf '%s\n' "$out" | tail -n 20
		note "$out" fuzz
		last=$(printf '%s\n' "$out" | tail -n 1)
		count "$last"
		[ "$code" -ne 0 ] && [ "${f:-0}" -eq 0 ] && total_f=$((total_f + 1))
	else
		total_s=$((total_s + 1)); echo "$why: skipped"
	fi
fi

if [ -z "${SKIP_FAULT:-}" ] && [ -f tests/fault/run.sh ]; then
	echo "== fault injection smoke"
	if why=$(sanitizer_toolchain); then
		out=$(make --no-print-directory fault-smoke BUILD="$BUILD" 2>&1)
		code=$?
		printf '%s\n' "$out" | grep -v '^  \(CC\|LD\) ' | tail -n 30
		note "$out" fault
		last=$(printf '%s\n' "$out" | tail -n 1)
		count "$last"
		[ "$code" -ne 0 ] && [ "${f:-0}" -eq 0 ] && total_f=$((total_f + 1))
	else
		total_s=$((total_s + 1)); echo "$why: skipped"
	fi
fi

if [ -n "$failures" ]; then
	echo "== failures"
	printf '%s\n' "$failures" | sed '/^$/d' | tail -n 40
fi
echo "== total"
echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
