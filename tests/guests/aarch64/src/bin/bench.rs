//! Benchmarks: what a round trip through the hypervisor costs, in guest-visible
//! instructions (guest and hypervisor together), for a null hypercall (through the core's
//! run loop), a PSCI query (answered by the vCPU) and an emulated PL011 register read.
//!
//! Run under QEMU's `-icount shift=0` (`cargo xtask bench`): then 1 instruction takes
//! 1 ns and the 62.5 MHz virtual counter advances once per 16 instructions, so the counts
//! are deterministic. Each operation runs `CALLS` times; the cost of the empty loop is
//! subtracted. Output: `bench: <what>: <n.n> instructions`, read by the runner.
#![no_std]
#![no_main]

use guests_aarch64::{counter, hvc, println};

const CALLS: u64 = 1000;
/// Instructions per virtual-counter tick under `-icount shift=0`.
const INSNS_PER_TICK: u64 = 16;
const HV_VERSION: u64 = 0xC600_0000;
const PSCI_VERSION: u64 = 0x8400_0000;
const UART_FR: usize = 0x0900_0018;

fn ticks(f: impl Fn()) -> u64 {
    let start = counter();
    for _ in 0..CALLS {
        f();
    }
    counter() - start
}

/// Prints the cost of one `f` above the empty loop, with one decimal.
fn report(what: &str, empty: u64, f: impl Fn()) {
    let tenths = ticks(f).saturating_sub(empty) * INSNS_PER_TICK * 10 / CALLS;
    println!("bench: {what}: {}.{} instructions", tenths / 10, tenths % 10);
}

#[no_mangle]
fn main() {
    let empty = ticks(|| core::hint::black_box(()));
    report("null hypercall round trip", empty, || {
        hvc(HV_VERSION, [0; 4]);
    });
    report("PSCI_VERSION round trip", empty, || {
        hvc(PSCI_VERSION, [0; 4]);
    });
    // SAFETY: reading the (emulated) PL011 flag register has no side effects.
    report("emulated MMIO read (PL011 FR)", empty, || unsafe {
        core::ptr::read_volatile(UART_FR as *const u32);
    });
}
