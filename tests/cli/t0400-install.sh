#!/bin/sh
# `make install PREFIX=...` after a plain `make` installs a binary that
# finds the runbooks it installed: the build depends on the install paths
# (build/paths.h). Builds in a scratch BUILD directory (unoptimised, to be
# quick), so the binary the other tests use is never touched.
. "$(dirname "$0")/lib.sh"

# A make of our own, whatever make runs the tests (V=1, -j, jobserver).
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
MK="make --no-print-directory -C $SRC_DIR BUILD=$TEST_TMP/build OPT=-O0 -j2"

if ! command -v make >/dev/null 2>&1; then
	test_skip 'make install' 'make is not installed (package build-essential)'
	test_done
fi

test_expect_success 'a plain make, then make install PREFIX=... rebuilds with that prefix' '
	$MK "$TEST_TMP/build/runbook" >build.log 2>&1 || { cat build.log; exit 1; } &&
	grep -q "/usr/local/share/runbook" "$TEST_TMP/build/paths.h" &&
	$MK install PREFIX="$TEST_TMP/x" >install.log 2>&1 ||
		{ cat install.log; exit 1; }
	cat install.log &&
	grep -q "CC      src/model/model.c" install.log &&
	grep -q "LD      .*build/runbook" install.log &&
	test -x "$TEST_TMP/x/bin/runbook" &&
	test -f "$TEST_TMP/x/share/man/man1/runbook.1" &&
	test -f "$TEST_TMP/x/share/runbook/schemas/runbook.schema.json"
'

test_expect_success 'the installed runbook lists the shipped runbooks from anywhere' '
	mkdir elsewhere && cd elsewhere &&
	"$TEST_TMP/x/bin/runbook" list >out 2>&1 || { cat out; exit 1; }
	cat out &&
	for n in $(cd "$SRC_DIR" && ls runbooks/*.yaml playbooks/*.yaml); do
		n=${n##*/}
		grep -q "^${n%.yaml} " out || { echo "${n%.yaml} not listed"; exit 1; }
	done &&
	"$TEST_TMP/x/bin/runbook" plan maintenance-window >plan 2>&1 &&
	grep -q "^plan digest: " plan
'

test_expect_success 'nothing is rebuilt when the paths did not change' '
	$MK install PREFIX="$TEST_TMP/x" >again.log 2>&1 || { cat again.log; exit 1; }
	! grep -q "CC  " again.log
'

test_expect_success 'DESTDIR stages the files; the binary searches PREFIX' '
	$MK install PREFIX=/opt/rb DESTDIR="$TEST_TMP/stage" >stage.log 2>&1 ||
		{ cat stage.log; exit 1; }
	test -x "$TEST_TMP/stage/opt/rb/bin/runbook" &&
	test -f "$TEST_TMP/stage/opt/rb/share/runbook/runbooks/db-connection.yaml" &&
	cd elsewhere &&
	test_must_fail --exit 2 "$TEST_TMP/stage/opt/rb/bin/runbook" plan nosuch 2>err &&
	cat err &&
	grep -q "/opt/rb/share/runbook/runbooks" err &&
	! grep -q "$TEST_TMP/stage" err
'

test_expect_success 'make uninstall removes what install put there' '
	$MK uninstall PREFIX="$TEST_TMP/x" >un.log 2>&1 || { cat un.log; exit 1; }
	! test -e "$TEST_TMP/x/bin/runbook" &&
	! test -e "$TEST_TMP/x/share/runbook"
'

test_done
