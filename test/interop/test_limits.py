"""Publish rates of issue 19 against the real mothd: a paho publisher offering ten times its listener's
limits.publish_rate is held to the rate (over_rate = "slow": mothd stops reading its socket while its token bucket
is in debt, so nothing is lost), while a publisher on an unlimited listener of the same worker keeps its throughput;
with over_rate = "disconnect" a 5.0 client gets DISCONNECT 0x96 and a 3.1.1 client is closed. Every wait is bounded.
"""

import threading
import time
import unittest

from broker import BrokerTestCase, take_mothd_from_argv
from limitstest import V5_MESSAGE_RATE, WAIT_S, SysWatcher, raw_connect, read_packet, unique
from listenertest import listener_ports
from pahoclient import Client, V311, V5
from rawmqtt import packet_type, publish_packet

RATE = 200  # listener mqtt-0's publish_rate (burst: the default, max(1, rate) = 200)
OFFERED = 10 * RATE  # what the throttled publisher tries to send, messages per second
# QoS 1 messages a publisher keeps unacknowledged: the throttled one always has this many waiting in mothd's socket,
# so mothd's reading, not the client, sets its pace; and what is left when it stops drains in WINDOW / RATE s.
WINDOW = 1000
MEASURE_S = 10.0  # the window between the two marks
TOLERANCE = 0.05  # the rate held to within 5 % over MEASURE_S


class Publisher:
    """A paho QoS 1 publisher on its own thread: sends the payloads "0", "1", ... to `topic`, at most `per_s` a
    second (None: as fast as acks allow), never more than WINDOW unacknowledged, until stop() or `count` messages."""

    def __init__(self, testcase, port, topic, per_s=None, count=None):
        self.client = Client(port, V311)
        self.client.c.max_inflight_messages_set(WINDOW)
        self.client.c.max_queued_messages_set(0)  # 0 = unbounded; the window bounds it
        testcase.addCleanup(self.client.stop)
        self.client.connect()
        self.topic, self.per_s, self.count = topic, per_s, count
        self.sent = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error = None

    def start(self):
        self.started_at = time.monotonic()
        self.thread.start()
        return self

    def acked(self):
        with self.client.cond:
            return len(self.client.published)

    def _run(self):
        try:
            while not self.stopping.is_set() and (self.count is None or self.sent < self.count):
                if self.per_s is not None:
                    due = self.started_at + self.sent / self.per_s
                    if due > time.monotonic():
                        self.stopping.wait(due - time.monotonic())  # pacing the offer, not synchronising
                        continue
                # Bounded in-flight window: wait for PUBACKs, as an application with a send window would.
                self.client.wait(lambda: self.sent - len(self.client.published) < WINDOW or self.stopping.is_set(),
                                 "room in the in-flight window", WAIT_S * 3)
                info = self.client.c.publish(self.topic, str(self.sent).encode(), qos=1)
                if info.rc != 0:
                    raise AssertionError(f"publish failed locally: {info.rc}")
                self.sent += 1
        except BaseException as e:  # reported by join()
            self.error = e

    def stop(self):
        self.stopping.set()

    def join(self, timeout=WAIT_S):
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError(f"{self.topic}: publisher thread still running after {timeout} s")
        if self.error is not None:
            raise AssertionError(f"{self.topic}: publisher failed: {self.error!r}")


class Counter:
    """A paho subscriber to "rate/#" that keeps, per topic, the sequence numbers it received (kept incrementally:
    waits evaluate their predicate at every message)."""

    def __init__(self, testcase, port):
        self.client = Client(port, V311)
        testcase.addCleanup(self.client.stop)
        self.seqs = {}
        self.client.c.on_message = self._on_message
        self.client.connect()
        self.client.subscribe("rate/#", 1)

    def _on_message(self, client, userdata, msg):
        with self.client.cond:
            self.seqs.setdefault(msg.topic, []).append(int(msg.payload))
            self.client.cond.notify_all()

    def count(self, topic):
        with self.client.cond:
            return len(self.seqs.get(topic, ()))

    def wait_count(self, topic, n, timeout=WAIT_S):
        self.client.wait(lambda: len(self.seqs.get(topic, ())) >= n, f"{n} messages on {topic}", timeout)

    def sequence(self, topic):
        with self.client.cond:
            return list(self.seqs.get(topic, ()))


class PublishRateTest(BrokerTestCase):
    # One worker, so both publishers share it; mqtt-0 limited, mqtt-1 (added) without a rate.
    # The subscriber (Python) may fall behind the unlimited publisher: its queue must hold all of them.
    broker_overrides = ("workers=1", f"listener.0.publish_rate={RATE}", "listener.1.kind=mqtt",
                        "listener.1.bind=127.0.0.1", "listener.1.port=0", "limits.max_queued_messages=100000")

    def timed_run(self, port, topic, n):
        """Seconds a publisher on `port` takes to get n QoS 1 messages acknowledged."""
        p = Publisher(self, port, topic, count=n).start()
        p.client.wait(lambda: len(p.client.published) >= n, f"{n} PUBACKs on {topic}", WAIT_S * 3)
        elapsed = time.monotonic() - p.started_at
        p.join()
        return elapsed

    def test_held_to_the_rate_none_lost_other_listener_unaffected(self):
        ports = listener_ports(self.broker.dir)
        limited, free = ports["mqtt-0"], ports["mqtt-1"]
        counter = Counter(self, free)
        stats = SysWatcher(self, free)
        n_free = 2000

        # Baseline: the unlimited publisher while the limited one is connected but idle.
        slow = Publisher(self, limited, "rate/limited", per_s=OFFERED)
        base_s = self.timed_run(free, "rate/free-alone", n_free)
        counter.wait_count("rate/free-alone", n_free)

        slow.start()
        # The first mark once the burst (RATE tokens) is spent and the bucket is in steady state.
        counter.wait_count("rate/limited", 2 * RATE)
        t0, c0 = time.monotonic(), counter.count("rate/limited")
        # The unlimited publisher again, on the same worker, while the limited one is throttled.
        loaded_s = self.timed_run(free, "rate/free-loaded", n_free)
        # The second mark: a measuring window, not a synchronisation (the counts between the marks are the result).
        counter.client.wait(lambda: time.monotonic() >= t0 + MEASURE_S, "the end of the measuring window",
                            MEASURE_S + 1)
        t1, c1 = time.monotonic(), counter.count("rate/limited")
        waiting = slow.sent - slow.acked()
        slow.stop()
        slow.join()

        rate = (c1 - c0) / (t1 - t0)
        print(f"\nlimited publisher: {c1 - c0} messages in {t1 - t0:.2f} s = {rate:.1f}/s (limit {RATE}/s, "
              f"offered {OFFERED}/s, {waiting} waiting at the mark); unlimited: {n_free} in {base_s:.2f} s beside "
              f"it idle, {loaded_s:.2f} s beside it throttled")
        # The publisher had its window full at the second mark: mothd, not the client, set the pace.
        self.assertGreaterEqual(waiting, WINDOW // 2, "unacknowledged messages at the second mark")
        self.assertLessEqual(rate, RATE * (1 + TOLERANCE))
        self.assertGreaterEqual(rate, RATE * (1 - TOLERANCE))
        # Nothing dropped: every QoS 1 message arrives, once and in order, after the offer stopped.
        slow.client.wait(lambda: len(slow.client.published) >= slow.sent, "PUBACKs for all", WINDOW / RATE + WAIT_S)
        counter.wait_count("rate/limited", slow.sent)
        self.assertEqual(counter.sequence("rate/limited"), list(range(slow.sent)))
        self.assertEqual(counter.sequence("rate/free-loaded"), list(range(n_free)))
        # The unlimited listener's publisher was not throttled: far above the limit, and not much slower than alone.
        self.assertGreater(n_free / loaded_s, 4 * RATE)
        self.assertLessEqual(loaded_s, 2 * base_s + 1.0, "the unlimited publisher slowed down beside the limited one")
        stats.wait_for("throttled", lambda v: v > 0)


class OverRateDisconnectTest(BrokerTestCase):
    broker_overrides = ("limits.publish_rate=10", "limits.over_rate=disconnect")

    def flood(self, version):
        """A client within its burst first (5 QoS 1 PUBLISH, all acknowledged), then 100 QoS 0 PUBLISH at once.
        Returns what mothd sent after the PUBACKs until it closed the connection."""
        s, code = raw_connect(self.port, unique("flood"), version)
        self.addCleanup(s.close)
        self.assertEqual(code, 0)
        s.sendall(b"".join(publish_packet("flood/x", b"ok", 1, i + 1, version) for i in range(5)))
        buf = b""
        for i in range(5):
            p, buf = read_packet(s, buf)
            self.assertIsNotNone(p, "closed within the burst")
            self.assertEqual(packet_type(p), 4, f"PUBACK {i + 1} of 5, got {p!r}")
        try:
            s.sendall(b"".join(publish_packet("flood/x", b"too fast", 0, 0, version) for _ in range(100)))
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while we were still sending: what follows reads what came before
        rest = []
        while True:
            p, buf = read_packet(s, buf)
            if p is None:
                return rest, buf
            rest.append(p)

    def test_v5_gets_disconnect_0x96(self):
        packets, partial = self.flood(5)
        self.assertEqual(partial, b"")
        self.assertEqual(len(packets), 1, f"one DISCONNECT, got {packets!r}")
        self.assertEqual(packet_type(packets[0]), 14)
        self.assertEqual(packets[0][2], V5_MESSAGE_RATE, f"DISCONNECT reason, got {packets[0]!r}")

    def test_v311_is_closed(self):
        packets, partial = self.flood(4)
        self.assertEqual((packets, partial), ([], b""), "3.1.1 has no DISCONNECT from the server: just closed")

    def test_paho_v5_is_disconnected_and_counter_counts(self):
        stats = SysWatcher(self, self.port)
        c = Client(self.port, V5)
        self.addCleanup(c.stop)
        logs = []
        c.c.on_log = lambda client, userdata, level, buf: logs.append(buf)
        c.connect()
        for i in range(100):
            c.c.publish("flood/paho", str(i).encode(), qos=0)
        c.wait(lambda: c.disconnected is not None, "the connection to end")
        # mothd sends e0 01 96 (reason, no property length: allowed by MQTT 5.0 3.14.2.2.1 when the remaining length
        # is below 2); paho 1.6.1 parses the reason only when the remaining length is above 2, so it reports the
        # end as a lost connection. Its log shows that the server's DISCONNECT arrived; test_v5_gets_disconnect_0x96
        # checks the reason code itself.
        self.assertTrue(any(line.startswith("Received DISCONNECT") for line in logs), logs[-5:])
        stats.wait_for("rate_disconnected", lambda v: v == 1)


if __name__ == "__main__":
    take_mothd_from_argv()
    unittest.main()
