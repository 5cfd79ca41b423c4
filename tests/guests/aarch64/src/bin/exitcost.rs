//! Exit cost: how long a round trip through the hypervisor takes, in virtual-counter
//! ticks per 1000 calls, for a hypercall (through the core's run loop), a PSCI query
//! (answered by the vCPU) and an emulated PL011 register read. Run with QEMU's
//! `-icount shift=0` to make the numbers deterministic: then one tick is 16 instructions
//! (62.5 MHz counter, 1 ns per instruction), guest and hypervisor together.
#![no_std]
#![no_main]

use guests_aarch64::{counter, hvc, println};

const CALLS: u64 = 1000;
const HV_VERSION: u64 = 0xC600_0000;
const PSCI_VERSION: u64 = 0x8400_0000;
const UART_FR: usize = 0x0900_0018;

fn measure(f: impl Fn()) -> u64 {
    let start = counter();
    for _ in 0..CALLS {
        f();
    }
    counter() - start
}

#[no_mangle]
fn main() {
    let empty = measure(|| core::hint::black_box(()));
    let hvc_abi = measure(|| {
        hvc(HV_VERSION, [0; 4]);
    });
    let psci = measure(|| {
        hvc(PSCI_VERSION, [0; 4]);
    });
    // SAFETY: reading the (emulated) PL011 flag register has no side effects.
    let mmio = measure(|| unsafe {
        core::ptr::read_volatile(UART_FR as *const u32);
    });
    println!("ticks per {CALLS}: loop {empty}, hypercall {hvc_abi}, psci {psci}, mmio read {mmio}");
}
