//! How big the hypervisor image is, and whose code it holds (`cargo xtask size`, and the
//! end of `cargo xtask bench`).
//!
//! Code is attributed two ways, both printed:
//!
//! * **By source line** (the budget): every byte of `.text` belongs to the source file its
//!   line-table row names (DWARF `.debug_line`, the innermost location, so a core function
//!   that LTO inlined into the port counts as the core's and a port helper inlined into the
//!   core counts as the port's). Bytes with no line row before the end of the last function
//!   are the ports' `global_asm!` (entry, vectors, trap stubs) and their alignment: counted
//!   as the port's. The port is its crate (`armv8/`, `ppc-booke/`, `vtx/`), its board
//!   (`boards/<name>/`) and that assembly.
//! * **By function name**: the crate named first in each function's demangled symbol, with
//!   everything LTO inlined into it. This overstates the port (the `hv` core and `core`
//!   inlined into port functions) and is kept for comparison with earlier measurements.

use crate::{boards, workspace_root};
use addr2line::gimli;
use anyhow::{Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};
use std::collections::BTreeMap;
use std::path::Path;

/// The budget for each port's code, in bytes.
pub const PORT_BUDGET: u64 = 32 * 1024;

/// Prints the size rows of the benchmark table for `board`'s hypervisor ELF.
pub fn report(board: &boards::Board, elf: &Path) -> Result<()> {
    let bytes = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
    let file = object::File::parse(&*bytes).context("parsing the hypervisor ELF")?;
    let (mut text, mut rodata, mut data, mut bss) = (0u64, 0u64, 0u64, 0u64);
    for s in file.sections() {
        match s.kind() {
            SectionKind::Text => text += s.size(),
            SectionKind::ReadOnlyData | SectionKind::ReadOnlyString => rodata += s.size(),
            SectionKind::Data => data += s.size(),
            SectionKind::UninitializedData => bss += s.size(),
            _ => {}
        }
    }
    let name = board.name;
    println!("| {name} | hypervisor .text (incl. alignment) | {text} bytes |");
    println!("| {name} | hypervisor .rodata | {rodata} bytes |");
    println!("| {name} | hypervisor .data | {data} bytes |");
    println!("| {name} | hypervisor .bss (incl. stacks) | {bss} bytes |");

    let by_line = by_source_line(&file)?;
    let port: u64 = by_line.iter().filter(|(k, _)| is_port(k)).map(|(_, v)| v).sum();
    println!("| {name} | port code by source line (port crate + board + assembly; budget {PORT_BUDGET}) | {port} bytes |");
    for (owner, size) in sorted(by_line) {
        println!("| {name} | code from `{owner}` (by source line) | {size} bytes |");
    }
    let by_name = by_function_name(&file);
    let port: u64 = by_name.iter().filter(|(k, _)| is_port(k)).map(|(_, v)| v).sum();
    println!("| {name} | port code by function name (incl. core and hv inlined into it) | {port} bytes |");
    Ok(())
}

/// Owners that count as the port.
fn is_port(owner: &str) -> bool {
    matches!(owner, "armv8" | "ppc-booke" | "vtx" | "board" | "assembly (no line info)")
}

fn sorted(m: BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut rows: Vec<_> = m.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    rows
}

/// Bytes of `.text` per owner of their source line (see the module comment).
fn by_source_line(file: &object::File) -> Result<BTreeMap<String, u64>> {
    let endian = if file.is_little_endian() { gimli::RunTimeEndian::Little } else { gimli::RunTimeEndian::Big };
    let load = |id: gimli::SectionId| -> Result<gimli::EndianSlice<'_, gimli::RunTimeEndian>, gimli::Error> {
        let data = file.section_by_name(id.name()).and_then(|s| s.data().ok()).unwrap_or(&[]);
        Ok(gimli::EndianSlice::new(data, endian))
    };
    let dwarf = gimli::Dwarf::load(load).context("reading DWARF")?;
    let lines = addr2line::Context::from_dwarf(dwarf).context("reading the line tables")?;
    let root = workspace_root();
    let mut owners: BTreeMap<String, u64> = BTreeMap::new();
    for section in file.sections().filter(|s| s.kind() == SectionKind::Text) {
        let (lo, hi) = (section.address(), section.address() + section.size());
        // Code ends with the last function; what follows is the section's alignment.
        let code_end = file
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.address() >= lo && s.address() < hi)
            .map(|s| s.address() + s.size())
            .max()
            .unwrap_or(lo)
            .min(hi);
        let mut covered = 0;
        let ranges = lines.find_location_range(lo, code_end).context("walking the line tables")?;
        for (start, len, location) in ranges {
            let len = len.min(code_end.saturating_sub(start));
            covered += len;
            *owners.entry(line_owner(location.file.unwrap_or(""), &root)).or_default() += len;
        }
        let uncovered = (code_end - lo).saturating_sub(covered);
        if uncovered > 0 {
            *owners.entry("assembly (no line info)".into()).or_default() += uncovered;
        }
    }
    Ok(owners)
}

/// Who wrote the source file at `path`: a workspace directory (`hv`, `armv8`, `ppc-booke`,
/// `vtx`; every `boards/*` is "board"), a registry crate by name, or the Rust library.
fn line_owner(path: &str, root: &Path) -> String {
    let path = Path::new(path);
    if let Ok(rel) = path.strip_prefix(root) {
        let first = rel.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
        return if first == "boards" { "board".into() } else { first };
    }
    let parts: Vec<String> = path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if let Some(i) = parts.iter().position(|p| p == "library") {
        if let Some(lib) = parts.get(i + 1) {
            return lib.replace('-', "_");
        }
    }
    if let Some(i) = parts.iter().position(|p| p == "registry") {
        // .../registry/src/<index>/<crate>-<version>/...
        if let Some(krate) = parts.get(i + 3) {
            return krate.rsplit_once('-').map_or(krate.as_str(), |(name, _)| name).to_string();
        }
    }
    "other".into()
}

/// Function bytes per crate named first in the demangled symbol (a trait impl
/// `<hv::X as core::fmt::Display>::fmt` is hv's).
fn by_function_name(file: &object::File) -> BTreeMap<String, u64> {
    let mut owners: BTreeMap<String, u64> = BTreeMap::new();
    for sym in file.symbols().filter(|s| s.kind() == SymbolKind::Text) {
        let name = format!("{:#}", rustc_demangle::demangle(sym.name().unwrap_or("")));
        *owners.entry(function_owner(&name).to_string()).or_default() += sym.size();
    }
    owners
}

fn function_owner(name: &str) -> &'static str {
    const KNOWN: &[(&str, &str)] = &[
        ("hv::", "hv"),
        ("armv8::", "armv8"),
        ("ppc_booke::", "ppc-booke"),
        ("vtx::", "vtx"),
        ("bulkhead_", "board"),
        ("fdt::", "fdt"),
        ("heapless::", "heapless"),
        ("defmt", "defmt"),
        ("spin::", "spin"),
        ("tock_registers::", "tock_registers"),
        ("aarch64_paging::", "aarch64_paging"),
        ("aarch64_cpu::", "aarch64_cpu"),
        ("compiler_builtins::", "compiler_builtins"),
        ("core::", "core"),
    ];
    KNOWN
        .iter()
        .filter_map(|(pat, owner)| name.find(pat).map(|at| (at, *owner)))
        .min_by_key(|(at, _)| *at)
        .map(|(_, owner)| owner)
        .unwrap_or("other (memcpy, asm, ...)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_belong_to_the_crate_named_first() {
        assert_eq!(function_owner("hv::config::parse::parse_tree"), "hv");
        assert_eq!(function_owner("<hv::config::ConfigError as core::fmt::Display>::fmt"), "hv");
        assert_eq!(function_owner("core::fmt::write"), "core");
        assert_eq!(function_owner("bulkhead_qemu_ppce500::main"), "board");
        assert_eq!(function_owner("<&T as core::fmt::Debug>::fmt"), "core");
        assert_eq!(function_owner("memcpy"), "other (memcpy, asm, ...)");
    }

    #[test]
    fn source_lines_belong_to_their_directory_crate_or_library() {
        let root = Path::new("/w/bulkhead");
        assert_eq!(line_owner("/w/bulkhead/armv8/src/trap.rs", root), "armv8");
        assert_eq!(line_owner("/w/bulkhead/boards/qemu-ppce500/src/main.rs", root), "board");
        assert_eq!(line_owner("/w/bulkhead/hv/src/run.rs", root), "hv");
        assert_eq!(line_owner("/usr/lib/rustlib/src/rust/library/core/src/fmt/mod.rs", root), "core");
        assert_eq!(line_owner("/rustc/abc/library/compiler-builtins/compiler-builtins/src/mem.rs", root), "compiler_builtins");
        assert_eq!(line_owner("/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/fdt-0.1.5/src/node.rs", root), "fdt");
        assert_eq!(line_owner("/root/.cargo/registry/src/index.crates.io-x/aarch64-paging-0.12.3/src/lib.rs", root), "aarch64-paging");
        assert_eq!(line_owner("", root), "other");
        assert!(is_port("ppc-booke") && is_port("board") && is_port("assembly (no line info)") && !is_port("hv"));
    }
}
