#!/bin/busybox sh
# The test VM's first process (issue 18): mounts the host's root (9p tag "root", read-only) under a
# tmpfs overlay so the guest can write anywhere without touching the host, mounts the writable
# results share (tag "out") at /mnt/edgetwin-out and hands over to the runner's guest.sh there.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
fail() { echo "edgetwin-vm: $*"; echo o >/proc/sysrq-trigger; sleep 5; }
while read -r m; do insmod "/modules/$m" || fail "insmod $m failed"; done </modules/order
opts=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$opts,ro,cache=loose" root /lower || fail "cannot mount the host root (9p tag root)"
mount -t tmpfs -o size=1536m tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || fail "overlay mount failed"
mkdir -p /newroot/mnt/edgetwin-out
mount -t 9p -o "$opts" out /newroot/mnt/edgetwin-out || fail "cannot mount the results share (9p tag out)"
for d in proc sys dev; do mount --move "/$d" "/newroot/$d"; done
exec switch_root /newroot /bin/sh /mnt/edgetwin-out/.vm/guest.sh
