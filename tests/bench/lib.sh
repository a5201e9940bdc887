# lib.sh - sourced by the benchmark scripts: result lines, medians,
# wall time + peak RSS, and installing a missing reference tool.
#
# Result lines: with BENCH_FORMAT=tsv a script's stdout carries only
# lines "metric<TAB>variant<TAB>value<TAB>unit" (run-all collects them)
# and its human report goes to stderr; otherwise the report is on stdout
# as before and result lines are dropped. A value that could not be
# measured is "n/a" with the reason as its unit.
if [ "${BENCH_FORMAT:-}" = tsv ]; then
	exec 3>&1 1>&2
else
	exec 3>/dev/null
fi

# result METRIC VARIANT VALUE UNIT
result() {
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >&3
}

# median of the numbers on stdin, one a line
median() {
	sort -g | awk '{ a[NR] = $1 }
	    END { if (NR == 0) print "n/a"
		  else if (NR % 2) print a[(NR + 1) / 2]
		  else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# bench_install COMMAND PACKAGE: install PACKAGE with apt-get when COMMAND
# is missing (unless NO_INSTALL=1); status 0 if COMMAND is there after.
bench_install() {
	command -v "$1" >/dev/null 2>&1 && return 0
	[ "${NO_INSTALL:-0}" = 1 ] && return 1
	echo "installing $2 (apt-get) ..." >&2
	{
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		    apt-get install -y -qq "$2"; }
	} </dev/null >/dev/null 2>&1
	command -v "$1" >/dev/null 2>&1
}

# wall_rss OUT COMMAND...: run COMMAND (output discarded) and write
# "wall-ms peak-KiB" to OUT. Wall time is taken around the command (it
# includes GNU time's own fork+exec, well under a millisecond); peak RSS
# is GNU time's %M (package `time`, installed when missing), or "n/a"
# without it. Status is COMMAND's.
wall_rss() {
	_out=$1
	shift
	if [ -z "${BENCH_GNU_TIME:-}" ]; then
		if [ -x /usr/bin/time ] || { bench_install /usr/bin/time time &&
		    [ -x /usr/bin/time ]; }; then
			BENCH_GNU_TIME=/usr/bin/time
		else
			BENCH_GNU_TIME=none
		fi
	fi
	_t0=$(date +%s%N)
	if [ "$BENCH_GNU_TIME" != none ]; then
		"$BENCH_GNU_TIME" -o "$_out.t" -f '%M' "$@" >/dev/null 2>&1
	else
		echo n/a >"$_out.t"
		"$@" >/dev/null 2>&1
	fi
	_st=$?
	_t1=$(date +%s%N)
	# GNU time puts "Command exited with non-zero status N" first.
	echo "$(( (_t1 - _t0) / 1000 )) $(tail -n 1 "$_out.t")" |
	    awk '{ printf "%.1f %s\n", $1 / 1000, $2 }' >"$_out"
	rm -f "$_out.t"
	return $_st
}
