#!/bin/sh
# The injection corpus (tests/fixtures/hostile/gen.py): every hostile
# string, sent as a param locally, as a param over SSH and as an alert
# label through `runbook serve`, arrives byte-identical in the step (bare,
# inside the author's "...", inside the author's '...', and as
# RUNBOOK_PARAM_* / RUNBOOK_ALERT_LABEL_*), and the canary file that every
# string aims at is never created.
#
# Strings go in batches (up to 400 params per run, their writes packed
# into a few steps that each write one file) so that thousands of them
# take seconds, not minutes.
. "$(dirname "$0")/lib.sh"

CANARY=$TEST_TMP/CANARY
CASES=$TEST_TMP/cases
export CANARY CASES TEST_TMP
mkdir runbooks

# inj.py: the driver. Subcommands:
#   local | ssh INVENTORY         run every case through `runbook run`
#   serve-prep                    write the runbooks and routes.yaml
#   serve URL TOKEN               post every case as alert labels, wait
#                                 for the runs, compare the outputs
# Each prints how many strings (and values: strings x ways of writing
# them) arrived intact, or names every failing case and exits 1.
cat >inj.py <<'EOF'
import json, os, sqlite3, subprocess, sys, time, urllib.request

RUNBOOK = os.environ["RUNBOOK"]
CASES = os.environ["CASES"]
TMP = os.environ["TEST_TMP"]
SLOTS = 400                 # params per run
BUDGET = 512 * 1024         # bytes of values per run (argv + env < 2 MiB)
CMD_CAP = 96 * 1024         # bytes of one step's command...
MAX_ARG_STRLEN = 128 * 1024 # ...which must fit in one argv string
T0 = time.monotonic()

# How each value is written, as (kind, shell text): bare, inside the
# author's "...", inside the author's '...', from the environment; and
# for webhook runs the alert label itself, bare and from the environment.
WAYS = [("b", "printf %%s {{ params.v%d }}"),
        ("d", "printf %%s \"{{ params.v%d }}\""),
        ("s", "printf %%s '{{ params.v%d }}'"),
        ("e", "printf %%s \"$RUNBOOK_PARAM_V%d\"")]
SERVE_WAYS = WAYS + [("l", "printf %%s {{ alert.labels.l%d }}"),
                     ("a", "printf %%s \"$RUNBOOK_ALERT_LABEL_L%d\"")]


def load():
    cases = []
    with open(os.path.join(CASES, "index.tsv"), encoding="ascii") as f:
        for line in f:
            cid, cat, n, utf8, desc = line.rstrip("\n").split("\t", 4)
            with open(os.path.join(CASES, cid), "rb") as g:
                v = g.read()
            assert len(v) == int(n), cid
            cases.append({"id": cid, "cat": cat, "utf8": utf8 == "utf8",
                          "desc": desc, "value": v})
    return cases


def batches(cases):
    out, cur, size = [], [], 0
    for c in cases:
        n = len(c["value"])
        if cur and (len(cur) == SLOTS or size + n > BUDGET):
            out.append(cur)
            cur, size = [], 0
        cur.append(c)
        size += n
    if cur:
        out.append(cur)
    return out


def rendered(kind, v):
    """A generous estimate of the bytes one write adds to a command."""
    if kind in "bsl":
        return len(v) + 3 * v.count(b"'") + 64
    if kind == "d":
        return len(v) + sum(v.count(ch) for ch in b'\\"$`') + 64
    return 64


def marker(i, kind):
    return "<@%s%d@>" % (kind, i)


def plan(batch, serve):
    """Pack the writes of a batch into steps: [[(slot, kind, text)...]...]."""
    steps, cur, size = [], [], 0
    for i, c in enumerate(batch):
        for kind, text in (SERVE_WAYS if serve else WAYS):
            n = rendered(kind, c["value"])
            assert n < MAX_ARG_STRLEN, (c["id"], kind)
            if cur and size + n > CMD_CAP:
                steps.append(cur)
                cur, size = [], 0
            cur.append((i, kind, text % i))
            size += n
    steps.append(cur)
    return steps


def runbook(name, nparams, steps, workdir, target=None):
    """Params v0..vN-1; step wK writes its values, each followed by a
    marker, to the file oK in workdir."""
    y = ["runbook: " + name, "params:"]
    y += ["  v%d: {}" % i for i in range(nparams)]
    y += ["steps:"]
    for k, st in enumerate(steps):
        cmd = "; ".join("%s; printf %%s '%s'" % (text, marker(i, kind))
                        for i, kind, text in st)
        y += ["  - id: w%d" % k, "    needs: []",
              "    workdir: " + json.dumps(workdir),
              "    run: " + json.dumps("{ %s; } >o%d" % (cmd, k))]
        if target:
            y += ["    on: " + target]
    with open("runbooks/%s.yaml" % name, "w") as f:
        f.write("\n".join(y) + "\n")


def expected(c, serve):
    if serve and not c["utf8"]:
        # JSON cannot carry invalid UTF-8: these go as the code points of
        # their bytes read as Latin-1 (\u0080-\u00ff), so they arrive as
        # the UTF-8 of those code points.
        return c["value"].decode("latin-1").encode("utf-8")
    return c["value"]


def compare(batch, steps, workdir, serve, bad):
    """Check each step's output file; returns the number of values seen
    intact (every way of every case)."""
    ok = 0
    for k, st in enumerate(steps):
        try:
            with open(os.path.join(workdir, "o%d" % k), "rb") as f:
                got = f.read()
        except OSError:
            got = None
        pos, nbad = 0, len(bad)
        for i, kind, _ in st:
            c = batch[i]
            want = expected(c, serve)
            mk = marker(i, kind).encode()
            what = "case %s (%s) %s: %s%d" % (c["id"], c["cat"],
                                              c["desc"], kind, i)
            if got is None:
                bad.append(what + " missing (no %s/o%d)" % (workdir, k))
                continue
            end = pos + len(want)
            if got[pos:end] == want and got[end:end + len(mk)] == mk:
                ok += 1
                pos = end + len(mk)
                continue
            # Resynchronise on the marker so the next case is judged alone.
            at = got.find(mk, pos)
            seen = got[pos:at] if at >= 0 else got[pos:pos + 80]
            bad.append(what + " differs: got %d bytes %s, want %d bytes" % (
                len(seen), ascii(seen[:80]), len(want)))
            if at < 0:
                break
            pos = at + len(mk)
        if got is not None and pos != len(got) and len(bad) == nbad:
            bad.append("%s/o%d: %d unexpected bytes at the end" % (
                workdir, k, len(got) - pos))
    return ok


def run_channel(channel, inventory):
    bad, checked, ways = [], 0, 0
    for b, batch in enumerate(batches(load())):
        name = "inj-%s-%d" % (channel, b)
        wd = os.path.join(TMP, "out", channel, str(b))
        os.makedirs(wd)
        steps = plan(batch, False)
        runbook(name, len(batch), steps, wd, "web1" if inventory else None)
        argv = [RUNBOOK, "run", name, "--jobs", "4"]
        if inventory:
            argv += ["--inventory", inventory]
        for i, c in enumerate(batch):
            argv += ["-p", b"v%d=" % i + c["value"]]
        r = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        if r.returncode != 0:
            bad.append("batch %d (cases %s-%s) exited %d: %s" % (
                b, batch[0]["id"], batch[-1]["id"], r.returncode,
                r.stderr.decode("utf-8", "replace")[-2000:]))
        ways += compare(batch, steps, wd, False, bad)
        checked += len(batch)
    return checked, ways, bad


def fingerprint(labels):
    h = 14695981039346656037
    for k in sorted(labels):
        for x in k.encode() + b"\xff" + labels[k].encode() + b"\xff":
            h = ((h ^ x) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


ENCODINGS = ("raw", "ascii")   # UTF-8 in the body, or \u escapes only


def serve_prep():
    routes = ["auth: {bearer_token_env: WH_TOKEN}", "max_body: 16MiB",
              "max_runs: 4", "routes:"]
    for b, batch in enumerate(batches(load())):
        name = "inj-serve-%d" % b
        for enc in ENCODINGS:
            os.makedirs(os.path.join(TMP, "out", "serve", enc, str(b)))
        runbook(name, len(batch), plan(batch, True),
                os.path.join(TMP, "out", "serve", "{{ alert.labels.enc }}",
                             str(b)))
        params = ", ".join("v%d: \"{{ alert.labels.l%d }}\"" % (i, i)
                           for i in range(len(batch)))
        routes += ["  - name: b%d" % b,
                   "    match: {alertname: Injection, batch: \"%d\"}" % b,
                   "    runbook: " + name,
                   "    params: {%s}" % params, "    dedup: 1h"]
    with open("routes.yaml", "w") as f:
        f.write("\n".join(routes) + "\n")


def serve_post(url, token):
    alerts = {enc: [] for enc in ENCODINGS}
    for b, batch in enumerate(batches(load())):
        for enc in ENCODINGS:
            labels = {"alertname": "Injection", "batch": str(b),
                      "enc": enc}
            for i, c in enumerate(batch):
                labels["l%d" % i] = expected(c, True).decode("utf-8")
            alerts[enc].append({
                "status": "firing", "labels": labels,
                "annotations": {"summary": "injection corpus"},
                "startsAt": "2024-05-01T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": fingerprint(labels)})
    for enc in ENCODINGS:
        al = alerts[enc]
        for k in range(0, len(al), 8):
            body = json.dumps({
                "receiver": "runbook", "status": "firing",
                "alerts": al[k:k + 8], "groupLabels": {},
                "commonLabels": {}, "commonAnnotations": {},
                "externalURL": "http://alertmanager:9093", "version": "4",
                "groupKey": "{}:{}", "truncatedAlerts": 0},
                ensure_ascii=(enc == "ascii")).encode("utf-8")
            if enc == "ascii":
                assert max(body) < 0x80
            req = urllib.request.Request(url, data=body, headers={
                "Authorization": "Bearer " + token,
                "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=60) as r:
                resp = json.loads(r.read())
                assert r.status == 202, (r.status, resp)
            assert resp.get("queued") == len(al[k:k + 8]), resp


def serve_check():
    bs = batches(load())
    db = sqlite3.connect(os.path.join(os.environ["RUNBOOK_STATE_DIR"],
                                      "state.db"), timeout=10)
    deadline = time.monotonic() + 180
    while True:
        left = db.execute("select count(*) from queue where status in "
                          "('queued', 'started')").fetchone()[0]
        if left == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    bad = []
    rows = db.execute("select route, status, run_id from queue").fetchall()
    if left or len(rows) != len(bs) * len(ENCODINGS):
        bad.append("%d queue entries, %d unfinished; want %d" % (
            len(rows), left, len(bs) * len(ENCODINGS)))
    for route, status, run_id in rows:
        if status != "done":
            bad.append("route %s (run %s): %s" % (route, run_id, status))
    checked = ways = 0
    for enc in ENCODINGS:
        for b, batch in enumerate(bs):
            wd = os.path.join(TMP, "out", "serve", enc, str(b))
            ways += compare(batch, plan(batch, True), wd, True, bad)
            checked += len(batch)
    return checked, ways, bad


def finish(channel, checked, ways, bad, how=""):
    if bad:
        for line in bad[:60]:
            print(line)
        print("%d failures in channel %s" % (len(bad), channel))
        sys.exit(1)
    print("%s: %d strings%s, %d values intact (%.1fs)" % (
        channel, checked, how, ways, time.monotonic() - T0))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd in ("local", "ssh"):
        inv = sys.argv[2] if cmd == "ssh" else None
        finish(cmd, *run_channel(cmd, inv))
    elif cmd == "serve-prep":
        serve_prep()
    elif cmd == "serve":
        serve_post(sys.argv[2], sys.argv[3])
        checked, ways, bad = serve_check()
        finish("serve", checked // len(ENCODINGS), ways, bad,
               " (each sent as UTF-8 and as \\u escapes)")
    else:
        sys.exit("inj.py: unknown command " + cmd)
EOF

test_expect_success 'the corpus: at least 1000 hostile strings, none with NUL' '
	python3 "$SRC_DIR/tests/fixtures/hostile/gen.py" "$CASES" "$CANARY" \
		>ncases &&
	test "$(cat ncases)" -ge 1000 &&
	test "$(wc -l <"$CASES/index.tsv")" = "$(cat ncases)" &&
	test "$(cat "$CASES"/[0-9]* | tr -cd "\\000" | wc -c)" = 0
'

# The harness can see an injection: under `| raw` a corpus string runs.
test_expect_success 'control: with | raw, a corpus string does create the canary' '
	cat >runbooks/raw.yaml <<-\EOF &&
	runbook: raw
	params:
	  v: {}
	steps:
	  - id: w
	    run: "true {{ params.v | raw }}"
	EOF
	v="\$(touch $CANARY)" &&
	grep -q "	inject	.*	$v\$" "$CASES/index.tsv" &&
	"$RUNBOOK" run raw -p "v=$v" 2>err &&
	test -e "$CANARY" &&
	rm "$CANARY"
'

test_expect_success 'locally: every string arrives byte-identical, nothing runs' '
	python3 inj.py local >local.out || { cat local.out; false; } &&
	cat local.out &&
	test ! -e "$CANARY"
'

# Linux caps one argv or environment string at 128 KiB (MAX_ARG_STRLEN);
# runbook has no param limit of its own, so that is where a local value
# stops: RUNBOOK_PARAM_V=<value> no longer fits. The corpus holds a value
# just under it; one over it must fail the step with a clear error.
cat >runbooks/big.yaml <<EOF
runbook: big
params:
  v: {}
steps:
  - id: w
    workdir: $TEST_TMP
    run: printf %s {{ params.v }} >big.out; printf %s "\$RUNBOOK_PARAM_V" >big.env
EOF
python3 -c 'import os, sys
c = os.environ["CANARY"]
pat = "$(touch %s);`touch %s`;" % (c, c)
n = 128 * 1024 - len("RUNBOOK_PARAM_V=")
sys.stdout.write((pat * (n // len(pat) + 1))[:n])' >over

test_expect_success 'locally: a value over the 128 KiB limit fails clearly' '
	test "$(wc -c <over)" = 131056 &&
	test_must_fail --exit 1 "$RUNBOOK" run big -p "v=$(cat over)" 2>err &&
	grep "cannot execute .*Argument list too long" err &&
	grep "at most 128 KiB in one argument or environment variable" err &&
	test ! -e big.out && test ! -e "$CANARY"
'

# --- over SSH --------------------------------------------------------------

if SSHD_LOGLEVEL=INFO sh "$SRC_DIR/tests/fixtures/sshd/start-sshd.sh" \
    "$TEST_TMP/sshd" >port 2>sshd.err; then
	test_kill_at_end "$(cat "$TEST_TMP/sshd/sshd.pid")"
	unset SSH_AUTH_SOCK
	cat >inventory.yaml <<-EOF
	defaults: {user: $(id -un), port: $(cat port), identity: $TEST_TMP/sshd/id_ed25519, known_hosts: $TEST_TMP/sshd/known_hosts}
	hosts:
	  web1: {address: 127.0.0.1}
	EOF

	test_expect_success 'over SSH: every string arrives byte-identical, nothing runs' '
		python3 inj.py ssh "$TEST_TMP/inventory.yaml" >ssh.out ||
			{ cat ssh.out; false; } &&
		cat ssh.out &&
		test ! -e "$CANARY"
	'

	test_expect_success 'over SSH: the environment is in the script, so the over-limit value arrives too' '
		sed "s/^  - id: w$/  - id: w\n    on: web1/" runbooks/big.yaml \
			>runbooks/bigssh.yaml &&
		sed -i "s/^runbook: big$/runbook: bigssh/" runbooks/bigssh.yaml &&
		"$RUNBOOK" run bigssh -p "v=$(cat over)" 2>err &&
		cmp over big.out && cmp over big.env &&
		test ! -e "$CANARY"
	'
else
	test_skip "over SSH" "cannot start sshd: $(cat sshd.err)"
	echo "ssh: skipped" >ssh.out
fi

# --- as alert labels through runbook serve ---------------------------------

if "$RUNBOOK" serve -h >/dev/null 2>&1; then
	PORT=$(test_free_port)
	URL=http://127.0.0.1:$PORT
	export WH_TOKEN=inj3ction-token
	python3 inj.py serve-prep
	"$RUNBOOK" serve --routes routes.yaml --listen "127.0.0.1:$PORT" \
		2>serve.log &
	SERVE_PID=$!
	test_kill_at_end $SERVE_PID
	n=0
	while [ $n -lt 100 ] && [ "$(curl -s -o /dev/null -w '%{http_code}' \
	    "$URL/healthz")" != 200 ]; do
		sleep 0.1
		n=$((n + 1))
	done

	test_expect_success 'as alert labels: every string arrives byte-identical, nothing runs' '
		python3 inj.py serve "$URL/alertmanager" "$WH_TOKEN" >serve.out ||
			{ cat serve.out; false; } &&
		cat serve.out &&
		test ! -e "$CANARY"
	'

	test_expect_success 'as alert labels: raw invalid UTF-8 in the body is a 400, nothing runs' '
		printf "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"Injection\",\"batch\":\"0\",\"enc\":\"raw\",\"l0\":\"\\377\\300\\257\$(touch %s)\"}}]}" \
			"$CANARY" >bad.json &&
		code=$(curl -s -o resp -w "%{http_code}" \
			-H "Authorization: Bearer $WH_TOKEN" \
			-H "Content-Type: application/json" \
			--data-binary @bad.json "$URL/alertmanager") &&
		test "$code" = 400 &&
		grep "malformed JSON" resp &&
		test ! -e "$CANARY"
	'
else
	test_skip "as alert labels" "serve is not in the command table"
	echo "serve: skipped" >serve.out
fi

test_expect_success 'the canary was never created' '
	test ! -e "$CANARY"
'

echo "# strings checked: $(cat ncases 2>/dev/null) in the corpus;" \
	"$(cat local.out ssh.out serve.out 2>/dev/null | tr '\n' ' ')"
test_done
