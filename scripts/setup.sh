#!/usr/bin/env bash
# bulkhead: one idempotent setup step for a fresh Debian 12 machine.
#
# Installs what building and testing bulkhead needs and the machine lacks:
#   - QEMU 7.2 system emulators, with qemu-utils/qemu-block-extra pinned to the same
#     version (the preinstalled qemu-utils 10 from backports conflicts with them);
#   - Bochs with VMX (bochs, bochs-term, bochsbios, vgabios) for the VT-x port;
#   - Debian's rustc-web/cargo-web/rust-web-src + lld-22: the only toolchain here
#     with library sources, needed for -Zbuild-std on bare-metal targets;
#   - device-tree-compiler (dtc, fdtoverlay), GRUB + xorriso + mtools (x86 boot ISO),
#     cpio (initramfs), u-boot-qemu (real U-Boot guests), dtschema (dt-validate);
#   - real guests: Debian's arm64 Linux kernel (an uncompressed `Image`) and a static arm64
#     busybox, unpacked into $BULKHEAD_CACHE (default /var/cache/bulkhead).
# Takes a few seconds when nothing is missing.
set -euo pipefail

want_debs=(
  qemu-system-arm qemu-system-ppc qemu-system-x86
  bochs bochs-term bochsbios vgabios
  rustc-web cargo-web rust-web-src lld-22
  device-tree-compiler
  grub-pc-bin grub-common xorriso mtools
  cpio u-boot-qemu
)

missing=()
for p in "${want_debs[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
# QEMU 7.2's system emulators need qemu-utils of the very same version.
if command -v qemu-system-aarch64 >/dev/null; then
  qsys=$(dpkg-query -W -f='${Version}' qemu-system-arm 2>/dev/null || true)
  qutl=$(dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null || true)
  [ "$qsys" = "$qutl" ] || missing+=(qemu-utils)
fi

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  qver=$(apt-cache policy qemu-system-arm | awk '/Candidate:/ {print $2}')
  case "$qver" in
    1:7.2*) ;;
    *) echo "setup: expected QEMU 7.2 from Debian 12, apt offers '$qver'" >&2; exit 1 ;;
  esac
  $sudo apt-get install -y -qq --no-install-recommends --allow-downgrades \
    "qemu-utils=$qver" "qemu-block-extra=$qver" "${want_debs[@]}" >/dev/null
fi

# dt-schema's dt-validate / dt-mk-schema (PyPI).
if ! command -v dt-validate >/dev/null; then
  echo "setup: installing dtschema (PyPI)"
  python3 -m pip install -q --disable-pip-version-check dtschema
fi

# Real guests: Debian's arm64 kernel and busybox (foreign architecture packages, only
# downloaded and unpacked, never installed).
cache=${BULKHEAD_CACHE:-/var/cache/bulkhead}
if [ ! -f "$cache/linux-arm64/Image" ] || [ ! -x "$cache/busybox-arm64/busybox" ]; then
  echo "setup: fetching Debian's arm64 Linux kernel and busybox into $cache"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $sudo dpkg --add-architecture arm64
  fi
  $sudo apt-get update -qq
  kpkg=$(apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-arm64-unsigned$' | sort -V | tail -n 1 | cut -d' ' -f1)
  [ -n "$kpkg" ] || { echo "setup: no linux-image-*-arm64-unsigned package found" >&2; exit 1; }
  work=$(mktemp -d)
  (cd "$work" && apt-get download -qq "$kpkg:arm64" busybox-static:arm64 2>/dev/null)
  $sudo mkdir -p "$cache/linux-arm64" "$cache/busybox-arm64"
  dpkg-deb --fsys-tarfile "$work"/linux-image-*.deb | tar -x -C "$work" --wildcards './boot/vmlinuz-*'
  dpkg-deb --fsys-tarfile "$work"/busybox-static_*.deb | tar -x -C "$work" ./bin/busybox
  $sudo cp "$work"/boot/vmlinuz-* "$cache/linux-arm64/Image"
  echo "$kpkg" | $sudo tee "$cache/linux-arm64/PACKAGE" >/dev/null
  $sudo cp "$work/bin/busybox" "$cache/busybox-arm64/busybox"
  rm -rf "$work"
fi

# Sanity: the pieces the build relies on.
for tool in /usr/bin/cargo /usr/bin/rustc ld.lld-22 dtc fdtoverlay \
            qemu-system-aarch64 qemu-system-ppc qemu-system-x86_64 bochs grub-mkrescue dt-validate; do
  command -v "$tool" >/dev/null || { echo "setup: $tool still missing" >&2; exit 1; }
done
[ -d /usr/lib/rustlib/src/rust/library/core ] || { echo "setup: rust-web-src missing" >&2; exit 1; }
echo "setup: ok"
