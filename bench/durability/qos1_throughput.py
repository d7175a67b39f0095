#!/usr/bin/python3
"""QoS 1 throughput with a persistent subscriber: mothd (durability sync/batched/memory) against Debian's
mosquitto, measured with Debian's own clients so the clients are the same for both brokers.

  - one persistent subscriber (mosquitto_sub -c -q 1, session kept), connected, counting to the total (-C),
  - P publishers (mosquitto_pub -l -q 1, one connection each, M lines each, 64-byte payloads),
  - time from the publishers' start to the subscriber's last message: messages / second.

With a persistent subscriber every message is queued for a persistent session, which is what mothd's sync
mode fsyncs (group commit) before PUBACK; mosquitto acknowledges from memory and writes its persistence file
only at autosave (here every 1800 s and at exit).

Usage: qos1_throughput.py --mothd build/release/apps/mothd/mothd [--publishers 4] [--messages 25000]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from mothd_bench import free_port, start_mothd, wait_port


def start_mosquitto(d, port):
    cfg = os.path.join(d, "mosquitto.conf")
    with open(cfg, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                f"persistence_location {d}/\nautosave_interval 1800\nmax_queued_messages 10000000\n"
                "max_inflight_messages 1000\n")
    return subprocess.Popen(["mosquitto", "-c", cfg], stdout=subprocess.DEVNULL, stderr=open(f"{d}/log", "w"))


def run_once(kind, args):
    d = tempfile.mkdtemp(prefix="moth-bench-")
    port = free_port()
    if kind == "mosquitto":
        broker = start_mosquitto(d, port)
    else:
        broker, _ = start_mothd(args.mothd, d, kind, port, "max_queued_messages = 10000000\nmax_inflight = 1000")
    try:
        wait_port(port)
        total = args.publishers * args.messages
        # Register the persistent session first, then count from the real run.
        subprocess.run(["mosquitto_sub", "-p", str(port), "-c", "-i", "bench-sub", "-q", "1", "-t", "bench/#", "-E"],
                       check=True)
        sub = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-c", "-i", "bench-sub", "-q", "1", "-t", "bench/#",
                                "-C", str(total)], stdout=subprocess.DEVNULL)
        time.sleep(0.5)  # let the subscriber's CONNECT land (not a synchronisation of the measured part)
        payload = "x" * 63 + "\n"
        data = (payload * args.messages).encode()
        t0 = time.monotonic()
        pubs = []
        for i in range(args.publishers):
            p = subprocess.Popen(["mosquitto_pub", "-p", str(port), "-i", f"bench-pub-{i}", "-q", "1",
                                  "-t", f"bench/{i}", "-l"], stdin=subprocess.PIPE)
            pubs.append(p)
        for p in pubs:
            p.stdin.write(data)
            p.stdin.close()
        for p in pubs:
            p.wait(timeout=600)
        t_pub = time.monotonic() - t0
        sub.wait(timeout=600)
        t_all = time.monotonic() - t0
        return total, t_pub, t_all
    finally:
        broker.terminate()
        broker.wait(timeout=60)
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mothd", required=True)
    ap.add_argument("--publishers", type=int, default=4)
    ap.add_argument("--messages", type=int, default=25000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kinds", default="sync,batched,memory,mosquitto")
    args = ap.parse_args()
    print(f"{args.publishers} publishers x {args.messages} QoS 1 messages (64 bytes) -> 1 persistent subscriber")
    for kind in args.kinds.split(","):
        rates = []
        for _ in range(args.runs):
            total, t_pub, t_all = run_once(kind, args)
            rates.append(total / t_all)
        rates.sort()
        print(f"{kind:10s} median {rates[len(rates) // 2]:9.0f} msg/s  (runs: {', '.join(f'{r:.0f}' for r in rates)})",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
