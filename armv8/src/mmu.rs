//! The hypervisor's own address space: an identity map at EL2, with caches on.
//!
//! What is mapped (nothing else is):
//! - RAM (the board's `/memory` ranges): Normal write-back, read-write, execute-never. The
//!   hypervisor needs it for its data, for copying guest images from the staging area
//!   into partition RAM and for reading hypercall buffers (always checked against the
//!   partition's map first, see `hv::memmap`);
//! - the hypervisor image's code (linker symbols `__text_start`..`__text_end`): read-only
//!   and executable, the only executable memory at EL2;
//! - the devices the hypervisor drives (console UART, interrupt controller): Device-nGnRE,
//!   execute-never.
//!
//! [`init`] builds the tables (once, on the boot CPU, MMU still off) and turns the MMU on;
//! [`enable`] turns it on on a secondary CPU with the same tables. Translation: 39-bit
//! virtual addresses (TCR_EL2.T0SZ = 25), 4 KiB granule, walk from level 1, blocks where
//! alignment allows.

use aarch64_paging::descriptor::{El23Attributes, PhysicalAddress};
use aarch64_paging::paging::{Constraints, El2, MemoryRegion, RootTable};
use aarch64_cpu::registers::{Readable, ID_AA64MMFR0_EL1, MAIR_EL2, TCR_EL2};
use core::sync::atomic::{AtomicUsize, Ordering};
use hv::config::Range;

use crate::tables::TablePool;

/// Tables for the EL2 map: one level-1 root, a level-2 table per GiB touched, level-3
/// tables for the small device windows and the edges of the code.
const POOL_PAGES: usize = 32;
static POOL: TablePool<El23Attributes, POOL_PAGES> = TablePool::new();

/// Physical address of the root table, once built (read by secondary CPUs).
static ROOT: AtomicUsize = AtomicUsize::new(0);

/// TCR_EL2.T0SZ: 64 - 39 address bits, one level-1 table covers it all.
const VA_BITS: u64 = 39;
const ROOT_LEVEL: usize = 1;

/// MAIR_EL2 attribute indices.
const ATTR_DEVICE: El23Attributes = El23Attributes::ATTRIBUTE_INDEX_0;
const ATTR_NORMAL: El23Attributes = El23Attributes::ATTRIBUTE_INDEX_1;

/// Flags every valid EL2 entry carries: valid, accessed (no access-flag faults), AP[1]
/// (RES1 in the EL2 regime).
const BASE: El23Attributes =
    El23Attributes::VALID.union(El23Attributes::ACCESSED).union(El23Attributes::USER_RES1);
const NORMAL_RW: El23Attributes =
    BASE.union(ATTR_NORMAL).union(El23Attributes::INNER_SHAREABLE).union(El23Attributes::XN);
const CODE: El23Attributes =
    BASE.union(ATTR_NORMAL).union(El23Attributes::INNER_SHAREABLE).union(El23Attributes::READ_ONLY);
const DEVICE: El23Attributes = BASE.union(ATTR_DEVICE).union(El23Attributes::XN);

/// Why the EL2 map could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmuError {
    /// A range does not fit the 39-bit address space.
    OutOfRange(u64),
    /// More tables needed than [`POOL_PAGES`].
    TablesExhausted,
    /// Already built.
    AlreadyOn,
}

impl core::fmt::Display for MmuError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MmuError::OutOfRange(a) => write!(f, "address {a:#x} beyond the 39-bit EL2 map"),
            MmuError::TablesExhausted => write!(f, "more than {POOL_PAGES} EL2 translation tables needed"),
            MmuError::AlreadyOn => f.write_str("EL2 MMU already on"),
        }
    }
}

/// What to map: RAM ranges and device windows (physical = virtual).
pub struct Layout<'a> {
    pub ram: &'a [Range],
    pub devices: &'a [Range],
}

/// Builds the identity map and turns the MMU and caches on for this (the boot) CPU.
pub fn init(layout: &Layout) -> Result<(), MmuError> {
    if ROOT.load(Ordering::Acquire) != 0 {
        return Err(MmuError::AlreadyOn);
    }
    let mut root = RootTable::new(POOL.allocator(), ROOT_LEVEL, El2);
    let mut map = |r: &Range, flags| {
        let end = r.end().filter(|&e| e <= 1 << VA_BITS).ok_or(MmuError::OutOfRange(r.base))?;
        let region = MemoryRegion::new(r.base as usize, end as usize);
        root.map_range(&region, PhysicalAddress(r.base as usize), flags, Constraints::empty())
            .map_err(|_| MmuError::OutOfRange(r.base))
    };
    for r in layout.ram {
        map(r, NORMAL_RW)?;
    }
    map(&code(), CODE)?;
    for d in layout.devices {
        map(d, DEVICE)?;
    }
    if POOL.exhausted() {
        return Err(MmuError::TablesExhausted);
    }
    let pa = root.to_physical().0;
    // The tables live in POOL for good; the handle must not free them.
    core::mem::forget(root);
    ROOT.store(pa, Ordering::Release);
    enable();
    Ok(())
}

/// Whether [`init`] has built the tables (secondary CPUs may then call [`enable`]).
pub fn ready() -> bool {
    ROOT.load(Ordering::Acquire) != 0
}

/// The hypervisor image's code, from the linker script.
fn code() -> Range {
    #[cfg(target_arch = "aarch64")]
    {
        extern "C" {
            static __text_start: u8;
            static __text_end: u8;
        }
        // Only the symbols' addresses are used.
        let (start, end) = (&raw const __text_start as u64, &raw const __text_end as u64);
        Range::new(start, end.saturating_sub(start))
    }
    #[cfg(not(target_arch = "aarch64"))]
    Range::new(0, 0)
}

/// Turns the MMU and caches on for this CPU with the tables [`init`] built.
pub fn enable() {
    let root = ROOT.load(Ordering::Acquire) as u64;
    let pa_range = ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange).min(PS_MAX);
    let mair = MAIR_EL2::Attr0_Device::nonGathering_nonReordering_EarlyWriteAck
        + MAIR_EL2::Attr1_Normal_Outer::WriteBack_NonTransient_ReadWriteAlloc
        + MAIR_EL2::Attr1_Normal_Inner::WriteBack_NonTransient_ReadWriteAlloc;
    let tcr = TCR_EL2::T0SZ.val(64 - VA_BITS)
        + TCR_EL2::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
        + TCR_EL2::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
        + TCR_EL2::SH0::Inner
        + TCR_EL2::TG0::KiB_4
        + TCR_EL2::PS.val(pa_range);
    write_and_enable(mair.value, tcr.value | TCR_EL2_RES1, root);
}

/// Largest TCR_EL2.PS / VTCR_EL2.PS encoding used (48 bits: 52-bit output needs LPA).
pub const PS_MAX: u64 = 0b101;
/// TCR_EL2 (non-VHE layout) bits 31 and 23 are RES1.
const TCR_EL2_RES1: u64 = (1 << 31) | (1 << 23);

#[cfg(target_arch = "aarch64")]
fn write_and_enable(mair: u64, tcr: u64, ttbr: u64) {
    use aarch64_cpu::registers::{ReadWriteable, SCTLR_EL2};
    // SAFETY: the tables identity-map everything the hypervisor touches (RAM, its code,
    // its devices), so execution continues at the same addresses once translation is on.
    unsafe {
        core::arch::asm!(
            "msr mair_el2, {mair}",   // memory attribute encodings
            "msr tcr_el2, {tcr}",     // translation control
            "msr ttbr0_el2, {ttbr}",  // the root table
            "isb",                    // all three in effect before the TLB flush
            "tlbi alle2",             // no stale EL2 translations
            "dsb nsh",                // flush done ...
            "isb",                    // ... before the MMU is turned on
            mair = in(reg) mair, tcr = in(reg) tcr, ttbr = in(reg) ttbr,
            options(nostack),
        );
    }
    SCTLR_EL2.modify(SCTLR_EL2::M::Enable + SCTLR_EL2::C::Cacheable + SCTLR_EL2::I::Cacheable);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

#[cfg(not(target_arch = "aarch64"))]
fn write_and_enable(_mair: u64, _tcr: u64, _ttbr: u64) {}
