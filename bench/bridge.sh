#!/usr/bin/env bash
# bench/bridge.sh: messages per second through one mothd bridge to a local Debian mosquitto (the remote), and
# mothd's CPU per bridged message, at QoS 0 and QoS 1 (docs/benchmarks.md, "Bridges").
#
#   bench/bridge.sh [--duration S] [--publishers N] [--rate R]
#
# mothd (workers = 1, pinned to $BROKER_CPU) bridges `bench/#` out to mosquitto as `remote/bench/#`. `moth bench
# pub` publishes into mothd at R messages/s in all (default 20000; a publisher alone cannot see what crossed, so the
# rate is paced: raise it until "arrived" stops following "published"); `moth bench sub` on
# mosquitto counts what arrives, with --broker-pid mothd so that the CPU per message is mothd's utime+stime over the
# messages that crossed. Scenarios: QoS 0 (storage "memory"), QoS 1 with storage "memory", QoS 1 with storage "sync"
# (every bridged message written to RocksDB before the publisher's PUBACK, and erased when mosquitto acknowledged).
#
# Environment: MOTHD, MOTH (default build/release/...), MOSQUITTO (default /usr/sbin/mosquitto), BROKER_CPU (0),
# GEN_CPU (1), PYTHON (/usr/bin/python3).
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOTHD="${MOTHD:-$ROOT_DIR/build/release/apps/mothd/mothd}"
MOTH="${MOTH:-$ROOT_DIR/build/release/apps/moth/moth}"
MOSQUITTO="${MOSQUITTO:-/usr/sbin/mosquitto}"
BROKER_CPU="${BROKER_CPU:-0}"
GEN_CPU="${GEN_CPU:-1}"
PYTHON="${PYTHON:-/usr/bin/python3}"
DUR=10
PUBS=10
RATE=20000
while [[ $# -gt 0 ]]; do
    case "$1" in
        --duration) DUR="$2"; shift ;;
        --publishers) PUBS="$2"; shift ;;
        --rate) RATE="$2"; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "bridge.sh: unknown argument $1" >&2; exit 1 ;;
    esac
    shift
done
for bin in "$MOTHD" "$MOTH" "$MOSQUITTO"; do
    [[ -x "$bin" ]] || { echo "bridge.sh: $bin is not an executable (cmake --build build/release --target mothd moth)" >&2; exit 1; }
done
PIN_BROKER=(); PIN_GEN=()
if command -v taskset >/dev/null && [[ "$(nproc)" -gt 1 ]]; then
    PIN_BROKER=(taskset -c "$BROKER_CPU"); PIN_GEN=(taskset -c "$GEN_CPU")
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/moth-bridge-bench.XXXXXX")"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() {  # $1: a command that succeeds once ready; deadline 20 s
    local deadline=$((SECONDS + 20))
    until eval "$1" >/dev/null 2>&1; do
        [[ $SECONDS -lt $deadline ]] || { echo "bridge.sh: timed out waiting for: $1" >&2; return 1; }
        sleep 0.05  # polling interval of a condition wait
    done
}

run() {  # $1: qos, $2: durability
    local qos="$1" durability="$2" dir="$WORK/q$1-$2"
    mkdir -p "$dir"
    local mport; mport="$(free_port)"
    printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n' "$mport" >"$dir/mosquitto.conf"
    "${PIN_GEN[@]}" "$MOSQUITTO" -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
    PIDS+=($!)
    wait_for "(exec 3<>/dev/tcp/127.0.0.1/$mport)"
    cat >"$dir/mothd.toml" <<EOF
auth.allow_anonymous = true
workers = 1
data_dir = "$dir/data"
ports_file = "$dir/ports"
log_level = "info"  # the bridge's "connected" line is waited for
[storage]
durability = "$durability"
[[bridge]]
name = "bench"
addresses = ["mqtt://127.0.0.1:$mport"]
topics = ["bench/# out $qos \"\" remote/"]
max_inflight = 1000
[[listener]]
kind = "mqtt"
bind = "127.0.0.1"
port = 0
EOF
    "${PIN_BROKER[@]}" "$MOTHD" --config "$dir/mothd.toml" >"$dir/mothd.log" 2>&1 &
    local mothd=$!
    PIDS+=($mothd)
    wait_for "test -s $dir/ports"
    local port; port="$(awk '{print $4; exit}' "$dir/ports")"
    wait_for "grep -q 'bridge bench: connected' $dir/mothd.log"
    "${PIN_GEN[@]}" "$MOTH" bench sub --url "mqtt://127.0.0.1:$mport" --clients 1 --filter 'remote/bench/#' \
        --qos "$qos" --duration "$((DUR + 3))" --broker-pid "$mothd" --json --quiet >"$dir/sub.json" &
    local sub=$!
    sleep 1  # the subscriber's SUBACK; its own window starts at its first message
    "${PIN_GEN[@]}" "$MOTH" bench pub --url "mqtt://127.0.0.1:$port" --clients "$PUBS" --topic 'bench/%i' \
        --qos "$qos" --total-rate "$RATE" --duration "$DUR" --json --quiet >"$dir/pub.json"
    wait "$sub" || true
    "$PYTHON" - "$dir/pub.json" "$dir/sub.json" "$qos" "$durability" "$DUR" <<'PY'
import json, sys
pub, sub = (json.load(open(p)) for p in sys.argv[1:3])
dur = float(sys.argv[5])
# The subscriber's window spans the publishing (dur s) and the drain after it: what arrived over the publishing time.
arrived = sub["delivered_in_window"] / dur
cpu = sub.get("broker", {}).get("cpu_us_per_delivered")
print(f"| QoS {sys.argv[3]}, storage {sys.argv[4]} | {pub['sent_rate']:.0f} | {arrived:.0f} | "
      f"{cpu:.2f} | {sub['received']} of {pub['sent']} |")
PY
    kill "$mothd" 2>/dev/null || true
    wait "$mothd" 2>/dev/null || true
    kill "${PIDS[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    PIDS=()
}

echo "| scenario | published/s into mothd | arrived/s at mosquitto | mothd CPU µs per bridged message | arrived of sent |"
echo "|---|---|---|---|---|"
run 0 memory
run 1 memory
run 1 sync
