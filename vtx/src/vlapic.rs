//! A partition vCPU's local APIC, as much of it as a partition needs for its own timer: the
//! x2APIC register set (MSRs 0x800.., SDM Vol. 3A 11.12) with the timer in TSC-deadline
//! mode, and delivery of its vector.
//!
//! Pure state; [`crate::vcpu`] traps the MSRs (RDMSR/WRMSR exits), asks [`VLapic::poll`]
//! before every VM entry whether the timer fired and which vector to inject, and arms the
//! VMX-preemption timer for the next deadline: that is how the hypervisor gets control at
//! the guest's deadline, with no periodic tick of its own.
//!
//! What is modelled: IA32_APIC_BASE (x2APIC mode only: the xAPIC page at 0xfee00000 is not
//! emulated, so a guest must turn x2APIC mode on first, as it may on this CPU), the ID,
//! version, TPR, PPR, EOI, LDR, SVR, ESR registers and the six LVT entries (stored); the
//! timer in TSC-deadline mode through IA32_TSC_DEADLINE; one interrupt pending and one in
//! service (the timer is the only source). What is refused (the MSR access is forbidden:
//! `#GP` under policy `inject`): the timer's one-shot and periodic modes (their
//! initial-count register), interrupt commands (ICR, SELF IPI: a partition has no CPU to
//! send them to), moving or disabling the APIC, and every other register.

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
    /// The timer fired and its interrupt waits for delivery.
    pending: Option<u8>,
    in_service: Option<u8>,
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
            pending: None,
            in_service: None,
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
            CURRENT_COUNT | INITIAL_COUNT | DIVIDE => 0,
            _ => match Self::lvt_slot(msr) {
                Some(i) => u64::from(self.lvt[i]),
                None => return Err(Refused),
            },
        })
    }

    /// The ISR (0x810..), TMR (0x818..) or IRR (0x820..) word holding bits of `msr`.
    fn vector_bits(&self, msr: u32) -> u64 {
        let word = (msr - ISR_FIRST) % 8;
        let set = match (msr - ISR_FIRST) / 8 {
            0 => self.in_service,
            2 => self.pending,
            _ => None,
        };
        match set {
            Some(v) if u32::from(v) / 32 == word => 1 << (v % 32),
            _ => 0,
        }
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
            EOI if v == 0 => self.in_service = None,
            SVR => self.svr = v & 0x11ff,
            ESR => self.esr = 0,
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
                if lvt & LVT_MASKED == 0 && self.svr & SVR_ENABLE != 0 && vector >= FIRST_VECTOR {
                    self.pending = Some(vector);
                }
            }
        }
        let vector = self.pending?;
        let above_tpr = vector >> 4 > self.tpr >> 4;
        if !can_take || self.in_service.is_some() || !above_tpr {
            return None;
        }
        self.pending = None;
        self.in_service = Some(vector);
        Some(vector)
    }

    /// An interrupt is pending that only the guest's interrupt flag (or an STI/MOV SS
    /// shadow) holds back: the vCPU asks for an exit when the guest can take it.
    pub fn waiting(&self) -> bool {
        matches!(self.pending, Some(v) if self.in_service.is_none() && v >> 4 > self.tpr >> 4)
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
        assert_eq!(a.write(0x830, 0x4040), Err(Refused), "ICR");
        assert_eq!(a.write(0x83f, 0x40), Err(Refused), "SELF IPI");
        assert_eq!(a.write(ID, 5), Err(Refused), "read-only");
        assert_eq!(a.write(EOI, 1), Err(Refused), "EOI takes 0");
        assert_eq!(a.write(TPR, 1 << 32), Err(Refused));
        assert_eq!(a.read(0x8ff), Err(Refused));
        assert!(VLapic::owns(0x800) && VLapic::owns(0x8ff) && VLapic::owns(0x6e0) && !VLapic::owns(0x900));
    }
}
