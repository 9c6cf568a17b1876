# Browser tests of the web console (issue 16): Debian's Chromium and fonts, driven by playwright-core
# (pinned in package.json; never `npx playwright install`: no browser downloads). About 20 s the first time.
# Also builds the console (packages/console/dist) so the tests serve the current sources.
apt_need chromium fonts-liberation fonts-noto-color-emoji
peer_log "building the web console (vite)"
npm run build -w @edgetwin/console --silent >/dev/null
