"""Runs `moth device` for tests: the sketch's serial monitor (stdout) is read by a thread into a list of lines
that tests wait on with deadlines; standard error goes to a file shown when a test fails.

$MOTH is the moth binary, $MOTH_DEVICE_CACHE the build cache (CTest points it into the build tree), and
test/interop (broker.py, pahoclient.py) is on sys.path for the broker fixture and the paho client.
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "test", "interop"))

COURSE_SKETCH = os.path.join(ROOT, "examples", "esp32-dht11", "esp32-dht11.ino")
FEATURES_SKETCH = os.path.join(ROOT, "examples", "esp-mqtt-client", "esp-mqtt-client.ino")
BUILD_TIMEOUT_S = 120  # compiling a sketch on a loaded 2-core machine


def moth_path():
    path = os.environ.get("MOTH", "")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError("set MOTH to the moth binary (CTest does: MOTH=$<TARGET_FILE:moth>)")
    return path


def build(sketch):
    """Builds the sketch (or finds it in the cache) before a test starts its clock."""
    r = subprocess.run([moth_path(), "device", sketch, "--build-only"], capture_output=True, text=True,
                       timeout=BUILD_TIMEOUT_S)
    if r.returncode != 0:
        raise AssertionError(f"moth device --build-only {sketch} failed ({r.returncode}):\n{r.stderr}")
    return r.stdout.strip()


class Device:
    """One `moth device` process."""

    def __init__(self, sketch, port, *args):
        self.dir = tempfile.mkdtemp(prefix="moth-device-test-")
        self.err_path = os.path.join(self.dir, "stderr")
        self.cmd = [moth_path(), "device", sketch, "--broker", f"127.0.0.1:{port}", *args]
        self.lines = []  # (monotonic time, line)
        self.cond = threading.Condition()
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                         start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                self.lines.append((time.monotonic(), line))
                self.cond.notify_all()
        with self.cond:
            self.lines.append((time.monotonic(), None))  # end of output
            self.cond.notify_all()

    def text_lines(self):
        with self.cond:
            return [l for _, l in self.lines if l is not None]

    def wait_line(self, pattern, timeout, start=0):
        """Waits for a line matching the regex `pattern` at index >= start; returns (index, time, match)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    t, line = self.lines[i]
                    if line is None:
                        raise AssertionError(f"moth device ended before printing /{pattern}/\n{self.describe()}")
                    m = rx.search(line)
                    if m:
                        return i, t, m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no line /{pattern}/ within {timeout} s\n{self.describe()}")
                self.cond.wait(min(left, 0.2))

    def count(self, pattern):
        rx = re.compile(pattern)
        return sum(1 for l in self.text_lines() if rx.search(l))

    def stderr_text(self):
        try:
            with open(self.err_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def describe(self, n=40):
        out = "\n".join(self.text_lines()[-n:])
        err = "\n".join(self.stderr_text().splitlines()[-n:])
        return f"---- serial (last {n} lines) ----\n{out}\n---- stderr ----\n{err}\n---- end ----"

    def signal(self, signo):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signo)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"moth device did not exit within {timeout} s\n{self.describe()}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=10)
        try:
            self.proc.stdout.close()
        except OSError:
            pass


class DeviceTestCase(unittest.TestCase):
    def start_device(self, sketch, port, *args):
        d = Device(sketch, port, *args)
        self.addCleanup(d.close)
        self.devices = getattr(self, "devices", []) + [d]
        return d

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for d in getattr(self, "devices", []):
                sys.stderr.write(f"\n{self.id()} failed; {' '.join(d.cmd)}\n{d.describe(80)}\n")
        return out
