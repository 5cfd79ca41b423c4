//! The shadow TLB: the real TLB entries a partition's code runs under.
//!
//! Design (see also docs/booke-emulation.md, "Shadow MMU"):
//! - The hypervisor's own translations live in TLB1 in address space 0 (TS=0) with
//!   IPROT; guests always run with MSR[IS]=MSR[DS]=1, so no hypervisor entry can ever
//!   match a guest access, and no invalidation a guest causes can remove one.
//! - Shadow entries live in TLB0 (4 KiB, 512 entries, 4-way) in address space 1. They are
//!   filled lazily: a real TLB miss in AS1 looks the address up in the guest's own TLB
//!   model ([`crate::guest_tlb`]); a hit whose guest-physical page lies in the partition's
//!   [`MemoryMap`] becomes a 4 KiB shadow entry (a large guest page is shadowed one 4 KiB
//!   piece at a time, on demand). TLB0 keeps the hot path to one `tlbwe`, and a flash
//!   invalidate of TLB0 (MMUCSR0) drops every shadow entry without touching TLB1.
//! - Pages outside the map are never shadowed: accesses to them keep missing, and the
//!   trap path turns them into emulated device accesses or faults.
//! - The guest kernel runs in problem state too, so its supervisor permissions are
//!   carried by the *user* permission bits. Its user mode is kept apart with the shadow
//!   PID: entries made while the guest is in (virtual) supervisor state carry TID
//!   [`pid::KERNEL`], those made in user state [`pid::USER`], and the real PID0 follows the
//!   virtual MSR[PR]. A system call then switches context with one `mtspr`, no flush.
//! - Changes of the guest's PIDs or address spaces (virtual IS/DS) flush all shadow
//!   entries; guest TLB writes drop only what they invalidate when that is known (4 KiB
//!   TLB0 pages, and the pages of TLB1 entries up to 64 KiB: [`tlb1_write_pages`]),
//!   everything otherwise (larger TLB1 entries, `tlbivax` of TLB1).
//! - Shadow entries are per core: each core's TLB0 holds only the entries of the partition
//!   running there. Every invalidation is local to the core (MMUCSR0 flash invalidate,
//!   `tlbsx` + `tlbwe`), never `tlbivax`, which e500v2 broadcasts to the other core.

use hv::memmap::{Kind, MemoryMap};

use crate::guest_tlb::{perm, tsize_bytes, Access, TlbEntry, Translation};
use crate::tlb::{mas2, mas3};

/// Shadow TIDs (real PID0 values while a guest runs).
pub mod pid {
    /// The guest is in virtual supervisor state.
    pub const KERNEL: u32 = 1;
    /// The guest is in virtual problem state.
    pub const USER: u32 = 2;
}

/// Shadow pages are 4 KiB (TLB0's only size).
pub const PAGE: u64 = 0x1000;

/// One TLB0 entry to install.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShadowEntry {
    /// Effective page (4 KiB aligned).
    pub epn: u32,
    /// Host-physical page (36-bit).
    pub rpn: u64,
    /// MAS2 WIMGE.
    pub wimge: u32,
    /// MAS3 permissions: only the user bits are ever set.
    pub perms: u32,
    /// [`pid::KERNEL`] or [`pid::USER`].
    pub tid: u32,
}

/// The host page backing guest-physical `gpa`'s 4 KiB page, and what backs it; `None` if
/// the page is not wholly inside one mapping of the partition.
pub fn host_page(map: &MemoryMap, gpa: u64) -> Option<(u64, Kind)> {
    let page = gpa & !(PAGE - 1);
    let m = map.find(page)?;
    let end = page.checked_add(PAGE)?;
    if end > m.guest.saturating_add(m.size) {
        return None;
    }
    Some((m.host + (page - m.guest), m.kind))
}

/// The shadow entry for guest address `ea`, which the guest's TLB translated as `t` for
/// `access`, or `None` when the page is not backed (a device or nothing: never mapped).
///
/// `problem_state` is the guest's virtual MSR[PR]. `split_spaces` is set when the guest
/// fetches and accesses data in different address spaces (virtual IS != DS): the entry
/// then grants only the kind of access it was made for, so a data translation is never
/// used for a fetch or the other way round.
pub fn entry(
    map: &MemoryMap,
    ea: u32,
    t: &Translation,
    access: Access,
    problem_state: bool,
    split_spaces: bool,
) -> Option<ShadowEntry> {
    let (rpn, kind) = host_page(map, t.pa)?;
    let g = t.perms;
    let has = |bit: u8| g & bit != 0;
    let (r, w, x) = if problem_state {
        (has(perm::UR), has(perm::UW), has(perm::UX))
    } else {
        (has(perm::SR), has(perm::SW), has(perm::SX))
    };
    // Shared memory and device registers are never executable (memmap::Kind).
    let x = x && kind == Kind::Ram && !(split_spaces && access != Access::Fetch);
    let data = !(split_spaces && access == Access::Fetch);
    let perms = (if r && data { mas3::UR } else { 0 })
        | (if w && data { mas3::UW } else { 0 })
        | (if x { mas3::UX } else { 0 });
    let attrs = u32::from(t.attrs) & (mas2::WRITE_THROUGH | mas2::CACHE_INHIBITED | mas2::COHERENT | mas2::GUARDED | mas2::LITTLE_ENDIAN);
    let wimge = match kind {
        Kind::Device => attrs | mas2::CACHE_INHIBITED | mas2::GUARDED,
        Kind::Ram | Kind::Shared => attrs,
    };
    Some(ShadowEntry {
        epn: ea & !(PAGE as u32 - 1),
        rpn,
        wimge,
        perms,
        tid: if problem_state { pid::USER } else { pid::KERNEL },
    })
}

/// Most 4 KiB pages one side of a TLB1 write may cover for [`tlb1_write_pages`] to drop
/// them one by one (64 KiB entries); a larger entry flushes TLB0 instead, as dropping
/// page by page (two `tlbsx` each) would cost more than refilling what the guest uses.
pub const TLB1_DROP_MAX_PAGES: u32 = 16;
/// The TSIZE of [`TLB1_DROP_MAX_PAGES`] pages (4^tsize KiB).
const TLB1_DROP_MAX_TSIZE: u32 = 3;
const _: () = assert!(tsize_bytes(TLB1_DROP_MAX_TSIZE) == TLB1_DROP_MAX_PAGES as u64 * PAGE);

/// A run of 4 KiB pages: the first page's effective address and how many.
pub type PageRun = (u32, u32);

/// The pages whose shadow entries a `tlbwe` of TLB1 that replaced `old` by `new` can
/// have made stale: every page either entry covers (only translations of addresses inside
/// the old or the new entry can change; its TID and TS do not matter, since the shadow
/// entries are dropped by address under both shadow TIDs). An invalid entry covers
/// nothing; the same run twice is given once. `None` when either entry is larger than
/// [`TLB1_DROP_MAX_PAGES`] pages: flush everything instead.
pub fn tlb1_write_pages(old: &TlbEntry, new: &TlbEntry) -> Option<[PageRun; 2]> {
    let run = |e: &TlbEntry| -> Option<PageRun> {
        if !e.valid() {
            return Some((0, 0));
        }
        // 4^tsize KiB, in 4 KiB pages: sizes below 4 KiB never match on e500, and
        // shadowing works in whole pages anyway. (In 32 bits: the limit is met first.)
        let tsize = e.tsize() & 0xF;
        if tsize > TLB1_DROP_MAX_TSIZE {
            return None;
        }
        let pages = 1u32 << (2 * tsize.max(1) - 2);
        Some((e.epn() & !((pages << 12) - 1), pages))
    };
    let old = run(old)?;
    let new = run(new)?;
    Some([old, if new == old { (0, 0) } else { new }])
}

/// The pages whose shadow entries a `tlbwe` of TLB0 that replaced `old` by `new` can have
/// made stale, as [`tlb1_write_pages`] (TLB0 entries are 4 KiB): the old entry's page and
/// the new one's, an invalid entry's none, the same page once (the bench's rewrite of an
/// entry drops one page, not the same one twice).
pub fn tlb0_write_pages(old: &TlbEntry, new: &TlbEntry) -> [PageRun; 2] {
    let run = |e: &TlbEntry| if e.valid() { (e.epn() & !(PAGE as u32 - 1), 1) } else { (0, 0) };
    let (old, new) = (run(old), run(new));
    [old, if new == old { (0, 0) } else { new }]
}

/// The real TLB0 shadow entries of the CPU a guest runs on.
#[cfg(target_arch = "powerpc")]
pub mod hw {
    use super::ShadowEntry;
    use crate::spr;
    use crate::tlb::mas1;

    /// TLB0 ways on e500v2 (TLB0CFG[ASSOC]).
    const TLB0_WAYS: u32 = 4;
    const MAS0_ESEL_SHIFT: u32 = 16;
    /// MAS1[TSIZE] for 4 KiB.
    const TSIZE_4K: u32 = 1;
    /// MMUCSR0[TLB0_FI]: flash invalidate TLB0 (self-clearing).
    const MMUCSR0_TLB0_FI: u32 = 1 << 2;

    /// MAS6: search PID (SPID0) and address space (SAS) for `tlbsx`.
    const MAS6_SPID_SHIFT: u32 = 16;
    const MAS6_SAS: u32 = 1;
    /// MAS0[TLBSEL]: the entry `tlbsx` found is in TLB1.
    const MAS0_TLBSEL1: u32 = 1 << 28;

    /// Invalidates the TLB0 entry of `page` with TID `tid` in address space 1 on this core,
    /// if there is one; returns whether there was.
    fn invalidate_one(page: u32, tid: u32) -> bool {
        // SAFETY: tlbsx only loads the MAS registers (the hypervisor's scratch for TLB
        // writes, never live across calls); the tlbwe rewrites the entry it found as
        // invalid, and only if it is a TLB0 entry (TLB0 holds nothing but shadow
        // entries; a TLB1 entry in address space 1, the idle stub's, is left alone).
        unsafe {
            spr::write::<{ spr::MAS6 }>(tid << MAS6_SPID_SHIFT | MAS6_SAS);
            core::arch::asm!("isync", "tlbsx 0, {0}", in(reg_nonzero) page, options(nostack, preserves_flags));
            let m1 = spr::read::<{ spr::MAS1 }>();
            if m1 & mas1::VALID == 0 || spr::read::<{ spr::MAS0 }>() & MAS0_TLBSEL1 != 0 {
                return false;
            }
            spr::write::<{ spr::MAS1 }>(m1 & !mas1::VALID);
            core::arch::asm!("isync", "tlbwe", "isync", options(nostack, preserves_flags));
        }
        true
    }

    /// Round-robin victim way for the next fill, and the real PID0 last written.
    #[derive(Debug, Default)]
    pub struct ShadowTlb {
        next_way: u32,
        /// PID0 as [`ShadowTlb::set_context`] left it; 0 (never a shadow TID): unknown.
        context: u32,
    }

    impl ShadowTlb {
        pub const fn new() -> Self {
            ShadowTlb { next_way: 0, context: 0 }
        }

        /// Installs `e` in TLB0 (address space 1).
        #[inline(never)]
        pub fn install(&mut self, e: &ShadowEntry) {
            let way = self.next_way;
            self.next_way = (way + 1) % TLB0_WAYS;
            // SAFETY: the entry is in address space 1 with TID KERNEL/USER and maps a
            // page of the partition's own memory map (shadow::entry), with user
            // permissions only: nothing the hypervisor relies on becomes reachable, and
            // the hypervisor itself (AS0) never uses it.
            unsafe {
                spr::write::<{ spr::MAS0 }>(way << MAS0_ESEL_SHIFT);
                spr::write::<{ spr::MAS1 }>(mas1::VALID | e.tid << mas1::TID_SHIFT | mas1::TS | TSIZE_4K << mas1::TSIZE_SHIFT);
                spr::write::<{ spr::MAS2 }>(e.epn | e.wimge);
                spr::write::<{ spr::MAS3 }>(e.rpn as u32 | e.perms);
                spr::write::<{ spr::MAS7 }>((e.rpn >> 32) as u32);
                core::arch::asm!("isync", "tlbwe", "isync", options(nostack, preserves_flags));
            }
        }

        /// Drops this core's shadow entries of the 4 KiB page at `ea` (both shadow TIDs).
        ///
        /// Local on purpose: `tlbivax` is broadcast to the other cores on e500v2 SoCs
        /// (E500CORERM 12.4.4; only one `tlbivax`/`tlbsync` may be in flight in the
        /// system) and matches by address alone, so it would drop another partition's
        /// shadow entries at the same address on the other core. (QEMU 7.2 invalidates
        /// only the issuing core's TLB for `tlbivax`, so it would not show.) Instead each
        /// entry is found with `tlbsx` in address space 1 under each shadow TID and
        /// rewritten invalid with `tlbwe`, as Linux's `_tlbil_va` does on e500v2: both only
        /// touch this core's TLB. The hypervisor runs with MSR[EE] = 0, so nothing
        /// interleaves with the MAS registers between the search and the write.
        pub fn invalidate_page(&mut self, ea: u32) {
            let page = ea & !(super::PAGE as u32 - 1);
            for tid in [super::pid::KERNEL, super::pid::USER] {
                // A page has at most one entry per TID (a refill replaces the entry it
                // found wanting); the bound only guards against surprises.
                for _ in 0..TLB0_WAYS {
                    if !invalidate_one(page, tid) {
                        break;
                    }
                }
            }
        }

        /// Drops every shadow entry of this core (TLB0 flash invalidate through MMUCSR0,
        /// which is local to the core; TLB1 is untouched).
        pub fn flush(&mut self) {
            // SAFETY: as in invalidate_page; the bit clears itself when done.
            unsafe {
                spr::write::<{ spr::MMUCSR0 }>(MMUCSR0_TLB0_FI);
                while spr::read::<{ spr::MMUCSR0 }>() & MMUCSR0_TLB0_FI != 0 {}
                core::arch::asm!("isync", options(nostack, preserves_flags));
            }
        }

        /// Selects the shadow context (real PID0) for the guest's virtual MSR[PR]; PID0 is
        /// only written when that changes (on every guest entry).
        #[inline]
        pub fn set_context(&mut self, problem_state: bool) {
            let pid = if problem_state { super::pid::USER } else { super::pid::KERNEL };
            if pid != self.context {
                self.context = pid;
                // SAFETY: PID0 only selects which TS=1 shadow entries match; the
                // hypervisor's own entries have TID 0 and match any PID.
                unsafe { spr::write::<{ spr::PID0 }>(pid) };
            }
        }

    }
}

#[cfg(test)]
mod tests;
