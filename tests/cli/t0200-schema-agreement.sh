#!/bin/sh
#
# t0200-schema-agreement.sh - the JSON schemas in schemas/ and the C
# validator (`runbook validate`) agree on tests/data/schema/.
#
# For every fixture (good/ must be accepted, bad/ rejected; the kind comes
# from the name: runbook-*, inventory-*, routes-*):
#   - ajv-cli validates it against its schema in draft-07 mode, and Ajv's
#     2020-12 class validates it too (same verdict expected), and
#   - `$RUNBOOK validate FILE` accepts (exit 0) or rejects (exit 2) it.
# Each schema is also checked to use only keywords that mean the same in
# draft-07 and 2020-12 (and $ref without siblings, a description on every
# property), and compiled by both.
# Shipped runbooks/ and playbooks/ files must pass their schema as well.
#
# ajv-cli is installed with npm into $RUNBOOK_NPM_DIR (default
# $HOME/.cache/runbook-npm, else build/npm) when missing; if npm cannot
# reach its registry the whole test is skipped. YAML is read by js-yaml
# (YAML 1.2 booleans, as libyaml leaves `on:` a string), not PyYAML,
# whose YAML 1.1 rules turn the key `on` into true.
#
# Environment: RUNBOOK (default: $1/runbook, else build/runbook),
# RUNBOOK_NPM_DIR. The validator runs with RUNBOOK_PATH set to
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

# Run a command under timeout(1) when there is one.
with_timeout() {
	secs=$1
	shift
	if command -v timeout >/dev/null 2>&1; then
		timeout "$secs" "$@"
	else
		"$@"
	fi
}

# ------------------------------------------------------------------
# Tools: node, and ajv-cli + ajv + js-yaml in a local npm directory.

command -v node >/dev/null 2>&1 || skip_all "node is not installed (apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 || skip_all "npm is not installed (apt-get install npm)"

if [ -z "${RUNBOOK_NPM_DIR:-}" ]; then
	if [ -n "${HOME:-}" ] && mkdir -p "$HOME/.cache/runbook-npm" 2>/dev/null; then
		RUNBOOK_NPM_DIR=$HOME/.cache/runbook-npm
	else
		RUNBOOK_NPM_DIR=$root/build/npm
	fi
fi
nm=$RUNBOOK_NPM_DIR/node_modules
ajv=$nm/.bin/ajv

have_tools() {
	[ -x "$ajv" ] && [ -f "$nm/ajv/dist/2020.js" ] &&
	    [ -f "$nm/js-yaml/package.json" ] && [ -f "$nm/ajv-formats/package.json" ]
}

if ! have_tools; then
	mkdir -p "$RUNBOOK_NPM_DIR" ||
	    skip_all "cannot create $RUNBOOK_NPM_DIR for ajv-cli"
	if ! with_timeout 120 npm view --fetch-retries=1 \
	    --fetch-retry-mintimeout=1000 --fetch-retry-maxtimeout=5000 \
	    ajv-cli@5 version >"$tmp/npm.log" 2>&1; then
		comment "$tmp/npm.log"
		skip_all "the npm registry cannot be reached (npm view ajv-cli failed), so ajv-cli cannot be installed"
	fi
	echo "# installing ajv-cli into $RUNBOOK_NPM_DIR"
	if ! (cd "$RUNBOOK_NPM_DIR" && with_timeout 600 npm install --prefix . \
	    --no-audit --no-fund --no-package-lock --loglevel=error \
	    ajv@8 ajv-cli@5 ajv-formats@3 js-yaml@3) >"$tmp/npm.log" 2>&1 ||
	    ! have_tools; then
		not_ok "install ajv-cli with npm into $RUNBOOK_NPM_DIR"
		comment "$tmp/npm.log"
		finish
	fi
fi

# The 2020-12 half and the keyword audit: a small node script that uses the
# same ajv and js-yaml as ajv-cli.
cat >"$tmp/schema-check.js" <<'EOF'
'use strict';
const fs = require('fs');
const Ajv2020 = require('ajv/dist/2020').default;
const yaml = require('js-yaml');

// Keywords whose meaning is the same in draft-07 and 2020-12.
const ALLOWED = new Set(['$schema', '$id', '$ref', 'definitions', 'type',
  'properties', 'required', 'additionalProperties', 'patternProperties',
  'enum', 'const', 'items', 'oneOf', 'anyOf', 'allOf', 'pattern', 'minimum',
  'maximum', 'minItems', 'minLength', 'description', 'default', 'examples']);

function load(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function deref(root, ref) {
  const m = /^#\/definitions\/([^/]+)$/.exec(ref);
  return m && root.definitions ? root.definitions[m[1]] : undefined;
}

function audit(root) {
  const out = [];
  if (root.$schema !== 'http://json-schema.org/draft-07/schema#')
    out.push('#: $schema is not draft-07');
  if (typeof root.$id !== 'string' || root.$id === '')
    out.push('#: no $id');
  const walk = (s, at) => {
    if (typeof s !== 'object' || s === null || Array.isArray(s)) {
      out.push(`${at}: not a schema object`);
      return;
    }
    for (const k of Object.keys(s))
      if (!ALLOWED.has(k)) out.push(`${at}: keyword "${k}"`);
    if (at !== '#' && ('$schema' in s || '$id' in s))
      out.push(`${at}: nested $schema/$id`);
    if ('$ref' in s) {
      if (Object.keys(s).length !== 1) out.push(`${at}: $ref with siblings`);
      if (deref(root, s.$ref) === undefined)
        out.push(`${at}: $ref ${s.$ref} is not #/definitions/NAME`);
    }
    if (Array.isArray(s.items)) out.push(`${at}: items is an array`);
    for (const k of ['properties', 'patternProperties', 'definitions'])
      for (const [name, sub] of Object.entries(s[k] || {}))
        walk(sub, `${at}/${k}/${name}`);
    for (const [name, sub] of Object.entries(s.properties || {})) {
      const d = '$ref' in sub ? deref(root, sub.$ref) : sub;
      if (!d || typeof d.description !== 'string' || d.description === '')
        out.push(`${at}/properties/${name}: no description`);
    }
    for (const k of ['items', 'additionalProperties'])
      if (typeof s[k] === 'object' && !Array.isArray(s[k]))
        walk(s[k], `${at}/${k}`);
    for (const k of ['oneOf', 'anyOf', 'allOf']) {
      if (!(k in s)) continue;
      if (!Array.isArray(s[k])) out.push(`${at}/${k}: not an array`);
      else s[k].forEach((sub, i) => walk(sub, `${at}/${k}/${i}`));
    }
  };
  walk(root, '#');
  return out;
}

const [mode, schemaFile, ...files] = process.argv.slice(2);
const schema = load(schemaFile);
if (mode === 'audit') {
  const problems = audit(schema);
  problems.forEach((p) => console.log(p));
  process.exit(problems.length ? 1 : 0);
} else if (mode === 'validate2020') {
  // The same schema, declared as 2020-12.
  const s = JSON.parse(JSON.stringify(schema));
  s.$schema = 'https://json-schema.org/draft/2020-12/schema';
  let validate;
  try {
    validate = new Ajv2020({ allowUnionTypes: true }).compile(s);
  } catch (e) {
    console.log(`compile error: ${e.message}`);
    process.exit(2);
  }
  console.log('compiled');
  for (const f of files) {
    let ok;
    try {
      ok = validate(yaml.safeLoad(fs.readFileSync(f, 'utf8')));
    } catch (e) {
      console.log(`error ${f} ${e.message}`);
      continue;
    }
    console.log(`${ok ? 'valid' : 'invalid'} ${f}`);
  }
} else {
  console.error(`usage: schema-check.js audit|validate2020 SCHEMA [FILE...]`);
  process.exit(2);
}
EOF

check_js() {
	NODE_PATH=$nm node "$tmp/schema-check.js" "$@"
}

# ------------------------------------------------------------------
# The schemas themselves.

kinds="runbook inventory routes"
for kind in $kinds; do
	s=schemas/$kind.schema.json
	if check_js audit "$s" >"$tmp/out" 2>&1; then
		ok "$s uses only draft-07/2020-12 keywords, \$ref alone, described properties"
	else
		not_ok "$s uses only draft-07/2020-12 keywords, \$ref alone, described properties"
		comment "$tmp/out"
	fi
	if "$ajv" compile --spec=draft7 --allow-union-types -s "$s" >"$tmp/out" 2>&1; then
		ok "$s compiles with ajv-cli (draft-07, strict)"
	else
		not_ok "$s compiles with ajv-cli (draft-07, strict)"
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

# Verdicts of both schema halves, one ajv-cli and one node run per kind:
# "valid FILE" / "invalid FILE" lines in $tmp/d7 and $tmp/d2020.
: >"$tmp/d7"
: >"$tmp/d2020"
for kind in $kinds; do
	s=schemas/$kind.schema.json
	set --
	while read -r expect k f c; do
		[ "$k" = "$kind" ] && set -- "$@" -d "$f"
	done <"$tmp/cases"
	[ $# -gt 0 ] || continue
	"$ajv" validate --spec=draft7 --allow-union-types --errors=text \
	    -s "$s" "$@" >"$tmp/out" 2>&1
	sed -n -e 's/^\(.*\) valid$/valid \1/p' \
	    -e 's/^\(.*\) invalid$/invalid \1/p' "$tmp/out" >>"$tmp/d7"
	set --
	while read -r expect k f c; do
		[ "$k" = "$kind" ] && set -- "$@" "$f"
	done <"$tmp/cases"
	if check_js validate2020 "$s" "$@" >"$tmp/out" 2>&1; then
		ok "$s compiles with Ajv2020 (2020-12)"
		grep -E '^(valid|invalid) ' "$tmp/out" >>"$tmp/d2020"
	else
		not_ok "$s compiles with Ajv2020 (2020-12)"
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
		"$ajv" validate --spec=draft7 --allow-union-types --errors=text \
		    -s "$s" -d "$f" </dev/null >"$tmp/out" 2>&1
		comment "$tmp/out"
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
