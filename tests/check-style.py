#!/usr/bin/env python3
# check-style.py [FILE...] - the house style (STYLE.md point 16) as the code
# is written: OpenBSD KNF with tabs, which clang-format cannot express. With
# no arguments, checks every .c and .h under src/ and include/runbook/.
#
# Each rule, and why it is a rule:
#   tabs       indentation is tabs (then at most 4 spaces of continuation)
#   columns    a line fits 80 columns, a tab counting to the next multiple of 8
#   trailing   no white space at the end of a line
#   comment    /* */ comments only, no //
#   return     a function definition's return type is on its own line, its
#              name at column 0 (so `grep ^name(` finds it)
#   brace      a function body's { is alone on its own line
#   file-size  a file has at most 1,200 lines
#   fn-size    a function has at most 120 lines, from its name to its }
#   includes   <sys/...>, then other <...>, a blank line, then "...";
#              every .c includes "runbook/banned.h", last
#   banned     none of the functions in include/runbook/banned.h
#
# Exceptions are listed in ALLOW below, each with its reason; an entry that
# no longer matches anything is itself reported, so the list cannot rot.
# Prints one line per violation (file:line: rule: what) and ends with
# "N passed, N failed": one check per rule over every file, and one that
# every ALLOW entry is still needed.
import os
import re
import sys

RULES = ("tabs columns trailing comment return brace file-size fn-size "
         "includes banned").split()
MAX_COLS = 80
MAX_FILE_LINES = 1200
MAX_FN_LINES = 120

# (rule, "path" or "path:function") -> why it may break the rule.
ALLOW = {
    ("fn-size", "src/cli/cmd_run.c:cmd_run"): "to be split (issue 14)",
    ("fn-size", "src/cli/cmd_runs.c:cmd_show"): "to be split (issue 14)",
    ("fn-size", "src/engine/engine.c:rb_run"): "to be split (issue 14)",
    ("fn-size", "src/exec/proc.c:rb_proc_start"): "to be split (issue 14)",
    ("fn-size", "src/exec/ssh_exec.c:exec_step"): "to be split (issue 14)",
    ("fn-size", "src/exec/ssh_known_hosts.c:ssh_hostkey_verify"):
        "to be split (issue 14)",
    ("fn-size", "src/parse/parse_names.c:resolve_step_ref"):
        "to be split (issue 14)",
    ("fn-size", "src/parse/parse_step.c:parse_step"): "to be split (issue 14)",
}

BANNED = ("strcpy strcat strncpy strncat sprintf vsprintf strtok atoi atol "
          "atof gmtime localtime ctime asctime mktemp tmpnam gets system "
          "popen").split()
BANNED_RE = re.compile(r"\b(%s)\s*\(" % "|".join(BANNED))
# Words that can stand at column 0 before '(' without being a function name.
NOT_NAMES = {"if", "for", "while", "switch", "return", "sizeof", "defined"}


def blank_strings_and_comments(text):
    """Return (code, comments): text with string/char literals and comments
    replaced by spaces (newlines kept), and the list of (line, kind) of each
    comment where kind is '//' or '/*'."""
    out = []
    comments = []
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            comments.append((line, "//"))
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            comments.append((line, "/*"))
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            chunk = text[i:j]
            line += chunk.count("\n")
            out.append(re.sub(r"[^\n]", " ", chunk))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            # keep the quotes so that "" stays visible as a token
            out.append(c + " " * (j - i - 2) + c if j - i >= 2 else c)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out), comments


def columns(s):
    col = 0
    for ch in s:
        col = (col // 8 + 1) * 8 if ch == "\t" else col + 1
    return col


class Checker:
    def __init__(self):
        self.problems = []
        self.used_allow = set()

    def allowed(self, rule, key):
        if (rule, key) in ALLOW:
            self.used_allow.add((rule, key))
            return True
        return False

    def report(self, path, line, rule, msg):
        self.problems.append("%s:%d: %s: %s" % (path, line, rule, msg))

    def check_file(self, path):
        before = len(self.problems)
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        code, comments = blank_strings_and_comments(text)
        clines = code.split("\n")

        if len(lines) > MAX_FILE_LINES and not self.allowed("file-size",
                                                            path):
            self.report(path, len(lines), "file-size", "%d lines (at most "
                        "%d): split it along its sections" %
                        (len(lines), MAX_FILE_LINES))
        for ln, kind in comments:
            if kind == "//":
                self.report(path, ln, "comment", "// comment (use /* */)")
        for i, raw in enumerate(lines, 1):
            if raw != raw.rstrip():
                self.report(path, i, "trailing", "white space at the end")
            if columns(raw) > MAX_COLS:
                self.report(path, i, "columns", "%d columns (at most %d)" %
                            (columns(raw), MAX_COLS))
            lead = re.match(r"[ \t]*", raw).group(0)
            if raw.strip() and not re.fullmatch(r"\t* {0,4}", lead) and \
               not (i - 1 < len(clines) and
                    clines[i - 1].strip() == "" and
                    lead.endswith(" ")):
                # a comment's " * " continuation is fine, anything else is
                # indented with tabs first
                self.report(path, i, "tabs", "indent with tabs, then at "
                            "most 4 spaces")
        for i, cl in enumerate(clines, 1):
            m = BANNED_RE.search(cl)
            if m and not path.endswith("banned.h"):
                self.report(path, i, "banned", "'%s' is banned (see "
                            "include/runbook/banned.h)" % m.group(1))
        self.check_functions(path, clines)
        self.check_includes(path, lines, clines)
        return len(self.problems) == before

    def check_functions(self, path, clines):
        """Top-level function definitions: `type\\nname(args)\\n{ ... }`."""
        depth = 0
        i = 0
        n = len(clines)
        while i < n:
            cl = clines[i]
            if depth == 0 and not cl.startswith(("#", " ", "\t")):
                m = re.match(r"([A-Za-z_]\w*)\s*\(", cl)
                m2 = re.match(r"(?:[A-Za-z_][\w\s\*]*?[\s\*])"
                              r"([A-Za-z_]\w*)\s*\(", cl)
                if m2 and not m and m2.group(1) not in NOT_NAMES and \
                   not re.match(r"\s*(typedef|struct\s+\w+\s*\{|enum|"
                                r"union)", cl):
                    # a type before the name: a definition only if a body
                    # follows the closing parenthesis
                    end = self.params_end(clines, i, cl.index("(", m2.start(1)))
                    if end is not None and self.body_follows(clines, end):
                        self.report(path, i + 1, "return", "return type "
                                    "of '%s' on its own line, the name at "
                                    "column 0" % m2.group(1))
                elif m and m.group(1) not in NOT_NAMES:
                    end = self.params_end(clines, i, cl.index("("))
                    if end is not None and self.body_follows(clines, end):
                        name = m.group(1)
                        eline, ecol = end
                        rest = clines[eline][ecol + 1:]
                        if "{" in rest:
                            self.report(path, eline + 1, "brace", "the { "
                                        "of '%s' on a line of its own" %
                                        name)
                        b = self.find_brace(clines, eline)
                        if b is not None:
                            close = self.find_close(clines, b)
                            size = close - i + 1
                            key = "%s:%s" % (path, name)
                            if size > MAX_FN_LINES and \
                               not self.allowed("fn-size", key):
                                self.report(path, i + 1, "fn-size",
                                            "'%s' has %d lines (at most "
                                            "%d): split it into helpers" %
                                            (name, size, MAX_FN_LINES))
            depth += cl.count("{") - cl.count("}")
            i += 1

    @staticmethod
    def params_end(clines, i, col):
        """(line, col) of the ')' closing the '(' at clines[i][col]."""
        d = 0
        for j in range(i, min(i + 40, len(clines))):
            s = clines[j]
            for k in range(col if j == i else 0, len(s)):
                if s[k] == "(":
                    d += 1
                elif s[k] == ")":
                    d -= 1
                    if d == 0:
                        return (j, k)
        return None

    @staticmethod
    def body_follows(clines, end):
        """Whether a '{' (not ';' or ',') is the next token after end."""
        j, k = end
        rest = clines[j][k + 1:]
        while True:
            t = rest.strip()
            if t:
                # attributes such as RB_PRINTFLIKE(1, 2) may stand between
                t = re.sub(r"^[A-Z_][A-Z0-9_]*(\([^)]*\))?\s*", "", t)
                if t:
                    return t.startswith("{")
            j += 1
            if j >= len(clines):
                return False
            rest = clines[j]

    @staticmethod
    def find_brace(clines, j):
        for k in range(j, min(j + 5, len(clines))):
            if "{" in clines[k]:
                return k
        return None

    @staticmethod
    def find_close(clines, b):
        d = 0
        for k in range(b, len(clines)):
            d += clines[k].count("{") - clines[k].count("}")
            if d == 0:
                return k
        return len(clines) - 1

    def check_includes(self, path, lines, clines):
        incs = []
        for i, raw in enumerate(lines, 1):
            m = re.match(r'#\s*include\s*([<"])([^>"]*)[>"]', raw)
            if m:
                incs.append((i, m.group(1), m.group(2)))
        if path.endswith(".c"):
            if not incs or incs[-1][2] != "runbook/banned.h":
                where = incs[-1][0] if incs else 1
                self.report(path, where, "includes", '"runbook/banned.h" '
                            "is not the last include")
        if path.endswith("banned.h"):
            return
        state = 0       # 0: <sys/>, 1: <...>, 2: "..."
        prev = None
        for ln, kind, name in incs:
            if kind == "<":
                want = 0 if name.startswith("sys/") else 1
            else:
                want = 2
            if want < state:
                self.report(path, ln, "includes", "#include %s%s%s after "
                            "%s" % (kind, name, ">" if kind == "<" else '"',
                                    ("<sys/...>", "<...>", '"..."')[state]))
            elif want == 2 and state < 2 and prev is not None and \
                    lines[ln - 2].strip() != "":
                self.report(path, ln, "includes", "a blank line between "
                            '<...> and "..." includes')
            state = max(state, want)
            prev = ln


# --self-test: each snippet must break exactly the rules named, so that a
# checker that stopped seeing a rule fails here instead of passing silently.
SELF_TESTS = [
    ("good.c", "#include <sys/types.h>\n#include <stdio.h>\n\n"
     '#include "runbook/util.h"\n#include "runbook/banned.h"\n\n'
     "/* a comment with http://x in it */\nstatic int\n"
     "f(int a,\n    int b)\n{\n\tputs(\"a // b\");\n\treturn a + b;\n}\n",
     set()),
    ("ret.c", "static int f(void)\n{\n\treturn 0;\n}\n"
     '#include "runbook/banned.h"\n', {"return"}),
    ("brace.c", "int\nf(void) {\n\treturn 0;\n}\n"
     '#include "runbook/banned.h"\n', {"brace"}),
    ("ws.c", "int x; \n        int y;\n// no\n"
     '#include "runbook/banned.h"\n', {"trailing", "tabs", "comment"}),
    ("cols.c", "/* " + "x" * 78 + " */\n" '#include "runbook/banned.h"\n',
     {"columns"}),
    ("inc.c", '#include "a.h"\n#include <stdio.h>\n', {"includes"}),
    ("ban.c", "void\nf(char *d)\n{\n\tstrcpy(d, \"x\");\n}\n"
     '#include "runbook/banned.h"\n', {"banned"}),
    ("long.c", "void\nf(void)\n{\n" + "\tg();\n" * 118 + "}\n"
     '#include "runbook/banned.h"\n', {"fn-size"}),
    ("big.h", "int x;\n" * 1201, {"file-size"}),
]


def self_test():
    import tempfile
    passed = failed = 0
    with tempfile.TemporaryDirectory() as d:
        for name, text, want in SELF_TESTS:
            path = os.path.join(d, name)
            with open(path, "w") as f:
                f.write(text)
            ch = Checker()
            ch.check_file(path)
            got = {p.split(": ")[1] for p in ch.problems}
            if got == want:
                passed += 1
            else:
                failed += 1
                print("not ok - self-test %s: want %s, got %s" %
                      (name, sorted(want), sorted(got)))
                for p in ch.problems:
                    print("  " + p)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    root = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
    os.chdir(root)
    files = argv[1:]
    if not files:
        for top in ("src", "include/runbook"):
            for d, _, names in os.walk(top):
                files += [os.path.join(d, x) for x in names
                          if x.endswith((".c", ".h"))]
        files.sort()
    ch = Checker()
    for f in files:
        ch.check_file(f)
    for p in ch.problems:
        print("not ok - " + p)
    # one check per rule, over every file
    broken = {p.split(": ")[1] for p in ch.problems}
    passed = failed = 0
    for rule in RULES:
        if rule in broken:
            failed += 1
        else:
            passed += 1
            print("ok - %s: %d files" % (rule, len(files)))
    if len(argv) == 1:
        stale = sorted(set(ALLOW) - ch.used_allow)
        for rule, key in stale:
            print("not ok - tests/check-style.py: ALLOW entry (%s, %s) "
                  "matches nothing: remove it" % (rule, key))
        failed += 1 if stale else 0
        passed += 0 if stale else 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
