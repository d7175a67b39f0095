"""Durable state across restarts of the real mothd (label integration).

Each test runs mothd on a data directory of its own, stops it (SIGTERM) or kills it (SIGKILL), starts it again
on the same directory and checks over MQTT what the broker remembers: persistent sessions and their
subscriptions, queued messages, retained messages, QoS 2 receive state; and how a damaged store is refused or,
when asked, moved aside.

Run: MOTHD=build/dev/apps/mothd/mothd /usr/bin/python3 -m unittest -v test_durability
"""
import glob
import os
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
import unittest

import paho.mqtt.client as mqtt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mothd_run import HOST, Mothd, STOP_TIMEOUT_S  # noqa: E402

TIMEOUT_S = 30


def wait_for(cond, what, timeout=TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)  # polling interval of a condition wait


class Client:
    """A paho client that records what it receives."""

    def __init__(self, port, client_id, clean, subscribe=None, qos=1):
        self.messages = []
        self.lock = threading.Lock()
        self.connack = None
        self.suback = threading.Event()
        self.c = mqtt.Client(client_id=client_id, clean_session=clean, protocol=mqtt.MQTTv311)
        self.c.on_connect = lambda c, u, flags, rc: setattr(self, "connack", (flags.get("session present"), rc))
        self.c.on_message = self._on_message
        self.c.on_subscribe = lambda c, u, mid, granted: self.suback.set()
        self.c.connect(HOST, port, keepalive=30)
        self.c.loop_start()
        wait_for(lambda: self.connack is not None, f"CONNACK for {client_id}")
        if subscribe:
            self.c.subscribe(subscribe, qos=qos)
            assert self.suback.wait(TIMEOUT_S), "no SUBACK"

    def _on_message(self, c, u, m):
        with self.lock:
            self.messages.append((m.topic, m.payload.decode(), m.qos, m.retain))

    def payloads(self, prefix=""):
        with self.lock:
            return [p for t, p, q, r in self.messages if t.startswith(prefix)]

    def publish(self, topic, payload, qos=1, retain=False):
        self.c.publish(topic, payload, qos=qos, retain=retain).wait_for_publish()

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def raw_connect(port, client_id):
    """A raw MQTT 3.1.1 client (CONNECT with Clean Session 0); returns the socket and the CONNACK."""
    def s(b):
        return struct.pack(">H", len(b)) + b
    body = s(b"MQTT") + bytes([4, 0]) + struct.pack(">H", 60) + s(client_id.encode())
    so = socket.create_connection((HOST, port))
    so.settimeout(TIMEOUT_S)
    so.sendall(bytes([0x10, len(body)]) + body)
    return so, recv_exact(so, 4)


def recv_exact(so, n):
    out = b""
    while len(out) < n:
        chunk = so.recv(n - len(out))
        if not chunk:
            raise AssertionError("connection closed")
        out += chunk
    return out


def raw_publish_qos2(so, topic, packet_id, payload, dup=False):
    body = struct.pack(">H", len(topic)) + topic.encode() + struct.pack(">H", packet_id) + payload.encode()
    so.sendall(bytes([0x34 | (0x08 if dup else 0), len(body)]) + body)
    return recv_exact(so, 4)


class DurabilityTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="moth-durability-")
        self.broker = Mothd(os.environ["MOTHD"], self.dir)
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - the broker may be gone
                pass
        self.broker.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self, *args, **kwargs):
        c = Client(self.broker.port, *args, **kwargs)
        self.clients.append(c)
        return c

    def fill(self):
        """A persistent subscriber (offline), 5 queued QoS 1 messages, one retained message."""
        sub = self.client("keeper", clean=False, subscribe="q/#", qos=1)
        sub.close()
        pub = self.client("pub", clean=True)
        for i in range(5):
            pub.publish("q/a", f"m{i}")
        pub.publish("ret/x", "kept", retain=True)
        pub.close()

    def check_restored(self):
        sub = self.client("keeper", clean=False)
        self.assertEqual(sub.connack, (1, 0), "session not present after the restart")
        wait_for(lambda: len(sub.payloads("q/")) >= 5, "the queued messages")
        self.assertEqual(sub.payloads("q/"), [f"m{i}" for i in range(5)])
        # The subscription itself survived: a new message reaches the session.
        pub = self.client("pub2", clean=True)
        pub.publish("q/b", "after")
        wait_for(lambda: "after" in sub.payloads("q/"), "a message through the restored subscription")
        late = self.client("late", clean=True, subscribe="ret/#")
        wait_for(lambda: late.payloads("ret/"), "the retained message")
        self.assertEqual(late.messages[0][:2], ("ret/x", "kept"))
        self.assertTrue(late.messages[0][3], "retain flag [MQTT-3.3.1-9]")

    def test_sessions_queues_and_retained_survive_sigterm(self):
        self.broker.start()
        self.fill()
        self.broker.stop()
        self.broker.start()
        self.check_restored()
        self.assertIn("1 sessions, 5 queued messages", self.broker.tail(200))  # the clean publisher left none

    def test_sessions_queues_and_retained_survive_sigkill(self):
        self.broker.start()
        self.fill()
        self.broker.kill()  # every PUBACK above came after an fsync: nothing acknowledged may be missing
        self.broker.start()
        self.check_restored()

    def test_batched_mode_survives_sigterm(self):
        self.broker.storage_toml = 'durability = "batched"\nflush_interval_ms = 50'
        self.broker.start()
        self.fill()
        self.broker.stop()  # a clean stop writes what is still queued
        self.broker.start()
        self.check_restored()

    def test_large_offline_queue_is_not_all_in_memory(self):
        """20,000 messages queued for an offline session: after a restart only storage.queue_cache_messages of them
        are in memory (the start-up line counts them); all 20,000 still arrive, in order, when the session returns."""
        n = 20000
        self.broker.limits_toml = "max_queued_messages = 30000"
        self.broker.storage_toml = 'durability = "sync"\nqueue_cache_messages = 50'
        self.broker.start()
        sub = self.client("big", clean=False, subscribe="big/#", qos=1)
        sub.close()
        pub = self.client("bigpub", clean=True)
        pub.c.max_inflight_messages_set(500)  # many in flight: one fsync covers many (group commit)
        infos = [pub.c.publish("big/t", f"m{i}", qos=1) for i in range(n)]
        for info in infos:
            info.wait_for_publish(TIMEOUT_S)
        pub.close()
        self.broker.stop()
        self.broker.start()
        self.assertIn(f"1 sessions, {n} queued messages (50 in memory)", self.broker.tail(200))
        back = self.client("big", clean=False)
        self.assertEqual(back.connack, (1, 0))
        wait_for(lambda: len(back.payloads("big/")) >= n, f"{n} queued messages", timeout=90)
        got = back.payloads("big/")
        self.assertEqual(len(got), n)
        self.assertEqual(got, [f"m{i}" for i in range(n)])  # in order, none twice

    def test_memory_mode_keeps_nothing(self):
        self.broker.storage_toml = 'durability = "memory"'
        self.broker.start()
        self.fill()
        self.broker.stop()
        self.assertFalse(os.path.exists(os.path.join(self.dir, "data", "store")))
        self.broker.start()
        sub = self.client("keeper", clean=False)
        self.assertEqual(sub.connack, (0, 0))

    def test_qos2_receive_state_survives_sigkill(self):
        """[MQTT-4.3.3-9]: until PUBREL, a resent QoS 2 PUBLISH with the same packet identifier is not delivered
        again, across a crash too."""
        self.broker.start()
        watcher = self.client("watcher", clean=False, subscribe="x/#", qos=2)
        so, connack = raw_connect(self.broker.port, "raw-q2")
        self.assertEqual(connack, b"\x20\x02\x00\x00")
        self.assertEqual(raw_publish_qos2(so, "x/1", 7, "once"), b"\x50\x02\x00\x07")  # PUBREC
        wait_for(lambda: watcher.payloads("x/") == ["once"], "the first delivery")
        so.close()
        watcher.c.loop_stop()
        self.broker.kill()
        self.broker.start()
        watcher.c.connect(HOST, self.broker.port)
        watcher.c.loop_start()
        so, connack = raw_connect(self.broker.port, "raw-q2")
        self.assertEqual(connack, b"\x20\x02\x01\x00")  # session present
        self.assertEqual(raw_publish_qos2(so, "x/1", 7, "once", dup=True), b"\x50\x02\x00\x07")
        so.sendall(b"\x62\x02\x00\x07")  # PUBREL
        self.assertEqual(recv_exact(so, 4), b"\x70\x02\x00\x07")  # PUBCOMP
        # A marker published after the duplicate: once it arrives, the duplicate would have too.
        self.assertEqual(raw_publish_qos2(so, "x/2", 8, "marker"), b"\x50\x02\x00\x08")
        so.sendall(b"\x62\x02\x00\x08")
        self.assertEqual(recv_exact(so, 4), b"\x70\x02\x00\x08")
        wait_for(lambda: "marker" in watcher.payloads("x/"), "the marker")
        self.assertEqual(watcher.payloads("x/"), ["once", "marker"])
        so.close()

    def damage(self):
        for path in glob.glob(os.path.join(self.dir, "data", "store", "MANIFEST-*")):
            with open(path, "wb") as f:
                f.write(b"not a manifest")

    def test_damaged_store_is_refused_with_its_path(self):
        self.broker.start()
        self.fill()
        self.broker.stop()
        self.damage()
        code = self.broker.run_to_exit()
        self.assertEqual(code, 2)
        log = self.broker.tail(20)
        self.assertIn(os.path.join(self.dir, "data", "store"), log)
        self.assertIn("--store-recover", log)
        self.assertTrue(os.path.isdir(os.path.join(self.dir, "data", "store")), "the store must be left alone")

    def test_store_recover_moves_the_damaged_store_aside(self):
        self.broker.start()
        self.fill()
        self.broker.stop()
        self.damage()
        self.broker.start(extra_args=["--store-recover"])
        aside = glob.glob(os.path.join(self.dir, "data", "store.damaged-*"))
        self.assertEqual(len(aside), 1, "the damaged store is kept under a new name")
        self.assertIn("moved the damaged store", self.broker.tail(50))
        sub = self.client("keeper", clean=False)
        self.assertEqual(sub.connack, (0, 0), "starts empty")


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        os.environ["MOTHD"] = os.path.abspath(sys.argv.pop(1))
    unittest.main()
