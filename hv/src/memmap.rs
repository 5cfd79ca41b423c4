//! A partition's guest-physical memory map: which guest-physical ranges are backed by
//! which host-physical memory, and with what rights.
//!
//! Every port builds its translation (stage-2 tables, EPT, the Book E shadow TLB) from this
//! map and nothing else, and every guest pointer a hypercall receives is checked with
//! [`MemoryMap::translate`]: "we can't trust the guest" is enforced in one place.

use heapless::Vec;

use crate::config::{Partition, SharedRegion, MAX_DEVICES, MAX_DEVICE_RANGES, MAX_REGIONS, MAX_SHARED};

/// What a mapping is backed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The partition's own RAM: read, write, execute.
    Ram,
    /// Memory shared with other partitions: read, write, no execute.
    Shared,
    /// A passthrough device's registers: read, write, device memory attributes.
    Device,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub guest: u64,
    pub host: u64,
    pub size: u64,
    pub kind: Kind,
}

impl Mapping {
    fn guest_end(&self) -> u64 {
        // Config checks guarantee no mapping wraps; saturate anyway.
        self.guest.saturating_add(self.size)
    }
}

/// Most mappings one partition can have.
pub const MAX_MAPPINGS: usize = MAX_REGIONS + MAX_SHARED + MAX_DEVICES * MAX_DEVICE_RANGES;

/// Why a guest range cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessError {
    /// Some byte of the range is not the partition's RAM (or shared memory).
    NotOwned,
    /// `base + len` wraps.
    Overflow,
}

#[derive(Clone, Debug, Default)]
pub struct MemoryMap {
    mappings: Vec<Mapping, MAX_MAPPINGS>,
}

impl MemoryMap {
    /// The map of partition `p`: its memory regions, the shared regions naming it, and its
    /// devices' MMIO ranges (devices and shared memory at their host addresses).
    pub fn of(p: &Partition, shared: &[SharedRegion]) -> MemoryMap {
        let mut map = MemoryMap::default();
        let ram = p.memory.iter().map(|m| Mapping { guest: m.guest_base, host: m.host.base, size: m.host.size, kind: Kind::Ram });
        let shm = shared
            .iter()
            .filter(|s| s.partitions.contains(&p.id))
            .map(|s| Mapping { guest: s.host.base, host: s.host.base, size: s.host.size, kind: Kind::Shared });
        let dev = p
            .devices
            .iter()
            .flat_map(|d| d.mmio.iter())
            .map(|r| Mapping { guest: r.base, host: r.base, size: r.size, kind: Kind::Device });
        for m in ram.chain(shm).chain(dev) {
            // Capacity is MAX_MAPPINGS, the sum of the config's own capacities: cannot fail.
            let _ = map.mappings.push(m);
        }
        map
    }

    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }

    /// The mapping holding guest-physical `addr`, if any.
    pub fn find(&self, addr: u64) -> Option<&Mapping> {
        self.mappings.iter().find(|m| m.guest <= addr && addr < m.guest_end())
    }

    /// Host-physical address of the guest range `[gpa, gpa + len)`, which must lie wholly in
    /// one RAM or shared mapping. Device registers are never valid hypercall buffers.
    pub fn translate(&self, gpa: u64, len: u64) -> Result<u64, AccessError> {
        let end = gpa.checked_add(len).ok_or(AccessError::Overflow)?;
        let m = self.find(gpa).ok_or(AccessError::NotOwned)?;
        if m.kind == Kind::Device || end > m.guest_end() {
            return Err(AccessError::NotOwned);
        }
        Ok(m.host + (gpa - m.guest))
    }

    /// The partition's first RAM mapping (where its boot image and device tree go).
    pub fn boot_ram(&self) -> Option<&Mapping> {
        self.mappings.iter().find(|m| m.kind == Kind::Ram)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Device, MemoryRegion, Range};

    fn partition() -> Partition {
        let mut p = Partition::new(1, "p");
        p.memory.push(MemoryRegion { host: Range::new(0x4800_0000, 0x10_0000), guest_base: 0x4000_0000 }).unwrap();
        let mut d = Device { path: "/uart".try_into().unwrap(), mmio: Vec::new(), irqs: Vec::new() };
        d.mmio.push(Range::new(0x900_0000, 0x1000)).unwrap();
        p.devices.push(d).unwrap();
        p
    }

    #[test]
    fn translates_inside_ram() {
        let map = MemoryMap::of(&partition(), &[]);
        assert_eq!(map.translate(0x4000_0000, 16), Ok(0x4800_0000));
        assert_eq!(map.translate(0x400f_fff0, 16), Ok(0x480f_fff0));
    }

    #[test]
    fn refuses_ranges_leaving_ram() {
        let map = MemoryMap::of(&partition(), &[]);
        assert_eq!(map.translate(0x400f_fff0, 17), Err(AccessError::NotOwned));
        assert_eq!(map.translate(0x3fff_ffff, 2), Err(AccessError::NotOwned));
        assert_eq!(map.translate(0x4800_0000, 1), Err(AccessError::NotOwned), "host address is not a guest address");
        assert_eq!(map.translate(u64::MAX - 3, 8), Err(AccessError::Overflow));
    }

    #[test]
    fn device_registers_are_mapped_but_not_buffers() {
        let map = MemoryMap::of(&partition(), &[]);
        assert_eq!(map.find(0x900_0004).map(|m| m.kind), Some(Kind::Device));
        assert_eq!(map.translate(0x900_0000, 4), Err(AccessError::NotOwned));
    }

    #[test]
    fn shared_memory_only_for_named_partitions() {
        let mut s = SharedRegion { name: "ipc".try_into().unwrap(), host: Range::new(0x4f00_0000, 0x1000), partitions: Vec::new() };
        s.partitions.push(2).unwrap();
        let map = MemoryMap::of(&partition(), core::slice::from_ref(&s));
        assert_eq!(map.translate(0x4f00_0000, 8), Err(AccessError::NotOwned));
        s.partitions.push(1).unwrap();
        let map = MemoryMap::of(&partition(), core::slice::from_ref(&s));
        assert_eq!(map.translate(0x4f00_0000, 8), Ok(0x4f00_0000));
    }
}
