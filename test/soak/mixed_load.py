#!/usr/bin/python3
"""Mixed-load soak run for mothd: several real clients for a long time, then a clean shutdown.

Starts mothd (an ASan build, normally) on 127.0.0.1 with a free port and drives it with:
  - paho-mqtt v3.1.1 and v5 publishers at QoS 0, 1 and 2 with user properties and message expiry,
  - wildcard, shared-subscription and persistent-session subscribers that disconnect and come back,
  - clients that vanish without DISCONNECT (their wills must arrive),
  - retained messages set and cleared, $SYS readers,
  - mosquitto_pub bursts for MQTT 3.1 and 5.0,
  - raw malformed packets that must cost only their own connection.
It checks as it goes that QoS 1/2 subscribers see every message of their publisher in order and that wills
arrive, and at the end that mothd is still serving, exits 0 on SIGTERM, and logged no sanitizer report.

Usage: mixed_load.py --mothd build/dev/apps/mothd/mothd --seconds 3600
Exit status 0 when every check held.
"""
import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

failures = []
failures_lock = threading.Lock()


def fail(msg):
    with failures_lock:
        failures.append(msg)
    print("FAIL:", msg, flush=True)


def start_mothd(path, workdir):
    ports = os.path.join(workdir, "ports")
    cfg = os.path.join(workdir, "mothd.toml")
    with open(cfg, "w") as f:
        # The same client ids reconnect every round as fast as they can: flapping by definition, which would ban
        # them (limits are tested in test/interop/test_limits*.py); this soak is about everything else.
        f.write('auth.allow_anonymous = true\nflapping.enabled = false\n'
                f'ports_file = "{ports}"\ndata_dir = "{workdir}/data"\nworkers = 2\nsys_interval_s = 2\n'
                '[[listener]]\nkind = "mqtt"\nbind = "127.0.0.1"\nport = 0\n')
    log = open(os.path.join(workdir, "mothd.log"), "w")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0")
    proc = subprocess.Popen([path, "--config", cfg], stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 20
    while time.time() < deadline:
        if os.path.exists(ports):
            return proc, int(open(ports).read().split()[3])
        if proc.poll() is not None:
            raise SystemExit("mothd exited during start-up")
        time.sleep(0.05)
    raise SystemExit("mothd did not write its ports file")


def client(cid, version, port, clean=True, **kw):
    proto = mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311
    if version == 5:
        c = mqtt.Client(client_id=cid, protocol=proto)
    else:
        c = mqtt.Client(client_id=cid, protocol=proto, clean_session=clean)
    return c


class OrderedSubscriber:
    """Subscribes at QoS 1 or 2 to one publisher's topic and checks every sequence number arrives in order."""

    def __init__(self, port, topic, qos, version):
        self.topic, self.qos, self.expected, self.lock = topic, qos, 0, threading.Lock()
        self.c = client(f"sub-{topic.replace('/', '-')}", version, port)
        self.c.on_message = self.on_message
        self.ready = threading.Event()
        self.c.on_subscribe = lambda *a: self.ready.set()
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.subscribe(topic, qos)
        self.c.loop_start()
        if not self.ready.wait(10):
            fail(f"no SUBACK for {topic}")

    def on_message(self, c, u, msg):
        seq = int(msg.payload.split(b":")[0])
        with self.lock:
            if seq < self.expected and self.qos == 2:
                fail(f"{self.topic}: QoS 2 duplicate {seq}")
            elif seq > self.expected:
                fail(f"{self.topic}: expected {self.expected}, got {seq} (lost or out of order)")
            self.expected = max(self.expected, seq + 1)

    def stop(self):
        self.c.loop_stop()
        self.c.disconnect()


def publisher(port, topic, qos, version, stop, counter, pace):
    c = client(f"pub-{topic.replace('/', '-')}", version, port)
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    seq = 0
    while not stop.is_set():
        props = None
        if version == 5:
            props = Properties(PacketTypes.PUBLISH)
            props.UserProperty = [("seq", str(seq)), ("origin", "soak")]
            props.MessageExpiryInterval = 60
        info = c.publish(topic, f"{seq}:{'x' * random.randint(0, 200)}", qos, properties=props)
        try:
            info.wait_for_publish(10)
        except RuntimeError:
            pass
        if not info.is_published():
            fail(f"{topic}: publish {seq} not acknowledged within 10 s")
            break
        seq += 1
        counter[topic] = seq
        time.sleep(random.uniform(0, pace))  # pacing, not synchronisation
    c.loop_stop()
    c.disconnect()


def churn(port, stop, will_counter):
    """Persistent, shared and wildcard subscribers that come and go; clients that die with a will."""
    watcher = client("will-watcher", 5, port)
    got = {"n": 0}
    watcher.on_message = lambda c, u, m: got.__setitem__("n", got["n"] + 1)
    watcher.connect("127.0.0.1", port)
    watcher.subscribe("soak/will/#", 1)
    watcher.loop_start()
    i = 0
    while not stop.is_set():
        i += 1
        # A client that disappears without DISCONNECT: its will must be published.
        d = client(f"dying-{i}", random.choice([4, 5]), port)
        d.will_set(f"soak/will/{i}", "gone", 1)
        d.connect("127.0.0.1", port, keepalive=30)
        d.loop(0.1)
        d.socket().close()
        will_counter["sent"] = i
        # Shared and wildcard subscribers with persistent sessions that reconnect.
        for name, filt in (("shared-a", "$share/g/soak/data/#"), ("shared-b", "$share/g/soak/data/#"),
                           ("wild", "soak/+/+"), ("persist", "soak/data/#")):
            s = client(f"{name}", 4, port, clean=False)
            s.connect("127.0.0.1", port, keepalive=10)
            s.subscribe(filt, random.choice([0, 1, 2]))
            s.loop_start()
            time.sleep(random.uniform(0.05, 0.3))
            s.loop_stop()
            s.disconnect()
        # Retained set and clear.
        r = client(f"retainer-{i}", 5, port)
        r.connect("127.0.0.1", port)
        r.loop_start()
        r.publish(f"soak/retained/{i % 50}", "" if i % 3 == 0 else f"value {i}", 1, retain=True).wait_for_publish(5)
        r.loop_stop()
        r.disconnect()
        # Malformed bytes: reserved flags on SUBSCRIBE after a valid CONNECT.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(bytes([0x10, 0x0D, 0x00, 0x04]) + b"MQTT" + bytes([0x04, 0x02, 0x00, 0x3C, 0x00, 0x01]) + b"x")
            raw.recv(4)
            raw.sendall(bytes([0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00]))
            try:
                raw.recv(16)
            except OSError:
                pass
        # mosquitto_pub bursts in 3.1 and 5.0.
        for v in ("mqttv31", "mqttv5"):
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-V", v, "-q", "1", "-t",
                            f"soak/cli/{v}", "-m", f"burst {i}", "-r"], timeout=10, check=False)
    deadline = time.time() + 10
    while got["n"] < will_counter["sent"] and time.time() < deadline:
        time.sleep(0.1)
    watcher.loop_stop()
    watcher.disconnect()
    if got["n"] < will_counter["sent"]:
        fail(f"wills: {will_counter['sent']} clients died, {got['n']} wills arrived")
    will_counter["got"] = got["n"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mothd", required=True)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--pace", type=float, default=0.01, help="max pause between a publisher's messages (s)")
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="moth-soak-")
    proc, port = start_mothd(args.mothd, workdir)
    print(f"mothd pid {proc.pid} on port {port}, log {workdir}/mothd.log", flush=True)
    stop = threading.Event()
    counter, wills = {}, {"sent": 0}
    subs, threads = [], []
    for i, (qos, version) in enumerate([(1, 4), (2, 5), (1, 5), (2, 4), (0, 5), (0, 4)]):
        topic = f"soak/data/{i}"
        if qos > 0:
            subs.append(OrderedSubscriber(port, topic, qos, 5 if i % 2 else 4))
        threads.append(threading.Thread(target=publisher, args=(port, topic, qos, version, stop, counter, args.pace)))
    threads.append(threading.Thread(target=churn, args=(port, stop, wills)))
    for t in threads:
        t.start()
    end = time.time() + args.seconds
    while time.time() < end and proc.poll() is None:
        time.sleep(min(30, max(0, end - time.time())))
        print(f"{int(end - time.time())} s left; published {sum(counter.values())}, wills {wills['sent']}",
              flush=True)
    stop.set()
    for t in threads:
        t.join(120)
    # Let the last acknowledged messages reach their subscribers.
    deadline = time.time() + 10
    while time.time() < deadline and any(s.expected < counter.get(s.topic, 0) for s in subs):
        time.sleep(0.1)
    for s in subs:
        if s.expected < counter.get(s.topic, 0):
            fail(f"{s.topic}: published {counter[s.topic]}, received {s.expected}")
        s.stop()
    if proc.poll() is not None:
        fail(f"mothd died during the run (exit {proc.returncode})")
    else:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(30)
            if code != 0:
                fail(f"mothd exited {code} on SIGTERM")
        except subprocess.TimeoutExpired:
            proc.kill()
            fail("mothd did not exit within 30 s of SIGTERM")
    log = open(os.path.join(workdir, "mothd.log")).read()
    for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        if marker in log:
            fail(f"sanitizer report in the log ({marker}); see {workdir}/mothd.log")
    print(f"published {sum(counter.values())} messages; wills {wills.get('got', 0)}/{wills['sent']}; "
          f"failures: {len(failures)}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
