#!/usr/bin/env bash
# Installs every Debian 12 package Moth needs to build, test and run, and nothing else.
#
# Idempotent and fast when everything is present: it asks dpkg (a local query, no network) and only
# touches apt when something is missing. Runs as root; as another user it uses sudo, and only when it has
# to install something.
#
#   scripts/install-deps.sh            install what is missing, then print a summary
#   scripts/install-deps.sh --list     print the packages, one group per line, and exit
#   scripts/install-deps.sh --check    exit 1 (listing them) if packages are missing; installs nothing
set -euo pipefail

# --- package groups --------------------------------------------------------------------------------------------
# Compilers, build system, sanitizer/libFuzzer runtimes (libclang-rt-14-dev) and the test/benchmark frameworks.
BUILD_PKGS=(build-essential g++ clang lld cmake ninja-build ccache git pkg-config libclang-rt-14-dev
            googletest libgtest-dev libgmock-dev libbenchmark-dev)
# Libraries the broker and tools link against.
LIB_PKGS=(libboost1.81-dev libssl-dev librocksdb-dev libtomlplusplus-dev libspdlog-dev libfmt-dev libcli11-dev
          nlohmann-json3-dev libnats-dev nats-server libargon2-dev liburing-dev)
# Other MQTT implementations the interop tests run against.
INTEROP_PKGS=(mosquitto mosquitto-clients python3 python3-paho-mqtt libpaho-mqtt-dev)
# bench/peers.sh: the peer broker, certificates for the TLS connect rate, taskset to pin broker and generator.
BENCH_PKGS=(mosquitto openssl util-linux)
# Web console: front-end build (npm) and the browser the e2e tests click through.
WEB_PKGS=(nodejs npm chromium)

PKG_GROUPS=(BUILD_PKGS LIB_PKGS INTEROP_PKGS BENCH_PKGS WEB_PKGS)

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf 'install-deps: %s\n' "$*" >&2; }

all_packages() {
    local group ref
    for group in "${PKG_GROUPS[@]}"; do
        ref="${group}[@]"
        printf '%s\n' "${!ref}"
    done
}

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "need root to run: $*  (not root and sudo is not installed)"
        exit 1
    fi
}

# Prints the packages that are neither installed nor provided by an installed package. "Provided" matters:
# NodeSource's nodejs provides (and conflicts with) Debian's npm, so asking apt for npm there would try to
# replace nodejs.
missing_packages() {
    local installed provided
    installed="$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 2>/dev/null | awk '$1 == "ii" {print $2}')"
    provided="$(dpkg-query -W -f='${db:Status-Abbrev}|${Provides}\n' 2>/dev/null \
        | awk -F'|' '$1 ~ /^ii/ && $2 != "" {print $2}' | tr ',' '\n' | awk '{print $1}')"
    local pkg
    while read -r pkg; do
        if ! grep -qxF "$pkg" <<<"$installed" && ! grep -qxF "$pkg" <<<"$provided"; then
            printf '%s\n' "$pkg"
        fi
    done < <(all_packages)
}

# The package starts a mosquitto on 1883 (systemd unit or init script). Our tests run their own mosquitto
# instances, and mothd wants 1883 itself, so the system one is stopped and kept from starting at boot.
quiet_system_mosquitto() {
    dpkg-query -W -f='${db:Status-Abbrev}' mosquitto 2>/dev/null | grep -q '^ii' || return 0
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
        if systemctl is-enabled --quiet mosquitto 2>/dev/null || systemctl is-active --quiet mosquitto 2>/dev/null; then
            log "disabling the mosquitto system service (it would hold port 1883)"
            as_root systemctl disable --now mosquitto >/dev/null 2>&1 || true
        fi
        return 0
    fi
    # No systemd (containers): stop only the daemon the package started, identified by its pid file or by
    # the system config on its command line, never the instances our tests start.
    # Reads /proc directly: procps (ps, pgrep) is not on a minimal Debian.
    local candidates=() pids=() pid cmdline state
    if [[ -r /run/mosquitto/mosquitto.pid ]]; then
        candidates+=("$(cat /run/mosquitto/mosquitto.pid 2>/dev/null || true)")
    fi
    for cmdline in /proc/[0-9]*/cmdline; do
        if [[ "$(tr '\0' ' ' <"$cmdline" 2>/dev/null)" == "/usr/sbin/mosquitto -c /etc/mosquitto/mosquitto.conf"* ]]; then
            pid="${cmdline#/proc/}"
            candidates+=("${pid%/cmdline}")
        fi
    done
    # Alive, not a zombie (kill -0 succeeds on one, and a container's pid 1 may never reap it), not listed twice.
    for pid in "${candidates[@]}"; do
        [[ "$pid" =~ ^[0-9]+$ && -r /proc/$pid/stat ]] || continue
        state="$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$pid/stat" 2>/dev/null || true)"
        [[ -n "$state" && "$state" != Z && " ${pids[*]} " != *" $pid "* ]] && pids+=("$pid")
    done
    [[ ${#pids[@]} -eq 0 ]] && return 0
    log "stopping the mosquitto daemon started by the package (pid ${pids[*]}; it would hold port 1883)"
    if command -v service >/dev/null 2>&1; then
        as_root service mosquitto stop >/dev/null 2>&1 || true
    fi
    for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            as_root kill "$pid" 2>/dev/null || true
        fi
    done
    # Keep the init script from starting it again on the next boot of this machine.
    if command -v update-rc.d >/dev/null 2>&1; then
        as_root update-rc.d mosquitto disable >/dev/null 2>&1 || true
    fi
}

# ---------------------------------------------------------------------------------------------------------------
# install_npm_packages: front-end and JavaScript test dependencies from npm.
# test/nodered: Node-RED 5, Dashboard 2.0 and the Node.js 22 that runs them (Debian 12 has Node.js 18/20).
# Nothing to do in web/ (console) or test/interop/ / test/e2e/ (MQTT.js, playwright-core) until they get a package.json.
# Uses the lock file (npm ci) and skips a directory whose last npm ci (a stamp in node_modules) is newer than it.
# Runs as the user who invoked sudo, so node_modules in the checkout is not owned by root.
# ---------------------------------------------------------------------------------------------------------------
NPM_DIRS=(web test/interop test/e2e test/nodered)
install_npm_packages() {
    local dir
    for dir in "${NPM_DIRS[@]}"; do
        local abs="$ROOT_DIR/$dir"
        [[ -f "$abs/package.json" ]] || continue
        if [[ ! -f "$abs/package-lock.json" ]]; then
            log "npm: $dir/package.json has no package-lock.json; run 'npm install' there and commit the lock file"
            exit 1
        fi
        local stamp="$abs/node_modules/.moth-npm-ci"
        if [[ -f "$stamp" && "$stamp" -nt "$abs/package-lock.json" ]]; then
            NPM_SUMMARY+=("$dir: up to date")
            continue
        fi
        log "npm: installing $dir (npm ci)"
        local runner=()
        if [[ $EUID -eq 0 && -n "${SUDO_USER:-}" && "${SUDO_USER}" != root ]]; then
            runner=(sudo -u "$SUDO_USER" -H)
        fi
        (cd "$abs" && "${runner[@]}" npm ci --no-audit --no-fund)
        "${runner[@]}" mkdir -p "$abs/node_modules"
        "${runner[@]}" touch "$stamp"
        NPM_SUMMARY+=("$dir: installed")
    done
}

main() {
    case "${1:-}" in
        --list)
            local group ref
            for group in "${PKG_GROUPS[@]}"; do
                ref="${group}[*]"
                printf '%-9s %s\n' "${group%_PKGS}" "${!ref}"
            done
            return 0 ;;
        --check)
            local missing
            missing="$(missing_packages)"
            if [[ -n "$missing" ]]; then
                log "missing: $(tr '\n' ' ' <<<"$missing")"
                return 1
            fi
            log "all $(all_packages | wc -l) packages present"
            return 0 ;;
        "") ;;
        *) log "usage: $0 [--list|--check]"; return 2 ;;
    esac

    local start=$SECONDS total missing
    total="$(all_packages | wc -l)"
    mapfile -t missing < <(missing_packages)
    if [[ ${#missing[@]} -eq 0 ]]; then
        PKG_SUMMARY="all $total packages already present (apt not used)"
    else
        log "missing ${#missing[@]} of $total packages: ${missing[*]}"
        as_root apt-get update
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
        local still
        still="$(missing_packages)"
        if [[ -n "$still" ]]; then
            log "still missing after apt-get install: $(tr '\n' ' ' <<<"$still")"
            exit 1
        fi
        PKG_SUMMARY="installed ${#missing[@]} package(s): ${missing[*]}; all $total present"
    fi

    quiet_system_mosquitto

    NPM_SUMMARY=()
    install_npm_packages

    log "summary: $PKG_SUMMARY"
    if [[ ${#NPM_SUMMARY[@]} -eq 0 ]]; then
        log "summary: npm: no package.json in ${NPM_DIRS[*]} yet, nothing to install"
    else
        log "summary: npm: ${NPM_SUMMARY[*]}"
    fi
    log "summary: done in $((SECONDS - start)) s"
}

main "$@"
