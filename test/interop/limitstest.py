"""Helpers for the abuse-limit tests of issue 19 (test_limits*.py): raw CONNECTs that return the CONNACK code (from a
chosen source address), reading whole packets with a deadline, and waiting on a $SYS counter. Every wait is bounded.
"""

import socket
import time
import uuid

from broker import HOST
from rawmqtt import connect_packet, packet_type, split_packets
from pahoclient import Client, V311

WAIT_S = 20

# CONNACK codes (MQTT 5.0 reason codes, 3.1.1 return codes) the limits answer with.
V5_BANNED = 0x8A  # Banned [MQTT-3.2.2-8]
V5_RATE = 0x9F  # Connection rate exceeded
V5_MESSAGE_RATE = 0x96  # Message rate too high (DISCONNECT)
V3_UNAVAILABLE = 3  # Connection Refused, Server unavailable
V3_NOT_AUTHORIZED = 5  # Connection Refused, not authorized


def unique(prefix="t"):
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def read_packet(sock, buf=b"", timeout=WAIT_S):
    """(first whole packet, bytes after it) from `sock`, or (None, buf) if the peer closed first. Raises
    socket.timeout when nothing complete arrives within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        packets, _ = split_packets(buf)
        if packets:
            first = packets[0]
            return first, buf[len(first):]
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout(f"no whole packet within {timeout} s; have {buf!r}")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return None, buf
        if not chunk:
            return None, buf
        buf += chunk


def raw_connect(port, client_id, version=5, source=None, keepalive=60):
    """Opens a TCP connection (bound to the source address `source` if given), sends CONNECT and returns
    (socket, CONNACK code). The caller closes the socket."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(WAIT_S)
        if source is not None:
            s.bind((source, 0))
        s.connect((HOST, port))
        s.sendall(connect_packet(client_id, version=version, keepalive=keepalive))
        connack, _ = read_packet(s)
        if connack is None or packet_type(connack) != 2:
            raise AssertionError(f"{client_id}: expected CONNACK, got {connack!r}")
        return s, connack[3]
    except BaseException:
        s.close()
        raise


def connack_code(port, client_id, version=5, source=None):
    """One CONNECT and its CONNACK code; the connection is closed with DISCONNECT when it was accepted."""
    s, code = raw_connect(port, client_id, version, source)
    try:
        if code == 0:
            s.sendall(b"\xe0\x00")  # DISCONNECT, normal (both versions)
    finally:
        s.close()
    return code


class SysWatcher:
    """A paho client subscribed to $SYS/broker/clients/#; value(name) is the last number published for
    $SYS/broker/clients/<name>, wait_for(name, predicate) waits (bounded) until the predicate holds for it."""

    def __init__(self, testcase, port):
        self.client = Client(port, V311)
        testcase.addCleanup(self.client.stop)
        self.client.connect()
        self.client.subscribe("$SYS/broker/clients/#", 0)

    def value(self, name):
        topic = "$SYS/broker/clients/" + name
        with self.client.cond:
            for m in reversed(self.client.messages):
                if m.topic == topic:
                    return int(m.payload)
        return None

    def wait_for(self, name, predicate, timeout=WAIT_S):
        def ok():
            v = self.value(name)
            return v is not None and predicate(v)
        self.client.wait(ok, f"$SYS/broker/clients/{name} to satisfy the test (last {self.value(name)})", timeout)
        return self.value(name)
