//! The redistributors (GICR) a GICv3 partition sees: one per vCPU, each two 64 KiB frames
//! (RD_base, then SGI_base; no VLPI frames since there are no LPIs), laid out one after
//! the other in vCPU order. The last one says so in GICR_TYPER.Last, which is how a guest
//! finds the end of the region.
//!
//! The SGI frame holds the vCPU's SGI and PPI state at the same offsets as the
//! distributor's first register of each array; `regs` decodes both.

use super::distributor::{IIDR_VALUE, PIDR2_GICV3};
use super::regs::{self, Bank, Kind};
use super::{Effects, Outcome, Vgic};
use hv::exit::Width;

/// Size of one frame.
pub const FRAME: u64 = 0x1_0000;
/// Distance from one redistributor to the next (RD_base + SGI_base).
pub const STRIDE: u64 = 2 * FRAME;

// RD_base frame.
pub const CTLR: u64 = 0x0000;
pub const IIDR: u64 = 0x0004;
/// 64 bits (or two 32-bit halves).
pub const TYPER: u64 = 0x0008;
pub const WAKER: u64 = 0x0014;
/// LPI tables: 64 bits each, RAZ/WI without LPIs.
pub const PROPBASER: u64 = 0x0070;
pub const PENDBASER: u64 = 0x0078;
pub const PIDR2: u64 = 0xffe8;

/// GICR_TYPER.Last: the last redistributor of the region.
const TYPER_LAST: u64 = 1 << 4;
/// GICR_TYPER.Processor_Number, bits 23:8.
const TYPER_PROCESSOR_SHIFT: u32 = 8;
/// GICR_TYPER.Affinity_Value, bits 63:32 (Aff3.Aff2.Aff1.Aff0).
const TYPER_AFFINITY_SHIFT: u32 = 32;

/// GICR_WAKER.ProcessorSleep: the guest says its CPU interface is not in use.
pub const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
/// GICR_WAKER.ChildrenAsleep (read-only): the redistributor has quiesced.
pub const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;

impl Vgic {
    /// The size of this partition's redistributor region (GICv3).
    pub fn gicr_size(&self) -> u64 {
        STRIDE * self.n_vcpus as u64
    }

    /// A guest access at `offset` from the start of the redistributor region; the
    /// redistributor accessed follows from the offset, not from the accessing vCPU (any
    /// PE may read any redistributor).
    pub fn gicr(&mut self, offset: u64, width: Width, write: Option<u64>) -> Outcome {
        if self.version != super::Version::V3 || offset >= self.gicr_size() {
            return Outcome::Bad;
        }
        let vcpu = (offset / STRIDE) as usize;
        let within = offset % STRIDE;
        if within >= FRAME {
            self.sgi_frame(vcpu, within - FRAME, width, write)
        } else {
            self.rd_frame(vcpu, within, width, write)
        }
    }

    fn rd_frame(&mut self, vcpu: usize, offset: u64, width: Width, write: Option<u64>) -> Outcome {
        if !offset.is_multiple_of(width.bytes()) {
            return Outcome::Bad;
        }
        let wide = matches!(offset, TYPER | PROPBASER | PENDBASER);
        match width {
            Width::Word => {}
            Width::Double if wide => {}
            _ => return Outcome::Bad,
        }
        if let Some(w) = write {
            if offset == WAKER {
                // ChildrenAsleep follows ProcessorSleep at once: there is nothing to drain.
                if let Some(v) = self.vcpus.get_mut(vcpu) {
                    v.asleep = w as u32 & WAKER_PROCESSOR_SLEEP != 0;
                }
            }
            // CTLR (EnableLPIs is RES0 without LPIs), the LPI tables, and everything
            // read-only or reserved ignore writes.
            return Outcome::Write(Effects::default());
        }
        let value = match offset & !4 {
            TYPER => {
                let typer = self.gicr_typer(vcpu);
                if width == Width::Double {
                    typer
                } else if offset == TYPER {
                    typer & 0xffff_ffff
                } else {
                    typer >> 32
                }
            }
            _ => u64::from(match offset {
                IIDR => IIDR_VALUE,
                WAKER => {
                    let asleep = self.vcpus.get(vcpu).is_some_and(|v| v.asleep);
                    if asleep {
                        WAKER_PROCESSOR_SLEEP | WAKER_CHILDREN_ASLEEP
                    } else {
                        0
                    }
                }
                PIDR2 => PIDR2_GICV3,
                _ => 0,
            }),
        };
        Outcome::Read(value)
    }

    /// GICR_TYPER of vCPU `vcpu`'s redistributor: its affinity, its index (the number
    /// GICD_ITARGETSR would use), and Last on the final one. No LPIs (PLPIS = 0), so no
    /// VLPI frames either.
    pub(crate) fn gicr_typer(&self, vcpu: usize) -> u64 {
        let mpidr = self.vcpus.get(vcpu).map_or(0, |v| v.affinity);
        // MPIDR keeps Aff3 in bits 39:32; GICR_TYPER wants Aff3.Aff2.Aff1.Aff0 packed.
        let affinity = ((mpidr >> 32) & 0xff) << 24 | (mpidr & 0xff_ffff);
        let last = if vcpu + 1 == self.n_vcpus { TYPER_LAST } else { 0 };
        affinity << TYPER_AFFINITY_SHIFT | (vcpu as u64) << TYPER_PROCESSOR_SHIFT | last
    }

    fn sgi_frame(&mut self, vcpu: usize, offset: u64, width: Width, write: Option<u64>) -> Outcome {
        if let Some((kind, rel)) = regs::find(offset, super::PRIVATE_IRQS) {
            if !matches!(kind, Kind::Targets | Kind::Router) {
                return self.array_access(Bank::Redistributor(vcpu), kind, rel, width, write);
            }
        }
        // IGRPMODR0 and NSACR mean nothing with one security state: reserved like the rest.
        if width != Width::Word || !offset.is_multiple_of(4) {
            return Outcome::Bad;
        }
        match write {
            Some(_) => Outcome::Write(Effects::default()),
            None => Outcome::Read(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vgic::tests::{v3, Acc, OutcomeExt};

    const SGI: u64 = FRAME;

    #[test]
    fn typer_names_each_vcpu_and_the_last() {
        let mut g = v3(&[0x0, 0x1, 0x1_0000_0100], &[]);
        let t0 = g.gicr(TYPER, Width::Double, None);
        assert_eq!(t0, Outcome::Read(0));
        assert_eq!(
            g.gicr(STRIDE + TYPER, Width::Double, None),
            Outcome::Read(1 << 32 | 1 << 8)
        );
        let last = 2 * STRIDE;
        let t2 = (0x01_00_01_00u64) << 32 | 2 << 8 | TYPER_LAST;
        assert_eq!(g.gicr(last + TYPER, Width::Double, None), Outcome::Read(t2));
        assert_eq!(g.gicr(last + TYPER, Width::Word, None), Outcome::Read(t2 & 0xffff_ffff));
        assert_eq!(g.gicr(last + TYPER + 4, Width::Word, None), Outcome::Read(t2 >> 32));
        assert_eq!(
            g.gicr(3 * STRIDE, Width::Word, None),
            Outcome::Bad,
            "past the last redistributor"
        );
        assert_eq!(g.gicr(TYPER + 2, Width::Half, None), Outcome::Bad);
        assert_eq!(g.gicr(CTLR, Width::Double, None), Outcome::Bad, "CTLR is 32-bit");
    }

    #[test]
    fn waker_handshake() {
        let mut g = v3(&[0, 1], &[]);
        let asleep = u64::from(WAKER_PROCESSOR_SLEEP | WAKER_CHILDREN_ASLEEP);
        assert_eq!(g.rd(1, WAKER), asleep, "redistributors start asleep");
        g.wr(1, WAKER, 0);
        assert_eq!(g.rd(1, WAKER), 0, "ChildrenAsleep clears with ProcessorSleep");
        assert_eq!(g.rd(0, WAKER), asleep, "each vCPU has its own");
        g.wr(1, WAKER, u64::from(WAKER_CHILDREN_ASLEEP));
        assert_eq!(g.rd(1, WAKER), 0, "ChildrenAsleep is read-only");
        g.wr(1, WAKER, u64::from(WAKER_PROCESSOR_SLEEP));
        assert_eq!(g.rd(1, WAKER), asleep);
    }

    #[test]
    fn identification() {
        let mut g = v3(&[0], &[]);
        assert_eq!(g.rd(0, PIDR2) >> 4 & 0xf, 3, "ArchRev: GICv3");
        assert_eq!(g.rd(0, IIDR), u64::from(IIDR_VALUE));
        assert_eq!(g.rd(0, CTLR), 0, "no LPIs to enable");
        g.wr(0, CTLR, 1);
        assert_eq!(g.rd(0, CTLR), 0);
        assert_eq!(
            g.gicr(PROPBASER, Width::Double, Some(u64::MAX)),
            Outcome::Write(Effects::default())
        );
        assert_eq!(g.gicr(PROPBASER, Width::Double, None), Outcome::Read(0));
    }

    #[test]
    fn sgi_frame_is_per_vcpu() {
        let mut g = v3(&[0, 1], &[]);
        g.wr(1, SGI + regs::ISENABLER, 1 << 27 | 1 << 3);
        assert_eq!(g.rd(1, SGI + regs::ISENABLER), 1 << 27 | 1 << 3);
        assert_eq!(g.rd(0, SGI + regs::ISENABLER), 0);
        g.wr(1, SGI + regs::ICENABLER, 1 << 3);
        assert_eq!(g.rd(1, SGI + regs::ICENABLER), 1 << 27);
        // Byte and word priorities.
        g.gicr(STRIDE + SGI + regs::IPRIORITYR + 27, Width::Byte, Some(0xa0))
            .write();
        assert_eq!(g.rd(1, SGI + regs::IPRIORITYR + 24), 0xa0 << 24);
        g.wr(1, SGI + regs::IPRIORITYR + 4, 0x8070_6050);
        assert_eq!(
            g.gicr(STRIDE + SGI + regs::IPRIORITYR + 6, Width::Byte, None),
            Outcome::Read(0x70)
        );
        // SGIs are edge and read-only; PPIs configurable.
        g.wr(1, SGI + regs::ICFGR, 0);
        assert_eq!(g.rd(1, SGI + regs::ICFGR), 0xaaaa_aaaa);
        g.wr(1, SGI + regs::ICFGR + 4, 0b10 << 22);
        assert_eq!(g.rd(1, SGI + regs::ICFGR + 4), 0b10 << 22);
        // Beyond the first register of each array: reserved, silent.
        assert_eq!(
            g.gicr(STRIDE + SGI + regs::ISENABLER + 4, Width::Word, Some(!0))
                .write(),
            Effects::default()
        );
        assert_eq!(g.rd(1, SGI + regs::ISENABLER + 4), 0);
        assert_eq!(g.rd(1, SGI + regs::ITARGETSR), 0, "no ITARGETSR in a redistributor");
    }
}
