#!/usr/bin/env bash
# bench/connect_storm.sh: the password hash pool under a connect storm (issue 18): "1,000 clients, argon2id, while
# pairs traffic runs: worker p99 latency grows by less than 20 %". mothd checks passwords on its own pool
# (auth.verify_threads), never on a worker, so a storm of logins should cost the workers little.
#
#   bench/connect_storm.sh [--runs N] [--duration S] [--workers N] [--verify-threads N] [--users N] [--pairs N]
#                          [--rate R] [--in-flight N] [--passwd FILE]
#
# Defaults: 3 runs, 30 s, workers 2, verify threads 2, 1,000 users, 50 pairs at 5,000 msg/s in all (the
# latency-5k load of bench/peers.sh). Each run starts a fresh mothd (an empty verification cache) on 127.0.0.1 port 0
# with a password file of USERS argon2id users plus "bench" and auth.allow_anonymous = false, then:
#   a) baseline: `moth bench pairs` as user bench for --duration seconds: p99 latency, broker CPU;
#   b) storm: the same pairs run; once it measures, `moth bench conn` logs USERS distinct users in at once
#      (user<i> / secret<i>, --in-flight N of them waiting for their CONNACK at any time, default 100); when the
#      storm has ended the pairs run is stopped (SIGINT), so its
#      window is the storm (plus up to a second before it). Recorded: pairs p99, the storm's connect time (first
#      connect to last CONNACK), refused and failed logins, broker CPU.
# The table shows each run and the medians; PASS when the median p99 growth is under 20 % and every login of every
# storm succeeded (exit 0), else FAIL (1).
#
# --in-flight: mothd closes a connection whose authentication has not completed 10 s after it opened (the broker's
# connect timeout), so logins queued behind more than 10 s of hashing fail without a CONNACK. With argon2id at about
# 0.1 s per check and 2 verify threads that is about 200 waiting logins; `--in-flight 1000` (all at once) shows it.
#
# The password file takes the longest (argon2id, 64 MiB, t=3: about 0.1 s a user per core): written once per
# invocation with `moth passwd -U` over one plain-text slice per CPU in parallel; --passwd FILE keeps it in FILE and
# reuses it on the next invocation when it holds the users.
#
# Environment: MOTHD, MOTH (default build/release/...; build: cmake --preset release &&
# cmake --build --preset release --target mothd moth), PYTHON (default /usr/bin/python3).
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOTHD="${MOTHD:-$ROOT_DIR/build/release/apps/mothd/mothd}"
MOTH="${MOTH:-$ROOT_DIR/build/release/apps/moth/moth}"
PYTHON="${PYTHON:-/usr/bin/python3}"
[[ -x "$PYTHON" ]] || PYTHON=python3

RUNS=3; DURATION=30; WORKERS=2; VERIFY=2; USERS=1000; PAIRS=50; RATE=5000; IN_FLIGHT=100; KEEP_PASSWD=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS="$2"; shift ;;
        --duration) DURATION="$2"; shift ;;
        --workers) WORKERS="$2"; shift ;;
        --verify-threads) VERIFY="$2"; shift ;;
        --users) USERS="$2"; shift ;;
        --pairs) PAIRS="$2"; shift ;;
        --rate) RATE="$2"; shift ;;
        --in-flight) IN_FLIGHT="$2"; shift ;;
        --passwd) KEEP_PASSWD="$2"; shift ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "connect_storm.sh: unknown argument $1" >&2; exit 1 ;;
    esac
    shift
done
for bin in "$MOTHD" "$MOTH"; do
    [[ -x "$bin" ]] || { echo "connect_storm.sh: $bin is not an executable (build: cmake --preset release && cmake --build --preset release --target mothd moth)" >&2; exit 1; }
done

# Time bounds: hashing (per slice), one bench run, the storm (every login waits its turn in the pool).
HASH_LIMIT=$((USERS + 300))
BENCH_LIMIT=$((DURATION + 120))
STORM_LIMIT=$((USERS + 120))

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
WORK="$(mktemp -d "${TMPDIR:-/tmp}/moth-storm.XXXXXX")"
BROKER_PID=""; PAIRS_PID=""; STORM_PID=""; HASH_PIDS=()
cleanup() {
    for pid in "$STORM_PID" "$PAIRS_PID" "$BROKER_PID" "${HASH_PIDS[@]}"; do
        if [[ -n "$pid" ]]; then kill -9 "$pid" 2>/dev/null || true; fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the password file -------------------------------------------------------------------------------------------
PASSWD="${KEEP_PASSWD:-$WORK/passwd}"
# shellcheck disable=SC2016  # a literal $ in the patterns
hashed_users() { grep -c '^user[0-9]*:\$argon2id\$' "$1" 2>/dev/null || true; }
# shellcheck disable=SC2016
if [[ -n "$KEEP_PASSWD" && -s "$KEEP_PASSWD" && "$(hashed_users "$KEEP_PASSWD")" -ge "$USERS" ]] &&
    grep -q '^bench:\$argon2id\$' "$KEEP_PASSWD"; then
    echo "connect_storm.sh: reusing $KEEP_PASSWD" >&2
else
    SLICES="$(nproc)"
    echo "connect_storm.sh: hashing $((USERS + 1)) argon2id passwords in $SLICES slice(s)" >&2
    t0=$SECONDS
    {
        echo "bench:benchpw"
        for ((i = 0; i < USERS; i++)); do echo "user$i:secret$i"; done
    } | split -n "r/$SLICES" - "$WORK/plain."
    HASH_PIDS=()
    for f in "$WORK"/plain.*; do
        timeout "$HASH_LIMIT" "$MOTH" passwd -U "$f" &
        HASH_PIDS+=($!)
    done
    for pid in "${HASH_PIDS[@]}"; do
        wait "$pid" || { echo "connect_storm.sh: moth passwd -U failed or ran past ${HASH_LIMIT}s" >&2; exit 1; }
    done
    HASH_PIDS=()
    cat "$WORK"/plain.* >"$PASSWD.tmp" && mv "$PASSWD.tmp" "$PASSWD"
    rm -f "$WORK"/plain.*
    if [[ "$(hashed_users "$PASSWD")" -ne "$USERS" ]]; then
        echo "connect_storm.sh: $PASSWD does not hold $USERS argon2id users" >&2; exit 1
    fi
    echo "connect_storm.sh: hashed in $((SECONDS - t0)) s" >&2
fi

# ---- the broker ----------------------------------------------------------------------------------------------------
start_broker() {
    local dir="$WORK/mothd"
    rm -rf "$dir"; mkdir -p "$dir"
    cat >"$dir/mothd.toml" <<EOF
auth.allow_anonymous = false
auth.password_file = "$PASSWD"
auth.verify_threads = $VERIFY
auth.max_pending_verifications = $((USERS > 1000 ? USERS + 100 : 1000))
workers = $WORKERS
tcp_nodelay = true
data_dir = "$dir/data"
ports_file = "$dir/ports"
log_level = "warn"
sys_interval_s = 10
[limits]
max_connections = 100000
[storage]
durability = "memory"
[[listener]]
kind = "mqtt"
name = "mqtt"
bind = "127.0.0.1"
port = 0
EOF
    "$MOTHD" --config "$dir/mothd.toml" >"$dir/log" 2>&1 &
    BROKER_PID=$!
    local deadline=$((SECONDS + 20))
    until [[ -s "$dir/ports" ]]; do
        kill -0 "$BROKER_PID" 2>/dev/null || { echo "connect_storm.sh: mothd exited:" >&2; cat "$dir/log" >&2; return 1; }
        [[ $SECONDS -lt $deadline ]] || { echo "connect_storm.sh: mothd did not start:" >&2; cat "$dir/log" >&2; return 1; }
        sleep 0.05  # polling interval of a condition wait
    done
    URL="mqtt://127.0.0.1:$(awk '$1 == "mqtt" {print $4}' "$dir/ports")"
}

stop_broker() {
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    while kill -0 "$BROKER_PID" 2>/dev/null; do
        if [[ $SECONDS -ge $deadline ]]; then kill -9 "$BROKER_PID" 2>/dev/null || true; fi
        sleep 0.05
    done
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
}

PAIRS_ARGS=(pairs -c "$PAIRS" -q 0 -s 64 -R "$RATE" -u bench --pw benchpw --json)

# One run: $1 the run number; appends the baseline, storm-pairs and storm JSON lines to $RESULTS.
one_run() {
    local run="$1" out="$WORK/run$1"
    mkdir -p "$out"
    start_broker
    echo "connect_storm.sh: run $run: baseline, ${DURATION}s" >&2
    timeout "$BENCH_LIMIT" "$MOTH" bench "${PAIRS_ARGS[@]}" -L "$URL" -d "$DURATION" --quiet \
        --broker-pid "$BROKER_PID" >"$out/base.json" 2>"$out/base.err" ||
        { echo "connect_storm.sh: baseline failed:" >&2; cat "$out/base.err" >&2; return 1; }

    echo "connect_storm.sh: run $run: storm of $USERS logins during pairs" >&2
    # Progress lines (stderr) say when the pairs run measures: the storm starts only then, so that the pairs'
    # own logins are not queued behind it.
    timeout "$((BENCH_LIMIT + STORM_LIMIT))" "$MOTH" bench "${PAIRS_ARGS[@]}" -L "$URL" \
        -d "$((DURATION + STORM_LIMIT))" --broker-pid "$BROKER_PID" >"$out/pairs.json" 2>"$out/pairs.err" &
    PAIRS_PID=$!
    local deadline=$((SECONDS + 60))
    until grep -q '] run ' "$out/pairs.err" 2>/dev/null; do
        kill -0 "$PAIRS_PID" 2>/dev/null || { echo "connect_storm.sh: pairs run ended early:" >&2; cat "$out/pairs.err" >&2; return 1; }
        [[ $SECONDS -lt $deadline ]] || { echo "connect_storm.sh: pairs run did not start measuring" >&2; return 1; }
        sleep 0.05  # polling interval of a condition wait
    done
    local s0; s0="$(date +%s.%N)"
    timeout "$STORM_LIMIT" "$MOTH" bench conn -c "$USERS" -u 'user%i' --pw 'secret%i' -d 0 --max-pending "$IN_FLIGHT" \
        --connect-timeout "$STORM_LIMIT" -L "$URL" --json --quiet >"$out/storm.json" 2>"$out/storm.err" &
    STORM_PID=$!
    local storm_rc=0
    wait "$STORM_PID" || storm_rc=$?
    STORM_PID=""
    local s1; s1="$(date +%s.%N)"
    # The storm is over: end the pairs window (moth bench reports what it measured and exits 130).
    kill -INT "$PAIRS_PID" 2>/dev/null || true
    local pairs_rc=0
    wait "$PAIRS_PID" || pairs_rc=$?
    PAIRS_PID=""
    if [[ $pairs_rc -ne 0 && $pairs_rc -ne 130 ]]; then
        echo "connect_storm.sh: pairs during the storm failed ($pairs_rc):" >&2; tail -5 "$out/pairs.err" >&2; return 1
    fi
    if [[ ! -s "$out/storm.json" ]]; then
        echo "connect_storm.sh: the storm gave no result (exit $storm_rc):" >&2; cat "$out/storm.err" >&2; return 1
    fi
    stop_broker
    "$PYTHON" - "$out" "$run" "$s0" "$s1" >>"$RESULTS" <<'EOF'
import json, sys
out, run, s0, s1 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
print(json.dumps({"run": run, "base": json.load(open(f"{out}/base.json")),
                  "pairs": json.load(open(f"{out}/pairs.json")), "storm": json.load(open(f"{out}/storm.json")),
                  "storm_wall_s": s1 - s0}))
EOF
}

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
echo "connect_storm.sh: $(nproc) CPUs; $RUNS run(s); workers $WORKERS, verify threads $VERIFY, $USERS users," \
    "$PAIRS pairs at $RATE msg/s, $IN_FLIGHT logins in flight" >&2
for ((run = 1; run <= RUNS; run++)); do
    one_run "$run" || exit 1
done

"$PYTHON" - "$RESULTS" "$RUNS" "$DURATION" "$WORKERS" "$VERIFY" "$USERS" "$PAIRS" "$RATE" "$IN_FLIGHT" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
runs, dur, workers, verify, users, pairs, rate, in_flight = sys.argv[2:10]
print(f"{runs} run(s); baseline {dur} s; workers {workers}, verify threads {verify}; {users} argon2id logins, "
      f"{in_flight} in flight; {pairs} pairs at {rate} msg/s (QoS 0, 64 B)\n")
print("| run | baseline p99 µs | storm p99 µs | growth % | storm s | logins ok / refused / failed | pairs window s "
      "| broker CPU % baseline / storm |")
print("|---|---:|---:|---:|---:|---|---:|---|")
growths = []
for r in rows:
    b, p, s = r["base"], r["pairs"], r["storm"]
    b99, p99 = b["latency_us"]["p99"], p["latency_us"]["p99"]
    g = 100.0 * (p99 - b99) / b99 if b99 else float("nan")
    growths.append(g)
    c = s["connect"]
    cpu = lambda x: format(x["broker"]["cpu_percent"], ".0f") if "broker" in x else "–"
    print(f"| {r['run']} | {b99:,.0f} | {p99:,.0f} | {g:+.1f} | {c['seconds']:.1f} | "
          f"{c['connected']} / {c['refused']} / {c['failed'] - c['refused']} | {p['duration_s']:.1f} | "
          f"{cpu(b)} / {cpu(p)} |")
for r in rows:
    if r["storm"]["connect"]["failed"]:
        print(f"run {r['run']}: first failed login: {r['storm'].get('first_error', '?')}")
med = statistics.median(growths)
ok = med < 20 and all(r["storm"]["connect"]["connected"] == int(users) for r in rows)
print(f"\nmedian p99 growth {med:+.1f} % (limit +20 %): {'PASS' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
EOF
