#!/usr/bin/env bash
# Builds the real-kernel test VM (issue 18), once, into $EDGETWIN_PEER_CACHE/vm-$ABI (outside the repo):
# Debian's 6.1 kernel and its modules, the gpio-sim module built out of tree (Debian does not build it),
# and a busybox initramfs that mounts the host's root read-only over 9p under a tmpfs overlay.
# Called by scripts/test-peers/50-vm.sh (test set-up, never the product's). A second run takes
# milliseconds (the stamp file). Run by hand: EDGETWIN_PEER_CACHE=... bash scripts/vm/build.sh
set -euo pipefail

# The pinned Debian bookworm packages (apt-get download; the kernel ABI and its source must match).
ABI="${EDGETWIN_VM_ABI:-6.1.0-57-amd64}"
KVER="${EDGETWIN_VM_KVER:-6.1.192-3}"
BUSYBOX_VER="1:1.35.0-4+deb12u1+b1"
CACHE="${EDGETWIN_PEER_CACHE:-$HOME/.cache/edgetwin-peers}"
VM="$CACHE/vm-$ABI"
STAMP="$VM/ready"
HERE="$(cd "$(dirname "$0")" && pwd)"
STAMP_KEY="$ABI $KVER $(cat "$HERE/build.sh" "$HERE/initramfs-init.sh" | sha256sum | cut -c1-16)"

log() { printf '[vm-build] %s\n' "$*"; }
die() { printf 'vm-build: %s\n' "$*" >&2; exit 1; }

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_KEY" ]; then exit 0; fi
start=$SECONDS
for tool in apt-get dpkg-deb depmod cpio gzip make "gcc-12"; do
  command -v "$tool" >/dev/null || die "$tool is missing (the test set-up installs it: bash scripts/test-setup.sh)"
done
mkdir -p "$VM/debs"
rm -rf "$VM/root" "$VM/build" "$VM/initramfs" "$STAMP"

log "downloading the pinned Debian packages (kernel $ABI $KVER)"
(cd "$VM/debs" && for p in "linux-image-$ABI=$KVER" "linux-headers-$ABI=$KVER" "linux-headers-${ABI%-amd64}-common=$KVER" \
  "linux-kbuild-6.1=$KVER" "linux-source-6.1=$KVER" "busybox-static=$BUSYBOX_VER"; do
  name="${p%%=*}"
  ls "${name}"_*.deb >/dev/null 2>&1 || apt-get download -qq "$p" 2>&1 | grep -v '^W: Download is performed unsandboxed' \
    || ls "${name}"_*.deb >/dev/null 2>&1 || die "apt-get download $p failed (apt-get update? is the version still in bookworm?)"
done)
for d in "$VM"/debs/{linux-image,linux-headers,linux-kbuild,busybox-static}*.deb; do dpkg-deb -x "$d" "$VM/root"; done

log "building gpio-sim from linux-source-6.1 (one time, nice -n 10)"
B="$VM/build/gpio-sim"
mkdir -p "$B"
nice -n 10 dpkg-deb --fsys-tarfile "$VM"/debs/linux-source-6.1_*.deb | tar -xO ./usr/src/linux-source-6.1.tar.xz \
  | nice -n 10 xz -dc | tar -x -C "$B" --strip-components=1 \
  linux-source-6.1/drivers/gpio/gpio-sim.c linux-source-6.1/drivers/gpio/gpiolib.h linux-source-6.1/kernel/irq/irq_sim.c
mv "$B/drivers/gpio/gpio-sim.c" "$B/gpio-sim-main.c"
mv "$B/drivers/gpio/gpiolib.h" "$B/"
# irq_sim is not built into Debian's kernel: link it into the module; irq_to_desc() is not exported to
# modules, generic_handle_irq() does the same for a simple irq
sed 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' "$B/kernel/irq/irq_sim.c" >"$B/irq_sim.c"
grep -q 'generic_handle_irq(irqnum)' "$B/irq_sim.c" || die "irq_sim.c changed upstream: the irq_to_desc patch no longer applies"
printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-main.o irq_sim.o\n' >"$B/Kbuild"
K="$VM/root/usr/src/linux-headers-$ABI"
sed -i "s|^include /usr/src/|include $VM/root/usr/src/|" "$K/Makefile"
nice -n 10 make -s -C "$K" M="$B" modules >"$B/build.log" 2>&1 || { tail -20 "$B/build.log" >&2; die "gpio-sim did not build (log: $B/build.log)"; }
mkdir -p "$VM/root/lib/modules/$ABI/extra"
cp "$B/gpio-sim.ko" "$VM/root/lib/modules/$ABI/extra/"
depmod -b "$VM/root" "$ABI"

log "building the initramfs"
I="$VM/initramfs"
mkdir -p "$I"/{bin,dev,proc,sys,lower,rw,newroot,modules}
cp "$VM/root/bin/busybox" "$I/bin/busybox"
# the modules the initramfs needs to reach the host's root, in load order
modprobe -a -d "$VM/root" -S "$ABI" --show-depends virtio_pci 9pnet_virtio 9p overlay \
  | awk '$1 == "insmod" { print $2 }' | awk '!seen[$0]++' >"$I/modules/order.abs"
while read -r m; do cp "$m" "$I/modules/"; basename "$m" >>"$I/modules/order"; done <"$I/modules/order.abs"
rm "$I/modules/order.abs"
cp "$HERE/initramfs-init.sh" "$I/init"
chmod +x "$I/init"
(cd "$I" && find . | cpio -o -H newc --quiet | gzip -1) >"$VM/initramfs.cpio.gz"
echo "$STAMP_KEY" >"$STAMP"
log "ready in $VM ($((SECONDS - start)) s)"
