#!/usr/bin/env bash
# bench/limits_cost.sh: what the abuse limits cost when they are not reached (issue 19): pairs and fan-out through
# mothd with publish rates, connection rates and flapping detection enabled but far above the load (every PUBLISH
# charges two token buckets, every CONNECT asks the gate), against the defaults (rates off; flapping detection is
# on by default and stays on in both), broker CPU per delivered message side by side.
#
#   bench/limits_cost.sh [--runs N]        (default 3; about 2 minutes per run)
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS=3
[[ "${1:-}" == --runs ]] && RUNS="$2"
"$ROOT_DIR/bench/compare_cost.sh" "$RUNS" "With publish and connection rates (not reached)" "" \
    'publish_rate = 10000000
publish_byte_rate = 10000000000
connection_rate = 100000
connection_rate_per_address = 100000'
