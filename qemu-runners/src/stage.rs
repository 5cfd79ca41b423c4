//! Staging guest images: the runner plays the boot loader's part. Each partition's
//! `image` node names a file (`bulkhead,file`): a path relative to the configuration, or
//! `guest:<name>` for one of the project's test guests, built here for the board. The file
//! is placed in the board's staging RAM (QEMU's generic loader device) and the node gets
//! `reg = <staged address, size>`, from which the hypervisor copies the image into the
//! partition's memory at boot and on every restart. On real hardware a U-Boot script
//! (`load ... <addr> file`) does the same.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::boards::Board;
use crate::cross;

/// One staged image.
pub struct Staged {
    pub node: String,
    pub file: PathBuf,
    pub addr: u64,
    pub size: u64,
}

/// Resolves a `bulkhead,file` value:
/// - `guest:<name>`: the project's test guest `<name>`, built for the board;
/// - `cache:<path>`: a file the setup step fetched into its cache (Debian's arm64 kernel is
///   `cache:linux-arm64/Image`);
/// - `initramfs:<name>`: an initramfs built from the cached static busybox and the init
///   script `tests/guests/linux/<name>.init`;
/// - anything else: a path relative to one of the configuration files' directories.
pub fn resolve(board: &Board, configs: &[PathBuf], value: &str) -> Result<PathBuf, String> {
    if let Some(name) = value.strip_prefix("guest:") {
        return cross::build_guest(board, name).map_err(|e| format!("{value}: {e:#}"));
    }
    if let Some(path) = value.strip_prefix("cache:") {
        let file = cache_dir().join(path);
        return if file.is_file() { Ok(file) } else { Err(format!("{value}: {} missing; run scripts/setup.sh", file.display())) };
    }
    if let Some(name) = value.strip_prefix("initramfs:") {
        return build_initramfs(name).map_err(|e| format!("{value}: {e:#}"));
    }
    qemu_runners::config::next_to(configs)(value)?.ok_or_else(|| format!("{value}: not found"))
}

/// Where the setup step keeps fetched guests (scripts/setup.sh, BULKHEAD_CACHE).
fn cache_dir() -> PathBuf {
    std::env::var_os("BULKHEAD_CACHE").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/cache/bulkhead"))
}

/// A newc cpio holding the static busybox and `/init` from `tests/guests/linux/<name>.init`.
fn build_initramfs(name: &str) -> Result<PathBuf> {
    let init = crate::workspace_root().join("tests/guests/linux").join(format!("{name}.init"));
    let busybox = cache_dir().join("busybox-arm64/busybox");
    for f in [&init, &busybox] {
        if !f.is_file() {
            bail!("{} missing (run scripts/setup.sh for busybox)", f.display());
        }
    }
    let dir = crate::workspace_root().join("target/initramfs").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    for d in ["bin", "proc", "sys", "dev"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    std::fs::copy(&busybox, dir.join("bin/busybox"))?;
    std::fs::copy(&init, dir.join("init"))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("init"), std::fs::Permissions::from_mode(0o755))?;
    let out = dir.with_extension("cpio");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("find . | LC_ALL=C sort | cpio -o -H newc --quiet > '{}'", out.display()))
        .current_dir(&dir)
        .status()
        .context("running cpio")?;
    if !status.success() {
        bail!("cpio failed building {}", out.display());
    }
    Ok(out)
}

fn fdtget(dtb: &Path, args: &[&str]) -> Result<Option<String>> {
    let out = Command::new("fdtget").arg(dtb).args(args).output().context("running fdtget")?;
    Ok(out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
}

/// Image and initramfs nodes of the final tree that name a file: (node path, file value).
fn image_nodes(dtb: &Path) -> Result<Vec<(String, String)>> {
    let mut found = Vec::new();
    let Some(list) = fdtget(dtb, &["-l", "/hypervisor/partitions"])? else { return Ok(found) };
    for part in list.split_whitespace() {
        for kind in ["image", "initramfs"] {
            let node = format!("/hypervisor/partitions/{part}/{kind}");
            if let Some(file) = fdtget(dtb, &["-t", "s", &node, "bulkhead,file"])? {
                found.push((node, file));
            }
        }
    }
    Ok(found)
}

/// Stages every image of `dtb` (edited in place) and returns them, in staging order.
pub fn stage_images(board: &Board, dtb: &Path, configs: &[PathBuf]) -> Result<Vec<Staged>> {
    let nodes = image_nodes(dtb)?;
    if nodes.is_empty() {
        return Ok(Vec::new());
    }
    let Some((base, size)) = board.staging else { bail!("board {} cannot stage guest images yet", board.name) };
    let mut next = base;
    let mut staged = Vec::new();
    for (node, value) in nodes {
        let file = resolve(board, configs, &value).map_err(|why| anyhow::anyhow!("{node}: bulkhead,file: {why}"))?;
        let len = std::fs::metadata(&file).with_context(|| format!("{node}: bulkhead,file {}", file.display()))?.len();
        let end = next + len.div_ceil(0x1000) * 0x1000;
        if end > base + size {
            bail!("{node}: images do not fit the {} MiB staging area of {}", size >> 20, board.name);
        }
        let cells = [next >> 32, next & 0xffff_ffff, len >> 32, len & 0xffff_ffff].map(|c| format!("{c:#x}"));
        let status = Command::new("fdtput")
            .arg(dtb)
            .args(["-t", "x", &node, "reg"])
            .args(&cells)
            .status()
            .context("running fdtput")?;
        if !status.success() {
            bail!("fdtput could not record the staged image in {node}");
        }
        staged.push(Staged { node, file, addr: next, size: len });
        next = end;
    }
    Ok(staged)
}

/// QEMU arguments loading the staged images.
pub fn qemu_args(staged: &[Staged]) -> Vec<String> {
    staged
        .iter()
        .flat_map(|s| ["-device".to_string(), format!("loader,file={},addr={:#x},force-raw=on", s.file.display(), s.addr)])
        .collect()
}
