//! mfspr/mtspr and mfpmr/mtpmr against the virtual CPU.
//!
//! Every SPR the virtual e500v2 has is one row of [`SPRS`]: its number, where the vCPU
//! keeps it (a `u32` field of [`VcpuState`]), what a move does ([`Kind`]) and, for plain
//! registers, the bits a write keeps. [`read_spr`]/[`write_spr`] interpret the table;
//! the fast paths use the same rows (`emulate::fast` in Rust, and the trap vectors'
//! assembly, which reads the table directly: `trap/program.rs`, `bh_program`), so an SPR's
//! behaviour is declared exactly once.
//!
//! `None` from a read and [`Emulated::Illegal`] from a write mean "no such register for
//! this direction": Book E makes that an illegal instruction (ESR[PIL]).

use core::mem::offset_of;

use super::Emulated;
use crate::guest_tlb::{mas, GuestTlb};
use crate::sprn::{self, pmr};
use crate::vcpu::{cache, VcpuState};

/// What moving an SPR does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Stored; a write keeps the row's mask. Taken by the fast paths both ways.
    Plain = 0,
    /// Stored, constant for the guest (identification, read aliases): a write is
    /// illegal. Fast paths read it.
    ReadOnly = 1,
    /// Plain, and problem-state code reads it without trapping (SPRG3-7 through their
    /// read aliases 259-263): the caller loads the real register too
    /// ([`Emulated::SprgChanged`]).
    UserReadable = 2,
    /// Write 1 to clear (DBSR, MCSR).
    Clear = 3,
    /// Plain, and a write changes the timers (DECAR).
    Timer = 4,
    /// TSR: write 1 to clear, timers.
    Tsr = 5,
    /// TCR: WRC is set-once, timers.
    Tcr = 6,
    /// DEC: a deadline, not a stored value.
    Dec = 7,
    /// TBL/TBU read side: the real timebase.
    TimebaseLow = 8,
    TimebaseHigh = 9,
    /// TBL/TBU write side: ignored (the timebase is shared), not readable.
    TimebaseWrite = 10,
    /// PID0-2: 8 bits; a change switches the translation context.
    Pid = 11,
    /// MMUCSR0: flash invalidates complete at once; reads 0.
    Mmucsr0 = 12,
    /// No such SPR (row 0).
    None = 255,
}

/// A `u32` of [`VcpuState`], by byte offset. Only [`field!`] makes one, from a field
/// expression the compiler checks is a `u32` (or an in-bounds element of a `[u32; N]`),
/// so every `Field` names a real, aligned `u32` inside the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field(u16);

impl Field {
    /// For rows whose kind does not use the field (DEC, the timebase).
    const UNUSED: Field = Field(0);

    /// The field of row `r` of [`SPRS`] (whose offsets [`field!`] made).
    pub(super) fn of_row(r: usize) -> Field {
        Field(SPRS.field[r])
    }

    pub fn get(self, s: &VcpuState) -> u32 {
        // SAFETY: `self.0` is the offset of a `u32` inside VcpuState (see `Field`), so the
        // pointer is in bounds, aligned and initialised.
        unsafe { (s as *const VcpuState).cast::<u8>().add(usize::from(self.0)).cast::<u32>().read() }
    }

    pub fn get_mut(self, s: &mut VcpuState) -> &mut u32 {
        // SAFETY: as in `get`; the borrow of `s` makes the reference unique.
        unsafe { &mut *(s as *mut VcpuState).cast::<u8>().add(usize::from(self.0)).cast::<u32>() }
    }
}

/// Elements of a `[u32; N]` field (for [`field!`]'s bounds check).
const fn len_of<const N: usize>(_: fn(&VcpuState) -> &[u32; N]) -> usize {
    N
}

/// The [`Field`] of `VcpuState.$f` (a `u32`), `$f.$g` (a `u32` in a nested struct) or
/// `$f[$i]` (element `$i` of a `[u32; N]`), type- and bounds-checked at compile time.
macro_rules! field {
    ($f:ident) => {{
        let _: fn(&VcpuState) -> &u32 = |s| &s.$f;
        Field(offset_of!(VcpuState, $f) as u16)
    }};
    ($f:ident . $g:ident) => {{
        let _: fn(&VcpuState) -> &u32 = |s| &s.$f.$g;
        Field(offset_of!(VcpuState, $f.$g) as u16)
    }};
    ($f:ident [$i:expr]) => {{
        assert!($i < len_of(|s: &VcpuState| &s.$f));
        Field((offset_of!(VcpuState, $f) + 4 * $i) as u16)
    }};
}

/// Rows of [`SPRS`] (row 0 is "none"; a multiple of 4 keeps the arrays aligned).
const ROWS: usize = 96;

/// The SPR table, as arrays the assembly can index: `index[spr]` is the SPR's row (0 for
/// none), and each row has its kind, field offset and write mask. `repr(C)`: the trap
/// vectors read it by offset.
#[repr(C)]
pub struct SprTable {
    pub index: [u8; 1024],
    pub kind: [Kind; ROWS],
    pub field: [u16; ROWS],
    pub mask: [u32; ROWS],
}

/// Every SPR of the virtual e500v2 (E500CORERM table 2-2).
pub static SPRS: SprTable = build();

const ALL: u32 = u32::MAX;

const fn add(t: &mut SprTable, row: &mut usize, number: u16, kind: Kind, field: Field, mask: u32) {
    assert!(*row < ROWS && t.index[number as usize] == 0, "SPR table: full, or a number twice");
    t.index[number as usize] = *row as u8;
    t.kind[*row] = kind;
    t.field[*row] = field.0;
    t.mask[*row] = mask;
    *row += 1;
}

const fn build() -> SprTable {
    use Kind::*;
    let mut t = SprTable { index: [0; 1024], kind: [None; ROWS], field: [0; ROWS], mask: [0; ROWS] };
    let r = &mut 1;
    // Branch and fixed-point (user-level: they never trap, but are accepted if handed over).
    add(&mut t, r, sprn::XER, Plain, field!(xer), ALL);
    add(&mut t, r, sprn::LR, Plain, field!(lr), ALL);
    add(&mut t, r, sprn::CTR, Plain, field!(ctr), ALL);
    // Timers. DECAR is write-only per table 2-2; reading back what was written is the
    // benign choice for a boundedly-undefined read.
    add(&mut t, r, sprn::DEC, Dec, Field::UNUSED, 0);
    add(&mut t, r, sprn::DECAR, Timer, field!(decar), ALL);
    add(&mut t, r, sprn::TSR, Tsr, field!(tsr), 0);
    add(&mut t, r, sprn::TCR, Tcr, field!(tcr), 0);
    add(&mut t, r, sprn::TBL_READ, TimebaseLow, Field::UNUSED, 0);
    add(&mut t, r, sprn::TBU_READ, TimebaseHigh, Field::UNUSED, 0);
    add(&mut t, r, sprn::TBL_WRITE, TimebaseWrite, Field::UNUSED, 0);
    add(&mut t, r, sprn::TBU_WRITE, TimebaseWrite, Field::UNUSED, 0);
    // Interrupt handling.
    add(&mut t, r, sprn::SRR0, Plain, field!(srr0), ALL);
    add(&mut t, r, sprn::SRR1, Plain, field!(srr1), ALL);
    add(&mut t, r, sprn::CSRR0, Plain, field!(csrr0), ALL);
    add(&mut t, r, sprn::CSRR1, Plain, field!(csrr1), ALL);
    add(&mut t, r, sprn::MCSRR0, Plain, field!(mcsrr0), ALL);
    add(&mut t, r, sprn::MCSRR1, Plain, field!(mcsrr1), ALL);
    add(&mut t, r, sprn::MCSR, Clear, field!(mcsr), 0);
    add(&mut t, r, sprn::MCAR, ReadOnly, field!(mcar), 0);
    add(&mut t, r, sprn::DEAR, Plain, field!(dear), ALL);
    add(&mut t, r, sprn::ESR, Plain, field!(esr), ALL);
    add(&mut t, r, sprn::IVPR, Plain, field!(ivpr), 0xFFFF_0000);
    let mut i = 0;
    while i < 16 {
        add(&mut t, r, sprn::IVOR0 + i as u16, Plain, field!(ivor[i]), 0x0000_FFF0);
        i += 1;
    }
    let mut i = 0;
    while i < 4 {
        add(&mut t, r, sprn::IVOR32 + i as u16, Plain, field!(ivor_ext[i]), 0x0000_FFF0);
        i += 1;
    }
    // Software scratch: SPRG0-2 are the guest's alone; SPRG3-7 are also readable from
    // problem state through 259-263 without trapping, so the real registers follow them.
    add(&mut t, r, sprn::USPRG0, Plain, field!(usprg0), ALL);
    let mut i = 0;
    while i < 8 {
        let kind = if i < 3 { Plain } else { UserReadable };
        add(&mut t, r, sprn::SPRG0 + i as u16, kind, field!(sprg[i]), ALL);
        i += 1;
    }
    add(&mut t, r, sprn::SPRG3_READ, ReadOnly, field!(sprg[3]), 0);
    let mut i = 4;
    while i < 8 {
        add(&mut t, r, sprn::SPRG4_READ + (i - 4) as u16, ReadOnly, field!(sprg[i]), 0);
        i += 1;
    }
    // Identification and configuration.
    add(&mut t, r, sprn::PIR, ReadOnly, field!(pir), 0);
    add(&mut t, r, sprn::PVR, ReadOnly, field!(model.pvr), 0);
    add(&mut t, r, sprn::SVR, ReadOnly, field!(model.svr), 0);
    add(&mut t, r, sprn::L1CFG0, ReadOnly, field!(model.l1cfg0), 0);
    add(&mut t, r, sprn::L1CFG1, ReadOnly, field!(model.l1cfg1), 0);
    add(&mut t, r, sprn::TLB0CFG, ReadOnly, field!(model.tlb0cfg), 0);
    add(&mut t, r, sprn::TLB1CFG, ReadOnly, field!(model.tlb1cfg), 0);
    add(&mut t, r, sprn::MMUCFG, ReadOnly, field!(model.mmucfg), 0);
    // Implementation registers. Flash invalidate and lock clear complete at once: the real
    // L1 caches are shared with other partitions and never invalidated for a guest.
    add(&mut t, r, sprn::HID0, Plain, field!(hid0), ALL);
    add(&mut t, r, sprn::HID1, Plain, field!(hid1), ALL);
    add(&mut t, r, sprn::L1CSR0, Plain, field!(l1csr0), !(cache::L1CSR_CFI | cache::L1CSR_CLFC));
    add(&mut t, r, sprn::L1CSR1, Plain, field!(l1csr1), !(cache::L1CSR_CFI | cache::L1CSR_CLFC));
    add(&mut t, r, sprn::BUCSR, Plain, field!(bucsr), !cache::BUCSR_BBFI);
    add(&mut t, r, sprn::SPEFSCR, Plain, field!(spefscr), ALL);
    // MMU.
    add(&mut t, r, sprn::PID0, Pid, field!(pid[0]), 0xFF);
    add(&mut t, r, sprn::PID1, Pid, field!(pid[1]), 0xFF);
    add(&mut t, r, sprn::PID2, Pid, field!(pid[2]), 0xFF);
    add(&mut t, r, sprn::MAS0, Plain, field!(mas.mas0), mas::MAS0_WRITABLE);
    add(&mut t, r, sprn::MAS1, Plain, field!(mas.mas1), mas::MAS1_WRITABLE);
    add(&mut t, r, sprn::MAS2, Plain, field!(mas.mas2), mas::MAS2_WRITABLE);
    add(&mut t, r, sprn::MAS3, Plain, field!(mas.mas3), mas::MAS3_WRITABLE);
    add(&mut t, r, sprn::MAS4, Plain, field!(mas.mas4), mas::MAS4_WRITABLE);
    add(&mut t, r, sprn::MAS6, Plain, field!(mas.mas6), mas::MAS6_WRITABLE);
    add(&mut t, r, sprn::MAS7, Plain, field!(mas.mas7), mas::MAS7_RPN);
    add(&mut t, r, sprn::MMUCSR0, Mmucsr0, field!(mmucsr0), 0);
    // Debug: stored, no debug events are generated.
    add(&mut t, r, sprn::DBSR, Clear, field!(dbsr), 0);
    add(&mut t, r, sprn::DBCR0, Plain, field!(dbcr[0]), ALL);
    add(&mut t, r, sprn::DBCR1, Plain, field!(dbcr[1]), ALL);
    add(&mut t, r, sprn::DBCR2, Plain, field!(dbcr[2]), ALL);
    add(&mut t, r, sprn::IAC1, Plain, field!(iac[0]), ALL);
    add(&mut t, r, sprn::IAC2, Plain, field!(iac[1]), ALL);
    add(&mut t, r, sprn::DAC1, Plain, field!(dac[0]), ALL);
    add(&mut t, r, sprn::DAC2, Plain, field!(dac[1]), ALL);
    t
}

/// The row of SPR `spr`, if the virtual CPU has it.
#[inline(always)]
pub fn row(spr: u16) -> Option<usize> {
    match SPRS.index.get(usize::from(spr)) {
        Some(&r) if r != 0 => Some(usize::from(r)),
        _ => None,
    }
}

/// The register a fast path may move without the emulator: a [`Kind::Plain`] SPR (or,
/// for reads, a [`Kind::ReadOnly`] one), and the bits a write keeps.
#[inline(always)]
pub fn fast_field(spr: u16, write: bool) -> Option<(Field, u32)> {
    let r = row(spr)?;
    match SPRS.kind[r] {
        Kind::Plain => Some((Field(SPRS.field[r]), SPRS.mask[r])),
        Kind::ReadOnly if !write => Some((Field(SPRS.field[r]), 0)),
        _ => None,
    }
}

/// Value of SPR `spr` as the guest reads it at `timebase`.
pub(super) fn read_spr(s: &VcpuState, spr: u16, timebase: u64) -> Option<u32> {
    let r = row(spr)?;
    Some(match SPRS.kind[r] {
        Kind::Dec => s.dec_value(timebase),
        Kind::TimebaseLow => timebase as u32,
        Kind::TimebaseHigh => (timebase >> 32) as u32,
        Kind::TimebaseWrite | Kind::None => return None,
        _ => Field(SPRS.field[r]).get(s),
    })
}

/// Applies mtspr `spr` = `value`.
pub(super) fn write_spr(s: &mut VcpuState, tlb: &mut GuestTlb, spr: u16, value: u32, timebase: u64) -> Emulated {
    let Some(r) = row(spr) else { return Emulated::Illegal };
    let reg = Field(SPRS.field[r]);
    match SPRS.kind[r] {
        Kind::Plain => *reg.get_mut(s) = value & SPRS.mask[r],
        Kind::UserReadable => {
            *reg.get_mut(s) = value;
            return Emulated::SprgChanged((spr - sprn::SPRG0) as u8);
        }
        Kind::Clear => *reg.get_mut(s) &= !value,
        Kind::Timer | Kind::Tsr | Kind::Tcr | Kind::Dec => return write_timer(s, SPRS.kind[r], reg, value, timebase),
        // Every partition shares the one real timebase and guests read it directly
        // (TBL/TBU are user-readable), so writes are ignored rather than virtualised.
        Kind::TimebaseWrite => {}
        Kind::Pid => {
            let pid = reg.get_mut(s);
            let old = *pid;
            *pid = value & 0xFF;
            if old != *pid {
                return Emulated::PidChanged;
            }
        }
        Kind::Mmucsr0 => {
            // TLB0_FI (bit 29) and TLB1_FI (bit 30) complete immediately and read as 0.
            let event = tlb.flash_invalidate(value & 0x4 != 0, value & 0x2 != 0);
            return event.map_or(Emulated::Next, Emulated::TlbChanged);
        }
        // Read-only (PVR, SVR, PIR, MCAR, *CFG, the user read aliases).
        Kind::ReadOnly | Kind::TimebaseLow | Kind::TimebaseHigh | Kind::None => return Emulated::Illegal,
    }
    Emulated::Next
}

/// mtspr of a timer SPR (`kind` one of [`Kind::Timer`], [`Kind::Tsr`], [`Kind::Tcr`],
/// [`Kind::Dec`]; `reg` its row's field) at `timebase`, timers already up to date.
#[inline(always)]
pub(super) fn write_timer(s: &mut VcpuState, kind: Kind, reg: Field, value: u32, timebase: u64) -> Emulated {
    match kind {
        Kind::Tsr => s.tsr &= !value,
        Kind::Tcr => s.write_tcr(value, timebase),
        Kind::Dec => s.write_dec(value, timebase),
        _ => *reg.get_mut(s) = value,
    }
    Emulated::TimerChanged
}

/// mfpmr/mtpmr: the performance monitor registers (E500CORERM 7.3), stored but never
/// counting (the real performance monitor is not given to partitions). The user numbers
/// (bit 0x10 clear) are read-only aliases of the supervisor ones.
fn pmr_ref(s: &mut VcpuState, number: u16) -> Option<&mut u32> {
    let supervisor = number | 0x10;
    let within = |base: u16| supervisor.checked_sub(base).map(usize::from).filter(|&i| i < 4);
    if let Some(i) = within(pmr::PMC0) {
        s.pmr.pmc.get_mut(i)
    } else if let Some(i) = within(pmr::PMLCA0) {
        s.pmr.pmlca.get_mut(i)
    } else if let Some(i) = within(pmr::PMLCB0) {
        s.pmr.pmlcb.get_mut(i)
    } else if supervisor == pmr::PMGC0 {
        Some(&mut s.pmr.pmgc0)
    } else {
        None
    }
}

/// mfpmr: supervisor and user numbers read the same register.
pub(super) fn read_pmr(s: &mut VcpuState, number: u16) -> Option<u32> {
    pmr_ref(s, number).map(|r| *r)
}

/// mtpmr: only the supervisor numbers are writable.
pub(super) fn write_pmr(s: &mut VcpuState, number: u16, value: u32) -> Emulated {
    match pmr_ref(s, number) {
        Some(r) if sprn::is_privileged(number) => {
            *r = value;
            Emulated::Next
        }
        _ => Emulated::Illegal,
    }
}
