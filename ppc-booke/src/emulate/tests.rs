//! One test per instruction and per SPR class. Words are built with the helpers below
//! (primary opcode << 26 | fields | XO << 1), the same layout insn/tests.rs checks.

use super::*;
use crate::guest_tlb::{mas, TlbSelect};
use crate::reflect::{reflect, ProgramKind};
use crate::sprn;
use crate::vcpu::{tcr, tsr, CpuModel};

fn setup() -> (VcpuState, GuestTlb) {
    let mut s = VcpuState::new(CpuModel::E500V2, 0, 0);
    s.pc = 0x1000;
    (s, GuestTlb::new())
}

fn x_form(rt: u32, ra: u32, rb: u32, xo: u32) -> u32 {
    (31 << 26) | (rt << 21) | (ra << 16) | (rb << 11) | (xo << 1)
}

fn mfspr(rd: u32, spr: u16) -> u32 {
    let spr = u32::from(spr);
    (31 << 26) | (rd << 21) | ((spr & 0x1F) << 16) | ((spr >> 5) << 11) | (339 << 1)
}

fn mtspr(spr: u16, rs: u32) -> u32 {
    mfspr(rs, spr) & !(0x3FF << 1) | (467 << 1)
}

const RFI: u32 = 0x4C00_0064;
const RFCI: u32 = 0x4C00_0066;
const RFMCI: u32 = 0x4C00_004C;

/// mtspr r3 then mfspr r4 of the same SPR; returns what was read back.
fn write_then_read(s: &mut VcpuState, t: &mut GuestTlb, spr: u16, value: u32) -> u32 {
    s.gpr[3] = value;
    emulate(s, t, mtspr(spr, 3), 0);
    assert_eq!(emulate(s, t, mfspr(4, spr), 0), Emulated::Next);
    s.gpr[4]
}

#[test]
fn undecodable_is_illegal_and_leaves_pc() {
    let (mut s, mut t) = setup();
    assert_eq!(emulate(&mut s, &mut t, 0, 0), Emulated::Illegal);
    assert_eq!(s.pc, 0x1000);
}

#[test]
fn virtual_problem_state_makes_privileged() {
    let (mut s, mut t) = setup();
    s.msr = msr::PR;
    assert_eq!(emulate(&mut s, &mut t, RFI, 0), Emulated::Privileged);
    assert_eq!(emulate(&mut s, &mut t, mfspr(3, sprn::SRR0), 0), Emulated::Privileged);
    assert_eq!(s.pc, 0x1000);
    // User-level SPRs stay usable.
    s.lr = 0x55;
    assert_eq!(emulate(&mut s, &mut t, mfspr(3, sprn::LR), 0), Emulated::Next);
    assert_eq!((s.gpr[3], s.pc), (0x55, 0x1004));
    // Reflecting the result gives the guest a Program interrupt with ESR[PPR].
    reflect(&mut s, &t, Interrupt::Program(ProgramKind::Privileged));
    assert_eq!(s.esr, esr::PPR);
}

#[test]
fn rfi_rfci_rfmci_restore_pc_and_msr() {
    let (mut s, mut t) = setup();
    s.srr0 = 0x2003;
    s.srr1 = 0xFFFF_FFFF;
    assert_eq!(
        emulate(&mut s, &mut t, RFI, 0),
        Emulated::Jumped { old_msr: 0, new_msr: msr::IMPLEMENTED }
    );
    assert_eq!((s.pc, s.msr), (0x2000, msr::IMPLEMENTED));
    s.msr = 0;
    s.csrr0 = 0x3000;
    s.csrr1 = msr::EE;
    emulate(&mut s, &mut t, RFCI, 0);
    assert_eq!((s.pc, s.msr), (0x3000, msr::EE));
    s.mcsrr0 = 0x4000;
    s.mcsrr1 = msr::ME;
    emulate(&mut s, &mut t, RFMCI, 0);
    assert_eq!((s.pc, s.msr), (0x4000, msr::ME));
}

#[test]
fn mfmsr_mtmsr_mask_to_implemented_bits() {
    let (mut s, mut t) = setup();
    // Every bit but PR (setting PR would make the next mfmsr privileged).
    s.gpr[5] = !msr::PR;
    let r = emulate(&mut s, &mut t, x_form(5, 0, 0, 146), 0);
    assert_eq!(r, Emulated::MsrChanged { old: 0, new: msr::IMPLEMENTED & !msr::PR });
    assert_eq!(emulate(&mut s, &mut t, x_form(6, 0, 0, 83), 0), Emulated::Next);
    assert_eq!(s.gpr[6], msr::IMPLEMENTED & !msr::PR);
    assert_eq!(s.pc, 0x1008);
    // Same value again: nothing changed.
    assert_eq!(emulate(&mut s, &mut t, x_form(5, 0, 0, 146), 0), Emulated::Next);
    // Entering virtual problem state is allowed; leaving it is not.
    s.gpr[5] = msr::PR;
    assert!(matches!(emulate(&mut s, &mut t, x_form(5, 0, 0, 146), 0), Emulated::MsrChanged { .. }));
    s.gpr[5] = 0;
    assert_eq!(emulate(&mut s, &mut t, x_form(5, 0, 0, 146), 0), Emulated::Privileged);
}

#[test]
fn wrtee_and_wrteei_touch_only_ee() {
    let (mut s, mut t) = setup();
    s.msr = msr::CE;
    assert_eq!(
        emulate(&mut s, &mut t, 0x7C00_8146, 0),
        Emulated::MsrChanged { old: msr::CE, new: msr::CE | msr::EE }
    );
    s.gpr[7] = !msr::EE;
    emulate(&mut s, &mut t, x_form(7, 0, 0, 131), 0);
    assert_eq!(s.msr, msr::CE);
    s.gpr[7] = msr::EE;
    emulate(&mut s, &mut t, x_form(7, 0, 0, 131), 0);
    assert_eq!(s.msr, msr::CE | msr::EE);
    emulate(&mut s, &mut t, 0x7C00_0146, 0);
    assert_eq!(s.msr, msr::CE);
}

#[test]
fn we_with_doze_is_idle() {
    let (mut s, mut t) = setup();
    s.gpr[3] = msr::WE | msr::EE;
    assert!(matches!(emulate(&mut s, &mut t, x_form(3, 0, 0, 146), 0), Emulated::MsrChanged { .. }));
    s.hid0 = crate::vcpu::hid0::DOZE;
    assert_eq!(emulate(&mut s, &mut t, x_form(3, 0, 0, 146), 0), Emulated::Idle);
    assert_eq!(s.pc, 0x1008);
    // rfi back into a waiting MSR idles too, at the restored PC.
    s.srr0 = 0x8000;
    s.srr1 = msr::WE;
    assert_eq!(emulate(&mut s, &mut t, RFI, 0), Emulated::Idle);
    assert_eq!(s.pc, 0x8000);
}

#[test]
fn plain_storage_sprs_round_trip() {
    let (mut s, mut t) = setup();
    for spr in [
        sprn::SRR0, sprn::SRR1, sprn::CSRR0, sprn::CSRR1, sprn::MCSRR0, sprn::MCSRR1, sprn::DEAR, sprn::ESR,
        sprn::USPRG0, sprn::SPRG0, sprn::SPRG7, sprn::HID0, sprn::HID1, sprn::SPEFSCR, sprn::DBCR0,
        sprn::DBCR1, sprn::DBCR2, sprn::IAC1, sprn::IAC2, sprn::DAC1, sprn::DAC2, sprn::XER, sprn::LR,
        sprn::CTR, sprn::DECAR,
    ] {
        assert_eq!(write_then_read(&mut s, &mut t, spr, 0xA5A5_5A5A), 0xA5A5_5A5A, "SPR {spr}");
    }
}

#[test]
fn sprg_read_aliases() {
    let (mut s, mut t) = setup();
    s.sprg = [0, 1, 2, 3, 4, 5, 6, 7];
    emulate(&mut s, &mut t, mfspr(3, sprn::SPRG3_READ), 0);
    assert_eq!(s.gpr[3], 3);
    emulate(&mut s, &mut t, mfspr(3, sprn::SPRG7_READ), 0);
    assert_eq!(s.gpr[3], 7);
    // The aliases are read-only.
    assert_eq!(emulate(&mut s, &mut t, mtspr(sprn::SPRG4_READ, 3), 0), Emulated::Illegal);
}

/// SPRG3-7 are readable from problem state without trapping (259-263), so a write of
/// one asks the caller to load the real register; SPRG0-2 are the model's alone.
#[test]
fn sprg3_to_7_writes_ask_for_the_real_register() {
    let (mut s, mut t) = setup();
    for n in 0..8u16 {
        s.gpr[4] = 0x100 + u32::from(n);
        let want = if n < 3 { Emulated::Next } else { Emulated::SprgChanged(n as u8) };
        assert_eq!(emulate(&mut s, &mut t, mtspr(sprn::SPRG0 + n, 4), 0), want, "SPRG{n}");
        assert_eq!(s.sprg[usize::from(n)], 0x100 + u32::from(n));
    }
}

#[test]
fn ivpr_and_ivor_keep_only_defined_bits() {
    let (mut s, mut t) = setup();
    assert_eq!(write_then_read(&mut s, &mut t, sprn::IVPR, 0xFFFF_FFFF), 0xFFFF_0000);
    assert_eq!(write_then_read(&mut s, &mut t, sprn::IVOR0 + 13, 0xFFFF_FFFF), 0xFFF0);
    assert_eq!(write_then_read(&mut s, &mut t, sprn::IVOR35, 0x1234_5678), 0x5670);
    assert_eq!(s.ivor[13], 0xFFF0);
    assert_eq!(s.ivor_ext[3], 0x5670);
}

#[test]
fn read_only_identification() {
    let (mut s, mut t) = setup();
    let reads = [
        (sprn::PVR, 0x8021_0022),
        (sprn::SVR, 0),
        (sprn::MMUCFG, 0x0048_19C4),
        (sprn::TLB0CFG, 0x0411_0200),
        (sprn::TLB1CFG, 0x101B_C010),
        (sprn::L1CFG0, 0x3820),
        (sprn::L1CFG1, 0x3820),
        (sprn::PIR, 0),
    ];
    for (spr, value) in reads {
        assert_eq!(emulate(&mut s, &mut t, mfspr(3, spr), 0), Emulated::Next);
        assert_eq!(s.gpr[3], value, "SPR {spr}");
        assert_eq!(emulate(&mut s, &mut t, mtspr(spr, 3), 0), Emulated::Illegal, "SPR {spr}");
    }
    assert_eq!(emulate(&mut s, &mut t, mtspr(sprn::MCAR, 3), 0), Emulated::Illegal);
}

#[test]
fn unknown_sprs_are_illegal() {
    let (mut s, mut t) = setup();
    for spr in [0u16, 2, 1020, 1022, sprn::TBL_WRITE] {
        assert_eq!(emulate(&mut s, &mut t, mfspr(3, spr), 0), Emulated::Illegal, "SPR {spr}");
    }
    // ATBL (526) and EPCR (307) do not exist on e500v2.
    assert_eq!(emulate(&mut s, &mut t, mtspr(307, 3), 0), Emulated::Illegal);
}

#[test]
fn write_one_to_clear_status_registers() {
    let (mut s, mut t) = setup();
    s.tsr = tsr::DIS | tsr::FIS | tsr::ENW;
    s.gpr[3] = tsr::DIS;
    assert_eq!(emulate(&mut s, &mut t, mtspr(sprn::TSR, 3), 0), Emulated::TimerChanged);
    assert_eq!(s.tsr, tsr::FIS | tsr::ENW);
    s.dbsr = 0xF0;
    s.gpr[3] = 0x30;
    emulate(&mut s, &mut t, mtspr(sprn::DBSR, 3), 0);
    assert_eq!(s.dbsr, 0xC0);
    s.mcsr = 0x8000_0001;
    s.gpr[3] = 0x8000_0000;
    emulate(&mut s, &mut t, mtspr(sprn::MCSR, 3), 0);
    assert_eq!(s.mcsr, 1);
}

#[test]
fn decrementer_sprs() {
    let (mut s, mut t) = setup();
    s.gpr[3] = 1000;
    assert_eq!(emulate(&mut s, &mut t, mtspr(sprn::DEC, 3), 5000), Emulated::TimerChanged);
    assert_eq!(s.dec_deadline, Some(6000));
    emulate(&mut s, &mut t, mfspr(4, sprn::DEC), 5400);
    assert_eq!(s.gpr[4], 600);
    s.gpr[3] = tcr::DIE | tcr::ARE;
    assert_eq!(emulate(&mut s, &mut t, mtspr(sprn::TCR, 3), 5500), Emulated::TimerChanged);
    s.gpr[3] = 100;
    emulate(&mut s, &mut t, mtspr(sprn::DECAR, 3), 5500);
    // Reading TSR after the deadline shows DIS, and DEC has reloaded.
    emulate(&mut s, &mut t, mfspr(4, sprn::TSR), 6050);
    assert_ne!(s.gpr[4] & tsr::DIS, 0);
    emulate(&mut s, &mut t, mfspr(4, sprn::DEC), 6050);
    assert_eq!(s.gpr[4], 50);
    s.msr = msr::EE;
    assert_eq!(s.pending_interrupt(), Some(Interrupt::Decrementer));
}

#[test]
fn timebase_reads_and_ignored_writes() {
    let (mut s, mut t) = setup();
    let tb = 0x1234_5678_9ABC_DEF0;
    emulate(&mut s, &mut t, mfspr(3, sprn::TBL_READ), tb);
    emulate(&mut s, &mut t, mfspr(4, sprn::TBU_READ), tb);
    assert_eq!((s.gpr[3], s.gpr[4]), (0x9ABC_DEF0, 0x1234_5678));
    assert_eq!(emulate(&mut s, &mut t, mtspr(sprn::TBL_WRITE, 3), tb), Emulated::Next);
    assert_eq!(emulate(&mut s, &mut t, mtspr(sprn::TBU_READ, 3), tb), Emulated::Illegal);
}

#[test]
fn cache_control_flash_bits_self_clear() {
    let (mut s, mut t) = setup();
    assert_eq!(s.l1csr0 & 1, 1, "caches reported enabled at reset");
    assert_eq!(write_then_read(&mut s, &mut t, sprn::L1CSR0, 0x103), 1);
    assert_eq!(write_then_read(&mut s, &mut t, sprn::L1CSR1, 0x3), 1);
    assert_eq!(write_then_read(&mut s, &mut t, sprn::BUCSR, 0x201), 1);
}

#[test]
fn pid_writes_report_context_change() {
    let (mut s, mut t) = setup();
    s.gpr[3] = 0x1FF;
    assert_eq!(emulate(&mut s, &mut t, mtspr(sprn::PID1, 3), 0), Emulated::PidChanged);
    assert_eq!(s.pid[1], 0xFF);
    assert_eq!(emulate(&mut s, &mut t, mtspr(sprn::PID1, 3), 0), Emulated::Next);
    emulate(&mut s, &mut t, mtspr(sprn::PID0, 3), 0);
    emulate(&mut s, &mut t, mtspr(sprn::PID2, 3), 0);
    assert_eq!(s.pid, [0xFF; 3]);
}

#[test]
fn mas_registers_are_masked() {
    let (mut s, mut t) = setup();
    let expect = [
        (sprn::MAS0, mas::MAS0_WRITABLE),
        (sprn::MAS1, mas::MAS1_WRITABLE),
        (sprn::MAS2, mas::MAS2_WRITABLE),
        (sprn::MAS3, mas::MAS3_WRITABLE),
        (sprn::MAS4, mas::MAS4_WRITABLE),
        (sprn::MAS6, mas::MAS6_WRITABLE),
        (sprn::MAS7, mas::MAS7_RPN),
    ];
    for (spr, mask) in expect {
        assert_eq!(write_then_read(&mut s, &mut t, spr, 0xFFFF_FFFF), mask, "SPR {spr}");
    }
}

/// Loads MAS0-3 for a TLB1 entry `esel` at `epn` through mtspr, then tlbwe.
fn guest_tlbwe(s: &mut VcpuState, t: &mut GuestTlb, esel: u32, epn: u32, iprot: bool) -> Emulated {
    let mas1 = mas::MAS1_V | if iprot { mas::MAS1_IPROT } else { 0 } | (5 << 8);
    for (spr, value) in [(sprn::MAS0, mas::MAS0_TLBSEL | (esel << 16)), (sprn::MAS1, mas1), (sprn::MAS2, epn), (sprn::MAS3, epn | 0x15)] {
        s.gpr[3] = value;
        emulate(s, t, mtspr(spr, 3), 0);
    }
    emulate(s, t, 0x7C00_07A4, 0)
}

#[test]
fn tlbwe_tlbre_tlbsx_tlbivax_tlbsync() {
    let (mut s, mut t) = setup();
    let r = guest_tlbwe(&mut s, &mut t, 4, 0x4000_0000, false);
    assert!(matches!(r, Emulated::TlbChanged(TlbEvent::Written { tlb: TlbSelect::Tlb1, index: 4, .. })));
    // tlbre of the same entry.
    s.mas.mas1 = 0;
    assert_eq!(emulate(&mut s, &mut t, 0x7C00_0764, 0), Emulated::Next);
    assert_eq!(s.mas.mas1, mas::MAS1_V | (5 << 8));
    // tlbsx 0, r5 hit; tlbsx r1, r5 is illegal on e500.
    s.mas = Default::default();
    s.gpr[5] = 0x4001_0000;
    assert_eq!(emulate(&mut s, &mut t, x_form(0, 0, 5, 914), 0), Emulated::Next);
    assert_eq!(s.mas.mas0, mas::MAS0_TLBSEL | (4 << 16));
    assert_eq!(emulate(&mut s, &mut t, x_form(0, 1, 5, 914), 0), Emulated::Illegal);
    // tlbivax r6, r5 with r6 = 8 selects TLB1.
    s.gpr[6] = 8;
    let r = emulate(&mut s, &mut t, x_form(0, 6, 5, 786), 0);
    assert_eq!(r, Emulated::TlbChanged(TlbEvent::Invalidated { tlb: TlbSelect::Tlb1, base: 0, mask: 1 << 4 }));
    assert_eq!(emulate(&mut s, &mut t, x_form(0, 6, 5, 786), 0), Emulated::Next);
    assert_eq!(emulate(&mut s, &mut t, 0x7C00_046C, 0), Emulated::Next);
}

#[test]
fn mmucsr0_flash_invalidate_keeps_iprot() {
    let (mut s, mut t) = setup();
    guest_tlbwe(&mut s, &mut t, 0, 0x0000_0000, true);
    guest_tlbwe(&mut s, &mut t, 1, 0x1000_0000, false);
    s.gpr[3] = 0x6;
    let r = emulate(&mut s, &mut t, mtspr(sprn::MMUCSR0, 3), 0);
    assert_eq!(r, Emulated::TlbChanged(TlbEvent::Flushed { tlb0: true, tlb1: true }));
    assert!(t.entry(TlbSelect::Tlb1, 0).unwrap().valid());
    assert!(!t.entry(TlbSelect::Tlb1, 1).unwrap().valid());
    emulate(&mut s, &mut t, mfspr(4, sprn::MMUCSR0), 0);
    assert_eq!(s.gpr[4], 0, "flash invalidate completes at once");
}

#[test]
fn dcbi_becomes_a_flush() {
    let (mut s, mut t) = setup();
    s.gpr[3] = 0x100;
    s.gpr[4] = 0x20;
    assert_eq!(emulate(&mut s, &mut t, x_form(0, 3, 4, 470), 0), Emulated::CacheFlush { ea: 0x120 });
    assert_eq!(emulate(&mut s, &mut t, x_form(0, 0, 4, 470), 0), Emulated::CacheFlush { ea: 0x20 });
    assert_eq!(s.pc, 0x1008);
}

#[test]
fn cache_locking_needs_ucle_in_problem_state() {
    let (mut s, mut t) = setup();
    s.gpr[4] = 0x5000;
    let dcbtls = x_form(0, 0, 4, 166);
    let icbtls = x_form(0, 0, 4, 486);
    assert_eq!(emulate(&mut s, &mut t, dcbtls, 0), Emulated::Next);
    s.msr = msr::PR;
    assert_eq!(
        emulate(&mut s, &mut t, dcbtls, 0),
        Emulated::Reflect(Interrupt::DataStorage { dear: 0x5000, esr: esr::DLK })
    );
    assert_eq!(
        emulate(&mut s, &mut t, icbtls, 0),
        Emulated::Reflect(Interrupt::DataStorage { dear: 0x5000, esr: esr::ILK })
    );
    assert_eq!(s.pc, 0x1004);
    s.msr = msr::PR | msr::UCLE;
    assert_eq!(emulate(&mut s, &mut t, icbtls, 0), Emulated::Next);
}

#[test]
fn performance_monitor_registers() {
    let (mut s, mut t) = setup();
    let mtpmr = |pmr: u32, rs: u32| (31 << 26) | (rs << 21) | ((pmr & 0x1F) << 16) | ((pmr >> 5) << 11) | (462 << 1);
    let mfpmr = |rd: u32, pmr: u32| (31 << 26) | (rd << 21) | ((pmr & 0x1F) << 16) | ((pmr >> 5) << 11) | (334 << 1);
    s.gpr[3] = 77;
    assert_eq!(emulate(&mut s, &mut t, mtpmr(18, 3), 0), Emulated::Next); // PMC2
    assert_eq!(emulate(&mut s, &mut t, mfpmr(4, 2), 0), Emulated::Next); // UPMC2
    assert_eq!(s.gpr[4], 77);
    emulate(&mut s, &mut t, mtpmr(400, 3), 0);
    emulate(&mut s, &mut t, mfpmr(5, 384), 0);
    assert_eq!(s.gpr[5], 77);
    assert_eq!(emulate(&mut s, &mut t, mtpmr(2, 3), 0), Emulated::Illegal, "user PMRs are read-only");
    assert_eq!(emulate(&mut s, &mut t, mfpmr(4, 20), 0), Emulated::Illegal);
    s.msr = msr::PR;
    assert_eq!(emulate(&mut s, &mut t, mfpmr(4, 18), 0), Emulated::Privileged);
    assert_eq!(emulate(&mut s, &mut t, mfpmr(4, 2), 0), Emulated::Next);
}
