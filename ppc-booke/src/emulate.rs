//! Emulating one privileged instruction against the virtual CPU.
//!
//! The caller (the Program interrupt path) hands over the instruction word the guest
//! trapped on. [`emulate`] decodes it, checks it against the guest's *virtual*
//! privilege, applies it to [`VcpuState`] and [`GuestTlb`], and says what the caller
//! must do next in an [`Emulated`]. It never touches hardware and never panics: any
//! word and any state are valid input.
//!
//! Program counter: when the instruction completes, `emulate` steps over it
//! (`pc += 4`) or, for `rfi`/`rfci`/`rfmci`, jumps. When it reports [`Emulated::Illegal`],
//! [`Emulated::Privileged`] or [`Emulated::Reflect`], nothing architectural has changed
//! and `pc` still addresses the instruction, as the interrupt to reflect requires.

pub(crate) mod fast;
pub mod spr_moves;

pub use fast::{in_vector, spr_move, timer_spr, tlb_read, tlb_write};

use crate::guest_tlb::{GuestTlb, TlbEvent};
use crate::insn::{decode, CacheLockOp, Insn};
use crate::reflect::{esr, Interrupt};
use crate::vcpu::{hid0, msr, VcpuState};

/// What the emulation did, and what the caller has to follow up on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emulated {
    /// Done; `pc` stepped over the instruction.
    Next,
    /// rfi/rfci/rfmci: `pc` and MSR restored from the save/restore pair. The caller
    /// re-derives the real MSR (PR, IS, DS) and checks for interrupts EE/CE now allow.
    Jumped { old_msr: u32, new_msr: u32 },
    /// mtmsr/wrtee/wrteei changed the virtual MSR: newly set EE/CE may let a pending
    /// interrupt in; PR/IS/DS changes switch the shadow address space.
    MsrChanged { old: u32, new: u32 },
    /// Guest TLB entries changed: update or flush the shadow TLB.
    TlbChanged(TlbEvent),
    /// PID0/1/2 changed: the shadow MMU switches translation context.
    PidChanged,
    /// SPRG`n` (3-7) changed: problem-state code reads it through its read alias without
    /// trapping, so the caller loads the real SPRG`n` with the new value.
    SprgChanged(u8),
    /// DEC, DECAR, TCR or TSR was written: reprogram the real decrementer for
    /// [`VcpuState::next_timer_deadline`] and re-check [`VcpuState::pending_interrupt`].
    TimerChanged,
    /// MSR[WE] set with a HID0 power-saving mode: do not run the vCPU until an interrupt
    /// is pending (the MSR may also have changed; `pc` is already updated).
    Idle,
    /// `dcbi` at this EA: the caller flushes the line (dcbf) through the guest's mapping;
    /// discarding dirty data is never done on a guest's behalf.
    CacheFlush { ea: u32 },
    /// Unknown instruction or unsupported SPR/PMR: reflect Program with ESR[PIL].
    Illegal,
    /// Supervisor-only and the guest's virtual MSR[PR] is 1: reflect Program with ESR[PPR].
    Privileged,
    /// The instruction raises this interrupt instead (cache locking in problem state
    /// without MSR[UCLE]): reflect it.
    Reflect(Interrupt),
}

/// Decodes and emulates `word`, the instruction at `state.pc`, at timebase `timebase`.
pub fn emulate(state: &mut VcpuState, tlb: &mut GuestTlb, word: u32, timebase: u64) -> Emulated {
    // Timer state is brought up to date first so TSR and DEC reads are exact and the
    // caller's pending_interrupt() check afterwards sees every expired timer.
    state.update_timers(timebase);
    let Some(insn) = decode(word) else {
        return Emulated::Illegal;
    };
    if state.problem_state() && insn.is_privileged() {
        return Emulated::Privileged;
    }
    let result = execute(state, tlb, insn, timebase);
    let returns = matches!(insn, Insn::Rfi | Insn::Rfci | Insn::Rfmci);
    let faulted = matches!(result, Emulated::Illegal | Emulated::Privileged | Emulated::Reflect(_));
    if !returns && !faulted {
        state.pc = state.pc.wrapping_add(4);
    }
    result
}

fn execute(state: &mut VcpuState, tlb: &mut GuestTlb, insn: Insn, timebase: u64) -> Emulated {
    let with_mas7 = state.hid0 & hid0::EN_MAS7_UPDATE != 0;
    match insn {
        Insn::Rfi => return_from(state, state.srr0, state.srr1),
        Insn::Rfci => return_from(state, state.csrr0, state.csrr1),
        Insn::Rfmci => return_from(state, state.mcsrr0, state.mcsrr1),
        Insn::Mfmsr { rd } => {
            state.set_reg(rd, state.msr);
            Emulated::Next
        }
        Insn::Mtmsr { rs } => set_msr(state, state.reg(rs)),
        Insn::Wrtee { rs } => set_msr(state, (state.msr & !msr::EE) | (state.reg(rs) & msr::EE)),
        Insn::Wrteei { enable } => {
            set_msr(state, if enable { state.msr | msr::EE } else { state.msr & !msr::EE })
        }
        Insn::Mfspr { rd, spr } => match spr_moves::read_spr(state, spr, timebase) {
            Some(value) => {
                state.set_reg(rd, value);
                Emulated::Next
            }
            None => Emulated::Illegal,
        },
        Insn::Mtspr { rs, spr } => spr_moves::write_spr(state, tlb, spr, state.reg(rs), timebase),
        Insn::Mfpmr { rd, pmr } => match spr_moves::read_pmr(state, pmr) {
            Some(value) => {
                state.set_reg(rd, value);
                Emulated::Next
            }
            None => Emulated::Illegal,
        },
        Insn::Mtpmr { rs, pmr } => spr_moves::write_pmr(state, pmr, state.reg(rs)),
        Insn::Tlbwe => tlb_result(tlb.write(&state.mas)),
        Insn::Tlbre => {
            tlb.read(&mut state.mas, with_mas7);
            Emulated::Next
        }
        Insn::Tlbsx { ra, rb } => {
            // E500CORERM 12.4.3: the e500 takes an illegal instruction exception if rA != 0.
            if ra != 0 {
                return Emulated::Illegal;
            }
            tlb.search(state.reg(rb), &mut state.mas, with_mas7);
            Emulated::Next
        }
        Insn::Tlbivax { ra, rb } => tlb_result(tlb.invalidate_by_address(effective_address(state, ra, rb))),
        Insn::Tlbsync => Emulated::Next,
        Insn::Dcbi { ra, rb } => Emulated::CacheFlush { ea: effective_address(state, ra, rb) },
        Insn::CacheLock { op, ra, rb, .. } => cache_lock(state, op, effective_address(state, ra, rb)),
    }
}

/// (RA|0) + RB, wrapping as the hardware's 32-bit adder does.
#[inline(never)]
fn effective_address(state: &VcpuState, ra: u8, rb: u8) -> u32 {
    state.reg_or_zero(ra).wrapping_add(state.reg(rb))
}

/// Whether the virtual CPU asked to wait: MSR[WE] with a HID0 power-saving mode
/// selected (E500CORERM 2.5.1: WE requests the mode HID0[DOZE,NAP,SLEEP] chooses).
pub fn wait_requested(state: &VcpuState) -> bool {
    state.msr & msr::WE != 0 && state.hid0 & hid0::POWER_SAVE != 0
}

/// The rfi family: MSR from the saved MSR (masked to implemented bits) and PC from the
/// saved address with its low two bits cleared (Book E).
fn return_from(state: &mut VcpuState, pc: u32, saved_msr: u32) -> Emulated {
    let old_msr = state.msr;
    state.msr = saved_msr & msr::IMPLEMENTED;
    state.pc = pc & !3;
    if wait_requested(state) {
        Emulated::Idle
    } else {
        Emulated::Jumped { old_msr, new_msr: state.msr }
    }
}

fn set_msr(state: &mut VcpuState, value: u32) -> Emulated {
    let old = state.msr;
    state.msr = value & msr::IMPLEMENTED;
    if wait_requested(state) {
        Emulated::Idle
    } else if state.msr != old {
        Emulated::MsrChanged { old, new: state.msr }
    } else {
        Emulated::Next
    }
}

fn tlb_result(event: Option<TlbEvent>) -> Emulated {
    event.map_or(Emulated::Next, Emulated::TlbChanged)
}

/// Cache locking: allowed in supervisor state, or in problem state with MSR[UCLE];
/// otherwise a DSI with ESR[DLK] (data) or ESR[ILK] (instruction) (E500CORERM table
/// 5-6). Allowed locks are not taken: the caches are shared with other partitions, and
/// a lock request may always fail on the e500, so the guest cannot rely on it.
fn cache_lock(state: &VcpuState, op: CacheLockOp, ea: u32) -> Emulated {
    if state.problem_state() && state.msr & msr::UCLE == 0 {
        let syndrome = if op.is_instruction_cache() { esr::ILK } else { esr::DLK };
        return Emulated::Reflect(Interrupt::DataStorage { dear: ea, esr: syndrome });
    }
    Emulated::Next
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod fuzz;
