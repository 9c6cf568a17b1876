# The real-kernel test tier (issue 18): QEMU, Debian's 6.1 kernel with gpio-sim built out of tree, and a
# busybox initramfs (scripts/vm/build.sh, cached in $EDGETWIN_PEER_CACHE/vm-*). The guest runs on the
# host's root read-only, so the tools the tier uses inside the VM are installed here: libgpiod's gpiod
# tools and headers (node-libgpiod is built against them), BlueZ with btvirt (bluez-test-tools), and
# bluetoothd with the system dbus-daemon (the BLE `dbus` adapter's run, scripts/vm/bluez.sh).
apt_need qemu-system-x86 kmod cpio xz-utils gcc-12 make gpiod libgpiod-dev bluez bluez-test-tools dbus
bash scripts/vm/build.sh
# npm drops the optional node-libgpiod build when libgpiod-dev was missing at install time (or keeps its
# sources without the binary, in a tree installed earlier): build it now that the headers are here
if ! node -e "require('node-libgpiod')" 2>/dev/null; then
  peer_log "node-libgpiod: building against libgpiod-dev"
  if [ -d node_modules/node-libgpiod ]; then
    npm_config_nodedir=/usr npm rebuild node-libgpiod --loglevel=error
  else
    npm_config_nodedir=/usr npm install --no-audit --no-fund --loglevel=error
  fi
  node -e "require('node-libgpiod')" || { echo "test-setup: node-libgpiod still does not load" >&2; return 1; }
fi
