#!/usr/bin/env python3
"""A reference HTTP hook for mothd ([auth.http], docs/security.md): standard library only.
POST /auth answers a CONNECT from the user table; POST /acl allows each client its own devices/<client_id>/ tree."""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USERS = {  # username: (password, superuser, acl); acl filters may use %c (client id) and %u (user name)
    "admin": ("admin-secret", True, None),
    "sensor": ("sensor-secret", False, {"pub": ["devices/%c/#"], "sub": ["cmd/%c/#"]}),
}

class Hook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: mothd reuses its connections

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path == "/auth":
            user = USERS.get(req.get("username"))
            if user is None or user[0] != req.get("password"):
                answer = {"result": "deny"}  # or "ignore": let the next provider decide
            else:
                answer = {"result": "allow"}  # with neither superuser nor acl, the acl_file applies
                if user[1]:
                    answer["superuser"] = True
                if user[2]:
                    answer["acl"] = user[2]
        elif self.path == "/acl":
            mine = req["topic"].startswith(f"devices/{req['client_id']}/")
            answer = {"result": "allow" if mine else "ignore"}  # ignore: the acl_file decides
        else:
            return self.send_error(404)
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8090), Hook).serve_forever()
