use super::*;

fn tlb() -> GuestTlb {
    GuestTlb::new()
}

/// MAS image for a TLB1 entry `esel`.
fn tlb1_mas(esel: u32, tid: u32, ts: bool, tsize: u32, epn: u32, rpn: u64, iprot: bool) -> Mas {
    Mas {
        mas0: mas::MAS0_TLBSEL | (esel << 16),
        mas1: mas::MAS1_V
            | if iprot { mas::MAS1_IPROT } else { 0 }
            | (tid << 16)
            | if ts { mas::MAS1_TS } else { 0 }
            | (tsize << 8),
        mas2: epn | 0x0A, // I and G
        mas3: (rpn as u32 & 0xFFFF_F000) | (0x5 << 6) | 0x3F,
        mas7: (rpn >> 32) as u32,
        ..Mas::default()
    }
}

/// MAS image for a TLB0 entry in way `way` (4 KiB).
fn tlb0_mas(way: u32, nv: u32, tid: u32, epn: u32, rpn: u32) -> Mas {
    Mas {
        mas0: (way << 16) | nv,
        mas1: mas::MAS1_V | (tid << 16) | (1 << 8),
        mas2: epn,
        mas3: rpn | 0x3F,
        ..Mas::default()
    }
}

#[test]
fn geometry_of_the_e500v2() {
    let t = tlb();
    assert!(t.entry(TlbSelect::Tlb0, 511).is_some());
    assert!(t.entry(TlbSelect::Tlb0, 512).is_none());
    assert!(t.entry(TlbSelect::Tlb1, 15).is_some());
    assert!(t.entry(TlbSelect::Tlb1, 16).is_none());
}

#[test]
fn tsize_is_powers_of_four_kib() {
    let sizes: [u64; 11] = [
        4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20, 1 << 30, 4 << 30,
    ];
    for (i, &size) in sizes.iter().enumerate() {
        assert_eq!(tsize_bytes(i as u32 + 1), size);
    }
}

#[test]
fn tlb1_write_read_round_trip_with_36_bit_rpn() {
    let mut t = tlb();
    let written = tlb1_mas(3, 0x42, true, 7, 0xC000_0000, 0xF_E000_0000, true);
    let ev = t.write(&written).unwrap();
    assert_eq!(ev, TlbEvent::Written { tlb: TlbSelect::Tlb1, index: 3 });
    assert_eq!(t.replaced(), TlbEntry::default());
    let e = t.entry(TlbSelect::Tlb1, 3).unwrap();
    assert_eq!((e.tid(), e.ts(), e.tsize(), e.iprot(), e.user()), (0x42, true, 7, true, 5));
    assert_eq!(e.rpn(), 0xF_E000_0000);
    let mut read = Mas { mas0: mas::MAS0_TLBSEL | (3 << 16), ..Mas::default() };
    t.read(&mut read, true);
    assert_eq!((read.mas1, read.mas2, read.mas3, read.mas7), (written.mas1, written.mas2, written.mas3, 0xF));
    // Without HID0[EN_MAS7_UPDATE], MAS7 is left alone.
    let mut read = Mas { mas0: mas::MAS0_TLBSEL | (3 << 16), mas7: 9, ..Mas::default() };
    t.read(&mut read, false);
    assert_eq!(read.mas7, 9);
}

#[test]
fn translate_large_page_with_36_bit_rpn() {
    let mut t = tlb();
    t.write(&tlb1_mas(0, 0, false, 7, 0xC000_0000, 0xF_E000_0000, false));
    let tr = t.translate(0xC012_3456, false, &[5, 0, 0], Access::Store, false).unwrap();
    assert_eq!(tr.pa, 0xF_E012_3456);
    assert_eq!(tr.page_size, 16 << 20);
    assert_eq!(tr.attrs, 0x0A);
    assert_eq!(t.translate(0xC100_0000, false, &[5, 0, 0], Access::Load, false), Err(TranslateError::Miss));
    assert_eq!(t.translate(0xC000_0000, true, &[5, 0, 0], Access::Load, false), Err(TranslateError::Miss));
}

#[test]
fn translate_checks_pid_and_permissions() {
    let mut t = tlb();
    let mut m = tlb1_mas(1, 7, true, 1, 0x1000_0000, 0x2000_0000, false);
    m.mas3 = 0x2000_0000 | u32::from(perm::UR | perm::SR | perm::SW);
    t.write(&m);
    assert_eq!(t.translate(0x1000_0010, true, &[6, 0, 0], Access::Load, true), Err(TranslateError::Miss));
    assert!(t.translate(0x1000_0010, true, &[6, 7, 0], Access::Load, true).is_ok(), "PID1 matches");
    assert!(t.translate(0x1000_0010, true, &[7, 0, 0], Access::Store, false).is_ok());
    assert!(matches!(
        t.translate(0x1000_0010, true, &[7, 0, 0], Access::Store, true),
        Err(TranslateError::Denied(_))
    ));
    assert!(matches!(
        t.translate(0x1000_0010, true, &[7, 0, 0], Access::Fetch, false),
        Err(TranslateError::Denied(_))
    ));
}

#[test]
fn unsupported_tlb1_size_never_matches() {
    let mut t = tlb();
    // TSIZE 0 (1 KiB) and 0xC (16 GiB) are outside TLB1CFG's 4 KiB..4 GiB.
    t.write(&tlb1_mas(0, 0, false, 0, 0x0000_0000, 0, false));
    t.write(&tlb1_mas(1, 0, false, 0xC, 0x0000_0000, 0, false));
    assert_eq!(t.translate(0x10, false, &[0; 3], Access::Load, false), Err(TranslateError::Miss));
    // 4 GiB covers everything.
    t.write(&tlb1_mas(2, 0, false, 0xB, 0x0000_0000, 0x1_0000_0000, false));
    assert_eq!(t.translate(0xFFFF_FFFF, false, &[0; 3], Access::Load, false).unwrap().pa, 0x1_FFFF_FFFF);
}

#[test]
fn tlb0_is_set_associative_4k_without_iprot() {
    let mut t = tlb();
    let mut m = tlb0_mas(2, 3, 1, 0x0012_3000, 0x0800_0000);
    m.mas1 |= mas::MAS1_IPROT | (5 << 8);
    let ev = t.write(&m).unwrap();
    // Set = EA bits 45-51 = (0x0012_3000 >> 12) & 127 = 0x23; index = 0x23 * 4 + 2.
    assert!(matches!(ev, TlbEvent::Written { tlb: TlbSelect::Tlb0, index: 142, .. }));
    let e = t.entry(TlbSelect::Tlb0, 142).unwrap();
    assert_eq!((e.tsize(), e.iprot()), (1, false));
    assert_eq!(t.tlb0_victim(), 3, "tlbwe loads TLB0[NV] from MAS0[NV]");
    let mut read = Mas { mas0: 2 << 16, mas2: 0x0012_3000, ..Mas::default() };
    t.read(&mut read, false);
    assert_eq!(read.mas1, mas::MAS1_V | (1 << 16) | (1 << 8));
    assert_eq!(read.mas0 & mas::MAS0_NV, 3);
    assert_eq!(t.translate(0x0012_3ABC, false, &[1, 0, 0], Access::Fetch, false).unwrap().pa, 0x0800_0ABC);
}

#[test]
fn nv_round_robin_through_misses_and_writes() {
    let mut t = tlb();
    let mut m = Mas::default();
    for expected_way in [0u32, 1, 2, 3, 0, 1] {
        t.load_miss(&mut m, 0x4000_0000, false, &[0; 3], false);
        assert_eq!((m.mas0 & mas::MAS0_ESEL) >> 16, expected_way);
        assert_eq!(m.mas0 & mas::MAS0_NV, (expected_way + 1) % 4);
        t.write(&m);
    }
}

#[test]
fn tlbsx_hit_loads_the_entry() {
    let mut t = tlb();
    t.write(&tlb1_mas(9, 0x11, true, 5, 0x8000_0000, 0x3000_0000, false));
    let mut m = Mas { mas6: (0x11 << 16) | 1, ..Mas::default() };
    t.search(0x8000_1234, &mut m, true);
    assert_eq!(m.mas0, mas::MAS0_TLBSEL | (9 << 16));
    assert_eq!(m.mas1, mas::MAS1_V | (0x11 << 16) | mas::MAS1_TS | (5 << 8));
    assert_eq!(m.mas2 & mas::MAS2_EPN, 0x8000_0000);
    assert_eq!(m.mas3 & mas::MAS3_RPN, 0x3000_0000);
    // TID 0 entries match any search PID.
    t.write(&tlb0_mas(1, 0, 0, 0x0000_5000, 0x0000_9000));
    let mut m = Mas { mas6: 0x33 << 16, ..Mas::default() };
    t.search(0x0000_5FFF, &mut m, false);
    assert_eq!(m.mas0 & (mas::MAS0_TLBSEL | mas::MAS0_ESEL), 1 << 16);
    assert_ne!(m.mas1 & mas::MAS1_V, 0);
}

#[test]
fn tlbsx_miss_loads_mas4_defaults_with_v_clear() {
    let t = tlb();
    let mut m = Mas {
        mas4: (1 << 8) | 0x0A, // TLBSELD 0, TSIZED 4 KiB, I and G
        mas6: (0x22 << 16) | 1,
        mas7: 5,
        mas3: 0xFFFF_FFFF,
        ..Mas::default()
    };
    t.search(0x1234_5678, &mut m, true);
    assert_eq!(m.mas0, 1, "ESEL = TLB0[NV] = 0, NV = 1");
    assert_eq!(m.mas1, (0x22 << 16) | mas::MAS1_TS | (1 << 8));
    assert_eq!(m.mas2, 0x1234_500A);
    assert_eq!((m.mas3, m.mas7), (0, 0));
}

#[test]
fn tlb_error_miss_sets_v_tid_from_tidseld_and_mas6() {
    let t = tlb();
    let mut m = Mas { mas4: mas::MAS4_TLBSELD | (1 << 16) | (3 << 8) | 0x04, mas0: 5 << 16, ..Mas::default() };
    t.load_miss(&mut m, 0xDEAD_BEEF, true, &[3, 4, 5], false);
    assert_eq!(m.mas0, mas::MAS0_TLBSEL | (5 << 16), "TLB1: ESEL kept");
    assert_eq!(m.mas1, mas::MAS1_V | (4 << 16) | mas::MAS1_TS | (3 << 8));
    assert_eq!(m.mas2, 0xDEAD_B004);
    assert_eq!(m.mas6, (3 << 16) | 1);
}

#[test]
fn tlbivax_by_address_respects_iprot_and_ignores_pid() {
    let mut t = tlb();
    t.write(&tlb1_mas(0, 1, false, 5, 0x4000_0000, 0, true)); // protected, 1 MiB
    t.write(&tlb1_mas(1, 2, true, 3, 0x4000_0000, 0, false)); // 64 KiB, other PID and AS
    t.write(&tlb1_mas(2, 0, false, 1, 0x5000_0000, 0, false));
    let ev = t.invalidate_by_address(0x4000_0000 | 0x8).unwrap();
    assert_eq!(ev, TlbEvent::Invalidated { tlb: TlbSelect::Tlb1, base: 0, mask: 0b10 });
    assert!(t.entry(TlbSelect::Tlb1, 0).unwrap().valid());
    assert!(t.entry(TlbSelect::Tlb1, 2).unwrap().valid());
    assert_eq!(t.invalidate_by_address(0x6000_0008), None);
    // TLB0 by address: only the matching set.
    t.write(&tlb0_mas(0, 0, 3, 0x0000_7000, 0));
    t.write(&tlb0_mas(3, 0, 4, 0x0008_7000, 0)); // same set, other page
    let ev = t.invalidate_by_address(0x0000_7000).unwrap();
    assert_eq!(ev, TlbEvent::Invalidated { tlb: TlbSelect::Tlb0, base: 7 * 4, mask: 0b1 });
    assert!(t.entry(TlbSelect::Tlb0, 7 * 4 + 3).unwrap().valid());
}

#[test]
fn tlbivax_invalidate_all_and_flash_invalidate_keep_iprot() {
    let mut t = tlb();
    t.write(&tlb1_mas(0, 0, false, 5, 0x0000_0000, 0, true));
    t.write(&tlb1_mas(1, 0, false, 5, 0x1000_0000, 0, false));
    t.write(&tlb0_mas(0, 0, 0, 0x2000_0000, 0));
    // EA 0xC: TLBSEL = TLB1 (0x8) and INV_ALL (0x4).
    assert_eq!(t.invalidate_by_address(0xC), Some(TlbEvent::Flushed { tlb0: false, tlb1: true }));
    assert!(t.entry(TlbSelect::Tlb1, 0).unwrap().valid());
    assert!(!t.entry(TlbSelect::Tlb1, 1).unwrap().valid());
    assert!(t.entry(TlbSelect::Tlb0, 0).unwrap().valid());
    assert_eq!(t.flash_invalidate(true, true), Some(TlbEvent::Flushed { tlb0: true, tlb1: true }));
    assert!(!t.entry(TlbSelect::Tlb0, 0).unwrap().valid());
    assert!(t.entry(TlbSelect::Tlb1, 0).unwrap().valid(), "IPROT survives flash invalidate");
    assert_eq!(t.flash_invalidate(false, false), None);
}

/// A translation found by looking at every entry in order (TLB1, then TLB0's set), as
/// the manual describes the search: what `find`, which skips invalid TLB1 entries, must
/// agree with after any sequence of writes and invalidations.
fn brute_force(t: &GuestTlb, ea: u32, space: bool, pids: &[u32; 3]) -> Option<(TlbSelect, usize)> {
    let hit = |tlb: TlbSelect, e: &TlbEntry| {
        let tid = e.tid();
        let shift = match tlb {
            TlbSelect::Tlb0 => 12,
            TlbSelect::Tlb1 if (1..=0xB).contains(&e.tsize()) => 10 + 2 * e.tsize(),
            TlbSelect::Tlb1 => return false,
        };
        e.valid()
            && e.ts() == space
            && (tid == 0 || pids.iter().any(|&p| p & 0xFF == tid))
            && u64::from(ea ^ e.epn()) >> shift == 0
    };
    (0..16)
        .find(|&i| t.entry(TlbSelect::Tlb1, i).is_some_and(|e| hit(TlbSelect::Tlb1, e)))
        .map(|i| (TlbSelect::Tlb1, i))
        .or_else(|| {
            let base = ((ea >> 12) as usize & 127) * 4;
            (base..base + 4).find(|&i| t.entry(TlbSelect::Tlb0, i).is_some_and(|e| hit(TlbSelect::Tlb0, e))).map(|i| (TlbSelect::Tlb0, i))
        })
}

#[test]
fn searches_agree_with_looking_at_every_entry() {
    let mut x: u64 = 0x5ea2_c4e5_0000_0007;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u32
    };
    let mut t = GuestTlb::new();
    let mut hits = 0;
    for _ in 0..20_000 {
        // Addresses and PIDs from small sets, so that entries overlap and match.
        let ea = (next() % 64) << 12 | (next() & 0xFFF);
        match next() % 8 {
            0..=3 => {
                let m = Mas {
                    mas0: next() & (mas::MAS0_TLBSEL | mas::MAS0_ESEL | mas::MAS0_NV),
                    mas1: next() & (mas::MAS1_V | mas::MAS1_IPROT | mas::MAS1_TS | mas::MAS1_TSIZE) | (next() % 3) << 16,
                    mas2: ea & mas::MAS2_EPN,
                    mas3: next(),
                    ..Mas::default()
                };
                t.write(&m);
            }
            4 => {
                t.invalidate_by_address(ea & !0xFFF | next() & 0xC);
            }
            5 => {
                t.flash_invalidate(next() & 1 != 0, next() & 1 != 0);
            }
            _ => {}
        }
        let (space, pids) = (next() & 1 != 0, [next() % 3, next() % 3, 0]);
        let found = match t.translate(ea, space, &pids, Access::Load, false) {
            Ok(tr) | Err(TranslateError::Denied(tr)) => Some((tr.tlb, usize::from(tr.index))),
            Err(TranslateError::Miss) => None,
        };
        assert_eq!(found, brute_force(&t, ea, space, &pids), "{ea:#x}");
        hits += u32::from(found.is_some());
    }
    assert!(hits > 2_000, "{hits}");
}
