#!/usr/bin/env bash
# Test set-up (never the product's): installs and builds the third-party peers the tests start
# (DESIGN.md decision 9). `npm test` runs it first (the `pretest` script), so the README's test
# command still does all of the set-up on a fresh machine. Each peer is one file in
# scripts/test-peers/, run in name order; each builds once and caches outside the repo
# (EDGETWIN_PEER_CACHE, default ~/.cache/edgetwin-peers), so a second run takes seconds.
# Python peers go into the project-local virtualenv .venv, pinned by scripts/test-peers/python/*.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
export EDGETWIN_PEER_CACHE="${EDGETWIN_PEER_CACHE:-$HOME/.cache/edgetwin-peers}"
mkdir -p "$EDGETWIN_PEER_CACHE/bin"
# shellcheck source=test-peers/lib.sh
. scripts/test-peers/lib.sh
for step in scripts/test-peers/[0-9]*.sh; do
  [ -e "$step" ] || continue
  peer_log "$(basename "$step")"
  # shellcheck disable=SC1090
  . "$step"
done
peer_log "done ($SECONDS s)"
