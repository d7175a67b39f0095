#!/usr/bin/env bash
# bench/mqttsn.sh: many MQTT-SN clients publishing slowly through mothd's gateway, and the same message rate over
# MQTT/TCP for comparison (docs/benchmarks.md, "MQTT-SN (issue 22)").
#
#   bench/mqttsn.sh [--clients N] [--rate R] [--duration S] [--qos Q] [--only sn|tcp]
#
# Each scenario gets a fresh mothd (workers = 1, storage "memory", pinned to $BROKER_CPU) with an mqttsn listener
# and an mqtt listener on 127.0.0.1:0 (ports read from its ports file); the generator runs on $GEN_CPU.
# - sn:  moth sn bench --clients N --rate-per-client R --duration S --qos Q --subscribe: N clients, each with its own
#        UDP socket, connect at 500/s and REGISTER load/<i>, then each publishes R messages/s; one MQTT-SN subscriber
#        on load/# checks every message (received, duplicates, out of order, missing).
# - tcp: moth bench fanin -c N -r R -d S -q Q -s 16 -w 0 -V 5 --connect-rate 500: N MQTT 5.0 publishers over TCP at R
#        messages/s each on bench/<i>, open loop as the SN generator is, one subscriber on bench/+.
# Both generators pace the same total rate (N x R messages/s, 16-byte payloads) and each message is delivered once.
# mothd's CPU is sampled once a second (/proc/PID/stat utime+stime); "CPU per message" is over the steady middle of
# the publishing phase (its first and last 10 s left out, so connects, REGISTERs and the drain are not in it), divided
# by the messages due in that time (N x R per second). The generators' own whole-run figures are printed as well.
#
# mothd's limits are raised so that configuration does not lose messages (both scenarios get the same ones): one
# subscriber receives N x R messages/s, so its queue may hold [limits] max_queued_messages = QUEUE_MESSAGES (2,000,000)
# and QUEUE_BYTES (2 GB); the SN subscriber's wildcard sees N topic ids, so [mqttsn] max_registrations = 2 x N (at
# least 4096, at most 65535); and the SN subscriber acknowledges each PUBLISH as it arrives, so [mqttsn] max_inflight =
# SN_MAX_INFLIGHT (64; mothd's default is 1).
#
# Environment: MOTHD, MOTH (default build/release/...), BROKER_CPU (0), GEN_CPU (1), PYTHON (/usr/bin/python3),
# SN_MAX_INFLIGHT (64), QUEUE_MESSAGES, QUEUE_BYTES, SN_KEEPALIVE (moth sn bench -k; unset: its default, 60 s, so
# PINGREQs run during the test), KEEP=DIR (keep the JSON and logs there).
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOTHD="${MOTHD:-$ROOT_DIR/build/release/apps/mothd/mothd}"
MOTH="${MOTH:-$ROOT_DIR/build/release/apps/moth/moth}"
BROKER_CPU="${BROKER_CPU:-0}"
GEN_CPU="${GEN_CPU:-1}"
PYTHON="${PYTHON:-/usr/bin/python3}"
[[ -x "$PYTHON" ]] || PYTHON=python3
SN_MAX_INFLIGHT="${SN_MAX_INFLIGHT:-64}"
QUEUE_MESSAGES="${QUEUE_MESSAGES:-2000000}"
QUEUE_BYTES="${QUEUE_BYTES:-2000000000}"  # ~1 KB a queued message: the messages limit is the one that counts
SN_KEEPALIVE="${SN_KEEPALIVE:-}"
CLIENTS=10000
RATE=1
DUR=60
QOS=1
ONLY=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --clients) CLIENTS="$2"; shift ;;
        --rate) RATE="$2"; shift ;;
        --duration) DUR="$2"; shift ;;
        --qos) QOS="$2"; shift ;;
        --only) ONLY="$2"; shift ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) echo "mqttsn.sh: unknown argument $1" >&2; exit 1 ;;
    esac
    shift
done
SN_MAX_REGISTRATIONS=$((CLIENTS * 2 < 4096 ? 4096 : CLIENTS * 2 > 65535 ? 65535 : CLIENTS * 2))
[[ "$DUR" -ge 30 ]] || { echo "mqttsn.sh: --duration must be at least 30 (20 s of it are left out)" >&2; exit 1; }
for bin in "$MOTHD" "$MOTH"; do
    [[ -x "$bin" ]] || { echo "mqttsn.sh: $bin is not an executable (cmake --preset release && cmake --build build/release --target mothd moth)" >&2; exit 1; }
done

# One UDP socket per SN client (one TCP connection per publisher), in the generator; as many accepted in mothd.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt $((CLIENTS + 100)) ]]; then
    echo "mqttsn.sh: ulimit -n is $(ulimit -n), below $((CLIENTS + 100)); clients will fail" >&2
fi
PIN_BROKER=(); PIN_GEN=()
if command -v taskset >/dev/null && [[ "$(nproc)" -gt 1 ]]; then
    PIN_BROKER=(taskset -c "$BROKER_CPU"); PIN_GEN=(taskset -c "$GEN_CPU")
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/moth-sn-bench.XXXXXX")"
MOTHD_PID=""; SAMPLER_PID=""
cleanup() {
    [[ -z "$SAMPLER_PID" ]] || kill "$SAMPLER_PID" 2>/dev/null || true
    [[ -z "$MOTHD_PID" ]] || kill -9 "$MOTHD_PID" 2>/dev/null || true
    if [[ -n "${KEEP:-}" ]]; then mkdir -p "$KEEP" && cp -r "$WORK"/. "$KEEP"/; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

start_mothd() {  # $1: scenario directory; sets MOTHD_PID, SN_PORT, TCP_PORT, starts the CPU sampler
    local dir="$1"
    mkdir -p "$dir"
    cat >"$dir/mothd.toml" <<EOF
auth.allow_anonymous = true
workers = 1
data_dir = "$dir/data"
ports_file = "$dir/ports"
log_level = "warn"
sys_interval_s = 10
[storage]
durability = "memory"
[limits]
max_queued_messages = $QUEUE_MESSAGES
max_queued_bytes = $QUEUE_BYTES
[mqttsn]
max_inflight = $SN_MAX_INFLIGHT
max_registrations = $SN_MAX_REGISTRATIONS
[[listener]]
kind = "mqttsn"
name = "sn"
bind = "127.0.0.1"
port = 0
[[listener]]
kind = "mqtt"
name = "tcp"
bind = "127.0.0.1"
port = 0
EOF
    "${PIN_BROKER[@]}" "$MOTHD" --config "$dir/mothd.toml" >"$dir/mothd.log" 2>&1 &
    MOTHD_PID=$!
    local deadline=$((SECONDS + 20))
    until [[ -s "$dir/ports" ]] && [[ "$(wc -l <"$dir/ports")" -ge 2 ]]; do
        if [[ $SECONDS -ge $deadline ]] || ! kill -0 "$MOTHD_PID" 2>/dev/null; then
            echo "mqttsn.sh: mothd did not start:" >&2; cat "$dir/mothd.log" >&2; return 1
        fi
        sleep 0.05  # polling interval of a condition wait
    done
    SN_PORT="$(awk '$1 == "sn" {print $4}' "$dir/ports")"
    TCP_PORT="$(awk '$1 == "tcp" {print $4}' "$dir/ports")"
    # "<unix time> <utime+stime ticks>" once a second while mothd runs.
    (while [[ -r "/proc/$MOTHD_PID/stat" ]]; do
        echo "$(date +%s.%N) $(awk '{print $14 + $15}' "/proc/$MOTHD_PID/stat" 2>/dev/null)"
        sleep 1  # sampling period
    done) >"$dir/cpu.log" 2>/dev/null &
    SAMPLER_PID=$!
}

stop_mothd() {  # $1: scenario directory
    grep -E '^Vm(HWM|RSS)' "/proc/$MOTHD_PID/status" >"$1/mem.txt" 2>/dev/null || true
    kill -TERM "$MOTHD_PID" 2>/dev/null || true
    wait "$MOTHD_PID" 2>/dev/null || true
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    MOTHD_PID=""; SAMPLER_PID=""
}

# report <scenario> <dir> <end time>: one table row from the generator's JSON and the CPU samples.
report() {
    "$PYTHON" - "$1" "$2" "$3" "$DUR" "$CLIENTS" "$RATE" "$(getconf CLK_TCK)" <<'PY'
import json, sys
scenario, d, end, dur, clients, rate, hz = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), \
    int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
r = json.load(open(f"{d}/out.json"))
samples = [tuple(map(float, l.split())) for l in open(f"{d}/cpu.log") if len(l.split()) == 2]
# Publishing ends at `end` minus the drain (a few seconds at most); [end - dur + 10, end - 10] lies inside it.
lo, hi = end - dur + 10, end - 10
inside = [s for s in samples if lo <= s[0] <= hi]
cpu_s = (inside[-1][1] - inside[0][1]) / hz if len(inside) > 1 else None
span = inside[-1][0] - inside[0][0] if len(inside) > 1 else None
if scenario == "sn":
    connected = r["clients_connected"]
    sent, acked, lost = r["sent"], r["acknowledged"], r["lost"]
    received = f"{r.get('received', 0):,} (dup {r.get('duplicates', 0)}, reordered {r.get('out_of_order', 0)}, " \
               f"missing {r.get('missing', 0)})"
    whole = f"{r['broker_cpu_s']:.1f} s over {r['elapsed_s']:.0f} s" if "broker_cpu_s" in r else "–"
else:
    connected = r["connect"]["connected"] - r["subscribers"]
    sent, acked, lost = r["sent"], "–", r["lost"] if r["lost"] is not None else "–"
    received = f"{r['received']:,} (dup {r['duplicated']}, reordered {r['out_of_order']}, lost {r['lost']})"
    b = r.get("broker", {})
    whole = f"{b.get('cpu_us_per_delivered', 0):.1f} µs/msg over the {r['duration_s']:.0f} s window" if b else "–"
msgs = connected * rate * span if span else None
per_msg = f"{cpu_s * 1e6 / msgs:.1f}" if cpu_s is not None and msgs else "–"
busy = f"{100 * cpu_s / span:.0f} %" if cpu_s is not None and span else "–"
mem = dict(l.split(":", 1) for l in open(f"{d}/mem.txt") if ":" in l)
hwm = mem.get("VmHWM", "–").strip()
label = {"sn": "MQTT-SN/UDP (moth sn bench)", "tcp": "MQTT 5.0/TCP (moth bench fanin)"}[scenario]
print(f"| {label} | {connected:,} | {sent:,} | {acked if isinstance(acked, str) else format(acked, ',')} | {lost} "
      f"| {received} | {busy} | {per_msg} | {whole} | {hwm} |")
PY
}

run_sn() {
    local dir="$WORK/sn"
    start_mothd "$dir"
    "${PIN_GEN[@]}" "$MOTH" sn bench -h 127.0.0.1 -p "$SN_PORT" --clients "$CLIENTS" --rate-per-client "$RATE" \
        --duration "$DUR" --qos "$QOS" -t load --subscribe ${SN_KEEPALIVE:+-k "$SN_KEEPALIVE"} --broker-pid "$MOTHD_PID" \
        >"$dir/out.json" 2>"$dir/err.txt" ||
        { echo "mqttsn.sh: moth sn bench failed:" >&2; cat "$dir/err.txt" >&2; }
    local end; end="$(date +%s.%N)"
    stop_mothd "$dir"
    echo "mqttsn.sh: sn JSON:" >&2; cat "$dir/out.json" >&2
    if [[ -s "$dir/out.json" ]]; then report sn "$dir" "$end"; else echo "| MQTT-SN/UDP (moth sn bench) | failed: no JSON (see above) |"; fi
}

run_tcp() {
    local dir="$WORK/tcp"
    start_mothd "$dir"
    "${PIN_GEN[@]}" "$MOTH" bench fanin -L "mqtt://127.0.0.1:$TCP_PORT" -V 5 -c "$CLIENTS" -r "$RATE" -q "$QOS" -s 16 \
        -w 0 -d "$DUR" --connect-rate 500 --broker-pid "$MOTHD_PID" --json --quiet >"$dir/out.json" 2>"$dir/err.txt" ||
        { echo "mqttsn.sh: moth bench failed:" >&2; cat "$dir/err.txt" >&2; }
    local end; end="$(date +%s.%N)"
    stop_mothd "$dir"
    echo "mqttsn.sh: tcp JSON:" >&2; cat "$dir/out.json" >&2
    if [[ -s "$dir/out.json" ]]; then report tcp "$dir" "$end"; else echo "| MQTT 5.0/TCP (moth bench fanin) | failed: no JSON (see above) |"; fi
}

echo "mqttsn.sh: $(nproc) CPUs, mothd on CPU $BROKER_CPU, generator on CPU $GEN_CPU; $CLIENTS clients x $RATE msg/s," \
    "QoS $QOS, ${DUR} s; [mqttsn] max_inflight $SN_MAX_INFLIGHT, max_registrations $SN_MAX_REGISTRATIONS;" \
    "[limits] max_queued_messages $QUEUE_MESSAGES, max_queued_bytes $QUEUE_BYTES; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "| transport | publishers connected | sent | acknowledged | lost (never acked) | received by the subscriber | mothd CPU busy | mothd CPU µs per message (steady) | generator's broker CPU figure | mothd peak RSS |"
echo "|---|---:|---:|---:|---:|---|---:|---:|---|---:|"
[[ -n "$ONLY" && "$ONLY" != sn ]] || run_sn
[[ -n "$ONLY" && "$ONLY" != tcp ]] || run_tcp
