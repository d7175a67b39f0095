#!/usr/bin/env bash
# bench/cluster.sh: CPU per message of a Moth cluster (docs/cluster.md) under `moth bench`, for a publisher and a
# subscriber on one node ("local") and on two nodes ("cross"), at QoS 0 and QoS 1; prints a markdown table.
#
#   bench/cluster.sh [--nodes N | --alone] [--count C] [--rate R] [--publishers P] [--persistent]
#
# --nodes N (1, 3 or 5; default 3): N nats-servers with JetStream (a JetStream cluster when N > 1; replicas N) and
# N mothd nodes, node i given every NATS URL, its own server first. With one node there is no "cross" row.
# Per scenario: `moth bench sub` (1 subscriber of bench/#, stopping 3 s after the last message) on the receiving
# node, then `moth bench pub` (P publishers, C messages in all, R messages/s in all) on n1. CPU is utime+stime
# from /proc/PID/stat of every mothd and every nats-server, from the publisher's start to the subscriber's end,
# divided by the messages delivered: "mothd" sums all nodes (a cross-node message costs on both), "nats" all servers.
# --alone: the baseline, the same "local" runs against one mothd without [cluster].
# --persistent: the subscriber has a persistent session (5.0, session expiry 600 s) and the nodes a store
# (durability "sync"): its QoS 1 messages are stored, in a cluster also in the cluster's copy of sessions and through
# the session's own consumer (docs/cluster.md, "Sessions and take-over"). Without: clean session, no store.
# Defaults are small (C = 20000, R = 5000): a smoke run. Real numbers need the release build and larger C.
#
# Environment: MOTHD, MOTH (default build/release/...), NATS_SERVER (default nats-server, or /usr/sbin's),
# PYTHON (/usr/bin/python3), KEEP_DIR=1 keeps the work directory (configs, logs).
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOTHD="${MOTHD:-$ROOT_DIR/build/release/apps/mothd/mothd}"
MOTH="${MOTH:-$ROOT_DIR/build/release/apps/moth/moth}"
NATS_SERVER="${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
PYTHON="${PYTHON:-/usr/bin/python3}"
[[ -x "$PYTHON" ]] || PYTHON=python3
NODES=3
COUNT=20000
RATE=5000
PUBS=1
DURABILITY=memory
SUB_ARGS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --nodes) NODES="$2"; shift ;;
        --count) COUNT="$2"; shift ;;
        --rate) RATE="$2"; shift ;;
        --publishers) PUBS="$2"; shift ;;
        --alone) ALONE=1 ;;
        --persistent) DURABILITY=sync; SUB_ARGS=(--mqtt-version 5 --session-expiry 600) ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "cluster.sh: unknown argument $1" >&2; exit 1 ;;
    esac
    shift
done
[[ "$NODES" =~ ^(1|3|5)$ ]] || { echo "cluster.sh: --nodes is 1, 3 or 5" >&2; exit 1; }
for bin in "$MOTHD" "$MOTH" "$NATS_SERVER"; do
    [[ -x "$bin" ]] || { echo "cluster.sh: $bin is not an executable (cmake --build build/release --target mothd moth; apt install nats-server)" >&2; exit 1; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/moth-cluster-bench.XXXXXX")"
NATS_PIDS=()
MOTH_PIDS=()
cleanup() {
    for p in "${MOTH_PIDS[@]}" "${NATS_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ "${KEEP_DIR:-0}" == 1 ]]; then echo "cluster.sh: files kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# Ports that were free when bound to 127.0.0.1:0 and closed (a port taken in between: that server fails, loudly).
free_ports() {
    "$PYTHON" -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}
fail() { echo "cluster.sh: $*" >&2; tail -n 12 "$WORK"/n*/*.log "$WORK"/s*/*.log >&2; exit 1; }
wait_for() {  # $1: what, $2: a command that succeeds once ready, $3: a pid that must stay alive; deadline 30 s
    local deadline=$((SECONDS + 30))
    until eval "$2" >/dev/null 2>&1; do
        [[ $SECONDS -lt $deadline ]] || fail "timed out waiting for $1"
        [[ -z "${3:-}" ]] || kill -0 "$3" 2>/dev/null || fail "$1: the process exited"
        sleep 0.1  # polling interval of a condition wait
    done
}
cpu_ticks() {  # utime + stime of the given pids, in clock ticks (fields 14 and 15; comm has no spaces here)
    local sum=0 p
    for p in "$@"; do sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
    echo "$sum"
}

start_cluster() {
    local ports i j
    read -r -a ports <<<"$(free_ports $((NODES * 3)))"
    NATS_PORTS=("${ports[@]:0:NODES}")
    local routes_p=("${ports[@]:NODES:NODES}") mon_p=("${ports[@]:$((2 * NODES)):NODES}")
    for ((i = 0; i < NODES; i++)); do
        local dir="$WORK/s$i" args=()
        mkdir -p "$dir"
        if [[ $NODES -gt 1 ]]; then
            local routes=()
            for ((j = 0; j < NODES; j++)); do [[ $j -ne $i ]] && routes+=("nats://127.0.0.1:${routes_p[$j]}"); done
            args=(--cluster_name moth-bench --cluster "nats://127.0.0.1:${routes_p[$i]}"
                  --routes "$(IFS=,; echo "${routes[*]}")")
        fi
        "$NATS_SERVER" -a 127.0.0.1 -p "${NATS_PORTS[$i]}" -m "${mon_p[$i]}" --server_name "s$i" -js \
            -sd "$dir/store" "${args[@]}" >"$dir/nats.log" 2>&1 &
        NATS_PIDS+=($!)
    done
    for ((i = 0; i < NODES; i++)); do
        wait_for "JetStream on nats-server s$i" "curl -sf http://127.0.0.1:${mon_p[$i]}/jsz | grep -q '\"config\"'" \
            "${NATS_PIDS[$i]}"
        [[ $NODES -eq 1 ]] || wait_for "a meta leader (s$i)" \
            "curl -sf http://127.0.0.1:${mon_p[$i]}/jsz | grep -q '\"leader\"'"
    done
    MQTT_PORTS=()
    for ((i = 0; i < NODES; i++)); do
        local dir="$WORK/n$i" urls=() k
        mkdir -p "$dir"
        for ((k = 0; k < NODES; k++)); do urls+=("\"nats://127.0.0.1:${NATS_PORTS[$(((i + k) % NODES))]}\""); done
        cat >"$dir/mothd.toml" <<EOF
auth.allow_anonymous = true
data_dir = "$dir/data"
ports_file = "$dir/ports"
log_level = "warn"
[storage]
durability = "$DURABILITY"  # memory: the cluster's cost, not the disk's
[cluster]
enabled = true
servers = [$(IFS=,; echo "${urls[*]}")]
node = "n$((i + 1))"
replicas = $NODES
[[listener]]
kind = "mqtt"
bind = "127.0.0.1"
port = 0
EOF
        "$MOTHD" --config "$dir/mothd.toml" >"$dir/mothd.log" 2>&1 &
        MOTH_PIDS+=($!)
    done
    for ((i = 0; i < NODES; i++)); do
        wait_for "mothd n$((i + 1))" "test -s $WORK/n$i/ports" "${MOTH_PIDS[$i]}"
        MQTT_PORTS+=("$(awk '$2 == "mqtt" {print $4; exit}' "$WORK/n$i/ports")")
    done
}

run() {  # $1: local|cross, $2: qos
    local path="$1" qos="$2" dir="$WORK/run-$1-q$2" to=0
    [[ $path == cross ]] && to=1
    mkdir -p "$dir"
    "$MOTH" bench sub --url "mqtt://127.0.0.1:${MQTT_PORTS[$to]}" --clients 1 --filter "bench/$path/#" --qos "$qos" \
        "${SUB_ARGS[@]}" --duration 600 --idle-stop 3 --json --quiet >"$dir/sub.json" 2>"$dir/sub.err" &
    local sub=$!
    sleep 2  # the subscriber's SUBACK and its interest reaching the other nodes (bench only, not a test)
    local tck; tck="$(getconf CLK_TCK)"
    local m0 n0; m0="$(cpu_ticks "${MOTH_PIDS[@]}")"; n0="$(cpu_ticks "${NATS_PIDS[@]}")"
    "$MOTH" bench pub --url "mqtt://127.0.0.1:${MQTT_PORTS[0]}" --clients "$PUBS" --topic "bench/$path/%i" \
        --qos "$qos" --count $((COUNT / PUBS)) --total-rate "$RATE" --duration 600 --json --quiet \
        >"$dir/pub.json" 2>"$dir/pub.err"
    wait "$sub" || { echo "cluster.sh: moth bench sub failed: $(cat "$dir/sub.err")" >&2; return 1; }
    local m1 n1; m1="$(cpu_ticks "${MOTH_PIDS[@]}")"; n1="$(cpu_ticks "${NATS_PIDS[@]}")"
    "$PYTHON" - "$dir/pub.json" "$dir/sub.json" "$NODES" "$path" "$qos" $((m1 - m0)) $((n1 - n0)) "$tck" <<'PY'
import json, sys
pub, sub = (json.load(open(p)) for p in sys.argv[1:3])
nodes, path, qos = sys.argv[3:6]
moth_ticks, nats_ticks, tck = (int(x) for x in sys.argv[6:9])
got = sub["received"]
per = lambda ticks: f"{ticks / tck * 1e6 / got:.1f}" if got else "n/a"
print(f"| {nodes} | {path} | {qos} | {pub['sent']} | {got} | {per(moth_ticks)} | {per(nats_ticks)} |")
PY
}

start_alone() {  # --alone: the baseline, one mothd without [cluster] (no NATS at all), same clients and rates
    local dir="$WORK/n0"
    mkdir -p "$dir"
    printf 'auth.allow_anonymous = true\ndata_dir = "%s/data"\nports_file = "%s/ports"\nlog_level = "warn"\n[storage]\ndurability = "%s"\n[[listener]]\nkind = "mqtt"\nbind = "127.0.0.1"\nport = 0\n' \
        "$dir" "$dir" "$DURABILITY" >"$dir/mothd.toml"
    "$MOTHD" --config "$dir/mothd.toml" >"$dir/mothd.log" 2>&1 &
    MOTH_PIDS+=($!)
    wait_for "mothd (alone)" "test -s $dir/ports" "${MOTH_PIDS[0]}"
    MQTT_PORTS=("$(awk '$2 == "mqtt" {print $4; exit}' "$dir/ports")")
    NODES=alone
}

if [[ ${ALONE:-0} -eq 1 ]]; then start_alone; else start_cluster; fi
echo "| nodes | path | QoS | published | delivered | mothd CPU µs/msg (all nodes) | nats-server CPU µs/msg |"
echo "|---|---|---|---|---|---|---|"
for qos in 0 1; do
    run local "$qos"
    if [[ $NODES != alone && $NODES -gt 1 ]]; then run cross "$qos"; fi
done
