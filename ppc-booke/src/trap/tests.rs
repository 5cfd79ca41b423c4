use super::*;

#[test]
fn ivor_numbers_round_trip() {
    for i in Ivor::ALL {
        assert_eq!(Ivor::from_number(i as u32), Some(i));
    }
    for n in 0..64 {
        assert_eq!(Ivor::from_number(n), Ivor::ALL.into_iter().find(|i| *i as u32 == n), "IVOR{n}");
    }
    assert_eq!(Ivor::Debug.class(), Class::Critical);
    assert_eq!(Ivor::MachineCheck.class(), Class::MachineCheck);
    assert_eq!(Ivor::Program.class(), Class::Standard);
}

#[test]
fn report_line() {
    let f = TrapFrame { srr0: 0x1000, srr1: msr::PR, esr: esr::PPR, ..TrapFrame::ZERO };
    assert!(f.from_problem_state());
    assert_eq!(
        f.to_string(),
        "SRR0=0x00001000 SRR1=0x00004000 ESR=0x04000000 DEAR=0x00000000"
    );
}
