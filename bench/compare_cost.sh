#!/usr/bin/env bash
# bench/compare_cost.sh: pairs and fan-out through mothd without and with some extra configuration, broker CPU per
# delivered message side by side (what a feature costs on the hot path). Used by acl_cost.sh and limits_cost.sh.
#
#   bench/compare_cost.sh RUNS "TITLE" 'EXTRA_TOML' ['EXTRA_LIMITS']
#
# EXTRA_TOML is dotted top-level TOML ("auth.acl_file = \"/x\"", several separated by newlines), EXTRA_LIMITS keys
# of the [limits] table, given to mothd through bench/peers.sh's MOTHD_EXTRA_TOML and MOTHD_EXTRA_LIMITS. Uses
# build/release's mothd and moth.
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="$1" TITLE="$2" EXTRA="$3" EXTRA_LIMITS="${4:-}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/moth-cost.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
ONLY_MOTHD=1 "$ROOT_DIR/bench/peers.sh" --only '^(pairs|fan-out)$' --runs "$RUNS" --out "$WORK/without.md"
ONLY_MOTHD=1 MOTHD_EXTRA_TOML="$EXTRA" MOTHD_EXTRA_LIMITS="$EXTRA_LIMITS" \
    "$ROOT_DIR/bench/peers.sh" --only '^(pairs|fan-out)$' --runs "$RUNS" --out "$WORK/with.md"
echo "### Without"; grep '| mothd |' "$WORK/without.md"
echo "### $TITLE"; grep '| mothd |' "$WORK/with.md"
