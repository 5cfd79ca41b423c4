//! The guest's architectural e500 TLBs, as data: TLB0 (set-associative, 4 KiB pages,
//! round-robin victim) and TLB1 (fully associative, variable page size, IPROT), written
//! and read through the MAS registers exactly as E500CORERM chapter 12 describes.
//!
//! Nothing here touches the real MMU. Operations that change entries return a
//! [`TlbEvent`] saying which guest entries changed, so the shadow TLB can drop what it
//! derived from them; [`GuestTlb::translate`] is the lookup the shadow MMU fills from.

/// The MMU assist registers (the guest's copies).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mas {
    pub mas0: u32,
    pub mas1: u32,
    pub mas2: u32,
    pub mas3: u32,
    pub mas4: u32,
    pub mas6: u32,
    pub mas7: u32,
}

/// MAS field layouts (E500CORERM 12.7.1), 32-bit numbering.
pub mod mas {
    /// MAS0: TLBSEL (bit 3; bit 2 is reserved on e500), ESEL (bits 12-15), NV (bits 30-31).
    pub const MAS0_TLBSEL: u32 = 1 << 28;
    pub const MAS0_ESEL_SHIFT: u32 = 16;
    pub const MAS0_ESEL: u32 = 0xF << MAS0_ESEL_SHIFT;
    pub const MAS0_NV: u32 = 0x3;
    pub const MAS0_WRITABLE: u32 = MAS0_TLBSEL | MAS0_ESEL | MAS0_NV;
    /// MAS1: V, IPROT, TID (bits 8-15), TS (bit 19), TSIZE (bits 20-23).
    pub const MAS1_V: u32 = 1 << 31;
    pub const MAS1_IPROT: u32 = 1 << 30;
    pub const MAS1_TID_SHIFT: u32 = 16;
    pub const MAS1_TID: u32 = 0xFF << MAS1_TID_SHIFT;
    pub const MAS1_TS: u32 = 1 << 12;
    pub const MAS1_TSIZE_SHIFT: u32 = 8;
    pub const MAS1_TSIZE: u32 = 0xF << MAS1_TSIZE_SHIFT;
    pub const MAS1_WRITABLE: u32 = MAS1_V | MAS1_IPROT | MAS1_TID | MAS1_TS | MAS1_TSIZE;
    /// MAS2: EPN (bits 0-19), X0 X1 W I M G E (bits 25-31).
    pub const MAS2_EPN: u32 = 0xFFFF_F000;
    pub const MAS2_ATTRS: u32 = 0x7F;
    pub const MAS2_WRITABLE: u32 = MAS2_EPN | MAS2_ATTRS;
    /// MAS3: RPN (bits 0-19), U0-U3 (bits 22-25), UX SX UW SW UR SR (bits 26-31).
    pub const MAS3_RPN: u32 = 0xFFFF_F000;
    pub const MAS3_USER_SHIFT: u32 = 6;
    pub const MAS3_USER: u32 = 0xF << MAS3_USER_SHIFT;
    pub const MAS3_PERMS: u32 = 0x3F;
    pub const MAS3_WRITABLE: u32 = MAS3_RPN | MAS3_USER | MAS3_PERMS;
    /// MAS4: TLBSELD (bit 3 used), TIDSELD (bits 14-15), TSIZED (bits 20-23), X0D..ED.
    pub const MAS4_TLBSELD: u32 = 1 << 28;
    pub const MAS4_TIDSELD_SHIFT: u32 = 16;
    pub const MAS4_TIDSELD: u32 = 0x3 << MAS4_TIDSELD_SHIFT;
    pub const MAS4_TSIZED: u32 = 0xF << 8;
    pub const MAS4_ATTRS: u32 = 0x7F;
    pub const MAS4_WRITABLE: u32 = MAS4_TLBSELD | MAS4_TIDSELD | MAS4_TSIZED | MAS4_ATTRS;
    /// MAS6: SPID0 (bits 8-15), SAS (bit 31).
    pub const MAS6_SPID_SHIFT: u32 = 16;
    pub const MAS6_SPID: u32 = 0xFF << MAS6_SPID_SHIFT;
    pub const MAS6_SAS: u32 = 1;
    pub const MAS6_WRITABLE: u32 = MAS6_SPID | MAS6_SAS;
    /// MAS7: RPN bits 0-3 of the 36-bit real address.
    pub const MAS7_RPN: u32 = 0xF;
}

/// Page permission bits, as in MAS3.
pub mod perm {
    pub const UX: u8 = 0x20;
    pub const SX: u8 = 0x10;
    pub const UW: u8 = 0x08;
    pub const SW: u8 = 0x04;
    pub const UR: u8 = 0x02;
    pub const SR: u8 = 0x01;
}

/// Which TLB array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlbSelect {
    Tlb0,
    Tlb1,
}

/// One guest TLB entry, as the MAS1, MAS2, MAS3 and MAS7 words that wrote it (masked to
/// the fields an entry keeps, E500CORERM 12.7.1): tlbwe and tlbre are copies, and an
/// entry is four words to move.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlbEntry {
    /// V, IPROT, TID, TS, TSIZE.
    pub mas1: u32,
    /// EPN and WIMGE (with X0, X1).
    pub mas2: u32,
    /// RPN (low), U0-U3, permissions.
    pub mas3: u32,
    /// RPN bits 32-35.
    pub mas7: u32,
}

impl TlbEntry {
    /// The entry MAS1, MAS2, MAS3 and MAS7 describe.
    pub fn from_mas(m: &Mas) -> Self {
        TlbEntry {
            mas1: m.mas1 & (mas::MAS1_V | mas::MAS1_IPROT | mas::MAS1_TID | mas::MAS1_TS | mas::MAS1_TSIZE),
            mas2: m.mas2 & (mas::MAS2_EPN | mas::MAS2_ATTRS),
            mas3: m.mas3 & (mas::MAS3_RPN | mas::MAS3_USER | mas::MAS3_PERMS),
            mas7: m.mas7 & mas::MAS7_RPN,
        }
    }

    /// Writes this entry into MAS1, MAS2, MAS3 and (if `with_mas7`) MAS7.
    pub fn to_mas(&self, m: &mut Mas, with_mas7: bool) {
        m.mas1 = self.mas1;
        m.mas2 = self.mas2;
        m.mas3 = self.mas3;
        if with_mas7 {
            m.mas7 = self.mas7;
        }
    }

    pub fn valid(&self) -> bool {
        self.mas1 & mas::MAS1_V != 0
    }

    /// Invalidation protection (TLB1 only).
    pub fn iprot(&self) -> bool {
        self.mas1 & mas::MAS1_IPROT != 0
    }

    /// Translation ID: 0 matches every PID.
    pub fn tid(&self) -> u32 {
        (self.mas1 & mas::MAS1_TID) >> mas::MAS1_TID_SHIFT
    }

    /// Translation space, compared with MSR[IS]/MSR[DS].
    pub fn ts(&self) -> bool {
        self.mas1 & mas::MAS1_TS != 0
    }

    /// Page size code: 4^tsize KiB (1 = 4 KiB ... 0xB = 4 GiB).
    pub fn tsize(&self) -> u32 {
        (self.mas1 & mas::MAS1_TSIZE) >> mas::MAS1_TSIZE_SHIFT
    }

    /// Effective page address (4 KiB granular, as written).
    pub fn epn(&self) -> u32 {
        self.mas2 & mas::MAS2_EPN
    }

    /// Real page address, 36 bits (MAS7 || MAS3[RPN]).
    pub fn rpn(&self) -> u64 {
        (u64::from(self.mas7) << 32) | u64::from(self.mas3 & mas::MAS3_RPN)
    }

    /// X0 X1 W I M G E.
    pub fn attrs(&self) -> u8 {
        (self.mas2 & mas::MAS2_ATTRS) as u8
    }

    /// U0-U3.
    pub fn user(&self) -> u8 {
        ((self.mas3 & mas::MAS3_USER) >> mas::MAS3_USER_SHIFT) as u8
    }

    /// UX SX UW SW UR SR.
    pub fn perms(&self) -> u8 {
        (self.mas3 & mas::MAS3_PERMS) as u8
    }
}

/// Page size in bytes for a TSIZE code: 4^tsize KiB.
pub const fn tsize_bytes(tsize: u32) -> u64 {
    1u64 << (10 + 2 * (tsize & 0xF))
}

/// What changed in the guest TLB; the shadow TLB drops whatever it derived from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlbEvent {
    /// `tlbwe` replaced entry `index` (TLB0: set * ways + way); [`GuestTlb::replaced`]
    /// is what it held (kept there so that the event stays a word to pass around).
    Written { tlb: TlbSelect, index: u16 },
    /// `tlbivax` invalidated entries `base + i` for every bit `i` set in `mask`.
    Invalidated { tlb: TlbSelect, base: u16, mask: u16 },
    /// Every entry without IPROT was invalidated in the selected TLBs (tlbivax with
    /// INV_ALL, or MMUCSR0 flash invalidate).
    Flushed { tlb0: bool, tlb1: bool },
}

/// Kind of access for [`GuestTlb::translate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Load,
    Store,
    Fetch,
}

/// A successful (or permission-denied) lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// 36-bit real address.
    pub pa: u64,
    pub page_size: u64,
    pub perms: u8,
    pub attrs: u8,
    pub tlb: TlbSelect,
    pub index: u16,
}

/// Why a lookup failed: no entry (TLB error interrupt) or no permission (DSI/ISI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TranslateError {
    Miss,
    Denied(Translation),
}

/// The e500v2's geometry (TLB0CFG/TLB1CFG of [`crate::vcpu::CpuModel::E500V2`], checked
/// below): TLB0 512 entries, 4-way, 4 KiB pages; TLB1 16 entries, fully associative,
/// 4 KiB (TSIZE 1) to 4 GiB (TSIZE 0xB).
pub const TLB0_WAYS: usize = 4;
pub const TLB0_SETS: usize = 128;
pub const TLB0_CAPACITY: usize = TLB0_WAYS * TLB0_SETS;
pub const TLB1_CAPACITY: usize = 16;
const TLB1_MIN_TSIZE: u32 = 1;
const TLB1_MAX_TSIZE: u32 = 0xB;

const _: () = {
    let m = crate::vcpu::CpuModel::E500V2;
    // TLBnCFG: ASSOC bits 0-7, MINSIZE 8-11, MAXSIZE 12-15, NENTRY 20-31.
    assert!((m.tlb0cfg >> 24) as usize == TLB0_WAYS && (m.tlb0cfg & 0xFFF) as usize == TLB0_CAPACITY);
    assert!((m.tlb1cfg & 0xFFF) as usize == TLB1_CAPACITY && (m.tlb1cfg >> 20) & 0xF == TLB1_MIN_TSIZE);
    // MAXSIZE: the manual's 4 GiB, the most a 32-bit EA can use (QEMU says 0xC).
    assert!((m.tlb1cfg >> 16) & 0xF >= TLB1_MAX_TSIZE);
};

/// tlbivax's EA bits 28 (TLB1, not TLB0) and 29 (INV_ALL).
pub const IVAX_TLB1: u32 = 0x8;
pub const IVAX_ALL: u32 = 0x4;

/// The guest's TLB0 and TLB1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestTlb {
    tlb0: [TlbEntry; TLB0_CAPACITY],
    tlb1: [TlbEntry; TLB1_CAPACITY],
    /// TLB0[NV]: the hardware's round-robin victim, loaded from MAS0[NV] by tlbwe.
    tlb0_nv: u32,
    /// The entry the last `tlbwe` replaced.
    replaced: TlbEntry,
    /// Bit i: TLB1 entry i is valid (a search only looks at those).
    tlb1_live: u16,
}

impl Default for GuestTlb {
    fn default() -> Self {
        Self::new()
    }
}

impl GuestTlb {
    /// An empty TLB.
    pub fn new() -> Self {
        let none = TlbEntry { mas1: 0, mas2: 0, mas3: 0, mas7: 0 };
        GuestTlb { tlb0: [none; TLB0_CAPACITY], tlb1: [none; TLB1_CAPACITY], tlb0_nv: 0, replaced: none, tlb1_live: 0 }
    }

    /// What the entry the last [`GuestTlb::write`] wrote held before.
    pub fn replaced(&self) -> TlbEntry {
        self.replaced
    }

    /// Recomputes [`GuestTlb::tlb1_live`] after TLB1 entries changed.
    fn tlb1_changed(&mut self) {
        self.tlb1_live = self.tlb1.iter().enumerate().fold(0, |m, (i, e)| m | u16::from(e.valid()) << i);
    }

    /// The entry at `index` of `tlb`, if it exists.
    #[inline(never)]
    pub fn entry(&self, tlb: TlbSelect, index: usize) -> Option<&TlbEntry> {
        match tlb {
            TlbSelect::Tlb0 => self.tlb0.get(index),
            TlbSelect::Tlb1 => self.tlb1.get(index),
        }
    }

    /// TLB0[NV], the next round-robin victim way.
    pub fn tlb0_victim(&self) -> u32 {
        self.tlb0_nv
    }

    fn tlb0_set_of(&self, ea: u32) -> usize {
        (ea >> 12) as usize & (TLB0_SETS - 1)
    }

    /// Resolves MAS0[TLBSEL,ESEL] (and MAS2[EPN] for TLB0) to an array index.
    fn select(&self, m: &Mas) -> (TlbSelect, Option<usize>) {
        let esel = ((m.mas0 & mas::MAS0_ESEL) >> mas::MAS0_ESEL_SHIFT) as usize;
        if m.mas0 & mas::MAS0_TLBSEL == 0 {
            let way = esel & (TLB0_WAYS - 1);
            let index = self.tlb0_set_of(m.mas2) * TLB0_WAYS + way;
            (TlbSelect::Tlb0, Some(index))
        } else {
            (TlbSelect::Tlb1, (esel < TLB1_CAPACITY).then_some(esel))
        }
    }

    fn slot_mut(&mut self, tlb: TlbSelect, index: usize) -> Option<&mut TlbEntry> {
        match tlb {
            TlbSelect::Tlb0 => self.tlb0.get_mut(index),
            TlbSelect::Tlb1 => self.tlb1.get_mut(index),
        }
    }

    /// log2 of the page size of an entry in `tlb`; `None` for a TLB1 size the core does
    /// not support (such an entry never matches, so the shadow MMU never maps it).
    #[inline]
    fn page_shift(tlb: TlbSelect, entry: &TlbEntry) -> Option<u32> {
        let tsize = entry.tsize();
        match tlb {
            TlbSelect::Tlb0 => Some(12),
            TlbSelect::Tlb1 if (TLB1_MIN_TSIZE..=TLB1_MAX_TSIZE).contains(&tsize) => Some(10 + 2 * tsize),
            TlbSelect::Tlb1 => None,
        }
    }

    /// Whether a valid entry maps `ea` (EA bits 32-51 against its page): log2 of the page
    /// size if it does.
    #[inline]
    fn covers(tlb: TlbSelect, entry: &TlbEntry, ea: u32) -> Option<u32> {
        if !entry.valid() {
            return None;
        }
        let shift = Self::page_shift(tlb, entry)?;
        (u64::from(ea ^ entry.epn()) >> shift == 0).then_some(shift)
    }

    /// tlbwe: writes MAS1/2/3/7 into the entry MAS0 (and MAS2[EPN] for TLB0) selects.
    /// TLB0 entries are always 4 KiB and never protected (TSIZE reads back as 1, IPROT
    /// as 0), and TLB0[NV] is loaded from MAS0[NV] (E500CORERM 12.3.2.2).
    pub fn write(&mut self, m: &Mas) -> Option<TlbEvent> {
        let (tlb, index) = self.select(m);
        let mut new = TlbEntry::from_mas(m);
        if tlb == TlbSelect::Tlb0 {
            new.mas1 = (new.mas1 & !(mas::MAS1_TSIZE | mas::MAS1_IPROT)) | 1 << mas::MAS1_TSIZE_SHIFT;
            self.tlb0_nv = m.mas0 & mas::MAS0_NV & (TLB0_WAYS as u32 - 1);
        }
        let index = index?;
        let slot = self.slot_mut(tlb, index)?;
        self.replaced = core::mem::replace(slot, new);
        if tlb == TlbSelect::Tlb1 {
            self.tlb1_live = (self.tlb1_live & !(1 << index)) | u16::from(new.valid()) << index;
        }
        Some(TlbEvent::Written { tlb, index: index as u16 })
    }

    /// tlbre: reads the selected entry into MAS1/2/3 (and MAS7 if `with_mas7`, i.e.
    /// HID0[EN_MAS7_UPDATE]); MAS0[NV] gets TLB0[NV] for TLB0 reads.
    #[inline(never)]
    pub fn read(&self, m: &mut Mas, with_mas7: bool) {
        let (tlb, index) = self.select(m);
        let entry = index.and_then(|i| self.entry(tlb, i)).copied().unwrap_or_default();
        entry.to_mas(m, with_mas7);
        if tlb == TlbSelect::Tlb0 {
            m.mas0 = (m.mas0 & !mas::MAS0_NV) | self.tlb0_nv;
        }
    }

    /// Finds the entry translating `ea` in address space `space` for any of `pids`
    /// (TID 0 matches all). TLB1 is searched first; a multi-hit is a programming error
    /// the e500 does not define, and the first match wins.
    fn find(&self, ea: u32, space: bool, pids: &[u32]) -> Option<(TlbSelect, usize, u32)> {
        let matches = |e: &TlbEntry| {
            let tid = e.tid();
            e.ts() == space && (tid == 0 || pids.iter().any(|&p| p & 0xFF == tid))
        };
        // The valid TLB1 entries, in index order.
        let mut live = self.tlb1_live;
        while live != 0 {
            let i = live.trailing_zeros() as usize;
            live &= live - 1;
            let e = self.tlb1.get(i)?;
            if let Some(shift) = Self::covers(TlbSelect::Tlb1, e, ea).filter(|_| matches(e)) {
                return Some((TlbSelect::Tlb1, i, shift));
            }
        }
        let base = self.tlb0_set_of(ea) * TLB0_WAYS;
        for (i, e) in self.tlb0.get(base..base + TLB0_WAYS)?.iter().enumerate() {
            if let Some(shift) = Self::covers(TlbSelect::Tlb0, e, ea).filter(|_| matches(e)) {
                return Some((TlbSelect::Tlb0, base + i, shift));
            }
        }
        None
    }

    /// tlbsx: searches both TLBs for `ea` with MAS6[SPID0] and MAS6[SAS].
    /// Hit: MAS0 names the entry, MAS1-3 (and MAS7) hold it, MAS1[V]=1.
    /// Miss: MAS0/1/2/3 get the MAS4 defaults with MAS1[V]=0, TID=SPID0, TS=SAS
    /// (E500CORERM 12.4.3 and table 12-15).
    #[inline(never)]
    pub fn search(&self, ea: u32, m: &mut Mas, with_mas7: bool) {
        let pid = (m.mas6 & mas::MAS6_SPID) >> mas::MAS6_SPID_SHIFT;
        let space = m.mas6 & mas::MAS6_SAS != 0;
        match self.find(ea, space, &[pid]) {
            Some((tlb, index, _)) => {
                let (tlbsel, esel) = match tlb {
                    TlbSelect::Tlb0 => (0, index % TLB0_WAYS),
                    TlbSelect::Tlb1 => (mas::MAS0_TLBSEL, index),
                };
                m.mas0 = tlbsel | ((esel as u32) << mas::MAS0_ESEL_SHIFT) | self.tlb0_nv;
                if let Some(e) = self.entry(tlb, index) {
                    e.to_mas(m, with_mas7);
                }
            }
            None => self.load_defaults(m, ea, pid, space, false, with_mas7),
        }
    }

    /// MAS updates of a data or instruction TLB error (E500CORERM table 12-15): MAS4
    /// defaults with MAS1[V]=1, TID from PIDn per MAS4[TIDSELD] (3 = TID 0), TS = the
    /// access's address space, and MAS6 set to (PID0, space) for a follow-up tlbsx.
    pub fn load_miss(&self, m: &mut Mas, ea: u32, space: bool, pids: &[u32; 3], with_mas7: bool) {
        let tid = match (m.mas4 & mas::MAS4_TIDSELD) >> mas::MAS4_TIDSELD_SHIFT {
            0 => pids[0],
            1 => pids[1],
            2 => pids[2],
            _ => 0,
        } & 0xFF;
        self.load_defaults(m, ea, tid, space, true, with_mas7);
        m.mas6 = ((pids[0] & 0xFF) << mas::MAS6_SPID_SHIFT) | u32::from(space);
    }

    /// Shared tail of a tlbsx miss and a TLB error. When MAS4[TLBSELD] names TLB0 the
    /// victim way is TLB0[NV] and MAS0[NV] the next one; for TLB1, ESEL is left as it was.
    fn load_defaults(&self, m: &mut Mas, ea: u32, tid: u32, space: bool, valid: bool, with_mas7: bool) {
        if m.mas4 & mas::MAS4_TLBSELD == 0 {
            let ways = TLB0_WAYS as u32;
            let next = (self.tlb0_nv + 1) % ways;
            m.mas0 = (self.tlb0_nv << mas::MAS0_ESEL_SHIFT) | next;
        } else {
            m.mas0 = mas::MAS0_TLBSEL | (m.mas0 & (mas::MAS0_ESEL | mas::MAS0_NV));
        }
        m.mas1 = (if valid { mas::MAS1_V } else { 0 })
            | (tid << mas::MAS1_TID_SHIFT)
            | (if space { mas::MAS1_TS } else { 0 })
            | (m.mas4 & mas::MAS4_TSIZED);
        m.mas2 = (ea & mas::MAS2_EPN) | (m.mas4 & mas::MAS4_ATTRS);
        m.mas3 = 0;
        if with_mas7 {
            m.mas7 = 0;
        }
    }

    /// tlbivax: EA bit 28 (64-bit bit 60) selects TLB1, bit 29 (61) is INV_ALL. Without
    /// INV_ALL every entry mapping the EA's page is invalidated whatever its TID and TS
    /// (E500CORERM 12.4.4). IPROT entries survive both forms.
    pub fn invalidate_by_address(&mut self, ea: u32) -> Option<TlbEvent> {
        let tlb = if ea & IVAX_TLB1 != 0 { TlbSelect::Tlb1 } else { TlbSelect::Tlb0 };
        if ea & IVAX_ALL != 0 {
            return self.flash_invalidate(tlb == TlbSelect::Tlb0, tlb == TlbSelect::Tlb1);
        }
        let base = match tlb {
            TlbSelect::Tlb0 => self.tlb0_set_of(ea) * TLB0_WAYS,
            TlbSelect::Tlb1 => 0,
        };
        let entries = match tlb {
            TlbSelect::Tlb0 => &mut self.tlb0[base..base + TLB0_WAYS],
            TlbSelect::Tlb1 => &mut self.tlb1[..],
        };
        let mut mask = 0u16;
        for (i, e) in entries.iter_mut().enumerate() {
            if !e.iprot() && Self::covers(tlb, e, ea).is_some() {
                e.mas1 &= !mas::MAS1_V;
                mask |= 1 << i;
            }
        }
        if tlb == TlbSelect::Tlb1 {
            self.tlb1_live &= !mask;
        }
        (mask != 0).then_some(TlbEvent::Invalidated { tlb, base: base as u16, mask })
    }

    /// Whether a valid TLB0 entry (IPROT or not) maps `ea`'s 4 KiB page: if none does,
    /// a tlbivax of it without INV_ALL invalidates nothing (the Program vector's test).
    pub fn tlb0_maps_page(&self, ea: u32) -> bool {
        let base = self.tlb0_set_of(ea) * TLB0_WAYS;
        self.tlb0[base..base + TLB0_WAYS].iter().any(|e| e.valid() && (e.epn() ^ ea) & mas::MAS2_EPN == 0)
    }

    /// Flash invalidation (MMUCSR0[TLB0_FI/TLB1_FI], tlbivax INV_ALL): every entry of
    /// the selected TLBs without IPROT.
    pub fn flash_invalidate(&mut self, tlb0: bool, tlb1: bool) -> Option<TlbEvent> {
        if !tlb0 && !tlb1 {
            return None;
        }
        let t0 = self.tlb0.iter_mut().take(if tlb0 { TLB0_CAPACITY } else { 0 });
        let t1 = self.tlb1.iter_mut().take(if tlb1 { TLB1_CAPACITY } else { 0 });
        for e in t0.chain(t1).filter(|e| !e.iprot()) {
            e.mas1 &= !mas::MAS1_V;
        }
        self.tlb1_changed();
        Some(TlbEvent::Flushed { tlb0, tlb1 })
    }

    /// Translates `ea` for an access in address space `space` (MSR[IS] for fetches,
    /// MSR[DS] for data) under PID0-2, checking the user or supervisor permission.
    pub fn translate(
        &self,
        ea: u32,
        space: bool,
        pids: &[u32; 3],
        access: Access,
        problem_state: bool,
    ) -> Result<Translation, TranslateError> {
        let (tlb, index, shift) = self.find(ea, space, pids).ok_or(TranslateError::Miss)?;
        let entry = self.entry(tlb, index).ok_or(TranslateError::Miss)?;
        let size = 1u64 << shift;
        let offset = u64::from(ea) & (size - 1);
        let perms = entry.perms();
        let t = Translation {
            pa: (entry.rpn() & !(size - 1)) | offset,
            page_size: size,
            perms,
            attrs: entry.attrs(),
            tlb,
            index: index as u16,
        };
        let needed = match (access, problem_state) {
            (Access::Load, true) => perm::UR,
            (Access::Load, false) => perm::SR,
            (Access::Store, true) => perm::UW,
            (Access::Store, false) => perm::SW,
            (Access::Fetch, true) => perm::UX,
            (Access::Fetch, false) => perm::SX,
        };
        if perms & needed != 0 { Ok(t) } else { Err(TranslateError::Denied(t)) }
    }
}

/// Where the Program vector's `tlbre` and `tlbsx` (`trap/program.rs`) find the guest TLB's parts:
/// byte offsets in a [`GuestTlb`] and a [`TlbEntry`] (16 bytes: an index is a shift).
// Used by the PowerPC assembly only.
#[cfg_attr(not(target_arch = "powerpc"), allow(dead_code))]
pub(crate) mod layout {
    use super::{GuestTlb, TlbEntry};
    use core::mem::{offset_of, size_of};

    pub const TLB0: usize = offset_of!(GuestTlb, tlb0);
    pub const TLB1: usize = offset_of!(GuestTlb, tlb1);
    pub const TLB0_NV: usize = offset_of!(GuestTlb, tlb0_nv);
    pub const TLB1_LIVE: usize = offset_of!(GuestTlb, tlb1_live);
    pub const MAS1: usize = offset_of!(TlbEntry, mas1);
    pub const MAS2: usize = offset_of!(TlbEntry, mas2);
    pub const MAS3: usize = offset_of!(TlbEntry, mas3);
    pub const MAS7: usize = offset_of!(TlbEntry, mas7);
    const _: () = assert!(size_of::<TlbEntry>() == 16 && super::TLB0_WAYS == 4 && super::TLB0_SETS == 128 && super::TLB1_CAPACITY == 16);
}

#[cfg(test)]
mod tests;
