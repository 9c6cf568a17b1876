#!/bin/sh
# Inside the test VM (issue 12, the BLE driver's `dbus` adapter): a system D-Bus (Debian's dbus-daemon with
# its own system.conf and BlueZ's policy in /etc/dbus-1/system.d/bluetooth.conf) and bluetoothd owning hciN,
# as on a Raspberry Pi where bluetoothd keeps the controller. Waits until BlueZ has the adapter powered on,
# then prints "bluez: hciN powered (dbus-daemon PID, bluetoothd PID)". Stop them with: kill PID PID.
#   sh scripts/vm/bluez.sh [N]     (default 0)
set -eu
n=${1:-0}
mkdir -p /run/dbus
rm -f /run/dbus/pid /run/dbus/system_bus_socket
# a fresh bluetoothd each time, as on a new VM: no devices remembered from an earlier start
rm -rf /var/lib/bluetooth/*
dbus-daemon --system --fork --print-pid >/tmp/dbus-daemon.pid
# -n: stay in the foreground; AutoEnable (Debian's default) powers hciN on. Its log (and how it ended) goes
# to the results share when there is one, so a failed run can be read afterwards
log=${EDGETWIN_VM_OUT:-/tmp}/bluetoothd.log
echo "--- bluetoothd started at $(cut -d' ' -f1 /proc/uptime) s (VM uptime)" >>"$log"
sh -c '/usr/sbin/bluetoothd -n -d; echo "bluetoothd exited with status $?"' >>"$log" 2>&1 &
i=0
until bt=$(pgrep -x bluetoothd); do
  i=$((i + 1)); [ "$i" -lt 20 ] || { echo "bluez: bluetoothd did not start" >&2; cat "$log" >&2; exit 1; }
  sleep 0.5
done
powered() {
  dbus-send --system --print-reply --dest=org.bluez "/org/bluez/hci$n" org.freedesktop.DBus.Properties.Get \
    string:org.bluez.Adapter1 string:Powered 2>/dev/null | grep -q 'boolean true'
}
i=0
until powered; do
  i=$((i + 1))
  if [ "$i" -gt 120 ] || ! kill -0 "$bt" 2>/dev/null; then
    echo "bluez: hci$n not powered on in BlueZ after 60 s; bluetoothd's log:" >&2
    tail -20 "$log" >&2
    exit 1
  fi
  sleep 0.5
done
echo "bluez: hci$n powered ($(cat /tmp/dbus-daemon.pid) $bt)"
