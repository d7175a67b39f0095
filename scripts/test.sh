#!/usr/bin/env bash
# Runs the project's tests, exactly as CI does (.ci/run execs this script):
#   1. installs missing Debian packages (scripts/install-deps.sh; a quick dpkg check when nothing is missing)
#   2. builds the web console (web/dist, which mothd embeds), then configures and builds the ci preset
#      (Debug, ASan + UBSan, -Werror)
#   3. runs the CTest tests labelled TEST_LABELS
#   4. builds the fuzz preset's fuzz_decoder (clang, libFuzzer) and runs it for FUZZ_SECONDS on a copy of the
#      committed corpus, so the corpus in git is never modified
# Any failure stops the script with a non-zero exit status.
set -euo pipefail

# CTest label regex this script runs.
TEST_LABELS="${MOTH_TEST_LABELS:-unit|integration|interop|e2e|bench-smoke}"
# Length of the fuzz smoke run; 0 skips it (handy locally, never in CI).
FUZZ_SECONDS="${MOTH_FUZZ_SECONDS:-60}"
FUZZ_TARGET=fuzz_decoder
FUZZ_CORPUS=test/fuzz/corpus/decoder

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT_DIR"

START=$SECONDS
step() { printf '\n==> [%4ds] %s\n' "$((SECONDS - START))" "$*"; }

step "dependencies: scripts/install-deps.sh"
scripts/install-deps.sh

step "web console: npm run build in web/ (mothd embeds web/dist)"
(cd web && npm run build)

step "configure and build: ci preset (Debug, ASan + UBSan, warnings as errors)"
cmake --preset ci
cmake --build --preset ci

step "tests: ctest --preset ci -L '$TEST_LABELS'"
ctest --preset ci -L "$TEST_LABELS" -j2 --output-on-failure --no-tests=error

step "fuzz smoke: $FUZZ_TARGET for ${FUZZ_SECONDS}s (fuzz preset, clang)"
if [[ "$FUZZ_SECONDS" -le 0 ]]; then
    echo "skipped: MOTH_FUZZ_SECONDS=$FUZZ_SECONDS"
else
    cmake --preset fuzz
    # Captured first: grep -q closing the pipe early would fail the pipeline under pipefail.
    fuzz_targets="$(cmake --build --preset fuzz --target help)"
    if grep -q "^${FUZZ_TARGET}:" <<<"$fuzz_targets"; then
        cmake --build --preset fuzz --target "$FUZZ_TARGET"
        corpus="$(mktemp -d "${TMPDIR:-/tmp}/moth-fuzz-corpus.XXXXXX")"
        trap 'rm -rf "$corpus"' EXIT
        if [[ -d "$FUZZ_CORPUS" ]]; then
            cp -R "$FUZZ_CORPUS"/. "$corpus"/
        fi
        artifacts="build/fuzz/artifacts/$FUZZ_TARGET"
        mkdir -p "$artifacts"
        echo "corpus: copy of $FUZZ_CORPUS ($(find "$corpus" -type f | wc -l) inputs) in $corpus; crashes go to $artifacts/"
        "build/fuzz/test/fuzz/$FUZZ_TARGET" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
            -artifact_prefix="$artifacts/" "$corpus"
    else
        echo "skipped: the fuzz preset has no target $FUZZ_TARGET yet"
    fi
fi

step "ccache"
ccache -s

step "all passed in $((SECONDS - START)) s"
