"""A scripted HTTP auth hook for interop tests of mothd's [auth.http] provider (test_auth_http.py).

`HookServer` is Python's http.server.ThreadingHTTPServer on 127.0.0.1, port 0, served from a thread. It answers
POST /auth (authentication, keyed by the request's "username") and POST /acl (authorization, keyed by "topic") with
scripted `Answer`s: a status, a body (a dict sent as JSON, or raw text for malformed answers) and an optional delay
before answering. It records every request's path and JSON body, so a test can assert what mothd sent and how often
it asked. Waits are bounded by a deadline; a delayed answer waits on an event that stop() sets, so a test never
leaves a handler thread asleep behind it.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from broker import HOST


class Answer:
    """One scripted answer: `body` is a dict (sent as JSON), str/bytes (sent as they are) or None (no body)."""

    def __init__(self, status=200, body=None, delay_s=0.0):
        self.status = status
        self.body = body
        self.delay_s = delay_s

    def payload(self):
        if self.body is None:
            return b""
        if isinstance(self.body, dict):
            return json.dumps(self.body).encode()
        return self.body.encode() if isinstance(self.body, str) else self.body


ALLOW_204 = Answer(204)
DENY = Answer(200, {"result": "deny"})
IGNORE = Answer(200, {"result": "ignore"})


def allow(**extra):
    """{"result": "allow"} plus e.g. superuser=True or acl={...}."""
    return Answer(200, {"result": "allow", **extra})


class HookServer:
    AUTH = "/auth"
    ACL = "/acl"

    def __init__(self, auth=None, auth_default=DENY, acl=None, acl_default=ALLOW_204):
        self.auth = dict(auth or {})  # username (None: no user name) -> Answer
        self.auth_default = auth_default
        self.acl = dict(acl or {})  # topic or topic filter -> Answer
        self.acl_default = acl_default
        self.cond = threading.Condition()
        self.records = []  # (path, parsed JSON body), in arrival order
        self.released = threading.Event()  # set by stop(): delayed answers go at once
        self.server = None
        self.thread = None

    @property
    def port(self):
        return self.server.server_address[1]

    def url(self, path):
        return f"http://{HOST}:{self.port}{path}"

    def start(self):
        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as mothd's connection pool expects

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = hook._record(self.path, raw)
                if answer.delay_s:
                    hook.released.wait(answer.delay_s)  # the slow hook under test, cut short by stop()
                payload = answer.payload()
                try:
                    self.send_response(answer.status)
                    if answer.status != 204:
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if answer.status != 204:
                        self.wfile.write(payload)
                except OSError:
                    pass  # mothd gave up on us (timeout_ms) and closed the connection: expected

            def log_message(self, fmt, *args):
                pass  # the records are the log

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="hookserver", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.released.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(timeout=10)
            self.server = None

    # -- what mothd asked -----------------------------------------------------------------------------------
    def _record(self, path, raw):
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"unparsable": raw.decode(errors="replace")}
        with self.cond:
            self.records.append((path, body))
            self.cond.notify_all()
        if path == self.AUTH:
            return self.auth.get(body.get("username"), self.auth_default)
        if path == self.ACL:
            return self.acl.get(body.get("topic"), self.acl_default)
        return Answer(404, {"error": "no such path"})

    def requests(self, path, **match):
        """The JSON bodies POSTed to `path` whose members equal `match`, in arrival order."""
        with self.cond:
            return [b for p, b in self.records if p == path and all(b.get(k) == v for k, v in match.items())]

    def wait_requests(self, path, n, timeout, **match):
        """Waits until at least n requests to `path` match; returns them. AssertionError after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [b for p, b in self.records if p == path and all(b.get(k) == v for k, v in match.items())]
                if len(found) >= n:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout} s waiting for {n} requests to {path} "
                                         f"matching {match}; saw {self.records}")
                self.cond.wait(left)
