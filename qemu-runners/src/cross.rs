//! Cross-building a board's hypervisor image.
//!
//! rustup's toolchains here have no `rust-src`, so bare-metal builds use Debian's
//! rustc-web (/usr/bin/cargo, /usr/bin/rustc) with `-Zbuild-std`. The cross builds get their
//! own target directory so they never contend with (or invalidate) the host build of this
//! tool, which was made by rustup's cargo.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

use crate::boards::{Board, Target};
use crate::workspace_root;

const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";

pub fn target_dir() -> PathBuf {
    workspace_root().join("target/cross")
}

/// Builds the board's hypervisor (release profile) and returns the ELF's path.
pub fn build(board: &Board) -> Result<PathBuf> {
    build_bin(board.package, board.bin, board.target)
}

/// Builds test guest `name` (a binary of `tests/guests/<arch>`) for the board's
/// architecture and returns its ELF.
pub fn build_guest(board: &Board, name: &str) -> Result<PathBuf> {
    let package = board.guests.with_context(|| format!("board {} has no test guests yet", board.name))?;
    build_bin(package, name, board.target)
}

fn build_bin(package: &str, bin: &str, target: Target) -> Result<PathBuf> {
    let root = workspace_root();
    let mut cmd = Command::new(DEBIAN_CARGO);
    // `cargo xtask` runs under rustup's cargo, which exports variables that would point the
    // Debian cargo back at rustup's rustc; drop them.
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("CARGO") || k.starts_with("RUSTUP") || k == "RUSTC" || k == "RUSTDOC" {
            cmd.env_remove(&key);
        }
    }
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.current_dir(&root)
        .env("PATH", format!("/usr/bin:{path}"))
        .env("RUSTC", DEBIAN_RUSTC)
        .env("RUSTC_BOOTSTRAP", "1")
        // defmt filters log levels at compile time: keep info and above in the images.
        .env("DEFMT_LOG", "info")
        .args(["build", "--release", "--package", package, "--bin", bin])
        .arg("--target-dir")
        .arg(target_dir())
        .args(["-Zbuild-std=core,compiler_builtins", "-Zbuild-std-features=compiler-builtins-mem"]);
    match target {
        Target::Builtin(t) => {
            cmd.args(["--target", t]);
        }
        Target::Json(p) => {
            cmd.arg("--target").arg(root.join(p)).arg("-Zjson-target-spec");
        }
    }
    let status = cmd.status().with_context(|| format!("starting {DEBIAN_CARGO} (run scripts/setup.sh)"))?;
    if !status.success() {
        bail!("building {package} ({bin}) for {} failed", target.dir_name());
    }
    let elf = target_dir().join(target.dir_name()).join("release").join(bin);
    if !elf.exists() {
        bail!("build succeeded but {} is missing", elf.display());
    }
    Ok(elf)
}
