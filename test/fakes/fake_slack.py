#!/usr/bin/python3
"""A fake Slack incoming-webhook endpoint over real HTTP.

POST /services/<team>/<bot>/<secret> with a JSON body, answered as Slack
answers: 200 "ok" (text/html); 400 invalid_payload (not JSON) or
invalid_blocks (Block Kit limits broken: at most 50 blocks, a header's
plain_text at most 150 characters, a section's text at most 3000, at most 10
fields of at most 2000, context elements at most 10), 400 no_text (neither
text nor blocks); and, per webhook, what a test sets in behave[path]:
  "no_service"           404 no_service (the webhook was removed)
  "channel_is_archived"  410
  "429"                  429 Retry-After: 1 for the first request, then ok
  "500"                  500 for the first `fail` requests, then ok
  "hang"                 never answers
  "slow"                 records the message, answers after `delay` seconds
Every accepted message is kept in `received` (path, payload, time).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_fake import FakeHTTP, Handler  # noqa: E402


def block_problems(payload):
    if not isinstance(payload, dict):
        return "invalid_payload"
    blocks = payload.get("blocks")
    if not payload.get("text") and not blocks:
        return "no_text"
    if blocks is None:
        return None
    if not isinstance(blocks, list) or len(blocks) > 50:
        return "invalid_blocks"
    for b in blocks:
        t = b.get("type")
        if t == "header":
            txt = b.get("text", {})
            if txt.get("type") != "plain_text" or not 0 < len(txt.get("text", "")) <= 150:
                return "invalid_blocks"
        elif t == "section":
            txt = b.get("text")
            fields = b.get("fields", [])
            if txt is None and not fields:
                return "invalid_blocks"
            if txt is not None and (txt.get("type") not in ("mrkdwn", "plain_text") or not 0 < len(txt.get("text", "")) <= 3000):
                return "invalid_blocks"
            if len(fields) > 10 or any(not 0 < len(f.get("text", "")) <= 2000 for f in fields):
                return "invalid_blocks"
        elif t == "context":
            els = b.get("elements", [])
            if not 0 < len(els) <= 10:
                return "invalid_blocks"
        elif t not in ("divider", "actions", "image"):
            return "invalid_blocks"
    return None


class SlackHandler(Handler):
    def do_GET(self):
        # for people watching a demo: GET /received counts what was accepted
        s = self.server.fake
        if self.path != "/received":
            return self.send(404, "no_service")
        with s.lock:
            out = {"messages": len(s.received), "rejected": len(s.rejected),
                   "webhooks": sorted({m["path"].rsplit("/", 1)[0] + "/..." for m in s.received})}
        self.send(200, json.dumps(out), [("Content-Type", "application/json")])

    def do_POST(self):
        s = self.server.fake
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with s.lock:
            s.requests.append({"path": self.path, "time": time.time(), "headers": dict(self.headers)})
            n = s.counts[self.path] = s.counts.get(self.path, 0) + 1
        behave = s.behave.get(self.path, "ok")
        if not self.path.startswith("/services/"):
            return self.send(404, "no_service", [("Content-Type", "text/html")])
        if behave == "hang":
            s.stopping.wait(120)
            return
        if behave == "no_service":
            return self.send(404, "no_service", [("Content-Type", "text/html")])
        if behave == "channel_is_archived":
            return self.send(410, "channel_is_archived", [("Content-Type", "text/html")])
        if behave == "429" and n == 1:
            return self.send(429, "rate_limited", [("Content-Type", "text/html"), ("Retry-After", "1")])
        if behave == "500" and n <= s.fail:
            return self.send(500, "internal_error", [("Content-Type", "text/html")])
        try:
            payload = json.loads(body)
        except ValueError:
            return self.send(400, "invalid_payload", [("Content-Type", "text/html")])
        problem = block_problems(payload)
        if problem:
            with s.lock:
                s.rejected.append((self.path, problem, payload))
            return self.send(400, problem, [("Content-Type", "text/html")])
        with s.lock:
            s.received.append({"path": self.path, "payload": payload, "time": time.time()})
        if behave == "slow":
            time.sleep(s.delay)
        self.send(200, "ok", [("Content-Type", "text/html")])


class FakeSlack(FakeHTTP):
    def __init__(self):
        super().__init__(SlackHandler)
        self.behave = {}
        self.received = []
        self.rejected = []
        self.fail = 1
        self.delay = 3.0

    def webhook(self, name):
        return self.url("/services/T0KANT/B%s/%s-secret-token" % (name.upper(), name))

    def path(self, name):
        return "/services/T0KANT/B%s/%s-secret-token" % (name.upper(), name)

    def messages(self, name):
        return [m for m in self.received if m["path"] == self.path(name)]


if __name__ == "__main__":
    s = FakeSlack().start()
    print(s.webhook("demo"))
    s.stopping.wait()
