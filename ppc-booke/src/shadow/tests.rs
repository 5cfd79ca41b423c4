use super::*;
use crate::guest_tlb::TlbSelect;
use hv::config::{Device, MemoryRegion, Partition, Range};

fn map() -> MemoryMap {
    let mut p = Partition::new(0, "p");
    p.memory.push(MemoryRegion { host: Range::new(0x0200_0000, 0x0100_0000), guest_base: 0 }).unwrap();
    let mut d = Device { path: "/gpio".try_into().unwrap(), mmio: Default::default(), irqs: Default::default() };
    d.mmio.push(Range::new(0xf_e00f_f000, 0x1000)).unwrap();
    p.devices.push(d).unwrap();
    MemoryMap::of(&p, &[])
}

fn t(pa: u64, perms: u8) -> Translation {
    Translation { pa, page_size: 16 << 20, perms, attrs: 0x04, tlb: TlbSelect::Tlb1, index: 0 }
}

const KERNEL_RWX: u8 = perm::SR | perm::SW | perm::SX;

#[test]
fn guest_ram_is_shadowed_at_its_host_address_with_user_bits() {
    let e = entry(&map(), 0x0012_3456, &t(0x0012_3456, KERNEL_RWX), Access::Load, false, false).unwrap();
    assert_eq!(e.epn, 0x0012_3000);
    assert_eq!(e.rpn, 0x0212_3000);
    assert_eq!(e.perms, mas3::UR | mas3::UW | mas3::UX, "supervisor rights carried by user bits");
    assert_eq!(e.tid, pid::KERNEL);
    assert_eq!(e.wimge, 0x04);
}

#[test]
fn guest_user_mode_gets_only_the_guest_user_rights() {
    let m = map();
    let e = entry(&m, 0x1000, &t(0x1000, KERNEL_RWX), Access::Load, true, false).unwrap();
    assert_eq!(e.perms, 0, "kernel-only page: nothing for the guest's user mode");
    assert_eq!(e.tid, pid::USER);
    let e = entry(&m, 0x1000, &t(0x1000, KERNEL_RWX | perm::UR | perm::UX), Access::Load, true, false).unwrap();
    assert_eq!(e.perms, mas3::UR | mas3::UX);
}

#[test]
fn nothing_outside_the_map_is_ever_shadowed() {
    let m = map();
    for pa in [0x0100_0000, 0x0200_0000, 0xf_e004_0000, 0xf_e000_4500, u64::MAX & !0xfff] {
        assert_eq!(entry(&m, 0, &t(pa, KERNEL_RWX), Access::Store, false, false), None, "{pa:#x}");
    }
    assert_eq!(host_page(&m, 0x00ff_ffff).map(|h| h.0), Some(0x02ff_f000), "last page");
}

#[test]
fn devices_are_inhibited_guarded_and_never_executable() {
    let e = entry(&map(), 0xe00f_f000, &t(0xf_e00f_f008, KERNEL_RWX), Access::Store, false, false).unwrap();
    assert_eq!(e.rpn, 0xf_e00f_f000);
    assert_eq!(e.perms, mas3::UR | mas3::UW);
    assert_eq!(e.wimge & (mas2::CACHE_INHIBITED | mas2::GUARDED), mas2::CACHE_INHIBITED | mas2::GUARDED);
}

#[test]
fn split_address_spaces_give_access_specific_entries() {
    let m = map();
    let fetch = entry(&m, 0x2000, &t(0x2000, KERNEL_RWX), Access::Fetch, false, true).unwrap();
    assert_eq!(fetch.perms, mas3::UX);
    let data = entry(&m, 0x2000, &t(0x2000, KERNEL_RWX), Access::Store, false, true).unwrap();
    assert_eq!(data.perms, mas3::UR | mas3::UW);
}

fn tlb1(valid: bool, tsize: u32, epn: u32) -> TlbEntry {
    let v = if valid { crate::guest_tlb::mas::MAS1_V } else { 0 };
    TlbEntry { mas1: v | tsize << 8, mas2: epn, ..TlbEntry::default() }
}

#[test]
fn tlb1_write_drops_the_pages_of_small_old_and_new_entries() {
    // The bench's case: a 4 KiB entry rewritten with itself drops its page once.
    let scratch = tlb1(true, 1, 0x7000_0000);
    assert_eq!(tlb1_write_pages(&scratch, &scratch), Some([(0x7000_0000, 1), (0, 0)]));
    // An empty slot gets a 16 KiB entry (EPN bits below the page size are ignored).
    assert_eq!(tlb1_write_pages(&TlbEntry::default(), &tlb1(true, 2, 0x1234_5000)), Some([(0, 0), (0x1234_4000, 4)]));
    // A 64 KiB entry moved: both ranges.
    assert_eq!(
        tlb1_write_pages(&tlb1(true, 3, 0x0001_0000), &tlb1(true, 3, 0x0004_0000)),
        Some([(0x0001_0000, 16), (0x0004_0000, 16)])
    );
    // Invalidating an entry drops its pages; an invalid old entry covers nothing.
    assert_eq!(tlb1_write_pages(&tlb1(true, 1, 0x5000), &tlb1(false, 1, 0x5000)), Some([(0x5000, 1), (0, 0)]));
    // A sub-page size (never matches on e500) still counts as its 4 KiB page.
    assert_eq!(tlb1_write_pages(&tlb1(true, 0, 0x6400), &TlbEntry::default()), Some([(0x6000, 1), (0, 0)]));
}

#[test]
fn tlb1_write_of_a_large_entry_flushes() {
    let small = tlb1(true, 1, 0x7000_0000);
    let ram = tlb1(true, 7, 0); // 16 MiB
    assert_eq!(tlb1_write_pages(&small, &ram), None);
    assert_eq!(tlb1_write_pages(&ram, &small), None);
    assert_eq!(tlb1_write_pages(&tlb1(true, 4, 0), &TlbEntry::default()), None, "256 KiB is over the limit");
    // A large entry that is not valid covers nothing.
    assert_eq!(tlb1_write_pages(&tlb1(false, 7, 0), &small), Some([(0, 0), (0x7000_0000, 1)]));
}

#[test]
fn tlb0_write_drops_the_old_and_the_new_page_once() {
    let (p, q) = (tlb1(true, 1, 0x7100_0000), tlb1(true, 1, 0x7100_1000));
    // The bench's case: an entry rewritten with itself drops its page once.
    assert_eq!(tlb0_write_pages(&p, &p), [(0x7100_0000, 1), (0, 0)]);
    // A new page for the slot: both.
    assert_eq!(tlb0_write_pages(&p, &q), [(0x7100_0000, 1), (0x7100_1000, 1)]);
    // Filling an empty slot, emptying one: only the valid side; two invalid ones: nothing.
    assert_eq!(tlb0_write_pages(&TlbEntry::default(), &q), [(0, 0), (0x7100_1000, 1)]);
    assert_eq!(tlb0_write_pages(&p, &tlb1(false, 1, 0x7100_1000)), [(0x7100_0000, 1), (0, 0)]);
    assert_eq!(tlb0_write_pages(&tlb1(false, 1, 0x5000), &TlbEntry::default()), [(0, 0), (0, 0)]);
}

#[test]
fn tlb0_writes_drop_every_page_either_entry_maps() {
    // On random old/new pairs from a few pages: every page a valid side maps is dropped,
    // nothing else is, and no page twice.
    let mut x = 0x2545_f491u32;
    for _ in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let entry = |bits: u32| tlb1(bits & 1 != 0, 1, (bits >> 1 & 3) << 12 | (bits >> 3 & 0xFFF));
        let (old, new) = (entry(x), entry(x >> 16));
        let runs = tlb0_write_pages(&old, &new);
        let dropped: std::vec::Vec<u32> = runs.iter().filter(|r| r.1 != 0).map(|r| r.0).collect();
        let mut want: std::vec::Vec<u32> = [old, new].iter().filter(|e| e.valid()).map(|e| e.epn() & !0xFFF).collect();
        want.dedup();
        assert!(runs.iter().all(|r| r.1 <= 1));
        assert_eq!(dropped, want, "{old:?} -> {new:?}");
    }
}

#[test]
fn tlb0_writes_drop_every_page_whose_translation_changed() {
    // Random TLB0 and small TLB1 entries over 16 pages, then random TLB0 writes: any page
    // whose translation (either address space, any PID, either privilege) the write
    // changed is among the pages `drop_shadows` is given.
    use crate::guest_tlb::{mas, Access, GuestTlb, Mas, TlbEvent};
    let mut x = 0x9e37_79b9u32;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let base = 0x1000_0000u32;
    let mut tlb = GuestTlb::new();
    let random_mas = |tlb1: bool, next: &mut dyn FnMut() -> u32| {
        let r = next();
        let tsize = if tlb1 { 1 + (r >> 8) % 3 } else { 1 };
        let valid = if r & 7 != 0 { mas::MAS1_V } else { 0 };
        Mas {
            mas0: (u32::from(tlb1) * mas::MAS0_TLBSEL) | (r >> 4 & 0xF) << mas::MAS0_ESEL_SHIFT,
            mas1: valid | (r >> 12 & 1) << mas::MAS1_TID_SHIFT | (r >> 13 & 1) << 12 | tsize << mas::MAS1_TSIZE_SHIFT,
            mas2: base + ((r >> 16) & 0xF) * 0x1000,
            mas3: (r >> 20 & 0xFF) << 12 | (r >> 24 & 0x3F),
            ..Mas::default()
        }
    };
    for _ in 0..8 {
        tlb.write(&random_mas(true, &mut next));
    }
    for _ in 0..64 {
        tlb.write(&random_mas(false, &mut next));
    }
    let translations = |tlb: &GuestTlb| {
        let mut all = std::vec::Vec::new();
        for page in 0..16 {
            for space in [false, true] {
                for pids in [[0, 0, 0], [1, 0, 0]] {
                    for problem_state in [false, true] {
                        all.push((page, tlb.translate(base + page * 0x1000 + 0x10, space, &pids, Access::Load, problem_state)));
                    }
                }
            }
        }
        all
    };
    // The writes must exercise both sides: changes only the new entry's page explains.
    let mut new_side = 0;
    for _ in 0..5_000 {
        let before = translations(&tlb);
        let Some(TlbEvent::Written { tlb: sel, index }) = tlb.write(&random_mas(false, &mut next)) else { continue };
        let new = *tlb.entry(sel, usize::from(index)).unwrap();
        let runs = tlb0_write_pages(&tlb.replaced(), &new);
        for ((page, was), (_, now)) in before.iter().zip(translations(&tlb)) {
            if *was != now {
                let ea = base + page * 0x1000;
                assert!(runs.iter().any(|&(first, n)| ea.wrapping_sub(first) < n << 12), "page {ea:#x}: {was:?} -> {now:?}, dropped {runs:?}");
                new_side += usize::from(runs[0] != (ea, 1));
            }
        }
    }
    assert!(new_side > 100, "{new_side}");
}
