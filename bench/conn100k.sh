#!/usr/bin/env bash
# bench/conn100k.sh: one mothd holding many idle MQTT connections (default 100,000): memory per connection and idle CPU.
#
#   bench/conn100k.sh [-c N] [--workers W] [--addrs A] [--per-process P] [--connect-rate R] [--hold S] [--exact]
#                     [--out FILE] [--io-backend auto|io_uring|epoll]
#
# Starts mothd (peers.sh's settings, `workers = W`, default 1, limits.max_connections above N) on 127.0.0.1 and opens
# N idle connections (MQTT 3.1.1, clean session, no keep alive) with several `moth bench conn` processes, each
# holding at most P connections (default: the hard descriptor limit less 128), spread over A source addresses
# 127.0.0.2, 127.0.0.3, ... (`moth bench --bind`; default one per 25,000 connections: one source address has only the
# ephemeral port range, about 28,000 ports, towards one broker port). Connections are opened at R per second in all
# (default 5000). Once the broker has N established connections (counted with ss), the script waits 1 s, then holds
# them for S seconds (default 30) and reports:
#   - RSS per connection: (VmRSS connected - VmRSS before connecting) / N, from /proc/PID/status;
#   - peak RSS: VmHWM at the end of the holding window;
#   - idle CPU: the broker's utime+stime over the holding window, in % of one core (/proc/PID/stat);
#   - connect s: from starting the generators to the last connection established.
#
# Descriptors: the script raises `ulimit -n` to the hard limit H (`ulimit -Hn`) for the broker and the generators.
# The broker needs N + 128 descriptors in one process (listeners, store, log, mothd's reserve of 64); when H is too
# small the script says so ("hard limit H: N connections need N+128 descriptors in one process; holding H-128
# instead") and holds H-128, or exits 1 with that message when --exact is given.
#
# The last line is "conn100k.sh: held X of N connections"; the exit status is 1 when X < N (the ctest
# `bench_scaling` runs -c 2000 --addrs 2 with the ci build).
#
# Environment: MOTHD, MOTH (default build/release/...), PYTHON (default /usr/bin/python3), MOTHD_EXTRA_TOML,
# MOTHD_EXTRA_LIMITS (as in peers.sh).
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
source "$ROOT_DIR/bench/lib.sh"

MARGIN=128        # descriptors of a process that are not connections
PER_ADDR=25000    # connections per source address when --addrs is not given
N=100000
WORKERS=1
ADDRS=""
PER_PROC=""
RATE=5000
HOLD=30
EXACT=0
OUT=""
IO_BACKEND=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        -c|--connections) N="$2"; shift ;;
        --workers) WORKERS="$2"; shift ;;
        --addrs) ADDRS="$2"; shift ;;
        --per-process) PER_PROC="$2"; shift ;;
        --connect-rate) RATE="$2"; shift ;;
        --hold) HOLD="$2"; shift ;;
        --exact) EXACT=1 ;;
        --out) OUT="$2"; shift ;;
        --io-backend) IO_BACKEND="$2"; shift ;;
        -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
        *) echo "conn100k.sh: unknown argument $1" >&2; exit 1 ;;
    esac
    shift
done
for v in "$N" "$WORKERS" "$RATE" "$HOLD" ${ADDRS:+"$ADDRS"} ${PER_PROC:+"$PER_PROC"}; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "conn100k.sh: '$v' is not a positive number" >&2; exit 1; }
done
case "$IO_BACKEND" in
    ""|auto|io_uring|epoll) ;;
    *) echo "conn100k.sh: --io-backend must be auto, io_uring or epoll" >&2; exit 1 ;;
esac
if [[ -n "$IO_BACKEND" ]]; then
    MOTHD_EXTRA_TOML="${MOTHD_EXTRA_TOML:-}
io_backend = \"$IO_BACKEND\""
fi
for bin in "$MOTHD" "$MOTH"; do
    [[ -x "$bin" ]] || { echo "conn100k.sh: $bin is not an executable (build: cmake --preset release && cmake --build build/release --target mothd moth)" >&2; exit 1; }
done
command -v ss >/dev/null || { echo "conn100k.sh: needs ss (iproute2) to count the broker's connections" >&2; exit 1; }

# Descriptors: the broker holds every connection in one process.
HARD="$(ulimit -Hn)"
ulimit -n "$HARD"
if [[ "$HARD" != unlimited && $((N + MARGIN)) -gt $HARD ]]; then
    msg="hard limit $HARD: $N connections need $((N + MARGIN)) descriptors in one process; holding $((HARD - MARGIN)) instead"
    if [[ $EXACT -eq 1 ]]; then
        echo "conn100k.sh: ${msg%%; holding*} (--exact)" >&2
        exit 1
    fi
    echo "conn100k.sh: $msg" >&2
    N=$((HARD - MARGIN))
fi
if [[ -z "$PER_PROC" ]]; then
    if [[ "$HARD" == unlimited ]]; then PER_PROC=50000; else PER_PROC=$((HARD - MARGIN)); fi
fi
[[ -n "$ADDRS" ]] || ADDRS=$(((N + PER_ADDR - 1) / PER_ADDR))
[[ $ADDRS -le 250 ]] || { echo "conn100k.sh: at most 250 source addresses (127.0.0.2 .. 127.0.0.251)" >&2; exit 1; }
read -r PORT_LO PORT_HI </proc/sys/net/ipv4/ip_local_port_range
if [[ $(((N + ADDRS - 1) / ADDRS)) -gt $((PORT_HI - PORT_LO + 1)) ]]; then
    echo "conn100k.sh: $N connections over $ADDRS source address(es) exceed the $((PORT_HI - PORT_LO + 1)) ephemeral ports of one address ($PORT_LO-$PORT_HI): use more --addrs" >&2
    exit 1
fi
PROCS=$(((N + PER_PROC - 1) / PER_PROC))
[[ $PROCS -ge $ADDRS ]] || PROCS=$ADDRS  # one address per process at least
[[ $PROCS -le $N ]] || PROCS=$N

WORK="$(mktemp -d "${TMPDIR:-/tmp}/moth-conn100k.XXXXXX")"
BROKER_PID=""
GEN_PIDS=()
cleanup() {
    for pid in "${GEN_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    if [[ -n "$BROKER_PID" ]]; then kill -9 "$BROKER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

established() { ss -Htn state established "( sport = :$PORT )" | wc -l; }

dir="$WORK/mothd"
mkdir -p "$dir"
mothd_toml "$dir" "$WORKERS" $((N + 1000)) >"$dir/mothd.toml"
start_mothd "$dir"
sleep 0.5  # the broker's start-up allocations settle before the baseline
RSS0="$(proc_kb "$BROKER_PID" VmRSS)"

echo "conn100k.sh: $N connections, $WORKERS worker(s), $ADDRS source address(es), $PROCS generator process(es), $RATE connects/s; descriptor limit $(ulimit -n)" >&2
T0=$SECONDS
START_NS="$(date +%s%N)"
for ((i = 0; i < PROCS; i++)); do
    count=$((N / PROCS + (i < N % PROCS ? 1 : 0)))
    addr="127.0.0.$((2 + i % ADDRS))"
    # Held until the script interrupts it: moth bench then disconnects and prints its JSON (exit status 130).
    "$MOTH" bench conn -c "$count" --bind "$addr" -L "mqtt://127.0.0.1:$PORT" -d 86400 --json --quiet \
        --connect-rate "$(awk -v r="$RATE" -v p="$PROCS" 'BEGIN {printf "%.3f", r / p}')" --prefix "c$i" \
        >"$WORK/gen$i.json" 2>"$WORK/gen$i.err" &
    GEN_PIDS+=($!)
done

# Connect: until the broker has N connections, or none came for 15 s, or a generator ended early.
held=0; last=0; last_change=$SECONDS; CONNECT_S=""
while :; do
    held="$(established)"
    if [[ $held -ne $last ]]; then last=$held; last_change=$SECONDS; fi
    if [[ $held -ge $N ]]; then
        CONNECT_S="$(awk -v a="$START_NS" -v b="$(date +%s%N)" 'BEGIN {printf "%.1f", (b - a) / 1e9}')"
        break
    fi
    kill -0 "$BROKER_PID" 2>/dev/null || { echo "conn100k.sh: mothd exited:" >&2; tail -20 "$dir/log" >&2; exit 1; }
    for pid in "${GEN_PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null || { echo "conn100k.sh: a generator ended early:" >&2; cat "$WORK"/gen*.err >&2; break 2; }
    done
    if [[ $((SECONDS - last_change)) -ge 15 ]]; then
        echo "conn100k.sh: stuck at $held of $N connections for 15 s" >&2
        break
    fi
    sleep 0.2
done
echo "conn100k.sh: $held connections established after $((SECONDS - T0)) s; holding for $HOLD s" >&2

sleep 1  # the broker finishes its bookkeeping of the last connections
RSS1="$(proc_kb "$BROKER_PID" VmRSS)"
HELD_BEFORE="$(established)"
TICKS0="$(cpu_ticks "$BROKER_PID")"
H0=$(date +%s%N)
sleep "$HOLD"
TICKS1="$(cpu_ticks "$BROKER_PID")"
H1=$(date +%s%N)
HWM="$(proc_kb "$BROKER_PID" VmHWM)"
HELD="$(established)"
[[ $HELD -le $HELD_BEFORE ]] || HELD=$HELD_BEFORE  # connections that came in the window did not count for RSS
HZ="$(getconf CLK_TCK)"

for pid in "${GEN_PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
for pid in "${GEN_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
GEN_PIDS=()
stop_broker

TABLE="$WORK/table.md"
"$PYTHON" - "$WORK" "$PROCS" "$N" "$HELD" "$WORKERS" "$ADDRS" "$RSS0" "$RSS1" "$HWM" "$TICKS0" "$TICKS1" "$HZ" \
    "$H0" "$H1" "${CONNECT_S:-}" >"$TABLE" <<'EOF'
import json, os, sys
work, procs, n, held, workers, addrs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
rss0, rss1, hwm, t0, t1, hz, h0, h1 = (float(x) for x in sys.argv[7:15])
connect_s = sys.argv[15]
connected = failed = dropped = 0
errors = []
for i in range(procs):
    try:
        r = json.load(open(os.path.join(work, f"gen{i}.json")))
    except (OSError, ValueError):
        errors.append(f"generator {i}: no result")
        continue
    connected += r["connect"]["connected"]
    failed += r["connect"]["failed"]
    dropped += r["connect"]["dropped"]
    if "first_error" in r:
        errors.append(f"generator {i}: {r['first_error']}")
hold_s = (h1 - h0) / 1e9
per_conn = (rss1 - rss0) * 1024 / held if held else None
idle = (t1 - t0) / hz / hold_s * 100 if hold_s > 0 else None
def fmt(v, spec):
    return "–" if v is None else format(v, spec)
print(f"mothd with {workers} worker(s); {n:,} connections asked from {procs} `moth bench conn` process(es) over "
      f"{addrs} source address(es); held {hold_s:.0f} s.\n")
print("| connections held | connect s | RSS before MiB | RSS connected MiB | RSS B/conn | peak RSS MiB "
      "| idle CPU % of a core | generators: connected / failed / dropped |")
print("|---:|---:|---:|---:|---:|---:|---:|---|")
print(f"| {held:,} | {connect_s or '–'} | {rss0 / 1024:.1f} | {rss1 / 1024:.1f} | {fmt(per_conn, ',.0f')} | "
      f"{hwm / 1024:.1f} | {fmt(idle, '.2f')} | {connected:,} / {failed:,} / {dropped:,} |")
for e in errors[:5]:
    print(f"\n{e}")
EOF
cat "$TABLE"
[[ -z "$OUT" ]] || cp "$TABLE" "$OUT"
echo "conn100k.sh: held $HELD of $N connections"
[[ $HELD -ge $N ]]
