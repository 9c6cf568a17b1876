#!/usr/bin/env bash
# Installs everything edgetwin needs on a fresh Debian/Ubuntu machine with Node >= 20.19:
# the Debian tools the tests use (mosquitto for external-broker interop, socat for Modbus RTU over a
# PTY pair), libgpiod's headers (the GPIO mapper's default backend, node-libgpiod, builds against them at
# install) and the npm packages from the lockfile. Safe to run again.
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
# without the headers, npm ci silently drops the optional node-libgpiod and a gateway's GPIO devices fail
# with "GPIO backend libgpiod unavailable" (issue 18)
dpkg-query -W -f='${Status}' libgpiod-dev 2>/dev/null | grep -q 'install ok installed' || need_apt+=(libgpiod-dev)
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

# A gateway (a machine with GPIO chips) must end with a working default GPIO backend, or be told why not.
if ! node -e "require('node-libgpiod')" 2>/dev/null; then
  found=$(dpkg-query -W -f='${Version}' libgpiod-dev 2>/dev/null || echo none)
  if compgen -G '/dev/gpiochip*' >/dev/null; then
    echo "setup: this machine has GPIO chips but the default GPIO backend (libgpiod) did not build:" >&2
    echo "  node-libgpiod 0.5.3 needs libgpiod 1.x headers (Debian 12 / Raspberry Pi OS bookworm:" >&2
    echo "  sudo apt-get install libgpiod-dev, then run this script again); libgpiod-dev found: $found." >&2
    echo "  Or give your GPIO devices backend: sysfs (docs/gpio.md)." >&2
    exit 1
  fi
  log "note: GPIO backend libgpiod not built (libgpiod-dev $found); no GPIO chip here, so only sysfs/simulated matter"
fi
log "done"
