#!/bin/sh
# runbook serve: routing (matchers, status, hooks, Grafana), dedup under an
# alert storm from parallel senders, and hostile label values: rejected by
# a param pattern (and audited), or stored byte for byte where the param
# allows them.
. "$(dirname "$0")/lib.sh"

if ! "$RUNBOOK" serve -h >/dev/null 2>&1; then
	test_skip 'runbook serve' 'serve is not in the command table'
	test_done
fi

PORT=$(test_free_port)
URL=http://127.0.0.1:$PORT
DB=$RUNBOOK_STATE_DIR/state.db
export WH_TOKEN=st0rm-token
BEARER="Authorization: Bearer $WH_TOKEN"

serve_start() {
	"$RUNBOOK" serve --routes "$1" --listen "127.0.0.1:$PORT" 2>>serve.log &
	SERVE_PID=$!
	test_kill_at_end $SERVE_PID
	n=0
	while [ $n -lt 100 ]; do
		if [ "$(curl -s -o /dev/null -w '%{http_code}' \
		    "$URL/healthz")" = 200 ]; then
			return 0
		fi
		kill -0 $SERVE_PID 2>/dev/null || return 1
		sleep 0.1
		n=$((n + 1))
	done
	return 1
}

post() {
	p=$1
	f=$2
	shift 2
	curl -s -o resp -w '%{http_code}' -H "$BEARER" \
		-H 'Content-Type: application/json' --data-binary @"$f" "$@" \
		"$URL$p"
}

sql() {
	sqlite3 -cmd '.timeout 5000' "$DB" "$@"
}

# The Prometheus fingerprint of a JSON object's string fields.
fingerprint() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
h = 14695981039346656037
for k in sorted(x for x in d if isinstance(d[x], str)):
    for b in k.encode() + b"\xff" + d[k].encode() + b"\xff":
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
print("%016x" % h)' "$1"
}

# mkalert.py OUT STATUS ALERTNAME INSTANCE STARTS [K=V...]: an Alertmanager
# v4 notification with one alert (fingerprint computed like Prometheus).
cat >mkalert.py <<'EOF'
import json, sys

def fp(labels):
    h = 14695981039346656037
    for k in sorted(labels):
        for b in k.encode() + b"\xff" + labels[k].encode() + b"\xff":
            h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h

def alert(status, name, inst, starts, extra):
    labels = {"alertname": name, "instance": inst, "severity": "critical"}
    labels.update(extra)
    return {"status": status, "labels": labels,
            "annotations": {"summary": name + " on " + inst},
            "startsAt": starts,
            "endsAt": "0001-01-01T00:00:00Z" if status == "firing"
                      else "2024-05-01T11:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": fp(labels)}

def message(alerts, status):
    return {"receiver": "runbook", "status": status, "alerts": alerts,
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093", "version": "4",
            "groupKey": "{}:{}", "truncatedAlerts": 0}

if __name__ == "__main__":
    out, status, name, inst, starts = sys.argv[1:6]
    extra = dict(a.split("=", 1) for a in sys.argv[6:])
    with open(out, "w") as f:
        json.dump(message([alert(status, name, inst, starts, extra)], status),
                  f)
        f.write("\n")
EOF

mkdir runbooks
cat >runbooks/db-connection.yaml <<EOF
runbook: db-connection
params:
  db_host: {pattern: '^[A-Za-z0-9._-]+\$'}
steps:
  - id: record
    run: printf '%s\\n' {{ params.db_host }} >>"$TEST_TMP/ran.log"
EOF
cat >runbooks/notes.yaml <<EOF
runbook: notes
params:
  text: {default: ""}
  level: {enum: [low, high], default: low}
steps:
  - id: record
    run: printf 'note\\n' >>"$TEST_TMP/notes.log"
EOF
cat >routes.yaml <<'EOF'
auth: {bearer_token_env: WH_TOKEN}
max_body: 1MiB
max_runs: 4
routes:
  - name: pg-down
    match: {alertname: PostgresDown, severity: '/^(critical|page)$/'}
    runbook: db-connection
    params: {db_host: "{{ alert.labels.instance | host }}"}
    dedup: 1h
  - name: pg-recovered
    match: {alertname: PostgresDown}
    status: resolved
    runbook: notes
    params: {text: "{{ alert.labels.instance }} recovered"}
    dedup: 1h
  - name: note
    match: {alertname: Note}
    status: any
    runbook: notes
    params: {text: "{{ alert.labels.text }}", level: "{{ alert.labels.level | default('low') }}"}
    dedup: 1h
  - name: deploy
    hook: deploy
    match: {event: deploy_failed}
    runbook: notes
    params: {text: "{{ alert.labels.service }}"}
    dedup: 5m
  - name: slow-host
    match: {alertname: HighCPU, grafana_folder: ops}
    runbook: notes
    params: {text: "{{ alert.annotations.summary }}"}
    dedup: 15m
EOF

serve_start routes.yaml

# --- routing ---------------------------------------------------------------

test_expect_success 'label matchers: equality and an anchored regex' '
	python3 mkalert.py warn.json firing PostgresDown db9:9187 \
		2024-05-01T09:00:00Z severity=warning &&
	test "$(post /alertmanager warn.json)" = 200 &&
	test "$(cat resp)" = "{\"matched\":0}" &&
	python3 mkalert.py page.json firing PostgresDown db9:9187 \
		2024-05-01T09:00:00Z severity=page &&
	test "$(post /alertmanager page.json)" = 202 &&
	test "$(sql "select params from queue where route = \"pg-down\"")" = \
		"{\"db_host\":\"db9\"}"
'

test_expect_success 'resolved alerts start nothing unless a route asks' '
	python3 mkalert.py res.json resolved PostgresDown db9:9187 \
		2024-05-01T09:00:00Z severity=page &&
	test "$(post /alertmanager res.json)" = 202 &&
	test "$(sql "select count(*) from queue where route = \"pg-down\"")" = 1 &&
	test "$(sql "select params from queue where route = \"pg-recovered\"")" = \
		"{\"text\":\"db9:9187 recovered\"}" &&
	test "$(post /alertmanager "$SRC_DIR/examples/webhooks/alertmanager-resolved.json")" \
		= 200
'

test_expect_success 'Grafana unified alerting payload on /grafana' '
	test "$(post /grafana "$SRC_DIR/examples/webhooks/grafana-firing.json")" \
		= 202 &&
	sql "select params, dedup_key from queue where route = \"slow-host\"" >out &&
	grep -F "{\"text\":\"web1: CPU above 90% for 10 minutes\"}" out &&
	grep -F "[\"slow-host\",\"bfe32edd7bfb97aa\",\"2024-05-01T11:02:00Z\"]" out
'

test_expect_success 'generic hook: string fields are labels, fingerprint is computed' '
	f="$SRC_DIR/examples/webhooks/generic-deploy-failed.json" &&
	fp=$(fingerprint "$f") &&
	test "$(post /hooks/deploy "$f")" = 202 &&
	grep "\"queued\":1" resp &&
	test "$(sql "select dedup_key from queue where route = \"deploy\"")" = \
		"[\"deploy\",\"$fp\",\"2024-05-01T12:15:42Z\"]" &&
	test "$(sql "select params from queue where route = \"deploy\"")" = \
		"{\"text\":\"checkout\"}" &&
	test "$(post /hooks/deploy "$f")" = 202 &&
	grep "\"deduplicated\":1" resp &&
	test "$(sql "select count(*) from queue where route = \"deploy\"")" = 1 &&
	test "$(post /hooks/other "$f")" = 200 &&
	test "$(post /alertmanager "$f")" = 400
'

test_expect_success 'the queued alert is stored as JSON with its labels' '
	sql "select alert from queue where route = \"pg-down\"" >alert.json &&
	python3 -c "
import json
a = json.load(open(\"alert.json\"))
assert a[\"kind\"] == \"alertmanager\", a
assert a[\"status\"] == \"firing\", a
assert a[\"labels\"][\"instance\"] == \"db9:9187\", a
assert a[\"starts_at\"] == \"2024-05-01T09:00:00Z\", a
assert len(a[\"fingerprint\"]) == 16, a
"
'

# --- hostile values -----------------------------------------------------

test_expect_success 'shell metacharacters fail the param pattern: 422, audited, never queued' '
	q0=$(sql "select count(*) from queue") &&
	python3 mkalert.py evil.json firing PostgresDown \
		"db1;touch $TEST_TMP/pwned #:9187" 2024-05-01T09:30:00Z &&
	test "$(post /alertmanager evil.json)" = 422 &&
	grep "\"rejected\":1" resp &&
	test "$(sql "select count(*) from queue")" = "$q0" &&
	sql "select actor, details from audit where event = \"webhook.rejected\"" >rej &&
	grep "^webhook:127.0.0.1/pg-down|" rej &&
	grep "param .db_host.: it does not match" rej &&
	grep "\"route\":\"pg-down\"" rej &&
	test ! -e pwned
'

test_expect_success 'one bad alert among good ones: 202, the rest queued' '
	python3 -c "
import json
good = json.load(open(\"page.json\"))
bad = json.load(open(\"evil.json\"))
a = good[\"alerts\"][0]
a[\"startsAt\"] = \"2024-05-01T09:45:00Z\"
good[\"alerts\"] = [a, bad[\"alerts\"][0]]
json.dump(good, open(\"mixed.json\", \"w\"))
" &&
	test "$(post /alertmanager mixed.json)" = 202 &&
	grep "\"matched\":2,\"queued\":1,\"deduplicated\":0,\"rejected\":1" resp
'

cat >hostile.py <<'EOF'
import subprocess
hostile = ('zzz";echo${IFS}"x";# $(touch pwned) `id` \'q\' {{ env.HOME }} %s '
           '\\ \t\r\n\u00e9\u202e ' + "A" * 4096)
open("hostile.txt", "w", encoding="utf-8", newline="").write(hostile)
subprocess.check_call(["python3", "mkalert.py", "note.json", "firing", "Note",
                       "n1", "2024-05-01T10:00:00Z", "text=" + hostile,
                       "level=high"])
EOF
cat >check-hostile.py <<'EOF'
import json
want = open("hostile.txt", encoding="utf-8", newline="").read()
p = json.loads(open("params.json", encoding="utf-8").read())
assert p["text"] == want, (p["text"][:80], want[:80])
assert p["level"] == "high", p
a = json.loads(open("alert.json", encoding="utf-8").read())
assert a["labels"]["text"] == want
EOF

test_expect_success 'a value the param allows is stored byte-identical' '
	python3 hostile.py &&
	test "$(post /alertmanager note.json)" = 202 &&
	sql "select params from queue where route = \"note\"" >params.json &&
	sql "select alert from queue where route = \"note\"" >alert.json &&
	python3 check-hostile.py &&
	test ! -e pwned
'

test_expect_success 'an enum param rejects anything else' '
	python3 mkalert.py lvl.json firing Note n2 2024-05-01T10:00:00Z \
		"text=x" "level=high;reboot" &&
	test "$(post /alertmanager lvl.json)" = 422 &&
	sql "select details from audit where event like \"webhook.%\" order by seq desc limit 1" |
		grep "not one of low, high"
'

# --- the storm ------------------------------------------------------------

# 50 alerts x 40 deliveries each (HA pairs, repeat_interval re-sends), 20
# group notifications carrying all 50 at once, and 4 resolved notifications
# per alert, sent in random order by 16 parallel senders.
cat >storm.py <<'EOF'
import json, random, sys
from mkalert import alert, message

url, auth = sys.argv[1:3]
reqs = []
alerts = [alert("firing", "PostgresDown", "storm%02d:9187" % i,
                "2024-06-01T00:00:00Z", {}) for i in range(50)]
for i, a in enumerate(alerts):
    json.dump(message([a], "firing"), open("s%02d.json" % i, "w"))
    r = dict(a, status="resolved")
    json.dump(message([r], "resolved"), open("r%02d.json" % i, "w"))
    reqs += ["s%02d.json" % i] * 40 + ["r%02d.json" % i] * 4
json.dump(message(alerts, "firing"), open("group.json", "w"))
reqs += ["group.json"] * 20
random.shuffle(reqs)
# One curl config per 20 requests (curl -K): keep-alive within a batch.
for b in range(0, len(reqs), 20):
    with open("batch%04d.cfg" % (b // 20), "w") as f:
        f.write("next\n".join(
            'url = "%s"\nheader = "%s"\ndata-binary = "@%s"\n'
            'silent\noutput = "/dev/null"\n'
            'write-out = "%%{http_code}\\n"\n' % (url, auth, r)
            for r in reqs[b:b + 20]))
print(len(reqs))
EOF

# 50 alerts x 40 deliveries each (HA pairs, repeat_interval re-sends), 20
# group notifications carrying all 50 at once, and 4 resolved notifications
# per alert (which route pg-recovered takes), sent in random order by 16
# parallel curl processes.
test_expect_success 'alert storm: exactly one queue entry per (route, fingerprint, startsAt)' '
	test "$(python3 storm.py "$URL/alertmanager" "$BEARER")" = 2220 &&
	ls batch*.cfg | xargs -P 16 -n 1 curl -K >codes &&
	test "$(wc -l <codes)" = 2220 &&
	test "$(grep -c "^202$" codes)" = 2220 &&
	test "$(sql "select count(*) from queue where route = \"pg-down\" and dedup_key like \"%2024-06-01T00:00:00Z%\"")" = 50 &&
	test "$(sql "select count(*) from queue where route = \"pg-recovered\" and dedup_key like \"%2024-06-01T00:00:00Z%\"")" = 50 &&
	test "$(sql "select count(distinct dedup_key) from queue")" = \
		"$(sql "select count(*) from queue")" &&
	test "$(sql "select count(*) from audit where event = \"webhook.accepted\" and details like \"%2024-06-01T00:00:00Z%\"")" = 100 &&
	test "$(sql "select count(*) from audit where event = \"webhook.deduplicated\" and details like \"%2024-06-01T00:00:00Z%\"")" = 3100
'

test_expect_success 'a new firing episode (new startsAt) queues again' '
	python3 mkalert.py again.json firing PostgresDown storm07:9187 \
		2024-06-02T00:00:00Z &&
	test "$(post /alertmanager again.json)" = 202 &&
	grep "\"queued\":1" resp &&
	test "$(sql "select count(*) from queue where params = \"{\"\"db_host\"\":\"\"storm07\"\"}\"")" = 2
'

test_expect_success 'every queued entry is claimed and handed to a child' '
	n=0 &&
	while [ "$(sql "select count(*) from queue where status in (\"queued\", \"started\")")" != 0 ] &&
	    [ $n -lt 300 ]; do
		sleep 0.1
		n=$((n + 1))
	done &&
	test "$(sql "select count(*) from queue where status in (\"queued\", \"started\")")" = 0 &&
	total=$(sql "select count(*) from queue") &&
	test "$(grep -c "\"msg\":\"run started\"" serve.log)" = "$total" &&
	curl -s "$URL/metrics" >m &&
	grep "^runbook_runs_total{result=\"started\"} $total$" m &&
	grep "^runbook_queue_depth 0$" m
'

test_expect_success 'metrics: alerts by result; label values never from alerts' '
	curl -s "$URL/metrics" >m &&
	grep "^runbook_webhook_alerts_total{result=\"deduplicated\"} [1-9]" m &&
	grep "^runbook_webhook_alerts_total{result=\"rejected\"} 3$" m &&
	! grep -e storm -e PostgresDown -e pg-down m
'

kill $SERVE_PID
wait $SERVE_PID
serve_exit=$?

test_expect_success 'clean shutdown and no sanitizer reports' '
	test $serve_exit -eq 0 &&
	! grep -e "ERROR: AddressSanitizer" -e "ERROR: LeakSanitizer" \
		-e "runtime error:" serve.log
'

test_done
