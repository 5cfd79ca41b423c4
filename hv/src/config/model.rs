//! The configuration model: what a validated device tree says each partition owns.
//!
//! Every value here has passed the checks in [`super::check`]; code that holds a
//! [`Config`] may rely on them (regions aligned and disjoint, CPUs present and owned once,
//! devices and interrupts assigned once).

use heapless::{String, Vec};

/// Most partitions one configuration may declare.
pub const MAX_PARTITIONS: usize = 8;
/// Most physical CPUs a board may have.
pub const MAX_CPUS: usize = 8;
/// Most memory regions per partition.
pub const MAX_REGIONS: usize = 8;
/// Most passthrough devices per partition.
pub const MAX_DEVICES: usize = 8;
/// Most MMIO ranges or interrupts one device may have.
pub const MAX_DEVICE_RANGES: usize = 4;
/// Most shared-memory regions per configuration.
pub const MAX_SHARED: usize = 8;
/// Longest partition name (bytes).
pub const MAX_NAME: usize = 16;
/// Longest kernel command line (`bulkhead,bootargs`), bytes.
pub const MAX_BOOTARGS: usize = 256;
/// Longest device-tree path kept in the model (bytes).
pub const MAX_PATH: usize = 64;

/// Smallest mapping granule every port supports: regions must be aligned to it.
pub const PAGE_SIZE: u64 = 4096;

/// A physical address range `[base, base + size)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub base: u64,
    pub size: u64,
}

impl Range {
    pub const fn new(base: u64, size: u64) -> Self {
        Range { base, size }
    }
    /// One past the last byte, or `None` if the range wraps the address space.
    pub fn end(&self) -> Option<u64> {
        self.base.checked_add(self.size)
    }
    pub fn overlaps(&self, other: &Range) -> bool {
        let (Some(a_end), Some(b_end)) = (self.end(), other.end()) else {
            return true;
        };
        self.base < b_end && other.base < a_end
    }
    pub fn contains(&self, other: &Range) -> bool {
        match (self.end(), other.end()) {
            (Some(a_end), Some(b_end)) => self.base <= other.base && b_end <= a_end,
            _ => false,
        }
    }
}

/// What the hypervisor does when a partition faults (bad access, forbidden register,
/// undefined hypercall, machine check): `bulkhead,fault-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultPolicy {
    /// Reflect the fault into the partition as the hardware would (abort, undefined
    /// instruction, program interrupt); the guest's own handlers decide.
    Inject,
    /// Stop the partition; the others go on.
    Stop,
    /// Restart the partition from its image.
    Restart,
}

/// How a partition's console is provided: `bulkhead,console`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Console {
    /// No console.
    None,
    /// An emulated UART, multiplexed onto the physical console with the partition's name
    /// as prefix.
    Emulated,
}

/// A guest-physical view of host-physical memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    /// Host-physical range (the node's `reg`).
    pub host: Range,
    /// Guest-physical base (`bulkhead,guest-address`; identity if absent).
    pub guest_base: u64,
}

/// A device from the board tree given to a partition (`bulkhead,devices`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// The device node's full path in the board tree.
    pub path: String<MAX_PATH>,
    /// Its MMIO ranges (translated to physical addresses).
    pub mmio: Vec<Range, MAX_DEVICE_RANGES>,
    /// Its interrupts, as interrupt-controller specific numbers (GIC INTID, MPIC source,
    /// x86 vector/GSI).
    pub irqs: Vec<u32, MAX_DEVICE_RANGES>,
}

/// Format of a guest image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// Raw binary, copied to the load address.
    Raw,
    /// ELF, segments placed at their physical addresses (guest-physical).
    Elf,
    /// arm64 Linux `Image` (header honoured: text_offset, image_size).
    Arm64Image,
}

/// A partition's boot image (`image` subnode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub format: ImageFormat,
    /// Guest-physical address the image is placed at (raw, arm64 Image).
    pub load_address: Option<u64>,
    /// Guest-physical entry point (defaults to the load address, or the ELF entry).
    pub entry: Option<u64>,
    /// Where the boot loader staged the image in host-physical memory (`reg`), if staged.
    pub staged: Option<Range>,
    /// `bulkhead,file`: the image file, relative to the overlay's directory (host tool).
    pub file: String<MAX_PATH>,
}

/// One partition (`/hypervisor/partitions/partition@N`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// `reg`: the partition id, unique, 0..MAX_PARTITIONS.
    pub id: u32,
    /// `label`: short name, used as console prefix.
    pub name: String<MAX_NAME>,
    /// `bulkhead,cpus`: physical CPUs (the `reg` of `/cpus/cpu@N`), pinned, owned exclusively.
    pub cpus: Vec<u32, MAX_CPUS>,
    /// `memory@...` subnodes.
    pub memory: Vec<MemoryRegion, MAX_REGIONS>,
    /// `bulkhead,devices`: passthrough devices.
    pub devices: Vec<Device, MAX_DEVICES>,
    pub console: Console,
    pub fault_policy: FaultPolicy,
    pub image: Option<Image>,
    /// `initramfs` subnode: an initial RAM disk placed at its load address (raw), passed
    /// to the guest in its device tree (`/chosen` `linux,initrd-start/end`).
    pub initramfs: Option<Image>,
    /// `bulkhead,bootargs`: the guest's command line (`/chosen` `bootargs`).
    pub bootargs: Option<String<MAX_BOOTARGS>>,
}

impl Partition {
    /// A partition with id and name, nothing assigned yet, an emulated console and the
    /// `stop` fault policy (the bindings' defaults). Names longer than [`MAX_NAME`] are cut.
    pub fn new(id: u32, name: &str) -> Partition {
        let mut label = String::new();
        for c in name.chars() {
            if label.push(c).is_err() {
                break;
            }
        }
        Partition {
            id,
            name: label,
            cpus: Vec::new(),
            memory: Vec::new(),
            devices: Vec::new(),
            console: Console::Emulated,
            fault_policy: FaultPolicy::Stop,
            image: None,
            initramfs: None,
            bootargs: None,
        }
    }

    /// The boot image and the initramfs, with their node names, for checks and loading.
    pub fn images(&self) -> impl Iterator<Item = (&'static str, &Image)> {
        let image = self.image.as_ref().map(|i| ("image", i));
        let initramfs = self.initramfs.as_ref().map(|i| ("initramfs", i));
        image.into_iter().chain(initramfs)
    }
}

/// A region of memory shared by several partitions (`/hypervisor/shared-memory/region@...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedRegion {
    pub name: String<MAX_NAME>,
    pub host: Range,
    /// Partition ids that map it.
    pub partitions: Vec<u32, MAX_PARTITIONS>,
}

/// The whole validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The hypervisor's own memory (`/hypervisor` `reg`): no partition may touch it.
    pub hypervisor: Range,
    /// Physical RAM of the board (`/memory` nodes).
    pub ram: Vec<Range, MAX_REGIONS>,
    /// Physical CPUs present (`/cpus/cpu@N` `reg`).
    pub cpus_present: Vec<u32, MAX_CPUS>,
    /// The physical console the hypervisor owns (`bulkhead,console` on `/hypervisor`).
    pub console: Option<String<MAX_PATH>>,
    /// The UART carrying the hypervisor's defmt log, if it uses one (`bulkhead,log`).
    pub log: Option<String<MAX_PATH>>,
    pub partitions: Vec<Partition, MAX_PARTITIONS>,
    pub shared: Vec<SharedRegion, MAX_SHARED>,
}

impl Config {
    /// An empty configuration, usable in a `static` initialiser (no partitions, no RAM).
    pub const fn new() -> Self {
        Config {
            hypervisor: Range::new(0, 0),
            ram: Vec::new(),
            cpus_present: Vec::new(),
            console: None,
            log: None,
            partitions: Vec::new(),
            shared: Vec::new(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}
