//! A partition vCPU's local APIC, as much of it as a partition needs for its own timer and
//! its IPIs: the x2APIC register set (MSRs 0x800.., SDM Vol. 3A 11.12) with the timer in
//! TSC-deadline mode, the interrupt command register, and delivery of their vectors.
//!
//! Pure state; [`crate::vcpu`] traps the MSRs (RDMSR/WRMSR exits), asks [`VLapic::poll`]
//! before every VM entry whether the timer fired and which vector to inject, and arms the
//! VMX-preemption timer for the next deadline: that is how the hypervisor gets control at
//! the guest's deadline, with no periodic tick of its own.
//!
//! What is modelled: IA32_APIC_BASE (x2APIC mode only: the xAPIC page at 0xfee00000 is not
//! emulated, so a guest must turn x2APIC mode on first, as it may on this CPU), the ID,
//! version, TPR, PPR, EOI, LDR, SVR, ESR registers and the six LVT entries (stored); the
//! timer in TSC-deadline mode through IA32_TSC_DEADLINE; the IRR (every vector: the timer's,
//! IPIs from the partition's other vCPUs, self IPIs) and one vector in service (no nesting:
//! a higher vector waits for the EOI too); the ICR ([`VLapic::icr`]: fixed, INIT and
//! STARTUP IPIs in physical destination mode, no shorthand or self; the vCPU hands the
//! [`Ipi`] to its partition's [`crate::smp::Group`]) and SELF IPI. What is refused (the MSR
//! access is forbidden: `#GP` under policy `inject`): the timer's one-shot and periodic
//! modes (their initial-count register), other delivery modes (lowest priority, SMI, NMI),
//! logical destinations and the broadcast shorthands, moving or disabling the APIC, and
//! every other register.

/// IA32_APIC_BASE and IA32_TSC_DEADLINE (the x2APIC registers are 0x800 + offset / 16).
pub const APIC_BASE: u32 = 0x1b;
pub const TSC_DEADLINE: u32 = 0x6e0;
const X2APIC_FIRST: u32 = 0x800;
const X2APIC_LAST: u32 = 0x8ff;

// x2APIC register MSRs.
const ID: u32 = 0x802;
const VERSION: u32 = 0x803;
const TPR: u32 = 0x808;
const PPR: u32 = 0x80a;
const EOI: u32 = 0x80b;
const LDR: u32 = 0x80d;
const SVR: u32 = 0x80f;
const ISR_FIRST: u32 = 0x810;
const IRR_LAST: u32 = 0x827;
const ESR: u32 = 0x828;
/// The interrupt command register (one 64-bit MSR in x2APIC mode).
pub const ICR: u32 = 0x830;
const SELF_IPI: u32 = 0x83f;
const LVT_CMCI: u32 = 0x82f;
const LVT_TIMER: u32 = 0x832;
const LVT_ERROR: u32 = 0x837;
const INITIAL_COUNT: u32 = 0x838;
const CURRENT_COUNT: u32 = 0x839;
const DIVIDE: u32 = 0x83e;

/// The xAPIC page's architectural address, which IA32_APIC_BASE keeps reporting.
const BASE_ADDRESS: u64 = 0xfee0_0000;
const BASE_BSP: u64 = 1 << 8;
const BASE_X2APIC: u64 = 1 << 10;
const BASE_ENABLE: u64 = 1 << 11;
/// Version 0x14 (an integrated APIC), six LVT entries (max LVT 5), as Skylake reports.
const VERSION_VALUE: u64 = 0x0005_0014;
const SVR_ENABLE: u32 = 1 << 8;
const LVT_MASKED: u32 = 1 << 16;
const LVT_VECTOR: u32 = 0xff;
/// LVT timer mode, bits 18:17.
const TIMER_MODE_MASK: u32 = 0b11 << 17;
const TIMER_MODE_TSC_DEADLINE: u32 = 0b10 << 17;
/// Bits each LVT entry keeps (vector, delivery mode, mask, trigger, timer mode).
const LVT_BITS: u32 = 0x0007_87ff;
/// Interrupt vectors 0-15 are reserved; vectors below 32 are exceptions.
const FIRST_VECTOR: u8 = 16;
/// ICR fields: delivery mode (bits 10:8), logical destination (11), level (14), shorthand
/// (19:18); the x2APIC destination is bits 63:32.
const ICR_DELIVERY: u64 = 0b111 << 8;
const ICR_FIXED: u64 = 0;
const ICR_INIT: u64 = 0b101 << 8;
const ICR_STARTUP: u64 = 0b110 << 8;
const ICR_LOGICAL: u64 = 1 << 11;
const ICR_ASSERT: u64 = 1 << 14;
const ICR_SHORTHAND: u64 = 0b11 << 18;
const ICR_SELF: u64 = 0b01 << 18;
/// ESR: "send illegal vector".
const ESR_SEND_ILLEGAL: u32 = 1 << 5;

/// An interrupt command the guest wrote to its ICR, for a vCPU of its partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipi {
    /// The destination x2APIC id (= vCPU index), as the guest wrote it.
    pub dest: u32,
    pub kind: IpiKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpiKind {
    /// Fixed delivery of this vector.
    Fixed(u8),
    Init,
    /// STARTUP: the target starts in real mode at `vector << 12`.
    Startup(u8),
}

/// Why an access was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VLapic {
    id: u32,
    /// x2APIC mode on (IA32_APIC_BASE.EXTD).
    x2apic: bool,
    tpr: u8,
    svr: u32,
    esr: u32,
    /// CMCI, timer, thermal, performance, LINT0, LINT1, error: 0x82f, 0x832..0x837.
    lvt: [u32; 7],
    /// IA32_TSC_DEADLINE; 0 is disarmed.
    deadline: u64,
    /// The IRR: interrupts waiting for delivery, bit v of word v / 64; and the highest of
    /// them (what every VM entry looks at), exact whenever none is in service (it is
    /// found again at the EOI, off the delivery path).
    irr: [u64; 4],
    top: Option<u8>,
    in_service: Option<u8>,
    /// The last value written to the ICR (it reads back, delivery status idle).
    icr: u64,
}

impl VLapic {
    /// The APIC of vCPU `id` at reset: enabled, xAPIC mode, every LVT entry masked.
    pub const fn new(id: u32) -> Self {
        VLapic {
            id,
            x2apic: false,
            tpr: 0,
            svr: 0xff,
            esr: 0,
            lvt: [LVT_MASKED; 7],
            deadline: 0,
            irr: [0; 4],
            top: None,
            in_service: None,
            icr: 0,
        }
    }

    /// Whether this vCPU's MSR `msr` belongs to the APIC model.
    pub fn owns(msr: u32) -> bool {
        msr == APIC_BASE || msr == TSC_DEADLINE || (X2APIC_FIRST..=X2APIC_LAST).contains(&msr)
    }

    fn lvt_slot(msr: u32) -> Option<usize> {
        match msr {
            LVT_CMCI => Some(0),
            LVT_TIMER..=LVT_ERROR => Some((msr - LVT_TIMER) as usize + 1),
            _ => None,
        }
    }

    fn timer_lvt(&self) -> u32 {
        self.lvt[1]
    }

    /// RDMSR of an APIC register.
    pub fn read(&self, msr: u32) -> Result<u64, Refused> {
        if msr == APIC_BASE {
            let bsp = if self.id == 0 { BASE_BSP } else { 0 };
            return Ok(BASE_ADDRESS | bsp | BASE_ENABLE | if self.x2apic { BASE_X2APIC } else { 0 });
        }
        if msr == TSC_DEADLINE {
            return Ok(if self.timer_lvt() & TIMER_MODE_MASK == TIMER_MODE_TSC_DEADLINE { self.deadline } else { 0 });
        }
        if !self.x2apic {
            return Err(Refused); // the x2APIC MSRs #GP in xAPIC mode
        }
        Ok(match msr {
            ID => u64::from(self.id),
            VERSION => VERSION_VALUE,
            TPR => u64::from(self.tpr),
            PPR => u64::from(self.tpr.max(self.in_service.unwrap_or(0) & 0xf0)),
            LDR => u64::from((self.id >> 4) << 16 | 1 << (self.id & 0xf)),
            SVR => u64::from(self.svr),
            ISR_FIRST..=IRR_LAST => self.vector_bits(msr),
            ESR => u64::from(self.esr),
            ICR => self.icr,
            CURRENT_COUNT | INITIAL_COUNT | DIVIDE => 0,
            _ => match Self::lvt_slot(msr) {
                Some(i) => u64::from(self.lvt[i]),
                None => return Err(Refused),
            },
        })
    }

    /// The ISR (0x810..), TMR (0x818..) or IRR (0x820..) word holding bits of `msr`: 32
    /// vectors each.
    fn vector_bits(&self, msr: u32) -> u64 {
        let word = (msr - ISR_FIRST) % 8;
        match (msr - ISR_FIRST) / 8 {
            0 => match self.in_service {
                Some(v) if u32::from(v) / 32 == word => 1 << (v % 32),
                _ => 0,
            },
            2 => (self.irr[word as usize / 2] >> (32 * (word % 2))) & 0xffff_ffff,
            _ => 0,
        }
    }

    /// Makes interrupt `vector` pending (an IPI, a self IPI, the timer); vectors 0-15 are
    /// illegal and dropped.
    pub fn raise(&mut self, vector: u8) {
        if vector >= FIRST_VECTOR {
            self.irr[usize::from(vector / 64)] |= 1 << (vector % 64);
            self.top = self.top.max(Some(vector));
        }
    }

    /// The highest vector in the IRR.
    fn highest(&self) -> Option<u8> {
        let w = self.irr.iter().rposition(|&w| w != 0)?;
        Some((w * 64 + 63 - self.irr[w].leading_zeros() as usize) as u8)
    }

    /// A write of `value` to the ICR: the command to carry out, if any. Refused: a
    /// delivery mode other than fixed, INIT and STARTUP, a logical destination, the
    /// broadcast shorthands (bits above 32 of a self IPI are ignored, as the hardware
    /// does). INIT level de-assert (an old handshake x2APIC has not) and a fixed vector
    /// below 16 (ESR: send illegal vector) send nothing.
    pub fn icr(&mut self, value: u64) -> Result<Option<Ipi>, Refused> {
        if !self.x2apic || value & ICR_LOGICAL != 0 {
            return Err(Refused);
        }
        let dest = match value & ICR_SHORTHAND {
            0 => (value >> 32) as u32,
            ICR_SELF if value & ICR_DELIVERY == ICR_FIXED => self.id,
            _ => return Err(Refused),
        };
        self.icr = value & 0xffff_ffff_000c_cfff;
        let vector = value as u8;
        let kind = match value & ICR_DELIVERY {
            ICR_FIXED if vector < FIRST_VECTOR => {
                self.esr |= ESR_SEND_ILLEGAL;
                return Ok(None);
            }
            ICR_FIXED => IpiKind::Fixed(vector),
            ICR_INIT if value & ICR_ASSERT == 0 => return Ok(None),
            ICR_INIT => IpiKind::Init,
            ICR_STARTUP => IpiKind::Startup(vector),
            _ => return Err(Refused),
        };
        Ok(Some(Ipi { dest, kind }))
    }

    /// WRMSR to an APIC register.
    pub fn write(&mut self, msr: u32, value: u64) -> Result<(), Refused> {
        if msr == APIC_BASE {
            // Only turning x2APIC mode on (or keeping it) at the architectural address.
            let bsp = if self.id == 0 { BASE_BSP } else { 0 };
            if value & !BASE_X2APIC != BASE_ADDRESS | bsp | BASE_ENABLE || (self.x2apic && value & BASE_X2APIC == 0) {
                return Err(Refused);
            }
            self.x2apic = value & BASE_X2APIC != 0;
            return Ok(());
        }
        if msr == TSC_DEADLINE {
            // Ignored outside TSC-deadline mode, as the hardware does.
            if self.timer_lvt() & TIMER_MODE_MASK == TIMER_MODE_TSC_DEADLINE {
                self.deadline = value;
            }
            return Ok(());
        }
        if !self.x2apic || value >> 32 != 0 {
            return Err(Refused);
        }
        let v = value as u32;
        match msr {
            TPR => self.tpr = v as u8,
            EOI if v == 0 => {
                self.in_service = None;
                self.top = self.highest();
            }
            SVR => self.svr = v & 0x11ff,
            ESR => self.esr = 0,
            SELF_IPI => self.raise(v as u8),
            LVT_TIMER if v & TIMER_MODE_MASK != TIMER_MODE_TSC_DEADLINE && v & LVT_MASKED == 0 => return Err(Refused),
            _ => match Self::lvt_slot(msr) {
                Some(i) => {
                    if i == 1 && v & TIMER_MODE_MASK != self.timer_lvt() & TIMER_MODE_MASK {
                        self.deadline = 0; // changing the mode disarms the timer
                    }
                    self.lvt[i] = v & LVT_BITS;
                }
                None => return Err(Refused),
            },
        }
        Ok(())
    }

    /// The armed deadline (TSC), if the timer can fire.
    pub fn deadline(&self) -> Option<u64> {
        (self.deadline != 0 && self.timer_lvt() & TIMER_MODE_MASK == TIMER_MODE_TSC_DEADLINE).then_some(self.deadline)
    }

    /// Called before a VM entry with the TSC `now`: fires the timer if its deadline has
    /// passed; returns the vector to inject if one is pending and deliverable (the guest
    /// can take an interrupt: `can_take` is RFLAGS.IF without STI/MOV SS blocking), and
    /// marks it in service.
    pub fn poll(&mut self, now: u64, can_take: bool) -> Option<u8> {
        if let Some(d) = self.deadline() {
            if now >= d {
                self.deadline = 0;
                let lvt = self.timer_lvt();
                let vector = (lvt & LVT_VECTOR) as u8;
                if lvt & LVT_MASKED == 0 && self.svr & SVR_ENABLE != 0 {
                    self.raise(vector);
                }
            }
        }
        if !can_take || !self.waiting() {
            return None;
        }
        let vector = self.top?;
        self.irr[usize::from(vector / 64)] &= !(1 << (vector % 64));
        self.in_service = Some(vector);
        Some(vector)
    }

    /// An interrupt is pending that only the guest's interrupt flag (or an STI/MOV SS
    /// shadow) holds back: the vCPU asks for an exit when the guest can take it.
    pub fn waiting(&self) -> bool {
        matches!(self.top, Some(v) if self.in_service.is_none() && v >> 4 > self.tpr >> 4)
    }

    /// CR8 (bits 3:0 = TPR bits 7:4).
    pub fn cr8(&self) -> u64 {
        u64::from(self.tpr >> 4)
    }

    pub fn set_cr8(&mut self, v: u64) {
        self.tpr = ((v & 0xf) << 4) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x2apic(id: u32) -> VLapic {
        let mut a = VLapic::new(id);
        let bsp = if id == 0 { BASE_BSP } else { 0 };
        a.write(APIC_BASE, BASE_ADDRESS | bsp | BASE_ENABLE | BASE_X2APIC).unwrap();
        a.write(SVR, 0x1ff).unwrap();
        a
    }

    #[test]
    fn x2apic_mode_must_be_turned_on_first() {
        let mut a = VLapic::new(0);
        assert_eq!(a.read(APIC_BASE), Ok(0xfee0_0900), "enabled, BSP, xAPIC mode");
        assert_eq!(a.read(ID), Err(Refused));
        assert_eq!(a.write(APIC_BASE, 0xfed0_0900 | BASE_X2APIC), Err(Refused), "not moved");
        assert_eq!(a.write(APIC_BASE, 0), Err(Refused), "not disabled");
        a.write(APIC_BASE, 0xfee0_0d00).unwrap();
        assert_eq!(a.read(ID), Ok(0));
        assert_eq!(a.write(APIC_BASE, 0xfee0_0900), Err(Refused), "no way back to xAPIC mode");
        assert_eq!(x2apic(3).read(LDR), Ok(1 << 3));
        assert_eq!(x2apic(3).read(APIC_BASE), Ok(0xfee0_0c00), "not the BSP");
    }

    #[test]
    fn the_tsc_deadline_timer_fires_once_at_its_deadline() {
        let mut a = x2apic(0);
        a.write(LVT_TIMER, 0x40 | u64::from(TIMER_MODE_TSC_DEADLINE)).unwrap();
        a.write(TSC_DEADLINE, 1000).unwrap();
        assert_eq!(a.deadline(), Some(1000));
        assert_eq!(a.poll(999, true), None);
        assert_eq!(a.poll(1000, false), None, "interrupts masked: waits");
        assert!(a.waiting());
        assert_eq!(a.deadline(), None, "one-shot");
        assert_eq!(a.poll(1001, true), Some(0x40));
        assert_eq!(a.read(ISR_FIRST + 2), Ok(1), "vector 0x40 in service");
        assert_eq!(a.read(PPR), Ok(0x40));
        a.write(TSC_DEADLINE, 2000).unwrap();
        assert_eq!(a.poll(2000, true), None, "in service until EOI");
        a.write(EOI, 0).unwrap();
        assert_eq!(a.poll(2000, true), Some(0x40));
    }

    #[test]
    fn masked_or_disabled_timers_do_not_interrupt() {
        let mut a = x2apic(0);
        a.write(LVT_TIMER, 0x40 | u64::from(TIMER_MODE_TSC_DEADLINE | LVT_MASKED)).unwrap();
        a.write(TSC_DEADLINE, 10).unwrap();
        assert_eq!(a.poll(10, true), None);
        assert_eq!(a.deadline(), None, "fired (masked): disarmed");
        a.write(LVT_TIMER, 0x40 | u64::from(TIMER_MODE_TSC_DEADLINE)).unwrap();
        a.write(SVR, 0xff).unwrap();
        a.write(TSC_DEADLINE, 10).unwrap();
        assert_eq!(a.poll(10, true), None, "APIC software-disabled");
        a.write(SVR, 0x1ff).unwrap();
        a.write(TPR, 0x50).unwrap();
        a.write(TSC_DEADLINE, 10).unwrap();
        assert_eq!(a.poll(10, true), None, "below the task priority");
        assert!(!a.waiting(), "no interrupt window can help");
        a.set_cr8(0);
        assert_eq!(a.poll(11, true), Some(0x40));
    }

    #[test]
    fn what_is_not_modelled_is_refused() {
        let mut a = x2apic(0);
        assert_eq!(a.write(LVT_TIMER, 0x40), Err(Refused), "one-shot mode");
        assert_eq!(a.write(LVT_TIMER, 0x40 | 1 << 17), Err(Refused), "periodic mode");
        assert_eq!(a.write(LVT_TIMER, 0x40 | u64::from(LVT_MASKED)), Ok(()), "masked one-shot: harmless");
        a.write(TSC_DEADLINE, 5).unwrap();
        assert_eq!(a.deadline(), None, "deadline writes ignored outside TSC-deadline mode");
        assert_eq!(a.icr(0x4840 | 1 << 32), Err(Refused), "logical destination");
        assert_eq!(a.icr(0xc4040), Err(Refused), "all excluding self");
        assert_eq!(a.icr(0x84040), Err(Refused), "all including self");
        assert_eq!(a.icr(0x4440 | 1 << 32), Err(Refused), "NMI");
        assert_eq!(a.icr(0x4140 | 1 << 32), Err(Refused), "lowest priority");
        assert_eq!(a.icr(0x44500), Err(Refused), "INIT to self by shorthand");
        assert_eq!(VLapic::new(0).icr(0x4040), Err(Refused), "xAPIC mode: no x2APIC ICR");
        assert_eq!(a.write(ID, 5), Err(Refused), "read-only");
        assert_eq!(a.write(EOI, 1), Err(Refused), "EOI takes 0");
        assert_eq!(a.write(TPR, 1 << 32), Err(Refused));
        assert_eq!(a.read(0x8ff), Err(Refused));
        assert!(VLapic::owns(0x800) && VLapic::owns(0x8ff) && VLapic::owns(0x6e0) && !VLapic::owns(0x900));
    }

    #[test]
    fn the_icr_names_fixed_init_and_startup_ipis() {
        let mut a = x2apic(1);
        let ipi = |dest, kind| Ok(Some(Ipi { dest, kind }));
        assert_eq!(a.icr(0x4041 | 3 << 32), ipi(3, IpiKind::Fixed(0x41)), "fixed, physical destination 3");
        assert_eq!(a.read(ICR), Ok(0x4041 | 3 << 32), "reads back");
        assert_eq!(a.icr(0x4500), ipi(0, IpiKind::Init), "INIT to vCPU 0");
        assert_eq!(a.icr(0x4608 | 1 << 32), ipi(1, IpiKind::Startup(0x08)), "STARTUP at 0x8000");
        assert_eq!(a.icr(0x40042 | 7 << 32), ipi(1, IpiKind::Fixed(0x42)), "self shorthand: its own id");
        assert_eq!(a.icr(0x8500 | 1 << 32), Ok(None), "INIT level de-assert: nothing");
        assert_eq!(a.icr(0x400f | 2 << 32), Ok(None), "illegal vector: nothing sent");
        assert_eq!(a.read(ESR), Ok(0x20), "send illegal vector");
    }

    #[test]
    fn pending_vectors_are_delivered_highest_first_one_at_a_time() {
        let mut a = x2apic(0);
        a.raise(0x41);
        a.write(SELF_IPI, 0x62).unwrap();
        a.raise(0x0f); // illegal: dropped
        assert_eq!(a.read(IRR_LAST - 5), Ok(1 << 1), "IRR word 2: vector 0x41");
        assert_eq!(a.read(IRR_LAST - 4), Ok(1 << 2), "IRR word 3: vector 0x62");
        assert!(a.waiting());
        assert_eq!(a.poll(0, false), None, "interrupts masked");
        assert_eq!(a.poll(0, true), Some(0x62));
        assert_eq!(a.poll(0, true), None, "0x62 in service");
        assert!(!a.waiting(), "an interrupt window would not help");
        a.write(EOI, 0).unwrap();
        assert_eq!(a.poll(0, true), Some(0x41));
        a.write(EOI, 0).unwrap();
        assert_eq!(a.poll(0, true), None, "none left");
        assert_eq!(a.read(IRR_LAST - 5), Ok(0));
    }
}
