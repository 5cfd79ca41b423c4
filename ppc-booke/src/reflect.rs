//! Delivering an interrupt to the guest's own vectors, exactly as the e500 core would
//! (E500CORERM 5.6 "Interrupt processing" and 5.7 "Interrupt definitions").
//!
//! The save/restore pair depends on the class: SRR0/1 for non-critical interrupts,
//! CSRR0/1 for critical ones (critical input, watchdog, debug: the e500v2 has no debug
//! APU, so debug is critical class), MCSRR0/1 for machine check. The new MSR keeps CE,
//! ME and DE for a non-critical interrupt and clears every other bit (UCLE and PMM
//! included); a critical-class interrupt keeps only ME, a machine check nothing. The PC becomes IVPR[0:15] || IVORn[16:27] || 0b0000.
//!
//! `state.pc` must hold what the hardware would save in SRR0: the faulting instruction
//! for faults, the next instruction for `sc` and asynchronous interrupts.

use crate::guest_tlb::GuestTlb;
use crate::vcpu::{hid0, msr, VcpuState};

/// Exception syndrome register bits (E500CORERM 2.7.1.6).
pub mod esr {
    /// Illegal instruction.
    pub const PIL: u32 = 1 << 27;
    /// Privileged instruction.
    pub const PPR: u32 = 1 << 26;
    /// Trap.
    pub const PTR: u32 = 1 << 25;
    pub const FP: u32 = 1 << 24;
    /// Store operation.
    pub const ST: u32 = 1 << 23;
    /// Data cache locking.
    pub const DLK: u32 = 1 << 21;
    /// Instruction cache locking.
    pub const ILK: u32 = 1 << 20;
    /// Unimplemented operation.
    pub const PUO: u32 = 1 << 18;
    /// Byte ordering.
    pub const BO: u32 = 1 << 17;
    /// SPE operation.
    pub const SPE: u32 = 1 << 7;
}

/// Which Program interrupt (sets ESR[PIL], [PPR], [PTR] or [PUO]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramKind {
    Illegal,
    Privileged,
    Trap,
    Unimplemented,
}

/// An interrupt the guest takes, with what it reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupt {
    /// IVOR0, critical class, gated by MSR[CE].
    CriticalInput,
    /// IVOR1: MCSR bits are ORed in, MCAR is set.
    MachineCheck { mcsr: u32, mcar: u32 },
    /// IVOR2: DEAR and ESR ([ST], [DLK]/[ILK], [BO], [SPE]).
    DataStorage { dear: u32, esr: u32 },
    /// IVOR3: ESR ([BO] or nothing).
    InstructionStorage { esr: u32 },
    /// IVOR4, gated by MSR[EE].
    External,
    /// IVOR5: DEAR and ESR ([ST], [SPE]).
    Alignment { dear: u32, esr: u32 },
    /// IVOR6.
    Program(ProgramKind),
    /// IVOR7 (the e500 has no FPU; listed for completeness).
    FpUnavailable,
    /// IVOR8.
    SystemCall,
    /// IVOR9 (not used by the e500).
    ApUnavailable,
    /// IVOR10.
    Decrementer,
    /// IVOR11.
    FixedIntervalTimer,
    /// IVOR12, critical class.
    Watchdog,
    /// IVOR13: DEAR, ESR ([ST], [SPE]) and the MAS registers loaded from MAS4.
    DataTlbError { dear: u32, esr: u32 },
    /// IVOR14: the MAS registers loaded from MAS4 for the fetch address (`state.pc`).
    InstructionTlbError,
    /// IVOR15, critical class (DBSR bits are ORed in).
    Debug { dbsr: u32 },
    /// IVOR32: SPE/embedded FP unavailable (ESR[SPE]).
    SpeUnavailable,
    /// IVOR33: embedded FP data.
    SpeFpData,
    /// IVOR34: embedded FP round.
    SpeFpRound,
    /// IVOR35.
    PerformanceMonitor,
}

/// Save/restore register pair an interrupt class uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    NonCritical,
    Critical,
    MachineCheck,
}

impl Interrupt {
    /// The IVOR number (0-15, 32-35).
    pub fn ivor(&self) -> usize {
        match self {
            Interrupt::CriticalInput => 0,
            Interrupt::MachineCheck { .. } => 1,
            Interrupt::DataStorage { .. } => 2,
            Interrupt::InstructionStorage { .. } => 3,
            Interrupt::External => 4,
            Interrupt::Alignment { .. } => 5,
            Interrupt::Program(_) => 6,
            Interrupt::FpUnavailable => 7,
            Interrupt::SystemCall => 8,
            Interrupt::ApUnavailable => 9,
            Interrupt::Decrementer => 10,
            Interrupt::FixedIntervalTimer => 11,
            Interrupt::Watchdog => 12,
            Interrupt::DataTlbError { .. } => 13,
            Interrupt::InstructionTlbError => 14,
            Interrupt::Debug { .. } => 15,
            Interrupt::SpeUnavailable => 32,
            Interrupt::SpeFpData => 33,
            Interrupt::SpeFpRound => 34,
            Interrupt::PerformanceMonitor => 35,
        }
    }

    pub fn class(&self) -> Class {
        match self {
            Interrupt::CriticalInput | Interrupt::Watchdog | Interrupt::Debug { .. } => Class::Critical,
            Interrupt::MachineCheck { .. } => Class::MachineCheck,
            _ => Class::NonCritical,
        }
    }

    /// The ESR the interrupt leaves, or `None` when it leaves ESR unchanged.
    fn esr(&self) -> Option<u32> {
        match *self {
            Interrupt::DataStorage { esr, .. }
            | Interrupt::InstructionStorage { esr }
            | Interrupt::Alignment { esr, .. }
            | Interrupt::DataTlbError { esr, .. } => Some(esr),
            Interrupt::Program(kind) => Some(match kind {
                ProgramKind::Illegal => esr::PIL,
                ProgramKind::Privileged => esr::PPR,
                ProgramKind::Trap => esr::PTR,
                ProgramKind::Unimplemented => esr::PUO,
            }),
            Interrupt::SpeUnavailable | Interrupt::SpeFpData | Interrupt::SpeFpRound => Some(esr::SPE),
            _ => None,
        }
    }
}

/// MSR bits a non-critical interrupt keeps (E500CORERM tables 5-7 to 5-26: "CE, ME and
/// DE are unchanged. All other MSR bits are cleared."); critical-class interrupts keep
/// only ME, a machine check nothing (as KVM's Book E delivery does too).
const KEPT_NONCRITICAL: u32 = msr::CE | msr::ME | msr::DE;

/// Delivers `int` to the guest: saves PC and MSR in the class's pair, sets the syndrome
/// registers, loads the MAS registers on a TLB error (using `tlb`'s round-robin victim),
/// builds the new MSR and jumps to the vector.
pub fn reflect(state: &mut VcpuState, tlb: &GuestTlb, int: Interrupt) {
    if let Interrupt::SystemCall | Interrupt::External | Interrupt::Decrementer | Interrupt::FixedIntervalTimer = int {
        return reflect_plain(state, int.ivor());
    }
    let old_msr = state.msr;
    let class = int.class();
    match class {
        Class::NonCritical => {
            state.srr0 = state.pc;
            state.srr1 = old_msr;
        }
        Class::Critical => {
            state.csrr0 = state.pc;
            state.csrr1 = old_msr;
        }
        Class::MachineCheck => {
            state.mcsrr0 = state.pc;
            state.mcsrr1 = old_msr;
        }
    }
    if let Some(esr) = int.esr() {
        state.esr = esr;
    }
    let with_mas7 = state.hid0 & hid0::EN_MAS7_UPDATE != 0;
    match int {
        Interrupt::DataStorage { dear, .. } | Interrupt::Alignment { dear, .. } => state.dear = dear,
        Interrupt::DataTlbError { dear, .. } => {
            state.dear = dear;
            let pids = state.pid;
            tlb.load_miss(&mut state.mas, dear, old_msr & msr::DS != 0, &pids, with_mas7);
        }
        Interrupt::InstructionTlbError => {
            let pids = state.pid;
            tlb.load_miss(&mut state.mas, state.pc, old_msr & msr::IS != 0, &pids, with_mas7);
        }
        Interrupt::MachineCheck { mcsr, mcar } => {
            state.mcsr |= mcsr;
            state.mcar = mcar;
        }
        Interrupt::Debug { dbsr } => state.dbsr |= dbsr,
        _ => {}
    }
    state.msr = old_msr
        & match class {
            Class::NonCritical => KEPT_NONCRITICAL,
            Class::Critical => msr::ME,
            Class::MachineCheck => 0,
        };
    state.pc = vector(state, int.ivor());
}

/// [`reflect`] for the non-critical interrupts that report nothing (system call, external
/// input, decrementer, FIT; IVOR `ivor` < 16): SRR0/1, the new MSR, the vector.
#[inline]
fn reflect_plain(state: &mut VcpuState, ivor: usize) {
    state.srr0 = state.pc;
    state.srr1 = state.msr;
    state.msr &= KEPT_NONCRITICAL;
    state.pc = vector(state, ivor);
}

/// IVPR[0:15] || IVORn[16:27] || 0b0000.
pub fn vector(state: &VcpuState, ivor: usize) -> u32 {
    let offset = match ivor {
        0..=15 => state.ivor.get(ivor).copied(),
        32..=35 => state.ivor_ext.get(ivor - 32).copied(),
        _ => None,
    }
    .unwrap_or(0);
    (state.ivpr & 0xFFFF_0000) | (offset & 0x0000_FFF0)
}

#[cfg(test)]
mod tests;
