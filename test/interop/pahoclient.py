"""A thin, deadline-bounded wrapper around paho.mqtt.client 1.6.1 (Debian's python3-paho-mqtt) for interop tests.

Every wait has a timeout and fails with what was seen so far. Callbacks (on_connect, on_subscribe, on_publish,
on_message, on_disconnect) run on paho's network thread (loop_start) and record into lists under one condition
variable; the test thread waits on it.
"""

import socket
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from broker import HOST

V311 = mqtt.MQTTv311
V5 = mqtt.MQTTv5
WAIT_S = 20


def publish_props(**kw):
    """Properties(PacketTypes.PUBLISH) from keyword arguments, e.g. publish_props(UserProperty=[("k", "v")])."""
    p = Properties(PacketTypes.PUBLISH)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def props(packet_type, **kw):
    p = Properties(packet_type)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


class Client:
    """One paho client. Use through ClientFactory so it is always stopped."""

    def __init__(self, port, version=V311, client_id=None, clean_session=True):
        self.port = port
        self.version = version
        self.client_id = client_id or f"paho-{uuid.uuid4().hex[:10]}"
        kw = {"clean_session": clean_session} if version != V5 else {}
        self.c = mqtt.Client(client_id=self.client_id, protocol=version, **kw)
        self.cond = threading.Condition()
        self.connack = None  # (flags, reason code as int, properties or None)
        self.messages = []
        self.suback = {}  # mid -> granted QoS / reason codes
        self.published = set()  # mids whose on_publish fired
        self.disconnected = None  # reason code
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_publish = self._on_publish
        self.c.on_disconnect = self._on_disconnect
        self.started = False

    # -- callbacks (paho's thread) --------------------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, rc, properties=None):
        with self.cond:
            self.connack = (flags, int(rc.value if hasattr(rc, "value") else rc), properties)
            self.cond.notify_all()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append(msg)
            self.cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        with self.cond:
            self.suback[mid] = [g.value if hasattr(g, "value") else g for g in granted]
            self.cond.notify_all()

    def _on_publish(self, client, userdata, mid):
        with self.cond:
            self.published.add(mid)
            self.cond.notify_all()

    def _on_disconnect(self, client, userdata, rc, properties=None):
        with self.cond:
            self.disconnected = rc
            self.cond.notify_all()

    # -- waiting -------------------------------------------------------------------------------------------
    def wait(self, predicate, what, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.client_id}: timed out after {timeout} s waiting for {what}; "
                                         f"connack={self.connack} messages={self.describe_messages()}")
                self.cond.wait(min(left, 0.1))

    def describe_messages(self):
        return [(m.topic, m.payload, m.qos, m.retain, self.msg_props(m)) for m in self.messages]

    @staticmethod
    def msg_props(m):
        p = getattr(m, "properties", None)
        return p.json() if p is not None else None

    # -- operations ----------------------------------------------------------------------------------------
    def connect(self, clean_start=True, properties=None, keepalive=30, expect_rc=0):
        """Connects and waits for CONNACK; returns (flags, reason code, properties)."""
        with self.cond:
            self.connack = None
            self.disconnected = None
        if self.version == V5:
            self.c.connect(HOST, self.port, keepalive=keepalive, clean_start=clean_start, properties=properties)
        else:
            self.c.connect(HOST, self.port, keepalive=keepalive)
        if not self.started:
            self.c.loop_start()
            self.started = True
        connack = self.wait(lambda: self.connack, "CONNACK")
        if expect_rc is not None and connack[1] != expect_rc:
            raise AssertionError(f"{self.client_id}: CONNACK {connack}, expected reason {expect_rc}")
        return connack

    def subscribe(self, topic, qos=1, options=None, properties=None):
        """Subscribes and waits for SUBACK; returns the granted QoS / reason codes."""
        if options is not None:
            rc, mid = self.c.subscribe(topic, options=options, properties=properties)
        else:
            rc, mid = self.c.subscribe(topic, qos, properties=properties)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise AssertionError(f"subscribe({topic!r}) failed locally: {rc}")
        return self.wait(lambda: self.suback.get(mid), f"SUBACK for {topic!r}")

    def publish(self, topic, payload, qos=0, retain=False, properties=None):
        """Publishes and waits for on_publish (QoS 1: PUBACK, QoS 2: PUBCOMP received). Returns the mid."""
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise AssertionError(f"publish({topic!r}) failed locally: {info.rc}")
        self.wait(lambda: info.mid in self.published, f"on_publish for mid {info.mid} (QoS {qos})")
        return info.mid

    def wait_messages(self, n, timeout=WAIT_S):
        """Waits until at least n messages arrived; returns all of them."""
        self.wait(lambda: len(self.messages) >= n, f"{n} messages", timeout)
        with self.cond:
            return list(self.messages)

    def wait_payload(self, payload, timeout=WAIT_S):
        """Waits for a message with this payload (bytes); returns the messages up to and including it."""
        def found():
            for i, m in enumerate(self.messages):
                if m.payload == payload:
                    return list(self.messages[: i + 1])
            return None
        return self.wait(found, f"a message with payload {payload!r}", timeout)

    def disconnect(self, properties=None, reasoncode=None):
        """Sends DISCONNECT and waits until paho has closed the connection."""
        if self.version == V5:
            self.c.disconnect(reasoncode=reasoncode, properties=properties)
        else:
            self.c.disconnect()
        self.wait(lambda: self.disconnected is not None, "the connection to close")
        self.stop()
        rc = self.disconnected
        if int(rc.value if hasattr(rc, "value") else rc) != 0:
            raise AssertionError(f"{self.client_id}: connection ended with {rc} instead of our DISCONNECT")

    def drop(self):
        """Closes the TCP connection without DISCONNECT (as a crashed client would)."""
        sock = self.c.socket()
        self.c.loop_stop()  # stops paho's thread without sending anything
        self.started = False
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def stop(self):
        if self.started:
            self.c.loop_stop()
            self.started = False


class ClientFactory:
    """Creates clients for one test and stops them all at cleanup."""

    def __init__(self, testcase, port):
        self.testcase = testcase
        self.port = port

    def client(self, version=V311, client_id=None, clean_session=True):
        c = Client(self.port, version, client_id, clean_session)
        self.testcase.addCleanup(c.stop)
        return c

    def connected(self, version=V311, client_id=None, clean_session=True, **connect_kw):
        c = self.client(version, client_id, clean_session)
        c.connect(**connect_kw)
        return c


__all__ = ["Client", "ClientFactory", "V311", "V5", "publish_props", "props", "PacketTypes", "Properties",
           "SubscribeOptions"]
