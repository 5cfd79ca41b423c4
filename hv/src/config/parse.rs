//! Device tree → [`Config`]: the syntactic half of the checks (presence, cells, lengths,
//! strings, enumerations, unknown `bulkhead,` properties). Relations between values
//! (overlaps, ownership, references) are [`super::check`]'s job.
//!
//! The `fdt` crate has no path accessor, so the walk carries each node's path itself.
//! Parsing goes on after an error so that the host tool can list every error at once; a
//! node that fails is left out of the model (or kept partially) so later checks do not
//! repeat the same complaint.

use fdt::node::FdtNode;
use fdt::Fdt;
use heapless::{String, Vec};

use super::blob::{self, prop_str, prop_strs, prop_u32, read_cells};
use super::device;
use super::error::{path_of, ErrorKind, Path};
use super::model::*;
pub(crate) use super::names::{name_of, normalize, Names, PartNames, Sink};

pub(crate) const PARTITIONS: &str = "/hypervisor/partitions/";
pub(crate) const SHARED: &str = "/hypervisor/shared-memory/";


pub(crate) fn child<'b, 'a>(node: FdtNode<'b, 'a>, name: &str) -> Option<FdtNode<'b, 'a>> {
    node.children().find(|c| c.name == name)
}

fn is_device_type(node: FdtNode<'_, '_>, what: &str) -> bool {
    node.property("device_type").and_then(|p| prop_str(&p)) == Some(what)
}

/// `#address-cells` / `#size-cells` of `node` (the cells its children use), checked.
pub(crate) fn cells_of(node: FdtNode<'_, '_>, path: &str, sink: &mut Sink<'_>) -> (usize, usize) {
    let get = |name: &'static str, default: usize, sink: &mut Sink<'_>| match node.property(name) {
        None => default,
        Some(p) => match prop_u32(&p) {
            Some(v) if v <= 2 => v as usize,
            Some(v) => {
                sink.err(path, name, ErrorKind::BadCells { value: v, allowed: "0, 1 or 2" });
                default
            }
            None => {
                sink.err(path, name, ErrorKind::BadLength { len: p.value.len(), expected: "one cell" });
                default
            }
        },
    };
    let ac = get("#address-cells", 2, sink);
    let sc = get("#size-cells", 1, sink);
    (ac, sc)
}

/// Requires exactly `(ac, sc)` on a node whose children's `reg` we interpret by fixed rules.
fn require_cells(node: FdtNode<'_, '_>, path: &str, want: (usize, usize), sink: &mut Sink<'_>) -> bool {
    let (ac, sc) = cells_of(node, path, sink);
    let mut ok = true;
    if ac != want.0 {
        let allowed = if want.0 == 1 { "<1>" } else { "<2>" };
        sink.err(path, "#address-cells", ErrorKind::BadCells { value: ac as u32, allowed });
        ok = false;
    }
    if sc != want.1 {
        let allowed = if want.1 == 0 { "<0>" } else { "<2>" };
        sink.err(path, "#size-cells", ErrorKind::BadCells { value: sc as u32, allowed });
        ok = false;
    }
    ok
}

/// The entries of a `reg`-like property with `ac` address and `sc` size cells.
pub(crate) fn entries(value: &[u8], ac: usize, sc: usize) -> Option<impl Iterator<Item = Range> + '_> {
    let stride = (ac + sc).checked_mul(4)?;
    if ac == 0 || ac > 2 || sc > 2 || stride == 0 || value.is_empty() || value.len() % stride != 0 {
        return None;
    }
    Some(value.chunks_exact(stride).filter_map(move |e| {
        Some(Range::new(read_cells(e, ac)?, read_cells(e.get(ac * 4..)?, sc)?))
    }))
}

fn cells_text(ac: usize, sc: usize) -> &'static str {
    match (ac, sc) {
        (1, 0) => "<id> (one cell)",
        (1, 1) => "<address size> with 1+1 cells",
        (1, 2) => "<address size> with 1+2 cells",
        (2, 1) => "<address size> with 2+1 cells",
        (2, 2) => "<address size> with 2+2 cells (one pair)",
        (2, 0) | (1, _) | (2, _) => "<address size> pairs matching the parent's cells",
        _ => "cells the parent's #address-cells/#size-cells allow (1 or 2)",
    }
}

/// Exactly one `<address size>` entry.
fn one_reg(node: FdtNode<'_, '_>, path: &str, prop: &'static str, ac: usize, sc: usize, sink: &mut Sink<'_>) -> Option<Range> {
    let Some(p) = node.property(prop) else {
        sink.err(path, prop, ErrorKind::MissingProperty);
        return None;
    };
    let expected = cells_text(ac, sc);
    let one = ac.checked_add(sc).and_then(|n| n.checked_mul(4)) == Some(p.value.len());
    match entries(p.value, ac, sc).and_then(|mut e| e.next()) {
        Some(r) if one => Some(r),
        _ => {
            sink.err(path, prop, ErrorKind::BadLength { len: p.value.len(), expected });
            None
        }
    }
}

/// An address of `ac` cells.
fn address(node: FdtNode<'_, '_>, path: &str, prop: &'static str, ac: usize, sink: &mut Sink<'_>) -> Option<u64> {
    let p = node.property(prop)?;
    match read_cells(p.value, ac) {
        Some(v) if p.value.len() == ac * 4 => Some(v),
        _ => {
            let expected = if ac == 1 { "one address cell (#address-cells = <1>)" } else { "two address cells (#address-cells = <2>)" };
            sink.err(path, prop, ErrorKind::BadLength { len: p.value.len(), expected });
            None
        }
    }
}

fn string<'a>(node: FdtNode<'_, 'a>, path: &str, prop: &'static str, sink: &mut Sink<'_>) -> Option<&'a str> {
    let p = node.property(prop)?;
    let s = prop_str(&p);
    if s.is_none() {
        sink.err(path, prop, ErrorKind::BadString);
    }
    s
}

/// Rejects `bulkhead,` properties not in `known` (typo protection).
fn unknown_props(node: FdtNode<'_, '_>, path: &str, known: &[&str], sink: &mut Sink<'_>) {
    for p in node.properties() {
        if p.name.starts_with("bulkhead,") && !known.contains(&p.name) {
            sink.err(path, "", ErrorKind::UnknownProperty(path_of(&[p.name])));
        }
    }
}

fn has_compatible(node: FdtNode<'_, '_>, want: &str) -> bool {
    node.property("compatible").and_then(|p| prop_strs(&p).map(|mut s| s.any(|c| c == want))) == Some(true)
}

/// A label: 1..=16 characters of `[a-z0-9_-]`.
fn label(node: FdtNode<'_, '_>, path: &str, sink: &mut Sink<'_>) -> Option<String<MAX_NAME>> {
    let Some(s) = string(node, path, "label", sink) else {
        if node.property("label").is_none() {
            sink.err(path, "label", ErrorKind::MissingProperty);
        }
        return None;
    };
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-') {
        sink.err(path, "label", ErrorKind::LabelBadChar);
        return None;
    }
    if s.len() > MAX_NAME {
        sink.err(path, "label", ErrorKind::LabelTooLong { len: s.len(), max: MAX_NAME });
        return None;
    }
    String::try_from(s).ok()
}

/// Parses the whole tree into `cfg` (which must be empty) and `names`, in canonical order.
pub(crate) fn parse_tree(dtb: &[u8], cfg: &mut Config, names: &mut Names, sink: &mut Sink<'_>) {
    parse_nodes(dtb, cfg, names, sink);
    normalize(cfg, names);
}

fn parse_nodes(dtb: &[u8], cfg: &mut Config, names: &mut Names, sink: &mut Sink<'_>) {
    if let Err(why) = blob::validate(dtb) {
        return sink.err("/", "", ErrorKind::BadBlob(why));
    }
    let Ok(fdt) = Fdt::new(dtb) else {
        return sink.err("/", "", ErrorKind::BadBlob("header rejected"));
    };
    let fdt = &fdt;
    let Some(root) = fdt.find_node("/") else {
        return sink.err("/", "", ErrorKind::BadBlob("no root node"));
    };
    let (rac, rsc) = cells_of(root, "/", sink);

    for node in root.children().filter(|n| is_device_type(*n, "memory")) {
        let path = path_of(&["/", node.name]);
        let Some(reg) = node.property("reg") else { continue };
        let Some(rs) = entries(reg.value, rac, rsc) else {
            sink.err(&path, "reg", ErrorKind::BadLength { len: reg.value.len(), expected: cells_text(rac, rsc) });
            continue;
        };
        for r in rs {
            if cfg.ram.push(r).is_err() {
                sink.err(&path, "reg", ErrorKind::TooMany { what: "RAM ranges", max: MAX_REGIONS });
                break;
            }
        }
    }

    match child(root, "cpus") {
        None => sink.err("/cpus", "", ErrorKind::MissingNode("/cpus")),
        Some(cpus) => {
            let (cac, _) = cells_of(cpus, "/cpus", sink);
            for cpu in cpus.children().filter(|n| is_device_type(*n, "cpu")) {
                let path = path_of(&["/cpus/", cpu.name]);
                let id = cpu.property("reg").and_then(|p| read_cells(p.value, cac));
                match id.map(u32::try_from) {
                    Some(Ok(id)) => {
                        if cfg.cpus_present.push(id).is_err() {
                            sink.err(&path, "", ErrorKind::TooMany { what: "CPUs", max: MAX_CPUS });
                        }
                    }
                    Some(Err(_)) => sink.err(&path, "reg", ErrorKind::TooBig(id.unwrap_or(0))),
                    None => sink.err(&path, "reg", ErrorKind::MissingProperty),
                }
            }
        }
    }

    let Some(hv) = child(root, "hypervisor") else {
        return sink.err("/hypervisor", "", ErrorKind::NoHypervisor);
    };
    let hvp = "/hypervisor";
    names.reached_partitions = true;
    if !has_compatible(hv, "bulkhead,hypervisor") {
        sink.err(hvp, "compatible", ErrorKind::BadCompatible("bulkhead,hypervisor"));
    }
    if let Some(r) = one_reg(hv, hvp, "reg", rac, rsc, sink) {
        cfg.hypervisor = r;
    }
    unknown_props(hv, hvp, &["bulkhead,console", "bulkhead,log"], sink);
    if let Some(c) = string(hv, hvp, "bulkhead,console", sink) {
        match device::resolve(fdt, c) {
            Some(found) => cfg.console = Some(found.path),
            None => sink.err(hvp, "bulkhead,console", ErrorKind::PathNotFound(path_of(&[c]))),
        }
    }
    if let Some(c) = string(hv, hvp, "bulkhead,log", sink) {
        match device::resolve(fdt, c) {
            Some(found) => cfg.log = Some(found.path),
            None => sink.err(hvp, "bulkhead,log", ErrorKind::PathNotFound(path_of(&[c]))),
        }
    }
    for c in hv.children() {
        if c.name != "partitions" && c.name != "shared-memory" {
            sink.err(&path_of(&["/hypervisor/", c.name]), "", ErrorKind::UnknownNode);
        }
    }

    match child(hv, "partitions") {
        None => sink.err("/hypervisor/partitions", "", ErrorKind::MissingNode("/hypervisor/partitions")),
        Some(parts) => {
            require_cells(parts, "/hypervisor/partitions", (1, 0), sink);
            for node in parts.children() {
                let path = path_of(&[PARTITIONS, node.name]);
                if node.name != "partition" && !node.name.starts_with("partition@") {
                    sink.err(&path, "", ErrorKind::UnknownNode);
                } else if cfg.partitions.is_full() {
                    sink.err(&path, "", ErrorKind::TooMany { what: "partitions", max: MAX_PARTITIONS });
                } else {
                    partition(fdt, node, &path, cfg, names, sink);
                }
            }
        }
    }

    if let Some(shm) = child(hv, "shared-memory") {
        let (sac, ssc) = cells_of(shm, "/hypervisor/shared-memory", sink);
        for node in shm.children() {
            let path = path_of(&[SHARED, node.name]);
            if node.name != "region" && !node.name.starts_with("region@") {
                sink.err(&path, "", ErrorKind::UnknownNode);
            } else if cfg.shared.is_full() {
                sink.err(&path, "", ErrorKind::TooMany { what: "shared-memory regions", max: MAX_SHARED });
            } else if let Some(s) = shared(node, &path, sac, ssc, sink) {
                let _ = cfg.shared.push(s);
                let _ = names.shared.push(name_of(node.name));
            }
        }
    }
}

fn shared(node: FdtNode<'_, '_>, path: &str, ac: usize, sc: usize, sink: &mut Sink<'_>) -> Option<SharedRegion> {
    unknown_props(node, path, &["bulkhead,partitions"], sink);
    let name = label(node, path, sink);
    let host = one_reg(node, path, "reg", ac, sc, sink);
    let mut partitions = Vec::new();
    match node.property("bulkhead,partitions") {
        None => sink.err(path, "bulkhead,partitions", ErrorKind::MissingProperty),
        Some(p) if p.value.is_empty() || p.value.len() % 4 != 0 => {
            sink.err(path, "bulkhead,partitions", ErrorKind::BadLength { len: p.value.len(), expected: "one or more partition ids, one cell each" })
        }
        Some(p) => {
            for id in blob::cells(p.value) {
                if partitions.push(id).is_err() {
                    sink.err(path, "bulkhead,partitions", ErrorKind::TooMany { what: "partitions", max: MAX_PARTITIONS });
                    break;
                }
            }
        }
    }
    Some(SharedRegion { name: name?, host: host?, partitions })
}

fn partition(fdt: &Fdt<'_>, node: FdtNode<'_, '_>, path: &str, cfg: &mut Config, names: &mut Names, sink: &mut Sink<'_>) {
    const KNOWN: &[&str] = &["bulkhead,cpus", "bulkhead,devices", "bulkhead,console", "bulkhead,fault-policy", "bulkhead,bootargs"];
    unknown_props(node, path, KNOWN, sink);
    if !has_compatible(node, "bulkhead,partition") {
        sink.err(path, "compatible", ErrorKind::BadCompatible("bulkhead,partition"));
    }
    let id = match node.property("reg") {
        None => {
            sink.err(path, "reg", ErrorKind::MissingProperty);
            return;
        }
        Some(p) => match prop_u32(&p) {
            Some(id) => id,
            None => return sink.err(path, "reg", ErrorKind::BadLength { len: p.value.len(), expected: "<id> (one cell)" }),
        },
    };
    if id as usize >= MAX_PARTITIONS {
        sink.err(path, "reg", ErrorKind::PartitionIdOutOfRange { id, max: MAX_PARTITIONS });
    }
    let name = label(node, path, sink).unwrap_or_default();
    let console = match string(node, path, "bulkhead,console", sink) {
        None | Some("emulated") => Console::Emulated,
        Some("none") => Console::None,
        Some(_) => {
            sink.err(path, "bulkhead,console", ErrorKind::UnknownValue { allowed: "\"emulated\", \"none\"" });
            Console::Emulated
        }
    };
    let fault_policy = match string(node, path, "bulkhead,fault-policy", sink) {
        None | Some("stop") => FaultPolicy::Stop,
        Some("inject") => FaultPolicy::Inject,
        Some("restart") => FaultPolicy::Restart,
        Some(_) => {
            sink.err(path, "bulkhead,fault-policy", ErrorKind::UnknownValue { allowed: "\"inject\", \"stop\", \"restart\"" });
            FaultPolicy::Stop
        }
    };
    let bootargs = string(node, path, "bulkhead,bootargs", sink).and_then(|s| {
        let mut b = String::new();
        let fits = b.push_str(s).is_ok();
        if !fits {
            sink.err(path, "bulkhead,bootargs", ErrorKind::TooMany { what: "bytes of command line", max: MAX_BOOTARGS });
        }
        fits.then_some(b)
    });
    let mut part = Partition::new(id, "");
    part.name = name;
    part.console = console;
    part.fault_policy = fault_policy;
    part.bootargs = bootargs;
    if cfg.partitions.push(part).is_err() || names.parts.push(PartNames { node: name_of(node.name), memory: Vec::new() }).is_err() {
        return;
    }
    let (Some(p), Some(pn)) = (cfg.partitions.last_mut(), names.parts.last_mut()) else { return };

    match node.property("bulkhead,cpus") {
        Some(v) if v.value.len() % 4 != 0 => {
            sink.err(path, "bulkhead,cpus", ErrorKind::BadLength { len: v.value.len(), expected: "CPU numbers, one cell each" })
        }
        Some(v) if !v.value.is_empty() => {
            for c in blob::cells(v.value) {
                if !cfg.cpus_present.contains(&c) {
                    sink.err(path, "bulkhead,cpus", ErrorKind::CpuNotPresent(c));
                } else if p.cpus.contains(&c) {
                    sink.err(path, "bulkhead,cpus", ErrorKind::CpuTwice { cpu: c, other: path_of(&[path]) });
                } else if p.cpus.push(c).is_err() {
                    sink.err(path, "bulkhead,cpus", ErrorKind::TooMany { what: "CPUs", max: MAX_CPUS });
                    break;
                }
            }
        }
        _ => sink.err(path, "bulkhead,cpus", ErrorKind::NoCpus),
    }

    if let Some(v) = node.property("bulkhead,devices") {
        match prop_strs(&v) {
            None => sink.err(path, "bulkhead,devices", ErrorKind::BadString),
            Some(list) => {
                for d in list {
                    match device::device(fdt, d) {
                        Err(kind) => sink.err(path, "bulkhead,devices", kind),
                        Ok(dev) => {
                            if p.devices.push(dev).is_err() {
                                sink.err(path, "bulkhead,devices", ErrorKind::TooMany { what: "devices", max: MAX_DEVICES });
                                break;
                            }
                        }
                    }
                }
            }
        }
    }

    let (ac, sc) = cells_of(node, path, sink);
    let mut saw_memory = false;
    for c in node.children() {
        let cpath = path_of(&[path, "/", c.name]);
        if c.name == "memory" || c.name.starts_with("memory@") {
            saw_memory = true;
            unknown_props(c, &cpath, &["bulkhead,guest-address"], sink);
            let Some(host) = one_reg(c, &cpath, "reg", ac, sc, sink) else { continue };
            let guest_base = match c.property("bulkhead,guest-address") {
                None => host.base,
                Some(_) => match address(c, &cpath, "bulkhead,guest-address", ac, sink) {
                    Some(g) => g,
                    None => continue,
                },
            };
            if p.memory.push(MemoryRegion { host, guest_base }).is_err() {
                sink.err(&cpath, "", ErrorKind::TooMany { what: "memory regions in one partition", max: MAX_REGIONS });
            } else {
                let _ = pn.memory.push(name_of(c.name));
            }
        } else if c.name == "image" {
            p.image = image(c, &cpath, ac, sc, sink);
        } else if c.name == "initramfs" {
            // Same properties as an image; an initramfs is placed as it is (raw, at its
            // required load address).
            p.initramfs = image(c, &cpath, ac, sc, sink);
            if p.initramfs.as_ref().is_some_and(|i| i.format != ImageFormat::Raw) {
                sink.err(&cpath, "bulkhead,format", ErrorKind::UnknownValue { allowed: "\"raw\" (an initramfs is placed as it is)" });
            }
        } else {
            sink.err(&cpath, "", ErrorKind::UnknownNode);
        }
    }
    if !saw_memory {
        sink.err(path, "", ErrorKind::NoMemory);
    }
}

fn image(node: FdtNode<'_, '_>, path: &str, ac: usize, sc: usize, sink: &mut Sink<'_>) -> Option<Image> {
    const KNOWN: &[&str] = &["bulkhead,file", "bulkhead,format", "bulkhead,load-address", "bulkhead,entry"];
    unknown_props(node, path, KNOWN, sink);
    let format = match string(node, path, "bulkhead,format", sink) {
        Some("raw") => Some(ImageFormat::Raw),
        Some("elf") => Some(ImageFormat::Elf),
        Some("arm64-image") => Some(ImageFormat::Arm64Image),
        Some(_) => {
            sink.err(path, "bulkhead,format", ErrorKind::UnknownValue { allowed: "\"raw\", \"elf\", \"arm64-image\"" });
            None
        }
        None => {
            if node.property("bulkhead,format").is_none() {
                sink.err(path, "bulkhead,format", ErrorKind::MissingProperty);
            }
            None
        }
    };
    let file = string(node, path, "bulkhead,file", sink);
    if node.property("bulkhead,file").is_none() {
        sink.err(path, "bulkhead,file", ErrorKind::MissingProperty);
    }
    let load_address = address(node, path, "bulkhead,load-address", ac, sink);
    let entry = address(node, path, "bulkhead,entry", ac, sink);
    if load_address.is_none() && node.property("bulkhead,load-address").is_none() && matches!(format, Some(ImageFormat::Raw | ImageFormat::Arm64Image)) {
        sink.err(path, "bulkhead,load-address", ErrorKind::MissingProperty);
    }
    let staged = match node.property("reg") {
        None => None,
        Some(_) => Some(one_reg(node, path, "reg", ac, sc, sink)?),
    };
    let file: Path = path_of(&[file?]);
    Some(Image { format: format?, load_address, entry, staged, file })
}
