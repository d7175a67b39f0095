#!/usr/bin/env bash
# Demo on a fresh Debian 12: installs what is missing, builds the release preset, and runs the broker in the
# foreground with its embedded defaults (no config file). Stop it with Ctrl-C.
#
#   sudo ./scripts/demo.sh
#
# Root is needed only to install packages. Under sudo, the build and the broker run as the user who called
# sudo (when that user owns the checkout), so build/ does not end up owned by root.
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT_DIR"
MOTHD=build/release/apps/mothd/mothd

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

log "3/3 starting the broker: $MOTHD (embedded defaults, no config file); Ctrl-C stops it"
log "web console: http://localhost:8080/ (client), /dashboard/, /monitor/"
exec "${as_user[@]}" "$MOTHD"
