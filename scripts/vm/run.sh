#!/usr/bin/env bash
# Runs one command in the real-kernel test VM (issue 18) and passes back its output and exit code.
#   bash scripts/vm/run.sh [--timeout SECONDS] [--out DIR] [--env NAME]... -- COMMAND [ARG...]
# The command runs as root in the current working dir, which the guest sees at the same path (the
# host's root is shared read-only under a tmpfs overlay: writes stay in the VM). --out DIR is the
# writable share, at the same path inside the VM (default: a temporary dir, removed afterwards);
# --env NAME passes the host's NAME into the VM. No network device: only the VM's own loopback.
# KVM when kvm_intel/kvm_amd is loaded, TCG (5-10x slower) otherwise. Needs scripts/vm/build.sh first.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ABI="${EDGETWIN_VM_ABI:-6.1.0-57-amd64}"
CACHE="${EDGETWIN_PEER_CACHE:-$HOME/.cache/edgetwin-peers}"
VM="$CACHE/vm-$ABI"
timeout_s=1800 out="" envs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) timeout_s=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: run.sh [--timeout S] [--out DIR] [--env NAME]... -- COMMAND..." >&2; exit 2; }
[ -f "$VM/ready" ] || { echo "vm: the test VM is not built ($VM/ready missing): run bash scripts/test-setup.sh (or bash scripts/vm/build.sh)" >&2; exit 3; }
command -v qemu-system-x86_64 >/dev/null || { echo "vm: qemu-system-x86_64 is missing: apt-get install qemu-system-x86 (bash scripts/test-setup.sh does)" >&2; exit 3; }

keep_out=1
if [ -z "$out" ]; then out=$(mktemp -d /tmp/edgetwin-vm.XXXXXX); keep_out=0; fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
share="$out/.vm"
rm -rf "$share"
mkdir -p "$share"
cp "$HERE/guest.sh" "$share/guest.sh"
{
  printf 'export PATH=%q HOME=%q EDGETWIN_VM=1\n' "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "${HOME:-/root}"
  printf 'export EDGETWIN_VM_DIR=%q EDGETWIN_VM_CWD=%q EDGETWIN_VM_OUT=%q\n' "$VM" "$PWD" "$out"
  for n in "${envs[@]}"; do [ -n "${!n+x}" ] && printf 'export %s=%q\n' "$n" "${!n}"; done
} >"$share/env"
printf '%q ' "$@" >"$share/cmd"
echo >>"$share/cmd"

accel=tcg
if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then accel=kvm; fi
cleanup() { [ "$keep_out" = 1 ] || rm -rf "$out"; }
trap cleanup EXIT
# the results share is mounted inside the VM at the same path as on the host
start=$SECONDS
set +e
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 -machine q35,accel=$accel -cpu max -smp 1 -m 2048 \
  -kernel "$VM/root/boot/vmlinuz-$ABI" -initrd "$VM/initramfs.cpio.gz" \
  -append "console=ttyS0 quiet panic=-1 loglevel=4" \
  -virtfs "local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap" \
  -virtfs "local,path=$out,mount_tag=out,security_model=none" \
  -nic none -display none -monitor none -serial "file:$share/console.log" -no-reboot </dev/null
qrc=$?
set -e
if [ ! -f "$share/rc" ]; then
  echo "vm: the command did not finish (qemu exit $qrc after $((SECONDS - start)) s; timeout ${timeout_s} s); console:" >&2
  tail -30 "$share/console.log" >&2
  exit 125
fi
cat "$share/output"
echo "vm: finished in $((SECONDS - start)) s (accel $accel)" >&2
exit "$(cat "$share/rc")"
