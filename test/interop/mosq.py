"""Runs Debian's mosquitto_pub / mosquitto_sub (2.0.11) against a broker, always bounded in time.

`Sub` starts mosquitto_sub under `stdbuf -oL` with its stdout in a file and `-W` as a last-resort bound, and reads
the file back with deadline-bounded waits. Its output format is `-F` with fields separated by `|`, the payload
last (`FIELDS` names them); mosquitto_sub 2.0.11 supports %t topic, %q QoS, %r retain, %P user properties
("k:v k2:v2"), %E message expiry, %A topic alias, %R response topic, %D correlation data, %p payload.

Readiness: mosquitto_sub cannot tell us when its SUBACK arrived, so a `Sub` made with `probe=True` also subscribes
to a private probe topic, and `wait_ready()` publishes probe messages there (from a paho client) until one comes
out of the subscriber. Because the probe filter is in the same SUBSCRIBE packet as the test's filters, a printed
probe proves the test's subscriptions are in place too. Probe lines are filtered out of what the tests see.
"""

import os
import signal
import subprocess
import tempfile
import time
import uuid

import paho.mqtt.client as mqtt

from broker import HOST

FIELDS = ("topic", "qos", "retain", "props", "expiry", "alias", "response", "payload")
FORMAT = "%t|%q|%r|%P|%E|%A|%R|%p"
SUB_BOUND_S = 90  # -W: mosquitto_sub exits by itself after this many seconds whatever happens
PUB_TIMEOUT_S = 30
VERSIONS = ("mqttv31", "mqttv311", "mqttv5")


def unique(prefix="t"):
    return f"{prefix}{uuid.uuid4().hex[:10]}"


class Record(dict):
    """One output line of a Sub, as a dict of FIELDS plus attribute access."""

    __getattr__ = dict.__getitem__


def parse(line):
    values = line.split("|", len(FIELDS) - 1)
    if len(values) != len(FIELDS):
        raise AssertionError(f"unexpected mosquitto_sub output line {line!r}")
    return Record(zip(FIELDS, values))


def pub(port, version, *args, stdin=None, timeout=PUB_TIMEOUT_S, expect_rc=0):
    """Runs mosquitto_pub to completion; asserts its exit status. Returns (stdout, stderr)."""
    cmd = ["mosquitto_pub", "-h", HOST, "-p", str(port), "-V", version, *args]
    try:
        p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout,
                           text=True if isinstance(stdin, str) or stdin is None else False)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{' '.join(cmd)} did not finish within {timeout} s") from e
    if expect_rc is not None and p.returncode != expect_rc:
        raise AssertionError(f"{' '.join(cmd)} exited with {p.returncode}, expected {expect_rc}\n"
                             f"stdout: {p.stdout!r}\nstderr: {p.stderr!r}")
    return p.stdout, p.stderr


class Prober:
    """A paho client that publishes readiness probes (QoS 0) for Sub.wait_ready()."""

    def __init__(self, port):
        self.client = mqtt.Client(client_id=unique("probe-"), protocol=mqtt.MQTTv311)
        self.connected = False
        self.client.on_connect = lambda c, u, f, rc: setattr(self, "connected", rc == 0)
        self.client.connect(HOST, port, keepalive=30)
        self.client.loop_start()
        deadline = time.monotonic() + 15
        while not self.connected:
            if time.monotonic() > deadline:
                self.close()
                raise AssertionError("probe publisher: no CONNACK within 15 s")
            time.sleep(0.01)

    def publish(self, topic, payload):
        self.client.publish(topic, payload, qos=0)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


class Sub:
    """A running mosquitto_sub. Use through Session.sub() so it is always reaped."""

    def __init__(self, port, version, topics, *args, probe=True, fmt=FORMAT, bound_s=SUB_BOUND_S):
        self.port = port
        self.version = version
        self.fmt = fmt
        self.dir = tempfile.mkdtemp(prefix="moth-sub-")
        self.out_path = os.path.join(self.dir, "out")
        self.err_path = os.path.join(self.dir, "err")
        self.probe_topic = unique("probe/") if probe else None
        self.probe_token = unique("probe-") if probe else None
        cmd = ["stdbuf", "-oL", "mosquitto_sub", "-h", HOST, "-p", str(port), "-V", version, "-F", fmt,
               "-W", str(bound_s)]
        for t in topics:
            cmd += ["-t", t]
        if probe:
            cmd += ["-t", self.probe_topic]
        cmd += list(args)
        self.cmd = cmd
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)

    # -- output ---------------------------------------------------------------------------------------------
    def _all_lines(self):
        with open(self.out_path, "rb") as f:
            data = f.read().decode("utf-8", errors="replace")
        return data.split("\n")[:-1]  # only complete lines

    def lines(self):
        """Complete output lines, probes left out."""
        if self.probe_token is None:
            return self._all_lines()
        return [ln for ln in self._all_lines() if self.probe_token not in ln]

    def records(self):
        return [parse(ln) for ln in self.lines()]

    def payloads(self):
        return [r.payload for r in self.records()]

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")

    def describe(self):
        return (f"mosquitto_sub ({' '.join(self.cmd)}), exit status {self.proc.poll()}\n"
                f"output: {self._all_lines()!r}\nstderr: {self.stderr()!r}")

    # -- waiting ---------------------------------------------------------------------------------------------
    def wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{self.describe()}")
            time.sleep(0.02)

    def wait_records(self, n, timeout=20):
        """Waits until at least n (non-probe) lines were printed; returns all records."""
        self.wait_for(lambda: len(self.lines()) >= n, timeout, f"{n} messages")
        return self.records()

    def wait_payload(self, payload, timeout=20):
        """Waits until a message with this payload was printed; returns all records up to and including it."""
        def found():
            recs = self.records()
            for i, r in enumerate(recs):
                if r.payload == payload:
                    return recs[: i + 1]
            return None
        return self.wait_for(found, timeout, f"a message with payload {payload!r}")

    def wait_ready(self, prober, timeout=20):
        """Publishes probes until the subscriber prints one: its SUBSCRIBE has been processed."""
        assert self.probe_topic is not None, "Sub made without probe"
        deadline = time.monotonic() + timeout
        next_probe = 0.0
        while self.probe_token not in "\n".join(self._all_lines()):
            if self.proc.poll() is not None:
                raise AssertionError(f"subscriber exited before it was ready\n{self.describe()}")
            now = time.monotonic()
            if now > deadline:
                raise AssertionError(f"subscriber not ready within {timeout} s\n{self.describe()}")
            if now >= next_probe:
                prober.publish(self.probe_topic, self.probe_token)
                next_probe = now + 0.1
            time.sleep(0.02)

    def wait_exit(self, timeout=20):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"mosquitto_sub did not exit within {timeout} s\n{self.describe()}") from None

    # -- ending ----------------------------------------------------------------------------------------------
    def terminate(self, timeout=20):
        """SIGTERM: mosquitto_sub sends DISCONNECT and exits. Returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def kill(self):
        """SIGKILL: the TCP connection ends without DISCONNECT."""
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait(timeout=20)

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)
        for p in (self.out_path, self.err_path):
            try:
                os.unlink(p)
            except OSError:
                pass
        try:
            os.rmdir(self.dir)
        except OSError:
            pass


class Session:
    """Per-test factory: subscribers and the prober are cleaned up by the test case."""

    def __init__(self, testcase, port):
        self.testcase = testcase
        self.port = port
        self._prober = None

    @property
    def prober(self):
        if self._prober is None:
            self._prober = Prober(self.port)
            self.testcase.addCleanup(self._prober.close)
        return self._prober

    def sub(self, version, topics, *args, probe=True, ready=True, **kw):
        s = Sub(self.port, version, topics, *args, probe=probe, **kw)
        self.testcase.addCleanup(s.cleanup)
        if probe and ready:
            s.wait_ready(self.prober)
        return s

    def pub(self, version, *args, **kw):
        return pub(self.port, version, *args, **kw)
