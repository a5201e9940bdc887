#!/bin/sh
#
# t0200-schema-agreement.sh - the JSON schemas in schemas/ and the C
# validator (`runbook validate`) agree on tests/data/schema/.
#
# For every fixture (good/ must be accepted, bad/ rejected; the kind comes
# from the name: runbook-*, inventory-*, routes-*):
#   - Python's jsonschema validates it against its schema as draft-07, and
#     as 2020-12 too (same verdict expected), and
#   - `$RUNBOOK validate FILE` accepts (exit 0) or rejects (exit 2) it.
# Each schema is also checked to use only keywords that mean the same in
# draft-07 and 2020-12 (and $ref without siblings, a description on every
# property), and to be a valid schema in both (tests/cli/schema-check.py).
# Shipped runbooks/ and playbooks/ files must pass their schema as well.
#
# The validator is Debian's python3-jsonschema, with python3-yaml reading
# YAML 1.2 booleans (as libyaml leaves `on:` a string); both are installed
# by tests/install-deps.sh, and nothing is fetched while the test runs. If
# either is missing the test is skipped, naming the package.
#
# Environment: RUNBOOK (default: $1/runbook, else build/runbook). The validator runs with RUNBOOK_PATH set to
# tests/data/schema/runbooks and RUNBOOK_INVENTORY to
# tests/data/schema/good/inventory-full.yaml.
#
# Prints "ok N - ..." / "not ok N - ..." and ends with "N passed, N failed"
# (", 1 skipped" when the validator binary is not built).

orig=$(pwd)
if [ -z "${RUNBOOK:-}" ]; then
	if [ -n "${1:-}" ]; then
		RUNBOOK=$1/runbook
	else
		RUNBOOK=build/runbook
	fi
fi
case $RUNBOOK in
/*) ;;
*) [ -e "$orig/$RUNBOOK" ] && RUNBOOK=$orig/$RUNBOOK ;;
esac

cd "$(dirname "$0")/../.." || exit 2
root=$(pwd)
case $RUNBOOK in
/*) ;;
*) RUNBOOK=$root/$RUNBOOK ;;
esac

data=tests/data/schema
n=0
passed=0
failed=0
skipped=0

tmp=$(mktemp -d "${TMPDIR:-/tmp}/t0200.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'rm -rf "$tmp"; exit 130' INT TERM

ok() {
	n=$((n + 1))
	passed=$((passed + 1))
	echo "ok $n - $1"
}

not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
}

# Print a file as TAP comments.
comment() {
	sed 's/^/#   /' "$1"
}

finish() {
	if [ "$skipped" -gt 0 ]; then
		echo "$passed passed, $failed failed, $skipped skipped"
	else
		echo "$passed passed, $failed failed"
	fi
	[ "$failed" -eq 0 ]
	exit $?
}

skip_all() {
	echo "# skip: $1"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
}

# ------------------------------------------------------------------
# Tools: Python's jsonschema and yaml modules (Debian packages).

command -v python3 >/dev/null 2>&1 ||
	skip_all "python3 is not installed (package python3)"
python3 -c 'import yaml' 2>/dev/null ||
	skip_all "the Python yaml module is not installed (package python3-yaml)"
python3 -c 'import jsonschema; jsonschema.Draft202012Validator' 2>/dev/null ||
	skip_all "the Python jsonschema module (4.0 or later) is not installed (package python3-jsonschema)"

check_py() {
	python3 "$root/tests/cli/schema-check.py" "$@"
}

# ------------------------------------------------------------------
# The schemas themselves.

kinds="runbook inventory routes"
for kind in $kinds; do
	s=schemas/$kind.schema.json
	if check_py audit "$s" >"$tmp/out" 2>&1; then
		ok "$s: draft-07/2020-12 keywords only, \$ref alone, described properties, valid in both drafts"
	else
		not_ok "$s: draft-07/2020-12 keywords only, \$ref alone, described properties, valid in both drafts"
		comment "$tmp/out"
	fi
done

# ------------------------------------------------------------------
# The cases: "EXPECT KIND FILE C" lines (C: also run `runbook validate`).

: >"$tmp/cases"
for expect in good bad; do
	for f in "$data/$expect"/*.yaml; do
		[ -f "$f" ] || continue
		case ${f##*/} in
		runbook-*) kind=runbook ;;
		inventory-*) kind=inventory ;;
		routes-*) kind=routes ;;
		*) not_ok "$f is named runbook-*, inventory-* or routes-*"; continue ;;
		esac
		echo "$expect $kind $f yes" >>"$tmp/cases"
	done
done
for f in "$data"/runbooks/*.yaml; do
	[ -f "$f" ] && echo "good runbook $f yes" >>"$tmp/cases"
done
# Shipped files: schema only (validated by the docs test).
for f in runbooks/*.yaml runbooks/*.yml playbooks/*.yaml playbooks/*.yml; do
	[ -f "$f" ] && echo "good runbook $f no" >>"$tmp/cases"
done

# Verdicts of both drafts, one Python run per kind: "valid FILE" /
# "invalid FILE" lines in $tmp/d7 and $tmp/d2020, the first error of each
# invalid file in $tmp/why.
: >"$tmp/d7"
: >"$tmp/d2020"
: >"$tmp/why"
for kind in $kinds; do
	s=schemas/$kind.schema.json
	set --
	while read -r expect k f c; do
		[ "$k" = "$kind" ] && set -- "$@" "$f"
	done <"$tmp/cases"
	[ $# -gt 0 ] || continue
	if check_py validate "$s" "$@" >"$tmp/out" 2>&1; then
		ok "$s checked $# files"
		sed -n 's/^draft7 //p' "$tmp/out" | grep -E '^(valid|invalid) ' >>"$tmp/d7"
		sed -n 's/^2020-12 //p' "$tmp/out" | grep -E '^(valid|invalid) ' >>"$tmp/d2020"
		cat "$tmp/out" >>"$tmp/why"
	else
		not_ok "$s checked $# files"
		comment "$tmp/out"
	fi
done

verdict() {
	if grep -qxF "valid $2" "$1"; then
		echo good
	elif grep -qxF "invalid $2" "$1"; then
		echo bad
	else
		echo none
	fi
}

# ------------------------------------------------------------------
# Per fixture: the schema's verdict, then the validator's.

if [ -x "$RUNBOOK" ]; then
	have_bin=yes
else
	have_bin=no
fi

while read -r expect kind f c; do
	name=${f#"$data"/}
	if [ "$expect" = good ]; then
		want=accepts
	else
		want=rejects
	fi
	s=schemas/$kind.schema.json
	v7=$(verdict "$tmp/d7" "$f")
	v20=$(verdict "$tmp/d2020" "$f")
	if [ "$v7" = "$expect" ] && [ "$v20" = "$expect" ]; then
		ok "$kind schema $want $name"
	else
		not_ok "$kind schema $want $name # draft-07: $v7, 2020-12: $v20"
		grep -A2 -F " $f" "$tmp/why" | sed 's/^/# /'
	fi

	if [ "$c" != yes ] || [ "$have_bin" != yes ]; then
		continue
	fi
	RUNBOOK_PATH=$root/$data/runbooks \
	RUNBOOK_INVENTORY=$root/$data/good/inventory-full.yaml \
	    "$RUNBOOK" validate "$f" </dev/null >"$tmp/out" 2>&1
	rc=$?
	case $rc in
	0) cv=good ;;
	2) cv=bad ;;
	*) cv="error (exit $rc)" ;;
	esac
	if [ "$cv" = "$expect" ]; then
		ok "runbook validate $want $name"
	else
		case $cv in
		good) said="accepts it (exit 0)" ;;
		bad) said="rejects it (exit 2)" ;;
		*) said="fails with exit $rc" ;;
		esac
		case $v7 in
		good) schema_said="accepts it" ;;
		bad) schema_said="rejects it" ;;
		*) schema_said="gave no verdict" ;;
		esac
		not_ok "runbook validate $want $name # runbook validate $said; the schema $schema_said"
		comment "$tmp/out"
	fi
done <"$tmp/cases"

if [ "$have_bin" = no ]; then
	skipped=1
	echo "# skip: $RUNBOOK is not built: the runbook validate half was not run (make build/runbook)"
fi

finish
