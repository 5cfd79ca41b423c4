//! Trapped system registers a partition may touch harmlessly: emulated as RAZ/WI (reads
//! as zero, writes ignored), so a guest that resets or probes them (every Linux kernel at
//! boot) keeps running instead of faulting.
//!
//! Why they trap at all: MDCR_EL2 (set by [`crate::vcpu`]) traps the debug registers
//! (TDA, TDOSA, TDRA) and the performance monitors (TPM, TPMCR) so that a partition can
//! neither program breakpoints and watchpoints nor count events of the physical CPU.
//! What a guest sees instead is a debug unit and a PMU that do nothing:
//! - debug (op0 = 2, op1 = 0 or 3): MDSCR_EL1, OSLAR/OSLSR/OSDLR_EL1, DBGPRCR_EL1,
//!   DBGB{V,C}R<n>_EL1, DBGW{V,C}R<n>_EL1, MDCCINT_EL1, MDRAR_EL1, DBGCLAIM*, the DCC
//!   (MDCCSR_EL0, DBGDTR*_EL0): zero, so no breakpoint, watchpoint, OS lock or debug
//!   communication channel ever takes effect; OSLSR_EL1.OSLM = 0 says "no OS lock";
//! - performance monitors (op0 = 3, CRn = 9 CRm = 12..14, CRn = 14 CRm = 8..15): PMCR_EL0
//!   reads N = 0 (no event counters), PMCEID* no common events, every counter zero.
//!
//! Nothing else is emulated here: other trapped registers (ACTLR_EL1, implementation-
//! defined registers, set/way cache maintenance, the physical timer) stay faults for the
//! partition's fault policy. The list is in `docs/linux-guest.md`.
//!
//! Pure: the syndrome is guest-influenced and only ever masked; register 31 is XZR.

use crate::trap::esr;

/// ISS of a trapped MSR/MRS (EC 0x18): Op0 21:20, Op2 19:17, Op1 16:14, CRn 13:10,
/// Rt 9:5, CRm 4:1, Direction 0 (1: read, MRS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Access {
    op0: u64,
    op1: u64,
    crn: u64,
    crm: u64,
    op2: u64,
    rt: usize,
    read: bool,
}

impl Access {
    fn decode(esr: u64) -> Option<Access> {
        if esr::ec(esr) != esr::EC_SYSREG {
            return None;
        }
        let iss = esr & esr::ISS_MASK;
        let f = |shift: u64, bits: u64| (iss >> shift) & ((1 << bits) - 1);
        Some(Access {
            op0: f(20, 2),
            op2: f(17, 3),
            op1: f(14, 3),
            crn: f(10, 4),
            rt: f(5, 5) as usize,
            crm: f(1, 4),
            read: iss & 1 != 0,
        })
    }

    /// A debug register of EL1 or EL0 (op0 = 2; op1 = 1 is trace, not trapped by MDCR).
    fn debug(&self) -> bool {
        self.op0 == 2 && (self.op1 == 0 || self.op1 == 3)
    }

    /// A performance-monitor register: PMINTEN{SET,CLR}_EL1 and PMMIR_EL1 (op1 = 0),
    /// PMCR_EL0 .. PMOVSSET_EL0 (CRn 9), PMEVCNTR<n>/PMEVTYPER<n>/PMCCFILTR_EL0 (CRn 14).
    fn pmu(&self) -> bool {
        self.op0 == 3
            && match (self.op1, self.crn, self.crm) {
                (0, 9, 14) => matches!(self.op2, 1 | 2 | 6),
                (3, 9, 12..=14) => true,
                (3, 14, 8..=15) => true,
                _ => false,
            }
    }
}

/// If `esr` is a trapped access to a register emulated here, carries it out on the guest
/// registers `x` (a read yields zero) and returns true: the caller steps over the
/// instruction. Otherwise returns false and touches nothing.
pub fn emulate(esr: u64, x: &mut [u64; 31]) -> bool {
    let Some(a) = Access::decode(esr) else { return false };
    if !(a.debug() || a.pmu()) {
        return false;
    }
    if a.read {
        if let Some(r) = x.get_mut(a.rt) {
            *r = 0; // Rt 31 is XZR: nothing to write
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msr(op0: u64, op1: u64, crn: u64, crm: u64, op2: u64, rt: u64, read: bool) -> u64 {
        (esr::EC_SYSREG << esr::EC_SHIFT)
            | esr::IL
            | op0 << 20
            | op2 << 17
            | op1 << 14
            | crn << 10
            | rt << 5
            | crm << 1
            | u64::from(read)
    }

    #[test]
    fn linux_boot_time_debug_writes_are_ignored() {
        let mut x = [7u64; 31];
        // The syndrome Linux's __cpu_setup produced: msr mdscr_el1, x1.
        assert!(emulate(0x6224_0024, &mut x));
        assert_eq!(x, [7; 31], "a write changes no register");
        assert!(emulate(msr(2, 0, 1, 0, 4, 0, false), &mut x), "OSLAR_EL1");
        assert!(emulate(msr(2, 0, 0, 5, 5, 0, false), &mut x), "DBGBCR5_EL1");
    }

    #[test]
    fn reads_are_zero() {
        let mut x = [7u64; 31];
        assert!(emulate(msr(2, 0, 1, 1, 4, 3, true), &mut x), "OSLSR_EL1");
        assert!(emulate(msr(3, 3, 9, 12, 0, 4, true), &mut x), "PMCR_EL0");
        assert!(emulate(msr(3, 3, 14, 15, 7, 5, true), &mut x), "PMCCFILTR_EL0");
        assert_eq!(&x[3..6], [0, 0, 0]);
        assert_eq!((x[2], x[6]), (7, 7));
        assert!(emulate(msr(2, 3, 0, 1, 0, 31, true), &mut x), "MDCCSR_EL0 into xzr");
        assert_eq!(x[30], 7);
    }

    #[test]
    fn everything_else_is_left_to_the_fault_policy() {
        let mut x = [7u64; 31];
        for e in [
            msr(3, 0, 1, 0, 1, 0, false),  // ACTLR_EL1 (TACR)
            msr(3, 1, 15, 2, 0, 0, true),  // CPUACTLR_EL1 (TIDCP)
            msr(1, 0, 7, 14, 2, 0, false), // DC CISW (TSW)
            msr(3, 3, 14, 2, 1, 0, false), // CNTP_CTL_EL0 (EL1PCEN)
            msr(2, 1, 0, 0, 0, 0, true),   // trace
            msr(3, 0, 12, 11, 5, 0, false), // ICC_SGI1R_EL1: the vGIC's
            (0x16 << esr::EC_SHIFT) | 0x6224_0024 & esr::ISS_MASK, // an HVC
        ] {
            assert!(!emulate(e, &mut x), "{e:#x}");
        }
        assert_eq!(x, [7; 31]);
    }
}
