//! The per-INTID register arrays: one field per interrupt, packed into 32-bit registers
//! (64-bit for IROUTER). GICD has them for INTIDs 0..1024; a GICv3 redistributor's SGI
//! frame has the first register of each at the same offsets, for its own INTIDs 0..32.
//! Decoding them once here keeps the ownership check in one place: every field of every
//! array goes through [`Vgic::array_access`], which looks the INTID up and either applies
//! the field, ignores it silently (reserved), or ignores and reports it (not owned).

use super::{Effects, Outcome, Slot, Vgic, FIRST_PPI, MPIDR_AFF_MASK, PRIVATE_IRQS};
use hv::exit::Width;

pub const IGROUPR: u64 = 0x0080;
pub const ISENABLER: u64 = 0x0100;
pub const ICENABLER: u64 = 0x0180;
pub const ISPENDR: u64 = 0x0200;
pub const ICPENDR: u64 = 0x0280;
pub const ISACTIVER: u64 = 0x0300;
pub const ICACTIVER: u64 = 0x0380;
pub const IPRIORITYR: u64 = 0x0400;
/// GICv2 only (GICv3 with affinity routing reserves it).
pub const ITARGETSR: u64 = 0x0800;
pub const ICFGR: u64 = 0x0c00;
/// GICv3 only, 64 bits per INTID; INTIDs 0..32 reserved.
pub const IROUTER: u64 = 0x6000;

/// ICFGR field: edge-triggered (bit 0 of each field is reserved).
const ICFGR_EDGE: u64 = 0b10;
/// GICD_IROUTER fields kept: Aff3, Aff2, Aff1, Aff0. Interrupt_Routing_Mode (1 of N) is
/// RAZ/WI because GICD_TYPER.No1N says it is not supported.
pub const IROUTER_MASK: u64 = MPIDR_AFF_MASK;

/// What a register array does with its field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Group,
    SetEnable,
    ClearEnable,
    SetPending,
    ClearPending,
    SetActive,
    ClearActive,
    Priority,
    Targets,
    Config,
    Router,
}

impl Kind {
    /// Bits per INTID.
    fn bits(self) -> u32 {
        match self {
            Kind::Priority | Kind::Targets => 8,
            Kind::Config => 2,
            Kind::Router => 64,
            _ => 1,
        }
    }

    /// Write-1-to-set / write-1-to-clear: a zero bit asks nothing of its interrupt.
    fn one_shot(self) -> bool {
        matches!(
            self,
            Kind::SetEnable
                | Kind::ClearEnable
                | Kind::SetPending
                | Kind::ClearPending
                | Kind::SetActive
                | Kind::ClearActive
        )
    }

    /// Access widths the architecture allows: byte access only for the byte-per-INTID
    /// arrays, 64-bit (or either 32-bit half) only for IROUTER.
    fn width_ok(self, width: Width) -> bool {
        match self.bits() {
            8 => matches!(width, Width::Byte | Width::Word),
            64 => matches!(width, Width::Word | Width::Double),
            _ => width == Width::Word,
        }
    }
}

/// The arrays, by base offset.
const ARRAYS: [(u64, Kind); 11] = [
    (IGROUPR, Kind::Group),
    (ISENABLER, Kind::SetEnable),
    (ICENABLER, Kind::ClearEnable),
    (ISPENDR, Kind::SetPending),
    (ICPENDR, Kind::ClearPending),
    (ISACTIVER, Kind::SetActive),
    (ICACTIVER, Kind::ClearActive),
    (IPRIORITYR, Kind::Priority),
    (ITARGETSR, Kind::Targets),
    (ICFGR, Kind::Config),
    (IROUTER, Kind::Router),
];

/// The array `offset` falls in when the arrays cover `intids` INTIDs, and the offset
/// relative to its base.
pub fn find(offset: u64, intids: u32) -> Option<(Kind, u64)> {
    ARRAYS.iter().find_map(|&(base, kind)| {
        let len = u64::from(intids) * u64::from(kind.bits()) / 8;
        let rel = offset.checked_sub(base)?;
        (rel < len).then_some((kind, rel))
    })
}

/// Which interrupts a register bank shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bank {
    /// A GICv3 redistributor's SGI frame: vCPU `.0`'s INTIDs 0..32.
    Redistributor(usize),
    /// A GICv2 distributor accessed by vCPU `.0`: its banked INTIDs 0..32, then the SPIs.
    V2(usize),
    /// A GICv3 distributor: SPIs only (0..32 are in the redistributors).
    V3,
}

impl Vgic {
    fn bank_slot(&self, bank: Bank, intid: u32) -> Slot {
        match bank {
            Bank::Redistributor(v) if intid < PRIVATE_IRQS => self.slot(v, intid),
            Bank::Redistributor(_) => Slot::Reserved,
            Bank::V2(v) => self.slot(v, intid),
            Bank::V3 if intid < PRIVATE_IRQS => Slot::Reserved,
            Bank::V3 => self.slot(0, intid),
        }
    }

    /// One access to a register array. `rel` is the offset from the array's base, already
    /// known to be inside it (so INTIDs stay below 1024).
    pub(crate) fn array_access(
        &mut self,
        bank: Bank,
        kind: Kind,
        rel: u64,
        width: Width,
        write: Option<u64>,
    ) -> Outcome {
        if !kind.width_ok(width) || !rel.is_multiple_of(width.bytes()) {
            return Outcome::Bad;
        }
        if kind == Kind::Router {
            return self.router_access(bank, rel, width, write);
        }
        let bits = kind.bits();
        let first = (rel * 8 / u64::from(bits)) as u32; // < 1024: `rel` is bounded by `find`
        let count = (width.bytes() * 8) as u32 / bits;
        let mask = (1u64 << bits) - 1;
        match write {
            None => {
                let mut value = 0u64;
                for i in 0..count {
                    let field = self.field(bank, kind, first + i) & mask;
                    value |= field << (i * bits);
                }
                Outcome::Read(value)
            }
            Some(w) => {
                let mut fx = Effects::default();
                for i in 0..count {
                    let field = (w >> (i * bits)) & mask;
                    self.set_field(bank, kind, first + i, field, &mut fx);
                }
                Outcome::Write(fx)
            }
        }
    }

    /// GICD_IROUTER<n>: 64 bits, or either 32-bit half.
    fn router_access(&mut self, bank: Bank, rel: u64, width: Width, write: Option<u64>) -> Outcome {
        let intid = (rel / 8) as u32;
        let high = rel % 8 == 4;
        let slot = self.bank_slot(bank, intid);
        let current = match slot {
            Slot::Spi(s) => self.spis.get(s).map_or(0, |s| s.router),
            _ => 0,
        };
        let Some(w) = write else {
            let v = if high { current >> 32 } else { current };
            return Outcome::Read(if width == Width::Double { v } else { v & 0xffff_ffff });
        };
        let new = match (width, high) {
            (Width::Double, _) => w,
            (_, false) => (current & !0xffff_ffff) | (w & 0xffff_ffff),
            (_, true) => (current & 0xffff_ffff) | (w << 32),
        } & IROUTER_MASK;
        let mut fx = Effects::default();
        match slot {
            Slot::Spi(s) => {
                let target = self.vcpu_by_affinity(new);
                if let Some(spi) = self.spis.get_mut(s) {
                    spi.router = new;
                    spi.target = target;
                }
                self.kick_for(slot, &mut fx.kick);
            }
            Slot::Foreign => fx.deny_intid(intid),
            Slot::Private(..) | Slot::Reserved => {}
        }
        Outcome::Write(fx)
    }

    pub(crate) fn vcpu_by_affinity(&self, affinity: u64) -> Option<usize> {
        self.vcpus
            .iter()
            .take(self.n_vcpus)
            .position(|v| v.affinity == affinity & MPIDR_AFF_MASK)
    }

    /// The field of `intid` as the guest reads it; zero for what it does not own.
    fn field(&self, bank: Bank, kind: Kind, intid: u32) -> u64 {
        let slot = self.bank_slot(bank, intid);
        let Some(irq) = self.irq(slot) else { return 0 };
        let value = match kind {
            Kind::Group => irq.group1(),
            Kind::SetEnable | Kind::ClearEnable => irq.enabled(),
            Kind::SetPending | Kind::ClearPending => irq.is_pending(),
            Kind::SetActive | Kind::ClearActive => irq.is_active(),
            Kind::Priority => return u64::from(irq.priority()),
            Kind::Targets => {
                return match (slot, bank) {
                    // SGIs and PPIs: read-only, the reading CPU's own bit.
                    (Slot::Private(..), Bank::V2(v)) => 1u64 << v,
                    (Slot::Spi(s), _) => self.spis.get(s).map_or(0, |s| u64::from(s.targets)),
                    _ => 0,
                };
            }
            Kind::Config if intid < FIRST_PPI => return ICFGR_EDGE,
            Kind::Config => return if irq.edge() { ICFGR_EDGE } else { 0 },
            Kind::Router => false, // handled by `router_access`
        };
        u64::from(value)
    }

    /// Applies one field of a write to `intid`.
    fn set_field(&mut self, bank: Bank, kind: Kind, intid: u32, field: u64, fx: &mut Effects) {
        let slot = self.bank_slot(bank, intid);
        if kind.one_shot() && field == 0 {
            return;
        }
        if slot == Slot::Foreign {
            fx.deny_intid(intid);
            return;
        }
        let targets_mask = ((1u16 << self.n_vcpus.min(8)) - 1) as u8;
        let mut deactivate = false;
        match (kind, slot) {
            (Kind::Targets, Slot::Spi(s)) => {
                if let Some(spi) = self.spis.get_mut(s) {
                    spi.targets = field as u8 & targets_mask;
                    // 1-of-N delivery is not modelled: the lowest named CPU gets it.
                    spi.target = (spi.targets != 0).then(|| spi.targets.trailing_zeros() as usize);
                }
            }
            (Kind::Targets, _) => return,                     // read-only for SGIs and PPIs
            (Kind::Config, _) if intid < FIRST_PPI => return, // SGIs are always edge
            _ => {
                let Some(irq) = self.irq_mut(slot) else { return };
                match kind {
                    Kind::Group => irq.set_group1(field & 1 != 0),
                    Kind::SetEnable => irq.set_enabled(true),
                    Kind::ClearEnable => irq.set_enabled(false),
                    Kind::SetPending => irq.set_pending(),
                    Kind::ClearPending => deactivate = irq.clear_pending(),
                    Kind::SetActive => irq.set_active(),
                    Kind::ClearActive => deactivate = irq.clear_active(),
                    Kind::Priority => irq.set_priority(field as u8),
                    Kind::Config => irq.set_edge(field & ICFGR_EDGE != 0),
                    Kind::Targets | Kind::Router => {}
                }
            }
        }
        if deactivate {
            fx.deactivate = true;
            self.deactivate_pending = true;
        }
        self.kick_for(slot, &mut fx.kick);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_are_found_by_offset() {
        assert_eq!(find(0x0080, 1024), Some((Kind::Group, 0)));
        assert_eq!(find(0x0104, 1024), Some((Kind::SetEnable, 4)));
        assert_eq!(find(0x07fb, 1024), Some((Kind::Priority, 0x3fb)));
        assert_eq!(find(0x0cfc, 1024), Some((Kind::Config, 0xfc)));
        assert_eq!(find(0x6100, 1024), Some((Kind::Router, 0x100)));
        assert_eq!(find(0x0000, 1024), None);
        assert_eq!(find(0x0d00, 1024), None, "IGRPMODR is not an array the model keeps");
        // A redistributor's SGI frame only has the first register of each array.
        assert_eq!(find(0x0104, 32), None);
        assert_eq!(find(0x041c, 32), Some((Kind::Priority, 0x1c)));
        assert_eq!(find(0x0420, 32), None);
        assert_eq!(find(0x0c04, 32), Some((Kind::Config, 4)));
    }

    #[test]
    fn widths_follow_the_architecture() {
        assert!(Kind::Priority.width_ok(Width::Byte));
        assert!(!Kind::Priority.width_ok(Width::Half));
        assert!(!Kind::SetEnable.width_ok(Width::Byte));
        assert!(!Kind::SetEnable.width_ok(Width::Double));
        assert!(Kind::Router.width_ok(Width::Double));
        assert!(!Kind::Router.width_ok(Width::Byte));
    }
}
