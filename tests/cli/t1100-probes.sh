#!/bin/sh
# http, tcp, notify and sleep steps against a real local HTTP server.
. "$(dirname "$0")/lib.sh"

python3 "$SRC_DIR/tests/fixtures/http/server.py" --record "$TEST_TMP/notified" >port 2>server.log &
test_kill_at_end $!
i=0; while ! test -s port && test $i -lt 400; do sleep 0.05; i=$((i+1)); done
PORT=$(cat port)
mkdir runbooks

test_expect_success 'the test HTTP server is up' '
	test -n "$PORT" && curl -fsS "http://127.0.0.1:$PORT/health"
'

test_expect_success 'http probe: status, body match and capture' '
	cat >runbooks/h.yaml <<-YAML &&
	runbook: h
	params:
	  port: {}
	steps:
	  - id: health
	    http: {url: "http://127.0.0.1:{{ params.port }}/health", body_match: "/^ok/"}
	    capture: {word: "/(?<word>[a-z]+)/"}
	  - id: teapot
	    http: {url: "http://127.0.0.1:{{ params.port }}/status/418", status: [418]}
	  - id: show
	    run: echo {{ steps.health.vars.word }} {{ steps.teapot.exit_code }} >got
	YAML
	"$RUNBOOK" run h -p port=$PORT 2>err &&
	test "$(cat got)" = "ok 418"
'

test_expect_success 'http probe fails on an unexpected status and names it' '
	cat >runbooks/h2.yaml <<-YAML &&
	runbook: h2
	params:
	  port: {}
	steps:
	  - id: down
	    http: {url: "http://127.0.0.1:{{ params.port }}/status/503"}
	YAML
	test_must_fail --exit 1 "$RUNBOOK" run h2 -p port=$PORT 2>err &&
	grep "HTTP status 503 (expected 2xx)" err
'

test_expect_success 'a slow probe does not block other steps' '
	cat >runbooks/slow.yaml <<-YAML &&
	runbook: slow
	params:
	  port: {}
	steps:
	  - id: slow
	    needs: []
	    http: {url: "http://127.0.0.1:{{ params.port }}/slow/1500", timeout: 5s}
	  - id: fast
	    needs: []
	    run: date +%s%N >fast.done
	YAML
	"$RUNBOOK" run slow -p port=$PORT --jobs 2 --output json >ev 2>err &&
	# fast finished while the probe was still waiting for its answer
	grep "\"event\":\"step_finished\"" ev | sed -n "s/.*\"step\":\"\([a-z]*\)\".*/\1/p" >order &&
	printf "fast\nslow\n" >expect &&
	test_cmp expect order
'

test_expect_success 'http probe timeout is reported as timed out' '
	cat >runbooks/to.yaml <<-YAML &&
	runbook: to
	params:
	  port: {}
	steps:
	  - id: slow
	    http: {url: "http://127.0.0.1:{{ params.port }}/slow/5000", timeout: 300ms}
	YAML
	test_must_fail --exit 1 "$RUNBOOK" run to -p port=$PORT 2>err &&
	grep "timed_out" err
'

test_expect_success 'tcp probe: open and closed ports' '
	closed=$(test_free_port) &&
	cat >runbooks/t.yaml <<-YAML &&
	runbook: t
	params:
	  port: {}
	  closed: {}
	steps:
	  - id: open
	    tcp: "127.0.0.1:{{ params.port }}"
	  - id: shut
	    tcp: "127.0.0.1:{{ params.closed }}"
	    continue_on_error: true
	  - id: after
	    when: steps.open.ok && steps.shut.failed
	    run: touch tcp.ok
	YAML
	"$RUNBOOK" run t -p port=$PORT -p closed=$closed 2>err &&
	test -e tcp.ok
'

test_expect_success 'notify posts a Slack-compatible body' '
	cat >runbooks/n.yaml <<-YAML &&
	runbook: n
	params:
	  port: {}
	steps:
	  - id: tell
	    notify: {url: "http://127.0.0.1:{{ params.port }}/record", text: "db {{ params.port }} is \"down\""}
	YAML
	rm -f notified &&
	"$RUNBOOK" run n -p port=$PORT 2>err &&
	python3 -c "
import json; d = json.loads(open(\"notified\").readline())
assert d == {\"text\": \"db $PORT is \\\"down\\\"\"}, d
"
'

test_expect_success 'on_failure notifies after rollbacks' '
	cat >runbooks/of.yaml <<-YAML &&
	runbook: of
	params:
	  port: {}
	steps:
	  - id: boom
	    run: "false"
	on_failure:
	  - id: page
	    notify: {url: "http://127.0.0.1:{{ params.port }}/record", text: "failed {{ run.runbook }}"}
	YAML
	rm -f notified &&
	test_must_fail --exit 1 "$RUNBOOK" run of -p port=$PORT 2>err &&
	grep "failed of" notified
'

test_expect_success 'sleep waits' '
	cat >runbooks/s.yaml <<-YAML &&
	runbook: s
	steps:
	  - id: nap
	    sleep: 300ms
	YAML
	start=$(date +%s%N) &&
	"$RUNBOOK" run s 2>err &&
	test $(( ($(date +%s%N) - start) / 1000000 )) -ge 300
'

test_done
