#!/bin/sh
# The README works as shown: every ```console block of README.md is replayed
# on a fresh account - a new home directory (/home/you, as the README
# writes it), no state, a minimal environment - in a checkout laid out as
# the README expects (runbooks/, playbooks/, examples/, build/runbook).
#
# A block is "$ command" lines, each followed by what it prints; "..." on a
# line of its own leaves lines out, inside a line it stands for the rest.
# Each command must exit 0, unless the next one is `echo $?`, whose shown
# output is then the exit code required. Every line shown must appear, in
# order, on the command's standard output or error. Run ids, timestamps,
# durations, byte counts and 64-hex digests match any value of their kind;
# a run id seen in output stands for the same run in later commands.
# `make` is not run again (the binary under test is used).
#
# Blocks that are not `console` must hold no "$ " prompts: illustrative
# commands are written as `sh` blocks, without prompts.
. "$(dirname "$0")/lib.sh"

HOMEDIR=$TEST_TMP/home/you
CLONE=$HOMEDIR/runbook
mkdir -p "$CLONE/build" &&
ln -s "$SRC_DIR/runbooks" "$SRC_DIR/playbooks" "$SRC_DIR/examples" "$CLONE/" &&
ln -s "$RUNBOOK" "$CLONE/build/runbook" || exit 1

python3 - "$SRC_DIR/README.md" "$CLONE" "$HOMEDIR" "$TEST_TMP" <<'PY'
import os, re, subprocess, sys

readme, clone, home, tmp = sys.argv[1:5]
text = open(readme).read()
passed = failed = 0


def report(ok, what, detail=""):
    global passed, failed
    n = passed + failed + 1
    if ok:
        passed += 1
        print("ok %d - %s" % (n, what))
    else:
        failed += 1
        print("not ok %d - %s" % (n, what))
        for l in detail.rstrip("\n").split("\n"):
            print("#   " + l)


# Every fenced block, with the line it starts on.
blocks = []
for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
    blocks.append((m.group(1), m.group(2), text.count("\n", 0, m.start()) + 2))
bad = [ln for info, body, ln in blocks
       if info != "console" and re.search(r"^\$ ", body, re.M)]
report(not bad, "every block with $ prompts is a console block (replayed)",
       "README.md:%s: a '%s' block has '$ ' prompts: make it 'console' "
       "or drop the prompts" % (bad[0] if bad else "", "sh"))
consoles = [(body, ln) for info, body, ln in blocks if info == "console"]
report(len(consoles) >= 5, "README.md has its console blocks (%d)"
       % len(consoles))

RUNID = r"\d{8}T\d{6}Z-[0-9a-f]{8}"
TOKENS = re.compile(
    r"(?P<runid>%s)|(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"
    r"|(?P<hex>\b[0-9a-f]{64}\b)|(?P<bytes>bytes=\d+)"
    r"|(?P<dur>\b\d+(?:\.\d+)?(?:ms|s)\b|\b\d+m\d\ds\b)|(?P<gap>\.\.\.)"
    % RUNID)
bound = {}      # run id in the README -> the run id of this replay


def squash(s):
    return re.sub(r"\s+", " ", s).strip()


def pattern(line):
    """A regex for one shown line; new run ids become named groups."""
    out, pos, groups = "", 0, {}
    for m in TOKENS.finditer(line):
        out += re.escape(line[pos:m.start()])
        pos = m.end()
        k = m.lastgroup
        if k == "runid":
            rid = m.group()
            if rid in bound:
                out += re.escape(bound[rid])
            elif rid in groups:
                out += "(?P=%s)" % groups[rid]
            else:
                groups[rid] = "g%d" % len(groups)
                out += "(?P<%s>%s)" % (groups[rid], RUNID)
        elif k == "ts":
            out += r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
        elif k == "hex":
            out += "[0-9a-f]{64}"
        elif k == "bytes":
            out += r"bytes=\d+"
        elif k == "dur":
            out += r"(?:\d+(?:\.\d+)?(?:ms|s)|\d+m\d\ds)"
        else:
            out += ".*"
    out += re.escape(line[pos:])
    return re.compile("^" + out + "$"), groups


envfile = os.path.join(tmp, "tour.env")
open(envfile, "w").close()
base_env = {"HOME": home, "PATH": "/usr/local/bin:/usr/bin:/bin",
            "USER": os.environ.get("USER", "you"),
            "LOGNAME": os.environ.get("LOGNAME", "you"), "LANG": "C.UTF-8"}
for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TMPDIR"):
    if k in os.environ:
        base_env[k] = os.environ[k]


def run(cmd):
    """Run cmd in the clone with the environment earlier commands left."""
    script = ('. "%s"\ncd "%s" || exit 99\n%s\nrc=$?\nexport -p >"%s"\n'
              'exit $rc\n' % (envfile, clone, cmd, envfile))
    p = subprocess.run(["sh", "-c", script], env=base_env,
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=300)
    norm = lambda b: [squash(l.replace(tmp, ""))
                      for l in b.decode("utf-8", "replace").splitlines()]
    return p.returncode, norm(p.stdout), norm(p.stderr)


for body, first in consoles:
    # [(line number, command, [shown lines])]
    cmds = []
    for i, line in enumerate(body.split("\n")[:-1]):
        if line.startswith("$ "):
            cmds.append((first + i, line[2:], []))
        elif cmds:
            cmds[-1][2].append(line)
        elif line.strip():
            report(False, "README.md:%d: output before any command"
                   % (first + i))
    prev_rc = None
    for ln, cmd, shown in cmds:
        what = "README.md:%d: $ %s" % (ln, cmd)
        if cmd == "echo $?":
            want = [l for l in shown if l.strip()]
            report(prev_rc is not None and want == [str(prev_rc)], what,
                   "the command before exited %s, the README shows %s"
                   % (prev_rc, want))
            prev_rc = None
            continue
        if prev_rc not in (None, 0):
            report(False, "README.md: the command before line %d exited %d "
                   "and the README does not show it (echo $?)" % (ln, prev_rc))
        real = cmd
        for rid in set(re.findall(RUNID, cmd)):
            if rid not in bound:
                report(False, what, "run id %s was never printed before"
                       % rid)
                break
            real = real.replace(rid, bound[rid])
        if cmd == "make":
            real = "test -x build/runbook"
        rc, out, err = run(real)
        problems = []
        cur = {"out": 0, "err": 0}
        lines = {"out": out, "err": err}
        for s in shown:
            s = squash(s)
            if s == "..." or s == "":
                continue
            rx, groups = pattern(s)
            found = None
            for stream in ("out", "err"):
                for j in range(cur[stream], len(lines[stream])):
                    m = rx.match(lines[stream][j])
                    if m:
                        found = (stream, j, m)
                        break
                if found:
                    break
            if not found:
                problems.append("not printed (in this order): " + s)
                continue
            stream, j, m = found
            cur[stream] = j + 1
            for rid, g in groups.items():
                bound[rid] = m.group(g)
        if problems:
            problems += ["--- stdout:"] + out[:80] + ["--- stderr:"] + err[:80]
        next_is_echo = cmds.index((ln, cmd, shown)) + 1 < len(cmds) and \
            cmds[cmds.index((ln, cmd, shown)) + 1][1] == "echo $?"
        if rc != 0 and not next_is_echo:
            problems.insert(0, "exit %d (the README shows no failure)" % rc)
        report(not problems, what, "\n".join(problems))
        prev_rc = rc if next_is_echo else 0

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PY
