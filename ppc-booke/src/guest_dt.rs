//! The device tree a Book E partition boots with: only what it owns, at guest addresses,
//! shaped like the tree QEMU's `ppce500` machine gives its firmware, so that unmodified
//! guests (U-Boot's qemu-ppce500 board, Linux's qemu-e500 platform) find their way.
//!
//! Contents:
//! - root `#address-cells = #size-cells = 2`, `compatible = "fsl,qemu-e500"` (what U-Boot's
//!   and Linux's qemu-e500 code match), a bulkhead model string;
//! - `memory@...`: the partition's RAM regions (guest-physical);
//! - `/cpus/cpu@0`: the e500v2 vCPU with the host's `timebase-frequency` and
//!   `clock-frequency` (the guest reads the real timebase) and `bus-frequency = 0`, the
//!   32 KiB L1 caches with 32-byte lines, as QEMU describes them;
//! - `/soc@fe0000000`: the CCSR window at the platform's address (guest-physical
//!   0xf_e000_0000, 1 MiB, `ranges` translating CCSR offsets) with only the partition's
//!   own devices: the emulated console (`serial@4500`, an NS16550 with the timebase's
//!   clock as QEMU has it), the emulated power-off GPIO (`gpio@ff000` and the
//!   `gpio-poweroff` node) and its interrupt controller (`pic@40000`, `fsl,mpic`: the
//!   partition's [`crate::vmpic`] model, the `interrupt-parent` of the bus). No PCI, I2C
//!   or MSI nodes (U-Boot's qemu-ppce500 board lives without PCI: it only reports a
//!   missing controller); passthrough devices are not described yet.
//! - `/aliases` `serial0` and `/chosen` `stdout-path` naming the console.
//!
//! Where it goes ([`address`]): QEMU's rule, 24 MiB above the end of the image rounded
//! down to 1 MiB (U-Boot maps the 1 MiB around it before it relocates, and relocates
//! itself to the top of RAM, well clear of it), inside the initial mapped area (ePAPR: r3
//! is an effective address the IMA maps); if that does not fit, the first 1 MiB boundary
//! above the image.

use hv::config::Partition;
use hv::fdt_writer::{FdtWriter, Name, WriteError};
use hv::image::Layout;
use hv::memmap::{Kind, MemoryMap};

/// Bytes reserved for the tree in guest memory.
pub const SIZE: u64 = 0x1_0000;
/// The CCSR window (guest-physical), where the platform has it.
pub const CCSR_BASE: u64 = 0xf_e000_0000;
pub const CCSR_SIZE: u64 = 0x10_0000;
/// Offsets in CCSR of the partition's emulated devices.
pub const UART_OFFSET: u64 = 0x4500;
pub const UART_SIZE: u64 = 0x100;
pub const GPIO_OFFSET: u64 = 0xf_f000;
pub const GPIO_SIZE: u64 = 0x1000;

/// QEMU's placement: this far above the image ...
const PAD: u64 = 0x180_0000;
/// ... aligned down to this.
const ALIGN: u64 = 0x10_0000;
const PHANDLE_GPIO: u32 = 1;
const PHANDLE_MPIC: u32 = 2;
/// Node names (the unit addresses spelled out; checked by the tests).
const SOC_NODE: &str = "soc@fe0000000";
const PIC_NODE: &str = "pic@40000";
const UART_NODE: &str = "serial@4500";
const GPIO_NODE: &str = "gpio@ff000";
const UART_PATH: &str = "/soc@fe0000000/serial@4500";

/// Host facts the tree passes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clocks {
    /// The timebase frequency (the guest reads the real timebase).
    pub timebase_hz: u32,
    /// The core clock, as the host's tree has it.
    pub cpu_hz: u32,
}

/// Where the tree goes for an image laid out as `image`: guest-physical, inside the first
/// RAM region and below `ima` (the size of the initial mapping, which starts at 0).
pub fn address(map: &MemoryMap, image: &Layout, ima: u64) -> Option<u64> {
    let ram = map.boot_ram()?;
    let limit = ram.guest.checked_add(ram.size)?.min(ima);
    let mut end = None;
    for s in &image.segments {
        end = Some(s.guest.saturating_add(s.mem_size).max(end.unwrap_or(0)));
    }
    let end = end.unwrap_or(ram.guest);
    // (Saturated sums are past any limit, so they never fit.)
    let fits = |at: u64| at >= end && at >= ram.guest && at.saturating_add(SIZE) <= limit;
    let qemu = end.saturating_add(PAD) & !(ALIGN - 1);
    let next = end.saturating_add(ALIGN - 1) & !(ALIGN - 1);
    if fits(qemu) {
        Some(qemu)
    } else {
        fits(next).then_some(next)
    }
}

/// One step of writing the tree: the fixed parts of it are tables of these.
#[derive(Clone, Copy)]
enum Step {
    Begin(&'static str),
    End,
    U32(&'static str, u32),
    /// A string; NULs inside separate the strings of a list (`compatible`).
    Str(&'static str, &'static str),
    Cells(&'static str, &'static [u32]),
    Empty(&'static str),
    /// The host's core clock, and its timebase frequency.
    CpuHz(&'static str),
    TimebaseHz(&'static str),
}

use Step::*;

const CCSR_RANGES: [u32; 4] = [0, (CCSR_BASE >> 32) as u32, CCSR_BASE as u32, CCSR_SIZE as u32];
const PIC_REG: [u32; 2] = [crate::vmpic::CCSR_OFFSET as u32, crate::vmpic::WINDOW as u32];
const UART_REG: [u32; 2] = [UART_OFFSET as u32, UART_SIZE as u32];
const GPIO_REG: [u32; 2] = [GPIO_OFFSET as u32, GPIO_SIZE as u32];

/// The root's own properties (before the model and memory nodes).
const ROOT: &[Step] = &[U32("#address-cells", 2), U32("#size-cells", 2), Str("compatible", "fsl,qemu-e500")];

/// The CPU, then the SoC bus up to its console.
const CPUS_AND_SOC: &[Step] = &[
    Begin("cpus"),
    U32("#address-cells", 1),
    U32("#size-cells", 0),
    Begin("cpu@0"),
    Str("device_type", "cpu"),
    U32("reg", 0),
    Str("status", "okay"),
    CpuHz("clock-frequency"),
    TimebaseHz("timebase-frequency"),
    U32("bus-frequency", 0),
    U32("i-cache-size", 0x8000),
    U32("d-cache-size", 0x8000),
    U32("i-cache-line-size", 0x20),
    U32("d-cache-line-size", 0x20),
    End,
    End,
    Begin(SOC_NODE),
    Str("compatible", "fsl,mpc8544-immr\0simple-bus"),
    Str("device_type", "soc"),
    U32("#address-cells", 1),
    U32("#size-cells", 1),
    Cells("ranges", &CCSR_RANGES),
    U32("bus-frequency", 0),
    U32("interrupt-parent", PHANDLE_MPIC),
    Begin(PIC_NODE),
    Str("compatible", "fsl,mpic\0chrp,open-pic"),
    Str("device_type", "open-pic"),
    Empty("interrupt-controller"),
    U32("#interrupt-cells", 2),
    U32("#address-cells", 0),
    Cells("reg", &PIC_REG),
    U32("phandle", PHANDLE_MPIC),
    End,
];

/// The emulated console on the SoC bus (only with `console`).
const UART: &[Step] = &[
    Begin(UART_NODE),
    Str("compatible", "ns16550"),
    Str("device_type", "serial"),
    Cells("reg", &UART_REG),
    U32("cell-index", 0),
    TimebaseHz("clock-frequency"),
    End,
];

/// The power-off GPIO, and the end of the SoC bus.
const GPIO: &[Step] = &[
    Begin(GPIO_NODE),
    Str("compatible", "fsl,qoriq-gpio"),
    Cells("reg", &GPIO_REG),
    Empty("gpio-controller"),
    U32("#gpio-cells", 2),
    U32("phandle", PHANDLE_GPIO),
    End,
    Begin("power-off"),
    Str("compatible", "gpio-poweroff"),
    Cells("gpios", &[PHANDLE_GPIO, 0, 0]),
    End,
    End,
];

/// Where the console is (only with `console`).
const CHOSEN: &[Step] = &[
    Begin("aliases"),
    Str("serial0", UART_PATH),
    End,
    Begin("chosen"),
    Str("stdout-path", UART_PATH),
    End,
];

fn steps(w: &mut FdtWriter, steps: &[Step], clocks: Clocks) -> Result<(), WriteError> {
    for step in steps {
        match *step {
            Begin(name) => w.begin_node(name)?,
            End => w.end_node()?,
            U32(name, v) => w.prop_u32(name, v)?,
            Str(name, v) => w.prop_str(name, v)?,
            Cells(name, v) => w.prop_cells(name, v)?,
            Empty(name) => w.prop(name, &[])?,
            CpuHz(name) => w.prop_u32(name, clocks.cpu_hz)?,
            TimebaseHz(name) => w.prop_u32(name, clocks.timebase_hz)?,
        }
    }
    Ok(())
}

/// Writes partition `p`'s tree into `buf`; returns its size. `console`: the partition has
/// the emulated NS16550.
pub fn write(buf: &mut [u8], p: &Partition, map: &MemoryMap, console: bool, clocks: Clocks) -> Result<usize, WriteError> {
    let mut w = FdtWriter::new(buf)?;
    let mut name = Name::new();
    w.begin_node("")?;
    steps(&mut w, ROOT, clocks)?;
    w.prop_str("model", name.format(format_args!("bulkhead partition {}", p.name)))?;
    for m in map.mappings().iter().filter(|m| m.kind == Kind::Ram) {
        w.begin_node(name.format(format_args!("memory@{:x}", m.guest)))?;
        w.prop_str("device_type", "memory")?;
        let cell = |v: u64| [(v >> 32) as u32, v as u32];
        let ([a, b], [c, d]) = (cell(m.guest), cell(m.size));
        w.prop_cells("reg", &[a, b, c, d])?;
        w.end_node()?;
    }
    steps(&mut w, CPUS_AND_SOC, clocks)?;
    if console {
        steps(&mut w, UART, clocks)?;
    }
    steps(&mut w, GPIO, clocks)?;
    if console {
        steps(&mut w, CHOSEN, clocks)?;
    }
    w.end_node()?;
    let len = w.finish()?;
    Ok(with_free_space(buf, len))
}

/// Gives the tree of `len` bytes at the start of `buf` free space after its blocks, as
/// QEMU does with the tree it passes (twice the blob plus 10,000 bytes): guests may edit
/// it in place (U-Boot keeps the size, Linux's boot wrappers add properties). Returns the
/// new total size (at most `buf.len()`).
fn with_free_space(buf: &mut [u8], len: usize) -> usize {
    let total = len.saturating_add(10_000).saturating_mul(2).min(buf.len()).max(len);
    buf[len..total].fill(0);
    // The header's totalsize (offset 4, big-endian); `total` < 4 GiB as buf is.
    buf[4..8].copy_from_slice(&(total as u32).to_be_bytes());
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use hv::config::{MemoryRegion, Range};
    use hv::image::Segment;

    fn partition(ram: u64) -> Partition {
        let mut p = Partition::new(0, "uboot");
        p.cpus.push(0).unwrap();
        p.memory.push(MemoryRegion { host: Range::new(0x0400_0000, ram), guest_base: 0 }).unwrap();
        p
    }

    const CLOCKS: Clocks = Clocks { timebase_hz: 400_000_000, cpu_hz: 400_000_000 };

    fn layout(guest: u64, mem_size: u64) -> Layout {
        let mut l = Layout { entry: guest, segments: Default::default() };
        l.segments.push(Segment { offset: 0, file_size: 0, guest, mem_size }).unwrap();
        l
    }

    #[test]
    fn tree_looks_like_qemus_to_u_boot() {
        let p = partition(0x800_0000);
        let map = MemoryMap::of(&p, &[]);
        let mut buf = [0u8; 4096];
        let len = write(&mut buf, &p, &map, true, CLOCKS).unwrap();
        let fdt = fdt::Fdt::new(&buf[..len]).expect("valid tree");
        // U-Boot reads /memory's reg as two 64-bit cells.
        let mem = fdt.find_node("/memory").unwrap().property("reg").unwrap().value;
        assert_eq!(mem, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0, 0, 0]);
        let cpu = fdt.find_node("/cpus/cpu@0").unwrap();
        assert_eq!(cpu.property("timebase-frequency").unwrap().as_usize(), Some(400_000_000));
        assert_eq!(cpu.property("clock-frequency").unwrap().as_usize(), Some(400_000_000));
        // /soc's ranges map CCSR offset 0 to 0xf_e000_0000 (U-Boot's CCSRBAR lookup).
        let soc = fdt.find_node("/soc").unwrap();
        assert_eq!(soc.name, "soc@fe0000000");
        let ranges = soc.property("ranges").unwrap().value;
        assert_eq!(ranges, [0, 0, 0, 0, 0, 0, 0, 0x0f, 0xe0, 0, 0, 0, 0, 0x10, 0, 0]);
        let uart = fdt.find_node("/soc/serial@4500").unwrap();
        assert_eq!(uart.compatible().unwrap().first(), "ns16550");
        assert_eq!(uart.property("clock-frequency").unwrap().as_usize(), Some(400_000_000));
        assert_eq!(fdt.chosen().stdout().map(|n| n.name), Some("serial@4500"));
        assert!(fdt.find_node("/soc/gpio@ff000").is_some());
        assert!(fdt.all_nodes().all(|n| !n.name.starts_with("pci")));
        // Its own MPIC model, the bus's interrupt parent.
        let pic = fdt.find_node("/soc/pic@40000").unwrap();
        assert_eq!(pic.compatible().unwrap().all().collect::<std::vec::Vec<_>>(), ["fsl,mpic", "chrp,open-pic"]);
        assert!(pic.property("interrupt-controller").is_some());
        assert_eq!(pic.property("#interrupt-cells").unwrap().as_usize(), Some(2));
        assert_eq!(pic.property("reg").unwrap().value, [0, 4, 0, 0, 0, 4, 0, 0]);
        assert_eq!(pic.property("phandle").unwrap().as_usize(), soc.property("interrupt-parent").unwrap().as_usize());
    }

    #[test]
    fn node_names_spell_their_addresses() {
        assert_eq!(SOC_NODE, std::format!("soc@{CCSR_BASE:x}"));
        assert_eq!(PIC_NODE, std::format!("pic@{:x}", crate::vmpic::CCSR_OFFSET));
        assert_eq!(UART_NODE, std::format!("serial@{UART_OFFSET:x}"));
        assert_eq!(GPIO_NODE, std::format!("gpio@{GPIO_OFFSET:x}"));
        assert_eq!(UART_PATH, std::format!("/{SOC_NODE}/{UART_NODE}"));
    }

    #[test]
    fn no_console_no_uart_node() {
        let p = partition(0x100_0000);
        let mut buf = [0u8; 4096];
        let len = write(&mut buf, &p, &MemoryMap::of(&p, &[]), false, CLOCKS).unwrap();
        let fdt = fdt::Fdt::new(&buf[..len]).unwrap();
        assert!(fdt.find_node("/soc/serial@4500").is_none());
        assert!(fdt.find_node("/chosen").is_none());
    }

    #[test]
    fn the_tree_has_room_to_grow_as_qemus_has() {
        let p = partition(0x800_0000);
        let mut buf = [0xffu8; SIZE as usize];
        let total = write(&mut buf, &p, &MemoryMap::of(&p, &[]), true, CLOCKS).unwrap();
        let fdt = fdt::Fdt::new(&buf[..total]).expect("valid with free space");
        assert_eq!(fdt.total_size(), total);
        let strings_end = u32::from_be_bytes(buf[12..16].try_into().unwrap()) + u32::from_be_bytes(buf[32..36].try_into().unwrap());
        assert_eq!(total, (strings_end as usize + 10_000) * 2);
        assert!(buf[strings_end as usize..total].iter().all(|&b| b == 0), "free space is zeroed");
    }

    #[test]
    fn too_small_a_buffer_is_an_error() {
        let p = partition(0x100_0000);
        let mut buf = [0u8; 256];
        assert_eq!(write(&mut buf, &p, &MemoryMap::of(&p, &[]), true, CLOCKS), Err(WriteError::Full));
    }

    #[test]
    fn placed_as_qemu_does_or_just_above_the_image() {
        let big = MemoryMap::of(&partition(0x800_0000), &[]);
        // U-Boot: 0xf00000 + 0x65e74 + 24 MiB, down to 1 MiB.
        assert_eq!(address(&big, &layout(0xf0_0000, 0x6_5e74), 0x400_0000), Some(0x270_0000));
        let small = MemoryMap::of(&partition(0x100_0000), &[]);
        assert_eq!(address(&small, &layout(0, 0x2_0000), 0x100_0000), Some(0x10_0000), "16 MiB: next MiB");
        assert_eq!(address(&small, &layout(0, 0xff_0000), 0x100_0000), None, "no room");
        assert_eq!(address(&big, &layout(0, 0x10_0000), 0x10_0000), None, "beyond the IMA");
    }
}
