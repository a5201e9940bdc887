#!/bin/sh
# webhook.sh [RUNBOOK] - alert intake of `runbook serve` against adnanh's
# `webhook` (Debian package `webhook`), on loopback, with wrk.
#
# Configurations, DURATION seconds each (default 5), 1 and 8 connections:
#   runbook dedup   an Alertmanager v4 payload matching a route with dedup:
#                   the first request queues a run, every later one is
#                   authenticated, parsed, routed and committed (an audit
#                   record) as "deduplicated"; no run starts after the first
#   runbook queue   every request a new startsAt (a wrk Lua counter), so
#                   every request commits a queue entry and starts a run
#   webhook sync    adnanh webhook answering after `true` exited
#   webhook async   adnanh webhook answering first (its default)
# Then latency, LAT_N sequential POSTs LAT_GAP seconds apart on one
# keep-alive connection (apart enough that each run starts on an idle
# listener, not behind a queue): POST -> 202 (the queue commit), POST -> run
# child spawned (the listener's log), and POST -> the step's process
# running (its own `date +%s.%N`); the same for adnanh webhook (an async
# hook whose command is the same `sh -c 'echo SEQ $(date +%s.%N) >>F'`).
#
# Knobs: DURATION=5 CONNS="1 8" LAT_N=40 LAT_GAP=0.3 RUNBOOK=build/runbook
# NO_INSTALL=1. Needs curl, python3, sqlite3; wrk and adnanh webhook are
# installed with apt-get when missing (without webhook its rows say so).
# BENCH_FORMAT=tsv: result lines on stdout, this report on stderr (lib.sh).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/bench/lib.sh"
RUNBOOK=${1:-${RUNBOOK:-$ROOT/build/runbook}}
case $RUNBOOK in /*) ;; *) RUNBOOK=$(pwd)/$RUNBOOK ;; esac
DURATION=${DURATION:-5}
CONNS=${CONNS:-1 8}
LAT_N=${LAT_N:-40}
LAT_GAP=${LAT_GAP:-0.3}
TOKEN=bench-token

bench_install wrk wrk || true
for tool in wrk curl python3 sqlite3; do
	command -v $tool >/dev/null || { echo "webhook.sh: needs $tool" >&2; exit 2; }
done
if ! bench_install webhook webhook; then
	echo "webhook.sh: adnanh webhook not installed; skipping it" >&2
	for c in $CONNS; do
		for m in rps p50 p99; do
			result webhook.$m adnanh-async/c$c n/a "not installed"
			result webhook.$m adnanh-sync/c$c n/a "not installed"
		done
	done
	for m in answer_p50 answer_p90 start_p50 start_p90; do
		result webhook.$m adnanh-async n/a "not installed"
	done
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/rb-bench-webhook.XXXXXX")
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$TMP"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() {
	n=0
	while [ $n -lt 100 ]; do
		curl -s -o /dev/null "$1" && return 0
		sleep 0.1
		n=$((n + 1))
	done
	echo "webhook.sh: $1 did not come up" >&2
	return 1
}

# --- fixtures -----------------------------------------------------------

mkdir runbooks
cat >runbooks/bench.yaml <<EOF
runbook: bench
params:
  seq: {default: "0", pattern: '^[0-9]+\$'}
steps:
  - id: mark
    run: echo {{ params.seq }} \$(date +%s.%N) >>"$TMP/starts.log"
EOF
cat >routes.yaml <<'EOF'
auth: {bearer_token_env: BENCH_TOKEN}
max_runs: 4
routes:
  - name: pg-down
    match: {alertname: PostgresDown}
    runbook: bench
    params: {seq: "{{ alert.labels.seq | default('0') }}"}
    dedup: 1h
EOF
# The baseline's payload: one firing alert, 4 labels, annotations.
cat >payload.json <<'EOF'
{"receiver":"runbook","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"PostgresDown","instance":"db1.example.org:9187","job":"postgres","severity":"critical"},"annotations":{"summary":"db1.example.org is not accepting connections","description":"pg_up has been 0 for more than 1 minute on db1.example.org:9187; the database refuses connections or the exporter cannot reach it.","runbook_url":"https://wiki.example.org/runbooks/db-connection"},"startsAt":"2024-05-01T10:00:00.123456789Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.example.org:9090/graph?g0.expr=pg_up+%3D%3D+0&g0.tab=1","fingerprint":"3b5c17e2a9d04f68"}],"groupLabels":{"alertname":"PostgresDown"},"commonLabels":{"alertname":"PostgresDown","instance":"db1.example.org:9187","job":"postgres","severity":"critical"},"commonAnnotations":{"summary":"db1.example.org is not accepting connections"},"externalURL":"http://alertmanager.example.org:9093","version":"4","groupKey":"{}/{}:{alertname=\"PostgresDown\"}","truncatedAlerts":0}
EOF

# wrk scripts: a fixed body, and one with a new startsAt and seq label per
# request (one wrk thread, so the counter is unique).
python3 - <<'EOF'
import json
body = open("payload.json").read().strip()
def lua_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
hdr = ('wrk.method = "POST"\n'
       'wrk.headers["Content-Type"] = "application/json"\n'
       'wrk.headers["Authorization"] = "Bearer bench-token"\n')
open("fixed.lua", "w").write(hdr + "wrk.body = " + lua_str(body) + "\n")
d = json.loads(body)
d["alerts"][0]["startsAt"] = "@TS@"
d["alerts"][0]["labels"]["seq"] = "@SEQ@"
d["alerts"][0]["fingerprint"] = ""
tmpl = json.dumps(d, separators=(",", ":")).replace("%", "%%")
tmpl = tmpl.replace("@TS@", "2024-05-01T10:00:00.%09dZ").replace("@SEQ@", "%d")
open("unique.lua", "w").write(hdr + "local tmpl = " + lua_str(tmpl) + "\n"
    "local n = 0\n"
    "request = function()\n"
    "  n = n + 1\n"
    "  return wrk.format(nil, nil, nil, string.format(tmpl, n, n))\n"
    "end\n")
EOF

cat >hooks.json <<'EOF'
[
  {"id": "sync", "execute-command": "/bin/true",
   "include-command-output-in-response": true,
   "pass-arguments-to-command": [
     {"source": "payload", "name": "alerts.0.labels.alertname"},
     {"source": "payload", "name": "alerts.0.labels.instance"},
     {"source": "payload", "name": "alerts.0.labels.severity"}],
   "trigger-rule": {"match": {"type": "value", "value": "firing",
     "parameter": {"source": "payload", "name": "status"}}}},
  {"id": "async", "execute-command": "/bin/true",
   "pass-arguments-to-command": [
     {"source": "payload", "name": "alerts.0.labels.alertname"},
     {"source": "payload", "name": "alerts.0.labels.instance"},
     {"source": "payload", "name": "alerts.0.labels.severity"}],
   "trigger-rule": {"match": {"type": "value", "value": "firing",
     "parameter": {"source": "payload", "name": "status"}}}},
  {"id": "lat", "execute-command": "/bin/sh",
   "pass-arguments-to-command": [
     {"source": "string", "name": "-c"},
     {"source": "string", "name": "echo $1 $(date +%s.%N) >>\"$0\""},
     {"source": "string", "name": "@STARTS@"},
     {"source": "payload", "name": "alerts.0.labels.seq"}],
   "trigger-rule": {"match": {"type": "value", "value": "firing",
     "parameter": {"source": "payload", "name": "status"}}}}
]
EOF
sed "s|@STARTS@|$TMP/starts-webhook.log|" hooks.json >hooks.json.new
mv hooks.json.new hooks.json

# --- runners --------------------------------------------------------------

RESULTS=$TMP/results
: >"$RESULTS"

# run_wrk NAME CONNS URL LUA: one wrk run; appends a result row.
run_wrk() {
	wrk -t1 -c"$2" -d"${DURATION}s" --latency -s "$4" "$3" >wrk.out 2>&1 ||
		{ cat wrk.out >&2; return 1; }
	python3 - "$1" "$2" <<'EOF' >>"$RESULTS"
import re, sys
out = open("wrk.out").read()
def ms(s):
    m = re.match(r"([\d.]+)(us|ms|s|m|h)$", s)
    if m is None:
        sys.stderr.write(out)
        raise SystemExit("webhook.sh: cannot read wrk latency %r" % s)
    v, u = m.groups()
    return float(v) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000,
                       "h": 3600000}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
# Anchored: "62.50%" in the Req/Sec row must not pass for the 50% line.
p50 = ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))
p99 = ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))
total = int(re.search(r"(\d+) requests in", out).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
print("%s\t%s\t%.0f\t%.2f\t%.2f\t%d\t%d" % (sys.argv[1], sys.argv[2], rps,
      p50, p99, total, int(bad.group(1)) if bad else 0))
EOF
}

# serve_up STATE: start runbook serve with a fresh state directory.
serve_up() {
	PORT=$(free_port)
	BENCH_TOKEN=$TOKEN "$RUNBOOK" serve --routes routes.yaml \
		--listen "127.0.0.1:$PORT" --state "$1" 2>>"$1.log" &
	SPID=$!
	PIDS="$PIDS $SPID"
	wait_http "http://127.0.0.1:$PORT/healthz"
}

serve_down() {
	kill "$SPID"
	wait "$SPID" || true
}

for c in $CONNS; do
	serve_up "$TMP/dedup$c"
	run_wrk "runbook dedup" "$c" "http://127.0.0.1:$PORT/alertmanager" \
		fixed.lua
	serve_down
	q=$(sqlite3 "$TMP/dedup$c/state.db" "select count(*) from queue")
	a=$(sqlite3 "$TMP/dedup$c/state.db" "select count(*) from audit")
	echo "  (dedup, $c conns: $q queue entry, $a audit records committed)" >&2

	serve_up "$TMP/queue$c"
	run_wrk "runbook queue" "$c" "http://127.0.0.1:$PORT/alertmanager" \
		unique.lua
	serve_down
	q=$(sqlite3 "$TMP/queue$c/state.db" "select count(*) from queue")
	echo "  (queue, $c conns: $q queue entries committed)" >&2
done

if command -v webhook >/dev/null; then
	WPORT=$(free_port)
	webhook -hooks hooks.json -ip 127.0.0.1 -port "$WPORT" \
		>webhook.log 2>&1 &
	WPID=$!
	PIDS="$PIDS $WPID"
	wait_http "http://127.0.0.1:$WPORT/"
	for c in $CONNS; do
		run_wrk "webhook sync" "$c" "http://127.0.0.1:$WPORT/hooks/sync" \
			fixed.lua
		run_wrk "webhook async" "$c" \
			"http://127.0.0.1:$WPORT/hooks/async" fixed.lua
		sleep 2		# let async's backlog drain a little
	done
	kill "$WPID"
fi

# --- latency ----------------------------------------------------------------

# post_seq PORT PATH OUT: LAT_N sequential POSTs, each a new alert (seq
# label, startsAt), LAT_GAP apart on one keep-alive connection; OUT gets
# "seq t_post t_answer status" lines.
post_seq() {
	python3 - "$1" "$2" "$TOKEN" "$LAT_N" "$LAT_GAP" <<'EOF' >"$3"
import http.client, json, sys, time
port, path, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
n, gap = int(sys.argv[4]), float(sys.argv[5])
d = json.load(open("payload.json"))
c = http.client.HTTPConnection("127.0.0.1", port)
for i in range(1, n + 1):
    d["alerts"][0]["startsAt"] = "2024-05-02T10:00:00.%09dZ" % i
    d["alerts"][0]["labels"]["seq"] = str(i)
    d["alerts"][0]["fingerprint"] = ""
    body = json.dumps(d)
    t0 = time.time()
    c.request("POST", path, body, {
        "Authorization": "Bearer " + token,
        "Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    t1 = time.time()
    print("%d\t%.6f\t%.6f\t%d" % (i, t0, t1, r.status))
    time.sleep(gap)
EOF
}

serve_up "$TMP/lat"
post_seq "$PORT" /alertmanager lat.tsv
sleep 2
serve_down
if command -v webhook >/dev/null; then
	webhook -hooks hooks.json -ip 127.0.0.1 -port "$WPORT" \
		>webhook-lat.log 2>&1 &
	WPID=$!
	PIDS="$PIDS $WPID"
	wait_http "http://127.0.0.1:$WPORT/"
	post_seq "$WPORT" /hooks/lat lat-webhook.tsv
	sleep 1
	kill "$WPID"
fi
python3 - "$TMP/lat" "$LAT_GAP" <<'EOF'
import calendar, json, os, sqlite3, sys, time
state = sys.argv[1]
def posts_of(path):
    posts = {}
    if os.path.exists(path):
        for line in open(path):
            i, t0, t1, code = line.split("\t")
            posts[int(i)] = (float(t0), float(t1), int(code))
    return posts
def starts_of(path):
    step = {}
    if os.path.exists(path):
        for line in open(path):
            s, t = line.split()
            step[int(s)] = float(t)
    return step
posts = posts_of("lat.tsv")
db = sqlite3.connect(os.path.join(state, "state.db"))
seq_of = {qid: int(json.loads(p)["seq"])
          for qid, p in db.execute("select id, params from queue")}
def wall(ts):   # "2026-11-23T19:00:00.123Z" -> seconds
    return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) + \
        int(ts[20:23]) / 1000.0
spawn = {}
for line in open(state + ".log"):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("msg") == "run started" and r.get("queue_id") in seq_of:
        spawn[seq_of[r["queue_id"]]] = wall(r["ts"])
step = starts_of("starts.log")
wposts = posts_of("lat-webhook.tsv")
wstep = starts_of("starts-webhook.log")
def q(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]
results = open("lat.results", "w")
def row(name, xs, metric=None, variant=None):
    if not xs:
        print("| %s | n/a | | | |" % name)
        if metric:
            results.write("%s_p50\t%s\tn/a\tno data\n" % (metric, variant))
        return
    xs = [x * 1000 for x in xs]
    print("| %s | %d | %.2f | %.2f | %.2f |" % (name, len(xs), q(xs, 50),
          q(xs, 90), max(xs)))
    if metric:
        for p in (50, 90):
            results.write("%s_p%d\t%s\t%.2f\tms\n" % (metric, p, variant,
                          q(xs, p)))
ok = [i for i, p in posts.items() if p[2] == 202]
wok = [i for i, p in wposts.items() if p[2] == 200]
print()
print("latency, %d sequential POSTs %s s apart (ms)" % (len(posts),
      sys.argv[2]))
print()
print("| measure | n | p50 | p90 | max |")
print("|---|---|---|---|---|")
row("runbook: POST -> 202 (queue entry committed)",
    [posts[i][1] - posts[i][0] for i in ok], "webhook.answer", "runbook")
row("runbook: POST -> run child spawned (log, ms resolution)",
    [spawn[i] - posts[i][0] for i in ok if i in spawn])
row("runbook: POST -> step process running",
    [step[i] - posts[i][0] for i in ok if i in step], "webhook.start",
    "runbook")
if wposts:
    row("adnanh async: POST -> 200",
        [wposts[i][1] - wposts[i][0] for i in wok], "webhook.answer",
        "adnanh-async")
    row("adnanh async: POST -> command process running",
        [wstep[i] - wposts[i][0] for i in wok if i in wstep],
        "webhook.start", "adnanh-async")
EOF

echo
echo "throughput, wrk -t1 for ${DURATION}s on loopback"
echo
echo "| configuration | conns | requests/s | p50 ms | p99 ms | requests | non-2xx |"
echo "|---|---|---|---|---|---|---|"
awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }' "$RESULTS"

# Result lines: configuration names become variants like runbook-queue/c8.
awk -F'\t' '{
	v = $1; sub(/^webhook /, "adnanh ", v); gsub(/ /, "-", v); v = v "/c" $2
	printf "webhook.rps\t%s\t%s\treq/s\n", v, $3
	printf "webhook.p50\t%s\t%s\tms\n", v, $4
	printf "webhook.p99\t%s\t%s\tms\n", v, $5
	if ($7 > 0)
		printf "webhook.non2xx\t%s\t%s\tresponses\n", v, $7
}' "$RESULTS" >&3
cat lat.results >&3
