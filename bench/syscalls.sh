#!/usr/bin/env bash
# bench/syscalls.sh: the broker's system calls and CPU per delivered message, mothd on each I/O backend (io_backend
# io_uring and epoll) and, with --mosquitto, Debian's mosquitto: the measurement behind the fan-in rows of
# docs/benchmarks.md ("I/O backends").
#
#   bench/syscalls.sh [--only REGEX] [--duration S] [--backends "io_uring epoll"] [--mosquitto] [--out FILE]
#
# Each scenario of bench/lib.sh (peers.sh's throughput scenarios; --only filters them by name, default fan-in) runs
# once per backend against a fresh mothd (workers = 1, peers.sh's settings) pinned to CPU $BROKER_CPU, the generator
# on $GEN_CPU. `perf stat -e raw_syscalls:sys_enter -p PID` counts the broker's system calls over the whole run
# (connecting and draining included, a few thousand calls), divided by the messages the subscribers received; the
# CPU per message is moth bench's (the broker's utime+stime over the measuring window). Needs perf (Debian
# linux-perf) and permission to trace the broker (root, or kernel.perf_event_paranoid <= 1).
#
# Environment: MOTHD, MOTH (default build/release/...), MOSQUITTO, BROKER_CPU (0), GEN_CPU (1), PYTHON.
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOSQUITTO="${MOSQUITTO:-/usr/sbin/mosquitto}"
BROKER_CPU="${BROKER_CPU:-0}"
GEN_CPU="${GEN_CPU:-1}"
# shellcheck source=bench/lib.sh
source "$ROOT_DIR/bench/lib.sh"

ONLY="^fan-in$"
DUR=10
BACKENDS="io_uring epoll"
WITH_MOSQUITTO=0
OUT=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --only) ONLY="$2"; shift ;;
        --duration) DUR="$2"; shift ;;
        --backends) BACKENDS="$2"; shift ;;
        --mosquitto) WITH_MOSQUITTO=1 ;;
        --out) OUT="$2"; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "syscalls.sh: unknown argument $1" >&2; exit 1 ;;
    esac
    shift
done
command -v perf >/dev/null || { echo "syscalls.sh: perf is not installed (apt-get install linux-perf)" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/moth-syscalls.XXXXXX")"
BROKER_PID=""
cleanup() { [[ -n "$BROKER_PID" ]] && stop_broker; rm -rf "$WORK"; }
trap cleanup EXIT
ROWS="$WORK/rows.txt"
: >"$ROWS"

start_mosquitto() {
    local dir="$1"
    PORT="$(free_port)"
    printf 'allow_anonymous true\npersistence false\nset_tcp_nodelay true\nmax_inflight_messages 100\nmax_queued_messages 1000\nlog_dest stderr\nlog_type error\nlistener %s 127.0.0.1\nmax_connections -1\n%s\n' \
        "$PORT" "$( [[ "$(id -u)" -eq 0 ]] && echo "user root" )" >"$dir/mosquitto.conf"
    taskset -c "$BROKER_CPU" "$MOSQUITTO" -c "$dir/mosquitto.conf" >"$dir/log" 2>&1 &
    BROKER_PID=$!
    wait_port "$PORT"
}

# run_one SCENARIO BROKER ARGS...: one run with perf attached; appends a row to $ROWS.
run_one() {
    local scenario="$1" broker="$2"; shift 2
    local dir="$WORK/$scenario-$broker"
    mkdir -p "$dir"
    if [[ "$broker" == mosquitto ]]; then
        start_mosquitto "$dir"
    else
        MOTHD_EXTRA_TOML="io_backend = \"$broker\"" mothd_toml "$dir" 1 >"$dir/mothd.toml"
        start_mothd "$dir" taskset -c "$BROKER_CPU"
    fi
    perf stat -e raw_syscalls:sys_enter -x, -o "$dir/perf.csv" -p "$BROKER_PID" &
    local perf_pid=$!
    taskset -c "$GEN_CPU" "$MOTH" bench "$@" -L "mqtt://127.0.0.1:$PORT" -d "$DUR" --json --quiet \
        --broker-pid "$BROKER_PID" >"$dir/out.json"
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
    stop_broker
    "$PYTHON" - "$dir/out.json" "$dir/perf.csv" "$scenario" "$broker" >>"$ROWS" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
calls = next(int(float(l.split(",")[0])) for l in open(sys.argv[2]) if "sys_enter" in l)
received = r["received"]
cpu = r.get("broker", {}).get("cpu_us_per_delivered") or 0
print(f"| {sys.argv[3]} | {sys.argv[4]} | {r['delivered_rate']:,.0f} | {cpu:.3f} | {calls:,} | {received:,} | "
      f"{calls / received if received else 0:.3f} |")
PY
}

for entry in "${BENCH_THROUGHPUT_SCENARIOS[@]}"; do
    name="${entry%%|*}"
    [[ "$name" =~ $ONLY ]] || continue
    read -r -a args <<<"${entry#*|}"
    for backend in $BACKENDS; do run_one "$name" "$backend" "${args[@]}"; done
    [[ $WITH_MOSQUITTO -eq 1 ]] && run_one "$name" mosquitto "${args[@]}"
done

{
    echo "| scenario | broker | delivered msg/s | broker CPU µs/msg | system calls | messages received | system calls / message |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    cat "$ROWS"
} | tee "${OUT:-/dev/null}"
