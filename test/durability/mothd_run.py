"""One mothd on a data directory that outlives it: start, SIGTERM, SIGKILL, start again on the same state.

The port is 0 in the config and read back from the ports file (a new one on every start). The log of every run
is appended to <dir>/mothd.log and shown by tail() in failure messages.
"""
import os
import signal
import subprocess
import time

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


class Mothd:
    def __init__(self, mothd, directory, storage_toml='durability = "sync"', workers=2, extra_args=(), limits_toml=""):
        self.limits_toml = limits_toml
        self.mothd = mothd
        self.dir = directory
        self.storage_toml = storage_toml
        self.workers = workers
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = None
        self.log_path = os.path.join(directory, "mothd.log")
        self.config = os.path.join(directory, "mothd.toml")
        self.ports = os.path.join(directory, "ports")

    def write_config(self):
        with open(self.config, "w", encoding="utf-8") as f:
            f.write('auth.allow_anonymous = true\n'
                    f'ports_file = "{self.ports}"\n'
                    f'data_dir = "{os.path.join(self.dir, "data")}"\n'
                    f"workers = {self.workers}\n"
                    "sys_interval_s = 1\n"
                    'log_level = "info"\n'
                    f"[limits]\n{self.limits_toml}\n"
                    f"[storage]\n{self.storage_toml}\n"
                    '[[listener]]\nkind = "mqtt"\nbind = "127.0.0.1"\nport = 0\n')

    def start(self, extra_args=()):
        self.write_config()
        try:
            os.unlink(self.ports)
        except FileNotFoundError:
            pass
        cmd = [self.mothd, "--config", self.config] + self.extra_args + list(extra_args)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"mothd exited with {self.proc.returncode} before listening\n{self.tail()}")
            try:
                with open(self.ports, encoding="utf-8") as f:
                    text = f.read()
                if text.endswith("\n"):
                    self.port = int(text.split()[3])
                    return self
            except FileNotFoundError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"mothd wrote no ports file within {START_TIMEOUT_S} s\n{self.tail()}")
            time.sleep(0.02)  # polling interval of a condition wait

    def run_to_exit(self, extra_args=(), timeout=60):
        """Starts mothd expecting it to exit by itself (a refused start); returns the exit code."""
        self.write_config()
        cmd = [self.mothd, "--config", self.config] + self.extra_args + list(extra_args)
        with open(self.log_path, "ab") as log:
            return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                  timeout=timeout).returncode

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=STOP_TIMEOUT_S)
        self.proc = None
        if code != 0:
            raise AssertionError(f"mothd exited with {code} after SIGTERM\n{self.tail()}")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL: no shutdown code runs
            self.proc.wait()
        self.proc = None

    def tail(self, n=40):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except FileNotFoundError:
            return "(no log)"
