//! mfspr/mtspr and mfpmr/mtpmr against the virtual CPU, one arm per register class:
//! plain storage, read-only identification, write-1-to-clear status (TSR, DBSR, MCSR),
//! timers, MMU registers, and self-clearing cache controls.
//!
//! `None` from a read and [`Emulated::Illegal`] from a write mean "no such register for
//! this direction": Book E makes that an illegal instruction (ESR[PIL]).

use super::Emulated;
use crate::guest_tlb::{mas, GuestTlb};
use crate::sprn::{self, pmr};
use crate::vcpu::{cache, VcpuState};

/// Value of SPR `spr` as the guest reads it at `timebase`.
pub(super) fn read_spr(s: &VcpuState, spr: u16, timebase: u64) -> Option<u32> {
    let value = match spr {
        sprn::XER => s.xer,
        sprn::LR => s.lr,
        sprn::CTR => s.ctr,
        sprn::DEC => s.dec_value(timebase),
        // Write-only per E500CORERM table 2-2; reading back what was written is the
        // benign choice for a boundedly-undefined read.
        sprn::DECAR => s.decar,
        sprn::TSR => s.tsr,
        sprn::TCR => s.tcr,
        sprn::TBL_READ => timebase as u32,
        sprn::TBU_READ => (timebase >> 32) as u32,
        sprn::SRR0 => s.srr0,
        sprn::SRR1 => s.srr1,
        sprn::CSRR0 => s.csrr0,
        sprn::CSRR1 => s.csrr1,
        sprn::MCSRR0 => s.mcsrr0,
        sprn::MCSRR1 => s.mcsrr1,
        sprn::MCSR => s.mcsr,
        sprn::MCAR => s.mcar,
        sprn::DEAR => s.dear,
        sprn::ESR => s.esr,
        sprn::IVPR => s.ivpr,
        sprn::IVOR0..=sprn::IVOR15 => *s.ivor.get(usize::from(spr - sprn::IVOR0))?,
        sprn::IVOR32..=sprn::IVOR35 => *s.ivor_ext.get(usize::from(spr - sprn::IVOR32))?,
        sprn::USPRG0 => s.usprg0,
        sprn::SPRG3_READ => s.sprg[3],
        sprn::SPRG4_READ..=sprn::SPRG7_READ => *s.sprg.get(usize::from(spr - sprn::SPRG4_READ) + 4)?,
        sprn::SPRG0..=sprn::SPRG7 => *s.sprg.get(usize::from(spr - sprn::SPRG0))?,
        sprn::PIR => s.pir,
        sprn::PVR => s.model.pvr,
        sprn::SVR => s.model.svr,
        sprn::L1CFG0 => s.model.l1cfg0,
        sprn::L1CFG1 => s.model.l1cfg1,
        sprn::TLB0CFG => s.model.tlb0cfg,
        sprn::TLB1CFG => s.model.tlb1cfg,
        sprn::MMUCFG => s.model.mmucfg,
        sprn::HID0 => s.hid0,
        sprn::HID1 => s.hid1,
        sprn::L1CSR0 => s.l1csr0,
        sprn::L1CSR1 => s.l1csr1,
        sprn::BUCSR => s.bucsr,
        sprn::SPEFSCR => s.spefscr,
        sprn::PID0 => s.pid[0],
        sprn::PID1 => s.pid[1],
        sprn::PID2 => s.pid[2],
        sprn::MAS0 => s.mas.mas0,
        sprn::MAS1 => s.mas.mas1,
        sprn::MAS2 => s.mas.mas2,
        sprn::MAS3 => s.mas.mas3,
        sprn::MAS4 => s.mas.mas4,
        sprn::MAS6 => s.mas.mas6,
        sprn::MAS7 => s.mas.mas7,
        sprn::MMUCSR0 => s.mmucsr0,
        sprn::DBSR => s.dbsr,
        sprn::DBCR0 => s.dbcr[0],
        sprn::DBCR1 => s.dbcr[1],
        sprn::DBCR2 => s.dbcr[2],
        sprn::IAC1 => s.iac[0],
        sprn::IAC2 => s.iac[1],
        sprn::DAC1 => s.dac[0],
        sprn::DAC2 => s.dac[1],
        _ => return None,
    };
    Some(value)
}

/// Applies mtspr `spr` = `value`.
pub(super) fn write_spr(s: &mut VcpuState, tlb: &mut GuestTlb, spr: u16, value: u32, timebase: u64) -> Emulated {
    match spr {
        sprn::XER => s.xer = value,
        sprn::LR => s.lr = value,
        sprn::CTR => s.ctr = value,
        sprn::DEC => {
            s.write_dec(value, timebase);
            return Emulated::TimerChanged;
        }
        sprn::DECAR => {
            s.decar = value;
            return Emulated::TimerChanged;
        }
        sprn::TCR => {
            s.write_tcr(value);
            return Emulated::TimerChanged;
        }
        sprn::TSR => {
            s.tsr &= !value;
            return Emulated::TimerChanged;
        }
        // Every partition shares the one real timebase and guests read it directly
        // (TBL/TBU are user-readable), so writes are ignored rather than virtualised.
        sprn::TBL_WRITE | sprn::TBU_WRITE => {}
        sprn::SRR0 => s.srr0 = value,
        sprn::SRR1 => s.srr1 = value,
        sprn::CSRR0 => s.csrr0 = value,
        sprn::CSRR1 => s.csrr1 = value,
        sprn::MCSRR0 => s.mcsrr0 = value,
        sprn::MCSRR1 => s.mcsrr1 = value,
        sprn::MCSR => s.mcsr &= !value,
        sprn::DEAR => s.dear = value,
        sprn::ESR => s.esr = value,
        sprn::IVPR => s.ivpr = value & 0xFFFF_0000,
        sprn::IVOR0..=sprn::IVOR15 => {
            if let Some(r) = s.ivor.get_mut(usize::from(spr - sprn::IVOR0)) {
                *r = value & 0x0000_FFF0;
            }
        }
        sprn::IVOR32..=sprn::IVOR35 => {
            if let Some(r) = s.ivor_ext.get_mut(usize::from(spr - sprn::IVOR32)) {
                *r = value & 0x0000_FFF0;
            }
        }
        sprn::USPRG0 => s.usprg0 = value,
        sprn::SPRG0..=sprn::SPRG7 => {
            if let Some(r) = s.sprg.get_mut(usize::from(spr - sprn::SPRG0)) {
                *r = value;
            }
        }
        sprn::HID0 => s.hid0 = value,
        sprn::HID1 => s.hid1 = value,
        // Flash invalidate and lock clear complete at once: the real L1 caches are shared
        // with other partitions and are never invalidated on a guest's behalf.
        sprn::L1CSR0 => s.l1csr0 = value & !(cache::L1CSR_CFI | cache::L1CSR_CLFC),
        sprn::L1CSR1 => s.l1csr1 = value & !(cache::L1CSR_CFI | cache::L1CSR_CLFC),
        sprn::BUCSR => s.bucsr = value & !cache::BUCSR_BBFI,
        sprn::SPEFSCR => s.spefscr = value,
        sprn::PID0 | sprn::PID1 | sprn::PID2 => {
            let index = match spr {
                sprn::PID0 => 0,
                sprn::PID1 => 1,
                _ => 2,
            };
            let old = s.pid[index];
            s.pid[index] = value & 0xFF;
            return if old == s.pid[index] { Emulated::Next } else { Emulated::PidChanged };
        }
        sprn::MAS0 => s.mas.mas0 = value & mas::MAS0_WRITABLE,
        sprn::MAS1 => s.mas.mas1 = value & mas::MAS1_WRITABLE,
        sprn::MAS2 => s.mas.mas2 = value & mas::MAS2_WRITABLE,
        sprn::MAS3 => s.mas.mas3 = value & mas::MAS3_WRITABLE,
        sprn::MAS4 => s.mas.mas4 = value & mas::MAS4_WRITABLE,
        sprn::MAS6 => s.mas.mas6 = value & mas::MAS6_WRITABLE,
        sprn::MAS7 => s.mas.mas7 = value & mas::MAS7_RPN,
        sprn::MMUCSR0 => {
            // TLB0_FI (bit 29) and TLB1_FI (bit 30) complete immediately and read as 0.
            let event = tlb.flash_invalidate(value & 0x4 != 0, value & 0x2 != 0);
            return event.map_or(Emulated::Next, Emulated::TlbChanged);
        }
        sprn::DBSR => s.dbsr &= !value,
        sprn::DBCR0 => s.dbcr[0] = value,
        sprn::DBCR1 => s.dbcr[1] = value,
        sprn::DBCR2 => s.dbcr[2] = value,
        sprn::IAC1 => s.iac[0] = value,
        sprn::IAC2 => s.iac[1] = value,
        sprn::DAC1 => s.dac[0] = value,
        sprn::DAC2 => s.dac[1] = value,
        // Read-only (PVR, SVR, PIR, MCAR, *CFG, the user read aliases) or unknown.
        _ => return Emulated::Illegal,
    }
    Emulated::Next
}

/// A performance-monitor register, by kind and counter number.
#[derive(Clone, Copy)]
enum Pmr {
    Counter(usize),
    LocalControlA(usize),
    LocalControlB(usize),
    GlobalControl,
}

/// Which register a PMR number names; the user numbers (bit 0x10 clear) are read-only
/// aliases of the supervisor ones (E500CORERM 7.3).
fn decode_pmr(number: u16) -> Option<Pmr> {
    let supervisor = number | 0x10;
    let within = |base: u16| supervisor.checked_sub(base).map(usize::from).filter(|&i| i < 4);
    if let Some(i) = within(pmr::PMC0) {
        Some(Pmr::Counter(i))
    } else if let Some(i) = within(pmr::PMLCA0) {
        Some(Pmr::LocalControlA(i))
    } else if let Some(i) = within(pmr::PMLCB0) {
        Some(Pmr::LocalControlB(i))
    } else if supervisor == pmr::PMGC0 {
        Some(Pmr::GlobalControl)
    } else {
        None
    }
}

fn pmr_ref(s: &mut VcpuState, which: Pmr) -> Option<&mut u32> {
    match which {
        Pmr::Counter(i) => s.pmr.pmc.get_mut(i),
        Pmr::LocalControlA(i) => s.pmr.pmlca.get_mut(i),
        Pmr::LocalControlB(i) => s.pmr.pmlcb.get_mut(i),
        Pmr::GlobalControl => Some(&mut s.pmr.pmgc0),
    }
}

/// mfpmr: supervisor and user numbers read the same register. The counters never
/// count (the real performance monitor is not given to partitions).
pub(super) fn read_pmr(s: &VcpuState, number: u16) -> Option<u32> {
    let value = match decode_pmr(number)? {
        Pmr::Counter(i) => s.pmr.pmc.get(i),
        Pmr::LocalControlA(i) => s.pmr.pmlca.get(i),
        Pmr::LocalControlB(i) => s.pmr.pmlcb.get(i),
        Pmr::GlobalControl => Some(&s.pmr.pmgc0),
    };
    value.copied()
}

/// mtpmr: only the supervisor numbers are writable.
pub(super) fn write_pmr(s: &mut VcpuState, number: u16, value: u32) -> Emulated {
    if !sprn::is_privileged(number) {
        return Emulated::Illegal;
    }
    match decode_pmr(number).and_then(|which| pmr_ref(s, which)) {
        Some(r) => {
            *r = value;
            Emulated::Next
        }
        None => Emulated::Illegal,
    }
}
