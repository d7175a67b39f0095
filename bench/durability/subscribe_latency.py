#!/usr/bin/python3
"""SUBSCRIBE and UNSUBSCRIBE round trips against mothd: the time from writing the packet to reading its SUBACK
(UNSUBACK), one client, one filter per packet, a fresh topic each round (docs/benchmarks.md, "SUBSCRIBE round
trip"). With more than one worker the acknowledgement waits until every worker has applied the change; in sync
mode a persistent session's SUBACK also waits for the store.

Usage: subscribe_latency.py --mothd build/release/apps/mothd/mothd [--workers 1 2] [--rounds 5000]
                            [--durability memory sync]
"""
import argparse
import os
import shutil
import socket
import statistics
import struct
import tempfile
import time

from mothd_bench import free_port, start_mothd


def mqtt_string(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def packet(first, body):
    out = bytearray([first])
    n = len(body)
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            break
    return bytes(out) + body


def read_packet(sock, buf):
    """One whole packet (type byte, body) from sock; `buf` keeps what was read beyond it."""
    while True:
        if len(buf) >= 2:
            mult, n, i = 1, 0, 1
            while i < len(buf):
                n += (buf[i] & 0x7F) * mult
                mult *= 128
                if not buf[i] & 0x80:
                    break
                i += 1
            else:
                i = None
            if i is not None and len(buf) >= i + 1 + n:
                first, body = buf[0], bytes(buf[i + 1:i + 1 + n])
                del buf[:i + 1 + n]
                return first, body
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("broker closed the connection")
        buf += chunk


def run(args, workers, durability):
    d = tempfile.mkdtemp(prefix="moth-bench-")
    port = free_port()
    broker, _ = start_mothd(args.mothd, d, durability, port, "", top=f"workers = {workers}")
    try:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        clean = 0x02 if durability == "memory" else 0x00  # sync: a persistent session (3.1.1 Clean Session 0)
        sock.sendall(packet(0x10, mqtt_string("MQTT") + bytes([4, clean]) + struct.pack("!H", 60) +
                            mqtt_string("bench-sub")))
        assert read_packet(sock, buf)[0] == 0x20
        sub_us, unsub_us = [], []
        for i in range(args.rounds):
            pid = struct.pack("!H", i % 65535 + 1)
            topic = mqtt_string(f"bench/{i}")
            t0 = time.perf_counter()
            sock.sendall(packet(0x82, pid + topic + b"\x00"))
            assert read_packet(sock, buf)[0] == 0x90
            t1 = time.perf_counter()
            sock.sendall(packet(0xA2, pid + topic))
            assert read_packet(sock, buf)[0] == 0xB0
            t2 = time.perf_counter()
            sub_us.append((t1 - t0) * 1e6)
            unsub_us.append((t2 - t1) * 1e6)
        sock.close()
    finally:
        broker.terminate()
        broker.wait()
        shutil.rmtree(d, ignore_errors=True)

    def summary(xs):
        xs = sorted(xs)
        return f"median {statistics.median(xs):7.1f} us  p99 {xs[int(len(xs) * 0.99)]:7.1f} us"

    print(f"workers {workers}  {durability:7}  SUBSCRIBE {summary(sub_us)}   UNSUBSCRIBE {summary(unsub_us)}",
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mothd", required=True)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--durability", nargs="+", default=["memory"])
    ap.add_argument("--rounds", type=int, default=5000)
    args = ap.parse_args()
    args.mothd = os.path.abspath(args.mothd)
    for durability in args.durability:
        for workers in args.workers:
            run(args, workers, durability)


if __name__ == "__main__":
    main()
