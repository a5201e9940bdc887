#!/bin/sh
# Docs are tested: the man page is lint-clean, its SYNOPSIS is the
# usage of every command (as `-h` prints it and as src/cli/cli.c declares
# it), its EXIT STATUS and ENVIRONMENT cover the code, and README.md starts
# with the two commands and walks the source tree that exists.
. "$(dirname "$0")/lib.sh"

MAN=$SRC_DIR/src/runbook.1
README=$SRC_DIR/README.md

# The man page as plain text, one line per SYNOPSIS entry (no wrapping).
man_text() {
	mandoc -Tascii -O width=1000 "$MAN" | sed 's/.\x08//g'
}

# The SYNOPSIS lines without their indentation.
synopsis() {
	man_text | sed -n '/^SYNOPSIS/,/^[A-Z]/p' | sed -n 's/^ *\(runbook .*\)/\1/p'
}

# "NAME<TAB>USAGE" for every entry of cli_cmds[] in src/cli/cli.c.
cli_table() {
	python3 - "$SRC_DIR/src/cli/cli.c" <<-'PY'
	import re, sys
	src = open(sys.argv[1]).read()
	table = src[src.index("cli_cmds[] = {"):]
	table = table[:table.index("{ NULL, NULL, NULL, NULL }")]
	for entry in re.findall(r'\{\s*("[^{}]*?)\}\s*,', table, re.S):
	    strs = re.findall(r'"((?:[^"\\]|\\.)*)"', entry)
	    # name, then the summary, then the usage as adjacent literals
	    parts = re.split(r'"\s*,', entry)
	    name = strs[0]
	    usage = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', parts[-1]))
	    print(name + "\t" + usage)
	PY
}

if command -v mandoc >/dev/null 2>&1; then
	have_mandoc=1
else
	have_mandoc=""
fi

if [ -n "$have_mandoc" ]; then
	test_expect_success 'runbook.1 is clean under mandoc -Tlint -W warning' '
		mandoc -Tlint -W warning "$MAN" >lint 2>&1
		code=$?
		cat lint
		test $code -eq 0 && ! test -s lint
	'

	test_expect_success 'every command that answers -h has its usage as a SYNOPSIS line' '
		synopsis >synopsis &&
		test -s synopsis &&
		n=0 &&
		for c in $("$RUNBOOK" --help | sed -n "s/^  \([a-z]*\) .*/\1/p"); do
			"$RUNBOOK" $c -h >out 2>&1 || continue
			sed -n "s/^usage: //p" out >want
			test -s want || { echo "$c -h printed no usage"; exit 1; }
			grep -qxF -f want synopsis || {
				echo "not in the SYNOPSIS of runbook.1:"; cat want
				echo "SYNOPSIS:"; cat synopsis; exit 1; }
			n=$((n + 1))
		done &&
		test "$n" -ge 5
	'

	test_expect_success 'the SYNOPSIS lists every entry of cli_cmds[], in order' '
		cli_table >table &&
		test -s table &&
		sed "s/^[^	]*	/runbook /" table >want &&
		synopsis >got &&
		test_cmp want got
	'

	test_expect_success 'every command has its own item in DESCRIPTION' '
		cli_table | cut -f1 >names &&
		man_text | sed -n "/^DESCRIPTION/,/^RUNBOOK FORMAT/p" >desc &&
		while read -r c; do
			grep -q "^     runbook $c" desc || { echo "no item for $c"; exit 1; }
		done <names
	'

	test_expect_success 'EXIT STATUS has a paragraph for every exit code' '
		sed -n "s/^[	 ]*RB_EXIT_[A-Z_]* = \([0-9]*\),*.*/\1/p" \
		    "$SRC_DIR/include/runbook/common.h" >codes &&
		test "$(wc -l <codes)" -ge 7 &&
		man_text | sed -n "/^EXIT STATUS/,/^EXAMPLES/p" >exit &&
		while read -r n; do
			grep -q "^     $n  *[A-Z]" exit || { echo "no paragraph for $n"; exit 1; }
		done <codes
	'

	test_expect_success 'ENVIRONMENT covers every variable the program reads' '
		grep -rhoE "getenv\(\"(RUNBOOK|XDG|NO_COLOR)[A-Z_]*\"\)" "$SRC_DIR/src" |
		    sed "s/getenv(\"\(.*\)\")/\1/" | sort -u >vars &&
		test -s vars &&
		man_text | sed -n "/^ENVIRONMENT/,/^FILES/p" >env &&
		for v in $(cat vars) RUNBOOK_PARAM_ RUNBOOK_SECRET_ RUNBOOK_ALERT_LABEL_ \
		    RUNBOOK_RUN_ID RUNBOOK_STEP_ID RUNBOOK_ATTEMPT; do
			grep -q "$v" env || { echo "$v is not in ENVIRONMENT"; exit 1; }
		done
	'
else
	test_skip 'runbook.1 checks' 'mandoc is not installed (package mandoc)'
fi

test_expect_success 'README.md begins with make demo and make test' '
	grep -v "^#" "$README" | grep -v "^ *$" | grep -v "^\`\`\`" | head -n 2 >first &&
	sed -n 1p first | grep -q "^ *make demo\b" &&
	sed -n 2p first | grep -q "^ *make test\b"
'

test_expect_success 'README.md walks every source directory, and only those' '
	sed -n "/^## Source code layout/,/^## /p" "$README" >layout &&
	test -s layout &&
	for d in "$SRC_DIR"/src/*/ "$SRC_DIR"/include/runbook/ "$SRC_DIR"/tests/*/; do
		d=${d#"$SRC_DIR"/}
		grep -q "$d" layout || { echo "README does not mention $d"; exit 1; }
	done &&
	for d in $(grep -oE "\b(src|tests|include)/[a-z_/]+/" layout | sort -u); do
		test -d "$SRC_DIR/$d" || { echo "README names $d, which does not exist"; exit 1; }
	done
'

test_expect_success 'the runbooks, playbooks and routes in README.md validate' '
	mkdir -p readme &&
	python3 - "$README" readme <<-\PY &&
	import re, sys
	text = open(sys.argv[1]).read()
	n = 0
	for block in re.findall(r"^```yaml\n(.*?)^```", text, re.S | re.M):
	    if re.search(r"^(runbook|playbook|routes):", block, re.M):
	        n += 1
	        open("%s/block%d.yaml" % (sys.argv[2], n), "w").write(block)
	assert n >= 3, n
	PY
	RUNBOOK_WEBHOOK_TOKEN=t RUNBOOK_PATH="$SRC_DIR/runbooks" \
	    "$RUNBOOK" validate readme >out 2>&1 ||
		{ cat out; exit 1; }
	cat out &&
	grep "0 errors, 0 warnings" out
'

test_expect_success 'the README documents every exit code' '
	for n in 0 1 2 3 4 5 130; do
		grep -qE "^\| *\`?$n\`? *\|" "$README" || { echo "exit $n missing"; exit 1; }
	done
'

test_done
