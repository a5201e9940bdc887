#!/bin/sh
# runbook serve: accepted means durable. SIGKILL right after a 202 loses
# nothing and the entry is claimed once after a restart; a database that
# cannot commit gets 503 (the sender retries); orphaned claims are put back
# at start-up; run children are started, reaped and marked; socket
# activation; graceful shutdown.
. "$(dirname "$0")/lib.sh"

if ! "$RUNBOOK" serve -h >/dev/null 2>&1; then
	test_skip 'runbook serve' 'serve is not in the command table'
	test_done
fi

PORT=$(test_free_port)
URL=http://127.0.0.1:$PORT
DB=$RUNBOOK_STATE_DIR/state.db
export WH_TOKEN=durable-token
BEARER="Authorization: Bearer $WH_TOKEN"

# Whether `runbook run --queue-id ID` exists yet (the run children).
if "$RUNBOOK" run --queue-id 0 --state "$TEST_TMP/probe" 2>&1 |
    grep -q "unrecognized option"; then
	QUEUE_RUNS=
else
	QUEUE_RUNS=yes
fi
rm -rf "$TEST_TMP/probe"

# serve_start ROUTES LOG: start in the background, wait for /healthz.
serve_start() {
	"$RUNBOOK" serve --routes "$1" --listen "127.0.0.1:$PORT" 2>>"$2" &
	SERVE_PID=$!
	test_kill_at_end $SERVE_PID
	wait_healthy $SERVE_PID
}

wait_healthy() {
	n=0
	while [ $n -lt 100 ]; do
		if [ "$(curl -s -o /dev/null -w '%{http_code}' \
		    "$URL/healthz")" = 200 ]; then
			return 0
		fi
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.1
		n=$((n + 1))
	done
	return 1
}

post() {
	p=$1
	f=$2
	shift 2
	curl -s -o resp -w '%{http_code}' -H "$BEARER" --data-binary @"$f" \
		"$@" "$URL$p"
}

sql() {
	sqlite3 -cmd '.timeout 5000' "$DB" "$@"
}

# wait_sql QUERY VALUE: poll until QUERY returns VALUE (at most 20 s).
wait_sql() {
	n=0
	while [ "$(sql "$1")" != "$2" ]; do
		[ $n -ge 200 ] && { echo "'$1' is $(sql "$1"), not $2"; return 1; }
		sleep 0.1
		n=$((n + 1))
	done
}

# alert FILE INSTANCE: an Alertmanager notification for one alert.
alert() {
	cat >"$1" <<EOF
{"version":"4","status":"firing","receiver":"rb","groupKey":"{}:{}","alerts":[{"status":"firing","labels":{"alertname":"PostgresDown","instance":"$2:9187"},"annotations":{},"startsAt":"2024-05-01T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"$(printf '%s' "$2" | sha256sum | cut -c1-16)"}]}
EOF
}

mkdir runbooks
cat >runbooks/db-connection.yaml <<EOF
runbook: db-connection
params:
  db_host: {pattern: '^[A-Za-z0-9._-]+\$'}
steps:
  - id: record
    run: printf '%s\\n' {{ params.db_host }} >>"$TEST_TMP/ran.log"
  - id: linger
    run: test ! -e "$TEST_TMP/hold" || sleep 3
EOF
cat >routes.yaml <<'EOF'
auth: {bearer_token_env: WH_TOKEN}
max_runs: 2
routes:
  - name: pg-down
    match: {alertname: PostgresDown}
    runbook: db-connection
    params: {db_host: "{{ alert.labels.instance | host }}"}
    dedup: 1h
EOF

# --- SIGKILL after 202 ------------------------------------------------------

serve_start routes.yaml a.log
alert k1.json kill1
code=$(post /alertmanager k1.json)
kill -9 $SERVE_PID
wait $SERVE_PID 2>/dev/null

test_expect_success 'SIGKILL right after a 202: the entry is on disk' '
	test "$code" = 202 &&
	test "$(sql "select count(*) from queue")" = 1 &&
	sql "select status from queue" | grep -e queued -e started
'

serve_start routes.yaml b.log
B_PID=$SERVE_PID

# Either the first listener had claimed it and its run child attached a run
# id (that child finishes the run on its own), or the entry is claimed by
# the second listener, once.
test_expect_success 'after a restart it is claimed exactly once' '
	wait_sql "select count(*) from queue where status = \"queued\" or (run_id is null and claimed_pid != $B_PID)" 0 &&
	test "$(sql "select count(*) from queue")" = 1 &&
	claims=$(grep -c "\"msg\":\"claimed queue entry\",\"queue_id\":1," b.log || :) &&
	if test "$(sql "select claimed_pid from queue")" = $B_PID; then
		test $claims = 1
	else
		test $claims = 0 &&
		test "$(sql "select run_id is not null from queue")" = 1
	fi &&
	if test -n "$QUEUE_RUNS"; then
		n=0 && while ! grep -q "^kill1$" ran.log 2>/dev/null &&
		    [ $n -lt 200 ]; do sleep 0.1; n=$((n + 1)); done &&
		sleep 1 &&
		test "$(grep -c "^kill1$" ran.log)" = 1
	fi
'

test_expect_success 'the same alert again is deduplicated, not re-run' '
	test "$(post /alertmanager k1.json)" = 202 &&
	grep "\"deduplicated\":1" resp &&
	test "$(sql "select count(*) from queue")" = 1
'

# --- the database cannot commit -> 503 ---------------------------------

cat >hold.py <<'EOF'
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
con.execute("BEGIN EXCLUSIVE")
open("held", "w").close()
time.sleep(float(sys.argv[2]))
con.execute("ROLLBACK")
EOF

test_expect_success 'state.db locked past the busy timeout: 503, nothing queued' '
	alert lock.json locked &&
	rm -f held &&
	python3 hold.py "$DB" 8 &
	holder=$! &&
	n=0 && while [ ! -e held ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done &&
	test -e held &&
	test "$(post /alertmanager lock.json)" = 503 &&
	grep "retry later" resp &&
	wait $holder &&
	test "$(sql "select count(*) from queue where params like \"%locked%\"")" = 0 &&
	grep "\"msg\":\"cannot record webhook requests\"" b.log &&
	curl -s "$URL/metrics" | grep "^runbook_webhook_commit_failures_total 1$"
'

test_expect_success 'the sender retries once the database is free: 202' '
	test "$(post /alertmanager lock.json)" = 202 &&
	grep "\"queued\":1" resp &&
	test "$(sql "select count(*) from queue where params like \"%locked%\"")" = 1
'

test_expect_success 'run children are reaped and their entries marked' '
	wait_sql "select count(*) from queue where status = \"queued\" or (status = \"started\" and claimed_pid = $B_PID)" 0 &&
	test "$(curl -s "$URL/healthz")" = ok &&
	curl -s "$URL/metrics" >m &&
	grep "^runbook_runs_total{result=\"started\"} [1-9]" m &&
	if test -z "$QUEUE_RUNS"; then
		grep "^runbook_runs_total{result=\"failed\"} [1-9]" m &&
		test "$(sql "select count(*) from queue where status = \"failed\"")" = \
			"$(sql "select count(*) from queue")"
	fi
'

kill $SERVE_PID
wait $SERVE_PID
b_exit=$?

test_expect_success 'SIGTERM with nothing running: exit 0' '
	test $b_exit -eq 0
'

# --- orphaned claims at start-up ------------------------------------------

# An entry claimed by a listener that died before starting a run, and one
# still queued: both are started by the next listener.
sql "insert into queue (created_ms, route, runbook, params, alert, dedup_key,
	status, source, claimed_pid, started_ms)
	values (1, 'pg-down', '$TEST_TMP/runbooks/db-connection.yaml',
	'{\"db_host\":\"orphan\"}', NULL, 'orphan-key', 'started', 'test',
	2147483646, 2);
	insert into queue (created_ms, route, runbook, params, alert, dedup_key,
	status, source) values (3, 'pg-down',
	'$TEST_TMP/runbooks/db-connection.yaml', '{\"db_host\":\"waiting\"}',
	NULL, 'waiting-key', 'queued', 'test');"
serve_start routes.yaml c.log

test_expect_success 'start-up puts back orphaned claims and starts queued runs' '
	grep "\"msg\":\"requeued runs claimed by a listener that died\",\"entries\":1" c.log &&
	wait_sql "select count(*) from queue where dedup_key in (\"orphan-key\", \"waiting-key\") and claimed_pid = $SERVE_PID" 2 &&
	wait_sql "select count(*) from queue where dedup_key in (\"orphan-key\", \"waiting-key\") and status in (\"done\", \"failed\")" 2 &&
	test "$(grep -c "\"msg\":\"run started\"" c.log)" = 2
'

# --- runs that share a lock -------------------------------------------------

if test -n "$QUEUE_RUNS"; then
	# Two alerts for the same runbook (whose lock key is its name), room for
	# two runs: the second waits for the first instead of being refused.
	: >hold
	alert w1.json waitlock && sed 's/10:00:00Z/10:05:00Z/' w1.json >w2.json
	test_expect_success 'a run whose lock is held waits, it is not refused' '
		test "$(post /alertmanager w1.json)" = 202 &&
		test "$(post /alertmanager w2.json)" = 202 &&
		wait_sql "select count(*) from queue where params like \"%waitlock%\" and status = \"done\"" 2 &&
		grep "\"msg\":\"run waits for a running run with the same lock\"" c.log &&
		! grep "\"exit\":5," c.log
	'
	rm -f hold
else
	test_skip 'a run whose lock is held waits' \
		'runbook run --queue-id is not there yet'
fi

# --- graceful shutdown with runs in flight ----------------------------------

if test -n "$QUEUE_RUNS"; then
	# One run at a time; the first one lingers in its second step.
	sed 's/^max_runs: 2/max_runs: 1/' routes.yaml >routes1.yaml
	kill $SERVE_PID
	wait $SERVE_PID
	serve_start routes1.yaml c.log
	: >hold
	alert slow1.json slow && sed 's/10:00:00Z/10:01:00Z/' slow1.json >slow2.json
	sed 's/10:00:00Z/10:02:00Z/' slow1.json >slow3.json
	sed 's/10:00:00Z/10:03:00Z/' slow1.json >slow4.json
	for f in slow1 slow2 slow3 slow4; do post /alertmanager $f.json >/dev/null; done
	sleep 1
	kill $SERVE_PID
	wait $SERVE_PID
	c_exit=$?
	test_expect_success 'SIGTERM: running runs are interrupted, queued ones stay queued' '
		test $c_exit -eq 0 &&
		test "$(sql "select count(*) from queue where params = \"{\"\"db_host\"\":\"\"slow\"\"}\" and status = \"queued\"")" = 3 &&
		test "$(sql "select count(*) from queue where params = \"{\"\"db_host\"\":\"\"slow\"\"}\" and status = \"failed\"")" = 1 &&
		grep "\"msg\":\"run finished\".*\"exit\":130" c.log &&
		grep "was interrupted" c.log
	'
	rm -f hold
	serve_start routes1.yaml d.log
	test_expect_success 'the next listener starts what stayed queued' '
		wait_sql "select count(*) from queue where params = \"{\"\"db_host\"\":\"\"slow\"\"}\" and status = \"done\"" 3
	'
	kill $SERVE_PID
	wait $SERVE_PID
else
	test_skip 'SIGTERM: running runs are interrupted, queued ones stay queued' \
		'runbook run --queue-id is not there yet'
	kill $SERVE_PID
	wait $SERVE_PID
fi

# --- socket activation ------------------------------------------------------

if command -v systemd-socket-activate >/dev/null; then
	# It passes only the variables named with -E; it execs the command
	# when the first connection arrives, with LISTEN_FDS=1 and fd 3.
	systemd-socket-activate -l "127.0.0.1:$PORT" -E WH_TOKEN \
		-E RUNBOOK_STATE_DIR -E PATH "$RUNBOOK" serve --routes routes.yaml \
		2>>e.log &
	SA_PID=$!
	test_kill_at_end $SA_PID
	wait_healthy $SA_PID
	test_expect_success 'socket activation: serves on the socket systemd passed' '
		alert sa.json activated &&
		test "$(post /alertmanager sa.json)" = 202 &&
		grep "\"msg\":\"listening\",\"address\":\"127.0.0.1:$PORT\"" e.log &&
		wait_sql "select count(*) from queue where params like \"%activated%\" and status in (\"done\", \"failed\")" 1
	'
	kill $SA_PID
	wait $SA_PID
	sa_exit=$?
	test_expect_success 'socket activation: SIGTERM stops it cleanly' '
		test $sa_exit -eq 0
	'
else
	test_skip 'socket activation' 'systemd-socket-activate is not installed'
fi

test_expect_success 'no sanitizer reports' '
	! grep -e "ERROR: AddressSanitizer" -e "ERROR: LeakSanitizer" \
		-e "runtime error:" a.log b.log c.log ${QUEUE_RUNS:+d.log} \
		$(test -e e.log && echo e.log)
'

test_done
