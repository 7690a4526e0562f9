#!/usr/bin/env bash
# Boots the guest built by build-guest.sh with its serial console on standard output; the
# guest runs its test (init.sh) and powers off, which ends qemu.
#
#   tests/qemu/boot.sh OUT_DIR
#
# TCG by default (no /dev/kvm here); AUTHSIM_QEMU_ACCEL=kvm uses KVM where it exists.
# AUTHSIM_QEMU_MEM sets the guest's RAM in MiB (default 512). AUTHSIM_QEMU_HOSTROOT=1 shares
# the host's root directory read-only with the guest over virtio-9p (mount tag hostroot), for
# the browser guest, which runs Chromium from it.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out=$1
bios=/usr/share/qemu/qboot.rom
for f in "$out/vmlinuz" "$out/initramfs.cpio"; do
  [ -f "$f" ] || { echo "boot: $f is missing; run tests/qemu/build-guest.sh first" >&2; exit 2; }
done
if ! command -v qemu-system-x86_64 >/dev/null 2>&1 || [ ! -f "$bios" ]; then
  echo "boot: qemu-system-x86_64 or $bios is missing: sudo apt-get install qemu-system-x86 qemu-system-data" >&2
  exit 3
fi
case ${AUTHSIM_QEMU_ACCEL:-tcg} in
  kvm) accel=(-accel kvm -cpu host) ;;
  *) accel=(-accel tcg,thread=multi -cpu max) ;;
esac
extra=()
if [ "${AUTHSIM_QEMU_HOSTROOT:-0}" = 1 ]; then
  extra+=(-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap)
fi
exec qemu-system-x86_64 "${accel[@]}" \
  -bios "$bios" -M q35 -m "${AUTHSIM_QEMU_MEM:-512}" -smp 2 \
  -nodefaults -display none -no-reboot \
  -serial stdio -monitor none \
  -device virtio-rng-pci "${extra[@]}" \
  -kernel "$out/vmlinuz" -initrd "$out/initramfs.cpio" \
  -append "console=ttyS0 panic=-1 quiet loglevel=3"
