#!/usr/bin/env bash
# A Moth cluster on one machine (docs/cluster.md): three nats-servers in a JetStream cluster and three mothd nodes
# (n1, n2, n3), each node given all three NATS URLs. Ctrl-C stops everything.
#
#   scripts/cluster-demo.sh           # runs until Ctrl-C
#   scripts/cluster-demo.sh --check   # starts, publishes on n1, receives on n3 (mosquitto_pub/sub), stops: exit 0/1
#
# Ports (environment): NATS clients NATS_PORTS (default "4222 4223 4224"), NATS routes NATS_CLUSTER_PORTS ("6222 6223
# 6224"), NATS monitoring NATS_HTTP_PORTS ("8222 8223 8224"), MQTT MQTT_PORTS ("1883 1893 1903"), console and API
# HTTP_PORTS ("8080 8090 8100"). DEMO_PORTS=free picks free ports for all of them instead (the ctest of --check:
# nothing else on the machine may hold the defaults). MQTT_BIND (default 127.0.0.1; the nodes allow anonymous
# clients). Binaries: MOTHD (default build/release/apps/mothd/mothd), NATS_SERVER (default nats-server, also looked
# for in /usr/sbin). Files (configs, logs, JetStream and mothd data) live in a temporary directory, removed at exit
# unless KEEP_DIR=1.
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOTHD="${MOTHD:-$ROOT_DIR/build/release/apps/mothd/mothd}"
NATS_SERVER="${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
MQTT_BIND="${MQTT_BIND:-127.0.0.1}"
CHECK=0
case "${1:-}" in
    --check) CHECK=1 ;;
    "") ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "cluster-demo: unknown argument $1" >&2; exit 2 ;;
esac
for bin in "$MOTHD" "$NATS_SERVER"; do
    [[ -x "$bin" ]] || { echo "cluster-demo: $bin is not an executable (build: cmake --preset release && cmake --build --preset release; nats-server: apt install nats-server)" >&2; exit 1; }
done

if [[ "${DEMO_PORTS:-}" == free ]]; then
    # 15 ports that were free a moment ago (bound to 127.0.0.1:0 together, then closed); one taken in between makes
    # a server fail to start, which the script reports.
    read -r -a free < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(15)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
    NATS_PORTS="${free[*]:0:3}" NATS_CLUSTER_PORTS="${free[*]:3:3}" NATS_HTTP_PORTS="${free[*]:6:3}"
    MQTT_PORTS="${free[*]:9:3}" HTTP_PORTS="${free[*]:12:3}"
fi
read -r -a nats_ports <<<"${NATS_PORTS:-4222 4223 4224}"
read -r -a route_ports <<<"${NATS_CLUSTER_PORTS:-6222 6223 6224}"
read -r -a mon_ports <<<"${NATS_HTTP_PORTS:-8222 8223 8224}"
read -r -a mqtt_ports <<<"${MQTT_PORTS:-1883 1893 1903}"
read -r -a http_ports <<<"${HTTP_PORTS:-8080 8090 8100}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/moth-cluster-demo.XXXXXX")"
nats_pids=()
moth_pids=()
stop() {
    trap - INT TERM EXIT
    # mothd first (SIGTERM: its sessions are saved, its clients told), then NATS.
    for pid in "${moth_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${moth_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    for pid in "${nats_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${nats_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ "${KEEP_DIR:-0}" == 1 ]]; then echo "cluster-demo: files kept in $WORK"; else rm -rf "$WORK"; fi
}
trap 'stop; exit 130' INT TERM
trap stop EXIT

say() { printf '==> cluster-demo: %s\n' "$*"; }
fail() {
    echo "cluster-demo: $*" >&2
    for log in "$WORK"/*/*.log; do [[ -f "$log" ]] && { echo "---- $log" >&2; tail -n 12 "$log" >&2; }; done
    exit 1
}
wait_for() {  # $1: what, $2: a command that succeeds once ready, $3: a pid that must stay alive; deadline 30 s
    local deadline=$((SECONDS + 30))
    until eval "$2" >/dev/null 2>&1; do
        [[ $SECONDS -lt $deadline ]] || fail "timed out waiting for $1"
        [[ -z "${3:-}" ]] || kill -0 "$3" 2>/dev/null || fail "$1: the process exited"
        sleep 0.1  # polling interval of a condition wait
    done
}

# -- NATS: three servers with JetStream, routes to the two others, one cluster name --------------------------------
for i in 0 1 2; do
    dir="$WORK/s$((i + 1))"
    mkdir -p "$dir"
    routes=()
    for j in 0 1 2; do [[ $j -ne $i ]] && routes+=("nats://127.0.0.1:${route_ports[$j]}"); done
    "$NATS_SERVER" -a 127.0.0.1 -p "${nats_ports[$i]}" -m "${mon_ports[$i]}" --server_name "s$((i + 1))" \
        -js -sd "$dir/store" --cluster_name moth-demo --cluster "nats://127.0.0.1:${route_ports[$i]}" \
        --routes "$(IFS=,; echo "${routes[*]}")" >"$dir/nats.log" 2>&1 &
    nats_pids+=($!)
done
for i in 0 1 2; do
    # JetStream answers once the servers elected a meta leader; mothd gives up joining after connect_timeout_ms.
    wait_for "JetStream on nats-server s$((i + 1))" \
        "curl -sf http://127.0.0.1:${mon_ports[$i]}/jsz | grep -q '\"leader\"'" "${nats_pids[$i]}"
done

# -- mothd: n1, n2, n3, each with all three NATS URLs (its own server first) ----------------------------------------
for i in 0 1 2; do
    dir="$WORK/n$((i + 1))"
    mkdir -p "$dir"
    urls=()
    for k in 0 1 2; do urls+=("\"nats://127.0.0.1:${nats_ports[$(((i + k) % 3))]}\""); done
    cat >"$dir/mothd.toml" <<EOF
auth.allow_anonymous = true
data_dir = "$dir/data"
ports_file = "$dir/ports"
log_level = "info"

[cluster]
enabled = true
servers = [$(IFS=,; echo "${urls[*]}")]
node = "n$((i + 1))"
replicas = 3
prefix = "moth"
connect_timeout_ms = 15000
ack_timeout_ms = 5000
report_interval_s = 5

[[listener]]
kind = "mqtt"
bind = "$MQTT_BIND"
port = ${mqtt_ports[$i]}

[[listener]]
kind = "http"
bind = "127.0.0.1"
port = ${http_ports[$i]}
EOF
    "$MOTHD" --config "$dir/mothd.toml" >"$dir/mothd.log" 2>&1 &
    moth_pids+=($!)
done
for i in 0 1 2; do
    wait_for "mothd n$((i + 1)) to listen" "test -s $WORK/n$((i + 1))/ports" "${moth_pids[$i]}"
done

if [[ $CHECK -eq 1 ]]; then
    # A subscriber on n3; publish on n1 until it prints the message (its subscription reaches n1 through NATS).
    out="$WORK/check.out"
    mosquitto_sub -h 127.0.0.1 -p "${mqtt_ports[2]}" -t demo/check -q 1 -C 1 -W 30 >"$out" 2>"$WORK/check.err" &
    sub=$!
    deadline=$((SECONDS + 30))
    while kill -0 "$sub" 2>/dev/null && [[ $SECONDS -lt $deadline ]]; do
        mosquitto_pub -h 127.0.0.1 -p "${mqtt_ports[0]}" -t demo/check -q 1 -m "hello from n1" || true
        sleep 0.5  # paced retries until the subscription is known cluster-wide
    done
    wait "$sub" || true
    if [[ "$(cat "$out")" == "hello from n1" ]]; then
        say "check passed: published on n1 (port ${mqtt_ports[0]}), received on n3 (port ${mqtt_ports[2]})"
        exit 0
    fi
    fail "check failed: mosquitto_sub on n3 printed '$(cat "$out")' ($(cat "$WORK/check.err"))"
fi

cat <<EOF

==> cluster-demo: NATS JetStream cluster: nats://127.0.0.1:${nats_ports[0]}, :${nats_ports[1]}, :${nats_ports[2]}
==> cluster-demo: mothd n1: mqtt://$MQTT_BIND:${mqtt_ports[0]}  console http://127.0.0.1:${http_ports[0]}/
==> cluster-demo: mothd n2: mqtt://$MQTT_BIND:${mqtt_ports[1]}  console http://127.0.0.1:${http_ports[1]}/
==> cluster-demo: mothd n3: mqtt://$MQTT_BIND:${mqtt_ports[2]}  console http://127.0.0.1:${http_ports[2]}/
==> cluster-demo: try, in two terminals:
      mosquitto_sub -h $MQTT_BIND -p ${mqtt_ports[2]} -t 'demo/#' -v
      mosquitto_pub -h $MQTT_BIND -p ${mqtt_ports[0]} -t demo/hello -m 'from n1'
==> cluster-demo: files and logs in $WORK; Ctrl-C stops the cluster.

EOF
# Any process ending (or Ctrl-C) ends the demo.
wait -n "${moth_pids[@]}" "${nats_pids[@]}" || true
say "a process ended; stopping the cluster"
exit 1
