//! Every encoding against a hand-assembled word. Each word is built from its fields:
//! primary opcode << 26 | rD/rS << 21 | rA << 16 | rB << 11 | XO << 1 | Rc.

use super::*;

/// Builds an X-form word from its fields.
fn x_form(primary: u32, rt: u32, ra: u32, rb: u32, xo: u32) -> u32 {
    (primary << 26) | (rt << 21) | (ra << 16) | (rb << 11) | (xo << 1)
}

/// Builds an XFX-form SPR move: the SPR number's low five bits go to bits 11-15 and its
/// high five bits to bits 16-20.
fn spr_form(xo: u32, rt: u32, spr: u32) -> u32 {
    (31 << 26) | (rt << 21) | ((spr & 0x1F) << 16) | ((spr >> 5) << 11) | (xo << 1)
}

#[test]
fn rfi_rfci_rfmci() {
    // 19 << 26 = 0x4C00_0000; XO 50 << 1 = 0x64, 51 << 1 = 0x66, 38 << 1 = 0x4C.
    assert_eq!(decode(0x4C00_0064), Some(Insn::Rfi));
    assert_eq!(decode(0x4C00_0066), Some(Insn::Rfci));
    assert_eq!(decode(0x4C00_004C), Some(Insn::Rfmci));
    assert_eq!(x_form(19, 0, 0, 0, 50), 0x4C00_0064);
    // Non-zero reserved field (rB = 1) or Rc = 1: invalid form.
    assert_eq!(decode(0x4C00_0864), None);
    assert_eq!(decode(0x4C00_0065), None);
}

#[test]
fn rfdi_is_not_e500v2() {
    // rfdi: 19/39 (0x4C00_004E) exists on e200/e500mc only.
    assert_eq!(decode(0x4C00_004E), None);
}

#[test]
fn mfmsr_mtmsr() {
    // mfmsr r3: 31/83 with rD = 3: 0x7C00_0000 | 3 << 21 | 83 << 1 = 0x7C60_00A6.
    assert_eq!(decode(0x7C60_00A6), Some(Insn::Mfmsr { rd: 3 }));
    assert_eq!(x_form(31, 3, 0, 0, 83), 0x7C60_00A6);
    // mtmsr r31: 31/146: 0x7C00_0000 | 31 << 21 | 146 << 1 = 0x7FE0_0124.
    assert_eq!(decode(0x7FE0_0124), Some(Insn::Mtmsr { rs: 31 }));
    // mtmsr with the (Server-only) L bit at bit 15 set: reserved on Book E.
    assert_eq!(decode(0x7FE1_0124), None);
}

#[test]
fn wrtee_wrteei() {
    // wrtee r5: 31/131: 0x7CA0_0106.
    assert_eq!(decode(0x7CA0_0106), Some(Insn::Wrtee { rs: 5 }));
    // wrteei 1: 31/163 with E (bit 16 = 0x8000): 0x7C00_8146; wrteei 0: 0x7C00_0146.
    assert_eq!(decode(0x7C00_8146), Some(Insn::Wrteei { enable: true }));
    assert_eq!(decode(0x7C00_0146), Some(Insn::Wrteei { enable: false }));
    // A register number in bits 6-10 is reserved for wrteei.
    assert_eq!(decode(0x7C20_8146), None);
}

#[test]
fn mfspr_mtspr_split_field() {
    // mfspr r4, SRR0 (26 = 0b00000_11010): low five bits 26 at bits 11-15, high 0.
    // 0x7C00_02A6 | 4 << 21 | 26 << 16 = 0x7C9A_02A6.
    assert_eq!(decode(0x7C9A_02A6), Some(Insn::Mfspr { rd: 4, spr: 26 }));
    assert_eq!(spr_form(339, 4, 26), 0x7C9A_02A6);
    // mtspr MAS1 (625 = 0b10011_10001), r7: low 17 << 16, high 19 << 11.
    // 0x7C00_03A6 | 7 << 21 | 17 << 16 | 19 << 11 = 0x7CF1_9BA6.
    assert_eq!(decode(0x7CF1_9BA6), Some(Insn::Mtspr { rs: 7, spr: 625 }));
    assert_eq!(spr_form(467, 7, 625), 0x7CF1_9BA6);
    // mfspr r0, SVR (1023): both halves 31: 0x7C1F_FAA6.
    assert_eq!(decode(0x7C1F_FAA6), Some(Insn::Mfspr { rd: 0, spr: 1023 }));
    // Rc = 1 is reserved.
    assert_eq!(decode(0x7C9A_02A7), None);
}

#[test]
fn spr_privilege_follows_bit_0x10() {
    // LR (8) is user-level; SRR0 (26 = 0x1A) has bit 0x10 set; USPRG0 (256) is user.
    assert!(!decode(spr_form(339, 3, 8)).unwrap().is_privileged());
    assert!(decode(spr_form(339, 3, 26)).unwrap().is_privileged());
    assert!(!decode(spr_form(467, 3, 256)).unwrap().is_privileged());
    assert!(decode(spr_form(467, 3, 1008)).unwrap().is_privileged());
}

#[test]
fn mfpmr_mtpmr() {
    // mfpmr r3, PMGC0 (400 = 0b01100_10000): 31/334, low 16 << 16, high 12 << 11.
    // 0x7C00_029C | 3 << 21 | 16 << 16 | 12 << 11 = 0x7C70_629C.
    assert_eq!(decode(0x7C70_629C), Some(Insn::Mfpmr { rd: 3, pmr: 400 }));
    assert_eq!(spr_form(334, 3, 400), 0x7C70_629C);
    // mtpmr PMC0 (16), r9: 31/462: 0x7C00_039C | 9 << 21 | 16 << 16 = 0x7D30_039C.
    assert_eq!(decode(0x7D30_039C), Some(Insn::Mtpmr { rs: 9, pmr: 16 }));
    // mfpmr UPMC0 (0) is user-level.
    assert!(!decode(spr_form(334, 3, 0)).unwrap().is_privileged());
}

#[test]
fn tlb_management() {
    // tlbre: 31/946 = 0x7C00_0764; tlbwe: 31/978 = 0x7C00_07A4; tlbsync: 31/566 = 0x7C00_046C.
    assert_eq!(decode(0x7C00_0764), Some(Insn::Tlbre));
    assert_eq!(decode(0x7C00_07A4), Some(Insn::Tlbwe));
    assert_eq!(decode(0x7C00_046C), Some(Insn::Tlbsync));
    // tlbsx 0, r3: 31/914 with rB = 3: 0x7C00_0724 | 3 << 11 = 0x7C00_1F24.
    assert_eq!(decode(0x7C00_1F24), Some(Insn::Tlbsx { ra: 0, rb: 3 }));
    // tlbivax r4, r5: 31/786: 0x7C00_0624 | 4 << 16 | 5 << 11 = 0x7C04_2E24.
    assert_eq!(decode(0x7C04_2E24), Some(Insn::Tlbivax { ra: 4, rb: 5 }));
    assert_eq!(x_form(31, 0, 4, 5, 786), 0x7C04_2E24);
    // 440-style tlbwe with RS/RA/WS fields is an invalid form on e500.
    assert_eq!(decode(0x7C61_07A4), None);
    // tlbsx. (Rc = 1) is not an e500 instruction.
    assert_eq!(decode(0x7C00_1F25), None);
}

#[test]
fn dcbi() {
    // dcbi r3, r4: 31/470: 0x7C00_03AC | 3 << 16 | 4 << 11 = 0x7C03_23AC.
    assert_eq!(decode(0x7C03_23AC), Some(Insn::Dcbi { ra: 3, rb: 4 }));
    // A non-zero bits 6-10 field is reserved.
    assert_eq!(decode(0x7C23_23AC), None);
}

#[test]
fn cache_locking() {
    // dcbtls 0, r3, r4: 31/166: 0x7C00_014C | 3 << 16 | 4 << 11 = 0x7C03_214C.
    let word = x_form(31, 0, 3, 4, 166);
    assert_eq!(word, 0x7C03_214C);
    assert_eq!(
        decode(word),
        Some(Insn::CacheLock { op: CacheLockOp::DataTouchLock, ct: 0, ra: 3, rb: 4 })
    );
    // dcbtstls 2 (CT = 2): 31/134; dcblc: 31/390; icbtls: 31/486; icblc: 31/230.
    assert!(matches!(
        decode(x_form(31, 2, 0, 1, 134)),
        Some(Insn::CacheLock { op: CacheLockOp::DataTouchStoreLock, ct: 2, .. })
    ));
    assert!(matches!(
        decode(x_form(31, 0, 0, 1, 390)),
        Some(Insn::CacheLock { op: CacheLockOp::DataLockClear, .. })
    ));
    assert!(matches!(
        decode(x_form(31, 0, 0, 1, 486)),
        Some(Insn::CacheLock { op: CacheLockOp::InstructionTouchLock, .. })
    ));
    let icblc = decode(x_form(31, 0, 0, 1, 230)).unwrap();
    assert!(matches!(icblc, Insn::CacheLock { op: CacheLockOp::InstructionLockClear, .. }));
    assert!(!icblc.is_privileged());
}

#[test]
fn not_on_e500v2() {
    // mfdcr 31/323, mtdcr 31/451, wait 31/62, msgsnd 31/206, tlbia 31/370, tlbie 31/306.
    for xo in [323, 451, 62, 206, 370, 306] {
        assert_eq!(decode(x_form(31, 0, 0, 0, xo)), None, "xo {xo}");
    }
    // sc (17), user-level loads and stores, and a zero word.
    assert_eq!(decode(0x4400_0002), None);
    assert_eq!(decode(0x8061_0000), None);
    assert_eq!(decode(0), None);
}

/// The rows of the decode table are disjoint: no word is two instructions (so their
/// order is free), and each row's pattern is a valid form of itself.
#[test]
fn forms_are_disjoint() {
    for (i, &(p1, x1, _, _)) in FORMS.iter().enumerate() {
        assert!(decode(p1 << 26 | x1 << 1).is_some(), "row {i} decodes its own pattern");
        for &(p2, x2, _, _) in &FORMS[i + 1..] {
            assert_ne!((p1, x1), (p2, x2), "row {i} twice");
        }
    }
}
