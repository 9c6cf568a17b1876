#!/bin/sh
# Runs inside the test VM after the initramfs (issue 18): the rest of a small system (tmpfs, devpts,
# the VM's kernel modules, loopback), then the runner's command in its working dir. The command's
# output and exit code go back to the host through the writable share; then the VM powers off.
OUT=/mnt/edgetwin-out/.vm
. "$OUT/env"
# a fresh /tmp, unless the working dir is under it (CI clones into /tmp): a tmpfs there would hide the
# project; the root overlay keeps the host's /tmp writable inside the VM anyway
case "$EDGETWIN_VM_CWD/" in /tmp/*) ;; *) mount -t tmpfs -o size=512m tmpfs /tmp ;; esac
mount -t tmpfs tmpfs /run
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# the guest kernel's modules (with gpio-sim) live in the test cache: modprobe finds them at /lib/modules
mkdir -p /lib/modules
mount --bind "$EDGETWIN_VM_DIR/root/lib/modules" /lib/modules
mount -t configfs configfs /sys/kernel/config 2>/dev/null || { modprobe configfs && mount -t configfs configfs /sys/kernel/config; }
ip link set lo up
# the results share at the same path as on the host
mkdir -p "$EDGETWIN_VM_OUT" && mount --bind /mnt/edgetwin-out "$EDGETWIN_VM_OUT"
hostname edgetwin-vm
echo "edgetwin-vm: up in $(cut -d' ' -f1 /proc/uptime) s, running in $EDGETWIN_VM_CWD" >/dev/console
cd "$EDGETWIN_VM_CWD" && /bin/sh "$OUT/cmd" >"$OUT/output" 2>&1
echo $? >"$OUT/rc.tmp"
mv "$OUT/rc.tmp" "$OUT/rc"
sync
echo o >/proc/sysrq-trigger
