//! Passthrough devices: finding a node by path, translating its `reg` to physical
//! addresses and decoding its `interrupts` into the numbers the ports program.
//!
//! QEMU's dumped trees carry no labels, so the bindings name devices by full path. A path
//! component without a unit address (`/soc/serial`) matches a child by base name if that
//! is unambiguous, as in dtc. Translation handles the simple cases only: empty `ranges`
//! (identity) and plain `<child parent size>` tables with at most 2 cells per number;
//! anything else (PCI, missing `ranges`) is reported rather than guessed.

use fdt::node::FdtNode;
use fdt::Fdt;
use heapless::Vec;

use super::blob::{cells, prop_strs, prop_u32, read_cells, MAX_DEPTH};
use super::error::{path_of, ErrorKind, Path};
use super::model::{Device, Range, MAX_DEVICE_RANGES};
use super::parse::entries;

/// A node found by path, with its canonical path and the chain root..=node.
pub(crate) struct Found<'b, 'a> {
    pub node: FdtNode<'b, 'a>,
    pub path: Path,
    pub chain: Vec<FdtNode<'b, 'a>, MAX_DEPTH>,
}

/// Finds `path` (absolute) in the tree.
pub(crate) fn resolve<'b, 'a>(fdt: &'b Fdt<'a>, path: &str) -> Option<Found<'b, 'a>> {
    if !path.starts_with('/') {
        return None;
    }
    let mut node = fdt.find_node("/")?;
    let mut chain = Vec::new();
    chain.push(node).ok()?;
    let mut canon = Path::new();
    for comp in path.split('/').filter(|c| !c.is_empty()) {
        let next = match node.children().find(|c| c.name == comp) {
            Some(n) => n,
            None if !comp.contains('@') => {
                let mut by_base = node.children().filter(|c| c.name.split('@').next() == Some(comp));
                let first = by_base.next()?;
                if by_base.next().is_some() {
                    return None; // ambiguous
                }
                first
            }
            None => return None,
        };
        canon = path_of(&[canon.as_str(), "/", next.name]);
        chain.push(next).ok()?;
        node = next;
    }
    if canon.is_empty() {
        canon = path_of(&["/"]);
    }
    Some(Found { node, path: canon, chain })
}

/// `(#address-cells, #size-cells)` a node gives its children, if we support them.
fn bus_cells(node: FdtNode<'_, '_>) -> Option<(usize, usize)> {
    let get = |name, default| match node.property(name) {
        None => Some(default),
        Some(p) => prop_u32(&p).filter(|v| *v <= 2).map(|v| v as usize),
    };
    Some((get("#address-cells", 2)?, get("#size-cells", 1)?))
}

/// Translates a bus address of `chain.last()`'s children up to the root.
fn translate(mut addr: u64, chain: &[FdtNode<'_, '_>]) -> Result<u64, &'static str> {
    const CELLS: &str = "a parent bus uses more than 2 cells per number (e.g. PCI); not supported";
    let mut i = chain.len();
    while i > 1 {
        i -= 1;
        let (Some(bus), Some(up)) = (chain.get(i), chain.get(i - 1)) else { break };
        let Some(ranges) = bus.property("ranges") else {
            return Err("a parent bus has no ranges (its children are not memory-mapped)");
        };
        if ranges.value.is_empty() {
            continue;
        }
        let (cac, csc) = bus_cells(*bus).ok_or(CELLS)?;
        let (pac, _) = bus_cells(*up).ok_or(CELLS)?;
        let stride = (cac + pac + csc) * 4;
        if cac == 0 || stride == 0 || ranges.value.len() % stride != 0 {
            return Err("a parent bus's ranges do not match its cells");
        }
        let mut hit = None;
        for e in ranges.value.chunks_exact(stride) {
            let child = read_cells(e, cac).ok_or(CELLS)?;
            let parent = e.get(cac * 4..).and_then(|r| read_cells(r, pac)).ok_or(CELLS)?;
            let size = e.get((cac + pac) * 4..).and_then(|r| read_cells(r, csc)).ok_or(CELLS)?;
            if addr >= child && addr - child < size {
                hit = Some(parent.checked_add(addr - child).ok_or("translated address overflows")?);
                break;
            }
        }
        addr = hit.ok_or("reg is outside every entry of a parent bus's ranges")?;
    }
    Ok(addr)
}

/// The passthrough device at `path`: its MMIO ranges and interrupts.
pub(crate) fn device(fdt: &Fdt<'_>, path: &str) -> Result<Device, ErrorKind> {
    let f = resolve(fdt, path).ok_or_else(|| ErrorKind::PathNotFound(path_of(&[path])))?;
    let untranslatable = |why| ErrorKind::Untranslatable { device: f.path.clone(), why };
    // The interrupt controller is the hypervisor's: a partition gets an emulated one.
    if f.node.property("interrupt-controller").is_some() {
        return Err(ErrorKind::DeviceIsInterruptController(f.path.clone()));
    }
    let reg = f.node.property("reg").ok_or_else(|| ErrorKind::DeviceNoReg(f.path.clone()))?;
    let n = f.chain.len();
    let parents = f.chain.get(..n.saturating_sub(1)).unwrap_or(&[]);
    let parent = parents.last().ok_or_else(|| ErrorKind::DeviceNoReg(f.path.clone()))?;
    let (ac, sc) = bus_cells(*parent).ok_or_else(|| untranslatable("the parent's #address-cells/#size-cells are not 1 or 2"))?;
    let regs = entries(reg.value, ac, sc).ok_or_else(|| untranslatable("reg length does not match the parent's #address-cells/#size-cells"))?;
    let mut mmio = Vec::new();
    for r in regs {
        let base = translate(r.base, parents).map_err(untranslatable)?;
        if mmio.push(Range::new(base, r.size)).is_err() {
            return Err(ErrorKind::TooMany { what: "reg ranges in one device", max: MAX_DEVICE_RANGES });
        }
    }
    let irqs = interrupts(fdt, &f)?;
    Ok(Device { path: f.path.clone(), mmio, irqs })
}

/// Decodes `interrupts` by the interrupt parent's kind: GIC (3+ cells: SPI n → n+32,
/// PPI n → n+16), anything else (MPIC, x86 board tree) → the first cell.
fn interrupts(fdt: &Fdt<'_>, f: &Found<'_, '_>) -> Result<Vec<u32, MAX_DEVICE_RANGES>, ErrorKind> {
    let mut irqs = Vec::new();
    let Some(ints) = f.node.property("interrupts") else { return Ok(irqs) };
    let bad = |why| ErrorKind::BadInterrupts { device: f.path.clone(), why };
    let phandle = f
        .chain
        .iter()
        .rev()
        .find_map(|n| n.property("interrupt-parent"))
        .ok_or_else(|| bad("no interrupt-parent on it or its parents"))?;
    let phandle = prop_u32(&phandle).ok_or_else(|| bad("interrupt-parent is not one cell"))?;
    let ctrl = fdt.find_phandle(phandle).ok_or_else(|| bad("interrupt-parent names no node"))?;
    let n = ctrl
        .property("#interrupt-cells")
        .and_then(|p| prop_u32(&p))
        .filter(|n| (1..=4).contains(n))
        .ok_or_else(|| bad("its interrupt controller has no #interrupt-cells of 1..4"))? as usize;
    if ints.value.is_empty() || ints.value.len() % (n * 4) != 0 {
        return Err(bad("interrupts length does not match the controller's #interrupt-cells"));
    }
    let gic = ctrl
        .property("compatible")
        .and_then(|p| prop_strs(&p).map(|mut s| s.any(|c| c.starts_with("arm,") && c.contains("gic"))))
        == Some(true);
    for spec in ints.value.chunks_exact(n * 4) {
        let mut c = cells(spec);
        let first = c.next().unwrap_or(0);
        let irq = if gic && n >= 3 {
            let num = c.next().unwrap_or(0);
            match first {
                0 => num.checked_add(32),
                1 => num.checked_add(16),
                _ => return Err(bad("GIC interrupt type is neither 0 (SPI) nor 1 (PPI)")),
            }
            .ok_or_else(|| bad("interrupt number overflows"))?
        } else {
            first
        };
        if irqs.push(irq).is_err() {
            return Err(ErrorKind::TooMany { what: "interrupts in one device", max: MAX_DEVICE_RANGES });
        }
    }
    Ok(irqs)
}
