//! TLB1: the variable-size, fully associative TLB that holds the hypervisor's own
//! mappings (its image, CCSR) and, later, the guests' large pages.
//!
//! An entry is described by a [`Tlb1Entry`] and encoded into the MMU assist registers
//! MAS0..MAS3 and MAS7 by `const fn`s, so the reset code can use the very same encoding
//! as compile-time constants. [`write`] is the only code that executes `tlbwe`.
//!
//! Field positions are those of the e500 core reference manual (MMU architecture v1,
//! 36-bit physical addresses: MAS7 holds PA[0:3]).

/// MAS0: which TLB and which entry `tlbwe` writes.
pub mod mas0 {
    /// TLBSEL = 1 (TLB1).
    pub const TLBSEL1: u32 = 1 << 28;
    pub const ESEL_SHIFT: u32 = 16;
}

/// MAS1: valid, protected, translation space, page size.
pub mod mas1 {
    pub const VALID: u32 = 1 << 31;
    /// Invalidate-protect: no tlbivax or MMUCSR0 flash invalidate removes the entry.
    pub const IPROT: u32 = 1 << 30;
    pub const TID_SHIFT: u32 = 16;
    /// Translation space 1 (matched when MSR[IS]/MSR[DS] is 1: the guests' space).
    pub const TS: u32 = 1 << 12;
    /// TSIZE, a power of 4 KiB: page = 4^TSIZE KiB.
    pub const TSIZE_SHIFT: u32 = 8;
}

/// MAS2: effective page number and storage attributes (WIMGE).
pub mod mas2 {
    pub const EPN_MASK: u32 = 0xffff_f000;
    pub const WRITE_THROUGH: u32 = 0x10;
    pub const CACHE_INHIBITED: u32 = 0x08;
    pub const COHERENT: u32 = 0x04;
    pub const GUARDED: u32 = 0x02;
    pub const LITTLE_ENDIAN: u32 = 0x01;
}

/// MAS3: real page number (low 32 bits of the PA) and permissions.
pub mod mas3 {
    pub const RPN_MASK: u32 = 0xffff_f000;
    pub const UX: u32 = 0x20;
    pub const SX: u32 = 0x10;
    pub const UW: u32 = 0x08;
    pub const SW: u32 = 0x04;
    pub const UR: u32 = 0x02;
    pub const SR: u32 = 0x01;
}

/// Physical addresses are 36 bits on e500v2.
pub const PA_BITS: u32 = 36;
/// Entries in e500v2's TLB1.
pub const TLB1_ENTRIES: u8 = 16;

/// TLB1 page sizes (MAS1[TSIZE]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum PageSize {
    K4 = 1,
    K16 = 2,
    K64 = 3,
    K256 = 4,
    M1 = 5,
    M4 = 6,
    M16 = 7,
    M64 = 8,
    M256 = 9,
    G1 = 10,
    G4 = 11,
}

impl PageSize {
    pub const fn bytes(self) -> u64 {
        1024 << (2 * self as u32)
    }
}

/// Storage attributes for a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Memory {
    /// Normal RAM: cacheable, coherent (M), not guarded.
    Normal,
    /// Device registers: cache-inhibited and guarded (no speculation, no merging).
    Device,
}

/// Who may do what through a mapping (MAS3 permission bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perms(pub u32);

impl Perms {
    /// Hypervisor data: supervisor read/write, never executable, invisible to guests.
    pub const SUPERVISOR_RW: Perms = Perms(mas3::SR | mas3::SW);
    /// Hypervisor code and data.
    pub const SUPERVISOR_RWX: Perms = Perms(mas3::SR | mas3::SW | mas3::SX);
    /// Guest code: readable and executable in problem state (and by the hypervisor).
    pub const USER_RX: Perms = Perms(mas3::UR | mas3::UX | mas3::SR | mas3::SX);
}

/// One TLB1 entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlb1Entry {
    /// Entry index (0..16). QEMU's boot mapping is entry 0.
    pub esel: u8,
    /// Effective (virtual) address, aligned to `size`.
    pub va: u32,
    /// Physical address (36-bit), aligned to `size`.
    pub pa: u64,
    pub size: PageSize,
    pub memory: Memory,
    pub perms: Perms,
    /// Survives invalidation (hypervisor mappings).
    pub iprot: bool,
    /// Translation space 1 (guests) instead of 0 (hypervisor).
    pub guest_space: bool,
}

impl Tlb1Entry {
    /// True if the entry can be written as described: aligned, inside the 36-bit
    /// physical space, an existing entry index.
    pub const fn is_valid(&self) -> bool {
        let mask = self.size.bytes() - 1;
        self.esel < TLB1_ENTRIES
            && (self.va as u64) & mask == 0
            && self.pa & mask == 0
            && self.pa >> PA_BITS == 0
            && (self.va as u64) + mask <= u32::MAX as u64
    }

    pub const fn mas0(&self) -> u32 {
        mas0::TLBSEL1 | (self.esel as u32) << mas0::ESEL_SHIFT
    }

    /// TID 0: the entry matches every process ID.
    pub const fn mas1(&self) -> u32 {
        mas1::VALID
            | if self.iprot { mas1::IPROT } else { 0 }
            | if self.guest_space { mas1::TS } else { 0 }
            | (self.size as u32) << mas1::TSIZE_SHIFT
    }

    pub const fn mas2(&self) -> u32 {
        let wimge = match self.memory {
            Memory::Normal => mas2::COHERENT,
            Memory::Device => mas2::CACHE_INHIBITED | mas2::GUARDED,
        };
        (self.va & mas2::EPN_MASK) | wimge
    }

    pub const fn mas3(&self) -> u32 {
        (self.pa as u32 & mas3::RPN_MASK) | self.perms.0
    }

    pub const fn mas7(&self) -> u32 {
        (self.pa >> 32) as u32
    }

    /// MAS1 of the same entry, invalid (writing it removes the entry).
    pub const fn mas1_invalid(&self) -> u32 {
        self.mas1() & !(mas1::VALID | mas1::IPROT)
    }
}

/// Writes `entry` into TLB1 (MAS0..3, MAS7, `tlbwe`, `isync`).
///
/// # Safety
/// The new translation takes effect at once: it must not change the mapping of the code,
/// stack or data the hypervisor is using, nor map hypervisor memory into the guests'
/// translation space.
#[cfg(target_arch = "powerpc")]
pub unsafe fn write(entry: &Tlb1Entry) {
    use crate::spr;
    assert!(entry.is_valid(), "TLB1 entry not aligned or out of range");
    // SAFETY: the MAS registers only stage the entry; tlbwe installs it, which the caller
    // vouches for; isync makes later fetches and accesses use it.
    unsafe {
        spr::write::<{ spr::MAS0 }>(entry.mas0());
        spr::write::<{ spr::MAS1 }>(entry.mas1());
        spr::write::<{ spr::MAS2 }>(entry.mas2());
        spr::write::<{ spr::MAS3 }>(entry.mas3());
        spr::write::<{ spr::MAS7 }>(entry.mas7());
        core::arch::asm!("isync", "tlbwe", "isync", options(nostack, preserves_flags));
    }
}

/// Removes `entry` (same index) from TLB1.
///
/// # Safety
/// Nothing the hypervisor is using may depend on the entry.
#[cfg(target_arch = "powerpc")]
pub unsafe fn invalidate(entry: &Tlb1Entry) {
    use crate::spr;
    // SAFETY: as in `write`; an invalid entry translates nothing.
    unsafe {
        spr::write::<{ spr::MAS0 }>(entry.mas0());
        spr::write::<{ spr::MAS1 }>(entry.mas1_invalid());
        core::arch::asm!("isync", "tlbwe", "isync", options(nostack, preserves_flags));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CCSR: Tlb1Entry = Tlb1Entry {
        esel: 1,
        va: 0xe000_0000,
        pa: 0xf_e000_0000,
        size: PageSize::M1,
        memory: Memory::Device,
        perms: Perms::SUPERVISOR_RW,
        iprot: true,
        guest_space: false,
    };

    #[test]
    fn ccsr_entry_encodes_like_the_manual() {
        assert!(CCSR.is_valid());
        assert_eq!(CCSR.mas0(), 0x1001_0000);
        assert_eq!(CCSR.mas1(), 0xc000_0500);
        assert_eq!(CCSR.mas2(), 0xe000_000a);
        assert_eq!(CCSR.mas3(), 0xe000_0005);
        assert_eq!(CCSR.mas7(), 0xf);
    }

    #[test]
    fn sizes_are_powers_of_four_kib() {
        assert_eq!(PageSize::K4.bytes(), 4096);
        assert_eq!(PageSize::M16.bytes(), 16 << 20);
        assert_eq!(PageSize::G4.bytes(), 4 << 30);
    }

    #[test]
    fn misaligned_or_out_of_range_is_refused() {
        assert!(!Tlb1Entry { pa: 0xf_e008_0000, ..CCSR }.is_valid());
        assert!(!Tlb1Entry { pa: 0x10_0000_0000, ..CCSR }.is_valid());
        assert!(!Tlb1Entry { esel: 16, ..CCSR }.is_valid());
        assert!(!Tlb1Entry { va: 0xfff0_0000, size: PageSize::M4, ..CCSR }.is_valid());
    }

    #[test]
    fn guest_space_and_invalidate() {
        let g = Tlb1Entry { guest_space: true, iprot: false, ..CCSR };
        assert_eq!(g.mas1() & mas1::TS, mas1::TS);
        assert_eq!(g.mas1_invalid() & (mas1::VALID | mas1::IPROT), 0);
    }
}
