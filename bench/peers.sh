#!/usr/bin/env bash
# bench/peers.sh: mothd and Debian's mosquitto side by side under `moth bench`, and a markdown table of medians.
#
#   bench/peers.sh [--quick] [--runs N] [--out FILE] [--only REGEX]
#
# Each scenario runs --runs times (default 3) per broker, alternating which broker goes first, each run against a
# freshly started broker (so peak RSS is that scenario's). Both brokers listen on 127.0.0.1 on free ports, with
# equivalent settings: one thread (mothd `workers = 1`; mosquitto has one), 100 messages in flight and 1000 queued
# per client, TCP_NODELAY (mosquitto: `set_tcp_nodelay true`), no persistence (mothd: storage.durability
# "memory"), a TLS listener with the same certificate. The broker is pinned to CPU $BROKER_CPU and the generator to $GEN_CPU with taskset.
#
# Measured by `moth bench --broker-pid` over the measuring window (after every client is connected and subscribed):
# delivered msg/s, the broker's utime+stime per delivered message (/proc/PID/stat), latency percentiles from the
# payload's send time stamp, peak RSS (VmHWM), RSS per idle connection ((VmRSS connected - VmRSS before) / N), the
# generator's own CPU use (near 100 % means the generator, not the broker, was the limit).
#
# --quick: one run, 5 s per scenario and smaller counts (2,000 idle connections, 10,000 retained); the CI smoke
# (ctest label bench-smoke) runs it with the ci build. No timing is asserted; the script fails only when a
# scenario cannot run (a broker does not start, a bench run fails).
#
# Environment: MOTHD, MOTH (default build/release/...), MOSQUITTO (default /usr/sbin/mosquitto),
# BROKER_CPU (default 0), GEN_CPU (default 1), PYTHON (default /usr/bin/python3), ONLY_MOTHD=1 (skip mosquitto),
# MOTHD_EXTRA_TOML (top-level lines added to mothd's config, e.g. 'auth.acl_file = "/tmp/acl"': bench/acl_cost.sh),
# MOTHD_EXTRA_LIMITS (lines added to its [limits] table, e.g. 'publish_rate = 1000': bench/limits_cost.sh).
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOSQUITTO="${MOSQUITTO:-/usr/sbin/mosquitto}"
BROKER_CPU="${BROKER_CPU:-0}"
GEN_CPU="${GEN_CPU:-1}"
# shellcheck source=bench/lib.sh
source "$ROOT_DIR/bench/lib.sh"

QUICK=0
RUNS=3
OUT=""
ONLY=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) QUICK=1; RUNS=1 ;;
        --runs) RUNS="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        --only) ONLY="$2"; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "peers.sh: unknown argument $1" >&2; exit 1 ;;
    esac
    shift
done

for bin in "$MOTHD" "$MOTH" "$MOSQUITTO"; do
    [[ -x "$bin" ]] || { echo "peers.sh: $bin is not an executable (build: cmake --preset release && cmake --build build/release --target mothd moth)" >&2; exit 1; }
done

if [[ $QUICK -eq 1 ]]; then
    DUR=5; DRAIN=1; IDLE=2000; CONN_PLAIN=500; CONN_TLS=100; STORM_PUBS=10; STORM_EACH=1000
else
    DUR=10; DRAIN=2; IDLE=10000; CONN_PLAIN=5000; CONN_TLS=1000; STORM_PUBS=10; STORM_EACH=10000
fi
STORM_TOTAL=$((STORM_PUBS * STORM_EACH))

# 10 k idle connections need as many descriptors in the broker and in the generator.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt $((IDLE + 100)) ]]; then
    echo "peers.sh: ulimit -n is $(ulimit -n), below $((IDLE + 100)); idle connections will fail" >&2
fi

PIN_BROKER=(); PIN_GEN=()
if command -v taskset >/dev/null && [[ "$(nproc)" -gt 1 ]]; then
    PIN_BROKER=(taskset -c "$BROKER_CPU"); PIN_GEN=(taskset -c "$GEN_CPU")
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/moth-peers.XXXXXX")"
BROKER_PID=""
cleanup() {
    if [[ -n "$BROKER_PID" ]]; then kill -9 "$BROKER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1
chmod a+rx "$WORK" && chmod a+r "$WORK/key.pem" "$WORK/cert.pem"  # mosquitto started as root reads them as "mosquitto"

PORT=""; TLS_PORT=""
start_broker() {  # $1: mothd | mosquitto; sets BROKER_PID, PORT, TLS_PORT
    local dir="$WORK/$1"
    rm -rf "$dir"; mkdir -p "$dir"
    if [[ "$1" == mothd ]]; then
        {
            mothd_toml "$dir" 1
            cat <<EOF
[[listener]]
kind = "mqtts"
name = "tls"
bind = "127.0.0.1"
port = 0
cert_file = "$WORK/cert.pem"
key_file = "$WORK/key.pem"
EOF
        } >"$dir/mothd.toml"
        start_mothd "$dir" "${PIN_BROKER[@]}"
        TLS_PORT="$(awk '$1 == "tls" {print $4}' "$dir/ports")"
    else
        PORT="$(free_port)"; TLS_PORT="$(free_port)"
        cat >"$dir/mosquitto.conf" <<EOF
per_listener_settings false
$( [[ "$(id -u)" -eq 0 ]] && echo "user root" )
allow_anonymous true
persistence false
set_tcp_nodelay true
max_inflight_messages 100
max_queued_messages 1000
log_dest stderr
log_type error
log_type warning
listener $PORT 127.0.0.1
max_connections -1
listener $TLS_PORT 127.0.0.1
max_connections -1
certfile $WORK/cert.pem
keyfile $WORK/key.pem
EOF
        "${PIN_BROKER[@]}" "$MOSQUITTO" -c "$dir/mosquitto.conf" >"$dir/log" 2>&1 &
        BROKER_PID=$!
        wait_port "$PORT" || { cat "$dir/log" >&2; return 1; }
    fi
    wait_port "$TLS_PORT"
}

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

# bench <scenario> <broker> <run> <moth bench args...>: one run, its JSON tagged and appended to $RESULTS.
bench() {
    local scenario="$1" broker="$2" run="$3"; shift 3
    local out="$WORK/out.json" err="$WORK/err.txt"
    if ! "${PIN_GEN[@]}" "$MOTH" bench "$@" --json --quiet --broker-pid "$BROKER_PID" >"$out" 2>"$err"; then
        echo "peers.sh: $scenario on $broker failed: moth bench $*" >&2
        cat "$err" >&2
        return 1
    fi
    "$PYTHON" - "$out" "$scenario" "$broker" "$run" >>"$RESULTS" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
r.update(tag_scenario=sys.argv[2], tag_broker=sys.argv[3], tag_run=int(sys.argv[4]))
print(json.dumps(r))
EOF
}

# The retained storm: publish STORM_TOTAL retained messages on distinct topics, then one client subscribes to '#';
# delivered msg/s and CPU per message are over the subscription (SUBSCRIBE to the last retained message received);
# the run ends when all have arrived or none has for 3 s (a broker may drop some: the table says how many came).
storm() {
    local broker="$1" run="$2" url="mqtt://127.0.0.1:$PORT"
    "${PIN_GEN[@]}" "$MOTH" bench pub -L "$url" -c "$STORM_PUBS" -n "$STORM_EACH" --retain -q 1 -t 'storm/%i/%j' \
        -d 300 --json --quiet >/dev/null || { echo "peers.sh: retained storm publishing failed" >&2; return 1; }
    local t0; t0="$(cpu_ticks "$BROKER_PID")"
    bench retained "$broker" "$run" sub -L "$url" -c 1 -f '#' -n "$STORM_TOTAL" -d 120 --idle-stop 3 --drain 0
    local t1; t1="$(cpu_ticks "$BROKER_PID")"
    echo "{\"tag_scenario\": \"retained-cpu\", \"tag_broker\": \"$broker\", \"tag_run\": $run, \"ticks\": $((t1 - t0)), \"hz\": $(getconf CLK_TCK)}" >>"$RESULTS"
}

# name | moth bench arguments (the URL is added); the throughput ones are bench/lib.sh's (workers.sh runs them too)
SCENARIOS=(
    "${BENCH_THROUGHPUT_SCENARIOS[@]}"
    "latency-5k|pairs -c 50 -q 0 -s 64 -R 5000"
    "latency-200k|pairs -c 50 -q 0 -s 64 -R 200000"
    "idle|conn -c $IDLE --connect-rate 5000"
    "connect|conn -c $CONN_PLAIN"
    "connect-tls|conn -c $CONN_TLS --insecure"
    "retained|storm"
)

FAILED=()
failed() {  # a run that could not be measured: fatal in --quick (the CI smoke), listed at the end otherwise
    FAILED+=("$1 on $2 (run $3)")
    [[ $QUICK -eq 0 ]] || exit 1
}

echo "peers.sh: $(nproc) CPUs, broker on CPU $BROKER_CPU, generator on CPU $GEN_CPU; $RUNS run(s), ${DUR}s each" >&2
for entry in "${SCENARIOS[@]}"; do
    name="${entry%%|*}"; args="${entry#*|}"
    if [[ -n "$ONLY" && ! "$name" =~ $ONLY ]]; then continue; fi
    for ((run = 1; run <= RUNS; run++)); do
        if ((run % 2 == 1)); then order=(mothd mosquitto); else order=(mosquitto mothd); fi
        if [[ "${ONLY_MOTHD:-0}" == 1 ]]; then order=(mothd); fi
        for broker in "${order[@]}"; do
            echo "peers.sh: $name, run $run, $broker" >&2
            start_broker "$broker"
            case "$name" in
                retained) storm "$broker" "$run" || failed "$name" "$broker" "$run" ;;
                connect-tls)
                    # shellcheck disable=SC2086
                    bench "$name" "$broker" "$run" $args -L "mqtts://127.0.0.1:$TLS_PORT" -d 0 ||
                        failed "$name" "$broker" "$run" ;;
                idle|connect)
                    # shellcheck disable=SC2086
                    bench "$name" "$broker" "$run" $args -L "mqtt://127.0.0.1:$PORT" -d "$DUR" ||
                        failed "$name" "$broker" "$run" ;;
                *)
                    # shellcheck disable=SC2086
                    bench "$name" "$broker" "$run" $args -L "mqtt://127.0.0.1:$PORT" -d "$DUR" --drain "$DRAIN" ||
                        failed "$name" "$broker" "$run" ;;
            esac
            stop_broker
        done
    done
done

TABLE="$WORK/table.md"
"$PYTHON" - "$RESULTS" "$RUNS" "$DUR" >"$TABLE" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
runs, dur = sys.argv[2], sys.argv[3]
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
def pick(scen, broker, f):
    return med([f(r) for r in rows if r["tag_scenario"] == scen and r["tag_broker"] == broker])
def fmt(v, spec):
    return "–" if v is None else format(v, spec)
scenarios = []
for r in rows:
    if r["tag_scenario"] not in scenarios and r["tag_scenario"] != "retained-cpu":
        scenarios.append(r["tag_scenario"])
print(f"Medians of {runs} run(s) per broker, {dur} s of measuring per run.\n")
print("| scenario | broker | delivered msg/s | broker CPU µs/msg | mosquitto ÷ mothd CPU/msg | broker CPU % | p50 µs "
      "| p99 µs | lost / dup / reordered | peak RSS MiB | RSS B/idle conn | connects/s | generator CPU % |")
print("|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
for s in scenarios:
    cpu = {}
    for b in ("mothd", "mosquitto"):
        if s == "retained":
            secs = pick(s, b, lambda r: r.get("last_message_s"))
            total = pick(s, b, lambda r: r["received"])
            rate = total / secs if secs else None
            ticks = pick("retained-cpu", b, lambda r: r["ticks"] / r["hz"])
            cpu[b] = ticks * 1e6 / total if ticks is not None and total else None
        else:
            rate = pick(s, b, lambda r: r["delivered_rate"]) if not s.startswith(("idle", "connect")) else None
            cpu[b] = pick(s, b, lambda r: r.get("broker", {}).get("cpu_us_per_delivered") or None)
    ratio = cpu["mosquitto"] / cpu["mothd"] if cpu["mothd"] and cpu["mosquitto"] else None
    for b in ("mothd", "mosquitto"):
        if not any(r["tag_scenario"] == s and r["tag_broker"] == b for r in rows):
            continue
        msg = not s.startswith(("idle", "connect"))
        if s == "retained":
            secs = pick(s, b, lambda r: r.get("last_message_s"))
            total = pick(s, b, lambda r: r["received"])
            rate = total / secs if secs else None
        else:
            rate = pick(s, b, lambda r: r["delivered_rate"]) if msg else None
        lat = msg and s != "retained"  # a retained message's "latency" is its age
        p50 = pick(s, b, lambda r: r["latency_us"]["p50"] if r["latency_us"]["count"] else None) if lat else None
        p99 = pick(s, b, lambda r: r["latency_us"]["p99"] if r["latency_us"]["count"] else None) if lat else None
        loss = [(r["lost"], r["duplicated"], r["out_of_order"]) for r in rows
                if r["tag_scenario"] == s and r["tag_broker"] == b and r.get("lost") is not None]
        loss_txt = " ".join(f"{l}/{d}/{o}" for l, d, o in loss) if loss else "–"
        if s == "retained":
            got = [r["received"] for r in rows if r["tag_scenario"] == s and r["tag_broker"] == b]
            loss_txt = "received " + " ".join(f"{g:,}" for g in got)
        hwm = pick(s, b, lambda r: r.get("broker", {}).get("hwm_kb", 0) / 1024)
        idle = pick(s, b, lambda r: r.get("broker", {}).get("rss_bytes_per_connection")) if s == "idle" else None
        cps = pick(s, b, lambda r: r["connect"]["rate_per_s"]) if s.startswith("connect") or s == "idle" else None
        gen = pick(s, b, lambda r: r["generator_cpu_percent"]) if msg and s != "retained" else None
        busy = pick(s, b, lambda r: r.get("broker", {}).get("cpu_percent")) if msg and s != "retained" else None
        print(f"| {s} | {b} | {fmt(rate, ',.0f')} | {fmt(cpu[b], '.3f')} | "
              f"{fmt(ratio, '.1f') + '×' if b == 'mothd' and ratio else ''} | {fmt(busy, '.0f')} | "
              f"{fmt(p50, ',.0f')} | {fmt(p99, ',.0f')} | "
              f"{loss_txt} | {fmt(hwm, '.1f')} | {fmt(idle, ',.0f')} | {fmt(cps, ',.0f')} | {fmt(gen, '.0f')} |")
EOF
cat "$TABLE"
if [[ -n "$OUT" ]]; then
    cp "$TABLE" "$OUT"
    cp "$RESULTS" "${OUT%.md}.jsonl"
fi
if [[ ${#FAILED[@]} -gt 0 ]]; then
    printf 'peers.sh: failed: %s\n' "${FAILED[@]}" >&2
    exit 1
fi
