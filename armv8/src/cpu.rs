//! What virtualization hardware this CPU offers, probed once at boot ([`probe`]), and
//! bringing the other CPUs online ([`start_secondaries`]).
//!
//! Facts and where they come from:
//! - exception level: CurrentEL (must be 2: the port does not drop from EL3);
//! - VHE: ID_AA64MMFR1_EL1.VH (bulkhead uses the non-VHE layout either way);
//! - physical address range: ID_AA64MMFR0_EL1.PARange, which bounds stage-2 output;
//! - GIC version and list registers: see [`crate::gic`].

use crate::gic;
use aarch64_cpu::registers::{CurrentEL, ID_AA64MMFR0_EL1, ID_AA64MMFR1_EL1, Readable};
use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// The hardware facts the board prints at first light.
#[derive(Debug)]
pub struct Hardware<'a> {
    pub el: ExceptionLevel,
    pub vhe: Feature,
    pub pa_range: PaRange,
    pub gic: gic::Gic<'a>,
    pub list_registers: Count,
}

/// Probes this CPU; `dt` is the board's device tree, if there is a usable one.
pub fn probe<'a>(dt: Option<&fdt::Fdt<'a>>) -> Hardware<'a> {
    let gic = gic::Gic { dt: dt.and_then(gic::from_dt), sysreg: gic::sysreg_interface() };
    Hardware {
        el: ExceptionLevel(CurrentEL.read(CurrentEL::EL) as u8),
        vhe: Feature(ID_AA64MMFR1_EL1.read(ID_AA64MMFR1_EL1::VH) != 0),
        pa_range: PaRange(ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange) as u8),
        list_registers: Count(gic.list_registers()),
        gic,
    }
}

/// ID_AA64MMFR0_EL1.PARange as encoded (what TCR_EL2.PS and VTCR_EL2.PS take).
pub fn pa_range_encoding() -> u64 {
    ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange)
}

/// An exception level, shown as `EL2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExceptionLevel(pub u8);

impl fmt::Display for ExceptionLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EL{}", self.0)
    }
}

/// An optional feature, shown as `yes` / `no`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Feature(pub bool);

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0 { "yes" } else { "no" })
    }
}

/// A count that could not always be determined, shown as the number or `unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count(pub Option<u32>);

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("unknown"),
        }
    }
}

/// ID_AA64MMFR0_EL1.PARange, shown as the address width in bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaRange(pub u8);

impl PaRange {
    /// Physical address bits, `None` for a reserved encoding.
    pub fn bits(self) -> Option<u8> {
        [32, 36, 40, 42, 44, 48, 52].get(self.0 as usize).copied()
    }
}

impl fmt::Display for PaRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.bits() {
            Some(b) => write!(f, "{b} bits"),
            None => write!(f, "reserved encoding {:#x}", self.0),
        }
    }
}

/// CPUs that have reached Rust: the boot CPU, then each secondary as it counts in.
static ONLINE: AtomicU32 = AtomicU32::new(1);

/// CPUs online so far.
pub fn online() -> u32 {
    ONLINE.load(Ordering::Acquire)
}

/// What released secondary CPUs run: a `fn(u64) -> !` (0 until [`release_secondaries`]).
static SECONDARY_WORK: AtomicUsize = AtomicUsize::new(0);

/// Where secondary CPUs arrive (from `__secondary_start` in [`crate::entry`]) with their
/// stack index. They count in, then sleep (WFE) until [`release_secondaries`] gives them
/// work. Their MMU is still off: the work function turns it on ([`crate::mmu::enable`]).
#[unsafe(no_mangle)]
extern "C" fn __bulkhead_secondary_main(index: u64) -> ! {
    ONLINE.fetch_add(1, Ordering::AcqRel);
    loop {
        let work = SECONDARY_WORK.load(Ordering::Acquire);
        if work != 0 {
            // SAFETY: SECONDARY_WORK only ever holds 0 or a `fn(u64) -> !` (release_secondaries).
            let work: fn(u64) -> ! = unsafe { core::mem::transmute::<usize, fn(u64) -> !>(work) };
            work(index);
        }
        aarch64_cpu::asm::wfe();
    }
}

/// Sends every secondary CPU that counted in to `work(index)`.
pub fn release_secondaries(work: fn(u64) -> !) {
    SECONDARY_WORK.store(work as usize, Ordering::Release);
    // The secondaries still run with their MMU off (non-cacheable): push the value to memory.
    crate::cache::clean(&raw const SECONDARY_WORK as u64, core::mem::size_of::<usize>() as u64);
    #[cfg(target_arch = "aarch64")]
    aarch64_cpu::asm::sev();
}

/// MPIDR_EL1 affinity bits (Aff3, Aff2..Aff0), as the device tree's `cpu` `reg` holds them.
pub const MPIDR_AFFINITY: u64 = 0xff_00ff_ffff;

/// This CPU's affinity (MPIDR_EL1 masked to [`MPIDR_AFFINITY`]).
pub fn mpidr() -> u64 {
    aarch64_cpu::registers::MPIDR_EL1.get() & MPIDR_AFFINITY
}

/// The physical counter (CNTPCT_EL0) and its frequency in Hz (CNTFRQ_EL0). It counts from
/// 0 at power-on; under QEMU's `-icount shift=0` one tick is 16 instructions at 62.5 MHz.
#[cfg(target_arch = "aarch64")]
pub fn counter() -> (u64, u64) {
    use aarch64_cpu::registers::{Readable, CNTFRQ_EL0, CNTPCT_EL0};
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    (CNTPCT_EL0.get(), CNTFRQ_EL0.get())
}

#[cfg(target_arch = "aarch64")]
pub use secondaries::start_secondaries;

#[cfg(target_arch = "aarch64")]
mod secondaries {
    use super::{online, MPIDR_AFFINITY};
    use crate::psci;
    use aarch64_cpu::registers::{CNTFRQ_EL0, CNTPCT_EL0, MPIDR_EL1, Readable};

    /// How long to wait for the started CPUs to count in.
    const TIMEOUT_MS: u64 = 100;

    extern "C" {
        static __stacks_start: u8;
        static __stacks_end: u8;
        static __cpu_stack_size: u8;
    }

    /// How many per-CPU stacks the linker script reserved.
    fn stack_count() -> u64 {
        // Only the symbols' addresses are used; nothing is read through them.
        let start = &raw const __stacks_start as u64;
        let end = &raw const __stacks_end as u64;
        let size = &raw const __cpu_stack_size as u64;
        (end - start) / size
    }

    /// Starts every CPU of the device tree other than this one (as many as there are
    /// stacks) with PSCI CPU_ON, waits for them to count in, and returns the number of
    /// CPUs online. Failures to start are reported through `report`.
    pub fn start_secondaries(dt: &fdt::Fdt, report: &mut dyn FnMut(u64, psci::Error)) -> u32 {
        let me = MPIDR_EL1.get() & MPIDR_AFFINITY;
        let entry = crate::entry::__secondary_start as *const () as u64;
        let mut started = 1u32;
        for mpidr in cpu_ids(dt) {
            if mpidr == me {
                continue;
            }
            if u64::from(started) >= stack_count() {
                break;
            }
            match psci::cpu_on(mpidr, entry, u64::from(started)) {
                Ok(()) => started += 1,
                Err(e) => report(mpidr, e),
            }
        }
        let deadline = CNTPCT_EL0.get() + CNTFRQ_EL0.get() * TIMEOUT_MS / 1000;
        while online() < started && CNTPCT_EL0.get() < deadline {
            core::hint::spin_loop();
        }
        online()
    }

    /// MPIDR affinities of the `/cpus/cpu@N` nodes (`reg`, one or two cells). Read by
    /// hand: the fdt crate's `cpus()` panics on trees without `/cpus` or `reg`.
    fn cpu_ids<'a>(dt: &'a fdt::Fdt<'a>) -> impl Iterator<Item = u64> + 'a {
        dt.find_node("/cpus").into_iter().flat_map(|cpus| cpus.children()).filter_map(|cpu| {
            let reg = cpu.property("reg")?.value;
            match *reg {
                [a, b, c, d] => Some(u64::from(u32::from_be_bytes([a, b, c, d]))),
                [a, b, c, d, e, f, g, h] => Some(u64::from_be_bytes([a, b, c, d, e, f, g, h])),
                _ => None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_display() {
        assert_eq!(ExceptionLevel(2).to_string(), "EL2");
        assert_eq!(PaRange(2).to_string(), "40 bits");
        assert_eq!(PaRange(7).to_string(), "reserved encoding 0x7");
        assert_eq!(Count(Some(4)).to_string(), "4");
        assert_eq!(Count(None).to_string(), "unknown");
        assert_eq!(Feature(true).to_string(), "yes");
    }
}
