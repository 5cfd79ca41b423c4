//! The distributor (GICD) a partition sees: GICv3 layout (IHI 0069, affinity routing
//! always on, one security state) and the GICv2 variant (IHI 0048, no security
//! extensions).
//!
//! Why one security state: the partition runs at Non-secure EL1 and is the only software
//! the virtual GIC serves, so there is nothing for a second state to protect. The guest
//! gets both groups (group 0 arrives as vFIQ, group 1 as vIRQ) and GICD_CTLR has the
//! single-security-state layout. Its bits coincide with the Non-secure view of a
//! two-state GIC where it matters: bit 1 is EnableGrp1 here and EnableGrp1A there, bit 4
//! is ARE here and ARE_NS there, so Linux's `ARE_NS | EnableGrp1A | EnableGrp1` write
//! works (it also enables group 0, which no owned interrupt uses unless the guest puts
//! one there).
//!
//! Every INTID-indexed array (IGROUPR .. ICFGR, IROUTER) is decoded by `regs`,
//! which applies the ownership rules.

use super::regs::{self, Bank};
use super::{Effects, Outcome, Version, Vgic, PRIVATE_IRQS};
use hv::exit::Width;

/// Size of the GICv3 distributor window.
pub const SIZE_V3: u64 = 0x1_0000;
/// Size of the GICv2 distributor window.
pub const SIZE_V2: u64 = 0x1000;

pub const CTLR: u64 = 0x0000;
pub const TYPER: u64 = 0x0004;
pub const IIDR: u64 = 0x0008;
/// GICv2: software-generated interrupt register (write-only).
pub const SGIR: u64 = 0x0f00;
/// Peripheral ID2 (architecture revision): GICv3 and GICv2 places.
pub const PIDR2_V3: u64 = 0xffe8;
pub const PIDR2_V2: u64 = 0x0fe8;

/// GICD_CTLR.EnableGrp0.
pub const CTLR_ENABLE_GRP0: u32 = 1 << 0;
/// GICD_CTLR.EnableGrp1 (EnableGrp1A in a Non-secure view).
pub const CTLR_ENABLE_GRP1: u32 = 1 << 1;
/// GICD_CTLR.ARE (ARE_NS in a Non-secure view): affinity routing, RAO/WI on GICv3.
pub const CTLR_ARE: u32 = 1 << 4;
/// GICD_CTLR.DS: one security state, RAO/WI on GICv3.
pub const CTLR_DS: u32 = 1 << 6;

/// GICD_TYPER.ITLinesNumber: SPIs up to 32 * (N + 1) - 1.
const TYPER_ITLINES_MASK: u32 = 0x1f;
/// GICD_TYPER.CPUNumber: CPUs (non-affinity-routed view) - 1.
const TYPER_CPUS_SHIFT: u32 = 5;
/// GICD_TYPER.IDbits (GICv3): INTID bits - 1; 10 bits, no LPIs.
const TYPER_IDBITS: u32 = (10 - 1) << 19;
/// GICD_TYPER.A3V (GICv3): affinity level 3 routing supported.
const TYPER_A3V: u32 = 1 << 24;
/// GICD_TYPER.No1N (GICv3): 1-of-N SPI routing not supported.
const TYPER_NO1N: u32 = 1 << 25;

/// GICD_IIDR/GICR_IIDR: ProductID 'B' (bulkhead), variant 0, revision 0, implementer
/// code 0x43b (Arm's JEP106 code, as KVM's virtual GIC uses) so that no Linux erratum
/// keyed on a real GIC's IIDR matches.
pub const IIDR_VALUE: u32 = (b'B' as u32) << 24 | 0x43b;
/// PIDR2.ArchRev in bits 7:4, JEDEC-assigned bit 3, JEP106 identity bits 2:0 (Arm).
pub const PIDR2_GICV3: u32 = 0x3b;
pub const PIDR2_GICV2: u32 = 0x2b;

impl Vgic {
    /// The size of this partition's distributor window.
    pub fn gicd_size(&self) -> u64 {
        match self.version {
            Version::V3 => SIZE_V3,
            Version::V2 => SIZE_V2,
        }
    }

    /// A guest access to the distributor at `offset` from its base, by vCPU `vcpu` (it
    /// selects the banked SGI/PPI registers of a GICv2 distributor and is the SGIR
    /// sender). `write` is `Some(value)` for a store.
    pub fn gicd(&mut self, vcpu: usize, offset: u64, width: Width, write: Option<u64>) -> Outcome {
        if vcpu >= self.n_vcpus || offset >= self.gicd_size() {
            return Outcome::Bad;
        }
        let bank = match self.version {
            Version::V3 => Bank::V3,
            Version::V2 => Bank::V2(vcpu),
        };
        if let Some((kind, rel)) = regs::find(offset, 1024) {
            let v3 = self.version == Version::V3;
            // IROUTER exists only with affinity routing, ITARGETSR only without; where
            // absent, their space is reserved.
            let present = match kind {
                regs::Kind::Router => v3,
                regs::Kind::Targets => !v3,
                _ => true,
            };
            if present {
                return self.array_access(bank, kind, rel, width, write);
            }
        }
        if width != Width::Word || !offset.is_multiple_of(4) {
            return Outcome::Bad;
        }
        let Some(w) = write else {
            return Outcome::Read(u64::from(self.gicd_read(offset)));
        };
        let w = w as u32;
        Outcome::Write(match offset {
            CTLR => self.write_ctlr(w),
            SGIR if self.version == Version::V2 => self.sgir_v2(vcpu, w),
            _ => Effects::default(), // read-only or reserved
        })
    }

    /// The 32-bit registers that are not per-INTID arrays. Reserved offsets (including
    /// GICv3's IGRPMODR and NSACR, meaningless with one security state, and GICv2's
    /// SGI pending-set/clear registers, not modelled) read as zero.
    fn gicd_read(&self, offset: u64) -> u32 {
        match (self.version, offset) {
            (Version::V3, CTLR) => self.ctlr | CTLR_ARE | CTLR_DS,
            (Version::V2, CTLR) => self.ctlr,
            (_, TYPER) => self.typer(),
            (_, IIDR) => IIDR_VALUE,
            (Version::V3, PIDR2_V3) => PIDR2_GICV3,
            (Version::V2, PIDR2_V2) => PIDR2_GICV2,
            _ => 0,
        }
    }

    fn write_ctlr(&mut self, w: u32) -> Effects {
        let old = self.ctlr;
        self.ctlr = w & (CTLR_ENABLE_GRP0 | CTLR_ENABLE_GRP1);
        let mut fx = Effects::default();
        if self.ctlr != old {
            // Group enables gate every vCPU's delivery.
            (0..self.n_vcpus).for_each(|v| fx.kick.insert(v));
        }
        fx
    }

    /// GICD_TYPER: the SPI range covers the partition's highest INTID, and nothing more.
    pub(crate) fn typer(&self) -> u32 {
        let it_lines = (self.max_intid() / PRIVATE_IRQS) & TYPER_ITLINES_MASK;
        let cpus = ((self.n_vcpus.clamp(1, 8) - 1) as u32) << TYPER_CPUS_SHIFT;
        match self.version {
            Version::V2 => it_lines | cpus,
            Version::V3 => {
                let aff3 = self.vcpus.iter().take(self.n_vcpus).any(|v| v.affinity >> 32 != 0);
                it_lines | cpus | TYPER_IDBITS | TYPER_NO1N | if aff3 { TYPER_A3V } else { 0 }
            }
        }
    }
}

#[cfg(test)]
#[path = "distributor_tests.rs"]
mod tests;
