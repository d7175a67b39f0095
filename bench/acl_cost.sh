#!/usr/bin/env bash
# bench/acl_cost.sh: what an ACL costs on the hot path (issue 18): pairs and fan-out through mothd without an ACL and
# with a 1,000-rule acl_file (100 users x 10 topics, plus the anonymous section the bench clients fall under, whose
# grant is its last line), broker CPU per delivered message side by side. Every delivery is checked for read access
# (cached per session and topic) and every PUBLISH for write.
#
#   bench/acl_cost.sh [--runs N]        (default 3; about 2 minutes per run)
#
# Uses bench/compare_cost.sh (bench/peers.sh with ONLY_MOTHD=1, MOTHD_EXTRA_TOML) and build/release's mothd and moth.
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS=3
[[ "${1:-}" == --runs ]] && RUNS="$2"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/moth-acl-cost.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
ACL="$WORK/acl"
{
    echo "# anonymous clients (moth bench): nine rules that do not match, then the grant"
    for i in $(seq 1 9); do echo "topic read other$i/#"; done
    echo "topic readwrite bench/#"
    for u in $(seq -w 1 100); do
        echo "user user$u"
        for t in $(seq 0 9); do echo "topic readwrite users/user$u/thing$t/#"; done
    done
} >"$ACL"
echo "acl_cost.sh: $(grep -c '^topic' "$ACL") rules" >&2
"$ROOT_DIR/bench/compare_cost.sh" "$RUNS" "With the 1,000-rule ACL" "auth.acl_file = \"$ACL\""
