#!/usr/bin/python3
"""WebSocket fan-out: `moth bench fanout` over ws:// against two mothd builds, to see what one MQTT packet per
WebSocket message costs (issue 15: it must not lose more than 10 % of fan-out throughput).

Each run starts a fresh mothd (one worker, durability "memory", a ws listener on a free loopback port), runs
`moth bench fanout -c CLIENTS -q 0 -s 64 -L ws://127.0.0.1:PORT/mqtt -d SECONDS --broker-pid PID --json`, and
records the delivered rate and the broker's CPU per delivered message. Builds alternate run by run so that a
change in machine load hits both. Prints a Markdown table of the medians.

Usage: bench/ws_fanout.py --moth build/release/apps/moth/moth \
           --build before=/path/to/old/mothd --build after=build/release/apps/mothd/mothd [--runs 3] [--seconds 10]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "durability"))
from mothd_bench import free_port, wait_port  # noqa: E402


def start(binary, d, ws_port, mqtt_port):
    cfg = os.path.join(d, "mothd.toml")
    with open(cfg, "w") as f:
        f.write('auth.allow_anonymous = true\n'
                f'data_dir = "{d}/data"\nlog_level = "warn"\nsys_interval_s = 0\nworkers = 1\n'
                '[storage]\ndurability = "memory"\n'
                f'[[listener]]\nkind = "mqtt"\nbind = "127.0.0.1"\nport = {mqtt_port}\n'
                f'[[listener]]\nkind = "ws"\nbind = "127.0.0.1"\nport = {ws_port}\n')
    log = open(os.path.join(d, "log"), "a")
    return subprocess.Popen([binary, "-c", cfg], stdout=log, stderr=log)


def run_once(moth, binary, clients, seconds):
    with tempfile.TemporaryDirectory(prefix="moth-wsbench-") as d:
        ws_port, mqtt_port = free_port(), free_port()
        p = start(binary, d, ws_port, mqtt_port)
        try:
            wait_port(ws_port)
            out = subprocess.run([moth, "bench", "fanout", "-c", str(clients), "-q", "0", "-s", "64",
                                  "-L", f"ws://127.0.0.1:{ws_port}/mqtt", "-d", str(seconds), "--quiet",
                                  "--broker-pid", str(p.pid), "--json"],
                                 capture_output=True, text=True, timeout=seconds + 120, check=True)
            return json.loads(out.stdout)
        finally:
            p.terminate()
            p.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--moth", required=True)
    ap.add_argument("--build", action="append", required=True, help="NAME=path/to/mothd")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=200)
    a = ap.parse_args()
    builds = [b.split("=", 1) for b in a.build]
    rows = {name: [] for name, _ in builds}
    for i in range(a.runs):
        order = builds if i % 2 == 0 else list(reversed(builds))
        for name, binary in order:
            r = run_once(a.moth, binary, a.clients, a.seconds)
            rows[name].append(r)
            print(f"run {i + 1} {name}: {r['delivered_rate']:,.0f} msg/s, "
                  f"{r['broker'].get('cpu_us_per_delivered')} µs/msg, lost/dup/reordered "
                  f"{r.get('lost')}/{r.get('duplicated')}/{r.get('out_of_order')}", file=sys.stderr)
    print(f"Medians of {a.runs} runs, fanout 1 -> {a.clients} over ws://, QoS 0, 64 B, {a.seconds} s each.\n")
    print("| build | delivered msg/s | broker CPU µs/msg | broker CPU % | lost / dup / reordered |")
    print("|---|---:|---:|---:|---|")
    for name, _ in builds:
        rs = rows[name]
        rate = statistics.median(r["delivered_rate"] for r in rs)
        cpu = statistics.median(r["broker"]["cpu_us_per_delivered"] for r in rs)
        busy = statistics.median(r["broker"]["cpu_percent"] for r in rs)
        loss = " ".join(f"{r.get('lost')}/{r.get('duplicated')}/{r.get('out_of_order')}" for r in rs)
        print(f"| {name} | {rate:,.0f} | {cpu:.3f} | {busy:.0f} | {loss} |")


if __name__ == "__main__":
    main()
