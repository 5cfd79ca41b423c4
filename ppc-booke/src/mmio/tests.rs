use super::*;

/// D-form word: primary, RT, RA, displacement.
fn d(op: u32, rt: u32, ra: u32, disp: u16) -> u32 {
    op << 26 | rt << 21 | ra << 16 | u32::from(disp)
}

/// X-form word: primary 31, RT, RA, RB, extended opcode.
fn x(xo: u32, rt: u32, ra: u32, rb: u32) -> u32 {
    31 << 26 | rt << 21 | ra << 16 | rb << 11 | xo << 1
}

#[test]
fn byte_accesses_of_a_uart_driver() {
    // stb r4, 0(r3) = 0x98830000; lbz r5, 5(r3) = 0x88a30005
    assert_eq!(d(38, 4, 3, 0), 0x9883_0000);
    let s = decode(0x9883_0000).unwrap();
    assert_eq!((s.width, s.store, s.rt, s.update_ra), (Width::Byte, true, 4, None));
    let l = decode(0x88a3_0005).unwrap();
    assert_eq!((l.width, l.store, l.rt, l.sign_extend), (Width::Byte, false, 5, false));
}

#[test]
fn words_halves_sign_and_indexed() {
    let w = decode(d(36, 9, 10, 8)).unwrap();
    assert_eq!((w.width, w.store), (Width::Word, true));
    let lha = decode(d(42, 1, 2, 0)).unwrap();
    assert!(lha.sign_extend);
    let lwzx = decode(x(23, 3, 4, 5)).unwrap();
    assert_eq!((lwzx.width, lwzx.store, lwzx.rt), (Width::Word, false, 3));
    let sthx = decode(x(407, 6, 7, 8)).unwrap();
    assert_eq!((sthx.width, sthx.store), (Width::Half, true));
}

#[test]
fn update_forms_name_ra_and_refuse_invalid_forms() {
    assert_eq!(decode(d(39, 4, 3, 1)).unwrap().update_ra, Some(3), "stbu");
    assert_eq!(decode(x(55, 3, 4, 5)).unwrap().update_ra, Some(4), "lwzux");
    assert_eq!(decode(d(33, 3, 0, 4)), None, "lwzu with RA = 0");
    assert_eq!(decode(d(33, 3, 3, 4)), None, "lwzu with RA = RT");
    assert!(decode(d(37, 3, 3, 4)).is_some(), "stwu with RA = RS is fine");
}

#[test]
fn other_instructions_are_not_device_accesses() {
    assert_eq!(decode(0x7c00_04ac), None, "sync");
    assert_eq!(decode(x(534, 3, 4, 5)), None, "lwbrx: byte-reversed");
    assert_eq!(decode(d(46, 3, 4, 0)), None, "lmw");
    assert_eq!(decode(x(20, 3, 4, 5)), None, "lwarx");
    assert_eq!(decode(x(23, 3, 4, 5) | 1), None, "Rc set: invalid form");
    assert_eq!(decode(0), None);
}

#[test]
fn load_and_store_values_are_truncated_and_extended() {
    assert_eq!(load_result(Width::Byte, false, 0x1ff), 0xff);
    assert_eq!(load_result(Width::Half, true, 0x8001), 0xffff_8001);
    assert_eq!(load_result(Width::Half, false, 0x8001), 0x8001);
    assert_eq!(store_value(Width::Byte, 0x1234_5641), 0x41);
    assert_eq!(store_value(Width::Half, 0x1234_5641), 0x5641);
    assert_eq!(store_value(Width::Word, 0x1234_5641), 0x1234_5641);
}

#[test]
fn never_panics() {
    let mut w = 0x1234_5678u32;
    for _ in 0..100_000 {
        w ^= w << 13;
        w ^= w >> 17;
        w ^= w << 5;
        if let Some(a) = decode(w) {
            assert!(a.update_ra != Some(0));
        }
    }
}
