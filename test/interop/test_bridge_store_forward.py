"""Bridge store-and-forward against real brokers (issue 21, "Tests (real brokers)", 2nd to 4th bullets, and SIGHUP).

A local mothd bridges out to a remote (a second mothd, or Debian's mosquitto 2.0.11). Store-and-forward: the local
session "$bridge/<name>" is the backlog, acknowledged only once the remote has each message, so a remote stopped for
30 s (and a local mothd `kill -9`ed meanwhile) loses nothing and keeps the order. Both-way bridges with prefixes do
not loop and do not duplicate at QoS 2 (MQTT-4.3.3: exactly once). A full backlog with drop_oldest keeps the newest
part and bounds mothd's memory. SIGHUP adds, changes and removes a bridge.

A remote that is stopped and started again must come back on the same port, so its port is chosen up front: bound
to 0, closed, and written into its config (free_port()). Everything else reads its port back (mothd's ports_file).
The outages are held for the time the issue asks (HOLD_S); everything else waits on conditions with deadlines.

Run alone: MOTHD=build/ci/apps/mothd/mothd /usr/bin/python3 -m unittest -v test_bridge_store_forward
"""

import json
import os
import pwd
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

import paho.mqtt.client as mqtt

from broker import HOST, LoggedProcess, mothd_path, take_mothd_from_argv

HOLD_S = float(os.environ.get("MOTH_BRIDGE_OUTAGE_S", "30"))  # the outage: 30 s
COUNT = 10_000  # QoS 1 messages published during the outage
MAX_INFLIGHT = 100  # the bridge's max_inflight: what a reconnect may send twice at QoS 1
DEADLINE_S = 30.0
DELIVERY_S = float(os.environ.get("MOTH_BRIDGE_DELIVERY_S", "180"))  # 10,000 messages, Debug + ASan, 2 loaded cores


def free_port():
    """A port nothing listens on now. The remote restarts on it, so it cannot be 0; another process could take it
    between close() and the remote's bind: the remote then fails to start and the test says so."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)  # polling interval of a condition wait


def bridge_toml(name, port, topics, protocol="5.0", extra=""):
    rules = ", ".join(f"'{t}'" for t in topics)
    return (f'[[bridge]]\nname = "{name}"\naddresses = ["mqtt://{HOST}:{port}"]\nprotocol = "{protocol}"\n'
            f'client_id = "bit2-{name}"\nreconnect_min_ms = 100\nreconnect_max_ms = 500\n'
            f"max_inflight = {MAX_INFLIGHT}\n{extra}topics = [{rules}]\n")


class Mothd(LoggedProcess):
    """A mothd on a directory that outlives restarts (its store is data_dir), durability "sync" (the default).
    `port` 0: any port, read back; else that port (a remote restarted on the same address)."""

    log_name = "mothd"

    def __init__(self, port=0, limits="", bridges="", http=False, env=None):
        super().__init__()
        self.http = f'[[listener]]\nname = "web"\nkind = "http"\nbind = "{HOST}"\nport = 0\n' if http else ""
        self.env = env
        self.ports = {}
        self.dir = tempfile.mkdtemp(prefix="moth-bridge-")
        self.log_path = os.path.join(self.dir, "mothd.log")
        self.config = os.path.join(self.dir, "mothd.toml")
        self.fixed_port = port
        self.limits = limits
        self.write(bridges)

    def write(self, bridges):
        """The config with these [[bridge]] tables; read at start and on SIGHUP."""
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(f'auth.allow_anonymous = true\nports_file = "{self.dir}/ports"\ndata_dir = "{self.dir}/data"\n'
                    f'workers = 2\nsys_interval_s = 1\nlog_level = "info"\n[limits]\n{self.limits}\n'
                    f'[[listener]]\nkind = "mqtt"\nbind = "{HOST}"\nport = {self.fixed_port}\n{self.http}{bridges}')

    def start(self):
        ports = os.path.join(self.dir, "ports")
        if os.path.exists(ports):
            os.unlink(ports)  # the last run's: wait for this run's
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([mothd_path(), "--config", self.config], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                         env=None if self.env is None else {**os.environ, **self.env})
        self.exit_code = None

        def port():
            if self.proc.poll() is not None:
                raise AssertionError(f"mothd exited with {self.proc.returncode}\n{self.log_tail()}")
            try:
                with open(ports, encoding="utf-8") as f:
                    text = f.read()
            except FileNotFoundError:
                return None
            if not text.endswith("\n"):
                return None
            self.ports = {line.split()[1]: int(line.split()[3]) for line in text.splitlines()}
            return self.ports["mqtt"]

        self.port = wait_until(port, DEADLINE_S, "mothd's ports file")
        if self.fixed_port:
            assert self.port == self.fixed_port, f"mothd listens on {self.port}, configured {self.fixed_port}"
        return self

    def stop(self):
        """SIGTERM, and exit status 0."""
        if self.proc is None or self.proc.poll() is not None and self.exit_code is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.proc.wait(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError(f"mothd did not exit within {DEADLINE_S} s of SIGTERM\n{self.log_tail()}")
        assert self.exit_code == 0, f"mothd exited with {self.exit_code} after SIGTERM\n{self.log_tail()}"

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.exit_code = self.proc.wait()

    def session(self, client_id):
        """The session's entry in GET /api/v1/sessions (needs http=True), or None."""
        with urllib.request.urlopen(f"http://{HOST}:{self.ports['http']}/api/v1/sessions", timeout=10) as r:
            sessions = json.load(r)["sessions"]
        return next((s for s in sessions if s["client_id"] == client_id), None)

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def rss_kib(self):
        try:
            with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0


class Mosquitto(LoggedProcess):
    """Debian's mosquitto on a fixed port with persistence (a persistent subscriber's session survives a restart)
    and a queue large enough for the whole outage."""

    log_name = "mosquitto"

    def __init__(self, port):
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="moth-bridge-mosq-")
        self.port = port
        self.log_path = os.path.join(self.dir, "mosquitto.log")
        self.config = os.path.join(self.dir, "mosquitto.conf")
        with open(self.config, "w", encoding="utf-8") as f:
            # Run as ourselves: as root mosquitto would switch to the "mosquitto" user, who cannot write here.
            f.write(f"listener {port} {HOST}\nallow_anonymous true\npersistence true\npersistence_location {self.dir}/\n"
                    f"user {pwd.getpwuid(os.geteuid()).pw_name}\nmax_queued_messages 100000\n")

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(["mosquitto", "-c", self.config], stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

        def listening():
            if self.proc.poll() is not None:
                raise AssertionError(f"mosquitto exited with {self.proc.returncode}\n{self.log_tail()}")
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                return True
            except OSError:
                return False

        wait_until(listening, DEADLINE_S, "mosquitto to listen")
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # mosquitto writes its persistence file on the way out
            self.proc.wait(timeout=DEADLINE_S)


class Client:
    """A paho 3.1.1 client; `got` is the (topic, payload) of every message, in arrival order. It reconnects by itself
    (every second) while its broker is away; clean_session False keeps its subscriptions and queue there."""

    def __init__(self, port, client_id, clean=True, subscribe=(), qos=1, version=mqtt.MQTTv311):
        self.lock = threading.Lock()
        self.got = []
        self.acked = 0
        self.connects = 0
        self.subscribe_to = list(subscribe)
        self.qos = qos
        self.c = mqtt.Client(client_id=client_id, clean_session=clean, protocol=version)
        self.c.max_inflight_messages_set(MAX_INFLIGHT)
        self.c.max_queued_messages_set(0)
        self.c.reconnect_delay_set(1, 1)
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_publish = self._on_publish
        self.c.connect(HOST, port, keepalive=30)
        self.c.loop_start()
        wait_until(lambda: self.connects > 0, DEADLINE_S, f"{client_id} to connect")

    def _on_connect(self, c, userdata, flags, rc):
        if rc == 0 and self.subscribe_to:
            c.subscribe([(t, self.qos) for t in self.subscribe_to])  # again after a reconnect: harmless
        with self.lock:
            self.connects += rc == 0

    def _on_message(self, c, userdata, m):
        with self.lock:
            self.got.append((m.topic, m.payload.decode()))

    def _on_publish(self, c, userdata, mid):
        with self.lock:
            self.acked += 1

    def payloads(self, topic):
        with self.lock:
            return [p for t, p in self.got if t == topic]

    def publish(self, topic, payload, qos=1):
        self.c.publish(topic, payload, qos=qos)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


class BridgeTest(unittest.TestCase):
    """Processes and clients made through start()/client() are stopped at the end, clients first; on a failure
    every process's log tail is printed."""

    def setUp(self):
        self.procs = []
        self.addCleanup(self._stop_all)

    def _stop_all(self):
        errors = []
        for p in reversed(self.procs):
            try:
                p.stop()
            except AssertionError as e:
                errors.append(str(e))
            finally:
                p.cleanup()
        if errors:
            raise AssertionError("\n".join(errors))

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for p in getattr(self, "procs", []):
                print(f"\n{self.id()} failed; {p.log_tail(80)}", flush=True)
        return out

    def start(self, proc):
        self.procs.append(proc)
        return proc.start()

    def client(self, *args, **kw):
        c = Client(*args, **kw)
        self.addCleanup(c.close)
        return c

    def wait_bridged(self, pub, sub, topic, timeout=DEADLINE_S):
        """Publishes probes on `topic` until one comes out of `sub`: the bridge is up and subscribed on both sides
        (probes published before that are not queued anywhere, so one probe alone could be lost)."""
        n = [0]

        def arrived():
            if sub.payloads(topic):
                return True
            n[0] += 1
            pub.publish(topic, f"probe-{n[0]}")
            time.sleep(0.2)  # pacing of the probes, the condition is the probe's arrival
            return bool(sub.payloads(topic))

        wait_until(arrived, timeout, f"a probe on {topic} through the bridge")

    def assert_sequence(self, got, expected):
        """QoS 1 through the bridge: every one of `expected` arrives, in that order; a message may come twice only
        when it was in flight on a link that went (MQTT-4.3.2: at least once), so at most max_inflight repeats."""
        seen, firsts = set(), []
        for p in got:
            if p not in seen:
                seen.add(p)
                firsts.append(p)
        missing = [p for p in expected if p not in seen]
        self.assertEqual(missing, [], f"{len(missing)} of {len(expected)} missing, first {missing[:5]}")
        if firsts != expected:
            i = next(i for i, (a, b) in enumerate(zip(firsts, expected)) if a != b)
            self.fail(f"out of order at {i}: got {firsts[i:i + 5]}, expected {expected[i:i + 5]}")
        self.assertLessEqual(len(got) - len(firsts), MAX_INFLIGHT, "more repeats than could have been in flight")


BIG_QUEUES = "max_queued_messages = 100000\nmax_queued_bytes = 1073741824\n"  # the remote holds a whole outage


class StoreAndForward(BridgeTest):
    """The remote stopped for HOLD_S while COUNT QoS 1 messages are published locally (all PUBACKed: with durability
    "sync" that means in the bridge's stored queue), then started again: all arrive, in order."""

    def outage(self, remote, kill_local=False):
        local = self.start(Mothd(bridges=bridge_toml("sf", remote.port, ["sf/# out 1"])))
        sub = self.client(remote.port, "bit2-sf-sub", clean=False, subscribe=["sf/#"])
        pub = self.client(local.port, "bit2-sf-pub")
        self.wait_bridged(pub, sub, "sf/probe")
        remote.stop()
        down_at = time.monotonic()
        infos = [pub.c.publish("sf/data", str(i), qos=1) for i in range(COUNT)]
        acked = [0]

        def all_acked():
            while acked[0] < COUNT and infos[acked[0]].is_published():
                acked[0] += 1
            return acked[0] == COUNT

        wait_until(all_acked, DELIVERY_S, f"PUBACKs for {COUNT} messages (got {acked[0]})")
        published_s = time.monotonic() - down_at
        if kill_local:
            pub.close()
            local.kill9()  # after every PUBACK, with the remote still down
            local.start()  # on the same data_dir: the backlog is in its store
        # The outage itself is under test: held for HOLD_S in all (longer if publishing took longer).
        time.sleep(max(0.0, down_at + HOLD_S - time.monotonic()))
        outage_s = time.monotonic() - down_at
        remote.start()
        last = str(COUNT - 1)
        wait_until(lambda: last in sub.payloads("sf/data"), DELIVERY_S, f"message {last} on the remote")
        got = sub.payloads("sf/data")
        print(f"\n{self.id()}: published+acked in {published_s:.1f} s, outage {outage_s:.1f} s, "
              f"{len(got)} delivered for {COUNT}", flush=True)
        self.assert_sequence(got, [str(i) for i in range(COUNT)])

    def test_outage_mothd_remote(self):
        self.outage(self.start(Mothd(port=free_port(), limits=BIG_QUEUES)))

    def test_outage_mosquitto_remote(self):
        self.outage(self.start(Mosquitto(free_port())))

    def test_outage_with_local_kill9(self):
        self.outage(self.start(Mothd(port=free_port(), limits=BIG_QUEUES)), kill_local=True)


class BothWays(BridgeTest):
    """A <-> B, a bridge on each with prefixes: A `# both 2 a/ shared/`, B `# both 2 b/ shared/`. Without no-local
    (5.0) or the bridge bit (3.1.1) each bridge would get its own messages back from the other side and forward them
    again, for ever. Each message must arrive exactly once on each broker (QoS 2, MQTT-4.3.3)."""

    N = 200  # per publisher and topic

    def both_ways(self, protocol):
        a = Mothd(port=free_port())  # fixed: B's bridge needs it before A runs; B's is read back
        b = self.start(Mothd(bridges=bridge_toml("toA", a.fixed_port, ["# both 2 b/ shared/"], protocol)))
        a.write(bridge_toml("toB", b.port, ["# both 2 a/ shared/"], protocol))
        self.start(a)
        sub_a = self.client(a.port, "bit2-sub-a", subscribe=["a/#", "b/#", "shared/#"], qos=2)
        sub_b = self.client(b.port, "bit2-sub-b", subscribe=["a/#", "b/#", "shared/#"], qos=2)
        pub_a, pub_b = self.client(a.port, "bit2-pub-a"), self.client(b.port, "bit2-pub-b")
        # The four routes, as (publisher, its topic, subscriber, the topic it arrives on).
        routes = [(pub_a, "a/", sub_b, "shared/"), (pub_a, "shared/", sub_b, "b/"),
                  (pub_b, "b/", sub_a, "shared/"), (pub_b, "shared/", sub_a, "a/")]
        for pub, there, sub, here in routes:
            self.wait_probe(pub, there, sub, here)
        expected = {id(sub_a): [], id(sub_b): []}
        for i in range(self.N):
            for pub, there, sub, here in routes:
                tag = f"{'A' if pub is pub_a else 'B'}-{there}{i}"
                pub.publish(there + "d", tag, qos=2)
                expected[id(sub)].append((here + "d", tag))
                expected[id(sub_a if sub is sub_b else sub_b)].append((there + "d", tag))  # on its own broker
        for sub in (sub_a, sub_b):
            want = len(expected[id(sub)])
            wait_until(lambda: len(self.data(sub)) >= want, DELIVERY_S, f"{want} messages")
        # Fences: one more message on every route, after all the data; a loop's or a duplicate's copies, sent on
        # the same links before the fence, are in by the time each fence is.
        for pub, there, sub, here in routes:
            pub.publish(there + "fence", "f", qos=2)
            wait_until(lambda: sub.payloads(here + "fence"), DEADLINE_S, f"the fence on {here}fence")
        for sub, name in ((sub_a, "A"), (sub_b, "B")):
            got = self.data(sub)
            self.assertEqual(len(got), len(expected[id(sub)]), f"messages on {name}")
            self.assertEqual(sorted(got), sorted(expected[id(sub)]), f"what arrived on {name}")

    @staticmethod
    def data(sub):
        with sub.lock:
            return [(t, p) for t, p in sub.got if t.endswith("/d")]

    def wait_probe(self, pub, there, sub, here):
        n = [0]

        def arrived():
            n[0] += 1
            pub.publish(there + "probe", str(n[0]), qos=2)
            time.sleep(0.2)  # pacing of the probes
            return sub.payloads(here + "probe")

        wait_until(arrived, DEADLINE_S, f"a probe from {there}probe to {here}probe")

    def test_v5_no_local(self):
        self.both_ways("5.0")

    def test_v311_bridge_bit(self):
        self.both_ways("3.1.1")


class Backlog(BridgeTest):
    """max_queued_bytes 64 MiB with drop_oldest, the remote down, 128 MiB offered (16 KiB QoS 1 messages): the drops
    are logged, mothd's memory stays bounded (the backlog is in the store, queue_cache_messages of it in memory), and
    when the remote is back what the backlog kept arrives, in order: the newest part."""

    # bench/bridge_backlog.sh sets the full size (1 GiB kept of 2 GiB offered) and an absolute RSS bound.
    LIMIT = int(os.environ.get("MOTH_BRIDGE_BACKLOG_LIMIT", str(64 << 20)))
    SIZE = 16 * 1024
    OFFERED = int(os.environ.get("MOTH_BRIDGE_BACKLOG_OFFERED", str(128 << 20)))
    RSS_MB = int(os.environ.get("MOTH_BRIDGE_RSS_MB", "0"))  # 0: no absolute bound
    # VmRSS growth allowed while the 128 MiB are offered, over mothd's RSS before (Debug + ASan: about 300 MB at rest,
    # ASan's shadow memory). Measured here: +97 MB with ASan's quarantine off (it is off for this mothd: with it on,
    # freed memory is held back up to 256 MB and the growth was +470 MB, which says nothing about mothd). Most of
    # the growth is RocksDB's memtables, bounded by its settings. A backlog held in memory would add its 64 MiB of
    # payloads to that and pass the bound with the next 128 MiB; issue 21's own figure (RSS < 200 MB with a 1 GB
    # backlog and 2 GB offered) is for a release build: bench/bridge_backlog.sh.
    RSS_GROWTH_MB = int(os.environ.get("MOTH_BRIDGE_RSS_GROWTH_MB", "200"))

    def backlog(self):
        """Runs the outage; returns (message numbers as they arrived, messages offered, RSS before, peak) in KiB."""
        remote = self.start(Mothd(port=free_port(), limits=BIG_QUEUES, http=True))
        extra = f'max_queued_bytes = {self.LIMIT}\nqueue_full_policy = "drop_oldest"\n'
        local = self.start(Mothd(bridges=bridge_toml("bl", remote.port, ["bl/# out 1"], extra=extra), http=True,
                                 env={"ASAN_OPTIONS": "quarantine_size_mb=0"}))
        sub = self.client(remote.port, "bit2-bl-sub", clean=False, subscribe=["bl/#"])
        pub = self.client(local.port, "bit2-bl-pub")
        self.wait_bridged(pub, sub, "bl/probe")
        remote.stop()
        before = local.rss_kib()
        peak, done = [before], threading.Event()

        def sample():
            while not done.wait(0.05):  # the sampling period
                peak[0] = max(peak[0], local.rss_kib())

        sampler = threading.Thread(target=sample)
        sampler.start()
        n = self.OFFERED // self.SIZE
        filler = "x" * (self.SIZE - 8)
        try:
            # In chunks, each PUBACKed before the next: paho refuses to hold a whole 2 GiB run (ERR_QUEUE_SIZE).
            for first in range(0, n, 4096):
                infos = [pub.c.publish("bl/data", f"{i:08d}{filler}", qos=1) for i in range(first, min(n, first + 4096))]
                wait_until(lambda: all(i.is_published() for i in infos), DELIVERY_S, f"PUBACKs from message {first}")
        finally:
            done.set()
            sampler.join()
        wait_until(lambda: "for $bridge/bl: queue full" in local.log(), DEADLINE_S, "the drops in mothd's log")
        remote.start()

        def drained(broker, client_id):
            s = broker.session(client_id)
            return s is not None and s["connected"] and s["queued"] == 0 and s["inflight"] == 0

        # The backlog has gone out (the remote acknowledged all of it), then the remote delivered it.
        wait_until(lambda: drained(local, "$bridge/bl"), DELIVERY_S, "the bridge's backlog to drain")
        wait_until(lambda: drained(remote, "bit2-bl-sub"), DELIVERY_S, "the remote's queue to the subscriber")
        got = [int(p[:8]) for p in sub.payloads("bl/data")]
        print(f"\n{self.id()}: VmRSS before {before // 1024} MB, peak {peak[0] // 1024} MB while "
              f"{self.OFFERED >> 20} MiB were offered to a {self.LIMIT >> 20} MiB backlog; {len(set(got))} of {n} arrived",
              flush=True)
        return got, n, before, peak[0]

    def test_drop_oldest_bounded(self):
        got, n, before, peak = self.backlog()
        self.assertLess((peak - before) // 1024, self.RSS_GROWTH_MB, "mothd's RSS growth while the backlog was full")
        if self.RSS_MB:
            self.assertLess(peak // 1024, self.RSS_MB, "mothd's RSS while the backlog was full")
        kept = sorted(set(got))
        self.assertTrue(kept, "nothing of the backlog arrived")
        unique = []
        for x in got:
            if x not in unique[-MAX_INFLIGHT:]:  # a repeat at QoS 1 after a reconnect
                unique.append(x)
        self.assertEqual(unique, kept, "the backlog's order")
        self.assertGreater(kept[0], 0, "the oldest were dropped")
        self.assertLessEqual(len(kept) * self.SIZE, self.LIMIT, "no more than max_queued_bytes kept")
        self.assertGreaterEqual(len(kept) * self.SIZE, self.LIMIT // 2, "about max_queued_bytes kept")

    # Once the bridge's queue is all in the store (its part in memory empty), a full queue once dropped the NEW
    # message instead of the oldest; drop_oldest as documented ("drop the oldest queued one to make room") keeps the
    # newest part whole, ending with the last (Core::enqueue keeps it and trims the oldest as they are read back).
    def test_drop_oldest_keeps_the_newest(self):
        got, n, _, _ = self.backlog()
        kept = sorted(set(got))
        holes = [(a, b) for a, b in zip(kept, kept[1:]) if b != a + 1]
        self.assertEqual(kept[-1:], [n - 1], "the newest message")
        self.assertEqual(holes[:5], [], f"holes in the kept part {kept[0]}..{kept[-1]} ({len(holes)} in all)")


class Reload(BridgeTest):
    """SIGHUP adds a bridge, changes its topics and removes it; mothd keeps running (docs/configuration.md
    [[bridge]]: bridges are applied on reload)."""

    NEGATIVE_WINDOW_S = 2.0

    def test_add_change_remove(self):
        remote = self.start(Mothd())
        sub = self.client(remote.port, "bit2-hup-sub", subscribe=["x/#", "y/#"])
        local = self.start(Mothd())
        state = self.client(local.port, "bit2-hup-state", subscribe=["$SYS/broker/connection/hup/state"])
        pub = self.client(local.port, "bit2-hup-pub")
        local.write(bridge_toml("hup", remote.port, ["x/# out 1"]))
        local.hup()
        self.wait_bridged(pub, sub, "x/probe")  # added
        local.write(bridge_toml("hup", remote.port, ["y/# out 1"]))
        local.hup()
        self.wait_bridged(pub, sub, "y/probe")  # changed
        pub.publish("x/after", "1")
        pub.publish("y/fence", "1")  # same publisher, same bridge session: had x/after gone out, it would be first
        wait_until(lambda: sub.payloads("y/fence"), DEADLINE_S, "y/fence")
        self.assertEqual(sub.payloads("x/after"), [], "a topic the changed bridge no longer has went out")
        local.write("")
        local.hup()
        wait_until(lambda: "bridge hup: removed" in local.log(), DEADLINE_S, "the removal in mothd's log")
        wait_until(lambda: state.payloads("$SYS/broker/connection/hup/state")[-1:] == ["0"], DEADLINE_S, "state 0")
        pub.publish("y/gone", "1")
        # Nothing to wait for that would arrive: the negative check is bounded by a window.
        time.sleep(self.NEGATIVE_WINDOW_S)
        self.assertEqual(sub.payloads("y/gone"), [], "a removed bridge still forwards")
        self.assertIsNone(local.proc.poll(), "mothd ended on SIGHUP")


if __name__ == "__main__":
    take_mothd_from_argv()
    unittest.main()
