"""Helpers for the MQTT-SN gateway tests (test_mqttsn.py, issue 22): a mothd with mqttsn/mqttsns and http listeners,
the `moth sn` command line (run to completion, or a running `moth sn sub` read back with deadlines), /metrics and
/api/v1 reads, raw MQTT-SN datagrams, and a lossy (or merely watching) UDP relay between a client and the gateway.
Every wait is bounded by a deadline; nothing sleeps to synchronise.

`moth` comes from the environment variable MOTH (CTest sets it to $<TARGET_FILE:moth>).
"""

import http.client
import json
import os
import random
import selectors
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

from broker import HOST, Broker, BrokerTestCase
from mosq import Session

WAIT_S = 20
SN_RUN_S = 60  # a `moth sn pub` run to completion, at most

# MQTT-SN 1.2 message types (spec 5.2.2) and flags (5.3.4).
SEARCHGW, GWINFO, CONNECT, CONNACK = 0x01, 0x02, 0x04, 0x05
PUBLISH, PUBACK, SUBSCRIBE, PINGREQ, PINGRESP, DISCONNECT = 0x0C, 0x0D, 0x12, 0x16, 0x17, 0x18
QOS_FLAGS = {0: 0x00, 1: 0x20, 2: 0x40, -1: 0x60}
TOPIC_NORMAL, TOPIC_PREDEFINED, TOPIC_SHORT = 0, 1, 2


def unique(prefix="t"):
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def moth_path():
    path = os.environ.get("MOTH", "")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError("set MOTH to the moth binary (CTest does: MOTH=$<TARGET_FILE:moth>)")
    return path


# -- raw datagrams ---------------------------------------------------------------------------------------------
def datagram(msg_type, body=b""):
    """One MQTT-SN message with the one-byte Length (5.2.1)."""
    assert len(body) + 2 < 256
    return bytes([len(body) + 2, msg_type]) + body


def publish_datagram(topic_id, msg_id, payload, qos=0, topic_type=TOPIC_NORMAL):
    return datagram(PUBLISH, bytes([QOS_FLAGS[qos] | topic_type]) + struct.pack(">HH", topic_id, msg_id) + payload)


def connect_datagram(client_id, duration_s=60, clean=True):
    """CONNECT (6.2): Flags (CleanSession 0x04), ProtocolId 0x01, Duration, ClientId."""
    return datagram(CONNECT, bytes([0x04 if clean else 0, 0x01]) + struct.pack(">H", duration_s) + client_id.encode())


def msg_type(data):
    """The MsgType of a datagram (either Length form), or None if too short."""
    if len(data) >= 2 and data[0] != 1:
        return data[1]
    if len(data) >= 4 and data[0] == 1:
        return data[3]
    return None


# -- the broker ------------------------------------------------------------------------------------------------
class SnBroker(Broker):
    """A Broker whose config adds `toml` (the [mqttsn]/[auth] tables, any extra [[listener]] tables) and an http
    listener "web"; `ports` maps listener name -> (kind, address, port) once started."""

    def __init__(self, toml, anonymous=True):
        super().__init__(extra_toml=toml + f'\n[[listener]]\nname = "web"\nkind = "http"\nbind = "{HOST}"\n'
                                           "port = 0\n", anonymous=anonymous)
        self.ports = {}

    def start(self):
        super().start()
        with open(os.path.join(self.dir, "ports"), encoding="utf-8") as f:
            for line in f.read().splitlines():
                name, kind, addr, port = line.split()
                self.ports[name] = (kind, addr, int(port))
        return self

    def data_dir(self):
        return os.path.join(self.dir, "data")


def sn_listener(name="sn", kind="mqttsn", bind=HOST, extra=""):
    return f'[[listener]]\nname = "{name}"\nkind = "{kind}"\nbind = "{bind}"\nport = 0\n{extra}'


class SnSub:
    """A running `moth sn sub`, its stdout in a file (the CLI flushes each line), read back with deadlines."""

    def __init__(self, cmd):
        self.cmd = cmd
        self.dir = tempfile.mkdtemp(prefix="moth-snsub-")
        self.out_path = os.path.join(self.dir, "out")
        self.err_path = os.path.join(self.dir, "err")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)

    def _read(self, path):
        with open(path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")

    def lines(self):
        return self._read(self.out_path).split("\n")[:-1]

    def stderr(self):
        return self._read(self.err_path)

    def describe(self):
        return (f"moth sn sub ({' '.join(self.cmd)}), exit status {self.proc.poll()}\n"
                f"output: {self.lines()!r}\nstderr: {self.stderr()!r}")

    def wait_lines(self, n, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        while len(self.lines()) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {n} lines\n{self.describe()}")
            time.sleep(0.02)  # polling interval of a condition wait
        return self.lines()

    def wait_exit(self, timeout=WAIT_S):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"did not exit within {timeout} s\n{self.describe()}") from None

    def terminate(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait(timeout=WAIT_S)

    def cleanup(self):
        self.kill()
        for p in (self.out_path, self.err_path):
            try:
                os.unlink(p)
            except OSError:
                pass
        try:
            os.rmdir(self.dir)
        except OSError:
            pass


class SnTestCase(BrokerTestCase):
    """Each test calls start() with its own config; the broker is stopped (exit 0 asserted) after the test."""

    def setUp(self):
        unittest.TestCase.setUp(self)  # the broker starts in start()

    def start(self, toml="", listeners=None, anonymous=True):
        listeners = sn_listener() if listeners is None else listeners
        self.broker = SnBroker(toml + "\n" + listeners, anonymous=anonymous)
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)
        self.broker.start()
        self.port = self.broker.port
        self.http_port = self.broker.ports["web"][2]
        self.mosq = Session(self, self.port)
        return self.broker

    def sn_port(self, name="sn"):
        return self.broker.ports[name][2]

    # -- moth sn ---------------------------------------------------------------------------------------------
    def sn_cmd(self, tool, args, host=HOST, port=None, listener="sn"):
        port = self.sn_port(listener) if port is None else port
        return [moth_path(), "sn", tool, "-h", host, "-p", str(port), *args]

    def sn_pub(self, *args, expect_rc=0, timeout=SN_RUN_S, **kw):
        """Runs `moth sn pub` to completion; asserts its exit status; returns the CompletedProcess."""
        cmd = self.sn_cmd("pub", args, **kw)
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"{' '.join(cmd)} did not finish within {timeout} s")
        if expect_rc is not None:
            self.assertEqual(p.returncode, expect_rc, f"{' '.join(cmd)}\nstdout: {p.stdout!r}\nstderr: {p.stderr!r}")
        return p

    def sn_sub(self, *args, **kw):
        """Starts `moth sn sub` (bounded by -W 90 unless args say otherwise); killed by a cleanup."""
        if "-W" not in args:
            args = (*args, "-W", "90")
        s = SnSub(self.sn_cmd("sub", args, **kw))
        self.addCleanup(s.cleanup)
        return s

    # -- http ------------------------------------------------------------------------------------------------
    def http_get(self, path):
        conn = http.client.HTTPConnection(HOST, self.http_port, timeout=WAIT_S)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def client_info(self, client_id):
        """The client's entry in GET /api/v1/clients, or None when it is not connected."""
        status, body = self.http_get("/api/v1/clients")
        self.assertEqual(status, 200, body)
        return next((c for c in json.loads(body)["clients"] if c["client_id"] == client_id), None)

    def wait_subscribed(self, client_id, sub=None, n=1, timeout=WAIT_S):
        """Waits until the broker's session of `client_id` has n subscriptions: its SUBSCRIBE has been processed."""
        def ready():
            if sub is not None and sub.proc.poll() is not None:
                raise AssertionError(f"subscriber exited early\n{sub.describe()}")
            info = self.client_info(client_id)
            return info if info and info.get("subscriptions", 0) >= n else None
        return self.wait_until(ready, timeout, f"{client_id} subscribed")

    def metric(self, family):
        """The sum of a family's samples on /metrics (0 when absent)."""
        status, body = self.http_get("/metrics")
        self.assertEqual(status, 200)
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith(family + "{") or line.startswith(family + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    # -- raw UDP ---------------------------------------------------------------------------------------------
    def udp(self, family=socket.AF_INET):
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.settimeout(WAIT_S)
        self.addCleanup(s.close)
        return s


class Relay:
    """A UDP relay between clients and the gateway, on its own thread: each client address gets its own upstream
    socket (so the gateway sees distinct clients). Drops `loss` of the datagrams in each direction, chosen by a
    random.Random(seed). Records (direction, bytes) of every datagram forwarded, and counts the drops."""

    def __init__(self, gateway_port, loss=0.0, seed=22):
        self.gateway = (HOST, gateway_port)
        self.loss = loss
        self.rng = random.Random(seed)
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind((HOST, 0))
        self.port = self.front.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.front, selectors.EVENT_READ, None)
        self.upstream = {}  # client address -> socket
        self.lock = threading.Lock()
        self.log = []  # ("up"|"down", bytes), forwarded only
        self.dropped = {"up": 0, "down": 0}
        self.forwarded = {"up": 0, "down": 0}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _drop(self, direction):
        if self.loss > 0 and self.rng.random() < self.loss:
            self.dropped[direction] += 1
            return True
        return False

    def _run(self):
        while not self.stopping.is_set():
            for key, _ in self.sel.select(timeout=0.1):
                sock, client = key.fileobj, key.data
                try:
                    data, addr = sock.recvfrom(65536)
                except OSError:
                    continue
                with self.lock:
                    if client is None:  # from a client, to the gateway
                        up = self.upstream.get(addr)
                        if up is None:
                            up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                            up.bind((HOST, 0))
                            self.upstream[addr] = up
                            self.sel.register(up, selectors.EVENT_READ, addr)
                        if not self._drop("up"):
                            self.forwarded["up"] += 1
                            self.log.append(("up", data))
                            up.sendto(data, self.gateway)
                    elif not self._drop("down"):
                        self.forwarded["down"] += 1
                        self.log.append(("down", data))
                        self.front.sendto(data, client)

    def snapshot(self):
        with self.lock:
            return list(self.log)

    def describe(self, last=12):
        """Counts, and the last datagrams forwarded as "direction:MsgType" (hex), for failure messages."""
        tail = [f"{d}:{msg_type(b):#04x}" for d, b in self.snapshot()[-last:]]
        return f"relay forwarded {self.forwarded}, dropped {self.dropped}; last datagrams forwarded: {tail}"

    def close(self):
        self.stopping.set()
        self.thread.join(WAIT_S)
        for s in [self.front, *self.upstream.values()]:
            s.close()
        self.sel.close()
