"""The MQTT-SN gateway on the wire: raw UDP datagrams against the real mothd, checked byte by byte, with an MQTT client
(mosquitto_pub/mosquitto_sub) on the other side. Covers what the moth sn client does not show: the gateway's exact
answers, SEARCHGW/GWINFO, the forwarder encapsulation (section 5.5), and the gateway's own REGISTER (6.10).
"""

import os
import socket
import struct
import subprocess
import time
import unittest

import broker
from broker import HOST, Broker, BrokerTestCase

TIMEOUT_S = 10.0


def sn(msg_type, body=b""):
    """One MQTT-SN message: Length (1 octet here), MsgType, body."""
    return bytes([2 + len(body), msg_type]) + body


def encapsulated(node_id, inner, ctrl=0):
    return bytes([3 + len(node_id), 0xFE, ctrl]) + node_id + inner


CONNECT, CONNACK, REGISTER, REGACK, PUBLISH, PUBACK = 0x04, 0x05, 0x0A, 0x0B, 0x0C, 0x0D
SUBSCRIBE, SUBACK, DISCONNECT, SEARCHGW, GWINFO = 0x12, 0x13, 0x18, 0x01, 0x02


def connect(client_id, duration=60, clean=True):
    return sn(CONNECT, bytes([0x04 if clean else 0x00, 0x01]) + struct.pack(">H", duration) + client_id.encode())


class SnBroker(Broker):
    """mothd with an mqttsn listener next to the MQTT one; `sn_port` read from the same ports file."""

    def __init__(self, extra_toml=""):
        super().__init__((), extra_toml=extra_toml + '\n[[listener]]\nkind = "mqttsn"\nbind = "127.0.0.1"\nport = 0\n',
                         anonymous=True)
        self.sn_port = None

    def start(self):
        super().start()
        with open(os.path.join(self.dir, "ports"), encoding="utf-8") as f:
            for line in f.read().splitlines():
                fields = line.split()
                if fields[1] == "mqttsn":
                    self.sn_port = int(fields[3])
        if self.sn_port is None:
            raise AssertionError("no mqttsn listener in the ports file")
        return self


class AdvertiseTest(BrokerTestCase):
    def setUp(self):
        unittest.TestCase.setUp(self)
        # Where ADVERTISE goes: a socket of this test (an explicit advertise_address works on loopback too).
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(TIMEOUT_S)
        self.addCleanup(self.sock.close)
        port = self.sock.getsockname()[1]
        self.broker = SnBroker(f'[mqttsn]\ngateway_id = 9\nadvertise_interval_s = 1\n'
                               f'advertise_address = "{HOST}:{port}"\n')
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)
        self.broker.start()

    def test_advertise_is_sent_periodically_with_the_gateway_id_and_duration(self):
        # 5.4.1 / 6.1: ADVERTISE(GwId, Duration) every Duration seconds.
        first, _ = self.sock.recvfrom(64)
        second, _ = self.sock.recvfrom(64)
        self.assertEqual(first, bytes([0x05, 0x00, 9, 0x00, 0x01]))
        self.assertEqual(second, first)


class GatewayWireTest(BrokerTestCase):
    def setUp(self):
        unittest.TestCase.setUp(self)
        self.broker = SnBroker('[mqttsn]\ngateway_id = 42\n[mqttsn.predefined]\n7 = "pre/seven"\n')
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)
        self.broker.start()
        self.port = self.broker.port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(TIMEOUT_S)
        self.addCleanup(self.sock.close)

    def send(self, datagram):
        self.sock.sendto(datagram, (HOST, self.broker.sn_port))

    def receive(self, msg_type=None):
        """The next datagram from the gateway (skipping none), asserting its type when given."""
        data, _ = self.sock.recvfrom(65535)
        if msg_type is not None:
            kind = data[1] if data[0] != 0x01 else data[3]
            self.assertEqual(kind, msg_type, data.hex())
        return data

    def subscriber(self, topic, count):
        proc = subprocess.Popen(["stdbuf", "-oL", "mosquitto_sub", "-h", HOST, "-p", str(self.port), "-t", topic,
                                 "-v", "-q", "1", "-C", str(count), "-W", str(int(TIMEOUT_S))],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        return proc

    def test_searchgw_is_answered_with_gwinfo_naming_the_gateway(self):
        # 6.1 / 5.4.2-5.4.3: SEARCHGW(radius) -> GWINFO(GwId) without GwAdd (sent by the gateway itself).
        self.send(sn(SEARCHGW, b"\x01"))
        self.assertEqual(self.receive(), bytes([0x03, GWINFO, 42]))

    def test_connect_register_publish_reach_an_mqtt_subscriber(self):
        sub = self.subscriber("wire/#", 1)
        self.send(connect("wire-1"))
        self.assertEqual(self.receive(), bytes([0x03, CONNACK, 0x00]))  # 5.4.5: Accepted
        # 6.5: REGISTER from the client (TopicId 0x0000) -> REGACK with the id the gateway assigned, same MsgId.
        self.send(sn(REGISTER, b"\x00\x00\x00\x09wire/temp"))
        regack = self.receive(REGACK)
        self.assertEqual(len(regack), 7)
        topic_id = regack[2:4]
        self.assertNotEqual(topic_id, b"\x00\x00")
        self.assertEqual(regack[4:7], b"\x00\x09\x00")
        deadline = time.monotonic() + TIMEOUT_S
        got = ""
        # QoS 1 PUBLISH (flags 0x20, normal topic id), again until the subscriber has one: the first may come before
        # mosquitto_sub's SUBSCRIBE (it exits after one message, -C 1).
        msg_id = 1
        while "wire/temp 21.5" not in got and time.monotonic() < deadline:
            self.send(sn(PUBLISH, b"\x20" + topic_id + struct.pack(">H", msg_id) + b"21.5"))
            puback = self.receive(PUBACK)
            self.assertEqual(puback, bytes([0x07, PUBACK]) + topic_id + struct.pack(">H", msg_id) + b"\x00")
            msg_id += 1
            try:
                got += sub.communicate(timeout=0.5)[0]
            except subprocess.TimeoutExpired:
                continue
        self.assertIn("wire/temp 21.5", got)
        # An unknown topic id: PUBACK "Rejected: invalid topic ID" (6.6), nothing published.
        self.send(sn(PUBLISH, b"\x20\x12\x34\x00\x63x"))
        self.assertEqual(self.receive(PUBACK), bytes([0x07, PUBACK, 0x12, 0x34, 0x00, 0x63, 0x02]))
        self.send(sn(DISCONNECT))
        self.assertEqual(self.receive(), bytes([0x02, DISCONNECT]))

    def test_forwarder_encapsulation_is_answered_in_kind(self):
        # 5.5: a forwarder wraps each message with Ctrl and the Wireless Node Id; the gateway wraps its answers for
        # the same node, so the forwarder knows where to send them.
        node = b"\xAA\xBB\xCC"
        self.send(encapsulated(node, connect("radio-1")))
        reply = self.receive()
        self.assertEqual(reply, encapsulated(node, bytes([0x03, CONNACK, 0x00])))
        self.send(encapsulated(node, sn(SUBSCRIBE, b"\x21\x00\x05" + struct.pack(">H", 7))))  # predefined id 7, QoS 1
        suback = self.receive()
        self.assertEqual(suback[:6], bytes([6, 0xFE, 0]) + node)
        self.assertEqual(suback[6:], bytes([0x08, SUBACK, 0x20, 0x00, 0x07, 0x00, 0x05, 0x00]))
        subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(self.port), "-t", "pre/seven", "-m", "hello", "-q", "1"],
                       check=True, timeout=TIMEOUT_S)
        delivered = self.receive()
        self.assertEqual(delivered[:6], bytes([6, 0xFE, 0]) + node)
        inner = delivered[6:]
        self.assertEqual(inner[1], PUBLISH)
        self.assertEqual(inner[2] & 0x63, 0x21)  # QoS 1, predefined topic id
        self.assertEqual(inner[3:5], b"\x00\x07")
        self.assertEqual(inner[7:], b"hello")

    def test_radio_nodes_behind_one_forwarder_are_separate_clients(self):
        # 5.5: the Wireless Node Id names the node; two nodes behind the same forwarder (one UDP address) are two
        # clients with their own sessions: the second CONNECT does not end the first.
        a, b = b"\x01", b"\x02"
        self.send(encapsulated(a, connect("node-a")))
        self.assertEqual(self.receive(), encapsulated(a, bytes([0x03, CONNACK, 0x00])))
        self.send(encapsulated(a, sn(SUBSCRIBE, b"\x01\x00\x01" + struct.pack(">H", 7))))  # predefined 7, QoS 0
        self.assertEqual(self.receive()[4 + 1], SUBACK)
        self.send(encapsulated(b, connect("node-b")))
        self.assertEqual(self.receive(), encapsulated(b, bytes([0x03, CONNACK, 0x00])))
        # Node a's session (and its subscription) survived node b's CONNECT: a message reaches node a.
        subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(self.port), "-t", "pre/seven", "-m", "to-a"],
                       check=True, timeout=TIMEOUT_S)
        delivered = self.receive()
        self.assertEqual(delivered[:4], bytes([4, 0xFE, 0]) + a)
        self.assertEqual(delivered[4:], bytes([0x0B, PUBLISH, 0x01, 0x00, 0x07, 0x00, 0x00]) + b"to-a")

    def test_the_gateway_registers_a_topic_before_delivering_it(self):
        # 6.10: for a topic the client has no id for (a wildcard subscription), REGISTER comes first; the PUBLISH
        # waits for the REGACK and then uses the registered id.
        self.send(connect("wild-1"))
        self.receive(CONNACK)
        self.send(sn(SUBSCRIBE, b"\x00\x00\x01wild/#"))  # QoS 0, topic name with a wildcard
        self.assertEqual(self.receive(SUBACK), bytes([0x08, SUBACK, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00]))
        subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(self.port), "-t", "wild/one", "-m", "1"],
                       check=True, timeout=TIMEOUT_S)
        register = self.receive(REGISTER)
        topic_id, msg_id, name = register[2:4], register[4:6], register[6:]
        self.assertEqual(name, b"wild/one")
        self.send(sn(REGACK, topic_id + msg_id + b"\x00"))
        publish = self.receive(PUBLISH)
        self.assertEqual(publish[3:5], topic_id)
        self.assertEqual(publish[7:], b"1")

    def test_a_datagram_from_an_unconnected_client_gets_disconnect(self):
        # Not connected (no CONNECT from this address): the gateway says DISCONNECT so the client connects.
        self.send(sn(PUBLISH, b"\x20\x00\x01\x00\x01x"))
        self.assertEqual(self.receive(), bytes([0x02, DISCONNECT]))


if __name__ == "__main__":
    broker.take_mothd_from_argv()
    unittest.main()
