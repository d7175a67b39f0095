"""One MQTT packet per WebSocket message, on every WebSocket path of mothd (ws, wss, and /mqtt on the http
listener), and the reason code of a broker-side close readable by a client that is still sending.

Early Paho JavaScript (mqttws31.js, still bundled by the HiveMQ websocket client page) decodes exactly one MQTT
packet per WebSocket message and drops the rest. A raw WebSocket client here checks that every message mothd
sends parses as exactly one whole MQTT packet: a SUBACK and the retained PUBLISH it triggers, a PUBACK and the echo
of the client's own PUBLISH, and a burst of 1,000 QoS 0 messages.

Lingering close: a client that keeps sending QoS 2 PUBLISHes beyond Receive Maximum must read DISCONNECT 0x93
instead of a connection reset, in at least 99 of 100 runs.
"""

import collections
import os
import select
import shutil
import socket
import ssl
import struct
import tempfile
import time
import unittest

import paho.mqtt.client as mqtt

from broker import HOST, Broker, BrokerTestCase, take_mothd_from_argv
from listenertest import WAIT_S, listener_ports, make_ca, make_cert, unique
from rawmqtt import connect_packet, packet_type, publish_packet, split_packets, subscribe_packet

CERTS = None  # set by setUpModule


def setUpModule():
    global CERTS
    d = tempfile.mkdtemp(prefix="moth-certs-")
    unittest.addModuleCleanup(shutil.rmtree, d, ignore_errors=True)
    make_ca(d)
    make_cert(d, "server", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    CERTS = {"ca": os.path.join(d, "ca.pem"), "cert": os.path.join(d, "server.pem"),
             "key": os.path.join(d, "server.key")}


# ---- a raw WebSocket client ----------------------------------------------------------------------------------

class RawWs:
    """A WebSocket client on a socket, reading whole messages (continuation frames joined) with a deadline."""

    def __init__(self, sock, port, path="/mqtt"):
        self.sock = sock
        self.sock.settimeout(WAIT_S)
        req = (f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: mqtt\r\n\r\n")
        self.sock.sendall(req.encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise AssertionError(f"closed during the upgrade: {self.buf!r}")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise AssertionError(f"upgrade refused: {head!r}")

    def send(self, payload):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x82]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("the connection closed")
            self.buf += chunk

    def _frame(self):
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        if b1 & 0x80:
            raise AssertionError("a server frame is masked (RFC 6455 section 5.1)")
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack(">Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return b0 & 0x80, b0 & 0x0F, payload

    def message(self):
        """The next data message's payload (control frames are skipped)."""
        data = b""
        while True:
            fin, opcode, payload = self._frame()
            if opcode >= 0x8:
                if opcode == 0x8:
                    raise AssertionError(f"close frame: {payload!r}")
                continue
            data += payload
            if fin:
                return data

    def packet(self):
        """The next message, which must hold exactly one whole MQTT packet; returns that packet."""
        data = self.message()
        packets, rest = split_packets(data)
        if len(packets) != 1 or rest:
            raise AssertionError(f"a WebSocket message holds {len(packets)} packets and {len(rest)} more bytes, "
                                 f"not exactly one packet: {data[:64].hex(' ')}")
        return packets[0]


class FramingBroker(Broker):
    """A Broker with ws, wss and http listeners too."""

    def start(self):
        c = CERTS
        self.extra_toml = (
            "[limits]\nreceive_maximum = 2\n"
            f'[[listener]]\nname = "ws"\nkind = "ws"\nbind = "{HOST}"\nport = 0\n'
            f'[[listener]]\nname = "wss"\nkind = "wss"\nbind = "{HOST}"\nport = 0\n'
            f'cert_file = "{c["cert"]}"\nkey_file = "{c["key"]}"\n'
            f'[[listener]]\nname = "web"\nkind = "http"\nbind = "{HOST}"\nport = 0\n')
        super().start()
        self.ports = listener_ports(self.dir)
        return self


class WsFramingTest(BrokerTestCase):
    def setUp(self):
        unittest.TestCase.setUp(self)
        self.broker = FramingBroker()
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)
        self.broker.start()
        self.port = self.broker.port

    def endpoints(self):
        return ("ws", "wss", "web")

    def ws(self, endpoint, client_id):
        port = self.broker.ports[endpoint]
        sock = socket.create_connection((HOST, port), timeout=WAIT_S)
        self.addCleanup(sock.close)
        if endpoint == "wss":
            ctx = ssl.create_default_context(cafile=CERTS["ca"])
            sock = ctx.wrap_socket(sock, server_hostname="localhost")
        ws = RawWs(sock, port)
        ws.send(connect_packet(client_id))
        connack = ws.packet()
        self.assertEqual(connack, b"\x20\x02\x00\x00")
        return ws

    def tcp_publisher(self):
        c = mqtt.Client(client_id=unique("pub"), protocol=mqtt.MQTTv311)
        c.connect(HOST, self.port, keepalive=30)
        c.loop_start()
        self.addCleanup(c.loop_stop)
        self.addCleanup(c.disconnect)
        return c

    def test_suback_and_retained_message_are_separate_messages(self):
        pub = self.tcp_publisher()
        for endpoint in self.endpoints():
            with self.subTest(endpoint=endpoint):
                topic = unique("retained/")
                pub.publish(topic, b"kept", qos=1, retain=True).wait_for_publish(WAIT_S)
                ws = self.ws(endpoint, unique("sub"))
                ws.send(subscribe_packet(1, topic, 1))
                suback = ws.packet()
                self.assertEqual(suback, b"\x90\x03\x00\x01\x01")
                retained = ws.packet()
                self.assertEqual(packet_type(retained), 3)
                self.assertTrue(retained[0] & 0x01, "retain flag [MQTT-3.3.1-8]")
                self.assertTrue(retained.endswith(b"kept"))

    def test_puback_and_echo_are_separate_messages(self):
        for endpoint in self.endpoints():
            with self.subTest(endpoint=endpoint):
                topic = unique("echo/")
                ws = self.ws(endpoint, unique("echo"))
                ws.send(subscribe_packet(1, topic, 1))
                self.assertEqual(ws.packet(), b"\x90\x03\x00\x01\x01")
                ws.send(publish_packet(topic, b"me", qos=1, packet_id=7))
                got = [ws.packet(), ws.packet()]
                types = sorted(packet_type(p) for p in got)
                self.assertEqual(types, [3, 4], [p.hex(" ") for p in got])  # PUBLISH (echo) and PUBACK
                self.assertIn(b"\x40\x02\x00\x07", got)

    def test_a_burst_of_qos0_messages_arrives_one_per_message(self):
        pub = self.tcp_publisher()
        for endpoint in self.endpoints():
            with self.subTest(endpoint=endpoint):
                topic = unique("burst/")
                ws = self.ws(endpoint, unique("burst"))
                ws.send(subscribe_packet(1, topic, 0))
                self.assertEqual(ws.packet(), b"\x90\x03\x00\x01\x00")
                for i in range(1000):
                    pub.publish(topic, str(i).encode(), qos=0)
                for i in range(1000):
                    p = ws.packet()
                    self.assertEqual(packet_type(p), 3)
                    self.assertTrue(p.endswith(str(i).encode()), f"message {i}: {p.hex(' ')}")


class LingeringCloseTest(BrokerTestCase):
    broker_overrides = ("limits.receive_maximum=2",)
    RUNS = 100

    @staticmethod
    def got_disconnect_0x93(data):
        packets, _ = split_packets(data)
        return any(packet_type(p) == 14 and len(p) >= 3 and p[2] == 0x93 for p in packets)

    def flood_once(self, run):
        """Connects (5.0) and sends QoS 2 PUBLISHes without PUBREL, reading between writes, the way a client
        library's loop does, and stopping at the first socket error as such a loop does. Returns the bytes read
        and how it ended."""
        s = socket.create_connection((HOST, self.port), timeout=WAIT_S)
        self.addCleanup(s.close)
        s.sendall(connect_packet(f"greedy-{run}", version=5))
        data, pid = b"", 1
        deadline = time.monotonic() + WAIT_S
        try:
            while time.monotonic() < deadline:
                try:
                    s.sendall(b"".join(publish_packet("flood", b"x" * 64, qos=2, packet_id=pid + i, version=5)
                                       for i in range(32)))
                except OSError as e:
                    return data, f"send failed: {e}"
                pid += 32
                while select.select([s], [], [], 0)[0]:
                    try:
                        chunk = s.recv(65536)
                    except OSError as e:
                        return data, f"recv failed: {e}"
                    if not chunk:
                        return data, "end of stream"
                    data += chunk
                    if self.got_disconnect_0x93(data):
                        return data, "DISCONNECT read"
            return data, "timed out"
        finally:
            s.close()

    def test_a_client_still_sending_reads_disconnect_0x93(self):  # [MQTT-3.3.4-7]
        endings = collections.Counter()
        read = 0
        for run in range(self.RUNS):
            data, ending = self.flood_once(run)
            endings[ending.split(":")[0]] += 1
            read += self.got_disconnect_0x93(data)
        self.assertGreaterEqual(read, 99, f"DISCONNECT 0x93 read in {read} of {self.RUNS} runs: {dict(endings)}")


if __name__ == "__main__":
    take_mothd_from_argv()
    unittest.main()
