#!/usr/bin/env bash
# Demo on a fresh Debian 12: installs what is missing, builds the release preset, and runs the broker with its
# embedded defaults (no config file) together with the course's ESP32 sketch (examples/esp32-dht11) as a virtual
# device publishing to it. Watch the readings with `moth sub -t 'mytopic/#' -v`. Ctrl-C stops both.
#
#   sudo ./scripts/demo.sh
#
# Root is needed only to install packages. Under sudo, the build and the broker run as the user who called
# sudo (when that user owns the checkout), so build/ does not end up owned by root.
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT_DIR"
MOTHD=build/release/apps/mothd/mothd
MOTH=build/release/apps/moth/moth
SKETCH=examples/esp32-dht11/esp32-dht11.ino

log() { printf '\n==> demo: %s\n' "$*"; }

as_user=()
if [[ $EUID -eq 0 && -n "${SUDO_USER:-}" && "$SUDO_USER" != root && "$(stat -c %U .)" == "$SUDO_USER" ]]; then
    as_user=(sudo -u "$SUDO_USER" -H --)
fi

log "1/3 installing missing Debian packages (scripts/install-deps.sh)"
scripts/install-deps.sh

log "2/3 building the web console (web/dist), then configuring and building the release preset${as_user:+ as $SUDO_USER}"
(cd web && "${as_user[@]}" npm run build)
"${as_user[@]}" cmake --preset release
"${as_user[@]}" cmake --build --preset release

log "3/3 starting the broker ($MOTHD, embedded defaults) and the course's sketch as a virtual device"
run_dir="$(mktemp -d)"
[[ ${#as_user[@]} -gt 0 ]] && chown "$SUDO_USER" "$run_dir"
pids=()
stop() {
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$run_dir"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

"${as_user[@]}" "$MOTHD" --ports-file "$run_dir/ports" &
pids+=($!)
for _ in $(seq 150); do  # up to 15 s for the broker to listen
    [[ -s "$run_dir/ports" ]] && break
    if ! kill -0 "${pids[0]}" 2>/dev/null; then
        echo "demo: mothd did not start (is port 1883 taken by another broker?)" >&2
        exit 1
    fi
    sleep 0.1
done
[[ -s "$run_dir/ports" ]] || { echo "demo: mothd is not listening after 15 s" >&2; exit 1; }

cat <<EOF

==> demo: the broker listens on 1883 (MQTT), 8883 (TLS), 8000 (WebSocket) and 8884 (secure WebSocket).
==> demo: web console: http://localhost:8080/ (client), /dashboard/, /monitor/
==> demo: the virtual ESP32 (client id TEST) publishes every 5 s to mytopic/temp and mytopic/humid; its serial
          monitor follows. In another terminal:  $MOTH sub -t 'mytopic/#' -v
==> demo: Ctrl-C stops the device (the broker publishes its will on TestClient/lastwill) and the broker.

EOF
"${as_user[@]}" "$MOTH" device "$SKETCH" --broker 127.0.0.1:1883 &
pids+=($!)
# Either one ending (or Ctrl-C) ends the demo.
wait -n "${pids[@]}" || true
