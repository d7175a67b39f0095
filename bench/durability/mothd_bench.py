"""What the durability benchmarks share: a free loopback port, a mothd config with one storage mode, and
starting mothd until it listens."""
import os
import socket
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("broker did not listen")


def start_mothd(binary, d, durability, port, limits, log_level="warn", timeout=60, top=""):
    """Writes d/mothd.toml (data in d/data, `limits` as TOML lines, `top` as top-level TOML lines such as
    "workers = 2") and starts mothd with its output in d/log. Returns the process and the seconds until it
    accepted a connection."""
    cfg = os.path.join(d, "mothd.toml")
    with open(cfg, "w") as f:
        f.write('auth.allow_anonymous = true\n'
                f'data_dir = "{d}/data"\nlog_level = "{log_level}"\nsys_interval_s = 0\n{top}\n'
                f'[limits]\n{limits}\n'
                f'[storage]\ndurability = "{durability}"\n'
                f'[[listener]]\nkind = "mqtt"\nbind = "127.0.0.1"\nport = {port}\n')
    log = open(os.path.join(d, "log"), "a")
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "-c", cfg], stdout=log, stderr=log)
    deadline = t0 + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p, time.monotonic() - t0
        except OSError:
            if p.poll() is not None:
                raise RuntimeError("mothd exited (see " + os.path.join(d, "log") + ")")
            if time.monotonic() > deadline:
                p.kill()
                raise RuntimeError("mothd did not listen")
            time.sleep(0.01)
