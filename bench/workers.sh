#!/usr/bin/env bash
# bench/workers.sh: how mothd's throughput scales with its worker threads, and a markdown table of medians.
#
#   bench/workers.sh [--workers "1 2 4 8 16"] [--runs N] [--duration S] [--quick] [--only REGEX] [--out FILE]
#                    [--io-backend auto|io_uring|epoll] [--gen-threads T]
#
# Runs the throughput scenarios of bench/peers.sh (pairs, fan-out, fan-in, shared, pairs-qos1: the same `moth bench`
# arguments, kept in bench/lib.sh) against mothd with `workers = N` for each N of --workers (default "1 2 4 8 16"),
# each run against a freshly started mothd with peers.sh's settings (100 messages in flight, 1000 queued per client,
# TCP_NODELAY, memory store). Each scenario runs --runs times (default 3) per N; the table shows medians.
#
# CPUs: the broker is pinned to CPUs 0..N-1 (taskset) and the generator to the others, and the generator runs one
# `moth bench` thread (--threads) per CPU it has (--gen-threads overrides), so that it can load many workers. A
# single `moth bench` process is enough: its connections are spread over its threads, each an io_context of its
# own. When the machine has no CPU left over for the generator (N >= the number of CPUs), broker and generator share
# all CPUs: the script says so on stderr and marks the row; such numbers are not a scaling measurement.
#
# Measured by `moth bench --broker-pid` over the measuring window (after every client is connected and subscribed):
# delivered msg/s, the broker's utime+stime per delivered message, its CPU % (100 = one core busy), the speedup of
# delivered msg/s against the same scenario with 1 worker (when 1 is in --workers), and the generator's CPU % (all
# its threads; near 100 x threads means the generator, not the broker, was the limit).
#
# --quick: one run, 2 s per scenario (the ctest `bench_scaling` runs it with the ci build). --duration S: measuring
# seconds per run (default 10). --io-backend X: adds `io_backend = "X"` to mothd's config (only when given). The
# script fails when a scenario cannot run (mothd does not start, a bench run fails); no timing is asserted.
#
# Environment: MOTHD, MOTH (default build/release/...), PYTHON (default /usr/bin/python3), MOTHD_EXTRA_TOML,
# MOTHD_EXTRA_LIMITS (as in peers.sh).
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
source "$ROOT_DIR/bench/lib.sh"

WORKERS="1 2 4 8 16"
RUNS=3
DUR=10
DRAIN=2
OUT=""
ONLY=""
IO_BACKEND=""
GEN_THREADS=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --workers) WORKERS="$2"; shift ;;
        --runs) RUNS="$2"; shift ;;
        --duration) DUR="$2"; shift ;;
        --quick) RUNS=1; DUR=2; DRAIN=1 ;;
        --only) ONLY="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        --io-backend) IO_BACKEND="$2"; shift ;;
        --gen-threads) GEN_THREADS="$2"; shift ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "workers.sh: unknown argument $1" >&2; exit 1 ;;
    esac
    shift
done
case "$IO_BACKEND" in
    ""|auto|io_uring|epoll) ;;
    *) echo "workers.sh: --io-backend must be auto, io_uring or epoll" >&2; exit 1 ;;
esac
for n in $WORKERS; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "workers.sh: --workers takes positive numbers, got '$n'" >&2; exit 1; }
done
for bin in "$MOTHD" "$MOTH"; do
    [[ -x "$bin" ]] || { echo "workers.sh: $bin is not an executable (build: cmake --preset release && cmake --build build/release --target mothd moth)" >&2; exit 1; }
done
if [[ -n "$IO_BACKEND" ]]; then
    MOTHD_EXTRA_TOML="${MOTHD_EXTRA_TOML:-}
io_backend = \"$IO_BACKEND\""
fi

NCPU="$(nproc)"
HAVE_TASKSET=0
command -v taskset >/dev/null && HAVE_TASKSET=1

WORK="$(mktemp -d "${TMPDIR:-/tmp}/moth-workers.XXXXXX")"
BROKER_PID=""
cleanup() {
    if [[ -n "$BROKER_PID" ]]; then kill -9 "$BROKER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

cpu_range() { if [[ $1 -eq $2 ]]; then echo "$1"; else echo "$1-$2"; fi; }

# cpus N: sets PIN_BROKER, PIN_GEN (taskset prefixes), THREADS (the generator's) and SHARED (1: no CPU of its own
# for the generator) for a broker with N workers.
cpus() {
    local n="$1"
    PIN_BROKER=(); PIN_GEN=(); SHARED=0
    if [[ $n -lt $NCPU ]]; then
        if [[ $HAVE_TASKSET -eq 1 ]]; then
            PIN_BROKER=(taskset -c "0-$((n - 1))"); PIN_GEN=(taskset -c "$n-$((NCPU - 1))")
        else
            SHARED=1  # nothing to pin with
        fi
        THREADS=$((NCPU - n))
    else
        SHARED=1
        [[ $HAVE_TASKSET -eq 1 ]] && PIN_BROKER=(taskset -c "0-$((NCPU - 1))")
        THREADS=$NCPU
    fi
    [[ $THREADS -le 16 ]] || THREADS=16
    [[ -z "$GEN_THREADS" ]] || THREADS="$GEN_THREADS"
}

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

# bench <scenario> <workers> <run> <shared> <moth bench args...>: one run, its JSON tagged and appended to $RESULTS.
bench() {
    local scenario="$1" workers="$2" run="$3" shared="$4"; shift 4
    local out="$WORK/out.json" err="$WORK/err.txt"
    if ! "${PIN_GEN[@]}" "$MOTH" bench "$@" --json --quiet --broker-pid "$BROKER_PID" >"$out" 2>"$err"; then
        echo "workers.sh: $scenario with $workers workers failed: moth bench $*" >&2
        cat "$err" >&2
        return 1
    fi
    "$PYTHON" - "$out" "$scenario" "$workers" "$run" "$shared" >>"$RESULTS" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
r.update(tag_scenario=sys.argv[2], tag_workers=int(sys.argv[3]), tag_run=int(sys.argv[4]),
         tag_shared=sys.argv[5] == "1")
print(json.dumps(r))
EOF
}

echo "workers.sh: $NCPU CPUs; workers $WORKERS; $RUNS run(s), ${DUR}s each${IO_BACKEND:+; io_backend $IO_BACKEND}" >&2
for ((run = 1; run <= RUNS; run++)); do
    for n in $WORKERS; do
        cpus "$n"
        if [[ $SHARED -eq 1 ]]; then
            echo "workers.sh: $n worker(s) on $NCPU CPUs: generator and broker share CPUs; not a scaling measurement" >&2
        else
            echo "workers.sh: $n worker(s): broker on CPU(s) $(cpu_range 0 $((n - 1))), generator ($THREADS thread(s)) on CPU(s) $(cpu_range "$n" $((NCPU - 1)))" >&2
        fi
        for entry in "${BENCH_THROUGHPUT_SCENARIOS[@]}"; do
            name="${entry%%|*}"; args="${entry#*|}"
            if [[ -n "$ONLY" && ! "$name" =~ $ONLY ]]; then continue; fi
            echo "workers.sh: $name, $n worker(s), run $run" >&2
            dir="$WORK/mothd"
            rm -rf "$dir"; mkdir -p "$dir"
            mothd_toml "$dir" "$n" >"$dir/mothd.toml"
            start_mothd "$dir" "${PIN_BROKER[@]}"
            # shellcheck disable=SC2086
            bench "$name" "$n" "$run" "$SHARED" $args -T "$THREADS" -L "mqtt://127.0.0.1:$PORT" -d "$DUR" \
                --drain "$DRAIN" || exit 1
            stop_broker
        done
    done
done

TABLE="$WORK/table.md"
"$PYTHON" - "$RESULTS" "$RUNS" "$DUR" "$NCPU" >"$TABLE" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
runs, dur, ncpu = sys.argv[2], sys.argv[3], sys.argv[4]
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
def fmt(v, spec):
    return "–" if v is None else format(v, spec)
keys = []
for r in rows:
    k = (r["tag_scenario"], r["tag_workers"])
    if k not in keys:
        keys.append(k)
def pick(k, f):
    return med([f(r) for r in rows if (r["tag_scenario"], r["tag_workers"]) == k])
rate = {k: pick(k, lambda r: r["delivered_rate"]) for k in keys}
print(f"Medians of {runs} run(s), {dur} s of measuring per run, {ncpu} CPUs. "
      "Broker on CPUs 0..N-1, generator on the others (`moth bench --threads` = its CPUs).\n")
print("| scenario | workers | delivered msg/s | broker CPU µs/msg | speedup vs 1 worker | broker CPU % "
      "| generator threads | generator CPU % |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
shared = False
for k in keys:
    s, n = k
    one = rate.get((s, 1))
    speedup = rate[k] / one if one and rate[k] is not None else None
    cpu = pick(k, lambda r: r.get("broker", {}).get("cpu_us_per_delivered") or None)
    busy = pick(k, lambda r: r.get("broker", {}).get("cpu_percent"))
    gen = pick(k, lambda r: r["generator_cpu_percent"])
    threads = pick(k, lambda r: r["threads"])
    mark = ""
    if any(r["tag_shared"] for r in rows if (r["tag_scenario"], r["tag_workers"]) == k):
        mark, shared = " *", True
    print(f"| {s} | {n}{mark} | {fmt(rate[k], ',.0f')} | {fmt(cpu, '.3f')} | "
          f"{fmt(speedup, '.2f') + '×' if speedup else '–'} | {fmt(busy, '.0f')} | {fmt(threads, '.0f')} | "
          f"{fmt(gen, '.0f')} |")
if shared:
    print(f"\n\\* {ncpu} CPUs: no CPU left for the generator, so generator and broker share CPUs; "
          "these rows are not a scaling measurement.")
EOF
cat "$TABLE"
if [[ -n "$OUT" ]]; then
    cp "$TABLE" "$OUT"
    cp "$RESULTS" "${OUT%.md}.jsonl"
fi
