//! List registers: the virtual interrupts the hardware presents to a running vCPU, one per
//! register, without the hypervisor in the loop. The model works on [`Lr`], a plain
//! struct; the glue converts it to and from the hardware layout with the pure functions
//! here and reads/writes the registers itself.
//!
//! Layouts:
//! - GICv3 `ICH_LR<n>_EL2` (64 bits): State 63:62, HW 61, Group 60, Priority 55:48,
//!   pINTID 44:32 (HW = 1) or EOI 41 (HW = 0), vINTID 31:0.
//! - GICv2 `GICH_LR<n>` (32 bits): HW 31, Grp1 30, State 29:28, Priority 27:23 (the top five
//!   bits of the priority), PhysicalID 19:10 (HW = 1) or EOI 19 and CPUID 12:10 (HW = 0,
//!   CPUID naming the requester of an SGI), VirtualID 9:0.
//!
//! With HW = 1 the guest's EOI (or deactivation) of the virtual interrupt also deactivates
//! the physical one: that is how passthrough SPIs and the virtual timer PPI are finished
//! without a trap.

/// The state of a list register's interrupt (the same two-bit encoding in both layouts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LrState {
    /// Free (or the guest has deactivated its interrupt).
    #[default]
    Invalid = 0,
    Pending = 1,
    Active = 2,
    PendingActive = 3,
}

impl LrState {
    fn from_bits(bits: u64) -> LrState {
        match bits & 0b11 {
            0 => LrState::Invalid,
            1 => LrState::Pending,
            2 => LrState::Active,
            _ => LrState::PendingActive,
        }
    }
    pub fn from_flags(pending: bool, active: bool) -> LrState {
        LrState::from_bits(u64::from(pending) | u64::from(active) << 1)
    }
    pub fn pending(self) -> bool {
        matches!(self, LrState::Pending | LrState::PendingActive)
    }
    pub fn active(self) -> bool {
        matches!(self, LrState::Active | LrState::PendingActive)
    }
}

/// One list register, layout-neutral.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lr {
    pub state: LrState,
    /// Linked to physical interrupt `pintid`: the guest's deactivation deactivates it.
    pub hw: bool,
    /// Group 1 (vIRQ); group 0 is signalled as vFIQ.
    pub group1: bool,
    /// The full 8-bit priority; GICv2 keeps the top five bits.
    pub priority: u8,
    pub vintid: u32,
    /// With `hw`: the physical INTID (an SPI or PPI, below 1020).
    pub pintid: u32,
    /// Without `hw`: ask for a maintenance interrupt when the guest EOIs it.
    pub eoi_maintenance: bool,
    /// GICv2, without `hw`, SGIs: the CPU interface that requested it (0..8).
    pub source: u8,
}

impl Lr {
    /// A free list register.
    pub const INVALID: Lr = Lr {
        state: LrState::Invalid,
        hw: false,
        group1: false,
        priority: 0,
        vintid: 0,
        pintid: 0,
        eoi_maintenance: false,
        source: 0,
    };
}

// ICH_LR<n>_EL2 fields.
const V3_STATE_SHIFT: u32 = 62;
/// The State field of an `ICH_LR<n>_EL2` value (the guest's acknowledge and EOI change
/// only this).
pub const ICH_LR_STATE: u64 = 0b11 << V3_STATE_SHIFT;
const V3_HW: u64 = 1 << 61;
const V3_GROUP: u64 = 1 << 60;
const V3_PRIORITY_SHIFT: u32 = 48;
const V3_PINTID_SHIFT: u32 = 32;
const V3_PINTID_MASK: u64 = 0x1fff;
const V3_EOI: u64 = 1 << 41;
const V3_VINTID_MASK: u64 = 0xffff_ffff;

/// `lr` as an `ICH_LR<n>_EL2` value. Fields wider than their place are truncated; the model
/// only produces INTIDs below 1020.
pub fn to_ich_lr(lr: &Lr) -> u64 {
    let mut v = (lr.state as u64) << V3_STATE_SHIFT
        | u64::from(lr.priority) << V3_PRIORITY_SHIFT
        | u64::from(lr.vintid) & V3_VINTID_MASK;
    if lr.group1 {
        v |= V3_GROUP;
    }
    if lr.hw {
        v |= V3_HW | (u64::from(lr.pintid) & V3_PINTID_MASK) << V3_PINTID_SHIFT;
    } else if lr.eoi_maintenance {
        v |= V3_EOI;
    }
    v
}

/// An `ICH_LR<n>_EL2` value as an [`Lr`].
pub fn from_ich_lr(v: u64) -> Lr {
    let hw = v & V3_HW != 0;
    Lr {
        state: LrState::from_bits(v >> V3_STATE_SHIFT),
        hw,
        group1: v & V3_GROUP != 0,
        priority: (v >> V3_PRIORITY_SHIFT) as u8,
        vintid: (v & V3_VINTID_MASK) as u32,
        pintid: if hw {
            (v >> V3_PINTID_SHIFT & V3_PINTID_MASK) as u32
        } else {
            0
        },
        eoi_maintenance: !hw && v & V3_EOI != 0,
        source: 0,
    }
}

// GICH_LR<n> fields.
const V2_HW: u32 = 1 << 31;
const V2_GRP1: u32 = 1 << 30;
const V2_STATE_SHIFT: u32 = 28;
/// The State field of a `GICH_LR<n>` value.
pub const GICH_LR_STATE: u32 = 0b11 << V2_STATE_SHIFT;
const V2_PRIORITY_SHIFT: u32 = 23;
/// The five priority bits GICH_LR holds are priority[7:3].
const V2_PRIORITY_DROP: u32 = 3;
const V2_PRIORITY_MASK: u32 = 0x1f;
const V2_PHYSICAL_SHIFT: u32 = 10;
const V2_PHYSICAL_MASK: u32 = 0x3ff;
const V2_EOI: u32 = 1 << 19;
const V2_CPUID_SHIFT: u32 = 10;
const V2_CPUID_MASK: u32 = 0x7;
const V2_VIRTUAL_MASK: u32 = 0x3ff;

/// `lr` as a `GICH_LR<n>` value. The low three priority bits and INTID bits above 9 do not
/// fit and are dropped (the model keeps five priority bits and INTIDs below 1020).
pub fn to_gich_lr(lr: &Lr) -> u32 {
    let mut v = (lr.state as u32) << V2_STATE_SHIFT
        | (u32::from(lr.priority) >> V2_PRIORITY_DROP & V2_PRIORITY_MASK) << V2_PRIORITY_SHIFT
        | lr.vintid & V2_VIRTUAL_MASK;
    if lr.group1 {
        v |= V2_GRP1;
    }
    if lr.hw {
        v |= V2_HW | (lr.pintid & V2_PHYSICAL_MASK) << V2_PHYSICAL_SHIFT;
    } else {
        v |= (u32::from(lr.source) & V2_CPUID_MASK) << V2_CPUID_SHIFT;
        if lr.eoi_maintenance {
            v |= V2_EOI;
        }
    }
    v
}

/// A `GICH_LR<n>` value as an [`Lr`].
pub fn from_gich_lr(v: u32) -> Lr {
    let hw = v & V2_HW != 0;
    Lr {
        state: LrState::from_bits(u64::from(v >> V2_STATE_SHIFT)),
        hw,
        group1: v & V2_GRP1 != 0,
        priority: ((v >> V2_PRIORITY_SHIFT & V2_PRIORITY_MASK) << V2_PRIORITY_DROP) as u8,
        vintid: v & V2_VIRTUAL_MASK,
        pintid: if hw {
            v >> V2_PHYSICAL_SHIFT & V2_PHYSICAL_MASK
        } else {
            0
        },
        eoi_maintenance: !hw && v & V2_EOI != 0,
        source: if hw {
            0
        } else {
            (v >> V2_CPUID_SHIFT & V2_CPUID_MASK) as u8
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hw_lr() -> Lr {
        Lr {
            state: LrState::Pending,
            hw: true,
            group1: true,
            priority: 0xa0,
            vintid: 27,
            pintid: 27,
            ..Lr::INVALID
        }
    }

    #[test]
    fn gicv3_layout_matches_the_spec() {
        let v = to_ich_lr(&hw_lr());
        assert_eq!(v >> 62, 0b01, "State");
        assert_ne!(v & 1 << 61, 0, "HW");
        assert_ne!(v & 1 << 60, 0, "Group");
        assert_eq!(v >> 48 & 0xff, 0xa0, "Priority");
        assert_eq!(v >> 32 & 0x3ff, 27, "pINTID");
        assert_eq!(v & 0xffff_ffff, 27, "vINTID");
        assert_eq!(v, 0x70a0_001b_0000_001b);
        let sw = Lr {
            state: LrState::Active,
            vintid: 1019,
            eoi_maintenance: true,
            ..Lr::INVALID
        };
        assert_eq!(to_ich_lr(&sw), 0x8000_0200_0000_03fb, "State active, EOI bit 41");
    }

    #[test]
    fn gicv2_layout_matches_the_spec() {
        let v = to_gich_lr(&Lr {
            pintid: 40,
            vintid: 33,
            ..hw_lr()
        });
        assert_eq!(v >> 31, 1, "HW");
        assert_eq!(v >> 30 & 1, 1, "Grp1");
        assert_eq!(v >> 28 & 0b11, 0b01, "State");
        assert_eq!(v >> 23 & 0x1f, 0xa0 >> 3, "Priority[7:3]");
        assert_eq!(v >> 10 & 0x3ff, 40, "PhysicalID");
        assert_eq!(v & 0x3ff, 33, "VirtualID");
        let sgi = Lr {
            state: LrState::PendingActive,
            vintid: 3,
            source: 5,
            eoi_maintenance: true,
            ..Lr::INVALID
        };
        assert_eq!(to_gich_lr(&sgi), 0x3000_0000 | 1 << 19 | 5 << 10 | 3);
    }

    #[test]
    fn round_trips() {
        let states = [
            LrState::Invalid,
            LrState::Pending,
            LrState::Active,
            LrState::PendingActive,
        ];
        for (i, &state) in states.iter().enumerate() {
            for hw in [false, true] {
                for vintid in [0u32, 15, 16, 27, 32, 511, 1019] {
                    let lr = Lr {
                        state,
                        hw,
                        group1: i % 2 == 0,
                        priority: (vintid as u8) & 0xf8,
                        vintid,
                        pintid: if hw { 1019 - vintid.min(1000) } else { 0 },
                        eoi_maintenance: !hw && i > 1,
                        source: 0,
                    };
                    assert_eq!(from_ich_lr(to_ich_lr(&lr)), lr, "GICv3 {lr:?}");
                    let v2 = Lr {
                        source: if hw { 0 } else { (vintid % 8) as u8 },
                        ..lr
                    };
                    assert_eq!(from_gich_lr(to_gich_lr(&v2)), v2, "GICv2 {v2:?}");
                }
            }
        }
        // Whatever the hardware holds decodes, and re-encodes to the same defined bits.
        for v in [u64::MAX, 0x5555_5555_5555_5555, 0] {
            let defined = v & !(0xf << 56 | 0x7 << 45);
            let defined = if defined & V3_HW == 0 {
                defined & !(0x1fff << 32) | defined & V3_EOI
            } else {
                defined
            };
            assert_eq!(to_ich_lr(&from_ich_lr(v)), defined);
        }
        for v in [u32::MAX, 0x5555_5555, 0] {
            let defined = if v & V2_HW != 0 {
                v & !(0x7 << 20)
            } else {
                v & !(0x7 << 20 | 0x3f << 13)
            };
            assert_eq!(to_gich_lr(&from_gich_lr(v)), defined);
        }
    }

    #[test]
    fn gicv2_keeps_five_priority_bits() {
        let lr = Lr {
            priority: 0xff,
            ..hw_lr()
        };
        assert_eq!(from_gich_lr(to_gich_lr(&lr)).priority, 0xf8);
    }
}
