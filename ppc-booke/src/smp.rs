//! Bringing up the other core, and which partition each core runs.
//!
//! e500v2 boards start only the boot core; the others wait in the boot loader's spin loop
//! (QEMU emulates it) until released through their ePAPR spin table (ePAPR 1.1, 5.5.2):
//! each waiting core's `/cpus/cpu@N` has `enable-method = "spin-table"` and
//! `cpu-release-addr`, the physical address of a 32-byte entry
//!
//! | offset | field | |
//! |---|---|---|
//! | 0, 4 | `addr_hi`, `addr_lo` | entry point; 1 (bit 0 set) while held |
//! | 8, 12 | `r3_hi`, `r3_lo` | r3 at entry |
//! | 16 | reserved | |
//! | 20 | `pir` | the core's PIR |
//!
//! The core starts when `addr` has bit 0 clear: `r3` and `addr_hi` are written first,
//! `addr_lo` last ([`release_writes`]). QEMU starts it at `addr` with r3 from the table,
//! r7 = 64 MiB and TLB1 entry 0 mapping the 64 MiB around `addr` one-to-one (read, write,
//! execute, no IPROT); everything else (vectors, CCSR, the hypervisor's own RAM mappings,
//! MSR[ME]) the core sets up itself ([`crate::entry`], then the board).
//!
//! [`assign`] decides which partition each core runs: a partition runs its single vCPU on
//! the first CPU its `bulkhead,cpus` names (the configuration guarantees no CPU is named
//! twice); a core no partition names sleeps.

use crate::percpu::MAX_CPUS;

/// Offsets in a spin table entry (ePAPR 5.5.2).
pub mod entry {
    pub const ADDR_HI: usize = 0;
    pub const ADDR_LO: usize = 4;
    pub const R3_HI: usize = 8;
    pub const R3_LO: usize = 12;
    pub const PIR: usize = 20;
    /// Bytes in one entry.
    pub const SIZE: usize = 32;
}

/// The stores that release a core to `start` with r3 = `r3`, in the order they must be
/// made: (offset in the entry, big-endian word). `addr_lo` (bit 0 clear) comes last, so
/// the core never sees a half-written entry.
pub const fn release_writes(start: u32, r3: u32) -> [(usize, u32); 4] {
    [(entry::R3_HI, 0), (entry::R3_LO, r3), (entry::ADDR_HI, 0), (entry::ADDR_LO, start & !1)]
}

/// Why a core cannot be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartError {
    /// This port keeps per-CPU state for [`MAX_CPUS`] cores.
    Unsupported { cpu: u32 },
    /// Another partition already runs on this CPU (the configuration check refuses this).
    Busy { cpu: u32 },
    /// The boot tree has no `spin-table` enable method or no usable `cpu-release-addr`.
    NoSpinTable { cpu: u32 },
    /// The core never reported in after its release.
    NoResponse { cpu: u32 },
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            StartError::Unsupported { cpu } => write!(f, "cpu {cpu} is beyond the {MAX_CPUS} cores this port supports"),
            StartError::Busy { cpu } => write!(f, "cpu {cpu} already runs another partition"),
            StartError::NoSpinTable { cpu } => write!(f, "cpu {cpu} has no ePAPR spin table (enable-method, cpu-release-addr)"),
            StartError::NoResponse { cpu } => write!(f, "cpu {cpu} did not start after its release"),
        }
    }
}

/// The physical address of `cpu`'s spin table entry, from the boot device tree:
/// the `/cpus` child whose `reg` is `cpu`, with `enable-method = "spin-table"` and a
/// 64-bit (two-cell) or 32-bit `cpu-release-addr` at an 8-byte aligned address.
pub fn release_addr(fdt: &fdt::Fdt, cpu: u32) -> Result<u64, StartError> {
    let none = StartError::NoSpinTable { cpu };
    let cpus = fdt.find_node("/cpus").ok_or(none)?;
    let node = cpus
        .children()
        .find(|n| n.property("reg").and_then(|r| r.as_usize()) == Some(cpu as usize))
        .ok_or(none)?;
    if node.property("enable-method").and_then(|m| m.as_str()) != Some("spin-table") {
        return Err(none);
    }
    let value = node.property("cpu-release-addr").ok_or(none)?.value;
    let addr = match value.len() {
        4 => u64::from(u32::from_be_bytes(value.try_into().map_err(|_| none)?)),
        8 => u64::from_be_bytes(value.try_into().map_err(|_| none)?),
        _ => return Err(none),
    };
    if addr % 8 != 0 || addr == 0 {
        return Err(none);
    }
    Ok(addr)
}

/// Which configured partition (index into the configuration's list) each core runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Assignment {
    pub by_cpu: [Option<u8>; MAX_CPUS],
}

/// Assigns each partition (given as its `bulkhead,cpus`, in configuration order) to the
/// first CPU it names. Calls `each(partition, result)` for every partition that names a
/// CPU: the CPU it runs on, or why it never runs.
pub fn assign<'a>(partitions: impl Iterator<Item = &'a [u32]>, mut each: impl FnMut(usize, Result<u32, StartError>)) -> Assignment {
    let mut a = Assignment::default();
    for (i, cpus) in partitions.enumerate() {
        let Some(&cpu) = cpus.first() else { continue };
        match a.by_cpu.get_mut(cpu as usize) {
            Some(slot @ None) if i <= usize::from(u8::MAX) => {
                *slot = Some(i as u8);
                each(i, Ok(cpu));
            }
            // Named twice: the configuration check refuses this; never run both.
            Some(_) => each(i, Err(StartError::Busy { cpu })),
            None => each(i, Err(StartError::Unsupported { cpu })),
        }
    }
    a
}

/// Releases core `cpu` through the spin table entry at physical `table` (from
/// [`release_addr`]) to start at `start` with r3 = `r3`. The table's page is mapped with
/// TLB1 entry `esel` (free, and free again afterwards) while the entry is written.
///
/// # Safety
/// `start` is the entry the core may run (`bh_secondary_start`), `r3` what it expects,
/// and `cpu`'s per-CPU area is prepared; the core has not been released before.
#[cfg(target_arch = "powerpc")]
pub unsafe fn release(table: u64, start: u32, r3: u32, esel: u8, va: u32) {
    use crate::tlb::{Memory, PageSize, Perms, Tlb1Entry};
    let page = table & !0xfff;
    let mapping = Tlb1Entry {
        esel,
        va,
        pa: page,
        size: PageSize::K4,
        // On QEMU the table is a device; in RAM a cache-inhibited store still reaches
        // memory, which the spinning core reads.
        memory: Memory::Device,
        perms: Perms::SUPERVISOR_RW,
        iprot: false,
        guest_space: false,
    };
    let base = va as usize + (table & 0xfff) as usize;
    // SAFETY: the entry maps one page of the spin table at an address the hypervisor uses
    // for nothing else, supervisor-only in address space 0. Every store stays inside the
    // 32-byte entry (release_addr checked alignment; an 8-aligned entry offset
    // <= 0xfe0 fits the page, and a larger one is refused below).
    unsafe {
        crate::tlb::write(&mapping);
        if (table & 0xfff) as usize + entry::SIZE <= 0x1000 {
            for (offset, value) in release_writes(start, r3) {
                core::ptr::write_volatile((base + offset) as *mut u32, value);
                core::arch::asm!("msync", options(nostack, preserves_flags));
            }
        }
        crate::tlb::invalidate(&mapping);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_writes_addr_lo_last_with_bit_0_clear() {
        let w = release_writes(0x0000_1234, 0x0040_0000);
        assert_eq!(w[3], (entry::ADDR_LO, 0x1234));
        assert!(w[..3].iter().all(|&(o, _)| o != entry::ADDR_LO));
        assert!(w.contains(&(entry::R3_LO, 0x0040_0000)) && w.contains(&(entry::ADDR_HI, 0)));
        assert_eq!(release_writes(0x1235, 0)[3].1 & 1, 0, "a misaligned start never holds the core");
        assert_eq!((entry::PIR, entry::SIZE), (20, 32));
    }

    #[test]
    fn each_partition_gets_its_first_cpu() {
        let cfg: [&[u32]; 3] = [&[1], &[0, 1], &[5]];
        let mut seen = Vec::new();
        let a = assign(cfg.iter().copied(), |i, r| seen.push((i, r)));
        assert_eq!(a.by_cpu, [Some(1), Some(0)]);
        assert_eq!(seen, [(0, Ok(1)), (1, Ok(0)), (2, Err(StartError::Unsupported { cpu: 5 }))]);
    }

    #[test]
    fn a_cpu_named_twice_runs_the_first_partition_only() {
        let cfg: [&[u32]; 3] = [&[0], &[0], &[]];
        let mut seen = Vec::new();
        let a = assign(cfg.iter().copied(), |i, r| seen.push((i, r)));
        assert_eq!(a.by_cpu, [Some(0), None]);
        assert_eq!(seen, [(0, Ok(0)), (1, Err(StartError::Busy { cpu: 0 }))]);
    }

    #[test]
    fn errors_read_as_one_line() {
        assert_eq!(StartError::NoResponse { cpu: 1 }.to_string(), "cpu 1 did not start after its release");
    }
}
