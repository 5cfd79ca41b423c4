//! The device tree a partition boots with: only what it owns, at guest addresses.
//!
//! Contents, modelled on QEMU virt so that unmodified guests find their way:
//! - `memory@...`: the partition's RAM regions (guest-physical);
//! - `/cpus`: one `cpu@N` per vCPU, `enable-method = "psci"`;
//! - `/psci`: PSCI 1.0+ over HVC (answered by [`crate::psci::guest`]);
//! - `/timer`: the architected timer (PPIs 13, 14, 11, 10 as on QEMU virt);
//! - `/intc@8000000`: the interrupt controller at QEMU virt's addresses, of the host's
//!   version: a GICv3 (GICD 0x0800_0000, GICR 0x080a_0000, 128 KiB per vCPU), both
//!   emulated by the virtual GIC ([`crate::virq`]); or a GICv2 (GICD 0x0800_0000, emulated;
//!   GICC 0x0801_0000, the hardware's virtual CPU interface mapped there);
//! - `/pl011@9000000`: the emulated console (if the partition has one), with a fixed
//!   24 MHz `apb_pclk` so Linux's AMBA bus probes it; `/chosen` `stdout-path` names it.
//!
//! Passthrough devices' nodes are not copied yet.
//!
//! Where it goes: [`SIZE`] bytes at the start of the partition's first RAM region (where
//! QEMU puts its own tree; Linux-style images sit 512 KiB or more above it), or at the
//! end of that region if the image occupies the start.

use hv::config::Partition;
use hv::fdt_writer::{FdtWriter, Name, WriteError};
use hv::image::Segment;
use hv::memmap::{Kind, MemoryMap};

use crate::gic::Version;

/// Bytes reserved for the tree in guest memory.
pub const SIZE: u64 = 0x1_0000;

/// QEMU virt's addresses for what the partition sees emulated.
pub const GICD_BASE: u64 = 0x0800_0000;
pub const GICD_SIZE: u64 = 0x1_0000;
pub const GICR_BASE: u64 = 0x080a_0000;
/// One redistributor (RD_base + SGI_base frames) per vCPU.
pub const GICR_STRIDE: u64 = 0x2_0000;
/// GICv2: the distributor's 4 KiB, and the CPU interface (GICC_DIR at 0x1000 included).
pub const GICD_SIZE_V2: u64 = 0x1000;
pub const GICC_BASE: u64 = 0x0801_0000;
pub const GICC_SIZE: u64 = 0x2000;
pub const UART_BASE: u64 = 0x0900_0000;
pub const UART_SIZE: u64 = 0x1000;

/// Interrupt specifiers (GIC binding: type, number, flags).
const GIC_SPI: u32 = 0;
const GIC_PPI: u32 = 1;
const IRQ_LEVEL_HIGH: u32 = 4;
/// Architected timer PPIs as on QEMU virt: secure physical, non-secure physical,
/// virtual, hypervisor.
const TIMER_PPIS: [u32; 4] = [13, 14, 11, 10];
/// The PL011's SPI on QEMU virt.
const UART_SPI: u32 = 1;
/// Its INTID: a virtual-only SPI of the partition's virtual GIC, driven by the emulated
/// UART's interrupt line (see [`crate::virq::PartitionGic::with_virtual`] and `set_line`).
pub const UART_INTID: u32 = 32 + UART_SPI;
/// The console's clock, as on QEMU virt.
const APB_PCLK_HZ: u32 = 24_000_000;

const PHANDLE_GIC: u32 = 1;
const PHANDLE_APB_PCLK: u32 = 2;

/// Where the tree goes: the first RAM region's start, or its last [`SIZE`] bytes, whichever
/// no segment of `images` (the boot image's and the initramfs's) touches.
pub fn address<'a>(map: &MemoryMap, images: impl Iterator<Item = &'a Segment> + Clone) -> Option<u64> {
    let ram = map.boot_ram()?;
    let end = ram.guest.checked_add(ram.size)?;
    let free = |at: u64| {
        at.checked_add(SIZE).is_some_and(|e| e <= end)
            && images.clone().all(|s| s.guest.saturating_add(s.mem_size) <= at || s.guest >= at + SIZE)
    };
    [ram.guest, end.checked_sub(SIZE)?].into_iter().find(|&at| free(at))
}

/// What the tree says beyond the partition's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Boot {
    /// The partition has an emulated console (a PL011 node, `stdout-path`).
    pub console: bool,
    /// The interrupt controller it sees.
    pub gic: Version,
    /// Guest-physical [start, end) of its initramfs, if it has one.
    pub initrd: Option<(u64, u64)>,
}

/// Writes partition `p`'s tree into `buf`; returns its size.
pub fn write(buf: &mut [u8], p: &Partition, map: &MemoryMap, boot: &Boot) -> Result<usize, WriteError> {
    let (console, gic) = (boot.console, boot.gic);
    let vcpus = p.cpus.len().max(1) as u64;
    let mut w = FdtWriter::new(buf)?;
    let mut name = Name::new();
    w.begin_node("")?;
    w.prop_u32("#address-cells", 2)?;
    w.prop_u32("#size-cells", 2)?;
    w.prop_strs("compatible", &["bulkhead,partition", "linux,dummy-virt"])?;
    w.prop_str("model", name.format(format_args!("bulkhead partition {}", p.name)))?;
    w.prop_u32("interrupt-parent", PHANDLE_GIC)?;

    for m in map.mappings().iter().filter(|m| m.kind == Kind::Ram) {
        w.begin_node(name.format(format_args!("memory@{:x}", m.guest)))?;
        w.prop_str("device_type", "memory")?;
        w.prop_reg64("reg", &[(m.guest, m.size)])?;
        w.end_node()?;
    }

    w.begin_node("cpus")?;
    w.prop_u32("#address-cells", 1)?;
    w.prop_u32("#size-cells", 0)?;
    for i in 0..vcpus as u32 {
        w.begin_node(name.format(format_args!("cpu@{i}")))?;
        w.prop_str("device_type", "cpu")?;
        w.prop_str("compatible", "arm,armv8")?;
        w.prop_u32("reg", i)?;
        w.prop_str("enable-method", "psci")?;
        w.end_node()?;
    }
    w.end_node()?;

    w.begin_node("psci")?;
    w.prop_strs("compatible", &["arm,psci-1.0", "arm,psci-0.2"])?;
    w.prop_str("method", "hvc")?;
    w.end_node()?;

    w.begin_node("timer")?;
    w.prop_strs("compatible", &["arm,armv8-timer"])?;
    let mut irqs = [0u32; 12];
    for (i, ppi) in TIMER_PPIS.iter().enumerate() {
        irqs[3 * i..3 * i + 3].copy_from_slice(&[GIC_PPI, *ppi, IRQ_LEVEL_HIGH]);
    }
    w.prop_cells("interrupts", &irqs)?;
    w.prop_empty("always-on")?;
    w.end_node()?;

    w.begin_node(name.format(format_args!("intc@{GICD_BASE:x}")))?;
    w.prop_u32("#interrupt-cells", 3)?;
    w.prop_empty("interrupt-controller")?;
    if gic == Version::V3 {
        w.prop_str("compatible", "arm,gic-v3")?;
        w.prop_reg64("reg", &[(GICD_BASE, GICD_SIZE), (GICR_BASE, GICR_STRIDE * vcpus)])?;
        w.prop_u32("#redistributor-regions", 1)?;
    } else {
        w.prop_str("compatible", "arm,cortex-a15-gic")?;
        w.prop_reg64("reg", &[(GICD_BASE, GICD_SIZE_V2), (GICC_BASE, GICC_SIZE)])?;
    }
    w.prop_u32("phandle", PHANDLE_GIC)?;
    w.end_node()?;

    if console {
        w.begin_node("apb-pclk")?;
        w.prop_str("compatible", "fixed-clock")?;
        w.prop_u32("#clock-cells", 0)?;
        w.prop_u32("clock-frequency", APB_PCLK_HZ)?;
        w.prop_str("clock-output-names", "clk24mhz")?;
        w.prop_u32("phandle", PHANDLE_APB_PCLK)?;
        w.end_node()?;

        w.begin_node(name.format(format_args!("pl011@{UART_BASE:x}")))?;
        w.prop_strs("compatible", &["arm,pl011", "arm,primecell"])?;
        w.prop_reg64("reg", &[(UART_BASE, UART_SIZE)])?;
        w.prop_cells("interrupts", &[GIC_SPI, UART_SPI, IRQ_LEVEL_HIGH])?;
        w.prop_cells("clocks", &[PHANDLE_APB_PCLK, PHANDLE_APB_PCLK])?;
        w.prop_strs("clock-names", &["uartclk", "apb_pclk"])?;
        w.end_node()?;
    }

    w.begin_node("chosen")?;
    if console {
        w.prop_str("stdout-path", name.format(format_args!("/pl011@{UART_BASE:x}")))?;
    }
    if let Some(args) = &p.bootargs {
        w.prop_str("bootargs", args)?;
    }
    if let Some((start, end)) = boot.initrd {
        w.prop_cells("linux,initrd-start", &[(start >> 32) as u32, start as u32])?;
        w.prop_cells("linux,initrd-end", &[(end >> 32) as u32, end as u32])?;
    }
    w.end_node()?;
    w.end_node()?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hv::config::{MemoryRegion, Range};
    use hv::image::Segment;

    fn partition() -> Partition {
        let mut p = Partition::new(2, "ticker");
        p.cpus.push(3).unwrap();
        p.memory.push(MemoryRegion { host: Range::new(0x4800_0000, 0x100_0000), guest_base: 0x4000_0000 }).unwrap();
        p
    }

    #[test]
    fn tree_describes_the_partition_at_guest_addresses() {
        let p = partition();
        let map = MemoryMap::of(&p, &[]);
        let mut buf = [0u8; 4096];
        let len = write(&mut buf, &p, &map, &Boot { console: true, gic: Version::V3, initrd: None }).unwrap();
        let fdt = fdt::Fdt::new(&buf[..len]).expect("valid tree");
        let region = fdt.memory().regions().next().unwrap();
        assert_eq!((region.starting_address as u64, region.size), (0x4000_0000, Some(0x100_0000)));
        assert_eq!(fdt.find_node("/cpus/cpu@0").unwrap().property("enable-method").unwrap().as_str(), Some("psci"));
        assert_eq!(fdt.find_node("/psci").unwrap().property("method").unwrap().as_str(), Some("hvc"));
        assert_eq!(fdt.chosen().stdout().map(|n| n.name), Some("pl011@9000000"));
        let gic = fdt.find_node("/intc@8000000").unwrap();
        let regs: Vec<_> = gic.reg().unwrap().map(|r| (r.starting_address as u64, r.size)).collect();
        assert_eq!(regs, [(GICD_BASE, Some(0x1_0000)), (GICR_BASE, Some(0x2_0000))]);
        assert!(fdt.find_node("/pl011@9000000").unwrap().compatible().unwrap().all().any(|c| c == "arm,primecell"));
    }

    #[test]
    fn no_console_no_uart_node() {
        let p = partition();
        let mut buf = [0u8; 4096];
        let len = write(&mut buf, &p, &MemoryMap::of(&p, &[]), &Boot { console: false, gic: Version::V2, initrd: None }).unwrap();
        let fdt = fdt::Fdt::new(&buf[..len]).unwrap();
        assert!(fdt.find_node("/pl011@9000000").is_none());
        let gic = fdt.find_node("/intc@8000000").unwrap();
        let regs: Vec<_> = gic.reg().unwrap().map(|r| (r.starting_address as u64, r.size)).collect();
        assert_eq!(regs, [(GICD_BASE, Some(0x1000)), (GICC_BASE, Some(0x2000))], "GICv2: GICD and GICC");
    }

    #[test]
    fn chosen_has_bootargs_and_initrd() {
        let mut p = partition();
        p.bootargs = Some("console=ttyAMA0 rdinit=/init".try_into().unwrap());
        let map = MemoryMap::of(&p, &[]);
        let mut buf = [0u8; 4096];
        let boot = Boot { console: true, gic: Version::V3, initrd: Some((0x4060_0000, 0x4061_2345)) };
        let len = write(&mut buf, &p, &map, &boot).unwrap();
        let fdt = fdt::Fdt::new(&buf[..len]).unwrap();
        let chosen = fdt.find_node("/chosen").unwrap();
        assert_eq!(chosen.property("bootargs").unwrap().as_str(), Some("console=ttyAMA0 rdinit=/init"));
        let cell = |n| u64::from_be_bytes(chosen.property(n).unwrap().value.try_into().unwrap());
        assert_eq!((cell("linux,initrd-start"), cell("linux,initrd-end")), (0x4060_0000, 0x4061_2345));
        let without = write(&mut buf, &partition(), &map, &Boot { console: false, gic: Version::V3, initrd: None }).unwrap();
        let fdt = fdt::Fdt::new(&buf[..without]).unwrap();
        assert!(fdt.find_node("/chosen").unwrap().property("bootargs").is_none());
    }

    #[test]
    fn placed_where_the_image_is_not() {
        let map = MemoryMap::of(&partition(), &[]);
        let at = |guest, mem_size| {
            let s = [Segment { offset: 0, file_size: 0, guest, mem_size }];
            address(&map, s.iter())
        };
        assert_eq!(at(0x4008_0000, 0x1_0000), Some(0x4000_0000), "Linux-style image at +512 KiB");
        assert_eq!(at(0x4000_0000, 0x1_0000), Some(0x40ff_0000), "image at the start: tree at the end");
        assert_eq!(at(0x4000_0000, 0x100_0000), None, "image fills the RAM");
    }
}
