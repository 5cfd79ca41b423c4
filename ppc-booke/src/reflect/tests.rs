use super::*;
use crate::guest_tlb::mas;
use crate::vcpu::CpuModel;

fn setup() -> (VcpuState, GuestTlb) {
    let mut s = VcpuState::new(CpuModel::E500V2, 0, 0);
    s.ivpr = 0xC000_0000;
    for (n, ivor) in s.ivor.iter_mut().enumerate() {
        *ivor = 0x100 * n as u32 + 0x20;
    }
    for (n, ivor) in s.ivor_ext.iter_mut().enumerate() {
        *ivor = 0x1000 + 0x100 * n as u32;
    }
    s.pc = 0x1000_0040;
    s.msr = msr::IMPLEMENTED;
    (s, GuestTlb::new())
}

/// Every bit a non-critical interrupt keeps (E500CORERM: CE, ME and DE unchanged, all
/// other bits cleared).
const KEPT: u32 = msr::CE | msr::ME | msr::DE;

#[test]
fn program_interrupt_saves_state_and_sets_esr() {
    let (mut s, t) = setup();
    s.esr = esr::ST;
    reflect(&mut s, &t, Interrupt::Program(ProgramKind::Privileged));
    assert_eq!((s.srr0, s.srr1), (0x1000_0040, msr::IMPLEMENTED));
    assert_eq!(s.esr, esr::PPR);
    assert_eq!(s.msr, KEPT);
    assert_eq!(s.pc, 0xC000_0620);
    reflect(&mut s, &t, Interrupt::Program(ProgramKind::Illegal));
    assert_eq!(s.esr, esr::PIL);
    assert_eq!(s.srr0, 0xC000_0620);
}

#[test]
fn vector_uses_ivpr_high_and_ivor_bits_16_to_27() {
    let (mut s, _) = setup();
    s.ivpr = 0xC000_FFFF;
    s.ivor[4] = 0xFFFF_FFFF;
    assert_eq!(vector(&s, 4), 0xC000_FFF0);
    assert_eq!(vector(&s, 33), 0xC000_1100);
    assert_eq!(vector(&s, 99), 0xC000_0000);
}

#[test]
fn critical_class_uses_csrr_and_clears_ce_de() {
    let (mut s, t) = setup();
    s.srr0 = 1;
    s.srr1 = 2;
    reflect(&mut s, &t, Interrupt::Watchdog);
    assert_eq!((s.csrr0, s.csrr1), (0x1000_0040, msr::IMPLEMENTED));
    assert_eq!((s.srr0, s.srr1), (1, 2));
    assert_eq!(s.msr, msr::ME, "critical class: only ME stays");
    assert_eq!(s.pc, 0xC000_0C20);
    let (mut s, t) = setup();
    reflect(&mut s, &t, Interrupt::Debug { dbsr: 0x10 });
    assert_eq!(s.dbsr, 0x10);
    assert_eq!(s.pc, 0xC000_0F20);
    assert_eq!(s.csrr0, 0x1000_0040);
}

#[test]
fn machine_check_uses_mcsrr_and_clears_me() {
    let (mut s, t) = setup();
    s.mcsr = 1;
    reflect(&mut s, &t, Interrupt::MachineCheck { mcsr: 0x8000_0000, mcar: 0x1234 });
    assert_eq!((s.mcsrr0, s.mcsrr1), (0x1000_0040, msr::IMPLEMENTED));
    assert_eq!((s.mcsr, s.mcar), (0x8000_0001, 0x1234));
    assert_eq!(s.msr, 0, "machine check: nothing stays");
    assert_eq!(s.pc, 0xC000_0120);
}

#[test]
fn data_storage_sets_dear_and_esr() {
    let (mut s, t) = setup();
    reflect(&mut s, &t, Interrupt::DataStorage { dear: 0xBAD0_0000, esr: esr::ST });
    assert_eq!((s.dear, s.esr), (0xBAD0_0000, esr::ST));
    assert_eq!(s.pc, 0xC000_0220);
    reflect(&mut s, &t, Interrupt::Alignment { dear: 0x3, esr: 0 });
    assert_eq!((s.dear, s.esr), (0x3, 0));
}

#[test]
fn asynchronous_and_system_call_leave_esr_alone() {
    for int in [Interrupt::External, Interrupt::Decrementer, Interrupt::FixedIntervalTimer, Interrupt::SystemCall] {
        let (mut s, t) = setup();
        s.esr = 0x1234;
        reflect(&mut s, &t, int);
        assert_eq!(s.esr, 0x1234, "{int:?}");
        assert_eq!(s.srr0, 0x1000_0040);
        assert_eq!(s.pc, 0xC000_0000 | (0x100 * int.ivor() as u32 + 0x20));
    }
}

#[test]
fn spe_unavailable_uses_ivor32_and_esr_spe() {
    let (mut s, t) = setup();
    reflect(&mut s, &t, Interrupt::SpeUnavailable);
    assert_eq!(s.esr, esr::SPE);
    assert_eq!(s.pc, 0xC000_1000);
    let (mut s, t) = setup();
    reflect(&mut s, &t, Interrupt::PerformanceMonitor);
    assert_eq!(s.pc, 0xC000_1300);
}

#[test]
fn data_tlb_error_loads_mas_from_mas4() {
    let (mut s, t) = setup();
    s.msr = msr::DS | msr::PR | msr::EE;
    s.pid = [0x21, 0, 0];
    s.mas.mas4 = (1 << 8) | 0x04;
    reflect(&mut s, &t, Interrupt::DataTlbError { dear: 0x3000_1234, esr: esr::ST });
    assert_eq!((s.dear, s.esr), (0x3000_1234, esr::ST));
    assert_eq!(s.mas.mas0, 1);
    assert_eq!(s.mas.mas1, mas::MAS1_V | (0x21 << 16) | mas::MAS1_TS | (1 << 8));
    assert_eq!(s.mas.mas2, 0x3000_1004);
    assert_eq!(s.mas.mas6, (0x21 << 16) | 1);
    assert_eq!(s.msr, 0);
    assert_eq!(s.pc, 0xC000_0D20);
}

#[test]
fn instruction_tlb_error_uses_pc_and_is() {
    let (mut s, t) = setup();
    s.msr = msr::IS;
    s.esr = 0x77;
    reflect(&mut s, &t, Interrupt::InstructionTlbError);
    assert_eq!(s.mas.mas2 & mas::MAS2_EPN, 0x1000_0000);
    assert_ne!(s.mas.mas1 & mas::MAS1_TS, 0);
    assert_eq!(s.esr, 0x77);
    assert_eq!(s.srr0, 0x1000_0040);
    assert_eq!(s.pc, 0xC000_0E20);
}

/// System call, external input, decrementer and FIT take the short path: SRR0/1, the new
/// MSR and the vector change, nothing else does (E500CORERM 5.7.4, 5.7.9, 5.7.11, 5.7.12).
#[test]
fn interrupts_that_report_nothing_change_only_srr_msr_and_pc() {
    let (mut s, t) = setup();
    s.msr = msr::IMPLEMENTED;
    s.pc = 0x1234_5678;
    s.esr = 0x55;
    s.dear = 0x66;
    s.csrr0 = 0x77;
    s.mas.mas1 = 0x88;
    for (int, ivor) in [
        (Interrupt::SystemCall, 8),
        (Interrupt::External, 4),
        (Interrupt::Decrementer, 10),
        (Interrupt::FixedIntervalTimer, 11),
    ] {
        let mut r = s.clone();
        reflect(&mut r, &t, int);
        let mut expected = s.clone();
        expected.srr0 = s.pc;
        expected.srr1 = s.msr;
        expected.msr = msr::CE | msr::ME | msr::DE;
        expected.pc = 0xC000_0000 | s.ivor[ivor];
        assert_eq!(format!("{r:?}"), format!("{expected:?}"), "{int:?}");
    }
}
