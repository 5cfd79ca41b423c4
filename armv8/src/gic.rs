//! The host interrupt controller (GIC): which version the board has, and how many list
//! registers its virtualization interface offers (the number of virtual interrupts a vCPU
//! can have pending at once without the hypervisor juggling them).
//!
//! Two witnesses for the version, reported side by side so a mismatch shows:
//! - the device tree's interrupt controller (`arm,gic-v3`, or `arm,cortex-a15-gic` /
//!   `arm,gic-400` for GICv2);
//! - ID_AA64PFR0_EL1.GIC: the CPU's GICv3 system-register interface is there (QEMU sets it
//!   only when a GICv3 is wired to the CPU).
//!
//! Where the list-register count comes from:
//! - GICv3: ICH_VTR_EL2.ListRegs + 1, once ICC_SRE_EL2.SRE enables the system registers;
//! - GICv2: GICH_VTR.ListRegs + 1, in the hypervisor interface (GICH) block, the third
//!   `reg` entry of the GICv2 node (GICD, GICC, GICH, GICV).

use aarch64_cpu::registers::{ICC_SRE_EL2, ICH_VTR_EL2, ID_AA64PFR0_EL1, ReadWriteable, Readable};
use core::fmt;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs, LocalRegisterCopy};

/// Device-tree compatibles, by version.
const COMPATIBLE_V3: &[&str] = &["arm,gic-v3"];
const COMPATIBLE_V2: &[&str] = &["arm,cortex-a15-gic", "arm,gic-400"];
/// Index of the GICH block in a GICv2 node's `reg`.
const GICV2_REG_GICH: usize = 2;

register_bitfields! {u64,
    /// The field of ID_AA64PFR0_EL1 that aarch64-cpu does not declare.
    pub ID_AA64PFR0 [
        /// 0: no GIC system-register interface; 1: GICv3/v4; 3: GICv4.1.
        GIC OFFSET(24) NUMBITS(4) [],
    ]
}

register_bitfields! {u32,
    /// GICv2 GICH_VTR: what the virtual CPU interface implements.
    pub GICH_VTR [
        /// Priority bits - 1.
        PRIbits OFFSET(29) NUMBITS(3) [],
        /// Preemption bits - 1.
        PREbits OFFSET(26) NUMBITS(3) [],
        /// List registers - 1.
        ListRegs OFFSET(0) NUMBITS(6) [],
    ]
}

register_bitfields! {u32,
    /// GICv2 GICH_HCR: the virtual CPU interface's enable and maintenance interrupt causes.
    pub GICH_HCR [
        /// NPIE: maintenance interrupt while no list register holds a pending interrupt.
        NPIE OFFSET(3) NUMBITS(1) [],
        /// UIE: maintenance interrupt when at most one list register is valid.
        UIE OFFSET(1) NUMBITS(1) [],
        /// The virtual CPU interface forwards list-register interrupts.
        En OFFSET(0) NUMBITS(1) [],
    ],
    /// GICD_CTLR (GICv2 layout without the Security Extensions, GICv3 with DS = 1).
    pub GICD_CTLR [
        /// Register write pending (GICv3).
        RWP OFFSET(31) NUMBITS(1) [],
        /// Affinity routing (GICv3; RAO with DS = 1 on QEMU).
        ARE OFFSET(4) NUMBITS(1) [],
        EnableGrp1 OFFSET(1) NUMBITS(1) [],
        EnableGrp0 OFFSET(0) NUMBITS(1) [],
    ],
    /// GICv2 GICC_CTLR as the hypervisor writes it (a GIC without Security Extensions, as on
    /// QEMU virt; bit 9 is EOImodeNS in the Non-secure view of one with them).
    pub GICC_CTLR [
        /// Writing GICC_EOIR only drops the priority; GICC_DIR deactivates.
        EOImode OFFSET(9) NUMBITS(1) [],
        EnableGrp1 OFFSET(1) NUMBITS(1) [],
        EnableGrp0 OFFSET(0) NUMBITS(1) [],
    ],
    /// GICv3 GICR_WAKER.
    pub GICR_WAKER [
        ChildrenAsleep OFFSET(2) NUMBITS(1) [],
        ProcessorSleep OFFSET(1) NUMBITS(1) [],
    ],
}

register_bitfields! {u64,
    /// GICv3 GICR_TYPER.
    pub GICR_TYPER [
        /// Aff3.Aff2.Aff1.Aff0 of the PE this redistributor serves.
        Affinity OFFSET(32) NUMBITS(32) [],
        /// The last redistributor of the region.
        Last OFFSET(4) NUMBITS(1) [],
    ],
}

register_structs! {
    /// The distributor (GICD), GICv2 and GICv3 (IHI0048B 4.1, IHI0069 12.9). The layouts agree
    /// up to ICFGR; ITARGETSR and SGIR are GICv2's, IROUTER GICv3's.
    pub GicdRegisters {
        (0x0000 => pub ctlr: ReadWrite<u32, GICD_CTLR::Register>),
        (0x0004 => pub typer: ReadOnly<u32>),
        (0x0008 => _reserved0),
        (0x0080 => pub igroupr: [ReadWrite<u32>; 32]),
        (0x0100 => pub isenabler: [ReadWrite<u32>; 32]),
        (0x0180 => pub icenabler: [ReadWrite<u32>; 32]),
        (0x0200 => pub ispendr: [ReadWrite<u32>; 32]),
        (0x0280 => pub icpendr: [ReadWrite<u32>; 32]),
        (0x0300 => pub isactiver: [ReadWrite<u32>; 32]),
        (0x0380 => pub icactiver: [ReadWrite<u32>; 32]),
        (0x0400 => pub ipriorityr: [ReadWrite<u8>; 1024]),
        (0x0800 => pub itargetsr: [ReadWrite<u8>; 1024]),
        (0x0c00 => pub icfgr: [ReadWrite<u32>; 64]),
        (0x0d00 => _reserved1),
        (0x0f00 => pub sgir: WriteOnly<u32>),
        (0x0f04 => _reserved2),
        (0x6000 => pub irouter: [ReadWrite<u64>; 1024]),
        (0x8000 => @END),
    }
}

register_structs! {
    /// A GICv3 redistributor's RD_base frame (IHI0069 12.10).
    pub GicrRdRegisters {
        (0x0000 => pub ctlr: ReadWrite<u32>),
        (0x0004 => pub iidr: ReadOnly<u32>),
        (0x0008 => pub typer: ReadOnly<u64, GICR_TYPER::Register>),
        (0x0010 => _reserved0),
        (0x0014 => pub waker: ReadWrite<u32, GICR_WAKER::Register>),
        (0x0018 => @END),
    }
}

register_structs! {
    /// A GICv3 redistributor's SGI_base frame: the PE's SGIs and PPIs.
    pub GicrSgiRegisters {
        (0x0000 => _reserved0),
        (0x0080 => pub igroupr0: ReadWrite<u32>),
        (0x0084 => _reserved1),
        (0x0100 => pub isenabler0: ReadWrite<u32>),
        (0x0104 => _reserved2),
        (0x0180 => pub icenabler0: ReadWrite<u32>),
        (0x0184 => _reserved3),
        (0x0280 => pub icpendr0: ReadWrite<u32>),
        (0x0284 => _reserved4),
        (0x0380 => pub icactiver0: ReadWrite<u32>),
        (0x0384 => _reserved5),
        (0x0400 => pub ipriorityr: [ReadWrite<u8>; 32]),
        (0x0420 => @END),
    }
}

register_structs! {
    /// The GICv2 CPU interface (GICC), IHI0048B 4.1.3.
    pub GiccRegisters {
        (0x0000 => pub ctlr: ReadWrite<u32, GICC_CTLR::Register>),
        (0x0004 => pub pmr: ReadWrite<u32>),
        (0x0008 => pub bpr: ReadWrite<u32>),
        (0x000c => pub iar: ReadOnly<u32>),
        (0x0010 => pub eoir: WriteOnly<u32>),
        (0x0014 => _reserved0),
        (0x1000 => pub dir: WriteOnly<u32>),
        (0x1004 => @END),
    }
}

register_structs! {
    /// GICv2 virtual interface control (GICH), IHI0048B chapter 5.
    pub GichRegisters {
        (0x000 => pub hcr: ReadWrite<u32, GICH_HCR::Register>),
        (0x004 => pub vtr: ReadOnly<u32, GICH_VTR::Register>),
        (0x008 => pub vmcr: ReadWrite<u32>),
        (0x00c => _reserved0),
        (0x010 => pub misr: ReadOnly<u32>),
        (0x014 => _reserved1),
        (0x020 => pub eisr: [ReadOnly<u32>; 2]),
        (0x028 => _reserved2),
        (0x030 => pub elrsr: [ReadOnly<u32>; 2]),
        (0x038 => _reserved3),
        (0x0f0 => pub apr: ReadWrite<u32>),
        (0x0f4 => _reserved4),
        (0x100 => pub lr: [ReadWrite<u32>; 64]),
        (0x200 => @END),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V2,
    V3,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::V2 => "v2",
            Version::V3 => "v3",
        })
    }
}

/// The interrupt controller as the device tree describes it.
#[derive(Clone, Copy, Debug)]
pub struct DtGic<'a> {
    pub version: Version,
    pub compatible: &'a str,
    /// GICv2 only: physical address of the GICH block, if the node lists one.
    pub gich: Option<usize>,
    /// The `reg` entries in order: GICv3 GICD, GICR; GICv2 GICD, GICC, GICH, GICV.
    pub regs: [usize; 4],
}

/// Finds the GIC node in the device tree.
pub fn from_dt<'a>(fdt: &fdt::Fdt<'a>) -> Option<DtGic<'a>> {
    if let Some(node) = fdt.find_compatible(COMPATIBLE_V3) {
        let compatible = node.compatible().map(|c| c.first()).unwrap_or("");
        return Some(DtGic { version: Version::V3, compatible, gich: None, regs: regs(node) });
    }
    let node = fdt.find_compatible(COMPATIBLE_V2)?;
    let compatible = node.compatible().map(|c| c.first()).unwrap_or("");
    let gich = node
        .reg()
        .and_then(|mut r| r.nth(GICV2_REG_GICH))
        .map(|r| r.starting_address as usize)
        .filter(|&a| a != 0);
    Some(DtGic { version: Version::V2, compatible, gich, regs: regs(node) })
}

/// The first four `reg` addresses of the GIC node (0 where missing).
fn regs(node: fdt::node::FdtNode<'_, '_>) -> [usize; 4] {
    let mut out = [0; 4];
    for (slot, r) in out.iter_mut().zip(node.reg().into_iter().flatten()) {
        *slot = r.starting_address as usize;
    }
    out
}

/// ID_AA64PFR0_EL1.GIC of this CPU.
pub fn sysreg_interface() -> u8 {
    LocalRegisterCopy::<u64, ID_AA64PFR0::Register>::new(ID_AA64PFR0_EL1.get()).read(ID_AA64PFR0::GIC) as u8
}

/// What both witnesses say, and the version the hypervisor goes with.
#[derive(Clone, Copy, Debug)]
pub struct Gic<'a> {
    pub dt: Option<DtGic<'a>>,
    /// ID_AA64PFR0_EL1.GIC.
    pub sysreg: u8,
}

impl Gic<'_> {
    /// The device tree decides; without one, a system-register interface means GICv3.
    pub fn version(&self) -> Option<Version> {
        match self.dt {
            Some(dt) => Some(dt.version),
            None if self.sysreg != 0 => Some(Version::V3),
            None => None,
        }
    }

    /// The device tree says GICv3 but the CPU has no system-register interface to it.
    pub fn mismatch(&self) -> bool {
        self.version() == Some(Version::V3) && self.sysreg == 0
    }

    /// Number of list registers, or `None` if the virtualization interface cannot be
    /// reached (no GICH block in the tree, no system-register interface, or SRE refused).
    pub fn list_registers(&self) -> Option<u32> {
        match self.version()? {
            Version::V3 if self.sysreg != 0 => v3_list_registers(),
            Version::V3 => None,
            Version::V2 => {
                let base = self.dt?.gich?;
                // SAFETY: the device tree names `base` as this GICv2's GICH block, reachable
                // at its physical address (MMU off); only GICH_VTR, a read-only register
                // without side effects, is read.
                let gich = unsafe { &*(base as *const GichRegisters) };
                Some(gich.vtr.read(GICH_VTR::ListRegs) + 1)
            }
        }
    }
}

/// Enables the GICv3 system registers at EL2 (ICC_SRE_EL2.SRE), then reads
/// ICH_VTR_EL2.ListRegs. Only called when ID_AA64PFR0_EL1.GIC says they exist.
fn v3_list_registers() -> Option<u32> {
    ICC_SRE_EL2.modify(ICC_SRE_EL2::SRE::SET);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    if !ICC_SRE_EL2.is_set(ICC_SRE_EL2::SRE) {
        return None; // EL3 keeps the memory-mapped interface (ICC_SRE_EL3.ENABLE = 0)
    }
    Some(ICH_VTR_EL2.read(ICH_VTR_EL2::ListRegs) as u32 + 1)
}

impl fmt::Display for Gic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version() {
            Some(v) => write!(f, "{v}")?,
            None => f.write_str("unknown")?,
        }
        match self.dt {
            Some(dt) => write!(f, " (device tree: {}", dt.compatible)?,
            None => f.write_str(" (device tree: none")?,
        }
        write!(f, "; ID_AA64PFR0_EL1.GIC: {})", self.sysreg)?;
        if self.mismatch() {
            f.write_str(" MISMATCH: no GICv3 system registers")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gich_block_matches_the_spec() {
        assert_eq!(core::mem::offset_of!(GichRegisters, vtr), 0x4);
        assert_eq!(core::mem::offset_of!(GichRegisters, elrsr), 0x30);
        assert_eq!(core::mem::offset_of!(GichRegisters, lr), 0x100);
        assert_eq!(core::mem::offset_of!(GicdRegisters, icfgr), 0xc00);
        assert_eq!(core::mem::offset_of!(GicdRegisters, irouter), 0x6000);
        assert_eq!(core::mem::offset_of!(GicrSgiRegisters, ipriorityr), 0x400);
        assert_eq!(core::mem::offset_of!(GiccRegisters, dir), 0x1000);
    }

    #[test]
    fn version_follows_the_device_tree() {
        let dt = DtGic { version: Version::V2, compatible: "arm,cortex-a15-gic", gich: Some(0x803_0000), regs: [0; 4] };
        let gic = Gic { dt: Some(dt), sysreg: 0 };
        assert_eq!(gic.version(), Some(Version::V2));
        assert!(!gic.mismatch());
        assert_eq!(gic.to_string(), "v2 (device tree: arm,cortex-a15-gic; ID_AA64PFR0_EL1.GIC: 0)");
        let v3 = Gic { dt: Some(DtGic { version: Version::V3, compatible: "arm,gic-v3", gich: None, regs: [0; 4] }), sysreg: 0 };
        assert!(v3.mismatch());
        assert_eq!(Gic { dt: None, sysreg: 1 }.version(), Some(Version::V3));
    }
}
