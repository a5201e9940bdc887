#!/bin/sh
# runbook serve: start-up checks, endpoints, HTTP hardening and every
# authentication scheme, against the real listener with curl and raw
# sockets.
. "$(dirname "$0")/lib.sh"

if ! "$RUNBOOK" serve -h >/dev/null 2>&1; then
	test_skip 'runbook serve' 'serve is not in the command table'
	test_done
fi

PORT=$(test_free_port)
URL=http://127.0.0.1:$PORT
DB=$RUNBOOK_STATE_DIR/state.db

# --- helpers ------------------------------------------------------------

# serve_start ROUTES [ARGS]: start the listener in the background (from
# the top level, so it can be waited for) and wait for /healthz.
serve_start() {
	r=$1
	shift
	"$RUNBOOK" serve --routes "$r" --listen "127.0.0.1:$PORT" "$@" \
		2>>serve.log &
	SERVE_PID=$!
	test_kill_at_end $SERVE_PID
	wait_healthy $SERVE_PID
}

# wait_healthy PID: until /healthz answers 200 (at most 10 s).
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

# post PATH FILE [CURL ARGS]: POST the file, print the status code; the
# response body is left in ./resp.
post() {
	p=$1
	f=$2
	shift 2
	curl -s -o resp -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary @"$f" "$@" "$URL$p"
}

sql() {
	sqlite3 -cmd '.timeout 5000' "$DB" "$@"
}

# hmac_hex KEY FILE [PREFIX]: hex HMAC-SHA256 of PREFIX followed by FILE.
hmac_hex() {
	{ printf '%s' "${3:-}"; cat "$2"; } |
		openssl dgst -sha256 -hmac "$1" -r | cut -d' ' -f1
}

# grafana_at OFFSET CODE FILE: POST FILE to /grafana signed with a
# timestamp OFFSET seconds from now and expect CODE. The server reads its
# clock a moment later, so an attempt counts only when no second boundary
# passed between taking the timestamp and the answer (else it is retried).
grafana_at() {
	n=0
	while [ $n -lt 20 ]; do
		t0=$(date +%s)
		ts=$((t0 + $1))
		sig=$(hmac_hex "$WH_GRAFANA" "$3" "$ts:")
		code=$(post /grafana "$3" -H "X-Grafana-Alerting-Signature: $sig" \
			-H "X-Grafana-Alerting-Timestamp: $ts")
		t1=$(date +%s)
		[ "$code" = "$2" ] && return 0
		if [ "$t1" = "$t0" ]; then
			echo "offset $1: got $code, expected $2"
			return 1
		fi
		n=$((n + 1))
	done
	echo "offset $1: the clock never held still"
	return 1
}

# raw REQUEST: send bytes (printf format) over a socket, print the status
# line and body.
raw() {
	python3 -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
data = b""
try:
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 2:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except OSError:
    pass
head, _, body = data.partition(b"\r\n\r\n")
print(head.split(b"\r\n")[0].decode())
print(body.decode(errors="replace"))' "$PORT" "$1"
}

# --- fixtures -----------------------------------------------------------

mkdir runbooks
cat >runbooks/db-connection.yaml <<EOF
runbook: db-connection
params:
  db_host: {pattern: '^[A-Za-z0-9._-]+\$'}
steps:
  - id: record
    run: printf '%s\\n' {{ params.db_host }} >>"$TEST_TMP/ran.log"
EOF

cat >routes.yaml <<'EOF'
auth:
  bearer_token_env: WH_TOKEN
  basic: {user_env: WH_USER, password_env: WH_PASS}
  hmac: {secret_env: WH_HMAC, header: X-Signature-256}
  grafana: {secret_env: WH_GRAFANA, timestamp_header: X-Grafana-Alerting-Timestamp}
max_body: 256KiB
routes:
  - name: pg-down
    match: {alertname: PostgresDown}
    runbook: db-connection
    params: {db_host: "{{ alert.labels.instance | host }}"}
    dedup: 10m
EOF

# An Alertmanager v4 notification (with the trailing newline Go writes).
cat >am.json <<'EOF'
{"receiver":"runbook","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"PostgresDown","instance":"db1.example.org:9187","severity":"critical"},"annotations":{"summary":"db1 is down"},"startsAt":"2024-05-01T10:00:00.123456789Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom:9090/graph","fingerprint":"5e1ab0c4d2f39a71"}],"groupLabels":{"alertname":"PostgresDown"},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am:9093","version":"4","groupKey":"{}:{alertname=\"PostgresDown\"}","truncatedAlerts":0}
EOF
# The same alert as Grafana unified alerting sends it.
cat >grafana.json <<'EOF'
{"receiver":"runbook","status":"firing","orgId":1,"alerts":[{"status":"firing","labels":{"alertname":"PostgresDown","instance":"db1.example.org:9187","grafana_folder":"db"},"annotations":{},"startsAt":"2024-05-01T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://grafana/alerting","fingerprint":"a1b2c3d4e5f60718","silenceURL":"http://grafana/silence","dashboardURL":"","panelURL":"","values":{"A":0}}],"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://grafana/","version":"1","groupKey":"{}:{}","truncatedAlerts":0,"title":"[FIRING:1]","state":"alerting","message":"m"}
EOF
cat >unmatched.json <<'EOF'
{"version":"4","status":"firing","alerts":[{"labels":{"alertname":"Other"},"startsAt":"2024-05-01T10:00:00Z"}]}
EOF

export WH_TOKEN=t0ken-Secret WH_USER=alertmanager WH_PASS='pa:ss w0rd' \
	WH_HMAC=hmac-Key WH_GRAFANA=graf-Key
BEARER="Authorization: Bearer $WH_TOKEN"

# --- start-up -----------------------------------------------------------

test_expect_success 'a secret variable that is not set: exit 2, named' '
	test_must_fail --exit 2 env -u WH_PASS timeout 10 "$RUNBOOK" serve \
		--routes routes.yaml --listen 127.0.0.1:$PORT 2>err &&
	grep "environment variable .WH_PASS." err &&
	grep "hint: export WH_PASS" err &&
	! grep "pa:ss" err
'

test_expect_success 'validate warns about every secret variable serve would miss' '
	env -u WH_PASS -u WH_GRAFANA "$RUNBOOK" validate routes.yaml >out 2>err &&
	cat err &&
	grep "0 errors, 2 warnings" out &&
	grep "routes.yaml:[0-9]*:[0-9]*: warning: environment variable .WH_PASS. (the basic auth password) is not set" err &&
	grep "warning: environment variable .WH_GRAFANA. (the Grafana signing secret) is not set" err &&
	! grep "WH_TOKEN\|WH_HMAC\|WH_USER" err &&
	"$RUNBOOK" validate routes.yaml >out 2>err &&
	grep "0 errors, 0 warnings" out
'

test_expect_success 'an empty secret variable: exit 2' '
	test_must_fail --exit 2 env WH_TOKEN= timeout 10 "$RUNBOOK" serve \
		--routes routes.yaml --listen 127.0.0.1:$PORT 2>err &&
	grep "WH_TOKEN.*empty" err
'

test_expect_success 'an invalid target runbook: refuses to start, exit 2' '
	mkdir -p broken/runbooks &&
	printf "runbook: db-connection\nsteps: []\n" \
		>broken/runbooks/db-connection.yaml &&
	(cd broken && test_must_fail --exit 2 timeout 10 "$RUNBOOK" serve \
		--routes ../routes.yaml --listen 127.0.0.1:$PORT 2>../err) &&
	grep "db-connection" err
'

test_expect_success 'no auth on a non-loopback address: refused, exit 2' '
	sed "/^auth:/,/^max_body/{/^max_body/!d}" routes.yaml >noauth.yaml &&
	! grep -q bearer noauth.yaml &&
	test_must_fail --exit 2 timeout 10 "$RUNBOOK" serve \
		--routes noauth.yaml --listen 0.0.0.0:$PORT 2>err &&
	grep "without authentication" err
'

test_expect_success 'no auth on loopback: serves, with a warning' '
	"$RUNBOOK" serve --routes noauth.yaml --listen 127.0.0.1:$PORT \
		2>noauth.log &
	pid=$! &&
	wait_healthy $pid &&
	test "$(post /alertmanager unmatched.json)" = 200 &&
	kill $pid &&
	wait $pid &&
	grep "no authentication configured" noauth.log
'

test_expect_success 'a bad --listen address: exit 2' '
	test_must_fail --exit 2 timeout 10 "$RUNBOOK" serve \
		--routes routes.yaml --listen nonsense 2>err &&
	grep "invalid listen address" err
'

test_expect_success 'usage: --routes is required, -h prints the synopsis' '
	test_must_fail --exit 2 "$RUNBOOK" serve 2>err &&
	grep "usage: runbook serve --routes FILE" err &&
	"$RUNBOOK" serve -h >out &&
	grep "usage: runbook serve --routes FILE \[--listen ADDR:PORT\]" out
'

serve_start routes.yaml

# --- endpoints ----------------------------------------------------------

test_expect_success 'GET /healthz: 200 ok' '
	curl -s -i "$URL/healthz" >out &&
	head -n 1 out | grep "200" &&
	tail -n 1 out | grep "^ok"
'

test_expect_success 'methods: only POST on hook paths, only GET on others' '
	test "$(curl -s -o /dev/null -w "%{http_code}" "$URL/alertmanager")" \
		= 405 &&
	curl -s -i "$URL/" | grep -i "^Allow: POST" &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X PUT \
		--data-binary @am.json -H "$BEARER" "$URL/alertmanager")" = 405 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" --data x \
		"$URL/healthz")" = 405 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" --data x \
		"$URL/metrics")" = 405 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" "$URL/nope")" = 404 &&
	test "$(post /hooks/Bad.Name am.json -H "$BEARER")" = 404 &&
	test "$(post /alertmanager/ am.json -H "$BEARER")" = 404
'

test_expect_success 'no CORS headers, ever' '
	curl -s -i -H "Origin: http://evil.example" "$URL/healthz" >h1 &&
	curl -s -i -X OPTIONS -H "Origin: http://evil.example" \
		"$URL/alertmanager" >h2 &&
	curl -s -i -H "Origin: http://evil.example" \
		--data-binary @am.json "$URL/alertmanager" >h3 &&
	! grep -i "^access-control" h1 h2 h3
'

test_expect_success 'an accepted alert: 202, queued with its params' '
	test "$(post /alertmanager am.json -H "$BEARER")" = 202 &&
	grep "\"queued\":1" resp &&
	test "$(sql "select count(*) from queue")" = 1 &&
	test "$(sql "select params from queue")" = "{\"db_host\":\"db1.example.org\"}" &&
	sql "select dedup_key from queue" |
		grep -F "[\"pg-down\",\"5e1ab0c4d2f39a71\",\"2024-05-01T10:00:00.123456789Z\"]" &&
	sql "select runbook from queue" | grep "^/.*/runbooks/db-connection.yaml$" &&
	test "$(sql "select source from queue")" = 127.0.0.1 &&
	test "$(sql "select count(*) from audit where event = \"webhook.accepted\"")" = 1
'

test_expect_success 'the same alert again: 202, deduplicated, audited' '
	test "$(post / am.json -H "$BEARER")" = 202 &&
	grep "\"deduplicated\":1" resp &&
	test "$(sql "select count(*) from queue")" = 1 &&
	test "$(sql "select count(*) from audit where event = \"webhook.deduplicated\"")" = 1
'

test_expect_success 'no route: 200 {"matched":0}, audited as unmatched' '
	n0=$(sql "select count(*) from audit where event = \"webhook.unmatched\"") &&
	test "$(post /alertmanager unmatched.json -H "$BEARER")" = 200 &&
	test "$(cat resp)" = "{\"matched\":0}" &&
	test "$(sql "select count(*) from audit where event = \"webhook.unmatched\"")" = $((n0 + 1))
'

# --- authentication -----------------------------------------------------

# expect_401 REASON CURL-ARGS...: 401, one webhook.rejected record with the
# reason, and no queue entry.
expect_401() {
	reason=$1
	shift
	q0=$(sql "select count(*) from queue")
	a0=$(sql "select count(*) from audit where event like \"webhook.%\"")
	code=$(post /alertmanager "$@")
	test "$code" = 401 || { echo "got $code"; return 1; }
	test "$(sql "select count(*) from queue")" = "$q0" &&
	test "$(sql "select count(*) from audit where event like \"webhook.%\"")" = \
		$((a0 + 1)) &&
	sql "select event, actor, details from audit where event like \"webhook.%\" order by seq desc limit 1" \
		>last &&
	grep "^webhook.rejected|webhook:127.0.0.1|" last &&
	grep "\"reason\":\"authentication failed: $reason" last &&
	grep "\"code\":401" last &&
	! grep -e "$WH_TOKEN" -e "$WH_HMAC" -e "$WH_GRAFANA" last
}

test_expect_success 'bearer: the right token passes' '
	test "$(post /alertmanager am.json -H "$BEARER")" = 202
'

test_expect_success 'bearer: wrong, truncated, extended or missing -> 401' '
	expect_401 invalid am.json -H "Authorization: Bearer t0ken-Secreu" &&
	expect_401 invalid am.json -H "Authorization: Bearer t0ken-Secre" &&
	expect_401 invalid am.json -H "Authorization: Bearer t0ken-SecretX" &&
	expect_401 missing am.json -H "Authorization: Token $WH_TOKEN" &&
	expect_401 missing am.json &&
	curl -s -i -H "Authorization: Bearer nope" --data-binary @am.json \
		"$URL/alertmanager" | grep -i "^WWW-Authenticate: Bearer"
'

test_expect_success 'basic: the right user and password pass, others 401' '
	test "$(post /alertmanager am.json -u "$WH_USER:$WH_PASS")" = 202 &&
	expect_401 invalid am.json -u "$WH_USER:pa:ss w0rD" &&
	expect_401 invalid am.json -u "root:$WH_PASS"
'

test_expect_success 'hmac: the signature of the raw body passes' '
	sig=$(hmac_hex "$WH_HMAC" am.json) &&
	test "$(post /alertmanager am.json -H "X-Signature-256: sha256=$sig")" \
		= 202 &&
	SIG=$(echo "$sig" | tr a-f A-F) &&
	test "$(post /alertmanager am.json -H "x-signature-256: SHA256=$SIG")" \
		= 202
'

test_expect_success 'hmac: one flipped bit, wrong secret, missing, malformed -> 401' '
	sig=$(hmac_hex "$WH_HMAC" am.json) &&
	sed "s/db1 is down/db1 is dowm/" am.json >flipped.json &&
	expect_401 invalid flipped.json -H "X-Signature-256: sha256=$sig" &&
	bad=$(hmac_hex "hmac-KeY" am.json) &&
	expect_401 invalid am.json -H "X-Signature-256: sha256=$bad" &&
	expect_401 missing am.json -H "X-Hub-Signature-256: sha256=$sig" &&
	expect_401 malformed am.json -H "X-Signature-256: $sig" &&
	expect_401 malformed am.json -H "X-Signature-256: sha256=${sig%?}"
'

test_expect_success 'grafana: ts:body signature passes under both header names' '
	now=$(date +%s) &&
	sig=$(hmac_hex "$WH_GRAFANA" grafana.json "$now:") &&
	test "$(post /grafana grafana.json \
		-H "X-Grafana-Alerting-Signature: $sig" \
		-H "X-Grafana-Alerting-Timestamp: $now")" = 202 &&
	test "$(post /grafana grafana.json -H "X-Grafana-Alert-Signature: $sig" \
		-H "X-Grafana-Alerting-Timestamp: $now")" = 202
'

test_expect_success 'grafana: inside the 5-minute window (-299 s, +299 s) passes' '
	grafana_at -299 202 grafana.json &&
	grafana_at 299 202 grafana.json &&
	grafana_at -300 202 grafana.json &&
	grafana_at 300 202 grafana.json
'

test_expect_success 'grafana: stale (-301 s, +301 s) timestamps -> 401, audited' '
	a0=$(sql "select count(*) from audit where details like \"%stale%\"") &&
	q0=$(sql "select count(*) from queue") &&
	grafana_at -301 401 grafana.json &&
	grafana_at 301 401 grafana.json &&
	grafana_at -86400 401 grafana.json &&
	test "$(sql "select count(*) from queue")" = "$q0" &&
	test $(sql "select count(*) from audit where details like \"%stale%\"") \
		-ge $((a0 + 3))
'

test_expect_success 'grafana: bit flip, wrong secret, no timestamp, other ts -> 401' '
	now=$(date +%s) &&
	sig=$(hmac_hex "$WH_GRAFANA" am.json "$now:") &&
	expect_401 invalid flipped.json -H "X-Grafana-Alerting-Signature: $sig" \
		-H "X-Grafana-Alerting-Timestamp: $now" &&
	bad=$(hmac_hex "graf-KeY" am.json "$now:") &&
	expect_401 invalid am.json -H "X-Grafana-Alerting-Signature: $bad" \
		-H "X-Grafana-Alerting-Timestamp: $now" &&
	expect_401 missing am.json -H "X-Grafana-Alerting-Signature: $sig" &&
	expect_401 invalid am.json -H "X-Grafana-Alerting-Signature: $sig" \
		-H "X-Grafana-Alerting-Timestamp: $((now - 1))" &&
	nots=$(hmac_hex "$WH_GRAFANA" am.json) &&
	expect_401 invalid am.json -H "X-Grafana-Alerting-Signature: $nots" \
		-H "X-Grafana-Alerting-Timestamp: $now"
'

test_expect_success 'auth failures are counted by reason in /metrics' '
	curl -s "$URL/metrics" >m &&
	grep "^runbook_webhook_auth_failures_total{reason=\"stale\"} [3-9]" m &&
	grep "^runbook_webhook_auth_failures_total{reason=\"missing\"} [1-9]" m &&
	grep "^runbook_webhook_auth_failures_total{reason=\"invalid\"} [1-9]" m &&
	grep "^runbook_webhook_auth_failures_total{reason=\"malformed\"} 2$" m
'

# --- bounds and framing ---------------------------------------------------

test_expect_success 'a body over max_body with Content-Length -> 413' '
	python3 -c "print(\"{\\\"alerts\\\":[],\\\"pad\\\":\\\"\" + \"x\" * 300000 + \"\\\"}\")" >big.json &&
	test "$(post /alertmanager big.json -H "$BEARER")" = 413 &&
	grep "larger than max_body" resp
'

test_expect_success 'a chunked body over max_body -> 413' '
	test "$(post /alertmanager big.json -H "$BEARER" \
		-H "Transfer-Encoding: chunked")" = 413 &&
	test "$(sql "select event from audit where event like \"webhook.%\" order by seq desc limit 1")" = \
		webhook.rejected
'

test_expect_success 'a chunked body under max_body is accepted' '
	test "$(post /alertmanager am.json -H "$BEARER" \
		-H "Transfer-Encoding: chunked")" = 202
'

test_expect_success 'two Content-Length headers -> 400' '
	raw "POST /alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $WH_TOKEN\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}" >out &&
	head -n 1 out | grep " 400 " &&
	grep "more than one Content-Length" out &&
	raw "POST /alertmanager HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\n{}" >out &&
	head -n 1 out | grep " 400 "
'

test_expect_success 'Content-Length with chunked Transfer-Encoding -> 400' '
	raw "POST /alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $WH_TOKEN\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n" >out &&
	head -n 1 out | grep " 400 "
'

test_expect_success 'malformed JSON -> 400' '
	printf "{\"alerts\":[" >trunc.json &&
	test "$(post /alertmanager trunc.json -H "$BEARER")" = 400 &&
	grep "malformed JSON" resp &&
	printf "not json" >nj.json &&
	test "$(post /alertmanager nj.json -H "$BEARER")" = 400 &&
	printf "{\"alerts\":[{\"labels\":{\"a\":1}}]}" >types.json &&
	test "$(post /alertmanager types.json -H "$BEARER")" = 400 &&
	printf "{\"alerts\":[{\"labels\":{\"a\":\"\\\\u0000\"}}]}" >nul.json &&
	test "$(post /alertmanager nul.json -H "$BEARER")" = 400 &&
	printf "{\"alerts\":[{\"labels\":{\"a\":\"\\377\"}}]}" >utf8.json &&
	test "$(post /alertmanager utf8.json -H "$BEARER")" = 400
'

test_expect_success 'duplicate JSON keys -> 400' '
	printf "{\"version\":\"4\",\"version\":\"5\",\"alerts\":[]}" >dup.json &&
	test "$(post /alertmanager dup.json -H "$BEARER")" = 400 &&
	grep "duplicate object key" resp &&
	printf "{\"alerts\":[{\"labels\":{\"alertname\":\"PostgresDown\",\"instance\":\"a:1\",\"instance\":\"b;reboot:1\"}}]}" >dup2.json &&
	test "$(post /alertmanager dup2.json -H "$BEARER")" = 400
'

test_expect_success 'nesting 100000 deep -> 400, and the listener lives' '
	python3 -c "print(\"[\" * 100000 + \"]\" * 100000)" >deep.json &&
	test "$(post /hooks/x deep.json -H "$BEARER")" = 400 &&
	grep "nests more than" resp &&
	python3 -c "print(\"{\\\"a\\\":\" * 20000 + \"1\" + \"}\" * 20000)" >deep2.json &&
	test "$(post /alertmanager deep2.json -H "$BEARER")" = 400 &&
	test "$(curl -s "$URL/healthz")" = ok
'

test_expect_success 'a request without Host -> 400 (HTTP/1.1)' '
	raw "POST /alertmanager HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}" >out &&
	head -n 1 out | grep " 400 "
'

# --- metrics and logs -----------------------------------------------------

test_expect_success 'GET /metrics: Prometheus text format 0.0.4' '
	curl -s -D hdr "$URL/metrics" >m &&
	grep -i "^Content-Type: text/plain; version=0.0.4" hdr &&
	for name in runbook_webhook_requests_total runbook_webhook_alerts_total \
	    runbook_runs_total runbook_queue_depth \
	    runbook_webhook_auth_failures_total; do
		grep "^# HELP $name " m && grep "^# TYPE $name " m || return 1
	done &&
	grep "^runbook_webhook_requests_total{code=\"202\"} [1-9]" m &&
	grep "^runbook_webhook_requests_total{code=\"401\"} [1-9]" m &&
	grep "^runbook_webhook_requests_total{code=\"413\"} 2$" m &&
	grep "^runbook_webhook_alerts_total{result=\"queued\"} 2$" m &&
	grep "^runbook_webhook_alerts_total{result=\"deduplicated\"} [1-9]" m &&
	grep "^runbook_webhook_alerts_total{result=\"unmatched\"} 1$" m &&
	grep "^runbook_runs_total{result=\"started\"} 2$" m &&
	grep "^runbook_queue_depth [0-9]" m &&
	! grep -v "^#" m | grep -v "^[a-z_]*\({[a-z]*=\"[a-z0-9_]*\"}\)\? [0-9]*$" &&
	! grep -e PostgresDown -e db1 m &&
	if command -v promtool >/dev/null; then promtool check metrics <m; fi
'

test_expect_success 'one JSON log line per request, nothing secret in it' '
	grep "\"msg\":\"request\"" serve.log >req.log &&
	test $(wc -l <req.log) -ge 40 &&
	python3 -c "
import json, sys
for line in open(\"req.log\"):
    r = json.loads(line)
    for k in (\"ts\", \"remote\", \"method\", \"path\", \"code\", \"matched\",
              \"queued\", \"deduplicated\", \"rejected\", \"duration_ms\"):
        assert k in r, (k, line)
" &&
	grep "\"path\":\"/alertmanager\",\"code\":202,\"matched\":1,\"queued\":1" req.log &&
	! grep -e "$WH_TOKEN" -e "$WH_HMAC" -e "$WH_GRAFANA" -e "pa:ss" serve.log
'

test_expect_success 'the run child was started for the queued entry' '
	grep "\"msg\":\"run started\",\"queue_id\":1" serve.log &&
	test "$(sql "select status from queue where id = 1")" != queued
'

test_expect_success 'the audit chain verifies' '
	if "$RUNBOOK" audit verify >out 2>&1; then :; else
		grep -q "unknown command" out
	fi &&
	test "$(sql "select count(*) from audit where event = \"webhook.rejected\"")" -ge 20
'

kill $SERVE_PID
wait $SERVE_PID
serve_exit=$?

test_expect_success 'SIGTERM: graceful stop, exit 0' '
	test $serve_exit -eq 0 &&
	grep "\"msg\":\"shutting down" serve.log &&
	grep "\"msg\":\"stopped\"" serve.log
'

# Grafana signatures without a timestamp header: bare hex over the body.
sed 's/, timestamp_header: X-Grafana-Alerting-Timestamp//' routes.yaml \
	>routes-nots.yaml
serve_start routes-nots.yaml

test_expect_success 'grafana without a timestamp header: body MAC passes' '
	sig=$(hmac_hex "$WH_GRAFANA" grafana.json) &&
	test "$(post /grafana grafana.json \
		-H "X-Grafana-Alert-Signature: $sig")" = 202 &&
	test "$(post /grafana grafana.json \
		-H "X-Grafana-Alerting-Signature: $sig")" = 202 &&
	sig=$(hmac_hex "$WH_GRAFANA" am.json) &&
	expect_401 invalid flipped.json -H "X-Grafana-Alert-Signature: $sig" &&
	expect_401 malformed am.json -H "X-Grafana-Alert-Signature: sha256=$sig"
'

kill $SERVE_PID
wait $SERVE_PID

test_expect_success 'no sanitizer reports' '
	! grep -e "ERROR: AddressSanitizer" -e "ERROR: LeakSanitizer" \
		-e "runtime error:" serve.log noauth.log
'

test_done
