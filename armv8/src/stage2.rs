//! Stage-2 translation: a partition's guest-physical map, enforced by the MMU.
//!
//! Built once per partition from its [`hv::memmap::MemoryMap`] and nothing else, so the
//! hardware enforces exactly what the core checks hypercall pointers against:
//! - RAM: Normal write-back, inner shareable, read-write-execute;
//! - shared memory: the same, but execute-never;
//! - passthrough device registers: Device-nGnRE, execute-never.
//!
//! On GICv2 the port adds one more device mapping: the hardware's virtual CPU interface
//! (GICV) where the guest expects its GICC.
//!
//! Anything else (the emulated PL011, the virtual distributor and redistributors, other
//! partitions, the hypervisor) is unmapped: an access is a stage-2 fault, which the
//! trap code decodes into an MMIO exit or a fault for the partition's policy.
//!
//! Geometry: 40-bit IPA (VTCR_EL2.T0SZ = 24), 4 KiB granule, walk starting at level 1 with
//! two concatenated level-1 tables (8 KiB, 8 KiB aligned) as the root, blocks (1 GiB,
//! 2 MiB) where alignment allows. aarch64-paging builds one 512 GiB level-1 table at a
//! time, so the root is two of its tables allocated back to back: the first covers IPA
//! 0..512 GiB, the second 512 GiB..1 TiB (mapped with addresses rebased by 512 GiB).
//!
//! Tables come from a static pool per partition slot ([`POOL_PAGES`] pages each): no heap.
//! VMID = partition id + 1 (VMID 0 is left to nothing).

use aarch64_paging::descriptor::{PhysicalAddress, Stage2Attributes};
use aarch64_paging::paging::{self, Constraints, MemoryRegion, RootTable};
use aarch64_cpu::registers::{VTCR_EL2, VTTBR_EL2};
use hv::config::MAX_PARTITIONS;
use hv::memmap::{Kind, Mapping, MemoryMap};

use crate::tables::{PoolAlloc, TablePool};

/// Translation tables per partition: the 2-page root, a level-2 table per GiB touched and
/// level-3 tables for mappings not 2 MiB aligned (devices: one each, worst case).
pub const POOL_PAGES: usize = 40;
static POOLS: [TablePool<Stage2Attributes, POOL_PAGES>; MAX_PARTITIONS] =
    [const { TablePool::new() }; MAX_PARTITIONS];

/// Guest-physical address bits.
pub const IPA_BITS: u32 = 40;
/// What one level-1 table covers (the IPA space is two of them, concatenated).
const HALF: u64 = 1 << (IPA_BITS - 1);
const ROOT_LEVEL: usize = 1;

/// Stage-2 MemAttr for Device-nGnRE: MemAttr[3:2] = 0b00 (device), [1:0] = 0b01 (nGnRE).
/// (aarch64-paging names only the GRE encoding.)
const MEMATTR_DEVICE_NGNRE: Stage2Attributes = Stage2Attributes::from_bits_retain(0b0001 << 2);

const VALID: Stage2Attributes =
    Stage2Attributes::VALID.union(Stage2Attributes::ACCESS_FLAG).union(Stage2Attributes::S2AP_ACCESS_RW);
const NORMAL_WB: Stage2Attributes = Stage2Attributes::MEMATTR_NORMAL_INNER_WB
    .union(Stage2Attributes::MEMATTR_NORMAL_OUTER_WB)
    .union(Stage2Attributes::SH_INNER);

/// The attributes of a mapping of `kind`.
pub fn attributes(kind: Kind) -> Stage2Attributes {
    match kind {
        Kind::Ram => VALID.union(NORMAL_WB),
        Kind::Shared => VALID.union(NORMAL_WB).union(Stage2Attributes::XN),
        Kind::Device => VALID.union(MEMATTR_DEVICE_NGNRE).union(Stage2Attributes::XN),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage2Error {
    /// No pool for this partition id, or its tables are already built.
    Slot(u32),
    /// A mapping ends beyond the 40-bit IPA space.
    OutOfRange(u64),
    /// The partition needs more than [`POOL_PAGES`] tables.
    TablesExhausted,
    /// The CPU's physical address range is below 40 bits.
    PaRange,
}

impl core::fmt::Display for Stage2Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Stage2Error::Slot(id) => write!(f, "no free stage-2 table pool for partition {id}"),
            Stage2Error::OutOfRange(a) => write!(f, "guest address {a:#x} beyond the {IPA_BITS}-bit IPA space"),
            Stage2Error::TablesExhausted => write!(f, "more than {POOL_PAGES} stage-2 tables needed"),
            Stage2Error::PaRange => write!(f, "the CPU's physical address range is below {IPA_BITS} bits"),
        }
    }
}

/// A built stage-2: what a vCPU loads into VTTBR_EL2 and VTCR_EL2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage2 {
    pub vttbr: u64,
    pub vtcr: u64,
}

/// ID_AA64MMFR0_EL1.PARange encoding of 40 bits.
const PA_RANGE_40: u64 = 0b010;

/// Builds partition `id`'s stage-2 from `map`, plus `extra` device mappings the port adds
/// itself (the GICv2 virtual CPU interface). `pa_range` is ID_AA64MMFR0_EL1.PARange.
pub fn build(id: u32, map: &MemoryMap, extra: &[Mapping], pa_range: u64) -> Result<Stage2, Stage2Error> {
    if pa_range < PA_RANGE_40 {
        return Err(Stage2Error::PaRange);
    }
    let pool = POOLS.get(id as usize).ok_or(Stage2Error::Slot(id))?;
    let root = build_in(pool, map, extra)?;
    let vmid = u64::from(id) + 1;
    Ok(Stage2 { vttbr: root | VTTBR_EL2::VMID.val(vmid).value, vtcr: vtcr(pa_range.min(crate::mmu::PS_MAX)) })
}

/// VTCR_EL2 for the geometry above, output size `ps` (PARange encoding).
fn vtcr(ps: u64) -> u64 {
    (VTCR_EL2::RES1::SET
        + VTCR_EL2::T0SZ.val(64 - u64::from(IPA_BITS))
        + VTCR_EL2::SL0::Granule4KBLevel1
        + VTCR_EL2::IRGN0::NormalWBRAWA
        + VTCR_EL2::ORGN0::NormalWBRAWA
        + VTCR_EL2::SH0::Inner
        + VTCR_EL2::TG0::Granule4KB
        + VTCR_EL2::PS.val(ps)
        + VTCR_EL2::VS::Bits8)
        .value
}

type Table<'a> = RootTable<paging::Stage2, PoolAlloc<'a, Stage2Attributes>>;

/// Builds the tables in `pool`; returns the root's physical address.
fn build_in<const N: usize>(
    pool: &TablePool<Stage2Attributes, N>,
    map: &MemoryMap,
    extra: &[Mapping],
) -> Result<u64, Stage2Error> {
    let (low, high) = tables_in(pool, map, extra)?;
    let root = low.to_physical().0 as u64;
    // The tables stay in use by the MMU for good: the handles must not free them.
    core::mem::forget(low);
    core::mem::forget(high);
    Ok(root)
}

/// The two halves of the concatenated root, with every mapping of `map` in them.
fn tables_in<'a, const N: usize>(
    pool: &'a TablePool<Stage2Attributes, N>,
    map: &MemoryMap,
    extra: &[Mapping],
) -> Result<(Table<'a>, Table<'a>), Stage2Error> {
    if pool.used() != 0 || N < 2 {
        return Err(Stage2Error::Slot(0));
    }
    let mut low = RootTable::new(pool.allocator(), ROOT_LEVEL, paging::Stage2);
    let mut high = RootTable::new(pool.allocator(), ROOT_LEVEL, paging::Stage2);
    // The pool is fresh and 8 KiB aligned: its first two pages are the root pair.
    let concatenated = low.to_physical().0 == pool.page_address(0) && high.to_physical().0 == pool.page_address(1);
    if !concatenated {
        return Err(Stage2Error::Slot(0));
    }
    for m in map.mappings().iter().chain(extra) {
        map_one(&mut low, &mut high, m)?;
    }
    if pool.exhausted() {
        return Err(Stage2Error::TablesExhausted);
    }
    Ok((low, high))
}

fn map_one(low: &mut Table, high: &mut Table, m: &Mapping) -> Result<(), Stage2Error> {
    let end = m.guest.checked_add(m.size).filter(|&e| e <= 2 * HALF).ok_or(Stage2Error::OutOfRange(m.guest))?;
    let flags = attributes(m.kind);
    let put = |t: &mut Table, from: u64, to: u64, host: u64| {
        let region = MemoryRegion::new(from as usize, to as usize);
        t.map_range(&region, PhysicalAddress(host as usize), flags, Constraints::empty())
            .map_err(|_| Stage2Error::OutOfRange(m.guest))
    };
    if m.guest < HALF {
        put(low, m.guest, end.min(HALF), m.host)?;
    }
    if end > HALF {
        let from = m.guest.max(HALF);
        put(high, from - HALF, end - HALF, m.host + (from - m.guest))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hv::config::{Device, MemoryRegion as Region, Partition, Range, SharedRegion};

    fn partition(memory: &[(u64, u64, u64)], devices: &[(u64, u64)]) -> Partition {
        let mut p = Partition::new(1, "p");
        for &(host, size, guest) in memory {
            p.memory.push(Region { host: Range::new(host, size), guest_base: guest }).unwrap();
        }
        for &(base, size) in devices {
            let mut d = Device { path: "/dev".try_into().unwrap(), mmio: Default::default(), irqs: Default::default() };
            d.mmio.push(Range::new(base, size)).unwrap();
            p.devices.push(d).unwrap();
        }
        p
    }

    /// (output address, attributes, level) of the leaf translating `ipa` in the low half.
    fn leaf(t: &Table, ipa: u64) -> Option<(u64, Stage2Attributes, usize)> {
        let mut found = None;
        let r = MemoryRegion::new(ipa as usize, ipa as usize + 1);
        t.walk_range(&r, &mut |mr, d, level| {
            if d.is_valid() && (level == 3 || !d.flags().contains(Stage2Attributes::TABLE_OR_PAGE)) {
                let granule = (paging::PAGE_SIZE as u64) << ((3 - level) * paging::BITS_PER_LEVEL);
                let _ = mr;
                let out = d.output_address().0 as u64 + (ipa % granule);
                found = Some((out, d.flags() - Stage2Attributes::TABLE_OR_PAGE, level));
            }
            Ok(())
        })
        .ok()?;
        found
    }

    #[test]
    fn ram_shared_and_devices_get_their_attributes_and_nothing_else_is_mapped() {
        let p = partition(&[(0x4800_0000, 0x100_0000, 0x4000_0000)], &[(0x903_0000, 0x1000)]);
        let mut shm = SharedRegion { name: "ipc".try_into().unwrap(), host: Range::new(0x4f00_0000, 0x1000), partitions: Default::default() };
        shm.partitions.push(1).unwrap();
        let map = MemoryMap::of(&p, core::slice::from_ref(&shm));
        let pool = Box::new(TablePool::<Stage2Attributes, 16>::new());
        let (low, _high) = tables_in(&pool, &map, &[]).unwrap();

        let (out, flags, level) = leaf(&low, 0x4000_0000).unwrap();
        assert_eq!((out, level), (0x4800_0000, 2), "16 MiB of RAM, 2 MiB aligned: blocks");
        assert_eq!(flags, attributes(Kind::Ram));
        assert_eq!(leaf(&low, 0x40ff_f123).unwrap().0, 0x48ff_f123);
        assert!(leaf(&low, 0x4100_0000).is_none(), "RAM ends at 16 MiB");

        let (out, flags, level) = leaf(&low, 0x4f00_0010).unwrap();
        assert_eq!((out, level), (0x4f00_0010, 3));
        assert!(flags.contains(Stage2Attributes::XN), "shared memory is not executable");

        let (out, flags, _) = leaf(&low, 0x903_0000).unwrap();
        assert_eq!(out, 0x903_0000);
        assert_eq!(flags, attributes(Kind::Device));
        assert_eq!(flags.bits() & (0xf << 2), 0b0001 << 2, "Device-nGnRE");

        assert!(leaf(&low, 0x900_0000).is_none(), "the emulated PL011 traps");
        assert!(leaf(&low, 0x4800_0000).is_none(), "host addresses are not guest addresses");
        assert!(leaf(&low, 0x800_0000).is_none(), "the interrupt controller is not mapped");
    }

    #[test]
    fn the_upper_half_of_the_ipa_space_uses_the_second_root_table() {
        let p = partition(&[(0x4800_0000, 0x20_0000, 0x80_4000_0000), (0x4a00_0000, 0x40_0000, 0x7f_ffe0_0000)], &[]);
        let map = MemoryMap::of(&p, &[]);
        let pool = Box::new(TablePool::<Stage2Attributes, 16>::new());
        let (low, high) = tables_in(&pool, &map, &[]).unwrap();
        assert_eq!(low.to_physical().0 + 4096, high.to_physical().0, "concatenated root");
        assert_eq!(low.to_physical().0 % 8192, 0, "8 KiB aligned root");
        assert_eq!(leaf(&high, 0x4000_0000).unwrap().0, 0x4800_0000);
        assert_eq!(leaf(&low, 0x7f_ffe0_0000).unwrap().0, 0x4a00_0000, "straddling mapping: low part");
        assert_eq!(leaf(&high, 0).unwrap().0, 0x4a20_0000, "straddling mapping: high part");
        assert!(leaf(&high, 0x20_0000).is_none());
    }

    #[test]
    fn out_of_range_and_exhaustion_are_errors() {
        let p = partition(&[(0x4800_0000, 0x1000, 0xff_ffff_f000), (0x4900_0000, 0x1000, 0x100_0000_0000)], &[]);
        let pool = Box::new(TablePool::<Stage2Attributes, 16>::new());
        assert_eq!(tables_in(&pool, &MemoryMap::of(&p, &[]), &[]).err(), Some(Stage2Error::OutOfRange(0x100_0000_0000)));

        let devices: Vec<_> = (0..8).map(|i| (0x100_0000 + i * 0x4000_0000, 0x1000)).collect();
        let p = partition(&[], &devices);
        let pool = Box::new(TablePool::<Stage2Attributes, 8>::new());
        assert_eq!(tables_in(&pool, &MemoryMap::of(&p, &[]), &[]).err(), Some(Stage2Error::TablesExhausted));
        assert_eq!(tables_in(&pool, &MemoryMap::of(&p, &[]), &[]).err(), Some(Stage2Error::Slot(0)), "a pool is used once");
    }

    #[test]
    fn vtcr_encodes_the_geometry() {
        let v = vtcr(0b010);
        assert_eq!(v & 0x3f, 24, "T0SZ");
        assert_eq!((v >> 6) & 3, 1, "SL0: start at level 1");
        assert_eq!((v >> 16) & 7, 0b010, "PS");
        assert_eq!(v >> 31 & 1, 1, "RES1");
    }
}
