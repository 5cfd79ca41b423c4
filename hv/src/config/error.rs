//! Configuration errors: where (node path, property) and what to change.
//!
//! Every error renders as one line, `<node>: <property>: <what is wrong; what to change>`
//! (`<node>: <what ...>` when the node itself is the problem), so that the host tool and
//! the hypervisor's boot log print the same text and the bad-config corpus can match it.

use core::fmt::{self, Display};

use heapless::String;

use super::model::{Range, MAX_PATH};

/// A device-tree path (or node name) kept in an error. Longer paths are cut with `...`.
pub type Path = String<MAX_PATH>;

/// Builds a [`Path`] from pieces, cutting it (never failing) when it is too long.
pub fn path_of(pieces: &[&str]) -> Path {
    let mut p = Path::new();
    for piece in pieces {
        for c in piece.chars() {
            if p.push(c).is_err() {
                // Mark the cut so nobody mistakes it for a real path.
                while p.len() > MAX_PATH - 3 {
                    p.pop();
                }
                let _ = p.push_str("...");
                return p;
            }
        }
    }
    p
}

/// One configuration error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Full path of the offending node.
    pub node: Path,
    /// The offending property, or `""` when the node itself is the problem.
    pub property: &'static str,
    pub kind: ErrorKind,
}

impl ConfigError {
    pub fn new(node: &str, property: &'static str, kind: ErrorKind) -> Self {
        ConfigError { node: path_of(&[node]), property, kind }
    }
}

/// What is wrong. One variant per check, so tests (and callers) can tell them apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The blob is not a well-formed flattened device tree.
    BadBlob(&'static str),
    /// There is no `/hypervisor` node.
    NoHypervisor,
    /// A required node is missing (e.g. `/cpus`, `partitions`).
    MissingNode(&'static str),
    /// `compatible` lacks the expected string.
    BadCompatible(&'static str),
    /// A required property is absent.
    MissingProperty,
    /// `#address-cells` / `#size-cells` / `#interrupt-cells` out of what we support.
    BadCells { value: u32, allowed: &'static str },
    /// Property length does not fit its cells.
    BadLength { len: usize, expected: &'static str },
    /// Not a NUL-terminated UTF-8 string (list).
    BadString,
    /// An enumerated string property has an unknown value.
    UnknownValue { allowed: &'static str },
    /// A `bulkhead,` property this binding does not define (typo protection).
    UnknownProperty(Path),
    /// A child node this binding does not define.
    UnknownNode,
    /// A value does not fit 32 bits where it must.
    TooBig(u64),
    /// Partition id not below the maximum.
    PartitionIdOutOfRange { id: u32, max: usize },
    /// Partition id used twice.
    DuplicatePartitionId { id: u32, other: Path },
    /// Label too long.
    LabelTooLong { len: usize, max: usize },
    /// Label empty or contains a character outside `[a-z0-9_-]`.
    LabelBadChar,
    /// Label used by another partition.
    DuplicateLabel { other: Path },
    /// `bulkhead,cpus` empty or absent.
    NoCpus,
    /// A CPU not under `/cpus`.
    CpuNotPresent(u32),
    /// A CPU owned twice.
    CpuTwice { cpu: u32, other: Path },
    /// A partition without `memory@` nodes.
    NoMemory,
    /// Address or size not 4 KiB aligned.
    Unaligned { what: &'static str, value: u64 },
    /// Size zero.
    ZeroSize,
    /// Range wraps around the address space.
    Wraps(Range),
    /// Range not inside one `/memory` range.
    OutsideRam(Range),
    /// Range overlaps the hypervisor's own memory.
    OverlapsHypervisor(Range),
    /// Host range overlaps another region.
    Overlaps { other: Path, range: Range },
    /// Guest-physical ranges of one partition overlap.
    GuestOverlaps { other: Path, range: Range },
    /// A device or console path that is not in the tree.
    PathNotFound(Path),
    /// A device in two partitions (or twice in one).
    DeviceTwice { device: Path, other: Path },
    /// A passthrough device without `reg`.
    DeviceNoReg(Path),
    /// The device is an interrupt controller (the hypervisor's).
    DeviceIsInterruptController(Path),
    /// The device carries the hypervisor's log.
    DeviceIsLog(Path),
    /// The device is the hypervisor's console.
    DeviceIsConsole(Path),
    /// A device `reg` that cannot be translated to a physical address.
    Untranslatable { device: Path, why: &'static str },
    /// A device interrupt that cannot be decoded.
    BadInterrupts { device: Path, why: &'static str },
    /// An interrupt line given to two partitions.
    IrqTwice { irq: u32, device: Path, other: Path },
    /// Shared region naming a partition that does not exist.
    UnknownPartition(u32),
    /// Fixed capacity exceeded.
    TooMany { what: &'static str, max: usize },
    /// Image load address / entry outside the partition's guest memory.
    OutsideGuestMemory(u64),
    /// Staged image overlapping something it must not.
    StagedOverlaps { other: Path, range: Range },
}

/// `base..end` in hex, or `base+size (wraps)`.
struct R(Range);

impl Display for R {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.end() {
            Some(end) => write!(f, "{:#x}..{:#x}", self.0.base, end),
            None => write!(f, "{:#x}+{:#x} (wraps)", self.0.base, self.0.size),
        }
    }
}

impl Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind::*;
        match self {
            BadBlob(why) => write!(f, "not a valid device-tree blob ({why}); rebuild it with dtc/fdtoverlay"),
            NoHypervisor => f.write_str("no /hypervisor node; use the board's board.dts as the base tree"),
            MissingNode(what) => write!(f, "missing {what} node; add it"),
            BadCompatible(want) => write!(f, "compatible must contain \"{want}\""),
            MissingProperty => f.write_str("missing; this property is required"),
            BadCells { value, allowed } => write!(f, "value {value} is not supported; use {allowed}"),
            BadLength { len, expected } => write!(f, "length {len} bytes is wrong; expected {expected}"),
            BadString => f.write_str("not a NUL-terminated UTF-8 string; write it as \"...\""),
            UnknownValue { allowed } => write!(f, "unknown value; use one of {allowed}"),
            UnknownProperty(name) => write!(f, "unknown property {name}; check the spelling against docs/configuration.md"),
            UnknownNode => f.write_str("unknown node here; expected memory@..., image (in a partition), partition@N or region@... (check the spelling)"),
            TooBig(v) => write!(f, "value {v:#x} does not fit 32 bits"),
            PartitionIdOutOfRange { id, max } => write!(f, "partition id {id} out of range; use 0..{}", max - 1),
            DuplicatePartitionId { id, other } => write!(f, "partition id {id} already used by {other}; give each partition its own reg"),
            LabelTooLong { len, max } => write!(f, "label is {len} characters; use at most {max}"),
            LabelBadChar => f.write_str("label must be 1.. characters of [a-z0-9_-]"),
            DuplicateLabel { other } => write!(f, "label already used by {other}; give each partition its own label"),
            NoCpus => f.write_str("no CPUs; list at least one physical CPU (reg of /cpus/cpu@N)"),
            CpuNotPresent(c) => write!(f, "CPU {c} is not under /cpus; use the reg of an existing CPU node"),
            CpuTwice { cpu, other } => write!(f, "CPU {cpu} already owned by {other}; give each CPU to one partition"),
            NoMemory => f.write_str("no memory; add a memory@<address> node with reg"),
            Unaligned { what, value } => write!(f, "{what} {value:#x} is not 4 KiB aligned; round it to a multiple of 0x1000"),
            ZeroSize => f.write_str("size is zero; give the region a size"),
            Wraps(r) => write!(f, "range {} wraps around the address space", R(*r)),
            OutsideRam(r) => write!(f, "range {} is not inside the board's RAM (/memory); use RAM the board has", R(*r)),
            OverlapsHypervisor(hv) => write!(f, "overlaps the hypervisor's memory ({}); move it out of /hypervisor reg", R(*hv)),
            Overlaps { other, range } => write!(f, "overlaps {other} ({}); give each partition its own range", R(*range)),
            GuestOverlaps { other, range } => write!(f, "guest-physical range overlaps {other} (guest {}); change bulkhead,guest-address", R(*range)),
            PathNotFound(p) => write!(f, "no node {p} in the board tree; use a full path such as /pl011@9000000"),
            DeviceTwice { device, other } => write!(f, "device {device} already given to {other}; give each device to one partition"),
            DeviceNoReg(d) => write!(f, "device {d} has no reg; only memory-mapped devices can be passed through"),
            DeviceIsInterruptController(d) => {
                write!(f, "device {d} is an interrupt controller, which the hypervisor owns; partitions get an emulated one")
            }
            DeviceIsConsole(d) => write!(f, "device {d} is the hypervisor's console; use bulkhead,console = \"emulated\" instead"),
            DeviceIsLog(d) => write!(f, "device {d} carries the hypervisor's log (bulkhead,log); give the partition another device"),
            Untranslatable { device, why } => write!(f, "cannot translate reg of {device}: {why}"),
            BadInterrupts { device, why } => write!(f, "cannot decode interrupts of {device}: {why}"),
            IrqTwice { irq, device, other } => write!(f, "interrupt {irq} of {device} is also used by {other}; devices sharing an interrupt line must go to the same partition"),
            UnknownPartition(id) => write!(f, "no partition with id {id}; name existing partition ids"),
            TooMany { what, max } => write!(f, "too many {what}; at most {max} supported"),
            OutsideGuestMemory(a) => write!(f, "guest address {a:#x} is outside the partition's guest memory; use an address inside a memory node's guest range"),
            StagedOverlaps { other, range } => write!(f, "staged image overlaps {other} ({}); stage it in free RAM", R(*range)),
        }
    }
}

impl Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.node)?;
        f.write_str(": ")?;
        if !self.property.is_empty() {
            f.write_str(self.property)?;
            f.write_str(": ")?;
        }
        write!(f, "{}", self.kind)
    }
}
