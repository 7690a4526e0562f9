#!/usr/bin/env bash
# Builds the qemu guest for the real-kernel uhid test: a Debian cloud kernel (which has
# CONFIG_UHID=m) and an uncompressed busybox initramfs holding the uhid/hid modules, the
# program under test (the authsim binary: `authsim daemon` and its CLI clients), the tiny
# CTAPHID client tests/qemu/hidclient.rs (built by the caller), fido2-tools, all with their
# shared libraries, and tests/qemu/init.sh as /init.
#
#   tests/qemu/build-guest.sh OUT_DIR AUTHSIM HIDCLIENT
#
# AUTHSIM_QEMU_GUEST=browser builds the browser guest instead (tests/browser_qemu.rs): the
# virtio-9p modules too, so that it can mount the host's root read-only (boot.sh with
# AUTHSIM_QEMU_HOSTROOT=1) and run Chromium and Python from there, and
# tests/qemu/browser-init.sh as /init with the page and server of tests/qemu/browser/.
#
# Writes OUT_DIR/vmlinuz and OUT_DIR/initramfs.cpio. The kernel package is fetched once with
# `apt-get download` and cached, keyed by package and version, under
# ${AUTHSIM_QEMU_CACHE:-OUT_DIR/../kernel-cache}; set AUTHSIM_QEMU_KERNEL_DEB=/path/to.deb to
# use a given linux-image package instead (offline). Exits 3 naming the Debian packages to
# install when a tool is missing.
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 OUT_DIR AUTHSIM HIDCLIENT" >&2
  exit 2
fi
out=$1
authsim=$2
hidclient=$3
here=$(cd "$(dirname "$0")" && pwd)

# Bump when the cached layout or the module list changes.
cache_format=2
# Modules to load, in any order (dependencies are added and sorted below): uhid itself,
# hid-generic (without it no hidraw node appears), and virtio-rng for guest entropy.
wanted_modules=(uhid hid_generic virtio_pci virtio_rng)
guest=${AUTHSIM_QEMU_GUEST:-fido}
case $guest in
  fido) init_script=init.sh; kind=; meta=linux-image-cloud-amd64 ;;
  # 9p over virtio for the host's root: the cloud kernel has no 9p (CONFIG_NET_9P is not
  # set), Debian's generic kernel has it as modules. The kind keys the cached module set.
  browser)
    init_script=browser-init.sh; kind=.browser; meta=linux-image-amd64
    wanted_modules+=(9p 9pnet_virtio)
    ;;
  *) echo "build-guest: AUTHSIM_QEMU_GUEST must be fido or browser, not $guest" >&2; exit 2 ;;
esac

# --- tools -------------------------------------------------------------------------------
missing=()
need() { # need COMMAND-OR-PATH PACKAGE
  if [[ $1 == /* ]]; then [ -e "$1" ] || missing+=("$1 (package $2)")
  else command -v "$1" >/dev/null 2>&1 || missing+=("$1 (package $2)"); fi
}
need busybox busybox-static
need cpio cpio
need modinfo kmod
need fido2-token fido2-tools
need fido2-cred fido2-tools
need fido2-assert fido2-tools
need ldd libc-bin
need base64 coreutils
if [ -z "${AUTHSIM_QEMU_KERNEL_DEB:-}" ]; then
  need apt-get apt
  need apt-cache apt
fi
need dpkg-deb dpkg
if command -v busybox >/dev/null 2>&1 && ldd "$(command -v busybox)" >/dev/null 2>&1; then
  missing+=("a static busybox: $(command -v busybox) is dynamically linked (package busybox-static)")
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "build-guest: missing tools:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  echo "install them with: sudo apt-get install qemu-system-x86 qemu-system-data busybox-static cpio kmod fido2-tools (or: make deps)" >&2
  exit 3
fi
for p in "$authsim" "$hidclient"; do
  if [ ! -x "$p" ]; then
    echo "build-guest: $p is not an executable file" >&2
    exit 2
  fi
done

mkdir -p "$out"
out=$(cd "$out" && pwd)
cache=${AUTHSIM_QEMU_CACHE:-$out/../kernel-cache}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# --- kernel and modules (cached) ---------------------------------------------------------
if [ -n "${AUTHSIM_QEMU_KERNEL_DEB:-}" ]; then
  deb_key=$(basename "$AUTHSIM_QEMU_KERNEL_DEB" .deb)
else
  pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
  if [ -z "$pkg" ]; then
    echo "build-guest: apt does not know $meta; run 'sudo apt-get update' (or set AUTHSIM_QEMU_KERNEL_DEB)" >&2
    exit 3
  fi
  ver=$(apt-cache show --no-all-versions "$pkg" | awk '/^Version:/ { print $2; exit }')
  deb_key=${pkg}_${ver}
fi
kdir=$cache/${deb_key}.v$cache_format$kind
if [ ! -f "$kdir/complete" ]; then
  echo "build-guest: preparing kernel $deb_key in $kdir"
  tmp=$(mktemp -d "$cache/tmp.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  if [ -n "${AUTHSIM_QEMU_KERNEL_DEB:-}" ]; then
    deb=$AUTHSIM_QEMU_KERNEL_DEB
  else
    # apt-get download writes to the current directory; _apt may not be able to, which
    # apt reports as a harmless warning when run as root.
    (cd "$tmp" && apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
    deb=$(ls "$tmp"/*.deb 2>/dev/null | head -1)
    if [ -z "$deb" ]; then
      echo "build-guest: 'apt-get download $pkg' fetched nothing (network? 'sudo apt-get update'?)" >&2
      exit 3
    fi
  fi
  dpkg-deb -x "$deb" "$tmp/x"
  vmlinuz=$(ls "$tmp"/x/boot/vmlinuz-* | head -1)
  moddir=$(ls -d "$tmp"/x/lib/modules/* | head -1)
  mkdir -p "$tmp/k/modules"
  cp "$vmlinuz" "$tmp/k/vmlinuz"
  basename "$moddir" > "$tmp/k/release"

  # Index every module by its name (dashes and underscores are the same to the kernel).
  declare -A path_of=()
  while IFS= read -r f; do
    name=$(basename "$f"); name=${name%%.ko*}; name=${name//-/_}
    path_of[$name]=$f
  done < <(find "$moddir" -name '*.ko*')
  # Depth-first over the dependencies: each module after everything it needs.
  declare -A seen=()
  order=()
  visit() {
    local m=${1//-/_}
    [ -n "${seen[$m]:-}" ] && return 0
    seen[$m]=1
    local f=${path_of[$m]:-}
    if [ -z "$f" ]; then
      # Built into this kernel (modules.builtin) is as good as loaded.
      if grep -q "/${m//_/[-_]}\.ko\$" "$moddir/modules.builtin" 2>/dev/null; then return 0; fi
      echo "build-guest: module $m not found in $deb_key" >&2
      exit 3
    fi
    local deps d
    deps=$(modinfo -F depends "$f")
    for d in ${deps//,/ }; do visit "$d"; done
    order+=("$m")
  }
  for m in "${wanted_modules[@]}"; do visit "$m"; done
  for m in "${order[@]}"; do
    f=${path_of[$m]}
    case $f in
      *.ko) cp "$f" "$tmp/k/modules/$m.ko" ;;
      *.ko.xz) xz -dc "$f" > "$tmp/k/modules/$m.ko" ;;
      *.ko.zst) zstd -qdc "$f" > "$tmp/k/modules/$m.ko" ;;
      *.ko.gz) gzip -dc "$f" > "$tmp/k/modules/$m.ko" ;;
      *) echo "build-guest: unknown module format $f" >&2; exit 3 ;;
    esac
  done
  printf '%s\n' "${order[@]}" > "$tmp/k/modules/load-order"
  touch "$tmp/k/complete"
  rm -rf "$kdir"
  mv "$tmp/k" "$kdir"
  rm -rf "$tmp"
  trap - EXIT
fi
cp "$kdir/vmlinuz" "$out/vmlinuz"

# --- initramfs ---------------------------------------------------------------------------
root=$out/root
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,etc,test,usr/local/bin,lib/modules}
cp "$(command -v busybox)" "$root/bin/busybox"
cp "$here/$init_script" "$root/init"
if [ "$guest" = browser ]; then
  cp "$here"/browser/* "$root/test/"
  # The host's Python that has py_webauthn, by its real path (the guest runs it from the host's
  # root, where a pyenv shim or a virtualenv's wrapper would not find its way).
  python3 -c 'import webauthn, sys; print(sys.executable)' >"$root/test/python" || {
    echo "build-guest: python3 has no py_webauthn: pip install -r tests/requirements.txt" >&2
    exit 3
  }
fi
chmod 755 "$root/init"
cp "$kdir/modules/"*.ko "$kdir/modules/load-order" "$root/lib/modules/"
# An unprivileged user, to see the daemon's note when /dev/uhid is not writable.
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"

# The program under test, without debug info (a debug build is ~450 MB; stripped ~55 MB,
# which the guest holds in RAM twice while unpacking: boot.sh gives it 512 MiB). The daemon
# needs nothing else: SQLite is compiled in, the keyring is off in the guest
# (AUTHSIM_KEYRING=off, a key file in the state directory), and its shared libraries are
# copied below like everyone's.
bins=()
for pair in "$authsim:authsim" "$hidclient:hidclient"; do
  src=${pair%:*}
  dst=$root/usr/local/bin/${pair##*:}
  if command -v strip >/dev/null 2>&1; then strip -o "$dst" "$src"; else cp "$src" "$dst"; fi
  bins+=("$dst")
done
for t in fido2-token fido2-cred fido2-assert; do
  cp "$(command -v "$t")" "$root/usr/local/bin/$t"
  bins+=("$root/usr/local/bin/$t")
done
# Shared libraries (and the loader) at the paths the binaries expect.
for b in "${bins[@]}"; do
  ldd "$b" | awk '/=> \// { print $3 } /^[ \t]*\/[^ ]+ \(/ { print $1 }'
done | sort -u | while IFS= read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done

# Inputs for fido2-cred -M (fido2-cred(1)): client data hash, relying party id, user
# name, user id; base64 blobs made here so the guest needs no hashing tools.
{
  head -c 32 /dev/urandom | base64 -w0; echo
  echo "authsim.test"
  echo "alice"
  head -c 16 /dev/urandom | base64 -w0; echo
} > "$root/test/cred_param"
{
  head -c 32 /dev/urandom | base64 -w0; echo
  echo "authsim.test"
} > "$root/test/assert_param_head"

(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$out/initramfs.cpio.tmp"
mv "$out/initramfs.cpio.tmp" "$out/initramfs.cpio"
echo "build-guest: kernel $(cat "$kdir/release"), initramfs $(du -h "$out/initramfs.cpio" | cut -f1), modules: $(tr '\n' ' ' < "$kdir/modules/load-order")"
