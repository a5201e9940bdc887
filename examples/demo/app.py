#!/usr/bin/env python3
"""The demo application: a small web service the shipped runbooks can
diagnose, break and repair. It is deliberately boring, like the services
the runbooks are written for: a health endpoint, an API endpoint that
writes an nginx-style access log, Prometheus metrics, and a chat-webhook
stand-in that records what runbooks post to it.

Usage: app.py --dir DIR [--port N] [--bind ADDR] [--db HOST:PORT]

DIR holds the service's state, which the demo (and the runbooks) change:
  DIR/releases/NAME/mode  one word per release: ok, error (40% of API
                          requests fail with 500) or slow (600 ms each)
  DIR/current             symlink to the live release (read per request,
                          so switching it back is a rollback)
  DIR/cache/bloat         when present, every API request is 600 ms slower
                          (a bloated cache; POST /cache/flush clears it)
  DIR/maintenance.flag    when present, the API answers 503 (maintenance page)
  DIR/broken-config       when present, the service refuses to start

With --db, the service refuses to start while it cannot connect to its
database (so restarting it during a database outage fails until the
database is back, as real services do).
  DIR/log/access.log      one line per request, nginx "combined" + duration
  DIR/notify.log          bodies POSTed to /notify, one per line

Paths: GET /healthz, GET /api/orders, GET /metrics, POST /notify,
POST /cache/flush. Prints a line with its PID and port when it accepts
connections, then serves until SIGTERM.
"""
import argparse
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self, root):
        self.root = root
        self.lock = threading.Lock()
        self.requests = {}      # status code -> count
        self.api_calls = 0

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def release(self):
        """(name, mode) of the live release."""
        cur = self.path("current")
        name = os.path.basename(os.path.realpath(cur))
        try:
            with open(os.path.join(cur, "mode")) as f:
                mode = f.read().strip() or "ok"
        except OSError:
            mode = "missing"
        return name, mode

    def count(self, code):
        with self.lock:
            self.requests[code] = self.requests.get(code, 0) + 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "demo-app/1"
    state = None

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body, ctype="text/plain; charset=utf-8"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.state.count(code)
        self.access_log(code, len(body))

    def access_log(self, code, size):
        took = time.monotonic() - self.t0
        line = '%s - - [%s] "%s %s %s" %d %d "-" "%s" %.3f\n' % (
            self.client_address[0],
            time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            self.command, self.path, self.request_version, code, size,
            self.headers.get("User-Agent", "-"), took)
        with self.state.lock, open(self.state.path("log", "access.log"), "a") as f:
            f.write(line)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def api(self):
        st = self.state
        name, mode = st.release()
        if os.path.exists(st.path("maintenance.flag")):
            return self.reply(503, "down for maintenance\n")
        with st.lock:
            st.api_calls += 1
            n = st.api_calls
        if os.path.exists(st.path("cache", "bloat")):
            time.sleep(0.6)
        if mode == "slow":
            time.sleep(0.6)
        if mode == "error" and n % 5 in (1, 3):
            return self.reply(500, '{"error":"NullPointerException in OrderMapper"}\n',
                              "application/json")
        if mode not in ("ok", "slow", "error"):
            return self.reply(500, '{"error":"release %s has no mode"}\n' % name,
                              "application/json")
        self.reply(200, '{"orders":[],"release":"%s"}\n' % name, "application/json")

    def metrics(self):
        st = self.state
        name, _ = st.release()
        out = ["# TYPE http_requests_total counter"]
        with st.lock:
            for code in sorted(st.requests):
                out.append('http_requests_total{code="%d"} %d' % (code, st.requests[code]))
        out.append("# TYPE app_release_info gauge")
        out.append('app_release_info{release="%s"} 1' % name)
        self.reply(200, "\n".join(out) + "\n", "text/plain; version=0.0.4")

    def handle_any(self):
        self.t0 = time.monotonic()
        st = self.state
        path = self.path.split("?", 1)[0]
        data = self.body()
        if path == "/healthz":
            name, mode = st.release()
            if mode == "missing":
                return self.reply(503, "unhealthy: no live release\n")
            return self.reply(200, "ok release=%s\n" % name)
        if path == "/api/orders":
            return self.api()
        if path == "/metrics":
            return self.metrics()
        if path == "/notify" and self.command == "POST":
            with st.lock, open(st.path("notify.log"), "ab") as f:
                f.write(data.replace(b"\n", b" ") + b"\n")
            return self.reply(200, "ok\n")
        if path == "/cache/flush" and self.command == "POST":
            try:
                os.unlink(st.path("cache", "bloat"))
            except FileNotFoundError:
                pass
            return self.reply(200, "flushed\n")
        self.reply(404, "not found\n")

    do_GET = do_POST = do_HEAD = handle_any


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--db", default=None)
    args = ap.parse_args()
    if os.path.exists(os.path.join(args.dir, "broken-config")):
        sys.stderr.write("demo-app: fatal: invalid configuration in %s\n"
                         % os.path.join(args.dir, "broken-config"))
        return 1
    if args.db:
        host, port = args.db.rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
        except OSError as e:
            sys.stderr.write("demo-app: fatal: cannot connect to the database "
                             "at %s: %s\n" % (args.db, e.strerror or e))
            return 1
    for d in ("log", "cache"):
        os.makedirs(os.path.join(args.dir, d), exist_ok=True)
    Handler.state = State(args.dir)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    httpd = ThreadingHTTPServer((args.bind, args.port), Handler)
    # Nothing is buffered (each log line is written whole), so SIGTERM
    # can end the process at once.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print("demo-app: pid %d listening on %s:%d, release %s" % (
        os.getpid(), args.bind, httpd.server_address[1],
        Handler.state.release()[0]), flush=True)
    httpd.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
