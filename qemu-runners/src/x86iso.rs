//! The x86 boot medium: a GRUB rescue ISO that multiboot2-loads the hypervisor and hands
//! it the configuration DTB as the module named `config`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn make(elf: &Path, dtb: &Path, dir: &Path) -> Result<PathBuf> {
    let root = dir.join("iso");
    let boot = root.join("boot");
    std::fs::create_dir_all(boot.join("grub"))?;
    std::fs::copy(elf, boot.join("bulkhead.elf")).context("copying the hypervisor ELF")?;
    std::fs::copy(dtb, boot.join("config.dtb")).context("copying the configuration DTB")?;
    std::fs::write(
        boot.join("grub/grub.cfg"),
        "set timeout=0\nset default=0\nmenuentry \"bulkhead\" {\n  multiboot2 /boot/bulkhead.elf\n  module2 /boot/config.dtb config\n  boot\n}\n",
    )?;
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
