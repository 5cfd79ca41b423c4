//! What the core is: identification (PVR, SVR), MMU geometry (MMUCFG, TLB0CFG,
//! TLB1CFG) and the timebase frequency, which only the device tree knows.
//!
//! Decoding is pure (host-tested); [`probe`] reads the registers on the target.

use core::fmt;

/// A register value printed as `0x12345678`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hex(pub u32);

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// The core's name from its PVR version field (upper 16 bits).
pub fn core_name(pvr: u32) -> &'static str {
    match pvr >> 16 {
        0x8020 => "e500v1",
        0x8021 => "e500v2",
        0x8023 => "e500mc",
        0x8024 => "e5500",
        0x8040 => "e6500",
        _ => "unknown Book E core",
    }
}

/// One TLB's geometry, from its TLBnCFG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbGeometry {
    pub entries: u32,
    /// Ways; equal to `entries` when fully associative.
    pub ways: u32,
    /// Smallest and largest page size (MAS1[TSIZE] encoding, 4^n KiB).
    pub min_tsize: u32,
    pub max_tsize: u32,
    /// Entries can be protected from invalidation.
    pub iprot: bool,
    /// Page size chosen per entry (else fixed at `min_tsize`).
    pub variable_size: bool,
}

impl TlbGeometry {
    pub const fn decode(tlbncfg: u32) -> Self {
        TlbGeometry {
            ways: tlbncfg >> 24,
            min_tsize: (tlbncfg >> 20) & 0xf,
            max_tsize: (tlbncfg >> 16) & 0xf,
            iprot: tlbncfg & (1 << 15) != 0,
            variable_size: tlbncfg & (1 << 14) != 0,
            entries: tlbncfg & 0xfff,
        }
    }

    pub const fn fully_associative(&self) -> bool {
        self.ways == 0 || self.ways == self.entries
    }
}

/// `512 entries, 4-way` or `16 entries, fully associative`.
impl fmt::Display for TlbGeometry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.fully_associative() {
            write!(f, "{} entries, fully associative", self.entries)
        } else {
            write!(f, "{} entries, {}-way", self.entries, self.ways)
        }
    }
}

/// MMUCFG, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmuConfig {
    pub raw: u32,
    /// Number of PID registers.
    pub pids: u32,
    /// Bits in a PID (TID).
    pub pid_bits: u32,
    pub tlbs: u32,
    /// MMU architecture version (1 for e500v1/v2/mc).
    pub version: u32,
}

impl MmuConfig {
    pub const fn decode(raw: u32) -> Self {
        MmuConfig {
            raw,
            pids: (raw >> 11) & 0xf,
            pid_bits: ((raw >> 6) & 0x1f) + 1,
            tlbs: ((raw >> 2) & 0x3) + 1,
            version: (raw & 0x3) + 1,
        }
    }
}

/// `0x... (MMU v1, 2 TLBs, 3 PIDs of 8 bits)`. QEMU 7.2's e500v1/v2 models read MMUCFG as
/// 0, which no real core does: that is shown as such rather than decoded.
impl fmt::Display for MmuConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.raw == 0 {
            return write!(f, "{} (not implemented)", Hex(0));
        }
        write!(
            f,
            "{} (MMU v{}, {} TLBs, {} PIDs of {} bits)",
            Hex(self.raw), self.version, self.tlbs, self.pids, self.pid_bits
        )
    }
}

/// A frequency printed as `400000000 Hz`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hz(pub u64);

impl fmt::Display for Hz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} Hz", self.0)
    }
}

/// The timebase frequency: `timebase-frequency` of the CPU node with unit address 0
/// under `/cpus` (`cpu@0` in bulkhead's board trees, `PowerPC,8544@0` in QEMU's own),
/// else of `/cpus` itself (ePAPR allows either). A 32- or 64-bit cell.
pub fn timebase_hz(fdt: &fdt::Fdt) -> Option<u64> {
    boot_cpu_hz(fdt, "timebase-frequency")
}

/// The core clock: `clock-frequency`, found as [`timebase_hz`] finds the timebase.
pub fn clock_hz(fdt: &fdt::Fdt) -> Option<u64> {
    boot_cpu_hz(fdt, "clock-frequency")
}

fn boot_cpu_hz(fdt: &fdt::Fdt, name: &str) -> Option<u64> {
    let cpus = fdt.find_node("/cpus")?;
    let boot_cpu = cpus.children().find(|n| n.name.ends_with("@0"));
    boot_cpu
        .and_then(|n| n.property(name))
        .or_else(|| cpus.property(name))
        .and_then(|p| p.as_usize())
        .map(|hz| hz as u64)
        .filter(|&hz| hz != 0)
}

/// Everything [`probe`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuInfo {
    pub pvr: u32,
    pub svr: u32,
    pub mmu: MmuConfig,
    pub tlb0: TlbGeometry,
    pub tlb1: TlbGeometry,
}

impl CpuInfo {
    pub fn core_name(&self) -> &'static str {
        core_name(self.pvr)
    }
}

/// Reads the identification and MMU configuration registers of this core.
#[cfg(target_arch = "powerpc")]
pub fn probe() -> CpuInfo {
    use crate::spr::{self, read};
    CpuInfo {
        pvr: read::<{ spr::PVR }>(),
        svr: read::<{ spr::SVR }>(),
        mmu: MmuConfig::decode(read::<{ spr::MMUCFG }>()),
        tlb0: TlbGeometry::decode(read::<{ spr::TLB0CFG }>()),
        tlb1: TlbGeometry::decode(read::<{ spr::TLB1CFG }>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e500v2_geometry() {
        // TLBnCFG values of an e500v2 (E500CORERM tables 2-12/2-13).
        let tlb0 = TlbGeometry::decode(0x0411_0200);
        assert_eq!((tlb0.entries, tlb0.ways), (512, 4));
        assert_eq!(tlb0.to_string(), "512 entries, 4-way");
        let tlb1 = TlbGeometry::decode(0x101b_c010);
        assert_eq!((tlb1.entries, tlb1.min_tsize, tlb1.max_tsize), (16, 1, 0xb));
        assert!(tlb1.iprot && tlb1.variable_size);
        assert_eq!(tlb1.to_string(), "16 entries, fully associative");
    }

    #[test]
    fn names_and_mmucfg() {
        assert_eq!(core_name(0x8021_0022), "e500v2");
        let m = MmuConfig::decode(0x0000_19c4);
        assert_eq!((m.pids, m.pid_bits, m.tlbs, m.version), (3, 8, 2, 1));
        assert_eq!(m.to_string(), "0x000019c4 (MMU v1, 2 TLBs, 3 PIDs of 8 bits)");
        assert_eq!(MmuConfig::decode(0).to_string(), "0x00000000 (not implemented)");
        assert_eq!(Hz(400_000_000).to_string(), "400000000 Hz");
    }
}
