"""Shared helpers for the bridge interop tests (test_bridge_mosquitto.py; other bridge tests may import it).

The API, kept small:

- `free_port()`: a loopback TCP port that was free a moment ago, for a broker that cannot report the port it bound
  (Debian's mosquitto 2.0.11 has no ports file). The tiny race: between our close() and the broker's bind another
  process may take the port; the broker then fails to start and the test fails loudly (Mosquitto.start() says so),
  it never talks to a stranger, because the broker's start is checked on its own log.
- `Mosquitto(conf, ports)`: Debian's mosquitto with the config text `conf` (mosquitto.conf lines; logging, user and
  persistence lines are added), started by start(): waits, with a deadline, until every port in `ports` accepts a
  TCP connection. stop() sends SIGTERM and waits; log() / log_tail() as for mothd's Broker.
- `bridge_toml(name, addresses, topics, **keys)`: one `[[bridge]]` table for mothd's config (Broker's extra_toml);
  keys are written as TOML (str, bool, int).
- `HTTP_LISTENER`: an `http` listener named "http" on 127.0.0.1:0 (for `api_get()`), to append to extra_toml.
- `api_get(port, path)`: GET on mothd's JSON API, the decoded JSON.
- `StateWatch(port, name)`: a paho client on mothd subscribed to `$SYS/broker/connection/<name>/state`;
  wait(value) waits until the last value published there is `value` ("1" up, "0" down).
- `wait_until(predicate, timeout, what, describe=None)`: polls a condition with a deadline.
"""

import json
import os
import pwd
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

from broker import HOST, LoggedProcess
from pahoclient import V311, Client

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
WAIT_S = 30.0  # bridge links on a loaded 2-core machine with a Debug + ASan mothd

HTTP_LISTENER = f'[[listener]]\nname = "http"\nkind = "http"\nbind = "{HOST}"\nport = 0\n'


def free_port():
    """A port nobody listened on when we asked; see the module's note on the race."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what, describe=None):
    """Polls `predicate` until it returns a true value (returned), or raises AssertionError after `timeout` s,
    adding describe() (e.g. a log tail) to the message."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{describe()}" if describe else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{extra}")
        time.sleep(0.02)  # polling interval of a condition wait, not a synchronisation sleep


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(str(v))  # a TOML basic string: JSON's escapes are valid TOML ones


def bridge_toml(name, addresses, topics, **keys):
    """A [[bridge]] table: `bridge_toml("b", ["mqtt://127.0.0.1:1883"], ["# out 1"], protocol="3.1.1")`."""
    lines = ["[[bridge]]", f"name = {toml_value(name)}", f"addresses = {toml_value(addresses)}",
             f"topics = {toml_value(topics)}"]
    lines += [f"{k} = {toml_value(v)}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


def api_get(port, path, timeout=WAIT_S):
    with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=timeout) as r:
        return json.loads(r.read().decode("utf-8"))


def _accepts(port):
    try:
        socket.create_connection((HOST, port), timeout=1).close()
        return True
    except OSError:
        return False


class Mosquitto(LoggedProcess):
    """Debian's mosquitto with a given config; the ports it listens on must be listed in `ports`."""

    log_name = "mosquitto"

    def __init__(self, conf, ports):
        super().__init__()
        self.conf_text = conf
        self.ports = list(ports)

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="moth-mosquitto-")
        self.log_path = os.path.join(self.dir, "mosquitto.log")
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w", encoding="utf-8") as f:
            # As root mosquitto would switch to the "mosquitto" user, who cannot read our temporary files.
            f.write(f"user {pwd.getpwuid(os.geteuid()).pw_name}\npersistence false\n"
                    "log_dest stdout\nlog_type all\nlog_timestamp_format %H:%M:%S\n" + self.conf_text + "\n")
        with open(self.log_path, "wb") as log:
            # stdbuf: line-buffered stdout, so the log is complete even when mosquitto is killed.
            self.proc = subprocess.Popen(["stdbuf", "-oL", "mosquitto", "-c", conf], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        waiting = list(self.ports)
        while waiting:
            if self.proc.poll() is not None:
                raise AssertionError(f"mosquitto exited with {self.proc.returncode} at start (a port taken "
                                     f"between free_port() and its bind?)\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"mosquitto not listening on {waiting} within {START_TIMEOUT_S} s\n"
                                     f"{self.log_tail()}")
            waiting = [p for p in waiting if not _accepts(p)]
            if waiting:
                time.sleep(0.02)  # polling a port that is not open yet
        return self

    def stop(self):
        """SIGTERM and wait (mosquitto exits 0 on SIGTERM)."""
        if self.proc is None or self.exit_code is not None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"mosquitto did not exit within {STOP_TIMEOUT_S} s of SIGTERM\n{self.log_tail()}")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.exit_code = self.proc.wait()

    def cleanup(self):
        try:
            self.stop()
        finally:
            self.kill()
            super().cleanup()


class StateWatch:
    """The values mothd publishes on $SYS/broker/connection/<name>/state, as seen by one subscriber."""

    def __init__(self, port, name):
        self.topic = f"$SYS/broker/connection/{name}/state"
        self.client = Client(port, V311)
        self.client.connect()
        self.client.subscribe(self.topic, 1)

    def values(self):
        with self.client.cond:
            return [(m.payload.decode(), bool(m.retain)) for m in self.client.messages]

    def wait(self, value, timeout=WAIT_S, describe=None):
        """Waits until the last value published is `value`; returns all (value, retain flag) pairs seen."""
        def last_is():
            seen = self.values()
            return seen if seen and seen[-1][0] == value else None
        return wait_until(last_is, timeout, f"{self.topic} = {value!r} (seen {self.values()})", describe)

    def close(self):
        self.client.stop()
