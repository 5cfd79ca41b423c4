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
#     cpio (initramfs), u-boot-qemu (real U-Boot guests), dtschema (dt-validate).
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

# Sanity: the pieces the build relies on.
for tool in /usr/bin/cargo /usr/bin/rustc ld.lld-22 dtc fdtoverlay \
            qemu-system-aarch64 qemu-system-ppc qemu-system-x86_64 bochs grub-mkrescue dt-validate; do
  command -v "$tool" >/dev/null || { echo "setup: $tool still missing" >&2; exit 1; }
done
[ -d /usr/lib/rustlib/src/rust/library/core ] || { echo "setup: rust-web-src missing" >&2; exit 1; }
echo "setup: ok"
