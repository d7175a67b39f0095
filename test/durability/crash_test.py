#!/usr/bin/python3
"""Crash test: acknowledged means stored, across kill -9.

Publishers at QoS 1 and QoS 2 publish numbered messages to persistent subscribers while mothd runs with
storage.durability = "sync". Two subscribers churn: during every round they disconnect (DISCONNECT or a dropped
socket) and reconnect at random moments, and may be offline when mothd dies; two stay offline until the end. At a
random moment mothd is killed with SIGKILL and started again on the same data directory; this repeats --rounds
times. Every client keeps its paho Client object and its persistent session (clean session 0) and reconnects to
the new port after each restart: publishers resend what was not acknowledged, as MQTT clients do. Then the
drain: every subscriber connects and must receive

  - every message whose PUBACK/PUBCOMP its publisher got: QoS 1 at least once, QoS 2 exactly once,
  - in order per publisher (the first delivery of each message, counted when paho hands it to the application:
    on PUBLISH at QoS 1, on PUBREL at QoS 2),
  - and no QoS 2 message more than once, acknowledged or not;

the retained message set before the first crash must still be there, and every persistent subscriber's session
must still be present (CONNACK session present).

Usage: crash_test.py --mothd build/dev/apps/mothd/mothd [--rounds 20] [--seed N] [--no-resend-wait]
                     [--paho-reconnects]
Exit status 0 when every check held; the failures are printed otherwise.
"""
import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time

import paho.mqtt.client as mqtt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mothd_run import HOST, Mothd  # noqa: E402

PUBLISHERS = [("pub-q1-a", 1), ("pub-q1-b", 1), ("pub-q2-a", 2), ("pub-q2-b", 2)]
ONLINE = ["sub-online-1", "sub-online-2"]
OFFLINE = ["sub-offline-1", "sub-offline-2"]
MAX_OUTSTANDING = 20
RETAINED_TOPIC = "crash-retained/state"
RETAINED_PAYLOAD = b"retained before the first crash"
PAHO_RECONNECTS = False  # --paho-reconnects: paho's loop thread reconnects by itself too (its duplicates, measured)


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)  # polling interval of a condition wait


def make_client(client_id):
    """A paho client with a persistent session (clean session 0) whose network thread never reconnects by itself.
    paho 1.6 puts its messages in progress "in a valid state" on every reconnect(): a QoS 2 message awaiting PUBCOMP
    becomes "resend PUBREL", and a second reconnect() before that PUBREL is sent turns it into "publish": paho then
    sends the PUBLISH again, without DUP, after it sent the PUBREL [MQTT-4.3.3-?: the sender must not]. Its loop thread
    calls reconnect() one second after the connection is lost (mothd killed, refused), then the test's connect()
    calls it again, and mothd rightly takes the PUBLISH for a new message: a duplicate that is the client's. Seen in
    the paho log: "Sending PUBREL (Mid: 158)", "Connection failed, retrying", "Sending PUBLISH (d0, q2, ... m158)"."""
    client = mqtt.Client(client_id=client_id, clean_session=False, protocol=mqtt.MQTTv311)
    if not PAHO_RECONNECTS:
        client.reconnect_delay_set(min_delay=3600, max_delay=3600)
    return client


def stop_client(client):
    """Stops paho's network thread and drops the socket without DISCONNECT (the session stays as it is)."""
    client.loop_stop()
    try:
        client.socket() and client.socket().close()
    except OSError:
        pass


class Subscriber:
    def __init__(self, client_id, rng=None):
        self.client_id = client_id
        self.rng = rng  # churns (disconnects and reconnects during rounds) when set
        self.lock = threading.Lock()
        self.counts = {}  # (publisher, seq) -> deliveries
        self.first_order = {}  # publisher -> [seq in order of first delivery]
        self.last_message = time.monotonic()
        self.trace = {}
        self.round = 0
        self.connack = None
        self.connected = False
        self.churns = 0
        self.client = make_client(client_id)
        self.client.on_message = self.on_message
        self.client.on_connect = self.on_connect

    def on_connect(self, client, userdata, flags, rc):
        self.connack = (flags.get("session present", 0), rc)

    def on_message(self, client, userdata, msg):
        # paho 1.6 calls this on PUBLISH at QoS 0 and 1, and on PUBREL at QoS 2: what the application gets.
        if not msg.topic.startswith("crash/"):
            return
        pub, seq = msg.payload.decode().split(":")
        key = (pub, int(seq))
        with self.lock:
            self.trace.setdefault(key, []).append((msg.mid, msg.dup, msg.qos, self.round))
            n = self.counts.get(key, 0)
            self.counts[key] = n + 1
            if n == 0:
                self.first_order.setdefault(pub, []).append(int(seq))
            self.last_message = time.monotonic()

    def connect(self, port, stop=None):
        self.connack = None
        self.client.connect(HOST, port, keepalive=30)
        self.client.loop_start()
        self.connected = True
        wait_for(lambda: self.connack is not None or (stop is not None and stop.is_set()), 30,
                 f"CONNACK of {self.client_id}")
        if self.connack is None:
            return  # the round ended (mothd killed) first
        if self.connack[1] != 0:
            raise AssertionError(f"{self.client_id}: CONNACK {self.connack[1]}")

    def stop(self):
        stop_client(self.client)
        self.connected = False

    def churn(self, port, stop):
        """During a round: offline and online in turns at random moments (the session stays), until `stop`."""
        try:
            while not stop.is_set():
                if self.connected:
                    if stop.wait(self.rng.uniform(0.05, 0.5)):
                        return
                    if self.rng.random() < 0.5:
                        self.client.disconnect()  # DISCONNECT: a clean end of the connection
                        wait_for(lambda: not self.client.is_connected(), 5, f"{self.client_id} disconnected")
                    self.stop()
                    self.churns += 1
                else:
                    if stop.wait(self.rng.uniform(0.02, 0.3)):
                        return
                    self.connect(port, stop)
        except (AssertionError, OSError):
            # mothd was killed under it (the round's end is announced just after the kill)
            if not stop.wait(5):
                raise


class Publisher:
    """Publishes numbered messages with one paho client and a persistent session for the whole test: after a
    crash it reconnects and paho resends what was not acknowledged (QoS 1 PUBLISH with DUP, QoS 2 PUBLISH with
    DUP or PUBREL), which mothd must recognise by the QoS 2 receive state it stored."""

    def __init__(self, client_id, qos, resend_wait=True):
        self.client_id = client_id
        self.qos = qos
        self.resend_wait = resend_wait
        self.sent = []  # (seq, MQTTMessageInfo), every round
        self.unacked = []  # the same, not acknowledged yet (pruned by outstanding())
        self.next_seq = 0
        self.connected = threading.Event()
        self.client = make_client(self.client_id)
        self.client.max_inflight_messages_set(MAX_OUTSTANDING)
        self.client.on_connect = lambda c, u, f, rc: self.connected.set() if rc == 0 else None
        self.client.on_disconnect = lambda c, u, rc: self.connected.clear()

    def connect(self, port):
        self.connected.clear()
        self.client.connect(HOST, port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(30):
            raise AssertionError(f"{self.client_id}: no CONNACK")

    def outstanding(self):
        self.unacked = [(seq, info) for seq, info in self.unacked if not info._published]
        return len(self.unacked)

    def run(self, stop, limit=None):
        if self.resend_wait:
            # paho calls on_connect before it resends what was unacknowledged: a message published now could
            # overtake the resent ones (the client's reordering, not the broker's). Wait for them first.
            while not stop.is_set() and self.outstanding() != 0:
                stop.wait(0.005)
        while not stop.is_set() and (limit is None or self.next_seq < limit):
            if self.outstanding() >= MAX_OUTSTANDING or not self.connected.is_set():
                stop.wait(0.005)  # back-pressure: wait for acknowledgements (or the end of the round)
                continue
            seq = self.next_seq
            self.next_seq += 1
            info = self.client.publish(f"crash/{self.client_id}", f"{self.client_id}:{seq}", qos=self.qos)
            self.sent.append((seq, info))
            self.unacked.append((seq, info))

    def acked(self):
        # _published: set when the PUBACK (QoS 1) or PUBCOMP (QoS 2) arrived.
        return [seq for seq, info in self.sent if info._published]

    def stop(self):
        stop_client(self.client)


def out_of_order(order):
    """How many first deliveries came after a later message of the same publisher, and the first such pair."""
    count, first, high = 0, None, -1
    for prev, seq in zip([None] + order, order):
        if seq < high:
            count += 1
            if first is None:
                first = (prev, seq)
        high = max(high, seq)
    return count, first


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mothd", default=os.environ.get("MOTHD", ""))
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--min-run", type=float, default=0.3, help="shortest run before a kill, seconds")
    ap.add_argument("--max-run", type=float, default=1.5, help="longest run before a kill, seconds")
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    ap.add_argument("--no-resend-wait", action="store_true",
                    help="publishers publish new messages while paho still resends the unacknowledged ones "
                         "(measures the client's own reordering)")
    ap.add_argument("--paho-reconnects", action="store_true",
                    help="let paho's loop thread reconnect by itself too, as an application using loop_start() "
                         "does (measures the duplicates and reordering paho 1.6 causes then; fails)")
    args = ap.parse_args()
    global PAHO_RECONNECTS
    PAHO_RECONNECTS = args.paho_reconnects
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"crash test: {args.rounds} rounds, seed {seed}", flush=True)
    directory = tempfile.mkdtemp(prefix="moth-crash-")
    broker = Mothd(args.mothd, directory, storage_toml='durability = "sync"', workers=2,
                   limits_toml="max_queued_messages = 1000000")
    subs = {cid: Subscriber(cid, random.Random(rng.random()) if cid in ONLINE else None) for cid in ONLINE + OFFLINE}
    pubs = [Publisher(cid, qos, not args.no_resend_wait) for cid, qos in PUBLISHERS]
    failures = []
    try:
        # Set-up: the persistent subscriptions, the retained message.
        broker.start()
        for s in subs.values():
            s.connect(broker.port)
            r, mid = s.client.subscribe("crash/#", qos=2)
            assert r == 0
        wait_for(lambda: all(s.client._in_callback_mutex is not None for s in subs.values()), 5, "subscribe")
        setter = mqtt.Client(client_id="retained-setter", clean_session=True)
        setter.connect(HOST, broker.port)
        setter.loop_start()
        setter.publish(RETAINED_TOPIC, RETAINED_PAYLOAD, qos=1, retain=True).wait_for_publish()
        setter.disconnect()
        setter.loop_stop()
        # A SUBACK is sent only once the subscription is stored; a clean stop makes sure every SUBACK came.
        for s in subs.values():
            s.client.disconnect()
            s.stop()
        broker.stop()

        total_kills = 0
        for rnd in range(args.rounds):
            broker.start()
            stop = threading.Event()
            for cid in ONLINE:
                subs[cid].round = rnd + 1
                if rng.random() < 0.7:  # else it comes later in the round (or not: the churn decides)
                    subs[cid].connect(broker.port)
            for p in pubs:
                p.connect(broker.port)
            threads = [threading.Thread(target=p.run, args=(stop,)) for p in pubs]
            churn_errors = []

            def churn(s, port):
                try:
                    s.churn(port, stop)
                except Exception as e:  # noqa: BLE001 - reported as a failure
                    churn_errors.append(f"{s.client_id}: {type(e).__name__}: {e}")
            threads += [threading.Thread(target=churn, args=(subs[cid], broker.port)) for cid in ONLINE]
            for t in threads:
                t.start()
            run_for = rng.uniform(args.min_run, args.max_run)
            time.sleep(run_for)  # the random moment of the crash (load duration, not a synchronisation)
            broker.kill()
            total_kills += 1
            stop.set()
            for t in threads:
                t.join()
            failures.extend(churn_errors)
            for p in pubs:
                p.stop()
            for cid in ONLINE:
                subs[cid].stop()
            acked = sum(len(p.acked()) for p in pubs)
            print(f"round {rnd + 1}: killed after {run_for:.2f} s; acknowledged so far {acked}", flush=True)

        # Drain: everyone back; publishers resend what was not acknowledged.
        broker.start()
        for s in subs.values():
            s.round = args.rounds + 1
            s.connect(broker.port)
            if s.connack[0] != 1:
                failures.append(f"{s.client_id}: session not present after the restarts")
        for p in pubs:
            p.connect(broker.port)
        # A last burst after the restarts, acknowledged in full.
        stop = threading.Event()
        threads = [threading.Thread(target=p.run, args=(stop, p.next_seq + 50)) for p in pubs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wait_for(lambda: all(p.outstanding() == 0 for p in pubs), 120, "publishers' acknowledgements")
        expected = {(p.client_id, seq): p.qos for p in pubs for seq in p.acked()}

        def complete(s):
            with s.lock:
                return all(k in s.counts for k in expected)

        try:
            wait_for(lambda: all(complete(s) for s in subs.values()), 120, "every acknowledged message")
        except AssertionError as e:
            failures.append(str(e))
        # Duplicates still on their way: wait until one second passes without any message.
        wait_for(lambda: all(time.monotonic() - s.last_message > 1.0 for s in subs.values()), 60, "quiet")

        for s in subs.values():
            with s.lock:
                missing = [k for k in expected if k not in s.counts]
                if missing:
                    failures.append(f"{s.client_id}: {len(missing)} acknowledged messages lost, e.g. {missing[:5]}")
                for p in pubs:
                    for seq in p.acked():
                        n = s.counts.get((p.client_id, seq), 0)
                        if p.qos == 2 and n > 1:
                            failures.append(f"{s.client_id}: QoS 2 {p.client_id}:{seq} delivered {n} times: "
                                            f"(mid, dup, qos, round) {s.trace[(p.client_id, seq)]}")
                    # Unacknowledged QoS 2 messages may be lost, never duplicated.
                    if p.qos == 2:
                        dups = [k for k, n in s.counts.items() if k[0] == p.client_id and n > 1]
                        if dups:
                            failures.append(f"{s.client_id}: QoS 2 duplicates {dups[:5]}")
                    n, first = out_of_order(s.first_order.get(p.client_id, []))
                    if n:
                        failures.append(f"{s.client_id}: {n} first deliveries of {p.client_id} out of order, the "
                                        f"first at {first[0]} -> {first[1]}")
        got = []
        checker = mqtt.Client(client_id="retained-checker", clean_session=True)
        checker.on_message = lambda c, u, m: got.append((m.topic, m.payload, m.retain))
        checker.connect(HOST, broker.port)
        checker.loop_start()
        checker.subscribe("crash-retained/#", qos=1)
        try:
            wait_for(lambda: got, 30, "the retained message")
            if got[0] != (RETAINED_TOPIC, RETAINED_PAYLOAD, 1):
                failures.append(f"retained message changed: {got[0]}")
        except AssertionError as e:
            failures.append(str(e))
        checker.disconnect()
        checker.loop_stop()
        for s in subs.values():
            s.client.disconnect()
            s.stop()
        for p in pubs:
            p.client.disconnect()
            p.stop()
        broker.stop()
        log = open(broker.log_path, encoding="utf-8", errors="replace").read()
        if "Sanitizer" in log or "runtime error:" in log:
            failures.append("sanitizer report in the log")
        n_acked = len(expected)
        for s in subs.values():
            with s.lock:
                twice = sum(1 for k, n in s.counts.items() if n > 1 and dict(PUBLISHERS)[k[0]] == 2)
                late = sum(out_of_order(s.first_order.get(p.client_id, []))[0] for p in pubs)
            print(f"{s.client_id}: {len(s.counts)} messages, QoS 2 delivered more than once: {twice}, "
                  f"first deliveries out of order: {late}", flush=True)
        print(f"{total_kills} kill -9, {n_acked} acknowledged messages "
              f"({sum(1 for q in expected.values() if q == 1)} QoS 1, {sum(1 for q in expected.values() if q == 2)}"
              f" QoS 2) checked at {len(subs)} persistent subscribers, "
              f"{sum(s.churns for s in subs.values())} subscriber disconnects", flush=True)
    except Exception as e:  # noqa: BLE001 - report with the log
        failures.append(f"{type(e).__name__}: {e}")
        broker.kill()
    if failures:
        print("FAILED (seed %d):" % seed)
        for f in failures[:30]:
            print("  " + f)
        print(broker.tail(60))
    else:
        print("PASSED")
    if not args.keep:
        shutil.rmtree(directory, ignore_errors=True)
    else:
        print(f"data kept in {directory}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
