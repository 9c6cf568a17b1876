#!/usr/bin/env bash
# Shared functions for the test-peer steps in this folder (sourced by scripts/test-setup.sh).
# Conventions: a peer binary lands in $EDGETWIN_PEER_CACHE/bin/NAME-VERSION; a step skips its work
# when that file exists. Build caches (Go, pip) stay outside the repo.

peer_log() { printf '[test-setup] %s\n' "$*"; }

# apt_need PKG... : installs the Debian packages that are missing (root or sudo).
apt_need() {
  local missing=() p
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  peer_log "apt: ${missing[*]}"
  if [ -z "${_EDGETWIN_APT_UPDATED:-}" ]; then $sudo apt-get update -qq; _EDGETWIN_APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# go_build_peer NAME VERSION MODULE_DIR PACKAGE [go build flags...]
#   builds PACKAGE inside the pinned Go module MODULE_DIR (in the repo) into
#   $EDGETWIN_PEER_CACHE/bin/NAME-VERSION, once.
go_build_peer() {
  local name=$1 version=$2 dir=$3 pkg=$4
  shift 4
  local out="$EDGETWIN_PEER_CACHE/bin/$name-$version"
  [ -x "$out" ] && return 0
  command -v go >/dev/null || { echo "test-setup: Go is needed to build $name (install golang)" >&2; return 1; }
  peer_log "building $name $version (one time; cached in $out)"
  (cd "$dir" && GOFLAGS=-mod=mod go build -trimpath -o "$out.tmp" "$@" "$pkg") && mv "$out.tmp" "$out"
}

# python_peers: the project-local .venv with every scripts/test-peers/python/*.txt installed, pinned.
# Reinstalls only when those files change.
python_peers() {
  local reqs=(scripts/test-peers/python/*.txt)
  [ -e "${reqs[0]}" ] || return 0
  local stamp
  stamp=$(cat "${reqs[@]}" | sha256sum | cut -c1-16)
  if [ -f .venv/.edgetwin-stamp ] && [ "$(cat .venv/.edgetwin-stamp)" = "$stamp" ]; then return 0; fi
  [ -x .venv/bin/python ] || python3 -m venv .venv
  peer_log "pip: ${reqs[*]}"
  local args=() r
  for r in "${reqs[@]}"; do args+=(-r "$r"); done
  .venv/bin/pip install -q --disable-pip-version-check "${args[@]}"
  echo "$stamp" > .venv/.edgetwin-stamp
}
