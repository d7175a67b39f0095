"""Hostile clients against the real mothd (issue 16): one regression test per hole found by probing it as an
attacker would. Raw sockets and paho; every wait is bounded.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

import paho.mqtt.client as mqtt

from broker import HOST, Broker, BrokerTestCase, mothd_path, take_mothd_from_argv
from listenertest import WAIT_S, listener_ports, unique
from rawmqtt import connect_packet, publish_packet


def cpu_seconds(pid):
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class DescriptorLimitTest(BrokerTestCase):
    """Out of descriptors (ulimit -n 200, soft and hard, so mothd cannot raise it): 250 connections must not make
    the accept loop spin or flood the log; waiting clients are closed rather than left hanging; service resumes
    once descriptors are free again. mothd keeps 64 descriptors free (for its store, and here for the sanitizers,
    whose vptr check needs a pipe), so the flood stops at that margin rather than at EMFILE."""

    NOFILE = 200
    CLIENTS = 250
    WATCH_S = 3.0

    def setUp(self):
        unittest.TestCase.setUp(self)
        self.broker = Broker(nofile=(self.NOFILE, self.NOFILE))
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)
        self.broker.start()
        self.port = self.broker.port

    def test_accept_backs_off_and_service_resumes(self):
        pid = self.broker.proc.pid
        log_before = os.path.getsize(self.broker.log_path)
        cpu_before = cpu_seconds(pid)
        socks = []
        try:
            for _ in range(self.CLIENTS):
                socks.append(socket.create_connection((HOST, self.port), timeout=WAIT_S))
            # While the flood lasts: some clients are closed by mothd (it cannot serve them), none is left hanging
            # for long, and mothd neither spins nor writes much.
            deadline = time.monotonic() + self.WATCH_S
            closed = set()
            while time.monotonic() < deadline:
                for i, s in enumerate(socks):
                    if i in closed:
                        continue
                    s.setblocking(False)
                    try:
                        if s.recv(1) == b"":
                            closed.add(i)
                    except BlockingIOError:
                        pass
                    except OSError:
                        closed.add(i)
                time.sleep(0.05)  # polling interval of the watch window, which is a measurement
            cpu = cpu_seconds(pid) - cpu_before
            log_growth = os.path.getsize(self.broker.log_path) - log_before
            self.assertGreater(len(closed), 0, "no waiting client was closed")
            self.assertLess(cpu, 0.5 * self.WATCH_S, f"mothd used {cpu:.2f} s of CPU in {self.WATCH_S} s")
            self.assertLess(log_growth, 64 * 1024, f"the log grew by {log_growth} bytes")
            self.assertIn("out of descriptors", self.broker.log())
        finally:
            for s in socks:
                s.close()
        # Service resumes: a client connects and gets its own message back.
        got = []
        c = mqtt.Client(client_id=unique("after"), protocol=mqtt.MQTTv311)
        c.on_message = lambda _c, _u, m: got.append(m.payload)
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                c.connect(HOST, self.port, keepalive=30)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # polling interval: mothd closes the old connections as it reads their ends
        subscribed = threading.Event()
        c.on_subscribe = lambda *_args: subscribed.set()
        c.loop_start()
        self.addCleanup(c.loop_stop)
        self.addCleanup(c.disconnect)
        c.subscribe("after/flood", qos=1)
        self.assertTrue(subscribed.wait(WAIT_S), "no SUBACK after the flood")
        c.publish("after/flood", b"back", qos=1)
        self.wait_until(lambda: b"back" in got, WAIT_S, "a message through mothd after the flood")


class SlowlorisTest(BrokerTestCase):
    """Keepalive is refreshed by whole packets only [MQTT-3.1.2-22]: a client sending one byte at a time, never
    finishing a packet, is closed after 1.5 x its keepalive like a silent one."""

    def test_partial_packets_do_not_keep_a_connection_alive(self):
        s = socket.create_connection((HOST, self.port), timeout=WAIT_S)
        self.addCleanup(s.close)
        s.sendall(connect_packet(unique("slow"), keepalive=2))
        self.assertEqual(s.recv(4), b"\x20\x02\x00\x00")
        trickle = publish_packet("slow/loris", b"x" * 200)
        start = time.monotonic()
        closed_after = None
        for b in trickle:  # the attack itself: one byte every 200 ms, a packet that never completes in time
            try:
                s.sendall(bytes([b]))
            except OSError:
                closed_after = time.monotonic() - start
                break
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed_after = time.monotonic() - start
                    break
            except BlockingIOError:
                pass
            except OSError:
                closed_after = time.monotonic() - start
                break
            s.setblocking(True)
            time.sleep(0.2)
        self.assertIsNotNone(closed_after, "still open after sending 200+ bytes one at a time over 40 s")
        self.assertLess(closed_after, 8.0, "closed, but long after 1.5 x the keepalive of 2 s")


def first_bytes(test, port, version, keepalive):
    """Sends a CONNECT (clean session) with `keepalive` and returns what comes back first (the CONNACK)."""
    s = socket.create_connection((HOST, port), timeout=WAIT_S)
    test.addCleanup(s.close)
    s.sendall(connect_packet(unique("ka"), version=version, keepalive=keepalive))
    return s.recv(64)


class KeepaliveV3Test(BrokerTestCase):
    """limits.max_keepalive for MQTT 3.1/3.1.1 clients, which cannot be told a lower keepalive: refused with return
    code 2 (identifier rejected) as Mosquitto does, unless max_keepalive_v3 = "apply"."""

    broker_overrides = ("limits.max_keepalive=60",)

    def test_3x_keepalive_above_the_limit_or_zero_is_refused(self):
        for version in (3, 4):
            for keepalive, expected in ((30, 0), (60, 0), (120, 2), (0, 2)):
                with self.subTest(version=version, keepalive=keepalive):
                    data = first_bytes(self, self.port, version, keepalive)
                    self.assertEqual(data[:4], bytes([0x20, 0x02, 0x00, expected]), data)
        self.assertIn("limits.max_keepalive_v3", self.broker.log())

    def test_5_gets_server_keep_alive_instead(self):
        data = first_bytes(self, self.port, 5, 120)
        self.assertEqual(data[:1], b"\x20")
        self.assertEqual(data[3], 0x00)  # accepted
        self.assertIn(bytes([0x13, 0x00, 60]), data)  # Server Keep Alive = 60 (5.0 section 3.2.2.3.14)


class KeepaliveV3ApplyTest(BrokerTestCase):
    broker_overrides = ("limits.max_keepalive=60", "limits.max_keepalive_v3=apply")

    def test_3x_above_the_limit_is_accepted(self):
        for version in (3, 4):
            for keepalive in (120, 0):
                with self.subTest(version=version, keepalive=keepalive):
                    self.assertEqual(first_bytes(self, self.port, version, keepalive)[:4], b"\x20\x02\x00\x00")


def run_mothd(config_text, timeout=WAIT_S):
    """Runs mothd on a config written to a temporary file until it exits (it is expected to refuse to start);
    returns (exit status, stderr and stdout, the config's path)."""
    d = tempfile.mkdtemp(prefix="moth-startup-")
    path = os.path.join(d, "mothd.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(config_text.replace("@DIR@", d))
    try:
        p = subprocess.run([mothd_path(), "--config", path], capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stderr + p.stdout, path
    finally:
        shutil.rmtree(d, ignore_errors=True)


class StartupErrorTest(unittest.TestCase):
    """What only start-up finds is still the config's fault: `file:line: key: message` and exit status 2, once, with
    no Boost source paths."""

    def assert_config_error(self, config_text, pattern):
        code, out, path = run_mothd(config_text)
        self.assertEqual(code, 2, out)
        lines = [line for line in out.splitlines() if line.startswith(path)]
        self.assertEqual(len(lines), 1, out)
        self.assertRegex(lines[0], "^" + re.escape(path) + pattern)
        self.assertNotIn("[system:", out)
        self.assertNotIn("/usr/include", out)
        self.assertNotIn("fatal", out)

    def test_a_port_in_use(self):
        with socket.socket() as taken:
            taken.bind((HOST, 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            self.assert_config_error(
                f'data_dir = "@DIR@/data"\n[[listener]]\nkind = "mqtt"\nbind = "{HOST}"\nport = {port}\n',
                rf":5: listener\.0\.port: listener mqtt-0: cannot listen on {HOST}:{port}: Address already in use$")

    def test_a_certificate_that_does_not_load(self):
        self.assert_config_error(
            'data_dir = "@DIR@/data"\n[[listener]]\nkind = "mqtts"\nbind = "127.0.0.1"\nport = 0\n'
            'cert_file = "/etc/hostname"\nkey_file = "/etc/hostname"\n',
            r":6: listener\.0\.cert_file: listener mqtts-0: .+$")

    def test_a_data_dir_that_cannot_be_created(self):
        self.assert_config_error(
            'data_dir = "/proc/moth-cannot-be-here"\n[[listener]]\nkind = "mqtt"\nbind = "127.0.0.1"\nport = 0\n',
            r":1: data_dir: cannot create /proc/moth-cannot-be-here: .+$")

    def test_a_duplicate_port_is_reported_once(self):
        self.assert_config_error(
            '[[listener]]\nkind = "mqtt"\nport = 1883\n[[listener]]\nkind = "ws"\nport = 1883\n',
            r":6: listener\.1\.port: port 1883 on 0\.0\.0\.0 is already used by listener\.0$")


class ApiPublishChecksTest(BrokerTestCase):
    """POST /api/v1/publish gets the checks a client's PUBLISH gets."""

    broker_overrides = ("limits.max_topic_levels=3", "features.maximum_qos=1")

    def setUp(self):
        unittest.TestCase.setUp(self)
        self.broker = Broker(self.broker_overrides,
                             extra_toml=f'[[listener]]\nname = "web"\nkind = "http"\nbind = "{HOST}"\nport = 0\n')
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)
        self.broker.start()
        self.http_port = listener_ports(self.broker.dir)["web"]

    def post(self, body):
        req = urllib.request.Request(f"http://{HOST}:{self.http_port}/api/v1/publish", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=WAIT_S) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def test_too_many_levels_and_too_high_a_qos_are_refused(self):
        self.assertEqual(self.post({"topic": "a/b/c", "payload": "ok"})[0], 200)
        status, body = self.post({"topic": "a/b/c/d", "payload": "no"})
        self.assertEqual(status, 400, body)
        self.assertIn(b"max_topic_levels", body)
        status, body = self.post({"topic": "a/b", "payload": "no", "qos": 2})
        self.assertEqual(status, 400, body)
        self.assertIn(b"maximum_qos", body)


class LogLinesTest(BrokerTestCase):
    """A refused CONNECT, a WebSocket protocol violation and a CONNECT that never comes are each logged."""

    def setUp(self):
        unittest.TestCase.setUp(self)
        self.broker = Broker(("limits.max_keepalive=60",),
                             extra_toml=f'[[listener]]\nname = "ws"\nkind = "ws"\nbind = "{HOST}"\nport = 0\n')
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)
        self.broker.start()
        self.port = self.broker.port

    def test_refusals_and_closes_are_logged(self):
        refused = socket.create_connection((HOST, self.port), timeout=WAIT_S)
        self.addCleanup(refused.close)
        refused.sendall(connect_packet(unique("ka"), version=4, keepalive=0))  # refused: max_keepalive_v3
        self.assertEqual(refused.recv(4), b"\x20\x02\x00\x02")
        silent = socket.create_connection((HOST, self.port), timeout=WAIT_S)  # never sends CONNECT
        self.addCleanup(silent.close)
        ws_port = listener_ports(self.broker.dir)["ws"]
        ws = socket.create_connection((HOST, ws_port), timeout=WAIT_S)
        self.addCleanup(ws.close)
        ws.sendall(f"GET /mqtt HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Protocol: mqtt\r\n\r\n".encode())
        self.assertIn(b"101", ws.recv(4096))
        ws.sendall(bytes([0x82, 0x01, 0x00]))  # an unmasked client frame: 1002
        log = lambda: self.broker.log()  # noqa: E731
        self.wait_until(lambda: "CONNACK Client Identifier not valid (return code 2)" in log(), WAIT_S,
                        "the CONNACK refusal logged")
        self.wait_until(lambda: "client frame not masked" in log(), WAIT_S, "the WebSocket protocol close logged")
        self.wait_until(lambda: "no CONNECT within 10 s" in log(), 15 + WAIT_S, "the CONNECT timeout logged")


if __name__ == "__main__":
    take_mothd_from_argv()
    unittest.main()
