//! Software-generated interrupts between a partition's own vCPUs.
//!
//! GICv3: the guest writes ICC_SGI1R_EL1, which traps to EL2 while HCR_EL2.IMO is set;
//! the glue hands the written value to [`Vgic::sgi1r`]. GICv2: the guest writes
//! GICD_SGIR, which the distributor model passes to `Vgic::sgir_v2`.
//!
//! Targets name vCPUs by the affinity the guest sees (GICv3) or by CPU interface number,
//! which is the vCPU index (GICv2). A target that is not one of the partition's vCPUs is
//! dropped and reported: the guest cannot reach any other partition's CPU, but a guest
//! that tries is worth a log line.

use super::{Effects, Vgic, FIRST_PPI, MAX_VCPUS};

/// ICC_SGI1R_EL1 fields.
const SGI1R_TARGET_LIST_MASK: u64 = 0xffff;
const SGI1R_AFF1_SHIFT: u32 = 16;
const SGI1R_INTID_SHIFT: u32 = 24;
const SGI1R_INTID_MASK: u64 = 0xf;
const SGI1R_AFF2_SHIFT: u32 = 32;
/// Interrupt Routing Mode: 1 = every PE but the sender.
const SGI1R_IRM: u64 = 1 << 40;
/// Range selector: TargetList bit n names Aff0 = RS * 16 + n.
const SGI1R_RS_SHIFT: u32 = 44;
const SGI1R_RS_MASK: u64 = 0xf;
const SGI1R_AFF3_SHIFT: u32 = 48;

/// GICD_SGIR fields (GICv2).
const SGIR_INTID_MASK: u32 = 0xf;
const SGIR_TARGETS_SHIFT: u32 = 16;
const SGIR_FILTER_SHIFT: u32 = 24;
const SGIR_FILTER_LIST: u32 = 0;
const SGIR_FILTER_OTHERS: u32 = 1;
const SGIR_FILTER_SELF: u32 = 2;

/// A decoded ICC_SGI1R_EL1 write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sgi1r {
    pub intid: u32,
    /// Every PE but the sender (TargetList and affinities ignored).
    pub all_others: bool,
    /// Affinity of the targets in MPIDR layout, Aff0 cleared: Aff3 in 39:32, Aff2 in
    /// 23:16, Aff1 in 15:8.
    pub affinity: u64,
    /// Range selector: TargetList bit n names Aff0 = range * 16 + n.
    pub range: u8,
    pub target_list: u16,
}

impl Sgi1r {
    pub fn decode(value: u64) -> Sgi1r {
        let field = |shift: u32, mask: u64| (value >> shift) & mask;
        let affinity = field(SGI1R_AFF3_SHIFT, 0xff) << 32
            | field(SGI1R_AFF2_SHIFT, 0xff) << 16
            | field(SGI1R_AFF1_SHIFT, 0xff) << 8;
        Sgi1r {
            intid: field(SGI1R_INTID_SHIFT, SGI1R_INTID_MASK) as u32,
            all_others: value & SGI1R_IRM != 0,
            affinity,
            range: field(SGI1R_RS_SHIFT, SGI1R_RS_MASK) as u8,
            target_list: (value & SGI1R_TARGET_LIST_MASK) as u16,
        }
    }

    /// The MPIDR affinities the target list names.
    pub fn targets(&self) -> impl Iterator<Item = u64> + '_ {
        (0..16u64)
            .filter(|bit| self.target_list & (1 << bit) != 0)
            .map(|bit| self.affinity | (u64::from(self.range) * 16 + bit))
    }
}

impl Vgic {
    /// vCPU `sender` wrote `value` to ICC_SGI1R_EL1.
    pub fn sgi1r(&mut self, sender: usize, value: u64) -> Effects {
        let sgi = Sgi1r::decode(value);
        let mut fx = Effects::default();
        if sender >= self.n_vcpus {
            return fx;
        }
        if sgi.all_others {
            for v in (0..self.n_vcpus).filter(|&v| v != sender) {
                self.raise_sgi(sender, v, sgi.intid, &mut fx);
            }
            return fx;
        }
        for aff in sgi.targets() {
            match self.vcpu_by_affinity(aff) {
                Some(v) => self.raise_sgi(sender, v, sgi.intid, &mut fx),
                None => fx.deny_target(aff),
            }
        }
        fx
    }

    /// vCPU `sender` wrote `value` to GICD_SGIR (GICv2).
    pub(crate) fn sgir_v2(&mut self, sender: usize, value: u32) -> Effects {
        let intid = value & SGIR_INTID_MASK;
        let list = (value >> SGIR_TARGETS_SHIFT) as u8;
        let mut fx = Effects::default();
        let targets: u8 = match value >> SGIR_FILTER_SHIFT & 0b11 {
            SGIR_FILTER_LIST => list,
            SGIR_FILTER_OTHERS => !(1u8 << sender.min(7)),
            SGIR_FILTER_SELF => 1u8 << sender.min(7),
            _ => 0, // reserved filter: no SGI
        };
        let own = ((1u16 << self.n_vcpus.min(MAX_VCPUS)) - 1) as u8;
        for cpu in 0..8usize {
            if targets & (1 << cpu) == 0 {
                continue;
            }
            if own & (1 << cpu) != 0 {
                self.raise_sgi(sender, cpu, intid, &mut fx);
            } else if value >> SGIR_FILTER_SHIFT & 0b11 == SGIR_FILTER_LIST {
                // "All others" covers absent CPU interfaces by definition; a list names them.
                fx.deny_target(cpu as u64);
            }
        }
        fx
    }

    fn raise_sgi(&mut self, sender: usize, target: usize, intid: u32, fx: &mut Effects) {
        if intid >= FIRST_PPI {
            return;
        }
        let slot = self.slot(target, intid);
        if let Some(irq) = self.irq_mut(slot) {
            irq.set_pending();
            irq.set_source(sender as u8);
        }
        self.kick_for(slot, &mut fx.kick);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vgic::tests::*;
    use crate::vgic::{Denied, VcpuSet};

    /// ICC_SGI1R_EL1 value for `intid` to Aff3.Aff2.Aff1 with `list`.
    fn sgi1r(intid: u64, aff3: u64, aff2: u64, aff1: u64, rs: u64, list: u64) -> u64 {
        aff3 << 48 | rs << 44 | aff2 << 32 | intid << 24 | aff1 << 16 | list
    }

    #[test]
    fn decode_every_field() {
        let s = Sgi1r::decode(sgi1r(9, 0x12, 0x34, 0x56, 0x3, 0x8001));
        assert_eq!(s.intid, 9);
        assert!(!s.all_others);
        assert_eq!(s.affinity, 0x12_0034_5600);
        assert_eq!(s.range, 3);
        let t: Vec<u64> = s.targets().collect();
        assert_eq!(t, [0x12_0034_5630, 0x12_0034_563f]);
        assert!(Sgi1r::decode(1 << 40).all_others);
    }

    #[test]
    fn sgi_reaches_listed_vcpus_and_reports_strangers() {
        // vCPUs 0.0.0.0, 0.0.0.1 and 0.0.1.0.
        let mut g = v3(&[0x0, 0x1, 0x100], &[]);
        g.dwr(0, crate::vgic::distributor::CTLR, 0x3);
        for r in 0..3 {
            g.wr(r, FRAME_SGI + crate::vgic::regs::ISENABLER, 0xffff);
        }
        let fx = g.sgi1r(0, sgi1r(5, 0, 0, 0, 0, 0b110));
        assert_eq!(fx.kick, VcpuSet(0b010), "only Aff0 = 1 exists at 0.0.0.x");
        assert_eq!(fx.denied, Some(Denied::SgiTarget { first: 2, count: 1 }));
        assert_eq!(g.rd(1, FRAME_SGI + crate::vgic::regs::ISPENDR), 1 << 5);
        assert_eq!(g.rd(0, FRAME_SGI + crate::vgic::regs::ISPENDR), 0);
        let fx = g.sgi1r(1, sgi1r(7, 0, 0, 1, 0, 0b1));
        assert_eq!(fx.kick, VcpuSet(0b100));
        assert_eq!(fx.denied, None);
        // Another partition's CPU at an affinity this one does not have.
        let fx = g.sgi1r(0, sgi1r(1, 1, 0, 0, 0, 0b1));
        assert_eq!(
            fx.denied,
            Some(Denied::SgiTarget {
                first: 1 << 32,
                count: 1
            })
        );
        assert!(fx.kick.is_empty());
    }

    #[test]
    fn irm_targets_everyone_but_the_sender() {
        let mut g = v3(&[0x0, 0x1, 0x2], &[]);
        g.dwr(0, crate::vgic::distributor::CTLR, 0x3);
        for r in 0..3 {
            g.wr(r, FRAME_SGI + crate::vgic::regs::ISENABLER, 0xffff);
        }
        let fx = g.sgi1r(1, 1 << 40 | 3 << 24);
        assert_eq!(fx.kick, VcpuSet(0b101));
        assert_eq!(fx.denied, None);
        assert_eq!(g.rd(1, FRAME_SGI + crate::vgic::regs::ISPENDR), 0);
    }

    #[test]
    fn gicv2_sgir_filters() {
        let mut g = v2(2, &[]);
        g.dwr(0, crate::vgic::distributor::CTLR, 0x3);
        g.dwr(0, crate::vgic::regs::ISENABLER, 0xffff);
        g.dwr(1, crate::vgic::regs::ISENABLER, 0xffff);
        let sgir = crate::vgic::distributor::SGIR;
        // List naming CPU 1 and absent CPU 5.
        let fx = g.dwr(0, sgir, 0b10_0010 << 16 | 2);
        assert_eq!(fx.kick, VcpuSet(0b10));
        assert_eq!(fx.denied, Some(Denied::SgiTarget { first: 5, count: 1 }));
        assert_eq!(g.drd(1, crate::vgic::regs::ISPENDR), 1 << 2);
        assert_eq!(g.vcpus[1].private[2].source(), 0, "GICv2 remembers the requester");
        // All others / self.
        let fx = g.dwr(1, sgir, 1 << 24 | 3);
        assert_eq!((fx.kick, fx.denied), (VcpuSet(0b01), None));
        let fx = g.dwr(1, sgir, 2 << 24 | 4);
        assert_eq!(fx.kick, VcpuSet(0b10));
        assert_eq!(g.drd(1, crate::vgic::regs::ISPENDR), 1 << 2 | 1 << 4);
        assert_eq!(
            g.dwr(0, sgir, 3 << 24 | 0xff << 16),
            Effects::default(),
            "reserved filter"
        );
    }
}
