#!/bin/sh
# Steps on inventory hosts over SSH (libssh2) against a real sshd on
# 127.0.0.1: fan-out, batches and max_fail, host-key trust, hostile values,
# timeouts, rollbacks on the hosts that succeeded, and resume per host.
. "$(dirname "$0")/lib.sh"

if ! SSHD_LOGLEVEL=INFO sh "$SRC_DIR/tests/fixtures/sshd/start-sshd.sh" "$TEST_TMP/sshd" >port 2>sshd.err; then
	test_skip "ssh tests" "cannot start sshd: $(cat sshd.err)"
	test_expect_success 'validate checks every on: against the inventory' '
	cat >runbooks/typo.yaml <<-YAML &&
	runbook: typo
	steps:
	  - id: a
	    on: webb
	    run: "true"
	YAML
	test_must_fail --exit 2 "$RUNBOOK" validate runbooks/typo.yaml 2>err &&
	grep "targets .webb., which is not a host or group" err &&
	grep "did you mean" err
'

test_done
fi
test_kill_at_end "$(cat "$TEST_TMP/sshd/sshd.pid")"
PORT=$(cat port)
KEYS=$TEST_TMP/sshd
DEAD=$(test_free_port)
unset SSH_AUTH_SOCK

inventory() {
	cat >inventory.yaml <<-YAML
	defaults: {user: $(id -un), port: $PORT, identity: $KEYS/id_ed25519, known_hosts: $1}
	hosts:
	  web1: {address: 127.0.0.1}
	  web2: {address: 127.0.0.1}
	  web3: {address: 127.0.0.1}
	  web4: {address: 127.0.0.1}
	  dead: {address: 127.0.0.1, port: $DEAD}
	groups:
	  web: [web1, web2, web3, web4]
	  withdead: [web1, dead, web2]
	YAML
}
inventory "$KEYS/known_hosts"
mkdir runbooks

test_expect_success 'a step on a group runs once per host, over SSH' '
	cat >runbooks/fan.yaml <<-YAML &&
	runbook: fan
	steps:
	  - id: hello
	    on: web
	    run: echo "hi from \$RUNBOOK_HOST {{ host.name }}" >>$TEST_TMP/fan.log
	YAML
	rm -f fan.log &&
	"$RUNBOOK" run fan --output json >ev 2>err &&
	test "$(wc -l <fan.log)" -eq 4 &&
	grep "hi from web3 web3" fan.log &&
	test "$(grep -c "\"event\":\"step_finished\".*\"host\":\"web[0-9]" ev)" -eq 4 &&
	"$RUNBOOK" run fan 2>err &&
	grep "^HOST  *hello" err && grep "^web3  *ok" err
'

test_expect_success 'fan-out output: each host once, its own output, no group in the grid' '
	cat >runbooks/fanfail.yaml <<-YAML &&
	runbook: fanfail
	steps:
	  - id: hello
	    on: web
	    run: |
	      echo "out of \$RUNBOOK_HOST"
	      if [ "\$RUNBOOK_HOST" = web2 ]; then echo "web2 breaks" >&2; exit 3; fi
	    rollback: echo "undo on \$RUNBOOK_HOST"
	  - id: one
	    on: web1
	    run: echo "only web1"
	    needs: []
	on_failure:
	  - id: tell
	    run: echo told
	YAML
	test_must_fail --exit 1 "$RUNBOOK" run fanfail 2>err &&
	cat err &&
	test "$(grep -c "^ok      one on web1 " err)" -eq 1 &&
	grep "^failed  hello on web .*: 1 of 4 hosts failed" err &&
	sed -n "/^failed  hello on web /,/^[a-z]/p" err >after &&
	! grep "out of" after &&
	sed -n "/^failed  hello on web2 /,/^[a-z]/p" err >web2 &&
	grep "| out of web2" web2 && ! grep "out of web[134]" web2 &&
	grep "^HOST  *hello  *one" err &&
	! grep "^web  " err &&
	grep "^web2  *FAIL" err &&
	grep "failed: 1 succeeded, 1 failed, 0 skipped$" err
'

test_expect_success '-v streams each host'"'"'s output as it comes, naming the host' '
	test_must_fail --exit 1 "$RUNBOOK" run fanfail -v 2>err &&
	grep "^    web3 | out of web3$" err &&
	grep "^    web2 ! web2 breaks$" err &&
	grep "^    web1 | undo on web1$" err &&
	"$RUNBOOK" run fanfail -v --output json >ev 2>/dev/null;
	grep "\"event\":\"step_output\".*\"host\":\"web4\".*\"line\":\"out of web4\"" ev &&
	grep "\"event\":\"step_finished\".*\"host\":\"web\".*\"hosts\":4" ev
'

test_expect_success 'a hostile param arrives byte-identical on the host and runs nothing' '
	cat >runbooks/inj.yaml <<-YAML &&
	runbook: inj
	params:
	  v: {}
	steps:
	  - id: echo
	    on: web1
	    run: printf %s {{ params.v }} >$TEST_TMP/got; printf %s "\$RUNBOOK_PARAM_V" >$TEST_TMP/env
	YAML
	v="x'"'"'; touch $TEST_TMP/pwned; echo '"'"'\$(touch $TEST_TMP/pwned2)\`id\` {{ env.HOME }}" &&
	"$RUNBOOK" run inj -p "v=$v" 2>err &&
	test "$(cat got)" = "$v" && test "$(cat env)" = "$v" &&
	! test -e pwned && ! test -e pwned2
'

test_expect_success 'batches roll: batch 2 runs two hosts at a time' '
	cat >runbooks/roll.yaml <<-YAML &&
	runbook: roll
	steps:
	  - id: restart
	    on: web
	    batch: 2
	    run: echo "start \$RUNBOOK_HOST \$(date +%s%N)" >>$TEST_TMP/roll.log; sleep 0.4; echo "end \$RUNBOOK_HOST \$(date +%s%N)" >>$TEST_TMP/roll.log
	YAML
	rm -f roll.log &&
	"$RUNBOOK" run roll 2>err &&
	python3 - roll.log <<-PY
	import sys
	ev = [l.split() for l in open(sys.argv[1])]
	starts = {h: int(t) for k, h, t in ev if k == "start"}
	ends = {h: int(t) for k, h, t in ev if k == "end"}
	b1 = sorted(["web1", "web2"]); b2 = sorted(["web3", "web4"])
	assert max(ends[h] for h in b1) <= min(starts[h] for h in b2), ev
	PY
'

test_expect_success 'an unreachable host beyond max_fail stops the rollout' '
	cat >runbooks/mf.yaml <<-YAML &&
	runbook: mf
	steps:
	  - id: touchit
	    on: withdead
	    batch: 1
	    run: echo "\$RUNBOOK_HOST" >>$TEST_TMP/mf.log
	    rollback: echo "undo \$RUNBOOK_HOST" >>$TEST_TMP/mf.log
	YAML
	rm -f mf.log &&
	test_must_fail --exit 1 "$RUNBOOK" run mf 2>err &&
	grep "rollout stopped" err &&
	printf "web1\nundo web1\n" >expect && test_cmp expect mf.log
'

test_expect_success 'max_fail tolerates an unreachable host' '
	sed -i "s/    batch: 1/    batch: 1\n    max_fail: 1/" runbooks/mf.yaml &&
	rm -f mf.log &&
	"$RUNBOOK" run mf 2>err &&
	printf "web1\nweb2\n" >expect && test_cmp expect mf.log &&
	grep "dead" err
'

test_expect_success 'a changed host key refuses the host; nothing runs there' '
	inventory "$KEYS/known_hosts.wrong" &&
	rm -f fan.log &&
	test_must_fail --exit 1 "$RUNBOOK" run fan --accept-new-host-keys 2>err &&
	! test -e fan.log &&
	grep -i "changed" err &&
	"$RUNBOOK" audit export | grep "hostkey.rejected"
'

test_expect_success 'an unknown host key is refused, and accepted only with --accept-new-host-keys' '
	: >kh.new && inventory "$TEST_TMP/kh.new" &&
	rm -f fan.log &&
	test_must_fail --exit 1 "$RUNBOOK" run fan 2>err &&
	! test -e fan.log && grep "SHA256:" err &&
	"$RUNBOOK" run fan --accept-new-host-keys 2>err &&
	test "$(wc -l <fan.log)" -eq 4 &&
	grep "^\[127.0.0.1\]:$PORT " kh.new &&
	"$RUNBOOK" audit export | grep "hostkey.accepted"
'

test_expect_success 'a remote timeout kills the remote command' '
	inventory "$KEYS/known_hosts" &&
	cat >runbooks/rto.yaml <<-YAML &&
	runbook: rto
	steps:
	  - id: hang
	    on: web1
	    timeout: 1s
	    run: echo \$\$ >$TEST_TMP/remote.pid; sleep 60
	YAML
	test_must_fail --exit 1 "$RUNBOOK" run rto 2>err &&
	grep "timed out" err &&
	sleep 1 && test_proc_gone "$(cat remote.pid)"
'

test_expect_success 'resume after a host failure reruns only the hosts that failed' '
	cat >runbooks/rs.yaml <<-YAML &&
	runbook: rs
	steps:
	  - id: work
	    on: web
	    run: echo "\$RUNBOOK_HOST" >>$TEST_TMP/rs.log; test "\$RUNBOOK_HOST" != web3 || test -e $TEST_TMP/fixed
	YAML
	rm -f rs.log fixed &&
	test_must_fail --exit 1 "$RUNBOOK" run rs --output json >ev 2>err &&
	id=$(sed -n "s/.*\"run_id\":\"\([^\"]*\)\".*/\1/p" ev | head -n 1) &&
	touch fixed &&
	"$RUNBOOK" resume "$id" 2>err &&
	test "$(grep -c web3 rs.log)" -eq 2 &&
	test "$(grep -c web1 rs.log)" -eq 1
'

test_expect_success 'validate checks every on: against the inventory' '
	cat >runbooks/typo.yaml <<-YAML &&
	runbook: typo
	steps:
	  - id: a
	    on: webb
	    run: "true"
	YAML
	test_must_fail --exit 2 "$RUNBOOK" validate runbooks/typo.yaml 2>err &&
	grep "targets .webb., which is not a host or group" err &&
	grep "did you mean" err
'

test_done
