//! Extended page tables: a partition's guest-physical → host-physical translation, built
//! once from its [`MemoryMap`] (the analogue of armv8's `stage2.rs`).
//!
//! Four levels of 512 entries (48-bit guest-physical addresses), 2 MiB pages where guest
//! and host addresses and the length allow, 4 KiB pages elsewhere. Exactly the map's
//! mappings are present, nothing else: any other guest-physical access is an EPT violation
//! ([`crate::trap`]). Rights by kind: RAM read/write/execute, write-back; shared memory
//! read/write, no execute, write-back; passthrough device registers read/write, no execute,
//! uncacheable. Devices that are I/O ports (x86's ISA bus) are not memory: the caller leaves
//! them out (they are granted in the I/O bitmap, [`crate::ioports`]).
//!
//! Tables come from a fixed pool in the hypervisor's `.bss`, handed out once and never
//! freed (static partitions). Addresses are physical = virtual (the hypervisor's identity
//! map); host unit tests build and walk tables in ordinary memory the same way.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

use hv::memmap::{Kind, Mapping, MemoryMap};

const ENTRIES: usize = 512;
const PAGE_4K: u64 = 1 << 12;
const PAGE_2M: u64 = 1 << 21;
/// Guest-physical addresses a 4-level walk translates.
const GPA_BITS: u32 = 48;
const _: () = assert!(GPA_BITS == 48, "EptError's message names the width");

// EPT entry bits (SDM Vol. 3C, 29.3.2).
const READ: u64 = 1 << 0;
const WRITE: u64 = 1 << 1;
const EXECUTE: u64 = 1 << 2;
const MEMORY_TYPE_SHIFT: u64 = 3;
const MEMORY_TYPE_UC: u64 = 0;
const MEMORY_TYPE_WB: u64 = 6;
/// In a level-2 entry: a 2 MiB page, not a table.
const LARGE_PAGE: u64 = 1 << 7;
const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;
/// EPTP: write-back paging structures, a 4-level walk (length - 1 in bits 5:3).
const EPTP_WB_4_LEVELS: u64 = MEMORY_TYPE_WB | (3 << 3);

/// One table: 512 entries, page aligned.
#[repr(C, align(4096))]
pub struct Table(UnsafeCell<[u64; ENTRIES]>);

/// Tables for every partition's EPT, handed out in order, never freed.
pub struct Pool<const N: usize> {
    tables: [Table; N],
    next: AtomicUsize,
}

// SAFETY: a table is handed out once (the atomic `next`), and only the builder that got it
// writes it, before any CPU walks it.
unsafe impl<const N: usize> Sync for Pool<N> {}

impl<const N: usize> Default for Pool<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Pool<N> {
    pub const fn new() -> Self {
        Pool { tables: [const { Table(UnsafeCell::new([0; ENTRIES])) }; N], next: AtomicUsize::new(0) }
    }

    /// A fresh (zeroed) table: its physical address, or `None` when the pool is used up.
    fn take(&self) -> Option<u64> {
        let i = self.next.fetch_add(1, Ordering::AcqRel);
        self.tables.get(i).map(|t| t.0.get() as u64)
    }

    /// Tables handed out so far.
    pub fn used(&self) -> usize {
        self.next.load(Ordering::Acquire).min(N)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EptError {
    /// A mapping reaches beyond the 48-bit guest-physical space.
    OutOfRange(u64),
    /// Two mappings cover the same guest-physical page.
    Overlap(u64),
    /// The pool has no table left.
    TablesExhausted,
}

impl core::fmt::Display for EptError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (a, what) = match self {
            EptError::OutOfRange(a) => (a, "beyond the 48-bit EPT space"), // GPA_BITS
            EptError::Overlap(a) => (a, "mapped twice"),
            EptError::TablesExhausted => return f.write_str("no EPT tables left in the pool"),
        };
        write!(f, "guest address {a:#x} {what}")
    }
}

/// A built EPT: the pointer a vCPU loads into the VMCS (EPTP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ept {
    pub pointer: u64,
}

impl Ept {
    /// Physical address of the top-level table.
    pub fn root(&self) -> u64 {
        self.pointer & ADDRESS_MASK
    }
}

/// Leaf rights and memory type for a mapping of `kind`.
fn leaf_bits(kind: Kind) -> u64 {
    match kind {
        Kind::Ram => READ | WRITE | EXECUTE | MEMORY_TYPE_WB << MEMORY_TYPE_SHIFT,
        Kind::Shared => READ | WRITE | MEMORY_TYPE_WB << MEMORY_TYPE_SHIFT,
        Kind::Device => READ | WRITE | MEMORY_TYPE_UC << MEMORY_TYPE_SHIFT,
    }
}

/// Builds the EPT of `map`, leaving out the mappings `skip` names, with tables from `pool`.
pub fn build<const N: usize>(map: &MemoryMap, skip: impl Fn(&Mapping) -> bool, pool: &Pool<N>) -> Result<Ept, EptError> {
    let root = pool.take().ok_or(EptError::TablesExhausted)?;
    for m in map.mappings().iter().filter(|m| !skip(m)) {
        map_one(root, m, pool)?;
    }
    Ok(Ept { pointer: root | EPTP_WB_4_LEVELS })
}

fn map_one<const N: usize>(root: u64, m: &Mapping, pool: &Pool<N>) -> Result<(), EptError> {
    let end = m.guest.checked_add(m.size).filter(|&e| e <= 1 << GPA_BITS).ok_or(EptError::OutOfRange(m.guest))?;
    let bits = leaf_bits(m.kind);
    let (mut guest, mut host) = (m.guest & !(PAGE_4K - 1), m.host & !(PAGE_4K - 1));
    while guest < end {
        let large = guest % PAGE_2M == 0 && host % PAGE_2M == 0 && end - guest >= PAGE_2M;
        let (level, size, leaf) = if large { (2, PAGE_2M, host | bits | LARGE_PAGE) } else { (1, PAGE_4K, host | bits) };
        let entry = entry_for(root, guest, level, pool)?;
        // SAFETY: `entry` points into a table of this pool that only this builder writes.
        unsafe {
            if *entry != 0 {
                return Err(EptError::Overlap(guest));
            }
            *entry = leaf;
        }
        guest += size;
        host += size;
    }
    Ok(())
}

/// Index of `gpa` in a table of `level` (4: the root, 1: the last level).
fn index(gpa: u64, level: u32) -> usize {
    ((gpa >> (12 + 9 * (level - 1))) & (ENTRIES as u64 - 1)) as usize
}

/// The entry translating `gpa` at `level`, creating the tables above it.
fn entry_for<const N: usize>(root: u64, gpa: u64, level: u32, pool: &Pool<N>) -> Result<*mut u64, EptError> {
    let mut table = root;
    for l in (level + 1..=4).rev() {
        let e = (table as *mut u64).wrapping_add(index(gpa, l));
        // SAFETY: `table` is a table of this pool (the root, or an address this loop put in
        // an entry); only this builder writes it.
        unsafe {
            if *e & LARGE_PAGE != 0 {
                return Err(EptError::Overlap(gpa));
            }
            if *e == 0 {
                *e = pool.take().ok_or(EptError::TablesExhausted)? | READ | WRITE | EXECUTE;
            }
            table = *e & ADDRESS_MASK;
        }
    }
    Ok((table as *mut u64).wrapping_add(index(gpa, level)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hv::config::{Device, MemoryRegion, Partition, Range, SharedRegion};

    /// (host address, leaf bits without the address, level) translating `gpa`.
    fn walk(ept: &Ept, gpa: u64) -> Option<(u64, u64, u32)> {
        let mut table = ept.root();
        for level in (1..=4).rev() {
            // SAFETY: `table` is a table of the test pool (the root, or an entry's address).
            let e = unsafe { *(table as *const u64).add(index(gpa, level)) };
            if e & (READ | WRITE | EXECUTE) == 0 {
                return None;
            }
            let size = 1u64 << (12 + 9 * (level - 1));
            if level == 1 || (level == 2 && e & LARGE_PAGE != 0) {
                return Some(((e & ADDRESS_MASK & !(size - 1)) + gpa % size, e & !ADDRESS_MASK & !LARGE_PAGE, level));
            }
            table = e & ADDRESS_MASK;
        }
        None
    }

    fn partition() -> Partition {
        let mut p = Partition::new(1, "p");
        p.memory.push(MemoryRegion { host: Range::new(0x0200_0000, 0x0100_0000), guest_base: 0 }).unwrap();
        p.memory.push(MemoryRegion { host: Range::new(0x0410_3000, 0x2000), guest_base: 0x4000_0000 }).unwrap();
        let mut d = Device { path: "/isa/serial@3e8".try_into().unwrap(), mmio: Default::default(), irqs: Default::default() };
        d.mmio.push(Range::new(0x3e8, 8)).unwrap();
        p.devices.push(d).unwrap();
        let mut d = Device { path: "/ioapic".try_into().unwrap(), mmio: Default::default(), irqs: Default::default() };
        d.mmio.push(Range::new(0xfec0_0000, 0x1000)).unwrap();
        p.devices.push(d).unwrap();
        p
    }

    #[test]
    fn exactly_the_partitions_mappings_with_their_rights() {
        let mut shm = SharedRegion { name: "ipc".try_into().unwrap(), host: Range::new(0x0500_0000, 0x1000), partitions: Default::default() };
        shm.partitions.push(1).unwrap();
        let map = MemoryMap::of(&partition(), core::slice::from_ref(&shm));
        let pool = Box::new(Pool::<16>::new());
        let ept = build(&map, |m| m.guest < 0x1_0000 && m.kind == Kind::Device, &pool).unwrap();
        assert_eq!(ept.pointer & 0xfff, 0x1e, "WB, 4-level walk");

        let ram = READ | WRITE | EXECUTE | MEMORY_TYPE_WB << MEMORY_TYPE_SHIFT;
        assert_eq!(walk(&ept, 0), Some((0x0200_0000, ram, 2)), "16 MiB, 2 MiB aligned: large pages");
        assert_eq!(walk(&ept, 0x00ff_f123), Some((0x02ff_f123, ram, 2)));
        assert_eq!(walk(&ept, 0x0100_0000), None, "RAM ends at 16 MiB");
        assert_eq!(walk(&ept, 0x4000_1008), Some((0x0410_4008, ram, 1)), "unaligned host: 4 KiB pages");
        assert_eq!(walk(&ept, 0x4000_2000), None);

        let (host, bits, _) = walk(&ept, 0x0500_0010).unwrap();
        assert_eq!((host, bits & EXECUTE), (0x0500_0010, 0), "shared memory: no execute");
        let (host, bits, _) = walk(&ept, 0xfec0_0020).unwrap();
        assert_eq!((host, bits >> MEMORY_TYPE_SHIFT & 7, bits & EXECUTE), (0xfec0_0020, MEMORY_TYPE_UC, 0), "device: UC");
        assert_eq!(walk(&ept, 0x3e8), Some((0x0200_03e8, ram, 2)), "I/O ports are not memory: guest 0x3e8 is RAM");
        assert_eq!(walk(&ept, 0x0200_0000), None, "host addresses are not guest addresses");
        assert_eq!(pool.used(), 8, "root, PDPT, three PDs, PTs for the 4 KiB RAM, shared and device pages");
    }

    #[test]
    fn out_of_range_overlap_and_exhaustion_are_errors() {
        let mut p = Partition::new(0, "p");
        p.memory.push(MemoryRegion { host: Range::new(0x0200_0000, 0x1000), guest_base: (1 << 48) - 0x1000 }).unwrap();
        let pool = Box::new(Pool::<16>::new());
        assert!(build(&MemoryMap::of(&p, &[]), |_| false, &pool).is_ok(), "the last page fits");
        p.memory[0].guest_base = 1 << 48;
        assert_eq!(build(&MemoryMap::of(&p, &[]), |_| false, &pool), Err(EptError::OutOfRange(1 << 48)));

        let mut p = Partition::new(0, "p");
        p.memory.push(MemoryRegion { host: Range::new(0x0200_0000, 0x20_0000), guest_base: 0 }).unwrap();
        p.memory.push(MemoryRegion { host: Range::new(0x0300_0000, 0x1000), guest_base: 0x1000 }).unwrap();
        let pool = Box::new(Pool::<16>::new());
        assert_eq!(build(&MemoryMap::of(&p, &[]), |_| false, &pool), Err(EptError::Overlap(0x1000)));

        let mut p = Partition::new(0, "p");
        for i in 0..4 {
            p.memory.push(MemoryRegion { host: Range::new(0x0200_0000 + i * 0x1000, 0x1000), guest_base: i << 39 }).unwrap();
        }
        let pool = Box::new(Pool::<8>::new());
        assert_eq!(build(&MemoryMap::of(&p, &[]), |_| false, &pool), Err(EptError::TablesExhausted));
    }
}
