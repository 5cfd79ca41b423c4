//! Semantic checks over a parsed [`Config`]: ownership (ids, labels, CPUs, devices,
//! interrupts used once), memory (aligned, non-empty, not wrapping, inside RAM, clear of
//! the hypervisor and of every other region, guest ranges disjoint), references (shared
//! regions naming real partitions) and images (addresses inside guest memory, staged copy
//! in free RAM).
//!
//! Each conflict is reported once, on the later of the two nodes, naming the earlier one.

use super::error::{path_of, ErrorKind, Path};
use super::model::*;
use super::parse::{Names, Sink, PARTITIONS, SHARED};

/// A memory region of the configuration, partition-owned or shared.
#[derive(Clone, Copy)]
enum Which {
    Part(usize, usize),
    Shared(usize),
}

struct Ctx<'c> {
    cfg: &'c Config,
    names: &'c Names,
}

impl Ctx<'_> {
    fn part_name(&self, i: usize) -> &str {
        self.names.parts.get(i).map(|p| p.node.as_str()).unwrap_or("partition")
    }
    fn part_path(&self, i: usize) -> Path {
        path_of(&[PARTITIONS, self.part_name(i)])
    }
    fn mem_name(&self, i: usize, j: usize) -> &str {
        self.names.parts.get(i).and_then(|p| p.memory.get(j)).map(|n| n.as_str()).unwrap_or("memory")
    }
    fn shared_name(&self, k: usize) -> &str {
        self.names.shared.get(k).map(|n| n.as_str()).unwrap_or("region")
    }
    fn path(&self, w: Which) -> Path {
        match w {
            Which::Part(i, j) => path_of(&[PARTITIONS, self.part_name(i), "/", self.mem_name(i, j)]),
            Which::Shared(k) => path_of(&[SHARED, self.shared_name(k)]),
        }
    }
    /// Short description for "overlaps <this>".
    fn describe(&self, w: Which) -> Path {
        match w {
            Which::Part(i, j) => path_of(&[self.mem_name(i, j), " of ", self.part_name(i)]),
            Which::Shared(k) => path_of(&["shared-memory ", self.shared_name(k)]),
        }
    }
    fn range(&self, w: Which) -> Option<Range> {
        match w {
            Which::Part(i, j) => self.cfg.partitions.get(i)?.memory.get(j).map(|m| m.host),
            Which::Shared(k) => self.cfg.shared.get(k).map(|s| s.host),
        }
    }
    fn regions(&self) -> impl Iterator<Item = Which> + '_ {
        let parts = self.cfg.partitions.iter().enumerate().flat_map(|(i, p)| (0..p.memory.len()).map(move |j| Which::Part(i, j)));
        parts.chain((0..self.cfg.shared.len()).map(Which::Shared))
    }
}

pub(crate) fn check(cfg: &Config, names: &Names, sink: &mut Sink<'_>) {
    let cx = Ctx { cfg, names };
    if !names.reached_partitions {
        return; // no /hypervisor: nothing to check against
    }
    if cfg.partitions.is_empty() {
        sink.err("/hypervisor/partitions", "", ErrorKind::MissingNode("partition@N"));
    }
    ownership(&cx, sink);
    devices(&cx, sink);
    memory(&cx, sink);
    shared(&cx, sink);
    images(&cx, sink);
}

fn ownership(cx: &Ctx<'_>, sink: &mut Sink<'_>) {
    let parts = &cx.cfg.partitions;
    for (i, p) in parts.iter().enumerate() {
        let path = cx.part_path(i);
        let earlier = parts.iter().take(i).enumerate();
        if let Some((j, _)) = earlier.clone().find(|(_, q)| q.id == p.id) {
            sink.err(&path, "reg", ErrorKind::DuplicatePartitionId { id: p.id, other: cx.part_path(j) });
        }
        if !p.name.is_empty() {
            if let Some((j, _)) = earlier.clone().find(|(_, q)| q.name == p.name) {
                sink.err(&path, "label", ErrorKind::DuplicateLabel { other: cx.part_path(j) });
            }
        }
        for &c in &p.cpus {
            if let Some((j, _)) = earlier.clone().find(|(_, q)| q.cpus.contains(&c)) {
                sink.err(&path, "bulkhead,cpus", ErrorKind::CpuTwice { cpu: c, other: cx.part_path(j) });
            }
        }
    }
}

fn devices(cx: &Ctx<'_>, sink: &mut Sink<'_>) {
    let parts = &cx.cfg.partitions;
    for (i, p) in parts.iter().enumerate() {
        let path = cx.part_path(i);
        for (k, d) in p.devices.iter().enumerate() {
            if cx.cfg.console.as_ref() == Some(&d.path) {
                sink.err(&path, "bulkhead,devices", ErrorKind::DeviceIsConsole(d.path.clone()));
            }
            if cx.cfg.log.as_ref() == Some(&d.path) {
                sink.err(&path, "bulkhead,devices", ErrorKind::DeviceIsLog(d.path.clone()));
            }
            // Same device earlier: in an earlier partition, or earlier in this list.
            let before = parts.iter().enumerate().take(i + 1).flat_map(|(j, q)| {
                let n = if j == i { k } else { q.devices.len() };
                q.devices.iter().take(n).map(move |e| (j, e))
            });
            if let Some((j, _)) = before.clone().find(|(_, e)| e.path == d.path) {
                sink.err(&path, "bulkhead,devices", ErrorKind::DeviceTwice { device: d.path.clone(), other: cx.part_path(j) });
                continue;
            }
            for &irq in &d.irqs {
                let clash = before.clone().find(|(j, e)| *j != i && e.irqs.contains(&irq));
                if let Some((j, e)) = clash {
                    let other = path_of(&[e.path.as_str(), " of ", cx.part_name(j)]);
                    sink.err(&path, "bulkhead,devices", ErrorKind::IrqTwice { irq, device: d.path.clone(), other });
                }
            }
        }
    }
}

/// Checks one host range's shape; `false` if it is unusable for overlap checks.
fn shape(path: &str, prop: &'static str, r: Range, sink: &mut Sink<'_>) -> bool {
    if r.base % PAGE_SIZE != 0 {
        sink.err(path, prop, ErrorKind::Unaligned { what: "base", value: r.base });
    }
    if r.size % PAGE_SIZE != 0 {
        sink.err(path, prop, ErrorKind::Unaligned { what: "size", value: r.size });
    }
    if r.size == 0 {
        sink.err(path, prop, ErrorKind::ZeroSize);
        return false;
    }
    if r.end().is_none() {
        sink.err(path, prop, ErrorKind::Wraps(r));
        return false;
    }
    true
}

/// RAM and hypervisor checks shared by regions and staged images.
fn placement(cx: &Ctx<'_>, path: &str, prop: &'static str, r: Range, sink: &mut Sink<'_>) {
    if !cx.cfg.ram.iter().any(|m| m.contains(&r)) {
        sink.err(path, prop, ErrorKind::OutsideRam(r));
    }
    if cx.cfg.hypervisor.size != 0 && cx.cfg.hypervisor.overlaps(&r) {
        sink.err(path, prop, ErrorKind::OverlapsHypervisor(cx.cfg.hypervisor));
    }
}

fn memory(cx: &Ctx<'_>, sink: &mut Sink<'_>) {
    for (n, w) in cx.regions().enumerate() {
        let Some(r) = cx.range(w) else { continue };
        let path = cx.path(w);
        if !shape(&path, "reg", r, sink) {
            continue;
        }
        placement(cx, &path, "reg", r, sink);
        for o in cx.regions().take(n) {
            match cx.range(o) {
                Some(or) if or.end().is_some() && or.size != 0 && or.overlaps(&r) => {
                    sink.err(&path, "reg", ErrorKind::Overlaps { other: cx.describe(o), range: or });
                }
                _ => {}
            }
        }
        if let Which::Part(i, j) = w {
            guest(cx, i, j, &path, sink);
        }
    }
}

/// Guest-physical view of partition `i`'s region `j`: aligned, not wrapping, disjoint
/// from its other regions and from shared regions it maps (at their host addresses).
fn guest(cx: &Ctx<'_>, i: usize, j: usize, path: &str, sink: &mut Sink<'_>) {
    const GA: &str = "bulkhead,guest-address";
    let Some(p) = cx.cfg.partitions.get(i) else { return };
    let Some(m) = p.memory.get(j) else { return };
    let g = Range::new(m.guest_base, m.host.size);
    if g.base % PAGE_SIZE != 0 {
        sink.err(path, GA, ErrorKind::Unaligned { what: "guest address", value: g.base });
    }
    if g.end().is_none() {
        return sink.err(path, GA, ErrorKind::Wraps(g));
    }
    for (k, o) in p.memory.iter().enumerate().take(j) {
        let og = Range::new(o.guest_base, o.host.size);
        if og.end().is_some() && og.size != 0 && og.overlaps(&g) {
            sink.err(path, GA, ErrorKind::GuestOverlaps { other: cx.describe(Which::Part(i, k)), range: og });
        }
    }
    for (k, s) in cx.cfg.shared.iter().enumerate() {
        if s.partitions.contains(&p.id) && s.host.end().is_some() && s.host.size != 0 && s.host.overlaps(&g) {
            sink.err(path, GA, ErrorKind::GuestOverlaps { other: cx.describe(Which::Shared(k)), range: s.host });
        }
    }
}

fn shared(cx: &Ctx<'_>, sink: &mut Sink<'_>) {
    for (k, s) in cx.cfg.shared.iter().enumerate() {
        let path = cx.path(Which::Shared(k));
        for &id in &s.partitions {
            if !cx.cfg.partitions.iter().any(|p| p.id == id) {
                sink.err(&path, "bulkhead,partitions", ErrorKind::UnknownPartition(id));
            }
        }
    }
}

fn images(cx: &Ctx<'_>, sink: &mut Sink<'_>) {
    for (i, p) in cx.cfg.partitions.iter().enumerate() {
        if p.memory.is_empty() {
            continue; // already reported; every address would be "outside"
        }
        for (node, img) in p.images() {
            image(cx, i, p, node, img, sink);
        }
    }
}

/// One image or initramfs of partition `p` (the `i`th).
fn image(cx: &Ctx<'_>, i: usize, p: &Partition, node: &str, img: &Image, sink: &mut Sink<'_>) {
    let path = path_of(&[PARTITIONS, cx.part_name(i), "/", node]);
    let inside = |a: u64| p.memory.iter().any(|m| Range::new(m.guest_base, m.host.size).contains(&Range::new(a, 1)));
    if let Some(a) = img.load_address.filter(|a| !inside(*a)) {
        sink.err(&path, "bulkhead,load-address", ErrorKind::OutsideGuestMemory(a));
    }
    if let Some(a) = img.entry.filter(|a| !inside(*a)) {
        sink.err(&path, "bulkhead,entry", ErrorKind::OutsideGuestMemory(a));
    }
    // The staged copy is the file as loaded: any alignment, but it must exist and fit.
    let Some(st) = img.staged else { return };
    if st.size == 0 {
        sink.err(&path, "reg", ErrorKind::ZeroSize);
        return;
    }
    if st.end().is_none() {
        sink.err(&path, "reg", ErrorKind::Wraps(st));
        return;
    }
    placement(cx, &path, "reg", st, sink);
    for w in cx.regions() {
        if let Some(r) = cx.range(w).filter(|r| r.end().is_some() && r.size != 0 && r.overlaps(&st)) {
            sink.err(&path, "reg", ErrorKind::StagedOverlaps { other: cx.describe(w), range: r });
        }
    }
}
