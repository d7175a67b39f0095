"""Runs the real mothd for interop tests.

`Broker` starts mothd with a temporary TOML config (one MQTT listener on 127.0.0.1, port 0), waits with a deadline
for the ports file mothd writes once it listens, and stops it with SIGTERM, asserting exit status 0. The broker's
log (stderr) is kept in the temporary directory and attached to failure messages.

`BrokerTestCase` gives every test its own broker (`self.broker`, `self.port`) and prints the log tail of the broker
when a test fails or errors.

The mothd binary comes from the environment variable MOTHD (CTest sets it to $<TARGET_FILE:mothd>), or from the
first command-line argument when a test module is run as a script: `python3 test_paho.py build/dev/apps/mothd/mothd`.
"""

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0  # a Debug + ASan build on a loaded 2-core CI machine can be slow to start
STOP_TIMEOUT_S = 20.0


def mothd_path():
    path = os.environ.get("MOTHD", "")
    if not path:
        raise RuntimeError("set MOTHD to the mothd binary (CTest does: MOTHD=$<TARGET_FILE:mothd>)")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"MOTHD={path} is not an executable file")
    return path


def take_mothd_from_argv():
    """For `python3 test_x.py /path/to/mothd [unittest args]`: moves argv[1] into MOTHD."""
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-") and os.path.basename(sys.argv[1]).startswith("mothd"):
        os.environ["MOTHD"] = os.path.abspath(sys.argv.pop(1))


class LoggedProcess:
    """A process run in a temporary directory `dir` whose output goes to the file `log_path` in it. cleanup() removes
    the directory and keeps the log's text, so log() and log_tail() still answer afterwards. Also used by
    test/nodered."""

    log_name = "process"  # in log_tail()'s frame

    def __init__(self):
        self.dir = None
        self.proc = None
        self.port = None
        self.log_path = None
        self.exit_code = None
        self._log_text = None

    def cleanup(self):
        if self.dir is not None:
            self._log_text = self.log()
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def log(self):
        if self._log_text is not None:
            return self._log_text
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    def log_tail(self, lines=60):
        tail = self.log().splitlines()[-lines:]
        text = "\n".join(tail)
        return f"---- {self.log_name} log (last {len(tail)} lines) ----\n{text}\n---- end of {self.log_name} log ----"


class Broker(LoggedProcess):
    """One mothd process. `overrides` are `--set key=value` strings, e.g. "limits.max_inflight=10"."""

    log_name = "mothd"

    # anonymous: the config's auth.allow_anonymous (True, as the demo; None leaves it out: a config file alone
    # refuses anonymous clients).
    def __init__(self, overrides=(), extra_toml="", nofile=None, anonymous=True):
        super().__init__()
        self.overrides = list(overrides)
        self.extra_toml = extra_toml
        self.nofile = nofile  # (soft, hard) RLIMIT_NOFILE for mothd, or None to inherit
        self.anonymous = anonymous

    # -- life cycle -------------------------------------------------------------------------------------------
    def start(self):
        # A started-again broker (test/interop/clustertest.py's restart()) keeps its directory: data_dir and log.
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="moth-interop-")
        ports = os.path.join(self.dir, "ports")
        if os.path.exists(ports):
            os.unlink(ports)  # the previous run's: its port is gone
        config = os.path.join(self.dir, "mothd.toml")
        with open(config, "w", encoding="utf-8") as f:
            f.write(
                ("" if self.anonymous is None else f"auth.allow_anonymous = {str(self.anonymous).lower()}\n") +
                f'ports_file = "{ports}"\n'
                f'data_dir = "{os.path.join(self.dir, "data")}"\n'
                "workers = 2\n"
                "sys_interval_s = 1\n"
                'log_level = "debug"\n'
                f"{self.extra_toml}\n"
                "[[listener]]\n"
                'kind = "mqtt"\n'
                'bind = "127.0.0.1"\n'
                "port = 0\n"
            )
        self.log_path = os.path.join(self.dir, "mothd.log")
        cmd = [mothd_path(), "--config", config]
        for o in self.overrides:
            cmd += ["--set", o]
        with open(self.log_path, "ab") as log:  # appended: a restart keeps the earlier run's lines
            limit = None
            if self.nofile is not None:
                limit = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, self.nofile)  # noqa: E731
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, preexec_fn=limit)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"mothd exited with {self.proc.returncode} before listening\n{self.log_tail()}")
            port = self._read_port(ports)
            if port is not None:
                self.port = port
                return self
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"mothd wrote no ports file within {START_TIMEOUT_S} s\n{self.log_tail()}")
            time.sleep(0.02)  # polling interval of a condition wait, not a synchronisation sleep

    @staticmethod
    def _read_port(path):
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return None
        if not text.endswith("\n"):
            return None  # the file is written atomically, but be strict anyway
        for line in text.splitlines():
            fields = line.split()
            if len(fields) == 4 and fields[1] == "mqtt":
                if fields[2] != HOST:
                    raise AssertionError(f"mqtt listener bound to {fields[2]}, expected {HOST}: {line!r}")
                return int(fields[3])
        raise AssertionError(f"no mqtt listener in ports file: {text!r}")

    def stop(self):
        """SIGTERM, wait, and assert exit code 0 (AssertionError with the log otherwise)."""
        if self.proc is None or self.exit_code is not None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"mothd did not exit within {STOP_TIMEOUT_S} s of SIGTERM\n{self.log_tail()}")
        if self.exit_code != 0:
            raise AssertionError(f"mothd exited with {self.exit_code} after SIGTERM, expected 0\n{self.log_tail()}")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.exit_code = self.proc.wait()


class BrokerTestCase(unittest.TestCase):
    """Starts a fresh mothd for every test; stops it (asserting exit 0) after the test's own cleanups."""

    broker_overrides = ()

    def setUp(self):
        super().setUp()
        self.broker = Broker(self.broker_overrides)
        # Registered first, so it runs last: clients started by the test are gone before SIGTERM.
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)
        self.broker.start()
        self.port = self.broker.port

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            broker = getattr(self, "broker", None)
            if broker is not None:
                sys.stderr.write(f"\n{self.id()} failed; broker log:\n{broker.log_tail(120)}\n")
        return out

    def wait_until(self, predicate, timeout, what):
        """Polls `predicate` until it returns a true value (returned) or fails the test after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                self.fail(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.02)
