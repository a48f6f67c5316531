#!/usr/bin/python3
"""A small HTTP server for testing kant's HTTP layer: it answers slowly, never,
with errors a set number of times, with 429 and Retry-After, or with large
bodies, and records every request (and how many were in flight at once).

    server = FakeHTTP(); server.start(); ... server.url("/ok"); server.stop()

Paths:
  /ok                      200 "hello"
  /slow?ms=N               200 "slow" after N ms
  /hang                    never answers (until the server stops)
  /big?kb=N                200 with N KB of data
  /status/CODE             CODE with body "status CODE"
  /flaky/ID?fail=N&status=S   S for the first N requests of ID, then 200 "recovered"
  /throttle/ID?retry_after=S  429 with Retry-After: S for the first request of ID, then 200
"""
import http.server
import socket
import sys
import threading
import time
import urllib.parse


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # headers and body go out in two writes: without this, Nagle's algorithm
        # and the client's delayed ACK hold every answer ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def send(self, code, body, headers=()):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        srv = self.server.fake
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        parts = url.path.strip("/").split("/")
        with srv.lock:
            srv.requests.append((time.time(), self.path, dict(self.headers)))
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        try:
            if parts[0] == "ok":
                self.send(200, "hello")
            elif parts[0] == "slow":
                time.sleep(int(q.get("ms", "500")) / 1000)
                self.send(200, "slow")
            elif parts[0] == "hang":
                srv.stopping.wait(120)
            elif parts[0] == "big":
                self.send(200, b"x" * (int(q.get("kb", "1")) * 1024))
            elif parts[0] == "status":
                self.send(int(parts[1]), "status " + parts[1])
            elif parts[0] == "flaky":
                with srv.lock:
                    n = srv.counts[url.path] = srv.counts.get(url.path, 0) + 1
                if n <= int(q.get("fail", "1")):
                    self.send(int(q.get("status", "503")), "try again")
                else:
                    self.send(200, "recovered")
            elif parts[0] == "throttle":
                with srv.lock:
                    n = srv.counts[url.path] = srv.counts.get(url.path, 0) + 1
                if n == 1:
                    self.send(429, "slow down", [("Retry-After", q.get("retry_after", "1"))])
                else:
                    self.send(200, "thanks")
            else:
                self.send(404, "no such path")
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with srv.lock:
                srv.in_flight -= 1


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128    # many clients connect at once (the default backlog is 5)

    def handle_error(self, request, client_address):
        # a client that hangs up (a size cap, a cancel) is not a server error
        if isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def on_fixed_port(make, port, wait=30.0):
    """make(port), retried while the port is taken, for a server whose port is
    named in the Postgres server's environment (test/harness/pgopts.sh) and so
    cannot be 0.  Those ports lie below Linux's ephemeral range (32768-60999),
    so no outgoing connection takes them; a socket of an earlier suite may
    still hold one for a moment."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return make(port)
        except OSError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


class FakeHTTP:
    def __init__(self, handler=Handler):
        self.lock = threading.Lock()
        self.requests = []
        self.counts = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.stopping = threading.Event()
        self.httpd = Server(("127.0.0.1", 0), handler)
        self.httpd.fake = self
        self.port = self.httpd.server_address[1]

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def settle(self, timeout=5.0):
        """Wait until requests a client gave up on (their connections closed
        mid-batch) have been answered, so they do not take the next faults."""
        time.sleep(0.2)
        end = time.time() + timeout
        while self.in_flight and time.time() < end:
            time.sleep(0.02)

    def reset_counters(self):
        with self.lock:
            self.max_in_flight = 0

    def start(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
