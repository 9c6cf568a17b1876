#!/usr/bin/env bash
# Installs everything edgetwin needs on a fresh Debian/Ubuntu machine with Node >= 20.19:
# the Debian tools the tests use (mosquitto for external-broker interop, socat for Modbus RTU over a
# PTY pair) and the npm packages from the lockfile. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }

node_major=$(node -p 'process.versions.node.split(".")[0]')
node_minor=$(node -p 'process.versions.node.split(".")[1]')
if [ "$node_major" -lt 20 ] || { [ "$node_major" -eq 20 ] && [ "$node_minor" -lt 19 ]; }; then
  echo "edgetwin needs Node >= 20.19 (found $(node --version))" >&2
  exit 1
fi

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || need_apt+=(mosquitto-clients)
command -v socat >/dev/null 2>&1 || need_apt+=(socat)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing Debian packages: ${need_apt[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# Native modules (better-sqlite3 and friends) fall back to building from source when no prebuilt binary can be
# downloaded; with the Node headers installed locally, node-gyp uses them instead of fetching them.
if [ -d /usr/include/node ]; then export npm_config_nodedir=/usr; fi
log "installing npm packages (npm ci; the SQLite build takes about a minute)"
npm ci --no-audit --no-fund --loglevel=error
log "done"
