#!/bin/sh
# The real-kernel tier, run inside the test VM (issue 18): makes a 32-line gpio-sim chip
# (gpio-sim-chip.sh), starts two btvirt controllers with the emulated SensorTag on hci1 for the BLE test, then runs
# hardware-tests/ with its own vitest config; results go to $EDGETWIN_VM_OUT/results.json.
#   bash scripts/vm/run.sh --out DIR -- sh scripts/vm/hardware-tier.sh [vitest args]
set -eu
chip=$(sh scripts/vm/gpio-sim-chip.sh)
echo "hardware-tier: gpio-sim chip $chip (sysfs base $(cat /sys/class/gpio/gpiochip*/base | tr '\n' ' '))"
# BLE through the Pi's path: two virtual LE controllers (BlueZ's btvirt on /dev/vhci), the emulated
# SensorTag as the host of hci1 (Bumble over an HCI socket), noble's HCI-socket binding on hci0
modprobe hci_vhci
btvirt -l2 >/tmp/btvirt.log 2>&1 &
wait_for() { # wait_for WHAT SECONDS COMMAND...: until the command succeeds
  what=$1 n=$(($2 * 2)); shift 2
  until "$@" 2>/dev/null; do
    n=$((n - 1)); [ "$n" -gt 0 ] || { echo "hardware-tier: timed out waiting for $what" >&2; return 1; }
    sleep 0.5
  done
}
wait_for "btvirt's hci1" 60 test -e /sys/class/bluetooth/hci1
# the kernel powers a new controller on for its set-up; Bumble's HCI user channel needs it down
hciconfig hci1 down
# its stdin stays open (a closed stdin stops it); the VM powers off after the tests
# Bumble's HCI-socket transport needs socket.AF_BLUETOOTH, which the venv's interpreter (pyenv, built
# without the Bluetooth headers) lacks: Debian's python3 of the same minor version runs the venv's packages
site=$(echo .venv/lib/python3*/site-packages)
sleep 86400 | PYTHONPATH="$site" /usr/bin/python3 packages/simulators/python/ble_peripherals.py --hci-socket 1 >/tmp/ble-sensor.out 2>/tmp/ble-sensor.err &
wait_for "the emulated sensor on hci1" 300 grep -q '"ready"' /tmp/ble-sensor.out || { cat /tmp/ble-sensor.err /tmp/btvirt.log >&2; exit 1; }
EDGETWIN_HW_BLE_SENSOR=$(sed -n 's/.*"sensor": {"address": "\([0-9A-F:]*\)".*/\1/p' /tmp/ble-sensor.out)
export EDGETWIN_HW_BLE_SENSOR EDGETWIN_HW_BLE_ADAPTER=hci0
# noble needs its controller up (bluetoothd does that on a Pi); under TCG the kernel's first set-up of a
# btvirt controller can time out (2 s HCI command timeout), and bringing it up runs the set-up again
wait_for "hci0 to come up" 60 hciconfig hci0 up
echo "hardware-tier: emulated SensorTag $EDGETWIN_HW_BLE_SENSOR on hci1 (btvirt), noble on hci0"
export EDGETWIN_GPIO_TEST_BACKEND="${EDGETWIN_GPIO_TEST_BACKEND:-libgpiod,sysfs}"
exec node node_modules/vitest/vitest.mjs run --config hardware-tests/vitest.config.ts \
  --reporter=default --reporter=json --outputFile.json="${EDGETWIN_VM_OUT:-/tmp}/results.json" "$@"
