# shellcheck shell=bash
# bench/lib.sh: shell helpers shared by the broker load scripts (peers.sh, workers.sh, conn100k.sh). Sourced, not run.
#
# Uses: ROOT_DIR (the caller's). Sets, unless the environment has them: MOTHD, MOTH, PYTHON. Uses: PYTHON (free_port), MOTHD (start_mothd), MOTHD_EXTRA_TOML and MOTHD_EXTRA_LIMITS (mothd_toml: see peers.sh). Sets: BROKER_PID, PORT (start_mothd).

BENCH_NAME="$(basename "$0")"

# The binaries and Python every script uses, unless the environment names others. The caller sets ROOT_DIR.
MOTHD="${MOTHD:-$ROOT_DIR/build/release/apps/mothd/mothd}"
MOTH="${MOTH:-$ROOT_DIR/build/release/apps/moth/moth}"
PYTHON="${PYTHON:-/usr/bin/python3}"
[[ -x "$PYTHON" ]] || PYTHON=python3

# The throughput scenarios, "name|moth bench arguments" (the caller adds the URL, --duration and --drain): peers.sh
# runs them against mothd and mosquitto, workers.sh against mothd with 1, 2, 4, ... workers.
# shellcheck disable=SC2034  # used by the scripts that source this
BENCH_THROUGHPUT_SCENARIOS=(
    "pairs|pairs -c 50 -q 0 -s 64"
    "fan-out|fanout -c 200 -q 0 -s 64"
    "fan-in|fanin -c 200 -q 0 -s 64"
    "shared|shared -c 200 -S 10 -q 0 -s 64"
    "pairs-qos1|pairs -c 50 -q 1 -s 64"
)

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (deadline 20 s) until 127.0.0.1:$1 accepts a TCP connection.
wait_port() {
    local deadline=$((SECONDS + 20))
    until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        [[ $SECONDS -lt $deadline ]] || { echo "$BENCH_NAME: nothing listens on port $1" >&2; return 1; }
        sleep 0.05  # polling interval of a condition wait
    done
}

# mothd_toml DIR WORKERS [MAX_CONNECTIONS]: on stdout, the benchmark configuration of mothd (the settings of
# mosquitto in peers.sh: 100 messages in flight, 1000 queued, TCP_NODELAY, no persistence) with one plain MQTT
# listener named "mqtt" on 127.0.0.1, port 0; data and the ports file in DIR. Top-level keys of the caller's go in
# MOTHD_EXTRA_TOML, [limits] lines in MOTHD_EXTRA_LIMITS; further [[listener]] tables may follow on stdout.
mothd_toml() {
    cat <<EOF
auth.allow_anonymous = true
${MOTHD_EXTRA_TOML:-}
workers = $2
tcp_nodelay = true
data_dir = "$1/data"
ports_file = "$1/ports"
log_level = "warn"
sys_interval_s = 10
[limits]
max_connections = ${3:-100000}
max_inflight = 100
max_queued_messages = 1000
# mosquitto has no cap on the bytes waiting for one client (max_queued_bytes 0); mothd's default (1 MB) drops
# QoS 0 messages for a client that far behind, which a subscription to '#' over 100 k retained topics is.
max_outgoing_buffer_bytes = 268435456
${MOTHD_EXTRA_LIMITS:-}
# mosquitto runs without persistence here, so mothd keeps its state in memory too (the issue's QoS 1 target is
# "with the memory store"; the sync mode has its own comparison, bench/durability/qos1_throughput.py).
[storage]
durability = "memory"
[[listener]]
kind = "mqtt"
name = "mqtt"
bind = "127.0.0.1"
port = 0
EOF
}

# start_mothd DIR [WRAPPER...]: starts WRAPPER... $MOTHD --config DIR/mothd.toml (log in DIR/log) and waits (deadline
# 20 s) for its ports file; sets BROKER_PID and PORT (the listener named "mqtt").
start_mothd() {
    local dir="$1"; shift
    "$@" "$MOTHD" --config "$dir/mothd.toml" >"$dir/log" 2>&1 &
    BROKER_PID=$!
    local deadline=$((SECONDS + 20))
    until [[ -s "$dir/ports" ]]; do
        [[ $SECONDS -lt $deadline ]] || { echo "$BENCH_NAME: mothd did not start:" >&2; cat "$dir/log" >&2; return 1; }
        sleep 0.05
    done
    # shellcheck disable=SC2034  # the caller's
    PORT="$(awk '$1 == "mqtt" {print $4}' "$dir/ports")"
}

# SIGTERM to the broker, SIGKILL after 20 s; clears BROKER_PID.
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

# utime + stime of process $1, in clock ticks (getconf CLK_TCK per second).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# A /proc/$1/status field in kB (VmRSS, VmHWM).
proc_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
