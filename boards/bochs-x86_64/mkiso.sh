#!/usr/bin/env bash
# Boot medium for the bochs-x86_64 board (the runner's qemu-runners/src/x86iso.rs does
# the same in Rust): a GRUB rescue ISO that multiboot2-loads the hypervisor and hands it
# the configuration DTB as the module named `config`. Optionally boots it.
#
#   mkiso.sh HYPERVISOR.elf CONFIG.dtb OUTDIR [bochs|qemu]
#
# OUTDIR gets bulkhead.iso; with `bochs` also bochsrc (from bochsrc.in), serial.txt
# (console, COM1), defmt.bin (log, COM2) and bochs-screen.txt; with `qemu` serial.txt and
# defmt.bin. Needs grub-pc-bin grub-common xorriso mtools (scripts/setup.sh).
set -euo pipefail

[ $# -ge 3 ] || { echo "usage: $0 HYPERVISOR.elf CONFIG.dtb OUTDIR [bochs|qemu]" >&2; exit 2; }
elf=$1 dtb=$2 out=$3 run=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)

root="$out/iso"
rm -rf "$root"
mkdir -p "$root/boot/grub"
cp "$elf" "$root/boot/bulkhead.elf"
cp "$dtb" "$root/boot/config.dtb"
cat > "$root/boot/grub/grub.cfg" <<'CFG'
set timeout=0
set default=0
menuentry "bulkhead" {
  multiboot2 /boot/bulkhead.elf
  module2 /boot/config.dtb config
  boot
}
CFG
grub-mkrescue -o "$out/bulkhead.iso" "$root" 2>"$out/grub-mkrescue.log" \
  || { cat "$out/grub-mkrescue.log" >&2; exit 1; }

rm -f "$out/serial.txt" "$out/defmt.bin"
case "$run" in
  "") ;;
  bochs)
    sed -e "s|@ISO@|$out/bulkhead.iso|" -e "s|@SERIAL@|$out/serial.txt|" -e "s|@DEFMT@|$out/defmt.bin|" \
      "$here/bochsrc.in" > "$out/bochsrc"
    printf 'c\nquit\n' > "$out/bochs-cmds"
    # Exits with status 1 after the hypervisor's "Shutdown": judge by serial.txt.
    (cd "$out" && bochs -q -f bochsrc -rc bochs-cmds </dev/null >bochs-screen.txt 2>&1) || true
    cat "$out/serial.txt"
    ;;
  qemu)
    # TCG has no VMX: this checks the no-VMX path. isa-debug-exit: "exit 0" -> status 1.
    qemu-system-x86_64 -m 512M -display none -monitor none -no-reboot \
      -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
      -serial "file:$out/serial.txt" -serial "file:$out/defmt.bin" \
      -cdrom "$out/bulkhead.iso" </dev/null || true
    cat "$out/serial.txt"
    ;;
  *) echo "unknown machine '$run' (bochs or qemu)" >&2; exit 2 ;;
esac
