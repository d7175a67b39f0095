#!/usr/bin/python3
"""Restart time of mothd with many queued messages for offline persistent sessions.

Fills the store (durability "batched" for speed: the fill is not what is measured) with --messages QoS 1
messages (64-byte payloads) queued for --sessions offline persistent sessions, stops mothd with SIGTERM, then
starts it again (durability "sync") and measures the time until it listens, and reports mothd's own log line
("... restored in N ms"). Finally drains one session to show the messages are there.

Usage: restart_time.py --mothd build/release/apps/mothd/mothd [--messages 1000000] [--sessions 1]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from mothd_bench import free_port, start_mothd


LIMITS = "max_queued_messages = 100000000\nmax_queued_bytes = 100000000000"


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mothd", required=True)
    ap.add_argument("--messages", type=int, default=1000000)
    ap.add_argument("--sessions", type=int, default=1)
    # mosquitto_pub -l drops what it has not sent when stdin ends; many small publishers get everything out.
    ap.add_argument("--publishers", type=int, default=50)
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="moth-restart-")
    port = free_port()
    try:
        p, _ = start_mothd(args.mothd, d, "batched", port, LIMITS, "info")
        for i in range(args.sessions):
            subprocess.run(["mosquitto_sub", "-p", str(port), "-c", "-i", f"offline-{i}", "-q", "1", "-t", "fill/#",
                            "-E"], check=True)
        per = args.messages // args.sessions // args.publishers
        t0 = time.monotonic()
        pubs = [subprocess.Popen(["mosquitto_pub", "-p", str(port), "-i", f"filler-{i}", "-q", "1", "-t",
                                  f"fill/{i}", "-l"], stdin=subprocess.PIPE) for i in range(args.publishers)]
        data = (("y" * 63 + "\n") * per).encode()
        for q in pubs:
            q.stdin.write(data)
            q.stdin.close()
        for q in pubs:
            q.wait()
        queued = per * args.publishers * args.sessions
        print(f"published {queued} messages ({args.sessions} sessions) in {time.monotonic() - t0:.1f} s; "
              f"RSS {rss_mb(p.pid):.0f} MB", flush=True)
        p.terminate()
        p.wait()
        du = subprocess.run(["du", "-sm", f"{d}/data/store"], capture_output=True, text=True).stdout.split()[0]
        p, t_listen = start_mothd(args.mothd, d, "sync", port, LIMITS, "info")
        log = open(os.path.join(d, "log")).read()
        restored = re.findall(r"store .*restored in \d+ ms.*", log)[-1]
        print(f"store {du} MB on disk; restart: listening after {t_listen:.2f} s; RSS {rss_mb(p.pid):.0f} MB")
        print(f"mothd: {restored}", flush=True)
        t0 = time.monotonic()
        n_restored = int(re.search(r"(\d+) queued messages", restored).group(1))
        r = subprocess.run(["mosquitto_sub", "-p", str(port), "-c", "-i", "offline-0", "-q", "1", "-t", "fill/#",
                            "-C", str(n_restored // args.sessions), "-W", "120"], stdout=subprocess.DEVNULL)
        print(f"drained offline-0 ({n_restored // args.sessions} messages) in {time.monotonic() - t0:.1f} s, "
              f"rc {r.returncode}")
        p.terminate()
        p.wait()
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
