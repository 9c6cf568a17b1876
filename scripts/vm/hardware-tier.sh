#!/bin/sh
# The real-kernel tier, run inside the test VM (issue 18): makes a 32-line gpio-sim chip (BCM-like
# numbering 0-31, so the Raspberry Pi examples' pins exist), loads hci_vhci for the BLE tests, then runs
# hardware-tests/ with its own vitest config; results go to $EDGETWIN_VM_OUT/results.json.
#   bash scripts/vm/run.sh --out DIR -- sh scripts/vm/hardware-tier.sh [vitest args]
set -eu
modprobe gpio-sim
cfg=/sys/kernel/config/gpio-sim/edgetwin
mkdir "$cfg" "$cfg/bank0"
echo 32 >"$cfg/bank0/num_lines"
echo edgetwin-sim >"$cfg/bank0/label"
echo 1 >"$cfg/live"
echo "hardware-tier: gpio-sim chip $(cat "$cfg/bank0/chip_name") ($(cat /sys/class/gpio/gpiochip*/base | tr '\n' ' ')sysfs base)"
modprobe hci_vhci
export EDGETWIN_GPIO_TEST_BACKEND="${EDGETWIN_GPIO_TEST_BACKEND:-libgpiod,sysfs}"
exec node node_modules/vitest/vitest.mjs run --config hardware-tests/vitest.config.ts \
  --reporter=default --reporter=json --outputFile.json="${EDGETWIN_VM_OUT:-/tmp}/results.json" "$@"
