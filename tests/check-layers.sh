#!/bin/sh
# check-layers.sh OBJDIR - the module graph of src/ must follow the layers,
# bottom-up, that src/README walks: a module may use symbols only of the
# modules before it in LAYERS, never of itself-later or of a cycle. Edges
# come from the objects themselves (nm), so an include that is not used
# does not count and a call through a forgotten header does.
#
# Also: every .c basename under src/ is unique.
# Prints each violation and ends with "N passed, N failed".
OBJ=${1:-build/obj}
LAYERS="util yaml expr template model dag parse plan store exec check engine serve cli"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rb-layers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

rank() {
	i=0
	for l in $LAYERS; do
		[ "$l" = "$1" ] && { echo $i; return; }
		i=$((i + 1))
	done
	echo -1
}

find "$OBJ" -name '*.o' ! -path "$OBJ/tests/*" ! -name main.o | sort >"$tmp/objs"
if [ ! -s "$tmp/objs" ]; then
	echo "not ok - no objects under $OBJ (build first)"
	echo "0 passed, 1 failed"
	exit 1
fi
while read -r o; do
	rel=${o#"$OBJ"/}
	m=${rel%%/*}
	f=$(basename "$o" .o)
	nm --defined-only "$o" | awk -v m="$m" -v f="$f" \
	    '$2 ~ /^[TDBRC]$/ { print $3, m, f }' >>"$tmp/defs"
	nm --undefined-only "$o" | awk -v m="$m" -v f="$f" \
	    '{ print $2, m, f }' >>"$tmp/uses"
done <"$tmp/objs"

# use-symbol use-module use-file def-module def-file
awk 'NR == FNR { dm[$1] = $2; df[$1] = $3; next }
    ($1 in dm) { print $1, $2, $3, dm[$1], df[$1] }' \
    "$tmp/defs" "$tmp/uses" >"$tmp/edges"

bad=0
for m in $(awk '{ print $2 }' "$tmp/edges" | sort -u); do
	r=$(rank "$m")
	if [ "$r" -lt 0 ]; then
		echo "not ok - module '$m' is not in the layer list of tests/check-layers.sh"
		bad=$((bad + 1))
		continue
	fi
	awk -v m="$m" '$2 == m && $4 != m { print $4, $3 ":" $1 }' \
	    "$tmp/edges" | sort -u >"$tmp/out.$m"
	while read -r to via; do
		t=$(rank "$to")
		if [ "$t" -lt 0 ] || [ "$t" -gt "$r" ]; then
			echo "not ok - $m uses $to, a higher layer ($via)"
			bad=$((bad + 1))
		fi
	done <"$tmp/out.$m"
done
if [ "$bad" -eq 0 ]; then
	echo "ok - module graph follows the layers: $LAYERS"
	passed=$((passed + 1))
else
	failed=$((failed + 1))
fi

dups=$(find src -name '*.c' | sed 's|.*/||' | sort | uniq -d)
if [ -z "$dups" ]; then
	echo "ok - every .c basename under src/ is unique"
	passed=$((passed + 1))
else
	echo "not ok - basenames used twice: $dups"
	failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
