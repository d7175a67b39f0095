"""Listener options of mothd, driven by third-party clients and raw sockets: TLS versions and ciphers, the client
certificate's CN as username, SIGHUP reloading certificates, the WebSocket Origin allow-list, PROXY protocol v1/v2
and X-Forwarded-For, per-listener max_connections, and bad input on the ws port.

Every test starts its own mothd (two workers, every listener on 127.0.0.1 port 0) with the listeners it needs.
Certificates come from the `openssl` command in a temporary directory shared by the module.
"""

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import unittest


from broker import HOST, Broker, BrokerTestCase, mothd_path, take_mothd_from_argv
from listenertest import WAIT_S, ListenerTestMixin, listener_ports, make_ca, make_cert, unique

CERTS = None  # set by setUpModule


def make_certs(d):
    """A CA; two server certificates for localhost/127.0.0.1 (A and B: different serials); two client ones."""
    make_ca(d)
    server_ext = "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
    for name, subject, ext in (("server-a", "/O=cert A/CN=localhost", server_ext),
                               ("server-b", "/O=cert B/CN=localhost", server_ext),
                               ("client", "/O=moth tests/CN=moth-test-client", "extendedKeyUsage=clientAuth\n"),
                               ("client2", "/CN=second-device", "extendedKeyUsage=clientAuth\n")):
        make_cert(d, name, subject, ext)
    return {name: os.path.join(d, name) for name in os.listdir(d)}


def setUpModule():
    global CERTS
    d = tempfile.mkdtemp(prefix="moth-certs-")
    unittest.addModuleCleanup(shutil.rmtree, d, ignore_errors=True)
    CERTS = make_certs(d)


def listener(name, kind, **keys):
    text = f'[[listener]]\nname = "{name}"\nkind = "{kind}"\nbind = "{HOST}"\nport = 0\n'
    for k, v in keys.items():
        if isinstance(v, bool):
            text += f"{k} = {'true' if v else 'false'}\n"
        elif isinstance(v, (list, tuple)):
            text += f"{k} = [{', '.join(chr(34) + x + chr(34) for x in v)}]\n"
        elif isinstance(v, int):
            text += f"{k} = {v}\n"
        else:
            text += f'{k} = "{v}"\n'
    return text


def tls_listener(name, kind="mqtts", cert="server-a", **keys):
    return listener(name, kind, cert_file=CERTS[cert + ".pem"], key_file=CERTS[cert + ".key"], **keys)


def connect_packet(client_id):
    """An MQTT 3.1.1 CONNECT, clean session, keepalive 60."""
    cid = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(cid).to_bytes(2, "big") + cid
    return bytes([0x10, len(body)]) + body


def ws_frame(payload, opcode=0x2):
    """One masked client frame with FIN set."""
    mask = b"\x11\x22\x33\x44"
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    else:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def proxy_v2(src, sport, dst="127.0.0.1", dport=1883, command=0x1):
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    if command == 0x0:
        return sig + bytes([0x20, 0x00]) + (0).to_bytes(2, "big")
    body = socket.inet_aton(src) + socket.inet_aton(dst) + sport.to_bytes(2, "big") + dport.to_bytes(2, "big")
    return sig + bytes([0x20 | command, 0x11]) + len(body).to_bytes(2, "big") + body


def client_hello():
    """The bytes of a TLS ClientHello, made by Python's ssl module without a socket."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


class OptionsBroker(Broker):
    """A Broker whose config adds the given [[listener]] tables (before its own plain mqtt listener)."""

    def __init__(self, listeners_toml):
        super().__init__(extra_toml=listeners_toml)

    def ports(self):
        return listener_ports(self.dir)

    def config_path(self):
        return os.path.join(self.dir, "mothd.toml")


class ListenerOptionsTestCase(ListenerTestMixin, BrokerTestCase):
    listeners = ""  # set by each test through start()

    def setUp(self):
        unittest.TestCase.setUp(self)  # the broker starts in start(), with the test's listeners

    def start(self, listeners_toml):
        self.broker = OptionsBroker(listeners_toml)
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)
        self.broker.start()
        self.ports = self.broker.ports()
        # The Broker's own plain listener (named by default "mqtt-<index>"), for bystanders and publishers.
        self.port = next(port for name, port in self.ports.items() if name.startswith("mqtt-"))

    # -- helpers ----------------------------------------------------------------------------------------------
    def bystander(self):
        """A subscribed TCP client; check_bystander() asserts that a message still reaches it."""
        c = self.paho(self.port)
        topic = unique("still/here/")
        self.subscribe(c, topic)
        c.topic = topic
        return c

    def check_bystander(self, c):
        pub = self.paho(self.port)
        payload = unique("alive-").encode()
        pub.publish(c.topic, payload, qos=1)
        self.wait_message(c, payload)

    @staticmethod
    def read_exactly(s, n):
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def log_count(self, text):
        return self.broker.log().count(text)

    def tls_probe(self, port, maximum=None, minimum=None, ciphers=None):
        """A TLS handshake with Python's ssl: returns (version, cipher name, server certificate DER)."""
        ctx = ssl.create_default_context(cafile=CERTS["ca.pem"])
        if maximum:
            ctx.maximum_version = maximum
        if minimum:
            ctx.minimum_version = minimum
        if ciphers:
            ctx.set_ciphers(ciphers)
        raw = socket.create_connection((HOST, port), timeout=WAIT_S)
        with ctx.wrap_socket(raw, server_hostname="localhost") as t:
            return t.version(), t.cipher()[0], t.getpeercert(binary_form=True)

    # -- 1. TLS versions and ciphers ---------------------------------------------------------------------------
    def test_tls_versions_and_ciphers(self):
        self.start(tls_listener("tls13", tls_min_version="1.3")
                   + tls_listener("tls12", tls_max_version="1.2", ciphers="ECDHE-ECDSA-AES256-GCM-SHA384")
                   + tls_listener("suites", tls_min_version="1.3", ciphersuites="TLS_CHACHA20_POLY1305_SHA256")
                   + tls_listener("default"))
        # A client limited to TLS 1.2 is refused by a 1.3-only listener; a 1.3 client gets in.
        with self.assertRaises(ssl.SSLError):
            self.tls_probe(self.ports["tls13"], maximum=ssl.TLSVersion.TLSv1_2)
        self.assertEqual(self.tls_probe(self.ports["tls13"])[0], "TLSv1.3")
        # tls_max_version 1.2: a client preferring 1.3 negotiates 1.2, with the one cipher `ciphers` allows ...
        version, cipher, _ = self.tls_probe(self.ports["tls12"])
        self.assertEqual((version, cipher), ("TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384"))
        # ... and a client that only offers other TLS 1.2 ciphers is refused; 1.3-only clients are too.
        with self.assertRaises(ssl.SSLError):
            self.tls_probe(self.ports["tls12"], ciphers="ECDHE-ECDSA-AES128-GCM-SHA256")
        with self.assertRaises(ssl.SSLError):
            self.tls_probe(self.ports["tls12"], minimum=ssl.TLSVersion.TLSv1_3)
        self.assertEqual(self.tls_probe(self.ports["suites"])[1], "TLS_CHACHA20_POLY1305_SHA256")
        # The defaults: TLS 1.2 and 1.3 both accepted.
        self.assertEqual(self.tls_probe(self.ports["default"], maximum=ssl.TLSVersion.TLSv1_2)[0], "TLSv1.2")
        self.assertEqual(self.tls_probe(self.ports["default"])[0], "TLSv1.3")
        # mosquitto publishes on the 1.3-only listener. (Its --tls-version is a minimum, not a maximum, so the
        # refusal of 1.2 clients is shown with Python's ssl above.)
        p = subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(self.ports["tls13"]), "--cafile", CERTS["ca.pem"],
                            "--tls-version", "tlsv1.3", "-t", "v", "-m", "x"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.log_count("handshake with"), 3, "exactly the three refusals above")

    def test_bad_cipher_list_is_a_config_error_with_exit_2(self):
        d = tempfile.mkdtemp(prefix="moth-badcipher-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        conf = os.path.join(d, "mothd.toml")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(f'data_dir = "{d}"\n'
                    + tls_listener("tls", ciphers="ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-GCM-SHA348")
                    + 'tls_min_version = "1.0"\n')
        p = subprocess.run([mothd_path(), "--config", conf], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(f'{conf}:9: listener.0.ciphers: unknown cipher or cipher group '
                      '"ECDHE-ECDSA-AES256-GCM-SHA348"', p.stderr)
        self.assertIn(f'{conf}:10: listener.0.tls_min_version: must be "1.2" or "1.3", got "1.0"', p.stderr)

    # -- 2. the client certificate's CN as username ------------------------------------------------------------
    def test_certificate_cn_becomes_the_username(self):
        self.start(tls_listener("tls-cn", ca_file=CERTS["ca.pem"], require_client_cert=True, use_cn_as_username=True)
                   + tls_listener("wss-cn", kind="wss", ca_file=CERTS["ca.pem"], require_client_cert=True,
                                  use_cn_as_username=True))
        topic = unique("cn/")
        sub = self.paho(self.port)
        self.subscribe(sub, topic)
        # Several client ids, so that with two workers some connections are relayed to the other worker.
        ids = [unique("cn-") for _ in range(4)]
        for cid in ids:
            p = subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(self.ports["tls-cn"]), "--cafile",
                                CERTS["ca.pem"], "--cert", CERTS["client.pem"], "--key", CERTS["client.key"],
                                "-i", cid, "-u", "claimed-user", "-P", "pw", "-t", topic, "-m", cid, "-q", "1"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.wait_message(sub, cid.encode())
        # The broker handed the CN, not the CONNECT's "claimed-user", to its authenticator (the log line is
        # written where the authentication request is made).
        for cid in ids:
            self.wait_until(lambda: f'client {cid} from 127.0.0.1:' in self.broker.log(), WAIT_S, "log line")
            self.assertEqual(self.log_count(f'client {cid} from 127.0.0.1:'), 1, cid)
        log = self.broker.log()
        self.assertEqual(log.count('username "moth-test-client" from its client certificate'), len(ids), log)
        # Over secure WebSocket with another certificate.
        cid = unique("cn-wss-")
        c = self.paho(self.ports["wss-cn"], transport="websockets", client_id=cid,
                      tls={"ca_certs": CERTS["ca.pem"], "certfile": CERTS["client2.pem"],
                           "keyfile": CERTS["client2.key"]})
        c.publish(topic, b"over wss", qos=1)
        self.wait_message(sub, b"over wss")
        self.assertIn(f'client {cid} from 127.0.0.1:', self.broker.log())
        self.assertIn('username "second-device" from its client certificate', self.broker.log())

    def test_use_cn_as_username_needs_require_client_cert(self):
        d = tempfile.mkdtemp(prefix="moth-cn-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        conf = os.path.join(d, "mothd.toml")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(tls_listener("tls", ca_file=CERTS["ca.pem"], use_cn_as_username=True))
        p = subprocess.run([mothd_path(), "--config", conf], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("listener.0.use_cn_as_username: requires require_client_cert = true", p.stderr)

    # -- 3. SIGHUP reloads certificates ------------------------------------------------------------------------
    def test_sighup_reloads_certificates_without_dropping_connections(self):
        d = tempfile.mkdtemp(prefix="moth-reload-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        cert, key = os.path.join(d, "server.pem"), os.path.join(d, "server.key")
        shutil.copy(CERTS["server-a.pem"], cert)
        shutil.copy(CERTS["server-a.key"], key)
        self.start(listener("tls", "mqtts", cert_file=cert, key_file=key)
                   + listener("wss", "wss", cert_file=cert, key_file=key))

        def der(name):
            with open(CERTS[name], encoding="ascii") as f:
                return ssl.PEM_cert_to_DER_cert(f.read())

        self.assertEqual(self.tls_probe(self.ports["tls"])[2], der("server-a.pem"))
        tls = {"ca_certs": CERTS["ca.pem"]}
        old_tls = self.paho(self.ports["tls"], tls=tls)
        old_wss = self.paho(self.ports["wss"], transport="websockets", tls=tls)
        topic = unique("reload/")
        self.subscribe(old_tls, topic)
        self.subscribe(old_wss, topic)

        def sighup_and_wait(line, count):
            os.kill(self.broker.proc.pid, signal.SIGHUP)
            self.wait_until(lambda: self.log_count(line) >= count, WAIT_S, line)

        # Swap in certificate B, reload: new handshakes see B, the connections made with A go on.
        shutil.copy(CERTS["server-b.pem"], cert)
        shutil.copy(CERTS["server-b.key"], key)
        sighup_and_wait("listener wss: TLS certificate, key and CA reloaded", 1)
        self.assertEqual(self.log_count("listener tls: TLS certificate, key and CA reloaded"), 1)
        self.assertNotIn("takes effect after a restart", self.broker.log())
        self.assertEqual(self.tls_probe(self.ports["tls"])[2], der("server-b.pem"))
        self.assertEqual(self.tls_probe(self.ports["wss"])[2], der("server-b.pem"))
        pub = self.paho(self.port)
        pub.publish(topic, b"after reload", qos=1)
        self.wait_message(old_tls, b"after reload")
        self.wait_message(old_wss, b"after reload")
        # A broken file: logged, and the running certificate (B) stays.
        with open(cert, "w", encoding="ascii") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
        sighup_and_wait("listener tls: reload failed, keeping the running TLS settings", 1)
        self.assertEqual(self.tls_probe(self.ports["tls"])[2], der("server-b.pem"))
        # Changing cert_file itself is applied too (not "needs a restart").
        path = self.broker.config_path()
        with open(path, encoding="utf-8") as f:
            text = f.read()
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace(cert, CERTS["server-a.pem"]).replace(key, CERTS["server-a.key"]))
        sighup_and_wait("listener tls: TLS certificate, key and CA reloaded from " + CERTS["server-a.pem"], 1)
        self.assertNotIn("takes effect after a restart", self.broker.log())
        self.assertEqual(self.tls_probe(self.ports["tls"])[2], der("server-a.pem"))
        pub.publish(topic, b"after the second reload", qos=1)
        self.wait_message(old_tls, b"after the second reload")

    # -- 4. Origin allow-list ----------------------------------------------------------------------------------
    def test_origin_allow_list(self):
        self.start(listener("ws", "ws", allowed_origins=["https://console.example.com:8443", "https://*.apps.example"])
                   + listener("ws-any", "ws"))
        keeper = self.bystander()
        s, head = self.upgrade(self.ports["ws"], ["Origin: https://evil.example"])
        self.assertTrue(head.startswith(b"HTTP/1.1 403"), head)
        self.read_until_closed(s)
        for origin in ("https://console.example.com:8443", "https://a.apps.example"):
            s, head = self.upgrade(self.ports["ws"], [f"Origin: {origin}"])
            self.assertTrue(head.startswith(b"HTTP/1.1 101"), (origin, head))
        s, head = self.upgrade(self.ports["ws"])  # no Origin: not a browser
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
        s, head = self.upgrade(self.ports["ws-any"], ["Origin: https://evil.example"])
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
        self.wait_until(lambda: "origin https://evil.example is not allowed" in self.broker.log(), WAIT_S, "log")
        self.assertEqual(self.log_count("origin https://evil.example is not allowed"), 1)
        self.check_bystander(keeper)
        # allowed_origins is reloadable: SIGHUP with a new list applies to the next upgrade.
        path = self.broker.config_path()
        with open(path, encoding="utf-8") as f:
            text = f.read()
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace('"https://console.example.com:8443", "https://*.apps.example"',
                                 '"https://evil.example"'))
        os.kill(self.broker.proc.pid, signal.SIGHUP)
        self.wait_until(lambda: "reload: configuration applied" in self.broker.log(), WAIT_S, "reload")
        self.assertNotIn("takes effect after a restart", self.broker.log())
        s, head = self.upgrade(self.ports["ws"], ["Origin: https://evil.example"])
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
        s, head = self.upgrade(self.ports["ws"], ["Origin: https://console.example.com:8443"])
        self.assertTrue(head.startswith(b"HTTP/1.1 403"), head)

    # -- 5. PROXY protocol and X-Forwarded-For -----------------------------------------------------------------
    def expect_closing_line(self, address, cid):
        line = f"closing {address} ({cid})"
        self.wait_until(lambda: line in self.broker.log(), WAIT_S, line)

    def test_proxy_protocol_v1_and_v2_on_mqtt(self):
        self.start(listener("proxied", "mqtt", proxy_protocol=True))
        keeper = self.bystander()
        port = self.ports["proxied"]
        # Client ids until one CONNECT has hashed to the other worker (each does with probability 1/2): the plain
        # socket is handed over as a file descriptor there, and the proxied address must travel with it.
        handed = re.compile(r"connection from 203\.0\.113\.\d+:\d+ handed over from worker")
        i = 0
        while i < 4 or (not handed.search(self.broker.log()) and i < 40):
            i += 1
            cid = unique(f"v1-{i}-")
            s = self.connect_raw(port)
            s.sendall(f"PROXY TCP4 203.0.113.{i} 198.51.100.1 {40000 + i} 1883\r\n".encode() + connect_packet(cid))
            self.assertEqual(self.read_exactly(s, 4), b"\x20\x02\x00\x00")
            s.sendall(connect_packet(cid))  # a second CONNECT is a protocol error: closed, logged with the address
            self.read_until_closed(s)
            self.expect_closing_line(f"203.0.113.{i}:{40000 + i}", cid)
        self.assertTrue(handed.search(self.broker.log()), "no proxied connection was handed to the other worker")
        for i in range(4):
            cid = unique(f"v2-{i}-")
            s = self.connect_raw(port)
            s.sendall(proxy_v2(f"192.0.2.{i + 1}", 50000 + i) + connect_packet(cid))
            self.assertEqual(self.read_exactly(s, 4), b"\x20\x02\x00\x00")
            s.sendall(connect_packet(cid))
            self.read_until_closed(s)
            self.expect_closing_line(f"192.0.2.{i + 1}:{50000 + i}", cid)
        # v2 LOCAL (a proxy's health check) keeps the socket's own address.
        cid = unique("local-")
        s = self.connect_raw(port)
        local_port = s.getsockname()[1]
        s.sendall(proxy_v2("0.0.0.0", 0, command=0x0) + connect_packet(cid))
        self.assertEqual(self.read_exactly(s, 4), b"\x20\x02\x00\x00")
        s.sendall(connect_packet(cid))
        self.read_until_closed(s)
        self.expect_closing_line(f"127.0.0.1:{local_port}", cid)
        # No header, or a malformed one: closed without an answer, one log line each.
        s = self.connect_raw(port)
        s.sendall(connect_packet(unique("bare-")))
        self.assertEqual(self.read_until_closed(s), b"")
        s = self.connect_raw(port)
        s.sendall(b"PROXY TCP4 203.0.113.1 nonsense\r\n" + connect_packet(unique("bad-")))
        self.assertEqual(self.read_until_closed(s), b"")
        self.wait_until(lambda: "failed: PROXY v1 header" in self.broker.log(), WAIT_S, "log line")
        self.assertEqual(self.log_count("failed: no PROXY protocol header"), 1)
        self.assertEqual(self.log_count("failed: PROXY v1 header: expected"), 1)
        self.check_bystander(keeper)

    def test_proxy_protocol_before_tls_and_websocket(self):
        self.start(tls_listener("tls-proxied", proxy_protocol=True)
                   + listener("ws-proxied", "ws", proxy_protocol=True))
        ctx = ssl.create_default_context(cafile=CERTS["ca.pem"])
        for i in range(3):
            cid = unique(f"tls-{i}-")
            raw = self.connect_raw(self.ports["tls-proxied"])
            raw.sendall(proxy_v2(f"198.18.0.{i + 1}", 61000 + i))
            with ctx.wrap_socket(raw, server_hostname="localhost") as t:
                t.sendall(connect_packet(cid))
                self.assertEqual(self.read_exactly(t, 4), b"\x20\x02\x00\x00")
                t.sendall(connect_packet(cid))
                self.read_until_closed(t)
            self.expect_closing_line(f"198.18.0.{i + 1}:{61000 + i}", cid)
        for i in range(3):
            cid = unique(f"ws-{i}-")
            s = self.connect_raw(self.ports["ws-proxied"])
            s.sendall(f"PROXY TCP6 2001:db8::{i + 1} 2001:db8::ff 4711 8000\r\n".encode())
            s, head = self.upgrade(self.ports["ws-proxied"], sock=s)
            self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
            s.sendall(ws_frame(connect_packet(cid)))
            s.sendall(ws_frame(connect_packet(cid)))
            self.read_until_closed(s)
            self.expect_closing_line(f"[2001:db8::{i + 1}]:4711", cid)
        # Plain TLS without the header: closed before the handshake, logged once.
        raw = self.connect_raw(self.ports["tls-proxied"])
        with self.assertRaises((ssl.SSLError, OSError)):
            with ctx.wrap_socket(raw, server_hostname="localhost") as t:
                t.recv(1)
        self.wait_until(lambda: "failed: no PROXY protocol header" in self.broker.log(), WAIT_S, "log line")

    def test_x_forwarded_for(self):
        self.start(listener("ws-xff", "ws", trust_x_forwarded_for=True) + listener("ws-plain", "ws"))
        cases = (("ws-xff", ["X-Forwarded-For: 203.0.113.50, 10.0.0.1"], "203.0.113.50"),
                 ("ws-xff", ['Forwarded: for="[2001:db8:cafe::17]:4711";proto=https'], "[2001:db8:cafe::17]:4711"),
                 ("ws-xff", ["X-Forwarded-For: unknown"], None),  # nothing usable: the socket's address
                 ("ws-plain", ["X-Forwarded-For: 203.0.113.51"], None))  # not trusted: the socket's address
        for name, headers, address in cases:
            cid = unique("xff-")
            s = self.connect_raw(self.ports[name])
            address = address or f"127.0.0.1:{s.getsockname()[1]}"
            s, head = self.upgrade(self.ports[name], headers, sock=s)
            self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
            s.sendall(ws_frame(connect_packet(cid)) + ws_frame(connect_packet(cid)))
            self.read_until_closed(s)
            self.expect_closing_line(address, cid)

    # -- 6. max_connections ------------------------------------------------------------------------------------
    def test_listener_max_connections(self):
        self.start(listener("limited", "mqtt", max_connections=2) + listener("ws-limited", "ws", max_connections=1))
        port = self.ports["limited"]
        a = self.paho(port)
        b = self.paho(port)
        # The third connection is closed at once, before CONNACK; so are the next ones. Logged once (rate limit).
        for _ in range(3):
            s = self.connect_raw(port)
            try:
                s.sendall(connect_packet(unique("over-")))
            except OSError:
                pass  # already closed by mothd
            self.assertEqual(self.read_until_closed(s), b"")
        self.wait_until(lambda: "listener limited: max_connections 2 reached" in self.broker.log(), WAIT_S, "log")
        self.assertEqual(self.log_count("listener limited: max_connections 2 reached"), 1)
        self.assertIn("(1 refused since start", self.broker.log())
        # The two admitted clients still work.
        topic = unique("limit/")
        self.subscribe(a, topic)
        b.publish(topic, b"within the limit", qos=1)
        self.wait_message(a, b"within the limit")
        # One leaves: its place is free again (released once mothd has closed it).
        b.disconnect()
        b.loop_stop()

        def third_gets_in():
            s = socket.create_connection((HOST, port), timeout=WAIT_S)
            try:
                s.sendall(connect_packet(unique("again-")))
                return self.read_exactly(s, 4) == b"\x20\x02\x00\x00"
            except OSError:
                return False  # still refused (reset: mothd closed it with the CONNECT unread)
            finally:
                s.close()

        self.wait_until(third_gets_in, WAIT_S, "a place after a disconnect")
        # A WebSocket listener counts handshakes in progress and connections alike.
        s1, head = self.upgrade(self.ports["ws-limited"])
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
        s2 = self.connect_raw(self.ports["ws-limited"])
        self.assertEqual(self.read_until_closed(s2), b"")

    # -- 6b. the same options on an http listener's /mqtt upgrade ----------------------------------------------
    def http_get(self, port, path, sock=None):
        """GET over a fresh (or the given) socket with Connection: close; returns (status line, body)."""
        s = sock or self.connect_raw(port)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode())
        data = self.read_until_closed(s)
        head, _, body = data.partition(b"\r\n\r\n")
        return head.split(b"\r\n")[0], body

    def test_http_listener_upgrade_origin_forwarding_proxy_and_limit(self):
        self.start(listener("web", "http", allowed_origins=["https://console.example.com"], trust_x_forwarded_for=True)
                   + listener("web-proxied", "http", proxy_protocol=True)
                   + listener("web-limited", "http", max_connections=2))
        keeper = self.bystander()
        web = self.ports["web"]
        # Origin allow-list, as on a ws listener: 403 for another origin, logged once.
        s, head = self.upgrade(web, ["Origin: https://evil.example"])
        self.assertTrue(head.startswith(b"HTTP/1.1 403"), head)
        self.read_until_closed(s)
        self.wait_until(lambda: "origin https://evil.example is not allowed" in self.broker.log(), WAIT_S, "log")
        self.assertEqual(self.log_count("origin https://evil.example is not allowed"), 1)
        # An allowed origin with X-Forwarded-For: the forwarded address is the client's, and the connection carries
        # the http listener's tag (GET /api/v1/clients).
        cid = unique("web-")
        s, head = self.upgrade(web, ["Origin: https://console.example.com", "X-Forwarded-For: 203.0.113.60"])
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
        s.sendall(ws_frame(connect_packet(cid)))
        self.assertEqual(self.read_ws_payload(s, 4), b"\x20\x02\x00\x00")
        status, body = self.http_get(web, f"/api/v1/clients/{cid}")
        self.assertIn(b"200", status)
        for part in (b'"address":"203.0.113.60"', b'"listener":"web"', b'"transport":"http"'):
            self.assertIn(part, body)
        s.sendall(ws_frame(connect_packet(cid)))  # a second CONNECT: closed [MQTT-3.1.0-2]
        self.read_until_closed(s)
        self.expect_closing_line("203.0.113.60", cid)
        # proxy_protocol: the header comes before the first HTTP request, for API requests and upgrades alike.
        proxied = self.ports["web-proxied"]
        s = self.connect_raw(proxied)
        s.sendall(proxy_v2("198.18.1.7", 62000, dport=8080))
        status, body = self.http_get(proxied, "/api/v1/stats", sock=s)
        self.assertIn(b"200", status)
        cid = unique("webp-")
        s = self.connect_raw(proxied)
        s.sendall(b"PROXY TCP4 198.18.1.8 127.0.0.1 62001 8080\r\n")
        s, head = self.upgrade(proxied, sock=s)
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
        s.sendall(ws_frame(connect_packet(cid)) + ws_frame(connect_packet(cid)))
        self.read_until_closed(s)
        self.expect_closing_line("198.18.1.8:62001", cid)
        s = self.connect_raw(proxied)
        s.sendall(f"GET /api/v1/stats HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        self.assertEqual(self.read_until_closed(s), b"")  # no PROXY header: closed without an answer
        self.wait_until(lambda: "failed: no PROXY protocol header" in self.broker.log(), WAIT_S, "log line")
        # max_connections counts HTTP connections and upgraded ones alike.
        limited = self.ports["web-limited"]
        s1, head = self.upgrade(limited)
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
        s2 = self.connect_raw(limited)
        s2.sendall(f"GET /api/v1/stats HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        self.assertIn(b"200", self.read_exactly(s2, 12))
        s3 = self.connect_raw(limited)
        self.assertEqual(self.read_until_closed(s3), b"")
        self.wait_until(lambda: "listener web-limited: max_connections 2 reached" in self.broker.log(), WAIT_S, "log")
        self.check_bystander(keeper)

    # -- 7. WebSocket framing and bad input on the ws port ------------------------------------------------------
    def read_ws_payload(self, s, n):
        """Reads server frames (binary, unmasked) until `n` payload bytes have arrived."""
        payload = b""
        while len(payload) < n:
            head = self.read_exactly(s, 2)
            self.assertEqual(len(head), 2, f"closed after {payload!r}")
            self.assertEqual(head[0], 0x82, head)  # FIN + binary [MQTT-6.0.0-1]
            size = head[1] & 0x7F
            if size == 126:
                size = int.from_bytes(self.read_exactly(s, 2), "big")
            payload += self.read_exactly(s, size)
        return payload

    def test_packets_are_not_aligned_to_frames(self):
        """[MQTT-6.0.0-2]: a CONNECT split across three frames, the last also carrying a PINGREQ and the first half
        of another, whose second half comes in a fourth frame. [MQTT-6.0.0-4]: the answer names "mqtt"."""
        self.start(listener("ws", "ws"))
        s, head = self.upgrade(self.ports["ws"])
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
        self.assertIn(b"Sec-WebSocket-Protocol: mqtt\r\n", head)
        connect = connect_packet(unique("frames-"))
        s.sendall(ws_frame(connect[:3]))
        s.sendall(ws_frame(connect[3:9]))
        s.sendall(ws_frame(connect[9:] + b"\xc0\x00" + b"\xc0"))
        s.sendall(ws_frame(b"\x00"))
        self.assertEqual(self.read_ws_payload(s, 8), b"\x20\x02\x00\x00" + b"\xd0\x00" * 2)

    def test_bad_websocket_input_leaves_others_unaffected(self):
        self.start(listener("ws", "ws"))
        keeper = self.bystander()
        port = self.ports["ws"]
        # A broken handshake (no Sec-WebSocket-Key): 400 from the WebSocket layer.
        s, head = self.upgrade(port, key=False)
        self.assertTrue(head.startswith(b"HTTP/1.1 400"), head)
        # An unknown sub-protocol: refused with 400.
        s, head = self.upgrade(port, protocols="chat")
        self.assertTrue(head.startswith(b"HTTP/1.1 400"), head)
        # A TLS ClientHello on the ws port: not HTTP, 400.
        s = self.connect_raw(port)
        s.sendall(client_hello())
        self.assertTrue(self.read_until_closed(s).startswith(b"HTTP/1.1 400"))
        # Garbage: 400.
        s = self.connect_raw(port)
        s.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00\r\n\r\n")
        self.assertTrue(self.read_until_closed(s).startswith(b"HTTP/1.1 400"))
        # A text frame: closed with 1003 [MQTT-6.0.0-1].
        s, head = self.upgrade(port)
        s.sendall(ws_frame(b"hello", opcode=0x1))
        data = self.read_until_closed(s)
        self.assertEqual((data[0], int.from_bytes(data[2:4], "big")), (0x88, 1003), data)
        # A frame above limits.max_packet_size: closed with 1009.
        s, head = self.upgrade(port)
        s.sendall(bytes([0x82, 0x80 | 127]) + (2 * 1024 * 1024).to_bytes(8, "big") + b"\x01\x02\x03\x04")
        data = self.read_until_closed(s)
        self.assertEqual((data[0], int.from_bytes(data[2:4], "big")), (0x88, 1009), data)
        self.check_bystander(keeper)
        self.wait_until(lambda: "not an HTTP WebSocket upgrade request" in self.broker.log(), WAIT_S, "log line")
        self.assertEqual(self.log_count("not an HTTP WebSocket upgrade request"), 2)


if __name__ == "__main__":
    take_mothd_from_argv()
    unittest.main()
