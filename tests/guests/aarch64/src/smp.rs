//! More than one CPU: PSCI CPU_ON, CPU_OFF, AFFINITY_INFO and SYSTEM_RESET over HVC (the
//! conduit QEMU virt gives EL1 without EL2, and the one bulkhead gives partitions), and a
//! stack of its own for each started CPU.
//!
//! A CPU started with [`cpu_on`] begins at `guest_secondary_entry` (lib.rs) with x0 = its
//! index (the PSCI context ID), takes its stack from [`STACKS`], installs the exception
//! vectors and calls the `fn(usize) -> !` given to [`cpu_on`].

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::hvc;

/// CPUs a guest may start (indices 0..MAX_CPUS, MPIDR Aff0).
pub const MAX_CPUS: usize = 4;
/// Bytes of stack per started CPU.
pub const STACK_SIZE: usize = 0x2000;

const PSCI_CPU_OFF: u64 = 0x8400_0002;
const PSCI_CPU_ON: u64 = 0xc400_0003;
const PSCI_AFFINITY_INFO: u64 = 0xc400_0004;
const PSCI_SYSTEM_RESET: u64 = 0x8400_0009;

/// PSCI return values.
pub const SUCCESS: i64 = 0;
pub const ALREADY_ON: i64 = -4;
/// AFFINITY_INFO answers.
pub const AFFINITY_ON: i64 = 0;
pub const AFFINITY_OFF: i64 = 1;

/// The secondary CPUs' stacks (CPU n's stack ends at `STACKS + (n + 1) * STACK_SIZE`; CPU
/// 0 uses the linker script's).
#[repr(C, align(16))]
pub struct Stacks([[u8; STACK_SIZE]; MAX_CPUS]);
#[no_mangle]
pub static mut STACKS: Stacks = Stacks([[0; STACK_SIZE]; MAX_CPUS]);

/// What each started CPU runs (a `fn(usize) -> !`, 0 until [`cpu_on`]).
static MAIN: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];

extern "C" {
    /// lib.rs: stack, vectors, then [`guest_secondary`].
    fn guest_secondary_entry();
}

/// PSCI CPU_ON: starts CPU `cpu` running `main(cpu)`; the PSCI result.
pub fn cpu_on(cpu: usize, main: fn(usize) -> !) -> i64 {
    let Some(slot) = MAIN.get(cpu) else { return -2 };
    slot.store(main as usize, Ordering::Release);
    // SAFETY: a barrier: the started CPU reads `MAIN` with its MMU off.
    unsafe { core::arch::asm!("dsb sy") };
    let entry = guest_secondary_entry as *const () as u64;
    hvc(PSCI_CPU_ON, [cpu as u64, entry, cpu as u64, 0])[0] as i64
}

/// PSCI AFFINITY_INFO of CPU `cpu` (level 0): [`AFFINITY_ON`], [`AFFINITY_OFF`], ...
pub fn affinity_info(cpu: usize) -> i64 {
    hvc(PSCI_AFFINITY_INFO, [cpu as u64, 0, 0, 0])[0] as i64
}

/// PSCI CPU_OFF: this CPU stops (until another CPU_ON).
pub fn cpu_off() -> ! {
    hvc(PSCI_CPU_OFF, [0; 4]);
    loop {
        crate::wfi();
    }
}

/// PSCI SYSTEM_RESET: the machine (natively) or the partition restarts from its image.
pub fn system_reset() {
    hvc(PSCI_SYSTEM_RESET, [0; 4]);
}

/// A PSCI result as the tests print it.
pub fn psci_name(ret: i64) -> &'static str {
    match ret {
        0 => "success",
        -1 => "not supported",
        -2 => "invalid parameters",
        -3 => "denied",
        -4 => "already on",
        -5 => "on pending",
        _ => "other error",
    }
}

/// An AFFINITY_INFO answer as the tests print it.
pub fn affinity_name(ret: i64) -> &'static str {
    match ret {
        0 => "on",
        1 => "off",
        2 => "on pending",
        _ => psci_name(ret),
    }
}

#[no_mangle]
extern "C" fn guest_secondary(cpu: usize) -> ! {
    let main = MAIN.get(cpu).map_or(0, |m| m.load(Ordering::Acquire));
    if main != 0 {
        // SAFETY: MAIN only ever holds 0 or a `fn(usize) -> !` (cpu_on).
        let main: fn(usize) -> ! = unsafe { core::mem::transmute::<usize, fn(usize) -> !>(main) };
        main(cpu);
    }
    cpu_off()
}
