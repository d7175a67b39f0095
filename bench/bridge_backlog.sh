#!/usr/bin/env bash
# bench/bridge_backlog.sh: issue 21's backlog bound: a bridge with max_queued_bytes = 1 GiB and drop_oldest, its
# remote down, 2 GiB offered locally (16 KiB QoS 1 messages): mothd's RSS stays under 200 MB. It runs the interop
# test test_bridge_store_forward.Backlog.test_drop_oldest_bounded at that size against a release mothd and prints
# one result line; the same test runs in CI at 64 MiB of 128 MiB on the Debug + ASan build.
#
#   bench/bridge_backlog.sh [LIMIT_MIB [OFFERED_MIB [RSS_MB]]]     defaults: 1024 2048 200
#
# Environment: MOTHD (default build/release/apps/mothd/mothd; build: cmake --preset release &&
# cmake --build --preset release --target mothd), PYTHON (default /usr/bin/python3, the one with paho-mqtt).
# Needs about 3 GiB free under $TMPDIR (the stores of both brokers). Exit status: the test's.
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOTHD="${MOTHD:-$ROOT_DIR/build/release/apps/mothd/mothd}"
PYTHON="${PYTHON:-/usr/bin/python3}"
LIMIT_MIB="${1:-1024}"; OFFERED_MIB="${2:-2048}"; RSS_MB="${3:-200}"
[[ -x "$MOTHD" ]] || { echo "no mothd at $MOTHD (set MOTHD or build the release preset)" >&2; exit 2; }
MOTHD="$(realpath "$MOTHD")"  # the test runs in test/interop

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
(cd "$ROOT_DIR/test/interop" && MOTHD="$MOTHD" PYTHONDONTWRITEBYTECODE=1 \
  MOTH_BRIDGE_BACKLOG_LIMIT=$((LIMIT_MIB << 20)) MOTH_BRIDGE_BACKLOG_OFFERED=$((OFFERED_MIB << 20)) \
  MOTH_BRIDGE_RSS_MB="$RSS_MB" MOTH_BRIDGE_RSS_GROWTH_MB="$RSS_MB" MOTH_BRIDGE_DELIVERY_S=1800 \
  "$PYTHON" -m unittest -v test_bridge_store_forward.Backlog.test_drop_oldest_bounded) >"$log" 2>&1
rc=$?
set -e
line="$(grep -o 'VmRSS before.*arrived' "$log" | tail -1 || true)"
if [[ $rc -eq 0 ]]; then verdict=PASS; else verdict=FAIL; tail -40 "$log" >&2; fi
echo "result: bridge backlog ${LIMIT_MIB} MiB of ${OFFERED_MIB} MiB offered, RSS bound ${RSS_MB} MB: ${line:-no measurement} -> $verdict"
exit $rc
