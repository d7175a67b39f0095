#!/usr/bin/env bash
# Runs the project's tests, exactly as CI does (.ci/run execs this script):
#   1. installs missing Debian packages (scripts/install-deps.sh; a quick dpkg check when nothing is missing)
#   2. builds the web console (web/dist, which mothd embeds), then configures and builds the ci preset
#      (Debug, ASan + UBSan, -Werror)
#   3. runs the CTest tests labelled TEST_LABELS, then the integration label again on the io_uring I/O backend
#   4. builds the fuzz preset's targets (clang, libFuzzer) and runs each on a copy of its committed corpus (so the
#      corpus in git is never modified): fuzz_decoder for FUZZ_SECONDS, the others for a quarter of it
# Any failure stops the script with a non-zero exit status.
set -euo pipefail

# CTest label regex this script runs.
TEST_LABELS="${MOTH_TEST_LABELS:-unit|integration|interop|e2e|bench-smoke}"
# Length of the fuzz smoke run; 0 skips it (handy locally, never in CI).
FUZZ_SECONDS="${MOTH_FUZZ_SECONDS:-60}"
# The fuzz targets (test/fuzz/CMakeLists.txt); each runs on a copy of test/fuzz/corpus/<target>.
FUZZ_TARGETS=(decoder proxy_header config store ws_frames password_file acl jwt scram mqttsn mqttsn_gateway subject)

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT_DIR"

# ccache: hash paths relative to the checkout, so a fresh clone in another folder (as CI makes) reuses what an earlier
# build compiled; without these every object of a new clone missed the cache (about 28 of CI's minutes on 2 cores).
export CCACHE_BASEDIR="$ROOT_DIR"
export CCACHE_NOHASHDIR=1

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

# mothd serves plain TCP connections on epoll unless told otherwise (io_backend = "auto"); the integration tests
# (the real mothd over MQTT) run once more on io_uring. MOTH_IO_BACKEND replaces "auto" (docs/configuration.md).
if [[ "$TEST_LABELS" == *integration* ]]; then
    step "tests on the io_uring backend: MOTH_IO_BACKEND=io_uring ctest --preset ci -L integration"
    MOTH_IO_BACKEND=io_uring ctest --preset ci -L integration -j2 --output-on-failure --no-tests=error
fi

step "fuzz smoke: every fuzz target (fuzz preset, clang); decoder ${FUZZ_SECONDS}s, the others a quarter of it"
if [[ "$FUZZ_SECONDS" -le 0 ]]; then
    echo "skipped: MOTH_FUZZ_SECONDS=$FUZZ_SECONDS"
else
    cmake --preset fuzz
    fuzz_tmp="$(mktemp -d "${TMPDIR:-/tmp}/moth-fuzz.XXXXXX")"
    trap 'rm -rf "$fuzz_tmp"' EXIT
    for target in "${FUZZ_TARGETS[@]}"; do
        cmake --build --preset fuzz --target "fuzz_$target"
        seconds=$(( (FUZZ_SECONDS + 3) / 4 ))
        [[ "$target" == decoder ]] && seconds="$FUZZ_SECONDS"
        # A copy of the corpus, so the committed one is never modified.
        corpus="$fuzz_tmp/$target"
        mkdir -p "$corpus"
        cp -R "test/fuzz/corpus/$target"/. "$corpus"/
        artifacts="build/fuzz/artifacts/fuzz_$target"
        mkdir -p "$artifacts"
        echo "fuzz_$target: ${seconds}s on a copy of test/fuzz/corpus/$target ($(find "$corpus" -type f | wc -l) inputs); crashes go to $artifacts/"
        "build/fuzz/test/fuzz/fuzz_$target" -max_total_time="$seconds" -print_final_stats=1 \
            -artifact_prefix="$artifacts/" "$corpus"
    done
fi

step "ccache"
ccache -s

step "all passed in $((SECONDS - START)) s"
