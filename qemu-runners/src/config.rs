//! Partition configurations on the host: overlays → final DTB → the hypervisor's own
//! parser and checks (`hv::config`), plus checks only the host can make (image files exist
//! and fit), plus dt-schema validation of the bulkhead nodes.
//!
//! The same `hv::config` code runs at boot, so a configuration that passes here is the
//! configuration the hypervisor accepts; the host adds what the hypervisor cannot see.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use hv::config::{Config, Range};
use hv::memmap::MemoryMap;

/// Runs `cmd`; on failure, an error naming `what` (the file being processed) with the
/// tool's own message.
fn run(mut cmd: Command, tool: &str, what: &Path, hint: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("cannot run {tool}; install it (scripts/setup.sh installs dtc and fdtoverlay)"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!("{tool} failed on {}:\n{}{hint}", what.display(), stderr.trim_end());
    }
    Ok(())
}

fn stem(p: &Path) -> String {
    p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "overlay".into())
}

/// Compiles `board_dts` and `overlays` (each with `dtc -@`) and applies the overlays in
/// order with `fdtoverlay`. Returns `out_dir/final.dtb`.
pub fn build_dtb(board_dts: &Path, overlays: &[PathBuf], out_dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let board = out_dir.join("board.dtb");
    let mut dtc = Command::new("dtc");
    dtc.args(["-q", "-@", "-I", "dts", "-O", "dtb", "-o"]).arg(&board).arg(board_dts);
    run(dtc, "dtc", board_dts, "")?;
    let final_dtb = out_dir.join("final.dtb");
    if overlays.is_empty() {
        std::fs::copy(&board, &final_dtb).context("cannot copy the board tree")?;
        return Ok(final_dtb);
    }
    let mut dtbos = Vec::new();
    for (i, ovl) in overlays.iter().enumerate() {
        let dtbo = out_dir.join(format!("{i}-{}.dtbo", stem(ovl)));
        let mut dtc = Command::new("dtc");
        dtc.args(["-q", "-@", "-I", "dts", "-O", "dtb", "-o"]).arg(&dtbo).arg(ovl);
        run(dtc, "dtc", ovl, "")?;
        dtbos.push(dtbo);
    }
    let mut fo = Command::new("fdtoverlay");
    fo.arg("-i").arg(&board).arg("-o").arg(&final_dtb).args(&dtbos);
    let names: Vec<String> = overlays.iter().map(|o| o.display().to_string()).collect();
    let hint = format!(
        "\n(applying {} onto {}: a target such as &{{/hypervisor/partitions}} or a label the overlay uses does not exist in the board tree)",
        names.join(", "),
        board_dts.display()
    );
    run(fo, "fdtoverlay", overlays.first().map(|p| p.as_path()).unwrap_or(board_dts), &hint)?;
    Ok(final_dtb)
}

/// A scratch directory unique to this process and call.
fn scratch() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!("bulkhead-check-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)))
}

/// Finds the file a `bulkhead,file` value names: `Ok(Some(file))`, `Ok(None)` when the
/// image is produced later and cannot be checked yet (a test guest the runner builds at
/// boot), or `Err(why)`.
pub type Resolve<'a> = &'a dyn Fn(&str) -> Result<Option<PathBuf>, String>;

/// The default resolver: a path relative to one of the overlays' directories.
pub fn next_to(overlays: &[PathBuf]) -> impl Fn(&str) -> Result<Option<PathBuf>, String> + '_ {
    move |value| {
        let dirs: Vec<&Path> = overlays.iter().filter_map(|o| o.parent()).collect();
        dirs.iter().map(|d| d.join(value)).find(|f| f.is_file()).map(Some).ok_or_else(|| {
            let where_: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            format!(
                "{value} not found next to the overlay ({}); build the guest or fix the path (relative to the overlay's directory)",
                where_.join(", ")
            )
        })
    }
}

/// Checks `overlays` applied on `board_dts`: every error line (empty = OK). `Err` only if
/// the files cannot be compiled or applied at all. Image files are looked up next to the
/// overlays.
pub fn check(board_dts: &Path, overlays: &[PathBuf]) -> Result<Vec<String>> {
    check_with(board_dts, overlays, &next_to(overlays))
}

/// [`check`] with a caller-supplied way of finding image files (the runner also knows
/// `guest:<name>`, the project's test guests).
pub fn check_with(board_dts: &Path, overlays: &[PathBuf], resolve: Resolve) -> Result<Vec<String>> {
    let dir = scratch();
    let result = (|| {
        let dtb = build_dtb(board_dts, overlays, &dir)?;
        let bytes = std::fs::read(&dtb).with_context(|| format!("cannot read {}", dtb.display()))?;
        Ok(check_dtb(&bytes, resolve))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The hypervisor's checks, then the host-only image checks, on a final DTB.
pub fn check_dtb(dtb: &[u8], resolve: Resolve) -> Vec<String> {
    let mut errors = Vec::new();
    let mut cfg = Box::new(Config::new());
    hv::config::parse_into(dtb, &mut cfg, &mut |e| errors.push(e.to_string()));
    images(&cfg, resolve, &mut errors);
    errors
}

/// Host-only: each `bulkhead,file` exists and its layout fits the partition's guest memory.
/// Layout and placement come from `hv::image`, the code the hypervisor loads images with,
/// so host and boot agree on what fits.
fn images(cfg: &Config, resolve: Resolve, errors: &mut Vec<String>) {
    for p in &cfg.partitions {
        for (kind, img) in p.images() {
            // The schema requires partition nodes to be named partition@<reg>.
            let node = format!("/hypervisor/partitions/partition@{}/{kind}", p.id);
            let file = match resolve(img.file.as_str()) {
                Ok(Some(f)) => f,
                Ok(None) => continue,
                Err(why) => {
                    errors.push(format!("{node}: bulkhead,file: {why}"));
                    continue;
                }
            };
            let bytes = match std::fs::read(&file) {
                Ok(b) => b,
                Err(e) => {
                    errors.push(format!("{node}: bulkhead,file: cannot read {}: {e}", file.display()));
                    continue;
                }
            };
            let layout = match hv::image::layout(img.format, &bytes, img.load_address) {
                Ok(l) => l,
                Err(e) => {
                    errors.push(format!("{node}: bulkhead,file: {}: {e}; check bulkhead,format", file.display()));
                    continue;
                }
            };
            let map = MemoryMap::of(p, &cfg.shared);
            if hv::image::place(&layout, &map).is_err() {
                let needs: Vec<String> =
                    layout.segments.iter().map(|s| format!("{:#x}..{:#x}", s.guest, s.guest.saturating_add(s.mem_size))).collect();
                errors.push(format!(
                    "{node}: bulkhead,file: {} needs guest {}, outside the partition's guest RAM; \
                     enlarge the memory node or move bulkhead,load-address / the ELF's physical addresses",
                    file.display(),
                    needs.join(", ")
                ));
            }
            let guest: Vec<Range> = p.memory.iter().map(|m| Range::new(m.guest_base, m.host.size)).collect();
            let entry = img.entry.unwrap_or(layout.entry);
            if !guest.iter().any(|g| g.contains(&Range::new(entry, 1))) {
                errors.push(format!(
                    "{node}: bulkhead,entry: entry {entry:#x} of {} is outside the partition's guest memory; fix the entry point",
                    file.display()
                ));
            }
        }
    }
}

/// The dt-schema bindings, `guest-configs/schema/`.
pub fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-configs/schema")
}

/// Validates the bulkhead nodes of `final_dtb` against `guest-configs/schema/` with
/// `dt-validate`. Validation is limited (`-l bulkhead`) to schemas whose `$id` contains
/// "bulkhead": QEMU's dumped nodes do not all follow the upstream bindings and would only
/// add noise.
pub fn schema_validate(final_dtb: &Path) -> Result<()> {
    let out = Command::new("dt-validate")
        .arg("-s")
        .arg(schema_dir())
        .args(["-l", "bulkhead"])
        .arg(final_dtb)
        .output()
        .context("cannot run dt-validate; install dtschema (pip install dtschema)")?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let problems: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if !out.status.success() || !problems.is_empty() {
        bail!("dt-validate found problems in {}:\n{}", final_dtb.display(), problems.join("\n"));
    }
    Ok(())
}
