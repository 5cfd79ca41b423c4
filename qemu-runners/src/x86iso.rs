//! The x86 boot medium: a GRUB rescue ISO that multiboot2-loads the hypervisor and hands
//! it the configuration DTB as the module named `config` and each staged guest image as a
//! module named `stage <address>` (the board copies it there: GRUB cannot load a file at a
//! given address). [`make_native`]: the same medium booting a test guest alone, as the
//! Multiboot (version 1) kernel it is.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::stage::Staged;

pub fn make(elf: &Path, dtb: &Path, images: &[Staged], dir: &Path) -> Result<PathBuf> {
    let boot = fresh_root(dir)?;
    std::fs::copy(elf, boot.join("bulkhead.elf")).context("copying the hypervisor ELF")?;
    std::fs::copy(dtb, boot.join("config.dtb")).context("copying the configuration DTB")?;
    let mut modules = String::from("  module2 /boot/config.dtb config\n");
    for (i, s) in images.iter().enumerate() {
        std::fs::copy(&s.file, boot.join(format!("stage{i}.bin"))).with_context(|| format!("copying {}", s.file.display()))?;
        modules += &format!("  module2 /boot/stage{i}.bin stage {:#x}\n", s.addr);
    }
    grub(dir, &boot, &format!("  multiboot2 /boot/bulkhead.elf\n{modules}"))
}

/// A medium booting test guest `elf` natively (GRUB's `multiboot`).
pub fn make_native(elf: &Path, dir: &Path) -> Result<PathBuf> {
    let boot = fresh_root(dir)?;
    std::fs::copy(elf, boot.join("guest.elf")).context("copying the guest ELF")?;
    grub(dir, &boot, "  multiboot /boot/guest.elf\n")
}

/// An empty `dir/iso/boot`.
fn fresh_root(dir: &Path) -> Result<PathBuf> {
    let root = dir.join("iso");
    let _ = std::fs::remove_dir_all(&root);
    let boot = root.join("boot");
    std::fs::create_dir_all(boot.join("grub"))?;
    Ok(boot)
}

/// Writes grub.cfg booting `entry` at once, and builds `dir/bulkhead.iso`.
fn grub(dir: &Path, boot: &Path, entry: &str) -> Result<PathBuf> {
    std::fs::write(boot.join("grub/grub.cfg"), format!("set timeout=0\nset default=0\nmenuentry \"bulkhead\" {{\n{entry}  boot\n}}\n"))?;
    let root = dir.join("iso");
    let iso = dir.join("bulkhead.iso");
    let out = Command::new("grub-mkrescue")
        .arg("-o")
        .arg(&iso)
        .arg(&root)
        .output()
        .context("starting grub-mkrescue (run scripts/setup.sh)")?;
    if !out.status.success() {
        bail!("grub-mkrescue failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(iso)
}
