//! The instructions a guest kernel traps on most, emulated on a short path.
//!
//! [`emulate_fast`] takes the MSR moves (`mfmsr`, `mtmsr`, `wrtee`, `wrteei`) and the
//! moves of plain storage SPRs (SPRG0-7, SRR0/1, CSRR0/1, DEAR, ESR, the MAS registers),
//! executed in virtual supervisor state. It returns `None`, having changed nothing, for
//! every other word, and for an MSR write that would idle the vCPU: the caller then uses
//! [`super::emulate`], whose results these are (the fuzz test checks both agree on a
//! million words).
//!
//! It does not bring the timers up to date: none of these reads or writes timer state,
//! and a timer event that becomes deliverable meanwhile (MSR[EE] set with TSR[DIS]
//! pending) is seen by the caller's `pending_interrupt` as before, since the physical
//! decrementer is armed for every enabled virtual deadline and its interrupt updates the
//! timers.

use super::{set_msr, Emulated};
use crate::guest_tlb::mas;
use crate::insn::{OP_X, RESERVED_RC, RESERVED_RD_ONLY, RESERVED_WRTEEI};
use crate::sprn;
use crate::vcpu::{hid0, msr, VcpuState};

/// Emulates `word` (at `state.pc`) if it is one of the instructions above; `None` otherwise.
#[inline(always)]
pub fn emulate_fast(state: &mut VcpuState, word: u32) -> Option<Emulated> {
    if word >> 26 != OP_X || state.problem_state() {
        return None;
    }
    let rt = usize::from(crate::insn::field5(word, 6));
    let result = match (word >> 1) & 0x3FF {
        83 if word & RESERVED_RD_ONLY == 0 => {
            state.gpr[rt] = state.msr;
            Emulated::Next
        }
        146 if word & RESERVED_RD_ONLY == 0 => set_msr_unless_idle(state, state.gpr[rt])?,
        131 if word & RESERVED_RD_ONLY == 0 => {
            set_msr_unless_idle(state, (state.msr & !msr::EE) | (state.gpr[rt] & msr::EE))?
        }
        163 if word & RESERVED_WRTEEI == 0 => {
            let ee = if word & 0x8000 != 0 { msr::EE } else { 0 };
            set_msr_unless_idle(state, (state.msr & !msr::EE) | ee)?
        }
        339 if word & RESERVED_RC == 0 => {
            let (reg, _) = plain_spr(state, crate::insn::split_register_number(word))?;
            state.gpr[rt] = *reg;
            Emulated::Next
        }
        467 if word & RESERVED_RC == 0 => {
            let value = state.gpr[rt];
            let (reg, writable) = plain_spr(state, crate::insn::split_register_number(word))?;
            *reg = value & writable;
            Emulated::Next
        }
        _ => return None,
    };
    state.pc = state.pc.wrapping_add(4);
    Some(result)
}

/// [`set_msr`], unless the new MSR asks to idle (the full path handles that).
#[inline(always)]
fn set_msr_unless_idle(state: &mut VcpuState, value: u32) -> Option<Emulated> {
    if value & msr::WE != 0 && state.hid0 & hid0::POWER_SAVE != 0 {
        return None;
    }
    Some(set_msr(state, value))
}

/// The plain storage SPRs (privileged, no side effect on read or write) and the bits a
/// write keeps, as `spr_moves` defines them.
#[inline(always)]
fn plain_spr(s: &mut VcpuState, spr: u16) -> Option<(&mut u32, u32)> {
    Some(match spr {
        sprn::SPRG0..=sprn::SPRG7 => (s.sprg.get_mut(usize::from(spr - sprn::SPRG0))?, u32::MAX),
        sprn::SRR0 => (&mut s.srr0, u32::MAX),
        sprn::SRR1 => (&mut s.srr1, u32::MAX),
        sprn::CSRR0 => (&mut s.csrr0, u32::MAX),
        sprn::CSRR1 => (&mut s.csrr1, u32::MAX),
        sprn::DEAR => (&mut s.dear, u32::MAX),
        sprn::ESR => (&mut s.esr, u32::MAX),
        sprn::MAS0 => (&mut s.mas.mas0, mas::MAS0_WRITABLE),
        sprn::MAS1 => (&mut s.mas.mas1, mas::MAS1_WRITABLE),
        sprn::MAS2 => (&mut s.mas.mas2, mas::MAS2_WRITABLE),
        sprn::MAS3 => (&mut s.mas.mas3, mas::MAS3_WRITABLE),
        sprn::MAS4 => (&mut s.mas.mas4, mas::MAS4_WRITABLE),
        sprn::MAS6 => (&mut s.mas.mas6, mas::MAS6_WRITABLE),
        sprn::MAS7 => (&mut s.mas.mas7, mas::MAS7_RPN),
        _ => return None,
    })
}
