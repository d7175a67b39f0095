"""TLS, WebSocket and secure WebSocket listeners of mothd, driven by third-party clients and raw sockets.

Every test gets a mothd with six listeners on 127.0.0.1, port 0: mqtt, mqtts (server certificate only), mqtts with
required client certificates, mqtts with optional client certificates, ws and wss. Certificates come from the `openssl` command in a temporary directory:
a CA, a server certificate for localhost and 127.0.0.1, and a client certificate, all signed by the CA.
"""

import os
import shutil
import ssl
import subprocess
import tempfile
import unittest

import paho.mqtt.client as mqtt

from broker import HOST, Broker, BrokerTestCase, take_mothd_from_argv
from listenertest import WAIT_S, ListenerTestMixin, listener_ports, make_ca, make_cert, unique

CERTS = None  # set by setUpModule


def make_certs(d):
    make_ca(d)
    make_cert(d, "server", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    make_cert(d, "client", "/CN=moth-test-client", "extendedKeyUsage=clientAuth\n")
    return {k: os.path.join(d, v) for k, v in (("ca", "ca.pem"), ("cert", "server.pem"), ("key", "server.key"),
                                                 ("client_cert", "client.pem"), ("client_key", "client.key"))}


def setUpModule():
    global CERTS
    d = tempfile.mkdtemp(prefix="moth-certs-")
    unittest.addModuleCleanup(shutil.rmtree, d, ignore_errors=True)
    CERTS = make_certs(d)


class MultiBroker(Broker):
    """A Broker whose config adds mqtts, mqtts with client certificates, ws and wss listeners."""

    def __init__(self):
        c = CERTS
        listeners = (
            f'[[listener]]\nname = "tls"\nkind = "mqtts"\nbind = "{HOST}"\nport = 0\n'
            f'cert_file = "{c["cert"]}"\nkey_file = "{c["key"]}"\n'
            f'[[listener]]\nname = "tls-client"\nkind = "mqtts"\nbind = "{HOST}"\nport = 0\n'
            f'cert_file = "{c["cert"]}"\nkey_file = "{c["key"]}"\nca_file = "{c["ca"]}"\nrequire_client_cert = true\n'
            f'[[listener]]\nname = "tls-optional"\nkind = "mqtts"\nbind = "{HOST}"\nport = 0\n'
            f'cert_file = "{c["cert"]}"\nkey_file = "{c["key"]}"\nca_file = "{c["ca"]}"\n'
            f'[[listener]]\nname = "ws"\nkind = "ws"\nbind = "{HOST}"\nport = 0\n'
            f'[[listener]]\nname = "wss"\nkind = "wss"\nbind = "{HOST}"\nport = 0\n'
            f'cert_file = "{c["cert"]}"\nkey_file = "{c["key"]}"\n')
        super().__init__(extra_toml="", )
        self.listeners_toml = listeners

    def start(self):
        # The base class writes `extra_toml` before its own [[listener]]; array-of-tables entries may come first.
        self.extra_toml = self.listeners_toml
        return super().start()

    def ports(self):
        return listener_ports(self.dir)


class TlsWsTestCase(ListenerTestMixin, BrokerTestCase):
    def setUp(self):
        unittest.TestCase.setUp(self)
        self.broker = MultiBroker()
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)
        self.broker.start()
        self.ports = self.broker.ports()
        self.port = self.broker.port

    def paho(self, transport="tcp", port=None, tls=False, version=mqtt.MQTTv311):
        return ListenerTestMixin.paho(self, port, transport, tls={"ca_certs": CERTS["ca"]} if tls else None,
                                      version=version)

    # -- mosquitto over TLS ------------------------------------------------------------------------------------
    def mosquitto(self, tool, port, *args):
        cmd = [tool, "-h", HOST, "-p", str(port), "--cafile", CERTS["ca"], *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        return p

    def test_mosquitto_over_tls_with_ca_verification(self):
        topic = unique("tls/")
        p = self.mosquitto("mosquitto_pub", self.ports["tls"], "-t", topic, "-m", "over tls", "-r", "-q", "1")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.mosquitto("mosquitto_sub", self.ports["tls"], "-t", topic, "-C", "1", "-W", "30")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "over tls\n")

    def test_mosquitto_with_client_certificate(self):
        topic = unique("tls/")
        client = ("--cert", CERTS["client_cert"], "--key", CERTS["client_key"])
        p = self.mosquitto("mosquitto_pub", self.ports["tls-client"], *client, "-t", topic, "-m", "cert", "-r")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.mosquitto("mosquitto_sub", self.ports["tls-client"], *client, "-t", topic, "-C", "1", "-W", "30")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "cert\n")
        # Without a client certificate the handshake is refused.
        p = self.mosquitto("mosquitto_pub", self.ports["tls-client"], "-t", topic, "-m", "x")
        self.assertNotEqual(p.returncode, 0)

    def test_optional_client_certificate(self):
        topic = unique("tls/")
        client = ("--cert", CERTS["client_cert"], "--key", CERTS["client_key"])
        p = self.mosquitto("mosquitto_pub", self.ports["tls-optional"], *client, "-t", topic, "-m", "with", "-r")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.mosquitto("mosquitto_sub", self.ports["tls-optional"], "-t", topic, "-C", "1", "-W", "30")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "with\n")

    def test_mosquitto_refuses_an_untrusted_server(self):
        p = subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(self.ports["tls"]), "--capath", "/nonexistent",
                            "-t", "x", "-m", "x"], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)

    # -- paho over ws and wss ----------------------------------------------------------------------------------
    def test_paho_over_ws_and_wss(self):
        for name, tls in (("ws", False), ("wss", True)):
            for version in (mqtt.MQTTv311, mqtt.MQTTv5):
                with self.subTest(listener=name, version=version):
                    sub = self.paho("websockets", self.ports[name], tls=tls, version=version)
                    pub = self.paho("websockets", self.ports[name], tls=tls, version=version)
                    topic = unique("ws/")
                    self.subscribe(sub, topic)
                    big = bytes(range(256)) * 400  # spans many TCP segments and several reads
                    pub.publish(topic, b"small", qos=1)
                    pub.publish(topic, big, qos=1)
                    self.wait_message(sub, b"small")
                    self.wait_message(sub, big)

    def test_tcp_and_wss_exchange_both_ways(self):
        tcp = self.paho("tcp", self.port)
        wss = self.paho("websockets", self.ports["wss"], tls=True, version=mqtt.MQTTv5)
        self.subscribe(tcp, "demo/to-device")
        self.subscribe(wss, "demo/from-device")
        for i in range(20):
            tcp.publish("demo/from-device", f"reading {i}".encode(), qos=1)
            wss.publish("demo/to-device", f"command {i}".encode(), qos=1)
        for i in range(20):
            self.wait_message(wss, f"reading {i}".encode())
            self.wait_message(tcp, f"command {i}".encode())

    # -- bad input ---------------------------------------------------------------------------------------------
    def test_plain_http_and_garbage_on_the_tls_port_are_closed(self):
        bystander = self.paho("tcp", self.port)
        self.subscribe(bystander, "still/here")
        for payload in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00",
                        bytes(range(256))):
            s = self.connect_raw(self.ports["tls"])
            s.sendall(payload)
            self.read_until_closed(s)  # closed by mothd (a TLS alert at most), not left hanging
        pub = self.paho("tcp", self.port)
        pub.publish("still/here", b"yes", qos=1)
        self.wait_message(bystander, b"yes")
        # One line per refused connection.
        self.wait_until(lambda: self.broker.log().count("listener tls: handshake with") == 3, WAIT_S,
                        "the three handshake failures logged")

    def test_tls_client_hello_on_the_plain_port_is_closed(self):
        bystander = self.paho("tcp", self.port)
        self.subscribe(bystander, "still/here")
        raw = self.connect_raw(self.port)
        local = f"closing 127.0.0.1:{raw.getsockname()[1]}: "
        ctx = ssl.create_default_context(cafile=CERTS["ca"])
        with self.assertRaises((ssl.SSLError, OSError)):
            with ctx.wrap_socket(raw, server_hostname="localhost") as t:
                t.recv(1)
        pub = self.paho("tcp", self.port)
        pub.publish("still/here", b"yes", qos=1)
        self.wait_message(bystander, b"yes")
        # Closed as a malformed first packet, logged once.
        self.wait_until(lambda: local in self.broker.log(), WAIT_S, "the refusal logged")
        self.assertEqual(self.broker.log().count(local), 1)

    def test_websocket_upgrade_needs_an_mqtt_subprotocol(self):  # [MQTT-6.0.0-4]
        s, head = self.upgrade(self.ports["ws"], protocols="chat, superchat")
        self.assertTrue(head.startswith(b"HTTP/1.1 400"), head)
        s, head = self.upgrade(self.ports["ws"], protocols=None)
        self.assertTrue(head.startswith(b"HTTP/1.1 400"), head)
        s, head = self.upgrade(self.ports["ws"], protocols="mqtt", path="/other")
        self.assertTrue(head.startswith(b"HTTP/1.1 404"), head)
        s, head = self.upgrade(self.ports["ws"], protocols="chat, mqttv3.1, mqtt")
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
        self.assertIn(b"Sec-WebSocket-Protocol: mqttv3.1\r\n", head)

    def test_text_frame_is_closed_with_1003(self):  # [MQTT-6.0.0-1]
        s, head = self.upgrade(self.ports["ws"], protocols="mqtt")
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
        payload = b"hello"
        mask = b"\x01\x02\x03\x04"
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)  # FIN + text, masked
        data = self.read_until_closed(s)
        self.assertGreaterEqual(len(data), 4, data)
        self.assertEqual(data[0], 0x88, data)  # FIN + close
        self.assertEqual(int.from_bytes(data[2:4], "big"), 1003, data)

    def test_oversized_frame_is_closed_with_1009(self):
        s, head = self.upgrade(self.ports["ws"], protocols="mqtt")
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
        # A binary frame announcing 2 MiB, above limits.max_packet_size (1 MiB): refused from its header alone.
        s.sendall(bytes([0x82, 0x80 | 127]) + (2 * 1024 * 1024).to_bytes(8, "big") + b"\x01\x02\x03\x04")
        data = self.read_until_closed(s)
        self.assertGreaterEqual(len(data), 4, data)
        self.assertEqual(data[0], 0x88, data)  # FIN + close
        self.assertEqual(int.from_bytes(data[2:4], "big"), 1009, data)


if __name__ == "__main__":
    take_mothd_from_argv()
    unittest.main()
