//! The instructions a guest kernel traps on most, emulated on a short path.
//!
//! In virtual supervisor state:
//! - [`spr_move`]: `mfspr`/`mtspr` of the SPRs the table marks [`Kind::Plain`] (and reads
//!   of [`Kind::ReadOnly`] ones): SPRG0-2, SRR0/1, CSRR0/1, MCSRR0/1, DEAR, ESR, IVPR,
//!   IVORs, the MAS registers, HID0/1, the cache controls, PVR, PIR, ... This is also,
//!   step for step, what the Program vector's assembly does before any Rust runs
//!   (`trap/program.rs`, `bh_program`): it is the reference the assembly is written from.
//! - [`in_vector`]: those, plus `mfmsr`, and `mtmsr`/`wrtee`/`wrteei`/`rfi` that need no
//!   context switch and let no interrupt in: exactly what the Program vector's assembly
//!   finishes by itself.
//! - [`tlb_read`]: `tlbsx` and `tlbre` (the guest TLB model only: no shadow entry
//!   changes), and [`tlb_write`]: `tlbwe` and `tlbivax` (the caller drops the shadow
//!   entries), which the trap handler takes before the full path.
//!
//! All return `None`, having changed nothing, for every other word: the caller then uses
//! [`super::emulate`], whose results these are (the fuzz tests check they agree on every
//! SPR and on random words).
//!
//! - [`timer_spr`]: `mfspr`/`mtspr` of DEC, DECAR, TSR and TCR, which the trap handler
//!   takes before the full path (reads while no timer event is due are also the
//!   vector's, above).
//!
//! Except [`timer_spr`], they do not bring the timers up to date: none of the others
//! writes timer state, the vector reads it only when no event is due, and a timer event
//! that becomes deliverable
//! meanwhile (MSR[EE] set with TSR[DIS] pending) is seen by the caller as before, since
//! the physical decrementer is armed for every enabled virtual deadline and its
//! interrupt updates the timers.

use super::spr_moves::{self, fast_field, Kind};
use super::Emulated;
use crate::guest_tlb::GuestTlb;
use crate::insn::{split_register_number, RESERVED_RC};
use crate::vcpu::{hid0, msr, tcr, tsr, VcpuState};

/// `mfspr rD, SPR`/`mtspr SPR, rS` with Rc = 0: primary opcode 31, XO 339/467, under
/// the mask of the opcode, XO and Rc bits.
pub const OPCODE_XO_RC: u32 = 0xFC00_07FF;
pub const MFSPR: u32 = 0x7C00_02A6;
pub const MTSPR: u32 = 0x7C00_03A6;
/// `mfmsr`, `mtmsr`, `wrtee` under the mask of everything but their register field,
/// and `wrteei` under the mask of everything but E (which is MSR[EE]'s bit).
pub const NOT_RT: u32 = 0xFC1F_FFFF;
pub const MFMSR: u32 = 0x7C00_00A6;
pub const MTMSR: u32 = 0x7C00_0124;
pub const WRTEE: u32 = 0x7C00_0106;
pub const WRTEEI: u32 = 0x7C00_0146;
/// `tlbsx 0, rB` under the mask of everything but rB, and `tlbre`.
pub(crate) const TLBSX_NOT_RB: u32 = 0xFFFF_07FF;
pub(crate) const TLBSX: u32 = 0x7C00_0724;
pub(crate) const TLBRE: u32 = 0x7C00_0764;
/// `tlbwe`, and `tlbivax rA, rB` under the mask of everything but rA and rB.
const TLBWE: u32 = 0x7C00_07A4;
pub(crate) const TLBIVAX_NOT_RA_RB: u32 = 0xFFE0_07FF;
pub(crate) const TLBIVAX: u32 = 0x7C00_0624;
/// rfi, rfci, rfmci (no operands).
pub const RFI: u32 = 0x4C00_0064;

/// A move of a plain (or, read, read-only) SPR in virtual supervisor state; `None`
/// otherwise. See the module documentation.
#[inline(always)]
pub fn spr_move(state: &mut VcpuState, word: u32) -> Option<Emulated> {
    let write = match word & OPCODE_XO_RC {
        MFSPR => false,
        MTSPR => true,
        _ => return None,
    };
    if state.problem_state() {
        return None;
    }
    let (reg, mask) = fast_field(split_register_number(word), write)?;
    let rt = usize::from(crate::insn::field5(word, 6));
    if write {
        *reg.get_mut(state) = state.gpr[rt] & mask;
    } else {
        state.gpr[rt] = reg.get(state);
    }
    state.pc = state.pc.wrapping_add(4);
    Some(Emulated::Next)
}

/// Exactly what the Program vector's assembly finishes by itself (`trap/program.rs`,
/// `bh_program`), instruction for instruction: [`spr_move`], reads of the timer SPRs
/// (DEC, DECAR, TSR, TCR) while no timer event is due at `timebase` (the timebase the
/// vector reads) and TSR, DEC and TCR writes that need no follow-up (`quiet_tsr_write`,
/// `quiet_dec_write`, `quiet_tcr_write`), `tlbre` and `tlbsx 0, rB` (from the guest
/// TLB `tlb`, as [`tlb_read`]), `tlbivax` of a TLB0 page no TLB0 entry maps (nothing to
/// invalidate), `mfmsr`, and
/// `mtmsr`/`wrtee`/`wrteei`/`rfi` whose new MSR keeps PR, IS and DS as they were, has WE
/// clear, and sets none of the bits in `wake` (the state's [`VcpuState::wake_mask`]), so
/// that the real context needs no change and no interrupt becomes deliverable. `None`,
/// with nothing changed, for everything else.
pub fn in_vector(state: &mut VcpuState, tlb: &GuestTlb, word: u32, wake: u32, timebase: u64) -> Option<Emulated> {
    if let Some(result) = spr_move(state, word) {
        return Some(result);
    }
    if word == TLBRE {
        return tlb_read(state, tlb, word);
    }
    if word & TLBSX_NOT_RB == TLBSX {
        // tlbsx 0, rB: a hit, or a miss (the MAS4 defaults), both in the vector.
        return tlb_read(state, tlb, word);
    }
    if word & TLBIVAX_NOT_RA_RB == TLBIVAX && !state.problem_state() {
        // tlbivax of a TLB0 page (no INV_ALL) no TLB0 entry maps: nothing changes.
        let ea = state.reg_or_zero(crate::insn::field5(word, 11)).wrapping_add(state.reg(crate::insn::field5(word, 16)));
        use crate::guest_tlb::{IVAX_ALL, IVAX_TLB1};
        if ea & (IVAX_TLB1 | IVAX_ALL) != 0 || tlb.tlb0_maps_page(ea) {
            return None;
        }
        state.pc = state.pc.wrapping_add(4);
        return Some(Emulated::Next);
    }
    let quiet = quiet_timer_read(state, word, timebase)
        .or_else(|| quiet_tsr_write(state, word, timebase))
        .or_else(|| quiet_dec_write(state, word, timebase))
        .or_else(|| quiet_tcr_write(state, word, timebase));
    if let Some(result) = quiet {
        return Some(result);
    }
    if state.problem_state() {
        return None;
    }
    let rt = usize::from(crate::insn::field5(word, 6));
    let old = state.msr;
    let new = if word & !msr::EE == WRTEEI {
        (old & !msr::EE) | (word & msr::EE)
    } else if word & NOT_RT == MTMSR {
        state.gpr[rt]
    } else if word & NOT_RT == WRTEE {
        (old & !msr::EE) | (state.gpr[rt] & msr::EE)
    } else if word & NOT_RT == MFMSR {
        state.gpr[rt] = old;
        state.pc = state.pc.wrapping_add(4);
        return Some(Emulated::Next);
    } else if word == RFI {
        state.srr1
    } else {
        return None;
    };
    let new = new & msr::IMPLEMENTED;
    if (old ^ new) & (msr::PR | msr::IS | msr::DS) != 0 || new & (msr::WE | wake) != 0 {
        return None;
    }
    state.msr = new;
    Some(if word == RFI {
        state.pc = state.srr0 & !3;
        Emulated::Jumped { old_msr: old, new_msr: new }
    } else {
        state.pc = state.pc.wrapping_add(4);
        if new != old { Emulated::MsrChanged { old, new } } else { Emulated::Next }
    })
}

/// `mfspr`/`mtspr` of a timer SPR (DEC, DECAR, TSR, TCR) in virtual supervisor state, at
/// `timebase`: the timers brought up to date first, then [`emulate`](super::emulate)'s
/// read or write (a write is [`Emulated::TimerChanged`]). The guest kernels' timer
/// interrupt handlers execute these on every tick; `Guest::on_trap` runs this before the
/// full path, and the caller follows up a write as after `emulate`. `None`, with nothing
/// changed, for every other word.
#[inline(always)]
pub fn timer_spr(state: &mut VcpuState, word: u32, timebase: u64) -> Option<Emulated> {
    let (write, spr, r, kind) = timer_move(state, word)?;
    state.update_timers(timebase);
    let rt = crate::insn::field5(word, 6);
    let result = if write {
        let reg = spr_moves::Field::of_row(r);
        spr_moves::write_timer(state, kind, reg, state.reg(rt), timebase)
    } else {
        // Never `None` for these kinds.
        state.set_reg(rt, spr_moves::read_spr(state, spr, timebase).unwrap_or(0));
        Emulated::Next
    };
    state.pc = state.pc.wrapping_add(4);
    Some(result)
}

/// A move of a timer SPR in virtual supervisor state: (write, SPR number, table row, kind).
#[inline(always)]
fn timer_move(state: &VcpuState, word: u32) -> Option<(bool, u16, usize, Kind)> {
    let write = match word & OPCODE_XO_RC {
        MFSPR => false,
        MTSPR => true,
        _ => return None,
    };
    if state.problem_state() {
        return None;
    }
    let spr = split_register_number(word);
    let r = spr_moves::row(spr)?;
    let kind = spr_moves::SPRS.kind[r];
    matches!(kind, Kind::Timer | Kind::Tsr | Kind::Tcr | Kind::Dec).then_some((write, spr, r, kind))
}

/// `mfspr` of a timer SPR while no timer event is due at `timebase`
/// ([`VcpuState::timers_quiet`]: bringing the timers up to date would change nothing), so
/// the value is the stored TSR, TCR or DECAR, or DEC = deadline − timebase.
#[inline(always)]
fn quiet_timer_read(state: &mut VcpuState, word: u32, timebase: u64) -> Option<Emulated> {
    let (write, spr, _, _) = timer_move(state, word)?;
    if write || !state.timers_quiet(timebase) {
        return None;
    }
    let value = spr_moves::read_spr(state, spr, timebase)?;
    state.set_reg(crate::insn::field5(word, 6), value);
    state.pc = state.pc.wrapping_add(4);
    Some(Emulated::Next)
}

/// `mtspr TSR` (write 1 to clear) while no timer event is due at `timebase`, when the
/// bits it clears let no timer deadline count again: no FIS or WIS, and DIS only with
/// the decrementer stopped or TCR[DIE] clear. [`VcpuState::next_timer_deadline`] stays
/// as it was and clearing status lets no interrupt in, so the caller has nothing to
/// follow up (its wake mask may keep a bit that is no longer needed, which only sends
/// more to the full path).
#[inline(always)]
fn quiet_tsr_write(state: &mut VcpuState, word: u32, timebase: u64) -> Option<Emulated> {
    let (write, _, _, kind) = timer_move(state, word)?;
    if !write || kind != Kind::Tsr || !state.timers_quiet(timebase) {
        return None;
    }
    let value = state.reg(crate::insn::field5(word, 6));
    let cleared = state.tsr & value;
    let dec_counts_again = cleared & tsr::DIS != 0 && state.dec_deadline.is_some() && state.tcr & tcr::DIE != 0;
    if cleared & (tsr::FIS | tsr::WIS) != 0 || dec_counts_again {
        return None;
    }
    state.tsr &= !value;
    state.pc = state.pc.wrapping_add(4);
    Some(Emulated::TimerChanged)
}

/// `mtspr DEC` while no timer event is due at `timebase`, either while the decrementer's
/// deadline cannot count (TCR[DIE] clear or TSR[DIS] set): as for [`quiet_tsr_write`],
/// nothing for the caller to follow up (Linux's decrementer handler starts with one, DIS
/// still set); or, with the deadline counting, a non-zero rS whose deadline (timebase +
/// rS) comes before the FIT and watchdog edges: it is then the nearest deadline
/// ([`VcpuState::next_timer_deadline`]), and the vector arms the physical decrementer
/// with rS itself (a tickless kernel's next event).
#[inline(always)]
fn quiet_dec_write(state: &mut VcpuState, word: u32, timebase: u64) -> Option<Emulated> {
    let (write, _, _, kind) = timer_move(state, word)?;
    if !write || kind != Kind::Dec || !state.timers_quiet(timebase) {
        return None;
    }
    let value = state.reg(crate::insn::field5(word, 6));
    if state.tcr & tcr::DIE != 0 && state.tsr & tsr::DIS == 0 {
        let (fit, watchdog) = state.edges();
        let deadline = timebase.checked_add(u64::from(value)).filter(|&d| value != 0 && d < fit && d < watchdog);
        deadline?;
    }
    state.write_dec(value, timebase);
    state.pc = state.pc.wrapping_add(4);
    Some(Emulated::TimerChanged)
}

/// `mtspr TCR` that keeps TCR's value (TCR[WRC] set once: its bits of rS do not count),
/// while no timer event is due at `timebase`: [`VcpuState::write_tcr`] changes nothing.
#[inline(always)]
fn quiet_tcr_write(state: &mut VcpuState, word: u32, timebase: u64) -> Option<Emulated> {
    let (write, _, _, kind) = timer_move(state, word)?;
    if !write || kind != Kind::Tcr || !state.timers_quiet(timebase) {
        return None;
    }
    let sticky = if state.tcr & tcr::WRC != 0 { tcr::WRC } else { 0 };
    let changes = (state.reg(crate::insn::field5(word, 6)) & tcr::IMPLEMENTED ^ state.tcr) & !sticky;
    if changes != 0 {
        return None;
    }
    state.pc = state.pc.wrapping_add(4);
    Some(Emulated::TimerChanged)
}

/// `tlbsx 0, rB` and `tlbre` in virtual supervisor state: reads of the guest TLB model
/// into the MAS registers, nothing for the shadow TLB to do (`Guest::on_trap` runs it
/// before the full path: Linux invalidates single pages with `tlbsx`). `None` otherwise.
#[inline(always)]
pub fn tlb_read(state: &mut VcpuState, tlb: &GuestTlb, word: u32) -> Option<Emulated> {
    if state.problem_state() {
        return None;
    }
    let with_mas7 = state.hid0 & hid0::EN_MAS7_UPDATE != 0;
    if word == TLBRE {
        tlb.read(&mut state.mas, with_mas7);
    } else if word & TLBSX_NOT_RB == TLBSX {
        let ea = state.reg(crate::insn::field5(word, 16));
        tlb.search(ea, &mut state.mas, with_mas7);
    } else {
        return None;
    }
    state.pc = state.pc.wrapping_add(4);
    Some(Emulated::Next)
}

/// `tlbwe` and `tlbivax` in virtual supervisor state: the guest TLB model written or
/// invalidated, without the decoder or the timers (as [`tlb_read`]); the caller drops the
/// shadow entries a [`Emulated::TlbChanged`] names, as after `emulate`. `None` otherwise.
#[inline(always)]
pub fn tlb_write(state: &mut VcpuState, tlb: &mut GuestTlb, word: u32) -> Option<Emulated> {
    if state.problem_state() {
        return None;
    }
    let event = if word == TLBWE {
        tlb.write(&state.mas)
    } else if word & TLBIVAX_NOT_RA_RB == TLBIVAX {
        let ea = state.reg_or_zero(crate::insn::field5(word, 11)).wrapping_add(state.reg(crate::insn::field5(word, 16)));
        tlb.invalidate_by_address(ea)
    } else {
        return None;
    };
    state.pc = state.pc.wrapping_add(4);
    Some(event.map_or(Emulated::Next, Emulated::TlbChanged))
}

// The assembly fast path reads the table's kinds as numbers, relies on wrteei's E
// being MSR[EE]'s bit, and tests the bits below with one `andi.`/`andis.` each.
const _: () = assert!(msr::EE == 0x8000 && (msr::PR | msr::IS | msr::DS) & !0xFFFF == 0 && msr::WE & 0xFFFF == 0);
const _: () = assert!(Kind::Plain as u8 == 0 && Kind::ReadOnly as u8 == 1);
const _: () = assert!(RESERVED_RC == 1);
