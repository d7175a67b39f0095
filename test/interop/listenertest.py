"""Helpers shared by the listener tests (test_tls_ws.py, test_listener_options.py): certificates from the `openssl`
command, the ports of every named listener, and a TestCase mixin with deadline-bounded paho clients, raw sockets and
WebSocket upgrades. Every wait is bounded by WAIT_S.
"""

import os
import socket
import ssl
import subprocess
import threading
import uuid

import paho.mqtt.client as mqtt

from broker import HOST

WAIT_S = 20


def unique(prefix="t"):
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d):
    """ca.key and ca.pem in `d`: a self-signed CA for the certificates make_cert() signs."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=moth test CA", "-keyout", "ca.key", "-out", "ca.pem",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign", cwd=d)


def make_cert(d, name, subject, ext):
    """<name>.key and <name>.pem in `d`, signed by make_ca()'s CA, with the extensions `ext` (lines of text)."""
    with open(os.path.join(d, name + ".ext"), "w", encoding="utf-8") as f:
        f.write("basicConstraints=CA:FALSE\n" + ext)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", subject,
            "-keyout", name + ".key", "-out", name + ".csr", cwd=d)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", name + ".ext", "-out", name + ".pem", cwd=d)


def listener_ports(broker_dir):
    """{listener name: port} from the ports file mothd wrote in the Broker's directory."""
    with open(os.path.join(broker_dir, "ports"), encoding="utf-8") as f:
        return {fields[0]: int(fields[3]) for fields in (line.split() for line in f) if len(fields) == 4}


class ListenerTestMixin:
    """For a BrokerTestCase: paho clients (stopped by cleanups), raw sockets and WebSocket upgrades."""

    def paho(self, port, transport="tcp", tls=None, client_id=None, version=mqtt.MQTTv311, expect_rc=0):
        """A connected paho client; `tls` is tls_set()'s keyword arguments. CONNACK's code must be `expect_rc`."""
        cid = client_id or unique("p")
        c = mqtt.Client(client_id=cid, protocol=version, transport=transport)
        if transport == "websockets":
            c.ws_set_options(path="/mqtt")
        if tls is not None:
            c.tls_set(**tls)
        state = {"connected": threading.Event(), "rc": None, "messages": [], "cond": threading.Condition(),
                 "subscribed": threading.Event()}

        def on_connect(client, userdata, flags, rc, properties=None):
            state["rc"] = rc
            state["connected"].set()

        def on_message(client, userdata, msg):
            with state["cond"]:
                state["messages"].append((msg.topic, msg.payload))
                state["cond"].notify_all()

        def on_subscribe(client, userdata, mid, granted, properties=None):
            state["subscribed"].set()

        c.on_connect, c.on_message, c.on_subscribe = on_connect, on_message, on_subscribe
        c.connect(HOST, port, keepalive=30)
        c.loop_start()
        self.addCleanup(c.loop_stop)
        self.addCleanup(c.disconnect)
        self.assertTrue(state["connected"].wait(WAIT_S), "no CONNACK")
        self.assertEqual(state["rc"], expect_rc)
        c.state = state
        return c

    def subscribe(self, c, topic, qos=1):
        c.state["subscribed"].clear()
        c.subscribe(topic, qos)
        self.assertTrue(c.state["subscribed"].wait(WAIT_S), "no SUBACK")

    def wait_message(self, c, payload):
        with c.state["cond"]:
            ok = c.state["cond"].wait_for(lambda: any(p == payload for _, p in c.state["messages"]), WAIT_S)
        self.assertTrue(ok, f"{payload!r} not received; got {c.state['messages']!r}")

    def connect_raw(self, port):
        s = socket.create_connection((HOST, port), timeout=WAIT_S)
        self.addCleanup(s.close)
        return s

    @staticmethod
    def read_until_closed(s):
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                return data
            if not chunk:
                return data
            data += chunk

    def upgrade(self, port, headers=(), protocols="mqtt", path="/mqtt", sock=None, key=True):
        """Sends a WebSocket upgrade request (over `sock` or a new connection); returns (socket, response head)."""
        s = sock or self.connect_raw(port)
        req = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        if key:
            req += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        req += "Sec-WebSocket-Version: 13\r\n"
        if protocols:
            req += f"Sec-WebSocket-Protocol: {protocols}\r\n"
        for h in headers:
            req += h + "\r\n"
        s.sendall((req + "\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            self.assertTrue(chunk, f"closed before the response; got {head!r}")
            head += chunk
        return s, head
