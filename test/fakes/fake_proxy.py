#!/usr/bin/python3
"""A forward HTTP proxy that records every request it is asked to forward.

A client using an HTTP proxy for an http:// URL sends the request with the
absolute URL as its target ("absolute-form", RFC 9112 section 3.2.2:
GET http://host:port/path HTTP/1.1); for an https:// URL it asks for a tunnel
first (CONNECT host:port, section 3.2.3).  This proxy records each one as
(method, target, headers), forwards absolute-form requests to their origin
and relays the answer, and refuses CONNECT (405: the fakes speak plain HTTP).

    proxy = RecordingProxy(("127.0.0.2", 0)).start(); proxy.url ...; proxy.stop()
"""
import http.client
import os
import sys
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_fake import Handler, Server  # noqa: E402

# hop-by-hop headers (RFC 9110 section 7.6.1) are not forwarded
HOP = {"connection", "proxy-connection", "keep-alive", "proxy-authorization", "te",
       "trailer", "transfer-encoding", "upgrade"}


class ProxyHandler(Handler):
    def forward(self):
        p = self.server.fake
        with p.lock:
            p.requests.append((self.command, self.path, dict(self.headers)))
        if self.command == "CONNECT":
            self.send(405, "no tunnels here")
            return
        u = urllib.parse.urlsplit(self.path)
        if u.scheme != "http" or not u.hostname:
            self.send(400, "a proxy wants an absolute http URL")
            return
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=30)
        try:
            conn.request(self.command, (u.path or "/") + ("?" + u.query if u.query else ""),
                         body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
        except OSError as e:
            self.send(502, "proxy: %s" % e)
            return
        finally:
            conn.close()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_CONNECT = forward


class RecordingProxy:
    def __init__(self, address=("127.0.0.1", 0)):
        self.lock = threading.Lock()
        self.requests = []
        self.httpd = Server(address, ProxyHandler)
        self.httpd.fake = self
        self.host, self.port = self.httpd.server_address[:2]
        self.url = "http://%s:%d" % (self.host, self.port)

    def start(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
