"""The http listener of mothd: static files, MQTT over WebSocket at /mqtt, the JSON API under /api/v1, /metrics,
API authentication, and refusals of bad HTTP. Driven by urllib/http.client, raw sockets and paho (TCP and
websockets transports) against the real mothd (docs/http-api.md is the contract checked here).

Every test gets its own mothd with an mqtt and an http listener on 127.0.0.1, port 0, two workers.
"""

import base64
import json
import os
import re
import shutil
import socket
import struct
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.subscribeoptions import SubscribeOptions

from broker import HOST, Broker, BrokerTestCase, take_mothd_from_argv
from pahoclient import V5, V311, Client, props

WAIT_S = 20


def unique(prefix="t"):
    return f"{prefix}{uuid.uuid4().hex[:10]}"


class HttpBroker(Broker):
    """A Broker with an http listener too; `ports` maps listener name -> (kind, port) once started."""

    def __init__(self, http_toml="", extra_toml=""):
        super().__init__(extra_toml=extra_toml)
        self.http_toml = http_toml
        self.ports = {}
        self.http_port = None

    def start(self):
        # [[listener]] tables may precede the base class's own one.
        self.extra_toml = (self.extra_toml + "\n" + f'[[listener]]\nname = "web"\nkind = "http"\nbind = "{HOST}"\n'
                           f"port = 0\n{self.http_toml}\n")
        super().start()
        with open(os.path.join(self.dir, "ports"), encoding="utf-8") as f:
            for line in f.read().splitlines():
                name, kind, _addr, port = line.split()
                self.ports[name] = (kind, int(port))
        self.http_port = self.ports["web"][1]
        return self


class HttpTestCase(BrokerTestCase):
    http_toml = ""
    extra_toml = ""

    def setUp(self):
        unittest.TestCase.setUp(self)
        self.broker = HttpBroker(self.http_toml, self.extra_toml)
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)
        self.broker.start()
        self.port = self.broker.port
        self.http_port = self.broker.http_port

    # -- HTTP helpers ---------------------------------------------------------------------------------------
    def request(self, method, path, body=None, headers=None):
        """(status, headers dict with lower-case names, body bytes); never raises for HTTP errors."""
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        headers = dict(headers or {})
        if data is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"  # urllib would say application/x-www-form-urlencoded
        req = urllib.request.Request(f"http://{HOST}:{self.http_port}{path}", data=data, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=WAIT_S) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def api(self, method, path, body=None, expect=200, headers=None):
        status, hdrs, data = self.request(method, "/api/v1/" + path, body, headers)
        self.assertEqual(status, expect, f"{method} /api/v1/{path}: {data!r}")
        self.assertEqual(hdrs.get("content-type"), "application/json")
        return json.loads(data)

    def raw_exchange(self, data, timeout=WAIT_S):
        """Sends raw bytes on a fresh connection and reads until the server closes it; returns what came back."""
        with socket.create_connection((HOST, self.http_port), timeout=timeout) as s:
            s.sendall(data)
            out = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                out += chunk
            return out

    def wait_api(self, path, predicate, what):
        """Polls GET /api/v1/<path> until predicate(json) is true; returns that json."""
        last = [None]

        def check():
            last[0] = self.api("GET", path)
            return predicate(last[0])
        deadline = time.monotonic() + WAIT_S
        while not check():
            if time.monotonic() > deadline:
                self.fail(f"timed out waiting for {what}; last answer {last[0]}")
            time.sleep(0.02)  # polling interval of a condition wait
        return last[0]

    # -- MQTT helpers ---------------------------------------------------------------------------------------
    def paho(self, version=V311, client_id=None, websocket=False, clean_session=True):
        c = Client(self.http_port if websocket else self.port, version, client_id, clean_session)
        if websocket:
            kw = {"clean_session": clean_session} if version != V5 else {}
            c.c = mqtt.Client(client_id=c.client_id, protocol=version, transport="websockets", **kw)
            c.c.ws_set_options(path="/mqtt")
            c.c.on_connect, c.c.on_message = c._on_connect, c._on_message
            c.c.on_subscribe, c.c.on_publish, c.c.on_disconnect = c._on_subscribe, c._on_publish, c._on_disconnect
        self.addCleanup(c.stop)
        return c


def raw_v5_connect(port, client_id, session_expiry=None):
    """A raw MQTT 5.0 connection after CONNECT/CONNACK: for reading the exact DISCONNECT the broker sends."""
    props_bytes = b""
    if session_expiry is not None:
        props_bytes = b"\x11" + struct.pack(">I", session_expiry)
    cid = client_id.encode()
    var = b"\x00\x04MQTT\x05\x02\x00\x3c" + bytes([len(props_bytes)]) + props_bytes
    payload = struct.pack(">H", len(cid)) + cid
    body = var + payload
    s = socket.create_connection((HOST, port), timeout=WAIT_S)
    s.sendall(bytes([0x10, len(body)]) + body)
    connack = s.recv(4096)
    assert connack[:1] == b"\x20" and connack[3] == 0, connack
    return s


def recv_until_closed(s, timeout=WAIT_S):
    s.settimeout(timeout)
    out = b""
    while True:
        try:
            chunk = s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        out += chunk
    return out


# ---- static files ---------------------------------------------------------------------------------------------

class StaticPlaceholderTest(HttpTestCase):
    def test_placeholder_page_at_root(self):
        """The embedded page at /: the console when mothd was built with web/dist (what scripts/test.sh does),
        otherwise the placeholder; either one points at MQTT over WebSocket at /mqtt."""
        status, hdrs, body = self.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["content-type"], "text/html; charset=utf-8")
        self.assertEqual(hdrs.get("cache-control"), "no-cache")
        if b"Moth console" not in body:
            self.assertIn(b"mothd", body)  # the placeholder
        self.assertIn(b"/mqtt", body)  # says where MQTT over WebSocket is
        self.assertEqual(self.request("GET", "/index.html")[2], body)
        status, hdrs, head_body = self.request("HEAD", "/")
        self.assertEqual(status, 200)
        self.assertEqual(int(hdrs["content-length"]), len(body))
        self.assertEqual(head_body, b"")

    def test_unknown_path_is_404_and_other_methods_405(self):
        status, hdrs, body = self.request("GET", "/no/such/file.js")
        self.assertEqual(status, 404)
        self.assertIn(b"404", body)
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            status, hdrs, _ = self.request(method, "/", body=b"x")
            self.assertEqual(status, 405, method)
            self.assertEqual(hdrs.get("allow"), "GET, HEAD")


class StaticWebRootTest(HttpTestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="moth-webroot-")
        cls.root = os.path.join(cls.tmp, "www")
        os.makedirs(os.path.join(cls.root, "sub", "deeper"))
        files = {
            "index.html": b"<!doctype html><title>root</title>",
            "app.js": b"console.log(1)", "lib.mjs": b"export {}", "style.css": b"body{}", "data.json": b"{}",
            "icon.svg": b"<svg/>", "img.png": b"\x89PNG\r\n", "favicon.ico": b"\x00\x00\x01\x00",
            "font.woff2": b"wOF2", "app.js.map": b"{}", "notes.txt": b"hello", "blob.bin": b"\x00\x01",
            "sub/index.html": b"<!doctype html><title>sub</title>", "sub/deeper/x.txt": b"deep",
        }
        for name, data in files.items():
            with open(os.path.join(cls.root, name), "wb") as f:
                f.write(data)
        with open(os.path.join(cls.tmp, "secret.txt"), "wb") as f:
            f.write(b"SECRET")
        os.symlink(os.path.join(cls.tmp, "secret.txt"), os.path.join(cls.root, "leak.txt"))
        os.symlink(cls.tmp, os.path.join(cls.root, "outside"))
        os.symlink(os.path.join(cls.root, "notes.txt"), os.path.join(cls.root, "inside-link.txt"))
        cls.http_toml = f'web_root = "{cls.root}"\n'

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_files_with_their_content_types(self):
        expected = {
            "/app.js": "text/javascript; charset=utf-8", "/lib.mjs": "text/javascript; charset=utf-8",
            "/style.css": "text/css; charset=utf-8", "/data.json": "application/json",
            "/icon.svg": "image/svg+xml", "/img.png": "image/png", "/favicon.ico": "image/x-icon",
            "/font.woff2": "font/woff2", "/app.js.map": "application/json",
            "/notes.txt": "text/plain; charset=utf-8", "/index.html": "text/html; charset=utf-8",
            "/blob.bin": "application/octet-stream",
        }
        for path, ctype in expected.items():
            status, hdrs, body = self.request("GET", path)
            self.assertEqual(status, 200, path)
            self.assertEqual(hdrs["content-type"], ctype, path)
            with open(os.path.join(self.root, path[1:]), "rb") as f:
                self.assertEqual(body, f.read(), path)
        self.assertEqual(self.request("GET", "/inside-link.txt")[2], b"hello")  # a link that stays inside

    def test_directories_serve_their_index(self):
        status, hdrs, body = self.request("GET", "/")
        self.assertEqual((status, body), (200, b"<!doctype html><title>root</title>"))
        self.assertEqual(hdrs.get("cache-control"), "no-cache")
        self.assertEqual(self.request("GET", "/sub/")[2], b"<!doctype html><title>sub</title>")
        self.assertEqual(self.request("GET", "/sub")[2], b"<!doctype html><title>sub</title>")
        self.assertEqual(self.request("GET", "/sub/deeper/x.txt")[2], b"deep")
        self.assertEqual(self.request("GET", "/sub/deeper/")[0], 404)  # no index.html there
        self.assertEqual(self.request("GET", "/missing.html")[0], 404)

    def test_encoded_nul_is_400(self):
        for target in ("/%00", "/a%00b.txt", "/sub/%00/x"):
            reply = self.raw_exchange(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            self.assertTrue(reply.startswith(b"HTTP/1.1 400 "), (target, reply[:200]))
            self.assertIn(b'"error"', reply)

    def test_nothing_outside_web_root(self):
        # Raw request lines: urllib would normalise some of these paths before sending them.
        for target in ("/../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt",
                       "/sub/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt", "/sub/..%2f..%2fsecret.txt",
                       "/leak.txt", "/outside/secret.txt", "/%00", "//etc/passwd", "/..\\secret.txt"):
            reply = self.raw_exchange(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            status_line = reply.split(b"\r\n", 1)[0]
            self.assertRegex(status_line, rb"^HTTP/1\.1 (404|400) ", target)
            self.assertNotIn(b"SECRET", reply, target)
            self.assertNotIn(b"root:", reply, target)


# ---- MQTT over WebSocket on the http listener -----------------------------------------------------------------

class WebSocketUpgradeTest(HttpTestCase):
    def test_paho_over_websocket_at_mqtt_talks_to_tcp_clients(self):
        ws = self.paho(V5, websocket=True)
        ws.connect()
        ws.subscribe("http/ws/#", qos=1)
        tcp = self.paho(V311)
        tcp.connect()
        tcp.subscribe("http/tcp", qos=1)
        tcp.publish("http/ws/a", b"from-tcp", qos=1)
        ws.wait_payload(b"from-tcp")
        ws.publish("http/tcp", b"from-ws", qos=1)
        tcp.wait_payload(b"from-ws")
        ws.disconnect()
        tcp.disconnect()

    def test_upgrade_elsewhere_or_without_subprotocol_is_refused(self):
        key = base64.b64encode(os.urandom(16)).decode()
        upgrade = ("GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{{proto}}\r\n")
        reply = self.raw_exchange(upgrade.format(path="/other", proto="Sec-WebSocket-Protocol: mqtt\r\n").encode())
        self.assertTrue(reply.startswith(b"HTTP/1.1 404"), reply)
        reply = self.raw_exchange(upgrade.format(path="/mqtt", proto="").encode())
        self.assertTrue(reply.startswith(b"HTTP/1.1 400"), reply)
        # Accepted: the connection stays open as a WebSocket, so read only the response header.
        with socket.create_connection((HOST, self.http_port), timeout=WAIT_S) as s:
            s.sendall(upgrade.format(path="/mqtt", proto="Sec-WebSocket-Protocol: mqttv5\r\n").encode())
            reply = b""
            while b"\r\n\r\n" not in reply:
                chunk = s.recv(4096)
                self.assertTrue(chunk, reply)
                reply += chunk
        self.assertTrue(reply.startswith(b"HTTP/1.1 101"), reply)
        self.assertIn(b"Sec-WebSocket-Protocol: mqttv5", reply)


# ---- the JSON API ---------------------------------------------------------------------------------------------

class ApiTest(HttpTestCase):
    def test_stats(self):
        c = self.paho(V311)
        c.connect()
        stats = self.wait_api("stats", lambda j: j["clients_connected"] == 1, "one connected client")
        for key in ("version", "uptime_s", "workers", "clients_connected", "sessions", "subscriptions", "retained",
                    "messages_received", "messages_sent", "bytes_received", "bytes_sent", "messages_dropped"):
            self.assertIn(key, stats)
        self.assertEqual(stats["workers"], 2)
        self.assertIsInstance(stats["version"], str)
        self.assertGreaterEqual(stats["messages_received"], 1)  # the CONNECT
        self.assertGreater(stats["bytes_received"], 0)
        c.disconnect()

    def test_clients_show_transport_protocol_and_listener(self):
        tcp = self.paho(V311, client_id=unique("tcp-"))
        tcp.connect(keepalive=42)
        ws = self.paho(V5, client_id=unique("ws/"), websocket=True)  # '/' in the id: URL-encoded below
        ws.connect()
        ws.subscribe("a/b", qos=1)
        clients = self.wait_api("clients", lambda j: len(j["clients"]) == 2, "two clients")["clients"]
        by_id = {c["client_id"]: c for c in clients}
        t, w = by_id[tcp.client_id], by_id[ws.client_id]
        self.assertEqual((t["transport"], t["protocol_version"], t["listener"]), ("mqtt", 4, "mqtt-1"))
        self.assertEqual((w["transport"], w["protocol_version"], w["listener"]), ("http", 5, "web"))
        self.assertEqual(t["keepalive_s"], 42)
        self.assertTrue(t["clean_start"])
        self.assertEqual(w["subscriptions"], 1)
        self.assertRegex(t["address"], r"^127\.0\.0\.1:\d+$")
        self.assertRegex(t["connected_since"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        for key in ("username", "inflight", "queued"):
            self.assertIn(key, t)
        one = self.api("GET", "clients/" + urllib.parse.quote(ws.client_id, safe=""))
        self.assertEqual(one["client_id"], ws.client_id)
        self.assertEqual(one["transport"], "http")
        self.assertEqual(self.api("GET", "clients/nobody", expect=404)["error"][:2], "no")
        tcp.disconnect()
        ws.disconnect()

    def test_delete_disconnects_a_v5_client_with_administrative_action(self):
        cid = unique("victim-")
        s = raw_v5_connect(self.port, cid, session_expiry=300)
        self.addCleanup(s.close)
        self.wait_api("clients", lambda j: any(c["client_id"] == cid for c in j["clients"]), "the raw client")
        self.assertEqual(self.api("DELETE", "clients/" + cid), {"disconnected": cid})
        # DISCONNECT with reason 0x98 Administrative action, then the server closes the connection.
        data = recv_until_closed(s)
        self.assertGreaterEqual(len(data), 3, data)
        self.assertEqual(data[0], 0xE0, data)
        self.assertEqual(data[2], 0x98, data)
        # The session stays as its expiry says (300 s): listed, not connected.
        sessions = self.wait_api("sessions", lambda j: any(x["client_id"] == cid and not x["connected"]
                                                           for x in j["sessions"]), "the offline session")
        mine = [x for x in sessions["sessions"] if x["client_id"] == cid][0]
        self.assertEqual(mine["expiry_interval_s"], 300)
        self.api("DELETE", "clients/" + cid, expect=404)

    def test_delete_of_a_v311_client_closes_it(self):
        c = self.paho(V311)
        c.c.reconnect_delay_set(min_delay=60, max_delay=120)  # paho's loop would reconnect after 1 s otherwise
        c.connect()
        self.api("DELETE", "clients/" + c.client_id)
        c.wait(lambda: c.disconnected is not None, "the broker to close the connection")
        self.wait_api("clients", lambda j: j["clients"] == [], "no clients")

    def test_sessions_and_subscriptions(self):
        a = self.paho(V5, client_id=unique("a-"))
        a.connect(properties=props(PacketTypes.CONNECT, SessionExpiryInterval=600))
        a.subscribe("s/plain", options=SubscribeOptions(qos=2, noLocal=True, retainAsPublished=True,
                                                        retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB),
                    properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=7))
        a.subscribe("$share/grp/s/shared/#", qos=1)
        b = self.paho(V311, client_id=unique("b-"))
        b.connect()
        b.subscribe("s/b", qos=0)
        subs = self.wait_api("subscriptions", lambda j: len(j["subscriptions"]) == 3, "three subscriptions")
        by_filter = {s["filter"]: s for s in subs["subscriptions"]}
        plain = by_filter["s/plain"]
        self.assertEqual(plain, {"client_id": a.client_id, "filter": "s/plain", "qos": 2, "no_local": True,
                                 "retain_as_published": True, "retain_handling": 1, "identifier": 7})
        shared = by_filter["s/shared/#"]
        self.assertEqual(shared["shared_group"], "grp")
        self.assertNotIn("identifier", shared)
        self.assertNotIn("shared_group", by_filter["s/b"])
        only_b = self.api("GET", "subscriptions?client_id=" + b.client_id)["subscriptions"]
        self.assertEqual([s["filter"] for s in only_b], ["s/b"])
        a.disconnect()
        sessions = self.wait_api("sessions", lambda j: any(x["client_id"] == a.client_id and not x["connected"]
                                                           for x in j["sessions"]), "a's offline session")
        by_id = {x["client_id"]: x for x in sessions["sessions"]}
        self.assertEqual(by_id[a.client_id], {"client_id": a.client_id, "connected": False, "expiry_interval_s": 600,
                                              "subscriptions": 2, "inflight": 0, "queued": 0})
        self.assertTrue(by_id[b.client_id]["connected"])
        b.disconnect()

    def test_publish_reaches_subscribers_and_retained_is_listed(self):
        sub = self.paho(V5)
        sub.connect()
        sub.subscribe("api/#", qos=1)
        self.assertEqual(self.api("POST", "publish", {"topic": "api/text", "payload": "héllo", "qos": 1,
                                                      "retain": True, "content_type": "text/plain",
                                                      "user_properties": {"k": "v"}}), {"published": True})
        m = sub.wait_payload("héllo".encode())[-1]
        self.assertEqual(m.topic, "api/text")
        self.assertEqual(m.qos, 1)
        self.assertEqual(m.properties.ContentType, "text/plain")
        self.assertEqual(m.properties.UserProperty, [("k", "v")])
        self.api("POST", "publish", {"topic": "api/bin", "payload_base64": base64.b64encode(b"\xff\x00\x01").decode(),
                                     "retain": True})
        sub.wait_payload(b"\xff\x00\x01")
        retained = self.api("GET", "retained?filter=" + urllib.parse.quote("api/#", safe=""))
        self.assertFalse(retained["truncated"])
        by_topic = {r["topic"]: r for r in retained["retained"]}
        self.assertEqual(by_topic["api/text"], {"topic": "api/text", "qos": 1, "size": len("héllo".encode()),
                                                "payload": "héllo",
                                                "payload_base64": base64.b64encode("héllo".encode()).decode(),
                                                "content_type": "text/plain"})
        self.assertNotIn("payload", by_topic["api/bin"])  # not UTF-8
        self.assertEqual(base64.b64decode(by_topic["api/bin"]["payload_base64"]), b"\xff\x00\x01")
        limited = self.api("GET", "retained?filter=api/%23&limit=1")
        self.assertEqual(len(limited["retained"]), 1)
        self.assertTrue(limited["truncated"])
        self.assertEqual(self.api("GET", "retained?filter=other/%23")["retained"], [])
        self.api("GET", "retained?filter=a/%23/b", expect=400)
        # A late subscriber gets the retained message published through the API [MQTT-3.3.1-6].
        late = self.paho(V311)
        late.connect()
        late.subscribe("api/text", qos=1)
        self.assertTrue(late.wait_payload("héllo".encode())[-1].retain)
        sub.disconnect()
        late.disconnect()

    def test_publish_refuses_bad_input(self):
        for body in ({"payload": "x"}, {"topic": "a/+", "payload": "x"}, {"topic": "", "payload": "x"},
                     {"topic": "$SYS/x", "payload": "x"}, {"topic": "a", "qos": 3}, {"topic": "a", "qos": "1"},
                     {"topic": "a", "retain": "yes"}, {"topic": "a", "payload_base64": "!!"},
                     {"topic": "a", "payload": "x", "payload_base64": "eA=="}, {"topic": "a", "user_properties": {"k": 1}},
                     [1, 2]):
            reply = self.api("POST", "publish", body, expect=400)
            self.assertIsInstance(reply["error"], str)
        status, _, data = self.request("POST", "/api/v1/publish", b"{not json")
        self.assertEqual(status, 400)
        self.assertIn("error", json.loads(data))
        self.api("GET", "publish", expect=405)

    def test_listeners_lists_the_bound_ports(self):
        c = self.paho(V311)
        c.connect()
        listeners = self.wait_api("listeners", lambda j: any(l["name"] == "mqtt-1" and l["connections"] == 1
                                                             for l in j["listeners"]), "one mqtt connection")
        by_name = {l["name"]: l for l in listeners["listeners"]}
        self.assertEqual(set(by_name), set(self.broker.ports))
        for name, (kind, port) in self.broker.ports.items():
            self.assertEqual((by_name[name]["kind"], by_name[name]["port"], by_name[name]["address"]),
                             (kind, port, HOST))
        c.disconnect()

    def test_dashboard_put_then_get(self):
        self.api("GET", "dashboard", expect=404)
        doc = {"widgets": [{"type": "gauge", "topic": "t/1"}], "title": "Ünïcode"}
        self.assertEqual(self.api("PUT", "dashboard", doc), {"saved": True})
        self.assertEqual(self.api("GET", "dashboard"), doc)
        stored = os.path.join(self.broker.dir, "data", "console", "dashboard.json")
        with open(stored, encoding="utf-8") as f:
            self.assertEqual(json.load(f), doc)
        doc2 = [1, 2, 3]
        self.api("PUT", "dashboard", doc2)
        self.assertEqual(self.api("GET", "dashboard"), doc2)
        status, _, _ = self.request("PUT", "/api/v1/dashboard", b"{broken")
        self.assertEqual(status, 400)
        status, _, _ = self.request("PUT", "/api/v1/dashboard", b'"' + b"x" * (256 * 1024) + b'"')
        self.assertEqual(status, 413)
        self.assertEqual(self.api("GET", "dashboard"), doc2)  # unchanged by the refused ones
        self.api("DELETE", "dashboard", expect=405)

    def test_unknown_endpoint_and_method(self):
        self.assertIn("error", self.api("GET", "nope", expect=404))
        status, hdrs, _ = self.request("POST", "/api/v1/stats", b"{}")
        self.assertEqual(status, 405)
        self.assertIn("GET", hdrs["allow"])


class MetricsTest(HttpTestCase):
    NAMES = {
        "moth_clients_connected": "gauge", "moth_sessions": "gauge", "moth_subscriptions": "gauge",
        "moth_retained_messages": "gauge", "moth_messages_received_total": "counter",
        "moth_messages_sent_total": "counter", "moth_bytes_received_total": "counter",
        "moth_bytes_sent_total": "counter", "moth_messages_dropped_total": "counter", "moth_connections": "gauge",
        "moth_connection_failures_total": "counter",
        "moth_uptime_seconds": "gauge", "moth_build_info": "gauge",
    }

    def parse(self, text):
        """Parses the Prometheus text format 0.0.4 strictly; returns (types, helps, samples)."""
        types, helps, samples = {}, {}, []
        sample_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
                               r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)\})? (-?[0-9.eE+]+|NaN|[+-]Inf)$')
        self.assertTrue(text.endswith("\n"))
        for line in text.splitlines():
            if line.startswith("# HELP "):
                name, _, help_text = line[7:].partition(" ")
                helps[name] = help_text
            elif line.startswith("# TYPE "):
                name, _, kind = line[7:].partition(" ")
                self.assertIn(kind, ("counter", "gauge", "untyped", "summary", "histogram"), line)
                self.assertNotIn(name, types, "TYPE given twice")
                types[name] = kind
            else:
                m = sample_re.match(line)
                self.assertIsNotNone(m, f"not a sample line: {line!r}")
                self.assertIn(m.group(1), types, f"sample before its TYPE: {line!r}")
                samples.append((m.group(1), m.group(3) or "", float(m.group(4))))
        return types, helps, samples

    def test_metrics_parse_and_name_what_the_contract_lists(self):
        c = self.paho(V311)
        c.connect()
        self.wait_api("stats", lambda j: j["clients_connected"] == 1, "the client")
        status, hdrs, body = self.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/plain; version=0.0.4"))
        types, helps, samples = self.parse(body.decode())
        for name, kind in self.NAMES.items():
            self.assertEqual(types.get(name), kind, name)
            self.assertTrue(helps.get(name), name)
        values = {(n, l): v for n, l, v in samples}
        self.assertEqual(values[("moth_clients_connected", "")], 1)
        self.assertEqual(values[("moth_connection_failures_total", "")], 0)
        self.assertEqual(values[("moth_connections", 'listener="mqtt-1"')], 1)
        self.assertIn(("moth_connections", 'listener="web"'), values)
        build = [l for n, l, v in samples if n == "moth_build_info"]
        self.assertEqual(len(build), 1)
        self.assertRegex(build[0], r'^version="[^"]+"$')
        c.disconnect()


# ---- authentication -------------------------------------------------------------------------------------------

class TokenAuthTest(HttpTestCase):
    http_toml = 'api_token = "s3cret-token"\n'

    def test_token_required_for_api_and_metrics_only(self):
        for path in ("/api/v1/stats", "/api/v1/clients", "/metrics", "/api/v1/nope"):
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer s3cret-tokenX"},
                            {"Authorization": "Basic " + base64.b64encode(b"a:s3cret-token").decode()}):
                status, hdrs, body = self.request("GET", path, headers=headers)
                self.assertEqual(status, 401, (path, headers))
                self.assertEqual(hdrs.get("www-authenticate"), 'Basic realm="mothd"')
                self.assertIn("error", json.loads(body))
        status, _, _ = self.request("GET", "/api/v1/stats", headers={"Authorization": "Bearer s3cret-token"})
        self.assertEqual(status, 200)
        status, _, _ = self.request("GET", "/metrics", headers={"Authorization": "bearer s3cret-token"})
        self.assertEqual(status, 200)
        self.assertEqual(self.request("GET", "/")[0], 200)  # static files are never behind API auth
        ws = self.paho(V311, websocket=True)  # nor is the WebSocket upgrade
        ws.connect()
        ws.disconnect()


class BasicAuthTest(HttpTestCase):
    http_toml = 'api_username = "admin"\napi_password = "pa:ss"\napi_token = "tok"\n'

    def basic(self, user, password):
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    def test_basic_or_token(self):
        self.assertEqual(self.request("GET", "/api/v1/stats", headers=self.basic("admin", "pa:ss"))[0], 200)
        self.assertEqual(self.request("GET", "/api/v1/stats", headers={"Authorization": "Bearer tok"})[0], 200)
        for headers in ({}, self.basic("admin", "wrong"), self.basic("root", "pa:ss"), self.basic("admin", ""),
                        {"Authorization": "Basic !!!"}, {"Authorization": "Digest x"}):
            status, hdrs, _ = self.request("GET", "/api/v1/stats", headers=headers)
            self.assertEqual(status, 401, headers)
            self.assertEqual(hdrs.get("www-authenticate"), 'Basic realm="mothd"')


# ---- cross-site requests (docs/security.md) -------------------------------------------------------------------

class CrossSiteTest(HttpTestCase):
    """What a web page on another origin can make a visitor's browser send, as raw requests: the API refuses it,
    /mqtt on the http listener accepts only the listener's own origin, and clients that are not browsers (no
    Origin, no Sec-Fetch-Site) keep working."""

    def exchange(self, method, path, headers=(), body=b""):
        """One raw request on a fresh connection: (status, body bytes). `headers` are "Name: value" lines."""
        req = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{self.http_port}\r\nConnection: close\r\n"
        for h in headers:
            req += h + "\r\n"
        if body:
            req += f"Content-Length: {len(body)}\r\n"
        reply = self.raw_exchange(req.encode() + b"\r\n" + body)
        head, _, data = reply.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), data

    def own(self):
        return f"Origin: http://{HOST}:{self.http_port}"

    def test_publish_from_another_site_is_refused_and_nothing_is_published(self):
        topic = unique("xsite/")
        sub = self.paho(V311)
        sub.connect()
        sub.subscribe("xsite/#", qos=1)
        body = json.dumps({"topic": topic, "payload": "evil", "retain": True}).encode()
        text_plain = "Content-Type: text/plain;charset=UTF-8"
        json_type = "Content-Type: application/json"
        refused = [
            # What a <form> or fetch(no-cors) on another site sends: a "simple" request, no preflight.
            (403, ["Origin: http://evil.example", text_plain]),
            (403, ["Origin: http://evil.example", json_type]),
            (403, ["Origin: null", json_type]),  # sandboxed frames, file: pages, some redirects
            (403, [f"Origin: http://{HOST}:{self.port}", json_type]),  # same host, another port: another origin
            (403, [f"Origin: http://localhost:{self.http_port}", json_type]),  # another host name
            (403, ["Sec-Fetch-Site: cross-site", json_type]),
            (403, ["Sec-Fetch-Site: same-site", json_type]),  # a sibling subdomain is not this origin
            (403, ["Sec-Fetch-Site: same-site", "Origin: http://evil.example", json_type]),
            (403, [self.own(), "Sec-Fetch-Site: cross-site", json_type]),
            (415, [text_plain]),  # no browser headers, but not JSON
            (415, []),
            (415, [self.own(), "Sec-Fetch-Site: same-origin", "Content-Type: application/x-www-form-urlencoded"]),
        ]
        for expect, headers in refused:
            status, data = self.exchange("POST", "/api/v1/publish", headers, body)
            self.assertEqual(status, expect, (headers, data))
            self.assertIsInstance(json.loads(data)["error"], str)
        self.assertEqual(self.api("GET", "retained?filter=xsite/%23")["retained"], [])
        # The same body from a script (no Origin) and from the listener's own origin is published.
        status, data = self.exchange("POST", "/api/v1/publish", [json_type],
                                     json.dumps({"topic": topic + "/script", "payload": "ok"}).encode())
        self.assertEqual(status, 200, data)
        status, data = self.exchange("POST", "/api/v1/publish",
                                     [self.own(), "Sec-Fetch-Site: same-origin", "Content-Type: application/json; "
                                      "charset=utf-8"], json.dumps({"topic": topic + "/console", "payload": "ok"}).encode())
        self.assertEqual(status, 200, data)
        got = sub.wait_messages(2)
        self.assertEqual(sorted(m.topic for m in got), [topic + "/console", topic + "/script"])
        self.assertEqual([m.topic for m in sub.messages if m.payload == b"evil"], [])
        sub.disconnect()

    def test_reading_the_api_from_another_site_is_refused(self):
        for path in ("/api/v1/stats", "/api/v1/retained", "/api/v1/dashboard", "/api/v1/nope", "/metrics"):
            for headers in (["Origin: https://evil.example"], ["Sec-Fetch-Site: cross-site"], ["Origin: null"],
                            ["Sec-Fetch-Site: same-site"]):
                status, data = self.exchange("GET", path, headers)
                self.assertEqual(status, 403, (path, headers, data))
                self.assertIn("error", json.loads(data))
        for headers in ([], [self.own()], ["Sec-Fetch-Site: same-origin"], ["Sec-Fetch-Site: none"],
                        [self.own().replace("http://", "HTTP://"), "Sec-Fetch-Site: same-site"]):
            self.assertEqual(self.exchange("GET", "/api/v1/stats", headers)[0], 200, headers)
        # Static files (the console) are for anyone.
        self.assertEqual(self.exchange("GET", "/", ["Origin: https://evil.example", "Sec-Fetch-Site: cross-site"])[0],
                         200)

    def test_bodies_must_be_json(self):
        doc = b'{"widgets": []}'
        status, data = self.exchange("PUT", "/api/v1/dashboard", ["Content-Type: text/plain"], doc)
        self.assertEqual((status, "error" in json.loads(data)), (415, True))
        self.assertEqual(self.exchange("PUT", "/api/v1/dashboard", [], doc)[0], 415)
        self.api("GET", "dashboard", expect=404)  # nothing stored by the refused ones
        self.assertEqual(self.exchange("PUT", "/api/v1/dashboard", ["Content-Type: Application/JSON"], doc)[0], 200)
        # DELETE needs no body, hence no Content-Type.
        self.assertEqual(self.exchange("DELETE", "/api/v1/clients/nobody")[0], 404)

    def test_mqtt_upgrade_accepts_only_the_listeners_own_origin(self):
        key = base64.b64encode(os.urandom(16)).decode()

        def upgrade(*headers):
            req = (f"GET /mqtt HTTP/1.1\r\nHost: {HOST}:{self.http_port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Protocol: mqtt\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n")
            with socket.create_connection((HOST, self.http_port), timeout=WAIT_S) as s:
                s.sendall(req.encode())
                reply = b""
                while b"\r\n\r\n" not in reply:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
            return reply.split(b" ", 2)[1].decode() if reply else "closed"

        for origin in ("https://evil.example", "null", f"http://{HOST}:{self.port}", f"http://localhost:{self.http_port}"):
            self.assertEqual(upgrade(f"Origin: {origin}"), "403", origin)
        self.assertEqual(upgrade(self.own()), "101")
        self.assertEqual(upgrade(), "101")  # no Origin: not a browser
        # paho-mqtt says Origin: https://<host>:<port> on a plain connection; the host and port are the listener's.
        self.assertEqual(upgrade(f"Origin: https://{HOST}:{self.http_port}"), "101")
        self.wait_until(lambda: "origin https://evil.example is not allowed" in self.broker.log(), WAIT_S, "log")


class CrossSiteAllowedOriginsTest(HttpTestCase):
    """allowed_origins on the http listener widens /mqtt (its own origin stays allowed), never the API; a ws listener
    keeps enforcing its list, and one without a list stays open."""
    http_toml = 'allowed_origins = ["https://console.example.com"]\n'
    extra_toml = ('[[listener]]\nname = "ws-listed"\nkind = "ws"\nbind = "127.0.0.1"\nport = 0\n'
                  'allowed_origins = ["https://console.example.com"]\n'
                  '[[listener]]\nname = "ws-open"\nkind = "ws"\nbind = "127.0.0.1"\nport = 0\n')

    def upgrade(self, port, origin):
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET /mqtt HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n"
               f"Origin: {origin}\r\n\r\n")
        with socket.create_connection((HOST, port), timeout=WAIT_S) as s:
            s.sendall(req.encode())
            reply = b""
            while b"\r\n\r\n" not in reply:
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
        return reply.split(b" ", 2)[1].decode() if reply else "closed"

    def test_allowed_origins(self):
        web = self.http_port
        listed = self.broker.ports["ws-listed"][1]
        open_ = self.broker.ports["ws-open"][1]
        self.assertEqual(self.upgrade(web, "https://console.example.com"), "101")
        self.assertEqual(self.upgrade(web, f"http://{HOST}:{web}"), "101")
        self.assertEqual(self.upgrade(web, "https://evil.example"), "403")
        self.assertEqual(self.upgrade(listed, "https://console.example.com"), "101")
        self.assertEqual(self.upgrade(listed, "https://evil.example"), "403")
        self.assertEqual(self.upgrade(listed, f"http://{HOST}:{listed}"), "403")  # ws listeners have no "own" origin
        self.assertEqual(self.upgrade(open_, "https://evil.example"), "101")
        status, _, _ = self.request("GET", "/api/v1/stats", headers={"Origin": "https://console.example.com"})
        self.assertEqual(status, 403)
        # Bound to 127.0.0.1: no start-up warning about open ws listeners.
        self.assertNotIn("any web page can connect", self.broker.log())


class OpenWsListenerWarningTest(HttpTestCase):
    extra_toml = ('[[listener]]\nname = "ws-everywhere"\nkind = "ws"\nbind = "0.0.0.0"\nport = 0\n'
                  '[[listener]]\nname = "ws-fenced"\nkind = "ws"\nbind = "0.0.0.0"\nport = 0\n'
                  'allowed_origins = ["https://console.example.com"]\n')

    def test_one_warning_per_open_ws_listener_on_a_public_address(self):
        log = self.broker.log()
        self.assertEqual(log.count("any web page can connect to it from a visitor's browser"), 1, log)
        self.assertIn("listener ws-everywhere", log)
        self.assertNotIn("listener ws-fenced (", log)


# ---- bad HTTP -------------------------------------------------------------------------------------------------

class BadHttpTest(HttpTestCase):
    def assert_status(self, reply, status):
        self.assertTrue(reply.startswith(f"HTTP/1.1 {status} ".encode()), reply[:200])

    def test_malformed_request_is_400(self):
        self.assert_status(self.raw_exchange(b"THIS IS NOT HTTP\r\n\r\n"), 400)
        self.assert_status(self.raw_exchange(b"GET / HTTP/9.9\r\n\r\n"), 400)
        self.assert_status(self.raw_exchange(b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n"), 400)
        self.assertEqual(self.request("GET", "/")[0], 200)  # the listener still serves others

    def test_oversize_headers_are_431(self):
        big = b"X-Big: " + b"a" * (64 * 1024) + b"\r\n"
        self.assert_status(self.raw_exchange(b"GET / HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n"), 431)

    def test_oversize_body_is_413(self):
        head = b"POST /api/v1/publish HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (2 * 1024 * 1024)
        self.assert_status(self.raw_exchange(head), 413)
        # With the body sent too (the client does not wait for an answer), the 413 still arrives intact.
        self.assert_status(self.raw_exchange(head + b"x" * (2 * 1024 * 1024)), 413)
        # Exactly the limit is still read (and then judged on its content).
        body = b'{"topic": "big", "payload": "' + b"x" * (1024 * 1024 - 40) + b'"}'
        self.assertLessEqual(len(body), 1024 * 1024)
        status, _, data = self.request("POST", "/api/v1/publish", body)
        self.assertEqual(status, 200, data)

    def test_stalled_client_is_closed_and_others_are_served(self):
        started = time.monotonic()
        with socket.create_connection((HOST, self.http_port), timeout=30) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finishes its header
            # Meanwhile another client is served at once.
            self.assertEqual(self.request("GET", "/api/v1/stats")[0], 200)
            self.assertEqual(recv_until_closed(s, timeout=30), b"")  # closed by the server, nothing sent
        elapsed = time.monotonic() - started
        self.assertGreaterEqual(elapsed, 9)
        self.assertLess(elapsed, 25)
        self.wait_until(lambda: "no complete request within 10 s" in self.broker.log(), WAIT_S, "the log line")
        self.assertEqual(self.broker.log().count("no complete request within 10 s"), 1)

    def test_keep_alive_serves_several_requests_on_one_connection(self):
        with socket.create_connection((HOST, self.http_port), timeout=WAIT_S) as s:
            s.sendall(b"GET /api/v1/stats HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
            reply = recv_until_closed(s)
        self.assertEqual(reply.count(b"HTTP/1.1 200 OK"), 2, reply[:300])


if __name__ == "__main__":
    take_mothd_from_argv()
    unittest.main()
