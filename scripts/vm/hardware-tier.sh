#!/bin/sh
# The real-kernel tier, run inside the test VM (issue 18): makes a 32-line gpio-sim chip
# (gpio-sim-chip.sh), starts five btvirt controllers with the emulated SensorTag, lamp and beacon on hci1-3 for
# the BLE test (noble on hci0; bluetoothd on hci4 for the `dbus` adapter, started by the test itself once the
# raw-HCI test is done), then runs hardware-tests/ with its own vitest config; results go to
# $EDGETWIN_VM_OUT/results.json.
#   bash scripts/vm/run.sh --out DIR -- sh scripts/vm/hardware-tier.sh [vitest args]
set -eu
chip=$(sh scripts/vm/gpio-sim-chip.sh)
echo "hardware-tier: gpio-sim chip $chip (sysfs base $(cat /sys/class/gpio/gpiochip*/base | tr '\n' ' '))"
# BLE through the Pi's paths: five virtual LE controllers (BlueZ's btvirt on /dev/vhci), the emulated
# SensorTag, lamp and beacon as the hosts of hci1-3 (Bumble over HCI sockets), noble's HCI-socket binding on
# hci0, bluetoothd on hci4 (scripts/vm/bluez.sh). Not hci0 for bluetoothd: the kernel's set-up of the first
# btvirt controller often times out under TCG (its Reset goes unanswered while btvirt still makes the others),
# and a controller whose set-up failed is never announced to bluetoothd (raw HCI can still bring it up)
modprobe hci_vhci
# EDGETWIN_VM_BTMON=1: every controller's HCI traffic, the kernel's mgmt and bluetoothd's log, timestamped,
# into btmon.snoop in the results share (read it with btmon -t -r FILE)
if [ "${EDGETWIN_VM_BTMON:-}" = 1 ]; then btmon -w "${EDGETWIN_VM_OUT:-/tmp}/btmon.snoop" >/dev/null 2>&1 & fi
sh -c 'btvirt -l5; echo "btvirt exited with status $?"' >"${EDGETWIN_VM_OUT:-/tmp}/btvirt.log" 2>&1 &
wait_for() { # wait_for WHAT SECONDS COMMAND...: until the command succeeds
  what=$1 n=$(($2 * 2)); shift 2
  until "$@" 2>/dev/null; do
    n=$((n - 1)); [ "$n" -gt 0 ] || { echo "hardware-tier: timed out waiting for $what" >&2; return 1; }
    sleep 0.5
  done
}
wait_for "btvirt's hci4" 60 test -e /sys/class/bluetooth/hci4
# the kernel powers a new controller on for its set-up; Bumble's HCI user channels need them down
for i in 1 2 3; do hciconfig "hci$i" down; done
# Bumble's HCI-socket transport needs socket.AF_BLUETOOTH, which the venv's interpreter (pyenv, built
# without the Bluetooth headers) lacks: Debian's python3 of the same minor version runs the venv's packages.
# Its control line (JSON lines, for the D-Bus tests) is a FIFO it holds open itself, so it never sees an
# end of input; the VM powers off after the tests
site=$(echo .venv/lib/python3*/site-packages)
mkfifo /tmp/ble-control
(exec 3<>/tmp/ble-control; PYTHONPATH="$site" exec /usr/bin/python3 packages/simulators/python/ble_peripherals.py \
  --hci-socket 1,2,3 <&3 >/tmp/ble-peripherals.out 2>"${EDGETWIN_VM_OUT:-/tmp}/ble-peripherals.err") &
wait_for "the emulated peripherals on hci1-3" 300 grep -q '"ready"' /tmp/ble-peripherals.out || { cat "${EDGETWIN_VM_OUT:-/tmp}/ble-peripherals.err" "${EDGETWIN_VM_OUT:-/tmp}/btvirt.log" >&2; exit 1; }
EDGETWIN_HW_BLE_SENSOR=$(sed -n 's/.*"sensor": {"address": "\([0-9A-F:]*\)".*/\1/p' /tmp/ble-peripherals.out)
export EDGETWIN_HW_BLE_SENSOR EDGETWIN_HW_BLE_ADAPTER=hci0 EDGETWIN_HW_BLE_DBUS=hci4
export EDGETWIN_HW_BLE_CONTROL=/tmp/ble-control EDGETWIN_HW_BLE_EVENTS=/tmp/ble-peripherals.out
# noble needs its controller up (bluetoothd does that on a Pi); under TCG the kernel's first set-up of a
# btvirt controller can time out (2 s HCI command timeout), and bringing it up runs the set-up again
wait_for "hci0 to come up" 60 hciconfig hci0 up
echo "hardware-tier: emulated SensorTag $EDGETWIN_HW_BLE_SENSOR, lamp, beacon on hci1-3 (btvirt), noble on hci0, bluetoothd on hci4"
export EDGETWIN_GPIO_TEST_BACKEND="${EDGETWIN_GPIO_TEST_BACKEND:-libgpiod,sysfs}"
exec node node_modules/vitest/vitest.mjs run --config hardware-tests/vitest.config.ts \
  --reporter=default --reporter=json --outputFile.json="${EDGETWIN_VM_OUT:-/tmp}/results.json" "$@"
