use super::*;

const I2C: u32 = 43;
const UART: u32 = 42;

fn ivpr(n: u32) -> u64 {
    SRC_BASE + SRC_STRIDE * u64::from(n)
}
fn idr(n: u32) -> u64 {
    ivpr(n) + SRC_IDR
}
fn rd(m: &mut Vmpic, off: u64) -> u32 {
    match m.access(0, off, Width::Word, None) {
        Outcome::Read(v) => v,
        o => panic!("{off:#x}: {o:?}"),
    }
}
fn wr(m: &mut Vmpic, off: u64, v: u32) -> Option<u32> {
    match m.access(0, off, Width::Word, Some(v)) {
        Outcome::Written { denied } => denied,
        o => panic!("{off:#x}: {o:?}"),
    }
}
/// Unmasked, priority `p`, vector `v`, to vCPU 0; CTPR 0.
fn ready(m: &mut Vmpic, n: u32, p: u32, v: u32) {
    assert_eq!(wr(m, ivpr(n), p << IVPR_PRIORITY_SHIFT | v), None);
    assert_eq!(wr(m, idr(n), 1), None);
    wr(m, CTPR, 0);
}

#[test]
fn global_registers() {
    let mut m = Vmpic::new(1, [I2C, UART]);
    assert_eq!(rd(&mut m, BRR1), 0x0040_0200);
    assert_eq!(rd(&mut m, FRR), 43 << 16 | 2, "highest owned source, 1 CPU, VID 2");
    assert_eq!(rd(&mut Vmpic::new(2, []), FRR), 1 << 8 | 2);
    assert_eq!(rd(&mut m, VIR), 0);
    wr(&mut m, PIR, 0xffff_ffff);
    assert_eq!(rd(&mut m, PIR), 1, "own vCPU only");
    assert_eq!(rd(&mut m, SVR), 0xffff);
    wr(&mut m, SVR, 0x1234_00ff);
    assert_eq!(rd(&mut m, SVR), 0xff);
    assert_eq!(rd(&mut m, 0x10a0), 0, "IPI vector/priority: RAZ");
    assert_eq!(wr(&mut m, 0x1120, 0xffff_ffff), None, "timers: WI");
    assert_eq!(rd(&mut m, 0x1120), 0);
}

#[test]
fn gcr_reset_completes_at_once_and_mode_is_kept() {
    let mut m = Vmpic::new(1, [I2C]);
    ready(&mut m, I2C, 5, 43);
    m.raise(I2C);
    wr(&mut m, GCR, GCR_MODE_MIXED | 0x1234);
    assert_eq!(rd(&mut m, GCR), GCR_MODE_MIXED);
    wr(&mut m, GCR, GCR_RESET);
    assert_eq!(rd(&mut m, GCR), 0, "reset done, mode 0");
    assert_eq!(rd(&mut m, ivpr(I2C)), IVPR_MSK, "source back to reset, not pending");
    assert_eq!(rd(&mut m, idr(I2C)), 1);
    assert_eq!(rd(&mut m, CTPR), 15);
    assert!(!m.output(0));
}

#[test]
fn per_cpu_registers_and_aliases() {
    let mut m = Vmpic::new(2, [I2C]);
    assert_eq!(rd(&mut m, CTPR), 15, "reset: all masked");
    wr(&mut m, CTPR, 0xffff_fff3);
    assert_eq!(rd(&mut m, CTPR), 3);
    assert_eq!(rd(&mut m, CPU_BASE + CTPR), 3, "vCPU 0's block");
    assert_eq!(rd(&mut m, CPU_BASE + CPU_STRIDE + CTPR), 15, "vCPU 1's block");
    assert_eq!(m.access(1, CTPR, Width::Word, None), Outcome::Read(15), "alias of vCPU 1");
    assert_eq!(m.access(1, WHOAMI, Width::Word, None), Outcome::Read(1));
    assert_eq!(rd(&mut m, CPU_BASE + CPU_STRIDE + WHOAMI), 1);
    assert_eq!(rd(&mut m, CPU_BASE + 2 * CPU_STRIDE + CTPR), 0, "absent CPU: RAZ");
    assert_eq!(wr(&mut m, CPU_BASE + 2 * CPU_STRIDE + EOI, 0), None);
    assert_eq!(rd(&mut m, EOI), 0, "EOI reads 0");
    assert_eq!(wr(&mut m, IACK, 0), None, "IACK writes ignored");
    assert_eq!(wr(&mut m, WHOAMI, 7), None);
    assert_eq!(rd(&mut m, WHOAMI), 0);
}

#[test]
fn source_registers_of_owned_sources() {
    let mut m = Vmpic::new(1, [I2C]);
    assert_eq!(rd(&mut m, ivpr(I2C)), IVPR_MSK, "reset: masked, priority 0, vector 0");
    wr(&mut m, ivpr(I2C), 0xffff_ffff);
    assert_eq!(rd(&mut m, ivpr(I2C)), !IVPR_A & !0x3f30_0000, "A read-only, reserved bits 0");
    wr(&mut m, idr(I2C), 0xffff_ffff);
    assert_eq!(rd(&mut m, idr(I2C)), IDR_EP | 1 << 30 | 1, "EP, CI0, P0 of the one vCPU");
    assert_eq!(rd(&mut m, ivpr(I2C) + 4), 0, "reserved word");
    assert_eq!(wr(&mut m, ivpr(I2C) + 0x18, 1), None);
}

#[test]
fn sources_not_owned_read_zero_and_writes_are_denied() {
    let mut m = Vmpic::new(1, [I2C]);
    for n in [0, UART, 44, 255] {
        assert_eq!(rd(&mut m, ivpr(n)), 0);
        assert_eq!(rd(&mut m, idr(n)), 0);
        assert_eq!(wr(&mut m, ivpr(n), 0x5_002a), Some(n));
        assert_eq!(wr(&mut m, idr(n), 1), Some(n));
        assert_eq!(rd(&mut m, ivpr(n)), 0);
    }
    assert!(!m.raise(UART), "not owned: nothing raised");
    assert_eq!(m.hw_unmasked(), 0);
}

#[test]
fn widths_and_alignment() {
    let mut m = Vmpic::new(1, [I2C]);
    for w in [Width::Byte, Width::Half, Width::Double] {
        assert_eq!(m.access(0, GCR, w, None), Outcome::Bad);
    }
    assert_eq!(m.access(0, GCR + 2, Width::Word, None), Outcome::Bad);
    assert_eq!(m.access(0, WINDOW, Width::Word, None), Outcome::Bad);
    assert_eq!(m.access(1, CTPR, Width::Word, None), Outcome::Bad, "no vCPU 1");
    assert_eq!(m.access(0, 0x3_fffc, Width::Word, None), Outcome::Read(0));
}

#[test]
fn raise_iack_eoi() {
    let mut m = Vmpic::new(1, [I2C]);
    assert_eq!(m.hw_unmasked(), 0, "masked at reset");
    ready(&mut m, I2C, 5, 0x43);
    assert_eq!(m.hw_unmasked(), 1);
    assert!(m.raise(I2C));
    assert!(m.output(0));
    assert_eq!(m.hw_unmasked(), 0, "held masked while pending");
    assert_eq!(rd(&mut m, ivpr(I2C)) & IVPR_A, IVPR_A);
    assert_eq!(rd(&mut m, IACK), 0x43);
    assert!(!m.output(0), "taken");
    assert_eq!(m.hw_unmasked(), 0, "held masked while in service");
    assert_eq!(rd(&mut m, ivpr(I2C)) & IVPR_A, IVPR_A);
    assert_eq!(rd(&mut m, IACK), 0xffff, "nothing else: spurious");
    m.raise(I2C);
    assert!(!m.output(0), "same priority as the one in service");
    wr(&mut m, EOI, 0);
    assert!(m.output(0), "after EOI");
    assert_eq!(rd(&mut m, IACK), 0x43);
    wr(&mut m, EOI, 0);
    assert_eq!(rd(&mut m, ivpr(I2C)) & IVPR_A, 0);
    assert_eq!(m.hw_unmasked(), 1, "done: unmask the real source");
}

#[test]
fn mask_ctpr_and_routing_gate_delivery() {
    let mut m = Vmpic::new(1, [I2C]);
    ready(&mut m, I2C, 5, 1);
    m.raise(I2C);
    wr(&mut m, CTPR, 5);
    assert!(!m.output(0), "priority must exceed CTPR");
    assert_eq!(rd(&mut m, IACK), 0xffff);
    wr(&mut m, CTPR, 4);
    assert!(m.output(0));
    wr(&mut m, ivpr(I2C), IVPR_MSK | 5 << 16 | 1);
    assert!(!m.output(0), "masked: stays pending");
    wr(&mut m, ivpr(I2C), 5 << 16 | 1);
    wr(&mut m, idr(I2C), 0);
    assert!(!m.output(0), "routed nowhere");
    wr(&mut m, idr(I2C), 1);
    wr(&mut m, ivpr(I2C), 1);
    assert!(!m.output(0), "priority 0 is never delivered");
}

#[test]
fn priorities_order_iack_and_eoi_nests() {
    let mut m = Vmpic::new(1, [UART, I2C, 1]);
    ready(&mut m, UART, 3, 42);
    ready(&mut m, I2C, 7, 43);
    ready(&mut m, 1, 7, 1);
    m.raise(UART);
    m.raise(I2C);
    m.raise(1);
    assert_eq!(rd(&mut m, IACK), 1, "highest priority; ties to the lowest source");
    assert_eq!(rd(&mut m, IACK), 0xffff, "7 in service hides 7 and 3");
    wr(&mut m, EOI, 0);
    assert_eq!(rd(&mut m, IACK), 43);
    wr(&mut m, CTPR, 0);
    wr(&mut m, EOI, 0);
    assert_eq!(rd(&mut m, IACK), 42);
    // Nesting: a higher priority preempts the one in service; EOI ends the highest.
    m.raise(I2C);
    assert_eq!(rd(&mut m, IACK), 43);
    wr(&mut m, EOI, 0);
    assert_eq!(rd(&mut m, ivpr(UART)) & IVPR_A, IVPR_A, "42 still in service");
    assert_eq!(rd(&mut m, ivpr(I2C)) & IVPR_A, 0);
    wr(&mut m, EOI, 0);
    assert_eq!(m.hw_unmasked(), 0b111);
}

#[test]
fn two_vcpus_route_by_idr() {
    let mut m = Vmpic::new(2, [I2C]);
    ready(&mut m, I2C, 5, 9);
    m.access(1, CTPR, Width::Word, Some(0));
    wr(&mut m, idr(I2C), 0b10);
    m.raise(I2C);
    assert!(!m.output(0));
    assert!(m.output(1));
    assert_eq!(m.access(1, IACK, Width::Word, None), Outcome::Read(9));
    wr(&mut m, EOI, 0);
    assert_eq!(m.hw_unmasked(), 0, "vCPU 0's EOI ends nothing of vCPU 1");
    m.access(1, EOI, Width::Word, Some(0));
    assert_eq!(m.hw_unmasked(), 1);
}

#[test]
fn ownership_is_fixed_and_bounded() {
    let m = Vmpic::new(9, (0..40).chain([43, 43, 256, 1000]));
    assert_eq!(m.owned().count(), MAX_OWNED);
    assert_eq!(m.vcpus, MAX_VCPUS);
    assert_eq!(Vmpic::new(1, [43, 3, 42]).owned().collect::<std::vec::Vec<_>>(), [3, 42, 43]);
    let m = Vmpic::new(0, [43, 43, 300]);
    assert_eq!(m.owned().collect::<std::vec::Vec<_>>(), [43]);
    assert_eq!(m.vcpus, 1);
}

/// 1,000,000 random accesses, raises and restarts on a model owning a few sources: no
/// panic, unowned sources always read 0 and every write to them is denied.
#[test]
fn a_million_random_accesses_never_touch_unowned_sources() {
    let owned = [3u32, 42, 43, 224];
    let mut m = Vmpic::new(2, owned);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..1_000_000u32 {
        let r = next();
        let vcpu = (r >> 60) as usize % 3;
        let offset = match r % 4 {
            0 => (r >> 8) % (WINDOW + 16),
            1 => SRC_BASE + ((r >> 8) % (SRC_STRIDE * 256)),
            2 => [GCR, CTPR, IACK, EOI, SVR, FRR, PIR][(r >> 8) as usize % 7],
            _ => CPU_BASE + (r >> 8) % (3 * CPU_STRIDE),
        };
        let width = [Width::Word, Width::Word, Width::Word, Width::Byte, Width::Half, Width::Double][(r >> 20) as usize % 6];
        let store = (r & 1 << 40 != 0).then(|| next() as u32);
        let out = m.access(vcpu, offset, width, store);
        if let Outcome::Written { denied: Some(n) } = out {
            assert!(!owned.contains(&n), "owned source {n} denied");
        }
        match next() % 16 {
            0 => {
                m.raise(owned[(r >> 32) as usize % 4]);
            }
            1 => {
                m.raise((r >> 32) as u32 % 300);
            }
            2 if i % 1000 == 0 => m.reset(),
            _ => {}
        }
        let _ = (m.output(0), m.output(1), m.hw_unmasked());
        if i % 64 == 0 {
            let n = (r >> 24) as u32 % 256;
            if !owned.contains(&n) {
                assert_eq!(m.access(0, ivpr(n), Width::Word, None), Outcome::Read(0));
                assert_eq!(m.access(0, idr(n), Width::Word, None), Outcome::Read(0));
                assert_eq!(m.access(0, ivpr(n), Width::Word, Some(0)), Outcome::Written { denied: Some(n) });
            }
        }
    }
    assert_eq!(m.owned().collect::<std::vec::Vec<_>>(), owned);
}
